"""Dynamic content: light, weather and season of a capture, and the cars and people present."""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime

import numpy as np

from engine.data.sample_city.presets import UTC_OFFSET_H
from engine.data.sample_city.style import accent_colour

LATITUDE = 39.96  # the sample city's latitude (degrees), for the sun
# month -> (foliage rgb, foliage density, grass rgb); index 0 unused
_SEASON = [None] + [
    ((0.40, 0.34, 0.28), 0.30, (0.52, 0.50, 0.40)),  # Jan
    ((0.40, 0.34, 0.28), 0.30, (0.52, 0.50, 0.40)),
    ((0.52, 0.60, 0.33), 0.55, (0.47, 0.55, 0.33)),
    ((0.45, 0.66, 0.25), 0.85, (0.42, 0.62, 0.26)),
    ((0.36, 0.60, 0.22), 1.00, (0.38, 0.60, 0.24)),
    ((0.24, 0.47, 0.16), 1.00, (0.36, 0.54, 0.22)),  # Jun
    ((0.22, 0.44, 0.15), 1.00, (0.40, 0.50, 0.24)),
    ((0.24, 0.43, 0.15), 1.00, (0.45, 0.50, 0.27)),
    ((0.34, 0.45, 0.17), 1.00, (0.42, 0.52, 0.25)),
    ((0.78, 0.47, 0.13), 0.90, (0.45, 0.52, 0.27)),  # Oct
    ((0.62, 0.36, 0.18), 0.55, (0.50, 0.50, 0.34)),
    ((0.40, 0.34, 0.28), 0.30, (0.52, 0.50, 0.40)),  # Dec
]
_CAR_RGB = np.array([(0.92, 0.92, 0.92), (0.70, 0.71, 0.73), (0.10, 0.10, 0.11),
                     (0.40, 0.41, 0.43), (0.70, 0.08, 0.08), (0.12, 0.22, 0.55),
                     (0.42, 0.05, 0.07), (0.95, 0.75, 0.05)])
_CAR_P = np.array([0.2, 0.18, 0.17, 0.13, 0.12, 0.1, 0.05, 0.05])


@dataclass
class Conditions:
    """Light, weather and season at one moment (colours are RGB in [0, 1])."""

    month: int
    sun_az: float  # degrees clockwise from north
    sun_el: float  # degrees above the horizon
    clear: float  # 1 clear, 0.5 partly cloudy, 0 overcast
    sky_top: np.ndarray
    sky_bottom: np.ndarray
    haze_rgb: np.ndarray
    visibility_m: float
    brightness: float
    shadow: float  # strength of direct light vs ambient
    foliage: np.ndarray
    foliage_density: float
    grass: np.ndarray
    cloud_phase: float


def sun_position(when_utc: datetime) -> tuple[float, float]:
    """(azimuth, elevation) in degrees of the sun over the sample city at a UTC time."""
    doy = when_utc.timetuple().tm_yday
    hour = when_utc.hour + when_utc.minute / 60 + UTC_OFFSET_H
    decl = math.radians(23.44 * math.sin(2 * math.pi * (284 + doy) / 365))
    lat, ha = math.radians(LATITUDE), math.radians(15 * (hour - 12))
    sin_el = math.sin(lat) * math.sin(decl) + math.cos(lat) * math.cos(decl) * math.cos(ha)
    el = math.asin(max(-1.0, min(1.0, sin_el)))
    denom = max(math.cos(el) * math.cos(lat), 1e-6)
    cos_az = (math.sin(decl) - math.sin(el) * math.sin(lat)) / denom
    az = math.degrees(math.acos(max(-1.0, min(1.0, cos_az))))
    return (az if ha < 0 else 360 - az), math.degrees(el)


def conditions(rng: np.random.Generator, when_utc: datetime) -> Conditions:
    """Draw the weather for `when_utc`; season and sun follow from the date and hour."""
    foliage, density, grass = _SEASON[when_utc.month]
    az, el = sun_position(when_utc)
    kind = rng.choice(3, p=[0.5, 0.3, 0.2])
    clear = (1.0, 0.5, 0.0)[kind]
    top = np.array([(0.30, 0.52, 0.86), (0.50, 0.63, 0.82), (0.68, 0.70, 0.73)][kind])
    top = np.clip(top + rng.normal(0, 0.03, 3), 0, 1)
    bottom = np.clip(0.45 * top + 0.55 * np.array([0.90, 0.91, 0.92]), 0, 1)
    vis = rng.uniform(*[(500, 1200), (300, 700), (150, 350)][kind])
    light = 0.55 + 0.45 * math.sin(math.radians(max(el, 3.0)))
    brightness = light * (1.0, 0.9, 0.75)[kind] * rng.uniform(0.95, 1.05)
    jitter = lambda c: np.clip(np.array(c) + rng.normal(0, 0.02, 3), 0, 1)  # noqa: E731
    return Conditions(
        month=when_utc.month, sun_az=az, sun_el=el, clear=clear, sky_top=top, sky_bottom=bottom,
        haze_rgb=bottom * 0.95, visibility_m=vis, brightness=brightness,
        shadow=(0.45, 0.3, 0.08)[kind], foliage=jitter(foliage), foliage_density=density,
        grass=jitter(grass), cloud_phase=rng.uniform(0, 2 * math.pi),
    )


