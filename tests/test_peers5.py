"""MQTT 5.0 from byte-level peers (tests/peers.py): what Mosquitto will not do.

Enhanced authentication in rounds before CONNACK and again on a held connection (§4.12),
redirects by CONNACK and by DISCONNECT (§4.11), a server that ends the session saying why,
with hostile text in its reason string, a session taken over (DISCONNECT 0x8E), and CONNACK
properties that break the specification. Each peer writes the server's bytes by hand and
reads the client's with a parser of its own, so the codec is not checked against itself.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from pco_wire import (
    Authenticator,
    Closed,
    Connected,
    LocalProtocolError,
    Reauthenticated,
    Reconnecting,
    ResponseTimeout,
    ServerDisconnected,
    Settings,
    TakenOver,
    TransportError,
)
from pco_wire.reconnect import DEFAULT_MAX_DELAY
from tests.drivers import Driver
from tests.peers import (
    SLICE,
    PeerConnection,
    Peers,
    connect_level,
    mqtt_server,
    packet_name,
    run_cli,
    sequence,
    silent,
)

#: Short, so that failures end quickly.
RESPONSE_TIMEOUT = 1.0
#: How late a deadline may be noticed: scheduling, a loaded machine.
SLACK = 0.5
#: The longest a test waits for an event that should come at once.
WAIT = 5.0

METHOD = "SCRAM-PCO"
FIRST = b"client-first"

ESCAPES = "\x1b[31m\x1b]0;owned\x07\r\nOK: fake\x08\x9b2J\u202e"
RAW_CONTROLS = ("\x1b", "\x07", "\r", "\x08", "\x9b", "\u202e")


@pytest.fixture
def peers() -> Iterator[Peers]:
    with Peers.running() as running:
        yield running


def _settings(uri: str, **options: Any) -> Settings:
    options.setdefault("response_timeout", RESPONSE_TIMEOUT)
    options.setdefault("protocol", "5")
    return Settings(uri, **options)


# ---------------------------------------------------------------------------- bytes
# The server's packets written out (MQTT 5.0 §2.2.2, §3.2, §3.14, §3.15), and the
# client's read back, by the property table of §2.2.2.2 alone.


def _varint(value: int) -> bytes:
    out = bytearray()
    while True:
        value, digit = divmod(value, 128)
        out.append(digit | (0x80 if value else 0))
        if not value:
            return bytes(out)


def _string(text: str) -> bytes:
    data = text.encode()
    return len(data).to_bytes(2, "big") + data


def _binary(data: bytes) -> bytes:
    return len(data).to_bytes(2, "big") + data


def _properties(*items: bytes) -> bytes:
    body = b"".join(items)
    return _varint(len(body)) + body


def _text(identifier: int, text: str) -> bytes:
    return bytes([identifier]) + _string(text)


def _data(identifier: int, data: bytes) -> bytes:
    return bytes([identifier]) + _binary(data)


def _packet(first: int, body: bytes) -> bytes:
    return bytes([first]) + _varint(len(body)) + body


def connack5(code: int = 0, *items: bytes) -> bytes:
    return _packet(0x20, bytes([0, code]) + _properties(*items))


def auth5(code: int, *items: bytes) -> bytes:
    return _packet(0xF0, bytes([code]) + _properties(*items))


def disconnect5(code: int, *items: bytes) -> bytes:
    if not items:
        return bytes([0xE0, 0x01, code])
    return _packet(0xE0, bytes([code]) + _properties(*items))


AUTH_METHOD = 0x15
AUTH_DATA = 0x16
SERVER_REFERENCE = 0x1C
REASON_STRING = 0x1F
ASSIGNED_ID = 0x12

# Identifier: the size of a fixed-size value, or its kind.
_KINDS: dict[int, int | str] = {
    0x01: 1, 0x02: 4, 0x03: "s", 0x08: "s", 0x09: "b", 0x0B: "v", 0x11: 4, 0x12: "s",
    0x13: 2, 0x15: "s", 0x16: "b", 0x17: 1, 0x18: 4, 0x19: 1, 0x1A: "s", 0x1C: "s",
    0x1F: "s", 0x21: 2, 0x22: 2, 0x23: 2, 0x24: 1, 0x25: 1, 0x26: "p", 0x27: 4,
    0x28: 1, 0x29: 1, 0x2A: 1,
}  # fmt: skip


def _read_varint(data: bytes, pos: int) -> tuple[int, int]:
    value = shift = 0
    while True:
        byte = data[pos]
        pos += 1
        value |= (byte & 0x7F) << shift
        shift += 7
        if not byte & 0x80:
            return value, pos


def _read_properties(data: bytes, pos: int) -> dict[int, list[Any]]:
    """The properties at ``pos``, each identifier's values in order."""
    length, pos = _read_varint(data, pos)
    end = pos + length
    out: dict[int, list[Any]] = {}
    while pos < end:
        identifier = data[pos]
        kind = _KINDS[identifier]
        pos += 1
        value: Any
        if isinstance(kind, int):
            value, pos = int.from_bytes(data[pos : pos + kind], "big"), pos + kind
        elif kind == "v":
            value, pos = _read_varint(data, pos)
        else:
            size = int.from_bytes(data[pos : pos + 2], "big")
            value, pos = data[pos + 2 : pos + 2 + size], pos + 2 + size
            if kind == "p":
                second = int.from_bytes(data[pos : pos + 2], "big")
                value, pos = (
                    (value.decode(), data[pos + 2 : pos + 2 + second].decode()),
                    (pos + 2 + second),
                )
            elif kind == "s":
                value = value.decode()
        out.setdefault(identifier, []).append(value)
    assert pos == end, f"properties end at {pos}, not at {end}: {data.hex(' ')}"
    return out


