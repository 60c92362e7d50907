"""Fuzzing, bounded for CI: the session and the reconnection policy under input nobody
wrote by hand.

- The Session, driven the way a driver would but by hypothesis: valid server streams
  (CONNACK, PINGRESP, PUBLISH and acknowledgements) broken at random, and random bytes,
  cut into random chunks and interleaved with the timer at random times, ping(),
  disconnect(), the peer closing and the stream failing. After every step the session
  must have kept each promise listed in ``Run.take``. It uses ``pco_wire.codec``, so CI,
  which runs the suite once per codec (PCO_WIRE_PURE), fuzzes it over both.
- The same runs with each codec put into the session must agree event for event and byte
  for byte. Decoding and framing alone are compared in test_properties.py; this adds what
  the session does with them: the protocol level and packet limit it frames with, the
  packets the framer returns before a fault, and the offsets it reports.
- The reconnection policy, with its random source drawn by hypothesis.

Long coverage-guided runs of the same claims are in fuzz/ (atheris), run by hand.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from itertools import pairwise
from typing import Any, TypeVar
from unittest import mock

import hypothesis
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import pco_wire.session as session_module
from pco_wire import (
    DEFAULT_MAX_PACKET_SIZE,
    ConnAckCode,
    Connect,
    ConnectionClosed,
    Disconnect,
    Error,
    InvalidPacket,
    InvalidSettings,
    LocalProtocolError,
    MalformedPacket,
    OtherPacket,
    PacketType,
    PingReq,
    RemoteProtocolError,
    ResponseTimeout,
    ServerRefused,
    TLSError,
    TransportError,
    UnexpectedPacket,
)
from pco_wire.events import (
    Closed,
    Connected,
    PacketReceived,
    PingSent,
    PongReceived,
)
from pco_wire.events import (
    SessionEvent as Event,
)
from pco_wire.packets import CONNACKS, DISCONNECT, PINGREQ, PINGRESP
from pco_wire.reconnect import TAKEOVER_COUNT, TAKEOVER_WINDOW, Reconnect
from pco_wire.session import (
    MAX_UNANSWERED,
    Session,
    State,
    ping_margin,
)
from tests.support import Codec, Packet, fields, load_codec

# The reference builds the bytes and reads what the session sends; it always imports.
REFERENCE = load_codec("python")

T = TypeVar("T")

# A run takes about 3 ms, drawing it included: the file takes about 10 s in either codec
# mode on the 2-core machine. CI sets CI=true, so hypothesis derandomizes: the same
# examples on every run.
SESSION_RUNS = settings(max_examples=750, deadline=None)
BOTH_CODECS = settings(max_examples=300, deadline=None)
POLICY_RUNS = settings(max_examples=600, deadline=None)

# Forward only; a state may be skipped (IDLE -> CLOSED, CONNECTING -> CLOSED).
RANK = {State.IDLE: 0, State.CONNECTING: 1, State.CONNECTED: 2, State.CLOSED: 3}

PINGRESP_BYTES = REFERENCE.encode(PINGRESP)
CONNACK_BYTES = [REFERENCE.encode(connack) for connack in CONNACKS]


# ----------------------------------------------------------------- server streams


def weighted(*choices: tuple[int, st.SearchStrategy[T]]) -> st.SearchStrategy[T]:
    """One of ``choices``, each drawn about as often as its weight says (``st.one_of``
    draws its branches alike, whatever is repeated)."""
    pool = [strategy for weight, strategy in choices for _ in range(weight)]
    return st.sampled_from(pool).flatmap(lambda strategy: strategy)


def _publish(flags: int, topic: bytes, packet_id: int, payload: bytes) -> bytes:
    # MQTT 3.1.1 §3.3.2: the topic name, then a packet identifier only when QoS > 0.
    ident = packet_id.to_bytes(2, "big") if flags & 0x06 else b""
    body = len(topic).to_bytes(2, "big") + topic + ident + payload
    return REFERENCE.encode(OtherPacket(PacketType.PUBLISH, flags, body))


def _ack(kind: PacketType, packet_id: int) -> bytes:
    # MQTT 3.1.1 §2.2.2: PUBREL carries the flags 0010, the others 0000.
    flags = 0b0010 if kind is PacketType.PUBREL else 0
    return REFERENCE.encode(OtherPacket(kind, flags, packet_id.to_bytes(2, "big")))


# QoS 0, QoS 0 retained, QoS 1, QoS 1 redelivered (DUP), QoS 2.
PUBLISH_FLAGS = [0b0000, 0b0001, 0b0010, 0b1010, 0b0100]
ACK_TYPES = [
    PacketType.PUBACK,
    PacketType.PUBREC,
    PacketType.PUBREL,
    PacketType.PUBCOMP,
    PacketType.UNSUBACK,
]

# Mostly what a server may send once connected; a PINGRESP or a CONNACK there is one it
# must not send unasked (MQTT 3.1.1 §3.2, §3.13).
server_packets = weighted(
    (
        20,
        st.builds(
            _publish,
            st.sampled_from(PUBLISH_FLAGS),
            st.binary(min_size=1, max_size=8),
            st.integers(1, 65_535),
            st.binary(max_size=24),
        ),
    ),
    (8, st.builds(_ack, st.sampled_from(ACK_TYPES), st.integers(1, 65_535))),
    (1, st.just(PINGRESP_BYTES)),
    (1, st.sampled_from(CONNACK_BYTES)),
)


BITS = [1 << bit for bit in range(8)]


@st.composite
def server_streams(draw: st.DrawFn) -> bytes:
    """What a server sends: a CONNACK (mostly an acceptance), then a few packets; then
    up to three bytes flipped, inserted or deleted, or the stream cut short (often none,
    so that runs get past the CONNACK)."""
    first = draw(st.sampled_from([CONNACK_BYTES[0]] * 20 + CONNACK_BYTES))
    data = bytearray(first + b"".join(draw(st.lists(server_packets, max_size=6))))
    for _ in range(draw(st.sampled_from([0, 0, 1, 2, 3]))):
        action = draw(st.sampled_from(("flip", "insert", "delete", "truncate")))
        # Headers and lengths sit near the start of packets: aim there as often as not.
        index = draw(st.integers(0, min(len(data), 8)) | st.integers(0, len(data)))
        if action == "insert":
            data.insert(index, draw(st.integers(0, 255)))
        elif index >= len(data):
            continue
        elif action == "flip":
            data[index] ^= draw(st.sampled_from(BITS) | st.integers(1, 255))
        elif action == "delete":
            del data[index]
        else:
            del data[index:]
    return bytes(data)


# Mostly a server's stream, broken or not; random bytes a quarter of the time.
scripts = weighted((3, server_streams()), (1, st.binary(max_size=48)))


@st.composite
def cut(draw: st.DrawFn, data: bytes) -> list[bytes]:
    """``data`` cut at random places, as a socket would hand it over."""
    cuts = sorted(set(draw(st.lists(st.integers(1, max(len(data) - 1, 1)), max_size=8))))
    bounds = [0, *(c for c in cuts if c < len(data)), len(data)]
    return [data[start:end] for start, end in pairwise(bounds)]


# ------------------------------------------------------------------------- steps


@dataclass(frozen=True)
class Feed:
    """The next ``size`` bytes of the server's stream arrive (nothing once it ran out)."""

    size: int


