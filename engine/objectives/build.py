"""build_objectives(spec) -> [(name, weight, module)] and the weighted total loss."""

from __future__ import annotations

import inspect
import math
from typing import Any

import torch
from torch import nn

from engine.errors import EngineError
from engine.nn.registry import OBJECTIVES
from engine.objectives.base import Objective, StepContext


def build_objectives(
    spec: dict[str, Any], model: nn.Module | None = None
) -> list[tuple[str, float, Objective]]:
    """Objectives from {name: {weight, ...params}} (or {name: weight}); checks them against model.

    Pass the model so objectives learn its sizes (queue dim, feature dim) and say early when
    it lacks an encoder they need. Objective parameters (classifier, logit scale, queue) belong
    in the optimizer and the checkpoint too: see `objectives_module`.
    """
    if not isinstance(spec, dict) or not spec:
        raise EngineError("the objectives config must be a non-empty mapping name -> settings",
                          hint=f"e.g. {{'self': {{'weight': 1.0}}}}; names: "
                          f"{', '.join(OBJECTIVES.names())}")
    out: list[tuple[str, float, Objective]] = []
    for name, params in spec.items():
        params = {"weight": params} if isinstance(params, (int, float)) else dict(params or {})
        weight = params.pop("weight", 1.0)
        if isinstance(weight, bool) or not isinstance(weight, (int, float)) \
                or not math.isfinite(weight) or weight < 0:
            raise EngineError(f"objective '{name}' weight must be a number >= 0, got {weight!r}",
                              hint="e.g. weight: 1.0")
        if "model" in params:
            raise EngineError(f"'model' is not a setting of objective '{name}'",
                              hint="the model is passed by the trainer")
        builder = OBJECTIVES.get(name)
        if "model" in inspect.signature(builder).parameters:
            obj = OBJECTIVES.build(name, **params, model=model)
        else:
            obj = OBJECTIVES.build(name, **params)
        if model is not None:
            obj.check_model(model)
        out.append((name, float(weight), obj))
    return out


def objectives_module(objectives: list[tuple[str, float, Objective]]) -> nn.ModuleDict:
    """The objectives as one ModuleDict (for optimizer parameters, .to(device), state_dict)."""
    return nn.ModuleDict({name: obj for name, _, obj in objectives})


def loss_terms(
    objectives: list[tuple[str, float, Objective]], ctx: StepContext
) -> tuple[torch.Tensor, list[torch.Tensor]]:
    """Total = sum of weight * loss, and each objective's unweighted loss (detached, where
    the loss was computed). Nothing is read back to the host, so on a GPU the step is queued
    without waiting for it: training reads the losses (and checks them, non_finite_loss)
    every few steps, in one transfer."""
    total: torch.Tensor | None = None
    terms: list[torch.Tensor] = []
    for name, weight, obj in objectives:
        for key in obj.requires:
            ctx.get(key, f"objective '{name}'")
        loss = obj(ctx)
        terms.append(loss.detach())
        total = weight * loss if total is None else total + weight * loss
    assert total is not None
    return total, terms


def non_finite_loss(what: str, value: float, step: int | None = None) -> EngineError:
    """The error for a non-finite loss `value` of `what` (at training step `step`)."""
    at = "" if step is None else f" at step {step}"
    return EngineError(f"{what} gave a non-finite loss ({value}){at}",
                       hint="lower the learning rate or check the inputs for NaN")


def compute_losses(
    objectives: list[tuple[str, float, Objective]], ctx: StepContext
) -> tuple[torch.Tensor, dict[str, float]]:
    """Total = sum of weight * loss; also each objective's unweighted loss as a float
    (read back at once: an error names the first objective whose loss is not finite)."""
    total, terms = loss_terms(objectives, ctx)
    parts: dict[str, float] = {}
    for (name, _, _), term in zip(objectives, terms, strict=True):
        parts[name] = float(term)
        if not math.isfinite(parts[name]):
            raise non_finite_loss(f"objective '{name}'", parts[name])
    return total, parts
