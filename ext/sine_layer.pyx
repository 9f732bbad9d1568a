# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True, initializedcheck=False
"""The sine layers' elementwise step for the inference path: h <- sin(h + bias).

One pass over the (cache-resident) product instead of torch's two (the bias
broadcast before the product, then `sin_`). float32 throughout: Cody-Waite
reduction by pi/2 in three parts and Cephes' minimax polynomials on [-pi/4, pi/4]
(within 1.5 ulp of sin for |argument| <= 1e4, which is every argument of a
trained Siren; a row with any larger or non-finite argument goes through libm's
sinf). Compiled for x86-64-v4 (AVX-512), v3 (AVX2) and baseline, chosen at load
time (GCC on Linux x86-64); elsewhere baseline only. Every variant does the same
float32 operations in the same order, so the values do not depend on the CPU.
"""

cdef extern from *:
    """
    #include <math.h>
    #include <stddef.h>
    #if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__) && defined(__linux__)
    #define SATCLE_CLONES __attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default")))
    #else
    #define SATCLE_CLONES
    #endif
    /* Without AVX-512's masks GCC vectorises the quadrant selects below only when it may
       compute both branches, which it refuses while floating-point exceptions are kept
       (-ftrapping-math): without this the AVX2 variant runs scalar, 6x slower. Flags only:
       no value changes. */
    #if defined(__GNUC__) && !defined(__clang__)
    #define SATCLE_NO_TRAPS __attribute__((optimize("no-trapping-math")))
    #else
    #define SATCLE_NO_TRAPS
    #endif

    /* sin(h + bias) in place over rows x cols, float32 in and out; |arg| <= 1e4 as below,
       larger or non-finite arguments through libm's sinf. Every multiply-add is an explicit fma
       and nothing else can be contracted, so every variant (AVX-512, AVX2: fused instructions;
       baseline: libm's exactly rounded fma) gives the same bits. */
    SATCLE_CLONES SATCLE_NO_TRAPS
    static void satcle_sin_bias(float *h, const float *bias, ptrdiff_t rows, ptrdiff_t cols)
    {
        for (ptrdiff_t i = 0; i < rows; i++) {
            float *row = h + i * cols;
            int big = 0;
            for (ptrdiff_t j = 0; j < cols; j++) {
                float v = row[j] + bias[j];
                row[j] = v;
                big |= !(fabsf(v) <= 1.0e4f);   /* NaN too */
            }
            if (big) {
                for (ptrdiff_t j = 0; j < cols; j++) row[j] = sinf(row[j]);
                continue;
            }
            for (ptrdiff_t j = 0; j < cols; j++) {
                /* musl's sinf in double: v = k pi/2 + r, |r| <= pi/4, then the __sindf / __cosdf
                   minimax polynomials; the one rounding to float makes it within 1 ulp. */
                double v = (double) row[j];
                double k = rint(v * 6.36619772367581382433e-01);
                int q = (int) k;
                double r = fma(-k, 1.57079631090164184570e+00, v);
                r = fma(-k, 1.58932547735281966916e-08, r);
                double z = r * r, w = z * z, t = z * r;
                double sn = fma(t * w, fma(z, 2.71831149398982190640e-06, -1.98393348360966317347e-04),
                                fma(t, fma(z, 8.33332938588946317560e-03, -1.66666666416265235595e-01), r));
                double cs = fma(w * z, fma(z, 2.43904487962774090654e-05, -1.38867637746099294692e-03),
                                fma(w, 4.16666233237390631894e-02, fma(z, -4.99999997251031003120e-01, 1.0)));
                double y = (q & 1) ? cs : sn;
                row[j] = (float) ((q & 2) ? -y : y);
            }
        }
    }
    """
    void satcle_sin_bias(float* h, const float* bias, Py_ssize_t rows, Py_ssize_t cols) noexcept nogil


def sin_bias_(float[:, ::1] h, const float[::1] bias):
    """In place: h[i, j] = sin(h[i, j] + bias[j]); h (N, D) and bias (D,) float32, C-contiguous."""
    if bias.shape[0] != h.shape[1]:
        raise ValueError(f"bias has {bias.shape[0]} values for {h.shape[1]} columns")
    if h.shape[0] == 0 or h.shape[1] == 0:
        return
    with nogil:
        satcle_sin_bias(&h[0, 0], &bias[0], h.shape[0], h.shape[1])
