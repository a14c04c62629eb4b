"""A pinhole street camera: the screen geometry shared by the wall, ground and sprite passes."""

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
    img: np.ndarray  # float32 (S, S, 3) in [0, 1]
    label: np.ndarray  # uint8 (S, S)
    zbuf: np.ndarray  # (S,) forward distance of the wall in each column (inf: none)

    @property
    def focal(self) -> float:
        return self.size / 2 / math.tan(math.radians(FOV_DEG / 2))

    @property
    def horizon(self) -> float:
        return self.size * 0.5

    def col_angles(self) -> np.ndarray:
        """Angle (radians, positive to the right) of each pixel column's ray."""
        return np.arctan((np.arange(self.size) + 0.5 - self.size / 2) / self.focal)

    def to_camera(self, x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(forward, right) metres of world points (x, y) relative to the camera."""
        h = math.radians(self.heading)
        rx, ry = np.asarray(x) - self.x, np.asarray(y) - self.y
        return rx * math.sin(h) + ry * math.cos(h), rx * math.cos(h) - ry * math.sin(h)

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
