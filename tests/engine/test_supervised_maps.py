"""Supervised maps on an embedding field: every covered polygon gets an embedding (small ones
area-weighted), the CV block is derived from the labels and checked against the folds,
`count / area_km2` targets, `map predict` without a shift and with a mask, and the
extrapolation guard (flag band, --clip, far-out folds)."""

from __future__ import annotations

import json
from pathlib import Path

import geopandas as gpd
import numpy as np
import pytest
import rasterio
from rasterio.transform import from_origin
from shapely.geometry import box

from engine.errors import EngineError
from engine.heads.aggregate import aggregate_field_file
from engine.heads.cv import cross_validate
from engine.heads.feature_range import CLIP_ARRAYS, EigenClip
from engine.heads.head import Head
from engine.heads.spatial_cv import check_folds, derive_block_size
from engine.heads.targets import area_km2, evaluate_target

CRS = "EPSG:32617"
X0, Y0 = 500000.0, 4000000.0


def write_field(path: Path, data: np.ndarray, res: float = 10.0) -> Path:
    with rasterio.open(path, "w", driver="GTiff", width=data.shape[2], height=data.shape[1],
                       count=data.shape[0], dtype="float32", crs=CRS, nodata=np.nan,
                       transform=from_origin(X0, Y0, res, res)) as ds:
        ds.write(data.astype(np.float32))
    return path


def smooth_field(h: int = 20, w: int = 20, dim: int = 4, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:h, 0:w] / max(h, w)
    return np.stack([np.sin(3 * xx * (k + 1)) + np.cos(2 * yy * (k + 2))
                     + 0.05 * rng.standard_normal((h, w)) for k in range(dim)])


def test_every_covered_polygon_gets_an_embedding(tmp_path: Path) -> None:
    field = np.zeros((2, 4, 4))
    field[0] = np.arange(16).reshape(4, 4)
    field[1] = 1.0
    path = write_field(tmp_path / "f.tif", field)  # 4 x 4 cells of 10 m
    polys = gpd.GeoDataFrame({"id": [1, 2, 3, 4]}, geometry=[
        box(X0, Y0 - 20, X0 + 20, Y0),                  # 4 cell centres inside
        box(X0 + 31, Y0 - 9, X0 + 33, Y0 - 7),          # 2 x 2 m inside one cell (row 0, col 3)
        box(X0 + 19, Y0 - 31, X0 + 21, Y0 - 29),        # 2 x 2 m on the corner of 4 cells
        box(X0 + 500, Y0 + 500, X0 + 510, Y0 + 510),    # outside the field
    ], crs=CRS)
    agg = aggregate_field_file(path, polys)
    assert agg.covered.tolist() == [True, True, True, False]
    assert agg.weighted.tolist() == [False, True, True, False]
    np.testing.assert_allclose(agg.embeddings[0], [np.mean([0, 1, 4, 5]), 1.0])
    np.testing.assert_allclose(agg.embeddings[1], [3.0, 1.0])
    # equal overlap with cells (2,1), (2,2), (3,1), (3,2): the mean of 9, 10, 13, 14
    np.testing.assert_allclose(agg.embeddings[2], [11.5, 1.0])
    assert agg.counts.tolist() == [4, 1, 4, 0]
    assert agg.cell_use["cells_used"] == 9 and agg.cell_use["polygons_per_cell_max"] == 1


def test_fit_reports_cells_per_polygon_and_derived_block(tmp_path: Path) -> None:
    from engine.cli.main import main

    field = write_field(tmp_path / "f.tif", smooth_field(40, 40))
    cells = [box(X0 + i * 50, Y0 - (j + 1) * 50, X0 + (i + 1) * 50, Y0 - j * 50)
             for i in range(8) for j in range(8)]
    centre = np.array([[c.centroid.x - X0, Y0 - c.centroid.y] for c in cells])
    polys = gpd.GeoDataFrame({"count": 1000 + 3 * centre[:, 0] + centre[:, 1]},
                             geometry=cells, crs=CRS)
    polys.to_file(tmp_path / "tracts.gpkg")
    rc = main(["fit", "--field", str(field), "--polygons", str(tmp_path / "tracts.gpkg"),
               "--target", "count / area_km2", "--out", str(tmp_path / "head")])
    assert rc == 0
    doc = json.loads((tmp_path / "head.cv.json").read_text())
    assert doc["cv_plan"]["block_size_m"] == pytest.approx(100.0)
    assert "median polygon diameter" in doc["cv_plan"]["block_size_source"]
    assert doc["aggregation"]["cells_per_polygon"]["median"] == 25
    assert doc["aggregation"]["polygons_per_cell_max"] == 1
    assert doc["target"] == "count / area_km2"


