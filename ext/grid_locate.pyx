# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True, initializedcheck=False
"""Point location among the stored H3 cell centres of a grid: each point's
containing cell and its interpolation triangle (rows and weights).

The Python-facing layer is `satcle.grid.lookup`; `locate` only fills
pre-allocated, validated arrays. Geometry is on the unit sphere in float64:
cell centres are unit vectors, cell edges are great-circle arcs (H3 edges are
straight lines of a gnomonic face projection, hence great circles) between
stored vertices (the containing-cell test: ext/cell_edges.pxd; the raster
search for the nearest centre: ext/raster_search.pxd).
"""

from cython.parallel cimport prange
from libc.math cimport M_PI, cos
from libc.stdint cimport int32_t, int64_t

from grid_kernels cimport (ABSENT_ROW, AMBIGUOUS_ROW, MISS_ROW, NOT_STORED_ROW, centre_of, index_view,
                           neighbour_count, satcle_prefetch)
from cell_edges cimport inside_margin
from sphere cimport satcle_has_vector_trig, satcle_unit_vectors, triple
from raster_search cimport bucket_of, nearest_centre


cdef double DEG2RAD = M_PI / 180.0

MISS = MISS_ROW
AMBIGUOUS = AMBIGUOUS_ROW
NOT_STORED = NOT_STORED_ROW
ABSENT = ABSENT_ROW
# Whether unit vectors come from glibc's vector sin/cos (libmvec, AVX2), four at a time.
cdef int VECTOR_TRIG_AVAILABLE = satcle_has_vector_trig()
VECTOR_TRIG = bool(VECTOR_TRIG_AVAILABLE)

cdef enum:
    # Points this many places ahead have their bucket, then their candidate rows,
    # then those candidates' centres (then, in pass 2, their neighbour rows, then
    # the neighbours' centres) requested while the current one is computed, so
    # that the cache misses of consecutive points overlap instead of queueing.
    BUCKET_AHEAD = 16
    ROWS_AHEAD = 8
    CENTRES_AHEAD = 4
    CELL_AHEAD = 6
    NEIGHBOURS_AHEAD = 3
    # Points are processed in chunks of this many, each by one thread: the nearest
    # centres of the chunk, then its cells (and rows), while its data is in cache.
    CHUNK = 2048


cdef inline int32_t containing_row(const double* p, int32_t apex, const index_view* ix,
                                  bint exact_cell) noexcept nogil:
    """The row of the stored cell containing p (a unit vector) whose nearest
    stored centre is row `apex` (>= 0): apex or one of its neighbours,
    MISS_ROW, or AMBIGUOUS_ROW within rounding of an edge."""
    cdef const int32_t* nb = &ix.neighbours[6 * <Py_ssize_t>apex]
    cdef int k = neighbour_count(nb), j
    cdef int32_t cand
    cdef double s, best_s = -2.0
    cdef bint interior = not exact_cell
    for j in range(k):
        if nb[j] < 0:
            interior = False
    # Every stored centre within the search radius belongs to the containing cell
    # or one of its neighbours, so a point whose nearest centre has all its
    # neighbours stored is covered: the edge test is needed only for its exact cell.
    if interior:
        return apex
    for j in range(-1, k):
        if j < 0:
            cand = apex
        else:
            cand = nb[j]
            if cand < 0:
                continue
        s = inside_margin(p, cand, ix)
        if s > ix.edge_epsilon:
            return cand
        if s > best_s:
            best_s = s
    if best_s > -ix.ambiguity_margin:
        return AMBIGUOUS_ROW
    return MISS_ROW


