"""Connections over time for ``bench``: samples of the tally's counts, bounded in number.

Pure, as the rest of pco_wire/bench.py: the driver hands in its clock (``time.monotonic()``,
one clock for every process of a machine, so that the samples of ``--workers`` line up)
and the counts, a sample every ``every`` seconds; when ``MAX_POINTS``
are reached, every other one is dropped and ``every`` doubles, so that a run of any length
keeps at most that many, evenly spread. The report (pco_wire/report.py) draws them.
"""

from __future__ import annotations

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

__all__ = ["COLUMNS", "MAX_POINTS", "Timeline"]

#: What each sample holds, in order (the JSON document's ``timeline.points``): seconds
#: since the first sample, then the counts so far: connected and failed attempts,
#: connections lost while held, attempts in flight, connections open (connected, not
#: lost, not yet closed by our DISCONNECT).
COLUMNS = ("seconds", "connected", "failed", "lost", "in_flight", "open")
MAX_POINTS = 2000
#: Seconds between two samples, at first.
EVERY = 0.5

Point = tuple[float, int, int, int, int, int]


class Timeline:
    __slots__ = ("every", "points")

    def __init__(self, every: float = EVERY) -> None:
        self.every = every
        #: (clock value, connected, failed, lost, in_flight, open), oldest first.
        self.points: list[Point] = []

    def sample(
        self, now: float, connected: int, failed: int, lost: int, in_flight: int, open_now: int
    ) -> None:
        """Keep the counts at ``now`` (the driver samples every ``every`` seconds, and at
        the start, the end of connecting and the end). A clock that went back is ignored."""
        if self.points and now < self.points[-1][0]:
            return
        self.points.append((now, connected, failed, lost, in_flight, open_now))
        self._bound()

    def _bound(self) -> None:
        while len(self.points) > MAX_POINTS:
            # The last one stays: it is the latest state (at the end, the end).
            self.points = [*self.points[:-1:2], self.points[-1]]
            self.every *= 2

    def merge(self, other: Timeline) -> None:
        """Add ``other``'s counts (another process of the same run, on the same clock):
        at each time either sampled, the sum of both as they last were (nothing before a
        timeline's first sample, its last counts after its end)."""
        if not other.points:
            return
        if not self.points:
            self.points = list(other.points)
            self.every = other.every
            return
        times = sorted({p[0] for p in self.points} | {p[0] for p in other.points})
        mine, theirs = _steps(self.points, times), _steps(other.points, times)
        merged: list[Point] = []
        for now, x, y in zip(times, mine, theirs, strict=True):
            c = [a + b for a, b in zip(x, y, strict=True)]
            merged.append((now, c[0], c[1], c[2], c[3], c[4]))
        self.points = merged
        self.every = max(self.every, other.every)
        self._bound()

    def state(self) -> dict[str, Any]:
        return {"every": self.every, "points": [list(p) for p in self.points]}

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> Timeline:
        timeline = cls(float(state["every"]))
        timeline.points = [
            (float(p[0]), int(p[1]), int(p[2]), int(p[3]), int(p[4]), int(p[5]))
            for p in state["points"]
        ]
        return timeline

    def to_json(self) -> dict[str, Any]:
        """{"every", "points"}: each point as ``COLUMNS``, its seconds since the first
        (to the millisecond)."""
        start = self.points[0][0] if self.points else 0.0
        return {
            "every": self.every,
            "points": [[round(p[0] - start, 3), *p[1:]] for p in self.points],
        }


def _steps(points: list[Point], times: list[float]) -> list[tuple[int, ...]]:
    """The counts of ``points`` as they stood at each of ``times`` (sorted)."""
    zero = (0,) * (len(COLUMNS) - 1)
    values: list[tuple[int, ...]] = []
    index = -1
    for now in times:
        while index + 1 < len(points) and points[index + 1][0] <= now:
            index += 1
        values.append(zero if index < 0 else points[index][1:])
    return values
