"""Benchmark embed_points against a plain torchvision ImageFolder-style DataLoader, and the
faiss HNSW index against flat search (recall@10), in one run.

    .venv/bin/python bench/embed_points.py [--photos 480] [--photo-px 512] [--image-size 128]

Photos: the small sample city's street photos, upscaled to --photo-px JPEGs (street photos
are large; the model sees --image-size), made once under --workdir. For each torch thread
count, fresh subprocesses run
- ours: engine.embed.points.embed_points (photo decoding in --workers processes, JPEG draft
  decoding, --runtime auto: ONNX Runtime for EfficientNet-Lite0), GeoPackage + faiss written;
- peer: a Dataset of the same files opened with torchvision's default_loader (PIL), Resize
  ((S,S)) + ToTensor + Normalize, a DataLoader with the same workers and batch, the same
  model in torch eager: how such a loop is usually written;
and ratio_vs_dataloader = ours photos/s / peer photos/s (peak RSS: process + workers).
max_diff compares the embeddings (the resize differs: ours decodes JPEGs at a reduced scale).
faiss: --faiss-n clustered 128-d vectors, 1,000 queries, k=10; HNSW (engine.embed.index,
used beyond HNSW_THRESHOLD) vs exact flat search. Contended machine: read the ratios.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from benchlib import ROOT, build_model, run_child, set_threads, stamp, vm

sys.path.insert(0, str(ROOT))


def make_photos(workdir: Path, n: int, px: int) -> Path:
    """A street-view GeoPackage of n rows whose photos are px x px JPEGs (made once)."""
    import geopandas as gpd
    from PIL import Image

    layer = workdir / f"streetview_{n}_{px}.gpkg"
    if layer.is_file():
        return layer
    city = workdir / "city"
    if not (city / "streetview.gpkg").is_file():
        from engine.data.sample_city import generate

        generate(city, seed=0, preset="small")
    frame = gpd.read_file(city / "streetview.gpkg", layer="streetview")
    frame = frame.iloc[[i % len(frame) for i in range(n)]].reset_index(drop=True)
    photos = workdir / f"photos_{px}"
    photos.mkdir(parents=True, exist_ok=True)
    paths = []
    for i, rel in enumerate(frame["image"]):
        out = photos / f"{i:06d}.jpg"
        if not out.is_file():
            with Image.open(city / rel) as img:
                img.convert("RGB").resize((px, px), Image.BICUBIC).save(out, quality=90)
        paths.append(str(out))
    frame["image"] = paths
    frame.to_file(layer, layer="streetview", driver="GPKG")
    return layer


def child_ours(a: argparse.Namespace) -> dict:
    import torch

    from engine.data.points import read_streetview
    from engine.embed.points import embed_points, read_point_embeddings

    # on the device before the clock starts, as the peer's is (CUDA's context takes seconds)
    model = build_model(a.model).to(torch.device(a.device))
    layer = read_streetview(a.layer)
    t0 = time.perf_counter()
    res = embed_points(model, layer, a.out, batch_size=a.batch_size, image_size=a.image_size,
                       num_workers=a.workers, device=a.device, runtime=a.runtime)
    seconds = time.perf_counter() - t0
    _, emb = read_point_embeddings(a.out)
    import numpy as np

    np.save(Path(a.out).with_suffix(".npy"), emb)
    return {"photos": res["embedded"], "seconds": seconds, "peak_rss_mib": vm("VmHWM")}


def child_peer(a: argparse.Namespace) -> dict:
    """The plain torchvision loop: PIL decode + Resize + ToTensor + Normalize, eager model."""
    import numpy as np
    import pyogrio
    import torch
    from torch.utils.data import DataLoader, Dataset
    from torchvision import transforms
    from torchvision.datasets.folder import default_loader

    from engine.models.inputs import MEAN, STD

    dev = torch.device(a.device)
    model = build_model(a.model).to(dev)
    t0 = time.perf_counter()
    paths = list(pyogrio.read_dataframe(a.layer, read_geometry=False)["image"])
    tf = transforms.Compose([transforms.Resize((a.image_size, a.image_size)),
                             transforms.ToTensor(),
                             transforms.Normalize(MEAN.flatten().tolist(),
                                                  STD.flatten().tolist())])

    class Photos(Dataset):
        def __len__(self) -> int:
            return len(paths)

        def __getitem__(self, i: int) -> torch.Tensor:
            return tf(default_loader(paths[i]))

    loader = DataLoader(Photos(), batch_size=a.batch_size, num_workers=a.workers)
    out = []
    with torch.inference_mode():
        for batch in loader:
            out.append(model.embed_image(batch.to(dev)).cpu().numpy())
    seconds = time.perf_counter() - t0
    np.save(a.out, np.concatenate(out))
    return {"photos": len(paths), "seconds": seconds, "peak_rss_mib": vm("VmHWM")}


def child_faiss(a: argparse.Namespace) -> dict:
    """HNSW (engine.embed.index) vs exact flat search: recall@10, build and query times."""
    import faiss
    import numpy as np

    from engine.embed import index as idx

    rng = np.random.default_rng(0)
    centres = rng.normal(size=(256, 128)).astype(np.float32)
    vectors = centres[rng.integers(0, 256, a.n)] + 0.6 * rng.normal(
        size=(a.n, 128)).astype(np.float32)
    queries = vectors[rng.choice(a.n, 1000, replace=False)] + 0.1 * rng.normal(
        size=(1000, 128)).astype(np.float32)
    out = {"n": a.n, "threshold": idx.HNSW_THRESHOLD, "m": idx.HNSW_M,
           "ef_search": idx.HNSW_EF_SEARCH}
    found = {}
    for name, threshold in (("flat", a.n + 1), ("hnsw", 0)):
        t0 = time.perf_counter()
        index = idx.build_index(vectors, threshold=threshold)
        out[f"{name}_build_s"] = round(time.perf_counter() - t0, 2)
        t0 = time.perf_counter()
        _, found[name] = idx.search(index, queries, k=10)
        out[f"{name}_query_ms"] = round((time.perf_counter() - t0) * 1000 / 1000, 3)
        out[f"{name}_type"] = type(index).__name__
    hits = [len(set(f) & set(h)) for f, h in zip(found["flat"], found["hnsw"], strict=True)]
    out["recall_at_10"] = round(float(np.mean(hits)) / 10, 4)
    out["faiss_threads"] = faiss.omp_get_max_threads()
    return out


def main() -> None:
    from engine.defaults import RUNTIMES

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--photos", type=int, default=480)
    p.add_argument("--photo-px", type=int, default=512)
    p.add_argument("--image-size", type=int, default=128)
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--workers", type=int, default=2, help="decoding processes (both sides)")
    p.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    p.add_argument("--model", choices=("lite0", "tiny"), default="lite0")
    p.add_argument("--runtime", choices=RUNTIMES, default="auto")
    p.add_argument("--device", choices=("cpu", "cuda"), default="cpu")
    p.add_argument("--faiss-n", type=int, default=200_000, help="0: skip the faiss part")
    p.add_argument("--workdir", type=Path, default=Path("/tmp/geocontrast-bench"))
    p.add_argument("--json", type=Path, default=None)
    p.add_argument("--child", choices=("ours", "peer", "faiss"), help=argparse.SUPPRESS)
    p.add_argument("--layer", help=argparse.SUPPRESS)
    p.add_argument("--out", help=argparse.SUPPRESS)
    p.add_argument("--n", type=int, default=0, help=argparse.SUPPRESS)
    a = p.parse_args()
    if a.child:
        set_threads(a.threads[0])
        fn = {"ours": child_ours, "peer": child_peer, "faiss": child_faiss}[a.child]
        print(json.dumps(fn(a)))
        return
    import numpy as np

    a.workdir.mkdir(parents=True, exist_ok=True)
    layer = make_photos(a.workdir, a.photos, a.photo_px)
    script = Path(__file__).resolve()
    rows = []
    for threads in a.threads:
        opts = ["--layer", str(layer), "--model", a.model, "--runtime", a.runtime,
                "--device", a.device,
                "--batch-size", str(a.batch_size), "--image-size", str(a.image_size),
                "--workers", str(a.workers), "--threads", str(threads)]
        gpkg = a.workdir / f"points_t{threads}.gpkg"
        npy = a.workdir / f"peer_t{threads}.npy"
        ours = run_child(sys.executable, script, ["--child", "ours", "--out", str(gpkg), *opts],
                         threads)
        peer = run_child(sys.executable, script, ["--child", "peer", "--out", str(npy), *opts],
                         threads)
        rate, peer_rate = ours["photos"] / ours["seconds"], peer["photos"] / peer["seconds"]
        diff = float(np.abs(np.load(gpkg.with_suffix(".npy")) - np.load(npy)).max())
        rows.append({"photos": ours["photos"], "photo_px": a.photo_px,
                     "image_size": a.image_size, "threads": threads, "workers": a.workers,
                     "photos_per_s": round(rate, 1), "dataloader_photos_per_s": round(
                         peer_rate, 1), "ratio_vs_dataloader": round(rate / peer_rate, 2),
                     "peak_rss_mib": ours["tree_peak_rss_mib"],
                     "dataloader_peak_rss_mib": peer["tree_peak_rss_mib"],
                     "max_diff": float(f"{diff:.2g}")})
        print(json.dumps(rows[-1]), flush=True)
    keys = list(rows[0])
    print("| " + " | ".join(keys) + " |")
    print("|" + "---|" * len(keys))
    for r in rows:
        print("| " + " | ".join(str(r[k]) for k in keys) + " |")
    print(f"model {a.model}, runtime {a.runtime}, batch {a.batch_size} | {stamp()}")
    result = {"embed": rows}
    if a.faiss_n:
        f = run_child(sys.executable, script, ["--child", "faiss", "--n", str(a.faiss_n),
                                               "--threads", "2"], 2)
        result["faiss"] = f
        print(json.dumps(f), flush=True)
        keys = ["n", "flat_build_s", "flat_query_ms", "hnsw_build_s", "hnsw_query_ms",
                "recall_at_10", "m", "ef_search", "threshold"]
        print("| " + " | ".join(keys) + " |")
        print("|" + "---|" * len(keys))
        print("| " + " | ".join(str(f[k]) for k in keys) + " |")
        print("query_ms = per query, 1,000 queries, k=10, 128-d")
    if a.json:
        a.json.write_text(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
