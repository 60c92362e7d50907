"""Builds the compiled codec. Metadata lives in pyproject.toml."""

from Cython.Build import cythonize
from setuptools import Extension, setup

setup(
    ext_modules=cythonize(
        [Extension("pco_wire._codec", ["pco_wire/_codec.pyx"], extra_compile_args=["-O3"])],
        compiler_directives={"language_level": "3"},
    ),
)
