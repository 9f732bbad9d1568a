import numpy as np
import pytest


@pytest.fixture
def rng():
    return np.random.default_rng(12345)


def sphere_points(rng, n):
    """n points uniform on the sphere plus the poles and both sides of the antimeridian."""
    z = rng.uniform(-1.0, 1.0, n)
    lats = np.degrees(np.arcsin(z))
    lons = rng.uniform(-180.0, 180.0, n)
    extra_lat = np.array([90.0, -90.0, 0.0, 0.0, 45.0, -45.0, 89.9999, -89.9999])
    extra_lon = np.array([0.0, 123.0, 180.0, -180.0, 179.9999, -179.9999, 180.0, -180.0])
    return np.concatenate([lats, extra_lat]), np.concatenate([lons, extra_lon])
