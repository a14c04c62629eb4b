"""SimCLR-style augmentations on uint8 photos -> ImageNet-normalised float tensors.

Every random draw comes from a torch.Generator passed in by the caller, seeded per
(seed, epoch, sample), so a run is the same whatever the number of workers.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

MEAN = torch.tensor([0.485, 0.456, 0.406]).view(3, 1, 1)
STD = torch.tensor([0.229, 0.224, 0.225]).view(3, 1, 1)
_GRAY = torch.tensor([0.299, 0.587, 0.114]).view(3, 1, 1)


def sample_generator(seed: int, epoch: int, index: int) -> torch.Generator:
    """A generator keyed on (seed, epoch, index), independent of worker and process."""
    state = np.random.SeedSequence([seed & 0xFFFFFFFF, epoch, index]).generate_state(2)
    return torch.Generator().manual_seed(int(state[0]) << 32 | int(state[1]))


def to_float(img: np.ndarray | torch.Tensor) -> torch.Tensor:
    """uint8 (H,W,3) array or (3,H,W) uint8 tensor -> float (3,H,W) in 0..1."""
    t = torch.from_numpy(np.ascontiguousarray(img)).permute(2, 0, 1) if isinstance(
        img, np.ndarray) else img
    return t.float().div_(255.0)


def normalize(x: torch.Tensor) -> torch.Tensor:
    """0..1 RGB -> ImageNet-normalised, as the backbones expect."""
    return (x - MEAN) / STD


def _uniform(g: torch.Generator, lo: float, hi: float) -> float:
    return lo + (hi - lo) * float(torch.rand((), generator=g))


@dataclass(frozen=True)
class Augment:
    """Random resized crop, horizontal flip, colour jitter, grayscale; output size x size."""

    size: int
    scale: tuple[float, float] = (0.35, 1.0)
    ratio: tuple[float, float] = (3 / 4, 4 / 3)
    flip_p: float = 0.5
    jitter: float = 0.4
    jitter_p: float = 0.8
    gray_p: float = 0.2

    def crop_box(self, h: int, w: int, g: torch.Generator) -> tuple[int, int, int, int]:
        """(top, left, height, width) of a random crop (torchvision's rule, 10 tries)."""
        area = h * w
        log_lo, log_hi = math.log(self.ratio[0]), math.log(self.ratio[1])
        for _ in range(10):
            target = area * _uniform(g, *self.scale)
            aspect = math.exp(_uniform(g, log_lo, log_hi))
            cw = int(round(math.sqrt(target * aspect)))
            ch = int(round(math.sqrt(target / aspect)))
            if 0 < cw <= w and 0 < ch <= h:
                top = int(torch.randint(0, h - ch + 1, (), generator=g))
                left = int(torch.randint(0, w - cw + 1, (), generator=g))
                return top, left, ch, cw
        side = min(h, w)
        return (h - side) // 2, (w - side) // 2, side, side

    def __call__(self, img: np.ndarray, g: torch.Generator) -> torch.Tensor:
        """uint8 (H,W,3) -> float (3,size,size), normalised."""
        x = to_float(img)
        top, left, ch, cw = self.crop_box(x.shape[1], x.shape[2], g)
        x = x[:, top:top + ch, left:left + cw].unsqueeze(0)
        x = F.interpolate(x, size=(self.size, self.size), mode="bilinear",
                          align_corners=False, antialias=ch > self.size or cw > self.size)[0]
        if float(torch.rand((), generator=g)) < self.flip_p:
            x = x.flip(-1)
        if float(torch.rand((), generator=g)) < self.jitter_p:
            x = self._jitter(x, g)
        if float(torch.rand((), generator=g)) < self.gray_p:
            x = (x * _GRAY).sum(0, keepdim=True).repeat(3, 1, 1)
        return normalize(x.clamp_(0.0, 1.0))

    def _jitter(self, x: torch.Tensor, g: torch.Generator) -> torch.Tensor:
        j = self.jitter
        brightness, contrast, saturation = (_uniform(g, 1 - j, 1 + j) for _ in range(3))
        x = x * brightness
        mean = (x * _GRAY).sum(0).mean()
        x = (x - mean) * contrast + mean
        gray = (x * _GRAY).sum(0, keepdim=True)
        return ((x - gray) * saturation + gray).clamp_(0.0, 1.0)


def plain(img: np.ndarray, size: int | None = None) -> torch.Tensor:
    """No augmentation: uint8 (H,W,3) -> normalised float (3,H,W), resized when size is set."""
    x = to_float(img)
    if size is not None and x.shape[1:] != (size, size):
        x = F.interpolate(x.unsqueeze(0), size=(size, size), mode="bilinear",
                          align_corners=False, antialias=True)[0]
    return normalize(x)
