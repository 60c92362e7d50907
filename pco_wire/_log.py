"""Logging without importing ``logging`` until something is worth saying.

``logging`` and what it pulls in (threading, traceback, ...) cost more at start-up than
the whole connection test on loopback. A program that never imported ``logging`` cannot
have configured it, so debug output is off and nothing need be formatted.
"""

from __future__ import annotations

import sys

TYPE_CHECKING = False
if TYPE_CHECKING:
    import logging

NAME = "pco_wire"


#: Our logger, once ``logging`` is imported: ``getLogger`` takes a lock each time, and
#: the drivers ask several times per connection.
_ours: logging.Logger | None = None


def debugging(name: str = NAME) -> bool:
    global _ours
    logging = sys.modules.get("logging")
    if logging is None:
        return False
    if name != NAME:
        return bool(logging.getLogger(name).isEnabledFor(logging.DEBUG))
    if _ours is None:
        _ours = logging.getLogger(NAME)
    return bool(_ours.isEnabledFor(logging.DEBUG))


def debug(message: str, *args: object, name: str = NAME) -> None:
    if debugging(name):
        import logging

        logging.getLogger(name).debug(message, *args)


def _logger() -> logging.Logger:
    import logging

    logger = logging.getLogger(NAME)
    if not any(isinstance(h, logging.NullHandler) for h in logger.handlers):
        # A library never prints: without an application's configuration, Python's
        # last-resort handler would write warnings to stderr.
        logger.addHandler(logging.NullHandler())
    return logger


def warning(message: str, *args: object) -> None:
    _logger().warning(message, *args)


def exception(message: str, *args: object) -> None:
    _logger().exception(message, *args)


def sent(data: bytes) -> str:
    """Outgoing bytes for the debug log: packets by their repr, so that a CONNECT's
    password never reaches a log (its repr hides it), whatever the level."""
    from .codec import Framer
    from .errors import Error
    from .packets import Connect
    from .uri import shown_user

    try:
        packets = Framer(len(data) + 5).feed(data)
    except Error:
        return f"{len(data)} bytes that do not decode"
    # A user name with ":" ("user%3Apass@" in a URI) reads as a credential: masked too.
    return (
        ", ".join(
            repr(p.replace(username=shown_user(p.username)))
            if isinstance(p, Connect) and p.username is not None
            else repr(p)
            for p in packets
        )
        or f"{len(data)} bytes"
    )
