"""Locust users that open and hold pco_wire connections: ``MqttUser``.

Locust (https://locust.io, the ``locust`` extra, never a dependency of pco_wire) runs the
users and, in its master/worker mode, spreads them over processes and machines; this
module only opens, holds and closes connections, and reports what they measured into
Locust's statistics as request events:

- request type ``CONNECT``, one event per phase of each attempt (``name resolution``,
  ``TCP connect``, ``TLS handshake``, ``WebSocket upgrade``, ``CONNACK``: the phases
  ``test`` reports, as the driver timed them) and ``total``, from the start of the
  attempt to its CONNACK. A failed attempt is one failure, on ``total``, whose exception
  (``Failure``) is ``test``'s diagnosis: its category and sentence; the phases it
  completed are counted as they went.
- request type ``PINGREQ``, name ``PINGRESP``: the round trip of each PINGREQ, sent every
  ``ping_interval`` seconds (or by the keep-alive); one never answered is a failure.
- request type ``SESSION``, name ``connection lost``: a held connection that ended by the
  server or the network, with the diagnosis; the user connects again after
  ``retry_delay`` seconds.

A locustfile names the server with Locust's ``--host`` (an MQTT URI: mqtt://, mqtts://,
ws://, wss://) and sets the rest as class attributes::

    from pco_wire.locust import MqttUser

    class Gateway(MqttUser):
        keep_alive = 30
        ping_interval = 5.0
        settings_file = "broker.toml"   # TLS files, user name, password_env ...

Client IDs are ``client_id_prefix`` + ``w`` + Locust's worker index + ``n`` + a counter
of the process (``locustw1n17``): unique across the workers of one master, 1 to 23 of
[0-9A-Za-z] (MQTT 3.1.1 §3.1.3.1); a user keeps its ID when it connects again.

Why the blocking driver (pco_wire.sync), on gevent: Locust monkey-patches the standard
library when it is imported (``gevent.monkey.patch_all()``), and each user is a greenlet.
What the blocking driver waits with then yields to the other greenlets instead of
blocking the process: sockets and ``ssl`` are gevent's, ``select.poll`` is gevent's
cooperative one (gevent 1.5 on; where a gevent removes it, ``wait_ready`` takes
``select.select``, which gevent also patches, without the 1,024-descriptor limit of the
system call), ``time.sleep`` is a greenlet's sleep, and the thread a host-name lookup runs
in is a greenlet. The asyncio driver would need an event loop per greenlet or a loop
beside gevent's hub, and the blocking ``Client`` a thread per user that blocks signals
for the whole process (greenlets share the main thread): so each user drives its own
``Connection`` in its own greenlet, with the session's deadlines bounding every wait. None
of this patches anything in pco_wire: without gevent the same code blocks as before.

Percentiles in Locust's tables are whole milliseconds below 100 ms (Locust rounds each
sample into a bucket); the averages, minimums and maximums of its CSV files are exact, so
a 0.1 ms TCP connect on loopback shows a median of 0 and an average of 0.1. ``python -m
pco_wire bench`` reports the phases to the microsecond. A greenlet runs again only when
the others of its process let it: a phase's time includes the wait for a worker busy
with other users (TLS handshakes cost CPU), as every Locust user's does; Locust warns
when a worker's CPU passes 90 %, and more workers spread it.

When a user stops, DISCONNECT is sent (a user stopped while it connects just closes).
Locust stops a user by killing its greenlet; a kill that lands in the middle of a send
the server does not read would leave half a packet behind, and then the connection is
closed without DISCONNECT.
"""

from __future__ import annotations

import itertools
import logging
import time

try:
    from locust import User, constant, task
    from locust.exception import StopUser
except ImportError as exc:  # pragma: no cover - the extra not installed
    raise ImportError(
        "pco_wire.locust needs Locust (Python 3.11 or later): pip install 'pco_wire[locust]'"
    ) from exc

