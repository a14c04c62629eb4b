"""`python -m engine map <kind>`: GeoTIFF + styled GeoPackage + PNG maps from embeddings.

Each kind is an argparse subcommand with its own flags and help (`map zero_shot --help`):
zero_shot (head on photo embeddings -> overhead embedding field), time (zero-shot at a
chosen --datetime), similarity (example points, no head), fewshot (labelled points and/or
polygons -> class map), location (head on location-encoder embeddings -> grid), predict (a
head fitted on the field itself -> map, no re-centring; --mask, --clip), fused (a head of
`fit --fuse-field` at the photo points, photo + overhead). Each calls engine.api.commands.
"""

from __future__ import annotations

import argparse
import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from engine.cli.args import file_stem, positive_float
from engine.cli.flags import add_global_flags
from engine.defaults import BLOCK_M, CLASSIFIER, CLASSIFIERS, FEWSHOT_FOLDS, GRID_STEP_M
from engine.errors import EngineError
from engine.progress import Progress

log = logging.getLogger(__name__)

NAME = "map"
HELP = ("render a map (zero_shot, time, similarity, fewshot, location, predict, fused) as "
        "GeoTIFF and/or styled GPKG + PNG")


def _field(p: argparse.ArgumentParser, required: bool = True) -> None:
    p.add_argument("--field", type=Path, required=required,
                   help="embedding-field GeoTIFF (python -m engine embed-raster)")


def _polygons(p: argparse.ArgumentParser, id_field: bool = True) -> None:
    p.add_argument("--polygons", type=Path, help="also aggregate per polygon (e.g. tracts)")
    if id_field:
        p.add_argument("--id-field", help="polygon id field kept in the output")


def _no_align(p: argparse.ArgumentParser) -> None:
    p.add_argument("--no-align", action="store_true",
                   help="do not re-centre the field on the photo embeddings' mean")


def _cv(p: argparse.ArgumentParser) -> None:
    p.add_argument("--block-size", type=positive_float, default=BLOCK_M,
                   help="spatial CV block side in metres (default: derived from the labels' "
                   "geometry)")
    p.add_argument("--seed", type=int, default=0)


def add_zero_shot(p: argparse.ArgumentParser) -> None:
    p.add_argument("--head", type=Path, required=True,
                   help="head fitted on photo embeddings (python -m engine fit)")
    _field(p)
    _polygons(p)
    _no_align(p)


def add_time(p: argparse.ArgumentParser) -> None:
    p.add_argument("--model", type=Path, required=True,
                   help="model folder with a time encoder (models/crossview_time)")
    add_zero_shot(p)
    p.add_argument("--datetime", required=True,
                   help="ISO 8601 UTC, e.g. 2023-07-12T14:00:00Z")


def add_similarity(p: argparse.ArgumentParser) -> None:
    _field(p, required=False)
    p.add_argument("--embeddings", type=Path,
                   help="point embeddings (embed-points) instead of --field")
    p.add_argument("--positive", nargs="+", default=[], metavar="X,Y",
                   help="example points x,y (in --crs)")
    p.add_argument("--negative", nargs="+", default=[], metavar="X,Y",
                   help="counter-example points x,y (in --crs)")
    p.add_argument("--examples", type=Path,
                   help="point layer of examples (field --example-field 1/positive, "
                   "0/negative; all positive without it)")
    p.add_argument("--example-field", help="the positive/negative field of --examples")
    p.add_argument("--crs", default=None,
                   help="CRS of --positive/--negative (default: the field's)")


def add_fewshot(p: argparse.ArgumentParser) -> None:
    _field(p)
    p.add_argument("--points", type=Path, help="labelled point layer")
    p.add_argument("--class-polygons", type=Path,
                   help="labelled polygon layer: the field cells inside each are examples")
    p.add_argument("--class-field", required=True,
                   help="the class field of --points / --class-polygons")
    p.add_argument("--classifier", choices=CLASSIFIERS, default=CLASSIFIER)
    p.add_argument("--folds", type=int, default=FEWSHOT_FOLDS,
                   help=f"CV folds (default {FEWSHOT_FOLDS}; fewer when the blocks are fewer)")
    _cv(p)


