"""Probes on frozen embeddings: a small MLP and a linear model, several seeds at once.

The papers' protocol: frozen features -> MLP trained with Adam on MSE
(standardised regression targets) or cross-entropy, early stopping on the
validation split, metrics on the test split, mean and std over seeds.

All seeds train together as one batched model: every weight carries a leading
seed axis and layers are batched matrix products, so S seeds cost one pass of
S-times-wider arithmetic instead of S Python loops. Each seed has its own split,
initialisation and batch order; Adam's state is per element, so the seeds stay
independent (their losses are summed, never mixed).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from ..errors import EvaluationConfigError
from .tasks import CLASSIFICATION, REGRESSION


@dataclass(frozen=True)
class ProbeConfig:
    """Probe hyper-parameters. hidden_layers = 0 is the linear probe."""

    hidden_layers: int = 2
    hidden_dim: int = 64
    learning_rate: float = 2e-3
    weight_decay: float = 1e-4
    batch_size: int = 1024
    max_epochs: int = 100
    patience: int = 5


# Larger batches and a higher rate than the papers' (512, 1e-4, 500 epochs) reach the
# same validation loss in a fraction of the steps on CPU; early stopping decides the end.
MLP = ProbeConfig()
LINEAR = ProbeConfig(hidden_layers=0, learning_rate=1e-2, weight_decay=0.0, batch_size=256)


@dataclass(frozen=True)
class Split:
    """Row indices (int64) of one seed's train, validation and test sets."""

    train: np.ndarray
    val: np.ndarray
    test: np.ndarray


def random_splits(n: int, seeds: list[int] | tuple[int, ...]) -> list[Split]:
    """One random 7:1:2 train/val/test split of n rows per seed."""
    n_train, n_val = int(round(0.7 * n)), int(round(0.1 * n))
    splits = []
    for seed in seeds:
        order = np.random.default_rng(seed).permutation(n)
        splits.append(Split(order[:n_train], order[n_train : n_train + n_val], order[n_train + n_val :]))
    return splits


def fit_probe(
    features: np.ndarray,
    y: np.ndarray,
    kind: str,
    splits: list[Split],
    seeds: list[int] | tuple[int, ...],
    config: ProbeConfig = ProbeConfig(),
    n_classes: int | None = None,
) -> dict[str, np.ndarray]:
    """Train one probe per split on frozen features and score it on that split's test rows.

    Parameters
    ----------
    features : (N, D) float array, frozen embeddings.
    y : (N,) float targets (regression) or int class indices (classification).
    kind : "regression" or "classification".
    splits, seeds : one `Split` and one integer seed (initialisation, batch order)
        per run; every split must have the same train/val/test sizes.
    n_classes : number of classes (default: y.max() + 1).

    Returns
    -------
    dict of metric name -> (S,) float64: "mse" and "mae" of the standardised
    target (train mean/std of that seed) for regression, "accuracy" for
    classification; plus "epochs" trained.
    """
    features = np.asarray(features)
    if features.ndim != 2 or features.shape[0] != len(y):
        raise EvaluationConfigError(f"features must be (N, D) with N = len(y) = {len(y)}, got {features.shape}")
    if kind not in (REGRESSION, CLASSIFICATION):
        raise EvaluationConfigError(f"kind must be {REGRESSION!r} or {CLASSIFICATION!r}, got {kind!r}")
    if len(splits) != len(seeds) or not splits:
        raise EvaluationConfigError("give one seed per split, and at least one split")
    sizes = {(s.train.size, s.val.size, s.test.size) for s in splits}
    if len(sizes) != 1 or min(next(iter(sizes))) == 0:
        raise EvaluationConfigError(f"splits must be non-empty and of equal sizes, got {sorted(sizes)}")

    x = {part: _stack_standardised(features, splits, part) for part in ("train", "val", "test")}
    if kind == REGRESSION:
        y_all = np.asarray(y, dtype=np.float64)
        mean = np.stack([y_all[s.train].mean() for s in splits])[:, None]
        std = np.stack([max(y_all[s.train].std(), 1e-12) for s in splits])[:, None]
        t = {p: torch.from_numpy(((np.stack([y_all[getattr(s, p)] for s in splits]) - mean) / std).astype(np.float32))
             for p in ("train", "val", "test")}
        out_dim = 1
    else:
        y_all = np.asarray(y, dtype=np.int64)
        t = {p: torch.from_numpy(np.stack([y_all[getattr(s, p)] for s in splits])) for p in ("train", "val", "test")}
        out_dim = int(n_classes if n_classes is not None else y_all.max() + 1)

    params = _init_params(x["train"].shape[2], out_dim, config, seeds)
    epochs = _train(params, x, t, kind, config, seeds)
    with torch.no_grad():
        pred = _forward(params, x["test"])
    if kind == REGRESSION:
        err = pred[..., 0] - t["test"]
        metrics = {"mse": (err**2).mean(dim=1), "mae": err.abs().mean(dim=1)}
    else:
        metrics = {"accuracy": (pred.argmax(dim=2) == t["test"]).double().mean(dim=1)}
    result = {name: v.double().numpy() for name, v in metrics.items()}
    result["epochs"] = epochs.astype(np.float64)
    return result


