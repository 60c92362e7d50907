"""What went wrong, in words a person can act on.

``diagnose`` turns an error into an exit status, a category (a stable name, for scripts)
and a sentence that says what happened and what to try. The exit statuses::

    0  connected
    1  the server refused (CONNACK return code 1..5)
    2  invalid settings or usage, found before any network traffic
    3  network: name not resolved, refused, unreachable, reset, closed before CONNACK
    4  TLS or WebSocket handshake failed (certificates, TLS alerts, non-101 answer)
    5  a deadline passed (the message names the phase)
    6  protocol error in the reply (malformed or unexpected packet)
    70 internal error (a bug)
"""

from __future__ import annotations

from .errors import (
    ConnectionClosed,
    Error,
    InvalidPacket,
    InvalidSettings,
    RemoteProtocolError,
    ResponseTimeout,
    ServerRefused,
    TLSError,
    TransportError,
    WebSocketError,
)
from .uri import ServerURI, shown_user

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

__all__ = ["EXIT_CODES", "Diagnosis", "diagnose"]

EXIT_CODES = {
    0: "connected",
    1: "the server refused the connection (CONNACK return code 1..5)",
    2: "invalid settings or usage, found before any network traffic",
    3: "network: name not resolved, refused, unreachable, reset, or closed before CONNACK",
    4: "TLS or WebSocket handshake failed",
    5: "a deadline passed (the message names the phase)",
    6: "protocol error in the server's reply",
    70: "internal error (a bug; --debug shows the traceback)",
}

Diagnosis = tuple[int, str, str]

_REFUSALS = {
    1: (
        "unacceptable-protocol-version",
        "the server does not accept MQTT {protocol}: try --protocol {other}",
    ),
    2: (
        "identifier-rejected",
        "the server rejected client ID {client_id!r}: check the IDs it allows, or whether "
        "another rule (a prefix, an allow list) applies",
    ),
    3: (
        "server-unavailable",
        "the server is up but its MQTT service is unavailable: try again later",
    ),
    4: (
        "bad-username-or-password",
        "the server refused the user name or password ({user}): check both",
    ),
    5: (
        "not-authorized",
        "the server does not allow this client to connect ({user}): check the user name "
        "and password, and the server's access rules",
    ),
}


