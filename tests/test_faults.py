"""Faults a real broker will not produce, played by byte-level peers (tests/peers.py).

A port that swallows CONNECT, a server that stops answering PINGREQ, refusals with every
return code, malformed answers, stored PUBLISH packets right after CONNACK, and the
WebSocket upgrade seen byte by byte: the request, refusals, and MQTT cut across frames in
every way the binding allows (and a text frame, which it does not).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest

import pco_wire
from pco_wire import (
    Client,
    Closed,
    ConnAckCode,
    Connected,
    PacketReceived,
    PacketType,
    PingSent,
    ResponseTimeout,
    ServerRefused,
    Settings,
)
from pco_wire.session import Event
from tests.peers import (
    BINARY,
    CLOSE,
    CONNACK_ACCEPTED,
    CONT,
    TEXT,
    Peer,
    Peers,
    closing,
    connack,
    frame,
    mqtt_server,
    publish,
    run_cli,
    silent,
    websocket_server,
)

#: Short, so that failures end quickly; the timing assertions are relative to it.
RESPONSE_TIMEOUT = 1.0
#: How late a deadline may be noticed: scheduling, a loaded CI machine.
SLACK = 0.5

STORED = publish("plant/line1/temp", b"21.5", qos=1, packet_id=7) + publish(
    "plant/line2/state", b"off"
)


@pytest.fixture
def peers() -> Iterator[Peers]:
    with Peers.running() as running:
        yield running


def _settings(uri: str, **options: Any) -> Settings:
    options.setdefault("response_timeout", RESPONSE_TIMEOUT)
    return Settings(uri, **options)


# ---------------------------------------------------------------------------- CONNACK


def test_silent_server_times_out_in_phase_connack(peers: Peers) -> None:
    peer = peers.start(silent())
    start = time.monotonic()
    result = pco_wire.test_connection(_settings(peer.uri()))
    elapsed = time.monotonic() - start

    assert (result.ok, result.exit_code, result.category) == (False, 5, "timeout"), result
    assert result.message.startswith("timeout in phase CONNACK (1 s): no CONNACK within 1 s"), (
        result.message
    )
    assert isinstance(result.error, ResponseTimeout) and result.error.phase == "CONNACK"
    assert [(p.name, p.ok) for p in result.phases] == [
        ("name resolution", True),
        ("TCP connect", True),
        ("CONNACK", False),
    ]
    assert RESPONSE_TIMEOUT <= result.phases[-1].seconds <= RESPONSE_TIMEOUT + SLACK
    assert RESPONSE_TIMEOUT <= elapsed <= RESPONSE_TIMEOUT + 1.0, elapsed
    # No DISCONNECT after a CONNECT that was never answered, and the socket is closed.
    assert peer.finish(), "the client did not close the connection"
    assert peer.recording.names() == ["CONNECT"]
    assert peer.recording.client_closed


def test_cli_on_a_silent_server_exits_5_within_the_response_timeout(peers: Peers) -> None:
    peer = peers.start(silent())
    run = run_cli(peer.uri(), "--response-timeout", "1", "--json")

    assert run.code == 5, run
    # The whole program, interpreter start included, ends between T and T + 1 s.
    assert 1.0 <= run.seconds <= 2.0, run
    doc = run.json()
    assert (doc["ok"], doc["exit_code"], doc["category"]) == (False, 5, "timeout"), run
    assert "phase CONNACK" in doc["message"], run
    assert doc["phases"][-1]["name"] == "CONNACK" and not doc["phases"][-1]["ok"], run
    assert doc["return_code"] is None and doc["session_present"] is None, run


def test_exactly_connect_and_disconnect_then_we_close(peers: Peers) -> None:
    peer = peers.start(mqtt_server())
    result = pco_wire.test_connection(_settings(peer.uri()))

    assert result.ok and result.exit_code == 0, result
    assert peer.finish(), "the peer never saw the client close"
    recording = peer.recording
    assert recording.names() == ["CONNECT", "DISCONNECT"]
    # The peer never closes on its own: the end of the stream came from us.
    assert recording.client_closed
    assert recording.errors == []


def test_closed_without_answer_is_not_taken_for_tls(peers: Peers) -> None:
    # Two connections: the CONNECT, then the TLS probe, which this peer also just closes.
    peer = peers.start(closing(), connections=2)
    result = pco_wire.test_connection(_settings(peer.uri()))

    assert (result.exit_code, result.category) == (3, "closed-before-connack"), result
    assert "closed the connection after CONNECT without an answer" in result.message
    assert [p.name for p in result.phases] == [
        "name resolution",
        "TCP connect",
        "CONNACK",
        "TLS probe",
    ]
    assert result.phases[-1].detail.endswith(": no TLS answer (closed)"), result.phases[-1]
    # The probe found no TLS: the sentence does not suggest it.
    assert "mqtts://" not in result.message and "TLS hello got no TLS answer" in result.message


@pytest.mark.parametrize(
    ("code", "category", "words"),
    [
        (1, "unacceptable-protocol-version", "try --protocol 3.1"),
        (2, "identifier-rejected", "rejected client ID 'gateway17'"),
        (3, "server-unavailable", "try again later"),
        (4, "bad-username-or-password", "user name 'plant'"),
        (5, "not-authorized", "user name 'plant'"),
    ],
)
def test_refusal_return_codes(peers: Peers, code: int, category: str, words: str) -> None:
    peer = peers.start(mqtt_server(connack(code)))
    result = pco_wire.test_connection(
        _settings(peer.uri(), client_id="gateway17", username="plant", password="x")
    )

    assert (result.exit_code, result.category) == (1, category), result
    assert result.message.startswith(f"refused with return code {code}: "), result.message
    assert words in result.message, result.message
    assert result.return_code == code
    assert result.return_code_text == ConnAckCode(code).text
    assert isinstance(result.error, ServerRefused)
    # MQTT 3.1.1 §3.2.2.3: the server closes after a refusal; we send nothing more.
    assert peer.finish()
    assert peer.recording.names() == ["CONNECT"]


@pytest.mark.parametrize(
    ("answer", "words"),
    [
        (bytes.fromhex("d000"), "expected CONNACK first, got PINGRESP"),
        (bytes.fromhex("20020100") + bytes.fromhex("20020000"), "CONNACK after the first one"),
    ],
    ids=["pingresp-first", "two-connacks"],
)
def test_broken_answers_are_protocol_errors(peers: Peers, answer: bytes, words: str) -> None:
    peer = peers.start(mqtt_server(answer))
    result = pco_wire.test_connection(_settings(peer.uri(), client_id="gw1", clean_session=False))

    assert (result.exit_code, result.category) == (6, "protocol-error"), result
    assert words in result.message, result.message


@pytest.mark.parametrize("code", [6, 0x80, 0x9F, 255])
def test_undefined_return_code_says_the_server_refused(peers: Peers, code: int) -> None:
    # MQTT 3.1.1 §3.2.2.3 reserves 6..255; brokers use them for refusals 3.1.1 has no
    # code for. Still a protocol error (exit 6), but worded as the refusal it is.
    peer = peers.start(mqtt_server(connack(code)))
    result = pco_wire.test_connection(_settings(peer.uri()))

    assert (result.exit_code, result.category) == (6, "unknown-return-code"), result
    assert result.message.startswith(
        f"the server refused with return code {code}, which MQTT 3.1.1 does not define"
    ), result.message
    assert "keep-alive" in result.message and "see its log" in result.message, result.message
    assert "really an MQTT port" not in result.message, result.message


# ---------------------------------------------------------------------------- stored PUBLISH


def test_stored_publish_after_connack_is_not_a_failure(peers: Peers) -> None:
    # A persistent session with messages waiting: CONNACK (session present) and two
    # PUBLISH packets in one write, as a broker delivers them.
    peer = peers.start(mqtt_server(connack(0, session_present=True) + STORED))
    result = pco_wire.test_connection(
        _settings(peer.uri(), client_id="gateway17", clean_session=False)
    )

    assert (result.ok, result.exit_code, result.category) == (True, 0, "connected"), result
    assert result.session_present is True
    assert result.other_packets == 2
    # Still exactly CONNECT and DISCONNECT: a test connection acknowledges nothing.
    assert peer.finish()
    assert peer.recording.names() == ["CONNECT", "DISCONNECT"]


def test_cli_counts_stored_publish(peers: Peers) -> None:
    peer = peers.start(mqtt_server(connack(0, session_present=True) + STORED))
    run = run_cli(peer.uri(), "--client-id", "gateway17", "--no-clean-session", "--json")

    assert run.code == 0, run
    doc = run.json()
    assert (doc["ok"], doc["session_present"], doc["other_packets"]) == (True, True, 2), run


def test_client_reports_publish_arriving_later(peers: Peers) -> None:
    peer = peers.start(
        mqtt_server(
            connack(0, session_present=True),
            later=[publish("plant/a", b"1", qos=1, packet_id=1), publish("plant/b", b"2")],
        )
    )
    events: list[Event] = []
    both = threading.Event()

    def on_event(event: Event) -> None:
        events.append(event)
        if sum(isinstance(e, PacketReceived) for e in events) == 2:
            both.set()

    with Client(
        _settings(peer.uri(), client_id="gateway17", clean_session=False), on_event=on_event
    ) as client:
        assert both.wait(3.0), events
        assert client.connected and client.error is None
    received = [e for e in events if isinstance(e, PacketReceived)]
    assert [e.packet.packet_type for e in received] == [PacketType.PUBLISH] * 2
    assert isinstance(events[0], Connected) and events[0].session_present
    assert peer.finish()
    assert peer.recording.names() == ["CONNECT", "DISCONNECT"]


# ---------------------------------------------------------------------------- PINGRESP


def test_client_ends_when_pingresp_never_comes(peers: Peers) -> None:
    peer = peers.start(mqtt_server(answer_pings=False))
    events: list[Event] = []
    threads = set(threading.enumerate())
    client = Client(_settings(peer.uri(), keep_alive=1), on_event=events.append, reconnect=False)
    client.connect()
    connected_at = time.monotonic()

    assert client.wait(1 + RESPONSE_TIMEOUT + 2.0), "the connection outlived its PINGRESP"
    ended = time.monotonic()
    # The PINGREQ goes out 0.9 s after CONNECT (keep-alive 1 s less its margin); the
    # connection ends one response timeout later.
    assert ended - connected_at <= 1 + RESPONSE_TIMEOUT + SLACK, ended - connected_at
    pingreq_at = peer.recording.times("PINGREQ")
    assert len(pingreq_at) == 1, peer.recording.names()
    # Counted from when the client queued the PINGREQ, a hair before the peer got it.
    assert RESPONSE_TIMEOUT - 0.05 <= ended - pingreq_at[0] <= RESPONSE_TIMEOUT + SLACK
    assert not client.connected
    error = client.error
    assert isinstance(error, ResponseTimeout), error
    assert error.phase == "PINGRESP"
    assert str(error) == "PINGRESP: no answer within 1 s", str(error)
    kinds = [type(e) for e in events]
    assert kinds == [Connected, PingSent, Closed], events
    closed = events[-1]
    assert isinstance(closed, Closed) and closed.error is error
    client.disconnect()
    assert set(threading.enumerate()) <= threads, "the client's thread is still running"
    # No DISCONNECT on a dead connection: the socket is just closed.
    assert peer.finish()
    assert peer.recording.names() == ["CONNECT", "PINGREQ"]
    assert peer.recording.client_closed


def test_monitor_exits_5_when_pingresp_never_comes(peers: Peers) -> None:
    peer = peers.start(mqtt_server(answer_pings=False))
    run = run_cli(
        peer.uri(),
        "-k",
        "1",
        "-t",
        "1",
        "--duration",
        "10",
        "--no-reconnect",
        command="monitor",
        timeout=15,
    )

    assert run.code == 5, run
    assert run.seconds < 5, run
    assert "PINGREQ sent" in run.stdout, run
    assert "connection lost: timeout in phase PINGRESP (1 s): no PINGRESP within 1 s" in (
        run.stdout
    ), run
    assert "FAILED (timeout, exit 5): timeout in phase PINGRESP (1 s)" in run.stderr, run


# ---------------------------------------------------------------------------- WebSocket


def _ws(peers: Peers, **script: Any) -> Peer:
    return peers.start(websocket_server(**script))


@pytest.mark.parametrize(
    ("rest", "request_line", "shown"),
    [
        ("/some/path?x=1&flag", "GET /some/path?x=1&flag HTTP/1.1", "/some/path?x=***&flag"),
        ("", "GET /mqtt HTTP/1.1", "/mqtt"),
        ("/", "GET / HTTP/1.1", "/"),
        ("/p\u00e4th", "GET /p%C3%A4th HTTP/1.1", "/p%C3%A4th"),
    ],
    ids=["path-and-query", "no-path", "root", "non-ascii"],
)
def test_websocket_request_target(peers: Peers, rest: str, request_line: str, shown: str) -> None:
    peer = _ws(peers)
    result = pco_wire.test_connection(_settings(peer.uri("ws", rest)))

    assert result.ok, result
    assert peer.finish()
    assert peer.recording.request_line == request_line
    # Query values may be tokens (presigned URLs): reports show the keys only.
    upgrade = [p for p in result.phases if p.name == "WebSocket upgrade"]
    assert upgrade and upgrade[0].detail == shown
    assert "x=1" not in result.uri
    assert peer.recording.names() == ["CONNECT", "DISCONNECT"]


@pytest.mark.parametrize(
    ("protocol", "subprotocol", "connect_head"),
    [("3.1.1", "mqtt", b"\x00\x04MQTT\x04"), ("3.1", "mqttv3.1", b"\x00\x06MQIsdp\x03")],
)
def test_websocket_subprotocol(
    peers: Peers, protocol: str, subprotocol: str, connect_head: bytes
) -> None:
    peer = _ws(peers)
    result = pco_wire.test_connection(_settings(peer.uri("ws"), protocol=protocol))

    assert result.ok, result
    assert peer.finish()
    headers = peer.recording.headers
    assert headers.get("sec-websocket-protocol") == subprotocol, headers
    assert headers.get("upgrade", "").lower() == "websocket", headers
    _, connect = peer.recording.packets[0]
    assert connect[2 : 2 + len(connect_head)] == connect_head, connect.hex(" ")


def test_websocket_extra_headers_from_the_cli(peers: Peers) -> None:
    peer = _ws(peers)
    run = run_cli(
        peer.uri("ws"),
        "--ws-header",
        "X-Gateway-Token: abc123",
        "--ws-header",
        "Authorization: Bearer t0k3n",
    )

    assert run.code == 0, run
    assert peer.finish()
    headers = peer.recording.headers
    assert headers.get("x-gateway-token") == "abc123", headers
    assert headers.get("authorization") == "Bearer t0k3n", headers
    assert headers.get("sec-websocket-protocol") == "mqtt", headers


@pytest.mark.parametrize(
    ("status", "words"),
    [(401, "HTTP 401 Unauthorized"), (404, "HTTP 404 Not Found")],
)
def test_websocket_upgrade_refused(peers: Peers, status: int, words: str) -> None:
    peer = _ws(peers, status=status, body=b"go away")
    result = pco_wire.test_connection(_settings(peer.uri("ws", "/mqtt")))

    assert (result.exit_code, result.category) == (4, "websocket-upgrade-failed"), result
    assert words in result.message, result.message
    assert "go away" in result.message, result.message
    hint = "--ws-header" if status == 401 else "/mqtt was asked for"
    assert hint in result.message, result.message
    assert [(p.name, p.ok) for p in result.phases][-1] == ("WebSocket upgrade", False)
    assert peer.finish()
    assert peer.recording.names() == []  # no MQTT byte before the upgrade


def test_cli_websocket_401(peers: Peers) -> None:
    peer = _ws(peers, status=401)
    run = run_cli(peer.uri("ws"))

    assert run.code == 4, run
    assert "FAILED (websocket-upgrade-failed, exit 4): WebSocket upgrade refused:" in run.stdout
    assert "HTTP 401" in run.stdout, run


@pytest.mark.parametrize(
    "frames",
    [
        (frame(BINARY, b"\x20\x02"), frame(BINARY, b"\x00\x00")),
        (
            frame(BINARY, b"\x20", fin=False),
            frame(CONT, b"\x02\x00", fin=False),
            frame(CONT, b"\x00"),
        ),
        tuple(frame(BINARY, bytes([byte])) for byte in CONNACK_ACCEPTED),
    ],
    ids=["two-frames", "fragmented-message", "byte-per-frame"],
)
def test_websocket_connack_split_across_frames(peers: Peers, frames: tuple[bytes, ...]) -> None:
    peer = _ws(peers, after_connect=frames)
    result = pco_wire.test_connection(_settings(peer.uri("ws")))

    assert (result.ok, result.exit_code) == (True, 0), result
    assert result.other_packets == 0
    assert peer.finish()
    assert peer.recording.names() == ["CONNECT", "DISCONNECT"]


def test_websocket_connack_and_publish_in_one_frame(peers: Peers) -> None:
    peer = _ws(peers, after_connect=(frame(BINARY, CONNACK_ACCEPTED + publish("t", b"x")),))
    result = pco_wire.test_connection(_settings(peer.uri("ws")))

    assert (result.ok, result.exit_code, result.other_packets) == (True, 0, 1), result


def test_websocket_connack_with_the_101_answer(peers: Peers) -> None:
    # The server's first frame arrives in the same segment as its HTTP answer.
    peer = _ws(peers, with_answer=frame(BINARY, CONNACK_ACCEPTED), after_connect=())
    result = pco_wire.test_connection(_settings(peer.uri("ws")))

    assert (result.ok, result.exit_code) == (True, 0), result


@pytest.mark.parametrize("coalesced", [False, True], ids=["own-segment", "with-the-101"])
def test_websocket_text_frame_is_an_error(peers: Peers, coalesced: bool) -> None:
    # MQTT 3.1.1 §6.0: MQTT travels in binary frames; a text frame breaks the binding,
    # even when it carries a perfectly good CONNACK, and wherever it sits in the stream.
    text = frame(TEXT, CONNACK_ACCEPTED)
    if coalesced:
        peer = _ws(peers, with_answer=text, after_connect=())
    else:
        peer = _ws(peers, after_connect=(text,))
    result = pco_wire.test_connection(_settings(peer.uri("ws")))

    assert (result.ok, result.exit_code, result.category) == (False, 4, "websocket-error"), result
    assert "expected binary WebSocket frames, got a text frame" in result.message, result.message


def test_websocket_close_frame_before_connack_keeps_its_reason(peers: Peers) -> None:
    # The server did answer, with a close frame that says why (RFC 6455 §7.1.5): the
    # diagnosis must pass that on, not call it a silent close and suggest TLS.
    peer = _ws(peers, after_connect=(frame(CLOSE, (1008).to_bytes(2, "big") + b"policy"),))
    result = pco_wire.test_connection(_settings(peer.uri("ws")))

    assert (result.ok, result.exit_code) == (False, 3), result
    assert "code 1008" in result.message and "policy" in result.message, result.message
    assert "without an answer" not in result.message, result.message
    assert "mqtts://" not in result.message, result.message


def test_websocket_refusal_then_close_in_one_write_keeps_the_refusal(peers: Peers) -> None:
    # A broker refuses (return code 5) and closes the WebSocket: both frames arrive in one
    # read, and the refusal is the reason, not the close that follows it.
    refusal = frame(BINARY, bytes.fromhex("20020005"))
    close = frame(CLOSE, (1000).to_bytes(2, "big") + b"bye")
    peer = _ws(peers, after_connect=(refusal + close,))
    result = pco_wire.test_connection(_settings(peer.uri("ws")))

    assert (result.exit_code, result.category, result.return_code) == (1, "not-authorized", 5)
    assert peer.finish()


def test_websocket_subprotocol_not_selected_is_a_warning(peers: Peers) -> None:
    # MQTT 3.1.1 §6: the server must select "mqtt"; one that does not (or a proxy that
    # drops the header) still carries MQTT: connected, and said.
    peer = _ws(peers, select_subprotocol=False)
    result = pco_wire.test_connection(_settings(peer.uri("ws")))

    assert result.ok, result
    assert any("did not select the WebSocket subprotocol 'mqtt'" in w for w in result.warnings)
    selected = _ws(peers)
    assert not [
        w
        for w in pco_wire.test_connection(_settings(selected.uri("ws"))).warnings
        if "subprotocol" in w
    ]
