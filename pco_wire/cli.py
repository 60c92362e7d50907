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
from .settings import TLS_VERSIONS, Settings, WillSettings, parse_header

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
    wizard = commands.add_parser(
        "wizard",
        help="set a connection up, question by question, test it, and save it",
        description="Ask for every setting (scheme first; security questions only for "
        "mqtts and wss), test the connection, and write the settings file. Without a "
        "terminal, answers are read from standard input, one per line.",
        formatter_class=_Formatter,
    )
    wizard.add_argument(
        "--output",
        "-o",
        metavar="FILE",
        help="the file to write, or to edit if it exists (default ./pco_wire.toml)",
    )
    config = commands.add_parser(
        "config",
        help="show, check or create a settings file",
        description="show FILE: the settings, secrets masked. check FILE: every problem, "
        "exit 2 if any. init FILE: a commented template with every key and its default.",
        epilog=_EPILOG,
        formatter_class=_Formatter,
    )
    config.add_argument("action", choices=("show", "check", "init"))
    config.add_argument("file", metavar="FILE")
    config.add_argument("--force", action="store_true", help="init: replace an existing file")
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
    try:
        return parse_header(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _connection_options(p: argparse.ArgumentParser) -> None:
    # Every default is SUPPRESS: an option left out is absent from the namespace, so that
    # a settings file's value stands unless the command line gives another.
    p.set_defaults(json=False, debug=False)
    p.add_argument(
        "uri",
        nargs="?",
        metavar="URI",
        help="mqtt://, mqtts://, ws:// or wss://host[:port]; may come from --config",
    )
    p.add_argument(
        "--config",
        "-c",
        metavar="FILE",
        help="settings file (TOML); options given here override it; a blank client ID is "
        "generated and kept in it",
    )
    client = p.add_argument_group("client")
    client.add_argument(
        "--client-id", "-i", metavar="ID", help="1..23 of 0-9 a-z A-Z; generated when left out"
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
        metavar="S",
        help="seconds the server has for each phase and answer (default 10)",
    )
    client.add_argument(
        "--keep-alive",
        "-k",
        type=_keep_alive,
        metavar="S",
        help="longest gap between two packets we send; 0: no PINGREQ (default 60)",
    )
    clean = client.add_mutually_exclusive_group()
    clean.add_argument(
        "--clean-session",
        dest="clean_session",
        action="store_const",
        const=True,
        help="no missed messages after an interruption (default)",
    )
    clean.add_argument(
        "--no-clean-session",
        dest="clean_session",
        action="store_const",
        const=False,
        help="the server keeps the session (needs a client ID)",
    )
    client.add_argument(
        "--protocol",
        choices=("3.1.1", "3.1", "auto"),
        help="default 3.1.1; auto: 3.1.1, then 3.1 once if the server refuses 3.1.1",
    )
    client.add_argument(
        "--max-packet-size", type=int, metavar="BYTES", help="largest packet accepted (1 MiB)"
    )
    again = p.add_argument_group("reconnecting (monitor)")
    again.add_argument(
        "--no-reconnect",
        dest="reconnect",
        action="store_const",
        const=False,
        help="end at the first loss instead of connecting again",
    )
    again.add_argument("--reconnect", dest="reconnect", action="store_const", const=True)
    again.add_argument("--reconnect-min-delay", type=_positive, metavar="S", help="default 1")
    again.add_argument("--reconnect-max-delay", type=_positive, metavar="S", help="default 120")
    will = p.add_argument_group("will (published by the server if the gateway vanishes)")
    will.add_argument("--will-topic", metavar="TOPIC")
    will.add_argument("--will-message", metavar="TEXT")
    will.add_argument("--will-qos", type=int, choices=(0, 1, 2))
    will.add_argument("--will-retain", action="store_const", const=True)
    tls = p.add_argument_group("security (mqtts:// and wss:// only)")
    tls.add_argument(
        "--cafile",
        metavar="PATH",
        help="CA certificates, a PEM file or a directory (default: the system's)",
    )
    tls.add_argument("--certfile", "--cert", metavar="FILE", help="client certificate (PEM)")
    tls.add_argument("--keyfile", "--key", metavar="FILE", help="client key (PEM)")
    key = tls.add_mutually_exclusive_group()
    key.add_argument("--key-password-env", "--keyfile-password-env", metavar="VAR")
    key.add_argument("--key-password-file", "--keyfile-password-file", metavar="FILE")
    tls.add_argument("--tls-min-version", choices=TLS_VERSIONS, help="default 1.2")
    tls.add_argument(
        "--server-name",
        metavar="NAME",
        help="name for SNI and the certificate check, if not the host",
    )
    tls.add_argument("--alpn", action="append", metavar="PROTOCOL")
    verify = tls.add_mutually_exclusive_group()
    verify.add_argument(
        "--verify-hostname", dest="verify_hostname", action="store_const", const=True
    )
    verify.add_argument(
        "--no-verify-hostname",
        dest="verify_hostname",
        action="store_const",
        const=False,
        help="accept a trusted certificate for any name (warns)",
    )
    tls.add_argument(
        "--insecure", action="store_const", const=True, help="verify no certificate at all (warns)"
    )
    ws = p.add_argument_group("websocket (ws:// and wss:// only)")
    ws.add_argument(
        "--ws-header",
        action="append",
        type=_header,
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
    for action in p._actions:
        if action.dest not in ("help", "json", "debug"):
            action.default = argparse.SUPPRESS


def _settings(args: argparse.Namespace, warnings: list[str]) -> tuple[Settings, str | None]:
    """The settings: the file's (if --config), overridden by what the command line gives;
    and the file's path."""
    given = vars(args)
    path: str | None = given.get("config")
    if path is not None:
        from .config import load

        # The rules are checked on the settings as the options leave them (an option may
        # mend the file, e.g. --password-file for a variable not set here).
        base, file_warnings = load(path, check=False)
        warnings += file_warnings
    elif given.get("uri"):
        base = Settings(given["uri"])
    else:
        raise InvalidSettings([("server_uri", "expected a URI, or --config FILE")])
    changes: dict[str, Any] = {}
    if given.get("uri"):
        changes["server_uri"] = given["uri"]
    for option in (
        "client_id",
        "username",
        "response_timeout",
        "keep_alive",
        "clean_session",
        "protocol",
        "max_packet_size",
        "reconnect",
        "reconnect_min_delay",
        "reconnect_max_delay",
    ):
        if option in given:
            changes[option] = given[option]
    password_options = ("password", "password_env", "password_file", "password_prompt")
    if any(option in given for option in password_options):
        # One source replaces whatever source the file named.
        changes.update(
            password=given.get("password"),
            password_env=given.get("password_env"),
            password_file=given.get("password_file"),
        )
        if "password" in given:
            warnings.append(
                "--password on the command line can be seen by other users of this "
                "machine: prefer --password-env, --password-file or --password-prompt"
            )
        if given.get("password_prompt"):
            changes["password"] = _prompt_password()
    will_options = {
        k[5:]: given[k]
        for k in ("will_topic", "will_message", "will_qos", "will_retain")
        if k in given
    }
    if will_options:
        current = base.will or WillSettings("")
        if "topic" not in will_options and base.will is None:
            raise InvalidSettings([("will.topic", "expected --will-topic with the other --will-*")])
        changes["will"] = current.replace(**will_options)
    security: dict[str, Any] = {}
    for option, field in (
        ("cafile", "cafile"),
        ("certfile", "certfile"),
        ("keyfile", "keyfile"),
        ("server_name", "server_name"),
        ("tls_min_version", "tls_min_version"),
        ("verify_hostname", "verify_hostname"),
        ("insecure", "insecure"),
    ):
        if option in given:
            security[field] = given[option]
    if "alpn" in given:
        security["alpn"] = tuple(a for item in given["alpn"] for a in item.split(",") if a)
    if "key_password_env" in given or "key_password_file" in given:
        security.update(
            keyfile_password=None,
            keyfile_password_env=given.get("key_password_env"),
            keyfile_password_file=given.get("key_password_file"),
        )
    if security:
        changes["security"] = base.security.replace(**security)
    if "ws_header" in given:
        changes["ws_headers"] = tuple(given["ws_header"])
    return base.replace(**changes), path


def _prompt_password() -> str:
    if not sys.stdin.isatty():
        raise InvalidSettings([("password", "--password-prompt needs a terminal")])
    import getpass

    try:
        return getpass.getpass("password: ")
    except EOFError:
        raise InvalidSettings([("password", "no password was typed")]) from None


def _keep_identity(settings: Settings, path: str | None) -> Settings:
    """With a settings file and no client ID, generate one and write it to the file
    before anything is sent (one configuration, one client identity)."""
    if path is None or settings.client_id:
        return settings
    from .config import keep_client_id

    # Check everything else first: a file is not changed for settings that cannot work.
    # The rules are those of `config check` (the ID is kept, so clean session off is fine).
    problems = settings.problems(identity_kept=True)
    if problems:
        raise InvalidSettings(problems)
    return keep_client_id(settings, path)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI; returns the exit status."""
    argv = sys.argv[1:] if argv is None else list(argv)
    args = _parser(argv[0] if argv else None).parse_args(argv)
    if getattr(args, "debug", False) or args.command == "monitor":
        # Only then: logging costs more at start-up than a whole test on loopback.
        import logging

        logging.basicConfig(
            level=logging.DEBUG if args.debug else logging.ERROR,
            format="%(asctime)s %(name)s %(levelname)s %(message)s",
            stream=sys.stderr,
        )
    if args.command in ("config", "wizard"):
        try:
            if args.command == "config":
                return _config_command(args)
            from . import wizard

            return wizard.run(
                args.output, stdin=sys.stdin, stdout=sys.stdout, interactive=sys.stdin.isatty()
            )
        except KeyboardInterrupt:
            return 130
        except Exception as exc:  # a bug: one line, no traceback (the rule of every command)
            print(f"FAILED (internal-error, exit 70): {type(exc).__name__}: {exc}", file=sys.stderr)
            return 70
    warnings: list[str] = []
    try:
        settings, path = _settings(args, warnings)
        settings = _keep_identity(settings, path)
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


def _config_command(args: argparse.Namespace) -> int:
    from . import config

    path = args.file
    if args.action == "init":
        if os.path.exists(path) and not args.force:
            print(
                f"FAILED (invalid-settings, exit 2): {path} exists; --force replaces it",
                file=sys.stderr,
            )
            return 2
        try:
            with open(path, "w", encoding="utf-8") as handle:
                handle.write(config.TEMPLATE)
        except OSError as exc:
            print(
                f"FAILED (invalid-settings, exit 2): cannot write {path}: {exc.strerror}",
                file=sys.stderr,
            )
            return 2
        print(
            f"wrote {path}: every key with its default; edit it, then: "
            f"python -m pco_wire config check {path}"
        )
        return 0
    try:
        settings, warnings = config.load(path)
    except InvalidSettings as exc:
        print(f"{path}: {len(exc.problems)} problem{'s' if len(exc.problems) > 1 else ''}")
        for field, reason in exc.problems:
            print(f"  {field}: {reason}")
        return 2
    for warning in warnings:
        print(f"warning: {warning}", file=sys.stderr)
    if args.action == "check":
        print(f"{path}: ok")
        return 0
    # A masked secret is shown commented out, so that the output saved as a file does not
    # carry "***" as a password.
    for line in config.dumps(config.masked(settings)).splitlines():
        print(f"# {line}  (masked)" if line.endswith('***"') else line)
    return 0


def _fail(
    args: argparse.Namespace, code: int, category: str, message: str, exc: BaseException
) -> int:
    if args.debug:
        _traceback(exc)
    if args.json and args.command == "test":
        # The same document as any other result, so that scripts find every key.
        from .check import TestResult
        from .uri import shown_text

        print(
            _json(
                TestResult(
                    False, code, category, message, shown_text(getattr(args, "uri", None) or "")
                ).to_json(),
                2,
            )
        )
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
    from .check import test_connection

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
    from .reconnect import GivingUp, Reconnecting, TakeoverSuspected
    from .session import Closed, Connected, PacketReceived, PingSent, PongReceived

    def emit(kind: str, text: str, **extra: Any) -> None:
        if args.json:
            print(_json({"time": _stamp(), "event": kind, "message": text, **extra}), flush=True)
        else:
            print(f"{_stamp()} {text}", flush=True)

    connections = [0]

    def on_event(event: Any) -> None:
        if isinstance(event, Connected):
            # The first is said once connect() returns, with the address and client ID.
            connections[0] += 1
            if connections[0] > 1 and client.info is not None:
                info = client.info
                present = "yes" if event.session_present else "no"
                emit(
                    "connected",
                    f"connected again to {info.address} as {info.client_id}; "
                    f"session present: {present}",
                    session_present=event.session_present,
                )
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
            emit("lost", f"connection lost: {client.diagnose(event.error)[2]}")
        elif isinstance(event, Reconnecting):
            emit(
                "reconnecting",
                f"connecting again in {event.delay:.1f} s (attempt "
                f"{event.attempt}, after: {event.error})",
                delay=event.delay,
            )
        elif isinstance(event, TakeoverSuspected):
            emit(
                "takeover",
                f"the server keeps closing the connection soon after accepting "
                f"it: another client probably uses client ID {event.client_id!r}; slowing "
                "down (two gateways with one ID throw each other off)",
            )
        elif isinstance(event, GivingUp):
            emit("giving-up", f"not connecting again: {client.diagnose(event.error)[2]}")

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
    if not client.wait(0):
        connected = client.connected
        client.disconnect()
        emit("disconnected", "DISCONNECT sent; done" if connected else "done (not connected)")
        return 0
    error = client.error
    if error is None:
        return 0
    code, category, message = client.diagnose(error)
    if args.debug:
        _traceback(error)
    print(f"FAILED ({category}, exit {code}): {message}", file=sys.stderr)
    return code
