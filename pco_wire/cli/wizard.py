"""``python -m pco_wire wizard [-o FILE]``: see pco_wire/wizard.py, which asks."""

from __future__ import annotations

import sys

TYPE_CHECKING = False
if TYPE_CHECKING:
    import argparse


def run(args: argparse.Namespace) -> int:
    from .. import wizard

    return wizard.run(
        args.output, stdin=sys.stdin, stdout=sys.stdout, interactive=sys.stdin.isatty()
    )
