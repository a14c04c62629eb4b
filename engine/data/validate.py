"""Field-level checks for street-view layers: times, headings, geometries, photo paths, ids.

Every check names the layer (`where`), the rows (their feature ids, or CSV line numbers)
and the bad values, so the user can find and fix them in QGIS's attribute table.
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Sequence
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from engine.errors import EngineError

log = logging.getLogger(__name__)

LOCATION_RADIUS_M = 2.0  # photos whose points lie within this distance share a location_id
_HAS_OFFSET = re.compile(r"(Z|[+-]\d{2}(:?\d{2})?)$", re.IGNORECASE)
_SHOW = 5


def describe_rows(labels: Sequence[object], mask: np.ndarray, unit: str = "feature id") -> str:
    """'feature id 3, 7 (and 12 more)' for the rows where `mask` is True."""
    picked = [labels[i] for i in np.flatnonzero(mask)]
    text = ", ".join(str(v) for v in picked[:_SHOW])
    more = f" (and {len(picked) - _SHOW} more)" if len(picked) > _SHOW else ""
    return f"{unit}{'s' if len(picked) > 1 else ''} {text}{more}"


def _blank(values: pd.Series) -> np.ndarray:
    """True where a value is missing: None, NaN, NaT or an empty/whitespace string."""
    missing = values.isna().to_numpy()
    as_text = values.astype("object").map(lambda v: isinstance(v, str) and not v.strip())
    return missing | as_text.to_numpy(dtype=bool)


def parse_times(values: pd.Series, labels: Sequence[object], where: str, field: str,
                unit: str = "feature id") -> pd.Series:
    """ISO 8601 text or datetimes -> datetime64[ns, UTC]; missing -> NaT, never invented.

    Values without a UTC offset are taken as UTC (logged). Unparseable values raise
    EngineError naming the rows and the values.
    """
    index = values.index
    if isinstance(values.dtype, pd.DatetimeTZDtype):
        return values.dt.tz_convert("UTC").astype("datetime64[ns, UTC]")
    if pd.api.types.is_datetime64_dtype(values.dtype):
        log.info("%s: field %r has no time zone; times are taken as UTC", where, field)
        return values.dt.tz_localize("UTC").astype("datetime64[ns, UTC]")
    blank = _blank(values)
    text = values.astype("object").where(~blank, None).map(
        lambda v: v.strip() if isinstance(v, str) else v)
    parsed = pd.to_datetime(text, utc=True, format="ISO8601", errors="coerce")
    bad = ~blank & parsed.isna().to_numpy()
    if bad.any():
        _refuse(where, field, "times that are not ISO 8601", text, bad, labels, unit,
                "write times like 2024-05-03T14:20:00Z (UTC) or 2024-05-03T16:20:00+02:00, "
                "or leave them empty when unknown")
    naive = text[~blank].map(lambda v: isinstance(v, str) and not _HAS_OFFSET.search(v))
    if naive.any():
        log.info("%s: %d time(s) in %r have no UTC offset; taken as UTC", where,
                 int(naive.sum()), field)
    out = pd.Series(parsed, index=index)
    if out.dt.tz is None:  # all values missing: pandas drops the zone
        out = out.dt.tz_localize("UTC")
    return out.astype("datetime64[ns, UTC]")


def parse_headings(values: pd.Series, labels: Sequence[object], where: str, field: str,
                   unit: str = "feature id") -> pd.Series:
    """Degrees from north -> float64 in [0, 360); missing -> NaN; text/inf -> EngineError.

    -360..360 is accepted (negative = counter-clockwise) and wrapped; anything beyond one
    turn is an error, not wrapped (720 is a unit or data error, not "north").
    """
    blank = _blank(values)
    numbers = pd.to_numeric(values.astype("object").where(~blank, None), errors="coerce")
    numbers = numbers.astype("float64")
    bad = ~blank & ~np.isfinite(numbers.to_numpy())
    if bad.any():
        _refuse(where, field, "headings that are not numbers", values, bad, labels, unit,
                "headings are degrees clockwise from north (0-360); leave empty when unknown")
    out_of_range = ~blank & np.isfinite(numbers.to_numpy()) & ~(
        (numbers.to_numpy() >= -360.0) & (numbers.to_numpy() <= 360.0))
    if out_of_range.any():
        _refuse(where, field, "headings outside -360..360 degrees", values, out_of_range,
                labels, unit, "headings are degrees clockwise from north (0-360); fix those "
                "rows in QGIS or leave them empty when unknown")
    wrapped = numbers.mod(360.0).astype("float64")
    return wrapped.mask(wrapped >= 360.0, 0.0)  # -1e-14 % 360 rounds to 360.0; NaN stays


def check_points(geometry: gpd.GeoSeries, labels: Sequence[object], where: str,
                 unit: str = "feature id") -> gpd.GeoSeries:
    """Every row one finite point; single-part MultiPoints become Points; else EngineError."""
    geoms = geometry.to_numpy()
    missing = shapely.is_missing(geoms) | shapely.is_empty(geoms)
    if missing.any():
        raise EngineError(f"{where}: no geometry (empty or NULL) at "
                          f"{describe_rows(labels, missing, unit)}",
                          "give every photo a point (QGIS: digitise it) or delete the row")
    kinds = shapely.get_type_id(geoms)
    single_multi = (kinds == 4) & (shapely.get_num_geometries(geoms) == 1)
    geoms = np.where(single_multi, shapely.get_geometry(geoms, 0), geoms)
    kinds = shapely.get_type_id(geoms)
    wrong = kinds != 0
    if wrong.any():
        names = sorted({g.geom_type for g in geoms[wrong]})
        raise EngineError(
            f"{where}: geometries must be points, found {', '.join(names)} at "
            f"{describe_rows(labels, wrong, unit)}",
            "use a point layer, one point per photo (QGIS: Centroids or Multipart to "
            "Singleparts)",
        )
    coords = shapely.get_coordinates(geoms)
    nan = ~np.isfinite(coords).all(axis=1)
    if nan.any():
        raise EngineError(f"{where}: point coordinates are NaN or infinite at "
                          f"{describe_rows(labels, nan, unit)}",
                          "fix or delete those rows")
    return gpd.GeoSeries(geoms, index=geometry.index, crs=geometry.crs)


def resolve_images(values: pd.Series, base_dir: Path, labels: Sequence[object], where: str,
                   field: str, unit: str = "feature id") -> list[str]:
    """Photo paths -> absolute, normalised path strings; relative ones are relative to
    `base_dir` (the layer file's folder). No file-system access (see check_image_files).
    """
    blank = _blank(values)
    if blank.any():
        raise EngineError(f"{where}: field {field!r} is empty at "
                          f"{describe_rows(labels, blank, unit)}",
                          "give every row the path of its photo, or delete the row")
    base = os.path.abspath(base_dir)
    return [os.path.normpath(os.path.join(base, os.path.expanduser(str(value).strip())))
            for value in values.astype("object").tolist()]


def check_image_files(paths: Sequence[str], where: str, field: str) -> None:
    """EngineError naming the first missing photo files and how many are missing."""
    missing = [p for p in dict.fromkeys(paths) if not os.path.isfile(p)]
    if missing:
        shown = ", ".join(missing[:_SHOW])
        raise EngineError(
            f"{where}: {len(missing)} of {len(set(paths))} photo file(s) in field {field!r} "
            f"do not exist, e.g. {shown}",
            "relative paths are read relative to the layer file's folder; fix the paths in "
            "QGIS, or pick the right field with `python -m engine import-photos "
            "--image-field NAME`",
        )


def parse_location_ids(values: pd.Series, labels: Sequence[object], where: str,
                       field: str = "location_id", unit: str = "feature id") -> np.ndarray:
    """A given location_id field -> int64; missing or fractional values -> EngineError."""
    numbers = pd.to_numeric(values.astype("object"), errors="coerce").to_numpy(dtype="float64")
    bad = ~np.isfinite(numbers) | (numbers != np.round(numbers))
    if bad.any():
        raise EngineError(f"{where}: field {field!r} is missing or not an integer at "
                          f"{describe_rows(labels, bad, unit)}",
                          "fill it with integers, or drop the field to have it derived")
    return numbers.astype("int64")


def derive_location_ids(xy: np.ndarray, radius_m: float = LOCATION_RADIUS_M) -> np.ndarray:
    """Group points (N,2 metres) into locations: single linkage within `radius_m`.

    Photos whose points are within ~2 m of each other (directly or through a chain of such
    neighbours) share an id; ids are 0.. in order of first appearance (deterministic).
    """
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components
    from scipy.spatial import cKDTree

    xy = np.asarray(xy, dtype="float64").reshape(-1, 2)
    n = len(xy)
    if n == 0:
        return np.zeros(0, dtype="int64")
    pairs = cKDTree(xy).query_pairs(r=radius_m, output_type="ndarray")
    graph = coo_matrix((np.ones(len(pairs)), (pairs[:, 0], pairs[:, 1])), shape=(n, n))
    _, comp = connected_components(graph, directed=False)
    _, first = np.unique(comp, return_index=True)
    order = np.empty(len(first), dtype="int64")
    order[np.argsort(first)] = np.arange(len(first))
    return order[comp]


def _refuse(where: str, field: str, what: str, values: pd.Series, bad: np.ndarray,
            labels: Sequence[object], unit: str, hint: str) -> None:
    """EngineError naming the field, what is wrong, the rows and their first values."""
    shown = ", ".join(repr(v) for v in values[bad].tolist()[:_SHOW])
    raise EngineError(f"{where}: field {field!r} has {what} at "
                      f"{describe_rows(labels, bad, unit)}: {shown}", hint)
