"""``bench --tls-resume`` against real servers: Mosquitto's MQTT and WebSocket listeners
under TLS 1.3 and, limited by an OpenSSL configuration, TLS 1.2, seen through a relay
that reads from the broker's own bytes whether it resumed each session; a server of this
module that declines every session; and the TLS sessions of the transport resumed over
memory buffers, with no socket at all.

Mosquitto 2.0.11 resumes with OpenSSL's defaults (session tickets, on both kinds of
listener): no setting of its own is needed.
"""

from __future__ import annotations

import selectors
import socket
import ssl
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from pco_wire.transport.common import TLSLayer, TLSSessions
from tests.broker import STOP_TIMEOUT, Broker, config_head, free_ports, run_mosquitto, stop_process
from tests.pki import Pki
from tests.test_bench import _check_document, bench

#: The first bytes of the broker's side of each connection kept: its plaintext handshake
#: messages are in its first flight, well within this.
KEPT = 65536
SLICE = 0.05

# RFC 8446 §4 and RFC 5246 §7.4: record and handshake message types, extensions.
_HANDSHAKE_RECORD = 22
_SERVER_HELLO = 2
_CERTIFICATE = 11
_PRE_SHARED_KEY = 41
_SUPPORTED_VERSIONS = 43


def server_handshake(data: bytes) -> tuple[str, bool]:
    """(TLS version, resumed) of the handshake whose server side begins ``data``, from its
    plaintext: under TLS 1.3 the ServerHello carries "pre_shared_key" when the server
    accepted the session offered (RFC 8446 §4.2.11); under TLS 1.2 a resumed handshake
    sends no Certificate (RFC 5246 §7.3, RFC 5077 §3.1)."""
    plain = b""
    at = 0
    while at + 5 <= len(data) and data[at] == _HANDSHAKE_RECORD:
        length = int.from_bytes(data[at + 3 : at + 5], "big")
        plain += data[at + 5 : at + 5 + length]
        at += 5 + length
    kinds: list[int] = []
    hello = b""
    at = 0
    while at + 4 <= len(plain):
        length = int.from_bytes(plain[at + 1 : at + 4], "big")
        kinds.append(plain[at])
        if plain[at] == _SERVER_HELLO:
            hello = plain[at + 4 : at + 4 + length]
        at += 4 + length
    assert hello, f"no ServerHello in {data[:64].hex()}"
    # legacy_version, random, legacy_session_id, cipher_suite, compression, extensions.
    at = 2 + 32
    at += 1 + hello[at] + 2 + 1
    end = at + 2 + int.from_bytes(hello[at : at + 2], "big")
    at += 2
    extensions: dict[int, bytes] = {}
    while at + 4 <= end:
        kind, length = (
            int.from_bytes(hello[at : at + 2], "big"),
            int.from_bytes(hello[at + 2 : at + 4], "big"),
        )
        extensions[kind] = hello[at + 4 : at + 4 + length]
        at += 4 + length
    if extensions.get(_SUPPORTED_VERSIONS) == b"\x03\x04":
        return "TLSv1.3", _PRE_SHARED_KEY in extensions
    assert hello[:2] == b"\x03\x03", hello[:2].hex()
    return "TLSv1.2", _CERTIFICATE not in kinds


class Relay:
    """A TCP relay on 127.0.0.1 to ``port``, in one thread, that keeps the first bytes
    the server sent on each connection (``answers``, in the order of the connections)."""

    def __init__(self, port: int) -> None:
        self.target = port
        self.answers: list[bytearray] = []
        self._listener = socket.create_server(("127.0.0.1", 0), backlog=128)
        self._listener.setblocking(False)
        self.port: int = self._listener.getsockname()[1]
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="tls-relay", daemon=True)
        self._thread.start()

    def verdicts(self) -> list[tuple[str, bool]]:
        return [server_handshake(bytes(answer)) for answer in self.answers]

    def _run(self) -> None:
        selector = selectors.DefaultSelector()
        selector.register(self._listener, selectors.EVENT_READ, None)
        # Each socket -> (the other, the server's answers when it is the server's).
        try:
            while not self._stop.is_set():
                for key, _ in selector.select(SLICE):
                    if key.data is None:
                        self._accept(selector)
                        continue
                    sock: socket.socket = key.fileobj  # type: ignore[assignment]
                    other, kept = key.data
                    try:
                        data = sock.recv(65536)
                    except OSError:
                        data = b""
                    if not data:
                        for each in (sock, other):
                            if each.fileno() >= 0:
                                selector.unregister(each)
                                each.close()
                        continue
                    if kept is not None and len(kept) < KEPT:
                        kept += data[: KEPT - len(kept)]
                    try:
                        other.sendall(data)
                    except OSError:
                        pass
        finally:
            for key in list(selector.get_map().values()):
                key.fileobj.close()  # type: ignore[union-attr]
            selector.close()

    def _accept(self, selector: selectors.BaseSelector) -> None:
        try:
            client, _ = self._listener.accept()
        except BlockingIOError:
            return
        server = socket.create_connection(("127.0.0.1", self.target), timeout=STOP_TIMEOUT)
        kept = bytearray()
        self.answers.append(kept)
        for sock in (client, server):
            sock.settimeout(STOP_TIMEOUT)  # sendall blocks, within a bound
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        selector.register(client, selectors.EVENT_READ, (server, None))
        selector.register(server, selectors.EVENT_READ, (client, kept))

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(STOP_TIMEOUT)
        assert not self._thread.is_alive(), "the relay did not stop"


