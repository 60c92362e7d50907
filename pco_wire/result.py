"""What a connection test found, and how a connection was made: the values both drivers
return, and the pure code that fills them from an attempt, its phases and its end."""

from __future__ import annotations

from ._record import Record
from ._text import printable
from .events import PacketReceived
from .packets import ConnAckCode, OtherPacket, PacketType, ReasonCode
from .phases import Phase, PhaseName

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Sequence
    from typing import Any

    from .diagnose import Diagnosis
    from .packets import ConnAck, Connect
    from .session import Session
    from .settings import Settings
    from .supervisor import Attempt
    from .transport.common import TLSInfo

#: Seconds the server has to close the connection after our DISCONNECT.
CLOSE_WAIT = 0.5

__all__ = ["CLOSE_WAIT", "ConnectionInfo", "TestResult", "packet_summary", "tls_report"]


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
        "other_packet_count",
        "warnings",
        "protocol",
        "properties",
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
        other_packets: list[dict[str, Any]] | None = None,
        other_packet_count: int = 0,
        warnings: list[str] | None = None,
        protocol: str | None = None,
        properties: dict[str, Any] | None = None,
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
        #: The first ``MAX_SHOWN`` packets of other types (stored PUBLISH and the like),
        #: each as {type, flags, size} and, for PUBLISH, its topic; how many in all.
        self.other_packets = [] if other_packets is None else other_packets
        self.other_packet_count = other_packet_count
        self.warnings = [] if warnings is None else warnings
        #: The MQTT version of the CONNECT that got the answer: "5", "3.1.1" or "3.1";
        #: None when no CONNECT went out.
        self.protocol = protocol
        #: MQTT 5.0: what the server's CONNACK negotiated (see ``negotiated``), None below.
        self.properties = properties
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
            "other_packet_count": self.other_packet_count,
            "warnings": self.warnings,
            "protocol": self.protocol,
            "properties": self.properties,
        }


class ConnectionInfo(Record):
    """How a connection was made: the URI (no password), the client ID, the session-present
    flag, the address used, every phase, TLS details and warnings; the MQTT version and,
    in 5.0, what the CONNACK negotiated (``negotiated``)."""

    __slots__ = (
        "uri",
        "client_id",
        "session_present",
        "address",
        "phases",
        "tls",
        "warnings",
        "protocol",
        "properties",
    )
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
        protocol: str = "3.1.1",
        properties: dict[str, Any] | None = None,
    ) -> None:
        self.uri = uri
        self.client_id = client_id
        self.session_present = session_present
        self.address = address
        self.phases = phases
        self.tls = tls
        self.warnings = warnings
        self.protocol = protocol
        self.properties = properties

    @classmethod
    def of(
        cls, attempt: Attempt, address: str, tls: TLSInfo | None, warnings: Sequence[str]
    ) -> ConnectionInfo:
        """Of an accepted attempt over a stream to ``address`` (``warnings``: the
        stream's)."""
        return cls(
            str(attempt.uri),
            attempt.session.client_id or attempt.client_id,
            attempt.session.session_present,
            address,
            attempt.phases,
            tls_report(tls),
            [*attempt.warnings, *warnings],
            PROTOCOL_NAMES[attempt.session.connect_packet.protocol_level],
            negotiated(attempt.session.connect_packet, attempt.session.connack),
        )


#: The MQTT version of each protocol level, as ``protocol`` names it.
PROTOCOL_NAMES = {3: "3.1", 4: "3.1.1", 5: "5"}


def negotiated(connect: Connect, connack: ConnAck | None) -> dict[str, Any] | None:
    """What an MQTT 5.0 CONNACK made of our CONNECT, as the JSON ``properties``: the
    effective values (the server's where it set one, ours or the specification's
    default otherwise). None below 5.0 or without a CONNACK.

    Keys: keep_alive and keep_alive_from ("server" or "client"), assigned_client_id,
    session_expiry_interval, receive_maximum, maximum_packet_size (None: no limit),
    maximum_qos, retain_available, wildcard_subscription_available,
    subscription_identifier_available, shared_subscription_available,
    topic_alias_maximum, server_reference, response_information, reason_string,
    user_properties (a list of [name, value]), authentication_method.
    """
    if connack is None or connect.protocol_level != 5:
        return None
    p = connack.properties
    ours = connect.properties
    server_keep_alive = p.server_keep_alive
    session_expiry = p.session_expiry_interval
    return {
        "keep_alive": connect.keep_alive if server_keep_alive is None else server_keep_alive,
        "keep_alive_from": "client" if server_keep_alive is None else "server",
        "assigned_client_id": p.assigned_client_identifier,
        "session_expiry_interval": (
            ours.session_expiry_interval if session_expiry is None else session_expiry
        ),
        "receive_maximum": p.receive_maximum,
        "maximum_packet_size": p.maximum_packet_size,
        "maximum_qos": p.maximum_qos,
        "retain_available": p.retain_available,
        "wildcard_subscription_available": p.wildcard_subscription_available,
        "subscription_identifier_available": p.subscription_identifier_available,
        "shared_subscription_available": p.shared_subscription_available,
        "topic_alias_maximum": p.topic_alias_maximum,
        "server_reference": p.server_reference,
        "response_information": p.response_information,
        "reason_string": p.reason_string,
        "user_properties": [list(pair) for pair in p.user_properties],
        "authentication_method": p.authentication_method,
    }


