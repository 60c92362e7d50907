"""The streams of ``transport``, waited on by the asyncio event loop.

The same phases, records, errors and layers as the blocking streams (``common``); only
the waiting differs. A TCP connection is an asyncio transport with a small protocol
(``Wire``) under it; TLS runs in memory buffers (``TLSLayer``: the ``ssl`` machinery
asyncio's own TLS uses, here in our hands, so that each handshake is recorded for its
diagnosis while one context serves thousands of connections), WebSocket in the sans-IO
protocol of ``websockets``. Name resolution goes through the loop; a lookup that outlives
its deadline is abandoned, not waited for. Cancelling a coroutine of this module closes
its socket.
"""

from __future__ import annotations

import asyncio
import socket

from ..errors import Error, ResponseTimeout, TLSError
from ..phases import Phase, PhaseName
from ..uri import ServerURI
from .common import (
    CHUNK,
    Probe,
    Timed,
    TLSInfo,
    TLSLayer,
    TLSSessions,
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
    from collections.abc import Coroutine, Sequence
    from typing import Any, Protocol, TypeVar

    from ..proxy import Route

    T = TypeVar("T")
else:
    Protocol = object

__all__ = ["Stream", "open_stream", "probe_tls", "resolve"]

#: Bytes the wire holds for a reader in the opening phases before it stops reading.
_BUFFER_LIMIT = 4 * CHUNK
#: Bytes the wire hands its reader before it lets the loop have a turn (its timers, its
#: other callbacks) and reads on. The standard loop reads a socket once a turn (up to
#: 256 KiB); uvloop (libuv) reads it again and again while each read fills its buffer
#: (up to 32 times 256 kB), and under a flood one such turn of ours, some 8 MB of
#: WebSocket frames, held up the keep-alive timer for seconds.
_TURN_LIMIT = 8 * CHUNK
#: The most a close after DISCONNECT drops of what the server still sends.
_DRAIN_LIMIT = 64 << 20
#: Seconds a graceful close may take to send what is left before it is aborted.
CLOSE_GRACE = 1.0
#: asyncio's TimeoutError is the builtin one from Python 3.11 on, its own before.
_TIMEOUTS = (TimeoutError, asyncio.TimeoutError)


class Reader(Protocol):
    def received(self, raw: bytes) -> None: ...

    def lost(self, exc: BaseException | None) -> None: ...


class Wire(asyncio.Protocol):
    """The raw bytes of one TCP connection. While the connection opens, a coroutine
    ``read()``s them; then ``attach()`` hands every chunk to a reader as it arrives
    (``received``; b"": the server closed), and the end of the connection (``lost``)."""

    __slots__ = (
        "loop",
        "sock",
        "transport",
        "_buffer",
        "_size",
        "_paused",
        "_given",
        "_yielding",
        "eof",
        "lost",
        "error",
        "_waiter",
        "_reader",
        "stalled_at",
        "_stall",
        "send_timeout",
        "_draining",
        "_closing",
    )

    def __init__(self, loop: asyncio.AbstractEventLoop, sock: socket.socket | None = None) -> None:
        self.loop = loop
        self.sock = sock
        self.transport: asyncio.Transport | None = None
        self._buffer: list[bytes] | None = None  # made when bytes wait for read()
        self._size = 0
        self._paused = False
        #: Bytes handed to the reader since the loop last had a turn of its own.
        self._given = 0
        self._yielding = False
        self.eof = False
        self.lost = False
        self.error: BaseException | None = None
        self._waiter: asyncio.Future[None] | None = None
        #: Who gets the bytes once the connection is open: ``received(raw)`` and
        #: ``lost(exc)`` (the session's connection).
        self._reader: Reader | None = None
        #: When the server stopped taking our bytes (asyncio's write buffer full).
        self.stalled_at: float | None = None
        self._stall: asyncio.TimerHandle | None = None
        self.send_timeout = 0.0
        self._draining = False
        #: Aborts a graceful close that a server not reading would keep open for good.
        self._closing: asyncio.TimerHandle | None = None

    # asyncio's callbacks

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        if self._reader is not None:
            self._reader.received(data)
            self._given += len(data)
            if self._given >= _TURN_LIMIT and not self._yielding:
                self._yield_turn()
            return
        if self._draining:
            # After our last packet: what the server still sends is dropped, so that
            # our close is not a reset for bytes left unread (up to a bound).
            self._size += len(data)
            if self._size > _DRAIN_LIMIT and self.transport is not None:
                self.transport.abort()
            return
        if self._buffer is None:
            self._buffer = []
        self._buffer.append(data)
        self._size += len(data)
        if self._size > _BUFFER_LIMIT and not self._paused and self.transport is not None:
            self._paused = True
            self.transport.pause_reading()
        self._wake()

    def eof_received(self) -> bool:
        self.eof = True
        if self._reader is not None:
            self._reader.received(b"")
        self._wake()
        return False  # the transport closes itself

    def connection_lost(self, exc: BaseException | None) -> None:
        if isinstance(exc, (ConnectionResetError, BrokenPipeError)) and self.sock is not None:
            # A write met the server's reset: what it said before it (a TLS alert: with
            # TLS 1.3, "certificate required" comes only after the handshake) is still
            # in the receive buffer, and is its reason. The socket closes after this.
            for _ in range(16):
                try:
                    data = self.sock.recv(CHUNK)
                except OSError:
                    break
                if not data:
                    break
                self.data_received(data)
        self.lost = True
        self.error = exc
        self._cancel_stall()
        if self._closing is not None:
            self._closing.cancel()
            self._closing = None
        if self._reader is not None:
            self._reader.lost(exc)
        self._wake()

    def pause_writing(self) -> None:
        self.stalled_at = self.loop.time()
        if self._reader is not None and self.send_timeout:
            self._stall = self.loop.call_later(self.send_timeout, self._stalled)

    def resume_writing(self) -> None:
        self.stalled_at = None
        self._cancel_stall()

    def _stalled(self) -> None:
        self._stall = None
        if self._reader is not None:
            self._reader.lost(
                ResponseTimeout(
                    PhaseName.SESSION, self.send_timeout, "the server does not read what we send"
                )
            )

    def _cancel_stall(self) -> None:
        if self._stall is not None:
            self._stall.cancel()
            self._stall = None

    def _yield_turn(self) -> None:
        """Stop reading until the loop's next turn: what is due (a keep-alive timer, a
        disconnect) runs first, however fast the server sends."""
        transport = self.transport
        if transport is None or transport.is_closing():
            return
        self._yielding = True
        transport.pause_reading()
        self.loop.call_soon(self._next_turn)

    def _next_turn(self) -> None:
        self._yielding = False
        self._given = 0
        transport = self.transport
        if transport is not None and not transport.is_closing() and not self._paused:
            transport.resume_reading()

    def _wake(self) -> None:
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    # ours

    async def read(self, deadline: float | None) -> bytes:
        """What arrived (b"": the server closed), by ``deadline`` (a ``loop.time()``;
        None: the caller bounds the wait). Raises TimeoutError, or the OSError that
        ended the connection."""
        while True:
            if self._buffer:
                data = b"".join(self._buffer)
                self._buffer = None
                self._size = 0
                if self._paused and self.transport is not None:
                    self._paused = False
                    self.transport.resume_reading()
                return data
            if self.error is not None:
                raise self.error
            if self.eof or self.lost:
                return b""
            if deadline is not None and deadline <= self.loop.time():
                raise TimeoutError
            self._waiter = self.loop.create_future()
            timer = None if deadline is None else self.loop.call_at(deadline, self._wake)
            try:
                await self._waiter
            finally:
                self._waiter = None
                if timer is not None:
                    timer.cancel()

    def attach(self, reader: Reader) -> None:
        """From now on, hand each chunk to ``reader`` as it arrives; what arrived before
        goes first."""
        self._reader = reader
        if self.stalled_at is not None and self.send_timeout and self._stall is None:
            remaining = self.stalled_at + self.send_timeout - self.loop.time()
            self._stall = self.loop.call_later(max(0.0, remaining), self._stalled)
        if self._buffer:
            data = b"".join(self._buffer)
            self._buffer = None
            self._size = 0
            reader.received(data)
        if self._paused and self.transport is not None:
            self._paused = False
            self.transport.resume_reading()
        # Each call may end the reader's use of this wire: asked again before the next.
        if self.eof and self._reader is reader:
            reader.received(b"")
        if self.lost and self._reader is reader:
            reader.lost(self.error)

    def detach(self) -> None:
        """No reader any more: what arrives from now on is dropped (see
        ``data_received``)."""
        self._reader = None
        self._draining = True
        self._size = 0
        self._cancel_stall()

    def write(self, data: bytes) -> None:
        transport = self.transport
        if data and transport is not None and not transport.is_closing():
            transport.write(data)
            if self.sock is not None:
                quick_ack(self.sock)  # as the blocking driver: see common.quick_ack

    def write_eof(self) -> None:
        transport = self.transport
        if transport is not None and not transport.is_closing() and transport.can_write_eof():
            try:
                transport.write_eof()
            except OSError:
                pass

    def close(self) -> None:
        """Close once what is written went out, within ``CLOSE_GRACE`` seconds: a
        server that does not read (a frozen broker) would keep it open for good."""
        transport = self.transport
        if transport is not None and not self.lost:
            transport.close()
            if self._closing is None:
                self._closing = self.loop.call_later(CLOSE_GRACE, transport.abort)

    def abort(self) -> None:
        """Close now, dropping what was not sent."""
        if self.transport is not None:
            self.transport.abort()

    async def wait_lost(self, deadline: float) -> bool:
        """Wait until the server closed (EOF or lost), by ``deadline``; whether it did."""
        while not (self.eof or self.lost):
            if deadline <= self.loop.time():
                return False
            self._waiter = self.loop.create_future()
            timer = self.loop.call_at(deadline, self._wake)
            try:
                await self._waiter
            finally:
                self._waiter = None
                timer.cancel()
        return True


class Stream:
    """A TCP connection with, as the URI asks, TLS and WebSocket layers over it.

    ``feed(raw)`` turns the server's bytes into MQTT bytes, ``write(data)`` ours into
    the wire's; errors name ``phase``.
    """

    __slots__ = ("wire", "address", "tls", "warnings", "_tls", "_ws", "_phase")

    def __init__(self, wire: Wire, address: str) -> None:
        self.wire = wire
        self.address = address
        self.tls: TLSInfo | None = None
        self.warnings: Sequence[str] = ()
        self._tls: TLSLayer | None = None
        self._ws: WebSocketLayer | None = None
        self._phase: str = PhaseName.SESSION

    @property
    def phase(self) -> str:
        return self._phase

    @phase.setter
    def phase(self, phase: str) -> None:
        self._phase = phase
        if self._ws is not None:
            self._ws.phase = phase

    @property
    def closed(self) -> bool:
        return self.wire.lost

    @property
    def tls_offered(self) -> bool:
        """The TLS handshake offered a session to resume (False without TLS)."""
        return self._tls is not None and self._tls.offered

    @property
    def tls_resumed(self) -> bool | None:
        """The server resumed the offered TLS session (None: no TLS)."""
        return None if self._tls is None else self._tls.obj.session_reused

    def keep_tls_session(self, sessions: TLSSessions) -> None:
        """This connection's TLS session into ``sessions`` for the next handshakes, if
        they want it (``TLSSessions.keep``): after the first answer above TLS, which TLS
        1.3's tickets come before."""
        if self._tls is not None:
            sessions.keep(self._tls.obj)

    def lost_error(self, exc: BaseException | None) -> Error | None:
        """Our error for what ended the connection under us (None: a clean close)."""
        if exc is None or isinstance(exc, Error):
            return exc
        if isinstance(exc, OSError):
            return stream_error(exc, self._phase, "receive")
        return stream_error(OSError(str(exc)), self._phase, "receive")

    def _plain(self, raw: bytes | None) -> tuple[bytes, bool, Error | None]:
        tls = self._tls
        if tls is None:
            return (raw or b""), raw == b"", None
        data, closed, error = tls.receive(raw, self._phase)
        # What reading made TLS say (a key update's answer, an alert) goes at once.
        self.wire.write(tls.data_to_send())
        return data, closed, error

    def feed(self, raw: bytes | None) -> tuple[bytes, bool, Error | None]:
        """The MQTT bytes in ``raw`` (None: only what the layers hold), whether the server
        closed, and the failure met after those bytes (a TLS alert, a close frame)."""
        data, closed, error = self._plain(raw)
        layer = self._ws
        if layer is None:
            return data, closed, error
        out: list[bytes] = []
        try:
            while layer.pending():
                got = layer.receive(None)
                if got:
                    out.append(got)
            if data:
                got = layer.receive(data)
                if got:
                    out.append(got)
                elif got == b"":
                    closed = True
                while layer.pending():
                    got = layer.receive(None)
                    if got:
                        out.append(got)
            if closed and error is None:
                got = layer.receive(b"")
                if got:
                    out.append(got)
        except Error as exc:
            error = exc
        # A pong for each ping of the server's.
        self._send_ws()
        return b"".join(out), closed, error

    async def read_plain(self, deadline: float) -> bytes:
        """The next bytes above TLS, for the upgrade (b"": closed). Raises our errors."""
        while True:
            try:
                raw = await self.wire.read(deadline)
            except TimeoutError:
                raise
            except OSError as exc:
                raise stream_error(exc, self._phase, "receive") from exc
            data, closed, error = self._plain(raw)
            if error is not None:
                raise error
            if data or closed:
                return data

    def write(self, data: bytes) -> Error | None:
        """Our MQTT bytes, through the layers; the error when TLS refused them."""
        try:
            if self._ws is not None:
                self._ws.send(data)
                self._send_ws()
            else:
                self._write_plain(data)
        except TLSError as exc:
            return exc
        return None

    def _send_ws(self) -> None:
        assert self._ws is not None
        for chunk in self._ws.data_to_send():
            self._write_plain(chunk)

    def _write_plain(self, data: bytes) -> None:
        if self._tls is not None:
            self._tls.send(data, self._phase)
            data = self._tls.data_to_send()
        self.wire.write(data)

    def _goodbye(self) -> None:
        """Our closing words: the WebSocket close frame, the TLS close_notify."""
        if self.wire.lost:
            return
        ws = self._ws
        if ws is not None and ws.can_close():
            ws.close()
            self._send_ws()
        if self._tls is not None:
            self._tls.close()
            self.wire.write(self._tls.data_to_send())

    def close(self) -> None:
        """Close after our closing words, once they went out."""
        self._goodbye()
        self.wire.detach()
        self.wire.close()

    def abort(self) -> None:
        self.wire.detach()
        self.wire.abort()

    async def finish(self, deadline: float, wait: bool = True) -> bool | None:
        """Close after our last packet: our closing words and end of our side, then,
        with ``wait``, the server's close by ``deadline`` (a ``loop.time()``); whether it
        closed in time, or None when not waited for (the loop reads what arrives at
        once, so nothing is left unread to turn our close into a reset)."""
        if self.wire.lost:
            return False
        self._goodbye()
        self.wire.detach()
        if self._tls is None:
            self.wire.write_eof()
        closed: bool | None = None
        try:
            if wait:
                closed = await self.wire.wait_lost(deadline)
        finally:
            if closed is False:
                self.wire.abort()  # what is left unsent no server is taking
            else:
                self.wire.close()
        return closed


# ---------------------------------------------------------------------------- phases


async def resolve(host: str, port: int, timeout: float) -> list[tuple[Any, ...]]:
    """The addresses of ``host``, through the loop's resolver, abandoned at
    ``timeout``. IP literals need no lookup. Raises ResponseTimeout, TransportError."""
    infos = numeric_address(host, port)
    if infos is not None:
        return infos
    loop = asyncio.get_running_loop()
    name: str | bytes = host.encode() if host.isascii() else host
    answer: asyncio.Future[list[tuple[Any, ...]]] = loop.create_future()

    def settle(result: Any) -> None:
        if not answer.done():
            if isinstance(result, BaseException):
                answer.set_exception(result)
            else:
                answer.set_result(result)

    def lookup() -> None:
        try:
            result: Any = socket.getaddrinfo(name, port, type=socket.SOCK_STREAM)
        except (OSError, UnicodeError) as exc:
            result = exc
        try:
            loop.call_soon_threadsafe(settle, result)
        except RuntimeError:
            pass  # the loop closed while the lookup ran: nobody waits for it

    # A lookup cannot be cancelled. It runs in a daemon thread of its own (not the
    # loop's executor, which asyncio.run waits for at its end, and whose threads a
    # thousand lookups would queue for): at the deadline we stop waiting, and the
    # thread ends by itself when the lookup returns.
    import threading

    threading.Thread(target=lookup, name="pco_wire-resolve", daemon=True).start()
    try:
        return await _within(_wait(answer), timeout)
    except _TIMEOUTS:
        raise ResponseTimeout(PhaseName.NAME_RESOLUTION, timeout, host) from None
    except (OSError, UnicodeError) as exc:
        raise resolution_error(host, exc) from exc


async def _wait(future: asyncio.Future[T]) -> T:
    return await future


if hasattr(asyncio, "timeout"):

    async def _within(step: Coroutine[Any, Any, T], seconds: float) -> T:
        """``step`` within ``seconds``: raises TimeoutError after. ``asyncio.timeout``
        (Python 3.11) cancels the task itself, where ``wait_for`` (3.11) runs the step in
        a task of its own, a cost a connection need not pay."""
        async with asyncio.timeout(seconds):
            return await step

else:  # Python 3.10

    async def _within(step: Coroutine[Any, Any, T], seconds: float) -> T:
        return await asyncio.wait_for(step, seconds)


async def _tcp_connect(info: tuple[Any, ...], source: str | None = None) -> socket.socket:
    family, kind, proto, _, sockaddr = info
    sock = socket.socket(family, kind, proto)
    try:
        sock.setblocking(False)
        if source is not None:
            sock.bind((source, 0))  # any free port of that address
        await _connect(sock, sockaddr)
        configure(sock)
        return sock
    except BaseException:
        sock.close()
        raise


async def _connect(sock: socket.socket, sockaddr: Any) -> None:
    """``loop.sock_connect`` for an address that is numeric already. uvloop's looks the
    address up again on every call, in libuv's pool of four threads: a thousand
    connections queue for it, and their "TCP connect" phase measured that queue."""
    import errno
    import os

    code = sock.connect_ex(sockaddr)
    if code in (errno.EINPROGRESS, errno.EWOULDBLOCK, errno.EINTR):
        loop = asyncio.get_running_loop()
        writable: asyncio.Future[None] = loop.create_future()

        fd = sock.fileno()

        def ready() -> None:
            # At once, not after the await: the poll is level-triggered, and until this
            # task runs again every turn of the loop would call this anew (some 20 times
            # a connection on uvloop under bench's load).
            loop.remove_writer(fd)
            if not writable.done():
                writable.set_result(None)

        loop.add_writer(fd, ready)
        try:
            await writable
        finally:
            loop.remove_writer(fd)
        code = sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
    if code:
        # OSError(errno, ...) is the subclass of that errno (ConnectionRefusedError...).
        raise OSError(code, os.strerror(code))


async def _wire(sock: socket.socket) -> Wire:
    loop = asyncio.get_running_loop()
    wire = Wire(loop, sock)
    try:
        await loop.create_connection(lambda: wire, sock=sock)
    except BaseException:
        sock.close()
        raise
    return wire


async def open_stream(
    uri: ServerURI,
    *,
    timeout: float,
    phases: list[Phase],
    tls_context: ssl.SSLContext | None = None,
    server_name: str | None = None,
    ws_headers: tuple[tuple[str, str], ...] = (),
    ws_subprotocol: str = "mqtt",
    max_frame_size: int = 1 << 20,
    source: str | None = None,
    tls_sessions: TLSSessions | None = None,
    proxy: Route | None = None,
) -> Stream:
    """Connect to ``uri``: every phase it needs, each within ``timeout`` seconds, as
    ``transport.sync.open_stream`` does and with the same errors (through ``proxy`` when
    given); from the local address ``source`` when given (the addresses of another
    family are skipped); offering the TLS session of ``tls_sessions`` for the context,
    if it has one."""
    wire, info, address = await _open_wire(uri, proxy, timeout, phases, source)
    stream = Stream(wire, address)
    stream.wire.send_timeout = timeout
    try:
        if uri.tls:
            assert tls_context is not None
            session = None if tls_sessions is None else tls_sessions.offer(tls_context)
            await _tls_handshake(
                stream, uri, info, tls_context, server_name, timeout, phases, session, proxy
            )
        if uri.websocket:
            await _ws_upgrade(
                stream, uri, timeout, phases, ws_headers, ws_subprotocol, max_frame_size
            )
        return stream
    except BaseException:
        stream.abort()
        raise


async def _connect_any(
    infos: list[tuple[Any, ...]],
    timeout: float,
    phases: list[Phase],
    phase: str,
    source: str | None,
) -> tuple[socket.socket, tuple[Any, ...], str]:
    """TCP to each address in turn until one answers, each a phase of its own."""
    error: Error | None = None
    if source is not None:
        family = socket.AF_INET6 if ":" in source else socket.AF_INET
        infos = [info for info in infos if info[0] == family] or infos
    for info in infos:
        address = format_address(info[4])
        try:
            with Timed(phases, phase, address):
                try:
                    return await _within(_tcp_connect(info, source), timeout), info, address
                except _TIMEOUTS:
                    raise ResponseTimeout(phase, timeout, address) from None
                except OSError as exc:
                    raise connect_error(exc, address, phase) from exc
        except Error as exc:
            error = exc
    assert error is not None
    raise error


async def _open_wire(
    uri: ServerURI,
    proxy: Route | None,
    timeout: float,
    phases: list[Phase],
    source: str | None = None,
) -> tuple[Wire, tuple[Any, ...] | None, str]:
    """A wire that carries the broker's bytes: to the broker, or a tunnel through
    ``proxy``; the broker's address (None through a proxy) and the text of it."""
    if proxy is None:
        with Timed(phases, PhaseName.NAME_RESOLUTION, uri.host):
            infos = await resolve(uri.host, uri.port, timeout)
        sock, info, address = await _connect_any(
            infos, timeout, phases, PhaseName.TCP_CONNECT, source
        )
        return await _wire(sock), info, address
    url = proxy.url
    with Timed(phases, PhaseName.NAME_RESOLUTION, url.host):
        infos = await resolve(url.host, url.port, timeout)
    sock, _, address = await _connect_any(infos, timeout, phases, PhaseName.PROXY_CONNECT, source)
    wire = await _wire(sock)
    try:
        broker = None
        if needs_resolution(proxy, uri):
            with Timed(phases, PhaseName.NAME_RESOLUTION, uri.host):
                broker = await resolve(uri.host, uri.port, timeout)
        handshake = tunnel_for(proxy, uri, broker)
        with Timed(phases, PhaseName.PROXY_TUNNEL, tunnel_detail(proxy, handshake)):
            deadline = asyncio.get_running_loop().time() + timeout
            done = False
            while not done:
                wire.write(handshake.data_to_send())
                try:
                    data = await wire.read(deadline)
                except TimeoutError:
                    raise ResponseTimeout(
                        PhaseName.PROXY_TUNNEL, timeout, f"{address}, no answer"
                    ) from None
                except OSError as exc:
                    raise handshake.broken(exc) from exc
                done = handshake.receive(data)
    except BaseException:
        wire.abort()
        raise
    return wire, None, f"via proxy {address}"


async def _handshake(wire: Wire, layer: TLSLayer, deadline: float | None) -> None:
    """Run ``layer``'s handshake over ``wire``. Raises what ``ssl`` raises, TimeoutError,
    or the OSError that ended the connection."""
    while not layer.handshake():
        wire.write(layer.data_to_send())
        layer.feed(await wire.read(deadline))
    wire.write(layer.data_to_send())  # our last flight (Finished)


async def _tls_handshake(
    stream: Stream,
    uri: ServerURI,
    info: tuple[Any, ...] | None,
    context: ssl.SSLContext,
    server_name: str | None,
    timeout: float,
    phases: list[Phase],
    session: ssl.SSLSession | None = None,
    proxy: Route | None = None,
) -> None:
    from .tls import HandshakeRecord

    hostname = tls_hostname(uri, server_name)
    loop = asyncio.get_running_loop()
    record = HandshakeRecord(context)
    try:
        with Timed(phases, PhaseName.TLS_HANDSHAKE, hostname):
            try:
                layer = TLSLayer(context, hostname, session)
                record.watch(layer.obj)
                await _handshake(stream.wire, layer, loop.time() + timeout)
            except (Exception, asyncio.TimeoutError) as exc:
                raise handshake_error(
                    TimeoutError() if isinstance(exc, _TIMEOUTS) else exc,
                    timeout,
                    stream.address,
                    record,
                ) from exc
            finally:
                record.stop()
    except TLSError as error:
        error.checked_name = hostname  # the name the certificate was held against
        if error.ssl_reason == "CERTIFICATE_VERIFY_FAILED":
            # The failed connection first: the fetch needs no two connections at once
            # (a server that serves one at a time would never answer it).
            stream.abort()
            # Its own phase, after the handshake's: the handshake failed when it failed.
            limit = diagnosis_timeout(timeout)
            with Timed(phases, PhaseName.CERTIFICATE_FETCH, hostname) as phase:
                fetched(error, await _tls_hello(info, uri, hostname, limit, proxy), limit, phase)
        raise
    stream._tls = layer
    stream.tls = TLSInfo.of(layer.obj)


async def _tls_hello(
    info: tuple[Any, ...] | None,
    uri: ServerURI,
    hostname: str,
    timeout: float,
    proxy: Route | None = None,
) -> Probe:
    """An unverified TLS handshake within ``timeout`` seconds in all, sending nothing
    but the TLS hello (and no client certificate); ``info``: the address (None: resolve
    ``uri``'s host within the same time), through ``proxy`` when given."""

    async def hello() -> Probe:
        if proxy is not None:
            wire = (await _open_wire(uri, proxy, timeout, []))[0]
        else:
            address = info if info is not None else (await resolve(uri.host, uri.port, timeout))[0]
            wire = await _wire(await _tcp_connect(address))
        try:
            layer = TLSLayer(unverified_context(), hostname)
            await _handshake(wire, layer, None)
            return Probe("tls", timeout, layer.obj.getpeercert(binary_form=True))
        finally:
            wire.abort()

    try:
        return await asyncio.wait_for(hello(), timeout)
    except _TIMEOUTS:
        return Probe("timeout", timeout)
    except Exception as exc:
        return Probe.failure(exc, timeout)


async def probe_tls(
    uri: ServerURI, timeout: float, phases: list[Phase], proxy: Route | None = None
) -> Probe:
    """What a TLS hello on ``uri``'s port gets, as ``transport.sync.probe_tls``."""
    limit = diagnosis_timeout(timeout)
    with Timed(phases, PhaseName.TLS_PROBE, uri.netloc) as phase:
        probe = await _tls_hello(None, uri, uri.host.partition("%")[0], limit, proxy)
        probed(probe, phase)
    return probe


async def _ws_upgrade(
    stream: Stream,
    uri: ServerURI,
    timeout: float,
    phases: list[Phase],
    headers: tuple[tuple[str, str], ...],
    subprotocol: str,
    max_frame_size: int,
) -> None:
    loop = asyncio.get_running_loop()
    stream.phase = PhaseName.WEBSOCKET_UPGRADE
    with Timed(phases, PhaseName.WEBSOCKET_UPGRADE, uri.shown_resource):
        upgrade = Upgrade(uri, headers, subprotocol, max_frame_size)
        deadline = loop.time() + timeout
        for chunk in upgrade.data_to_send():
            stream._write_plain(chunk)
        done = False
        while not done:
            try:
                raw = await stream.read_plain(deadline)
            except TimeoutError:
                raise ResponseTimeout(
                    PhaseName.WEBSOCKET_UPGRADE, timeout, "no HTTP answer"
                ) from None
            done = upgrade.receive(raw)
    stream.phase = PhaseName.SESSION
    stream._ws = upgrade.layer(timeout)
    stream.warnings = stream._ws.warnings
