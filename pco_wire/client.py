"""The blocking client for gateways: connect, stay connected (keep-alive and reconnection
in a background thread), disconnect; a context manager. The session makes the protocol
decisions and the reconnection policy the retry decisions; this module moves bytes,
reads the clock and sleeps. Diagnostics go through ``logging``; nothing here prints.
"""

from __future__ import annotations

import select
import socket
import time

from . import _log
from ._record import Record
from .connection import CLOSE_WAIT, Connection, Connector, tls_report
from .errors import Error
from .session import Closed, State
from .settings import Settings
from .transport import Phase

TYPE_CHECKING = False
if TYPE_CHECKING:
    import threading
    from collections.abc import Callable
    from typing import Any

__all__ = ["Client", "ConnectionInfo"]


class ConnectionInfo(Record):
    """How a connection was made: the URI (no password), the client ID, the session-present
    flag, the address used, every phase, TLS details and warnings."""

    __slots__ = ("uri", "client_id", "session_present", "address", "phases", "tls", "warnings")
    _fields = __slots__

    def __init__(
        self,
        uri: str,
        client_id: str,
        session_present: bool,
        address: str,
        phases: list[Phase],
        tls: dict[str, Any] | None,
        warnings: list[str],
    ) -> None:
        self.uri = uri
        self.client_id = client_id
        self.session_present = session_present
        self.address = address
        self.phases = phases
        self.tls = tls
        self.warnings = warnings


