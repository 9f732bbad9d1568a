"""Contrastive training of the location encoder on cached image features.

Seeded and exactly resumable: the split, the batch order and the SPCE jitter
of epoch e come from generators seeded with (seed, e), and the checkpoint
written after every epoch holds the model, the optimiser and the
early-stopping state, so an interrupted run continued from its checkpoint
ends with the same weights as one that never stopped.
"""

from __future__ import annotations

import copy
import csv
import io
import json
import math
import time
import dataclasses
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable

import torch
from torch.nn.parallel import DistributedDataParallel
from tqdm.auto import tqdm

from ..core.atomic import write_text_atomic
from ..core.errors import TrainingConfigError
from ..model.location_encoder import EncoderConfig
from . import harmonic_damping
from .resume_state import load_checkpoint, save_checkpoint
from .contrastive import SatCLEModel, clip_loss, retrieval_top1
from .device import autocast, average_across_ranks, init_distributed
from .presets import ContrastiveConfig, RefinementConfig

LOG_FIELDS = ("epoch", "train_loss", "val_loss", "val_top1", "val_chance", "temperature", "lr", "seconds")
#: Logged only by runs with a retention head (ContrastiveConfig.retention_weight > 0).
RETENTION_FIELD = "retention_loss"
#: Fields a `monitor` adds to a log row (see `training/monitor.py`).
MONITOR_FIELDS = ("location_r2", "participation_ratio", "distance_10km", "distance_1000km", "detail_50km",
                  "far_biome_p10", "far_landcover_p10", "probe_mse")


@dataclass
class TrainingResult:
    """The trained model (best validation epoch), the per-epoch log and how training ended."""

    model: SatCLEModel
    history: list[dict] = field(default_factory=list)
    best_epoch: int = 0
    stopped_early: bool = False


