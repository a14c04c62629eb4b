"""torchrun with 2 CPU processes (gloo): both ranks end with identical weights, rank 0 writes."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from test_train import ALL_OBJECTIVES, tiny_overrides, write_tiny_city

from engine.models.folder import load_model
from engine.paths import project_root

ROOT = project_root()


@pytest.mark.slow
def test_torchrun_two_ranks_identical_weights(tmp_path: Path) -> None:
    city = write_tiny_city(tmp_path / "city", n_places=16)
    out = tmp_path / "run"
    torchrun = Path(sys.executable).parent / "torchrun"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("RANK", "WORLD_SIZE"))}
    env["OMP_NUM_THREADS"] = "1"
    cmd = [str(torchrun), "--nproc_per_node", "2", "--standalone", "-m", "engine.train",
           "--config", str(ROOT / "models" / "urbanstcl_self.yaml"), "--events", "jsonl",
           *tiny_overrides(city, out, steps=3), *ALL_OBJECTIVES, "train.write_digest=true",
           "train.checkpoint_every=2"]
    proc = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=240)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    digests = {p.name: p.read_text().strip() for p in (out / "digests").glob("rank*.txt")}
    assert set(digests) == {"rank0.txt", "rank1.txt"}
    assert digests["rank0.txt"] == digests["rank1.txt"]
    from engine.train.outputs import weights_digest

    assert weights_digest(load_model(out)) == digests["rank0.txt"]
    assert "2 rank(s)" in (out / "card.md").read_text()
    assert sorted(p.name for p in (out / "checkpoints").iterdir()) == \
        ["latest.json", "step-0000002", "step-0000003"]
    results = [line for line in proc.stdout.splitlines() if '"event": "result"' in line]
    assert len(results) == 2 and sum('"outputs": {"steps"' in r and "model.safetensors" in r
                                     for r in results) == 1  # only rank 0 reports written files


def test_more_processes_than_gpus_is_a_clear_error() -> None:
    """Two CUDA ranks on one GPU: an EngineError that names --nproc_per_node, not NCCL's own."""
    from engine.distributed import check_gpus_per_process
    from engine.errors import EngineError

    check_gpus_per_process(2, 2)  # one GPU each: fine
    with pytest.raises(EngineError) as err:
        check_gpus_per_process(2, 1)
    assert "2 processes" in str(err.value) and "--nproc_per_node 1" in err.value.hint
