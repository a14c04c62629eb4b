"""`python -m engine map <kind>`: GeoTIFF + styled GeoPackage + PNG maps from embeddings.

Kinds: zero_shot (head on photo embeddings -> overhead embedding field), location (head on
location-encoder embeddings -> grid), similarity (example points, no head), fewshot
(labelled points -> class map), time (zero-shot at a chosen --datetime).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from engine.cli.args import positive_float
from engine.progress import Progress

NAME = "map"
HELP = "render a map (zero_shot, location, similarity, fewshot, time) as GeoTIFF + GPKG + PNG"
KINDS = ("zero_shot", "location", "similarity", "fewshot", "time")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("kind", choices=KINDS, help="which map")
    parser.add_argument("--out", type=Path, required=True, help="output folder")
    parser.add_argument("--name", help="output file stem (default: the kind)")
    parser.add_argument("--field", type=Path, help="embedding-field GeoTIFF (embed-raster)")
    parser.add_argument("--head", type=Path, help="head from `fit` (zero_shot, time, location)")
    parser.add_argument("--model", type=Path, help="model folder (time, location)")
    parser.add_argument("--polygons", type=Path, help="also aggregate per polygon (e.g. tracts)")
    parser.add_argument("--id-field", help="polygon id field kept in the output")
    parser.add_argument("--no-align", action="store_true",
                        help="zero_shot/time: do not re-centre the field on the photo mean")
    parser.add_argument("--datetime", help="time: ISO 8601 UTC, e.g. 2023-07-12T14:00:00Z")
    parser.add_argument("--embeddings", type=Path,
                        help="point embeddings (similarity over points; location: labels)")
    parser.add_argument("--target", help="location: label field of --embeddings")
    parser.add_argument("--positive", nargs="+", default=[], metavar="X,Y",
                        help="similarity: example points x,y (in --crs)")
    parser.add_argument("--negative", nargs="+", default=[], metavar="X,Y",
                        help="similarity: counter-example points x,y (in --crs)")
    parser.add_argument("--examples", type=Path,
                        help="similarity: point layer of examples (field --example-field "
                        "1/positive, 0/negative; all positive without it)")
    parser.add_argument("--example-field", help="similarity: the positive/negative field")
    parser.add_argument("--crs", default=None,
                        help="CRS of --positive/--negative/--bounds (default: the field's)")
    parser.add_argument("--points", type=Path, help="fewshot: labelled point layer")
    parser.add_argument("--class-field", help="fewshot: the class field of --points")
    parser.add_argument("--classifier", choices=("logistic", "knn"), default="logistic")
    parser.add_argument("--bounds", nargs=4, type=float, metavar=("XMIN", "YMIN", "XMAX", "YMAX"),
                        help="location: grid extent (in --crs)")
    parser.add_argument("--step", type=positive_float, default=20.0,
                        help="location: grid step (metres)")
    parser.add_argument("--block-size", type=positive_float, default=200.0,
                        help="CV block side in metres (fewshot, location)")
    parser.add_argument("--seed", type=int, default=0)


def _need(args: argparse.Namespace, *names: str) -> None:
    from engine.errors import EngineError

    for n in names:
        if getattr(args, n) is None:
            flag = "--" + n.replace("_", "-")
            raise EngineError(f"map {args.kind} needs {flag}",
                              f"see `python -m engine map {args.kind} --help`")


def _xy_list(items: list[str], what: str) -> np.ndarray:
    from engine.errors import EngineError

    out = []
    for s in items:
        try:
            x, y = (float(v) for v in s.split(","))
        except ValueError:
            raise EngineError(f"{what} point {s!r} is not x,y",
                              "write each point as x,y (no space), e.g. 328500,4421300") from None
        out.append((x, y))
    return np.asarray(out, dtype=np.float64).reshape(-1, 2)


def _examples(args: argparse.Namespace) -> tuple[np.ndarray, np.ndarray, object]:
    """(positives xy, negatives xy, crs) from --positive/--negative or --examples."""
    from engine.maps.field import field_info

    crs = args.crs or (field_info(args.field)["crs"] if args.field else None)
    pos, neg = _xy_list(args.positive, "positive"), _xy_list(args.negative, "negative")
    if args.examples is not None:
        from engine.maps.rows import read_polygons

        gdf = read_polygons(args.examples)
        xy = np.column_stack([gdf.geometry.x.to_numpy(), gdf.geometry.y.to_numpy()])
        if args.example_field:
            flag = np.asarray(gdf[args.example_field]).astype(str)
            is_pos = np.isin(np.char.lower(flag), ["1", "true", "positive", "yes", "1.0"])
        else:
            is_pos = np.ones(len(xy), dtype=bool)
        pos, neg, crs = xy[is_pos], xy[~is_pos], gdf.crs
    return pos, neg, crs


MAP_FILES = (".tif", ".qml", ".gpkg", ".png", "_polygons.png")


def _relocate(value: object, stage: Path, final: Path) -> object:
    """Output paths inside the staging folder -> the same names in the output folder."""
    if isinstance(value, dict):
        return {k: _relocate(v, stage, final) for k, v in value.items()}
    if isinstance(value, str) and value.startswith(str(stage)):
        return str(final) + value[len(str(stage)):]
    return value


def _check_polygons(field: Path | None, polygons: object, path: Path) -> None:
    """EngineError when the --polygons do not overlap the --field."""
    from rasterio.warp import transform_bounds

    from engine.data.coords import bounds_overlap
    from engine.errors import EngineError
    from engine.maps.field import field_info

    if field is None or polygons is None:
        return
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
    inputs = [args.field, args.embeddings, args.polygons, args.points, args.examples]
    check_not_input([final / f"{name}{ext}" for ext in MAP_FILES], inputs)
    check_writable(final / name)
    with staged_folder(final, name) as stage:
        if (final / f"{name}.gpkg").is_file():  # keep the file's other layers
            shutil.copyfile(final / f"{name}.gpkg", stage / f"{name}.gpkg")
        args.out = stage
        try:
            result = _render(args, progress, name)
        finally:
            args.out = final
    return _relocate(result, stage, final)


def _render(args: argparse.Namespace, progress: Progress, name: str) -> dict:
    polygons = None
    if args.polygons is not None:
        from engine.maps.rows import read_polygons

        polygons = read_polygons(args.polygons)
        _check_polygons(args.field, polygons, args.polygons)
    if args.kind == "zero_shot":
        from engine.maps.zero_shot import zero_shot_map

        _need(args, "head", "field")
        return zero_shot_map(args.head, args.field, args.out, name, polygons, args.id_field,
                             not args.no_align, progress)
    if args.kind == "time":
        from engine.maps.time_map import time_map

        _need(args, "model", "head", "field", "datetime")
        return time_map(args.model, args.head, args.field, args.datetime, args.out, name,
                        polygons, args.id_field, not args.no_align, progress)
    if args.kind == "similarity":
        from engine.maps.similarity import similarity_map

        pos, neg, crs = _examples(args)
        return similarity_map(args.out, pos, crs, neg, field_path=args.field,
                              embeddings=args.embeddings, name=name, progress=progress)
    if args.kind == "fewshot":
        from engine.maps.fewshot import fewshot_map

        _need(args, "field", "points", "class_field")
        return fewshot_map(args.field, args.points, args.class_field, args.out,
                           head=args.classifier, name=name, block_size_m=args.block_size,
                           seed=args.seed, progress=progress)
    from engine.maps.location import location_map

    _need(args, "model", "embeddings", "target")
    return location_map(args.model, args.embeddings, args.target, args.out, name=name,
                        bounds=args.bounds, crs=args.crs, step_m=args.step,
                        block_size_m=args.block_size, seed=args.seed, polygons=polygons,
                        progress=progress)
