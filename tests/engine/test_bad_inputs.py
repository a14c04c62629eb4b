"""Bad inputs and faults, table-driven, through the real CLI (`engine.cli.main.main`).

Every case asserts the exit code, that the one-line message names the bad input, that the
hint names only real CLI flags, that no traceback is printed, that `--events jsonl` ends in
an error event, and what is on disk afterwards: nothing new and every old file byte-identical
(the world's inputs and reference outputs, and the case's own folder). Read-only and full
disks are real tmpfs mounts (skipped where the machine allows no mount).
"""

from __future__ import annotations

import argparse
import json
import shutil
import sqlite3
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pytest
import yaml
from bad_inputs_world import (
    UTM,
    X0,
    Y0,
    build_world,
    scratch_left,
    snapshot,
    streetview_frame,
    tmpfs,
    write_layer,
)
from test_embed_support import TINY

from engine.cli.main import build_parser, main
from engine.cli.registry import command_modules

W = dict[str, Path]


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> W:
    import torch

    torch.set_num_threads(1)
    return build_world(tmp_path_factory.mktemp("world"))


def all_flags() -> set[str]:
    """Every option string of every engine command (and `python -m engine.train`)."""
    flags: set[str] = set()

    def walk(parser: argparse.ArgumentParser) -> None:
        for action in parser._actions:
            flags.update(o for o in action.option_strings if o.startswith("--"))
            if isinstance(action, argparse._SubParsersAction):
                for sub in action.choices.values():
                    walk(sub)

    walk(build_parser(command_modules()))
    return flags


# ---- inputs the cases make in their own folder ---------------------------------------------

def photos(w: W, n: int = 4) -> list[str]:
    return [str(p) for p in sorted((w["root"] / "photos").glob("*.jpg"))[:n]]


def layer_with(w: W, d: Path, name: str, **kw) -> Path:
    return write_layer(streetview_frame(photos(w), **kw), d / name)


def lat95(w: W, d: Path) -> Path:
    xy = np.array([[-83.0, 95.0], [-83.0, 35.0], [-83.001, 35.0], [-83.0, 35.001]])
    return layer_with(w, d, "lat95.gpkg", crs="EPSG:4326", xy=xy)


def utm_as_4326(w: W, d: Path) -> Path:
    xy = np.array([[500012.0, 3999988.0], [500024.0, 3999988.0], [500036.0, 3999988.0],
                   [500048.0, 3999988.0]])
    return layer_with(w, d, "utm4326.gpkg", crs="EPSG:4326", xy=xy)


def out_of_area(w: W, d: Path) -> Path:
    xy = np.array([[-9.0e6, 4.2e6], [500024.0, 3999988.0], [500036.0, 3999988.0],
                   [500048.0, 3999988.0]])
    return layer_with(w, d, "area.gpkg", xy=xy)


def heading720(w: W, d: Path) -> Path:
    return layer_with(w, d, "h720.gpkg", heading=[0.0, 720.0, 90.0, 180.0])


def heading_text(w: W, d: Path) -> Path:
    return layer_with(w, d, "htext.gpkg", heading=["north", 90.0, 90.0, 180.0])


def missing_photos(w: W, d: Path) -> Path:
    frame = streetview_frame(photos(w))
    frame["image"] = ["gone/a.jpg", "gone/b.jpg", *photos(w)[2:]]
    return write_layer(frame, d / "gone.gpkg")


def bad_time(w: W, d: Path) -> Path:
    frame = streetview_frame(photos(w))
    frame["captured_at"] = ["yesterday", *frame["captured_at"][1:]]
    return write_layer(frame, d / "badtime.gpkg")


def csv_xy_no_crs(w: W, d: Path) -> Path:
    p = d / "xy.csv"
    p.write_text("image,x,y\n" + "".join(f"{ph},{500012 + i},{3999988}\n"
                                         for i, ph in enumerate(photos(w))))
    return p


def csv_lat95(w: W, d: Path) -> Path:
    p = d / "ll.csv"
    p.write_text("image,lon,lat\n" + "".join(f"{ph},-83,{95 if i == 0 else 35}\n"
                                             for i, ph in enumerate(photos(w))))
    return p


def foreign_streetview(w: W, d: Path) -> Path:
    """A GeoPackage whose 'streetview' layer another program wrote."""
    return write_layer(streetview_frame(photos(w)), d / "foreign.gpkg")


