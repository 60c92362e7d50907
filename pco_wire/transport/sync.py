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

from ..errors import Error, ResponseTimeout
from ..phases import Phase, PhaseName
from ..uri import ServerURI
from .common import (
    CHUNK,
    DIAGNOSIS_TIMEOUT,
    Probe,
    Timed,
    TLSInfo,
    Upgrade,
    WebSocketLayer,
    configure,
    connect_error,
    diagnosis_timeout,
    fetched,
    format_address,
    handshake_error,
    needs_resolution,
    numeric_address,
    probed,
    quick_ack,
    resolution_error,
    stream_error,
    tls_hostname,
    tunnel_detail,
    tunnel_for,
    unverified_context,
)

TYPE_CHECKING = False
if TYPE_CHECKING:
    import ssl
    from typing import Any

    from ..proxy import Route

__all__ = [
    "DIAGNOSIS_TIMEOUT",
    "AnyStream",
    "Phase",
    "Probe",
    "Stream",
    "TLSInfo",
    "open_stream",
    "probe_tls",
    "resolve",
]


#: The most a close after DISCONNECT reads and drops while waiting for the server's
#: (loopback buffers hold several MiB of a flood).
_DRAIN_LIMIT = 64 << 20


# ---------------------------------------------------------------------------- streams


def wait_ready(objects: list[Any], timeout: float | None, *, write: bool = False) -> list[Any]:
    """The ``objects`` (sockets, streams: anything with ``fileno()``) readable (or
    writable) within ``timeout`` seconds (None: no limit). ``poll``, not ``select``:
    a gateway program may hold more than 1,024 descriptors, and ``select`` takes none
    above that."""
    if not hasattr(select, "poll"):  # Windows
        lists: tuple[list[Any], list[Any]] = ([], objects) if write else (objects, [])
        ready = select.select(*lists, [], timeout)
        return ready[1] if write else ready[0]
    poller = select.poll()
    flags = select.POLLOUT if write else select.POLLIN | select.POLLPRI
    by_fd: dict[int, Any] = {}
    for obj in objects:
        fd = obj.fileno()
        by_fd[fd] = obj
        poller.register(fd, flags)
    events = poller.poll(None if timeout is None else max(0, int(timeout * 1000 + 0.999)))
    return [by_fd[fd] for fd, _ in events if fd in by_fd]


class Stream:
    """A connected, non-blocking TCP or TLS socket."""

    def __init__(self, sock: socket.socket, address: str) -> None:
        sock.setblocking(False)
        self.sock = sock
        self.address = address
        self.tls: TLSInfo | None = None
        self.closed = False
        #: The phase errors are reported in; the driver moves it on ("CONNACK", "session").
        self.phase: str = PhaseName.SESSION
        #: The limit of a send, for its timeout message: the response timeout, set by
        #: ``open_stream`` (as the asyncio driver's Wire has it). Not the time left when a
        #: send began: a busy machine made that 1.999 of a 2 s limit.
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
            return self.sock.recv(CHUNK)
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
        # A stream not made by open_stream says the time that was left.
        limit = self.send_timeout or round(deadline - time.monotonic(), 3)
        while view:
            try:
                sent = self.sock.send(view)
            except OSError as exc:
                wants = self._wants(exc)
                if wants is None:
                    raise self._send_error(exc) from exc
                self._wait(deadline, limit, write=wants == "write")
                continue
            view = view[sent:]
        quick_ack(self.sock)  # the answer must not wait for our delayed acknowledgement

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
                data = sock.recv(CHUNK)
            except BlockingIOError:
                if not wait and not drained:
                    return None
                wait_ready([sock], remaining)
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

    def _wait(self, deadline: float, limit: float, write: bool) -> None:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise ResponseTimeout(self.phase, limit, "the server does not read what we send")
        wait_ready([self.sock], remaining, write=write)

    def _error(self, exc: OSError, what: str) -> Error:
        return stream_error(exc, self.phase, what)


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
            while size < CHUNK:
                part = self.sock.recv(CHUNK - size)
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
                self.sock.recv(CHUNK)
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
    """MQTT bytes in binary WebSocket frames over a TCP or TLS stream: the shared
    ``WebSocketLayer``, waited on here."""

    def __init__(self, inner: Stream, layer: WebSocketLayer, timeout: float) -> None:
        """``timeout``: the response timeout, which bounds the answers (pongs) the
        protocol sends."""
        self.inner = inner
        self.layer = layer
        self.address = inner.address
        self.tls = inner.tls
        self.warnings = layer.warnings
        self.timeout = timeout

    @property
    def phase(self) -> str:
        return self.inner.phase

    @phase.setter
    def phase(self, phase: str) -> None:
        self.inner.phase = self.layer.phase = phase

    def fileno(self) -> int:
        return self.inner.fileno()

    def pending(self) -> bool:
        return self.layer.pending() or self.inner.pending()

    def receive(self) -> bytes | None:
        raw = None if self.layer.pending() else self.inner.receive()
        out = self.layer.receive(raw)
        # A pong for each ping of the server's: the server must take it within the
        # response timeout, as it must take every packet of ours.
        self._flush(time.monotonic() + self.timeout)
        return out

    def send(self, data: bytes, deadline: float) -> None:
        self.layer.send(data)
        self._flush(deadline)

    def _flush(self, deadline: float) -> None:
        for chunk in self.layer.data_to_send():
            self.inner.send(chunk, deadline)

    def close(self) -> None:
        if not self.inner.closed:
            try:
                self.layer.close()
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
            self.layer.close()
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
    infos = numeric_address(host, port)
    if infos is not None:
        return infos
    import threading

    name: str | bytes = host.encode() if host.isascii() else host
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
        raise ResponseTimeout(PhaseName.NAME_RESOLUTION, timeout, host)
    if isinstance(result[0], (OSError, UnicodeError)):
        raise resolution_error(host, result[0]) from result[0]
    return list(result[0])


