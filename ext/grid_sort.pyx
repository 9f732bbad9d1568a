# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True, initializedcheck=False
"""Spatial order of points: a counting sort by 1 x 1 degree block, so that a
large lookup visits neighbouring points together (shared cache lines of the
index and the rows)."""

from libc.stdint cimport int64_t
from libc.stdlib cimport calloc, free


cdef enum:
    BLOCKS = 180 * 360   # 1 x 1 degree blocks


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
