"""`python -m engine embed-locations`: location-encoder embeddings over a grid or at points."""

from __future__ import annotations

import argparse
from pathlib import Path

from engine.cli.args import positive_float
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
    parser.add_argument("--dtype", choices=("float16", "int8", "float32"), default="float16")
    parser.add_argument("--device", choices=("auto", "cpu", "cuda"), default="auto")
    parser.add_argument("--overwrite", action="store_true",
                        help="replace an 'embeddings' layer of OUT.gpkg that another command "
                        "(e.g. embed-points) wrote, and remove its stale OUT.faiss")


def run(args: argparse.Namespace, progress: Progress) -> dict:
    from engine.embed.locations import COMMAND, embed_locations
    from engine.export.guard import prepare_output
    from engine.models.folder import ModelFolder

    out = args.out
    gpkg = out.suffix.lower() == ".gpkg"
    prepare_output(out, [args.points, args.model],
                   [] if gpkg else [out.with_name(out.stem + "_pca.tif")],
                   suffixes=(".gpkg", ".tif", ".tiff"), layer="embeddings" if gpkg else None,
                   command=COMMAND, overwrite=args.overwrite)
    folder = ModelFolder.open(args.model)
    model = folder.load()
    return embed_locations(model, args.out, bounds=args.bounds, step_m=args.step, crs=args.crs,
                           points=args.points, layer=args.layer_name, dtype=args.dtype,
                           progress=progress, device=args.device,
                           model_name=folder.name, overwrite=args.overwrite)
