"""Probes on frozen embeddings: a small MLP and a linear model, several seeds at once.

The papers' protocol: frozen features -> MLP trained with Adam on MSE
(standardised regression targets) or cross-entropy, early stopping on the
validation split, metrics on the test split, mean and std over seeds.

The linear probe (``hidden_layers = 0``) is ridge regression solved in closed
form, the penalty chosen on the validation split from `ProbeConfig.ridge_alphas`;
for classes it regresses one-hot targets and predicts the arg-max (a ridge
classifier). Closed form needs no learning rate or epochs to tune, is exact,
and costs one eigen-decomposition per seed.

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

from ..core.errors import EvaluationConfigError
from .splits import Split
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
    # Linear probe only: penalties tried, as multiples of the number of training rows
    # (features are standardised, so X^T X / n is their correlation matrix).
    ridge_alphas: tuple[float, ...] = (1e-5, 1e-4, 1e-3, 1e-2, 1e-1, 1.0)


# Larger batches and a higher rate than the papers' (512, 1e-4, 500 epochs) reach the
# same validation loss in a fraction of the steps on CPU; early stopping decides the end.
MLP = ProbeConfig()
LINEAR = ProbeConfig(hidden_layers=0)


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
    target (train mean/std of that seed) and "r2" (1 - MSE / the test rows'
    variance) for regression, "accuracy" for
    classification; plus "epochs" trained (MLP) or "alpha", the chosen ridge
    penalty over the number of training rows (linear).
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

    if config.hidden_layers == 0:
        return _fit_ridge(x, t, kind, out_dim, config.ridge_alphas)
    params = _init_params(x["train"].shape[2], out_dim, config, seeds)
    epochs = _train(params, x, t, kind, config, seeds)
    with torch.no_grad():
        pred = _forward(params, x["test"])
    if kind == REGRESSION:
        err = pred[..., 0] - t["test"]
        mse = (err**2).mean(dim=1)
        # R^2 on the test rows: 1 - MSE / their variance (the target standardised by the train rows).
        metrics = {"mse": mse, "mae": err.abs().mean(dim=1),
                   "r2": 1.0 - mse / t["test"].var(dim=1, unbiased=False).clamp_min(1e-12)}
    else:
        metrics = {"accuracy": (pred.argmax(dim=2) == t["test"]).double().mean(dim=1)}
    result = {name: v.double().numpy() for name, v in metrics.items()}
    result["epochs"] = epochs.astype(np.float64)
    return result


def _fit_ridge(x: dict, t: dict, kind: str, out_dim: int, alphas: tuple[float, ...]) -> dict[str, np.ndarray]:
    """Closed-form ridge per seed on standardised features; alpha picked on the validation rows."""
    metrics: dict[str, list[float]] = {}
    for s in range(x["train"].shape[0]):
        xs = {p: x[p][s] for p in ("train", "val", "test")}
        if kind == REGRESSION:
            ys = {p: t[p][s].double()[:, None] for p in ("train", "val", "test")}
        else:
            ys = {p: torch.nn.functional.one_hot(t[p][s], out_dim).double() for p in ("train", "val", "test")}
        best = None
        for alpha, weights, offset in ridge_path(xs["train"], ys["train"], alphas):
            score = _ridge_score(xs["val"].double() @ weights + offset, ys["val"], t["val"][s], kind)
            if best is None or score < best[0]:
                best = (score, alpha, weights, offset)
        _, alpha, weights, offset = best
        pred = xs["test"].double() @ weights + offset
        if kind == REGRESSION:
            err = pred[:, 0] - ys["test"][:, 0]
            mse = float((err**2).mean())
            values = {"mse": mse, "mae": float(err.abs().mean()),
                      "r2": 1.0 - mse / max(float(ys["test"][:, 0].var(unbiased=False)), 1e-12)}
        else:
            values = {"accuracy": float((pred.argmax(dim=1) == t["test"][s]).double().mean())}
        values["alpha"] = alpha
        for name, value in values.items():
            metrics.setdefault(name, []).append(value)
    return {name: np.asarray(v, dtype=np.float64) for name, v in metrics.items()}


def ridge_path(x: torch.Tensor, y: torch.Tensor, alphas) -> list[tuple[float, torch.Tensor, torch.Tensor]]:
    """Ridge fits of y (n, K) on x (n, D) for each penalty alpha * n: [(alpha, weights (D, K), offset (1, K))].

    x must have zero column means (standardised features); the offset is y's mean,
    the intercept. One eigen-decomposition of X^T X serves every alpha: the Gram
    matrix is formed in x's dtype (float32 halves the costly n x D^2 product), the rest
    in float64.
    """
    y = y.double()
    offset = y.mean(dim=0, keepdim=True)
    n = x.shape[0]
    eigenvalues, vectors = torch.linalg.eigh((x.T @ x).double())
    projected = vectors.T @ (x.double().T @ (y - offset))
    return [(alpha, vectors @ (projected / (eigenvalues.clamp(min=0.0) + alpha * n)[:, None]), offset)
            for alpha in alphas]


def _ridge_score(pred: torch.Tensor, target: torch.Tensor, labels: torch.Tensor, kind: str) -> float:
    """Validation score to minimise: MSE (regression) or error rate (classification)."""
    if kind == REGRESSION:
        return float(((pred - target) ** 2).mean())
    return float((pred.argmax(dim=1) != labels).double().mean())


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
