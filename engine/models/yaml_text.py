"""YAML as recipes and model configs are read: PyYAML's safe loader (plain data, never Python
objects) with YAML 1.2's floats. PyYAML follows YAML 1.1, which reads an exponent written
without a dot or without a sign (`1e-3`, `5e4`) as text: `train.lr=1e-3` was refused, and a
location encoder's `min_radius: 1e-3` failed comparing text with a number."""

from __future__ import annotations

import re
from typing import Any

import yaml


class _Loader(yaml.SafeLoader):
    """SafeLoader plus the exponent floats YAML 1.1 misses (its own resolvers unchanged)."""


_Loader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(r"^[-+]?(?:[0-9][0-9_]*(?:\.[0-9_]*)?|\.[0-9_]+)[eE][-+]?[0-9]+$"),
    list("-+0123456789."))


def load(text: str) -> Any:
    """The data in YAML `text` (yaml.YAMLError when it is not valid YAML)."""
    return yaml.load(text, Loader=_Loader)  # a SafeLoader: plain data, never Python objects
