"""JSON side files any reader parses: no NaN or Infinity (Python writes them, the JSON
standard, jq, JavaScript and QGIS's expression engine refuse them): non-finite numbers are
written as null."""

from __future__ import annotations

import json
import math
from typing import Any

import numpy as np


def _finite(o: Any) -> Any:
    if isinstance(o, dict):
        return {k: _finite(v) for k, v in o.items()}
    if isinstance(o, (list, tuple)):
        return [_finite(v) for v in o]
    if isinstance(o, np.ndarray):
        return _finite(o.tolist())
    if isinstance(o, np.generic):
        o = o.item()
    if isinstance(o, float) and not math.isfinite(o):
        return None
    return o


def dumps(obj: Any, default: Any = str) -> str:
    """`obj` as indented, standard JSON (non-finite numbers as null)."""
    return json.dumps(_finite(obj), indent=2, default=default, allow_nan=False)
