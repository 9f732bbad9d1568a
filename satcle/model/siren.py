"""Sinusoidal representation network (Siren), as used by SatCLIP and SatCLE.

Layer i computes sin(w0_i * (W_i x + b_i)); the first layer uses w0 = 30 so that
low-dimensional inputs map onto many oscillations, hidden layers use w0 = 1, and
the last layer is linear. Initialisation follows Sitzmann et al. (2020) as in the
SatCLIP code: first layer U(-1/d_in, 1/d_in), later layers
U(-sqrt(c/d_in)/w0, sqrt(c/d_in)/w0) with c = 6, biases drawn likewise.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from ..core.errors import InvalidArgumentError


class SirenLayer(nn.Module):
    """One Siren layer: (..., dim_in) -> (..., dim_out).

    Parameters
    ----------
    dim_in, dim_out : int
    w0 : float
        Frequency factor inside the sine (and in the init scale).
    is_first : bool
        Use the first-layer initialisation U(-1/dim_in, 1/dim_in).
    linear : bool
        Skip the sine (the network's output layer).
    dropout : float
        Dropout probability on the output (0 disables).
    """

    def __init__(
        self,
        dim_in: int,
        dim_out: int,
        *,
        w0: float = 1.0,
        is_first: bool = False,
        linear: bool = False,
        c: float = 6.0,
        dropout: float = 0.0,
    ) -> None:
        super().__init__()
        self.w0 = float(w0)
        self.linear = linear
        self.weight = nn.Parameter(torch.empty(dim_out, dim_in))
        self.bias = nn.Parameter(torch.empty(dim_out))
        bound = 1.0 / dim_in if is_first else math.sqrt(c / dim_in) / self.w0
        with torch.no_grad():
            self.weight.uniform_(-bound, bound)
            self.bias.uniform_(-bound, bound)
        self.dropout = nn.Dropout(dropout) if dropout > 0 else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = nn.functional.linear(x, self.weight, self.bias)
        if not self.linear:
            y = torch.sin(self.w0 * y)
        return self.dropout(y)


class Siren(nn.Module):
    """Stack of Siren layers: dim_in -> hidden (x num_layers) -> dim_out (linear).

    `num_layers` counts the sine layers, as in SatCLIP's SirenNet: with 2 the
    network is dim_in -> hidden -> hidden -> dim_out.
    """

    def __init__(
        self,
        dim_in: int,
        dim_hidden: int,
        dim_out: int,
        num_layers: int,
        *,
        w0_initial: float = 30.0,
        w0: float = 1.0,
        dropout: float = 0.0,
    ) -> None:
        super().__init__()
        if num_layers < 1:
            raise InvalidArgumentError("num_layers must be >= 1")
        layers = [SirenLayer(dim_in, dim_hidden, w0=w0_initial, is_first=True, dropout=dropout)]
        layers += [
            SirenLayer(dim_hidden, dim_hidden, w0=w0, dropout=dropout)
            for _ in range(num_layers - 1)
        ]
        self.layers = nn.ModuleList(layers)
        self.last = SirenLayer(dim_hidden, dim_out, w0=w0, linear=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for layer in self.layers:
            x = layer(x)
        return self.last(x)
