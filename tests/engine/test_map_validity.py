"""The truth-free validity check of zero-shot maps: a map made with the right head passes, a
map made with a deliberately wrong (sign-flipped) head fails, at photo points and at tract
polygons, and the verdict is in the result, the GeoTIFF tags, the GeoPackage metadata and the
PNG title."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import numpy as np
import pytest

CRS = "EPSG:32617"
X0, Y0, PX, SIZE = 328000.0, 4421000.0, 10.0, 60  # a 600 m square field at 10 m pixels


@pytest.fixture(scope="module")
def field(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 6-band embedding field whose first band is the (scaled) easting: the label's signal."""
    from affine import Affine

    from engine.export.geotiff import write_geotiff

    rng = np.random.default_rng(0)
    cols = np.arange(SIZE, dtype=np.float32)
    data = rng.normal(0, 0.3, (6, SIZE, SIZE)).astype(np.float32)
    data[0] += (cols[None, :] / SIZE * 4.0).astype(np.float32)
    path = tmp_path_factory.mktemp("validity") / "field.tif"
    return write_geotiff(data, CRS, Affine(PX, 0, X0, 0, -PX, Y0 + SIZE * PX), path)


def _label(x: np.ndarray) -> np.ndarray:
    return 10.0 + 3.0 * (x - X0) / (SIZE * PX)


def _point_rows(field: Path, n: int = 120):
    from engine.maps.field import sample_field
    from engine.maps.rows import LabelledRows

    rng = np.random.default_rng(1)
    xy = np.column_stack([rng.uniform(X0 + 5, X0 + SIZE * PX - 5, n),
                          rng.uniform(Y0 + 5, Y0 + SIZE * PX - 5, n)])
    X, _ = sample_field(field, xy, CRS)
    y = _label(xy[:, 0]) + rng.normal(0, 0.1, n)
    return LabelledRows(X, y, xy, CRS, None, "synthetic points")


def _wrong(head):
    """The same head with its coefficients' sign flipped: an anti-correlated map."""
    bad = copy.deepcopy(head)
    bad.arrays["coef"] = -bad.arrays["coef"]
    return bad


def _gpkg_meta(gpkg: str, layer: str) -> dict:
    import pyogrio

    return pyogrio.read_info(gpkg, layer=layer)["layer_metadata"]


def test_right_head_passes_and_wrong_head_is_flagged_at_points(field, tmp_path):
    from PIL import Image

    from engine.heads.io import load_head
    from engine.maps.fit import fit_rows
    from engine.maps.validity import read_geotiff_validity
    from engine.maps.zero_shot import zero_shot_map

    fit_rows(_point_rows(field), tmp_path / "head", "ridge", "income", 150.0, 3)
    head = load_head(tmp_path / "head")
    assert head.meta["places"] == "points" and head.arrays["places_xy"].shape == (120, 2)
    good = zero_shot_map(head, field, tmp_path, "good", align=False)
    assert good["reliable"] is True and good["validity"]["r"] > 0.9
    bad = zero_shot_map(_wrong(head), field, tmp_path, "bad", align=False)
    assert bad["reliable"] is False and bad["validity"]["r"] < -0.9
    assert bad["validity"]["passed"] is False and bad["validity"]["n"] == 120
    tags = read_geotiff_validity(bad["geotiff"])
    assert tags["passed"] == "False" and float(tags["r"]) < -0.9
    assert read_geotiff_validity(good["geotiff"])["passed"] == "True"
    meta = _gpkg_meta(bad["gpkg"], bad["cells_layer"])
    assert meta["reliable"] == "false" and json.loads(meta["validity"])["passed"] is False
    with Image.open(bad["png"]) as im:
        assert im.format == "PNG"
    import rasterio

    with rasterio.open(bad["geotiff"]) as ds:  # still a valid tiled map with its bands
        assert ds.descriptions == ("prediction", "uncertainty") and ds.block_shapes[0][0] > 1


def test_wrong_head_is_flagged_at_tract_polygons(field, tmp_path):
    import geopandas as gpd
    import shapely

    from engine.heads.io import load_head
    from engine.maps.fit import fit_rows
    from engine.maps.rows import polygon_rows
    from engine.maps.zero_shot import zero_shot_map

    step = SIZE * PX / 6
    boxes = [shapely.box(X0 + i * step, Y0 + j * step, X0 + (i + 1) * step, Y0 + (j + 1) * step)
             for i in range(6) for j in range(6)]
    centre_x = np.array([b.centroid.x for b in boxes])
    tracts = gpd.GeoDataFrame({"tract_id": np.arange(36), "income": _label(centre_x)},
                              geometry=boxes, crs=CRS)
    tracts.to_file(tmp_path / "tracts.gpkg", layer="tracts", driver="GPKG")
    rows = polygon_rows(tmp_path / "tracts.gpkg", "income", field=field)
    fit_rows(rows, tmp_path / "head", "ridge", "income", 200.0, 3)
    head = load_head(tmp_path / "head")
    assert head.meta["places"] == "polygons"
    good = zero_shot_map(head, field, tmp_path, "good", align=False)
    bad = zero_shot_map(_wrong(head), field, tmp_path, "bad", align=False)
    assert good["reliable"] is True and good["validity"]["places"] == "polygons"
    assert bad["reliable"] is False and bad["validity"]["r"] < 0


