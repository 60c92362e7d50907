"""What the blocking and the asyncio transports share: everything that is not waiting.

Phase records, the classification of socket and TLS failures, what a TLS handshake
tells, the TLS probe's outcomes, and the WebSocket layer (the upgrade and the frames,
over the sans-IO protocol of ``websockets``). The two transports differ only in how they
wait for bytes.
"""

from __future__ import annotations

import _socket
import errno
import socket
import time

from .. import _log
from .._record import Record
from .._text import printable
from ..errors import (
    ConnectionClosed,
    Error,
    HandshakeError,
    InvalidSettings,
    ResponseTimeout,
    TLSError,
    TransportError,
    WebSocketError,
)
from ..phases import Phase, PhaseName
from ..uri import ServerURI

TYPE_CHECKING = False
if TYPE_CHECKING:
    import ssl
    from typing import Any

    from ..proxy import Route, Tunnel
    from .tls import HandshakeRecord

__all__ = [
    "DIAGNOSIS_TIMEOUT",
    "Probe",
    "TLSInfo",
    "TLSSessions",
    "Timed",
    "Upgrade",
    "WebSocketLayer",
    "connect_error",
    "numeric_address",
]

#: The most one read takes: the driver serves its timers between two reads.
CHUNK = 16384
#: The longest a diagnosis may add (a TLS probe, a second handshake for the certificate),
#: within the response timeout: min(DIAGNOSIS_TIMEOUT, response_timeout).
DIAGNOSIS_TIMEOUT = 2.0


def diagnosis_timeout(timeout: float) -> float:
    return min(DIAGNOSIS_TIMEOUT, timeout)


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

    @classmethod
    def of(cls, conn: ssl.SSLSocket | ssl.SSLObject) -> TLSInfo:
        """What the finished handshake of ``conn`` agreed on."""
        from .tls import certificate_summary, decode_certificate

        cipher = conn.cipher()
        return cls(
            conn.version() or "",
            cipher[0] if cipher else "",
            conn.selected_alpn_protocol(),
            # Unverified (--insecure), getpeercert() gives nothing but the DER form.
            certificate_summary(
                conn.getpeercert() or decode_certificate(conn.getpeercert(True) or b"")
            ),
        )


class Timed:
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


# ---------------------------------------------------------------------------- TCP


def numeric_address(host: str, port: int) -> list[tuple[Any, ...]] | None:
    """The addresses of an IP literal, which need no lookup; None for a name.

    Raises InvalidSettings for an IPv6 literal this machine cannot use (a zone it has no
    interface for): no name server could answer it, so none is asked.
    """
    if _plain_ip(host):
        # The C function, not socket's wrapper: a numeric lookup never waits, and under
        # gevent (pco_wire.locust) the wrapper is gevent's, which hands each lookup to a
        # thread of its pool and back: milliseconds of "name resolution" under load.
        infos = _socket.getaddrinfo(host, port, 0, socket.SOCK_STREAM, 0, socket.AI_NUMERICHOST)
        # As socket.getaddrinfo gives them: the family and the kind as their enums.
        return [
            (socket.AddressFamily(family), socket.SocketKind(kind), proto, canonical, address)
            for family, kind, proto, canonical, address in infos
        ]
    # An ASCII name as bytes skips the IDNA codec (a millisecond at start-up).
    name: str | bytes = host.encode() if host.isascii() else host
    try:
        return socket.getaddrinfo(name, port, type=socket.SOCK_STREAM, flags=socket.AI_NUMERICHOST)
    except (socket.gaierror, UnicodeError) as exc:
        if ":" in host:
            raise InvalidSettings(
                [
                    (
                        "server_uri",
                        f"expected an IPv6 address this machine can use, got {host!r}: is "
                        "the zone after '%' one of its interfaces, and the address link-local?",
                    )
                ]
            ) from exc
    return None


