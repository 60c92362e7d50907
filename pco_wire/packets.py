"""MQTT control packets as small immutable values.

Packets are built on the hot path, so they are plain slotted classes: the fields live in
private slots, written once by ``__init__`` and read through properties, so a packet's
fields cannot be reassigned (immutable by design, not by a costly ``__setattr__``). The
compiled codec reads and writes the slots directly. Two packets are equal when their
types and fields are. MQTT 5.0 added fields with defaults after the 3.1.1 ones
(``properties``, ``reason_code``), so every call written for 3.1.1 works unchanged.

MQTT 5.0 properties (§2.2.2) are one value class per packet (``ConnectProperties``, ...)
whose fields are the properties, each with the specification's default; absent and
default are the same thing, and the encoder writes only what differs from the default.
User properties are a tuple of (name, value) pairs in order; a name may repeat. Every
packet's ``properties`` is such an object, never None: the shared ``EMPTY_*`` instance
when there are none (always, below 5.0).
"""

from __future__ import annotations

from enum import IntEnum
from typing import TypeVar

from ._record import Record
from .reasons import ConnAckCode, ReasonCode

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, Self

__all__ = [
    "CONNACKS",
    "DISCONNECT",
    "EMPTY_AUTH_PROPERTIES",
    "EMPTY_CONNACK_PROPERTIES",
    "EMPTY_CONNECT_PROPERTIES",
    "EMPTY_DISCONNECT_PROPERTIES",
    "EMPTY_WILL_PROPERTIES",
    "PINGREQ",
    "PINGRESP",
    "PROPERTIES",
    "Auth",
    "AuthProperties",
    "ConnAck",
    "ConnAckCode",
    "ConnAckProperties",
    "Connect",
    "ConnectProperties",
    "Disconnect",
    "DisconnectProperties",
    "OtherPacket",
    "PacketType",
    "PingReq",
    "PingResp",
    "Property",
    "ReasonCode",
    "Will",
    "WillProperties",
]


class PacketType(IntEnum):
    """Control packet types, the high nibble of the first byte (MQTT 3.1.1 §2.2.1, 5.0 §2.1.2)."""

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
    AUTH = 15  # MQTT 5.0 only (§3.15); reserved in 3.1.1


class _Packet(Record):
    """A Record that is immutable by convention, so hashable, and pickles by its fields."""

    __slots__ = ()

    def __hash__(self) -> int:
        return hash((type(self).__name__, self._values()))

    def __reduce__(self) -> tuple[type[Self], tuple[Any, ...]]:
        return type(self), self._values()


# ---------------------------------------------------------------------------- properties


class Property(Record):
    """One MQTT 5.0 property (§2.2.2.2): its identifier, its field name in the properties
    classes, the data type of its value, and the packets it may appear in.

    ``kind`` is one of "byte", "u16", "u32", "varint", "str", "bin", "pair";
    ``low``/``high`` bound an integer value (a value outside is a protocol error, not a
    malformed packet: MQTT 5.0 §4.13); a "byte" property with ``high`` 1 is a boolean.
    """

    __slots__ = ("identifier", "name", "kind", "packets", "low", "high")
    _fields = __slots__

    def __init__(
        self,
        identifier: int,
        name: str,
        kind: str,
        packets: frozenset[str],
        low: int = 0,
        high: int | None = None,
    ) -> None:
        self.identifier = identifier
        self.name = name
        self.kind = kind
        self.packets = packets
        self.low = low
        self.high = high


def _p(
    identifier: int, name: str, kind: str, packets: str, low: int = 0, high: int | None = None
) -> Property:
    return Property(identifier, name, kind, frozenset(packets.split()), low, high)


