"""The ``broker`` fixture, listener by listener, with nothing but the standard library.

These tests document the fixture: each shows how a client reaches one listener and what
it gets back. A raw MQTT 3.1.1 CONNECT goes out and CONNACK 20 02 00 00 comes back; over
WebSocket the CONNECT travels in one masked binary frame after an HTTP upgrade.
"""

from __future__ import annotations

import base64
import hashlib
import os
import socket
import ssl
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from tests.broker import Broker
from tests.pki import Pki, require

TIMEOUT = 5.0
# MQTT 3.1.1 CONNECT: empty client identifier, clean session, keep-alive 60 s.
CONNECT = bytes.fromhex("100c00044d5154540402003c0000")
ACCEPTED = bytes.fromhex("20020000")
# RFC 6455 §1.3: the server proves it read our key by hashing it with this GUID.
WEBSOCKET_GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"


def _read_exactly(sock: socket.socket, count: int) -> bytes:
    data = b""
    while len(data) < count:
        chunk = sock.recv(count - len(data))
        if not chunk:
            raise AssertionError(f"closed after {data.hex(' ')!r}, {count} bytes expected")
        data += chunk
    return data


def _connack(sock: socket.socket, connect: bytes = CONNECT) -> bytes:
    sock.sendall(connect)
    return _read_exactly(sock, 4)


def _connect_with_password(username: str, password: str) -> bytes:
    """A CONNECT like CONNECT, with a user name and password (MQTT 3.1.1 §3.1.3.4-5)."""

    def field(text: str) -> bytes:
        data = text.encode()
        return len(data).to_bytes(2, "big") + data

    # Flags 0xC2: user name, password, clean session.
    body = field("MQTT") + b"\x04\xc2\x00\x3c" + field("") + field(username) + field(password)
    assert len(body) < 128, "one byte of Remaining Length"
    return bytes([0x10, len(body)]) + body


def _context(
    cafile: Path,
    certfile: Path | None = None,
    keyfile: Path | None = None,
    password: str | None = None,
) -> ssl.SSLContext:
    context = ssl.create_default_context(cafile=cafile)
    # Python 3.13 verifies strictly by default; hold the PKI to that on every version.
    context.verify_flags |= ssl.VERIFY_X509_STRICT
    if certfile is not None:
        context.load_cert_chain(certfile, keyfile, password)
    return context


@contextmanager
def _tcp(port: int) -> Iterator[socket.socket]:
    with socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT) as sock:
        yield sock


@contextmanager
def _tls(
    port: int, context: ssl.SSLContext, server_hostname: str = "localhost"
) -> Iterator[ssl.SSLSocket]:
    """A TLS connection to 127.0.0.1, verifying the certificate for ``server_hostname``."""
    with _tcp(port) as raw, context.wrap_socket(raw, server_hostname=server_hostname) as tls:
        yield tls


def _handshake_error(
    port: int, context: ssl.SSLContext, server_hostname: str = "localhost"
) -> ssl.SSLError:
    """The error that ends the TLS handshake; AssertionError if it succeeds."""
    try:
        with _tls(port, context, server_hostname):
            pass
    except ssl.SSLError as error:
        return error
    raise AssertionError(f"the TLS handshake on port {port} succeeded")


def _websocket_upgrade(
    sock: socket.socket, port: int, subprotocol: str | None = "mqtt"
) -> dict[str, str] | None:
    """Ask to upgrade ``sock`` to a WebSocket (RFC 6455 §4.1); return the 101 response's
    headers (lowercase names) once its accept key is checked, None if the server closes.
    """
    key = base64.b64encode(os.urandom(16))
    request = (
        f"GET /mqtt HTTP/1.1\r\n"
        f"Host: localhost:{port}\r\n"
        "Upgrade: websocket\r\n"
        "Connection: Upgrade\r\n"
        f"Sec-WebSocket-Key: {key.decode()}\r\n"
        "Sec-WebSocket-Version: 13\r\n"
    )
    if subprotocol is not None:
        request += f"Sec-WebSocket-Protocol: {subprotocol}\r\n"
    sock.sendall(request.encode() + b"\r\n")
    response = b""
    while b"\r\n\r\n" not in response:
        chunk = sock.recv(4096)
        if not chunk:
            assert not response, f"closed in the middle of {response!r}"
            return None
        response += chunk
    head, _, rest = response.partition(b"\r\n\r\n")
    assert not rest, "the server spoke before our CONNECT"
    status, *lines = head.decode("latin-1").split("\r\n")
    assert status.startswith("HTTP/1.1 101 "), head
    headers = {
        name.strip().lower(): value.strip()
        for name, _, value in (line.partition(":") for line in lines)
    }
    accept = base64.b64encode(hashlib.sha1(key + WEBSOCKET_GUID).digest()).decode()
    assert headers.get("sec-websocket-accept") == accept, head
    return headers


