"""Batched augmentations for satellite tiles (DINO multi-crop).

Satellite tiles have no "up": every flip and 90-degree rotation is as valid a
view as the original, so views combine random resized crops with the eight
symmetries of the square and a colour jitter (brightness, contrast, saturation)
that mimics season, haze and sensor differences. One `grid_sample` call per
view does crop, resize, rotation and flip for the whole batch.
"""

from __future__ import annotations

import math

import torch
from torch.nn import functional as F


def random_views(
    images: torch.Tensor,
    out_size: int,
    scale: tuple[float, float],
    generator: torch.Generator,
    *,
    jitter: float = 0.4,
) -> torch.Tensor:
    """One random view of every image.

    Parameters
    ----------
    images : (B, C, H, W) float, values about [0, 1]
    out_size : side of the view in pixels
    scale : range of the crop's area as a fraction of the image area
    generator : CPU generator; the views are deterministic for its state
    jitter : strength of brightness / contrast / saturation changes (0 disables)

    Returns
    -------
    (B, C, out_size, out_size) float, same dtype and device as `images`.
    """
    batch = images.shape[0]

    def uniform(low: float, high: float) -> torch.Tensor:
        return low + (high - low) * torch.rand(batch, generator=generator)

    side = uniform(*scale).sqrt()                              # crop side / image side
    shift_x = uniform(-1.0, 1.0) * (1 - side)                  # keeps the crop inside the image
    shift_y = uniform(-1.0, 1.0) * (1 - side)
    quarter_turns = torch.randint(0, 4, (batch,), generator=generator).float()
    flip = torch.where(torch.rand(batch, generator=generator) < 0.5, -1.0, 1.0)
    angle = quarter_turns * (math.pi / 2)
    cos, sin = torch.cos(angle).round(), torch.sin(angle).round()
    theta = torch.stack(
        [
            torch.stack([side * cos * flip, -side * sin, shift_x], dim=1),
            torch.stack([side * sin * flip, side * cos, shift_y], dim=1),
        ],
        dim=1,
    ).to(images)
    grid = F.affine_grid(theta, [batch, images.shape[1], out_size, out_size], align_corners=False)
    views = F.grid_sample(images, grid, mode="bilinear", padding_mode="reflection", align_corners=False)
    if jitter > 0:
        views = colour_jitter(views, jitter, generator)
    return views


def colour_jitter(images: torch.Tensor, strength: float, generator: torch.Generator) -> torch.Tensor:
    """Random brightness, contrast and saturation per image, applied to 80 % of images.

    images : (B, C, H, W) float. Returns the same shape, clipped to [0, 1] when the
    input lay there. "Saturation" mixes each band with the band mean, which works
    for RGB and multispectral alike.
    """
    batch = images.shape[0]
    shape = (batch, 1, 1, 1)

    def factor() -> torch.Tensor:
        return (1 + strength * (2 * torch.rand(shape, generator=generator) - 1)).to(images)

    apply = (torch.rand(shape, generator=generator) < 0.8).to(images)
    brightness, contrast, saturation = factor(), factor(), factor()
    out = images * brightness
    mean = out.mean(dim=(1, 2, 3), keepdim=True)
    out = (out - mean) * contrast + mean
    grey = out.mean(dim=1, keepdim=True)
    out = (out - grey) * saturation + grey
    out = apply * out + (1 - apply) * images
    return out.clamp(0.0, 1.0) if images.min() >= 0 and images.max() <= 1 else out