cdef inline void interpolation_triangle(const double* p, int32_t apex, const index_view* ix,
                                        int32_t* out_rows, float* out_w) noexcept nogil:
    """The triangle (apex, two consecutive neighbours) holding p and its
    spherical barycentric weights; locals live on this thread's stack."""
    cdef const int32_t* nb = &ix.neighbours[6 * <Py_ssize_t>apex]
    cdef double a[3]
    cdef double q[6][3]   # the apex's neighbour centres (0 where not stored: never a triangle's)
    cdef double side[6]
    cdef int t, j, k = neighbour_count(nb)
    cdef double det, wa, wb, wc, m, best_m, total, bw0, bw1, bw2
    cdef int32_t b, c, bb, bc
    centre_of(ix, apex, a)
    for j in range(k):
        if nb[j] >= 0:
            centre_of(ix, nb[j], &q[j][0])
        else:
            q[j][0] = 0.0
            q[j][1] = 0.0
            q[j][2] = 0.0
    best_m = -1e300
    bb = -1
    bc = -1
    bw0 = 1.0
    bw1 = 0.0
    bw2 = 0.0
    # Usually p lies inside one triangle: the wedge (a, q_j, q_j+1) holding it,
    # found from one side test per neighbour (the side of the line a-q_j is
    # shared by the two triangles on it), then its far edge tested alone.
    for j in range(k):
        side[j] = triple(p, a, &q[j][0])
    for j in range(k):
        t = (j + 1) % k
        if side[j] >= 0.0 and side[t] <= 0.0:
            b = nb[j]
            c = nb[t]
            if b >= 0 and c >= 0 and triple(a, &q[j][0], &q[t][0]) > 0.0:
                wa = triple(p, &q[j][0], &q[t][0])
                if wa >= 0.0:
                    bb = b
                    bc = c
                    bw0 = wa
                    bw1 = -side[t]
                    bw2 = side[j]
            break
    # Otherwise (coverage edges, rounding): the triangle whose smallest
    # barycentric coordinate is largest.
    for j in range(k if bb < 0 else 0):
        b = nb[j]
        c = nb[(j + 1) % k]
        if b < 0 or c < 0:
            continue
        det = triple(a, &q[j][0], &q[(j + 1) % k][0])
        if det <= 0.0:
            continue
        wa = triple(p, &q[j][0], &q[(j + 1) % k][0])
        wb = triple(p, &q[(j + 1) % k][0], a)
        wc = triple(p, a, &q[j][0])
        m = wa
        if wb < m:
            m = wb
        if wc < m:
            m = wc
        m = m / det
        if m > best_m:
            best_m = m
            bb = b
            bc = c
            bw0 = wa
            bw1 = wb
            bw2 = wc
    if bb < 0:
        bb = apex
        bc = apex
        bw0 = 1.0
        bw1 = 0.0
        bw2 = 0.0
    # Points a rounding error outside every triangle: clamp onto the nearest one.
    if bw0 < 0.0:
        bw0 = 0.0
    if bw1 < 0.0:
        bw1 = 0.0
    if bw2 < 0.0:
        bw2 = 0.0
    total = bw0 + bw1 + bw2
    if total <= 0.0:
        bw0 = 1.0
        total = 1.0
    out_rows[0] = apex
    out_rows[1] = bb
    out_rows[2] = bc
    out_w[0] = <float>(bw0 / total)
    out_w[1] = <float>(bw1 / total)
    out_w[2] = <float>(bw2 / total)


cdef void locate_one(const double* p, int32_t apex, const index_view* ix, bint want_triangle, bint exact_cell,
                     int32_t* out_cell, int32_t* out_rows, float* out_w) noexcept nogil:
    """Pass 2 of `locate` for one point (unit vector p), given its nearest
    centre's row `apex` (-1: none within the search radius)."""
    if apex < 0:
        out_cell[0] = MISS_ROW
        if want_triangle:
            out_rows[0] = -1
            out_rows[1] = -1
            out_rows[2] = -1
            out_w[0] = 0.0
            out_w[1] = 0.0
            out_w[2] = 0.0
        return
    out_cell[0] = containing_row(p, apex, ix, exact_cell)
    if want_triangle:
        interpolation_triangle(p, apex, ix, out_rows, out_w)


cdef void nearest_range(Py_ssize_t i0, Py_ssize_t i1, const double* la, const double* lo,
                        const index_view* ix, double* unit, int64_t* bucket, int32_t* out_cell) noexcept nogil:
    """Pass 1 over points i0..i1-1: the nearest stored centre's row (or -1) in
    out_cell[i]; unit[3 * (i - i0)] (unit vectors) and bucket[i - i0] are the
    chunk's scratch, the unit vectors kept for pass 2."""
    cdef Py_ssize_t i, n = i1 - i0
    cdef int64_t b, e, e1
    cdef const int32_t* bo = ix.bucket_offsets
    # Buckets first, each requested as soon as known; then the bucket runs,
    # ROWS_AHEAD points ahead of the search, whose offsets have arrived by then,
    # then CENTRES_AHEAD points ahead the centres those rows name.
    for i in range(n):
        bucket[i] = bucket_of(la[i0 + i], lo[i0 + i], ix)
        if i >= BUCKET_AHEAD and bucket[i - BUCKET_AHEAD] >= 0:
            satcle_prefetch(&bo[bucket[i - BUCKET_AHEAD]])
    satcle_unit_vectors(la + i0, lo + i0, unit, n, VECTOR_TRIG_AVAILABLE)
    for i in range(n):
        if i + ROWS_AHEAD < n and bucket[i + ROWS_AHEAD] >= 0:
            # Every cache line of the bucket's run (16 rows a line, and the last one).
            b = bucket[i + ROWS_AHEAD]
            e = bo[b]
            e1 = bo[b + 1]
            if e < e1:
                satcle_prefetch(&ix.bucket_rows[e1 - 1])
            while e < e1:
                satcle_prefetch(&ix.bucket_rows[e])
                e = e + 16
        if i + CENTRES_AHEAD < n and bucket[i + CENTRES_AHEAD] >= 0:
            b = bucket[i + CENTRES_AHEAD]
            for e in range(bo[b], bo[b + 1]):
                satcle_prefetch(&ix.centres[3 * <Py_ssize_t>ix.bucket_rows[e]])
        out_cell[i0 + i] = nearest_centre(unit + 3 * i, ix, bucket[i], ix.min_dot)


