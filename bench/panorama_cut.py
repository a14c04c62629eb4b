"""Benchmark panorama cutting: seconds per panorama for the views a model reads.

    .venv/bin/python bench/panorama_cut.py                      # 5760x2880 and 2048x1024
    .venv/bin/python bench/panorama_cut.py --widths 5760 --views 4 --size 224 --repeat 5

For each panorama width a JPEG (quality 90, a textured synthetic scene) is written once under
--workdir; then, per panorama, `read_view` is timed for every view (decode with JPEG draft
scaling + antialiased reduction + gnomonic cut, as training and embed-points read a view),
and `cut_view` alone on the already decoded full-size panorama. read_view keeps the last
decoded panoramas, so one panorama's views decode it once; every round starts cold.
Reported: median seconds per panorama (all views) and per view over --repeat rounds. A
measured figure, never a test; on a shared machine the numbers carry the contention of the
moment.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path

import numpy as np
from PIL import Image

from engine.data.images import load_image
from engine.data.panorama import cut_view, forget_decoded, read_view


def make_pano(path: Path, width: int) -> Path:
    """A width x width/2 equirectangular JPEG with texture at every scale (not a flat image)."""
    if not path.is_file():
        h = width // 2
        rng = np.random.default_rng(width)
        yy, xx = np.mgrid[0:h, 0:width].astype(np.float32)
        img = np.stack([128 + 60 * np.sin(xx / 37.0) + 30 * np.cos(yy / 11.0),
                        128 + 50 * np.sin((xx + yy) / 23.0), 90 + 80 * (yy / h)], axis=2)
        img += rng.normal(0, 12, img.shape).astype(np.float32)
        Image.fromarray(np.clip(img, 0, 255).astype(np.uint8)).save(path, quality=90)
    return path


def measure(path: Path, views: int, size: int, fov: float, repeat: int) -> dict:
    yaws = [k * 360.0 / views for k in range(views)]
    per_pano = []
    for _ in range(repeat):
        forget_decoded()  # cold: each panorama is decoded once, then cut `views` times
        t0 = time.perf_counter()
        for yaw in yaws:
            read_view(path, yaw, fov, size)
        per_pano.append(time.perf_counter() - t0)
    decoded = load_image(path)
    cut_only = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        for yaw in yaws:
            cut_view(decoded, yaw, fov, size)
        cut_only.append(time.perf_counter() - t0)
    read_s = statistics.median(per_pano)
    return {"panorama": f"{decoded.shape[1]}x{decoded.shape[0]}", "views": views,
            "view_px": size, "fov": fov, "read_and_cut_s_per_pano": round(read_s, 4),
            "read_and_cut_s_per_view": round(read_s / views, 4),
            "cut_only_s_per_view_full_res": round(statistics.median(cut_only) / views, 4)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--widths", type=int, nargs="+", default=[5760, 2048])
    parser.add_argument("--views", type=int, default=4)
    parser.add_argument("--size", type=int, default=128, help="view size in px")
    parser.add_argument("--fov", type=float, default=90.0)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/geocontrast-bench-pano"))
    args = parser.parse_args()
    args.workdir.mkdir(parents=True, exist_ok=True)
    for width in args.widths:
        path = make_pano(args.workdir / f"pano_{width}.jpg", width)
        print(json.dumps(measure(path, args.views, args.size, args.fov, args.repeat)))


if __name__ == "__main__":
    main()
