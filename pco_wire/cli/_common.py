"""What every command of the CLI shares: where it writes, and how it fails."""

from __future__ import annotations

import sys

from .. import _console

TYPE_CHECKING = False
if TYPE_CHECKING:
    import argparse

#: Where the commands write: standard output and standard error, set by ``main``.
out = _console.Output(sys.stdout)
err = _console.Output(sys.stderr)


def fail(
    args: argparse.Namespace, code: int, category: str, message: str, exc: BaseException
) -> int:
    if args.debug:
        traceback(exc)
    if args.json and args.command == "test":
        # The same document as any other result, so that scripts find every key.
        from ..check import TestResult
        from ..uri import shown_text

        out.line(
            json_text(
                TestResult(
                    False, code, category, message, shown_text(getattr(args, "uri", None) or "")
                ).to_json(),
                2,
            )
        )
    elif args.json:
        out.line(
            json_text(
                {"event": "failed", "exit_code": code, "category": category, "message": message}
            )
        )
    else:
        err.line(f"FAILED ({category}, exit {code}): {message}")
    return code


def traceback(exc: BaseException) -> None:
    import traceback as module

    module.print_exception(exc, file=sys.stderr)


def stamp() -> str:
    from datetime import datetime

    return datetime.now().isoformat(timespec="milliseconds")


def json_text(document: object, indent: int | None = None) -> str:
    import json

    return json.dumps(document, indent=indent)
