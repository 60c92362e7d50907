"""The blocking driver: a session, a stream and the monotonic clock.

``test_connection(settings)`` sends exactly CONNECT and DISCONNECT and reports every
phase. ``Client`` connects, keeps the connection alive in a background thread, and
disconnects; it is a context manager. Neither makes a protocol decision: the session does.
Diagnostics go through ``logging`` (logger "pco_wire"); nothing here prints.
"""

from __future__ import annotations

import select
import socket
import time

from . import _log
from ._record import Record
from .errors import ConnectionClosed, Error, ServerRefused
from .packets import ConnAckCode
from .session import Closed, Session, State
from .settings import Settings, generate_client_id
from .transport import AnyStream, Phase, WebSocketStream, open_stream, probe_tls
from .uri import ServerURI

TYPE_CHECKING = False
if TYPE_CHECKING:
    import threading
    from collections.abc import Callable
    from typing import Any

__all__ = ["Client", "ConnectionInfo", "TestResult", "prepare", "test_connection"]


class Prepared:
    """What a connection needs, checked before any traffic."""

    __slots__ = (
        "settings",
        "uri",
        "client_id",
        "generated_id",
        "session",
        "tls_context",
        "warnings",
    )

    def __init__(
        self,
        settings: Settings,
        uri: ServerURI,
        client_id: str,
        generated_id: bool,
        session: Session,
        tls_context: Any,
        warnings: list[str],
    ) -> None:
        self.settings = settings
        self.uri = uri
        self.client_id = client_id
        self.generated_id = generated_id
        self.session = session
        self.tls_context = tls_context
        self.warnings = warnings


def prepare(
    settings: Settings, client_id: str | None = None, protocol_level: int | None = None
) -> Prepared:
    """Validate ``settings`` and build the session. No network traffic.

    A blank client ID is generated here (pass ``client_id`` to reuse one);
    ``protocol_level`` overrides the settings' protocol (the fallback of "auto"). Raises
    InvalidSettings naming every bad field, InvalidPacket for a CONNECT that cannot be sent.
    """
    uri = settings.check()
    generated = not (client_id or settings.client_id)
    client_id = client_id or settings.client_id or generate_client_id()
    packet = settings.connect_packet(client_id, protocol_level)
    session = Session(
        packet,
        response_timeout=settings.response_timeout,
        max_packet_size=settings.max_packet_size,
    )
    context = None
    if uri.tls:
        from .tls import build_context

        context = build_context(settings.security, settings.keyfile_password())
    warnings = _warnings(settings, uri, packet.password is not None)
    return Prepared(settings, uri, client_id, generated, session, context, warnings)


def _warnings(settings: Settings, uri: ServerURI, has_password: bool) -> list[str]:
    out = []
    if uri.password is not None:
        out.append(
            "a password in the URI can be seen by other users of this machine "
            "(process list, shell history): prefer --password-env or --password-file"
        )
    if uri.tls and settings.security.insecure:
        out.append(
            "--insecure: the server's certificate is not verified; anyone on the "
            "path can pose as the server"
        )
    elif uri.tls and not settings.security.verify_hostname:
        out.append(
            "--no-verify-hostname: any certificate from a trusted CA is accepted, "
            "whatever name it is for"
        )
    if has_password and not uri.tls and not _loopback(uri.host):
        out.append(
            f"the password goes to {uri.host} unencrypted over {uri.scheme}://; "
            "use mqtts:// or wss://"
        )
    return out


def _loopback(host: str) -> bool:
    if host == "localhost":
        return True
    import ipaddress

    try:
        return ipaddress.ip_address(host.partition("%")[0]).is_loopback
    except ValueError:
        return False


def _wire(data: bytes) -> str:
    """Outgoing bytes for the debug log: packets by their repr, so that a CONNECT's
    password never reaches a log (its repr hides it), whatever the level."""
    from .codec import Framer

    try:
        packets = Framer(len(data) + 5).feed(data)
    except Error:
        return f"{len(data)} bytes that do not decode"
    return ", ".join(map(repr, packets)) or f"{len(data)} bytes"


