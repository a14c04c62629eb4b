"""Census-like tracts: a Voronoi partition of the area, with attributes that follow the fields."""

from __future__ import annotations

import numpy as np
import shapely
from rasterio import features
from rasterio.transform import Affine

from engine.data.sample_city.rng import stream
from engine.errors import EngineError

ATTRIBUTES = ("income", "poverty_share", "pop_density")


def check_tract_grid(grid: int) -> int:
    """`grid` if it makes at least 2 x 2 and at most 100 x 100 tracts, else an EngineError."""
    if not 2 <= int(grid) <= 100:
        raise EngineError(f"tract grid must be 2..100 (tracts per side), got {grid}",
                          "use e.g. --tract-grid 14 for 196 tracts")
    return int(grid)


def tract_polygons(bounds: tuple[float, float, float, float], grid: int, seed: int) -> list:
    """`grid` x `grid` Voronoi cells of a jittered lattice, clipped to the bounds (city CRS)."""
    rng = stream(seed, "tracts")
    xmin, ymin, xmax, ymax = bounds
    step_x, step_y = (xmax - xmin) / grid, (ymax - ymin) / grid
    ii, jj = np.meshgrid(np.arange(grid) + 0.5, np.arange(grid) + 0.5)
    px = xmin + (ii.ravel() + rng.uniform(-0.3, 0.3, grid * grid)) * step_x
    py = ymin + (jj.ravel() + rng.uniform(-0.3, 0.3, grid * grid)) * step_y
    box = shapely.box(*bounds)
    cells = shapely.voronoi_polygons(shapely.multipoints(np.c_[px, py]), extend_to=box)
    by_seed = {}
    for cell in shapely.get_parts(cells):
        inside = shapely.contains_xy(cell, px, py)
        by_seed[int(np.argmax(inside))] = shapely.intersection(cell, box).normalize()
    return [by_seed[k] for k in sorted(by_seed)]


def attribute_maps(latent: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """The noise-free attribute of each cell from its latent fields (the truth rasters)."""
    w, d = latent["wealth"].astype(np.float64), latent["density"].astype(np.float64)
    return {
        "income": (20000.0 + 100000.0 * w**1.2).astype(np.float32),
        "poverty_share": np.clip(0.45 - 0.40 * w + 0.05 * d, 0.01, 0.9).astype(np.float32),
        "pop_density": (300.0 + 15000.0 * d**1.5).astype(np.float32),
    }


def tract_attributes(polygons: list, truth: dict[str, np.ndarray], transform: Affine,
                     seed: int) -> dict[str, np.ndarray]:
    """Per tract: mean of the attribute truth over its cells, with multiplicative/additive noise."""
    rng = stream(seed, "tract_noise")
    shape = next(iter(truth.values())).shape
    ids = features.rasterize(((p, i + 1) for i, p in enumerate(polygons)), out_shape=shape,
                             transform=transform, fill=0, dtype="int32")
    n = len(polygons)
    counts = np.bincount(ids.ravel(), minlength=n + 1)[1:].clip(min=1)

    def mean(a: np.ndarray) -> np.ndarray:
        return np.bincount(ids.ravel(), weights=a.ravel(), minlength=n + 1)[1:] / counts

    out = {
        "income": mean(truth["income"]) * np.exp(rng.normal(0, 0.08, n)),
        "poverty_share": np.clip(mean(truth["poverty_share"]) + rng.normal(0, 0.03, n), 0.01, 0.9),
        "pop_density": mean(truth["pop_density"]) * np.exp(rng.normal(0, 0.10, n)),
    }
    return {k: np.round(v, 4) for k, v in out.items()}
