"""Data layer: geo-tagged image tiles (Blue Marble, the multi-source stack, S2-100K) and land sampling.

Every source is a `torch.utils.data.Dataset` of `GeoSample(image, lat, lon)`:
image a float32 tensor (C, H, W) scaled to about [0, 1], lat/lon in degrees.
"""

from .bluemarble import BlueMarbleTiles, BlueMarbleTileSpec, load_blue_marble
from .land import land_lattice, sample_land_points
from .stack import StackTiles, StackTileSpec
from .tiling import cut_tiles
from .s2_100k import S2Tiles, read_geotiff
from .sample import GeoSample

__all__ = [
    "BlueMarbleTileSpec",
    "BlueMarbleTiles",
    "GeoSample",
    "S2Tiles",
    "StackTileSpec",
    "StackTiles",
    "cut_tiles",
    "land_lattice",
    "load_blue_marble",
    "read_geotiff",
    "sample_land_points",
]
