"""Panorama rows -> one row per perspective view, so every later stage sees one view per row.

A row is a panorama when its `is_pano` field says so (provider metadata, EXIF XMP GPano), or,
in mode "auto" where that is unknown, when its photo is 2:1 (engine.data.panorama). Each
panorama becomes len(headings) rows that share its point, capture time, location_id and
other fields, with `view_yaw` (degrees from the panorama's centre column), `view_fov`,
`pano_heading` (the panorama's own compass angle) and `heading` = the view's absolute
compass heading (NaN when the panorama's is unknown). Perspective rows get NaN view fields.
Loading a row with a finite `view_yaw` cuts that view (engine.models.photo_input).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from engine.data.imagery_options import (
    DEFAULT_VIEW_FOV,
    DEFAULT_VIEW_HEADINGS,
    PANORAMA_MODES,
    VIEW_REFERENCES,
    VIEW_SETTINGS,
)
from engine.data.panorama import check_fov, looks_equirectangular, parse_view_headings
from engine.errors import EngineError

if TYPE_CHECKING:
    from engine.data.points import StreetViewLayer

log = logging.getLogger(__name__)

VIEW_FIELDS = ("view_yaw", "view_fov", "pano_heading")


@dataclass(frozen=True)
class ViewOptions:
    """How panoramas are recognised and cut (see module doc)."""

    mode: str = "auto"
    headings: tuple[float, ...] = DEFAULT_VIEW_HEADINGS
    fov: float = DEFAULT_VIEW_FOV
    reference: str = "pano"  # headings relative to the panorama's centre, or to north

    def __post_init__(self) -> None:
        if self.mode not in PANORAMA_MODES:
            raise EngineError(f"unknown panorama mode {self.mode!r}",
                              f"pass --panoramas with one of {', '.join(PANORAMA_MODES)}")
        if self.reference not in VIEW_REFERENCES:
            raise EngineError(f"unknown view heading reference {self.reference!r}",
                              f"pass --view-reference with one of {', '.join(VIEW_REFERENCES)}")
        object.__setattr__(self, "headings", parse_view_headings(self.headings))
        object.__setattr__(self, "fov", check_fov(self.fov))


def view_options_from(given: dict[str, Any], model_data: dict[str, Any] | None = None
                      ) -> ViewOptions:
    """ViewOptions from settings named as in VIEW_SETTINGS; a setting that is None or absent
    comes from `model_data` (a model config's `data:` section), else the engine default."""
    model_data = model_data or {}
    chosen = {}
    for key, default in VIEW_SETTINGS.items():
        value = given.get(key)
        chosen[key] = value if value is not None else model_data.get(key, default)
    return ViewOptions(mode=chosen["panoramas"], headings=chosen["view_headings"] or
                       DEFAULT_VIEW_HEADINGS, fov=chosen["view_fov"],
                       reference=chosen["view_reference"])


def has_views(frame: pd.DataFrame) -> bool:
    """True when the rows already are views (a `view_yaw` field, e.g. from import-photos)."""
    return "view_yaw" in frame.columns


def find_panoramas(frame: pd.DataFrame, mode: str) -> np.ndarray:
    """(N,) bool: which rows are panoramas under `mode` (reads photo headers only in auto)."""
    n = len(frame)
    if mode == "none":
        return np.zeros(n, dtype=bool)
    if mode == "all":
        return np.ones(n, dtype=bool)
    flag = (pd.to_numeric(frame["is_pano"], errors="coerce").to_numpy("float64")
            if "is_pano" in frame.columns else np.full(n, np.nan))
    out = flag == 1.0
    unknown = np.flatnonzero(np.isnan(flag))
    images = frame["image"].to_numpy()
    for i in unknown:
        out[i] = looks_equirectangular(images[i])
    return out


def expand_views(layer: StreetViewLayer, options: ViewOptions | None = None
                 ) -> tuple[StreetViewLayer, dict[str, Any]]:
    """The layer with every panorama row replaced by its views; (layer, report)."""
    options = options or ViewOptions()
    frame = layer.frame
    if has_views(frame):
        n_views = int(np.isfinite(frame["view_yaw"].to_numpy("float64")).sum())
        return layer, {"panoramas": None, "views": n_views, "photos": len(frame) - n_views,
                       "note": "rows already are views (field view_yaw)"}
    pano = find_panoramas(frame, options.mode)
    report = {"panoramas": int(pano.sum()), "photos": int((~pano).sum()),
              "views": int(pano.sum()) * len(options.headings),
              "view_headings": list(options.headings), "view_fov": options.fov,
              "view_reference": options.reference, "panorama_mode": options.mode}
    if not pano.any():
        return layer, report
    heading = frame["heading"].to_numpy("float64")
    reps = np.where(pano, len(options.headings), 1)
    rows = np.repeat(np.arange(len(frame)), reps)
    out = frame.iloc[rows].reset_index(drop=True)
    k = np.concatenate([np.arange(r) for r in reps])
    is_view = pano[rows]
    wanted = np.asarray(options.headings, dtype="float64")[np.where(is_view, k, 0)]
    pano_heading = heading[rows]
    if options.reference == "north":
        yaw = (wanted - pano_heading) % 360.0
        unknown = is_view & np.isnan(pano_heading)
        if unknown.any():
            log.warning("%d panorama view(s) have no compass angle: their headings are taken "
                        "relative to the panorama centre", int(unknown.sum()))
        yaw = np.where(np.isnan(yaw), wanted, yaw)
    else:
        yaw = wanted
    absolute = (pano_heading + yaw) % 360.0
    out["view_yaw"] = np.where(is_view, yaw, np.nan)
    out["view_fov"] = np.where(is_view, options.fov, np.nan)
    out["pano_heading"] = np.where(is_view, pano_heading, np.nan)
    out["heading"] = np.where(is_view, absolute, heading[rows])
    out["is_pano"] = is_view.astype("int32")
    log.info("%s: %d panoramas cut into %d views (%s° at fov %.0f°, relative to %s); "
             "%d perspective photos", layer.source, report["panoramas"], report["views"],
             ",".join(f"{h:g}" for h in options.headings), options.fov, options.reference,
             report["photos"])
    return replace(layer, frame=out), report


def view_array(frame: pd.DataFrame) -> np.ndarray | None:
    """(N, 2) float64 view_yaw, view_fov per row (NaN: a whole photo), or None if no views."""
    if not has_views(frame):
        return None
    return np.column_stack([frame["view_yaw"].to_numpy("float64"),
                            frame["view_fov"].to_numpy("float64")])
