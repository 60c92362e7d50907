"""Opening a connection and pumping it, in the caller's thread: the blocking waits.

``connect`` runs the supervisor's attempts (the fallback of protocol "auto" included)
until one is accepted; ``Connection.step`` sends, waits until the next deadline or bytes,
and feeds them. No protocol decision is made here: the session and the supervisor make
them. Diagnostics go through ``logging`` (logger "pco_wire"); nothing here prints.
"""

from __future__ import annotations

import socket
import time

from .. import _log
from ..errors import Error
from ..phases import Phase, PhaseName
from ..result import CLOSE_WAIT
from ..session import Session, State
from ..transport.sync import AnyStream, open_stream, probe_tls, wait_ready

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from ..diagnose import Diagnosis
    from ..supervisor import Attempt, Supervisor

__all__ = ["Connection", "connect", "diagnose", "open_attempt"]


class Connection:
    """A session over an open stream, pumped by the caller's thread."""

    def __init__(self, stream: AnyStream, session: Session) -> None:
        self.stream = stream
        self.session = session

    def flush(self) -> Error | None:
        """Send what the session queued; returns the error if the stream failed (the
        session hears of it too, unless it is closed already: after our DISCONNECT)."""
        out = self.session.data_to_send()
        if out:
            if _log.debugging():
                _log.debug("send %s", _log.sent(out))
            try:
                self.stream.send(out, time.monotonic() + self.session.response_timeout)
            except Error as exc:
                self.session.connection_lost(exc, now=time.monotonic())
                return exc
        return None

    def step(self, wake: socket.socket | None = None, limit: float | None = None) -> bool:
        """Send what is pending, wait for bytes or the next deadline (or ``limit``, a
        monotonic time), feed them. Returns whether ``wake`` became readable."""
        self.flush()
        session = self.session
        if session.state is State.CLOSED:
            return False
        deadline = session.next_deadline()
        if limit is not None:
            deadline = limit if deadline is None else min(deadline, limit)
        woken = False
        if not self.stream.pending():
            timeout = None if deadline is None else max(0.0, deadline - time.monotonic())
            waiting: list[Any] = [self.stream] if wake is None else [self.stream, wake]
            ready = wait_ready(waiting, timeout)
            woken = wake is not None and wake in ready
            readable = self.stream in ready
        else:
            readable = True
        if readable:
            self._read()
        session.handle_timer(now=time.monotonic())
        self.flush()
        return woken

    def _read(self) -> None:
        """One read, at most a chunk: a server that keeps sending (a backlog, a flood)
        must not keep the driver from its timers, its sends and a stop request, which
        are served between two reads."""
        try:
            data = self.stream.receive()
        except Error as exc:
            self.session.connection_lost(exc, now=time.monotonic())
            return
        if data is None:
            return
        if _log.debugging():
            _log.debug("receive %s", data.hex(" ") if len(data) < 64 else f"{len(data)} bytes")
        self.session.receive_data(data, now=time.monotonic())

    def disconnect(self, wait: bool = True) -> tuple[Error | None, bool | None]:
        """Send DISCONNECT (when the session still may) and, as the session then expects,
        close the stream at once, letting the server's own close arrive so that what it
        still sends does not turn our close into a reset. Returns the error of the send
        (None when it went out, or when there was nothing to send) and whether the server
        closed within ``CLOSE_WAIT`` (without ``wait``, None when nothing was left unread
        and its close was not waited for: see ``Stream.finish``)."""
        session = self.session
        if session.state is State.CLOSED:
            self.stream.close()
            return None, False
        session.disconnect(now=time.monotonic())
        failed = self.flush()
        if failed is not None or not session.close_expected:
            self.stream.close()
            return failed, False
        return None, self.stream.finish(time.monotonic() + CLOSE_WAIT, wait)


def open_attempt(attempt: Attempt) -> Connection:
    """Every phase of ``attempt`` up to CONNACK. Raises the error that ended it."""
    session = attempt.session
    stream = open_stream(attempt.uri, **attempt.stream_options())
    conn = Connection(stream, session)
    stream.phase = PhaseName.CONNACK
    start = time.monotonic()
    session.connect(now=start)
    try:
        while session.state is State.CONNECTING:
            conn.step()
    except BaseException:
        stream.close()
        raise
    error = attempt.answered(time.monotonic() - start)
    if error is not None:
        stream.close()
        raise error
    stream.phase = PhaseName.SESSION
    return conn


def connect(supervisor: Supervisor, phases: list[Phase] | None = None) -> Connection:
    """The supervisor's next attempt, and the fallback it asks for; raises what ended
    the last. ``phases`` collects the phases (a new list by default)."""
    attempt = supervisor.next_attempt(phases)
    while True:
        try:
            conn = open_attempt(attempt)
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


def diagnose(supervisor: Supervisor, error: BaseException) -> Diagnosis:
    """(exit status, category, sentence) for ``error``, after the TLS probe the
    diagnosis asks for (a silent close on a plain port: a TLS port answers the hello)."""
    for attempt, failure in supervisor.covered(error):
        if attempt.needs_probe(failure):
            timeout = attempt.settings.response_timeout
            attempt.probed(failure, probe_tls(attempt.uri, timeout, attempt.phases, attempt.proxy))
    return supervisor.diagnose(error)
