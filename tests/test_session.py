"""The sans-IO Session with scripted bytes and a fake clock.

``now`` is a plain float: no socket, no sleep, no real clock. Each test drives the
session the way a driver would (send what is pending, feed bytes or the timer at the
next deadline) and compares what comes out exactly: the bytes queued, the events with
their fields, the state and the next deadline.
"""

from __future__ import annotations

from itertools import pairwise

import pytest

from pco_wire import (
    ConnAckCode,
    Connect,
    InvalidPacket,
    MalformedPacket,
    OtherPacket,
    PacketTooLarge,
    PacketType,
    Will,
    encode,
)
from pco_wire.errors import (
    ConnectionClosed,
    Error,
    LocalProtocolError,
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
from pco_wire.session import (
    DEFAULT_RESPONSE_TIMEOUT,
    MAX_UNANSWERED,
    Session,
    State,
    ping_margin,
)

CONNACK_OK = b"\x20\x02\x00\x00"
CONNACK_SESSION_PRESENT = b"\x20\x02\x01\x00"
PINGREQ_BYTES = b"\xc0\x00"
PINGRESP_BYTES = b"\xd0\x00"
DISCONNECT_BYTES = b"\xe0\x00"
# PUBLISH QoS 0, topic "t", payload "a": 6 bytes on the wire.
PUBLISH_BYTES = b"\x30\x04\x00\x01ta"
PUBLISH = OtherPacket(PacketType.PUBLISH, 0, b"\x00\x01ta")
# PUBLISH QoS 1, DUP, topic "t/1", packet id 7, payload "on": 11 bytes on the wire.
STORED_PUBLISH_BYTES = b"\x3a\x09\x00\x03t/1\x00\x07on"
STORED_PUBLISH = OtherPacket(PacketType.PUBLISH, 0b1010, b"\x00\x03t/1\x00\x07on")
PUBREL_BYTES = b"\x62\x02\x00\x07"
PUBREL = OtherPacket(PacketType.PUBREL, 0b0010, b"\x00\x07")

T0 = 1000.0
GATEWAY = Connect("gateway17", keep_alive=60)


# --------------------------------------------------------------------------- helpers


def describe_error(error: Error | None) -> object:
    """An error as comparable values: its exact type, its args and its message."""
    if error is None:
        return None
    return (type(error), error.args, str(error))


def describe(events: list[Event]) -> list[tuple[object, ...]]:
    """Events as comparable tuples with the exact type of each field."""
    out: list[tuple[object, ...]] = []
    for event in events:
        if isinstance(event, Connected):
            out.append(("Connected", type(event.session_present), event.session_present))
        elif isinstance(event, PingSent):
            out.append(("PingSent", event.at))
        elif isinstance(event, PongReceived):
            out.append(("PongReceived", event.round_trip))
        elif isinstance(event, PacketReceived):
            out.append(("PacketReceived", event.packet))
        else:
            assert isinstance(event, Closed), event
            out.append(("Closed", describe_error(event.error)))
    return out


def closed(error: Error | None) -> tuple[object, ...]:
    return ("Closed", describe_error(error))


def connected_event(session_present: bool) -> tuple[object, ...]:
    return ("Connected", bool, session_present)


def closing_error(session: Session) -> Error | None:
    """The error of the single Closed event the session just produced."""
    events = session.events()
    assert len(events) == 1
    event = events[0]
    assert isinstance(event, Closed)
    assert session.state is State.CLOSED
    return event.error


def connecting(
    connect: Connect = GATEWAY, *, now: float = T0, response_timeout: float = 10.0
) -> Session:
    session = Session(connect, response_timeout=response_timeout)
    session.connect(now=now)
    assert session.data_to_send() == encode(connect)
    return session


def connected(
    connect: Connect = GATEWAY,
    *,
    now: float = T0,
    answer_after: float = 0.25,
    response_timeout: float = 10.0,
) -> Session:
    session = connecting(connect, now=now, response_timeout=response_timeout)
    session.receive_data(CONNACK_OK, now=now + answer_after)
    assert describe(session.events()) == [connected_event(False)]
    assert session.state is State.CONNECTED
    return session


# --------------------------------------------------------------------------- connect()


@pytest.mark.parametrize(
    "connect",
    [
        Connect(),
        GATEWAY,
        Connect("gw", clean_session=False, keep_alive=0),
        Connect("gw", keep_alive=65535, username="plant", password=b"Pw-0451"),
        Connect("gw", will=Will("plant/gw/status", b"offline", 1, True)),
        Connect("gw31", keep_alive=30, protocol_level=3),
    ],
    ids=["empty-id", "gateway", "persistent", "credentials", "will", "mqtt31"],
)
@pytest.mark.parametrize("now", [0.0, 12.5, 1e6])
def test_connect_queues_exactly_the_connect_encoding(connect: Connect, now: float) -> None:
    session = Session(connect, response_timeout=7.5)
    assert [session.state] == [State.IDLE]  # a list: mypy would narrow the attribute
    assert session.next_deadline() is None
    session.connect(now=now)
    assert session.data_to_send() == encode(connect)
    assert session.data_to_send() == b""
    assert session.state is State.CONNECTING
    assert session.next_deadline() == now + 7.5
    assert session.last_sent == now
    assert session.events() == []


def test_connect_bytes_are_the_spec_bytes() -> None:
    # MQTT 3.1.1 §3.1: protocol name "MQTT", level 4, clean session, keep alive 60.
    session = Session(Connect("gw", keep_alive=60))
    session.connect(now=T0)
    assert session.data_to_send() == bytes.fromhex("100e 0004 4d515454 04 02 003c 0002") + b"gw"


def test_default_response_timeout_is_ten_seconds() -> None:
    assert DEFAULT_RESPONSE_TIMEOUT == 10.0
    session = Session(GATEWAY)
    assert session.response_timeout == 10.0
    session.connect(now=T0)
    assert session.next_deadline() == T0 + 10.0


# --------------------------------------------------------------------------- CONNACK


@pytest.mark.parametrize(
    ("data", "session_present"), [(CONNACK_OK, False), (CONNACK_SESSION_PRESENT, True)]
)
def test_connack_accepted(data: bytes, session_present: bool) -> None:
    session = connecting(Connect("gw", clean_session=False))
    session.receive_data(data, now=T0 + 0.5)
    assert describe(session.events()) == [connected_event(session_present)]
    assert session.state is State.CONNECTED
    assert session.closed is False
    assert session.session_present is session_present
    assert session.data_to_send() == b""
    # The keep-alive interval counts from CONNECT, the last packet the client sent.
    assert session.next_deadline() == T0 + 60 - 1.0


@pytest.mark.parametrize("code", [1, 2, 3, 4, 5])
def test_connack_refused(code: int) -> None:
    session = connecting()
    session.receive_data(bytes((0x20, 2, 0, code)), now=T0 + 0.5)
    error = closing_error(session)
    assert isinstance(error, ServerRefused)
    assert type(error.return_code) is ConnAckCode
    assert error.return_code == code
    assert str(error) == f"the server refused the connection: {ConnAckCode(code).text}"
    assert session.next_deadline() is None
    # MQTT 3.1.1 §3.2.2.3: the server closes the connection; no DISCONNECT follows.
    assert session.data_to_send() == b""
    session.disconnect(now=T0 + 1)
    assert session.data_to_send() == b""
    assert session.events() == []
    assert session.state is State.CLOSED


def test_packets_after_a_refusal_are_not_read() -> None:
    session = connecting()
    session.receive_data(b"\x20\x02\x00\x05" + PINGRESP_BYTES + PUBLISH_BYTES, now=T0 + 0.5)
    error = closing_error(session)
    assert describe_error(error) == describe_error(ServerRefused(ConnAckCode.NOT_AUTHORIZED))
    assert session.other_packets == 0
    session.receive_data(PUBLISH_BYTES, now=T0 + 1)
    assert session.events() == []
    assert session.other_packets == 0


def test_bad_bytes_after_a_refusal_in_the_same_chunk_do_not_hide_it() -> None:
    """session.py: "what follows a refusal or an error is not read". A refusal followed in
    the same read by bytes the framer refuses must still be reported as the refusal: it
    is the answer to "why won't my gateway connect?"."""
    session = connecting()
    session.receive_data(b"\x20\x02\x00\x05" + b"\x00\x00", now=T0 + 0.5)
    assert describe(session.events()) == [closed(ServerRefused(ConnAckCode.NOT_AUTHORIZED))]


@pytest.mark.parametrize(
    ("data", "session_present"), [(CONNACK_OK, False), (CONNACK_SESSION_PRESENT, True)]
)
def test_connack_byte_by_byte(data: bytes, session_present: bool) -> None:
    session = connecting(Connect("gw", clean_session=False))
    for index in range(len(data) - 1):
        session.receive_data(data[index : index + 1], now=T0 + index)
        assert session.events() == []
        assert session.state is State.CONNECTING
        assert session.next_deadline() == T0 + 10.0
    session.receive_data(data[-1:], now=T0 + 3.5)
    assert describe(session.events()) == [connected_event(session_present)]
    assert session.state is State.CONNECTED


def test_connack_followed_by_stored_packets_in_the_same_chunk() -> None:
    session = connecting(Connect("gw", clean_session=False))
    chunk = CONNACK_SESSION_PRESENT + STORED_PUBLISH_BYTES + PUBLISH_BYTES + PUBREL_BYTES
    session.receive_data(chunk, now=T0 + 0.5)
    assert describe(session.events()) == [
        connected_event(True),
        ("PacketReceived", STORED_PUBLISH),
        ("PacketReceived", PUBLISH),
        ("PacketReceived", PUBREL),
    ]
    assert session.other_packets == 3
    assert session.state is State.CONNECTED
    assert session.data_to_send() == b""


def test_stored_packets_split_across_chunks_are_counted_once() -> None:
    session = connecting(Connect("gw", clean_session=False))
    stream = CONNACK_SESSION_PRESENT + STORED_PUBLISH_BYTES + STORED_PUBLISH_BYTES
    # CONNACK 0..3, PUBLISH 4..14, PUBLISH 15..25: cuts inside the CONNACK, inside the
    # first PUBLISH's fixed header and inside the second one's body.
    assert len(stream) == 26
    cuts = [0, 3, 5, 18, 26]
    seen: list[tuple[object, ...]] = []
    for at, (start, end) in enumerate(pairwise(cuts)):
        session.receive_data(stream[start:end], now=T0 + at)
        seen += describe(session.events())
    assert seen == [
        connected_event(True),
        ("PacketReceived", STORED_PUBLISH),
        ("PacketReceived", STORED_PUBLISH),
    ]
    assert session.other_packets == 2
    assert session.state is State.CONNECTED


def test_other_packets_while_connected_are_counted() -> None:
    session = connected()
    for index in range(5):
        session.receive_data(PUBLISH_BYTES, now=T0 + 1 + index)
    assert describe(session.events()) == [("PacketReceived", PUBLISH)] * 5
    assert session.other_packets == 5
    assert session.state is State.CONNECTED


# --------------------------------------------------------------------------- CONNACK timeout


@pytest.mark.parametrize("response_timeout", [0.5, 3, 10.0, 120.25])
def test_no_connack_by_the_deadline(response_timeout: float) -> None:
    session = connecting(response_timeout=response_timeout)
    deadline = T0 + response_timeout
    assert session.next_deadline() == deadline
    for now in (T0, T0 + response_timeout / 2, deadline - 1e-6):
        session.handle_timer(now=now)
        assert session.events() == []
        assert session.state is State.CONNECTING
        assert session.next_deadline() == deadline
    session.handle_timer(now=deadline)
    error = closing_error(session)
    assert isinstance(error, ResponseTimeout)
    assert isinstance(error, TimeoutError)
    assert error.phase == "CONNACK"
    assert type(error.timeout) is float
    assert error.timeout == response_timeout
    assert describe_error(error) == describe_error(
        ResponseTimeout("CONNACK", float(response_timeout))
    )
    assert session.next_deadline() is None
    assert session.data_to_send() == b""
    # A CONNACK that arrives after the timeout is not read.
    session.receive_data(CONNACK_OK, now=deadline + 0.1)
    assert session.events() == []
    assert session.state is State.CLOSED


def test_connack_timeout_fires_on_a_late_timer() -> None:
    session = connecting()
    session.handle_timer(now=T0 + 25.0)
    error = closing_error(session)
    assert describe_error(error) == describe_error(ResponseTimeout("CONNACK", 10.0))


# --------------------------------------------------------------------------- keep-alive


@pytest.mark.parametrize(
    ("keep_alive", "margin"),
    [(1, 0.1), (2, 0.2), (5, 0.5), (10, 1.0), (11, 1.0), (60, 1.0), (65535, 1.0)],
)
def test_ping_margin_values(keep_alive: int, margin: float) -> None:
    assert ping_margin(keep_alive) == margin


def test_ping_margin_is_small() -> None:
    for keep_alive in [*range(1, 1000), 65535]:
        margin = ping_margin(keep_alive)
        assert 0 < margin <= 1.0
        assert margin <= keep_alive / 10


KEEP_ALIVES = [1, 2, 10, 60, 65535]


@pytest.mark.parametrize("keep_alive", KEEP_ALIVES)
def test_first_pingreq_goes_out_at_keep_alive_minus_margin(keep_alive: int) -> None:
    session = connected(Connect("gw", keep_alive=keep_alive), answer_after=0.05)
    deadline = T0 + keep_alive - ping_margin(keep_alive)
    assert session.next_deadline() == deadline
    session.handle_timer(now=T0 + 0.06)
    session.handle_timer(now=deadline - 1e-6)
    assert session.data_to_send() == b""
    assert session.events() == []
    assert session.next_deadline() == deadline
    session.handle_timer(now=deadline)
    assert session.data_to_send() == PINGREQ_BYTES
    assert describe(session.events()) == [("PingSent", deadline)]
    assert session.last_sent == deadline
    # Now the PINGRESP is due, or the next PINGREQ if the keep-alive comes first.
    margin = ping_margin(keep_alive)
    assert session.next_deadline() == min(deadline + 10.0, deadline + keep_alive - margin)


@pytest.mark.parametrize("keep_alive", KEEP_ALIVES)
def test_long_run_gaps_stay_within_keep_alive(keep_alive: int) -> None:
    """1000 pings driven the way a driver would: the timer at next_deadline (sometimes a
    little late, sometimes also early for nothing), PINGRESP after a small delay."""
    margin = ping_margin(keep_alive)
    delay = min(0.05, keep_alive / 40)
    session = connected(Connect("gw", keep_alive=keep_alive), answer_after=delay)
    sent = [T0]
    for index in range(1000):
        deadline = session.next_deadline()
        assert deadline is not None
        # An early wake-up sends nothing: no needless ping.
        session.handle_timer(now=deadline - margin / 2)
        assert session.data_to_send() == b""
        assert session.events() == []
        # A timer firing late by up to 0.4 margins still keeps the gap within keep_alive.
        now = deadline + (index % 5) * margin / 10
        session.handle_timer(now=now)
        assert session.data_to_send() == PINGREQ_BYTES
        sent.append(now)
        # Only one PINGREQ is outstanding: the timer before the PINGRESP sends nothing.
        session.handle_timer(now=now + delay / 2)
        assert session.data_to_send() == b""
        session.receive_data(PINGRESP_BYTES, now=now + delay)
        assert describe(session.events()) == [
            ("PingSent", now),
            ("PongReceived", (now + delay) - now),
        ]
    assert session.state is State.CONNECTED
    gaps = [later - earlier for earlier, later in pairwise(sent)]
    assert len(gaps) == 1000
    assert max(gaps) <= keep_alive
    # Floats near T0 + 1000 * 65535 carry about 1e-8 of rounding.
    assert min(gaps) >= keep_alive - margin - 1e-6


def test_keep_alive_counts_from_the_last_packet_sent() -> None:
    session = connected(Connect("gw", keep_alive=30))
    session.ping(now=T0 + 5.0)
    assert session.data_to_send() == PINGREQ_BYTES
    session.receive_data(PINGRESP_BYTES, now=T0 + 5.5)
    assert describe(session.events()) == [("PingSent", T0 + 5.0), ("PongReceived", 0.5)]
    assert session.next_deadline() == T0 + 5.0 + 30 - 1.0


def test_connack_later_than_keep_alive_pings_at_once() -> None:
    session = connecting(Connect("gw", keep_alive=2))
    session.receive_data(CONNACK_OK, now=T0 + 3.0)
    assert describe(session.events()) == [connected_event(False)]
    assert session.next_deadline() == T0 + 2 - 0.2
    session.handle_timer(now=T0 + 3.0)
    assert session.data_to_send() == PINGREQ_BYTES
    assert describe(session.events()) == [("PingSent", T0 + 3.0)]


def test_keep_alive_zero_never_pings() -> None:
    session = connected(Connect("gw", keep_alive=0))
    assert session.next_deadline() is None
    for now in (T0 + 1, T0 + 65535, T0 + 1e9):
        session.handle_timer(now=now)
        assert session.data_to_send() == b""
        assert session.events() == []
        assert session.next_deadline() is None
    # A ping on request still works, and its answer is timed.
    session.ping(now=T0 + 2e9)
    assert session.data_to_send() == PINGREQ_BYTES
    assert session.next_deadline() == T0 + 2e9 + 10.0
    session.receive_data(PINGRESP_BYTES, now=T0 + 2e9 + 0.5)
    assert describe(session.events()) == [("PingSent", T0 + 2e9), ("PongReceived", 0.5)]
    assert session.next_deadline() is None


# --------------------------------------------------------------------------- PINGREQ / PINGRESP


def test_pingresp_gives_the_exact_round_trip() -> None:
    session = connected()
    session.ping(now=T0 + 2.5)
    assert session.data_to_send() == PINGREQ_BYTES
    assert describe(session.events()) == [("PingSent", T0 + 2.5)]
    session.receive_data(PINGRESP_BYTES, now=T0 + 2.75)
    assert describe(session.events()) == [("PongReceived", 0.25)]
    assert session.state is State.CONNECTED


def test_pingresp_byte_by_byte() -> None:
    session = connected()
    session.ping(now=T0 + 2.0)
    session.events()
    session.receive_data(PINGRESP_BYTES[:1], now=T0 + 2.5)
    assert session.events() == []
    session.receive_data(PINGRESP_BYTES[1:], now=T0 + 3.0)
    assert describe(session.events()) == [("PongReceived", 1.0)]


def test_a_late_pingresp_does_not_stop_the_keep_alive() -> None:
    # MQTT 3.1.1 §3.1.2.10 holds whatever the answers do: a server still sending a
    # backlog answers the first PINGREQ late, and a second one goes out on time.
    session = connected(Connect("gw", keep_alive=10), response_timeout=15.0)
    session.handle_timer(now=T0 + 9.0)
    assert session.data_to_send() == PINGREQ_BYTES
    assert describe(session.events()) == [("PingSent", T0 + 9.0)]
    session.handle_timer(now=T0 + 18.0)
    assert session.data_to_send() == PINGREQ_BYTES
    assert describe(session.events()) == [("PingSent", T0 + 18.0)]
    # Only the keep-alive sends them: ping() is for when nothing is outstanding.
    with pytest.raises(LocalProtocolError) as info:
        session.ping(now=T0 + 18.5)
    assert str(info.value) == "ping() while a PINGREQ is outstanding"
    assert session.data_to_send() == b""
    # The answers come in order: each round trip from its own PINGREQ.
    session.receive_data(PINGRESP_BYTES, now=T0 + 20.0)
    session.receive_data(PINGRESP_BYTES, now=T0 + 20.5)
    assert describe(session.events()) == [("PongReceived", 11.0), ("PongReceived", 2.5)]
    assert session.state is State.CONNECTED


def test_a_server_still_sending_is_late_not_gone() -> None:
    # The PINGRESP deadline counts from the server's last packet when that is later.
    session = connected(Connect("gw", keep_alive=60), response_timeout=5.0)
    session.ping(now=T0 + 1.0)
    session.events()
    session.receive_data(bytes.fromhex("30030001") + b"t", now=T0 + 4.0)
    assert session.next_deadline() == T0 + 9.0
    session.handle_timer(now=T0 + 8.9)
    assert session.state is State.CONNECTED
    assert describe(session.events()) == [("PacketReceived", OtherPacket(3, 0, b"\x00\x01t"))]
    # A partial packet is not a sign of life: bytes trickled to keep us waiting.
    session.receive_data(bytes.fromhex("3003"), now=T0 + 8.95)
    assert session.next_deadline() == T0 + 9.0
    session.handle_timer(now=T0 + 9.0)
    assert describe_error(closing_error(session)) == describe_error(
        ResponseTimeout("PINGRESP", 5.0)
    )


def test_a_server_that_never_answers_a_pingreq_is_given_up() -> None:
    session = connected(Connect("gw", keep_alive=1), response_timeout=30.0)
    now = T0
    for _ in range(MAX_UNANSWERED):
        deadline = session.next_deadline()
        assert deadline is not None
        now = deadline
        session.handle_timer(now=now)
        assert session.data_to_send() == PINGREQ_BYTES
        # It keeps sending other packets, so it is not silent.
        session.receive_data(bytes.fromhex("30030001") + b"t", now=now)
    session.events()
    now = session.next_deadline() or 0.0
    session.handle_timer(now=now)
    assert session.data_to_send() == b""
    [event] = session.events()
    assert isinstance(event, Closed)
    waited = round(now - (T0 + 0.9), 1)
    assert str(event.error) == (
        f"PINGRESP: no answer within {waited:g} s ({MAX_UNANSWERED} PINGREQs unanswered "
        "while the server kept sending)"
    )


def test_a_silent_server_is_given_up_one_response_timeout_after_the_first_pingreq() -> None:
    # Worked by hand: keep-alive 1 (a PINGREQ every 0.9 s), response timeout 10, nothing
    # from the server: PINGREQs at 0.9, 1.8, ... 10.8, and the end at 0.9 + 10.
    session = connected(Connect("gw", keep_alive=1), answer_after=0.0, response_timeout=10.0)
    pings = []
    while session.state is State.CONNECTED:
        deadline = session.next_deadline()
        assert deadline is not None
        session.handle_timer(now=deadline)
        if session.data_to_send() == PINGREQ_BYTES:
            pings.append(round(deadline - T0, 6))
    assert pings == [round(0.9 * k, 6) for k in range(1, 13)]
    [*_, closed] = session.events()
    assert isinstance(closed, Closed) and isinstance(closed.error, ResponseTimeout)
    assert str(closed.error) == "PINGRESP: no answer within 10 s"


@pytest.mark.parametrize("response_timeout", [0.5, 10.0, 30])
def test_missing_pingresp_times_out_exactly(response_timeout: float) -> None:
    session = connected(Connect("gw", keep_alive=60), response_timeout=response_timeout)
    ping_at = T0 + 59.0
    session.handle_timer(now=ping_at)
    assert session.data_to_send() == PINGREQ_BYTES
    session.events()
    assert session.next_deadline() == ping_at + response_timeout
    session.handle_timer(now=ping_at + response_timeout - 1e-6)
    assert session.events() == []
    assert session.state is State.CONNECTED
    session.handle_timer(now=ping_at + response_timeout)
    error = closing_error(session)
    assert isinstance(error, ResponseTimeout)
    assert error.phase == "PINGRESP"
    assert error.timeout == response_timeout
    assert describe_error(error) == describe_error(
        ResponseTimeout("PINGRESP", float(response_timeout))
    )
    assert session.next_deadline() is None
    assert session.data_to_send() == b""


# --------------------------------------------------------------------------- unexpected packets


def unexpected(reason: str, offset: int) -> object:
    return describe_error(UnexpectedPacket(reason, offset))


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (PINGRESP_BYTES, "expected CONNACK first, got PINGRESP"),
        (PINGREQ_BYTES, "expected CONNACK first, got PINGREQ"),
        (DISCONNECT_BYTES, "expected CONNACK first, got DISCONNECT"),
        (PUBLISH_BYTES, "expected CONNACK first, got PUBLISH"),
        (encode(Connect("server")), "expected CONNACK first, got CONNECT"),
    ],
    ids=["pingresp", "pingreq", "disconnect", "publish", "connect"],
)
def test_unexpected_packet_before_connack(data: bytes, reason: str) -> None:
    session = connecting()
    session.receive_data(data + CONNACK_OK, now=T0 + 0.5)
    error = closing_error(session)
    assert isinstance(error, UnexpectedPacket)
    assert describe_error(error) == unexpected(reason, 0)
    assert str(error) == f"{reason} (at byte 0)"
    assert session.data_to_send() == b""


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (CONNACK_OK, "expected no CONNACK after the first one"),
        (CONNACK_SESSION_PRESENT, "expected no CONNACK after the first one"),
        (b"\x20\x02\x00\x05", "expected no CONNACK after the first one"),
        (encode(Connect("server")), "expected no CONNECT from a server"),
        (PINGREQ_BYTES, "expected no PINGREQ from a server"),
        (DISCONNECT_BYTES, "expected no DISCONNECT from a server"),
        (PINGRESP_BYTES, "expected no PINGRESP with no PINGREQ outstanding"),
    ],
    ids=["connack", "connack-sp", "connack-refused", "connect", "pingreq", "disconnect", "pong"],
)
def test_unexpected_packet_once_connected(data: bytes, reason: str) -> None:
    session = connected()
    session.receive_data(data, now=T0 + 1)
    assert describe(session.events()) == [closed(UnexpectedPacket(reason, 4))]
    assert session.state is State.CLOSED
    assert session.data_to_send() == b""


