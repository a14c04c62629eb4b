"""load_image: RGB uint8 arrays from any Pillow mode; errors name the bad file."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from engine.data.images import load_image
from engine.errors import EngineError


def test_rgb_jpeg_loads_as_uint8_hw3(tmp_path):
    path = tmp_path / "a.jpg"
    Image.new("RGB", (20, 10), (200, 40, 10)).save(path, quality=95)
    arr = load_image(path)
    assert arr.shape == (10, 20, 3) and arr.dtype == np.uint8
    assert abs(int(arr[5, 10, 0]) - 200) <= 3 and abs(int(arr[5, 10, 2]) - 10) <= 3


def test_resize_to_square(tmp_path):
    path = tmp_path / "a.png"
    Image.new("RGB", (40, 30), (0, 255, 0)).save(path)
    arr = load_image(path, size=16)
    assert arr.shape == (16, 16, 3)
    assert (arr[..., 1] == 255).all() and (arr[..., 0] == 0).all()


@pytest.mark.parametrize("mode, value", [("L", 128), ("RGBA", (10, 20, 30, 0)), ("P", 3),
                                         ("I;16", 65535)])
def test_other_modes_become_rgb(tmp_path, mode, value):
    path = tmp_path / "a.png"
    Image.new(mode, (6, 4), value).save(path)
    arr = load_image(path)
    assert arr.shape == (4, 6, 3) and arr.dtype == np.uint8
    if mode == "L":
        assert (arr == 128).all()
    if mode == "RGBA":
        assert arr[0, 0].tolist() == [10, 20, 30]
    if mode == "I;16":
        assert (arr == 255).all()


def test_exif_orientation_is_applied(tmp_path):
    path = tmp_path / "rot.jpg"
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 degrees clockwise to display
    Image.new("RGB", (20, 10), (90, 90, 90)).save(path, exif=exif)
    assert load_image(path).shape == (20, 10, 3)


def test_missing_file_names_path_and_image_field(tmp_path):
    path = tmp_path / "photos" / "nope.jpg"
    with pytest.raises(EngineError) as err:
        load_image(path)
    assert "nope.jpg" in str(err.value) and "does not exist" in err.value.message
    assert "`image`" in err.value.hint


def test_truncated_jpeg_names_file(tmp_path):
    good, bad = tmp_path / "good.jpg", tmp_path / "cut.jpg"
    Image.effect_noise((64, 64), 40).convert("RGB").save(good)
    bad.write_bytes(good.read_bytes()[:300])
    with pytest.raises(EngineError, match="cut.jpg.*corrupt"):
        load_image(bad)


def test_not_an_image_names_file(tmp_path):
    path = tmp_path / "notes.jpg"
    path.write_text("this is text, not a photo")
    with pytest.raises(EngineError, match="notes.jpg"):
        load_image(path)


def test_zero_byte_file(tmp_path):
    path = tmp_path / "empty.jpg"
    path.write_bytes(b"")
    with pytest.raises(EngineError, match=r"empty.jpg is empty \(0 bytes\)"):
        load_image(path)


def test_bad_size_is_engine_error(tmp_path):
    path = tmp_path / "a.png"
    Image.new("RGB", (4, 4)).save(path)
    with pytest.raises(EngineError, match="positive integer"):
        load_image(path, size=0)
