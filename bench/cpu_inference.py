"""CPU inference paths for the frozen pretrained backbones, on the same chips, in one run.

    .venv/bin/python bench/cpu_inference.py [--model lite0] [--chip 64] [--batch-size 64]
        [--threads 1 2] [--no-compile]

Paths: torch eager on contiguous (NCHW) tensors, torch eager channels_last (what the zoo
backbone runs by default), torch.compile (inductor; its compile time is reported apart),
ONNX Runtime (engine.embed.accel.OrtEncoder) and OpenVINO in fp32
(engine.embed.accel.OpenVinoEncoder: the `--runtime auto` default for zoo/timm backbones on
CPU). setup_s of those two is their first batch: the export, unless an earlier run kept the
graph (engine.embed.accel.EXPORT_DIR), plus compiling it. Each path embeds the same
--batches batches of random chips; the paths are interleaved round by round so other jobs
on the machine slow them alike; speed-up is against eager contiguous and max_abs_diff
against its output. A measured figure, never a test.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from benchlib import ROOT, build_model, set_threads, stamp

sys.path.insert(0, str(ROOT))


def paths(model, x, compile_: bool) -> dict:
    """name -> (callable, setup seconds)."""
    import copy

    import torch

    from engine.embed import accel

    enc = model.overhead_encoder
    out = {}
    contiguous = copy.deepcopy(enc)
    for m in contiguous.modules():  # undo the zoo backbone's channels_last (weights + input)
        if hasattr(m, "model") and isinstance(m.model, torch.nn.Module):
            m.model = m.model.to(memory_format=torch.contiguous_format)
    backbone = contiguous.backbone
    if hasattr(backbone, "in_scale"):  # zoo backbone: same affine input map, NCHW throughout
        def nchw(t: torch.Tensor, b=backbone) -> torch.Tensor:
            return b.model(torch.addcmul(b.in_shift, t, b.in_scale))
        out["eager"] = (lambda t: contiguous.projection(nchw(t)), 0.0)
    else:
        out["eager"] = (contiguous, 0.0)
    cl = copy.deepcopy(enc).to(memory_format=torch.channels_last)
    out["eager_channels_last"] = (lambda t: cl(t.contiguous(memory_format=torch.channels_last)),
                                  0.0)
    if compile_:
        t0 = time.perf_counter()
        compiled = torch.compile(copy.deepcopy(enc))
        with torch.inference_mode():
            compiled(x)
        out["torch_compile"] = (compiled, time.perf_counter() - t0)
    for cls in (accel.OrtEncoder, accel.OpenVinoEncoder):
        t0 = time.perf_counter()
        enc = cls(model, "embed_overhead")
        with torch.inference_mode():
            enc(x)
        out[cls.runtime] = (enc, time.perf_counter() - t0)
    return out


def run(a: argparse.Namespace, threads: int) -> list[dict]:
    import torch

    set_threads(threads)
    model = build_model(a.model)
    gen = torch.Generator().manual_seed(0)
    from engine.models.inputs import to_model_input

    batches = [to_model_input(torch.randint(0, 255, (a.batch_size, 3, a.chip, a.chip),
                                            dtype=torch.uint8, generator=gen),
                              torch.device("cpu")) for _ in range(a.batches)]
    fns = paths(model, batches[0], a.compile)
    with torch.inference_mode():
        ref = [model.embed_overhead(b) for b in batches]
        secs = dict.fromkeys(fns, 0.0)
        diff = dict.fromkeys(fns, 0.0)
        for fn, _ in fns.values():  # warm-up
            fn(batches[0])
        for _ in range(a.rounds):
            for name, (fn, _) in fns.items():
                t0 = time.perf_counter()
                outs = [fn(b) for b in batches]
                secs[name] += time.perf_counter() - t0
                diff[name] = max(diff[name], max(float((o - r).abs().max())
                                                 for o, r in zip(outs, ref, strict=True)))
    n = a.rounds * a.batches * a.batch_size
    base = n / secs["eager"]
    return [{"path": name, "threads": threads, "chips_per_s": round(n / s, 1),
             "speedup_vs_eager": round(n / s / base, 2), "max_abs_diff": float(f"{diff[name]:.2g}"),
             "setup_s": round(fns[name][1], 1)} for name, s in secs.items()]


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", choices=("lite0", "tiny"), default="lite0")
    p.add_argument("--chip", type=int, default=64)
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--batches", type=int, default=4)
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    p.add_argument("--no-compile", dest="compile", action="store_false",
                   help="skip torch.compile (it needs a C++ compiler and minutes)")
    p.add_argument("--json", type=Path, default=None)
    a = p.parse_args()
    rows = [r for t in a.threads for r in run(a, t)]
    for r in rows:
        print(json.dumps(r), flush=True)
    keys = list(rows[0])
    print("| " + " | ".join(keys) + " |")
    print("|" + "---|" * len(keys))
    for r in rows:
        print("| " + " | ".join(str(r[k]) for k in keys) + " |")
    print(f"model {a.model}, chip {a.chip} px, batch {a.batch_size}, {a.batches} batches x "
          f"{a.rounds} rounds | {stamp()}")
    if a.json:
        a.json.write_text(json.dumps(rows, indent=1))


if __name__ == "__main__":
    main()
