"""The map stage without photo embeddings (Settings.map_photos False, the benchmark's): heads
fitted on the overhead field take the photos' places and labels from the photo layer itself,
and give the same rows, heads and maps as when the photos are embedded first."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest


def test_maps_without_photo_embeddings_equal_the_maps_with_them(small_city: Path,
                                                                 tmp_path: Path) -> None:
    import rasterio
    import torch

    from engine.evaluate.baselines import random_init_embedder
    from engine.evaluate.encoder_run import run_encoder
    from engine.evaluate.recipes import recipe_config
    from engine.evaluate.settings import SOCIOECONOMIC, settings_for
    from engine.maps.rows import place_rows, point_rows, polygon_rows

    torch.set_num_threads(1)
    base = settings_for("benchmark-quick")
    assert not base.map_photos and base.map_head == "overhead"
    arch = recipe_config("crossview", small_city, tmp_path / "m", base, 0, 1).model
    model = random_init_embedder(arch, seed=0).model
    runs = {flag: run_encoder(model, "random crossview", small_city, tmp_path / str(flag),
                              replace(base, map_photos=flag), image_size=base.image_size)
            for flag in (True, False)}

    with_photos = tmp_path / "True" / "embeddings" / "photos.gpkg"
    assert with_photos.is_file()
    assert not (tmp_path / "False" / "embeddings" / "photos.gpkg").exists()
    assert runs[False]["embeddings"]["photos"] is None
    layer, tracts = small_city / "streetview.gpkg", small_city / "tracts.gpkg"
    for target in ("perception_safety", SOCIOECONOMIC[0]):
        tract = target in SOCIOECONOMIC
        a = place_rows(layer, target, tracts if tract else None)
        b = (polygon_rows(tracts, target, embeddings=with_photos) if tract
             else point_rows(with_photos, target))
        assert a.X.shape == (len(b.y), 0)
        np.testing.assert_array_equal(a.y, b.y)
        np.testing.assert_array_equal(a.xy, b.xy)
        assert a.xy_crs == b.xy_crs and a.n_dropped == b.n_dropped and a.wkb == b.wkb
        if tract:
            np.testing.assert_array_equal(a.diameters, b.diameters)
        else:
            np.testing.assert_array_equal(a.groups, b.groups)

    assert runs[True]["scores"] == runs[False]["scores"]
    for target, head in runs[True]["heads"].items():
        assert head["metrics"] == runs[False]["heads"][target]["metrics"]
        assert head["n_rows"] == runs[False]["heads"][target]["n_rows"]
        with rasterio.open(tmp_path / "True" / "maps" / f"{target}.tif") as x, \
                rasterio.open(tmp_path / "False" / "maps" / f"{target}.tif") as y:
            np.testing.assert_array_equal(x.read(), y.read())


def test_place_rows_names_a_missing_or_unreadable_photo_layer(tmp_path: Path) -> None:
    from engine.errors import EngineError
    from engine.maps.rows import place_rows

    with pytest.raises(EngineError, match="does not exist"):
        place_rows(tmp_path / "none.gpkg", "income")
    bad = tmp_path / "bad.gpkg"
    bad.write_bytes(b"not a geopackage")
    with pytest.raises(EngineError, match="cannot read photo layer"):
        place_rows(bad, "income")
