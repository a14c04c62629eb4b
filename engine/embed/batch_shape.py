"""One batch shape per job on CUDA: a batch smaller than the largest seen is padded with zeros
to that size and the padding's rows are dropped from the result.

Why (bench/gpu_pipeline.py and bench/gpu_probe.py on an H100, torch 2.11, CUDA 13): the first
forward of EfficientNet-Lite0 at a new batch shape took about 2 s (2.8 s the very first, then
1.96-2.0 s for each of 255, 131 and 57 chips), the same shape again 4 ms. embed-raster's
blocks end in partial batches (6 shapes over a 4,000 px raster at stride 32, batch 256), so
the model's share of that run was 11.6 s for 15,366 chips, against 0.56 s padded to one
shape. Photos that fail to decode shorten embed-points' batches the same way.

The model runs in eval mode, so each row's embedding depends on that row alone. Measured on
the H100: a padded row equals the same row of a full batch exactly, and differs from the row
run at the partial batch's own shape by at most 2.0e-4 (max |value| 0.39, about one float16
step of a field): the kernels chosen for another shape round differently, so padding also
makes a row's value independent of where its batch ended. On the CPU (not padded) the two
agree to 4e-7.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any


class OneShape:
    """`fn` over batches padded to the largest batch size seen so far (rows of zeros)."""

    def __init__(self, fn: Callable[[Any], Any]) -> None:
        self.fn = fn
        self.size = 0

    def __call__(self, x: Any) -> Any:
        n = int(x.shape[0])
        if n >= self.size:
            self.size = n
            return self.fn(x)
        padded = x.new_zeros((self.size, *x.shape[1:]))
        padded[:n] = x
        return self.fn(padded)[:n]


def one_shape(fn: Callable[[Any], Any], device: Any) -> Callable[[Any], Any]:
    """`fn` wrapped in OneShape on CUDA (where a new shape costs seconds), as is elsewhere."""
    return OneShape(fn) if device.type == "cuda" else fn