def test_unexpected_packet_offset_after_other_packets_in_the_chunk() -> None:
    session = connected()
    # 4 (CONNACK) + 6 + 6 = 16; the bytes after the PINGRESP are not read.
    session.receive_data(PUBLISH_BYTES * 2 + PINGRESP_BYTES + PUBLISH_BYTES, now=T0 + 1)
    assert describe(session.events()) == [
        ("PacketReceived", PUBLISH),
        ("PacketReceived", PUBLISH),
        closed(UnexpectedPacket("expected no PINGRESP with no PINGREQ outstanding", 16)),
    ]
    assert session.other_packets == 2


def test_unexpected_packet_offset_with_a_partial_packet_held() -> None:
    session = connected()
    session.receive_data(PUBLISH_BYTES[:3], now=T0 + 1)  # offsets 4..6, then 7..9
    session.receive_data(PUBLISH_BYTES[3:] + PINGREQ_BYTES + PUBLISH_BYTES[:2], now=T0 + 2)
    assert describe(session.events()) == [
        ("PacketReceived", PUBLISH),
        closed(UnexpectedPacket("expected no PINGREQ from a server", 10)),
    ]


def test_unsolicited_pingresp_after_an_answered_ping() -> None:
    session = connected()
    session.ping(now=T0 + 1)
    session.receive_data(PINGRESP_BYTES, now=T0 + 1.5)  # offsets 4, 5
    session.receive_data(PUBLISH_BYTES, now=T0 + 2)  # offsets 6..11
    assert describe(session.events()) == [
        ("PingSent", T0 + 1),
        ("PongReceived", 0.5),
        ("PacketReceived", PUBLISH),
    ]
    session.receive_data(PINGRESP_BYTES, now=T0 + 3)
    assert describe(session.events()) == [
        closed(UnexpectedPacket("expected no PINGRESP with no PINGREQ outstanding", 12))
    ]