#: The properties of the connection packets, by identifier (MQTT 5.0 §2.2.2.2). "WILL"
#: stands for the will properties of CONNECT (§3.1.3.2). The others (PUBLISH's topic
#: alias, SUBSCRIBE's subscription identifier, ...) are not decoded here: those packets
#: are framed as OtherPacket.
PROPERTIES: dict[int, Property] = {
    p.identifier: p
    for p in (
        _p(0x01, "payload_format_indicator", "byte", "WILL", 0, 1),
        _p(0x02, "message_expiry_interval", "u32", "WILL"),
        _p(0x03, "content_type", "str", "WILL"),
        _p(0x08, "response_topic", "str", "WILL"),
        _p(0x09, "correlation_data", "bin", "WILL"),
        _p(0x11, "session_expiry_interval", "u32", "CONNECT CONNACK DISCONNECT"),
        _p(0x12, "assigned_client_identifier", "str", "CONNACK"),
        _p(0x13, "server_keep_alive", "u16", "CONNACK"),
        _p(0x15, "authentication_method", "str", "CONNECT CONNACK AUTH"),
        _p(0x16, "authentication_data", "bin", "CONNECT CONNACK AUTH"),
        _p(0x17, "request_problem_information", "byte", "CONNECT", 0, 1),
        _p(0x18, "will_delay_interval", "u32", "WILL"),
        _p(0x19, "request_response_information", "byte", "CONNECT", 0, 1),
        _p(0x1A, "response_information", "str", "CONNACK"),
        _p(0x1C, "server_reference", "str", "CONNACK DISCONNECT"),
        _p(0x1F, "reason_string", "str", "CONNACK DISCONNECT AUTH"),
        _p(0x21, "receive_maximum", "u16", "CONNECT CONNACK", 1),
        _p(0x22, "topic_alias_maximum", "u16", "CONNECT CONNACK"),
        _p(0x24, "maximum_qos", "byte", "CONNACK", 0, 1),
        _p(0x25, "retain_available", "byte", "CONNACK", 0, 1),
        _p(0x26, "user_properties", "pair", "WILL CONNECT CONNACK DISCONNECT AUTH"),
        _p(0x27, "maximum_packet_size", "u32", "CONNECT CONNACK", 1),
        _p(0x28, "wildcard_subscription_available", "byte", "CONNACK", 0, 1),
        _p(0x29, "subscription_identifier_available", "byte", "CONNACK", 0, 1),
        _p(0x2A, "shared_subscription_available", "byte", "CONNACK", 0, 1),
    )
}
#: Identifiers that appear in MQTT 5.0 but in none of the packets above (§2.2.2.2):
#: known, so a decoder can say "not allowed in CONNACK" rather than "unknown".
OTHER_PROPERTIES = {0x0B: "subscription_identifier", 0x23: "topic_alias"}


class _Properties(_Packet):
    """Fields are read-only properties over private slots, as in the packets; a subclass
    lists its ``_fields`` (property names) and ``_defaults`` (the specification's), and
    writes its ``__init__`` out with a keyword-only parameter per field, as Connect does: a
    loop over the fields (``**values``, ``object.__setattr__``) cost 3.2 us for CONNECT's
    nine, the written-out one 0.4 us, and a client builds them for every connection."""

    __slots__ = ()
    _defaults: tuple[Any, ...] = ()

    def __reduce__(self) -> Any:
        return _rebuild, (type(self), dict(zip(self._fields, self._values(), strict=True)))

    def changed(self) -> dict[str, Any]:
        """The fields whose value differs from the specification's default, in order:
        what an encoder writes."""
        return {
            name: value
            for name, default, value in zip(
                self._fields, self._defaults, self._values(), strict=True
            )
            if value != default or type(value) is not type(default)
        }


_P = TypeVar("_P", bound=_Properties)


def _rebuild(cls: type[_Properties], values: dict[str, Any]) -> _Properties:
    return cls(**values)


def _properties(cls: type[_P]) -> type[_P]:
    # Read-only accessors for the private slots; the class body only annotates them.
    for name in cls._fields:
        setattr(cls, name, property(_getter("_" + name), doc=f"MQTT 5.0 property {name}"))
    # The written-out __init__ must say what the table says, field for field, type and all.
    written = cls.__init__.__kwdefaults__ or {}
    assert [(name, type(written[name]), written[name]) for name in written] == [
        (name, type(value), value) for name, value in zip(cls._fields, cls._defaults, strict=True)
    ], cls
    return cls


def _getter(slot: str) -> Any:
    from operator import attrgetter

    return attrgetter(slot)


