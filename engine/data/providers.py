"""Street-level imagery providers' metadata as exported: map it onto the engine's fields.

Mapillary (API v4 / vector-tile exports as GeoJSON or CSV): `captured_at` in epoch
milliseconds, `compass_angle` / `computed_compass_angle`, `sequence` / `sequence_id`,
`is_pano`, `camera_type` (spherical / equirectangular), `computed_geometry` (a GeoJSON point,
as text or columns computed_lon/computed_lat) beside the original position, `id` (photos
downloaded as <id>.jpg). KartaView: `shotDate`, `heading`, `sequenceId`, `projection`
(SPHERE = 360°), `lat`/`lng` and map-matched `matchLat`/`matchLng`.

`apply_providers` returns the frame with engine fields filled in (captured_at as ISO 8601
text, heading, sequence_id, is_pano, image, the chosen position) and a report of what was
found where, so a user sees which source field became which engine field.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd

from engine.data.imagery_options import POSITIONS
from engine.errors import EngineError

log = logging.getLogger(__name__)

EPOCH_MS_MIN = 1e11  # numeric times above this are epoch milliseconds (1973+), else seconds
HEADING_NAMES = ("heading", "direction", "bearing", "azimuth")  # the engine's own (points.py)
COMPASS_FIELDS = {"computed": ("computed_compass_angle", "compass_angle"),
                  "original": ("compass_angle", "computed_compass_angle")}
TIME_SOURCES = ("captured_at", "shotdate", "shot_date", "timestamp", "taken_at")
SEQUENCE_FIELDS = ("sequence_id", "sequence", "sequenceid", "sequence_key", "seq_id")
PANO_FLAGS = ("is_pano", "ispano", "pano")
PANO_KINDS = {"camera_type": ("spherical", "equirectangular"), "projection": ("sphere",),
              "projection_type": ("equirectangular", "spherical")}
ID_FIELDS = ("id", "image_id", "photo_id", "key")
IMAGE_NAMES = ("image", "photo", "image_path", "path", "filepath")
COMPUTED_XY = (("computed_lon", "computed_lat"), ("computed_longitude", "computed_latitude"),
               ("matchlng", "matchlat"), ("match_lng", "match_lat"))
DEFAULT_IMAGE_TEMPLATE = "{id}.jpg"
_TRUE = {"1", "true", "t", "yes", "y"}
_FALSE = {"0", "false", "f", "no", "n"}


@dataclass
class ProviderReport:
    """Which source field became which engine field (engine field -> description)."""

    provider: str = "generic"
    fields: dict[str, str] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {"provider": self.provider, **self.fields}


def _col(frame: pd.DataFrame, names: tuple[str, ...]) -> str | None:
    lower = {str(c).lower(): c for c in frame.columns if c != frame.geometry.name}
    return next((lower[n] for n in names if n in lower), None)


def _epoch_to_iso(values: pd.Series, where: str, name: str) -> tuple[pd.Series, str]:
    """Epoch numbers (ms or s) -> ISO 8601 UTC text (None when missing); (text, unit)."""
    numbers = pd.to_numeric(values, errors="coerce")
    finite = numbers[np.isfinite(numbers)]
    if finite.empty:
        return pd.Series([None] * len(values), index=values.index, dtype=object), "empty"
    unit = "ms" if float(finite.abs().median()) >= EPOCH_MS_MIN else "s"
    times = pd.to_datetime(numbers, unit=unit, utc=True, errors="coerce")
    text = times.dt.strftime("%Y-%m-%dT%H:%M:%S.%fZ").str.replace(".000000Z", "Z", regex=False)
    log.info("%s: field %r holds epoch %s; read as UTC", where, name,
             "milliseconds" if unit == "ms" else "seconds")
    return text.where(times.notna(), None).astype(object), unit


def _is_numeric_times(values: pd.Series) -> bool:
    if pd.api.types.is_numeric_dtype(values.dtype) and not pd.api.types.is_bool_dtype(values):
        return True
    if values.dtype != object:
        return False
    text = values.dropna().astype(str).str.strip()
    return not text.empty and bool(text.str.fullmatch(r"\d{9,14}(\.\d*)?").all())


def _flags(values: pd.Series) -> pd.Series:
    """Booleans / 0-1 / 'true'-'false' text -> float 1.0 / 0.0 / NaN (unknown)."""
    def one(v: object) -> float:
        if v is None or (isinstance(v, float) and np.isnan(v)):
            return np.nan
        if isinstance(v, (bool, np.bool_, int, np.integer, float, np.floating)):
            return 1.0 if bool(v) else 0.0
        text = str(v).strip().lower()
        return 1.0 if text in _TRUE else 0.0 if text in _FALSE else np.nan
    return values.astype(object).map(one).astype("float64")


def _point_of(value: object) -> tuple[float, float] | None:
    """A GeoJSON point (dict or JSON text) -> (lon, lat), else None."""
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError:
            return None
    if not isinstance(value, dict):
        return None
    coords = value.get("coordinates")
    try:
        lon, lat = float(coords[0]), float(coords[1])
    except (TypeError, ValueError, IndexError, KeyError):
        return None
    return (lon, lat) if np.isfinite([lon, lat]).all() else None


def _computed_lonlat(frame: gpd.GeoDataFrame) -> tuple[np.ndarray, str] | None:
    """(N, 2) lon, lat of the computed (SfM / map-matched) positions, NaN where absent."""
    name = _col(frame, ("computed_geometry",))
    if name is not None:
        points = [_point_of(v) for v in frame[name].tolist()]
        lonlat = np.array([p if p else (np.nan, np.nan) for p in points], dtype="float64")
        return lonlat, name
    for lon_name, lat_name in COMPUTED_XY:
        lon, lat = _col(frame, (lon_name,)), _col(frame, (lat_name,))
        if lon is not None and lat is not None:
            lonlat = np.column_stack([pd.to_numeric(frame[lon], errors="coerce"),
                                      pd.to_numeric(frame[lat], errors="coerce")])
            return lonlat.astype("float64"), f"{lon}/{lat}"
    return None


def _apply_position(frame: gpd.GeoDataFrame, position: str, where: str,
                    report: ProviderReport) -> gpd.GeoDataFrame:
    found = _computed_lonlat(frame)
    if found is None:
        if position == "computed":
            report.fields["position"] = "the features' own geometry (no computed position)"
        return frame
    lonlat, name = found
    if name in frame.columns and frame[name].map(lambda v: isinstance(v, dict)).any():
        # nested GeoJSON objects come back as dicts: keep them as GeoJSON text
        frame[name] = frame[name].map(lambda v: json.dumps(v) if isinstance(v, dict) else v)
    ok = np.isfinite(lonlat).all(axis=1) & (np.abs(lonlat[:, 0]) <= 180) & (
        np.abs(lonlat[:, 1]) <= 90)
    if position == "original":
        report.fields["position"] = f"the features' own geometry (original; {name} ignored)"
        return frame
    points = gpd.GeoSeries(gpd.points_from_xy(lonlat[:, 0], lonlat[:, 1]), crs="EPSG:4326",
                           index=frame.index)
    if frame.crs is not None:
        points = points.to_crs(frame.crs)
    geometry = frame.geometry.where(~ok, points)
    frame = frame.set_geometry(gpd.GeoSeries(geometry, crs=frame.crs, index=frame.index))
    report.fields["position"] = (f"{name} (computed) for {int(ok.sum())} of {len(frame)}; "
                                 "the features' own geometry for the others")
    if not ok.all():
        log.warning("%s: %d of %d rows have no computed position; their original is used",
                    where, int((~ok).sum()), len(frame))
    return frame


def _apply_image(frame: gpd.GeoDataFrame, base_dir: Path, template: str | None,
                 image_field: str | None, report: ProviderReport) -> gpd.GeoDataFrame:
    if image_field is not None or (template is None and _col(frame, IMAGE_NAMES)):
        return frame
    id_name = _col(frame, ID_FIELDS)
    template = template or DEFAULT_IMAGE_TEMPLATE
    if id_name is None and "{id}" in template:
        return frame
    ids = frame[id_name] if id_name is not None else pd.Series("", index=frame.index)
    try:
        names = [template.format(id=_id_text(v)) for v in ids.tolist()]
    except (KeyError, IndexError, ValueError) as exc:
        raise EngineError(f"image template {template!r} cannot be filled ({exc})",
                          "use {id} for the photo id, e.g. --image-template images/{id}.jpg"
                          ) from None
    frame = frame.copy()
    frame["image"] = names
    report.fields["image"] = f"{template} (from field {id_name!r}, relative to {base_dir})"
    return frame


def _id_text(value: object) -> str:
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def apply_providers(frame: gpd.GeoDataFrame, where: str, base_dir: Path, *,
                    position: str = "computed", image_template: str | None = None,
                    image_field: str | None = None) -> tuple[gpd.GeoDataFrame, ProviderReport]:
    """Provider fields -> engine fields (see module doc); (frame, report)."""
    if position not in POSITIONS:
        raise EngineError(f"unknown position {position!r}",
                          f"pass --position {' or --position '.join(POSITIONS)}")
    report = ProviderReport()
    lower = {str(c).lower() for c in frame.columns}
    if lower & {"compass_angle", "computed_compass_angle", "computed_geometry", "is_pano",
                "camera_type"}:
        report.provider = "mapillary"
    elif lower & {"shotdate", "sequenceid", "matchlat", "projection"}:
        report.provider = "kartaview"
    frame = frame.copy()
    time_name = _col(frame, TIME_SOURCES)
    if time_name is not None:
        if _is_numeric_times(frame[time_name]):
            text, unit = _epoch_to_iso(frame[time_name], where, time_name)
            frame = frame.drop(columns=[time_name])
            frame["captured_at"] = text
            report.fields["captured_at"] = f"{time_name} (epoch {unit}, UTC)"
        elif time_name.lower() != "captured_at":
            frame["captured_at"] = frame[time_name]
            report.fields["captured_at"] = f"{time_name} (ISO 8601 text)"
        else:
            report.fields["captured_at"] = f"{time_name} (ISO 8601 text)"
    if _col(frame, HEADING_NAMES) is None:
        compass = _col(frame, COMPASS_FIELDS[position])
        if compass is not None:
            frame["heading"] = pd.to_numeric(frame[compass], errors="coerce")
            report.fields["heading"] = f"{compass} (degrees from north)"
    else:
        report.fields["heading"] = str(_col(frame, HEADING_NAMES))
    seq = _col(frame, SEQUENCE_FIELDS)
    if seq is not None:
        values = frame[seq]
        frame["sequence_id"] = values.astype(object).map(
            lambda v: None if v is None or (isinstance(v, float) and np.isnan(v)) else _id_text(v))
        report.fields["sequence_id"] = seq
    flag = _col(frame, PANO_FLAGS)
    if flag is not None:
        frame["is_pano"] = _flags(frame[flag])
        report.fields["is_pano"] = f"{flag} ({int((frame['is_pano'] == 1).sum())} panoramas)"
    else:
        for name, kinds in PANO_KINDS.items():
            col = _col(frame, (name,))
            if col is not None:
                text = frame[col].astype(str).str.strip().str.lower()
                frame["is_pano"] = np.where(frame[col].isna(), np.nan,
                                            text.isin(kinds).astype("float64"))
                report.fields["is_pano"] = (f"{col} in {list(kinds)} "
                                            f"({int((frame['is_pano'] == 1).sum())} panoramas)")
                break
    frame = _apply_position(frame, position, where, report)
    frame = _apply_image(frame, base_dir, image_template, image_field, report)
    log.info("%s: %s metadata: %s", where, report.provider, report.fields or "engine fields")
    return frame, report
