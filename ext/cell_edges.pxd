# The exact containing-cell test of the grid lookup (inline, for ext/grid_locate.pyx):
# a point against the great-circle edges of a stored cell, computed in float64
# from the index's float32 vertices.

from libc.math cimport sqrt
from libc.stdint cimport int32_t

from grid_kernels cimport centre_of, index_view
from sphere cimport triple


cdef inline void vertex_of(const index_view* ix, int32_t row, double* v) noexcept nogil:
    cdef const float* f = &ix.vertices[3 * <Py_ssize_t>row]
    v[0] = f[0]
    v[1] = f[1]
    v[2] = f[2]


cdef inline double edge_margin(const double* p, const double* a, const double* b) noexcept nogil:
    """Sine of the angle from p to the great circle through a and b: > 0 on
    its left seen from outside (inside a cell whose vertices run counter-clockwise)."""
    cdef double nx = a[1] * b[2] - a[2] * b[1]
    cdef double ny = a[2] * b[0] - a[0] * b[2]
    cdef double nz = a[0] * b[1] - a[1] * b[0]
    return (p[0] * nx + p[1] * ny + p[2] * nz) / sqrt(nx * nx + ny * ny + nz * nz)


cdef inline double inside_margin(const double* p, int32_t row, const index_view* ix) noexcept nogil:
    """> 0 inside the cell, < 0 outside; the magnitude is the sine of the angle
    to the deciding edge's great circle (computed in float64 from the stored
    float32 vertices, the same for the two cells sharing the edge).

    Convex cells: the minimum over edges. Cells that cross an icosahedron edge
    (more than 6 vertices, listed in the fan table) are not convex at their
    distortion vertices, but they are star-shaped around the centre: find the
    wedge (centre, v_i, v_i+1) holding p and test p against that edge alone.
    """
    cdef const int32_t* ids = &ix.cell_vertices[6 * <Py_ssize_t>row]
    cdef int32_t k
    cdef int count, i
    cdef double c[3]
    cdef double v[3]
    cdef double w[3]
    cdef double s, best = 2.0
    if ids[0] < 0:
        k = -1 - ids[0]
        count = ix.fan_offsets[k + 1] - ix.fan_offsets[k]
        ids = &ix.fan_vertex_ids[ix.fan_offsets[k]]
        centre_of(ix, row, c)
        for i in range(count):
            vertex_of(ix, ids[i], v)
            vertex_of(ix, ids[(i + 1) % count], w)
            if triple(p, c, v) >= 0.0 and triple(p, w, c) >= 0.0:
                return edge_margin(p, v, w)
    else:
        count = 5 if ids[5] < 0 else 6
    vertex_of(ix, ids[0], w)
    for i in range(count):
        v[0] = w[0]
        v[1] = w[1]
        v[2] = w[2]
        vertex_of(ix, ids[(i + 1) % count], w)
        s = edge_margin(p, v, w)
        if s < best:
            best = s
    return best
