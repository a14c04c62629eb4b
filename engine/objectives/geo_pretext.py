"""GeoSSL's geo pretext task (Ayush et al. 2021): classify the k-means cluster of the photo's
location from its backbone features with a linear classifier (cross-entropy)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from engine.errors import EngineError
from engine.nn.registry import OBJECTIVES
from engine.objectives.base import Objective, StepContext


@OBJECTIVES.register("geo_pretext")
class GeoPretext(Objective):
    """Linear classifier on image features -> batch["cluster"] (long, in [0, num_classes))."""

    requires = ("view1", "cluster")

    def __init__(
        self, num_classes: int, in_dim: int | None = None, view: str = "view1",
        model: nn.Module | None = None,
    ) -> None:
        super().__init__()
        in_dim = in_dim or getattr(model, "image_feature_dim", None)
        if in_dim is None or num_classes < 2:
            raise EngineError(
                f"geo_pretext needs num_classes >= 2 and the feature size (got {num_classes}, "
                f"{in_dim})",
                hint="set num_classes to the number of k-means clusters and pass the model",
            )
        self.view = view
        self.requires = (view, "cluster")
        self.classifier = nn.Linear(int(in_dim), int(num_classes))

    def forward(self, ctx: StepContext) -> torch.Tensor:
        labels = ctx.get("cluster", "geo_pretext").long()
        n = self.classifier.out_features
        if labels.numel() and (int(labels.min()) < 0 or int(labels.max()) >= n):
            raise EngineError(
                f"geo_pretext cluster ids must be in [0, {n}), got {int(labels.min())}.."
                f"{int(labels.max())}",
                hint="set geo_pretext num_classes to the k-means cluster count",
            )
        return F.cross_entropy(self.classifier(ctx.image_features(self.view)), labels)
