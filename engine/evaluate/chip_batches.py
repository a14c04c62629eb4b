"""Feature extraction over (N, 3, H, W) uint8 overhead chips, batch by batch (the baselines)."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from engine.errors import EngineError


def embed_rgb_chips(chips: np.ndarray, batch_size: int, dim: int,
                    features: Callable[[np.ndarray], np.ndarray]) -> np.ndarray:
    """(N, dim) float32: `features` applied to RGB uint8 chips `batch_size` at a time."""
    chips = np.asarray(chips)
    if chips.ndim != 4 or chips.shape[1] != 3 or chips.dtype != np.uint8:
        raise EngineError(f"overhead chips must be (N, 3, H, W) uint8, got {chips.shape} "
                          f"{chips.dtype}", "pass RGB chips as made by the overhead tasks")
    out = [np.zeros((0, dim), np.float32)]
    for i in range(0, len(chips), batch_size):
        out.append(features(chips[i:i + batch_size]))
    return np.concatenate(out)