cdef inline void prefetch_cell(const index_view* ix, int32_t apex, bint exact_cell) noexcept nogil:
    """Request what pass 2 reads first of a point's nearest cell: its neighbour
    rows and centre (and, for the exact cell, its vertex rows)."""
    if apex >= 0:
        satcle_prefetch(&ix.neighbours[6 * <Py_ssize_t>apex])
        satcle_prefetch(&ix.neighbours[6 * <Py_ssize_t>apex + 5])
        satcle_prefetch(&ix.centres[3 * <Py_ssize_t>apex])
        if exact_cell:
            satcle_prefetch(&ix.cell_vertices[6 * <Py_ssize_t>apex])


cdef inline void prefetch_neighbours(const index_view* ix, int32_t apex) noexcept nogil:
    """Request the centres of a point's nearest cell's stored neighbours (its rows arrived)."""
    cdef int j
    cdef int32_t row
    if apex >= 0:
        for j in range(6):
            row = ix.neighbours[6 * <Py_ssize_t>apex + j]
            if row >= 0:
                satcle_prefetch(&ix.centres[3 * <Py_ssize_t>row])


cdef void cells_range(Py_ssize_t i0, Py_ssize_t i1, const double* unit, const index_view* ix,
                      bint want_triangle, bint exact_cell, int32_t* out_cell, int32_t* out_rows,
                      float* out_w) noexcept nogil:
    """Pass 2 over points i0..i1-1 (unit vectors unit[3 * (i - i0)]), from their
    nearest centres in out_cell."""
    cdef Py_ssize_t i
    for i in range(i0, i1):
        if i + CELL_AHEAD < i1:
            prefetch_cell(ix, out_cell[i + CELL_AHEAD], exact_cell)
        if want_triangle and i + NEIGHBOURS_AHEAD < i1:
            prefetch_neighbours(ix, out_cell[i + NEIGHBOURS_AHEAD])
        locate_one(unit + 3 * (i - i0), out_cell[i], ix, want_triangle, exact_cell,
                   out_cell + i, out_rows + 3 * i, out_w + 3 * i)


cdef void locate_chunk(Py_ssize_t i0, Py_ssize_t i1, const double* la, const double* lo, const index_view* ix,
                       bint want_triangle, bint exact_cell, int32_t* out_cell, int32_t* out_rows,
                       float* out_w) noexcept nogil:
    """Both passes over points i0..i1-1 (at most CHUNK), scratch on this thread's stack."""
    cdef double unit[3 * CHUNK]
    cdef int64_t bucket[CHUNK]
    nearest_range(i0, i1, la, lo, ix, unit, bucket, out_cell)
    cells_range(i0, i1, unit, ix, want_triangle, exact_cell, out_cell, out_rows, out_w)


