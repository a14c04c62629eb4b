"""Objectives: hand-checked InfoNCE/MoCo values, learning on tiny related views, the MoCo queue,
memoised encodings, config errors, and the cross-rank gather under two gloo processes."""

from __future__ import annotations

import math
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from engine.errors import EngineError
from engine.nn.model import GeoModel
from engine.nn.time_encoder import time_features
from engine.objectives import (
    StepContext,
    build_objectives,
    compute_losses,
    info_nce,
    make_momentum_model,
    objectives_module,
    update_momentum,
)
from engine.objectives.image_location import sample_lonlat
from engine.objectives.moco import MoCoQueue, moco_loss

torch.set_num_threads(1)

B = 8
TINY = {"backbone": "tiny_cnn", "backbone_kw": {"width": 8, "depth": 2, "out_dim": 32},
        "hidden_dim": 32}
MODEL = {"embedding_dim": 16, "image": TINY, "overhead": TINY,
         "location": {"name": "sphereC", "frequency_num": 8, "hidden_dim": 32},
         "time": {"hidden_dim": 16, "drop_p": 0.0}}


def make_batch(seed: int = 0) -> dict[str, torch.Tensor]:
    """Random 16x16 anchors with related positives: small-noise copies, an overhead chip that is
    a fixed function of the ground image, clustered locations and capture times."""
    g = torch.Generator().manual_seed(seed)
    view1 = torch.randn(B, 3, 16, 16, generator=g)

    def noisy(scale: float) -> torch.Tensor:
        return view1 + scale * torch.randn(B, 3, 16, 16, generator=g)

    lonlat = torch.tensor([-79.40, 43.65], dtype=torch.float64) + 0.05 * torch.rand(
        B, 2, generator=g, dtype=torch.float64)
    centre = lonlat.mean(0)
    cluster = (lonlat[:, 0] > centre[0]).long() * 2 + (lonlat[:, 1] > centre[1]).long()
    days = torch.randint(0, 365, (B,), generator=g).numpy()
    times = np.datetime64("2024-01-01T00:00") + days.astype("timedelta64[D]") \
        + np.arange(B).astype("timedelta64[h]")
    valid = torch.ones(B, dtype=torch.bool)
    valid[::3] = False
    return {
        "view1": view1, "view2": noisy(0.1), "temporal": noisy(0.2), "spatial": noisy(0.3),
        "overhead": F.avg_pool2d(view1.flip(-1), 2), "lonlat": lonlat, "cluster": cluster,
        "time": torch.from_numpy(time_features(times)), "time_valid": valid,
    }


def _loss(model: GeoModel, objs: list, batch: dict) -> float:
    torch.manual_seed(123)  # same dropout masks / sampled negatives for before and after
    with torch.no_grad():
        total, _ = compute_losses(objs, StepContext(model, batch))
    return float(total)


SPECS = {
    "self": {"self": {"temperature": 0.2}},
    "temporal": {"temporal": {}},
    "spatial": {"spatial": {"symmetric": False}},
    "geo_pretext": {"geo_pretext": {"num_classes": 4}},
    "image_location": {"image_location": {"num_negatives": 16}},
    "image_location_sphere": {"image_location": {"negatives": "sphere", "simcse_weight": 0.5}},
    "cross_view": {"cross_view": {}},
    "cross_view_no_time": {"cross_view": {"use_time": False, "learn_scale": False}},
    "all": {"self": 1.0, "geo_pretext": {"weight": 0.5, "num_classes": 4},
            "cross_view": {"weight": 0.5}, "image_location": {"weight": 0.5}},
}


