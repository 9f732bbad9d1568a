import numpy as np
import pytest
import scipy.special
import torch

from satcle import spherical_harmonics
from satcle.core.coordinates import wrap_longitude
from satcle.core.errors import CoordinateError
from satcle.model.spherical_harmonics import spherical_harmonics_torch


def scipy_real_sh(lats, lons, degree):
    """Real form of scipy's complex SH, one (l, m) at a time, as the reference."""
    colat = np.radians(90.0 - lats)
    lon = np.radians(lons)
    columns = []
    for l in range(degree):
        for m in range(-l, l + 1):
            y = scipy.special.sph_harm_y(l, abs(m), colat, lon)
            if m == 0:
                columns.append(y.real)
            elif m > 0:
                columns.append(np.sqrt(2.0) * (-1) ** m * y.real)
            else:
                columns.append(np.sqrt(2.0) * (-1) ** m * y.imag)
    return np.stack(columns, axis=-1)


@pytest.mark.parametrize("degree", [1, 2, 3, 10, 25, 40])
def test_matches_scipy_including_poles_and_antimeridian(rng, degree, sphere_points):
    lats, lons = sphere_points(rng, 300)
    expected = scipy_real_sh(lats, lons, degree)
    got = spherical_harmonics(lats, lons, degree)
    assert got.shape == (lats.size, degree**2) and got.dtype == np.float64
    # relative to the basis' own scale (values near zero make pointwise ratios meaningless)
    scale = np.abs(expected).max()
    assert np.max(np.abs(got - expected)) <= 1e-6 * scale


def test_orthonormal_on_the_sphere():
    # Gauss-Legendre in cos(colatitude) x uniform longitudes integrates band-limited products exactly.
    degree = 8
    x, w = np.polynomial.legendre.leggauss(2 * degree)
    nlon = 4 * degree
    lats = np.repeat(np.degrees(np.arcsin(x)), nlon)
    lons = np.tile(np.arange(nlon) * 360.0 / nlon - 180.0, x.size)
    weights = np.repeat(w, nlon) * (2 * np.pi / nlon)
    y = spherical_harmonics(lats, lons, degree)
    gram = (y * weights[:, None]).T @ y
    np.testing.assert_allclose(gram, np.eye(degree**2), atol=1e-12)


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
def test_torch_matches_compiled(rng, dtype, sphere_points):
    lats, lons = sphere_points(rng, 500)
    compiled = spherical_harmonics(lats, lons, 40)
    via_torch = spherical_harmonics_torch(torch.tensor(lats, dtype=dtype), torch.tensor(lons, dtype=dtype), 40)
    assert via_torch.dtype == dtype
    tol = 1e-6 if dtype == torch.float64 else 1e-4
    np.testing.assert_allclose(via_torch.double().numpy(), compiled, atol=tol * np.abs(compiled).max())


def test_torch_version_is_differentiable():
    lats = torch.tensor([10.0, -45.0, 80.0], dtype=torch.float64, requires_grad=True)
    lons = torch.tensor([0.0, 170.0, -100.0], dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda a, b: spherical_harmonics_torch(a, b, 6), (lats, lons))


def test_float32_output_and_thread_count_do_not_change_values(rng, sphere_points):
    lats, lons = sphere_points(rng, 1000)
    ref = spherical_harmonics(lats, lons, 12, num_threads=1)
    np.testing.assert_array_equal(spherical_harmonics(lats, lons, 12, num_threads=2), ref)
    f32 = spherical_harmonics(lats, lons, 12, dtype=np.float32)
    assert f32.dtype == np.float32
    np.testing.assert_array_equal(f32, ref.astype(np.float32))


def test_longitude_wraps_and_poles_are_longitude_free():
    a = spherical_harmonics([30.0, 30.0, 30.0], [10.0, 370.0, -350.0], 10)
    np.testing.assert_allclose(a[1], a[0], atol=1e-12)
    np.testing.assert_allclose(a[2], a[0], atol=1e-12)
    poles = spherical_harmonics([90.0, 90.0, -90.0, -90.0], [0.0, 77.0, -180.0, 45.0], 10)
    np.testing.assert_allclose(poles[1], poles[0], atol=1e-12)
    np.testing.assert_allclose(poles[3], poles[2], atol=1e-12)
    east, west = spherical_harmonics([12.0, 12.0], [180.0, -180.0], 10)
    np.testing.assert_allclose(east, west, atol=1e-12)


def test_empty_input_gives_empty_rows():
    out = spherical_harmonics([], [], 5)
    assert out.shape == (0, 25)


@pytest.mark.parametrize("degree", [0, -1, 2.5, True])
def test_bad_degree(degree):
    with pytest.raises(ValueError, match="degree"):
        spherical_harmonics([0.0], [0.0], degree)


def test_bad_coordinates_raise():
    with pytest.raises(CoordinateError, match="outside"):
        spherical_harmonics([91.0], [0.0], 3)
    with pytest.raises(CoordinateError, match="finite"):
        spherical_harmonics([0.0, np.nan], [0.0, 1.0], 3)


@pytest.mark.parametrize("degree", [1, 2, 13, 40])
def test_values_do_not_depend_on_which_points_are_evaluated_together(rng, degree, sphere_points):
    # The kernel advances the recurrences of several points together; each point's
    # values must still be its own, to the bit, whatever its neighbours and batch.
    lats, lons = sphere_points(rng, 29)
    lons = wrap_longitude(lons)  # as spherical_harmonics would (it wraps only arrays that need it)
    together = spherical_harmonics(lats, lons, degree, num_threads=1)
    alone = np.concatenate([spherical_harmonics(lats[i : i + 1], lons[i : i + 1], degree) for i in range(lats.size)])
    np.testing.assert_array_equal(together, alone)
    shifted = spherical_harmonics(lats[3:], lons[3:], degree, num_threads=2)
    np.testing.assert_array_equal(shifted, together[3:])