def _body(packet: bytes) -> int:
    """Where the variable header begins: after the type byte and the Remaining Length."""
    return _read_varint(packet, 1)[1]


def connect_properties(packet: bytes) -> dict[int, list[Any]]:
    """A level-5 CONNECT's properties (§3.1.2.11): after the protocol name, level, flags
    and keep-alive."""
    assert connect_level(packet) == ("MQTT", 5), packet.hex(" ")
    start = _body(packet)
    name = int.from_bytes(packet[start : start + 2], "big")
    return _read_properties(packet, start + 2 + name + 4)


def auth_fields(packet: bytes) -> tuple[int, dict[int, list[Any]]]:
    """An AUTH's reason code and properties (§3.15.2): no body means 0x00, no properties."""
    assert packet[0] == 0xF0, f"expected AUTH, got {packet.hex(' ')}"
    start = _body(packet)
    if start == len(packet):
        return 0, {}
    if start + 1 == len(packet):
        return packet[start], {}
    return packet[start], _read_properties(packet, start + 1)


def _read_connect(conn: PeerConnection) -> dict[int, list[Any]]:
    first = conn.read_packet(5.0)
    assert first is not None and packet_name(first) == "CONNECT", first
    return connect_properties(first)


def _serve(
    conn: PeerConnection, on_packet: Callable[[PeerConnection, bytes], None] | None = None
) -> None:
    """After CONNACK: PINGREQ answered, other packets to ``on_packet``, and after
    DISCONNECT the client's close awaited."""
    while conn.alive():
        packet = conn.read_packet(SLICE)
        if packet is None:
            if conn.recording.client_closed:
                return
            continue
        kind = packet[0] >> 4
        if kind == 12:
            conn.send(bytes.fromhex("d000"))
        elif kind == 14:
            conn.wait_closed(2.0)
            return
        elif on_packet is not None:
            on_packet(conn, packet)


def _kinds(conn_packets: list[tuple[float, bytes]]) -> list[int]:
    return [packet[0] for _, packet in conn_packets]


class Events:
    """What a client emitted, and a bounded wait for the one a test expects."""

    def __init__(self) -> None:
        self.seen: list[Any] = []
        self._changed = threading.Condition()

    def __call__(self, event: Any) -> None:
        with self._changed:
            self.seen.append(event)
            self._changed.notify_all()

    def wait_for(self, kind: type, count: int = 1, timeout: float = WAIT) -> list[Any]:
        deadline = time.monotonic() + timeout
        with self._changed:
            while True:
                found = [e for e in self.seen if isinstance(e, kind)]
                remaining = deadline - time.monotonic()
                if len(found) >= count or remaining <= 0:
                    assert len(found) >= count, f"no {count} {kind.__name__}: {self.seen}"
                    return found
                self._changed.wait(remaining)


# ---------------------------------------------------------------------------- a) AUTH


def _challenger(rounds: int, answers: list[bytes]) -> Callable[[PeerConnection], None]:
    """Expect CONNECT with our method and data; challenge ``rounds`` times, each answer
    recorded in ``answers`` and checked; then CONNACK 0 naming the method."""

    def handle(conn: PeerConnection) -> None:
        properties = _read_connect(conn)
        assert properties.get(AUTH_METHOD) == [METHOD], properties
        assert properties.get(AUTH_DATA) == [FIRST], properties
        for n in range(1, rounds + 1):
            conn.send(auth5(0x18, _text(AUTH_METHOD, METHOD), _data(AUTH_DATA, b"server-%d" % n)))
            answer = conn.read_packet(2.0)
            assert answer is not None, "no AUTH answer"
            code, said = auth_fields(answer)
            assert code == 0x18 and said.get(AUTH_METHOD) == [METHOD], (code, said)
            answers.extend(said.get(AUTH_DATA, [None]))
        conn.send(connack5(0, _text(AUTH_METHOD, METHOD)))
        _serve(conn)

    return handle


