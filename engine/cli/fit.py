"""`python -m engine fit`: a light head on embeddings with spatial block cross-validation."""

from __future__ import annotations

import argparse
from pathlib import Path

from engine.cli.args import int_in, positive_float
from engine.progress import Progress

NAME = "fit"
HELP = ("fit a ridge/logistic/k-NN head on point embeddings (labels from a point field or "
        "from polygons) with spatial block CV; saves the head (safetensors + JSON) and the "
        "CV report")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--embeddings", type=Path,
                        help="point-embedding GeoPackage (python -m engine embed-points)")
    parser.add_argument("--field", type=Path,
                        help="embedding-field GeoTIFF (with --polygons: pixels averaged "
                        "per polygon)")
    parser.add_argument("--layer", help="layer of --embeddings (default: the embedding layer)")
    parser.add_argument("--polygons", type=Path,
                        help="polygon layer holding the labels (e.g. tracts.gpkg): embeddings "
                        "are averaged per polygon")
    parser.add_argument("--polygons-layer", help="layer of --polygons")
    parser.add_argument("--target", required=True, help="the label field")
    parser.add_argument("--head", choices=("ridge", "logistic", "knn"), default="ridge")
    parser.add_argument("--block-size", type=positive_float, default=200.0,
                        help="spatial CV block side in metres (default 200)")
    parser.add_argument("--folds", type=int_in(2, 1000), default=5, help="CV folds (default 5)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, required=True,
                        help="head path: writes OUT.safetensors, OUT.json and OUT.cv.json")


def run(args: argparse.Namespace, progress: Progress) -> dict:
    from engine.errors import EngineError
    from engine.export.guard import prepare_output
    from engine.maps.fit import fit_rows
    from engine.maps.rows import point_rows, polygon_rows

    base = args.out.with_suffix("") if args.out.suffix in (".json", ".safetensors") else args.out
    prepare_output(args.out, [args.embeddings, args.field, args.polygons],
                   [base.with_name(base.name + s) for s in (".safetensors", ".json", ".cv.json")])
    if args.polygons is not None:
        rows = polygon_rows(args.polygons, args.target, embeddings=args.embeddings,
                            field=args.field, layer=args.polygons_layer)
    elif args.embeddings is not None:
        rows = point_rows(args.embeddings, args.target, layer=args.layer)
    else:
        raise EngineError("fit needs labelled rows",
                          "pass --embeddings POINTS.gpkg (labels in a point field) or "
                          "--polygons LAYER with --embeddings or --field")
    return fit_rows(rows, args.out, head=args.head, target=args.target,
                    block_size_m=args.block_size, n_folds=args.folds, seed=args.seed,
                    progress=progress)
