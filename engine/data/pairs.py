"""Positive-pair mining on projected coordinates: temporal, spatial, cross-view, location.

Which photos pair with which is decided here, from metres, degrees and days only; reading
the photos is the dataset's job. Neighbour search uses a k-d tree (O(N log N) plus the
pairs found), filtering is vectorised numpy, and pairs come back as CSR arrays.

Rules (all distances in metres in a projected CRS, angles in degrees, times in days):
* same place: same `location_id` (when the layer has one), or within `place_radius_m`;
* temporal: same place, headings within `temporal_heading_deg` (circular difference; a
  missing heading matches any), capture dates at least `temporal_min_days` apart;
  photos without a capture time get none;
* spatial: within `spatial_radius_m`, not the same place, capture times within
  `spatial_window_days` (a pair where either time is missing is kept: there is nothing to
  compare);
* with `exclude_same_sequence`, no temporal or spatial positive pairs two photos of one
  `sequence_id` (one drive / upload; photos without a sequence are not restricted);
* cross-view: per photo, the index of the overhead date nearest its capture time;
* location: the photo's own lon/lat.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from scipy.spatial import cKDTree

from engine.errors import EngineError

log = logging.getLogger(__name__)

_NS_PER_DAY = 86_400 * 10**9
PAIR_KINDS = ("temporal", "spatial", "crossview", "location")


@dataclass(frozen=True)
class PairParams:
    """Thresholds for positive pairs, in metres, degrees and days."""

    place_radius_m: float = 5.0
    temporal_heading_deg: float = 30.0
    temporal_min_days: float = 30.0
    spatial_radius_m: float = 60.0
    spatial_window_days: float = 60.0
    exclude_same_sequence: bool = False

    def __post_init__(self) -> None:
        for name in ("place_radius_m", "spatial_radius_m", "temporal_min_days",
                     "spatial_window_days"):
            value = getattr(self, name)
            if not np.isfinite(value) or value < 0:
                raise EngineError(f"pair parameter {name}={value} must be a number >= 0",
                                  "use metres for radii and days for time windows")
        if not 0 <= self.temporal_heading_deg <= 180:
            raise EngineError(
                f"pair parameter temporal_heading_deg={self.temporal_heading_deg} is outside "
                "0..180", "it is the largest circular heading difference, in degrees")
        if self.spatial_radius_m <= self.place_radius_m:
            raise EngineError(
                f"spatial_radius_m={self.spatial_radius_m} must exceed place_radius_m="
                f"{self.place_radius_m}", "spatial positives are other places nearby")


@dataclass(frozen=True)
class PairIndex:
    """Positive pairs in CSR form: photo i's partners are indices[indptr[i]:indptr[i+1]]."""

    indptr: np.ndarray
    indices: np.ndarray

    @property
    def n_photos(self) -> int:
        return int(self.indptr.shape[0] - 1)

    @property
    def n_pairs(self) -> int:
        return int(self.indices.shape[0])

    def counts(self) -> np.ndarray:
        """Number of partners per photo, (N,) int64."""
        return np.diff(self.indptr)

    def partners(self, i: int) -> np.ndarray:
        """Indices of photo i's partners (sorted ascending)."""
        return self.indices[self.indptr[i]:self.indptr[i + 1]]

    def to_pairs(self) -> np.ndarray:
        """All directed pairs as an (P,2) int64 array (row, partner)."""
        rows = np.repeat(np.arange(self.n_photos, dtype=np.int64), self.counts())
        return np.stack([rows, self.indices.astype(np.int64)], axis=1)


@dataclass
class MinedPairs:
    """Everything the dataset needs to draw positives, aligned with the layer's rows."""

    temporal: PairIndex | None = None
    spatial: PairIndex | None = None
    crossview_date: np.ndarray | None = None  # (N,) int64 index into overhead dates
    time_valid: np.ndarray | None = None  # (N,) bool: capture time known
    lonlat: np.ndarray | None = None  # (N,2) float64 lon, lat (EPSG:4326)
    stats: dict[str, Any] = field(default_factory=dict)


def times_to_days(times: Any) -> np.ndarray:
    """Capture times (datetime64 / pandas datetimes, NaT allowed) -> float64 days, NaN=missing."""
    arr = np.asarray(times)
    if arr.dtype == object or np.issubdtype(arr.dtype, np.datetime64) or hasattr(times, "dt"):
        import pandas as pd

        ts = pd.to_datetime(pd.Series(np.asarray(times)), utc=True)
        ns = ts.dt.tz_convert(None).to_numpy().astype("datetime64[ns]")
        days = ns.astype(np.int64).astype(np.float64) / _NS_PER_DAY
        days[np.isnat(ns)] = np.nan
        return days
    return arr.astype(np.float64)