def _scram_like(seen: list[bytes | None]) -> Authenticator:
    def step(data: bytes | None) -> bytes:
        seen.append(data)
        return b"proof-of-" + (data or b"nothing")

    return Authenticator(METHOD, FIRST, step)


def test_two_auth_rounds_before_connack(driver: Driver, peers: Peers) -> None:
    answers: list[bytes] = []
    peer = peers.start(_challenger(2, answers))
    seen: list[bytes | None] = []
    result = driver.test_connection(_settings(peer.uri(), authenticator=_scram_like(seen)))

    assert result.ok, result.message
    assert seen == [b"server-1", b"server-2"]  # the step saw each challenge's data
    assert answers == [b"proof-of-server-1", b"proof-of-server-2"]
    assert result.properties is not None
    assert result.properties["authentication_method"] == METHOD
    assert peer.finish()
    assert peer.recording.errors == []
    assert _kinds(peer.recording.packets) == [0x10, 0xF0, 0xF0, 0xE0]


def test_a_challenge_the_authenticator_cannot_answer_ends_with_0x8c(
    driver: Driver, peers: Peers
) -> None:
    def step(data: bytes | None) -> bytes:
        raise KeyError("nonce")

    answers: list[bytes] = []
    peer = peers.start(_challenger(1, answers))
    settings = _settings(peer.uri(), authenticator=Authenticator(METHOD, FIRST, step))
    result = driver.test_connection(settings)

    assert (result.exit_code, result.category) == (1, "authentication-failed"), result.message
    assert "KeyError" in result.message and METHOD in result.message
    assert peer.finish()
    # §4.12: the client ends an exchange it cannot go on with by DISCONNECT 0x8C.
    assert [packet for _, packet in peer.recording.packets][1:] == [bytes.fromhex("e0018c")]


def test_a_close_after_our_answer_is_not_taken_for_tls(driver: Driver, peers: Peers) -> None:
    # The server challenged us and closed on our answer: it speaks MQTT 5.0 here, so
    # neither TLS nor WebSocket is suggested, and no TLS probe is sent.
    def handle(conn: PeerConnection) -> None:
        _read_connect(conn)
        conn.send(auth5(0x18, _text(AUTH_METHOD, METHOD), _data(AUTH_DATA, b"server-1")))
        conn.read_packet(2.0)

    peer = peers.start(handle, connections=2)
    result = driver.test_connection(_settings(peer.uri(), authenticator=_scram_like([])))

    assert (result.exit_code, result.category) == (3, "closed-before-connack"), result.message
    assert result.message.startswith(
        "the server closed the connection during enhanced authentication, before CONNACK"
    ), result.message
    assert "TLS" not in result.message and "WebSocket" not in result.message
    assert [p.name for p in result.phases][-1] == "CONNACK", result.phases
    assert len(peer.recordings) == 1  # no probe came


def _token_server(secret: bytes, challenge: bool) -> Callable[[PeerConnection], None]:
    def handle(conn: PeerConnection) -> None:
        properties = _read_connect(conn)
        assert properties.get(AUTH_METHOD) == ["TOKEN"], properties
        assert properties.get(AUTH_DATA) == [secret], properties
        if challenge:
            conn.send(auth5(0x18, _text(AUTH_METHOD, "TOKEN"), _data(AUTH_DATA, b"more?")))
        else:
            conn.send(connack5(0, _text(AUTH_METHOD, "TOKEN")))
        _serve(conn)

    return handle


def test_cli_sends_the_auth_data_file_and_never_shows_it(peers: Peers, tmp_path: Path) -> None:
    secret = b"tok-7f3a9c-never-shown"
    path = tmp_path / "auth-data"
    path.write_bytes(secret + b"\n")  # one trailing newline is stripped
    peer = peers.start(_token_server(secret, challenge=False), connections=2)
    common = ("--protocol", "5", "--auth-method", "TOKEN", "--auth-data-file", str(path))

    text = run_cli(peer.uri(), *common, "-t", "2")
    assert text.code == 0, text
    assert "authentication method  TOKEN" in text.stdout, text
    shown = run_cli(peer.uri(), *common, "-t", "2", "--json", "--debug")
    assert shown.code == 0, shown
    assert shown.json()["properties"]["authentication_method"] == "TOKEN"
    for run in (text, shown):
        assert "tok-7f3a9c" not in run.stdout + run.stderr, run
    assert peer.finish()
    assert [r.errors for r in peer.recordings] == [[], []]
    assert [_kinds(r.packets) for r in peer.recordings] == [[0x10, 0xE0]] * 2


