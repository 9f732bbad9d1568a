"""Land: the 1 km GLOBE mask of `global-land-mask` and uniform sampling over land.

One mask, one clipping rule: points are clipped to the mask's own extent (its
raster stops 1/240 degree short of the poles and of lon 180), which is what
``global_land_mask.globe.is_land`` does, without its 1 GB inflation per process.
"""

from __future__ import annotations

import functools
import io
import os
from pathlib import Path

import h3
import numpy as np

from ..core._optional import package_dir
from ..core.errors import InvalidArgumentError
from ..core.atomic import write_atomic
from ..core import paths
from .sphere import EARTH_RADIUS_KM, sample_sphere


class LandMask:
    """The GLOBE 1 km land mask of `global-land-mask`, bit-packed and memory-mapped.

    The package ships the mask zlib-compressed (2.5 MB) and inflates it to a 1 GB
    boolean array on import, ~4 s in every process. Here it is inflated once per
    machine into a 117 MB bit-packed ``.npy`` under `cache_dir` (default
    `satcle.core.paths.cache_dir()`), which each worker then maps
    in milliseconds and shares through the page cache. Look-ups index exactly as
    ``global_land_mask.globe.is_land`` does.
    """

    FILE = "globe-land-bits-v1.npy"

    def __init__(self, cache_dir: str | os.PathLike | None = None):
        source = np.load(_globe_npz())  # lazy per key: only "mask" is large
        self._lat0, self._dlat = float(source["lat"][0]), float(source["lat"][1] - source["lat"][0])
        self._lon0, self._dlon = float(source["lon"][0]), float(source["lon"][1] - source["lon"][0])
        self._lat_max, self._lat_min = float(source["lat"].max()), float(source["lat"].min())
        self._lon_max, self._lon_min = float(source["lon"].max()), float(source["lon"].min())
        path = Path(cache_dir or paths.cache_dir()) / self.FILE
        if not path.is_file():
            buffer = io.BytesIO()
            np.save(buffer, np.packbits(~source["mask"], axis=1))  # the package's mask is True over water
            write_atomic(path, buffer.getvalue())
        self._bits = np.load(path, mmap_mode="r")
        self._near_land: dict[int, np.ndarray] = {}

    def contains(self, lats: np.ndarray, lons: np.ndarray) -> np.ndarray:
        """Land flag of points: lats, lons (N,) degrees in range -> (N,) bool."""
        lats = np.clip(np.asarray(lats, dtype=np.float64), self._lat_min, self._lat_max)
        lons = np.clip(np.asarray(lons, dtype=np.float64), self._lon_min, self._lon_max)
        rows = ((lats - self._lat0) / self._dlat).astype(np.int64)
        cols = ((lons - self._lon0) / self._dlon).astype(np.int64)
        return ((self._bits[rows, cols >> 3] >> (7 - (cols & 7))) & 1).astype(bool)


    def near_land(self, lats: np.ndarray, lons: np.ndarray, res: int) -> np.ndarray:
        """False where no land point lies within `reach_km(res)` of a point (N,)
        degrees -> (N,) bool: a conservative pre-filter (True does not mean near).
        A cell whose centre is not near land has no land neighbour at `res`."""
        if res not in self._near_land:
            self._near_land[res] = _dilated_land(self._coarse_land(), reach_km(res))
        raster = self._near_land[res]
        rows = np.clip(((90.0 - np.asarray(lats, dtype=np.float64)) / COARSE_DEG).astype(np.int64), 0,
                       raster.shape[0] - 1)
        cols = ((np.asarray(lons, dtype=np.float64) + 180.0) / COARSE_DEG).astype(np.int64) % raster.shape[1]
        return raster[rows, cols]

    def _coarse_land(self) -> np.ndarray:
        """(900, 1800) bool: whether each 0.2 x 0.2 degree pixel (row 0 at 90 N,
        column 0 at 180 W) holds any land pixel of the mask."""
        side = round(COARSE_DEG / abs(self._dlat))          # mask rows (and columns) per coarse pixel: 24
        rows, byte_cols = self._bits.shape
        # Reduce the contiguous axis last: 10x faster than one reduction over both.
        band = np.asarray(self._bits).reshape(rows // side, side, byte_cols).max(axis=1)
        return band.reshape(rows // side, byte_cols // (side // 8), side // 8).max(axis=2) > 0


# Side of the pixels of the near-land pre-filter (degrees): 24 mask pixels.
COARSE_DEG = 0.2


def reach_km(res: int) -> float:
    """An upper bound on the distance between the centres of neighbouring H3
    cells of `res` (~2.4 average edges at most; 3.5 for margin)."""
    return 3.5 * h3.average_hexagon_edge_length(res, "km")


def _dilated_land(land: np.ndarray, reach: float) -> np.ndarray:
    """Pixels of the (rows, cols) lat/lon raster `land` with a land pixel within
    `reach` km of any of their points, or more (conservative).

    Two points whose latitudes are at most phi apart from the equator
    (|lat| <= phi) and whose longitudes differ by dlon are at least
    2 R cos(phi) sin(dlon / 2) apart (chord of their projections on the equator
    plane), which bounds the columns to search per row; rows by latitude alone.
    """
    n_rows, n_cols = land.shape
    k_lat = int(np.ceil(np.degrees(reach / EARTH_RADIUS_KM) / COARSE_DEG)) + 1
    row = np.arange(n_rows)
    top = 90.0 - COARSE_DEG * np.maximum(row - 2 * k_lat, 0)              # widest band a source row serves
    bottom = 90.0 - COARSE_DEG * (np.minimum(row + 2 * k_lat, n_rows - 1) + 1)
    phi = np.radians(np.minimum(np.maximum(np.abs(top), np.abs(bottom)), 90.0))
    ratio = reach / (2.0 * EARTH_RADIUS_KM * np.maximum(np.cos(phi), 1e-12))
    half_width = np.full(n_rows, n_cols, dtype=np.int64)
    within = ratio < 1.0
    half_width[within] = np.ceil(np.degrees(2.0 * np.arcsin(ratio[within])) / COARSE_DEG).astype(np.int64) + 1
    # Along each row: any land within half_width columns (circularly).
    full = half_width * 2 + 1 >= n_cols
    widest = int(half_width[~full].max(initial=0))
    padded = np.concatenate([land[:, n_cols - widest:], land, land[:, :widest]], axis=1)
    sums = np.concatenate([np.zeros((n_rows, 1), np.int64), np.cumsum(padded, axis=1, dtype=np.int64)], axis=1)
    col = np.arange(n_cols)
    k = np.where(full, 0, half_width)[:, None]
    start = widest + col[None, :] - k
    across = (np.take_along_axis(sums, start + 2 * k + 1, axis=1) - np.take_along_axis(sums, start, axis=1)) > 0
    across[full] = land[full].any(axis=1)[:, None]
    # Then across rows: any such pixel within k_lat rows.
    sums = np.concatenate([np.zeros((1, n_cols), np.int64), np.cumsum(across, axis=0, dtype=np.int64)], axis=0)
    low = np.maximum(row - k_lat, 0)
    high = np.minimum(row + k_lat, n_rows - 1) + 1
    return (sums[high] - sums[low]) > 0


def _globe_npz() -> Path:
    return package_dir("global_land_mask", "global-land-mask", "eval") / "globe_combined_mask_compressed.npz"


@functools.lru_cache(maxsize=1)
def land_mask() -> LandMask:
    """The process's shared `LandMask` (under `satcle.core.paths.cache_dir()`)."""
    return LandMask()


def is_land(lats: np.ndarray, lons: np.ndarray) -> np.ndarray:
    """(N,) bool: on land by the 1 km GLOBE mask, Antarctica and most lakes included.

    lats, lons: (N,) degrees, lat in [-90, 90], lon in [-180, 180]. Raises
    MissingPackageError without `global-land-mask` (``satcle[eval]``/``[train]``).
    """
    return land_mask().contains(lats, lons)


def sample_land(n: int, rng: np.random.Generator, *, batch: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """n points uniform over land, by rejection from `sample_sphere` batches.

    batch: candidates drawn per round (default 4 n: land is ~29 % of the
    sphere). Deterministic for the state of `rng` and `batch`. Returns lats,
    lons (n,) float64 degrees.
    """
    if n < 0:
        raise InvalidArgumentError(f"n must be >= 0, got {n}")
    lats, lons = [np.empty(0)], [np.empty(0)]
    found = 0
    while found < n:
        cand_lat, cand_lon = sample_sphere(batch or 4 * n, rng)
        keep = is_land(cand_lat, cand_lon)
        lats.append(cand_lat[keep])
        lons.append(cand_lon[keep])
        found += int(keep.sum())
    return np.concatenate(lats)[:n], np.concatenate(lons)[:n]
