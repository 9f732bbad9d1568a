import numpy as np

from satcle.data import sample_land_points
from satcle.geo import is_land, sample_land, sample_sphere


def test_known_places_and_the_clipping_rule():
    # Paris, Antarctica's interior, the middle of the Pacific, the North Pole (sea ice, not land).
    np.testing.assert_array_equal(is_land([48.8566, -85.0, 0.0, 90.0], [2.3522, 0.0, -150.0, 0.0]),
                                  [True, True, False, False])
    # Outside the mask's raster (poles, lon 180) a point takes the nearest raster row and column.
    assert is_land([-90.0], [180.0])[0] == is_land([-89.999], [179.999])[0]


def test_sample_land_is_deterministic_uniform_and_on_land():
    lats, lons = sample_land(2000, np.random.default_rng(3))
    again = sample_land(2000, np.random.default_rng(3))
    np.testing.assert_array_equal(lats, again[0])
    assert is_land(lats, lons).all() and lats.shape == lons.shape == (2000,)
    # Rejection from sphere samples: the land share of uniform sphere points is ~29 %.
    share = is_land(*sample_sphere(20000, np.random.default_rng(4))).mean()
    assert 0.26 < share < 0.32


def test_training_land_points_are_sample_land_in_batches():
    lats, lons = sample_land_points(500, seed=7, batch=1000)
    expected = sample_land(500, np.random.default_rng(7), batch=1000)
    np.testing.assert_array_equal(lats, expected[0])
    np.testing.assert_array_equal(lons, expected[1])
