"""The supervisor on a fake clock: every decision of the reconnection loop, no sleeping.

``play`` is the loop both clients run (pco_wire/sync/client.py, pco_wire/asyncio/client.py),
with the network replaced by a script and the clock by a float: each step of the script
says how one attempt ends (accepted, then lost after some seconds; or failed), and the
clock moves by exactly the delays the supervisor asks for. The delays, the attempts and
the events (Record values, compared with ==) are then checked exactly, with the backoff's
random draws fixed.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pco_wire import (
    ConnAckCode,
    ConnectionClosed,
    Error,
    InvalidPacket,
    InvalidSettings,
    MalformedPacket,
    PacketTooLarge,
    ResponseTimeout,
    Security,
    ServerRefused,
    Settings,
    TLSError,
    TransportError,
    UnexpectedPacket,
)
from pco_wire.errors import ServerDisconnected
from pco_wire.events import Event, GivingUp, Reconnecting, TakenOver, TakeoverSuspected
from pco_wire.packets import ConnAckProperties, DisconnectProperties, ReasonCode
from pco_wire.reconnect import TAKEOVER_COUNT, TAKEOVER_WINDOW
from pco_wire.supervisor import MAX_REDIRECTS, Attempt, Supervisor, prepare, server_reference_uri
from tests.pki import Pki

MIN_DELAY = 1.0
MAX_DELAY = 8.0  # ceilings 2, 4, 8, 8, ... for attempts 1, 2, 3, 4, ...
START = 1000.0
LONG = TAKEOVER_WINDOW + 50.0  # a connection that is no takeover
SHORT = 1.0


def _settings(uri: str = "mqtt://127.0.0.1:1883", **options: Any) -> Settings:
    fast: dict[str, Any] = {
        "reconnect_min_delay": MIN_DELAY,
        "reconnect_max_delay": MAX_DELAY,
    }
    return Settings(uri, **{**fast, **options})


def jitter(attempt: int, draw: float) -> float:
    """Full jitter: attempt n waits min + (min(max, min * 2**n) - min) * random()."""
    ceiling = min(MAX_DELAY, MIN_DELAY * 2.0**attempt)
    return MIN_DELAY + (ceiling - MIN_DELAY) * draw


def draws(*values: float) -> Callable[[], float]:
    """A fixed sequence for ``random``, repeated."""
    cycle = itertools.cycle(values)
    return lambda: next(cycle)


def closed() -> ConnectionClosed:
    return ConnectionClosed("session", "the server closed the connection")


def refused(code: int) -> ServerRefused:
    return ServerRefused(ConnAckCode(code))


def unreachable() -> TransportError:
    return TransportError("TCP connect", "connection refused", "refused")


# ---------------------------------------------------------------------------- the loop


@dataclass(frozen=True)
class Accepted:
    """The attempt gets CONNACK 0 after ``takes`` seconds; the connection ends ``lasts``
    seconds later with ``error`` (None: our own DISCONNECT)."""

    lasts: float
    error: Error | None = field(default_factory=closed)
    takes: float = 0.0


@dataclass(frozen=True)
class Failed:
    """The attempt ends with ``error`` after ``takes`` seconds, not accepted."""

    error: Error
    takes: float = 0.0


Step = Accepted | Failed


@dataclass
class Trace:
    """What a play did, in order, with the fake time of each thing."""

    #: Every attempt made, and every event the supervisor emitted; "opened" when an
    #: attempt was accepted.
    log: list[tuple[float, Attempt | Event | str]] = field(default_factory=list)
    #: The delays the driver waited, in order.
    delays: list[float] = field(default_factory=list)
    #: What the first connect raised (the caller hears it), if it failed.
    raised: Error | None = None
    #: The script ran out: the driver stopped there (as a disconnect() would).
    exhausted: bool = False

    @property
    def events(self) -> list[Event]:
        return [item for _, item in self.log if isinstance(item, Event)]

    @property
    def attempts(self) -> list[Attempt]:
        return [item for _, item in self.log if isinstance(item, Attempt)]

    def times(self, kind: type) -> list[float]:
        return [at for at, item in self.log if isinstance(item, kind)]


class _Over(Exception):
    pass


def play(supervisor: Supervisor, script: Iterable[Step], *, now: float = START) -> Trace:
    """Run the clients' loop over ``script`` on a fake clock starting at ``now``."""
    trace = Trace()
    steps = iter(script)
    clock = now

    def connect() -> Accepted:
        # pco_wire/sync/connection.py connect(): the attempt, and the fallback it asks for.
        nonlocal clock
        attempt = supervisor.next_attempt()
        while True:
            step = next(steps, None)
            if step is None:
                raise _Over
            trace.log.append((clock, attempt))
            clock += step.takes
            if isinstance(step, Failed):
                if supervisor.fallback(step.error):
                    attempt = supervisor.next_attempt()
                    continue
                raise supervisor.round_error(step.error)
            supervisor.opened(clock)
            trace.log.append((clock, "opened"))
            collect()  # several servers: the Failover events before this one took us
            return step

    def collect() -> None:
        trace.log.extend((clock, event) for event in supervisor.events())

    try:
        conn = connect()
    except _Over:
        trace.exhausted = True
        return trace
    except Error as exc:
        trace.raised = exc
        collect()
        return trace
    while True:
        clock += conn.lasts
        delay = supervisor.ended(conn.error, clock)
        collect()
        while delay is not None:
            trace.delays.append(delay)
            clock += delay
            try:
                conn = connect()
            except _Over:
                trace.exhausted = True
                return trace
            except Error as exc:
                delay = supervisor.failed(exc, clock)
                collect()
                continue
            break
        else:
            assert not supervisor.events()
            return trace