def _csr(n: int, rows: np.ndarray, cols: np.ndarray) -> PairIndex:
    """Unique directed pairs -> CSR, partners sorted per row."""
    key = np.sort(rows.astype(np.int64) * n + cols.astype(np.int64))
    if key.size:  # sort + mask: far faster than np.unique on large int arrays (numpy 2.4)
        key = key[np.r_[True, key[1:] != key[:-1]]]
    rows, cols = key // n, key % n
    indptr = np.zeros(n + 1, dtype=np.int64)
    np.cumsum(np.bincount(rows, minlength=n), out=indptr[1:])
    return PairIndex(indptr=indptr, indices=cols.astype(np.int64))


def _both_ways(pairs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    return (np.concatenate([pairs[:, 0], pairs[:, 1]]),
            np.concatenate([pairs[:, 1], pairs[:, 0]]))


def _same_id_pairs(location_id: np.ndarray) -> np.ndarray:
    """All (i, j), i != j, with equal location_id, as (P,2); cost = sum of group sizes squared."""
    n = location_id.shape[0]
    order = np.argsort(location_id, kind="stable")
    sorted_ids = location_id[order]
    starts = np.flatnonzero(np.r_[True, sorted_ids[1:] != sorted_ids[:-1]])
    sizes = np.diff(np.r_[starts, n])
    size_of = np.repeat(sizes, sizes)  # per sorted position: its group's size
    start_of = np.repeat(starts, sizes)
    total = int(size_of.sum())
    rows_sorted = np.repeat(np.arange(n), size_of)
    offsets = np.arange(total) - np.repeat(np.cumsum(size_of) - size_of, size_of)
    cols_sorted = np.repeat(start_of, size_of) + offsets
    keep = rows_sorted != cols_sorted
    return np.stack([order[rows_sorted[keep]], order[cols_sorted[keep]]], axis=1)


def _heading_ok(heading: np.ndarray | None, i: np.ndarray, j: np.ndarray, max_deg: float
                ) -> np.ndarray:
    if heading is None:
        return np.ones(i.shape[0], dtype=bool)
    diff = np.abs(heading[i] - heading[j]) % 360.0
    diff = np.minimum(diff, 360.0 - diff)
    return np.isnan(diff) | (diff <= max_deg)


def _check_xy(xy: np.ndarray) -> np.ndarray:
    xy = np.asarray(xy, dtype=np.float64)
    if xy.ndim != 2 or xy.shape[1] != 2:
        raise EngineError(f"coordinates must be an (N,2) x,y array, got shape {xy.shape}",
                          "pass StreetViewLayer.xy() (metres in a projected CRS)")
    bad = np.flatnonzero(~np.isfinite(xy).all(axis=1))
    if bad.size:
        raise EngineError(f"photo row {int(bad[0])} has no finite x,y ({bad.size} rows in all)",
                          "drop points with empty geometry from the layer")
    return xy


def _other_sequence(sequence: np.ndarray | None, i: np.ndarray, j: np.ndarray) -> np.ndarray:
    """True where photos i and j are not from one known sequence (drive)."""
    if sequence is None:
        return np.ones(i.shape[0], dtype=bool)
    known = (sequence[i] >= 0) & (sequence[j] >= 0)
    return ~known | (sequence[i] != sequence[j])


def sequence_codes(values: Any) -> np.ndarray:
    """Sequence ids (any type, missing allowed) -> int64 codes, -1 where missing."""
    import pandas as pd

    codes, _ = pd.factorize(pd.Series(values, dtype=object).map(
        lambda v: None if v is None or (isinstance(v, float) and np.isnan(v)) or v == ""
        else str(v)))
    return codes.astype(np.int64)


def mine_temporal(xy: np.ndarray, days: np.ndarray, params: PairParams,
                  location_id: np.ndarray | None = None,
                  heading: np.ndarray | None = None,
                  sequence: np.ndarray | None = None) -> PairIndex:
    """Same place, same heading, capture dates at least `temporal_min_days` apart."""
    xy = _check_xy(xy)
    n = xy.shape[0]
    days = np.asarray(days, dtype=np.float64)
    if n and np.isnan(days).all():
        raise EngineError("the temporal objective needs capture times, but field `captured_at` "
                          "is missing or empty for every photo",
                          "add an ISO 8601 `captured_at` field, or drop the temporal objective")
    near = cKDTree(xy).query_pairs(params.place_radius_m, output_type="ndarray")
    i, j = _both_ways(near)
    if location_id is not None:
        same = _same_id_pairs(np.asarray(location_id))
        i, j = np.concatenate([i, same[:, 0]]), np.concatenate([j, same[:, 1]])
    heading = None if heading is None else np.asarray(heading, dtype=np.float64)
    keep = np.abs(days[i] - days[j]) >= params.temporal_min_days  # NaN compares False
    keep &= _heading_ok(heading, i, j, params.temporal_heading_deg)
    keep &= _other_sequence(sequence, i, j)
    keep &= i != j
    return _csr(n, i[keep], j[keep])


def mine_spatial(xy: np.ndarray, days: np.ndarray | None, params: PairParams,
                 location_id: np.ndarray | None = None,
                 sequence: np.ndarray | None = None) -> PairIndex:
    """Other places within `spatial_radius_m`, captured within `spatial_window_days`."""
    xy = _check_xy(xy)
    n = xy.shape[0]
    pairs = cKDTree(xy).query_pairs(params.spatial_radius_m, output_type="ndarray")
    i, j = pairs[:, 0], pairs[:, 1]
    dist2 = ((xy[i] - xy[j]) ** 2).sum(axis=1)
    keep = dist2 > params.place_radius_m ** 2
    if location_id is not None:
        location_id = np.asarray(location_id)
        keep &= location_id[i] != location_id[j]
    if days is not None:
        days = np.asarray(days, dtype=np.float64)
        dt = np.abs(days[i] - days[j])
        keep &= np.isnan(dt) | (dt <= params.spatial_window_days)
    keep &= _other_sequence(sequence, i, j)
    pairs = pairs[keep]
    return _csr(n, *_both_ways(pairs))


def nearest_dates(days: np.ndarray, overhead_days: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per photo, the index of the nearest overhead date (ties -> earlier) and a time-known mask.

    A photo without a capture time gets the latest overhead date and valid=False.
    """
    overhead_days = np.asarray(overhead_days, dtype=np.float64)
    if overhead_days.size == 0:
        raise EngineError("the cross-view objective needs an overhead raster, but none was given",
                          "set data.overhead to one or more GeoTIFFs (or a glob)")
    order = np.argsort(overhead_days, kind="stable")
    sorted_days = overhead_days[order]
    days = np.asarray(days, dtype=np.float64)
    valid = ~np.isnan(days)
    pos = np.searchsorted(sorted_days, np.where(valid, days, 0.0))
    lo = np.clip(pos - 1, 0, sorted_days.size - 1)
    hi = np.clip(pos, 0, sorted_days.size - 1)
    pick = np.where(np.abs(days - sorted_days[hi]) < np.abs(days - sorted_days[lo]), hi, lo)
    pick = np.where(valid, pick, sorted_days.size - 1)
    return order[pick].astype(np.int64), valid


def mine_pairs(layer: Any, kinds: tuple[str, ...], params: PairParams | None = None,
               overhead_dates: list[str] | None = None) -> MinedPairs:
    """Mine the requested `kinds` (see PAIR_KINDS) for a StreetViewLayer."""
    params = params or PairParams()
    unknown = sorted(set(kinds) - set(PAIR_KINDS))
    if unknown:
        raise EngineError(f"unknown pair kind(s) {unknown}", f"allowed: {list(PAIR_KINDS)}")
    frame = layer.frame
    has_times = bool(getattr(layer, "has_times", "captured_at" in frame.columns))
    days = (times_to_days(frame["captured_at"]) if "captured_at" in frame.columns
            else np.full(len(frame), np.nan))
    loc_id = frame["location_id"].to_numpy() if "location_id" in frame.columns else None
    heading = frame["heading"].to_numpy(dtype=np.float64) if "heading" in frame.columns else None
    sequence = None
    if params.exclude_same_sequence:
        if "sequence_id" not in frame.columns:
            raise EngineError(f"exclude_same_sequence needs a sequence_id field, but "
                              f"{layer.source} has none",
                              "import the provider export with import-photos (sequence / "
                              "sequenceId become sequence_id), or set "
                              "data.pairs.exclude_same_sequence=false")
        sequence = sequence_codes(frame["sequence_id"].tolist())
    out = MinedPairs(time_valid=~np.isnan(days))
    xy = layer.xy() if {"temporal", "spatial"} & set(kinds) else None
    if "temporal" in kinds:
        if not has_times:
            raise EngineError(f"the temporal objective needs capture times, but {layer.source} "
                              "has no field `captured_at` values",
                              "add an ISO 8601 `captured_at` field, or drop the temporal "
                              "objective")
        out.temporal = mine_temporal(xy, days, params, loc_id, heading, sequence)
        out.stats["temporal_pairs"] = out.temporal.n_pairs
    if "spatial" in kinds:
        out.spatial = mine_spatial(xy, days if has_times else None, params, loc_id, sequence)
        out.stats["spatial_pairs"] = out.spatial.n_pairs
    if "crossview" in kinds:
        if not overhead_dates:
            raise EngineError("the cross-view objective needs an overhead raster, but none was "
                              "given", "set data.overhead to one or more GeoTIFFs (or a glob)")
        odays = times_to_days(np.array(overhead_dates, dtype="datetime64[ns]"))
        out.crossview_date, _ = nearest_dates(days, odays)
    if "location" in kinds:
        out.lonlat = np.asarray(layer.lonlat(), dtype=np.float64)
    log.info("mined pairs: %s", out.stats)
    return out