def split_indices(count: int, val_fraction: float, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Random train / validation split of range(count): (train indices, validation indices)."""
    order = torch.randperm(count, generator=torch.Generator().manual_seed(seed))
    n_val = max(1, round(count * val_fraction))
    if count - n_val < 2:
        raise TrainingConfigError(f"{count} samples are too few for a train/validation split")
    return order[n_val:], order[:n_val]


def train_contrastive(
    lats: torch.Tensor,
    lons: torch.Tensor,
    features: torch.Tensor,
    encoder: EncoderConfig,
    refinement: RefinementConfig,
    config: ContrastiveConfig,
    out_dir: str | Path,
    *,
    device: torch.device,
    progress: bool = True,
    log: Callable[[str], None] = print,
    on_epoch_end: Callable[[dict], None] | None = None,
    monitor: Callable[[torch.nn.Module], dict] | None = None,
) -> TrainingResult:
    """Train location encoder + image projection with the CLIP loss.

    Parameters
    ----------
    lats, lons : (N,) degrees
    features : (N, F) frozen image features (raw or causally smoothed)
    encoder, refinement, config : what to train and how (refinement.spatial
        switches SPCE + graph fusion; the causal choice is made by `features`)
    out_dir : checkpoint.pt and train_log.csv go here; an existing checkpoint of
        the same configuration is resumed
    on_epoch_end : called with each epoch's log row (tests use it to interrupt)
    monitor : called with the location encoder after each epoch (main process);
        the dict it returns (MONITOR_FIELDS) joins the log row, and
        `config.min_location_r2` selects among epochs by its "location_r2"
    """
    out_dir = Path(out_dir)
    distributed = init_distributed(device)
    fingerprint = json.dumps({"encoder": asdict(encoder), "refinement": asdict(refinement),
                              "contrastive": asdict(config), "n": int(len(lats)),
                              "feature_dim": int(features.shape[1])}, sort_keys=True)
    train_idx, val_idx = split_indices(len(lats), config.val_fraction, config.seed)
    data = _Data(lats.to(device, torch.float32), lons.to(device, torch.float32),
                 features.to(device, torch.float32), min(config.batch_size, len(train_idx)))
    model, optimizer, retention = _build(encoder, refinement, config, data, device)
    trained = DistributedDataParallel(model) if distributed.enabled else model
    state = {"epoch": 0, "best_val": float("inf"), "best_epoch": 0, "bad_epochs": 0, "history": [],
             "best_model": None,
             # The initial encoder weights, the L2-SP anchor (kept in the checkpoint for exact resume).
             "anchor": {k: v.detach().clone() for k, v in model.location_encoder.state_dict().items()}}
    checkpoint_path = out_dir / "checkpoint.pt"
    if checkpoint_path.is_file():
        state = _resume(checkpoint_path, fingerprint, model, optimizer, state)
        log(f"contrastive: resuming after epoch {state['epoch']}")
    if state["best_model"] is None:
        state["best_model"] = copy.deepcopy(model.state_dict())

    stopped_early = state["bad_epochs"] >= config.patience
    while state["epoch"] < config.max_epochs and not stopped_early:
        row = _epoch(model, trained, optimizer, data, train_idx, val_idx, retention, refinement, config, state,
                     distributed, progress)
        if monitor is not None and distributed.is_main:
            row.update(monitor(model.location_encoder))
        _select(state, row, model, config)
        stopped_early = state["bad_epochs"] >= config.patience
        if distributed.is_main:
            log(_epoch_line(row))
            save_checkpoint(checkpoint_path, {"fingerprint": fingerprint, "model": model.state_dict(),
                                              "optimizer": optimizer.state_dict(), **state})
            write_text_atomic(out_dir / "train_log.csv", history_csv(state["history"]))
        if on_epoch_end is not None:
            on_epoch_end(row)
    if stopped_early:
        log(f"early stop: no validation improvement for {config.patience} epochs; best epoch {state['best_epoch']}")
    if state["best_epoch"] == 0:
        raise TrainingConfigError(
            f"no epoch reached location retention R^2 >= {config.min_location_r2} (min_location_r2); "
            "lower the learning rate or the threshold"
        )
    model.load_state_dict(state["best_model"])
    harmonic_damping.remove(model.location_encoder)
    return TrainingResult(model.eval(), state["history"], state["best_epoch"], stopped_early)


@dataclass(frozen=True)
class _Data:
    """The training table on the training device: lats, lons (N,) degrees, features (N, F), batch size."""

    lats: torch.Tensor
    lons: torch.Tensor
    features: torch.Tensor
    batch_size: int


def _build(encoder: EncoderConfig, refinement: RefinementConfig, config: ContrastiveConfig, data: _Data,
           device: torch.device):
    """The seeded model, its optimiser and the retention targets ((N, D') targets and their total variance,
    or None without a retention loss)."""
    retention = None
    if config.retention_weight > 0:   # before the model: both leave the random stream as they found it
        retention = (model_features(config.retention_model, data.lats, data.lons) if config.retention_model
                     else retention_features(encoder, config.retention_degree, config.seed, data.lats, data.lons))
    torch.manual_seed(config.seed)
    model = SatCLEModel(encoder, data.features.shape[1], spatial=refinement.spatial, copies=refinement.copies,
                        sigma_deg=refinement.sigma_deg, init_temperature=config.init_temperature,
                        image_hidden=config.image_hidden,
                        retention_dim=0 if retention is None else retention[0].shape[1]).to(device)
    if config.damping_degree > 0:
        harmonic_damping.damp(model.location_encoder, config.damping_degree)
    optimizer = torch.optim.AdamW(_parameter_groups(model, config), lr=config.lr, weight_decay=config.weight_decay)
    return model, optimizer, retention


def _resume(path: Path, fingerprint: str, model: SatCLEModel, optimizer: torch.optim.Optimizer,
            state: dict) -> dict:
    """Load the checkpoint at `path` into `model` and `optimizer`; returns its training state."""
    saved = load_checkpoint(path)
    if saved["fingerprint"] != fingerprint:
        raise TrainingConfigError(f"{path} belongs to another configuration; use a new --out")
    model.load_state_dict(saved["model"])
    optimizer.load_state_dict(saved["optimizer"])
    return {k: saved[k] for k in state}


def _epoch(model: SatCLEModel, trained: torch.nn.Module, optimizer: torch.optim.Optimizer, data: _Data,
           train_idx: torch.Tensor, val_idx: torch.Tensor, retention, refinement: RefinementConfig,
           config: ContrastiveConfig, state: dict, distributed, progress: bool) -> dict:
    """Train epoch `state["epoch"]` (seeded order and jitter) and validate; returns its log row."""
    epoch = state["epoch"]
    started = time.perf_counter()
    generator = torch.Generator().manual_seed(config.seed * 1_000_003 + epoch)
    order = train_idx[torch.randperm(len(train_idx), generator=generator)]
    # Equal-size batches (no runt batch with a handful of negatives).
    batches = torch.tensor_split(order, max(1, len(order) // data.batch_size))
    bar = tqdm(batches, desc=f"epoch {epoch + 1}", leave=False, disable=not (progress and distributed.is_main))
    losses, retention_losses, lr = _train_epoch(model, trained, optimizer, bar, epoch, len(batches), data,
                                                retention, generator if refinement.spatial else None, config, state,
                                                distributed)
    val_loss, val_top1, val_chance = evaluate(model, data.lats, data.lons, data.features, val_idx, data.batch_size)
    device = data.lats.device
    row = {
        "epoch": epoch + 1,
        "train_loss": average_across_ranks(sum(losses) / len(losses), distributed, device),
        "val_loss": val_loss, "val_top1": val_top1, "val_chance": val_chance,
        "temperature": float(1.0 / model.logit_scale().detach()),
        "lr": lr,
        "seconds": time.perf_counter() - started,
    }
    if retention_losses:
        row[RETENTION_FIELD] = average_across_ranks(sum(retention_losses) / len(retention_losses), distributed, device)
    return row


def _train_epoch(model: SatCLEModel, trained: torch.nn.Module, optimizer: torch.optim.Optimizer, batches,
                 epoch: int, steps: int, data: _Data, retention, generator, config: ContrastiveConfig,
                 state: dict, distributed) -> tuple[list[float], list[float], float]:
    """One pass over `batches` (index tensors); returns the CLIP losses, the retention losses and the last lr.

    generator : the epoch's generator for the SPCE jitter, or None without spatial refinement.
    """
    model.train()
    device = data.lats.device
    targets, variance = retention if retention is not None else (None, None)
    anchor = [(p, state["anchor"][name].to(device)) for name, p in model.location_encoder.named_parameters()]
    losses, retention_losses, lr = [], [], config.lr
    for step, batch in enumerate(batches):
        lr = config.lr * lr_factor(config, epoch * steps + step, steps)
        for group in optimizer.param_groups:
            group["lr"] = lr * group["lr_scale"]
        batch = batch[distributed.rank::distributed.world_size].to(device)
        with autocast(device, config.amp):
            loss, kept, _ = trained(data.lats[batch], data.lons[batch], data.features[batch], generator,
                                    None if targets is None else targets[batch], variance)
        objective = loss
        if kept is not None:
            objective = objective + config.retention_weight * kept
            retention_losses.append(float(kept.detach()))
        if config.anchor_weight > 0:
            objective = objective + config.anchor_weight * sum(((p - p0) ** 2).sum() for p, p0 in anchor)
        optimizer.zero_grad(set_to_none=True)
        objective.backward()
        optimizer.step()
        losses.append(float(loss.detach()))
    return losses, retention_losses, lr


def _select(state: dict, row: dict, model: SatCLEModel, config: ContrastiveConfig) -> None:
    """Append `row` to the history and keep the model when it is the best eligible epoch so far."""
    state["history"].append(row)
    state["epoch"] = row["epoch"]
    eligible = row.get("location_r2", 1.0) >= config.min_location_r2
    if eligible and row["val_loss"] < state["best_val"]:
        state.update(best_val=row["val_loss"], best_epoch=row["epoch"], bad_epochs=0,
                     best_model=copy.deepcopy(model.state_dict()))
    else:
        state["bad_epochs"] += 1


def _epoch_line(row: dict) -> str:
    """The log line of one epoch."""
    watched = "".join(f"  {k} {row[k]:.3f}" for k in MONITOR_FIELDS if k in row)
    kept = f"  retention {row[RETENTION_FIELD]:.4f}" if RETENTION_FIELD in row else ""
    return (f"epoch {row['epoch']:4d}  loss {row['train_loss']:.4f}{kept}  val_loss {row['val_loss']:.4f}  "
            f"val_top1 {row['val_top1']:.3f} (chance {row['val_chance']:.4f})  T {row['temperature']:.4f}  "
            f"lr {row['lr']:.2e}{watched}  {row['seconds']:.1f}s")


@torch.no_grad()
def retention_features(encoder: EncoderConfig, degree: int, seed: int, lats: torch.Tensor, lons: torch.Tensor,
                       chunk: int = 16384) -> tuple[torch.Tensor, torch.Tensor]:
    """The retention targets: the embeddings of every training location by an untrained
    Siren(SH) of `encoder`'s shape at L = min(L, `degree`), initialised from `seed`, and
    their total variance.

    lats, lons : (N,) degrees. Returns ((N, D) float32 on the inputs' device, scalar tensor).
    At L = 10 the untrained network is a smooth, location-preserving random feature map
    (location retention R^2 0.997, about 30 effective dimensions) that downstream probes
    use well; contrastive training alone compresses it to the few directions the images
    vary in. Asking a linear head to recover these features from the trained embedding
    keeps that information without holding the weights in place (unlike the L2-SP
    anchor). For L <= `degree` the target network is the trained network's own
    initialisation (`train_contrastive` seeds the model the same way and builds its
    location encoder first); above, a smoother network than the model's own start.
    """
    from ..model.location_encoder import LocationEncoder

    with torch.random.fork_rng(devices=[]):   # the caller's random stream is left as it was
        torch.manual_seed(seed)
        network = LocationEncoder(dataclasses.replace(encoder, legendre_degree=min(encoder.legendre_degree, degree)))
    return _targets(network, lats, lons, chunk)


@torch.no_grad()
def model_features(name_or_path: str, lats: torch.Tensor, lons: torch.Tensor,
                   chunk: int = 16384) -> tuple[torch.Tensor, torch.Tensor]:
    """The retention targets of `ContrastiveConfig.retention_model`: the embeddings of
    every training location by that trained encoder (a shipped name or a model
    directory), and their total variance.

    lats, lons : (N,) degrees. Returns ((N, D') float32 on the inputs' device, scalar
    tensor), D' the target encoder's output dimension.
    """
    from ..model.encoder_files import load_encoder

    with torch.random.fork_rng(devices=[]):   # loading builds a network first: keep the caller's stream
        network = load_encoder(name_or_path)
    return _targets(network, lats, lons, chunk)


def _targets(network: torch.nn.Module, lats: torch.Tensor, lons: torch.Tensor,
             chunk: int) -> tuple[torch.Tensor, torch.Tensor]:
    """`network`'s float32 embeddings of (N,) lats, lons (degrees), in chunks, and their total variance."""
    network = network.to(lats.device).eval()
    targets = torch.cat([network(lats[i:i + chunk], lons[i:i + chunk]).float() for i in range(0, len(lats), chunk)])
    return targets, targets.var(dim=0).sum()


@torch.no_grad()
def evaluate(model: SatCLEModel, lats: torch.Tensor, lons: torch.Tensor, features: torch.Tensor,
             indices: torch.Tensor, batch_size: int) -> tuple[float, float, float]:
    """Validation with the plain (exported) location encoder, in equal-size in-batch groups.

    Returns (mean CLIP loss, location->image top-1 retrieval accuracy, chance level = mean 1 / batch).
    """
    model.eval()
    groups = torch.tensor_split(indices, max(1, len(indices) // batch_size))
    losses, hits, total = 0.0, 0.0, 0
    for batch in groups:
        batch = batch.to(lats.device)
        locations = model.location_embeddings(lats[batch], lons[batch])
        images = model.image_embeddings(features[batch])
        n = len(batch)
        losses += float(clip_loss(locations, images, model.logit_scale())) * n
        hits += retrieval_top1(locations, images) * n
        total += n
    # Each group of n contributes n samples at chance 1/n, so the mean chance is groups / total.
    return losses / total, hits / total, len(groups) / total


def lr_factor(config: ContrastiveConfig, step: int, steps_per_epoch: int) -> float:
    """Learning-rate multiplier at global `step`: 1 (constant) or linear warm-up then cosine to 0."""
    if config.schedule == "constant":
        return 1.0
    warmup = config.warmup_epochs * steps_per_epoch
    if step < warmup:
        return (step + 1) / warmup
    total = max(config.max_epochs * steps_per_epoch - warmup, 1)
    return 0.5 * (1.0 + math.cos(math.pi * min(step - warmup, total) / total))


def _parameter_groups(model: SatCLEModel, config: ContrastiveConfig) -> list[dict]:
    """AdamW groups: everything else, then the Siren's first layer with its own rate (and weight decay)."""
    first_layer = model.location_encoder.siren.layers[0]
    # A damped layer's trained weight is its parametrisation's original V, not the product W.
    weight = (first_layer.parametrizations.weight.original if hasattr(first_layer, "parametrizations")
              else first_layer.weight)
    first = [weight, first_layer.bias]
    rest = [p for p in model.parameters() if all(p is not q for q in first)]
    decay = config.weight_decay if config.first_layer_weight_decay is None else config.first_layer_weight_decay
    return [
        {"params": rest, "lr_scale": 1.0},
        {"params": [weight], "lr_scale": config.first_layer_lr_scale, "weight_decay": decay},
        # Biases are not decayed toward 0 more than the preset does elsewhere.
        {"params": [first_layer.bias], "lr_scale": config.first_layer_lr_scale},
    ]


def history_csv(history: list[dict]) -> str:
    """The per-epoch log as CSV text (columns LOG_FIELDS, then the retention and monitor fields present in the log)."""
    fields = list(LOG_FIELDS) + [k for k in (RETENTION_FIELD, *MONITOR_FIELDS) if any(k in row for row in history)]
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=fields)
    writer.writeheader()
    for row in history:
        writer.writerow({k: (f"{row[k]:.6g}" if isinstance(row.get(k), float) else row.get(k, "")) for k in fields})
    return buffer.getvalue()
