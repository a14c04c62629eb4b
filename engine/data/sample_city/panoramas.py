"""The generator's panorama option: one 360° panorama per capture, beside the photos.

Each (location, time) gets `photos/locNNNNN_tK_pano.jpg` (equirectangular, 2:1,
2 * photo_px high), seen from the same spot under the same light, weather, cars and people as
that capture's perspective photos, centred on the location's first photo heading. The layer
`panoramas.gpkg` ("panoramas") holds them with image, captured_at, heading (the compass
angle of the panorama's centre), is_pano = 1 and the photos' location_id.
"""

from __future__ import annotations

from pathlib import Path

import geopandas as gpd

from engine.data.sample_city.panorama import render_panorama
from engine.data.sample_city.photos import captures_at, jpeg_bytes, map_locations, state
from engine.data.sample_city.presets import CRS
from engine.data.sample_city.writer import write_bytes, write_gpkg
from engine.progress import Progress, no_progress

FILE, LAYER = "panoramas.gpkg", "panoramas"
HEIGHT_PER_PHOTO_PX = 2  # panorama height = 2 x photo_px: as sharp as the photos at their centre


def _render_location(loc: int) -> list[dict]:
    world, locs, preset = (state()[k] for k in ("world", "locs", "preset"))
    heading = float(locs.heading[loc])
    rows = []
    for cap in captures_at(loc):
        img = render_panorama(world, cap.x, cap.y, heading, cap.cond, cap.actors, cap.tree_idx,
                              cap.prop_idx, HEIGHT_PER_PHOTO_PX * preset.photo_px, cap.upkeep)
        rows.append({"location_id": loc, "time_index": cap.time_index, "x": cap.x, "y": cap.y,
                     "heading": round(heading, 3), "jpeg": jpeg_bytes(img),
                     "captured_at": cap.when.strftime("%Y-%m-%dT%H:%M:%SZ")})
    return rows


def write_panoramas(out: Path, world, locs, times, seed: int, preset,
                    progress: Progress = no_progress) -> dict:
    """Render and write every capture's panorama and `panoramas.gpkg`; {"file", "count"}."""
    rows = []
    total = len(locs) * preset.n_times
    for i, row in enumerate(map_locations(_render_location, world, locs, times, seed, preset)):
        name = f"photos/loc{row['location_id']:05d}_t{row['time_index']}_pano.jpg"
        write_bytes(out / name, row.pop("jpeg"))
        rows.append({"pano_id": i, "location_id": row["location_id"], "image": name,
                     "captured_at": row["captured_at"], "heading": row["heading"], "is_pano": 1,
                     "x": row["x"], "y": row["y"]})
        progress(i + 1, total, "panoramas")
    frame = gpd.GeoDataFrame(rows)
    frame = gpd.GeoDataFrame(frame.drop(columns=["x", "y"]), crs=CRS,
                             geometry=gpd.points_from_xy(frame["x"], frame["y"]))
    write_gpkg(out / FILE, frame, LAYER)
    return {"file": FILE, "count": len(frame)}
