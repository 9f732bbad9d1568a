"""The acceleration structure a lookup searches: per-cell tables and a candidate raster.

Built once by the builder (stored in the grid's lookup files), from the stored
cells alone, as flat arrays of 32-bit numbers so that it stays a small fraction
of the rows (121 bytes per cell at res 6 against 512 bytes of float16 row:
`benchmarks/bench_index.py`):

* per cell, its centre as a float32 unit vector and the rows of its 6 H3
  neighbours counter-clockwise: everything the interpolation triangle needs
  (the neighbours' centres are read from the same centre array);
* per cell, the indices of its boundary vertices in one table of deduplicated
  float32 vertices (each vertex is shared by up to 3 cells), from which the
  exact containing-cell test computes the edges' great circles;
* a lat/lon raster over the grid's bounding box whose every bucket lists,
  contiguously, the row of each stored centre that can be nearest to a point
  of that bucket.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from ...core.errors import GridFormatError, InvalidArgumentError
from ...geo.h3_cells import cell_boundaries, cell_centers, neighbor_disks
from ...geo.sphere import unit_vectors
# The layout the arrays are stored in and the bounds their values keep belong to
# the lookup files' format; this module builds them.
from ..format.index_layout import ABSENT, INDEX_ARRAYS, INDEX_CONSTANTS, NOT_STORED, index_problem
from ..format.lookup_files import lookup_file
from ..format.store import MANIFEST_FILE

# Buckets of the raster at most (4 bytes each), overall and per stored cell:
# sparse grids get larger buckets rather than mostly empty ones.
MAX_BUCKETS = 1 << 24
MAX_BUCKETS_PER_CELL = 4
# Bucket side over the search radius: larger buckets list more candidates per
# bucket, smaller ones list each centre in more buckets.
BUCKET_RADII = 2.0
# Slack (degrees) on the buckets a centre is listed in, far above float rounding.
BUCKET_SLACK_DEG = 1e-9
# A box of buckets this wide in longitude (degrees) or wider spans the whole
# circle instead, its columns wrapping at the antimeridian.
WRAP_WIDTH_DEG = 270.0
# A point this close (sine of the angle) to an edge is re-checked by h3 itself.
# The edges are great circles through float32-rounded vertices (each coordinate
# within 2**-25 of the exact one, so a vertex moves by at most 5.2e-8 and an
# edge, within the extent of its cell, by at most twice that): a point farther
# from every edge than this is on the same side as of h3's exact edge.
EDGE_EPSILON = 2e-7
# A point outside every candidate by less than this fraction of the search radius
# is re-checked by h3 (guards the geometry against rounding of the vertices).
AMBIGUITY_FRACTION = 1e-3
CACHE_LINE = 64


@dataclass(frozen=True)
class CellIndex:
    """Geometry of M stored cells (rows of the grid table) and the search raster.

    centres: (M, 3) float32, each cell's centre as a unit vector (rounded to
    float32 everywhere, so that every triangle is computed from the same vertex
    coordinates whichever cell reaches it).
    neighbours: (M, 6) int32, the rows of each cell's H3 neighbours ordered
    counter-clockwise, NOT_STORED (-1) where the grid does not store one,
    ABSENT (-2) in the last slot of a pentagon.
    cell_vertices: (M, 6) int32, each cell's boundary vertices counter-clockwise
    as rows of `vertices` (V, 3) float32 unit vectors, deduplicated (vertex i and
    i + 1 bound edge i); a pentagon's sixth entry is -1. A cell with more than 6
    vertices (odd resolutions: distortion vertices where it crosses an
    icosahedron edge, making it non-convex) has -1 - k in its first entry and its
    vertices in `fan_vertex_ids[fan_offsets[k]:fan_offsets[k + 1]]` (int32
    rows of `vertices`; fan_offsets (F + 1,) int32, F such cells).
    Raster: n_lat x n_lon buckets of delta degrees from (lat0, lon0), the
    south-west corner of the grid's box (every centre's search cap inside); with
    `wraps` (1) the box is the whole circle of longitudes, lon0 = -180 and
    360 / delta = n_lon exactly, so columns wrap. bucket_offsets
    (n_lat * n_lon + 1,) int32 into bucket_rows (C,) int32: every row whose
    centre is within radius_deg of some point of the bucket. radius_deg: no
    point of a stored cell is farther than this from its centre.

    Every index is checked when made (`validate_index`: the compiled search trusts
    its values), whether built here or mapped from a grid's files.
    """

    centres: np.ndarray
    neighbours: np.ndarray
    cell_vertices: np.ndarray
    vertices: np.ndarray
    fan_offsets: np.ndarray
    fan_vertex_ids: np.ndarray
    bucket_offsets: np.ndarray
    bucket_rows: np.ndarray
    n_lat: int
    n_lon: int
    wraps: int
    lat0: float
    lon0: float
    delta: float
    radius_deg: float

    def __post_init__(self) -> None:
        validate_index(self)

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
        try:
            values = {name: kind(constants[name]) for name, kind in INDEX_CONSTANTS.items()}
        except (KeyError, TypeError, ValueError, OverflowError) as exc:
            raise GridFormatError(f"{MANIFEST_FILE} (lookup.index): corrupt cell index: missing or unreadable "
                                  f"raster constants ({type(exc).__name__}: {exc})") from None
        missing = [name for name in INDEX_ARRAYS if name not in arrays]
        if missing:
            raise GridFormatError(f"{lookup_file(missing[0])}: the manifest lists no such lookup file")
        return cls(**{name: arrays[name] for name in INDEX_ARRAYS}, **values)

    @property
    def num_cells(self) -> int:
        """M, the number of stored cells indexed."""
        return self.centres.shape[0]


def validate_index(index: CellIndex) -> None:
    """Raise GridFormatError ("<file>: corrupt cell index: ...", the file being the
    lookup file of the bad array, or the manifest for a constant) unless every array
    of `index` has the layout the kernels read, its coordinates are finite and every
    row, vertex and offset it holds points inside the array it indexes, offsets
    ascending (`satcle.grid.format.index_layout.index_problem`): the compiled search
    trusts them, so an index out of bounds would read outside memory. Vectorised: a
    few passes over the arrays."""
    problem = index_problem(index.arrays(), index.constants())
    if problem is not None:
        name, what = problem
        where = f"{MANIFEST_FILE} (lookup.index)" if name == "constants" else lookup_file(name)
        raise GridFormatError(f"{where}: corrupt cell index: {what}")


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
    guarantees 16): the lookup streams output rows past the cache only where
    they are 32-byte aligned, and an index read from the cache starts on a line."""
    dtype = np.dtype(dtype)
    nbytes = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
    raw = np.empty(nbytes + CACHE_LINE, dtype=np.uint8)
    start = -raw.ctypes.data % CACHE_LINE
    return raw[start: start + nbytes].view(dtype).reshape(shape)


