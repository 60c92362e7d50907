"""The asyncio client: ``async with Client(settings) as client:`` connects, keeps the
connection alive and connects again as the blocking Client does, and sends DISCONNECT on
exit; ``events()`` yields the same event values the blocking ``on_event`` gets.

No thread and no task per held connection: the session is pumped by the loop's
callbacks and one timer; a task exists only while a reconnection waits or runs.
"""

from __future__ import annotations

import asyncio
import time

from .. import _log
from ..errors import Error
from ..events import Closed, Event
from ..result import ConnectionInfo
from ..session import State
from ..supervisor import Supervisor
from .connection import Connection, connect, diagnose

TYPE_CHECKING = False
if TYPE_CHECKING:
    from ..diagnose import Diagnosis
    from ..events import SessionEvent
    from ..settings import Settings

__all__ = ["Client"]

#: Events kept for ``events()`` before the oldest are dropped (and counted).
MAX_EVENTS = 1000


class Client:
    """An MQTT connection kept alive, and connected again, on the running event loop.

    ``await connect()`` runs every phase and raises what ended the first attempt (the
    Error subclasses of ``pco_wire.errors``; ``diagnose()`` words them). Then PINGREQ goes
    out as the keep-alive needs and, when the connection is lost and ``reconnect`` is on
    (``settings.reconnect`` by default), it connects again after a backoff with the same
    client ID, until a refusal that retrying cannot fix or ``disconnect()``.

    ``events()`` iterates over the session events (Connected, PingSent, PongReceived,
    PacketReceived, Closed) and the reconnection events (Reconnecting, TakeoverSuspected,
    GivingUp), and ends when the client stopped. Up to ``max_events`` wait for a reader;
    beyond, the oldest are dropped and counted in ``events_dropped``: a program that
    never reads them, or a flood of packets, must not cost memory without end, nor hold
    up the keep-alive.
    """

    __slots__ = (
        "settings",
        "_supervisor",
        "_events",
        "_max_events",
        "events_dropped",
        "_waiter",
        "_done",
        "_stopped",
        "_conn",
        "_task",
        "_started",
        "_stopping",
        "_loop",
        "error",
        "server_closed",
    )

    def __init__(
        self,
        settings: Settings,
        *,
        client_id: str | None = None,
        reconnect: bool | None = None,
        max_events: int = MAX_EVENTS,
    ) -> None:
        """Raises InvalidSettings for a ``max_events`` that is not a whole number from 1
        on, or a ``reconnect`` that is not None, True or False (the settings are checked
        by ``connect()``, with every other fault of theirs)."""
        from ..errors import InvalidSettings

        if type(max_events) is not int or max_events < 1:
            raise InvalidSettings(
                [("max_events", f"expected a whole number from 1 on, got {max_events!r}")]
            )
        if reconnect not in (None, True, False) or type(reconnect) is int:
            raise InvalidSettings(
                [("reconnect", f"expected None, True or False, got {reconnect!r}")]
            )
        self.settings = settings
        self._supervisor = Supervisor(settings, client_id, reconnect=reconnect)
        # A list, not a deque: a deque costs 600 bytes a client, and the few events that
        # usually wait make popping from the front cheap.
        self._events: list[Event] | None = None
        self._max_events = max_events
        #: Events dropped because ``max_events`` waited unread.
        self.events_dropped = 0
        self._waiter: asyncio.Future[None] | None = None
        #: Made when someone waits for the client to stop: a future a client costs 150
        #: bytes, and a program holding thousands of connections rarely waits on each.
        self._done: asyncio.Future[None] | None = None
        self._stopped = False
        self._conn: Connection | None = None
        self._task: asyncio.Task[None] | None = None
        self._started = False
        self._stopping = False
        #: The loop connect() ran on: the client's callbacks and timer are its.
        self._loop: asyncio.AbstractEventLoop | None = None
        #: Why the (last) connection ended: None while it runs and after our disconnect.
        self.error: Error | None = None
        #: After disconnect(): True when the server closed the connection after our
        #: DISCONNECT, False when it had not within ``CLOSE_WAIT``, None when no
        #: DISCONNECT went out (not connected, or the send failed: ``error`` says why).
        self.server_closed: bool | None = None

    @property
    def connections(self) -> int:
        """How many connections were accepted so far (the first one and each again)."""
        return self._supervisor.connections

    @property
    def info(self) -> ConnectionInfo | None:
        """How the current (or last) connection was made; None before one was."""
        conn = self._conn
        attempt = self._supervisor.attempt
        if conn is None or attempt is None or attempt.session is not conn.session:
            return None
        stream = conn.stream
        return ConnectionInfo.of(attempt, stream.address, stream.tls, stream.warnings)

    @property
    def connected(self) -> bool:
        return self._conn is not None and self._conn.session.state is State.CONNECTED

    async def connect(self) -> ConnectionInfo:
        """Raises InvalidSettings, ServerRefused, ResponseTimeout, TransportError (and its
        TLSError, WebSocketError, ConnectionClosed), RemoteProtocolError."""
        if self._started or self._stopping:
            raise RuntimeError("connect() once per Client, and not after disconnect()")
        self._started = True
        self._loop = asyncio.get_running_loop()
        try:
            conn = await connect(self._supervisor, owner=self)
        except BaseException:
            self._finish()
            raise
        self._attach(conn)
        info = self.info
        assert info is not None
        for warning in info.warnings:
            _log.warning("%s", warning)
        return info

    async def diagnose(self, error: BaseException) -> Diagnosis:
        """(exit status, category, sentence) for an error of ``connect()`` or for
        ``self.error``, as ``test_connection`` would say it."""
        return await diagnose(self._supervisor, error)

    async def disconnect(self) -> bool:
        """Send DISCONNECT (if connected), stop reconnecting, close, and let the server's
        close arrive (at most ``CLOSE_WAIT``). Returns True once stopped. Raises
        RuntimeError on another loop than connect()'s (the connection is dropped then,
        if that loop is gone)."""
        self._check_loop(drop=True)
        self._stopping = True
        self._supervisor.stop()
        try:
            task, self._task = self._task, None
            if task is not None and task is not asyncio.current_task():
                task.cancel()
                # Waited for without taking a cancellation of our own for its.
                await asyncio.wait({task})
            conn = self._conn
            if conn is not None:
                if conn.session.closed:
                    conn.close()
                else:
                    try:
                        failed, closed = await conn.disconnect()
                    except BaseException:
                        conn.close()  # cancelled while the server's close was awaited
                        raise
                    if failed is None:
                        self.server_closed = closed
                    else:
                        self.error = failed
        finally:
            self._finish()
        return True

    def reauthenticate(self) -> None:
        """MQTT 5.0: start a re-authentication (AUTH 0x19) with the settings'
        authenticator; the server's answer comes as a Reauthenticated event, a refusal
        as the end of the connection. Raises LocalProtocolError when not connected at
        level 5 with an authenticator, or while one is under way."""
        self._check_loop()
        conn = self._conn
        if conn is None:
            from ..errors import LocalProtocolError

            raise LocalProtocolError("reauthenticate() needs a connected client")
        conn.session.reauthenticate(now=time.monotonic())
        conn.pump()

    async def wait_closed(self) -> None:
        """Until the client stops: lost without reconnecting, a refusal that retrying
        cannot fix, or disconnect()."""
        if not self._started:
            raise RuntimeError("wait_closed() before connect()")
        self._check_loop()
        if self._stopped:
            return
        if self._done is None:
            self._done = asyncio.get_running_loop().create_future()
        await asyncio.shield(self._done)

    def events(self) -> _Events:
        """An async iterator over the events, from the first (Connected) on; it ends
        when the client stopped and every event was read."""
        return _Events(self)

    async def __aenter__(self) -> Client:
        await self.connect()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.disconnect()

    # ------------------------------------------------------------------ inside

    def _check_loop(self, drop: bool = False) -> None:
        loop = self._loop
        if loop is None or asyncio.get_running_loop() is loop:
            return
        if drop and loop.is_closed() and self._conn is not None:
            # Its loop is gone, and its transport with it: the socket is all that is left.
            sock = self._conn.stream.wire.sock
            if sock is not None:
                sock.close()
            self._finish()
        raise RuntimeError(
            "this Client belongs to the event loop its connect() ran on; use it there "
            "(one asyncio.run() for its whole life)"
        )

    def _attach(self, conn: Connection) -> None:
        self._conn = conn
        conn.owned = True
        # Several servers: the Failover events of the servers that failed before this one.
        for event in self._supervisor.events():
            self._push(event)
        # The events of the handshake (Connected, a stored PUBLISH that came with the
        # CONNACK), and an end that came in the same breath.
        self.session_events(conn.session.events())
        if conn.ended:
            asyncio.get_running_loop().call_soon(self.connection_ended)

    def session_events(self, events: list[SessionEvent]) -> None:
        """The session's events (called by the connection)."""
        for event in events:
            if isinstance(event, Closed) and event.error is not None:
                self.error = event.error
                _log.warning("connection lost: %s", event.error)
            else:
                _log.debug("event %r", event)
            self._push(event)

    def _push(self, event: Event) -> None:
        events = self._events
        if events is None:
            events = self._events = []
        elif len(events) >= self._max_events:
            del events[0]
            self.events_dropped += 1
        events.append(event)
        self._wake()

    def _wake(self) -> None:
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    def connection_ended(self) -> None:
        """The connection ended (called by it): reconnect after the supervisor's delay,
        or stop."""
        if self._stopping:
            return
        conn = self._conn
        assert conn is not None
        supervisor = self._supervisor
        delay = supervisor.ended(conn.session.error, time.monotonic())
        for event in supervisor.events():
            self._push(event)
        if delay is None:
            self._finish()
        else:
            self._task = asyncio.get_running_loop().create_task(self._again(delay))

    async def _again(self, delay: float | None) -> None:
        supervisor = self._supervisor
        try:
            while delay is not None:
                await asyncio.sleep(delay)
                try:
                    conn = await connect(supervisor, owner=self)
                except Error as exc:
                    self.error = exc
                    _log.warning("reconnection failed: %s", exc)
                    delay = supervisor.failed(exc, time.monotonic())
                    for event in supervisor.events():
                        self._push(event)
                    continue
                self.error = None
                self._task = None
                self._attach(conn)
                return
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            _log.exception("pco_wire client failed")
            self.error = Error(f"internal error: {type(exc).__name__}: {exc}")
        self._task = None
        self._finish()

    def _finish(self) -> None:
        self._stopped = True
        if self._done is not None and not self._done.done():
            self._done.set_result(None)
        self._wake()


class _Events:
    """The async iterator of ``Client.events()``."""

    __slots__ = ("_client",)

    def __init__(self, client: Client) -> None:
        self._client = client

    def __aiter__(self) -> _Events:
        return self

    async def __anext__(self) -> Event:
        client = self._client
        client._check_loop()
        while not client._events:
            if not client._started or client._stopped:
                raise StopAsyncIteration
            waiter = client._waiter
            if waiter is None or waiter.done():
                waiter = client._waiter = asyncio.get_running_loop().create_future()
            await waiter
        events = client._events
        assert events
        return events.pop(0)
