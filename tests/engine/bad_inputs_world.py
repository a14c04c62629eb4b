"""A tiny, complete study area for the bad-input and fault tests (no tests here).

16 photos (real JPEGs) on a 4 x 4 grid in EPSG:32617, a 64 x 64 px RGB raster under them, a
raster far away, a raster smaller than a chip, tract polygons (near and far), a tiny model
folder (image + overhead + location encoders), and the outputs of embed-points, embed-raster
and fit made from them with the real CLI. Also: snapshots of folders (name -> sha256) and
real read-only / full file systems (tmpfs mounts, when the machine allows them).
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import subprocess
import tempfile
from pathlib import Path

import numpy as np

UTM = "EPSG:32617"
X0, Y0 = 500000.0, 4000000.0  # the raster's top-left corner
SCRATCH_MARKS = (".gc-", ".tmp-", ".scratch-")


def _photos(folder: Path, n: int, seed: int = 0) -> list[str]:
    from PIL import Image

    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    paths = []
    for i in range(n):
        p = folder / f"p{i:02d}.jpg"
        Image.fromarray(rng.integers(0, 255, (32, 32, 3), dtype=np.uint8)).save(p, quality=90)
        paths.append(str(p))
    return paths


def streetview_frame(photos: list[str], crs: str = UTM, xy: np.ndarray | None = None,
                     heading: list | None = None):
    """A street-view GeoDataFrame: points on a 4 x 4 grid (10 m) inside the raster."""
    import geopandas as gpd

    n = len(photos)
    if xy is None:
        k = np.arange(n)
        xy = np.column_stack([X0 + 12 + 12 * (k % 4), Y0 - 12 - 12 * (k // 4)])
    return gpd.GeoDataFrame(
        {"image": photos,
         "captured_at": [f"2024-0{1 + i % 2}-01T12:00:00Z" for i in range(n)],
         "heading": heading if heading is not None else [float(90 * (i % 4)) for i in range(n)],
         "income": np.linspace(10.0, 40.0, n), "label": [f"c{i % 2}" for i in range(n)]},
        geometry=gpd.points_from_xy(xy[:, 0], xy[:, 1]), crs=crs)


def write_layer(frame, path: Path, layer: str = "streetview") -> Path:
    import pyogrio

    pyogrio.write_dataframe(frame, path, layer=layer, driver="GPKG")
    return path


def tracts(path: Path, dx: float = 0.0) -> Path:
    """Two polygons halving the raster (shifted by dx metres), with an income field."""
    import geopandas as gpd
    import shapely

    polys = [shapely.box(X0 + dx, Y0 - 64, X0 + dx + 32, Y0),
             shapely.box(X0 + dx + 32, Y0 - 64, X0 + dx + 64, Y0)]
    gpd.GeoDataFrame({"tract": [1, 2], "income": [10.0, 30.0]}, geometry=polys,
                     crs=UTM).to_file(path, layer="tracts", driver="GPKG")
    return path


def run_cli(argv: list[str]) -> int:
    from engine.cli.main import main

    return main([*argv, "--events", "jsonl"])


def build_world(root: Path) -> dict[str, Path]:
    """Write every input and reference output; return their paths by name."""
    from rasterio.transform import from_origin
    from test_embed_support import tiny_model, write_rgb_tif

    from engine.models.weights import save_model

    root.mkdir(parents=True, exist_ok=True)
    w: dict[str, Path] = {"root": root}
    photos = _photos(root / "photos", 16)
    w["sv"] = write_layer(streetview_frame(photos), root / "sv.gpkg")
    w["ov"] = write_rgb_tif(root / "ov.tif", 64, 64, UTM, from_origin(X0, Y0, 1.0, 1.0))
    w["far_ov"] = write_rgb_tif(root / "far.tif", 64, 64, UTM,
                                from_origin(X0 + 90000, Y0 + 90000, 1.0, 1.0))
    w["small"] = write_rgb_tif(root / "small.tif", 6, 6, UTM, from_origin(X0, Y0, 1.0, 1.0))
    w["tracts"] = tracts(root / "tracts.gpkg")
    w["far_tracts"] = tracts(root / "far_tracts.gpkg", dx=50000.0)
    w["model"] = root / "model"
    save_model(tiny_model(overhead=True, location=True), w["model"],
               extra_config={"name": "tiny", "data": {"image_size": 24, "chip_size": 12}})
    w["emb"] = root / "emb.gpkg"
    w["field"] = root / "field.tif"
    w["head"] = root / "head"
    assert run_cli(["embed-points", "--model", str(w["model"]), "--layer", str(w["sv"]),
                    "--out", str(w["emb"]), "--workers", "0", "--device", "cpu"]) == 0
    assert run_cli(["embed-raster", "--model", str(w["model"]), "--raster", str(w["ov"]),
                    "--out", str(w["field"]), "--chip", "12", "--stride", "6",
                    "--device", "cpu"]) == 0
    assert run_cli(["fit", "--embeddings", str(w["emb"]), "--target", "income", "--out",
                    str(w["head"]), "--block-size", "20", "--folds", "2"]) == 0
    return w


def snapshot(*folders: Path) -> dict[str, str]:
    """{relative path: sha256} of every file under `folders` (hidden ones included)."""
    out = {}
    for folder in folders:
        for dirpath, _, files in os.walk(folder):
            for name in files:
                p = Path(dirpath) / name
                out[str(p)] = hashlib.sha256(p.read_bytes()).hexdigest()
    return out


def scratch_left(folder: Path) -> list[str]:
    """Names under `folder` that look like scratch files of an atomic write."""
    return sorted(str(p) for p in Path(folder).rglob("*")
                  if any(m in p.name for m in SCRATCH_MARKS))


@contextlib.contextmanager
def tmpfs(size_kb: int = 256, read_only: bool = False, fill: bool = False):
    """A real small file system (tmpfs), optionally read-only or full; None when the machine
    does not allow mounts (not root, or a container without the capability)."""
    folder = Path(tempfile.mkdtemp(prefix="gc-fs-"))
    ok = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size_kb}k", "tmpfs",
                         str(folder)], capture_output=True).returncode == 0
    if not ok:
        folder.rmdir()
        yield None
        return
    try:
        if fill:  # leave a few bytes: any real output fails with ENOSPC
            fd = os.open(folder / "filler.bin", os.O_WRONLY | os.O_CREAT, 0o644)
            try:
                while True:
                    os.write(fd, b"\0" * 4096)
            except OSError:
                pass
            finally:
                os.close(fd)
        if read_only:
            subprocess.run(["mount", "-o", "remount,ro", str(folder)], check=True)
        yield folder
    finally:
        subprocess.run(["umount", "-l", str(folder)], capture_output=True)
        with contextlib.suppress(OSError):
            folder.rmdir()