class Client:
    """A blocking MQTT connection kept alive, and connected again, in a background thread.

    ``connect()`` runs every phase in the caller's thread and raises what ended the first
    attempt (the Error subclasses of ``pco_wire.errors``; ``diagnose()`` words them). Then
    a daemon thread sends PINGREQ as the keep-alive needs, watches the connection, and,
    when it is lost and ``reconnect`` is on (``settings.reconnect`` by default), connects
    again after a backoff (see reconnect.py) with the same client ID, until a refusal that
    retrying cannot fix or ``disconnect()``. ``on_event`` is called from that thread with
    each session event (Connected, PingSent, PongReceived, PacketReceived, Closed) and
    each reconnection event (Reconnecting, TakeoverSuspected, GivingUp).
    """

    def __init__(
        self,
        settings: Settings,
        *,
        client_id: str | None = None,
        on_event: Callable[[Any], None] | None = None,
        reconnect: bool | None = None,
    ) -> None:
        import threading

        self.settings = settings
        self._connector = Connector(settings, client_id)
        self._on_event = on_event
        #: None: as the settings say (read once connect() has checked them).
        self._reconnect = reconnect
        self._thread: threading.Thread | None = None
        self._wake_r, self._wake_w = socket.socketpair()
        self._stop = False
        self._done = threading.Event()
        self._conn: Connection | None = None
        self.info: ConnectionInfo | None = None
        #: How many connections were accepted so far (the first one and each again).
        self.connections = 0
        #: Why the (last) connection ended: None while it runs and after our disconnect.
        self.error: Error | None = None
        #: After disconnect(): True when the server closed the connection after our
        #: DISCONNECT, False when it had not within ``CLOSE_WAIT``, None when no
        #: DISCONNECT went out (not connected, or the send failed: ``error`` says why).
        self.server_closed: bool | None = None

    def connect(self) -> ConnectionInfo:
        """Raises InvalidSettings, ServerRefused, ResponseTimeout, TransportError (and its
        TLSError, WebSocketError, ConnectionClosed), RemoteProtocolError."""
        if self._thread is not None or self._conn is not None:
            raise RuntimeError("connect() once per Client")
        try:
            self._conn = self._open()
        except BaseException:
            self._done.set()  # stopped before it started: wait() must not block
            raise
        for warning in self.info.warnings if self.info else ():
            _log.warning("%s", warning)
        import threading

        self._thread = threading.Thread(target=self._run, name="pco_wire-client", daemon=True)
        self._thread.start()
        return self.info  # type: ignore[return-value]

    def _open(self) -> Connection:
        phases: list[Phase] = []
        conn = self._connector.open(phases)
        self.connections += 1
        prepared = self._connector.attempt.prepared  # type: ignore[union-attr]
        self.info = ConnectionInfo(
            str(prepared.uri),
            prepared.client_id,
            conn.session.session_present,
            conn.stream.address,
            phases,
            tls_report(conn.stream),
            [*prepared.warnings, *getattr(conn.stream, "warnings", [])],
        )
        return conn

    def diagnose(self, error: BaseException) -> tuple[int, str, str]:
        """(exit status, category, sentence) for an error of ``connect()`` or for
        ``self.error``, as ``test_connection`` would say it."""
        return self._connector.diagnose(error)

    @property
    def connected(self) -> bool:
        return self._conn is not None and self._conn.session.state is State.CONNECTED

    def _run(self) -> None:
        import random
        import signal

        # Stop signals are the main thread's: delivered here, they would leave it blocked
        # where it waits (a write to a reader that stopped reading) instead of stopping.
        if hasattr(signal, "pthread_sigmask"):
            signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT, signal.SIGTERM, signal.SIGHUP})

        from .reconnect import GivingUp, Reconnect, Reconnecting, TakeoverSuspected

        settings = self.settings
        conn = self._conn
        assert conn is not None
        try:
            policy = Reconnect(
                settings.reconnect_min_delay, settings.reconnect_max_delay, random=random.random
            )
            policy.connected(time.monotonic())
            while True:
                self._serve(conn)
                error = conn.session.error
                again = settings.reconnect if self._reconnect is None else self._reconnect
                if self._stop or error is None or not again:
                    return
                suspected = policy.takeover_suspected
                delay = policy.ended(error, time.monotonic())
                while delay is not None:
                    if policy.takeover_suspected and not suspected:
                        suspected = True
                        self._dispatch([TakeoverSuspected(self._connector.client_id or "")])
                    self._dispatch([Reconnecting(error, delay, policy.attempt)])
                    if self._sleep(delay):
                        return  # disconnect() asked during the wait
                    try:
                        conn = self._open()
                    except Error as exc:
                        error = self.error = exc
                        _log.warning("reconnection failed: %s", exc)
                        delay = policy.ended(exc, time.monotonic())
                        continue
                    self._conn = conn
                    if self._stop:
                        # disconnect() asked while the attempt ran: say goodbye at once.
                        self._goodbye(conn)
                        return
                    self.error = None
                    policy.connected(time.monotonic())
                    break
                else:
                    self._dispatch([GivingUp(error)])
                    return
        except Exception as exc:
            _log.exception("pco_wire client thread failed")
            self.error = Error(f"internal error: {type(exc).__name__}: {exc}")
        finally:
            if self._conn is not None:
                self._conn.stream.close()
            self._done.set()

    def _serve(self, conn: Connection) -> None:
        """Pump one connection until it ends (or disconnect() ends it)."""
        session = conn.session
        # The events of the handshake first: Connected, and any stored PUBLISH that came
        # with the CONNACK.
        self._dispatch(session.events())
        try:
            while session.state is not State.CLOSED:
                if conn.step(self._wake_r):
                    self._drain_wake()
                if self._stop and not session.closed:
                    # MQTT 3.1.1 §3.14.4: after DISCONNECT the client closes the
                    # connection, before anything else (the server closes it too).
                    self._goodbye(conn)
                self._dispatch(session.events())
        finally:
            conn.stream.close()

    def _goodbye(self, conn: Connection) -> None:
        failed, closed = conn.disconnect()
        if failed is None:
            self.server_closed = closed
        else:
            self.error = failed

    def _sleep(self, delay: float) -> bool:
        """Wait ``delay`` seconds, or less if disconnect() asks; True if it asked."""
        deadline = time.monotonic() + delay
        while not self._stop:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return False
            ready, _, _ = select.select([self._wake_r], [], [], remaining)
            if ready:
                self._drain_wake()
        return True

    def _drain_wake(self) -> None:
        try:
            self._wake_r.recv(64)
        except OSError:
            pass

    def _dispatch(self, events: list[Any]) -> None:
        for event in events:
            if isinstance(event, Closed) and event.error is not None:
                self.error = event.error
                _log.warning("connection lost: %s", event.error)
            else:
                _log.debug("event %r", event)
            if self._on_event is not None:
                try:
                    self._on_event(event)
                except Exception:
                    # The caller's bug must not end the connection or go unseen.
                    _log.exception("on_event raised for %r", event)

    def wait(self, timeout: float | None = None) -> bool:
        """Block until the client stops (lost without reconnecting, a refusal that
        retrying cannot fix, or disconnect()) or ``timeout`` passes; True if it stopped."""
        return self._done.wait(timeout)

    def disconnect(self, timeout: float | None = None) -> bool:
        """Send DISCONNECT (if connected), stop reconnecting, close, and wait (at most
        ``timeout``; by default twice the response timeout, which bounds a send in
        progress and the DISCONNECT, and ``CLOSE_WAIT`` and a second for the closes) for
        the background thread. Returns whether it ended. From ``on_event`` (the thread
        itself) it only asks, and returns False."""
        import threading

        if self._thread is None:
            if self._conn is not None:
                self._conn.stream.close()
            self._close_wakeup()
            return True
        self._stop = True
        try:
            self._wake_w.send(b"x")
        except OSError:
            pass
        if threading.current_thread() is self._thread:
            return False
        if timeout is None:
            # The send in progress, the DISCONNECT, the server's close, our closing frames.
            timeout = 2 * self.settings.response_timeout + CLOSE_WAIT + 1.0
        self._thread.join(timeout)
        self._close_wakeup()
        return self._done.is_set()

    def _close_wakeup(self) -> None:
        if not self._done.is_set() and self._thread is not None:
            return  # the thread still selects on it
        self._wake_r.close()
        self._wake_w.close()

    def __enter__(self) -> Client:
        self.connect()
        return self

    def __exit__(self, *exc: object) -> None:
        self.disconnect()

    def __del__(self) -> None:
        try:
            self._wake_r.close()
            self._wake_w.close()
        except Exception:
            pass
