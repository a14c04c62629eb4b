"""Training pipeline on a tiny real city (GeoPackage + JPEGs + GeoTIFFs written here):
config validation, sampler sharding, dataset keys, bit-identical resume, run outputs."""

from __future__ import annotations

import csv
from pathlib import Path

import geopandas as gpd
import numpy as np
import pytest
import rasterio
import torch
from PIL import Image
from rasterio.transform import from_origin
from shapely.geometry import Point

from engine.errors import EngineError
from engine.paths import project_root
from engine.train.config import load_config
from engine.train.sampler import EpochBatchSampler

ROOT = project_root()

torch.set_num_threads(1)

X0, Y0 = 500_000.0, 4_000_000.0
CAPTURES = ("2023-03-01T10:00:00Z", "2023-07-01T12:00:00Z", "2023-11-01T15:00:00Z")
ENC = {"backbone": "tiny_cnn", "backbone_kw": {"width": 4, "depth": 2, "out_dim": 16},
       "hidden_dim": 32}


def write_tiny_city(out: Path, n_places: int = 24, seed: int = 0) -> Path:
    """Places with 3 capture dates x 2 headings; photo colour follows x,y (learnable)."""
    rng = np.random.default_rng(seed)
    (out / "photos").mkdir(parents=True, exist_ok=True)
    (out / "overhead").mkdir(exist_ok=True)
    places = rng.uniform(0, 160, size=(n_places, 2))
    rows, pid = [], 0
    for loc, (px, py) in enumerate(places):
        base = np.array([px / 160 * 255, py / 160 * 255, 128.0])
        for when in CAPTURES:
            for heading in (0.0, 180.0):
                img = np.clip(base + rng.normal(0, 25, (32, 32, 3)), 0, 255).astype(np.uint8)
                img[: 8 + int(heading / 30)] = (200, 220, 255)
                name = f"photos/p{pid:04d}.jpg"
                Image.fromarray(img).save(out / name, quality=90)
                rows.append({"photo_id": pid, "location_id": loc, "image": name,
                             "captured_at": when, "heading": heading,
                             "geometry": Point(X0 + px, Y0 + py)})
                pid += 1
    gpd.GeoDataFrame(rows, crs="EPSG:32617").to_file(
        out / "streetview.gpkg", layer="streetview", driver="GPKG", VERSION="1.2")
    yy, xx = np.mgrid[0:224, 0:224]
    for k, date in enumerate(("2023-02-01", "2023-06-15", "2023-12-01")):
        data = np.stack([(xx + 10 * k) % 256, yy, np.full_like(xx, 100)]).astype(np.uint8)
        with rasterio.open(out / f"overhead/overhead_{date}.tif", "w", driver="GTiff",
                           width=224, height=224, count=3, dtype="uint8", crs="EPSG:32617",
                           transform=from_origin(X0 - 32, Y0 + 192, 1.0, 1.0)) as ds:
            ds.write(data)
    return out


def tiny_overrides(city: Path, out: Path, steps: int = 4) -> list[str]:
    """Overrides that make any recipe train on the tiny city in about a second."""
    return [f"data.streetview={city / 'streetview.gpkg'}",
            f"data.overhead=[{city / 'overhead' / '*.tif'}]", "data.image_size=24",
            "data.chip_size=24", "data.clusters=4", f"output={out}", f"train.steps={steps}",
            "train.batch_size=8", "train.device=cpu", "train.log_every=1",
            "model.embedding_dim=16", f"model.image={ENC}".replace("'", "")]


ALL_OBJECTIVES = ["objectives.self={weight: 1.0, moco: true, queue_size: 32}",
                  "objectives.temporal={weight: 1.0}", "objectives.spatial={weight: 1.0}",
                  "objectives.cross_view={weight: 1.0}", "objectives.geo_pretext={weight: 0.5}",
                  "objectives.image_location={weight: 0.5}",
                  f"model.overhead={ENC}".replace("'", ""), "model.location={name: sphereC}",
                  "model.time={drop_p: 0.1}"]


