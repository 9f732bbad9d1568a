"""Train / validation / test splits of a task's rows, one per seed.

* `random_splits`: the papers' random 7:1:2 split, which rewards interpolating
  between nearby training points as much as generalising.
* `spatial_splits`: whole blocks (H3 resolution-1 cells, ~600,000 km^2 each,
  about 800 km across) go to one set, so a test point's neighbours are never in
  the training set; what it measures is prediction into unseen regions.

`fit_probe` trains every seed as one batched model, so all splits of one call
have equal sizes: the spatial split trims each set to its smallest size over the
seeds (a few random rows; never a row moved between sets).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..core.errors import EvaluationConfigError

RANDOM = "random"
SPATIAL = "spatial"
SPLITS = (RANDOM, SPATIAL)
#: H3 resolution of the spatial blocks.
BLOCK_RESOLUTION = 1
FRACTIONS = (0.7, 0.1, 0.2)


@dataclass(frozen=True)
class Split:
    """Row indices (int64) of one seed's train, validation and test sets."""

    train: np.ndarray
    val: np.ndarray
    test: np.ndarray


def random_splits(n: int, seeds: list[int] | tuple[int, ...]) -> list[Split]:
    """One random 7:1:2 train/val/test split of n rows per seed."""
    n_train, n_val = int(round(FRACTIONS[0] * n)), int(round(FRACTIONS[1] * n))
    splits = []
    for seed in seeds:
        order = np.random.default_rng(seed).permutation(n)
        splits.append(Split(order[:n_train], order[n_train : n_train + n_val], order[n_train + n_val :]))
    return splits


def spatial_blocks(lats: np.ndarray, lons: np.ndarray, resolution: int = BLOCK_RESOLUTION) -> np.ndarray:
    """(N,) int64 block id per point (degrees): its H3 cell at `resolution`."""
    import h3

    return np.fromiter(
        (h3.str_to_int(h3.latlng_to_cell(float(a), float(b), resolution)) for a, b in zip(lats, lons)),
        dtype=np.uint64, count=len(lats),
    ).astype(np.int64)


def spatial_splits(blocks: np.ndarray, seeds: list[int] | tuple[int, ...]) -> list[Split]:
    """One block split per seed: blocks shuffled, then filled into test, validation and train.

    blocks: (N,) block id of each row (see `spatial_blocks`). Test takes whole
    blocks until it holds >= 20 % of the rows, validation until >= 10 %, train
    the rest; then every set is trimmed at random to its smallest size over the
    seeds. No block ever lies in two sets of one seed.
    """
    blocks = np.asarray(blocks)
    ids, inverse = np.unique(blocks, return_inverse=True)
    if ids.size < 10:
        raise EvaluationConfigError(f"a spatial split needs at least 10 blocks, the points fall in {ids.size}")
    n = blocks.size
    raw = []
    for seed in seeds:
        rng = np.random.default_rng(seed)
        order = rng.permutation(ids.size)
        counts = np.bincount(inverse, minlength=ids.size)[order]
        filled = np.cumsum(counts)
        n_test = int(np.searchsorted(filled, FRACTIONS[2] * n)) + 1
        n_val = int(np.searchsorted(filled, (FRACTIONS[2] + FRACTIONS[1]) * n)) + 1
        assignment = np.empty(ids.size, dtype=np.int8)  # 0 train, 1 val, 2 test, per block
        assignment[order[:n_test]] = 2
        assignment[order[n_test:n_val]] = 1
        assignment[order[n_val:]] = 0
        part = assignment[inverse]
        raw.append([rng.permutation(np.flatnonzero(part == k)) for k in (0, 1, 2)])
    sizes = [min(len(r[k]) for r in raw) for k in (0, 1, 2)]
    if min(sizes) == 0:
        raise EvaluationConfigError("a spatial split left a set empty: too few points or blocks")
    return [Split(*(np.sort(r[k][: sizes[k]]) for k in (0, 1, 2))) for r in raw]


def make_splits(kind: str, lats: np.ndarray, lons: np.ndarray, seeds: list[int] | tuple[int, ...]) -> list[Split]:
    """The splits of `kind` ("random" or "spatial") for points (degrees), one per seed."""
    if kind == RANDOM:
        return random_splits(len(lats), seeds)
    if kind == SPATIAL:
        return spatial_splits(spatial_blocks(lats, lons), seeds)
    raise EvaluationConfigError(f"split must be one of {', '.join(SPLITS)}, got {kind!r}")
