"""Styled GeoPackages: a layer written atomically (GeoPackage 1.2, which QGIS 3.22 opens)
plus its QGIS style in the `layer_styles` table, so QGIS opens the layer styled."""

from __future__ import annotations

import contextlib
import dataclasses
import json
import logging
import os
import shutil
import sqlite3
from pathlib import Path

from engine.errors import EngineError
from engine.export.atomic import atomic_path, target_of
from engine.export.disk import disk_errno
from engine.export.styles import Style

log = logging.getLogger(__name__)

# The table QGIS's OGR provider reads (QgsOgrProviderUtils::loadStyle) and writes.
LAYER_STYLES_DDL = """
CREATE TABLE IF NOT EXISTS layer_styles (
  id INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL,
  f_table_catalog TEXT(256), f_table_schema TEXT(256), f_table_name TEXT(256),
  f_geometry_column TEXT(256), styleName TEXT(30), styleQML TEXT, styleSLD TEXT,
  useAsDefault BOOLEAN, description TEXT, owner TEXT(30), ui TEXT(30),
  update_time DATETIME DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ','now'))
)"""


def geometry_kind(gdf) -> str:
    """"point", "line" or "polygon" for a layer of one geometry family."""
    kinds = set(gdf.geom_type.dropna().unique())
    for name, members in (("point", {"Point", "MultiPoint"}),
                          ("line", {"LineString", "MultiLineString"}),
                          ("polygon", {"Polygon", "MultiPolygon"})):
        if kinds and kinds <= members:
            return name
    raise EngineError(f"the layer mixes or lacks geometry types: {sorted(kinds)}",
                      "write one geometry family (points, lines or polygons) per layer")


def register_attributes_table(con: sqlite3.Connection, table: str, description: str) -> None:
    """List a plain table in gpkg_contents (data_type 'attributes') so GDAL/QGIS see it."""
    con.execute(
        "INSERT OR IGNORE INTO gpkg_contents (table_name, data_type, identifier, description, "
        "last_change) VALUES (?, 'attributes', ?, ?, strftime('%Y-%m-%dT%H:%M:%fZ','now'))",
        (table, table, description))


def drop_layers(gpkg: str | os.PathLike[str], layers: list[str]) -> None:
    """Remove `layers` (those present) from a GeoPackage with plain SQLite, as pyogrio cannot:
    each table, its R-tree index, its rows in the GeoPackage registry tables, its metadata
    and its QGIS styles."""
    with contextlib.closing(sqlite3.connect(gpkg)) as con, con:
        tables = {r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type = "
                                            "'table'")}
        for layer in (x for x in layers if x in tables):
            geom = con.execute("SELECT column_name FROM gpkg_geometry_columns WHERE "
                               "table_name = ?", (layer,)).fetchone()
            if geom is not None and f"rtree_{layer}_{geom[0]}" in tables:
                con.execute(f'DROP TABLE "rtree_{layer}_{geom[0]}"')
            con.execute(f'DROP TABLE "{layer}"')
            if {"gpkg_metadata", "gpkg_metadata_reference"} <= tables:
                con.execute("DELETE FROM gpkg_metadata WHERE id IN (SELECT md_file_id FROM "
                            "gpkg_metadata_reference WHERE table_name = ?)", (layer,))
            for table, column in (("gpkg_metadata_reference", "table_name"),
                                  ("gpkg_extensions", "table_name"),
                                  ("gpkg_geometry_columns", "table_name"),
                                  ("gpkg_ogr_contents", "table_name"),
                                  ("gpkg_contents", "table_name"),
                                  ("layer_styles", "f_table_name")):
                if table in tables:
                    con.execute(f'DELETE FROM "{table}" WHERE "{column}" = ?', (layer,))


