"""The exceptions pco_wire raises.

Every error is an :class:`Error`; the subclasses say whose fault it is::

    Error
    ├── InvalidPacket (also ValueError)   the caller asked for something a client must
    │                                     never send; ``.field`` names the culprit
    └── RemoteProtocolError               bytes from the peer break the specification;
        │                                 ``.offset`` is the byte at fault
        ├── MalformedPacket               a field is wrong, missing, or runs past the packet
        ├── PacketTooLarge                the header announces more than the limit allows
        └── UnsupportedProtocol           a CONNECT asks for a protocol level we do not speak

Messages are lowercase and say what was expected and what arrived. They never contain a
password: the codec reports a password's length or type, never its value.
"""

from __future__ import annotations

__all__ = [
    "Error",
    "InvalidPacket",
    "MalformedPacket",
    "PacketTooLarge",
    "RemoteProtocolError",
    "UnsupportedProtocol",
]


class Error(Exception):
    """Base class of every exception pco_wire raises on purpose."""


class InvalidPacket(Error, ValueError):
    """A packet we were asked to encode breaks a rule; ``field`` names the packet field."""

    def __init__(self, field: str, reason: str) -> None:
        super().__init__(field, reason)
        self.field = field
        self.reason = reason

    def __str__(self) -> str:
        return f"{self.field}: {self.reason}"


class RemoteProtocolError(Error):
    """Bytes received from the peer break the specification.

    ``offset`` counts bytes from the start of what was decoded: the argument of
    ``decode``, or everything ever fed to a ``Framer``.
    """

    def __init__(self, reason: str, offset: int) -> None:
        super().__init__(reason, offset)
        self.reason = reason
        self.offset = offset

    def __str__(self) -> str:
        return f"{self.reason} (at byte {self.offset})"

    def _shift(self, delta: int) -> None:
        # A Framer decodes from its buffer and then counts the bytes it consumed before.
        self.offset += delta
        self.args = (self.args[0], self.offset, *self.args[2:])


class MalformedPacket(RemoteProtocolError):
    """A packet from the peer is malformed: bad header, bad field, wrong length."""


class PacketTooLarge(RemoteProtocolError):
    """A fixed header announces a packet larger than the receiver's ``max_packet_size``."""

    def __init__(self, reason: str, offset: int, size: int, limit: int) -> None:
        super().__init__(reason, offset)
        self.args = (reason, offset, size, limit)
        self.size = size
        self.limit = limit


class UnsupportedProtocol(RemoteProtocolError):
    """A CONNECT asks for a protocol level other than 3 (MQTT 3.1) or 4 (MQTT 3.1.1).

    A broker answers this with CONNACK return code 1 (MQTT 3.1.1 §3.1.2.2).
    """

    def __init__(self, reason: str, offset: int, level: int) -> None:
        super().__init__(reason, offset)
        self.args = (reason, offset, level)
        self.level = level
