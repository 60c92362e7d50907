"""The compiled codec's MQTT 5.0 fast paths agree with the reference, on generated input.

The compiled codec handles the common MQTT 5.0 cases itself (CONNECT with properties;
CONNACK, DISCONNECT, AUTH and PINGRESP at level 5) and hands everything else to the
reference. These tests aim at the border between the two: properties near their
bounds, of the wrong type, repeated, not allowed in the packet, Variable Byte Integers
in longer forms than needed, packets cut anywhere and fed in any chunks. Both codecs
must give the same bytes, packets (field types included) or errors (type, offset,
message) every time.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import partial
from itertools import pairwise
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pco_wire.packets import (
    PROPERTIES,
    Auth,
    ConnAck,
    ConnAckProperties,
    Connect,
    ConnectProperties,
    Disconnect,
    ReasonCode,
    Will,
    WillProperties,
)
from pco_wire.reasons import REASONS
from tests.support import Codec, load_codec

MANY = settings(
    max_examples=400, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


@pytest.fixture(scope="module")
def pair() -> tuple[Codec, Codec]:
    return load_codec("python"), load_codec("cython")


def _deep(value: object) -> object:
    """``value`` spelled out with the type of everything in it, properties included."""
    names = getattr(type(value), "_fields", None)
    if names is not None and hasattr(value, "_values"):
        return (type(value), tuple((name, _deep(getattr(value, name))) for name in names))
    if isinstance(value, (list, tuple)):
        return (type(value), [_deep(item) for item in value])
    return (type(value), value)


def _outcome(call: Any) -> object:
    from pco_wire import Error, RemoteProtocolError

    try:
        result = call()
    except RemoteProtocolError as exc:
        return ("error", type(exc), exc.offset, str(exc), exc.args)
    except Error as exc:
        return ("error", type(exc), getattr(exc, "field", None), str(exc), exc.args)
    return ("ok", _deep(result))


# ---------------------------------------------------------------------------- encoding

texts = st.text(st.characters(exclude_categories=["Cs"], exclude_characters="\x00"), max_size=12)
# Mostly valid MQTT strings; now and then one the encoder must refuse.
odd_texts = texts | st.sampled_from(["a\x00b", "\ud800", "+", "a/#", ""])
pairs = st.lists(st.tuples(texts, texts), max_size=3).map(tuple)


def _valid(prop: Any) -> st.SearchStrategy[object]:
    """A value the field of ``prop`` may hold and the encoder writes."""
    high = {"byte": 255, "u16": 65_535, "u32": 0xFFFF_FFFF}.get(prop.kind, 0)
    if prop.high is not None:
        high = prop.high
    if prop.kind == "byte" and prop.name in _BOOLS:
        return st.booleans()
    if prop.kind in ("byte", "u16", "u32"):
        return st.integers(prop.low, high) | st.sampled_from([prop.low, high])
    if prop.kind == "str":
        return texts
    if prop.kind == "bin":
        return st.binary(max_size=8)
    return pairs


def _odd(prop: Any) -> st.SearchStrategy[object]:
    """A value of the wrong type or out of range, that the encoder must refuse or that
    takes the reference's path."""
    if prop.kind in ("byte", "u16", "u32"):
        top = (
            prop.high
            if prop.high is not None
            else (1 << {"byte": 8, "u16": 16}.get(prop.kind, 32)) - 1
        )
        return st.sampled_from([prop.low - 1, top + 1, -1, True, False, 1.0, "1", None, 1 << 70])
    if prop.kind == "str":
        return st.sampled_from(["a\x00b", "\ud800", b"x", 1, "é" * 40_000])
    if prop.kind == "bin":
        return st.sampled_from([bytearray(b"x"), memoryview(b"x"), "x", bytes(70_000)])
    return st.sampled_from([[("a", "b")], (("a", 1),), (("a",),), ("ab",), ((1, "b"),), [], None])


# The "byte" fields that hold a bool: the classes' defaults say which.
_BOOLS = {
    name
    for cls in (ConnectProperties, WillProperties, ConnAckProperties)
    for name, default in zip(cls._fields, cls._defaults, strict=True)
    if type(default) is bool
}