# ---------------------------------------------------------------------------- backoff


DRAWS = (0.5, 0.25, 0.75, 0.5, 0.1, 0.0)


def test_backoff_is_full_jitter_between_min_and_a_doubling_ceiling() -> None:
    lost, down = closed(), [unreachable() for _ in range(5)]
    supervisor = Supervisor(_settings(), random=draws(*DRAWS))
    trace = play(
        supervisor,
        [Accepted(LONG, lost), *(Failed(e, takes=0.01) for e in down), Accepted(LONG, None)],
    )

    expected = [jitter(n, r) for n, r in zip(range(1, 7), DRAWS, strict=True)]
    assert expected == pytest.approx([1.5, 1.75, 6.25, 4.5, 1.7, 1.0])
    assert trace.delays == expected
    assert trace.events == [
        Reconnecting(lost, 1.5, 1),
        *(Reconnecting(e, d, n) for e, d, n in zip(down, expected[1:], range(2, 7), strict=True)),
    ]
    # Each attempt starts exactly its delay after the loss or the failure before it.
    lost_at = START + LONG
    starts = list(itertools.accumulate([lost_at + 1.5, 1.75 + 0.01, 6.25 + 0.01, 4.5 + 0.01]))
    assert trace.times(Attempt)[1:5] == pytest.approx(starts)
    assert not trace.exhausted and supervisor.connections == 2


def test_an_accepted_connection_counts_the_attempts_from_1_again() -> None:
    first, second = closed(), closed()
    failures = [unreachable(), unreachable()]
    supervisor = Supervisor(_settings(), random=draws(1.0))  # the ceiling itself
    trace = play(
        supervisor,
        [Accepted(LONG, first), *map(Failed, failures), Accepted(LONG, second), Failed(refused(5))],
    )

    assert trace.events[:4] == [
        Reconnecting(first, 2.0, 1),
        Reconnecting(failures[0], 4.0, 2),
        Reconnecting(failures[1], 8.0, 3),
        Reconnecting(second, 2.0, 1),
    ]


def test_the_ceiling_stops_at_the_max_delay() -> None:
    supervisor = Supervisor(_settings(), random=draws(0.999))
    trace = play(supervisor, [Accepted(LONG), *(Failed(unreachable()) for _ in range(70))])

    assert len(trace.delays) == 71
    assert all(MIN_DELAY <= delay < MAX_DELAY for delay in trace.delays)
    assert trace.delays[3:] == [jitter(70, 0.999)] * 68  # no overflow at 2**70


# ---------------------------------------------------------------------------- takeover


def test_takeover_suspected_after_short_connections_then_the_max_delay() -> None:
    ends = [closed() for _ in range(TAKEOVER_COUNT + 1)]
    failure = unreachable()
    supervisor = Supervisor(_settings(), random=draws(0.5))
    script: list[Step] = [Accepted(SHORT, end) for end in ends[:TAKEOVER_COUNT]]
    script += [Failed(failure), Accepted(SHORT, ends[-1])]
    trace = play(supervisor, script)

    client_id = supervisor.client_id
    assert client_id is not None and client_id.startswith("pw")
    first = jitter(1, 0.5)
    assert trace.events == [
        *(Reconnecting(end, first, 1) for end in ends[: TAKEOVER_COUNT - 1]),
        TakeoverSuspected(client_id),
        Reconnecting(ends[TAKEOVER_COUNT - 1], MAX_DELAY, 1),
        # While suspected, a failed attempt waits the longest too; said once only.
        Reconnecting(failure, MAX_DELAY, 2),
        Reconnecting(ends[-1], MAX_DELAY, 1),
    ]
    suspected_at = trace.times(TakeoverSuspected)[0]
    assert suspected_at == START + TAKEOVER_COUNT * SHORT + (TAKEOVER_COUNT - 1) * first


