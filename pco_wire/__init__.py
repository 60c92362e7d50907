"""pco_wire: the connection side of an MQTT client, small, strict and fast."""

from .codec import DEFAULT_MAX_PACKET_SIZE, IMPLEMENTATION, Framer, decode, encode
from .errors import (
    Error,
    InvalidPacket,
    MalformedPacket,
    PacketTooLarge,
    RemoteProtocolError,
    UnsupportedProtocol,
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

__all__ = [
    "DEFAULT_MAX_PACKET_SIZE",
    "IMPLEMENTATION",
    "ConnAck",
    "ConnAckCode",
    "Connect",
    "Disconnect",
    "Error",
    "Framer",
    "InvalidPacket",
    "MalformedPacket",
    "OtherPacket",
    "PacketTooLarge",
    "PacketType",
    "PingReq",
    "PingResp",
    "RemoteProtocolError",
    "UnsupportedProtocol",
    "Will",
    "decode",
    "encode",
]
__version__ = "0.1.0"