@pytest.fixture
def relay_to() -> Iterator[Any]:
    started: list[Relay] = []

    def start(port: int) -> Relay:
        relay = Relay(port)
        started.append(relay)
        return relay

    yield start
    for relay in started:
        relay.stop()


@dataclass
class Tls12Broker:
    process: Any
    tls: int
    wss: int
    log: Path


#: An OpenSSL configuration that caps every context at TLS 1.2 (OPENSSL_CONF).
_TLS12_CONF = """\
openssl_conf = pco_wire_test

[pco_wire_test]
ssl_conf = pco_wire_ssl

[pco_wire_ssl]
system_default = pco_wire_tls12

[pco_wire_tls12]
MaxProtocol = TLSv1.2
"""


@pytest.fixture(scope="module")
def tls12_broker(tmp_path_factory: pytest.TempPathFactory, pki: Pki) -> Iterator[Tls12Broker]:
    """Mosquitto speaking TLS 1.2 at most: its tls_version is a minimum, so OpenSSL's
    configuration is what caps it."""
    directory = tmp_path_factory.mktemp("mosquitto-tls12")
    conf = directory / "openssl.cnf"
    conf.write_text(_TLS12_CONF)
    tls, wss = free_ports(2)
    good = f"certfile {pki.server_cert}\nkeyfile {pki.server_key}\ncafile {pki.ca_cert}\n"
    config = (
        config_head()
        + f"listener {tls} 127.0.0.1\nallow_anonymous true\n{good}"
        + f"listener {wss} 127.0.0.1\nprotocol websockets\nsocket_domain ipv4\n"
        + f"allow_anonymous true\n{good}"
    )
    process, log = run_mosquitto(
        directory, config, {"tls": tls, "wss": wss}, env={"OPENSSL_CONF": str(conf)}
    )
    yield Tls12Broker(process, tls, wss, log)
    stop_process(process)


def _port(broker: Broker, tls12: Tls12Broker | None, scheme: str) -> int:
    if tls12 is not None:
        return tls12.tls if scheme == "mqtts" else tls12.wss
    return broker.ports.tls if scheme == "mqtts" else broker.ports.wss


#: Connections a run makes, one after the other (--concurrency 1): WebSocket exchanges
#: with Mosquitto take some 100 ms each (its websocket tick).
_RUNS = {"mqtts": 30, "wss": 6}


@pytest.mark.parametrize("version", ["TLSv1.3", "TLSv1.2"])
@pytest.mark.parametrize("scheme", ["mqtts", "wss"])
def test_sessions_are_resumed_after_the_first_handshake(
    broker: Broker, request: pytest.FixtureRequest, relay_to: Any, scheme: str, version: str
) -> None:
    tls12 = request.getfixturevalue("tls12_broker") if version == "TLSv1.2" else None
    relay = relay_to(_port(broker, tls12, scheme))
    count = _RUNS[scheme]
    run = bench(
        f"{scheme}://127.0.0.1:{relay.port}",
        *("--cafile", str(broker.pki.ca_cert), "-n", str(count), "--concurrency", "1"),
        *("--rate", "0", "-d", "0", "--tls-resume", "--json"),
    )
    assert run.code == 0, run
    document = run.json()
    _check_document(document)
    assert document["plan"]["tls_resume"] is True
    tls = document["tls_handshake_seconds"]
    # One after the other: each but the first had the session of the one before.
    assert (tls["full"]["count"], tls["resumed"]["count"]) == (1, count - 1), tls
    assert document["tls_sessions_offered"] == count - 1
    # What the broker itself did, from its ServerHello.
    assert relay.verdicts() == [(version, False)] + [(version, True)] * (count - 1)


