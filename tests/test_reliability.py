"""Fault injection: what a gateway meets in a plant, and what the client must make of it.

A broker killed or frozen mid-session and started again on the same port; servers that
close or reset at once, stall half-way through a CONNACK or a TLS handshake, announce a
packet too large to hold, answer garbage, throw the client off after every CONNACK (a
client-ID takeover), refuse for good or for now, or speak only MQTT 3.1; and secrets that
must stay out of a debug log through all of it.

Each case must end in the category and sentence the diagnosis promises, in a bounded time,
with no traceback, and with no thread, socket or file descriptor left behind (the ``guard``
fixture). Delays are short (response timeout 1 s, keep-alive 1 s, backoff 0.2..1 s) so the
file runs in well under a minute. The measured times are printed (``pytest -s``).
"""

from __future__ import annotations

import base64
import contextlib
import getpass
import itertools
import os
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any, TypeVar

import pytest

from pco_wire import (
    DEFAULT_MAX_PACKET_SIZE,
    Closed,
    Connected,
    ConnectionClosed,
    PacketTooLarge,
    ResponseTimeout,
    ServerRefused,
    Settings,
    TransportError,
)
from pco_wire.events import GivingUp, Reconnecting, TakeoverSuspected
from tests.broker import Broker, free_port, require
from tests.drivers import Driver
from tests.peers import (
    CliRun,
    Handler,
    Peers,
    aborting,
    answer_then_close,
    at_once,
    by_protocol_level,
    closing,
    connack,
    connect_level,
    for_at_most,
    mqtt_server,
    raw_relay,
    run_cli,
    sequence,
    silent,
    trickle,
)
from tests.pki import Pki

T = TypeVar("T")

RESPONSE_TIMEOUT = 1.0
KEEP_ALIVE = 1
MIN_DELAY = 0.2
MAX_DELAY = 1.0
#: How late a deadline may be noticed: scheduling, a loaded CI machine.
SLACK = 0.5
#: The same short delays for the command line.
FAST = ("-t", "1", "-k", "1", "--reconnect-min-delay", "0.2", "--reconnect-max-delay", "1")

#: A PUBLISH fixed header announcing 200,000,000 bytes (MQTT 3.1.1 §2.2.3), and no body.
HUGE = 200_000_000


def _remaining_length(value: int) -> bytes:
    out = bytearray()
    while True:
        value, digit = divmod(value, 128)
        out.append(digit | (0x80 if value else 0))
        if not value:
            return bytes(out)


HUGE_HEADER = b"\x30" + _remaining_length(HUGE)


def _settings(uri: str, **options: Any) -> Settings:
    fast: dict[str, Any] = {
        "response_timeout": RESPONSE_TIMEOUT,
        "keep_alive": KEEP_ALIVE,
        "reconnect_min_delay": MIN_DELAY,
        "reconnect_max_delay": MAX_DELAY,
    }
    return Settings(uri, **{**fast, **options})


def _timing(fault: str, how: str, seconds: float, category: str) -> None:
    # For the record (pytest -s): fault, how it was detected, how long it took, category.
    print(f"\n[timing] {fault} | {how} | {seconds:.3f} s | {category}")


# ---------------------------------------------------------------------------- guards


def _fds() -> dict[str, str]:
    out: dict[str, str] = {}
    for name in os.listdir("/proc/self/fd"):
        try:
            out[name] = os.readlink(f"/proc/self/fd/{name}")
        except OSError:
            pass  # the descriptor listdir used for the directory, closed by now
    return out


@pytest.fixture
def guard(caplog: pytest.LogCaptureFixture) -> Iterator[None]:
    """After the test: no new thread, no more file descriptors than before, and nothing
    logged with a traceback. Name-resolution workers ("pco_wire-resolve") end by
    themselves once their lookup returns; they are waited for, within a bound."""
    fds = _fds()
    threads = set(threading.enumerate())
    yield
    deadline = time.monotonic() + RESPONSE_TIMEOUT + 2.0
    while True:
        new = [t for t in threading.enumerate() if t not in threads]
        now = _fds()
        if (not new and len(now) <= len(fds)) or time.monotonic() > deadline:
            break
        time.sleep(0.02)
    resolvers = [t for t in new if t.name == "pco_wire-resolve"]
    others = sorted(t.name for t in new if t not in resolvers)
    assert not others, f"threads left running: {others}"
    assert not resolvers, f"{len(resolvers)} pco_wire-resolve thread(s) outlived the bound"
    opened = sorted(target for fd, target in now.items() if fds.get(fd) != target)
    assert len(now) <= len(fds), f"{len(now) - len(fds)} file descriptor(s) leaked: {opened}"
    tracebacks = [r.getMessage() for r in caplog.records if r.exc_info]
    assert not tracebacks, f"logged with a traceback: {tracebacks}"


