"""Benchmark embed_raster: chips/s, its ratio to pure model compute, and peak RSS per size.

    .venv/bin/python bench/embed_raster.py                       # 2k, 8k, 20k px rasters
    .venv/bin/python bench/embed_raster.py --sizes 2000 --strides 32

Each raster (RGB uint8, tiled 256, deflate, a cheap pattern with a nodata corner) is made
once under --workdir. Every measurement runs in a fresh subprocess so VmHWM (peak RSS, from
/proc/self/status) belongs to that run alone. "pure" = the same model on chips already in
memory (same batch size), so ratio = pipeline chips/s / pure chips/s (1.0 = reads, chip
cutting and writing fully hidden behind compute); read_only_s = the reader thread's work alone
(no model), model_only_s = chips / pure rate. A measured figure, never a test.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
MODEL = {"embedding_dim": 128, "image": {"backbone": "tiny_cnn"},
         "overhead": {"backbone": "tiny_cnn"}}  # the default tiny_cnn (width 32, depth 4)


def vm(key: str) -> int:
    """A /proc/self/status figure in MiB (VmHWM = peak RSS, VmRSS = now)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1]) // 1024
    return -1


def make_raster(path: Path, size: int) -> Path:
    """A size x size RGB GeoTIFF written strip by strip (never whole in memory)."""
    import numpy as np
    import rasterio
    from rasterio.transform import from_origin
    from rasterio.windows import Window

    if path.is_file():
        return path
    tmp = path.with_suffix(".part.tif")
    with rasterio.open(tmp, "w", driver="GTiff", width=size, height=size, count=3,
                       dtype="uint8", crs="EPSG:32617", nodata=0, tiled=True, blockxsize=256,
                       blockysize=256, compress="deflate", zlevel=1, BIGTIFF="YES",
                       transform=from_origin(500000.0, 4000000.0, 0.5, 0.5)) as ds:
        cols = np.arange(size)
        for r0 in range(0, size, 512):
            rows = np.arange(r0, min(r0 + 512, size))[:, None]
            base = ((rows // 40) * 7 + (cols[None] // 56) * 13) % 200 + 30
            band = base.astype(np.uint8)
            band[(rows < size // 8) & (cols[None] < size // 8)] = 0  # a nodata corner
            ds.write(np.stack([band, (band * 3) % 251, 255 - band]), window=Window(
                0, r0, size, len(rows)))
    os.replace(tmp, path)
    return path


def child_embed(raster: str, out: str, chip: int, stride: int, batch: int) -> dict:
    import torch

    from engine.embed.raster import embed_raster
    from engine.nn import GeoModel

    torch.manual_seed(0)
    model = GeoModel.from_config(MODEL).eval()
    base = vm("VmRSS")
    res = embed_raster(model, raster, out, chip_px=chip, stride_px=stride, batch_size=batch,
                       device="cpu", dtype="float16")
    return {**{k: res[k] for k in ("chips", "seconds", "model_seconds", "reader_wait_seconds",
                                   "finalise_seconds", "preview_seconds", "width", "height")},
            "rss_before_mib": base, "peak_rss_mib": vm("VmHWM")}


def child_read(raster: str, chip: int, stride: int, batch: int) -> dict:
    """Only the reader thread's work: cut every chip of the field, no model."""
    import rasterio

    from engine.data.radiometry import for_raster
    from engine.embed.grid import full_grid
    from engine.embed.raster import GDAL_CACHE_MB, open_metric
    from engine.embed.reader import ChipReader

    t0 = time.perf_counter()
    with rasterio.Env(GDAL_CACHEMAX=GDAL_CACHE_MB):
        src, _ = open_metric(raster)
        with src:
            grid = full_grid(src.width, src.height, src.transform, stride, chip)
            reader = ChipReader(src, grid, grid.blocks(128), batch, for_raster(None, raster)
                                ).start()
            try:
                n = sum(len(item[1]) for item in reader if item[0] == "chips")
            finally:
                reader.close()
    return {"chips": n, "seconds": time.perf_counter() - t0, "peak_rss_mib": vm("VmHWM")}


def child_pure(chip: int, batch: int, n_chips: int) -> dict:
    import torch

    from engine.models.inputs import to_model_input
    from engine.nn import GeoModel

    torch.manual_seed(0)
    model = GeoModel.from_config(MODEL).eval()
    chips = torch.randint(0, 255, (batch, 3, chip, chip), dtype=torch.uint8)
    dev = torch.device("cpu")
    with torch.inference_mode():
        model.embed_overhead(to_model_input(chips, dev))  # warm-up
        t0 = time.perf_counter()
        done = 0
        while done < n_chips:
            model.embed_overhead(to_model_input(chips, dev)).numpy()
            done += batch
        seconds = time.perf_counter() - t0
    return {"chips": done, "seconds": seconds, "peak_rss_mib": vm("VmHWM")}


def run_child(args: list[str], threads: int) -> dict:
    env = {**os.environ, "OMP_NUM_THREADS": str(threads), "PYTHONPATH": str(ROOT)}
    proc = subprocess.run([sys.executable, __file__, *args], capture_output=True, text=True,
                          env=env, cwd=ROOT, check=False)
    if proc.returncode != 0:
        raise SystemExit(f"child {args} failed:\n{proc.stderr[-3000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--sizes", type=int, nargs="+", default=[2000, 8000, 20000])
    p.add_argument("--strides", type=int, nargs="+", default=[16, 64, 128],
                   help="one stride per size")
    p.add_argument("--chip", type=int, default=64)
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--threads", type=int, default=1, help="torch threads (OMP_NUM_THREADS)")
    p.add_argument("--workdir", type=Path, default=Path("/tmp/geocontrast-bench"))
    p.add_argument("--child", choices=("embed", "pure", "read"), help=argparse.SUPPRESS)
    p.add_argument("--raster", help=argparse.SUPPRESS)
    p.add_argument("--out", help=argparse.SUPPRESS)
    p.add_argument("--n", type=int, default=0, help=argparse.SUPPRESS)
    a = p.parse_args()
    if a.child:
        import torch

        torch.set_num_threads(a.threads)
        if a.child == "embed":
            res = child_embed(a.raster, a.out, a.chip, a.strides[0], a.batch_size)
        elif a.child == "read":
            res = child_read(a.raster, a.chip, a.strides[0], a.batch_size)
        else:
            res = child_pure(a.chip, a.batch_size, a.n)
        print(json.dumps(res))
        return
    if len(a.strides) != len(a.sizes):
        raise SystemExit("give one --strides value per --sizes value")
    a.workdir.mkdir(parents=True, exist_ok=True)
    common = ["--chip", str(a.chip), "--batch-size", str(a.batch_size),
              "--threads", str(a.threads)]
    rows = []
    for size, stride in zip(a.sizes, a.strides, strict=True):
        t0 = time.perf_counter()
        raster = make_raster(a.workdir / f"bench_{size}.tif", size)
        made = time.perf_counter() - t0
        out = a.workdir / f"field_{size}_s{stride}.tif"
        emb = run_child(["--child", "embed", "--raster", str(raster), "--out", str(out),
                         "--strides", str(stride), *common], a.threads)
        n_pure = max(a.batch_size * 20, min(emb["chips"], 4000))
        pure = run_child(["--child", "pure", "--n", str(n_pure), *common], a.threads)
        read = run_child(["--child", "read", "--raster", str(raster), "--strides", str(stride),
                          *common], a.threads)
        pipeline_rate = emb["chips"] / emb["seconds"]
        pure_rate = pure["chips"] / pure["seconds"]
        rows.append({
            "size_px": size, "stride_px": stride, "chip_px": a.chip,
            "field": f"{emb['width']}x{emb['height']}", "chips": emb["chips"],
            "seconds": round(emb["seconds"], 1), "chips_per_s": round(pipeline_rate, 1),
            "pure_chips_per_s": round(pure_rate, 1),
            "ratio_to_pure": round(pipeline_rate / pure_rate, 3),
            "read_only_s": round(read["seconds"], 1),
            "model_only_s": round(emb["chips"] / pure_rate, 1),
            "reader_wait_s": emb["reader_wait_seconds"], "finalise_s": emb["finalise_seconds"],
            "preview_s": emb["preview_seconds"], "rss_before_mib": emb["rss_before_mib"],
            "peak_rss_mib": emb["peak_rss_mib"], "pure_peak_rss_mib": pure["peak_rss_mib"],
            "raster_mb_on_disk": round(raster.stat().st_size / 1e6, 1),
            "raster_made_s": round(made, 1),
        })
        print(json.dumps(rows[-1]), flush=True)
    keys = ["size_px", "stride_px", "chips", "seconds", "chips_per_s", "pure_chips_per_s",
            "ratio_to_pure", "read_only_s", "model_only_s", "reader_wait_s", "peak_rss_mib",
            "pure_peak_rss_mib"]
    print("| " + " | ".join(keys) + " |")
    print("|" + "---|" * len(keys))
    for r in rows:
        print("| " + " | ".join(str(r[k]) for k in keys) + " |")
    print(f"torch threads {a.threads}, batch {a.batch_size}, chip {a.chip} px, "
          f"{os.cpu_count()} CPUs; uncompressed {max(a.sizes)}^2 RGB = "
          f"{3 * max(a.sizes) ** 2 / 1e9:.1f} GB (~{math.ceil(3 * max(a.sizes) ** 2 / 2**20)} MiB)")


if __name__ == "__main__":
    main()
