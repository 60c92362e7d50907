"""``test_connection`` and ``Client`` against the real Mosquitto of the ``broker`` fixture.

Every scheme connects; refusals carry Mosquitto's return code; a kept session is reported.
A recording relay (tests/peers.py) between our client and Mosquitto shows what goes on the
wire: exactly CONNECT and DISCONNECT for a test connection, PINGREQ at the keep-alive
interval (MQTT 3.1.1 §3.1.2.10) and none with keep-alive 0. The ``Client`` runs as a
context manager and leaves no thread and no file descriptor behind.
"""

from __future__ import annotations

import os
import secrets
import ssl
import threading
import time
from collections.abc import Iterator
from itertools import pairwise
from pathlib import Path
from typing import Any

import pytest

from pco_wire import (
    Closed,
    ConnAckCode,
    Connected,
    PingSent,
    PongReceived,
    Security,
    ServerRefused,
    Settings,
    TLSError,
)
from pco_wire.events import SessionEvent as Event
from pco_wire.supervisor import prepare
from pco_wire.sync.connection import open_attempt
from tests.broker import Broker
from tests.drivers import Driver
from tests.peers import Peers, relay
from tests.pki import Pki
from tests.support import JSON_KEYS, PHASES

RESPONSE_TIMEOUT = 5.0


@pytest.fixture
def peers() -> Iterator[Peers]:
    with Peers.running() as running:
        yield running


def _port(broker: Broker, scheme: str) -> int:
    ports = broker.ports
    return {"mqtt": ports.tcp, "mqtts": ports.tls, "ws": ports.ws, "wss": ports.wss}[scheme]


def _settings(broker: Broker, pki: Pki, scheme: str, **options: Any) -> Settings:
    security = Security(cafile=str(pki.ca_cert)) if scheme in ("mqtts", "wss") else None
    options.setdefault("response_timeout", RESPONSE_TIMEOUT)
    return Settings(f"{scheme}://127.0.0.1:{_port(broker, scheme)}", security=security, **options)


def _open_fds() -> int:
    return len(os.listdir("/proc/self/fd"))


def _unique_id(prefix: str) -> str:
    # The broker lives for the whole session: a fresh ID per test finds no old session.
    return prefix + secrets.token_hex(6)


def _log_says(log: Path, line: str, within: float = 2.0) -> bool:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        if line in log.read_text(errors="replace"):
            return True
        time.sleep(0.05)
    return False


# ---------------------------------------------------------------------------- test_connection


@pytest.mark.parametrize("scheme", list(PHASES))
def test_each_scheme_connects(driver: Driver, broker: Broker, pki: Pki, scheme: str) -> None:
    result = driver.test_connection(_settings(broker, pki, scheme))
    port = _port(broker, scheme)

    assert (result.ok, result.exit_code, result.category) == (True, 0, "connected"), (
        f"{result}\n{broker.log.read_text()}"
    )
    assert [p.name for p in result.phases] == PHASES[scheme]
    assert all(p.ok for p in result.phases), result.phases
    assert (result.return_code, result.return_code_text) == (0, "connection accepted")
    assert result.session_present is False
    assert result.address == f"127.0.0.1:{port}"
    assert result.other_packets == [] and result.other_packet_count == 0 and result.warnings == []
    assert result.message.startswith(f"connected to {result.uri} (127.0.0.1:{port}) as ")
    assert result.client_id and result.client_id in result.message
    if scheme in ("mqtts", "wss"):
        assert result.tls is not None
        assert result.tls["version"] in ("TLSv1.2", "TLSv1.3"), result.tls
        assert result.tls["subject"] == "CN=localhost"
        assert result.tls["issuer"] == "CN=pco_wire test CA"
        assert result.tls["not_after"].endswith(" GMT"), result.tls
    else:
        assert result.tls is None
    document = result.to_json()
    assert set(document) == JSON_KEYS
    for phase in document["phases"]:
        assert set(phase) == {"name", "seconds", "ok", "detail"}
    if document["tls"] is not None:
        assert set(document["tls"]) == {
            "version",
            "cipher",
            "alpn",
            "subject",
            "issuer",
            "not_after",
        }


