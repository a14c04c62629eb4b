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
    """Linear classifier on image features -> batch["cluster"] (long, in [0, num_classes)).

    num_classes must be at least the k-means cluster count (the trainer's data.clusters,
    default 16); a larger value only leaves classes unused.
    """

    requires = ("view1", "cluster")

    def __init__(
        self, num_classes: int = 16, in_dim: int | None = None, view: str = "view1",
        model: nn.Module | None = None,
    ) -> None:
        super().__init__()
        if isinstance(num_classes, bool) or not isinstance(num_classes, int) or num_classes < 2:
            raise EngineError(f"geo_pretext num_classes must be an integer >= 2, got "
                              f"{num_classes!r}",
                              hint="set it to the number of k-means clusters")
        self.view, self.num_classes = view, num_classes
        self.requires = (view, "cluster")
        self.classifier: nn.Linear | None = None
        if in_dim is not None:
            self.classifier = nn.Linear(int(in_dim), num_classes)
        elif model is not None:
            self.check_model(model)

    def check_model(self, model: nn.Module) -> None:
        """Create the classifier for the model's feature size (or check the given one)."""
        dim = int(model.image_feature_dim)
        if self.classifier is None:
            self.classifier = nn.Linear(dim, self.num_classes)
        elif self.classifier.in_features != dim:
            raise EngineError(f"geo_pretext in_dim {self.classifier.in_features} does not match "
                              f"the model's image features ({dim})", hint="leave in_dim out")

    def forward(self, ctx: StepContext) -> torch.Tensor:
        if self.classifier is None:
            raise EngineError("geo_pretext was built without the model, so its classifier "
                              "has no input size",
                              hint="pass the model to build_objectives or call "
                              "check_model(model) before making the optimizer")
        labels = ctx.get("cluster", "geo_pretext").long()
        n = self.classifier.out_features
        if bool(((labels < 0) | (labels >= n)).any()):  # one read-back (a GPU: one wait)
            raise EngineError(
                f"geo_pretext cluster ids must be in [0, {n}), got {int(labels.min())}.."
                f"{int(labels.max())}",
                hint="set geo_pretext num_classes to the k-means cluster count",
            )
        return F.cross_entropy(self.classifier(ctx.image_features(self.view)), labels)
