"""Shared helpers of the embed tests (no tests here): tiny models and tiny real GeoTIFFs."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

TINY = {"backbone": "tiny_cnn", "backbone_kw": {"width": 8, "depth": 2, "out_dim": 16},
        "hidden_dim": 32}


def tiny_model(overhead: bool = True, location: bool = False, seed: int = 0):
    """A GeoModel small enough to run in milliseconds (16-d embeddings), in eval mode."""
    from engine.nn import GeoModel

    torch.manual_seed(seed)
    cfg = {"embedding_dim": 16, "image": dict(TINY)}
    if overhead:
        cfg["overhead"] = dict(TINY)
    if location:
        cfg["location"] = {"name": "sphereC"}
    return GeoModel.from_config(cfg).eval()


def write_rgb_tif(path: Path, width: int, height: int, crs: str, transform,
                  seed: int = 0, nodata_box: tuple[int, int, int, int] | None = None) -> Path:
    """A random RGB uint8 GeoTIFF (nodata 0); `nodata_box` (row0, row1, col0, col1) is 0."""
    import rasterio

    rng = np.random.default_rng(seed)
    data = rng.integers(1, 255, (3, height, width), dtype=np.uint8)
    if nodata_box is not None:
        r0, r1, c0, c1 = nodata_box
        data[:, r0:r1, c0:c1] = 0
    with rasterio.open(path, "w", driver="GTiff", width=width, height=height, count=3,
                       dtype="uint8", crs=crs, transform=transform, nodata=0) as ds:
        ds.write(data)
    return path
