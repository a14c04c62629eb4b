"""What each CLI command does, as plain functions that write the command's files and return
its outputs (the dict the CLI reports). The CLI parses flags and calls these; notebooks may
call them too, or the in-memory forms in engine.api.

Each function opens the model folder once (engine.models.folder.ModelFolder) and takes its
defaults from engine.defaults, so the CLI, the API and the plugin cannot drift apart.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from typing import Any

from engine.defaults import (
    BLOCK_M,
    CHIP_PX,
    CLASSIFIER,
    DEVICE,
    EMBED_BATCH,
    EMBED_WORKERS,
    ENCODER,
    FEWSHOT_FOLDS,
    FIELD_DTYPE,
    FOLDS,
    GRID_STEP_M,
    HEAD,
    IMAGE_PX,
    RUNTIME,
)
from engine.errors import EngineError
from engine.models.folder import ModelFolder
from engine.progress import Progress, no_progress

log = logging.getLogger(__name__)

PathLike = str | os.PathLike[str]
ModelLike = PathLike | ModelFolder
Box = Sequence[float]


def _polygons(path: PathLike | None) -> Any:
    if path is None:
        return None
    from engine.maps.rows import read_polygons

    return read_polygons(path)


def _model_input(model: ModelLike) -> list[Any]:
    """The model folder as an input path (a zoo name or an open folder: none)."""
    return [model] if isinstance(model, (str, os.PathLike)) else []


def _note_native_size(folder: ModelFolder, what: str, size: int, flags: str) -> None:
    """Tell the user the input size a zoo model embeds at when none was given (its own)."""
    if folder.weights is None:  # a zoo name: no folder, the pretrained network's conventions
        log.info("%s embeds %s at %d px, its native (ImageNet training) input size; %s "
                 "changes it", folder.name, what, size, flags)


def embed_points(model: ModelLike, layer: PathLike, out: PathLike, *,
                 layer_name: str | None = None, image_size: int | None = None,
                 photo_dir: PathLike | None = None,
                 batch_size: int = EMBED_BATCH, workers: int = EMBED_WORKERS,
                 device: str = DEVICE, runtime: str = RUNTIME, overwrite: bool = False,
                 progress: Progress = no_progress,
                 panoramas: str | None = None, view_headings: Any = None,
                 view_fov: float | None = None,
                 view_reference: str | None = None) -> dict[str, Any]:
    """Embed every photo of a street-view layer -> OUT.gpkg (+ OUT.faiss). Photos are read
    by the model's resize policy; panoramas are cut into views (engine.data.views) by the
    given settings, else the model's training settings, else the defaults. An existing
    OUT.gpkg keeps its other layers; its "embeddings" layer is replaced only when
    embed-points wrote it (or with `overwrite`)."""
    from engine.data.points import read_streetview
    from engine.data.views import expand_views, view_options_from
    from engine.embed.index import index_path
    from engine.embed.points import COMMAND, LAYER
    from engine.embed.points import embed_points as embed
    from engine.export.guard import prepare_output
    from engine.models.photo_input import resize_of

    prepare_output(out, [layer, *_model_input(model)], [index_path(out)], suffixes=(".gpkg",),
                   layer=LAYER, command=COMMAND, overwrite=overwrite)
    folder = ModelFolder.of(model)
    data = folder.section("data")
    size = image_size
    if size is None:
        size = int(folder.input_sizes().get("image_size", IMAGE_PX))
        _note_native_size(folder, "photos", size, "--image-size")
    given = {"panoramas": panoramas, "view_headings": view_headings, "view_fov": view_fov,
             "view_reference": view_reference}
    rows, views = expand_views(read_streetview(layer, layer_name, photo_dir=photo_dir),
                               view_options_from(given, data))
    result = embed(folder.load(), rows, out, batch_size=batch_size, image_size=size,
                   progress=progress, num_workers=workers, device=device,
                   model_name=folder.name, model_id=folder.identity, runtime=runtime,
                   resize=resize_of(data, folder.name), overwrite=overwrite)
    return {**result, "panorama_views": views}


def embed_raster(model: ModelLike, raster: PathLike, out: PathLike, *,
                 chip: int | None = None, stride: int | None = None,
                 chip_m: float | None = None, stride_m: float | None = None,
                 bands: Any = None, scaling: str | None = None, scale: Any = None,
                 dtype: str = FIELD_DTYPE, encoder: str = ENCODER, bbox: Box | None = None,
                 mask: PathLike | None = None, batch_size: int = EMBED_BATCH,
                 device: str = DEVICE, preview: bool = True, runtime: str = RUNTIME,
                 progress: Progress = no_progress) -> dict[str, Any]:
    """Embed an overhead raster chip by chip -> OUT.tif (COG, one band per dimension).

    chip: `chip_m` metres, else `chip` pixels, else the model's chip (in metres when it
    records one, else its chip size, else CHIP_PX); stride: `stride_m` metres, else `stride`
    pixels, else default_stride(chip). `bands`, `scaling`, `scale` override the model's
    raster record (engine.data.radiometry).
    """
    from pathlib import Path

    from engine.embed.raster import embed_raster as embed
    from engine.export.guard import prepare_output

    o = Path(out)
    prepare_output(o, [raster, mask, *_model_input(model)],
                   [o.with_suffix(".json"), o.with_name(o.stem + "_pca.tif")],
                   suffixes=(".tif", ".tiff"))
    folder = ModelFolder.of(model)
    sizes = folder.input_sizes()
    if sizes.get("chip_res_m"):
        log.warning("the model was trained on chips resampled to %s m/px; embed-raster cuts "
                    "chips on the raster's own grid", sizes["chip_res_m"])
    record = folder.raster_record()
    if chip_m is None and chip is None and record and record.get("chip_m"):
        chip_m = float(record["chip_m"])  # the model's chip, in metres
    if chip is None:
        chip = int(sizes.get("chip_size", CHIP_PX))
        if chip_m is None:
            _note_native_size(folder, "chips of the raster's own pixels", chip,
                              "--chip or --chip-m")
    if scale is None and scaling is None and record is None:
        scale = _trained_scale(folder, raster)
    return embed(folder.load(), raster, out, chip_px=chip, stride_px=stride, encoder=encoder,
                 dtype=dtype, bbox=bbox, mask=mask, batch_size=batch_size, progress=progress,
                 device=device, model_name=folder.name, model_id=folder.identity,
                 preview=preview, chip_m=chip_m,
                 stride_m=stride_m, expected=record, bands=bands, scaling=scaling, scale=scale,
                 runtime=runtime)


def _trained_scale(folder: ModelFolder, raster: PathLike) -> Any:
    """The `data.scale` a photo recipe trained with (it maps a non-8-bit scene to 0..255,
    engine.data.radiometry.to_uint8_scale), for a non-8-bit raster embedded without --scale;
    None for an 8-bit raster or a model without one."""
    trained = folder.section("data").get("scale")
    if trained in (None, ""):
        return None
    import rasterio

    try:
        with rasterio.open(raster) as src:
            if set(src.dtypes) == {"uint8"}:
                return None
    except rasterio.errors.RasterioIOError:
        return None  # the embed stage names the unreadable raster
    log.info("the model was trained with data.scale=%s: applied to %s (pass --scale to "
             "override)", trained, raster)
    return trained


def embed_locations(model: ModelLike, out: PathLike, *, bounds: Box | None = None,
                    crs: str = "EPSG:4326", step: float | None = None,
                    points: Any = None, layer_name: str | None = None,
                    dtype: str = FIELD_DTYPE, device: str = DEVICE, preview: bool = True,
                    overwrite: bool = False, progress: Progress = no_progress
                    ) -> dict[str, Any]:
    """Location-encoder embeddings over a grid (OUT.tif) or at points (OUT.gpkg); an
    "embeddings" layer another command wrote is replaced only with `overwrite`."""
    from pathlib import Path

    from engine.embed.locations import COMMAND
    from engine.embed.locations import embed_locations as embed
    from engine.export.guard import prepare_output

    o = Path(out)
    gpkg = o.suffix.lower() == ".gpkg"
    prepare_output(o, [points if isinstance(points, (str, os.PathLike)) else None,
                       *_model_input(model)],
                   [] if gpkg else [o.with_name(o.stem + "_pca.tif")],
                   suffixes=(".gpkg", ".tif", ".tiff"), layer="embeddings" if gpkg else None,
                   command=COMMAND, overwrite=overwrite)
    folder = ModelFolder.of(model)
    return embed(folder.load(), out, bounds=bounds, step_m=step, crs=crs, points=points,
                 layer=layer_name, dtype=dtype, progress=progress, device=device,
                 model_name=folder.name, model_id=folder.identity, preview=preview,
                 overwrite=overwrite)


def fit(out: PathLike, target: str, *, embeddings: PathLike | None = None,
        field: PathLike | None = None, layer: str | None = None,
        polygons: PathLike | None = None, polygons_layer: str | None = None,
        head: str = HEAD, block_size: float | None = BLOCK_M, folds: int = FOLDS, seed: int = 0,
        fuse_field: PathLike | None = None, fuse_embeddings: PathLike | None = None,
        progress: Progress = no_progress) -> dict[str, Any]:
    """Spatial-block CV of a light head on labelled embeddings, then fit and save it;
    `fuse_field` joins that overhead field to the photo embeddings (near/remote fusion),
    `fuse_embeddings` a second embedding of the same photos (e.g. the frozen backbone next
    to a geographic recipe); a ridge head then stacks the two views' ridges."""
    from pathlib import Path

    from engine.export.guard import prepare_output
    from engine.maps.fit import fit_rows
    from engine.maps.rows import point_rows, polygon_rows

    base = Path(out)
    base = base.with_suffix("") if base.suffix in (".json", ".safetensors") else base
    prepare_output(out, [embeddings, field, polygons, fuse_field, fuse_embeddings],
                   [base.with_name(base.name + s) for s in (".safetensors", ".json", ".cv.json")])
    if polygons is not None:
        rows = polygon_rows(polygons, target, embeddings=embeddings, field=field,
                            layer=polygons_layer)
    elif embeddings is not None:
        rows = point_rows(embeddings, target, layer=layer)
    else:
        raise EngineError("fit needs labelled rows" + (
            ": with --field the labels come from --polygons" if field is not None else ""),
                          "pass --embeddings POINTS.gpkg (photo embeddings with a label "
                          "field) or --polygons LAYER with --embeddings or --field; class "
                          "labels at points over a field: `python -m engine map fewshot`")
    if fuse_field is not None and fuse_embeddings is not None:
        raise EngineError("--fuse-field and --fuse-embeddings both given",
                          "fuse one second view: the overhead field or another embedding")
    if (fuse_field is not None or fuse_embeddings is not None) and embeddings is None:
        raise EngineError("fusion joins a second view to photo embeddings",
                          "pass --embeddings POINTS.gpkg as well")
    if fuse_field is not None:
        from engine.maps.fusion import fuse_rows

        rows = fuse_rows(rows, fuse_field)
    if fuse_embeddings is not None:
        from engine.maps.fusion import fuse_embedding_rows

        other = (polygon_rows(polygons, target, embeddings=fuse_embeddings,
                              layer=polygons_layer) if polygons is not None
                 else point_rows(fuse_embeddings, target))
        rows = fuse_embedding_rows(rows, other)
    return fit_rows(rows, out, head=head, target=target, block_size_m=block_size,
                    n_folds=folds, seed=seed, progress=progress,
                    features=(embeddings if embeddings is not None else field,
                              fuse_field if fuse_field is not None else fuse_embeddings))


