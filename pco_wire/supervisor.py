"""Pure decisions around connections: what an attempt sends, when to try again, what to say.

Clock-free and I/O-free like the session: ``now`` comes in, delays and events come out.
Both drivers (blocking and asyncio) run the same loop over it::

    attempt = supervisor.next_attempt()     # settings checked, session built
    ... the driver opens the stream and pumps attempt.session until CONNACK ...
    supervisor.opened(now)                  # accepted
    supervisor.fallback(error)              # or not accepted: True, try at once
    delay = supervisor.failed(error, now)   # else, when reconnecting: a delay or None
    delay = supervisor.ended(error, now)    # an accepted connection ended
    supervisor.events()                     # Reconnecting, TakeoverSuspected, GivingUp

The fallback of protocol "auto" (MQTT 3.1.1 refused with return code 1, so MQTT 3.1 is
asked at once, within the same attempt's phases) is part of one attempt; a delay of None
means stop. The client identity is the configuration's: a generated client ID is made once
and kept for every later attempt, and so is the TLS context.
"""

from __future__ import annotations

from . import _log
from ._record import Record
from .errors import ConnectionClosed, Error, InvalidSettings, ServerRefused
from .events import Event, GivingUp, Reconnecting, TakeoverSuspected
from .phases import PhaseName
from .reconnect import Reconnect
from .session import Session
from .settings import Settings, generate_client_id
from .uri import ServerURI

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable, Sequence
    from typing import Any

    from .diagnose import Diagnosis
    from .phases import Phase
    from .transport.common import Probe

__all__ = ["Attempt", "Supervisor", "prepare"]


class Attempt:
    """One connection attempt: what it sends and to whom (checked before any traffic),
    the phases so far, and the TLS probe of a diagnosis."""

    __slots__ = (
        "settings",
        "uri",
        "client_id",
        "generated_id",
        "session",
        "tls_context",
        "warnings",
        "phases",
        "_probed",
    )

    def __init__(
        self,
        settings: Settings,
        uri: ServerURI,
        client_id: str,
        generated_id: bool,
        session: Session,
        tls_context: Any,
        warnings: Sequence[str],
        phases: list[Phase] | None = None,
    ) -> None:
        self.settings = settings
        self.uri = uri
        self.client_id = client_id
        self.generated_id = generated_id
        self.session = session
        self.tls_context = tls_context
        self.warnings = warnings
        self.phases: list[Phase] = [] if phases is None else phases
        #: The error a TLS probe was made for, and what it got: asked again (a monitor
        #: says the loss, then exits with its status), the port is not probed twice.
        self._probed: tuple[BaseException, Probe] | None = None

    @property
    def ws_subprotocol(self) -> str:
        return self.settings.ws_subprotocol(self.session.connect_packet.protocol_level)

    def stream_options(self) -> dict[str, Any]:
        """What either driver's ``open_stream(uri, **options)`` takes for this attempt."""
        settings = self.settings
        return {
            "timeout": settings.response_timeout,
            "phases": self.phases,
            "tls_context": self.tls_context,
            "server_name": settings.security.server_name,
            "ws_headers": settings.ws_headers,
            "ws_subprotocol": self.ws_subprotocol,
        }

    def answered(self, seconds: float) -> Error | None:
        """The session left CONNECTING ``seconds`` after CONNECT: records the phase
        "CONNACK", and returns what ended the attempt when it was not accepted (the
        driver closes the stream and raises it)."""
        from .phases import Phase

        session = self.session
        present = "session present" if session.session_present else ""
        self.phases.append(Phase(PhaseName.CONNACK, seconds, session.accepted, present))
        if session.accepted:
            return None
        assert session.error is not None
        return session.error

    def needs_probe(self, error: BaseException) -> bool:
        """Whether the diagnosis of ``error`` wants a TLS hello on the port first: a close
        with no word on a plain port, before CONNACK or on the upgrade, is what a TLS port
        does to plain MQTT (and ws:// to an mqtts:// or wss:// port looks just so)."""
        uri = self.uri
        if self._probed is not None and self._probed[0] is error:
            return False
        return (
            isinstance(error, ConnectionClosed)
            and not uri.tls
            and not error.websocket
            and not self.session.head
            and error.phase == (PhaseName.WEBSOCKET_UPGRADE if uri.websocket else PhaseName.CONNACK)
        )

    def probed(self, error: BaseException, probe: Probe) -> None:
        """What the TLS hello that ``needs_probe(error)`` asked for got."""
        self._probed = (error, probe)

    def diagnose(self, error: BaseException) -> Diagnosis:
        """(exit status, category, sentence) for an error of this attempt."""
        from .diagnose import diagnose

        probe = self._probed[1] if self._probed is not None and self._probed[0] is error else None
        packet = self.session.connect_packet
        return diagnose(
            error,
            self.uri,
            head=self.session.head,
            probe=probe,
            client_id=self.client_id,
            username=packet.username,
            protocol=self.settings.protocol,
            protocol_level=packet.protocol_level,
            client_certificate=self.settings.security.certfile is not None,
        )


