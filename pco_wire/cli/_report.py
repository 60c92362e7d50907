"""``bench --report FILE``: the file checked before any traffic, and the page written at
the end (pco_wire/report.py makes it), as a settings file is written: atomically, never
over a FIFO or a device, the mode of a file it replaces kept."""

from __future__ import annotations

import os

from ..errors import InvalidSettings

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

FIELD = "report"


def check(path: str) -> None:
    """Raises InvalidSettings (field "report", ``cannot write 'FILE': why``) when the page
    could not be written to ``path``: its directory missing or not writable, or the path
    a directory, a FIFO, a device or a read-only file. Nothing is left behind."""

    def refuse(reason: str) -> InvalidSettings:
        return InvalidSettings([(FIELD, f"cannot write {path!r}: {reason}")])

    if not path or "\0" in path:
        raise refuse("expected a file name")
    target = os.path.realpath(path)
    directory = os.path.dirname(target)
    if os.path.isdir(target):
        raise refuse("it is a directory")
    if not os.path.isdir(directory):
        raise refuse(f"no such directory {os.path.dirname(path) or directory!r}")
    if os.path.exists(target):
        import stat

        from .._files import file_kind

        try:
            mode = os.stat(target).st_mode
        except OSError as exc:
            raise refuse(exc.strerror or str(exc)) from None
        if not stat.S_ISREG(mode):
            raise refuse(f"expected a regular file, got {file_kind(mode)}")
        if not os.access(target, os.W_OK):
            raise refuse("read-only")
    import tempfile

    # The page is written beside the file and moved over it: try that much now.
    try:
        descriptor, probe = tempfile.mkstemp(
            prefix=f".{os.path.basename(target)}.", suffix=".tmp", dir=directory
        )
    except OSError as exc:
        raise refuse(exc.strerror or str(exc)) from None
    os.close(descriptor)
    os.unlink(probe)


def write(path: str, document: dict[str, Any]) -> str | None:
    """Write the page of ``document`` to ``path``; None, or the sentence saying why it
    could not be written."""
    from ..config import save_text
    from ..report import render

    try:
        save_text(render(document), path)
    except InvalidSettings as exc:
        return exc.problems[0][1]
    return None
