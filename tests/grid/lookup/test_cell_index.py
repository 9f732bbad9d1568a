"""The compact cell index: its size, its raster box, and `validate_index`."""

import dataclasses

import h3.api.basic_int as h3i
import numpy as np
import pytest

from satcle.core.errors import GridFormatError
from satcle.geo import unit_vectors
from satcle.geo.h3_cells import cell_centers, latlng_to_cells
from satcle.grid.format.reader import GridTable
from satcle.grid.lookup.cell_index import ABSENT, build_cell_index, validate_index
from satcle.grid.lookup.grid import Grid


def disk(lat: float, lon: float, res: int, k: int) -> np.ndarray:
    """The cells within k steps of the cell of (lat, lon), sorted uint64."""
    return np.array(sorted(h3i.grid_disk(h3i.latlng_to_cell(lat, lon, res), k)), dtype=np.uint64)


def grid_of(cells: np.ndarray) -> Grid:
    """A grid of `cells` with dummy rows (only the index is exercised)."""
    lat, lon = cell_centers(cells)
    table = GridTable(h3=cells, lat=lat, lon=lon, values=np.zeros((cells.size, 2), dtype=np.float32),
                      scale=None, interp_error=None)
    return Grid(table, resolution=h3i.get_resolution(int(cells[0])))


def test_res6_index_is_at_most_a_quarter_of_its_float16_rows():
    cells = disk(45.0, 7.0, 6, 25)          # 1,951 cells
    index = build_cell_index(cells, *cell_centers(cells))
    row_bytes = cells.size * 256 * 2         # D = 256 float16
    assert index.nbytes <= 0.25 * row_bytes, index.nbytes / cells.size


def test_a_patch_across_the_antimeridian_gets_a_box_and_exact_answers(rng):
    cells = disk(-17.0, 179.9, 4, 6)
    grid = grid_of(cells)
    index = grid.index
    assert index.wraps == 0 and index.n_lon * index.delta < 20.0    # a box, not the whole circle
    lats = rng.uniform(-22.0, -12.0, 20_000)
    lons = np.mod(rng.uniform(174.0, 186.0, 20_000) + 180.0, 360.0) - 180.0
    lats = np.concatenate([lats, rng.uniform(-90.0, 90.0, 2000)])
    lons = np.concatenate([lons, rng.uniform(-180.0, 180.0, 2000)])
    cell_rows, tri_rows, _ = grid.locate(lats, lons, interp=True, exact_cell=True)
    truth = grid.rows_of(latlng_to_cells(lats, lons, 4))
    decided = cell_rows != -2
    np.testing.assert_array_equal(cell_rows[decided], truth[decided])
    assert (truth >= 0).sum() > 2000 and (truth < 0).sum() > 2000 and (~decided).sum() < 10
    # The nearest stored centre, as an exhaustive search finds it.
    centres = unit_vectors(grid.table.lat, grid.table.lon).astype(np.float32).astype(np.float64)
    closeness = unit_vectors(lats, lons) @ centres.T
    within = closeness.max(axis=1) > np.cos(np.radians(index.radius_deg))
    np.testing.assert_array_equal(tri_rows[within, 0], closeness[within].argmax(axis=1))
    np.testing.assert_array_equal(tri_rows[~within, 0], -1)


def test_cells_share_their_vertices():
    cells = disk(30.0, -100.0, 5, 10)
    index = build_cell_index(cells, *cell_centers(cells))
    # Interior vertices belong to 3 cells: about 2 distinct vertices per hexagon.
    assert index.vertices.shape[0] < 2.2 * cells.size


@pytest.fixture(scope="module")
def index_with_everything():
    """A res-3 index holding a pentagon and cells with more than 6 vertices (fan cells)."""
    pentagon = next(c for c in h3i.get_pentagons(3))
    cells = np.array(sorted(h3i.grid_disk(pentagon, 4)), dtype=np.uint64)
    index = build_cell_index(cells, *cell_centers(cells))
    assert (index.neighbours[:, 5] == ABSENT).any() and index.fan_offsets.size > 1
    return index


def test_built_indexes_are_valid(index_with_everything):
    validate_index(index_with_everything)


def _planted(index, name, position, value):
    array = getattr(index, name).copy()
    array.reshape(-1)[position] = value
    return dataclasses.replace(index, **{name: array})


@pytest.mark.parametrize("name, position, value, message", [
    ("neighbours", 7, "cells", "neighbour row outside"),
    ("neighbours", 2, ABSENT, "neighbour row outside"),      # absent before the sixth slot
    ("neighbours", 3, -3, "neighbour row outside"),
    ("cell_vertices", 8, "vertices", "vertex row outside"),
    ("cell_vertices", 0, "fans", "vertex row outside"),
    ("cell_vertices", 2, -1, "negative vertex"),
    ("fan_vertex_ids", 0, "vertices", "vertex row outside"),
    ("fan_offsets", 1, 2, "do not ascend"),
    ("bucket_rows", 5, "cells", "candidate row outside"),
    ("bucket_rows", 5, -1, "candidate row outside"),
    ("bucket_offsets", -1, 10**9, "do not ascend"),
    ("bucket_offsets", 1, 10**9, "do not ascend"),
    ("centres", 4, np.nan, "not finite"),
    ("vertices", 0, np.inf, "not finite"),
    ("vertices", 1, 7.0, "not a unit vector"),
])
def test_an_index_out_of_bounds_raises(index_with_everything, name, position, value, message):
    index = index_with_everything
    value = {"cells": index.num_cells, "vertices": index.vertices.shape[0],
             "fans": -index.fan_offsets.size}.get(value, value)
    if name == "cell_vertices" and value == -1:
        position = 6 * int(np.flatnonzero(index.cell_vertices[:, 0] >= 0)[0]) + 2
    with pytest.raises(GridFormatError, match=f"^lookup/{name}.npy: corrupt cell index: .*{message}"):
        validate_index(_planted(index, name, position, value))


def test_arrays_of_another_layout_raise(index_with_everything):
    index = index_with_everything
    with pytest.raises(GridFormatError, match="lookup/centres.npy: .*float64 array of shape .* expected a "
                                              "non-empty float32 array"):
        validate_index(dataclasses.replace(index, centres=index.centres.astype(np.float64)))
    with pytest.raises(GridFormatError, match="lookup/neighbours.npy: .*one row per cell"):
        validate_index(dataclasses.replace(index, neighbours=index.neighbours[:-1].copy()))
    with pytest.raises(GridFormatError, match="lookup/bucket_offsets.npy: .*offsets for n_lat x n_lon"):
        validate_index(dataclasses.replace(index, n_lon=index.n_lon + 1))
    with pytest.raises(GridFormatError, match=r"manifest.json \(lookup.index\): .*raster constants out of range"):
        validate_index(dataclasses.replace(index, delta=0.0))
    # A wrapping raster must span the circle exactly: else a column past the raster is read.
    with pytest.raises(GridFormatError, match="raster constants out of range"):
        validate_index(dataclasses.replace(index, wraps=1, delta=index.delta / 3))
