"""Arithmetic of embedding vectors shared by every layer that shows them: unit rows,
cosine similarity, and the first three principal components as RGB colours.

`satcle plot` (``evaluation.maps``) and the map server (``satcle-grid serve``)
colour embeddings with the same `PcaColours`: axes fitted on a sample, each
component's sign fixed (so colours are reproducible), each stretched between its
`PCA_PERCENTILES`. Pure numpy: this module imports nothing else of satcle.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

# Each principal component is stretched between these percentiles of the fitted sample,
# so that a few outliers do not wash out the colours.
PCA_PERCENTILES = (1.0, 99.0)


def _float_array(values) -> np.ndarray:
    """`values` as a float32 or float64 array (float32 kept, anything else float64)."""
    values = np.asarray(values)
    return values if values.dtype in (np.float32, np.float64) else values.astype(np.float64)


def unit_rows(values) -> np.ndarray:
    """(N, D) -> (N, D) rows scaled to norm 1 (a new array, float32 kept, else float64);
    rows of norm 0 or not finite become 0, so their cosine to anything is 0."""
    values = np.array(_float_array(values), copy=True)
    norms = np.sqrt(np.einsum("ij,ij->i", values, values))
    bad = ~(np.isfinite(norms) & (norms > 0))
    norms[bad] = 1.0
    values /= norms[:, None]
    values[bad] = 0.0
    return values


def cosine_similarity(embeddings, reference) -> np.ndarray:
    """(N, D) embeddings, (D,) reference -> (N,) cosine similarity in [-1, 1], in
    the embeddings' float dtype (float32 kept, else float64); 0 where either norm is 0."""
    x = _float_array(embeddings)
    r = np.asarray(reference, dtype=x.dtype)
    norms = np.sqrt(np.einsum("ij,ij->i", x, x)) * np.sqrt(r @ r)
    # einsum, not BLAS: a matrix-vector product gains nothing from BLAS threads, which
    # spin against every other busy process on a shared machine.
    return np.einsum("ij,j->i", x, r) / np.where(norms > 0, norms, 1.0).astype(x.dtype)


@dataclass(frozen=True)
class PcaColours:
    """The first three principal axes of a sample of embeddings, and the colour scale
    they map to RGB.

    mean: (D,) float64; components: (3, D) float64, unit rows, each one's sign
    chosen so that its entries sum to >= 0; lo, hi: (3,) float64, the
    `PCA_PERCENTILES` of the sample's components; explained: (3,) float64, the
    share of the sample's variance along each axis. Build it with `fit`.
    """

    mean: np.ndarray
    components: np.ndarray
    lo: np.ndarray
    hi: np.ndarray
    explained: np.ndarray

    @classmethod
    def fit(cls, sample) -> PcaColours:
        """The axes of `sample` (N, D), N >= 1, finite."""
        x = np.asarray(sample, dtype=np.float64)
        mean = x.mean(axis=0)
        centred = x - mean
        # Principal axes from the D x D covariance: the same as an SVD of the sample, far cheaper.
        variance, vectors = np.linalg.eigh(centred.T @ centred)
        order = np.argsort(variance)[::-1]
        variance = np.clip(variance[order], 0.0, None)
        components = vectors[:, order[:3]].T
        signs = np.sign(components.sum(axis=1, keepdims=True))
        components = components * np.where(signs == 0, 1.0, signs)
        projected = centred @ components.T
        lo, hi = (np.percentile(projected, p, axis=0) for p in PCA_PERCENTILES)
        return cls(mean=mean, components=components, lo=lo, hi=hi,
                   explained=variance[:3] / max(float(variance.sum()), 1e-300))

    def project(self, embeddings) -> np.ndarray:
        """(N, D) -> (N, 3): coordinates along the three axes, in the embeddings' float
        dtype (float32 kept, else float64)."""
        x = _float_array(embeddings)
        return (x - self.mean.astype(x.dtype)) @ self.components.T.astype(x.dtype)

    def rgb(self, embeddings) -> np.ndarray:
        """(N, D) -> (N, 3) float64 in [0, 1]: each component stretched between lo and hi
        (NaN rows: 0.5, mid-grey)."""
        return self.scale(self.project(embeddings))

    def scale(self, projected: np.ndarray) -> np.ndarray:
        """(N, 3) projections (`project`) -> (N, 3) float64 colours in [0, 1]."""
        span = np.where(self.hi > self.lo, self.hi - self.lo, 1.0)
        return np.nan_to_num(np.clip((projected - self.lo) / span, 0.0, 1.0), nan=0.5)


def pca_rgb(embeddings) -> np.ndarray:
    """(N, D) embeddings -> (N, 3) float64 in [0, 1]: `PcaColours` fitted on them, applied to them."""
    return PcaColours.fit(embeddings).rgb(embeddings)
