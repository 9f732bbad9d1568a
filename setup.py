"""Builds the Cython kernels in ext/ into satcle._ext (metadata: pyproject.toml)."""

import sys

from Cython.Build import cythonize
from setuptools import Extension, setup

# OpenMP is how the kernels use every core; GCC/Clang on Linux accept these flags,
# Apple's Clang does not, so there the kernels run single-threaded.
OPENMP = ["-fopenmp"] if sys.platform.startswith("linux") else []

KERNELS = ["spherical_harmonics", "grid_lookup", "sine_layer"]

extensions = [
    Extension(
        f"satcle._ext.{name}",
        [f"ext/{name}.pyx"],
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
