"""Derived targets: `fit --target` takes a field name or an arithmetic expression over fields
and `area_km2`, e.g. `population / area_km2` (a density).

`area_km2` is each polygon's area in an equal-area CRS (EPSG:6933, WGS 84 / NSIDC EASE-Grid 2.0
Global), whatever the layer's own CRS. Expressions are parsed with `ast` and only numbers,
field names, + - * / ** and unary minus are allowed: nothing from a data file is executed.
"""

from __future__ import annotations

import ast
import logging
import operator
from typing import Any

import numpy as np

from engine.errors import EngineError

log = logging.getLogger(__name__)

EQUAL_AREA_CRS = "EPSG:6933"
AREA = "area_km2"
_OPS = {ast.Add: operator.add, ast.Sub: operator.sub, ast.Mult: operator.mul,
        ast.Div: operator.truediv, ast.Pow: operator.pow}


def area_km2(frame: Any) -> np.ndarray:
    """Area of each polygon in km², measured in the equal-area EPSG:6933."""
    if frame.crs is None:
        raise EngineError("the polygon layer has no CRS, so area_km2 cannot be measured",
                          "assign its CRS in QGIS and re-save it")
    kinds = set(frame.geom_type.dropna().unique())
    if not kinds <= {"Polygon", "MultiPolygon"}:
        raise EngineError(f"area_km2 needs polygons, the layer holds {sorted(kinds)}",
                          "use --polygons with a polygon layer, or a plain field as --target")
    return frame.geometry.to_crs(EQUAL_AREA_CRS).area.to_numpy(dtype=np.float64) / 1e6


def is_expression(target: str) -> bool:
    """True when `target` is more than one plain field name."""
    try:
        node = ast.parse(target, mode="eval").body
    except SyntaxError:
        return False
    return not isinstance(node, ast.Name)


def _fields(frame: Any) -> list[str]:
    return [str(c) for c in frame.columns if c != frame.geometry.name]


def evaluate_target(frame: Any, target: str, where: str) -> np.ndarray:
    """float64 values of the expression `target` per row of `frame` (a GeoDataFrame)."""
    try:
        tree = ast.parse(target, mode="eval")
    except SyntaxError:
        raise EngineError(f"--target {target!r} is not a field name or an expression",
                          "e.g. --target population or --target 'population / area_km2'"
                          ) from None
    cache: dict[str, np.ndarray] = {}

    def name(n: str) -> np.ndarray:
        if n not in cache:
            if n == AREA and AREA not in frame.columns:
                cache[n] = area_km2(frame)
            elif n in frame.columns:
                col = frame[n]
                if col.dtype.kind not in "iufb":
                    raise EngineError(f"field {n!r} of {where} is not numeric ({col.dtype})",
                                      "use numeric fields in a --target expression")
                cache[n] = col.to_numpy(dtype=np.float64, na_value=np.nan)
            else:
                raise EngineError(f"{where} has no field {n!r} (in --target {target!r})",
                                  f"choose from: {', '.join(_fields(frame))}, {AREA}")
        return cache[n]

    def ev(node: ast.AST) -> Any:
        if isinstance(node, ast.Expression):
            return ev(node.body)
        if isinstance(node, ast.Constant) and isinstance(node.value, (int, float)) \
                and not isinstance(node.value, bool):
            return float(node.value)
        if isinstance(node, ast.Name):
            return name(node.id)
        if isinstance(node, ast.BinOp) and type(node.op) in _OPS:
            return _OPS[type(node.op)](ev(node.left), ev(node.right))
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.USub, ast.UAdd)):
            v = ev(node.operand)
            return -v if isinstance(node.op, ast.USub) else v
        raise EngineError(f"--target {target!r}: {ast.dump(node)[:40]} is not allowed",
                          "use field names, numbers, + - * / ** and parentheses")

    with np.errstate(divide="ignore", invalid="ignore"):
        out = np.broadcast_to(np.asarray(ev(tree), dtype=np.float64), (len(frame),)).copy()
    # rows whose fields are all there but whose value is not a number: a division by zero,
    # an overflow, a negative number to a fractional power
    given = np.ones(len(frame), dtype=bool)
    for values in cache.values():
        given &= np.isfinite(values)
    broken = given & ~np.isfinite(out)
    out[~np.isfinite(out)] = np.nan
    if broken.any() and not np.isfinite(out).any():
        raise EngineError(f"--target {target!r} is not a finite number at any of the "
                          f"{len(out)} rows of {where} (a division by zero or an overflow)",
                          "check the expression, e.g. a divisor that is 0 everywhere")
    if broken.any():
        log.warning("--target %s is not a finite number at %d of %d rows that have every "
                    "field (a division by zero or an overflow); they are left out", target,
                    int(broken.sum()), len(out))
    log.info("target %s: %d of %d rows finite", target, int(np.isfinite(out).sum()), len(out))
    return out
