"""``python -m pco_wire test URI`` and ``python -m pco_wire monitor URI``.

The front end moves settings in and words out; the diagnosis and the protocol live
elsewhere. Exit statuses are listed in ``diagnose.EXIT_CODES`` and in ``--help``.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Sequence

from .diagnose import EXIT_CODES, diagnose
from .errors import Error, InvalidSettings
from .settings import TLS_VERSIONS, Security, Settings, WillSettings

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

__all__ = ["main"]


_EPILOG = "exit status:\n" + "\n".join(f"  {code:<3} {text}" for code, text in EXIT_CODES.items())


class _Formatter(argparse.RawDescriptionHelpFormatter):
    """argparse's formatter, with the width found without ``shutil``: argparse makes a
    formatter for every option it adds, and ``shutil`` costs 2 ms at start-up."""

    def __init__(self, prog: str, **options: Any) -> None:
        if options.get("width") is None:
            try:
                options["width"] = os.get_terminal_size(sys.stdout.fileno()).columns - 2
            except (OSError, ValueError):
                columns = os.environ.get("COLUMNS", "")
                options["width"] = (int(columns) if columns.isdigit() else 80) - 2
        super().__init__(prog, **options)


def _parser(command: str | None = None) -> argparse.ArgumentParser:
    """The parser; given the ``command`` about to run, only its options are built
    (argparse spends a millisecond and more on forty options)."""
    parser = argparse.ArgumentParser(
        prog="python -m pco_wire",
        description="Test and watch MQTT connections the way a gateway makes them.",
        epilog=_EPILOG,
        formatter_class=_Formatter,
    )
    # prog given: argparse would otherwise build a help formatter (and import shutil).
    commands = parser.add_subparsers(
        dest="command", required=True, metavar="COMMAND", prog="python -m pco_wire"
    )
    test = commands.add_parser(
        "test",
        help="send CONNECT and DISCONNECT and say what happened",
        description="Connect to the server, send exactly CONNECT and DISCONNECT, and report "
        "every phase; on failure, what failed and what to try.",
        epilog=_EPILOG,
        formatter_class=_Formatter,
    )
    monitor = commands.add_parser(
        "monitor",
        help="hold the connection and print one line per event",
        description="Connect and stay connected, printing each event (PINGREQ, PINGRESP "
        "with its round trip, other packets, the end and why). Ends after --duration or "
        "on Ctrl-C with a DISCONNECT.",
        epilog=_EPILOG,
        formatter_class=_Formatter,
    )
    monitor.add_argument("--duration", type=_positive, metavar="S", help="stop after S seconds")
    for name, sub in (("test", test), ("monitor", monitor)):
        if command in (None, name):
            _connection_options(sub)
    return parser


def _positive(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected seconds, got {text!r}") from None
    if not 0 < value < 1e6:
        raise argparse.ArgumentTypeError(f"expected a positive number of seconds, got {text}")
    return value


def _keep_alive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected whole seconds 0..65535, got {text!r}") from None
    if not 0 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"expected whole seconds 0..65535, got {value}")
    return value


def _header(text: str) -> tuple[str, str]:
    name, sep, value = text.partition(":")
    if not sep or not name.strip():
        raise argparse.ArgumentTypeError(f"expected 'Name: value', got {text!r}")
    return name.strip(), value.strip()


def _connection_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("uri", metavar="URI", help="mqtt://, mqtts://, ws:// or wss://host[:port]")
    client = p.add_argument_group("client")
    client.add_argument(
        "--client-id",
        "-i",
        default="",
        metavar="ID",
        help="1..23 of 0-9 a-z A-Z; generated when left out",
    )
    client.add_argument("--username", "-u", metavar="NAME")
    secret = client.add_mutually_exclusive_group()
    secret.add_argument(
        "--password",
        "-P",
        metavar="TEXT",
        help="visible to other users of this machine: prefer the options below",
    )
    secret.add_argument("--password-env", metavar="VAR", help="read the password from $VAR")
    secret.add_argument(
        "--password-file",
        metavar="FILE",
        help="read the password from FILE (one trailing newline stripped)",
    )
    secret.add_argument(
        "--password-prompt",
        action="store_true",
        help="ask for the password without echo (needs a terminal)",
    )
    client.add_argument(
        "--response-timeout",
        "-t",
        type=_positive,
        default=10.0,
        metavar="S",
        help="seconds the server has for each phase and answer (default 10)",
    )
    client.add_argument(
        "--keep-alive",
        "-k",
        type=_keep_alive,
        default=60,
        metavar="S",
        help="longest gap between two packets we send; 0: no PINGREQ (default 60)",
    )
    clean = client.add_mutually_exclusive_group()
    clean.add_argument(
        "--clean-session",
        dest="clean_session",
        action="store_true",
        default=True,
        help="no missed messages after an interruption (default)",
    )
    clean.add_argument(
        "--no-clean-session",
        dest="clean_session",
        action="store_false",
        help="the server keeps the session (needs --client-id)",
    )
    client.add_argument("--protocol", choices=("3.1.1", "3.1"), default="3.1.1")
    will = p.add_argument_group("will (published by the server if the gateway vanishes)")
    will.add_argument("--will-topic", metavar="TOPIC")
    will.add_argument("--will-message", default="", metavar="TEXT")
    will.add_argument("--will-qos", type=int, choices=(0, 1, 2), default=0)
    will.add_argument("--will-retain", action="store_true")
    tls = p.add_argument_group("security (mqtts:// and wss:// only)")
    tls.add_argument(
        "--cafile",
        metavar="PATH",
        help="CA certificates, a PEM file or a directory (default: the system's)",
    )
    tls.add_argument("--certfile", "--cert", metavar="FILE", help="client certificate (PEM)")
    tls.add_argument("--keyfile", "--key", metavar="FILE", help="client key (PEM)")
    key = tls.add_mutually_exclusive_group()
    key.add_argument("--key-password-env", metavar="VAR")
    key.add_argument("--key-password-file", metavar="FILE")
    tls.add_argument("--tls-min-version", choices=TLS_VERSIONS, default="1.2")
    tls.add_argument(
        "--server-name",
        metavar="NAME",
        help="name for SNI and the certificate check, if not the host",
    )
    tls.add_argument("--alpn", action="append", default=[], metavar="PROTOCOL")
    tls.add_argument(
        "--no-verify-hostname",
        action="store_true",
        help="accept a trusted certificate for any name (warns)",
    )
    tls.add_argument("--insecure", action="store_true", help="verify no certificate at all (warns)")
    ws = p.add_argument_group("websocket (ws:// and wss:// only)")
    ws.add_argument(
        "--ws-header",
        action="append",
        type=_header,
        default=[],
        metavar="'NAME: VALUE'",
        help="extra upgrade request header (repeatable)",
    )
    out = p.add_argument_group("output")
    out.add_argument("--json", action="store_true", help="one JSON document on stdout")
    out.add_argument(
        "--debug",
        action="store_true",
        help="wire log and tracebacks on stderr (passwords stay hidden)",
    )


def _settings(args: argparse.Namespace, warnings: list[str]) -> Settings:
    password = args.password
    if password is not None:
        warnings.append(
            "--password on the command line can be seen by other users of this "
            "machine: prefer --password-env, --password-file or --password-prompt"
        )
    if args.password_prompt:
        if not sys.stdin.isatty():
            raise InvalidSettings([("password", "--password-prompt needs a terminal")])
        import getpass

        try:
            password = getpass.getpass("password: ")
        except EOFError:
            raise InvalidSettings([("password", "no password was typed")]) from None
    security = Security(
        cafile=args.cafile,
        certfile=args.certfile,
        keyfile=args.keyfile,
        keyfile_password_env=args.key_password_env,
        keyfile_password_file=args.key_password_file,
        verify_hostname=not args.no_verify_hostname,
        insecure=args.insecure,
        server_name=args.server_name,
        alpn=tuple(a for item in args.alpn for a in item.split(",") if a),
        tls_min_version=args.tls_min_version,
    )
    will = None
    if args.will_topic is not None:
        will = WillSettings(args.will_topic, args.will_message, args.will_qos, args.will_retain)
    elif args.will_message or args.will_retain or args.will_qos:
        raise InvalidSettings([("will.topic", "expected --will-topic with the other --will-*")])
    return Settings(
        server_uri=args.uri,
        client_id=args.client_id,
        username=args.username,
        password=password,
        password_env=args.password_env,
        password_file=args.password_file,
        response_timeout=args.response_timeout,
        keep_alive=args.keep_alive,
        clean_session=args.clean_session,
        protocol=args.protocol,
        will=will,
        security=security,
        ws_headers=tuple(args.ws_header),
    )


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI; returns the exit status."""
    argv = sys.argv[1:] if argv is None else list(argv)
    args = _parser(argv[0] if argv else None).parse_args(argv)
    if args.debug or args.command == "monitor":
        # Only then: logging costs more at start-up than a whole test on loopback.
        import logging

        logging.basicConfig(
            level=logging.DEBUG if args.debug else logging.ERROR,
            format="%(asctime)s %(name)s %(levelname)s %(message)s",
            stream=sys.stderr,
        )
    warnings: list[str] = []
    try:
        settings = _settings(args, warnings)
        if args.command == "test":
            return _test(settings, args, warnings)
        return _monitor(settings, args, warnings)
    except Error as exc:
        code, category, message = diagnose(exc)
        return _fail(args, code, category, message, exc)
    except KeyboardInterrupt:
        return 130
    except Exception as exc:
        return _fail(
            args, 70, "internal-error", f"internal error: {type(exc).__name__}: {exc}", exc
        )


