"""Building styles: height follows density; facade colour, material, windows, upkeep: wealth."""

from __future__ import annotations

import colorsys

import numpy as np

# facade materials
PLAIN, BRICK, PANEL = 0, 1, 2

_RICH = (  # (rgb, material)
    ((0.93, 0.89, 0.80), PLAIN),  # cream render
    ((0.95, 0.95, 0.93), PLAIN),  # white
    ((0.84, 0.78, 0.68), PLAIN),  # light stone
    ((0.66, 0.31, 0.23), BRICK),  # clean red brick
    ((0.80, 0.70, 0.62), PLAIN),  # sandstone
)
_POOR = (
    ((0.72, 0.64, 0.52), PLAIN),  # faded beige
    ((0.56, 0.55, 0.53), PLAIN),  # grey concrete
    ((0.50, 0.31, 0.26), BRICK),  # dull brick
    ((0.55, 0.45, 0.36), PLAIN),  # brown siding
    ((0.74, 0.67, 0.46), PLAIN),  # dingy yellow
)
_FLAT_ROOFS = ((0.60, 0.60, 0.60), (0.72, 0.71, 0.69), (0.40, 0.40, 0.42), (0.88, 0.88, 0.86))
_PITCHED_ROOFS = ((0.62, 0.32, 0.22), (0.33, 0.33, 0.36), (0.46, 0.36, 0.29), (0.55, 0.27, 0.20))

STYLE_FIELDS = (
    "height", "floors", "floor_h", "ground_h", "win_dx", "win_w", "win_h", "base_rgb",
    "accent_rgb", "glass_rgb", "roof_rgb", "pitched", "material", "shop", "graffiti",
    "wealth", "upkeep",
)


def accent_colour(rng: np.random.Generator) -> tuple[float, float, float]:
    """A saturated sign/awning colour; never green (green pixels mean vegetation)."""
    hue = rng.uniform(0.0, 0.72)
    hue = hue if hue < 0.14 else hue + 0.28  # skip hues 0.14-0.42 (yellow-green to green)
    return colorsys.hsv_to_rgb(hue % 1.0, rng.uniform(0.65, 0.95), rng.uniform(0.65, 0.95))


def make_style(rng: np.random.Generator, wealth: float, density: float) -> dict:
    """Draw one building's attributes from the local wealth and density (both in [0, 1])."""
    upkeep = float(np.clip(wealth + rng.normal(0, 0.12), 0, 1))
    floors = int(np.clip(round(1 + 11 * density**1.8 * rng.lognormal(0, 0.35)
                               + rng.uniform(0, 1.5)), 1, 18))
    floor_h = rng.uniform(2.9, 3.4)
    shop = bool(rng.random() < np.clip(1.4 * density - 0.25, 0.0, 0.9))
    ground_h = 4.2 if shop else floor_h
    palette = _RICH if rng.random() < wealth else _POOR
    rgb, material = palette[rng.integers(len(palette))]
    base = np.clip(np.array(rgb) + rng.normal(0, 0.035, 3), 0, 1)
    if floors >= 7 and rng.random() < 0.6:
        base = np.clip(np.array([0.36, 0.40, 0.46]) + rng.normal(0, 0.04, 3), 0, 1)
        material = PANEL
    dirt = 1.0 - upkeep
    base = base * (0.80 + 0.20 * upkeep)
    base = base * (1 - 0.25 * dirt) + np.array([0.42, 0.38, 0.33]) * 0.25 * dirt
    glass = np.clip(np.array([0.20, 0.25, 0.32]) + 0.08 * wealth + rng.normal(0, 0.03, 3), 0, 1)
    pitched = bool(floors <= 3 and rng.random() < 0.75)
    roofs = _PITCHED_ROOFS if pitched else _FLAT_ROOFS
    roof = np.clip(np.array(roofs[rng.integers(len(roofs))]) + rng.normal(0, 0.03, 3), 0, 1)
    graffiti = float(np.clip((0.45 - upkeep) * 2.2 + rng.normal(0, 0.1), 0, 1))
    graffiti = graffiti if rng.random() < 0.7 else 0.0
    return {
        "height": floors * floor_h + (ground_h - floor_h), "floors": floors, "floor_h": floor_h,
        "ground_h": ground_h, "win_dx": rng.uniform(2.4, 3.6),
        "win_w": rng.uniform(0.35, 0.5) + 0.2 * wealth + (0.15 if material == PANEL else 0.0),
        "win_h": rng.uniform(0.45, 0.6) + (0.15 if material == PANEL else 0.0),
        "base_rgb": base, "accent_rgb": np.array(accent_colour(rng)), "glass_rgb": glass,
        "roof_rgb": roof, "pitched": pitched, "material": material, "shop": shop,
        "graffiti": graffiti, "wealth": float(wealth), "upkeep": upkeep,
    }


def stack_styles(styles: list[dict]) -> dict[str, np.ndarray]:
    """Column arrays indexed by building id; row 0 is a placeholder for 'no building'."""
    out: dict[str, np.ndarray] = {}
    for key in STYLE_FIELDS:
        first = np.asarray(styles[0][key], dtype=np.float64) if styles else np.ones(())
        pad = first.reshape(1, *first.shape) * (0.0 if key == "height" else 1.0)
        vals = np.array([s[key] for s in styles], dtype=np.float64).reshape(-1, *first.shape)
        out[key] = np.concatenate([pad, vals])
    out["shop"] = out["shop"].astype(bool)
    out["pitched"] = out["pitched"].astype(bool)
    out["material"] = out["material"].astype(np.int64)
    out["floors"] = out["floors"].astype(np.int64)
    return out
