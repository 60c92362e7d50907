"""The asyncio client: ``async with Client(settings) as client:`` connects, keeps the
connection alive and connects again as the blocking Client does, and sends DISCONNECT on
exit; ``events()`` yields the same event values the blocking ``on_event`` gets.

No thread and no task per held connection: the session is pumped by the loop's
callbacks and one timer; a task exists only while a reconnection waits or runs.
"""

from __future__ import annotations

import asyncio
import collections
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

    def __init__(
        self,
        settings: Settings,
        *,
        client_id: str | None = None,
        reconnect: bool | None = None,
        max_events: int = MAX_EVENTS,
    ) -> None:
        if max_events < 1:
            raise ValueError(f"expected max_events >= 1, got {max_events}")
        self.settings = settings
        self._supervisor = Supervisor(settings, client_id, reconnect=reconnect)
        self._events: collections.deque[Event] = collections.deque()
        self._max_events = max_events
        #: Events dropped because ``max_events`` waited unread.
        self.events_dropped = 0
        self._waiter: asyncio.Future[None] | None = None
        self._done: asyncio.Future[None] | None = None
        self._conn: Connection | None = None
        #: The events of a connection being opened, held until it is ours (``_attach``):
        #: a reader that gets Connected then finds ``connected`` True.
        self._held: list[Event] | None = None
        self._task: asyncio.Task[None] | None = None
        self._started = False
        self._stopping = False
        self.info: ConnectionInfo | None = None
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
    def connected(self) -> bool:
        return self._conn is not None and self._conn.session.state is State.CONNECTED

    async def connect(self) -> ConnectionInfo:
        """Raises InvalidSettings, ServerRefused, ResponseTimeout, TransportError (and its
        TLSError, WebSocketError, ConnectionClosed), RemoteProtocolError."""
        if self._started:
            raise RuntimeError("connect() once per Client")
        self._started = True
        self._done = asyncio.get_running_loop().create_future()
        self._held = []
        try:
            conn = await connect(self._supervisor, on_events=self._session_events)
        except BaseException:
            self._release()
            self._finish()
            raise
        self._attach(conn)
        assert self.info is not None
        for warning in self.info.warnings:
            _log.warning("%s", warning)
        return self.info

    async def diagnose(self, error: BaseException) -> Diagnosis:
        """(exit status, category, sentence) for an error of ``connect()`` or for
        ``self.error``, as ``test_connection`` would say it."""
        return await diagnose(self._supervisor, error)

    async def disconnect(self) -> bool:
        """Send DISCONNECT (if connected), stop reconnecting, close, and let the server's
        close arrive (at most ``CLOSE_WAIT``). Returns True once stopped."""
        self._stopping = True
        self._supervisor.stop()
        task, self._task = self._task, None
        if task is not None and task is not asyncio.current_task():
            task.cancel()
            # Wait for it without taking its CancelledError for ours: a disconnect()
            # cancelled meanwhile must stay cancelled.
            await asyncio.wait({task})
        conn = self._conn
        if conn is not None:
            if conn.session.closed:
                conn.close()
            else:
                failed, closed = await conn.disconnect()
                if failed is None:
                    self.server_closed = closed
                else:
                    self.error = failed
        self._finish()
        return True

    async def wait_closed(self) -> None:
        """Until the client stops: lost without reconnecting, a refusal that retrying
        cannot fix, or disconnect()."""
        if self._done is None:
            raise RuntimeError("wait_closed() before connect()")
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

    def _attach(self, conn: Connection) -> None:
        self._conn = conn
        self._release()
        attempt = self._supervisor.attempt
        assert attempt is not None
        stream = conn.stream
        self.info = ConnectionInfo.of(attempt, stream.address, stream.tls, stream.warnings)
        conn.ended.add_done_callback(self._ended)

    def _session_events(self, events: list[SessionEvent]) -> None:
        for event in events:
            if isinstance(event, Closed) and event.error is not None:
                self.error = event.error
                _log.warning("connection lost: %s", event.error)
            else:
                _log.debug("event %r", event)
            if self._held is not None:
                self._held.append(event)
            else:
                self._push(event)

    def _release(self) -> None:
        held, self._held = self._held, None
        for event in held or ():
            self._push(event)

    def _push(self, event: Event) -> None:
        if len(self._events) >= self._max_events:
            self._events.popleft()
            self.events_dropped += 1
        self._events.append(event)
        self._wake()

    def _wake(self) -> None:
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    def _ended(self, _: object) -> None:
        """The connection ended: reconnect after the supervisor's delay, or stop."""
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
                self._held = []
                try:
                    conn = await connect(supervisor, on_events=self._session_events)
                except Error as exc:
                    self._release()
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
        self._release()
        if self._done is not None and not self._done.done():
            self._done.set_result(None)
        self._wake()


class _Events:
    """The async iterator of ``Client.events()``."""

    def __init__(self, client: Client) -> None:
        self._client = client

    def __aiter__(self) -> _Events:
        return self

    async def __anext__(self) -> Event:
        client = self._client
        while not client._events:
            if client._done is None or client._done.done():
                raise StopAsyncIteration
            waiter = client._waiter
            if waiter is None or waiter.done():
                waiter = client._waiter = asyncio.get_running_loop().create_future()
            await waiter
        return client._events.popleft()