def _plain_ip(host: str) -> bool:
    """Whether ``host`` is an IPv4 or IPv6 address in its usual form (no zone)."""
    for family in (socket.AF_INET, socket.AF_INET6):
        try:
            socket.inet_pton(family, host)
        except (OSError, ValueError):
            continue
        return True
    return False


def resolution_error(host: str, failure: BaseException) -> TransportError:
    reason = getattr(failure, "strerror", None) or failure
    return TransportError(PhaseName.NAME_RESOLUTION, f"cannot resolve {host!r}: {reason}")


_QUICKACK = getattr(socket, "TCP_QUICKACK", None)


def quick_ack(sock: socket.socket) -> None:
    """Acknowledge what arrives next at once (Linux; the kernel drops back to delayed
    acknowledgements by itself, so both drivers ask again after each send). The answer
    we wait for (CONNACK, PINGRESP) is small and often follows other small segments of
    the server's (TLS session tickets): a server with Nagle on, as Mosquitto's default
    is, holds it until we acknowledge those, 40 ms later unless told otherwise."""
    if _QUICKACK is not None:
        try:
            sock.setsockopt(socket.IPPROTO_TCP, _QUICKACK, 1)
        except OSError:
            pass


def configure(sock: socket.socket) -> None:
    """Options of every connection: no Nagle delay for our small packets, and TCP
    keep-alive, so that a frozen or vanished broker is noticed even with MQTT keep-alive
    0: after 30 s of silence the kernel probes every 10 s and gives up after 3 probes."""
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
    for name, value in (("TCP_KEEPIDLE", 30), ("TCP_KEEPINTVL", 10), ("TCP_KEEPCNT", 3)):
        option = getattr(socket, name, None)
        if option is not None:
            try:
                sock.setsockopt(socket.IPPROTO_TCP, option, value)
            except OSError:
                pass


def format_address(sockaddr: tuple[Any, ...]) -> str:
    host, port = sockaddr[0], sockaddr[1]
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def connect_error(exc: OSError, address: str, phase: str = PhaseName.TCP_CONNECT) -> TransportError:
    """Our error for a failed TCP connect (``phase``: "TCP connect", or "proxy
    connect" to a proxy)."""
    if isinstance(exc, ConnectionRefusedError):
        reason = f"connection refused by {address}: nothing listens on that port"
        return TransportError(phase, reason, "refused")
    if exc.errno in (errno.EHOSTUNREACH, errno.ENETUNREACH):
        return TransportError(phase, f"no route to {address}: {exc.strerror}", "unreachable")
    if isinstance(exc, ConnectionResetError):
        return ConnectionClosed(phase, f"{address} reset the connection", reset=True)
    return TransportError(phase, f"cannot connect to {address}: {exc.strerror or exc}")


def tunnel_for(route: Route, uri: ServerURI, infos: list[tuple[Any, ...]] | None) -> Tunnel:
    """The proxy handshake to ``uri``'s broker: its name for a proxy that resolves it,
    else the first address of ``infos`` (the broker's, resolved here; an IPv4 one for
    SOCKS4)."""
    from ..proxy import tunnel

    host = uri.host.partition("%")[0]
    if infos is not None:
        if route.url.scheme == "socks4":
            infos = [info for info in infos if info[0] == socket.AF_INET]
            if not infos:
                raise InvalidSettings(
                    [("proxy", f"expected an IPv4 address of {uri.host!r} for socks4://")]
                )
        host = infos[0][4][0]
    return tunnel(route, host, uri.port)


def needs_resolution(route: Route, uri: ServerURI) -> bool:
    """Whether the broker's name is resolved here before the proxy handshake."""
    return not route.url.remote_dns and numeric_address(uri.host, uri.port) is None


def tunnel_detail(route: Route, handshake: Tunnel) -> str:
    """The detail of the phase "proxy tunnel": the handshake, the broker, the proxy and
    where the proxy came from (the variable, when from the environment)."""
    return f"{handshake.protocol} {handshake.target} via {route.describe()}"


