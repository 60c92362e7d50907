"""The Framer under every way a socket may cut a stream, on both codecs.

A broker's bytes arrive in pieces that have nothing to do with packet boundaries: one
byte at a time, many packets at once, a header split from its body. Whatever the cuts,
the framer must return the same packets, hold exactly the bytes of the incomplete
packet, refuse an oversized or a plainly wrong packet from its header alone, return the
packets completed before a fault, and report the fault at its offset in the whole
stream, then keep reporting it.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Iterable
from functools import partial
from itertools import accumulate, pairwise

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pco_wire import (
    ConnAck,
    ConnAckCode,
    Connect,
    Disconnect,
    MalformedPacket,
    OtherPacket,
    PacketTooLarge,
    PacketType,
    PingReq,
    PingResp,
    RemoteProtocolError,
    UnsupportedProtocol,
    Will,
)
from tests.support import Codec, FramerLike, Outcome, Packet, fields, load_codec, outcome
from tests.vectors import publish_body

REFERENCE = load_codec("python")
MIB = 1 << 20

# The codec fixture returns a module, the same for every example.
CHUNKINGS = settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


def _publish(size: int, flags: int = 0) -> OtherPacket:
    return OtherPacket(PacketType.PUBLISH, flags, publish_body(size))


# What a client receives after CONNECT, and some of what it might see otherwise. The
# PUBLISH sizes straddle each width of the Remaining Length (§2.2.3): 127/128 bytes of
# body need one/two bytes, 16,383/16,384 two/three.
STREAM: list[Packet] = [
    ConnAck(True, ConnAckCode.ACCEPTED),
    _publish(3),
    PingResp(),
    _publish(127),
    _publish(128, 0b0011),
    PingResp(),
    PingResp(),
    OtherPacket(PacketType.PUBACK, 0, b"\x00\x01"),
    OtherPacket(PacketType.PUBREC, 0, b"\x00\x02"),
    OtherPacket(PacketType.PUBREL, 0b0010, b"\x00\x02"),
    OtherPacket(PacketType.PUBCOMP, 0, b"\x00\x02"),
    _publish(16_383, 0b1101),
    OtherPacket(PacketType.SUBACK, 0, b"\x00\x03\x00\x01\x80"),
    _publish(16_384),
    OtherPacket(PacketType.UNSUBACK, 0, b"\x00\x04"),
    OtherPacket(PacketType.PUBLISH, 0, b""),
    _publish(70_000, 0b0100),
    *(ConnAck(False, code) for code in ConnAckCode),
    PingReq(),
    Connect("gateway-7", username="u", password=b"p", will=Will("w/7", b"gone", 1, True)),
    OtherPacket(PacketType.SUBSCRIBE, 0b0010, b"\x00\x05\x00\x01t\x01"),
    OtherPacket(PacketType.UNSUBSCRIBE, 0b0010, b"\x00\x06\x00\x01t"),
    Disconnect(),
    PingResp(),
]
ENCODED = [REFERENCE.encode(packet) for packet in STREAM]
DATA = b"".join(ENCODED)
# Where each packet ends in DATA.
ENDS = list(accumulate(map(len, ENCODED)))


def test_stream_layout() -> None:
    # Guards the expectations below: the sizes are those the comment above promises.
    assert len(ENCODED[3]) == 1 + 1 + 127
    assert len(ENCODED[4]) == 1 + 2 + 128
    assert len(ENCODED[11]) == 1 + 2 + 16_383
    assert len(ENCODED[13]) == 1 + 3 + 16_384
    assert len(DATA) == ENDS[-1] == 103_167


def _expected_after(fed: int) -> tuple[int, int]:
    """How many packets end within the first ``fed`` bytes, and how many bytes follow."""
    done = bisect_right(ENDS, fed)
    return done, fed - (ENDS[done - 1] if done else 0)


def _feed_checked(framer: FramerLike, chunks: Iterable[bytes | bytearray | memoryview]) -> None:
    """Feed ``chunks`` of DATA, checking the packets and ``buffered`` after every one."""
    fed = 0
    seen = 0
    for chunk in chunks:
        packets = framer.feed(chunk)
        fed += len(chunk)
        done, held = _expected_after(fed)
        assert fields(packets) == fields(STREAM[seen:done]), f"after {fed} bytes"
        assert framer.buffered == held, f"after {fed} bytes"
        seen = done
    assert fed == len(DATA)
    assert seen == len(STREAM)
    assert framer.buffered == 0


# ------------------------------------------------------------------------- chunking


def test_stream_in_one_chunk(codec: Codec) -> None:
    framer = codec.Framer()
    assert fields(framer.feed(DATA)) == fields(STREAM)
    assert framer.buffered == 0


def test_stream_one_byte_at_a_time(codec: Codec) -> None:
    _feed_checked(codec.Framer(), (DATA[index : index + 1] for index in range(len(DATA))))


def test_stream_one_packet_at_a_time(codec: Codec) -> None:
    _feed_checked(codec.Framer(), ENCODED)


def test_stream_in_packets_split_after_their_first_byte(codec: Codec) -> None:
    # Every chunk but the first ends one byte into the next packet.
    bounds = [0, *(end + 1 for end in ENDS[:-1]), len(DATA)]
    _feed_checked(codec.Framer(), (DATA[a:b] for a, b in pairwise(bounds)))


@CHUNKINGS
@given(
    cuts=st.lists(st.integers(0, len(DATA)), max_size=40)
    | st.lists(st.integers(0, 400), max_size=40),
    kind=st.sampled_from([bytes, bytearray, memoryview]),
)
def test_stream_in_random_chunks(
    codec: Codec, cuts: list[int], kind: type[bytes | bytearray | memoryview]
) -> None:
    # Empty chunks are kept: feeding b"" is as legal as feeding anything.
    bounds = [0, *sorted(cuts), len(DATA)]
    _feed_checked(codec.Framer(), (kind(DATA[a:b]) for a, b in pairwise(bounds)))


# -------------------------------------------------------------------- partial input


def test_partial_connack(codec: Codec) -> None:
    data = bytes.fromhex("20 02 01 00")
    for size in range(1, 4):
        framer = codec.Framer()
        assert framer.feed(data[:size]) == []
        assert framer.buffered == size
        assert fields(framer.feed(data[size:])) == fields([ConnAck(True, ConnAckCode.ACCEPTED)])
        assert framer.buffered == 0


def test_partial_header_then_body(codec: Codec) -> None:
    # 200 = 0x48 + 1 * 128: the Remaining Length is c8 01 (§2.2.3).
    data = REFERENCE.encode(_publish(200))
    assert data[:3] == b"\x30\xc8\x01"
    framer = codec.Framer()
    for fed in (1, 2, 3, 103, 202):
        assert framer.feed(data[framer.buffered : fed]) == []
        assert framer.buffered == fed
    assert fields(framer.feed(data[202:])) == fields([_publish(200)])
    assert framer.buffered == 0


def test_size_is_judged_when_the_header_is_complete(codec: Codec) -> None:
    # Three length bytes already promise more than 4 bytes, but the size is only known,
    # and refused, with the last length byte: 0x7f * (1 + 128 + 16384) + 0 = 2,097,151.
    framer = codec.Framer(max_packet_size=4)
    assert framer.feed(b"\x30\xff\xff\xff") == []
    assert framer.buffered == 4
    assert outcome(partial(framer.feed, b"\x00")) == _too_large(1 + 4 + 2_097_151, 4, 0)


def test_packets_then_a_partial_one(codec: Codec) -> None:
    framer = codec.Framer()
    assert fields(framer.feed(b"\x20\x02\x00\x00\xd0\x00\xd0")) == fields(
        [ConnAck(False, ConnAckCode.ACCEPTED), PingResp()]
    )
    assert framer.buffered == 1
    assert framer.feed(b"") == []
    assert framer.buffered == 1
    assert fields(framer.feed(b"\x00")) == fields([PingResp()])
    assert framer.buffered == 0


# ------------------------------------------------------------------ too large a packet

# 200,000,000 in 7-bit groups, least significant first: 0x00, 0x04, 0x2f, 0x5f (§2.2.3).
HEADER_200_MB = bytes.fromhex("30 80 84 af 5f")
ANNOUNCED = 1 + 4 + 200_000_000


def _too_large(size: int, limit: int, offset: int) -> Outcome:
    reason = f"expected a packet of at most {limit:,} bytes, got a header announcing {size:,}"
    return (
        "error",
        PacketTooLarge,
        offset,
        reason,
        f"{reason} (at byte {offset})",
        (reason, offset, size, limit),
    )


@pytest.mark.parametrize(
    ("before", "packets"),
    [(b"", []), (b"\x20\x02\x00\x00\xd0\x00", [ConnAck(False, ConnAckCode.ACCEPTED), PingResp()])],
    ids=["first", "third"],
)
def test_200_mb_header_trickled(codec: Codec, before: bytes, packets: list[Packet]) -> None:
    framer = codec.Framer()
    assert fields(framer.feed(before)) == fields(packets)
    for index, byte in enumerate(HEADER_200_MB[:-1]):
        assert framer.feed(bytes((byte,))) == []
        assert framer.buffered == index + 1
    with pytest.raises(PacketTooLarge) as caught:
        framer.feed(HEADER_200_MB[-1:])
    exc = caught.value
    assert (exc.size, exc.limit, exc.offset) == (ANNOUNCED, MIB, len(before))
    assert outcome(partial(framer.feed, b"")) == _too_large(ANNOUNCED, MIB, len(before))
    # The header, never the body: there was none to keep.
    assert framer.buffered <= len(HEADER_200_MB)


def test_200_mb_header_with_some_body_in_one_chunk(codec: Codec) -> None:
    framer = codec.Framer()
    result = outcome(partial(framer.feed, HEADER_200_MB + bytes(1000)))
    assert result == _too_large(ANNOUNCED, MIB, 0)


@pytest.mark.parametrize(
    ("limit", "body"),
    [
        (2, 0),  # the smallest limit: a PINGRESP-sized PUBLISH
        (64, 62),
        (129, 127),  # the largest with a one-byte Remaining Length
        (200, 197),  # two bytes of Remaining Length: c5 01
        (16_386, 16_383),
        (MIB, MIB - 4),  # the default: three bytes of Remaining Length
    ],
)
def test_exact_max_packet_size(codec: Codec, limit: int, body: int) -> None:
    fits = OtherPacket(PacketType.PUBLISH, 0, bytes(body))
    data = REFERENCE.encode(fits)
    assert len(data) == limit
    framer = codec.Framer(max_packet_size=limit)
    assert fields(framer.feed(data)) == fields([fits])
    assert framer.buffered == 0

    # One byte more of body. At 127 and 16,383 the Remaining Length grows a byte too, so
    # the packet is two bytes over; the refusal comes with the header's last byte.
    header = REFERENCE.encode(OtherPacket(PacketType.PUBLISH, 0, bytes(body + 1)))[: -body - 1]
    size = len(header) + body + 1
    assert size == limit + (2 if body in (127, 16_383) else 1)
    framer = codec.Framer(max_packet_size=limit)
    for index in range(len(header) - 1):
        assert framer.feed(header[index : index + 1]) == []
        assert framer.buffered == index + 1
    assert outcome(partial(framer.feed, header[-1:])) == _too_large(size, limit, 0)


def test_default_max_packet_size_refuses_its_successor_from_the_header(codec: Codec) -> None:
    framer = codec.Framer()
    assert framer.max_packet_size == MIB
    # MIB - 3 bytes of body: 0x7d + 0x7f * 128 + 0x3f * 16384 = fd ff 3f.
    assert outcome(partial(framer.feed, b"\x30\xfd\xff\x3f")) == _too_large(MIB + 1, MIB, 0)


def test_small_limit_refuses_connack(codec: Codec) -> None:
    framer = codec.Framer(max_packet_size=2)
    assert fields(framer.feed(b"\xd0\x00")) == fields([PingResp()])
    assert outcome(partial(framer.feed, b"\x20\x02")) == _too_large(4, 2, 2)


# --------------------------------------------------------- faults in the fixed header

# (id, fixed header, the rest of a packet, reason, offset): headers that are wrong by
# themselves, whatever body follows, and the error a whole packet gets for them.
HEADER_FAULTS: list[tuple[str, bytes, bytes, str, int]] = [
    # MQTT 3.1.1 §3.2.1: CONNACK has a Remaining Length of 2.
    (
        "connack-3",
        b"\x20\x03",
        b"\x00\x00\x00",
        "expected remaining length 2 for CONNACK, got 3",
        1,
    ),
    ("connack-1", b"\x20\x01", b"\x00", "expected remaining length 2 for CONNACK, got 1", 1),
    (
        "connack-long",
        b"\x20\x80\x01",  # 128, in two bytes
        bytes(128),
        "expected remaining length 2 for CONNACK, got 128",
        1,
    ),
    # §3.13.1, §3.12.1, §3.14.1: PINGRESP, PINGREQ and DISCONNECT have none.
    ("pingresp-1", b"\xd0\x01", b"\x00", "expected remaining length 0 for PINGRESP, got 1", 1),
    ("pingreq-2", b"\xc0\x02", b"\x00\x00", "expected remaining length 0 for PINGREQ, got 2", 1),
    (
        "disconnect-5",
        b"\xe0\x05",
        bytes(5),
        "expected remaining length 0 for DISCONNECT, got 5",
        1,
    ),
    # The type and flags are known from the first byte; refused with the header.
    ("type-0", b"\x00\x04", bytes(4), "expected a packet type 1..14, got 0 (reserved)", 0),
    ("type-15", b"\xf0\x04", bytes(4), "expected a packet type 1..14, got 15 (reserved)", 0),
    ("publish-qos-3", b"\x36\x04", bytes(4), "expected PUBLISH QoS 0..2, got 3", 0),
    (
        "connack-flags",
        b"\x21\x03",  # the flags come first, as with a whole packet
        bytes(3),
        "expected fixed-header flags 0000 for CONNACK, got 0001",
        0,
    ),
    (
        "subscribe-flags",
        b"\x80\x06",
        bytes(6),
        "expected fixed-header flags 0010 for SUBSCRIBE, got 0000",
        0,
    ),
]


@pytest.mark.parametrize(
    "before", [b"", b"\x20\x02\x00\x00\x30\x02\x00\x00"], ids=["first", "after"]
)
@pytest.mark.parametrize(
    ("header", "body", "reason", "offset"),
    [row[1:] for row in HEADER_FAULTS],
    ids=[row[0] for row in HEADER_FAULTS],
)
def test_fixed_header_fault_is_refused_before_its_body(
    codec: Codec, before: bytes, header: bytes, body: bytes, reason: str, offset: int
) -> None:
    # A whole packet gets the error the header alone must get.
    whole = ("error", MalformedPacket, offset, reason, f"{reason} (at byte {offset})")
    assert outcome(partial(codec.Framer().feed, header + body))[:5] == whole
    # decode() of the header alone names that fault too, not the missing body.
    assert outcome(partial(codec.decode, header))[:5] == whole
    at = len(before) + offset
    error = ("error", MalformedPacket, at, reason, f"{reason} (at byte {at})", (reason, at))
    # The header alone, then nothing more: refused without waiting for the body.
    framer = codec.Framer()
    for byte in before:
        framer.feed(bytes((byte,)))
    for byte in header[:-1]:
        assert framer.feed(bytes((byte,))) == []
    assert outcome(partial(framer.feed, header[-1:])) == error
    assert framer.buffered == 0
    # In one chunk with what came before: its packets first, then the error.
    framer = codec.Framer()
    if before:
        assert len(framer.feed(before + header)) == 2
        assert outcome(partial(framer.feed, b"")) == error
    else:
        assert outcome(partial(framer.feed, header)) == error


def test_fixed_header_of_mqtt31_packets_with_flags_is_not_a_fault(codec: Codec) -> None:
    # MQTT 3.1 lets the packets it does not decode carry DUP, QoS and RETAIN bits: a
    # SUBSCRIBE header with flags 0000 waits for its body.
    framer = codec.Framer(protocol_level=3)
    assert framer.feed(b"\x80\x06") == []
    assert framer.buffered == 2
    assert fields(framer.feed(bytes(6))) == fields([OtherPacket(PacketType.SUBSCRIBE, 0, bytes(6))])


# ---------------------------------------------------------------- errors are sticky

STICKY: list[tuple[str, bytes, list[Packet], type[RemoteProtocolError], int, str]] = [
    # (id, stream, the whole packets before the fault, error, offset, reason)
    (
        "reserved-type",
        bytes.fromhex("d000 0000"),
        [PingResp()],
        MalformedPacket,
        2,
        "expected a packet type 1..14, got 0 (reserved)",
    ),
    (
        "connack-return-code",
        bytes.fromhex("20020000 20020006"),
        [ConnAck(False, ConnAckCode.ACCEPTED)],
        MalformedPacket,
        7,
        "expected return code 0..5, got 6",
    ),
    (
        "too-large",
        bytes.fromhex("d000") + HEADER_200_MB,
        [PingResp()],
        PacketTooLarge,
        2,
        "expected a packet of at most 1,048,576 bytes, got a header announcing 200,000,005",
    ),
    (
        "unsupported-protocol",
        # A CONNECT of protocol level 6 (§3.1.2.2); the level is byte 8.
        bytes.fromhex("10 0c 00044d515454 06 02 003c 0000"),
        [],
        UnsupportedProtocol,
        8,
        "expected protocol level 3, 4 or 5, got 6",
    ),
]


@pytest.mark.parametrize(
    ("data", "before", "error", "offset", "reason"),
    [row[1:] for row in STICKY],
    ids=[row[0] for row in STICKY],
)
def test_error_repeats_on_every_later_feed(
    codec: Codec,
    data: bytes,
    before: list[Packet],
    error: type[RemoteProtocolError],
    offset: int,
    reason: str,
) -> None:
    framer = codec.Framer()
    assert framer.error is None
    if before:
        # The packets before the fault come first; the fault is kept for the next call.
        assert fields(framer.feed(data)) == fields(before)
        first = framer.error
        assert first is not None
    else:
        with pytest.raises(error) as caught:
            framer.feed(data)
        first = caught.value
        assert framer.error is first
    assert framer.buffered == 0  # nothing after the fault is kept
    assert (type(first), first.offset, first.reason) == (error, offset, reason)
    assert str(first) == f"{reason} (at byte {offset})"
    expected = outcome(partial(framer.feed, data))
    for later in (b"", b"\xd0\x00", bytearray(b"\x20\x02\x00\x00"), memoryview(data), data):
        assert outcome(partial(framer.feed, later)) == expected
        assert framer.error is first
    assert expected[1:4] == (error, offset, reason)


# ---------------------------------------------------------------- absolute offsets

GOOD = REFERENCE.encode(ConnAck(False, ConnAckCode.ACCEPTED)) + b"\xd0\x00" + ENCODED[3]
BAD = bytes.fromhex("20 02 00 06")  # return code 6: the fault is byte 3 of the packet
BAD_OFFSET = len(GOOD) + 3
GOOD_PACKETS = [ConnAck(False, ConnAckCode.ACCEPTED), PingResp(), STREAM[3]]


def _error_at(offset: int, reason: str) -> Outcome:
    return (
        "error",
        MalformedPacket,
        offset,
        reason,
        f"{reason} (at byte {offset})",
        (reason, offset),
    )


@pytest.mark.parametrize(
    "cuts",
    [
        [],
        [len(GOOD)],
        [len(GOOD) + 2],
        [56],  # inside the PUBLISH
        [2, 4, 6, 100, len(GOOD) + 3],
        list(range(1, len(GOOD) + 4)),  # one byte at a time
    ],
    ids=["whole", "good-then-bad", "bad-split", "publish-split", "scattered", "bytewise"],
)
def test_error_offset_counts_from_the_first_byte_ever_fed(codec: Codec, cuts: list[int]) -> None:
    data = GOOD + BAD
    assert BAD_OFFSET == 4 + 2 + 129 + 3
    error = _error_at(BAD_OFFSET, "expected return code 0..5, got 6")
    bounds = [0, *cuts, len(data)]
    framer = codec.Framer()
    packets: list[Packet] = []
    for start, end in pairwise(bounds):
        if end < len(data) or len(packets) < len(GOOD_PACKETS):
            # Every packet before the fault is returned, the last ones with the fault.
            packets += framer.feed(data[start:end])
        else:
            # Nothing left to return: the call that meets the fault raises it.
            assert outcome(partial(framer.feed, data[start:end])) == error
    assert fields(packets) == fields(GOOD_PACKETS)
    assert outcome(partial(framer.feed, b"")) == error


@CHUNKINGS
@given(count=st.integers(0, len(STREAM)), cuts=st.lists(st.integers(0, 1 << 20), max_size=12))
def test_error_offset_after_any_prefix_in_any_chunks(
    codec: Codec, count: int, cuts: list[int]
) -> None:
    prefix = b"".join(ENCODED[:count])
    # A PINGRESP with a Remaining Length of 1 (§3.13.1): refused as soon as its header is
    # complete, at the offset of its length byte, whether its body has arrived or not.
    data = prefix + b"\xd0\x01\x00"
    bounds = [0, *sorted(cut % (len(data) + 1) for cut in cuts), len(data)]
    framer = codec.Framer()
    results = [outcome(partial(framer.feed, data[a:b])) for a, b in pairwise(bounds)]
    results.append(outcome(partial(framer.feed, b"")))
    error = _error_at(len(prefix) + 1, "expected remaining length 0 for PINGRESP, got 1")
    returned = [packet for result in results if result[0] == "ok" for packet in result[1]]  # type: ignore[attr-defined]
    assert returned == fields(STREAM[:count])
    # The chunk that completes the faulty header returns the packets it completed before
    # it, if any, or else raises; every call after it raises.
    first = next(index for index, end in enumerate(bounds[1:]) if end >= len(prefix) + 2)
    assert [result[0] for result in results[:first]] == ["ok"] * first
    if results[first][0] == "ok":
        assert results[first][1] != []
        first += 1
    assert results[first:] == [error] * (len(results) - first)


# ------------------------------------------------------------- buffer types as input


@pytest.mark.parametrize("kind", [bytearray, memoryview])
def test_stream_from_buffers(codec: Codec, kind: type[bytearray | memoryview]) -> None:
    framer = codec.Framer()
    assert fields(framer.feed(kind(DATA))) == fields(STREAM)
    assert framer.buffered == 0
    _feed_checked(codec.Framer(), (kind(chunk) for chunk in ENCODED))


def test_memoryview_slices_of_a_larger_buffer(codec: Codec) -> None:
    # Views that start and end inside someone else's buffer, as a socket reader's do.
    backing = b"\xff" * 7 + DATA + b"\xff" * 7
    view = memoryview(backing)
    bounds = [7, *(7 + end - 1 for end in ENDS[:-1]), 7 + len(DATA)]
    _feed_checked(codec.Framer(), (view[a:b] for a, b in pairwise(bounds)))


def test_caller_may_reuse_its_bytearray(codec: Codec) -> None:
    # The framer keeps copies: a reader that refills one bytearray must not change what
    # was buffered or what was returned.
    data = REFERENCE.encode(_publish(200)) + b"\x90\x03\x00\x01\x00"
    framer = codec.Framer()
    chunk = bytearray(data[:100])
    assert framer.feed(chunk) == []
    chunk[:] = b"\xee" * 100
    chunk = bytearray(data[100:])
    packets = framer.feed(chunk)
    chunk[:] = b"\xee" * len(chunk)
    assert fields(packets) == fields(
        [_publish(200), OtherPacket(PacketType.SUBACK, 0, b"\x00\x01\x00")]
    )
    assert framer.buffered == 0