@pytest.fixture
def peers(guard: None) -> Iterator[Peers]:
    with Peers.running() as running:
        yield running


def _clean(run: CliRun) -> None:
    assert "Traceback" not in run.stdout + run.stderr, str(run)


class Events:
    """``on_event`` for a Client: every event with its ``time.monotonic()``, to wait on."""

    def __init__(self) -> None:
        self.log: list[tuple[float, object]] = []
        self._changed = threading.Condition()

    def __call__(self, event: object) -> None:
        with self._changed:
            self.log.append((time.monotonic(), event))
            self._changed.notify_all()

    def of(
        self, kind: type[T], after: float = 0.0, before: float = float("inf")
    ) -> list[tuple[float, T]]:
        with self._changed:
            return [(at, e) for at, e in self.log if isinstance(e, kind) and after <= at < before]

    def wait_for(
        self, kind: type[T], count: int = 1, *, timeout: float, after: float = 0.0
    ) -> tuple[float, T]:
        """The ``count``-th event of ``kind`` since ``after``; AssertionError at the
        timeout, with every event so far."""
        deadline = time.monotonic() + timeout
        with self._changed:
            while True:
                found = self.of(kind, after)
                if len(found) >= count:
                    return found[count - 1]
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise AssertionError(
                        f"no {count}. {kind.__name__} within {timeout:.1f} s: {self}"
                    )
                self._changed.wait(remaining)

    def __str__(self) -> str:
        start = self.log[0][0] if self.log else 0.0
        return "; ".join(f"+{at - start:.3f} {event!r}" for at, event in self.log)


# ---------------------------------------------------------------------------- own broker


class OwnBroker:
    """A Mosquitto of the test's own with one TCP listener on a port chosen once, so that
    it can be killed, frozen and started again on the same port. Stopped by PID."""

    def __init__(self, directory: Path) -> None:
        self.port = free_port()
        self.config = directory / "mosquitto.conf"
        self.config.write_text(
            f"user {getpass.getuser()}\npersistence false\nlog_dest stderr\n"
            f"listener {self.port} 127.0.0.1\nallow_anonymous true\n"
        )
        self.log = directory / "mosquitto.log"
        self.processes: list[subprocess.Popen[bytes]] = []

    @property
    def uri(self) -> str:
        return f"mqtt://127.0.0.1:{self.port}"

    @property
    def pid(self) -> int:
        return self.processes[-1].pid

    def start(self) -> float:
        """Start it; returns when it accepts connections (``time.monotonic()``)."""
        with self.log.open("ab") as sink:
            process = subprocess.Popen(
                [require("mosquitto"), "-c", str(self.config)],
                stdout=sink,
                stderr=subprocess.STDOUT,
            )
        self.processes.append(process)
        deadline = time.monotonic() + 10.0
        while True:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.5).close()
                return time.monotonic()
            except OSError:
                if process.poll() is not None or time.monotonic() > deadline:
                    raise AssertionError(
                        f"mosquitto does not accept on {self.port}:\n"
                        f"{self.log.read_text(errors='replace')}"
                    ) from None
                time.sleep(0.02)

    def signal(self, signum: signal.Signals) -> float:
        os.kill(self.pid, signum)
        return time.monotonic()

    def kill(self) -> float:
        """SIGKILL, and wait until the process is gone; returns when it was sent."""
        at = self.signal(signal.SIGKILL)
        self.processes[-1].wait(5.0)
        return at

    def stop(self) -> None:
        """Whatever state it was left in: continued, terminated, killed if need be."""
        for process in self.processes:
            if process.poll() is not None:
                continue
            with contextlib.suppress(ProcessLookupError):  # it may have just ended
                os.kill(process.pid, signal.SIGCONT)
                os.kill(process.pid, signal.SIGTERM)
            try:
                process.wait(5.0)
            except subprocess.TimeoutExpired:
                os.kill(process.pid, signal.SIGKILL)
                process.wait(5.0)


