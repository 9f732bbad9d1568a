# Shared declarations of the grid lookup kernels (grid_locate, grid_blend, grid_sort):
# the cell index's records and their view, the row status codes and the prefetch hint.

from libc.stdint cimport int32_t, int64_t


cdef extern from "prefetch.h":
    void satcle_prefetch(const void* address) noexcept nogil


# Status codes written to `cell_rows` besides a row number.
cdef enum:
    MISS_ROW = -1        # no stored cell contains the point
    AMBIGUOUS_ROW = -2   # within rounding of a cell edge: resolved by h3 in Python


ctypedef struct cell_record:
    # 128 bytes, two cache lines: what locating and interpolating a point read
    # of its nearest cell. Python's view: satcle.grid.lookup.cell_index.CELL_RECORD
    # (tests/grid/lookup/test_kernel_layout.py checks that the two agree).
    float centre[3]
    int32_t neighbours[6]       # rows counter-clockwise, -1 if not stored
    float neighbour_xyz[6][3]   # their centres
    int32_t neighbour_count     # 6, or 5 for pentagons
    int32_t padding[4]


ctypedef struct bucket_entry:
    # One candidate centre of a raster bucket: unit vector and row (16 bytes).
    float xyz[3]
    int32_t row


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


cdef inline void centre_of(const cell_record* rec, double* c) noexcept nogil:
    c[0] = rec.centre[0]
    c[1] = rec.centre[1]
    c[2] = rec.centre[2]
