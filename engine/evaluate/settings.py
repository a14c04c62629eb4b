"""The one settings dataclass of the experiment pipeline, and its named presets.

The benchmark (`python -m engine.evaluate`) and the demo (`python -m engine demo`) are presets
of one pipeline: the same sizes, CV blocks and recipes, differing only in what they run.
City-dependent sizes (photo size, CV blocks, folds, map stride) follow the city's preset.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace

from engine import defaults
from engine.data.sample_city.perception import PERCEPTION
from engine.data.sample_city.tracts import ATTRIBUTES as SOCIOECONOMIC
from engine.errors import EngineError

__all__ = ["PERCEPTION", "PRESETS", "SIZES_BY_CITY", "SOCIOECONOMIC", "Settings", "for_city",
           "settings_for"]


MAP_HEADS: tuple[str, ...] = ("photos", "overhead")


@dataclass(frozen=True)
class Settings:
    """Everything a pipeline run varies: city preset, seeds, training steps and task sizes."""

    preset: str = "default"        # the sample city's preset the sizes below are made for
    cities: tuple[int, ...] = (0, 1, 2)  # sample-city seeds (0: the default city's draw)
    tract_grid: int = 14           # tracts per side of the benchmark's cities (196 tracts)
    seeds: int = 3                 # training seeds per city
    seed: int = 0                  # the seed of this run (CV folds, pair sampling, training)
    # the recipe whose zero-shot maps the demo ships and map_fidelity scores (selected on city
    # seed 3: docs/BENCHMARK_PROTOCOL.md, bench/map_select.py)
    map_recipe: str = "lite0_crossview_spatial"
    random_recipe: str = "crossview_spatial"  # the random-init baseline has its architecture
    steps: int = 200
    adapter_steps: int = 1000      # the frozen temporal adapter's steps (lite0_temporal)
    # lite0_crossview_spatial's adapter steps and batch (selected on city seed 3 for the maps)
    map_steps: int = 400
    map_batch_size: int = 32
    # the maps' head: "photos" (fitted on photo embeddings, zero-shot on the overhead field) or
    # "overhead" (fitted on the overhead field at the labelled places; out-of-fold validity
    # check); MAP_HEADS; "overhead" selected on city seed 3 (docs/BENCHMARK_PROTOCOL.md,
    # second amendment of the map recipe)
    map_head: str = "overhead"
    # the maps' PNG quick-looks (the demo ships them; the benchmark scores the GeoTIFFs only)
    quicklooks: bool = True
    # the map stage's photo embeddings (embeddings/photos.gpkg) where the heads are fitted on
    # the overhead field, which takes only the photos' places and labels: the demo ships
    # them, the benchmark scores the maps only (encoder_run.photos_embedded)
    map_photos: bool = True
    csp_steps: int = 100
    landsat_steps: int = 300
    batch_size: int = defaults.TRAIN_BATCH
    image_size: int = defaults.IMAGE_PX  # street photos seen by the model (px)
    # photos seen by the pretrained backbone (frozen ImageNet baseline and lite0_* recipes,
    # alike): the city's native photo size
    pretrained_image_size: int = 128
    chip_px: int = defaults.CHIP_PX  # overhead chip side (px of the raster; 1 m/px in the city)
    # spacing of the overhead chips' grid over the city (socioeconomic_overhead, the fusion
    # tasks): at 50 m a 14 x 14-tract city holds about 5 chips a tract
    overhead_grid_m: float = 50.0
    stride_px: int = defaults.default_stride(defaults.CHIP_PX)  # field pixel, raster pixels
    point_block_m: float = 200.0   # CV block side for per-photo heads
    tract_block_m: float = 400.0   # CV block side for per-tract heads
    point_folds: int = defaults.FOLDS
    tract_folds: int = defaults.FOLDS
    vpr_radius_m: float = 25.0
    vpr_heading_deg: float = 45.0
    n_pairs: int = 20000           # pairs sampled for the pairwise ranking accuracy
    min_dist_m: float = 30.0       # "photo-free" map cells lie farther than this from photos
    holdout_block_m: float = 200.0  # held-out places: square blocks of this side ...
    holdout_share: float = 0.25    # ... this share of them (seeded by the city seed) ...
    holdout_buffer_m: float = 50.0  # ... and no training photo nearer than this to them
    # a partial run (`--recipes`, `--tasks`): only these recipes / tasks; None: all of them
    only_recipes: tuple[str, ...] | None = None
    only_tasks: tuple[str, ...] | None = None

    def runs_recipe(self, name: str) -> bool:
        """Whether this run trains recipe `name` (every recipe unless `only_recipes`)."""
        return self.only_recipes is None or name in self.only_recipes

    def runs_task(self, name: str) -> bool:
        """Whether this run scores task `name` (every task unless `only_tasks`)."""
        return self.only_tasks is None or name in self.only_tasks

    def to_dict(self) -> dict:
        return asdict(self)


# the sizes that follow the city's preset (a small city needs smaller blocks and images)
SIZES_BY_CITY: dict[str, dict] = {
    "small": {"image_size": 32, "pretrained_image_size": 64, "chip_px": 64, "stride_px": 8,
              "point_block_m": 100.0, "tract_block_m": 150.0, "point_folds": 4,
              "tract_folds": 3, "n_pairs": 5000, "tract_grid": 6, "holdout_block_m": 100.0,
              "holdout_buffer_m": 25.0},
    "default": {},
}

_SMALL = replace(Settings(), preset="small", **SIZES_BY_CITY["small"])
PRESETS: dict[str, Settings] = {
    "benchmark": Settings(quicklooks=False, map_photos=False),
    "benchmark-quick": replace(_SMALL, cities=(0,), seeds=1, steps=40, csp_steps=20,
                               quicklooks=False, map_photos=False,
                               adapter_steps=40, map_steps=40, landsat_steps=20),
    "demo": Settings(cities=(0,), seeds=1, steps=400),
    "demo-quick": replace(_SMALL, cities=(0,), seeds=1, steps=150, map_steps=150),
}


def for_city(s: Settings, city_preset: str | None) -> Settings:
    """`s` with the sizes of `city_preset` (the preset recorded in the city's city.json)."""
    if city_preset is None or city_preset == s.preset:
        return s
    if city_preset not in SIZES_BY_CITY:
        raise EngineError(f"unknown sample-city preset {city_preset!r} in city.json",
                          f"use a city of preset {' or '.join(SIZES_BY_CITY)}")
    base = replace(Settings(), **SIZES_BY_CITY[city_preset])
    return replace(s, preset=city_preset, **{k: getattr(base, k) for k in
                                             SIZES_BY_CITY["small"]})


def settings_for(name: str, city_preset: str | None = None, seeds: int | None = None,
                 steps: int | None = None) -> Settings:
    """The preset `name` (see PRESETS), sized for the city, with optional overrides."""
    if name not in PRESETS:
        raise EngineError(f"unknown pipeline preset {name!r}",
                          f"use one of: {', '.join(PRESETS)}")
    s = for_city(PRESETS[name], city_preset)
    if seeds is not None:
        s = replace(s, seeds=int(seeds))
    if steps is not None:
        s = replace(s, steps=int(steps), csp_steps=int(steps), adapter_steps=int(steps),
                    map_steps=int(steps))
    return s
