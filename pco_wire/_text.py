"""Text that came from the network, made safe for a terminal and for one line."""

from __future__ import annotations

__all__ = ["printable"]


def printable(text: str, limit: int = 200) -> str:
    """``text`` on one line with every control character escaped (C0, DEL, C1, and the
    format characters that reorder or hide text, such as U+202E), so that a server's
    words can neither move the cursor, retitle a window nor overprint a line; at most
    ``limit`` characters, then an ellipsis."""
    out = []
    for char in text:
        code = ord(char)
        if code < 0x20 or 0x7F <= code <= 0x9F:
            out.append(f"\\x{code:02x}")
        elif code in _FORMAT or 0xD800 <= code <= 0xDFFF:
            out.append(f"\\u{code:04x}")
        else:
            out.append(char)
        if len(out) >= limit:
            return "".join(out) + "…"
    return "".join(out)


# Line and paragraph separators, bidirectional controls, zero-width characters.
_FORMAT = frozenset(
    [
        0x061C,
        *range(0x200B, 0x2010),
        0x2028,
        0x2029,
        *range(0x202A, 0x202F),
        *range(0x2066, 0x206A),
        0xFEFF,
    ]
)