def _fail(
    args: argparse.Namespace, code: int, category: str, message: str, exc: BaseException
) -> int:
    if args.debug:
        _traceback(exc)
    if args.json and args.command == "test":
        # The same document as any other result, so that scripts find every key.
        from .client import TestResult
        from .uri import _shown

        print(_json(TestResult(False, code, category, message, _shown(args.uri)).to_json(), 2))
    elif args.json:
        print(
            _json({"event": "failed", "exit_code": code, "category": category, "message": message})
        )
    else:
        print(f"FAILED ({category}, exit {code}): {message}", file=sys.stderr)
    return code


def _traceback(exc: BaseException) -> None:
    import traceback

    traceback.print_exception(exc, file=sys.stderr)


def _test(settings: Settings, args: argparse.Namespace, warnings: list[str]) -> int:
    from .client import test_connection

    result = test_connection(settings)
    result.warnings[:0] = warnings
    if args.debug and result.error is not None:
        _traceback(result.error)
    if args.json:
        print(_json(result.to_json(), indent=2))
        return result.exit_code
    for warning in result.warnings:
        print(f"warning: {warning}", file=sys.stderr)
    print(f"pco_wire test {result.uri}" + (f" as {result.client_id}" if result.client_id else ""))
    for phase in result.phases:
        mark = "ok" if phase.ok else "FAILED"
        print(f"  {phase.name:<18} {mark:<7} {phase.seconds * 1000:8.1f} ms  {phase.detail}")
    if result.tls:
        t = result.tls
        print(
            f"  TLS: {t['version']} {t['cipher']}; server certificate {t['subject']!s}, "
            f"issued by {t['issuer']}, valid until {t['not_after']}"
        )
    if result.ok:
        present = "yes" if result.session_present else "no"
        print(
            f"OK: {result.message}; return code 0 ({result.return_code_text}); "
            f"session present: {present}"
        )
    else:
        print(f"FAILED ({result.category}, exit {result.exit_code}): {result.message}")
    return result.exit_code