def copy(w: W, d: Path, key: str, name: str | None = None) -> Path:
    src = w[key]
    dst = d / (name or src.name)
    shutil.copyfile(src, dst)
    side = src.with_suffix(".faiss")
    if side.exists():
        shutil.copyfile(side, dst.with_suffix(".faiss"))
    return dst


def locations_gpkg(w: W, d: Path) -> Path:
    """An embed-locations output (layer 'embeddings')."""
    out = d / "loc.gpkg"
    assert main(["embed-locations", "--model", str(w["model"]), "--points", str(w["sv"]),
                 "--out", str(out), "--device", "cpu", "--events", "jsonl"]) == 0
    return out


def model_with_unknown_key(w: W, d: Path) -> Path:
    m = d / "model"
    shutil.copytree(w["model"], m)
    doc = yaml.safe_load((m / "config.yaml").read_text())
    doc["data"]["chip_sise"] = 12
    (m / "config.yaml").write_text(yaml.safe_dump(doc))
    return m


def corrupt_gpkg(w: W, d: Path) -> Path:
    p = d / "corrupt.gpkg"
    p.write_bytes(w["emb"].read_bytes()[:4096])
    return p


def not_a_raster(w: W, d: Path) -> Path:
    p = d / "notes.tif"
    p.write_text("not a raster")
    return p


def field_head(w: W, d: Path) -> Path:
    """The world's head as if fitted on the overhead field (its record says so), which
    `map predict` applies as it is."""
    for suffix in (".safetensors", ".json"):
        shutil.copyfile(w["head"].with_name("head" + suffix), d / ("fhead" + suffix))
    doc = json.loads((d / "fhead.json").read_text())
    doc["features"]["encoder"] = "overhead"
    (d / "fhead.json").write_text(json.dumps(doc))
    return d / "fhead"


def no_crs_raster(w: W, d: Path) -> Path:
    from rasterio.transform import from_origin
    from test_embed_support import write_rgb_tif

    return write_rgb_tif(d / "nocrs.tif", 64, 64, None, from_origin(0, 64, 1.0, 1.0))


def deep_raster(dtype: str) -> Callable[[W, Path], Path]:
    """The world's 8-bit raster as uint16 (x 257) or float32 reflectance (/ 255)."""

    def make(w: W, d: Path) -> Path:
        import rasterio

        with rasterio.open(w["ov"]) as src:
            data, profile = src.read().astype(np.float64), src.profile
        data = data * 257 if dtype == "uint16" else data / 255.0
        profile.update(dtype=dtype)
        out = d / f"ov_{dtype}.tif"
        with rasterio.open(out, "w", **profile) as dst:
            dst.write(data.astype(dtype))
        return out

    return make


def same_field_as_8bit(w: W, d: Path, m: Path | None) -> None:
    """Not clipped, not truncated: the field equals the 8-bit raster's field."""
    import rasterio

    from engine.export.fieldio import open_field, read_field_window

    def read(path: Path) -> np.ndarray:
        with open_field(path) as ds:
            win = rasterio.windows.Window(0, 0, ds.width, ds.height)
            return read_field_window(ds, win)[0].reshape(ds.count, -1).T

    a, b = read(w["field"]), read(d / "deep.tif")
    valid = np.isfinite(a).all(axis=1)
    assert np.array_equal(valid, np.isfinite(b).all(axis=1)) and valid.sum() > 10
    a, b = a[valid], b[valid]
    cos = (a * b).sum(1) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1))
    assert cos.min() > 0.999 and b.std(axis=0).max() > 1e-3, cos.min()


def deep(scale: str | None) -> Callable[[W, Path, Path | None], list[str]]:
    return lambda w, d, m: ["embed-raster", *M(w), "--raster", str(m), "--out",
                            str(d / "deep.tif"), "--chip", "12", "--stride", "6",
                            "--device", "cpu", *(["--scale", scale] if scale else [])]