@dataclass(frozen=True)
class Junk:
    """Bytes that were never in the stream arrive: noise, another protocol."""

    data: bytes


@dataclass(frozen=True)
class Answer:
    """A server that behaves answers the outstanding PINGREQ, if any: it finishes the
    packet of the stream it was sending, then sends a PINGRESP."""


@dataclass(frozen=True)
class Pong:
    """A PINGRESP arrives, asked for or not; in the middle of a packet of the stream it
    breaks that packet."""


@dataclass(frozen=True)
class Sleep:
    """The clock moves on and nothing is called: a driver busy elsewhere, or late."""

    seconds: float


@dataclass(frozen=True)
class Timer:
    """The clock moves on, then handle_timer()."""

    seconds: float


@dataclass(frozen=True)
class AtDeadline:
    """handle_timer() at next_deadline(), or at the float just before it."""

    early: bool


@dataclass(frozen=True)
class CallPing:
    """ping(): allowed only when connected with no PINGREQ outstanding."""


@dataclass(frozen=True)
class CallDisconnect:
    """disconnect(): allowed in every state."""


@dataclass(frozen=True)
class PeerCloses:
    """receive_data(b""): the server closed the stream."""


@dataclass(frozen=True)
class StreamFails:
    """connection_lost(error): the driver's report of a broken stream."""

    error: Error


