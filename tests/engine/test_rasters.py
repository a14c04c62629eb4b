"""open_raster: windowed reads with CRS/transform/valid mask, warping, chips, errors."""

from __future__ import annotations

import numpy as np
import pytest
import rasterio
from rasterio.transform import from_origin

from engine.data.rasters import metric_target_crs, open_raster
from engine.errors import EngineError

ORIGIN = (500000.0, 4000000.0)  # UTM 17N, top-left corner


def _tif(path, count=3, width=30, height=20, crs="EPSG:32617", nodata=None, dtype="uint8",
         res=1.0, origin=ORIGIN, data=None):
    if data is None:
        data = (np.arange(count * height * width).reshape(count, height, width) % 250 + 1)
    data = data.astype(dtype)
    with rasterio.open(path, "w", driver="GTiff", width=width, height=height, count=count,
                       dtype=dtype, crs=crs, nodata=nodata,
                       transform=from_origin(origin[0], origin[1], res, res)) as ds:
        ds.write(data)
    return data


def test_window_equals_numpy_slice(tmp_path):
    full = _tif(tmp_path / "a.tif")
    with open_raster(tmp_path / "a.tif") as r:
        assert (r.width, r.height, r.count, r.res) == (30, 20, 3, (1.0, 1.0))
        assert not r.is_geographic and r.crs.to_epsg() == 32617
        w = r.read_window(5, 3, 10, 8)
    assert w.data.dtype == np.float32 and w.data.shape == (3, 8, 10)
    np.testing.assert_array_equal(w.data, full[:, 3:11, 5:15].astype(np.float32))
    assert w.valid.all() and w.crs.to_epsg() == 32617
    assert (w.transform.c, w.transform.f) == (ORIGIN[0] + 5, ORIGIN[1] - 3)
    assert tuple(w.bounds) == (ORIGIN[0] + 5, ORIGIN[1] - 11, ORIGIN[0] + 15, ORIGIN[1] - 3)


def test_nodata_pixels_are_invalid(tmp_path):
    data = np.full((1, 6, 6), 7.5, dtype=np.float32)
    data[0, 2, 3] = -9999.0
    data[0, 4, 1] = np.nan
    _tif(tmp_path / "n.tif", count=1, width=6, height=6, nodata=-9999.0, dtype="float32",
         data=data)
    with open_raster(tmp_path / "n.tif") as r:
        assert r.nodata == -9999.0
        w = r.read_window(0, 0, 6, 6)
    assert not w.valid[2, 3] and not w.valid[4, 1] and w.valid.sum() == 34
    assert w.data[0, 2, 3] == 0.0 and (w.data[0][w.valid] == 7.5).all()


def test_alpha_band_is_a_mask_not_a_band(tmp_path):
    data = np.full((4, 4, 4), 100, dtype=np.uint8)
    data[3, :2] = 0  # transparent top half
    path = tmp_path / "rgba.tif"
    with rasterio.open(path, "w", driver="GTiff", width=4, height=4, count=4, dtype="uint8",
                       crs="EPSG:32617", transform=from_origin(*ORIGIN, 1, 1),
                       photometric="RGB", alpha="YES") as ds:
        ds.write(data)
    with open_raster(path) as r:
        assert r.count == 3
        w = r.read_window(0, 0, 4, 4)
    assert w.data.shape == (3, 4, 4) and not w.valid[:2].any() and w.valid[2:].all()


def test_window_past_the_edge_is_padded_invalid(tmp_path):
    full = _tif(tmp_path / "a.tif")
    with open_raster(tmp_path / "a.tif") as r:
        w = r.read_window(-4, -2, 8, 6)
    assert w.valid[2:, 4:].all() and not w.valid[:2].any() and not w.valid[:, :4].any()
    np.testing.assert_array_equal(w.data[:, 2:, 4:], full[:, :4, :4])
    assert (w.data[:, ~w.valid] == 0).all()
    assert (w.transform.c, w.transform.f) == (ORIGIN[0] - 4, ORIGIN[1] + 2)


