"""Location maps: a head on location-encoder embeddings, fitted at labelled points (e.g. the
photo points with their perception scores), applied over a regular grid.

The points' lon/lat go through the model's location encoder (engine.embed.locations), a head
is cross-validated by spatial blocks and fitted, and the grid's location-embedding field gets
the head's prediction and uncertainty. Both sides are the same encoder: no alignment needed.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import TYPE_CHECKING

from engine.progress import Progress, no_progress

if TYPE_CHECKING:
    from engine.models.folder import ModelFolder

log = logging.getLogger(__name__)


def location_map(model: str | os.PathLike[str] | ModelFolder, points: str | os.PathLike[str],
                 target: str, out_dir: str | os.PathLike[str], name: str = "location",
                 bounds: tuple[float, float, float, float] | None = None, crs=None,
                 step_m: float = 20.0, head: str = "ridge", block_size_m: float | None = None,
                 n_folds: int = 5, seed: int = 0, polygons=None,
                 progress: Progress = no_progress) -> dict:
    """Fit a head on location embeddings at `points` (field `target`) and map it over
    `bounds` (in `crs`; default: the points' extent) at `step_m` metres."""
    from engine.embed.locations import embed_locations, read_point_layer
    from engine.maps.fit import fit_rows
    from engine.maps.rows import point_rows, target_values
    from engine.maps.zero_shot import zero_shot_map
    from engine.models.folder import ModelFolder

    folder = ModelFolder.of(model)
    net = folder.load()
    made_by = {"model_name": folder.name, "model_id": folder.identity}
    out_dir = Path(out_dir)
    frame = read_point_layer(points)
    target_values(frame, target, str(points))  # a missing field fails before embedding
    keep = [c for c in (target, "location_id") if c in frame.columns]
    pts_gpkg = out_dir / f"{name}_points.gpkg"
    embed_locations(net, pts_gpkg, points=frame[keep + [frame.geometry.name]],
                    progress=progress, device="cpu", **made_by)
    rows = point_rows(pts_gpkg, target)
    if bounds is None:
        bounds, crs = tuple(float(v) for v in frame.total_bounds), frame.crs
    field = out_dir / f"{name}_location_field.tif"
    embed_locations(net, field, bounds=bounds, step_m=step_m, crs=crs or frame.crs,
                    progress=progress, device="cpu", preview=False, **made_by)
    # the map is the head on the same encoder's embeddings: read back at the labelled points
    # it would be in-sample, so the validity check scores the head's out-of-fold predictions
    fitted = fit_rows(rows, out_dir / f"{name}_head", head, target, block_size_m, n_folds,
                      seed, progress, oof_field=field, features=(pts_gpkg,))
    res = zero_shot_map(out_dir / f"{name}_head", field, out_dir, name, polygons, None,
                        False, progress, kind="location")
    return {**res, "head": fitted["head"], "cv": fitted["summary"], "field": str(field)}
