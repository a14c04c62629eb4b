"""Near/remote fusion rows (issue 11): the ground view (frozen ImageNet Lite0 photo features),
the overhead view (MOSAIKS features of the overhead grid's chips, i.e. the overhead embedding
field) and both joined, each through the same ridge head on the same rows and folds.

Per photo (perception) the overhead vector is the grid chip whose cell holds the photo (the
field pixel under it, as `fit --fuse-field` samples a field); per tract (socioeconomic) the
ground and overhead vectors are the tract means of the photos and of the grid chips, on the
tracts that have both.
"""

from __future__ import annotations

import numpy as np

from engine.evaluate.context import CityContext
from engine.evaluate.settings import PERCEPTION, SOCIOECONOMIC, Settings

FUSION = "fusion (imagenet + mosaiks)"  # the fused encoder's name in rows and claims
TASK_NAMES = ("fusion_perception", "fusion_socioeconomic")


def field_at(xy: np.ndarray, grid_xy: np.ndarray, grid_feats: np.ndarray) -> np.ndarray:
    """(N, D) the grid vector of the cell holding each point (its nearest grid centre)."""
    from scipy.spatial import cKDTree

    _, idx = cKDTree(np.asarray(grid_xy, np.float64)).query(np.asarray(xy, np.float64), k=1)
    return np.asarray(grid_feats, np.float32)[idx]


def _views(ground: np.ndarray, over: np.ndarray, names: tuple[str, str]) -> dict:
    return {names[0]: ground, names[1]: over,
            FUSION: np.concatenate([ground, over], axis=1).astype(np.float32)}


def fusion_perception(ctx: CityContext, ground: np.ndarray, grid_xy: np.ndarray,
                      grid_feats: np.ndarray, s: Settings,
                      names: tuple[str, str]) -> list[dict]:
    """Perception per photo from ground, overhead and both (ridge, spatial block CV, a
    place's photos in one fold); rows carry their encoder name (`names` = ground, overhead)."""
    from engine.evaluate.tasks import cv_row

    groups = ctx.layer.frame["location_id"].to_numpy()
    views = _views(ground, field_at(ctx.xy, grid_xy, grid_feats), names)
    return [{"encoder": name, **cv_row("fusion_perception", t, X,
                                        ctx.layer.frame[t].to_numpy(np.float64), ctx.xy,
                                        s.point_block_m, s.point_folds, s, groups)}
            for name, X in views.items() for t in PERCEPTION]


def fusion_socioeconomic(ctx: CityContext, ground: np.ndarray, grid_xy: np.ndarray,
                         grid_feats: np.ndarray, s: Settings,
                         names: tuple[str, str]) -> list[dict]:
    """Tract attributes from the tract means of ground, overhead and both, on the tracts
    that have photos and grid chips (ridge, spatial block CV)."""
    import geopandas as gpd

    from engine.evaluate.tasks import cv_row, tract_rows

    points = gpd.GeoDataFrame(geometry=gpd.points_from_xy(grid_xy[:, 0], grid_xy[:, 1]),
                              crs=ctx.crs)
    g, xy_g, cov_g = tract_rows(ctx, ground)
    o, _, cov_o = tract_rows(ctx, grid_feats, points)
    both = cov_g & cov_o
    pick_g = both[cov_g]  # rows of g (covered by photos) that overhead covers too
    pick_o = both[cov_o]
    views = _views(g[pick_g], o[pick_o], names)
    xy = xy_g[pick_g]
    return [{"encoder": name, **cv_row("fusion_socioeconomic", t, X,
                                        ctx.tracts[t].to_numpy(np.float64)[both], xy,
                                        s.tract_block_m, s.tract_folds, s)}
            for name, X in views.items() for t in SOCIOECONOMIC]