def stream_error(exc: OSError, phase: str, what: str) -> Error:
    """Our error for a socket failure on an open stream."""
    if isinstance(exc, (ConnectionResetError, BrokenPipeError)):
        return ConnectionClosed(phase, "the server reset the connection", reset=True)
    return TransportError(phase, f"{what} failed: {exc.strerror or exc}")


# ---------------------------------------------------------------------------- TLS


def tls_hostname(uri: ServerURI, server_name: str | None) -> str:
    """The name the certificate is checked against, and sent in SNI."""
    return server_name or uri.host.partition("%")[0]


def handshake_error(
    exc: BaseException, timeout: float, address: str, record: HandshakeRecord | None = None
) -> BaseException:
    """Our error for what a TLS handshake raised."""
    import ssl

    from .tls import tls_error

    if isinstance(exc, TimeoutError):
        return ResponseTimeout(PhaseName.TLS_HANDSHAKE, timeout, address)
    if isinstance(exc, (ssl.SSLError, ConnectionResetError)):
        error = tls_error(exc, PhaseName.TLS_HANDSHAKE)
        if record is not None:
            error.server_hello = record.server_hello
            error.certificate_requested = record.certificate_requested
        return error
    if isinstance(exc, OSError):
        return connect_error(exc, address)
    return exc


def unverified_context() -> ssl.SSLContext:
    """The context of a diagnosis' TLS hello: it checks nothing and sends no
    certificate."""
    import ssl

    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    return context


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

    @classmethod
    def failure(cls, exc: BaseException, timeout: float) -> Probe:
        """The outcome of a hello that raised ``exc``."""
        import ssl

        if isinstance(exc, (TimeoutError, ResponseTimeout)):
            return cls("timeout", timeout)
        if isinstance(exc, (ssl.SSLEOFError, ssl.SSLZeroReturnError)):
            return cls("closed", timeout)
        if isinstance(exc, ssl.SSLError):
            # A TLS alert is an answer in TLS too; a wrong version number is not.
            return cls("tls" if "ALERT" in (exc.reason or "") else "not-tls", timeout)
        if isinstance(exc, ConnectionResetError):
            return cls("reset", timeout)
        if isinstance(exc, (OSError, Error, ValueError)):
            return cls("failed", timeout)
        raise exc


def fetched(error: TLSError, probe: Probe, limit: float, phase: Phase) -> None:
    """What the certificate fetch after a failed check got: fills ``error.certificate``,
    ``error.certificate_fetch`` and the phase's outcome."""
    from .tls import certificate_summary, decode_certificate

    der = probe.certificate
    error.certificate = certificate_summary(decode_certificate(der) if der else None)
    if probe.answered and not error.certificate:
        probe = Probe("not-tls", limit)  # a handshake without a readable certificate
    error.certificate_fetch = probe
    phase.ok = bool(error.certificate)
    phase.detail += f": {'certificate read' if phase.ok else probe.describe()}"


def probed(probe: Probe, phase: Phase) -> None:
    phase.ok = probe.outcome not in ("timeout", "failed")  # some answer, TLS or not
    phase.detail += f": {probe.describe()}"


# ---------------------------------------------------------------------------- WebSocket


