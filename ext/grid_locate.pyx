# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True, initializedcheck=False
"""Point location among the stored H3 cell centres of a grid: each point's
containing cell and its interpolation triangle (rows and weights).

The Python-facing layer is `satcle.grid.lookup`; `locate` only fills
pre-allocated, validated arrays. Geometry is on the unit sphere in float64:
cell centres are unit vectors, cell edges are great-circle arcs (H3 edges are
straight lines of a gnomonic face projection, hence great circles), stored as
unit normals pointing into the cell.
"""

from cython.parallel cimport prange
from libc.math cimport M_PI, cos, floor
from libc.stdint cimport int32_t, int64_t

from grid_kernels cimport AMBIGUOUS_ROW, MISS_ROW, bucket_entry, cell_record, centre_of, index_view, satcle_prefetch
from sphere cimport dot3, triple, unit_vector

cdef double DEG2RAD = M_PI / 180.0

MISS = MISS_ROW
AMBIGUOUS = AMBIGUOUS_ROW

cdef enum:
    # Points this many places ahead have their bucket, then their candidates, then
    # their cell record requested while the current one is computed, so that the
    # cache misses of consecutive points overlap instead of queueing.
    BUCKET_AHEAD = 16
    ENTRIES_AHEAD = 8
    RECORD_AHEAD = 6
    # Points are processed in chunks of this many, each by one thread: the nearest
    # centres of the chunk, then its cells (and rows), while its data is in cache.
    CHUNK = 2048


cdef inline double inside_margin(const double* p, int32_t row, const cell_record* records,
                                 const int64_t* edge_offsets, const double* edge_normals,
                                 const int64_t* fan_start, const double* fan_vertices) noexcept nogil:
    """> 0 inside the cell, < 0 outside; the magnitude is the sine of the angle
    to the deciding edge's great circle.

    Convex cells: the minimum over edges of p . normal. Cells that cross an
    icosahedron edge (fan_start >= 0) are not convex at their distortion
    vertices, but they are star-shaped around the centre: find the wedge
    (centre, v_i, v_i+1) holding p and test p against that edge alone.
    """
    cdef int64_t e, e0 = edge_offsets[row], e1 = edge_offsets[row + 1], f = fan_start[row]
    cdef int64_t count = e1 - e0, i
    cdef double c[3]
    cdef double s, best = 2.0
    if f >= 0:
        centre_of(&records[row], c)
        for i in range(count):
            if (triple(p, c, &fan_vertices[3 * (f + i)]) >= 0.0
                    and triple(p, &fan_vertices[3 * (f + (i + 1) % count)], c) >= 0.0):
                return dot3(p, &edge_normals[3 * (e0 + i)])
    for e in range(e0, e1):
        s = dot3(p, &edge_normals[3 * e])
        if s < best:
            best = s
    return best


cdef inline int64_t bucket_of(double lat, double lon, int n_lat, int n_lon, double delta) noexcept nogil:
    """Raster bucket of a point in degrees (columns wrap; the poles clamp)."""
    cdef int r = <int>floor((lat + 90.0) / delta)
    cdef int c = <int>floor((lon + 180.0) / delta) % n_lon
    if r < 0:
        r = 0
    if r > n_lat - 1:
        r = n_lat - 1
    if c < 0:
        c = c + n_lon
    return <int64_t>r * n_lon + c


cdef inline int32_t nearest_centre(const double* p, const bucket_entry* entries, int64_t k0, int64_t k1,
                                   double min_dot) noexcept nogil:
    """Row of the nearest of the bucket's candidates within the search radius
    (dot product above min_dot), or -1. The bucket lists every centre within
    the radius of any of its points, so this is the nearest stored centre."""
    cdef int64_t k
    cdef double d, best = min_dot
    cdef int32_t found = -1
    for k in range(k0, k1):
        d = p[0] * entries[k].xyz[0] + p[1] * entries[k].xyz[1] + p[2] * entries[k].xyz[2]
        if d > best:
            best = d
            found = entries[k].row
    return found


cdef inline int32_t containing_row(const double* p, int32_t apex, const index_view* ix,
                                  bint exact_cell) noexcept nogil:
    """The row of the stored cell containing p (a unit vector) whose nearest
    stored centre is row `apex` (>= 0): apex or one of its neighbours,
    MISS_ROW, or AMBIGUOUS_ROW within rounding of an edge."""
    cdef const cell_record* rec = &ix.records[apex]
    cdef int k = rec.neighbour_count, j
    cdef int32_t cand
    cdef double s, best_s = -2.0
    cdef bint interior = not exact_cell
    for j in range(k):
        if rec.neighbours[j] < 0:
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
            cand = rec.neighbours[j]
            if cand < 0:
                continue
        s = inside_margin(p, cand, ix.records, ix.edge_offsets, ix.edge_normals, ix.fan_start, ix.fan_vertices)
        if s > ix.edge_epsilon:
            return cand
        if s > best_s:
            best_s = s
    if best_s > -ix.ambiguity_margin:
        return AMBIGUOUS_ROW
    return MISS_ROW


cdef inline void interpolation_triangle(const double* p, int32_t apex, const cell_record* rec,
                                        int32_t* out_rows, float* out_w) noexcept nogil:
    """The triangle (apex, two consecutive neighbours) holding p and its
    spherical barycentric weights, from the apex's record; locals live on
    this thread's stack."""
    cdef double a[3]
    cdef double q[6][3]   # the apex's neighbour centres, from its record
    cdef double side[6]
    cdef int t, j, k = rec.neighbour_count
    cdef double det, wa, wb, wc, m, best_m, total, bw0, bw1, bw2
    cdef int32_t b, c, bb, bc
    centre_of(rec, a)
    for j in range(k):
        for t in range(3):
            q[j][t] = rec.neighbour_xyz[j][t]
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
            b = rec.neighbours[j]
            c = rec.neighbours[t]
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
        b = rec.neighbours[j]
        c = rec.neighbours[(j + 1) % k]
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
        interpolation_triangle(p, apex, &ix.records[apex], out_rows, out_w)


