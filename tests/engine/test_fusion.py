"""Near/remote fusion: ground embeddings joined with the overhead field at each labelled place
(point pixel or polygon mean); on a target that needs both views, the fused head beats either
view alone under the same spatial block CV."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

CRS = "EPSG:32617"
X0, Y0, PX, SIZE = 328000.0, 4421000.0, 10.0, 60


@pytest.fixture(scope="module")
def field(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """4-band field: band 0 = scaled easting (the overhead half of the signal) + noise."""
    from affine import Affine

    from engine.export.geotiff import write_geotiff

    rng = np.random.default_rng(0)
    data = rng.normal(0, 0.1, (4, SIZE, SIZE)).astype(np.float32)
    data[0] += (np.arange(SIZE, dtype=np.float32)[None, :] / SIZE * 3.0)
    path = tmp_path_factory.mktemp("fusion") / "field.tif"
    return write_geotiff(data, CRS, Affine(PX, 0, X0, 0, -PX, Y0 + SIZE * PX), path)


def _rows(n: int = 200):
    """Photo rows whose label = a ground-only signal + the easting (seen only from above)."""
    from engine.maps.rows import LabelledRows

    rng = np.random.default_rng(1)
    xy = np.column_stack([rng.uniform(X0 + 5, X0 + SIZE * PX - 5, n),
                          rng.uniform(Y0 + 5, Y0 + SIZE * PX - 5, n)])
    ground = rng.normal(0, 1, n)
    X = np.column_stack([ground, rng.normal(0, 1, (n, 3))])
    y = ground + 3.0 * (xy[:, 0] - X0) / (SIZE * PX)
    return LabelledRows(X, y, xy, CRS, None, "synthetic photos")


def _cv_r2(rows, tmp_path: Path, name: str) -> float:
    from engine.maps.fit import fit_rows

    return float(fit_rows(rows, tmp_path / name, "ridge", "y", 150.0, 3)["metrics"]["r2"])


def test_fused_head_beats_ground_alone_and_overhead_alone(field, tmp_path):
    from dataclasses import replace

    from engine.heads.io import load_head
    from engine.maps.fusion import fuse_rows, overhead_at_rows

    rows = _rows()
    fused = fuse_rows(rows, field)
    assert fused.X.shape == (200, 8) and np.array_equal(fused.y, rows.y)
    overhead = replace(rows, X=overhead_at_rows(rows, field))
    r2_ground, r2_over = _cv_r2(rows, tmp_path, "g"), _cv_r2(overhead, tmp_path, "o")
    r2_fused = _cv_r2(fused, tmp_path, "f")
    assert r2_fused > max(r2_ground, r2_over) + 0.1, (r2_ground, r2_over, r2_fused)
    assert load_head(tmp_path / "f").feature_dim == 8


def test_fusion_at_polygons_uses_the_field_mean_and_drops_uncovered_places(field, tmp_path):
    import shapely

    from engine.maps.fusion import fuse_rows
    from engine.maps.rows import LabelledRows

    inside = [shapely.box(X0 + i * 100, Y0, X0 + i * 100 + 100, Y0 + 100) for i in range(6)]
    outside = [shapely.box(X0 - 500, Y0, X0 - 400, Y0 + 100)]
    wkb = list(shapely.to_wkb(inside + outside))
    xy = np.array([[g.centroid.x, g.centroid.y] for g in inside + outside])
    diameters = np.arange(7.0) + 100.0  # one per polygon: CV blocks are derived from them
    rows = LabelledRows(np.zeros((7, 2)), np.arange(7.0), xy, CRS, None, "tracts", 0, wkb,
                        diameters)
    fused = fuse_rows(rows, field)
    assert len(fused.y) == 6 and fused.n_dropped == 1 and len(fused.wkb) == 6
    np.testing.assert_array_equal(fused.diameters, diameters[:6])  # aligned with the rows kept
    assert np.all(np.diff(fused.X[:, 2]) > 0)  # band 0 (easting) grows from west to east
