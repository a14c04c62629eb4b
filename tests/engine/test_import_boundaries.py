"""The two-process boundary: the engine never imports qgis; the plugin never imports torch.

Scans the source with `ast` (imports inside functions count too), so a lazy import cannot
slip a torch/CUDA/GDAL clash into the user's QGIS, or a QGIS dependency into the engine.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
PLUGIN_FORBIDDEN = {"torch", "timm", "torchvision", "engine", "rasterio", "geopandas",
                    "pyogrio", "faiss", "safetensors", "sklearn"}
ENGINE_FORBIDDEN = {"qgis", "processing", "qgis_plugin"}


def imported_roots(path: Path) -> set[tuple[str, int]]:
    """(top-level module, line) for every absolute import in a Python file."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found |= {(alias.name.split(".")[0], node.lineno) for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.add((node.module.split(".")[0], node.lineno))
        elif (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
              and node.func.attr == "import_module" and node.args
              and isinstance(node.args[0], ast.Constant) and isinstance(node.args[0].value, str)):
            found.add((node.args[0].value.split(".")[0], node.lineno))
    return found


def violations(folder: Path, forbidden: set[str]) -> list[str]:
    bad = []
    for path in sorted(folder.rglob("*.py")):
        for module, line in sorted(imported_roots(path)):
            if module in forbidden:
                bad.append(f"{path.relative_to(REPO)}:{line} imports {module}")
    return bad


def test_engine_never_imports_qgis():
    assert list((REPO / "engine").rglob("*.py")), "engine/ has no Python files"
    assert violations(REPO / "engine", ENGINE_FORBIDDEN) == []


def test_plugin_never_imports_torch_or_engine():
    assert list((REPO / "qgis_plugin").rglob("*.py")), "qgis_plugin/ has no Python files"
    assert violations(REPO / "qgis_plugin", PLUGIN_FORBIDDEN) == []


@pytest.mark.parametrize("source, module", [
    ("import torch.nn as nn\n", "torch"),
    ("def f():\n    from engine.cli import main\n", "engine"),
    ("import importlib\nimportlib.import_module('timm.models')\n", "timm"),
])
def test_scanner_sees_hidden_imports(tmp_path, source, module):
    (tmp_path / "m.py").write_text(source)
    assert module in {name for name, _ in imported_roots(tmp_path / "m.py")}


def test_relative_imports_are_not_flagged(tmp_path):
    (tmp_path / "m.py").write_text("from .engine_runner import run_engine\n")
    assert imported_roots(tmp_path / "m.py") == set()
