"""Overhead-only training data: chips of one or more rasters, no photos (data.streetview: null).

Which places: `data.anchors` chip centres drawn (seeded) among the valid pixels of the first
raster (a decimated validity map), in its CRS. Reading a place: engine.data.rasters' centred
window on each raster's own grid, turned into model input by the raster's radiometry
(engine.data.radiometry; bands and scaling from data.bands / data.scaling / data.scale).

Batch keys: view1, view2 (two augmentations of one place on one date: random shift, flips,
rot90, per-band brightness/contrast jitter, noise), temporal (the same place on another
raster: several dates of one area), cluster (k-means of the place's x, y: GeoSSL's pretext).
"""

from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import Iterator
from typing import Any

import numpy as np
import torch
from torch.utils.data import Dataset

from engine.errors import EngineError
from engine.train.augment import sample_rng

log = logging.getLogger(__name__)

RASTER_KEYS = ("view1", "view2", "temporal", "cluster")
VALID_SIDE = 512  # anchors are drawn on a validity map decimated to this many px a side


def augment_chip(x: np.ndarray, g: np.random.Generator, jitter: float = 0.2,
                 noise: float = 0.05) -> np.ndarray:
    """Flip, rot90, per-band contrast/brightness jitter and noise of a standardised chip."""
    if g.random() < 0.5:
        x = x[:, :, ::-1]
    x = np.rot90(x, int(g.integers(0, 4)), axes=(1, 2))
    c = x.shape[0]
    mean = x.mean(axis=(1, 2), keepdims=True)
    contrast = 1.0 + jitter * g.standard_normal((c, 1, 1))
    bright = jitter * g.standard_normal((c, 1, 1))
    x = (x - mean) * contrast + mean + bright + noise * g.standard_normal(x.shape)
    return np.ascontiguousarray(x, dtype=np.float32)


def draw_anchors(path: str, n: int, seed: int) -> tuple[np.ndarray, Any]:
    """(n, 2) x, y of chip centres among valid pixels of `path` (seeded) and its CRS."""
    import rasterio

    with rasterio.open(path) as src:
        f = max(1.0, max(src.width, src.height) / VALID_SIDE)
        h, w = max(1, int(src.height / f)), max(1, int(src.width / f))
        ok = (src.read_masks(out_shape=(src.count, h, w)) > 0).all(axis=0)
        transform, crs = src.transform, src.crs
        sx, sy = src.width / w, src.height / h
    rows, cols = np.nonzero(ok)
    if len(rows) < 2:
        raise EngineError(f"{path} has no valid pixels to train on",
                          "check the raster's nodata value")
    rng = np.random.default_rng(seed)
    pick = rng.integers(0, len(rows), n)
    c = (cols[pick] + rng.random(n)) * sx
    r = (rows[pick] + rng.random(n)) * sy
    x, y = transform * (c, r)
    return np.column_stack([np.asarray(x, np.float64), np.asarray(y, np.float64)]), crs


class RasterChips(Dataset):
    """Anchor places -> dicts of the requested RASTER_KEYS (float chips, cluster ids)."""

    def __init__(self, paths: list[str], radiometries: list[Any], xy: list[np.ndarray],
                 chip_px: int, res: float, keys: set[str], seed: int, max_shift_px: int,
                 clusters: np.ndarray | None = None) -> None:
        unknown = sorted(set(keys) - set(RASTER_KEYS))
        if unknown:
            raise EngineError(
                f"overhead-only training cannot give batch key(s) {unknown}: they need photos",
                "use the objectives self, temporal and geo_pretext, or set data.streetview")
        if "temporal" in keys and len(paths) < 2:
            raise EngineError("the temporal objective needs rasters of at least two dates",
                              "list several dates in data.overhead, or drop temporal")
        self.paths, self.rads, self.xy = paths, radiometries, xy
        self.chip_px, self.res, self.keys, self.seed = int(chip_px), float(res), set(keys), seed
        self.max_shift = int(max_shift_px)
        self.clusters = clusters
        self._open: dict[int, Any] = {}
        self._pid = -1

    def __len__(self) -> int:
        return int(self.xy[0].shape[0])

    def __getstate__(self) -> dict[str, Any]:  # spawn-started workers: no GDAL handles
        return {**self.__dict__, "_open": {}, "_pid": -1}

    def _raster(self, r: int) -> Any:
        if self._pid != os.getpid():
            self._open, self._pid = {}, os.getpid()
        if r not in self._open:
            from engine.data.rasters import open_raster

            raster = open_raster(self.paths[r])
            raster.band_indexes = list(self.rads[r].bands)
            self._open[r] = raster
        return self._open[r]

    def chip(self, r: int, i: int, g: np.random.Generator) -> torch.Tensor:
        """An augmented (C, chip, chip) chip of raster r around anchor i (shifted at random)."""
        dx, dy = g.integers(-self.max_shift, self.max_shift + 1, 2) * self.res
        x, y = self.xy[r][i]
        win = self._raster(r).read_centered(float(x + dx), float(y + dy), self.chip_px,
                                            res=self.res)
        return torch.from_numpy(augment_chip(self.rads[r].normalise(win.data, win.valid), g))

    def __getitem__(self, key: tuple[int, int] | int) -> dict[str, torch.Tensor]:
        epoch, i = key if isinstance(key, tuple) else (0, key)
        g = sample_rng(self.seed, epoch, i)
        n = len(self.paths)
        r = int(g.integers(0, n))
        out: dict[str, torch.Tensor] = {}
        if "view1" in self.keys:
            out["view1"] = self.chip(r, i, g)
        if "view2" in self.keys:
            out["view2"] = self.chip(r, i, g)
        if "temporal" in self.keys:
            other = (r + 1 + int(g.integers(0, n - 1))) % n
            out["temporal"] = self.chip(other, i, g)
        if "cluster" in self.keys:
            out["cluster"] = torch.tensor(int(self.clusters[i]), dtype=torch.long)
        return out

    def close(self) -> None:
        for raster in self._open.values():
            raster.close()
        self._open = {}