class Connection:
    """A session over an open stream, pumped by the caller's thread."""

    def __init__(self, stream: AnyStream, session: Session) -> None:
        self.stream = stream
        self.session = session
        #: The first bytes the server sent: they tell a TLS or HTTP answer from MQTT.
        self.head = b""

    def flush(self) -> Error | None:
        """Send what the session queued; returns the error if the stream failed (the
        session hears of it too, unless it is closed already: after our DISCONNECT)."""
        out = self.session.data_to_send()
        if out:
            if _log.debugging():
                _log.debug("send %s", _wire(out))
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
            ready, _, _ = select.select(waiting, [], [], timeout)
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
        while self.session.state is not State.CLOSED:
            try:
                data = self.stream.receive()
            except Error as exc:
                self.session.connection_lost(exc, now=time.monotonic())
                return
            if data is None:
                return
            if len(self.head) < 8:
                self.head += data[: 8 - len(self.head)]
            if _log.debugging():
                _log.debug("receive %s", data.hex(" ") if len(data) < 64 else f"{len(data)} bytes")
            self.session.receive_data(data, now=time.monotonic())
            if not data:
                return


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


class Connector:
    """Opens connections for one configuration, as one client: a generated client ID is
    kept for every later attempt. With protocol "auto", a server that answers MQTT 3.1.1
    with return code 1 (unacceptable protocol version) is asked once more in MQTT 3.1.
    ``attempt`` is the latest attempt, for the diagnosis of what ended it."""

    def __init__(self, settings: Settings, client_id: str | None = None) -> None:
        self.settings = settings
        self.client_id = client_id
        self.attempt: Attempt | None = None

    def open(self, phases: list[Phase] | None = None) -> Connection:
        """Every phase up to CONNACK; raises what ended the (last) attempt."""
        self.attempt = None
        prepared = prepare(self.settings, self.client_id)
        self.client_id = prepared.client_id
        self.attempt = Attempt(prepared, phases)
        try:
            return self.attempt.open()
        except ServerRefused as exc:
            if self.settings.protocol != "auto" or int(exc.return_code) != 1:
                raise
        _log.debug("protocol auto: MQTT 3.1.1 refused with return code 1; trying MQTT 3.1")
        self.attempt = Attempt(prepare(self.settings, self.client_id, 3), self.attempt.phases)
        return self.attempt.open()

    def diagnose(self, error: BaseException) -> tuple[int, str, str]:
        """(exit status, category, sentence) for an error of ``open()`` or of the
        connection it opened."""
        if self.attempt is None:
            from .diagnose import diagnose

            return diagnose(error)
        return self.attempt.diagnose(error)


class Attempt:
    """One connection attempt: what was prepared, the phases so far, and the first bytes
    the server sent (they tell a TLS or HTTP answer from an MQTT one)."""

    __slots__ = ("head", "phases", "prepared")

    def __init__(self, prepared: Prepared, phases: list[Phase] | None = None) -> None:
        self.prepared = prepared
        self.phases: list[Phase] = [] if phases is None else phases
        self.head = b""

    def open(self) -> Connection:
        """Every phase up to CONNACK. Raises the error that ended it."""
        prepared = self.prepared
        settings = prepared.settings
        stream = open_stream(
            prepared.uri,
            timeout=settings.response_timeout,
            phases=self.phases,
            tls_context=prepared.tls_context,
            server_name=settings.security.server_name,
            ws_headers=settings.ws_headers,
            ws_subprotocol=settings.ws_subprotocol(prepared.session.connect_packet.protocol_level),
        )
        conn = Connection(stream, prepared.session)
        session = prepared.session
        _set_phase(stream, "CONNACK")
        start = time.monotonic()
        session.connect(now=start)
        try:
            while session.state is State.CONNECTING:
                conn.step()
        except BaseException:
            stream.close()
            raise
        self.head = conn.head
        present = "session present" if session.session_present else ""
        self.phases.append(Phase("CONNACK", time.monotonic() - start, session.accepted, present))
        if not session.accepted:
            stream.close()
            assert session.error is not None
            raise session.error
        _set_phase(stream, "session")
        return conn

    def diagnose(self, error: BaseException) -> tuple[int, str, str]:
        """(exit status, category, sentence) for an error of this attempt. After a silent
        close on a plain port, the port is probed with a TLS hello to tell a TLS port."""
        from .diagnose import diagnose

        prepared = self.prepared
        uri = prepared.uri
        tls_answered = (
            isinstance(error, ConnectionClosed)
            and error.phase == "CONNACK"
            and not uri.tls
            and not uri.websocket
            and not error.websocket
            and not self.head
            and probe_tls(uri, prepared.settings.response_timeout, self.phases)
        )
        return diagnose(
            error,
            uri,
            head=self.head,
            tls_answered=tls_answered,
            client_id=prepared.client_id,
            username=prepared.session.connect_packet.username,
            protocol=prepared.settings.protocol,
        )