@pytest.fixture(scope="module")
def tiny_city(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_tiny_city(tmp_path_factory.mktemp("tiny_city"))


def test_config_overrides_and_errors(tmp_path: Path) -> None:
    cfg = load_config(ROOT / "models" / "crossview.yaml",
                      ["train.steps=50", "objectives.cross_view.weight=0.5", "data.overhead=a.tif"])
    assert cfg.train.steps == 50 and cfg.objectives["cross_view"]["weight"] == 0.5
    assert cfg.data.overhead == ["a.tif"]
    assert cfg.output_dir() == ROOT / "models" / "crossview"  # relative: project root
    with pytest.raises(EngineError) as err:
        load_config(None, ["train.stpes=5", "objectives.self.weight=1"])
    assert "train.stpes" in err.value.message and "steps" in err.value.hint
    with pytest.raises(EngineError) as err:
        load_config(None, ["train.device=gpu", "objectives.self.weight=1"])
    assert "train.device" in err.value.message and "auto, cpu, cuda" in err.value.hint
    with pytest.raises(EngineError, match="train.batch_size"):
        load_config(None, ["train.batch_size=many", "objectives.self.weight=1"])
    with pytest.raises(EngineError, match="objectives.selfie"):
        load_config(None, ["objectives.selfie.weight=1"])
    with pytest.raises(EngineError, match="model"):
        load_config(None, ["model.imag.backbone=tiny_cnn", "objectives.self.weight=1"])
    with pytest.raises(EngineError, match="not key=value"):
        load_config(None, ["train.steps"])
    # YAML 1.1 (PyYAML) reads an exponent without a dot or a sign as text; recipes, overrides
    # and model configs are read with YAML 1.2's floats (engine.models.yaml_text)
    assert load_config(None, ["train.lr=1e-3", "objectives.self.weight=1"]).train.lr == 0.001
    for bad_lr in ("fast", "nan", "1e999", ".nan"):
        with pytest.raises(EngineError, match="train.lr.*not a number"):
            load_config(None, [f"train.lr={bad_lr}", "objectives.self.weight=1"])
    recipe = tmp_path / "exponents.yaml"
    recipe.write_text("train: {lr: 5e-4, steps: 3}\nobjectives: {image_location: {weight: 1.0}}\n"
                      "model: {location: {name: grid, min_radius: 1e-3}}\n")
    cfg = load_config(recipe)
    assert cfg.train.lr == 0.0005 and cfg.model["location"]["min_radius"] == 0.001
    from engine.nn.model import GeoModel

    assert GeoModel.from_config(cfg.model).location_encoder is not None  # was: str < float
    bad = tmp_path / "bad.yaml"
    bad.write_text("train: [1, 2\n")
    with pytest.raises(EngineError, match="not valid YAML"):
        load_config(bad)


def test_sampler_shards_cover_each_epoch_once() -> None:
    ranks = [EpochBatchSampler(40, 4, seed=3, rank=r, world=2) for r in range(2)]
    for s in ranks:
        s.set_epoch(1)
    seen = [i for s in ranks for batch in s for _, i in batch]
    assert sorted(seen) == list(range(40))  # disjoint shards covering the epoch
    again = EpochBatchSampler(40, 4, seed=3, rank=0, world=2)
    again.set_epoch(1, start_batch=2)
    assert list(again) == list(ranks[0])[2:]  # resume skips exactly the trained batches
    other = EpochBatchSampler(40, 4, seed=3, rank=0, world=2)
    other.set_epoch(2)
    assert list(other) != list(ranks[0])


def _batch(ds, keys_epoch: int = 0, n: int = 4) -> dict[str, torch.Tensor]:
    from torch.utils.data import default_collate

    from engine.train.dataset import prepare_batch

    items = [ds[(keys_epoch, i)] for i in range(n)]
    return prepare_batch(default_collate(items), torch.device("cpu"), ds.image_size)


def test_dataset_yields_exactly_required_keys(tiny_city: Path, tmp_path: Path) -> None:
    from engine.train.data import build_dataset

    cfg = load_config(None, [*tiny_overrides(tiny_city, tmp_path), "objectives.self.weight=1"])
    ds, info = build_dataset(cfg, {"view1", "temporal"})
    item = ds[(0, 3)]
    assert set(item) == {"view1", "temporal", "view1.aug", "temporal.aug"}
    assert item["view1"].dtype == torch.uint8  # photos travel as uint8, augmented per batch
    batch = _batch(ds)
    assert set(batch) == {"view1", "temporal"}
    assert batch["view1"].shape == (4, 3, 24, 24) and batch["view1"].dtype == torch.float32
    assert torch.equal(_batch(ds)["temporal"], batch["temporal"])  # seeded per (epoch, index)
    assert not torch.equal(_batch(ds, 1)["view1"], batch["view1"])
    assert -3 < float(batch["view1"].min()) and float(batch["view1"].max()) < 3  # normalised
    assert info["pairs"]["temporal_pairs"] > 0 and len(ds.cache) == info["photos"]
    # the temporal partner is the same place at another date
    photo = int(ds.anchors[3])
    partners = ds.sources.pairs.temporal.partners(photo)
    paths = {ds.sources.images[p] for p in partners}
    assert any(torch.equal(item["temporal"], ds.cache.get(p)) for p in paths)
    keys = {"view1", "view2", "spatial", "lonlat", "cluster", "overhead", "time", "time_valid"}
    ds, _ = build_dataset(cfg, keys)
    batch = _batch(ds)
    assert set(batch) == keys
    assert batch["overhead"].shape == (4, 3, 24, 24) and batch["cluster"].dtype == torch.long
    assert batch["time"].shape == (4, 4) and bool(batch["time_valid"].all())
    lon, lat = batch["lonlat"][0].tolist()
    assert -82 < lon < -80 and 36 < lat < 37  # lon, lat order (UTM 17N near 500 km E)


def test_augment_batch_identity_and_flip() -> None:
    from engine.models.inputs import normalize_uint8
    from engine.train.augment import augment_batch

    img = torch.randint(0, 256, (2, 3, 16, 16), dtype=torch.uint8)
    ident = torch.tensor([[1.0, 1, 0, 0, 1, 1, 1, 0, 0, 0]] * 2)
    assert torch.allclose(augment_batch(img, ident, 16), normalize_uint8(img), atol=1e-5)
    flip = ident.clone()
    flip[:, 0] = -1
    assert torch.allclose(augment_batch(img, flip, 16), normalize_uint8(img).flip(-1),
                          atol=1e-5)
    gray = ident.clone()
    gray[:, 7] = 1
    out = augment_batch(img, gray, 16)
    spread = (out * torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1)
              + torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1))
    assert torch.allclose(spread[:, 0], spread[:, 1], atol=1e-5)  # grayscale: equal channels


