"""Data sources: Blue Marble tiles (equal-scale resampling, cache), land sampling, S2-100K reader."""

import warnings
from pathlib import Path

import numpy as np
import pytest
import torch

from satcle.data import BlueMarbleTiles, BlueMarbleTileSpec, S2Tiles, cut_tiles, sample_land_points
from satcle.data import bluemarble
from satcle.core.errors import DataError

from satcle.evaluation.tasks import default_data_dir

from support import needs_data, write_s2_folder

DATA = default_data_dir()
EXAMPLES = DATA / "s2-100k-examples" if DATA else None


def _coordinate_mosaic():
    """A 90 x 180 plate-carree mosaic (2 deg/px): channel 0 = row, channel 1 = column."""
    rows, cols = np.meshgrid(np.arange(90), np.arange(180), indexing="ij")
    return np.stack([rows, cols], axis=-1).astype(np.uint8)


def test_tiles_have_equal_ground_scale_at_high_latitude():
    mosaic = _coordinate_mosaic()
    km_per_2deg = 2 * np.pi * 6371.0 / 180
    equator, north = cut_tiles(mosaic, np.array([0.0, 60.0]), np.array([0.0, 0.0]), 9, km_per_2deg)
    centre = 4

    def span(values):  # change across the 8 pixel steps of a tile row or column
        return float(values[-1]) - float(values[0])

    # One tile pixel = 2 deg of latitude = one mosaic row, at every latitude.
    assert span(equator[:, centre, 0]) == pytest.approx(8, abs=1)
    assert span(north[:, centre, 0]) == pytest.approx(8, abs=1)
    # East-west it is one mosaic column at the equator but 1 / cos(60) = 2 columns at 60 N.
    assert span(equator[centre, :, 1]) == pytest.approx(8, abs=1)
    assert span(north[centre, :, 1]) == pytest.approx(16, abs=1)
    # North is up: rows count down from 90 N, so the tile's top row has the smaller mosaic row.
    assert north[0, centre, 0] < north[-1, centre, 0]


def test_tiles_wrap_the_antimeridian_and_survive_the_pole():
    mosaic = _coordinate_mosaic()
    tile = cut_tiles(mosaic, np.array([0.0]), np.array([179.9]), 4, 300.0)[0]
    assert tile[..., 1].min() <= 1 and tile[..., 1].max() >= 178
    polar = cut_tiles(mosaic, np.array([90.0]), np.array([0.0]), 4, 100.0)
    assert polar.shape == (1, 4, 4, 2) and (polar[..., 0] <= 2).all()


def test_land_points_are_deterministic_and_on_land():
    from global_land_mask import globe

    lats, lons = sample_land_points(300, seed=7)
    again = sample_land_points(300, seed=7)
    np.testing.assert_array_equal(lats, again[0])
    assert lats.shape == (300,) and np.abs(lats).max() <= 90
    assert globe.is_land(np.clip(lats, -89.99, 89.99), np.clip(lons, -179.99, 179.99)).all()
    assert not np.array_equal(lats, sample_land_points(300, seed=8)[0])


def test_blue_marble_tiles_are_cached(tmp_path, monkeypatch):
    monkeypatch.setenv("SATCLE_CACHE", str(tmp_path))
    spec = BlueMarbleTileSpec(count=12, size_px=8, seed=3)
    first = BlueMarbleTiles(spec, progress=False)
    assert len(first) == 12 and first[0].image.shape == (3, 8, 8)
    assert 0.0 <= float(first[0].image.min()) and float(first[0].image.max()) <= 1.0
    assert len(list((tmp_path / "bluemarble").glob("tiles-*.npz"))) == 1

    def refuse(*args, **kwargs):
        raise AssertionError("tiles were cut again instead of read from the cache")

    monkeypatch.setattr(bluemarble, "cut_tiles", refuse)
    second = BlueMarbleTiles(spec, progress=False)
    np.testing.assert_array_equal(first.tiles, second.tiles)
    np.testing.assert_array_equal(first.lats, second.lats)


@needs_data(EXAMPLES, "the S2-100K example tiles (s2-100k-examples in the evaluation data folder)")
def test_s2_reader_on_real_example_tiles():
    tiles = S2Tiles(EXAMPLES, progress=False)
    assert len(tiles) == 20 and tiles.channels == 12 and not tiles.skipped
    sample = tiles[0]
    assert sample.image.shape == (12, 256, 256) and sample.image.dtype == torch.float32
    assert 0.0 <= float(sample.image.min()) and 0.0 < float(sample.image.max()) <= 1.0
    assert -90 <= sample.lat <= 90


def test_s2_reader_skips_truncated_files_with_a_clear_message(tmp_path):
    write_s2_folder(tmp_path)
    broken = tmp_path / "images" / "patch_1.tif"
    broken.write_bytes(broken.read_bytes()[:200])
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        tiles = S2Tiles(tmp_path, progress=False)
    assert len(tiles) == 2 and [name for name, _ in tiles.skipped] == ["patch_1.tif"]
    assert any("patch_1.tif" in str(w.message) for w in caught)
    assert tiles[1].lat == 20.0 and tiles[1].image.max() <= 1.0
    unchecked = S2Tiles(tmp_path, check_files=False, progress=False)
    with pytest.raises(DataError, match="patch_1.tif"):
        unchecked[1]


def test_s2_reader_rejects_bad_index(tmp_path):
    (tmp_path / "images").mkdir()
    (tmp_path / "index.csv").write_text("latitude,lon,fn\n1,2,a.tif\n")
    with pytest.raises(DataError, match="lat"):
        S2Tiles(tmp_path, progress=False)
    with pytest.raises(DataError, match="index.csv"):
        S2Tiles(tmp_path / "nowhere", progress=False)
