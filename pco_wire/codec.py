"""Picks the codec: the compiled one when it is built, else the pure-Python reference.

``PCO_WIRE_PURE=1`` in the environment forces the reference. ``IMPLEMENTATION`` says
which one is active: ``"cython"`` or ``"python"``.
"""

from __future__ import annotations

import os

from ._codec_py import DEFAULT_MAX_PACKET_SIZE

__all__ = ["DEFAULT_MAX_PACKET_SIZE", "IMPLEMENTATION", "Framer", "decode", "encode"]

if os.environ.get("PCO_WIRE_PURE", "") not in ("", "0"):
    from ._codec_py import Framer, decode, encode

    IMPLEMENTATION = "python"
else:
    try:
        from ._codec import Framer, decode, encode  # type: ignore[no-redef]
    except ImportError:
        from ._codec_py import Framer, decode, encode

        IMPLEMENTATION = "python"
    else:
        IMPLEMENTATION = "cython"
