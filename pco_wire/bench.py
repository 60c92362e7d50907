"""The pure parts of ``python -m pco_wire bench``: the pacing schedule, the client IDs,
the latency histogram and its percentiles, the descriptor budget, and the tally a run
fills and the summary it reads.

No clock, no socket, no event loop: times come in as numbers (``loop.time()`` values or
durations in seconds), so every piece is tested with a fake clock. The driver (the
``bench`` command, pco_wire/cli/bench.py) only waits and counts into a ``Tally``.

The histogram keeps no samples: it is HDR-style, log-linear (``Histogram``), so that it
costs the same for ten or a million connections and two of them merge exactly (the
counts of each bucket add), as histograms of several runs or workers must.
"""

from __future__ import annotations

import math
import re

from .phases import PhaseName
from .timeline import Timeline

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Iterable
    from typing import Any

__all__ = [
    "MAX_CLIENT_ID",
    "PERCENTILES",
    "PHASE_LABELS",
    "PHASE_ORDER",
    "ClientIds",
    "Histogram",
    "Schedule",
    "Tally",
    "descriptor_problem",
    "descriptors_needed",
    "merge_facts",
    "parse_sources",
    "progress_text",
]

#: MQTT 3.1.1 §3.1.3.1: a server must accept 1 to 23 of [0-9a-zA-Z].
MAX_CLIENT_ID = 23
_ID_CHARS = re.compile(r"[0-9A-Za-z]*")

#: The percentiles reported, as (JSON key, fraction): min and max are exact.
PERCENTILES = (
    ("min", 0.0),
    ("p50", 0.50),
    ("p90", 0.90),
    ("p99", 0.99),
    ("p99_9", 0.999),
    ("max", 1.0),
)

#: Source addresses at most in one --source: more than a run could use.
MAX_SOURCES = 65536

#: Descriptors kept beyond one a connection: standard streams, the event loop's own
#: (epoll, its self-pipe), a TLS probe, the modules and files read while running.
DESCRIPTOR_MARGIN = 32


class Schedule:
    """When each of ``count`` connections starts: evenly spaced at ``rate`` a second from
    ``start`` (a clock value), the i-th at ``start + i / rate``, never in bursts. A
    ``rate`` of None: each as soon as the concurrency allows (all due at ``start``).

    A start held up (by the concurrency, or a busy loop) does not move the later ones:
    the schedule is the plan, and the achieved rate says how far the run kept to it.
    """

    __slots__ = ("count", "rate", "start")

    def __init__(self, count: int, rate: float | None, start: float) -> None:
        if count < 0:
            raise ValueError(f"expected a count from 0 on, got {count}")
        if rate is not None and not 0 < rate < math.inf:
            raise ValueError(f"expected a positive rate, got {rate}")
        self.count = count
        self.rate = rate
        self.start = start

    def due(self, index: int) -> float:
        """When connection ``index`` (from 0) is due."""
        if not 0 <= index < self.count:
            raise IndexError(f"connection {index} of {self.count}")
        return self.start if self.rate is None else self.start + index / self.rate

    def due_by(self, now: float) -> int:
        """How many connections are due at ``now`` (those with ``due(i) <= now``)."""
        if now < self.start:
            return 0
        if self.rate is None:
            return self.count
        # The float product may land a hair below a whole number: check the neighbour.
        due = int((now - self.start) * self.rate) + 1
        while due > 0 and self.start + (due - 1) / self.rate > now:
            due -= 1
        while due < self.count and self.start + due / self.rate <= now:
            due += 1
        return min(due, self.count)


