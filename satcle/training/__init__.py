"""Training layer: DINO vision stage, causal and spatial refinement, CLIP training, presets.

Needs the `train` extra (pip install 'satcle[train]'); the embedding product does not.
"""

from .causal import non_causal_mask, smooth_non_causal_patches
from .contrastive import SatCLEModel, clip_loss, retrieval_top1
from .dino import DinoHead, DinoLoss, DinoNetwork, dino_step, ema_update, train_dino
from .features import ImageFeatures, compute_features
from .pipeline import TrainingRun, run_training
from .presets import BLUEMARBLE, PRESETS, S2_100K, ContrastiveConfig, DinoConfig, Preset, RefinementConfig, get_preset
from .spatial import GraphFusion, gaussian_adjacency, perturb_coordinates
from .trainer import TrainingResult, train_contrastive

__all__ = [
    "BLUEMARBLE", "PRESETS", "S2_100K", "ContrastiveConfig", "DinoConfig", "DinoHead", "DinoLoss",
    "DinoNetwork", "GraphFusion", "ImageFeatures", "Preset", "RefinementConfig", "SatCLEModel",
    "TrainingResult", "TrainingRun", "clip_loss", "compute_features", "dino_step", "ema_update",
    "gaussian_adjacency", "get_preset", "non_causal_mask", "perturb_coordinates", "retrieval_top1",
    "run_training", "smooth_non_causal_patches", "train_contrastive", "train_dino",
]