Step = (
    Feed
    | Answer
    | Junk
    | Pong
    | Sleep
    | Timer
    | AtDeadline
    | CallPing
    | CallDisconnect
    | PeerCloses
    | StreamFails
)

# Mostly short against the response timeout, now and then long.
seconds = st.one_of(
    st.floats(0, 1),
    st.sampled_from([0.0, 0.5, 1.0, 9.0, 10.0, 60.0]),
    st.floats(0, 200),
)
STREAM_ERRORS: list[Error] = [
    ConnectionClosed("session", "connection reset by peer", reset=True),
    TLSError("session", "TLS alert: bad record mac", ssl_reason="SSLV3_ALERT_BAD_RECORD_MAC"),
    TransportError("session", "broken pipe"),
]
# The stream arrives, a server answers its PINGREQs and the timer fires on time more
# often than the rest happens; the steps that end the session are rare, so that runs go
# on a while.
steps: st.SearchStrategy[Step] = weighted(
    (8, st.builds(Feed, st.integers(1, 24))),
    (8, st.just(Answer())),
    (4, st.builds(AtDeadline, st.booleans())),
    (2, st.builds(Sleep, seconds)),
    (2, st.builds(Timer, seconds)),
    (2, st.just(CallPing())),
    (1, st.just(Pong())),
    (1, st.builds(Junk, st.binary(min_size=1, max_size=12))),
    (
        2,
        st.one_of(
            st.just(CallDisconnect()),
            st.just(PeerCloses()),
            st.builds(StreamFails, st.sampled_from(STREAM_ERRORS)),
        ),
    ),
)

# Most runs start the way connections do, with (some of) the server's bytes arriving.
plans = st.builds(
    lambda first, rest: [first, *rest],
    st.builds(Feed, st.integers(0, 24)),
    st.lists(steps, min_size=10, max_size=50),
)


@dataclass(frozen=True)
class Setup:
    """How the session is made, and the clock when connect() is called."""

    connect: Connect
    response_timeout: float
    max_packet_size: int
    start: float


setups = st.builds(
    Setup,
    st.builds(
        Connect,
        client_id=st.just("fuzz"),
        clean_session=st.booleans(),
        keep_alive=st.sampled_from([0, 1, 2, 5, 60]) | st.integers(0, 65_535),
        protocol_level=st.sampled_from([3, 4]),
    ),
    # At least 1 ms, and clocks below 1e7 s: ``now + response_timeout`` is then always a
    # float after ``now``, so deadlines can be compared exactly.
    st.sampled_from([0.5, 10.0, 30.0]) | st.floats(1e-3, 100),
    st.sampled_from([DEFAULT_MAX_PACKET_SIZE] * 20 + [2, 4, 8, 64]),
    st.just(0.0) | st.floats(-1e6, 1e6),
)


# --------------------------------------------------------------------- the driver


def packet_ends(data: bytes) -> list[int]:
    """Where each packet of ``data`` ends, as far as the fixed headers can be read
    (MQTT 3.1.1 §2.2.3: a Remaining Length of one to four bytes)."""
    ends: list[int] = []
    pos = 0
    while pos < len(data):
        length = 0
        for index in range(pos + 1, min(pos + 5, len(data))):
            length |= (data[index] & 0x7F) << 7 * (index - pos - 1)
            if data[index] < 0x80:
                break
        else:
            break  # the header is incomplete, or five bytes long
        pos = index + 1 + length
        if pos > len(data):
            break
        ends.append(pos)
    return ends


def describe_error(error: Error | None) -> object:
    return None if error is None else (type(error), error.args, str(error))


