"""Where and when the street-view car stops: locations along streets, times, headings."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

import numpy as np

from engine.data.sample_city.presets import UTC_OFFSET_H, Preset
from engine.data.sample_city.rng import stream
from engine.data.sample_city.world import World

# One capture campaign per time index, each near an overhead date (spring, summer, autumn 2023);
# a later index wraps into the next year, so any n_times works.
CAMPAIGN_STARTS = ((3, 25), (6, 20), (9, 25))
CAMPAIGN_DAYS = 50
EDGE_INSET_M = 6.0


@dataclass
class Locations:
    """Street-view locations: camera position (x, y, city CRS), street axis and base heading."""

    x: np.ndarray
    y: np.ndarray
    axis: np.ndarray  # 0: north-south street, 1: east-west street
    street: np.ndarray  # index into the world's ns_* or ew_* street arrays
    heading: np.ndarray  # the first heading (degrees); the others turn by 360 / n_headings

    def __len__(self) -> int:
        return int(self.x.size)


def place_locations(world: World, preset: Preset, seed: int) -> Locations:
    """Exactly `preset.n_locations` stops spread evenly along all streets inside the bounds."""
    rng = stream(seed, "locations")
    xmin, ymin, xmax, ymax = world.bounds
    lo_x, hi_x = xmin + EDGE_INSET_M, xmax - EDGE_INSET_M
    lo_y, hi_y = ymin + EDGE_INSET_M, ymax - EDGE_INSET_M
    ns = [(i, c) for i, c in enumerate(world.streets["ns_x"]) if lo_x < c < hi_x]
    ew = [(i, c) for i, c in enumerate(world.streets["ew_y"]) if lo_y < c < hi_y]
    total = len(ns) * (hi_y - lo_y) + len(ew) * (hi_x - lo_x)
    spacing = 0.97 * total / preset.n_locations
    rows = []
    for axis, streets, lo, hi in ((0, ns, lo_y, hi_y), (1, ew, lo_x, hi_x)):
        for i, centre in streets:
            along = np.arange(lo + rng.uniform(0, spacing), hi, spacing)
            along = along + rng.uniform(-0.2, 0.2, along.size) * spacing
            along = along[(along > lo) & (along < hi)]
            lane = 1.5 * rng.choice([-1.0, 1.0])
            for a in along:
                x, y = (centre + lane, a) if axis == 0 else (a, centre + lane)
                rows.append((x, y, axis, i))
    rows_arr = np.array(rows, dtype=np.float64)
    keep = np.sort(rng.choice(len(rows_arr), size=preset.n_locations, replace=False))
    rows_arr = rows_arr[keep]
    axis = rows_arr[:, 2].astype(np.int64)
    jitter = rng.uniform(-4.0, 4.0, len(rows_arr))
    heading = np.where(axis == 0, 0.0, 90.0) + jitter
    return Locations(x=rows_arr[:, 0], y=rows_arr[:, 1], axis=axis,
                     street=rows_arr[:, 3].astype(np.int64), heading=np.mod(heading, 360.0))


def capture_times(seed: int, n_locations: int, n_times: int) -> list[list[datetime]]:
    """Per location, `n_times` UTC capture datetimes: one per campaign, daytime local hours."""
    out = []
    for loc in range(n_locations):
        rng = stream(seed, "times", loc)
        times = []
        for k in range(n_times):
            month, day = CAMPAIGN_STARTS[k % len(CAMPAIGN_STARTS)]
            year = 2023 + k // len(CAMPAIGN_STARTS)
            start = datetime(year, month, day, tzinfo=timezone.utc)
            local_hour = rng.uniform(8.5, 17.5)
            when = start + timedelta(days=int(rng.integers(CAMPAIGN_DAYS)),
                                     hours=local_hour - UTC_OFFSET_H)
            times.append(when.replace(second=0, microsecond=0))
        out.append(times)
    return out


def headings(base: float, n_headings: int) -> list[float]:
    """The camera headings of one stop: `base` and evenly turned copies (along the street first)."""
    return [float(np.mod(base + k * 360.0 / n_headings, 360.0)) for k in range(n_headings)]
