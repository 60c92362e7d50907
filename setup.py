"""Builds the compiled codec when this machine can; otherwise installs the pure-Python one.

Metadata lives in pyproject.toml. The codec works without its compiled twin (pco_wire.codec
picks whichever is there), so a gateway without a C compiler, Cython or the Python headers
still gets a working install: the build says so in one line and carries on.
``PCO_WIRE_NO_EXTENSIONS=1`` skips the build on purpose. An sdist carries the generated C
file, so a machine with a compiler but without Cython still builds the compiled codec.
"""

from __future__ import annotations

import os
import re
import sys
from pathlib import Path
from typing import Any

from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext

HERE = Path(__file__).resolve().parent
PYX = "pco_wire/_codec.pyx"
GENERATED = "pco_wire/_codec.c"


#: A build backend runs this file for metadata too; say things once, when building.
_BUILDING = bool({"bdist_wheel", "build", "build_ext", "develop", "editable_wheel"} & {*sys.argv})


def _say_pure(reason: str) -> None:
    if _BUILDING:
        print(
            f"pco_wire: building the compiled codec failed ({reason}); "
            "installing the pure-Python codec",
            file=sys.stderr,
            flush=True,
        )


def _extensions() -> list[Extension]:
    if os.environ.get("PCO_WIRE_NO_EXTENSIONS", "") not in ("", "0"):
        if _BUILDING:
            print(
                "pco_wire: PCO_WIRE_NO_EXTENSIONS is set; installing the pure-Python codec",
                file=sys.stderr,
                flush=True,
            )
        return []
    codec = Extension("pco_wire._codec", [PYX], extra_compile_args=["-O3"])
    try:
        from Cython.Build import cythonize
    except ImportError:
        generated, pyx = HERE / GENERATED, HERE / PYX
        # An sdist's C file needs no Cython; one older than the .pyx is stale.
        if generated.exists() and generated.stat().st_mtime >= pyx.stat().st_mtime:
            codec.sources = [GENERATED]
            return [codec]
        _say_pure("Cython is not installed")
        return []
    try:
        return list(cythonize([codec], compiler_directives={"language_level": "3"}))
    except Exception as exc:  # any failure to translate means: go pure
        _say_pure(f"Cython: {exc}")
        return []


class OptionalBuildExt(build_ext):
    """build_ext that turns a failed compile into the pure-Python install."""

    def run(self) -> None:
        try:
            super().run()
        except Exception as exc:  # no compiler: PlatformError, OSError, ...
            _say_pure(_reason(exc))

    def build_extension(self, ext: Any) -> None:
        try:
            super().build_extension(ext)
        except Exception as exc:  # CompileError, LinkError, missing headers
            _say_pure(_reason(exc))


def _reason(exc: BaseException) -> str:
    text = " ".join(str(exc).split()) or type(exc).__name__
    # The compiler's whole command line says little: its name and what became of it.
    command = re.match(r"[Cc]ommand '\[?'?([^' ]+)'?.*?((?:returned|failed).*)$", text)
    if command:
        text = f"{Path(command[1]).name}: {command[2]}"
    return text if len(text) <= 160 else text[:157] + "..."


setup(ext_modules=_extensions(), cmdclass={"build_ext": OptionalBuildExt})
