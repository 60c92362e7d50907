"""Properties over generated packets and bytes, on both codecs.

Three claims, each checked against inputs nobody wrote by hand:

- round trip: every packet a client may send or receive decodes back to itself;
- only our errors: no bytes make either codec raise anything but a pco_wire.Error;
- pure ≡ compiled: the compiled codec agrees with the reference byte for byte, packet
  for packet and error for error (type, offset, message), on valid bytes, on valid bytes
  broken at random, on garbage, and through a Framer fed the same chunks (valid packets
  then garbage included, whole and a byte at a time).

The agreement tests load both modules through ``load_codec``, so a compiled codec that
is missing fails under PCO_WIRE_EXPECT_COMPILED=1 and is skipped otherwise.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import partial
from itertools import pairwise
from typing import cast

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pco_wire import (
    ConnAck,
    ConnAckCode,
    Connect,
    Disconnect,
    InvalidPacket,
    OtherPacket,
    PacketType,
    PingReq,
    PingResp,
    RemoteProtocolError,
    Will,
)
from tests.support import Codec, Outcome, Packet, fields, load_codec, outcome

# The reference builds the bytes the strategies need; it always imports.
REFERENCE = load_codec("python")

LEVELS = (3, 4)
# Small limits make PacketTooLarge reachable with small packets; 2 is the least allowed.
LIMITS = (2, 4, 5, 64, 300, 1 << 20)

# The `codec` fixture hands back a module, the same for every example, so the health
# check against function-scoped fixtures does not apply.
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


def texts(min_size: int = 0, max_size: int = 30, exclude: str = "") -> st.SearchStrategy[str]:
    """MQTT strings (§1.5.3): any character but U+0000 and the surrogates."""
    alphabet = st.characters(exclude_categories=["Cs"], exclude_characters="\x00" + exclude)
    return st.text(alphabet, min_size=min_size, max_size=max_size)


def _filler(size: int) -> bytes:
    return (bytes(range(256)) * (size // 256 + 1))[:size]


# Mostly short, now and then long enough for a two- or three-byte Remaining Length.
binaries = st.one_of(
    st.binary(max_size=40),
    st.binary(min_size=100, max_size=300),
    st.integers(16_000, 65_535).map(_filler),
)
topics = texts(1, 30, exclude="+#")
wills = st.builds(Will, topics, binaries, st.integers(0, 2), st.booleans())


@st.composite
def connects(draw: st.DrawFn) -> Connect:
    level = draw(st.sampled_from(LEVELS))
    clean_session = draw(st.booleans())
    if level == 3:
        # MQTT 3.1 §3.1: 1 to 23 characters.
        client_id = draw(texts(1, 23))
    else:
        # MQTT 3.1.1 §3.1.3.1: empty only with clean session; longer than 23 is allowed.
        client_id = draw(texts(0 if clean_session else 1, 200))
    username = draw(st.none() | texts())
    password = None if username is None else draw(st.none() | st.binary(max_size=40))
    return Connect(
        client_id,
        clean_session,
        draw(st.integers(0, 65_535)),
        username,
        password,
        draw(st.none() | wills),
        level,
    )


# MQTT 3.1.1 §3.2.2.2: session present only with return code 0.
connacks = st.one_of(
    st.builds(ConnAck, st.just(False), st.sampled_from(ConnAckCode)),
    st.just(ConnAck(True, ConnAckCode.ACCEPTED)),
)

# MQTT 3.1.1 §2.2.2: PUBREL, SUBSCRIBE and UNSUBSCRIBE carry 0010, the rest 0000; PUBLISH
# carries DUP, QoS and RETAIN, QoS 3 excepted (§3.3.1.2).
PUBLISH_FLAGS = [flags for flags in range(16) if flags & 0x06 != 0x06]
OTHER_TYPES = [PacketType(kind) for kind in range(3, 12)]


@st.composite
def other_packets(draw: st.DrawFn) -> OtherPacket:
    kind = draw(st.sampled_from(OTHER_TYPES))
    if kind is PacketType.PUBLISH:
        flags = draw(st.sampled_from(PUBLISH_FLAGS))
    elif kind in (PacketType.PUBREL, PacketType.SUBSCRIBE, PacketType.UNSUBSCRIBE):
        flags = 0b0010
    else:
        flags = 0
    return OtherPacket(kind, flags, draw(binaries))


packets: st.SearchStrategy[Packet] = st.one_of(
    connects(),
    connacks,
    st.just(PingReq()),
    st.just(PingResp()),
    st.just(Disconnect()),
    other_packets(),
)
encoded = packets.map(REFERENCE.encode)


@st.composite
def mutated(draw: st.DrawFn) -> bytes:
    """One to three valid packets, then bytes flipped, inserted, deleted or cut off."""
    data = bytearray(b"".join(draw(st.lists(encoded, min_size=1, max_size=3))))
    for _ in range(draw(st.integers(1, 4))):
        action = draw(st.sampled_from(("flip", "insert", "delete", "truncate")))
        # Headers, lengths and flags sit near the start: aim there more often than not.
        where = st.integers(0, max(len(data) - 1, 0))
        index = draw(st.integers(0, min(len(data), 16)) | where)
        if action == "insert":
            data.insert(min(index, len(data)), draw(st.integers(0, 255)))
        elif index >= len(data):
            continue
        elif action == "flip":
            data[index] ^= draw(
                st.sampled_from([1, 2, 4, 8, 16, 32, 64, 128]) | st.integers(1, 255)
            )
        elif action == "delete":
            del data[index]
        else:
            del data[index:]
    return bytes(data)


def _field(body: bytes) -> bytes:
    return len(body).to_bytes(2, "big") + body


def _framed(first: int, body: bytes) -> bytes:
    return bytes((first,)) + REFERENCE.encode(OtherPacket(3, 0, body))[1:]


# A CONNECT header followed by random flags, keep alive and length-prefixed fields: it
# gets past the protocol name into the field decoders, where random bytes rarely go.
# Mostly a matching name and level and the reserved flag clear, or little else is seen.
PROTOCOLS = [b"\x00\x04MQTT\x04", b"\x00\x06MQIsdp\x03"] * 3 + [
    b"\x00\x04MQTT\x03",
    b"\x00\x06MQIsdp\x04",
    b"\x00\x04MQTT\x05",
    b"\x00\x06MQIsdp\x00",
    b"\x00\x04MQTT",
]
connect_garbage = st.builds(
    lambda name, flags, keep_alive, fields_, tail: _framed(
        0x10, name + bytes((flags,)) + keep_alive + b"".join(map(_field, fields_)) + tail
    ),
    st.sampled_from(PROTOCOLS),
    st.integers(0, 127).map(lambda half: half * 2) | st.integers(0, 255),
    st.binary(min_size=2, max_size=2),
    st.lists(st.binary(max_size=6) | texts(0, 4).map(str.encode), max_size=5),
    st.binary(max_size=2),
)
garbage = st.one_of(
    st.binary(max_size=64),
    st.builds(_framed, st.integers(0, 255), st.binary(max_size=12)),
    connect_garbage,
)


@st.composite
def chunked(draw: st.DrawFn, data: st.SearchStrategy[bytes]) -> list[bytes]:
    """Bytes cut at random places: what a socket would hand over."""
    whole = draw(data)
    cuts = sorted(set(draw(st.lists(st.integers(0, len(whole)), max_size=10))))
    bounds = [0, *cuts, len(whole)]
    return [whole[start:end] for start, end in pairwise(bounds)]


# ------------------------------------------------------------------------ round trip


def _decoded_as(packet: Packet, level: int) -> Packet:
    # MQTT 3.1 §3.2: the byte that carries session present in 3.1.1 is unused in 3.1.
    if isinstance(packet, ConnAck) and level == 3:
        return ConnAck(False, packet.return_code)
    return packet


@MANY
@given(packet=packets)
def test_round_trip(codec: Codec, packet: Packet) -> None:
    data = codec.encode(packet)
    assert type(data) is bytes
    for level in LEVELS:
        assert fields(codec.decode(data, level)) == fields(_decoded_as(packet, level))
        assert fields(codec.decode(bytearray(data), level)) == fields(_decoded_as(packet, level))


@FEW
@given(packet=packets)
def test_encoding_is_a_packet_of_its_announced_length(codec: Codec, packet: Packet) -> None:
    data = codec.encode(packet)
    framer = codec.Framer(max_packet_size=len(data))
    assert fields(framer.feed(data)) == fields([_decoded_as(packet, 4)])
    assert framer.buffered == 0


@FEW
@given(connect=connects())
def test_connect_layout(codec: Codec, connect: Connect) -> None:
    # MQTT 3.1.1 §3.1.2: name and level, then flags and keep alive, after the fixed header.
    data = codec.encode(connect)
    # The shortest Remaining Length that holds the rest (§2.2.3): 1, 2 or 3 bytes here.
    start = 2 if len(data) - 2 < 128 else 3 if len(data) - 3 < 16_384 else 4
    name = b"\x00\x04MQTT\x04" if connect.protocol_level == 4 else b"\x00\x06MQIsdp\x03"
    assert data[0] == 0x10
    assert data[start : start + len(name)] == name
    flags = data[start + len(name)]
    assert bool(flags & 0x02) == connect.clean_session
    assert bool(flags & 0x80) == (connect.username is not None)
    assert bool(flags & 0x40) == (connect.password is not None)
    assert bool(flags & 0x04) == (connect.will is not None)
    assert flags & 0x01 == 0
    keep_alive = data[start + len(name) + 1 : start + len(name) + 3]
    assert int.from_bytes(keep_alive, "big") == connect.keep_alive


# ----------------------------------------------------------------- pure ≡ compiled


def _decode_outcomes(codec: Codec, data: bytes) -> list[Outcome]:
    return [
        outcome(partial(codec.decode, kind(data), level))
        for level in LEVELS
        for kind in (bytes, bytearray)
    ]


def _feed_outcomes(codec: Codec, chunks: Sequence[bytes], limit: int, level: int) -> list[object]:
    framer = codec.Framer(max_packet_size=limit, protocol_level=level)
    results: list[object] = []
    # The b"" and the PINGRESP afterwards show the framer's state once the data ran out,
    # or that it keeps raising its error.
    for chunk in [*chunks, b"", b"\xd0\x00"]:
        results.append((outcome(partial(framer.feed, chunk)), framer.buffered))
    return results


@MANY
@given(packet=packets)
def test_same_bytes_and_packets_from_both(pair: tuple[Codec, Codec], packet: Packet) -> None:
    pure, compiled = pair
    data = pure.encode(packet)
    assert compiled.encode(packet) == data
    # In the order of _decode_outcomes: each level, from bytes and from a bytearray.
    expected = [("ok", fields(_decoded_as(packet, level))) for level in LEVELS for _ in "ab"]
    assert _decode_outcomes(pure, data) == expected
    assert _decode_outcomes(compiled, data) == expected


@MANY
@given(data=mutated())
def test_same_outcome_on_mutated_bytes(pair: tuple[Codec, Codec], data: bytes) -> None:
    pure, compiled = pair
    assert _decode_outcomes(compiled, data) == _decode_outcomes(pure, data)


@MANY
@given(data=garbage)
def test_same_outcome_on_garbage(pair: tuple[Codec, Codec], data: bytes) -> None:
    pure, compiled = pair
    assert _decode_outcomes(compiled, data) == _decode_outcomes(pure, data)


@MANY
@given(
    chunks=chunked(mutated() | garbage | st.lists(encoded, max_size=4).map(b"".join)),
    limit=st.sampled_from(LIMITS),
    level=st.sampled_from(LEVELS),
)
def test_same_framing_with_the_same_chunks(
    pair: tuple[Codec, Codec], chunks: list[bytes], limit: int, level: int
) -> None:
    pure, compiled = pair
    expected = _feed_outcomes(pure, chunks, limit, level)
    assert _feed_outcomes(compiled, chunks, limit, level) == expected


def _packets_then_error(results: list[object]) -> tuple[list[object], object]:
    """What a run of ``_feed_outcomes`` returned, however cut: the packets in order, then
    the first error (None if there was none)."""
    returned: list[object] = []
    for item in results:
        result, _buffered = cast(tuple[Outcome, int], item)
        if result[0] == "error":
            return returned, result
        returned += cast(list[object], result[1])
    return returned, None


# Packets small enough to be fed a byte at a time in every example.
small_encoded = encoded.filter(lambda data: len(data) <= 600)


@FEW
@given(
    prefix=st.lists(small_encoded, max_size=4),
    tail=garbage | mutated(),
    level=st.sampled_from(LEVELS),
)
def test_valid_packets_then_garbage_alike_whole_and_byte_by_byte(
    pair: tuple[Codec, Codec], prefix: list[bytes], tail: bytes, level: int
) -> None:
    # The packets before a fault are returned, by the call that meets it or before; the
    # fault follows them, with the same offset and message, however the bytes were cut.
    data = b"".join(prefix) + tail
    bytewise = [data[index : index + 1] for index in range(len(data))]
    runs = []
    for chunks in ([data], bytewise):
        pure, compiled = (_feed_outcomes(codec, chunks, 1 << 20, level) for codec in pair)
        assert compiled == pure
        runs.append(_packets_then_error(pure))
    assert runs[0] == runs[1]
    returned, _error = runs[0]
    assert returned[: len(prefix)] == [
        fields(_decoded_as(REFERENCE.decode(packet), level)) for packet in prefix
    ]


# ------------------------------------------------------------------- only our errors


def _check_decode_error(result: Outcome, size: int) -> None:
    if result[0] == "error":
        kind, offset = result[1], result[2]
        assert isinstance(kind, type) and issubclass(kind, RemoteProtocolError), result
        assert isinstance(offset, int) and 0 <= offset <= size, result


@MANY
@given(data=garbage | mutated(), level=st.sampled_from(LEVELS))
def test_random_bytes_decode_or_raise_our_error(codec: Codec, data: bytes, level: int) -> None:
    # outcome() lets any other exception through, which fails the test.
    _check_decode_error(outcome(partial(codec.decode, data, level)), len(data))
    _check_decode_error(outcome(partial(codec.decode, memoryview(data), level)), len(data))


@MANY
@given(chunks=chunked(garbage | mutated()), level=st.sampled_from(LEVELS))
def test_random_bytes_frame_or_raise_our_error(
    codec: Codec, chunks: list[bytes], level: int
) -> None:
    framer = codec.Framer(max_packet_size=300, protocol_level=level)
    fed = 0
    for chunk in chunks:
        fed += len(chunk)
        result = outcome(partial(framer.feed, chunk))
        _check_decode_error(result, fed)
        if result[0] == "error":
            break
        assert 0 <= framer.buffered <= fed


# ----------------------------------------------------------------- invalid CONNECTs

Refusal = tuple[Connect, str, str]  # packet, field, reason


def _insert(draw: st.DrawFn, text: str, char: str) -> tuple[str, int]:
    index = draw(st.integers(0, len(text)))
    return text[:index] + char + text[index:], index


@st.composite
def refusals(draw: st.DrawFn) -> Refusal:
    """A valid CONNECT with exactly one rule broken, the field and the reason expected."""
    base = draw(connects())
    will = base.will or draw(wills)
    rule = draw(
        st.sampled_from(
            [
                "keep_alive",
                "keep_alive-type",
                "nul",
                "surrogate",
                "wildcard",
                "empty-topic",
                "will-qos",
                "password-alone",
                "client-id-length",
                "empty-client-id",
                "level",
                "long-username",
                "long-binary",
            ]
        )
    )
    if rule == "keep_alive":
        value = draw(st.integers(max_value=-1) | st.integers(min_value=65_536))
        return (
            base.replace(keep_alive=value),
            "keep_alive",
            f"expected an integer 0..65535, got {value}",
        )
    if rule == "keep_alive-type":
        bad: object = draw(st.sampled_from([True, False, 30.0, "30", None]))
        reason = f"expected an integer 0..65535, got {type(bad).__name__}"
        return base.replace(keep_alive=bad), "keep_alive", reason
    if rule in ("nul", "surrogate"):
        # MQTT 3.1.1 §1.5.3: U+0000 and UTF-16 surrogates are not allowed in strings.
        char = "\x00" if rule == "nul" else chr(draw(st.integers(0xD800, 0xDFFF)))
        target = draw(st.sampled_from(["client_id", "username", "will.topic"]))
        if target == "client_id":
            text = base.client_id[:22]  # still 1..23 characters in MQTT 3.1
        elif target == "username":
            text = base.username or ""
        else:
            text = will.topic
        text, index = _insert(draw, text, char)
        if target == "client_id":
            packet = base.replace(client_id=text)
        elif target == "username":
            packet = base.replace(username=text)
        else:
            packet = base.replace(will=will.replace(topic=text))
        if rule == "nul":
            return packet, target, f"expected no U+0000, got one at character {index}"
        reason = f"expected well-formed text, got a lone surrogate at character {index}"
        return packet, target, reason
    if rule == "wildcard":
        # MQTT 3.1.1 §4.7.1: wildcards belong in topic filters only.
        topic, _ = _insert(draw, will.topic, draw(st.sampled_from("+#")))
        reason = f"expected a topic name without + or #, got {topic!r}"
        return base.replace(will=will.replace(topic=topic)), "will.topic", reason
    if rule == "empty-topic":
        return (
            base.replace(will=will.replace(topic="")),
            "will.topic",
            "expected a topic name, got ''",
        )
    if rule == "will-qos":
        qos = draw(st.integers(max_value=-1) | st.integers(min_value=3))
        reason = f"expected an integer 0..2, got {qos}"
        return base.replace(will=will.replace(qos=qos)), "will.qos", reason
    if rule == "password-alone":
        # MQTT 3.1.1 §3.1.2.9
        packet = base.replace(username=None, password=draw(st.binary(max_size=8)))
        return packet, "password", "expected a username with a password, got none"
    if rule == "client-id-length":
        # MQTT 3.1 §3.1: 1..23 characters.
        client_id = draw(st.just("") | texts(24, 40))
        packet = base.replace(client_id=client_id, protocol_level=3)
        reason = f"expected 1..23 characters in MQTT 3.1, got {len(client_id)}"
        return packet, "client_id", reason
    if rule == "empty-client-id":
        # MQTT 3.1.1 §3.1.3.1
        packet = base.replace(client_id="", clean_session=False, protocol_level=4)
        return packet, "client_id", "expected a client identifier when clean_session is off, got ''"
    if rule == "level":
        bad_level = draw(st.integers(-1, 10).filter(lambda n: n not in (*LEVELS, 5)))
        reason = f"expected 3 (MQTT 3.1), 4 (MQTT 3.1.1) or 5 (MQTT 5.0), got {bad_level!r}"
        return base.replace(protocol_level=bad_level), "protocol_level", reason
    if rule == "long-username":
        # Two bytes of UTF-8 a character: 32,768 of them are one byte too many (§1.5.3).
        username = "\u00e9" * draw(st.integers(32_768, 32_800))
        reason = f"expected at most 65,535 bytes of UTF-8, got {len(username) * 2:,}"
        return base.replace(username=username), "username", reason
    size = draw(st.integers(65_536, 65_600))
    if draw(st.booleans()):
        reason = f"expected at most 65,535 bytes, got {size:,}"
        return base.replace(will=will.replace(message=bytes(size))), "will.message", reason
    packet = base.replace(username=base.username or "u", password=bytes(size))
    return packet, "password", f"expected at most 65,535 bytes, got {size:,}"


@MANY
@given(refusal=refusals())
def test_invalid_connect_refused_alike(pair: tuple[Codec, Codec], refusal: Refusal) -> None:
    packet, field, reason = refusal
    expected = ("error", InvalidPacket, field, f"{field}: {reason}", (field, reason))
    for codec in pair:
        assert outcome(partial(codec.encode, packet)) == expected, codec.__name__