def test_a_long_connection_clears_the_count_of_short_ones() -> None:
    ends = [closed() for _ in range(2 * TAKEOVER_COUNT)]
    supervisor = Supervisor(_settings(), random=draws(0.5))
    # One short of the count, then a long one: the count starts again, no suspicion.
    lasts = [SHORT] * (TAKEOVER_COUNT - 1) + [LONG] + [SHORT] * TAKEOVER_COUNT
    trace = play(supervisor, [Accepted(d, e) for d, e in zip(lasts, ends, strict=False)])

    events = trace.events
    assert events[: TAKEOVER_COUNT + 1] == [
        Reconnecting(e, 1.5, 1) for e in ends[: TAKEOVER_COUNT + 1]
    ]
    assert TakeoverSuspected(supervisor.client_id or "") in events
    assert events.index(TakeoverSuspected(supervisor.client_id or "")) == 2 * TAKEOVER_COUNT - 1


def test_after_a_takeover_a_long_connection_brings_the_backoff_back() -> None:
    ends = [closed() for _ in range(TAKEOVER_COUNT + 2)]
    supervisor = Supervisor(_settings(), random=draws(0.5))
    lasts = [SHORT] * TAKEOVER_COUNT + [LONG, SHORT]
    trace = play(supervisor, [Accepted(d, e) for d, e in zip(lasts, ends, strict=True)])

    assert trace.delays[TAKEOVER_COUNT - 1 :] == [MAX_DELAY, jitter(1, 0.5), MAX_DELAY]
    # The suspicion itself stays (reconnect.py): one short connection after it is slowed
    # down at once, and not said again.
    assert sum(isinstance(e, TakeoverSuspected) for e in trace.events) == 1


@pytest.mark.parametrize(
    "lasts, error",
    [
        (TAKEOVER_WINDOW, closed()),  # the window is open: "within", not "at"
        (SHORT, ResponseTimeout("PINGRESP", 1.0)),  # not the server's close
        (SHORT, MalformedPacket("reserved packet type 15", 0)),
    ],
    ids=["at-the-window", "timeout", "protocol-error"],
)
def test_what_does_not_count_toward_a_takeover(lasts: float, error: Error) -> None:
    supervisor = Supervisor(_settings(), random=draws(0.5))
    trace = play(supervisor, [Accepted(lasts, error)] * (TAKEOVER_COUNT + 2))

    assert not any(isinstance(e, TakeoverSuspected) for e in trace.events)
    assert trace.delays == [1.5] * (TAKEOVER_COUNT + 2)


# ---------------------------------------------------------------------------- stopping


@pytest.mark.parametrize("code", [2, 4, 5])
def test_a_refusal_that_retrying_cannot_fix_gives_up(code: int) -> None:
    lost, refusal = closed(), refused(code)
    supervisor = Supervisor(_settings(), random=draws(0.5))
    trace = play(supervisor, [Accepted(LONG, lost), Failed(refusal), Accepted(LONG)])

    assert trace.events == [Reconnecting(lost, 1.5, 1), GivingUp(refusal)]
    assert len(trace.attempts) == 2 and not trace.exhausted
    # Asked again later, it stays silent: nothing follows a GivingUp.
    assert supervisor.failed(unreachable(), START + 1e6) is None
    assert supervisor.events() == []


@pytest.mark.parametrize("protocol", ["3.1.1", "3.1"])
def test_refusal_1_without_the_auto_fallback_gives_up(protocol: str) -> None:
    refusal = refused(1)
    supervisor = Supervisor(_settings(protocol=protocol), random=draws(0.5))
    trace = play(supervisor, [Accepted(LONG), Failed(refusal), Accepted(LONG)])

    assert trace.events[1:] == [GivingUp(refusal)]
    assert [a.session.connect_packet.protocol_level for a in trace.attempts] == (
        [4, 4] if protocol == "3.1.1" else [3, 3]
    )


def test_refusal_1_after_the_auto_fallback_gives_up() -> None:
    in_5, in_3_1_1, in_3_1 = refused(1), refused(1), refused(1)
    supervisor = Supervisor(_settings(protocol="auto"), random=draws(0.5))
    trace = play(
        supervisor,
        [Accepted(LONG), Failed(in_5), Failed(in_3_1_1), Failed(in_3_1), Accepted(LONG)],
    )

    assert trace.events[1:] == [GivingUp(in_3_1)]
    assert [a.session.connect_packet.protocol_level for a in trace.attempts] == [5, 5, 4, 3]