def test_head_without_places_is_reported_as_unchecked(field, tmp_path):
    from engine.heads.io import load_head
    from engine.maps.fit import fit_rows
    from engine.maps.zero_shot import zero_shot_map

    fit_rows(_point_rows(field, 40), tmp_path / "head", "ridge", "income", 150.0, 3)
    head = load_head(tmp_path / "head")
    for key in ("places_xy", "places_y"):
        head.arrays.pop(key)
    out = zero_shot_map(head, field, tmp_path, "old", align=False)
    assert out["validity"]["passed"] is None and out["reliable"] is None  # unchecked, said so
    assert "no labelled places" in out["validity"]["note"]
    assert _gpkg_meta(out["gpkg"], out["cells_layer"])["reliable"] == "null"


def test_tagging_keeps_a_quiet_cloud_optimized_map(tmp_path, caplog):
    """The check's tags go in through a VRT: the map stays a COG with its values, band names
    and earlier tags, GDAL warns of no broken layout, and no staging file is left."""
    import logging

    import rasterio
    import rasterio.shutil
    from affine import Affine

    from engine.maps.validity import Validity, read_geotiff_validity, tag_geotiff

    values = np.random.default_rng(1).normal(size=(2, 300, 300)).astype(np.float32)
    plain = tmp_path / "plain.tif"
    with rasterio.open(plain, "w", driver="GTiff", width=300, height=300, count=2,
                       dtype="float32", crs=CRS, transform=Affine(PX, 0, X0, 0, -PX, Y0),
                       nodata=np.nan) as ds:
        ds.write(values)
        ds.descriptions = ("prediction", "uncertainty")
        ds.update_tags(GEOCONTRAST_KIND="zero_shot_map")
    tif = tmp_path / "map.tif"
    rasterio.shutil.copy(plain, tif, driver="COG", COMPRESS="DEFLATE")
    plain.unlink()
    caplog.set_level(logging.WARNING)
    tag_geotiff(tif, Validity(False, -0.4, -0.2, 50, "points"))
    assert not [r for r in caplog.records if "layout" in r.getMessage().lower()]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["map.tif"]
    with rasterio.open(tif) as ds:
        assert ds.tags(ns="IMAGE_STRUCTURE")["LAYOUT"] == "COG"
        assert ds.descriptions == ("prediction", "uncertainty")
        assert ds.tags()["GEOCONTRAST_KIND"] == "zero_shot_map"
        assert np.array_equal(ds.read(), values)
    tags = read_geotiff_validity(tif)
    assert tags["passed"] == "False" and float(tags["r"]) == -0.4


def test_a_check_that_failed_without_a_correlation_still_has_a_title() -> None:
    """A constant map (or too few places) fails with no r: its label says why."""
    from engine.maps.validity import Validity

    failed = Validity(False, None, None, 3, "points", note="only 3 labelled places")
    assert failed.label() == "UNRELIABLE: only 3 labelled places"
    assert Validity(True, 0.62, 0.3, 80, "points").label() == "check r=+0.62 (n=80)"


@pytest.mark.parametrize(("n", "passes"), [(9, False), (80, True)])
def test_few_places_need_a_significant_r(field, tmp_path, n, passes):
    """r 0.45 passes MIN_R (0.3); at 9 places it is not significantly above 0 (one-sided 5 %:
    r >= 0.58 is), so that map is flagged; at 80 places it passes."""
    from engine.heads.io import load_head
    from engine.maps.field import sample_field
    from engine.maps.fit import fit_rows
    from engine.maps.validity import check_map, significant_r
    from engine.maps.zero_shot import zero_shot_map

    fit_rows(_point_rows(field, 40), tmp_path / "head", "ridge", "income", 150.0, 3)
    head = load_head(tmp_path / "head")
    tif = zero_shot_map(head, field, tmp_path, "m", align=False)["geotiff"]
    rng = np.random.default_rng(2)
    xy = np.column_stack([rng.uniform(X0 + 5, X0 + SIZE * PX - 5, n),
                          rng.uniform(Y0 + 5, Y0 + SIZE * PX - 5, n)])
    v = sample_field(tif, xy, CRS)[0][:, 0]
    v = (v - v.mean()) / v.std()
    noise = rng.normal(size=n)
    noise -= noise.mean() + (noise @ v) / (v @ v) * v  # orthogonal to the map's values
    y = 0.45 * v + np.sqrt(1 - 0.45 ** 2) * noise / noise.std()  # r = 0.45 exactly
    head.arrays.update(places_xy=xy, places_y=y)
    head.arrays.pop("places_oof", None)
    head.arrays.pop("places_wkb", None)
    head.meta["places"] = "points"
    result = check_map(tif, head)
    assert result.r == pytest.approx(0.45, abs=1e-6)
    assert result.passed is passes
    assert result.min_r == pytest.approx(max(0.3, significant_r(n)))