@pytest.mark.parametrize("h, w", [(64, 64), (48, 80), (5, 300)])
def test_augment_draws_for_a_batch_equal_draws_one_by_one(h: int, w: int) -> None:
    """`Augment.draws` (a whole batch, array operations) gives exactly the numbers of n
    `draw`s in a row from the same generator; every crop lies inside the image and keeps
    torchvision's scale range unless it falls back to the centre square."""
    from engine.train.augment import Augment

    aug = Augment()
    batch = aug.draws(h, w, np.random.default_rng(7), 200)
    g = np.random.default_rng(7)
    one_by_one = np.stack([aug.draw(h, w, g).numpy() for _ in range(200)])
    assert batch.dtype == np.float32 and np.array_equal(batch, one_by_one)
    sx, sy, cx, cy = np.abs(batch[:, 0]), batch[:, 1], batch[:, 2], batch[:, 3]
    assert (np.abs(cx) + sx <= 1 + 1e-6).all() and (np.abs(cy) + sy <= 1 + 1e-6).all()
    area = sx * sy
    centre = np.isclose(area, min(h, w) ** 2 / (h * w))
    assert ((area > 0.3) | centre).all() and (area <= 1 + 1e-6).all()
    assert set(np.unique(batch[:, 7])) <= {0.0, 1.0} and (batch[:, 8:] == 0).all()


def test_overhead_needs_rasters(tiny_city: Path, tmp_path: Path) -> None:
    from engine.train.data import build_dataset

    cfg = load_config(None, [*tiny_overrides(tiny_city, tmp_path), "objectives.self.weight=1",
                             f"data.overhead=[{tmp_path / 'none_*.tif'}]"])
    with pytest.raises(EngineError, match="overhead"):
        build_dataset(cfg, {"view1", "overhead"})


