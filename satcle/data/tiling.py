"""The common equal-scale tile sampler every image source is cut with.

A global plate-carree raster stretches east-west by 1 / cos(lat): a raw pixel
window at 70 deg covers three times the ground of one at the equator. Each tile
is therefore resampled on an azimuthal-equidistant grid around its centre
(equal ground spacing in every direction, exact at the poles), bilinearly for
continuous bands and by nearest neighbour for class rasters, so every source
of a stack is cut on exactly the same ground grid.
"""

from __future__ import annotations

import numpy as np

from ..core.errors import InvalidArgumentError
from ..geo import EARTH_RADIUS_KM


def tile_coordinates(lats: np.ndarray, lons: np.ndarray, size_px: int,
                     km_per_px: float) -> tuple[np.ndarray, np.ndarray]:
    """Latitude and longitude (radians) of every pixel of the tiles centred on (lats, lons).

    lats, lons : (N,) degrees. Returns two (N, size_px, size_px) arrays; row 0 of a
    tile is its northern edge, column 0 its western one, pixels `km_per_px` apart.
    """
    lat0 = np.radians(np.asarray(lats, dtype=np.float64))[:, None, None]
    lon0 = np.radians(np.asarray(lons, dtype=np.float64))[:, None, None]
    offsets = (np.arange(size_px) - (size_px - 1) / 2) * km_per_px
    east = offsets[None, None, :]
    north = -offsets[None, :, None]
    # Inverse azimuthal-equidistant projection: ground offsets (km) -> lat/lon.
    rho = np.hypot(east, north)
    c = rho / EARTH_RADIUS_KM
    with np.errstate(invalid="ignore", divide="ignore"):
        ratio = np.where(rho > 0, north * np.sin(c) / np.where(rho > 0, rho, 1.0), 0.0)
    lat = np.arcsin(np.clip(np.cos(c) * np.sin(lat0) + ratio * np.cos(lat0), -1.0, 1.0))
    lon = lon0 + np.arctan2(
        east * np.sin(c), rho * np.cos(lat0) * np.cos(c) - north * np.sin(lat0) * np.sin(c)
    )
    return lat, lon


def cut_tiles(
    mosaic: np.ndarray, lats: np.ndarray, lons: np.ndarray, size_px: int, km_per_px: float,
    *, mode: str = "bilinear",
) -> np.ndarray:
    """Resample equal-scale tiles centred on (lats, lons) from a plate-carree mosaic.

    Parameters
    ----------
    mosaic : (H, W, C) uint8, global plate carree (row 0 at 90 N, column 0 at 180 W)
    lats, lons : (N,) degrees, tile centres
    size_px : tile side in pixels
    km_per_px : ground spacing of the tile grid, km (same east-west and north-south)
    mode : "bilinear" (continuous bands) or "nearest" (class indices: never blended)

    Returns
    -------
    (N, size_px, size_px, C) uint8; row 0 is the northern edge, column 0 the western.
    """
    if mode not in ("bilinear", "nearest"):
        raise InvalidArgumentError(f"mode must be 'bilinear' or 'nearest', got {mode!r}")
    lat, lon = tile_coordinates(lats, lons, size_px, km_per_px)
    height, width = mosaic.shape[:2]
    rows = (np.pi / 2 - lat) / np.pi * height - 0.5
    cols = ((lon + np.pi) / (2 * np.pi) * width - 0.5) % width
    if mode == "nearest":
        r = np.clip(np.rint(rows).astype(np.int64), 0, height - 1)
        return mosaic[r, np.rint(cols).astype(np.int64) % width]
    return _bilinear(mosaic, rows, cols)


def _bilinear(mosaic: np.ndarray, rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
    """Sample (H, W, C) at fractional (rows, cols); columns wrap (longitude), rows clamp."""
    height, width = mosaic.shape[:2]
    rows = np.clip(rows, 0.0, height - 1.0)
    r0 = np.floor(rows).astype(np.int64)
    c0 = np.floor(cols).astype(np.int64)
    fr = (rows - r0)[..., None]
    fc = (cols - c0)[..., None]
    r1 = np.minimum(r0 + 1, height - 1)
    c0 %= width
    c1 = (c0 + 1) % width

    # Gather first, convert after: converting the whole mosaic would cost 175 MB per call.
    def at(r, c):
        return mosaic[r, c].astype(np.float32)

    top = at(r0, c0) * (1 - fc) + at(r0, c1) * fc
    bottom = at(r1, c0) * (1 - fc) + at(r1, c1) * fc
    return np.clip(np.rint(top * (1 - fr) + bottom * fr), 0, 255).astype(np.uint8)
