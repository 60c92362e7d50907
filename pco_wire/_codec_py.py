"""The reference codec: MQTT 3.1 and 3.1.1 connection packets in plain Python.

This module defines what correct is. The compiled twin (``_codec.pyx``) must produce the
same bytes and the same packets; where it meets a fault it asks this module for the error,
so both raise the same type with the same offset and message.

Layout of a control packet (MQTT 3.1.1 §2): one byte of type and flags, the Remaining
Length in one to four bytes, then the body (variable header and payload).
"""

from __future__ import annotations

import struct

from .errors import (
    InvalidPacket,
    MalformedPacket,
    PacketTooLarge,
    RemoteProtocolError,
    UnsupportedProtocol,
)
from .packets import (
    CONNACKS,
    DISCONNECT,
    PINGREQ,
    PINGRESP,
    ConnAck,
    Connect,
    Disconnect,
    OtherPacket,
    PacketType,
    PingReq,
    PingResp,
    Will,
)

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

__all__ = ["DEFAULT_MAX_PACKET_SIZE", "Framer", "decode", "encode"]

Packet = Connect | ConnAck | PingReq | PingResp | Disconnect | OtherPacket

#: The largest packet a Framer accepts unless told otherwise, fixed header included.
#: The packets this library decodes are tiny; the limit is for the PUBLISH packets a broker
#: may send after CONNACK, which are framed and kept whole.
DEFAULT_MAX_PACKET_SIZE = 1 << 20

MAX_REMAINING_LENGTH = 268_435_455  # four 7-bit groups (MQTT 3.1.1 §2.2.3)
_LARGEST_PACKET = 5 + MAX_REMAINING_LENGTH
_MAX_FIELD = 65_535  # a two-byte length prefix (MQTT 3.1.1 §1.5.3)

_PROTOCOL_HEADER = {4: b"\x00\x04MQTT\x04", 3: b"\x00\x06MQIsdp\x03"}
_LEVEL_OF_NAME = {b"MQTT": 4, b"MQIsdp": 3}

_TYPES: tuple[PacketType | None, ...] = (None, *tuple(PacketType)[:14], None)
_DECODED = frozenset({1, 2, 12, 13, 14})

# Fixed-header flags each type must carry (MQTT 3.1.1 §2.2.2); PUBLISH (3) carries DUP,
# QoS and RETAIN and is checked on its own.
_REQUIRED_FLAGS = (None, 0, 0, None, 0, 0, 2, 0, 2, 0, 2, 0, 0, 0, 0, None)

_U16 = struct.Struct(">H").pack
_BYTE_BYTE = struct.Struct(">BB").pack
_BYTE_U16 = struct.Struct(">BH").pack

_PINGREQ_BYTES = b"\xc0\x00"
_PINGRESP_BYTES = b"\xd0\x00"
_DISCONNECT_BYTES = b"\xe0\x00"


# ---------------------------------------------------------------------------- encoding


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
        return _DISCONNECT_BYTES
    if kind is PingResp:
        return _PINGRESP_BYTES
    if kind is ConnAck:
        return _encode_connack(packet)  # type: ignore[arg-type]
    if kind is OtherPacket:
        return _encode_other(packet)  # type: ignore[arg-type]
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
        raise InvalidPacket(
            "protocol_level", f"expected 3 (MQTT 3.1) or 4 (MQTT 3.1.1), got {level!r}"
        )
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


