"""Where embed-raster's GPU time goes, in one short run (bench/gpu.sh step 2b): Lite0's
forward at a repeated batch shape vs its first call at new shapes (per-shape kernel planning),
and the upload of a batch of float32 chips from pageable vs pinned host memory.

    python bench/gpu_probe.py [--device cuda] [--batch-size 256] [--chip 64]

Prints one JSON line of milliseconds.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--device", default="cuda")
    p.add_argument("--batch-size", type=int, default=256)
    p.add_argument("--chip", type=int, default=64)
    a = p.parse_args()
    import torch

    from engine.nn.pretrained.zoo import zoo_model

    dev = torch.device(a.device)
    sync = torch.cuda.synchronize if dev.type == "cuda" else (lambda: None)
    model = zoo_model("efficientnet_lite0").to(dev).eval()

    def ms(fn, repeat: int = 1) -> float:
        sync()
        t0 = time.perf_counter()
        for _ in range(repeat):
            fn()
        sync()
        return round((time.perf_counter() - t0) * 1000 / repeat, 2)

    out = {"device": str(dev), "batch": a.batch_size}
    with torch.inference_mode():
        host = torch.rand(a.batch_size, 3, a.chip, a.chip)
        x = host.to(dev)
        out["first_call_ms"] = ms(lambda: model.embed_overhead(x))
        out["repeated_shape_ms"] = ms(lambda: model.embed_overhead(x), 10)
        for n in (a.batch_size - 1, a.batch_size // 2 + 3, 57):
            y = x[:n].contiguous()
            out[f"new_shape_{n}_first_ms"] = ms(lambda y=y: model.embed_overhead(y))
            out[f"new_shape_{n}_again_ms"] = ms(lambda y=y: model.embed_overhead(y))
        out["upload_pageable_ms"] = ms(lambda: host.to(dev, non_blocking=True), 10)
        if dev.type == "cuda":
            pinned = host.pin_memory()
            out["upload_pinned_ms"] = ms(lambda: pinned.to(dev, non_blocking=True), 10)
        out["download_ms"] = ms(lambda: model.embed_overhead(x).float().cpu().numpy(), 10)
    print(json.dumps(out))


if __name__ == "__main__":
    main()
