"""Heads: numpy predictors match sklearn, save/load round-trips without pickle,
uncertainties behave, polygon aggregation of point and pixel embeddings."""

from __future__ import annotations

import json

import geopandas as gpd
import numpy as np
import pytest
import rasterio
from rasterio.transform import from_origin
from shapely.geometry import Point, box

from engine.errors import EngineError
from engine.heads.aggregate import aggregate_field_file, aggregate_pixels, aggregate_points
from engine.heads.cv import cross_validate
from engine.heads.feature_range import CLIPPED_HEADS, EigenClip
from engine.heads.fit import fit_head
from engine.heads.io import load_head, save_head
from engine.heads.pipeline import HeadConfig, build_pipeline

CRS = "EPSG:32617"


def _data(n: int = 150, d: int = 6, seed: int = 0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, d))
    y = X @ rng.normal(size=d) + 0.1 * rng.normal(size=n)
    xy = rng.uniform(0, 2000, size=(n, 2)) + [600_000.0, 4_100_000.0]
    return X, y, xy


def _assert_plain_safetensors(path) -> None:
    """safetensors = u64 header length + JSON header + raw tensor bytes, nothing else."""
    raw = path.read_bytes()
    n = int.from_bytes(raw[:8], "little")
    header = json.loads(raw[8:8 + n])
    spans = [v["data_offsets"] for k, v in header.items() if k != "__metadata__"]
    assert all(set(v) == {"dtype", "shape", "data_offsets"}
               for k, v in header.items() if k != "__metadata__")
    assert max(end for _, end in spans) == len(raw) - 8 - n


CASES = [
    (HeadConfig(head="ridge"), "float"),
    (HeadConfig(head="ridge", pca_components=3), "float"),
    (HeadConfig(head="knn", k=5), "float"),
    (HeadConfig(head="logistic", pca_components=4), "binary"),
    (HeadConfig(head="logistic"), "multi"),
    (HeadConfig(head="knn", k=7, task="classification"), "multi"),
]


@pytest.mark.parametrize(("config", "target"), CASES)
def test_numpy_head_matches_sklearn_and_round_trips(tmp_path, config, target) -> None:
    X, y, _ = _data()
    if target == "binary":
        y = np.where(y > 0, "high", "low")
    elif target == "multi":
        y = np.digitize(y, np.quantile(y, [0.33, 0.66])).astype(np.int64)
    head = fit_head(X, y, config=config, target_name="income")
    task = "regression" if target == "float" else "classification"
    assert head.task == task
    ref = build_pipeline(config, task, len(X), X.shape[1]).fit(X, y)
    Xq = np.random.default_rng(9).normal(size=(40, X.shape[1]))
    if task == "regression":  # a ridge head clips to its training range first
        Xr = EigenClip.fit(X)(Xq) if config.head in CLIPPED_HEADS else Xq
        np.testing.assert_allclose(head.predict(Xq), ref.predict(Xr), rtol=1e-9, atol=1e-9)
    else:
        assert np.array_equal(head.predict(Xq), ref.predict(Xq))
        if config.head == "logistic":
            np.testing.assert_allclose(head.predict_proba(Xq), ref.predict_proba(Xq),
                                       atol=1e-9)
    st, js = save_head(head, tmp_path / "income_head")
    assert st.name == "income_head.safetensors" and js.name == "income_head.json"
    assert sorted(p.name for p in tmp_path.iterdir()) == [js.name, st.name]
    _assert_plain_safetensors(st)
    doc = json.loads(js.read_text())  # the metadata is plain JSON
    assert doc["kind"] == config.head and doc["feature_dim"] == 6 and doc["target"] == "income"
    loaded = load_head(tmp_path / "income_head.json")
    p0, u0 = head.predict_with_uncertainty(Xq)
    p1, u1 = loaded.predict_with_uncertainty(Xq)
    assert np.array_equal(p0, p1) and np.array_equal(u0, u1)
    assert p1.dtype == p0.dtype and np.all(u1 >= 0)


def test_fit_after_cv_stores_metrics_and_cv_residual_sd(tmp_path) -> None:
    X, y, xy = _data(200)
    cfg = HeadConfig(head="ridge")
    rep = cross_validate(X, y, xy, block_size_m=400.0, n_folds=4, seed=0, config=cfg)
    head = fit_head(X, y, config=cfg, cv=rep)
    assert head.meta["residual_sd"] == pytest.approx(rep.residual_sd)
    assert head.meta["residual_sd_source"] == "cross-validation"
    save_head(head, tmp_path / "h")
    doc = json.loads((tmp_path / "h.json").read_text())
    assert doc["metrics"]["mean"]["r2"] == pytest.approx(rep.mean["r2"])
    # ridge uncertainty: CV residual sd inside the data, larger far from the training rows
    near = head.uncertainty(X[:20])
    far = head.uncertainty(X[:20] * 25.0)
    assert np.all(near >= rep.residual_sd - 1e-12)
    assert np.all(far > 5 * rep.residual_sd)


