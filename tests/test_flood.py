"""The library Client under a flood, on every scheme, against the real Mosquitto.

A persistent session subscribed to a topic, and a publisher that sends to it as fast as
Mosquitto takes: every PUBLISH comes to our client, which never subscribed itself (the
session did), as a gateway's backlog or a busy plant would. The client must keep its
keep-alive (PINGREQ and PINGRESP go on), stop promptly when asked, and say goodbye in a
way the server hears: DISCONNECT, then a close that is not a reset.
"""

from __future__ import annotations

import secrets
import socket
import threading
import time
from collections.abc import Iterator

import pytest

from pco_wire import (
    Closed,
    Connect,
    PacketReceived,
    PingSent,
    PongReceived,
    ResponseTimeout,
    Security,
    Settings,
    encode,
)
from tests.broker import Broker
from tests.drivers import DRIVERS, Driver
from tests.peers import (
    BINARY,
    CONNACK_ACCEPTED,
    PING,
    PeerConnection,
    Peers,
    _upgrade_answer,
    frame,
)
from tests.pki import Pki
from tests.test_connect_integration import _log_says


@pytest.fixture
def peers() -> Iterator[Peers]:
    with Peers.running() as running:
        yield running


PORTS = {"mqtt": "tcp", "mqtts": "tls", "ws": "ws", "wss": "wss"}
TOPIC = "plant/flood"
# PINGREQ at 1.8 and 3.6 s with keep-alive 2; Mosquitto closes after 3 s of silence from
# us, slack for a loop slowed by the flood on a loaded machine.
FLOOD_SECONDS = 4.5
#: How much longer the flood may go on for the second PINGREQ of a loaded machine.
LATE = 3.0


def _send_and_read(sock: socket.socket, data: bytes, expect: int) -> bytes:
    sock.sendall(data)
    answer = b""
    while len(answer) < expect:
        chunk = sock.recv(expect - len(answer))
        assert chunk, "mosquitto closed the connection"
        answer += chunk
    return answer


def _subscribed_session(broker: Broker, client_id: str) -> None:
    """A session kept by Mosquitto (clean session off) with a subscription to TOPIC."""
    with socket.create_connection(("127.0.0.1", broker.ports.tcp), timeout=5) as sock:
        connack = _send_and_read(sock, encode(Connect(client_id, clean_session=False)), 4)
        assert connack[:2] == b"\x20\x02" and connack[3] == 0, connack.hex()
        topic = TOPIC.encode()
        body = b"\x00\x01" + len(topic).to_bytes(2, "big") + topic + b"\x00"
        suback = _send_and_read(sock, bytes([0x82, len(body)]) + body, 5)
        assert suback == b"\x90\x03\x00\x01\x00", suback.hex()
        sock.sendall(b"\xe0\x00")


class _Publisher(threading.Thread):
    """QoS 0 PUBLISH to TOPIC as fast as Mosquitto reads them, until stopped."""

    def __init__(self, broker: Broker) -> None:
        super().__init__(name="flood-publisher", daemon=True)
        self.port = broker.ports.tcp
        self.stopped = threading.Event()
        self.sent = 0

    def run(self) -> None:
        topic = TOPIC.encode()
        one = bytes([0x30, 2 + len(topic) + 32]) + len(topic).to_bytes(2, "big") + topic
        burst = (one + b"v" * 32) * 500
        with socket.create_connection(("127.0.0.1", self.port), timeout=5) as sock:
            _send_and_read(sock, encode(Connect("pub" + secrets.token_hex(6), keep_alive=0)), 4)
            while not self.stopped.is_set():
                sock.sendall(burst)
                self.sent += len(burst)


#: uvloop on wss only: TLS and WebSocket cost the most per byte, and that flood is where
#: uvloop's reads starved the keep-alive (test_asyncio's flood read checks the wire under
#: every scheme on both loops); uvloop's other three schemes would add 14 s to the suite.
FLOODS = [(d, s) for d in DRIVERS for s in PORTS if d != "uvloop" or s == "wss"]