def test_two_pingresps_for_one_pingreq_in_one_chunk() -> None:
    session = connected()
    session.ping(now=T0 + 1)
    session.events()
    session.receive_data(PINGRESP_BYTES * 2, now=T0 + 1.25)
    assert describe(session.events()) == [
        ("PongReceived", 0.25),
        closed(UnexpectedPacket("expected no PINGRESP with no PINGREQ outstanding", 6)),
    ]


def test_unexpected_packet_offset_with_a_padded_length_after_it() -> None:
    """README: non-minimal Remaining Length encodings are accepted. A PUBLISH whose
    length 4 is written as 0x84 0x00 follows an unsolicited PINGRESP at byte 4."""
    session = connected()
    padded_publish = b"\x30\x84\x00\x00\x01ta"
    session.receive_data(PINGRESP_BYTES + padded_publish, now=T0 + 1)
    assert describe(session.events()) == [
        closed(UnexpectedPacket("expected no PINGRESP with no PINGREQ outstanding", 4))
    ]


def test_connect_from_the_server_that_our_encoder_refuses() -> None:
    """A well-formed MQTT 3.1.1 CONNECT with an empty client ID and clean session off
    (a server answers it with return code 2; it is not malformed) arrives instead of
    CONNACK. The peer's bytes must end the session with UnexpectedPacket, never raise
    out of receive_data."""
    server_connect = bytes.fromhex("100c00044d5154540400003c0000")
    session = connecting()
    session.receive_data(server_connect, now=T0 + 0.5)
    assert describe(session.events()) == [
        closed(UnexpectedPacket("expected CONNACK first, got CONNECT", 0))
    ]


