"""Properties over generated MQTT 5.0 packets and bytes, on both codecs (as
test_properties.py does for 3.1 and 3.1.1):

- round trip: every level-5 CONNECT, CONNACK, DISCONNECT and AUTH, with any properties,
  decodes back to itself, directly and through a Framer;
- properties are written in ascending identifier order, each once (User Property aside);
- only our errors: no bytes decoded at level 5 make either codec raise anything but a
  pco_wire.Error, fed whole or a byte at a time;
- pure ≡ compiled at level 5: the same bytes, packets and errors.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import partial
from typing import Any, cast

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pco_wire import ConnAck, Connect, PingReq, PingResp, RemoteProtocolError, Will
from pco_wire.packets import (
    OTHER_PROPERTIES,
    PROPERTIES,
    Auth,
    AuthProperties,
    ConnAckProperties,
    ConnectProperties,
    Disconnect,
    DisconnectProperties,
    WillProperties,
)
from pco_wire.reasons import REASONS, ReasonCode
from tests.support import Codec, Outcome, Packet, fields, load_codec, outcome
from tests.test_properties import binaries, chunked, other_packets, texts, topics

REFERENCE = load_codec("python")

FEW = settings(
    max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
MANY = settings(
    max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


@pytest.fixture(scope="module")
def pair() -> tuple[Codec, Codec]:
    """The reference and the compiled codec; module-scoped so hypothesis may share it."""
    return load_codec("python"), load_codec("cython")


# ------------------------------------------------------------------------- strategies

u16 = st.integers(0, 0xFFFF)
u32 = st.integers(0, 0xFFFF_FFFF)
short_texts = texts(0, 12)
pairs = st.lists(st.tuples(short_texts, short_texts), max_size=4).map(tuple)
small_binaries = st.binary(max_size=20)


def _codes(packet_type: int) -> list[ReasonCode]:
    return [ReasonCode(code) for code, r in REASONS.items() if r.defined_for(packet_type)]


@st.composite
def _authentication(draw: st.DrawFn) -> dict[str, Any]:
    # Authentication Data only with a method (§3.1.2.11.10).
    method = draw(st.none() | short_texts)
    data = None if method is None else draw(st.none() | small_binaries)
    return {"authentication_method": method, "authentication_data": data}


@st.composite
def connect_properties(draw: st.DrawFn) -> ConnectProperties:
    return ConnectProperties(
        session_expiry_interval=draw(u32),
        receive_maximum=draw(st.integers(1, 0xFFFF)),
        maximum_packet_size=draw(st.none() | st.integers(1, 0xFFFF_FFFF)),
        topic_alias_maximum=draw(u16),
        request_response_information=draw(st.booleans()),
        request_problem_information=draw(st.booleans()),
        user_properties=draw(pairs),
        **draw(_authentication()),
    )


will_properties = st.builds(
    WillProperties,
    will_delay_interval=u32,
    payload_format_indicator=st.integers(0, 1),
    message_expiry_interval=st.none() | u32,
    content_type=st.none() | short_texts,
    response_topic=st.none() | topics,
    correlation_data=st.none() | small_binaries,
    user_properties=pairs,
)


@st.composite
def connack_properties(draw: st.DrawFn) -> ConnAckProperties:
    return ConnAckProperties(
        session_expiry_interval=draw(st.none() | u32),
        receive_maximum=draw(st.integers(1, 0xFFFF)),
        maximum_qos=draw(st.integers(0, 2)),  # 2 is the default: absent
        retain_available=draw(st.booleans()),
        maximum_packet_size=draw(st.none() | st.integers(1, 0xFFFF_FFFF)),
        assigned_client_identifier=draw(st.none() | short_texts),
        topic_alias_maximum=draw(u16),
        reason_string=draw(st.none() | short_texts),
        user_properties=draw(pairs),
        wildcard_subscription_available=draw(st.booleans()),
        subscription_identifier_available=draw(st.booleans()),
        shared_subscription_available=draw(st.booleans()),
        server_keep_alive=draw(st.none() | u16),
        response_information=draw(st.none() | short_texts),
        server_reference=draw(st.none() | short_texts),
        **draw(_authentication()),
    )


disconnect_properties = st.builds(
    DisconnectProperties,
    session_expiry_interval=st.none() | u32,
    reason_string=st.none() | short_texts,
    user_properties=pairs,
    server_reference=st.none() | short_texts,
)


@st.composite
def auth_properties(draw: st.DrawFn) -> AuthProperties:
    return AuthProperties(
        reason_string=draw(st.none() | short_texts),
        user_properties=draw(pairs),
        **draw(_authentication()),
    )


def _sometimes_empty(
    strategy: st.SearchStrategy[object], empty: object
) -> st.SearchStrategy[object]:
    return st.just(empty) | strategy


wills5 = st.builds(
    Will,
    topics,
    binaries,
    st.integers(0, 2),
    st.booleans(),
    _sometimes_empty(will_properties, WillProperties()),
)


@st.composite
def connects5(draw: st.DrawFn) -> Connect:
    # MQTT 5.0 §3.1.3.1: any client identifier, empty included, whatever Clean Start;
    # §3.1.2.9: a password without a user name.
    return Connect(
        draw(texts(0, 60)),
        draw(st.booleans()),
        draw(u16),
        draw(st.none() | texts()),
        draw(st.none() | st.binary(max_size=40)),
        draw(st.none() | wills5),
        5,
        draw(_sometimes_empty(connect_properties(), ConnectProperties())),  # type: ignore[arg-type]
    )


@st.composite
def connacks5(draw: st.DrawFn) -> ConnAck:
    code = draw(st.sampled_from(_codes(2)))
    # §3.2.2.1.1: session present only with Success.
    session_present = draw(st.booleans()) if code == 0 else False
    properties = draw(_sometimes_empty(connack_properties(), ConnAckProperties()))
    return ConnAck(session_present, code, properties)  # type: ignore[arg-type]


disconnects5 = st.builds(
    Disconnect,
    st.sampled_from(_codes(14)),
    _sometimes_empty(disconnect_properties, DisconnectProperties()),
)
auths5 = st.builds(
    Auth, st.sampled_from(_codes(15)), _sometimes_empty(auth_properties(), AuthProperties())
)

packets5: st.SearchStrategy[Packet] = st.one_of(
    connects5(),
    connacks5(),
    disconnects5,
    auths5,
    st.just(PingReq()),
    st.just(PingResp()),
    other_packets(),
)
encoded5 = packets5.map(REFERENCE.encode)


def _varint(value: int) -> bytes:
    out = bytearray()
    while True:
        digit = value & 0x7F
        value >>= 7
        out.append(digit | 0x80 if value else digit)
        if not value:
            return bytes(out)


# Properties made of known and unknown identifiers with values of about the right size:
# they get past the Property Length into the property decoders.
SIZES = {"byte": 1, "u16": 2, "u32": 4, "varint": 1}
IDENTIFIERS = [*PROPERTIES, *OTHER_PROPERTIES, 0x00, 0x7F, 0xFF]


@st.composite
def property_bytes(draw: st.DrawFn) -> bytes:
    out = bytearray()
    for _ in range(draw(st.integers(0, 4))):
        identifier = draw(st.sampled_from(IDENTIFIERS))
        out += _varint(identifier) if identifier < 0x80 else bytes((identifier, 0x01))
        entry = PROPERTIES.get(identifier)
        kind = entry.kind if entry else "byte"
        if kind in SIZES:
            out += draw(st.binary(min_size=SIZES[kind], max_size=SIZES[kind]))
        elif kind == "pair":
            for _ in range(2):
                text = draw(short_texts).encode()
                out += len(text).to_bytes(2, "big") + text
        else:
            value = draw(st.binary(max_size=6) | short_texts.map(str.encode))
            out += len(value).to_bytes(2, "big") + value
    return bytes(out)


def _with_length(properties: bytes, slack: int) -> bytes:
    return _varint(max(len(properties) + slack, 0)) + properties


slack = st.sampled_from([0] * 6 + [-1, 1, -3])
reason_bytes = st.sampled_from(sorted(REASONS)) | st.integers(0, 255)


def _packet(first: int, body: bytes) -> bytes:
    return bytes((first,)) + _varint(len(body)) + body


connack_garbage = st.builds(
    lambda flags, code, props, off: _packet(0x20, bytes((flags, code)) + _with_length(props, off)),
    st.sampled_from([0, 0, 0, 1, 2]),
    reason_bytes,
    property_bytes(),
    slack,
)
ending_garbage = st.builds(
    lambda first, code, props, off: _packet(first, bytes((code,)) + _with_length(props, off)),
    st.sampled_from([0xE0, 0xF0]),
    reason_bytes,
    property_bytes(),
    slack,
)
connect_garbage5 = st.builds(
    lambda flags, props, off, tail: _packet(
        0x10, b"\x00\x04MQTT\x05" + bytes((flags, 0, 60)) + _with_length(props, off) + tail
    ),
    st.integers(0, 127).map(lambda half: half * 2) | st.integers(0, 255),
    property_bytes(),
    slack,
    st.binary(max_size=12),
)
# Remaining Lengths written long: refused at level 5.
long_lengths = st.builds(
    lambda first, extra: bytes((first,)) + b"\x80" * extra + b"\x00",
    st.sampled_from([0x20, 0xC0, 0xD0, 0xE0, 0xF0, 0x30]),
    st.integers(1, 3),
)


@st.composite
def mutated5(draw: st.DrawFn) -> bytes:
    """One to three valid level-5 packets, then bytes flipped, inserted, deleted or cut."""
    data = bytearray(b"".join(draw(st.lists(encoded5, min_size=1, max_size=3))))
    for _ in range(draw(st.integers(1, 4))):
        action = draw(st.sampled_from(("flip", "insert", "delete", "truncate")))
        index = draw(st.integers(0, max(len(data) - 1, 0)))
        if action == "insert":
            data.insert(min(index, len(data)), draw(st.integers(0, 255)))
        elif index >= len(data):
            continue
        elif action == "flip":
            data[index] ^= draw(st.integers(1, 255))
        elif action == "delete":
            del data[index]
        else:
            del data[index:]
    return bytes(data)


garbage5 = st.one_of(
    st.binary(max_size=64), connack_garbage, ending_garbage, connect_garbage5, long_lengths
)
anything5 = garbage5 | mutated5()


# ------------------------------------------------------------------------ round trip


@MANY
@given(packet=packets5)
def test_round_trip5(codec: Codec, packet: Packet) -> None:
    data = codec.encode(packet)
    assert type(data) is bytes
    assert fields(codec.decode(data, 5)) == fields(packet)
    assert fields(codec.decode(bytearray(data), 5)) == fields(packet)
    framer = codec.Framer(max_packet_size=len(data), protocol_level=5)
    assert fields(framer.feed(data)) == fields([packet])
    assert framer.buffered == 0


def _written(data: bytes, start: int) -> list[int]:
    """The property identifiers from the Property Length at ``data[start]`` on, read with
    the sizes of PROPERTIES (a reader of its own, not the codec's)."""
    length = shift = 0
    while True:
        digit = data[start]
        start += 1
        length |= (digit & 0x7F) << shift
        shift += 7
        if digit < 0x80:
            break
    end = start + length
    found = []
    while start < end:
        identifier = data[start]
        found.append(identifier)
        kind = PROPERTIES[identifier].kind
        start += 1
        if kind in SIZES:
            start += SIZES[kind]
        else:
            for _ in range(2 if kind == "pair" else 1):
                start += 2 + int.from_bytes(data[start : start + 2], "big")
    assert start == end
    return found


@MANY
@given(packet=st.one_of(connacks5(), disconnects5, auths5))
def test_properties_in_ascending_order_once(codec: Codec, packet: Packet) -> None:
    data = codec.encode(packet)
    body = 2 if data[1] < 0x80 else 3
    if len(data) - body < 2:
        return  # the short forms carry no properties
    start = body + (2 if isinstance(packet, ConnAck) else 1)
    found = _written(data, start)
    singles = [identifier for identifier in found if identifier != 0x26]
    assert singles == sorted(set(singles))
    # The User Properties sit where 0x26 falls, all together, in their order.
    users = [index for index, identifier in enumerate(found) if identifier == 0x26]
    assert users == list(range(users[0], users[0] + len(users))) if users else True
    assert len(users) == len(packet.properties.user_properties)  # type: ignore[union-attr]
    written = {PROPERTIES[identifier].name for identifier in singles}
    assert written == set(packet.properties.changed()) - {"user_properties"}  # type: ignore[union-attr]


# ----------------------------------------------------------------- pure ≡ compiled


def _decode_outcomes5(codec: Codec, data: bytes) -> list[Outcome]:
    return [outcome(partial(codec.decode, kind(data), 5)) for kind in (bytes, bytearray)]


def _feed_outcomes5(codec: Codec, chunks: Sequence[bytes], limit: int) -> list[tuple[Outcome, int]]:
    framer = codec.Framer(max_packet_size=limit, protocol_level=5)
    results: list[tuple[Outcome, int]] = []
    for chunk in [*chunks, b"", b"\xd0\x00"]:
        results.append((outcome(partial(framer.feed, chunk)), framer.buffered))
    return results


@MANY
@given(packet=packets5)
def test_same_bytes_and_packets_from_both5(pair: tuple[Codec, Codec], packet: Packet) -> None:
    pure, compiled = pair
    data = pure.encode(packet)
    assert compiled.encode(packet) == data
    expected = [("ok", fields(packet))] * 2
    assert _decode_outcomes5(pure, data) == expected
    assert _decode_outcomes5(compiled, data) == expected


@MANY
@given(data=anything5)
def test_same_outcome_on_level5_bytes(pair: tuple[Codec, Codec], data: bytes) -> None:
    pure, compiled = pair
    assert _decode_outcomes5(compiled, data) == _decode_outcomes5(pure, data)


@MANY
@given(
    chunks=chunked(anything5 | st.lists(encoded5, max_size=4).map(b"".join)),
    limit=st.sampled_from((2, 5, 64, 300, 1 << 20)),
)
def test_same_framing_at_level5(pair: tuple[Codec, Codec], chunks: list[bytes], limit: int) -> None:
    pure, compiled = pair
    assert _feed_outcomes5(compiled, chunks, limit) == _feed_outcomes5(pure, chunks, limit)


@FEW
@given(prefix=st.lists(encoded5.filter(lambda d: len(d) <= 600), max_size=3), tail=anything5)
def test_level5_whole_and_byte_by_byte_alike(
    pair: tuple[Codec, Codec], prefix: list[bytes], tail: bytes
) -> None:
    data = b"".join(prefix) + tail
    bytewise = [data[index : index + 1] for index in range(len(data))]
    runs = []
    for chunks in ([data], bytewise):
        pure, compiled = (_feed_outcomes5(codec, chunks, 1 << 20) for codec in pair)
        assert compiled == pure
        packets: list[object] = []
        error = None
        for result, _buffered in pure:
            if result[0] == "error":
                error = result
                break
            packets += cast("list[object]", result[1])
        runs.append((packets, error))
    assert runs[0] == runs[1]
    assert runs[0][0][: len(prefix)] == [fields(REFERENCE.decode(p, 5)) for p in prefix]


# ------------------------------------------------------------------- only our errors


def _check(result: Outcome, size: int) -> None:
    if result[0] == "error":
        kind, offset = result[1], result[2]
        assert isinstance(kind, type) and issubclass(kind, RemoteProtocolError), result
        assert isinstance(offset, int) and 0 <= offset <= size, result


@MANY
@given(data=anything5)
def test_level5_bytes_decode_or_raise_our_error(codec: Codec, data: bytes) -> None:
    _check(outcome(partial(codec.decode, data, 5)), len(data))
    _check(outcome(partial(codec.decode, memoryview(data), 5)), len(data))


@MANY
@given(chunks=chunked(anything5))
def test_level5_bytes_frame_or_raise_our_error(codec: Codec, chunks: list[bytes]) -> None:
    framer = codec.Framer(max_packet_size=300, protocol_level=5)
    fed = 0
    for chunk in chunks:
        fed += len(chunk)
        result = outcome(partial(framer.feed, chunk))
        _check(result, fed)
        if result[0] == "error":
            break
        assert 0 <= framer.buffered <= fed


@MANY
@given(data=anything5)
def test_level5_decoded_packets_encode_back(data: bytes) -> None:
    # What decodes at level 5 encodes to bytes that decode to the same packet.
    result = outcome(partial(REFERENCE.decode, data, 5))
    if result[0] != "ok":
        return
    packet = REFERENCE.decode(data, 5)
    assert fields(REFERENCE.decode(REFERENCE.encode(packet), 5)) == fields(packet)
