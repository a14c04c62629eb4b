"""The static world: a street grid, blocks with buildings, yards, pools, trees and street props.

Everything lives on north-up maps at `res` metres (top-left corner x0, y1, city CRS): `cls`
(ground class), `bid` (building id, 0 = none) and `tree_id` (canopy, 0 = none), plus per-object
arrays. Street photos and overhead images are both rendered from this one world.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from engine.data.sample_city.fields import LatentFields

GRASS, ROAD, MARKING, SIDEWALK, PAVED, BUILDING, POOL = range(7)
SIDEWALK_M = 3.0
LAMP, SIGN = 0, 1  # street prop kinds


@dataclass
class World:
    """The static city (see module docstring). `bounds` is the study area inside the margin."""

    bounds: tuple[float, float, float, float]
    x0: float
    y1: float
    res: float
    cls: np.ndarray
    bid: np.ndarray
    tree_id: np.ndarray
    rects: np.ndarray  # (N+1, 4) building footprints x0, y0, x1, y1 (row 0 unused)
    style: dict[str, np.ndarray]  # building attributes indexed by id
    trees: dict[str, np.ndarray]  # x, y, trunk_h, crown_r, crown_h, tint (N,3), evergreen
    props: dict[str, np.ndarray]  # kind, x, y, h, rgb (N,3)
    streets: dict[str, np.ndarray]  # ns_x, ns_w (north-south streets), ew_y, ew_w
    fields: LatentFields

    @property
    def shape(self) -> tuple[int, int]:
        return self.cls.shape

    def index(self, x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(row, col, inside) map indices of points (x, y); outside points get index 0."""
        col = np.floor((np.asarray(x) - self.x0) / self.res).astype(np.int64)
        row = np.floor((self.y1 - np.asarray(y)) / self.res).astype(np.int64)
        inside = (row >= 0) & (row < self.shape[0]) & (col >= 0) & (col < self.shape[1])
        return np.where(inside, row, 0), np.where(inside, col, 0), inside


@dataclass
class Canvas:
    """Mutable maps and object lists while the world is being built."""

    x0: float
    y1: float
    res: float
    cls: np.ndarray
    bid: np.ndarray
    rects: list = field(default_factory=list)
    styles: list = field(default_factory=list)
    trees: list = field(default_factory=list)
    props: list = field(default_factory=list)

    def window(self, x0: float, y0: float, x1: float, y1: float) -> tuple[slice, slice]:
        """Array slices (rows, cols) of the rectangle [x0, x1] x [y0, y1], clipped to the map."""
        h, w = self.cls.shape
        c0 = int(np.clip(round((x0 - self.x0) / self.res), 0, w))
        c1 = int(np.clip(round((x1 - self.x0) / self.res), 0, w))
        r0 = int(np.clip(round((self.y1 - y1) / self.res), 0, h))
        r1 = int(np.clip(round((self.y1 - y0) / self.res), 0, h))
        return slice(r0, r1), slice(c0, c1)

    def cls_at(self, x: float, y: float) -> int:
        h, w = self.cls.shape
        r, c = int((self.y1 - y) / self.res), int((x - self.x0) / self.res)
        return int(self.cls[r, c]) if 0 <= r < h and 0 <= c < w else -1


def street_lines(rng: np.random.Generator, lo: float, hi: float, pitch: float, first: float):
    """Jittered street centre coordinates covering [lo, hi] and their road widths."""
    k0 = int(np.floor((lo - first) / pitch)) - 1
    k1 = int(np.ceil((hi - first) / pitch)) + 1
    ks = np.arange(k0, k1 + 1)
    pos = first + ks * pitch + rng.uniform(-0.08, 0.08, ks.size) * pitch
    width = np.where(ks % 4 == 0, 16.0, 11.0)
    return pos, width


def rasterize_streets(canvas: Canvas, streets: dict[str, np.ndarray]) -> None:
    """Roads, centre-line dashes, crosswalks and sidewalks, vectorised over rows and columns."""
    h, w = canvas.cls.shape
    cx = canvas.x0 + (np.arange(w) + 0.5) * canvas.res
    cy = canvas.y1 - (np.arange(h) + 0.5) * canvas.res

    def bands(coord: np.ndarray, centres: np.ndarray, widths: np.ndarray, a: float, b: float):
        d = np.abs(coord[:, None] - centres[None, :])
        half = widths[None, :] / 2
        return ((d >= half + a) & (d < half + b)).any(1)

    road_x = bands(cx, streets["ns_x"], streets["ns_w"], -1e9, 0.0)
    road_y = bands(cy, streets["ew_y"], streets["ew_w"], -1e9, 0.0)
    walk_x = bands(cx, streets["ns_x"], streets["ns_w"], 0.0, SIDEWALK_M)
    walk_y = bands(cy, streets["ew_y"], streets["ew_w"], 0.0, SIDEWALK_M)
    line_x = (np.abs(cx[:, None] - streets["ns_x"][None, :]) < 0.26).any(1)
    line_y = (np.abs(cy[:, None] - streets["ew_y"][None, :]) < 0.26).any(1)
    zebra_x = bands(cy, streets["ew_y"], streets["ew_w"], 0.6, 3.6)  # rows before a crossing
    zebra_y = bands(cx, streets["ns_x"], streets["ns_w"], 0.6, 3.6)
    stripe_x, stripe_y = (cx % 1.0) < 0.5, (cy % 1.0) < 0.5
    dash_y, dash_x = (cy % 6.0) < 3.0, (cx % 6.0) < 3.0

    road = road_x[None, :] | road_y[:, None]
    cls = canvas.cls
    cls[:] = GRASS
    cls[(walk_x[None, :] | walk_y[:, None]) & ~road] = SIDEWALK
    cls[road] = ROAD
    ns_only = road_x[None, :] & ~road_y[:, None]
    ew_only = road_y[:, None] & ~road_x[None, :]
    cls[ns_only & line_x[None, :] & dash_y[:, None]] = MARKING
    cls[ew_only & line_y[:, None] & dash_x[None, :]] = MARKING
    cls[ns_only & zebra_x[:, None] & stripe_x[None, :]] = MARKING
    cls[ew_only & zebra_y[None, :] & stripe_y[:, None]] = MARKING
