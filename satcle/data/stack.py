"""Multi-source image stack: every installed source cut on one equal-scale tile grid.

Each tile centre of a dense land lattice (`land_lattice`) gets one tile per
source, all cut by `satcle.data.tiling.cut_tiles` on the same azimuthal-
equidistant ground grid, and the sources' bands are stacked as channels:
continuous bands scaled to [0, 1], a categorical source (land cover) one-hot,
one channel per class. Tiles are cached on disk as uint8 (class rasters as
class indices), keyed by the spec and the sources' checksums.
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
from ..core.errors import InvalidArgumentError
from ..core.paths import cache_dir
from .land import land_lattice
from .sample import GeoSample
from .sources import SHA256, get_source
from .tiling import cut_tiles

#: The full stack, in channel order.
ALL_SOURCES = ("bluemarble", "relief", "landcover", "nightlights", "seasons")


@dataclass(frozen=True)
class StackTileSpec:
    """Which sources, where, and at what scale.

    sources : source names (`satcle.data.sources.SOURCES`), in channel order
    spacing_km : tile centres are the land points of a lattice this far apart
    size_px : tile side in pixels; km_per_px : ground spacing of the tile grid
        (the footprint is size_px * km_per_px km)
    """

    sources: tuple[str, ...] = ALL_SOURCES
    spacing_km: float = 50.0
    size_px: int = 24
    km_per_px: float = 4.0

    def __post_init__(self) -> None:
        if not self.sources or len(set(self.sources)) != len(self.sources):
            raise InvalidArgumentError(f"sources must be distinct and not empty, got {self.sources}")
        for name in self.sources:
            get_source(name)
        if self.size_px < 2 or not self.km_per_px > 0 or not self.spacing_km > 0:
            raise InvalidArgumentError(f"invalid tile spec {self}")

    @property
    def network_channels(self) -> int:
        """Channels of the network's input (categorical sources one-hot)."""
        return sum(get_source(name).network_channels for name in self.sources)

    def cache_key(self) -> str:
        """Stable hash of the spec (names the cache file)."""
        text = json.dumps({"v": 1, **asdict(self), "sha256": SHA256}, sort_keys=True)
        return hashlib.sha256(text.encode()).hexdigest()[:16]


def build_stack(spec: StackTileSpec, *, cache: Path | None = None, progress: bool = True):
    """Stored tiles, centre latitudes and longitudes for `spec`, from the cache or cut now.

    Returns (tiles (N, S, S, B) uint8 with B stored bands, source by source, class
    rasters as one band of indices; lats (N,) float64 degrees; lons (N,) float64
    degrees). Every source is loaded (and checked) before anything is cut, so a
    missing one fails at once with its install command.
    """
    root = Path(cache) if cache is not None else cache_dir() / "stack"
    path = root / f"tiles-{spec.cache_key()}.npz"
    if path.is_file():
        with np.load(path) as stored:
            return stored["tiles"], stored["lats"], stored["lons"]
    lats, lons = land_lattice(spec.spacing_km)
    sources = [get_source(name) for name in spec.sources]
    mosaics = [source.load() for source in sources]
    bands = sum(mosaic.shape[2] for mosaic in mosaics)
    tiles = np.empty((len(lats), spec.size_px, spec.size_px, bands), dtype=np.uint8)
    first = 0
    chunk = 1024
    for source, mosaic in zip(sources, mosaics):
        last = first + mosaic.shape[2]
        mode = "nearest" if source.categorical else "bilinear"
        for start in tqdm(range(0, len(lats), chunk), desc=f"cutting {source.name} tiles", disable=not progress):
            stop = min(start + chunk, len(lats))
            tiles[start:stop, :, :, first:last] = cut_tiles(
                mosaic, lats[start:stop], lons[start:stop], spec.size_px, spec.km_per_px, mode=mode)
        first = last
    with atomic_path(path) as tmp:
        np.savez(tmp, tiles=tiles, lats=lats, lons=lons, spec=json.dumps(asdict(spec)))
    return tiles, lats, lons


class StackTiles(Dataset):
    """Dataset of stacked tiles: `GeoSample(image (C, S, S) float32 in [0, 1], lat, lon)`.

    C = `spec.network_channels`: each continuous band / 255, each categorical
    source as one-hot channels (one per class).
    """

    def __init__(self, spec: StackTileSpec = StackTileSpec(), *, cache: Path | None = None,
                 progress: bool = True) -> None:
        self.spec = spec
        self.tiles, self.lats, self.lons = build_stack(spec, cache=cache, progress=progress)
        # (stored band, number of classes or 0) per stored band, in order.
        self._layout = []
        for name in spec.sources:
            source = get_source(name)
            self._layout += [source.classes] * source.channels

    @property
    def channels(self) -> int:
        """Channels per image (categorical sources one-hot)."""
        return self.spec.network_channels

    def __len__(self) -> int:
        return len(self.lats)

    def images(self, indices: np.ndarray) -> torch.Tensor:
        """The network input of tiles `indices` (B,): (B, C, S, S) float32."""
        stored = torch.from_numpy(self.tiles[indices]).permute(0, 3, 1, 2)
        parts = []
        for band, classes in enumerate(self._layout):
            values = stored[:, band]
            if classes:
                parts.append(torch.nn.functional.one_hot(values.long(), classes).permute(0, 3, 1, 2).float())
            else:
                parts.append(values[:, None].float() / 255.0)
        return torch.cat(parts, dim=1)

    def __getitem__(self, index: int) -> GeoSample:
        return GeoSample(self.images(np.array([index]))[0], float(self.lats[index]), float(self.lons[index]))
