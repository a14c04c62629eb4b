"""A 360° equirectangular camera for the sample city: the same scene, ray-cast to every column.

PanoFrame answers the renderer's projection questions (see camera.Frame) for an
equirectangular image `2H` wide and `H` high: column c looks at yaw
((c + 0.5) / W - 0.5) * 360° from the panorama's heading (its centre column faces
`heading`, as GPano's PoseHeadingDegrees and Mapillary's compass_angle define it), row r at
elevation (H/2 - (r + 0.5)) * 180° / H. Sky, ground, facades and objects are drawn by the
same passes as a perspective photo, so a view cut from the panorama at heading h shows what
the perspective photo at h shows (engine.data.panorama.cut_view; tested pixel by pixel).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from engine.data.sample_city.camera import CAM_H, FOV_DEG, Frame
from engine.data.sample_city.dynamics import Conditions
from engine.data.sample_city.streetview import draw_scene
from engine.data.sample_city.world import World

_TAN_TOP = math.tan(math.radians(FOV_DEG / 2))  # a photo's top row: where the sky gradient starts


@dataclass
class PanoFrame(Frame):
    """An equirectangular frame: `size` rows (the height), 2 * size columns."""

    @property
    def width(self) -> int:
        return 2 * self.size

    @property
    def px_per_rad(self) -> float:
        return self.width / (2 * math.pi)

    def _tan_elev(self, rows: np.ndarray) -> np.ndarray:
        return np.tan((self.horizon - rows) * math.pi / self.size)

    def col_angles(self) -> np.ndarray:
        return ((np.arange(self.width) + 0.5) / self.width - 0.5) * 2 * math.pi

    def ray_cos(self, ang: np.ndarray) -> np.ndarray:
        return np.ones_like(ang)  # every column looks straight along its own ray

    def sky_t(self) -> np.ndarray:
        return np.clip(1.0 - self._tan_elev(np.arange(self.size) + 0.5) / _TAN_TOP, 0, 1)

    def cloud_rows(self) -> np.ndarray:
        rows = 0.5 - 0.5 * self._tan_elev(np.arange(self.size) + 0.5) / _TAN_TOP
        return np.maximum(rows, -1.0)  # near the zenith: no faster-than-pixel texture

    def ground_rows(self) -> tuple[np.ndarray, np.ndarray]:
        rc = np.arange(self.size) + 0.5
        below = rc > self.horizon + 0.25
        return below, CAM_H / -self._tan_elev(rc[below])

    def height_at(self, rows: np.ndarray, forward: np.ndarray) -> np.ndarray:
        return CAM_H + self._tan_elev(rows) * forward

    def project(self, x: np.ndarray, y: np.ndarray, max_dist: float
                ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        fwd, right = self.to_camera(x, y)
        depth = np.hypot(fwd, right)
        col = self.width / 2 + np.arctan2(right, fwd) * self.px_per_rad
        return depth, col, (depth > 1.0) & (depth < max_dist)

    def copies(self, col: float) -> tuple[float, ...]:
        return (col, col - self.width, col + self.width)

    def span(self, metres: float, depth: float) -> float:
        return self.px_per_rad * metres / depth

    def row_of(self, height_m: np.ndarray | float, forward: np.ndarray | float):
        return self.horizon - np.arctan((height_m - CAM_H) / forward) * self.size / math.pi


def render_panorama(world: World, x: float, y: float, heading: float, cond: Conditions,
                    actors: dict, tree_idx: np.ndarray, prop_idx: np.ndarray, height: int,
                    upkeep: float) -> np.ndarray:
    """Equirectangular panorama (uint8 height x 2*height x 3) from (x, y), centre at `heading`."""
    width = 2 * height
    fr = PanoFrame(size=height, x=x, y=y, heading=heading,
                   img=np.zeros((height, width, 3), np.float32),
                   label=np.zeros((height, width), np.uint8), zbuf=np.full(width, np.inf))
    img, _ = draw_scene(fr, world, cond, actors, tree_idx, prop_idx, upkeep)
    return img