class ClientIds:
    """Client IDs ``prefix`` + a decimal counter from ``start``: ``ClientIds("bench", 0,
    3)`` gives bench0, bench1, bench2. Every one is 1 to 23 of [0-9A-Za-z] (MQTT 3.1.1
    §3.1.3.1); ``--start-number`` keeps several runs (or machines) apart.

    Raises ValueError, saying what would fit, for a prefix with other characters or one
    too long for the last ID."""

    __slots__ = ("count", "prefix", "start")

    def __init__(self, prefix: str, start: int, count: int) -> None:
        if not _ID_CHARS.fullmatch(prefix):
            raise ValueError(
                f"client ID prefix {prefix!r}: expected only 0-9, a-z and A-Z (MQTT 3.1.1 "
                "§3.1.3.1), which every server accepts"
            )
        if start < 0:
            raise ValueError(f"start number: expected a whole number from 0 on, got {start}")
        self.prefix = prefix
        self.start = start
        self.count = count
        if count:
            last = f"{prefix}{start + count - 1}"
            highest = 10**MAX_CLIENT_ID - count  # the last ID's number then fits alone
            if start > highest:
                raise ValueError(
                    f"start number: the last of {count:,} IDs would be numbered "
                    f"{start + count - 1}, more than the {MAX_CLIENT_ID} characters every "
                    f"server accepts even without a prefix; use a --start-number of at most "
                    f"{max(highest, 0):,}"
                )
            if len(last) > MAX_CLIENT_ID:
                room = MAX_CLIENT_ID - len(str(start + count - 1))
                raise ValueError(
                    f"client ID prefix {prefix!r}: the last of {count:,} IDs, {last}, has "
                    f"{len(last)} characters, more than the {MAX_CLIENT_ID} every server "
                    f"accepts; use a prefix of at most {max(room, 0)} characters, or a "
                    "lower --start-number"
                )

    def __getitem__(self, index: int) -> str:
        if not 0 <= index < self.count:
            raise IndexError(f"client ID {index} of {self.count}")
        return f"{self.prefix}{self.start + index}"

    def __len__(self) -> int:
        return self.count


def parse_sources(text: str) -> tuple[str, ...]:
    """The local addresses of ``--source``: a comma-separated list of IP addresses and
    ranges of them (``127.0.0.2-127.0.0.40``, both ends included, of one family), in
    order; the connections take them in turn. Raises ValueError saying what is wrong."""
    import ipaddress

    found: list[str] = []
    for item in text.split(","):
        item = item.strip()
        first, dash, last = item.partition("-")
        try:
            low = ipaddress.ip_address(first.strip())
            high = ipaddress.ip_address(last.strip()) if dash else low
        except ValueError:
            raise ValueError(
                f"expected IP addresses or ranges such as 127.0.0.2-127.0.0.40, got {item!r}"
            ) from None
        if low.version != high.version or int(high) < int(low):
            raise ValueError(f"expected a range from a lower to a higher address, got {item!r}")
        if len(found) + int(high) - int(low) + 1 > MAX_SOURCES:
            raise ValueError(f"expected at most {MAX_SOURCES:,} source addresses")
        kind = type(low)  # from a number, ip_address() would make a small IPv6 one IPv4
        found += [str(kind(n)) for n in range(int(low), int(high) + 1)]
    return tuple(found)