class Upgrade:
    """The WebSocket upgrade (RFC 6455 §4), sans I/O: ``data_to_send()`` is the request;
    ``receive(raw)`` takes the server's bytes (b"": it closed) and returns True once the
    answer is complete and accepted; it raises ConnectionClosed or WebSocketError."""

    def __init__(
        self,
        uri: ServerURI,
        headers: tuple[tuple[str, str], ...],
        subprotocol: str,
        max_frame_size: int,
    ) -> None:
        try:
            from websockets.client import ClientProtocol
            from websockets.typing import Subprotocol
            from websockets.uri import WebSocketURI
        except ImportError:
            raise HandshakeError(
                PhaseName.WEBSOCKET_UPGRADE,
                "ws:// and wss:// need the websockets package: pip install 'pco_wire[ws]'",
            ) from None
        self.subprotocol = subprotocol
        host = uri.host.partition("%")[0]
        self.protocol = ClientProtocol(
            WebSocketURI(uri.tls, host, uri.port, uri.path, uri.query),
            subprotocols=[Subprotocol(subprotocol)],
            max_size=max_frame_size,
        )
        # The websockets logger shows frames in part at DEBUG level: the end of a CONNECT,
        # where the password is, and the upgrade headers. Our own debug log hides them.
        self.protocol.debug = False
        request = self.protocol.connect()
        for name, value in headers:
            request.headers[name] = value
        self.protocol.send_request(request)
        self._answered = False  # any byte of an HTTP answer
        self._events: list[Any] = []

    def data_to_send(self) -> list[bytes]:
        return [chunk for chunk in self.protocol.data_to_send() if chunk]

    def receive(self, raw: bytes) -> bool:
        protocol = self.protocol
        if not raw and not self._answered:
            # A clean close on the request, as a plain MQTT port does: not a broken
            # HTTP answer but none at all (a reset raised ConnectionClosed already).
            raise ConnectionClosed(
                PhaseName.WEBSOCKET_UPGRADE,
                "the server closed the connection without an HTTP answer",
            )
        self._answered = True
        if raw:
            protocol.receive_data(raw)
        else:
            protocol.receive_eof()
        self._events = protocol.events_received()
        exc = protocol.handshake_exc
        if exc is not None:
            raise _upgrade_error(exc, self._events, self.subprotocol) from exc
        if not self._events:
            if not raw:
                raise ConnectionClosed(
                    PhaseName.WEBSOCKET_UPGRADE,
                    "the server closed the connection during its HTTP answer",
                )
            return False
        return True

    def layer(self, timeout: float) -> WebSocketLayer:
        """The frames layer once the upgrade is done; frames that came with the 101
        answer are read like any later ones."""
        layer = WebSocketLayer(self.protocol, self._events[1:])
        if self.protocol.subprotocol is None:
            # MQTT 3.1.1 §6: the server must select the subprotocol. Lenient servers and
            # proxies that drop the header still carry MQTT, so this is said, not refused.
            layer.warnings.append(
                f"the server did not select the WebSocket subprotocol {self.subprotocol!r} "
                "(MQTT 3.1.1 §6 says it must); a proxy may have dropped the header"
            )
        return layer


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
            PhaseName.WEBSOCKET_UPGRADE, f"the server answered {detail}", response.status_code
        )
    else:
        error = WebSocketError(
            PhaseName.WEBSOCKET_UPGRADE, f"the upgrade failed: {printable(str(exc))}"
        )
        answer = events[0] if events else None
        chosen = answer.headers.get("Sec-WebSocket-Protocol", "") if answer is not None else ""
        if chosen and chosen.strip() != subprotocol:
            error.selected_subprotocol = printable(chosen.strip(), 60)
    error.offered_subprotocol = subprotocol
    return error


