"""What went wrong, in words a person can act on.

``diagnose`` turns an error into an exit status, a category (a stable name, for scripts)
and a sentence that says what happened and what to try. The exit statuses::

    0  connected
    1  the server refused (CONNACK return code 1..5, MQTT 5.0 reason code 0x80 and up) or
       ended the connection saying why (MQTT 5.0 DISCONNECT); enhanced authentication
       failed
    2  invalid settings or usage, found before any network traffic
    3  network: name not resolved, refused, unreachable, reset, closed before CONNACK;
       or the wrong scheme for the port (plain MQTT to a TLS or WebSocket port)
    4  TLS or WebSocket handshake failed (certificates, TLS alerts, non-101 answer)
    5  a deadline passed (the message names the phase)
    6  protocol error in the reply (malformed or unexpected packet, undefined return code)
    7  the proxy refused: it wants a user name and password, refused those given, or its
       rules forbid a tunnel to the server
    70 internal error (a bug)
    129, 130, 143  stopped by SIGHUP, Ctrl-C or SIGTERM before the command finished

Each category has one status, in ``CATEGORIES``; the README's table is that one. The
server's codes (3.1.1 return codes, 5.0 reason codes) take theirs from the table of codes
(``reasons.py``): its category and status, and the specification's text. What the
server chose to say (HTTP bodies, certificate names, close reasons) reaches a sentence
only as one printable line (``_text.printable``), and so does the whole sentence.
"""

from __future__ import annotations

import time

from ._text import printable
from .errors import (
    AuthenticationError,
    ConnectionClosed,
    Error,
    InvalidPacket,
    InvalidSettings,
    ProxyError,
    RemoteProtocolError,
    ResponseTimeout,
    ServerDisconnected,
    ServerRefused,
    TLSError,
    TransportError,
    WebSocketError,
)
from .phases import PhaseName
from .reasons import CATEGORIES as _CODE_CATEGORIES
from .reasons import REASONS, RETURN_CODES, Reason
from .uri import ServerURI, shown_user

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from .transport.common import Probe

__all__ = ["CATEGORIES", "EXIT_CODES", "Diagnosis", "diagnose"]

EXIT_CODES = {
    0: "connected",
    1: "the server refused the connection or ended it saying why (CONNACK return code "
    "1..5, MQTT 5.0 reason code 0x80 and up), or enhanced authentication failed",
    2: "invalid settings or usage, found before any network traffic",
    3: "network: name not resolved, refused, unreachable, reset, closed before CONNACK, "
    "or the wrong scheme for the port",
    4: "TLS or WebSocket handshake failed",
    5: "a deadline passed (the message names the phase)",
    6: "protocol error in the server's reply (or an undefined CONNACK return code)",
    7: "the proxy refused: authentication required or rejected, or its rules forbid the server",
    70: "internal error (a bug; --debug shows the traceback)",
    129: "stopped by SIGHUP before the command finished",
    130: "interrupted (Ctrl-C) before the command finished",
    143: "stopped by SIGTERM before the command finished",
}

Diagnosis = tuple[int, str, str]

#: Every category a diagnosis can give, with its exit status: one diagnosis, one status.
#: The README's table of categories is this one.
CATEGORIES = {
    # The server's codes, from their table: the 3.1.1 refusals, then MQTT 5.0's.
    **_CODE_CATEGORIES,
    "server-disconnected": 3,
    "authentication-failed": 1,
    "invalid-settings": 2,
    "name-not-resolved": 3,
    "connection-refused": 3,
    "no-route": 3,
    "network-error": 3,
    "connection-reset": 3,
    "connection-lost": 3,
    "closed-before-connack": 3,
    "closed-during-upgrade": 3,
    "websocket-closed": 3,
    "plain-to-tls-port": 3,
    "plain-to-websocket-port": 3,
    "tls-to-plain-port": 4,
    "hostname-mismatch": 4,
    "unknown-ca": 4,
    "certificate-expired": 4,
    "certificate-not-yet-valid": 4,
    "self-signed": 4,
    "certificate-invalid": 4,
    "client-certificate-required": 4,
    "client-certificate-rejected": 4,
    "tls-closed": 4,
    "tls-version": 4,
    "alpn-refused": 4,
    "tls-error": 4,
    "websocket-upgrade-failed": 4,
    "websocket-error": 4,
    "proxy-connection-refused": 3,
    "proxy-no-route": 3,
    "proxy-cannot-reach-server": 3,
    "proxy-closed": 3,
    "not-a-proxy": 3,
    "proxy-authentication-required": 7,
    "proxy-authentication-rejected": 7,
    "proxy-forbidden": 7,
    "proxy-refused": 7,
    "proxy-protocol-error": 6,
    "timeout": 5,
    "protocol-error": 6,
    "unknown-return-code": 6,
    "internal-error": 70,
}