def test_mqtt31_packet_with_flags_our_encoder_refuses_after_an_unexpected_one() -> None:
    """MQTT 3.1 lets a SUBACK carry QoS bits (the framer accepts 0x92); it follows an
    unsolicited PINGRESP in the same chunk."""
    session = connected(Connect("gw31", protocol_level=3))
    session.receive_data(PINGRESP_BYTES + b"\x92\x03\x00\x01\x00", now=T0 + 1)
    assert describe(session.events()) == [
        closed(UnexpectedPacket("expected no PINGRESP with no PINGREQ outstanding", 4))
    ]


# --------------------------------------------------------------------------- malformed bytes


@pytest.mark.parametrize(
    ("data", "reason", "offset"),
    [
        (b"\x20\x03\x00\x00\x00", "expected remaining length 2 for CONNACK, got 3", 1),
        (b"\x20\x02\x00\x06", "expected return code 0..5, got 6", 3),
        (
            b"\x20\x02\x02\x00",
            "expected connect acknowledge flags 0 or 1 (bits 7..1 reserved), got 0x02",
            2,
        ),
        (b"\x20\x02\x01\x04", "expected session present 0 with return code 4, got 1", 2),
        (b"\x00\x00", "expected a packet type 1..14, got 0 (reserved)", 0),
    ],
)
def test_malformed_bytes_while_connecting(data: bytes, reason: str, offset: int) -> None:
    session = connecting()
    session.receive_data(data, now=T0 + 0.5)
    error = closing_error(session)
    assert type(error) is MalformedPacket
    assert describe_error(error) == describe_error(MalformedPacket(reason, offset))
    assert session.data_to_send() == b""


