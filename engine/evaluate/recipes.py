"""Recipes the pipeline trains: a registry (name -> kind, which step count) and the one
recipe -> config path (engine.train.config.load_config with key=value overrides; the parsed
YAML is never edited here).

Adding a recipe to the benchmark is `register_recipe("my_recipe")` with models/my_recipe.yaml.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from engine.defaults import DEVICE
from engine.errors import EngineError
from engine.evaluate.settings import Settings
from engine.export.atomic import atomic_path
from engine.progress import Progress, no_progress

log = logging.getLogger(__name__)

DIGEST_FILE = "demo_config.sha256"
KINDS = ("image", "location")


@dataclass(frozen=True)
class Recipe:
    """A benchmark recipe: models/<name>.yaml; `kind` picks its tasks (image: photo tasks,
    location: location-encoder tasks); `steps_key` and `batch_key` name the Settings fields of
    its steps and batch size."""

    name: str
    kind: str = "image"
    steps_key: str = "steps"
    batch_key: str = "batch_size"


RECIPES: dict[str, Recipe] = {}
LOCATION_GLOB = "csp_*.yaml"  # every location-encoder family recipe is benchmarked


def register_recipe(name: str, kind: str = "image", steps_key: str = "steps",
                    batch_key: str = "batch_size") -> Recipe:
    """Add models/<name>.yaml to the benchmark (in registration order)."""
    if kind not in KINDS:
        raise EngineError(f"unknown recipe kind {kind!r}", f"use one of: {', '.join(KINDS)}")
    RECIPES[name] = Recipe(name, kind, steps_key, batch_key)
    return RECIPES[name]


# each objective alone and the combinations the recipes define (models/*.yaml)
for _name in ("urbanstcl_self", "urbanstcl_temporal", "urbanstcl_spatial",
              "geossl_temporal_pretext", "crossview", "crossview_spatial"):
    register_recipe(_name)
# pretrained counterparts: frozen ImageNet EfficientNet-Lite0 + adapters (train.regime frozen)
PRETRAINED_RECIPES = ("lite0_temporal", "lite0_spatial", "lite0_crossview_spatial")
# the temporal adapter's steps were chosen on inner validation, the map recipe's on another
# city (docs/BENCHMARK_PROTOCOL.md)
_STEPS_KEYS = {"lite0_temporal": ("adapter_steps", "batch_size"),
               "lite0_crossview_spatial": ("map_steps", "map_batch_size")}
for _name in PRETRAINED_RECIPES:
    register_recipe(_name, "image", *_STEPS_KEYS.get(_name, ("steps", "batch_size")))


def recipe_names(kind: str) -> list[str]:
    """Registered recipes of `kind`; for "location" also every models/csp_*.yaml (sorted)."""
    names = [r.name for r in RECIPES.values() if r.kind == kind]
    if kind == "location":
        from engine.paths import resolve_path

        names += [n for n in sorted(p.stem for p in resolve_path("models").glob(LOCATION_GLOB))
                  if n not in names]
    return names


def recipe_steps(name: str, s: Settings) -> int:
    """The step count `s` gives recipe `name` (csp_* recipes: csp_steps)."""
    spec = RECIPES.get(name) or Recipe(name, "location", "csp_steps")
    return int(getattr(s, spec.steps_key))


def recipe_batch_size(name: str, s: Settings) -> int:
    """The batch size `s` gives recipe `name`."""
    spec = RECIPES.get(name) or Recipe(name, "location")
    return int(getattr(s, spec.batch_key))


def recipe_image_size(name: str, s: Settings) -> int:
    """The photo size recipe `name` trains and is evaluated at: the pretrained recipes see the
    photos as the frozen backbone they start from does (s.pretrained_image_size)."""
    return s.pretrained_image_size if name in PRETRAINED_RECIPES else s.image_size


def recipe_config(recipe: str, city: Path, out: Path, s: Settings, seed: int,
                  steps: int, streetview: Path | None = None,
                  extra: dict[str, Any] | None = None) -> Any:
    """models/<recipe>.yaml loaded by the config loader with the city's data (`streetview`:
    another photo layer, e.g. the training places only), the run's sizes, seed and steps,
    `out` as its output and `extra` key=value overrides last (an engine.train.config.Config)."""
    from engine.paths import resolve_path
    from engine.train.config import load_config

    path = resolve_path(f"models/{recipe}.yaml")
    if not path.is_file():
        raise EngineError(f"recipe {path} does not exist",
                          f"restore models/{recipe}.yaml from git or pick a recipe in models/")
    city = Path(city)
    values = {"output": str(out), "data.streetview": str(streetview or city / "streetview.gpkg"),
              "data.overhead": [str(city / "overhead" / "*.tif")],
              "data.image_size": recipe_image_size(recipe, s), "data.chip_size": s.chip_px,
              "train.steps": int(steps), "train.batch_size": recipe_batch_size(recipe, s),
              "train.seed": int(seed), "train.checkpoint_every": 0,
              "train.log_every": max(1, int(steps) // 5), "train.device": DEVICE,
              "train.workers": 0,
              # frozen recipes: backbone features cached once per run, shared by seeds
              "train.feature_cache": str(Path(out).parent / "feature-cache"),
              **(extra or {})}
    return load_config(path, [f"{k}={json.dumps(v)}" for k, v in values.items()])


def train_recipe(recipe: str, city: Path, out: Path, s: Settings, seed: int, steps: int,
                 progress: Progress = no_progress, cfg: Any = None,
                 streetview: Path | None = None) -> dict:
    """Train `recipe` into `out` (or the already built `cfg`); returns seconds and final loss."""
    from engine.train.loop import train

    cfg = cfg if cfg is not None else recipe_config(recipe, city, out, s, seed, steps,
                                                    streetview)
    t0 = time.perf_counter()
    result = train(cfg, progress=progress)
    seconds = time.perf_counter() - t0
    log.info("trained %s seed %d (%d steps) in %.1f s", recipe, seed, steps, seconds)
    return {"model_dir": str(out), "reused": False, "steps": int(steps),
            "seconds": round(seconds, 1), "final_loss": result.get("final_loss")}


def config_digest(cfg: Any) -> str:
    """sha256 of a validated config (sorted JSON)."""
    text = json.dumps(cfg.to_dict(), sort_keys=True, default=str)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def train_or_reuse(recipe: str, city: Path, out: Path, s: Settings, retrain: bool = False,
                   progress: Progress = no_progress) -> dict:
    """Train `recipe` (s.seed, its steps) into `out`, or reuse the model there when the stored
    digest of its validated config is unchanged (an idempotent second run)."""
    steps = recipe_steps(recipe, s)
    cfg = recipe_config(recipe, city, out, s, s.seed, steps)
    digest = config_digest(cfg)
    stamp, weights = out / DIGEST_FILE, out / "model.safetensors"
    if not retrain and weights.is_file() and stamp.is_file() and \
            stamp.read_text(encoding="utf-8").strip() == digest:
        log.info("reusing the trained model in %s (config unchanged)", out)
        return {"model_dir": str(out), "reused": True, "steps": steps, "seconds": 0.0,
                "final_loss": final_loss(out)}
    if stamp.is_file():
        stamp.unlink()  # a half-replaced model must never look current
    facts = train_recipe(recipe, city, out, s, s.seed, steps, progress, cfg)
    with atomic_path(stamp) as tmp:
        tmp.write_text(digest + "\n", encoding="utf-8")
    return facts


def final_loss(model_dir: Path) -> float | None:
    """The last total loss in loss.csv (for the report of a reused model)."""
    import csv

    path = Path(model_dir) / "loss.csv"
    if not path.is_file():
        return None
    with open(path, encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    return float(rows[-1]["total"]) if rows else None
