"""Positive-pair mining: only valid pairs, and exactly the brute-force O(N^2) answer."""

from __future__ import annotations

import time
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest

from engine.data.pairs import (
    PairParams,
    mine_pairs,
    mine_spatial,
    mine_temporal,
    nearest_dates,
    times_to_days,
)
from engine.errors import EngineError

PARAMS = PairParams(place_radius_m=5.0, temporal_heading_deg=30.0, temporal_min_days=20.0,
                    spatial_radius_m=40.0, spatial_window_days=50.0)


def random_layer(n: int, seed: int) -> dict[str, np.ndarray]:
    """Photos clustered at places (shared location_id), some jitter, some missing values."""
    rng = np.random.default_rng(seed)
    n_places = n // 4
    place_xy = rng.uniform(0, 300, size=(n_places, 2))
    loc = rng.integers(0, n_places, size=n)
    xy = place_xy[loc] + rng.normal(0, 2.0, size=(n, 2))
    days = rng.integers(0, 200, size=n).astype(np.float64)
    days[rng.random(n) < 0.05] = np.nan
    heading = rng.choice([0.0, 90.0, 180.0, 350.0, 15.0], size=n)
    heading[rng.random(n) < 0.05] = np.nan
    return {"xy": xy, "loc": loc, "days": days, "heading": heading}


def brute_temporal(d: dict[str, np.ndarray], p: PairParams) -> set[tuple[int, int]]:
    xy, loc, days, heading = d["xy"], d["loc"], d["days"], d["heading"]
    out = set()
    for i in range(len(xy)):
        for j in range(len(xy)):
            if i == j:
                continue
            same_place = loc[i] == loc[j] or np.hypot(*(xy[i] - xy[j])) <= p.place_radius_m
            hd = abs(heading[i] - heading[j]) % 360
            head_ok = np.isnan(hd) or min(hd, 360 - hd) <= p.temporal_heading_deg
            if same_place and head_ok and abs(days[i] - days[j]) >= p.temporal_min_days:
                out.add((i, j))
    return out


def brute_spatial(d: dict[str, np.ndarray], p: PairParams) -> set[tuple[int, int]]:
    xy, loc, days = d["xy"], d["loc"], d["days"]
    out = set()
    for i in range(len(xy)):
        for j in range(len(xy)):
            dist = np.hypot(*(xy[i] - xy[j]))
            dt = abs(days[i] - days[j])
            if (i != j and p.place_radius_m < dist <= p.spatial_radius_m and loc[i] != loc[j]
                    and (np.isnan(dt) or dt <= p.spatial_window_days)):
                out.add((i, j))
    return out


def as_set(index) -> set[tuple[int, int]]:
    return {(int(a), int(b)) for a, b in index.to_pairs()}


@pytest.mark.parametrize("seed", [0, 1])
def test_temporal_matches_brute_force(seed: int) -> None:
    d = random_layer(240, seed)
    got = mine_temporal(d["xy"], d["days"], PARAMS, d["loc"], d["heading"])
    want = brute_temporal(d, PARAMS)
    assert len(want) > 50
    assert as_set(got) == want
    assert got.indptr[-1] == got.n_pairs and np.all(np.diff(got.indptr) >= 0)


@pytest.mark.parametrize("seed", [0, 1])
def test_spatial_matches_brute_force(seed: int) -> None:
    d = random_layer(240, seed)
    got = mine_spatial(d["xy"], d["days"], PARAMS, d["loc"])
    want = brute_spatial(d, PARAMS)
    assert len(want) > 50
    assert as_set(got) == want


def test_pairs_are_valid() -> None:
    d = random_layer(400, 3)
    temporal = mine_temporal(d["xy"], d["days"], PARAMS, d["loc"], d["heading"]).to_pairs()
    spatial = mine_spatial(d["xy"], d["days"], PARAMS, d["loc"]).to_pairs()
    for pairs in (temporal, spatial):
        assert not np.any(pairs[:, 0] == pairs[:, 1]), "self-pair"
    i, j = temporal.T
    dist = np.hypot(*(d["xy"][i] - d["xy"][j]).T)
    assert np.all((d["loc"][i] == d["loc"][j]) | (dist <= PARAMS.place_radius_m))
    assert np.all(np.abs(d["days"][i] - d["days"][j]) >= PARAMS.temporal_min_days)
    i, j = spatial.T
    dist = np.hypot(*(d["xy"][i] - d["xy"][j]).T)
    assert np.all((dist <= PARAMS.spatial_radius_m) & (dist > PARAMS.place_radius_m))
    assert np.all(d["loc"][i] != d["loc"][j])
    # symmetric: j pairs with i whenever i pairs with j
    assert {(a, b) for a, b in spatial} == {(b, a) for a, b in spatial}


def test_nearest_dates_and_missing_times() -> None:
    odays = times_to_days(np.array(["2024-01-01", "2024-07-01", "2023-06-01"],
                                   dtype="datetime64[ns]"))
    photos = times_to_days(pd.to_datetime(
        pd.Series(["2024-06-20T10:00:00Z", "2023-01-01T00:00:00Z", None]), utc=True))
    idx, valid = nearest_dates(photos, odays)
    assert idx.tolist() == [1, 2, 1]  # NaT -> the latest date, flagged invalid
    assert valid.tolist() == [True, True, False]


def test_errors_name_the_problem() -> None:
    xy = np.zeros((3, 2))
    with pytest.raises(EngineError, match="captured_at"):
        mine_temporal(xy, np.full(3, np.nan), PARAMS)
    with pytest.raises(EngineError, match="overhead"):
        nearest_dates(np.zeros(3), np.array([]))
    with pytest.raises(EngineError, match="spatial_radius_m"):
        PairParams(place_radius_m=10, spatial_radius_m=5)
    frame = pd.DataFrame({"captured_at": pd.to_datetime([None, None], utc=True),
                          "heading": [0.0, 0.0]})
    layer = SimpleNamespace(frame=frame, has_times=False, source="photos.gpkg",
                            xy=lambda: np.zeros((2, 2)), lonlat=lambda: np.zeros((2, 2)))
    with pytest.raises(EngineError, match="captured_at"):
        mine_pairs(layer, ("temporal",))
    with pytest.raises(EngineError, match="overhead"):
        mine_pairs(layer, ("crossview",))
    assert mine_pairs(layer, ("spatial", "location")).lonlat.shape == (2, 2)


@pytest.mark.slow
def test_timing_one_million_points() -> None:
    """Not asserted: prints the mining time for 1M synthetic points (see report)."""
    rng = np.random.default_rng(0)
    n = 1_000_000
    side = 20_000.0  # 20 km x 20 km: 250k places, about 3 other places within 60 m
    places = rng.uniform(0, side, size=(n // 4, 2))
    loc = rng.integers(0, n // 4, size=n)
    xy = places[loc] + rng.normal(0, 1.0, size=(n, 2))
    days = rng.integers(0, 1000, size=n).astype(np.float64)
    heading = rng.choice([0.0, 90.0, 180.0, 270.0], size=n)
    t0 = time.perf_counter()
    temporal = mine_temporal(xy, days, PairParams(), loc, heading)
    t1 = time.perf_counter()
    spatial = mine_spatial(xy, days, PairParams(), loc)
    t2 = time.perf_counter()
    print(f"\n1M points: temporal {t1 - t0:.2f}s ({temporal.n_pairs} pairs), "
          f"spatial {t2 - t1:.2f}s ({spatial.n_pairs} pairs)")
    assert temporal.n_photos == n and spatial.n_photos == n
