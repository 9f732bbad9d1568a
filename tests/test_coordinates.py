import numpy as np
import pytest

from satcle.core.coordinates import as_latlon, wrap_longitude
from satcle.core.errors import CoordinateError, SatcleError


def test_accepts_lists_ints_and_float32():
    for lats, lons in [([1, 2], [3, 4]), (np.array([1, 2], np.int32), np.array([3, 4], np.int64)),
                       (np.array([1, 2], np.float32), np.array([3, 4], np.float32))]:
        lat, lon = as_latlon(lats, lons)
        assert lat.dtype == np.float64 and lon.dtype == np.float64
        assert lat.flags.c_contiguous and lon.flags.c_contiguous
        np.testing.assert_array_equal(lat, [1.0, 2.0])
        np.testing.assert_array_equal(lon, [3.0, 4.0])


def test_non_contiguous_input_is_copied():
    base = np.arange(20, dtype=np.float64)
    lat, lon = as_latlon(base[::2], base[1::2])
    np.testing.assert_array_equal(lat, base[::2])
    assert lat.flags.c_contiguous


def test_longitudes_wrap_latitudes_do_not():
    np.testing.assert_allclose(wrap_longitude(np.array([180.0, 190.0, -190.0, 540.0, -180.0, 0.0])),
                               [-180.0, -170.0, 170.0, -180.0, -180.0, 0.0])
    with pytest.raises(CoordinateError, match=r"lats\[1\] = 90.5"):
        as_latlon([0.0, 90.5], [0.0, 0.0])
    with pytest.raises(CoordinateError, match=r"-91"):
        as_latlon([-91], [0])


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_non_finite_values_are_named(bad):
    with pytest.raises(CoordinateError, match=r"lons\[2\]"):
        as_latlon([0.0, 0.0, 0.0], [0.0, 1.0, bad])


@pytest.mark.parametrize(
    "lats, lons, message",
    [
        ([0.0, 1.0], [0.0], "same length"),
        (np.zeros((2, 2)), np.zeros((2, 2)), "1-D"),
        (5.0, 3.0, "1-D"),
        (["a"], ["b"], "numeric"),
        ([True], [False], "numeric"),
        ([[1.0], [1.0, 2.0]], [0.0, 0.0], "array"),
    ],
)
def test_bad_shapes_and_types(lats, lons, message):
    with pytest.raises(CoordinateError, match=message) as info:
        as_latlon(lats, lons)
    assert isinstance(info.value, ValueError) and isinstance(info.value, SatcleError)


def test_empty_is_fine():
    lat, lon = as_latlon([], [])
    assert lat.shape == (0,) and lon.shape == (0,)
