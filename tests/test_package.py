"""The package's public names: each importable from ``pco_wire`` (loaded on first use)
and the very object its module defines."""

from __future__ import annotations

import importlib
import os
import pkgutil
import re
import subprocess
import sys
from pathlib import Path

import pytest

import pco_wire


@pytest.mark.parametrize("name", pco_wire.__all__)
def test_every_public_name_is_its_modules(name: str) -> None:
    value = getattr(pco_wire, name)
    if name == "config":
        assert value is importlib.import_module("pco_wire.config")
    else:
        module = importlib.import_module(f"pco_wire.{pco_wire._EXPORTS[name]}")
        assert value is getattr(module, name)


def _public_modules() -> list[str]:
    return sorted(
        info.name
        for info in pkgutil.iter_modules(pco_wire.__path__)
        if not info.name.startswith("_")
    )


def test_every_public_module_is_listed() -> None:
    assert sorted(pco_wire._SUBMODULES) == _public_modules()


@pytest.mark.parametrize("name", _public_modules())
def test_every_public_module_is_an_attribute(name: str) -> None:
    # In a fresh process, where nothing has imported the module by name yet.
    code = (
        f"import importlib, pco_wire; module = pco_wire.{name}; "
        f"assert module is importlib.import_module('pco_wire.{name}'), module; "
        f"assert {name!r} in dir(pco_wire); print('ok')"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=30, check=False
    )
    if name == "locust" and sys.version_info < (3, 11):
        # Locust 2.x needs 3.11 (the test extra installs it from there on): the import
        # says what to install, in one line.
        assert "ImportError: pco_wire.locust needs Locust" in done.stderr, done.stderr
        return
    assert done.stdout.strip() == "ok", done.stderr


def test_the_codec_says_which_it_is_after_a_bare_import() -> None:
    code = "import pco_wire; print(pco_wire.codec.IMPLEMENTATION)"
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=30, check=False
    )
    assert done.stdout.strip() == pco_wire.codec.IMPLEMENTATION, done.stderr


def test_unknown_name_is_an_attribute_error() -> None:
    with pytest.raises(AttributeError, match="no attribute 'nothing_here'"):
        pco_wire.nothing_here  # noqa: B018


def test_importing_the_package_loads_nothing_heavy() -> None:
    # The test command must not pay for what it does not use: the Client, settings
    # files, TLS, WebSocket or logging.
    code = (
        "import sys, pco_wire; "
        "print(sorted(m for m in sys.modules if m.startswith('pco_wire') "
        "or m in ('ssl', 'websockets', 'logging', 'tomllib', 'tomli', 'threading')))"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=30, check=True
    )
    assert done.stdout.strip() == "['pco_wire']", done.stdout


# ---------------------------------------------------------------------------- the build

SETUP = Path(__file__).resolve().parent.parent / "setup.py"
FALLBACK = re.compile(
    r"^pco_wire: building the compiled codec failed \(.+\); installing the pure-Python codec$"
)
source_tree = pytest.mark.skipif(
    not SETUP.exists(), reason="builds from the source tree (CI also runs the installed wheel)"
)


def _build_ext(tmp_path: Path, **env: str) -> subprocess.CompletedProcess[str]:
    # Into tmp_path: the tree's own in-place build is left alone.
    return subprocess.run(
        [
            *(sys.executable, str(SETUP), "build_ext"),
            *("--build-lib", str(tmp_path / "lib"), "--build-temp", str(tmp_path / "temp")),
        ],
        cwd=SETUP.parent,
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


@source_tree
def test_a_build_without_a_compiler_falls_back_to_the_pure_codec(tmp_path: Path) -> None:
    done = _build_ext(tmp_path, CC=str(tmp_path / "no-such-compiler"))

    assert done.returncode == 0, done.stderr
    said = [line for line in done.stderr.splitlines() if line.startswith("pco_wire:")]
    assert len(said) == 1 and FALLBACK.match(said[0]), done.stderr
    assert "no-such-compiler" in said[0]
    assert not list(tmp_path.rglob("_codec*.so"))


@source_tree
def test_no_extensions_skips_the_build(tmp_path: Path) -> None:
    done = _build_ext(tmp_path, PCO_WIRE_NO_EXTENSIONS="1")

    assert done.returncode == 0, done.stderr
    said = [line for line in done.stderr.splitlines() if line.startswith("pco_wire:")]
    assert said == ["pco_wire: PCO_WIRE_NO_EXTENSIONS is set; installing the pure-Python codec"]
    assert not (tmp_path / "temp").exists()  # no compiler was started


def test_importing_the_codec_loads_the_codec_only() -> None:
    # A program that only frames packets pays for the codec: its packet values and
    # errors, no session, no driver, no socket, ssl, asyncio, threading or logging.
    code = (
        "import sys, pco_wire.codec; "
        "print(sorted(m for m in sys.modules if m.startswith('pco_wire') "
        "or m in ('socket', 'ssl', 'asyncio', 'selectors', 'threading', 'logging')))"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=30, check=True
    )
    loaded = set(eval(done.stdout))
    core = {
        "pco_wire",
        "pco_wire.codec",
        "pco_wire.packets",
        "pco_wire.reasons",
        "pco_wire.errors",
        "pco_wire._record",
    }
    twins = {"pco_wire._codec_py", "pco_wire._codec"}
    assert core <= loaded and loaded <= core | twins, done.stdout
