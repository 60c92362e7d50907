"""Byte streams to the server: TCP, TLS, WebSocket and secure WebSocket. No MQTT here.

``open_stream`` runs the phases a URI needs (name resolution, TCP connect to each address
in turn, TLS handshake, WebSocket upgrade), each bounded by the same ``timeout`` on its
own, and records each one in ``phases``. The stream it returns is non-blocking:
``receive()`` gives bytes, ``None`` (nothing complete yet) or ``b""`` (closed), and a
driver waits on ``fileno()`` with ``select`` unless ``pending()``.

``ssl`` is imported only for mqtts/wss and ``websockets`` only for ws/wss.
"""

from __future__ import annotations

import errno
import select
import socket
import time

from . import _log
from ._record import Record
from ._text import printable
from .errors import (
    ConnectionClosed,
    Error,
    HandshakeError,
    InvalidSettings,
    ResponseTimeout,
    TLSError,
    TransportError,
    WebSocketError,
)
from .uri import ServerURI

TYPE_CHECKING = False
if TYPE_CHECKING:
    import ssl
    from typing import Any

    from .tls import HandshakeRecord

__all__ = ["DIAGNOSIS_TIMEOUT", "Phase", "Probe", "Stream", "open_stream", "probe_tls", "resolve"]


#: The most one read takes: the driver serves its timers between two reads.
_CHUNK = 16384
#: The most a close after DISCONNECT reads and drops while waiting for the server's
#: (loopback buffers hold several MiB of a flood).
_DRAIN_LIMIT = 64 << 20
_QUICKACK = getattr(socket, "TCP_QUICKACK", None)


class Phase(Record):
    """One step of a connection: its name, how long it took, whether it worked, and a
    detail (the address tried, the host name checked, the path asked for)."""

    __slots__ = ("name", "seconds", "ok", "detail")
    _fields = __slots__

    def __init__(self, name: str, seconds: float, ok: bool, detail: str = "") -> None:
        self.name = name
        self.seconds = seconds
        self.ok = ok
        self.detail = detail


class TLSInfo(Record):
    """What the TLS handshake agreed on, and the server certificate's summary."""

    __slots__ = ("version", "cipher", "alpn", "certificate")
    _fields = __slots__

    def __init__(
        self, version: str, cipher: str, alpn: str | None, certificate: dict[str, Any]
    ) -> None:
        self.version = version
        self.cipher = cipher
        self.alpn = alpn
        self.certificate = certificate


class _Timed:
    """Records a phase into ``phases`` when its block ends, failed if it raised."""

    def __init__(self, phases: list[Phase], name: str, detail: str = "") -> None:
        self.phases = phases
        self.phase = Phase(name, 0.0, False, detail)

    def __enter__(self) -> Phase:
        self.start = time.monotonic()
        self.phase.ok = True  # the block may set it false without raising
        return self.phase

    def __exit__(self, kind: object, value: object, tb: object) -> None:
        self.phase.seconds = time.monotonic() - self.start
        self.phase.ok = kind is None and self.phase.ok
        self.phases.append(self.phase)
        _log.debug(
            "phase %s %s in %.3f s %s",
            self.phase.name,
            "ok" if self.phase.ok else "failed",
            self.phase.seconds,
            self.phase.detail,
        )


# ---------------------------------------------------------------------------- streams


def _quick_ack(sock: socket.socket) -> None:
    """Acknowledge what arrives next at once (Linux; the kernel drops back to delayed
    acknowledgements by itself, so this is asked again after each send)."""
    if _QUICKACK is not None:
        try:
            sock.setsockopt(socket.IPPROTO_TCP, _QUICKACK, 1)
        except OSError:
            pass


