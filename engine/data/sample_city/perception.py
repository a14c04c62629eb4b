"""Perception scores from what each photo shows, and their expected value from static context.

Scores (0-10) are weighted sums of standardised visible-content features plus noise, so some
depend on dynamic content (people, cars, light, weather) and not only on the place.
"""

from __future__ import annotations

import numpy as np

from engine.data.sample_city.rng import stream

PERCEPTION = ("perception_safety", "perception_lively", "perception_beautiful")
_WEIGHTS: dict[str, dict[str, float]] = {
    "perception_safety": {"facade_upkeep": 1.0, "ground_upkeep": 0.8, "light": 0.6,
                          "graffiti": -0.8, "people": 0.3},
    "perception_lively": {"people": 1.0, "shop": 0.8, "cars": 0.5, "colourful": 0.4},
    "perception_beautiful": {"green": 1.0, "trees": 0.6, "facade_wealth": 0.6, "clear": 0.4,
                             "graffiti": -0.5},
}
NOISE_SD = 0.4


def perception_scores(feats: list[dict[str, float]], seed: int) -> dict[str, np.ndarray]:
    """Per photo, each score in [0, 10]; features are standardised over all photos."""
    rng = stream(seed, "perception")
    cols = {k: np.array([f[k] for f in feats], dtype=np.float64) for k in feats[0]}
    z = {k: (v - v.mean()) / (v.std() + 1e-9) for k, v in cols.items()}
    out = {}
    for name, weights in _WEIGHTS.items():
        norm = np.sqrt(sum(w * w for w in weights.values()))
        raw = sum(w * z[k] for k, w in weights.items()) / norm
        raw = raw + rng.normal(0.0, NOISE_SD, raw.size)
        out[name] = np.clip(5.0 + 1.6 * raw, 0.0, 10.0).round(3)
    return out


def _design(wealth: np.ndarray, density: np.ndarray, greenery: np.ndarray) -> np.ndarray:
    w, d, g = (np.asarray(a, dtype=np.float64).ravel() for a in (wealth, density, greenery))
    return np.stack([np.ones_like(w), w, d, g, w * w, d * d, g * g, w * d, w * g, d * g], 1)


def expected_perception(scores: np.ndarray, at_photos: tuple, on_grid: tuple) -> np.ndarray:
    """E[score | latent fields]: a quadratic least-squares fit at the photos, applied on a grid.

    `at_photos` and `on_grid` are (wealth, density, greenery) arrays; the result has the grid's
    shape.
    """
    coef, *_ = np.linalg.lstsq(_design(*at_photos), scores, rcond=None)
    shape = np.shape(on_grid[0])
    return np.clip(_design(*on_grid) @ coef, 0.0, 10.0).reshape(shape).astype(np.float32)