class Histogram:
    """Durations in seconds, counted in log-linear buckets (as HdrHistogram does): exact
    below 2 ** (``SUB_BITS`` + 1) ns (256 ns), and above, ``2 ** SUB_BITS`` (128) buckets
    per power of two, so that a bucket is at most 1/128 of its lower bound wide. A
    percentile is its bucket's midpoint, within 1/256 (0.4 %) of the true sample, and
    never outside the exact ``min`` and ``max`` kept beside the buckets.

    The samples are not kept: a bucket is a dict entry, a few hundred of them for any
    number of samples. ``merge`` adds another histogram's counts, so the histogram of two
    runs is exactly the one of all their samples (the same buckets, counts, min, max and
    sum).
    """

    SUB_BITS = 7

    __slots__ = ("buckets", "count", "max", "min", "total")

    def __init__(self) -> None:
        #: Bucket -> count; a bucket is the lowest whole nanosecond it holds.
        self.buckets: dict[int, int] = {}
        self.count = 0
        self.min: float | None = None
        self.max: float | None = None
        #: The sum of the samples, for the mean.
        self.total = 0.0

    @classmethod
    def of(cls, samples: Iterable[float]) -> Histogram:
        histogram = cls()
        for sample in samples:
            histogram.add(sample)
        return histogram

    @classmethod
    def bucket(cls, seconds: float) -> tuple[int, int]:
        """(lowest, width) in whole nanoseconds of the bucket ``seconds`` falls in."""
        nanoseconds = int(seconds * 1e9)
        shift = nanoseconds.bit_length() - cls.SUB_BITS - 1
        if shift <= 0:
            return nanoseconds, 1
        return (nanoseconds >> shift) << shift, 1 << shift

    def add(self, seconds: float) -> None:
        """Count one duration; raises ValueError for a negative or non-finite one."""
        if not 0 <= seconds < math.inf:
            raise ValueError(f"expected a duration in seconds, got {seconds!r}")
        low, _ = self.bucket(seconds)
        buckets = self.buckets
        buckets[low] = buckets.get(low, 0) + 1
        self.count += 1
        self.total += seconds
        if self.min is None or seconds < self.min:
            self.min = seconds
        if self.max is None or seconds > self.max:
            self.max = seconds

    def merge(self, other: Histogram) -> None:
        """Add ``other``'s samples to these."""
        buckets = self.buckets
        for low, count in other.buckets.items():
            buckets[low] = buckets.get(low, 0) + count
        self.count += other.count
        self.total += other.total
        for value in (other.min, other.max):
            if value is not None:
                if self.min is None or value < self.min:
                    self.min = value
                if self.max is None or value > self.max:
                    self.max = value

    def __eq__(self, other: object) -> bool:
        if type(other) is not Histogram:
            return NotImplemented
        return (self.buckets, self.count, self.min, self.max) == (
            other.buckets,
            other.count,
            other.min,
            other.max,
        ) and math.isclose(self.total, other.total)

    def __repr__(self) -> str:
        return f"Histogram(count={self.count}, min={self.min}, max={self.max})"

    def percentile(self, fraction: float) -> float | None:
        """The value below which ``fraction`` (0..1) of the samples lie: the sample of
        rank ceil(fraction * count) (at least the first), as its bucket's midpoint,
        kept within [min, max]; 0 is the min, 1 the max, exactly. None when empty."""
        if not 0 <= fraction <= 1:
            raise ValueError(f"expected a fraction from 0 to 1, got {fraction}")
        if self.min is None or self.max is None:
            return None
        if fraction == 0:
            return self.min
        if fraction == 1:
            return self.max
        rank = max(1, math.ceil(fraction * self.count))
        seen = 0
        for low in sorted(self.buckets):
            seen += self.buckets[low]
            if seen >= rank:
                _, width = self.bucket(low / 1e9)
                middle = (low + (width - 1) / 2) / 1e9
                return min(max(middle, self.min), self.max)
        return self.max  # not reached: the counts add up to count

    def percentiles(self) -> dict[str, float | None]:
        """Every one of ``PERCENTILES`` by its key, in seconds (None when empty)."""
        return {key: self.percentile(fraction) for key, fraction in PERCENTILES}

    def state(self) -> dict[str, Any]:
        """Everything, as JSON values: ``from_state`` makes the same histogram again (for
        histograms that travel between processes before they are merged)."""
        return {
            "buckets": sorted(self.buckets.items()),
            "count": self.count,
            "min": self.min,
            "max": self.max,
            "total": self.total,
        }

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> Histogram:
        histogram = cls()
        histogram.buckets = {int(low): int(count) for low, count in state["buckets"]}
        histogram.count = int(state["count"])
        histogram.min, histogram.max = state["min"], state["max"]
        histogram.total = float(state["total"])
        return histogram

    def bucket_list(self) -> list[list[int]]:
        """[lowest, width, count] of each bucket, in whole nanoseconds, lowest first."""
        shown = []
        for low in sorted(self.buckets):
            shift = low.bit_length() - self.SUB_BITS - 1
            shown.append([low, 1 << shift if shift > 0 else 1, self.buckets[low]])
        return shown

    def to_json(self) -> dict[str, Any]:
        """{"count", "min", "p50", "p90", "p99", "p99_9", "max", "mean"}, in seconds
        rounded to the microsecond's thousandth (None when empty)."""
        shown: dict[str, Any] = {"count": self.count}
        for key, value in self.percentiles().items():
            shown[key] = None if value is None else round(value, 9)
        shown["mean"] = round(self.total / self.count, 9) if self.count else None
        return shown


