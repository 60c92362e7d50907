"""Enhanced authentication (MQTT 5.0 §4.12): what the client says at each step.

An ``Authenticator`` names the method, gives the data for CONNECT, and answers each
challenge of the server (AUTH, reason 0x18 Continue authentication) with the next data of
its own. The session drives it: before CONNACK, and again when the client asks to
re-authenticate (AUTH 0x19); every step is bounded by the response timeout. It is pure:
``step`` must not wait on the network (a SCRAM or Kerberos exchange computes, it does
not fetch).
"""

from __future__ import annotations

from ._record import Record

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable

__all__ = ["Authenticator"]


class Authenticator(Record):
    """``method``: the Authentication Method (a UTF-8 string, agreed with the server);
    ``data``: the Authentication Data of CONNECT and of a re-authentication, or None;
    ``step``: from the server's Authentication Data (None if it sent none) to ours, or
    None for a method of a single step (a server challenge then ends the session)."""

    __slots__ = ("method", "data", "step")
    _fields = __slots__
    _hidden = frozenset({"data"})

    def __init__(
        self,
        method: str,
        data: bytes | None = None,
        step: Callable[[bytes | None], bytes | None] | None = None,
    ) -> None:
        self.method = method
        self.data = data
        self.step = step

    def __hash__(self) -> int:
        return hash((self.method, self.data, self.step))
