"""The blocking driver: ``test_connection`` and ``Client``, waiting with ``select`` in
the caller's thread (and, for the Client, one background thread)."""

from __future__ import annotations

from .check import test_connection, test_servers
from .client import Client

__all__ = ["Client", "test_connection", "test_servers"]
