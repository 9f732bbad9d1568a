"""Builds the Cython kernels in ext/ into satcle._ext (metadata: pyproject.toml)."""

import platform
import sys

from Cython.Build import cythonize
from setuptools import Extension, setup

# OpenMP is how the kernels use every core; GCC/Clang on Linux accept these flags,
# Apple's Clang does not, so there the kernels run single-threaded.
OPENMP = ["-fopenmp"] if sys.platform.startswith("linux") else []
# glibc's vector sin/cos (libmvec) for the unit vectors of grid_locate (ext/unit_vectors.h),
# where the C library is glibc on x86-64; elsewhere the kernel calls libm per point.
LIBMVEC = (sys.platform.startswith("linux") and platform.machine() in ("x86_64", "AMD64")
           and platform.libc_ver()[0] == "glibc")

# One extension per topic, as h3-py splits its _cy/: the basis, and the grid
# lookup's point location, row blending and spatial sort, and the fused bias +
# sine of the encoder (shared declarations in ext/grid_kernels.pxd,
# ext/cell_edges.pxd, ext/raster_search.pxd, ext/sphere.pxd and ext/omp_threads.pxd;
# C in ext/blend_f16.h, ext/prefetch.h, ext/unit_vectors.h and ext/omp_threads.h).
KERNELS = ["spherical_harmonics", "grid_locate", "grid_blend", "grid_sort", "sine_layer"]

extensions = [
    Extension(
        f"satcle._ext.{name}",
        [f"ext/{name}.pyx"],
        include_dirs=["ext"],
        depends=["ext/grid_kernels.pxd", "ext/cell_edges.pxd", "ext/raster_search.pxd", "ext/sphere.pxd",
                 "ext/blend_f16.h", "ext/prefetch.h", "ext/unit_vectors.h", "ext/omp_threads.pxd", "ext/omp_threads.h"],
        extra_compile_args=["-O3", *OPENMP],
        extra_link_args=OPENMP,
        **({"define_macros": [("SATCLE_LIBMVEC", "1")], "libraries": ["mvec", "m"]}
           if name == "grid_locate" and LIBMVEC else {}),
    )
    for name in KERNELS
]

setup(
    ext_modules=cythonize(
        extensions,
        include_path=["ext"],
        compiler_directives={"language_level": 3},
    ),
)
