"""The contrastive recipe's parts: schedule, first-layer groups, L2-SP anchor, monitor and gated selection."""

import math

import pytest
import torch

from satcle.core.errors import TrainingConfigError
from satcle.training import ContrastiveConfig
from satcle.training.contrastive import SatCLEModel
from satcle.training.trainer import history_csv, lr_factor

from .conftest import TINY_ENCODER as TINY


def test_cosine_schedule_warms_up_linearly_then_decays_to_zero():
    config = ContrastiveConfig(schedule="cosine", warmup_epochs=2, max_epochs=10)
    steps = 5
    assert lr_factor(config, 0, steps) == pytest.approx(1 / 10)
    assert lr_factor(config, 9, steps) == pytest.approx(1.0)  # last warm-up step
    assert lr_factor(config, 10, steps) == pytest.approx(1.0)
    middle = 10 + 20  # halfway through the 40 decay steps
    assert lr_factor(config, middle, steps) == pytest.approx(0.5)
    assert lr_factor(config, 49, steps) == pytest.approx(0.5 * (1 + math.cos(math.pi * 39 / 40)))
    assert lr_factor(ContrastiveConfig(), 123, steps) == 1.0
    with pytest.raises(TrainingConfigError, match="schedule"):
        ContrastiveConfig(schedule="step")


def test_a_strong_anchor_keeps_the_encoder_at_its_initialisation(tmp_path, train_pairs):
    free = ContrastiveConfig(batch_size=16, max_epochs=3, patience=10, lr=5e-3, seed=1)
    anchored = ContrastiveConfig(batch_size=16, max_epochs=3, patience=10, lr=5e-3, seed=1, anchor_weight=1e4)
    torch.manual_seed(1)
    initial = SatCLEModel(TINY, 12, spatial=False).location_encoder.state_dict()

    def moved(result):
        state = result.model.location_encoder.state_dict()
        return sum(float((state[k] - initial[k]).abs().sum()) for k in state)

    # Only the last epoch is selectable by val loss either way; compare how far the weights went.
    # Adam moves every weight by about lr per step either way: the anchor turns the drift into an
    # oscillation around the initialisation (measured: a tenth of the free run's distance).
    assert moved(train_pairs(tmp_path / "anchored", anchored)) < 0.25 * moved(train_pairs(tmp_path / "free", free))


def test_first_layer_rate_scale_zero_freezes_the_sine_frequencies(tmp_path, train_pairs):
    config = ContrastiveConfig(batch_size=16, max_epochs=2, patience=10, lr=5e-3, seed=2, first_layer_lr_scale=0.0,
                               weight_decay=0.0)
    torch.manual_seed(2)
    initial = SatCLEModel(TINY, 12, spatial=False).location_encoder
    result = train_pairs(tmp_path, config)
    trained = result.model.location_encoder
    assert torch.equal(trained.siren.layers[0].weight, initial.siren.layers[0].weight)
    assert not torch.equal(trained.siren.last.weight, initial.siren.last.weight)


def test_monitor_fields_are_logged_and_gate_which_epoch_is_selected(tmp_path, train_pairs):
    retention = iter([0.99, 0.5, 0.4, 0.3])

    def monitor(encoder):
        assert not encoder.training  # measured as users get it
        return {"location_r2": next(retention), "participation_ratio": 3.0}

    config = ContrastiveConfig(batch_size=16, max_epochs=4, patience=10, lr=5e-3, min_location_r2=0.9)
    result = train_pairs(tmp_path / "gated", config, monitor=monitor)
    # Validation loss falls after epoch 1, but only epoch 1 kept the location.
    assert result.history[-1]["val_loss"] < result.history[0]["val_loss"]
    assert result.best_epoch == 1
    csv = history_csv(result.history).splitlines()
    assert csv[0].endswith("lr,seconds,location_r2,participation_ratio") and csv[2].split(",")[-2] == "0.5"

    never = iter([0.1] * 4)
    with pytest.raises(TrainingConfigError, match="min_location_r2"):
        train_pairs(tmp_path / "never", config, monitor=lambda encoder: {"location_r2": next(never)})


