# Shared declaration of the per-point spherical-harmonics kernel, so that other
# kernels (e.g. a fused lookup/encoder path) can cimport it without a Python call.

cdef void real_sh_row(double lat_deg, double lon_deg, int degree,
                      const double* a, const double* b,
                      double* cos_m, double* sin_m, double* row) noexcept nogil