@pytest.mark.parametrize(
    "error",
    [
        refused(3),
        unreachable(),
        TransportError("name resolution", "no such host"),
        ConnectionClosed("CONNACK", "the server reset the connection", reset=True),
        ResponseTimeout("CONNACK", 1.0),
        TLSError("TLS handshake", "certificate verify failed", verify_code=20),
        MalformedPacket("remaining length", 3),
        UnexpectedPacket("PINGRESP before CONNACK", 0),
        PacketTooLarge("too large", 0, 10**9, 2**20),
    ],
    ids=lambda error: type(error).__name__,
)
def test_what_is_retried(error: Error) -> None:
    lost = closed()
    supervisor = Supervisor(_settings(), random=draws(0.5))
    trace = play(
        supervisor, [Accepted(LONG, lost), Failed(error), Failed(error), Accepted(LONG, None)]
    )

    assert trace.events == [
        Reconnecting(lost, 1.5, 1),
        Reconnecting(error, jitter(2, 0.5), 2),
        Reconnecting(error, jitter(3, 0.5), 3),
    ]
    assert not trace.exhausted and supervisor.connections == 2


def test_settings_that_became_invalid_give_up(tmp_path: Path) -> None:
    # The password file is read for every CONNECT: gone, the next attempt cannot be made.
    secret = tmp_path / "password"
    secret.write_text("pw\n")
    supervisor = Supervisor(
        _settings(username="plant", password_file=str(secret)), random=draws(0.5)
    )
    supervisor.next_attempt()
    supervisor.opened(START)
    assert supervisor.ended(closed(), START + LONG) == 1.5
    supervisor.events()
    secret.unlink()

    with pytest.raises(InvalidSettings) as invalid:
        supervisor.next_attempt()
    assert invalid.value.field == "password_file"
    assert supervisor.attempt is None
    assert supervisor.failed(invalid.value, START + LONG + 1.5) is None
    assert supervisor.events() == [GivingUp(invalid.value)]


def test_a_connect_that_cannot_be_encoded_gives_up() -> None:
    lost, bad = closed(), InvalidPacket("client_id", "expected at most 65535 bytes")
    supervisor = Supervisor(_settings(), random=draws(0.5))
    trace = play(supervisor, [Accepted(LONG, lost), Failed(bad), Accepted(LONG)])

    assert trace.events == [Reconnecting(lost, 1.5, 1), GivingUp(bad)]


@pytest.mark.parametrize(
    "error",
    [refused(3), refused(5), unreachable(), closed()],
    ids=["refusal-3", "refusal-5", "unreachable", "closed"],
)
def test_the_first_connection_is_never_retried(error: Error) -> None:
    supervisor = Supervisor(_settings(), random=draws(0.5))
    trace = play(supervisor, [Failed(error), Accepted(LONG)])

    assert trace.raised is error and trace.events == []
    assert supervisor.failed(error, START) is None
    assert supervisor.events() == [] and supervisor.connections == 0


def test_the_auto_fallback_happens_at_the_first_connection_once() -> None:
    supervisor = Supervisor(_settings(protocol="auto"), random=draws(0.5))
    first = supervisor.next_attempt()
    assert first.session.connect_packet.protocol_level == 5

    # MQTT 5.0 refused as an unsupported version (0x84): MQTT 3.1.1 at once...
    assert supervisor.fallback(ServerRefused(ReasonCode.UNSUPPORTED_PROTOCOL_VERSION))
    second = supervisor.next_attempt()
    assert second.session.connect_packet.protocol_level == 4
    assert second.phases is first.phases
    assert second.client_id == first.client_id
    # ... and refused with return code 1 there: MQTT 3.1.
    assert supervisor.fallback(refused(1))
    third = supervisor.next_attempt()
    assert third.session.connect_packet.protocol_level == 3
    assert third.phases is first.phases
    # Once: MQTT 3.1 refused with 1 too is the end.
    assert not supervisor.fallback(refused(1))
    assert supervisor.failed(refused(1), START) is None
    # A reconnection starts in MQTT 5.0 again, with its own phases.
    fourth = supervisor.next_attempt()
    assert fourth.session.connect_packet.protocol_level == 5
    assert fourth.phases is not first.phases and fourth.phases == []