@pytest.mark.parametrize("case", sorted(SPECS))
def test_adam_steps_lower_the_loss_and_change_the_weights(case: str) -> None:
    torch.manual_seed(0)
    model = GeoModel(MODEL)
    objs = build_objectives(SPECS[case], model)
    params = list(model.parameters()) + list(objectives_module(objs).parameters())
    opt = torch.optim.Adam(params, lr=3e-3)
    batch = make_batch()
    before_w = [p.detach().clone() for p in model.image_encoder.parameters()]
    before = _loss(model, objs, batch)
    for _ in range(25):
        total, parts = compute_losses(objs, StepContext(model, batch))
        opt.zero_grad()
        total.backward()
        opt.step()
    after = _loss(model, objs, batch)
    assert math.isfinite(before) and after < before, (before, after)
    assert set(parts) == set(SPECS[case])
    assert any(not torch.equal(a, b) for a, b in zip(before_w, model.image_encoder.parameters(),
                                                      strict=True))


def test_info_nce_matches_a_hand_computation() -> None:
    a = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
    b = torch.tensor([[0.6, 0.8], [-0.8, 0.6]])
    t = 0.5

    def nll(logits: list[float], label: int) -> float:
        return -logits[label] + math.log(sum(math.exp(v) for v in logits))

    # a @ b.T = [[0.6, -0.8], [0.8, 0.6]]; divided by T = 0.5
    a_to_b = 0.5 * (nll([1.2, -1.6], 0) + nll([1.6, 1.2], 1))
    b_to_a = 0.5 * (nll([1.2, 1.6], 0) + nll([-1.6, 1.2], 1))
    assert float(info_nce(a, b, t, symmetric=False)) == pytest.approx(a_to_b, rel=1e-6)
    assert float(info_nce(a, b, t)) == pytest.approx(0.5 * (a_to_b + b_to_a), rel=1e-6)


def test_moco_loss_matches_a_hand_computation() -> None:
    q = torch.tensor([[1.0, 0.0]])
    k = torch.tensor([[0.6, 0.8]])
    queue = torch.tensor([[0.0, 1.0], [-1.0, 0.0]])
    expected = -0.6 / 0.2 + math.log(math.exp(0.6 / 0.2) + math.exp(0.0) + math.exp(-1.0 / 0.2))
    assert float(moco_loss(q, k, queue, 0.2)) == pytest.approx(expected, rel=1e-6)


def test_moco_queue_is_a_ring_buffer() -> None:
    queue = MoCoQueue(dim=4, size=6, seed=0)
    assert torch.allclose(queue.keys.norm(dim=1), torch.ones(6))
    first = F.normalize(torch.randn(4, 4), dim=1)
    queue.enqueue(first)
    assert int(queue.ptr) == 4 and torch.equal(queue.keys[:4], first)
    second = F.normalize(torch.randn(4, 4), dim=1)
    queue.enqueue(second)  # wraps: rows 4, 5, 0, 1
    assert int(queue.ptr) == 2
    assert torch.equal(queue.keys[4:], second[:2]) and torch.equal(queue.keys[:2], second[2:])
    assert torch.equal(queue.keys[2:4], first[2:])


def test_moco_objective_uses_momentum_keys_and_fills_its_queue() -> None:
    torch.manual_seed(0)
    model = GeoModel(MODEL)
    objs = build_objectives({"self": {"moco": True, "queue_size": 32, "momentum": 0.9}}, model)
    obj = objs[0][2]
    assert obj.needs_momentum_model and obj.queue is not None
    momentum = make_momentum_model(model)
    assert not any(p.requires_grad for p in momentum.parameters())
    batch = make_batch()
    with pytest.raises(EngineError, match="momentum encoder"):
        compute_losses(objs, StepContext(model, batch))
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    ctx = StepContext(model, batch, momentum_model=momentum)
    loss, _ = compute_losses(objs, ctx)
    # symmetric: keys of view2 then view1 were enqueued
    torch.testing.assert_close(obj.queue.keys[:B], ctx.momentum_image("view2"))
    torch.testing.assert_close(obj.queue.keys[B:2 * B], ctx.momentum_image("view1"))
    assert int(obj.queue.ptr) == 2 * B
    opt.zero_grad()
    loss.backward()
    assert all(p.grad is None for p in momentum.parameters())
    opt.step()
    old = [p.detach().clone() for p in momentum.parameters()]
    obj.update_momentum(model, momentum)
    for p_k, p_old, p_q in zip(momentum.parameters(), old, model.parameters(), strict=True):
        torch.testing.assert_close(p_k, 0.9 * p_old + 0.1 * p_q)
    for b_k, b_q in zip(momentum.buffers(), model.buffers(), strict=True):
        assert torch.equal(b_k, b_q)


