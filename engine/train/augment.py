"""SimCLR-style augmentations, split in two so they cost little per sample:

* per sample (in the dataset, seeded per (seed, epoch, index)): `Augment.draw` picks the
  random resized crop, flip, colour jitter and grayscale as 10 numbers;
* per batch (in the training step, on the training device): `augment_batch` applies them
  to the uint8 images in a few batched ops (affine grid sample for crop + flip + resize, a
  3x3 colour matrix + offset for jitter and grayscale, then the ImageNet normalisation of
  engine.models.inputs).

Same numbers in, same pixels out: a run is the same whatever the number of workers.
Crops are never larger than the image, so resizing them is upsampling (no antialias needed).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from engine.models.inputs import MEAN, STD

GRAY = torch.tensor([0.299, 0.587, 0.114])
N_PARAMS = 10  # sx, sy, cx, cy (affine), brightness, contrast, saturation, gray, 2 spare


def sample_rng(seed: int, epoch: int, index: int) -> np.random.Generator:
    """A numpy generator keyed on (seed, epoch, index), independent of worker and process."""
    return np.random.Generator(np.random.PCG64(np.random.SeedSequence(
        [seed & 0xFFFFFFFF, epoch, index])))


@dataclass(frozen=True)
class Augment:
    """Random resized crop, horizontal flip, colour jitter, grayscale (SimCLR's recipe)."""

    scale: tuple[float, float] = (0.35, 1.0)
    ratio: tuple[float, float] = (3 / 4, 4 / 3)
    flip_p: float = 0.5
    jitter: float = 0.4
    jitter_p: float = 0.8
    gray_p: float = 0.2

    def crop_box(self, h: int, w: int, rng: np.random.Generator) -> tuple[int, int, int, int]:
        """(top, left, height, width) of a random crop (torchvision's rule, 10 tries)."""
        area = h * w
        log_lo, log_hi = math.log(self.ratio[0]), math.log(self.ratio[1])
        for _ in range(10):
            target = area * rng.uniform(*self.scale)
            aspect = math.exp(rng.uniform(log_lo, log_hi))
            cw = int(round(math.sqrt(target * aspect)))
            ch = int(round(math.sqrt(target / aspect)))
            if 0 < cw <= w and 0 < ch <= h:
                top = int(rng.integers(0, h - ch + 1))
                left = int(rng.integers(0, w - cw + 1))
                return top, left, ch, cw
        side = min(h, w)
        return (h - side) // 2, (w - side) // 2, side, side

    def draw(self, h: int, w: int, rng: np.random.Generator) -> torch.Tensor:
        """The random choices for one image of h x w pixels, as a float32 (N_PARAMS,) tensor."""
        top, left, ch, cw = self.crop_box(h, w, rng)
        flip = -1.0 if rng.random() < self.flip_p else 1.0
        # affine_grid (align_corners=False): output u in [-1,1] -> input cx + sx * u
        sx, sy = flip * cw / w, ch / h
        cx, cy = (2 * left + cw) / w - 1, (2 * top + ch) / h - 1
        b = c = s = 1.0
        if rng.random() < self.jitter_p:
            b, c, s = (float(v) for v in rng.uniform(1 - self.jitter, 1 + self.jitter, size=3))
        gray = 1.0 if rng.random() < self.gray_p else 0.0
        return torch.tensor([sx, sy, cx, cy, b, c, s, gray, 0.0, 0.0], dtype=torch.float32)


def augment_batch(images: torch.Tensor, params: torch.Tensor, size: int) -> torch.Tensor:
    """uint8 (B,3,H,W) + (B,N_PARAMS) -> normalised float (B,3,size,size), batched ops only.

    Jitter in closed form (the gray weights sum to 1): with g = gray(x), m = b * mean(g),
    y = c*b*(s'*x + (1 - s')*g) + (1 - c)*m, where s' = 0 for grayscale, else s;
    clamped to 0..255 and normalised in one affine step per channel.
    """
    bsz, dev = images.shape[0], images.device
    p = params.to(device=dev, dtype=torch.float32)
    zero = torch.zeros_like(p[:, 0])
    theta = torch.stack([p[:, 0], zero, p[:, 2], zero, p[:, 1], p[:, 3]], dim=1).view(bsz, 2, 3)
    grid = F.affine_grid(theta, [bsz, 3, size, size], align_corners=False)
    x = F.grid_sample(images.float(), grid, mode="bilinear", padding_mode="border",
                      align_corners=False)  # 0..255
    b, c, s = p[:, 4], p[:, 5], torch.where(p[:, 7] > 0.5, zero, p[:, 6])
    g = torch.einsum("bchw,c->bhw", x, GRAY.to(dev)).unsqueeze(1)
    m = b * g.mean(dim=(1, 2, 3))
    std, mean = STD.to(dev), MEAN.to(dev)
    k = 1.0 / (255.0 * std)  # 0..255 -> normalised: v * k - mean / std
    a_x = (c * b * s).view(-1, 1, 1, 1) * k
    a_g = (c * b * (1 - s)).view(-1, 1, 1, 1) * k
    off = ((1 - c) * m).view(-1, 1, 1, 1) * k - mean / std
    y = torch.addcmul(torch.addcmul(off, x, a_x), g, a_g)
    return torch.maximum(torch.minimum(y, (1 - mean) / std), -mean / std)
