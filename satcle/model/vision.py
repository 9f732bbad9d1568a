"""Vision Transformer image encoder exposing the last layer's CLS attention per patch.

Pre-LayerNorm blocks (LN -> multi-head self-attention -> residual, LN -> MLP ->
residual), a learnable CLS token and learnable position embeddings that are
interpolated for other input sizes (DINO's small local crops). `forward`
returns the CLS feature; `forward_with_attention` also returns how much the
CLS token of the last layer attends to each patch (mean over heads), which the
causal refinement thresholds.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn
from torch.nn import functional as F

from ..core.errors import InvalidArgumentError, ModelFormatError
from .weights_directory import read_weights_directory, write_weights_directory


@dataclass(frozen=True)
class VisionConfig:
    """ViT architecture.

    image_size: side of the square input the position embeddings are made for (px).
    patch_size: side of a patch (px); image_size must be a multiple.
    in_channels: image bands (3 for RGB, 12/13 for Sentinel-2).
    dim, depth, heads, mlp_ratio: token width, blocks, attention heads, MLP width / dim.
    """

    image_size: int = 32
    patch_size: int = 4
    in_channels: int = 3
    dim: int = 64
    depth: int = 4
    heads: int = 4
    mlp_ratio: float = 2.0

    def __post_init__(self) -> None:
        if self.image_size % self.patch_size:
            raise InvalidArgumentError(f"image_size {self.image_size} is not a multiple of patch_size {self.patch_size}")
        if self.dim % self.heads:
            raise InvalidArgumentError(f"dim {self.dim} is not divisible by heads {self.heads}")

    @property
    def grid(self) -> int:
        """Patches per side at `image_size`."""
        return self.image_size // self.patch_size


class Attention(nn.Module):
    """Multi-head self-attention that can also return its attention weights."""

    def __init__(self, dim: int, heads: int) -> None:
        super().__init__()
        self.heads = heads
        self.qkv = nn.Linear(dim, 3 * dim)
        self.out = nn.Linear(dim, dim)

    def forward(self, x: torch.Tensor, return_weights: bool = False):
        """(B, T, dim) -> (B, T, dim), and (B, heads, T, T) weights when asked (else None)."""
        batch, tokens, dim = x.shape
        q, k, v = self.qkv(x).reshape(batch, tokens, 3, self.heads, dim // self.heads).permute(2, 0, 3, 1, 4)
        if not return_weights:
            mixed = F.scaled_dot_product_attention(q, k, v)
            weights = None
        else:
            weights = torch.softmax(q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1]), dim=-1)
            mixed = weights @ v
        return self.out(mixed.transpose(1, 2).reshape(batch, tokens, dim)), weights


class Block(nn.Module):
    """Pre-LN transformer block."""

    def __init__(self, dim: int, heads: int, mlp_ratio: float) -> None:
        super().__init__()
        self.norm1 = nn.LayerNorm(dim)
        self.attn = Attention(dim, heads)
        self.norm2 = nn.LayerNorm(dim)
        hidden = int(dim * mlp_ratio)
        self.mlp = nn.Sequential(nn.Linear(dim, hidden), nn.GELU(), nn.Linear(hidden, dim))

    def forward(self, x: torch.Tensor, return_weights: bool = False):
        """(B, T, dim) -> (B, T, dim), and the attention weights when asked."""
        mixed, weights = self.attn(self.norm1(x), return_weights)
        x = x + mixed
        return x + self.mlp(self.norm2(x)), weights


class VisionTransformer(nn.Module):
    """ViT: (B, C, H, W) images -> (B, dim) CLS features (H, W multiples of patch_size)."""

    def __init__(self, config: VisionConfig = VisionConfig()) -> None:
        super().__init__()
        self.config = config
        self.patch_embed = nn.Conv2d(config.in_channels, config.dim, config.patch_size, stride=config.patch_size)
        self.cls_token = nn.Parameter(torch.zeros(1, 1, config.dim))
        self.pos_embed = nn.Parameter(torch.zeros(1, 1 + config.grid**2, config.dim))
        self.blocks = nn.ModuleList(Block(config.dim, config.heads, config.mlp_ratio) for _ in range(config.depth))
        self.norm = nn.LayerNorm(config.dim)
        nn.init.trunc_normal_(self.pos_embed, std=0.02)
        nn.init.trunc_normal_(self.cls_token, std=0.02)
        self.apply(_init_linear)

    @property
    def output_dim(self) -> int:
        """Size of the CLS feature."""
        return self.config.dim

    def _tokens(self, images: torch.Tensor) -> torch.Tensor:
        if images.ndim != 4 or images.shape[1] != self.config.in_channels:
            raise InvalidArgumentError(f"expected (B, {self.config.in_channels}, H, W) images, got {tuple(images.shape)}")
        patches = self.patch_embed(images)                      # (B, dim, gh, gw)
        gh, gw = patches.shape[-2:]
        tokens = patches.flatten(2).transpose(1, 2)
        cls = self.cls_token.expand(len(images), -1, -1)
        return torch.cat([cls, tokens], dim=1) + self._position_embedding(gh, gw)

    def _position_embedding(self, gh: int, gw: int) -> torch.Tensor:
        grid = self.config.grid
        if (gh, gw) == (grid, grid):
            return self.pos_embed
        # Other crop sizes see the same layout, resampled (as DINO does for local crops).
        patch_pos = self.pos_embed[:, 1:].reshape(1, grid, grid, -1).permute(0, 3, 1, 2)
        patch_pos = F.interpolate(patch_pos, size=(gh, gw), mode="bicubic", align_corners=False)
        return torch.cat([self.pos_embed[:, :1], patch_pos.flatten(2).transpose(1, 2)], dim=1)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        """(B, C, H, W) float -> (B, dim) normalised CLS features."""
        x = self._tokens(images)
        for block in self.blocks:
            x, _ = block(x)
        return self.norm(x[:, 0])

    def forward_with_attention(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """CLS features (B, dim) and last-layer CLS -> patch attention (B, gh * gw).

        The attention is averaged over heads; each row sums to at most 1 (the
        rest is the CLS token's attention to itself). Patches are in row-major
        order (row 0 = top of the image).
        """
        x = self._tokens(images)
        for block in self.blocks[:-1]:
            x, _ = block(x)
        x, weights = self.blocks[-1](x, return_weights=True)
        return self.norm(x[:, 0]), weights[:, :, 0, 1:].mean(dim=1)


def _init_linear(module: nn.Module) -> None:
    if isinstance(module, nn.Linear):
        nn.init.trunc_normal_(module.weight, std=0.02)
        nn.init.zeros_(module.bias)


VISION_FORMAT = "satcle-vision-encoder"
VISION_WEIGHTS = "vision.safetensors"
VISION_CONFIG = "vision.json"


def save_vision_encoder(model: VisionTransformer, directory: str | Path, metadata: dict | None = None) -> Path:
    """Write a ViT into `directory` (``vision.safetensors`` + ``vision.json``, the
    model-directory format of `weights_directory`), atomically per file."""
    document = {"format": VISION_FORMAT, "config": dataclasses.asdict(model.config), "metadata": metadata or {}}
    return write_weights_directory(directory, model.state_dict(), document, weights_file=VISION_WEIGHTS,
                                   config_file=VISION_CONFIG)


def load_vision_encoder(directory: str | Path) -> VisionTransformer:
    """Read a ViT written by `save_vision_encoder`, in eval mode on the CPU (ModelFormatError if it cannot)."""
    document, state, _ = read_weights_directory(directory, weights_file=VISION_WEIGHTS, config_file=VISION_CONFIG,
                                                format=VISION_FORMAT)
    try:
        model = VisionTransformer(VisionConfig(**document["config"]))
        model.load_state_dict(state)
    except (ValueError, KeyError, TypeError, RuntimeError) as exc:
        raise ModelFormatError(f"{directory} does not hold a satcle vision encoder: {exc}") from None
    return model.eval()
