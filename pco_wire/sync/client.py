"""The blocking client for gateways: connect, stay connected (keep-alive and reconnection
in a background thread), disconnect; a context manager. The session makes the protocol
decisions and the reconnection policy the retry decisions; this module moves bytes,
reads the clock and sleeps. Diagnostics go through ``logging``; nothing here prints.
"""

from __future__ import annotations

import socket
import time

from .. import _log
from ..errors import Error
from ..events import Closed
from ..result import CLOSE_WAIT, ConnectionInfo
from ..session import State
from ..settings import Settings
from ..supervisor import Supervisor
from ..transport.sync import wait_ready
from .connection import Connection, connect, diagnose

TYPE_CHECKING = False
if TYPE_CHECKING:
    import threading
    from collections.abc import Callable
    from typing import Any

__all__ = ["Client", "ConnectionInfo"]


class Client:
    """A blocking MQTT connection kept alive, and connected again, in a background thread.

    ``connect()`` runs every phase in the caller's thread and raises what ended the first
    attempt (the Error subclasses of ``pco_wire.errors``; ``diagnose()`` words them). Then
    a daemon thread sends PINGREQ as the keep-alive needs, watches the connection, and,
    when it is lost and ``reconnect`` is on (``settings.reconnect`` by default), connects
    again after a backoff (see supervisor.py) with the same client ID, until a refusal
    that retrying cannot fix or ``disconnect()``. ``on_event`` is called from that thread with
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
        self._supervisor = Supervisor(settings, client_id, reconnect=reconnect)
        self._on_event = on_event
        self._thread: threading.Thread | None = None
        self._wake_r, self._wake_w = socket.socketpair()
        self._stop = False
        self._reauthenticate = False  # asked by reauthenticate(), done by the thread
        self._done = threading.Event()
        self._conn: Connection | None = None
        self.info: ConnectionInfo | None = None
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
        conn = connect(self._supervisor)
        stream = conn.stream
        attempt = self._supervisor.attempt
        assert attempt is not None
        self.info = ConnectionInfo.of(
            attempt, stream.address, stream.tls, getattr(stream, "warnings", [])
        )
        return conn

    @property
    def connections(self) -> int:
        """How many connections were accepted so far (the first one and each again)."""
        return self._supervisor.connections

    def diagnose(self, error: BaseException) -> tuple[int, str, str]:
        """(exit status, category, sentence) for an error of ``connect()`` or for
        ``self.error``, as ``test_connection`` would say it."""
        return diagnose(self._supervisor, error)

    @property
    def connected(self) -> bool:
        return self._conn is not None and self._conn.session.state is State.CONNECTED

    def _run(self) -> None:
        import signal

        # Stop signals are the main thread's: delivered here, they would leave it blocked
        # where it waits (a write to a reader that stopped reading) instead of stopping.
        if hasattr(signal, "pthread_sigmask"):
            signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT, signal.SIGTERM, signal.SIGHUP})

        supervisor = self._supervisor
        conn = self._conn
        assert conn is not None
        try:
            # Several servers: the Failover events of those that failed before this one.
            self._dispatch(supervisor.events())
            while True:
                self._serve(conn)
                delay = supervisor.ended(conn.session.error, time.monotonic())
                self._dispatch(supervisor.events())
                while delay is not None:
                    if self._sleep(delay):
                        return  # disconnect() asked during the wait
                    try:
                        conn = self._open()
                    except Error as exc:
                        self.error = exc
                        _log.warning("reconnection failed: %s", exc)
                        delay = supervisor.failed(exc, time.monotonic())
                        self._dispatch(supervisor.events())
                        continue
                    self._conn = conn
                    self._dispatch(supervisor.events())
                    if self._stop:
                        # disconnect() asked while the attempt ran: say goodbye at once.
                        self._goodbye(conn)
                        return
                    self.error = None
                    break
                else:
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
                if self._reauthenticate and session.state is State.CONNECTED:
                    self._reauthenticate = False
                    try:
                        session.reauthenticate(now=time.monotonic())
                    except Error as exc:  # no authenticator, or one under way
                        _log.warning("re-authentication not started: %s", exc)
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
            ready = wait_ready([self._wake_r], remaining)
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

    def reauthenticate(self) -> None:
        """MQTT 5.0: ask for a re-authentication (AUTH 0x19) with the settings'
        authenticator; the client's thread starts it, the answer comes as a
        Reauthenticated event (a refusal ends the connection). Raises LocalProtocolError
        unless connected at level 5 with an authenticator, or while one is under way (as
        the asyncio Client does)."""
        from ..errors import LocalProtocolError

        conn = self._conn
        if conn is None or not self.connected:
            raise LocalProtocolError("reauthenticate() needs a connected client")
        if conn.session.authenticator is None:
            raise LocalProtocolError("reauthenticate() needs an authenticator (MQTT 5.0)")
        if self._reauthenticate or conn.session.reauthenticating:
            # Asked, and not answered yet (the thread may not have started it).
            raise LocalProtocolError("reauthenticate() while a re-authentication is under way")
        self._reauthenticate = True
        try:
            self._wake_w.send(b"x")
        except OSError:
            pass

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
        self._supervisor.stop()
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