def _set_phase(stream: AnyStream, phase: str) -> None:
    inner = stream.inner if isinstance(stream, WebSocketStream) else stream
    inner.phase = phase


def _tls_report(stream: AnyStream) -> dict[str, Any] | None:
    if stream.tls is None:
        return None
    cert = stream.tls.certificate
    return {
        "version": stream.tls.version,
        "cipher": stream.tls.cipher,
        "alpn": stream.tls.alpn,
        "subject": cert.get("subject", ""),
        "issuer": cert.get("issuer", ""),
        "not_after": cert.get("not_after", ""),
    }


class TestResult(Record):
    """What a test connection found. ``to_json()`` gives the documented JSON document;
    ``error`` is the exception behind a failure (not in the JSON), for --debug."""

    __slots__ = (
        "ok",
        "exit_code",
        "category",
        "message",
        "uri",
        "client_id",
        "return_code",
        "return_code_text",
        "session_present",
        "address",
        "phases",
        "tls",
        "other_packets",
        "warnings",
        "error",
    )
    _fields = __slots__[:-1]

    def __init__(
        self,
        ok: bool,
        exit_code: int,
        category: str,
        message: str,
        uri: str,
        client_id: str = "",
        return_code: int | None = None,
        return_code_text: str | None = None,
        session_present: bool | None = None,
        address: str | None = None,
        phases: list[Phase] | None = None,
        tls: dict[str, Any] | None = None,
        other_packets: int = 0,
        warnings: list[str] | None = None,
        error: BaseException | None = None,
    ) -> None:
        self.ok = ok
        self.exit_code = exit_code
        self.category = category
        self.message = message
        self.uri = uri
        self.client_id = client_id
        self.return_code = return_code
        self.return_code_text = return_code_text
        self.session_present = session_present
        self.address = address
        self.phases = [] if phases is None else phases
        self.tls = tls
        self.other_packets = other_packets
        self.warnings = [] if warnings is None else warnings
        self.error = error

    __test__ = False  # not a pytest test class, despite its name

    def to_json(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "exit_code": self.exit_code,
            "category": self.category,
            "message": self.message,
            "uri": self.uri,
            "client_id": self.client_id,
            "return_code": self.return_code,
            "return_code_text": self.return_code_text,
            "session_present": self.session_present,
            "address": self.address,
            "phases": [
                {"name": p.name, "seconds": round(p.seconds, 6), "ok": p.ok, "detail": p.detail}
                for p in self.phases
            ],
            "tls": self.tls,
            "other_packets": self.other_packets,
            "warnings": self.warnings,
        }


