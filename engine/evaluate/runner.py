"""Run the benchmark: train each recipe per seed (short step counts), run every task on the
trained models and the baselines, and return plain result rows (one per encoder, seed,
task and target).
"""

from __future__ import annotations

import logging
import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import yaml

from engine.errors import EngineError
from engine.evaluate import tasks
from engine.evaluate.context import CityContext, EvalSettings, load_city
from engine.progress import Progress, no_progress

log = logging.getLogger(__name__)

IMAGE_RECIPES = ("urbanstcl_self", "urbanstcl_temporal", "urbanstcl_spatial",
                 "crossview_spatial")
CROSS_VIEW_RECIPE = "crossview_spatial"
RANDOM = "random-init"
PIXELS = "raw pixels"


@dataclass(frozen=True)
class BenchSettings:
    """How big a benchmark run is: city preset, seeds, training steps, task sizes."""

    preset: str = "default"
    seeds: int = 3
    steps: int = 300
    csp_steps: int = 300
    batch_size: int = 32
    stride_px: int = 16
    eval: EvalSettings = field(default_factory=EvalSettings)

    def to_dict(self) -> dict:
        return asdict(self)


SMALL_CITY = EvalSettings(image_size=32, chip_px=64, point_block_m=100.0, tract_block_m=150.0,
                          point_folds=4, tract_folds=3, n_pairs=5000)
EVAL_BY_PRESET = {"small": SMALL_CITY, "default": EvalSettings()}
STRIDE_BY_PRESET = {"small": 8, "default": 16}
FULL = BenchSettings()
QUICK = BenchSettings(preset="small", seeds=1, steps=40, csp_steps=20, stride_px=8,
                      eval=SMALL_CITY)


def bench_settings(quick: bool, seeds: int | None = None, steps: int | None = None,
                   preset: str | None = None) -> BenchSettings:
    """QUICK or FULL, with optional seed count / step overrides; `preset` (the city's) sets
    image sizes, CV blocks and folds (a small city needs smaller blocks)."""
    s = QUICK if quick else FULL
    if preset is not None and preset != s.preset:
        if preset not in EVAL_BY_PRESET:
            raise EngineError(f"unknown sample-city preset {preset!r} in city.json",
                              f"use a city of preset {' or '.join(EVAL_BY_PRESET)}")
        s = replace(s, preset=preset, eval=EVAL_BY_PRESET[preset],
                    stride_px=STRIDE_BY_PRESET[preset])
    if seeds is not None:
        s = replace(s, seeds=int(seeds))
    if steps is not None:
        s = replace(s, steps=int(steps), csp_steps=int(steps))
    return s


def csp_recipes() -> list[str]:
    """Every location-encoder family recipe: models/csp_*.yaml."""
    from engine.train.config import resolve_path

    return sorted(p.stem for p in resolve_path("models").glob("csp_*.yaml"))


def train_recipe(recipe: str, seed: int, steps: int, s: BenchSettings, city: Path,
                 out: Path, progress: Progress = no_progress) -> Path:
    """Train models/<recipe>.yaml on `city` with the benchmark's sizes; returns the model dir."""
    from engine.train.config import config_from_dict, resolve_path
    from engine.train.loop import train

    data = yaml.safe_load(resolve_path(f"models/{recipe}.yaml").read_text(encoding="utf-8"))
    data["output"] = str(out)
    data.setdefault("data", {}).update({
        "streetview": str(city / "streetview.gpkg"),
        "overhead": [str(city / "overhead" / "*.tif")],
        "image_size": s.eval.image_size, "chip_size": s.eval.chip_px})
    data.setdefault("train", {}).update({
        "steps": int(steps), "batch_size": s.batch_size, "seed": int(seed),
        "checkpoint_every": 0, "log_every": max(1, steps // 5), "device": "cpu", "workers": 0})
    t0 = time.perf_counter()
    train(config_from_dict(data), progress=progress)
    log.info("trained %s seed %d (%d steps) in %.1f s", recipe, seed, steps,
             time.perf_counter() - t0)
    return out


def image_tasks(embedder: Any, key: str, ctx: CityContext, s: EvalSettings) -> list[dict]:
    """VPR, socioeconomic, perception and (when the embedder has overhead) cross-view rows."""
    rows = []
    for task in (tasks.vpr, tasks.socioeconomic, tasks.perception, tasks.cross_view):
        rows += task(embedder, key, ctx, s)
    return rows


def _tag(rows: list[dict], encoder: str, seed: int) -> list[dict]:
    return [{"encoder": encoder, "seed": int(seed), **r} for r in rows]


def run_benchmark(city: Path, work: Path, s: BenchSettings,
                  progress: Progress = no_progress) -> dict:
    """Train, evaluate, and return {"rows": [...], "timings_s": {...}, "settings": {...}}."""
    from engine.evaluate.baselines import ModelEmbedder, RawPixelEmbedder, random_init_embedder
    from engine.train.checkpoint import load_model, read_model_config

    timings: dict[str, float] = {}
    t0 = time.perf_counter()
    ctx = load_city(city)
    es = replace(s.eval)
    csps = csp_recipes()
    n_total = s.seeds * (len(IMAGE_RECIPES) + len(csps) + 1) + 1
    done = 0
    rows: list[dict] = []
    rows += _tag(image_tasks(RawPixelEmbedder(es.image_size), PIXELS, ctx, es), PIXELS, 0)
    done += 1
    progress(done, n_total, "benchmark")
    for seed in range(s.seeds):
        es = replace(s.eval, seed=seed)
        for recipe in IMAGE_RECIPES:
            t = time.perf_counter()
            mdir = train_recipe(recipe, seed, s.steps, s, city, work / "models" /
                                f"{recipe}_s{seed}")
            timings[f"train {recipe}"] = timings.get(f"train {recipe}", 0.0) + \
                time.perf_counter() - t
            model = load_model(mdir)
            key = f"{recipe}_s{seed}"
            rows += _tag(image_tasks(ModelEmbedder(model, recipe, es.image_size), key, ctx, es),
                         recipe, seed)
            if recipe == CROSS_VIEW_RECIPE:
                rows += _tag(tasks.map_fidelity(model, key, ctx, es, work / "maps" / key,
                                                s.stride_px), recipe, seed)
                arch = read_model_config(mdir)
            done += 1
            progress(done, n_total, "benchmark")
        rnd = random_init_embedder(arch, seed, RANDOM, es.image_size)
        rkey = f"random_s{seed}"
        rows += _tag(image_tasks(rnd, rkey, ctx, es), RANDOM, seed)
        rows += _tag(tasks.map_fidelity(rnd.model, f"random-init {seed} {arch}", ctx, es,
                                        work / "maps" / rkey, s.stride_px), RANDOM, seed)
        done += 1
        progress(done, n_total, "benchmark")
        for recipe in csps:
            t = time.perf_counter()
            mdir = train_recipe(recipe, seed, s.csp_steps, s, city, work / "models" /
                                f"{recipe}_s{seed}")
            timings["train csp_*"] = timings.get("train csp_*", 0.0) + time.perf_counter() - t
            rows += _tag(tasks.location_encoder(load_model(mdir), ctx, es), recipe, seed)
            done += 1
            progress(done, n_total, "benchmark")
        ctx.cache.clear()
    timings["total"] = time.perf_counter() - t0
    return {"rows": rows, "timings_s": {k: round(v, 1) for k, v in timings.items()},
            "settings": s.to_dict(), "city": str(city), "n_photos": len(ctx.xy),
            "n_tracts": len(ctx.tracts)}