def add_predict(p: argparse.ArgumentParser) -> None:
    p.add_argument("--head", type=Path, required=True,
                   help="head fitted on this field's embeddings (python -m engine fit --field)")
    _field(p)
    _polygons(p)
    p.add_argument("--mask", type=Path,
                   help="polygon layer (e.g. land only): pixels outside are nodata")
    p.add_argument("--clip", action="store_true",
                   help="clip predictions to the training target range (the flag band marks "
                   "them either way)")


def add_fused(p: argparse.ArgumentParser) -> None:
    p.add_argument("--head", type=Path, required=True,
                   help="head fitted on two views (python -m engine fit --fuse-field or "
                   "--fuse-embeddings)")
    p.add_argument("--embeddings", type=Path, required=True,
                   help="photo point embeddings (embed-points) of the head's model")
    _field(p, required=False)
    p.add_argument("--fuse-embeddings", type=Path,
                   help="the second embedding of the same photos (heads of fit "
                   "--fuse-embeddings; instead of --field)")


def add_location(p: argparse.ArgumentParser) -> None:
    p.add_argument("--model", type=Path, required=True,
                   help="model folder with a location encoder (models/csp_*)")
    p.add_argument("--embeddings", type=Path, required=True,
                   help="labelled point layer (e.g. embed-points output)")
    p.add_argument("--target", required=True, help="label field of --embeddings")
    p.add_argument("--bounds", nargs=4, type=float, metavar=("XMIN", "YMIN", "XMAX", "YMAX"),
                   help="grid extent in --crs (default: the points' extent)")
    p.add_argument("--crs", default=None, help="CRS of --bounds (default: the points')")
    p.add_argument("--step", type=positive_float, default=GRID_STEP_M,
                   help=f"grid step in metres (default {GRID_STEP_M:g})")
    _cv(p)
    _polygons(p, id_field=False)


def _xy_list(items: list[str], what: str) -> np.ndarray:
    out = []
    for s in items:
        try:
            x, y = (float(v) for v in s.split(","))
        except ValueError:
            raise EngineError(f"{what} point {s!r} is not x,y",
                              f"write each --{what} point as x,y (no space), "
                              "e.g. 328500,4421300") from None
        out.append((x, y))
    return np.asarray(out, dtype=np.float64).reshape(-1, 2)


def _examples(args: argparse.Namespace) -> tuple[np.ndarray, np.ndarray, Any]:
    """(positives xy, negatives xy, crs) from --positive/--negative or --examples."""
    pos, neg = _xy_list(args.positive, "positive"), _xy_list(args.negative, "negative")
    crs = args.crs
    if args.examples is not None:
        from engine.maps.rows import read_layer

        gdf = read_layer(args.examples, None, "example layer", "example points", "Point")
        kinds = set(gdf.geometry.geom_type.dropna().unique())
        if not kinds <= {"Point"}:
            raise EngineError(f"--examples {args.examples} holds {', '.join(sorted(kinds))} "
                              "geometries, not points",
                              "give a point layer: one point per example place")
        xy = np.column_stack([gdf.geometry.x.to_numpy(), gdf.geometry.y.to_numpy()])
        labelled = np.ones(len(xy), dtype=bool)
        if args.example_field:
            is_pos, labelled = _positive_flags(gdf, args.example_field, str(args.examples))
        else:
            is_pos = labelled
        pos, neg, crs = xy[is_pos & labelled], xy[~is_pos & labelled], gdf.crs
    return pos, neg, crs


POSITIVE = ("1", "true", "positive", "yes", "1.0", "like")


