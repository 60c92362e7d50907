"""The exceptions pco_wire raises.

Every error is an :class:`Error`; the subclasses say whose fault it is::

    Error
    ├── InvalidPacket (also ValueError)   the caller asked for something a client must
    │                                     never send; ``.field`` names the culprit
    ├── InvalidSettings (also ValueError) settings break a rule, found before any traffic;
    │                                     ``.problems`` lists (field, reason) pairs
    ├── LocalProtocolError                the caller used a session out of order (a bug)
    ├── RemoteProtocolError               bytes from the peer break the specification;
    │   │                                 ``.offset`` is the byte at fault
    │   ├── MalformedPacket               a field is wrong, missing, or runs past the packet
    │   ├── PacketTooLarge                the header announces more than the limit allows
    │   ├── UnsupportedProtocol           a CONNECT asks for a protocol level we do not speak
    │   ├── UnexpectedPacket              a well-formed packet a server must not send now
    │   └── ProtocolViolation             well-formed, but a value the specification
    │                                     forbids (MQTT 5.0's "Protocol Error")
    ├── ServerRefused                     CONNACK with a non-zero ``.return_code``
    ├── ServerDisconnected                the server sent DISCONNECT (MQTT 5.0) with
    │                                     ``.reason_code`` and its ``.properties``
    ├── AuthenticationError               enhanced authentication could not go on
    ├── ResponseTimeout (also TimeoutError)  a phase did not finish in time; ``.phase``,
    │                                     ``.timeout``
    └── TransportError (also OSError)     the byte stream failed; ``.phase``
        ├── ConnectionClosed              the peer closed the stream, or reset it
        ├── ProxyError                    the proxy did not open the tunnel; ``.fault``
        │                                 says why, ``.offset`` the byte at fault
        └── HandshakeError                the TLS or WebSocket handshake failed, or a TLS
            │                             alert arrived later
            ├── TLSError                  ``.verify_code``, ``.reason`` from OpenSSL
            └── WebSocketError            ``.status`` of a non-101 answer, if any

A RemoteProtocolError's ``reason_code`` is the MQTT 5.0 reason code a client sends in its
DISCONNECT before closing on it: 0x81 Malformed Packet, 0x82 Protocol Error, 0x95 Packet
too large.

Messages are lowercase and say what was expected and what arrived. They never contain a
password: the codec reports a password's length or type, never its value.
"""

from __future__ import annotations

import errno

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, Self

__all__ = [
    "AuthenticationError",
    "ConnectionClosed",
    "Error",
    "HandshakeError",
    "InvalidPacket",
    "InvalidSettings",
    "LocalProtocolError",
    "MalformedPacket",
    "PacketTooLarge",
    "ProtocolViolation",
    "ProxyError",
    "RemoteProtocolError",
    "ResponseTimeout",
    "ServerDisconnected",
    "ServerRefused",
    "TLSError",
    "TransportError",
    "UnexpectedPacket",
    "UnsupportedProtocol",
    "WebSocketError",
]


class Error(Exception):
    """Base class of every exception pco_wire raises on purpose."""


class InvalidPacket(Error, ValueError):
    """A packet we were asked to encode breaks a rule; ``field`` names the packet field."""

    def __init__(self, field: str, reason: str) -> None:
        super().__init__(field, reason)
        self.field = field
        self.reason = reason

    def __str__(self) -> str:
        return f"{self.field}: {self.reason}"


class RemoteProtocolError(Error):
    """Bytes received from the peer break the specification.

    ``offset`` counts bytes from the start of what was decoded: the argument of
    ``decode``, or everything ever fed to a ``Framer``.
    """

    #: The DISCONNECT reason code (MQTT 5.0 §3.14.2.1) a client closes with on this fault.
    reason_code = 0x81

    def __init__(self, reason: str, offset: int) -> None:
        super().__init__(reason, offset)
        self.reason = reason
        self.offset = offset

    def __str__(self) -> str:
        return f"{self.reason} (at byte {self.offset})"

    def _shift(self, delta: int) -> None:
        # A Framer decodes from its buffer and then counts the bytes it consumed before.
        self.offset += delta
        self.args = (self.args[0], self.offset, *self.args[2:])


class MalformedPacket(RemoteProtocolError):
    """A packet from the peer is malformed: bad header, bad field, wrong length."""