def test_cli_auth_challenged_fails_without_showing_the_data(peers: Peers, tmp_path: Path) -> None:
    secret = b"tok-7f3a9c-never-shown"
    path = tmp_path / "auth-data"
    path.write_bytes(secret)
    peer = peers.start(_token_server(secret, challenge=True), connections=2)
    args = (peer.uri(), "--protocol", "5", "--auth-method", "TOKEN", "--auth-data-file", str(path))
    plain = run_cli(*args, "-t", "2")
    debug = run_cli(*args, "-t", "2", "--debug")  # with the traceback

    for run in (plain, debug):
        assert run.code == 1, run
        assert (
            "FAILED (authentication-failed, exit 1): enhanced authentication failed: the "
            "server asked for another authentication step, and the authenticator of 'TOKEN' "
            "has a single one"
        ) in run.stdout, run
        assert "tok-7f3a9c" not in run.stdout + run.stderr, run
    assert "Traceback" not in plain.stderr, plain
    assert peer.finish()
    for recording in peer.recordings:
        assert [packet for _, packet in recording.packets][1:] == [bytes.fromhex("e0018c")]


# ---------------------------------------------------------------------------- b) re-auth


def _reauth_server(rounds: int | None, answers: list[int]) -> Callable[[PeerConnection], None]:
    """CONNACK 0 with the method; then each AUTH 0x19 is answered by ``rounds``
    challenges and AUTH 0x00 (None: never answered). ``answers`` gets each AUTH's code."""

    def on_packet(conn: PeerConnection, packet: bytes) -> None:
        code, said = auth_fields(packet)
        answers.append(code)
        assert said.get(AUTH_METHOD) == [METHOD], said
        if rounds is None:
            return
        if code == 0x19:
            assert said.get(AUTH_DATA) == [FIRST], said
        else:
            assert code == 0x18 and said.get(AUTH_DATA) == [b"proof-of-again"], (code, said)
        if answers.count(0x18) < rounds:
            conn.send(auth5(0x18, _text(AUTH_METHOD, METHOD), _data(AUTH_DATA, b"again")))
        else:
            conn.send(auth5(0x00, _text(AUTH_METHOD, METHOD)))

    def handle(conn: PeerConnection) -> None:
        _read_connect(conn)
        conn.send(connack5(0, _text(AUTH_METHOD, METHOD)))
        _serve(conn, on_packet)

    return handle


@pytest.mark.parametrize("rounds", [0, 1])
def test_reauthentication_is_answered(driver: Driver, peers: Peers, rounds: int) -> None:
    answers: list[int] = []
    peer = peers.start(_reauth_server(rounds, answers))
    events = Events()
    seen: list[bytes | None] = []
    settings = _settings(peer.uri(), authenticator=_scram_like(seen))
    with driver.client(settings, on_event=events, reconnect=False) as client:
        client.reauthenticate()
        (done,) = events.wait_for(Reauthenticated)
        assert client.connected and client.error is None
    assert done.steps == rounds
    assert 0 <= done.round_trip < RESPONSE_TIMEOUT
    assert seen == [b"again"] * rounds
    assert answers == [0x19] + [0x18] * rounds
    assert peer.finish()
    assert peer.recording.errors == []
    assert _kinds(peer.recording.packets) == [0x10, 0xF0] + [0xF0] * rounds + [0xE0]


@pytest.mark.standard_loop(
    "the session's response timeout, waited out (on uvloop: test_faults' PINGRESP that never comes)"
)
def test_reauthentication_never_answered_times_out(driver: Driver, peers: Peers) -> None:
    answers: list[int] = []
    peer = peers.start(_reauth_server(None, answers))
    events = Events()
    client = driver.client(
        _settings(peer.uri(), authenticator=_scram_like([])), on_event=events, reconnect=False
    )
    client.connect()
    asked = time.monotonic()
    client.reauthenticate()
    assert client.wait(RESPONSE_TIMEOUT + WAIT), "the re-authentication was never given up"
    waited = time.monotonic() - asked

    assert RESPONSE_TIMEOUT - 0.05 <= waited <= RESPONSE_TIMEOUT + SLACK, waited
    error = client.error
    assert isinstance(error, ResponseTimeout) and error.phase == "AUTH", error
    code, category, message = client.diagnose(error)
    assert (code, category) == (5, "timeout"), message
    assert "AUTH" in message, message
    assert not any(isinstance(e, Reauthenticated) for e in events.seen)
    client.disconnect()
    assert answers == [0x19]


def test_a_second_reauthentication_under_way_is_refused(driver: Driver, peers: Peers) -> None:
    # Both drivers alike: the second ask, before the server answered the first, raises.
    answers: list[int] = []
    peer = peers.start(_reauth_server(None, answers))
    settings = _settings(peer.uri(), authenticator=_scram_like([]), response_timeout=2.0)
    with driver.client(settings, reconnect=False) as client:
        client.reauthenticate()
        with pytest.raises(LocalProtocolError, match="under way"):
            client.reauthenticate()
    assert peer.finish()
    assert answers == [0x19]