def _tcp_connect(info: tuple[Any, ...], timeout: float) -> socket.socket:
    family, kind, proto, _, sockaddr = info
    sock = socket.socket(family, kind, proto)
    try:
        sock.settimeout(timeout)
        sock.connect(sockaddr)
        configure(sock)
        return sock
    except BaseException:
        sock.close()
        raise


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
    proxy: Route | None = None,
) -> AnyStream:
    """Connect to ``uri``: every phase it needs, each within ``timeout`` seconds.

    Through ``proxy`` when given: TCP to the proxy ("proxy connect") and its handshake
    ("proxy tunnel"), then TLS and the WebSocket upgrade through the tunnel, to the broker.

    Raises ResponseTimeout naming the phase, TransportError (name, refused, unreachable),
    ProxyError, TLSError or WebSocketError. Each TCP attempt is a phase of its own.
    """
    sock, info, address = _open_tcp(uri, proxy, timeout, phases)
    base = Stream(sock, address)
    try:
        if uri.tls:
            assert tls_context is not None
            # wrap_socket() takes the descriptor over: from here on, close the TLS stream.
            base = _tls_handshake(
                sock, uri, info, address, tls_context, server_name, timeout, phases, proxy
            )
        base.send_timeout = timeout
        if not uri.websocket:
            return base
        return _ws_upgrade(base, uri, timeout, phases, ws_headers, ws_subprotocol, max_frame_size)
    except BaseException:
        base.close()
        sock.close()
        raise


def _connect_any(
    infos: list[tuple[Any, ...]], timeout: float, phases: list[Phase], phase: str
) -> tuple[socket.socket, tuple[Any, ...], str]:
    """TCP to each address in turn until one answers, each a phase of its own."""
    error: Error | None = None
    for info in infos:
        address = format_address(info[4])
        try:
            with Timed(phases, phase, address):
                try:
                    return _tcp_connect(info, timeout), info, address
                except TimeoutError:
                    raise ResponseTimeout(phase, timeout, address) from None
                except OSError as exc:
                    raise connect_error(exc, address, phase) from exc
        except Error as exc:
            error = exc
    assert error is not None
    raise error


def _open_tcp(
    uri: ServerURI, proxy: Route | None, timeout: float, phases: list[Phase]
) -> tuple[socket.socket, tuple[Any, ...] | None, str]:
    """A TCP connection that carries the broker's bytes: to the broker, or a tunnel
    through ``proxy``; the address it went to (None through a proxy) and its text."""
    if proxy is None:
        with Timed(phases, PhaseName.NAME_RESOLUTION, uri.host):
            infos = resolve(uri.host, uri.port, timeout)
        return _connect_any(infos, timeout, phases, PhaseName.TCP_CONNECT)
    url = proxy.url
    with Timed(phases, PhaseName.NAME_RESOLUTION, url.host):
        infos = resolve(url.host, url.port, timeout)
    sock, _, address = _connect_any(infos, timeout, phases, PhaseName.PROXY_CONNECT)
    try:
        broker = None
        if needs_resolution(proxy, uri):
            with Timed(phases, PhaseName.NAME_RESOLUTION, uri.host):
                broker = resolve(uri.host, uri.port, timeout)
        handshake = tunnel_for(proxy, uri, broker)
        with Timed(phases, PhaseName.PROXY_TUNNEL, tunnel_detail(proxy, handshake)):
            deadline = time.monotonic() + timeout
            done = False
            while not done:
                out = handshake.data_to_send()
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise ResponseTimeout(PhaseName.PROXY_TUNNEL, timeout, f"{address}, no answer")
                sock.settimeout(remaining)
                try:
                    if out:
                        sock.sendall(out)
                    # At most a chunk: an answer header is bounded by the handshake.
                    data = sock.recv(CHUNK)
                except TimeoutError:
                    raise ResponseTimeout(
                        PhaseName.PROXY_TUNNEL, timeout, f"{address}, no answer"
                    ) from None
                except OSError as exc:
                    raise handshake.broken(exc) from exc
                done = handshake.receive(data)
    except BaseException:
        sock.close()
        raise
    return sock, None, f"via proxy {address}"


