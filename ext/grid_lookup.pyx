# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True, initializedcheck=False
"""Compiled kernels of the grid lookup: locate points among H3 cell centres, then
gather and blend stored rows with dequantisation fused in.

The Python-facing layer is `satcle.grid.lookup`; these functions only fill
pre-allocated, validated arrays. Geometry is on the unit sphere in float64:
cell centres are unit vectors, cell edges are great-circle arcs (H3 edges are
straight lines of a gnomonic face projection, hence great circles), stored as
unit normals pointing into the cell.
"""

from cython.parallel cimport prange
from libc.math cimport M_PI, NAN, cos, sin, floor, fabs
from libc.stdint cimport int8_t, int32_t, int64_t, uint16_t
from libc.stdlib cimport calloc, free

ctypedef fused stored_t:
    float
    int8_t
    uint16_t   # float16 bit patterns, decoded through a 65536-entry table

cdef double DEG2RAD = M_PI / 180.0

# Status codes written to `cell_rows` besides a row number.
cdef enum:
    MISS_ROW = -1        # no stored cell contains the point
    AMBIGUOUS_ROW = -2   # within rounding of a cell edge: resolved by h3 in Python

MISS = MISS_ROW
AMBIGUOUS = AMBIGUOUS_ROW


cdef inline double dot3(const double* a, const double* b) noexcept nogil:
    return a[0] * b[0] + a[1] * b[1] + a[2] * b[2]


cdef inline double triple(const double* p, const double* b, const double* c) noexcept nogil:
    """p . (b x c)"""
    return (p[0] * (b[1] * c[2] - b[2] * c[1])
            + p[1] * (b[2] * c[0] - b[0] * c[2])
            + p[2] * (b[0] * c[1] - b[1] * c[0]))


ctypedef struct cell_record:
    # 128 bytes, two cache lines: what locating and interpolating a point read
    # of its nearest cell (layout: satcle.grid.lookup.cell_index.RECORD_*).
    float centre[3]
    int32_t neighbours[6]       # rows counter-clockwise, -1 if not stored
    float neighbour_xyz[6][3]   # their centres
    int32_t neighbour_count     # 6, or 5 for pentagons
    int32_t padding[4]


ctypedef struct bucket_entry:
    float xyz[3]
    int32_t row


cdef extern from *:
    """
    #if defined(__GNUC__)
    static inline void satcle_prefetch(const void* address) { __builtin_prefetch(address, 0, 0); }
    #else
    static inline void satcle_prefetch(const void* address) {}
    #endif
    """
    void satcle_prefetch(const void* address) noexcept nogil


# Points this many places ahead have their bucket, then their candidates, then
# their cell record requested while the current one is computed, so that the
# cache misses of consecutive points overlap instead of queueing.
DEF BUCKET_AHEAD = 16
DEF ENTRIES_AHEAD = 8
DEF RECORD_AHEAD = 6


cdef inline void centre_of(const cell_record* rec, double* c) noexcept nogil:
    c[0] = rec.centre[0]
    c[1] = rec.centre[1]
    c[2] = rec.centre[2]


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


cdef inline void unit_vector(double lat, double lon, double* p) noexcept nogil:
    cdef double phi = lat * DEG2RAD, lam = lon * DEG2RAD
    p[0] = cos(phi) * cos(lam)
    p[1] = cos(phi) * sin(lam)
    p[2] = sin(phi)


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


