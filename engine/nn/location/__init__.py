"""Location encoders: (B,2) lon,lat degrees (lon first, EPSG:4326) -> (B, D) embeddings.

Families (one module each; `periodic_lon` says whether lon and lon+360 give the same output):
  wrap                 sin/cos of lon, lat (Mac Aodha et al.)         periodic (not if direct=True)
  grid, theory         Space2Vec multi-scale sinusoids (radii in deg)   not periodic
  sphereC, sphereM     Sphere2Vec (integer frequencies)                 periodic
  spherical_harmonics  SatCLIP real spherical harmonics + SIREN         periodic
  rff                  GeoCLIP Equal Earth + random Fourier features    not periodic

Scale: for one city, use the multi-scale families (grid, theory, sphereC, sphereM; default
min_radius 1e-4 deg, about 11 m). spherical_harmonics (L=10: ~2000 km, L=40: ~500 km) and rff
with GeoCLIP's sigmas (1, 16, 256) resolve continents and regions, not streets: in a 10 km
study area they barely separate places (raise rff sigmas to e.g. [256, 4096, 65536] there).
"""

from __future__ import annotations

from typing import Any

from engine.nn.location import (  # noqa: F401  (importing registers the families)
    grid,
    rff,
    sphere_c,
    sphere_m,
    spherical_harmonics,
    theory,
    wrap,
)
from engine.nn.location.base import LocationEncoder, PositionalEncoding, validate_lonlat
from engine.nn.location.heads import LOCATION_HEADS
from engine.nn.location.jitter import jitter_lonlat
from engine.nn.registry import LOCATION_ENCODERS, check_kwargs

HEAD_KEYS = ("head", "hidden_dim", "num_layers", "dropout", "w0", "w0_initial")

__all__ = [
    "LocationEncoder",
    "PositionalEncoding",
    "build_location_encoder",
    "jitter_lonlat",
    "validate_lonlat",
]


def build_location_encoder(name: str, out_dim: int, **kw: Any) -> LocationEncoder:
    """Positional encoding `name` + its head ("mlp", or "siren" for spherical_harmonics).

    Head settings: head, hidden_dim, num_layers, dropout (and w0, w0_initial for siren); every
    other keyword goes to the positional encoding (e.g. min_radius, frequency_num, sigmas).
    """
    head_kw = {k: kw.pop(k) for k in HEAD_KEYS if k in kw}
    encoding: PositionalEncoding = LOCATION_ENCODERS.build(name, **kw)
    head_name = head_kw.pop("head", encoding.default_head)
    head_cls = LOCATION_HEADS.get(head_name)
    check_kwargs(head_cls, head_kw, f"location head '{head_name}'")
    head = head_cls(encoding.out_dim, out_dim, **head_kw)
    return LocationEncoder(encoding, head, out_dim)
