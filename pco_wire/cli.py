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

from . import _console
from .diagnose import EXIT_CODES, diagnose
from .errors import Error, InvalidSettings
from .settings import TLS_VERSIONS, Settings, WillSettings, parse_header
from .uri import parse_uri

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
    # a settings file's value stands unless the command line gives another. Options the
    # command added before these (monitor's --duration) keep their defaults.
    first = len(p._actions)
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
    for action in p._actions[first:]:
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
    """Run the CLI; returns the exit status. Without ``argv`` (a real run), the standard
    streams and stop signals are set up first (see _console.py)."""
    global _out, _err
    if argv is None:
        _console.prepare()
        argv = sys.argv[1:]
    _out, _err = _console.Output(sys.stdout), _console.Output(sys.stderr)
    argv = list(argv)
    try:
        args = _parser(argv[0] if argv else None).parse_args(argv)
    except KeyboardInterrupt as exc:
        return _console.stop_status(exc)
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
        except KeyboardInterrupt as exc:
            return _console.stop_status(exc)
        except BrokenPipeError:
            # The person's side of the dialogue went away: nothing more can be asked.
            _console.Output(sys.stdout).closed_by_reader()
            return 2
        except Exception as exc:  # a bug: one line, no traceback (the rule of every command)
            _err.line(f"FAILED (internal-error, exit 70): {type(exc).__name__}: {exc}")
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
    except KeyboardInterrupt as exc:
        return _console.stop_status(exc)
    except Exception as exc:
        return _fail(
            args, 70, "internal-error", f"internal error: {type(exc).__name__}: {exc}", exc
        )


#: Where the commands write: standard output and standard error, set by ``main``.
_out = _console.Output(sys.stdout)
_err = _console.Output(sys.stderr)


def _config_command(args: argparse.Namespace) -> int:
    from . import config

    path = args.file
    if args.action == "init":
        if os.path.exists(path) and not args.force:
            _err.line(f"FAILED (invalid-settings, exit 2): {path} exists; --force replaces it")
            return 2
        try:
            # As every save: atomic, through a link, never over a device or a FIFO.
            config.save_text(config.TEMPLATE, path)
        except InvalidSettings as exc:
            _err.line(f"FAILED (invalid-settings, exit 2): {exc.problems[0][1]}")
            return 2
        _out.line(
            f"wrote {path}: every key with its default; edit it, then: "
            f"python -m pco_wire config check {path}"
        )
        return 0
    try:
        settings, warnings = config.load(path)
        if args.action == "check" and parse_uri(settings.server_uri).tls:
            # What test finds before any traffic, check finds too: certificates, keys
            # and their password as OpenSSL takes them.
            from .transport.tls import build_context

            build_context(settings.security, settings.keyfile_password())
    except InvalidSettings as exc:
        _out.line(f"{path}: {len(exc.problems)} problem{'s' if len(exc.problems) > 1 else ''}")
        for field, reason in exc.problems:
            _out.line(f"  {field}: {reason}")
        return 2
    for warning in warnings:
        _err.line(f"warning: {warning}")
    if args.action == "check":
        _out.line(f"{path}: ok")
        return 0
    # A masked secret is shown commented out, so that the output saved as a file does not
    # carry "***" as a password.
    for line in config.dumps(config.masked(settings)).splitlines():
        _out.line(f"# {line}  (masked)" if line.endswith('***"') else line)
    return 0


def _fail(
    args: argparse.Namespace, code: int, category: str, message: str, exc: BaseException
) -> int:
    if args.debug:
        _traceback(exc)
    if args.json and args.command == "test":
        # The same document as any other result, so that scripts find every key.
        from .result import TestResult
        from .uri import shown_text

        _out.line(
            _json(
                TestResult(
                    False, code, category, message, shown_text(getattr(args, "uri", None) or "")
                ).to_json(),
                2,
            )
        )
    elif args.json:
        _out.line(
            _json({"event": "failed", "exit_code": code, "category": category, "message": message})
        )
    else:
        _err.line(f"FAILED ({category}, exit {code}): {message}")
    return code


def _traceback(exc: BaseException) -> None:
    import traceback

    traceback.print_exception(exc, file=sys.stderr)