def test_damping_scales_the_high_degrees_at_init_and_in_every_step(tmp_path, train_pairs):
    from satcle.training.harmonic_damping import degree_scale

    # Columns 0..8 are degrees 0..2 (l^2 + l + m); 9..15 degree 3 (scale (3/4)^2), 25..35 degree 5 ((3/6)^2).
    scale = degree_scale(36, 3)
    assert torch.equal(scale[:9], torch.ones(9))
    torch.testing.assert_close(scale[9:16], torch.full((7,), (3 / 4) ** 2))
    torch.testing.assert_close(scale[25:36], torch.full((11,), 0.25))

    degree = TINY.legendre_degree - 1  # only the top degree is damped
    top = slice((TINY.legendre_degree - 1) ** 2, TINY.legendre_degree ** 2)
    s = (degree / TINY.legendre_degree) ** 2
    torch.manual_seed(3)
    initial = SatCLEModel(TINY, 12, spatial=False).location_encoder.siren.layers[0].weight.detach()

    def run(name, damping):
        config = ContrastiveConfig(batch_size=16, max_epochs=2, patience=10, lr=5e-3, seed=3, weight_decay=0.0,
                                   damping_degree=damping)
        return train_pairs(tmp_path / name, config).model.location_encoder

    free, damped = run("free", 0), run("damped", degree)
    # Exported as a plain layer: the product W, no parametrisation left.
    assert set(damped.state_dict()) == set(free.state_dict())
    first = damped.siren.layers[0].weight.detach()
    # Undamped degrees start where the free run starts; the top degree starts scaled by s and
    # moves by at most s times what Adam moves an undamped weight (about lr per step).
    moved_free = (free.siren.layers[0].weight.detach()[:, top] - initial[:, top]).abs().max()
    moved_damped = (first[:, top] - s * initial[:, top]).abs().max()
    assert 0 < moved_damped <= s * moved_free * 1.5
    assert moved_damped < 0.8 * moved_free


def test_retention_keeps_the_initial_features_linearly_recoverable(tmp_path, train_pairs):
    from .conftest import synthetic_pairs

    base = dict(batch_size=16, max_epochs=12, patience=20, lr=5e-3, seed=3)
    free = train_pairs(tmp_path / "free", ContrastiveConfig(**base))
    kept = train_pairs(tmp_path / "kept", ContrastiveConfig(**base, retention_weight=10.0))
    torch.manual_seed(3)
    initial = SatCLEModel(TINY, 12, spatial=True, copies=2).location_encoder
    lats, lons, _ = synthetic_pairs()

    def unexplained(result):
        """Share of the initial embedding's variance a least-squares map from the trained one misses."""
        with torch.no_grad():
            x = result.model.location_encoder(lats, lons).double()
            y = initial(lats, lons).double()
        x = torch.cat([x, torch.ones(len(x), 1, dtype=x.dtype)], dim=1)
        residual = y - x @ torch.linalg.lstsq(x, y).solution
        return float((residual ** 2).sum() / ((y - y.mean(0)) ** 2).sum())

    assert unexplained(kept) < 0.5 * unexplained(free)
    assert "retention_loss" in kept.history[0] and "retention_loss" not in free.history[0]
    assert kept.history[-1]["retention_loss"] < kept.history[0]["retention_loss"]
    assert "retention_loss" in (tmp_path / "kept" / "train_log.csv").read_text().splitlines()[0]
    # The head is training-only: the exported encoder has exactly the plain encoder's weights.
    assert kept.model.location_encoder.state_dict().keys() == initial.state_dict().keys()
    with pytest.raises(TrainingConfigError, match="retention_weight"):
        ContrastiveConfig(retention_weight=-1.0)


def test_retention_targets_are_the_models_own_start_up_to_their_degree_and_smoother_above():
    import dataclasses

    from satcle.training.trainer import retention_features

    from .conftest import synthetic_pairs

    lats, lons, _ = synthetic_pairs()
    torch.manual_seed(5)
    own_start = SatCLEModel(TINY, 12, spatial=False).location_encoder
    targets, variance = retention_features(TINY, 10, 5, lats.float(), lons.float())
    with torch.no_grad():
        torch.testing.assert_close(targets, own_start(lats.float(), lons.float()))
    assert float(variance) == pytest.approx(float(targets.var(dim=0).sum()))
    # Above the retention degree the targets come from a network of that degree, not the model's own L.
    finer = dataclasses.replace(TINY, legendre_degree=6)
    coarse, _ = retention_features(finer, 3, 5, lats.float(), lons.float())
    torch.testing.assert_close(coarse, targets)


def test_retention_model_keeps_a_trained_encoders_embedding(tmp_path, train_pairs):
    """`retention_model`: the targets are that encoder's embeddings (here of another
    width), and training keeps them linearly recoverable."""
    import dataclasses

    from satcle.model import LocationEncoder
    from satcle.model.encoder_files import load_encoder, save_encoder
    from satcle.training.trainer import model_features

    from .conftest import synthetic_pairs

    torch.manual_seed(11)
    teacher = LocationEncoder(dataclasses.replace(TINY, output_dim=TINY.output_dim + 3))
    save_encoder(teacher, tmp_path / "teacher")
    lats, lons, _ = synthetic_pairs()
    targets, variance = model_features(str(tmp_path / "teacher"), lats.float(), lons.float())
    with torch.no_grad():
        torch.testing.assert_close(targets, load_encoder(tmp_path / "teacher")(lats.float(), lons.float()))
    assert targets.shape == (len(lats), TINY.output_dim + 3)
    assert float(variance) == pytest.approx(float(targets.var(dim=0).sum()))
    base = dict(batch_size=16, max_epochs=8, patience=20, lr=5e-3, seed=3)
    kept = train_pairs(tmp_path / "kept", ContrastiveConfig(**base, retention_weight=10.0,
                                                            retention_model=str(tmp_path / "teacher")))
    assert kept.history[-1]["retention_loss"] < kept.history[0]["retention_loss"]
