"""View-pair objectives: "self" (view1 vs view2), "temporal" (view1 vs the same place at another
time, UrbanSTCL / GeoSSL) and "spatial" (view1 vs a nearby photo, UrbanSTCL).

Default: symmetric InfoNCE with in-batch negatives gathered across ranks (SimCLR). With
`moco=True`: queries from the model, keys from ctx.momentum_model, negatives from a queue of
`queue_size` past keys (MoCo v2; queue_size=0 uses in-batch momentum keys, MoCo v3). The model's
predictor, if it has one, is applied to the queries in MoCo mode.
"""

from __future__ import annotations

import torch
from torch import nn

from engine.errors import EngineError
from engine.nn.registry import OBJECTIVES
from engine.objectives.base import Objective, StepContext
from engine.objectives.infonce import info_nce
from engine.objectives.moco import MoCoQueue, moco_loss, update_momentum


class ViewContrast(Objective):
    """Contrast the anchor view with a positive view at batch key `positive`."""

    anchor = "view1"
    positive = "view2"
    name = "self"

    def __init__(
        self,
        temperature: float = 0.1,
        symmetric: bool = True,
        moco: bool = False,
        queue_size: int = 4096,
        momentum: float = 0.99,
        dim: int | None = None,
        seed: int = 0,
        model: nn.Module | None = None,
    ) -> None:
        super().__init__()
        if not temperature > 0:
            raise EngineError(f"{self.name} temperature must be > 0, got {temperature}",
                              hint="e.g. 0.1 (SimCLR), 0.2 (MoCo v2)")
        self.requires = (self.anchor, self.positive)
        if not 0.0 <= momentum <= 1.0:
            raise EngineError(f"{self.name} momentum must be in [0, 1], got {momentum}",
                              hint="MoCo uses 0.99 or 0.999")
        self.temperature, self.symmetric, self.moco = float(temperature), symmetric, moco
        self.momentum, self.queue_size, self.seed = float(momentum), int(queue_size), seed
        self.queue: MoCoQueue | None = None
        if moco and queue_size > 0 and dim is not None:
            self.queue = MoCoQueue(int(dim), self.queue_size, seed=seed)
        if model is not None:
            self.check_model(model)

    @property
    def needs_momentum_model(self) -> bool:
        """True in MoCo mode: the trainer keeps a momentum copy and calls update_momentum."""
        return self.moco

    def update_momentum(self, model: nn.Module, momentum_model: nn.Module) -> None:
        """EMA step of the momentum encoder with this objective's `momentum`."""
        update_momentum(model, momentum_model, self.momentum)

    def check_model(self, model: nn.Module) -> None:
        """Create the MoCo queue for the model's embedding size (or check the given one)."""
        if not (self.moco and self.queue_size > 0):
            return
        dim = int(model.embedding_dim)
        if self.queue is None:
            self.queue = MoCoQueue(dim, self.queue_size, seed=self.seed)
        elif self.queue.keys.shape[1] != dim:
            raise EngineError(f"{self.name} queue dim {self.queue.keys.shape[1]} does not match "
                              f"the model's embedding_dim {dim}", hint="leave 'dim' out")

    def forward(self, ctx: StepContext) -> torch.Tensor:
        if not self.moco:
            return info_nce(ctx.image(self.anchor), ctx.image(self.positive),
                            self.temperature, self.symmetric)
        pairs = [(self.anchor, self.positive)]
        if self.symmetric:
            pairs.append((self.positive, self.anchor))
        if self.queue_size > 0 and self.queue is None:
            raise EngineError(f"{self.name} (moco) was built without the model, so its queue "
                              "has no size",
                              hint="pass the model to build_objectives or call check_model(model)")
        predictor = getattr(ctx.model, "predictor", None)
        queue = None if self.queue is None else self.queue.keys.clone().detach()
        losses, keys = [], []
        for q_key, k_key in pairs:
            q = ctx.image(q_key)
            if predictor is not None:
                q = predictor(q)
            k = ctx.momentum_image(k_key)
            losses.append(moco_loss(q, k, queue, self.temperature))
            keys.append(k)
        if self.queue is not None and self.training:
            self.queue.enqueue(torch.cat(keys))
        return torch.stack(losses).mean()


@OBJECTIVES.register("self")
class SelfContrast(ViewContrast):
    """Two augmentations of the same photo (SimCLR / MoCo)."""

    positive, name = "view2", "self"


@OBJECTIVES.register("temporal")
class TemporalContrast(ViewContrast):
    """The same place and heading at another capture time: learns the static scene."""

    positive, name = "temporal", "temporal"


@OBJECTIVES.register("spatial")
class SpatialContrast(ViewContrast):
    """A nearby photo at about the same time: learns the neighbourhood's ambience."""

    positive, name = "spatial", "spatial"