@pytest.mark.parametrize(
    "error",
    [
        ServerRefused(ConnAckCode.UNACCEPTABLE_PROTOCOL_VERSION),  # a 3.1.1 server's answer
        ConnectionClosed("CONNACK", "the server closed the connection without answering"),
    ],
    ids=["return-code-1", "silent-close"],
)
def test_what_sends_auto_from_5_to_3_1_1(error: Error) -> None:
    supervisor = Supervisor(_settings(protocol="auto"))
    supervisor.next_attempt()
    assert supervisor.fallback(error)
    assert supervisor.next_attempt().session.connect_packet.protocol_level == 4


def test_a_fallback_warns_of_the_5_0_settings_it_cannot_send() -> None:
    supervisor = Supervisor(_settings(protocol="auto", session_expiry=60))
    supervisor.next_attempt()
    assert supervisor.fallback(refused(1))
    attempt = supervisor.next_attempt()
    assert attempt.session.connect_packet.properties.changed() == {}
    assert any("session expiry interval" in w and "3.1.1" in w for w in attempt.warnings)


@pytest.mark.parametrize("protocol", ["3.1.1", "3.1", "5"])
def test_no_fallback_without_protocol_auto(protocol: str) -> None:
    supervisor = Supervisor(_settings(protocol=protocol))
    supervisor.next_attempt()
    assert not supervisor.fallback(refused(1))
    assert not supervisor.fallback(ServerRefused(ReasonCode.UNSUPPORTED_PROTOCOL_VERSION))


@pytest.mark.parametrize(
    "error", [refused(2), refused(3), refused(5), ResponseTimeout("CONNACK", 1.0)]
)
def test_the_fallback_is_for_an_unsupported_version_only(error: Error) -> None:
    supervisor = Supervisor(_settings(protocol="auto"))
    supervisor.next_attempt()
    assert not supervisor.fallback(error)
    assert supervisor.next_attempt().session.connect_packet.protocol_level == 5


def test_a_silent_close_in_3_1_1_is_no_fallback() -> None:
    supervisor = Supervisor(_settings(protocol="auto"))
    supervisor.next_attempt()
    assert supervisor.fallback(refused(1))
    supervisor.next_attempt()
    assert not supervisor.fallback(closed())


def test_the_fallback_in_the_loop() -> None:
    supervisor = Supervisor(_settings(protocol="auto"), random=draws(0.5))
    lost = closed()
    trace = play(
        supervisor,
        [
            Failed(refused(1)),
            Failed(refused(1)),
            Accepted(LONG, lost),
            Failed(refused(1)),
            Failed(refused(1)),
            Accepted(LONG, None),
        ],
    )

    assert [a.session.connect_packet.protocol_level for a in trace.attempts] == [5, 4, 3] * 2
    assert trace.events == [Reconnecting(lost, 1.5, 1)]
    assert supervisor.connections == 2


# ---------------------------------------------------------------------------- MQTT 5.0


def _moved(code: int, reference: str | None) -> ServerRefused:
    return ServerRefused(ReasonCode(code), ConnAckProperties(server_reference=reference))


def test_a_redirect_is_followed_at_once_when_allowed() -> None:
    supervisor = Supervisor(_settings(protocol="5", follow_redirects=True))
    first = supervisor.next_attempt()
    assert supervisor.fallback(_moved(0x9D, "127.0.0.2:1884"))
    second = supervisor.next_attempt()
    assert str(second.uri) == "mqtt://127.0.0.2:1884"
    assert second.phases is first.phases  # one attempt, as the fallback
    assert second.client_id == first.client_id


def test_a_redirect_is_not_followed_unless_allowed() -> None:
    supervisor = Supervisor(_settings(protocol="5"))
    supervisor.next_attempt()
    assert not supervisor.fallback(_moved(0x9C, "127.0.0.2:1884"))


def test_redirects_in_a_row_are_bounded() -> None:
    supervisor = Supervisor(_settings(protocol="5", follow_redirects=True))
    supervisor.next_attempt()
    for _ in range(MAX_REDIRECTS):
        assert supervisor.fallback(_moved(0x9C, "127.0.0.2:1884"))
        supervisor.next_attempt()
    assert not supervisor.fallback(_moved(0x9C, "127.0.0.2:1884"))


def test_a_redirect_without_a_reference_is_a_refusal() -> None:
    supervisor = Supervisor(_settings(protocol="5", follow_redirects=True))
    supervisor.next_attempt()
    assert not supervisor.fallback(_moved(0x9D, None))


