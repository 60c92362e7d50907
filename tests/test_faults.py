"""Faults a real broker will not produce, played by byte-level peers (tests/peers.py).

A port that swallows CONNECT, a server that stops answering PINGREQ, refusals with every
return code, malformed answers, stored PUBLISH packets right after CONNACK, and the
WebSocket upgrade seen byte by byte: the request, refusals, and MQTT cut across frames in
every way the binding allows (and a text frame, which it does not).
"""

from __future__ import annotations

import re
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import pco_wire
from pco_wire import (
    Closed,
    ConnAckCode,
    Connected,
    PacketReceived,
    PacketType,
    PingSent,
    ResponseTimeout,
    Security,
    ServerRefused,
    Settings,
)
from pco_wire.events import SessionEvent as Event
from pco_wire.supervisor import Supervisor
from pco_wire.sync.connection import connect, diagnose
from tests.drivers import Driver
from tests.peers import (
    BINARY,
    CLOSE,
    CONNACK_ACCEPTED,
    CONT,
    TEXT,
    CliRun,
    Peer,
    Peers,
    aborting,
    at_once,
    by_protocol_level,
    closing,
    closing_on_upgrade,
    connack,
    frame,
    mqtt_server,
    publish,
    run_cli,
    sequence,
    silent,
    tls_server,
    websocket_server,
)
from tests.pki import Pki, hostile_certificate

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


def test_silent_server_times_out_in_phase_connack(driver: Driver, peers: Peers) -> None:
    peer = peers.start(silent())
    start = time.monotonic()
    result = driver.test_connection(_settings(peer.uri()))
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


def test_exactly_connect_and_disconnect_then_we_close(driver: Driver, peers: Peers) -> None:
    peer = peers.start(mqtt_server())
    result = driver.test_connection(_settings(peer.uri()))

    assert result.ok and result.exit_code == 0, result
    assert peer.finish(), "the peer never saw the client close"
    recording = peer.recording
    assert recording.names() == ["CONNECT", "DISCONNECT"]
    # The peer never closes on its own: the end of the stream came from us.
    assert recording.client_closed
    assert recording.errors == []