def map_zero_shot(head: Any, field: PathLike, out: PathLike, *, name: str = "zero_shot",
                  polygons: PathLike | None = None, id_field: str | None = None,
                  align: bool = True, progress: Progress = no_progress) -> dict[str, Any]:
    """A head fitted on photo embeddings, applied to an overhead embedding field."""
    from engine.maps.zero_shot import zero_shot_map

    return zero_shot_map(head, field, out, name, _polygons(polygons), id_field, align,
                         progress)


def map_time(model: ModelLike, head: Any, field: PathLike, when: str, out: PathLike, *,
             name: str = "time", polygons: PathLike | None = None,
             id_field: str | None = None, align: bool = True,
             progress: Progress = no_progress) -> dict[str, Any]:
    """The zero-shot map with the overhead side conditioned on datetime `when`."""
    from engine.maps.time_map import time_map

    return time_map(ModelFolder.of(model), head, field, when, out, name, _polygons(polygons),
                    id_field, align, progress)


def map_similarity(out: PathLike, positives: Any, *, crs: Any = None, negatives: Any = None,
                   field: PathLike | None = None, embeddings: PathLike | None = None,
                   name: str = "similarity", progress: Progress = no_progress
                   ) -> dict[str, Any]:
    """Similarity to example points (x, y rows in `crs`) over a field or point embeddings."""
    import numpy as np

    from engine.maps.similarity import similarity_map

    pos = np.asarray(positives, dtype=np.float64).reshape(-1, 2)
    neg = None if negatives is None else np.asarray(negatives, dtype=np.float64).reshape(-1, 2)
    if crs is None and field is not None:
        from engine.maps.field import field_info

        crs = field_info(field)["crs"]
    return similarity_map(out, pos, crs, neg, field_path=field, embeddings=embeddings,
                          name=name, progress=progress)


