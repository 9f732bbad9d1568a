/* Points in degrees -> unit vectors on the sphere, for ext/grid_locate.pyx:
   x = cos(lat) cos(lon), y = cos(lat) sin(lon), z = sin(lat) (x towards
   (0, 0), z north), out[3 * i .. 3 * i + 2] for point i.

   Four points at a time with glibc's vector sin and cos (libmvec, AVX2) where
   the build links it (SATCLE_LIBMVEC: glibc on x86-64, setup.py) and the CPU
   has AVX2 (satcle_has_vector_trig, checked once at import); elsewhere, and for
   the last n % 4 points, through libm one point at a time. Scalar libm took
   about 47 ms per million points on one core, a quarter of `locate`; libmvec
   takes 8. libmvec is within 4 ulp and libm within 1, so the two paths differ
   in the last bits (by at most 5.6e-16 measured, far inside the 2e-7 band
   within which `locate` leaves a point to h3). */
#ifndef SATCLE_UNIT_VECTORS_H
#define SATCLE_UNIT_VECTORS_H

#include <math.h>
#include <stddef.h>

#define SATCLE_RADIANS_PER_DEGREE (3.14159265358979323846 / 180.0)

static inline void satcle_unit_vector(double lat, double lon, double* p) {
    double phi = lat * SATCLE_RADIANS_PER_DEGREE, lam = lon * SATCLE_RADIANS_PER_DEGREE;
    p[0] = cos(phi) * cos(lam);
    p[1] = cos(phi) * sin(lam);
    p[2] = sin(phi);
}

#if defined(SATCLE_LIBMVEC) && defined(__GNUC__) && defined(__x86_64__)
#include <immintrin.h>
/* libmvec's AVX2 variants (the x86-64 vector function ABI names). */
__m256d _ZGVdN4v_sin(__m256d x);
__m256d _ZGVdN4v_cos(__m256d x);

__attribute__((target("avx2")))
static ptrdiff_t satcle_unit_vectors_avx2(const double* lat, const double* lon, double* out, ptrdiff_t n) {
    const __m256d radians = _mm256_set1_pd(SATCLE_RADIANS_PER_DEGREE);
    double x[4], y[4], z[4];
    ptrdiff_t i = 0;
    for (; i + 4 <= n; i += 4) {
        __m256d phi = _mm256_mul_pd(_mm256_loadu_pd(lat + i), radians);
        __m256d lam = _mm256_mul_pd(_mm256_loadu_pd(lon + i), radians);
        __m256d cos_phi = _ZGVdN4v_cos(phi);
        _mm256_storeu_pd(x, _mm256_mul_pd(cos_phi, _ZGVdN4v_cos(lam)));
        _mm256_storeu_pd(y, _mm256_mul_pd(cos_phi, _ZGVdN4v_sin(lam)));
        _mm256_storeu_pd(z, _ZGVdN4v_sin(phi));
        for (int j = 0; j < 4; j++) {
            out[3 * (i + j)] = x[j];
            out[3 * (i + j) + 1] = y[j];
            out[3 * (i + j) + 2] = z[j];
        }
    }
    return i;
}
static int satcle_has_vector_trig(void) {
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx2");
}
#else
static ptrdiff_t satcle_unit_vectors_avx2(const double* lat, const double* lon, double* out, ptrdiff_t n) {
    return 0;
}
static int satcle_has_vector_trig(void) { return 0; }
#endif

/* vector: use libmvec (only where satcle_has_vector_trig()). */
static void satcle_unit_vectors(const double* lat, const double* lon, double* out, ptrdiff_t n, int vector) {
    ptrdiff_t i = vector ? satcle_unit_vectors_avx2(lat, lon, out, n) : 0;
    for (; i < n; i++) satcle_unit_vector(lat[i], lon[i], out + 3 * i);
}

#endif /* SATCLE_UNIT_VECTORS_H */
