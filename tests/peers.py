"""Byte-level fake servers on loopback, for the faults a real broker will not produce.

A :class:`Peer` is a daemon thread with a listening socket on 127.0.0.1, port 0. It serves
at most ``connections`` clients, one after the other, each with a *handler* (a function
of a :class:`PeerConnection`), and stops by itself after ``lifetime`` seconds: every accept
and receive waits in short slices, so :meth:`Peer.stop` is also heard within one slice.
What the client sent is kept in a :class:`Recording` per connection: complete MQTT packets
with their arrival times, the HTTP upgrade request, and who closed first.

Handlers:

- :func:`silent`: accepts and never answers (a port that swallows CONNECT);
- :func:`closing`: reads CONNECT and closes without a word;
- :func:`mqtt_server`: answers CONNECT with given bytes (a CONNACK, maybe stored PUBLISH
  packets after it), answers PINGREQ or not, and after DISCONNECT waits for the client
  to close;
- :func:`websocket_server`: the HTTP upgrade (any status), then MQTT in binary frames,
  with scripted frames (split, fragmented, text) where a test wants them;
- :func:`closing_on_upgrade`: reads the HTTP upgrade request and closes cleanly (a plain
  MQTT port meeting ws://);
- :func:`tls_server`: a TLS handshake with a given certificate, then another handler over
  the TLS stream;
- :func:`relay`: forwards to a real server and records both directions, to see what a
  client puts on the wire to Mosquitto.

:func:`run_cli` runs ``python -m pco_wire`` as a subprocess, bounded by a timeout, for the
tests that point the command line at these peers or at the broker.
"""

from __future__ import annotations

import base64
import hashlib
import os
import select
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

__all__ = [
    "BINARY",
    "CLOSE",
    "CONNACK_ACCEPTED",
    "CONT",
    "PINGREQ",
    "PINGRESP",
    "TEXT",
    "CliRun",
    "Handler",
    "PacketReader",
    "Peer",
    "PeerConnection",
    "Peers",
    "Recording",
    "closing",
    "closing_on_upgrade",
    "connack",
    "frame",
    "mqtt_server",
    "packet_name",
    "publish",
    "relay",
    "run_cli",
    "silent",
    "tls_server",
    "websocket_server",
]

#: Each blocking call waits at most this long before looking at the clock and the stop flag.
SLICE = 0.05
DEFAULT_LIFETIME = 10.0
STOP_TIMEOUT = 3.0

CONNACK_ACCEPTED = bytes.fromhex("20020000")
PINGREQ = bytes.fromhex("c000")
PINGRESP = bytes.fromhex("d000")
DISCONNECT = bytes.fromhex("e000")

# MQTT 3.1.1 §2.2.1: the packet type is the high nibble of the first byte.
_NAMES = {
    1: "CONNECT",
    2: "CONNACK",
    3: "PUBLISH",
    4: "PUBACK",
    5: "PUBREC",
    6: "PUBREL",
    7: "PUBCOMP",
    8: "SUBSCRIBE",
    9: "SUBACK",
    10: "UNSUBSCRIBE",
    11: "UNSUBACK",
    12: "PINGREQ",
    13: "PINGRESP",
    14: "DISCONNECT",
}

# RFC 6455 §5.2 opcodes.
CONT, TEXT, BINARY, CLOSE, PING, PONG = 0x0, 0x1, 0x2, 0x8, 0x9, 0xA
# RFC 6455 §1.3: the server proves it read the key by hashing it with this GUID.
_WEBSOCKET_GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
_REASONS = {101: "Switching Protocols", 400: "Bad Request", 401: "Unauthorized", 404: "Not Found"}


# ---------------------------------------------------------------------------- MQTT bytes


def packet_name(packet: bytes) -> str:
    return _NAMES.get(packet[0] >> 4, f"type {packet[0] >> 4}")


