"""Read a CSV table of photos as points: lon/lat columns (auto-detected) or x/y with a CRS."""

from __future__ import annotations

import csv
import logging
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd

from engine.data.crs import CRSLike, to_pyproj
from engine.data.validate import describe_rows
from engine.errors import EngineError

log = logging.getLogger(__name__)

LON_NAMES = ("lon", "lng", "long", "longitude")
LAT_NAMES = ("lat", "latitude")
X_NAMES = ("x", "easting")
Y_NAMES = ("y", "northing")
CSV_SUFFIXES = (".csv", ".tsv", ".txt")


def _find(columns: list[str], names: tuple[str, ...]) -> str | None:
    lower = {c.strip().lower(): c for c in columns}
    return next((lower[n] for n in names if n in lower), None)


def _delimiter(path: Path) -> str:
    if path.suffix.lower() == ".tsv":
        return "\t"
    with open(path, encoding="utf-8-sig", errors="replace") as fh:
        head = fh.read(4096)
    try:
        return csv.Sniffer().sniff(head, delimiters=",;\t|").delimiter
    except csv.Error:
        return ","


def read_csv_points(path: Path, *, lon_field: str | None = None, lat_field: str | None = None,
                    x_field: str | None = None, y_field: str | None = None,
                    crs: CRSLike | None = None) -> tuple[gpd.GeoDataFrame, list[int], str]:
    """CSV -> (points GeoDataFrame, CSV line number per row, 'line').

    Coordinates: `lon_field`/`lat_field` (EPSG:4326 unless `crs`), or `x_field`/`y_field`
    with `crs`; when none is given, lon/lng/long/longitude + lat/latitude columns are used,
    else x/easting + y/northing columns with `crs`.
    """
    try:
        table = pd.read_csv(path, sep=_delimiter(path), encoding="utf-8-sig")
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
        raise EngineError(f"{path} cannot be read as CSV ({exc})",
                          "save it as UTF-8 CSV with one header row") from None
    columns = [str(c) for c in table.columns]
    if (lon_field is None) != (lat_field is None) or (x_field is None) != (y_field is None):
        raise EngineError("give both lon_field and lat_field (or both x_field and y_field)",
                          f"columns in {path.name}: {', '.join(columns)}")
    for given in (lon_field, lat_field, x_field, y_field):
        if given is not None and given not in table.columns:
            raise EngineError(f"{path}: no column {given!r}; columns are {', '.join(columns)}",
                              "pass the exact column name (case matters)")
    geographic = True
    if lon_field is not None:
        xcol, ycol = lon_field, lat_field
    elif x_field is not None:
        xcol, ycol, geographic = x_field, y_field, False
    else:
        xcol, ycol = _find(columns, LON_NAMES), _find(columns, LAT_NAMES)
        if xcol is None or ycol is None:
            xcol, ycol, geographic = _find(columns, X_NAMES), _find(columns, Y_NAMES), False
        if xcol is None or ycol is None:
            raise EngineError(
                f"{path}: no coordinate columns; found {', '.join(columns) or 'no columns'}",
                f"name them {'/'.join(LON_NAMES)} and {'/'.join(LAT_NAMES)} (degrees), or "
                f"{'/'.join(X_NAMES)} and {'/'.join(Y_NAMES)} with an explicit crs, or pass "
                "--lon-field/--lat-field (import-photos; projected x/y: --crs too)",
            )
    if not geographic and crs is None:
        raise EngineError(f"{path}: coordinates in columns {xcol!r}/{ycol!r} need a CRS",
                          "give it with --crs (import-photos, e.g. --crs EPSG:32617), or use "
                          "lon/lat columns in degrees")
    lines = [int(i) + 2 for i in range(len(table))]  # line 1 is the header
    x = pd.to_numeric(table[xcol], errors="coerce").to_numpy(dtype="float64")
    y = pd.to_numeric(table[ycol], errors="coerce").to_numpy(dtype="float64")
    bad = ~(np.isfinite(x) & np.isfinite(y))
    if bad.any():
        raise EngineError(f"{path}: coordinates in {xcol!r}/{ycol!r} are empty or not numbers "
                          f"at {describe_rows(lines, bad, 'line')}",
                          "fill them in or delete those lines")
    target = to_pyproj(crs if crs is not None else "EPSG:4326", "crs")
    if geographic and target.is_geographic:
        out = (np.abs(x) > 180) | (np.abs(y) > 90)
        if out.any():
            raise EngineError(
                f"{path}: {xcol!r}/{ycol!r} are outside lon -180..180 / lat -90..90 at "
                f"{describe_rows(lines, out, 'line')}",
                "are lon and lat swapped (--lon-field/--lat-field), or are these projected "
                "x/y? then name the columns x/y and give --crs EPSG:XXXX (import-photos)",
            )
    frame = gpd.GeoDataFrame(table, geometry=gpd.points_from_xy(x, y), crs=target)
    log.info("%s: %d rows, coordinates from %r/%r in %s", path, len(frame), xcol, ycol,
             target.name)
    return frame, lines, "line"
