"""Text from the network made safe for a terminal: one printable line.

A server chooses its HTTP error body, its certificate's subject and names, its TLS alert
and WebSocket close reason. Printed raw, an escape sequence could retitle the window or
a carriage return overprint our FAILED line with a fake "OK". ``printable`` is applied
wherever such text enters one of our messages.
"""

from __future__ import annotations

__all__ = ["printable"]

#: What a server's text may take of one of our messages, before it is cut.
LIMIT = 200
_ELLIPSIS = "..."
_WHITESPACE = " \t\n\r\v\f"


def printable(text: str | bytes | bytearray | memoryview, limit: int = LIMIT) -> str:
    """``text`` as one printable line of at most ``limit`` characters (plus "..." when
    cut): a run of ASCII whitespace with a line break or a tab in it becomes one space
    (runs of spaces stay, leading and trailing whitespace goes), and every character
    that is not printable (C0 and C1 controls, DEL, ESC, bidi overrides such as U+202E,
    line and paragraph separators, other format characters) is written as ``\\xNN``,
    ``\\uNNNN`` or ``\\UNNNNNNNN``. Bytes are read as UTF-8, undecodable bytes escaped.

    A backslash is kept as it is, so the function is idempotent: text already made
    printable passes through a second time unchanged (when it is within ``limit``).
    """
    if isinstance(text, (bytes, bytearray, memoryview)):
        text = bytes(text).decode("utf-8", "backslashreplace")
    out: list[str] = []
    size = 0
    run = ""  # the whitespace since the last character written
    for char in text:
        if char in _WHITESPACE:
            run += char if len(run) < limit else ""
            continue
        if char.isprintable():
            piece = char
        else:
            code = ord(char)
            if code < 0x100:
                piece = f"\\x{code:02x}"
            elif code < 0x10000:
                piece = f"\\u{code:04x}"
            else:
                piece = f"\\U{code:08x}"
        if run:
            # A line break or tab folds the run into one space; spaces alone (the two in
            # OpenSSL's "Jan  1") stay.
            piece = (run if run.strip(" ") == "" else " ") + piece if out else piece
            run = ""
        if size + len(piece) > limit:
            out.append(_ELLIPSIS)
            break
        out.append(piece)
        size += len(piece)
    return "".join(out)
