"""``python -m pco_wire config show|check|init FILE``."""

from __future__ import annotations

import os

from .. import cli
from ..errors import InvalidSettings
from ..uri import parse_uri

TYPE_CHECKING = False
if TYPE_CHECKING:
    import argparse


def run(args: argparse.Namespace) -> int:
    from .. import config

    path = args.file
    if args.action == "init":
        if os.path.isdir(path):
            # --force would not help: a settings file is never written over a directory.
            cli.err.line(f"FAILED (invalid-settings, exit 2): {path} is a directory; name a file")
            return 2
        if os.path.exists(path) and not args.force:
            cli.err.line(f"FAILED (invalid-settings, exit 2): {path} exists; --force replaces it")
            return 2
        try:
            # As every save: atomic, through a link, never over a device or a FIFO.
            config.save_text(config.TEMPLATE, path)
        except InvalidSettings as exc:
            cli.err.line(f"FAILED (invalid-settings, exit 2): {exc.problems[0][1]}")
            return 2
        cli.out.line(
            f"wrote {path}: every key with its default; edit it, then: "
            f"python -m pco_wire config check {path}"
        )
        return 0
    try:
        settings, warnings = config.load(path)
        if args.action == "check" and any(parse_uri(uri).tls for uri in settings.servers):
            # What test finds before any traffic, check finds too: certificates, keys
            # and their password as OpenSSL takes them.
            from ..transport.tls import build_context

            build_context(settings.security, settings.keyfile_password())
    except InvalidSettings as exc:
        cli.out.line(f"{path}: {len(exc.problems)} problem{'s' if len(exc.problems) > 1 else ''}")
        for field, reason in exc.problems:
            cli.out.line(f"  {field}: {reason}")
        return 2
    for warning in warnings:
        cli.err.line(f"warning: {warning}")
    if args.action == "check":
        cli.out.line(f"{path}: ok")
        return 0
    # A masked secret is shown commented out, so that the output saved as a file does not
    # carry "***" as a password.
    for line in config.dumps(config.masked(settings)).splitlines():
        cli.out.line(f"# {line}  (masked)" if line.endswith('***"') else line)
    return 0
