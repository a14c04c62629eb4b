"""Point embeddings in a GeoPackage: one BLOB per row + a `gc_embedding_meta` table.

Encoding (documented for any reader, GDAL or plain SQLite): the column holds, per feature,
`dimension` IEEE-754 float32 values in little-endian byte order, packed (numpy `'<f4'`,
`vector.astype('<f4').tobytes()`), 4 * dimension bytes. `gc_embedding_meta` (an attributes
table listed in gpkg_contents) has one row per (table_name, column_name) with model,
dimension, dtype "float32", byte_order "little", encoding text and JSON `extra`.
"""

from __future__ import annotations

import contextlib
import json
import os
import sqlite3
from pathlib import Path

import numpy as np

from engine.errors import EngineError
from engine.export.geotiff import KIND_TAG, MODEL_ID_TAG
from engine.export.gpkg import register_attributes_table, write_gpkg
from engine.export.styles import Style

META_TABLE = "gc_embedding_meta"
ENCODING = "blob-float32-le"
META_DDL = f"""
CREATE TABLE IF NOT EXISTS {META_TABLE} (
  id INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL, table_name TEXT NOT NULL,
  column_name TEXT NOT NULL, model TEXT, dimension INTEGER NOT NULL, dtype TEXT NOT NULL,
  byte_order TEXT NOT NULL, encoding TEXT NOT NULL, extra TEXT,
  created_at DATETIME DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ','now'))
)"""


def write_embeddings_gpkg(gdf, embeddings: np.ndarray, path: str | os.PathLike[str],
                          layer: str = "embeddings", model: str = "", column: str = "embedding",
                          style: Style | None = None, metadata: dict | None = None,
                          extra: dict | None = None, into: Path | None = None,
                          model_id: str = "") -> Path:
    """Write points (or polygons) with one embedding BLOB each, plus the metadata row;
    `model_id` (engine.models.folder.ModelFolder.identity) goes into `extra` and the layer
    tags, for the heads' provenance check (engine.maps.provenance)."""
    emb = np.asarray(embeddings)
    if emb.ndim != 2 or len(emb) != len(gdf):
        raise EngineError(f"{len(gdf)} features but embeddings of shape {emb.shape}",
                          "pass one embedding row per feature, in order")
    if not np.isfinite(emb).all():
        row = int(np.flatnonzero(~np.isfinite(emb).all(axis=1))[0])
        raise EngineError(f"embedding of row {row} has NaN/inf values",
                          "drop features whose embedding failed")
    if column in gdf.columns:
        raise EngineError(f"the layer already has a field {column!r}",
                          "choose another embedding column name")
    blobs = np.ascontiguousarray(emb, dtype="<f4")
    extra = {**(extra or {}), **({"model_id": model_id} if model_id else {})}

    def add_blobs(tmp: Path) -> None:
        with contextlib.closing(sqlite3.connect(tmp)) as con, con:
            fids = [r[0] for r in con.execute(f'SELECT fid FROM "{layer}" ORDER BY fid')]
            con.execute(f'ALTER TABLE "{layer}" ADD COLUMN "{column}" BLOB')
            # the R-tree triggers call SpatiaLite functions plain SQLite lacks; the geometry
            # is not touched here, so set them aside for the update and restore them
            triggers = con.execute("SELECT name, sql FROM sqlite_master WHERE type = 'trigger' "
                                   "AND tbl_name = ?", (layer,)).fetchall()
            for name, _ in triggers:
                con.execute(f'DROP TRIGGER "{name}"')
            con.executemany(f'UPDATE "{layer}" SET "{column}" = ? WHERE fid = ?',
                            [(blobs[i].tobytes(), fid) for i, fid in enumerate(fids)])
            for _, sql in triggers:
                con.execute(sql)
            con.execute(META_DDL)
            register_attributes_table(con, META_TABLE, "GeoContrast embedding encoding")
            con.execute(f"DELETE FROM {META_TABLE} WHERE table_name = ? AND column_name = ?",
                        (layer, column))
            con.execute(
                f"INSERT INTO {META_TABLE} (table_name, column_name, model, dimension, dtype, "
                "byte_order, encoding, extra) VALUES (?, ?, ?, ?, 'float32', 'little', ?, ?)",
                (layer, column, model, int(emb.shape[1]), ENCODING, json.dumps(extra)))

    # the GDAL layer tag by which QGIS (the plugin) recognises an embeddings layer
    tagged = {**(metadata or {}), KIND_TAG: "embeddings",
              "GEOCONTRAST_DIMENSION": str(int(emb.shape[1])), "GEOCONTRAST_MODEL": model,
              **({MODEL_ID_TAG: model_id} if model_id else {})}
    return write_gpkg(gdf.reset_index(drop=True), path, layer, style=style, metadata=tagged,
                      before_commit=add_blobs, into=into)


def read_embedding_meta(path: str | os.PathLike[str], layer: str,
                        column: str = "embedding") -> dict:
    """The `gc_embedding_meta` row of (layer, column) as a dict."""
    with contextlib.closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True)) as con:
        try:
            cur = con.execute(f"SELECT * FROM {META_TABLE} WHERE table_name = ? AND "
                              "column_name = ?", (layer, column))
        except sqlite3.OperationalError:
            cur = None
        row = cur.fetchone() if cur is not None else None
        if row is None:
            raise EngineError(f"{path} has no embedding metadata for {layer}.{column}",
                              "make embeddings with `python -m engine embed-points` (or "
                              "`python -m engine embed-locations --points`)")
        meta = dict(zip([d[0] for d in cur.description], row, strict=True))
    meta["extra"] = json.loads(meta.get("extra") or "{}")
    return meta


def read_embeddings_gpkg(path: str | os.PathLike[str], layer: str = "embeddings",
                         column: str = "embedding"):
    """(GeoDataFrame without the BLOB column, embeddings (N, D) float32, metadata dict)."""
    import pyogrio

    meta = read_embedding_meta(path, layer, column)
    if meta["dtype"] != "float32" or meta["byte_order"] != "little":
        raise EngineError(f"unsupported embedding encoding {meta['dtype']}/{meta['byte_order']}",
                          "expected little-endian float32 BLOBs")
    gdf = pyogrio.read_dataframe(path, layer=layer, fid_as_index=True)
    dim = int(meta["dimension"])
    with contextlib.closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True)) as con:
        rows = dict(con.execute(f'SELECT fid, "{column}" FROM "{layer}"'))
    out = np.empty((len(gdf), dim), dtype=np.float32)
    for i, fid in enumerate(gdf.index):
        b = rows.get(int(fid))
        if b is None or len(b) != 4 * dim:
            raise EngineError(f"{path}: feature fid={fid} of {layer} has a {column} of "
                              f"{0 if b is None else len(b)} bytes, expected {4 * dim}",
                              "re-export the embeddings")
        out[i] = np.frombuffer(b, dtype="<f4")
    gdf = gdf.drop(columns=[column], errors="ignore").reset_index(drop=True)
    return gdf, out, meta