class Stream:
    """A connected, non-blocking TCP or TLS socket."""

    def __init__(self, sock: socket.socket, address: str) -> None:
        sock.setblocking(False)
        self.sock = sock
        self.address = address
        self.tls: TLSInfo | None = None
        self.closed = False
        #: The phase errors are reported in; the driver moves it on ("CONNACK", "session").
        self.phase = "session"
        #: The limit of the last send, for its timeout message.
        self.send_timeout = 0.0

    def fileno(self) -> int:
        return self.sock.fileno()

    def pending(self) -> bool:
        """Whether bytes are buffered above the socket (decrypted TLS, WebSocket frames)."""
        return False

    def receive(self) -> bytes | None:
        """Bytes, None when nothing is complete yet, b"" when the peer closed.

        Raises ConnectionClosed for a reset, TLSError for a TLS alert, TransportError
        for any other socket failure.
        """
        try:
            return self.sock.recv(_CHUNK)
        except BlockingIOError:
            return None
        except OSError as exc:
            raise self._error(exc, "receive") from exc

    def send(self, data: bytes, deadline: float) -> None:
        """Write all of ``data`` by ``deadline`` (a ``time.monotonic()`` value).

        Raises ResponseTimeout when the peer does not take it in time, and the errors of
        ``receive`` for a failing stream.
        """
        view = memoryview(data)
        self.send_timeout = round(deadline - time.monotonic(), 3)
        while view:
            try:
                sent = self.sock.send(view)
            except OSError as exc:
                wants = self._wants(exc)
                if wants is None:
                    raise self._send_error(exc) from exc
                self._wait(deadline, write=wants == "write")
                continue
            view = view[sent:]
        # The answer (CONNACK, PINGRESP) is small and often follows other small segments
        # of the server's (TLS session tickets); a server with Nagle on, as Mosquitto's
        # default is, holds it until we acknowledge those, and Linux delays that
        # acknowledgement by 40 ms unless told otherwise, for each answer.
        _quick_ack(self.sock)

    def _send_error(self, exc: OSError) -> Error:
        return self._error(exc, "send")

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            try:
                self.sock.close()
            except OSError:
                pass

    def finish(self, deadline: float, wait: bool = True) -> bool | None:
        """Close after our last packet: end our side (FIN), read and drop what the server
        still sends until it closes too, or until ``deadline`` or ``_DRAIN_LIMIT`` bytes,
        then close. Closing with unread bytes in the receive buffer would make the
        kernel send a reset, and a server that sees a reset may drop the DISCONNECT
        before it (and publish the will). Returns whether the server closed in time;
        without ``wait``, None when nothing was left unread: then our close is a clean
        one already, and the server's is not waited for."""
        if self.closed:
            return False
        try:
            return self._drain(deadline, wait)
        finally:
            self.close()

    def _drain(self, deadline: float, wait: bool) -> bool | None:
        sock = self.sock
        try:
            # Under TLS this also ends the TLS layer: what follows is read as plain bytes,
            # the server's last records dropped without being decrypted.
            sock.shutdown(socket.SHUT_WR)
        except (ConnectionResetError, OSError) as exc:
            # ENOTCONN: the server's reset came first. It has closed; so are we.
            return isinstance(exc, ConnectionResetError) or exc.errno == errno.ENOTCONN
        drained = 0
        while drained <= _DRAIN_LIMIT:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return False
            try:
                data = sock.recv(_CHUNK)
            except BlockingIOError:
                if not wait and not drained:
                    return None
                select.select([sock], [], [], remaining)
                continue
            except ConnectionResetError:
                # Closed too: a server that closes with our last bytes unread (a TLS
                # close_notify, a WebSocket close frame) makes its kernel reset.
                return True
            except OSError:
                return False
            if not data:
                return True
            drained += len(data)
        return False

    def _wants(self, exc: OSError) -> str | None:
        """What a non-blocking send that raised ``exc`` waits for: "read", "write" or
        nothing (a real failure)."""
        return "write" if isinstance(exc, BlockingIOError) else None

    def _wait(self, deadline: float, write: bool) -> None:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise ResponseTimeout(
                self.phase, self.send_timeout, "the server does not read what we send"
            )
        if write:
            select.select([], [self.sock], [], remaining)
        else:
            select.select([self.sock], [], [], remaining)

    def _error(self, exc: OSError, what: str) -> Error:
        if isinstance(exc, (ConnectionResetError, BrokenPipeError)):
            return ConnectionClosed(self.phase, "the server reset the connection", reset=True)
        return TransportError(self.phase, f"{what} failed: {exc.strerror or exc}")