def raster_sources(cfg: Any, need_dates: bool) -> list[str]:
    """The overhead rasters of an overhead-only recipe (globs expanded)."""
    from engine.train.data import overhead_sources

    paths, _ = overhead_sources(cfg, need_dates=need_dates)
    if not paths:
        raise EngineError("an overhead-only recipe needs rasters in data.overhead",
                          "e.g. data.overhead=[scene.tif] (paths or globs)")
    return paths


# the embed-raster flags the radiometry's messages name, as the recipe keys training takes
_RECIPE_WORDS = (("--scaling ", "data.scaling="), ("--scale ", "data.scale="),
                 ("--bands ", "data.bands="), ("--scaling", "data.scaling"),
                 ("--scale", "data.scale"), ("--bands", "data.bands"))


@contextlib.contextmanager
def recipe_words() -> Iterator[None]:
    """Re-raise an EngineError of engine.data.radiometry in the recipe's words (training
    has no --scale flag: it takes data.scale=)."""
    try:
        yield
    except EngineError as exc:
        message, hint = exc.message, exc.hint
        for flag, key in _RECIPE_WORDS:
            message, hint = message.replace(flag, key), hint.replace(flag, key)
        raise EngineError(message, hint) from None


def raster_record(cfg: Any) -> dict[str, Any]:
    """Measure the first raster's radiometry and sizes: the model's `input:` record."""
    from engine.data.radiometry import measure, parse_bands
    from engine.data.rasters import OverheadRaster

    paths = raster_sources(cfg, need_dates=False)
    d = cfg.data
    with OverheadRaster(paths[0]):  # a missing CRS is named as such, not as "degrees"
        pass
    with recipe_words():
        rad = measure(paths[0], parse_bands(d.bands, paths[0]), d.scaling, d.scale)
    if not rad.gsd_m:
        raise EngineError(f"{paths[0]} is in degrees: overhead-only training needs metres",
                          "reproject it first (gdalwarp -t_srs EPSG:<UTM zone>)")
    chip_px = max(4, round(d.chip_m / rad.gsd_m)) if d.chip_m else int(d.chip_size)
    return {**rad.to_dict(), "chip_px": chip_px, "chip_m": round(chip_px * rad.gsd_m, 3),
            "rasters": paths}


def check_chips_fit(paths: list[str], radiometries: list[Any], chip_px: int,
                    gsd_m: float) -> None:
    """Refuse, before training, a raster smaller than one chip (chip_px pixels of gsd_m
    metres: embed-raster's rule, engine.embed.grid.check_one_chip, in each raster's own
    pixels) or whose grid is not north-up (engine.data.rasters.north_up_flip)."""
    from engine.data.rasters import open_raster
    from engine.embed.grid import check_one_chip

    for path, rad in zip(paths, radiometries, strict=True):
        res = rad.gsd_m or gsd_m
        with open_raster(path) as raster:
            check_one_chip(path, raster.width, raster.height,
                           max(1, round(chip_px * gsd_m / res)), res,
                           flags=("data.chip_size={}", "data.chip_m={}"))


def build_raster_dataset(cfg: Any, keys: set[str]) -> tuple[RasterChips, dict[str, Any]]:
    """The overhead-only dataset for `keys`, plus facts for the model card."""
    from engine.data.crs import same_crs, transform_xy
    from engine.data.radiometry import Radiometry, measure

    rec = cfg.input or raster_record(cfg)
    paths = raster_sources(cfg, need_dates="temporal" in keys)
    base = Radiometry.from_dict(rec)
    with recipe_words():
        rads = [base] + [measure(p, base.bands, base.scaling, cfg.data.scale)
                         for p in paths[1:]]
    for p, r in zip(paths[1:], rads[1:], strict=True):
        if base.scaling == "tags":
            r.mean, r.std = list(base.mean), list(base.std)
        if r.gsd_m and abs(r.gsd_m - base.gsd_m) > 0.01 * base.gsd_m:
            log.info("%s has %g m pixels (first raster %g m): chips are resampled", p,
                     r.gsd_m, base.gsd_m)
    check_chips_fit(paths, rads, int(rec["chip_px"]), float(base.gsd_m))
    xy0, crs0 = draw_anchors(paths[0], int(cfg.data.anchors), cfg.train.seed)
    xy = [xy0]
    import rasterio

    for p in paths[1:]:
        with rasterio.open(p) as src:
            xy.append(xy0 if same_crs(src.crs, crs0) else transform_xy(xy0, crs0, src.crs))
    clusters = None
    if "cluster" in keys:
        from engine.data.clusters import location_clusters

        clusters, _ = location_clusters(xy0, cfg.data.clusters, cfg.train.seed)
    ds = RasterChips(paths, rads, xy, int(rec["chip_px"]), float(base.gsd_m), keys,
                     cfg.train.seed, int(cfg.data.max_shift_px), clusters)
    info = {"rasters": paths, "anchors": len(ds), "chip_px": rec["chip_px"],
            "chip_m": rec["chip_m"], "radiometry": base.describe(), "gsd_m": base.gsd_m}
    log.info("overhead-only training data: %s", info)
    return ds, info
