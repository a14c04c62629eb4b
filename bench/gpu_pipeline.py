"""Where embed-raster's time goes on a GPU: the engine's reader thread and model loop over one
raster, in variants that each change one thing (bench/gpu.sh step 2c).

    python bench/gpu_pipeline.py [--device cuda] [--size 4000] [--stride 32] [--batch-size 256]

Variants (each over the same chips, same model; wall = whole loop, model = the loop's model
share: upload, forward, download), run in this order in one process (kernel plans made for a
batch shape by one variant serve the later ones):
- engine: the loop of engine.embed.raster with its encoder (engine.embed.accel.encoder_fn:
  on CUDA each partial batch padded to one shape, engine.embed.batch_shape);
- unpadded: the model at each batch's own shape (the engine before batch_shape);
- switch: unpadded with the interpreter's thread switch interval at 0.1 ms (Python's 5 ms
  default can hold a thread that wants the GIL back while the reader thread runs Python);
- drained: every chip read first, then the model loop alone (no reader running beside it);
- pinned: each batch copied into a pinned staging buffer before its upload;
- graph: one CUDA graph of the forward at the batch size, replayed (padded batches).
Prints one JSON line per variant, then the drained loop's split (upload / forward /
download ms a batch, each synchronised). A measured figure, never a test.

First run (H100, torch 2.11.0+cu130, 4,000 px, stride 32, batch 256, 15,366 chips, 6 batch
shapes; before batch_shape, "engine" was today's "unpadded" and ran first): engine 1,308
chips/s (model share 11.6 s), then with the plans made: switch 20,694, drained 11,284 (reading
first 0.99 s), pinned 18,406, padded 24,058, graph 21,583; probe: a new shape's first call
about 2 s, again 4 ms. Neither the GIL nor pageable uploads: the per-shape plans.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from benchlib import ROOT, build_model

sys.path.insert(0, str(ROOT))


def chip_items(raster_path: Path, stride: int, chip: int, batch: int):
    """(started ChipReader, open raster) over the whole raster, as embed-raster reads it."""
    from engine.data.radiometry import for_raster
    from engine.embed.grid import full_grid
    from engine.embed.raster import open_metric
    from engine.embed.reader import ChipReader

    src, _ = open_metric(raster_path)
    grid = full_grid(src.width, src.height, src.transform, stride, chip)
    reader = ChipReader(src, grid, grid.blocks(1280), batch, for_raster(None, raster_path))
    return reader.start(), src


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--device", default="cuda")
    p.add_argument("--size", type=int, default=4000)
    p.add_argument("--stride", type=int, default=32)
    p.add_argument("--chip", type=int, default=64)
    p.add_argument("--batch-size", type=int, default=256)
    p.add_argument("--workdir", default="/tmp/geocontrast-gpu")
    p.add_argument("--variants", nargs="*", default=None)
    a = p.parse_args()
    import rasterio
    import torch
    from embed_raster import make_raster

    from engine.embed.accel import encoder_fn
    from engine.embed.raster import GDAL_CACHE_MB

    dev = torch.device(a.device)
    cuda = dev.type == "cuda"
    sync = torch.cuda.synchronize if cuda else (lambda: None)
    Path(a.workdir).mkdir(parents=True, exist_ok=True)
    raster = make_raster(Path(a.workdir) / f"bench_{a.size}_v2.tif", a.size)
    model = build_model("lite0").to(dev).eval()
    fwd = model.embed_overhead
    B = a.batch_size
    static_in = torch.zeros(B, 3, a.chip, a.chip, device=dev)
    graph = static_out = None

    def make_graph():
        nonlocal graph, static_out
        s = torch.cuda.Stream()
        s.wait_stream(torch.cuda.current_stream())
        with torch.cuda.stream(s):
            for _ in range(3):
                fwd(static_in)
        torch.cuda.current_stream().wait_stream(s)
        graph = torch.cuda.CUDAGraph()
        with torch.cuda.graph(graph):
            static_out = fwd(static_in)

    pinned = torch.zeros(B, 3, a.chip, a.chip).pin_memory() if cuda else None

    def step(arr, variant):
        n = len(arr)
        if variant == "pinned" and cuda:
            pinned[:n].copy_(torch.from_numpy(arr))
            x = pinned[:n].to(dev, non_blocking=True)
        else:
            x = torch.from_numpy(arr).to(dev, non_blocking=True)
        if variant == "graph":
            static_in[:n].copy_(x)
            graph.replay()
            return static_out[:n].float().cpu().numpy()
        if variant == "engine":
            return engine_encode(x).float().cpu().numpy()
        return fwd(x).float().cpu().numpy()

    engine_encode = encoder_fn(model, "embed_overhead", dev, "torch")
    variants = a.variants or (["engine", "unpadded", "switch", "drained", "pinned"]
                              + (["graph"] if cuda else []))
    with rasterio.Env(GDAL_CACHEMAX=GDAL_CACHE_MB), torch.inference_mode():
        fwd(static_in)  # warm-up
        sync()
        if cuda and "graph" in variants:
            make_graph()
        for variant in variants:
            old = sys.getswitchinterval()
            if variant == "switch":
                sys.setswitchinterval(1e-4)
            reader, src = chip_items(raster, a.stride, a.chip, B)
            try:
                t0 = time.perf_counter()
                items = list(reader) if variant == "drained" else reader
                t_read = time.perf_counter() - t0
                model_s, n_chips, shapes = 0.0, 0, set()
                for item in items:
                    if item[0] != "chips":
                        continue
                    t = time.perf_counter()
                    step(item[3], variant)
                    model_s += time.perf_counter() - t
                    n_chips += len(item[3])
                    shapes.add(len(item[3]))
                wall = time.perf_counter() - t0
            finally:
                reader.close()
                src.close()
                sys.setswitchinterval(old)
            print(json.dumps({"variant": variant, "chips": n_chips, "wall_s": round(wall, 3),
                              "chips_per_s": round(n_chips / wall, 1),
                              "model_s": round(model_s, 3),
                              "model_chips_per_s": round(n_chips / model_s, 1),
                              "read_first_s": round(t_read, 3) if variant == "drained" else None,
                              "batch_shapes": len(shapes)}), flush=True)
        # the drained loop, split: each part synchronised
        reader, src = chip_items(raster, a.stride, a.chip, B)
        try:
            batches = [it[3] for it in reader if it[0] == "chips"][:40]
        finally:
            reader.close()
            src.close()
        up = fw = down = 0.0
        for arr in batches:
            sync()
            t0 = time.perf_counter()
            x = torch.from_numpy(arr).to(dev)
            sync()
            t1 = time.perf_counter()
            y = fwd(x)
            sync()
            t2 = time.perf_counter()
            y.float().cpu().numpy()
            t3 = time.perf_counter()
            up, fw, down = up + t1 - t0, fw + t2 - t1, down + t3 - t2
        k = 1000 / len(batches)
        print(json.dumps({"split_ms_per_batch": {"upload": round(up * k, 2),
                                                 "forward": round(fw * k, 2),
                                                 "download": round(down * k, 2)},
                          "batches": len(batches), "dtype": str(batches[0].dtype),
                          "contiguous": bool(batches[0].flags.c_contiguous)}), flush=True)


if __name__ == "__main__":
    main()
