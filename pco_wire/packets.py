"""MQTT control packets as small immutable values.

Each packet is a tuple subclass (``typing.NamedTuple``): building one is a single C call
on the hot path, fields cannot be reassigned, and the compiled codec reads the fields by
index. Equality also compares the packet type, so ``PingReq() != Disconnect()`` although
both are empty tuples. MQTT 5.0 will add fields with defaults at the end, which keeps
every call written for 3.1.1 working.
"""

from __future__ import annotations

from enum import IntEnum
from typing import Any, NamedTuple

__all__ = [
    "CONNACKS",
    "ConnAck",
    "ConnAckCode",
    "Connect",
    "Disconnect",
    "OtherPacket",
    "PINGREQ",
    "PINGRESP",
    "DISCONNECT",
    "PacketType",
    "PingReq",
    "PingResp",
    "Will",
]


class PacketType(IntEnum):
    """Control packet types, the high nibble of the first byte (MQTT 3.1.1 §2.2.1)."""

    CONNECT = 1
    CONNACK = 2
    PUBLISH = 3
    PUBACK = 4
    PUBREC = 5
    PUBREL = 6
    PUBCOMP = 7
    SUBSCRIBE = 8
    SUBACK = 9
    UNSUBSCRIBE = 10
    UNSUBACK = 11
    PINGREQ = 12
    PINGRESP = 13
    DISCONNECT = 14


class ConnAckCode(IntEnum):
    """CONNACK return codes (MQTT 3.1.1 §3.2.2.3; the same six in MQTT 3.1)."""

    ACCEPTED = 0
    UNACCEPTABLE_PROTOCOL_VERSION = 1
    IDENTIFIER_REJECTED = 2
    SERVER_UNAVAILABLE = 3
    BAD_USERNAME_OR_PASSWORD = 4
    NOT_AUTHORIZED = 5

    @property
    def text(self) -> str:
        """The specification's meaning of this return code."""
        return _CONNACK_TEXT[self]


_CONNACK_TEXT = {
    ConnAckCode.ACCEPTED: "connection accepted",
    ConnAckCode.UNACCEPTABLE_PROTOCOL_VERSION: (
        "connection refused, unacceptable protocol version: the server does not support "
        "the level of the MQTT protocol requested by the client"
    ),
    ConnAckCode.IDENTIFIER_REJECTED: (
        "connection refused, identifier rejected: the client identifier is correct UTF-8 "
        "but not allowed by the server"
    ),
    ConnAckCode.SERVER_UNAVAILABLE: (
        "connection refused, server unavailable: the network connection has been made "
        "but the MQTT service is unavailable"
    ),
    ConnAckCode.BAD_USERNAME_OR_PASSWORD: (
        "connection refused, bad user name or password: the data in the user name or "
        "password is malformed"
    ),
    ConnAckCode.NOT_AUTHORIZED: "connection refused, not authorized: the client is not authorized to connect",
}


def _same_packet(a: tuple[Any, ...], b: object) -> bool:
    return type(a) is type(b) and tuple.__eq__(a, b)  # type: ignore[arg-type]


def _other_packet(a: tuple[Any, ...], b: object) -> bool:
    return not _same_packet(a, b)


def _packet_hash(p: tuple[Any, ...]) -> int:
    return hash((type(p).__name__, tuple.__hash__(p)))


class Will(NamedTuple):
    """The will message the server publishes if the client vanishes (MQTT 3.1.1 §3.1.2.5)."""

    topic: str
    message: bytes
    qos: int = 0
    retain: bool = False

    __eq__ = _same_packet
    __hash__ = _packet_hash

    __ne__ = _other_packet


class Connect(NamedTuple):
    """CONNECT (MQTT 3.1.1 §3.1). ``keep_alive`` in whole seconds, ``password`` as bytes.

    ``protocol_level`` 4 is MQTT 3.1.1 ("MQTT"), 3 is MQTT 3.1 ("MQIsdp").
    """

    client_id: str = ""
    clean_session: bool = True
    keep_alive: int = 60
    username: str | None = None
    password: bytes | None = None
    will: Will | None = None
    protocol_level: int = 4

    __eq__ = _same_packet
    __hash__ = _packet_hash

    __ne__ = _other_packet

    def __repr__(self) -> str:
        # The password never appears; only whether there is one.
        password = "None" if self.password is None else "<hidden>"
        return (
            f"Connect(client_id={self.client_id!r}, clean_session={self.clean_session!r}, "
            f"keep_alive={self.keep_alive!r}, username={self.username!r}, "
            f"password={password}, will={self.will!r}, protocol_level={self.protocol_level!r})"
        )


class ConnAck(NamedTuple):
    """CONNACK (MQTT 3.1.1 §3.2). In MQTT 3.1 ``session_present`` is always False."""

    session_present: bool
    return_code: ConnAckCode

    __eq__ = _same_packet
    __hash__ = _packet_hash

    __ne__ = _other_packet


class PingReq(NamedTuple):
    """PINGREQ (MQTT 3.1.1 §3.12)."""

    __eq__ = _same_packet
    __hash__ = _packet_hash

    __ne__ = _other_packet


class PingResp(NamedTuple):
    """PINGRESP (MQTT 3.1.1 §3.13)."""

    __eq__ = _same_packet
    __hash__ = _packet_hash

    __ne__ = _other_packet


class Disconnect(NamedTuple):
    """DISCONNECT (MQTT 3.1.1 §3.14)."""

    __eq__ = _same_packet
    __hash__ = _packet_hash

    __ne__ = _other_packet


class OtherPacket(NamedTuple):
    """Any other control packet (PUBLISH, SUBACK, ...), framed but not decoded.

    ``body`` is everything after the fixed header: variable header and payload.
    """

    packet_type: int
    flags: int
    body: bytes

    __eq__ = _same_packet
    __hash__ = _packet_hash

    __ne__ = _other_packet


# Packets without variable content are shared: decoding them allocates nothing.
PINGREQ = PingReq()
PINGRESP = PingResp()
DISCONNECT = Disconnect()

# The seven valid MQTT 3.1.1 CONNACKs: session present only with return code 0 (§3.2.2.2).
# Index: return code, with session present at index 6.
CONNACKS: tuple[ConnAck, ...] = (
    *(ConnAck(False, code) for code in ConnAckCode),
    ConnAck(True, ConnAckCode.ACCEPTED),
)
