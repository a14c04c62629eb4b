"""Backbone features computed once and kept on disk, for the `frozen` training regime.

A cache file holds (N, V, D) float32 features, V views per input, one row per input *content*:
a photo's row is keyed by the sha256 of its file bytes, an overhead chip's by the sha256 of its
pixels. The file name is keyed by the backbone (a digest of its weights and class), the input
kind and size, the number of views and the view recipe, so a changed photo or a changed
backbone is computed again and nothing stale is ever read. Views (honest augmentation without
running the backbone per step): photo view 0 is the plain photo, views 1.. are SimCLR crops,
flips and colour jitter drawn from a generator keyed on (content, view); chip view v is a
rotation by v * 90 degrees, mirrored for v >= 4 (overhead imagery has no "up").

Rows are computed by the inference path's runtime (engine.embed.accel: OpenVINO on a CPU for a
pretrained backbone and at least MIN_ITEMS inputs x views, checked against torch on the first
batch). Building models/lite0_spatial.yaml's training (its 4-view cache of the sample city's
480 photos at 128 px filled) took 11.7 s against 22.0 s with torch eager (idle 2 cores;
features within 3.3e-5 of eager's, values up to 6); in `make benchmark` filling the caches in
eager took 319 s of the first (city, seed) run's 809 s (city 0). The file does not record the
runtime: rows from either agree to that tolerance.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
from torch import nn

from engine.errors import EngineError
from engine.export.atomic import atomic_path
from engine.models.inputs import normalize_uint8
from engine.models.photo_input import DEFAULT_RESIZE, is_view
from engine.nn.pretrained.efficientnet_lite import tensors_sha256
from engine.progress import Progress, no_progress
from engine.train.augment import Augment, augment_batch

log = logging.getLogger(__name__)

VERSION = "3"  # bump when the view recipe changes: every cache file is then rebuilt
# (3: Augment.draw takes its numbers from one call: other crops for the same key)
# (2: photos are read by the model's resize policy, default crop, no longer stretched)
BATCH = 64


def file_key(path: str | Path) -> str:
    """sha256 of a file's bytes (a photo's cache key)."""
    digest = hashlib.sha256()
    with Path(path).open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def photo_key(path: str | Path, view: tuple[float, float] | None = None,
              resize: str = DEFAULT_RESIZE) -> str:
    """A photo row's key: sha256 of the file; for a panorama view or a non-default resize
    policy, sha256 of (that, the view, the policy), so every distinct input has its row."""
    key = file_key(path)
    extra = [f"view {float(view[0]):g} {float(view[1]):g}"] if is_view(view) else []
    if resize != DEFAULT_RESIZE:
        extra.append(f"resize {resize}")
    return hashlib.sha256("|".join([key, *extra]).encode()).hexdigest() if extra else key


def pixels_key(chip: torch.Tensor) -> str:
    """sha256 of a uint8 chip's shape and pixels (an overhead chip's cache key)."""
    arr = np.ascontiguousarray(chip.numpy())
    return hashlib.sha256(f"{arr.shape}|".encode() + arr.tobytes()).hexdigest()


def backbone_key(backbone: nn.Module) -> str:
    """A digest of the backbone's class and every weight and buffer."""
    name = f"{type(backbone).__module__}.{type(backbone).__qualname__}"
    return hashlib.sha256(f"{name}|{tensors_sha256(backbone.state_dict())}".encode()).hexdigest()


def photo_views(img: torch.Tensor, key: str, views: int) -> torch.Tensor:
    """(views, 3, S, S) normalised floats of one uint8 (3, S, S) photo: plain, then augmented."""
    size = img.shape[-1]
    identity = torch.tensor([1.0, 1.0, 0.0, 0.0, 1.0, 1.0, 1.0, 0.0, 0.0, 0.0])
    params = [identity]
    seed = int(key[:16], 16)
    for v in range(1, views):
        g = np.random.Generator(np.random.PCG64(np.random.SeedSequence([seed, v])))
        params.append(Augment().draw(img.shape[1], img.shape[2], g))
    batch = img.unsqueeze(0).expand(views, -1, -1, -1)
    return augment_batch(batch, torch.stack(params), size)