def recipe(w: W, d: Path, overhead: str = "ov", steps: int = 2) -> Path:
    doc = {"name": "t", "output": str(d / "run"),
           "data": {"streetview": str(w["sv"]), "overhead": [str(w[overhead])],
                    "overhead_dates": ["2024-01-01"], "image_size": 24, "chip_size": 12,
                    "cache_images": False},
           "model": {"embedding_dim": 16, "image": dict(TINY), "overhead": dict(TINY)},
           "objectives": {"cross_view": {"weight": 1.0}},
           "train": {"steps": steps, "batch_size": 4, "workers": 0, "device": "cpu",
                     "log_every": 1, "checkpoint_every": 1, "prefetch": False}}
    p = d / f"recipe_{overhead}.yaml"
    p.write_text(yaml.safe_dump(doc))
    return p


def users_config(w: W, d: Path) -> Path:
    """A folder holding the user's own config.yaml (not a training run's), and a recipe."""
    (d / "mine").mkdir()
    (d / "mine" / "config.yaml").write_text("title: my study area\n")
    return recipe(w, d)


def trained(w: W, d: Path) -> Path:
    r = recipe(w, d)
    assert main(["train", "--config", str(r), "--events", "jsonl"]) == 0
    return r


# ---- the table ----------------------------------------------------------------------------

@dataclass
class Case:
    """One bad input: argv from (world, case folder, made input); what the error must say."""

    id: str
    argv: Callable[[W, Path, Path | None], list[str]]
    needles: tuple[str, ...]
    code: int = 2
    make: Callable[[W, Path], Path] | None = None
    fs: str | None = None  # "ro" / "full": the case folder is a real read-only / full tmpfs
    check: Callable[[W, Path, Path | None], None] | None = None  # exit-0 cases
    origin: str = "issue"  # "issue": a hole the sweep found; "today": already handled
    flag_hint: bool = True  # the hint names a flag to use (not for data to fix in QGIS)
    extra: dict = field(default_factory=dict)


def M(w: W) -> list[str]:
    return ["--model", str(w["model"])]


def ip(inp: Callable[[W, Path, Path | None], str], out: str = "sv_out.gpkg",
       *more: str) -> Callable[[W, Path, Path | None], list[str]]:
    return lambda w, d, m: ["import-photos", "--input", inp(w, d, m), "--out", str(d / out),
                            *more]


def made(w: W, d: Path, m: Path | None) -> str:
    return str(m)


def ep(layer: Callable[[W, Path, Path | None], str], *more: str, out: str = "e.gpkg"):
    return lambda w, d, m: ["embed-points", *M(w), "--layer", layer(w, d, m), "--out",
                            str(d / out), "--workers", "0", "--device", "cpu", *more]


def sv(w: W, d: Path, m: Path | None) -> str:
    return str(w["sv"])


def er(*more: str, raster: str = "ov", out: str = "f.tif"):
    return lambda w, d, m: ["embed-raster", *M(w), "--raster", str(w[raster]), "--out",
                            str(d / out), "--device", "cpu", *more]


def keeps_other_layers(w: W, d: Path, m: Path | None) -> None:
    import pyogrio

    layers = {str(r[0]) for r in pyogrio.list_layers(m)}
    assert {"embeddings", "gc_embedding_meta", "streetview"} <= layers
    assert (d / "emb.faiss").read_bytes() == w["emb"].with_suffix(".faiss").read_bytes()


def faiss_removed(w: W, d: Path, m: Path | None) -> None:
    from engine.export.embeddings_gpkg import read_embedding_meta

    assert not (d / "emb.faiss").exists(), "the stale .faiss must go with the replaced layer"
    assert read_embedding_meta(m, "embeddings")["extra"]["encoder"] == "location"


def resumed_card(w: W, d: Path, m: Path | None) -> None:
    card = (d / "run" / "card.md").read_text()
    assert "resumed at step 2 with changed settings" in card and "train.lr" in card