def describe(event: Event) -> tuple[object, ...]:
    """An event as a comparable value, with the exact type of each field."""
    if isinstance(event, Connected):
        return ("Connected", type(event.session_present), event.session_present)
    if isinstance(event, PingSent):
        return ("PingSent", event.at)
    if isinstance(event, PongReceived):
        return ("PongReceived", event.round_trip)
    if isinstance(event, PacketReceived):
        return ("PacketReceived", fields(event.packet))
    assert isinstance(event, Closed), event
    return ("Closed", describe_error(event.error))


#: What one step produced: the bytes queued, the events, the state, the next deadline.
Entry = tuple[bytes, list[tuple[object, ...]], State, float | None]


class Run:
    """One Session driven step by step, with a model of what it must have done.

    ``transcript`` records what came out of each step, to compare two runs.
    """

    def __init__(self, setup: Setup, script: bytes) -> None:
        self.connect = setup.connect
        self.session = Session(
            setup.connect,
            response_timeout=setup.response_timeout,
            max_packet_size=setup.max_packet_size,
        )
        self.response_timeout = self.session.response_timeout
        self.script = script
        self.ends = packet_ends(script)
        self.now = setup.start
        self.fed = 0  # bytes of the script delivered
        self.received = 0  # bytes the session took in (it ignores what comes after CLOSED)
        self.connect_at: float | None = None
        self.pings: list[float] = []  # the unanswered PINGREQs, oldest first
        self.heard: float | None = None  # when the server's last complete packet came
        self.framer: Any = REFERENCE.Framer(
            setup.max_packet_size, protocol_level=setup.connect.protocol_level
        )
        self.last_sent: float | None = None
        self.closed_events = 0
        self.events: list[Event] = []
        self.other_packets = 0
        self.transcript: list[Entry] = []
        before = self.session.state
        self.session.connect(now=self.now)
        packets, events = self.take(before)
        assert packets == [self.connect] and events == []

    # ------------------------------------------------------------------ steps

    def step(self, step: Step) -> None:
        session = self.session
        if isinstance(step, Feed):
            data = self.script[self.fed : self.fed + step.size]
            self.fed += len(data)
            if data:
                self.receive(data)
        elif isinstance(step, Junk):
            self.receive(step.data)
        elif isinstance(step, Answer):
            if self.pings and not session.closed:
                end = next((end for end in self.ends if end >= self.fed), self.fed)
                data = self.script[self.fed : end]
                self.fed = end
                self.receive(data + PINGRESP_BYTES)
        elif isinstance(step, Pong):
            self.receive(PINGRESP_BYTES)
        elif isinstance(step, PeerCloses):
            self.receive(b"")
        elif isinstance(step, Sleep):
            self.now += step.seconds
        elif isinstance(step, Timer):
            self.now += step.seconds
            self.timer()
        elif isinstance(step, AtDeadline):
            deadline = session.next_deadline()
            if deadline is not None:
                target = math.nextafter(deadline, -math.inf) if step.early else deadline
                self.now = max(self.now, target)
            self.timer()
        elif isinstance(step, CallPing):
            self.ping()
        elif isinstance(step, CallDisconnect):
            self.disconnect()
        else:
            self.stream_fails(step.error)

    def receive(self, data: bytes) -> None:
        before = self.session.state
        if before is not State.CLOSED:
            self.received += len(data)
            if self.framer is not None and data:
                try:
                    if self.framer.feed(data):
                        self.heard = self.now
                except Error:
                    self.framer = None
        self.session.receive_data(data, now=self.now)  # raises nothing, ever
        packets, events = self.take(before)
        assert packets == [], "the server's bytes alone made the client send"
        for event in events:
            assert not isinstance(event, PingSent)
            if not isinstance(event, Closed):
                continue
            error = event.error
            if not data:
                assert isinstance(error, ConnectionClosed), event
                assert error.phase == ("CONNACK" if before is State.CONNECTING else "session")
            elif isinstance(error, ServerRefused):
                assert before is State.CONNECTING
                assert error.return_code in range(1, 6)
            else:
                assert isinstance(error, RemoteProtocolError), event
                # Offsets count from the first byte the session received.
                assert 0 <= error.offset <= self.received, (error, self.received)

    def timer(self) -> None:
        session = self.session
        before = session.state
        deadline = session.next_deadline()
        pong_due = bool(self.pings) and self.now >= self.pong_deadline()
        unanswered = len(self.pings)
        session.handle_timer(now=self.now)  # raises nothing, ever
        packets, events = self.take(before)
        if deadline is None or self.now < deadline:
            # Early or with nothing timed: harmless.
            assert packets == [] and events == []
        elif before is State.CONNECTED and not pong_due and unanswered < MAX_UNANSWERED:
            # MQTT 3.1.1 §3.1.2.10: keep-alive is due, so a PINGREQ, answered or not.
            assert packets == [PINGREQ]
            assert [describe(event) for event in events] == [("PingSent", self.now)]
        else:
            [event] = events
            assert packets == [] and isinstance(event, Closed)
            assert isinstance(event.error, ResponseTimeout)
            phase = "CONNACK" if before is State.CONNECTING else "PINGRESP"
            limit = self.response_timeout
            if before is State.CONNECTED and not pong_due:
                # MAX_UNANSWERED PINGREQs out: the end says how long the first waited.
                assert unanswered == MAX_UNANSWERED
                limit = round(self.now - self.pings[0], 1)
            assert (event.error.phase, event.error.timeout) == (phase, limit)
        # A deadline that passed was acted on: the next one is later, or there is none.
        after = session.next_deadline()
        assert after is None or after > self.now, (after, self.now)

    def pong_deadline(self) -> float:
        """The PINGRESP is due within the response timeout of its PINGREQ or of the
        server's last packet, whichever is later: a server still sending is late."""
        start = self.pings[0]
        if self.heard is not None and self.heard > start:
            start = self.heard
        return start + self.response_timeout

    def ping(self) -> None:
        session = self.session
        before = session.state
        if before is State.CONNECTED and not self.pings:
            session.ping(now=self.now)
            packets, events = self.take(before)
            assert packets == [PINGREQ]
            assert [describe(event) for event in events] == [("PingSent", self.now)]
        else:
            with pytest.raises(LocalProtocolError):
                session.ping(now=self.now)
            assert self.take(before) == ([], [])

    def disconnect(self) -> None:
        before = self.session.state
        self.session.disconnect(now=self.now)
        packets, events = self.take(before)
        if before is State.CLOSED:
            assert (packets, events) == ([], [])
        else:
            # DISCONNECT only when a CONNECT went out (MQTT 3.1.1 §3.14).
            assert packets == ([] if before is State.IDLE else [DISCONNECT])
            assert [describe(event) for event in events] == [("Closed", None)]

    def stream_fails(self, error: Error) -> None:
        before = self.session.state
        self.session.connection_lost(error, now=self.now)
        packets, events = self.take(before)
        assert packets == []
        if before is State.CLOSED:
            assert events == []
        else:
            [event] = events
            assert isinstance(event, Closed) and event.error is error

    def drain(self) -> None:
        """No more input: the timer alone ends the session (PINGREQs, one a keep-alive
        interval after the other, then the timeout of the first), unless nothing is
        timed: connected with keep-alive 0."""
        for _ in range(MAX_UNANSWERED + 3):
            deadline = self.session.next_deadline()
            if deadline is None:
                break
            self.now = max(self.now, deadline)
            self.timer()
        assert self.session.next_deadline() is None
        if not self.session.closed:
            assert self.session.state is State.CONNECTED
            assert self.connect.keep_alive == 0 and not self.pings

    # ------------------------------------------------------------ the promises

    def take(self, before: State) -> tuple[list[Packet], list[Event]]:
        """What the last step queued and reported, checked against what every step
        promises, and the model brought up to date."""
        session = self.session
        data = session.data_to_send()
        events = session.events()
        after = session.state
        assert RANK[before] <= RANK[after], (before, after)

        # Whole packets of the three types a client sends, and nothing after CLOSED but
        # the DISCONNECT of disconnect().
        framer = REFERENCE.Framer(protocol_level=self.connect.protocol_level)
        packets = framer.feed(data)
        assert framer.buffered == 0, data
        for index, packet in enumerate(packets):
            assert before is not State.CLOSED, f"{packet!r} sent after CLOSED"
            if type(packet) is Connect:
                assert before is State.IDLE and packet == self.connect
                self.connect_at = self.now
            elif type(packet) is PingReq:
                assert before is State.CONNECTED
                self.pings.append(self.now)
            else:
                assert type(packet) is Disconnect, packet
                assert after is State.CLOSED and session.error is None
                assert index == len(packets) - 1, packets
        if packets:
            self.last_sent = self.now

        # Events follow the state forward; Closed comes once, last, with a pco_wire.Error
        # or None. CONNECTING is the only state entered without an event: by the CONNECT.
        state = State.CONNECTING if before is State.IDLE and packets else before
        for event in events:
            assert state is not State.CLOSED, f"{event!r} after Closed"
            if isinstance(event, Connected):
                assert state is State.CONNECTING
                assert event.session_present is session.session_present
                # MQTT 3.1.1 §3.2.2.2: a clean session has nothing to be present.
                assert not (event.session_present and self.connect.clean_session)
                state = State.CONNECTED
            elif isinstance(event, PacketReceived):
                assert state is State.CONNECTED and type(event.packet) is OtherPacket
                self.other_packets += 1
            elif isinstance(event, PongReceived):
                assert state is State.CONNECTED and self.pings
                assert event.round_trip == self.now - self.pings.pop(0)
            elif isinstance(event, PingSent):
                assert event.at == self.now == self.pings[-1]
            else:
                assert isinstance(event, Closed), event
                assert event.error is None or isinstance(event.error, Error), event
                assert event.error is session.error
                self.closed_events += 1
                state = State.CLOSED
        assert state is after, (state, after)
        self.events += events
        assert sum(isinstance(event, PingSent) for event in events) == packets.count(PINGREQ)
        assert self.closed_events == (after is State.CLOSED)
        assert session.other_packets == self.other_packets

        # The deadline of the phase, counted from the packet that started it.
        rt = self.response_timeout
        expected: float | None = None
        if after is State.CONNECTING:
            assert self.connect_at is not None
            expected = self.connect_at + rt
        elif after is State.CONNECTED:
            keep_alive = self.connect.keep_alive
            if self.pings:
                expected = self.pong_deadline()
            if keep_alive:
                assert self.last_sent is not None
                due = self.last_sent + keep_alive - ping_margin(keep_alive)
                expected = due if expected is None else min(expected, due)
        deadline = session.next_deadline()
        assert deadline == expected, (deadline, expected)
        assert deadline is None or math.isfinite(deadline)

        self.transcript.append((data, [describe(event) for event in events], after, deadline))
        return packets, events


