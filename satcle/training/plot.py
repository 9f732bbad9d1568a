"""`satcle plot smoothing`: tiles, their CLS attention and their causally smoothed version."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from ..core.atomic import atomic_path
from ..model.vision import VisionTransformer
from .causal import non_causal_mask, smooth_non_causal_patches


def display_rgb(images: torch.Tensor) -> np.ndarray:
    """(B, C, H, W) in [0, 1] -> (B, H, W, 3) for display.

    3 bands are taken as RGB; Sentinel-2 stacks (12/13 bands, B01 first) show
    B04, B03, B02 brightened 3x (reflectance rarely exceeds 0.3).
    """
    if images.shape[1] == 3:
        rgb = images
    elif images.shape[1] >= 4:
        rgb = images[:, [3, 2, 1]] * 3.0
    else:
        rgb = images[:, :1].expand(-1, 3, -1, -1)
    return rgb.clamp(0, 1).permute(0, 2, 3, 1).cpu().numpy()


@torch.no_grad()
def plot_smoothing(backbone: VisionTransformer, images: torch.Tensor, quantile: float, path: str | Path) -> Path:
    """Write a PNG with one row per image: image | CLS attention (replaced patches outlined) | smoothed.

    images : (B, C, H, W) float in [0, 1]; quantile : tau as a per-image attention quantile.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    backbone = backbone.eval()
    _, attention = backbone.forward_with_attention(images)
    mask = non_causal_mask(attention, quantile)
    smoothed = smooth_non_causal_patches(images, mask, backbone.config.patch_size)
    grid = images.shape[-1] // backbone.config.patch_size
    before, after = display_rgb(images), display_rgb(smoothed)
    rows = len(images)
    figure, axes = plt.subplots(rows, 3, figsize=(7.5, 2.5 * rows), squeeze=False)
    for i in range(rows):
        axes[i, 0].imshow(before[i])
        axes[i, 1].imshow(attention[i].reshape(grid, grid).numpy(), cmap="viridis")
        ys, xs = np.nonzero(mask[i].reshape(grid, grid).numpy())
        axes[i, 1].scatter(xs, ys, marker="s", facecolors="none", edgecolors="red", s=40)
        axes[i, 2].imshow(after[i])
        for axis in axes[i]:
            axis.set_xticks([])
            axis.set_yticks([])
    for axis, title in zip(axes[0], ("tile", f"CLS attention (red: < q{quantile:g})", "smoothed (eq. 6)")):
        axis.set_title(title, fontsize=9)
    figure.tight_layout()
    with atomic_path(path) as tmp:
        figure.savefig(tmp, dpi=100, format="png")
    plt.close(figure)
    return Path(path)