def tls_report(tls: TLSInfo | None) -> dict[str, Any] | None:
    if tls is None:
        return None
    cert = tls.certificate
    return {
        "version": tls.version,
        "cipher": tls.cipher,
        "alpn": tls.alpn,
        "subject": cert.get("subject", ""),
        "issuer": cert.get("issuer", ""),
        "not_after": cert.get("not_after", ""),
    }


def accepted(attempt: Attempt, info: ConnectionInfo) -> TestResult:
    """The result of a test whose CONNACK accepted, before its DISCONNECT: not ok yet."""
    session = attempt.session
    result = TestResult(
        False,
        70,
        "internal-error",
        "",
        info.uri,
        info.client_id,
        phases=attempt.phases,
        warnings=list(info.warnings),
        protocol=info.protocol,
        properties=info.properties,
    )
    if session.error is not None:  # accepted, and closed in the same breath
        return ended(result, attempt, session.error)
    result.address = info.address
    result.tls = info.tls
    connack = session.connack
    code = connack.return_code if connack is not None else ConnAckCode.ACCEPTED
    result.return_code, result.return_code_text = 0, code.text
    result.session_present = session.session_present
    return result


def disconnected(
    result: TestResult,
    attempt: Attempt,
    seconds: float,
    failed: BaseException | None,
    closed: bool | None,
) -> TestResult:
    """The result once our DISCONNECT went out (or ``failed``), ``seconds`` after it was
    asked; ``closed``: whether the server closed in time (None: not waited for)."""
    session = attempt.session
    result.other_packets = _received(session)
    result.other_packet_count = session.other_packets
    detail = (
        f"the server did not close within {CLOSE_WAIT:g} s"
        if closed is False and failed is None
        else ""
    )
    attempt.phases.append(Phase(PhaseName.DISCONNECT, seconds, failed is None, detail))
    if failed is not None:
        return ended(result, attempt, failed)
    result.ok, result.exit_code, result.category = True, 0, "connected"
    present = "; the server kept a session" if session.session_present else ""
    version = session.connect_packet.protocol_level
    name = "5.0" if version == 5 else PROTOCOL_NAMES[version]
    level = f" in MQTT {name}" if attempt.settings.protocol == "auto" else ""
    assigned = " (assigned by the server)" if not attempt.client_id and session.client_id else ""
    # A client identifier the server assigned (MQTT 5.0 §3.2.2.3.7) is its text.
    shown = printable(session.client_id or attempt.client_id)
    result.message = (
        f"connected to {attempt.uri} ({result.address}) as {shown}{assigned}{level}{present}"
    )
    return result


def ended(result: TestResult, attempt: Attempt, error: BaseException) -> TestResult:
    result.exit_code, result.category, result.message = attempt.diagnose(error)
    result.error = error
    return result


#: How many of the other packets a result lists (all are counted).
MAX_SHOWN = 100


def _received(session: Session) -> list[dict[str, Any]]:
    """The packets of other types that came before our DISCONNECT, summarised."""
    return [
        packet_summary(event.packet)
        for event in session.events()
        if isinstance(event, PacketReceived)
    ][:MAX_SHOWN]


def packet_summary(packet: OtherPacket) -> dict[str, Any]:
    """{type, flags, size} of a packet we do not decode, and the topic of a PUBLISH
    (MQTT 3.1.1 §3.3.2.1): the server's text, as it is (JSON escapes it; a line of text
    must go through ``printable``)."""
    kind = packet.packet_type
    summary: dict[str, Any] = {
        "type": kind.name if isinstance(kind, PacketType) else str(kind),
        "flags": packet.flags,
        "size": len(packet.body),
    }
    body = packet.body
    if kind == PacketType.PUBLISH and len(body) >= 2:
        length = int.from_bytes(body[:2], "big")
        if len(body) >= 2 + length:
            summary["topic"] = body[2 : 2 + length].decode("utf-8", "replace")
    return summary


def failed(
    settings: Settings,
    attempt: Attempt | None,
    phases: list[Phase],
    exc: BaseException,
    diagnosis: Diagnosis,
) -> TestResult:
    """The result of a test that ``exc`` ended before CONNACK accepted; ``attempt`` None
    when the settings were refused before any traffic."""
    code, category, message = diagnosis
    if attempt is None:
        from .uri import shown_text

        shown = shown_text(getattr(settings, "server_uri", None))
        return TestResult(False, code, category, message, shown, error=exc)
    result = TestResult(
        False,
        code,
        category,
        message,
        str(attempt.uri),
        attempt.client_id,
        phases=phases,
        warnings=list(attempt.warnings),
        error=exc,
    )
    session = attempt.session
    if session.state.value != "idle":  # a CONNECT went out
        result.protocol = PROTOCOL_NAMES[session.connect_packet.protocol_level]
    refusal = getattr(exc, "return_code", None)
    if isinstance(refusal, (ConnAckCode, ReasonCode)):
        result.return_code, result.return_code_text = int(refusal), refusal.text
        # What the refusing CONNACK said besides: its reason string, server reference...
        result.properties = negotiated(session.connect_packet, session.connack)
    connected = [p for p in phases if p.name == PhaseName.TCP_CONNECT and p.ok]
    result.address = connected[-1].detail if connected else None
    return result
