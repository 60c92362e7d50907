"""The diagnosis without a network: one table of categories and statuses (the README's),
sentences that say only what the facts of the error support, and text from the network
made one printable line (pco_wire._text).

Errors here are built as the transport builds them, with their facts set; what each one
looks like against a real server or a fake peer is tested in test_faults.py, test_cli.py
and test_connect_integration.py.
"""

from __future__ import annotations

import ast
import calendar
import re
from pathlib import Path
from typing import Any

import pytest

from pco_wire import diagnose as diagnose_module
from pco_wire._text import printable
from pco_wire.diagnose import CATEGORIES, EXIT_CODES, diagnose
from pco_wire.errors import (
    ConnectionClosed,
    MalformedPacket,
    TLSError,
    TransportError,
    WebSocketError,
)
from pco_wire.reasons import CATEGORIES as CODE_CATEGORIES
from pco_wire.transport import Probe
from pco_wire.uri import parse_uri
from tests.support import readme_table

# Seconds since the epoch, for the clock tests.
NOW = float(calendar.timegm((2026, 12, 2, 12, 0, 0)))
BOOTED_IN_1970 = 192.0

# Anything a terminal would act on: C0, DEL, C1, bidi controls, line/paragraph separators.
CONTROL = re.compile("[\x00-\x1f\x7f-\x9f\u200e\u200f\u202a-\u202e\u2066-\u2069\u2028\u2029]")


def _uri(text: str) -> Any:
    return parse_uri(text)


# ---------------------------------------------------------------------------- one table


def test_the_readme_lists_every_category_with_its_status() -> None:
    documented = {row[0]: int(row[1]) for row in readme_table("### Diagnoses")}
    assert documented == CATEGORIES


def test_the_readme_lists_every_exit_status() -> None:
    documented = {int(row[0]) for row in readme_table("### Exit statuses")}
    # Every status but those of a stop signal is some diagnosis's.
    stopped = {129, 130, 143}
    assert documented == set(EXIT_CODES) == set(CATEGORIES.values()) | stopped


def _categories_in_the_source() -> set[str]:
    """Every category name diagnose.py can hand back: the first string of each tuple it
    returns or keeps in a table (the refusals)."""
    tree = ast.parse(Path(diagnose_module.__file__).read_text(encoding="utf-8"))
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Tuple) and node.elts:
            first = node.elts[0]
            if isinstance(first, ast.Constant) and isinstance(first.value, str):
                if re.fullmatch(r"[a-z]+(-[a-z0-9]+)+|timeout|connected", first.value):
                    found.add(first.value)
    return found


def test_every_category_the_code_returns_is_in_the_table() -> None:
    found = _categories_in_the_source()
    assert found - set(CATEGORIES) == set()
    # And the table holds nothing the code never gives (connected: check.py says it).
    # (the server's codes take theirs from the table of codes, reasons.py).
    assert set(CATEGORIES) - found - set(CODE_CATEGORIES) == set()


@pytest.mark.parametrize(
    ("error", "head", "probe", "category"),
    [
        (MalformedPacket("expected CONNACK", 0), b"\x15\x03\x03\x00\x02\x02\x28", None, "tls"),
        (ConnectionClosed("CONNACK", "closed"), b"", Probe("tls", 2.0), "tls"),
        (ConnectionClosed("CONNACK", "reset", reset=True), b"", Probe("tls", 2.0), "tls"),
        (MalformedPacket("expected CONNACK", 0), b"HTTP/1.1 400", None, "websocket"),
    ],
    ids=["alert-record", "silent-close-probed", "reset-probed", "http-answer"],
)
def test_plain_to_the_wrong_port_has_one_status(
    error: Exception, head: bytes, probe: Probe | None, category: str
) -> None:
    # Whichever way it shows (a TLS record, a close on a port that answers TLS), the
    # wrong scheme for the port is exit 3, as documented.
    code, got, _ = diagnose(error, _uri("mqtt://127.0.0.1:8883"), head=head, probe=probe)
    assert (code, got) == (3, f"plain-to-{category}-port")


# ---------------------------------------------------------------------------- before CONNACK


def _closed(uri: str, *, reset: bool = False, **facts: Any) -> tuple[int, str, str]:
    error = ConnectionClosed("CONNACK", "the server closed the connection", reset=reset)
    return diagnose(error, _uri(uri), **facts)


def test_a_reset_before_connack_is_called_a_reset() -> None:
    code, category, sentence = _closed("mqtt://127.0.0.1:1883", reset=True, probe=Probe("reset", 2))
    assert (code, category) == (3, "connection-reset")
    assert sentence.startswith("the server reset the connection after CONNECT, before CONNACK")


