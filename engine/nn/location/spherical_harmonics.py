"""SatCLIP's encoding: real spherical harmonics Y_l^m for l < legendre_polys, with a SIREN head.

Computed in closed form by the stable recurrence of the fully normalised associated Legendre
functions (no tables, no sympy): orthonormal on the unit sphere, L^2 features, smooth at the
poles and periodic in longitude by construction.
"""

from __future__ import annotations

import math

import torch

from engine.errors import EngineError
from engine.nn.location.base import PositionalEncoding
from engine.nn.registry import LOCATION_ENCODERS


def associated_legendre(
    x: torch.Tensor, s: torch.Tensor, degree: int
) -> dict[tuple[int, int], torch.Tensor]:
    """Normalised P_l^m(cos theta) for 0 <= m <= l < degree (x = cos theta, s = sin theta >= 0).

    Normalised so that P_l^m(cos theta) e^{i m lon} is orthonormal on the sphere (no
    Condon-Shortley phase).
    """
    p: dict[tuple[int, int], torch.Tensor] = {
        (0, 0): torch.full_like(x, 1.0 / math.sqrt(4 * math.pi))
    }
    for m in range(degree):
        if m > 0:
            p[(m, m)] = math.sqrt((2 * m + 1) / (2 * m)) * s * p[(m - 1, m - 1)]
        if m + 1 < degree:
            p[(m + 1, m)] = math.sqrt(2 * m + 3) * x * p[(m, m)]
        for ell in range(m + 2, degree):
            a = math.sqrt((4 * ell * ell - 1) / (ell * ell - m * m))
            b = math.sqrt(((ell - 1) ** 2 - m * m) / (4 * (ell - 1) ** 2 - 1))
            p[(ell, m)] = a * (x * p[(ell - 1, m)] - b * p[(ell - 2, m)])
    return p


def real_spherical_harmonics(lonlat: torch.Tensor, degree: int) -> torch.Tensor:
    """(B, degree^2) real orthonormal Y_l^m, ordered l = 0.., m = -l..l; lonlat in degrees."""
    lon = torch.deg2rad(lonlat[:, 0])
    colat = torch.deg2rad(90.0 - lonlat[:, 1])
    x, s = torch.cos(colat), torch.sin(colat).clamp_min(0.0)
    p = associated_legendre(x, s, degree)
    cos_m = [torch.cos(m * lon) for m in range(degree)]
    sin_m = [torch.sin(m * lon) for m in range(degree)]
    out = []
    for ell in range(degree):
        for m in range(-ell, ell + 1):
            if m < 0:
                out.append(math.sqrt(2) * p[(ell, -m)] * sin_m[-m])
            elif m == 0:
                out.append(p[(ell, 0)])
            else:
                out.append(math.sqrt(2) * p[(ell, m)] * cos_m[m])
    return torch.stack(out, dim=1)


@LOCATION_ENCODERS.register("spherical_harmonics")
class SphericalHarmonicsEncoding(PositionalEncoding):
    """SatCLIP: legendre_polys^2 real spherical harmonics (L=10 ~ 2000 km, L=40 ~ 500 km)."""

    periodic_lon = True
    default_head = "siren"

    def __init__(self, legendre_polys: int = 10) -> None:
        super().__init__()
        if not 1 <= legendre_polys <= 100:
            raise EngineError(
                f"legendre_polys must be in 1..100, got {legendre_polys}",
                hint="SatCLIP uses 10 (coarse) or 40 (fine)",
            )
        self.degree = legendre_polys
        self.out_dim = legendre_polys**2

    def forward(self, lonlat: torch.Tensor) -> torch.Tensor:
        return real_spherical_harmonics(lonlat, self.degree)
