"""Shared pieces of the benches: the models they run, child processes with the peak RSS of
their whole process tree, and the bench-only environment where the peers live.

Not a benchmark itself. `make bench-env` makes the git-ignored `.venv-bench`: a venv that
sees the engine venv's packages (a .pth file) plus the pinned peers of bench/requirements.txt
(torchgeo and what it needs). Peers are never runtime dependencies of the engine.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
BENCH_PYTHON = ROOT / ".venv-bench" / "bin" / "python"
TINY = {"backbone": "tiny_cnn"}  # the project's small default CNN (width 32, depth 4)


def model_config(name: str) -> dict[str, Any]:
    """GeoModel config of a bench model: "lite0" = `--model zoo:efficientnet_lite0` (the
    frozen ImageNet EfficientNet-Lite0 embedder: pooled 1280-d features, no projection), or
    "tiny" (the small tiny_cnn with a 128-d projection)."""
    if name == "lite0":
        from engine.nn.pretrained.zoo import zoo_model_config

        return zoo_model_config("zoo:efficientnet_lite0")
    if name == "tiny":
        return {"embedding_dim": 128, "image": dict(TINY), "overhead": dict(TINY)}
    raise SystemExit(f"unknown bench model {name!r}: use lite0 or tiny")


def build_model(name: str) -> Any:
    """The bench model in eval mode, seeded (the same weights in every process)."""
    import torch

    from engine.nn import GeoModel

    torch.manual_seed(0)
    return GeoModel.from_config(model_config(name)).eval()


def vm(key: str) -> int:
    """A /proc/self/status figure in MiB (VmHWM = peak RSS, VmRSS = now)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1]) // 1024
    return -1


def _tree_rss_kib(root: int) -> int:
    """Current RSS (KiB) of `root` and all its descendants, from /proc."""
    children: dict[int, list[int]] = {}
    rss: dict[int, int] = {}
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            text = Path(entry.path, "status").read_text()
        except OSError:
            continue
        fields = dict(line.split(":", 1) for line in text.splitlines() if ":" in line)
        pid = int(entry.name)
        children.setdefault(int(fields.get("PPid", "0").strip()), []).append(pid)
        rss[pid] = int(fields.get("VmRSS", "0 kB").split()[0]) if "VmRSS" in fields else 0
    total, todo = 0, [root]
    while todo:
        pid = todo.pop()
        total += rss.get(pid, 0)
        todo += children.get(pid, [])
    return total


def run_child(python: Path | str, script: Path, args: list[str], threads: int,
              poll_s: float = 0.25) -> dict:
    """Run `python script args` with `threads` torch/OMP threads; its last JSON line, plus
    tree_peak_rss_mib: the peak of the summed RSS of it and its worker processes."""
    path = os.pathsep.join(p for p in (str(ROOT), os.environ.get("PYTHONPATH", "")) if p)
    env = {**os.environ, "OMP_NUM_THREADS": str(threads), "PYTHONPATH": path,
           "MKL_NUM_THREADS": str(threads)}
    proc = subprocess.Popen([str(python), str(script), *args], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=env, cwd=ROOT)
    peak = [0]
    done = threading.Event()

    def poll() -> None:
        while not done.is_set():
            peak[0] = max(peak[0], _tree_rss_kib(proc.pid))
            done.wait(poll_s)

    watcher = threading.Thread(target=poll, daemon=True)
    watcher.start()
    out, err = proc.communicate()
    done.set()
    watcher.join()
    if proc.returncode != 0:
        raise SystemExit(f"child {args} failed:\n{err[-3000:]}")
    res = json.loads(out.strip().splitlines()[-1])
    res["tree_peak_rss_mib"] = max(peak[0] // 1024, res.get("peak_rss_mib", 0))
    return res


def set_threads(threads: int) -> None:
    import torch

    torch.set_num_threads(threads)
    torch.set_flush_denormal(True)


def stamp() -> str:
    """Machine and time line for a bench's output."""
    import platform

    return (f"{os.cpu_count()} CPUs | {platform.machine()} | "
            f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())} | python "
            f"{sys.version.split()[0]}")
