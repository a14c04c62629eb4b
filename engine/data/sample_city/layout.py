"""Build the whole static world of a preset: fields, streets, blocks, street trees and props."""

from __future__ import annotations

import logging

import numpy as np

from engine.data.sample_city.blocks import add_tree, fill_block
from engine.data.sample_city.fields import make_fields
from engine.data.sample_city.presets import ORIGIN_XY, Preset
from engine.data.sample_city.rng import stream
from engine.data.sample_city.style import accent_colour, stack_styles
from engine.data.sample_city.world import (
    LAMP,
    SIDEWALK,
    SIDEWALK_M,
    SIGN,
    Canvas,
    World,
    rasterize_streets,
    street_lines,
)

log = logging.getLogger(__name__)


def _edges(rect: tuple) -> list[tuple[float, float, float, float, float, float]]:
    """Sidewalk lines of a block: (xa, ya, xb, yb, nx, ny), n pointing from the curb inwards."""
    x0, y0, x1, y1 = rect
    s = SIDEWALK_M
    return [
        (x0, y1 + s, x1, y1 + s, 0.0, -1.0), (x0, y0 - s, x1, y0 - s, 0.0, 1.0),
        (x0 - s, y0, x0 - s, y1, 1.0, 0.0), (x1 + s, y0, x1 + s, y1, -1.0, 0.0),
    ]


def _street_furniture(canvas: Canvas, rng: np.random.Generator, fields, rect: tuple) -> None:
    """Street trees, lamps and signposts on the sidewalks around one block."""
    for xa, ya, xb, yb, nx, ny in _edges(rect):
        length = np.hypot(xb - xa, yb - ya)
        ux, uy = (xb - xa) / length, (yb - ya) / length
        gr = float(fields.sample("greenery", [(xa + xb) / 2], [(ya + yb) / 2])[0])
        wl = float(fields.sample("wealth", [(xa + xb) / 2], [(ya + yb) / 2])[0])
        t = rng.uniform(2.0, 6.0)
        while t < length - 2.0:
            if rng.random() < np.clip(1.3 * gr - 0.15, 0.03, 0.95):
                x, y = xa + ux * t + nx * 1.1, ya + uy * t + ny * 1.1
                if canvas.cls_at(x, y) == SIDEWALK:
                    add_tree(canvas, rng, x, y, wl)
            t += rng.uniform(7.0, 11.0)
        for t in np.arange(rng.uniform(3.0, 15.0), length - 2.0, 30.0):
            x, y = xa + ux * t + nx * 0.5, ya + uy * t + ny * 0.5
            canvas.props.append((LAMP, x, y, rng.uniform(5.0, 6.5), 0.25, 0.25, 0.27))
        for _ in range(rng.poisson(length / 35.0)):
            t = rng.uniform(1.0, length - 1.0)
            x, y = xa + ux * t + nx * 2.4, ya + uy * t + ny * 2.4
            canvas.props.append((SIGN, x, y, rng.uniform(2.0, 3.2), *accent_colour(rng)))


def _canopy(canvas: Canvas, trees: np.ndarray) -> np.ndarray:
    """Map of tree ids (1-based) whose crown covers each cell, seen from above."""
    h, w = canvas.cls.shape
    tree_id = np.zeros((h, w), dtype=np.int32)
    res = canvas.res
    for i, (x, y, _, r) in enumerate(trees[:, :4], start=1):
        rows, cols = canvas.window(x - r, y - r, x + r, y + r)
        if rows.stop <= rows.start or cols.stop <= cols.start:
            continue
        yy = canvas.y1 - (np.arange(rows.start, rows.stop) + 0.5) * res
        xx = canvas.x0 + (np.arange(cols.start, cols.stop) + 0.5) * res
        disc = (xx[None, :] - x) ** 2 + (yy[:, None] - y) ** 2 < r * r
        tree_id[rows, cols][disc] = i
    return tree_id


def build_world(seed: int, preset: Preset) -> World:
    """The static world of `preset` for `seed` (deterministic)."""
    xmin, ymin = ORIGIN_XY
    xmax, ymax = xmin + preset.extent_m, ymin + preset.extent_m
    m, res = preset.margin_m, preset.world_res_m
    x0, y1 = xmin - m, ymax + m
    size = preset.extent_m + 2 * m
    n = int(round(size / res))
    cell = preset.overhead_res_m * preset.truth_factor
    fields = make_fields(seed, x0, y1, size, size, cell, preset.corr_m)
    rng = stream(seed, "streets")
    pitch = preset.block_pitch_m
    ns_x, ns_w = street_lines(rng, x0, x0 + size, pitch, xmin + pitch / 2)
    ew_y, ew_w = street_lines(rng, y1 - size, y1, pitch, ymin + pitch / 2)
    streets = {"ns_x": ns_x, "ns_w": ns_w, "ew_y": ew_y, "ew_w": ew_w}
    canvas = Canvas(x0=x0, y1=y1, res=res, cls=np.zeros((n, n), np.uint8),
                    bid=np.zeros((n, n), np.int32))
    rasterize_streets(canvas, streets)
    for i in range(ns_x.size - 1):
        for j in range(ew_y.size - 1):
            rect = (ns_x[i] + ns_w[i] / 2 + SIDEWALK_M, ew_y[j] + ew_w[j] / 2 + SIDEWALK_M,
                    ns_x[i + 1] - ns_w[i + 1] / 2 - SIDEWALK_M,
                    ew_y[j + 1] - ew_w[j + 1] / 2 - SIDEWALK_M)
            if rect[2] < x0 or rect[0] > x0 + size or rect[3] < y1 - size or rect[1] > y1:
                continue
            fill_block(canvas, stream(seed, "block", i, j), fields, rect)
            _street_furniture(canvas, stream(seed, "furniture", i, j), fields, rect)
    trees = np.array(canvas.trees, dtype=np.float64).reshape(-1, 9)
    props = np.array(canvas.props, dtype=np.float64).reshape(-1, 7)
    log.info("world: %d buildings, %d trees, %d props", len(canvas.rects), len(trees), len(props))
    return World(
        bounds=(xmin, ymin, xmax, ymax), x0=x0, y1=y1, res=res, cls=canvas.cls, bid=canvas.bid,
        tree_id=_canopy(canvas, trees),
        rects=np.vstack([np.zeros((1, 4)), np.array(canvas.rects).reshape(-1, 4)]),
        style=stack_styles(canvas.styles),
        trees={"x": trees[:, 0], "y": trees[:, 1], "trunk_h": trees[:, 2],
               "crown_r": trees[:, 3], "crown_h": trees[:, 4], "tint": trees[:, 5:8],
               "evergreen": trees[:, 8] > 0.5},
        props={"kind": props[:, 0].astype(np.int64), "x": props[:, 1], "y": props[:, 2],
               "h": props[:, 3], "rgb": props[:, 4:7]},
        streets=streets, fields=fields,
    )