def _test(settings: Settings, args: argparse.Namespace, warnings: list[str]) -> int:
    from .sync.check import test_connection

    result = test_connection(settings)
    result.warnings[:0] = warnings
    if args.debug and result.error is not None:
        _traceback(result.error)
    if args.json:
        _out.line(_json(result.to_json(), indent=2))
        return result.exit_code
    for warning in result.warnings:
        _err.line(f"warning: {warning}")
    as_id = f" as {result.client_id}" if result.client_id else ""
    _out.line(f"pco_wire test {result.uri}{as_id}")
    for phase in result.phases:
        mark = "ok" if phase.ok else "FAILED"
        _out.line(f"  {phase.name:<18} {mark:<7} {phase.seconds * 1000:8.1f} ms  {phase.detail}")
    if result.tls:
        t = result.tls
        _out.line(
            f"  TLS: {t['version']} {t['cipher']}; server certificate {t['subject']!s}, "
            f"issued by {t['issuer']}, valid until {t['not_after']}"
        )
    if result.other_packet_count:
        kinds: dict[str, int] = {}
        for packet in result.other_packets:
            kinds[packet["type"]] = kinds.get(packet["type"], 0) + 1
        listed = ", ".join(f"{count} {kind}" for kind, count in kinds.items())
        more = result.other_packet_count - len(result.other_packets)
        _out.line(
            f"  received {result.other_packet_count} other packet"
            f"{'s' if result.other_packet_count > 1 else ''} before DISCONNECT ({listed}"
            f"{f', and {more} more' if more else ''}): messages the server kept for this "
            "session or sent at once; --json lists them"
        )
    if result.ok:
        present = "yes" if result.session_present else "no"
        _out.line(
            f"OK: {result.message}; return code 0 ({result.return_code_text}); "
            f"session present: {present}"
        )
    else:
        _out.line(f"FAILED ({result.category}, exit {result.exit_code}): {result.message}")
    return result.exit_code


def _stamp() -> str:
    from datetime import datetime

    return datetime.now().isoformat(timespec="milliseconds")


def _json(document: object, indent: int | None = None) -> str:
    import json

    return json.dumps(document, indent=indent)


#: Lines the client thread may queue for the printer before it drops them.
_QUEUED_LINES = 1000


