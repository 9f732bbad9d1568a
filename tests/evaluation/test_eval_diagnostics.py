"""The detail and semantics diagnostics: local detail, far retrieval, label-scarce splits."""

import numpy as np
import pytest

from satcle.evaluation import diagnostics
from satcle.evaluation.geography import sample_sphere
from satcle.evaluation.splits import random_splits


def test_local_detail_separates_a_kilometre_scale_code_from_a_smooth_one():
    lats, lons = sample_sphere(2000, np.random.default_rng(1))
    rng = np.random.default_rng(2)
    directions = rng.normal(size=(3, 64))

    def smooth(a, b):
        return diagnostics.unit_vectors(a, b) @ directions          # varies over thousands of km

    def detailed(a, b):
        return np.sin(300.0 * diagnostics.unit_vectors(a, b) @ directions)   # wavelength ~130 km

    flat = diagnostics.smoothness(smooth, lats, lons, distances_km=diagnostics.LOCAL_DETAIL_KM, standardised=True)
    busy = diagnostics.smoothness(detailed, lats, lons, distances_km=diagnostics.LOCAL_DETAIL_KM, standardised=True)
    assert set(flat) == {"25km", "50km", "100km"}
    assert flat["25km"] < flat["50km"] < flat["100km"] < 0.1
    assert busy["50km"] > 5 * flat["50km"]
    # Standardising removes the dominance of one large coordinate.
    scaled = lambda a, b: smooth(a, b) * np.r_[1000.0, np.ones(63)]      # noqa: E731
    plain = diagnostics.smoothness(scaled, lats, lons, distances_km=(50.0,), standardised=True)
    assert plain["50km"] == pytest.approx(flat["50km"], rel=1e-6)


def test_far_retrieval_rewards_labels_beyond_proximity():
    rng = np.random.default_rng(0)
    lats, lons = sample_sphere(3000, rng)
    labels = rng.integers(0, 4, 3000)                              # a label with no geography
    location = diagnostics.unit_vectors(lats, lons)                # knows only where a point is
    knows = np.concatenate([np.eye(4)[labels] * 5, location], axis=1)   # knows what a place is like
    far_location = diagnostics.far_retrieval(location, labels, lats, lons, queries=500)
    far_knows = diagnostics.far_retrieval(knows, labels, lats, lons, queries=500)
    assert far_location["chance"] == pytest.approx(0.25, abs=0.03)
    assert far_location["precision"] == pytest.approx(far_location["chance"], abs=0.05)
    assert far_knows["precision"] > 0.95 and far_knows["queries"] == 500


def test_scarce_splits_cut_only_the_training_rows():
    splits = random_splits(5000, [0, 1])
    scarce = diagnostics.scarce_splits(splits, 5000, 0.01)
    for full, cut in zip(splits, scarce):
        assert cut.train.size == 50 and set(cut.train) <= set(full.train)
        np.testing.assert_array_equal(cut.test, full.test)
        np.testing.assert_array_equal(cut.val, full.val)
    assert not np.array_equal(scarce[0].train, scarce[1].train)
    assert diagnostics.scarce_splits(splits, 5000, 0.05)[0].train.size == 250
