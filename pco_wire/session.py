"""The client session: MQTT connection state without I/O and without a clock.

Commands (``connect``, ``ping``, ``disconnect``, ``connection_lost``) and input
(``receive_data``, ``handle_timer``) all take ``now``, a float in seconds from any monotonic
clock; output is ``data_to_send()``, ``events()`` and ``next_deadline()``. A driver sends
what is pending, hands the events on, waits for bytes until the next deadline, feeds what
arrived (or the timer), and repeats. The session makes every protocol decision; the driver
makes none.

State::

    IDLE --connect()--> CONNECTING --CONNACK 0--> CONNECTED
                            |                         |
                            +--- refusal, timeout, ---+--> CLOSED
                                 peer closed, bad bytes,
                                 disconnect()
"""

from __future__ import annotations

import enum

from .codec import DEFAULT_MAX_PACKET_SIZE, Framer, encode
from .errors import (
    AuthenticationError,
    ConnectionClosed,
    Error,
    LocalProtocolError,
    MalformedPacket,
    ProtocolViolation,
    RemoteProtocolError,
    ResponseTimeout,
    ServerDisconnected,
    ServerRefused,
    UnexpectedPacket,
)
from .events import (
    Closed,
    Connected,
    PacketReceived,
    PingSent,
    PongReceived,
    Reauthenticated,
    SessionEvent,
)
from .packets import (
    DISCONNECT,
    PINGREQ,
    Auth,
    AuthProperties,
    ConnAck,
    ConnAckCode,
    Connect,
    Disconnect,
    OtherPacket,
    PacketType,
    PingResp,
    ReasonCode,
)
from .phases import PhaseName

TYPE_CHECKING = False
if TYPE_CHECKING:
    from .auth import Authenticator

__all__ = [
    "DEFAULT_RESPONSE_TIMEOUT",
    "MAX_UNANSWERED",
    "Session",
    "State",
    "ping_margin",
]

#: Seconds the server has to answer CONNECT and PINGREQ unless told otherwise.
DEFAULT_RESPONSE_TIMEOUT = 10.0
#: PINGREQs left unanswered, each a keep-alive interval after the last, before the
#: session gives up on a server that keeps sending but never answers them.
MAX_UNANSWERED = 100


class State(enum.Enum):
    IDLE = "idle"
    CONNECTING = "connecting"
    CONNECTED = "connected"
    CLOSED = "closed"


def ping_margin(keep_alive: int) -> float:
    """How long before the keep-alive interval ends the PINGREQ goes out.

    MQTT 3.1.1 §3.1.2.10: no gap between two client packets may exceed the interval.
    The margin absorbs a late timer and the time to write the packet, and stays small so
    that a gateway on a metered link does not pay for pings it did not need: a tenth of
    the interval, at most one second.
    """
    return min(1.0, keep_alive / 10)


