"""Real orthonormal spherical harmonics of latitude/longitude (degrees).

Basis: Y_{l,m} for l = 0..L-1 and m = -l..l, flattened in that order (L**2
features), normalised so that the integral of Y_i * Y_j over the unit sphere is
delta_ij (scipy's normalisation). For m > 0 the feature is sqrt(2) * N * P_l^m *
cos(m * lon) and for m < 0 sqrt(2) * N * P_l^|m| * sin(|m| * lon), with the
Condon-Shortley phase cancelled, which is the usual "real form" of scipy's
complex `sph_harm_y(l, m, colatitude, longitude)`.

Both implementations here use the same three-term recurrence on fully
normalised associated Legendre functions (no closed-form polynomials, no
factorials), so they stay accurate to high degree:

* `spherical_harmonics` - numpy in, numpy out, compiled (Cython + OpenMP).
* `spherical_harmonics_torch` - differentiable, for training, float32/float64,
  on any device.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np
import torch
from numpy.typing import ArrayLike

from .._ext.spherical_harmonics import fill_real_sh
from ..core.coordinates import as_latlon
from ..core.errors import InvalidArgumentError
from ..core.threads import check_num_threads

_Y00 = 0.28209479177387814  # sqrt(1 / (4 pi))


@lru_cache(maxsize=16)
def recurrence_coefficients(degree: int) -> tuple[np.ndarray, np.ndarray]:
    """Coefficients of P~_l^m = a[l,m] (x P~_{l-1}^m - b[l,m] P~_{l-2}^m).

    Returns two read-only float64 arrays of shape (degree, degree); entries with
    l < m + 2 are unused and zero.
    """
    _check_degree(degree)
    l = np.arange(degree, dtype=np.float64)[:, None]
    m = np.arange(degree, dtype=np.float64)[None, :]
    valid = l >= m + 2
    with np.errstate(divide="ignore", invalid="ignore"):
        a = np.sqrt((4 * l**2 - 1) / (l**2 - m**2))
        b = np.sqrt(((l - 1) ** 2 - m**2) / (4 * (l - 1) ** 2 - 1))
    a = np.ascontiguousarray(np.where(valid, a, 0.0))
    b = np.ascontiguousarray(np.where(valid, b, 0.0))
    a.flags.writeable = False
    b.flags.writeable = False
    return a, b


def spherical_harmonics(
    lats: ArrayLike,
    lons: ArrayLike,
    degree: int,
    *,
    dtype: np.dtype | type = np.float64,
    num_threads: int = 0,
) -> np.ndarray:
    """Evaluate the real SH basis at points given in degrees (compiled, parallel).

    Parameters
    ----------
    lats, lons : array-like, shape (N,)
        Latitude in [-90, 90] and longitude (any value, wrapped), in degrees.
    degree : int
        L, the number of Legendre degrees (l = 0..L-1); yields L**2 features.
    dtype : float64 (default) or float32
        Output dtype. Computation is always float64.
    num_threads : int
        OpenMP threads: 0 or -1 use all cores, else 1..`satcle.core.threads.MAX_THREADS`
        (anything else raises InvalidArgumentError before the kernel runs).

    Returns
    -------
    np.ndarray, shape (N, L**2), `dtype`
    """
    _check_degree(degree)
    dtype = np.dtype(dtype)
    if dtype not in (np.float32, np.float64):
        raise InvalidArgumentError(f"dtype must be float32 or float64, got {dtype}")
    num_threads = check_num_threads(num_threads)
    lat, lon = as_latlon(lats, lons)
    out = np.empty((lat.size, degree * degree), dtype=dtype)
    a, b = recurrence_coefficients(degree)
    fill_real_sh(lat, lon, degree, a, b, out, num_threads)
    return out


def spherical_harmonics_torch(lats: torch.Tensor, lons: torch.Tensor, degree: int) -> torch.Tensor:
    """Differentiable real SH basis, the torch twin of `spherical_harmonics`.

    Parameters
    ----------
    lats, lons : torch.Tensor, shape (N,), float32 or float64
        Degrees, assumed validated (finite, |lat| <= 90). Gradients flow to both.
    degree : int
        L; yields L**2 features.

    Returns
    -------
    torch.Tensor, shape (N, L**2), dtype and device of `lats`.
    """
    _check_degree(degree)
    lat = torch.deg2rad(lats)
    lon = torch.deg2rad(lons)
    x = torch.sin(lat)                     # cos(colatitude)
    s = torch.cos(lat).clamp_min(0.0)      # sin(colatitude)
    a, b = recurrence_coefficients(degree)
    cos_m = [torch.cos(m * lon) for m in range(degree)]
    sin_m = [torch.sin(m * lon) for m in range(degree)]
    sqrt2 = 2.0**0.5

    columns: list[torch.Tensor | None] = [None] * (degree * degree)
    pmm = torch.full_like(x, _Y00)
    for m in range(degree):
        if m > 0:
            pmm = pmm * (((2 * m + 1) / (2 * m)) ** 0.5) * s
        p_prev, p = None, pmm
        for l in range(m, degree):
            if l == m + 1:
                p_prev, p = p, (2 * m + 3) ** 0.5 * x * p
            elif l >= m + 2:
                p_prev, p = p, float(a[l, m]) * (x * p - float(b[l, m]) * p_prev)
            centre = l * l + l
            if m == 0:
                columns[centre] = p
            else:
                columns[centre + m] = sqrt2 * p * cos_m[m]
                columns[centre - m] = sqrt2 * p * sin_m[m]
    return torch.stack(columns, dim=-1)


def _check_degree(degree: int) -> None:
    if not isinstance(degree, (int, np.integer)) or isinstance(degree, bool) or degree < 1:
        raise InvalidArgumentError(f"degree must be a positive integer, got {degree!r}")
