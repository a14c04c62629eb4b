"""The one place a device preference ("auto", "cpu", "cuda") becomes a torch.device."""

from __future__ import annotations

import torch

from engine.defaults import DEVICES
from engine.errors import EngineError


def resolve_device(pref: str = "auto", local_rank: int = 0) -> torch.device:
    """"auto": CUDA when available, else CPU; "cuda" without a GPU is an EngineError.

    Under torchrun, `local_rank` picks this process's GPU.
    """
    if pref not in DEVICES:
        raise EngineError(f"unknown device {pref!r}",
                          f"use --device (or train.device=) {' / '.join(DEVICES)}")
    if pref == "cuda" or (pref == "auto" and torch.cuda.is_available()):
        if not torch.cuda.is_available():
            raise EngineError("device 'cuda' was asked for but no CUDA GPU is available",
                              "use --device cpu or --device auto (train.device=auto)")
        return torch.device("cuda", local_rank % max(1, torch.cuda.device_count()))
    return torch.device("cpu")