cdef void locate_one(const double* p, int32_t apex, const cell_record* records, const int64_t* eo,
                     const double* en, const int64_t* fs, const double* fv,
                     double edge_epsilon, double ambiguity_margin, bint want_triangle,
                     bint exact_cell,
                     int32_t* out_cell, int32_t* out_rows, float* out_w) noexcept nogil:
    """Pass 2 of `locate` for one point (unit vector p), given its nearest
    centre; locals live on this thread's stack."""
    cdef double a[3]
    cdef double q[6][3]   # the apex's neighbour centres, from its record
    cdef double side[6]
    cdef const cell_record* rec
    cdef int t
    cdef double s, best_s, det, wa, wb, wc, m, best_m, total, bw0, bw1, bw2
    cdef int32_t cand, b, c, found, bb, bc
    cdef int k, j
    cdef bint interior
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
    rec = &records[apex]
    # Containing cell: the nearest centre's cell, else one of its neighbours.
    found = MISS_ROW
    best_s = -2.0
    k = rec.neighbour_count
    interior = not exact_cell
    for j in range(k):
        if rec.neighbours[j] < 0:
            interior = False
    # Every stored centre within the search radius belongs to the containing cell
    # or one of its neighbours, so a point whose nearest centre has all its
    # neighbours stored is covered: the edge test is needed only for its exact cell.
    for j in range(-1, 0 if interior else k):
        if interior:
            found = apex
            break
        if j < 0:
            cand = apex
        else:
            cand = rec.neighbours[j]
            if cand < 0:
                continue
        s = inside_margin(p, cand, records, eo, en, fs, fv)
        if s > edge_epsilon:
            found = cand
            break
        if s > best_s:
            best_s = s
    if found == MISS_ROW and best_s > -ambiguity_margin:
        found = AMBIGUOUS_ROW
    out_cell[0] = found
    if not want_triangle:
        return
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


cdef extern from *:
    """
    #include <stdint.h>
    /* float16 rows blended with F16C + FMA where the CPU has them (checked once at
       import); other CPUs decode through a 65536-entry table instead. */
    #if defined(__GNUC__) && (defined(__x86_64__) || defined(__i386__))
    #include <immintrin.h>
    /* Columns d..dim-1 that fill no whole vector, through the table. */
    static inline void satcle_blend_f16_tail(const uint16_t* const* src, const float* w, int k,
                                             const float* table, float* dst, int d, int dim) {
        for (; d < dim; d++) {
            float acc = 0.0f;
            for (int j = 0; j < k; j++) acc += w[j] * table[src[j][d]];
            dst[d] = acc;
        }
    }
    __attribute__((target("avx2,f16c,fma")))
    static void satcle_blend_f16_simd(const uint16_t* const* src, const float* w, int k,
                                      const float* table, float* dst, int dim) {
        /* Output rows are written whole and not read back: stream them past the
           cache (no read-for-ownership) where they are 32-byte aligned. */
        int stream = ((uintptr_t)dst & 31) == 0 && dim % 8 == 0;
        int d = 0;
        for (; d + 8 <= dim; d += 8) {
            __m256 acc = _mm256_setzero_ps();
            for (int j = 0; j < k; j++) {
                __m256 v = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i*)(src[j] + d)));
                acc = _mm256_fmadd_ps(_mm256_set1_ps(w[j]), v, acc);
            }
            if (stream) _mm256_stream_ps(dst + d, acc);
            else _mm256_storeu_ps(dst + d, acc);
        }
        satcle_blend_f16_tail(src, w, k, table, dst, d, dim);
        if (stream) _mm_sfence();
    }
    /* The same with 16 values per instruction: one 64-byte (full cache line)
       streaming store per 16 outputs. */
    __attribute__((target("avx512f")))
    static void satcle_blend_f16_avx512(const uint16_t* const* src, const float* w, int k,
                                        const float* table, float* dst, int dim) {
        int stream = ((uintptr_t)dst & 63) == 0 && dim % 16 == 0;
        int d = 0;
        for (; d + 16 <= dim; d += 16) {
            __m512 acc = _mm512_setzero_ps();
            for (int j = 0; j < k; j++) {
                __m512 v = _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i*)(src[j] + d)));
                acc = _mm512_fmadd_ps(_mm512_set1_ps(w[j]), v, acc);
            }
            if (stream) _mm512_stream_ps(dst + d, acc);
            else _mm512_storeu_ps(dst + d, acc);
        }
        satcle_blend_f16_tail(src, w, k, table, dst, d, dim);
        if (stream) _mm_sfence();
    }
    static int satcle_has_f16_avx512(void) {
        __builtin_cpu_init();
        return __builtin_cpu_supports("avx512f");
    }
    static int satcle_has_f16_simd(void) {
        __builtin_cpu_init();
        return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("f16c")
               && __builtin_cpu_supports("fma");
    }
    #else
    static void satcle_blend_f16_simd(const uint16_t* const* src, const float* w, int k,
                                      const float* table, float* dst, int dim) {}
    static int satcle_has_f16_simd(void) { return 0; }
    static void satcle_blend_f16_avx512(const uint16_t* const* src, const float* w, int k,
                                        const float* table, float* dst, int dim) {}
    static int satcle_has_f16_avx512(void) { return 0; }
    #endif
    """
    void satcle_blend_f16_simd(const uint16_t** src, const float* w, int k,
                               const float* table, float* dst, int dim) noexcept nogil
    int satcle_has_f16_simd() noexcept nogil
    void satcle_blend_f16_avx512(const uint16_t** src, const float* w, int k,
                                 const float* table, float* dst, int dim) noexcept nogil
    int satcle_has_f16_avx512() noexcept nogil

