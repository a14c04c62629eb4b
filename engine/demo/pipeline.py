"""`make demo`: sample city -> train the map recipe (Settings.map_recipe) -> embed -> heads ->
zero-shot maps -> report, with an untrained twin of the same architecture as the baseline
(random weights; a pretrained recipe's twin keeps the ImageNet backbone and has random
adapters, so the comparison shows what the geographic training added).

A preset ("demo" / "demo-quick") of the benchmark's pipeline (engine.evaluate): its settings,
recipe -> config path, map stages and map scorer; only the report is the demo's own.

Layout of `out`: model/ (weights, card), embeddings/, heads/, maps/ (GeoTIFF + GPKG + PNG
per attribute), baseline/ (the same for the random encoder), report.md, demo.json.
"""

from __future__ import annotations

import json
import logging
import time
from pathlib import Path

from engine.evaluate.city import default_city, ensure_city
from engine.evaluate.settings import PERCEPTION, SOCIOECONOMIC, settings_for
from engine.export.atomic import atomic_path
from engine.progress import Progress, no_progress

log = logging.getLogger(__name__)


def run_demo(out: str | Path, city: str | Path | None = None, quick: bool = False,
             retrain: bool = False, steps: int | None = None, baseline: bool = True,
             progress: Progress = no_progress) -> dict:
    """The whole demo; returns the outputs and figures (also written to demo.json)."""
    from engine.demo.report import write_report
    from engine.evaluate.baselines import has_pretrained_backbone, random_init_embedder
    from engine.evaluate.encoder_run import file_digest, mean_r, run_encoder
    from engine.evaluate.recipes import train_or_reuse
    from engine.evaluate.report import machine
    from engine.models.folder import load_model, read_model_config

    preset = "demo-quick" if quick else "demo"
    out = Path(out).resolve()
    city = Path(city).resolve() if city is not None else default_city()
    timings: dict[str, float] = {}
    t_all = time.perf_counter()
    n_stages = 4 if baseline else 3

    def stage(k: int, name: str) -> None:
        progress(k, n_stages, "demo")
        log.info("demo stage %d/%d: %s", k + 1, n_stages, name)

    t = time.perf_counter()
    stage(0, "sample city")
    city_info = ensure_city(city, settings_for(preset).preset, 0, progress)
    settings = settings_for(preset, city_info.get("preset"), steps=steps)
    timings["city"] = time.perf_counter() - t

    t = time.perf_counter()
    stage(1, "pretrain")
    model_dir = out / "model"
    trained = train_or_reuse(settings.map_recipe, city, model_dir, settings, retrain, progress)
    timings["train"] = time.perf_counter() - t

    t = time.perf_counter()
    stage(2, "embed, fit, map (trained model)")
    model = load_model(model_dir)
    result = run_encoder(model, file_digest(model_dir / "model.safetensors"), city, out,
                         settings, progress)
    timings["trained_encoder"] = time.perf_counter() - t

    base, base_kind = None, None
    if baseline:
        t = time.perf_counter()
        stage(3, "embed, fit, map (random encoder)")
        arch = read_model_config(model_dir)
        keep = has_pretrained_backbone(arch)
        base_kind = ("random adapters over the same ImageNet backbone (the recipe untrained)"
                     if keep else "a random-init encoder of the same architecture")
        rnd = random_init_embedder(arch, settings.seed, keep_pretrained=keep).model
        key = (f"random-init seed {settings.seed} keep_pretrained {keep} "
               + json.dumps(arch, sort_keys=True))
        base = run_encoder(rnd, key, city, out / "baseline", settings, progress)
        timings["random_encoder"] = time.perf_counter() - t
    progress(n_stages, n_stages, "demo")
    timings["total"] = time.perf_counter() - t_all
    summary = {
        "out": str(out), "city": city_info, "settings": settings.to_dict(), "model": trained,
        "cv": {k: {m: v[m] for m in ("summary", "metrics", "ci95", "n_rows", "level")}
               for k, v in result["heads"].items()},
        "zero_shot": result["scores"],
        "baseline": base_kind,
        "baseline_zero_shot": None if base is None else base["scores"],
        "mean_r_perception": mean_r(result["scores"], PERCEPTION),
        "mean_r_perception_random": None if base is None else mean_r(base["scores"],
                                                                     PERCEPTION),
        "mean_r_socioeconomic": mean_r(result["scores"], SOCIOECONOMIC),
        "timings_s": {k: round(v, 1) for k, v in timings.items()},
        "maps": {k: v for k, v in result["maps"].items()},
        "machine": machine(),
    }
    report = write_report(out / "report.md", summary, result, base)
    with atomic_path(out / "demo.json") as tmp:
        tmp.write_text(json.dumps(summary, indent=2, default=str), encoding="utf-8")
    log.info("demo done in %.0f s; outputs in %s", timings["total"], out)
    return {"report": str(report), "out": str(out), "model": str(model_dir),
            "maps": str(out / "maps"), "summary": str(out / "demo.json"),
            "mean_r_perception_photo_free": round(summary["mean_r_perception"], 3),
            "mean_r_perception_photo_free_random": None if base is None else
            round(summary["mean_r_perception_random"], 3),
            "seconds": round(timings["total"], 1)}
