"""`python -m engine evaluate` (= `python -m engine.evaluate`): the benchmark, with events.

Trains the recipes the tasks need, runs the seeds' tasks against the baselines and writes a
Markdown report (docs/BENCHMARK.md by `make benchmark`).
"""

from __future__ import annotations

import argparse
import shlex
import sys
from dataclasses import replace
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
                        help="one sample-city directory to use instead of the protocol's "
                             "cities (generated there when missing)")
    parser.add_argument("--cities", type=int, nargs="+", default=None,
                        help="sample-city seeds, each generated once into WORK/cities/ "
                             "(default 0 1 2; quick 0; e.g. --quick --cities 0 1 for two)")
    parser.add_argument("--seeds", type=int, default=None,
                        help="training seeds per city (default 3; quick 1)")
    parser.add_argument("--steps", type=int, default=None, help="override the training steps")
    parser.add_argument("--work", type=Path, default=None,
                        help="where models and maps go (default out/benchmark[-quick])")
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    parser.add_argument("--recipes", nargs="*", default=None,
                        help="a partial run: train only these recipes (e.g. lite0_temporal; "
                             "none given: no recipe); the seed-free baselines still run")
    parser.add_argument("--overhead-grid-m", type=float, default=None,
                        help="spacing of the overhead chips' grid in metres (the overhead "
                             "tract and fusion tasks; default: the protocol's)")
    parser.add_argument("--tasks", nargs="+", default=None,
                        help="a partial run: score only these tasks (e.g. vpr); names: "
                             "vpr socioeconomic socioeconomic_overhead perception cross_view "
                             "map_fidelity location_encoders landsat")


def run(args: argparse.Namespace, progress: Progress) -> dict:
    import time

    import torch

    from engine.evaluate.city import cached_city, ensure_city
    from engine.evaluate.report import write_report
    from engine.evaluate.runner import run_benchmark
    from engine.evaluate.settings import PRESETS, settings_for
    from engine.paths import resolve_path

    t0 = time.perf_counter()
    if args.overhead_grid_m is not None and not args.overhead_grid_m > 0:
        raise EngineError(f"--overhead-grid-m must be > 0 metres, got {args.overhead_grid_m}",
                          "use e.g. --overhead-grid-m 25")
    if args.threads:
        torch.set_num_threads(int(args.threads))
    name = "benchmark-quick" if args.quick else "benchmark"
    base = PRESETS[name]
    work = (args.work or resolve_path("out/benchmark-quick" if args.quick
                                      else "out/benchmark")).resolve()
    if args.city is not None:
        infos = [ensure_city(args.city.resolve(), base.preset, 0, progress)]
    else:
        seeds = args.cities if args.cities else list(base.cities)
        infos = [cached_city(work / "cities", base.preset, c, base.tract_grid, progress)
                 for c in dict.fromkeys(seeds)]
    presets = {i.get("preset") for i in infos}
    if len(presets) != 1:
        raise EngineError(f"the cities mix sample-city presets {sorted(map(str, presets))}",
                          "pass cities of one preset (--city DIR or --cities SEED ...)")
    settings = settings_for(name, presets.pop(), args.seeds, args.steps)
    cities = [(int(i.get("seed") or 0), Path(i["city"])) for i in infos]
    settings = replace(settings, cities=tuple(c for c, _ in cities),
                       only_recipes=None if args.recipes is None else tuple(args.recipes),
                       only_tasks=tuple(args.tasks) if args.tasks else None)
    if args.overhead_grid_m is not None:
        settings = replace(settings, overhead_grid_m=float(args.overhead_grid_m))
    if settings.seeds < 1 or settings.steps < 1:
        raise EngineError(f"--seeds and --steps must be at least 1, got {settings.seeds} and "
                          f"{settings.steps}", "use e.g. --seeds 3 --steps 300")
    result = run_benchmark(cities, work, settings, progress)
    result["timings_s"]["wall (cities, training, evaluation, report set-up)"] = \
        round(time.perf_counter() - t0, 1)
    argv = sys.argv[1:]
    argv = argv[1:] if argv[:1] == ["evaluate"] else argv  # `python -m engine evaluate ...`
    command = shlex.join(["python", "-m", "engine.evaluate", *argv])
    paths = write_report(args.out.resolve(), result, command)
    return {"report": str(paths["report"]), **{k: str(v) for k, v in paths.items()}}
