"""From a Config and the batch keys the objectives require to a ready GeoPairDataset.

Reads the street-view layer, resolves the overhead rasters and their dates, mines only the
pair kinds the keys need, fits k-means clusters when asked, and fills the image cache.
"""

from __future__ import annotations

import dataclasses
import glob
import logging
import re
import time
from pathlib import Path
from typing import Any

import numpy as np

from engine.data.pairs import PairParams, mine_pairs
from engine.data.views import ViewOptions, expand_views, view_array
from engine.errors import EngineError
from engine.paths import resolve_path
from engine.progress import Progress, no_progress
from engine.train.config import Config
from engine.train.dataset import (
    GeoPairDataset,
    ImageCache,
    OverheadChips,
    Sources,
    photos_needed,
    usable_anchors,
)

log = logging.getLogger(__name__)

_DATE = re.compile(r"(\d{4}-\d{2}-\d{2})")
_KIND_OF_KEY = {"temporal": "temporal", "spatial": "spatial", "overhead": "crossview",
                "lonlat": "location"}


def overhead_sources(cfg: Config, need_dates: bool = True) -> tuple[list[str], list[str]]:
    """Overhead raster paths (globs expanded, sorted) and one YYYY-MM-DD date per raster
    (no dates when `need_dates` is False and the names carry none)."""
    paths: list[str] = []
    for entry in cfg.data.overhead:
        pattern = str(resolve_path(entry))
        found = sorted(glob.glob(pattern)) if glob.has_magic(pattern) else [pattern]
        paths += [p for p in found if p not in paths]
    missing = [p for p in paths if not Path(p).is_file()]
    if missing:
        raise EngineError(f"overhead raster {missing[0]} does not exist",
                          "check data.overhead (paths or globs, relative to the project root)")
    if cfg.data.overhead_dates is not None:
        dates = list(cfg.data.overhead_dates)
        if len(dates) != len(paths):
            raise EngineError(f"data.overhead_dates has {len(dates)} dates for {len(paths)} "
                              "overhead rasters", "give one YYYY-MM-DD date per raster")
    else:
        dates = []
        for p in paths:
            m = _DATE.search(Path(p).name) or _DATE.search(_dashed(Path(p).name))
            if not m and not need_dates:
                return paths, []
            if not m:
                raise EngineError(f"overhead raster {p} has no YYYY-MM-DD date in its name",
                                  "rename it (overhead_2024-05-01.tif) or set "
                                  "data.overhead_dates")
            dates.append(m.group(1))
    for d in dates:
        try:
            np.datetime64(d, "D")
        except ValueError:
            raise EngineError(f"overhead date {d!r} is not a YYYY-MM-DD date",
                              "fix data.overhead_dates") from None
    return paths, dates


def _dashed(name: str) -> str:
    """rgbn_20160101.tif -> rgbn_2016-01-01.tif: YYYYMMDD dates in names count too."""
    return re.sub(r"(?<!\d)(\d{4})(\d{2})(\d{2})(?!\d)", r"\1-\2-\3", name)


