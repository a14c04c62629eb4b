"""`make demo`: sample city -> pretrain cross-view + spatial -> embed -> heads -> zero-shot
maps -> report, with a random-init encoder of the same architecture as the baseline.

Layout of `out`: model/ (weights, card), embeddings/, heads/, maps/ (GeoTIFF + GPKG + PNG
per attribute), baseline/ (the same for the random encoder), report.md, demo.json.
"""

from __future__ import annotations

import json
import logging
import time
from pathlib import Path

from engine.demo.settings import PERCEPTION, SOCIOECONOMIC, settings_for
from engine.export.atomic import atomic_path
from engine.progress import Progress, no_progress

log = logging.getLogger(__name__)


def default_city() -> Path:
    """data/sample-city under the project root (where the recipes look)."""
    from engine.paths import resolve_path

    return resolve_path("data/sample-city")


def ensure_city(city: Path, preset: str, seed: int, progress: Progress = no_progress) -> dict:
    """Generate the sample city at `city` unless a manifest is already there."""
    manifest = city / "city.json"
    if manifest.is_file():
        doc = json.loads(manifest.read_text(encoding="utf-8"))
        if doc.get("preset") != preset:
            log.warning("%s holds the %r preset (the demo asked for %r): using it as it is",
                        city, doc.get("preset"), preset)
        return {"city": str(city), "generated": False, "preset": doc.get("preset")}
    from engine.data.sample_city import generate

    log.info("generating the %s sample city in %s", preset, city)
    generate(city, seed=seed, preset=preset, progress=progress)
    return {"city": str(city), "generated": True, "preset": preset}


def run_demo(out: str | Path, city: str | Path | None = None, quick: bool = False,
             retrain: bool = False, steps: int | None = None, baseline: bool = True,
             progress: Progress = no_progress) -> dict:
    """The whole demo; returns the outputs and figures (also written to demo.json)."""
    from engine.demo.model_step import train_or_reuse
    from engine.demo.report import write_report
    from engine.demo.stages import file_digest, mean_r, random_model, run_encoder
    from engine.models.folder import load_model

    settings = settings_for(quick, steps)
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
    city_info = ensure_city(city, settings.preset, settings.seed, progress)
    timings["city"] = time.perf_counter() - t

    t = time.perf_counter()
    stage(1, "pretrain")
    model_dir = out / "model"
    trained = train_or_reuse(settings, city, model_dir, retrain, progress)
    timings["train"] = time.perf_counter() - t

    t = time.perf_counter()
    stage(2, "embed, fit, map (trained model)")
    model = load_model(model_dir)
    result = run_encoder(model, file_digest(model_dir / "model.safetensors"), city, out,
                         settings, progress)
    timings["trained_encoder"] = time.perf_counter() - t

    base = None
    if baseline:
        t = time.perf_counter()
        stage(3, "embed, fit, map (random encoder)")
        rnd = random_model(model_dir, settings.seed)
        key = f"random-init seed {settings.seed} " + json.dumps(rnd.config, sort_keys=True)
        base = run_encoder(rnd, key, city, out / "baseline", settings, progress)
        timings["random_encoder"] = time.perf_counter() - t
    progress(n_stages, n_stages, "demo")
    timings["total"] = time.perf_counter() - t_all
    summary = {
        "out": str(out), "city": city_info, "settings": settings.to_dict(), "model": trained,
        "cv": {k: {m: v[m] for m in ("summary", "metrics", "ci95", "n_rows", "level")}
               for k, v in result["heads"].items()},
        "zero_shot": result["scores"],
        "baseline_zero_shot": None if base is None else base["scores"],
        "mean_r_perception": mean_r(result["scores"], PERCEPTION),
        "mean_r_perception_random": None if base is None else mean_r(base["scores"],
                                                                     PERCEPTION),
        "mean_r_socioeconomic": mean_r(result["scores"], SOCIOECONOMIC),
        "timings_s": {k: round(v, 1) for k, v in timings.items()},
        "maps": {k: v for k, v in result["maps"].items()},
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
