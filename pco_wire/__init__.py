"""pco_wire: the connection side of an MQTT client, small, strict and fast.

Every public name is importable from here; each module is imported when one of its names
is first used, because start-up is part of what ``python -m pco_wire test`` costs.
"""

from __future__ import annotations

import importlib

TYPE_CHECKING = False
if TYPE_CHECKING:
    from . import config
    from .check import TestResult, test_connection
    from .client import Client, ConnectionInfo
    from .codec import DEFAULT_MAX_PACKET_SIZE, IMPLEMENTATION, Framer, decode, encode
    from .diagnose import CATEGORIES, EXIT_CODES
    from .errors import (
        ConnectionClosed,
        Error,
        HandshakeError,
        InvalidPacket,
        InvalidSettings,
        LocalProtocolError,
        MalformedPacket,
        PacketTooLarge,
        RemoteProtocolError,
        ResponseTimeout,
        ServerRefused,
        TLSError,
        TransportError,
        UnexpectedPacket,
        UnsupportedProtocol,
        WebSocketError,
    )
    from .packets import (
        ConnAck,
        ConnAckCode,
        Connect,
        Disconnect,
        OtherPacket,
        PacketType,
        PingReq,
        PingResp,
        Will,
    )
    from .session import Closed, Connected, PacketReceived, PingSent, PongReceived, Session, State
    from .settings import Security, Settings, WillSettings, check_client_id, generate_client_id
    from .transport import Phase
    from .uri import ServerURI, parse_uri

#: Where each public name lives; imported on first use (PEP 562), so that a program
#: that needs the codec does not pay for TLS settings, nor `test` for the Client.
_EXPORTS = {
    "TestResult": "check",
    "test_connection": "check",
    "Client": "client",
    "ConnectionInfo": "client",
    "DEFAULT_MAX_PACKET_SIZE": "codec",
    "IMPLEMENTATION": "codec",
    "Framer": "codec",
    "decode": "codec",
    "encode": "codec",
    "CATEGORIES": "diagnose",
    "EXIT_CODES": "diagnose",
    "ConnectionClosed": "errors",
    "Error": "errors",
    "HandshakeError": "errors",
    "InvalidPacket": "errors",
    "InvalidSettings": "errors",
    "LocalProtocolError": "errors",
    "MalformedPacket": "errors",
    "PacketTooLarge": "errors",
    "RemoteProtocolError": "errors",
    "ResponseTimeout": "errors",
    "ServerRefused": "errors",
    "TLSError": "errors",
    "TransportError": "errors",
    "UnexpectedPacket": "errors",
    "UnsupportedProtocol": "errors",
    "WebSocketError": "errors",
    "ConnAck": "packets",
    "ConnAckCode": "packets",
    "Connect": "packets",
    "Disconnect": "packets",
    "OtherPacket": "packets",
    "PacketType": "packets",
    "PingReq": "packets",
    "PingResp": "packets",
    "Will": "packets",
    "Closed": "session",
    "Connected": "session",
    "PacketReceived": "session",
    "PingSent": "session",
    "PongReceived": "session",
    "Session": "session",
    "State": "session",
    "Security": "settings",
    "Settings": "settings",
    "WillSettings": "settings",
    "check_client_id": "settings",
    "generate_client_id": "settings",
    "Phase": "transport",
    "ServerURI": "uri",
    "parse_uri": "uri",
}

__all__ = [
    "CATEGORIES",
    "DEFAULT_MAX_PACKET_SIZE",
    "EXIT_CODES",
    "IMPLEMENTATION",
    "Client",
    "Closed",
    "ConnAck",
    "ConnAckCode",
    "Connect",
    "Connected",
    "ConnectionClosed",
    "ConnectionInfo",
    "Disconnect",
    "Error",
    "Framer",
    "HandshakeError",
    "InvalidPacket",
    "InvalidSettings",
    "LocalProtocolError",
    "MalformedPacket",
    "OtherPacket",
    "PacketReceived",
    "PacketTooLarge",
    "PacketType",
    "Phase",
    "PingReq",
    "PingResp",
    "PingSent",
    "PongReceived",
    "RemoteProtocolError",
    "ResponseTimeout",
    "Security",
    "ServerRefused",
    "ServerURI",
    "Session",
    "Settings",
    "State",
    "TLSError",
    "TestResult",
    "TransportError",
    "UnexpectedPacket",
    "UnsupportedProtocol",
    "WebSocketError",
    "Will",
    "WillSettings",
    "check_client_id",
    "config",
    "decode",
    "encode",
    "generate_client_id",
    "parse_uri",
    "test_connection",
]
__version__ = "0.1.0"


#: The public modules, each an attribute of the package once first used (``pco_wire.codec
#: .IMPLEMENTATION`` after a bare ``import pco_wire``); importing one makes it a global.
_SUBMODULES = frozenset(
    {
        "check",
        "cli",
        "client",
        "codec",
        "config",
        "connection",
        "diagnose",
        "dialogue",
        "errors",
        "fields",
        "packets",
        "reconnect",
        "session",
        "settings",
        "tls",
        "transport",
        "uri",
        "wizard",
    }
)


def __getattr__(name: str) -> object:
    if name in _SUBMODULES:
        return importlib.import_module(f".{name}", __name__)
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'pco_wire' has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{module}", __name__), name)
    globals()[name] = value  # the next lookup is a plain one
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__, *_SUBMODULES})
