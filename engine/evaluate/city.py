"""Where the pipeline's sample cities live, generated on first use (one folder per seed)."""

from __future__ import annotations

import json
import logging
from pathlib import Path

from engine.progress import Progress, no_progress

log = logging.getLogger(__name__)


def default_city() -> Path:
    """data/sample-city under the project root (where the recipes look)."""
    from engine.paths import resolve_path

    return resolve_path("data/sample-city")


def cached_city(cache: Path, preset: str, seed: int, tract_grid: int | None = None,
                progress: Progress = no_progress) -> dict:
    """The city of (preset, seed, tract grid) in its own folder under `cache`, generated the
    first time only (a later run, quick or full, reuses it)."""
    name = f"{preset}-s{int(seed)}" + (f"-t{int(tract_grid)}" if tract_grid else "")
    return ensure_city(Path(cache) / name, preset, seed, progress, tract_grid)


def ensure_city(city: Path, preset: str, seed: int, progress: Progress = no_progress,
                tract_grid: int | None = None) -> dict:
    """Generate the sample city at `city` unless a manifest is already there (then its own
    preset is used as it is, with a warning when it differs from `preset`)."""
    manifest = Path(city) / "city.json"
    if manifest.is_file():
        doc = json.loads(manifest.read_text(encoding="utf-8"))
        if doc.get("preset") != preset:
            log.warning("%s holds the %r preset (%r was asked for): using it as it is",
                        city, doc.get("preset"), preset)
        return {"city": str(city), "generated": False, "preset": doc.get("preset"),
                "seed": doc.get("seed")}
    from engine.data.sample_city import generate

    log.info("generating the %s sample city (seed %d) in %s", preset, seed, city)
    generate(city, seed=seed, preset=preset, progress=progress, tract_grid=tract_grid)
    return {"city": str(city), "generated": True, "preset": preset, "seed": seed}