# How float16 rows are blended: AVX-512 (one streaming store per cache line),
# AVX2 + F16C + FMA, or a decoding table; the best the CPU has unless asked.
cdef enum:
    F16_TABLE_KERNEL = 0
    F16_AVX2_KERNEL = 1
    F16_AVX512_KERNEL = 2

F16_TABLE, F16_AVX2, F16_AVX512 = F16_TABLE_KERNEL, F16_AVX2_KERNEL, F16_AVX512_KERNEL
BEST_F16_KERNEL = (F16_AVX512_KERNEL if satcle_has_f16_avx512()
                   else F16_AVX2_KERNEL if satcle_has_f16_simd() else F16_TABLE_KERNEL)

DEF MAX_K = 8
# Rows of the point this many places ahead are requested while the current one
# is blended, so that their cache misses overlap instead of queueing.
DEF PREFETCH_AHEAD = 4


cdef void blend_row(const stored_t* values, const float* scale, const float* table,
                    const int32_t* rows, const float* weights, int k, int dim,
                    float* dst, int f16_kernel) noexcept nogil:
    """dst = sum_j weights[j] * dequantised(values[rows[j]]); rows are valid."""
    cdef const stored_t* src[MAX_K]
    cdef float w[MAX_K]
    cdef float wj
    cdef int j, d
    for j in range(k):
        src[j] = values + <int64_t>rows[j] * dim
        w[j] = weights[j]
        if stored_t is int8_t:
            w[j] = w[j] * scale[rows[j]]
    if stored_t is uint16_t:
        if f16_kernel == F16_AVX512_KERNEL:
            satcle_blend_f16_avx512(<const uint16_t**>src, w, k, table, dst, dim)
            return
        if f16_kernel == F16_AVX2_KERNEL:
            satcle_blend_f16_simd(<const uint16_t**>src, w, k, table, dst, dim)
            return
    # One pass per stored row, the first one a plain store, so that the
    # compiler vectorises the float32 and int8 loops.
    for j in range(k):
        wj = w[j]
        if stored_t is uint16_t:
            if j == 0:
                for d in range(dim):
                    dst[d] = wj * table[src[j][d]]
            else:
                for d in range(dim):
                    dst[d] += wj * table[src[j][d]]
        else:
            if j == 0:
                for d in range(dim):
                    dst[d] = wj * <float>src[j][d]
            else:
                for d in range(dim):
                    dst[d] += wj * <float>src[j][d]


