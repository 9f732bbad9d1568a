"""Spatial refinement (SatCLE paper 3.2): SPCE and graph propagation fusion.

Training-time only: the exported model is the plain location encoder.

* SPCE: every anchor coordinate gets K jittered copies, l' = l + N(0, sigma^2)
  in degrees (latitude clamped to the poles, longitude wrapped).
* Graph propagation fusion: the anchor and its copies form a small graph with
  Gaussian edge weights A_ij = exp(-d_ij^2 / 2 sigma^2) (eq. 1, d in degrees,
  longitude difference taken the short way round); two GNN layers
  h^{k+1} = phi(A_hat W^k h^k) (eq. 2) fuse the copies' location features into
  the anchor's.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F


def perturb_coordinates(
    lats: torch.Tensor, lons: torch.Tensor, copies: int, sigma_deg: float, generator: torch.Generator
) -> tuple[torch.Tensor, torch.Tensor]:
    """The anchor plus `copies` Gaussian-jittered copies of every coordinate.

    lats, lons : (B,) degrees. Returns (B, copies + 1) latitudes and longitudes in
    degrees; column 0 is the unperturbed anchor. Noise is drawn on the CPU from
    `generator` (reproducible on any device) and moved to the inputs' device.
    """
    shape = (lats.shape[0], copies)
    noise_lat = torch.randn(shape, generator=generator, dtype=torch.float64).to(lats.device) * sigma_deg
    noise_lon = torch.randn(shape, generator=generator, dtype=torch.float64).to(lats.device) * sigma_deg
    jittered_lat = (lats[:, None] + noise_lat.to(lats.dtype)).clamp(-90.0, 90.0)
    jittered_lon = torch.remainder(lons[:, None] + noise_lon.to(lons.dtype) + 180.0, 360.0) - 180.0
    return torch.cat([lats[:, None], jittered_lat], dim=1), torch.cat([lons[:, None], jittered_lon], dim=1)


def gaussian_adjacency(lats: torch.Tensor, lons: torch.Tensor, sigma_deg: float) -> torch.Tensor:
    """Edge weights A_ij = exp(-d_ij^2 / (2 sigma^2)) within each group of points.

    lats, lons : (B, n) degrees. d_ij is the Euclidean distance in (lat, lon)
    degrees, the longitude difference wrapped into [-180, 180). Returns (B, n, n),
    symmetric, ones on the diagonal.
    """
    dlat = lats[:, :, None] - lats[:, None, :]
    dlon = torch.remainder(lons[:, :, None] - lons[:, None, :] + 180.0, 360.0) - 180.0
    return torch.exp(-(dlat**2 + dlon**2) / (2.0 * sigma_deg**2))


class GraphFusion(nn.Module):
    """Two-layer GNN over each anchor's SPCE graph: (B, n, D) features -> (B, D) fused anchor feature.

    A is row-normalised (A_hat = D^-1 A) so the feature scale does not grow with
    K (the paper's eq. 2 sums unnormalised). The fused feature is the anchor's own
    feature plus the propagated one; the second layer starts at zero, so training
    begins from the plain encoder that is exported.
    """

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.first = nn.Linear(dim, dim, bias=False)
        self.second = nn.Linear(dim, dim, bias=False)
        nn.init.zeros_(self.second.weight)

    def forward(self, features: torch.Tensor, adjacency: torch.Tensor) -> torch.Tensor:
        """features (B, n, D) with the anchor at node 0, adjacency (B, n, n) -> (B, D)."""
        a_hat = adjacency / adjacency.sum(dim=-1, keepdim=True)
        hidden = F.gelu(a_hat @ self.first(features))
        propagated = a_hat @ self.second(hidden)
        return features[:, 0] + propagated[:, 0]
