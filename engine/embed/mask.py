"""A polygon layer limiting where an embedding field is computed (--mask)."""

from __future__ import annotations

import logging
import os
from pathlib import Path

import numpy as np
from affine import Affine

from engine.data.crs import CRSLike, crs_name
from engine.errors import EngineError

log = logging.getLogger(__name__)


class PolygonMask:
    """The polygons of a vector file in a working CRS; `inside()` rasterises them per block."""

    def __init__(self, path: str | os.PathLike[str], crs: CRSLike,
                 layer: str | None = None) -> None:
        import pyogrio
        import shapely

        self.path = Path(path)
        if not self.path.exists():
            raise EngineError(f"mask layer {self.path} does not exist",
                              "give a polygon layer (.gpkg, .geojson, .shp)")
        try:
            if layer is None:
                layers = [(str(n), str(g)) for n, g in pyogrio.list_layers(self.path)]
                polys = [n for n, g in layers if "Polygon" in g]
                layer = (polys or [n for n, _ in layers] or [None])[0]
            frame = pyogrio.read_dataframe(self.path, layer=layer)
        except Exception as exc:  # pyogrio raises several DataSource/field error types
            raise EngineError(f"mask layer {self.path} cannot be read ({exc})",
                              "give a GeoPackage, GeoJSON or Shapefile of polygons") from None
        where = f"mask layer {self.path} ({layer})"
        if frame.crs is None:
            raise EngineError(f"{where} has no CRS",
                              "assign one in QGIS (Layer Properties > Source)")
        geoms = frame.geometry
        kinds = set(geoms.dropna().geom_type)
        if not kinds or not kinds <= {"Polygon", "MultiPolygon"}:
            raise EngineError(f"{where} holds {sorted(kinds) or 'no'} geometries, not polygons",
                              "give a polygon layer (the area to embed)")
        geoms = geoms.to_crs(crs)
        self.geoms = np.array([g for g in geoms if g is not None and not g.is_empty],
                              dtype=object)
        if len(self.geoms) == 0:
            raise EngineError(f"{where} has no non-empty polygon", "draw the area to embed")
        self.geoms = shapely.make_valid(self.geoms)
        self.tree = shapely.STRtree(self.geoms)
        self.bounds = tuple(float(v) for v in shapely.total_bounds(self.geoms))
        log.info("%s: %d polygons in %s", where, len(self.geoms), crs_name(crs))

    def inside(self, transform: Affine, shape: tuple[int, int]) -> np.ndarray:
        """bool (h, w): pixel centres of the grid (transform, shape) inside a polygon."""
        import shapely
        from rasterio.features import geometry_mask
        from rasterio.transform import array_bounds

        h, w = shape
        west, south, east, north = array_bounds(h, w, transform)
        hits = self.tree.query(shapely.box(west, south, east, north))
        if len(hits) == 0:
            return np.zeros(shape, dtype=bool)
        return geometry_mask(list(self.geoms[hits]), out_shape=shape, transform=transform,
                             invert=True)

    def __repr__(self) -> str:
        return f"PolygonMask({self.path}, {len(self.geoms)} polygons)"

