"""Load one street-level photo as an RGB uint8 array, with errors that name the file."""

from __future__ import annotations

import logging
import os
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from engine.errors import EngineError

log = logging.getLogger(__name__)

_HIGH_DEPTH_MODES = {"I", "I;16", "I;16B", "I;16L", "I;16N", "F"}


def load_image(path: str | os.PathLike[str], size: int | None = None, *,
               draft: tuple[int, int] | None = None) -> np.ndarray:
    """Read `path` as uint8 (H, W, 3) RGB, upright by its EXIF orientation.

    With `size`, the photo is resized to size x size (bilinear, antialiased when shrinking;
    the aspect ratio is not kept: engine.models.photo_input keeps it). With `draft`
    (width, height), a JPEG is decoded at the smallest DCT scale at least that large.
    Grayscale, RGBA, palette and CMYK become RGB.
    """
    path = Path(path)
    if size is not None and (not isinstance(size, (int, np.integer)) or size <= 0):
        raise EngineError(f"image size must be a positive integer, got {size!r}",
                          "set the image size to a number of pixels such as 128")
    if not path.is_file():
        raise EngineError(
            f"photo {path} does not exist",
            "check the layer's `image` field: relative paths are read relative to the "
            "layer file's folder, absolute paths must exist on this machine",
        )
    if path.stat().st_size == 0:
        raise EngineError(f"photo {path} is empty (0 bytes)",
                          "re-copy or re-export the photo, or remove its row from the layer")
    try:
        with Image.open(path) as img:
            if size is not None:
                draft = (size, size)
            if draft is not None and img.format == "JPEG":
                img.draft("RGB", draft)  # decode at a reduced scale: faster, same result
            img.load()
            rgb = _to_rgb(ImageOps.exif_transpose(img))
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
        raise EngineError(
            f"photo {path} cannot be read: it is corrupt, truncated or not an image ({exc})",
            "open it in an image viewer; re-export it as JPEG or remove its row from the layer",
        ) from None
    if rgb.width == 0 or rgb.height == 0:
        raise EngineError(f"photo {path} has zero size ({rgb.width}x{rgb.height})",
                          "remove its row from the layer")
    if size is not None and rgb.size != (size, size):
        rgb = rgb.resize((size, size), Image.Resampling.BILINEAR)
    return np.asarray(rgb, dtype=np.uint8).copy()


def _to_rgb(img: Image.Image) -> Image.Image:
    """Convert any Pillow mode to RGB (16-bit and float grayscale scaled to 0..255)."""
    if img.mode == "RGB":
        return img
    if img.mode in _HIGH_DEPTH_MODES:
        arr = np.nan_to_num(np.asarray(img, dtype=np.float32))
        peak = float(arr.max(initial=0.0))
        if img.mode.startswith("I;16"):
            arr = arr / 257.0
        elif peak > 255.0:
            arr = arr * (255.0 / peak)
        gray = np.clip(np.rint(arr), 0, 255).astype(np.uint8)
        return Image.fromarray(np.repeat(gray[..., None], 3, axis=2))
    if img.mode == "P" and "transparency" in img.info:
        img = img.convert("RGBA")
    return img.convert("RGB")
