"""The acceleration structure a lookup searches: cell records and a candidate raster.

Built once when a grid is opened, from the stored cells alone. What a point
needs is laid out so that locating it costs a few cache misses, not a dozen:

* a regular lat/lon raster whose every bucket lists, contiguously, each stored
  centre that can be nearest to a point of that bucket (its coordinates and row
  in 16 bytes), so the nearest-centre search reads one short run of memory;
* one 128-byte record per cell (two cache lines): its centre, its H3 neighbours
  counter-clockwise and their centres, i.e. everything the interpolation
  triangle needs;
* each cell's edges as inward great-circle normals, read only by the exact
  containing-cell test.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from ...core.errors import InvalidArgumentError
from ...geo.h3_cells import cell_boundaries, cell_centers, neighbor_disks
from ...geo.sphere import unit_vectors

# Buckets of the raster at most (memory: 8 bytes each), overall and per stored cell.
MAX_BUCKETS = 1 << 24
MAX_BUCKETS_PER_CELL = 16
# Bucket side over the search radius: larger buckets list more candidates per
# bucket, smaller ones list each centre in more buckets.
BUCKET_RADII = 2.0
# Slack (degrees) on the buckets a centre is listed in, far above float rounding.
BUCKET_SLACK_DEG = 1e-9
# A point this close (sine of the angle) to an edge is re-checked by h3 itself.
EDGE_EPSILON = 1e-12
# A point outside every candidate by less than this fraction of the search radius
# is re-checked by h3 (guards the geometry against rounding of the vertices).
AMBIGUITY_FRACTION = 1e-3
# One cell record: the C struct `cell_record` of ext/grid_kernels.pxd, field for
# field (tests/grid/lookup/test_kernel_layout.py compares the two); int32 fields are
# stored bit for bit in the float32 array of records.
CELL_RECORD = np.dtype([("centre", "<f4", 3), ("neighbours", "<i4", 6), ("neighbour_xyz", "<f4", (6, 3)),
                        ("neighbour_count", "<i4"), ("padding", "<i4", 4)])


def _slots(field: str) -> slice:
    """The float32 slots of a record that hold `field`."""
    dtype, offset = CELL_RECORD.fields[field][:2]
    return slice(offset // 4, (offset + dtype.itemsize) // 4)


RECORD_SLOTS = CELL_RECORD.itemsize // 4
RECORD_CENTRE = _slots("centre")
RECORD_NEIGHBOURS = _slots("neighbours")
RECORD_NEIGHBOUR_XYZ = _slots("neighbour_xyz")
RECORD_NEIGHBOUR_COUNT = _slots("neighbour_count").start
CACHE_LINE = 64


@dataclass(frozen=True)
class CellIndex:
    """Geometry of M stored cells (rows of the grid table) and the search raster.

    records: (M, 32) float32, 64-byte aligned, one per cell: centre (x, y, z)
    as a float32 unit vector (centres are rounded to float32 everywhere, so that
    every triangle is computed from the same vertex coordinates whichever cell
    reaches it), then as int32 bits the rows of its 6 H3 neighbours
    counter-clockwise (-1 where not stored or, for pentagons, absent), their 6
    centres (18 float32), and the neighbour count (5 or 6) as int32 bits.
    edge_offsets: (M + 1,) int64 into edge_normals (E, 3) float64, unit normals
    pointing into the cell, edge i joining vertex i and i + 1 counter-clockwise;
    fan_start: (M,) int64 into fan_vertices (F, 3) float64, the vertices of the
    cells that are not convex (those crossing an icosahedron edge: more than 6
    vertices), -1 for the others. Raster: n_lat x n_lon buckets of delta
    degrees (360 / delta = n_lon exactly, so columns wrap), bucket_offsets
    (n_lat * n_lon + 1,) int64 into bucket_entries (C, 4) float32, each
    (x, y, z, row as int32 bits): every centre within radius_deg of some point
    of the bucket. radius_deg: no point of a stored cell is farther than this
    from its centre.
    """

    records: np.ndarray
    edge_offsets: np.ndarray
    edge_normals: np.ndarray
    fan_start: np.ndarray
    fan_vertices: np.ndarray
    bucket_offsets: np.ndarray
    bucket_entries: np.ndarray
    n_lat: int
    n_lon: int
    delta: float
    radius_deg: float

    @property
    def nbytes(self) -> int:
        """Bytes of all index arrays (what the index adds to the grid in memory)."""
        return sum(array.nbytes for array in self.arrays().values())

    def arrays(self) -> dict[str, np.ndarray]:
        """The index's arrays by field name (what a grid's lookup files store)."""
        return {name: getattr(self, name) for name in INDEX_ARRAYS}

    def constants(self) -> dict[str, int | float]:
        """The index's scalar fields by name (what a grid's manifest stores)."""
        return {name: getattr(self, name) for name in INDEX_CONSTANTS}

    @classmethod
    def from_parts(cls, arrays: dict[str, np.ndarray], constants: dict) -> "CellIndex":
        """The index of `arrays()` and `constants()` output (e.g. mapped from a grid's files)."""
        return cls(**{name: arrays[name] for name in INDEX_ARRAYS},
                   **{name: kind(constants[name]) for name, kind in INDEX_CONSTANTS.items()})

    @property
    def num_cells(self) -> int:
        """M, the number of stored cells indexed."""
        return self.records.shape[0]


INDEX_ARRAYS = ("records", "edge_offsets", "edge_normals", "fan_start", "fan_vertices", "bucket_offsets",
                "bucket_entries")
INDEX_CONSTANTS = {"n_lat": int, "n_lon": int, "delta": float, "radius_deg": float}


def _cross(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Row-wise cross product of (N, 3) arrays (np.cross is several times slower)."""
    out = np.empty(np.broadcast_shapes(a.shape, b.shape))
    out[:, 0] = a[:, 1] * b[:, 2] - a[:, 2] * b[:, 1]
    out[:, 1] = a[:, 2] * b[:, 0] - a[:, 0] * b[:, 2]
    out[:, 2] = a[:, 0] * b[:, 1] - a[:, 1] * b[:, 0]
    return out


def _dot(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Row-wise dot product of (N, 3) arrays."""
    return a[:, 0] * b[:, 0] + a[:, 1] * b[:, 1] + a[:, 2] * b[:, 2]


def empty_aligned(shape: tuple[int, ...], dtype) -> np.ndarray:
    """An uninitialised C-contiguous array starting on a 64-byte boundary (numpy
    guarantees 16): a 128-byte record then spans two cache lines, and the lookup
    streams output rows past the cache only where they are 32-byte aligned."""
    dtype = np.dtype(dtype)
    nbytes = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
    raw = np.empty(nbytes + CACHE_LINE, dtype=np.uint8)
    start = -raw.ctypes.data % CACHE_LINE
    return raw[start: start + nbytes].view(dtype).reshape(shape)


def build_cell_index(h3_ids: np.ndarray, lats: np.ndarray, lons: np.ndarray) -> CellIndex:
    """Build the `CellIndex` of M stored cells.

    h3_ids: (M,) uint64, strictly increasing; lats, lons: (M,) float64 centres in
    degrees. Cost: vectorised H3 (h3ronpy) and numpy, a few microseconds per
    cell, once per grid opening (or per machine with the index cache).
    """
    h3_ids = np.asarray(h3_ids, dtype=np.uint64)
    lats = np.asarray(lats, dtype=np.float64)
    lons = np.asarray(lons, dtype=np.float64)
    m = h3_ids.size
    if m == 0:
        raise InvalidArgumentError("a cell index needs at least one cell")
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

    records = empty_aligned((m, RECORD_SLOTS), np.float32)
    records[...] = 0
    record_ints = records.view(np.int32)
    records[:, RECORD_CENTRE] = centres
    record_ints[:, RECORD_NEIGHBOURS] = neighbours
    records[:, RECORD_NEIGHBOUR_XYZ] = np.where(neighbours[:, :, None] >= 0, centres[neighbours], 0.0).reshape(m, 18)
    record_ints[:, RECORD_NEIGHBOUR_COUNT] = ring_count

    radius_deg = math.degrees(radius) * 1.05 + 1e-9
    buckets = min(MAX_BUCKETS, max(MAX_BUCKETS_PER_CELL * m, 4096))
    n_lon = math.ceil(360.0 / max(BUCKET_RADII * radius_deg, math.sqrt(180.0 * 360.0 / buckets)))
    delta = 360.0 / n_lon
    n_lat = math.ceil(180.0 / delta)
    bucket_offsets, members = _candidate_raster(lats, lons, radius_deg, n_lat, n_lon, delta)
    bucket_entries = np.empty((members.size, 4), dtype=np.float32)
    bucket_entries[:, :3] = centres[members]
    bucket_entries.view(np.int32)[:, 3] = members
    return CellIndex(
        records=records,
        edge_offsets=edge_offsets,
        edge_normals=edge_normals,
        fan_start=fan_start,
        fan_vertices=fan_vertices if fan_vertices.size else np.zeros((1, 3)),
        bucket_offsets=bucket_offsets,
        bucket_entries=bucket_entries,
        n_lat=n_lat,
        n_lon=n_lon,
        delta=delta,
        radius_deg=radius_deg,
    )


def _candidate_raster(lats: np.ndarray, lons: np.ndarray, radius_deg: float, n_lat: int, n_lon: int,
                      delta: float) -> tuple[np.ndarray, np.ndarray]:
    """Which centres each bucket lists: (n_lat * n_lon + 1,) int64 offsets into
    (C,) int64 rows, every centre within radius_deg of some point of the bucket.

    A centre is listed in every bucket its search cap (radius_deg, degrees)
    touches: rows lat +- r, and columns lon +- asin(sin r / cos(|lat| + r)),
    the cap's longitude half-width bounded by its highest latitude, or the whole
    ring where the cap nears a pole.
    """
    slack = BUCKET_SLACK_DEG
    row0 = np.clip(np.floor((lats - radius_deg - slack + 90.0) / delta), 0, n_lat - 1).astype(np.int64)
    row1 = np.clip(np.floor((lats + radius_deg + slack + 90.0) / delta), 0, n_lat - 1).astype(np.int64)
    top = np.abs(lats) + radius_deg
    ratio = math.sin(math.radians(radius_deg)) / np.maximum(np.cos(np.radians(np.minimum(top, 90.0))), 1e-300)
    half = np.degrees(np.arcsin(np.minimum(ratio, 1.0))) + slack
    col0 = np.floor((lons - half + 180.0) / delta).astype(np.int64)
    col1 = np.floor((lons + half + 180.0) / delta).astype(np.int64)
    whole_ring = (ratio >= 1.0) | (top >= 90.0) | (col1 - col0 + 1 >= n_lon)
    col0[whole_ring] = 0
    col1[whole_ring] = n_lon - 1
    # Expand cell -> (cell, row) -> (cell, row, column), then group by bucket.
    n_rows = row1 - row0 + 1
    cell_of_row = np.repeat(np.arange(lats.size), n_rows)
    row = row0[cell_of_row] + np.arange(cell_of_row.size) - np.repeat(np.cumsum(n_rows) - n_rows, n_rows)
    n_cols = (col1 - col0 + 1)[cell_of_row]
    cell = np.repeat(cell_of_row, n_cols)
    col = (np.repeat(col0[cell_of_row], n_cols) + np.arange(cell.size)
           - np.repeat(np.cumsum(n_cols) - n_cols, n_cols)) % n_lon
    bucket = np.repeat(row, n_cols) * n_lon + col
    order = np.argsort(bucket, kind="stable")
    offsets = np.zeros(n_lat * n_lon + 1, dtype=np.int64)
    np.cumsum(np.bincount(bucket, minlength=n_lat * n_lon), out=offsets[1:])
    return offsets, cell[order]


def _cell_edges(centres: np.ndarray, offsets: np.ndarray, latlon: np.ndarray
                ) -> tuple[np.ndarray, np.ndarray, np.ndarray, float]:
    """Edge offsets, inward edge normals and vertices (counter-clockwise), and
    the largest centre-to-vertex angle (radians), from `cell_boundaries` output."""
    counts = np.diff(offsets)
    vertices = unit_vectors(latlon[:, 0], latlon[:, 1])
    owner = np.repeat(np.arange(counts.size), counts)
    position = np.arange(vertices.shape[0]) - offsets[owner]
    following = offsets[owner] + (position + 1) % counts[owner]
    normals = _cross(vertices, vertices[following])
    # h3 lists vertices counter-clockwise; reverse any cell listed the other way.
    clockwise = np.add.reduceat(_dot(normals, centres[owner]), offsets[:-1]) < 0
    if clockwise.any():
        reverse = clockwise[owner]
        order = np.where(reverse, offsets[owner] + counts[owner] - 1 - position, np.arange(owner.size))
        vertices = vertices[order]
        normals = _cross(vertices, vertices[following])
    norm = np.sqrt(_dot(normals, normals))
    normals /= np.where(norm > 0, norm, 1.0)[:, None]
    radius = float(np.arccos(np.clip(_dot(vertices, centres[owner]).min(), -1.0, 1.0)))
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
    east = _cross(up, centres)
    east /= np.sqrt(_dot(east, east))[:, None]
    north = _cross(centres, east)
    angle = np.arctan2(np.einsum("mkj,mj->mk", ring_xyz, north), np.einsum("mkj,mj->mk", ring_xyz, east))
    angle[~present] = np.inf
    order = np.argsort(angle, axis=1)
    ring_rows = np.full((m, 6), -1, dtype=np.int32)
    ring_rows[present] = np.where(known, slot, -1)
    return np.ascontiguousarray(np.take_along_axis(ring_rows, order, axis=1))