def descriptors_needed(connections: int, open_now: int) -> int:
    """The descriptor limit a run of ``connections`` needs: one socket each, those open
    already (``open_now``), and ``DESCRIPTOR_MARGIN``."""
    return connections + open_now + DESCRIPTOR_MARGIN


def descriptor_problem(connections: int, open_now: int, hard: int) -> str | None:
    """The sentence for a run the hard descriptor limit ``hard`` (RLIMIT_NOFILE, after the
    soft one was raised to it) cannot hold, or None when it can (-1: unlimited)."""
    needed = descriptors_needed(connections, open_now)
    if hard < 0 or needed <= hard:
        return None
    room = max(hard - open_now - DESCRIPTOR_MARGIN, 0)
    return (
        f"{connections:,} connections need about {needed:,} file descriptors, and this "
        f"process may open at most {hard:,} (the hard limit, RLIMIT_NOFILE, that the soft "
        f"limit was raised to): use --connections {room:,} or fewer, or raise the hard "
        "limit (ulimit -Hn as root, LimitNOFILE= for a systemd service, nofile in "
        "/etc/security/limits.conf)"
    )


def progress_text(tally: Tally) -> str:
    """The progress line: connected / failed / in flight / rate / p50 and p99 so far."""
    rate = tally.rate() or 0.0
    total = tally.connect["total"]
    p50, p99 = total.percentile(0.5), total.percentile(0.99)
    latency = "" if p50 is None or p99 is None else f"; p50 {_ms(p50)}, p99 {_ms(p99)}"
    lost = f", {tally.lost:,} lost" if tally.lost else ""
    return (
        f"{tally.connected:,} connected, {tally.failed:,} failed, {tally.in_flight:,} in "
        f"flight{lost}; {rate:,.0f}/s{latency}"
    )


def _ms(seconds: float) -> str:
    return f"{seconds * 1000:.1f} ms" if seconds >= 0.0001 else f"{seconds * 1e6:.0f} µs"