def test_a_silent_close_not_probed_suggests_tls() -> None:
    _, category, sentence = _closed("mqtt://127.0.0.1:1883")
    assert category == "closed-before-connack"
    assert "try mqtts://127.0.0.1:1883" in sentence, sentence


@pytest.mark.parametrize(
    ("probe", "words"),
    [
        (Probe("closed", 2.0), "a TLS hello got no TLS answer either"),
        (Probe("not-tls", 2.0), "a TLS hello got no TLS answer either"),
        (Probe("timeout", 2.0), "a TLS hello got no answer within 2 s either"),
    ],
)
def test_after_the_probe_found_no_tls_tls_is_not_suggested(probe: Probe, words: str) -> None:
    _, category, sentence = _closed("mqtt://127.0.0.1:1883", probe=probe)
    assert category == "closed-before-connack"
    assert words in sentence, sentence
    assert "mqtts://" not in sentence and "try TLS" not in sentence, sentence


def test_on_a_tls_connection_tls_is_not_suggested() -> None:
    _, category, sentence = _closed("mqtts://127.0.0.1:8883")
    assert category == "closed-before-connack"
    assert "TLS" not in sentence and "mqtts://" not in sentence, sentence
    assert "it may expect WebSocket (wss://127.0.0.1:8883/mqtt)" in sentence, sentence
    assert "refuse this client without saying why" in sentence, sentence


def test_a_plain_connection_may_be_to_a_websocket_port() -> None:
    _, _, sentence = _closed("mqtt://127.0.0.1:1883", probe=Probe("closed", 2))
    assert "it may expect WebSocket (ws://127.0.0.1:1883/mqtt)" in sentence, sentence


def test_a_probe_that_could_not_connect_leaves_tls_open() -> None:
    _, _, sentence = _closed("mqtt://127.0.0.1:1883", probe=Probe("failed", 2))
    assert "try mqtts://127.0.0.1:1883" in sentence, sentence


def test_websocket_suggests_wss_and_not_websocket() -> None:
    _, _, sentence = _closed("ws://127.0.0.1:8080/mqtt")
    assert "try wss://127.0.0.1:8080" in sentence, sentence
    assert "expect WebSocket" not in sentence, sentence


def test_mqtt_31_suggests_that_the_server_may_not_speak_it() -> None:
    _, _, sentence = _closed("mqtt://127.0.0.1:1883", probe=Probe("closed", 2), protocol_level=3)
    assert "it may not speak MQTT 3.1 (try --protocol 3.1.1)" in sentence, sentence
    _, _, plain = _closed("mqtt://127.0.0.1:1883", probe=Probe("closed", 2))
    assert "3.1" not in plain, plain


def test_a_clean_close_on_the_upgrade_request() -> None:
    error = ConnectionClosed(
        "WebSocket upgrade", "the server closed the connection without an HTTP answer"
    )
    code, category, sentence = diagnose(error, _uri("ws://127.0.0.1:1883"))
    assert (code, category) == (3, "closed-during-upgrade")
    assert sentence.endswith("try mqtt://127.0.0.1:1883"), sentence


# ---------------------------------------------------------------------------- CONNACK


@pytest.mark.parametrize("code", [6, 0x80, 0x9F, 0xFF])
def test_an_undefined_return_code_is_a_refusal_worded_as_one(code: int) -> None:
    error = MalformedPacket(f"expected return code 0..5, got {code}", 3)
    status, category, sentence = diagnose(
        error, _uri("mqtt://127.0.0.1:1883"), head=bytes([0x20, 0x02, 0x00, code])
    )
    assert (status, category) == (6, "unknown-return-code")
    assert f"refused with return code {code}, which MQTT 3.1.1 does not define" in sentence
    assert "0x80..0x9F" in sentence and "see its log" in sentence, sentence


# ---------------------------------------------------------------------------- TLS


def _tls_error(
    verify_code: int = 0, ssl_reason: str = "", certificate: dict[str, Any] | None = None
) -> TLSError:
    reason = "certificate verify failed: x" if verify_code else "the server sent TLS alert 'x'"
    error = TLSError("TLS handshake", reason, verify_code, ssl_reason)
    error.certificate = certificate or {}
    return error


EXPIRED = {
    "subject": "CN=localhost",
    "issuer": "CN=pco_wire test CA",
    "not_before": "Jan  1 00:00:00 2020 GMT",
    "not_after": "Jan  1 00:00:00 2021 GMT",
    "names": ["localhost"],
}