@pytest.mark.parametrize(
    ("data", "reason", "offset"),
    [
        (b"\xd0\x01\x00", "expected remaining length 0 for PINGRESP, got 1", 5),
        (PUBLISH_BYTES + b"\xf0\x00", "expected a packet type 1..14, got 15 (reserved)", 10),
        (b"\x36\x00", "expected PUBLISH QoS 0..2, got 3", 4),
        (
            b"\x30\xff\xff\xff\xff",
            "expected the remaining length to end within 4 bytes, got a continuation bit in "
            "the 4th",
            8,
        ),
    ],
)
def test_malformed_bytes_once_connected(data: bytes, reason: str, offset: int) -> None:
    session = connected()
    session.receive_data(data, now=T0 + 1)
    events = describe(session.events())
    # Complete packets before the fault in the same chunk are still delivered.
    before = [("PacketReceived", PUBLISH)] if data.startswith(PUBLISH_BYTES) else []
    assert events == [*before, closed(MalformedPacket(reason, offset))]
    assert session.state is State.CLOSED


def test_malformed_bytes_fed_byte_by_byte_keep_the_framer_offset() -> None:
    session = connected()
    # CONNACK 0..3, PUBLISH 4..9, PUBREL 10..13, then a PINGRESP announcing 1 byte.
    stream = PUBLISH_BYTES + PUBREL_BYTES + b"\xd0\x01\x00"
    for index, byte in enumerate(stream):
        session.receive_data(bytes((byte,)), now=T0 + 1 + index)
    assert describe(session.events()) == [
        ("PacketReceived", PUBLISH),
        ("PacketReceived", PUBREL),
        closed(MalformedPacket("expected remaining length 0 for PINGRESP, got 1", 15)),
    ]