def street_actors(rng: np.random.Generator, density: float, shops: float, half_w: float,
                  weather: float) -> dict[str, np.ndarray]:
    """Cars and people around a camera, in street coordinates (along, lateral metres)."""
    n_park = rng.binomial(28, np.clip(0.15 + 0.55 * density, 0, 0.9))
    n_move = rng.poisson(1.0 + 4.0 * density)
    side = rng.choice([-1.0, 1.0], n_park)
    park = np.stack([rng.uniform(-90, 90, n_park), side * (half_w - 1.2)], 1)
    lanes = rng.choice([-1.0, 1.0], n_move) * half_w * rng.uniform(0.25, 0.4, n_move)
    move = np.stack([rng.uniform(-90, 90, n_move), lanes], 1)
    cars = np.vstack([park, move])
    keep = (np.abs(cars[:, 0]) > 9.0) | (np.abs(cars[:, 1]) > 3.0)  # not on the camera's car
    cars = cars[keep]
    car_rgb = _CAR_RGB[rng.choice(len(_CAR_RGB), len(cars), p=_CAR_P)]
    n_people = rng.poisson((1.0 + 22.0 * density * (0.3 + shops)) * (0.5 + 0.5 * weather))
    side = rng.choice([-1.0, 1.0], n_people)
    people = np.stack([rng.uniform(-60, 60, n_people),
                       side * (half_w + rng.uniform(0.7, 2.6, n_people))], 1)
    shirts = np.array([accent_colour(rng) for _ in range(n_people)]).reshape(-1, 3)
    pants = np.array([(0.15, 0.18, 0.30), (0.08, 0.08, 0.09), (0.55, 0.48, 0.35),
                      (0.35, 0.36, 0.4)])
    skin = np.array([(0.93, 0.78, 0.65), (0.78, 0.58, 0.42), (0.55, 0.38, 0.26),
                     (0.36, 0.25, 0.18)])
    return {
        "cars": cars, "car_rgb": car_rgb,
        "people": people, "people_h": rng.uniform(1.55, 1.9, n_people), "shirt": shirts,
        "pants": pants[rng.integers(4, size=n_people)],
        "skin": skin[rng.integers(4, size=n_people)],
    }


def overhead_cars(rng: np.random.Generator, streets: dict[str, np.ndarray], fields,
                  lo: tuple[float, float], hi: tuple[float, float]) -> np.ndarray:
    """Cars on all streets at one overhead date: rows (x, y, along_x 1 / along_y 0, r, g, b)."""
    rows = []
    for axis, centres, widths in (("ns", streets["ns_x"], streets["ns_w"]),
                                  ("ew", streets["ew_y"], streets["ew_w"])):
        a0, a1 = (lo[1], hi[1]) if axis == "ns" else (lo[0], hi[0])
        for c, w in zip(centres, widths, strict=True):
            slots = np.arange(a0 + rng.uniform(0, 6), a1, 6.5)
            for lat in (-(w / 2 - 1.2), w / 2 - 1.2, -w * 0.17, w * 0.17):
                moving = abs(lat) < w / 4
                pts = (np.stack([np.full(slots.size, c + lat), slots], 1) if axis == "ns"
                       else np.stack([slots, np.full(slots.size, c + lat)], 1))
                dens = fields.sample("density", pts[:, 0], pts[:, 1])
                p = (0.04 + 0.12 * dens) if moving else (0.12 + 0.55 * dens)
                take = rng.random(slots.size) < p
                rgb = _CAR_RGB[rng.choice(len(_CAR_RGB), int(take.sum()), p=_CAR_P)]
                flag = np.full((int(take.sum()), 1), 1.0 if axis == "ew" else 0.0)
                rows.append(np.hstack([pts[take], flag, rgb]))
    return np.vstack(rows) if rows else np.zeros((0, 6))
