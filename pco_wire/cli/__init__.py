"""``python -m pco_wire COMMAND``: the parser, the options the commands share, and the
exit statuses; each command is a module of its own (test, monitor, bench, config, wizard),
imported only when it runs.

The front end moves settings in and words out; the diagnosis and the protocol live
elsewhere. Exit statuses are listed in ``diagnose.EXIT_CODES`` and in ``--help``. The
connection options of ``test`` and ``monitor`` and their mapping onto the settings come
from the field table (fields.py).
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence

from .. import _console
from ..diagnose import EXIT_CODES, diagnose
from ..errors import Error, InvalidSettings
from ..fields import FIELDS, parse_seconds
from ..settings import Settings, WillSettings

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable
    from types import ModuleType
    from typing import Any

__all__ = ["main"]

#: The commands, each the module of its name in this package, with ``run``: test,
#: monitor and bench take the settings the connection options made, config and wizard
#: the parsed arguments. Another command is one more module and one more subparser.
COMMANDS = ("test", "monitor", "bench", "config", "wizard")


def _command(name: str) -> ModuleType:
    """The module of command ``name``, imported only now: a command does not pay for the
    others at start-up."""
    import importlib

    assert name in COMMANDS, name
    return importlib.import_module(f".{name}", __name__)


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
    test.add_argument(
        "--any",
        action="store_true",
        help="several servers: success when one accepts (else the first failure's status)",
    )
    monitor.add_argument(
        "--duration", type=_argument(parse_seconds), metavar="S", help="stop after S seconds"
    )
    bench = commands.add_parser(
        "bench",
        help="open many connections on a schedule, hold them, and measure",
        description="Open --connections N connections at --rate R a second (at most "
        "--concurrency C in flight), hold them --duration S seconds (PINGREQ every "
        "--ping-interval I), send DISCONNECT, and report connect latency by phase, "
        "PINGRESP round trips, failures and losses by diagnosis category, and our own CPU "
        "and memory. Ctrl-C stops at once, with DISCONNECTs and the summary so far.",
        epilog=_EPILOG,
        formatter_class=_Formatter,
    )
    if command in (None, "bench"):
        from .bench import add_options

        add_options(bench)
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
    for name, sub in (("test", test), ("monitor", monitor), ("bench", bench)):
        if command in (None, name):
            _connection_options(sub)
    return parser


def _argument(parse: Callable[[str], Any]) -> Callable[[str], Any]:
    """``parse`` for argparse: its ValueError says what was expected, as the option's
    error."""

    def convert(text: str) -> Any:
        try:
            return parse(text)
        except ValueError as exc:
            raise argparse.ArgumentTypeError(str(exc)) from None

    # argparse names the type in some messages ("invalid ... value").
    convert.__name__ = parse.__name__
    return convert


def _connection_options(p: argparse.ArgumentParser) -> None:
    # Every default is SUPPRESS: an option left out is absent from the namespace, so that
    # a settings file's value stands unless the command line gives another. Options the
    # command added before these (monitor's --duration) keep their defaults.
    first = len(p._actions)
    p.set_defaults(json=False, debug=False)
    # server_uri is the positional argument, not an option: it may come from --config.
    # Several URIs are a list of servers (failover): test tests each, monitor takes the
    # first that works (bench refuses more than one).
    p.add_argument(
        "uri",
        nargs="*",
        metavar="URI",
        help="mqtt://, mqtts://, ws:// or wss://host[:port]; several: a list of servers "
        "tried in order; may come from --config",
    )
    p.add_argument(
        "--config",
        "-c",
        metavar="FILE",
        help="settings file (TOML); options given here override it; a blank client ID is "
        "generated and kept in it",
    )
    groups: dict[str, Any] = {}
    exclusive: dict[str, Any] = {}
    for field in FIELDS:
        if not field.options:
            continue
        if field.group not in groups:
            groups[field.group] = p.add_argument_group(field.group)
        target = groups[field.group]
        if field.exclusive is not None:
            if field.exclusive not in exclusive:
                exclusive[field.exclusive] = target.add_mutually_exclusive_group()
            target = exclusive[field.exclusive]
        for option in field.options:
            kwargs: dict[str, Any] = {"dest": field.name, "help": option.help}
            if option.const is not None:
                kwargs.update(action="store_const", const=option.const)
            else:
                kwargs.update(metavar=field.metavar, choices=field.choices)
                if field.repeat:
                    kwargs["action"] = "append"
                if field.parse is not None:
                    # int's own message ("invalid int value: 'x'") is argparse's, as ever.
                    kwargs["type"] = field.parse if field.parse is int else _argument(field.parse)
            target.add_argument(*option.flags, **kwargs)
        if field.name == "password_file":
            # Not a field: a way of giving the password, one of its exclusive sources.
            target.add_argument(
                "--password-prompt",
                action="store_true",
                help="ask for the password without echo (needs a terminal)",
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
    file_problems: list[tuple[str, str]] = []
    if path is not None:
        from ..config import load_lenient

        # The rules are checked on the settings as the options leave them (an option may
        # mend the file, e.g. --password-file for a variable not set here).
        base, file_problems, file_warnings = load_lenient(path, check=False)
        warnings += file_warnings
    elif given.get("uri"):
        base = Settings(_uris(given["uri"]))
    else:
        raise InvalidSettings([("server_uri", "expected a URI, or --config FILE")])
    changes: dict[str, dict[str, Any]] = {"": {}, "will": {}, "security": {}}
    if given.get("uri"):
        changes[""]["server_uri"] = _uris(given["uri"])
    # One source of a secret given here replaces whatever source the file named.
    sources = {field.source for field in FIELDS if field.source and field.name in given}
    if "password_prompt" in given:
        sources.add("password")
    for field in FIELDS:
        if field.source in sources:
            changes[field.record][field.attr] = None
    for field in FIELDS:
        if field.name not in given:
            continue
        value = given[field.name]
        if field.repeat:
            # --alpn a,b --alpn c: each option gives a tuple of names.
            flat = field.kind.startswith("texts")
            value = tuple(item for part in value for item in part) if flat else tuple(value)
        changes[field.record][field.attr] = value
        if field.warning is not None:
            warnings.append(field.warning)
    if given.get("password_prompt"):
        changes[""]["password"] = _prompt_password()
    if changes["will"]:
        if "topic" not in changes["will"] and base.will is None:
            raise InvalidSettings([("will.topic", "expected --will-topic with the other --will-*")])
        changes[""]["will"] = (base.will or WillSettings("")).replace(**changes["will"])
    if changes["security"]:
        changes[""]["security"] = base.security.replace(**changes["security"])
    settings = base.replace(**changes[""])
    if file_problems:
        from ..config import with_rules

        # Every problem at once, as `config check` gives them: the file's (but those of
        # the keys an option replaced) and the rules' on what the options left.
        mended = {field.key for field in FIELDS if field.name in given}
        kept = [(f, r) for f, r in file_problems if f.partition("[")[0] not in mended]
        if kept:
            raise InvalidSettings(with_rules(kept, settings))
    return settings, path


def _uris(given: str | list[str]) -> str | list[str]:
    """The positional URIs: one is a URI, as ever; several a list of servers."""
    if isinstance(given, list) and len(given) == 1:
        return given[0]
    return given


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
    from ..config import keep_client_id

    # Check everything else first: a file is not changed for settings that cannot work.
    # The rules are those of `config check` (the ID is kept, so clean session off is fine).
    problems = settings.problems(identity_kept=True)
    if problems:
        raise InvalidSettings(problems)
    return keep_client_id(settings, path)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI; returns the exit status. Without ``argv`` (a real run), the standard
    streams and stop signals are set up first (see _console.py)."""
    if argv is None:
        _console.prepare()
        argv = sys.argv[1:]
    global out, err
    out, err = _console.Output(sys.stdout), _console.Output(sys.stderr)
    argv = list(argv)
    try:
        args = _parser(argv[0] if argv else None).parse_args(argv)
    except KeyboardInterrupt as exc:
        return _console.stop_status(exc)
    uris = getattr(args, "uri", None)
    if isinstance(uris, list) and len(uris) == 1:
        args.uri = uris[0]  # one server: its URI, as ever
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
            code: int = _command(args.command).run(args)
            return code
        except KeyboardInterrupt as exc:
            return _console.stop_status(exc)
        except BrokenPipeError:
            # The person's side of the dialogue went away: nothing more can be asked.
            _console.Output(sys.stdout).closed_by_reader()
            return 2
        except Exception as exc:  # a bug: one line, no traceback (the rule of every command)
            err.line(f"FAILED (internal-error, exit 70): {type(exc).__name__}: {exc}")
            return 70
    warnings: list[str] = []
    try:
        settings, path = _settings(args, warnings)
        if args.command != "bench":  # bench gives each connection an ID of its own
            settings = _keep_identity(settings, path)
        status: int = _command(args.command).run(settings, args, warnings)
        return status
    except Error as exc:
        code, category, message = diagnose(exc)
        return fail(args, code, category, message, exc)
    except KeyboardInterrupt as exc:
        # Stopped before the command had anything to report (a test under way, a first
        # connection): say so, rather than end without a word.
        status = _console.stop_status(exc)
        err.line(f"interrupted (exit {status}): {args.command} stopped before it finished")
        return status
    except Exception as exc:
        return fail(args, 70, "internal-error", f"internal error: {type(exc).__name__}: {exc}", exc)