def prepare(
    settings: Settings,
    client_id: str | None = None,
    protocol_level: int | None = None,
    *,
    tls_context: Any = None,
    phases: list[Phase] | None = None,
    shared: bool = False,
) -> Attempt:
    """Validate ``settings`` and build the session. No network traffic.

    A blank client ID is generated here (pass ``client_id`` to reuse one);
    ``protocol_level`` overrides the settings' protocol (the fallback of "auto");
    ``tls_context`` one built before for the same settings; ``shared``: one of the
    configuration's, shared with its other clients (else a new one). Raises InvalidSettings naming
    every bad field, InvalidPacket for a CONNECT that cannot be sent.
    """
    if not isinstance(settings, Settings):
        from .uri import _kind

        raise InvalidSettings([("settings", f"expected a Settings, got {_kind(settings)}")])
    # A client ID given here obeys the rules of the settings' own.
    uri = _check(settings.replace(client_id=client_id) if client_id else settings)
    generated = not (client_id or settings.client_id)
    client_id = client_id or settings.client_id or generate_client_id()
    packet = settings.connect_packet(client_id, protocol_level)
    session = Session(
        packet,
        response_timeout=settings.response_timeout,
        max_packet_size=settings.max_packet_size,
    )
    if uri.tls and tls_context is None:
        if shared:
            tls_context = _context(settings)
        else:
            from .transport.tls import build_context

            tls_context = build_context(settings.security, settings.keyfile_password())
    warnings = _warnings(settings, uri, packet.password is not None)
    return Attempt(settings, uri, client_id, generated, session, tls_context, warnings, phases)


#: Settings checked before (as their fields, frozen), and what ``check()`` gave: the
#: thousands of clients of one configuration (``bench``) need not check it each, nor a
#: client each attempt. Fields are compared with their types (``1`` is not ``True``) and
#: nested values by their own fields, so a changed one is checked anew. Only successes
#: are kept, the last few.
_checked: dict[Any, ServerURI] = {}
#: TLS contexts by the security settings (and key password) they were built from: one
#: per configuration, whatever the number of clients.
_contexts: dict[Any, Any] = {}
_KEPT = 16


def _frozen(value: Any) -> Any:
    kind = type(value)
    if kind is str or kind is int or kind is float or kind is bool or value is None:
        return kind, value
    if isinstance(value, Record):
        return kind, tuple([_frozen(v) for v in value._values()])
    if kind is list or kind is tuple:
        return kind, tuple([_frozen(v) for v in value])
    return kind, value


def _keep(cache: dict[Any, Any], key: Any, value: Any) -> None:
    if len(cache) >= _KEPT:
        del cache[next(iter(cache))]
    cache[key] = value


def _check(settings: Settings) -> ServerURI:
    key = _frozen(settings)
    uri = _checked.get(key)
    if uri is None:
        uri = settings.check()
        _keep(_checked, key, uri)
    return uri


def _context(settings: Settings) -> Any:
    from .transport.tls import build_context

    password = settings.keyfile_password()
    key = (_frozen(settings.security), password)
    context = _contexts.get(key)
    if context is None:
        context = build_context(settings.security, password)
        _keep(_contexts, key, context)
    return context


def _warnings(settings: Settings, uri: ServerURI, has_password: bool) -> Sequence[str]:
    out: list[str] = []
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
    return out or ()  # usually none: an empty tuple is shared, a list is not


def _loopback(host: str) -> bool:
    if host == "localhost":
        return True
    import ipaddress

    try:
        return ipaddress.ip_address(host.partition("%")[0]).is_loopback
    except ValueError:
        return False


