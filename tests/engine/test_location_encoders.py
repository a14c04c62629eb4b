"""Location encoders: shapes, poles, antimeridian, locality, periodicity, jitter, bad input."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from engine.errors import EngineError
from engine.nn.location import build_location_encoder, jitter_lonlat, validate_lonlat
from engine.nn.location.base import EARTH_RADIUS_M, integer_frequencies
from engine.nn.location.rff import equal_earth
from engine.nn.location.spherical_harmonics import real_spherical_harmonics
from engine.nn.registry import LOCATION_ENCODERS

torch.set_num_threads(1)

FAMILIES = ["wrap", "grid", "theory", "sphereC", "sphereM", "spherical_harmonics", "rff"]
PERIODIC = {"wrap", "sphereC", "sphereM", "spherical_harmonics"}
M_PER_DEG = math.pi * EARTH_RADIUS_M / 180.0
DIM = 16


def _encoder(name: str, **kw: object) -> torch.nn.Module:
    torch.manual_seed(0)
    enc = build_location_encoder(name, DIM, **kw)
    return enc.eval()  # dropout off: deterministic outputs


def _ll(rows: list[list[float]]) -> torch.Tensor:
    return torch.tensor(rows, dtype=torch.float64)


def test_registry_lists_every_family() -> None:
    assert set(FAMILIES) <= set(LOCATION_ENCODERS.names())


@pytest.mark.parametrize("name", FAMILIES)
def test_shape_and_finite_at_poles_and_antimeridian(name: str) -> None:
    enc = _encoder(name)
    ll = _ll([[0, 90], [0, -90], [123.4, 90], [180, 0], [-180, 0], [179.9999, -45],
              [-180, 90], [-79.38, 43.65]])
    out = enc(ll)
    assert out.shape == (8, DIM)
    assert out.dtype == torch.float32
    assert torch.isfinite(out).all()
    assert torch.isfinite(enc(ll.float())).all()  # float32 input works too


@pytest.mark.parametrize("name", FAMILIES)
def test_nearby_points_embed_nearer_than_far_points(name: str) -> None:
    enc = _encoder(name)
    lon, lat = -79.38, 43.65
    one_m_east = 1.0 / (M_PER_DEG * math.cos(math.radians(lat)))
    ll = _ll([[lon, lat], [lon + one_m_east, lat], [lon, lat + 100_000 / M_PER_DEG]])
    out = enc(ll)
    d_near = (out[0] - out[1]).norm()
    d_far = (out[0] - out[2]).norm()
    assert d_near < d_far
    assert d_far > 0


@pytest.mark.parametrize("name", FAMILIES)
def test_periodicity_claims(name: str) -> None:
    enc = _encoder(name)
    assert enc.periodic_lon == (name in PERIODIC)
    if name not in PERIODIC:
        return
    ll = _ll([[-79.38, 43.65], [10.0, -33.0], [179.5, 60.0], [-120.0, 89.0]])
    shifted = ll.clone()
    shifted[:, 0] += 360.0
    back = ll.clone()
    back[:, 0] -= 720.0
    torch.testing.assert_close(enc(ll), enc(shifted), atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(enc(ll), enc(back), atol=1e-5, rtol=1e-5)
    # continuous across the antimeridian: 1 m apart on either side vs 100 km away
    eps = 0.5 / (M_PER_DEG * math.cos(math.radians(20.0)))
    out = enc(_ll([[180 - eps, 20.0], [-180 + eps, 20.0], [180 - eps, 20.9]]))
    assert (out[0] - out[1]).norm() < (out[0] - out[2]).norm()


def test_wrap_direct_terms_make_it_non_periodic() -> None:
    assert not _encoder("wrap", direct=True).periodic_lon
    assert _encoder("wrap", direct=True).encoding.out_dim == 6


@pytest.mark.parametrize("bad", [[float("nan"), 10.0], [10.0, 95.0], [10.0, -90.5],
                                 [float("inf"), 0.0]])
@pytest.mark.parametrize("name", FAMILIES)
def test_invalid_input_raises_engine_error(name: str, bad: list[float]) -> None:
    enc = _encoder(name)
    with pytest.raises(EngineError) as err:
        enc(_ll([[0.0, 0.0], bad]))
    assert "row 1" in err.value.message


def test_wrong_shape_raises_engine_error() -> None:
    with pytest.raises(EngineError, match="lon, lat"):
        validate_lonlat(torch.zeros(4, 3))


def test_unknown_family_and_setting_name_the_allowed_ones() -> None:
    with pytest.raises(EngineError) as err:
        build_location_encoder("space2vec", DIM)
    assert "sphereC" in err.value.hint
    with pytest.raises(EngineError) as err:
        build_location_encoder("grid", DIM, min_radus=1e-3)
    assert "min_radus" in err.value.message and "min_radius" in err.value.hint
    with pytest.raises(EngineError) as err:
        build_location_encoder("grid", DIM, head="transformer")
    assert "siren" in err.value.hint


def test_spherical_harmonics_match_scipy() -> None:
    sp = pytest.importorskip("scipy.special")
    ll = _ll([[30.0, 20.0], [-100.0, -60.0], [10.0, 89.9], [179.0, -5.0]])
    ours = real_spherical_harmonics(ll, 6).numpy()
    lon, colat = np.deg2rad(ll[:, 0].numpy()), np.deg2rad(90 - ll[:, 1].numpy())
    ref = []
    for ell in range(6):
        for m in range(-ell, ell + 1):
            c = sp.sph_harm_y(ell, abs(m), colat, lon) * (-1) ** abs(m)  # drop Condon-Shortley
            ref.append(c.real if m == 0 else math.sqrt(2) * (c.imag if m < 0 else c.real))
    np.testing.assert_allclose(ours, np.stack(ref, axis=1), atol=1e-12)


def test_spherical_harmonics_default_to_a_siren_head() -> None:
    enc = _encoder("spherical_harmonics", legendre_polys=4)
    assert enc.encoding.out_dim == 16
    assert type(enc.head).__name__ == "SirenHead"


def test_sphere_frequencies_are_distinct_integers_from_one() -> None:
    f = integer_frequencies(1e-4, 16)
    assert f[0] == 1 and torch.all(f[1:] > f[:-1])
    assert torch.equal(f, f.round())


def test_rff_matrices_fixed_by_seed_and_saved() -> None:
    a, b = _encoder("rff", seed=3), _encoder("rff", seed=3)
    c = _encoder("rff", seed=4)
    assert torch.equal(a.encoding.b_matrices, b.encoding.b_matrices)
    assert not torch.equal(a.encoding.b_matrices, c.encoding.b_matrices)
    assert "encoding.b_matrices" in a.state_dict()
    stds = a.encoding.b_matrices.std(dim=(1, 2))
    assert stds[0] < stds[1] < stds[2]  # sigmas 1, 16, 256


def test_equal_earth_is_normalised() -> None:
    xy = equal_earth(_ll([[180.0, 0.0], [-180.0, 0.0], [0.0, 90.0], [0.0, 0.0]]))
    torch.testing.assert_close(xy[:2, 0], torch.tensor([1.0, -1.0], dtype=torch.float64))
    assert 0.3 < float(xy[2, 1]) < 0.6 and float(xy[3].abs().sum()) == 0.0


@pytest.mark.parametrize("distribution", ["normal", "uniform"])
def test_jitter_is_symmetric_and_scaled(distribution: str) -> None:
    n, r = 20_000, 50.0
    lon, lat = -79.38, 43.65
    ll = _ll([[lon, lat]] * n)
    out = jitter_lonlat(ll, r, torch.Generator().manual_seed(0), distribution)
    east = (out[:, 0] - lon) * M_PER_DEG * math.cos(math.radians(lat))
    north = (out[:, 1] - lat) * M_PER_DEG
    for d in (east, north):
        assert abs(float(d.mean())) < 4 * r / math.sqrt(n)  # within 4 standard errors
        assert float((d > 0).double().mean()) == pytest.approx(0.5, abs=0.02)
    if distribution == "uniform":
        assert float(east.abs().max()) <= r + 1e-6 and float(north.abs().max()) <= r + 1e-6
        assert float(north.std()) == pytest.approx(r / math.sqrt(3), rel=0.05)
    else:
        assert float(north.std()) == pytest.approx(r, rel=0.05)


def test_jitter_is_seeded_and_stays_on_the_sphere() -> None:
    ll = _ll([[179.99999, 89.99999], [-179.99999, -89.99999], [0.0, 0.0]] * 100)
    a = jitter_lonlat(ll, 100.0, torch.Generator().manual_seed(1))
    b = jitter_lonlat(ll, 100.0, torch.Generator().manual_seed(1))
    assert torch.equal(a, b)
    assert bool((a[:, 1].abs() <= 90).all())
    assert bool((a[:, 0] >= -180).all() and (a[:, 0] < 180).all())
    with pytest.raises(EngineError):
        jitter_lonlat(ll, -1.0)
    with pytest.raises(EngineError):
        jitter_lonlat(ll, 1.0, distribution="rand")
