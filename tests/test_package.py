"""The package's public names: each importable from ``pco_wire`` (loaded on first use)
and the very object its module defines."""

from __future__ import annotations

import importlib
import subprocess
import sys

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


def test_unknown_name_is_an_attribute_error() -> None:
    with pytest.raises(AttributeError, match="no attribute 'nothing_here'"):
        pco_wire.nothing_here  # noqa: B018


def test_importing_the_package_loads_nothing_heavy() -> None:
    # The test command must not pay for what it does not use: the Client, settings
    # files, TLS, WebSocket or logging.
    code = (
        "import sys, pco_wire; "
        "print(sorted(m for m in sys.modules if m.startswith('pco_wire') "
        "or m in ('ssl', 'websockets', 'logging', 'tomllib', 'threading')))"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=30, check=True
    )
    assert done.stdout.strip() == "['pco_wire']", done.stdout