def build_cell_index(h3_ids: np.ndarray, lats: np.ndarray, lons: np.ndarray) -> CellIndex:
    """Build the `CellIndex` of M stored cells.

    h3_ids: (M,) uint64, strictly increasing; lats, lons: (M,) float64 centres in
    degrees. Cost: vectorised H3 (h3ronpy) and numpy, a few microseconds per
    cell, once per grid (by the builder, or per machine with the index cache for
    grids without lookup files).
    """
    h3_ids = np.asarray(h3_ids, dtype=np.uint64)
    lats = np.asarray(lats, dtype=np.float64)
    lons = np.asarray(lons, dtype=np.float64)
    m = h3_ids.size
    if m == 0:
        raise InvalidArgumentError("a cell index needs at least one cell")
    if m >= 2**31:
        raise InvalidArgumentError(f"a cell index holds fewer than 2**31 cells (int32 rows), got {m}")
    centres32 = unit_vectors(lats, lons).astype(np.float32)
    centres = centres32.astype(np.float64)

    vertex_offsets, vertex_latlon = cell_boundaries(h3_ids)
    vertices, radius = _ccw_vertices(centres, vertex_offsets, vertex_latlon)
    vertex_table, vertex_ids = _deduplicated(vertices.astype(np.float32))
    cell_vertices, fan_offsets, fan_vertex_ids = _vertex_lists(vertex_offsets, vertex_ids)
    ring_ids, ring_count = _rings(h3_ids)
    neighbours = _ordered_neighbours(h3_ids, centres, ring_ids, ring_count)
    neighbours[np.arange(6)[None, :] >= ring_count[:, None]] = ABSENT

    radius_deg = math.degrees(radius) * 1.05 + 1e-9
    raster = _raster_box(lats, lons, radius_deg, m)
    bucket_offsets, bucket_rows = _candidate_raster(lats, lons, radius_deg, raster)
    return CellIndex(centres=centres32, neighbours=neighbours, cell_vertices=cell_vertices, vertices=vertex_table,
                     fan_offsets=fan_offsets, fan_vertex_ids=fan_vertex_ids, bucket_offsets=bucket_offsets,
                     bucket_rows=bucket_rows, radius_deg=radius_deg, **raster)


