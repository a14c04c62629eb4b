"""Recipes ship with the engine: listed by `python -m engine recipes`, loaded by name, and
packed as package data into the wheel the plugin zip carries (one copy: models/*.yaml)."""

from __future__ import annotations

import io
import json
import zipfile
from contextlib import redirect_stdout
from pathlib import Path

from engine.cli.main import main
from engine.models.recipes import list_recipes, recipe_path
from engine.train.config import load_config

REPO = Path(__file__).resolve().parents[2]


def test_recipes_are_listed_and_load_by_name() -> None:
    out = io.StringIO()
    with redirect_stdout(out):
        assert main(["recipes", "--events", "jsonl"]) == 0
    result = json.loads(out.getvalue().splitlines()[-1])
    names = [r["name"] for r in result["outputs"]["recipes"]]
    assert names == sorted(p.stem for p in (REPO / "models").glob("*.yaml"))
    assert {r["name"]: r for r in list_recipes()}["crossview"]["summary"].startswith("Cross-view")
    assert recipe_path("crossview") == recipe_path("crossview.yaml") == \
        REPO / "models" / "crossview.yaml"
    assert load_config("crossview").name == load_config(str(REPO / "models/crossview.yaml")).name


def test_the_plugin_wheel_carries_engine_and_recipes(tmp_path: Path) -> None:
    from qgis_plugin.build_engine_wheel import build_wheel

    wheel = build_wheel(tmp_path)
    assert wheel.name == "geocontrast-0.1.0-py3-none-any.whl"
    with zipfile.ZipFile(wheel) as archive:
        names = set(archive.namelist())
        for recipe in (REPO / "models").glob("*.yaml"):  # the same bytes, mapped into engine/
            assert archive.read(f"engine/recipes/{recipe.name}") == recipe.read_bytes()
        meta = archive.read("geocontrast-0.1.0.dist-info/METADATA").decode()
        entry = archive.read("geocontrast-0.1.0.dist-info/entry_points.txt").decode()
    assert "engine/__main__.py" in names and "engine/models/recipes.py" in names
    assert not [n for n in names if "__pycache__" in n or n.startswith("tests/")]
    assert "Requires-Dist: torch" in meta and "geocontrast = engine.cli.main:main" in entry
    assert build_wheel(tmp_path / "again").read_bytes() == wheel.read_bytes()  # reproducible
