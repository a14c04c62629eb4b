"""The benchmark's tasks: each is (embedder, city context, settings) -> a list of result rows
(plain dicts: task, target, metric values). Heads are ridge with spatial block CV
(engine.heads.ridge_path, the fit of engine.heads.cross_validate's ridge): every scaler is
fitted inside the fold, folds are blocks.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import numpy as np

from engine.evaluate import metrics
from engine.evaluate.context import CityContext
from engine.evaluate.settings import PERCEPTION, SOCIOECONOMIC, Settings

log = logging.getLogger(__name__)


def vpr(embedder: Any, key: str, ctx: CityContext, s: Settings) -> list[dict]:
    """Place recognition among held-out places (ctx.identity_rows): queries = each place's
    last capture, database = its earlier captures."""
    emb = ctx.photo_embeddings(embedder, key)
    last = ctx.capture_rank == last_capture_rank(ctx)
    use = ctx.identity_rows
    q, d = last & use, ~last & use
    res = metrics.recall_at_k(emb[q], emb[d], ctx.xy[q], ctx.xy[d], ctx.heading[q],
                              ctx.heading[d], radius_m=s.vpr_radius_m,
                              max_heading_deg=s.vpr_heading_deg)
    return [{"task": "vpr", "target": "place", **res}]


def last_capture_rank(ctx: CityContext) -> np.ndarray:
    """Per photo, the highest capture rank of its location+heading group."""
    import pandas as pd

    frame = pd.DataFrame({"loc": ctx.layer.frame["location_id"].to_numpy(),
                          "head": np.round(np.nan_to_num(ctx.heading, nan=-1)),
                          "rank": ctx.capture_rank})
    return frame.groupby(["loc", "head"])["rank"].transform("max").to_numpy()


def cv_rows(task: str, targets: dict[str, np.ndarray], X: np.ndarray, xy: np.ndarray,
            block_m: float, folds: int, s: Settings,
            groups: np.ndarray | None = None) -> list[dict]:
    """Ridge + spatial block CV of every target at once (the fit of StandardScaler + RidgeCV,
    alpha per target by leave-one-out, from one decomposition per fold): per target R2 mean
    and sd over folds; pooled (all out-of-fold predictions at once) R2, Spearman, pairwise
    ranking accuracy."""
    from engine.heads.cv import check_xy_inputs
    from engine.heads.ridge_path import block_cv_predict
    from engine.heads.spatial_cv import spatial_folds

    for y in targets.values():
        X, _ = check_xy_inputs(X, y)
    Y = np.column_stack([np.asarray(y, np.float64) for y in targets.values()])
    fold = spatial_folds(xy, block_m, folds, s.seed, groups=groups)
    return score_rows(task, targets, block_cv_predict(X, Y, fold), fold, s)


def score_rows(task: str, targets: dict[str, np.ndarray], oof: np.ndarray, fold: np.ndarray,
               s: Settings) -> list[dict]:
    """One row per target from out-of-fold predictions (n, T) and the fold id per row."""
    from engine.heads.metrics import r2

    rows = []
    ids = np.unique(fold)
    for t, (target, y) in enumerate(targets.items()):
        y = np.asarray(y, np.float64)
        fold_r2 = np.array([r2(y[fold == f], oof[fold == f, t]) for f in ids], np.float64)
        rows.append({"task": task, "target": target, "r2": float(np.nanmean(fold_r2)),
                     "r2_sd_folds": float(np.nanstd(fold_r2)), "r2_pooled": r2(y, oof[:, t]),
                     "spearman": metrics.spearman(y, oof[:, t]),
                     "pairwise_acc": metrics.pairwise_accuracy(y, oof[:, t], s.n_pairs, s.seed),
                     "n": int(len(y)),
                     "n_fold_min": int(min((fold == f).sum() for f in ids)) if len(ids) else 0})
    return rows


def tract_rows(ctx: CityContext, point_emb: np.ndarray,
               points: Any = None) -> tuple[np.ndarray, np.ndarray, Any]:
    """(tract features (T, D), tract x, y centroids (T, 2), covered mask) from the vectors of
    `points` (a GeoDataFrame; default the photos)."""
    from engine.heads.aggregate import aggregate_points

    points = ctx.layer.frame if points is None else points
    agg = aggregate_points(points, point_emb, ctx.tracts, "tract_id")
    cov = agg.covered
    tracts = ctx.tracts.to_crs(ctx.crs) if ctx.tracts.crs != ctx.crs else ctx.tracts
    cent = tracts.geometry.centroid
    xy = np.column_stack([cent.x.to_numpy(), cent.y.to_numpy()])
    return agg.embeddings[cov], xy[cov], cov


def socio_rows(task: str, ctx: CityContext, point_emb: np.ndarray, s: Settings,
               points: Any = None) -> list[dict]:
    """Per tract mean of the point vectors -> each socioeconomic attribute (ridge, CV)."""
    X, xy, cov = tract_rows(ctx, point_emb, points)
    targets = {t: ctx.tracts[t].to_numpy(np.float64)[cov] for t in SOCIOECONOMIC}
    return cv_rows(task, targets, X, xy, s.tract_block_m, s.tract_folds, s)


def socioeconomic(embedder: Any, key: str, ctx: CityContext, s: Settings) -> list[dict]:
    """Per tract mean photo embedding -> income, poverty share, density (ridge, spatial CV)."""
    return socio_rows("socioeconomic", ctx, ctx.photo_embeddings(embedder, key), s)


def perception(embedder: Any, key: str, ctx: CityContext, s: Settings) -> list[dict]:
    """Per photo -> each perception score (ridge, spatial CV, a place's photos in one fold)."""
    emb = ctx.photo_embeddings(embedder, key)
    groups = ctx.layer.frame["location_id"].to_numpy()
    targets = {t: ctx.layer.frame[t].to_numpy(np.float64) for t in PERCEPTION}
    return cv_rows("perception", targets, emb, ctx.xy, s.point_block_m, s.point_folds, s, groups)


def overhead_chips(ctx: CityContext, rows: np.ndarray, chip_px: int) -> np.ndarray:
    """(len(rows), 3, chip, chip) uint8 chips centred on the photos, from the overhead date
    nearest each photo's capture time."""
    import pandas as pd

    from engine.data.rasters import open_raster
    from engine.models.inputs import rgb_uint8

    dates = pd.to_datetime(ctx.manifest["overhead_dates"], utc=True)
    files = [ctx.city / f"overhead/overhead_{d}.tif" for d in ctx.manifest["overhead_dates"]]
    times = pd.to_datetime(ctx.layer.frame["captured_at"].to_numpy()[rows], utc=True)
    t_ns = times.as_unit("ns").asi8.astype(np.float64)
    gap = np.abs(t_ns[:, None] - dates.as_unit("ns").asi8.astype(np.float64)[None, :])
    which = np.argmin(gap, axis=1)
    out = np.zeros((len(rows), 3, chip_px, chip_px), np.uint8)
    for k, path in enumerate(files):
        sel = np.flatnonzero(which == k)
        if not len(sel):
            continue
        with open_raster(path, target_crs=None) as ras:
            xy = ctx.layer.xy_in(ras.crs)[rows]
            for i in sel:
                win = ras.read_centered(float(xy[i, 0]), float(xy[i, 1]), chip_px)
                out[i] = rgb_uint8(win.data, win.valid)
    return out


def one_photo_per_place(ctx: CityContext) -> np.ndarray:
    """Row numbers of the first photo of each held-out location (ctx.identity_rows; cross-view
    pairs must be unique)."""
    loc = ctx.layer.frame["location_id"].to_numpy()
    _, first = np.unique(loc, return_index=True)
    return np.sort(first[ctx.identity_rows[first]])


def cross_view(embedder: Any, key: str, ctx: CityContext, s: Settings) -> list[dict]:
    """Ground <-> overhead retrieval among the held-out places (one photo and one chip each)."""
    if not getattr(embedder, "has_overhead", False):
        return []
    rows = one_photo_per_place(ctx)
    ground = ctx.photo_embeddings(embedder, key)[rows]
    over = embedder.embed_chips(overhead_chips(ctx, rows, s.chip_px))
    return [{"task": "cross_view", "target": "place", "n": int(len(rows)),
             **metrics.cross_view_retrieval(ground, over)}]


def map_fidelity(model: Any, key: str, ctx: CityContext, s: Settings, work: Path,
                 image_size: int | None = None) -> list[dict]:
    """Photo-free maps (the pipeline's map stages: heads on photos, or on the overhead field
    at the labelled places as Settings.map_head says -> overhead field) vs the truth rasters:
    Pearson r and RMSE on map cells farther than s.min_dist_m from every photo, as scored once
    by map_score.map_vs_truth (photos at `image_size` px, default the map recipe's)."""
    from engine.evaluate.encoder_run import run_encoder

    scores = run_encoder(model, key, ctx.city, work, s, image_size=image_size)["scores"]
    return [{"task": "map_fidelity", "target": t, "pearson": scores[t]["r_photo_free"],
             "rmse": scores[t]["rmse_photo_free"], "n": scores[t]["n_photo_free"]}
            for t in PERCEPTION + SOCIOECONOMIC if t in scores]


def location_encoder(model: Any, ctx: CityContext, s: Settings) -> list[dict]:
    """Tract attributes from the location encoder at the photo points (no image at all)."""
    from engine.embed.locations import location_embeddings

    emb = location_embeddings(model, ctx.layer.lonlat(), device="cpu")
    return socio_rows("location_encoders", ctx, emb, s)


def location_baseline(ctx: CityContext, s: Settings, grid: int = 5) -> list[dict]:
    """The no-learning location baseline through the same ridge head: x, y scaled to the
    city's bounds plus grid x grid Gaussian radial basis functions (width a quarter of the
    side). Bounded features: no wild extrapolation into a held-out block."""
    return socio_rows("location_encoders", ctx, rbf_features(ctx.xy, ctx.manifest["bounds"],
                                                             grid), s)


def rbf_features(xy: np.ndarray, bounds: list[float], grid: int = 5) -> np.ndarray:
    """(N, 2 + grid**2): x, y scaled to 0..1 over `bounds` and Gaussian RBFs on a grid."""
    xmin, ymin, xmax, ymax = (float(v) for v in bounds)
    u = (np.asarray(xy, np.float64) - [xmin, ymin]) / [max(xmax - xmin, 1e-9),
                                                         max(ymax - ymin, 1e-9)]
    c = (np.arange(grid) + 0.5) / grid
    cx, cy = np.meshgrid(c, c)
    d2 = (u[:, None, 0] - cx.ravel()[None]) ** 2 + (u[:, None, 1] - cy.ravel()[None]) ** 2
    return np.column_stack([u, np.exp(-d2 / (2 * 0.25 ** 2))])