def write_layer_style(gpkg: str | os.PathLike[str], layer: str, style: Style,
                      description: str = "written by GeoContrast") -> None:
    """Store `style` as the default QGIS style of `layer` (replacing earlier ones)."""
    with contextlib.closing(sqlite3.connect(gpkg)) as con, con:
        row = con.execute("SELECT column_name FROM gpkg_geometry_columns WHERE table_name = ?",
                          (layer,)).fetchone()
        if row is None:
            raise EngineError(f"{gpkg} has no spatial layer {layer!r}",
                              "write the layer before its style")
        con.execute(LAYER_STYLES_DDL)
        register_attributes_table(con, "layer_styles", "QGIS layer styles")
        con.execute("DELETE FROM layer_styles WHERE f_table_name = ?", (layer,))
        con.execute(
            "INSERT INTO layer_styles (f_table_catalog, f_table_schema, f_table_name, "
            "f_geometry_column, styleName, styleQML, styleSLD, useAsDefault, description, "
            "owner, ui) VALUES ('', '', ?, ?, ?, ?, '', 1, ?, '', NULL)",
            (layer, row[0], style.name or layer, style.to_qml(), description))


def _check_frame(gdf, layer: str) -> None:
    import geopandas as gpd

    if not isinstance(gdf, gpd.GeoDataFrame) or gdf.geometry.name not in gdf.columns:
        raise EngineError(f"layer {layer!r} has no geometry column",
                          "pass a GeoDataFrame with point, line or polygon geometries")
    if gdf.crs is None:
        raise EngineError(f"layer {layer!r} has no CRS", "set one with gdf.set_crs(...)")
    if not layer or any(c in layer for c in "\"'"):
        raise EngineError(f"invalid layer name {layer!r}", "use letters, digits and _")


# GDAL/SQLite messages that mean the disk, not the data: left for the CLI to report as such
_OS_TROUBLE = ("no space", "disk is full", "read-only", "readonly", "permission denied",
               "disk i/o", "file too large", "unable to open database")


def write_gpkg(gdf, path: str | os.PathLike[str], layer: str,
               style: Style | None = None, metadata: dict | None = None,
               keep_other_layers: bool = True, before_commit=None,
               into: Path | None = None) -> Path:
    """Write `gdf` as `layer` of a GeoPackage 1.2 at `path`, atomically, with its style.

    An existing file keeps its other layers (the file is copied, changed, then renamed over
    the old one); a layer of the same name is replaced. `metadata` is stored as GDAL layer
    metadata (values JSON-encoded). `style.geometry` follows the layer's geometry.
    `before_commit(tmp_path)` may add tables before the rename. With `into` (a scratch path
    of an engine.export.atomic.OutputSet) the layer is written there and the caller commits.
    """
    import pyogrio

    _check_frame(gdf, layer)
    path = Path(path)
    if path.suffix.lower() != ".gpkg":
        raise EngineError(f"{path} does not end in .gpkg", "name GeoPackage outputs *.gpkg")
    meta = None
    if metadata:
        meta = {str(k): v if isinstance(v, str) else json.dumps(v) for k, v in metadata.items()}
    with contextlib.nullcontext(into) if into is not None else atomic_path(path) as tmp:
        exists = keep_other_layers and (tmp.is_file() or path.is_file())
        if exists and not tmp.is_file():
            shutil.copyfile(path, tmp)
        try:
            pyogrio.write_dataframe(
                gdf, tmp, layer=layer, driver="GPKG", layer_metadata=meta,
                dataset_options=None if exists else {"VERSION": "1.2"},
                layer_options={"OVERWRITE": "YES"} if exists else None)
        except Exception as exc:  # pyogrio/GDAL errors: name the layer and file
            if any(t in str(exc).lower() for t in _OS_TROUBLE):
                raise
            code = disk_errno(tmp)  # GDAL says "no such table" or "failed to commit"
            if code is not None:
                raise OSError(code, os.strerror(code), str(target_of(path))) from exc
            raise EngineError(f"cannot write layer {layer!r} to {target_of(path)}: {exc}",
                              "check the column types (numbers, text, dates, bytes)") from None
        if style is not None:
            style = dataclasses.replace(style, geometry=geometry_kind(gdf))
            write_layer_style(tmp, layer, style)
        if before_commit is not None:
            before_commit(tmp)
    log.info("wrote layer %s (%d features) to %s", layer, len(gdf), path)
    return path
