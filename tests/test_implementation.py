"""Which codec pco_wire loaded, and that the public names are that codec's.

CI runs the suite with PCO_WIRE_EXPECT_COMPILED=1: a compiled codec that silently failed
to build or import would otherwise leave every user on the slow path unnoticed.
"""

from __future__ import annotations

import importlib
import sys

import pytest

import pco_wire
import pco_wire.codec
from tests.support import IMPLEMENTATIONS, compiled_expected, load_codec, pure_forced


def _compiled_imports() -> bool:
    try:
        importlib.import_module(IMPLEMENTATIONS["cython"])
    except ImportError:
        return False
    return True


def test_selected_implementation() -> None:
    if pure_forced():
        assert pco_wire.codec.IMPLEMENTATION == "python"
    elif compiled_expected():
        assert pco_wire.codec.IMPLEMENTATION == "cython"
    else:
        assert pco_wire.codec.IMPLEMENTATION == ("cython" if _compiled_imports() else "python")


def test_compiled_codec_imports_when_expected() -> None:
    # Also under PCO_WIRE_PURE=1: the compiled twin is still tested directly.
    if compiled_expected():
        assert _compiled_imports()


def test_public_names_are_the_selected_codec() -> None:
    selected = importlib.import_module(IMPLEMENTATIONS[pco_wire.codec.IMPLEMENTATION])
    assert pco_wire.IMPLEMENTATION == pco_wire.codec.IMPLEMENTATION
    assert pco_wire.encode is pco_wire.codec.encode is selected.encode
    assert pco_wire.decode is pco_wire.codec.decode is selected.decode
    assert pco_wire.Framer is pco_wire.codec.Framer is selected.Framer
    assert pco_wire.DEFAULT_MAX_PACKET_SIZE == pco_wire.codec.DEFAULT_MAX_PACKET_SIZE


def test_codec_fixture_module(codec: object) -> None:
    # The fixture hands each test the module itself, by the name in its id.
    assert getattr(codec, "__name__", None) in IMPLEMENTATIONS.values()


def test_default_max_packet_size() -> None:
    assert pco_wire.DEFAULT_MAX_PACKET_SIZE == 1 << 20
    for name in IMPLEMENTATIONS:
        if name == "cython" and not _compiled_imports() and not compiled_expected():
            continue
        codec = load_codec(name)
        assert codec.DEFAULT_MAX_PACKET_SIZE == 1 << 20
        assert codec.Framer().max_packet_size == 1 << 20
        assert codec.Framer().protocol_level == 4


def test_missing_compiled_codec_fails_when_expected(monkeypatch: pytest.MonkeyPatch) -> None:
    # None in sys.modules makes the import raise ImportError, as a missing build does.
    monkeypatch.setitem(sys.modules, IMPLEMENTATIONS["cython"], None)
    monkeypatch.setenv("PCO_WIRE_EXPECT_COMPILED", "1")
    with pytest.raises(pytest.fail.Exception, match="PCO_WIRE_EXPECT_COMPILED=1 but"):
        load_codec("cython")


def test_missing_compiled_codec_skips_otherwise(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, IMPLEMENTATIONS["cython"], None)
    monkeypatch.delenv("PCO_WIRE_EXPECT_COMPILED", raising=False)
    with pytest.raises(pytest.skip.Exception, match="compiled codec not built"):
        load_codec("cython")