#: Linux's shortest delayed acknowledgement (TCP_DELACK_MIN): an answer held for it takes
#: at least this long, on every attempt.
DELAYED_ACK = 0.040


@pytest.mark.parametrize("scheme", ["mqtts", "wss"])
def test_connack_over_tls_is_not_held_for_our_acknowledgement(
    driver: Driver, broker: Broker, pki: Pki, scheme: str
) -> None:
    # Mosquitto keeps Nagle on: its CONNACK follows the TLS session tickets, and waits for
    # their acknowledgement. Both drivers ask the kernel to send it at once (quick_ack);
    # the asyncio driver did not, and each CONNACK took 40 ms more. The fastest of five,
    # so that a busy machine cannot make it fail: the delay was there on every attempt.
    fastest = min(
        next(p.seconds for p in driver.test_connection(_settings(broker, pki, scheme)).phases
             if p.name == "CONNACK")
        for _ in range(5)
    )  # fmt: skip
    assert fastest < DELAYED_ACK / 2, fastest


def test_password_listener(driver: Driver, broker: Broker, pki: Pki) -> None:
    uri = f"mqtt://127.0.0.1:{broker.ports.password}"
    good = driver.test_connection(
        Settings(uri, username=broker.username, password=broker.password, response_timeout=5)
    )
    assert good.ok, f"{good}\n{broker.log.read_text()}"

    # Mosquitto 2.0.11 answers a wrong password with 5, "not authorized".
    bad = driver.test_connection(
        Settings(uri, username=broker.username, password="wrong", response_timeout=5)
    )
    assert (bad.ok, bad.exit_code, bad.category) == (False, 1, "not-authorized"), bad
    assert (bad.return_code, bad.return_code_text) == (5, ConnAckCode.NOT_AUTHORIZED.text)
    assert isinstance(bad.error, ServerRefused)
    assert bad.message.startswith("refused with return code 5: "), bad.message
    assert f"user name {broker.username!r}" in bad.message, bad.message
    assert [(p.name, p.ok) for p in bad.phases][-1] == ("CONNACK", False)
    assert bad.address == f"127.0.0.1:{broker.ports.password}"

    anonymous = driver.test_connection(Settings(uri, response_timeout=5))
    assert (anonymous.exit_code, anonymous.category, anonymous.return_code) == (
        1,
        "not-authorized",
        5,
    ), anonymous
    assert "no user name given" in anonymous.message, anonymous.message


def test_session_present_with_clean_session_off(driver: Driver, broker: Broker, pki: Pki) -> None:
    # Mosquitto keeps sessions in memory (persistence is off): they last as long as it runs.
    client_id = _unique_id("keep")
    kept = _settings(broker, pki, "mqtt", client_id=client_id, clean_session=False)

    first = driver.test_connection(kept)
    second = driver.test_connection(kept)
    assert (first.ok, first.session_present) == (True, False), first
    assert (second.ok, second.session_present) == (True, True), second
    assert "the server kept a session" in second.message
    assert second.phases[-2].detail == "session present"
    # A clean session throws the kept one away.
    clean = driver.test_connection(_settings(broker, pki, "mqtt", client_id=client_id))
    assert (clean.ok, clean.session_present) == (True, False), clean


# ---------------------------------------------------------------------------- on the wire