#: The longest text of a sentence; what the server chose is cut shorter where it enters.
_SENTENCE_LIMIT = 1000

# 2000-01-01T00:00:00Z: a clock before it is not set (a gateway that booted into 1970).
_CLOCK_SANE = 946684800.0

#: What to try, by category of the server's code; codes without a hint of their own are
#: worded by the specification's text. Fields: {protocol}, {other}, {client_id}, {user}.
_HINTS = {
    "unacceptable-protocol-version": "the server does not accept MQTT {protocol}: try "
    "--protocol {other}",
    "identifier-rejected": "the server rejected client ID {client_id!r}: check the IDs it "
    "allows, or whether another rule (a prefix, an allow list) applies",
    "server-unavailable": "the server is up but its MQTT service is unavailable: try again later",
    "bad-username-or-password": "the server refused the user name or password ({user}): check both",
    "not-authorized": "the server does not allow this client to connect ({user}): check the "
    "user name and password, and the server's access rules",
    "server-busy": "the server is busy: try again later",
    "banned": "this client is banned by the server's administrator: ask them",
    "bad-authentication-method": "the server does not accept the authentication method or "
    "data: check --auth-method and --auth-data-file",
    "quota-exceeded": "a limit of the server (connections, sessions, a quota) is reached: "
    "try again later, or ask its administrator",
    "connection-rate-exceeded": "too many connections too fast: try again later",
    "packet-too-large": "the CONNECT is larger than the server allows: shorten the will "
    "message or the user properties",
    "session-taken-over": "another client connected with client ID {client_id!r}, and the "
    "server dropped this connection for it: give each client its own ID",
    "keep-alive-timeout": "the server heard nothing for 1.5 times the keep-alive: the "
    "network stalled, or PINGREQs were lost",
    "server-shutting-down": "the server is shutting down",
}

_OTHER_PROTOCOL = {"5": "3.1.1", "3.1.1": "3.1", "3.1": "3.1.1"}


def _code_sentence(
    reason: Reason,
    ending: bool,
    error: ServerRefused | ServerDisconnected,
    *,
    protocol: str,
    client_id: str,
    username: str | None,
) -> str:
    """What the server said with a code, and what to try: the hint of its category, or
    the specification's text; the server's reason string and server reference."""
    user = f"user name {shown_user(username)!r}" if username is not None else "no user name given"
    hint = _HINTS.get(reason.category)
    text = (reason.ending or reason.text) if ending else reason.text
    sentence = (
        hint.format(
            protocol=protocol,
            other=_OTHER_PROTOCOL.get(protocol, "3.1.1"),
            client_id=client_id,
            user=user,
        )
        if hint is not None
        else text
    )
    extra = ""
    said = error.reason_string
    if said:
        extra += f"; the server says: {said!r}"
    reference = error.server_reference
    if reference:
        extra += f"; it points to {reference!r}"
        if reason.code in (0x9C, 0x9D):
            extra += " (--follow-redirects connects there)"
    return sentence + extra


def _result(category: str, sentence: str) -> Diagnosis:
    # Every sentence may quote the server: one printable line, whatever it holds.
    return CATEGORIES[category], category, printable(sentence, _SENTENCE_LIMIT)