class TLSStream(Stream):
    sock: ssl.SSLSocket
    #: A failure met after bytes of the same read, raised by the next one.
    _deferred: Error | None = None

    def pending(self) -> bool:
        return self.sock.pending() > 0 or self._deferred is not None

    def receive(self) -> bytes | None:
        """As ``Stream.receive``, but up to a chunk from as many TLS records as have
        arrived: one read gives one record, and a server that writes each packet in a
        record of its own (as brokers do) would otherwise cost a turn of the driver's
        loop per packet."""
        import ssl

        if self._deferred is not None:
            error, self._deferred = self._deferred, None
            raise error
        parts: list[bytes] = []
        size = 0
        try:
            while size < _CHUNK:
                part = self.sock.recv(_CHUNK - size)
                if not part:
                    break
                parts.append(part)
                size += len(part)
        except (ssl.SSLWantReadError, ssl.SSLWantWriteError, BlockingIOError):
            if not parts:
                return None
        except (ssl.SSLZeroReturnError, ssl.SSLEOFError):
            pass  # closed: what came before is handed on, the end comes next time
        except OSError as exc:
            error = self._error(exc, "receive")
            error.__cause__ = exc
            if not parts:
                raise error from exc
            self._deferred = error  # after the bytes that came before it
        return b"".join(parts)

    def _wants(self, exc: OSError) -> str | None:
        import ssl

        if isinstance(exc, ssl.SSLWantReadError):
            return "read"  # a renegotiation or key update needs the peer's bytes first
        if isinstance(exc, (ssl.SSLWantWriteError, BlockingIOError)):
            return "write"
        return None

    def _send_error(self, exc: OSError) -> Error:
        import ssl

        if isinstance(exc, (ssl.SSLEOFError, ssl.SSLZeroReturnError, ConnectionResetError)):
            # The server closed first; its reason is often an alert waiting to be read
            # (with TLS 1.3, "certificate required" comes only after the handshake).
            try:
                self.sock.recv(_CHUNK)
            except ssl.SSLError as alert:
                if not isinstance(alert, (ssl.SSLEOFError, ssl.SSLWantReadError)):
                    return self._error(alert, "receive")
            except OSError:
                pass
        return self._error(exc, "send")

    def _error(self, exc: OSError, what: str) -> Error:
        import ssl

        from .tls import tls_error

        if isinstance(exc, ssl.SSLError):
            # A TLS alert after the handshake: with TLS 1.3 a server that rejects our
            # client certificate says so only here.
            return tls_error(exc, self.phase)
        return super()._error(exc, what)

    def close(self) -> None:
        if not self.closed:
            try:
                self.sock.settimeout(0.2)
                self.sock.unwrap()  # close_notify, bounded: best effort
            except (OSError, ValueError):
                pass
        super().close()

    def _drain(self, deadline: float, wait: bool) -> bool | None:
        import ssl

        # close_notify first (RFC 8446 §6.1), without waiting for the server's: on a
        # non-blocking socket, unwrap() sends ours and stops where it would wait.
        try:
            self.sock.unwrap()
        except (ssl.SSLError, OSError, ValueError):
            pass
        return super()._drain(deadline, wait)


