"""Label-free diagnostics of an embedding: does it still encode where it is, how rich is it, how smooth.

* `location_retention`: held-out R^2 of a ridge from the embedding to the
  location's 3-D unit vector. An encoder that scrambles location (a high-frequency
  code) scores far below 1; Siren(SH) at initialisation scores ~0.99.
* `participation_ratio`: (sum l)^2 / sum l^2 of the PCA eigenvalues l, the
  effective number of dimensions the embedding uses (1 .. D).
* `smoothness`: mean embedding distance between points displaced by 10 km and by
  1,000 km, each over the mean distance between random pairs of points.

All take arrays and return plain floats; nothing here knows about tasks or probes.
"""

from __future__ import annotations

from typing import Callable

import numpy as np

from ..core.coordinates import wrap_longitude
from ..geo import EARTH_RADIUS_KM, unit_vectors


def location_retention(features: np.ndarray, lats: np.ndarray, lons: np.ndarray, *, seed: int = 0,
                       alpha: float = 1e-3) -> float:
    """Held-out R^2 (mean over x, y, z) of a ridge from `features` (N, D) to the unit vector of (lats, lons).

    Features are standardised on a random 70 % of the rows, the ridge (penalty
    `alpha` times the number of training rows) is fitted there and scored on the
    other 30 %.
    """
    import torch

    from .probe import ridge_path

    x = np.asarray(features, dtype=np.float64)
    target = unit_vectors(np.asarray(lats, dtype=np.float64), np.asarray(lons, dtype=np.float64))
    order = np.random.default_rng(seed).permutation(len(x))
    cut = int(0.7 * len(x))
    train, test = order[:cut], order[cut:]
    mean, std = x[train].mean(axis=0), x[train].std(axis=0)
    std[std < 1e-12] = 1.0
    x = torch.from_numpy((x - mean) / std)
    [(_, weights, offset)] = ridge_path(x[train], torch.from_numpy(target[train]), (alpha,))
    residual = target[test] - (x[test] @ weights + offset).numpy()
    total = target[test] - target[test].mean(axis=0)
    return float(np.mean(1.0 - (residual**2).sum(axis=0) / (total**2).sum(axis=0)))


def participation_ratio(features: np.ndarray) -> float:
    """(sum of PCA eigenvalues)^2 / sum of their squares for `features` (N, D): 1 .. D."""
    x = np.asarray(features, dtype=np.float64)
    x = x - x.mean(axis=0)
    eigenvalues = np.clip(np.linalg.eigvalsh(x.T @ x / max(len(x) - 1, 1)), 0.0, None)
    square_sum = float((eigenvalues**2).sum())
    return float(eigenvalues.sum() ** 2 / square_sum) if square_sum > 0 else 0.0


def smoothness(encode: Callable[[np.ndarray, np.ndarray], np.ndarray], lats: np.ndarray, lons: np.ndarray,
               *, seed: int = 0) -> dict[str, float]:
    """Embedding distance at 10 km and 1,000 km, relative to random pairs of the given points.

    Each point is moved by d km in a random direction along a great circle; the
    mean Euclidean distance between the embeddings of the point and its moved
    copy is divided by the mean distance between embeddings of random pairs.
    Returns {"10km": ..., "1000km": ...}: near 0 = constant at that scale,
    near 1 = as different as two random places.
    """
    rng = np.random.default_rng(seed)
    lats = np.asarray(lats, dtype=np.float64)
    lons = np.asarray(lons, dtype=np.float64)
    base = np.asarray(encode(lats, lons), dtype=np.float64)
    partner = rng.permutation(len(lats))
    reference = float(np.linalg.norm(base - base[partner], axis=1).mean())
    bearing = rng.uniform(0.0, 2 * np.pi, len(lats))
    out = {}
    for km in (10.0, 1000.0):
        moved_lats, moved_lons = destination(lats, lons, bearing, km)
        moved = np.asarray(encode(moved_lats, moved_lons), dtype=np.float64)
        out[f"{km:g}km"] = float(np.linalg.norm(base - moved, axis=1).mean() / max(reference, 1e-12))
    return out


def destination(lats: np.ndarray, lons: np.ndarray, bearing: np.ndarray, km: float) -> tuple[np.ndarray, np.ndarray]:
    """Points reached from (lats, lons) (degrees) after `km` along great circles of `bearing` (radians)."""
    phi, lam = np.radians(lats), np.radians(lons)
    delta = km / EARTH_RADIUS_KM
    sin_phi2 = np.sin(phi) * np.cos(delta) + np.cos(phi) * np.sin(delta) * np.cos(bearing)
    phi2 = np.arcsin(np.clip(sin_phi2, -1.0, 1.0))
    lam2 = lam + np.arctan2(np.sin(bearing) * np.sin(delta) * np.cos(phi),
                            np.cos(delta) - np.sin(phi) * sin_phi2)
    return np.degrees(phi2), wrap_longitude(np.degrees(lam2))
