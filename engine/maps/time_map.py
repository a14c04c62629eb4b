"""Time-conditioned zero-shot maps: the attribute at a chosen date and time of day.

Approach (see engine.objectives.cross_view): the recipe trains cross_view with
`condition: overhead` (Sat2Cap), so normalize(overhead + time_emb(t)) is pulled towards the
street photo taken at time t at that place, while photo embeddings stay unconditioned. A
head fitted on photo embeddings (which show the dynamic content of their capture time:
light, season, cars, people) is therefore applied, at every pixel, to
normalize(field + time_emb(--datetime)).

With the default `condition: ground` the photo side absorbs the time and the overhead side
never sees one; a field then has no time to condition, so the map is refused rather than
silently time-independent.
"""

from __future__ import annotations

import logging
import os
from typing import TYPE_CHECKING

import numpy as np

from engine.errors import EngineError
from engine.maps.field import l2_normalize
from engine.progress import Progress, no_progress

if TYPE_CHECKING:
    from engine.models.folder import ModelFolder

log = logging.getLogger(__name__)


def recipe_condition(folder: ModelFolder) -> str | None:
    """objectives.cross_view.condition recorded in the model's config.yaml (None: no
    cross_view objective), "ground" when cross_view is there without one."""
    cv = folder.section("objectives").get("cross_view")
    if not isinstance(cv, dict):
        return None
    return str(cv.get("condition", "ground"))


def time_offset(model, when: str) -> np.ndarray:
    """The model's time embedding (D,) float64 of one ISO 8601 datetime (UTC)."""
    import torch

    from engine.nn.time_encoder import time_features, time_valid

    if getattr(model, "time_encoder", None) is None:
        raise EngineError("this model has no time encoder: a time map needs one",
                          "train models/crossview_time.yaml (cross_view condition: overhead)")
    if not time_valid([when]).all():
        raise EngineError(f"--datetime {when!r} is not a date/time",
                          "give ISO 8601 UTC, e.g. 2023-07-12T14:00:00Z")
    feats = torch.from_numpy(time_features([when]))
    model.eval()
    with torch.inference_mode():
        t = model.embed_time(feats, torch.ones(1, dtype=torch.bool))
    return t[0].double().cpu().numpy()


def time_transform(offset: np.ndarray):
    """X -> normalize(X + offset): the overhead side conditioned on a time."""
    def fn(X: np.ndarray) -> np.ndarray:
        return l2_normalize(X + offset)

    return fn


def time_map(model: str | os.PathLike[str] | ModelFolder, head,
             field_path: str | os.PathLike[str],
             when: str, out_dir: str | os.PathLike[str], name: str = "time",
             polygons=None, id_field: str | None = None, align: bool = True,
             progress: Progress = no_progress) -> dict:
    """The zero-shot map of `head` over `field_path` conditioned on datetime `when`."""
    from engine.maps.provenance import check_model
    from engine.maps.zero_shot import as_head, zero_shot_map
    from engine.models.folder import ModelFolder

    folder = ModelFolder.of(model)
    condition = recipe_condition(folder)
    if condition != "overhead":
        raise EngineError(
            f"model {folder.folder} was not trained with the overhead side conditioned on time "
            f"(cross_view condition: {condition})",
            "train models/crossview_time.yaml (objectives.cross_view.condition: overhead); "
            "with a ground-conditioned model use `map zero_shot` (time-independent)")
    head = as_head(head)
    check_model(head, folder)  # the time embedding must be the one of the head's model
    offset = time_offset(folder.load(), when)
    return zero_shot_map(head, field_path, out_dir, name, polygons, id_field, align, progress,
                         transform=time_transform(offset), kind="time",
                         extra={"datetime": str(when)})
