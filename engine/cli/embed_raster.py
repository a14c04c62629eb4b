"""`python -m engine embed-raster`: overhead raster -> embedding-field GeoTIFF (+ PCA preview)."""

from __future__ import annotations

import argparse
from pathlib import Path

from engine.cli.args import (
    MAX_BATCH,
    MAX_CHIP_PX,
    add_runtime_argument,
    int_in,
    model_help,
    positive_float,
)
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
                        help=model_help())
    parser.add_argument("--raster", type=Path, required=True, help="overhead GeoTIFF")
    parser.add_argument("--out", type=Path, required=True, help="output field OUT.tif")
    parser.add_argument("--chip", type=int_in(4, MAX_CHIP_PX), default=None,
                        help=f"chip size in raster pixels (default: the model's, else {CHIP_PX})")
    parser.add_argument("--stride", type=int_in(1, MAX_CHIP_PX), default=None,
                        help=f"raster pixels per output pixel (default: chip / {STRIDE_PER_CHIP})")
    parser.add_argument("--chip-m", type=positive_float, default=None,
                        help="chip size in metres (converted with the raster's pixel size; "
                        "overrides --chip; default: the model's chip in metres when it has one)")
    parser.add_argument("--stride-m", type=positive_float, default=None,
                        help="output pixel size in metres (overrides --stride)")
    parser.add_argument("--bands", default=None,
                        help="bands by 1-based index or description, e.g. 4,3,2 or "
                        "nir,red,green (default: the model's bands)")
    parser.add_argument("--scaling", choices=("stats", "tags", "uint8"), default=None,
                        help="raw values -> model input (default: the model's; 8-bit RGB "
                        "models: uint8)")
    parser.add_argument("--scale", default=None, metavar="SCALE[,OFFSET]",
                        help="raw * SCALE + OFFSET before scaling (default: the raster's "
                        "scale/offset tags)")
    parser.add_argument("--dtype", choices=FIELD_DTYPES, default=FIELD_DTYPE)
    parser.add_argument("--encoder", choices=ENCODERS, default=ENCODER,
                        help="auto: the overhead encoder when the model has one")
    parser.add_argument("--bbox", type=float, nargs=4, metavar=("XMIN", "YMIN", "XMAX", "YMAX"),
                        default=None, help="limit to this box (in the raster's CRS)")
    parser.add_argument("--mask", type=Path, default=None,
                        help="polygon layer: embed only pixels inside its polygons")
    parser.add_argument("--batch-size", type=int_in(1, MAX_BATCH), default=EMBED_BATCH)
    parser.add_argument("--device", choices=DEVICES, default=DEVICE)
    parser.add_argument("--no-preview", action="store_true", help="skip the PCA preview")
    add_runtime_argument(parser)


def run(args: argparse.Namespace, progress: Progress) -> dict:
    from engine.api.commands import embed_raster

    return embed_raster(args.model, args.raster, args.out, chip=args.chip, stride=args.stride,
                        chip_m=args.chip_m, stride_m=args.stride_m, bands=args.bands,
                        scaling=args.scaling, scale=args.scale, dtype=args.dtype,
                        encoder=args.encoder, bbox=args.bbox, mask=args.mask,
                        batch_size=args.batch_size, device=args.device,
                        preview=not args.no_preview, runtime=args.runtime,
                        progress=progress)