def _positive_flags(gdf: Any, field: str, where: str) -> tuple[np.ndarray, np.ndarray]:
    """(which examples are positive: 1, true, yes, positive, like; which are labelled at
    all: an empty field makes an example neither positive nor negative) from `field`."""
    if field not in gdf.columns:
        fields = [str(c) for c in gdf.columns if c != gdf.geometry.name]
        raise EngineError(f"{where} has no field {field!r}",
                          f"--example-field is one of: {', '.join(fields)}")
    labelled = gdf[field].notna().to_numpy()
    if (~labelled).any():
        log.warning("%d of %d examples of %s have no %s and are left out",
                    int((~labelled).sum()), len(labelled), where, field)
    flag = np.char.lower(np.asarray(gdf[field]).astype(str))
    is_pos = np.isin(flag, POSITIVE) & labelled
    if not is_pos.any():
        seen = ", ".join(sorted(set(flag.tolist()))[:8])
        raise EngineError(f"no example of {where} is marked positive in field {field!r} "
                          f"(values: {seen})",
                          f"mark the places to look like with 1 (or {', '.join(POSITIVE[1:4])})"
                          "; any other value is a negative example")
    return is_pos, labelled


def run_zero_shot(args: argparse.Namespace, progress: Progress) -> dict:
    from engine.api.commands import map_zero_shot

    _check_polygons(args.field, args.polygons)
    return map_zero_shot(args.head, args.field, args.out, name=args.name or "zero_shot",
                         polygons=args.polygons, id_field=args.id_field,
                         align=not args.no_align, progress=progress)


def run_time(args: argparse.Namespace, progress: Progress) -> dict:
    from engine.api.commands import map_time

    _check_polygons(args.field, args.polygons)
    return map_time(args.model, args.head, args.field, args.datetime, args.out,
                    name=args.name or "time", polygons=args.polygons, id_field=args.id_field,
                    align=not args.no_align, progress=progress)


def run_similarity(args: argparse.Namespace, progress: Progress) -> dict:
    from engine.api.commands import map_similarity

    pos, neg, crs = _examples(args)
    return map_similarity(args.out, pos, crs=crs, negatives=neg, field=args.field,
                          embeddings=args.embeddings, name=args.name or "similarity",
                          progress=progress)


def run_fewshot(args: argparse.Namespace, progress: Progress) -> dict:
    from engine.api.commands import map_fewshot

    if args.points is None and args.class_polygons is None:
        raise EngineError("map fewshot needs labelled examples",
                          "pass --points and/or --class-polygons")
    return map_fewshot(args.field, args.points, args.class_field, args.out,
                       classifier=args.classifier, name=args.name or "fewshot",
                       block_size=args.block_size, folds=args.folds, seed=args.seed,
                       polygons=args.class_polygons, progress=progress)


def run_predict(args: argparse.Namespace, progress: Progress) -> dict:
    from engine.api.commands import map_predict

    _check_polygons(args.field, args.polygons)
    return map_predict(args.head, args.field, args.out, name=args.name or "predict",
                       polygons=args.polygons, id_field=args.id_field, clip=args.clip,
                       mask=args.mask, progress=progress)


def run_fused(args: argparse.Namespace, progress: Progress) -> dict:
    from engine.api.commands import map_fused

    return map_fused(args.head, args.embeddings, args.field, args.out,
                     name=args.name or "fused", progress=progress,
                     fuse_embeddings=args.fuse_embeddings)


def run_location(args: argparse.Namespace, progress: Progress) -> dict:
    from engine.api.commands import map_location

    return map_location(args.model, args.embeddings, args.target, args.out,
                        name=args.name or "location", bounds=args.bounds, crs=args.crs,
                        step=args.step, block_size=args.block_size, seed=args.seed,
                        polygons=args.polygons, progress=progress)


