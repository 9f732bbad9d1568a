import h3.api.basic_int as h3i
import numpy as np

from satcle.grid.h3_cells import cells_at_resolution
from satcle.grid_lookup.cell_index import unit_vectors
from satcle.grid_lookup.precision import probe_points


def probes_of_one_cell(cell, inset):
    """Centre, vertices, edge midpoints of one cell from h3-py, pulled `inset` towards the centre."""
    centre = unit_vectors(*np.array(h3i.cell_to_latlng(cell))[:, None])[0]
    corners = np.asarray(h3i.cell_to_boundary(cell), dtype=np.float64)
    vertices = unit_vectors(corners[:, 0], corners[:, 1])
    midpoints = vertices + np.roll(vertices, -1, axis=0)
    midpoints /= np.linalg.norm(midpoints, axis=1, keepdims=True)
    points = (1 - inset) * np.concatenate([centre[None], vertices, midpoints]) + inset * centre
    return points / np.linalg.norm(points, axis=1, keepdims=True)


def test_vectorised_probes_equal_per_cell_h3_geometry():
    cells = cells_at_resolution(1)  # includes the 12 pentagons and distorted cells
    assert any(h3i.is_pentagon(int(c)) for c in cells)
    lats, lons, owner = probe_points(cells, inset=0.05)
    got = unit_vectors(lats, lons)
    expected = np.concatenate([probes_of_one_cell(int(c), 0.05) for c in cells])
    expected_owner = np.concatenate([np.full(1 + 2 * len(h3i.cell_to_boundary(int(c))), i) for i, c in enumerate(cells)])
    np.testing.assert_array_equal(owner, expected_owner)
    np.testing.assert_allclose(got, expected, atol=1e-12)
    # every probe lies inside its own cell
    inside = np.array([h3i.latlng_to_cell(a, b, 1) for a, b in zip(lats, lons)], dtype=np.uint64)
    np.testing.assert_array_equal(inside, cells[owner])