def drive(setup: Setup, script: bytes, plan: Sequence[Step]) -> Run:
    run = Run(setup, script)
    for step in plan:
        run.step(step)
    run.drain()
    return run


def tally(run: Run) -> None:
    """What the run came to, for --hypothesis-show-statistics: how far runs get matters."""
    connected = any(isinstance(item, Connected) for item in run.events)
    pongs = sum(isinstance(item, PongReceived) for item in run.events)
    error = run.session.error
    hypothesis.event(f"connected: {connected}, PINGRESPs: {pongs if pongs < 3 else '3+'}")
    hypothesis.event(f"closed by {type(error).__name__ if error else 'disconnect()'}")


# ----------------------------------------------------------------- the session


@SESSION_RUNS
@given(setup=setups, script=scripts, plan=plans)
def test_session_keeps_its_promises(setup: Setup, script: bytes, plan: list[Step]) -> None:
    tally(drive(setup, script, plan))


@SESSION_RUNS
@given(setup=setups, script=scripts, plan=plans)
def test_session_keeps_its_promises_with_the_whole_stream(
    setup: Setup, script: bytes, plan: list[Step]
) -> None:
    # As above, with every byte of the script delivered in the end: the mutations reach
    # the session, not only the first few bytes the steps ask for.
    tally(drive(setup, script, [*plan, Feed(len(script))]))