def test_derived_block_and_fold_check() -> None:
    xy = np.array([[x, y] for x in range(0, 1000, 100) for y in range(0, 1000, 100)], float)
    size, why = derive_block_size(xy, 5, diameters=np.full(len(xy), 100.0))
    assert size == 200.0 and "polygon diameter" in why
    size_pts, why_pts = derive_block_size(xy, 5)
    assert size_pts >= 500.0 and "spacing" in why_pts
    assert check_folds(xy, 200.0, 5) == (5, None)
    folds, note = check_folds(xy, 600.0, 5)
    assert folds == 4 and "--folds" in note
    with pytest.raises(EngineError, match="only 1 spatial block") as err:
        check_folds(xy, 5000.0, 5)
    assert "--block-size" in err.value.hint


def test_area_km2_expression_in_any_crs() -> None:
    polys = gpd.GeoDataFrame({"population": [2000.0, 500.0]},
                             geometry=[box(X0, Y0, X0 + 1000, Y0 + 2000),
                                       box(X0 + 2000, Y0, X0 + 2500, Y0 + 1000)], crs=CRS)
    np.testing.assert_allclose(area_km2(polys), [2.0, 0.5], rtol=2e-3)
    dens = evaluate_target(polys, "population / area_km2", "tracts")
    np.testing.assert_allclose(dens, [1000.0, 1000.0], rtol=2e-3)
    np.testing.assert_allclose(evaluate_target(polys.to_crs("EPSG:4326"),
                                               "population / area_km2", "tracts"), dens,
                               rtol=1e-6)
    np.testing.assert_allclose(evaluate_target(polys, "(population - 500) * 2", "t"),
                               [3000.0, 0.0])
    with pytest.raises(EngineError, match="no field 'pop'"):
        evaluate_target(polys, "pop / area_km2", "tracts")
    with pytest.raises(EngineError, match="not allowed"):
        evaluate_target(polys, "__import__('os').getcwd()", "tracts")


def _head_on_field(tmp_path: Path, field: Path) -> Path:
    from engine.heads.fit import fit_head
    from engine.heads.io import save_head

    with rasterio.open(field) as ds:
        data = ds.read()
    X = data.reshape(data.shape[0], -1).T.astype(np.float64)
    y = 2.0 * X[:, 0] - X[:, 1] + 5.0
    save_head(fit_head(X, y, head="ridge", target_name="value"), tmp_path / "head")
    return tmp_path / "head"


def test_map_predict_has_no_shift_and_honours_a_mask(tmp_path: Path) -> None:
    from engine.heads.io import load_head
    from engine.maps.predict import predict_map

    field = write_field(tmp_path / "f.tif", smooth_field())
    head_path = _head_on_field(tmp_path, field)
    head = load_head(head_path)
    res = predict_map(head_path, field, tmp_path / "out", "p")
    with rasterio.open(res["geotiff"]) as ds, rasterio.open(field) as fs:
        pred = ds.read(1)
        want = head.predict(fs.read().reshape(fs.count, -1).T).reshape(pred.shape)
        assert list(ds.descriptions) == ["prediction", "uncertainty", "flag"]
        assert (ds.read(3) == 0).all()
    np.testing.assert_allclose(pred, want, rtol=1e-5, atol=1e-5)  # no re-centring shift
    land = gpd.GeoDataFrame(geometry=[box(X0, Y0 - 100, X0 + 100, Y0)], crs=CRS)
    land.to_file(tmp_path / "land.gpkg")
    masked = predict_map(head_path, field, tmp_path / "out", "m", mask=tmp_path / "land.gpkg")
    with rasterio.open(masked["geotiff"]) as ds:
        m = ds.read(1)
    assert np.isfinite(m[:10, :10]).all() and np.isnan(m[10:, :]).all() \
        and np.isnan(m[:, 10:]).all()
    np.testing.assert_allclose(m[:10, :10], pred[:10, :10], rtol=1e-6)


def _box_max(head: Head) -> float:
    """The largest prediction of a ridge head over its clip's box: intercept + coef at the
    clip's mean + sum over coordinates of max(w lo, w hi), w the coefficients per coordinate."""
    a = head.arrays
    clip = EigenClip.from_arrays(a)
    coef = a["coef"].reshape(-1) / a["scale_scale"]  # per raw feature
    w = clip.basis.T @ (coef / clip.gain)
    base = a["intercept"][0] + (clip.mean - a["scale_mean"]) @ coef
    return float(base + np.maximum(w * clip.lo, w * clip.hi).sum())


