"""The notebook half of engine.api: each stage returns objects (GeoDataFrame, DataArray,
FittedHead) and accepts the objects earlier stages returned, or paths.

Files are written as the CLI writes them: into `out` when given, else into a fresh
temporary folder that is kept (the objects' `attrs["path"]` names the files, so results
can be handed to the next stage or opened in QGIS).
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from engine.api import commands
from engine.api.frames import read_field, read_map_points, read_points
from engine.errors import EngineError
from engine.progress import Progress, no_progress

PathLike = str | os.PathLike[str]


@dataclass(frozen=True)
class FittedHead:
    """A head from `fit`: the Head, its spatial-CV report and where both were saved."""

    head: Any
    cv: dict[str, Any]
    path: Path
    outputs: dict[str, Any] = field(default_factory=dict)


def _out(out: PathLike | None, name: str) -> Path:
    """`out`, or `name` inside a new temporary folder."""
    return Path(out) if out is not None else Path(tempfile.mkdtemp(prefix="geocontrast-")) / name


def _path(obj: Any, what: str) -> Any:
    """The file behind an object an earlier stage returned (attrs["path"]), or a path."""
    if obj is None or isinstance(obj, (str, os.PathLike)):
        return obj
    if isinstance(obj, FittedHead):
        return obj.path
    path = getattr(obj, "attrs", {}).get("path")
    if path is None:
        raise EngineError(f"this {type(obj).__name__} has no file behind it",
                          f"pass {what} as a path, or an object an engine.api function "
                          "returned")
    return path


def _with_outputs(obj: Any, outputs: dict[str, Any]) -> Any:
    obj.attrs["outputs"] = outputs
    return obj


def train(recipe: PathLike, out: PathLike | None = None, overrides: Sequence[str] = (),
          progress: Progress = no_progress) -> Path:
    """Train a recipe (models/*.yaml) with key=value `overrides`; returns the model folder
    (config.yaml + model.safetensors) the embed functions take."""
    from engine.train.config import load_config
    from engine.train.loop import train as run

    extra = [f"output={Path(out).resolve()}"] if out is not None else []
    cfg = load_config(recipe, [*overrides, *extra])
    run(cfg, progress)
    return cfg.output_dir()


def embed_points(model: Any, layer: PathLike, out: PathLike | None = None,
                 **options: Any) -> Any:
    """Embed every photo of a street-view layer -> GeoDataFrame (`embedding` column).

    `options`: those of engine.api.commands.embed_points (image_size, batch_size, ...).
    """
    res = commands.embed_points(model, layer, _out(out, "points.gpkg"), **options)
    return _with_outputs(read_points(res["output"]), res)


def embed_raster(model: Any, raster: PathLike, out: PathLike | None = None,
                 **options: Any) -> Any:
    """Embed an overhead raster -> xarray.DataArray (band, y, x) with its CRS and transform.

    `options`: those of engine.api.commands.embed_raster (chip, stride, bbox, mask, ...).
    """
    res = commands.embed_raster(model, raster, _out(out, "field.tif"), **options)
    return _with_outputs(read_field(res["output"]), res)


def embed_locations(model: Any, out: PathLike | None = None, *, points: Any = None,
                    **options: Any) -> Any:
    """Location embeddings: at `points` -> GeoDataFrame, else over a grid (bounds=, step=)
    -> xarray.DataArray."""
    name = "locations.gpkg" if points is not None else "locations.tif"
    res = commands.embed_locations(model, _out(out, name), points=points, **options)
    reader = read_points if points is not None else read_field
    return _with_outputs(reader(res["output"]), res)


def fit(target: str, *, embeddings: Any = None, field: Any = None, polygons: Any = None,
        out: PathLike | None = None, **options: Any) -> FittedHead:
    """Spatial-block CV of a light head on labelled embeddings, then the head on all rows.

    `embeddings`: point embeddings (GeoDataFrame from embed_points, or a path) labelled by
    their `target` field; with `polygons`, labels come from the polygons and embeddings
    (or `field` pixels) are averaged per polygon.
    """
    from engine.heads.io import load_head

    for key in ("fuse_field", "fuse_embeddings"):  # a GeoDataFrame or DataArray: its file
        if options.get(key) is not None:
            options[key] = _path(options[key], key)
    res = commands.fit(_out(out, "head"), target, embeddings=_path(embeddings, "embeddings"),
                       field=_path(field, "field"), polygons=_path(polygons, "polygons"),
                       **options)
    cv = {k: res[k] for k in ("summary", "metrics", "ci95", "n_rows", "task") if k in res}
    base = Path(res["head"]).with_suffix("")
    return FittedHead(head=load_head(base), cv=cv, path=base, outputs=res)


def _map(res: dict[str, Any]) -> Any:
    if "geotiff" in res:
        return _with_outputs(read_field(res["geotiff"]), res)
    return _with_outputs(read_map_points(res["gpkg"], res["points_layer"]), res)


def map_zero_shot(head: Any, field: Any, out: PathLike | None = None, **options: Any) -> Any:
    """A head fitted on photo embeddings, applied to an overhead embedding field ->
    xarray.DataArray (prediction, uncertainty); the GeoPackage and PNG are in attrs."""
    return _map(commands.map_zero_shot(_path(head, "head"), _path(field, "field"),
                                       _out(out, "maps"), **options))


def map_time(model: Any, head: Any, field: Any, when: str, out: PathLike | None = None,
             **options: Any) -> Any:
    """The zero-shot map at datetime `when` (a time-conditioned model) -> DataArray."""
    return _map(commands.map_time(model, _path(head, "head"), _path(field, "field"), when,
                                  _out(out, "maps"), **options))


def map_similarity(positives: Any, out: PathLike | None = None, *, field: Any = None,
                   embeddings: Any = None, **options: Any) -> Any:
    """Similarity to example x, y points -> DataArray over a field, or GeoDataFrame over
    point embeddings."""
    return _map(commands.map_similarity(_out(out, "maps"), positives,
                                        field=_path(field, "field"),
                                        embeddings=_path(embeddings, "embeddings"), **options))


def map_fewshot(field: Any, points: PathLike, class_field: str, out: PathLike | None = None,
                **options: Any) -> Any:
    """A classifier on field vectors at labelled points, mapped everywhere -> DataArray."""
    return _map(commands.map_fewshot(_path(field, "field"), points, class_field,
                                     _out(out, "maps"), **options))


def map_fused(head: Any, embeddings: Any, field: Any = None, out: PathLike | None = None,
              *, fuse_embeddings: Any = None, **options: Any) -> Any:
    """A head fitted with `fuse_field` (photo + overhead) at the photo points the field
    covers, or with `fuse_embeddings` (two embeddings of the photos) at the photos ->
    GeoDataFrame (prediction, uncertainty, flag)."""
    return _map(commands.map_fused(
        _path(head, "head"), _path(embeddings, "embeddings"),
        None if field is None else _path(field, "field"), _out(out, "maps"),
        fuse_embeddings=None if fuse_embeddings is None else _path(fuse_embeddings,
                                                                   "fuse_embeddings"),
        **options))


def map_location(model: Any, embeddings: Any, target: str, out: PathLike | None = None,
                 **options: Any) -> Any:
    """A head on location-encoder embeddings at labelled points, over a grid -> DataArray."""
    return _map(commands.map_location(model, _path(embeddings, "embeddings"), target,
                                      _out(out, "maps"), **options))
