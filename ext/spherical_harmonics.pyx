# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True, initializedcheck=False
"""Real orthonormal spherical harmonics by the associated-Legendre recurrence.

The Python-facing entry point is `satcle.model.spherical_harmonics`; this module
only fills pre-allocated, validated arrays. Every value is computed in float64
(the recurrence loses accuracy in float32 for large degrees) and stored in the
output's dtype.
"""

from cython.parallel cimport prange, threadid
from cython.view cimport array as cvarray
from openmp cimport omp_get_max_threads
from libc.math cimport M_PI, cos, sin, sqrt

ctypedef fused real_out:
    float
    double

cdef double DEG2RAD = M_PI / 180.0
cdef double SQRT2 = 1.4142135623730951


cdef void real_sh_row(double lat_deg, double lon_deg, int degree,
                      const double* a, const double* b,
                      double* cos_m, double* sin_m, double* row) noexcept nogil:
    """Fill `row` (degree**2 values, ordered l then m = -l..l) for one point.

    The fully normalised Legendre values P~_l^m (no Condon-Shortley phase) follow
    the standard three-term recurrence in l for fixed m, seeded by the sectoral
    values P~_m^m, which keeps every intermediate bounded (no factorials).
    """
    cdef double x = sin(lat_deg * DEG2RAD)   # cos(colatitude)
    cdef double s = cos(lat_deg * DEG2RAD)   # sin(colatitude) >= 0
    cdef double phi = lon_deg * DEG2RAD
    cdef double c1 = cos(phi)
    cdef double pmm = 0.28209479177387814    # sqrt(1 / (4 pi))
    cdef double p0, p1, p2
    cdef int l, m

    if s < 0.0:  # only from rounding at the poles
        s = 0.0
    cos_m[0] = 1.0
    sin_m[0] = 0.0
    if degree > 1:
        cos_m[1] = c1
        sin_m[1] = sin(phi)
    for m in range(2, degree):
        # Chebyshev recurrence: two FMAs instead of two libm calls per order.
        cos_m[m] = 2.0 * c1 * cos_m[m - 1] - cos_m[m - 2]
        sin_m[m] = 2.0 * c1 * sin_m[m - 1] - sin_m[m - 2]

    for m in range(degree):
        if m > 0:
            pmm = pmm * sqrt((2.0 * m + 1.0) / (2.0 * m)) * s
        p0 = pmm
        _store(row, m, m, p0, cos_m, sin_m)
        if m + 1 < degree:
            p1 = sqrt(2.0 * m + 3.0) * x * p0
            _store(row, m + 1, m, p1, cos_m, sin_m)
            for l in range(m + 2, degree):
                p2 = a[l * degree + m] * (x * p1 - b[l * degree + m] * p0)
                _store(row, l, m, p2, cos_m, sin_m)
                p0 = p1
                p1 = p2


cdef inline void _store(double* row, int l, int m, double p,
                        const double* cos_m, const double* sin_m) noexcept nogil:
    cdef int centre = l * l + l
    if m == 0:
        row[centre] = p
    else:
        row[centre + m] = SQRT2 * p * cos_m[m]
        row[centre - m] = SQRT2 * p * sin_m[m]


def fill_real_sh(const double[::1] lats, const double[::1] lons, int degree,
                 const double[:, ::1] a, const double[:, ::1] b,
                 real_out[:, ::1] out, int num_threads=0):
    """Write SH features of N points into `out` (N, degree**2), in parallel.

    lats, lons: (N,) float64 degrees, already validated and wrapped.
    a, b: (degree, degree) recurrence coefficients from `recurrence_coefficients`.
    num_threads: 0 uses all OpenMP threads (all cores).
    """
    cdef Py_ssize_t n = lats.shape[0]
    cdef Py_ssize_t i
    cdef int k, t, nfeat = degree * degree
    cdef int width = 2 * degree + nfeat
    if degree < 1:
        raise ValueError("degree must be >= 1")
    if lons.shape[0] != n or out.shape[0] != n or out.shape[1] != nfeat:
        raise ValueError("lats, lons and out (N, degree**2) must agree")
    if a.shape[0] != degree or a.shape[1] != degree or b.shape[0] != degree or b.shape[1] != degree:
        raise ValueError("recurrence tables are smaller than degree")
    if n == 0:
        return
    if num_threads <= 0:
        num_threads = omp_get_max_threads()
    # One scratch row per thread: cos/sin of m*phi, then the float64 features.
    cdef double[:, ::1] scratch = cvarray(shape=(num_threads, width),
                                          itemsize=sizeof(double), format="d")
    # Raw pointers inside the loop: passing memoryview slices to a cdef function
    # touches their shared reference count, which serialises the threads.
    cdef double* scratch_p = &scratch[0, 0]
    cdef const double* a_p = &a[0, 0]
    cdef const double* b_p = &b[0, 0]
    cdef const double* lat_p = &lats[0]
    cdef const double* lon_p = &lons[0]
    cdef real_out* out_p = &out[0, 0]
    cdef double* row
    for i in prange(n, nogil=True, schedule="static", num_threads=num_threads):
        t = threadid()
        row = scratch_p + t * width
        real_sh_row(lat_p[i], lon_p[i], degree, a_p, b_p,
                    row, row + degree, row + 2 * degree)
        for k in range(nfeat):
            out_p[i * nfeat + k] = <real_out> row[2 * degree + k]
