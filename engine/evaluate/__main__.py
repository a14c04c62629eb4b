"""`python -m engine.evaluate --out docs/BENCHMARK.md [--quick] [--city DIR] [--seeds N]`."""

from __future__ import annotations

import argparse
import logging
import shlex
import sys
from pathlib import Path

from engine.errors import EngineError


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """The benchmark's command line."""
    p = argparse.ArgumentParser(prog="python -m engine.evaluate",
                                description="train the recipes, run the seeds' tasks, "
                                            "write a Markdown report")
    p.add_argument("--out", type=Path, required=True, help="report path (e.g. docs/BENCHMARK.md)")
    p.add_argument("--quick", action="store_true",
                   help="small city, 1 seed, few steps (a smoke run of every task)")
    p.add_argument("--city", type=Path, default=None,
                   help="sample-city directory, generated there when missing (default: "
                        "data/sample-city; --quick: WORK/city-small)")
    p.add_argument("--seeds", type=int, default=None, help="training seeds (default 3; quick 1)")
    p.add_argument("--steps", type=int, default=None, help="override the training steps")
    p.add_argument("--work", type=Path, default=None,
                   help="where models and maps go (default out/benchmark[-quick])")
    p.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark; prints the report path, or the error and its hint."""
    args = parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    for noisy in ("rasterio", "pyogrio", "matplotlib", "PIL", "fiona"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    command = shlex.join(["python", "-m", "engine.evaluate",
                          *(sys.argv[1:] if argv is None else argv)])
    try:
        return _run(args, command)
    except EngineError as exc:
        print(f"error: {exc.message}\nhint: {exc.hint}", file=sys.stderr)
        return 2


def _run(args: argparse.Namespace, command: str) -> int:
    import torch

    from engine.demo.pipeline import default_city, ensure_city
    from engine.evaluate.report import write_report
    from engine.evaluate.runner import bench_settings, run_benchmark
    from engine.train.config import resolve_path

    if args.threads:
        torch.set_num_threads(int(args.threads))
    quick = bench_settings(args.quick)
    work = (args.work or resolve_path("out/benchmark-quick" if args.quick
                                      else "out/benchmark")).resolve()
    # the full run shares the demo's city (data/sample-city); --quick keeps its own small one
    city = (args.city or (work / "city-small" if args.quick else default_city())).resolve()
    info = ensure_city(city, quick.preset, 0)
    settings = bench_settings(args.quick, args.seeds, args.steps, info.get("preset"))
    if settings.seeds < 1 or settings.steps < 1:
        raise EngineError(f"--seeds and --steps must be at least 1, got {settings.seeds} and "
                          f"{settings.steps}", "use e.g. --seeds 3 --steps 300")

    def progress(done: int, total: int, stage: str) -> None:
        logging.getLogger("engine.evaluate").info("%s %d/%d", stage, done, total)

    result = run_benchmark(city, work, settings, progress)
    paths = write_report(args.out.resolve(), result, command)
    print(paths["report"])
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
