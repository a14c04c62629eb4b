"""`python -m engine embed-points`: one embedding per street-view photo -> OUT.gpkg + OUT.faiss."""

from __future__ import annotations

import argparse
from pathlib import Path

from engine.cli.args import (
    MAX_BATCH,
    MAX_IMAGE_PX,
    MAX_WORKERS,
    add_photo_dir_argument,
    add_runtime_argument,
    int_in,
    model_help,
)
from engine.cli.view_args import add_view_arguments, view_settings
from engine.defaults import (
    DEVICE,
    DEVICES,
    EMBED_BATCH,
    EMBED_WORKERS,
    IMAGE_PX,
)
from engine.progress import Progress

NAME = "embed-points"
HELP = "embed every photo of a street-view layer (GeoPackage with vectors + faiss index)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--model", type=Path, required=True,
                        help=model_help())
    parser.add_argument("--layer", type=Path, required=True,
                        help="street-view point layer (.gpkg/.geojson/.shp/.csv or photo folder)")
    parser.add_argument("--layer-name", default=None,
                        help="layer inside a multi-layer file (default: 'streetview' or the only)")
    parser.add_argument("--out", type=Path, required=True, help="output GeoPackage OUT.gpkg")
    parser.add_argument("--batch-size", type=int_in(1, MAX_BATCH), default=EMBED_BATCH)
    parser.add_argument("--image-size", type=int_in(8, MAX_IMAGE_PX), default=None,
                        help=f"photo size in px (default: the model's training size, else "
                        f"{IMAGE_PX})")
    parser.add_argument("--workers", type=int_in(0, MAX_WORKERS), default=EMBED_WORKERS,
                        help="photo-decoding processes")
    parser.add_argument("--device", choices=DEVICES, default=DEVICE)
    parser.add_argument("--overwrite", action="store_true",
                        help="replace an 'embeddings' layer of OUT.gpkg that another command "
                        "(or program) wrote")
    add_runtime_argument(parser)
    add_photo_dir_argument(parser)
    add_view_arguments(parser, from_model=True)


def run(args: argparse.Namespace, progress: Progress) -> dict:
    from engine.api.commands import embed_points

    return embed_points(args.model, args.layer, args.out, layer_name=args.layer_name,
                        photo_dir=args.photo_dir,
                        image_size=args.image_size, batch_size=args.batch_size,
                        workers=args.workers, device=args.device, runtime=args.runtime,
                        overwrite=args.overwrite, progress=progress, **view_settings(args))
