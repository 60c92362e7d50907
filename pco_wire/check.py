"""``test_connection``: exactly CONNECT and DISCONNECT, every phase reported, and on
failure what failed and what to try."""

from __future__ import annotations

import time

from ._record import Record
from .connection import CLOSE_WAIT, Connector, tls_report
from .packets import ConnAckCode, OtherPacket, PacketType
from .session import PacketReceived, Session
from .settings import Settings
from .transport import Phase

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

__all__ = ["TestResult", "test_connection"]


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
        result.tls = tls_report(conn.stream)
        result.warnings += getattr(conn.stream, "warnings", [])
        result.return_code, result.return_code_text = 0, ConnAckCode.ACCEPTED.text
        result.session_present = session.session_present
        start = time.monotonic()
        # The server's close is not waited for unless it left bytes unread: a test costs
        # one round trip less, and our close is clean either way.
        failed, closed = conn.disconnect(wait=False)
        result.other_packets = _received(session)
        result.other_packet_count = session.other_packets
        detail = (
            f"the server did not close within {CLOSE_WAIT:g} s"
            if closed is False and failed is None
            else ""
        )
        phases.append(Phase("DISCONNECT", time.monotonic() - start, failed is None, detail))
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


def _failed(
    connector: Connector, settings: Settings, phases: list[Phase], exc: BaseException
) -> TestResult:
    code, category, message = connector.diagnose(exc)
    attempt = connector.attempt
    if attempt is None:  # refused before any traffic: the settings
        from .uri import shown_text

        shown = shown_text(getattr(settings, "server_uri", None))
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
