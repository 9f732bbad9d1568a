/* float16 row blending for ext/grid_blend.pyx: dst = sum_j w[j] * src[j][0:dim],
   with F16C + FMA (AVX2) or AVX-512 where the CPU has them (checked once at
   import, `satcle_has_f16_*`); other CPUs decode through a 65536-entry table
   in grid_blend.pyx instead. All variants give the same bits. */
#ifndef SATCLE_BLEND_F16_H
#define SATCLE_BLEND_F16_H

#include <stdint.h>
#if defined(__GNUC__) && (defined(__x86_64__) || defined(__i386__))
#include <immintrin.h>
/* Columns d..dim-1 that fill no whole vector, through the table. */
static inline void satcle_blend_f16_tail(const uint16_t* const* src, const float* w, int k,
                                         const float* table, float* dst, int d, int dim) {
    for (; d < dim; d++) {
        float acc = 0.0f;
        for (int j = 0; j < k; j++) acc += w[j] * table[src[j][d]];
        dst[d] = acc;
    }
}
__attribute__((target("avx2,f16c,fma")))
static void satcle_blend_f16_simd(const uint16_t* const* src, const float* w, int k,
                                  const float* table, float* dst, int dim) {
    /* Output rows are written whole and not read back: stream them past the
       cache (no read-for-ownership) where they are 32-byte aligned. */
    int stream = ((uintptr_t)dst & 31) == 0 && dim % 8 == 0;
    int d = 0;
    for (; d + 8 <= dim; d += 8) {
        __m256 acc = _mm256_setzero_ps();
        for (int j = 0; j < k; j++) {
            __m256 v = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i*)(src[j] + d)));
            acc = _mm256_fmadd_ps(_mm256_set1_ps(w[j]), v, acc);
        }
        if (stream) _mm256_stream_ps(dst + d, acc);
        else _mm256_storeu_ps(dst + d, acc);
    }
    satcle_blend_f16_tail(src, w, k, table, dst, d, dim);
    if (stream) _mm_sfence();
}
/* The same with 16 values per instruction: one 64-byte (full cache line)
   streaming store per 16 outputs. */
__attribute__((target("avx512f")))
static void satcle_blend_f16_avx512(const uint16_t* const* src, const float* w, int k,
                                    const float* table, float* dst, int dim) {
    int stream = ((uintptr_t)dst & 63) == 0 && dim % 16 == 0;
    int d = 0;
    for (; d + 16 <= dim; d += 16) {
        __m512 acc = _mm512_setzero_ps();
        for (int j = 0; j < k; j++) {
            __m512 v = _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i*)(src[j] + d)));
            acc = _mm512_fmadd_ps(_mm512_set1_ps(w[j]), v, acc);
        }
        if (stream) _mm512_stream_ps(dst + d, acc);
        else _mm512_storeu_ps(dst + d, acc);
    }
    satcle_blend_f16_tail(src, w, k, table, dst, d, dim);
    if (stream) _mm_sfence();
}
static int satcle_has_f16_avx512(void) {
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx512f");
}
static int satcle_has_f16_simd(void) {
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("f16c")
           && __builtin_cpu_supports("fma");
}
#else
static void satcle_blend_f16_simd(const uint16_t* const* src, const float* w, int k,
                                  const float* table, float* dst, int dim) {}
static int satcle_has_f16_simd(void) { return 0; }
static void satcle_blend_f16_avx512(const uint16_t* const* src, const float* w, int k,
                                    const float* table, float* dst, int dim) {}
static int satcle_has_f16_avx512(void) { return 0; }
#endif

#endif /* SATCLE_BLEND_F16_H */