class Supervisor:
    """The connections of one configuration, as one client.

    ``reconnect`` (default: the settings') says whether a connection lost after it was
    accepted is opened again; the first connection is never retried but for the fallback
    of protocol "auto" (the caller hears its failure). ``random`` draws the backoff's
    jitter (``random.random``, or a fixed sequence in tests).
    """

    __slots__ = (
        "settings",
        "client_id",
        "reconnect",
        "_random",
        "attempt",
        "connections",
        "stopped",
        "_policy",
        "_opened_at",
        "_generated",
        "_tls_context",
        "_fallback",
        "_events",
    )

    def __init__(
        self,
        settings: Settings,
        client_id: str | None = None,
        *,
        reconnect: bool | None = None,
        random: Callable[[], float] | None = None,
    ) -> None:
        self.settings = settings
        self.client_id = client_id
        self.reconnect = reconnect
        self._random = random
        #: The latest attempt, for the diagnosis of what ended it.
        self.attempt: Attempt | None = None
        #: Connections accepted so far.
        self.connections = 0
        #: No attempt follows: stop() was called, or the supervisor gave up (GivingUp).
        self.stopped = False
        #: Made at the first loss: most connections are never lost.
        self._policy: Reconnect | None = None
        self._opened_at: float | None = None
        self._tls_context: Any = None
        #: Whether the client ID of every attempt is one generated here (blank in the
        #: settings and not given): known at the first attempt, kept for the later ones.
        self._generated: bool | None = None
        self._fallback = False  # the next attempt is MQTT 3.1, after 3.1.1 got code 1
        self._events: list[Event] | None = None  # made when there is one

    def next_attempt(self, phases: list[Phase] | None = None) -> Attempt:
        """The next attempt, prepared: raises InvalidSettings, InvalidPacket. After a
        fallback, the phases go on in the same list as the attempt before. (After
        ``stop()`` or GivingUp the driver asks for none; a stop asked from another
        thread may cross an attempt under way, which ``failed``/``ended`` then end.)"""
        level = None
        if self._fallback and self.attempt is not None:
            level, phases = 3, self.attempt.phases
        self._fallback = False
        self.attempt = None
        attempt = prepare(
            self.settings,
            self.client_id,
            level,
            tls_context=self._tls_context,
            phases=phases,
            shared=True,
        )
        if self._generated is None:
            self._generated = attempt.generated_id
        # The ID goes back into prepare() for the next attempts; it stays a generated one.
        attempt.generated_id = self._generated
        self.client_id = attempt.client_id
        self._tls_context = attempt.tls_context
        self.attempt = attempt
        return attempt

    def opened(self, now: float) -> None:
        """The latest attempt's CONNACK accepted the connection."""
        self.connections += 1
        if self._policy is None:
            self._opened_at = now
        else:
            self._policy.connected(now)

    def fallback(self, error: Error) -> bool:
        """Whether the attempt that ``error`` ended is asked again at once, in MQTT 3.1:
        protocol "auto", and MQTT 3.1.1 refused with return code 1 (unacceptable protocol
        version, MQTT 3.1.1 §3.2.2.3). Once per attempt."""
        attempt = self.attempt
        if (
            self.settings.protocol == "auto"
            and isinstance(error, ServerRefused)
            and int(error.return_code) == 1
            and attempt is not None
            and attempt.session.connect_packet.protocol_level == 4
        ):
            _log.debug("protocol auto: MQTT 3.1.1 refused with return code 1; trying MQTT 3.1")
            self._fallback = True
            return True
        return False

    def failed(self, error: Error, now: float) -> float | None:
        """An attempt to connect again (after the fallback, if any) ended before it was
        accepted: the delay before the next, or None to stop. The first connection is
        never retried: the caller hears why."""
        if not self.connections:
            return None
        return self._again(error, now)

    def ended(self, error: Error | None, now: float) -> float | None:
        """An accepted connection ended (``error`` None: by our DISCONNECT): a delay
        before the next attempt, or None to stop."""
        if error is None:
            return None
        return self._again(error, now)

    def diagnose(self, error: BaseException) -> Diagnosis:
        """(exit status, category, sentence) for what ended the latest attempt, or its
        connection; before any attempt (settings refused), for ``error`` alone."""
        if self.attempt is None:
            from .diagnose import diagnose

            return diagnose(error)
        return self.attempt.diagnose(error)

    def stop(self) -> None:
        """Our own disconnect was asked: no attempt follows."""
        self.stopped = True

    def events(self) -> list[Event]:
        """The events since the last call, in order."""
        events, self._events = self._events, None
        return events or []

    def _again(self, error: Error, now: float) -> float | None:
        again = self.settings.reconnect if self.reconnect is None else self.reconnect
        if self.stopped or not again:
            return None
        policy = self._reconnect_policy()
        suspected = policy.takeover_suspected
        delay = policy.ended(error, now)
        events = self._events = self._events or []
        if delay is None:
            events.append(GivingUp(error))
            # The end of this client: a driver that asked again would get no attempt.
            self.stopped = True
            return None
        if policy.takeover_suspected and not suspected:
            events.append(TakeoverSuspected(self.client_id or ""))
        events.append(Reconnecting(error, delay, policy.attempt))
        return delay

    def _reconnect_policy(self) -> Reconnect:
        if self._policy is None:
            if self._random is None:
                import random

                self._random = random.random
            settings = self.settings
            self._policy = Reconnect(
                settings.reconnect_min_delay, settings.reconnect_max_delay, random=self._random
            )
            if self._opened_at is not None:
                self._policy.connected(self._opened_at)
                self._opened_at = None
        return self._policy
