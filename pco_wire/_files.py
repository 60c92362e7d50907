"""Files we read ourselves: regular files only, and never more than a bound.

A settings file, a password file or a certificate named by a person may turn out to be a
FIFO (``open`` would wait forever for a writer), a device (``/dev/zero`` never ends), a
directory, or simply huge. Each is refused with a reason that names the field, before
anything blocks and before more than the bound (and one byte) is read. Files that
``ssl`` reads itself (CA, certificate, key) are checked the same way just before it
opens them.
"""

from __future__ import annotations

import os
import stat

from .errors import InvalidSettings

__all__ = [
    "PEM_LIMIT",
    "SECRET_LIMIT",
    "SETTINGS_LIMIT",
    "file_kind",
    "file_problem",
    "read_bounded",
    "read_with_mode",
    "size_text",
]

#: A settings file: a few hundred bytes in practice.
SETTINGS_LIMIT = 1 << 20
#: A password file: an MQTT password is at most 65,535 bytes (MQTT 3.1.1 §3.1.3.5),
#: and the file may end with a line ending (\r\n).
SECRET_LIMIT = 65_535 + 2
#: CA bundles, certificates and keys (the system's bundle is about 200 KiB).
PEM_LIMIT = 4 << 20


def size_text(limit: int) -> str:
    """``limit`` the way the README says it: "1 MiB", "64 KiB" or "65,537 bytes"."""
    if limit % (1 << 20) == 0:
        return f"{limit >> 20} MiB"
    if limit % (1 << 10) == 0:
        return f"{limit >> 10} KiB"
    return f"{limit:,} bytes"


def file_kind(mode: int) -> str:
    """What a file of ``mode`` (``st_mode``) is, in words: "a FIFO", "a directory"."""
    if stat.S_ISDIR(mode):
        return "a directory"
    if stat.S_ISFIFO(mode):
        return "a FIFO"
    if stat.S_ISCHR(mode):
        return "a character device"
    if stat.S_ISBLK(mode):
        return "a block device"
    if stat.S_ISSOCK(mode):
        return "a socket"
    return "not a regular file"


def _refusal(mode: int, size: int, limit: int, directory_ok: bool = False) -> str | None:
    """Why a file of this ``mode`` and ``size`` is not read, or None."""
    if directory_ok and stat.S_ISDIR(mode):
        return None
    if not stat.S_ISREG(mode):
        expected = "a regular file or a directory" if directory_ok else "a regular file"
        return f"expected {expected}, got {file_kind(mode)}"
    if size > limit:
        return f"expected at most {size_text(limit)}, got more"
    return None


def file_problem(
    path: str, limit: int, *, directory_ok: bool = False, shown: str | None = None
) -> str | None:
    """Why the file at ``path`` cannot be read as one of ours, or None when it can: it
    does not exist or is not readable, is not a regular file (or a directory, with
    ``directory_ok``), is larger than ``limit``, or its name holds a NUL character.
    ``shown`` is how the path appears in the reason (by default its repr): a value in a
    file field may be a secret pasted in the wrong place."""
    what = "a readable file or directory" if directory_ok else "a readable file"
    name = repr(path) if shown is None else shown
    if "\0" in path:
        return f"expected {what}, got a path with a NUL character"
    try:
        info = os.stat(path)
    except OSError:
        return f"expected {what}, got {name}"
    refusal = _refusal(info.st_mode, info.st_size, limit, directory_ok)
    if refusal is not None:
        return f"{refusal} ({name})"
    if not os.access(path, os.R_OK):
        return f"expected {what}, got {name}"
    return None


def read_bounded(path: str, field: str, limit: int) -> bytes:
    """The bytes of the regular file at ``path``, at most ``limit`` of them. Raises
    InvalidSettings on ``field`` saying why it cannot be read (``cannot read 'x': ...``):
    an operating-system error, not a regular file, larger than ``limit``, a NUL in the
    name. Never blocks on a FIFO and never reads more than ``limit`` + 1 bytes."""
    return read_with_mode(path, field, limit)[0]


def read_with_mode(path: str, field: str, limit: int) -> tuple[bytes, int]:
    """``read_bounded``, and the ``st_mode`` of the file that was read (its permissions
    from the same descriptor: no second look-up by name, which might find another file)."""

    def refuse(reason: str) -> InvalidSettings:
        return InvalidSettings([(field, f"cannot read {path!r}: {reason}")])

    if "\0" in path:
        raise refuse("the path has a NUL character")
    try:
        # O_NONBLOCK: opening a FIFO does not wait for a writer; fstat then says what
        # was opened (the file itself, not what a name pointed to a moment before).
        descriptor = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_NOCTTY | os.O_CLOEXEC)
    except OSError as exc:
        reason = exc.strerror or str(exc)
        try:
            # A Unix socket cannot be opened at all (ENXIO): say what it is instead.
            reason = _refusal(os.stat(path).st_mode, 0, limit) or reason
        except OSError:
            pass
        raise refuse(reason) from None
    try:
        info = os.fstat(descriptor)
        refusal = _refusal(info.st_mode, info.st_size, limit)
        if refusal is not None:
            raise refuse(refusal)
        chunks = []
        left = limit + 1  # one byte more tells a file that grew past the bound
        while left > 0:
            chunk = os.read(descriptor, min(left, 1 << 16))
            if not chunk:
                break
            chunks.append(chunk)
            left -= len(chunk)
        if left <= 0:
            raise refuse(f"expected at most {size_text(limit)}, got more")
        return b"".join(chunks), info.st_mode
    except OSError as exc:
        raise refuse(exc.strerror or str(exc)) from None
    finally:
        os.close(descriptor)