cdef class CellIndexView:
    """A `CellIndex` as the kernels read it: its arrays checked once and held
    (so they live as long as this view), and its search constants.

    index: a `satcle.grid.lookup.cell_index.CellIndex` whose arrays have the
    layout `INDEX_LAYOUT` says (the values are trusted: an index read from a
    file is checked first, `validate_index` or the file's checksum);
    edge_epsilon: sine of the angle within which a point is re-checked against
    an edge; ambiguity_margin: radians outside every candidate within which a
    point is AMBIGUOUS rather than MISS.
    """

    cdef index_view ix
    cdef readonly object index

    def __init__(self, index, double edge_epsilon, double ambiguity_margin):
        cdef const float[:, ::1] centres = index.centres
        cdef const int32_t[:, ::1] neighbours = index.neighbours
        cdef const int32_t[:, ::1] cell_vertices = index.cell_vertices
        cdef const float[:, ::1] vertices = index.vertices
        cdef const int32_t[::1] fan_offsets = index.fan_offsets
        cdef const int32_t[::1] fan_vertex_ids = index.fan_vertex_ids
        cdef const int32_t[::1] bucket_offsets = index.bucket_offsets
        cdef const int32_t[::1] bucket_rows = index.bucket_rows
        cdef Py_ssize_t m = centres.shape[0]
        if (centres.shape[1] != 3 or vertices.shape[1] != 3 or neighbours.shape[1] != 6
                or cell_vertices.shape[1] != 6 or neighbours.shape[0] != m or cell_vertices.shape[0] != m
                or m == 0 or vertices.shape[0] == 0 or fan_offsets.shape[0] == 0 or fan_vertex_ids.shape[0] == 0
                or bucket_rows.shape[0] == 0
                or bucket_offsets.shape[0] != <Py_ssize_t>index.n_lat * index.n_lon + 1):
            raise ValueError("the index's arrays do not have the CellIndex layout")
        self.index = index
        self.ix.centres = &centres[0, 0]
        self.ix.neighbours = &neighbours[0, 0]
        self.ix.cell_vertices = &cell_vertices[0, 0]
        self.ix.vertices = &vertices[0, 0]
        self.ix.fan_offsets = &fan_offsets[0]
        self.ix.fan_vertex_ids = &fan_vertex_ids[0]
        self.ix.bucket_offsets = &bucket_offsets[0]
        self.ix.bucket_rows = &bucket_rows[0]
        self.ix.n_lat = index.n_lat
        self.ix.n_lon = index.n_lon
        self.ix.wraps = index.wraps
        self.ix.lat0 = index.lat0
        self.ix.lon0 = index.lon0
        self.ix.delta = index.delta
        self.ix.min_dot = cos(index.radius_deg * DEG2RAD)
        self.ix.edge_epsilon = edge_epsilon
        self.ix.ambiguity_margin = ambiguity_margin


def locate(CellIndexView index, const double[::1] lats, const double[::1] lons, int32_t[::1] cell_rows,
           int32_t[:, ::1] tri_rows, float[:, ::1] tri_weights, bint want_triangle, bint exact_cell=True,
           int num_threads=0):
    """For each point: the row of the stored cell containing it (or MISS /
    AMBIGUOUS) in `cell_rows` (N,), and if `want_triangle` the three rows and
    weights of its interpolation in `tri_rows`, `tri_weights` (N, 3; rows -1 on
    a miss). Points are degrees, searched in `index`; tri_rows/tri_weights must have N rows even when want_triangle is
    false (a (1, 3) dummy is not enough). With `exact_cell` false, a point
    whose nearest centre has all its neighbours stored gets that centre's row
    (it is covered, but may lie in a neighbour).

    Per chunk of points, two passes, each prefetching ahead: the nearest
    centre of every point (bucket, then its candidates), then the containing
    cell and triangle from that centre's neighbours.

    The interpolation is linear (spherical barycentric) on the triangles of
    the dual of the H3 grid: the nearest centre and two consecutive
    neighbours. The weights of a point inside a triangle do not depend on
    which of its vertices is nearest, so the result is continuous across cell
    edges; where a neighbour is not stored (coverage edge) only complete
    triangles are used, and with none the nearest centre's row alone.
    """

    cdef Py_ssize_t n = lats.shape[0], c, i0, i1
    if n == 0:
        return
    if cell_rows.shape[0] < n or tri_rows.shape[0] < n or tri_weights.shape[0] < n or lons.shape[0] != n:
        raise ValueError("lats, lons, cell_rows, tri_rows and tri_weights must have one row per point")
    cdef index_view ix = index.ix
    cdef const double* la = &lats[0]
    cdef const double* lo = &lons[0]
    cdef int32_t* out_cell = &cell_rows[0]
    cdef int32_t* out_rows = &tri_rows[0, 0]
    cdef float* out_w = &tri_weights[0, 0]
    cdef Py_ssize_t chunks = (n + CHUNK - 1) // CHUNK
    with nogil:
        for c in prange(chunks, schedule="static", num_threads=num_threads):
            i0 = c * CHUNK
            i1 = min(i0 + CHUNK, n)
            locate_chunk(i0, i1, la, lo, &ix, want_triangle, exact_cell, out_cell, out_rows, out_w)


def unit_vectors(const double[::1] lats, const double[::1] lons, double[:, ::1] out, bint vector=True):
    """out (N, 3) = the unit vectors of points in degrees, as `locate` computes
    them: with libmvec where `VECTOR_TRIG` (and `vector`), else with libm."""
    cdef Py_ssize_t n = lats.shape[0]
    if lons.shape[0] != n or out.shape[0] != n or out.shape[1] != 3:
        raise ValueError("lats, lons and out must have one row per point, out three columns")
    if n == 0:
        return
    with nogil:
        satcle_unit_vectors(&lats[0], &lons[0], &out[0, 0], n, VECTOR_TRIG_AVAILABLE and vector)
