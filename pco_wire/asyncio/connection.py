"""A session over an asyncio stream: bytes in by the loop's callbacks, one timer re-armed
at the session's next deadline, and the supervisor's attempts.

No task per connection: a held connection costs a protocol, a session and a timer
handle. No protocol decision is made here: the session and the supervisor make them.
"""

from __future__ import annotations

import asyncio
import time

from .. import _log
from ..errors import Error
from ..phases import Phase, PhaseName
from ..result import CLOSE_WAIT
from ..session import Session, State
from ..transport.aio import Stream, open_stream, probe_tls

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Protocol

    from ..diagnose import Diagnosis
    from ..events import SessionEvent
    from ..supervisor import Attempt, Supervisor
    from ..transport.common import TLSSessions

__all__ = ["Connection", "connect", "diagnose", "open_attempt"]

if TYPE_CHECKING:

    class Owner(Protocol):
        def session_events(self, events: list[SessionEvent]) -> None: ...

        def connection_ended(self) -> None: ...


class Connection:
    """``session`` over ``stream``, pumped by the loop. Its ``owner`` (the Client; one
    object rather than two bound methods: a held connection's bytes count) gets the
    session's events as they come, and, once ``owned``, hears when the connection ended
    (the session closed and, after our DISCONNECT, the stream finished).
    """

    __slots__ = (
        "loop",
        "stream",
        "session",
        "owner",
        "owned",
        "changed",
        "_timer",
        "_timer_at",
        "ended",
    )

    def __init__(
        self,
        stream: Stream,
        session: Session,
        owner: Owner | None = None,
    ) -> None:
        self.loop = asyncio.get_running_loop()
        self.stream = stream
        self.session = session
        self.owner = owner
        #: Whether the owner is told of the end (once the connection is its).
        self.owned = False
        #: Done when the session left CONNECTING (None once the connection is open).
        self.changed: asyncio.Future[None] | None = self.loop.create_future()
        self._timer: asyncio.TimerHandle | None = None
        self._timer_at: float | None = None
        #: The connection ended (the owner was told, if it owned it then).
        self.ended = False

    def start(self) -> None:
        """CONNECT, and the session's bytes from here on."""
        self.session.connect(now=time.monotonic())
        self.stream.wire.attach(self)
        self._data(*self.stream.feed(None))
        self._pump()

    def received(self, raw: bytes) -> None:
        """Bytes from the wire (b"": the server closed)."""
        if self.session.closed:
            return
        if _log.debugging():
            _log.debug("receive %s", raw.hex(" ") if len(raw) < 64 else f"{len(raw)} bytes")
        self._data(*self.stream.feed(raw))
        self._pump()

    def _data(self, data: bytes, closed: bool, error: Error | None) -> None:
        session = self.session
        now = time.monotonic()
        if data:
            session.receive_data(data, now=now)
        if error is not None:
            session.connection_lost(error, now=now)
        elif closed:
            session.receive_data(b"", now=now)

    def lost(self, exc: BaseException | None) -> None:
        """The wire's connection ended (``exc``: how; None: cleanly)."""
        session = self.session
        if not session.closed:
            error = self.stream.lost_error(exc)
            if error is None:
                session.receive_data(b"", now=time.monotonic())
            else:
                session.connection_lost(error, now=time.monotonic())
        self._pump()

    def _fire(self) -> None:
        self._timer = self._timer_at = None
        self.session.handle_timer(now=time.monotonic())
        self._pump()

    def pump(self) -> None:
        """After a command given to the session (re-authenticate): send what it queued."""
        self._pump()

    def _pump(self) -> None:
        """Send what the session queued, hand its events on, and re-arm the timer."""
        session = self.session
        out = session.data_to_send()
        if out:
            if _log.debugging():
                _log.debug("send %s", _log.sent(out))
            failed = self.stream.write(out)
            if failed is not None:
                session.connection_lost(failed, now=time.monotonic())
        # The events are the owner's once the connection is: those of an attempt that
        # fails are not shown (as in the blocking driver), those of the handshake
        # (Connected, a stored PUBLISH) are taken when it becomes the owner's.
        if self.owned and self.owner is not None:
            events = session.events()
            if events:
                self.owner.session_events(events)
        changed = self.changed
        if changed is not None and session.state is not State.CONNECTING and not changed.done():
            changed.set_result(None)
        if session.closed:
            self._cancel_timer()
            if not session.close_expected:
                self.stream.abort() if session.error is not None else self.stream.close()
                self._end()
            return
        deadline = session.next_deadline()
        if deadline != self._timer_at:
            self._cancel_timer()
            if deadline is not None:
                self._timer_at = deadline
                # The session's clock is time.monotonic(), to the microsecond: uvloop's
                # loop.time() counts whole milliseconds, as of the loop's last turn.
                delay = max(deadline - time.monotonic(), 0.0)
                self._timer = self.loop.call_later(delay, self._fire)

    def _cancel_timer(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = self._timer_at = None

    async def disconnect(self, wait: bool = True) -> tuple[Error | None, bool | None]:
        """Send DISCONNECT (when the session still may) and, as the session then expects,
        end the stream at once (MQTT 3.1.1 §3.14.4); as the blocking ``disconnect``."""
        session = self.session
        if session.closed:
            self.close()
            return None, False
        session.disconnect(now=time.monotonic())
        self._pump()
        try:
            # A write that fails is reported by the transport one callback later, as the
            # connection lost: let it come, so that a DISCONNECT that did not go out is
            # a failure, as with the blocking driver.
            await asyncio.sleep(0)
            wire = self.stream.wire
            if wire.lost and wire.error is not None:
                self.stream.abort()
                return self.stream.lost_error(wire.error), None
            if not session.close_expected:
                self.stream.close()
                return None, False
            closed = await self.stream.finish(self.loop.time() + CLOSE_WAIT, wait)
            return None, closed
        finally:
            self._end()

    def close(self) -> None:
        """Drop the connection (no DISCONNECT): for what was cancelled or failed."""
        self._cancel_timer()
        self.stream.abort()
        self._end()

    def _end(self) -> None:
        if not self.ended:
            self.ended = True
            if self.owned and self.owner is not None:
                self.loop.call_soon(self.owner.connection_ended)


async def open_attempt(
    attempt: Attempt,
    owner: Owner | None = None,
    *,
    source: str | None = None,
    tls_sessions: TLSSessions | None = None,
) -> Connection:
    """Every phase of ``attempt`` up to CONNACK, from the local address ``source`` if
    given, offering the TLS session of ``tls_sessions`` if it has one. Raises the error
    that ended it."""
    session = attempt.session
    stream = await open_stream(
        attempt.uri, source=source, tls_sessions=tls_sessions, **attempt.stream_options()
    )
    stream.phase = PhaseName.CONNACK
    conn = Connection(stream, session, owner)
    start = time.monotonic()
    try:
        conn.start()
        assert conn.changed is not None
        await conn.changed
        conn.changed = None
    except BaseException:
        conn.close()
        raise
    error = attempt.answered(time.monotonic() - start)
    if error is not None:
        conn.close()
        raise error
    stream.phase = PhaseName.SESSION
    return conn


async def connect(
    supervisor: Supervisor,
    phases: list[Phase] | None = None,
    owner: Owner | None = None,
    *,
    source: str | None = None,
    tls_sessions: TLSSessions | None = None,
) -> Connection:
    """The supervisor's next attempt, and the fallback it asks for; raises what ended
    the last. ``source``: the local address to connect from (bench's --source);
    ``tls_sessions``: the TLS session to offer for resumption (bench's --tls-resume)."""
    attempt = supervisor.next_attempt(phases)
    while True:
        try:
            conn = await open_attempt(attempt, owner, source=source, tls_sessions=tls_sessions)
        except Error as exc:
            if not supervisor.fallback(exc):
                first = supervisor.round_error(exc)
                if first is exc:
                    raise
                # Several servers, none took the first connection: the first one's
                # failure (the diagnosis names each).
                raise first from first.__cause__
            attempt = supervisor.next_attempt()
            continue
        supervisor.opened(time.monotonic())
        return conn


async def diagnose(supervisor: Supervisor, error: BaseException) -> Diagnosis:
    """(exit status, category, sentence) for ``error``, after the TLS probe the
    diagnosis asks for."""
    for attempt, failure in supervisor.covered(error):
        if attempt.needs_probe(failure):
            timeout = attempt.settings.response_timeout
            attempt.probed(
                failure, await probe_tls(attempt.uri, timeout, attempt.phases, attempt.proxy)
            )
    return supervisor.diagnose(error)
