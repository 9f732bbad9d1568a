import h3
import numpy as np
import pytest

from build_grid.coverage import LandMask, covered_cells
from satcle.core.errors import CoordinateError
from satcle.geo.h3_cells import (cell_boundaries, cell_centers, cell_children, cells_at_resolution, latlng_to_cells,
                                  neighbor_disks)


def test_cells_and_centres_agree_with_h3_py(rng):
    lats = np.degrees(np.arcsin(rng.uniform(-1, 1, 300)))
    lons = rng.uniform(-180, 180, 300)
    cells = latlng_to_cells(lats, lons, 7)
    assert cells.dtype == np.uint64
    assert [int(c) for c in cells] == [h3.str_to_int(h3.latlng_to_cell(a, b, 7)) for a, b in zip(lats, lons)]
    clat, clon = cell_centers(cells)
    expected = np.array([h3.cell_to_latlng(h3.int_to_str(int(c))) for c in cells])
    np.testing.assert_allclose(np.c_[clat, clon], expected, atol=1e-9)
    with pytest.raises(CoordinateError):
        latlng_to_cells([91.0], [0.0], 3)
    assert latlng_to_cells([], [], 3).shape == (0,)


def test_boundaries_agree_with_h3_py():
    # Every res-1 cell: pentagons, the antimeridian, and (odd resolution) cells
    # with distortion vertices on icosahedron edges.
    cells = cells_at_resolution(1)
    offsets, vertices = cell_boundaries(cells)
    assert offsets.shape == (cells.size + 1,) and vertices.shape == (offsets[-1], 2)
    for i, cell in enumerate(cells.tolist()):
        expected = np.array(h3.cell_to_boundary(h3.int_to_str(cell)))
        got = vertices[offsets[i]: offsets[i + 1]]
        assert got.shape == expected.shape
        lon_gap = np.abs(got[:, 1] - expected[:, 1])
        np.testing.assert_allclose(np.c_[got[:, 0], np.minimum(lon_gap, 360 - lon_gap)],
                                   np.c_[expected[:, 0], np.zeros(len(got))], atol=1e-9)
    assert np.diff(offsets).max() > 6
    empty_offsets, empty_vertices = cell_boundaries(np.empty(0, dtype=np.uint64))
    assert empty_offsets.tolist() == [0] and empty_vertices.shape == (0, 2)


def test_children_tile_the_resolution():
    all_res2 = cells_at_resolution(2)
    assert all_res2.size == h3.get_num_cells(2) and np.all(np.diff(all_res2.astype(np.float64)) > 0)
    parts = np.concatenate([cell_children(np.array([p], dtype=np.uint64), 2) for p in cells_at_resolution(0)])
    np.testing.assert_array_equal(np.sort(parts), all_res2)


def test_land_mask_matches_global_land_mask(rng, tmp_path):
    from global_land_mask import globe

    lats = np.r_[np.degrees(np.arcsin(rng.uniform(-1, 1, 20000))), 90.0, -90.0, 0.0, 89.999]
    lons = np.r_[rng.uniform(-180, 180, 20000), 180.0, -180.0, 179.999, -179.999]
    mask = LandMask(tmp_path)  # builds the bit-packed cache
    np.testing.assert_array_equal(mask.contains(lats, lons), globe.is_land(lats.copy(), lons.copy()))
    np.testing.assert_array_equal(LandMask(tmp_path).contains(lats, lons), mask.contains(lats, lons))  # from the cache
    assert [p.name for p in tmp_path.iterdir()] == [LandMask.FILE]


@pytest.mark.parametrize("lat, lon", [(48.0, -4.5), (35.5, 139.8), (-34.0, 18.4), (78.2, 15.6), (-77.8, 166.7)])
def test_land_coverage_near_coasts_is_land_cells_plus_one_ring(lat, lon):
    # Fine resolution, where the near-land pre-filter's reach is smallest: every
    # ocean cell it drops must have no land neighbour (coasts from Brittany to
    # Svalbard and Ross Island, where the search widens in longitude).
    parent = int(latlng_to_cells(np.array([lat]), np.array([lon]), 2)[0])
    cells = cell_children(np.array([parent], dtype=np.uint64), 5)
    is_land = LandMask().contains
    members, owner = neighbor_disks(cells)
    near = np.bincount(owner, weights=is_land(*cell_centers(members)), minlength=cells.size) > 0
    got = covered_cells(parent, 5, "land")
    np.testing.assert_array_equal(got, cells[near])
    assert 0 < got.size < cells.size   # a coast: some ocean left out, some cells kept


def test_land_coverage_is_land_cells_plus_one_ring():
    # Reference: the whole resolution at once, without partitions.
    cells = cells_at_resolution(2)
    is_land = LandMask().contains
    land = is_land(*cell_centers(cells))
    members, owner = neighbor_disks(cells)
    near = np.bincount(owner, weights=land[np.searchsorted(cells, members)], minlength=cells.size) > 0
    expected = cells[near]
    mask = LandMask()
    got = np.sort(np.concatenate([covered_cells(int(p), 2, "land", mask) for p in cells_at_resolution(0)]))
    np.testing.assert_array_equal(got, expected)
    assert land.sum() < expected.size < cells.size  # the ring adds cells, the open ocean is left out
    assert is_land(np.array([48.85, 0.0]), np.array([2.35, -150.0])).tolist() == [True, False]