class WebSocketStream:
    """MQTT bytes in binary WebSocket frames over a TCP or TLS stream.

    Packets split across frames and several packets in one frame both work: frames are
    only a container, the session's framer cuts packets. A text frame breaks the MQTT
    WebSocket binding (MQTT 3.1.1 §6) and is an error.
    """

    def __init__(self, inner: Stream, protocol: Any, early: list[Any], timeout: float) -> None:
        """``early``: frames that came in the same read as the 101 answer; ``timeout``:
        the response timeout, which bounds the answers (pongs) the protocol sends."""
        self.inner = inner
        self.protocol = protocol
        self.address = inner.address
        self.tls = inner.tls
        #: What the upgrade found worth saying (a subprotocol not selected).
        self.warnings: list[str] = []
        self._early = early
        self.timeout = timeout
        #: A close or text frame met after MQTT bytes of the same read, raised next time.
        self._deferred: Error | None = None

    def fileno(self) -> int:
        return self.inner.fileno()

    def pending(self) -> bool:
        return bool(self._early) or self._deferred is not None or self.inner.pending()

    def receive(self) -> bytes | None:
        if self._deferred is not None:
            error, self._deferred = self._deferred, None
            raise error
        if self._early:
            frames, self._early = self._early, []
            return self._payload(frames)
        raw = self.inner.receive()
        if raw is None:
            return None
        if raw:
            self.protocol.receive_data(raw)
        else:
            self.protocol.receive_eof()
        # A pong for each ping of the server's: the server must take it within the
        # response timeout, as it must take every packet of ours.
        self._flush(time.monotonic() + self.timeout)
        out = self._payload(self.protocol.events_received())
        if out:
            return out
        if not raw or self.protocol.handshake_exc is not None:
            return b""
        exc = getattr(self.protocol, "parser_exc", None)
        if exc is not None:
            raise WebSocketError(
                self.inner.phase, f"the WebSocket stream broke: {printable(str(exc))}"
            ) from exc
        return None

    def _payload(self, frames: list[Any]) -> bytes | None:
        """The MQTT bytes of binary frames. A text frame or a close frame raises, after
        the bytes before it are handed on (a refusal followed by a close keeps its
        reason)."""
        from websockets.frames import Opcode

        out = []
        for frame in frames:
            error: Error | None = None
            if frame.opcode in (Opcode.BINARY, Opcode.CONT):
                out.append(bytes(frame.data))
            elif frame.opcode is Opcode.TEXT:
                error = WebSocketError(
                    self.inner.phase, "expected binary WebSocket frames, got a text frame"
                )
            elif frame.opcode is Opcode.CLOSE:
                close = self.protocol.close_rcvd
                if close is not None:
                    reason = f" '{printable(close.reason)}'" if close.reason else ""
                    detail = f"code {close.code}{reason}"
                else:
                    detail = "no code"
                error = ConnectionClosed(
                    self.inner.phase, f"the server closed the WebSocket ({detail})", websocket=True
                )
            if error is not None:
                if not out:
                    raise error
                self._deferred = error
                break
        return b"".join(out) if out else None

    def send(self, data: bytes, deadline: float) -> None:
        self.protocol.send_binary(data)
        self._flush(deadline)

    def _flush(self, deadline: float) -> None:
        for chunk in self.protocol.data_to_send():
            if chunk:  # b"" asks for a half-close; the full close follows soon enough
                self.inner.send(chunk, deadline)

    def close(self) -> None:
        if not self.inner.closed:
            try:
                self.protocol.send_close(1000)
                self._flush(time.monotonic() + 0.2)
            except Exception:
                pass
        self.inner.close()

    def finish(self, deadline: float, wait: bool = True) -> bool | None:
        """As ``Stream.finish``, after our close frame (RFC 6455 §7.1.2: the server
        answers it and closes the TCP connection)."""
        if self.inner.closed:
            return False
        try:
            self.protocol.send_close(1000)
            self._flush(min(deadline, time.monotonic() + 0.2))
        except Exception:
            pass
        return self.inner.finish(deadline, wait)

    @property
    def closed(self) -> bool:
        return self.inner.closed


AnyStream = Stream | WebSocketStream


# ---------------------------------------------------------------------------- phases


