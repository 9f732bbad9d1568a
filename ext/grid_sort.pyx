# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True, initializedcheck=False
"""Spatial order of points: a counting sort by 1 x 1 degree block, so that a
large lookup visits neighbouring points together (shared cache lines of the
index and the rows)."""

from cython.parallel cimport prange
from libc.stdint cimport int64_t
from libc.stdlib cimport calloc, free

from omp_threads cimport satcle_max_threads


cdef enum:
    BLOCKS = 180 * 360   # 1 x 1 degree blocks
    # Points per part at least: each part costs a histogram of BLOCKS counts.
    MIN_PART = 65536


cdef inline int block_of(double lat, double lon) noexcept nogil:
    """1 x 1 degree block of a point in degrees (lat in [-90, 90], lon in [-180, 180])."""
    cdef int row = <int>(lat + 90.0), col = <int>(lon + 180.0)
    if row > 179:
        row = 179
    if col > 359:
        col = 359
    return row * 360 + col


def spatial_sort(const double[::1] lats, const double[::1] lons, int64_t[::1] order,
                 double[::1] sorted_lats, double[::1] sorted_lons, int num_threads=0):
    """Group points (degrees, validated) by 1 x 1 degree block, stably: a
    counting sort writing the permutation to `order` (N,) and the permuted
    coordinates to `sorted_lats`, `sorted_lons` (N,) in one pass, so that
    sorted_lats[i] == lats[order[i]].

    num_threads (0: all cores, as OpenMP counts them): the points are cut into
    that many consecutive parts (at most one per MIN_PART points), each
    counted and then placed by one thread; within a block the parts' slots
    follow each other, so the result is the same for every thread count."""
    cdef Py_ssize_t n = lats.shape[0], i
    if lons.shape[0] != n or order.shape[0] != n or sorted_lats.shape[0] != n or sorted_lons.shape[0] != n:
        raise ValueError("lats, lons, order, sorted_lats and sorted_lons must have the same length")
    if num_threads < 0:
        raise ValueError(f"num_threads must be >= 0, got {num_threads}")
    if num_threads == 0:
        num_threads = satcle_max_threads()
    cdef int parts = <int>min(<Py_ssize_t>num_threads, n // MIN_PART + 1), p
    # next_slot[p * BLOCKS + b]: points of part p in block b, then the slot of the next of them.
    cdef int64_t* next_slot = <int64_t*>calloc(<size_t>parts * BLOCKS, sizeof(int64_t))
    if next_slot == NULL:
        raise MemoryError()
    cdef int64_t total = 0, count, at
    cdef int64_t* slots
    cdef int b
    with nogil:
        for p in prange(parts, schedule="static", chunksize=1, num_threads=parts):
            slots = next_slot + <Py_ssize_t>p * BLOCKS
            for i in range(n * p // parts, n * (p + 1) // parts):
                slots[block_of(lats[i], lons[i])] += 1
        for b in range(BLOCKS):   # counts -> first slot of each (block, part), parts in order
            for p in range(parts):
                count = next_slot[<Py_ssize_t>p * BLOCKS + b]
                next_slot[<Py_ssize_t>p * BLOCKS + b] = total
                total += count
        for p in prange(parts, schedule="static", chunksize=1, num_threads=parts):
            slots = next_slot + <Py_ssize_t>p * BLOCKS
            for i in range(n * p // parts, n * (p + 1) // parts):
                b = block_of(lats[i], lons[i])
                at = slots[b]
                slots[b] = at + 1
                order[at] = i
                sorted_lats[at] = lats[i]
                sorted_lons[at] = lons[i]
    free(next_slot)
