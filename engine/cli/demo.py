"""`python -m engine demo` (= `make demo`): the whole job on the sample city, with a report."""

from __future__ import annotations

import argparse
from pathlib import Path

from engine.progress import Progress

NAME = "demo"
HELP = ("sample city -> pretrain cross-view -> embed -> fit heads (spatial CV) -> zero-shot "
        "maps -> report.md (reuses a trained model when the config is unchanged)")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--out", type=Path, default=None,
                        help="output folder (default: out/sample-city under the project root)")
    parser.add_argument("--city", type=Path,
                        help="sample city folder (default data/sample-city; generated if missing)")
    parser.add_argument("--quick", action="store_true",
                        help="small city, short training: a run of a minute or so")
    parser.add_argument("--retrain", action="store_true", help="train even if a model exists")
    parser.add_argument("--steps", type=int, help="training steps (default: the preset's)")
    parser.add_argument("--no-baseline", action="store_true",
                        help="skip the random-init encoder baseline")


def run(args: argparse.Namespace, progress: Progress) -> dict:
    from engine.demo.pipeline import run_demo
    from engine.paths import resolve_path

    out = args.out or resolve_path("out/sample-city")
    return run_demo(out, args.city, quick=args.quick, retrain=args.retrain,
                    steps=args.steps, baseline=not args.no_baseline, progress=progress)
