"""Paired differences across (city, training seed) runs, their 95 % interval and the decision
rule of the pre-registered protocol (docs/BENCHMARK_PROTOCOL.md).

A run is keyed (city, seed). Rows without a "city" key belong to one city ("-"), e.g. the
Landsat scene. A seed-free baseline (one seed in a city) is paired with every training seed
of that city. The interval is a t-interval over cities of the per-city mean difference; with
a single city it is over that city's seeds.
"""

from __future__ import annotations

import numpy as np

from engine.heads.metrics import t_interval

Run = tuple[str, int]
REPRODUCED, INCONCLUSIVE, NOT_REPRODUCED = "reproduced", "inconclusive", "not reproduced"
NO_CITY = "-"


def run_key(row: dict) -> Run:
    """(city, seed) of a result row."""
    return str(row.get("city", NO_CITY)), int(row["seed"])


def run_values(rows: list[dict], task: str, metric: str, encoder: str,
               targets: tuple[str, ...] | None = None) -> dict[Run, float]:
    """(city, seed) -> mean of `metric` over the task's targets (or `targets`) for `encoder`."""
    vals: dict[Run, list[float]] = {}
    for r in rows:
        if r["task"] == task and r["encoder"] == encoder and metric in r and \
                (targets is None or r["target"] in targets):
            vals.setdefault(run_key(r), []).append(float(r[metric]))
    return {k: float(np.nanmean(v)) for k, v in vals.items() if np.isfinite(v).any()}


def _broadcast(one: dict[Run, float], other: dict[Run, float]) -> dict[Run, float]:
    """Per city: a side with a single seed (a seed-free baseline) is copied to every seed the
    other side has in that city."""
    out = dict(one)
    for city in {c for c, _ in one}:
        mine = [s for c, s in one if c == city]
        theirs = [s for c, s in other if c == city]
        if len(mine) == 1 and len(theirs) > 1:
            value = out.pop((city, mine[0]))
            out.update({(city, s): value for s in theirs})
    return out


def paired_differences(a: dict[Run, float], b: dict[Run, float],
                       lower_is_better: bool = False) -> dict[Run, float]:
    """(city, seed) -> a - b (b - a when lower is better) on the runs both sides have."""
    a, b = _broadcast(a, b), _broadcast(b, a)
    sign = -1.0 if lower_is_better else 1.0
    return {k: sign * (a[k] - b[k]) for k in sorted(set(a) & set(b))}


def city_means(values: dict[Run, float]) -> dict[str, float]:
    """city -> mean over its seeds."""
    by_city: dict[str, list[float]] = {}
    for (city, _), v in values.items():
        by_city.setdefault(city, []).append(v)
    return {c: float(np.mean(v)) for c, v in sorted(by_city.items())}


def spread(values: dict[Run, float]) -> tuple[float, float, float]:
    """(mean of the per-city means, sd of the per-city means (city-to-city spread), mean
    within-city sd over seeds (seed spread)); NaN where undefined."""
    if not values:
        return float("nan"), float("nan"), float("nan")
    means = np.array(list(city_means(values).values()))
    sd_city = float(np.std(means, ddof=1)) if len(means) > 1 else float("nan")
    within = []
    for city in {c for c, _ in values}:
        v = [x for (c, _), x in values.items() if c == city]
        if len(v) > 1:
            within.append(float(np.std(v, ddof=1)))
    return float(np.mean(means)), sd_city, float(np.mean(within)) if within else float("nan")


def interval(diffs: dict[Run, float], level: float = 0.95) -> tuple[float, float]:
    """t-interval of the mean difference: over cities (per-city means) when there are several,
    else over the runs (seeds) of the one city."""
    means = city_means(diffs)
    units = list(means.values()) if len(means) > 1 else list(diffs.values())
    return t_interval(units, level)


def decide(lo: float, hi: float) -> str:
    """The decision rule: above zero reproduced, below zero not reproduced, else inconclusive."""
    if not (np.isfinite(lo) and np.isfinite(hi)):
        return INCONCLUSIVE
    if lo > 0:
        return REPRODUCED
    if hi < 0:
        return NOT_REPRODUCED
    return INCONCLUSIVE
