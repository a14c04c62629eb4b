"""Benchmark embed_raster against pure model compute and against torchgeo, side by side.

    .venv/bin/python bench/embed_raster.py                  # 2k, 8k (with torchgeo), 20k px
    .venv/bin/python bench/embed_raster.py --sizes 2000 --strides 32 --peer-sizes 2000

Each raster (RGB uint8, tiled 256, deflate, a cheap pattern with a nodata corner, no 0
elsewhere) is made once under --workdir. Every run is a fresh subprocess; peak RSS is the
summed RSS of the process and its loader workers, sampled from /proc. For each torch thread
count (--threads):
- ours: engine.embed.raster.embed_raster (reader thread + default --runtime auto: OpenVINO
  for the EfficientNet-Lite0 model, ONNX Runtime without it) writing the float16 COG field;
- pure: the same encoder on chips already in memory, run just before and just after ours
  (ratio_vs_compute = ours / both pure runs pooled);
- torchgeo (in the bench-only .venv-bench, `make bench-env`): RasterDataset + GridGeoSampler
  (units pixels, same chip, stride and chip positions via its roi) + DataLoader with 0 and
  1 workers, the same model in torch eager, as torchgeo's docs tile a scene for inference
  (ratio_vs_torchgeo = ours / torchgeo chips/s, torchgeo run in each pair right after ours:
  the median pair's ratio, every pair's in torchgeo_wN_pair_ratios); max_field_diff compares
  both fields on the chips they share (interior, valid). All timings share the machine with
  other jobs: only ratios measured within one run mean anything. A measured figure, never a test.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from benchlib import BENCH_PYTHON, ROOT, build_model, run_child, set_threads, stamp, vm

sys.path.insert(0, str(ROOT))


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
            band = base.astype(np.int32)  # 30..229
            band[(rows < size // 8) & (cols[None] < size // 8)] = 0  # a nodata corner
            # no 0 in any band outside the corner: a 0 is nodata, zeroed in our chips only
            rgb = np.stack([band, np.where(band > 0, band * 3 % 251, 0), 255 - band])
            rgb[:, band == 0] = 0
            ds.write(rgb.astype(np.uint8), window=Window(0, r0, size, len(rows)))
    os.replace(tmp, path)
    return path


def child_embed(a: argparse.Namespace) -> dict:
    import rasterio  # noqa: F401 - process start-up (0.25 s), outside the clock like torch's
    import torch

    from engine.embed.raster import embed_raster

    # on the device before the clock starts, as the pure-compute and peer children do
    model = build_model(a.model).to(torch.device(a.device))
    base = vm("VmRSS")
    res = embed_raster(model, a.raster, a.out, chip_px=a.chip, stride_px=a.strides[0],
                       batch_size=a.batch_size, device=a.device, dtype="float16", preview=False,
                       runtime=a.runtime)
    return {**{k: res[k] for k in ("chips", "seconds", "model_seconds", "reader_wait_seconds",
                                   "finalise_seconds", "width", "height")},
            "rss_before_mib": base, "peak_rss_mib": vm("VmHWM")}


def child_read(a: argparse.Namespace) -> dict:
    """Only the reader thread's work: cut every chip of the field, no model."""
    import rasterio

    from engine.data.radiometry import for_raster
    from engine.embed.grid import full_grid
    from engine.embed.raster import GDAL_CACHE_MB, open_metric
    from engine.embed.reader import ChipReader

    t0 = time.perf_counter()
    with rasterio.Env(GDAL_CACHEMAX=GDAL_CACHE_MB):
        src, _ = open_metric(a.raster)
        with src:
            grid = full_grid(src.width, src.height, src.transform, a.strides[0], a.chip)
            reader = ChipReader(src, grid, grid.blocks(128), a.batch_size,
                                for_raster(None, a.raster)).start()
            try:
                n = sum(len(item[1]) for item in reader if item[0] == "chips")
            finally:
                reader.close()
    return {"chips": n, "seconds": time.perf_counter() - t0, "peak_rss_mib": vm("VmHWM")}