def _cap_half_widths(lats: np.ndarray, radius_deg: float) -> tuple[np.ndarray, np.ndarray]:
    """Longitude half-width (degrees) of each centre's search cap, bounded by its
    highest latitude (asin(sin r / cos(|lat| + r))), with slack; and whether the
    cap spans every longitude (it nears a pole)."""
    top = np.abs(lats) + radius_deg
    ratio = math.sin(math.radians(radius_deg)) / np.maximum(np.cos(np.radians(np.minimum(top, 90.0))), 1e-300)
    half = np.degrees(np.arcsin(np.minimum(ratio, 1.0))) + BUCKET_SLACK_DEG
    return half, (ratio >= 1.0) | (top >= 90.0)


def _raster_box(lats: np.ndarray, lons: np.ndarray, radius_deg: float, m: int) -> dict:
    """The raster's constants (`CellIndex` n_lat, n_lon, wraps, lat0, lon0, delta):
    a box holding every centre's search cap, its longitudes the shortest arc
    holding the centres (or the whole circle), buckets of about BUCKET_RADII
    search radii, fewer where that would make more than MAX_BUCKETS_PER_CELL per cell."""
    slack = BUCKET_SLACK_DEG
    half, whole_ring = _cap_half_widths(lats, radius_deg)
    lat_lo = max(-90.0, float(lats.min()) - radius_deg - 2 * slack)
    lat_hi = min(90.0, float(lats.max()) + radius_deg + 2 * slack)
    ordered = np.sort(np.mod(lons + 180.0, 360.0) - 180.0)
    gaps = np.append(np.diff(ordered), ordered[0] + 360.0 - ordered[-1])
    widest = int(np.argmax(gaps))
    start = ordered[(widest + 1) % ordered.size]
    margin = float(half.max()) + slack
    width = 360.0 - float(gaps[widest]) + 2 * margin
    wraps = bool(whole_ring.any()) or width >= WRAP_WIDTH_DEG
    area = (lat_hi - lat_lo) * (360.0 if wraps else width)
    side = max(BUCKET_RADII * radius_deg, math.sqrt(area / min(MAX_BUCKETS, MAX_BUCKETS_PER_CELL * m)))
    if wraps:
        n_lon = math.ceil(360.0 / side)
        delta, lon0 = 360.0 / n_lon, -180.0
    else:
        delta, lon0 = side, float(start) - margin
        n_lon = math.floor(width / delta) + 1
    n_lat = math.floor((lat_hi - lat_lo) / delta) + 1
    return {"n_lat": n_lat, "n_lon": n_lon, "wraps": int(wraps), "lat0": lat_lo, "lon0": lon0, "delta": delta}


def _candidate_raster(lats: np.ndarray, lons: np.ndarray, radius_deg: float, raster: dict
                      ) -> tuple[np.ndarray, np.ndarray]:
    """Which rows each bucket lists: (n_lat * n_lon + 1,) int32 offsets into
    (C,) int32 rows, every centre within radius_deg of some point of the bucket.

    A centre is listed in every bucket its search cap (radius_deg, degrees)
    touches: rows lat +- r, and columns lon +- the cap's half-width
    (`_cap_half_widths`), or the whole ring where the cap nears a pole.
    """
    slack = BUCKET_SLACK_DEG
    n_lat, n_lon, delta, lat0 = raster["n_lat"], raster["n_lon"], raster["delta"], raster["lat0"]
    row0 = np.clip(np.floor((lats - radius_deg - slack - lat0) / delta), 0, n_lat - 1).astype(np.int64)
    row1 = np.clip(np.floor((lats + radius_deg + slack - lat0) / delta), 0, n_lat - 1).astype(np.int64)
    half, whole_ring = _cap_half_widths(lats, radius_deg)
    along = np.mod(lons - raster["lon0"], 360.0)   # degrees east of the box's west edge
    col0 = np.floor((along - half) / delta).astype(np.int64)
    col1 = np.floor((along + half) / delta).astype(np.int64)
    if raster["wraps"]:
        whole_ring |= col1 - col0 + 1 >= n_lon
        col0[whole_ring] = 0
        col1[whole_ring] = n_lon - 1
    else:
        col0, col1 = np.clip(col0, 0, n_lon - 1), np.clip(col1, 0, n_lon - 1)
    # Expand cell -> (cell, row) -> (cell, row, column), then group by bucket.
    n_rows = row1 - row0 + 1
    cell_of_row = np.repeat(np.arange(lats.size), n_rows)
    row = row0[cell_of_row] + np.arange(cell_of_row.size) - np.repeat(np.cumsum(n_rows) - n_rows, n_rows)
    n_cols = (col1 - col0 + 1)[cell_of_row]
    cell = np.repeat(cell_of_row, n_cols)
    col = (np.repeat(col0[cell_of_row], n_cols) + np.arange(cell.size)
           - np.repeat(np.cumsum(n_cols) - n_cols, n_cols)) % n_lon
    if cell.size >= 2**31:
        raise InvalidArgumentError(f"the candidate raster would list {cell.size} rows, more than int32 offsets hold")
    bucket = np.repeat(row, n_cols) * n_lon + col
    order = np.argsort(bucket, kind="stable")
    offsets = np.zeros(n_lat * n_lon + 1, dtype=np.int32)
    np.cumsum(np.bincount(bucket, minlength=n_lat * n_lon), out=offsets[1:])
    return offsets, cell[order].astype(np.int32)