def chip_views(chip: torch.Tensor, views: int) -> torch.Tensor:
    """(views, 3, h, w) normalised floats of one uint8 chip: rotations, then mirrored ones."""
    out = []
    for v in range(views):
        x = torch.rot90(chip, k=v % 4, dims=(1, 2))
        out.append(torch.flip(x, dims=(2,)) if (v // 4) % 2 else x)
    return normalize_uint8(torch.stack(out))


class FeatureCache:
    """One cache file: features of one backbone, for one input kind, size and view count."""

    def __init__(self, root: str | Path, backbone: nn.Module, kind: str, size: int,
                 views: int) -> None:
        if views < 1:
            raise EngineError(f"the feature cache needs at least 1 view, got {views}",
                              "set train.cached_views to 1 or more")
        self.backbone, self.kind, self.size, self.views = backbone, kind, int(size), int(views)
        self.backbone_id = backbone_key(backbone)
        tag = hashlib.sha256(f"{VERSION}|{self.backbone_id}|{kind}|{size}|{views}|"
                             f"{Augment()}".encode()).hexdigest()[:24]
        self.path = Path(root) / f"{kind}-{size}px-{views}v-{tag}.safetensors"
        self.computed = 0  # rows computed by this object (the rest came from disk)

    def _read(self) -> dict[str, torch.Tensor]:
        from safetensors import safe_open

        if not self.path.is_file():
            return {}
        try:
            with safe_open(str(self.path), framework="pt") as f:
                keys = json.loads((f.metadata() or {})["keys"])
                feats = f.get_tensor("features")
        except Exception as exc:  # a damaged cache file: computed again
            log.warning("feature cache %s is unreadable (%s); computing again", self.path, exc)
            return {}
        return {k: feats[i] for i, k in enumerate(keys)}

    def features(self, keys: list[str], inputs: Callable[[int], torch.Tensor],
                 device: torch.device, progress: Progress = no_progress) -> torch.Tensor:
        """(len(keys), views, D) features; rows missing from the file are computed from
        `inputs(i)` -> (views, 3, H, W) normalised floats, then the file is rewritten."""
        stored = self._read()
        todo = [i for i, k in enumerate(keys) if k not in stored]
        done: dict[str, torch.Tensor] = {}
        if todo:
            from engine.embed.accel import encoder_fn

            was_training = self.backbone.training
            self.backbone.eval()
            # the inference path's runtime (OpenVINO on a CPU for a pretrained backbone; its
            # graph checked against torch on the first batch, engine.embed.accel)
            encode = encoder_fn(self.backbone, "forward", device,
                                n_items=len(todo) * self.views)
            with torch.inference_mode():
                for start in range(0, len(todo), BATCH):
                    rows = todo[start:start + BATCH]
                    x = torch.cat([inputs(i) for i in rows]).to(device)
                    f = encode(x).float().cpu().view(len(rows), self.views, -1)
                    for j, i in enumerate(rows):
                        done[keys[i]] = f[j].clone()
                    progress(min(start + BATCH, len(todo)), len(todo), f"cache {self.kind}")
            self.backbone.train(was_training)
            self.computed += len(done)
            stored.update(done)
            self._write(stored)
        log.info("feature cache %s: %d rows read, %d computed", self.path.name,
                 len(keys) - len(todo), len(todo))
        return torch.stack([stored[k] for k in keys]) if keys else torch.zeros(0, self.views, 0)

    def _write(self, stored: dict[str, torch.Tensor]) -> None:
        from safetensors.torch import save_file

        keys = sorted(stored)
        meta = {"keys": json.dumps(keys), "backbone": self.backbone_id, "kind": self.kind,
                "size": str(self.size), "views": str(self.views), "version": VERSION}
        with atomic_path(self.path) as tmp:
            save_file({"features": torch.stack([stored[k] for k in keys]).contiguous()},
                      str(tmp), metadata=meta)
