"""Render every street photo (in parallel, deterministically) and keep what each one shows."""

from __future__ import annotations

import io
import multiprocessing as mp
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime

import numpy as np
from PIL import Image
from scipy.spatial import cKDTree

from engine.data.sample_city.captures import Locations, headings
from engine.data.sample_city.dynamics import Conditions, conditions, street_actors
from engine.data.sample_city.rng import stream
from engine.data.sample_city.sprites import MAX_DIST
from engine.data.sample_city.streetview import render_photo
from engine.data.sample_city.world import World

JPEG_QUALITY = 90


@dataclass
class Shot:
    """One photo: where, when, which way, the JPEG bytes and its visible-content features."""

    location_id: int
    time_index: int
    x: float
    y: float
    heading: float
    captured_at: datetime
    jpeg: bytes
    feats: dict[str, float]


_STATE: dict = {}  # the world etc. in each worker (set before fork; never pickled per task)


def _actors_in_world(world: World, locs: Locations, loc: int, actors: dict) -> dict:
    """Street coordinates (along, lateral) of cars and people -> world x, y."""
    if locs.axis[loc] == 0:
        cx, along_y = world.streets["ns_x"][locs.street[loc]], locs.y[loc]
        to_xy = lambda p: np.c_[cx + p[:, 1], along_y + p[:, 0]]  # noqa: E731
    else:
        cy, along_x = world.streets["ew_y"][locs.street[loc]], locs.x[loc]
        to_xy = lambda p: np.c_[along_x + p[:, 0], cy + p[:, 1]]  # noqa: E731
    out = {k: actors[k] for k in ("car_rgb", "people_h", "shirt", "pants", "skin")}
    out["cars_xy"], out["people_xy"] = to_xy(actors["cars"]), to_xy(actors["people"])
    return out


@dataclass
class Capture:
    """What one capture sees: where and when, light and weather, cars and people, the trees and
    props near enough to be drawn, and the local upkeep. Photos and panoramas share it."""

    location_id: int
    time_index: int
    x: float
    y: float
    when: datetime
    cond: Conditions
    actors: dict
    tree_idx: np.ndarray
    prop_idx: np.ndarray
    upkeep: float


def state() -> dict:
    """The world, locations, times, seed and preset of the running map_locations call."""
    return _STATE


def captures_at(loc: int) -> list[Capture]:
    """Every capture of location `loc` (in the worker's _STATE), drawn from seeded streams."""
    world, locs, times, seed = (_STATE[k] for k in ("world", "locs", "times", "seed"))
    x, y = float(locs.x[loc]), float(locs.y[loc])
    tree_idx = np.array(_STATE["tree_kd"].query_ball_point([x, y], MAX_DIST), dtype=np.int64)
    prop_idx = np.array(_STATE["prop_kd"].query_ball_point([x, y], MAX_DIST), dtype=np.int64)
    tree_idx.sort()
    prop_idx.sort()
    widths = world.streets["ns_w"] if locs.axis[loc] == 0 else world.streets["ew_w"]
    half_w = float(widths[locs.street[loc]]) / 2
    density = float(world.fields.sample("density", [x], [y])[0])
    upkeep = float(world.fields.sample("wealth", [x], [y])[0])
    out = []
    for k, when in enumerate(times[loc]):
        rng = stream(seed, "capture", loc, k)
        cond = conditions(rng, when)
        actors = _actors_in_world(world, locs, loc, street_actors(
            rng, density, density * 0.6, half_w, cond.clear))
        out.append(Capture(loc, k, x, y, when, cond, actors, tree_idx, prop_idx, upkeep))
    return out


def jpeg_bytes(img: np.ndarray) -> bytes:
    """uint8 RGB array -> JPEG bytes at JPEG_QUALITY (deterministic)."""
    buf = io.BytesIO()
    Image.fromarray(img).save(buf, format="JPEG", quality=JPEG_QUALITY)
    return buf.getvalue()


def _render_location(loc: int) -> list[Shot]:
    world, locs, preset = _STATE["world"], _STATE["locs"], _STATE["preset"]
    shots = []
    for cap in captures_at(loc):
        for heading in headings(float(locs.heading[loc]), preset.n_headings):
            img, feats = render_photo(world, cap.x, cap.y, heading, cap.cond, cap.actors,
                                      cap.tree_idx, cap.prop_idx, preset.photo_px, cap.upkeep)
            shots.append(Shot(loc, cap.time_index, cap.x, cap.y, heading, cap.when,
                              jpeg_bytes(img), feats))
    return shots


def render_all(world: World, locs: Locations, times: list, seed: int, preset) -> Iterator[Shot]:
    """Yield every shot in (location, time, heading) order (see map_locations)."""
    yield from map_locations(_render_location, world, locs, times, seed, preset)


def map_locations(render: Callable[[int], list], world: World, locs: Locations, times: list,
                  seed: int, preset) -> Iterator:
    """Yield the items `render(loc)` returns, location by location; workers > 1 render in
    forked processes, each location's draws seeded by its index, so order and bytes never
    vary. `render` is a module-level function reading the world from _STATE."""
    _STATE.update(world=world, locs=locs, times=times, seed=seed, preset=preset,
                  tree_kd=cKDTree(np.c_[world.trees["x"], world.trees["y"]]),
                  prop_kd=cKDTree(np.c_[world.props["x"], world.props["y"]]))
    try:
        if preset.workers <= 1 or "fork" not in mp.get_all_start_methods():
            for loc in range(len(locs)):
                yield from render(loc)
            return
        with mp.get_context("fork").Pool(preset.workers) as pool:
            for items in pool.imap(render, range(len(locs)), chunksize=8):
                yield from items
    finally:
        _STATE.clear()
