/* float16 row blending for ext/grid_blend.pyx: dst = sum_j w[j] * src[j][0:dim],
   with F16C + FMA (AVX2) or AVX-512 where the CPU has them (checked once at
   import, `satcle_has_f16_*`); other CPUs decode through a 65536-entry table
   in grid_blend.pyx instead. All variants give the same bits. `stream`: write
   dst past the cache where it is aligned (output rows, not scratch).
   satcle_f32_to_f16_row converts a blended row to float16 bits for
   float16 output, with F16C where the CPU has it (round to nearest even,
   numpy's bits either way). Streaming stores are not fenced per row: a thread
   calls satcle_store_fence once after its last row (a fence per 1 kB row made
   writing in order 1.6x slower). */
#ifndef SATCLE_BLEND_F16_H
#define SATCLE_BLEND_F16_H

#include <stdint.h>
#include <string.h>

/* float32 -> float16 bits, rounding to nearest even (as numpy's astype). */
static inline uint16_t satcle_f32_to_f16(float value) {
    uint32_t x;
    memcpy(&x, &value, 4);
    uint32_t sign = (x >> 16) & 0x8000u, mant = x & 0x7fffffu;
    int exp = (int)((x >> 23) & 0xff);
    if (exp == 0xff) return (uint16_t)(sign | 0x7c00u | (mant ? 0x200u | (mant >> 13) : 0u));
    int e = exp - 127 + 15;
    if (e >= 0x1f) return (uint16_t)(sign | 0x7c00u);
    uint32_t half, rem, mid;
    if (e <= 0) {                      /* float16 subnormal or zero */
        if (e < -10) return (uint16_t)sign;
        mant |= 0x800000u;
        int shift = 14 - e;
        half = mant >> shift;
        rem = mant & ((1u << shift) - 1u);
        mid = 1u << (shift - 1);
    } else {
        half = ((uint32_t)e << 10) | (mant >> 13);
        rem = mant & 0x1fffu;
        mid = 0x1000u;
    }
    if (rem > mid || (rem == mid && (half & 1u))) half++;   /* a carry may reach the exponent: correct */
    return (uint16_t)(sign | half);
}

static inline void satcle_f32_to_f16_scalar(const float* src, uint16_t* dst, int from, int n) {
    for (int d = from; d < n; d++) dst[d] = satcle_f32_to_f16(src[d]);
}
#if defined(__GNUC__) && (defined(__x86_64__) || defined(__i386__))
#include <immintrin.h>
/* Column d of the blend, through the table; the tail: columns d..dim-1 that fill no whole vector. */
static inline float satcle_blend_f16_column(const uint16_t* const* src, const float* w, int k,
                                            const float* table, int d) {
    float acc = w[0] * table[src[0][d]];
    for (int j = 1; j < k; j++) acc += w[j] * table[src[j][d]];
    return acc;
}
static inline void satcle_blend_f16_tail(const uint16_t* const* src, const float* w, int k,
                                         const float* table, float* dst, int d, int dim) {
    for (; d < dim; d++) dst[d] = satcle_blend_f16_column(src, w, k, table, d);
}
/* dst[0:n8] for k rows known at compile time (the j loop unrolled, the weights
   broadcast once per row), written by `store`: float32 by ordinary stores (0)
   or streaming stores of 16 or 32 bytes (16, 32); float16 bits, rounded to
   nearest even, by ordinary (-1) or 16-byte streaming stores (-16). The blend
   is compute-bound where its rows are in cache, and the runtime-k loop spent
   1.5x the instructions. The sum runs in the same order for any k, so every
   variant gives the same bits. */
__attribute__((target("avx2,f16c,fma"), always_inline))
static inline void satcle_blend_f16_fixed(const uint16_t* const* src, const float* w, const int k,
                                          void* dst, int n8, const int store) {
    __m256 wv[8];
    const uint16_t* s[8];
    float* f = (float*)dst;
    uint16_t* h = (uint16_t*)dst;
    for (int j = 0; j < k; j++) { wv[j] = _mm256_set1_ps(w[j]); s[j] = src[j]; }
    for (int d = 0; d < n8; d += 8) {
        __m256 acc = _mm256_mul_ps(wv[0], _mm256_cvtph_ps(_mm_loadu_si128((const __m128i*)(s[0] + d))));
        for (int j = 1; j < k; j++)
            acc = _mm256_fmadd_ps(wv[j], _mm256_cvtph_ps(_mm_loadu_si128((const __m128i*)(s[j] + d))), acc);
        if (store == 32) {
            _mm256_stream_ps(f + d, acc);
        } else if (store == 16) {
            _mm_stream_ps(f + d, _mm256_castps256_ps128(acc));
            _mm_stream_ps(f + d + 4, _mm256_extractf128_ps(acc, 1));
        } else if (store == 0) {
            _mm256_storeu_ps(f + d, acc);
        } else {
            __m128i half = _mm256_cvtps_ph(acc, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
            if (store == -16) _mm_stream_si128((__m128i*)(h + d), half);
            else _mm_storeu_si128((__m128i*)(h + d), half);
        }
    }
}
/* satcle_blend_f16_fixed with the k of the call, for one store kind. */
#define SATCLE_BLEND_F16_BY_K(STORE) do { switch (k) { \
        case 1: satcle_blend_f16_fixed(src, w, 1, dst, n8, STORE); break; \
        case 2: satcle_blend_f16_fixed(src, w, 2, dst, n8, STORE); break; \
        case 3: satcle_blend_f16_fixed(src, w, 3, dst, n8, STORE); break; \
        case 4: satcle_blend_f16_fixed(src, w, 4, dst, n8, STORE); break; \
        case 5: satcle_blend_f16_fixed(src, w, 5, dst, n8, STORE); break; \
        case 6: satcle_blend_f16_fixed(src, w, 6, dst, n8, STORE); break; \
        case 7: satcle_blend_f16_fixed(src, w, 7, dst, n8, STORE); break; \
        default: satcle_blend_f16_fixed(src, w, 8, dst, n8, STORE); break; } } while (0)