@_properties
class ConnectProperties(_Properties):
    """CONNECT properties (MQTT 5.0 §3.1.2.11). ``maximum_packet_size`` None: no limit
    is set; ``request_problem_information`` True: the server may send reason strings and
    user properties with any packet."""

    session_expiry_interval: int
    receive_maximum: int
    maximum_packet_size: int | None
    topic_alias_maximum: int
    request_response_information: bool
    request_problem_information: bool
    user_properties: tuple[tuple[str, str], ...]
    authentication_method: str | None
    authentication_data: bytes | None

    __slots__ = (
        "_session_expiry_interval",
        "_receive_maximum",
        "_maximum_packet_size",
        "_topic_alias_maximum",
        "_request_response_information",
        "_request_problem_information",
        "_user_properties",
        "_authentication_method",
        "_authentication_data",
    )
    _fields = tuple(slot[1:] for slot in __slots__)
    _defaults = (0, 65_535, None, 0, False, True, (), None, None)
    _hidden = frozenset({"authentication_data"})

    def __init__(
        self,
        *,
        session_expiry_interval: int = 0,
        receive_maximum: int = 65535,
        maximum_packet_size: int | None = None,
        topic_alias_maximum: int = 0,
        request_response_information: bool = False,
        request_problem_information: bool = True,
        user_properties: tuple[tuple[str, str], ...] = (),
        authentication_method: str | None = None,
        authentication_data: bytes | None = None,
    ) -> None:
        self._session_expiry_interval = session_expiry_interval
        self._receive_maximum = receive_maximum
        self._maximum_packet_size = maximum_packet_size
        self._topic_alias_maximum = topic_alias_maximum
        self._request_response_information = request_response_information
        self._request_problem_information = request_problem_information
        self._user_properties = user_properties
        self._authentication_method = authentication_method
        self._authentication_data = authentication_data


@_properties
class WillProperties(_Properties):
    """Will properties (MQTT 5.0 §3.1.3.2). ``message_expiry_interval`` None: the will
    message does not expire."""

    will_delay_interval: int
    payload_format_indicator: int
    message_expiry_interval: int | None
    content_type: str | None
    response_topic: str | None
    correlation_data: bytes | None
    user_properties: tuple[tuple[str, str], ...]

    __slots__ = (
        "_will_delay_interval",
        "_payload_format_indicator",
        "_message_expiry_interval",
        "_content_type",
        "_response_topic",
        "_correlation_data",
        "_user_properties",
    )
    _fields = tuple(slot[1:] for slot in __slots__)
    _defaults = (0, 0, None, None, None, None, ())

    def __init__(
        self,
        *,
        will_delay_interval: int = 0,
        payload_format_indicator: int = 0,
        message_expiry_interval: int | None = None,
        content_type: str | None = None,
        response_topic: str | None = None,
        correlation_data: bytes | None = None,
        user_properties: tuple[tuple[str, str], ...] = (),
    ) -> None:
        self._will_delay_interval = will_delay_interval
        self._payload_format_indicator = payload_format_indicator
        self._message_expiry_interval = message_expiry_interval
        self._content_type = content_type
        self._response_topic = response_topic
        self._correlation_data = correlation_data
        self._user_properties = user_properties