def _stamp() -> str:
    from datetime import datetime

    return datetime.now().isoformat(timespec="milliseconds")


def _json(document: object, indent: int | None = None) -> str:
    import json

    return json.dumps(document, indent=indent)


def _monitor(settings: Settings, args: argparse.Namespace, warnings: list[str]) -> int:
    from .client import Client
    from .session import Closed, Connected, Event, PacketReceived, PingSent, PongReceived

    def emit(kind: str, text: str, **extra: Any) -> None:
        if args.json:
            print(_json({"time": _stamp(), "event": kind, "message": text, **extra}), flush=True)
        else:
            print(f"{_stamp()} {text}", flush=True)

    def on_event(event: Event) -> None:
        if isinstance(event, Connected):
            pass  # said once connect() returns, with the address and the client ID
        elif isinstance(event, PingSent):
            emit("pingreq", "PINGREQ sent")
        elif isinstance(event, PongReceived):
            ms = event.round_trip * 1000
            emit("pingresp", f"PINGRESP received, round trip {ms:.1f} ms", round_trip=ms)
        elif isinstance(event, PacketReceived):
            packet = event.packet
            name = getattr(packet.packet_type, "name", str(packet.packet_type))
            emit("packet", f"{name} received ({len(packet.body)} bytes)", type=name)
        elif isinstance(event, Closed) and event.error is not None:
            emit("lost", f"connection lost: {event.error}")

    for warning in warnings:
        print(f"warning: {warning}", file=sys.stderr)
    client = Client(settings, on_event=on_event)
    try:
        info = client.connect()
    except Error as exc:
        code, category, message = client.diagnose(exc)
        return _fail(args, code, category, message, exc)
    for warning in info.warnings:
        print(f"warning: {warning}", file=sys.stderr)
    present = "yes" if info.session_present else "no"
    emit(
        "connected",
        f"connected to {info.uri} ({info.address}) as {info.client_id}; session present: {present}",
        session_present=info.session_present,
    )
    end = None if args.duration is None else time.monotonic() + args.duration
    # SIGTERM ends the watch like Ctrl-C: with a DISCONNECT.
    import signal

    signal.signal(signal.SIGTERM, signal.default_int_handler)
    try:
        while not client.wait(0.5 if end is None else max(0.0, min(0.5, end - time.monotonic()))):
            if end is not None and time.monotonic() >= end:
                break
    except KeyboardInterrupt:
        emit("interrupted", "interrupted")
    if client.error is None and not client.wait(0):
        client.disconnect()
        emit("disconnected", "DISCONNECT sent; done")
        return 0
    error = client.error
    if error is None:
        return 0
    code, category, message = client.diagnose(error)
    if args.debug:
        _traceback(error)
    print(f"FAILED ({category}, exit {code}): {message}", file=sys.stderr)
    return code
