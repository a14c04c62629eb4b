"""`python -m engine embed-locations`: location-encoder embeddings over a grid or at points."""

from __future__ import annotations

import argparse
from pathlib import Path

from engine.cli.args import positive_float
from engine.defaults import DEVICE, DEVICES, FIELD_DTYPE, FIELD_DTYPES
from engine.progress import Progress

NAME = "embed-locations"
HELP = "location-encoder embeddings over a grid (GeoTIFF) or at points (GeoPackage)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--model", type=Path, required=True,
                        help="model folder (models/<name> with config.yaml + model.safetensors)")
    parser.add_argument("--out", type=Path, required=True,
                        help="OUT.tif for a grid, OUT.gpkg for points")
    parser.add_argument("--bounds", type=float, nargs=4,
                        metavar=("XMIN", "YMIN", "XMAX", "YMAX"), default=None,
                        help="grid extent in --crs")
    parser.add_argument("--crs", default="EPSG:4326", help="CRS of --bounds (default EPSG:4326)")
    parser.add_argument("--step", type=positive_float, default=None,
                        help="grid cell size in metres")
    parser.add_argument("--points", type=Path, default=None, help="point layer instead of a grid")
    parser.add_argument("--layer-name", default=None, help="layer inside a multi-layer file")
    parser.add_argument("--dtype", choices=FIELD_DTYPES, default=FIELD_DTYPE)
    parser.add_argument("--device", choices=DEVICES, default=DEVICE)
    parser.add_argument("--overwrite", action="store_true",
                        help="replace an 'embeddings' layer of OUT.gpkg that another command "
                        "(e.g. embed-points) wrote, and remove its stale OUT.faiss")


def run(args: argparse.Namespace, progress: Progress) -> dict:
    from engine.api.commands import embed_locations

    return embed_locations(args.model, args.out, bounds=args.bounds, crs=args.crs,
                           step=args.step, points=args.points, layer_name=args.layer_name,
                           dtype=args.dtype, device=args.device, overwrite=args.overwrite,
                           progress=progress)