def diagnose(
    error: BaseException,
    uri: ServerURI | None = None,
    *,
    head: bytes = b"",
    client_id: str = "",
    username: str | None = None,
    protocol: str = "3.1.1",
    tls_answered: bool = False,
) -> Diagnosis:
    """(exit status, category, sentence) for ``error``; ``head`` is the first bytes the
    server sent, if any (they tell a TLS or HTTP answer from an MQTT one);
    ``tls_answered`` that a TLS probe of the port got a TLS answer."""
    where = uri.netloc if uri is not None else "the server"
    if isinstance(error, (InvalidSettings, InvalidPacket)):
        return 2, "invalid-settings", f"invalid settings: {error}"
    if isinstance(error, ServerRefused):
        category, text = _REFUSALS[int(error.return_code)]
        user = (
            f"user name {shown_user(username)!r}" if username is not None else "no user name given"
        )
        sentence = text.format(
            protocol=protocol,
            other="3.1" if protocol == "3.1.1" else "3.1.1",
            client_id=client_id,
            user=user,
        )
        return 1, category, f"refused with return code {int(error.return_code)}: {sentence}"
    if isinstance(error, ResponseTimeout):
        return 5, "timeout", _timeout(error, where)
    if isinstance(error, TLSError):
        return 4, *_tls(error, uri, where)
    if isinstance(error, WebSocketError):
        return 4, *_websocket(error, uri)
    if isinstance(error, RemoteProtocolError):
        other = _other_protocol(head, uri)
        if other:
            return 6, *other
        return (
            6,
            "protocol-error",
            (f"the server's reply breaks MQTT: {error}; is {where} really an MQTT port?"),
        )
    if isinstance(error, ConnectionClosed):
        if error.websocket:
            before = " before CONNACK" if error.phase == "CONNACK" else ""
            return 3, "websocket-closed", f"{error.reason}{before}: its log says why"
        if error.phase == "CONNACK":
            other = _other_protocol(head, uri)
            if other:
                return 3, *other
            if tls_answered and uri is not None:
                scheme = "wss" if uri.websocket else "mqtts"
                return (
                    3,
                    "plain-to-tls-port",
                    (
                        "the server closed the connection after CONNECT without an answer, and "
                        f"answers TLS on this port: use {scheme}://{uri.netloc}"
                    ),
                )
            hint = "try mqtts://" if uri is not None and not uri.tls else "check the server's log"
            return (
                3,
                "closed-before-connack",
                (
                    f"the server closed the connection after CONNECT without an answer: it may "
                    f"expect TLS or WebSocket on this port ({hint}), or refuse this client "
                    "without saying why (its log tells)"
                ),
            )
        if error.phase == "WebSocket upgrade":
            return (
                3,
                "closed-during-upgrade",
                (
                    f"{error.reason} during the WebSocket upgrade: this port probably speaks plain "
                    f"MQTT; try mqtt{'s' if uri is not None and uri.tls else ''}://{where}"
                ),
            )
        if error.reset:
            return 3, "connection-reset", f"{error.reason} ({error.phase})"
        return 3, "connection-lost", f"{error.reason} ({error.phase})"
    if isinstance(error, TransportError):
        if error.phase == "name resolution":
            return 3, "name-not-resolved", f"{error.reason}: check the host name and DNS"
        reason = error.reason
        if reason.startswith("connection refused"):
            return 3, "connection-refused", f"{reason}: check the port, and that the broker runs"
        if reason.startswith("no route"):
            return 3, "no-route", f"{reason}: check the address and the network"
        return 3, "network-error", f"{error}"
    if isinstance(error, Error):
        return 70, "internal-error", f"unexpected {type(error).__name__}: {error}"
    return 70, "internal-error", f"internal error: {type(error).__name__}: {error}"


def _timeout(error: ResponseTimeout, where: str) -> str:
    limit = f"{error.timeout:g} s"
    detail = {
        "name resolution": f"the name {error.detail!r} did not resolve within {limit}: check DNS",
        "TCP connect": f"no answer from {error.detail or where} within {limit}: the host may be "
        "down, or a firewall drops the packets",
        "TLS handshake": f"the TLS handshake did not finish within {limit}: is {where} really a "
        "TLS port?",
        "WebSocket upgrade": f"no HTTP answer to the WebSocket upgrade within {limit}: is "
        f"{where} really a WebSocket port?",
        "CONNACK": f"no CONNACK within {limit}: is {where} really an MQTT port?",
        "PINGRESP": f"no PINGRESP within {limit}: the server or the network stalled",
    }.get(error.phase, f"{error}")
    return f"timeout in phase {error.phase} ({limit}): {detail}"