@pytest.fixture
def own_broker(tmp_path: Path, guard: None) -> Iterator[OwnBroker]:
    broker = OwnBroker(tmp_path)
    try:
        yield broker
    finally:
        broker.stop()


# ---------------------------------------------------------------------------- 1, 2: broker


def test_broker_killed_mid_session_reconnects_when_it_is_back(
    driver: Driver, own_broker: OwnBroker
) -> None:
    own_broker.start()
    events = Events()
    client = driver.client(_settings(own_broker.uri), on_event=events)
    try:
        client.connect()
        events.wait_for(Connected, timeout=2.0)
        killed = own_broker.kill()

        lost_at, lost = events.wait_for(Closed, timeout=KEEP_ALIVE + RESPONSE_TIMEOUT + SLACK)
        error = lost.error
        assert isinstance(error, ConnectionClosed) or (
            isinstance(error, ResponseTimeout) and error.phase == "PINGRESP"
        ), error
        code, category, _ = client.diagnose(error)
        assert code in (3, 5), (code, category)
        _timing("broker SIGKILL", f"Closed({type(error).__name__})", lost_at - killed, category)

        # Nothing listens now: each attempt is refused at once, and only the backoff paces
        # them (the delays and their numbers: tests/test_supervisor.py, on a fake clock).
        events.wait_for(Reconnecting, 3, timeout=3 * MAX_DELAY + SLACK)
        attempts = events.of(Reconnecting)
        assert isinstance(attempts[0][1].error, type(error))
        for _, event in attempts[1:]:
            assert isinstance(event.error, TransportError), event
            assert event.error.reason.startswith("connection refused"), event
        # No busy loop: the client really waits each delay before the next attempt.
        for (at, event), (next_at, _) in itertools.pairwise(attempts):
            assert next_at - at >= event.delay - 0.02, (next_at - at, event.delay)
        print(f"\n[backoff] delays {[round(e.delay, 3) for _, e in attempts]}")

        restarting = time.monotonic()
        accepting = own_broker.start()
        again_at, _ = events.wait_for(Connected, 2, timeout=MAX_DELAY + 2.0)
        assert again_at - restarting <= MAX_DELAY + 2.0
        assert client.connected
        _timing(
            "broker back on the same port",
            "second Connected",
            again_at - accepting,
            "connected",
        )
    finally:
        assert client.disconnect(), "the client thread did not end"


@pytest.mark.standard_loop(
    "the session's PINGRESP timeout and the supervisor's delays, waited out "
    "(on uvloop: test_faults' PINGRESP that never comes, the broker killed)"
)
def test_broker_frozen_is_lost_then_found_again(driver: Driver, own_broker: OwnBroker) -> None:
    own_broker.start()
    events = Events()
    client = driver.client(_settings(own_broker.uri), on_event=events)
    try:
        client.connect()
        events.wait_for(Connected, timeout=2.0)
        frozen = own_broker.signal(signal.SIGSTOP)

        # The PINGREQ goes out within the keep-alive, and its PINGRESP is due one response
        # timeout later.
        limit = KEEP_ALIVE + RESPONSE_TIMEOUT + SLACK
        lost_at, lost = events.wait_for(Closed, timeout=limit + 1.0)
        assert lost_at - frozen <= limit, lost_at - frozen
        error = lost.error
        assert isinstance(error, ResponseTimeout) and error.phase == "PINGRESP", error
        code, category, message = client.diagnose(error)
        assert (code, category) == (5, "timeout"), message
        assert "no PINGRESP within 1 s" in message, message
        _timing("broker SIGSTOP", "PINGRESP timeout", lost_at - frozen, category)

        # Still frozen: the kernel completes the TCP handshake, nobody answers CONNECT.
        _, retry = events.wait_for(
            Reconnecting, 2, timeout=MAX_DELAY + RESPONSE_TIMEOUT + SLACK + 1.0
        )
        assert isinstance(retry.error, ResponseTimeout) and retry.error.phase == "CONNACK"

        thawed = own_broker.signal(signal.SIGCONT)
        again_at, _ = events.wait_for(Connected, 2, timeout=MAX_DELAY + RESPONSE_TIMEOUT + 2.0)
        assert client.connected
        _timing("broker SIGCONT", "second Connected", again_at - thawed, "connected")
    finally:
        assert client.disconnect(), "the client thread did not end"


