"""What `engine.train.loop.build` makes for a run: one typed record instead of a dict."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from torch import nn
from torch.optim import Optimizer


@dataclass
class TrainParts:
    """The seeded model, its objectives and what feeds and steps them (same on every rank)."""

    model: nn.Module  # the GeoModel being trained
    objectives: list[tuple[str, float, nn.Module]]  # (name, weight, objective)
    loss_module: nn.Module  # model + objectives: batch -> (total loss, per-objective losses)
    momentum: nn.Module | None  # the momentum (EMA) encoder of MoCo-style objectives, if any
    optimizer: Optimizer
    dataset: Any  # GeoPairDataset or the overhead-only raster dataset
    sampler: Any  # EpochBatchSampler
    data_info: dict[str, Any] = field(default_factory=dict)  # counts for the model card
    keys: list[str] = field(default_factory=list)  # the batch keys the objectives need
    resume_changes: dict[str, Any] | None = None  # --resume --allow-changed-config: what changed