def test_moco_v3_in_batch_keys_learn() -> None:
    torch.manual_seed(0)
    cfg = dict(MODEL, predictor={"hidden_dim": 32})
    model = GeoModel(cfg)
    objs = build_objectives({"self": {"moco": True, "queue_size": 0, "temperature": 0.2}}, model)
    momentum = make_momentum_model(model)
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    batch = make_batch()
    losses = []
    for _ in range(25):
        total, _ = compute_losses(objs, StepContext(model, batch, momentum_model=momentum))
        opt.zero_grad()
        total.backward()
        opt.step()
        update_momentum(model, momentum, 0.99)
        losses.append(float(total.detach()))
    assert np.mean(losses[-3:]) < np.mean(losses[:3])


def test_a_view_used_by_several_objectives_is_encoded_once() -> None:
    torch.manual_seed(0)
    model = GeoModel(MODEL)
    objs = build_objectives({"self": 1, "geo_pretext": {"num_classes": 4}, "cross_view": 1,
                             "image_location": {"simcse_weight": 0.0}}, model)
    calls: list[int] = []
    model.image_encoder.backbone.register_forward_hook(lambda *a: calls.append(1))
    total, parts = compute_losses(objs, StepContext(model, make_batch()))
    assert len(calls) == 2  # view1 once (shared by four objectives), view2 once
    weights = {name: w for name, w, _ in objs}
    expected = sum(weights[k] * v for k, v in parts.items())
    assert float(total.detach()) == pytest.approx(expected, rel=1e-5)


def test_cross_view_conditions_the_ground_view_on_valid_times_only() -> None:
    torch.manual_seed(0)
    model = GeoModel(MODEL).eval()
    obj = build_objectives({"cross_view": {}}, model)[0][2]
    assert set(obj.requires) == {"view1", "overhead", "time", "time_valid"}  # asks the data
    assert build_objectives({"cross_view": {"use_time": False}}, model)[0][2].requires == (
        "view1", "overhead")
    batch = make_batch()
    ctx = StepContext(model, batch)
    ground, plain = obj.ground(ctx), ctx.image("view1")
    valid = batch["time_valid"]
    torch.testing.assert_close(ground[~valid], plain[~valid])
    assert not torch.allclose(ground[valid], plain[valid])
    torch.testing.assert_close(ground.norm(dim=1), torch.ones(B))
    no_time = {k: v for k, v in batch.items() if k not in ("time", "time_valid")}
    torch.testing.assert_close(obj.ground(StepContext(model, no_time)), plain)
    sat2cap = build_objectives({"cross_view": {"condition": "overhead"}}, model)[0][2]
    ctx = StepContext(model, batch)
    torch.testing.assert_close(sat2cap.ground(ctx), plain)  # the photo side stays plain
    over, chips = sat2cap.overhead(ctx), ctx.overhead("overhead")
    torch.testing.assert_close(over[~valid], chips[~valid])
    assert not torch.allclose(over[valid], chips[valid])


def test_sampled_negative_locations_are_uniform_by_area() -> None:
    torch.manual_seed(0)
    pts = sample_lonlat(20_000, None)
    assert float(pts[:, 0].min()) >= -180 and float(pts[:, 0].max()) <= 180
    assert abs(float(torch.sin(torch.deg2rad(pts[:, 1])).mean())) < 0.03
    box = (-80.0, 43.0, -79.0, 44.0)
    pts = sample_lonlat(1000, box)
    assert bool(((pts[:, 0] >= -80) & (pts[:, 0] <= -79)).all())
    assert bool(((pts[:, 1] >= 43) & (pts[:, 1] <= 44)).all())