def test_read_centered_on_grid_and_outside(tmp_path):
    full = _tif(tmp_path / "a.tif")
    with open_raster(tmp_path / "a.tif") as r:
        chip = r.read_centered(ORIGIN[0] + 10.2, ORIGIN[1] - 9.7, 4)
        np.testing.assert_array_equal(chip.data, full[:, 8:12, 8:12])
        cx = (chip.bounds.left + chip.bounds.right) / 2
        cy = (chip.bounds.bottom + chip.bounds.top) / 2
        assert abs(cx - (ORIGIN[0] + 10.2)) <= 0.5 and abs(cy - (ORIGIN[1] - 9.7)) <= 0.5
        edge = r.read_centered(ORIGIN[0] + 0.5, ORIGIN[1] - 0.5, 4)
        assert edge.valid.sum() == 9 and edge.valid[2:, 2:].all()
        same = r.read_centered(ORIGIN[0] + 10.2, ORIGIN[1] - 9.7, 4, res=1.0)
        np.testing.assert_array_equal(same.data, chip.data)  # native res: no resampling
        far = r.read_centered(ORIGIN[0] - 1000.0, ORIGIN[1], 4)
        assert not far.valid.any() and far.data.shape == (3, 4, 4)


def test_read_centered_resampled(tmp_path):
    data = np.zeros((1, 20, 20), dtype=np.float32)
    data[0] = np.arange(20, dtype=np.float32)[None, :]  # value = column index
    _tif(tmp_path / "g.tif", count=1, width=20, height=20, dtype="float32", data=data)
    with open_raster(tmp_path / "g.tif") as r:
        chip = r.read_centered(ORIGIN[0] + 10.0, ORIGIN[1] - 10.0, 4, res=2.0)
    assert chip.transform.a == 2.0 and chip.transform.c == ORIGIN[0] + 6.0
    assert chip.valid.all()
    # a linear ramp resamples to the values at the new pixel centres (x = 7, 9, 11, 13 m)
    np.testing.assert_allclose(chip.data[0, 1], [6.5, 8.5, 10.5, 12.5], atol=0.6)


def test_warped_to_4326_gives_that_crs_and_masks_outside(tmp_path):
    _tif(tmp_path / "far.tif", width=40, height=40, res=1000.0, origin=(300000.0, 4000000.0),
         data=np.full((3, 40, 40), 100))
    with open_raster(tmp_path / "far.tif", target_crs="EPSG:4326") as r:
        assert r.crs.to_epsg() == 4326 and r.is_geographic and r.count == 3
        w = r.read_window(0, 0, r.width, r.height)
        assert metric_target_crs(r).to_epsg() == 32617
    assert w.crs.to_epsg() == 4326
    assert 0.5 < w.valid.mean() < 1.0  # the rotated footprint leaves invalid corners
    assert (w.data[:, w.valid] == 100).all() and (w.data[:, ~w.valid] == 0).all()


def test_same_target_crs_reads_the_file_itself(tmp_path):
    full = _tif(tmp_path / "a.tif")
    with open_raster(tmp_path / "a.tif", target_crs="EPSG:32617") as r:
        np.testing.assert_array_equal(r.read_window(0, 0, 30, 20).data, full)


def test_iter_windows_cover_the_grid_with_regular_offsets(tmp_path):
    full = _tif(tmp_path / "a.tif")
    with open_raster(tmp_path / "a.tif") as r:
        windows = list(r.iter_windows(16, 12))
    assert [(row, col) for row, col, _ in windows] == [(0, 0), (0, 12), (0, 24), (12, 0),
                                                       (12, 12), (12, 24)]
    seen = np.zeros((20, 30), dtype=bool)
    for row, col, w in windows:
        assert w.data.shape == (3, 16, 16)
        h, wd = min(16, 20 - row), min(16, 30 - col)
        np.testing.assert_array_equal(w.data[:, :h, :wd], full[:, row:row + h, col:col + wd])
        seen[row:row + h, col:col + wd] |= w.valid[:h, :wd]
    assert seen.all()


