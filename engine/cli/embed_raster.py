"""`python -m engine embed-raster`: overhead raster -> embedding-field GeoTIFF (+ PCA preview)."""

from __future__ import annotations

import argparse
from pathlib import Path

from engine.defaults import (
    CHIP_PX,
    DEVICE,
    DEVICES,
    EMBED_BATCH,
    ENCODER,
    ENCODERS,
    FIELD_DTYPE,
    FIELD_DTYPES,
    STRIDE_PER_CHIP,
)
from engine.progress import Progress

NAME = "embed-raster"
HELP = "embed an overhead raster chip by chip into an embedding-field GeoTIFF (COG)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--model", type=Path, required=True,
                        help="model folder (models/<name> with config.yaml + model.safetensors)")
    parser.add_argument("--raster", type=Path, required=True, help="overhead GeoTIFF")
    parser.add_argument("--out", type=Path, required=True, help="output field OUT.tif")
    parser.add_argument("--chip", type=int, default=None,
                        help=f"chip size in raster pixels (default: the model's, else {CHIP_PX})")
    parser.add_argument("--stride", type=int, default=None,
                        help=f"raster pixels per output pixel (default: chip / {STRIDE_PER_CHIP})")
    parser.add_argument("--dtype", choices=FIELD_DTYPES, default=FIELD_DTYPE)
    parser.add_argument("--encoder", choices=ENCODERS, default=ENCODER,
                        help="auto: the overhead encoder when the model has one")
    parser.add_argument("--bbox", type=float, nargs=4, metavar=("XMIN", "YMIN", "XMAX", "YMAX"),
                        default=None, help="limit to this box (in the raster's CRS)")
    parser.add_argument("--mask", type=Path, default=None,
                        help="polygon layer: embed only pixels inside its polygons")
    parser.add_argument("--batch-size", type=int, default=EMBED_BATCH)
    parser.add_argument("--device", choices=DEVICES, default=DEVICE)
    parser.add_argument("--no-preview", action="store_true", help="skip the PCA preview")


def run(args: argparse.Namespace, progress: Progress) -> dict:
    from engine.api.commands import embed_raster

    return embed_raster(args.model, args.raster, args.out, chip=args.chip, stride=args.stride,
                        dtype=args.dtype, encoder=args.encoder, bbox=args.bbox, mask=args.mask,
                        batch_size=args.batch_size, device=args.device,
                        preview=not args.no_preview, progress=progress)
