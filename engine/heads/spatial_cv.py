"""Spatial blocks and block folds: neighbours stay on the same side of a train/test split."""

from __future__ import annotations

import logging

import numpy as np

from engine.errors import EngineError

log = logging.getLogger(__name__)


def _check_xy(xy: np.ndarray) -> np.ndarray:
    xy = np.asarray(xy, dtype=np.float64)
    if xy.ndim != 2 or xy.shape[1] != 2:
        raise EngineError(
            f"coordinates must be an (N, 2) array of x, y in metres, got shape {xy.shape}",
            "pass layer.xy() (projected metres), not lon/lat degrees or a flat list",
        )
    bad = ~np.isfinite(xy).all(axis=1)
    if bad.any():
        raise EngineError(
            f"coordinates of row {int(np.flatnonzero(bad)[0])} are not finite "
            f"({int(bad.sum())} such rows)",
            "drop rows without a geometry before cross-validation",
        )
    return xy


def spatial_blocks(xy: np.ndarray, block_size_m: float) -> np.ndarray:
    """Square-grid block id (0..B-1, int64) of each row's x, y (metres, projected CRS).

    The grid starts at the minimum x, y so ids do not depend on a false easting.
    """
    xy = _check_xy(xy)
    if not np.isfinite(block_size_m) or block_size_m <= 0:
        raise EngineError(
            f"block_size_m must be a positive number of metres, got {block_size_m!r}",
            "use a block larger than the range of spatial autocorrelation, e.g. 500",
        )
    if len(xy) == 0:
        return np.zeros(0, dtype=np.int64)
    cells = np.floor((xy - xy.min(axis=0)) / float(block_size_m)).astype(np.int64)
    _, ids = np.unique(cells, axis=0, return_inverse=True)
    return ids.reshape(-1).astype(np.int64)


def _merge_groups(blocks: np.ndarray, xy: np.ndarray, groups: np.ndarray,
                  block_size_m: float) -> np.ndarray:
    """Give every row of one group the block of the group's mean position."""
    groups = np.asarray(groups)
    if groups.shape[0] != xy.shape[0]:
        raise EngineError(
            f"groups has {groups.shape[0]} rows but the coordinates have {xy.shape[0]}",
            "pass one group id (e.g. location_id or tract_id) per row",
        )
    _, ginv = np.unique(groups, return_inverse=True)
    ginv = ginv.reshape(-1)
    n_groups = int(ginv.max()) + 1 if len(ginv) else 0
    counts = np.bincount(ginv, minlength=n_groups).astype(np.float64)
    centre = np.stack([np.bincount(ginv, weights=xy[:, k], minlength=n_groups) / counts
                       for k in range(2)], axis=1)
    # the block a group's centre falls in, on the same grid as the rows' blocks
    cells = np.floor((centre - xy.min(axis=0)) / float(block_size_m)).astype(np.int64)
    _, ids = np.unique(cells, axis=0, return_inverse=True)
    return ids.reshape(-1)[ginv].astype(np.int64)


def spatial_folds(xy: np.ndarray, block_size_m: float, n_folds: int, seed: int,
                  groups: np.ndarray | None = None) -> np.ndarray:
    """Fold id (0..n_folds-1, int64) per row; whole blocks go to folds, every fold non-empty.

    Blocks are visited in a seeded random order and each goes to the fold with the fewest
    rows so far, which keeps folds balanced. `groups` (e.g. location_id) keeps every row of
    a group in the block of the group's mean position, so a group is never split.
    """
    xy = _check_xy(xy)
    if int(n_folds) != n_folds or n_folds < 2:
        raise EngineError(f"n_folds must be an integer >= 2, got {n_folds!r}",
                          "use 5 folds (or fewer when there are few blocks)")
    n_folds = int(n_folds)
    blocks = spatial_blocks(xy, block_size_m)
    if groups is not None:
        blocks = _merge_groups(blocks, xy, groups, block_size_m)
    uniq, blocks = np.unique(blocks, return_inverse=True)
    blocks = blocks.reshape(-1)
    n_blocks = len(uniq)
    if n_blocks < n_folds:
        raise EngineError(
            f"only {n_blocks} spatial block(s) of {block_size_m:g} m hold data, "
            f"fewer than the {n_folds} folds asked for",
            "use a smaller block_size_m or fewer folds",
        )
    sizes = np.bincount(blocks, minlength=n_blocks)
    rng = np.random.default_rng(seed)
    order = rng.permutation(n_blocks)
    fold_rows = np.zeros(n_folds, dtype=np.int64)
    fold_of_block = np.empty(n_blocks, dtype=np.int64)
    tie = rng.permutation(n_folds)  # seeded tie-break among equally filled folds
    for b in order:
        f = int(tie[np.argmin(fold_rows[tie])])
        fold_of_block[b] = f
        fold_rows[f] += sizes[b]
    log.debug("spatial folds: %d blocks -> %d folds of %s rows", n_blocks, n_folds,
              fold_rows.tolist())
    return fold_of_block[blocks]


