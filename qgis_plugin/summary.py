"""A few human lines about an engine result, for the Processing log and the dock."""

from __future__ import annotations

from pathlib import Path
from typing import Any

# result key -> how to say it (files are shown by name, folders once)
_FILES = (("geotiff", "map"), ("gpkg", "layers"), ("png", "picture"), ("head", "head"),
          ("report", "report"), ("output", "output"), ("preview", "preview"),
          ("model", "model"))

# whole-number result keys -> how to count them (photo imports and embeddings)
_COUNTS = (("photos", "street-view points"), ("locations", "locations"), ("panoramas", "panoramas"),
           ("views", "views"), ("skipped", "left out"))


def _number(value: Any) -> str:
    return f"{value:.3g}" if isinstance(value, float) else str(value)


def human_summary(title: str, result: dict[str, Any]) -> str:
    """'<title>: done' and one line per fact worth reading (files, classes, CV scores)."""
    lines = [f"{title}: done"]
    if result.get("kind"):
        lines.append(f"  kind: {result['kind']}" + (f" of {result['target']}"
                                                     if result.get("target") else ""))
    folders = {str(Path(str(result[k])).parent) for k, _ in _FILES if result.get(k)}
    if len(folders) == 1:
        lines.append(f"  folder: {folders.pop()}")
    for key, label in _FILES:
        if result.get(key) and isinstance(result[key], str):
            lines.append(f"  {label}: {Path(result[key]).name}")
    if result.get("classes"):
        lines.append(f"  classes: {', '.join(map(str, result['classes']))}")
    for key in ("summary", "cv"):
        if isinstance(result.get(key), str):
            lines.append(f"  spatial CV: {result[key]}")
    metrics = result.get("metrics")
    if isinstance(metrics, dict):
        flat = [f"{k} {_number(v)}" for k, v in metrics.items() if isinstance(v, int | float)]
        if flat:
            lines.append("  scores: " + ", ".join(flat[:6]))
    counts = result.get("counts")
    if isinstance(counts, dict):
        lines.append("  " + ", ".join(f"{v} {k}" for k, v in counts.items()))
    counted = [f"{result[k]} {label}" for k, label in _COUNTS
               if isinstance(result.get(k), int) and not isinstance(result.get(k), bool)
               and result[k] > 0]
    if counted:
        lines.append("  " + ", ".join(counted))
    if "reliable" in result:
        lines.append(f"  validity: {validity_text(result)}")
    return "\n".join(lines)


def validity_text(result: dict[str, Any]) -> str:
    """The truth-free validity check of a zero-shot map (engine.maps.validity), in words."""
    check = result.get("validity") or {}
    r, n = check.get("r"), check.get("n")
    where = f"r={r:+.2f} at {n} labelled {check.get('places', 'places')}" \
        if isinstance(r, int | float) else ""
    if result.get("reliable") is False:
        return f"UNRELIABLE map ({where}; needs r >= {check.get('min_r')})"
    if result.get("reliable") is None:
        return f"not checked ({check.get('note') or 'no labelled places'})"
    return f"check passed ({where})"
