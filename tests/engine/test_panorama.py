"""Equirectangular panoramas: recognised by shape, cut by gnomonic projection (not a crop)."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from engine.data.panorama import (
    cut_view,
    is_equirectangular,
    parse_view_headings,
    read_view,
    upright_size,
    view_lookup,
)
from engine.errors import EngineError


def yaw_elev_pano(h: int = 180) -> np.ndarray:
    """A panorama whose red channel encodes yaw (0..255 over 360°), green elevation."""
    w = 2 * h
    yaw = (np.arange(w) + 0.5) / w  # 0..1 from -180° to +180° relative to the centre
    elev = 1 - (np.arange(h) + 0.5) / h  # 1 at the zenith .. 0 at the nadir
    pano = np.zeros((h, w, 3), np.uint8)
    pano[..., 0] = np.round(yaw * 255)[None, :]
    pano[..., 1] = np.round(elev * 255)[:, None]
    return pano


def test_aspect_ratio_recognises_equirectangular() -> None:
    assert is_equirectangular(5760, 2880) and is_equirectangular(4000, 2003)
    assert not is_equirectangular(4032, 3024) and not is_equirectangular(1024, 1024)
    assert not is_equirectangular(3000, 1000)


def test_centre_of_a_view_looks_at_its_yaw_and_the_horizon() -> None:
    pano = yaw_elev_pano()
    for yaw in (-135.0, -30.0, 0.0, 45.0, 90.0):
        view = cut_view(pano, yaw, 90.0, 33)
        centre = view[16, 16].astype(float)
        assert centre[0] == pytest.approx((yaw / 360 + 0.5) * 255, abs=1.5)
        assert centre[1] == pytest.approx(127.5, abs=1.5)


def test_gnomonic_geometry_not_a_crop() -> None:
    """The edge column of a 90° view looks 45° aside; on the view's top row the elevation
    falls from the centre to the corners (tan e = tan 45° cos 45° at the corner), which a crop
    of the panorama could never show."""
    size = 64
    col, row = view_lookup(size, 90.0, 0.0, 3600, 1800)
    yaw = (col + 0.5) / 3600 * 360 - 180
    elev = 90 - (row + 0.5) / 1800 * 180
    assert yaw[32, -1] == pytest.approx(45 * (1 - 1 / size), abs=0.8)  # last column's centre
    assert elev[0, 32] == pytest.approx(math.degrees(math.atan(1 - 1 / size)), abs=0.1)
    corner = math.degrees(math.atan((1 - 1 / size) / math.hypot(1, 1 - 1 / size)))
    assert elev[0, -1] == pytest.approx(corner, abs=0.1)
    assert elev[0, 32] - elev[0, -1] > 8  # a crop keeps rows at one elevation


def test_views_wrap_around_the_seam() -> None:
    pano = yaw_elev_pano()
    behind = cut_view(pano, 180.0, 60.0, 32)
    left, right = behind[16, 0].astype(int), behind[16, -1].astype(int)
    assert left[0] > 200 and right[0] < 55  # the view straddles the seam: both ends present


def test_parse_view_headings_and_errors() -> None:
    assert parse_view_headings("0, 90,180,270") == (0.0, 90.0, 180.0, 270.0)
    assert parse_view_headings([-90, 450]) == (270.0, 90.0)
    with pytest.raises(EngineError, match="view headings"):
        parse_view_headings("north,east")
    with pytest.raises(EngineError, match="field of view"):
        cut_view(yaw_elev_pano(), 0.0, 200.0, 16)


def test_read_view_from_a_large_jpeg_matches_the_cut(tmp_path: Path) -> None:
    """A 1440x720 JPEG is decoded at a reduced scale for a 32 px view: same picture."""
    pano = np.kron(yaw_elev_pano(90), np.ones((8, 8, 1), np.uint8))
    path = tmp_path / "pano.jpg"
    Image.fromarray(pano).save(path, quality=95)
    assert upright_size(path) == (1440, 720)
    view = read_view(path, 30.0, 90.0, 32)
    assert view.shape == (32, 32, 3) and view.dtype == np.uint8
    full = cut_view(pano, 30.0, 90.0, 32)
    assert np.abs(view.astype(int) - full).mean() < 4


def test_upright_size_follows_exif_orientation(tmp_path: Path) -> None:
    path = tmp_path / "rotated.jpg"
    exif = Image.Exif()
    exif[0x0112] = 6  # stored landscape, shown portrait
    Image.new("RGB", (40, 20)).save(path, exif=exif)
    assert upright_size(path) == (20, 40)
    assert upright_size(tmp_path / "missing.jpg") is None


def test_a_panorama_stored_turned_is_still_recognised(tmp_path: Path) -> None:
    from engine.data.panorama import looks_equirectangular

    turned, plain, photo = tmp_path / "turned.jpg", tmp_path / "plain.jpg", tmp_path / "p.jpg"
    exif = Image.Exif()
    exif[0x0112] = 8
    Image.new("RGB", (32, 64)).save(turned, exif=exif)  # stored 1:2, shown 2:1
    Image.new("RGB", (64, 32)).save(plain)
    Image.new("RGB", (64, 48)).save(photo)
    assert looks_equirectangular(turned) and looks_equirectangular(plain)
    assert not looks_equirectangular(photo) and not looks_equirectangular(tmp_path / "no.jpg")
