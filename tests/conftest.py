"""The ``codec`` fixture: every codec test runs on both implementations.

"python" is the reference (pco_wire._codec_py), "cython" the compiled twin
(pco_wire._codec). A test takes ``codec`` and calls ``codec.encode``, ``codec.decode``
and ``codec.Framer``. If the compiled module does not import, its case fails under
PCO_WIRE_EXPECT_COMPILED=1 (as CI runs) and is skipped otherwise, saying why.
"""

from __future__ import annotations

import pytest

from tests.support import IMPLEMENTATIONS, Codec, load_codec


@pytest.fixture(params=list(IMPLEMENTATIONS), ids=list(IMPLEMENTATIONS))
def codec(request: pytest.FixtureRequest) -> Codec:
    name: str = request.param
    return load_codec(name)