@SESSION_RUNS
@given(setup=setups, data=st.data())
def test_session_events_do_not_depend_on_the_chunking(setup: Setup, data: st.DataObject) -> None:
    # Packets, refusals and errors, with their offsets, are the same however the bytes
    # were cut: the session keeps the framer's count across chunks, and handles the
    # packets the framer returns before a fault, so a refusal or an unexpected packet
    # before it is the reason reported.
    script = data.draw(scripts, label="script")
    chunks = data.draw(cut(script), label="chunks")
    whole = Run(setup, script)
    whole.step(Feed(len(script)))
    pieces = Run(setup, script)
    for chunk in chunks:
        pieces.step(Feed(len(chunk)))

    def outcome(run: Run) -> tuple[object, ...]:
        events = [event for _, described, _, _ in run.transcript for event in described]
        return (events, run.session.state, describe_error(run.session.error))

    assert outcome(pieces) == outcome(whole)


# ------------------------------------------------------------ pure ≡ compiled


@pytest.fixture(scope="module")
def pair() -> tuple[Codec, Codec]:
    return load_codec("python"), load_codec("cython")


@contextmanager
def session_codec(codec: Codec) -> Iterator[None]:
    """The session with ``codec`` in place of the one pco_wire.codec picked."""
    with mock.patch.multiple(session_module, Framer=codec.Framer, encode=codec.encode):
        yield


