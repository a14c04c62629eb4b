"""Top-down RGB of the same static world at one date: roofs, roads, trees, pools, shadows, cars."""

from __future__ import annotations

import math
from datetime import datetime, timezone

import numpy as np

from engine.data.sample_city.dynamics import conditions, overhead_cars
from engine.data.sample_city.rng import hash01, stream
from engine.data.sample_city.world import (
    BUILDING,
    MARKING,
    PAVED,
    POOL,
    ROAD,
    SIDEWALK,
    World,
)

_GROUND = {ROAD: (0.30, 0.30, 0.32), MARKING: (0.85, 0.85, 0.80), SIDEWALK: (0.68, 0.67, 0.64),
           PAVED: (0.60, 0.57, 0.52), POOL: (0.20, 0.62, 0.82)}
_BRANCHES = np.array([0.36, 0.30, 0.24])
CAR_LEN_M, CAR_WID_M = 4.4, 1.8


def _heights(world: World) -> np.ndarray:
    """Height (metres) of roofs and tree crowns on the world grid."""
    h = world.style["height"][world.bid].astype(np.float32)
    tree = world.tree_id > 0
    crown = (world.trees["trunk_h"] + world.trees["crown_h"]).astype(np.float32)
    h[tree] = np.maximum(h[tree], crown[world.tree_id[tree] - 1])
    return h


def _base_rgb(world: World, cond) -> np.ndarray:
    cls, bid = world.cls, world.bid
    rgb = np.empty((*cls.shape, 3), np.float32)
    rgb[:] = cond.grass
    for k, v in _GROUND.items():
        rgb[cls == k] = v
    roof = cls == BUILDING
    b = bid[roof]
    colour = world.style["roof_rgb"][b].astype(np.float32)
    rows, cols = np.nonzero(roof)
    x = world.x0 + (cols + 0.5) * world.res
    y = world.y1 - (rows + 0.5) * world.res
    r = world.rects[b]
    long_x = (r[:, 2] - r[:, 0]) >= (r[:, 3] - r[:, 1])
    far_side = np.where(long_x, y > (r[:, 1] + r[:, 3]) / 2, x > (r[:, 0] + r[:, 2]) / 2)
    pitched = world.style["pitched"][b]
    colour *= np.where(pitched & far_side, 0.78, 1.0)[:, None]
    rgb[roof] = colour
    tree = world.tree_id > 0
    t = world.tree_id[tree] - 1
    rows, cols = np.nonzero(tree)
    leaf = cond.foliage[None, :] * world.trees["tint"][t]
    evergreen = world.trees["evergreen"][t]
    leaf[evergreen] = np.array([0.16, 0.32, 0.18]) * world.trees["tint"][t][evergreen]
    bare = (hash01(rows, cols, t) > cond.foliage_density) & ~evergreen
    dx = world.x0 + (cols + 0.5) * world.res - world.trees["x"][t]
    dy = world.y1 - (rows + 0.5) * world.res - world.trees["y"][t]
    dome = 1.0 - 0.35 * np.clip(np.hypot(dx, dy) / world.trees["crown_r"][t], 0, 1) ** 2
    rgb[tree] = np.where(bare[:, None], _BRANCHES, leaf * dome[:, None])
    return rgb


def _draw_cars(rgb: np.ndarray, world: World, cars: np.ndarray) -> None:
    res = world.res
    for x, y, along_x, r, g, b in cars:
        hx, hy = (CAR_LEN_M / 2, CAR_WID_M / 2) if along_x else (CAR_WID_M / 2, CAR_LEN_M / 2)
        c0, c1 = int((x - hx - world.x0) / res), int(math.ceil((x + hx - world.x0) / res))
        r0, r1 = int((world.y1 - y - hy) / res), int(math.ceil((world.y1 - y + hy) / res))
        rgb[max(r0, 0):max(r1, 0), max(c0, 0):max(c1, 0)] = (r, g, b)


def _shadow(height: np.ndarray, res: float, sun_az: float, sun_el: float) -> np.ndarray:
    """Cells in the shadow of taller cells towards the sun (height-field ray march)."""
    shade = np.zeros(height.shape, bool)
    slope = math.tan(math.radians(max(sun_el, 5.0)))
    dcol, drow = math.sin(math.radians(sun_az)), -math.cos(math.radians(sun_az))
    for step in range(1, int(min(height.max() / slope, 80.0) / res) + 1):
        dr, dc = int(round(step * drow)), int(round(step * dcol))
        shifted = np.zeros_like(height)
        h, w = height.shape
        src = height[max(dr, 0):h + min(dr, 0), max(dc, 0):w + min(dc, 0)]
        shifted[max(-dr, 0):h + min(-dr, 0), max(-dc, 0):w + min(-dc, 0)] = src
        shade |= shifted - height > step * res * slope
    return shade


def render_overhead(world: World, date: str, seed: int, index: int,
                    out_res: float) -> np.ndarray:
    """uint8 (3, H, W) RGB of the study area (world bounds) at `out_res` metres for `date`."""
    when = datetime.fromisoformat(date).replace(hour=16, tzinfo=timezone.utc)
    rng = stream(seed, "overhead", index)
    cond = conditions(rng, when)
    rgb = _base_rgb(world, cond)
    xmin, ymin, xmax, ymax = world.bounds
    _draw_cars(rgb, world, overhead_cars(rng, world.streets, world.fields, (xmin, ymin),
                                         (xmax, ymax)))
    rows, cols = np.mgrid[0:rgb.shape[0], 0:rgb.shape[1]]
    rgb *= (0.9 + 0.2 * hash01(rows // 2, cols // 2, np.full_like(rows, index)))[..., None]
    f = int(round(out_res / world.res))
    r0 = int(round((world.y1 - ymax) / world.res))
    c0 = int(round((xmin - world.x0) / world.res))
    n_r, n_c = int(round((ymax - ymin) / out_res)), int(round((xmax - xmin) / out_res))
    crop = rgb[r0:r0 + n_r * f, c0:c0 + n_c * f].reshape(n_r, f, n_c, f, 3).mean((1, 3))
    height = _heights(world)[r0:r0 + n_r * f, c0:c0 + n_c * f].reshape(n_r, f, n_c, f).max((1, 3))
    shade = _shadow(height, out_res, cond.sun_az, cond.sun_el)
    crop *= np.where(shade, 1.0 - 0.55 * cond.shadow, 1.0)[..., None]
    crop = crop * cond.brightness * 1.1
    haze = 0.08 * (1.0 - cond.clear)
    crop = crop * (1 - haze) + haze * cond.haze_rgb
    return (np.clip(crop, 0, 1) * 255 + 0.5).astype(np.uint8).transpose(2, 0, 1)

