"""Sharded inference under torchrun: each rank embeds its share, rank 0 assembles one output.

    torchrun --nproc_per_node N -m engine embed-raster ...   (or embed-points ...)

The process group comes from engine.distributed (the one training uses: gloo on CPU, nccl on
CUDA). Work is split so every rank computes exactly the batches a single process would
(same block plan, same batch boundaries), hence the assembled output equals a one-process
run: raster blocks go round-robin by rank, photo rows in contiguous batch-aligned ranges.
Each rank other than 0 writes its part (.npz) into a folder beside the output, which must be
on a filesystem every rank sees (on several nodes: a shared one); rank 0 reads the parts,
writes the single COG / GeoPackage + faiss index, and removes the folder.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import shutil
import uuid
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any, TypeVar

import numpy as np

from engine import distributed
from engine.errors import EngineError

log = logging.getLogger(__name__)
T = TypeVar("T")


@contextlib.contextmanager
def session(device: Any) -> Iterator[distributed.DistInfo]:
    """This process's rank/world (world 1 outside torchrun); a process group it had to create
    is destroyed on exit. On CUDA each rank uses its LOCAL_RANK's GPU."""
    import torch.distributed as dist

    created = int(os.environ.get("WORLD_SIZE", "1")) > 1 and not dist.is_initialized()
    info = distributed.setup(device.type)
    try:
        yield info
    finally:
        if created:
            distributed.teardown(info)


def mine(units: Sequence[T], info: distributed.DistInfo) -> list[T]:
    """This rank's units, round-robin (unit k goes to rank k % world)."""
    return list(units[info.rank::info.world])


def row_range(n_rows: int, batch_size: int, info: distributed.DistInfo) -> tuple[int, int]:
    """[start, stop) of this rank's rows: contiguous, cut on multiples of batch_size."""
    n_batches = -(-n_rows // batch_size)
    b0 = n_batches * info.rank // info.world
    b1 = n_batches * (info.rank + 1) // info.world
    return min(n_rows, b0 * batch_size), min(n_rows, b1 * batch_size)


def agree(fn: Callable[[], T], info: distributed.DistInfo) -> T:
    """Run fn on every rank; when any rank failed, every rank raises (none waits forever)."""
    if not info.distributed:
        return fn()
    import torch
    import torch.distributed as dist

    error: BaseException | None = None
    result = None
    try:
        result = fn()
    except Exception as exc:
        error = exc
    flag = torch.tensor([0 if error is not None else 1], dtype=torch.int32,
                        device=info.device)
    dist.all_reduce(flag, op=dist.ReduceOp.MIN)
    if error is not None:
        raise error
    if int(flag.item()) == 0:
        raise EngineError("another rank failed, so no output was assembled",
                          "read that rank's error above (torchrun prefixes lines with the rank)")
    return result


class Parts:
    """The folder where ranks > 0 leave their parts: OUT's folder/.OUT.gc-<pid>-<id>.parts/.

    Rank 0 picks the id (its pid first, so the next run of a killed job removes the folder:
    engine.export.atomic.clean_stale) and broadcasts it; rank 0 removes the folder on exit.
    """

    def __init__(self, out: Path, info: distributed.DistInfo) -> None:
        from engine.export.atomic import TAG

        self.info = info
        run_id = f"{os.getpid()}-{uuid.uuid4().hex[:12]}"
        if info.distributed:
            import torch.distributed as dist

            box = [run_id]
            dist.broadcast_object_list(box, src=0)
            run_id = box[0]
        self.dir = out.parent / f".{out.name}{TAG}{run_id}.parts"
        if info.distributed:
            self.dir.mkdir(parents=True, exist_ok=True)

    def __enter__(self) -> Parts:
        return self

    def __exit__(self, *exc: object) -> None:
        if self.info.is_main:
            shutil.rmtree(self.dir, ignore_errors=True)

    def path(self, rank: int, name: str) -> Path:
        return self.dir / f"rank{rank:04d}-{name}.npz"

    def save(self, name: str, **arrays: Any) -> None:
        """Write this rank's part `name` (written to a temporary name, then renamed)."""
        target = self.path(self.info.rank, name)
        tmp = target.with_suffix(".tmp.npz")
        np.savez(tmp, **arrays)
        os.replace(tmp, target)

    def load(self, rank: int, name: str) -> dict[str, np.ndarray]:
        path = self.path(rank, name)
        if not path.is_file():
            raise EngineError(f"rank {rank}'s part {path} is missing",
                              "put --out on a filesystem every rank (every node) sees")
        with np.load(path, allow_pickle=False) as f:
            return {k: f[k] for k in f.files}


class RasterPart:
    """A writer-like sink for ranks > 0: each finished block becomes one part file."""

    def __init__(self, parts: Parts) -> None:
        self.parts = parts

    def write(self, data: np.ndarray, col_off: int, row_off: int,
              valid: np.ndarray | None = None) -> None:
        self.parts.save(f"r{row_off:07d}-c{col_off:07d}", data=data, valid=valid)


def assemble_raster(parts: Parts, blocks: Sequence[Any], writer: Any) -> int:
    """Rank 0: write every other rank's blocks into `writer`; their chip count."""
    n = 0
    for k, block in enumerate(blocks):
        rank = k % parts.info.world
        if rank == 0:
            continue
        part = parts.load(rank, f"r{block.row:07d}-c{block.col:07d}")
        writer.write(part["data"], block.col, block.row, valid=part["valid"])
        n += int(part["valid"].sum())
    return n


def save_rows(parts: Parts, rows: np.ndarray, emb: np.ndarray,
              errors: list[tuple[int, str]]) -> None:
    """Ranks > 0: this rank's (rows, embeddings, errors) of embed-points."""
    parts.save("rows", rows=rows, emb=emb,
               errors=np.asarray(json.dumps([[int(i), e] for i, e in errors])))


def gather_rows(parts: Parts, rows: np.ndarray, emb: np.ndarray,
                errors: list[tuple[int, str]]) -> tuple[np.ndarray, np.ndarray, list]:
    """Rank 0: its own rows followed by every other rank's, in rank (= row) order."""
    all_rows, all_emb, all_errors = [rows], [emb], list(errors)
    for rank in range(1, parts.info.world):
        part = parts.load(rank, "rows")
        all_rows.append(part["rows"])
        all_emb.append(part["emb"])
        all_errors += [(int(i), str(e)) for i, e in json.loads(str(part["errors"]))]
    return np.concatenate(all_rows), np.concatenate(all_emb), all_errors
