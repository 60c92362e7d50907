"""pco_wire: the connection side of an MQTT client, small, strict and fast.

Every public name is importable from here; each module is imported when one of its names
is first used, because start-up is part of what ``python -m pco_wire test`` costs.
"""

from __future__ import annotations

import importlib

TYPE_CHECKING = False
if TYPE_CHECKING:
    from . import config
    from .auth import Authenticator
    from .codec import DEFAULT_MAX_PACKET_SIZE, IMPLEMENTATION, Framer, decode, encode
    from .diagnose import CATEGORIES, EXIT_CODES
    from .errors import (
        AuthenticationError,
        ConnectionClosed,
        Error,
        HandshakeError,
        InvalidPacket,
        InvalidSettings,
        LocalProtocolError,
        MalformedPacket,
        PacketTooLarge,
        ProtocolViolation,
        ProxyError,
        RemoteProtocolError,
        ResponseTimeout,
        ServerDisconnected,
        ServerRefused,
        TLSError,
        TransportError,
        UnexpectedPacket,
        UnsupportedProtocol,
        WebSocketError,
    )
    from .events import (
        Closed,
        Connected,
        Event,
        Failover,
        GivingUp,
        PacketReceived,
        PingSent,
        PongReceived,
        Reauthenticated,
        Reconnecting,
        TakenOver,
        TakeoverSuspected,
    )
    from .packets import (
        Auth,
        AuthProperties,
        ConnAck,
        ConnAckCode,
        ConnAckProperties,
        Connect,
        ConnectProperties,
        Disconnect,
        DisconnectProperties,
        OtherPacket,
        PacketType,
        PingReq,
        PingResp,
        Will,
        WillProperties,
    )
    from .phases import Phase, PhaseName
    from .reasons import REASONS, RETURN_CODES, Reason, ReasonCode
    from .result import ConnectionInfo, TestResult
    from .session import Session, State
    from .settings import Security, Settings, WillSettings, check_client_id, generate_client_id
    from .supervisor import Supervisor
    from .sync import Client, test_connection, test_servers
    from .uri import ServerURI, parse_uri

#: Where each public name lives; imported on first use (PEP 562), so that a program
#: that needs the codec does not pay for TLS settings, nor `test` for the Client.
_EXPORTS = {
    "TestResult": "result",
    "test_connection": "sync",
    "test_servers": "sync",
    "Client": "sync",
    "ConnectionInfo": "result",
    "DEFAULT_MAX_PACKET_SIZE": "codec",
    "IMPLEMENTATION": "codec",
    "Framer": "codec",
    "decode": "codec",
    "encode": "codec",
    "CATEGORIES": "diagnose",
    "EXIT_CODES": "diagnose",
    "Authenticator": "auth",
    "AuthenticationError": "errors",
    "ProtocolViolation": "errors",
    "ProxyError": "errors",
    "ServerDisconnected": "errors",
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
    "Auth": "packets",
    "AuthProperties": "packets",
    "ConnAckProperties": "packets",
    "ConnectProperties": "packets",
    "DisconnectProperties": "packets",
    "WillProperties": "packets",
    "REASONS": "reasons",
    "RETURN_CODES": "reasons",
    "Reason": "reasons",
    "ReasonCode": "reasons",
    "Reauthenticated": "events",
    "TakenOver": "events",
    "ConnAck": "packets",
    "ConnAckCode": "packets",
    "Connect": "packets",
    "Disconnect": "packets",
    "OtherPacket": "packets",
    "PacketType": "packets",
    "PingReq": "packets",
    "PingResp": "packets",
    "Will": "packets",
    "Closed": "events",
    "Connected": "events",
    "Event": "events",
    "Failover": "events",
    "GivingUp": "events",
    "PacketReceived": "events",
    "PingSent": "events",
    "PongReceived": "events",
    "Reconnecting": "events",
    "TakeoverSuspected": "events",
    "Phase": "phases",
    "PhaseName": "phases",
    "Supervisor": "supervisor",
    "Session": "session",
    "State": "session",
    "Security": "settings",
    "Settings": "settings",
    "WillSettings": "settings",
    "check_client_id": "settings",
    "generate_client_id": "settings",
    "ServerURI": "uri",
    "parse_uri": "uri",
}

__all__ = [
    "CATEGORIES",
    "DEFAULT_MAX_PACKET_SIZE",
    "EXIT_CODES",
    "IMPLEMENTATION",
    "REASONS",
    "RETURN_CODES",
    "Auth",
    "AuthProperties",
    "AuthenticationError",
    "Authenticator",
    "Client",
    "Closed",
    "ConnAck",
    "ConnAckCode",
    "ConnAckProperties",
    "Connect",
    "ConnectProperties",
    "Connected",
    "ConnectionClosed",
    "ConnectionInfo",
    "Disconnect",
    "DisconnectProperties",
    "Error",
    "Event",
    "Failover",
    "Framer",
    "GivingUp",
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
    "PhaseName",
    "PingReq",
    "PingResp",
    "PingSent",
    "PongReceived",
    "ProtocolViolation",
    "ProxyError",
    "Reason",
    "ReasonCode",
    "Reauthenticated",
    "Reconnecting",
    "RemoteProtocolError",
    "ResponseTimeout",
    "Security",
    "ServerDisconnected",
    "ServerRefused",
    "ServerURI",
    "Session",
    "Settings",
    "State",
    "Supervisor",
    "TLSError",
    "TakenOver",
    "TakeoverSuspected",
    "TestResult",
    "TransportError",
    "UnexpectedPacket",
    "UnsupportedProtocol",
    "WebSocketError",
    "Will",
    "WillProperties",
    "WillSettings",
    "check_client_id",
    "config",
    "decode",
    "encode",
    "generate_client_id",
    "parse_uri",
    "test_connection",
    "test_servers",
]
__version__ = "0.1.0"


#: The public modules, each an attribute of the package once first used (``pco_wire.codec
#: .IMPLEMENTATION`` after a bare ``import pco_wire``); importing one makes it a global.
_SUBMODULES = frozenset(
    {
        "asyncio",
        "auth",
        "bench",
        "cli",
        "codec",
        "config",
        "diagnose",
        "dialogue",
        "errors",
        "events",
        "fields",
        "locust",
        "packets",
        "phases",
        "proxy",
        "reasons",
        "reconnect",
        "report",
        "result",
        "session",
        "settings",
        "supervisor",
        "sync",
        "timeline",
        "transport",
        "uri",
        "wizard",
    }
)
#: Modules of the layout before the drivers were split, as attributes of the package.
_MOVED = {
    "check": "sync.check",
    "client": "sync.client",
    "connection": "sync.connection",
    "tls": "transport.tls",
}


def __getattr__(name: str) -> object:
    if name in _SUBMODULES or name in _MOVED:
        return importlib.import_module(f".{_MOVED.get(name, name)}", __name__)
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'pco_wire' has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{module}", __name__), name)
    globals()[name] = value  # the next lookup is a plain one
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__, *_SUBMODULES})
