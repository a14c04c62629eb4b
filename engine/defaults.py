"""Defaults and choices shared by the CLI, the Python API, the demo, the benchmark and the
QGIS plugin's parameter definitions: each value is defined here once.

Torch-free and import-free, so `python -m engine defaults --json` (what the plugin's contract
test reads) stays fast.
"""

from __future__ import annotations

DEVICES: tuple[str, ...] = ("auto", "cpu", "cuda")
DEVICE = "auto"