@BOTH_CODECS
@given(setup=setups, script=scripts, plan=plans)
def test_session_alike_on_both_codecs(
    pair: tuple[Codec, Codec], setup: Setup, script: bytes, plan: list[Step]
) -> None:
    transcripts = []
    for codec in pair:
        with session_codec(codec):
            transcripts.append(drive(setup, script, [*plan, Feed(len(script))]).transcript)
    pure, compiled = transcripts
    assert compiled == pure


# --------------------------------------------------------- the reconnection policy


@dataclass(frozen=True)
class Accepted:
    """A CONNACK 0 arrives ``after`` seconds after the previous event: connected()."""

    after: float


@dataclass(frozen=True)
class Ended:
    """A connection or an attempt ends ``after`` seconds after the previous event."""

    error: Error | None
    after: float


def _is_fatal(error: Error | None) -> bool:
    """What pco_wire.reconnect promises not to retry: our own disconnect, invalid settings
    (InvalidPacket is how they show when the CONNECT is built), and the refusals that
    retrying cannot change (MQTT 3.1.1 §3.2.2.3: 1, 2, 4, 5; for 1, the fallback of
    protocol "auto" happens within the attempt)."""
    if error is None or isinstance(error, (InvalidSettings, InvalidPacket)):
        return True
    return isinstance(error, ServerRefused) and error.return_code in (1, 2, 4, 5)


CLOSED_BY_SERVER = ConnectionClosed("session", "the server closed the connection")
RETRIED: list[Error] = [
    ConnectionClosed("session", "connection reset by peer", reset=True),
    ConnectionClosed("CONNACK", "the server closed the connection without answering CONNECT"),
    ResponseTimeout("PINGRESP", 10.0),
    ResponseTimeout("TCP connect", 10.0),
    MalformedPacket("expected return code 0..5, got 6", 3),
    UnexpectedPacket("expected no PINGRESP with no PINGREQ outstanding", 4),
    TransportError("TCP connect", "connection refused"),
    TLSError("TLS handshake", "certificate verify failed", verify_code=20),
    ServerRefused(ConnAckCode.UNACCEPTABLE_PROTOCOL_VERSION),
    ServerRefused(ConnAckCode.SERVER_UNAVAILABLE),
]
FATAL: list[Error | None] = [
    None,
    ServerRefused(ConnAckCode.IDENTIFIER_REJECTED),
    ServerRefused(ConnAckCode.BAD_USERNAME_OR_PASSWORD),
    ServerRefused(ConnAckCode.NOT_AUTHORIZED),
    InvalidSettings([("client_id", "expected 1 to 23 characters, got 24")]),
    InvalidPacket("keep_alive", "expected an integer 0..65535, got 65536"),
]
# Durations around the takeover window, where < and <= differ.
durations = st.one_of(
    st.sampled_from([0.0, 0.5, TAKEOVER_WINDOW - 1e-3, TAKEOVER_WINDOW, TAKEOVER_WINDOW + 1e-3]),
    st.floats(0, 3 * TAKEOVER_WINDOW),
)
any_error = st.sampled_from(RETRIED) | st.sampled_from(FATAL)


