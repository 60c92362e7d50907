"""pco_wire: the connection side of an MQTT client, small, strict and fast."""

from . import config
from .check import TestResult, test_connection
from .client import Client, ConnectionInfo
from .codec import DEFAULT_MAX_PACKET_SIZE, IMPLEMENTATION, Framer, decode, encode
from .diagnose import EXIT_CODES
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

__all__ = [
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
