"""Shared fixtures of the training tests: a tiny encoder trained on synthetic location/feature pairs."""

import pytest
import torch

from satcle.model import EncoderConfig
from satcle.training import RefinementConfig, train_contrastive

TINY_ENCODER = EncoderConfig(legendre_degree=3, hidden_dim=32, output_dim=16)


def synthetic_pairs(n=96, seed=0):
    """Features that are a smooth function of location, so there is something to learn."""
    g = torch.Generator().manual_seed(seed)
    lats = torch.rad2deg(torch.asin(2 * torch.rand(n, generator=g, dtype=torch.float64) - 1))
    lons = 360 * torch.rand(n, generator=g, dtype=torch.float64) - 180
    xyz = torch.stack([torch.cos(torch.deg2rad(lats)) * torch.cos(torch.deg2rad(lons)),
                       torch.cos(torch.deg2rad(lats)) * torch.sin(torch.deg2rad(lons)),
                       torch.sin(torch.deg2rad(lats))], dim=1).float()
    features = torch.sin(3 * xyz @ torch.randn(3, 12, generator=g))
    return lats, lons, features


@pytest.fixture
def train_pairs():
    """`train(out, config, spatial=True, **kwargs)`: the contrastive stage on 96 synthetic pairs, quietly, on CPU."""

    def train(out, config, spatial=True, **kwargs):
        lats, lons, features = synthetic_pairs()
        return train_contrastive(lats, lons, features, TINY_ENCODER, RefinementConfig(spatial=spatial, copies=2),
                                 config, out, device=torch.device("cpu"), progress=False, log=lambda line: None,
                                 **kwargs)

    return train
