"""MQTT control packets as small immutable values.

Packets are built on the hot path, so they are plain slotted classes: the fields live in
private slots, written once by ``__init__`` and read through properties, so a packet's
fields cannot be reassigned (immutable by design, not by a costly ``__setattr__``). The
compiled codec reads and writes the slots directly. Two packets are equal when their
types and fields are. MQTT 5.0 will add fields with defaults after the present ones,
which keeps every call written for 3.1.1 working.
"""

from __future__ import annotations

from enum import IntEnum

from ._record import Record

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, Self

__all__ = [
    "CONNACKS",
    "DISCONNECT",
    "PINGREQ",
    "PINGRESP",
    "ConnAck",
    "ConnAckCode",
    "Connect",
    "Disconnect",
    "OtherPacket",
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
    ConnAckCode.NOT_AUTHORIZED: (
        "connection refused, not authorized: the client is not authorized to connect"
    ),
}


class _Packet(Record):
    """A Record that is immutable by convention, so hashable, and pickles by its fields."""

    __slots__ = ()

    def __hash__(self) -> int:
        return hash((type(self).__name__, self._values()))

    def __reduce__(self) -> tuple[type[Self], tuple[Any, ...]]:
        return type(self), self._values()


class Will(_Packet):
    """The will message the server publishes if the client vanishes (MQTT 3.1.1 §3.1.2.5)."""

    __slots__ = ("_topic", "_message", "_qos", "_retain")
    _fields = ("topic", "message", "qos", "retain")

    def __init__(self, topic: str, message: bytes, qos: int = 0, retain: bool = False) -> None:
        self._topic = topic
        self._message = message
        self._qos = qos
        self._retain = retain

    @property
    def topic(self) -> str:
        return self._topic

    @property
    def message(self) -> bytes:
        return self._message

    @property
    def qos(self) -> int:
        return self._qos

    @property
    def retain(self) -> bool:
        return self._retain


class Connect(_Packet):
    """CONNECT (MQTT 3.1.1 §3.1). ``keep_alive`` in whole seconds, ``password`` as bytes.

    ``protocol_level`` 4 is MQTT 3.1.1 ("MQTT"), 3 is MQTT 3.1 ("MQIsdp"). The password
    never appears in the repr.
    """

    __slots__ = (
        "_client_id",
        "_clean_session",
        "_keep_alive",
        "_username",
        "_password",
        "_will",
        "_protocol_level",
    )
    _fields = (
        "client_id",
        "clean_session",
        "keep_alive",
        "username",
        "password",
        "will",
        "protocol_level",
    )
    _hidden = frozenset({"password"})

    def __init__(
        self,
        client_id: str = "",
        clean_session: bool = True,
        keep_alive: int = 60,
        username: str | None = None,
        password: bytes | None = None,
        will: Will | None = None,
        protocol_level: int = 4,
    ) -> None:
        self._client_id = client_id
        self._clean_session = clean_session
        self._keep_alive = keep_alive
        self._username = username
        self._password = password
        self._will = will
        self._protocol_level = protocol_level

    @property
    def client_id(self) -> str:
        return self._client_id

    @property
    def clean_session(self) -> bool:
        return self._clean_session

    @property
    def keep_alive(self) -> int:
        return self._keep_alive

    @property
    def username(self) -> str | None:
        return self._username

    @property
    def password(self) -> bytes | None:
        return self._password

    @property
    def will(self) -> Will | None:
        return self._will

    @property
    def protocol_level(self) -> int:
        return self._protocol_level


class ConnAck(_Packet):
    """CONNACK (MQTT 3.1.1 §3.2). In MQTT 3.1 ``session_present`` is always False."""

    __slots__ = ("_session_present", "_return_code")
    _fields = ("session_present", "return_code")

    def __init__(self, session_present: bool, return_code: ConnAckCode) -> None:
        self._session_present = session_present
        self._return_code = return_code

    @property
    def session_present(self) -> bool:
        return self._session_present

    @property
    def return_code(self) -> ConnAckCode:
        return self._return_code


class PingReq(_Packet):
    """PINGREQ (MQTT 3.1.1 §3.12)."""

    __slots__ = ()


class PingResp(_Packet):
    """PINGRESP (MQTT 3.1.1 §3.13)."""

    __slots__ = ()


class Disconnect(_Packet):
    """DISCONNECT (MQTT 3.1.1 §3.14)."""

    __slots__ = ()


class OtherPacket(_Packet):
    """Any other control packet (PUBLISH, SUBACK, ...), framed but not decoded.

    ``body`` is everything after the fixed header: variable header and payload.
    """

    __slots__ = ("_packet_type", "_flags", "_body")
    _fields = ("packet_type", "flags", "body")

    def __init__(self, packet_type: int, flags: int, body: bytes) -> None:
        self._packet_type = packet_type
        self._flags = flags
        self._body = body

    @property
    def packet_type(self) -> int:
        return self._packet_type

    @property
    def flags(self) -> int:
        return self._flags

    @property
    def body(self) -> bytes:
        return self._body


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