from .bench import MAX_CLIENT_ID
from .diagnose import diagnose as _diagnose_error
from .errors import Error, InvalidSettings, LocalProtocolError
from .events import Closed, PingSent, PongReceived
from .phases import PhaseName
from .settings import Settings, check_client_id
from .supervisor import Supervisor, prepare

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from .sync.connection import Connection

__all__ = [
    "CONNECT",
    "CONNECT_PHASES",
    "LOST",
    "PINGREQ",
    "PINGRESP",
    "SESSION",
    "TOTAL",
    "Failure",
    "MqttUser",
    "client_id",
]

#: Request types and names in Locust's statistics.
CONNECT = "CONNECT"
PINGREQ = "PINGREQ"
PINGRESP = str(PhaseName.PINGRESP)
SESSION = "SESSION"
TOTAL = "total"
LOST = "connection lost"
#: The phases of an attempt reported, in the order a connection goes through them.
CONNECT_PHASES = tuple(
    str(phase)
    for phase in (
        PhaseName.NAME_RESOLUTION,
        PhaseName.TCP_CONNECT,
        PhaseName.TLS_HANDSHAKE,
        PhaseName.WEBSOCKET_UPGRADE,
        PhaseName.CONNACK,
    )
)
#: What a prefix leaves room for within MAX_CLIENT_ID: a thousand workers with a million
#: users each.
_ROOM = "w999n999999"
#: The longest a task holds a connection before it returns to Locust, which stops a
#: user between two tasks when it stops gracefully (``--stop-timeout``).
HOLD_SLICE = 1.0

_log = logging.getLogger("pco_wire.locust")
#: The number of the next client ID of this process, whatever the user class.
_numbers = itertools.count()
#: Settings by (user class, host), checked once: thousands of users share them.
_prepared: dict[tuple[type[Any], str | None], Settings] = {}
#: User classes whose settings were refused, and said so.
_refused: set[type[Any]] = set()


class Failure(Exception):
    """What ended an attempt or a connection, as ``test`` says it: the exit status,
    the category and the sentence. Its repr is its text, which is what Locust shows in
    its failure table (and keys failures by)."""

    def __init__(self, code: int, category: str, sentence: str) -> None:
        super().__init__(code, category, sentence)
        self.code = code
        self.category = category
        self.sentence = sentence

    def __str__(self) -> str:
        return f"{self.category} (exit {self.code}): {self.sentence}"

    __repr__ = __str__


def client_id(prefix: str, worker: int, number: int) -> str:
    """``prefix`` + "w" + ``worker`` + "n" + ``number``: the letters keep worker 1's
    user 12 apart from worker 11's user 2. Raises InvalidSettings naming
    ``client_id_prefix`` when the ID breaks MQTT 3.1.1 §3.1.3.1's 23 of [0-9A-Za-z] (one
    sentence for every user, so that Locust counts them as one failure)."""
    if worker < 0 or number < 0:
        raise ValueError(f"expected a worker and a number from 0 on, got {worker}, {number}")
    if not isinstance(prefix, str) or (prefix and check_client_id(prefix) is not None):
        raise InvalidSettings(
            [("client_id_prefix", f"expected only 0-9, a-z and A-Z, got {prefix!r}")]
        )
    made = f"{prefix}w{worker}n{number}"
    if len(made) > MAX_CLIENT_ID:
        room = MAX_CLIENT_ID - len(_ROOM)
        raise InvalidSettings(
            [
                (
                    "client_id_prefix",
                    f"the client IDs are the prefix, 'w', the worker index, 'n' and a "
                    f"counter, at most {MAX_CLIENT_ID} characters in all: {prefix!r} leaves "
                    f"too few; use at most {room} characters",
                )
            ]
        )
    return made


