"""Causal refinement (SatCLE paper 3.3.3, eq. 6): attentional semantic smoothing.

Patches the frozen DINO ViT barely attends to (last-layer CLS attention below
tau, the per-image `quantile` of the patch attentions, paper: lowest 10 %) are
"non-causal" environment; each is replaced, pixel by pixel, by the mean of its
8-connected neighbouring patches (fewer at the border). Causal patches keep
their pixels. Neighbours are read from the original image, so the result does
not depend on the order patches are visited.
"""

from __future__ import annotations

import torch
from torch.nn import functional as F

from ..core.errors import InvalidArgumentError


def non_causal_mask(attention: torch.Tensor, quantile: float = 0.1) -> torch.Tensor:
    """Which patches are non-causal: attention strictly below the per-image quantile.

    attention : (B, N) non-negative patch attentions (any scale)
    Returns (B, N) bool.
    """
    if attention.ndim != 2:
        raise InvalidArgumentError(f"attention must be (B, N), got {tuple(attention.shape)}")
    tau = torch.quantile(attention.float(), quantile, dim=1, keepdim=True)
    return attention < tau


def smooth_non_causal_patches(images: torch.Tensor, mask: torch.Tensor, patch_size: int) -> torch.Tensor:
    """Replace masked patches by the mean of their neighbouring patches (eq. 6).

    Parameters
    ----------
    images : (B, C, H, W) float; H and W multiples of `patch_size`
    mask : (B, gh * gw) bool, row-major patch order (as the ViT emits), True = replace
    patch_size : patch side in pixels

    Returns
    -------
    (B, C, H, W) new tensor; unmasked patches are bit-identical to the input.
    """
    batch, channels, height, width = images.shape
    if height % patch_size or width % patch_size:
        raise InvalidArgumentError(f"image {height}x{width} is not a multiple of patch size {patch_size}")
    gh, gw = height // patch_size, width // patch_size
    if mask.shape != (batch, gh * gw):
        raise InvalidArgumentError(f"mask must be ({batch}, {gh * gw}), got {tuple(mask.shape)}")
    # (B, C, gh, p, gw, p) -> (B, C*p*p, gh, gw): one "pixel" per patch, patch content in channels.
    grid = images.reshape(batch, channels, gh, patch_size, gw, patch_size)
    grid = grid.permute(0, 1, 3, 5, 2, 4).reshape(batch, channels * patch_size**2, gh, gw)
    ring = torch.ones(1, 1, 3, 3, dtype=images.dtype, device=images.device)
    ring[0, 0, 1, 1] = 0
    # Sum over the 8 neighbours per content channel (grouped conv), and how many exist.
    sums = F.conv2d(grid, ring.expand(grid.shape[1], 1, 3, 3), padding=1, groups=grid.shape[1])
    counts = F.conv2d(torch.ones_like(grid[:, :1]), ring, padding=1)
    smoothed = torch.where(mask.reshape(batch, 1, gh, gw), sums / counts, grid)
    smoothed = smoothed.reshape(batch, channels, patch_size, patch_size, gh, gw).permute(0, 1, 4, 2, 5, 3)
    return smoothed.reshape(batch, channels, height, width)