# ---------------------------------------------------------------------------- 3: peers


def test_closed_right_after_accept(driver: Driver, peers: Peers) -> None:
    # Second connection: the TLS probe of the diagnosis, closed the same way.
    peer = peers.start(at_once(), connections=2)
    start = time.monotonic()
    result = driver.test_connection(_settings(peer.uri()))
    elapsed = time.monotonic() - start

    # A CONNECT that arrives after the close is answered by the kernel with a reset: the
    # client sees one or the other, and the diagnosis says which.
    expected = {
        "closed-before-connack": "the server closed the connection after CONNECT without an answer",
        "connection-reset": "the server reset the connection after CONNECT, before CONNACK",
    }
    assert result.exit_code == 3 and result.category in expected, result
    assert result.message.startswith(expected[result.category]), result.message
    assert elapsed <= RESPONSE_TIMEOUT + SLACK, elapsed
    _timing("close right after accept", "end of stream before CONNACK", elapsed, result.category)


def test_reset_after_connect(driver: Driver, peers: Peers) -> None:
    peer = peers.start(aborting(closing()), connections=2)
    start = time.monotonic()
    result = driver.test_connection(_settings(peer.uri()))
    elapsed = time.monotonic() - start

    # A reset is called one before CONNACK too, with the advice of a silent close (the
    # TLS probe found no TLS here: a refusal without a word).
    assert (result.exit_code, result.category) == (3, "connection-reset"), result
    assert result.message.startswith("the server reset the connection after CONNECT"), result
    assert isinstance(result.error, ConnectionClosed) and result.error.reset, result.error
    assert elapsed <= RESPONSE_TIMEOUT + SLACK, elapsed
    _timing("reset (SO_LINGER 0) after CONNECT", "ECONNRESET", elapsed, result.category)


def test_reset_mid_session(driver: Driver, peers: Peers) -> None:
    hold = 0.3
    peer = peers.start(aborting(for_at_most(mqtt_server(), hold)))
    events = Events()
    client = driver.client(_settings(peer.uri()), on_event=events, reconnect=False)
    try:
        client.connect()
        connected = time.monotonic()
        assert client.wait(hold + SLACK), str(events)
        lost_at, lost = events.wait_for(Closed, timeout=0)
        error = lost.error
        assert isinstance(error, ConnectionClosed) and error.reset, error
        assert client.diagnose(error) == (
            3,
            "connection-reset",
            "the server reset the connection (session)",
        )
        _timing("reset mid-session", "ECONNRESET", lost_at - connected - hold, "connection-reset")
    finally:
        assert client.disconnect()
    assert peer.finish()


def test_half_a_connack_then_silence(peers: Peers) -> None:
    peer = peers.start(mqtt_server(bytes.fromhex("2002 00")))
    run = run_cli(peer.uri(), "-t", "1")

    assert run.code == 5, str(run)
    assert (
        "FAILED (timeout, exit 5): timeout in phase CONNACK (1 s): no CONNACK within 1 s"
        in run.stdout
    ), str(run)
    assert RESPONSE_TIMEOUT <= run.seconds <= RESPONSE_TIMEOUT + 1.5, str(run)
    _clean(run)
    _timing("half a CONNACK", "CONNACK deadline (CLI, whole process)", run.seconds, "timeout")


# A TLS record header announcing a 16 KiB handshake message, then its body a byte at a time:
# each byte resets a per-read timeout, only a deadline for the whole phase ends it.
TLS_TRICKLE = b"\x16\x03\x03\x40\x00" + b"\x02" * 64


@pytest.mark.parametrize(
    "server", [silent(), trickle(TLS_TRICKLE, 0.2)], ids=["silent", "trickling"]
)
def test_tls_handshake_that_never_ends(peers: Peers, pki: Pki, server: Handler) -> None:
    peer = peers.start(server)
    run = run_cli(peer.uri("mqtts"), "--cafile", str(pki.ca_cert), "-t", "1")

    assert run.code == 5, str(run)
    assert (
        "FAILED (timeout, exit 5): timeout in phase TLS handshake (1 s): the TLS handshake "
        "did not finish within 1 s" in run.stdout
    ), str(run)
    assert RESPONSE_TIMEOUT <= run.seconds <= RESPONSE_TIMEOUT + 1.5, str(run)
    assert peer.finish()
    assert peer.recording.client_closed
    _clean(run)
    _timing("stalled TLS handshake", "TLS handshake deadline (CLI)", run.seconds, "timeout")