class Tally:
    """What a run did so far; the driver counts into it, the summary reads it.

    ``connect`` holds a ``Histogram`` by phase key (``phase_key`` of each phase name, and
    "total": from the start of the attempt to its CONNACK); ``failures`` and ``losses``
    count by diagnosis category, ``examples`` keeps the first sentence of each; ``limits``
    the sentences of the system limits met (descriptors, local ports), once each.
    ``tls_full`` and ``tls_resumed`` split the "TLS handshake" phase by whether the
    server resumed a session; ``tls_offered`` counts the handshakes that offered one.
    """

    def __init__(self) -> None:
        self.started = 0
        self.connected = 0
        self.failed = 0
        self.lost = 0
        #: Attempts a stop cut short (neither connected nor failed).
        self.cancelled = 0
        #: When the first and the last attempt started, and the last one ended (clock
        #: values).
        self.first_start: float | None = None
        self.last_start: float | None = None
        self.last_end: float | None = None
        self.connect: dict[str, Histogram] = {"total": Histogram()}
        self.pingresp = Histogram()
        self.tls_full = Histogram()
        self.tls_resumed = Histogram()
        self.tls_offered = 0
        self.failures: dict[str, int] = {}
        self.losses: dict[str, int] = {}
        #: Category -> (exit status, first sentence).
        self.examples: dict[str, tuple[int, str]] = {}
        self.limits: dict[str, str] = {}
        #: Packets by type, each way.
        self.sent: dict[str, int] = {}
        self.received: dict[str, int] = {}
        #: Connections over time (pco_wire/timeline.py), sampled by the driver.
        self.timeline = Timeline()

    @property
    def in_flight(self) -> int:
        return self.started - self.connected - self.failed - self.cancelled

    @staticmethod
    def phase_key(name: str) -> str:
        """The JSON key of a phase name: "TCP connect" -> "tcp_connect"."""
        return name.lower().replace(" ", "_")

    def begin(self, now: float) -> None:
        self.started += 1
        if self.first_start is None:
            self.first_start = now
        self.last_start = now

    def succeeded(
        self,
        phases: Iterable[tuple[str, float]],
        total: float,
        now: float,
        resumed: bool | None = None,
        offered: bool = False,
    ) -> None:
        """An attempt that got its CONNACK: its phases (name, seconds) and its total;
        with TLS, whether the server ``resumed`` a session, and whether one was
        ``offered`` (None: no TLS)."""
        self.connected += 1
        self._ended(now)
        connect = self.connect
        for name, seconds in phases:
            key = self.phase_key(name)
            histogram = connect.get(key)
            if histogram is None:
                histogram = connect[key] = Histogram()
            histogram.add(seconds)
            if key == "tls_handshake" and resumed is not None:
                (self.tls_resumed if resumed else self.tls_full).add(seconds)
        if offered:
            self.tls_offered += 1
        connect["total"].add(total)
        self.count(self.sent, "CONNECT")
        self.count(self.received, "CONNACK")

    def sample(self, now: float, open_now: int) -> None:
        """The counts at ``now`` into the timeline, with the connections open then."""
        self.timeline.sample(now, self.connected, self.failed, self.lost, self.in_flight, open_now)

    def failed_with(self, code: int, category: str, message: str, now: float) -> None:
        self.failed += 1
        self._ended(now)
        self.failures[category] = self.failures.get(category, 0) + 1
        self.examples.setdefault(category, (code, message))

    def lost_with(self, code: int, category: str, message: str) -> None:
        self.lost += 1
        self.losses[category] = self.losses.get(category, 0) + 1
        self.examples.setdefault(category, (code, message))

    def merge(self, other: Tally) -> None:
        """Add ``other``'s counts (another run, another process): histograms merge
        exactly; the first example of each category and the earliest start stay."""
        for name in ("started", "connected", "failed", "lost", "cancelled", "tls_offered"):
            setattr(self, name, getattr(self, name) + getattr(other, name))
        for key, histogram in other.connect.items():
            self.connect.setdefault(key, Histogram()).merge(histogram)
        self.pingresp.merge(other.pingresp)
        self.tls_full.merge(other.tls_full)
        self.tls_resumed.merge(other.tls_resumed)
        self.timeline.merge(other.timeline)
        for mine, theirs in (
            (self.failures, other.failures),
            (self.losses, other.losses),
            (self.sent, other.sent),
            (self.received, other.received),
        ):
            for kind, count in theirs.items():
                mine[kind] = mine.get(kind, 0) + count
        for category, example in other.examples.items():
            self.examples.setdefault(category, example)
        for name, sentence in other.limits.items():
            self.limits.setdefault(name, sentence)
        starts = [t for t in (self.first_start, other.first_start) if t is not None]
        self.first_start = min(starts) if starts else None
        for name in ("last_start", "last_end"):
            times = [t for t in (getattr(self, name), getattr(other, name)) if t is not None]
            setattr(self, name, max(times) if times else None)

    def state(self) -> dict[str, Any]:
        """Everything, as JSON values, for ``from_state`` (a worker's tally travels to
        the process that merges them)."""
        plain = {
            name: getattr(self, name)
            for name in (
                "started",
                "connected",
                "failed",
                "lost",
                "cancelled",
                "first_start",
                "last_start",
                "last_end",
                "failures",
                "losses",
                "limits",
                "sent",
                "received",
                "tls_offered",
            )
        }
        plain["examples"] = {c: list(e) for c, e in self.examples.items()}
        plain["connect"] = {k: h.state() for k, h in self.connect.items()}
        for name in _HISTOGRAMS:
            plain[name] = getattr(self, name).state()
        plain["timeline"] = self.timeline.state()
        return plain

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> Tally:
        tally = cls()
        for name, value in state.items():
            if name == "examples":
                tally.examples = {c: (int(e[0]), str(e[1])) for c, e in value.items()}
            elif name == "connect":
                tally.connect = {k: Histogram.from_state(h) for k, h in value.items()}
            elif name in _HISTOGRAMS:
                setattr(tally, name, Histogram.from_state(value))
            elif name == "timeline":
                tally.timeline = Timeline.from_state(value)
            else:
                setattr(tally, name, value)
        return tally

    def limit(self, name: str, sentence: str) -> None:
        self.limits.setdefault(name, sentence)

    @staticmethod
    def count(table: dict[str, int], kind: str, n: int = 1) -> None:
        table[kind] = table.get(kind, 0) + n

    def _ended(self, now: float) -> None:
        if self.last_end is None or now > self.last_end:
            self.last_end = now

    def rate(self) -> float | None:
        """The rate achieved: attempts started a second, from the first start to the
        last (what ``--rate`` asks for); None before two attempts started."""
        if self.first_start is None or self.last_start is None or self.started < 2:
            return None
        span = self.last_start - self.first_start
        return (self.started - 1) / span if span > 0 else None

    def exit_code(self) -> tuple[int, str | None]:
        """The exit status and its category: 0 and None when every attempt connected and
        none was lost; else the status of the most common category among the failures
        and losses together (on a tie, the one met first)."""
        counts: dict[str, int] = {}
        for table in (self.failures, self.losses):
            for category, count in table.items():
                counts[category] = counts.get(category, 0) + count
        if not counts:
            return 0, None
        top = max(counts.values())
        category = next(c for c in self.examples if counts.get(c) == top)
        return self.examples[category][0], category