cdef void nearest_range(Py_ssize_t i0, Py_ssize_t i1, const double* la, const double* lo,
                        const index_view* ix, double* unit, int64_t* bucket, int32_t* out_cell) noexcept nogil:
    """Pass 1 over points i0..i1-1: the nearest stored centre's row (or -1) in
    out_cell[i]; unit[3 * (i - i0)] (unit vectors) and bucket[i - i0] are the
    chunk's scratch, the unit vectors kept for pass 2."""
    cdef Py_ssize_t i, n = i1 - i0
    cdef int64_t b
    cdef const int64_t* bo = ix.bucket_offsets
    # Buckets first, each requested as soon as known; then the bucket runs,
    # ENTRIES_AHEAD points ahead of the search, whose offsets have arrived by then.
    for i in range(n):
        b = bucket_of(la[i0 + i], lo[i0 + i], ix.n_lat, ix.n_lon, ix.delta)
        bucket[i] = b
        if i >= BUCKET_AHEAD:
            satcle_prefetch(&bo[bucket[i - BUCKET_AHEAD]])
        unit_vector(la[i0 + i], lo[i0 + i], unit + 3 * i)
    cdef int64_t e, e1
    for i in range(n):
        if i + ENTRIES_AHEAD < n:
            # Every cache line of the bucket's run (4 entries a line, and the last one).
            e = bo[bucket[i + ENTRIES_AHEAD]]
            e1 = bo[bucket[i + ENTRIES_AHEAD] + 1]
            if e < e1:
                satcle_prefetch(&ix.entries[e1 - 1])
            while e < e1:
                satcle_prefetch(&ix.entries[e])
                e = e + 4
        out_cell[i0 + i] = nearest_centre(unit + 3 * i, ix.entries, bo[bucket[i]], bo[bucket[i] + 1], ix.min_dot)


cdef inline void prefetch_record(const index_view* ix, int32_t apex) noexcept nogil:
    if apex >= 0:
        satcle_prefetch(&ix.records[apex])
        satcle_prefetch(<const char*>&ix.records[apex] + 64)


cdef void cells_range(Py_ssize_t i0, Py_ssize_t i1, const double* unit, const index_view* ix,
                      bint want_triangle, bint exact_cell, int32_t* out_cell, int32_t* out_rows,
                      float* out_w) noexcept nogil:
    """Pass 2 over points i0..i1-1 (unit vectors unit[3 * (i - i0)]), from their
    nearest centres in out_cell."""
    cdef Py_ssize_t i
    for i in range(i0, i1):
        if i + RECORD_AHEAD < i1:
            prefetch_record(ix, out_cell[i + RECORD_AHEAD])
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

    index: a `satcle.grid.lookup.cell_index.CellIndex` (records (M, 32) and
    bucket_entries (C, 4) float32, holding int32 bits where the layout says
    so); edge_epsilon: sine of the angle within which a point is re-checked
    against an edge; ambiguity_margin: radians outside every candidate within
    which a point is AMBIGUOUS rather than MISS.
    """

    cdef index_view ix
    cdef readonly object index

    def __init__(self, index, double edge_epsilon, double ambiguity_margin):
        cdef const float[:, ::1] records = index.records
        cdef const int64_t[::1] edge_offsets = index.edge_offsets
        cdef const double[:, ::1] edge_normals = index.edge_normals
        cdef const int64_t[::1] fan_start = index.fan_start
        cdef const double[:, ::1] fan_vertices = index.fan_vertices
        cdef const int64_t[::1] bucket_offsets = index.bucket_offsets
        cdef const float[:, ::1] bucket_entries = index.bucket_entries
        if records.shape[1] * sizeof(float) != sizeof(cell_record) or bucket_entries.shape[1] * sizeof(float) != sizeof(bucket_entry):
            raise ValueError("records must be (M, 32) and bucket_entries (C, 4) float32 (CellIndex layout)")
        self.index = index
        self.ix.records = <const cell_record*>&records[0, 0]
        self.ix.edge_offsets = &edge_offsets[0]
        self.ix.edge_normals = &edge_normals[0, 0]
        self.ix.fan_start = &fan_start[0]
        self.ix.fan_vertices = &fan_vertices[0, 0]
        self.ix.bucket_offsets = &bucket_offsets[0]
        self.ix.entries = <const bucket_entry*>&bucket_entries[0, 0]
        self.ix.n_lat = index.n_lat
        self.ix.n_lon = index.n_lon
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
    cell and triangle from that centre's record.

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


def cell_record_layout():
    """The C `cell_record` as {field: (byte offset, bytes)}, and its size in bytes
    (what `CELL_RECORD`, the Python view of a record, must agree with)."""
    cdef cell_record r
    cdef char* base = <char*>&r
    fields = {
        "centre": (<char*>&r.centre[0] - base, sizeof(r.centre)),
        "neighbours": (<char*>&r.neighbours[0] - base, sizeof(r.neighbours)),
        "neighbour_xyz": (<char*>&r.neighbour_xyz[0][0] - base, sizeof(r.neighbour_xyz)),
        "neighbour_count": (<char*>&r.neighbour_count - base, sizeof(r.neighbour_count)),
        "padding": (<char*>&r.padding[0] - base, sizeof(r.padding)),
    }
    return fields, sizeof(cell_record)