class PacketTooLarge(RemoteProtocolError):
    """A fixed header announces a packet larger than the receiver's ``max_packet_size``."""

    reason_code = 0x95

    def __init__(self, reason: str, offset: int, size: int, limit: int) -> None:
        super().__init__(reason, offset)
        self.args = (reason, offset, size, limit)
        self.size = size
        self.limit = limit


class UnsupportedProtocol(RemoteProtocolError):
    """A CONNECT asks for a protocol level other than 3 (MQTT 3.1) or 4 (MQTT 3.1.1).

    A broker answers this with CONNACK return code 1 (MQTT 3.1.1 §3.1.2.2).
    """

    def __init__(self, reason: str, offset: int, level: int) -> None:
        super().__init__(reason, offset)
        self.args = (reason, offset, level)
        self.level = level


class UnexpectedPacket(RemoteProtocolError):
    """A well-formed packet that the server must not send at this point, e.g. a PINGRESP
    before the CONNACK or a CONNECT from a server."""

    reason_code = 0x82


class ProtocolViolation(RemoteProtocolError):
    """A well-formed packet with a value the specification forbids: a property out of its
    range (Receive Maximum 0, Maximum QoS 2), Authentication Data without a method, session
    present with clean start on (MQTT 5.0 §4.13, "Protocol Error")."""

    reason_code = 0x82


class InvalidSettings(Error, ValueError):
    """Settings that break a rule; every problem is reported at once.

    ``problems`` is a list of ``(field, reason)`` pairs; ``field`` is the first one's.
    """

    def __init__(self, problems: list[tuple[str, str]]) -> None:
        if not problems:
            raise RuntimeError("InvalidSettings needs at least one problem")
        super().__init__(problems)
        self.problems = problems
        self.field = problems[0][0]

    def __str__(self) -> str:
        return "; ".join(f"{field}: {reason}" for field, reason in self.problems)


class LocalProtocolError(Error):
    """A session command that its state does not allow (connect twice, ping before the
    CONNACK): a bug in the caller, never the peer's fault."""


class _ServerSaid(Error):
    """An answer of the server that may carry MQTT 5.0 properties: what its reason
    string and server reference (§3.2.2.3.16, §3.2.2.3.19) said, None when absent."""

    properties: Any

    @property
    def reason_string(self) -> str | None:
        return getattr(self.properties, "reason_string", None)

    @property
    def server_reference(self) -> str | None:
        return getattr(self.properties, "server_reference", None)


class ServerRefused(_ServerSaid):
    """The server answered CONNECT with a non-zero return code (MQTT 3.1.1 §3.2.2.3) or,
    in MQTT 5.0, a reason code of 0x80 or above (§3.2.2.2): ``return_code`` is a
    ConnAckCode or a ReasonCode; ``properties`` the CONNACK's (its reason string, server
    reference, ...), the empty ones below 5.0."""

    def __init__(self, return_code: Any, properties: Any = None) -> None:
        super().__init__(return_code)
        self.return_code = return_code
        self.properties = properties

    def __str__(self) -> str:
        code = self.return_code
        if type(code).__name__ == "ReasonCode":
            text = f"0x{int(code):02X} {code.reason.name}: {code.text}"
        else:
            text = code.text
        return f"the server refused the connection: {text}"


class ServerDisconnected(_ServerSaid):
    """The server sent DISCONNECT (MQTT 5.0 §3.14): ``reason_code`` (a ReasonCode) and
    ``properties`` (DisconnectProperties: reason string, server reference, ...)."""

    def __init__(self, reason_code: Any, properties: Any = None) -> None:
        super().__init__(reason_code)
        self.reason_code = reason_code
        self.properties = properties

    def __str__(self) -> str:
        reason = self.reason_code.reason
        return (
            f"the server disconnected with reason code 0x{int(self.reason_code):02X} "
            f"{reason.name}: {reason.ending or reason.text}"
        )


