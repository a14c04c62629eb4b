"""The demo's sizes: the full run (default sample city) and --quick (small city, for tests).

Steps and sizes are chosen so the full demo fits in < 10 minutes on 2 CPU cores (measured:
see the report's timings); the quick one in well under a minute.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

PERCEPTION = ("perception_safety", "perception_lively", "perception_beautiful")
SOCIOECONOMIC = ("income", "poverty_share", "pop_density")


@dataclass(frozen=True)
class DemoSettings:
    """Everything the demo varies between the full and the quick run."""

    preset: str = "default"
    seed: int = 0
    recipe: str = "models/crossview_spatial.yaml"
    steps: int = 400
    batch_size: int = 32
    image_size: int = 64       # street photos seen by the model (px)
    chip_px: int = 64          # overhead chip side (px of the raster; 1 m/px in the city)
    stride_px: int = 16        # embedding-field pixel = stride_px raster pixels
    point_block_m: float = 200.0   # CV block side for per-photo heads
    tract_block_m: float = 400.0   # CV block side for per-tract heads
    point_folds: int = 5
    tract_folds: int = 5
    min_dist_m: float = 30.0   # "photo-free" cells lie farther than this from every photo
    baseline: bool = True      # also score a random-init encoder of the same architecture

    def to_dict(self) -> dict:
        return asdict(self)


FULL = DemoSettings()
QUICK = DemoSettings(preset="small", steps=150, image_size=32, chip_px=64, stride_px=8,
                     point_block_m=100.0, tract_block_m=150.0, point_folds=4, tract_folds=3)


def settings_for(quick: bool, steps: int | None = None) -> DemoSettings:
    """QUICK or FULL, with an optional step count override."""
    from dataclasses import replace

    s = QUICK if quick else FULL
    return replace(s, steps=int(steps)) if steps else s