# ---------------------------------------------------------------------------- c) redirects


CONNACK5 = connack5(0)


def _moved_to(port: int, code: int = 0x9D) -> bytes:
    return connack5(
        code, _text(SERVER_REFERENCE, f"127.0.0.1:{port}"), _text(REASON_STRING, "moved")
    )


def test_cli_reports_a_redirect_and_follows_it_when_asked(peers: Peers) -> None:
    second = peers.start(mqtt_server(CONNACK5))
    first = peers.start(mqtt_server(_moved_to(second.port)), connections=2)
    reference = f"127.0.0.1:{second.port}"

    stayed = run_cli(first.uri(), "--protocol", "5", "-t", "2")
    assert stayed.code == 1, stayed
    assert "FAILED (server-moved, exit 1): refused with reason code 0x9D" in stayed.stdout
    assert f"it points to '{reference}' (--follow-redirects connects there)" in stayed.stdout
    assert f"server reference: {reference}" in stayed.stdout, stayed
    assert not second.recordings

    followed = run_cli(first.uri(), "--protocol", "5", "-t", "2", "--follow-redirects")
    assert followed.code == 0, followed
    # The header names the server asked for; the OK line, the one that accepted.
    assert followed.stdout.startswith(f"pco_wire test {first.uri()} as "), followed
    assert f"OK: connected to mqtt://{reference} ({reference})" in followed.stdout, followed
    connacks = [line.split() for line in followed.stdout.splitlines() if "CONNACK" in line]
    assert [words[:2] for words in connacks] == [["CONNACK", "FAILED"], ["CONNACK", "ok"]]
    # The report says why the attempt went on elsewhere.
    redirected = f"reason code 0x9D; redirected to mqtt://{reference}"
    assert " ".join(connacks[0]).endswith(redirected), followed
    assert first.finish() and second.finish()
    assert [r.names() for r in first.recordings] == [["CONNECT"], ["CONNECT"]]
    assert second.recording.names() == ["CONNECT", "DISCONNECT"]
    assert connect_level(second.recording.packets[0][1]) == ("MQTT", 5)


def test_a_redirect_is_followed_by_test_connection(driver: Driver, peers: Peers) -> None:
    second = peers.start(mqtt_server(CONNACK5))
    first = peers.start(mqtt_server(_moved_to(second.port, 0x9C)))
    result = driver.test_connection(_settings(first.uri(), follow_redirects=True))

    assert result.ok, result.message
    assert result.address == f"127.0.0.1:{second.port}", result.address
    assert second.finish()
    assert second.recording.names() == ["CONNECT", "DISCONNECT"]


def test_redirects_in_a_row_stop_after_three(driver: Driver, peers: Peers) -> None:
    # A server that sends clients to itself: followed three times, then a refusal.
    port_holder: list[int] = []

    def handle(conn: PeerConnection) -> None:
        conn.read_packet(5.0)
        conn.send(_moved_to(port_holder[0]))
        conn.wait_closed(2.0)

    peer = peers.start(handle, connections=5)
    port_holder.append(peer.port)
    result = driver.test_connection(_settings(peer.uri(), follow_redirects=True))

    assert (result.exit_code, result.category) == (1, "server-moved"), result.message
    assert len(peer.recordings) == 4, peer.recordings  # the first, and three followed


@pytest.mark.parametrize(
    ("reference", "shown"),
    [("\u202eevil:1883", "'\\u202eevil:1883'"), ("127.0.0.1:99999", "'127.0.0.1:99999'")],
    ids=["bidi-host", "port"],
)
def test_a_reference_to_no_server_is_not_followed(peers: Peers, reference: str, shown: str) -> None:
    # The server's Server Reference names nothing we could connect to: its refusal stands
    # (exit 1, the reference escaped), not "invalid settings" (exit 2, ours to fix).
    peer = peers.start(mqtt_server(connack5(0x9D, _text(SERVER_REFERENCE, reference))))
    run = run_cli(peer.uri(), "--protocol", "5", "-t", "2", "--follow-redirects")

    assert run.code == 1, run
    assert "FAILED (server-moved, exit 1): refused with reason code 0x9D" in run.stdout, run
    assert f"it points to {shown}" in run.stdout, run
    for raw in RAW_CONTROLS:
        assert raw not in run.stdout and raw not in run.stderr, (raw, run)
    assert peer.finish()
    assert len(peer.recordings) == 1


