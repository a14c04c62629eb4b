"""Training objectives, one small module each, chosen by name from the OBJECTIVES registry.

    objs = build_objectives({"self": {"weight": 1.0}, "cross_view": {"weight": 0.5}}, model)
    ctx = StepContext(model, batch, momentum_model=None)
    loss, parts = compute_losses(objs, ctx)
"""

from engine.objectives import (  # noqa: F401  (importing registers the objectives)
    contrastive,
    cross_view,
    geo_pretext,
    image_location,
)
from engine.objectives.base import Objective, StepContext
from engine.objectives.build import (
    build_objectives,
    compute_losses,
    loss_terms,
    non_finite_loss,
    objectives_module,
)
from engine.objectives.infonce import clip_loss, info_nce
from engine.objectives.moco import MoCoQueue, make_momentum_model, update_momentum

__all__ = [
    "MoCoQueue",
    "Objective",
    "StepContext",
    "build_objectives",
    "clip_loss",
    "compute_losses",
    "info_nce",
    "loss_terms",
    "make_momentum_model",
    "non_finite_loss",
    "objectives_module",
    "update_momentum",
]
