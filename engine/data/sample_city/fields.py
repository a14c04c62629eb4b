"""Smooth latent fields (wealth, density, greenery) in [0, 1] that drive the static world."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage, special

from engine.data.sample_city.rng import stream

FIELD_NAMES = ("wealth", "density", "greenery")


@dataclass
class LatentFields:
    """Fields on a north-up grid: top-left corner (x0, y1), square cells of `cell` metres."""

    x0: float
    y1: float
    cell: float
    values: dict[str, np.ndarray]  # name -> float32 (H, W) in [0, 1]

    def sample(self, name: str, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        """Bilinear value of field `name` at points (x, y) (same CRS as the grid)."""
        col = (np.asarray(x, dtype=np.float64) - self.x0) / self.cell - 0.5
        row = (self.y1 - np.asarray(y, dtype=np.float64)) / self.cell - 0.5
        grid = self.values[name]
        return ndimage.map_coordinates(grid, [row, col], order=1, mode="nearest")


def _smooth_noise(rng: np.random.Generator, shape: tuple[int, int], sigma_cells: float):
    z = ndimage.gaussian_filter(rng.standard_normal(shape), sigma_cells, mode="reflect")
    return (z - z.mean()) / (z.std() + 1e-12)


def make_fields(
    seed: int, x0: float, y1: float, width_m: float, height_m: float, cell: float, corr_m: float
) -> LatentFields:
    """Draw the three latent fields over a width_m x height_m area (correlation ~corr_m metres).

    Density peaks near a random downtown; greenery follows wealth and avoids density.
    """
    rng = stream(seed, "fields")
    shape = (int(round(height_m / cell)), int(round(width_m / cell)))
    big, fine = corr_m / cell / 2.0, corr_m / cell / 6.0

    def noise() -> np.ndarray:
        z = _smooth_noise(rng, shape, big) + 0.35 * _smooth_noise(rng, shape, fine)
        return z / np.hypot(1.0, 0.35)

    zw, zd, zg = noise(), noise(), noise()
    rows, cols = np.mgrid[0 : shape[0], 0 : shape[1]].astype(np.float64)
    cr, cc = rng.uniform(0.3, 0.7, size=2) * np.array(shape)
    r2 = ((rows - cr) ** 2 + (cols - cc) ** 2) / (0.35 * max(shape)) ** 2
    zd = zd + 1.3 * np.exp(-r2)
    zd = (zd - zd.mean()) / zd.std()
    zw = zw - 0.25 * zd
    zw = (zw - zw.mean()) / zw.std()
    zg = 0.75 * zg + 0.35 * zw - 0.45 * zd
    zg = (zg - zg.mean()) / zg.std()
    to01 = lambda z: special.ndtr(z).astype(np.float32)  # noqa: E731
    return LatentFields(
        x0=x0, y1=y1, cell=cell,
        values={"wealth": to01(zw), "density": to01(zd), "greenery": to01(zg)},
    )
