"""``python -m pco_wire test URI``: CONNECT, DISCONNECT, and every phase said."""

from __future__ import annotations

from .. import cli

TYPE_CHECKING = False
if TYPE_CHECKING:
    import argparse
    from typing import Any

    from ..result import TestResult
    from ..settings import Settings

#: The longest phase detail shown (what the server chose in it is cut shorter where it
#: enters).
_DETAIL_LIMIT = 1000

#: The MQTT version of each ``TestResult.protocol``, in words.
VERSIONS = {"5": "MQTT 5.0", "3.1.1": "MQTT 3.1.1", "3.1": "MQTT 3.1"}


def run(settings: Settings, args: argparse.Namespace, warnings: list[str]) -> int:
    from ..sync.check import test_connection

    if len(settings.servers) > 1:
        return run_servers(settings, args, warnings)
    result = test_connection(settings)
    result.warnings[:0] = warnings
    if args.debug and result.error is not None:
        cli.traceback(result.error)
    if args.json:
        cli.out.line(cli.json_text(result.to_json(), indent=2))
        return result.exit_code
    for warning in result.warnings:
        cli.err.line(f"warning: {warning}")
    for line in report(result, settings.protocol, tested(settings)):
        cli.out.line(line)
    return result.exit_code


def run_servers(settings: Settings, args: argparse.Namespace, warnings: list[str]) -> int:
    """Several servers: each tested in order, each reported (the text one after the
    other, or a JSON document with an entry per server); the exit status is the first
    failure's, or with --any 0 when one accepted."""
    from ..errors import InvalidSettings
    from ..sync.check import test_servers

    problems = settings.problems()
    if problems:  # every server's settings first: none is tested for a list that cannot work
        raise InvalidSettings(problems)
    results = test_servers(settings)
    code, category, message = outcome(results, args.any)
    if args.debug:
        for result in results:
            if result.error is not None:
                cli.traceback(result.error)
    if args.json:
        document = {
            "ok": code == 0,
            "exit_code": code,
            "category": category,
            "message": message,
            "any": args.any,
            "accepted": sum(result.ok for result in results),
            "warnings": warnings,
            "servers": [result.to_json() for result in results],
        }
        cli.out.line(cli.json_text(document, indent=2))
        return code
    for warning in warnings:
        cli.err.line(f"warning: {warning}")
    count = len(results)
    for n, (uri, result) in enumerate(zip(settings.servers, results, strict=True), 1):
        if n > 1:
            cli.out.line("")
        cli.out.line(f"=== server {n} of {count} ===")
        for warning in result.warnings:
            cli.err.line(f"warning: {warning}")
        for line in report(result, settings.protocol, tested(settings.for_server(uri))):
            cli.out.line(line)
    cli.out.line("")
    verdict = "OK" if code == 0 else f"FAILED ({category}, exit {code})"
    cli.out.line(f"=== summary: {verdict}: {message}")
    return code


def outcome(results: list[TestResult], any_: bool) -> tuple[int, str, str]:
    """(exit status, category, sentence) of a test of several servers: 0 when every one
    accepted, or with ``any_`` when one did; else the first failure's status and
    category."""
    count = len(results)
    accepted = [n for n, result in enumerate(results, 1) if result.ok]
    failures = [(n, result) for n, result in enumerate(results, 1) if not result.ok]
    said = f"{len(accepted)} of {count} servers accepted"
    if accepted:
        said += f" ({', '.join(f'server {n}' for n in accepted)})"
    if not failures:
        return 0, "connected", said
    n, first = failures[0]
    failed = f"the first failure: server {n}, {first.uri}: {first.message}"
    if accepted and any_:
        return 0, "connected", f"{said} (--any); {failed}"
    return first.exit_code, first.category, f"{said}; {failed}"


def tested(settings: Settings) -> str | None:
    """The server URI a test was asked for, as the header shows it (after a redirect
    followed, the result's is the server that answered); None for settings refused."""
    from ..errors import InvalidSettings
    from ..uri import shown_text

    try:
        return shown_text(str(settings.check()))
    except InvalidSettings:
        return None


