"""Inference apart from training: no module of the inference side imports engine.train.

The scan reads every import statement (top level and inside functions) with `ast`, so a
lazy `from engine.train... import` inside a function is caught too. The CLI reaches the
`train` subcommand through its registry by module name (engine.cli.registry), not by import.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ENGINE = Path(__file__).resolve().parents[2] / "engine"
INFERENCE_SIDE = ("embed", "maps", "cli", "models", "nn", "heads", "export", "data")


def imported_modules(path: Path, root: Path) -> list[tuple[int, str]]:
    """(line, module) of every absolute or relative import in a Python file under `root`."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    package = ".".join(path.relative_to(root).with_suffix("").parts[:-1])
    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parent = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*parent, base] if base else parent)
            out.append((node.lineno, base))
            out += [(node.lineno, f"{base}.{alias.name}") for alias in node.names]
    return out


def offenders(package: str, root: Path = ENGINE.parent) -> list[str]:
    """'file:line imports engine.train...' for each such import under root/engine/<package>."""
    found = []
    for path in sorted((root / "engine" / package).rglob("*.py")):
        for line, module in imported_modules(path, root):
            if module == "engine.train" or module.startswith("engine.train."):
                found.append(f"{path.relative_to(root).as_posix()}:{line} imports {module}")
    return found


@pytest.mark.parametrize("package", INFERENCE_SIDE)
def test_inference_side_never_imports_train(package: str) -> None:
    assert (ENGINE / package).is_dir()
    assert offenders(package) == []


def test_the_scan_sees_lazy_and_relative_imports(tmp_path: Path) -> None:
    probe = tmp_path / "engine" / "maps" / "probe.py"
    probe.parent.mkdir(parents=True)
    probe.write_text("import engine.trainer\n\ndef f():\n"
                     "    from engine.train.loop import train\n"
                     "    from ..train import config\n", encoding="utf-8")
    assert offenders("maps", tmp_path) == [
        "engine/maps/probe.py:4 imports engine.train.loop",
        "engine/maps/probe.py:4 imports engine.train.loop.train",
        "engine/maps/probe.py:5 imports engine.train",
        "engine/maps/probe.py:5 imports engine.train.config",
    ]


def test_the_cli_calls_the_api_not_the_reverse() -> None:
    """engine.api never imports engine.cli; the embed/fit/map commands go through
    engine.api.commands (the functions notebooks call too)."""
    api_imports = [m for path in sorted((ENGINE / "api").rglob("*.py"))
                   for _, m in imported_modules(path, ENGINE.parent)]
    assert api_imports and not [m for m in api_imports if m.startswith("engine.cli")]
    for command in ("embed_points", "embed_raster", "embed_locations", "fit", "map"):
        modules = {m for _, m in imported_modules(ENGINE / "cli" / f"{command}.py", ENGINE.parent)}
        assert "engine.api.commands" in modules, command


def test_no_private_name_is_imported_across_modules() -> None:
    """`from a.b import _name` couples a module to another's internals: make it public."""
    found = []
    for base in ("engine", "bench"):
        for path in sorted((ENGINE.parent / base).rglob("*.py")):
            tree = ast.parse(path.read_text(encoding="utf-8"))
            found += [f"{path.relative_to(ENGINE.parent)}:{node.lineno} {node.module}.{a.name}"
                      for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)
                      for a in node.names if a.name.startswith("_") and a.name[1:2] != "_"]
    assert found == []