def test_knn_uncertainty_is_neighbour_spread() -> None:
    X = np.array([[0.0], [0.1], [0.2], [10.0], [10.1], [10.2]])
    y = np.array([1.0, 1.0, 1.0, 0.0, 5.0, 10.0])
    head = fit_head(X, y, config=HeadConfig(head="knn", k=3, standardize=False))
    pred, unc = head.predict_with_uncertainty(np.array([[0.1], [10.1]]))
    np.testing.assert_allclose(pred, [1.0, 5.0])
    np.testing.assert_allclose(unc, [0.0, np.std([0.0, 5.0, 10.0])])


def test_load_rejects_wrong_files(tmp_path) -> None:
    with pytest.raises(EngineError, match="missing"):
        load_head(tmp_path / "nothing")
    X, y, _ = _data(30)
    save_head(fit_head(X, y), tmp_path / "h")
    (tmp_path / "h.json").write_text("{not json")
    with pytest.raises(EngineError, match="not valid JSON"):
        load_head(tmp_path / "h")
    with pytest.raises(EngineError, match="expects 6-D"):
        fit_head(X, y).predict(np.zeros((2, 5)))


def _tracts() -> gpd.GeoDataFrame:
    return gpd.GeoDataFrame({"tract_id": [10, 20, 30]},
                            geometry=[box(0, 0, 10, 10), box(10, 0, 20, 10), box(40, 40, 50, 50)],
                            crs=CRS)


def test_aggregate_points_means_per_polygon() -> None:
    pts = gpd.GeoDataFrame(geometry=[Point(1, 1), Point(2, 2), Point(15, 5), Point(99, 99)],
                           crs=CRS)
    emb = np.array([[1.0, 0.0], [3.0, 2.0], [5.0, 5.0], [100.0, 100.0]])
    out = aggregate_points(pts, emb, _tracts().to_crs("EPSG:4326"), id_field="tract_id")
    assert out.ids.tolist() == [10, 20, 30]
    assert out.counts.tolist() == [2, 1, 0]
    np.testing.assert_allclose(out.embeddings[:2], [[2.0, 1.0], [5.0, 5.0]], atol=1e-9)
    assert np.isnan(out.embeddings[2]).all()


def test_aggregate_pixels_from_array_and_file(tmp_path) -> None:
    transform = from_origin(0, 20, 1, 1)  # 20 x 20 pixels of 1 m, x 0..20, y 0..20
    field = np.zeros((2, 20, 20), dtype=np.float32)
    field[0, 10:, :10] = 1.0   # tract 10 (x 0..10, y 0..10 = rows 10..19, cols 0..9)
    field[1, 10:, 10:] = 4.0   # tract 20
    field[:, 19, 0] = np.nan   # one invalid pixel in tract 10
    out = aggregate_pixels(field, transform, CRS, _tracts(), id_field="tract_id")
    assert out.counts.tolist() == [99, 100, 0]
    np.testing.assert_allclose(out.embeddings[0], [1.0, 0.0])
    np.testing.assert_allclose(out.embeddings[1], [0.0, 4.0])
    path = tmp_path / "field.tif"
    with rasterio.open(path, "w", driver="GTiff", width=20, height=20, count=2,
                       dtype="float32", crs=CRS, transform=transform, nodata=np.nan) as ds:
        ds.write(field)
    from_file = aggregate_field_file(path, _tracts(), id_field="tract_id")
    assert from_file.counts.tolist() == out.counts.tolist()
    np.testing.assert_allclose(from_file.embeddings[:2], out.embeddings[:2])


def test_a_field_file_read_at_once_or_window_by_window_gives_the_same_means(
        tmp_path, monkeypatch) -> None:
    """A small field file is read in one go; a large one polygon window by polygon window:
    both give the same bits (int16 with scale/offset and nodata, the many-band case)."""
    import engine.heads.aggregate as aggregate

    rng = np.random.default_rng(0)
    transform = from_origin(0, 20, 1, 1)
    stored = rng.integers(-3000, 3000, size=(40, 20, 20)).astype(np.int16)
    stored[:, 13, 4] = -32768  # nodata in tract 10 ...
    stored[7, 12, 15] = -32768  # ... and in one band only of tract 20
    path = tmp_path / "field.tif"
    with rasterio.open(path, "w", driver="GTiff", width=20, height=20, count=40,
                       dtype="int16", crs=CRS, transform=transform, nodata=-32768) as ds:
        ds.write(stored)
        ds.scales = [0.001] * 40
        ds.offsets = [0.5] * 40
    at_once = aggregate_field_file(path, _tracts(), id_field="tract_id")
    monkeypatch.setattr(aggregate, "IN_MEMORY_BYTES", 0)
    by_window = aggregate_field_file(path, _tracts(), id_field="tract_id")
    assert at_once.counts.tolist() == by_window.counts.tolist() == [99, 99, 0]
    assert np.array_equal(at_once.embeddings, by_window.embeddings, equal_nan=True)
    assert at_once.cell_use == by_window.cell_use
