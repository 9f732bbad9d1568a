"""The precision contract: a per-cell bound on the interpolation error.

Definition (stored as the grid's ``interp_error`` column, float32, per cell):

    interp_error(c) = max over probe points p of c of
                      ||interp(p) - live(p)||_2 / ||live(p)||_2

where interp is `Grid.lookup(method="interp")` on the stored (quantised) rows
and live is the encoder. The probes of a cell are its centre, its vertices and
its edge midpoints (13 for a hexagon), taken **on the boundary**: the
interpolation is continuous across cell edges (linear on the triangles of
three neighbouring centres), so a vertex or edge midpoint is one point of
every cell that shares it, and it is evaluated once and credited to all of
them (a vertex belongs to 3 cells, an edge midpoint to 2: about 5 live
evaluations per cell instead of 12). At coverage edges the interpolation is not
continuous (only complete triangles are used), so a boundary probe that
touches a cell the grid does not store (one of the three centres nearest to the
vertex, or to either end of the edge, is missing) is instead moved 2 % of the
way towards the cell's centre, inside the cell, and evaluated for that cell
alone. The centre probe reuses the cell's own live embedding when the caller
has it. Interpolation error peaks at the vertices (the points farthest from
every centre), so the maximum over these probes estimates the maximum over the
cell. It is an estimate from samples, not a proof: `tolerance` routes by it,
and `benchmarks/fidelity_lookup.py` measures how it holds on random points.
"""

from __future__ import annotations

from dataclasses import dataclass

import h3.api.basic_int as h3i
import numpy as np

from ...core.errors import InvalidArgumentError
from ...geo.h3_cells import cell_boundaries, cell_centers, neighbor_disks
from ..format.reader import GridTable
from ...model import LocationEncoder
from ...geo.sphere import unit_vectors
from .cell_index import empty_aligned
from .grid import Grid

INSET = 0.02
# Probes compared per chunk (interpolated and live rows: 2 x 16 MB at D = 256).
COMPARE_CHUNK = 16384
# Shared probes are identified by their unit vector rounded to multiples of
# 2**-36 (1.5e-11, ~0.1 mm on the Earth): the copies of one vertex computed from
# its different cells differ by ~1e-16, distinct H3 vertices (resolution 15
# included) by more than 1e-8. The probe is evaluated at its rounded position,
# so where it lies depends on the vertex alone, not on which cells are bounded
# together. (The rare copy rounded to a neighbouring key is just one more probe.)
KEY_SCALE = 2.0 ** 36


@dataclass(frozen=True)
class _Geometry:
    """Centres (C, 3) and boundary vertices (V, 3) of cells as unit vectors: vertex j
    belongs to cell owner[j], is its position[j]-th, and vertex following[j] closes its edge."""

    centres: np.ndarray
    vertices: np.ndarray
    counts: np.ndarray
    owner: np.ndarray
    position: np.ndarray
    following: np.ndarray


def _geometry(cells: np.ndarray) -> _Geometry:
    centres = unit_vectors(*cell_centers(cells))
    offsets, corners = cell_boundaries(cells)  # one H3 call for all boundaries
    counts = np.diff(offsets)
    owner = np.repeat(np.arange(cells.size), counts)
    vertices = unit_vectors(corners[:, 0], corners[:, 1])
    position = np.arange(vertices.shape[0]) - offsets[:-1][owner]
    following = offsets[:-1][owner] + (position + 1) % counts[owner]
    return _Geometry(centres, vertices, counts, owner, position, following)


def _normalized(points: np.ndarray) -> np.ndarray:
    return points / np.linalg.norm(points, axis=1, keepdims=True)