def _tls(error: TLSError, uri: ServerURI | None, where: str) -> tuple[str, str]:
    cert: dict[str, Any] = error.certificate
    code = error.verify_code
    reason = error.ssl_reason.upper()
    host = uri.host if uri is not None else "the server"
    if code in (62, 64):
        names = ", ".join(cert.get("names") or []) or cert.get("subject") or "unknown names"
        return "hostname-mismatch", (
            f"the server certificate is for {names}, not for {host!r}: connect with one of "
            "those names, or set --server-name"
        )
    if code in (19, 20, 21):
        # 19: the server sent its whole chain, and its root is not one we trust.
        issuer = cert.get("issuer") or "an unknown issuer"
        return "unknown-ca", (
            f"the server certificate was issued by {issuer!r}, which is not among the "
            "trusted CAs: give that CA with --cafile"
        )
    if code == 10:
        return "certificate-expired", (
            f"the server certificate expired on {cert.get('not_after', '?')} (valid from "
            f"{cert.get('not_before', '?')}): the server needs a new one"
        )
    if code == 9:
        return "certificate-not-yet-valid", (
            f"the server certificate is valid only from {cert.get('not_before', '?')}: check "
            "this machine's clock"
        )
    if code == 18:
        return "self-signed", (
            f"the server certificate is self-signed ({cert.get('subject') or 'no subject'}): "
            "give it with --cafile to trust it"
        )
    if code:
        return "certificate-invalid", f"{error.reason}"
    if "CERTIFICATE_REQUIRED" in reason or "PEER_DID_NOT_RETURN" in reason:
        return "client-certificate-required", (
            "the server requires a client certificate: give --certfile and --keyfile"
        )
    if any(
        k in reason
        for k in (
            "BAD_CERTIFICATE",
            "UNKNOWN_CA",
            "CERTIFICATE_UNKNOWN",
            "DECRYPT_ERROR",
            "ACCESS_DENIED",
            "UNSUPPORTED_CERTIFICATE",
        )
    ):
        return "client-certificate-rejected", (
            f"the server rejected our client certificate ({error.reason}): it must be "
            "issued by a CA the server trusts"
        )
    if reason in ("EOF", "RESET") and error.phase != "TLS handshake":
        return "tls-closed", (
            f"{error.reason} after the TLS handshake, before any answer: the server may "
            "require a client certificate (--certfile, --keyfile) or refuse the one given"
        )
    if reason in (
        "EOF",
        "RESET",
        "WRONG_VERSION_NUMBER",
        "RECORD_LAYER_FAILURE",
        "PACKET_LENGTH_TOO_LONG",
    ):
        plain = (
            f"mqtt://{uri.netloc}"
            if uri is not None and not uri.websocket
            else (f"ws://{uri.netloc}{uri.resource}" if uri is not None else "mqtt://")
        )
        return "tls-to-plain-port", (
            f"{error.reason} at {where}: this port probably does not speak TLS; try {plain}"
        )
    if "PROTOCOL_VERSION" in reason or "UNSUPPORTED_PROTOCOL" in reason or "NO_PROTOCOLS" in reason:
        return "tls-version", (
            f"the server and this client share no TLS version ({error.reason}): see "
            "--tls-min-version"
        )
    if "NO_APPLICATION_PROTOCOL" in reason:
        return (
            "alpn-refused",
            f"the server accepts none of the ALPN protocols asked for ({error.reason})",
        )
    return "tls-error", f"TLS failed in phase {error.phase}: {error.reason}"


def _websocket(error: WebSocketError, uri: ServerURI | None) -> tuple[str, str]:
    if not error.status:
        return "websocket-error", f"{error}"
    hint = {
        401: "the server wants credentials: see --ws-header",
        403: "the server forbids this client: see --ws-header",
        404: f"check the path ({uri.resource if uri else '/mqtt'} was asked for)",
        426: "the server wants another WebSocket version",
    }.get(error.status, "check the URI and the server's configuration")
    return "websocket-upgrade-failed", f"WebSocket upgrade refused: {error.reason}: {hint}"


def _other_protocol(head: bytes, uri: ServerURI | None) -> tuple[str, str] | None:
    """A TLS record or an HTTP answer where CONNACK belonged."""
    netloc = uri.netloc if uri is not None else "host:port"
    if len(head) >= 2 and head[0] in (0x15, 0x16) and head[1] == 0x03:
        scheme = "wss" if uri is not None and uri.websocket else "mqtts"
        return (
            "plain-to-tls-port",
            f"the server answered with TLS: this port expects TLS; try {scheme}://{netloc}",
        )
    if head.startswith(b"HTTP/"):
        return "plain-to-websocket-port", (
            f"the server answered in HTTP: this port expects WebSocket; try ws://{netloc}/mqtt"
        )
    return None