def _weights(path: Path) -> dict[str, torch.Tensor]:
    from safetensors.torch import load_file

    return load_file(str(path))


def test_resume_is_bit_identical(tiny_city: Path, tmp_path: Path) -> None:
    """4 steps straight == 2 steps, then resumed to 4 (with a DataLoader worker, even)."""
    from engine.train.loop import train

    base = [*tiny_overrides(tiny_city, tmp_path, steps=4), *ALL_OBJECTIVES]
    full = load_config(None, [*base, f"output={tmp_path / 'full'}", "train.checkpoint_every=2"])
    result = train(full)
    half = load_config(None, [*base, f"output={tmp_path / 'half'}", "train.steps=2"])
    train(half)
    resumed = load_config(None, [*base, f"output={tmp_path / 'half'}", "train.workers=1"])
    train(resumed, resume=True)
    for name in ("model.safetensors", "objectives.safetensors"):
        a, b = _weights(tmp_path / "full" / name), _weights(tmp_path / "half" / name)
        assert a.keys() == b.keys() and len(a) > 0
        assert all(torch.equal(a[k], b[k]) for k in a), name
    assert (tmp_path / "full" / "loss.csv").read_text() == \
        (tmp_path / "half" / "loss.csv").read_text()
    # the run's outputs
    out = tmp_path / "full"
    rows = list(csv.DictReader(open(out / "loss.csv")))
    assert [int(r["step"]) for r in rows] == [1, 2, 3, 4]
    assert {"total", "self", "temporal", "cross_view", "image_location"} <= set(rows[0])
    card = (out / "card.md").read_text()
    assert "cross_view" in card and "steps: 4" in card and torch.__version__ in card
    assert (out / "loss.png").read_bytes()[:4] == b"\x89PNG"
    assert sorted(p.name for p in (out / "checkpoints").glob("step-*")) == \
        ["step-0000002", "step-0000004"]
    assert result["final_loss"] == pytest.approx(float(rows[-1]["total"]), rel=1e-4)
    assert not list(out.glob(".*tmp*"))  # atomic writes leave nothing behind
    # resumed with fewer steps than it has: refused, the run as it was
    before = (out / "config.yaml").read_text()
    fewer = load_config(None, [*base, f"output={out}", "train.steps=3"])
    with pytest.raises(EngineError, match="trained 4 steps already, more than train.steps=3"):
        train(fewer, resume=True)
    assert (out / "config.yaml").read_text() == before


def test_resume_without_checkpoint_is_clear(tiny_city: Path, tmp_path: Path) -> None:
    from engine.train.loop import train

    cfg = load_config(None, [*tiny_overrides(tiny_city, tmp_path / "none"),
                             "objectives.self.weight=1"])
    with pytest.raises(EngineError, match="no checkpoint"):
        train(cfg, resume=True)


def test_a_batch_larger_than_the_photos_is_refused(tiny_city: Path, tmp_path: Path) -> None:
    """A batch would hold photos twice (as their own negatives); 100,000 exhausted memory."""
    from engine.train.loop import train

    cfg = load_config(None, [*tiny_overrides(tiny_city, tmp_path / "big"),
                             "objectives.self.weight=1", "train.batch_size=100000"])
    with pytest.raises(EngineError, match="train.batch_size=100000 is more than the") as err:
        train(cfg)
    assert "train.batch_size=" in err.value.hint and not (tmp_path / "big").exists()


