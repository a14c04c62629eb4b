"""torchrun support with no code change: init from RANK / WORLD_SIZE / LOCAL_RANK, gloo on CPU,
nccl on CUDA; DDP wrapping; rank-0-only writing. A plain `python -m engine ...` is world 1.

One definition for every stage that runs under torchrun: training (DDP) and sharded
inference (engine.embed.shard).
"""

from __future__ import annotations

import gc
import logging
import os
from dataclasses import dataclass

import torch
import torch.distributed as dist
from torch import nn

from engine.errors import EngineError
from engine.models.device import resolve_device

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class DistInfo:
    """This process's place in the job and the device it trains on."""

    rank: int
    world: int
    local_rank: int
    device: torch.device

    @property
    def is_main(self) -> bool:
        """Only the main process (rank 0) writes outputs."""
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        return self.world > 1


def check_gpus_per_process(local_processes: int, gpus: int) -> None:
    """EngineError when torchrun starts more processes on one machine than it has GPUs: NCCL
    refuses two ranks on one GPU, with an error that does not say what to change."""
    if local_processes > gpus:
        raise EngineError(
            f"torchrun started {local_processes} processes on this machine, which has {gpus} "
            "GPU(s): on CUDA each process needs a GPU of its own (NCCL)",
            f"use torchrun --nproc_per_node {gpus} (or fewer), or --device cpu "
            "(train.device=cpu) to run the processes on the CPU (gloo)")


def setup(device_pref: str = "auto") -> DistInfo:
    """Initialise torch.distributed when torchrun's variables say world > 1 (idempotent)."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    rank = int(os.environ.get("RANK", "0"))
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    device = resolve_device(device_pref, local_rank)
    if world > 1 and not dist.is_initialized():
        backend = "nccl" if device.type == "cuda" else "gloo"
        if device.type == "cuda":
            check_gpus_per_process(int(os.environ.get("LOCAL_WORLD_SIZE", "1")),
                                   torch.cuda.device_count())
            torch.cuda.set_device(device)
        dist.init_process_group(backend=backend, init_method="env://")
        log.info("distributed: rank %d of %d (%s, %s)", rank, world, backend, device)
    return DistInfo(rank=rank, world=world, local_rank=local_rank, device=device)


def wrap(module: nn.Module, info: DistInfo) -> nn.Module:
    """DDP-wrap `module` when distributed (unused parameters allowed: optional encoders)."""
    if not info.distributed:
        return module
    from torch.nn.parallel import DistributedDataParallel as DDP

    ids = [info.device.index] if info.device.type == "cuda" else None
    return DDP(module, device_ids=ids, find_unused_parameters=True)


def sync_buffers(modules: list[nn.Module | None], info: DistInfo) -> None:
    """Copy rank 0's buffers (BN statistics, MoCo queues) to every rank.

    DDP broadcasts buffers before each forward, so they only differ after the last step.
    """
    if not (info.distributed and dist.is_initialized()):
        return
    for module in modules:
        if module is not None:
            for buf in module.buffers():
                dist.broadcast(buf.data, src=0)


def barrier(info: DistInfo) -> None:
    if info.distributed and dist.is_initialized():
        dist.barrier()


def teardown(info: DistInfo) -> None:
    """Destroy the process group this module created, after collecting garbage: a DDP wrapper
    left in a reference cycle keeps the Gloo group's worker threads alive until interpreter
    exit, where their destruction can abort the process ("terminate called without an active
    exception", seen once on a loaded machine after a finished run)."""
    if info.distributed and dist.is_initialized():
        gc.collect()
        dist.destroy_process_group()