class Session:
    """One MQTT connection, from CONNECT to its end. Not reusable: a reconnect is a new
    session (with the same ``Connect``).

    ``response_timeout`` (seconds) bounds the wait for CONNACK, counted from ``connect()``,
    and for each PINGRESP, counted from its PINGREQ or from the last packet the server
    sent, whichever is later: a server that is still sending a backlog (a persistent
    session's messages, a busy topic) answers in turn, and is late, not gone; one that
    falls silent is gone. ``keep_alive`` comes from the ``Connect`` packet and holds
    whatever the answers do: when a PINGRESP is late by a whole keep-alive interval,
    another PINGREQ goes out (MQTT 3.1.1 §3.1.2.10), up to ``MAX_UNANSWERED``.
    """

    __slots__ = (
        "_auth",
        "_connack_deadline",
        "_connect_bytes",
        "_disconnected",
        "_events",
        "_framer",
        "_head",
        "_heard",
        "_margin",
        "_out",
        "_pings",
        "_received",
        "accepted",
        "authenticator",
        "client_id",
        "connack",
        "connect_packet",
        "error",
        "head",
        "keep_alive",
        "last_sent",
        "other_packets",
        "response_timeout",
        "session_present",
        "state",
    )

    def __init__(
        self,
        connect: Connect,
        *,
        response_timeout: float = DEFAULT_RESPONSE_TIMEOUT,
        max_packet_size: int = DEFAULT_MAX_PACKET_SIZE,
        authenticator: Authenticator | None = None,
    ) -> None:
        """Raises InvalidPacket if ``connect`` cannot be encoded, LocalProtocolError if
        ``response_timeout`` is not a positive number or ``authenticator`` does not match
        the CONNECT's Authentication Method.

        MQTT 5.0: ``max_packet_size`` is the limit on what we receive (a larger packet
        gets DISCONNECT 0x95, then close); ``authenticator`` answers the server's AUTH
        challenges (its method is the CONNECT's)."""
        if (
            isinstance(response_timeout, bool)
            or not isinstance(response_timeout, (int, float))
            or not 0 < response_timeout < float("inf")
        ):
            raise LocalProtocolError(
                f"expected a positive response_timeout, got {response_timeout!r}"
            )
        self._connect_bytes = encode(connect)  # refuses a bad CONNECT before anything else
        self.connect_packet = connect
        method = connect.properties.authentication_method
        if authenticator is not None and authenticator.method != method:
            raise LocalProtocolError(
                f"expected the authenticator of method {method!r}, got {authenticator.method!r}"
            )
        self.authenticator = authenticator
        #: The client identifier in use: the CONNECT's, or the server's Assigned Client
        #: Identifier (MQTT 5.0 §3.2.2.3.7) once the CONNACK gave one.
        self.client_id = connect.client_id
        #: A re-authentication under way: [when our AUTH 0x19 went out, when our last
        #: AUTH did (the answer is due a response timeout after it), challenges so far].
        self._auth: list[float] | None = None
        self.response_timeout = float(response_timeout)
        self.keep_alive = connect.keep_alive
        self._margin = ping_margin(self.keep_alive)
        self._framer = Framer(max_packet_size, connect.protocol_level)
        self.state = State.IDLE
        #: Why the session closed; None while it runs and after our own disconnect().
        self.error: Error | None = None
        self.session_present = False
        #: A CONNACK with return code 0 arrived (the session may have ended since).
        self.accepted = False
        #: The server's CONNACK, accepting or refusing; None before it.
        self.connack: ConnAck | None = None
        #: Packets of other types received (stored PUBLISH and the like).
        self.other_packets = 0
        #: When the client last queued a packet: the keep-alive interval counts from it.
        self.last_sent: float | None = None
        self._connack_deadline: float | None = None
        #: When each unanswered PINGREQ was queued, oldest first.
        # The three below hold nothing most of the time: None or an empty bytes cost
        # nothing, where a list costs 56 bytes a held connection (a deque 600).
        self._pings: list[float] | None = None
        #: When the server's last complete packet arrived.
        self._heard: float | None = None
        #: The first bytes the server sent: a TLS or HTTP answer to CONNECT is told from
        #: an MQTT one by them (see ``diagnose``).
        self.head = b""
        self._disconnected = False
        self._received = 0
        #: The first bytes (up to a fixed header) of the incomplete packet the framer holds.
        self._head = b""
        self._out = b""
        self._events: list[SessionEvent] | None = None

    # ------------------------------------------------------------------ commands

    def connect(self, *, now: float) -> None:
        """Queue CONNECT; CONNACK is due within the response timeout.

        The driver calls this right before it writes the bytes: the deadline counts from
        ``now``. Raises LocalProtocolError unless the session is new.
        """
        if self.state is not State.IDLE:
            raise LocalProtocolError(
                f"connect() needs a new session, this one is {self.state.value}"
            )
        self.state = State.CONNECTING
        self._send(self._connect_bytes, now)
        self._connect_bytes = b""  # sent once; a held connection need not keep them
        self._connack_deadline = now + self.response_timeout

    def ping(self, *, now: float) -> None:
        """Queue a PINGREQ now, whatever the keep-alive says.

        Raises LocalProtocolError unless connected with no PINGREQ outstanding.
        """
        if self.state is not State.CONNECTED:
            raise LocalProtocolError(
                f"ping() needs a connected session, this one is {self.state.value}"
            )
        if self._pings:
            raise LocalProtocolError("ping() while a PINGREQ is outstanding")
        self._ping(now)

    def reauthenticate(self, *, now: float) -> None:
        """MQTT 5.0 §4.12.1: queue AUTH 0x19 (Re-authenticate) with the authenticator's
        method and data; the server's AUTH 0x00 is due within the response timeout,
        counted afresh at each challenge it sends (AUTH 0x18) and we answer.

        Raises LocalProtocolError unless connected at level 5 with an authenticator and
        no re-authentication under way."""
        if self.state is not State.CONNECTED:
            raise LocalProtocolError(
                f"reauthenticate() needs a connected session, this one is {self.state.value}"
            )
        if self.authenticator is None:
            raise LocalProtocolError("reauthenticate() needs an authenticator (MQTT 5.0)")
        if self._auth is not None:
            raise LocalProtocolError("reauthenticate() while a re-authentication is under way")
        self._send_auth(ReasonCode.RE_AUTHENTICATE, self.authenticator.data, now)
        self._auth = [now, now, 0]

    def disconnect(self, *, now: float) -> None:
        """Queue DISCONNECT (when a CONNECT went out and was not refused) and close.

        Closing twice is allowed and does nothing the second time.
        """
        if self.state is State.CLOSED:
            return
        if self.state is not State.IDLE:
            self._send(encode(DISCONNECT), now)
            self._disconnected = True
        self._close(None)

    def connection_lost(self, error: Error, *, now: float) -> None:
        """The driver's report that the stream failed (reset, TLS alert, ...)."""
        if self.state is not State.CLOSED:
            self._close(error)

    # ------------------------------------------------------------------ input

    def receive_data(self, data: bytes, *, now: float) -> None:
        """Bytes from the server; ``b""`` means it closed the stream.

        Raises LocalProtocolError before ``connect()``.
        """
        if self.state is State.CLOSED:
            return
        if self.state is State.IDLE:
            raise LocalProtocolError("receive_data() before connect()")
        if not data:
            if self.state is State.CONNECTING:
                reason = "the server closed the connection without answering CONNECT"
            else:
                reason = "the server closed the connection"
            self._close(ConnectionClosed(self._phase(), reason))
            return
        if len(self.head) < 8:
            self.head += data[: 8 - len(self.head)]
        if (
            self.state is State.CONNECTING
            and self._received == 0
            and self.connect_packet.protocol_level == 5
            and data[:2] == b"\x20\x02"
            and data[3:4] == b"\x01"
        ):
            # An MQTT 3.1.1 server refusing level 5 answers in its own format: return code
            # 1, unacceptable protocol version (MQTT 3.1.1 §3.1.2.2); a 5.0 CONNACK is
            # never 2 bytes long (it has a property length) and 0x01 is no 5.0 reason code.
            self._received = len(data)
            self._close(ServerRefused(ConnAckCode.UNACCEPTABLE_PROTOCOL_VERSION))
            return
        if (
            self.state is State.CONNECTING
            and self._received == 0
            and data[0] >> 4 != 2
            and (self.connect_packet.protocol_level != 5 or data[0] >> 4 not in (14, 15))
        ):
            # MQTT 3.1.1 §3.2: the server's first packet is a CONNACK, whose first byte is
            # 0x20; anything else is known to be wrong before the rest of it arrives. In
            # 5.0 it may be AUTH (§4.12) or a DISCONNECT saying why.
            kind = data[0] >> 4
            self._received = len(data)
            if 1 <= kind <= 14:
                error: Error = UnexpectedPacket(
                    f"expected CONNACK first, got {PacketType(kind).name}", 0
                )
            else:
                error = MalformedPacket(f"expected a packet type 1..14, got {kind} (reserved)", 0)
            self._close(error)
            return
        framer = self._framer
        held = framer.buffered  # bytes of a packet begun in an earlier chunk
        start = self._received - held  # where the first packet of this call begins
        self._received += len(data)
        try:
            packets = framer.feed(data)
        except RemoteProtocolError as exc:
            self._fault(exc, now)  # the fault came before any packet completed
            return
        if packets:
            self._heard = now
            head = self._head
            buffered = framer.buffered
            # The first bytes of the incomplete packet the framer now holds: its fixed
            # header, all that _starts needs of it should it be followed by a fault.
            held_from = len(data) - buffered
            self._head = data[held_from : held_from + 5] if buffered else b""
            for index, packet in enumerate(packets):
                try:
                    self._handle(packet, now)
                except (UnexpectedPacket, ProtocolViolation) as exc:
                    exc.offset = start + _starts(head, held, data)[index]
                    exc.args = (exc.args[0], exc.offset)
                    self._fault(exc, now)
                if self.closed:
                    return  # what follows a refusal or an error is not read
        elif len(self._head) < 5:
            self._head += data[: 5 - len(self._head)]
        fault = framer.error
        if fault is not None:
            self._fault(fault, now)  # after the packets that came whole before it

    def handle_timer(self, *, now: float) -> None:
        """Act on whatever deadline has passed by ``now``; calling it early is harmless."""
        if self.state is State.CONNECTING:
            assert self._connack_deadline is not None
            if now >= self._connack_deadline:
                self._close(ResponseTimeout(PhaseName.CONNACK, self.response_timeout))
        elif self.state is State.CONNECTED:
            if self._auth is not None and now >= self._auth[1] + self.response_timeout:
                self._close(ResponseTimeout(PhaseName.AUTH, self.response_timeout))
            elif self._pings and now >= self._pong_deadline():
                self._close(ResponseTimeout(PhaseName.PINGRESP, self.response_timeout))
            elif self.keep_alive:
                assert self.last_sent is not None
                if now >= self.last_sent + self.keep_alive - self._margin:
                    pings = self._pings
                    if pings is not None and len(pings) >= MAX_UNANSWERED:
                        waited = round(now - pings[0], 1)
                        self._close(
                            ResponseTimeout(
                                PhaseName.PINGRESP,
                                waited,
                                f"{MAX_UNANSWERED} PINGREQs unanswered while the server "
                                "kept sending",
                            )
                        )
                    else:
                        self._ping(now)

    # ------------------------------------------------------------------ output

    @property
    def closed(self) -> bool:
        return self.state is State.CLOSED

    @property
    def close_expected(self) -> bool:
        """Whether our DISCONNECT is queued: the driver sends it and closes the stream
        at once (MQTT 3.1.1 §3.14.4), letting the server's own close arrive."""
        return self._disconnected

    @property
    def reauthenticating(self) -> bool:
        """Whether a re-authentication is under way: our AUTH 0x19 went out, the
        server's AUTH 0x00 has not come."""
        return self._auth is not None

    def data_to_send(self) -> bytes:
        """The bytes queued since the last call, in order."""
        out, self._out = self._out, b""
        return out

    def events(self) -> list[SessionEvent]:
        """The events since the last call, in order."""
        events, self._events = self._events, None
        return events or []

    def next_deadline(self) -> float | None:
        """When ``handle_timer`` must be called next, or None when nothing is timed."""
        if self.state is State.CONNECTING:
            return self._connack_deadline
        if self.state is State.CONNECTED:
            deadline = self._pong_deadline() if self._pings else None
            if self._auth is not None:
                due = self._auth[1] + self.response_timeout
                deadline = due if deadline is None else min(deadline, due)
            if self.keep_alive:
                assert self.last_sent is not None
                due = self.last_sent + self.keep_alive - self._margin
                deadline = due if deadline is None else min(deadline, due)
            return deadline
        return None

    # ------------------------------------------------------------------ inside

    def _send(self, data: bytes, now: float) -> None:
        # Usually one packet between two reads of the driver: a concatenation is cheap.
        self._out += data
        self.last_sent = now

    def _emit(self, event: SessionEvent) -> None:
        if self._events is None:
            self._events = [event]
        else:
            self._events.append(event)

    def _ping(self, now: float) -> None:
        self._send(encode(PINGREQ), now)
        if self._pings is None:
            self._pings = [now]
        else:
            self._pings.append(now)
        self._emit(PingSent(now))

    def _pong_deadline(self) -> float:
        assert self._pings
        start = self._pings[0]
        if self._heard is not None and self._heard > start:
            start = self._heard
        return start + self.response_timeout

    def _close(self, error: Error | None) -> None:
        self.state = State.CLOSED
        self.error = error
        self._emit(Closed(error))

    def _phase(self) -> str:
        return PhaseName.CONNACK if self.state is State.CONNECTING else PhaseName.SESSION

    def _fault(self, error: RemoteProtocolError, now: float) -> None:
        """Close on bytes that break the specification. MQTT 5.0 §4.13: once connected,
        say why first, with a DISCONNECT of the fault's reason code (0x81 Malformed
        Packet, 0x82 Protocol Error, 0x95 Packet too large)."""
        if self.state is State.CONNECTED and self.connect_packet.protocol_level == 5:
            self._send(encode(Disconnect(ReasonCode(error.reason_code))), now)
        self._close(error)

    def _handle(self, packet: object, now: float) -> None:
        kind = type(packet)
        if self.state is State.CONNECTING:
            if kind is Auth:
                self._challenge(packet, now)  # type: ignore[arg-type]
                return
            if kind is Disconnect and self.connect_packet.protocol_level == 5:
                self._close(ServerDisconnected(packet.reason_code, packet.properties))  # type: ignore[attr-defined]
                return
            if kind is not ConnAck:
                # MQTT 3.1.1 §3.2: the first packet from the server is CONNACK.
                raise UnexpectedPacket(f"expected CONNACK first, got {_name(packet)}", 0)
            self._connack(packet, now)  # type: ignore[arg-type]
        elif kind is OtherPacket:
            self.other_packets += 1
            self._emit(PacketReceived(packet))  # type: ignore[arg-type]
        elif kind is PingResp and self._pings:
            self._emit(PongReceived(now - self._pings.pop(0)))
        elif kind is Disconnect and self.connect_packet.protocol_level == 5:
            # MQTT 5.0 §3.14: the server ends the connection and says why; it closes next.
            self._close(ServerDisconnected(packet.reason_code, packet.properties))  # type: ignore[attr-defined]
        elif kind is Auth and self._auth is not None:
            self._challenge(packet, now)  # type: ignore[arg-type]
        else:
            what = {
                PingResp: "with no PINGREQ outstanding",
                ConnAck: "after the first one",
                Auth: "while no re-authentication is under way",
            }.get(kind, "from a server")
            raise UnexpectedPacket(f"expected no {_name(packet)} {what}", 0)

    def _connack(self, packet: ConnAck, now: float) -> None:
        self.connack = packet
        if packet.return_code:
            # The server closes the connection after a refusal (§3.2.2.3): no DISCONNECT.
            self._close(ServerRefused(packet.return_code, packet.properties))
            return
        connect = self.connect_packet
        level5 = connect.protocol_level == 5
        if packet.session_present and connect.clean_session:
            # MQTT 3.1.1 §3.2.2.2, 5.0 §3.2.2.1.1: a clean session has nothing to be present.
            text = "expected session present 0 with clean session on, got 1"
            raise ProtocolViolation(text, 0) if level5 else UnexpectedPacket(text, 0)
        if level5:
            properties = packet.properties
            assigned = properties.assigned_client_identifier
            if assigned is not None:
                self.client_id = assigned
            elif not connect.client_id:
                # MQTT 5.0 §3.2.2.3.7: an empty client identifier gets one assigned.
                raise ProtocolViolation(
                    "expected an Assigned Client Identifier for the empty client "
                    "identifier we sent, got none",
                    0,
                )
            if self.authenticator is not None and (
                properties.authentication_method != self.authenticator.method
            ):
                # MQTT 5.0 §4.12: the CONNACK of an enhanced authentication names its method.
                raise ProtocolViolation(
                    f"expected authentication method {self.authenticator.method!r} in "
                    f"CONNACK, got {properties.authentication_method!r}",
                    0,
                )
            keep_alive = properties.server_keep_alive
            if keep_alive is not None:
                # MQTT 5.0 §3.2.2.3.14: the server's keep-alive replaces ours.
                self.keep_alive = keep_alive
                self._margin = ping_margin(keep_alive)
        self.state = State.CONNECTED
        self.accepted = True
        self.session_present = packet.session_present
        self._emit(Connected(packet.session_present))

    def _challenge(self, packet: Auth, now: float) -> None:
        """AUTH from the server (MQTT 5.0 §4.12): a challenge (0x18) during the CONNECT
        or a re-authentication, answered by the authenticator; 0x00 ends a
        re-authentication."""
        authenticator = self.authenticator
        if authenticator is None:
            # §4.12: no AUTH to a client that named no authentication method.
            raise ProtocolViolation("expected no AUTH: we named no authentication method", 0)
        properties = packet.properties
        if properties.authentication_method != authenticator.method:
            raise ProtocolViolation(
                f"expected authentication method {authenticator.method!r} in AUTH, "
                f"got {properties.authentication_method!r}",
                0,
            )
        code = packet.reason_code
        if code == ReasonCode.SUCCESS and self._auth is not None:
            started, _, steps = self._auth
            self._auth = None
            self._emit(Reauthenticated(now - started, int(steps)))
            return
        if code != ReasonCode.CONTINUE_AUTHENTICATION:
            raise ProtocolViolation(
                f"expected AUTH 0x18 (continue authentication), got 0x{int(code):02X}", 0
            )
        if authenticator.step is None:
            self._auth_failed(
                "the server asked for another authentication step, and the "
                f"authenticator of {authenticator.method!r} has a single one",
                now,
            )
            return
        try:
            answer = authenticator.step(properties.authentication_data)
        except Exception as exc:  # the authenticator's own failure, whatever it raised
            self._auth_failed(
                f"the authenticator of {authenticator.method!r} could not answer the "
                f"server's challenge: {type(exc).__name__}",
                now,
            )
            return
        self._send_auth(ReasonCode.CONTINUE_AUTHENTICATION, answer, now)
        # Each step is bounded by the response timeout, counted from our answer.
        if self.state is State.CONNECTING:
            self._connack_deadline = now + self.response_timeout
        elif self._auth is not None:
            self._auth[1] = now
            self._auth[2] += 1

    def _send_auth(self, code: ReasonCode, data: bytes | None, now: float) -> None:
        assert self.authenticator is not None
        properties = AuthProperties(
            authentication_method=self.authenticator.method, authentication_data=data
        )
        self._send(encode(Auth(code, properties)), now)

    def _auth_failed(self, reason: str, now: float) -> None:
        # MQTT 5.0 §4.12: the client may end an exchange it cannot go on with by DISCONNECT.
        self._send(encode(Disconnect(ReasonCode.BAD_AUTHENTICATION_METHOD)), now)
        self._close(AuthenticationError(reason))