def test_a_disconnect_that_redirects_reconnects_there_at_once() -> None:
    supervisor = Supervisor(_settings(protocol="5", follow_redirects=True))
    supervisor.next_attempt()
    supervisor.opened(START)
    moved = ServerDisconnected(
        ReasonCode.USE_ANOTHER_SERVER, DisconnectProperties(server_reference="[::1]:1999")
    )
    assert supervisor.ended(moved, START + 5) == 0.0
    assert supervisor.events() == [Reconnecting(moved, 0.0, 1)]
    assert str(supervisor.next_attempt().uri) == "mqtt://[::1]:1999"


def test_a_redirect_that_fails_goes_back_to_the_settings_server() -> None:
    # One DISCONNECT 0x9C to a server that is down must not strand the client there.
    supervisor = Supervisor(_settings(protocol="5", follow_redirects=True), random=draws(0.5))
    supervisor.next_attempt()
    supervisor.opened(START)
    moved = ServerDisconnected(
        ReasonCode.USE_ANOTHER_SERVER, DisconnectProperties(server_reference="127.0.0.2:1999")
    )
    assert supervisor.ended(moved, START + 5) == 0.0
    assert str(supervisor.next_attempt().uri) == "mqtt://127.0.0.2:1999"
    assert supervisor.failed(unreachable(), START + 5.1) == jitter(1, 0.5)
    assert str(supervisor.next_attempt().uri) == "mqtt://127.0.0.1:1883"


@pytest.mark.parametrize(
    ("reference", "expected"),
    [
        ("127.0.0.2", "mqtt://127.0.0.2:1883"),
        ("127.0.0.2:1884 127.0.0.3:1885", "mqtt://127.0.0.2:1884"),
        ("[::1]:8883", "mqtt://[::1]:8883"),
        ("::1", "mqtt://[::1]:1883"),
        ("mqtts://broker2:8883", "mqtts://broker2:8883"),
        ("http://evil", None),
        ("host:port", None),
        ("user@host", None),
        ("a\x1bb", None),
        ("", None),
    ],
)
def test_the_server_reference_as_a_uri(reference: str, expected: str | None) -> None:
    from pco_wire.uri import parse_uri

    assert server_reference_uri(reference, parse_uri("mqtt://127.0.0.1:1883")) == expected


def test_a_takeover_said_by_the_server_is_reported_at_once() -> None:
    supervisor = Supervisor(_settings(protocol="5", client_id="gw1"), random=draws(0.5))
    taken = ServerDisconnected(
        ReasonCode.SESSION_TAKEN_OVER, DisconnectProperties(reason_string="gw1 again")
    )
    trace = play(supervisor, [Accepted(SHORT, taken), Accepted(LONG, None)])
    assert trace.events == [TakenOver("gw1", "gw1 again"), Reconnecting(taken, MAX_DELAY, 1)]
    assert trace.delays == [MAX_DELAY]


def test_a_takeover_said_by_the_server_is_an_event_without_reconnecting_too() -> None:
    supervisor = Supervisor(_settings(protocol="5", client_id="gw1"), reconnect=False)
    taken = ServerDisconnected(ReasonCode.SESSION_TAKEN_OVER, DisconnectProperties())
    trace = play(supervisor, [Accepted(SHORT, taken)])
    assert trace.events == [TakenOver("gw1", None)]
    assert trace.delays == []


def test_other_ends_without_reconnecting_are_no_event() -> None:
    supervisor = Supervisor(_settings(protocol="5", client_id="gw1"), reconnect=False)
    moved = ServerDisconnected(ReasonCode.SERVER_SHUTTING_DOWN, DisconnectProperties())
    trace = play(supervisor, [Accepted(SHORT, moved)])
    assert trace.events == [] and trace.delays == []


def test_a_server_assigned_id_is_kept_for_the_next_connections() -> None:
    supervisor = Supervisor(_settings(protocol="5", server_assigns_id=True))
    first = supervisor.next_attempt()
    assert first.session.connect_packet.client_id == "" and not first.generated_id
    first.session.connect(now=0.0)
    first.session.receive_data(b"\x20\x09\x00\x00\x06\x12\x00\x03abc", now=0.1)
    assert first.session.client_id == "abc"
    supervisor.opened(0.1)
    again = supervisor.next_attempt()
    assert again.session.connect_packet.client_id == "abc"


def test_stop_during_a_backoff_ends_everything() -> None:
    supervisor = Supervisor(_settings(), random=draws(0.5))
    supervisor.next_attempt()
    supervisor.opened(START)
    assert supervisor.ended(closed(), START + LONG) == 1.5
    assert len(supervisor.events()) == 1

    supervisor.stop()
    assert supervisor.stopped
    assert supervisor.failed(unreachable(), START + LONG + 2) is None
    assert supervisor.ended(closed(), START + LONG + 3) is None
    assert supervisor.failed(refused(5), START + LONG + 4) is None
    assert supervisor.events() == []  # no Reconnecting, and no GivingUp either