def test_huge_packet_announced_is_refused_before_its_body(driver: Driver, peers: Peers) -> None:
    # CONNACK, then 0.1 s later a PUBLISH header announcing 200 MB; no body ever follows
    # and the peer keeps the connection open (and answers PINGREQ).
    peer = peers.start(mqtt_server(later=[HUGE_HEADER]))
    events = Events()
    client = driver.client(_settings(peer.uri()), on_event=events, reconnect=False)
    try:
        client.connect()
        connected = time.monotonic()
        # Well before the first PINGREQ (0.9 s): the header alone is enough.
        assert client.wait(0.1 + SLACK), str(events)
        lost_at, lost = events.wait_for(Closed, timeout=0)
        error = lost.error
        assert isinstance(error, PacketTooLarge), error
        assert error.size >= HUGE and error.limit == DEFAULT_MAX_PACKET_SIZE, error.args
        code, category, message = client.diagnose(error)
        assert (code, category) == (6, "protocol-error"), message
        # After a CONNACK: an MQTT server, whose later packet is at fault.
        assert message.startswith("the server's reply breaks MQTT 3.1.1: "), message
        assert "really an MQTT port" not in message and "the broker's" in message, message
        _timing("200 MB PUBLISH announced", "PacketTooLarge", lost_at - connected - 0.1, category)
    finally:
        assert client.disconnect()
    assert peer.finish()
    assert peer.recording.names() == ["CONNECT"]  # neither PINGREQ nor DISCONNECT
    assert peer.recording.client_closed


@pytest.mark.parametrize(
    "garbage",
    [
        b"\xf0\x00 reserved packet type 15",
        b"\xde\xad\xbe\xef" * 4,
        b"SSH-2.0-OpenSSH_9.6\r\n",
    ],
    ids=["reserved-type", "deadbeef", "ssh-banner"],
)
def test_garbage_instead_of_connack(peers: Peers, garbage: bytes) -> None:
    # The peer sends the garbage and keeps the connection open: nothing else will come.
    # None of these first bytes can begin a CONNACK (MQTT 3.1.1 §3.2: 0x20), and each one
    # breaks the fixed header rules on its own (§2.2.1, §2.2.2): no need to wait for more.
    peer = peers.start(mqtt_server(garbage))
    run = run_cli(peer.uri(), "-t", "1")

    assert run.code == 6, str(run)
    failed = "FAILED (protocol-error, exit 6): the server's reply breaks MQTT: "
    assert failed in run.stdout, str(run)
    assert "really an MQTT port?" in run.stdout, str(run)
    assert run.seconds < RESPONSE_TIMEOUT, str(run)
    _clean(run)
    _timing(f"garbage for CONNACK {garbage[:4]!r}", "protocol error (CLI)", run.seconds, "6")


# ---------------------------------------------------------------------------- 4: takeover

# "right after": CONNACK and the close in one breath, as the issue describes the peer;
# "soon after": 0.1 s later, as when another client with the same ID connects.
TAKEOVER_PEERS: dict[str, Handler] = {
    "right-after-connack": answer_then_close(),
    "soon-after-connack": for_at_most(mqtt_server(), 0.1),
}


