"""A head fitted on the overhead field itself (Settings.map_head "overhead") is checked on its
spatial block CV's out-of-fold predictions at the labelled places, not on the map read there
(in-sample): a head that only memorises its training places is flagged, one that generalises
passes."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

CRS = "EPSG:32617"
X0, Y0, PX, SIZE, BANDS = 328000.0, 4421000.0, 10.0, 60, 40


@pytest.fixture(scope="module")
def field(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 40-band field of noise whose band 0 also carries the easting."""
    from affine import Affine

    from engine.export.geotiff import write_geotiff

    rng = np.random.default_rng(0)
    data = rng.normal(0, 1.0, (BANDS, SIZE, SIZE)).astype(np.float32)
    data[0] += (np.arange(SIZE, dtype=np.float32)[None, :] / SIZE * 8.0)
    path = tmp_path_factory.mktemp("overhead_head") / "field.tif"
    return write_geotiff(data, CRS, Affine(PX, 0, X0, 0, -PX, Y0 + SIZE * PX), path)


def _rows(signal: bool, n: int = 200):
    """Photo-like rows (their own X is unused): label = easting, or noise without `signal`."""
    from engine.maps.rows import LabelledRows

    rng = np.random.default_rng(1)
    xy = np.column_stack([rng.uniform(X0 + 5, X0 + SIZE * PX - 5, n),
                          rng.uniform(Y0 + 5, Y0 + SIZE * PX - 5, n)])
    y = (3.0 * (xy[:, 0] - X0) / (SIZE * PX) if signal else 0.0) + rng.normal(0, 0.1, n)
    return LabelledRows(np.zeros((n, 2)), y, xy, CRS, None, "synthetic photos")


def _map_and_check(field: Path, rows, tmp_path: Path, oof_check: bool):
    from engine.heads.io import load_head
    from engine.maps.fit import fit_rows
    from engine.maps.fusion import overhead_rows
    from engine.maps.zero_shot import zero_shot_map

    over = overhead_rows(rows, field)
    assert over.X.shape == (len(rows.y), BANDS)
    res = fit_rows(over, tmp_path / "head", "ridge", "y", 100.0, 3,
                   oof_field=field if oof_check else None)
    out = zero_shot_map(tmp_path / "head", field, tmp_path / "maps", "y", align=False)
    return load_head(res["head"]), out["validity"]


def test_the_check_of_an_overhead_head_scores_its_out_of_fold_predictions(field, tmp_path):
    import json

    from engine.maps.validity import OOF_NOTE

    rows = _rows(signal=True)
    head, check = _map_and_check(field, rows, tmp_path, oof_check=True)
    report = json.loads((tmp_path / "head.cv.json").read_text())
    oof = head.arrays["places_oof"]
    assert len(oof) == len(rows.y) and report["residual_sd"] == pytest.approx(
        float(np.sqrt(np.mean((rows.y - oof) ** 2))))
    assert check["note"] == OOF_NOTE and check["passed"]
    assert check["r"] == pytest.approx(float(np.corrcoef(oof, rows.y)[0, 1]))


def test_a_head_that_memorises_noise_is_flagged_only_by_the_out_of_fold_check(field,
                                                                             tmp_path):
    rows = _rows(signal=False)
    _, in_sample = _map_and_check(field, rows, tmp_path / "in", oof_check=False)
    _, oof = _map_and_check(field, rows, tmp_path / "oof", oof_check=True)
    assert oof["passed"] is False and oof["r"] < 0.3
    # the map read at its own training places flatters the head: the in-sample check passes
    assert in_sample["passed"] and in_sample["r"] > oof["r"] + 0.2, (in_sample, oof)


def test_a_map_on_another_raster_is_checked_on_its_own_values(field, tmp_path):
    """The out-of-fold predictions belong to the field the head was fitted on; the same head
    mapped over another raster (another date, a shifted grid) is read at the places."""
    import rasterio

    from engine.export.geotiff import write_geotiff
    from engine.heads.io import load_head
    from engine.maps.validity import OOF_NOTE, check_map, map_values_at_places
    from engine.maps.zero_shot import zero_shot_map

    rows = _rows(signal=True)
    head, check = _map_and_check(field, rows, tmp_path, oof_check=True)
    assert check["note"] == OOF_NOTE
    with rasterio.open(field) as ds:  # the same scene one pixel west: another grid
        other = write_geotiff(ds.read(), CRS, ds.transform * ds.transform.translation(-1, 0),
                              tmp_path / "other.tif")
    out = zero_shot_map(tmp_path / "head", other, tmp_path / "maps2", "y", align=False)
    assert out["validity"]["note"] == ""
    tif = tmp_path / "maps2" / "y.tif"
    mapped = map_values_at_places(tif, head)
    ok = np.isfinite(mapped)
    assert out["validity"]["r"] == pytest.approx(
        float(np.corrcoef(mapped[ok], rows.y[ok])[0, 1]))
    assert check_map(tif, load_head(tmp_path / "head")).note == ""