def test_exactly_connect_and_disconnect_reach_mosquitto(
    driver: Driver, broker: Broker, peers: Peers
) -> None:
    peer = peers.start(relay(broker.ports.tcp))
    result = driver.test_connection(Settings(peer.uri(), response_timeout=RESPONSE_TIMEOUT))

    assert result.ok, f"{result}\n{broker.log.read_text()}"
    assert peer.finish(), "the relayed connection did not end"
    recording = peer.recording
    assert recording.names() == ["CONNECT", "DISCONNECT"]
    assert [packet for _, packet in recording.answers] == [bytes.fromhex("20020000")]
    assert recording.closed_first == "client"
    assert recording.errors == []


def _run_client_through_relay(
    driver: Driver, broker: Broker, peers: Peers, keep_alive: int, seconds: float
) -> tuple[list[tuple[float, str]], list[Event]]:
    """Connect a Client through a relay, hold it ``seconds``, disconnect; the client's
    packets as (arrival time, type name) and the events it reported."""
    peer = peers.start(relay(broker.ports.tcp))
    events: list[Event] = []
    settings = Settings(peer.uri(), keep_alive=keep_alive, response_timeout=2.0)
    with driver.client(settings, on_event=events.append) as client:
        assert not client.wait(seconds), f"the connection ended: {client.error}"
        assert client.connected
    assert client.error is None
    assert peer.finish(), "the relayed connection did not end"
    recording = peer.recording
    assert recording.closed_first == "client"
    assert recording.errors == []
    return [
        (at, name) for (at, _), name in zip(recording.packets, recording.names(), strict=True)
    ], events


def test_keep_alive_on_the_wire(driver: Driver, broker: Broker, peers: Peers) -> None:
    packets, events = _run_client_through_relay(driver, broker, peers, keep_alive=1, seconds=4.3)
    names = [name for _, name in packets]

    assert names[0] == "CONNECT" and names[-1] == "DISCONNECT", names
    assert set(names[1:-1]) == {"PINGREQ"}, names
    # PINGREQ at 0.9, 1.8, 2.7 and 3.6 s; the next would be due at 4.5 s.
    assert names.count("PINGREQ") == 4, names
    gaps = [later - earlier for (earlier, _), (later, _) in pairwise(packets)]
    # MQTT 3.1.1 §3.1.2.10: never more than the keep-alive between two client packets...
    assert max(gaps) <= 1.0, gaps
    # ...and not much less either: a PINGREQ 0.9 s after the last packet (a tenth of the
    # interval early), not a stream of them. The last gap ends at our DISCONNECT.
    assert min(gaps[:-1]) >= 0.8, gaps
    pongs = [e for e in events if isinstance(e, PongReceived)]
    assert len(pongs) == names.count("PINGREQ"), events
    # Not 0.0 on uvloop either, whose loop.time() counts whole milliseconds as of the
    # loop's last turn: the asyncio driver's session runs on time.monotonic().
    assert all(0 < p.round_trip < 0.5 for p in pongs), pongs


@pytest.mark.standard_loop("2.5 s in which the session sends nothing")
def test_no_pingreq_with_keep_alive_0(driver: Driver, broker: Broker, peers: Peers) -> None:
    packets, events = _run_client_through_relay(driver, broker, peers, keep_alive=0, seconds=2.5)

    assert [name for _, name in packets] == ["CONNECT", "DISCONNECT"]
    assert not any(isinstance(e, PingSent) for e in events), events


# ---------------------------------------------------------------------------- Client


