"""Sky, ground and facades of a street photo: a column ray-caster over the world's maps."""

from __future__ import annotations

import math

import numpy as np

from engine.data.sample_city import camera as cam
from engine.data.sample_city.camera import Frame, haze
from engine.data.sample_city.dynamics import Conditions
from engine.data.sample_city.rng import hash01
from engine.data.sample_city.style import BRICK, PANEL
from engine.data.sample_city.world import (
    BUILDING,
    GRASS,
    MARKING,
    PAVED,
    POOL,
    ROAD,
    SIDEWALK,
    World,
)

T_MAX, DT = 140.0, 0.25
_GROUND_RGB = {ROAD: (0.34, 0.34, 0.36), MARKING: (0.88, 0.88, 0.84), SIDEWALK: (0.66, 0.65, 0.62),
               PAVED: (0.58, 0.55, 0.50), BUILDING: (0.45, 0.44, 0.42), POOL: (0.25, 0.60, 0.80)}
_GROUND_LABEL = np.array([cam.GRASS_PX, cam.ROAD_PX, cam.ROAD_PX, cam.WALK_PX, cam.OTHER,
                          cam.OTHER, cam.OTHER], dtype=np.uint8)
_GRAFFITI = np.array([(0.85, 0.10, 0.65), (0.10, 0.75, 0.85), (0.95, 0.85, 0.10),
                      (0.12, 0.12, 0.14), (0.95, 0.35, 0.10)])


def draw_sky(fr: Frame, cond: Conditions, ang: np.ndarray) -> None:
    """Vertical gradient sky with soft clouds that stay put in world directions."""
    t = fr.sky_t()[:, None, None]
    fr.img[:] = cond.sky_top * (1 - t) + cond.sky_bottom * t
    if cond.clear < 1.0:
        th = math.radians(fr.heading) + ang
        rows = fr.cloud_rows()[:, None]
        c = np.sin(3 * th[None, :] + cond.cloud_phase) * np.sin(9 * rows + 2 * cond.cloud_phase)
        c = np.clip((c - 0.2) * 2.0 * (1.0 - cond.clear), 0, 1)[..., None]
        fr.img[:] = fr.img * (1 - c) + np.array([0.93, 0.93, 0.94]) * c
    fr.label[:] = cam.SKY


def draw_ground(fr: Frame, world: World, cond: Conditions, ang: np.ndarray, upkeep: float) -> None:
    """Floor casting: every pixel below the horizon looks up the ground class it sees."""
    below, d_perp = fr.ground_rows()  # (R,) forward metres
    t = d_perp[:, None] / fr.ray_cos(ang)[None, :]
    th = math.radians(fr.heading) + ang
    gx, gy = fr.x + np.sin(th)[None, :] * t, fr.y + np.cos(th)[None, :] * t
    r, c, inside = world.index(gx, gy)
    cls = np.where(inside, world.cls[r, c], GRASS)
    noise = hash01(np.floor(gx * 2.0), np.floor(gy * 2.0))[..., None]
    rgb = np.empty((*cls.shape, 3), np.float32)
    rgb[:] = cond.grass
    for k, v in _GROUND_RGB.items():
        rgb[cls == k] = v
    walk = (cls == SIDEWALK)[..., None]
    rgb = np.where(walk, rgb * (0.8 + 0.2 * upkeep), rgb)
    cracks = walk & (noise < (1.0 - upkeep) * 0.25)
    rgb = np.where(cracks, rgb * 0.7, rgb) * (0.88 + 0.24 * noise)
    rgb = rgb * cond.brightness * (1.0 - 0.25 * cond.shadow)
    fr.img[below] = haze(rgb, t, cond.haze_rgb, cond.visibility_m)
    fr.label[below] = _GROUND_LABEL[cls]


def cast_walls(fr: Frame, world: World, ang: np.ndarray):
    """March one ray per column; return (building id, forward distance, u along wall, normal)."""
    th = math.radians(fr.heading) + ang
    dx, dy = np.sin(th), np.cos(th)
    t = np.arange(DT, T_MAX, DT)
    r, c, inside = world.index(fr.x + dx[:, None] * t, fr.y + dy[:, None] * t)
    hit = (world.bid[r, c] > 0) & inside
    has = hit.any(1) & ~hit[:, 0]
    k = np.where(has, hit.argmax(1), 1)
    i = np.arange(fr.width)
    col_k, row_k = c[i, k], r[i, k]
    xb = world.x0 + world.res * np.where(dx > 0, col_k, col_k + 1)
    yb = world.y1 - world.res * np.where(dy < 0, row_k, row_k + 1)
    with np.errstate(divide="ignore", invalid="ignore"):
        tx = np.where(col_k != c[i, k - 1], (xb - fr.x) / dx, -np.inf)
        ty = np.where(row_k != r[i, k - 1], (yb - fr.y) / dy, -np.inf)
    face_x = tx >= ty
    t_hit = np.where(face_x, tx, ty)
    t_hit = np.where(np.isfinite(t_hit), t_hit, t[k])
    u = np.where(face_x, fr.y + dy * t_hit, fr.x + dx * t_hit)
    normal = np.where(face_x[:, None], np.stack([-np.sign(dx), 0 * dx], 1),
                      np.stack([0 * dy, -np.sign(dy)], 1))
    bid = np.where(has, world.bid[row_k, col_k], 0)
    forward = np.where(has, np.maximum(t_hit * fr.ray_cos(ang), 0.3), np.inf)
    return bid, forward, u, normal