CASES = [
    # import-photos
    Case("ip-lat-95", ip(made), ("lat95.gpkg", "lat -90..90", "95"), make=lat95),
    Case("ip-utm-declared-4326", ip(made), ("utm4326.gpkg", "projected metres"),
         make=utm_as_4326),
    Case("ip-outside-crs-area", ip(made), ("area.gpkg", "area where", "EPSG:32617"),
         make=out_of_area),
    Case("ip-heading-720", ip(made), ("h720.gpkg", "heading", "720"), make=heading720,
         flag_hint=False),
    Case("ip-heading-text", ip(made), ("htext.gpkg", "'north'"), make=heading_text,
         origin="today"),
    Case("ip-missing-photos", ip(made), ("gone.gpkg", "gone/a.jpg"), make=missing_photos,
         origin="today"),
    Case("ip-bad-time", ip(made), ("badtime.gpkg", "'yesterday'"), make=bad_time,
         origin="today"),
    Case("ip-csv-xy-without-crs", ip(made), ("xy.csv", "need a CRS"), make=csv_xy_no_crs,
         origin="today"),
    Case("ip-csv-lat-95", ip(made), ("ll.csv", "lat -90..90"), make=csv_lat95,
         origin="today"),
    Case("ip-out-not-gpkg", ip(sv, "x.shp"), ("x.shp", ".gpkg"), origin="today"),
    Case("ip-input-missing", lambda w, d, m: ["import-photos", "--input", str(d / "no.gpkg"),
                                              "--out", str(d / "o.gpkg")],
         ("no.gpkg", "does not exist"), origin="today"),
    Case("ip-out-is-input", lambda w, d, m: ["import-photos", "--input", str(m), "--out",
                                             str(m)],
         ("foreign.gpkg", "overwrite the input"), make=foreign_streetview),
    Case("ip-foreign-layer", ip(made, "foreign.gpkg"), ("foreign.gpkg", "'streetview'"),
         make=lambda w, d: (foreign_streetview(w, d), copy(w, d, "sv", "in.gpkg"))[1]),
    Case("ip-into-embeddings-gpkg-keeps-layers",
         lambda w, d, m: ["import-photos", "--input", str(w["sv"]), "--out", str(m)],
         (), code=0, make=lambda w, d: copy(w, d, "emb"), check=keeps_other_layers),
    Case("ip-read-only-folder", ip(sv), ("sv_out.gpkg", "read-only"), fs="ro"),
    Case("ip-disk-full", ip(sv), ("sv_out.gpkg", "disk is full"), fs="full"),
    # embed-points
    Case("ep-image-size-0", ep(sv, "--image-size", "0"), ("--image-size", "0")),
    Case("ep-image-size-huge", ep(sv, "--image-size", "100000"), ("--image-size", "100000")),
    Case("ep-workers-negative", ep(sv, "--workers", "-1"), ("--workers", "-1")),
    Case("ep-batch-size-0", ep(sv, "--batch-size", "0"), ("--batch-size", "0")),
    Case("ep-unknown-flag", ep(sv, "--bogus"), ("--bogus",), origin="today"),
    Case("ep-lat-95", ep(made), ("lat95.gpkg", "lat -90..90"), make=lat95),
    Case("ep-out-is-input", ep(sv, out="x.gpkg"), ("sv.gpkg", "overwrite the input"),
         extra={"out": "sv"}),
    Case("ep-over-embed-locations-output", ep(sv, out="loc.gpkg"),
         ("loc.gpkg", "'embeddings'", "embed-locations"), make=locations_gpkg),
    Case("ep-model-unknown-config-key",
         lambda w, d, m: ["embed-points", "--model", str(m), "--layer", str(w["sv"]),
                          "--out", str(d / "e.gpkg"), "--workers", "0"],
         ("config.yaml", "data.chip_sise"), make=model_with_unknown_key, flag_hint=False),
    Case("ep-model-missing", lambda w, d, m: ["embed-points", "--model", str(d / "nomodel"),
                                              "--layer", str(w["sv"]), "--out",
                                              str(d / "e.gpkg")],
         ("nomodel",), origin="today"),
    Case("ep-read-only-folder", ep(sv), ("e.gpkg", "read-only"), fs="ro"),
    Case("ep-disk-full", ep(sv), ("e.gpkg", "disk is full"), fs="full"),
    # embed-raster
    Case("er-out-is-a-folder", er(out="isdir.tif"), ("isdir.tif", "is a folder"),
         make=lambda w, d: (d / "isdir.tif").mkdir() or d / "isdir.tif"),
    Case("er-json-beside-is-users-geojson", er(out="parcels.tif"),
         ("parcels.json", "not GeoContrast's"),
         make=lambda w, d: (d / "parcels.json").write_text(
             '{"type": "FeatureCollection", "features": []}') and d / "parcels.json"),
    Case("er-chip-0", er("--chip", "0"), ("--chip", "0")),
    Case("er-chip-huge", er("--chip", "100000"), ("--chip", "100000")),
    Case("er-stride-negative", er("--stride", "-3"), ("--stride", "-3")),
    Case("er-out-is-input", lambda w, d, m: ["embed-raster", *M(w), "--raster", str(m),
                                             "--out", str(m), "--chip", "12"],
         ("ov.tif", "overwrite the input"), make=lambda w, d: copy(w, d, "ov")),
    Case("er-preview-would-overwrite-input",
         lambda w, d, m: ["embed-raster", *M(w), "--raster", str(m), "--out",
                          str(d / "ov.tif"), "--chip", "12"],
         ("ov_pca.tif", "overwrite the input"), make=lambda w, d: copy(w, d, "ov", "ov_pca.tif")),
    Case("er-raster-smaller-than-chip", er("--chip", "12", raster="small"),
         ("small.tif", "smaller than one 12 px chip")),
    Case("er-out-not-tif", er(out="f.png"), ("f.png", ".tif"), origin="today"),
    Case("er-bbox-outside", er("--bbox", "0", "0", "10", "10"), ("bbox", "does not overlap"),
         origin="today"),
    Case("er-raster-missing", lambda w, d, m: ["embed-raster", *M(w), "--raster",
                                               str(d / "none.tif"), "--out", str(d / "f.tif")],
         ("none.tif", "does not exist"), origin="today"),
    Case("er-not-a-raster", lambda w, d, m: ["embed-raster", *M(w), "--raster", str(m),
                                             "--out", str(d / "f.tif")],
         ("notes.tif", "cannot be opened"), make=not_a_raster, origin="today"),
    Case("er-uint16-8bit-model-refused", deep(None), ("ov_uint16.tif", "8-bit"),
         make=deep_raster("uint16")),
    Case("er-float32-8bit-model-refused", deep(None), ("ov_float32.tif", "8-bit"),
         make=deep_raster("float32")),
    Case("er-uint16-with-scale-not-clipped", deep(str(1 / 257)), (), code=0,
         make=deep_raster("uint16"), check=same_field_as_8bit),
    Case("er-float32-with-scale-not-truncated", deep("255"), (), code=0,
         make=deep_raster("float32"), check=same_field_as_8bit),
    Case("er-read-only-folder", er("--chip", "12"), ("f.tif", "read-only"), fs="ro"),
    Case("er-disk-full", er("--chip", "12"), ("f.tif", "disk is full"), fs="full"),
    # embed-locations
    Case("el-over-embed-points-output",
         lambda w, d, m: ["embed-locations", *M(w), "--points", str(w["sv"]), "--out", str(m)],
         ("emb.gpkg", "'embeddings'", "embed-points"), make=lambda w, d: copy(w, d, "emb")),
    Case("el-overwrite-removes-stale-faiss",
         lambda w, d, m: ["embed-locations", *M(w), "--points", str(w["sv"]), "--out", str(m),
                          "--overwrite", "--device", "cpu"],
         (), code=0, make=lambda w, d: copy(w, d, "emb"), check=faiss_removed),
    Case("el-lat-95", lambda w, d, m: ["embed-locations", *M(w), "--points", str(m), "--out",
                                       str(d / "l.gpkg")],
         ("lat95.gpkg", "lat -90..90"), make=lat95),
    Case("el-step-0", lambda w, d, m: ["embed-locations", *M(w), "--bounds", "-83", "35",
                                       "-82.9", "35.1", "--step", "0", "--out",
                                       str(d / "g.tif")], ("--step", "0")),
    Case("el-bounds-beyond-pole", lambda w, d, m: ["embed-locations", *M(w), "--bounds", "-83",
                                                   "35", "-82", "95", "--step", "5000", "--out",
                                                   str(d / "g.tif")],
         ("bounds", "not valid coordinates"), origin="today"),
    # fit
    Case("fit-text-target", lambda w, d, m: ["fit", "--embeddings", str(w["emb"]), "--target",
                                             "image", "--out", str(d / "h")],
         ("'image'", "emb.gpkg", "text")),
    Case("fit-block-size-negative",
         lambda w, d, m: ["fit", "--embeddings", str(w["emb"]), "--target", "income",
                          "--block-size", "-5", "--out", str(d / "h")], ("--block-size", "-5")),
    Case("fit-folds-1", lambda w, d, m: ["fit", "--embeddings", str(w["emb"]), "--target",
                                         "income", "--folds", "1", "--out", str(d / "h")],
         ("--folds", "1")),
    Case("fit-target-divides-by-zero",
         lambda w, d, m: ["fit", "--polygons", str(w["tracts"]), "--embeddings",
                          str(w["emb"]), "--target", "income / 0", "--out", str(d / "h")],
         ("'income / 0'", "tracts.gpkg", "division by zero"), origin="today"),
    Case("fit-target-missing", lambda w, d, m: ["fit", "--embeddings", str(w["emb"]),
                                                "--target", "nosuch", "--out", str(d / "h")],
         ("nosuch", "emb.gpkg"), origin="today"),
    Case("fit-corrupt-gpkg", lambda w, d, m: ["fit", "--embeddings", str(m), "--target",
                                              "income", "--out", str(d / "h")],
         ("corrupt.gpkg",), make=corrupt_gpkg, origin="today"),
    Case("fit-read-only-folder", lambda w, d, m: ["fit", "--embeddings", str(w["emb"]),
                                                  "--target", "income", "--block-size", "20",
                                                  "--folds", "2", "--out", str(d / "h")],
         ("read-only",), fs="ro"),
    # map
    Case("map-zero-shot-polygons-elsewhere",
         lambda w, d, m: ["map", "zero_shot", "--head", str(w["head"]), "--field",
                          str(w["field"]), "--polygons", str(w["far_tracts"]), "--out",
                          str(d / "maps")], ("far_tracts.gpkg", "do not overlap")),
    Case("map-similarity-positive-far-from-photos",
         lambda w, d, m: ["map", "similarity", "--embeddings", str(w["emb"]), "--positive",
                          "0,0", "--out", str(d / "maps")], ("(0.0, 0.0)", "km from the")),
    Case("map-similarity-positive-off-field",
         lambda w, d, m: ["map", "similarity", "--field", str(w["field"]), "--positive",
                          "0,0", "--out", str(d / "maps")], ("field.tif", "none of the"),
         origin="today"),
    Case("map-block-size-negative",
         lambda w, d, m: ["map", "fewshot", "--block-size", "-5", "--out", str(d / "maps")],
         ("--block-size", "-5")),
    Case("map-predict-mask-elsewhere",
         lambda w, d, m: ["map", "predict", "--head", str(m), "--field",
                          str(w["field"]), "--mask", str(w["far_tracts"]), "--out",
                          str(d / "maps")], ("far_tracts.gpkg", "inside the mask"),
         make=field_head, origin="today"),
    Case("er-mask-elsewhere",
         lambda w, d, m: er("--chip", "12", "--mask", str(w["far_tracts"]))(w, d, m),
         ("far_tracts.gpkg", "does not overlap"), origin="today"),
    Case("map-similarity-on-an-image",
         lambda w, d, m: ["map", "similarity", "--field", str(w["ov"]), "--positive",
                          f"{X0 + 10},{Y0 - 10}", "--crs", UTM, "--out", str(d / "maps")],
         ("ov.tif", "is an image (uint8 bands), not an embedding field"), origin="today"),
    Case("map-predict-on-the-pca-preview",
         lambda w, d, m: ["map", "predict", "--head", str(w["head"]), "--field",
                          str(w["field"].with_name("field_pca.tif")), "--out", str(d / "maps")],
         ("field_pca.tif", "embedding preview, not an embedding field"), origin="today"),
    Case("map-zero-shot-needs-head", lambda w, d, m: ["map", "zero_shot", "--field",
                                                      str(w["field"]), "--out", str(d / "m")],
         ("--head",), origin="today"),
    Case("map-read-only-folder",
         lambda w, d, m: ["map", "zero_shot", "--head", str(w["head"]), "--field",
                          str(w["field"]), "--out", str(d / "maps")], ("read-only",), fs="ro"),
    Case("map-disk-full",
         lambda w, d, m: ["map", "zero_shot", "--head", str(w["head"]), "--field",
                          str(w["field"]), "--out", str(d / "maps")], ("disk is full",),
         fs="full"),
    # train
    Case("train-overhead-covers-no-photo",
         lambda w, d, m: ["train", "--config", str(m)], ("far.tif", "do not overlap"),
         make=lambda w, d: recipe(w, d, "far_ov")),
    Case("train-resume-changed-lr",
         lambda w, d, m: ["train", "--config", str(m), "train.lr=0.01", "train.steps=3",
                          "--resume"], ("train.lr", "--resume"), make=trained),
    Case("train-resume-changed-allowed",
         lambda w, d, m: ["train", "--config", str(m), "train.lr=0.01", "train.steps=3",
                          "--resume", "--allow-changed-config"], (), code=0, make=trained,
         check=resumed_card),
    Case("train-overhead-only-raster-without-crs",
         lambda w, d, m: ["train", "--config", "overhead_self", "--raster", str(m),
                          "train.steps=1", "train.device=cpu", f"output={d}/run"],
         ("nocrs.tif", "has no CRS"), make=no_crs_raster, origin="today"),
    Case("train-output-holds-users-config-yaml",
         lambda w, d, m: ["train", "--config", str(m), f"output={d}/mine"],
         ("config.yaml", "not one written by GeoContrast training", "overwrite"),
         make=users_config, flag_hint=False),  # the hint names output=, an override
    Case("train-unknown-override", lambda w, d, m: ["train", "--config", str(m), "train.lrr=1"],
         ("train.lrr",), make=recipe, origin="today"),
    Case("train-disk-full",
         lambda w, d, m: ["train", "--config", str(m), f"output={d}/run"], ("disk is full",),
         fs="full", extra={"recipe": True}),
    Case("el-read-only-folder",
         lambda w, d, m: ["embed-locations", *M(w), "--points", str(w["sv"]), "--out",
                          str(d / "l.gpkg")], ("l.gpkg", "read-only"), fs="ro"),
    Case("train-read-only-folder",
         lambda w, d, m: ["train", "--config", str(m), f"output={d}/run"], ("read-only",),
         fs="ro", extra={"recipe": True}),
]