def child_pure(a: argparse.Namespace) -> dict:
    """The same encoder (same runtime) on chips already in memory."""
    import torch

    from engine.embed.accel import encoder_fn
    from engine.models.inputs import to_model_input

    dev = torch.device(a.device)
    model = build_model(a.model).to(dev)
    encode = encoder_fn(model, "embed_overhead", dev, a.runtime)
    chips = torch.randint(0, 255, (a.batch_size, 3, a.chip, a.chip), dtype=torch.uint8)
    x = to_model_input(chips, dev)  # the reader thread hands the model inputs ready-made
    with torch.inference_mode():
        encode(x)  # warm-up (and the ONNX export)
        t0 = time.perf_counter()
        done = 0
        while done < a.n:
            encode(x).cpu().numpy()
            done += a.batch_size
        seconds = time.perf_counter() - t0
    return {"chips": done, "seconds": seconds, "peak_rss_mib": vm("VmHWM")}


def peer_roi(raster: str, chip: int, stride: int) -> tuple:
    """(roi box, left, top, res, width, height): torchgeo's GridGeoSampler walks chips from the
    roi's bottom-left corner; this roi puts them on our grid's chip positions."""
    import rasterio

    with rasterio.open(raster) as ds:
        left, top, res = ds.transform.c, ds.transform.f, ds.transform.a
        width, height = ds.width, ds.height
    off = (stride - chip + 1) // 2  # engine.embed.grid.FieldGrid.chip_offset
    a = off % stride
    k = max(0, (height - chip - a) // stride)
    box = (left + a * res, top - (chip + a + k * stride) * res, left + width * res, top)
    return box, left, top, res, width, height


def child_torchgeo(a: argparse.Namespace) -> dict:
    """torchgeo's inference tiling with the same model in torch eager; embeddings to OUT.npz."""
    import numpy as np
    import shapely
    import torch
    from torch.utils.data import DataLoader
    from torchgeo.datasets import RasterDataset, stack_samples
    from torchgeo.samplers import GridGeoSampler, Units

    from engine.models.inputs import normalize_uint8

    t0 = time.perf_counter()
    dev = torch.device(a.device)
    model = build_model(a.model).to(dev)
    t_model = time.perf_counter() - t0
    box, left, top, res, _, _ = peer_roi(a.raster, a.chip, a.strides[0])

    class Scene(RasterDataset):
        filename_glob = Path(a.raster).name
        is_image = True

    t0 = time.perf_counter()
    ds = Scene(paths=[str(Path(a.raster).parent)])
    sampler = GridGeoSampler(ds, size=a.chip, stride=a.strides[0], roi=shapely.box(*box),
                             units=Units.PIXELS)
    loader = DataLoader(ds, batch_size=a.batch_size, sampler=sampler, num_workers=a.workers,
                        collate_fn=stack_samples)
    rows, cols, embs, n = [], [], [], 0
    with torch.inference_mode():
        for batch in loader:
            emb = model.embed_overhead(normalize_uint8(batch["image"].to(dev)))
            embs.append(emb.cpu().numpy())
            for x, y, _t in batch["bounds"]:
                cols.append(round((x.start - left) / res))
                rows.append(round((top - y.stop) / res))
            n += len(emb)
    seconds = time.perf_counter() - t0
    np.savez(a.out, rows=np.asarray(rows), cols=np.asarray(cols), emb=np.concatenate(embs))
    return {"chips": n, "seconds": seconds, "model_build_s": t_model,
            "peak_rss_mib": vm("VmHWM")}


def field_diff(field: Path, peer: Path, size: int, chip: int, stride: int) -> tuple[float, int]:
    """(max |ours - torchgeo|, chips compared) over chips both computed: same window, fully
    inside the raster and clear of the nodata corner, valid in our field."""
    import numpy as np
    import rasterio

    with rasterio.open(field) as ds:
        ours = ds.read().astype(np.float32)
    with np.load(peer) as f:
        rows, cols, emb = f["rows"], f["cols"], f["emb"]
    off = (stride - chip + 1) // 2
    keep = ((rows - off) % stride == 0) & ((cols - off) % stride == 0)
    keep &= (rows >= 0) & (cols >= 0) & (rows + chip <= size) & (cols + chip <= size)
    keep &= ~((rows < size // 8 + chip) & (cols < size // 8 + chip))
    r, c = (rows[keep] - off) // stride, (cols[keep] - off) // stride
    inside = (r < ours.shape[1]) & (c < ours.shape[2])
    vals = ours[:, r[inside], c[inside]].T
    ok = np.isfinite(vals).all(axis=1)
    if not ok.any():
        return float("nan"), 0
    return float(np.abs(vals[ok] - emb[keep][inside][ok]).max()), int(ok.sum())


def main() -> None:
    from engine.defaults import RUNTIMES

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--sizes", type=int, nargs="+", default=[2000, 8000, 20000])
    p.add_argument("--strides", type=int, nargs="+", default=[32, 128, 128],
                   help="one stride per size")
    p.add_argument("--peer-sizes", type=int, nargs="*", default=[2000, 8000],
                   help="sizes also run with torchgeo (needs .venv-bench: make bench-env)")
    p.add_argument("--chip", type=int, default=64)
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--model", choices=("lite0", "tiny"), default="lite0")
    p.add_argument("--runtime", choices=RUNTIMES, default="auto")
    p.add_argument("--device", choices=("cpu", "cuda"), default="cpu")
    p.add_argument("--threads", type=int, nargs="+", default=[1, 2],
                   help="torch threads (OMP_NUM_THREADS) per configuration")
    p.add_argument("--workers", type=int, nargs="+", default=[0, 1],
                   help="torchgeo DataLoader workers per configuration")
    p.add_argument("--pairs", type=int, default=1,
                   help="runs of pure compute, ours, pure compute, back to back, per "
                   "configuration; "
                   "ratio_vs_compute is the median pair's (its chips/s and pure chips/s shown; "
                   "every pair's ratio in pair_ratios)")
    p.add_argument("--workdir", type=Path, default=Path("/tmp/geocontrast-bench"))
    p.add_argument("--json", type=Path, default=None, help="also write the rows here")
    p.add_argument("--child", choices=("embed", "pure", "read", "torchgeo"),
                   help=argparse.SUPPRESS)
    p.add_argument("--raster", help=argparse.SUPPRESS)
    p.add_argument("--out", help=argparse.SUPPRESS)
    p.add_argument("--n", type=int, default=0, help=argparse.SUPPRESS)
    a = p.parse_args()
    if a.child:
        a.workers = a.workers[0]
        set_threads(a.threads[0])
        fn = {"embed": child_embed, "read": child_read, "pure": child_pure,
              "torchgeo": child_torchgeo}[a.child]
        print(json.dumps(fn(a)))
        return
    if len(a.strides) != len(a.sizes):
        raise SystemExit("give one --strides value per --sizes value")
    peer_python = BENCH_PYTHON if BENCH_PYTHON.is_file() else None
    if a.peer_sizes and peer_python is None:
        print("torchgeo is not installed (.venv-bench missing: make bench-env); "
              "running without the peer", file=sys.stderr)
    a.workdir.mkdir(parents=True, exist_ok=True)
    script = Path(__file__).resolve()
    rows = []
    for size, stride in zip(a.sizes, a.strides, strict=True):
        raster = make_raster(a.workdir / f"bench_{size}_v2.tif", size)
        common = ["--chip", str(a.chip), "--batch-size", str(a.batch_size), "--model", a.model,
                  "--runtime", a.runtime, "--device", a.device, "--raster", str(raster),
                  "--strides", str(stride)]
        for threads in a.threads:
            opts = [*common, "--threads", str(threads)]
            field = a.workdir / f"field_{size}_s{stride}_t{threads}.tif"
            pairs = []  # (ours, pure) back to back: the machine's speed drifts between runs
            drift = []  # pure compute's chips/s before and after ours, per pair
            peer = size in a.peer_sizes and peer_python is not None
            tg_runs: dict[int, list[dict]] = {w: [] for w in (a.workers if peer else [])}
            tg_field = {w: a.workdir / f"torchgeo_{size}_t{threads}_w{w}.npz"  # each pair
                        for w in tg_runs}  # rewrites it: the same chips, the same values
            for _ in range(a.pairs):
                # pure compute on up to 6,000 chips (~5 s; shorter runs swung by +-10 % here)
                # just before and just after ours, pooled: a speed drifting during the pair
                # hits both sides alike (one run after ours alone read the drift as ours)
                n_pure = max(a.batch_size * 10, min((size // stride) ** 2, 6000))
                pure_opts = ["--child", "pure", "--n", str(n_pure), *opts]
                before = run_child(sys.executable, script, pure_opts, threads)
                emb = run_child(sys.executable, script, ["--child", "embed", "--out",
                                                         str(field), *opts], threads)
                after = run_child(sys.executable, script, pure_opts, threads)
                drift.append([round(p["chips"] / p["seconds"], 1) for p in (before, after)])
                pairs.append((emb["chips"] / emb["seconds"],
                              (before["chips"] + after["chips"])
                              / (before["seconds"] + after["seconds"]), emb))
                for workers in tg_runs:  # the peer in the same pair, right after ours
                    tg = run_child(peer_python, script, [
                        "--child", "torchgeo", "--out", str(tg_field[workers]), "--workers",
                        str(workers), *opts], threads)
                    tg_runs[workers].append({**tg, "ratio": pairs[-1][0]
                                             / (tg["chips"] / tg["seconds"])})
            ratios = sorted(r / p for r, p, _ in pairs)
            rate, pure_rate, emb = sorted(pairs, key=lambda t: t[0] / t[1])[len(pairs) // 2]
            row = {"size_px": size, "stride_px": stride, "chip_px": a.chip, "model": a.model,
                   "threads": threads, "field": f"{emb['width']}x{emb['height']}",
                   "chips": emb["chips"], "seconds": round(emb["seconds"], 1),
                   "chips_per_s": round(rate, 1), "pure_chips_per_s": round(pure_rate, 1),
                   "ratio_vs_compute": round(ratios[len(ratios) // 2], 3),
                   "pair_ratios": [round(r, 3) for r in ratios],
                   "pure_before_after": drift,
                   "peak_rss_mib": max(e["tree_peak_rss_mib"] for *_, e in pairs),
                   "model_s": emb["model_seconds"],
                   "reader_wait_s": emb["reader_wait_seconds"],
                   "finalise_s": emb["finalise_seconds"]}
            for workers, runs in tg_runs.items():  # the pair with the median ratio
                runs.sort(key=lambda t: t["ratio"])
                tg = runs[len(runs) // 2]
                diff, n_cmp = field_diff(field, tg_field[workers], size, a.chip, stride)
                row[f"torchgeo_w{workers}_chips_per_s"] = round(tg["chips"] / tg["seconds"], 1)
                row[f"ratio_vs_torchgeo_w{workers}"] = round(tg["ratio"], 2)
                row[f"torchgeo_w{workers}_pair_ratios"] = [round(t["ratio"], 2) for t in runs]
                row[f"torchgeo_w{workers}_peak_rss_mib"] = max(t["tree_peak_rss_mib"]
                                                               for t in runs)
                row[f"max_field_diff_w{workers}"] = float(f"{diff:.2g}")
                row["chips_compared"] = n_cmp
            rows.append(row)
            print(json.dumps(row), flush=True)
    keys = sorted({k for r in rows for k in r}, key=lambda k: list(rows[-1]).index(k)
                  if k in rows[-1] else 99)
    keys = [k for k in ["size_px", "stride_px", "threads", "chips", "chips_per_s",
                        "pure_chips_per_s", "ratio_vs_compute", "pair_ratios", "peak_rss_mib",
                        "torchgeo_w0_chips_per_s", "ratio_vs_torchgeo_w0",
                        "torchgeo_w0_peak_rss_mib", "torchgeo_w1_chips_per_s",
                        "ratio_vs_torchgeo_w1", "torchgeo_w1_peak_rss_mib",
                        "max_field_diff_w0", "chips_compared"] if k in keys]
    print("| " + " | ".join(keys) + " |")
    print("|" + "---|" * len(keys))
    for r in rows:
        print("| " + " | ".join(str(r.get(k, "")) for k in keys) + " |")
    print(f"model {a.model}, runtime {a.runtime}, batch {a.batch_size}, chip {a.chip} px | "
          f"{stamp()} | uncompressed {max(a.sizes)}^2 RGB = {3 * max(a.sizes) ** 2 / 1e9:.1f} GB "
          f"(~{math.ceil(3 * max(a.sizes) ** 2 / 2**20)} MiB)")
    if a.json:
        a.json.write_text(json.dumps(rows, indent=1))


if __name__ == "__main__":
    main()
