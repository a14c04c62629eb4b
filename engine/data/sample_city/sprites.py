"""Upright objects in a street photo (trees, lamps, signs, cars, people), drawn far to near."""

from __future__ import annotations

import math

import numpy as np

from engine.data.sample_city import camera as cam
from engine.data.sample_city.camera import Frame, haze
from engine.data.sample_city.dynamics import Conditions
from engine.data.sample_city.rng import hash01
from engine.data.sample_city.world import LAMP

MAX_DIST = 110.0


def _box(fr: Frame, z: float, col: float, half_w: float, z0: float, z1: float):
    """Pixel box (rows, cols, visible-column mask) of an upright rectangle; None if unseen."""
    hw = fr.span(half_w, z)
    c0, c1 = int(math.floor(col - hw + 0.5)), int(math.floor(col + hw + 0.5))
    if c1 <= c0:
        c1 = c0 + 1
    r0 = int(math.floor(fr.row_of(z1, z) + 0.5))
    r1 = int(math.floor(fr.row_of(z0, z) + 0.5))
    r1 = max(r1, r0 + 1)
    c0, c1, r0, r1 = max(c0, 0), min(c1, fr.width), max(r0, 0), min(r1, fr.height)
    if c0 >= c1 or r0 >= r1:
        return None
    vis = fr.zbuf[c0:c1] > z
    if not vis.any():
        return None
    return slice(r0, r1), slice(c0, c1), vis


def _paint(fr: Frame, box, rgb, label: int, z: float, cond: Conditions, mask=None) -> None:
    if box is None:
        return
    rows, cols, vis = box
    m = np.broadcast_to(vis[None, :], (rows.stop - rows.start, cols.stop - cols.start))
    if mask is not None:
        m = m & mask
    lit = np.asarray(rgb, np.float32) * cond.brightness
    colour = haze(lit, z, cond.haze_rgb, cond.visibility_m)
    fr.img[rows, cols][m] = colour if np.ndim(colour) == 1 else colour[m]
    fr.label[rows, cols][m] = label


def _tree(fr: Frame, z: float, col: float, t: dict, i: int, cond: Conditions) -> None:
    top = t["trunk_h"][i] + t["crown_h"][i]
    _paint(fr, _box(fr, z, col, 0.18, 0.0, t["trunk_h"][i] + 0.3 * t["crown_h"][i]),
           (0.33, 0.26, 0.20), cam.TREE, z, cond)
    box = _box(fr, z, col, t["crown_r"][i], t["trunk_h"][i], top)
    if box is None:
        return
    rows, cols, _ = box
    rr = np.arange(rows.start, rows.stop) + 0.5
    cc = np.arange(cols.start, cols.stop) + 0.5
    rc = (fr.row_of(t["trunk_h"][i], z) + fr.row_of(top, z)) / 2
    ry = max((fr.row_of(t["trunk_h"][i], z) - fr.row_of(top, z)) / 2, 0.5)
    rx = max(fr.span(t["crown_r"][i], z), 0.5)
    ny, nx = (rr[:, None] - rc) / ry, (cc[None, :] - col) / rx
    inside = nx**2 + ny**2 < 1.0
    leaf = hash01(np.full_like(ny, i), np.floor(ny * 6), np.floor(nx * 6))
    evergreen = bool(t["evergreen"][i])
    if not evergreen:
        inside &= leaf < cond.foliage_density + 0.05
    base = np.array([0.16, 0.33, 0.17]) if evergreen else cond.foliage
    rgb = base * t["tint"][i] * (0.75 + 0.35 * leaf[..., None]) * (1.0 - 0.2 * ny[..., None])
    _paint(fr, box, np.clip(rgb, 0, 1), cam.TREE, z, cond, inside)


def _car(fr: Frame, z: float, col: float, rgb: np.ndarray, cond: Conditions) -> None:
    _paint(fr, _box(fr, z, col, 0.9, 0.3, 0.95), rgb, cam.CAR, z, cond)
    _paint(fr, _box(fr, z, col, 0.7, 0.95, 1.45), 0.3 * rgb + 0.1, cam.CAR, z, cond)
    for side in (-0.65, 0.65):
        _paint(fr, _box(fr, z, col + fr.span(side, z), 0.2, 0.0, 0.35), (0.05, 0.05, 0.05),
               cam.CAR, z, cond)


def _person(fr: Frame, z: float, col: float, a: dict, i: int, cond: Conditions) -> None:
    k = a["people_h"][i] / 1.75
    _paint(fr, _box(fr, z, col, 0.16, 0.0, 0.85 * k), a["pants"][i], cam.PERSON, z, cond)
    _paint(fr, _box(fr, z, col, 0.23, 0.85 * k, 1.45 * k), a["shirt"][i], cam.PERSON, z, cond)
    _paint(fr, _box(fr, z, col, 0.11, 1.48 * k, 1.72 * k), a["skin"][i], cam.PERSON, z, cond)


def _prop(fr: Frame, z: float, col: float, p: dict, i: int, cond: Conditions) -> None:
    h = p["h"][i]
    if p["kind"][i] == LAMP:
        _paint(fr, _box(fr, z, col, 0.08, 0.0, h), p["rgb"][i], cam.PROP, z, cond)
        _paint(fr, _box(fr, z, col, 0.3, h - 0.25, h), (0.85, 0.85, 0.75), cam.PROP, z, cond)
    else:
        _paint(fr, _box(fr, z, col, 0.05, 0.0, h - 0.7), (0.5, 0.5, 0.52), cam.PROP, z, cond)
        _paint(fr, _box(fr, z, col, 0.45, h - 0.8, h), p["rgb"][i], cam.PROP, z, cond)


def draw_sprites(fr: Frame, cond: Conditions, trees: dict, tree_idx: np.ndarray, props: dict,
                 prop_idx: np.ndarray, actors: dict) -> None:
    """Draw every object in view, farthest first, each clipped by the facades in front of it."""
    items = []  # (forward, col, kind, index)
    for kind, xs, ys, idx in (
        ("tree", trees["x"][tree_idx], trees["y"][tree_idx], tree_idx),
        ("prop", props["x"][prop_idx], props["y"][prop_idx], prop_idx),
        ("car", actors["cars_xy"][:, 0], actors["cars_xy"][:, 1],
         np.arange(len(actors["cars_xy"]))),
        ("person", actors["people_xy"][:, 0], actors["people_xy"][:, 1],
         np.arange(len(actors["people_xy"]))),
    ):
        depth, col, ok = fr.project(xs, ys, MAX_DIST)
        items += [(z, c, kind, int(i))
                  for z, c, i in zip(depth[ok], col[ok], idx[ok], strict=True)]
    items.sort(key=lambda it: (-it[0], it[2], it[3]))
    for z, at, kind, i in items:
        for col in fr.copies(at):  # a panorama draws objects across its seam on both sides
            if kind == "tree":
                _tree(fr, z, col, trees, i, cond)
            elif kind == "prop":
                _prop(fr, z, col, props, i, cond)
            elif kind == "car":
                _car(fr, z, col, actors["car_rgb"][i], cond)
            else:
                _person(fr, z, col, actors, i, cond)