def test_extrapolation_flag_and_clip(tmp_path: Path) -> None:
    from engine.heads.io import load_head
    from engine.maps.predict import predict_map

    data = smooth_field()
    field = write_field(tmp_path / "f.tif", data)
    head_path = _head_on_field(tmp_path, field)
    far = data.copy()
    far[0, :5, :5] += 50.0  # far outside the training features: predictions beyond range
    far_field = write_field(tmp_path / "far.tif", far)
    head = load_head(head_path)
    lo, hi = head.meta["y_range"]
    res = predict_map(head_path, far_field, tmp_path / "out", "far")
    with rasterio.open(res["geotiff"]) as ds:
        pred, flag = ds.read(1), ds.read(3)
    assert (flag[:5, :5] == 1).all() and flag[5:, 5:].sum() == 0
    # the ridge head clips the far features to its training rows' range in its design's
    # eigenbasis: flagged, yet bounded by the largest prediction inside that box (which may
    # lie beyond the training targets: the flag says so)
    assert pred[:5, :5].max() <= _box_max(head) + 1e-4
    bare = {k: v for k, v in head.arrays.items() if k not in CLIP_ARRAYS}
    unclipped = Head(head.kind, head.task, bare, head.meta).predict(far[:, 0, 0][None])[0]
    assert unclipped > 5 * (hi - lo) + _box_max(head)  # what the clip took away
    assert res["flagged_share"] == pytest.approx(25 / 400)
    clipped = predict_map(head_path, far_field, tmp_path / "out", "clip", clip=True)
    with rasterio.open(clipped["geotiff"]) as ds:
        cpred, cflag = ds.read(1), ds.read(3)
    assert cpred.max() <= hi + 1e-6 and (cflag[:5, :5] == 1).all()


def test_far_out_fold_is_reported() -> None:
    rng = np.random.default_rng(0)
    xy = np.array([[x, y] for x in range(0, 400, 20) for y in range(0, 400, 20)], float)
    X = rng.standard_normal((len(xy), 3))
    corner = (xy[:, 0] >= 200) & (xy[:, 1] >= 200)
    X[corner] += 25.0  # one quarter of the map looks like nothing in the rest
    y = X[:, 0] + 0.1 * rng.standard_normal(len(xy))
    rep = cross_validate(X, y, xy, block_size_m=200.0, n_folds=4, seed=0)  # a block per fold
    far = rep.extra["far_out_folds"]
    assert len(far) == 1 and (rep.folds[corner] == far[0]).all()
    assert rep.extra["far_out_share"][far[0]] == 1.0
    assert max(np.delete(rep.extra["far_out_share"], far[0])) < 0.5
    assert rep.to_dict()["far_out_folds"] == far


def test_class_maps_are_never_averaged(tmp_path: Path) -> None:
    """A class map larger than the cells layer's budget was read by averaging class numbers:
    a crop (0) / tree (2) mix became 'developed' (1) in the GeoPackage, and per polygon a
    class 1.55. Cells take the most common class, polygons theirs and its share; the GeoTIFF
    opens paletted with the names."""
    import geopandas as gpd
    import pyogrio
    import shapely
    from affine import Affine

    from engine.export.geotiff import write_geotiff
    from engine.maps.outputs import MAX_CELLS, map_outputs

    side = 300  # 90,000 px > MAX_CELLS: the cells are read decimated
    assert side * side > MAX_CELLS
    cls = np.zeros((side, side), dtype=np.float32)
    cls[:, 1::2] = 2.0  # crop and tree in alternate columns
    cls[:, 180:] = 2.0  # the east 40 % all tree
    data = np.stack([cls, np.full_like(cls, 0.8)])
    x0, y0 = 328000.0, 4421300.0
    tif = write_geotiff(data, "EPSG:32617", Affine(1, 0, x0, 0, -1, y0), tmp_path / "c.tif",
                        band_descriptions=["class_index", "confidence"])
    polys = gpd.GeoDataFrame({"zone": ["all"]}, geometry=[shapely.box(x0, y0 - side,
                                                                      x0 + side, y0)],
                             crs="EPSG:32617")
    names = ["crop", "developed", "tree"]
    out = map_outputs(tif, tmp_path, "c", "classes", polygons=polys, classes=names,
                      quicklook=False)
    cells = pyogrio.read_dataframe(out["gpkg"], layer=out["cells_layer"])
    assert len(cells) <= MAX_CELLS and set(cells["class_index"]) <= {0, 2}
    assert "developed" not in set(cells["class"])
    assert (np.asarray(names, dtype=object)[cells["class_index"]] == cells["class"]).all()
    zone = pyogrio.read_dataframe(out["gpkg"], layer=out["polygons_layer"]).iloc[0]
    assert zone["class"] == "tree" and zone["class_index"] == 2
    assert zone["class_share"] == pytest.approx((180 * 150 + 120 * 300) / side ** 2)
    assert 'type="paletted"' in Path(tif).with_suffix(".qml").read_text()
