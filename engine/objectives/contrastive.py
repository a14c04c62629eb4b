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
from engine.objectives.moco import MoCoQueue, moco_loss


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
        dim: int | None = None,
        seed: int = 0,
        model: nn.Module | None = None,
    ) -> None:
        super().__init__()
        if not temperature > 0:
            raise EngineError(f"{self.name} temperature must be > 0, got {temperature}",
                              hint="e.g. 0.1 (SimCLR), 0.2 (MoCo v2)")
        self.requires = (self.anchor, self.positive)
        self.temperature, self.symmetric, self.moco = float(temperature), symmetric, moco
        self.queue: MoCoQueue | None = None
        if moco and queue_size > 0:
            dim = dim or getattr(model, "embedding_dim", None)
            if dim is None:
                raise EngineError(f"{self.name} with moco needs the embedding size",
                                  hint="pass the model to build_objectives, or set 'dim'")
            self.queue = MoCoQueue(int(dim), int(queue_size), seed=seed)

    def forward(self, ctx: StepContext) -> torch.Tensor:
        if not self.moco:
            return info_nce(ctx.image(self.anchor), ctx.image(self.positive),
                            self.temperature, self.symmetric)
        pairs = [(self.anchor, self.positive)]
        if self.symmetric:
            pairs.append((self.positive, self.anchor))
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