#: The histograms of a Tally beside ``connect``, by attribute.
_HISTOGRAMS = ("pingresp", "tls_full", "tls_resumed")


def merge_facts(parts: list[dict[str, Any]]) -> dict[str, Any]:
    """The facts of workers' runs as one run's: times the longest, CPU, memory and
    connections held summed, per-connection figures recomputed from the sums (each
    part has ``cpu_connecting``, ``attempts``, ``rss_growth`` and ``connected``)."""
    merged: dict[str, Any] = {}
    for key in ("connect_seconds", "hold_seconds"):
        values = [p[key] for p in parts if p.get(key) is not None]
        merged[key] = max(values) if values else None
    for key in ("held", "cpu_seconds", "rss_bytes", "cpu_connecting", "rss_growth"):
        values = [p[key] for p in parts if p.get(key) is not None]
        merged[key] = sum(values) if values else None
    packets = [p.get("hold_packets") or (0, 0) for p in parts]
    merged["hold_packets"] = (sum(a for a, _ in packets), sum(b for _, b in packets))
    attempts = sum(p.get("attempts", 0) for p in parts)
    connected = sum(p.get("connected", 0) for p in parts)
    if merged["cpu_connecting"] is not None and attempts:
        merged["cpu_per_connection"] = merged["cpu_connecting"] / attempts
    if merged["rss_growth"] is not None and connected:
        merged["rss_per_connection"] = merged["rss_growth"] // connected
    return merged