def diagnose(
    error: BaseException,
    uri: ServerURI | None = None,
    *,
    head: bytes = b"",
    client_id: str = "",
    username: str | None = None,
    protocol: str = "3.1.1",
    protocol_level: int = 4,
    tls_answered: bool = False,
    probe: Probe | None = None,
    client_certificate: bool = False,
    now: float | None = None,
) -> Diagnosis:
    """(exit status, category, sentence) for ``error``; the status is ``CATEGORIES``'s.

    ``head`` is the first bytes the server sent, if any (they tell a TLS or HTTP answer
    from an MQTT one); ``probe`` what a TLS hello to the port got after a silent close
    (``tls_answered``: that it got a TLS answer, for callers without a Probe);
    ``protocol_level`` the level of the CONNECT sent (3: MQTT 3.1);
    ``client_certificate`` whether one was given; ``now`` this machine's clock (seconds
    since the epoch, default ``time.time()``), shown next to a certificate's dates.
    """
    category, sentence = _diagnose(
        error,
        uri,
        head=head,
        client_id=client_id,
        username=username,
        protocol=protocol,
        protocol_level=protocol_level,
        tls_answered=tls_answered or (probe is not None and probe.answered),
        probe=probe,
        client_certificate=client_certificate,
        now=now,
    )
    return _result(category, sentence)


def _diagnose(
    error: BaseException,
    uri: ServerURI | None,
    *,
    head: bytes,
    client_id: str,
    username: str | None,
    protocol: str,
    protocol_level: int,
    tls_answered: bool,
    probe: Probe | None,
    client_certificate: bool,
    now: float | None,
) -> tuple[str, str]:
    where = uri.netloc if uri is not None else "the server"
    if isinstance(error, (InvalidSettings, InvalidPacket)):
        return "invalid-settings", f"invalid settings: {error}"
    if isinstance(error, ServerRefused):
        refused = int(error.return_code)
        five = type(error.return_code).__name__ == "ReasonCode"
        row = (REASONS if five else RETURN_CODES)[refused]
        sentence = _code_sentence(
            row, False, error, protocol=protocol, client_id=client_id, username=username
        )
        if refused == 1 and protocol == "auto":
            # "auto" asked in MQTT 5.0, 3.1.1 and 3.1: there is no other to try.
            sentence = (
                "the server accepts none of MQTT 5.0, 3.1.1 and 3.1 (--protocol auto tried "
                "each): is it an MQTT broker?"
            )
        if five:
            return row.category, (
                f"refused with reason code 0x{refused:02X} ({row.name}): {sentence}"
            )
        return row.category, f"refused with return code {refused}: {sentence}"
    if isinstance(error, ServerDisconnected):
        ended = int(error.reason_code)
        row = REASONS[ended]
        sentence = _code_sentence(
            row, True, error, protocol=protocol, client_id=client_id, username=username
        )
        taken = " (taken over)" if ended == 0x8E else ""
        said = (
            f"the server ended the connection with reason code 0x{ended:02X} "
            f"({row.name}){taken}: {sentence}"
        )
        if ended < 0x80:  # no error: normal disconnection, as the server sees it
            return "server-disconnected", said
        return row.category, said
    if isinstance(error, AuthenticationError):
        return "authentication-failed", f"enhanced authentication failed: {error.reason}"
    if isinstance(error, ResponseTimeout):
        return "timeout", _timeout(error, where)
    if isinstance(error, TLSError):
        return _tls(error, uri, where, client_certificate, time.time() if now is None else now)
    if isinstance(error, WebSocketError):
        return _websocket(error, uri)
    if isinstance(error, RemoteProtocolError):
        other = _other_protocol(head, uri)
        if other:
            return other
        code = _unknown_return_code(head) if protocol_level < 5 else _unknown_reason_code(head)
        if code is not None and protocol_level == 5:
            return "unknown-return-code", (
                f"the server answered with CONNACK reason code 0x{code:02X}, which MQTT 5.0 "
                "does not define for CONNACK: see its log"
            )
        if code is not None:
            return "unknown-return-code", (
                f"the server refused with return code {code}, which MQTT 3.1.1 does not "
                "define: brokers do this for a refusal 3.1.1 has no code for (a keep-alive "
                "above their limit, a client ID or packet size rule, an MQTT 5 reason code "
                "such as 0x80..0x9F): see its log"
            )
        connack = _connack_size(head)
        if connack:
            # It answered with a CONNACK: an MQTT server, whose packet is at fault.
            version = {3: "3.1", 4: "3.1.1"}.get(protocol_level, "5.0")
            what = "CONNACK" if error.offset < connack else "reply"
            return "protocol-error", (
                f"the server's {what} breaks MQTT {version}: {error}; the server speaks "
                "MQTT, so the fault is the broker's: see its version and log"
            )
        return "protocol-error", (
            f"the server's reply breaks MQTT: {error}; is {where} really an MQTT port?"
        )
    if isinstance(error, ProxyError):
        return _proxy(error)
    if isinstance(error, TransportError) and error.phase == PhaseName.PROXY_CONNECT:
        if error.condition == "refused":
            return "proxy-connection-refused", (
                f"{error.reason}: check the proxy's host and port, and that it runs"
            )
        if error.condition == "unreachable":
            return "proxy-no-route", f"{error.reason}: check the proxy's address and the network"
        if isinstance(error, ConnectionClosed):
            return "proxy-closed", f"the proxy {error.reason.partition(' ')[2]}"
        return "network-error", f"{error}"
    if isinstance(error, TransportError) and error.phase == PhaseName.PROXY_TUNNEL:
        return "proxy-closed", f"{error}: the proxy dropped the connection during its handshake"
    if isinstance(error, ConnectionClosed):
        return _closed(error, uri, where, head, tls_answered, probe, protocol_level)
    if isinstance(error, TransportError):
        if error.phase == PhaseName.NAME_RESOLUTION:
            return "name-not-resolved", f"{error.reason}: check the host name and DNS"
        reason = error.reason
        if error.condition == "refused":
            return "connection-refused", f"{reason}: check the port, and that the broker runs"
        if error.condition == "unreachable":
            return "no-route", f"{reason}: check the address and the network"
        return "network-error", f"{error}"
    if isinstance(error, Error):
        return "internal-error", f"unexpected {type(error).__name__}: {error}"
    return "internal-error", f"internal error: {type(error).__name__}: {error}"


