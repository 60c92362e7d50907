"""Opening a connection: a session and a stream, driven by the caller's thread.

``prepare`` checks the settings and builds the session (no traffic); ``Attempt.open`` runs
every phase up to CONNACK; ``Connector`` opens connections for one configuration, as one
client, with the fallback of protocol "auto"; ``Connection.step`` sends, waits until the
next deadline or bytes, and feeds them. No protocol decision is made here: the session
makes them. Diagnostics go through ``logging`` (logger "pco_wire"); nothing here prints.
"""

from __future__ import annotations

import select
import socket
import time

from . import _log
from .errors import ConnectionClosed, Error, InvalidSettings, ServerRefused
from .session import Session, State
from .settings import Settings, generate_client_id
from .transport import AnyStream, Phase, Probe, WebSocketStream, open_stream, probe_tls
from .uri import ServerURI

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

__all__ = ["Attempt", "Connection", "Connector", "Prepared", "prepare", "tls_report"]


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
    if not isinstance(settings, Settings):
        from .uri import _kind

        raise InvalidSettings([("settings", f"expected a Settings, got {_kind(settings)}")])
    # A client ID given here obeys the rules of the settings' own.
    uri = (settings.replace(client_id=client_id) if client_id else settings).check()
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
    from .packets import Connect
    from .uri import shown_user

    try:
        packets = Framer(len(data) + 5).feed(data)
    except Error:
        return f"{len(data)} bytes that do not decode"
    # A user name with ":" ("user%3Apass@" in a URI) reads as a credential: masked too.
    return (
        ", ".join(
            repr(p.replace(username=shown_user(p.username)))
            if isinstance(p, Connect) and p.username is not None
            else repr(p)
            for p in packets
        )
        or f"{len(data)} bytes"
    )


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
        if len(self.head) < 8:
            self.head += data[: 8 - len(self.head)]
        if _log.debugging():
            _log.debug("receive %s", data.hex(" ") if len(data) < 64 else f"{len(data)} bytes")
        self.session.receive_data(data, now=time.monotonic())

    def disconnect(self, wait: bool = True) -> tuple[Error | None, bool | None]:
        """Send DISCONNECT (when the session still may) and close the stream at once
        (MQTT 3.1.1 §3.14.4), letting the server's own close arrive so that what it
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
        if failed is not None:
            self.stream.close()
            return failed, False
        return None, self.stream.finish(time.monotonic() + CLOSE_WAIT, wait)


#: Seconds the server has to close the connection after our DISCONNECT.
CLOSE_WAIT = 0.5


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

    __slots__ = ("head", "phases", "prepared", "_probed")

    def __init__(self, prepared: Prepared, phases: list[Phase] | None = None) -> None:
        self.prepared = prepared
        self.phases: list[Phase] = [] if phases is None else phases
        self.head = b""
        #: The error a TLS probe was made for, and what it got: asked again (a monitor
        #: says the loss, then exits with its status), the port is not probed twice.
        self._probed: tuple[BaseException, Probe] | None = None

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
        close (or a reset) before CONNACK on a plain port, the port is probed with a TLS
        hello, within a short time of its own (``transport.DIAGNOSIS_TIMEOUT``), to tell
        a TLS port from a broker that refused us without a word."""
        from .diagnose import diagnose

        prepared = self.prepared
        uri = prepared.uri
        probe = None
        # A close with no word on a plain port, before CONNACK or on the upgrade: a TLS
        # port answers the hello; ws:// to an mqtts:// or wss:// port looks just so.
        silent_close = (
            isinstance(error, ConnectionClosed)
            and not uri.tls
            and not error.websocket
            and not self.head
            and error.phase == ("WebSocket upgrade" if uri.websocket else "CONNACK")
        )
        if silent_close:
            if self._probed is not None and self._probed[0] is error:
                probe = self._probed[1]
            else:
                probe = probe_tls(uri, prepared.settings.response_timeout, self.phases)
                self._probed = (error, probe)
        packet = prepared.session.connect_packet
        return diagnose(
            error,
            uri,
            head=self.head,
            probe=probe,
            client_id=prepared.client_id,
            username=packet.username,
            protocol=prepared.settings.protocol,
            protocol_level=packet.protocol_level,
            client_certificate=prepared.settings.security.certfile is not None,
        )


def _set_phase(stream: AnyStream, phase: str) -> None:
    inner = stream.inner if isinstance(stream, WebSocketStream) else stream
    inner.phase = phase


def tls_report(stream: AnyStream) -> dict[str, Any] | None:
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