class Summary:
    """The end of a run: the ``tally`` and the facts the driver measured (``facts``:
    uri, loop, plan, interrupted, seconds, cpu and memory, held, warnings). ``to_json()``
    is the documented document (README, "bench"), ``lines()`` the same in words."""

    def __init__(self, tally: Tally, facts: dict[str, Any]) -> None:
        self.tally = tally
        self.facts = facts

    @classmethod
    def failed(
        cls, code: int, category: str, message: str, uri: str, plan: dict[str, Any]
    ) -> Summary:
        """The summary of a run that could not start (invalid settings, too few
        descriptors): the same document as any other, nothing counted."""
        facts = {"uri": uri, "loop": None, "plan": plan, "failure": (code, category, message)}
        return cls(Tally(), facts)

    def exit_code(self) -> tuple[int, str | None]:
        """The tally's, unless a signal stopped the run (128 + its number) or it could
        not start."""
        failure = self.facts.get("failure")
        if failure is not None:
            return failure[0], failure[1]
        stopped = self.facts.get("stopped_by")
        if stopped is not None:
            return self.facts["stop_status"], None
        return self.tally.exit_code()

    def to_json(self) -> dict[str, Any]:
        t, f = self.tally, self.facts
        code, category = self.exit_code()
        holding = f.get("hold_seconds") or 0.0
        pings = f.get("hold_packets", (0, 0))
        if "failure" in f:
            message = f["failure"][2]
        elif code == 0:
            message = "every connection connected and was held to the end"
        elif f.get("stopped_by"):
            message = (
                f"stopped by {f['stopped_by']} after {t.started:,} "
                f"attempt{'' if t.started == 1 else 's'}: "
                f"{t.connected:,} connected, {t.failed:,} failed, {t.lost:,} lost"
            )
        else:
            message = f"{t.failed:,} failed, {t.lost:,} lost; {category} was the most common"
        return {
            "ok": code == 0,
            "exit_code": code,
            "category": category,
            "message": message,
            "uri": f["uri"],
            "loop": f["loop"],
            "stopped_by": f.get("stopped_by"),
            "plan": f["plan"],
            "attempts": t.started,
            "connected": t.connected,
            "failed": t.failed,
            "not_started": (f["plan"]["connections"] or 0) - t.started,
            "cancelled": t.cancelled,
            "lost": t.lost,
            "held": f.get("held", 0),
            "failures": _by_category(t.failures, t.examples),
            "losses": _by_category(t.losses, t.examples),
            "limits": list(t.limits.values()),
            "connect_seconds": {key: h.to_json() for key, h in t.connect.items()},
            "pingresp_seconds": t.pingresp.to_json(),
            "tls_handshake_seconds": {
                "full": t.tls_full.to_json(),
                "resumed": t.tls_resumed.to_json(),
            },
            "tls_sessions_offered": t.tls_offered,
            "connect_buckets": {key: h.bucket_list() for key, h in t.connect.items()},
            "pingresp_buckets": t.pingresp.bucket_list(),
            "tls_handshake_buckets": {
                "full": t.tls_full.bucket_list(),
                "resumed": t.tls_resumed.bucket_list(),
            },
            "timeline": t.timeline.to_json(),
            "packets": {
                "sent": dict(t.sent),
                "received": dict(t.received),
                "sent_per_second_holding": round(pings[0] / holding, 3) if holding else None,
                "received_per_second_holding": round(pings[1] / holding, 3) if holding else None,
            },
            "rate": _rounded(t.rate()),
            "seconds": {
                "connecting": _rounded(f.get("connect_seconds")),
                "holding": _rounded(holding),
                "total": _rounded(f.get("total_seconds")),
            },
            "cpu_seconds": _rounded(f.get("cpu_seconds")),
            "cpu_seconds_per_connection": _rounded(f.get("cpu_per_connection")),
            "rss_bytes": f.get("rss_bytes"),
            "rss_bytes_per_connection": f.get("rss_per_connection"),
            "warnings": list(f.get("warnings", ())),
        }

    def lines(self) -> list[str]:
        d = self.to_json()
        plan = d["plan"]
        rate = "as fast as allowed" if plan["rate"] is None else f"{plan['rate']:g}/s"
        sources = plan.get("source")
        origin = ""
        if sources:
            many = "es" if len(sources) > 1 else ""
            origin = f" from {len(sources):,} source address{many}"
        if (plan.get("workers") or 1) > 1:
            origin += f" in {plan['workers']} workers"
        lines = [
            f"pco_wire bench {', '.join(plan.get('servers') or [d['uri']])}: "
            f"{plan['connections']:,} connections{origin}, {rate}, "
            f"at most {plan['concurrency']:,} in flight, held {plan['duration']:g} s, "
            f"keep-alive {plan['keep_alive']} s; event loop {d['loop']}",
        ]
        if d["stopped_by"]:
            lines.append(f"  stopped by {d['stopped_by']}: what was done until then")
        lines.append(
            f"  attempts {d['attempts']:,}: connected {d['connected']:,}, failed "
            f"{d['failed']:,}" + (f", not started {d['not_started']:,}" if d["not_started"] else "")
        )
        for row in d["failures"]:
            lines.append(
                f"    failed {row['count']:,} {row['category']} (exit {row['exit_code']}): "
                f"{row['example']}"
            )
        lines.append(f"  held to the end {d['held']:,}, lost while holding {d['lost']:,}")
        for row in d["losses"]:
            lines.append(
                f"    lost {row['count']:,} {row['category']} (exit {row['exit_code']}): "
                f"{row['example']}"
            )
        for sentence in d["limits"]:
            lines.append(f"  limit: {sentence}")
        header = "  " + " " * 18 + "".join(f"{key.replace('_', '.'):>10}" for key, _ in PERCENTILES)
        lines.append(f"  connect latency ({d['connect_seconds']['total']['count']:,} connected):")
        lines.append(header)
        order = [k for k in PHASE_ORDER if k in d["connect_seconds"]]
        order += [k for k in d["connect_seconds"] if k not in order]
        tls = d["tls_handshake_seconds"]
        for key in order:
            lines.append(_row(PHASE_LABELS.get(key, key), d["connect_seconds"][key]))
            if key == "tls_handshake":
                lines.append(_row("  full", tls["full"]))
                lines.append(_row("  resumed", tls["resumed"]))
        tls_line = _tls_line(tls["full"]["count"], tls["resumed"]["count"], d, plan)
        if tls_line is not None:
            lines.append(tls_line)
        ping = d["pingresp_seconds"]
        sent, received = d["packets"]["sent"], d["packets"]["received"]
        lines.append(
            f"  PINGREQ sent {sent.get('PINGREQ', 0):,}, PINGRESP received "
            f"{received.get('PINGRESP', 0):,}"
            + (
                f"; while holding {d['packets']['sent_per_second_holding']:,.1f} packets/s "
                f"sent, {d['packets']['received_per_second_holding']:,.1f}/s received"
                if d["packets"]["sent_per_second_holding"] is not None
                else ""
            )
        )
        if ping["count"]:
            lines.append(header)
            lines.append(_row("PINGRESP", ping))
        seconds = d["seconds"]
        lines.append(
            f"  achieved {d['rate'] or 0:,.1f} attempts/s; connecting "
            f"{seconds['connecting'] or 0:.2f} s, holding {seconds['holding'] or 0:.2f} s, "
            f"in all {seconds['total'] or 0:.2f} s"
        )
        per = d["cpu_seconds_per_connection"]
        rss = d["rss_bytes_per_connection"]
        lines.append(
            f"  our CPU {d['cpu_seconds'] or 0:.2f} s"
            + (f", {per * 1e6:,.0f} µs a connection" if per is not None else "")
            + (f"; memory {d['rss_bytes'] / 2**20:,.1f} MiB" if d["rss_bytes"] else "")
            + (f", {rss / 1024:,.1f} KiB a held connection" if rss is not None else "")
        )
        code, category = d["exit_code"], d["category"]
        if code == 0:
            lines.append(f"OK: {d['message']}")
        elif d["stopped_by"]:
            lines.append(f"STOPPED (exit {code}): {d['message']}")
        else:
            lines.append(f"FAILED ({category}, exit {code}): {d['message']}")
        return lines


