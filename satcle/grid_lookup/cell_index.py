"""The acceleration structure a lookup searches: cell geometry and a lat/lon raster.

Built once when a grid is opened, from the stored cells alone: cell centres as
unit vectors, each cell's edges as inward great-circle normals (for the exact
containing-cell test), each cell's H3 neighbours ordered counter-clockwise (the
triangles of the interpolation), and a regular lat/lon raster whose buckets
list the centres inside them (the nearest-centre search).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from ..grid.h3_cells import cell_boundaries, cell_centers, neighbor_disks

# Buckets of the raster at most (memory: 8 bytes each), overall and per stored
# cell; coarser buckets only cost a few more centre comparisons per point.
MAX_BUCKETS = 1 << 24
MAX_BUCKETS_PER_CELL = 16
# A point this close (sine of the angle) to an edge is re-checked by h3 itself.
EDGE_EPSILON = 1e-12
# A point outside every candidate by less than this fraction of the search radius
# is re-checked by h3 (guards the geometry against rounding of the vertices).
AMBIGUITY_FRACTION = 1e-3


@dataclass(frozen=True)
class CellIndex:
    """Geometry of M stored cells (rows of the grid table) and the search raster.

    centres: (M, 3) float64 unit vectors; edge_offsets: (M + 1,) int64 into
    edge_normals (E, 3) float64, unit normals pointing into the cell, edge i
    joining vertex i and i + 1 counter-clockwise; fan_start: (M,) int64 into
    fan_vertices (F, 3) float64, the vertices of the cells that are not convex
    (those crossing an icosahedron edge: more than 6 vertices), -1 for the others;
    neighbours: (M, 6) int32 rows of the H3 neighbours counter-clockwise, -1 where
    the neighbour is not stored or (pentagons) absent; neighbour_count: (M,) int8,
    5 or 6; neighbour_xyz: (M, 6, 3) float32, their centres (centres are rounded
    to float32 everywhere, so that every triangle is computed from the same
    vertex coordinates whichever cell it is reached from). Raster: n_lat x n_lon
    buckets of delta degrees, bucket_offsets (n_lat * n_lon + 1,) int64 into
    bucket_entries (M, 4) float64, each (x, y, z, row).
    radius_deg: no point of a stored cell is farther than this from its centre.
    """

    centres: np.ndarray
    edge_offsets: np.ndarray
    edge_normals: np.ndarray
    fan_start: np.ndarray
    fan_vertices: np.ndarray
    neighbours: np.ndarray
    neighbour_count: np.ndarray
    neighbour_xyz: np.ndarray
    bucket_offsets: np.ndarray
    bucket_entries: np.ndarray
    n_lat: int
    n_lon: int
    delta: float
    radius_deg: float

    @property
    def nbytes(self) -> int:
        return sum(getattr(self, f).nbytes for f in (
            "centres", "edge_offsets", "edge_normals", "fan_start", "fan_vertices", "neighbours", "neighbour_count",
            "neighbour_xyz", "bucket_offsets", "bucket_entries"))


def unit_vectors(lats: np.ndarray, lons: np.ndarray) -> np.ndarray:
    """(N,) degrees -> (N, 3) float64 unit vectors (x towards lon 0, z north)."""
    phi = np.radians(np.asarray(lats, dtype=np.float64))
    lam = np.radians(np.asarray(lons, dtype=np.float64))
    return np.stack([np.cos(phi) * np.cos(lam), np.cos(phi) * np.sin(lam), np.sin(phi)], axis=1)


def build_cell_index(h3_ids: np.ndarray, lats: np.ndarray, lons: np.ndarray) -> CellIndex:
    """Build the `CellIndex` of M stored cells.

    h3_ids: (M,) uint64, strictly increasing; lats, lons: (M,) float64 centres in
    degrees. Cost: vectorised H3 (h3ronpy) and numpy, a few microseconds per
    cell, once per grid opening (or per machine with the index cache).
    """
    h3_ids = np.asarray(h3_ids, dtype=np.uint64)
    m = h3_ids.size
    if m == 0:
        raise ValueError("a cell index needs at least one cell")
    centres = np.ascontiguousarray(unit_vectors(lats, lons).astype(np.float32).astype(np.float64))

    vertex_offsets, vertex_latlon = cell_boundaries(h3_ids)
    ring_ids, ring_count = _rings(h3_ids)
    edge_offsets, edge_normals, vertices, radius = _cell_edges(centres, vertex_offsets, vertex_latlon)
    counts = np.diff(edge_offsets)
    fan = counts > 6
    fan_start = np.full(m, -1, dtype=np.int64)
    fan_start[fan] = np.concatenate([[0], np.cumsum(counts[fan])[:-1]]) if fan.any() else []
    fan_rows = np.concatenate([np.arange(edge_offsets[i], edge_offsets[i + 1]) for i in np.flatnonzero(fan)]
                              ) if fan.any() else np.zeros(0, dtype=np.int64)
    fan_vertices = np.ascontiguousarray(vertices[fan_rows].reshape(-1, 3))
    neighbours = _ordered_neighbours(h3_ids, centres, ring_ids, ring_count)
    radius_deg = math.degrees(radius) * 1.05 + 1e-9
    buckets = min(MAX_BUCKETS, max(MAX_BUCKETS_PER_CELL * m, 4096))
    delta = max(radius_deg, math.sqrt(180.0 * 360.0 / buckets))
    n_lat = math.ceil(180.0 / delta)
    n_lon = math.ceil(360.0 / delta)
    rows = np.clip(np.floor((np.asarray(lats) + 90.0) / delta).astype(np.int64), 0, n_lat - 1)
    cols = np.floor((np.asarray(lons) + 180.0) / delta).astype(np.int64) % n_lon
    bucket = rows * n_lon + cols
    order = np.argsort(bucket, kind="stable")
    bucket_offsets = np.zeros(n_lat * n_lon + 1, dtype=np.int64)
    np.cumsum(np.bincount(bucket, minlength=n_lat * n_lon), out=bucket_offsets[1:])
    return CellIndex(
        centres=centres,
        edge_offsets=edge_offsets,
        edge_normals=edge_normals,
        fan_start=fan_start,
        fan_vertices=fan_vertices if fan_vertices.size else np.zeros((1, 3)),
        neighbours=neighbours,
        neighbour_count=ring_count,
        neighbour_xyz=np.ascontiguousarray(np.where(neighbours[:, :, None] >= 0, centres[neighbours], 0.0),
                                           dtype=np.float32),
        bucket_offsets=bucket_offsets,
        bucket_entries=np.ascontiguousarray(np.column_stack([centres[order], order.astype(np.float64)])),
        n_lat=n_lat,
        n_lon=n_lon,
        delta=delta,
        radius_deg=radius_deg,
    )


def _cell_edges(centres: np.ndarray, offsets: np.ndarray, latlon: np.ndarray
                ) -> tuple[np.ndarray, np.ndarray, np.ndarray, float]:
    """Edge offsets, inward edge normals and vertices (counter-clockwise), and
    the largest centre-to-vertex angle (radians), from `cell_boundaries` output."""
    counts = np.diff(offsets)
    vertices = unit_vectors(latlon[:, 0], latlon[:, 1])
    owner = np.repeat(np.arange(counts.size), counts)
    position = np.arange(vertices.shape[0]) - offsets[owner]
    following = offsets[owner] + (position + 1) % counts[owner]
    # h3 lists vertices counter-clockwise; reverse any cell listed the other way.
    facing = np.einsum("ij,ij->i", np.cross(vertices, vertices[following]), centres[owner])
    clockwise = np.add.reduceat(facing, offsets[:-1]) < 0
    if clockwise.any():
        reverse = clockwise[owner]
        order = np.where(reverse, offsets[owner] + counts[owner] - 1 - position, np.arange(owner.size))
        vertices = vertices[order]
    normals = np.cross(vertices, vertices[following])
    norm = np.linalg.norm(normals, axis=1)
    normals /= np.where(norm > 0, norm, 1.0)[:, None]
    radius = float(np.arccos(np.clip(np.einsum("ij,ij->i", vertices, centres[owner]), -1.0, 1.0)).max())
    return offsets, np.ascontiguousarray(normals), vertices, radius


def _rings(h3_ids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Each cell's H3 neighbours, unordered: ids (M, 6) uint64 (0 past the
    count) and counts (M,) int8 (6, or 5 for pentagons)."""
    members, owner = neighbor_disks(h3_ids)
    ring = members != h3_ids[owner]
    members, owner = members[ring], owner[ring]
    count = np.bincount(owner, minlength=h3_ids.size)
    first = np.zeros(h3_ids.size, dtype=np.int64)
    np.cumsum(count[:-1], out=first[1:])
    ring_ids = np.zeros((h3_ids.size, 6), dtype=np.uint64)
    ring_ids[owner, np.arange(owner.size) - first[owner]] = members
    return ring_ids, count.astype(np.int8)