def resolve(host: str, port: int, timeout: float) -> list[tuple[Any, ...]]:
    """``getaddrinfo`` for a TCP connection, abandoned at ``timeout``.

    A lookup cannot be cancelled; it runs in a daemon thread that ends by itself when the
    lookup returns, and we stop waiting for it at the deadline. IP literals need no lookup.
    Raises ResponseTimeout, or TransportError when the name does not resolve.
    """
    # An ASCII name as bytes skips the IDNA codec (a millisecond at start-up).
    name: str | bytes = host.encode() if host.isascii() else host
    try:
        return socket.getaddrinfo(name, port, type=socket.SOCK_STREAM, flags=socket.AI_NUMERICHOST)
    except (socket.gaierror, UnicodeError) as exc:
        if ":" in host:
            # An IPv6 literal this machine cannot use (a zone it has no interface for):
            # no name server could answer it, so none is asked.
            raise InvalidSettings(
                [
                    (
                        "server_uri",
                        f"expected an IPv6 address this machine can use, got {host!r}: is "
                        "the zone after '%' one of its interfaces, and the address link-local?",
                    )
                ]
            ) from exc
    import threading

    result: list[Any] = []

    def lookup() -> None:
        try:
            result.append(socket.getaddrinfo(name, port, type=socket.SOCK_STREAM))
        except (OSError, UnicodeError) as exc:
            result.append(exc)

    worker = threading.Thread(target=lookup, name="pco_wire-resolve", daemon=True)
    worker.start()
    worker.join(timeout)
    if not result:
        raise ResponseTimeout("name resolution", timeout, host)
    if isinstance(result[0], (OSError, UnicodeError)):
        failure = result[0]
        reason = getattr(failure, "strerror", None) or failure
        raise TransportError("name resolution", f"cannot resolve {host!r}: {reason}") from failure
    return list(result[0])


def _tcp_connect(info: tuple[Any, ...], timeout: float) -> socket.socket:
    family, kind, proto, _, sockaddr = info
    sock = socket.socket(family, kind, proto)
    try:
        sock.settimeout(timeout)
        sock.connect(sockaddr)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        _keepalive(sock)
        return sock
    except BaseException:
        sock.close()
        raise


def _keepalive(sock: socket.socket) -> None:
    # A frozen or vanished broker is noticed even with MQTT keep-alive 0: after 30 s of
    # silence the kernel probes every 10 s and gives up after 3 probes (about 60 s).
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
    for name, value in (("TCP_KEEPIDLE", 30), ("TCP_KEEPINTVL", 10), ("TCP_KEEPCNT", 3)):
        option = getattr(socket, name, None)
        if option is not None:
            try:
                sock.setsockopt(socket.IPPROTO_TCP, option, value)
            except OSError:
                pass


def _format(sockaddr: tuple[Any, ...]) -> str:
    host, port = sockaddr[0], sockaddr[1]
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def _connect_error(exc: OSError, address: str) -> TransportError:
    if isinstance(exc, ConnectionRefusedError):
        reason = f"connection refused by {address}: nothing listens on that port"
        return TransportError("TCP connect", reason, "refused")
    if exc.errno in (errno.EHOSTUNREACH, errno.ENETUNREACH):
        return TransportError(
            "TCP connect", f"no route to {address}: {exc.strerror}", "unreachable"
        )
    if isinstance(exc, ConnectionResetError):
        return ConnectionClosed("TCP connect", f"{address} reset the connection", reset=True)
    return TransportError("TCP connect", f"cannot connect to {address}: {exc.strerror or exc}")