def test_a_16_bit_overhead_scene_is_scaled_or_refused(tiny_city: Path, tmp_path: Path) -> None:
    """Cross-view recipes see 8-bit chips: a uint16 scene (the tiny city's x 100) was clipped
    to 255, almost white, without a word. Refused without data.scale; with data.scale=0.01
    the chips, so the training, are the 8-bit scene's exactly."""
    from engine.train.loop import train

    (tmp_path / "u16").mkdir()
    for src in sorted((tiny_city / "overhead").glob("*.tif")):
        with rasterio.open(src) as ds:
            profile, data = ds.profile, ds.read()
        profile.update(dtype="uint16")
        with rasterio.open(tmp_path / "u16" / src.name, "w", **profile) as out:
            out.write(data.astype(np.uint16) * 100)
    cross = ["objectives.cross_view={weight: 1.0}", f"model.overhead={ENC}".replace("'", "")]
    u16 = f"data.overhead=[{tmp_path / 'u16' / '*.tif'}]"
    cfg = load_config(None, [*tiny_overrides(tiny_city, tmp_path / "a"), *cross, u16])
    with pytest.raises(EngineError, match="8-bit RGB overhead chips .* is uint16") as err:
        train(cfg)
    assert "data.scale=0.00389" in err.value.hint
    train(load_config(None, [*tiny_overrides(tiny_city, tmp_path / "a"), *cross, u16,
                             "data.scale=0.01"]))
    train(load_config(None, [*tiny_overrides(tiny_city, tmp_path / "b"), *cross]))
    assert (tmp_path / "a" / "loss.csv").read_text() == (tmp_path / "b" / "loss.csv").read_text()
    # embed-raster applies the scale the model trained with to the 16-bit scene (no --scale
    # again), not to an 8-bit one: both give the 8-bit scene's field
    from engine.api.commands import embed_raster

    scene = sorted((tmp_path / "u16").glob("*.tif"))[-1]
    fields = {}
    for name, raster in (("u16", scene), ("u8", tiny_city / "overhead" / scene.name)):
        embed_raster(tmp_path / "a", raster, tmp_path / f"{name}.tif", chip=16, stride=8,
                     encoder="overhead", preview=False)
        with rasterio.open(tmp_path / f"{name}.tif") as ds:
            fields[name] = ds.read()
    np.testing.assert_array_equal(fields["u16"], fields["u8"])


def test_overhead_training_refuses_a_raster_smaller_than_one_chip(tiny_city: Path,
                                                                  tmp_path: Path) -> None:
    """embed-raster's rule (engine.embed.grid.check_one_chip), before any training: a 20 x 14
    px raster of 2 m pixels under 40 m chips trained on chips that were mostly padding.
    Every date is checked, each in its own pixels (after a 1 m raster: 40 px chips there)."""
    import io
    import json
    from contextlib import redirect_stdout

    from engine.cli.main import main

    big = sorted((tiny_city / "overhead").glob("*.tif"))[0]
    small = tmp_path / "small_2023-06-01.tif"
    with rasterio.open(small, "w", driver="GTiff", width=20, height=14, count=3, dtype="uint8",
                       crs="EPSG:32617", transform=from_origin(X0, Y0 + 100, 2.0, 2.0)) as ds:
        ds.write(np.full((3, 14, 20), 90, dtype=np.uint8))
    for rasters in ([small], [big, small]):
        buf = io.StringIO()
        with redirect_stdout(buf):  # python -m engine.train, as a user runs it
            code = main(["train", "--config", "overhead_self",
                         *(a for r in rasters for a in ("--raster", str(r))),
                         "data.chip_m=40", "train.steps=2", "train.device=cpu",
                         f"output={tmp_path / 'run'}", "--events", "jsonl"])
        event = json.loads(buf.getvalue().splitlines()[-1])
        assert code == 2 and event["event"] == "error", event
        assert event["message"] == (f"the raster {small} is 20 x 14 px (40 m x 28 m), smaller "
                                    "than one 20 px chip (40 m)")
        assert "data.chip_m=28" in event["hint"] and "data.chip_size=14" in event["hint"]
        assert not (tmp_path / "run").exists()


def test_temporal_without_times_names_captured_at(tiny_city: Path, tmp_path: Path) -> None:
    from engine.train.loop import train

    frame = gpd.read_file(tiny_city / "streetview.gpkg")
    frame = frame.drop(columns=["captured_at"])
    frame["image"] = [str(tiny_city / p) for p in frame["image"]]
    frame.to_file(tmp_path / "notimes.gpkg", layer="streetview", driver="GPKG", VERSION="1.2")
    cfg = load_config(None, [*tiny_overrides(tiny_city, tmp_path / "run"),
                             f"data.streetview={tmp_path / 'notimes.gpkg'}",
                             "objectives.temporal.weight=1"])
    with pytest.raises(EngineError, match="captured_at"):
        train(cfg)


