# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True, initializedcheck=False
"""Real orthonormal spherical harmonics by the associated-Legendre recurrence.

The Python-facing entry point is `satcle.model.spherical_harmonics`; this module
only fills pre-allocated, validated arrays. Every value is computed in float64
(the recurrence loses accuracy in float32 for large degrees) and stored in the
output's dtype.
"""

from cython.parallel cimport prange
from libc.math cimport M_PI, cos, sin, sqrt

from omp_threads cimport satcle_max_threads

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


cdef enum:
    BLOCK = 8  # points evaluated together: 8 independent recurrences in flight


cdef void real_sh_block(const double* lat_deg, const double* lon_deg, int count, int degree,
                        const double* a, const double* b, real_out* out) noexcept nogil:
    """`real_sh_row` for `count` <= BLOCK consecutive points, into rows of `out`.

    The same operations, in the same order, as `real_sh_row` for each point (so
    the same values to the bit), but the recurrences of BLOCK points advance
    together in local arrays (which the compiler keeps in vector registers: no
    pointer into them can alias `out`), and cos/sin(m phi) advance with m.
    Points past `count` repeat the last one and are not stored.
    """
    cdef double x[BLOCK]
    cdef double s[BLOCK]
    cdef double c1[BLOCK]
    cdef double pmm[BLOCK]
    cdef double p0[BLOCK]
    cdef double p1[BLOCK]
    cdef double p2[BLOCK]
    cdef double cm[BLOCK]       # cos(m phi), cos((m - 1) phi)
    cdef double cm1[BLOCK]
    cdef double sm[BLOCK]       # sin(m phi), sin((m - 1) phi)
    cdef double sm1[BLOCK]
    cdef double phi, f, g, am, bm, t
    cdef int j, jj, l, m, nfeat = degree * degree

    for j in range(BLOCK):
        jj = j if j < count else count - 1
        x[j] = sin(lat_deg[jj] * DEG2RAD)
        s[j] = cos(lat_deg[jj] * DEG2RAD)
        if s[j] < 0.0:  # only from rounding at the poles
            s[j] = 0.0
        phi = lon_deg[jj] * DEG2RAD
        c1[j] = cos(phi)
        cm1[j] = sin(phi) if degree > 1 else 0.0  # sin(phi), parked in cm1 until m = 1
        cm[j] = 1.0
        sm[j] = 0.0
        sm1[j] = 0.0
        pmm[j] = 0.28209479177387814

    for m in range(degree):
        if m == 1:
            for j in range(BLOCK):
                sm[j] = cm1[j]
                cm1[j] = 1.0
                sm1[j] = 0.0
                cm[j] = c1[j]
        elif m > 1:
            # Chebyshev recurrence: two FMAs instead of two libm calls per order.
            for j in range(BLOCK):
                t = 2.0 * c1[j] * cm[j] - cm1[j]
                cm1[j] = cm[j]
                cm[j] = t
                t = 2.0 * c1[j] * sm[j] - sm1[j]
                sm1[j] = sm[j]
                sm[j] = t
        if m > 0:
            f = sqrt((2.0 * m + 1.0) / (2.0 * m))
            for j in range(BLOCK):
                pmm[j] = pmm[j] * f * s[j]
        for j in range(BLOCK):
            p0[j] = pmm[j]
        _store_block(out, nfeat, count, m, m, p0, cm, sm)
        if m + 1 < degree:
            g = sqrt(2.0 * m + 3.0)
            for j in range(BLOCK):
                p1[j] = g * x[j] * p0[j]
            _store_block(out, nfeat, count, m + 1, m, p1, cm, sm)
            for l in range(m + 2, degree):
                am = a[l * degree + m]
                bm = b[l * degree + m]
                for j in range(BLOCK):
                    p2[j] = am * (x[j] * p1[j] - bm * p0[j])
                    p0[j] = p1[j]
                    p1[j] = p2[j]
                _store_block(out, nfeat, count, l, m, p2, cm, sm)


cdef inline void _store_block(real_out* out, int nfeat, int count, int l, int m, const double* p,
                              const double* cos_m, const double* sin_m) noexcept nogil:
    cdef int j, centre = l * l + l
    cdef double q
    if m == 0:
        for j in range(count):
            out[j * nfeat + centre] = <real_out> p[j]
    else:
        for j in range(count):
            q = SQRT2 * p[j]
            out[j * nfeat + centre + m] = <real_out> (q * cos_m[j])
            out[j * nfeat + centre - m] = <real_out> (q * sin_m[j])


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
    cdef int nfeat = degree * degree
    if degree < 1:
        raise ValueError("degree must be >= 1")
    if lons.shape[0] != n or out.shape[0] != n or out.shape[1] != nfeat:
        raise ValueError("lats, lons and out (N, degree**2) must agree")
    if a.shape[0] != degree or a.shape[1] != degree or b.shape[0] != degree or b.shape[1] != degree:
        raise ValueError("recurrence tables are smaller than degree")
    if n == 0:
        return
    if num_threads <= 0:
        num_threads = satcle_max_threads()
    # Raw pointers inside the loop: passing memoryview slices to a cdef function
    # touches their shared reference count, which serialises the threads.
    cdef const double* a_p = &a[0, 0]
    cdef const double* b_p = &b[0, 0]
    cdef const double* lat_p = &lats[0]
    cdef const double* lon_p = &lons[0]
    cdef real_out* out_p = &out[0, 0]
    cdef Py_ssize_t blocks = (n + BLOCK - 1) // BLOCK
    for i in prange(blocks, nogil=True, schedule="static", num_threads=num_threads):
        real_sh_block(lat_p + i * BLOCK, lon_p + i * BLOCK, <int> min(BLOCK, n - i * BLOCK), degree,
                      a_p, b_p, out_p + i * BLOCK * nfeat)