#: The category of each ``ProxyError.fault``, and what to try.
_PROXY = {
    "auth-required": (
        "proxy-authentication-required",
        "give the proxy's user name and password (--proxy-user, --proxy-password-env or "
        "--proxy-password-file, or user:password@ in the proxy URL)",
    ),
    "auth-rejected": (
        "proxy-authentication-rejected",
        "check the proxy's user name and password (they are the proxy's, not the MQTT server's)",
    ),
    "forbidden": (
        "proxy-forbidden",
        "the proxy's administrator allows tunnels only to some hosts or ports: ask them to "
        "allow this server's port",
    ),
    "unreachable": (
        "proxy-cannot-reach-server",
        "the proxy is fine, the server behind it is not: check the server's host and port, "
        "as seen from the proxy",
    ),
    "refused": ("proxy-refused", "see the proxy's log"),
    "not-a-proxy": ("not-a-proxy", "check the proxy URL's port and scheme"),
    "malformed": ("proxy-protocol-error", "is this port really a proxy of that kind?"),
    "closed": (
        "proxy-closed",
        "it may speak another proxy protocol (a SOCKS proxy closes on HTTP; try socks5h:// "
        "or http://), or refuse this client",
    ),
}


def _proxy(error: ProxyError) -> tuple[str, str]:
    category, hint = _PROXY.get(error.fault, ("proxy-refused", "see the proxy's log"))
    if error.fault == "not-a-proxy" and error.answer == "tls":
        hint = "TLS to the proxy itself is not supported; check the port"
    elif error.fault == "not-a-proxy" and error.answer:
        hint = "check the proxy URL's scheme"
    at = (
        f" (byte {error.offset})" if error.offset is not None and category.endswith("error") else ""
    )
    return category, f"{error.reason}{at}: {hint}"