@st.composite
def properties(draw: st.DrawFn, cls: type) -> Any:
    """A properties value of ``cls``: some fields set to valid values (a default among
    them now and then), and one in five times one field set to something odd."""
    by_name = {prop.name: prop for prop in PROPERTIES.values()}
    fields_ = cls._fields  # type: ignore[attr-defined]
    values = {}
    for name, default in zip(fields_, cls._defaults, strict=True):  # type: ignore[attr-defined]
        choice = draw(st.integers(0, 5))
        if choice < 2:
            values[name] = draw(_valid(by_name[name]))
        elif choice == 2:
            values[name] = default
    if draw(st.integers(0, 4)) == 0:
        name = draw(st.sampled_from(fields_))
        values[name] = draw(_odd(by_name[name]))
    return cls(**values)


@st.composite
def connects5(draw: st.DrawFn) -> Connect:
    will = None
    if draw(st.booleans()):
        will_properties = draw(st.just(WillProperties()) | properties(WillProperties))
        will = Will(
            draw(odd_texts.filter(bool) | st.just("t/x")),
            draw(st.binary(max_size=10) | st.just("not bytes")),  # type: ignore[arg-type]
            draw(st.integers(0, 2) | st.just(3)),
            draw(st.booleans()),
            will_properties,
        )
    return Connect(
        draw(texts),
        draw(st.booleans()),
        draw(st.integers(0, 65_535)),
        draw(st.none() | texts),
        draw(st.none() | st.binary(max_size=10)),
        will,
        draw(st.sampled_from([5, 5, 5, 4])),
        draw(st.just(ConnectProperties()) | properties(ConnectProperties)),
    )


@MANY
@given(connect=connects5())
def test_connect5_same_bytes_or_error(pair: tuple[Codec, Codec], connect: Connect) -> None:
    pure, compiled = pair
    assert _outcome(partial(compiled.encode, connect)) == _outcome(partial(pure.encode, connect))


@MANY
@given(
    reason=st.sampled_from(list(ReasonCode)),
    packet_type=st.sampled_from([Disconnect, Auth]),
)
def test_short_disconnect_and_auth_same_bytes(
    pair: tuple[Codec, Codec], reason: ReasonCode, packet_type: type
) -> None:
    pure, compiled = pair
    packet = packet_type(reason)
    assert _outcome(partial(compiled.encode, packet)) == _outcome(partial(pure.encode, packet))


# ---------------------------------------------------------------------------- decoding


def _varint(value: int, longer: bool = False) -> bytes:
    out = bytearray()
    while True:
        digit = value & 0x7F
        value >>= 7
        if value or longer:
            out.append(digit | 0x80)
            if not value:
                out.append(0)  # a longer form than needed (refused by MQTT 5.0 §1.5.5)
                return bytes(out)
        else:
            out.append(digit)
            return bytes(out)


def _string(text: str) -> bytes:
    data = text.encode("utf-8", "surrogatepass")
    return len(data).to_bytes(2, "big") + data


def _number(value: int, kind: str) -> bytes:
    return value.to_bytes({"byte": 1, "u16": 2, "u32": 4}[kind], "big")


def _property(draw: st.DrawFn, prop: Any) -> bytes:
    """One valid property: identifier and value."""
    out = bytes([prop.identifier])
    if prop.kind in ("byte", "u16", "u32"):
        top = (1 << {"byte": 8, "u16": 16, "u32": 32}[prop.kind]) - 1
        high = top if prop.high is None else prop.high
        return out + _number(draw(st.integers(prop.low, high)), prop.kind)
    if prop.kind == "str":
        return out + _string(draw(texts))
    if prop.kind == "bin":
        data = draw(st.binary(max_size=8))
        return out + len(data).to_bytes(2, "big") + data
    if prop.kind == "varint":
        return out + _varint(draw(st.integers(0, 300)))
    return out + _string(draw(texts)) + _string(draw(texts))


FAULTS = ["foreign", "repeat", "range", "string", "length", "long-length", "identifier"]


