"""360° equirectangular panoramas: recognise them and cut perspective views out of them.

A panorama is an equirectangular image, 2:1 (width = 2 x height): column x looks at yaw
((x + 0.5) / W - 0.5) * 360° from the panorama's centre, row y at elevation
(0.5 - (y + 0.5) / H) * 180°. Its heading (compass angle) is the compass direction of the
centre column (GPano PoseHeadingDegrees, Mapillary compass_angle). A view at yaw `yaw_deg`
(relative to that centre), `fov_deg` horizontal field of view and pitch 0 is a pinhole
(gnomonic) projection: view pixel (i, j) sees the ray (right, up, forward) =
((j + 0.5 - S/2) / f, -(i + 0.5 - S/2) / f, 1), f = S / 2 / tan(fov / 2), looked up in the
panorama by yaw/elevation with bilinear sampling (wrapping around the seam). Straight lines
stay straight: this is not a crop.
"""

from __future__ import annotations

import functools
import logging
import math
import os
from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

from engine.data.imagery_options import DEFAULT_VIEW_FOV
from engine.errors import EngineError

log = logging.getLogger(__name__)

ASPECT_TOLERANCE = 0.01  # |width / height - 2| / 2 at most this: equirectangular
_TRANSPOSED = (5, 6, 7, 8)  # EXIF orientations that swap width and height


def is_equirectangular(width: int, height: int) -> bool:
    """True for a 2:1 image (within ASPECT_TOLERANCE)."""
    return height > 0 and abs(width / height - 2.0) <= 2.0 * ASPECT_TOLERANCE


def looks_equirectangular(path: str | os.PathLike[str]) -> bool:
    """True when the photo at `path` is 2:1 as shown; reads the header only, and its EXIF
    orientation only when the stored image is 1:2 (a panorama stored turned)."""
    try:
        with Image.open(path) as img:
            width, height = img.size
            if is_equirectangular(height, width):
                return img.getexif().get(0x0112, 1) in _TRANSPOSED
            if not is_equirectangular(width, height):
                return False
            return img.getexif().get(0x0112, 1) not in _TRANSPOSED
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError):
        return False


def upright_size(path: str | os.PathLike[str]) -> tuple[int, int] | None:
    """(width, height) of a photo as shown (EXIF orientation applied), from its header only;
    None when the file cannot be opened."""
    try:
        with Image.open(path) as img:
            width, height = img.size
            orientation = img.getexif().get(0x0112, 1)
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError):
        return None
    return (height, width) if orientation in _TRANSPOSED else (width, height)


def parse_view_headings(text: str | list[float] | tuple[float, ...]) -> tuple[float, ...]:
    """'0,90,180,270' (or a list) -> headings in [0, 360); EngineError on anything else."""
    items = text.split(",") if isinstance(text, str) else list(text)
    try:
        values = tuple(float(v) % 360.0 for v in items if str(v).strip() != "")
    except ValueError:
        values = ()
    if not values or not all(np.isfinite(values)):
        raise EngineError(f"view headings {text!r} are not a list of degrees",
                          "pass e.g. --view-headings 0,90,180,270")
    return values


def check_fov(fov_deg: float) -> float:
    """A horizontal field of view in (0, 180) degrees, else EngineError."""
    fov = float(fov_deg)
    if not 1.0 <= fov <= 170.0:
        raise EngineError(f"view field of view {fov_deg} is outside 1..170 degrees",
                          "pass e.g. --view-fov 90")
    return fov


def view_lookup(size: int, fov_deg: float, yaw_deg: float, pano_w: int, pano_h: int,
                pitch_deg: float = 0.0) -> tuple[np.ndarray, np.ndarray]:
    """(col, row) float pixel coordinates (pixel centres at integers) in a pano_w x pano_h
    panorama of every pixel of a size x size view (gnomonic projection, see module doc)."""
    f = size / 2 / math.tan(math.radians(check_fov(fov_deg)) / 2)
    c = (np.arange(size, dtype=np.float64) + 0.5 - size / 2) / f
    right, up = np.meshgrid(c, -c)
    fwd = np.ones_like(right)
    if pitch_deg:
        p = math.radians(pitch_deg)
        up, fwd = up * math.cos(p) + fwd * math.sin(p), fwd * math.cos(p) - up * math.sin(p)
    yaw = math.radians(yaw_deg) + np.arctan2(right, fwd)
    elev = np.arctan2(up, np.hypot(right, fwd))
    col = (yaw / (2 * math.pi) + 0.5) * pano_w - 0.5
    row = (0.5 - elev / math.pi) * pano_h - 0.5
    return col, row