@_properties
class ConnAckProperties(_Properties):
    """CONNACK properties (MQTT 5.0 §3.2.2.3). None means absent where absence has a
    meaning of its own: ``session_expiry_interval`` (the client's value holds),
    ``maximum_packet_size`` (no limit), ``server_keep_alive`` (the client's holds)."""

    session_expiry_interval: int | None
    receive_maximum: int
    maximum_qos: int
    retain_available: bool
    maximum_packet_size: int | None
    assigned_client_identifier: str | None
    topic_alias_maximum: int
    reason_string: str | None
    user_properties: tuple[tuple[str, str], ...]
    wildcard_subscription_available: bool
    subscription_identifier_available: bool
    shared_subscription_available: bool
    server_keep_alive: int | None
    response_information: str | None
    server_reference: str | None
    authentication_method: str | None
    authentication_data: bytes | None

    __slots__ = (
        "_session_expiry_interval",
        "_receive_maximum",
        "_maximum_qos",
        "_retain_available",
        "_maximum_packet_size",
        "_assigned_client_identifier",
        "_topic_alias_maximum",
        "_reason_string",
        "_user_properties",
        "_wildcard_subscription_available",
        "_subscription_identifier_available",
        "_shared_subscription_available",
        "_server_keep_alive",
        "_response_information",
        "_server_reference",
        "_authentication_method",
        "_authentication_data",
    )
    _fields = tuple(slot[1:] for slot in __slots__)
    _defaults = (
        None,
        65_535,
        2,
        True,
        None,
        None,
        0,
        None,
        (),
        True,
        True,
        True,
        None,
        None,
        None,
        None,
        None,
    )
    _hidden = frozenset({"authentication_data"})

    def __init__(
        self,
        *,
        session_expiry_interval: int | None = None,
        receive_maximum: int = 65535,
        maximum_qos: int = 2,
        retain_available: bool = True,
        maximum_packet_size: int | None = None,
        assigned_client_identifier: str | None = None,
        topic_alias_maximum: int = 0,
        reason_string: str | None = None,
        user_properties: tuple[tuple[str, str], ...] = (),
        wildcard_subscription_available: bool = True,
        subscription_identifier_available: bool = True,
        shared_subscription_available: bool = True,
        server_keep_alive: int | None = None,
        response_information: str | None = None,
        server_reference: str | None = None,
        authentication_method: str | None = None,
        authentication_data: bytes | None = None,
    ) -> None:
        self._session_expiry_interval = session_expiry_interval
        self._receive_maximum = receive_maximum
        self._maximum_qos = maximum_qos
        self._retain_available = retain_available
        self._maximum_packet_size = maximum_packet_size
        self._assigned_client_identifier = assigned_client_identifier
        self._topic_alias_maximum = topic_alias_maximum
        self._reason_string = reason_string
        self._user_properties = user_properties
        self._wildcard_subscription_available = wildcard_subscription_available
        self._subscription_identifier_available = subscription_identifier_available
        self._shared_subscription_available = shared_subscription_available
        self._server_keep_alive = server_keep_alive
        self._response_information = response_information
        self._server_reference = server_reference
        self._authentication_method = authentication_method
        self._authentication_data = authentication_data


@_properties
class DisconnectProperties(_Properties):
    """DISCONNECT properties (MQTT 5.0 §3.14.2.2). ``session_expiry_interval`` None: the
    one of CONNECT holds."""

    session_expiry_interval: int | None
    reason_string: str | None
    user_properties: tuple[tuple[str, str], ...]
    server_reference: str | None

    __slots__ = (
        "_session_expiry_interval",
        "_reason_string",
        "_user_properties",
        "_server_reference",
    )
    _fields = tuple(slot[1:] for slot in __slots__)
    _defaults = (None, None, (), None)

    def __init__(
        self,
        *,
        session_expiry_interval: int | None = None,
        reason_string: str | None = None,
        user_properties: tuple[tuple[str, str], ...] = (),
        server_reference: str | None = None,
    ) -> None:
        self._session_expiry_interval = session_expiry_interval
        self._reason_string = reason_string
        self._user_properties = user_properties
        self._server_reference = server_reference


@_properties
class AuthProperties(_Properties):
    """AUTH properties (MQTT 5.0 §3.15.2.2)."""

    authentication_method: str | None
    authentication_data: bytes | None
    reason_string: str | None
    user_properties: tuple[tuple[str, str], ...]

    __slots__ = (
        "_authentication_method",
        "_authentication_data",
        "_reason_string",
        "_user_properties",
    )
    _fields = tuple(slot[1:] for slot in __slots__)
    _defaults = (None, None, None, ())
    _hidden = frozenset({"authentication_data"})

    def __init__(
        self,
        *,
        authentication_method: str | None = None,
        authentication_data: bytes | None = None,
        reason_string: str | None = None,
        user_properties: tuple[tuple[str, str], ...] = (),
    ) -> None:
        self._authentication_method = authentication_method
        self._authentication_data = authentication_data
        self._reason_string = reason_string
        self._user_properties = user_properties


EMPTY_CONNECT_PROPERTIES = ConnectProperties()
EMPTY_WILL_PROPERTIES = WillProperties()
EMPTY_CONNACK_PROPERTIES = ConnAckProperties()
EMPTY_DISCONNECT_PROPERTIES = DisconnectProperties()
EMPTY_AUTH_PROPERTIES = AuthProperties()


# ---------------------------------------------------------------------------- packets


class Will(_Packet):
    """The will message the server publishes if the client vanishes (MQTT 3.1.1 §3.1.2.5;
    ``properties`` MQTT 5.0 only)."""

    __slots__ = ("_topic", "_message", "_qos", "_retain", "_properties")
    _fields = ("topic", "message", "qos", "retain", "properties")

    def __init__(
        self,
        topic: str,
        message: bytes,
        qos: int = 0,
        retain: bool = False,
        properties: WillProperties = EMPTY_WILL_PROPERTIES,
    ) -> None:
        self._topic = topic
        self._message = message
        self._qos = qos
        self._retain = retain
        self._properties = properties

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

    @property
    def properties(self) -> WillProperties:
        return self._properties


