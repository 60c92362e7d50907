"""The reference codec: MQTT 3.1, 3.1.1 and 5.0 connection packets in plain Python.

This module defines what correct is. The compiled twin (``_codec.pyx``) must produce the
same bytes and the same packets; where it meets a fault it asks this module for the error,
so both raise the same type with the same offset and message.

Layout of a control packet (MQTT 3.1.1 §2): one byte of type and flags, the Remaining
Length in one to four bytes, then the body (variable header and payload). MQTT 5.0 adds
properties (§2.2.2) to CONNECT, CONNACK and DISCONNECT, and the AUTH packet (§3.15); its
code lives in the functions whose names end in 5, off the 3.1.1 paths.
"""

from __future__ import annotations

import struct

from .errors import (
    InvalidPacket,
    MalformedPacket,
    PacketTooLarge,
    ProtocolViolation,
    RemoteProtocolError,
    UnsupportedProtocol,
)
from .packets import (
    CONNACKS,
    DISCONNECT,
    EMPTY_AUTH_PROPERTIES,
    EMPTY_CONNACK_PROPERTIES,
    EMPTY_CONNECT_PROPERTIES,
    EMPTY_DISCONNECT_PROPERTIES,
    EMPTY_WILL_PROPERTIES,
    OTHER_PROPERTIES,
    PINGREQ,
    PINGRESP,
    PROPERTIES,
    Auth,
    AuthProperties,
    ConnAck,
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
from .reasons import REASONS, ReasonCode

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

__all__ = ["DEFAULT_MAX_PACKET_SIZE", "Framer", "decode", "encode"]

Packet = Connect | ConnAck | PingReq | PingResp | Disconnect | Auth | OtherPacket

#: The largest packet a Framer accepts unless told otherwise, fixed header included.
#: The packets this library decodes are tiny; the limit is for the PUBLISH packets a broker
#: may send after CONNACK, which are framed and kept whole.
DEFAULT_MAX_PACKET_SIZE = 1 << 20

MAX_REMAINING_LENGTH = 268_435_455  # four 7-bit groups (MQTT 3.1.1 §2.2.3)
_LARGEST_PACKET = 5 + MAX_REMAINING_LENGTH
_MAX_FIELD = 65_535  # a two-byte length prefix (MQTT 3.1.1 §1.5.3)

_PROTOCOL_HEADER = {4: b"\x00\x04MQTT\x04", 3: b"\x00\x06MQIsdp\x03", 5: b"\x00\x04MQTT\x05"}
_LEVELS = "3 (MQTT 3.1), 4 (MQTT 3.1.1) or 5 (MQTT 5.0)"
# The level a protocol name implies, as a message says it; MQTT 5.0 keeps the name "MQTT".
_LEVELS_OF_NAME = {b"MQTT": (4, 5), b"MQIsdp": (3,)}

# Packet types by level: 15 (AUTH) is reserved below MQTT 5.0 (3.1.1 §2.2.1, 5.0 §2.1.2).
_TYPES: tuple[PacketType | None, ...] = (None, *tuple(PacketType)[:14], None)
_TYPES5: tuple[PacketType | None, ...] = (None, *tuple(PacketType))
_DECODED = frozenset({1, 2, 12, 13, 14, 15})

# Fixed-header flags each type must carry (MQTT 3.1.1 §2.2.2, 5.0 §2.1.3); PUBLISH (3)
# carries DUP, QoS and RETAIN and is checked on its own.
_REQUIRED_FLAGS = (None, 0, 0, None, 0, 0, 2, 0, 2, 0, 2, 0, 0, 0, 0, 0)

_U16 = struct.Struct(">H").pack
_BYTE_BYTE = struct.Struct(">BB").pack
_BYTE_U16 = struct.Struct(">BH").pack

_PINGREQ_BYTES = b"\xc0\x00"
_PINGRESP_BYTES = b"\xd0\x00"
_DISCONNECT_BYTES = b"\xe0\x00"


# ---------------------------------------------------------------------------- encoding


_NORMAL_DISCONNECTION = ReasonCode.NORMAL_DISCONNECTION


def encode(packet: Packet) -> bytes:
    """Return the bytes of ``packet``.

    Raises InvalidPacket (a ValueError) naming the field that a client must never send
    as it is.
    """
    kind = type(packet)
    if kind is Connect:
        return _encode_connect(packet)  # type: ignore[arg-type]
    if kind is PingReq:
        return _PINGREQ_BYTES
    if kind is Disconnect:
        # A fresh Disconnect() is as common as the shared one (3.1.1 code builds it).
        if packet is DISCONNECT or (
            packet._reason_code is _NORMAL_DISCONNECTION  # type: ignore[union-attr]
            and packet._properties is EMPTY_DISCONNECT_PROPERTIES  # type: ignore[union-attr]
        ):
            return _DISCONNECT_BYTES
        return _encode_disconnect(packet)  # type: ignore[arg-type]
    if kind is PingResp:
        return _PINGRESP_BYTES
    if kind is ConnAck:
        return _encode_connack(packet)  # type: ignore[arg-type]
    if kind is OtherPacket:
        return _encode_other(packet)  # type: ignore[arg-type]
    if kind is Auth:
        return _encode_auth(packet)  # type: ignore[arg-type]
    # Subclasses of our packets encode as their base.
    for base, encoder in _ENCODERS:
        if isinstance(packet, base):
            return encoder(packet)  # type: ignore[no-any-return]
    raise InvalidPacket("packet", f"expected a pco_wire packet, got {kind.__name__}")


def _encode_connect(packet: Connect) -> bytes:
    # The private slots, read directly: this is the hot path of every connect.
    client_id = packet._client_id
    clean_session = packet._clean_session
    keep_alive = packet._keep_alive
    username = packet._username
    password = packet._password
    will = packet._will
    level = packet._protocol_level
    header = _PROTOCOL_HEADER.get(level) if type(level) is int else None
    if header is None:
        raise InvalidPacket("protocol_level", f"expected {_LEVELS}, got {level!r}")
    if level == 5:
        return _encode_connect5(packet)
    if packet._properties is not EMPTY_CONNECT_PROPERTIES:
        _no_properties(packet._properties, EMPTY_CONNECT_PROPERTIES, "properties")
    if type(keep_alive) is not int or not 0 <= keep_alive <= 65_535:
        keep_alive = _check_int(keep_alive, 0, 65_535, "keep_alive")
    fields = [_string(client_id, "client_id")]
    if level == 3:
        # MQTT 3.1 §3.1: the client identifier is 1 to 23 characters.
        if not 1 <= len(client_id) <= 23:
            raise InvalidPacket(
                "client_id", f"expected 1..23 characters in MQTT 3.1, got {len(client_id)}"
            )
    elif not client_id and not clean_session:
        # MQTT 3.1.1 §3.1.3.1: a zero-byte identifier requires clean session.
        raise InvalidPacket(
            "client_id", "expected a client identifier when clean_session is off, got ''"
        )
    flags = 0x02 if clean_session else 0
    if will is not None:
        if not isinstance(will, Will):
            raise InvalidPacket("will", f"expected a Will or None, got {type(will).__name__}")
        if will._properties is not EMPTY_WILL_PROPERTIES:
            _no_properties(will._properties, EMPTY_WILL_PROPERTIES, "will.properties")
        topic = _string(will.topic, "will.topic")
        if len(topic) == 2:
            raise InvalidPacket("will.topic", "expected a topic name, got ''")
        # Look at the text, not at ``topic``: its length prefix may be 0x23 or 0x2B.
        if "+" in will.topic or "#" in will.topic:
            # MQTT 3.1.1 §4.7.1: wildcards belong in filters, never in a topic name.
            raise InvalidPacket(
                "will.topic", f"expected a topic name without + or #, got {will.topic!r}"
            )
        qos = _check_int(will.qos, 0, 2, "will.qos")
        flags |= 0x04 | qos << 3 | (0x20 if will.retain else 0)
        fields += (topic, _binary(will.message, "will.message"))
    if username is not None:
        flags |= 0x80
        fields.append(_string(username, "username"))
    if password is not None:
        if username is None:
            # MQTT 3.1.1 §3.1.2.9; MQTT 3.1 §3.1 says the same.
            raise InvalidPacket("password", "expected a username with a password, got none")
        flags |= 0x40
        fields.append(_binary(password, "password"))
    payload = b"".join(fields)
    length = len(header) + 3 + len(payload)
    start = _BYTE_BYTE(0x10, length) if length < 0x80 else b"\x10" + _length_bytes(length)
    return b"".join((start, header, _BYTE_U16(flags, keep_alive), payload))


def _encode_connack(packet: ConnAck) -> bytes:
    properties = packet.properties
    if type(packet.return_code) is ReasonCode or (
        properties is not EMPTY_CONNACK_PROPERTIES and properties != EMPTY_CONNACK_PROPERTIES
    ):
        # MQTT 5.0: a reason code says so, and only 5.0 has properties to give.
        return _encode_connack5(packet)
    code = _check_int(packet.return_code, 0, 5, "return_code")
    if packet.session_present and code:
        # MQTT 3.1.1 §3.2.2.2
        raise InvalidPacket("session_present", f"expected False with return code {code}, got True")
    return bytes((0x20, 2, 1 if packet.session_present else 0, code))


def _encode_other(packet: OtherPacket) -> bytes:
    kind = _check_int(packet.packet_type, 1, 14, "packet_type")
    if kind in _DECODED:
        raise InvalidPacket(
            "packet_type",
            f"expected a type without a packet class of its own, "
            f"got {kind} ({PacketType(kind).name})",
        )
    flags = _check_int(packet.flags, 0, 15, "flags")
    required = _REQUIRED_FLAGS[kind]
    if required is None:
        if flags & 0x06 == 0x06:
            raise InvalidPacket("flags", "expected PUBLISH QoS 0..2, got 3")
    elif flags != required:
        raise InvalidPacket(
            "flags", f"expected {required:04b} for {PacketType(kind).name}, got {flags:04b}"
        )
    body = packet.body
    if not isinstance(body, (bytes, bytearray, memoryview)):
        raise InvalidPacket("body", f"expected bytes, got {type(body).__name__}")
    if len(body) > MAX_REMAINING_LENGTH:
        raise InvalidPacket(
            "body", f"expected at most {MAX_REMAINING_LENGTH:,} bytes, got {len(body):,}"
        )
    return b"".join((bytes((kind << 4 | flags,)), _length_bytes(len(body)), body))


def _no_properties(properties: object, empty: object, field: str) -> None:
    """Refuse properties below MQTT 5.0: those levels have nowhere to put them."""
    if properties == empty:
        return
    if type(properties) is type(empty):
        got = ", ".join(properties.changed())  # type: ignore[attr-defined]
    else:
        got = type(properties).__name__
    raise InvalidPacket(field, f"expected no properties below MQTT 5.0, got {got}")


# ------------------------------------------------------------------ encoding MQTT 5.0


class _Spec:
    """How one property is written and read: what PROPERTIES says, plus whether its field
    is a bool (a "byte" property whose class default is a bool)."""

    __slots__ = ("high", "identifier", "is_bool", "kind", "low", "name")

    def __init__(self, identifier: int, is_bool: bool) -> None:
        entry = PROPERTIES[identifier]
        self.identifier = identifier
        self.name = entry.name
        self.kind = entry.kind
        self.low = entry.low
        high = entry.high
        if high is None:
            # Strings, binary data and pairs have no range; 0 stands for none.
            high = {"byte": 0xFF, "u16": 0xFFFF, "u32": 0xFFFF_FFFF}.get(entry.kind, 0)
        self.high: int = high
        self.is_bool = is_bool


def _specs(cls: type, packet: str) -> tuple[_Spec, ...]:
    """The properties of ``cls`` in ascending identifier order, the order they are written
    in (any order is valid, §2.2.2.2; this one is what both codecs produce)."""
    by_name = {entry.name: identifier for identifier, entry in PROPERTIES.items()}
    defaults = dict(zip(cls._fields, cls._defaults, strict=True))  # type: ignore[attr-defined]
    specs = []
    for name, default in defaults.items():
        identifier = by_name[name]
        assert packet in PROPERTIES[identifier].packets, (name, packet)
        specs.append(_Spec(identifier, type(default) is bool))
    assert {s.identifier for s in specs} == {
        i for i, entry in PROPERTIES.items() if packet in entry.packets
    }, packet
    return tuple(sorted(specs, key=lambda spec: spec.identifier))


_SPECS: dict[str, tuple[_Spec, ...]] = {
    "CONNECT": _specs(ConnectProperties, "CONNECT"),
    "WILL": _specs(WillProperties, "WILL"),
    "CONNACK": _specs(ConnAckProperties, "CONNACK"),
    "DISCONNECT": _specs(DisconnectProperties, "DISCONNECT"),
    "AUTH": _specs(AuthProperties, "AUTH"),
}
_CLASSES: dict[str, type] = {
    "CONNECT": ConnectProperties,
    "WILL": WillProperties,
    "CONNACK": ConnAckProperties,
    "DISCONNECT": DisconnectProperties,
    "AUTH": AuthProperties,
}
_EMPTY: dict[str, object] = {
    "CONNECT": EMPTY_CONNECT_PROPERTIES,
    "WILL": EMPTY_WILL_PROPERTIES,
    "CONNACK": EMPTY_CONNACK_PROPERTIES,
    "DISCONNECT": EMPTY_DISCONNECT_PROPERTIES,
    "AUTH": EMPTY_AUTH_PROPERTIES,
}
_AUTHENTICATION_METHOD = 0x15
_AUTHENTICATION_DATA = 0x16
_USER_PROPERTY = 0x26


def _encode_properties(properties: object, packet: str, field: str) -> bytes:
    """The Property Length and the properties (MQTT 5.0 §2.2.2) of ``properties``, which
    must be the class of ``packet``: every field that differs from its default, in
    ascending identifier order, user properties in their order."""
    cls = _CLASSES[packet]
    if properties is _EMPTY[packet]:
        return b"\x00"
    if type(properties) is not cls:
        if not isinstance(properties, cls):
            raise InvalidPacket(field, f"expected {cls.__name__}, got {type(properties).__name__}")
    changed = properties.changed()  # type: ignore[attr-defined]
    if not changed:
        return b"\x00"
    if "authentication_data" in changed and changed.get("authentication_method") is None:
        # MQTT 5.0 §3.1.2.11.10, §3.2.2.3.18, §3.15.2.2.3
        raise InvalidPacket(
            f"{field}.authentication_data",
            "expected an authentication method with authentication data, got none",
        )
    out = []
    for spec in _SPECS[packet]:
        name = spec.name
        if name not in changed:
            continue
        value = changed[name]
        where = f"{field}.{name}"
        kind = spec.kind
        if kind == "pair":
            out.append(_user_properties(value, where))
            continue
        out.append(bytes((spec.identifier,)))
        if kind == "str":
            out.append(_string(value, where))
        elif kind == "bin":
            out.append(_binary(value, where))
        elif spec.is_bool:
            if type(value) is not bool:
                raise InvalidPacket(where, f"expected a bool, got {type(value).__name__}")
            out.append(b"\x01" if value else b"\x00")
        else:
            number = _check_int(value, spec.low, spec.high, where)
            size = 1 if kind == "byte" else 2 if kind == "u16" else 4
            out.append(number.to_bytes(size, "big"))
    body = b"".join(out)
    return _length_bytes(len(body)) + body


def _user_properties(pairs: object, field: str) -> bytes:
    """User Property (0x26) once per pair, in order (MQTT 5.0 §3.1.2.11.8)."""
    if not isinstance(pairs, (tuple, list)):
        raise InvalidPacket(
            field, f"expected a tuple of (name, value) pairs, got {type(pairs).__name__}"
        )
    out: list[bytes] = []
    for index, pair in enumerate(pairs):
        where = f"{field}[{index}]"
        if not isinstance(pair, tuple) or len(pair) != 2:
            got = f"{len(pair)}-tuple" if isinstance(pair, tuple) else type(pair).__name__
            raise InvalidPacket(where, f"expected a (name, value) pair of str, got {got}")
        out += (b"\x26", _string(pair[0], where), _string(pair[1], where))
    return b"".join(out)


def _fixed_header(first: int, body: bytes) -> bytes:
    if len(body) > MAX_REMAINING_LENGTH:
        raise InvalidPacket(
            "properties",
            f"expected a packet of at most {MAX_REMAINING_LENGTH:,} bytes after its fixed "
            f"header, got {len(body):,}",
        )
    return bytes((first,)) + _length_bytes(len(body)) + body


def _encode_connect5(packet: Connect) -> bytes:
    """CONNECT at MQTT 5.0 (§3.1): the 3.1.1 layout with properties after the keep alive
    and will properties before the will topic."""
    client_id = packet._client_id
    clean_session = packet._clean_session
    username = packet._username
    password = packet._password
    will = packet._will
    keep_alive = _check_int(packet._keep_alive, 0, 65_535, "keep_alive")
    properties = _encode_properties(packet._properties, "CONNECT", "properties")
    # MQTT 5.0 §3.1.3.1: a zero-length client identifier is allowed whatever Clean Start
    # says; the server assigns one or refuses it with 0x85.
    fields = [_string(client_id, "client_id")]
    flags = 0x02 if clean_session else 0
    if will is not None:
        if not isinstance(will, Will):
            raise InvalidPacket("will", f"expected a Will or None, got {type(will).__name__}")
        will_properties = _encode_properties(will._properties, "WILL", "will.properties")
        topic = _string(will.topic, "will.topic")
        if len(topic) == 2:
            raise InvalidPacket("will.topic", "expected a topic name, got ''")
        if "+" in will.topic or "#" in will.topic:
            # MQTT 5.0 §4.7.1: wildcards belong in filters, never in a topic name.
            raise InvalidPacket(
                "will.topic", f"expected a topic name without + or #, got {will.topic!r}"
            )
        qos = _check_int(will.qos, 0, 2, "will.qos")
        flags |= 0x04 | qos << 3 | (0x20 if will.retain else 0)
        fields += (will_properties, topic, _binary(will.message, "will.message"))
    if username is not None:
        flags |= 0x80
        fields.append(_string(username, "username"))
    if password is not None:
        # MQTT 5.0 §3.1.2.9 dropped 3.1.1's rule: a password may come without a user name.
        flags |= 0x40
        fields.append(_binary(password, "password"))
    body = b"".join((_PROTOCOL_HEADER[5], _BYTE_U16(flags, keep_alive), properties, *fields))
    return _fixed_header(0x10, body)


_REASON_OF = {2: "a CONNACK", 14: "a DISCONNECT", 15: "an AUTH"}


def _reason(value: object, packet_type: int, field: str) -> int:
    """A reason code defined for ``packet_type`` (MQTT 5.0 §2.4)."""
    if type(value) is bool or not isinstance(value, int):
        raise InvalidPacket(field, f"expected a reason code, got {type(value).__name__}")
    reason = REASONS.get(value)
    if reason is None or not reason.defined_for(packet_type):
        raise InvalidPacket(
            field, f"expected {_REASON_OF[packet_type]} reason code, got {_code(value)}"
        )
    return int(value)


def _code(value: int) -> str:
    """A reason code as messages show it: 0x8e, with its name when it has one."""
    reason = REASONS.get(value)
    hex_ = f"0x{value:02x}" if 0 <= value <= 0xFF else str(value)
    return f"{hex_} ({reason.name})" if reason is not None else hex_


def _encode_connack5(packet: ConnAck) -> bytes:
    """CONNACK at MQTT 5.0 (§3.2): flags, reason code, properties."""
    code = _reason(packet.return_code, 2, "return_code")
    if packet.session_present and code:
        # MQTT 5.0 §3.2.2.1.1
        raise InvalidPacket(
            "session_present", f"expected False with reason code {_code(code)}, got True"
        )
    properties = _encode_properties(packet.properties, "CONNACK", "properties")
    return _fixed_header(0x20, bytes((1 if packet.session_present else 0, code)) + properties)


def _encode_disconnect(packet: Disconnect) -> bytes:
    """DISCONNECT (MQTT 5.0 §3.14): nothing for reason 0 without properties, the reason
    code alone without properties (§3.14.2.2.1), else both."""
    code = _reason(packet.reason_code, 14, "reason_code")
    properties = _encode_properties(packet.properties, "DISCONNECT", "properties")
    if properties == b"\x00":
        return _DISCONNECT_BYTES if code == 0 else bytes((0xE0, 1, code))
    return _fixed_header(0xE0, bytes((code,)) + properties)


def _encode_auth(packet: Auth) -> bytes:
    """AUTH (MQTT 5.0 §3.15): nothing for reason 0 without properties (§3.15.2.1), else
    the reason code and the properties."""
    code = _reason(packet.reason_code, 15, "reason_code")
    properties = _encode_properties(packet.properties, "AUTH", "properties")
    if code == 0 and properties == b"\x00":
        return b"\xf0\x00"
    return _fixed_header(0xF0, bytes((code,)) + properties)


_ENCODERS: tuple[tuple[type, Any], ...] = (
    (Connect, _encode_connect),
    (ConnAck, _encode_connack),
    (PingReq, lambda _: _PINGREQ_BYTES),
    (PingResp, lambda _: _PINGRESP_BYTES),
    (Disconnect, _encode_disconnect),
    (Auth, _encode_auth),
    (OtherPacket, _encode_other),
)


def _check_int(value: object, low: int, high: int, field: str) -> int:
    if type(value) is bool or not isinstance(value, int):
        raise InvalidPacket(field, f"expected an integer {low}..{high}, got {type(value).__name__}")
    if not low <= value <= high:
        raise InvalidPacket(field, f"expected an integer {low}..{high}, got {value}")
    return int(value)


def _string(value: object, field: str) -> bytes:
    """A UTF-8 string with its two-byte length (MQTT 3.1.1 §1.5.3)."""
    if type(value) is str:
        try:
            data = value.encode()
        except UnicodeEncodeError as exc:
            raise InvalidPacket(
                field, f"expected well-formed text, got a lone surrogate at character {exc.start}"
            ) from None
        if len(data) <= _MAX_FIELD and b"\x00" not in data:
            return _U16(len(data)) + data
    if not isinstance(value, str):
        raise InvalidPacket(field, f"expected str, got {type(value).__name__}")
    if type(value) is not str:
        return _string(str(value), field)
    if "\x00" in value:
        raise InvalidPacket(
            field, f"expected no U+0000, got one at character {value.index(chr(0))}"
        )
    size = len(value.encode())
    raise InvalidPacket(field, f"expected at most 65,535 bytes of UTF-8, got {size:,}")


def _binary(value: object, field: str) -> bytes:
    """Binary data with its two-byte length. The value never appears in a message."""
    if type(value) is not bytes:
        if not isinstance(value, (bytes, bytearray, memoryview)):
            raise InvalidPacket(field, f"expected bytes, got {type(value).__name__}")
        value = bytes(value)
    if len(value) > _MAX_FIELD:
        raise InvalidPacket(field, f"expected at most 65,535 bytes, got {len(value):,}")
    return _U16(len(value)) + value


def _length_bytes(length: int) -> bytes:
    """The minimal Remaining Length encoding (MQTT 3.1.1 §2.2.3)."""
    out = bytearray()
    while True:
        digit = length & 0x7F
        length >>= 7
        if length:
            out.append(digit | 0x80)
        else:
            out.append(digit)
            return bytes(out)


# ---------------------------------------------------------------------------- decoding

Buffer = bytes | bytearray


def decode(data: bytes | bytearray | memoryview, protocol_level: int = 4) -> Packet:
    """Decode exactly one complete packet.

    ``protocol_level`` (3, 4 or 5) says how to read a CONNACK, a DISCONNECT and the
    Remaining Length, and whether AUTH exists; a CONNECT says its own level. Raises
    MalformedPacket when ``data`` is incomplete, has bytes after the packet, or breaks the
    specification; ProtocolViolation for an MQTT 5.0 property value the specification
    forbids; UnsupportedProtocol for a CONNECT of another level; InvalidPacket for a
    ``protocol_level`` other than 3, 4 or 5.
    """
    _check_level(protocol_level)
    if not isinstance(data, (bytes, bytearray)):
        data = bytes(data)
    end = len(data)
    out: list[Packet] = []
    pos, need = _frame(data, 0, end, out, _LARGEST_PACKET, protocol_level, 1)
    if not out:
        raise MalformedPacket(f"expected a packet of at least {need} bytes, got {end}", end)
    if pos != end:
        raise MalformedPacket(
            f"expected the data to end with the packet, got {end - pos} more bytes", pos
        )
    return out[0]


def _check_level(level: object) -> None:
    if type(level) is not int or level not in _PROTOCOL_HEADER:
        raise InvalidPacket("protocol_level", f"expected {_LEVELS}, got {level!r}")


def _frame(
    buf: Buffer, pos: int, end: int, out: list[Packet], limit: int, level: int, count: int
) -> tuple[int, int]:
    """Append up to ``count`` complete packets from ``buf[pos:end]`` to ``out``.

    Returns the position after the last packet and how many bytes from there the next
    one needs at least. Raises PacketTooLarge as soon as a header announces more than
    ``limit`` bytes, before the body is waited for.
    """
    valid_first = _VALID_FIRST[level]
    lengths = _FIXED_LENGTHS[level]
    while count and pos < end:
        first = buf[pos]
        # Remaining Length (MQTT 3.1.1 §2.2.3): 7 bits a byte, least significant first.
        length = 0
        shift = 0
        index = pos + 1
        while True:
            if index >= end:
                return pos, index - pos + 1
            digit = buf[index]
            length |= (digit & 0x7F) << shift
            index += 1
            if digit < 0x80:
                break
            if index - pos == 5:
                raise MalformedPacket(
                    "expected the remaining length to end within 4 bytes, "
                    "got a continuation bit in the 4th",
                    index - 1,
                )
            shift += 7
        if not digit and index - pos > 2 and level == 5:
            # MQTT 5.0 §1.5.5 demands the fewest bytes; 3.1.1 §2.2.3 did not.
            _refuse_long_varint("remaining length", index - pos - 1, length, index - 1)
        size = index - pos + length
        if size > limit:
            raise PacketTooLarge(
                f"expected a packet of at most {limit:,} bytes, got a header announcing {size:,}",
                pos,
                size,
                limit,
            )
        kind = first >> 4
        fixed = lengths[kind]
        if (
            not valid_first[first]
            or (fixed >= 0 and length != fixed)
            or (fixed < -1 and length < -fixed)
        ):
            # Known from the fixed header: refused now, not once a body that cannot
            # help has arrived (a CONNACK announcing 3 bytes, a PINGRESP announcing 1).
            _refuse_header(first, length, pos, level)
        if end - pos < size:
            return pos, size
        out.append(_decode_body(kind, first & 0x0F, buf, pos, index, index + length, level))
        pos = index + length
        count -= 1
    return pos, 2


def _valid_first_bytes(level: int) -> tuple[bool, ...]:
    """For each first byte, whether its type and flags may begin a packet at ``level``."""
    valid = []
    types = _TYPES5 if level == 5 else _TYPES
    for first in range(256):
        kind = first >> 4
        flags = first & 0x0F
        required = _REQUIRED_FLAGS[kind]
        if types[kind] is None:
            valid.append(False)
        elif required is None:
            valid.append(flags & 0x06 != 0x06)  # MQTT 3.1.1 §3.3.1.2
        else:
            # MQTT 3.1 let the other packets carry DUP, QoS and RETAIN bits freely.
            valid.append(flags == required or (level == 3 and kind not in _DECODED))
    return tuple(valid)


_VALID_FIRST = {level: _valid_first_bytes(level) for level in _PROTOCOL_HEADER}

# By level, the Remaining Length of each type: 0 or more for a body of that fixed size,
# -1 for any, below -1 for at least its negation. CONNACK 2 (MQTT 3.1.1 §3.2.1), PINGREQ,
# PINGRESP and DISCONNECT 0 (§3.12.1, §3.13.1, §3.14.1). In MQTT 5.0 a CONNACK has at
# least its flags, reason code and property length (§3.2.2), a DISCONNECT any length
# (§3.14.2.1), an AUTH 0 or more (§3.15.2.1: 1 is refused once its body is read).
_FIXED_LENGTHS = {
    3: (-1, -1, 2, -1, -1, -1, -1, -1, -1, -1, -1, -1, 0, 0, 0, -1),
    4: (-1, -1, 2, -1, -1, -1, -1, -1, -1, -1, -1, -1, 0, 0, 0, -1),
    5: (-1, -1, -3, -1, -1, -1, -1, -1, -1, -1, -1, -1, 0, 0, -1, -1),
}


def _refuse_long_varint(what: str, size: int, value: int, pos: int) -> None:
    """A Variable Byte Integer in more bytes than it needs (MQTT 5.0 §1.5.5): refused at
    the byte that adds nothing, its last."""
    raise MalformedPacket(
        f"expected the {what} in its fewest bytes, got {value} in {size} bytes", pos
    )


def _refuse_header(first: int, length: int, pos: int, level: int) -> None:
    """Raise the fault of a fixed header at ``pos`` that ``_VALID_FIRST`` or
    ``_FIXED_LENGTHS`` refused, in the order a packet's checks run."""
    kind = first >> 4
    flags = first & 0x0F
    packet_type = (_TYPES5 if level == 5 else _TYPES)[kind]
    if packet_type is None:
        top = 15 if level == 5 else 14
        raise MalformedPacket(f"expected a packet type 1..{top}, got {kind} (reserved)", pos)
    required = _REQUIRED_FLAGS[kind]
    if required is None:
        if flags & 0x06 == 0x06:
            raise MalformedPacket("expected PUBLISH QoS 0..2, got 3", pos)
    elif flags != required and (level != 3 or kind in _DECODED):
        raise MalformedPacket(
            f"expected fixed-header flags {required:04b} for {packet_type.name}, got {flags:04b}",
            pos,
        )
    fixed = _FIXED_LENGTHS[level][kind]
    if fixed >= 0 and length != fixed:
        raise MalformedPacket(
            f"expected remaining length {fixed} for {packet_type.name}, got {length}", pos + 1
        )
    if fixed < -1 and length < -fixed:
        # MQTT 5.0 §3.2.2: the only such rule, CONNACK's.
        raise MalformedPacket(
            f"expected the property length of an MQTT 5.0 CONNACK (a remaining length of "
            f"{-fixed} or more), got a remaining length of {length}",
            pos + 1,
        )
    raise AssertionError(f"_refuse_header found no fault in 0x{first:02x}, length {length}")


def _decode_body(
    kind: int, flags: int, buf: Buffer, pos: int, start: int, end: int, level: int
) -> Packet:
    """Decode one framed packet whose fixed header passed ``_frame``'s checks; its body
    is ``buf[start:end]``."""
    if kind not in _DECODED:
        return OtherPacket(_TYPES[kind], flags, bytes(buf[start:end]))  # type: ignore[arg-type]
    if kind == 2:
        if level == 5:
            return _decode_connack5(buf, start, end)
        return _decode_connack(buf, start, level)
    if kind == 1:
        return _decode_connect(buf, start, end)
    if start != end:  # only MQTT 5.0 gives these a body: see _FIXED_LENGTHS
        return _decode_disconnect5(buf, start, end) if kind == 14 else _decode_auth(buf, start, end)
    return (
        PINGRESP if kind == 13 else PINGREQ if kind == 12 else DISCONNECT if kind == 14 else Auth()
    )


def _decode_connack(buf: Buffer, start: int, level: int) -> ConnAck:
    ack = buf[start]
    code = buf[start + 1]
    if code > 5:
        raise MalformedPacket(f"expected return code 0..5, got {code}", start + 1)
    if level == 3:
        return CONNACKS[code]  # MQTT 3.1: the first byte is reserved and unused
    if ack > 1:
        # MQTT 3.1.1 §3.2.2.1
        raise MalformedPacket(
            f"expected connect acknowledge flags 0 or 1 (bits 7..1 reserved), got 0x{ack:02x}",
            start,
        )
    if ack and code:
        # MQTT 3.1.1 §3.2.2.2
        raise MalformedPacket(f"expected session present 0 with return code {code}, got 1", start)
    return CONNACKS[6 if ack else code]


def _decode_connect(buf: Buffer, start: int, end: int) -> Connect:
    name, pos = _read_field(buf, start, end, "protocol name")
    if end - pos < 4:
        raise MalformedPacket(
            f"expected 4 bytes of protocol level, connect flags and keep alive, got {end - pos}",
            end,
        )
    expected = _LEVELS_OF_NAME.get(name)
    if expected is None:
        raise MalformedPacket(
            f"expected protocol name 'MQTT' or 'MQIsdp', got {name.decode('latin-1')!r}", start
        )
    level = buf[pos]
    if level not in _PROTOCOL_HEADER:
        # MQTT 3.1.1 §3.1.2.2: a server answers this with return code 1 (5.0 §3.1.2.2:
        # reason code 0x84).
        raise UnsupportedProtocol(f"expected protocol level 3, 4 or 5, got {level}", pos, level)
    if level not in expected:
        levels = " or ".join(map(str, expected))
        raise MalformedPacket(
            f"expected protocol level {levels} with protocol name {name.decode()!r}, got {level}",
            pos,
        )
    if level == 5:
        return _decode_connect5(buf, pos, end)
    flags = _connect_flags(buf, pos + 1)
    if flags & 0x40 and not flags & 0x80:
        # MQTT 3.1.1 §3.1.2.9
        raise MalformedPacket(
            "expected the user name flag with the password flag, got none", pos + 1
        )
    keep_alive = buf[pos + 2] << 8 | buf[pos + 3]
    client_id, pos = _read_string(buf, pos + 4, end, "client identifier")
    will = username = password = None
    if flags & 0x04:
        topic, pos = _read_string(buf, pos, end, "will topic")
        message, pos = _read_field(buf, pos, end, "will message")
        will = Will(topic, message, flags >> 3 & 0x03, bool(flags & 0x20))
    if flags & 0x80:
        username, pos = _read_string(buf, pos, end, "user name")
    if flags & 0x40:
        password, pos = _read_field(buf, pos, end, "password")
    if pos != end:
        raise MalformedPacket(
            f"expected the end of CONNECT after its last field, got {end - pos} more bytes", pos
        )
    return Connect(client_id, bool(flags & 0x02), keep_alive, username, password, will, level)


def _read_field(
    buf: Buffer, pos: int, end: int, what: str, within: str = "packet"
) -> tuple[bytes, int]:
    """Binary data with a two-byte length; only lengths appear in messages (passwords).
    ``end`` is the end of the ``within``: the packet, or its properties."""
    if end - pos < 2:
        raise MalformedPacket(
            f"expected the 2-byte length of the {what}, "
            f"got {end - pos} bytes before the end of the {within}",
            pos,
        )
    length = buf[pos] << 8 | buf[pos + 1]
    pos += 2
    if end - pos < length:
        raise MalformedPacket(
            f"expected {length} bytes of {what}, got {end - pos} before the end of the {within}",
            pos,
        )
    return bytes(buf[pos : pos + length]), pos + length


def _read_string(
    buf: Buffer, pos: int, end: int, what: str, within: str = "packet"
) -> tuple[str, int]:
    """A UTF-8 string (MQTT 3.1.1 §1.5.3): well-formed, surrogates excluded, no U+0000."""
    raw, after = _read_field(buf, pos, end, what, within)
    pos += 2
    try:
        text = raw.decode("utf-8")  # strict: refuses surrogates and overlong forms
    except UnicodeDecodeError as exc:
        raise MalformedPacket(
            f"expected well-formed UTF-8 in the {what}, got byte 0x{raw[exc.start]:02x}",
            pos + exc.start,
        ) from None
    zero = raw.find(0)
    if zero >= 0:
        raise MalformedPacket(f"expected no U+0000 in the {what}, got one", pos + zero)
    return text, after


# ------------------------------------------------------------------ decoding MQTT 5.0


def _read_varint(
    buf: Buffer, pos: int, end: int, what: str, within: str = "packet"
) -> tuple[int, int]:
    """A Variable Byte Integer (MQTT 5.0 §1.5.5) in its fewest bytes, ending by ``end``,
    the end of the ``within``."""
    value = 0
    shift = 0
    index = pos
    while True:
        if index >= end:
            raise MalformedPacket(f"expected the {what}, got the end of the {within}", index)
        digit = buf[index]
        value |= (digit & 0x7F) << shift
        index += 1
        if digit < 0x80:
            break
        if index - pos == 4:
            raise MalformedPacket(
                f"expected the {what} to end within 4 bytes, got a continuation bit in the 4th",
                index - 1,
            )
        shift += 7
    if not digit and index - pos > 1:
        _refuse_long_varint(what, index - pos, value, index - 1)
    return value, index


def _allowed_in(packet: str) -> str:
    return "the will properties" if packet == "WILL" else packet


# Per packet: identifier -> how to read it.
_READERS: dict[str, dict[int, _Spec]] = {
    packet: {spec.identifier: spec for spec in specs} for packet, specs in _SPECS.items()
}


def _read_properties(buf: Buffer, pos: int, end: int, packet: str) -> tuple[Any, int]:
    """The Property Length and the properties of ``packet`` ("CONNECT", "WILL", ...)
    from ``pos``; returns the properties object (the shared empty one when there are
    none) and the position after them (MQTT 5.0 §2.2.2)."""
    length, pos = _read_varint(buf, pos, end, "property length")
    if not length:
        return _EMPTY[packet], pos
    stop = pos + length
    if stop > end:
        raise MalformedPacket(
            f"expected {length} bytes of properties, got {end - pos} before the end of the packet",
            pos,
        )
    readers = _READERS[packet]
    values: dict[str, Any] = {}
    pairs: list[tuple[str, str]] = []
    data_at = -1
    while pos < stop:
        at = pos
        identifier, pos = _read_varint(buf, pos, stop, "property identifier", "properties")
        spec = readers.get(identifier)
        if spec is None:
            entry = PROPERTIES.get(identifier)
            name = entry.name if entry else OTHER_PROPERTIES.get(identifier, "unknown")
            raise MalformedPacket(
                f"expected a property allowed in {_allowed_in(packet)}, "
                f"got 0x{identifier:02x} ({name})",
                at,
            )
        name = spec.name
        kind = spec.kind
        if kind == "pair":
            key, pos = _read_string(buf, pos, stop, "user property name", "properties")
            value, pos = _read_string(buf, pos, stop, "user property value", "properties")
            pairs.append((key, value))
            continue
        if name in values:
            # MQTT 5.0 §2.2.2.2: only the User Property may be given more than once.
            raise MalformedPacket(f"expected {name} at most once, got it again", at)
        if kind == "str":
            values[name], pos = _read_string(buf, pos, stop, name.replace("_", " "), "properties")
            continue
        if kind == "bin":
            if identifier == _AUTHENTICATION_DATA:
                data_at = at
            values[name], pos = _read_field(buf, pos, stop, name.replace("_", " "), "properties")
            continue
        size = 1 if kind == "byte" else 2 if kind == "u16" else 4
        if stop - pos < size:
            raise MalformedPacket(
                f"expected {size} bytes of {name}, got {stop - pos} before the end of the "
                f"properties",
                pos,
            )
        number = int.from_bytes(buf[pos : pos + size], "big")
        if not spec.low <= number <= spec.high:
            # MQTT 5.0 §4.13: a Protocol Error, not a malformed packet.
            if spec.high == 1:
                expected = "0 or 1"
            else:
                expected = f"{spec.low}..{spec.high}"
            raise ProtocolViolation(f"expected {name} {expected}, got {number}", pos)
        values[name] = bool(number) if spec.is_bool else number
        pos += size
    if data_at >= 0 and "authentication_method" not in values:
        # MQTT 5.0 §3.1.2.11.10, §3.2.2.3.18, §3.15.2.2.3
        raise ProtocolViolation(
            "expected an authentication method with authentication data, got none", data_at
        )
    if pairs:
        values["user_properties"] = tuple(pairs)
    return _CLASSES[packet](**values), pos


def _end_after_properties(pos: int, end: int, packet: str) -> None:
    if pos != end:
        raise MalformedPacket(
            f"expected the end of {packet} after its properties, got {end - pos} more bytes", pos
        )


# Reason codes (MQTT 5.0 §2.4) as members, by the packet types that define them.
_REASON_CODES = {
    packet_type: {
        code: ReasonCode(code)
        for code, reason in REASONS.items()
        if reason.defined_for(packet_type)
    }
    for packet_type in (2, 14, 15)
}


def _read_reason(buf: Buffer, pos: int, packet_type: int) -> ReasonCode:
    code = buf[pos]
    member = _REASON_CODES[packet_type].get(code)
    if member is None:
        raise MalformedPacket(
            f"expected {_REASON_OF[packet_type]} reason code, got {_code(code)}", pos
        )
    return member


def _decode_connack5(buf: Buffer, start: int, end: int) -> ConnAck:
    """CONNACK at MQTT 5.0 (§3.2.2); ``_frame`` saw at least 3 bytes."""
    ack = buf[start]
    if ack > 1:
        # MQTT 5.0 §3.2.2.1
        raise MalformedPacket(
            f"expected connect acknowledge flags 0 or 1 (bits 7..1 reserved), got 0x{ack:02x}",
            start,
        )
    code = _read_reason(buf, start + 1, 2)
    if ack and code:
        # MQTT 5.0 §3.2.2.1.1: a refusal (0x80 or above) has no session.
        raise MalformedPacket(
            f"expected session present 0 with reason code {_code(code)}, got 1", start
        )
    properties, pos = _read_properties(buf, start + 2, end, "CONNACK")
    _end_after_properties(pos, end, "CONNACK")
    return ConnAck(bool(ack), code, properties)


def _decode_disconnect5(buf: Buffer, start: int, end: int) -> Disconnect:
    """DISCONNECT at MQTT 5.0 with a body (§3.14.2): a reason code, then properties
    unless the Remaining Length is 1 (§3.14.2.2.1)."""
    code = _read_reason(buf, start, 14)
    if end - start == 1:
        return Disconnect(code)
    properties, pos = _read_properties(buf, start + 1, end, "DISCONNECT")
    _end_after_properties(pos, end, "DISCONNECT")
    return Disconnect(code, properties)


def _decode_auth(buf: Buffer, start: int, end: int) -> Auth:
    """AUTH with a body (MQTT 5.0 §3.15.2): a reason code and the properties."""
    code = _read_reason(buf, start, 15)
    properties, pos = _read_properties(buf, start + 1, end, "AUTH")
    _end_after_properties(pos, end, "AUTH")
    return Auth(code, properties)


def _connect_flags(buf: Buffer, at: int) -> int:
    """CONNECT's flags byte at ``at``, checked as 3.1.1 and 5.0 both do (MQTT 3.1.1 and
    5.0 §3.1.2.3, §3.1.2.6, §3.1.2.7): the reserved bit 0, a will QoS 0..2, no will QoS
    or retain without the will flag."""
    flags = buf[at]
    if flags & 0x01:
        raise MalformedPacket("expected the reserved connect flag 0, got 1", at)
    will_qos = flags >> 3 & 0x03
    if will_qos == 3:
        raise MalformedPacket("expected will QoS 0..2, got 3", at)
    if not flags & 0x04 and flags & 0x38:
        raise MalformedPacket(
            f"expected will QoS 0 and will retain 0 without the will flag, got QoS {will_qos}"
            f" and retain {flags >> 5 & 1}",
            at,
        )
    return flags


def _decode_connect5(buf: Buffer, pos: int, end: int) -> Connect:
    """CONNECT at MQTT 5.0 from its protocol level at ``pos`` (§3.1.2.2 on)."""
    flags = _connect_flags(buf, pos + 1)
    # MQTT 5.0 §3.1.2.9: the password flag no longer needs the user name flag.
    keep_alive = buf[pos + 2] << 8 | buf[pos + 3]
    properties, pos = _read_properties(buf, pos + 4, end, "CONNECT")
    client_id, pos = _read_string(buf, pos, end, "client identifier")
    will = username = password = None
    if flags & 0x04:
        will_properties, pos = _read_properties(buf, pos, end, "WILL")
        topic, pos = _read_string(buf, pos, end, "will topic")
        message, pos = _read_field(buf, pos, end, "will payload")
        will = Will(topic, message, flags >> 3 & 0x03, bool(flags & 0x20), will_properties)
    if flags & 0x80:
        username, pos = _read_string(buf, pos, end, "user name")
    if flags & 0x40:
        password, pos = _read_field(buf, pos, end, "password")
    if pos != end:
        raise MalformedPacket(
            f"expected the end of CONNECT after its last field, got {end - pos} more bytes", pos
        )
    return Connect(
        client_id, bool(flags & 0x02), keep_alive, username, password, will, 5, properties
    )


# ---------------------------------------------------------------------------- framing


class Framer:
    """Cuts a byte stream into packets.

    ``feed(data)`` returns the packets completed by ``data``; a partial packet is kept
    for the next call. ``max_packet_size`` counts the whole packet, fixed header
    included, and is checked as soon as a header is complete, before its body is waited
    for. Errors carry offsets counted from the first byte ever fed.

    A fault loses no packet that arrived whole before it: the call that meets it returns
    those packets and keeps the fault in ``error`` (or raises it at once when there are
    none). From then on every call raises it again, ``feed(b"")`` included: the stream
    cannot be resynchronised, and nothing after the fault is read.
    """

    __slots__ = ("_buffer", "_consumed", "_error", "_level", "_limit", "_need")

    def __init__(
        self, max_packet_size: int = DEFAULT_MAX_PACKET_SIZE, protocol_level: int = 4
    ) -> None:
        """Raises InvalidPacket for a ``protocol_level`` other than 3, 4 or 5 or a
        ``max_packet_size`` below 2 (the smallest packet)."""
        _check_level(protocol_level)
        self._limit = _check_int(max_packet_size, 2, 1 << 62, "max_packet_size")
        self._level = protocol_level
        self._buffer = bytearray()
        self._need = 0
        self._consumed = 0
        self._error: RemoteProtocolError | None = None

    @property
    def max_packet_size(self) -> int:
        return self._limit

    @property
    def protocol_level(self) -> int:
        return self._level

    @property
    def buffered(self) -> int:
        """How many bytes of an incomplete packet are held (none after a fault)."""
        return len(self._buffer)

    @property
    def error(self) -> RemoteProtocolError | None:
        """The fault the stream met, which every later ``feed`` raises; None before."""
        return self._error

    def feed(self, data: bytes | bytearray | memoryview) -> list[Packet]:
        """Return the packets ``data`` completes, in order.

        When the stream breaks the specification, returns the packets completed before
        the fault and raises it on the next call, or at once if there are none; later
        calls raise it again. Raises MalformedPacket, PacketTooLarge, ProtocolViolation
        or UnsupportedProtocol.
        """
        if self._error is not None:
            raise self._error
        buffer = self._buffer
        if buffer:
            buffer += data
            if len(buffer) < self._need:
                return []
            buf: Buffer = buffer
        elif isinstance(data, (bytes, bytearray)):
            buf = data
        else:
            buf = bytes(data)
        out: list[Packet] = []
        try:
            pos, need = _frame(buf, 0, len(buf), out, self._limit, self._level, -1)
        except RemoteProtocolError as exc:
            exc._shift(self._consumed)
            self._error = exc
            del buffer[:]  # nothing after the fault is read
            if out:
                return out  # ``out`` holds the packets ``_frame`` completed before it
            raise
        if buf is buffer:
            del buffer[:pos]
        elif pos < len(buf):
            buffer += buf[pos:]
        self._need = need
        self._consumed += pos
        return out
