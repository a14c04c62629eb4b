"""`python -m engine embed-raster`: overhead raster -> embedding-field GeoTIFF (+ PCA preview)."""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

from engine.cli.args import MAX_BATCH, MAX_CHIP_PX, int_in
from engine.progress import Progress

NAME = "embed-raster"
HELP = "embed an overhead raster chip by chip into an embedding-field GeoTIFF (COG)"
log = logging.getLogger(__name__)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--model", type=Path, required=True,
                        help="model folder (models/<name> with config.yaml + model.safetensors) "
                        "or a zoo name (zoo:efficientnet_lite0, _lite1, _lite2)")
    parser.add_argument("--raster", type=Path, required=True, help="overhead GeoTIFF")
    parser.add_argument("--out", type=Path, required=True, help="output field OUT.tif")
    parser.add_argument("--chip", type=int_in(4, MAX_CHIP_PX), default=None,
                        help="chip size in raster pixels (default: the model's chip size, else 64)")
    parser.add_argument("--stride", type=int_in(1, MAX_CHIP_PX), default=None,
                        help="raster pixels per output pixel (default: half the chip)")
    parser.add_argument("--chip-m", type=float, default=None,
                        help="chip size in metres (converted with the raster's pixel size; "
                        "overrides --chip; default: the model's chip in metres when it has one)")
    parser.add_argument("--stride-m", type=float, default=None,
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
    parser.add_argument("--dtype", choices=("float16", "int8", "float32"), default="float16")
    parser.add_argument("--encoder", choices=("auto", "overhead", "image"), default="auto",
                        help="auto: the overhead encoder when the model has one")
    parser.add_argument("--bbox", type=float, nargs=4, metavar=("XMIN", "YMIN", "XMAX", "YMAX"),
                        default=None, help="limit to this box (in the raster's CRS)")
    parser.add_argument("--mask", type=Path, default=None,
                        help="polygon layer: embed only pixels inside its polygons")
    parser.add_argument("--batch-size", type=int_in(1, MAX_BATCH), default=64)
    parser.add_argument("--device", choices=("auto", "cpu", "cuda"), default="auto")
    parser.add_argument("--no-preview", action="store_true", help="skip the PCA preview")


def run(args: argparse.Namespace, progress: Progress) -> dict:
    from engine.embed.raster import embed_raster
    from engine.export.guard import prepare_output
    from engine.models.folder import ModelFolder

    out = args.out
    prepare_output(out, [args.raster, args.model, args.mask],
                   [out.with_suffix(".json"), out.with_name(out.stem + "_pca.tif")],
                   suffixes=(".tif", ".tiff"))
    folder = ModelFolder.open(args.model)
    model = folder.load()
    sizes = folder.input_sizes()
    if sizes.get("chip_res_m"):
        log.warning("the model was trained on chips resampled to %s m/px; embed-raster cuts "
                    "chips on the raster's own grid", sizes["chip_res_m"])
    record = folder.raster_record()
    chip_m = args.chip_m
    if chip_m is None and args.chip is None and record and record.get("chip_m"):
        chip_m = float(record["chip_m"])  # the model's chip, in metres
    chip = args.chip if args.chip is not None else int(sizes.get("chip_size", 64))
    return embed_raster(model, args.raster, args.out, chip_px=chip, stride_px=args.stride,
                        encoder=args.encoder, dtype=args.dtype, bbox=args.bbox, mask=args.mask,
                        batch_size=args.batch_size, progress=progress, device=args.device,
                        model_name=folder.name, preview=not args.no_preview, chip_m=chip_m,
                        stride_m=args.stride_m, expected=record, bands=args.bands,
                        scaling=args.scaling, scale=args.scale)
