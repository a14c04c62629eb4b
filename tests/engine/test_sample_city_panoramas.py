"""The sample city's 360° panoramas through every path: a view cut at heading h matches the
perspective photo rendered at h; import-photos on a folder mixing panoramas and photos gives
one row per view; training draws views as positives by heading."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pyogrio
import pytest
from PIL import Image

from engine.data.panorama import cut_view, is_equirectangular
from engine.data.sample_city import generate

pytestmark = pytest.mark.slow  # one small city with panoramas: ~40 s on 2 busy cores

# Mean absolute error (0..255 levels) between a 64 px view cut from the 256x128 panorama
# JPEG and the 64 px perspective photo JPEG at the same heading: the bound per view and
# over all views. Measured: about 8-9 mean, 14 worst; a view 90° off: about 34 mean.
MAX_VIEW_MAE, MAX_MEAN_MAE = 16.0, 11.0


@pytest.fixture(scope="module")
def pano_city(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("pano_city")
    summary = generate(out, seed=0, preset="small", panoramas=True)
    assert summary["panoramas"] == 240
    return out


def read_rgb(path: Path) -> np.ndarray:
    with Image.open(path) as img:
        return np.asarray(img.convert("RGB"))


def test_panorama_cut_at_h_matches_the_photo_rendered_at_h(pano_city: Path) -> None:
    photos = pyogrio.read_dataframe(pano_city / "streetview.gpkg")
    panos = pyogrio.read_dataframe(pano_city / "panoramas.gpkg")
    manifest = json.loads((pano_city / "city.json").read_text())
    assert manifest["files"]["panoramas"] == "panoramas.gpkg"
    errors, wrong = [], []
    for loc in range(0, 80, 8):
        for t in range(3):
            pano_row = panos[(panos.location_id == loc)
                             & (panos.image == f"photos/loc{loc:05d}_t{t}_pano.jpg")].iloc[0]
            pano = read_rgb(pano_city / pano_row["image"])
            assert pano.shape == (128, 256, 3) and is_equirectangular(256, 128)
            shots = photos[(photos.location_id == loc)
                           & photos.image.str.contains(f"_t{t}_")]
            for _, shot in shots.iterrows():
                photo = read_rgb(pano_city / shot["image"]).astype(float)
                yaw = shot["heading"] - pano_row["heading"]
                errors.append(np.abs(cut_view(pano, yaw, 90.0, 64) - photo).mean())
                wrong.append(np.abs(cut_view(pano, yaw + 90, 90.0, 64) - photo).mean())
    assert len(errors) == 60
    assert max(errors) < MAX_VIEW_MAE and np.mean(errors) < MAX_MEAN_MAE, (
        f"view error mean {np.mean(errors):.2f}, worst {max(errors):.2f}")
    assert np.mean(wrong) > 2.5 * np.mean(errors)  # the match is the heading's, not luck


def _exif_copy(src: Path, dst: Path, lon: float, lat: float, heading: float, when: str) -> None:
    """Copy a photo and tag it as a phone or 360° camera would (GPS, direction, time)."""
    exif = Image.Exif()
    exif[0x8825] = {1: "N", 2: (lat, 0.0, 0.0), 3: "W", 4: (abs(lon), 0.0, 0.0),
                    16: "T", 17: heading}
    exif[0x0132] = when.replace("-", ":").replace("T", " ").rstrip("Z")
    with Image.open(src) as img:
        img.save(dst, exif=exif, quality=95)


def test_import_photos_on_a_mixed_folder_gives_one_row_per_view(pano_city: Path,
                                                               tmp_path: Path) -> None:
    from engine.cli.main import main

    photos = pyogrio.read_dataframe(pano_city / "streetview.gpkg").to_crs("EPSG:4326")
    panos = pyogrio.read_dataframe(pano_city / "panoramas.gpkg").to_crs("EPSG:4326")
    folder = tmp_path / "mixed"
    folder.mkdir()
    expected = {}
    for frame, kind in ((panos[panos.location_id.isin([3, 9])].iloc[::3], "pano"),
                        (photos[photos.location_id.isin([3, 9])].iloc[::3], "photo")):
        for _, row in frame.iterrows():
            name = f"{kind}_{Path(row['image']).stem}.jpg"
            _exif_copy(pano_city / row["image"], folder / name, row.geometry.x,
                       row.geometry.y, row["heading"], row["captured_at"])
            expected[name] = (kind, row["heading"], row["location_id"])
    (folder / "notes.txt").write_text("not a photo")
    out = tmp_path / "sv.gpkg"
    assert main(["import-photos", "--input", str(folder), "--out", str(out)]) == 0
    frame = pyogrio.read_dataframe(out)
    n_pano = sum(k == "pano" for k, _, _ in expected.values())
    assert len(frame) == 4 * n_pano + (len(expected) - n_pano)
    for name, rows in frame.groupby(frame["image"].map(lambda p: Path(p).name)):
        kind, heading, _ = expected[name]
        if kind == "pano":
            assert sorted(rows["view_yaw"]) == [0, 90, 180, 270]
            got = sorted(rows["heading"])
            want = sorted((heading + np.array([0, 90, 180, 270])) % 360)
            assert got == pytest.approx(want, abs=1e-3)
            assert (rows["is_pano"] == 1).all() and (rows["pano_heading"] == heading).all()
        else:
            assert len(rows) == 1 and rows["view_yaw"].isna().all()
            assert rows["heading"].iloc[0] == pytest.approx(heading, abs=1e-3)
    # views of a panorama and the photos taken at its spot share the spot's location_id
    by_loc = frame.groupby(frame["image"].map(lambda p: expected[Path(p).name][2]))
    assert all(g["location_id"].nunique() == 1 for _, g in by_loc)
    assert frame["location_id"].nunique() == 2


def test_training_draws_views_as_positives_by_heading(pano_city: Path, tmp_path: Path) -> None:
    """On the panorama layer alone (is_pano = 1): each view's temporal positive is the view
    of the same place in the same direction from a panorama taken months apart."""
    from engine.models.photo_input import read_photo
    from engine.train.config import load_config
    from engine.train.data import build_dataset

    small = tmp_path / "panos.gpkg"
    panos = pyogrio.read_dataframe(pano_city / "panoramas.gpkg")
    panos = panos[panos.location_id < 12].copy()
    panos["image"] = [str(pano_city / p) for p in panos["image"]]
    pyogrio.write_dataframe(panos, small, layer="panoramas")
    cfg = load_config(None, [f"data.streetview={small}", "data.image_size=32",
                             "data.view_headings=0,90,180,270", "objectives.temporal={}",
                             f"output={tmp_path / 'm'}", "train.device=cpu"])
    dataset, info = build_dataset(cfg, {"view1", "temporal"})
    assert info["panorama_views"]["panoramas"] == len(panos)
    frame_views = dataset.sources.views
    assert frame_views.shape == (4 * len(panos), 2)
    temporal = dataset.sources.pairs.temporal
    assert temporal.n_pairs > 0
    for i, j in temporal.to_pairs()[:50]:
        assert frame_views[i, 0] == frame_views[j, 0]  # same direction (same compass here)
        assert dataset.sources.images[i] != dataset.sources.images[j]  # another panorama
    item = dataset[(0, 0)]
    anchor = int(dataset.anchors[0])
    view = tuple(frame_views[anchor])
    want = read_photo(dataset.sources.images[anchor], 32, "crop", view)
    assert np.array_equal(item["view1"].permute(1, 2, 0).numpy(), want)
    shutil.rmtree(tmp_path / "m", ignore_errors=True)
