# Vector geometry on the unit sphere, inline for the kernels (float64, degrees in).

from libc.math cimport M_PI, cos, sin


cdef inline double dot3(const double* a, const double* b) noexcept nogil:
    return a[0] * b[0] + a[1] * b[1] + a[2] * b[2]


cdef inline double triple(const double* p, const double* b, const double* c) noexcept nogil:
    """p . (b x c)"""
    return (p[0] * (b[1] * c[2] - b[2] * c[1])
            + p[1] * (b[2] * c[0] - b[0] * c[2])
            + p[2] * (b[0] * c[1] - b[1] * c[0]))


cdef inline void unit_vector(double lat, double lon, double* p) noexcept nogil:
    """Degrees -> p[0:3], the point on the unit sphere (x towards (0, 0), z north)."""
    cdef double phi = lat * (M_PI / 180.0), lam = lon * (M_PI / 180.0)
    p[0] = cos(phi) * cos(lam)
    p[1] = cos(phi) * sin(lam)
    p[2] = sin(phi)