POLYGON_BLOCK_FACTOR = 2.0   # default block: this many median polygon diameters
BLOCKS_PER_FOLD = 4          # points: blocks sized for about this many per fold


def derive_block_size(xy: np.ndarray, n_folds: int,
                      diameters: np.ndarray | None = None) -> tuple[float, str]:
    """A CV block side (metres) from the label geometry, and the reason in words.

    Polygons: POLYGON_BLOCK_FACTOR x their median diameter, so a block holds a few whole
    polygons (not one per block, which is random CV in disguise). Points: the side that cuts
    their extent into about BLOCKS_PER_FOLD blocks per fold, and at least 5 x the median
    nearest-neighbour spacing.
    """
    xy = _check_xy(xy)
    if diameters is not None and len(diameters) and np.isfinite(diameters).any():
        med = float(np.nanmedian(diameters))
        # few polygons (a small city's tracts) may all fall in one block at the factor:
        # smaller blocks, down to one polygon's size, still keep neighbours apart
        for factor in (POLYGON_BLOCK_FACTOR, 1.5, 1.0):
            size = factor * med
            if len(np.unique(spatial_blocks(xy, size))) >= 2:
                break
        why = f"{factor:g} x the median polygon diameter ({med:.0f} m)"
        if factor != POLYGON_BLOCK_FACTOR:
            why += (f"; at {POLYGON_BLOCK_FACTOR:g} x the labels fell in a single block, so "
                    "no spatial cross-validation was possible")
        return size, why
    if len(xy) < 2:
        raise EngineError("cross-validation needs at least two labelled rows",
                          "label more points")
    span = xy.max(axis=0) - xy.min(axis=0)
    area = float(max(span[0], 1.0) * max(span[1], 1.0))
    by_extent = float(np.sqrt(area / (BLOCKS_PER_FOLD * max(int(n_folds), 2))))
    from scipy.spatial import cKDTree

    d, _ = cKDTree(xy).query(xy, k=2)
    spacing = float(np.median(d[:, 1]))
    size = max(by_extent, 5.0 * spacing)
    return size, (f"about {BLOCKS_PER_FOLD} blocks per fold over the points' extent "
                  f"({span[0]:.0f} x {span[1]:.0f} m), at least 5 x their median spacing "
                  f"({spacing:.0f} m)")


def check_folds(xy: np.ndarray, block_size_m: float, n_folds: int,
                groups: np.ndarray | None = None) -> tuple[int, str | None]:
    """Folds that the blocks allow: n_folds, or fewer (with a note) when there are fewer
    blocks than folds; an EngineError naming --block-size when under two blocks hold data."""
    blocks = spatial_blocks(xy, block_size_m)
    if groups is not None:
        blocks = _merge_groups(blocks, _check_xy(xy), groups, block_size_m)
    n_blocks = len(np.unique(blocks))
    if n_blocks < 2:
        raise EngineError(
            f"only {n_blocks} spatial block of {block_size_m:.0f} m holds the labelled rows: "
            "no spatial cross-validation is possible",
            f"pass a smaller --block-size (e.g. {block_size_m / 4:.0f}) or label a larger area")
    if n_blocks < n_folds:
        note = (f"only {n_blocks} blocks of {block_size_m:.0f} m hold data: {n_blocks} folds "
                f"instead of {n_folds} (set --folds or --block-size)")
        log.warning("%s", note)
        return n_blocks, note
    return int(n_folds), None
