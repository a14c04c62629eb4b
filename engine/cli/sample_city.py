"""`python -m engine sample-city`: write the embedded, deterministic sample city."""

from __future__ import annotations

import argparse
from pathlib import Path

from engine.progress import Progress

NAME = "sample-city"
HELP = "generate the deterministic sample city (photos, overhead rasters, tracts, truth)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--out", type=Path, required=True, help="output directory")
    parser.add_argument("--seed", type=int, default=0, help="random seed (same seed, same bytes)")
    parser.add_argument("--preset", choices=("small", "default"), default="default")
    parser.add_argument("--tract-grid", type=int, default=None,
                        help="tracts per side (default: the preset's, 3 small / 7 default); "
                             "more gives more, smaller tracts")
    parser.add_argument("--panoramas", action="store_true",
                        help="also render one 360° equirectangular panorama per capture "
                             "(photos/*_pano.jpg, panoramas.gpkg)")


def run(args: argparse.Namespace, progress: Progress) -> dict:
    from engine.data.sample_city import generate

    return generate(args.out, seed=args.seed, preset=args.preset, progress=progress,
                    tract_grid=args.tract_grid, panoramas=args.panoramas)
