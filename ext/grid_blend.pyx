# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True, initializedcheck=False
"""Gather and blend stored rows of a grid, dequantisation fused in: float32,
int8 (times a per-row scale) or float16 (SIMD kernels in blend_f16.h, or a
decoding table), into float32 or float16 output. The Python-facing layer is
`satcle.grid.lookup`; this only fills pre-allocated, validated arrays.
"""

from cython.parallel cimport parallel, prange
from libc.math cimport NAN
from libc.stdint cimport int8_t, int32_t, int64_t, uint16_t

from grid_kernels cimport satcle_prefetch

ctypedef fused stored_t:
    float
    int8_t
    uint16_t   # float16 bit patterns, decoded through a 65536-entry table

ctypedef fused out_t:
    float
    uint16_t   # float16 bit patterns


cdef extern from "blend_f16.h":
    void satcle_blend_f16_simd(const uint16_t** src, const float* w, int k,
                               const float* table, float* dst, int dim, int stream) noexcept nogil
    void satcle_blend_f16_simd_half(const uint16_t** src, const float* w, int k,
                                    const float* table, uint16_t* dst, int dim) noexcept nogil
    int satcle_has_f16_simd() noexcept nogil
    void satcle_blend_f16_avx512(const uint16_t** src, const float* w, int k,
                                 const float* table, float* dst, int dim, int stream) noexcept nogil
    int satcle_has_f16_avx512() noexcept nogil
    void satcle_f32_to_f16_row(const float* src, uint16_t* dst, int n, int simd) noexcept nogil
    void satcle_store_fence() noexcept nogil

# How float16 rows are blended: AVX-512 (one streaming store per cache line),
# AVX2 + F16C + FMA, or a decoding table; the best the CPU has unless asked.
cdef enum:
    F16_TABLE_KERNEL = 0
    F16_AVX2_KERNEL = 1
    F16_AVX512_KERNEL = 2

F16_TABLE, F16_AVX2, F16_AVX512 = F16_TABLE_KERNEL, F16_AVX2_KERNEL, F16_AVX512_KERNEL
BEST_F16_KERNEL = (F16_AVX512_KERNEL if satcle_has_f16_avx512()
                   else F16_AVX2_KERNEL if satcle_has_f16_simd() else F16_TABLE_KERNEL)

cdef enum:
    MAX_K = 8            # rows blended per point at most
    MAX_HALF_DIM = 4096  # columns of float16 output at most (one row of float32 scratch on the stack)
    HALF_NAN = 0x7e00    # float16 quiet NaN
    # Rows of the point this many places ahead are requested while the current one
    # is blended, so that their cache misses overlap instead of queueing.
    PREFETCH_AHEAD = 4


cdef void blend_row(const stored_t* values, const float* scale, const float* table,
                    const int32_t* rows, const float* weights, int k, int dim,
                    float* dst, int f16_kernel, bint stream) noexcept nogil:
    """dst = sum_j weights[j] * dequantised(values[rows[j]]); rows are valid.
    stream: dst is an output row (streamed past the cache where aligned)."""
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
            satcle_blend_f16_avx512(<const uint16_t**>src, w, k, table, dst, dim, stream)
            return
        if f16_kernel == F16_AVX2_KERNEL:
            satcle_blend_f16_simd(<const uint16_t**>src, w, k, table, dst, dim, stream)
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


cdef void blend_row_half(const stored_t* values, const float* scale, const float* table,
                         const int32_t* rows, const float* weights, int k, int dim,
                         uint16_t* dst, int f16_kernel) noexcept nogil:
    """`blend_row` into float16 bits: float16 rows on F16C CPUs in one pass, others
    blended in float32 on this thread's stack, then rounded."""
    cdef float row[MAX_HALF_DIM]
    cdef const stored_t* src[MAX_K]
    cdef int j
    if stored_t is uint16_t:
        if f16_kernel != F16_TABLE_KERNEL:   # AVX-512 or AVX2: the same bits
            for j in range(k):
                src[j] = values + <int64_t>rows[j] * dim
            satcle_blend_f16_simd_half(<const uint16_t**>src, weights, k, table, dst, dim)
            return
    blend_row(values, scale, table, rows, weights, k, dim, row, f16_kernel, False)
    satcle_f32_to_f16_row(row, dst, dim, f16_kernel != F16_TABLE_KERNEL)


def gather_blend(const stored_t[:, ::1] values, const float[::1] scale,
                 const float[::1] half_table, const int32_t[:, ::1] rows,
                 const float[:, ::1] weights, out_t[:, ::1] out,
                 const int64_t[::1] destination, int num_threads=0, int f16_kernel=-1):
    """out[dest(i)] = sum_k weights[i, k] * dequantised(values[rows[i, k]]), in parallel,
    where dest(i) is destination[i], or i when `destination` is empty.

    values (M, D) float32, int8 (row r times scale[r]) or uint16 float16 bits
    (decoded by F16C, or by half_table[bits], (65536,) float32, required);
    rows (N, K) int32, K <= 8, a negative row meaning "no value": the output
    row is NaN. out (>= N, D): float32, or uint16 for float16 bits (rounded
    to nearest even from the float32 blend; D <= 4096). scale must have M entries for int8 and may be empty otherwise.
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
    if out_t is uint16_t and dim > MAX_HALF_DIM:
        raise ValueError(f"float16 output has at most {MAX_HALF_DIM} columns, got {dim}")
    if out.shape[0] < n:
        raise ValueError("out must have a row per point (destination: a permutation of its rows)")
    if n == 0:
        return
    cdef const stored_t* v = &values[0, 0]
    cdef const float* sc = NULL
    cdef const float* ht = NULL
    cdef const int32_t* r = &rows[0, 0]
    cdef const float* w = &weights[0, 0]
    cdef out_t* o = &out[0, 0]
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
    with nogil, parallel(num_threads=num_threads):
        for i in prange(n, schedule="static"):
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
                    if out_t is float:
                        o[at * dim + d] = NAN
                    else:
                        o[at * dim + d] = HALF_NAN
            elif out_t is float:
                blend_row(v, sc, ht, r + i * kk, w + i * kk, kk, dim, o + at * dim, f16_kernel, True)
            else:
                blend_row_half(v, sc, ht, r + i * kk, w + i * kk, kk, dim, o + at * dim, f16_kernel)
        # This thread's streamed rows are complete before the caller reads them.
        satcle_store_fence()