def _connack_size(head: bytes) -> int:
    """The size of the CONNACK the first bytes begin, or 0 when they begin none: 0x20,
    then a remaining length of at least 2 (MQTT 3.1.1 §3.2.1, 5.0 §3.2.1, §1.5.5)."""
    if head[:1] != b"\x20":
        return 0
    length = 0
    for index, byte in enumerate(head[1:5]):
        length |= (byte & 0x7F) << (7 * index)
        if byte < 0x80:
            return 2 + index + length if length >= 2 else 0
    return 0


def _unknown_return_code(head: bytes) -> int | None:
    """The return code of a CONNACK that 3.1.1 does not define (MQTT 3.1.1 §3.2.2.3:
    6..255 are reserved), read from the server's first bytes; the codec refuses it."""
    if len(head) >= 4 and head[0] == 0x20 and head[1] >= 2 and head[3] > 5:
        return head[3]
    return None


def _unknown_reason_code(head: bytes) -> int | None:
    """The reason code of a 5.0 CONNACK that MQTT 5.0 §3.2.2.2 does not define."""
    if len(head) >= 4 and head[0] == 0x20 and 3 <= head[1] < 0x80:
        reason = REASONS.get(head[3])
        if reason is None or not reason.defined_for(2):
            return head[3]
    return None


def _closed(
    error: ConnectionClosed,
    uri: ServerURI | None,
    where: str,
    head: bytes,
    tls_answered: bool,
    probe: Probe | None,
    protocol_level: int,
) -> tuple[str, str]:
    if error.websocket:
        before = " before CONNACK" if error.phase == PhaseName.CONNACK else ""
        return "websocket-closed", f"{error.reason}{before}: its log says why"
    if error.phase == PhaseName.CONNACK:
        other = _other_protocol(head, uri)
        if other:
            return other
        if protocol_level == 5 and head[:1] == b"\xf0":
            # MQTT 5.0 §4.12: it challenged us (AUTH) and we answered, so it speaks MQTT
            # 5.0 on this port: no TLS or WebSocket to suggest; it ended the exchange.
            how = "reset" if error.reset else "closed"
            return "connection-reset" if error.reset else "closed-before-connack", (
                f"the server {how} the connection during enhanced authentication, before "
                "CONNACK: it probably did not accept our answer to its challenge (its log "
                "tells why)"
            )
        if tls_answered and uri is not None:
            scheme = "wss" if uri.websocket else "mqtts"
            how = "reset" if error.reset else "closed"
            return "plain-to-tls-port", (
                f"the server {how} the connection after CONNECT without an answer, and "
                f"answers TLS on this port: use {scheme}://{uri.netloc}"
            )
        causes = _silence_causes(uri, probe, protocol_level)
        if error.reset:
            return "connection-reset", (
                f"the server reset the connection after CONNECT, before CONNACK: {causes}"
            )
        return "closed-before-connack", (
            f"the server closed the connection after CONNECT without an answer: {causes}"
        )
    if error.phase == PhaseName.WEBSOCKET_UPGRADE:
        if tls_answered and uri is not None:
            return "plain-to-tls-port", (
                f"{error.reason} during the WebSocket upgrade, and the port answers TLS: "
                f"use wss://{uri.netloc}{uri.shown_resource} (or mqtts://{uri.netloc})"
            )
        return "closed-during-upgrade", (
            f"{error.reason} during the WebSocket upgrade: this port probably speaks plain "
            f"MQTT; try mqtt{'s' if uri is not None and uri.tls else ''}://{where}"
        )
    if error.reset:
        return "connection-reset", f"{error.reason} ({error.phase})"
    return "connection-lost", f"{error.reason} ({error.phase})"


def _silence_causes(uri: ServerURI | None, probe: Probe | None, protocol_level: int) -> str:
    """What a close without a word before CONNACK may mean, from what is known: whether
    the connection is TLS or WebSocket already, what a TLS hello got, the MQTT version.
    Only what fits is said."""
    causes = []
    if uri is not None and not uri.tls:
        if probe is None or probe.outcome == "failed":  # not probed, or no connection
            scheme = "wss" if uri.websocket else "mqtts"
            causes.append(f"it may expect TLS on this port (try {scheme}://{uri.netloc})")
        elif probe.outcome == "timeout":
            causes.append(
                f"a TLS hello got no answer within {probe.timeout:g} s either, so it "
                "probably does not expect TLS"
            )
        else:
            causes.append("a TLS hello got no TLS answer either, so it does not expect TLS")
    if uri is not None and not uri.websocket:
        # An HTTP server mostly answers bytes it cannot read with a 400 (see
        # _other_protocol); some close without one.
        scheme = "wss" if uri.tls else "ws"
        causes.append(f"it may expect WebSocket ({scheme}://{uri.netloc}/mqtt)")
    if protocol_level == 3:
        causes.append("it may not speak MQTT 3.1 (try --protocol 3.1.1)")
    causes.append("it may refuse this client without saying why (its log tells)")
    return "; ".join(causes)


