"""Labelled rows for a head: embeddings X, targets y and metric x, y from points or polygons.

Point labels come from a field of the point-embedding GeoPackage (engine.embed.points
storage: one float32 BLOB per feature + `gc_embedding_meta`). Polygon labels (e.g. tracts)
take the mean embedding of the points, or of the embedding-field pixels, inside each polygon.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sqlite3
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from engine.errors import EngineError

log = logging.getLogger(__name__)


@dataclass
class LabelledRows:
    """One row per labelled item: X (N, D), y (N,), xy (N, 2) metres in `xy_crs`."""

    X: np.ndarray
    y: np.ndarray
    xy: np.ndarray
    xy_crs: object
    groups: np.ndarray | None
    source: str
    n_dropped: int = 0
    wkb: list[bytes] | None = None  # polygon rows: each polygon in `xy_crs` (validity check)
    diameters: np.ndarray | None = None  # polygons: each one's size in metres (CV blocks)
    notes: dict = field(default_factory=dict)  # e.g. cells per polygon, polygons per cell
    ground_dim: int | None = None  # fused rows (engine.maps.fusion): X = [ground, second]
    second_view: str = "field"  # fused rows' second view: "field" or "embeddings"


def embedding_layer(path: str | os.PathLike[str]) -> str:
    """The (first) layer of a GeoPackage that has embedding metadata."""
    from engine.export.embeddings_gpkg import META_TABLE

    path = Path(path)
    if not path.is_file():
        raise EngineError(f"embeddings file {path} does not exist",
                          "make it with `python -m engine embed-points`")
    with contextlib.closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True)) as con:
        try:
            row = con.execute(f"SELECT table_name FROM {META_TABLE} ORDER BY id").fetchone()
        except sqlite3.DatabaseError:
            row = None
    if row is None:
        raise EngineError(f"{path} holds no point embeddings (no {META_TABLE} table)",
                          "pass the GeoPackage written by `python -m engine embed-points`")
    return str(row[0])


def read_point_layer(path: str | os.PathLike[str], layer: str | None = None):
    """(GeoDataFrame, embeddings (N, D) float64, metadata) of a point-embedding GeoPackage."""
    from engine.export.embeddings_gpkg import read_embeddings_gpkg

    layer = layer or embedding_layer(path)
    gdf, X, meta = read_embeddings_gpkg(path, layer=layer)
    return gdf, np.asarray(X, dtype=np.float64), meta


def metric_xy(gdf) -> tuple[np.ndarray, object]:
    """x, y in metres of point geometries (polygons: a point inside each) and that CRS."""
    from engine.data.crs import metric_crs_for_lonlat, transform_xy

    if gdf.crs is None:
        raise EngineError("the layer has no CRS", "assign its CRS in QGIS and re-save it")
    geom = gdf.geometry
    if not set(geom.geom_type.dropna().unique()) <= {"Point"}:
        geom = geom.representative_point()
    own = np.column_stack([geom.x.to_numpy("float64"), geom.y.to_numpy("float64")])
    lonlat = transform_xy(own, gdf.crs, "EPSG:4326")
    crs = metric_crs_for_lonlat(lonlat, gdf.crs)
    return transform_xy(own, gdf.crs, crs), crs


def target_values(frame, target: str, where: str) -> np.ndarray:
    """The label of each row: a field, or an expression such as `population / area_km2`
    (engine.heads.targets)."""
    from engine.heads.targets import AREA, evaluate_target, is_expression

    if target not in frame.columns and (is_expression(target) or target == AREA):
        return evaluate_target(frame, target, where)
    if target not in frame.columns:
        fields = [c for c in frame.columns if c != frame.geometry.name]
        raise EngineError(f"{where} has no field {target!r}",
                          f"choose one of: {', '.join(map(str, fields))}")
    col = frame[target]
    if col.dtype.kind in "iufb":
        return col.to_numpy(dtype=np.float64) if col.dtype.kind == "f" else col.to_numpy()
    return np.asarray(col.astype(object).where(col.notna(), None))


def _labelled(y: np.ndarray) -> np.ndarray:
    if y.dtype.kind == "f":
        return np.isfinite(y)
    return np.asarray([v is not None and v == v and str(v) != "" for v in y], dtype=bool)


def point_rows(embeddings: str | os.PathLike[str], target: str,
               layer: str | None = None) -> LabelledRows:
    """Rows from a point-embedding GeoPackage and its field `target` (unlabelled rows dropped);
    location_id (when present) groups photos of one place into one fold."""
    gdf, X, _ = read_point_layer(embeddings, layer)
    return _point_rows(gdf, X, target, str(embeddings))


def place_rows(points: str | os.PathLike[str], target: str,
               polygons: str | os.PathLike[str] | None = None) -> LabelledRows:
    """The labelled places of a photo layer (e.g. a sample city's streetview.gpkg) with no
    vectors yet (X has no columns): each labelled photo, or with `polygons` each labelled
    polygon holding a photo; the same rows, in the same order, as point_rows / polygon_rows
    over embeddings of every photo of the layer. A head fitted on an overhead field starts
    from these (engine.maps.fusion.overhead_rows fills X), so the photos need not be
    embedded."""
    gdf = read_layer(points, None, "photo layer", "photo points", "Point")
    X = np.zeros((len(gdf), 0))
    if polygons is None:
        return _point_rows(gdf, X, target, str(points))
    from engine.heads.aggregate import aggregate_points

    polys = read_polygons(polygons)
    return _polygon_rows(polys, target_values(polys, target, str(polygons)),
                         aggregate_points(gdf, X, polys), f"{points} per polygon of {polygons}",
                         {}, str(polygons), target)


def _point_rows(gdf, X: np.ndarray, target: str, where: str) -> LabelledRows:
    y = target_values(gdf, target, where)
    keep = _labelled(y)
    xy, crs = metric_xy(gdf)
    groups = gdf["location_id"].to_numpy() if "location_id" in gdf.columns else None
    if (~keep).any():
        log.warning("%d of %d points have no %s and are left out", int((~keep).sum()),
                    len(keep), target)
    if keep.sum() < 2:
        raise EngineError(f"only {int(keep.sum())} point(s) of {where} have a {target!r}",
                          "label more points")
    return LabelledRows(X[keep], y[keep], xy[keep], crs,
                        None if groups is None else groups[keep], where,
                        int((~keep).sum()))


def read_polygons(path: str | os.PathLike[str], layer: str | None = None):
    """A polygon layer as a GeoDataFrame, with an EngineError naming a missing file."""
    return read_layer(path, layer, "polygon layer", "polygons", "Polygon")


def _pick_layer(path: Path, geometry: str | None) -> str | None:
    """The layer to read of a file holding several: the first spatial layer whose geometry
    type names `geometry` (e.g. "Polygon"), else the first spatial one; None for one layer."""
    import pyogrio

    layers = [(str(n), str(g)) for n, g in pyogrio.list_layers(path)
              if g not in (None, "None", "Unknown")]
    if len(layers) < 2:
        return None
    fits = [n for n, g in layers if geometry and geometry in g] or [n for n, _ in layers]
    log.info("%s holds %d layers (%s): reading %r", path, len(layers),
             ", ".join(n for n, _ in layers), fits[0])
    return fits[0]


def read_layer(path: str | os.PathLike[str], layer: str | None, what: str, of: str,
               geometry: str | None = None):
    """A vector layer as a GeoDataFrame (`layer` None: the file's only layer, or its first
    whose geometry is `geometry`); an EngineError naming `what` when the file is missing or
    unreadable (the hint asks for a GeoPackage / Shapefile `of` ...)."""
    import pyogrio

    path = Path(path)
    if not path.is_file():
        raise EngineError(f"{what} {path} does not exist", "check the path")
    try:
        layer = layer if layer is not None else _pick_layer(path, geometry)
        return pyogrio.read_dataframe(path, layer=layer)
    except Exception as exc:  # pyogrio/GDAL errors
        raise EngineError(f"cannot read {what} {path}: {exc}",
                          f"pass a GeoPackage / Shapefile of {of}") from None


def polygon_rows(polygons: str | os.PathLike[str], target: str,
                 embeddings: str | os.PathLike[str] | None = None,
                 field: str | os.PathLike[str] | None = None,
                 layer: str | None = None) -> LabelledRows:
    """Per polygon: the mean embedding of the points (`embeddings`) or of the field pixels
    (`field`) inside it, labelled with its `target`; empty or unlabelled polygons dropped."""
    from engine.heads.aggregate import aggregate_field_file, aggregate_points

    if (embeddings is None) == (field is None):
        raise EngineError("polygon labels need exactly one embedding source",
                          "pass --embeddings POINTS.gpkg or --field FIELD.tif")
    polys = read_polygons(polygons, layer)
    y = target_values(polys, target, str(polygons))
    notes: dict = {}
    if embeddings is not None:
        gdf, X, _ = read_point_layer(embeddings)
        agg = aggregate_points(gdf, X, polys)
        source = f"{embeddings} per polygon of {polygons}"
    else:
        from engine.export.fieldio import require_field

        require_field(field)
        agg = aggregate_field_file(field, polys)
        source = f"{field} per polygon of {polygons}"
        notes = {"cells_per_polygon": _spread(agg.counts[agg.covered]),
                 "polygons_area_weighted": int(agg.weighted.sum()),
                 **(agg.cell_use or {})}
    return _polygon_rows(polys, y, agg, source, notes, str(polygons), target)


def _polygon_rows(polys, y: np.ndarray, agg, source: str, notes: dict, where: str,
                  target: str) -> LabelledRows:
    keep = agg.covered & _labelled(y)
    if (~keep).any():
        log.warning("%d of %d polygons have no embedding inside or no %s and are left out",
                    int((~keep).sum()), len(keep), target)
    if keep.sum() < 2:
        raise EngineError(f"only {int(keep.sum())} polygon(s) of {where} hold embeddings "
                          f"and a {target!r}", "check that the layers overlap")
    xy, crs = metric_xy(polys)
    import shapely

    wkb = list(shapely.to_wkb(polys.to_crs(crs).geometry.to_numpy()[keep]))
    diam = polygon_diameters(polys, crs)
    return LabelledRows(agg.embeddings[keep], y[keep], xy[keep], crs, None, source,
                        int((~keep).sum()), wkb, diameters=diam[keep], notes=notes)


def polygon_diameters(polys, crs) -> np.ndarray:
    """Each polygon's size in metres: the longer side of its bounding box in `crs`."""
    b = polys.geometry.to_crs(crs).bounds
    return np.maximum(b["maxx"] - b["minx"], b["maxy"] - b["miny"]).to_numpy(np.float64)


def _spread(v: np.ndarray) -> dict:
    v = np.asarray(v)
    if v.size == 0:
        return {}
    return {"min": int(v.min()), "median": float(np.median(v)), "max": int(v.max())}
