"""Points sampled uniformly over land, as S2-100K was sampled."""

from __future__ import annotations

import numpy as np

from ..geo.land import sample_land


def sample_land_points(count: int, seed: int, *, batch: int = 65536) -> tuple[np.ndarray, np.ndarray]:
    """`count` points uniform over land (`satcle.geo.sample_land`, Antarctica
    included), drawn `batch` candidates at a time from ``default_rng(seed)``.

    Returns
    -------
    lats, lons : np.ndarray, shape (count,), float64, degrees
    """
    return sample_land(count, np.random.default_rng(seed), batch=batch)