def test_without_tls_resume_no_handshake_is_resumed(broker: Broker, relay_to: Any) -> None:
    relay = relay_to(broker.ports.tls)
    run = bench(
        f"mqtts://127.0.0.1:{relay.port}",
        *("--cafile", str(broker.pki.ca_cert), "-n", "10", "--concurrency", "1", "-d", "0"),
    )
    assert run.code == 0, run
    assert (
        "  TLS handshakes 10: full 10, resumed 0 (no session offered: --tls-resume not given)"
        in run.stdout.splitlines()
    ), run
    assert relay.verdicts() == [("TLSv1.3", False)] * 10
    run = bench(
        f"mqtts://127.0.0.1:{broker.ports.tls}",
        *("--cafile", str(broker.pki.ca_cert), "-n", "5", "-d", "0", "--json"),
    )
    assert run.code == 0, run
    document = run.json()
    _check_document(document)
    tls = document["tls_handshake_seconds"]
    assert (tls["full"]["count"], tls["resumed"]["count"]) == (5, 0)
    assert (document["tls_sessions_offered"], document["plan"]["tls_resume"]) == (0, False)


def test_each_worker_resumes_its_own_sessions(broker: Broker, relay_to: Any) -> None:
    relay = relay_to(broker.ports.tls)
    run = bench(
        f"mqtts://127.0.0.1:{relay.port}",
        *("--cafile", str(broker.pki.ca_cert), "-n", "20", "--workers", "2"),
        *("--concurrency", "2", "--rate", "0", "-d", "0", "--tls-resume", "--json"),
    )
    assert run.code == 0, run
    document = run.json()
    _check_document(document)
    tls = document["tls_handshake_seconds"]
    # Each worker (one attempt in flight each) starts with a full handshake of its own.
    assert (tls["full"]["count"], tls["resumed"]["count"]) == (2, 18), tls
    assert document["tls_sessions_offered"] == 18
    verdicts = relay.verdicts()
    assert sorted(resumed for _, resumed in verdicts) == [False] * 2 + [True] * 18


@pytest.mark.parametrize("scheme", ["mqtt", "ws"])
def test_tls_resume_without_tls_is_a_usage_error(scheme: str) -> None:
    run = bench(f"{scheme}://127.0.0.1:1", "--tls-resume")
    assert run.code == 2, run
    assert (
        f"FAILED (invalid-settings, exit 2): invalid settings: tls_resume: {scheme}:// has no "
        "TLS session to resume: use mqtts:// or wss://, or leave --tls-resume out"
    ) in run.stderr
    assert "Traceback" not in run.stderr
    run = bench(f"{scheme}://127.0.0.1:1", "--tls-resume", "--json")
    assert run.code == 2, run
    document = run.json()
    _check_document(document)
    assert (document["category"], document["attempts"]) == ("invalid-settings", 0)
    assert document["plan"]["tls_resume"] is True


# ------------------------------------------------------------------- a server that declines


@dataclass
class Forgetful:
    """An MQTT server over TLS on 127.0.0.1 whose connections take turns between two
    contexts, each with ticket keys of its own: a session from one is never resumed by
    the other, so every session offered is declined. ``resumed``: what its side said."""

    pki: Pki
    resumed: list[bool] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.contexts = []
        for _ in range(2):
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            context.load_cert_chain(self.pki.server_cert, self.pki.server_key)
            self.contexts.append(context)
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.listener.settimeout(SLICE)
        self.port: int = self.listener.getsockname()[1]
        self.stopping = threading.Event()
        self.threads: list[threading.Thread] = []
        self.accepting = threading.Thread(target=self._accept, daemon=True)
        self.accepting.start()

    def _accept(self) -> None:
        with self.listener:
            while not self.stopping.is_set():
                try:
                    sock, _ = self.listener.accept()
                except TimeoutError:
                    continue
                context = self.contexts[len(self.threads) % 2]
                thread = threading.Thread(target=self._serve, args=(sock, context), daemon=True)
                self.threads.append(thread)
                thread.start()

    def _serve(self, sock: socket.socket, context: ssl.SSLContext) -> None:
        sock.settimeout(STOP_TIMEOUT)
        try:
            with context.wrap_socket(sock, server_side=True) as tls:
                self.resumed.append(bool(tls.session_reused))
                head = tls.recv(2)  # CONNECT: fixed header; short, so one length byte
                assert head[:1] == b"\x10", head
                body = b""
                while len(body) < head[1]:
                    body += tls.recv(head[1] - len(body))
                tls.sendall(b"\x20\x02\x00\x00")  # CONNACK, accepted
                deadline = time.monotonic() + STOP_TIMEOUT
                while not self.stopping.is_set() and time.monotonic() < deadline:
                    if not tls.recv(1024):  # our DISCONNECT, then the close
                        break
        except (OSError, AssertionError) as exc:
            self.errors.append(repr(exc))

    def stop(self) -> None:
        self.stopping.set()
        for thread in [self.accepting, *self.threads]:
            thread.join(STOP_TIMEOUT)