def test_a_followed_reference_is_shown_escaped_in_its_phase(peers: Peers) -> None:
    dead = peers.start(silent(), connections=0)  # its listener closes at once
    assert dead.finish()
    reference = f"ws://127.0.0.1:{dead.port}/a\u202eb\x9bc"
    peer = peers.start(mqtt_server(connack5(0x9D, _text(SERVER_REFERENCE, reference))))
    run = run_cli(peer.uri(), "--protocol", "5", "-t", "2", "--follow-redirects")

    assert run.code == 3, run  # connection refused, at the server pointed to
    (phase,) = [line for line in run.stdout.splitlines() if "redirected to" in line]
    assert phase.endswith(f"redirected to ws://127.0.0.1:{dead.port}/a\\u202eb\\x9bc"), run
    for raw in RAW_CONTROLS:
        assert raw not in run.stdout and raw not in run.stderr, (raw, run)


def _disconnecting(*later: bytes) -> Callable[[PeerConnection], None]:
    """CONNACK 0, then ``later`` 0.2 s apart, then wait for the client to close."""

    def handle(conn: PeerConnection) -> None:
        _read_connect(conn)
        conn.send(CONNACK5)
        for data in later:
            time.sleep(0.2)
            conn.send(data)
        conn.wait_closed(WAIT)

    return handle


def test_a_disconnect_0x9c_moves_the_client(driver: Driver, peers: Peers) -> None:
    second = peers.start(mqtt_server(CONNACK5))
    moved = disconnect5(0x9C, _text(SERVER_REFERENCE, f"127.0.0.1:{second.port}"))
    first = peers.start(_disconnecting(moved))
    events = Events()
    with driver.client(_settings(first.uri(), follow_redirects=True), on_event=events) as client:
        events.wait_for(Connected, 2)
        assert client.connected and client.connections == 2
        assert client.info is not None and client.info.address.endswith(f":{second.port}")
    kinds = [type(e) for e in events.seen]
    assert kinds == [Connected, Closed, Reconnecting, Connected, Closed], events.seen
    assert events.seen[-1] == Closed(None)  # our own DISCONNECT
    lost = events.seen[1].error
    assert isinstance(lost, ServerDisconnected) and int(lost.reason_code) == 0x9C
    assert events.seen[2].delay == 0.0  # where to go was said: no backoff
    assert first.finish() and second.finish()
    assert first.recording.names() == ["CONNECT"]
    assert second.recording.names() == ["CONNECT", "DISCONNECT"]


def test_a_redirect_to_a_server_that_is_down_comes_back(driver: Driver, peers: Peers) -> None:
    # One DISCONNECT 0x9C to a dead port must not strand the client there: the failed
    # attempt sends the next one to the configured server again.
    dead = peers.start(silent(), connections=0)  # its listener closes at once
    assert dead.finish()
    moved = disconnect5(0x9C, _text(SERVER_REFERENCE, f"127.0.0.1:{dead.port}"))
    first = peers.start(sequence(_disconnecting(moved), mqtt_server(CONNACK5)), connections=2)
    events = Events()
    settings = _settings(
        first.uri(), follow_redirects=True, reconnect_min_delay=0.1, reconnect_max_delay=0.2
    )
    with driver.client(settings, on_event=events) as client:
        events.wait_for(Connected, 2)
        assert client.info is not None and client.info.address == f"127.0.0.1:{first.port}"
    kinds = [type(e) for e in events.seen]
    assert kinds == [Connected, Closed, Reconnecting, Reconnecting, Connected, Closed], events
    assert isinstance(events.seen[3].error, TransportError), events.seen[3]
    assert first.finish()
    assert [r.names() for r in first.recordings] == [["CONNECT"], ["CONNECT", "DISCONNECT"]]


def test_monitor_follows_a_disconnect_0x9c(peers: Peers) -> None:
    second = peers.start(mqtt_server(CONNACK5))
    reference = f"127.0.0.1:{second.port}"
    first = peers.start(_disconnecting(disconnect5(0x9C, _text(SERVER_REFERENCE, reference))))
    run = run_cli(
        first.uri(), "--protocol", "5", "--follow-redirects", "-t", "2", "--duration", "1.5",
        command="monitor",
    )  # fmt: skip

    assert run.code == 0, run
    lines = [line.split(" ", 1)[1] for line in run.stdout.splitlines()]
    assert lines[0].startswith(f"connected to {first.uri()} "), run
    assert lines[1].startswith(
        "connection lost: the server ended the connection with reason code 0x9C (Use another "
        "server)"
    ), run
    assert f"it points to '{reference}'" in lines[1], run
    assert lines[2].startswith("connecting again in 0.0 s (attempt 1"), run
    assert lines[3].startswith(f"connected again to {reference} as "), run
    assert lines[-1] == "DISCONNECT sent; the server closed the connection", run
    assert second.finish()
    assert second.recording.names() == ["CONNECT", "DISCONNECT"]


# ---------------------------------------------------------------------------- d) reason strings


