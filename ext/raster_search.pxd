# The raster search of the grid lookup (inline, for ext/grid_locate.pyx): a
# point's bucket of the index's lat/lon raster, and the nearest stored centre
# among that bucket's candidates.

from libc.math cimport floor, fmod
from libc.stdint cimport int32_t, int64_t

from grid_kernels cimport index_view


cdef inline int64_t bucket_of(double lat, double lon, const index_view* ix) noexcept nogil:
    """Raster bucket of a point in degrees, or -1 outside the raster's box
    (where no stored centre is within the search radius)."""
    cdef double r = floor((lat - ix.lat0) / ix.delta)
    cdef double c, east = fmod(lon - ix.lon0, 360.0)
    if east < 0.0:
        east = east + 360.0
    c = floor(east / ix.delta)
    if r < 0.0 or r >= ix.n_lat:
        return -1
    if c >= ix.n_lon:
        if not ix.wraps:
            return -1
        c = c - ix.n_lon   # 360 degrees east of the west edge, by rounding
    return <int64_t>r * ix.n_lon + <int64_t>c


cdef inline int32_t nearest_centre(const double* p, const index_view* ix, int64_t b, double min_dot) noexcept nogil:
    """Row of the nearest of bucket b's candidates within the search radius
    (dot product above min_dot), or -1. The bucket lists every centre within
    the radius of any of its points, so this is the nearest stored centre."""
    cdef int64_t k
    cdef int32_t row, found = -1
    cdef const float* c
    cdef double d, best = min_dot
    if b < 0:
        return -1
    for k in range(ix.bucket_offsets[b], ix.bucket_offsets[b + 1]):
        row = ix.bucket_rows[k]
        c = &ix.centres[3 * <Py_ssize_t>row]
        d = p[0] * c[0] + p[1] * c[1] + p[2] * c[2]
        if d > best:
            best = d
            found = row
    return found
