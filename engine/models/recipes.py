"""The training recipes (YAML) shipped with the engine, found by name.

In a checkout they are the top-level `models/*.yaml`; in an installed wheel (the one
`make plugin` builds) the same files are package data under `engine/recipes/`. One copy
lives in the repository; the wheel builder maps it into the package.
"""

from __future__ import annotations

from pathlib import Path

from engine.models import yaml_text

PACKAGED = Path(__file__).resolve().parents[1] / "recipes"  # engine/recipes (installed wheel)
CHECKOUT = Path(__file__).resolve().parents[2] / "models"  # <repo>/models (checkout)


def recipes_dir() -> Path:
    """Where the recipes are: the packaged copy when installed, else the checkout's models/."""
    return PACKAGED if PACKAGED.is_dir() else CHECKOUT


def recipe_path(name: str) -> Path | None:
    """The recipe file called `name` (with or without .yaml), or None."""
    stem = name[:-5] if name.endswith(".yaml") else name
    path = recipes_dir() / f"{stem}.yaml"
    return path if path.is_file() else None


def _summary(path: Path) -> str:
    """The recipe's first comment line (what it trains), without the '#'."""
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.startswith("#"):
            return line.lstrip("# ").strip()
        if line.strip():
            break
    return ""


def list_recipes() -> list[dict[str, str]]:
    """[{name, path, summary}] for every shipped recipe, sorted by name."""
    out = []
    for path in sorted(recipes_dir().glob("*.yaml")):
        data = yaml_text.load(path.read_text(encoding="utf-8")) or {}
        name = str(data.get("name") or path.stem) if isinstance(data, dict) else path.stem
        out.append({"name": path.stem, "run_name": name, "path": str(path),
                    "summary": _summary(path)})
    return out