def _send_binary_frame(sock: socket.socket, payload: bytes) -> None:
    # RFC 6455 §5.2: FIN and opcode 2 (binary); MASK and a 7-bit length; the masking
    # key; the masked payload. A client must mask every frame (§5.3).
    assert len(payload) < 126
    mask = os.urandom(4)
    masked = bytes(byte ^ mask[index % 4] for index, byte in enumerate(payload))
    sock.sendall(bytes([0x82, 0x80 | len(payload)]) + mask + masked)


def _receive_binary_frame(sock: socket.socket) -> bytes:
    # A server's frames are not masked: FIN + binary, a 7-bit length, the payload.
    header = _read_exactly(sock, 2)
    assert header[0] == 0x82 and header[1] < 126, header.hex(" ")
    return _read_exactly(sock, header[1])


def _websocket_connack(sock: socket.socket, port: int) -> bytes:
    """Upgrade ``sock`` with subprotocol "mqtt", exchange CONNECT/CONNACK in frames."""
    headers = _websocket_upgrade(sock, port)
    assert headers is not None, "closed instead of upgrading"
    # MQTT 3.1.1 §6.0: the server must choose the subprotocol "mqtt" we offered.
    assert headers.get("sec-websocket-protocol") == "mqtt", headers
    _send_binary_frame(sock, CONNECT)
    return _receive_binary_frame(sock)


def test_tcp_is_anonymous(broker: Broker) -> None:
    with _tcp(broker.ports.tcp) as sock:
        assert _connack(sock) == ACCEPTED, broker.log.read_text()


def test_password_listener_checks_the_password(broker: Broker) -> None:
    with _tcp(broker.ports.password) as sock:
        assert _connack(sock, _connect_with_password(broker.username, broker.password)) == (
            ACCEPTED
        )
    # Mosquitto 2.0 answers a wrong password in MQTT 3.1.1 with 5, not authorized.
    with _tcp(broker.ports.password) as sock:
        wrong = _connect_with_password(broker.username, "wrong")
        assert _connack(sock, wrong) == bytes.fromhex("20020005")
    with _tcp(broker.ports.password) as sock:
        assert _connack(sock) == bytes.fromhex("20020005")


def test_tls_verifies_with_the_ca(broker: Broker, pki: Pki) -> None:
    for host in ("localhost", "127.0.0.1"):
        with _tls(broker.ports.tls, _context(pki.ca_cert), host) as tls:
            assert _connack(tls) == ACCEPTED, broker.log.read_text()


def test_tls_fails_with_another_ca(broker: Broker, pki: Pki) -> None:
    failure = _handshake_error(broker.ports.tls, _context(pki.other_ca_cert))
    assert isinstance(failure, ssl.SSLCertVerificationError), failure
    # Not "unable to get local issuer certificate": Mosquitto sends the root after the
    # leaf (OpenSSL completes the server's chain from its cafile), and that root is
    # self-signed and not ours.
    assert failure.verify_message == "self-signed certificate in certificate chain"


def test_expired_certificate_fails(broker: Broker, pki: Pki) -> None:
    failure = _handshake_error(broker.ports.tls_expired, _context(pki.ca_cert))
    assert isinstance(failure, ssl.SSLCertVerificationError), failure
    assert failure.verify_message == "certificate has expired"


def test_wrong_name_fails_the_host_name_check_only(broker: Broker, pki: Pki) -> None:
    failure = _handshake_error(broker.ports.tls_wrong_name, _context(pki.ca_cert))
    assert isinstance(failure, ssl.SSLCertVerificationError), failure
    assert failure.verify_message == (
        "Hostname mismatch, certificate is not valid for 'localhost'."
    )
    # The chain itself is good: asked for the name it carries, it verifies.
    with _tls(broker.ports.tls_wrong_name, _context(pki.ca_cert), "wrong.example") as tls:
        assert _connack(tls) == ACCEPTED


def test_self_signed_fails_unless_pinned(broker: Broker, pki: Pki) -> None:
    failure = _handshake_error(broker.ports.tls_self_signed, _context(pki.ca_cert))
    assert isinstance(failure, ssl.SSLCertVerificationError), failure
    assert failure.verify_message == "self-signed certificate"
    with _tls(broker.ports.tls_self_signed, _context(pki.self_signed_cert)) as tls:
        assert _connack(tls) == ACCEPTED


def test_intermediate_chain_verifies_with_the_root_only(broker: Broker, pki: Pki) -> None:
    # The listener serves the bundle, so the client needs no intermediate of its own.
    with _tls(broker.ports.tls_intermediate, _context(pki.ca_cert)) as tls:
        assert _connack(tls) == ACCEPTED, broker.log.read_text()