def test_monitor_says_the_reason_code_its_text_and_the_reason_string(peers: Peers) -> None:
    said = disconnect5(0x8B, _text(REASON_STRING, "maintenance until 02:00"))
    peer = peers.start(_disconnecting(said))
    run = run_cli(peer.uri(), "--protocol", "5", "--no-reconnect", "-t", "2", command="monitor")

    assert run.code == 1, run
    lost = run.stdout.splitlines()[1]
    assert (
        "connection lost: the server ended the connection with reason code 0x8B (Server "
        "shutting down): the server is shutting down; the server says: 'maintenance until "
        "02:00'"
    ) in lost, run
    assert "FAILED (server-shutting-down, exit 1)" in run.stderr, run
    assert "Traceback" not in run.stderr


@pytest.mark.parametrize("json_output", [False, True], ids=["text", "json"])
def test_a_hostile_reason_string_is_printed_escaped(peers: Peers, json_output: bool) -> None:
    said = disconnect5(0x8B, _text(REASON_STRING, f"bye{ESCAPES}"))
    peer = peers.start(_disconnecting(said))
    options = ("--json",) if json_output else ()
    run = run_cli(
        peer.uri(), "--protocol", "5", "--no-reconnect", "-t", "2", *options, command="monitor"
    )

    assert run.code == 1, run
    for raw in RAW_CONTROLS:
        assert raw not in run.stdout and raw not in run.stderr, (raw, run)
    if json_output:
        lost = json.loads(run.stdout.splitlines()[1])
        assert lost["event"] == "lost" and lost["reason_code"] == 0x8B
        assert lost["reason_string"] == f"bye{ESCAPES}"  # the server's own, JSON-escaped
    else:
        assert "the server says: 'bye\\x1b[31m\\x1b]0;owned\\x07" in run.stdout, run
        assert "\\u202e" in run.stdout, run


# ---------------------------------------------------------------------------- e) taken over


def _taken_over(reason: str | None) -> bytes:
    return disconnect5(0x8E, *(() if reason is None else (_text(REASON_STRING, reason),)))


@pytest.mark.parametrize("reason", [None, "gw7 from 10.9.8.7"], ids=["bare", "reason-string"])
def test_client_emits_taken_over(driver: Driver, peers: Peers, reason: str | None) -> None:
    peer = peers.start(_disconnecting(_taken_over(reason)))
    events = Events()
    client = driver.client(_settings(peer.uri(), client_id="gw7"), on_event=events)
    client.connect()
    (taken,) = events.wait_for(TakenOver)
    (again,) = events.wait_for(Reconnecting)
    assert client.disconnect()  # during the wait before the next attempt

    assert taken == TakenOver("gw7", reason)
    assert again.delay == DEFAULT_MAX_DELAY  # said, not guessed: the longest wait at once
    kinds = [type(e) for e in events.seen]
    assert kinds == [Connected, Closed, TakenOver, Reconnecting], events.seen
    assert peer.finish()
    assert peer.recording.names() == ["CONNECT"]


def test_client_emits_taken_over_without_reconnecting_too(driver: Driver, peers: Peers) -> None:
    peer = peers.start(_disconnecting(_taken_over(None)))
    events = Events()
    client = driver.client(_settings(peer.uri(), client_id="gw7"), on_event=events, reconnect=False)
    client.connect()
    (taken,) = events.wait_for(TakenOver)
    assert client.wait(WAIT)  # it ended: no attempt follows
    client.disconnect()

    assert taken == TakenOver("gw7", None)
    kinds = [type(e) for e in events.seen]
    assert kinds == [Connected, Closed, TakenOver], events.seen
    assert peer.finish()


@pytest.mark.parametrize(
    ("reason", "shown"),
    [
        (None, None),
        ("gw7 from 10.9.8.7", "'gw7 from 10.9.8.7'"),
        ("dup\x1b[2J\r\nOK\u202e", "'dup\\x1b[2J\\r\\nOK\\u202e'"),
    ],
    ids=["bare", "reason-string", "hostile"],
)
def test_monitor_says_the_session_was_taken_over(
    peers: Peers, reason: str | None, shown: str | None
) -> None:
    raw = _taken_over(reason)
    if reason is None:
        assert raw == bytes.fromhex("e0018e")
    peer = peers.start(_disconnecting(raw), connections=2)
    args = (peer.uri(), "--protocol", "5", "-i", "gw7", "-t", "2", "--duration", "1")

    text = run_cli(*args, command="monitor")
    lines = [line.split(" ", 1)[1] for line in text.stdout.splitlines()]
    taken = [line for line in lines if line.startswith("session taken over")]
    assert len(taken) == 1, text
    assert taken[0].startswith(
        "session taken over: another client connected with client ID 'gw7'"
    ), text
    if shown is None:
        assert "the server says" not in taken[0], text
    else:
        assert taken[0].endswith(f"; the server says: {shown}"), text
    for control in RAW_CONTROLS:
        assert control not in text.stdout, (control, text)
    after = lines[lines.index(taken[0]) + 1]
    assert after.startswith("connecting again in 120.0 s"), text
    # Stopped while waiting to connect again: the takeover is the outcome.
    assert text.code == 1, text
    assert "FAILED (session-taken-over, exit 1): not connected when stopped" in text.stderr

    document = run_cli(*args, "--json", command="monitor")
    records = [json.loads(line) for line in document.stdout.splitlines()]
    (record,) = [r for r in records if r["event"] == "taken-over"]
    assert record["client_id"] == "gw7" and record["reason_string"] == reason, record
    assert record["message"] == taken[0], record
    assert peer.finish()