#: Where the commands write: standard output and standard error, set by ``main``.
out = _console.Output(sys.stdout)
err = _console.Output(sys.stderr)


def fail(
    args: argparse.Namespace, code: int, category: str, message: str, exc: BaseException
) -> int:
    if args.debug:
        traceback(exc)
    if args.json and args.command == "test" and len(_given_uris(args)) > 1:
        # Several servers, none tested (the settings of the list refused): the document
        # of several, with no entry.
        failed = {"ok": False, "exit_code": code, "category": category, "message": message}
        document = {**failed, "any": args.any, "accepted": 0, "warnings": [], "servers": []}
        out.line(json_text(document, 2))
    elif args.json and args.command == "test":
        # The same document as any other result, so that scripts find every key.
        from ..result import TestResult
        from ..uri import shown_text

        out.line(
            json_text(
                TestResult(
                    False, code, category, message, shown_text(getattr(args, "uri", None) or "")
                ).to_json(),
                2,
            )
        )
    elif args.json and args.command == "bench":
        from .bench import failed_document

        out.line(json_text(failed_document(args, code, category, message), 2))
    elif args.json:
        out.line(
            json_text(
                {"event": "failed", "exit_code": code, "category": category, "message": message}
            )
        )
    else:
        err.line(f"FAILED ({category}, exit {code}): {message}")
    return code


def _given_uris(args: argparse.Namespace) -> list[str]:
    given = getattr(args, "uri", None) or []
    return [given] if isinstance(given, str) else list(given)


def traceback(exc: BaseException) -> None:
    import traceback as module

    module.print_exception(exc, file=sys.stderr)


def stamp() -> str:
    from datetime import datetime

    return datetime.now().isoformat(timespec="milliseconds")


def json_text(document: object, indent: int | None = None) -> str:
    import json

    return json.dumps(document, indent=indent)
