# The kernels' default thread count, with or without OpenMP (omp_threads.h).

cdef extern from "omp_threads.h":
    int satcle_max_threads() noexcept nogil