def _monitor(settings: Settings, args: argparse.Namespace, warnings: list[str]) -> int:
    """Hold the connection and print a line per event, in order, from this thread
    only: the client thread formats each line and queues it (dropping, and counting,
    what does not fit when the output is slower than the events), so that neither a
    flood of packets nor a slow reader of our output keeps it from its keep-alive."""
    import queue
    import threading

    from ._text import printable
    from .events import (
        Closed,
        Connected,
        GivingUp,
        PacketReceived,
        PingSent,
        PongReceived,
        Reconnecting,
        TakeoverSuspected,
    )
    from .result import CLOSE_WAIT
    from .sync.client import Client

    lines: queue.Queue[str] = queue.Queue(_QUEUED_LINES)
    queuing = threading.Lock()  # the client thread and this one both queue lines
    dropped = 0

    def line(kind: str, text: str, **extra: Any) -> str:
        if args.json:
            return _json({"time": _stamp(), "event": kind, "message": text, **extra})
        return f"{_stamp()} {text}"

    def notice(count: int) -> str:
        text = f"{count} events not shown: the output is slower than the events"
        return line("dropped", text, count=count)

    def skip() -> None:
        nonlocal dropped
        with queuing:
            dropped += 1

    def emit(kind: str, text: str, **extra: Any) -> None:
        # Only this function adds to the queue, under the lock: a line it sees room for
        # goes in. What finds the queue full is counted, and said in its place, in order,
        # as soon as there is room again.
        nonlocal dropped
        with queuing:
            if dropped and not lines.full():
                lines.put_nowait(notice(dropped))
                dropped = 0
            # Packet lines go first when the output falls behind: the last tenth of the
            # queue is kept for the lines that say what the connection does.
            room = _QUEUED_LINES - (_QUEUED_LINES // 10 if kind == "packet" else 0)
            if lines.qsize() >= room:
                dropped += 1
            else:
                lines.put_nowait(line(kind, text, **extra))

    def on_event(event: Any) -> None:
        if isinstance(event, Connected):
            info = client.info
            assert info is not None
            present = "yes" if event.session_present else "no"
            again = "again " if client.connections > 1 else ""
            where = f"{info.address}" if again else f"{info.uri} ({info.address})"
            emit(
                "connected",
                f"connected {again}to {where} as {info.client_id}; session present: {present}",
                session_present=event.session_present,
            )
        elif isinstance(event, PingSent):
            emit("pingreq", "PINGREQ sent")
        elif isinstance(event, PongReceived):
            ms = event.round_trip * 1000
            emit("pingresp", f"PINGRESP received, round trip {ms:.1f} ms", round_trip=ms)
        elif isinstance(event, PacketReceived):
            if lines.qsize() >= _QUEUED_LINES * 9 // 10:  # a flood: not worth describing
                skip()
                return
            from .result import packet_summary

            summary = packet_summary(event.packet)
            topic = f" on '{printable(summary['topic'])}'" if "topic" in summary else ""
            emit(
                "packet",
                f"{summary['type']} received ({summary['size']} bytes){topic}",
                **summary,
            )
        elif isinstance(event, Closed) and event.error is not None:
            emit("lost", f"connection lost: {client.diagnose(event.error)[2]}")
        elif isinstance(event, Reconnecting):
            emit(
                "reconnecting",
                f"connecting again in {event.delay:.1f} s (attempt "
                f"{event.attempt}, after: {printable(str(event.error))})",
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

    def show(deadline: float) -> None:
        """Print what is queued, by ``deadline``."""
        while True:
            try:
                text = lines.get_nowait()
            except queue.Empty:
                break
            if not _out.line(text, deadline):
                return
        nonlocal dropped
        with queuing:
            count, dropped = dropped, 0
        if count:
            _out.line(notice(count), deadline)

    for warning in warnings:
        _err.line(f"warning: {warning}")
    client = Client(settings, on_event=on_event)
    try:
        info = client.connect()
    except Error as exc:
        code, category, message = client.diagnose(exc)
        return _fail(args, code, category, message, exc)
    for warning in info.warnings:
        _err.line(f"warning: {warning}")
    end = None if args.duration is None else time.monotonic() + args.duration
    stop: KeyboardInterrupt | None = None
    try:
        try:
            # One line a turn, so that the end is seen however fast lines come; with
            # --duration, a reader that holds a line past the end stops us too.
            while not client.wait(0):
                remaining = 0.5 if end is None else min(0.5, end - time.monotonic())
                if remaining <= 0:
                    break
                try:
                    text = lines.get(timeout=remaining)
                except queue.Empty:
                    continue
                if not _out.line(text, end):
                    break  # the reader has gone (or held us to the end): a stop
        except KeyboardInterrupt as exc:
            stop = exc
        # From here on every line has a deadline: a reader that stopped reading must not
        # keep us from saying goodbye to the server.
        soon = time.monotonic() + 1.0
        if stop is not None:
            show(soon)
            emit("interrupted", "interrupted" if type(stop) is KeyboardInterrupt else "terminated")
        if client.wait(0):  # it ended by itself: a refusal, a loss without reconnecting
            show(soon)
            error = client.error
            if error is None:
                return 0
            code, category, message = client.diagnose(error)
            if args.debug:
                _traceback(error)
            _err.line(f"FAILED ({category}, exit {code}): {message}", soon)
            return code
        connected = client.connected
        client.disconnect()
        soon = time.monotonic() + 1.0
        show(soon)
        closed = client.server_closed
        if closed is not None:
            farewell = (
                "DISCONNECT sent; the server closed the connection"
                if closed
                else f"DISCONNECT sent; the server had not closed the connection "
                f"{CLOSE_WAIT:g} s later, so we did"
            )
            _out.line(line("disconnected", farewell), soon)
            return 0
        error = client.error
        if error is None:
            _out.line(line("disconnected", "done; not connected"), soon)
            return 0
        code, category, message = client.diagnose(error)
        if connected:
            _out.line(line("disconnected", f"DISCONNECT could not be sent: {message}"), soon)
            _err.line(f"FAILED ({category}, exit {code}): DISCONNECT not sent: {message}", soon)
        else:
            # Stopped while connecting again: the loss not recovered from is the outcome.
            _out.line(line("disconnected", f"done; not connected since: {message}"), soon)
            _err.line(
                f"FAILED ({category}, exit {code}): not connected when stopped: {message}", soon
            )
        return code
    finally:
        # Whatever happened here, the server hears a DISCONNECT (and does not publish
        # the will) unless the connection is gone already.
        if not client.wait(0):
            client.disconnect()
