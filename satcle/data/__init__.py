"""Data layer: geo-tagged image tiles (Blue Marble, S2-100K) and land sampling.

Every source is a `torch.utils.data.Dataset` of `GeoSample(image, lat, lon)`:
image a float32 tensor (C, H, W) scaled to about [0, 1], lat/lon in degrees.
"""

from .bluemarble import BlueMarbleTiles, BlueMarbleTileSpec, cut_tiles, load_blue_marble
from .land import sample_land_points
from .s2_100k import S2Tiles, read_geotiff
from .sample import GeoSample

__all__ = [
    "BlueMarbleTileSpec",
    "BlueMarbleTiles",
    "GeoSample",
    "S2Tiles",
    "cut_tiles",
    "load_blue_marble",
    "read_geotiff",
    "sample_land_points",
]