def _timeout(error: ResponseTimeout, where: str) -> str:
    limit = f"{error.timeout:g} s"
    details: dict[str, str] = {
        PhaseName.NAME_RESOLUTION: f"the name {error.detail!r} did not resolve within "
        f"{limit}: check DNS",
        PhaseName.TCP_CONNECT: f"no answer from {error.detail or where} within {limit}: the "
        "host may be down, or a firewall drops the packets",
        PhaseName.PROXY_CONNECT: f"no answer from the proxy {error.detail} within {limit}: "
        "it may be down, or a firewall drops the packets",
        PhaseName.PROXY_TUNNEL: f"the proxy ({error.detail}) did not finish its handshake "
        f"within {limit}: it may be slow to reach the server, or not a proxy of that kind",
        PhaseName.TLS_HANDSHAKE: f"the TLS handshake did not finish within {limit}: is "
        f"{where} really a TLS port?",
        PhaseName.WEBSOCKET_UPGRADE: f"no HTTP answer to the WebSocket upgrade within {limit}: "
        f"is {where} really a WebSocket port?",
        PhaseName.CONNACK: f"no CONNACK within {limit}: is {where} really an MQTT port?",
        PhaseName.PINGRESP: f"no PINGRESP within {limit}: the server or the network stalled",
        PhaseName.AUTH: f"no answer to the re-authentication within {limit}",
    }
    detail = details.get(error.phase, f"{error}")
    return f"timeout in phase {error.phase} ({limit}): {detail}"