def _run(argv: list[str], capsys: pytest.CaptureFixture, jsonl: bool) -> tuple[int, str, str]:
    code = main([*argv, "--events", "jsonl"] if jsonl else argv)
    out, err = capsys.readouterr()
    return code, out, err


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_bad_input(case: Case, world: W, tmp_path: Path, capsys: pytest.CaptureFixture
                   ) -> None:
    if case.fs is not None:
        ctx = tmpfs(read_only=case.fs == "ro", fill=case.fs == "full")
    else:
        ctx = None
    mount = ctx.__enter__() if ctx is not None else None
    try:
        if ctx is not None and mount is None:
            pytest.skip("this machine allows no tmpfs mount (needs root)")
        case_dir = mount if mount is not None else tmp_path
        made_input = case.make(world, tmp_path) if case.make else None
        if case.extra.get("recipe"):
            made_input = recipe(world, tmp_path)
        argv = case.argv(world, case_dir, made_input)
        if case.extra.get("out") == "sv":  # the output is the command's own input
            argv[argv.index("--out") + 1] = str(world["sv"])
        capsys.readouterr()  # what the world's and the case's set-up printed
        before = snapshot(world["root"], tmp_path, case_dir)
        dirs_before = sorted(str(p) for p in case_dir.rglob("*"))
        code, out, err = _run(argv, capsys, jsonl=True)
        assert "Traceback" not in out + err, out + err
        events = [json.loads(line) for line in out.splitlines()]  # every line is JSON
        if case.code == 0:
            assert code == 0 and events[-1]["event"] == "result", out + err
            case.check(world, case_dir, made_input)
            return
        assert code == case.code, out + err
        assert events and events[-1]["event"] == "error", out
        message, hint = events[-1]["message"], events[-1]["hint"]
        assert "\n" not in message
        for needle in case.needles:
            assert needle in message, f"{needle!r} not in {message!r}"
        assert hint, "no hint"
        flags = {f.strip("`'\",.;:()") for t in hint.split() for f in t.split("/")
                 if f.lstrip("`'(").startswith("--")}
        assert flags <= all_flags(), f"not CLI flags: {flags - all_flags()} in {hint!r}"
        if case.origin == "issue" and case.flag_hint:  # the fix names a flag to use
            assert flags, f"the hint names no flag: {hint!r}"
        assert snapshot(world["root"], tmp_path, case_dir) == before, "files changed"
        assert sorted(str(p) for p in case_dir.rglob("*")) == dirs_before, "new entries"
        # the same failure for a human: one line + a hint on stderr, no traceback
        code_h, out_h, err_h = _run(argv, capsys, jsonl=False)
        assert code_h == case.code and "Traceback" not in out_h + err_h
        lines = err_h.splitlines()
        assert f"error: {message}" in lines and lines[-1] == f"hint: {hint}", err_h
        assert snapshot(world["root"], tmp_path, case_dir) == before
    finally:
        if ctx is not None:
            ctx.__exit__(None, None, None)


