"""`python -m engine map <kind>`: GeoTIFF + styled GeoPackage + PNG maps from embeddings.

Kinds: zero_shot (head on photo embeddings -> overhead embedding field), location (head on
location-encoder embeddings -> grid), similarity (example points, no head), fewshot
(labelled points and/or polygons -> class map), time (zero-shot at a chosen --datetime),
predict (a head fitted on the field itself -> map, no re-centring; --mask, --clip).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from engine.progress import Progress

NAME = "map"
HELP = ("render a map (zero_shot, location, similarity, fewshot, time, predict) as GeoTIFF + "
        "GPKG + PNG")
KINDS = ("zero_shot", "location", "similarity", "fewshot", "time", "predict")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("kind", choices=KINDS, help="which map")
    parser.add_argument("--out", type=Path, required=True, help="output folder")
    parser.add_argument("--name", help="output file stem (default: the kind)")
    parser.add_argument("--field", type=Path, help="embedding-field GeoTIFF (embed-raster)")
    parser.add_argument("--head", type=Path,
                        help="head from `fit` (zero_shot, time, predict)")
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
    parser.add_argument("--class-polygons", type=Path,
                        help="fewshot: labelled polygon layer (its --class-field); their field "
                        "cells are examples")
    parser.add_argument("--classifier", choices=("logistic", "knn"), default="logistic")
    parser.add_argument("--mask", type=Path,
                        help="predict: polygon layer (e.g. land only); pixels outside are nodata")
    parser.add_argument("--clip", action="store_true",
                        help="predict: clip predictions to the training target range (the "
                        "flag band marks them either way)")
    parser.add_argument("--bounds", nargs=4, type=float, metavar=("XMIN", "YMIN", "XMAX", "YMAX"),
                        help="location: grid extent (in --crs)")
    parser.add_argument("--step", type=float, default=20.0, help="location: grid step (metres)")
    parser.add_argument("--block-size", type=float, default=None,
                        help="CV block side in metres (fewshot, location; default: derived "
                        "from the labels' geometry)")
    parser.add_argument("--folds", type=int, default=3,
                        help="CV folds (fewshot; fewer when the blocks are fewer)")
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


def run(args: argparse.Namespace, progress: Progress) -> dict:
    name = args.name or args.kind
    polygons = None
    if args.polygons is not None:
        from engine.maps.rows import read_polygons

        polygons = read_polygons(args.polygons)
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

        _need(args, "field", "class_field")
        if args.points is None:
            _need(args, "class_polygons")
        return fewshot_map(args.field, args.points, args.class_field, args.out,
                           head=args.classifier, name=name, block_size_m=args.block_size,
                           n_folds=args.folds, seed=args.seed, progress=progress,
                           polygons=args.class_polygons)
    if args.kind == "predict":
        from engine.maps.predict import predict_map

        _need(args, "head", "field")
        return predict_map(args.head, args.field, args.out, name, polygons, args.id_field,
                           clip=args.clip, mask=args.mask, progress=progress)
    from engine.maps.location import location_map

    _need(args, "model", "embeddings", "target")
    return location_map(args.model, args.embeddings, args.target, args.out, name=name,
                        bounds=args.bounds, crs=args.crs, step_m=args.step,
                        block_size_m=args.block_size, seed=args.seed, polygons=polygons,
                        progress=progress)
