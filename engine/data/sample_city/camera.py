"""A pinhole street camera: the screen geometry shared by the wall, ground and sprite passes.

Every pass asks the Frame for its projection (rows, columns, distances), never computes it
itself, so a panorama camera (sample_city.panorama.PanoFrame) reuses the same passes.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

CAM_H = 2.3  # camera height above the road (metres)
FOV_DEG = 90.0

# per-pixel labels (what is visible), used for perception features
SKY, WALL, WINDOW, SHOP, GRAFFITI, ROAD_PX, WALK_PX, GRASS_PX, TREE, CAR, PERSON, PROP, OTHER = (
    range(13))


@dataclass
class Frame:
    """One photo being drawn: the image, labels and depth per column (forward metres)."""

    size: int
    x: float
    y: float
    heading: float  # degrees from north
    img: np.ndarray  # float32 (height, width, 3) in [0, 1]
    label: np.ndarray  # uint8 (height, width)
    zbuf: np.ndarray  # (width,) depth of the wall in each column (inf: none)

    @property
    def width(self) -> int:
        return self.size

    @property
    def height(self) -> int:
        return self.size

    @property
    def focal(self) -> float:
        return self.size / 2 / math.tan(math.radians(FOV_DEG / 2))

    @property
    def horizon(self) -> float:
        return self.size * 0.5

    def col_angles(self) -> np.ndarray:
        """Angle (radians, positive to the right) of each pixel column's ray."""
        return np.arctan((np.arange(self.size) + 0.5 - self.size / 2) / self.focal)

    def ray_cos(self, ang: np.ndarray) -> np.ndarray:
        """Forward distance per unit of ray length in each column (pinhole: cos of its angle)."""
        return np.cos(ang)

    def sky_t(self) -> np.ndarray:
        """Per row, 0 at the top of the sky gradient .. 1 at (and below) the horizon."""
        return np.clip((np.arange(self.size) + 0.5) / self.horizon, 0, 1)

    def cloud_rows(self) -> np.ndarray:
        """Per row, the cloud texture's vertical coordinate (0 top .. 1 bottom of a photo)."""
        return (np.arange(self.size) + 0.5) / self.size

    def ground_rows(self) -> tuple[np.ndarray, np.ndarray]:
        """(rows below the horizon mask, forward metres to the ground seen in those rows)."""
        rc = np.arange(self.size) + 0.5
        below = rc > self.horizon + 0.25
        return below, self.focal * CAM_H / (rc[below] - self.horizon)

    def height_at(self, rows: np.ndarray, forward: np.ndarray) -> np.ndarray:
        """Height (m) seen at pixel-centre `rows` on a surface `forward` metres ahead."""
        return CAM_H + (self.horizon - rows) * forward / self.focal

    def to_camera(self, x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(forward, right) metres of world points (x, y) relative to the camera."""
        h = math.radians(self.heading)
        rx, ry = np.asarray(x) - self.x, np.asarray(y) - self.y
        return rx * math.sin(h) + ry * math.cos(h), rx * math.cos(h) - ry * math.sin(h)

    def project(self, x: np.ndarray, y: np.ndarray, max_dist: float
                ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(depth, column, in view) of upright objects standing at world points (x, y)."""
        fwd, right = self.to_camera(x, y)
        half = math.tan(math.radians(FOV_DEG / 2)) * 1.15
        ok = (fwd > 1.0) & (fwd < max_dist) & (np.abs(right) < fwd * half + 4.0)
        return fwd, self.col_of(right, np.where(ok, fwd, 1.0)), ok

    def copies(self, col: float) -> tuple[float, ...]:
        """The screen columns an object centred at `col` is drawn at (one for a photo)."""
        return (col,)

    def span(self, metres: float, depth: float) -> float:
        """Screen width (px) of `metres` across an upright object at `depth` metres."""
        return self.focal * metres / depth

    def row_of(self, height_m: np.ndarray | float, forward: np.ndarray | float):
        """Screen row (float) of a point `height_m` above the ground at `forward` metres."""
        return self.horizon - self.focal * (height_m - CAM_H) / forward

    def col_of(self, right: np.ndarray | float, forward: np.ndarray | float):
        return self.size / 2 + self.focal * np.asarray(right) / np.asarray(forward)


def haze(rgb: np.ndarray, dist: np.ndarray | float, haze_rgb: np.ndarray, vis: float):
    """Blend colours towards the haze colour with distance (Beer-Lambert)."""
    if np.ndim(dist) == 0:  # one object at one distance (sprites): plain float maths
        a = 1.0 - math.exp(-float(dist) / vis)
        return rgb * (1 - a) + haze_rgb * a
    a = (1.0 - np.exp(-np.asarray(dist, dtype=np.float32) / vis))[..., None]
    return rgb * (1 - a) + haze_rgb * a