def test_the_table_is_big_enough() -> None:
    assert len(CASES) >= 40
    assert sum(c.origin == "today" for c in CASES) >= 10


def test_worker_crash_and_sqlite_errors_become_one_line() -> None:
    """Failures that are hard to provoke on purpose map to a message and a real flag."""
    import argparse
    import errno

    from engine.cli.failures import describe

    args = argparse.Namespace(out=Path("/data/out.gpkg"))
    crash = RuntimeError("DataLoader worker (pid 4242) is killed by signal: Killed. ")
    message, hint, code = describe(crash, args)
    assert "worker crashed" in message and "--workers 0" in hint and code == 2
    message, hint, _ = describe(sqlite3.OperationalError("database or disk is full"), args)
    assert message == "cannot write /data/out.gpkg: the disk is full" and "--out" in hint
    message, hint, _ = describe(OSError(errno.EROFS, "Read-only file system", "/ro/x.tif"))
    assert message == "cannot write /ro/x.tif: the folder is on a read-only file system"
    message, hint, code = describe(ValueError("could not convert string to float: 'a'"), args)
    assert "internal error" in message and "-v" in hint and code == 1


def test_recipe_keys_equal_the_recipe_schema() -> None:
    """engine.models.recipe_keys lists what engine.train.config.Config defines (contract)."""
    import dataclasses
    import typing

    from engine.models.recipe_keys import RECIPE_KEYS
    from engine.train.config import Config

    found: dict[str, tuple[str, ...]] = {}

    def walk(cls: type, prefix: str) -> None:
        hints = typing.get_type_hints(cls)
        found[prefix] = tuple(f.name for f in dataclasses.fields(cls))
        for f in dataclasses.fields(cls):
            if dataclasses.is_dataclass(hints[f.name]):
                walk(hints[f.name], f"{prefix}.{f.name}" if prefix else f.name)

    walk(Config, "")
    assert found == RECIPE_KEYS, ("a recipe field was added or removed: list it in "
                                  "engine/models/recipe_keys.py too")