@pytest.mark.standard_loop("the supervisor's delays, waited out")
@pytest.mark.parametrize("closes", list(TAKEOVER_PEERS))
def test_takeover_suspected_then_max_delay(driver: Driver, peers: Peers, closes: str) -> None:
    peer = peers.start(TAKEOVER_PEERS[closes], connections=50)
    events = Events()
    client = driver.client(_settings(peer.uri()), on_event=events)
    try:
        start = time.monotonic()
        try:
            info = client.connect()
        except ConnectionClosed as exc:
            raise AssertionError(
                f"connect() raised {exc!r} although the server accepted CONNECT (return "
                "code 0): a connection accepted and then closed is a connection that ended, "
                "not a failed attempt"
            ) from exc
        suspected_at, suspected = events.wait_for(TakeoverSuspected, timeout=3.0)
        assert suspected.client_id == info.client_id
        # Exactly three short-lived connections before the suspicion.
        assert len(events.of(Connected, before=suspected_at)) == 3, str(events)
        assert len(events.of(Closed, before=suspected_at)) == 3, str(events)
        before = events.of(Reconnecting, before=suspected_at)
        # Each accepted connection resets the backoff: every wait is a first one.
        assert len(before) == 2, str(events)
        assert all(MIN_DELAY <= e.delay <= 2 * MIN_DELAY for _, e in before), str(events)
        # From then on: the maximum delay, every time.
        events.wait_for(Reconnecting, 3, timeout=3 * MAX_DELAY + SLACK, after=suspected_at)
        after = events.of(Reconnecting, after=suspected_at)
        assert [e.delay for _, e in after] == [MAX_DELAY] * len(after), str(events)
        assert len(events.of(TakeoverSuspected)) == 1
        _timing(
            f"takeover ({closes})",
            "TakeoverSuspected after 3 short connections",
            suspected_at - start,
            "takeover",
        )
    finally:
        assert client.disconnect()


@pytest.mark.parametrize("closes", list(TAKEOVER_PEERS))
def test_monitor_warns_of_a_takeover(peers: Peers, closes: str) -> None:
    peer = peers.start(TAKEOVER_PEERS[closes], connections=50)
    run = run_cli(peer.uri(), *FAST, "--duration", "3", command="monitor", timeout=10)

    lines = run.stdout.splitlines()
    # The end finds it connected (a DISCONNECT, exit 0) or between two connections (the
    # status of the last loss: the server closed it, 3).
    if "DISCONNECT sent" in lines[-1]:
        assert run.code == 0, str(run)
    else:
        assert "done; not connected since: the server closed the connection" in lines[-1]
        assert run.code == 3, str(run)
    warned = [
        i
        for i, line in enumerate(lines)
        if "the server keeps closing the connection soon after accepting it: another client "
        "probably uses client ID 'pw" in line
    ]
    assert len(warned) == 1, str(run)
    # After exactly three connections that the server ended.
    assert sum("connection lost" in line for line in lines[: warned[0]]) == 3, str(run)
    assert "slowing down (two gateways with one ID throw each other off)" in lines[warned[0]]
    later = [line for line in lines[warned[0] :] if "connecting again in" in line]
    assert later and all("connecting again in 1.0 s" in line for line in later), str(run)
    _clean(run)


# ---------------------------------------------------------------------------- 5: refusals


def _accepted_then(answer: bytes) -> Handler:
    """The first connection accepted and dropped after 0.3 s; every later CONNECT
    answered with ``answer``."""
    return sequence(for_at_most(mqtt_server(), 0.3), mqtt_server(answer))


REFUSALS = {2: "identifier-rejected", 4: "bad-username-or-password", 5: "not-authorized"}


@pytest.mark.standard_loop("the supervisor's decision, after its delay")
@pytest.mark.parametrize("code", list(REFUSALS))
def test_refusal_that_retrying_cannot_fix_stops_after_one_attempt(
    driver: Driver, peers: Peers, code: int
) -> None:
    peer = peers.start(_accepted_then(connack(code)), connections=10)
    events = Events()
    client = driver.client(_settings(peer.uri(), username="plant", password="x"), on_event=events)
    try:
        client.connect()
        lost_at, _ = events.wait_for(Closed, timeout=0.3 + SLACK)
        assert client.wait(MIN_DELAY + SLACK), str(events)
        stopped = time.monotonic()
        _, given_up = events.wait_for(GivingUp, timeout=0)
        error = given_up.error
        assert isinstance(error, ServerRefused) and int(error.return_code) == code, error
        assert client.error is error
        assert len(events.of(Reconnecting)) == 1, str(events)
        assert client.diagnose(error)[:2] == (1, REFUSALS[code]), client.diagnose(error)
        assert len(peer.recordings) == 2, [r.names() for r in peer.recordings]
        assert peer.recordings[1].names() == ["CONNECT"]
        _timing(
            f"refusal {code} on reconnection",
            "GivingUp, wait() True",
            stopped - lost_at,
            client.diagnose(error)[1],
        )
    finally:
        assert client.disconnect()