def report(result: TestResult, protocol: str, uri: str | None = None) -> list[str]:
    """The text of a test: the phases, TLS, other packets, the outcome and, in MQTT 5.0,
    what the CONNACK negotiated (``protocol``: the one asked for; ``uri``: the server
    asked for, the result's by default)."""
    from .._text import printable

    # The client ID may be one the server assigned (MQTT 5.0): its text.
    as_id = f" as {printable(result.client_id)}" if result.client_id else ""
    lines = [f"pco_wire test {uri or result.uri}{as_id}"]
    for phase in result.phases:
        mark = "ok" if phase.ok else "FAILED"
        # A detail may quote the server (a redirect's reference): one printable line.
        detail = printable(phase.detail, _DETAIL_LIMIT)
        lines.append(f"  {phase.name:<18} {mark:<7} {phase.seconds * 1000:8.1f} ms  {detail}")
    if result.tls:
        t = result.tls
        lines.append(
            f"  TLS: {t['version']} {t['cipher']}; server certificate {t['subject']!s}, "
            f"issued by {t['issuer']}, valid until {t['not_after']}"
        )
    if result.other_packet_count:
        kinds: dict[str, int] = {}
        for packet in result.other_packets:
            kinds[packet["type"]] = kinds.get(packet["type"], 0) + 1
        listed = ", ".join(f"{count} {kind}" for kind, count in kinds.items())
        more = result.other_packet_count - len(result.other_packets)
        lines.append(
            f"  received {result.other_packet_count} other packet"
            f"{'s' if result.other_packet_count > 1 else ''} before DISCONNECT ({listed}"
            f"{f', and {more} more' if more else ''}): messages the server kept for this "
            "session or sent at once; --json lists them"
        )
    if protocol == "auto" and result.protocol in VERSIONS:
        # Which version "auto" ended with: the one that got the answer.
        lines.append(f"  protocol: {VERSIONS[result.protocol]} (auto)")
    if result.ok:
        present = "yes" if result.session_present else "no"
        code = "reason code 0x00" if result.protocol == "5" else "return code 0"
        lines.append(
            f"OK: {result.message}; {code} ({result.return_code_text}); session present: {present}"
        )
        if result.properties is not None:
            lines += negotiated(result.properties)
    else:
        lines.append(f"FAILED ({result.category}, exit {result.exit_code}): {result.message}")
        if result.properties is not None:
            lines += explained(result.properties)
    return lines


def negotiated(properties: dict[str, Any]) -> list[str]:
    """What an MQTT 5.0 CONNACK made of our CONNECT (``result.negotiated``), one item a
    line; the server's text through ``printable``."""
    from .._text import printable

    p = properties
    size = p.get("maximum_packet_size")
    keep_alive = p.get("keep_alive")
    whose = "the server's" if p.get("keep_alive_from") == "server" else "ours"
    rows = [
        ("keep-alive", f"{keep_alive} s ({whose})" if keep_alive else "0 (no PINGREQ)"),
    ]
    if p.get("assigned_client_id") is not None:
        rows.append(("assigned client ID", printable(p["assigned_client_id"])))
    expiry = p.get("session_expiry_interval")
    rows += [
        ("session expiry", f"{expiry:,} s" if isinstance(expiry, int) else str(expiry)),
        ("receive maximum", f"{p.get('receive_maximum'):,}"),
        ("maximum packet size", "no limit" if size is None else f"{size:,} bytes"),
        ("maximum QoS", str(p.get("maximum_qos"))),
        (
            "available",
            ", ".join(
                f"{name} {_yes(p.get(key))}"
                for name, key in (
                    ("retain", "retain_available"),
                    ("wildcard subscriptions", "wildcard_subscription_available"),
                    ("subscription identifiers", "subscription_identifier_available"),
                    ("shared subscriptions", "shared_subscription_available"),
                )
            ),
        ),
        ("topic alias maximum", f"{p.get('topic_alias_maximum'):,}"),
    ]
    for name, key in (
        ("authentication method", "authentication_method"),
        ("response information", "response_information"),
    ):
        if p.get(key) is not None:
            rows.append((name, printable(p[key])))
    rows += _server_says(p)
    width = max(len(name) for name, _ in rows)
    return ["negotiated (MQTT 5.0):", *(f"  {name:<{width}}  {value}" for name, value in rows)]


def explained(properties: dict[str, Any]) -> list[str]:
    """What a refusing MQTT 5.0 server said beside its reason code."""
    return [f"  {name}: {value}" for name, value in _server_says(properties)]


def _server_says(p: dict[str, Any]) -> list[tuple[str, str]]:
    from .._text import printable

    rows = []
    if p.get("reason_string") is not None:
        rows.append(("reason string", printable(p["reason_string"])))
    if p.get("server_reference") is not None:
        rows.append(("server reference", printable(p["server_reference"])))
    pairs = p.get("user_properties") or []
    if pairs:
        rows.append(
            ("user properties", ", ".join(f"{printable(n)}={printable(v)}" for n, v in pairs))
        )
    return rows


def _yes(value: object) -> str:
    return "yes" if value else "no"
