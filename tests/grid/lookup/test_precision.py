import h3.api.basic_int as h3i
import numpy as np

from satcle.geo.h3_cells import cells_at_resolution
from satcle.geo import unit_vectors
from satcle.grid.lookup.precision import probe_points


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


def test_interp_error_is_the_max_over_shared_boundary_probes():
    """Each cell's bound is the largest relative error at its centre, its exact
    vertices and edge midpoints, where those touch only stored cells, and at
    points 2 % inside it where they touch a cell that is not stored; boundary
    probes are evaluated once for all the cells that share them."""
    import torch

    from satcle import EncoderConfig, LocationEncoder
    from satcle.geo.h3_cells import cell_centers
    from satcle.grid.format.reader import GridTable
    from satcle.grid.format.store import quantize
    from satcle.grid.lookup import Grid, interp_error

    torch.manual_seed(3)
    encoder = LocationEncoder(EncoderConfig(legendre_degree=6, hidden_dim=64, output_dim=32))
    root = next(c for c in sorted(h3i.get_res0_cells()) if not h3i.is_pentagon(c))
    region = np.array(sorted(h3i.cell_to_children(root, 3)), dtype=np.uint64)  # cells outside: "not stored"
    stored = set(region.tolist())
    values, scale = quantize(encoder.encode(*cell_centers(region)), "float16")

    encoded = []
    encode = encoder.encode
    encoder.encode = lambda lats, lons, **kw: (encoded.append(len(lats)), encode(lats, lons, **kw))[1]
    try:
        bound = interp_error(encoder, region, region, values, scale)
    finally:
        del encoder.encode
    # Centres once, then ~5 shared probes per cell (12 per cell before sharing), plus
    # the inset probes of cells at the edge of the region.
    assert sum(encoded) < 7 * region.size

    lat, lon = cell_centers(region)
    grid = Grid(GridTable(h3=region, lat=lat, lon=lon, values=values, scale=None, interp_error=None),
                resolution=3, encoder=encoder)

    def touching(cell, vertex):
        """Cells (of the whole H3 grid) that have `vertex` on their boundary."""
        return {n for n in h3i.grid_disk(cell, 1)
                if np.min(np.linalg.norm(unit_vectors(*np.asarray(h3i.cell_to_boundary(n)).T) - vertex, axis=1)) < 1e-9}

    for i in np.random.default_rng(0).choice(region.size, 40, replace=False):
        cell = int(region[i])
        centre = unit_vectors(*np.array(h3i.cell_to_latlng(cell))[:, None])
        vertices = unit_vectors(*np.asarray(h3i.cell_to_boundary(cell)).T)
        following = np.roll(vertices, -1, axis=0)
        midpoints = (vertices + following) / np.linalg.norm(vertices + following, axis=1, keepdims=True)
        probes = [centre[0]]
        for k, point in enumerate(np.concatenate([vertices, midpoints])):
            ends = [vertices[k]] if k < len(vertices) else [vertices[k - len(vertices)], following[k - len(vertices)]]
            if not all(touching(cell, end) <= stored for end in ends):
                point = 0.98 * point + 0.02 * centre[0]
                point /= np.linalg.norm(point)
            probes.append(point)
        probes = np.array(probes)
        plat = np.degrees(np.arcsin(probes[:, 2]))
        plon = np.degrees(np.arctan2(probes[:, 1], probes[:, 0]))
        approx, live = grid.lookup(plat, plon, on_miss="nan"), encode(plat, plon)
        expected = np.max(np.linalg.norm(approx - live, axis=1) / np.linalg.norm(live, axis=1))
        np.testing.assert_allclose(bound[i], expected, rtol=1e-4)
