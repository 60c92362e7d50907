"""``python -m pco_wire test URI``: CONNECT, DISCONNECT, and every phase said."""

from __future__ import annotations

from .. import cli

TYPE_CHECKING = False
if TYPE_CHECKING:
    import argparse

    from ..settings import Settings


def run(settings: Settings, args: argparse.Namespace, warnings: list[str]) -> int:
    from ..sync.check import test_connection

    result = test_connection(settings)
    result.warnings[:0] = warnings
    if args.debug and result.error is not None:
        cli.traceback(result.error)
    if args.json:
        cli.out.line(cli.json_text(result.to_json(), indent=2))
        return result.exit_code
    for warning in result.warnings:
        cli.err.line(f"warning: {warning}")
    as_id = f" as {result.client_id}" if result.client_id else ""
    cli.out.line(f"pco_wire test {result.uri}{as_id}")
    for phase in result.phases:
        mark = "ok" if phase.ok else "FAILED"
        cli.out.line(f"  {phase.name:<18} {mark:<7} {phase.seconds * 1000:8.1f} ms  {phase.detail}")
    if result.tls:
        t = result.tls
        cli.out.line(
            f"  TLS: {t['version']} {t['cipher']}; server certificate {t['subject']!s}, "
            f"issued by {t['issuer']}, valid until {t['not_after']}"
        )
    if result.other_packet_count:
        kinds: dict[str, int] = {}
        for packet in result.other_packets:
            kinds[packet["type"]] = kinds.get(packet["type"], 0) + 1
        listed = ", ".join(f"{count} {kind}" for kind, count in kinds.items())
        more = result.other_packet_count - len(result.other_packets)
        cli.out.line(
            f"  received {result.other_packet_count} other packet"
            f"{'s' if result.other_packet_count > 1 else ''} before DISCONNECT ({listed}"
            f"{f', and {more} more' if more else ''}): messages the server kept for this "
            "session or sent at once; --json lists them"
        )
    if result.ok:
        present = "yes" if result.session_present else "no"
        cli.out.line(
            f"OK: {result.message}; return code 0 ({result.return_code_text}); "
            f"session present: {present}"
        )
    else:
        cli.out.line(f"FAILED ({result.category}, exit {result.exit_code}): {result.message}")
    return result.exit_code