__attribute__((target("avx2,f16c,fma")))
static void satcle_blend_f16_simd(const uint16_t* const* src, const float* w, int k,
                                  const float* table, float* dst, int dim, int stream) {
    /* Output rows are written whole and not read back: stream them past the
       cache (no read-for-ownership), 32 bytes at a time where they are 32-byte
       aligned, else 16 where 16-byte aligned (numpy's own arrays: an `out=`
       the caller allocated; without this the gather is 1.4x slower). */
    int n8 = dim - dim % 8;
    if (stream && dim % 8 == 0 && ((uintptr_t)dst & 31) == 0) SATCLE_BLEND_F16_BY_K(32);
    else if (stream && dim % 8 == 0 && ((uintptr_t)dst & 15) == 0) SATCLE_BLEND_F16_BY_K(16);
    else SATCLE_BLEND_F16_BY_K(0);
    satcle_blend_f16_tail(src, w, k, table, dst, n8, dim);
}
/* The same into float16 bits (dst: an output row, streamed where 16-byte
   aligned): each vector rounded as it is blended, where blending into a
   float32 row and converting it after made a second pass. */
__attribute__((target("avx2,f16c,fma")))
static void satcle_blend_f16_simd_half(const uint16_t* const* src, const float* w, int k,
                                       const float* table, uint16_t* dst, int dim) {
    int n8 = dim - dim % 8;
    if (((uintptr_t)dst & 15) == 0) SATCLE_BLEND_F16_BY_K(-16);
    else SATCLE_BLEND_F16_BY_K(-1);
    for (int d = n8; d < dim; d++) dst[d] = satcle_f32_to_f16(satcle_blend_f16_column(src, w, k, table, d));
}
/* The same with 16 values per instruction: one 64-byte (full cache line)
   streaming store per 16 outputs. */
__attribute__((target("avx512f")))
static void satcle_blend_f16_avx512(const uint16_t* const* src, const float* w, int k,
                                    const float* table, float* dst, int dim, int stream) {
    if (stream && (((uintptr_t)dst & 63) != 0 || dim % 16 != 0)) {
        /* Rows not on a cache line: the AVX2 kernel (same bits) streams 32 or 16 bytes at a time. */
        satcle_blend_f16_simd(src, w, k, table, dst, dim, stream);
        return;
    }
    int d = 0;
    for (; d + 16 <= dim; d += 16) {
        __m512 acc = _mm512_mul_ps(_mm512_set1_ps(w[0]), _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i*)(src[0] + d))));
        for (int j = 1; j < k; j++) {
            __m512 v = _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i*)(src[j] + d)));
            acc = _mm512_fmadd_ps(_mm512_set1_ps(w[j]), v, acc);
        }
        if (stream) _mm512_stream_ps(dst + d, acc);
        else _mm512_storeu_ps(dst + d, acc);
    }
    satcle_blend_f16_tail(src, w, k, table, dst, d, dim);
}
__attribute__((target("avx2,f16c")))
static void satcle_f32_to_f16_f16c(const float* src, uint16_t* dst, int n) {
    int stream = ((uintptr_t)dst & 15) == 0;
    int d = 0;
    for (; d + 8 <= n; d += 8) {
        __m128i h = _mm256_cvtps_ph(_mm256_loadu_ps(src + d), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
        if (stream) _mm_stream_si128((__m128i*)(dst + d), h);
        else _mm_storeu_si128((__m128i*)(dst + d), h);
    }
    satcle_f32_to_f16_scalar(src, dst, d, n);
}
static void satcle_f32_to_f16_row(const float* src, uint16_t* dst, int n, int simd) {
    if (simd) satcle_f32_to_f16_f16c(src, dst, n);
    else satcle_f32_to_f16_scalar(src, dst, 0, n);
}
/* Orders this thread's streaming stores before what follows (the end of a parallel loop). */
static void satcle_store_fence(void) { _mm_sfence(); }
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
                                  const float* table, float* dst, int dim, int stream) {}
static int satcle_has_f16_simd(void) { return 0; }
static void satcle_blend_f16_simd_half(const uint16_t* const* src, const float* w, int k,
                                       const float* table, uint16_t* dst, int dim) {}
static void satcle_blend_f16_avx512(const uint16_t* const* src, const float* w, int k,
                                    const float* table, float* dst, int dim, int stream) {}
static void satcle_f32_to_f16_row(const float* src, uint16_t* dst, int n, int simd) {
    satcle_f32_to_f16_scalar(src, dst, 0, n);
}
static int satcle_has_f16_avx512(void) { return 0; }
static void satcle_store_fence(void) {}
#endif

#endif /* SATCLE_BLEND_F16_H */
