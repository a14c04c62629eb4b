"""`python -m engine evaluate` (= `python -m engine.evaluate`): the benchmark, with events.

Trains the recipes the tasks need, runs the seeds' tasks against the baselines and writes a
Markdown report (docs/BENCHMARK.md by `make benchmark`).
"""

from __future__ import annotations

import argparse
import shlex
import sys
from pathlib import Path

from engine.errors import EngineError
from engine.progress import Progress

NAME = "evaluate"
HELP = "benchmark: train the recipes, run VPR/socioeconomic/perception/cross-view/map tasks " \
       "against baselines, write a Markdown report"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--out", type=Path, required=True,
                        help="report path (e.g. docs/BENCHMARK.md)")
    parser.add_argument("--quick", action="store_true",
                        help="small city, 1 seed, few steps (a smoke run of every task)")
    parser.add_argument("--city", type=Path, default=None,
                        help="sample-city directory, generated there when missing (default: "
                             "data/sample-city; --quick: WORK/city-small)")
    parser.add_argument("--seeds", type=int, default=None,
                        help="training seeds (default 3; quick 1)")
    parser.add_argument("--steps", type=int, default=None, help="override the training steps")
    parser.add_argument("--work", type=Path, default=None,
                        help="where models and maps go (default out/benchmark[-quick])")
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads")


def run(args: argparse.Namespace, progress: Progress) -> dict:
    import torch

    from engine.evaluate.city import default_city, ensure_city
    from engine.evaluate.report import write_report
    from engine.evaluate.runner import run_benchmark
    from engine.evaluate.settings import PRESETS, settings_for
    from engine.paths import resolve_path

    if args.threads:
        torch.set_num_threads(int(args.threads))
    name = "benchmark-quick" if args.quick else "benchmark"
    work = (args.work or resolve_path("out/benchmark-quick" if args.quick
                                      else "out/benchmark")).resolve()
    # the full run shares the demo's city (data/sample-city); --quick keeps its own small one
    city = (args.city or (work / "city-small" if args.quick else default_city())).resolve()
    info = ensure_city(city, PRESETS[name].preset, 0, progress)
    settings = settings_for(name, info.get("preset"), args.seeds, args.steps)
    if settings.seeds < 1 or settings.steps < 1:
        raise EngineError(f"--seeds and --steps must be at least 1, got {settings.seeds} and "
                          f"{settings.steps}", "use e.g. --seeds 3 --steps 300")
    result = run_benchmark(city, work, settings, progress)
    argv = sys.argv[1:]
    argv = argv[1:] if argv[:1] == ["evaluate"] else argv  # `python -m engine evaluate ...`
    command = shlex.join(["python", "-m", "engine.evaluate", *argv])
    paths = write_report(args.out.resolve(), result, command)
    return {"report": str(paths["report"]), **{k: str(v) for k, v in paths.items()}}