def test_no_scratch_left_by_failures(world: W) -> None:
    assert scratch_left(world["root"]) == []


def test_utm_layer_in_its_area_is_accepted(world: W, tmp_path: Path) -> None:
    """The checks do not refuse good data: the world's UTM layer imports as it is."""
    assert main(["import-photos", "--input", str(world["sv"]), "--out",
                 str(tmp_path / "ok.gpkg"), "--events", "jsonl"]) == 0
    from engine.data.points import read_streetview

    assert read_streetview(tmp_path / "ok.gpkg").frame.crs.to_string() == UTM


def test_a_disk_that_fills_during_the_map_geopackage_says_so(world: W, capsys) -> None:
    """GDAL reports a GeoPackage write that ran out of space as a missing table or a failed
    commit: on small file systems that fill at different stages of a map, every failure
    names the map's GeoPackage (not its scratch copy) and a full disk, never column types."""
    seen = []
    for size_kb in (40, 80, 120, 200, 320):
        with tmpfs(size_kb=size_kb) as mount:
            if mount is None:
                pytest.skip("this machine allows no tmpfs mount (needs root)")
            code, out, err = _run(["map", "zero_shot", "--head", str(world["head"]), "--field",
                                   str(world["field"]), "--polygons", str(world["tracts"]),
                                   "--out", str(mount / "maps")], capsys, jsonl=True)
            assert "Traceback" not in out + err
            last = json.loads(out.splitlines()[-1])
            if code == 0:
                continue
            assert "the disk is full" in last["message"], last
            assert "column types" not in last["hint"] and ".gc-" not in last["message"]
            seen.append(last["message"].replace(str(mount), "MOUNT"))
            assert scratch_left(mount) == [] and not list((mount / "maps").glob("*"))
    # the GeoTIFF fits in some, and then the GeoPackage is what fails
    assert "cannot write MOUNT/maps/zero_shot.gpkg: the disk is full" in seen, seen