def test_expired_shows_this_machines_clock() -> None:
    _, category, sentence = diagnose(
        _tls_error(10, "CERTIFICATE_VERIFY_FAILED", EXPIRED), _uri("mqtts://h"), now=NOW
    )
    assert category == "certificate-expired"
    assert "expired on Jan  1 00:00:00 2021 GMT" in sentence, sentence
    assert "this machine's clock says 2026-12-02 12:00:00 UTC" in sentence, sentence
    assert "probably wrong" not in sentence, sentence


def test_expired_with_a_clock_in_1970_says_the_clock_is_wrong() -> None:
    # The certificate "expired" only because the clock is before its start: a gateway
    # that booted without its real-time clock.
    _, category, sentence = diagnose(
        _tls_error(10, "CERTIFICATE_VERIFY_FAILED", EXPIRED), _uri("mqtts://h"), now=BOOTED_IN_1970
    )
    assert category == "certificate-expired"
    assert "clock says 1970-01-01 00:03:12 UTC, which is probably wrong" in sentence, sentence


def test_not_yet_valid_shows_the_clock_as_probably_wrong() -> None:
    cert = {**EXPIRED, "not_before": "Dec  1 00:00:00 2026 GMT", "not_after": "Dec  1 2027 GMT"}
    now = float(calendar.timegm((2024, 5, 1, 8, 30, 0)))
    _, category, sentence = diagnose(
        _tls_error(9, "CERTIFICATE_VERIFY_FAILED", cert), _uri("mqtts://h"), now=now
    )
    assert category == "certificate-not-yet-valid"
    assert "valid only from Dec  1 00:00:00 2026 GMT" in sentence, sentence
    assert "clock says 2024-05-01 08:30:00 UTC, which is probably wrong" in sentence, sentence


@pytest.mark.parametrize(
    ("outcome", "words"),
    [
        ("timeout", "a second handshake to read it got no answer within 2 s"),
        ("closed", "the server closed a second handshake to read it"),
        ("failed", "a second handshake to read it failed"),
    ],
)
def test_unknown_ca_without_the_certificate_says_why_the_issuer_is_not_known(
    outcome: str, words: str
) -> None:
    error = _tls_error(20, "CERTIFICATE_VERIFY_FAILED")
    error.certificate_fetch = Probe(outcome, 2.0)
    _, category, sentence = diagnose(error, _uri("mqtts://h"))
    assert category == "unknown-ca"
    assert "an unknown issuer" not in sentence, sentence
    assert f"which issuer is not known, because {words}" in sentence, sentence


HANDSHAKE_FAILURE = "SSLV3_ALERT_HANDSHAKE_FAILURE"


@pytest.mark.parametrize("requested", [True, None], ids=["asked-for", "not-known"])
def test_tls12_handshake_failure_without_a_client_certificate(requested: bool | None) -> None:
    error = _tls_error(ssl_reason=HANDSHAKE_FAILURE)
    error.server_hello, error.certificate_requested = True, requested
    code, category, sentence = diagnose(error, _uri("mqtts://h"), client_certificate=False)
    assert (code, category) == (4, "client-certificate-required")
    assert "--certfile and --keyfile" in sentence, sentence
    # The other cause TLS 1.2's generic alert leaves open.
    assert "share no cipher or TLS parameter" in sentence, sentence


@pytest.mark.parametrize(
    ("facts", "client_certificate"),
    [
        ({"server_hello": True, "certificate_requested": False}, False),
        ({"server_hello": False, "certificate_requested": False}, False),
        ({"server_hello": True, "certificate_requested": False}, True),
    ],
    ids=["not-asked-for", "hello-not-answered", "certificate-given-not-asked-for"],
)
def test_handshake_failure_that_is_not_about_a_missing_certificate(
    facts: dict[str, bool], client_certificate: bool
) -> None:
    error = _tls_error(ssl_reason=HANDSHAKE_FAILURE)
    for name, value in facts.items():
        setattr(error, name, value)
    code, category, sentence = diagnose(
        error, _uri("mqtts://h"), client_certificate=client_certificate
    )
    assert (code, category) == (4, "tls-error")
    assert "share no cipher or TLS parameter" in sentence, sentence


def test_tls12_handshake_failure_after_our_client_certificate() -> None:
    error = _tls_error(ssl_reason=HANDSHAKE_FAILURE)
    error.server_hello = error.certificate_requested = True
    code, category, sentence = diagnose(error, _uri("mqtts://h"), client_certificate=True)
    assert (code, category) == (4, "client-certificate-rejected")
    assert "probably does not accept it" in sentence, sentence
    assert "share no cipher or TLS parameter" in sentence, sentence


# ---------------------------------------------------------------------------- WebSocket


