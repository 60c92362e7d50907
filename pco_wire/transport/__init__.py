"""Byte streams to the server: TCP, TLS, WebSocket and secure WebSocket. No MQTT here.

``common`` holds what does not wait (phase records, failures classified, the TLS facts,
the WebSocket layer); ``sync`` waits with ``poll`` for the blocking driver, ``aio``
with the event loop for the asyncio one; ``tls`` builds contexts and reads certificates.
``ssl`` is imported only for mqtts/wss and ``websockets`` only for ws/wss. This package
gives the blocking names, as before the split.
"""

from __future__ import annotations

from ..phases import Phase
from .common import DIAGNOSIS_TIMEOUT, Probe, TLSInfo
from .sync import AnyStream, Stream, TLSStream, WebSocketStream, open_stream, probe_tls, resolve

__all__ = [
    "DIAGNOSIS_TIMEOUT",
    "AnyStream",
    "Phase",
    "Probe",
    "Stream",
    "TLSInfo",
    "TLSStream",
    "WebSocketStream",
    "open_stream",
    "probe_tls",
    "resolve",
]