def draw_walls(fr: Frame, world: World, cond: Conditions, ang: np.ndarray) -> np.ndarray:
    """Facades with windows, shops, signs, brick and graffiti; returns the per-column bid."""
    bid, fwd, u, normal = cast_walls(fr, world, ang)
    st = world.style
    shape = (fr.height, fr.width)
    h = st["height"][bid]
    rc = (np.arange(fr.height) + 0.5)[:, None]
    with np.errstate(invalid="ignore"):
        top, bot = fr.row_of(h, fwd), fr.row_of(0.0, fwd)
        wall = (bid > 0)[None, :] & (rc >= top[None, :]) & (rc < bot[None, :])
    fr.zbuf[:] = fwd
    if not wall.any():
        return np.zeros(shape, dtype=bid.dtype)
    fw = np.where(np.isfinite(fwd), fwd, 0.0)
    v = fr.height_at(rc, fw[None, :])  # height on the facade (H, W)
    g = lambda key: st[key][bid][None, :]  # noqa: E731
    wdx, fh, gh = g("win_dx"), g("floor_h"), g("ground_h")
    fu = (u[None, :] % wdx) / wdx
    bay = np.floor(u[None, :] / wdx)
    storey = np.floor((v - gh) / fh)
    fv = ((v - gh) % fh) / fh
    rgb = np.broadcast_to(st["base_rgb"][bid][None, :, :], (*shape, 3)).copy()
    label = np.full(shape, cam.WALL, np.uint8)
    mat = g("material")
    full = lambda m: np.broadcast_to(m, shape)  # noqa: E731
    rgb[full((mat == BRICK) & ((v * 4.0) % 1.0 < 0.13))] *= 0.8
    rgb[full((mat == PANEL) & (fu < 0.06))] *= 0.75
    rgb[full(v > g("height") - 0.6)] *= 0.72
    upper = (v >= gh) & (v < g("height") - 0.7) & (np.abs(fu - 0.5) < g("win_w") / 2)
    upper &= (fv > 0.28) & (fv < np.minimum(0.28 + g("win_h"), 0.92))
    shop = g("shop") > 0
    low = ~shop & (v > 1.0) & (v < np.minimum(2.3, gh - 0.4)) & (np.abs(fu - 0.5) < g("win_w") / 2)
    door = ~shop & (v < 2.2) & (np.abs(fu - 0.5) < 0.18) & (hash01(bid[None, :], bay) < 0.3)
    glass = full(upper | (low & ~door))
    door = full(door)
    noise = hash01(bid[None, :], bay, storey)
    boarded = glass & full(noise < (0.5 - g("upkeep")) * 0.6)
    glass_rgb = st["glass_rgb"][bid][None] * 0.75 + cond.sky_bottom * 0.25
    rgb = np.where(glass[..., None], glass_rgb * (0.85 + 0.3 * noise[..., None]), rgb)
    rgb[boarded] = (0.55, 0.45, 0.30)
    rgb[door] = (0.30, 0.20, 0.14)
    label[glass] = cam.WINDOW
    sign = full(shop & (v > gh - 1.0) & (v < gh - 0.35))
    vitrine = full(shop & (v > 0.3) & (v < gh - 1.2) & (np.abs(fu - 0.5) < 0.42))
    rgb = np.where(sign[..., None], st["accent_rgb"][bid][None], rgb)
    shop_glass = np.array([0.55, 0.52, 0.45]) * (0.7 + 0.5 * noise[..., None])
    rgb = np.where(vitrine[..., None], shop_glass, rgb)
    label[sign | vitrine] = cam.SHOP
    tag = full((v > 0.2) & (v < 2.0)) & ~vitrine & ~glass
    spots = hash01(bid[None, :], np.floor(u * 1.3)[None, :], np.floor(v * 2.0))
    tag &= spots < g("graffiti") * 0.55
    tag_col = _GRAFFITI[(hash01(bid, np.floor(u * 0.4)) * len(_GRAFFITI)).astype(int)]
    rgb = np.where(tag[..., None], tag_col[None, :, :], rgb)
    label[tag] = cam.GRAFFITI
    sun = np.array([math.sin(math.radians(cond.sun_az)), math.cos(math.radians(cond.sun_az))])
    lambert = np.clip(normal @ sun, 0, 1) * math.cos(math.radians(max(cond.sun_el, 0.0)))
    shade = cond.brightness * ((1 - cond.shadow) + cond.shadow * 1.6 * lambert)
    rgb = haze(rgb * shade[None, :, None], fw[None, :], cond.haze_rgb, cond.visibility_m)
    fr.img[wall] = rgb[wall]
    fr.label[wall] = label[wall]
    return np.where(wall, bid[None, :], 0)