def test_refusal_5_at_the_first_connect_stops_the_client(driver: Driver, peers: Peers) -> None:
    peer = peers.start(mqtt_server(connack(5)), connections=10)
    client = driver.client(_settings(peer.uri(), username="plant", password="x"))
    try:
        with pytest.raises(ServerRefused) as refused:
            client.connect()
        assert int(refused.value.return_code) == 5
        assert len(peer.recordings) == 1, "retried a refusal that retrying cannot fix"
        # wait() is documented to return True once the client stopped, and "a refusal
        # that retrying cannot fix" is one of the ways it stops.
        assert client.wait(0.5), "wait() after a refused connect() does not return True"
    finally:
        assert client.disconnect()


@pytest.mark.standard_loop(
    "the supervisor's retries, after its delays (on uvloop: the broker killed)"
)
def test_server_unavailable_is_retried(driver: Driver, peers: Peers) -> None:
    peer = peers.start(_accepted_then(connack(3)), connections=10)
    events = Events()
    client = driver.client(_settings(peer.uri()), on_event=events)
    try:
        client.connect()
        events.wait_for(Reconnecting, 3, timeout=0.3 + MIN_DELAY + 0.4 + 2 * SLACK)
        attempts = events.of(Reconnecting)
        codes = [
            int(e.error.return_code) if isinstance(e.error, ServerRefused) else e.error
            for _, e in attempts[1:]
        ]
        assert codes == [3] * len(codes), str(events)
        assert len(peer.recordings) >= 3, "fewer than two refused attempts"
        assert not events.of(GivingUp)
        assert not client.wait(0)
        # disconnect() in the middle of a backoff ends the thread at once.
        asked = time.monotonic()
        assert client.disconnect()
        _timing("refusal 3", "retried; disconnect() during backoff", time.monotonic() - asked, "-")
    finally:
        assert client.disconnect()


def test_monitor_exits_1_when_not_authorized(peers: Peers) -> None:
    peer = peers.start(mqtt_server(connack(5)), connections=10)
    run = run_cli(peer.uri(), *FAST, "-u", "plant", "--duration", "5", command="monitor")

    assert run.code == 1, str(run)
    assert (
        "FAILED (not-authorized, exit 1): refused with return code 5: the server does not "
        "allow this client to connect (user name 'plant'): check the user name and "
        "password, and the server's access rules" in run.stderr
    ), str(run)
    assert run.seconds < 2.0, str(run)
    assert len(peer.recordings) == 1
    _clean(run)


def test_monitor_gives_up_when_not_authorized_on_reconnection(peers: Peers) -> None:
    peer = peers.start(_accepted_then(connack(5)), connections=10)
    run = run_cli(peer.uri(), *FAST, "-u", "plant", "--duration", "5", command="monitor")

    assert run.code == 1, str(run)
    sentence = "refused with return code 5: the server does not allow this client to connect"
    assert f"not connecting again: {sentence}" in run.stdout, str(run)
    assert f"FAILED (not-authorized, exit 1): {sentence}" in run.stderr, str(run)
    assert run.seconds < 3.0, str(run)
    assert len(peer.recordings) == 2
    _clean(run)
    _timing("refusal 5 on reconnection (monitor)", "exit 1", run.seconds, "not-authorized")


@pytest.mark.standard_loop(
    "the client's state after the supervisor's delay (on uvloop: the broker killed)"
)
def test_error_is_cleared_by_a_reconnection(driver: Driver, peers: Peers) -> None:
    # Client.error: "why the (last) connection ended: None while it runs".
    peer = peers.start(sequence(for_at_most(mqtt_server(), 0.3), mqtt_server()), connections=3)
    events = Events()
    client = driver.client(_settings(peer.uri()), on_event=events)
    try:
        client.connect()
        events.wait_for(Connected, 2, timeout=0.3 + MIN_DELAY + SLACK + 1.0)
        assert client.connected
        assert client.error is None, f"client.error is {client.error!r} on a running connection"
    finally:
        assert client.disconnect()


# ---------------------------------------------------------------------------- 6: auto