Adder = Callable[[argparse.ArgumentParser], None]
Runner = Callable[[argparse.Namespace, Progress], dict]
KINDS: dict[str, tuple[str, Adder, Runner]] = {
    "zero_shot": ("a head fitted on photo embeddings applied to an overhead embedding field",
                  add_zero_shot, run_zero_shot),
    "time": ("the zero-shot map at a chosen --datetime (a time-conditioned model)",
             add_time, run_time),
    "similarity": ("similarity to a few example points, over a field or point embeddings",
                   add_similarity, run_similarity),
    "fewshot": ("a classifier on field vectors at labelled points and/or polygons, mapped "
                "everywhere", add_fewshot, run_fewshot),
    "location": ("a head on location-encoder embeddings at labelled points, over a grid",
                 add_location, run_location),
    "predict": ("a head fitted on the field itself, mapped over it (no re-centring)",
                add_predict, run_predict),
    "fused": ("a head of fit --fuse-field at the photo points (photo + overhead pixel), as "
              "a styled point layer", add_fused, run_fused),
}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="kind", metavar="KIND", required=True)
    for kind, (help_text, add, _) in KINDS.items():
        p = sub.add_parser(kind, help=help_text, description=help_text)
        add_global_flags(p, nested=True)
        p.add_argument("--out", type=Path, required=True, help="output folder")
        p.add_argument("--name", type=file_stem, help=f"output file stem (default: {kind})")
        add(p)


MAP_FILES = (".tif", ".qml", ".gpkg", ".png", "_polygons.png")


def _relocate(value: object, stage: Path, final: Path) -> object:
    """Output paths inside the staging folder -> the same names in the output folder."""
    if isinstance(value, dict):
        return {k: _relocate(v, stage, final) for k, v in value.items()}
    if isinstance(value, str) and value.startswith(str(stage)):
        return str(final) + value[len(str(stage)):]
    return value


def _check_polygons(field: Path | None, path: Path | None) -> None:
    """EngineError when the --polygons do not overlap the --field (checked up front)."""
    from rasterio.warp import transform_bounds

    from engine.data.coords import bounds_overlap
    from engine.maps.field import field_info
    from engine.maps.rows import read_polygons

    if field is None or path is None:
        return
    polygons = read_polygons(path)
    info = field_info(field)
    box = transform_bounds(polygons.crs.to_wkt(), info["crs"], *polygons.total_bounds)
    if not bounds_overlap(box, info["bounds"]):
        raise EngineError(f"the polygons {path} do not overlap the field {field}",
                          "pass --polygons that cover the embedded area, or a --field that "
                          "covers the polygons")


def run(args: argparse.Namespace, progress: Progress) -> dict:
    """Render into a hidden staging folder; commit every file together (nothing on failure)."""
    import shutil

    from engine.export.atomic import staged_folder
    from engine.export.guard import check_not_input, check_writable

    name = args.name or args.kind
    final = args.out
    inputs = [getattr(args, k, None) for k in ("field", "embeddings", "polygons", "points",
                                                 "examples", "class_polygons", "mask")]
    check_not_input([final / f"{name}{ext}" for ext in MAP_FILES], inputs)
    check_writable(final / name)
    old_gpkg = final / f"{name}.gpkg"
    # the files of an earlier map of this name that this run does not write (its per-polygon
    # quick-look, when this run has no polygons) go at the commit: never a stale half family
    with staged_folder(final, name, replaces=[final / f"{name}{ext}" for ext in MAP_FILES]
                       ) as stage:
        if _other_layers(old_gpkg, name):  # layers a user added: keep them, not the old map's
            from engine.export.gpkg import drop_layers

            shutil.copyfile(old_gpkg, stage / f"{name}.gpkg")
            drop_layers(stage / f"{name}.gpkg", sorted(_own_layers(name) - {"layer_styles"}))
        args.out = stage
        try:
            result = KINDS[args.kind][2](args, progress)
        finally:
            args.out = final
    return _relocate(result, stage, final)


def _other_layers(gpkg: Path, name: str) -> list[str]:
    """The layers of an earlier map's GeoPackage that are not that map's own (NAME_cells,
    NAME_polygons, NAME_points; the styles table): a new map of the name replaces its own,
    keeps the others."""
    if not gpkg.is_file():
        return []
    import pyogrio

    try:
        layers = [str(row[0]) for row in pyogrio.list_layers(gpkg)]
    except Exception:  # not a readable GeoPackage: the new map replaces the file
        return []
    own = _own_layers(name)
    return [layer for layer in layers if layer not in own]


def _own_layers(name: str) -> set[str]:
    """The layers a map NAME writes to NAME.gpkg (and the styles table)."""
    return {f"{name}_{part}" for part in ("cells", "polygons", "points")} | {"layer_styles"}