def _ordered_neighbours(h3_ids: np.ndarray, centres: np.ndarray, ring_ids: np.ndarray,
                        ring_count: np.ndarray) -> np.ndarray:
    m = h3_ids.size
    present = np.arange(6)[None, :] < ring_count[:, None]
    flat = ring_ids[present]
    slot = np.minimum(np.searchsorted(h3_ids, flat), m - 1)
    known = h3_ids[slot] == flat
    flat_xyz = np.empty((flat.size, 3))
    flat_xyz[known] = centres[slot[known]]
    # Only neighbours outside the grid need h3 for their centres.
    outside_lat, outside_lon = cell_centers(flat[~known])
    flat_xyz[~known] = unit_vectors(outside_lat, outside_lon)
    ring_xyz = np.zeros((m, 6, 3))
    ring_xyz[present] = flat_xyz
    # Tangent basis at each centre; azimuths are counter-clockwise seen from outside.
    up = np.where(np.abs(centres[:, 2:3]) < 0.9, [[0.0, 0.0, 1.0]], [[1.0, 0.0, 0.0]])
    east = np.cross(up, centres)
    east /= np.linalg.norm(east, axis=1, keepdims=True)
    north = np.cross(centres, east)
    angle = np.arctan2(np.einsum("mkj,mj->mk", ring_xyz, north), np.einsum("mkj,mj->mk", ring_xyz, east))
    angle[~present] = np.inf
    order = np.argsort(angle, axis=1)
    sorted_ids = np.take_along_axis(ring_ids, order, axis=1)
    slot = np.searchsorted(h3_ids, sorted_ids)
    slot = np.minimum(slot, m - 1)
    stored = (h3_ids[slot] == sorted_ids) & present
    return np.ascontiguousarray(np.where(stored, slot, -1).astype(np.int32))
