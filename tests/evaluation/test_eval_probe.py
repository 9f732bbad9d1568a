import numpy as np
import pytest

from satcle.core.errors import EvaluationConfigError
from satcle.evaluation.probe import LINEAR, ProbeConfig, fit_probe
from satcle.evaluation.splits import Split, random_splits


FAST = ProbeConfig(hidden_dim=32, max_epochs=60, patience=8, batch_size=128, learning_rate=5e-3)
FAST_LINEAR = LINEAR
SEEDS = [0, 1]


def test_random_splits_are_7_1_2_disjoint_and_cover_every_row():
    for split in random_splits(1000, SEEDS):
        assert (split.train.size, split.val.size, split.test.size) == (700, 100, 200)
        assert np.array_equal(np.sort(np.concatenate([split.train, split.val, split.test])), np.arange(1000))
    a, b = random_splits(1000, SEEDS)
    assert not np.array_equal(a.test, b.test)


def test_mlp_learns_a_nonlinear_target_the_linear_probe_cannot(rng):
    x = rng.normal(size=(600, 4))
    y = x[:, 0] * x[:, 1] + x[:, 2] ** 2  # no linear part at all
    splits = random_splits(600, SEEDS)
    mlp = fit_probe(x, y, "regression", splits, SEEDS, FAST)
    linear = fit_probe(x, y, "regression", splits, SEEDS, FAST_LINEAR)
    # Standardised target: predicting the mean scores MSE ~ 1.
    assert mlp["mse"].max() < 0.5
    assert np.all(linear["mse"] > 2 * mlp["mse"])
    assert np.all(mlp["mae"] > 0) and mlp["mse"].shape == (2,)


def test_linear_probe_fits_a_linear_target_and_classifier_separates_classes(rng):
    x = rng.normal(size=(500, 3))
    splits = random_splits(500, SEEDS)
    linear = fit_probe(x, 2 * x[:, 0] - x[:, 2], "regression", splits, SEEDS, FAST_LINEAR)
    assert linear["mse"].max() < 0.05
    labels = (x[:, 0] > 0).astype(int) + 2 * (x[:, 1] > 0).astype(int)
    result = fit_probe(x, labels, "classification", splits, SEEDS, FAST, n_classes=4)
    assert result["accuracy"].min() > 0.9


def test_seeds_are_reproducible_and_independent(rng):
    x = rng.normal(size=(300, 5))
    y = x[:, 0] * x[:, 1]
    splits = random_splits(300, [0, 1, 2])
    first = fit_probe(x, y, "regression", splits, [0, 1, 2], FAST)
    again = fit_probe(x, y, "regression", splits, [0, 1, 2], FAST)
    np.testing.assert_array_equal(first["mse"], again["mse"])
    # Seed 0 trained alone gives the same model as seed 0 trained beside others.
    alone = fit_probe(x, y, "regression", splits[:1], [0], FAST)
    np.testing.assert_allclose(alone["mse"][0], first["mse"][0], rtol=1e-4)


def test_early_stopping_ends_training_on_a_pure_noise_target(rng):
    x = rng.normal(size=(400, 4))
    y = rng.normal(size=400)
    result = fit_probe(x, y, "regression", random_splits(400, SEEDS), SEEDS, ProbeConfig(max_epochs=200, patience=3))
    assert result["epochs"].max() < 200


def test_bad_inputs_are_clear_errors(rng):
    x = rng.normal(size=(100, 3))
    splits = random_splits(100, SEEDS)
    with pytest.raises(EvaluationConfigError, match="features"):
        fit_probe(x[:50], np.zeros(100), "regression", splits, SEEDS)
    with pytest.raises(EvaluationConfigError, match="kind"):
        fit_probe(x, np.zeros(100), "ranking", splits, SEEDS)
    uneven = [splits[0], Split(splits[1].train[:-1], splits[1].val, splits[1].test)]
    with pytest.raises(EvaluationConfigError, match="equal sizes"):
        fit_probe(x, np.zeros(100), "regression", uneven, SEEDS)