def _tls_hello(
    info: tuple[Any, ...] | None,
    uri: ServerURI,
    hostname: str,
    timeout: float,
    proxy: Route | None = None,
) -> Probe:
    """An unverified TLS handshake within ``timeout`` seconds in all, sending nothing
    but the TLS hello (and no client certificate); ``info`` is the address to use (None:
    resolve ``uri``'s host within the same time), through ``proxy`` when given."""
    context = unverified_context()
    deadline = time.monotonic() + timeout
    try:
        if proxy is not None:
            opened = _open_tcp(uri, proxy, timeout, [])[0]
        else:
            if info is None:
                info = resolve(uri.host, uri.port, timeout)[0]
            opened = _tcp_connect(info, max(0.01, deadline - time.monotonic()))
        with opened as sock:
            sock.settimeout(max(0.01, deadline - time.monotonic()))
            with context.wrap_socket(sock, server_hostname=hostname) as tls_sock:
                return Probe("tls", timeout, tls_sock.getpeercert(binary_form=True))
    except Exception as exc:
        return Probe.failure(exc, timeout)


def _tls_handshake(
    sock: socket.socket,
    uri: ServerURI,
    info: tuple[Any, ...] | None,
    address: str,
    context: ssl.SSLContext,
    server_name: str | None,
    timeout: float,
    phases: list[Phase],
    proxy: Route | None = None,
) -> TLSStream:
    from ..errors import TLSError
    from .tls import HandshakeRecord

    hostname = tls_hostname(uri, server_name)
    record = HandshakeRecord(context)
    try:
        with Timed(phases, PhaseName.TLS_HANDSHAKE, hostname):
            try:
                tls_sock = context.wrap_socket(
                    sock, server_hostname=hostname, do_handshake_on_connect=False
                )
            except BaseException:
                record.stop()
                raise
            record.watch(tls_sock)
            try:
                tls_sock.settimeout(timeout)
                quick_ack(tls_sock)  # the handshake is a ping-pong of small segments too
                tls_sock.do_handshake()
            except Exception as exc:
                tls_sock.close()
                raise handshake_error(exc, timeout, address, record) from exc
            finally:
                record.stop()
    except TLSError as error:
        error.checked_name = hostname  # the name the certificate was held against
        if error.ssl_reason == "CERTIFICATE_VERIFY_FAILED":
            # Its own phase, after the handshake's: the handshake failed when it failed.
            limit = diagnosis_timeout(timeout)
            with Timed(phases, PhaseName.CERTIFICATE_FETCH, hostname) as phase:
                fetched(error, _tls_hello(info, uri, hostname, limit, proxy), limit, phase)
        raise
    stream = TLSStream(tls_sock, address)
    stream.tls = TLSInfo.of(tls_sock)
    return stream


def probe_tls(
    uri: ServerURI, timeout: float, phases: list[Phase], proxy: Route | None = None
) -> Probe:
    """What a TLS hello on ``uri``'s port gets, within min(DIAGNOSIS_TIMEOUT, ``timeout``)
    seconds, recorded as the phase "TLS probe".

    Asked only after a plain connection was closed without an answer, to tell a TLS port
    from a broker that refused us silently. It sends a TLS ClientHello and nothing else.
    """
    limit = diagnosis_timeout(timeout)
    with Timed(phases, PhaseName.TLS_PROBE, uri.netloc) as phase:
        probe = _tls_hello(None, uri, uri.host.partition("%")[0], limit, proxy)
        probed(probe, phase)
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
    inner.phase = PhaseName.WEBSOCKET_UPGRADE
    with Timed(phases, PhaseName.WEBSOCKET_UPGRADE, uri.shown_resource):
        upgrade = Upgrade(uri, headers, subprotocol, max_frame_size)
        deadline = time.monotonic() + timeout
        for chunk in upgrade.data_to_send():
            inner.send(chunk, deadline)
        done = False
        while not done:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise ResponseTimeout(PhaseName.WEBSOCKET_UPGRADE, timeout, "no HTTP answer")
            if not inner.pending():
                wait_ready([inner], remaining)
            raw = inner.receive()
            if raw is not None:
                done = upgrade.receive(raw)
    inner.phase = PhaseName.SESSION
    return WebSocketStream(inner, upgrade.layer(timeout), timeout)
