"""Points on the sphere: unit vectors and uniform (equal-area) sampling."""

from __future__ import annotations

import numpy as np

# Mean Earth radius (km): the one value every distance and projection uses.
EARTH_RADIUS_KM = 6371.0


def unit_vectors(lats: np.ndarray, lons: np.ndarray) -> np.ndarray:
    """Degrees (N,) -> (N, 3) float64 points on the unit sphere (x towards lon 0, z north)."""
    phi = np.radians(np.asarray(lats, dtype=np.float64))
    lam = np.radians(np.asarray(lons, dtype=np.float64))
    xyz = np.empty((phi.size, 3))
    cos_phi = np.cos(phi)
    np.multiply(cos_phi, np.cos(lam), out=xyz[:, 0])
    np.multiply(cos_phi, np.sin(lam), out=xyz[:, 1])
    np.sin(phi, out=xyz[:, 2])
    return xyz


def sample_sphere(n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """n points uniform on the sphere (equal area): lats, lons (n,) float64 degrees.

    lat = asin(u), u ~ U(-1, 1) (uniform in degrees would crowd the poles); the
    latitudes are drawn first, then the longitudes, from `rng`.
    """
    lats = np.degrees(np.arcsin(rng.uniform(-1.0, 1.0, n)))
    lons = rng.uniform(-180.0, 180.0, n)
    return lats, lons
