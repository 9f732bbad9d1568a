/* The kernels' default thread count: OpenMP's, or 1 where the build has no OpenMP
   (setup.py drops -fopenmp for Apple's Clang, which has no omp.h to include). */
#ifndef SATCLE_OMP_THREADS_H
#define SATCLE_OMP_THREADS_H

#ifdef _OPENMP
#include <omp.h>
static int satcle_max_threads(void) { return omp_get_max_threads(); }
#else
static int satcle_max_threads(void) { return 1; }
#endif

#endif /* SATCLE_OMP_THREADS_H */
