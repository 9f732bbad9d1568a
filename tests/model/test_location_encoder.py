import math

import numpy as np
import pytest
import torch

import satcle
from satcle import EncoderConfig, LocationEncoder
from satcle.core.errors import CoordinateError
from satcle.model.siren import Siren


@pytest.fixture(scope="module")
def encoder():
    torch.manual_seed(7)
    return LocationEncoder(EncoderConfig(legendre_degree=12, hidden_dim=64, output_dim=32)).eval()


def test_compiled_encode_matches_torch_forward(rng, encoder, sphere_points):
    lats, lons = sphere_points(rng, 2000)
    fast = encoder.encode(lats, lons, batch_size=333)
    with torch.no_grad():
        reference = encoder.double()(torch.tensor(lats), torch.tensor(lons)).float().numpy()
    encoder.float()
    assert fast.dtype == np.float32 and fast.shape == (lats.size, 32)
    np.testing.assert_allclose(fast, reference, atol=2e-5 * np.abs(reference).max())


def test_batch_size_does_not_change_results(rng, encoder, sphere_points):
    lats, lons = sphere_points(rng, 100)
    # float32 GEMM blocking depends on the row count, so equal up to rounding only
    np.testing.assert_allclose(encoder.encode(lats, lons, batch_size=7)[:50],
                               encoder.encode(lats[:50], lons[:50], batch_size=1000), atol=1e-5)
    np.testing.assert_array_equal(encoder.encode(lats, lons, batch_size=7),
                                  encoder.encode(lats, lons, batch_size=7))


def test_encode_input_handling(encoder):
    assert encoder.encode([], []).shape == (0, 32)
    a = encoder.encode([10, 10], [20, 380])
    np.testing.assert_allclose(a[0], a[1], atol=1e-5)
    with pytest.raises(CoordinateError):
        encoder.encode([float("nan")], [0.0])
    with pytest.raises(CoordinateError):
        encoder.encode([0.0, 1.0], [0.0])
    with pytest.raises(ValueError, match="batch_size"):
        encoder.encode([0.0], [0.0], batch_size=0)


def test_encode_builds_no_autograd_graph(encoder):
    for p in encoder.parameters():
        assert p.requires_grad
    out = encoder.encode([1.0], [2.0])
    assert isinstance(out, np.ndarray)
    assert all(p.grad is None for p in encoder.parameters())


def test_siren_initialisation_and_frequencies():
    torch.manual_seed(0)
    net = Siren(100, 512, 256, 2, w0_initial=30.0, w0=1.0)
    first, hidden = net.layers
    assert first.w0 == 30.0 and hidden.w0 == 1.0 and net.last.linear
    assert first.weight.abs().max() <= 1 / 100
    assert first.weight.abs().max() > 0.9 / 100  # uniform fills its range
    bound = math.sqrt(6 / 512)
    assert hidden.weight.abs().max() <= bound and hidden.weight.abs().max() > 0.9 * bound
    x = torch.randn(5, 100)
    expected = torch.sin(30.0 * (x @ first.weight.T + first.bias))
    torch.testing.assert_close(first(x), expected)


def test_forward_backward_reach_every_parameter(encoder):
    lats = torch.tensor([10.0, 20.0, -30.0])
    lons = torch.tensor([5.0, -170.0, 100.0])
    encoder(lats, lons).pow(2).sum().backward()
    for name, p in encoder.named_parameters():
        assert p.grad is not None and torch.isfinite(p.grad).all() and p.grad.abs().sum() > 0, name
    encoder.zero_grad(set_to_none=True)


def test_config_is_frozen_and_validated():
    cfg = EncoderConfig()
    with pytest.raises(Exception):
        cfg.legendre_degree = 3
    with pytest.raises(ValueError, match="hidden_dim"):
        EncoderConfig(hidden_dim=0)
    with pytest.raises(ValueError, match="unknown"):
        EncoderConfig.from_dict({"legendre_degree": 3, "bogus": 1})
    assert EncoderConfig.from_dict(cfg.to_dict()) == cfg


def test_default_model_loads_and_is_labelled():
    encoder = satcle.load_encoder("default")
    assert "default" in satcle.available_models()
    assert encoder.config.output_dim == 256
    assert "trained" in encoder.metadata and len(encoder.metadata["sha256"]) == 64
    emb = encoder.encode([48.85, -33.9], [2.35, 18.4])
    assert emb.shape == (2, 256) and np.isfinite(emb).all()
    assert not np.allclose(emb[0], emb[1])


def test_sine_step_is_within_one_ulp_of_sin():
    from satcle._ext.sine_layer import sin_bias_

    rng = np.random.default_rng(3)
    h = np.concatenate([rng.standard_normal((64, 96)) * 300, rng.uniform(-1e-3, 1e-3, (8, 96)),
                        np.full((1, 96), 3e4), np.arange(96.0)[None] * np.pi / 4]).astype(np.float32)
    h[-2, ::7] = 2.0e5  # rows with a large argument go through libm
    bias = rng.standard_normal(96).astype(np.float32)
    expected = np.sin((h + bias).astype(np.float64))  # of the float32 sum, as computed
    got = h.copy()
    sin_bias_(got, bias)
    ulp = np.spacing(np.abs(expected).astype(np.float32)).astype(np.float64)
    assert got.dtype == np.float32 and np.all(np.abs(got - expected) <= ulp)
    with pytest.raises(ValueError, match="bias"):
        sin_bias_(got, bias[:5])
    sin_bias_(np.empty((0, 96), np.float32), bias)