def test_packet_too_large_for_the_session_limit() -> None:
    session = Session(GATEWAY, max_packet_size=16)
    session.connect(now=T0)
    session.receive_data(CONNACK_OK, now=T0 + 0.5)
    session.events()
    session.receive_data(b"\x30\x0f", now=T0 + 1)  # 17 bytes announced, body not sent
    error = closing_error(session)
    assert isinstance(error, PacketTooLarge)
    assert (error.offset, error.size, error.limit) == (4, 17, 16)
    assert str(error) == (
        "expected a packet of at most 16 bytes, got a header announcing 17 (at byte 4)"
    )


# ------------------------------------------------------ packets in the chunk of a fault
# The framer returns the packets completed before a fault with it; the session handles
# them first, so a refusal or an unexpected packet among them is the reason reported.


def test_refusal_split_across_chunks_before_bad_bytes_is_the_reason() -> None:
    session = connecting()
    session.receive_data(b"\x20\x02\x00", now=T0 + 0.25)
    session.receive_data(b"\x05\x00\x00", now=T0 + 0.5)
    assert describe(session.events()) == [closed(ServerRefused(ConnAckCode.NOT_AUTHORIZED))]


def test_connack_and_packets_before_bad_bytes_in_one_chunk_are_delivered() -> None:
    session = connecting(Connect("gw", clean_session=False))
    # CONNACK 0..3, PUBLISH 4..14, PUBREL 15..18, then a PUBLISH of QoS 3 at 19.
    chunk = CONNACK_SESSION_PRESENT + STORED_PUBLISH_BYTES + PUBREL_BYTES + b"\x36\x00"
    session.receive_data(chunk, now=T0 + 0.5)
    assert describe(session.events()) == [
        connected_event(True),
        ("PacketReceived", STORED_PUBLISH),
        ("PacketReceived", PUBREL),
        closed(MalformedPacket("expected PUBLISH QoS 0..2, got 3", 19)),
    ]
    assert session.accepted
    assert session.other_packets == 2


def test_unexpected_packet_before_bad_bytes_in_one_chunk_is_the_reason() -> None:
    session = connected()
    # PUBLISH 4..9, an unsolicited PINGRESP at 10, then a reserved type.
    session.receive_data(PUBLISH_BYTES + PINGRESP_BYTES + b"\x00\x00", now=T0 + 1)
    assert describe(session.events()) == [
        ("PacketReceived", PUBLISH),
        closed(UnexpectedPacket("expected no PINGRESP with no PINGREQ outstanding", 10)),
    ]


@pytest.mark.parametrize("held", [1, 2, 3, 5, 6, 100, 202])
def test_unexpected_packet_offset_after_a_long_packet_held(held: int) -> None:
    # A PUBLISH of 200 bytes of body (fixed header 30 c8 01, 203 bytes) at 4..206, cut
    # after ``held`` bytes, in the header or the body; then a PINGREQ at 207, then bad
    # bytes: only the packet's first bytes are kept to find where the PINGREQ began.
    publish = encode(OtherPacket(PacketType.PUBLISH, 0, b"\x00\x01t" + bytes(197)))
    assert publish[:3] == b"\x30\xc8\x01"
    session = connected()
    session.receive_data(publish[:held], now=T0 + 1)
    assert session.events() == []
    session.receive_data(publish[held:] + PINGREQ_BYTES + b"\xf0\x00", now=T0 + 2)
    assert describe(session.events()) == [
        ("PacketReceived", OtherPacket(PacketType.PUBLISH, 0, b"\x00\x01t" + bytes(197))),
        closed(UnexpectedPacket("expected no PINGREQ from a server", 207)),
    ]