def test_our_own_disconnect_ends_without_an_event() -> None:
    supervisor = Supervisor(_settings(), random=draws(0.5))
    trace = play(supervisor, [Accepted(LONG, None), Accepted(LONG)])

    assert trace.events == [] and len(trace.attempts) == 1 and not trace.exhausted


@pytest.mark.parametrize(
    "own, in_settings, again",
    [(False, True, False), (None, False, False), (True, False, True), (None, True, True)],
)
def test_reconnect_off(own: bool | None, in_settings: bool, again: bool) -> None:
    supervisor = Supervisor(_settings(reconnect=in_settings), reconnect=own, random=draws(0.5))
    lost = closed()
    trace = play(supervisor, [Accepted(LONG, lost), Accepted(LONG, None)])

    if again:
        assert trace.events == [Reconnecting(lost, 1.5, 1)]
        assert len(trace.attempts) == 2
    else:
        assert trace.events == [] and len(trace.attempts) == 1
        assert supervisor.failed(unreachable(), START + 2 * LONG) is None
        assert supervisor.events() == []


# ---------------------------------------------------------------------------- identity


def test_a_generated_client_id_is_kept_for_every_attempt() -> None:
    supervisor = Supervisor(_settings(protocol="auto"), random=draws(0.5))
    trace = play(
        supervisor,
        [Accepted(SHORT), Failed(unreachable()), Failed(refused(1)), Accepted(SHORT)],
    )

    ids = {a.client_id for a in trace.attempts}
    assert len(trace.attempts) == 4 and len(ids) == 1, ids
    (client_id,) = ids
    assert client_id.startswith("pw") and supervisor.client_id == client_id
    assert {a.session.connect_packet.client_id for a in trace.attempts} == ids
    # Generated here (the first time), for every attempt: Attempt.generated_id says so.
    assert all(a.generated_id for a in trace.attempts)
    # A second client of the same settings is another client: another ID.
    assert Supervisor(_settings()).next_attempt().client_id != client_id


@pytest.mark.parametrize("where", ["settings", "argument"])
def test_a_given_client_id_is_used(where: str) -> None:
    if where == "settings":
        supervisor = Supervisor(_settings(client_id="gw7"), random=draws(0.5))
    else:
        supervisor = Supervisor(_settings(client_id="other"), "gw7", random=draws(0.5))
    trace = play(supervisor, [Accepted(SHORT), Failed(unreachable()), Accepted(SHORT)])

    assert [a.client_id for a in trace.attempts] == ["gw7"] * 3
    assert [a.session.connect_packet.client_id for a in trace.attempts] == ["gw7"] * 3
    assert not any(a.generated_id for a in trace.attempts)


def test_the_tls_context_is_built_once_per_configuration(pki: Pki) -> None:
    security = Security(cafile=str(pki.ca_cert))
    tls = _settings("mqtts://127.0.0.1:8883", protocol="auto", security=security)
    supervisor = Supervisor(tls, random=draws(0.5))
    trace = play(
        supervisor,
        [Accepted(LONG), Failed(unreachable()), Failed(refused(1)), Accepted(LONG)],
    )

    contexts = [a.tls_context for a in trace.attempts]
    assert len(contexts) == 4 and contexts[0] is not None
    assert all(context is contexts[0] for context in contexts)
    # prepare() alone builds one per call, unless it is handed one.
    assert prepare(tls).tls_context is not contexts[0]
    assert prepare(tls, tls_context=contexts[0]).tls_context is contexts[0]
    # Another client of the same configuration shares it (thousands of clients, one
    # context); other security settings have their own.
    assert Supervisor(tls).next_attempt().tls_context is contexts[0]
    other = tls.replace(security=Security(cafile=str(pki.ca_cert), verify_hostname=False))
    assert Supervisor(other).next_attempt().tls_context is not contexts[0]


def test_no_tls_context_without_tls() -> None:
    trace = play(Supervisor(_settings()), [Accepted(LONG, None)])
    assert [a.tls_context for a in trace.attempts] == [None]


# ---------------------------------------------------------------------------- property

