"""Render one street photo from the world and measure what it shows (for perception scores)."""

from __future__ import annotations

import numpy as np

from engine.data.sample_city import camera as cam
from engine.data.sample_city.camera import Frame
from engine.data.sample_city.dynamics import Conditions
from engine.data.sample_city.scene import draw_ground, draw_sky, draw_walls
from engine.data.sample_city.sprites import draw_sprites
from engine.data.sample_city.world import World


def green_fraction(img: np.ndarray) -> float:
    """Share of pixels that look like vegetation (green dominant); works on any RGB uint8 photo."""
    rgb = img.astype(np.float32)
    r, g, b = rgb[..., 0], rgb[..., 1], rgb[..., 2]
    return float(((g > r * 1.08) & (g > b * 1.15) & (g > 30)).mean())


def colourful_fraction(img: np.ndarray) -> float:
    """Share of saturated, non-green, non-sky pixels in the lower 60% (people, cars, shop signs)."""
    rgb = img[int(img.shape[0] * 0.4):].astype(np.float32) / 255.0
    mx, mn = rgb.max(-1), rgb.min(-1)
    sat = (mx - mn) / np.maximum(mx, 1e-6)
    r, g, b = rgb[..., 0], rgb[..., 1], rgb[..., 2]
    greenish = (g >= r) & (g >= b)
    skyish = (b >= r) & (b >= g) & (mx > 0.7) & (sat < 0.6)
    return float(((sat > 0.55) & (mx > 0.25) & ~greenish & ~skyish).mean())


def draw_scene(fr: Frame, world: World, cond: Conditions, actors: dict, tree_idx: np.ndarray,
               prop_idx: np.ndarray, upkeep: float) -> tuple[np.ndarray, np.ndarray]:
    """Draw sky, ground, facades and objects into `fr` (any camera); (uint8 image, wall ids)."""
    ang = fr.col_angles()
    draw_sky(fr, cond, ang)
    draw_ground(fr, world, cond, ang, upkeep)
    wall_bid = draw_walls(fr, world, cond, ang)
    draw_sprites(fr, cond, world.trees, tree_idx, world.props, prop_idx, actors)
    return (np.clip(fr.img, 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8), wall_bid


def render_photo(world: World, x: float, y: float, heading: float, cond: Conditions,
                 actors: dict, tree_idx: np.ndarray, prop_idx: np.ndarray, size: int,
                 upkeep: float) -> tuple[np.ndarray, dict[str, float]]:
    """Photo (uint8 size x size x 3) from (x, y) looking at `heading`, and its visible content."""
    fr = Frame(size=size, x=x, y=y, heading=heading, img=np.zeros((size, size, 3), np.float32),
               label=np.zeros((size, size), np.uint8), zbuf=np.full(size, np.inf))
    img, wall_bid = draw_scene(fr, world, cond, actors, tree_idx, prop_idx, upkeep)
    lab = fr.label
    facade = np.isin(lab, (cam.WALL, cam.WINDOW, cam.SHOP, cam.GRAFFITI)) & (wall_bid > 0)
    seen = wall_bid[facade]
    frac = lambda *ks: float(np.isin(lab, ks).mean())  # noqa: E731
    feats = {
        "green": green_fraction(img),
        "colourful": colourful_fraction(img),
        "facade_wealth": float(world.style["wealth"][seen].mean()) if seen.size else 0.5,
        "facade_upkeep": float(world.style["upkeep"][seen].mean()) if seen.size else upkeep,
        "graffiti": frac(cam.GRAFFITI),
        "shop": frac(cam.SHOP),
        "people": frac(cam.PERSON),
        "cars": frac(cam.CAR),
        "trees": frac(cam.TREE),
        "sky": frac(cam.SKY),
        "facade": float(facade.mean()),
        "light": float(img.mean() / 255.0),
        "clear": cond.clear,
        "ground_upkeep": upkeep,
    }
    return img, feats
