"""Coverage-guided fuzzing of both codecs and the session, for long runs by hand.

Usage (from the repository root)::

    .venv/bin/pip install -e '.[fuzz]'
    .venv/bin/python fuzz/fuzz_codec.py fuzz/corpus -max_total_time=3600

Any libFuzzer option works (``-jobs=2``, ``-max_len=4096``, ``-runs=N``). A file instead of
a folder runs that one input: ``.venv/bin/python fuzz/fuzz_codec.py crash-<sha1>``.

Each input goes, as the server's bytes, to

- ``decode()`` of the pure and the compiled codec, protocol levels 3, 4 and 5 (MQTT 5.0),
  as bytes and as a bytearray;
- ``Framer.feed()`` of both, at the same three levels: whole, a byte at a time, and in
  chunks whose lengths the input itself chooses, with a packet limit it chooses too;
- a Session on each codec: CONNECT sent, the input arriving in those chunks a second
  apart, the timer after each, and a ping() whenever one is allowed;

and each must hold:

- decoding parses or raises a RemoteProtocolError (a pco_wire.Error) with an offset inside
  the input; a packet that decodes and that the encoder accepts decodes the same again
  from its encoding;
- the session lets no exception out; whatever ends it arrives as Closed(error), error a
  pco_wire.Error; it sends only whole CONNECT, PINGREQ and DISCONNECT packets;
- pure ≡ compiled: the same packets, field types included, or the same error (type,
  offset, message, args), and the same session transcript.

Anything else is a crash: libFuzzer stops and writes the input to ``crash-<sha1>``.
Coverage guides through the pure codec and the session (atheris instruments Python
code); the compiled codec is compared, not instrumented.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable
from functools import partial
from types import ModuleType
from unittest import mock

import pco_wire.session as session_module
from pco_wire import _codec_py as pure
from pco_wire.errors import Error, InvalidPacket, RemoteProtocolError
from pco_wire.packets import Connect, Disconnect, PingReq
from pco_wire.session import Closed, PingSent, PongReceived, Session, State


def _compiled() -> ModuleType | None:
    try:
        return importlib.import_module("pco_wire._codec")
    except ImportError:
        return None


compiled = _compiled()

# The codec at every level it speaks; the session at the levels it runs.
CODEC_LEVELS = (3, 4, 5)
LEVELS = (3, 4)
# 2 is the least a Framer allows; small limits make PacketTooLarge easy to reach.
LIMITS = (2, 5, 64, 300, pure.DEFAULT_MAX_PACKET_SIZE)
CLIENT_PACKETS = (Connect, PingReq, Disconnect)


def typed(value: object) -> object:
    """``value`` with the type of every packet field spelled out, so that ``True`` and
    ``1``, an enum and its int, bytes and a bytearray compare unequal."""
    names = getattr(type(value), "_fields", None)
    if names is not None:
        return (type(value), tuple((name, typed(getattr(value, name))) for name in names))
    if isinstance(value, list):
        return [typed(item) for item in value]
    return (type(value), value)


def outcome(call: Callable[[], object], size: int) -> tuple[object, ...]:
    """What ``call`` came to; anything but a RemoteProtocolError at an offset inside the
    ``size`` bytes given is a bug and propagates."""
    try:
        result = call()
    except RemoteProtocolError as exc:
        if not 0 <= exc.offset <= size:
            raise AssertionError(f"offset {exc.offset} outside the {size} bytes given") from exc
        return ("error", type(exc), exc.offset, str(exc), exc.args)
    return ("ok", typed(result))


def chunks_of(data: bytes) -> list[bytes]:
    """``data`` cut where it says: each chunk is 1 + (its first byte % 8) bytes long."""
    chunks = []
    pos = 0
    while pos < len(data):
        end = pos + 1 + data[pos] % 8
        chunks.append(data[pos:end])
        pos = end
    return chunks


def check_decode(codec: ModuleType, data: bytes) -> list[object]:
    results: list[object] = []
    for level in CODEC_LEVELS:
        for kind in (bytes, bytearray):
            result = outcome(partial(codec.decode, kind(data), level), len(data))
            results.append(result)
        if result[0] == "ok":
            packet = codec.decode(data, level)
            try:
                again = codec.encode(packet)
            except InvalidPacket:
                continue  # decoded, but not something a client may send (a long 3.1 ID)
            if typed(codec.decode(again, level)) != typed(packet):
                raise AssertionError(f"{packet!r} encodes to {again!r}, which decodes otherwise")
    return results


def check_framer(codec: ModuleType, cuts: list[list[bytes]], limit: int) -> list[object]:
    results: list[object] = []
    for level in CODEC_LEVELS:
        for chunks in cuts:
            framer = codec.Framer(limit, level)
            fed = 0
            for chunk in chunks:
                fed += len(chunk)
                results.append((outcome(partial(framer.feed, chunk), fed), framer.buffered))
    return results


def check_session(codec: ModuleType, chunks: list[bytes], level: int, limit: int) -> list[object]:
    """The session's transcript: what it sent, its events and its state after each chunk."""
    with mock.patch.multiple(session_module, Framer=codec.Framer, encode=codec.encode):
        connect = Connect("fuzz", keep_alive=2, protocol_level=level)
        session = Session(connect, response_timeout=1.5, max_packet_size=limit)
        now = 0.0
        session.connect(now=now)
        transcript: list[object] = [session.data_to_send()]
        outstanding = False

        def take_events() -> list[str]:
            nonlocal outstanding
            events = session.events()
            for event in events:
                if isinstance(event, PingSent):
                    outstanding = True
                elif isinstance(event, PongReceived):
                    outstanding = False
                elif isinstance(event, Closed) and not isinstance(event.error, Error):
                    raise AssertionError(f"closed with {event.error!r}, not a pco_wire.Error")
            return [repr(event) for event in events]

        for chunk in [*chunks, b""]:  # b"": the peer closes the stream
            was_closed = session.closed
            now += 1.0
            session.receive_data(chunk, now=now)
            session.handle_timer(now=now)
            events = take_events()
            if session.state is State.CONNECTED and not outstanding:
                session.ping(now=now)
                events += take_events()
            sent = session.data_to_send()
            framer = pure.Framer(protocol_level=level)
            packets = framer.feed(sent)
            if framer.buffered or not all(type(packet) in CLIENT_PACKETS for packet in packets):
                raise AssertionError(f"the session sent {sent!r}")
            if sent and was_closed:
                raise AssertionError(f"the session sent {packets!r} after it closed")
            error = session.error
            transcript.append(
                (
                    sent,
                    events,
                    session.state,
                    None if error is None else (type(error), error.args, str(error)),
                )
            )
        if not session.closed:
            raise AssertionError("still open after the peer closed the stream")
    return transcript