def _degrees(points: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    return (np.degrees(np.arcsin(np.clip(points[:, 2], -1.0, 1.0))),
            np.degrees(np.arctan2(points[:, 1], points[:, 0])))


def _slots(geo: _Geometry) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Per cell [centre, its vertices, its midpoints]: (slots of each cell (C,),
    start of each cell, slot of each vertex, slot of each vertex's edge midpoint)
    in that layout; the slot count is the sum of the first."""
    per_cell = 1 + 2 * geo.counts
    start = np.concatenate([[0], np.cumsum(per_cell)[:-1]])
    vertex_slot = start[geo.owner] + 1 + geo.position
    return per_cell, start, vertex_slot, vertex_slot + geo.counts[geo.owner]


def probe_points(cells: np.ndarray, inset: float = INSET) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Probe points inside each cell: its centre, then its vertices, then its edge
    midpoints, each moved `inset` of the way towards the centre (the probes used
    at coverage edges; `inset=0` gives the boundary points themselves).

    cells: (C,) uint64 H3 indices. Returns lats, lons (P,) float64 degrees and
    owner (P,) int64, the position in `cells` of each probe's cell, non-decreasing.
    Vectorised over cells (one H3 call for all boundaries).
    """
    cells = np.asarray(cells, dtype=np.uint64)
    geo = _geometry(cells)
    per_cell, start, vertex_slot, midpoint_slot = _slots(geo)
    points = np.empty((int(per_cell.sum()), 3))
    owner = np.repeat(np.arange(cells.size, dtype=np.int64), per_cell)
    points[start] = geo.centres
    points[vertex_slot] = geo.vertices
    points[midpoint_slot] = _normalized(geo.vertices + geo.vertices[geo.following])
    points = _normalized((1.0 - inset) * points + inset * geo.centres[owner])
    lats, lons = _degrees(points)
    return lats, lons, owner


def _touches_only_stored(cells: np.ndarray, geo: _Geometry, grid: Grid) -> np.ndarray:
    """(V,) bool: whether the three cell centres nearest to each vertex (the cells
    that share it) are all stored, i.e. the interpolation is continuous there."""
    members, member_owner = neighbor_disks(cells)            # each disk holds its own cell
    first = np.searchsorted(member_owner, np.arange(cells.size))
    column = np.arange(members.size) - first[member_owner]
    width = int(column.max()) + 1
    centres = np.zeros((cells.size, width, 3))              # padding: dot 0, never among the nearest
    centres[member_owner, column] = unit_vectors(*cell_centers(members))
    stored = np.ones((cells.size, width), dtype=bool)
    stored[member_owner, column] = grid.rows_of(members) >= 0
    dots = np.einsum("vk,vjk->vj", geo.vertices, centres[geo.owner])
    nearest = np.argpartition(-dots, 2, axis=1)[:, :3]
    return stored[geo.owner[:, None], nearest].all(axis=1)


def _unique_rows(keys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Distinct rows of an (K, W) int64 array (sorted) and each row's index among them
    (`np.unique(keys, axis=0, return_inverse=True)`, several times faster)."""
    if keys.shape[0] == 0:
        return keys, np.empty(0, dtype=np.int64)
    order = np.lexsort(keys.T[::-1])
    ordered = keys[order]
    new = np.empty(keys.shape[0], dtype=bool)
    new[0] = True
    np.any(ordered[1:] != ordered[:-1], axis=1, out=new[1:])
    group = np.cumsum(new) - 1
    inverse = np.empty(keys.shape[0], dtype=np.int64)
    inverse[order] = group
    return ordered[new], inverse


def interp_error(encoder: LocationEncoder, cells: np.ndarray, h3_ids: np.ndarray, values: np.ndarray,
                 scale: np.ndarray | None = None, *, live: np.ndarray | None = None,
                 inset: float = INSET, num_threads: int = 0, batch_size: int = 16384) -> np.ndarray:
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
        Their embeddings as stored (`satcle.grid.format.store.quantize` output), so that the
        bound includes the quantisation error.
    live : (C, D) float32, optional
        The encoder's embeddings of `cells` at their centres, if already computed
        (the builder has them before quantising); else they are computed.
    num_threads : int
        Threads of the lookup kernels (0: all cores).
    batch_size : int
        Points per network pass of the live evaluations (`LocationEncoder.encode`).

    The result for a cell depends only on the cell and its stored neighbours,
    not on which other cells are bounded in the same call.
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
        raise InvalidArgumentError("every cell to bound must be among h3_ids")

    geo = _geometry(cells)
    per_cell, start, vertex_slot, midpoint_slot = _slots(geo)
    vertex_ok = _touches_only_stored(cells, geo, grid)
    midpoint_ok = vertex_ok & vertex_ok[geo.following]
    # Shared boundary probes, deduplicated by key: [kind, x, y, z] with kind 0 for a
    # vertex (key = rounded unit vector) and 1 for an edge midpoint (key = sum of
    # its two vertices' keys, so the same whichever cell it was reached from).
    vertex_key = np.rint(geo.vertices * KEY_SCALE).astype(np.int64)
    midpoint_key = vertex_key + vertex_key[geo.following]
    keys = np.concatenate([
        np.column_stack([np.zeros(int(vertex_ok.sum()), dtype=np.int64), vertex_key[vertex_ok]]),
        np.column_stack([np.ones(int(midpoint_ok.sum()), dtype=np.int64), midpoint_key[midpoint_ok]]),
    ])
    shared, shared_of = _unique_rows(keys)
    shared_points = _normalized(shared[:, 1:].astype(np.float64))
    # Boundary probes at coverage edges: inside their own cell, for it alone.
    inset_vertices = np.flatnonzero(~vertex_ok)
    inset_midpoints = np.flatnonzero(~midpoint_ok)
    inset_points = np.concatenate([
        geo.vertices[inset_vertices],
        _normalized(geo.vertices[inset_midpoints] + geo.vertices[geo.following[inset_midpoints]]),
    ])
    inset_owner = geo.owner[np.concatenate([inset_vertices, inset_midpoints])]
    inset_points = _normalized((1.0 - inset) * inset_points + inset * geo.centres[inset_owner])

    # Evaluate [centres (C), shared (S), inset (I)] in chunks, so that the
    # interpolated and live rows are compared while still in cache (and each
    # `encode` call, which prepares the network's weights, covers many points).
    lats, lons = _degrees(np.concatenate([geo.centres, shared_points, inset_points]))
    relative = np.empty(lats.size)
    approx = empty_aligned((min(COMPARE_CHUNK, lats.size), grid.dim), np.float32)
    for begin in range(0, lats.size, COMPARE_CHUNK):
        end = min(begin + COMPARE_CHUNK, lats.size)
        got = grid.lookup(lats[begin:end], lons[begin:end], method="interp", on_miss="nan",
                          num_threads=num_threads, out=approx[: end - begin])
        if live is not None and end <= cells.size:
            exact = np.asarray(live[begin:end], dtype=np.float32)
        elif live is not None and begin < cells.size:
            exact = np.concatenate([np.asarray(live[begin:], dtype=np.float32),
                                    encoder.encode(lats[cells.size:end], lons[cells.size:end], batch_size=batch_size)])
        else:
            exact = encoder.encode(lats[begin:end], lons[begin:end], batch_size=batch_size)
        got -= exact
        relative[begin:end] = np.sqrt(np.einsum("ij,ij->i", got, got)
                                      / np.maximum(np.einsum("ij,ij->i", exact, exact), 1e-60))
    if np.isnan(relative).any():
        raise InvalidArgumentError("a probe fell outside the stored cells: h3_ids lacks a stored neighbour")

    # Each cell's slots point at the evaluated probe that stands for them.
    n_shared = shared.shape[0]
    slot_probe = np.empty(int(per_cell.sum()), dtype=np.int64)
    slot_probe[start] = np.arange(cells.size)
    n_vertex_ok = int(vertex_ok.sum())
    slot_probe[vertex_slot[vertex_ok]] = cells.size + shared_of[:n_vertex_ok]
    slot_probe[midpoint_slot[midpoint_ok]] = cells.size + shared_of[n_vertex_ok:]
    inset_base = cells.size + n_shared
    slot_probe[vertex_slot[inset_vertices]] = inset_base + np.arange(inset_vertices.size)
    slot_probe[midpoint_slot[inset_midpoints]] = inset_base + inset_vertices.size + np.arange(inset_midpoints.size)
    return np.maximum.reduceat(relative[slot_probe], start).astype(np.float32)
