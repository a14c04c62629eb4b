"""`python -m engine fit`: a light head on embeddings with spatial block cross-validation."""

from __future__ import annotations

import argparse
from pathlib import Path

from engine.cli.args import int_in, positive_float
from engine.defaults import BLOCK_M, FOLDS, HEAD, HEADS
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
    parser.add_argument("--fuse-field", type=Path,
                        help="near/remote fusion: also join this overhead embedding field "
                        "(pixel under each photo, or mean over each polygon) to the "
                        "--embeddings vectors; a ridge head is then each view's ridge, "
                        "stacked by weights fitted on spatial out-of-fold predictions")
    parser.add_argument("--fuse-embeddings", type=Path,
                        help="also join a second embedding of the same photos (embed-points "
                        "of another model over the same photo layer, e.g. the frozen "
                        "backbone next to a geographic recipe); a ridge head is then each "
                        "view's ridge, stacked, as with --fuse-field")
    parser.add_argument("--target", required=True,
                        help="the label field, or an expression over fields and area_km2 "
                        "(equal-area km²), e.g. 'population / area_km2'")
    parser.add_argument("--head", choices=HEADS, default=HEAD)
    parser.add_argument("--block-size", type=positive_float, default=BLOCK_M,
                        help="spatial CV block side in metres (default: derived from the "
                        "labels: 2 x the median polygon diameter, or from the points' extent)")
    parser.add_argument("--folds", type=int_in(2, 1000), default=FOLDS,
                        help=f"CV folds (default {FOLDS}; fewer, said in the report, when the "
                        "blocks are fewer)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, required=True,
                        help="head path: writes OUT.safetensors, OUT.json and OUT.cv.json")


def run(args: argparse.Namespace, progress: Progress) -> dict:
    from engine.api.commands import fit

    return fit(args.out, args.target, embeddings=args.embeddings, field=args.field,
               layer=args.layer, polygons=args.polygons, polygons_layer=args.polygons_layer,
               head=args.head, block_size=args.block_size, folds=args.folds, seed=args.seed,
               fuse_field=args.fuse_field, fuse_embeddings=args.fuse_embeddings,
               progress=progress)
