"""The contrastive (CLIP) objective and the model it trains.

`SatCLEModel` pairs the location encoder (exported) with a trainable linear
projection of frozen image features, an optional graph fusion (spatial
refinement, training only), an optional retention head and a learnable temperature.
"""

from __future__ import annotations

import math

import torch
from torch import nn
from torch.nn import functional as F

from ..model.location_encoder import EncoderConfig, LocationEncoder
from .spatial import GraphFusion, gaussian_adjacency, perturb_coordinates

#: CLIP caps the logit scale at 100 so the softmax cannot become a hard argmax.
MAX_LOGIT_SCALE = 100.0


def clip_loss(location_embeddings: torch.Tensor, image_embeddings: torch.Tensor, logit_scale: torch.Tensor) -> torch.Tensor:
    """Symmetric InfoNCE over a batch of matched pairs (row i with row i).

    location_embeddings, image_embeddings : (B, D), any scale (L2-normalised here)
    logit_scale : scalar tensor, 1 / temperature
    Returns the mean of location->image and image->location cross-entropies.
    """
    logits = pair_logits(location_embeddings, image_embeddings, logit_scale)
    target = torch.arange(logits.shape[0], device=logits.device)
    return 0.5 * (F.cross_entropy(logits, target) + F.cross_entropy(logits.t(), target))


def pair_logits(location_embeddings: torch.Tensor, image_embeddings: torch.Tensor, logit_scale: torch.Tensor) -> torch.Tensor:
    """(B, B) scaled cosine similarities, rows = locations, columns = images."""
    loc = F.normalize(location_embeddings.float(), dim=-1)
    img = F.normalize(image_embeddings.float(), dim=-1)
    return logit_scale.float() * loc @ img.t()


def retention_loss(predicted: torch.Tensor, target: torch.Tensor, target_variance: torch.Tensor) -> torch.Tensor:
    """Mean squared error of `predicted` against `target`, both (B, D), over the target's
    total variance (a scalar tensor): 0 when the target is reproduced exactly, about 1 when
    predicted is the target's mean."""
    return ((predicted.float() - target.float()) ** 2).sum(dim=1).mean() / target_variance


def retrieval_top1(location_embeddings: torch.Tensor, image_embeddings: torch.Tensor) -> float:
    """Share of locations whose most similar image in the batch is their own (chance 1 / B)."""
    logits = pair_logits(location_embeddings, image_embeddings, torch.tensor(1.0))
    hits = logits.argmax(dim=1) == torch.arange(logits.shape[0], device=logits.device)
    return float(hits.float().mean())


class SatCLEModel(nn.Module):
    """Everything the contrastive stage trains.

    location_encoder : Siren(SH), the exported model
    image_projection : map of frozen backbone features to the embedding size: linear
        (rank <= feature size, so the location embedding is only asked to fill that many
        directions) or, with `image_hidden` > 0, a GELU MLP with one hidden layer
    fusion : GraphFusion when spatial refinement is on, else None
    retention_head : with `retention_dim` > 0, a linear map from the plain location
        embedding to the `retention_dim` features the embedding must keep (training
        only; `satcle.training.trainer` explains the target)
    logit_scale : log of 1 / temperature (learnable)
    """

    def __init__(self, encoder: EncoderConfig, image_feature_dim: int, *, spatial: bool,
                 copies: int = 5, sigma_deg: float = 0.18, init_temperature: float = 0.07,
                 image_hidden: int = 0, retention_dim: int = 0) -> None:
        super().__init__()
        self.location_encoder = LocationEncoder(encoder)
        if image_hidden > 0:
            self.image_projection = nn.Sequential(
                nn.Linear(image_feature_dim, image_hidden), nn.GELU(), nn.Linear(image_hidden, encoder.output_dim)
            )
        else:
            self.image_projection = nn.Linear(image_feature_dim, encoder.output_dim)
        self.fusion = GraphFusion(encoder.output_dim) if spatial else None
        self.retention_head = nn.Linear(encoder.output_dim, retention_dim) if retention_dim > 0 else None
        self.copies = copies
        self.sigma_deg = sigma_deg
        self.log_logit_scale = nn.Parameter(torch.tensor(math.log(1.0 / init_temperature)))

    def logit_scale(self) -> torch.Tensor:
        """1 / temperature as a scalar tensor, capped at MAX_LOGIT_SCALE."""
        return self.log_logit_scale.exp().clamp(max=MAX_LOGIT_SCALE)

    def location_embeddings(self, lats: torch.Tensor, lons: torch.Tensor,
                            generator: torch.Generator | None = None) -> torch.Tensor:
        """(B,) degrees -> (B, D). With fusion and a generator: SPCE + GNN (training);
        otherwise the plain encoder (what ships)."""
        return self._location_embeddings(lats, lons, generator)[0]

    def _location_embeddings(self, lats: torch.Tensor, lons: torch.Tensor,
                             generator: torch.Generator | None) -> tuple[torch.Tensor, torch.Tensor]:
        """(the embeddings of `location_embeddings`, the plain encoder's at the same points), both (B, D)."""
        if self.fusion is None or generator is None:
            plain = self.location_encoder(lats, lons)
            return plain, plain
        node_lats, node_lons = perturb_coordinates(lats, lons, self.copies, self.sigma_deg, generator)
        batch, nodes = node_lats.shape
        features = self.location_encoder(node_lats.reshape(-1), node_lons.reshape(-1)).reshape(batch, nodes, -1)
        adjacency = gaussian_adjacency(node_lats, node_lons, self.sigma_deg).to(features.dtype)
        return self.fusion(features, adjacency), features[:, 0]

    def image_embeddings(self, features: torch.Tensor) -> torch.Tensor:
        """(B, F) frozen backbone features -> (B, D)."""
        return self.image_projection(features)

    def forward(self, lats: torch.Tensor, lons: torch.Tensor, features: torch.Tensor,
                generator: torch.Generator | None = None, retention_target: torch.Tensor | None = None,
                target_variance: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor | None, torch.Tensor]:
        """(CLIP loss, retention loss or None, location embeddings) for a batch; spatial
        refinement when `generator` is given. The retention loss needs the retention head,
        `retention_target` (B, retention_dim) and its total variance."""
        locations, plain = self._location_embeddings(lats, lons, generator)
        loss = clip_loss(locations, self.image_embeddings(features), self.logit_scale())
        kept = None
        if self.retention_head is not None and retention_target is not None:
            kept = retention_loss(self.retention_head(plain), retention_target, target_variance)
        return loss, kept, locations
