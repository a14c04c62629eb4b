"""Cross-view objective: a street photo vs the overhead chip centred on it (CVUSA, Sat2Cap).

Symmetric InfoNCE with a learnable logit scale (CLIP: init 1/0.07, capped at max_scale). If the
model has a time encoder and the batch has "time", the ground embedding is conditioned on the
capture time: normalize(z + time_emb * time_valid) (rows without a date use z as it is).
With condition="overhead" the OVERHEAD embedding is conditioned instead (Sat2Cap): the chip plus
the capture time predicts the photo taken then, so an overhead field + any chosen time gives a
time-conditioned map (engine.maps.time_map); the ground embedding stays unconditioned.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from engine.errors import EngineError
from engine.nn.registry import OBJECTIVES
from engine.objectives.base import Objective, StepContext
from engine.objectives.infonce import clip_loss


@OBJECTIVES.register("cross_view")
class CrossView(Objective):
    """Ground view (view1) vs "overhead" chips in the shared embedding space."""

    requires = ("view1", "overhead")

    def __init__(
        self, temperature: float = 0.07, learn_scale: bool = True, max_scale: float = 100.0,
        use_time: bool = True, view: str = "view1", model: nn.Module | None = None,
        condition: str = "ground",
    ) -> None:
        super().__init__()
        if not temperature > 0 or not max_scale > 0:
            raise EngineError(f"cross_view needs temperature > 0 and max_scale > 0 "
                              f"(got {temperature}, {max_scale})", hint="e.g. 0.07 and 100")
        if condition not in ("ground", "overhead"):
            raise EngineError(f"cross_view condition {condition!r} is not allowed",
                              hint="condition: ground (the photo side) or overhead (Sat2Cap)")
        self.condition = condition
        self.view, self.use_time, self.max_log_scale = view, use_time, math.log(max_scale)
        self.requires = (view, "overhead")
        self.logit_scale = nn.Parameter(
            torch.tensor(math.log(1.0 / temperature)), requires_grad=learn_scale
        )

    def check_model(self, model: nn.Module) -> None:
        """Check for an overhead encoder; ask for capture times when the model can use them."""
        if getattr(model, "overhead_encoder", None) is None:
            raise EngineError("objective cross_view needs a model with an overhead encoder",
                              hint='add "overhead": {"backbone": "tiny_cnn"} to the model config')
        if self.use_time and getattr(model, "time_encoder", None) is not None:
            self.requires = (self.view, "overhead", "time", "time_valid")

    def _timed(self, ctx: StepContext, side: str) -> bool:
        return self.condition == side and self.use_time and "time" in ctx.batch \
            and getattr(ctx.model, "time_encoder", None) is not None

    def ground(self, ctx: StepContext) -> torch.Tensor:
        """The (time-conditioned) ground embedding of the anchor view."""
        z = ctx.image(self.view)
        if self._timed(ctx, "ground"):
            z = F.normalize(z + ctx.time("time"), dim=1)
        return z

    def overhead(self, ctx: StepContext) -> torch.Tensor:
        """The overhead embedding, time-conditioned when condition="overhead"."""
        o = ctx.overhead("overhead")
        if self._timed(ctx, "overhead"):
            o = F.normalize(o + ctx.time("time"), dim=1)
        return o

    def forward(self, ctx: StepContext) -> torch.Tensor:
        scale = self.logit_scale.clamp(max=self.max_log_scale).exp()
        return clip_loss(self.ground(ctx), self.overhead(ctx), scale)
