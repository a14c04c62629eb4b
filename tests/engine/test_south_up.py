"""South-up rasters (positive y pixel size, row 0 at the south edge) read, embed and aggregate
like the same scene stored north-up; rotated or sheared grids are refused by name.

The south-up copy of the small city's overhead GeoTIFF is the file rewritten with its rows
flipped and transform Affine(a, 0, c, 0, +e, south edge): the same pixels on the ground."""

from __future__ import annotations

import io
import json
from contextlib import redirect_stdout
from pathlib import Path

import numpy as np
import pytest
import rasterio
import torch
from affine import Affine
from test_embed_support import tiny_model, write_rgb_tif

from engine.data.rasters import open_raster

torch.set_num_threads(1)
UTM = "EPSG:32617"


def south_up_copy(src: Path, out: Path) -> Path:
    """`src` rewritten south-up: rows flipped, transform Affine(a, 0, c, 0, -e, south edge)."""
    with rasterio.open(src) as ds:
        profile, data, t, height = ds.profile, ds.read(), ds.transform, ds.height
        masks = ds.read_masks(1) if ds.nodata is not None else None
    assert t.e < 0 and t.b == t.d == 0
    profile.update(transform=Affine(t.a, 0.0, t.c, 0.0, -t.e, t.f + t.e * height))
    with rasterio.open(out, "w", **profile) as dst:
        dst.write(data[:, ::-1])
    if masks is not None:
        with rasterio.open(out) as ds:
            assert np.array_equal(ds.read_masks(1), masks[::-1])
    return out


def run_cli(argv: list[str]) -> tuple[int, dict]:
    """`python -m engine ARGV --events jsonl` in-process: exit code and the last event."""
    from engine.cli.main import main

    buf = io.StringIO()
    with redirect_stdout(buf):
        code = main([*argv, "--events", "jsonl"])
    return code, json.loads(buf.getvalue().splitlines()[-1])


def read_field(path: Path) -> tuple[np.ndarray, np.ndarray, Affine, object]:
    from engine.export.fieldio import open_field, read_field_window

    with open_field(path) as ds:
        data, valid = read_field_window(ds, rasterio.windows.Window(0, 0, ds.width, ds.height))
        return data, valid, ds.transform, ds.crs


@pytest.fixture(scope="module")
def city(small_city: Path, tmp_path_factory: pytest.TempPathFactory) -> dict:
    """A tiny saved model, the city's latest overhead raster and its south-up copy, and the
    fields embed-raster makes of both (python -m engine embed-raster)."""
    from engine.models.weights import save_model

    root = tmp_path_factory.mktemp("south_up")
    save_model(tiny_model(), root / "model")
    north = sorted((small_city / "overhead").glob("*.tif"))[-1]
    south = south_up_copy(north, root / "south_up.tif")
    fields = {}
    for name, raster in (("north", north), ("south", south)):
        fields[name] = root / f"field_{name}.tif"
        code, event = run_cli(["embed-raster", "--model", str(root / "model"), "--raster",
                               str(raster), "--out", str(fields[name]), "--chip", "32",
                               "--stride", "16", "--device", "cpu", "--no-preview",
                               "--dtype", "float32"])
        assert code == 0, event
    return {"root": root, "north": north, "south": south, "fields": fields,
            "tracts": small_city / "tracts.gpkg"}


