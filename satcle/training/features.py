"""Frozen-backbone image features, computed once and cached.

The backbone is frozen in the contrastive stage (only a final projection is
trained), so its features - of the raw tiles and of the causally smoothed
tiles - are computed once here; the contrastive stage then trains the location
encoder cheaply on CPU from this table.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file
from torch.utils.data import DataLoader, Dataset
from tqdm.auto import tqdm

from ..core.atomic import atomic_path
from ..model.vision import VisionTransformer
from .causal import non_causal_mask, smooth_non_causal_patches
from .device import autocast


@dataclass(frozen=True)
class ImageFeatures:
    """Per-tile table: lats, lons (N,) float64 degrees; raw, smoothed (N, F) float32
    CLS features of the original and of the causally smoothed tile."""

    lats: torch.Tensor
    lons: torch.Tensor
    raw: torch.Tensor
    smoothed: torch.Tensor

    def select(self, causal: bool) -> torch.Tensor:
        """The features the contrastive stage sees: smoothed with causal refinement, raw without."""
        return self.smoothed if causal else self.raw


@torch.no_grad()
def compute_features(
    backbone: VisionTransformer,
    dataset: Dataset,
    quantile: float,
    *,
    device: torch.device,
    batch_size: int = 256,
    num_workers: int = 0,
    amp: bool = True,
    progress: bool = True,
) -> ImageFeatures:
    """Run the frozen backbone over `dataset` (GeoSample items) once.

    For each tile: last-layer CLS attention -> non-causal patches (below the
    per-image `quantile`) -> smoothed tile -> features of both versions.
    """
    backbone = backbone.to(device).eval()
    patch = backbone.config.patch_size
    lats, lons, raw, smoothed = [], [], [], []
    loader = DataLoader(dataset, batch_size=batch_size, shuffle=False, num_workers=num_workers)
    for batch in tqdm(loader, desc="image features", disable=not progress):
        images = batch.image.to(device)
        with autocast(device, amp):
            features, attention = backbone.forward_with_attention(images)
            mask = non_causal_mask(attention, quantile)
            features_smoothed = backbone(smooth_non_causal_patches(images, mask, patch))
        raw.append(features.float().cpu())
        smoothed.append(features_smoothed.float().cpu())
        lats.append(batch.lat.double())
        lons.append(batch.lon.double())
    return ImageFeatures(torch.cat(lats), torch.cat(lons), torch.cat(raw), torch.cat(smoothed))


def save_features(features: ImageFeatures, path: str | Path) -> Path:
    """Write the table as safetensors, atomically."""
    with atomic_path(path) as tmp:
        save_file({"lats": features.lats, "lons": features.lons, "raw": features.raw.contiguous(),
                   "smoothed": features.smoothed.contiguous()}, str(tmp))
    return Path(path)


def load_features(path: str | Path) -> ImageFeatures:
    """Read a table written by `save_features`."""
    tensors = load_file(str(path))
    return ImageFeatures(tensors["lats"], tensors["lons"], tensors["raw"], tensors["smoothed"])
