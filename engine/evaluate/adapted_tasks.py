"""What a geographic adapter adds to the frozen features it adapts (issue 11; protocol
amendment of 2026-11-26, docs/BENCHMARK_PROTOCOL.md).

For the recipe selected on city seed 3 (`bench/adapter_select.py`), the perception and tract
tasks score, on the same rows and folds, the frozen ImageNet Lite0 photo features (the
backbone the recipe starts from), the recipe's adapter embedding of the same photos, and both
joined by the benchmark's fusion head (`stack`: each view's own ridge, stacked), next to the
control (the frozen features alone, recalibrated by the same stacking). The folds are drawn
with the run's base seed for every training seed, so that only training varies between seeds
and the frozen view's ridges are fitted once per city.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import numpy as np

from engine.evaluate.baselines import IMAGENET
from engine.evaluate.context import CityContext
from engine.evaluate.fusion_tasks import view_rows
from engine.evaluate.settings import PERCEPTION, SOCIOECONOMIC, Settings

ADAPTED_RECIPES = ("lite0_crossview_spatial",)  # selected on city seed 3 (protocol)
TASK_NAMES = ("adapted_perception", "adapted_socioeconomic")


def adapted_name(recipe: str) -> str:
    """The encoder name of `recipe`'s adapter stacked with the frozen backbone features."""
    return f"{recipe} + frozen lite0 (stacked)"


def adapted_rows(ctx: CityContext, frozen: np.ndarray, adapter: np.ndarray, s: Settings,
                 recipe: str, base_seed: int) -> list[dict]:
    """The rows of every task of TASK_NAMES the run scores: frozen alone, adapter alone,
    both stacked, the stacked control; folds drawn with `base_seed`."""
    from engine.evaluate.tasks import tract_rows

    fs = replace(s, seed=int(base_seed))
    names, fused = (IMAGENET, recipe), adapted_name(recipe)
    rows: list[dict] = []
    if s.runs_task("adapted_perception"):
        targets = {t: ctx.layer.frame[t].to_numpy(np.float64) for t in PERCEPTION}
        rows += view_rows("adapted_perception", targets, frozen, adapter, ctx.xy,
                          fs.point_block_m, fs.point_folds, fs, names,
                          ctx.layer.frame["location_id"].to_numpy(), cache=ctx.view_parts,
                          fused_name=fused)
    if s.runs_task("adapted_socioeconomic"):
        g, xy, cov = tract_rows(ctx, frozen)
        a, _, _ = tract_rows(ctx, adapter)
        targets = {t: ctx.tracts[t].to_numpy(np.float64)[cov] for t in SOCIOECONOMIC}
        rows += view_rows("adapted_socioeconomic", targets, g, a, xy, fs.tract_block_m,
                          fs.tract_folds, fs, names, cache=ctx.view_parts, fused_name=fused)
    return rows


def frozen_features(ctx: CityContext, embedder: Any) -> np.ndarray:
    """The frozen ImageNet Lite0 photo features (the baseline's), kept across training seeds
    (the per-seed embedding cache is cleared between seeds)."""
    key = (IMAGENET, int(embedder.image_size))
    if key not in ctx.backbone_features:
        ctx.backbone_features[key] = ctx.photo_embeddings(embedder, IMAGENET)
    return ctx.backbone_features[key]
