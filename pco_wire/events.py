"""Every event a client emits, as values: equality and repr from ``Record``.

The session emits the first six (its state and traffic), the supervisor the last five
(reconnection, and failover along a list of servers). The blocking ``Client`` hands them
to ``on_event``; the asyncio ``Client`` yields them from ``events()``. Both get the
same objects from the same pure code.
"""

from __future__ import annotations

from ._record import Record

TYPE_CHECKING = False
if TYPE_CHECKING:
    from .errors import Error
    from .packets import OtherPacket

__all__ = [
    "Closed",
    "Connected",
    "Event",
    "Failover",
    "GivingUp",
    "PacketReceived",
    "PingSent",
    "PongReceived",
    "Reauthenticated",
    "Reconnecting",
    "SessionEvent",
    "TakenOver",
    "TakeoverSuspected",
]


class Event(Record):
    """The base of every event."""

    __slots__ = ()


class Connected(Event):
    """CONNACK with return code 0 arrived."""

    __slots__ = ("session_present",)
    _fields = __slots__

    def __init__(self, session_present: bool) -> None:
        self.session_present = session_present


class PingSent(Event):
    """A PINGREQ was queued at ``at``, because ``keep_alive`` passed or on request."""

    __slots__ = ("at",)
    _fields = __slots__

    def __init__(self, at: float) -> None:
        self.at = at


class PongReceived(Event):
    """The PINGRESP to the oldest outstanding PINGREQ arrived ``round_trip`` seconds
    after it."""

    __slots__ = ("round_trip",)
    _fields = __slots__

    def __init__(self, round_trip: float) -> None:
        self.round_trip = round_trip


class Reauthenticated(Event):
    """MQTT 5.0: the server accepted our re-authentication (AUTH 0x00), ``round_trip``
    seconds after our AUTH 0x19, in ``steps`` challenges."""

    __slots__ = ("round_trip", "steps")
    _fields = __slots__

    def __init__(self, round_trip: float, steps: int) -> None:
        self.round_trip = round_trip
        self.steps = steps


class PacketReceived(Event):
    """A packet of another type (a stored PUBLISH, say) arrived; it is counted, not an error."""

    __slots__ = ("packet",)
    _fields = __slots__

    def __init__(self, packet: OtherPacket) -> None:
        self.packet = packet


class Closed(Event):
    """The session ended. ``error`` is None after our own ``disconnect()``; otherwise it
    says why: ServerRefused, ResponseTimeout, ConnectionClosed, a RemoteProtocolError, or
    whatever transport error the driver reported."""

    __slots__ = ("error",)
    _fields = __slots__

    def __init__(self, error: Error | None) -> None:
        self.error = error


class Reconnecting(Event):
    """The connection (or the last attempt) ended with ``error``; attempt ``attempt``
    follows in ``delay`` seconds."""

    __slots__ = ("error", "delay", "attempt")
    _fields = __slots__

    def __init__(self, error: Error, delay: float, attempt: int) -> None:
        self.error = error
        self.delay = delay
        self.attempt = attempt


class Failover(Event):
    """Several servers: the one at ``left`` failed with ``error`` (an attempt, or the
    connection it had accepted); the next of the list, ``server_uri`` (its place
    ``position`` from 1 of ``count``), is tried at once. A Reconnecting follows only when
    a whole round of the list failed."""

    __slots__ = ("error", "left", "server_uri", "position", "count")
    _fields = __slots__

    def __init__(self, error: Error, left: str, server_uri: str, position: int, count: int) -> None:
        self.error = error
        self.left = left
        self.server_uri = server_uri
        self.position = position
        self.count = count


class TakeoverSuspected(Event):
    """The server keeps ending accepted connections soon after CONNACK: another client
    probably uses the same client ID (MQTT 3.1.1 §3.1.4)."""

    __slots__ = ("client_id",)
    _fields = __slots__

    def __init__(self, client_id: str) -> None:
        self.client_id = client_id


class TakenOver(Event):
    """MQTT 5.0: the server ended the connection with DISCONNECT 0x8E, session taken over:
    another client connected with client ID ``client_id`` (§3.14.2.1). Said by the server,
    not guessed; ``reason_string`` is its own word, if any."""

    __slots__ = ("client_id", "reason_string")
    _fields = __slots__

    def __init__(self, client_id: str, reason_string: str | None = None) -> None:
        self.client_id = client_id
        self.reason_string = reason_string


class GivingUp(Event):
    """No further attempt: ``error`` is one that retrying cannot fix."""

    __slots__ = ("error",)
    _fields = __slots__

    def __init__(self, error: Error) -> None:
        self.error = error


#: What a session emits (the supervisor adds Reconnecting, Failover, TakeoverSuspected,
#: TakenOver, GivingUp).
SessionEvent = Connected | PingSent | PongReceived | PacketReceived | Reauthenticated | Closed