def packet_size(data: bytes | bytearray) -> int | None:
    """The whole size of the packet ``data`` starts with, None while its fixed header is
    incomplete. Raises ValueError for a Remaining Length longer than 4 bytes."""
    remaining = 0
    for index in range(1, min(len(data), 5)):
        byte = data[index]
        remaining |= (byte & 0x7F) << (7 * (index - 1))
        if not byte & 0x80:
            return 1 + index + remaining
    if len(data) >= 5:
        raise ValueError(f"remaining length longer than 4 bytes: {bytes(data[:5]).hex(' ')}")
    return None


class PacketReader:
    """Cuts a byte stream into whole MQTT packets, by the fixed header alone."""

    def __init__(self) -> None:
        self._buffer = bytearray()

    def feed(self, data: bytes) -> list[bytes]:
        self._buffer += data
        out: list[bytes] = []
        while (size := packet_size(self._buffer)) is not None and len(self._buffer) >= size:
            out.append(bytes(self._buffer[:size]))
            del self._buffer[:size]
        return out


def connack(return_code: int = 0, session_present: bool = False) -> bytes:
    return bytes([0x20, 0x02, int(session_present), return_code])


def publish(topic: str, payload: bytes, qos: int = 0, packet_id: int = 1) -> bytes:
    """A PUBLISH packet (MQTT 3.1.1 §3.3), as a broker delivers a stored message."""
    name = topic.encode()
    body = len(name).to_bytes(2, "big") + name
    if qos:
        body += packet_id.to_bytes(2, "big")
    body += payload
    assert len(body) < 128, "one byte of Remaining Length"
    return bytes([0x30 | qos << 1, len(body)]) + body


def frame(opcode: int, payload: bytes, fin: bool = True) -> bytes:
    """A server's WebSocket frame: not masked (RFC 6455 §5.1)."""
    head = bytes([(0x80 if fin else 0) | opcode])
    if len(payload) < 126:
        head += bytes([len(payload)])
    elif len(payload) < 1 << 16:
        head += bytes([126]) + len(payload).to_bytes(2, "big")
    else:
        head += bytes([127]) + len(payload).to_bytes(8, "big")
    return head + payload


# ---------------------------------------------------------------------------- peers


@dataclass
class Recording:
    """What one client connection did, as the peer saw it."""

    packets: list[tuple[float, bytes]] = field(default_factory=list)
    """Complete MQTT packets from the client, each with its ``time.monotonic()`` arrival."""
    answers: list[tuple[float, bytes]] = field(default_factory=list)
    """Complete MQTT packets the relayed server sent to the client (relay only)."""
    request_line: str = ""
    """The WebSocket upgrade request's first line, e.g. "GET /mqtt HTTP/1.1"."""
    headers: dict[str, str] = field(default_factory=dict)
    """Its headers, names in lower case."""
    client_closed: bool = False
    """The client closed (or reset) its side of the connection."""
    closed_first: str | None = None
    """"client" or "server" (relay only): whose end of the stream ended first."""
    errors: list[str] = field(default_factory=list)
    """Exceptions the handler met, by repr."""
    ended: threading.Event = field(default_factory=threading.Event)
    """Set when the handler has returned: everything the client sent until then is in."""

    def names(self) -> list[str]:
        """The client's packets by type name, in order."""
        return [packet_name(packet) for _, packet in self.packets]

    def times(self, name: str) -> list[float]:
        return [at for at, packet in self.packets if packet_name(packet) == name]


