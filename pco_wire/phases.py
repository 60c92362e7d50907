"""The steps of a connection, by name, and the record of one step.

Phase names are the vocabulary of the report (``test`` prints them, the JSON carries
them, errors name the one they happened in); both drivers record the same ones. Each is
a ``str`` too, so a name compares equal to its text and goes into JSON as it.
"""

from __future__ import annotations

import enum

from ._record import Record

__all__ = ["Phase", "PhaseName"]


class PhaseName(str, enum.Enum):
    NAME_RESOLUTION = "name resolution"
    #: TCP to the proxy, when the connection goes through one.
    PROXY_CONNECT = "proxy connect"
    #: The proxy's handshake (HTTP CONNECT, SOCKS) until the tunnel to the broker is open.
    PROXY_TUNNEL = "proxy tunnel"
    TCP_CONNECT = "TCP connect"
    TLS_HANDSHAKE = "TLS handshake"
    CERTIFICATE_FETCH = "certificate fetch"
    WEBSOCKET_UPGRADE = "WebSocket upgrade"
    CONNACK = "CONNACK"
    #: After CONNACK: the connection in use.
    SESSION = "session"
    PINGRESP = "PINGRESP"
    #: MQTT 5.0 re-authentication: our AUTH 0x19 until the server's AUTH 0x00.
    AUTH = "AUTH"
    DISCONNECT = "DISCONNECT"
    TLS_PROBE = "TLS probe"

    # The text, wherever a name is shown (str() of a str-mixin enum is its member name).
    __str__ = str.__str__
    __format__ = str.__format__  # type: ignore[assignment]


class Phase(Record):
    """One step of a connection: its name, how long it took, whether it worked, and a
    detail (the address tried, the host name checked, the path asked for)."""

    __slots__ = ("name", "seconds", "ok", "detail")
    _fields = __slots__

    def __init__(self, name: str, seconds: float, ok: bool, detail: str = "") -> None:
        self.name = name
        self.seconds = seconds
        self.ok = ok
        self.detail = detail
