"""GeoCLIP's location encoder (Vivanco Cepeda et al., NeurIPS 2023), run natively.

Architecture, from the paper and the shapes of the released weights:

1. **Equal Earth projection** (Šavrič, Patterson & Jenny 2018) of (lat, lon),
   scaled as GeoCLIP scales it: (x, y) * 66.50336 / 180, so that the map spans
   about [-1, 1] in x;
2. per branch b (three in the release), **random Fourier features** of the
   projected point: gamma_b(v) = [cos(2 pi B_b v), sin(2 pi B_b v)] with fixed
   frequencies B_b (F x 2; F = 256 drawn from N(0, sigma_b^2), sigma = 2^0, 2^4, 2^8);
3. an **MLP** per branch: `hidden_layers` Linear + ReLU layers of width
   `hidden_dim` (1024), then a linear head to `output_dim` (512);
4. the embedding is the **sum** of the branches' heads.

`GeoClipEncoder.forward` is the differentiable torch path (dtype of the
parameters); `encode` the inference path: numpy in, numpy out, the projection
and the Fourier phases in float64 (a phase reaches thousands of radians at
sigma = 256, where float32 would lose about 5e-4 rad), the MLPs in float32.
Longitudes are wrapped into [-180, 180) like everywhere in satcle: the
projection has its seam there (lon = 180 is evaluated as -180).
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass

import numpy as np
import torch
from numpy.typing import ArrayLike
from torch import nn

from ..core.coordinates import as_latlon
from ..core.errors import InvalidArgumentError
from .weights_directory import config_from_dict

# Equal Earth polynomial coefficients (Šavrič et al. 2018) and GeoCLIP's scale.
_A1, _A2, _A3, _A4 = 1.340264, -0.081106, 0.000893, 0.003796
_SCALE = 66.50336 / 180.0
_SQRT3 = math.sqrt(3.0)


@dataclass(frozen=True)
class GeoClipConfig:
    """Architecture of a GeoCLIP-RFF location encoder.

    scales: sigma of each branch's Fourier frequencies (one branch per scale);
        recorded for the model card: the frequencies themselves are weights.
    fourier_features: F, frequencies per branch (2 F cos/sin features).
    hidden_dim, hidden_layers: width and number of the ReLU layers of a branch.
    output_dim: embedding size D (each branch's head; the heads are summed).
    """

    scales: tuple[float, ...] = (1.0, 16.0, 256.0)
    fourier_features: int = 256
    hidden_dim: int = 1024
    hidden_layers: int = 3
    output_dim: int = 512

    def __post_init__(self) -> None:
        object.__setattr__(self, "scales", tuple(float(s) for s in self.scales))
        if not self.scales or any(not math.isfinite(s) or s <= 0 for s in self.scales):
            raise InvalidArgumentError(f"scales must be positive numbers, one per branch, got {self.scales!r}")
        for name in ("fourier_features", "hidden_dim", "hidden_layers", "output_dim"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise InvalidArgumentError(f"{name} must be a positive integer, got {value!r}")

    def to_dict(self) -> dict:
        values = dataclasses.asdict(self)
        values["scales"] = list(self.scales)
        return values

    @classmethod
    def from_dict(cls, values: dict) -> "GeoClipConfig":
        return config_from_dict(cls, values)


def equal_earth(lats: torch.Tensor, lons: torch.Tensor) -> torch.Tensor:
    """GeoCLIP's input: the Equal Earth projection of points in degrees, scaled by 66.50336 / 180.

    lats, lons: (N,) tensors of degrees (longitudes in [-180, 180)); differentiable, in
    their dtype and on their device. Returns (N, 2) (x, y), x in about [-1, 1], y in
    about [-0.48, 0.48].
    """
    theta = torch.asin(_SQRT3 / 2.0 * torch.sin(torch.deg2rad(lats)))
    t2 = theta * theta
    t6 = t2 * t2 * t2
    x = 2.0 * _SQRT3 * torch.deg2rad(lons) * torch.cos(theta) / (3.0 * (9.0 * _A4 * t6 * t2 + 7.0 * _A3 * t6 + 3.0 * _A2 * t2 + _A1))
    y = theta * (_A4 * t6 * t2 + _A3 * t6 + _A2 * t2 + _A1)
    return torch.stack([x, y], dim=1) * _SCALE


class FourierBranch(nn.Module):
    """One scale of GeoCLIP: Fourier features (frequencies F x 2) -> ReLU MLP -> linear head.

    (N, 2) projected points -> (N, output_dim).
    """

    def __init__(self, config: GeoClipConfig, scale: float):
        super().__init__()
        f = config.fourier_features
        # Fixed (never trained) frequencies ~ N(0, scale^2), saved with the weights.
        self.register_buffer("frequencies", torch.randn(f, 2) * scale)
        widths = [2 * f] + [config.hidden_dim] * config.hidden_layers
        self.layers = nn.ModuleList(nn.Linear(a, b) for a, b in zip(widths[:-1], widths[1:]))
        self.head = nn.Linear(config.hidden_dim, config.output_dim)

    def forward(self, xy: torch.Tensor) -> torch.Tensor:
        phase = (2.0 * math.pi) * (xy @ self.frequencies.t())
        h = torch.cat([torch.cos(phase), torch.sin(phase)], dim=1)
        for layer in self.layers:
            h = torch.relu(layer(h))
        return self.head(h)


class GeoClipEncoder(nn.Module):
    """GeoCLIP-RFF location encoder: sum over branches of MLP(RFF(EqualEarth(lat, lon))).

    Attributes
    ----------
    config : GeoClipConfig
    metadata : dict
        Free-form facts about the weights (source, sha256), filled by `load_encoder`.
    """

    KIND = "geoclip-rff"

    def __init__(self, config: GeoClipConfig = GeoClipConfig(), metadata: dict | None = None):
        super().__init__()
        self.config = config
        self.metadata = dict(metadata or {})
        self.branches = nn.ModuleList(FourierBranch(config, scale) for scale in config.scales)

    @property
    def output_dim(self) -> int:
        return self.config.output_dim

    def summary(self) -> str:
        """One line for listings and model cards."""
        c = self.config
        scales = ", ".join(f"{s:g}" for s in c.scales)
        return (f"GeoCLIP-RFF: Equal Earth -> {len(c.scales)} x (RFF {c.fourier_features}, sigma {scales}; "
                f"{c.hidden_layers} x {c.hidden_dim} ReLU) summed -> {c.output_dim}")

    def forward(self, lats: torch.Tensor, lons: torch.Tensor) -> torch.Tensor:
        """Differentiable embedding of (N,) latitude/longitude tensors in degrees (longitudes in
        [-180, 180)); (N, D) in the dtype of the parameters."""
        dtype = self.branches[0].head.weight.dtype
        xy = equal_earth(lats, lons).to(dtype)
        return sum(branch(xy) for branch in self.branches)

    @torch.inference_mode()
    def encode(self, lats: ArrayLike, lons: ArrayLike, batch_size: int = 4096) -> np.ndarray:
        """Embed coordinates given in degrees.

        lats, lons : array-like, shape (N,); validated (NaN/inf and |lat| > 90
            raise CoordinateError), longitudes wrapped into [-180, 180).
        batch_size : points per pass (memory about batch_size * hidden_dim * 12 bytes).

        Returns (N, D) float32. The projection and the Fourier phases are float64,
        their cos/sin and the MLPs float32 (torch's threads share each product).
        """
        from .location_encoder import _check_batch_size

        batch_size = _check_batch_size(batch_size)
        lat, lon = as_latlon(lats, lons)
        out = np.empty((lat.size, self.output_dim), dtype=np.float32)
        if lat.size == 0:
            return out
        device = self.branches[0].head.weight.device
        xy = equal_earth(torch.from_numpy(lat), torch.from_numpy(lon))      # float64 on the CPU
        frequencies = [2.0 * math.pi * b.frequencies.detach().cpu().double().t() for b in self.branches]
        layers = [[(layer.weight.detach().float().t(), layer.bias.detach().float()) for layer in b.layers]
                  for b in self.branches]
        heads = [(b.head.weight.detach().float().t(), b.head.bias.detach().double()) for b in self.branches]
        head_bias = sum(bias for _, bias in heads).float().to(device)   # the heads are summed
        for start in range(0, lat.size, batch_size):
            stop = min(start + batch_size, lat.size)
            result = head_bias.expand(stop - start, -1).clone()
            for freq, branch_layers, (head_weight, _) in zip(frequencies, layers, heads):
                phase = xy[start:stop] @ freq
                h = torch.cat([torch.cos(phase), torch.sin(phase)], dim=1).float().to(device)
                for weight, bias in branch_layers:
                    h = torch.relu_(torch.addmm(bias, h, weight))
                result.addmm_(h, head_weight)
            out[start:stop] = result.cpu().numpy()
        return out
