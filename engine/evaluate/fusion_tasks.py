"""Near/remote fusion rows (issue 11): the ground view (frozen ImageNet Lite0 photo features),
the overhead view (MOSAIKS features of the overhead grid's chips, i.e. the overhead embedding
field) and both joined by the protocol's fusion head (fusion_heads: the views' own ridges,
stacked), all on the same rows and folds.

Per photo (perception) the overhead vector is the grid chip whose cell holds the photo (the
field pixel under it, as `fit --fuse-field` samples a field); per tract (socioeconomic) the
ground and overhead vectors are the tract means of the photos and of the grid chips, on the
tracts that have both.
"""

from __future__ import annotations

import numpy as np

from engine.evaluate.context import CityContext
from engine.evaluate.settings import PERCEPTION, SOCIOECONOMIC, Settings
from engine.heads.fusion_heads import (
    CONTROLS,
    FUSION_HEAD,
    HEADS,
    ViewParts,
    fused_oof,
    inner_folds,
    stacked_oof,
    view_oof,
    view_parts,
)

FUSION = "fusion (imagenet + mosaiks)"  # the fused encoder's name in rows and claims
TASK_NAMES = ("fusion_perception", "fusion_socioeconomic")
# a head's control, reported next to it when it is the protocol's head
CONTROL_OF = {"stack": "stack_ground_only"}
STACKED_GROUND = "imagenet effnet-lite0 (stacked)"  # the control's row name (ground = IMAGENET)


def field_at(xy: np.ndarray, grid_xy: np.ndarray, grid_feats: np.ndarray) -> np.ndarray:
    """(N, D) the grid vector of the cell holding each point (its nearest grid centre)."""
    from scipy.spatial import cKDTree

    _, idx = cKDTree(np.asarray(grid_xy, np.float64)).query(np.asarray(xy, np.float64), k=1)
    return np.asarray(grid_feats, np.float32)[idx]


def view_rows(task: str, targets: dict[str, np.ndarray], ground: np.ndarray, over: np.ndarray,
              xy: np.ndarray, block_m: float, n_folds: int, s: Settings, names: tuple[str, str],
              groups: np.ndarray | None = None, heads: tuple[str, ...] = (FUSION_HEAD,),
              cache: dict | None = None, fused_name: str = FUSION) -> list[dict]:
    """Rows of ground alone, overhead alone (the benchmark's ridge) and each fusion head of
    `heads` (fusion_heads.HEADS or CONTROLS; the protocol's head with its control, if it has
    one), all on the same rows and spatial folds. Each view's ridges are fitted once and serve
    its row, `stack` and the control; `cache` (a dict kept by the caller) keeps the ground
    view's across calls with the same features, rows, targets and folds."""
    from engine.evaluate.tasks import score_rows
    from engine.heads.cv import check_xy_inputs
    from engine.heads.spatial_cv import spatial_folds

    for X in (ground, over):
        for y in targets.values():
            check_xy_inputs(X, y)
    fold = spatial_folds(xy, block_m, n_folds, s.seed, groups=groups)
    folds = inner_folds(xy, fold, block_m, s.seed, groups)
    Y = np.column_stack([np.asarray(y, np.float64) for y in targets.values()])
    parts = (_ground_parts(cache, names[0], ground, Y, folds), view_parts(over, Y, folds))
    rows = []
    for name, p in zip(names, parts, strict=True):
        rows += [{"encoder": name, **r}
                 for r in score_rows(task, targets, view_oof(p, Y, folds), fold, s)]
    if FUSION_HEAD in heads and FUSION_HEAD in CONTROL_OF:
        heads = (*heads, CONTROL_OF[FUSION_HEAD])
    for head in heads:
        if head in STACKED_VIEWS:
            oof = stacked_oof([parts[v] for v in STACKED_VIEWS[head]], Y, folds)
        else:
            oof = fused_oof({**HEADS, **CONTROLS}[head], np.asarray(ground, np.float64),
                            np.asarray(over, np.float64), Y, xy, fold, block_m, s.seed, groups)
        name = {FUSION_HEAD: fused_name, CONTROL_OF.get(FUSION_HEAD): f"{names[0]} (stacked)"
                }.get(head, f"fusion [{head}]")
        rows += [{"encoder": name, **r} for r in score_rows(task, targets, oof, fold, s)]
    return rows


# heads computed from the views' parts (fusion_heads.stacked_oof): which views they stack
STACKED_VIEWS = {"stack": (0, 1), "stack_ground_only": (0,)}


def _ground_parts(cache: dict | None, name: str, ground: np.ndarray, Y: np.ndarray,
                  folds: list) -> ViewParts:
    """The ground view's parts, from `cache` when the same features, targets and folds were
    seen (keyed by their bytes: a different row set or fold draw is a different entry)."""
    import hashlib

    if cache is None:
        return view_parts(ground, Y, folds)
    h = hashlib.sha1(name.encode())
    for a in (np.ascontiguousarray(ground), Y, *(te for te, _ in folds),
              *(inner for _, inner in folds)):
        h.update(str(a.shape).encode())
        h.update(np.ascontiguousarray(a).tobytes())
    key = h.hexdigest()
    if key not in cache:
        cache[key] = view_parts(ground, Y, folds)
    return cache[key]


def fusion_perception(ctx: CityContext, ground: np.ndarray, grid_xy: np.ndarray,
                      grid_feats: np.ndarray, s: Settings, names: tuple[str, str],
                      heads: tuple[str, ...] = (FUSION_HEAD,), cache: dict | None = None
                      ) -> list[dict]:
    """Perception per photo from ground, overhead and both (spatial block CV, a place's photos
    in one fold); rows carry their encoder name (`names` = ground, overhead)."""
    groups = ctx.layer.frame["location_id"].to_numpy()
    targets = {t: ctx.layer.frame[t].to_numpy(np.float64) for t in PERCEPTION}
    return view_rows("fusion_perception", targets, ground,
                     field_at(ctx.xy, grid_xy, grid_feats), ctx.xy, s.point_block_m,
                     s.point_folds, s, names, groups, heads, cache)


def fusion_socioeconomic(ctx: CityContext, ground: np.ndarray, grid_xy: np.ndarray,
                         grid_feats: np.ndarray, s: Settings, names: tuple[str, str],
                         heads: tuple[str, ...] = (FUSION_HEAD,), cache: dict | None = None
                         ) -> list[dict]:
    """Tract attributes from the tract means of ground, overhead and both, on the tracts
    that have photos and grid chips (spatial block CV)."""
    import geopandas as gpd

    from engine.evaluate.tasks import tract_rows

    points = gpd.GeoDataFrame(geometry=gpd.points_from_xy(grid_xy[:, 0], grid_xy[:, 1]),
                              crs=ctx.crs)
    g, xy_g, cov_g = tract_rows(ctx, ground)
    o, _, cov_o = tract_rows(ctx, grid_feats, points)
    both = cov_g & cov_o
    pick_g = both[cov_g]  # rows of g (covered by photos) that overhead covers too
    pick_o = both[cov_o]
    targets = {t: ctx.tracts[t].to_numpy(np.float64)[both] for t in SOCIOECONOMIC}
    return view_rows("fusion_socioeconomic", targets, g[pick_g], o[pick_o], xy_g[pick_g],
                     s.tract_block_m, s.tract_folds, s, names, heads=heads, cache=cache)
