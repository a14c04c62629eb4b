"""`python -m engine train` / `python -m engine.train`: pretrain a GeoModel from a recipe."""

from __future__ import annotations

import argparse
import logging
import os
from pathlib import Path

from engine.progress import Progress, no_progress

NAME = "train"
HELP = "pretrain a model from a recipe (models/*.yaml) with key=value overrides; torchrun-ready"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", type=Path, required=True,
                        help="recipe YAML, e.g. models/crossview_spatial.yaml")
    parser.add_argument("overrides", nargs="*", metavar="KEY=VALUE",
                        help="dotted overrides, e.g. train.steps=50 objectives.temporal.weight=0.5")
    parser.add_argument("--raster", action="append", type=Path, default=None,
                        help="an overhead raster to train on; repeat for several dates (sets "
                        "data.overhead; paths from the current directory), e.g. for "
                        "models/overhead_*.yaml")
    parser.add_argument("--resume", action="store_true",
                        help="continue from the run's last checkpoint")
    parser.add_argument("--allow-changed-config", action="store_true",
                        help="with --resume: accept hyperparameters that differ from the "
                        "checkpoint's (the model card records the change)")


def run(args: argparse.Namespace, progress: Progress) -> dict:
    from engine.train.config import load_config
    from engine.train.loop import train

    overrides = list(args.overrides)
    if args.raster:
        listed = ",".join(f'"{p.expanduser().resolve()}"' for p in args.raster)
        overrides.append(f"data.overhead=[{listed}]")
    cfg = load_config(args.config, overrides)
    args.out = cfg.output_dir()  # what an OS error (disk full, read-only) is reported about
    if int(os.environ.get("RANK", "0")) != 0:
        progress = no_progress  # one progress bar and one log per job, not per rank
        logging.getLogger("engine").setLevel(logging.WARNING)
    return train(cfg, progress=progress, resume=args.resume,
                 allow_changed_config=args.allow_changed_config)