def open_stream(
    uri: ServerURI,
    *,
    timeout: float,
    phases: list[Phase],
    tls_context: ssl.SSLContext | None = None,
    server_name: str | None = None,
    ws_headers: tuple[tuple[str, str], ...] = (),
    ws_subprotocol: str = "mqtt",
    max_frame_size: int = 1 << 20,
) -> AnyStream:
    """Connect to ``uri``: every phase it needs, each within ``timeout`` seconds.

    Raises ResponseTimeout naming the phase, TransportError (name, refused, unreachable),
    TLSError or WebSocketError. Each TCP attempt is a phase of its own.
    """
    with _Timed(phases, "name resolution", uri.host):
        infos = resolve(uri.host, uri.port, timeout)
    error: Error | None = None
    for info in infos:
        address = _format(info[4])
        try:
            with _Timed(phases, "TCP connect", address):
                try:
                    sock = _tcp_connect(info, timeout)
                except TimeoutError:
                    raise ResponseTimeout("TCP connect", timeout, address) from None
                except OSError as exc:
                    raise _connect_error(exc, address) from exc
        except Error as exc:
            error = exc
            continue
        break
    else:
        assert error is not None
        raise error
    base = Stream(sock, address)
    try:
        if uri.tls:
            assert tls_context is not None
            # wrap_socket() takes the descriptor over: from here on, close the TLS stream.
            base = _tls_handshake(
                sock, uri, info, address, tls_context, server_name, timeout, phases
            )
        if not uri.websocket:
            return base
        return _ws_upgrade(base, uri, timeout, phases, ws_headers, ws_subprotocol, max_frame_size)
    except BaseException:
        base.close()
        sock.close()
        raise


#: The longest a diagnosis may add (a TLS probe, a second handshake for the certificate),
#: within the response timeout: min(DIAGNOSIS_TIMEOUT, response_timeout).
DIAGNOSIS_TIMEOUT = 2.0


class Probe(Record):
    """What one TLS hello sent for a diagnosis came to: ``outcome`` is "tls" (a TLS
    answer: a handshake or an alert), "not-tls" (bytes that are not TLS), "closed",
    "reset", "timeout" (no answer within ``timeout`` seconds) or "failed" (no connection);
    ``certificate`` the server certificate (DER) when the handshake completed."""

    __slots__ = ("outcome", "timeout", "certificate")
    _fields = __slots__

    def __init__(self, outcome: str, timeout: float, certificate: bytes | None = None) -> None:
        self.outcome = outcome
        self.timeout = timeout
        self.certificate = certificate

    @property
    def answered(self) -> bool:
        return self.outcome == "tls"

    def describe(self) -> str:
        """The phase detail: what the hello got."""
        return {
            "tls": "TLS answered",
            "not-tls": "no TLS answer (not TLS)",
            "closed": "no TLS answer (closed)",
            "reset": "no TLS answer (reset)",
            "timeout": f"no answer within {self.timeout:g} s",
        }.get(self.outcome, "no connection")


def _diagnosis_timeout(timeout: float) -> float:
    return min(DIAGNOSIS_TIMEOUT, timeout)


def _tls_hello(
    info: tuple[Any, ...] | None, uri: ServerURI, hostname: str, timeout: float
) -> Probe:
    """An unverified TLS handshake within ``timeout`` seconds in all, sending nothing
    but the TLS hello (and no client certificate); ``info`` is the address to use (None:
    resolve ``uri``'s host within the same time)."""
    import ssl

    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    deadline = time.monotonic() + timeout
    try:
        if info is None:
            info = resolve(uri.host, uri.port, timeout)[0]
        remaining = max(0.01, deadline - time.monotonic())
        with _tcp_connect(info, remaining) as sock:
            sock.settimeout(max(0.01, deadline - time.monotonic()))
            with context.wrap_socket(sock, server_hostname=hostname) as tls_sock:
                return Probe("tls", timeout, tls_sock.getpeercert(binary_form=True))
    except TimeoutError:
        return Probe("timeout", timeout)
    except ResponseTimeout:
        return Probe("timeout", timeout)
    except (ssl.SSLEOFError, ssl.SSLZeroReturnError):
        return Probe("closed", timeout)
    except ssl.SSLError as exc:
        # A TLS alert is an answer in TLS too; a wrong version number is not.
        return Probe("tls" if "ALERT" in (exc.reason or "") else "not-tls", timeout)
    except ConnectionResetError:
        return Probe("reset", timeout)
    except (OSError, Error, ValueError):
        return Probe("failed", timeout)