def test_errors_name_the_file(tmp_path):
    _tif(tmp_path / "nocrs.tif", crs=None)
    with pytest.raises(EngineError) as err:
        open_raster(tmp_path / "nocrs.tif")
    assert "nocrs.tif has no CRS" in err.value.message and "gdal_edit.py" in err.value.hint
    with pytest.raises(EngineError, match="missing.tif does not exist"):
        open_raster(tmp_path / "missing.tif")
    (tmp_path / "junk.tif").write_text("not a raster")
    with pytest.raises(EngineError, match="junk.tif cannot be opened as a raster"):
        open_raster(tmp_path / "junk.tif")
    _tif(tmp_path / "a.tif")
    with pytest.raises(EngineError, match="unknown resampling 'fancy'"):
        open_raster(tmp_path / "a.tif", resampling="fancy")
    with pytest.raises(EngineError, match="not a coordinate reference system"):
        open_raster(tmp_path / "a.tif", target_crs="EPSG:0")


@pytest.mark.parametrize(("dtype", "nodata", "judged_from_values"), [
    ("uint8", 0, True), ("uint16", 65535, True), ("int16", -9999, True), ("uint8", None, True),
    ("int32", -9999, False), ("float32", -9999.0, False), ("uint16", 0.5, False)])
def test_valid_mask_from_the_values_equals_gdals(tmp_path, dtype, nodata, judged_from_values):
    """Where a band's mask is its nodata value (integers exact in float32) or nothing at all,
    read_window judges validity from the values, with GDAL's mask: same pixels, reprojected
    and past the edge too."""
    from engine.data import rasters

    rng = np.random.default_rng(1)
    data = rng.integers(0, 40, (3, 20, 30))
    if nodata is not None and float(nodata).is_integer():
        data[:, 2:6, 3:9] = nodata  # a nodata box, and scattered nodata in one band
        data[1][rng.random((20, 30)) < 0.1] = nodata
    _tif(tmp_path / "m.tif", width=30, height=20, nodata=nodata, dtype=dtype, data=data)
    for target in (None, "EPSG:3857"):
        with open_raster(tmp_path / "m.tif", target_crs=target) as r:
            ours = r.read_window(-4, -3, 40, 30)
            if target is None:
                assert rasters.mask_from_values(r._ds, r.band_indexes) == judged_from_values
            r._mask_from_values = {tuple(r.band_indexes): False}  # GDAL's masks
            ref = r.read_window(-4, -3, 40, 30)
        assert 0 < ours.valid.sum() < ours.valid.size
        np.testing.assert_array_equal(ours.valid, ref.valid)
        np.testing.assert_array_equal(ours.data, ref.data)


@pytest.mark.parametrize("dtype,nodata", [("uint8", 0), ("uint16", 65535), ("int16", -1),
                                          ("float32", -9999.0)])
def test_raw_reads_keep_the_integer_type_with_the_same_numbers(tmp_path, dtype, nodata):
    """read_window(raw=True) (embed-raster's reader) keeps 8/16-bit integers as they are: the
    same numbers, validity and padding as the float32 read; float bands stay float32."""
    rng = np.random.default_rng(5)
    data = rng.integers(1, 200, (2, 20, 30))
    data[:, 4, 7] = nodata
    _tif(tmp_path / "r.tif", count=2, nodata=nodata, dtype=dtype, data=data)
    with open_raster(tmp_path / "r.tif") as r:
        for window in ((3, 2, 12, 9), (-4, 15, 12, 9)):  # inside, and past two edges
            flt, raw = r.read_window(*window), r.read_window(*window, raw=True)
            assert raw.data.dtype == (np.float32 if dtype == "float32" else np.dtype(dtype))
            assert np.array_equal(raw.valid, flt.valid)
            assert np.array_equal(raw.data.astype(np.float32), flt.data)
        assert not r.read_window(0, 0, 30, 20, raw=True).valid[4, 7]
