"""Labelled examples for few-shot maps: points, and field cells inside labelled polygons.

A polygon contributes the field cells whose centres it holds (at most MAX_CELLS_PER_POLYGON,
drawn with a seed), or its representative point when it is smaller than a cell. Each polygon is
one CV group, so its cells never sit on both sides of a split.
"""

from __future__ import annotations

import logging
import os

import numpy as np

from engine.errors import EngineError

log = logging.getLogger(__name__)

MAX_CELLS_PER_POLYGON = 500


def polygon_cells(field_path: str | os.PathLike[str], polygons: str | os.PathLike[str],
                  class_field: str, seed: int = 0, layer: str | None = None
                  ) -> tuple[np.ndarray, np.ndarray, np.ndarray, object]:
    """(x, y (N, 2) in the field's CRS, labels (N,) object, polygon index (N,), CRS)."""
    from rasterio.features import geometry_mask

    from engine.export.fieldio import open_field
    from engine.maps.rows import read_polygons

    gdf = read_polygons(polygons, layer)
    if not set(gdf.geom_type.dropna().unique()) <= {"Polygon", "MultiPolygon"}:
        raise EngineError(f"{polygons} is not a polygon layer", "pass labelled polygons")
    if class_field not in gdf.columns:
        raise EngineError(f"{polygons} has no field {class_field!r}",
                          f"choose one of: {', '.join(map(str, gdf.columns))}")
    with open_field(field_path) as ds:
        crs, transform, shape = ds.crs, ds.transform, (ds.height, ds.width)
    gdf = gdf.to_crs(crs)
    rng = np.random.default_rng(seed)
    xy, labels, owner = [], [], []
    for i, (geom, label) in enumerate(zip(gdf.geometry, gdf[class_field], strict=True)):
        if geom is None or geom.is_empty or label is None or label != label:
            continue
        inside = geometry_mask([geom], out_shape=shape, transform=transform, invert=True)
        rows, cols = np.nonzero(inside)
        if len(rows) > MAX_CELLS_PER_POLYGON:
            pick = np.sort(rng.choice(len(rows), MAX_CELLS_PER_POLYGON, replace=False))
            rows, cols = rows[pick], cols[pick]
        if len(rows):
            x, y = transform * (cols + 0.5, rows + 0.5)
            pts = np.column_stack([np.asarray(x, np.float64), np.asarray(y, np.float64)])
        else:  # smaller than a cell: its representative point
            p = geom.representative_point()
            pts = np.array([[p.x, p.y]])
        xy.append(pts)
        labels += [str(label)] * len(pts)
        owner += [i] * len(pts)
    if not xy:
        return np.zeros((0, 2)), np.zeros(0, dtype=object), np.zeros(0, np.int64), crs
    return (np.concatenate(xy), np.asarray(labels, dtype=object),
            np.asarray(owner, dtype=np.int64), crs)
