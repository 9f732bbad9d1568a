# Vector geometry on the unit sphere, inline for the kernels (float64), and the
# unit vectors of points in degrees (unit_vectors.h).


cdef extern from "unit_vectors.h":
    void satcle_unit_vectors(const double* lat, const double* lon, double* out, Py_ssize_t n,
                             int vector) noexcept nogil
    int satcle_has_vector_trig() noexcept nogil


cdef inline double dot3(const double* a, const double* b) noexcept nogil:
    return a[0] * b[0] + a[1] * b[1] + a[2] * b[2]


cdef inline double triple(const double* p, const double* b, const double* c) noexcept nogil:
    """p . (b x c)"""
    return (p[0] * (b[1] * c[2] - b[2] * c[1])
            + p[1] * (b[2] * c[0] - b[0] * c[2])
            + p[2] * (b[0] * c[1] - b[1] * c[0]))

