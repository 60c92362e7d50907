"""When to connect again after a connection ended: backoff, what not to retry, takeover.

Pure like the session: it is told what happened and when (``now``), and answers with the
delay before the next attempt, or None to stop; the random source is given, so tests can
fix it. The blocking client sleeps, the policy decides.

- Exponential backoff with full jitter: before attempt n (counting from 1 after the last
  accepted CONNACK) wait a uniformly drawn time between ``min_delay`` and
  ``min(max_delay, min_delay * 2**n)``. Only a CONNACK with return code 0 resets n.
- Refusals that retrying cannot fix stop: the table of codes (``reasons.py``, its
  ``retry`` column) says which. In 3.1.1: CONNACK 1 (unacceptable protocol version; the
  fallback of protocol "auto" is tried within the attempt), 2 (identifier rejected), 4
  (bad user name or password), 5 (not authorised); in 5.0: 0x84 unsupported protocol
  version, 0x85 client identifier not valid, 0x86 bad user name or password, 0x87 not
  authorized, 0x8A banned, 0x8C bad authentication method, and the codes that say our
  CONNECT is wrong (0x81, 0x82, 0x90, 0x95, 0x99, 0x9A, 0x9B) or that the server moved
  for good (0x9D). Settings that are invalid stop too. 0x88 server unavailable, 0x89
  server busy, 0x97 quota exceeded, 0x9F connection rate exceeded (and CONNACK 3), and
  every network, TLS or protocol fault are retried with the backoff. A DISCONNECT from
  the server is judged by the same column: 0x8B server shutting down, 0x8D keep alive
  timeout, 0x8E session taken over (below), 0x98 administrative action, ... are retried;
  0x87 and the codes that say our packets were wrong (0x81, 0x82, 0x90, 0x95, 0x99, 0x9A,
  0x9B), 0x8C and 0x9D stop.
- Client-ID takeover: a connection that the server ends shortly after accepting it, again
  and again, is what a broker does when another client connects with the same ID (it
  drops the older one, MQTT 3.1.1 §3.1.4). After ``TAKEOVER_COUNT`` such ends in a row the
  policy says so once, and waits the maximum delay from then on, so that two gateways with
  one ID do not throw each other off as fast as they can. A connection that lasts longer,
  or ends another way, clears the count. In MQTT 5.0 the server says it: DISCONNECT 0x8E
  (session taken over) is a takeover at once, not a guess (``takeover_said``), and waits
  the maximum delay as well.
"""

from __future__ import annotations

from .errors import (
    ConnectionClosed,
    Error,
    InvalidPacket,
    InvalidSettings,
    ServerDisconnected,
    ServerRefused,
)
from .reasons import REASONS, RETURN_CODES, ReasonCode

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable

__all__ = [
    "DEFAULT_MAX_DELAY",
    "DEFAULT_MIN_DELAY",
    "FATAL_REASON_CODES",
    "FATAL_RETURN_CODES",
    "TAKEOVER_COUNT",
    "TAKEOVER_WINDOW",
    "Reconnect",
    "retryable",
]

DEFAULT_MIN_DELAY = 1.0
DEFAULT_MAX_DELAY = 120.0
#: CONNACK return codes that a retry cannot change (MQTT 3.1.1 §3.2.2.3), from the table.
#: 1 (unacceptable protocol version) is among them: with protocol "auto" the one retry in
#: MQTT 3.1 happens inside the attempt.
FATAL_RETURN_CODES = frozenset(code for code, r in RETURN_CODES.items() if code and not r.retry)
#: MQTT 5.0 reason codes that a retry cannot change, in a CONNACK or a DISCONNECT.
FATAL_REASON_CODES = frozenset(code for code, r in REASONS.items() if code >= 0x80 and not r.retry)
#: A connection the server ends within this many seconds of its CONNACK counts toward a
#: suspected takeover.
TAKEOVER_WINDOW = 10.0
TAKEOVER_COUNT = 3


class Reconnect:
    """The reconnection policy of one client.

    ``connected(now)`` when a CONNACK 0 arrives; ``ended(error, now)`` when a connection
    or an attempt ends, which returns the delay before the next attempt or None to stop.
    ``takeover_suspected`` turns True (and stays) once the pattern was seen; read it
    after ``ended`` to say so.
    """

    __slots__ = (
        "min_delay",
        "max_delay",
        "_random",
        "attempt",
        "takeover_suspected",
        "takeover_said",
        "_connected_at",
        "_short_lived",
    )

    def __init__(
        self,
        min_delay: float = DEFAULT_MIN_DELAY,
        max_delay: float = DEFAULT_MAX_DELAY,
        *,
        random: Callable[[], float],
    ) -> None:
        """``random`` returns floats in [0, 1): ``random.random`` of the standard library,
        or a fixed sequence in tests. Raises ValueError unless 0 < min_delay <= max_delay."""
        if not 0 < min_delay <= max_delay:
            raise ValueError(f"expected 0 < min_delay <= max_delay, got {min_delay}, {max_delay}")
        self.min_delay = min_delay
        self.max_delay = max_delay
        self._random = random
        self.attempt = 0
        self.takeover_suspected = False
        #: The latest end was a DISCONNECT 0x8E: the server said another client took over.
        self.takeover_said = False
        self._connected_at: float | None = None
        self._short_lived = 0

    def connected(self, now: float) -> None:
        self.attempt = 0
        self._connected_at = now

    def ended(self, error: Error | None, now: float) -> float | None:
        """The delay in seconds before the next attempt, or None: stop (our own
        disconnect, or a refusal that retrying cannot fix)."""
        connected_at, self._connected_at = self._connected_at, None
        if error is None or isinstance(error, (InvalidSettings, InvalidPacket)):
            return None
        self.takeover_said = False
        if not retryable(error):
            return None
        if isinstance(error, ServerDisconnected) and error.reason_code == 0x8E:
            self.takeover_said = True
            self._connected_at = None
            self.attempt += 1
            return self.max_delay
        if connected_at is not None:
            # The server ended an accepted connection: a takeover if it keeps doing so soon.
            if isinstance(error, ConnectionClosed) and now - connected_at < TAKEOVER_WINDOW:
                self._short_lived += 1
                if self._short_lived >= TAKEOVER_COUNT:
                    self.takeover_suspected = True
            else:
                self._short_lived = 0
        if self.takeover_suspected and self._short_lived:
            self.attempt += 1
            return self.max_delay
        # n counts from 1, so that even the first wait is drawn (from [min, 2 min]): a fleet
        # of gateways that lost one broker does not come back at the same instant.
        self.attempt += 1
        ceiling = min(self.max_delay, self.min_delay * 2.0 ** min(self.attempt, 60))
        return self.min_delay + (ceiling - self.min_delay) * self._random()


def retryable(error: Error) -> bool:
    """Whether another attempt may end otherwise, as far as the server's code says."""
    if isinstance(error, ServerRefused):
        code = int(error.return_code)
        table = REASONS if isinstance(error.return_code, ReasonCode) else RETURN_CODES
        reason = table.get(code)
        return reason is None or reason.retry
    if isinstance(error, ServerDisconnected):
        reason = REASONS.get(int(error.reason_code))
        return reason is None or reason.retry
    return True