@st.composite
def property_bytes(draw: st.DrawFn, packet: str) -> bytes:
    """A Property Length and properties allowed in ``packet``, each at most once but
    the user property; one in three times with one fault of FAULTS."""
    allowed = [p for p in PROPERTIES.values() if packet in p.packets]
    chosen = draw(st.lists(st.sampled_from(allowed), max_size=5, unique_by=lambda p: p.identifier))
    user = [p for p in allowed if p.kind == "pair"]
    chosen += user * draw(st.integers(0, 2))
    chosen = draw(st.permutations(chosen))
    items = [_property(draw, prop) for prop in chosen]
    fault = draw(st.sampled_from(["none"] * 2 * len(FAULTS) + FAULTS))
    numbers = [p for p in allowed if p.kind in ("byte", "u16") or p.low]
    if fault == "foreign":
        others = [p for p in PROPERTIES.values() if packet not in p.packets]
        items.insert(
            draw(st.integers(0, len(items))), _property(draw, draw(st.sampled_from(others)))
        )
    elif fault == "identifier":
        raw = draw(
            st.sampled_from(
                [b"\x00", b"\x0b\x01", b"\x23\x00\x01", b"\x7f", b"\x80\x01", b"\xa6\x00"]
            )
        )
        items.insert(draw(st.integers(0, len(items))), raw)
    elif fault == "repeat" and items:
        items.insert(draw(st.integers(0, len(items))), draw(st.sampled_from(items)))
    elif fault == "range" and numbers:
        prop = draw(st.sampled_from(numbers))
        top = (1 << (8 if prop.kind == "byte" else 16 if prop.kind == "u16" else 32)) - 1
        bad = [v for v in (prop.low - 1, (prop.high or top) + 1) if 0 <= v <= top]
        if bad:
            items.append(bytes([prop.identifier]) + _number(draw(st.sampled_from(bad)), prop.kind))
    elif fault == "string":
        texts_ = [p for p in allowed if p.kind in ("str", "pair")]
        prop = draw(st.sampled_from(texts_))
        bad_text = draw(
            st.sampled_from(
                [b"\x00\x01\x00", b"\x00\x01\xff", b"\x00\x03\xed\xa0\x80", b"\x00\x05ab"]
            )
        )
        tail = b"\x00\x00" if prop.kind == "pair" else b""
        items.append(bytes([prop.identifier]) + bad_text + tail)
    body = b"".join(items)
    length = len(body)
    if fault == "length":
        length = max(0, length + draw(st.sampled_from([-1, 1, 2])))
    return _varint(length, longer=fault == "long-length") + body


def _packet(first: int, body: bytes) -> bytes:
    return bytes([first]) + _varint(len(body)) + body


def _reason(draw: st.DrawFn, packet_type: int) -> int:
    """Mostly a reason code defined for ``packet_type``, now and then any byte."""
    if draw(st.integers(0, 4)) == 0:
        return draw(st.integers(0, 255))
    return draw(
        st.sampled_from([code for code, r in REASONS.items() if r.defined_for(packet_type)])
    )


@st.composite
def connacks5(draw: st.DrawFn) -> bytes:
    flags = draw(st.sampled_from([0, 0, 1, 2, 0x80]))
    body = bytes([flags, _reason(draw, 2)])
    if draw(st.integers(0, 9)):
        body += draw(property_bytes("CONNACK"))
    return _packet(0x20, body)


@st.composite
def disconnects5(draw: st.DrawFn) -> bytes:
    form = draw(st.sampled_from(["empty", "reason", "properties", "properties"]))
    body = b""
    if form != "empty":
        body = bytes([_reason(draw, 14)])
    if form == "properties":
        body += draw(property_bytes("DISCONNECT"))
    return _packet(draw(st.sampled_from([0xE0] * 9 + [0xE1])), body)


@st.composite
def auths5(draw: st.DrawFn) -> bytes:
    form = draw(st.sampled_from(["empty", "reason", "properties", "properties"]))
    body = b""
    if form != "empty":
        body = bytes([_reason(draw, 15)])
    if form == "properties":
        body += draw(property_bytes("AUTH"))
    return _packet(draw(st.sampled_from([0xF0] * 9 + [0xF2])), body)