def _ccw_vertices(centres: np.ndarray, offsets: np.ndarray, latlon: np.ndarray) -> tuple[np.ndarray, float]:
    """The cells' vertices (V, 3) float64 unit vectors, each cell's counter-clockwise
    seen from outside, and the largest centre-to-vertex angle (radians), from
    `cell_boundaries` output."""
    counts = np.diff(offsets)
    vertices = unit_vectors(latlon[:, 0], latlon[:, 1])
    owner = np.repeat(np.arange(counts.size), counts)
    position = np.arange(vertices.shape[0]) - offsets[owner]
    following = offsets[owner] + (position + 1) % counts[owner]
    # h3 lists vertices counter-clockwise; reverse any cell listed the other way.
    clockwise = np.add.reduceat(_dot(_cross(vertices, vertices[following]), centres[owner]), offsets[:-1]) < 0
    if clockwise.any():
        reverse = clockwise[owner]
        vertices = vertices[np.where(reverse, offsets[owner] + counts[owner] - 1 - position, np.arange(owner.size))]
    radius = float(np.arccos(np.clip(_dot(vertices, centres[owner]).min(), -1.0, 1.0)))
    return vertices, radius


def _deduplicated(vertices: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(V, 3) float32 vertices -> (the distinct ones (U, 3), in order of first
    appearance, so that neighbouring cells' vertices are near in memory; (V,)
    int32 index of each vertex among them). Vertices shared by several cells
    are equal once rounded to float32 (h3 computes them per cell, a few ulps
    apart in float64); the rare pair rounding apart stays two entries."""
    bits = np.ascontiguousarray(vertices).view(np.uint32).astype(np.uint64)
    # 96 bits: x and y exactly, z's bits folded in by a second sort key.
    order = np.lexsort((bits[:, 2], (bits[:, 0] << np.uint64(32)) | bits[:, 1]))
    ordered = bits[order]
    new = np.ones(order.size, dtype=bool)
    new[1:] = (ordered[1:] != ordered[:-1]).any(axis=1)
    group = np.cumsum(new) - 1                       # distinct id in sorted order
    first = order[new]                               # lexsort is stable: each group's first appearance
    rank = np.empty_like(first)
    rank[np.argsort(first, kind="stable")] = np.arange(first.size)
    ids = np.empty(order.size, dtype=np.int32)
    ids[order] = rank[group]
    return np.ascontiguousarray(vertices[np.sort(first)]), ids


def _vertex_lists(offsets: np.ndarray, vertex_ids: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per-cell vertex rows as `CellIndex` stores them: cell_vertices (M, 6) int32,
    fan_offsets (F + 1,) int32 and fan_vertex_ids (int32, at least one entry)
    for the F cells with more than 6 vertices."""
    counts = np.diff(offsets)
    m = counts.size
    if counts.min() < 5:
        raise InvalidArgumentError("h3 gave a cell boundary of fewer than 5 vertices")
    cell_vertices = np.full((m, 6), NOT_STORED, dtype=np.int32)
    owner = np.repeat(np.arange(m), counts)
    position = np.arange(vertex_ids.size) - offsets[owner]
    fan = counts > 6
    plain = ~fan[owner]
    cell_vertices[owner[plain], position[plain]] = vertex_ids[plain]
    fan_cells = np.flatnonzero(fan)
    fan_offsets = np.zeros(fan_cells.size + 1, dtype=np.int32)
    np.cumsum(counts[fan_cells], out=fan_offsets[1:])
    cell_vertices[fan_cells, 0] = -1 - np.arange(fan_cells.size, dtype=np.int32)
    fan_vertex_ids = vertex_ids[~plain] if fan_cells.size else np.zeros(1, dtype=np.int32)
    return cell_vertices, fan_offsets, np.ascontiguousarray(fan_vertex_ids, dtype=np.int32)


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