def _tls(
    error: TLSError, uri: ServerURI | None, where: str, client_certificate: bool, now: float
) -> tuple[str, str]:
    cert: dict[str, Any] = error.certificate
    code = error.verify_code
    reason = error.ssl_reason.upper()
    host = uri.host if uri is not None else "the server"
    if code in (62, 64):
        names = ", ".join(cert.get("names") or []) or cert.get("subject") or "unknown names"
        checked = error.checked_name or host
        fix = (
            "set --server-name to one of those names"
            if checked != host
            else "connect with one of those names, or set --server-name"
        )
        return "hostname-mismatch", (
            f"the server certificate is for {names}, not for {checked!r}: {fix}"
        )
    if code in (19, 20, 21):
        # 19: the server sent its whole chain, and its root is not one we trust.
        issuer = cert.get("issuer")
        if issuer:
            return "unknown-ca", (
                f"the server certificate was issued by {issuer!r}, which is not among the "
                "trusted CAs: give that CA with --cafile"
            )
        return "unknown-ca", (
            f"the server certificate's issuer is not among the trusted CAs; which issuer is "
            f"not known, because {_unread(error)}: give the server's CA with --cafile"
        )
    if code == 10:
        return "certificate-expired", (
            f"the server certificate expired on {cert.get('not_after', '?')} (valid from "
            f"{cert.get('not_before', '?')}); {_clock(cert, now, False)}"
        )
    if code == 9:
        return "certificate-not-yet-valid", (
            f"the server certificate is valid only from {cert.get('not_before', '?')}; "
            f"{_clock(cert, now, True)}"
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
    if "HANDSHAKE_FAILURE" in reason and not client_certificate and error.server_hello is not False:
        # TLS 1.2 has no alert for "certificate required": a server that wants one says
        # "handshake failure", as it does when it shares no cipher with the client.
        if error.certificate_requested:
            return "client-certificate-required", (
                "the server asked for a client certificate, none was given, and it ended "
                "the handshake with a plain 'handshake failure' (as TLS 1.2 servers do): "
                "give --certfile and --keyfile; if one does not help, the server and this "
                "client share no cipher or TLS parameter (see --tls-min-version)"
            )
        if error.certificate_requested is None:
            return "client-certificate-required", (
                "the server ended the handshake with a plain 'handshake failure' and no "
                "client certificate was given: it probably requires one (TLS 1.2 says no "
                "more), give --certfile and --keyfile; otherwise the server and this client "
                "share no cipher or TLS parameter (see --tls-min-version)"
            )
    if "HANDSHAKE_FAILURE" in reason and client_certificate and error.certificate_requested:
        return "client-certificate-rejected", (
            "the server asked for a client certificate and ended the handshake with a plain "
            "'handshake failure' after ours: it probably does not accept it (it must be "
            "issued by a CA the server trusts, for a use it allows); otherwise the server and "
            "this client share no cipher or TLS parameter (see --tls-min-version)"
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
    if reason in ("EOF", "RESET") and error.phase != PhaseName.TLS_HANDSHAKE:
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
    if "HANDSHAKE_FAILURE" in reason:
        return "tls-error", (
            f"TLS failed in phase {error.phase}: {error.reason}: the server and this client "
            "share no cipher or TLS parameter, or it refuses this client (see --tls-min-version "
            "and its log)"
        )
    return "tls-error", f"TLS failed in phase {error.phase}: {error.reason}"


def _unread(error: TLSError) -> str:
    """Why the certificate could not be read on the second, unverified handshake."""
    probe = error.certificate_fetch
    if probe is None:
        return "it was not read"
    return {
        "timeout": f"a second handshake to read it got no answer within {probe.timeout:g} s",
        "closed": "the server closed a second handshake to read it",
        "reset": "the server reset a second handshake to read it",
        "tls": "the certificate names no issuer",
    }.get(probe.outcome, "a second handshake to read it failed")


def _clock(cert: dict[str, Any], now: float, early: bool) -> str:
    """This machine's clock, next to the certificate's dates: a gateway whose clock was
    reset (to 1970) or is years off sees good certificates as expired or not yet valid."""
    shown = time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(now))
    not_before = _seconds(cert.get("not_before", ""))
    if now < _CLOCK_SANE or early or (not_before is not None and now < not_before):
        return (
            f"this machine's clock says {shown}, which is probably wrong: set it (NTP), "
            "then try again"
        )
    return f"this machine's clock says {shown}: the server needs a new certificate"


def _seconds(date: str) -> float | None:
    # The form of getpeercert(), e.g. "Jan  1 00:00:00 2021 GMT".
    import calendar

    try:
        return float(calendar.timegm(time.strptime(date, "%b %d %H:%M:%S %Y GMT")))
    except ValueError:
        return None


def _websocket(error: WebSocketError, uri: ServerURI | None) -> tuple[str, str]:
    offered = error.offered_subprotocol or "mqtt"
    other = "3.1" if offered == "mqtt" else "3.1.1"
    switch = f"--protocol {other} offers the subprotocol {'mqttv3.1' if other == '3.1' else 'mqtt'}"
    if error.selected_subprotocol:
        return "websocket-upgrade-failed", (
            f"the server chose the WebSocket subprotocol {error.selected_subprotocol!r}, not "
            f"the {offered!r} offered: {switch} (MQTT 3.1.1: mqtt, MQTT 3.1: mqttv3.1)"
        )
    if not error.status:
        return "websocket-error", f"{error}"
    hint = {
        400: f"check the path and the server's configuration; a server that does not take "
        f"the subprotocol {offered!r} answers so too: {switch}",
        401: "the server wants credentials: see --ws-header",
        403: "the server forbids this client: see --ws-header",
        404: f"check the path ({uri.resource if uri else '/mqtt'} was asked for)",
        426: f"the server wants another WebSocket version or subprotocol: {switch}",
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
        scheme = "wss" if uri is not None and uri.tls else "ws"
        return "plain-to-websocket-port", (
            f"the server answered in HTTP: this port expects WebSocket; try {scheme}://{netloc}/mqtt"
        )
    return None
