"""Pretrain the demo's cross-view model, or reuse it when the run's config is unchanged.

The full training config (recipe + demo overrides, as validated by engine.train.config) is
hashed; the hash is stored beside the weights, and a later run with the same hash reuses
the model (idempotent, fast second run) unless asked to retrain.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from pathlib import Path

import yaml

from engine.demo.settings import DemoSettings
from engine.errors import EngineError
from engine.export.atomic import atomic_path
from engine.progress import Progress, no_progress

log = logging.getLogger(__name__)

DIGEST_FILE = "demo_config.sha256"


def demo_config(settings: DemoSettings, city: Path, model_dir: Path):
    """The recipe with the city's data, the demo's sizes and `model_dir` as its output."""
    from engine.paths import resolve_path
    from engine.train.config import config_from_dict

    recipe = resolve_path(settings.recipe)
    if not recipe.is_file():
        raise EngineError(f"demo recipe {recipe} does not exist",
                          "restore models/crossview_spatial.yaml from git")
    data = yaml.safe_load(recipe.read_text(encoding="utf-8"))
    data["output"] = str(model_dir)
    data.setdefault("data", {})
    data["data"].update({"streetview": str(city / "streetview.gpkg"),
                         "overhead": [str(city / "overhead" / "*.tif")],
                         "image_size": settings.image_size, "chip_size": settings.chip_px})
    data.setdefault("train", {})
    data["train"].update({"steps": settings.steps, "batch_size": settings.batch_size,
                          "seed": settings.seed, "checkpoint_every": 0,
                          "log_every": max(1, settings.steps // 10)})
    return config_from_dict(data)


def config_digest(cfg) -> str:
    """sha256 of the validated config (sorted JSON)."""
    text = json.dumps(cfg.to_dict(), sort_keys=True, default=str)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def train_or_reuse(settings: DemoSettings, city: Path, model_dir: Path, retrain: bool = False,
                   progress: Progress = no_progress) -> dict:
    """Train (or reuse) the demo model in `model_dir`; returns facts for the report."""
    from engine.train.loop import train

    cfg = demo_config(settings, city, model_dir)
    digest = config_digest(cfg)
    stamp = model_dir / DIGEST_FILE
    weights = model_dir / "model.safetensors"
    if not retrain and weights.is_file() and stamp.is_file() and \
            stamp.read_text(encoding="utf-8").strip() == digest:
        log.info("reusing the trained model in %s (config unchanged)", model_dir)
        return {"model_dir": str(model_dir), "reused": True, "steps": settings.steps,
                "seconds": 0.0, "final_loss": _final_loss(model_dir)}
    if stamp.is_file():
        stamp.unlink()  # a half-replaced model must never look current
    t0 = time.perf_counter()
    result = train(cfg, progress=progress)
    with atomic_path(stamp) as tmp:
        tmp.write_text(digest + "\n", encoding="utf-8")
    return {"model_dir": str(model_dir), "reused": False, "steps": settings.steps,
            "seconds": round(time.perf_counter() - t0, 1),
            "final_loss": result.get("final_loss")}


def _final_loss(model_dir: Path) -> float | None:
    """The last total loss in loss.csv (for the report of a reused model)."""
    import csv

    path = model_dir / "loss.csv"
    if not path.is_file():
        return None
    with open(path, encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    return float(rows[-1]["total"]) if rows else None