class PeerConnection:
    """One accepted client socket; every read is bounded by a timeout and by the peer's
    lifetime, and everything the client sends is recorded."""

    def __init__(self, sock: socket.socket, recording: Recording, peer: Peer) -> None:
        sock.settimeout(SLICE)
        self.sock = sock
        self.recording = recording
        self.peer = peer
        self._raw = bytearray()  # HTTP and WebSocket bytes not parsed yet
        self._reader = PacketReader()
        self._ready: list[bytes] = []

    def alive(self) -> bool:
        return self.peer.alive()

    def _deadline(self, timeout: float) -> float:
        return min(time.monotonic() + timeout, self.peer.deadline)

    def receive(self, deadline: float) -> bytes | None:
        """Bytes, b"" when the client closed, None when nothing came by ``deadline``."""
        while self.alive() and time.monotonic() < deadline:
            try:
                data = self.sock.recv(65536)
            except TimeoutError:
                continue
            except OSError:  # a reset: the client is gone
                data = b""
            if not data:
                self.recording.client_closed = True
            return data
        return None

    def send(self, data: bytes) -> bool:
        """Send all of ``data``; False when the client has gone (that is its right)."""
        try:
            self.sock.sendall(data)
        except OSError:
            self.recording.client_closed = True
            return False
        return True

    def note(self, data: bytes) -> list[bytes]:
        """Record the MQTT packets that ``data`` completes, stamped now."""
        now = time.monotonic()
        packets = self._reader.feed(data)
        self.recording.packets += ((now, packet) for packet in packets)
        return packets

    def read_packet(self, timeout: float) -> bytes | None:
        """The client's next MQTT packet; None on close or timeout."""
        deadline = self._deadline(timeout)
        while not self._ready:
            data = self.receive(deadline)
            if not data:
                return None
            self._ready += self.note(data)
        return self._ready.pop(0)

    def wait_closed(self, timeout: float) -> bool:
        """Read (and record) until the client closes; whether it did within ``timeout``."""
        deadline = self._deadline(timeout)
        while not self.recording.client_closed:
            data = self.receive(deadline)
            if data is None:
                return False
            self.note(data)
        return True

    def _fill(self, count: int, deadline: float) -> bool:
        while len(self._raw) < count:
            data = self.receive(deadline)
            if not data:
                return False
            self._raw += data
        return True

    def read_http_request(self, timeout: float) -> bool:
        """Read the upgrade request into the recording; whether a whole one came."""
        deadline = self._deadline(timeout)
        while b"\r\n\r\n" not in self._raw:
            data = self.receive(deadline)
            if not data or len(self._raw) > 65536:
                return False
            self._raw += data
        head, _, rest = bytes(self._raw).partition(b"\r\n\r\n")
        self._raw = bytearray(rest)
        first, *lines = head.decode("latin-1").split("\r\n")
        self.recording.request_line = first
        for line in lines:
            name, _, value = line.partition(":")
            self.recording.headers[name.strip().lower()] = value.strip()
        return True

    def read_frame(self, timeout: float) -> tuple[int, bool, bytes] | None:
        """The client's next WebSocket frame as (opcode, fin, unmasked payload); None on
        close or timeout. A client masks every frame (RFC 6455 §5.3)."""
        deadline = self._deadline(timeout)
        if not self._fill(2, deadline):
            return None
        first, second = self._raw[0], self._raw[1]
        size, offset = second & 0x7F, 2
        if size == 126:
            if not self._fill(4, deadline):
                return None
            size, offset = int.from_bytes(self._raw[2:4], "big"), 4
        elif size == 127:
            if not self._fill(10, deadline):
                return None
            size, offset = int.from_bytes(self._raw[2:10], "big"), 10
        masked = bool(second & 0x80)
        end = offset + (4 if masked else 0) + size
        if not self._fill(end, deadline):
            return None
        payload = bytes(self._raw[end - size : end])
        if masked:
            mask = self._raw[offset : offset + 4]
            payload = bytes(byte ^ mask[index % 4] for index, byte in enumerate(payload))
        else:
            self.recording.errors.append("a client frame was not masked")
        del self._raw[:end]
        return first & 0x0F, bool(first & 0x80), payload


Handler = Callable[[PeerConnection], None]


