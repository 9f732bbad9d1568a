"""The precision contract: a per-cell bound on the interpolation error.

Definition (stored as the grid's ``interp_error`` column, float32, per cell):

    interp_error(c) = max over probe points p inside c of
                      ||interp(p) - live(p)||_2 / ||live(p)||_2

where interp is `Grid.lookup(method="interp")` on the stored (quantised) rows
and live is the encoder. The probes are the cell centre, its vertices and its
edge midpoints, each moved 2 % of the way towards the centre so that they lie
inside the cell; interpolation error peaks at the vertices (the points farthest
from every centre), so the maximum over these probes estimates the maximum
over the cell. It is an estimate from samples, not a proof: `tolerance` routes
by it, and `benchmarks/fidelity_lookup.py` measures how it holds on random points.
"""

from __future__ import annotations

import h3.api.basic_int as h3i
import numpy as np

from ..grid.h3_cells import cell_boundaries, cell_centers
from ..grid.reader import GridTable
from ..model import LocationEncoder
from .cell_index import unit_vectors
from .grid import Grid

INSET = 0.02


def probe_points(cells: np.ndarray, inset: float = INSET) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Probe points inside each cell: its centre, then its vertices, then its edge midpoints.

    cells: (C,) uint64 H3 indices. Returns lats, lons (P,) float64 degrees and
    owner (P,) int64, the position in `cells` of each probe's cell, non-decreasing.
    Vectorised over cells (one H3 call for all boundaries).
    """
    cells = np.asarray(cells, dtype=np.uint64)
    centre_lat, centre_lon = cell_centers(cells)
    centres = unit_vectors(centre_lat, centre_lon)                       # (C, 3)
    offsets, corners = cell_boundaries(cells)
    counts = np.diff(offsets)                                            # vertices per cell
    vertex_owner = np.repeat(np.arange(cells.size), counts)
    vertices = unit_vectors(corners[:, 0], corners[:, 1])                # (V, 3)
    # The next vertex around the same cell closes each edge.
    position = np.arange(vertices.shape[0]) - offsets[:-1][vertex_owner]
    following = offsets[:-1][vertex_owner] + (position + 1) % counts[vertex_owner]
    midpoints = vertices + vertices[following]
    midpoints /= np.linalg.norm(midpoints, axis=1, keepdims=True)
    # Per cell: [centre, its vertices, its midpoints], in the order of `cells`.
    per_cell = 1 + 2 * counts
    start = np.concatenate([[0], np.cumsum(per_cell)[:-1]])
    points = np.empty((int(per_cell.sum()), 3))
    owner = np.repeat(np.arange(cells.size, dtype=np.int64), per_cell)
    points[start] = centres
    points[start[vertex_owner] + 1 + position] = vertices
    points[start[vertex_owner] + 1 + counts[vertex_owner] + position] = midpoints
    points = (1.0 - inset) * points + inset * centres[owner]
    points /= np.linalg.norm(points, axis=1, keepdims=True)
    lats = np.degrees(np.arcsin(np.clip(points[:, 2], -1.0, 1.0)))
    lons = np.degrees(np.arctan2(points[:, 1], points[:, 0]))
    return lats, lons, owner


def interp_error(encoder: LocationEncoder, cells: np.ndarray, h3_ids: np.ndarray, values: np.ndarray,
                 scale: np.ndarray | None = None, *, inset: float = INSET) -> np.ndarray:
    """The ``interp_error`` column for `cells`: (C,) float32 (definition above).

    Parameters
    ----------
    encoder : LocationEncoder
        The live model the grid was built from.
    cells : (C,) uint64
        The cells to bound (e.g. one partition's), all of one resolution.
    h3_ids : (M,) uint64, strictly increasing
        Every stored cell that the lookup of a point in `cells` can use: the
        cells themselves and each of their stored H3 neighbours
        (`h3.grid_disk(cell, 1)` restricted to the grid's coverage). A neighbour
        left out is treated as outside coverage, which changes the interpolation.
    values : (M, D), scale : (M,) or None
        Their embeddings as stored (`store_format.quantize` output), so that the
        bound includes the quantisation error.
    """
    cells = np.asarray(cells, dtype=np.uint64)
    if cells.size == 0:
        return np.empty(0, dtype=np.float32)
    h3_ids = np.asarray(h3_ids, dtype=np.uint64)
    lat, lon = cell_centers(h3_ids)
    table = GridTable(h3=h3_ids, lat=lat, lon=lon, values=np.ascontiguousarray(values),
                      scale=scale, interp_error=None)
    grid = Grid(table, resolution=h3i.get_resolution(int(cells[0])), encoder=encoder)
    if np.any(grid.rows_of(cells) < 0):
        raise ValueError("every cell to bound must be among h3_ids")
    lats, lons, owner = probe_points(cells, inset)
    approx = grid.lookup(lats, lons, method="interp", on_miss="nan")
    exact = encoder.encode(lats, lons)
    relative = np.linalg.norm(approx - exact, axis=1) / np.maximum(np.linalg.norm(exact, axis=1), 1e-30)
    starts = np.flatnonzero(np.r_[True, owner[1:] != owner[:-1]])
    return np.maximum.reduceat(relative, starts).astype(np.float32)
