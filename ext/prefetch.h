/* A read prefetch hint (no-op where the compiler has none): the kernels request
   memory a few points ahead so that cache misses of consecutive points overlap. */
#ifndef SATCLE_PREFETCH_H
#define SATCLE_PREFETCH_H

#if defined(__GNUC__)
static inline void satcle_prefetch(const void* address) { __builtin_prefetch(address, 0, 0); }
#else
static inline void satcle_prefetch(const void* address) { (void)address; }
#endif

#endif /* SATCLE_PREFETCH_H */
