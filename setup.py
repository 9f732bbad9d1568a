"""Builds the Cython kernels in ext/ into satcle._ext (metadata: pyproject.toml)."""

import sys

from Cython.Build import cythonize
from setuptools import Extension, setup

# OpenMP is how the kernels use every core; GCC/Clang on Linux accept these flags,
# Apple's Clang does not, so there the kernels run single-threaded.
OPENMP = ["-fopenmp"] if sys.platform.startswith("linux") else []

# One extension per topic, as h3-py splits its _cy/: the basis, and the grid
# lookup's point location, row blending and spatial sort, and the fused bias + sine of the encoder (shared declarations
# in ext/grid_kernels.pxd, ext/cell_edges.pxd and ext/sphere.pxd, the SIMD blend in ext/blend_f16.h).
KERNELS = ["spherical_harmonics", "grid_locate", "grid_blend", "grid_sort", "sine_layer"]

extensions = [
    Extension(
        f"satcle._ext.{name}",
        [f"ext/{name}.pyx"],
        include_dirs=["ext"],
        depends=["ext/grid_kernels.pxd", "ext/cell_edges.pxd", "ext/sphere.pxd", "ext/blend_f16.h", "ext/prefetch.h"],
        extra_compile_args=["-O3", *OPENMP],
        extra_link_args=OPENMP,
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
