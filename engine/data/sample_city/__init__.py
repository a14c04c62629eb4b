"""The sample city: a deterministic, realistic small study area for end-to-end checks.

`generate(out, seed, preset)` writes overhead GeoTIFFs at several dates, a street-view point layer
with rendered photos at several times and headings, census-like tracts, per-photo perception
scores and the hidden truth rasters (see city.json for the file list).
"""

from __future__ import annotations

import logging
import time
from pathlib import Path

import geopandas as gpd
import numpy as np
from rasterio.transform import from_origin

from engine.data.sample_city.captures import capture_times, place_locations
from engine.data.sample_city.fields import FIELD_NAMES
from engine.data.sample_city.layout import build_world
from engine.data.sample_city.overhead import render_overhead
from engine.data.sample_city.panoramas import write_panoramas
from engine.data.sample_city.perception import PERCEPTION, expected_perception, perception_scores
from engine.data.sample_city.photos import render_all
from engine.data.sample_city.presets import CRS, OVERHEAD_DATES, get_preset
from engine.data.sample_city.tracts import (
    ATTRIBUTES,
    attribute_maps,
    check_tract_grid,
    tract_attributes,
    tract_polygons,
)
from engine.data.sample_city.writer import write_bytes, write_geotiff, write_gpkg, write_manifest
from engine.progress import Progress, no_progress

log = logging.getLogger(__name__)


def _truth_latent(world, preset) -> dict[str, np.ndarray]:
    """The latent fields cropped to the study area (their grid is the truth grid)."""
    m = int(round(preset.margin_m / world.fields.cell))
    return {k: v[m:-m, m:-m] for k, v in world.fields.values.items()} if m else world.fields.values


def generate(out: str | Path, seed: int = 0, preset: str = "default",
             progress: Progress = no_progress, panoramas: bool = False,
             tract_grid: int | None = None) -> dict:
    """Write the sample city for `seed` and `preset` into `out`; return what it wrote.
    With `panoramas`, also one 360° panorama per capture (sample_city.panoramas);
    `tract_grid` (default: the preset's) makes more, smaller tracts (tract_grid x tract_grid)."""
    t0 = time.monotonic()
    p = get_preset(preset)
    out = Path(out)
    (out / "photos").mkdir(parents=True, exist_ok=True)
    world = build_world(seed, p)
    locs = place_locations(world, p, seed)
    times = capture_times(seed, len(locs), p.n_times)
    total = len(locs) * p.n_times * p.n_headings
    rows, feats = [], []
    for i, shot in enumerate(render_all(world, locs, times, seed, p)):
        name = f"photos/loc{shot.location_id:05d}_t{shot.time_index}_h{int(shot.heading):03d}.jpg"
        write_bytes(out / name, shot.jpeg)
        rows.append({"photo_id": i, "location_id": shot.location_id, "image": name,
                     "captured_at": shot.captured_at.strftime("%Y-%m-%dT%H:%M:%SZ"),
                     "heading": round(shot.heading, 3), "x": shot.x, "y": shot.y})
        feats.append(shot.feats)
        progress(i + 1, total, "photos")
    scores = perception_scores(feats, seed)
    points = gpd.GeoDataFrame(rows)
    for name in PERCEPTION:
        points[name] = scores[name]
    points = gpd.GeoDataFrame(points.drop(columns=["x", "y"]), crs=CRS,
                              geometry=gpd.points_from_xy(points["x"], points["y"]))
    write_gpkg(out / "streetview.gpkg", points, "streetview")
    panos = write_panoramas(out, world, locs, times, seed, p, progress) if panoramas else None

    xmin, ymin, xmax, ymax = world.bounds
    overhead_files = []
    for k, date in enumerate(OVERHEAD_DATES):
        rgb = render_overhead(world, date, seed, k, p.overhead_res_m)
        path = f"overhead/overhead_{date}.tif"
        write_geotiff(out / path, rgb, from_origin(xmin, ymax, p.overhead_res_m, p.overhead_res_m),
                      CRS, ("red", "green", "blue"), photometric="RGB")
        overhead_files.append(path)
        progress(k + 1, len(OVERHEAD_DATES), "overhead")

    cell = world.fields.cell
    truth_transform = from_origin(xmin, ymax, cell, cell)
    latent = _truth_latent(world, p)
    truth = dict(latent)
    truth.update(attribute_maps(latent))
    at_photos = tuple(world.fields.sample(n, points.geometry.x, points.geometry.y)
                      for n in FIELD_NAMES)
    on_grid = tuple(latent[n] for n in FIELD_NAMES)
    for name in PERCEPTION:
        truth[name] = expected_perception(scores[name], at_photos, on_grid)
    for name, grid in truth.items():
        write_geotiff(out / f"truth/{name}.tif", grid[None].astype(np.float32), truth_transform,
                      CRS, (name,))

    polygons = tract_polygons(world.bounds, check_tract_grid(tract_grid or p.tract_grid), seed)
    attrs = tract_attributes(polygons, truth, truth_transform, seed)
    tracts = gpd.GeoDataFrame({"tract_id": np.arange(1, len(polygons) + 1), **attrs},
                              geometry=polygons, crs=CRS)
    write_gpkg(out / "tracts.gpkg", tracts, "tracts")

    manifest = {
        "preset": p.name, "seed": seed, "crs": CRS, "bounds": [xmin, ymin, xmax, ymax],
        "pixel_size": p.overhead_res_m, "truth_pixel_size": cell,
        "overhead_dates": list(OVERHEAD_DATES),
        "files": {"streetview": "streetview.gpkg", "tracts": "tracts.gpkg",
                  "overhead": overhead_files,
                  "truth": {n: f"truth/{n}.tif" for n in truth}},
        "counts": {"locations": len(locs), "photos": len(points), "times": p.n_times,
                   "headings": p.n_headings, "tracts": len(polygons),
                   "photo_px": p.photo_px},
        "attributes": list(ATTRIBUTES), "perception": list(PERCEPTION),
        "latent_fields": list(FIELD_NAMES),
        "notes": "truth rasters share the overhead CRS and bounds at truth_pixel_size; "
                 "perception truth = E[score | latent fields] (quadratic fit at the photos)",
    }
    if panos:
        manifest["files"]["panoramas"] = panos["file"]
        manifest["counts"]["panoramas"] = panos["count"]
    write_manifest(out / "city.json", manifest)
    size_mb = sum(f.stat().st_size for f in out.rglob("*") if f.is_file()) / 1e6
    summary = {"out": str(out), "preset": p.name, "seed": seed, "locations": len(locs),
               "photos": len(points), "overhead_dates": len(OVERHEAD_DATES),
               "tracts": len(polygons), "size_mb": round(size_mb, 1),
               "seconds": round(time.monotonic() - t0, 1)}
    if panos:
        summary["panoramas"] = panos["count"]
    log.info("sample city: %s", summary)
    return summary
