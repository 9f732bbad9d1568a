# Shared declarations of the grid lookup kernels (grid_locate, grid_blend, grid_sort):
# the cell index's view, the row status codes and the prefetch hint.

from libc.stdint cimport int32_t


cdef extern from "prefetch.h":
    void satcle_prefetch(const void* address) noexcept nogil


# Status codes written to `cell_rows` besides a row number.
cdef enum:
    MISS_ROW = -1        # no stored cell contains the point
    AMBIGUOUS_ROW = -2   # within rounding of a cell edge: resolved by h3 in Python


# Sentinels of the index's neighbour and vertex tables (Python's
# satcle.grid.lookup.cell_index.NOT_STORED and ABSENT; tests/grid/lookup/test_kernel_layout.py).
cdef enum:
    NOT_STORED_ROW = -1  # a neighbour the grid does not store; a pentagon's unused sixth vertex
    ABSENT_ROW = -2      # the sixth neighbour slot of a pentagon


ctypedef struct index_view:
    # The `CellIndex` arrays (satcle/grid/lookup/cell_index.py) and search constants, as one argument.
    const float* centres           # (M, 3) unit vectors
    const int32_t* neighbours      # (M, 6) rows counter-clockwise, NOT_STORED_ROW / ABSENT_ROW
    const int32_t* cell_vertices   # (M, 6) rows of `vertices`; first < 0: a fan cell, -1 - k
    const float* vertices          # (V, 3) unit vectors
    const int32_t* fan_offsets     # (F + 1,) into fan_vertex_ids
    const int32_t* fan_vertex_ids  # rows of `vertices`
    const int32_t* bucket_offsets  # (n_lat * n_lon + 1,) into bucket_rows
    const int32_t* bucket_rows     # candidate rows
    int n_lat
    int n_lon
    bint wraps
    double lat0
    double lon0
    double delta
    double min_dot
    double edge_epsilon
    double ambiguity_margin


cdef inline void centre_of(const index_view* ix, int32_t row, double* c) noexcept nogil:
    """c[0:3] = the centre of `row` (>= 0), as float64."""
    cdef const float* f = &ix.centres[3 * <Py_ssize_t>row]
    c[0] = f[0]
    c[1] = f[1]
    c[2] = f[2]


cdef inline int neighbour_count(const int32_t* neighbours) noexcept nogil:
    """6, or 5 for a pentagon (its sixth slot ABSENT_ROW)."""
    return 5 if neighbours[5] == ABSENT_ROW else 6