@pytest.mark.parametrize(("uri", "scheme"), [("mqtt://h:8080", "ws"), ("mqtts://h:8443", "wss")])
def test_an_http_answer_suggests_websocket_over_the_same_security(uri: str, scheme: str) -> None:
    error = MalformedPacket("expected CONNACK", 0)
    _, category, sentence = diagnose(error, _uri(uri), head=b"HTTP/1.1 400 Bad Request")
    assert category == "plain-to-websocket-port"
    assert sentence.endswith(f"try {scheme}://{uri.split('://')[1]}/mqtt"), sentence


@pytest.mark.parametrize(("offered", "switch"), [("mqtt", "3.1"), ("mqttv3.1", "3.1.1")])
@pytest.mark.parametrize("status", [400, 426])
def test_upgrade_refused_with_400_or_426_points_at_protocol(
    status: int, offered: str, switch: str
) -> None:
    error = WebSocketError("WebSocket upgrade", f"the server answered HTTP {status} x", status)
    error.offered_subprotocol = offered
    code, category, sentence = diagnose(error, _uri("ws://h/mqtt"))
    assert (code, category) == (4, "websocket-upgrade-failed")
    assert f"--protocol {switch}" in sentence, sentence


def test_another_subprotocol_chosen_points_at_protocol() -> None:
    error = WebSocketError("WebSocket upgrade", "the upgrade failed: unsupported subprotocol")
    error.offered_subprotocol, error.selected_subprotocol = "mqtt", "mqttv3.1"
    code, category, sentence = diagnose(error, _uri("ws://h/mqtt"))
    assert (code, category) == (4, "websocket-upgrade-failed")
    assert "chose the WebSocket subprotocol 'mqttv3.1', not the 'mqtt' offered" in sentence
    assert "--protocol 3.1 offers the subprotocol mqttv3.1" in sentence, sentence


# ---------------------------------------------------------------------------- printable


@pytest.mark.parametrize(
    ("text", "shown"),
    [
        ("\x1b]0;title\x07", "\\x1b]0;title\\x07"),
        ("failed\rOK: connected", "failed OK: connected"),
        ("failed\r\nOK: connected", "failed OK: connected"),
        ("<html>\n  <body>\n    404\n", "<html> <body> 404"),
        ("abc\u202edef", "abc\\u202edef"),
        ("a\u2028b\u2029c\x85d\x7f", "a\\u2028b\\u2029c\\x85d\\x7f"),
        ("Jan  1 00:00:00 2021 GMT", "Jan  1 00:00:00 2021 GMT"),
        (b"\xff\xfe ok", "\\xff\\xfe ok"),
        ("caf\u00e9 \u6e29\u5ea6", "caf\u00e9 \u6e29\u5ea6"),
        ("\U0001f600\U000e0001", "\U0001f600\\U000e0001"),
    ],
    ids=[
        "title-escape", "lone-cr", "crlf", "xhtml", "rlo", "separators",
        "double-space", "bytes", "unicode", "astral",
    ],
)  # fmt: skip
def test_printable(text: str | bytes, shown: str) -> None:
    assert printable(text) == shown
    assert printable(shown) == shown  # idempotent


def test_printable_is_bounded() -> None:
    assert printable("x" * 500) == "x" * 200 + "..."
    assert printable("\x1b" * 100, 20) == "\\x1b" * 5 + "..."
    assert len(printable("\n" * 10_000 + "y")) == 1


def test_every_sentence_is_one_printable_line() -> None:
    hostile = "\x1b]0;pwned\x07\r\nOK: connected \u202e"
    errors: list[Exception] = [
        WebSocketError("WebSocket upgrade", f"the server answered HTTP 404 {hostile}", 404),
        ConnectionClosed("session", f"the server closed the WebSocket ({hostile})", websocket=True),
        _tls_error(18, "CERTIFICATE_VERIFY_FAILED", {"subject": hostile}),
        _tls_error(62, "CERTIFICATE_VERIFY_FAILED", {"names": [hostile]}),
        MalformedPacket(hostile, 0),
    ]
    for error in errors:
        _, _, sentence = diagnose(error, _uri("ws://h/mqtt"))
        assert not CONTROL.search(sentence), repr(sentence)


# ---------------------------------------------------------------------------- facts, not prose


@pytest.mark.parametrize(
    ("condition", "category"),
    [("refused", "connection-refused"), ("unreachable", "no-route"), ("", "network-error")],
)
def test_connect_failures_are_told_by_their_condition(condition: str, category: str) -> None:
    # The words of the reason do not matter: only the fact the transport recorded.
    error = TransportError("TCP connect", "connection refused, no route", condition)
    assert diagnose(error)[:2] == (3, category)
