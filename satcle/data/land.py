"""Points sampled uniformly over land, as S2-100K was sampled."""

from __future__ import annotations

import numpy as np

from ..errors import DataError


def sample_land_points(count: int, seed: int, *, batch: int = 65536) -> tuple[np.ndarray, np.ndarray]:
    """Draw `count` points uniformly on the sphere, keeping those on land.

    Uniform on the sphere means lat = asin(u), u ~ U(-1, 1) (not uniform in
    degrees, which would crowd the poles). Land is the 1 km GLOBE mask of
    `global-land-mask` (Antarctica included). Deterministic for a seed.

    Returns
    -------
    lats, lons : np.ndarray, shape (count,), float64, degrees
    """
    if count < 0:
        raise ValueError(f"count must be >= 0, got {count}")
    try:
        from global_land_mask import globe
    except ModuleNotFoundError:
        raise DataError("land sampling needs the PyPI package global-land-mask: pip install 'satcle[train]'") from None

    rng = np.random.default_rng(seed)
    lats, lons = [], []
    found = 0
    while found < count:
        lat = np.degrees(np.arcsin(rng.uniform(-1.0, 1.0, batch)))
        lon = rng.uniform(-180.0, 180.0, batch)
        # The mask's grid stops just short of the poles and the antimeridian.
        keep = globe.is_land(np.clip(lat, -89.99, 89.99), np.clip(lon, -179.99, 179.99))
        lats.append(lat[keep])
        lons.append(lon[keep])
        found += int(keep.sum())
    return np.concatenate(lats)[:count], np.concatenate(lons)[:count]
