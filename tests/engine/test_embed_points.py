"""embed_points: vectors equal direct model calls, unreadable photos skipped and counted,
the GeoPackage keeps geometry/ids/fields, the faiss index finds each row itself, the CLI."""

from __future__ import annotations

import logging
import shutil
from pathlib import Path

import geopandas as gpd
import numpy as np
import pytest
import torch
from test_embed_support import tiny_model

from engine.data.images import load_image
from engine.data.points import StreetViewLayer, read_streetview
from engine.embed.index import index_path, read_index, search
from engine.embed.points import embed_points, read_point_embeddings
from engine.errors import EngineError
from engine.export.embeddings_gpkg import read_embedding_meta
from engine.models.inputs import to_model_input

torch.set_num_threads(1)
N = 12


def first_rows(layer: StreetViewLayer, n: int) -> StreetViewLayer:
    return StreetViewLayer(frame=layer.frame.iloc[:n].reset_index(drop=True),
                           source=layer.source, has_times=layer.has_times)


def direct(model, paths: list[str], size: int) -> np.ndarray:
    batch = torch.from_numpy(np.stack([load_image(p, size) for p in paths])).permute(0, 3, 1, 2)
    with torch.inference_mode():
        return model.embed_image(to_model_input(batch, torch.device("cpu"))).numpy()


@pytest.fixture(scope="module")
def model():
    return tiny_model()


def test_point_embeddings_equal_the_model_and_keep_the_layer(small_city: Path, tmp_path: Path,
                                                            model) -> None:
    layer = first_rows(read_streetview(small_city / "streetview.gpkg"), N)
    out = tmp_path / "emb.gpkg"
    res = embed_points(model, layer, out, batch_size=5, image_size=32, num_workers=2,
                       device="cpu", model_name="tiny")
    assert res["embedded"] == N and res["skipped"] == 0 and res["dimension"] == 16
    frame, emb = read_point_embeddings(out)
    assert emb.shape == (N, 16) and emb.dtype == np.float32
    np.testing.assert_allclose(emb, direct(model, list(layer.frame["image"]), 32), atol=1e-5)
    np.testing.assert_allclose(np.linalg.norm(emb, axis=1), 1.0, atol=1e-5)
    assert frame.crs.equals(layer.crs)
    assert np.allclose(frame.geometry.x, layer.frame.geometry.x)
    for col in ("location_id", "source_fid", "image", "heading"):
        assert list(frame[col]) == list(layer.frame[col]), col
    if "photo_id" in layer.frame:
        assert list(frame["photo_id"]) == list(layer.frame["photo_id"])
    assert frame["captured_at"].iloc[0].endswith("Z")  # ISO 8601 UTC text
    meta = read_embedding_meta(out, "embeddings")
    assert (meta["model"], meta["dimension"], meta["dtype"]) == ("tiny", 16, "float32")
    assert meta["extra"]["skipped"] == 0 and meta["extra"]["index"] == "emb.faiss"


def test_faiss_index_finds_each_row_itself(small_city: Path, tmp_path: Path, model) -> None:
    layer = first_rows(read_streetview(small_city / "streetview.gpkg"), N)
    out = tmp_path / "emb.gpkg"
    embed_points(model, layer, out, batch_size=4, image_size=32, num_workers=0, device="cpu")
    _, emb = read_point_embeddings(out)
    index = read_index(index_path(out))
    assert index.ntotal == N and index.d == 16
    sims, rows = search(index, emb, k=3)
    assert np.allclose(sims[:, 0], 1.0, atol=1e-4)
    for i in range(N):  # the row itself, or an identical vector
        assert rows[i, 0] == i or np.allclose(emb[rows[i, 0]], emb[i], atol=1e-6)
    assert (np.diff(sims, axis=1) <= 1e-6).all()  # sorted, most similar first


def test_unreadable_photos_are_skipped_and_counted(small_city: Path, tmp_path: Path, model,
                                                   caplog: pytest.LogCaptureFixture) -> None:
    gdf = gpd.read_file(small_city / "streetview.gpkg", layer="streetview").iloc[:6].copy()
    (tmp_path / "photos").mkdir()
    names = []
    for k, rel in enumerate(gdf["image"]):
        name = f"photos/p{k}.jpg"
        shutil.copyfile(small_city / rel, tmp_path / name)
        names.append(name)
    gdf["image"] = names
    (tmp_path / "photos/p1.jpg").write_bytes(b"\xff\xd8\xff\xe0 this is not a jpeg")  # corrupt
    data = (tmp_path / "photos/p4.jpg").read_bytes()
    (tmp_path / "photos/p4.jpg").write_bytes(data[: len(data) // 3])  # truncated
    gdf.to_file(tmp_path / "sv.gpkg", layer="streetview", driver="GPKG")
    layer = read_streetview(tmp_path / "sv.gpkg")
    out = tmp_path / "emb.gpkg"
    with caplog.at_level(logging.WARNING, logger="engine.embed.points"):
        res = embed_points(model, layer, out, batch_size=4, image_size=32, device="cpu")
    assert res["photos"] == 6 and res["embedded"] == 4 and res["skipped"] == 2
    assert res["skipped_rows"] == [int(layer.frame["source_fid"][1]),
                                   int(layer.frame["source_fid"][4])]
    assert "p1.jpg" in caplog.text and "p4.jpg" in caplog.text
    # the log names the skipped photos by the feature ids the result gives (QGIS's fids)
    fids = ", ".join(str(v) for v in res["skipped_rows"])
    assert f"2 of 6 photos could not be read and were skipped (fid {fids})" in caplog.text
    assert "skipping photo 1" not in caplog.text
    frame, emb = read_point_embeddings(out)
    assert [Path(p).name for p in frame["image"]] == ["p0.jpg", "p2.jpg", "p3.jpg", "p5.jpg"]
    np.testing.assert_allclose(emb, direct(model, list(frame["image"]), 32), atol=1e-5)
    assert read_index(index_path(out)).ntotal == 4
    for k in (0, 2, 3, 5):
        (tmp_path / f"photos/p{k}.jpg").write_bytes(b"")
    with pytest.raises(EngineError, match="none of the 6 photos"):
        embed_points(model, layer, tmp_path / "none.gpkg", image_size=32, device="cpu")
    assert not (tmp_path / "none.gpkg").exists()


def test_cli_uses_the_model_folder(small_city: Path, tmp_path: Path, model) -> None:
    from engine.cli.main import main
    from engine.models.weights import save_model

    save_model(model, tmp_path / "models/tiny", extra_config={"data": {"image_size": 24}})
    layer = first_rows(read_streetview(small_city / "streetview.gpkg"), 4)
    layer.frame.drop(columns=["source_fid"]).to_file(tmp_path / "sv.gpkg", layer="streetview",
                                                     driver="GPKG")
    out = tmp_path / "cli.gpkg"
    code = main(["embed-points", "--model", str(tmp_path / "models/tiny"), "--layer",
                 str(tmp_path / "sv.gpkg"), "--out", str(out), "--events", "jsonl",
                 "--workers", "0", "--device", "cpu"])
    assert code == 0 and out.is_file() and index_path(out).is_file()
    frame, emb = read_point_embeddings(out)
    assert read_embedding_meta(out, "embeddings")["extra"]["image_size"] == 24
    np.testing.assert_allclose(emb, direct(model, list(frame["image"]), 24), atol=1e-5)