def _tls_handshake(
    sock: socket.socket,
    uri: ServerURI,
    info: tuple[Any, ...],
    address: str,
    context: ssl.SSLContext,
    server_name: str | None,
    timeout: float,
    phases: list[Phase],
) -> TLSStream:
    from .tls import HandshakeRecord, certificate_summary, decode_certificate

    hostname = server_name or uri.host.partition("%")[0]
    record = HandshakeRecord(context)
    try:
        with _Timed(phases, "TLS handshake", hostname):
            tls_sock = context.wrap_socket(
                sock, server_hostname=hostname, do_handshake_on_connect=False
            )
            try:
                tls_sock.settimeout(timeout)
                _quick_ack(tls_sock)  # the handshake is a ping-pong of small segments too
                tls_sock.do_handshake()
            except Exception as exc:
                tls_sock.close()
                raise _handshake_error(exc, timeout, address, record) from exc
            finally:
                record.stop()
    except TLSError as error:
        error.checked_name = hostname  # the name the certificate was held against
        if error.ssl_reason == "CERTIFICATE_VERIFY_FAILED":
            # Its own phase, after the handshake's: the handshake failed when it failed.
            _fetch_certificate(error, info, uri, hostname, timeout, phases)
        raise
    stream = TLSStream(tls_sock, address)
    version = tls_sock.version() or ""
    cipher = tls_sock.cipher()
    stream.tls = TLSInfo(
        version,
        cipher[0] if cipher else "",
        tls_sock.selected_alpn_protocol(),
        # Unverified (--insecure), getpeercert() gives nothing but the DER form.
        certificate_summary(
            tls_sock.getpeercert() or decode_certificate(tls_sock.getpeercert(True) or b"")
        ),
    )
    return stream


def _handshake_error(
    exc: Exception, timeout: float, address: str, record: HandshakeRecord | None = None
) -> Exception:
    import ssl

    from .tls import tls_error

    if isinstance(exc, TimeoutError):
        return ResponseTimeout("TLS handshake", timeout, address)
    if isinstance(exc, (ssl.SSLError, ConnectionResetError)):
        error = tls_error(exc, "TLS handshake")
        if record is not None:
            error.server_hello = record.server_hello
            error.certificate_requested = record.certificate_requested
        return error
    if isinstance(exc, OSError):
        return _connect_error(exc, address)
    return exc


def _fetch_certificate(
    error: TLSError,
    info: tuple[Any, ...],
    uri: ServerURI,
    hostname: str,
    timeout: float,
    phases: list[Phase],
) -> None:
    """After a failed certificate check, getpeercert() says nothing; the diagnosis needs
    the names and dates: take the certificate on a second, unverified handshake that sends
    nothing but the TLS hello, within the short time of a diagnosis, as a phase of its
    own. Fills ``error.certificate`` and ``error.certificate_fetch`` (the Probe)."""
    from .tls import certificate_summary, decode_certificate

    limit = _diagnosis_timeout(timeout)
    with _Timed(phases, "certificate fetch", hostname) as phase:
        probe = _tls_hello(info, uri, hostname, limit)
        der = probe.certificate
        error.certificate = certificate_summary(decode_certificate(der) if der else None)
        if probe.answered and not error.certificate:
            probe = Probe("not-tls", limit)  # a handshake without a readable certificate
        error.certificate_fetch = probe
        phase.ok = bool(error.certificate)
        phase.detail += f": {'certificate read' if phase.ok else probe.describe()}"


def probe_tls(uri: ServerURI, timeout: float, phases: list[Phase]) -> Probe:
    """What a TLS hello on ``uri``'s port gets, within min(DIAGNOSIS_TIMEOUT, ``timeout``)
    seconds, recorded as the phase "TLS probe".

    Asked only after a plain connection was closed without an answer, to tell a TLS port
    from a broker that refused us silently. It sends a TLS ClientHello and nothing else.
    """
    limit = _diagnosis_timeout(timeout)
    with _Timed(phases, "TLS probe", uri.netloc) as phase:
        probe = _tls_hello(None, uri, uri.host.partition("%")[0], limit)
        phase.ok = probe.outcome not in ("timeout", "failed")  # some answer, TLS or not
        phase.detail += f": {probe.describe()}"
    return probe