def test_prefetch_keeps_order_and_raises_errors() -> None:
    from engine.train.prefetch import Prefetcher

    assert list(Prefetcher(iter(range(7)), depth=2)) == list(range(7))

    def broken():
        yield 1
        raise EngineError("photo p.jpg cannot be read", "re-export it")

    with pytest.raises(EngineError, match="p.jpg"):
        list(Prefetcher(broken()))


def test_bursts_keep_order_and_raise_errors() -> None:
    from engine.train.prefetch import batch_source, in_bursts

    for n in (0, 7, 8, 17):
        assert list(in_bursts(iter(range(n)), size=8)) == list(range(n))
    drawn: list[int] = []

    def counted():
        for i in range(20):
            drawn.append(i)
            yield i

    it = batch_source(counted(), "burst")
    assert next(it) == 0 and drawn == list(range(8))  # the first 8 drawn back to back

    def broken():
        yield 1
        raise EngineError("feature cache row 3 is missing", "rebuild the cache")

    with pytest.raises(EngineError, match="row 3"):
        list(in_bursts(broken()))
    with pytest.raises(ValueError, match="prefetch mode"):
        batch_source(iter(()), "sometimes")


def test_cpu_training_draws_batches_from_memory_in_line_when_torch_fills_the_cores() -> None:
    import os

    from engine.train.prefetch import prefetch_mode, use_prefetch

    cores = len(os.sched_getaffinity(0))
    views = ("view1", "view2")
    before = torch.get_num_threads()
    try:
        for regime, device, threads, extra, keys, expected in (
                ("frozen", "cpu", cores, [], None, False),  # the thread would only compete
                ("frozen", "cpu", max(1, cores - 1), [], None, cores > 1),  # a spare core
                ("frozen", "cuda", cores, [], None, True),  # host work overlaps the GPU
                ("full", "cpu", cores, [], views, False),  # photos decoded up front
                ("full", "cpu", cores, [], None, True),  # keys unknown: not assumed
                ("full", "cpu", cores, [], (*views, "overhead"), True),  # chips read per item
                ("full", "cpu", cores, ["data.cache_images=false"], views, True),  # decoding
                ("full", "cpu", cores, ["train.workers=1"], views, True),  # loader workers
                ("full", "cpu", max(1, cores - 1), [], views, cores > 1),
                ("full", "cuda", cores, [], views, True),
                ("full", "cpu", cores, ["train.prefetch=false"], None, False)):  # user said no
            torch.set_num_threads(threads)
            cfg = load_config(None, ["objectives.self.weight=1", f"train.regime={regime}",
                                     *extra])
            got = use_prefetch(cfg, device, keys)
            assert got is expected, (regime, device, threads, extra, keys)
            # where no thread draws them, batches come in bursts unless prefetch is off
            assert prefetch_mode(cfg, device, keys) == (
                "thread" if expected else "burst" if cfg.train.prefetch else "none")
        # the frozen regime's feature tables on the GPU: batches are gathers queued there
        cfg = load_config(None, ["objectives.self.weight=1", "train.regime=frozen"])
        assert use_prefetch(cfg, "cuda", None, device_tables=True) is False
        assert prefetch_mode(cfg, "cuda", None, device_tables=True) == "gpu"
    finally:
        torch.set_num_threads(before)


def test_losses_are_read_back_a_few_steps_at_a_time_and_checked() -> None:
    """Training keeps each step's losses where they were computed and reads them at the log
    lines and checkpoints (LossReadout): the same floats as reading each step, and a
    non-finite loss names its step and objective."""
    from engine.train.loop import LossReadout

    readout, history = LossReadout(["self", "temporal"]), []
    steps = {1: (torch.tensor(3.0), torch.tensor([1.0, 2.0])),
             2: (torch.tensor(0.1), torch.tensor([0.05, 0.3]))}
    for step, (total, losses) in steps.items():
        readout.add(step, total, losses)
    readout.into(history)
    assert history == [[step, float(total), *(float(v) for v in losses)]  # as read each step
                       for step, (total, losses) in steps.items()]
    readout.into(history)  # nothing kept: nothing added
    assert len(history) == 2
    readout.add(3, torch.tensor(1.0), torch.tensor([0.5, 0.5]))
    readout.add(4, torch.tensor(float("nan")), torch.tensor([1.0, float("inf")]))
    with pytest.raises(EngineError, match="objective 'temporal' gave a non-finite loss "
                                          r"\(inf\) at step 4"):
        readout.into(history)
    assert [row[0] for row in history] == [1, 2, 3]  # the finite steps before it are kept
    readout.add(5, torch.tensor(float("inf")), torch.tensor([1.0, 2.0]))
    with pytest.raises(EngineError, match="weighted sum of the objectives.*step 5"):
        readout.into(history)