def build_dataset(cfg: Config, keys: set[str], progress: Progress = no_progress,
                  layer: Any = None) -> tuple[GeoPairDataset, dict[str, Any]]:
    """The training dataset for `keys`, plus facts for the model card (counts, sources)."""
    from engine.data.points import read_streetview

    if layer is None:
        path = resolve_path(cfg.data.streetview)
        if not path.exists() and "sample-city" in str(cfg.data.streetview):
            raise EngineError(f"street-view layer {path} does not exist",
                              "make the sample city first: python -m engine sample-city --out "
                              f"{path.parent} --preset small (or set data.streetview)")
        layer = read_streetview(path, cfg.data.layer)
    layer, views = expand_views(layer, ViewOptions(
        mode=cfg.data.panoramas, headings=cfg.data.view_headings, fov=cfg.data.view_fov,
        reference=cfg.data.view_reference))
    frame = layer.frame
    kinds = tuple(sorted({_KIND_OF_KEY[k] for k in keys if k in _KIND_OF_KEY}))
    paths, dates = overhead_sources(cfg) if "overhead" in keys else ([], [])
    params = PairParams(**dataclasses.asdict(cfg.data.pairs))
    pairs = mine_pairs(layer, kinds, params, overhead_dates=dates or None)
    sources = Sources(images=[str(s) for s in frame["image"]], pairs=pairs,
                      views=view_array(frame))
    if "cluster" in keys:
        from engine.data.clusters import location_clusters

        sources.clusters, _ = location_clusters(layer.xy(), cfg.data.clusters, cfg.train.seed)
    if "time" in keys:
        from engine.nn.time_encoder import time_features

        sources.time = np.asarray(time_features(frame["captured_at"]), dtype=np.float32)
    if "overhead" in keys:
        from engine.data.radiometry import to_uint8_scale

        sources.overhead = OverheadChips(paths, _xy_per_raster(layer, paths),
                                         cfg.data.chip_size, cfg.data.chip_res_m,
                                         to_uint8_scale(paths, cfg.data.scale))
    anchors = usable_anchors(len(frame), keys, pairs)
    if anchors.size < 2:
        raise EngineError(
            f"only {anchors.size} of {len(frame)} photos in {layer.source} have the positive "
            f"pairs the objectives need ({', '.join(kinds) or 'none'})",
            "widen data.pairs (radii, time windows) or use a layer with more photos per place")
    if anchors.size < cfg.train.batch_size:  # a batch would hold a photo twice, as its own
        raise EngineError(                  # negative (and a huge one exhausts memory)
            f"train.batch_size={cfg.train.batch_size} is more than the {anchors.size} photos "
            f"of {layer.source} that can anchor a batch",
            f"use train.batch_size={anchors.size} or less")
    cache = ImageCache(cfg.data.image_size, enabled=cfg.data.cache_images,
                       resize=cfg.data.resize)
    fill_s = 0.0
    if cfg.data.cache_images and cfg.train.regime != "frozen":  # frozen: features cached
        needed = photos_needed(anchors, keys, pairs)
        t0 = time.perf_counter()
        cache.fill([sources.images[i] for i in needed], progress,
                   None if sources.views is None else [sources.views[i] for i in needed])
        fill_s = time.perf_counter() - t0
    info = {"photos": len(frame), "anchors": int(anchors.size), "pairs": dict(pairs.stats),
            "overhead": paths, "overhead_dates": dates, "streetview": str(layer.source),
            "cached_photos": len(cache), "cached_mb": round(cache.nbytes() / 2**20, 2),
            "cache_fill_s": round(fill_s, 3), "resize": cfg.data.resize,
            "panorama_views": views}
    log.info("training data: %s", info)
    dataset = GeoPairDataset(sources, keys, anchors, cfg.data.image_size, cache, cfg.train.seed)
    return dataset, info


def _xy_per_raster(layer: Any, paths: list[str]) -> list[np.ndarray]:
    """Photo coordinates in each raster's own CRS (chips are cut on the raster's grid).

    A raster that covers none of the photos is refused (cross-view pairs would be all
    nodata); one that covers few of them is logged.
    """
    from engine.data.coords import check_overlap
    from engine.data.rasters import open_raster

    out = []
    for path in paths:
        with open_raster(path) as raster:
            xy = layer.xy_in(raster.crs)
            inside = check_overlap(
                raster.bounds, raster.crs, f"overhead raster {path}", xy, None,
                f"the photos of {layer.source}",
                "give data.overhead rasters that cover the photos (e.g. "
                "`python -m engine.train --config R.yaml data.overhead=[PATH]`)")
            if inside.mean() < 0.5:
                log.warning("overhead raster %s covers only %d of %d photos", path,
                            int(inside.sum()), len(xy))
            out.append(xy)
    return out