def gather_blend(const stored_t[:, ::1] values, const float[::1] scale,
                 const float[::1] half_table, const int32_t[:, ::1] rows,
                 const float[:, ::1] weights, float[:, ::1] out,
                 const int64_t[::1] destination, int num_threads=0, int f16_kernel=-1):
    """out[dest(i)] = sum_k weights[i, k] * dequantised(values[rows[i, k]]), in parallel,
    where dest(i) is destination[i], or i when `destination` is empty.

    values (M, D) float32, int8 (row r times scale[r]) or uint16 float16 bits
    (decoded by F16C, or by half_table[bits], (65536,) float32, required);
    rows (N, K) int32, K <= 8, a negative row meaning "no value": the output
    row is NaN. scale must have M entries for int8 and may be empty otherwise.
    f16_kernel: F16_AVX512, F16_AVX2 or F16_TABLE, at most BEST_F16_KERNEL
    (the default, -1); all give the same bits where the CPU has them.
    """
    cdef Py_ssize_t n = rows.shape[0], i
    cdef int kk = rows.shape[1], k, d, dim = values.shape[1]
    if kk > MAX_K:
        raise ValueError(f"at most {MAX_K} rows per point, got {kk}")
    if f16_kernel < 0:
        f16_kernel = BEST_F16_KERNEL
    if f16_kernel > BEST_F16_KERNEL:
        raise ValueError(f"float16 kernel {f16_kernel} is not available on this CPU (best: {BEST_F16_KERNEL})")
    if stored_t is uint16_t:
        if half_table.shape[0] != 65536:
            raise ValueError("float16 rows need the (65536,) half_table")
    if stored_t is int8_t:
        if scale.shape[0] != values.shape[0]:
            raise ValueError("int8 rows need one scale per row")
    if rows.shape[0] != weights.shape[0] or rows.shape[1] != weights.shape[1]:
        raise ValueError("rows and weights must have the same shape")
    if out.shape[1] != dim:
        raise ValueError("out must have as many columns as values")
    if out.shape[0] < n:
        raise ValueError("out must have a row per point (destination: a permutation of its rows)")
    if n == 0:
        return
    cdef const stored_t* v = &values[0, 0]
    cdef const float* sc = NULL
    cdef const float* ht = NULL
    cdef const int32_t* r = &rows[0, 0]
    cdef const float* w = &weights[0, 0]
    cdef float* o = &out[0, 0]
    cdef const int64_t* dest = NULL
    cdef int64_t at, line, row_bytes = dim * sizeof(stored_t)
    cdef int32_t ahead
    cdef bint missing
    if destination.shape[0] > 0:
        if destination.shape[0] != n:
            raise ValueError("destination must have one entry per row of `rows`")
        dest = &destination[0]
    if scale.shape[0] > 0:
        sc = &scale[0]
    if half_table.shape[0] > 0:
        ht = &half_table[0]
    with nogil:
        for i in prange(n, schedule="static", num_threads=num_threads):
            if i + PREFETCH_AHEAD < n:
                for k in range(kk):
                    ahead = r[(i + PREFETCH_AHEAD) * kk + k]
                    if ahead >= 0:
                        for line in range(0, row_bytes, 64):
                            satcle_prefetch(<const char*>(v + <int64_t>ahead * dim) + line)
            at = i
            if dest != NULL:
                at = dest[i]
            missing = False
            for k in range(kk):
                if r[i * kk + k] < 0:
                    missing = True
            if missing:
                for d in range(dim):
                    o[at * dim + d] = NAN
            else:
                blend_row(v, sc, ht, r + i * kk, w + i * kk, kk, dim, o + at * dim, f16_kernel)


ctypedef struct index_view:
    # The `CellIndex` arrays and search constants, as one argument.
    const cell_record* records
    const int64_t* edge_offsets
    const double* edge_normals
    const int64_t* fan_start
    const double* fan_vertices
    const int64_t* bucket_offsets
    const bucket_entry* entries
    int n_lat
    int n_lon
    double delta
    double min_dot
    double edge_epsilon
    double ambiguity_margin


# Points are processed in chunks of this many, each by one thread: the nearest
# centres of the chunk, then its cells (and rows), while its data is in cache.
DEF CHUNK = 2048


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
        locate_one(unit + 3 * (i - i0), out_cell[i], ix.records, ix.edge_offsets, ix.edge_normals, ix.fan_start,
                   ix.fan_vertices, ix.edge_epsilon, ix.ambiguity_margin, want_triangle, exact_cell,
                   out_cell + i, out_rows + 3 * i, out_w + 3 * i)


cdef void locate_chunk(Py_ssize_t i0, Py_ssize_t i1, const double* la, const double* lo, const index_view* ix,
                       bint want_triangle, bint exact_cell, int32_t* out_cell, int32_t* out_rows,
                       float* out_w) noexcept nogil:
    """Both passes over points i0..i1-1 (at most CHUNK), scratch on this thread's stack."""
    cdef double unit[3 * CHUNK]
    cdef int64_t bucket[CHUNK]
    nearest_range(i0, i1, la, lo, ix, unit, bucket, out_cell)
    cells_range(i0, i1, unit, ix, want_triangle, exact_cell, out_cell, out_rows, out_w)