class Peer:
    """A fake server thread on 127.0.0.1; see the module docstring."""

    def __init__(
        self,
        handler: Handler,
        *,
        connections: int = 1,
        lifetime: float = DEFAULT_LIFETIME,
    ) -> None:
        self.handler = handler
        self.connections = connections
        self.deadline = time.monotonic() + lifetime
        self.recordings: list[Recording] = []
        self._stop = threading.Event()
        self._listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._listener.bind(("127.0.0.1", 0))
        self._listener.listen(connections)
        self._listener.settimeout(SLICE)
        self.port: int = self._listener.getsockname()[1]
        self._thread = threading.Thread(target=self._serve, name=f"peer-{self.port}", daemon=True)
        self._thread.start()

    def alive(self) -> bool:
        return not self._stop.is_set() and time.monotonic() < self.deadline

    def uri(self, scheme: str = "mqtt", rest: str = "") -> str:
        return f"{scheme}://127.0.0.1:{self.port}{rest}"

    @property
    def recording(self) -> Recording:
        """The first connection's recording; AssertionError if no client came."""
        assert self.recordings, f"no client connected to the peer on port {self.port}"
        return self.recordings[0]

    def _serve(self) -> None:
        try:
            while len(self.recordings) < self.connections and self.alive():
                try:
                    sock, _ = self._listener.accept()
                except TimeoutError:
                    continue
                recording = Recording()
                self.recordings.append(recording)
                with sock:
                    try:
                        self.handler(PeerConnection(sock, recording, self))
                    except Exception as exc:
                        recording.errors.append(repr(exc))
                    finally:
                        recording.ended.set()
        finally:
            # Later clients are refused, not left waiting in the backlog.
            self._listener.close()

    def finish(self, timeout: float = STOP_TIMEOUT) -> bool:
        """Wait for the peer to end by itself (all connections served); whether it did."""
        self._thread.join(timeout)
        return not self._thread.is_alive()

    def stop(self) -> None:
        """Stop now; AssertionError if the thread does not end within STOP_TIMEOUT."""
        self._stop.set()
        self._thread.join(STOP_TIMEOUT)
        if self._thread.is_alive():
            raise AssertionError(f"the peer on port {self.port} did not stop")

    def __enter__(self) -> Peer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


class Peers:
    """Starts peers and stops every one of them at the end (a fixture's cleanup)."""

    def __init__(self) -> None:
        self._started: list[Peer] = []

    def start(
        self, handler: Handler, *, connections: int = 1, lifetime: float = DEFAULT_LIFETIME
    ) -> Peer:
        peer = Peer(handler, connections=connections, lifetime=lifetime)
        self._started.append(peer)
        return peer

    def stop_all(self) -> None:
        for peer in self._started:
            peer.stop()

    @classmethod
    @contextmanager
    def running(cls) -> Iterator[Peers]:
        peers = cls()
        try:
            yield peers
        finally:
            peers.stop_all()


# ---------------------------------------------------------------------------- handlers


def silent() -> Handler:
    """Accept, record, never answer; until the client closes."""

    def handle(conn: PeerConnection) -> None:
        conn.wait_closed(DEFAULT_LIFETIME)

    return handle


def closing() -> Handler:
    """Read the CONNECT, then close without an answer."""

    def handle(conn: PeerConnection) -> None:
        conn.read_packet(5.0)

    return handle


def closing_on_upgrade() -> Handler:
    """Read the WebSocket upgrade request, then close without an answer (a FIN, no RST)."""

    def handle(conn: PeerConnection) -> None:
        conn.read_http_request(5.0)

    return handle


def tls_server(cert: Path, key: Path, then: Handler, handshake_timeout: float = 5.0) -> Handler:
    """A TLS handshake serving ``cert`` (and ``key``), then ``then`` over the TLS stream.
    A handshake the client breaks off (it did not trust the certificate) ends the
    connection, recorded in ``errors`` only if it was not an SSL error."""
    import ssl

    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(str(cert), str(key))

    def handle(conn: PeerConnection) -> None:
        conn.sock.settimeout(handshake_timeout)
        try:
            tls = context.wrap_socket(conn.sock, server_side=True)
        except (ssl.SSLError, OSError):
            return
        with tls:
            then(PeerConnection(tls, conn.recording, conn.peer))

    return handle


def _serve_mqtt(
    conn: PeerConnection, answer: bytes, answer_pings: bool, later: list[bytes]
) -> None:
    first = conn.read_packet(5.0)
    if first is None or packet_name(first) != "CONNECT":
        return
    conn.send(answer)
    for extra in later:
        time.sleep(0.1)
        conn.send(extra)
    while conn.alive():
        packet = conn.read_packet(SLICE)
        if packet is None:
            if conn.recording.client_closed:
                return
            continue
        name = packet_name(packet)
        if name == "PINGREQ" and answer_pings:
            conn.send(PINGRESP)
        elif name == "DISCONNECT":
            # MQTT 3.1.1 §3.14.4: the client closes after DISCONNECT; we wait to see it.
            conn.wait_closed(2.0)
            return