def map_fewshot(field: PathLike, points: PathLike | None, class_field: str, out: PathLike, *,
                classifier: str = CLASSIFIER, name: str = "fewshot",
                block_size: float | None = BLOCK_M, folds: int = FEWSHOT_FOLDS, seed: int = 0,
                polygons: PathLike | None = None,
                progress: Progress = no_progress) -> dict[str, Any]:
    """A classifier on field vectors at labelled points and/or the field cells of labelled
    polygons, mapped over the whole field (CV blocks derived from the examples by default)."""
    from engine.maps.fewshot import fewshot_map

    return fewshot_map(field, points, class_field, out, head=classifier, name=name,
                       block_size_m=block_size, n_folds=folds, seed=seed, progress=progress,
                       polygons=polygons)


def map_predict(head: Any, field: PathLike, out: PathLike, *, name: str = "predict",
                polygons: PathLike | None = None, id_field: str | None = None,
                clip: bool = False, mask: PathLike | None = None,
                progress: Progress = no_progress) -> dict[str, Any]:
    """A head fitted on the field itself (`fit --field`) mapped over it: no re-centring;
    a flag band marks predictions beyond the training range (`clip` clips them); pixels
    outside `mask` polygons are nodata."""
    from engine.maps.predict import predict_map

    return predict_map(head, field, out, name, _polygons(polygons), id_field, clip=clip,
                       mask=mask, progress=progress)