def _starts(head: bytes, held: int, data: bytes) -> list[int]:
    """Where each packet completed by ``data`` begins, counted from the first byte of the
    first one, of which ``held`` bytes came before ``data``, ``head`` the first of them.

    Reads only fixed headers (MQTT 3.1.1 §2.2.3); ``head`` holds the whole fixed header
    of a held packet. Used on the error path only, to give the offset of a packet the
    framer returned without one.
    """
    # The held bytes past ``head`` are body, never read: any filler does.
    buf = b"".join((head, bytes(held - len(head)), data))
    starts = [0]
    pos = 0
    while pos < len(buf):
        length = shift = 0
        index = pos + 1
        while index < len(buf) and index - pos <= 4:
            digit = buf[index]
            length |= (digit & 0x7F) << shift
            index += 1
            shift += 7
            if digit < 0x80:
                break
        else:
            break
        if index + length > len(buf):
            break
        pos = index + length
        starts.append(pos)
    return starts


def _name(packet: object) -> str:
    if type(packet) is OtherPacket:
        return packet.packet_type.name if hasattr(packet.packet_type, "name") else "packet"
    return {
        "Auth": "AUTH",
        "ConnAck": "CONNACK",
        "Connect": "CONNECT",
        "PingReq": "PINGREQ",
        "PingResp": "PINGRESP",
        "Disconnect": "DISCONNECT",
    }.get(type(packet).__name__, type(packet).__name__)
