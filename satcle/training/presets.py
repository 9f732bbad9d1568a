"""Training configurations as small frozen dataclasses, and the three presets.

* `bluemarble` - the whole pipeline (tiles, DINO, features, contrastive) on
  Blue Marble tiles for 2 CPU cores (10,000 tiles, 8 DINO epochs, 25 contrastive
  epochs at lr 3e-4 with warm-up, cosine decay and the retention loss, selection gated
  on location retention).
* `stack` - the same recipe on the five-source image stack (`satcle.data.stack`):
  58,929 tiles 96 km across on a 50 km land lattice, 39 channels, 2 DINO epochs,
  5 contrastive epochs. The shipped `default` is this preset without the spatial
  refinement (docs/configs/stack-no-spatial.toml; docs/TRAINING.md has the study).
* `s2-100k` - the paper's setting on Sentinel-2 S2-100K (batch 512, lr 1e-4,
  wd 1e-2, up to 500 epochs with early stopping, K = 5), meant for a GPU.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

from ..core.errors import TrainingConfigError
from ..model.location_encoder import EncoderConfig
from ..model.vision import VisionConfig


@dataclass(frozen=True)
class DinoConfig:
    """DINO self-distillation of the ViT.

    epochs, batch_size, lr (AdamW, peak after one warm-up epoch, cosine decay), weight_decay.
    global_crop_scale / local_crop_scale: crop area ranges; local_crops: small views per image.
    local_size: side of local views (px); global views have the ViT's image_size.
    out_dim: DINO head prototypes; teacher_temp / student_temp: softmax temperatures.
    center_momentum: running mean of teacher outputs; ema_momentum: start of the teacher EMA
    momentum, raised to 1 along a cosine over training.
    """

    epochs: int = 12
    batch_size: int = 128
    lr: float = 5e-4
    weight_decay: float = 0.04
    global_crop_scale: tuple[float, float] = (0.4, 1.0)
    local_crop_scale: tuple[float, float] = (0.1, 0.4)
    local_crops: int = 2
    local_size: int = 16
    out_dim: int = 1024
    hidden_dim: int = 256
    bottleneck_dim: int = 64
    teacher_temp: float = 0.04
    student_temp: float = 0.1
    center_momentum: float = 0.9
    ema_momentum: float = 0.99
    clip_grad: float = 3.0
    num_workers: int = 0


@dataclass(frozen=True)
class RefinementConfig:
    """SatCLE's two refinements (both on by default).

    causal: smooth non-causal patches (paper 3.3); causal_quantile: tau is this
        quantile of the per-image patch attention (paper: lowest 10 %).
    spatial: SPCE + graph propagation fusion (paper 3.2); copies: K perturbed copies
        (paper: 5); sigma_deg: std of the Gaussian jitter in degrees, also the
        adjacency kernel width.
    """

    causal: bool = True
    causal_quantile: float = 0.1
    spatial: bool = True
    copies: int = 5
    sigma_deg: float = 0.18

    def __post_init__(self) -> None:
        if not 0.0 < self.causal_quantile < 1.0:
            raise TrainingConfigError(f"causal_quantile must be in (0, 1), got {self.causal_quantile}")
        if self.copies < 1 or not self.sigma_deg > 0:
            raise TrainingConfigError(f"copies must be >= 1 and sigma_deg > 0, got {self.copies}, {self.sigma_deg}")


@dataclass(frozen=True)
class ContrastiveConfig:
    """CLIP stage: location encoder vs frozen-backbone image features (+ trainable projection).

    lr / weight_decay: AdamW (paper: 1e-4 / 1e-2). batch_size: pairs per step (the
    in-batch negatives). max_epochs / patience: early stopping on validation loss.
    val_fraction: held-out share (paper: 10 %). seed: split, order, jitter, init.
    amp: mixed precision (bfloat16 autocast) when on a GPU.
    schedule: "constant" lr, or "cosine": linear warm-up over `warmup_epochs`, then
        cosine decay to 0 at `max_epochs` (per step).
    first_layer_weight_decay: AdamW decay of the Siren's first (w0 = 30) layer
        weights; None = `weight_decay`. Larger values keep its frequencies low.
    first_layer_lr_scale: learning-rate multiplier of that layer (weights and bias).
        Its pre-activations are multiplied by w0 = 30, so at the common rate a step
        moves its sines' phases ~30x further than any other layer's: 1/30 evens that out.
    anchor_weight: L2-SP regularisation, anchor_weight * sum((theta - theta_init)^2)
        over the location encoder's parameters: keeps the smooth, location-preserving
        structure of the initialisation while the loss adds what the images show.
    image_hidden: hidden width of an MLP image projection (0: linear, as SatCLIP).
    damping_degree: when > 0, the first layer is trained as W = V * s with
        s_l = (damping_degree / (l + 1))^2 on harmonics of degree l >= damping_degree
        (`satcle.training.harmonic_damping`): the initial weights and every optimiser
        step on those degrees are damped alike, so the network starts and stays about as
        smooth as an L = damping_degree one while training can still add detail. Siren's
        uniform init weights every harmonic alike, so at L = 40 the untrained network is
        mostly high degrees (location retention R^2 0.28). Exported weights are W.
    retention_weight: when > 0, a training-only linear head learns to reproduce, from the
        plain location embedding of each training location, the embedding an untrained
        network of degree min(L, retention_degree) gives it (for L <= retention_degree:
        the model's own initialisation), and its normalised squared error
        (`contrastive.retention_loss`), times this weight, joins the loss: the embedding
        keeps those smooth random features in some linear image while the images reshape
        it (function-space anchoring; the weights are free).
    retention_degree: degree L of the retention targets' network (see retention_weight).
    retention_model: a trained encoder (shipped name or model directory) whose
        embedding is the retention target instead of an untrained network
        (retention_degree is then unused): an L = 40 model trained with "default"
        keeps, in some linear image, what the L = 10 model learned and adds detail.
    min_location_r2: an epoch can only be selected (and reset early stopping) when
        the location retention R^2 logged for it is at least this (0 = val loss alone).
    """

    lr: float = 1e-4
    weight_decay: float = 1e-2
    batch_size: int = 512
    max_epochs: int = 500
    patience: int = 20
    val_fraction: float = 0.1
    seed: int = 0
    amp: bool = True
    init_temperature: float = 0.07
    schedule: str = "constant"
    warmup_epochs: int = 0
    first_layer_weight_decay: float | None = None
    first_layer_lr_scale: float = 1.0
    anchor_weight: float = 0.0
    image_hidden: int = 0
    damping_degree: int = 0
    retention_weight: float = 0.0
    retention_degree: int = 10
    retention_model: str = ""
    min_location_r2: float = 0.0

    def __post_init__(self) -> None:
        if not 0.0 < self.val_fraction < 1.0:
            raise TrainingConfigError(f"val_fraction must be in (0, 1), got {self.val_fraction}")
        if self.batch_size < 2 or self.max_epochs < 1 or self.patience < 1:
            raise TrainingConfigError("batch_size must be >= 2, max_epochs and patience >= 1")
        if self.schedule not in ("constant", "cosine"):
            raise TrainingConfigError(f"schedule must be 'constant' or 'cosine', got {self.schedule!r}")
        if (self.warmup_epochs < 0 or self.anchor_weight < 0 or self.first_layer_lr_scale < 0
                or self.retention_weight < 0 or self.retention_degree < 1
                or not 0.0 <= self.min_location_r2 <= 1.0):
            raise TrainingConfigError(
                "warmup_epochs, anchor_weight, first_layer_lr_scale and retention_weight must be >= 0, "
                "retention_degree >= 1, min_location_r2 in [0, 1]"
            )


@dataclass(frozen=True)
class Preset:
    """A whole pipeline: data, ViT, DINO, refinements, contrastive stage and location encoder."""

    name: str
    data: str                                  # "bluemarble", "stack" or "s2-100k"
    tile_count: int = 20000                    # Blue Marble only: random land points
    tile_size: int = 32                        # Blue Marble and stack (px)
    sources: tuple[str, ...] = ()              # stack only: image sources, in channel order
    tile_spacing_km: float = 50.0              # stack only: tile centres = land points of a lattice this far apart
    tile_km_per_px: float = 4.0                # stack only: ground spacing of the tile grid
    vision: VisionConfig = field(default_factory=VisionConfig)
    dino: DinoConfig = field(default_factory=DinoConfig)
    refinement: RefinementConfig = field(default_factory=RefinementConfig)
    contrastive: ContrastiveConfig = field(default_factory=ContrastiveConfig)
    encoder: EncoderConfig = field(default_factory=EncoderConfig)

    def replace(self, **changes) -> "Preset":
        """A copy with top-level fields replaced (nested configs: pass new dataclasses)."""
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict:
        """Every setting as nested plain dicts (recorded in model cards)."""
        return dataclasses.asdict(self)


BLUEMARBLE = Preset(
    name="bluemarble",
    data="bluemarble",
    tile_count=10000,
    tile_size=32,
    vision=VisionConfig(image_size=32, patch_size=4, in_channels=3, dim=64, depth=4, heads=4, mlp_ratio=2.0),
    # 8 DINO epochs (loss 2.4, against 5.6 after 2) give image features that match their
    # locations better (contrastive validation loss 3.95 against 4.39, same recipe).
    dino=DinoConfig(epochs=8, batch_size=128),
    # Blue Marble tile centres lie ~1 degree apart; a 0.5 degree jitter fills the gaps
    # the way the official 0.18 degree jitter does for S2-100K's 100k points.
    refinement=RefinementConfig(sigma_deg=0.5),
    # Warm-up and cosine decay over 25 epochs, and the retention loss: without it the
    # images compress the embedding to a few directions (participation ratio 34 -> 8) and
    # it barely beats, or loses to, its own untrained network downstream; at 10x this rate
    # without it location is scrambled into a high-frequency code (location R^2 0.64).
    # docs/TRAINING.md has the study. Epochs whose location retention falls below 0.95 are
    # never selected.
    contrastive=ContrastiveConfig(lr=3e-4, batch_size=256, max_epochs=25, patience=10, schedule="cosine",
                                  warmup_epochs=2, retention_weight=10.0, min_location_r2=0.95),
    encoder=EncoderConfig(legendre_degree=10),
)

STACK = Preset(
    name="stack",
    data="stack",
    tile_size=24,
    # Five installed sources (true colour, relief, land cover one-hot, night lights, five
    # months of Blue Marble), 58,929 tiles (every land point of a 50 km lattice), each
    # 96 km across at 4 km/px (about the relief's own 3.7 km/px).
    sources=("bluemarble", "relief", "landcover", "nightlights", "seasons"),
    tile_spacing_km=50.0,
    tile_km_per_px=4.0,
    vision=VisionConfig(image_size=24, patch_size=4, in_channels=39, dim=64, depth=4, heads=4, mlp_ratio=2.0),
    dino=DinoConfig(epochs=2, batch_size=128, local_size=12),
    # Tile centres lie 50 km (0.45 degree) apart: a 0.25 degree jitter fills the gaps.
    refinement=RefinementConfig(sigma_deg=0.25),
    # Five epochs over 53,036 training tiles are about as many steps as the bluemarble
    # preset's 25 over 9,000, and what a shared 2-core machine finished (docs/TRAINING.md).
    contrastive=ContrastiveConfig(lr=3e-4, batch_size=256, max_epochs=5, patience=4, schedule="cosine",
                                  warmup_epochs=1, retention_weight=10.0, min_location_r2=0.95),
    encoder=EncoderConfig(legendre_degree=10),
)

S2_100K = Preset(
    name="s2-100k",
    data="s2-100k",
    vision=VisionConfig(image_size=224, patch_size=16, in_channels=12, dim=384, depth=12, heads=6, mlp_ratio=4.0),
    dino=DinoConfig(epochs=100, batch_size=256, local_crops=6, local_size=96, out_dim=65536,
                    hidden_dim=2048, bottleneck_dim=256, ema_momentum=0.996, num_workers=8),
    refinement=RefinementConfig(sigma_deg=0.18),
    contrastive=ContrastiveConfig(batch_size=512, max_epochs=500, patience=20),
    encoder=EncoderConfig(legendre_degree=10),
)

PRESETS = {preset.name: preset for preset in (BLUEMARBLE, STACK, S2_100K)}


def get_preset(name: str) -> Preset:
    """The preset called `name` ("bluemarble", "stack" or "s2-100k")."""
    try:
        return PRESETS[name]
    except KeyError:
        raise TrainingConfigError(f"unknown preset {name!r}; choose one of {sorted(PRESETS)}") from None