def test_a_south_up_raster_reads_like_the_north_up_one(tmp_path: Path) -> None:
    north = write_rgb_tif(tmp_path / "n.tif", 30, 20, UTM,
                          Affine(2.0, 0.0, 500000.0, 0.0, -2.0, 4000040.0), seed=1,
                          nodata_box=(0, 4, 0, 6))  # a nodata corner in the north-west
    south = south_up_copy(north, tmp_path / "s.tif")
    with open_raster(north) as n, open_raster(south) as s:
        assert s.transform == n.transform and s.bounds == n.bounds
        assert s.bounds.top > s.bounds.bottom
        for window in [(0, 0, 30, 20), (3, 2, 9, 7), (-4, -3, 12, 9), (25, 15, 10, 10)]:
            a, b = n.read_window(*window), s.read_window(*window)
            assert b.transform == a.transform
            np.testing.assert_array_equal(b.data, a.data)
            np.testing.assert_array_equal(b.valid, a.valid)
        assert not s.read_window(0, 0, 6, 4).valid.any()  # the nodata corner stays north-west
        for res in (None, 1.3):  # cut from the grid, and resampled
            a = n.read_centered(500021.0, 4000017.0, 8, res=res)
            b = s.read_centered(500021.0, 4000017.0, 8, res=res)
            np.testing.assert_array_equal(b.data, a.data)
            np.testing.assert_array_equal(b.valid, a.valid)


def test_south_up_field_matches_the_north_up_field(city: dict) -> None:
    north, valid_n, transform_n, crs_n = read_field(city["fields"]["north"])
    south, valid_s, transform_s, crs_s = read_field(city["fields"]["south"])
    assert transform_s == transform_n and transform_s.e < 0  # written north-up
    assert crs_s == crs_n
    assert np.array_equal(valid_s, valid_n) and valid_n.sum() > 0.5 * valid_n.size
    np.testing.assert_allclose(south, north, atol=1e-5)


def test_fit_on_the_south_up_field_uses_every_tract(city: dict, tmp_path: Path) -> None:
    code, event = run_cli(["fit", "--field", str(city["fields"]["south"]), "--polygons",
                           str(city["tracts"]), "--target", "pop_density", "--block-size",
                           "150", "--folds", "3", "--out", str(tmp_path / "dens")])
    assert code == 0, event
    assert event["outputs"]["n_rows"] == 9  # every tract holds field pixels


def test_a_south_up_field_file_aggregates_like_the_north_up_one(city: dict,
                                                                tmp_path: Path) -> None:
    """A field (or map) written south-up elsewhere: polygons find its pixels all the same."""
    import geopandas as gpd

    from engine.heads.aggregate import aggregate_field_file

    flipped = south_up_copy(city["fields"]["north"], tmp_path / "field_south_up.tif")
    tracts = gpd.read_file(city["tracts"])
    a = aggregate_field_file(city["fields"]["north"], tracts, id_field="tract_id")
    b = aggregate_field_file(flipped, tracts, id_field="tract_id")
    assert a.covered.all() and np.array_equal(b.counts, a.counts)
    np.testing.assert_allclose(b.embeddings, a.embeddings, atol=1e-6)
    code, event = run_cli(["fit", "--field", str(flipped), "--polygons", str(city["tracts"]),
                           "--target", "pop_density", "--block-size", "150", "--folds", "3",
                           "--out", str(tmp_path / "dens")])
    assert code == 0 and event["outputs"]["n_rows"] == 9, event


def test_rotated_raster_is_refused_by_embed_raster_and_training(city: dict,
                                                                tmp_path: Path) -> None:
    rotated = write_rgb_tif(tmp_path / "rotated.tif", 64, 64, UTM,
                            Affine(1.0, 0.2, 500000.0, 0.1, -1.0, 4000064.0))
    code, event = run_cli(["embed-raster", "--model", str(city["root"] / "model"), "--raster",
                           str(rotated), "--out", str(tmp_path / "f.tif"), "--chip", "16",
                           "--device", "cpu"])
    assert code == 2 and event["event"] == "error", event
    assert "rotated.tif" in event["message"] and "rotated" in event["message"]
    assert "gdalwarp" in event["hint"]
    assert not (tmp_path / "f.tif").exists()
    code, event = run_cli(["train", "--config", "overhead_self", "--raster", str(rotated),
                           "data.chip_m=16", "train.steps=2", "train.device=cpu",
                           f"output={tmp_path / 'run'}"])
    assert code == 2 and "rotated.tif" in event["message"], event
    assert "gdalwarp" in event["hint"] and not (tmp_path / "run").exists()