def test_sessions_the_server_declines_are_full_handshakes_said_so(pki: Pki) -> None:
    server = Forgetful(pki)
    try:
        run = bench(
            f"mqtts://127.0.0.1:{server.port}",
            *("--cafile", str(pki.ca_cert), "-n", "6", "--concurrency", "1", "-d", "0"),
            "--tls-resume",
        )
    finally:
        server.stop()
    assert run.code == 0, run
    assert server.errors == []
    assert server.resumed == [False] * 6
    assert (
        "  TLS handshakes 6: full 6, resumed 0 (1 before a session was at hand, 5 offered a "
        "session the server declined)"
    ) in run.stdout.splitlines(), run


# ---------------------------------------------------------------------------- in memory


def _connect(
    context: ssl.SSLContext, server_context: ssl.SSLContext, session: ssl.SSLSession | None
) -> TLSLayer:
    """A handshake of ``context`` (offering ``session``) with a server of
    ``server_context`` over memory buffers, then the server's first bytes above TLS read:
    the client's layer."""
    client = TLSLayer(context, "localhost", session)
    into_server, from_server = ssl.MemoryBIO(), ssl.MemoryBIO()
    server = server_context.wrap_bio(into_server, from_server, server_side=True)
    for _ in range(10):
        done = client.handshake()
        into_server.write(client.data_to_send())
        try:
            server.do_handshake()
        except ssl.SSLWantReadError:
            pass
        if done:
            break
        answer = from_server.read()
        if answer:  # b"" would be the end of the stream
            client.feed(answer)
    server.write(b"answer")  # after the tickets of TLS 1.3, as a CONNACK is
    assert client.receive(from_server.read(), "CONNACK") == (b"answer", False, None)
    return client


def _server_context(pki: Pki) -> ssl.SSLContext:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(pki.server_cert, pki.server_key)  # ticket keys of its own
    return context


@pytest.mark.parametrize("version", [ssl.TLSVersion.TLSv1_3, ssl.TLSVersion.TLSv1_2])
def test_one_session_is_offered_until_the_server_declines_it(
    pki: Pki, version: ssl.TLSVersion
) -> None:
    server_context = _server_context(pki)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.load_verify_locations(cafile=pki.ca_cert)
    context.maximum_version = version
    sessions = TLSSessions()
    assert sessions.offer(context) is None
    first = _connect(context, server_context, sessions.offer(context))
    assert (first.offered, first.obj.session_reused) == (False, False)
    assert first.obj.version() == {"TLSv1_3": "TLSv1.3", "TLSv1_2": "TLSv1.2"}[version.name]
    assert sessions.keep(first.obj)
    kept = sessions.offer(context)
    assert kept is not None
    # Resumed: the session kept stays (reading another out of ssl costs a copy).
    second = _connect(context, server_context, kept)
    assert (second.offered, second.obj.session_reused) == (True, True)
    assert not sessions.keep(second.obj)
    assert sessions.offer(context) is kept
    # Declined (a server with other ticket keys): the full handshake's session replaces it.
    third = _connect(context, _server_context(pki), kept)
    assert (third.offered, third.obj.session_reused) == (True, False)
    assert sessions.keep(third.obj)
    latest, obtained = sessions.offer(context), third.obj.session
    assert latest is not None and obtained is not None and latest.id == obtained.id
    assert latest.id != kept.id
    # Past half its lifetime, a resumed one replaces it too.
    sessions.renew_at = 0.0
    assert sessions.keep(_connect(context, server_context, kept).obj)
    # A session is never offered to another context.
    assert sessions.offer(ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)) is None
