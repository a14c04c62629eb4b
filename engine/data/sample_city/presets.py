"""Sample-city presets: the sizes and counts of the `small` and `default` cities."""

from __future__ import annotations

from dataclasses import dataclass

from engine.errors import EngineError


@dataclass(frozen=True)
class Preset:
    """Every size that differs between presets (metres unless named otherwise)."""

    name: str
    extent_m: float  # square study area, side length
    block_pitch_m: float  # distance between parallel streets
    n_locations: int  # target number of street-view locations
    photo_px: int  # street photos are photo_px x photo_px
    n_times: int = 3  # capture times per location
    n_headings: int = 2  # headings per capture (both directions along the street)
    tract_grid: int = 7  # tracts = Voronoi cells of a jittered tract_grid x tract_grid lattice
    world_res_m: float = 0.5  # resolution of the static world maps
    overhead_res_m: float = 1.0  # overhead GeoTIFF pixel size
    truth_factor: int = 4  # truth rasters: overhead pixel size x truth_factor
    margin_m: float = 80.0  # the world continues this far outside the bounds (views near edges)
    corr_m: float = 250.0  # correlation length of the latent fields
    workers: int = 2  # processes rendering photos (1 = in-process)


PRESETS: dict[str, Preset] = {
    "small": Preset(
        name="small", extent_m=400.0, block_pitch_m=80.0, n_locations=80, photo_px=64,
        tract_grid=3, corr_m=150.0, workers=2,
    ),
    "default": Preset(
        name="default", extent_m=1600.0, block_pitch_m=100.0, n_locations=1500, photo_px=128,
        tract_grid=7, corr_m=250.0, workers=2,
    ),
}

CRS = "EPSG:32617"
ORIGIN_XY = (328000.0, 4421000.0)  # lower-left corner (x, y) in EPSG:32617 (central Ohio)
UTC_OFFSET_H = -5  # local solar time offset used for sun and light
OVERHEAD_DATES = ("2023-04-18", "2023-07-12", "2023-10-21")


def get_preset(name: str) -> Preset:
    """Return the preset called `name`, or an EngineError listing the known ones."""
    try:
        return PRESETS[name]
    except KeyError:
        raise EngineError(
            f"unknown sample-city preset {name!r}",
            f"use one of: {', '.join(sorted(PRESETS))}",
        ) from None