@pytest.mark.parametrize("scheme", ["mqtt", "wss"])
def test_client_as_context_manager(driver: Driver, broker: Broker, pki: Pki, scheme: str) -> None:
    events: list[Event] = []
    pong = threading.Event()

    def on_event(event: Event) -> None:
        events.append(event)
        if isinstance(event, PongReceived):
            pong.set()

    threads = threading.active_count()
    fds = _open_fds()
    settings = _settings(broker, pki, scheme, keep_alive=1)
    with driver.client(settings, on_event=on_event) as client:
        assert client.connected
        info = client.info
        assert info is not None
        assert info.address == f"127.0.0.1:{_port(broker, scheme)}"
        assert [p.name for p in info.phases] == PHASES[scheme][:-1]
        assert (info.tls is not None) == (scheme == "wss")
        assert pong.wait(3.0), events
        assert client.error is None
    assert not client.connected
    assert client.error is None
    # disconnect() waited for the background thread and closed every socket.
    assert threading.active_count() == threads
    assert _open_fds() == fds

    assert isinstance(events[0], Connected) and events[0].session_present is False
    assert any(isinstance(e, PingSent) for e in events), events
    pongs = [e for e in events if isinstance(e, PongReceived)]
    assert pongs and all(p.round_trip > 0 for p in pongs), events
    assert isinstance(events[-1], Closed) and events[-1].error is None, events
    # Mosquitto logs a DISCONNECT as "disconnected", a bare close as "closed its connection".
    assert _log_says(broker.log, f"Client {info.client_id} disconnected."), broker.log.read_text()
    assert f"Client {info.client_id} closed its connection" not in broker.log.read_text()


def test_client_refused_raises_and_leaves_nothing_open(driver: Driver, broker: Broker) -> None:
    threads = threading.active_count()
    fds = _open_fds()
    client = driver.client(
        Settings(
            f"mqtt://127.0.0.1:{broker.ports.password}",
            username=broker.username,
            password="wrong",
            response_timeout=RESPONSE_TIMEOUT,
        )
    )
    with pytest.raises(ServerRefused) as refused:
        client.connect()
    assert refused.value.return_code == ConnAckCode.NOT_AUTHORIZED
    assert not client.connected
    client.disconnect()
    assert threading.active_count() == threads
    assert _open_fds() == fds


# ---------------------------------------------------------------------------- diagnoses


def _refused_under(settings: Settings, version: str) -> tuple[TLSError, tuple[int, str, str]]:
    """The TLS error of an attempt made with TLS ``version`` only, and its diagnosis."""
    attempt = prepare(settings)
    context = attempt.tls_context
    context.minimum_version = context.maximum_version = getattr(
        ssl.TLSVersion, f"TLSv1_{version[-1]}"
    )
    with pytest.raises(TLSError) as caught:
        open_attempt(attempt)
    return caught.value, attempt.diagnose(caught.value)


@pytest.mark.parametrize("version", ["1.2", "1.3"])
def test_missing_client_certificate_under_each_tls_version(
    broker: Broker, pki: Pki, version: str
) -> None:
    # Under TLS 1.3 Mosquitto says "certificate required"; under TLS 1.2 only "handshake
    # failure", after asking for a certificate we did not have: the same diagnosis.
    settings = Settings(
        f"mqtts://127.0.0.1:{broker.ports.tls_client_cert}",
        security=Security(cafile=str(pki.ca_cert)),
        response_timeout=RESPONSE_TIMEOUT,
    )
    error, (code, category, sentence) = _refused_under(settings, version)
    assert (code, category) == (4, "client-certificate-required"), sentence
    assert "--certfile and --keyfile" in sentence, sentence
    if version == "1.2":
        assert error.phase == "TLS handshake", error
        assert error.certificate_requested is True, error
        assert "asked for a client certificate, none was given" in sentence, sentence
        assert "share no cipher or TLS parameter" in sentence, sentence


@pytest.mark.parametrize("version", ["1.2", "1.3"])
def test_client_certificate_from_another_ca_under_each_tls_version(
    broker: Broker, pki: Pki, version: str
) -> None:
    settings = Settings(
        f"mqtts://127.0.0.1:{broker.ports.tls_client_cert}",
        security=Security(
            cafile=str(pki.ca_cert),
            certfile=str(pki.other_client_cert),
            keyfile=str(pki.other_client_key),
        ),
        response_timeout=RESPONSE_TIMEOUT,
    )
    _, (code, category, sentence) = _refused_under(settings, version)
    assert (code, category) == (4, "client-certificate-rejected"), sentence