def test_closed_without_answer_is_not_taken_for_tls(driver: Driver, peers: Peers) -> None:
    # Two connections: the CONNECT, then the TLS probe, which this peer also just closes.
    peer = peers.start(closing(), connections=2)
    result = driver.test_connection(_settings(peer.uri()))

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
def test_refusal_return_codes(
    driver: Driver, peers: Peers, code: int, category: str, words: str
) -> None:
    peer = peers.start(mqtt_server(connack(code)))
    result = driver.test_connection(
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


def test_protocol_auto_refused_in_both_versions(driver: Driver, peers: Peers) -> None:
    # Return code 1 to MQTT 5.0, 3.1.1 and 3.1: no "--protocol" left to suggest.
    peer = peers.start(by_protocol_level({}), connections=3)
    result = driver.test_connection(_settings(peer.uri(), protocol="auto"))

    assert (result.exit_code, result.category) == (1, "unacceptable-protocol-version"), result
    assert "accepts none of MQTT 5.0, 3.1.1 and 3.1" in result.message, result.message
    assert [p.name for p in result.phases].count("CONNACK") == 3
    assert "MQTT auto" not in result.message, result.message


@pytest.mark.parametrize(
    ("answer", "words"),
    [
        (bytes.fromhex("d000"), "expected CONNACK first, got PINGRESP"),
        (bytes.fromhex("20020100") + bytes.fromhex("20020000"), "CONNACK after the first one"),
    ],
    ids=["pingresp-first", "two-connacks"],
)
def test_broken_answers_are_protocol_errors(
    driver: Driver, peers: Peers, answer: bytes, words: str
) -> None:
    peer = peers.start(mqtt_server(answer))
    result = driver.test_connection(_settings(peer.uri(), client_id="gw1", clean_session=False))

    assert (result.exit_code, result.category) == (6, "protocol-error"), result
    assert words in result.message, result.message


@pytest.mark.parametrize("code", [6, 0x80, 0x9F, 255])
def test_undefined_return_code_says_the_server_refused(
    driver: Driver, peers: Peers, code: int
) -> None:
    # MQTT 3.1.1 §3.2.2.3 reserves 6..255; brokers use them for refusals 3.1.1 has no
    # code for. Still a protocol error (exit 6), but worded as the refusal it is.
    peer = peers.start(mqtt_server(connack(code)))
    result = driver.test_connection(_settings(peer.uri()))

    assert (result.exit_code, result.category) == (6, "unknown-return-code"), result
    assert result.message.startswith(
        f"the server refused with return code {code}, which MQTT 3.1.1 does not define"
    ), result.message
    assert "keep-alive" in result.message and "see its log" in result.message, result.message
    assert "really an MQTT port" not in result.message, result.message


# ---------------------------------------------------------------------------- stored PUBLISH


def test_stored_publish_after_connack_is_not_a_failure(driver: Driver, peers: Peers) -> None:
    # A persistent session with messages waiting: CONNACK (session present) and two
    # PUBLISH packets in one write, as a broker delivers them.
    peer = peers.start(mqtt_server(connack(0, session_present=True) + STORED))
    result = driver.test_connection(
        _settings(peer.uri(), client_id="gateway17", clean_session=False)
    )

    assert (result.ok, result.exit_code, result.category) == (True, 0, "connected"), result
    assert result.session_present is True
    assert result.other_packet_count == 2
    assert [p["type"] for p in result.other_packets] == ["PUBLISH", "PUBLISH"]
    # Still exactly CONNECT and DISCONNECT: a test connection acknowledges nothing.
    assert peer.finish()
    assert peer.recording.names() == ["CONNECT", "DISCONNECT"]


def test_cli_counts_stored_publish(peers: Peers) -> None:
    peer = peers.start(mqtt_server(connack(0, session_present=True) + STORED))
    run = run_cli(peer.uri(), "--client-id", "gateway17", "--no-clean-session", "--json")

    assert run.code == 0, run
    doc = run.json()
    assert (doc["ok"], doc["session_present"], doc["other_packet_count"]) == (True, True, 2), run
    assert doc["other_packets"] == [
        {"type": "PUBLISH", "flags": 2, "size": 24, "topic": "plant/line1/temp"},
        {"type": "PUBLISH", "flags": 0, "size": 22, "topic": "plant/line2/state"},
    ]


def test_cli_text_mentions_stored_publish(peers: Peers) -> None:
    peer = peers.start(mqtt_server(connack(0, session_present=True) + STORED))
    run = run_cli(peer.uri(), "--client-id", "gateway17", "--no-clean-session")

    assert run.code == 0, run
    assert "  received 2 other packets before DISCONNECT (2 PUBLISH)" in run.stdout, run


def test_client_reports_publish_arriving_later(driver: Driver, peers: Peers) -> None:
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

    with driver.client(
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


def test_client_ends_when_pingresp_never_comes(driver: Driver, peers: Peers) -> None:
    peer = peers.start(mqtt_server(answer_pings=False))
    events: list[Event] = []
    threads = set(threading.enumerate())
    client = driver.client(
        _settings(peer.uri(), keep_alive=1), on_event=events.append, reconnect=False
    )
    client.connect()
    connected_at = time.monotonic()

    assert client.wait(1 + RESPONSE_TIMEOUT + 2.0), "the connection outlived its PINGRESP"
    ended = time.monotonic()
    # The PINGREQ goes out 0.9 s after CONNECT (keep-alive 1 s less its margin); the
    # connection ends one response timeout later. The keep-alive holds meanwhile: a
    # second PINGREQ at 1.8 s (MQTT 3.1.1 §3.1.2.10).
    assert ended - connected_at <= 1 + RESPONSE_TIMEOUT + SLACK, ended - connected_at
    pingreq_at = peer.recording.times("PINGREQ")
    assert len(pingreq_at) == 2, peer.recording.names()
    # Counted from when the client queued the PINGREQ, a hair before the peer got it.
    assert RESPONSE_TIMEOUT - 0.05 <= ended - pingreq_at[0] <= RESPONSE_TIMEOUT + SLACK
    assert not client.connected
    error = client.error
    assert isinstance(error, ResponseTimeout), error
    assert error.phase == "PINGRESP"
    assert str(error) == "PINGRESP: no answer within 1 s", str(error)
    kinds = [type(e) for e in events]
    assert kinds == [Connected, PingSent, PingSent, Closed], events
    closed = events[-1]
    assert isinstance(closed, Closed) and closed.error is error
    client.disconnect()
    assert set(threading.enumerate()) <= threads, "the client's thread is still running"
    # No DISCONNECT on a dead connection: the socket is just closed.
    assert peer.finish()
    assert peer.recording.names() == ["CONNECT", "PINGREQ", "PINGREQ"]
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
def test_websocket_request_target(
    driver: Driver, peers: Peers, rest: str, request_line: str, shown: str
) -> None:
    peer = _ws(peers)
    result = driver.test_connection(_settings(peer.uri("ws", rest)))

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
    driver: Driver, peers: Peers, protocol: str, subprotocol: str, connect_head: bytes
) -> None:
    peer = _ws(peers)
    result = driver.test_connection(_settings(peer.uri("ws"), protocol=protocol))

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
def test_websocket_upgrade_refused(driver: Driver, peers: Peers, status: int, words: str) -> None:
    peer = _ws(peers, status=status, body=b"go away")
    result = driver.test_connection(_settings(peer.uri("ws", "/mqtt")))

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
def test_websocket_connack_split_across_frames(
    driver: Driver, peers: Peers, frames: tuple[bytes, ...]
) -> None:
    peer = _ws(peers, after_connect=frames)
    result = driver.test_connection(_settings(peer.uri("ws")))

    assert (result.ok, result.exit_code) == (True, 0), result
    assert (result.other_packet_count, result.other_packets) == (0, [])
    assert peer.finish()
    assert peer.recording.names() == ["CONNECT", "DISCONNECT"]


def test_websocket_connack_and_publish_in_one_frame(driver: Driver, peers: Peers) -> None:
    peer = _ws(peers, after_connect=(frame(BINARY, CONNACK_ACCEPTED + publish("t", b"x")),))
    result = driver.test_connection(_settings(peer.uri("ws")))

    assert (result.ok, result.exit_code, result.other_packet_count) == (True, 0, 1), result
    assert result.other_packets == [{"type": "PUBLISH", "flags": 0, "size": 4, "topic": "t"}]


def test_websocket_connack_with_the_101_answer(driver: Driver, peers: Peers) -> None:
    # The server's first frame arrives in the same segment as its HTTP answer.
    peer = _ws(peers, with_answer=frame(BINARY, CONNACK_ACCEPTED), after_connect=())
    result = driver.test_connection(_settings(peer.uri("ws")))

    assert (result.ok, result.exit_code) == (True, 0), result


@pytest.mark.parametrize("coalesced", [False, True], ids=["own-segment", "with-the-101"])
def test_websocket_text_frame_is_an_error(driver: Driver, peers: Peers, coalesced: bool) -> None:
    # MQTT 3.1.1 §6.0: MQTT travels in binary frames; a text frame breaks the binding,
    # even when it carries a perfectly good CONNACK, and wherever it sits in the stream.
    text = frame(TEXT, CONNACK_ACCEPTED)
    if coalesced:
        peer = _ws(peers, with_answer=text, after_connect=())
    else:
        peer = _ws(peers, after_connect=(text,))
    result = driver.test_connection(_settings(peer.uri("ws")))

    assert (result.ok, result.exit_code, result.category) == (False, 4, "websocket-error"), result
    assert "expected binary WebSocket frames, got a text frame" in result.message, result.message


def test_websocket_close_frame_before_connack_keeps_its_reason(
    driver: Driver, peers: Peers
) -> None:
    # The server did answer, with a close frame that says why (RFC 6455 §7.1.5): the
    # diagnosis must pass that on, not call it a silent close and suggest TLS.
    peer = _ws(peers, after_connect=(frame(CLOSE, (1008).to_bytes(2, "big") + b"policy"),))
    result = driver.test_connection(_settings(peer.uri("ws")))

    assert (result.ok, result.exit_code) == (False, 3), result
    assert "code 1008" in result.message and "policy" in result.message, result.message
    assert "without an answer" not in result.message, result.message
    assert "mqtts://" not in result.message, result.message


def test_websocket_refusal_then_close_in_one_write_keeps_the_refusal(
    driver: Driver, peers: Peers
) -> None:
    # A broker refuses (return code 5) and closes the WebSocket: both frames arrive in one
    # read, and the refusal is the reason, not the close that follows it.
    refusal = frame(BINARY, bytes.fromhex("20020005"))
    close = frame(CLOSE, (1000).to_bytes(2, "big") + b"bye")
    peer = _ws(peers, after_connect=(refusal + close,))
    result = driver.test_connection(_settings(peer.uri("ws")))

    assert (result.exit_code, result.category, result.return_code) == (1, "not-authorized", 5)
    assert peer.finish()


def test_websocket_subprotocol_not_selected_is_a_warning(driver: Driver, peers: Peers) -> None:
    # MQTT 3.1.1 §6: the server must select "mqtt"; one that does not (or a proxy that
    # drops the header) still carries MQTT: connected, and said.
    peer = _ws(peers, select_subprotocol=False)
    result = driver.test_connection(_settings(peer.uri("ws")))

    assert result.ok, result
    assert any("did not select the WebSocket subprotocol 'mqtt'" in w for w in result.warnings)
    selected = _ws(peers)
    assert not [
        w
        for w in driver.test_connection(_settings(selected.uri("ws"))).warnings
        if "subprotocol" in w
    ]


# ---------------------------------------------------------------------------- wrong ports


def test_cli_websocket_to_a_port_that_closes_on_the_upgrade(peers: Peers) -> None:
    # A plain MQTT port reads "GET /mqtt HTTP/1.1" as garbage and closes cleanly (FIN).
    # The TLS probe that follows gets no TLS answer either (this peer waits for HTTP).
    peer = peers.start(closing_on_upgrade(), connections=2)
    run = run_cli(peer.uri("ws"), "-t", "2", "--json")

    assert run.code == 3, run
    doc = run.json()
    assert doc["category"] == "closed-during-upgrade", run
    assert doc["message"].endswith(f"try mqtt://127.0.0.1:{peer.port}"), run
    assert [(p["name"], p["ok"]) for p in doc["phases"]][-2:] == [
        ("WebSocket upgrade", False),
        ("TLS probe", False),
    ], doc["phases"]


def test_cli_reset_before_connack(peers: Peers) -> None:
    # The CONNECT, then the TLS probe: both reset.
    peer = peers.start(aborting(closing()), connections=2)
    run = run_cli(peer.uri(), "-t", "2", "--json")

    assert run.code == 3, run
    doc = run.json()
    assert doc["category"] == "connection-reset", run
    assert doc["message"].startswith("the server reset the connection after CONNECT"), run
    assert doc["phases"][-1]["name"] == "TLS probe", run


def test_cli_tls_alert_record_where_connack_belonged(peers: Peers) -> None:
    # A TLS server answers plain bytes with an alert record (RFC 8446 §6: level 2 fatal,
    # 70 protocol version): the same diagnosis as a silent close on a TLS port, exit 3.
    peer = peers.start(mqtt_server(bytes.fromhex("15030300020246")))
    run = run_cli(peer.uri(), "-t", "2")

    assert run.code == 3, run
    assert "FAILED (plain-to-tls-port, exit 3): the server answered with TLS" in run.stdout, run
    assert f"try mqtts://127.0.0.1:{peer.port}" in run.stdout, run


# ---------------------------------------------------------------------------- diagnosis time

#: Long, so that a diagnosis that waits the response timeout is seen doing so.
LONG_TIMEOUT = 5.0
#: What a probe or a certificate fetch may add (transport.DIAGNOSIS_TIMEOUT).
DIAGNOSIS = 2.0


@pytest.mark.standard_loop("the diagnosis' deadline, waited out")
def test_probe_of_a_port_that_never_answers_has_a_short_deadline(
    driver: Driver, peers: Peers
) -> None:
    # The CONNECT is closed without a word; the TLS hello of the probe is never answered.
    peer = peers.start(sequence(closing(), silent()), connections=2)
    start = time.monotonic()
    result = driver.test_connection(_settings(peer.uri(), response_timeout=LONG_TIMEOUT))
    elapsed = time.monotonic() - start

    assert (result.exit_code, result.category) == (3, "closed-before-connack"), result
    probe = result.phases[-1]
    assert (probe.name, probe.ok) == ("TLS probe", False), result.phases
    assert probe.detail.endswith(": no answer within 2 s"), probe
    assert "a TLS hello got no answer within 2 s" in result.message, result.message
    assert "mqtts://" not in result.message, result.message
    assert elapsed < DIAGNOSIS + 2 * SLACK + 1.0 < LONG_TIMEOUT, elapsed


@pytest.mark.standard_loop("the diagnosis' deadline, waited out")
@pytest.mark.parametrize(
    ("second", "detail", "words"),
    [
        (silent(), "no answer within 2 s", "got no answer within 2 s"),
        # Closed before the hello is read: a reset as often as a clean close.
        (at_once(), r"no TLS answer \((closed|reset)\)", "the server (closed|reset) a second"),
    ],
    ids=["never-answers", "closes-at-once"],
)
def test_certificate_fetch_is_a_phase_of_its_own_with_a_short_deadline(
    driver: Driver, peers: Peers, pki: Pki, second: Any, detail: str, words: str
) -> None:
    # The first handshake fails its check (we trust another CA); the second one, which
    # would read the certificate, meets a server that never answers or closes at once.
    peer = peers.start(
        sequence(tls_server(pki.server_cert, pki.server_key, silent()), second), connections=2
    )
    security = Security(cafile=str(pki.other_ca_cert))
    start = time.monotonic()
    result = driver.test_connection(
        _settings(peer.uri("mqtts"), security=security, response_timeout=LONG_TIMEOUT)
    )
    elapsed = time.monotonic() - start

    assert (result.exit_code, result.category) == (4, "unknown-ca"), result
    names = [(p.name, p.ok) for p in result.phases]
    assert names[-2:] == [("TLS handshake", False), ("certificate fetch", False)], names
    handshake, fetch = result.phases[-2:]
    # The handshake failed when it failed, not after the fetch's wait.
    assert handshake.seconds < LONG_TIMEOUT - DIAGNOSIS, handshake
    assert re.search(f": {detail}$", fetch.detail), fetch
    assert "an unknown issuer" not in result.message, result.message
    assert "which issuer is not known, because" in result.message, result.message
    assert re.search(words, result.message), result.message
    assert elapsed < DIAGNOSIS + 2 * SLACK + 1.0 < LONG_TIMEOUT, elapsed


# ---------------------------------------------------------------------------- subprotocol


def test_websocket_server_choosing_another_subprotocol_points_at_protocol(
    driver: Driver, peers: Peers
) -> None:
    peer = _ws(peers, subprotocol="mqttv3.1")
    result = driver.test_connection(_settings(peer.uri("ws")))

    assert (result.exit_code, result.category) == (4, "websocket-upgrade-failed"), result
    assert "chose the WebSocket subprotocol 'mqttv3.1', not the 'mqtt' offered" in result.message
    assert "--protocol 3.1" in result.message, result.message


def test_websocket_400_points_at_protocol(driver: Driver, peers: Peers) -> None:
    peer = _ws(peers, status=400, body=b"unsupported subprotocol")
    result = driver.test_connection(_settings(peer.uri("ws"), protocol="3.1"))

    assert (result.exit_code, result.category) == (4, "websocket-upgrade-failed"), result
    assert "HTTP 400 Bad Request: unsupported subprotocol" in result.message, result.message
    assert "'mqttv3.1'" in result.message and "--protocol 3.1.1" in result.message


# ---------------------------------------------------------------------------- terminal safety

HOSTILE = "\x1b]0;pwned\x07\rOK: connected \u202egnp.exe"
XHTML_404 = (
    '<?xml version="1.0"?>\r\n<html xmlns="http://www.w3.org/1999/xhtml">\r\n'
    f"<body>{HOSTILE}</body></html>\r\n"
).encode()
# What a terminal acts on: C0 but the newline between lines, DEL, C1, bidi controls,
# line and paragraph separators.
UNSAFE = re.compile(
    "[\x00-\x09\x0b-\x1f\x7f-\x9f\u200e\u200f\u202a-\u202e\u2066-\u2069\u2028\u2029]"
)


def _safe(run: CliRun) -> None:
    for name, text in (("stdout", run.stdout), ("stderr", run.stderr)):
        found = UNSAFE.search(text)
        assert found is None, f"{name} holds {found.group()!r}:\n{run}"


def _failed_line(run: CliRun) -> str:
    lines = [line for line in run.stdout.splitlines() if line.startswith("FAILED")]
    assert len(lines) == 1, run
    return lines[0]


def test_cli_escapes_an_http_error_from_the_server(peers: Peers) -> None:
    peer = _ws(peers, status=404, body=XHTML_404)
    run = run_cli(peer.uri("ws"), "-t", "2")

    assert run.code == 4, run
    _safe(run)
    line = _failed_line(run)
    # One line, everything still there to read, escaped.
    assert "\\x1b]0;pwned\\x07 OK: connected \\u202egnp.exe" in line, line
    assert '<html xmlns="http://www.w3.org/1999/xhtml"> <body>' in line, line
    assert line.endswith("check the path (/mqtt was asked for)"), line


def test_cli_json_escapes_an_http_error_from_the_server(peers: Peers) -> None:
    peer = _ws(peers, status=404, body=XHTML_404)
    run = run_cli(peer.uri("ws"), "-t", "2", "--json")

    assert run.code == 4, run
    _safe(run)
    message = run.json()["message"]
    assert not UNSAFE.search(message) and "\n" not in message, message
    assert "\\u202egnp.exe" in message, message


def test_cli_escapes_a_websocket_close_reason(peers: Peers) -> None:
    close = frame(CLOSE, (1008).to_bytes(2, "big") + HOSTILE.encode())
    peer = _ws(peers, after_connect=(close,))
    run = run_cli(peer.uri("ws"), "-t", "2")

    assert run.code == 3, run
    _safe(run)
    assert "code 1008" in _failed_line(run), run


def test_cli_escapes_a_certificate_subject(peers: Peers, pki: Pki, tmp_path: Path) -> None:
    cert, key = hostile_certificate(pki, "hostile-faults", self_signed=False)
    peer = peers.start(tls_server(cert, key, mqtt_server()))
    run = run_cli(peer.uri("mqtts"), "--cafile", str(pki.ca_cert), "-t", "2")

    assert run.code == 0, run
    _safe(run)
    tls = [line for line in run.stdout.splitlines() if line.startswith("  TLS:")]
    assert len(tls) == 1, run
    assert (
        "server certificate CN=\\x1b]0;pwned\\x07 OK: connected \\u202eevil, issued by" in (tls[0])
    ), run


def test_cli_escapes_a_self_signed_subject_in_the_diagnosis(peers: Peers, pki: Pki) -> None:
    cert, key = hostile_certificate(pki, "hostile-self-faults", self_signed=True)
    # The failed handshake, then the certificate fetch.
    peer = peers.start(tls_server(cert, key, silent()), connections=2)
    run = run_cli(peer.uri("mqtts"), "--cafile", str(pki.ca_cert), "-t", "2", "--json")

    assert run.code == 4, run
    _safe(run)
    doc = run.json()
    assert doc["category"] == "self-signed", run
    assert "self-signed (CN=\\x1b]0;pwned\\x07 OK: connected \\u202eevil)" in doc["message"]


def test_a_second_diagnosis_of_the_same_error_does_not_probe_again(peers: Peers) -> None:
    # A monitor says why the connection was lost, then exits with its status: one probe.
    peer = peers.start(closing(), connections=3)
    supervisor = Supervisor(_settings(peer.uri()))
    with pytest.raises(pco_wire.ConnectionClosed) as caught:
        connect(supervisor)
    first = diagnose(supervisor, caught.value)
    assert diagnose(supervisor, caught.value) == first
    assert supervisor.attempt is not None
    assert [p.name for p in supervisor.attempt.phases].count("TLS probe") == 1
    assert len(peer.recordings) == 2, peer.recordings


def test_a_client_diagnoses_the_same_error_twice_with_one_probe(
    driver: Driver, peers: Peers
) -> None:
    peer = peers.start(closing(), connections=3)
    client = driver.client(_settings(peer.uri()), reconnect=False)
    with pytest.raises(pco_wire.ConnectionClosed) as caught:
        client.connect()
    first = client.diagnose(caught.value)
    assert first[:2] == (3, "closed-before-connack"), first
    assert client.diagnose(caught.value) == first
    assert client.disconnect()
    assert len(peer.recordings) == 2, peer.recordings


def test_a_disconnect_that_cannot_be_sent_is_a_failure(
    driver: Driver, peers: Peers, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The stream fails between the CONNACK and our DISCONNECT (a fault injected into the
    # send: no real server lets us time it so). The blocking send raises; under the
    # asyncio driver our side of the socket is shut for writing first, so that the
    # transport's own send fails (EPIPE) and reports it its way, on either event loop.
    peer = peers.start(mqtt_server())
    sends: list[bytes] = []
    if driver.is_asyncio:
        from pco_wire.transport import aio

        real_write = aio.Wire.write

        def write(self: aio.Wire, data: bytes) -> None:
            sends.append(data)
            if len(sends) > 1:
                assert self.sock is not None
                self.sock.shutdown(socket.SHUT_WR)
            real_write(self, data)

        monkeypatch.setattr(aio.Wire, "write", write)
    else:
        from pco_wire.transport import sync as transport

        real_send = transport.Stream.send

        def send(self: transport.Stream, data: bytes, deadline: float) -> None:
            sends.append(data)
            if len(sends) > 1:
                raise pco_wire.ConnectionClosed(
                    "session", "the server reset the connection", reset=True
                )
            real_send(self, data, deadline)

        monkeypatch.setattr(transport.Stream, "send", send)
    result = driver.test_connection(_settings(peer.uri()))

    assert (result.ok, result.exit_code, result.category) == (False, 3, "connection-reset")
    assert [p.name for p in result.phases][-1] == "DISCONNECT"
    assert result.phases[-1].ok is False