class MqttUser(User):
    """A Locust user holding one pco_wire connection to Locust's host; see the module's
    docstring. Subclass it in a locustfile; a class attribute left None takes the value
    of ``settings_file`` (a pco_wire settings file, ``python -m pco_wire config``), and
    without one pco_wire's default."""

    abstract = True
    #: The users wait in their task, serving the connection: none between tasks.
    wait_time = constant(0)

    #: A pco_wire settings file (TOML): TLS files, user name, password_env, protocol...
    #: Locust's --host, when given, replaces its server_uri.
    settings_file: str | None = None
    client_id_prefix = "locust"
    #: Seconds between two PINGREQs of each user; None: only the keep-alive's.
    ping_interval: float | None = 5.0
    keep_alive: int | None = None
    clean_session: bool | None = None
    protocol: str | None = None
    username: str | None = None
    #: Better ``password_env`` (the name of an environment variable) than a password in
    #: the locustfile.
    password: str | None = None
    password_env: str | None = None
    response_timeout: float | None = None
    #: Seconds before a user whose attempt failed, or whose connection was lost, tries
    #: again.
    retry_delay = 1.0

    _OVERRIDES = (
        "keep_alive",
        "clean_session",
        "protocol",
        "username",
        "password",
        "password_env",
        "response_timeout",
    )

    def __init__(self, environment: Any) -> None:
        super().__init__(environment)
        self._settings: Settings | None = None
        self._client_id: str | None = None
        self._supervisor: Supervisor | None = None
        self._conn: Connection | None = None
        self._connected_at = 0.0
        #: When the oldest unanswered PINGREQ went out, and when the next one is due.
        self._ping_at: float | None = None
        self._ping_due: float | None = None

    # ------------------------------------------------------------------ settings

    def pco_settings(self) -> Settings:
        """This class's settings with Locust's host, checked (once per class and host).
        Raises InvalidSettings naming every bad field."""
        host = self.host or None
        key = (type(self), host)
        settings = _prepared.get(key)
        if settings is not None:
            return settings
        if self.settings_file is not None:
            from . import config

            settings, warnings = config.load(self.settings_file, check=False)
            for warning in warnings:
                _log.warning("%s", warning)
        else:
            settings = Settings(host or "")
        changes: dict[str, Any] = {
            name: getattr(self, name) for name in self._OVERRIDES if getattr(self, name) is not None
        }
        if host is not None:
            changes["server_uri"] = host
        settings = settings.replace(**changes, reconnect=False)
        interval = self.ping_interval
        if interval is not None and not (
            isinstance(interval, (int, float)) and 0 < interval < float("inf")
        ):
            raise InvalidSettings(
                [("ping_interval", f"expected seconds above 0, got {interval!r}")]
            )
        keep_alive = settings.keep_alive
        if interval is not None and isinstance(keep_alive, int) and 0 < keep_alive <= interval:
            raise InvalidSettings(
                [
                    (
                        "ping_interval",
                        f"expected an interval below the keep-alive ({keep_alive} s), got "
                        f"{interval:g} s: the keep-alive would send PINGREQ first",
                    )
                ]
            )
        # Every field checked, with an ID of the form of ours, before any traffic.
        prepare(settings, None if settings.server_assigns_id else client_id("x", 0, 0))
        _prepared[key] = settings
        return settings

    def _own_id(self, settings: Settings) -> str | None:
        if settings.server_assigns_id:
            return None  # MQTT 5.0 §3.1.3.1: the server assigns one
        if self._client_id is None:
            worker = getattr(self.environment.runner, "worker_index", 0)
            if worker < 0:
                raise RuntimeError("a Locust worker runs users before the master named it")
            self._client_id = client_id(self.client_id_prefix, worker, next(_numbers))
        return self._client_id

    # ------------------------------------------------------------------ Locust

    @task
    def hold(self) -> None:
        """Connect when not connected; else serve the connection for at most
        ``HOLD_SLICE`` seconds, sending the PINGREQs due."""
        if self._conn is None:
            if not self._connect():
                time.sleep(self.retry_delay)  # gevent's sleep: other users go on
            return
        self._serve()

    def on_stop(self) -> None:
        conn, self._conn = self._conn, None
        if conn is None:
            return
        try:
            # Not waiting for the server's close unless it left bytes unread: the stop
            # of thousands of users is not held up a round trip each.
            conn.disconnect(wait=False)
        finally:
            conn.stream.close()

    # ------------------------------------------------------------------ connecting

    def _fire(
        self, kind: str, name: str, seconds: float, exception: Exception | None = None
    ) -> None:
        self.environment.events.request.fire(
            request_type=kind,
            name=name,
            response_time=seconds * 1000,
            response_length=0,
            exception=exception,
            context={"client_id": self._client_id},
        )

    def _connect(self) -> bool:
        """One attempt, reported; whether it connected. Raises StopUser for settings
        that no attempt can fix."""
        from .sync.connection import connect, diagnose

        start = time.monotonic()
        phases: list[Any] = []
        supervisor: Supervisor | None = None
        failure: BaseException
        try:
            settings = self._settings or self.pco_settings()
            self._settings = settings
            supervisor = Supervisor(settings, self._own_id(settings), reconnect=False)
            conn = connect(supervisor, phases)
        except Error as exc:
            failure = exc
        except OSError as exc:  # not ours: no descriptor left, no memory for a buffer
            failure = exc
        else:
            end = time.monotonic()
            self._report_phases(phases)
            self._fire(CONNECT, TOTAL, end - start)
            self._supervisor = supervisor
            self._conn = conn
            self._connected_at = end
            self._ping_at = None
            self._ping_due = None if self.ping_interval is None else end + self.ping_interval
            self._events(conn.session.events())
            return True
        seconds = time.monotonic() - start
        self._report_phases(phases)
        if isinstance(failure, Error):
            if supervisor is not None:
                code, category, sentence = diagnose(supervisor, failure)
            else:
                code, category, sentence = _diagnose_error(failure)
        else:
            code, category, sentence = 3, "network-error", f"{type(failure).__name__}: {failure}"
        self._fire(CONNECT, TOTAL, seconds, Failure(code, category, sentence))
        if isinstance(failure, InvalidSettings):
            # Every attempt would fail alike: said once a class, and the user stops.
            if type(self) not in _refused:
                _refused.add(type(self))
                _log.error("%s: %s", type(self).__name__, sentence)
            raise StopUser()
        return False

    def _report_phases(self, phases: list[Any]) -> None:
        for phase in phases:
            if phase.ok and phase.name in CONNECT_PHASES:
                self._fire(CONNECT, str(phase.name), phase.seconds)

    # ------------------------------------------------------------------ holding

    def _serve(self) -> None:
        conn = self._conn
        assert conn is not None
        session = conn.session
        now = time.monotonic()
        due = self._ping_due
        interval = self.ping_interval
        if due is not None and interval is not None and now >= due:
            if self._ping_at is None:
                try:
                    session.ping(now=now)
                except LocalProtocolError:
                    pass  # not connected any more: the loop below hears how it ended
            # Paced from the plan, not from a late start, unless a whole one was missed.
            due += interval
            self._ping_due = due if due > now else now + interval
        limit = now + HOLD_SLICE
        if self._ping_due is not None:
            limit = min(limit, self._ping_due)
        while not session.closed:
            conn.step(limit=limit)
            self._events(session.events())
            if time.monotonic() >= limit:
                break
        if session.closed:
            self._conn = None
            conn.stream.close()
            time.sleep(self.retry_delay)

    def _events(self, events: list[Any]) -> None:
        for event in events:
            if isinstance(event, PingSent):
                if self._ping_at is None:
                    self._ping_at = event.at
            elif isinstance(event, PongReceived):
                self._ping_at = None
                self._fire(PINGREQ, PINGRESP, event.round_trip)
            elif isinstance(event, Closed) and event.error is not None:
                self._lost(event.error)

    def _lost(self, error: Error) -> None:
        supervisor = self._supervisor
        assert supervisor is not None
        code, category, sentence = supervisor.diagnose(error)
        now = time.monotonic()
        if self._ping_at is not None:
            self._fire(PINGREQ, PINGRESP, now - self._ping_at, Failure(code, category, sentence))
            self._ping_at = None
        self._fire(SESSION, LOST, now - self._connected_at, Failure(code, category, sentence))