def test_configuration_errors_name_the_problem() -> None:
    model = GeoModel({"embedding_dim": 16, "image": TINY})
    cases = [
        ({"slef": {}}, "slef", "self"),
        ({"self": {"temprature": 0.1}}, "temprature", "temperature"),
        ({"self": {"weight": -1}}, "weight", ""),
        ({"self": {"model": None}}, "model", ""),
        ({"self": {"temperature": 0}}, "temperature", ""),
        ({"cross_view": {}}, "overhead encoder", "overhead"),
        ({"image_location": {}}, "location encoder", "location"),
        ({"image_location": {"negatives": "ocean"}}, "ocean", "sphere"),
        ({"geo_pretext": {"num_classes": 1}}, "num_classes", ""),
        ({}, "non-empty", ""),
    ]
    for spec, in_message, in_hint in cases:
        with pytest.raises(EngineError) as err:
            build_objectives(spec, model)
        assert in_message in err.value.message, spec
        assert in_hint in err.value.hint, spec


def test_missing_batch_keys_and_bad_clusters_are_reported() -> None:
    torch.manual_seed(0)
    model = GeoModel(MODEL)
    batch = make_batch()
    objs = build_objectives({"temporal": {}}, model)
    del batch["temporal"]
    with pytest.raises(EngineError, match="'temporal'"):
        compute_losses(objs, StepContext(model, batch))
    batch = make_batch()
    batch["cluster"][0] = 7
    objs = build_objectives({"geo_pretext": {"num_classes": 4}}, model)
    with pytest.raises(EngineError, match="cluster ids"):
        compute_losses(objs, StepContext(model, batch))
    unbound = build_objectives({"geo_pretext": {"num_classes": 4}})  # no model: no classifier
    with pytest.raises(EngineError, match="without the model"):
        compute_losses(unbound, StepContext(model, make_batch()))
    unbound[0][2].check_model(model)  # what the trainer does before making the optimizer
    assert unbound[0][2].classifier.in_features == model.image_feature_dim


WORKER = textwrap.dedent("""
    import sys, numpy as np, torch, torch.distributed as dist
    from engine.objectives import info_nce
    rank, world, init, out = int(sys.argv[1]), 2, sys.argv[2], sys.argv[3]
    torch.set_num_threads(1)
    dist.init_process_group("gloo", init_method=init, rank=rank, world_size=world)
    g = torch.Generator().manual_seed(0)
    a = torch.nn.functional.normalize(torch.randn(8, 5, generator=g), dim=1)
    b = torch.nn.functional.normalize(torch.randn(8, 5, generator=g), dim=1)
    a = a[rank * 4:(rank + 1) * 4].clone().requires_grad_(True)
    b = b[rank * 4:(rank + 1) * 4].clone().requires_grad_(True)
    loss = info_nce(a, b, 0.3)
    loss.backward()
    total = loss.detach().clone()
    dist.all_reduce(total)
    np.savez(out, loss=(total / world).numpy(), grad_a=a.grad.numpy(), grad_b=b.grad.numpy())
    dist.destroy_process_group()
""")


