"""A small base for value classes: equality, repr and ``replace`` from ``_fields``.

``dataclasses`` would do, but importing it (and ``inspect`` with it) costs several
milliseconds at start-up, more than a whole connection test on loopback.
"""

from __future__ import annotations

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, ClassVar, Self


class Record:
    __slots__ = ()
    _fields: ClassVar[tuple[str, ...]] = ()
    #: Fields shown as <hidden> in the repr (secrets).
    _hidden: ClassVar[frozenset[str]] = frozenset()

    def _values(self) -> tuple[Any, ...]:
        return tuple(getattr(self, name) for name in self._fields)

    def __eq__(self, other: object) -> bool:
        if type(other) is not type(self):
            return NotImplemented
        return self._values() == other._values()

    def __repr__(self) -> str:
        shown = (
            f"{name}=<hidden>"
            if name in self._hidden and value is not None
            else f"{name}={value!r}"
            for name, value in zip(self._fields, self._values(), strict=True)
        )
        return f"{type(self).__name__}({', '.join(shown)})"

    def replace(self, **changes: Any) -> Self:
        """A copy with the given fields changed."""
        values = dict(zip(self._fields, self._values(), strict=True))
        values.update(changes)
        return type(self)(**values)