def test_one_input(data: bytes) -> None:
    assert compiled is not None
    limit = LIMITS[data[-1] % len(LIMITS)] if data else LIMITS[-1]
    cuts = [[data], [data[i : i + 1] for i in range(len(data))], chunks_of(data)]
    for check in (
        lambda codec: check_decode(codec, data),
        lambda codec: check_framer(codec, cuts, limit),
        lambda codec: [check_session(codec, cuts[2], level, limit) for level in LEVELS],
    ):
        expected = check(pure)
        got = check(compiled)
        if got != expected:
            raise AssertionError(f"compiled {got!r}\n!= pure {expected!r}")


def main(argv: list[str]) -> None:
    try:
        import atheris  # type: ignore[import-not-found, import-untyped, unused-ignore]
    except ImportError as exc:
        raise SystemExit(
            f"fuzz_codec.py needs atheris, which does not import here ({exc}).\n"
            "Install it with: .venv/bin/pip install -e '.[fuzz]'\n"
            "(wheels exist for Linux x86-64; elsewhere pip builds it, which needs clang "
            "with libFuzzer)"
        ) from exc
    if compiled is None:
        raise SystemExit(
            "the compiled codec is not built, so there is nothing to compare the pure one "
            "with: .venv/bin/python setup.py build_ext --inplace"
        )
    atheris.instrument_all()
    atheris.Setup(argv, test_one_input)
    atheris.Fuzz()


if __name__ == "__main__":
    main(sys.argv)
