"""Tile centres over land: uniform random points (as S2-100K was sampled) or a dense lattice."""

from __future__ import annotations

import numpy as np

from ..core.errors import InvalidArgumentError
from ..geo import EARTH_RADIUS_KM, is_land
from ..geo.land import sample_land


def sample_land_points(count: int, seed: int, *, batch: int = 65536) -> tuple[np.ndarray, np.ndarray]:
    """`count` points uniform over land (`satcle.geo.sample_land`, Antarctica
    included), drawn `batch` candidates at a time from ``default_rng(seed)``.

    Returns
    -------
    lats, lons : np.ndarray, shape (count,), float64, degrees
    """
    return sample_land(count, np.random.default_rng(seed), batch=batch)


def land_lattice(spacing_km: float) -> tuple[np.ndarray, np.ndarray]:
    """Every land point of a near-uniform lattice of the sphere with about `spacing_km` between neighbours.

    The lattice is the Fibonacci (golden-angle) spiral of N = 4 pi R^2 / spacing^2
    points, each covering an equal area spacing^2; the points on land
    (`satcle.geo.is_land`, Antarctica included) are kept. Deterministic.
    Returns lats, lons (M,) float64 degrees, M about 0.29 N.
    """
    if not spacing_km > 0:
        raise InvalidArgumentError(f"spacing_km must be > 0, got {spacing_km}")
    count = max(1, int(round(4 * np.pi * EARTH_RADIUS_KM**2 / spacing_km**2)))
    index = np.arange(count, dtype=np.float64) + 0.5
    lats = np.degrees(np.arcsin(1.0 - 2.0 * index / count))
    lons = (np.degrees(index * np.pi * (3.0 - np.sqrt(5.0))) + 180.0) % 360.0 - 180.0
    keep = is_land(lats, lons)
    return lats[keep], lons[keep]