def test_unexpected_packet_offset_with_a_header_held_over_many_chunks() -> None:
    # PUBLISH 4..206 as above, fed a byte at a time up to its 150th byte.
    publish = encode(OtherPacket(PacketType.PUBLISH, 0, b"\x00\x01t" + bytes(197)))
    session = connected()
    for index in range(150):
        session.receive_data(publish[index : index + 1], now=T0 + 1)
    session.receive_data(publish[150:] + PUBLISH_BYTES + DISCONNECT_BYTES, now=T0 + 2)
    assert describe(session.events())[-1] == closed(
        UnexpectedPacket("expected no DISCONNECT from a server", 213)
    )


@pytest.mark.parametrize(
    ("header", "reason"),
    [
        (b"\x20\x03", "expected remaining length 2 for CONNACK, got 3"),
        (b"\x20\x80\x01", "expected remaining length 2 for CONNACK, got 128"),
        (b"\x21\x02", "expected fixed-header flags 0000 for CONNACK, got 0001"),
    ],
    ids=["length-3", "length-128", "flags"],
)
def test_bad_connack_header_is_refused_before_its_body(header: bytes, reason: str) -> None:
    session = connecting()
    session.receive_data(header, now=T0 + 0.5)
    offset = 0 if "flags" in reason else 1
    assert describe(session.events()) == [closed(MalformedPacket(reason, offset))]
    assert session.next_deadline() is None


def test_pingresp_with_a_length_is_refused_before_its_body() -> None:
    session = connected()
    session.ping(now=T0 + 1)
    session.events()
    session.receive_data(b"\xd0\x01", now=T0 + 1.5)
    assert describe(session.events()) == [
        closed(MalformedPacket("expected remaining length 0 for PINGRESP, got 1", 5))
    ]


# --------------------------------------------------------------------------- the peer closes


def test_peer_closes_while_connecting() -> None:
    session = connecting()
    session.receive_data(b"", now=T0 + 0.5)
    error = closing_error(session)
    assert isinstance(error, ConnectionClosed)
    assert isinstance(error, OSError)
    assert describe_error(error) == describe_error(
        ConnectionClosed("CONNACK", "the server closed the connection without answering CONNECT")
    )
    assert (error.phase, error.reset) == ("CONNACK", False)
    assert session.next_deadline() is None
    assert session.data_to_send() == b""


def test_peer_closes_after_half_a_connack() -> None:
    session = connecting()
    session.receive_data(CONNACK_OK[:2], now=T0 + 0.5)
    session.receive_data(b"", now=T0 + 0.6)
    error = closing_error(session)
    assert isinstance(error, ConnectionClosed)
    assert error.phase == "CONNACK"


def test_peer_closes_once_connected() -> None:
    session = connected()
    session.receive_data(b"", now=T0 + 30)
    error = closing_error(session)
    assert describe_error(error) == describe_error(
        ConnectionClosed("session", "the server closed the connection")
    )
    assert isinstance(error, ConnectionClosed)
    assert error.phase == "session"


@pytest.mark.parametrize("state", ["connecting", "connected"])
def test_connection_lost_reports_the_drivers_error(state: str) -> None:
    session = connecting() if state == "connecting" else connected()
    error = TLSError("session", "tlsv1 alert internal error", ssl_reason="TLSV1_ALERT")
    session.connection_lost(error, now=T0 + 3)
    assert closing_error(session) is error
    assert session.data_to_send() == b""
    assert session.next_deadline() is None
    # A second report after the end changes nothing.
    session.connection_lost(TransportError("session", "reset"), now=T0 + 4)
    assert session.events() == []


# --------------------------------------------------------------------------- disconnect()


def test_disconnect_after_connect_queues_disconnect() -> None:
    session = Session(GATEWAY)
    session.connect(now=T0)
    session.disconnect(now=T0 + 0.1)
    assert session.data_to_send() == encode(GATEWAY) + DISCONNECT_BYTES
    assert describe(session.events()) == [closed(None)]
    assert session.state is State.CLOSED
    assert session.next_deadline() is None
    assert session.last_sent == T0 + 0.1


def test_disconnect_once_connected() -> None:
    session = connected()
    session.disconnect(now=T0 + 5)
    assert session.data_to_send() == DISCONNECT_BYTES
    assert describe(session.events()) == [closed(None)]
    # Twice is harmless: nothing more is queued or reported.
    session.disconnect(now=T0 + 6)
    assert session.data_to_send() == b""
    assert session.events() == []
    assert session.state is State.CLOSED


def test_disconnect_with_a_ping_outstanding() -> None:
    session = connected()
    session.ping(now=T0 + 1)
    session.disconnect(now=T0 + 1.5)
    assert session.data_to_send() == PINGREQ_BYTES + DISCONNECT_BYTES
    assert describe(session.events()) == [("PingSent", T0 + 1), closed(None)]
    session.handle_timer(now=T0 + 100)
    assert session.events() == []


def test_disconnect_before_connect_queues_nothing() -> None:
    session = Session(GATEWAY)
    session.disconnect(now=T0)
    assert session.data_to_send() == b""
    assert describe(session.events()) == [closed(None)]
    assert session.state is State.CLOSED
    session.disconnect(now=T0 + 1)
    assert session.data_to_send() == b""
    assert session.events() == []
    with pytest.raises(LocalProtocolError) as info:
        session.connect(now=T0 + 2)
    assert str(info.value) == "connect() needs a new session, this one is closed"
    assert session.data_to_send() == b""


def test_disconnect_after_a_timeout_queues_nothing() -> None:
    session = connected()
    session.ping(now=T0 + 1)
    session.handle_timer(now=T0 + 11)
    assert session.data_to_send() == PINGREQ_BYTES
    assert describe(session.events()) == [
        ("PingSent", T0 + 1),
        closed(ResponseTimeout("PINGRESP", 10.0)),
    ]
    session.disconnect(now=T0 + 12)
    assert session.data_to_send() == b""
    assert session.events() == []


# --------------------------------------------------------------------------- commands out of order


def test_connect_twice() -> None:
    session = connecting()
    with pytest.raises(LocalProtocolError) as info:
        session.connect(now=T0 + 1)
    assert str(info.value) == "connect() needs a new session, this one is connecting"
    assert session.data_to_send() == b""
    assert session.next_deadline() == T0 + 10.0
    session.receive_data(CONNACK_OK, now=T0 + 2)
    session.events()
    with pytest.raises(LocalProtocolError) as info:
        session.connect(now=T0 + 3)
    assert str(info.value) == "connect() needs a new session, this one is connected"