def mqtt_server(
    answer: bytes = CONNACK_ACCEPTED,
    *,
    answer_pings: bool = True,
    later: Sequence[bytes] = (),
) -> Handler:
    """Answer CONNECT with ``answer`` in one write (a CONNACK and whatever should arrive
    with it), then send each of ``later`` 0.1 s apart; answer PINGREQ with PINGRESP
    unless ``answer_pings`` is false; after DISCONNECT, wait for the client to close.
    The peer itself never closes first."""

    def handle(conn: PeerConnection) -> None:
        _serve_mqtt(conn, answer, answer_pings, list(later))

    return handle


def _upgrade_answer(
    conn: PeerConnection,
    status: int,
    body: bytes,
    select_subprotocol: bool = True,
    reason: str | None = None,
    subprotocol: str | None = None,
) -> bytes:
    headers = conn.recording.headers
    if reason is None:
        reason = _REASONS.get(status, "Whatever")
    if status != 101:
        return (
            f"HTTP/1.1 {status} {reason}\r\nContent-Type: text/plain\r\n"
            f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n"
        ).encode() + body
    key = headers.get("sec-websocket-key", "").encode()
    accept = base64.b64encode(hashlib.sha1(key + _WEBSOCKET_GUID).digest()).decode()
    answer = (
        "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        f"Sec-WebSocket-Accept: {accept}\r\n"
    )
    offered = headers.get("sec-websocket-protocol")
    if subprotocol is not None:
        answer += f"Sec-WebSocket-Protocol: {subprotocol}\r\n"
    elif offered and select_subprotocol:
        # MQTT 3.1.1 §6.0: the server selects the subprotocol the client offered.
        answer += f"Sec-WebSocket-Protocol: {offered.split(',')[0].strip()}\r\n"
    return (answer + "\r\n").encode()


def websocket_server(
    *,
    status: int = 101,
    body: bytes = b"",
    with_answer: bytes = b"",
    after_connect: Sequence[bytes] = (frame(BINARY, CONNACK_ACCEPTED),),
    select_subprotocol: bool = True,
    reason: str | None = None,
    subprotocol: str | None = None,
) -> Handler:
    """The HTTP upgrade answered with ``status`` (and ``body`` when it is not 101; the
    status line's ``reason`` given, or the usual one), selecting the subprotocol offered
    (none when ``select_subprotocol`` is false; ``subprotocol`` instead when given). After
    a 101, ``with_answer`` (raw frames) goes out in the same write as the answer, and
    ``after_connect`` (raw frames, one write each, 20 ms apart) once the CONNECT is
    complete. Then frames are read until the client's close frame, which is echoed, or
    its end of the stream."""

    def handle(conn: PeerConnection) -> None:
        if not conn.read_http_request(5.0):
            return
        conn.send(
            _upgrade_answer(conn, status, body, select_subprotocol, reason, subprotocol)
            + (with_answer if status == 101 else b"")
        )
        if status != 101:
            conn.wait_closed(2.0)
            return
        pending = list(after_connect)
        while conn.alive():
            got = conn.read_frame(SLICE)
            if got is None:
                if conn.recording.client_closed:
                    return
                continue
            opcode, _, payload = got
            if opcode == CLOSE:
                conn.send(frame(CLOSE, payload[:2]))
                conn.wait_closed(2.0)
                return
            if opcode not in (BINARY, CONT):
                conn.recording.errors.append(f"the client sent a frame of opcode {opcode}")
                continue
            for packet in conn.note(payload):
                if packet_name(packet) == "CONNECT":
                    for raw in pending:
                        conn.send(raw)
                        time.sleep(0.02)
                    pending = []

    return handle


DISCONNECT_HOLD = 0.1