def test_in_batch_negatives_are_gathered_across_two_ranks(tmp_path: Path) -> None:
    script = tmp_path / "worker.py"
    script.write_text(WORKER)
    init = f"file://{tmp_path / 'rendezvous'}"
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])}
    procs = [subprocess.Popen([sys.executable, str(script), str(r), init,
                               str(tmp_path / f"rank{r}.npz")], env=env) for r in range(2)]
    assert [p.wait(timeout=120) for p in procs] == [0, 0]
    g = torch.Generator().manual_seed(0)
    a = F.normalize(torch.randn(8, 5, generator=g), dim=1).requires_grad_(True)
    b = F.normalize(torch.randn(8, 5, generator=g), dim=1).requires_grad_(True)
    full = info_nce(a, b, 0.3)
    full.backward()
    ranks = [np.load(tmp_path / f"rank{r}.npz") for r in range(2)]
    for r, res in enumerate(ranks):
        assert float(res["loss"]) == pytest.approx(float(full.detach()), rel=1e-5)
        # each rank's loss is the mean over its rows; the full loss averages the two ranks
        rows = slice(r * 4, (r + 1) * 4)
        np.testing.assert_allclose(0.5 * res["grad_a"], a.grad[rows].numpy(), atol=1e-6)
        np.testing.assert_allclose(0.5 * res["grad_b"], b.grad[rows].numpy(), atol=1e-6)


def _ground_and_overhead(n: int, g: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """Smooth random street scenes and their 'overhead' chips (a fixed flip + 2x downsampling)."""
    ground = F.interpolate(torch.randn(n, 3, 4, 4, generator=g), size=16, mode="bilinear",
                           align_corners=False) + 0.1 * torch.randn(n, 3, 16, 16, generator=g)
    return ground, F.avg_pool2d(ground.flip(-1), 2)


def _scenes_at(n: int, g: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """Photos whose colour is a smooth function of where they were taken (a 0.1 degree city)."""
    origin = torch.tensor([-79.45, 43.62], dtype=torch.float64)
    lonlat = origin + 0.1 * torch.rand(n, 2, generator=g, dtype=torch.float64)
    u = ((lonlat - origin) / 0.1).float()
    colour = torch.stack([torch.sin(3 * u[:, 0]), torch.cos(3 * u[:, 1]),
                          torch.sin(2 * (u[:, 0] + u[:, 1]))], dim=1)
    return colour[:, :, None, None] + 0.3 * torch.randn(n, 3, 16, 16, generator=g), lonlat


HELD_OUT = {  # objective: (model parts, settings, data, batch keys, encoders, steps, R@1 floor)
    "cross_view": ({"overhead": TINY}, {}, _ground_and_overhead, ("view1", "overhead"),
                   ("embed_image", "embed_overhead"), 120, 0.4),  # 0.72 on the reference box
    "image_location": ({"location": {"name": "sphereC", "hidden_dim": 64}},
                       {"num_negatives": 32, "bbox": [-79.45, 43.62, -79.35, 43.72]},
                       _scenes_at, ("view1", "lonlat"), ("embed_image", "embed_location"),
                       150, 0.25),  # 0.47 on the reference box
}


@pytest.mark.parametrize("name", sorted(HELD_OUT))
def test_training_generalises_to_held_out_pairs(name: str) -> None:
    parts, settings, sample, keys, encoders, steps, floor = HELD_OUT[name]
    torch.manual_seed(0)
    model = GeoModel({"embedding_dim": 16, "image": TINY, **parts})
    objs = build_objectives({name: settings}, model)
    params = list(model.parameters()) + list(objectives_module(objs).parameters())
    opt = torch.optim.Adam(params, lr=3e-3)
    held_out = sample(32, torch.Generator().manual_seed(99))

    def recall_at_1() -> float:  # chance: 1/32
        model.eval()
        with torch.no_grad():
            a, b = (getattr(model, enc)(x) for enc, x in zip(encoders, held_out, strict=True))
        model.train()
        return float(((a @ b.T).argmax(dim=1) == torch.arange(32)).double().mean())

    before = recall_at_1()
    g = torch.Generator().manual_seed(0)
    for _ in range(steps):
        batch = dict(zip(keys, sample(32, g), strict=True))
        total, _ = compute_losses(objs, StepContext(model, batch))
        opt.zero_grad()
        total.backward()
        opt.step()
    after = recall_at_1()
    assert before < 0.15 and after > floor, (before, after)