def test_ping_before_connect_and_before_connack() -> None:
    session = Session(GATEWAY)
    with pytest.raises(LocalProtocolError) as info:
        session.ping(now=T0)
    assert str(info.value) == "ping() needs a connected session, this one is idle"
    session.connect(now=T0)
    session.data_to_send()
    with pytest.raises(LocalProtocolError) as info:
        session.ping(now=T0 + 1)
    assert str(info.value) == "ping() needs a connected session, this one is connecting"
    assert session.data_to_send() == b""
    assert session.events() == []
    assert session.state is State.CONNECTING


def test_ping_after_close() -> None:
    session = connected()
    session.disconnect(now=T0 + 1)
    session.data_to_send()
    with pytest.raises(LocalProtocolError) as info:
        session.ping(now=T0 + 2)
    assert str(info.value) == "ping() needs a connected session, this one is closed"
    assert session.data_to_send() == b""


def test_local_protocol_error_is_ours() -> None:
    assert issubclass(LocalProtocolError, Error)


# --------------------------------------------------------------------------- after CLOSED


@pytest.mark.parametrize(
    "data",
    [CONNACK_OK, PINGRESP_BYTES, PUBLISH_BYTES, b"\x00\x00\xff", b""],
    ids=["connack", "pingresp", "publish", "garbage", "eof"],
)
def test_data_after_close_is_ignored(data: bytes) -> None:
    session = connected()
    session.disconnect(now=T0 + 1)
    session.data_to_send()
    session.events()
    session.receive_data(data, now=T0 + 2)
    session.handle_timer(now=T0 + 1e6)
    assert session.events() == []
    assert session.data_to_send() == b""
    assert session.state is State.CLOSED
    assert session.other_packets == 0
    assert session.next_deadline() is None


# --------------------------------------------------------------------------- construction


@pytest.mark.parametrize(
    "response_timeout",
    [0, 0.0, -0.0, -1, -1e-9, float("nan"), "10", None, True],
    ids=["0", "0.0", "-0.0", "-1", "tiny-negative", "nan", "str", "none", "true"],
)
def test_bad_response_timeout(response_timeout: object) -> None:
    with pytest.raises(LocalProtocolError) as info:
        Session(GATEWAY, response_timeout=response_timeout)  # type: ignore[arg-type]
    assert str(info.value) == f"expected a positive response_timeout, got {response_timeout!r}"


@pytest.mark.parametrize("response_timeout", [1e-3, 1, 2.5, 300])
def test_good_response_timeout_becomes_a_float(response_timeout: float) -> None:
    session = Session(GATEWAY, response_timeout=response_timeout)
    assert type(session.response_timeout) is float
    assert session.response_timeout == response_timeout


@pytest.mark.parametrize(
    ("connect", "field"),
    [
        (Connect("", clean_session=False), "client_id"),
        (Connect("gw", keep_alive=65536), "keep_alive"),
        (Connect("gw", keep_alive=-1), "keep_alive"),
        (Connect("gw", password=b"Pw-0451"), "password"),
        (Connect("gw", will=Will("plant/+/status", b"offline")), "will.topic"),
        (Connect("", protocol_level=3), "client_id"),
        (Connect("x" * 24, protocol_level=3), "client_id"),
        (Connect("gw", protocol_level=6), "protocol_level"),
    ],
)
def test_invalid_connect_is_refused_at_construction(connect: Connect, field: str) -> None:
    with pytest.raises(InvalidPacket) as info:
        Session(connect)
    assert info.value.field == field


# --------------------------------------------------------------------------- MQTT 3.1


@pytest.mark.parametrize(
    ("data", "level", "expected"),
    [
        # MQTT 3.1: the first CONNACK byte is reserved and unused; session present is False.
        (b"\x20\x02\x01\x00", 3, connected_event(False)),
        (b"\x20\x02\xff\x00", 3, connected_event(False)),
        (b"\x20\x02\x01\x05", 3, closed(ServerRefused(ConnAckCode.NOT_AUTHORIZED))),
        # The same bytes in MQTT 3.1.1 (§3.2.2.1, §3.2.2.2).
        (b"\x20\x02\x01\x00", 4, connected_event(True)),
        (
            b"\x20\x02\xff\x00",
            4,
            closed(
                MalformedPacket(
                    "expected connect acknowledge flags 0 or 1 (bits 7..1 reserved), got 0xff", 2
                )
            ),
        ),
        (
            b"\x20\x02\x01\x05",
            4,
            closed(MalformedPacket("expected session present 0 with return code 5, got 1", 2)),
        ),
    ],
)
def test_connack_decoded_the_way_of_the_protocol_level(
    data: bytes, level: int, expected: tuple[object, ...]
) -> None:
    # Clean session off: with it on, session present 1 would break §3.2.2.2 (tested below).
    connect = Connect("gw31", clean_session=False, protocol_level=level)
    session = connecting(connect)
    session.receive_data(data, now=T0 + 0.5)
    assert describe(session.events()) == [expected]


def test_session_present_with_clean_session_on_is_a_protocol_error() -> None:
    session = connecting(Connect("gw1", clean_session=True))
    session.receive_data(b"\x20\x02\x01\x00", now=T0 + 0.5)
    assert describe(session.events()) == [
        closed(UnexpectedPacket("expected session present 0 with clean session on, got 1", 0))
    ]
    assert session.data_to_send() == b""


def test_mqtt31_connect_names_its_protocol() -> None:
    session = connecting(Connect("gw31", keep_alive=30, protocol_level=3))
    session.receive_data(CONNACK_OK, now=T0 + 0.5)
    assert describe(session.events()) == [connected_event(False)]
    # MQTT 3.1 §3.1: "MQIsdp", level 3.
    session2 = Session(Connect("gw31", keep_alive=30, protocol_level=3))
    session2.connect(now=T0)
    assert session2.data_to_send() == (
        bytes.fromhex("1012 0006 4d5149736470 03 02 001e 0004") + b"gw31"
    )