def _assigning(assigned: str, *later: bytes) -> Callable[[PeerConnection], None]:
    """CONNACK 0 with an Assigned Client Identifier, then ``later`` 0.2 s apart."""

    def handle(conn: PeerConnection) -> None:
        _read_connect(conn)
        conn.send(connack5(0, _text(ASSIGNED_ID, assigned)))
        for data in later:
            time.sleep(0.2)
            conn.send(data)
        conn.wait_closed(WAIT)

    return handle


HOSTILE_ID = "auto-\x1b]0;owned\x07\u202e"


def test_a_hostile_assigned_client_id_is_printed_escaped(peers: Peers) -> None:
    # The server's Assigned Client Identifier is its text (§3.2.2.3.7), whatever we sent.
    peer = peers.start(_assigning(HOSTILE_ID, disconnect5(0x8E)), connections=2)
    tested = run_cli(peer.uri(), "--protocol", "5", "-i", "gw7", "-t", "2")
    watched = run_cli(
        peer.uri(), "--protocol", "5", "-i", "gw7", "-t", "2", "--duration", "1",
        command="monitor",
    )  # fmt: skip

    assert tested.code == 0, tested
    for run in (tested, watched):
        for raw in RAW_CONTROLS:
            assert raw not in run.stdout and raw not in run.stderr, (raw, run)
    escaped = "auto-\\x1b]0;owned\\x07\\u202e"
    assert tested.stdout.splitlines()[0].endswith(f" as {escaped}"), tested
    ok = f"OK: connected to {peer.uri()} (127.0.0.1:{peer.port}) as {escaped}; reason code"
    assert ok in tested.stdout, tested
    assert f" as {escaped}; session present: no" in watched.stdout.splitlines()[0], watched
    assert peer.finish()


def test_taken_over_names_the_id_the_server_assigned(driver: Driver, peers: Peers) -> None:
    peer = peers.start(_assigning(HOSTILE_ID, disconnect5(0x8E)))
    events = Events()
    client = driver.client(_settings(peer.uri(), server_assigns_id=True), on_event=events)
    client.connect()
    (taken,) = events.wait_for(TakenOver)
    assert client.disconnect()
    assert taken == TakenOver(HOSTILE_ID, None)
    assert peer.finish()


# ---------------------------------------------------------------------------- f) CONNACK faults


@pytest.mark.parametrize(
    ("answer", "words"),
    [
        # Receive Maximum twice (§2.2.2.2: a property other than User Property at most once).
        (
            "20 09 00 00 06 21 00 05 21 00 06",
            "receive_maximum at most once, got it again (at byte 8)",
        ),
        # Payload Format Indicator is a PUBLISH property, not a CONNACK one (§3.2.2.3).
        ("20 05 00 00 02 01 01", "got 0x01 (payload_format_indicator) (at byte 5)"),
        # §3.2.2.3.3: Receive Maximum 0 is a Protocol Error.
        ("20 06 00 00 03 21 00 00", "receive_maximum 1..65535, got 0 (at byte 6)"),
        # A property length beyond the packet.
        (
            "20 06 00 00 05 21 00 05",
            "5 bytes of properties, got 3 before the end of the packet (at byte 5)",
        ),
    ],
    ids=["twice", "not-in-connack", "receive-maximum-0", "too-long"],
)
def test_malformed_connack_properties_are_a_protocol_error(
    peers: Peers, answer: str, words: str
) -> None:
    peer = peers.start(mqtt_server(bytes.fromhex(answer)), connections=2)
    text = run_cli(peer.uri(), "--protocol", "5", "-t", "2")
    shown = run_cli(peer.uri(), "--protocol", "5", "-t", "2", "--json")

    assert text.code == 6, text
    assert "FAILED (protocol-error, exit 6)" in text.stdout, text
    assert words in text.stdout, text
    # A well-formed CONNACK header: the server speaks MQTT, the port is not in doubt.
    assert "the server's CONNACK breaks MQTT 5.0: " in text.stdout, text
    assert "really an MQTT port" not in text.stdout, text
    assert "Traceback" not in text.stderr + shown.stderr
    assert shown.code == 6, shown
    document = shown.json()
    assert (document["exit_code"], document["category"]) == (6, "protocol-error")
    assert words in document["message"], document
    assert peer.finish()