def test_training_whose_loss_diverges_stops_with_a_clear_error(tiny_city: Path,
                                                               tmp_path: Path) -> None:
    """A learning rate of 1e30 (an exponent YAML reads as text) makes the loss NaN within a
    few steps: training stops at the next read-back, names the objective and the step, and
    leaves no run folder behind (no model from diverged weights)."""
    from engine.train.loop import train

    cfg = load_config(None, [*tiny_overrides(tiny_city, tmp_path / "run", steps=6),
                             "objectives.self.weight=1", "train.lr=1e30", "train.log_every=3"])
    with pytest.raises(EngineError, match=r"objective 'self' gave a non-finite loss \(nan\) "
                                          r"at step [1-3]\b") as err:
        train(cfg)
    assert "learning rate" in err.value.hint
    assert not (tmp_path / "run").exists()


def test_prefetch_does_not_change_results(tiny_city: Path, tmp_path: Path, caplog) -> None:
    import logging

    from engine.train.loop import train
    from engine.train.prefetch import MODES

    base = [*tiny_overrides(tiny_city, tmp_path, steps=3), "objectives.self.weight=1",
            "objectives.temporal.weight=1"]
    for flag in ("true", "false"):
        with caplog.at_level(logging.INFO, logger="engine"):
            train(load_config(None, [*base, f"output={tmp_path / flag}",
                                     f"train.prefetch={flag}"]))
        said = [r.getMessage() for r in caplog.records if r.getMessage().startswith("batches:")]
        assert said and said[-1].removeprefix("batches: ") in MODES.values()  # the log says how
        if flag == "false":
            assert said[-1] == f"batches: {MODES['none']}"
    a = _weights(tmp_path / "true" / "model.safetensors")
    b = _weights(tmp_path / "false" / "model.safetensors")
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_ctrl_c_during_training_points_to_resume(tiny_city: Path, tmp_path: Path) -> None:
    """A training run stopped with Ctrl-C says how to continue it: a plain re-run starts again
    from step 0 (and replaces the interrupted run's checkpoints)."""
    import json
    import signal
    import subprocess
    import sys

    argv = [sys.executable, "-m", "engine", "train", "--config", "urbanstcl_self", "--events",
            "jsonl", *tiny_overrides(tiny_city, tmp_path / "run", steps=2000),
            "train.checkpoint_every=1"]
    # a pytest-xdist worker ignores SIGINT, and a child inherits that: restore the default,
    # as in a terminal (else Python installs no KeyboardInterrupt handler and trains on)
    proc = subprocess.Popen(argv, cwd=ROOT, stdout=subprocess.PIPE, text=True,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    for line in proc.stdout:  # the first step done: interrupt it
        event = json.loads(line)
        if event["event"] == "progress" and event["done"] >= 1:
            proc.send_signal(signal.SIGINT)
            break
    last = [json.loads(line) for line in proc.stdout][-1]
    assert proc.wait(timeout=120) == 130
    assert last["event"] == "error" and last["message"] == "interrupted"
    assert "--resume" in last["hint"]


def test_training_radiometry_messages_name_recipe_keys(tiny_city: Path, tmp_path: Path) -> None:
    """Overhead-only training has no --scale flag: its radiometry hints name data.scale=."""
    from engine.train.loop import train

    raster = sorted((tiny_city / "overhead").glob("*.tif"))[0]
    cfg = load_config(ROOT / "models" / "overhead_self.yaml",
                      [f"data.overhead=[{raster}]", "data.scaling=tags", "train.steps=1",
                       "train.device=cpu", f"output={tmp_path / 'run'}"])
    with pytest.raises(EngineError, match="no scale/offset tags") as err:
        train(cfg)
    assert "data.scale=SCALE" in err.value.hint and "--scale" not in err.value.hint