class AuthenticationError(Error):
    """Enhanced authentication (MQTT 5.0 §4.12) could not go on on our side: the
    authenticator has no answer to the server's challenge, or raised. ``reason`` says why;
    the server's data never appears."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason

    def __str__(self) -> str:
        return self.reason


class ResponseTimeout(Error, TimeoutError):
    """A phase (name resolution, TCP connect, TLS handshake, WebSocket upgrade, CONNACK,
    PINGRESP, close) did not finish within its limit."""

    def __new__(cls, *args: Any, **kwargs: Any) -> Self:
        # OSError.__new__ would read (phase, timeout) as (errno, strerror).
        return super().__new__(cls)

    def __init__(self, phase: str, timeout: float, detail: str = "") -> None:
        super().__init__()
        self.args = (phase, timeout, detail)
        self.phase = phase
        self.timeout = timeout
        self.detail = detail
        self.errno = errno.ETIMEDOUT
        self.strerror = str(self)

    def __str__(self) -> str:
        text = f"{self.phase}: no answer within {self.timeout:g} s"
        return f"{text} ({self.detail})" if self.detail else text


class TransportError(Error, OSError):
    """The byte stream failed in ``phase``; the original error is chained as __cause__;
    ``condition`` says "refused" or "unreachable" when the connect failed so."""

    def __new__(cls, *args: Any, **kwargs: Any) -> Self:
        # OSError.__new__ would read (phase, reason) as (errno, strerror).
        return super().__new__(cls)

    def __init__(self, phase: str, reason: str, condition: str = "") -> None:
        super().__init__()
        self.args = (phase, reason)
        self.phase = phase
        self.reason = reason
        self.strerror = reason
        #: What the system said, for the diagnosis: "refused" (nothing listens),
        #: "unreachable" (no route), "" (anything else).
        self.condition = condition

    def __str__(self) -> str:
        return f"{self.phase}: {self.reason}"


class ConnectionClosed(TransportError):
    """The peer closed the stream: ``reset`` when it reset it, ``websocket`` when it sent a
    WebSocket close frame (the reason then holds its code and reason)."""

    def __init__(
        self, phase: str, reason: str, reset: bool = False, websocket: bool = False
    ) -> None:
        super().__init__(phase, reason)
        self.reset = reset
        self.websocket = websocket


class ProxyError(TransportError):
    """The proxy did not open the tunnel to the broker. ``fault`` is what it meant:
    "auth-required" (it wants credentials, none were given), "auth-rejected" (it refused
    those given), "forbidden" (its rules refuse the destination), "unreachable" (it could
    not reach the broker), "refused" (another refusal), "not-a-proxy" (an answer of
    another protocol, or of a web server), "malformed" (bytes its protocol does not
    allow; ``offset`` is the first at fault), "closed" (it closed before its answer).
    ``protocol`` names the handshake, ``status`` the HTTP status or the SOCKS reply code
    (0: none), ``proxy`` and ``target`` the proxy and the broker as host:port."""

    def __init__(
        self,
        phase: str,
        reason: str,
        fault: str,
        *,
        protocol: str = "",
        status: int = 0,
        offset: int | None = None,
        proxy: str = "",
        target: str = "",
    ) -> None:
        super().__init__(phase, reason)
        self.fault = fault
        self.protocol = protocol
        self.status = status
        self.offset = offset
        self.proxy = proxy
        self.target = target
        #: For "not-a-proxy": the protocol the answer is in ("http", "socks5", "socks4",
        #: "tls"), "" when none known.
        self.answer = ""


class HandshakeError(TransportError):
    """The TLS or WebSocket handshake failed, or a TLS alert arrived later."""


class TLSError(HandshakeError):
    """A TLS failure. ``verify_code`` is OpenSSL's certificate verification code (0 when
    the failure was not a verification), ``ssl_reason`` OpenSSL's reason name, if any."""

    def __init__(self, phase: str, reason: str, verify_code: int = 0, ssl_reason: str = "") -> None:
        super().__init__(phase, reason)
        self.verify_code = verify_code
        self.ssl_reason = ssl_reason
        #: The server certificate's subject, issuer, dates and names, when known.
        self.certificate: dict[str, Any] = {}
        #: After a failed certificate check: what the second, unverified handshake that
        #: reads the certificate came to (a ``transport.Probe``), None when not tried.
        self.certificate_fetch: Any = None
        #: The server answered our ClientHello / asked for a client certificate, during
        #: the handshake; None when not known.
        self.server_hello: bool | None = None
        self.certificate_requested: bool | None = None
        #: The name the certificate was checked against (--server-name, or the host).
        self.checked_name = ""


class WebSocketError(HandshakeError):
    """The WebSocket upgrade was refused (``status``, e.g. 401) or the stream broke the
    WebSocket protocol (``status`` 0)."""

    def __init__(self, phase: str, reason: str, status: int = 0) -> None:
        super().__init__(phase, reason)
        self.status = status
        #: The subprotocol we offered and the one the server chose instead, when the
        #: upgrade failed on that ("" when not).
        self.offered_subprotocol = ""
        self.selected_subprotocol = ""