packets5 = st.one_of(
    connacks5(),
    disconnects5(),
    auths5(),
    st.sampled_from([b"\xd0\x00", b"\xc0\x00", b"\xd0\x01\x00", b"\x30\x03\x00\x01a"]),
)


@st.composite
def cut(draw: st.DrawFn, data: bytes) -> bytes:
    """``data`` as it is, or with its tail cut off, a byte added, or its Remaining
    Length in a longer form than needed (refused by MQTT 5.0 §1.5.5, not by 3.1.1)."""
    choice = draw(st.integers(0, 9))
    if choice == 0 and data:
        return data[: draw(st.integers(0, len(data) - 1))]
    if choice == 1:
        return data + bytes([draw(st.integers(0, 255))])
    if choice == 2:
        index = 1
        while data[index] & 0x80:
            index += 1
        if index < 4:
            return data[:1] + _varint(len(data) - index - 1, longer=True) + data[index + 1 :]
    return data


def _decode_outcomes(codec: Codec, data: bytes) -> list[object]:
    return [
        _outcome(partial(codec.decode, kind(data), level))
        for level in (5, 4)
        for kind in (bytes, bytearray)
    ]


@MANY
@given(data=packets5.flatmap(cut))
def test_decode5_same_packet_or_error(pair: tuple[Codec, Codec], data: bytes) -> None:
    pure, compiled = pair
    assert _decode_outcomes(compiled, data) == _decode_outcomes(pure, data)


def _feed_outcomes(codec: Codec, chunks: Sequence[bytes], limit: int) -> list[object]:
    framer = codec.Framer(max_packet_size=limit, protocol_level=5)
    return [
        (_outcome(partial(framer.feed, chunk)), framer.buffered)
        for chunk in [*chunks, b"", b"\xd0\x00"]
    ]


@st.composite
def chunked(draw: st.DrawFn) -> list[bytes]:
    whole = b"".join(draw(st.lists(packets5.flatmap(cut), min_size=1, max_size=6)))
    if draw(st.integers(0, 4)) == 0:
        whole += draw(st.binary(max_size=4))
    cuts = sorted(set(draw(st.lists(st.integers(0, len(whole)), max_size=8))))
    return [whole[start:end] for start, end in pairwise([0, *cuts, len(whole)])]


@MANY
@given(chunks=chunked(), limit=st.sampled_from([2, 5, 40, 1 << 20]))
def test_framer5_same_packets_or_error(
    pair: tuple[Codec, Codec], chunks: list[bytes], limit: int
) -> None:
    pure, compiled = pair
    assert _feed_outcomes(compiled, chunks, limit) == _feed_outcomes(pure, chunks, limit)


def test_common_packets_take_the_fast_path(pair: tuple[Codec, Codec]) -> None:
    """A Mosquitto-like CONNACK, short DISCONNECTs and AUTH decode without the reference:
    with its decoder unplugged, the compiled codec still decodes them."""
    pure, compiled = pair
    connack = bytes.fromhex("201c0000191200096175746f2d3132333413003c21001422000a24012500")
    samples = [
        (connack, ConnAck),
        (b"\xe0\x00", Disconnect),
        (b"\xe0\x01\x8b", Disconnect),
        (b"\xe0\x07\x8b\x05\x1f\x00\x02hi", Disconnect),
        (b"\xf0\x00", Auth),
        (b"\xf0\x02\x18\x00", Auth),
    ]
    expected = [_deep(pure.decode(data, 5)) for data, _kind in samples]
    module: Any = compiled
    framer = compiled.Framer(protocol_level=5)
    saved = module._py
    try:
        module._py = None  # any call into the reference now fails
        got = [_deep(compiled.decode(data, 5)) for data, _kind in samples]
        stream = framer.feed(b"".join(data for data, _ in samples))
    finally:
        module._py = saved
    assert got == expected
    assert [_deep(packet) for packet in stream] == expected
    assert [type(compiled.decode(data, 5)) for data, _ in samples] == [k for _, k in samples]