def test_protocol_auto_falls_back_to_mqtt_3_1(peers: Peers) -> None:
    peer = peers.start(by_protocol_level({3: connack(0)}), connections=3)
    run = run_cli(peer.uri(), "--protocol", "auto", "-t", "1")

    assert run.code == 0, str(run)
    assert "OK: connected to mqtt://127.0.0.1:" in run.stdout, str(run)
    assert " in MQTT 3.1;" in run.stdout, str(run)
    assert peer.finish()
    connects = [r.packets[0][1] for r in peer.recordings]
    assert [connect_level(c) for c in connects] == [("MQTT", 5), ("MQTT", 4), ("MQIsdp", 3)]
    assert [r.names() for r in peer.recordings] == [
        ["CONNECT"],
        ["CONNECT"],
        ["CONNECT", "DISCONNECT"],
    ]
    _clean(run)


# ---------------------------------------------------------------------------- 7: secrets

PASSWORD = "Zq7-pw-UNMISTAKABLE-4411"
KEY_PASSWORD = "Kx9-key-UNMISTAKABLE-2207"


def _assert_hidden(run: CliRun, *secrets: str) -> None:
    shown = run.stdout + run.stderr
    for secret in secrets:
        raw = secret.encode()
        for form in (
            secret,
            raw.hex(),
            raw.hex(" "),
            raw.hex().upper(),
            base64.b64encode(raw).decode(),
            repr(raw),
        ):
            assert form not in shown, f"{secret!r} shows as {form!r}:\n{run}"


def test_password_never_shown_through_a_reconnection(peers: Peers) -> None:
    env = {"PCO_TEST_PASSWORD": PASSWORD, "PCO_TEST_KEY_PASSWORD": KEY_PASSWORD}
    # A key password with mqtt:// is refused before any traffic, without showing it.
    refused = run_cli(
        "mqtt://127.0.0.1:1",
        *("-u", "plant", "--password-env", "PCO_TEST_PASSWORD"),
        *("--key-password-env", "PCO_TEST_KEY_PASSWORD", "--debug"),
        env=env,
    )
    assert refused.code == 2, str(refused)
    _assert_hidden(refused, PASSWORD, KEY_PASSWORD)

    peer = peers.start(sequence(for_at_most(mqtt_server(), 0.5), mqtt_server()), connections=3)
    run = run_cli(
        peer.uri(),
        *FAST,
        *("-u", "plant", "--password-env", "PCO_TEST_PASSWORD", "--debug"),
        *("--duration", "1.5"),
        command="monitor",
        env=env,
    )
    assert run.code == 0, str(run)
    assert "connected again to 127.0.0.1:" in run.stdout, str(run)
    assert " DEBUG " in run.stderr, str(run)  # the wire log was on
    _assert_hidden(run, PASSWORD, KEY_PASSWORD)
    # The password did go out, in both CONNECTs.
    assert len(peer.recordings) == 2
    for recording in peer.recordings:
        assert PASSWORD.encode() in recording.packets[0][1]


def test_key_password_never_shown_through_a_reconnection(
    peers: Peers, broker: Broker, tmp_path: Path
) -> None:
    key = tmp_path / "client-encrypted.key"
    subprocess.run(
        [
            require("openssl"),
            *("pkcs8", "-topk8", "-v2", "aes-256-cbc", "-in", str(broker.pki.client_key)),
            *("-passout", f"pass:{KEY_PASSWORD}", "-out", str(key)),
        ],
        check=True,
        capture_output=True,
        timeout=10,
    )
    upstream = broker.ports.tls_client_cert  # needs the client certificate: the key opened
    peer = peers.start(
        sequence(for_at_most(raw_relay(upstream), 0.5), raw_relay(upstream)), connections=3
    )
    env = {"PCO_TEST_PASSWORD": PASSWORD, "PCO_TEST_KEY_PASSWORD": KEY_PASSWORD}
    run = run_cli(
        peer.uri("mqtts"),
        *FAST,
        *("--cafile", str(broker.pki.ca_cert), "--certfile", str(broker.pki.client_cert)),
        *("--keyfile", str(key), "--key-password-env", "PCO_TEST_KEY_PASSWORD"),
        *("-u", "plant", "--password-env", "PCO_TEST_PASSWORD", "--debug"),
        *("--duration", "1.5"),
        command="monitor",
        env=env,
    )
    assert run.code == 0, str(run)
    assert "connected again to 127.0.0.1:" in run.stdout, str(run)
    assert " DEBUG " in run.stderr, str(run)
    _assert_hidden(run, PASSWORD, KEY_PASSWORD)
    assert len(peer.recordings) == 2