@pytest.mark.parametrize("key_format", ["pkcs8", "pkcs8-encrypted", "pkcs1"])
def test_client_certificate_accepted(broker: Broker, pki: Pki, key_format: str) -> None:
    key, password = {
        "pkcs8": (pki.client_key, None),
        "pkcs8-encrypted": (pki.client_key_encrypted, pki.client_key_password),
        "pkcs1": (pki.client_key_traditional, None),
    }[key_format]
    context = _context(pki.ca_cert, pki.client_cert, key, password)
    with _tls(broker.ports.tls_client_cert, context) as tls:
        assert _connack(tls) == ACCEPTED, broker.log.read_text()


def test_encrypted_client_key_needs_its_password(pki: Pki) -> None:
    with pytest.raises(ssl.SSLError):
        _context(pki.ca_cert, pki.client_cert, pki.client_key_encrypted, "wrong")


def _client_context(pki: Pki, client: str) -> ssl.SSLContext:
    if client == "no certificate":
        return _context(pki.ca_cert)
    assert client == "other CA's certificate"
    return _context(pki.ca_cert, pki.other_client_cert, pki.other_client_key)


@pytest.mark.parametrize(
    ("client", "alert"),
    [
        ("no certificate", "TLSV13_ALERT_CERTIFICATE_REQUIRED"),
        ("other CA's certificate", "TLSV1_ALERT_UNKNOWN_CA"),
    ],
)
def test_client_certificate_refused(broker: Broker, pki: Pki, client: str, alert: str) -> None:
    # In TLS 1.3 the client's handshake is over before the server has looked at the
    # client's certificate: the refusal arrives as an alert at the first read.
    with _tls(broker.ports.tls_client_cert, _client_context(pki, client)) as tls:
        with pytest.raises(ssl.SSLError) as failure:
            tls.recv(1)
    assert failure.value.reason == alert, failure.value


@pytest.mark.parametrize(
    ("client", "alert"),
    [
        ("no certificate", "SSLV3_ALERT_HANDSHAKE_FAILURE"),
        ("other CA's certificate", "TLSV1_ALERT_UNKNOWN_CA"),
    ],
)
def test_client_certificate_refused_in_the_tls12_handshake(
    broker: Broker, pki: Pki, client: str, alert: str
) -> None:
    # Up to TLS 1.2 the server answers the client's certificate within the handshake.
    context = _client_context(pki, client)
    context.maximum_version = ssl.TLSVersion.TLSv1_2
    failure = _handshake_error(broker.ports.tls_client_cert, context)
    assert failure.reason == alert, failure


def test_websocket(broker: Broker) -> None:
    with _tcp(broker.ports.ws) as sock:
        assert _websocket_connack(sock, broker.ports.ws) == ACCEPTED, broker.log.read_text()


def test_secure_websocket(broker: Broker, pki: Pki) -> None:
    with _tls(broker.ports.wss, _context(pki.ca_cert)) as tls:
        assert _websocket_connack(tls, broker.ports.wss) == ACCEPTED, broker.log.read_text()


def test_websocket_needs_the_mqtt_subprotocol(broker: Broker) -> None:
    # Offered none, Mosquitto still upgrades, then never answers: a client that forgets
    # the header waits for its CONNACK until it times out.
    with _tcp(broker.ports.ws) as sock:
        headers = _websocket_upgrade(sock, broker.ports.ws, subprotocol=None)
        assert headers is not None and "sec-websocket-protocol" not in headers, headers
        _send_binary_frame(sock, CONNECT)
        # Mosquitto answers over websockets on a tick of about 100 ms: a CONNACK that
        # comes at all comes within 0.2 s here.
        sock.settimeout(0.5)
        with pytest.raises(TimeoutError):
            sock.recv(1)
    # Offered one it does not know, it closes without an HTTP response.
    with _tcp(broker.ports.ws) as sock:
        assert _websocket_upgrade(sock, broker.ports.ws, subprotocol="foo") is None


def test_every_listener_is_on_loopback_only(broker: Broker) -> None:
    # Linux lists listening sockets (state 0A) in /proc/net/tcp{,6} as hex address:port;
    # 0100007F:port is 127.0.0.1. Mosquitto ignores a websockets listener's address
    # unless it is IPv4 only (tests/broker.py), which this would catch.
    bound: dict[int, set[str]] = {}
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            _, local, _, state, *_ = line.split()
            address, hex_port = local.split(":")
            if state == "0A":
                bound.setdefault(int(hex_port, 16), set()).add(address)
    for name, port in broker.ports.by_name().items():
        assert bound.get(port) == {"0100007F"}, (name, port, bound.get(port))


def test_missing_program_is_a_failure_naming_setup() -> None:
    with pytest.raises(AssertionError, match=r"run \./setup\.sh"):
        require("pco-wire-no-such-program")