ERRORS: list[Callable[[], Error]] = [
    closed,
    unreachable,
    lambda: ConnectionClosed("session", "the server reset the connection", reset=True),
    lambda: ResponseTimeout("PINGRESP", 1.0),
    lambda: TLSError("TLS handshake", "alert"),
    lambda: MalformedPacket("bad", 1),
    *(lambda code=code: refused(code) for code in range(1, 6)),
    lambda: InvalidSettings([("password_file", "the file is gone")]),
]
errors = st.sampled_from(ERRORS).map(lambda make: make())
seconds = st.floats(0.0, 3 * TAKEOVER_WINDOW)
steps = st.one_of(
    st.builds(Accepted, lasts=seconds, error=errors | st.none(), takes=seconds),
    st.builds(Failed, error=errors, takes=seconds),
)
bounds = st.tuples(st.floats(0.1, 100.0), st.floats(0.1, 100.0)).map(sorted)


@settings(max_examples=300, deadline=None)
@given(
    script=st.lists(steps, max_size=40),
    delays=bounds,
    protocol=st.sampled_from(["auto", "3.1.1"]),
    randoms=st.lists(st.floats(0.0, 1.0, exclude_max=True), min_size=1, max_size=5),
)
def test_any_history(
    script: list[Step], delays: list[float], protocol: str, randoms: list[float]
) -> None:
    low, high = delays
    config = Settings(
        "mqtt://127.0.0.1:1883",
        protocol=protocol,
        reconnect_min_delay=low,
        reconnect_max_delay=high,
    )
    supervisor = Supervisor(config, random=draws(*randoms))
    trace = play(supervisor, script)

    assert all(low <= delay <= high for delay in trace.delays), (trace.delays, delays)
    reconnecting = [e for e in trace.events if isinstance(e, Reconnecting)]
    assert [e.delay for e in reconnecting] == trace.delays
    # Attempts count from 1 after each accepted connection, one more per Reconnecting.
    expected = 0
    for _, item in trace.log:
        if item == "opened":
            expected = 0
        elif isinstance(item, Reconnecting):
            expected += 1
            assert item.attempt == expected, trace.log
    # At most one GivingUp, and nothing after it: no event, no attempt.
    giving_up = [i for i, (_, item) in enumerate(trace.log) if isinstance(item, GivingUp)]
    assert len(giving_up) <= 1
    if giving_up:
        assert giving_up[0] == len(trace.log) - 1, trace.log
        assert not trace.exhausted
        assert supervisor.failed(unreachable(), 1e9) is None
        assert supervisor.ended(closed(), 1e9) is None
    assert sum(isinstance(e, TakeoverSuspected) for e in trace.events) <= 1
    ids = {a.client_id for a in trace.attempts}
    assert len(ids) <= 1
    assert supervisor.events() == []


def test_settings_checked_before_do_not_let_a_changed_one_through() -> None:
    # The check of a configuration is kept for its other clients; a value equal to a
    # checked one but of another type, or a nested value changed in place, is checked anew.
    from pco_wire import InvalidSettings, WillSettings

    good = _settings("mqtt://127.0.0.1:1883", clean_session=True, keep_alive=60)
    prepare(good)
    for bad in (good.replace(clean_session=1), good.replace(keep_alive=60.0)):
        with pytest.raises(InvalidSettings):
            prepare(bad)
    will = WillSettings("a/b", "gone")
    with_will = good.replace(will=will)
    prepare(with_will)
    will.topic = "a/#"  # a wildcard: no topic to publish a will on
    with pytest.raises(InvalidSettings):
        prepare(with_will)


def test_valid_client_ids_share_one_check_of_the_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    # bench: thousands of clients of one configuration, an ID each, checked once.
    from pco_wire import supervisor as module
    from pco_wire.supervisor import prepare

    checked: list[str] = []
    real = Settings.check

    def counting(self: Settings) -> Any:
        checked.append(self.client_id)
        return real(self)

    monkeypatch.setattr(Settings, "check", counting)
    monkeypatch.setattr(module, "_checked", {})
    settings = Settings("mqtt://127.0.0.1:1883", client_id="bench0", clean_session=False)
    for index in range(50):
        attempt = prepare(settings, f"bench{index}")
        assert attempt.session.connect_packet.client_id == f"bench{index}"
    assert checked == ["bench0"]


@pytest.mark.parametrize("bad", ["with space", "x" * 24, "é"])
def test_an_invalid_client_id_is_refused_after_valid_ones(bad: str) -> None:
    from pco_wire.supervisor import prepare

    settings = Settings("mqtt://127.0.0.1:1883", client_id="bench0")
    prepare(settings, "bench1")
    with pytest.raises(InvalidSettings) as caught:
        prepare(settings, bad)
    assert [field for field, _ in caught.value.problems] == ["client_id"]