cdef index_view make_view(const float[:, ::1] records, const int64_t[::1] edge_offsets,
                          const double[:, ::1] edge_normals, const int64_t[::1] fan_start,
                          const double[:, ::1] fan_vertices, const int64_t[::1] bucket_offsets,
                          const float[:, ::1] bucket_entries, int n_lat, int n_lon, double delta,
                          double radius_deg, double edge_epsilon, double ambiguity_margin) except *:
    if records.shape[1] * sizeof(float) != sizeof(cell_record) or bucket_entries.shape[1] != 4:
        raise ValueError("records must be (M, 32) and bucket_entries (C, 4) float32 (CellIndex layout)")
    cdef index_view ix
    ix.records = <const cell_record*>&records[0, 0]
    ix.edge_offsets = &edge_offsets[0]
    ix.edge_normals = &edge_normals[0, 0]
    ix.fan_start = &fan_start[0]
    ix.fan_vertices = &fan_vertices[0, 0]
    ix.bucket_offsets = &bucket_offsets[0]
    ix.entries = <const bucket_entry*>&bucket_entries[0, 0]
    ix.n_lat = n_lat
    ix.n_lon = n_lon
    ix.delta = delta
    ix.min_dot = cos(radius_deg * DEG2RAD)
    ix.edge_epsilon = edge_epsilon
    ix.ambiguity_margin = ambiguity_margin
    return ix


def locate(const double[::1] lats, const double[::1] lons, const float[:, ::1] records,
           const int64_t[::1] edge_offsets, const double[:, ::1] edge_normals, const int64_t[::1] fan_start,
           const double[:, ::1] fan_vertices, const int64_t[::1] bucket_offsets,
           const float[:, ::1] bucket_entries, int n_lat, int n_lon, double delta,
           double radius_deg, double edge_epsilon, double ambiguity_margin,
           int32_t[::1] cell_rows, int32_t[:, ::1] tri_rows, float[:, ::1] tri_weights,
           bint want_triangle, bint exact_cell=True, int num_threads=0):
    """For each point: the row of the stored cell containing it (or MISS /
    AMBIGUOUS) in `cell_rows` (N,), and if `want_triangle` the three rows and
    weights of its interpolation in `tri_rows`, `tri_weights` (N, 3; rows -1 on
    a miss). Points are degrees; records (M, 32) and bucket_entries (C, 4) are
    the `CellIndex` arrays (float32 slots holding int32 bits where the layout
    says so); tri_rows/tri_weights must have N rows even when want_triangle is
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
    cdef index_view ix = make_view(records, edge_offsets, edge_normals, fan_start, fan_vertices, bucket_offsets,
                                   bucket_entries, n_lat, n_lon, delta, radius_deg, edge_epsilon,
                                   ambiguity_margin)
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


DEF BLOCKS = 180 * 360


cdef inline int block_of(double lat, double lon) noexcept nogil:
    """1 x 1 degree block of a point in degrees (lat in [-90, 90], lon in [-180, 180])."""
    cdef int row = <int>(lat + 90.0), col = <int>(lon + 180.0)
    if row > 179:
        row = 179
    if col > 359:
        col = 359
    return row * 360 + col


def spatial_sort(const double[::1] lats, const double[::1] lons, int64_t[::1] order,
                 double[::1] sorted_lats, double[::1] sorted_lons):
    """Group points (degrees, validated) by 1 x 1 degree block, stably: a
    counting sort writing the permutation to `order` (N,) and the permuted
    coordinates to `sorted_lats`, `sorted_lons` (N,) in one pass, so that
    sorted_lats[i] == lats[order[i]]."""
    cdef Py_ssize_t n = lats.shape[0], i
    if lons.shape[0] != n or order.shape[0] != n or sorted_lats.shape[0] != n or sorted_lons.shape[0] != n:
        raise ValueError("lats, lons, order, sorted_lats and sorted_lons must have the same length")
    cdef int64_t* next_slot = <int64_t*>calloc(BLOCKS, sizeof(int64_t))
    if next_slot == NULL:
        raise MemoryError()
    cdef int64_t total = 0, count, at
    cdef int b
    with nogil:
        for i in range(n):
            next_slot[block_of(lats[i], lons[i])] += 1
        for b in range(BLOCKS):   # counts -> first slot of each block
            count = next_slot[b]
            next_slot[b] = total
            total += count
        for i in range(n):
            b = block_of(lats[i], lons[i])
            at = next_slot[b]
            next_slot[b] = at + 1
            order[at] = i
            sorted_lats[at] = lats[i]
            sorted_lons[at] = lons[i]
    free(next_slot)