class WebSocketLayer:
    """MQTT bytes in binary WebSocket frames, sans I/O.

    Packets split across frames and several packets in one frame both work: frames are
    only a container, the session's framer cuts packets. A text frame breaks the MQTT
    WebSocket binding (MQTT 3.1.1 §6) and is an error; so is a close frame. ``phase`` is
    the phase errors are reported in.
    """

    def __init__(self, protocol: Any, early: list[Any]) -> None:
        self.protocol = protocol
        self.phase: str = PhaseName.SESSION
        #: What the upgrade found worth saying (a subprotocol not selected).
        self.warnings: list[str] = []
        self._early = early
        #: A close or text frame met after MQTT bytes of the same read, raised next time.
        self.deferred: Error | None = None

    def pending(self) -> bool:
        return bool(self._early) or self.deferred is not None

    def receive(self, raw: bytes | None) -> bytes | None:
        """The MQTT bytes in ``raw`` (b"": the server closed; None: nothing new, for what
        is pending): bytes, None (nothing complete yet) or b"" (closed). What must be
        sent back (pongs) is in ``data_to_send()`` after."""
        if self.deferred is not None:
            error, self.deferred = self.deferred, None
            raise error
        if self._early:
            frames, self._early = self._early, []
            return self._payload(frames)
        if raw is None:
            return None
        if raw:
            self.protocol.receive_data(raw)
        else:
            self.protocol.receive_eof()
        out = self._payload(self.protocol.events_received())
        if out:
            return out
        if not raw or self.protocol.handshake_exc is not None:
            return b""
        exc = getattr(self.protocol, "parser_exc", None)
        if exc is not None:
            raise WebSocketError(
                self.phase, f"the WebSocket stream broke: {printable(str(exc))}"
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
                    self.phase, "expected binary WebSocket frames, got a text frame"
                )
            elif frame.opcode is Opcode.CLOSE:
                close = self.protocol.close_rcvd
                if close is not None:
                    reason = f" '{printable(close.reason)}'" if close.reason else ""
                    detail = f"code {close.code}{reason}"
                else:
                    detail = "no code"
                error = ConnectionClosed(
                    self.phase, f"the server closed the WebSocket ({detail})", websocket=True
                )
            if error is not None:
                if not out:
                    raise error
                self.deferred = error
                break
        return b"".join(out) if out else None

    def send(self, data: bytes) -> None:
        self.protocol.send_binary(data)

    def can_close(self) -> bool:
        """Whether our close frame may still go (not after the server's)."""
        from websockets.protocol import State

        return bool(self.protocol.state is State.OPEN)

    def close(self) -> None:
        """Queue our close frame (RFC 6455 §7.1.2: the server answers it and closes)."""
        self.protocol.send_close(1000)

    def data_to_send(self) -> list[bytes]:
        # b"" asks for a half-close; the full close follows soon enough.
        return [chunk for chunk in self.protocol.data_to_send() if chunk]


# ---------------------------------------------------------------------------- TLS, sans I/O


