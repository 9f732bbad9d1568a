"""Validation of coordinates wherever they enter the library.

Every public function that takes latitudes and longitudes calls `as_latlon`
first, so the kernels behind it can assume finite, in-range, contiguous float64.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike

from .errors import CoordinateError


def as_latlon(lats: ArrayLike, lons: ArrayLike) -> tuple[np.ndarray, np.ndarray]:
    """Validate coordinates and return them as contiguous float64 arrays.

    Parameters
    ----------
    lats, lons : array-like, shape (N,)
        Latitudes and longitudes in **degrees** (lists, integer or float arrays).

    Returns
    -------
    lats, lons : np.ndarray, shape (N,), float64
        Latitudes unchanged; longitudes wrapped into [-180, 180).

    Raises
    ------
    CoordinateError
        If an input is not 1-D numeric, the lengths differ, a value is NaN or
        infinite, or a latitude lies outside [-90, 90] (latitudes are never
        wrapped: a latitude of 95 is a bug upstream, not a place).
    """
    lat = _as_1d_float64(lats, "lats")
    lon = _as_1d_float64(lons, "lons")
    if lat.shape != lon.shape:
        raise CoordinateError(
            f"lats and lons must have the same length, got {lat.size} and {lon.size}"
        )
    for name, values in (("lats", lat), ("lons", lon)):
        finite = np.isfinite(values)
        if not finite.all():
            i = int(np.argmin(finite))
            raise CoordinateError(f"{name}[{i}] is {values[i]}; coordinates must be finite")
    outside = np.abs(lat) > 90.0
    if outside.any():
        i = int(np.argmax(outside))
        raise CoordinateError(f"lats[{i}] = {lat[i]} is outside [-90, 90] degrees")
    return lat, wrap_longitude(lon)


def wrap_longitude(lons: np.ndarray) -> np.ndarray:
    """Map longitudes in degrees (float64, any finite value) into [-180, 180)."""
    inside = (lons >= -180.0) & (lons < 180.0)
    if inside.all():
        return lons
    return np.mod(lons + 180.0, 360.0) - 180.0


def _as_1d_float64(values: ArrayLike, name: str) -> np.ndarray:
    try:
        arr = np.asarray(values)
    except (TypeError, ValueError) as exc:  # ragged nested lists
        raise CoordinateError(f"{name} could not be read as an array: {exc}") from None
    if arr.ndim != 1:
        raise CoordinateError(
            f"{name} must be a 1-D array of degrees, got shape {arr.shape}"
        )
    if arr.dtype == np.bool_ or not (
        np.issubdtype(arr.dtype, np.integer) or np.issubdtype(arr.dtype, np.floating)
    ):
        raise CoordinateError(f"{name} must be numeric (degrees), got dtype {arr.dtype}")
    return np.ascontiguousarray(arr, dtype=np.float64)
