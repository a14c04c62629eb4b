"""The sample city: deterministic, well-formed, and built so the seeds' claims are testable."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pyogrio
import pytest
import rasterio
from PIL import Image
from rasterio import features
from scipy.stats import spearmanr

from engine.data.sample_city import generate
from engine.data.sample_city.streetview import colourful_fraction, green_fraction
from engine.errors import EngineError


def _digests(root: Path) -> dict[str, str]:
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file()}


def _photos(city: Path):
    return pyogrio.read_dataframe(city / "streetview.gpkg", layer="streetview")


def _img(city: Path, rel: str) -> np.ndarray:
    return np.asarray(Image.open(city / rel).convert("RGB"), dtype=np.float32)


def test_same_seed_same_bytes_other_seed_other_bytes(small_city: Path, tmp_path: Path) -> None:
    generate(tmp_path / "again", seed=0, preset="small")
    first, again = _digests(small_city), _digests(tmp_path / "again")
    assert len(first) > 400 and first == again
    generate(tmp_path / "other", seed=1, preset="small")
    other = _digests(tmp_path / "other")
    for name in ("streetview.gpkg", "tracts.gpkg", "overhead/overhead_2023-07-12.tif"):
        assert other[name] != first[name]


def test_point_layer_schema_and_counts(small_city: Path) -> None:
    manifest = json.loads((small_city / "city.json").read_text())
    info = pyogrio.read_info(small_city / "streetview.gpkg", layer="streetview")
    assert info["geometry_type"] == "Point" and info["crs"] == "EPSG:32617"
    frame = _photos(small_city)
    for field in ("photo_id", "location_id", "image", "captured_at", "heading",
                  "perception_safety", "perception_lively", "perception_beautiful"):
        assert field in frame.columns
    counts = manifest["counts"]
    assert len(frame) == counts["locations"] * counts["times"] * counts["headings"]
    assert frame.groupby("location_id")["captured_at"].nunique().min() >= 3
    assert frame.groupby("location_id")["heading"].nunique().min() >= 2
    xmin, ymin, xmax, ymax = manifest["bounds"]
    x, y = frame.geometry.x.to_numpy(), frame.geometry.y.to_numpy()
    assert np.isfinite(x).all() and (x > xmin).all() and (x < xmax).all()
    assert ((y > ymin) & (y < ymax)).all()
    assert all((small_city / rel).is_file() for rel in frame["image"])
    times = frame["captured_at"].str.match(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")
    assert times.all()


def test_same_place_shares_static_structure_but_dynamic_content_changes(small_city: Path) -> None:
    frame = _photos(small_city)
    frame["h"] = frame.groupby("location_id").cumcount() % 2  # heading index within a capture
    same, other = [], []
    rng = np.random.default_rng(0)
    locations = frame["location_id"].unique()
    for loc in locations[:30]:
        shots = frame[(frame.location_id == loc) & (frame.h == 0)].sort_values("captured_at")
        a, b = _img(small_city, shots.image.iloc[0]), _img(small_city, shots.image.iloc[1])
        same.append(np.abs(a - b).mean())
        far = frame[(frame.location_id == rng.choice(locations[locations != loc])) & (frame.h == 0)]
        other.append(np.abs(a - _img(small_city, far.image.iloc[0])).mean())
    same_mean, other_mean = float(np.mean(same)), float(np.mean(other))
    assert min(same) > 0.5  # dynamic content (light, cars, people, season) always differs
    assert same_mean < 0.7 * other_mean  # ...but the static place is recognisable


def test_socioeconomic_attributes_follow_the_latent_fields(small_city: Path) -> None:
    tracts = pyogrio.read_dataframe(small_city / "tracts.gpkg", layer="tracts")
    assert len(tracts) >= 9
    assert {"tract_id", "income", "poverty_share", "pop_density"} <= set(tracts.columns)
    means = {}
    for name in ("wealth", "density"):
        with rasterio.open(small_city / f"truth/{name}.tif") as src:
            grid, transform = src.read(1), src.transform
        ids = features.rasterize(((g, i + 1) for i, g in enumerate(tracts.geometry)),
                                 out_shape=grid.shape, transform=transform)
        means[name] = [grid[ids == i + 1].mean() for i in range(len(tracts))]
    assert spearmanr(tracts["income"], means["wealth"])[0] > 0.5
    assert spearmanr(tracts["poverty_share"], means["wealth"])[0] < -0.5
    assert spearmanr(tracts["pop_density"], means["density"])[0] > 0.5
    area = tracts.geometry.area.sum()
    manifest = json.loads((small_city / "city.json").read_text())
    xmin, ymin, xmax, ymax = manifest["bounds"]
    assert area == pytest.approx((xmax - xmin) * (ymax - ymin), rel=1e-6)


def test_perception_scores_follow_visible_content(small_city: Path) -> None:
    frame = _photos(small_city)
    imgs = [_img(small_city, rel).astype(np.uint8) for rel in frame["image"]]
    green = np.array([green_fraction(i) for i in imgs])
    colourful = np.array([colourful_fraction(i) for i in imgs])
    assert spearmanr(frame["perception_beautiful"], green)[0] > 0.3
    assert spearmanr(frame["perception_lively"], colourful)[0] > 0.2
    # dynamic content moves scores between captures of one place
    spread = frame.groupby("location_id")["perception_lively"].std()
    assert (spread > 0.1).mean() > 0.5
    for name in ("perception_safety", "perception_lively", "perception_beautiful"):
        assert frame[name].between(0, 10).all()


def test_overhead_and_truth_rasters(small_city: Path) -> None:
    manifest = json.loads((small_city / "city.json").read_text())
    assert len(manifest["files"]["overhead"]) >= 3
    bounds = manifest["bounds"]
    for rel in manifest["files"]["overhead"]:
        with rasterio.open(small_city / rel) as src:
            assert src.crs.to_epsg() == 32617 and src.count == 3 and src.dtypes[0] == "uint8"
            assert src.res[0] <= 1.0 and src.profile["tiled"] and src.block_shapes[0] == (256, 256)
            assert list(src.bounds) == pytest.approx(bounds)
    for name in ("wealth", "density", "greenery", "income", "poverty_share", "pop_density",
                 "perception_safety", "perception_lively", "perception_beautiful"):
        with rasterio.open(small_city / manifest["files"]["truth"][name]) as src:
            assert src.crs.to_epsg() == 32617 and list(src.bounds) == pytest.approx(bounds)
            assert np.isfinite(src.read(1)).all()


def test_unknown_preset_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(EngineError, match="unknown sample-city preset 'huge'"):
        generate(tmp_path, preset="huge")
