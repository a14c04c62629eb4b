"""Training throughput: images/s through the real pipeline vs the same model and batch with
tensors already in memory (pure compute), and their ratio (target >= 0.9), in one run.

    .venv/bin/python bench/train_throughput.py --config models/crossview_spatial.yaml \
        [--steps 36] [--rounds 6] [key=value ...]

The default recipe data is the sample city at data/sample-city (make it with
`python -m engine sample-city --out data/sample-city --preset small`). "Images" counts
anchor photos (batch_size per step); each anchor brings all the views its objectives need.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


AMP = {"fp32": None, "bf16": "bfloat16", "fp16": "float16"}


def _step(loss_module, optimizer, batch, amp=None) -> None:
    """One optimisation step; `amp` (a torch dtype) runs the forward under autocast. The loss
    is not read back: training reads its losses a few steps at a time (LossReadout), so on a
    GPU the blocks' synchronisations are the only waits, in both kinds of block."""
    import contextlib

    import torch

    device = next(loss_module.parameters()).device.type
    ctx = torch.autocast(device, dtype=amp) if amp is not None else contextlib.nullcontext()
    with ctx:
        total, _ = loss_module(batch)
    optimizer.zero_grad(set_to_none=True)
    total.backward()
    optimizer.step()


def _block(args: argparse.Namespace) -> int:
    """Steps in each timed block (one round is a pipeline block then a compute block)."""
    return max(1, args.steps // args.rounds)


def _measure(loss_module, optimizer, stream, kept, amp, sync, args, batch_size
             ) -> tuple[float, float, float]:
    """(pipeline images/s, compute images/s, median round ratio): warm-up, then short blocks of
    real-pipeline steps and pure-compute steps interleaved, so other load hits both alike."""
    for k in range(args.warmup):  # warm-up: caches (chips, workers), allocator, autocast kernels
        _step(loss_module, optimizer, next(stream), amp)
        _step(loss_module, optimizer, kept[k % len(kept)], amp)
    pipe_times, comp_times = [], []
    block = _block(args)
    for _ in range(args.rounds):
        sync()
        t0 = time.perf_counter()
        for _ in range(block):  # real pipeline: loader -> device -> step
            _step(loss_module, optimizer, next(stream), amp)
        sync()
        t1 = time.perf_counter()
        for k in range(block):  # pure compute: batches already on the device
            _step(loss_module, optimizer, kept[k % len(kept)], amp)
        sync()
        pipe_times.append(t1 - t0)
        comp_times.append(time.perf_counter() - t1)
    ratios = sorted(c / p for p, c in zip(pipe_times, comp_times, strict=True))
    images = block * args.rounds * batch_size
    return images / sum(pipe_times), images / sum(comp_times), ratios[len(ratios) // 2]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", type=Path, default=Path("models/crossview_spatial.yaml"))
    parser.add_argument("--steps", type=int, default=36)
    parser.add_argument("--warmup", type=int, default=8)
    parser.add_argument("--rounds", type=int, default=6)
    parser.add_argument("--repeats", type=int, default=1,
                        help="measure this many times in a row (each: warm-up, then the "
                        "rounds) and report the repeat with the median ratio, and every "
                        "repeat's ratio: on a machine whose speed drifts, one measurement's "
                        "ratio swings by several hundredths")
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: default)")
    parser.add_argument("--amp", choices=tuple(AMP), nargs="+", default=["fp32"],
                        help="autocast precision(s) of the forward pass (GPU run-book: fp32 bf16 "
                        "fp16, measured in turn on one built model; no loss scaling: a "
                        "throughput figure only)")
    parser.add_argument("--prefetch", choices=("auto", "thread", "burst", "inline"),
                        default="auto",
                        help="auto: as training decides (engine.train.prefetch.prefetch_mode); "
                        "thread / burst / inline: force one way (a prefetch thread, in line "
                        "8 batches at a time, in line one at a time), to compare them")
    parser.add_argument("overrides", nargs="*")
    args = parser.parse_args(argv)

    import torch

    torch.set_flush_denormal(True)  # CPU: denormals from repeated batches skew timings
    if args.threads:
        torch.set_num_threads(args.threads)

    from engine import distributed
    from engine.errors import EngineError
    from engine.train.config import load_config
    from engine.train.loop import batch_stream, build, data_loader, features_on_device
    from engine.train.prefetch import BURST, BURST_MODES, batch_source, prefetch_mode

    try:
        cfg = load_config(args.config, args.overrides)
        info = distributed.setup(cfg.train.device)
        parts = build(cfg, info, lambda *a: None)
    except EngineError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    loss_module, optimizer, sampler = parts.loss_module, parts.optimizer, parts.sampler
    loss_module.train()
    loader = data_loader(parts.dataset, sampler, cfg, info)
    sync = torch.cuda.synchronize if info.device.type == "cuda" else (lambda: None)

    stream = batch_stream(loader, sampler, {"epoch": 0, "batch": 0}, cfg, info.device)
    prefetch = (prefetch_mode(cfg, info.device.type, parts.keys,
                              features_on_device(parts.dataset)) if args.prefetch == "auto" else
                {"inline": "none"}.get(args.prefetch, args.prefetch))
    block = _block(args)
    if prefetch in BURST_MODES and block % BURST:  # else some blocks draw a burst, others none
        print(f"error: batches are drawn {BURST} at a time here: steps / rounds ({block}) must "
              f"be a multiple of {BURST}", file=sys.stderr)
        return 2
    stream = iter(batch_source(stream, prefetch))  # as training draws them
    kept = [next(stream) for _ in range(4)]
    print(f"recipe {args.config} | device {info.device} | batch {cfg.train.batch_size} | keys "
          f"{', '.join(parts.keys)} | workers {cfg.train.workers} | prefetch "
          f"{prefetch} | regime {getattr(cfg.train, 'regime', 'full')} | "
          f"torch threads {torch.get_num_threads()}")
    d = parts.data_info
    print(f"image cache: {d['cached_photos']} photos decoded up front in {d['cache_fill_s']:.2f} s "
          f"({d['cached_mb']} MB); data.cache_images={cfg.data.cache_images}")
    for name in args.amp:
        amp = getattr(torch, AMP[name]) if AMP[name] else None
        runs = [_measure(loss_module, optimizer, stream, kept, amp, sync, args,
                         cfg.train.batch_size) for _ in range(max(1, args.repeats))]
        runs.sort(key=lambda r: r[0] / r[1])
        pipe_ips, comp_ips, median = runs[len(runs) // 2]
        print(f"amp {name}")
        print(f"pipeline: {pipe_ips:.1f} images/s")
        print(f"compute:  {comp_ips:.1f} images/s")
        spread = (f"; the median of {len(runs)} repeats, each "
                  f"{', '.join(f'{p / c:.3f}' for p, c, _ in runs)}" if len(runs) > 1 else "")
        print(f"ratio:    {pipe_ips / comp_ips:.3f} (target >= 0.9; median of {args.rounds} "
              f"interleaved rounds {median:.3f}{spread})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