_ENCODERS: tuple[tuple[type, Any], ...] = (
    (Connect, _encode_connect),
    (ConnAck, _encode_connack),
    (PingReq, lambda _: _PINGREQ_BYTES),
    (PingResp, lambda _: _PINGRESP_BYTES),
    (Disconnect, lambda _: _DISCONNECT_BYTES),
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

    ``protocol_level`` (3 or 4) says how to read a CONNACK; a CONNECT says its own level.
    Raises MalformedPacket when ``data`` is incomplete, has bytes after the packet, or
    breaks the specification; UnsupportedProtocol for a CONNECT of another level;
    InvalidPacket for a ``protocol_level`` other than 3 or 4.
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
        raise InvalidPacket(
            "protocol_level", f"expected 3 (MQTT 3.1) or 4 (MQTT 3.1.1), got {level!r}"
        )


def _frame(
    buf: Buffer, pos: int, end: int, out: list[Packet], limit: int, level: int, count: int
) -> tuple[int, int]:
    """Append up to ``count`` complete packets from ``buf[pos:end]`` to ``out``.

    Returns the position after the last packet and how many bytes from there the next
    one needs at least. Raises PacketTooLarge as soon as a header announces more than
    ``limit`` bytes, before the body is waited for.
    """
    valid_first = _VALID_FIRST[level]
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
        size = index - pos + length
        if size > limit:
            raise PacketTooLarge(
                f"expected a packet of at most {limit:,} bytes, got a header announcing {size:,}",
                pos,
                size,
                limit,
            )
        kind = first >> 4
        fixed = _FIXED_LENGTHS[kind]
        if not valid_first[first] or (fixed >= 0 and length != fixed):
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
    for first in range(256):
        kind = first >> 4
        flags = first & 0x0F
        required = _REQUIRED_FLAGS[kind]
        if _TYPES[kind] is None:
            valid.append(False)
        elif required is None:
            valid.append(flags & 0x06 != 0x06)  # MQTT 3.1.1 §3.3.1.2
        else:
            # MQTT 3.1 let the other packets carry DUP, QoS and RETAIN bits freely.
            valid.append(flags == required or (level == 3 and kind not in _DECODED))
    return tuple(valid)


_VALID_FIRST = {level: _valid_first_bytes(level) for level in _PROTOCOL_HEADER}

# The Remaining Length of the packets whose body has a fixed size, -1 for the others:
# CONNACK 2 (MQTT 3.1.1 §3.2.1), PINGREQ, PINGRESP and DISCONNECT 0 (§3.12.1, §3.13.1,
# §3.14.1).
_FIXED_LENGTHS = (-1, -1, 2, -1, -1, -1, -1, -1, -1, -1, -1, -1, 0, 0, 0, -1)


def _refuse_header(first: int, length: int, pos: int, level: int) -> None:
    """Raise the fault of a fixed header at ``pos`` that ``_VALID_FIRST`` or
    ``_FIXED_LENGTHS`` refused, in the order a packet's checks run."""
    kind = first >> 4
    flags = first & 0x0F
    packet_type = _TYPES[kind]
    if packet_type is None:
        raise MalformedPacket(f"expected a packet type 1..14, got {kind} (reserved)", pos)
    required = _REQUIRED_FLAGS[kind]
    if required is None:
        if flags & 0x06 == 0x06:
            raise MalformedPacket("expected PUBLISH QoS 0..2, got 3", pos)
    elif flags != required and (level == 4 or kind in _DECODED):
        raise MalformedPacket(
            f"expected fixed-header flags {required:04b} for {packet_type.name}, got {flags:04b}",
            pos,
        )
    fixed = _FIXED_LENGTHS[kind]
    if fixed >= 0 and length != fixed:
        raise MalformedPacket(
            f"expected remaining length {fixed} for {packet_type.name}, got {length}", pos + 1
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
        return _decode_connack(buf, start, level)
    if kind == 1:
        return _decode_connect(buf, start, end)
    return PINGRESP if kind == 13 else PINGREQ if kind == 12 else DISCONNECT


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
    expected = _LEVEL_OF_NAME.get(name)
    if expected is None:
        raise MalformedPacket(
            f"expected protocol name 'MQTT' or 'MQIsdp', got {name.decode('latin-1')!r}", start
        )
    level = buf[pos]
    if level not in _PROTOCOL_HEADER:
        # MQTT 3.1.1 §3.1.2.2: a server answers this with return code 1.
        raise UnsupportedProtocol(f"expected protocol level 3 or 4, got {level}", pos, level)
    if level != expected:
        raise MalformedPacket(
            f"expected protocol level {expected} with protocol name {name.decode()!r}, got {level}",
            pos,
        )
    flags = buf[pos + 1]
    if flags & 0x01:
        # MQTT 3.1.1 §3.1.2.3
        raise MalformedPacket("expected the reserved connect flag 0, got 1", pos + 1)
    will_qos = flags >> 3 & 0x03
    if will_qos == 3:
        raise MalformedPacket("expected will QoS 0..2, got 3", pos + 1)
    if not flags & 0x04 and flags & 0x38:
        # MQTT 3.1.1 §3.1.2.6 and §3.1.2.7
        raise MalformedPacket(
            f"expected will QoS 0 and will retain 0 without the will flag, got QoS {will_qos}"
            f" and retain {flags >> 5 & 1}",
            pos + 1,
        )
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
        will = Will(topic, message, will_qos, bool(flags & 0x20))
    if flags & 0x80:
        username, pos = _read_string(buf, pos, end, "user name")
    if flags & 0x40:
        password, pos = _read_field(buf, pos, end, "password")
    if pos != end:
        raise MalformedPacket(
            f"expected the end of CONNECT after its last field, got {end - pos} more bytes", pos
        )
    return Connect(client_id, bool(flags & 0x02), keep_alive, username, password, will, level)


def _read_field(buf: Buffer, pos: int, end: int, what: str) -> tuple[bytes, int]:
    """Binary data with a two-byte length; only lengths appear in messages (passwords)."""
    if end - pos < 2:
        raise MalformedPacket(
            f"expected the 2-byte length of the {what}, "
            f"got {end - pos} bytes before the end of the packet",
            pos,
        )
    length = buf[pos] << 8 | buf[pos + 1]
    pos += 2
    if end - pos < length:
        raise MalformedPacket(
            f"expected {length} bytes of {what}, got {end - pos} before the end of the packet", pos
        )
    return bytes(buf[pos : pos + length]), pos + length


def _read_string(buf: Buffer, pos: int, end: int, what: str) -> tuple[str, int]:
    """A UTF-8 string (MQTT 3.1.1 §1.5.3): well-formed, surrogates excluded, no U+0000."""
    raw, after = _read_field(buf, pos, end, what)
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
        """Raises InvalidPacket for a ``protocol_level`` other than 3 or 4 or a
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
        calls raise it again. Raises MalformedPacket, PacketTooLarge or
        UnsupportedProtocol.
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
