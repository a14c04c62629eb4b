"""Chips of the stacked Landsat scene: gathered by centre pixel (torch, batched, any device)
and turned into true-colour uint8 for RGB embedders (pretraining augments its own chips:
engine.train.raster_data)."""

from __future__ import annotations

import numpy as np
import torch

from engine.evaluate.landsat.data import LandsatScene


class ChipGrid:
    """The standardised scene as a zero-padded tensor: cut (B,C,S,S) chips at centre pixels."""

    def __init__(self, scene: LandsatScene, pad: int, device: torch.device | str = "cpu") -> None:
        x = torch.from_numpy(np.ascontiguousarray(scene.bands))
        self.pad = int(pad)
        self.x = torch.nn.functional.pad(x, (self.pad,) * 4).to(device)
        self.device = self.x.device

    def cut(self, rows: torch.Tensor, cols: torch.Tensor, size: int) -> torch.Tensor:
        """(B,C,size,size) chips whose pixel [size//2, size//2] is (row, col) of the scene."""
        off = torch.arange(size, device=self.device) - size // 2 + self.pad
        r = rows.to(self.device).long()[:, None] + off[None, :]
        c = cols.to(self.device).long()[:, None] + off[None, :]
        if int(r.min()) < 0 or int(c.min()) < 0 or int(r.max()) >= self.x.shape[1] \
                or int(c.max()) >= self.x.shape[2]:
            raise ValueError(f"chips of {size} px run past the padding of {self.pad} px")
        chips = self.x[:, r[:, :, None], c[:, None, :]]  # (C,B,S,S)
        return chips.permute(1, 0, 2, 3).contiguous()


def scene_chips(scene: LandsatScene, rows: np.ndarray, cols: np.ndarray, size: int
                ) -> np.ndarray:
    """(N,C,size,size) float32 standardised chips centred on the pixels (0 outside/invalid)."""
    grid = ChipGrid(scene, pad=size)
    return grid.cut(torch.as_tensor(rows), torch.as_tensor(cols), size).numpy()


def true_colour(scene: LandsatScene, rows: np.ndarray, cols: np.ndarray, size: int,
                lo: float = 2.0, hi: float = 98.0) -> np.ndarray:
    """(N,3,size,size) uint8 chips of bands 3,2,1 (red, green, blue) stretched between the
    scene's `lo`-`hi` percentiles of valid pixels (unlabelled statistics); 0 where invalid."""
    planes = []
    for band in (2, 1, 0):
        raw = scene.raw(band)
        p_lo, p_hi = np.percentile(raw[scene.valid], [lo, hi])
        v = np.clip((raw - p_lo) / max(p_hi - p_lo, 1e-6), 0.0, 1.0) * 255.0
        planes.append(np.where(scene.valid, np.rint(v), 0.0))
    rgb = np.stack(planes).astype(np.float32)
    pad = size
    padded = np.pad(rgb, ((0, 0), (pad, pad), (pad, pad)))
    off = np.arange(size) - size // 2 + pad
    r = np.asarray(rows)[:, None] + off[None, :]
    c = np.asarray(cols)[:, None] + off[None, :]
    chips = padded[:, r[:, :, None], c[:, None, :]].transpose(1, 0, 2, 3)
    return np.ascontiguousarray(chips).astype(np.uint8)