@st.composite
def episodes(draw: st.DrawFn) -> list[Accepted | Ended]:
    """One connection, CONNACK to its end, or one attempt that failed before a CONNACK."""
    kind = draw(st.sampled_from(["closed by the server"] * 4 + ["other end"] * 2 + ["failed"] * 2))
    if kind == "failed":
        return [Ended(draw(any_error), draw(durations))]
    # The server closing soon after CONNACK is what a takeover looks like: often.
    error = CLOSED_BY_SERVER if kind == "closed by the server" else draw(st.sampled_from(RETRIED))
    return [Accepted(draw(durations)), Ended(error, draw(durations))]


def alone(event: Accepted | Ended) -> list[Accepted | Ended]:
    return [event]


def flatten(groups: list[list[Accepted | Ended]]) -> list[Accepted | Ended]:
    return [event for group in groups for event in group]


# Now and then events out of the usual order: ends without a start, starts without an end.
histories = st.lists(
    weighted(
        (8, episodes()),
        (1, st.builds(Accepted, durations).map(alone)),
        (1, st.builds(Ended, any_error, durations).map(alone)),
    ),
    max_size=20,
).map(flatten)


# The range Settings accepts for reconnect_min_delay and reconnect_max_delay.
positive = st.floats(0.1, 1e6, exclude_max=True)
delay_bounds = positive.map(lambda delay: (delay, delay)) | st.tuples(positive, positive).map(
    lambda pair: (min(pair), max(pair))
)
units = st.sampled_from([0.0, 0.5, math.nextafter(1.0, 0.0)]) | st.floats(0, 1, exclude_max=True)


@POLICY_RUNS
@given(
    bounds=delay_bounds,
    history=histories,
    constant=st.none() | units,
    data=st.data(),
)
def test_reconnect_policy(
    bounds: tuple[float, float],
    history: list[Accepted | Ended],
    constant: float | None,
    data: st.DataObject,
) -> None:
    min_delay, max_delay = bounds

    def draw_unit() -> float:
        return constant if constant is not None else data.draw(units, label="random()")

    policy = Reconnect(min_delay, max_delay, random=draw_unit)
    now = 0.0
    # The model: attempts since the last connected(), when that was, and the run of
    # accepted connections that the server ended within TAKEOVER_WINDOW.
    attempt = 0
    connected_at: float | None = None
    streak = 0
    suspected = False
    previous: float | None = None  # the last backoff delay since connected()
    for event in history:
        now += event.after
        if isinstance(event, Accepted):
            policy.connected(now)
            connected_at, attempt, previous = now, 0, None
            continue
        delay = policy.ended(event.error, now)
        was_connected_at, connected_at = connected_at, None
        if _is_fatal(event.error):
            assert delay is None, event
            continue
        assert delay is not None, event
        assert min_delay <= delay <= max_delay, (delay, bounds)
        if was_connected_at is not None:
            short = now - was_connected_at < TAKEOVER_WINDOW
            streak = streak + 1 if short and isinstance(event.error, ConnectionClosed) else 0
        suspected = suspected or streak >= TAKEOVER_COUNT
        assert policy.takeover_suspected is suspected, (streak, event)
        if suspected and streak:
            # Two gateways with one client ID: wait the longest, every time.
            assert delay == max_delay
            continue
        # Before attempt n (from 1) since connected(): between min_delay and
        # min(max_delay, min_delay * 2**n), a ceiling that only grows until then; even the
        # first wait is drawn, so that a fleet does not come back at one instant.
        attempt += 1
        ceiling = min(max_delay, min_delay * 2.0**attempt)
        assert delay <= ceiling, (delay, ceiling, attempt)
        if attempt == 1 and constant == 0.5 and 2 * min_delay <= max_delay:
            assert delay == min_delay * 1.5, (delay, min_delay)
        if constant is not None and previous is not None:
            assert delay >= previous, (delay, previous)
        previous = delay
