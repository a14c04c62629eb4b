"""The plugin's argv matches the real engine: every algorithm's command exists, and every
`--flag` its module writes is one that command accepts (read from `<command> --help`)."""

from __future__ import annotations

import ast
import re
import subprocess
from pathlib import Path

import pytest
from conftest import REPO

from qgis_plugin.engine_runner import child_environment
from qgis_plugin.processing.provider import ALGORITHMS

PROCESSING = REPO / "qgis_plugin" / "processing"


def engine_help(python: str, *command: str) -> str:
    proc = subprocess.run([python, "-m", "engine", *command, "--help"], capture_output=True,
                          text=True, env=child_environment(), check=False)
    assert proc.returncode == 0, f"`python -m engine {' '.join(command)}`: {proc.stderr}"
    return proc.stdout


def flags_in(path: Path) -> set[str]:
    """String constants that look like long options (`--out`), in one module."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    return {node.value for node in ast.walk(tree)
            if isinstance(node, ast.Constant) and isinstance(node.value, str)
            and re.fullmatch(r"--[a-z][a-z0-9-]*", node.value)}


@pytest.mark.parametrize("algorithm", ALGORITHMS, ids=lambda a: a.NAME)
def test_algorithm_flags_exist_in_engine(algorithm, engine_python):
    help_text = engine_help(engine_python, algorithm.COMMAND)  # exit 2 if no such command
    module = Path(__import__(algorithm.__module__, fromlist=["x"]).__file__)
    unknown = sorted(f for f in flags_in(module) if f not in help_text)
    assert unknown == [], f"{module.name} passes flags `{algorithm.COMMAND}` lacks: {unknown}"


def test_shared_flags_exist_where_used(engine_python):
    """common.py's flags (--device, --batch-size, --out, --name) on the commands using them."""
    users = {"--device": ("embed-points", "embed-raster", "embed-locations"),
             "--batch-size": ("embed-points", "embed-raster"), "--out": ("map",),
             "--name": ("map",)}
    assert set(users) >= flags_in(PROCESSING / "common.py")
    for flag, used_by in users.items():
        for command in used_by:
            assert flag in engine_help(engine_python, command), (flag, command)