def _stack_standardised(features: np.ndarray, splits: list[Split], part: str) -> torch.Tensor:
    """(S, n_part, D) float32, each seed standardised by the mean/std of its own train rows."""
    out = []
    for split in splits:
        train = features[split.train].astype(np.float64)
        mean, std = train.mean(axis=0), train.std(axis=0)
        std[std < 1e-12] = 1.0  # constant features (e.g. SH degree 0) stay zero
        out.append(((features[getattr(split, part)] - mean) / std).astype(np.float32))
    return torch.from_numpy(np.stack(out))


def _init_params(in_dim: int, out_dim: int, config: ProbeConfig, seeds) -> list[torch.Tensor]:
    """[W0, b0, W1, b1, ...] with a leading seed axis; torch.nn.Linear's uniform(+-1/sqrt(fan_in)) init."""
    dims = [in_dim] + [config.hidden_dim] * config.hidden_layers + [out_dim]
    params = []
    for fan_in, fan_out in zip(dims[:-1], dims[1:]):
        bound = 1.0 / np.sqrt(fan_in)
        w, b = [], []
        for seed in seeds:
            gen = torch.Generator().manual_seed(int(seed) * 1_000_003 + fan_in * 31 + fan_out)
            w.append((torch.rand(fan_in, fan_out, generator=gen) * 2 - 1) * bound)
            b.append((torch.rand(1, fan_out, generator=gen) * 2 - 1) * bound)
        params += [torch.stack(w).requires_grad_(), torch.stack(b).requires_grad_()]
    return params


def _forward(params: list[torch.Tensor], x: torch.Tensor) -> torch.Tensor:
    """x (S, n, D) -> (S, n, out)."""
    h = x
    for i in range(0, len(params), 2):
        h = torch.baddbmm(params[i + 1], h, params[i])
        if i + 2 < len(params):
            h = torch.relu(h)
    return h


def _loss_per_seed(pred: torch.Tensor, target: torch.Tensor, kind: str) -> torch.Tensor:
    """(S,) mean loss of each seed."""
    if kind == REGRESSION:
        return ((pred[..., 0] - target) ** 2).mean(dim=1)
    s, n, c = pred.shape
    return torch.nn.functional.cross_entropy(pred.reshape(s * n, c), target.reshape(-1), reduction="none").view(s, n).mean(dim=1)


def _train(params, x, t, kind: str, config: ProbeConfig, seeds) -> np.ndarray:
    """Adam with early stopping per seed; leaves each seed's best-validation weights in `params`."""
    n_seeds, n_train = x["train"].shape[:2]
    optimiser = torch.optim.Adam(params, lr=config.learning_rate, weight_decay=config.weight_decay)
    best = [p.detach().clone() for p in params]
    best_loss = torch.full((n_seeds,), float("inf"))
    since_best = torch.zeros(n_seeds, dtype=torch.int64)
    epochs = torch.zeros(n_seeds, dtype=torch.int64)
    # One generator per seed: a seed's batch order does not depend on which seeds train beside it.
    gens = [torch.Generator().manual_seed(int(seed) + 7) for seed in seeds]
    rows = torch.arange(n_seeds)[:, None]
    batch = min(config.batch_size, n_train)
    for _ in range(config.max_epochs):
        order = torch.stack([torch.randperm(n_train, generator=g) for g in gens])
        for start in range(0, n_train - batch + 1, batch):  # drops the ragged tail batch
            idx = order[:, start : start + batch]
            loss = _loss_per_seed(_forward(params, x["train"][rows, idx]), t["train"][rows, idx], kind).sum()
            optimiser.zero_grad(set_to_none=True)
            loss.backward()
            optimiser.step()
        with torch.no_grad():
            val = _loss_per_seed(_forward(params, x["val"]), t["val"], kind)
            active = since_best < config.patience
            epochs += active.long()
            improved = (val < best_loss) & active
            best_loss = torch.where(improved, val, best_loss)
            since_best = torch.where(improved, torch.zeros_like(since_best), since_best + 1)
            for keep, p in zip(best, params):
                keep[improved] = p[improved]
        if not (since_best < config.patience).any():
            break
    with torch.no_grad():
        for keep, p in zip(best, params):
            p.copy_(keep)
    return epochs.numpy()
