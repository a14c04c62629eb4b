"""Objective (one loss = one small module) and StepContext (the batch, encoded once per view).

An objective names the batch keys it needs in `requires` and returns a scalar loss from
`forward(ctx)`. StepContext memoises encodings, so a view shared by two objectives ("view1" in
self, geo_pretext and cross_view) goes through the backbone once per step.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from engine.errors import EngineError


class StepContext:
    """One training step's model(s) and batch, with memoised encoders per batch key."""

    def __init__(
        self, model: nn.Module, batch: dict[str, Any], momentum_model: nn.Module | None = None
    ) -> None:
        self.model = model
        self.batch = batch
        self.momentum_model = momentum_model
        self._memo: dict[tuple[str, str], torch.Tensor] = {}

    def get(self, key: str, who: str = "this objective") -> Any:
        """The batch entry `key`, or an EngineError naming who needs it."""
        if key not in self.batch:
            raise EngineError(
                f"{who} needs batch key '{key}' but the batch has {sorted(self.batch)}",
                hint="remove the objective from the config or give the data it needs "
                "(temporal needs capture times; cross_view needs an overhead raster)",
            )
        return self.batch[key]

    def _memoised(self, kind: str, key: str, fn: Any) -> torch.Tensor:
        if (kind, key) not in self._memo:
            self._memo[(kind, key)] = fn()
        return self._memo[(kind, key)]

    def image_features(self, key: str = "view1") -> torch.Tensor:
        """Backbone features of the images at `key` (before projection); a (B, D) entry is
        already features (the frozen regime's cache) and is used as it is."""
        x = self.get(key)
        if x.ndim == 2:
            return x
        return self._memoised("features", key, lambda: self.model.features_image(x))

    def image(self, key: str = "view1") -> torch.Tensor:
        """Normalised embeddings of the street-view images at `key`."""
        return self._memoised(
            "image", key, lambda: self.model.project_image(self.image_features(key))
        )

    def momentum_image(self, key: str = "view2") -> torch.Tensor:
        """Momentum-encoder embeddings of the images at `key` (no gradient)."""
        if self.momentum_model is None:
            raise EngineError(
                "a MoCo objective needs a momentum encoder but none was given",
                hint="make one with engine.objectives.make_momentum_model(model) and pass "
                "StepContext(model, batch, momentum_model=...)",
            )

        def encode() -> torch.Tensor:
            x = self.get(key)
            with torch.no_grad():
                if x.ndim == 2:  # cached backbone features (frozen regime)
                    return self.momentum_model.project_image(x).detach()
                return self.momentum_model.embed_image(x).detach()

        return self._memoised("momentum_image", key, encode)

    def overhead(self, key: str = "overhead") -> torch.Tensor:
        """Normalised embeddings of the overhead chips at `key` ((B, D) entries: cached
        backbone features, projected only)."""
        x = self.get(key)
        if x.ndim == 2:
            return self._memoised("overhead", key,
                                  lambda: self.model.overhead_encoder.projection(x))
        return self._memoised("overhead", key, lambda: self.model.embed_overhead(x))

    def location(self, key: str = "lonlat") -> torch.Tensor:
        """Normalised location-encoder embeddings of the lon,lat degrees at `key`."""
        return self._memoised("location", key, lambda: self.model.embed_location(self.get(key)))

    def time(self, key: str = "time", valid_key: str = "time_valid") -> torch.Tensor:
        """Time embeddings of the features at `key`, zero where `valid_key` is False."""
        valid = self.batch.get(valid_key)
        return self._memoised("time", key, lambda: self.model.embed_time(self.get(key), valid))


class Objective(nn.Module):
    """A loss on a StepContext. Subclasses set `requires` and implement `forward`."""

    requires: tuple[str, ...] = ()
    needs_momentum_model: bool = False  # MoCo objectives: the trainer keeps a momentum copy

    def check_model(self, model: nn.Module) -> None:
        """Raise an EngineError if `model` lacks an encoder this objective needs; size any
        parameters that depend on it (call before making the optimizer)."""

    def update_momentum(self, model: nn.Module, momentum_model: nn.Module) -> None:
        """After each optimizer step: update the momentum copy (MoCo objectives only)."""

    def forward(self, ctx: StepContext) -> torch.Tensor:  # pragma: no cover - abstract
        raise NotImplementedError