def cut_view(pano: np.ndarray, yaw_deg: float, fov_deg: float = DEFAULT_VIEW_FOV,
             size: int = 128, pitch_deg: float = 0.0) -> np.ndarray:
    """uint8 (size, size, 3) perspective view of an equirectangular uint8 (H, W, 3) panorama
    at `yaw_deg` from its centre column (bilinear; wraps at the seam, clamps at the poles)."""
    pano = np.asarray(pano)
    if pano.ndim != 3 or pano.shape[2] != 3:
        raise EngineError(f"a panorama must be an (H, W, 3) RGB image, got {pano.shape}",
                          "give a colour equirectangular image")
    h, w = pano.shape[:2]
    col, row = view_lookup(int(size), fov_deg, yaw_deg, w, h, pitch_deg)
    x0 = np.floor(col)
    y0 = np.floor(row)
    fx = (col - x0).astype(np.float32)[..., None]
    fy = (row - y0).astype(np.float32)[..., None]
    x0 = x0.astype(np.int64) % w
    x1 = (x0 + 1) % w
    y1 = np.clip(y0 + 1, 0, h - 1).astype(np.int64)
    y0 = np.clip(y0, 0, h - 1).astype(np.int64)
    px = lambda y, x: pano[y, x].astype(np.float32)  # noqa: E731 - gather, then convert
    top = px(y0, x0) * (1 - fx) + px(y0, x1) * fx
    bottom = px(y1, x0) * (1 - fx) + px(y1, x1) * fx
    out = top * (1 - fy) + bottom * fy
    return np.clip(out + 0.5, 0, 255).astype(np.uint8)


def needed_width(size: int, fov_deg: float) -> int:
    """Panorama width whose pixels are as wide as the centre pixels of a size-px view."""
    return int(math.ceil(math.pi * size / math.tan(math.radians(fov_deg) / 2)))


def read_view(path: str | os.PathLike[str], yaw_deg: float, fov_deg: float, size: int,
              pitch_deg: float = 0.0) -> np.ndarray:
    """Decode the panorama at `path` (upright by EXIF) just sharp enough for a size-px view
    (JPEG draft decoding, then an antialiased reduction: no aliasing from huge panoramas)
    and cut the view at `yaw_deg` (see cut_view). The last few decoded panoramas are kept,
    so the views of one panorama (consecutive rows) decode it once."""
    path = Path(path)
    try:
        stat = path.stat()
    except OSError:
        stat = None
    key = (stat.st_mtime_ns, stat.st_size) if stat else (0, 0)
    pano = _decoded(str(path), needed_width(size, fov_deg), *key)
    return cut_view(pano, yaw_deg, fov_deg, size, pitch_deg)


def forget_decoded() -> None:
    """Drop the decoded panoramas read_view keeps (benchmarks measure cold reads with it)."""
    _decoded.cache_clear()


@functools.lru_cache(maxsize=8)
def _decoded(path: str, want_w: int, mtime_ns: int, n_bytes: int) -> np.ndarray:
    """The panorama at `path`, at most ~1.5 x want_w wide (read-only; cached by file state)."""
    from engine.data.images import load_image

    pano = load_image(path, draft=(want_w, want_w // 2))
    h, w = pano.shape[:2]
    if not is_equirectangular(w, h):
        log.warning("%s is %dx%d, not 2:1; cut as an equirectangular panorama anyway", path,
                    w, h)
    if w > 1.5 * want_w:
        small = Image.fromarray(pano).resize((want_w, max(1, round(want_w * h / w))),
                                             Image.Resampling.BOX)
        pano = np.asarray(small)
    pano.setflags(write=False)
    return pano