@pytest.mark.parametrize(("driver", "scheme"), FLOODS, indirect=["driver"])
def test_client_under_a_flood(driver: Driver, broker: Broker, pki: Pki, scheme: str) -> None:
    client_id = "flood" + secrets.token_hex(6)
    _subscribed_session(broker, client_id)
    counts = {"packets": 0, "pings": 0, "pongs": 0}
    errors: list[object] = []

    def on_event(event: object) -> None:
        if isinstance(event, PacketReceived):
            counts["packets"] += 1
        elif isinstance(event, PingSent):
            counts["pings"] += 1
        elif isinstance(event, PongReceived):
            counts["pongs"] += 1
        elif isinstance(event, Closed) and event.error is not None:
            errors.append(event.error)

    port = getattr(broker.ports, PORTS[scheme])
    security = Security(cafile=str(pki.ca_cert)) if scheme in ("mqtts", "wss") else None
    settings = Settings(
        f"{scheme}://127.0.0.1:{port}",
        client_id=client_id,
        clean_session=False,
        keep_alive=2,
        response_timeout=3.0,
        security=security,
        reconnect=False,
    )
    publisher = _Publisher(broker)
    client = driver.client(settings, on_event=on_event)
    client.connect()
    publisher.start()
    try:
        # The keep-alive goes on under the flood: a PINGREQ every 1.8 s, while the
        # answers queue behind the messages Mosquitto is still sending us. A loaded
        # machine may make the second one late; Mosquitto's own deadline (1.5 times the
        # keep-alive) is what may not be missed: it would close the connection (errors).
        start = time.monotonic()
        deadline = start + FLOOD_SECONDS + LATE
        while not client.wait(0.1) and time.monotonic() < deadline:
            if time.monotonic() >= start + FLOOD_SECONDS and counts["pings"] >= 2:
                break
        assert errors == [], errors
        assert counts["packets"] > 1000, counts
        assert counts["pings"] >= 2, counts
    finally:
        start = time.monotonic()
        ended = client.disconnect()
        took = time.monotonic() - start
        publisher.stopped.set()
        publisher.join(5)
    assert ended and took < settings.response_timeout, took
    # DISCONNECT went out. Whether the server's close came within CLOSE_WAIT depends on
    # how much of the backlog its WebSocket layer flushes first; what matters is that:
    assert client.server_closed is not None, counts
    # Mosquitto heard the DISCONNECT (a reset would read "closed its connection" or a
    # socket error, and would publish a will).
    assert _log_says(broker.log, f"Client {client_id} disconnected."), broker.log.read_text()[
        -2000:
    ]


# ---------------------------------------------------------------------------- WebSocket pings


def _pinging(conn: PeerConnection) -> None:
    """Upgrade, accept the CONNECT, then WebSocket pings without end, never reading the
    pongs: the client's answers back up until it can send no more."""
    if not conn.read_http_request(5.0):
        return
    conn.send(_upgrade_answer(conn, 101, b""))
    got = conn.read_frame(5.0)
    if got is None:
        return
    conn.send(frame(BINARY, CONNACK_ACCEPTED))
    ping = frame(PING, b"p" * 125) * 1000
    conn.sock.settimeout(10.0)  # the client reads our pings; it is the pongs that stall
    sent = 0
    while conn.alive() and sent < 200_000_000 and conn.send(ping):
        sent += len(ping)


def test_pongs_the_server_does_not_read_time_out_after_the_response_timeout(
    driver: Driver,
    peers: Peers,
) -> None:
    peer = peers.start(_pinging, lifetime=30.0)
    client = driver.client(
        Settings(peer.uri("ws"), keep_alive=0, response_timeout=2.0, reconnect=False)
    )
    client.connect()
    assert client.wait(20.0), "the client did not notice"
    error = client.error
    # The limit said is the response timeout, not a second of its own.
    assert isinstance(error, ResponseTimeout), error
    assert (error.phase, error.timeout) == ("session", 2.0), error
    assert client.diagnose(error)[:2] == (5, "timeout")
    assert client.disconnect()