class Connect(_Packet):
    """CONNECT (MQTT 3.1.1 §3.1, 5.0 §3.1). ``keep_alive`` in whole seconds, ``password``
    as bytes.

    ``protocol_level`` 5 is MQTT 5.0 and 4 MQTT 3.1.1 (both "MQTT"), 3 is MQTT 3.1
    ("MQIsdp"). ``clean_session`` is 5.0's Clean Start. ``properties`` are MQTT 5.0's;
    below 5.0 only the empty ones can be encoded. The password never appears in the repr.
    """

    __slots__ = (
        "_client_id",
        "_clean_session",
        "_keep_alive",
        "_username",
        "_password",
        "_will",
        "_protocol_level",
        "_properties",
    )
    _fields = (
        "client_id",
        "clean_session",
        "keep_alive",
        "username",
        "password",
        "will",
        "protocol_level",
        "properties",
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
        properties: ConnectProperties = EMPTY_CONNECT_PROPERTIES,
    ) -> None:
        self._client_id = client_id
        self._clean_session = clean_session
        self._keep_alive = keep_alive
        self._username = username
        self._password = password
        self._will = will
        self._protocol_level = protocol_level
        self._properties = properties

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

    @property
    def properties(self) -> ConnectProperties:
        return self._properties


class ConnAck(_Packet):
    """CONNACK (MQTT 3.1.1 §3.2, 5.0 §3.2). In MQTT 3.1 ``session_present`` is always
    False. ``return_code`` is a ConnAckCode below 5.0 and a ReasonCode (the Connect
    Reason Code) in 5.0; ``reason_code`` is the same value under its 5.0 name."""

    __slots__ = ("_session_present", "_return_code", "_properties")
    _fields = ("session_present", "return_code", "properties")

    def __init__(
        self,
        session_present: bool,
        return_code: ConnAckCode | ReasonCode,
        properties: ConnAckProperties = EMPTY_CONNACK_PROPERTIES,
    ) -> None:
        self._session_present = session_present
        self._return_code = return_code
        self._properties = properties

    @property
    def session_present(self) -> bool:
        return self._session_present

    @property
    def return_code(self) -> ConnAckCode | ReasonCode:
        return self._return_code

    @property
    def reason_code(self) -> ConnAckCode | ReasonCode:
        return self._return_code

    @property
    def properties(self) -> ConnAckProperties:
        return self._properties


class PingReq(_Packet):
    """PINGREQ (MQTT 3.1.1 §3.12)."""

    __slots__ = ()


class PingResp(_Packet):
    """PINGRESP (MQTT 3.1.1 §3.13)."""

    __slots__ = ()


class Disconnect(_Packet):
    """DISCONNECT (MQTT 3.1.1 §3.14, 5.0 §3.14). Below 5.0 it has no content: only the
    defaults (reason 0x00, no properties) can be sent or received."""

    __slots__ = ("_reason_code", "_properties")
    _fields = ("reason_code", "properties")

    def __init__(
        self,
        reason_code: ReasonCode = ReasonCode.NORMAL_DISCONNECTION,
        properties: DisconnectProperties = EMPTY_DISCONNECT_PROPERTIES,
    ) -> None:
        self._reason_code = reason_code
        self._properties = properties

    @property
    def reason_code(self) -> ReasonCode:
        return self._reason_code

    @property
    def properties(self) -> DisconnectProperties:
        return self._properties


class Auth(_Packet):
    """AUTH (MQTT 5.0 §3.15): a step of enhanced authentication. Remaining Length 0
    means reason 0x00 (Success) with no properties."""

    __slots__ = ("_reason_code", "_properties")
    _fields = ("reason_code", "properties")

    def __init__(
        self,
        reason_code: ReasonCode = ReasonCode.SUCCESS,
        properties: AuthProperties = EMPTY_AUTH_PROPERTIES,
    ) -> None:
        self._reason_code = reason_code
        self._properties = properties

    @property
    def reason_code(self) -> ReasonCode:
        return self._reason_code

    @property
    def properties(self) -> AuthProperties:
        return self._properties


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