def _ws_upgrade(
    inner: Stream,
    uri: ServerURI,
    timeout: float,
    phases: list[Phase],
    headers: tuple[tuple[str, str], ...],
    subprotocol: str,
    max_frame_size: int,
) -> WebSocketStream:
    try:
        from websockets.client import ClientProtocol
        from websockets.typing import Subprotocol
        from websockets.uri import WebSocketURI
    except ImportError:
        raise HandshakeError(
            "WebSocket upgrade",
            "ws:// and wss:// need the websockets package: pip install 'pco_wire[ws]'",
        ) from None
    inner.phase = "WebSocket upgrade"
    with _Timed(phases, "WebSocket upgrade", uri.shown_resource):
        host = uri.host.partition("%")[0]
        protocol = ClientProtocol(
            WebSocketURI(uri.tls, host, uri.port, uri.path, uri.query),
            subprotocols=[Subprotocol(subprotocol)],
            max_size=max_frame_size,
        )
        # The websockets logger shows frames in part at DEBUG level: the end of a CONNECT,
        # where the password is, and the upgrade headers. Our own debug log hides them.
        protocol.debug = False
        request = protocol.connect()
        for name, value in headers:
            request.headers[name] = value
        protocol.send_request(request)
        deadline = time.monotonic() + timeout
        for chunk in protocol.data_to_send():
            inner.send(chunk, deadline)
        events: list[Any] = []
        answered = False  # any byte of an HTTP answer
        while not events and protocol.handshake_exc is None:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise ResponseTimeout("WebSocket upgrade", timeout, "no HTTP answer")
            if not inner.pending():
                select.select([inner], [], [], remaining)
            raw = inner.receive()
            if raw is None:
                continue
            if not raw and not answered:
                # A clean close on the request, as a plain MQTT port does: not a broken
                # HTTP answer but none at all (a reset raised ConnectionClosed already).
                raise ConnectionClosed(
                    "WebSocket upgrade", "the server closed the connection without an HTTP answer"
                )
            answered = True
            if raw:
                protocol.receive_data(raw)
            else:
                protocol.receive_eof()
            events = protocol.events_received()
            if not raw and not events and protocol.handshake_exc is None:
                raise ConnectionClosed(
                    "WebSocket upgrade", "the server closed the connection during its HTTP answer"
                )
        exc = protocol.handshake_exc
        if exc is not None:
            raise _upgrade_error(exc, events, subprotocol) from exc
    inner.phase = "session"
    # Frames that came with the 101 answer are read like any later ones.
    stream = WebSocketStream(inner, protocol, events[1:], timeout)
    if protocol.subprotocol is None:
        # MQTT 3.1.1 §6: the server must select the subprotocol. Lenient servers and
        # proxies that drop the header still carry MQTT, so this is said, not refused.
        stream.warnings.append(
            f"the server did not select the WebSocket subprotocol {subprotocol!r} "
            "(MQTT 3.1.1 §6 says it must); a proxy may have dropped the header"
        )
    return stream


def _upgrade_error(exc: Exception, events: list[Any], subprotocol: str) -> WebSocketError:
    """Our error for a failed upgrade: the status line and the start of the body (one
    printable line), and the subprotocol the server chose when it was not ours."""
    from websockets.exceptions import InvalidStatus

    if isinstance(exc, InvalidStatus):
        response = exc.response
        body = printable(response.body[:400], 200) if response.body else ""
        status = printable(f"HTTP {response.status_code} {response.reason_phrase}".rstrip())
        detail = f"{status}: {body}" if body else status
        error = WebSocketError(
            "WebSocket upgrade", f"the server answered {detail}", response.status_code
        )
    else:
        error = WebSocketError("WebSocket upgrade", f"the upgrade failed: {printable(str(exc))}")
        answer = events[0] if events else None
        chosen = answer.headers.get("Sec-WebSocket-Protocol", "") if answer is not None else ""
        if chosen and chosen.strip() != subprotocol:
            error.selected_subprotocol = printable(chosen.strip(), 60)
    error.offered_subprotocol = subprotocol
    return error