def test_connection(settings: Settings, *, client_id: str | None = None) -> TestResult:
    """Connect, and if CONNACK accepts, disconnect: exactly CONNECT and DISCONNECT go to
    the server (with protocol "auto", a second CONNECT in MQTT 3.1 after a return code
    1). Never raises for a user's mistake or a server's fault: the result says what
    happened, with an exit status, a category and a sentence to act on."""
    connector = Connector(settings, client_id)
    phases: list[Phase] = []
    try:
        conn = connector.open(phases)
    except Exception as exc:
        return _failed(connector, settings, phases, exc)
    attempt = connector.attempt
    assert attempt is not None
    prepared = attempt.prepared
    session = prepared.session
    result = TestResult(
        False,
        70,
        "internal-error",
        "",
        str(prepared.uri),
        prepared.client_id,
        phases=phases,
        warnings=prepared.warnings,
    )
    try:
        if session.error is not None:  # accepted, and closed in the same breath
            result.exit_code, result.category, result.message = attempt.diagnose(session.error)
            result.error = session.error
            return result
        result.address = conn.stream.address
        result.tls = _tls_report(conn.stream)
        result.return_code, result.return_code_text = 0, ConnAckCode.ACCEPTED.text
        result.session_present = session.session_present
        start = time.monotonic()
        session.disconnect(now=start)
        failed = conn.flush()
        result.other_packets = session.other_packets
        phases.append(Phase("DISCONNECT", time.monotonic() - start, failed is None))
        if failed is not None:
            result.exit_code, result.category, result.message = attempt.diagnose(failed)
            result.error = failed
            return result
    finally:
        conn.stream.close()
    result.ok, result.exit_code, result.category = True, 0, "connected"
    present = "; the server kept a session" if session.session_present else ""
    level = (
        " in MQTT 3.1"
        if session.connect_packet.protocol_level == 3 and settings.protocol == "auto"
        else ""
    )
    result.message = (
        f"connected to {prepared.uri} ({result.address}) as {prepared.client_id}{level}{present}"
    )
    return result


def _failed(
    connector: Connector, settings: Settings, phases: list[Phase], exc: BaseException
) -> TestResult:
    code, category, message = connector.diagnose(exc)
    attempt = connector.attempt
    if attempt is None:  # refused before any traffic: the settings
        from .uri import _shown

        shown = _shown(settings.server_uri) if isinstance(settings.server_uri, str) else ""
        return TestResult(False, code, category, message, shown, error=exc)
    prepared = attempt.prepared
    result = TestResult(
        False,
        code,
        category,
        message,
        str(prepared.uri),
        prepared.client_id,
        phases=phases,
        warnings=prepared.warnings,
        error=exc,
    )
    refusal = getattr(exc, "return_code", None)
    if isinstance(refusal, ConnAckCode):
        result.return_code, result.return_code_text = int(refusal), refusal.text
    connected = [p for p in phases if p.name == "TCP connect" and p.ok]
    result.address = connected[-1].detail if connected else None
    return result


# Not a test, whatever pytest infers from the name, when a test module imports it.
test_connection.__test__ = False  # type: ignore[attr-defined]


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
        self._reconnect = settings.reconnect if reconnect is None else reconnect
        self._thread: threading.Thread | None = None
        self._wake_r, self._wake_w = socket.socketpair()
        self._stop = False
        self._done = threading.Event()
        self._conn: Connection | None = None
        self.info: ConnectionInfo | None = None
        #: Why the (last) connection ended: None while it runs and after our disconnect.
        self.error: Error | None = None

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
        prepared = self._connector.attempt.prepared  # type: ignore[union-attr]
        self.info = ConnectionInfo(
            str(prepared.uri),
            prepared.client_id,
            conn.session.session_present,
            conn.stream.address,
            phases,
            _tls_report(conn.stream),
            prepared.warnings,
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

        from .reconnect import GivingUp, Reconnect, Reconnecting, TakeoverSuspected

        settings = self.settings
        policy = Reconnect(
            settings.reconnect_min_delay, settings.reconnect_max_delay, random=random.random
        )
        conn = self._conn
        assert conn is not None
        try:
            policy.connected(time.monotonic())
            while True:
                self._serve(conn)
                error = conn.session.error
                if self._stop or error is None or not self._reconnect:
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
                if self._stop:
                    session.disconnect(now=time.monotonic())
                    conn.flush()
                    # MQTT 3.1.1 §3.14.4: after DISCONNECT the client closes the
                    # connection, before anything else (the server closes it too).
                    conn.stream.close()
                self._dispatch(session.events())
        finally:
            conn.stream.close()

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
        ``timeout``; by default the response timeout, which bounds the send, and a second
        for the close) for the background thread. Returns whether it ended. From
        ``on_event`` (the thread itself) it only asks, and returns False."""
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
        self._thread.join(self.settings.response_timeout + 1.0 if timeout is None else timeout)
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
