"""The vector table, both ways, on both codecs: encode(packet) gives the bytes, and
decode(bytes) gives the packet back with the same field types."""

from __future__ import annotations

import pytest

from pco_wire import ConnAck, ConnAckCode, Connect, Disconnect, PacketType
from pco_wire.packets import PROPERTIES, Auth
from pco_wire.reasons import REASONS
from tests.support import Codec, Packet, fields
from tests.vectors import BY_HAND, DECODED_ONLY5, NON_MINIMAL_LENGTHS, VECTORS, Vector

by_id = pytest.mark.parametrize("vector", VECTORS, ids=[vector.id for vector in VECTORS])


def test_vector_ids_are_unique() -> None:
    rows = VECTORS + DECODED_ONLY5
    assert len({vector.id for vector in rows}) == len(rows)


@by_id
def test_encode(codec: Codec, vector: Vector) -> None:
    data = codec.encode(vector.packet)
    assert type(data) is bytes
    assert data.hex(" ") == vector.data.hex(" ")


@by_id
@pytest.mark.parametrize("kind", [bytes, bytearray, memoryview])
def test_decode(codec: Codec, vector: Vector, kind: type[bytes | bytearray | memoryview]) -> None:
    packet = codec.decode(kind(vector.data), vector.protocol_level)
    assert fields(packet) == fields(vector.packet)


@by_id
def test_framer_whole(codec: Codec, vector: Vector) -> None:
    # A packet of exactly max_packet_size bytes, fixed header included, is accepted.
    framer = codec.Framer(max_packet_size=len(vector.data), protocol_level=vector.protocol_level)
    assert fields(framer.feed(vector.data)) == fields([vector.packet])
    assert framer.buffered == 0


def test_all_seven_connacks_are_in_the_table() -> None:
    # MQTT 3.1.1 §3.2.2: return codes 0..5, session present only with 0.
    seen = {
        (vector.packet.session_present, vector.packet.return_code)
        for vector in VECTORS
        if isinstance(vector.packet, ConnAck)
        and vector.protocol_level == 4
        and vector.source == BY_HAND
    }
    assert seen == {(False, code) for code in ConnAckCode} | {(True, ConnAckCode.ACCEPTED)}


@pytest.mark.parametrize(
    ("data", "expected"),
    [(hex_, packet) for _, hex_, packet in NON_MINIMAL_LENGTHS],
    ids=[name for name, _, _ in NON_MINIMAL_LENGTHS],
)
def test_decode_accepts_non_minimal_remaining_length(
    codec: Codec, data: str, expected: Packet
) -> None:
    assert fields(codec.decode(bytes.fromhex(data))) == fields(expected)
    framer = codec.Framer()
    assert fields(framer.feed(bytes.fromhex(data))) == fields([expected])


@pytest.mark.parametrize(
    ("code", "text"),
    # MQTT 3.1.1 §3.2.2.3, Table 3.1, lower-cased.
    [
        (0, "connection accepted"),
        (
            1,
            "connection refused, unacceptable protocol version: the server does not support "
            "the level of the MQTT protocol requested by the client",
        ),
        (
            2,
            "connection refused, identifier rejected: the client identifier is correct UTF-8 "
            "but not allowed by the server",
        ),
        (
            3,
            "connection refused, server unavailable: the network connection has been made but "
            "the MQTT service is unavailable",
        ),
        (
            4,
            "connection refused, bad user name or password: the data in the user name or "
            "password is malformed",
        ),
        (5, "connection refused, not authorized: the client is not authorized to connect"),
    ],
)
def test_connack_code_text(code: int, text: str) -> None:
    assert ConnAckCode(code).text == text


def test_connack_codes_are_exactly_0_to_5() -> None:
    assert [int(code) for code in ConnAckCode] == [0, 1, 2, 3, 4, 5]


def test_packet_types_are_the_high_nibble() -> None:
    # MQTT 3.1.1 §2.2.1, Table 2.1.
    names = [
        "CONNECT",
        "CONNACK",
        "PUBLISH",
        "PUBACK",
        "PUBREC",
        "PUBREL",
        "PUBCOMP",
        "SUBSCRIBE",
        "SUBACK",
        "UNSUBSCRIBE",
        "UNSUBACK",
        "PINGREQ",
        "PINGRESP",
        "DISCONNECT",
        "AUTH",
    ]
    assert [(member.name, int(member)) for member in PacketType] == [
        (name, value) for value, name in enumerate(names, start=1)
    ]


@pytest.mark.parametrize("vector", DECODED_ONLY5, ids=[vector.id for vector in DECODED_ONLY5])
def test_decode5_other_forms(codec: Codec, vector: Vector) -> None:
    # Bytes this library does not write but must read: decode gives the packet, and it
    # encodes to other bytes (else the row belongs in VECTORS).
    assert fields(codec.decode(vector.data, 5)) == fields(vector.packet)
    framer = codec.Framer(protocol_level=5)
    assert fields(framer.feed(vector.data)) == fields([vector.packet])
    assert codec.encode(vector.packet) != vector.data


def _properties_in(packet: object) -> set[tuple[str, str]]:
    """(packet, property name) for every property ``packet`` writes; "WILL" for its will's."""
    found = set()
    properties = getattr(packet, "properties", None)
    if properties is not None:
        name = PacketType(_TYPE_OF[type(packet)]).name
        found |= {(name, field) for field in properties.changed()}
    will = getattr(packet, "will", None)
    if will is not None:
        found |= {("WILL", field) for field in will.properties.changed()}
    return found


_TYPE_OF = {Connect: 1, ConnAck: 2, Disconnect: 14, Auth: 15}


def test_every_property_is_in_a_vector() -> None:
    # MQTT 5.0 §2.2.2.2: each property of each connection packet, written and read.
    seen: set[tuple[str, str]] = set()
    for vector in VECTORS:
        if vector.protocol_level == 5 and vector.source == BY_HAND:
            seen |= _properties_in(vector.packet)
    expected = {(packet, entry.name) for entry in PROPERTIES.values() for packet in entry.packets}
    assert seen == expected


def test_every_connack_and_disconnect_reason_code_is_in_the_table() -> None:
    # MQTT 5.0 §3.2.2.2, §3.14.2.1: every code defined for the packet, and no other.
    for packet_type, cls in ((2, ConnAck), (14, Disconnect)):
        seen = {
            int(vector.packet.reason_code)
            for vector in VECTORS
            if type(vector.packet) is cls and vector.protocol_level == 5
        }
        assert seen == {code for code, r in REASONS.items() if r.defined_for(packet_type)}