def relay(port: int) -> Handler:
    """Forward each client to 127.0.0.1:``port`` and record both directions. When one
    side ends its stream, the relay passes the half-close on and keeps reading the other
    side, so ``closed_first`` says who really closed first."""

    def handle(conn: PeerConnection) -> None:
        recording = conn.recording
        answers = PacketReader()
        with socket.create_connection(("127.0.0.1", port), timeout=2.0) as upstream:
            open_ends = {conn.sock: upstream, upstream: conn.sock}
            while open_ends and conn.alive():
                ready, _, _ = select.select(list(open_ends), [], [], SLICE)
                for sock in ready:
                    try:
                        data = sock.recv(65536)
                    except OSError:
                        data = b""
                    other = open_ends[sock]
                    if not data:
                        del open_ends[sock]
                        whose = "client" if sock is conn.sock else "server"
                        recording.closed_first = recording.closed_first or whose
                        recording.client_closed |= whose == "client"
                        try:
                            other.shutdown(socket.SHUT_WR)
                        except OSError:
                            pass
                        continue
                    if sock is conn.sock:
                        if any(packet[0] >> 4 == 14 for packet in conn.note(data)):
                            # Hold the DISCONNECT back a little: Mosquitto closes as soon
                            # as it reads one, and a client that closes right after sending
                            # it must still be seen closing first.
                            time.sleep(DISCONNECT_HOLD)
                    else:
                        now = time.monotonic()
                        recording.answers += ((now, packet) for packet in answers.feed(data))
                    try:
                        other.sendall(data)
                    except OSError as exc:
                        recording.errors.append(repr(exc))

    return handle


# ---------------------------------------------------------------------------- the CLI

ROOT = Path(__file__).resolve().parent.parent
CLI_TIMEOUT = 20.0


@dataclass
class CliRun:
    """A finished ``python -m pco_wire`` run."""

    args: list[str]
    code: int
    stdout: str
    stderr: str
    seconds: float

    def json(self) -> dict[str, Any]:
        import json

        document = json.loads(self.stdout)
        assert isinstance(document, dict), self.stdout
        return document

    def __str__(self) -> str:
        # For assertion messages: everything a person needs to see what happened.
        return (
            f"{' '.join(self.args)} -> exit {self.code} in {self.seconds:.2f} s\n"
            f"--- stdout\n{self.stdout}--- stderr\n{self.stderr}"
        )


def run_cli(
    *args: str,
    command: str = "test",
    env: dict[str, str] | None = None,
    timeout: float = CLI_TIMEOUT,
) -> CliRun:
    """Run ``python -m pco_wire COMMAND ARGS`` from the repository root, with stdin closed
    and no controlling terminal (nothing can prompt), within ``timeout`` seconds.
    ``env`` adds to (never replaces) this process's environment."""
    argv = [sys.executable, "-m", "pco_wire", *([command] if command else []), *args]
    start = time.monotonic()
    done = subprocess.run(
        argv,
        cwd=ROOT,
        env={**os.environ, **(env or {})},
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=timeout,
        start_new_session=True,
        check=False,
    )
    return CliRun(argv[3:], done.returncode, done.stdout, done.stderr, time.monotonic() - start)


# ---------------------------------------------------------------------------- more handlers
# For tests/test_reliability.py: a server that dies, resets, goes quiet after a while, or
# changes its answer from one connection to the next.


def sequence(*handlers: Handler) -> Handler:
    """The n-th connection is served by ``handlers[n]``; the last one serves the rest."""
    if not handlers:
        raise ValueError("expected at least one handler")

    def handle(conn: PeerConnection) -> None:
        index = min(len(conn.peer.recordings), len(handlers)) - 1
        handlers[index](conn)

    return handle


def at_once() -> Handler:
    """Do nothing: the peer closes the connection as soon as it is accepted."""

    def handle(conn: PeerConnection) -> None:
        pass

    return handle


class _Limited(PeerConnection):
    """A connection that counts as over ``until`` (a ``time.monotonic()`` value)."""

    def __init__(self, conn: PeerConnection, until: float) -> None:
        super().__init__(conn.sock, conn.recording, conn.peer)
        self.until = until

    def alive(self) -> bool:
        return time.monotonic() < self.until and super().alive()


