"""The plugin's import dialog offers exactly the engine's panorama choices and defaults
(the plugin never imports the engine, so its copies are read from its source with ast)."""

from __future__ import annotations

import ast
from pathlib import Path

from engine.data.imagery_options import (
    DEFAULT_VIEW_FOV,
    PANORAMA_MODES,
    VIEW_REFERENCES,
    headings_text,
)

PLUGIN_FILE = Path(__file__).resolve().parents[2] / "qgis_plugin/processing/import_photos.py"


def plugin_constants() -> dict[str, object]:
    tree = ast.parse(PLUGIN_FILE.read_text(encoding="utf-8"))
    out = {}
    for node in tree.body:
        if isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(
                node.targets[0], ast.Name):
            try:
                out[node.targets[0].id] = ast.literal_eval(node.value)
            except ValueError:
                continue
    return out


def test_plugin_panorama_choices_equal_the_engines() -> None:
    found = plugin_constants()
    assert found["PANORAMA_MODES"] == PANORAMA_MODES
    assert found["VIEW_REFERENCES"] == VIEW_REFERENCES
    assert found["DEFAULT_VIEW_HEADINGS"] == headings_text()
    assert found["DEFAULT_VIEW_FOV"] == DEFAULT_VIEW_FOV