#: The phase keys of ``connect_seconds`` in the order a connection goes through them.
PHASE_ORDER = (
    "name_resolution",
    "proxy_connect",
    "proxy_tunnel",
    "tcp_connect",
    "tls_handshake",
    "websocket_upgrade",
    "connack",
    "total",
)
#: The names ``test`` shows them by, for the text summary and the report's legends (the
#: JSON keeps the keys).
PHASE_LABELS = {Tally.phase_key(phase.value): phase.value for phase in PhaseName}


def _tls_line(full: int, resumed: int, d: dict[str, Any], plan: dict[str, Any]) -> str | None:
    """How many TLS handshakes were full and resumed, and why the full ones were."""
    if not full + resumed:
        return None
    line = f"  TLS handshakes {full + resumed:,}: full {full:,}, resumed {resumed:,}"
    if not plan.get("tls_resume"):
        return line + " (no session offered: --tls-resume not given)"
    declined = d["tls_sessions_offered"] - resumed
    why = []
    if full - declined:
        why.append(f"{full - declined:,} before a session was at hand")
    if declined:
        why.append(f"{declined:,} offered a session the server declined")
    return line + (f" ({', '.join(why)})" if why else "")


def _row(name: str, stats: dict[str, Any]) -> str:
    cells = "".join(
        f"{'-' if stats[key] is None else _ms(stats[key]):>10}" for key, _ in PERCENTILES
    )
    return f"    {name:<16}{cells}"


def _by_category(counts: dict[str, int], examples: dict[str, tuple[int, str]]) -> list[Any]:
    """Most common first: {"category", "count", "exit_code", "example"}."""
    return [
        {"category": c, "count": n, "exit_code": examples[c][0], "example": examples[c][1]}
        for c, n in sorted(counts.items(), key=lambda item: -item[1])
    ]


def _rounded(value: float | None) -> float | None:
    return None if value is None else round(value, 6)