def for_at_most(handler: Handler, seconds: float) -> Handler:
    """Run ``handler`` for at most ``seconds`` from the accept; then the peer closes."""

    def handle(conn: PeerConnection) -> None:
        handler(_Limited(conn, time.monotonic() + seconds))

    return handle


def aborting(handler: Handler) -> Handler:
    """Run ``handler``, then reset the connection (SO_LINGER 0 and close: an RST, no FIN)."""

    def handle(conn: PeerConnection) -> None:
        handler(conn)
        try:
            # struct linger {int l_onoff; int l_linger;}: on, 0 seconds.
            linger = (1).to_bytes(4, sys.byteorder) + (0).to_bytes(4, sys.byteorder)
            conn.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, linger)
        except OSError:
            pass

    return handle


def answer_then_close(answer: bytes = CONNACK_ACCEPTED) -> Handler:
    """Read CONNECT, send ``answer`` and close at once: the answer and the FIN leave in
    one TCP segment (held with MSG_MORE, then pushed out by the shutdown), so the client
    always finds both in its receive queue together, never one without the other."""

    def handle(conn: PeerConnection) -> None:
        first = conn.read_packet(5.0)
        if first is None or packet_name(first) != "CONNECT":
            return
        try:
            conn.sock.send(answer, socket.MSG_MORE)
            conn.sock.shutdown(socket.SHUT_WR)
        except OSError:
            conn.recording.client_closed = True

    return handle


def connect_level(packet: bytes) -> tuple[str, int]:
    """The protocol name and level of a CONNECT (MQTT 3.1.1 §3.1.2.1, §3.1.2.2)."""
    assert packet_name(packet) == "CONNECT", packet.hex(" ")
    # The variable header starts after the type byte and 1..4 Remaining Length bytes.
    start = 1 + next(i for i in range(1, 5) if packet[i] < 0x80)
    length = int.from_bytes(packet[start : start + 2], "big")
    name = packet[start + 2 : start + 2 + length].decode("latin-1")
    return name, packet[start + 2 + length]


def by_protocol_level(answers: dict[int, bytes]) -> Handler:
    """Answer CONNECT with ``answers[level]`` (return code 1 for a level not listed); an
    accepted client is then served as by :func:`mqtt_server`, a refused one closed."""

    def handle(conn: PeerConnection) -> None:
        first = conn.read_packet(5.0)
        if first is None or packet_name(first) != "CONNECT":
            return
        answer = answers.get(connect_level(first)[1], connack(1))
        conn.send(answer)
        if answer[3] != 0:
            return  # MQTT 3.1.1 §3.2.2.3: the server closes after a refusal
        while conn.alive():
            packet = conn.read_packet(SLICE)
            if packet is None:
                if conn.recording.client_closed:
                    return
                continue
            if packet_name(packet) == "PINGREQ":
                conn.send(PINGRESP)
            elif packet_name(packet) == "DISCONNECT":
                conn.wait_closed(2.0)
                return

    return handle


def raw_relay(port: int) -> Handler:
    """Forward bytes both ways to 127.0.0.1:``port`` without reading them as MQTT (for
    TLS, which :func:`relay` cannot parse); ends when either side ends its stream."""

    def handle(conn: PeerConnection) -> None:
        with socket.create_connection(("127.0.0.1", port), timeout=2.0) as upstream:
            other = {conn.sock: upstream, upstream: conn.sock}
            while conn.alive():
                ready, _, _ = select.select(list(other), [], [], SLICE)
                for sock in ready:
                    try:
                        data = sock.recv(65536)
                        if data:
                            other[sock].sendall(data)
                    except OSError:
                        data = b""
                    if not data:
                        conn.recording.client_closed |= sock is conn.sock
                        return

    return handle


def trickle(data: bytes, interval: float) -> Handler:
    """Wait for the client's first bytes, then send ``data`` one byte every ``interval``
    seconds: a peer that is never silent for long, yet never done."""

    def handle(conn: PeerConnection) -> None:
        if not conn.receive(time.monotonic() + 5.0):
            return
        for byte in data:
            if not conn.alive() or not conn.send(bytes([byte])):
                return
            time.sleep(interval)
        conn.wait_closed(DEFAULT_LIFETIME)

    return handle