class TLSLayer:
    """TLS over memory buffers (``ssl.SSLObject``), for a driver that moves the bytes
    itself: ``receive(raw)`` takes the server's bytes and gives the plaintext,
    ``send(data)`` takes ours, and ``data_to_send()`` is what goes on the wire. The
    handshake runs by ``handshake()`` until it returns True."""

    def __init__(
        self, context: ssl.SSLContext, hostname: str, session: ssl.SSLSession | None = None
    ) -> None:
        """``session``: one to resume (of an earlier connection with ``context``)."""
        import ssl

        self._ssl = ssl
        self.incoming = ssl.MemoryBIO()
        self.outgoing = ssl.MemoryBIO()
        self.obj = context.wrap_bio(
            self.incoming, self.outgoing, server_hostname=hostname, session=session
        )
        #: A session was offered for resumption (``obj.session_reused``: the server took it).
        self.offered = session is not None
        self._eof = False
        #: The server ended TLS (close_notify) or the connection under it.
        self.closed = False

    def handshake(self) -> bool:
        """One step of the handshake: True once it is done. Raises what ``ssl`` raises
        for a failed one."""
        try:
            self.obj.do_handshake()
        except self._ssl.SSLWantReadError:
            return False
        return True

    def feed(self, raw: bytes) -> None:
        """The server's bytes; b"": the connection under TLS closed."""
        if raw:
            self.incoming.write(raw)
        elif not self._eof:
            self._eof = True
            self.incoming.write_eof()

    def receive(self, raw: bytes | None, phase: str) -> tuple[bytes, bool, Error | None]:
        """The plaintext in ``raw`` (None: only what is buffered; b"": closed under us),
        whether the server closed, and the failure met after that plaintext, if any."""
        from .tls import tls_error

        ssl = self._ssl
        if raw is not None:
            self.feed(raw)
        parts: list[bytes] = []
        error: Error | None = None
        try:
            while not self.closed:
                part = self.obj.read(CHUNK)
                if not part:
                    self.closed = True
                    break
                parts.append(part)
        except ssl.SSLWantReadError:
            pass
        except (ssl.SSLZeroReturnError, ssl.SSLEOFError):
            self.closed = True
        except ssl.SSLError as exc:
            # A TLS alert after the handshake: with TLS 1.3 a server that rejects our
            # client certificate says so only here.
            error = tls_error(exc, phase)
            error.__cause__ = exc
        return b"".join(parts), self.closed, error

    def send(self, data: bytes, phase: str) -> None:
        """Raises TLSError when TLS cannot take them (the connection broke)."""
        from .tls import tls_error

        ssl = self._ssl
        try:
            self.obj.write(data)
        except ssl.SSLWantReadError:
            # A renegotiation under way (TLS 1.2) wants the server's bytes first; a
            # server that asks for one while we send is not one gateways meet.
            raise TLSError(
                phase, "the server began a TLS renegotiation", 0, "RENEGOTIATION"
            ) from None
        except ssl.SSLError as exc:
            raise tls_error(exc, phase) from exc

    def close(self) -> None:
        """Queue our close_notify (RFC 8446 §6.1), not waiting for the server's."""
        try:
            self.obj.unwrap()
        except (self._ssl.SSLError, OSError, ValueError):
            pass

    def data_to_send(self) -> bytes:
        return self.outgoing.read()


class TLSSessions:
    """The TLS session the next handshakes offer for resumption (``bench --tls-resume``),
    shared by every connection of this process: the first one obtained (``keep``), until
    a handshake is a full one after all (the server declined it: the session of that
    handshake replaces it) or it is past half its lifetime.

    Not the latest of every connection: the ssl module hands a session out (and takes
    one in) as a copy, certificates and all, some 0.5 ms of CPU each way here, as much as
    the resumption saves; a session that the server still resumes need not be replaced.
    A session resumes only with the context it was made with, so it is kept with its
    context and offered only to handshakes of that one. Under TLS 1.3 the server's
    tickets come after its handshake (RFC 8446 §4.6.1): a session is worth keeping once
    the first answer above TLS was read (CONNACK), not when the handshake ends. A server
    may decline any (no ticket key, an expired ticket, a single-use ticket offered twice),
    and the handshake is then a full one.
    """

    __slots__ = ("context", "session", "renew_at")

    def __init__(self) -> None:
        self.context: ssl.SSLContext | None = None
        self.session: ssl.SSLSession | None = None
        #: When the session kept is replaced by the next one obtained (time.time()).
        self.renew_at = 0.0

    def offer(self, context: ssl.SSLContext) -> ssl.SSLSession | None:
        """The session to offer on a new handshake with ``context`` (None: none yet)."""
        return self.session if context is self.context else None

    def keep(self, obj: ssl.SSLObject | ssl.SSLSocket) -> bool:
        """The session of ``obj`` (read after its first answer) for the next handshakes,
        unless ``obj`` resumed the one kept and it is young enough; whether it was
        kept."""
        if obj.session_reused and obj.context is self.context and time.time() < self.renew_at:
            return False
        session = obj.session
        # OpenSSL's own test (SSL_SESSION_is_resumable): a ticket or a session ID.
        if session is None or not (session.has_ticket or session.id):
            return False
        lifetime = session.timeout
        if session.has_ticket and session.ticket_lifetime_hint:
            lifetime = min(lifetime, session.ticket_lifetime_hint)
        self.context, self.session = obj.context, session
        self.renew_at = session.time + lifetime / 2
        return True
