"""Fill one city block: a park, or rows of buildings facing the streets with yards, pools, trees."""

from __future__ import annotations

import numpy as np

from engine.data.sample_city.fields import LatentFields
from engine.data.sample_city.style import make_style
from engine.data.sample_city.world import BUILDING, GRASS, PAVED, POOL, Canvas


def add_tree(canvas: Canvas, rng: np.random.Generator, x: float, y: float, wealth: float) -> None:
    """One tree: trunk, crown size and a per-tree tint; ~15% evergreens keep their colour."""
    crown_r = rng.uniform(1.8, 3.6) * (0.9 + 0.3 * wealth)
    canvas.trees.append((x, y, rng.uniform(1.8, 3.0), crown_r, rng.uniform(1.4, 2.0) * crown_r,
                         *rng.uniform(0.85, 1.15, 3), float(rng.random() < 0.15)))


def _free(canvas: Canvas, x0: float, y0: float, x1: float, y1: float) -> bool:
    rows, cols = canvas.window(x0, y0, x1, y1)
    patch = canvas.cls[rows, cols]
    return patch.size > 0 and bool(np.isin(patch, (GRASS, PAVED)).all())


def _park(canvas: Canvas, rng: np.random.Generator, rect: tuple, wealth: float) -> None:
    x0, y0, x1, y1 = rect
    canvas.cls[canvas.window(*rect)] = GRASS
    xm, ym = (x0 + x1) / 2, (y0 + y1) / 2
    canvas.cls[canvas.window(xm - 1.5, y0, xm + 1.5, y1)] = PAVED
    canvas.cls[canvas.window(x0, ym - 1.5, x1, ym + 1.5)] = PAVED
    for _ in range(rng.poisson((x1 - x0) * (y1 - y0) / 90.0)):
        x, y = rng.uniform(x0 + 2, x1 - 2), rng.uniform(y0 + 2, y1 - 2)
        if abs(x - xm) > 3 and abs(y - ym) > 3:
            add_tree(canvas, rng, x, y, wealth)


def _row(canvas, rng, fields, side: str, rect: tuple, setback: float, depth: float, span: tuple):
    """Buildings along one block side; `span` is the (start, end) of the row along the street."""
    x0, y0, x1, y1 = rect
    start, end = span
    pos = start
    while end - pos > 6.0:
        dn0 = float(fields.sample("density", [(x0 + x1) / 2], [(y0 + y1) / 2])[0])
        lot = rng.uniform(0.7, 1.3) * (9.0 + 6.0 * dn0)
        if end - (pos + lot) < 7.0:
            lot = end - pos
        a, b = pos, pos + lot
        pos = b
        gap = rng.uniform(0.0, 3.0) * (1.0 - dn0) ** 2
        d = depth * rng.uniform(0.75, 1.0)
        if side == "N":
            fp = (a + gap, y1 - setback - d, b - gap, y1 - setback)
        elif side == "S":
            fp = (a + gap, y0 + setback, b - gap, y0 + setback + d)
        elif side == "W":
            fp = (x0 + setback, a + gap, x0 + setback + d, b - gap)
        else:
            fp = (x1 - setback - d, a + gap, x1 - setback, b - gap)
        cx, cy = (fp[0] + fp[2]) / 2, (fp[1] + fp[3]) / 2
        wl = float(fields.sample("wealth", [cx], [cy])[0])
        dn = float(fields.sample("density", [cx], [cy])[0])
        rows, cols = canvas.window(*fp)
        if rows.stop - rows.start < 4 or cols.stop - cols.start < 4:
            continue
        canvas.styles.append(make_style(rng, wl, dn))
        canvas.rects.append(fp)
        canvas.cls[rows, cols] = BUILDING
        canvas.bid[rows, cols] = len(canvas.rects)
        if rng.random() < np.clip(2.2 * wl * (1.0 - dn) - 0.8, 0.0, 0.6):
            _pool(canvas, rng, side, fp)


def _pool(canvas: Canvas, rng: np.random.Generator, side: str, fp: tuple) -> None:
    """A pool with a paved deck in the back yard, only where the yard is free."""
    bx0, by0, bx1, by1 = fp
    cx, cy = (bx0 + bx1) / 2 + rng.uniform(-1, 1), (by0 + by1) / 2 + rng.uniform(-1, 1)
    long_, short = rng.uniform(6.0, 9.0), rng.uniform(3.0, 4.5)
    if side in ("N", "S"):
        py = by0 - 3.0 - short / 2 if side == "N" else by1 + 3.0 + short / 2
        pool = (cx - long_ / 2, py - short / 2, cx + long_ / 2, py + short / 2)
    else:
        px = bx1 + 3.0 + short / 2 if side == "W" else bx0 - 3.0 - short / 2
        pool = (px - short / 2, cy - long_ / 2, px + short / 2, cy + long_ / 2)
    deck = (pool[0] - 1.0, pool[1] - 1.0, pool[2] + 1.0, pool[3] + 1.0)
    if _free(canvas, *deck):
        canvas.cls[canvas.window(*deck)] = PAVED
        canvas.cls[canvas.window(*pool)] = POOL


def fill_block(canvas: Canvas, rng: np.random.Generator, fields: LatentFields, rect: tuple) -> None:
    """Fill the block inside `rect` (x0, y0, x1, y1; inside the sidewalks)."""
    x0, y0, x1, y1 = rect
    if x1 - x0 < 12 or y1 - y0 < 12:
        return
    cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
    wl, dn, gr = (float(fields.sample(n, [cx], [cy])[0]) for n in ("wealth", "density", "greenery"))
    if rng.random() < np.clip((gr - 0.6) * 2.5 * (1.0 - dn), 0.0, 0.8):
        _park(canvas, rng, rect, wl)
        return
    yard = GRASS if rng.random() < 0.15 + 0.85 * gr else PAVED
    canvas.cls[canvas.window(*rect)] = yard
    setback = float(np.clip(6.0 * (1.0 - dn) ** 1.5 * rng.uniform(0.6, 1.2), 0.0, 7.0))
    half = min(x1 - x0, y1 - y0) / 2 - setback
    depth = float(np.clip(7.0 + 16.0 * dn + rng.normal(0, 2), 6.0, max(half - 1.0, 6.0)))
    _row(canvas, rng, fields, "N", rect, setback, depth, (x0 + setback, x1 - setback))
    _row(canvas, rng, fields, "S", rect, setback, depth, (x0 + setback, x1 - setback))
    inner = (y0 + setback + depth + 1.0, y1 - setback - depth - 1.0)
    _row(canvas, rng, fields, "W", rect, setback, depth, inner)
    _row(canvas, rng, fields, "E", rect, setback, depth, inner)
    n_trees = rng.poisson((x1 - x0) * (y1 - y0) * 0.006 * gr**1.3)
    for _ in range(n_trees):
        x, y = rng.uniform(x0 + 1, x1 - 1), rng.uniform(y0 + 1, y1 - 1)
        if _free(canvas, x - 0.5, y - 0.5, x + 0.5, y + 0.5):
            add_tree(canvas, rng, x, y, wl)
