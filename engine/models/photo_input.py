"""A photo as the model sees it: one reader for training and inference, any photo size.

Resize policy (`data.resize` in a model's config.yaml, written at training time and read
back by embed-points, so both sides prepare a photo the same way):

* `crop` (default): the short side is scaled to the model's size (bilinear, antialiased),
  then the centre square is kept: no distortion, the edges of wide photos are lost;
* `letterbox`: the long side is scaled to the size, the rest padded with the ImageNet mean
  colour (which the normalisation maps to ~0): nothing lost, nothing distorted;
* `stretch`: scaled to size x size regardless of aspect: the engine's behaviour before the
  policy was recorded, so models without `data.resize` keep it.

Photos are upright by their EXIF orientation first (engine.data.images). A row that is a
panorama view (finite view_yaw, engine.data.views) is cut from its panorama straight at
size x size (engine.data.panorama.read_view); no resize policy applies to it.
"""

from __future__ import annotations

import logging
import math
import os
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from engine.errors import EngineError

log = logging.getLogger(__name__)

RESIZE_MODES = ("crop", "letterbox", "stretch")
DEFAULT_RESIZE = "crop"
LEGACY_RESIZE = "stretch"  # models whose config.yaml records no data.resize
PAD_RGB = (124, 116, 104)  # the ImageNet mean colour in 0..255


def check_resize(mode: str) -> str:
    """`mode` if it is one of RESIZE_MODES, else EngineError."""
    if mode not in RESIZE_MODES:
        raise EngineError(f"unknown resize policy {mode!r}",
                          f"set data.resize to one of {', '.join(RESIZE_MODES)}")
    return mode


def fit_square(rgb: np.ndarray, size: int, mode: str = DEFAULT_RESIZE) -> np.ndarray:
    """uint8 (H, W, 3) -> uint8 (size, size, 3) by the resize policy `mode` (module doc)."""
    check_resize(mode)
    h, w = rgb.shape[:2]
    if (h, w) == (size, size):
        return rgb
    img = Image.fromarray(rgb)
    if mode == "stretch" or h == w:
        return np.asarray(img.resize((size, size), Image.Resampling.BILINEAR)).copy()
    if mode == "crop":
        scale = size / min(h, w)
        new_w, new_h = max(size, round(w * scale)), max(size, round(h * scale))
        img = img.resize((new_w, new_h), Image.Resampling.BILINEAR)
        left, top = (new_w - size) // 2, (new_h - size) // 2
        return np.asarray(img.crop((left, top, left + size, top + size))).copy()
    scale = size / max(h, w)
    new_w, new_h = max(1, round(w * scale)), max(1, round(h * scale))
    canvas = Image.new("RGB", (size, size), PAD_RGB)
    canvas.paste(img.resize((new_w, new_h), Image.Resampling.BILINEAR),
                 ((size - new_w) // 2, (size - new_h) // 2))
    return np.asarray(canvas).copy()


def is_view(view: Any) -> bool:
    """True when `view` is a (yaw, fov) pair with a finite yaw (a panorama view)."""
    return view is not None and math.isfinite(float(view[0]))


def read_photo(path: str | os.PathLike[str], size: int, resize: str = DEFAULT_RESIZE,
               view: Any = None) -> np.ndarray:
    """uint8 (size, size, 3): the photo at `path` by the resize policy, or, when `view` is a
    (yaw, fov) pair with a finite yaw, that view cut from the panorama at `path`."""
    from engine.data.images import load_image

    if is_view(view):
        from engine.data.panorama import read_view

        yaw, fov = float(view[0]), float(view[1])
        return read_view(path, yaw, fov if math.isfinite(fov) else 90.0, size)
    return fit_square(load_image(Path(path), draft=(size, size)), size, check_resize(resize))


def resize_of(data_section: dict[str, Any], where: str = "the model") -> str:
    """The resize policy recorded in a model config's `data:` section (legacy: stretch)."""
    mode = data_section.get("resize") if isinstance(data_section, dict) else None
    if mode is None:
        log.info("%s records no resize policy; photos are stretched to a square as it was "
                 "trained", where)
        return LEGACY_RESIZE
    return check_resize(str(mode))


def model_resize(model_dir: str | os.PathLike[str]) -> str:
    """The resize policy of a model folder's config.yaml (`data.resize`; legacy: stretch)."""
    from engine.models.folder import ModelFolder

    folder = ModelFolder.open(model_dir)
    return resize_of(folder.section("data"), str(folder.folder))
