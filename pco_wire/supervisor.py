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

The fallback of protocol "auto" is part of one attempt, within its phases: MQTT 5.0
first; refused as an unsupported protocol version (reason code 0x84, or the 3.1.1 return
code 1 of a server that does not know 5.0) or closed at once without a word (older
brokers), MQTT 3.1.1 is asked at once; refused with return code 1, MQTT 3.1. So is a
redirect (MQTT 5.0 §4.11: CONNACK 0x9C/0x9D with a Server Reference) when the settings
allow following it. A delay of None means stop. The client identity is the
configuration's: a generated client ID is made once and kept for every later attempt,
and so is the TLS context.

Several servers (``settings.servers``, failover): an attempt that fails goes on to the
next server of the list at once (``fallback`` says so, with a Failover event), and a
lost connection starts a round with the server it had; only a round that failed on every
server is judged by the policy (by its first failure that retrying may mend), so the
backoff counts rounds, and the next round starts at the top of the list. A first
connection that fails on every server raises the first server's failure
(``round_error``), and its diagnosis names each (``covered``). A redirect counts as the
server that sent it; all servers share the client ID.
"""

from __future__ import annotations

from . import _log
from ._record import Record
from .auth import Authenticator
from .errors import (
    ConnectionClosed,
    Error,
    InvalidPacket,
    InvalidSettings,
    ServerDisconnected,
    ServerRefused,
)
from .events import Event, Failover, GivingUp, Reconnecting, TakenOver, TakeoverSuspected
from .phases import PhaseName
from .reasons import ReasonCode
from .reconnect import Reconnect, retryable
from .session import Session
from .settings import Settings, check_client_id, generate_client_id
from .uri import ServerURI, parse_uri

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable, Sequence
    from typing import Any, TypeGuard

    from .diagnose import Diagnosis
    from .phases import Phase
    from .transport.common import Probe

__all__ = ["MAX_REDIRECTS", "Attempt", "Supervisor", "prepare", "server_reference_uri"]

#: Redirects (MQTT 5.0 0x9C/0x9D) followed in a row before the next one is refused: two
#: servers that send clients to each other must not keep one going round.
MAX_REDIRECTS = 3


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
        "proxy",
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
        proxy: Any = None,
    ) -> None:
        self.settings = settings
        self.uri = uri
        self.client_id = client_id
        self.generated_id = generated_id
        self.session = session
        self.tls_context = tls_context
        self.warnings = warnings
        self.phases: list[Phase] = [] if phases is None else phases
        #: The ``proxy.Route`` the connection goes through, None: direct.
        self.proxy = proxy
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
            "proxy": self.proxy,
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
    if settings.server_assigns_id:
        # MQTT 5.0 §3.1.3.1: an empty client identifier, and the server assigns one; the
        # one it assigned (``client_id``, its own form) is sent again on a reconnection.
        uri = _check(settings)
        generated = False
        client_id = client_id or ""
    else:
        # A client ID given here obeys the rules of the settings' own.
        uri = _check_with_id(settings, client_id)
        generated = not (client_id or settings.client_id)
        client_id = client_id or settings.client_id or generate_client_id()
    packet = settings.connect_packet(client_id, protocol_level)
    authenticator = None
    method = packet.properties.authentication_method
    if packet.protocol_level == 5 and method is not None:
        # The data file was read once, for the CONNECT; its authenticator answers no
        # challenge.
        data = packet.properties.authentication_data
        authenticator = settings.authenticator or Authenticator(method, data)
    session = Session(
        packet,
        response_timeout=settings.response_timeout,
        max_packet_size=settings.max_packet_size,
        authenticator=authenticator,
    )
    if uri.tls and tls_context is None:
        if shared:
            tls_context = _context(settings)
        else:
            from .transport.tls import build_context

            tls_context = build_context(settings.security, settings.keyfile_password())
    warnings = _warnings(settings, uri, packet.password is not None)
    route, note = settings.proxy_route(uri)
    if note:
        warnings = [*warnings, note]
    return Attempt(
        settings, uri, client_id, generated, session, tls_context, warnings, phases, route
    )


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


def _check_with_id(settings: Settings, client_id: str | None) -> ServerURI:
    """``_check`` of the settings with ``client_id`` in place of their own. Two valid
    client IDs check alike (the rules see only the ID's own rule and whether one is
    given), so when both are valid, the settings' own check serves: the thousands of
    clients of ``bench``, one ID each, are checked once, not once each."""
    own = settings.client_id
    if client_id and client_id != own:
        if not (
            type(client_id) is str
            and type(own) is str
            and own
            and check_client_id(own) is None
            and check_client_id(client_id) is None
        ):
            settings = settings.replace(client_id=client_id)
    return _check(settings)


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
    if settings.proxy is not None and "@" in settings.proxy:
        from .proxy import ENV, parse_proxy

        if settings.proxy.strip().lower() != ENV and parse_proxy(settings.proxy).password:
            out.append(
                "a password in the proxy URL can be seen by other users of this machine: "
                "prefer --proxy-password-env or --proxy-password-file"
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
        "_at_once",
        "_redirect",
        "_redirects",
        "_events",
        "_servers",
        "_index",
        "_round",
        "_last_round",
        "_given_id",
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
        self._given_id = client_id
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
        #: The protocol level of the next attempt, asked at once: the fallback of "auto".
        self._fallback: int | None = None
        #: The next attempt goes on with the phases of the latest (``fallback``).
        self._at_once = False
        #: The server the next attempt goes to instead of the settings' (a redirect).
        self._redirect: str | None = None
        self._redirects = 0  # followed in a row, since the last accepted connection
        self._events: list[Event] | None = None  # made when there is one
        #: Several servers (failover): their URIs, or () for one server (the settings').
        servers = settings.servers if isinstance(settings, Settings) else ()
        self._servers: tuple[str, ...] = servers if len(servers) > 1 else ()
        #: The place in the list of the server of the next attempt.
        self._index = 0
        #: The failures of the round under way, in order: (attempt, error); a loss counts
        #: as the failure of its server (with the attempt that connected). A round is one
        #: failure per server of the list; the backoff counts rounds.
        self._round: list[tuple[Attempt, Error]] = []
        #: The round that failed last, for the diagnosis of its error.
        self._last_round: list[tuple[Attempt, Error]] = []

    def next_attempt(self, phases: list[Phase] | None = None) -> Attempt:
        """The next attempt, prepared: raises InvalidSettings, InvalidPacket. After a
        fallback, the phases go on in the same list as the attempt before. (After
        ``stop()`` or GivingUp the driver asks for none; a stop asked from another
        thread may cross an attempt under way, which ``failed``/``ended`` then end.)"""
        level = self._fallback
        if self._at_once and self.attempt is not None:
            phases = self.attempt.phases  # the same attempt, asked again
        self._fallback = None
        self._at_once = False
        self.attempt = None
        settings = self.settings
        if self._servers:
            # Every server of the list is checked before the first is tried (and the
            # problems name their place: server_uri[2]); then each is its own settings.
            if settings.server_assigns_id:
                _check(settings)
            else:
                _check_with_id(settings, self.client_id)
            settings = settings.for_server(self._servers[self._index])
        if self._redirect is not None:
            settings = settings.replace(server_uri=self._redirect)
        attempt = prepare(
            settings,
            self.client_id,
            level,
            tls_context=self._tls_context,
            phases=phases,
            shared=True,
        )
        if level is not None and level < 5:
            dropped = _dropped(settings, attempt)
            if dropped:
                attempt.warnings = (*attempt.warnings, dropped)
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
        self._redirects = 0
        self._round = []
        attempt = self.attempt
        if attempt is not None and not self.client_id:
            # A server-assigned identifier is kept for the next connections (§3.2.2.3.7:
            # the client uses it to resume the session); never written to a file.
            self.client_id = attempt.session.client_id or None
        if self._policy is None:
            self._opened_at = now
        else:
            self._policy.connected(now)

    def fallback(self, error: Error) -> bool:
        """Whether the attempt that ``error`` ended is asked again at once: the fallback
        of protocol "auto" (5.0 refused as an unsupported version or closed without a
        word: 3.1.1; 3.1.1 refused with return code 1: 3.1), or a redirect the settings
        allow following. Once per level; redirects up to ``MAX_REDIRECTS`` in a row."""
        attempt = self.attempt
        if attempt is None:
            return False
        level = attempt.session.connect_packet.protocol_level
        if self.settings.protocol == "auto":
            if level == 5 and _unsupported_level(error, attempt):
                _log.debug("protocol auto: MQTT 5.0 not accepted (%s); trying MQTT 3.1.1", error)
                _tell(attempt, f"{_answer(error)}; asking in MQTT 3.1.1")
                self._fallback = 4
                self._at_once = True
                return True
            if level == 4 and isinstance(error, ServerRefused) and int(error.return_code) == 1:
                _log.debug("protocol auto: MQTT 3.1.1 refused with return code 1; trying MQTT 3.1")
                _tell(attempt, f"{_answer(error)}; asking in MQTT 3.1")
                self._fallback = 3
                self._at_once = True
                return True
        self._at_once = self._follow(error)
        return self._at_once or self._next_server(attempt, error)

    def _next_server(self, attempt: Attempt, error: Error) -> bool:
        """Several servers: ``attempt`` failed; whether the next of the round is tried at
        once (False: the round is over, or the error is ours and would be everywhere)."""
        if not self._servers or isinstance(error, (InvalidSettings, InvalidPacket)):
            return False
        self._redirect = None  # a redirect that failed is its server's failure
        self._round.append((attempt, error))
        if len(self._round) >= len(self._servers) or self.stopped:
            return False
        self._advance(error, attempt.uri)
        return True

    def _advance(self, error: Error, left: ServerURI) -> None:
        """On to the next server of the list, said by a Failover event."""
        count = len(self._servers)
        self._index = (self._index + 1) % count
        if self.settings.server_assigns_id:
            # An identifier one server assigned is its own (§3.2.2.3.7): the next is
            # asked for one of its own.
            self.client_id = self._given_id
        uri = str(parse_uri(self._servers[self._index]))  # checked: never a secret shown
        _log.debug("%s failed (%s); trying %s", left, error, uri)
        events = self._events = self._events or []
        events.append(Failover(error, str(left), uri, self._index + 1, count))

    def _follow(self, error: Error) -> bool:
        """A redirect to follow now: sets the server of the next attempt."""
        attempt = self.attempt
        if (
            attempt is None
            or not getattr(self.settings, "follow_redirects", False)
            or not isinstance(error, (ServerRefused, ServerDisconnected))
        ):
            return False
        code = int(getattr(error, "return_code", getattr(error, "reason_code", 0)))
        reference = error.server_reference
        if code not in (0x9C, 0x9D) or not reference or self._redirects >= MAX_REDIRECTS:
            return False
        uri = server_reference_uri(reference, attempt.uri)
        if uri is None:
            return False
        try:
            _check(self.settings.replace(server_uri=uri))
        except InvalidSettings as exc:
            # The server's reference names no server we can reach (port 99999, a host
            # name of control characters): its refusal stands, and our settings are not
            # to blame (exit 2 would say they are).
            _log.debug("redirect by 0x%02X not followed: %s", code, exc)
            return False
        _log.debug("redirected by 0x%02X to %s", code, uri)
        _tell(attempt, f"reason code 0x{code:02X}; redirected to {uri}")
        self._redirects += 1
        self._redirect = uri
        return True

    def failed(self, error: Error, now: float) -> float | None:
        """An attempt to connect again (after the fallback, if any) ended before it was
        accepted: the delay before the next, or None to stop. The first connection is
        never retried: the caller hears why."""
        if self._servers:
            return self._round_over(error, now)
        if not self.connections:
            return None
        if self._redirect is not None:
            # The server we were sent to (MQTT 5.0 §4.11) did not take us: the next
            # attempt goes to the configured one again, so that one redirect to a server
            # that is down (or never was) does not strand the client there.
            _log.debug(
                "the redirect to %s failed (%s); back to the settings' server",
                self._redirect,
                error,
            )
            self._redirect = None
        return self._again(error, now)

    def ended(self, error: Error | None, now: float) -> float | None:
        """An accepted connection ended (``error`` None: by our DISCONNECT): a delay
        before the next attempt, or None to stop."""
        if error is None:
            return None
        # Several servers: a round begins with the server we had.
        return self._again(error, now, self.attempt if self._servers else None)

    def _round_over(self, error: Error, now: float) -> float | None:
        """Several servers: the last of a round failed (``error``, raised by the
        driver). The first connection is never retried; later, the policy judges the
        round by its first failure that retrying may mend, else by its first."""
        failures, self._round = self._round, []
        self._last_round = failures
        self._index = 0  # the next round from the top of the list: the first that works
        if not self.connections:
            return None
        errors = [failure for _, failure in failures]
        if not any(failure is error for failure in errors):
            errors = [error]  # ours (settings, a packet): the same on every server
        judged = next((e for e in errors if retryable(e)), errors[0])
        return self._again(judged, now)

    def round_error(self, error: Error) -> Error:
        """What a driver raises when ``error`` ended the last attempt of a connect: for
        the first connection to several servers, the first server's failure (the one a
        test of the list exits with; the diagnosis names every server's); ``error``
        itself otherwise."""
        if self._servers and not self.connections and self._round and self._round[-1][1] is error:
            return self._round[0][1]
        return error

    def covered(self, error: BaseException) -> list[tuple[Attempt, BaseException]]:
        """The attempts whose failures the diagnosis of ``error`` names, each with its
        error: the whole round when ``error`` is the first failure of a round that
        failed on every server, else the attempt it ended."""
        for failures in (self._round, self._last_round):
            if failures and failures[0][1] is error and len(failures) == len(self._servers):
                return list(failures)
            for attempt, failure in failures:
                if failure is error:
                    return [(attempt, failure)]
        return [] if self.attempt is None else [(self.attempt, error)]

    def diagnose(self, error: BaseException) -> Diagnosis:
        """(exit status, category, sentence) for what ended the latest attempt, or its
        connection; before any attempt (settings refused), for ``error`` alone."""
        covered = self.covered(error)
        if not covered:
            from .diagnose import diagnose

            return diagnose(error)
        if len(covered) == 1:
            return covered[0][0].diagnose(covered[0][1])
        # No server of the list accepted: the first one's status and category, and each
        # server's sentence in the order tried.
        code, category, _ = covered[0][0].diagnose(covered[0][1])
        said = "; ".join(
            f"({n}) {attempt.uri}: {attempt.diagnose(failure)[2]}"
            for n, (attempt, failure) in enumerate(covered, 1)
        )
        return code, category, f"no server of the list accepted the connection: {said}"

    def stop(self) -> None:
        """Our own disconnect was asked: no attempt follows."""
        self.stopped = True

    def events(self) -> list[Event]:
        """The events since the last call, in order."""
        events, self._events = self._events, None
        return events or []

    def _again(self, error: Error, now: float, lost: Attempt | None = None) -> float | None:
        """The delay after ``error``, and the events that say it; ``lost``: the attempt
        whose connection (to a server of a list) it ended."""
        again = self.settings.reconnect if self.reconnect is None else self.reconnect
        if self.stopped:
            return None
        events = self._events = self._events or []
        if not again:
            if _taken_over(error):  # said by the server: worth an event, retrying or not
                events.append(TakenOver(self.client_id or "", error.reason_string))
            return None
        if self._follow(error):
            # The server said where to go: at once, not after a backoff.
            events.append(Reconnecting(error, 0.0, self._reconnect_policy().attempt + 1))
            return 0.0
        if (
            lost is not None
            and not _taken_over(error)
            and not isinstance(error, (InvalidSettings, InvalidPacket))
        ):
            # Lost: the other servers of the list are tried at once, and only a whole
            # round failing waits a backoff step. (A takeover said by the server is not
            # run from: the other gateway would follow us there.) A redirect's connection
            # was its server's.
            self._redirect = None
            self._round = [(lost, error)]
            self._advance(error, lost.uri)
            return 0.0
        policy = self._reconnect_policy()
        suspected = policy.takeover_suspected
        delay = policy.ended(error, now)
        if delay is None:
            events.append(GivingUp(error))
            # The end of this client: a driver that asked again would get no attempt.
            self.stopped = True
            return None
        if policy.takeover_said:
            events.append(TakenOver(self.client_id or "", getattr(error, "reason_string", None)))
        elif policy.takeover_suspected and not suspected:
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


def _taken_over(error: Error) -> TypeGuard[ServerDisconnected]:
    """MQTT 5.0 §3.14.2.1: DISCONNECT 0x8E, session taken over."""
    return isinstance(error, ServerDisconnected) and error.reason_code == 0x8E


def _unsupported_level(error: Error, attempt: Attempt) -> bool:
    """Whether ``error`` says the server does not speak MQTT 5.0: reason code 0x84, the
    3.1.1 return code 1, or a close right after CONNECT with not a byte of answer (what
    brokers older than 5.0 do with a protocol level they do not know)."""
    if isinstance(error, ServerRefused):
        return int(error.return_code) in (0x84, 1)
    return (
        isinstance(error, ConnectionClosed)
        and error.phase == PhaseName.CONNACK
        and not error.websocket
        and not attempt.session.head
    )


def _answer(error: Error) -> str:
    """What the server answered, in a few words, for the phase that it ended."""
    if isinstance(error, ServerRefused):
        code = error.return_code
        if isinstance(code, ReasonCode):
            return f"reason code 0x{int(code):02X}"
        return f"return code {int(code)}"
    return "closed without an answer"


def _tell(attempt: Attempt, text: str) -> None:
    """Say in the failed phase that ended ``attempt`` why the next one follows in the
    same list (a fallback, a redirect)."""
    phases = attempt.phases
    if phases and not phases[-1].ok:
        last = phases[-1]
        last.detail = f"{last.detail}; {text}" if last.detail else text


def _dropped(settings: Settings, attempt: Attempt) -> str:
    """The warning for MQTT 5.0 settings a fallback to 3.1.1 or 3.1 cannot send."""
    try:
        changed = settings.connect_packet(attempt.client_id or "x", 5).properties.changed()
    except Exception:  # settings a level-5 CONNECT refuses: nothing was sent at 5 either
        return ""
    changed.pop("maximum_packet_size", None)  # ours, enforced whatever the version
    if not changed:
        return ""
    level = "3.1.1" if attempt.session.connect_packet.protocol_level == 4 else "3.1"
    return (
        f"the server does not speak MQTT 5.0: connected in MQTT {level}, without "
        f"{', '.join(name.replace('_', ' ') for name in changed)}"
    )


def server_reference_uri(reference: str, uri: ServerURI) -> str | None:
    """The URI a Server Reference (MQTT 5.0 §4.11) points to from ``uri``: the first of
    its space-separated references, a URI of our four schemes or a ``host[:port]`` (an
    IPv6 address in brackets) reached with ``uri``'s scheme, port and path. None when it
    is neither."""
    first = reference.split(" ", 1)[0].strip()
    if not first or any(ord(c) < 0x21 or ord(c) == 0x7F for c in first):
        return None
    if "://" in first:
        scheme = first.split("://", 1)[0].lower()
        return first if scheme in ("mqtt", "mqtts", "ws", "wss") else None
    host, port = first, uri.port
    if first.startswith("["):
        end = first.find("]")
        if end < 0:
            return None
        host, rest = first[: end + 1], first[end + 1 :]
        if rest:
            if not rest.startswith(":") or not rest[1:].isdigit():
                return None
            port = int(rest[1:])
    elif first.count(":") == 1:
        host, _, text = first.partition(":")
        if not text.isdigit():
            return None
        port = int(text)
    elif ":" in first:
        host = f"[{first}]"  # a bare IPv6 address
    if not host or "/" in host or "@" in host:
        return None
    path = uri.resource if uri.websocket else ""
    return f"{uri.scheme}://{host}:{port}{path}"
