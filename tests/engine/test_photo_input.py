"""Any photo size: EXIF orientation, the resize policy (crop / letterbox / stretch), recorded
in the model at training time and applied identically by training and embed-points."""

from __future__ import annotations

from pathlib import Path

import geopandas as gpd
import numpy as np
import pytest
import torch
from PIL import Image
from shapely.geometry import Point
from test_train import tiny_overrides, write_tiny_city

from engine.data.images import load_image
from engine.embed.points import PhotoDataset, read_point_embeddings
from engine.errors import EngineError
from engine.models.inputs import to_model_input
from engine.models.photo_input import PAD_RGB, fit_square, model_resize, read_photo, resize_of
from engine.train.config import load_config
from engine.train.dataset import ImageCache

torch.set_num_threads(1)
RED, BLUE = (220, 30, 30), (30, 30, 220)


def portrait_with_exif_rotation(path: Path, w: int = 30, h: int = 60) -> None:
    """A portrait photo (red top half, blue bottom) stored landscape + EXIF orientation 6,
    as phones write them."""
    img = np.zeros((h, w, 3), np.uint8)
    img[: h // 2], img[h // 2:] = RED, BLUE
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90° clockwise to display"
    Image.fromarray(img).transpose(Image.Transpose.ROTATE_90).save(path, exif=exif, quality=95)


def test_portrait_photo_with_exif_orientation_is_read_upright(tmp_path: Path) -> None:
    path = tmp_path / "portrait.jpg"
    portrait_with_exif_rotation(path)
    with Image.open(path) as raw:
        assert raw.size == (60, 30)  # stored landscape
    img = load_image(path)
    assert img.shape == (60, 30, 3)
    assert img[5, 15, 0] > 180 and img[5, 15, 2] < 80  # red on top
    assert img[55, 15, 2] > 180 and img[55, 15, 0] < 80  # blue below
    boxed = read_photo(path, 32, "letterbox")
    assert boxed.shape == (32, 32, 3)
    assert tuple(boxed[16, 1]) == PAD_RGB and tuple(boxed[16, 30]) == PAD_RGB  # side bars
    assert boxed[2, 16, 0] > 180 and boxed[29, 16, 2] > 180  # upright, nothing cut
    cropped = read_photo(path, 32, "crop")
    assert cropped[2, 16, 0] > 180 and cropped[29, 16, 2] > 180
    assert cropped[16, 1, 0] > 100 or cropped[16, 1, 2] > 100  # no bars: the photo fills it


def test_resize_policies_keep_or_change_the_aspect() -> None:
    wide = np.zeros((20, 80, 3), np.uint8)
    wide[:, :10] = RED  # a red left edge
    wide[:, 35:45] = BLUE  # a blue centre band
    crop = fit_square(wide, 16, "crop")
    assert crop.shape == (16, 16, 3) and crop[8, :, 0].max() < 60  # the red edge is cut off
    assert crop[8, 8, 2] > 150  # the centre survives
    box = fit_square(wide, 16, "letterbox")
    assert tuple(box[0, 8]) == PAD_RGB and box[8, 0, 0] > 150  # bars above, edge kept
    stretch = fit_square(wide, 16, "stretch")
    assert stretch[8, 0, 0] > 150 and stretch[0, 8, 2] > 150  # everything kept, squeezed
    with pytest.raises(EngineError, match="data.resize"):
        fit_square(wide, 16, "squash")


@pytest.mark.parametrize("mode", ["crop", "letterbox", "stretch"])
def test_training_and_embedding_read_a_photo_identically(tmp_path: Path, mode: str) -> None:
    path = tmp_path / "portrait.jpg"
    portrait_with_exif_rotation(path, 45, 80)
    train_px = ImageCache(24, resize=mode).get(str(path))
    _, embed_px, error = PhotoDataset([str(path)], 24, mode)[0]
    assert error is None and torch.equal(train_px, embed_px)


def test_the_model_records_its_policy_and_embed_points_applies_it(tmp_path: Path) -> None:
    """Train 2 steps with data.resize=letterbox: config.yaml records it; embed-points on
    non-square photos then embeds exactly what the training reader makes of them."""
    from engine.cli.main import main
    from engine.models.folder import load_model
    from engine.train.loop import train

    city = write_tiny_city(tmp_path / "city", n_places=6)
    out = tmp_path / "models" / "boxed"
    cfg = load_config(None, [*tiny_overrides(city, out, steps=2), "data.resize=letterbox",
                             "objectives.self={weight: 1.0}"])
    assert load_config(None, ["objectives.self={weight: 1.0}"]).data.resize == "crop"
    train(cfg)
    assert model_resize(out) == "letterbox"
    photos = []
    for k, (w, h) in enumerate(((64, 30), (30, 70))):
        img = np.random.default_rng(k).integers(0, 255, (h, w, 3)).astype(np.uint8)
        Image.fromarray(img).save(tmp_path / f"odd{k}.png")
        photos.append({"image": f"odd{k}.png", "geometry": Point(k * 10.0, 0.0)})
    gpd.GeoDataFrame(photos, crs="EPSG:32617").to_file(tmp_path / "odd.gpkg", driver="GPKG")
    result = tmp_path / "emb.gpkg"
    assert main(["embed-points", "--model", str(out), "--layer", str(tmp_path / "odd.gpkg"),
                 "--out", str(result), "--workers", "0", "--device", "cpu",
                 "--events", "jsonl"]) == 0
    frame, emb = read_point_embeddings(result)
    cache = ImageCache(24, resize="letterbox")
    batch = torch.stack([cache.get(p) for p in frame["image"]])
    with torch.inference_mode():
        expected = load_model(out).embed_image(to_model_input(batch, torch.device("cpu")))
    np.testing.assert_allclose(emb, expected.numpy(), atol=1e-5)


def test_models_without_a_recorded_policy_keep_stretching() -> None:
    assert resize_of({"image_size": 32}) == "stretch"
    assert resize_of({"image_size": 32, "resize": "letterbox"}) == "letterbox"
    with pytest.raises(EngineError, match="data.resize"):
        resize_of({"resize": "fill"})


def test_embed_points_cuts_panoramas_as_the_model_was_trained(tmp_path: Path) -> None:
    """A raw layer (one 2:1 panorama, one photo) and a model trained with view headings
    0,180: embed-points embeds 2 views + the photo, each exactly as training reads it."""
    from test_embed_support import tiny_model

    from engine.cli.main import main
    from engine.models.weights import save_model

    model = tiny_model()
    save_model(model, tmp_path / "m", extra_config={"data": {
        "image_size": 24, "resize": "crop", "view_headings": "0,180", "view_fov": 80.0}})
    rng = np.random.default_rng(3)
    Image.fromarray(rng.integers(0, 255, (40, 80, 3)).astype(np.uint8)).save(tmp_path / "p.jpg")
    Image.fromarray(rng.integers(0, 255, (30, 40, 3)).astype(np.uint8)).save(tmp_path / "f.jpg")
    gpd.GeoDataFrame({"image": ["p.jpg", "f.jpg"], "heading": [10.0, 99.0]},
                     geometry=[Point(0, 0), Point(50, 0)], crs="EPSG:32617").to_file(
        tmp_path / "raw.gpkg", driver="GPKG")
    out = tmp_path / "emb.gpkg"
    assert main(["embed-points", "--model", str(tmp_path / "m"), "--layer",
                 str(tmp_path / "raw.gpkg"), "--out", str(out), "--workers", "0",
                 "--device", "cpu"]) == 0
    frame, emb = read_point_embeddings(out)
    assert frame["heading"].tolist() == [10.0, 190.0, 99.0]
    assert frame["view_fov"].iloc[0] == 80.0 and np.isnan(frame["view_yaw"].iloc[2])
    cache = ImageCache(24, resize="crop")
    batch = torch.stack([cache.get(p, (y, f)) for p, y, f in
                         zip(frame["image"], frame["view_yaw"], frame["view_fov"], strict=True)])
    with torch.inference_mode():
        expected = model.embed_image(to_model_input(batch, torch.device("cpu")))
    np.testing.assert_allclose(emb, expected.numpy(), atol=1e-5)