def map_fused(head: Any, embeddings: PathLike, field: PathLike | None, out: PathLike, *,
              name: str = "fused", progress: Progress = no_progress,
              fuse_embeddings: PathLike | None = None) -> dict[str, Any]:
    """A fused head at the photo points: `fit --fuse-field` heads where the field covers
    the photos (each photo's embedding with the field pixel under it), `fit
    --fuse-embeddings` heads with the photos' second embedding (`fuse_embeddings`)."""
    from engine.maps.fused_points import fused_points_map

    return fused_points_map(head, embeddings, field, out, name, progress,
                            fuse_embeddings=fuse_embeddings)


def map_location(model: ModelLike, embeddings: PathLike, target: str, out: PathLike, *,
                 name: str = "location", bounds: Box | None = None, crs: Any = None,
                 step: float = GRID_STEP_M, block_size: float | None = BLOCK_M, seed: int = 0,
                 polygons: PathLike | None = None,
                 progress: Progress = no_progress) -> dict[str, Any]:
    """A head on location-encoder embeddings at labelled points, mapped over a grid."""
    from engine.maps.location import location_map

    return location_map(ModelFolder.of(model), embeddings, target, out, name=name,
                        bounds=None if bounds is None else tuple(bounds), crs=crs,
                        step_m=step, block_size_m=block_size, seed=seed,
                        polygons=_polygons(polygons), progress=progress)


__all__ = ["embed_locations", "embed_points", "embed_raster", "fit", "map_fewshot",
           "map_fused", "map_location", "map_predict", "map_similarity", "map_time",
           "map_zero_shot"]
