"""Harmonic damping: the Siren's first layer trained in a degree-scaled parametrisation.

Column j of the first layer reads spherical harmonic (l, m) with j = l^2 + l + m
(`satcle.model.spherical_harmonics`), so l = floor(sqrt(j)). Siren's uniform
initialisation weights all L^2 harmonics alike: at L = 40 the untrained network is
mostly high degrees (location retention R^2 0.28). Scaling only the initial weights
does not last: Adam moves every weight by about the learning rate whatever its size,
so within a few epochs the high degrees are back. Here the trained parameter is V and
the layer uses W = V * s (s per column, s_l = min(1, (d / (l + 1))^2) for damping
degree d): the initial W is damped and so is every Adam step on it (a step of lr in V
is a step of s_l * lr in W). Degrees below d are untouched. The exported encoder holds
the plain product W (`remove`), so inference and the compiled kernels never see V.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn.utils import parametrize


def degree_scale(num_harmonics: int, degree: int) -> torch.Tensor:
    """(num_harmonics,) float32: s_l = min(1, (degree / (l + 1))^2) of each first-layer column."""
    l = torch.arange(num_harmonics, dtype=torch.float64).sqrt().floor()
    return torch.clamp((degree / (l + 1)) ** 2, max=1.0).to(torch.float32)


class _ColumnScale(nn.Module):
    """Parametrisation V -> V * scale (scale broadcast over the rows of a (hidden, L^2) weight)."""

    def __init__(self, scale: torch.Tensor) -> None:
        super().__init__()
        self.register_buffer("scale", scale)

    def forward(self, weight: torch.Tensor) -> torch.Tensor:
        return weight * self.scale


def damp(encoder: nn.Module, degree: int) -> None:
    """Train `encoder`'s first Siren layer (a `LocationEncoder`) as W = V * s with damping `degree`.

    V starts as the current weights, so the effective initial weights on degree l >= `degree`
    are scaled by (degree / (l + 1))^2.
    """
    layer = encoder.siren.layers[0]
    scale = degree_scale(layer.weight.shape[1], degree).to(layer.weight.device)
    parametrize.register_parametrization(layer, "weight", _ColumnScale(scale))


def remove(encoder: nn.Module) -> None:
    """Replace a damped first layer by its plain effective weights W (no-op when not damped)."""
    layer = encoder.siren.layers[0]
    if parametrize.is_parametrized(layer, "weight"):
        parametrize.remove_parametrizations(layer, "weight", leave_parametrized=True)
