"""``bench --report FILE.html``: the JSON document of a run (``Summary.to_json()``, the
``bench --json`` document) as one self-contained HTML page.

Pure: a document in, the page as text out; the CLI writes it (pco_wire/cli/_report.py).
The page fetches nothing: no script, no style sheet, font or image of anywhere else, and a
Content-Security-Policy that forbids them should anything slip in. Its charts are inline
SVG drawn here: the connect latency (a histogram of "total" from the bench histogram's
buckets, re-binned on a log scale, and the cumulative distribution of every phase and of
the PINGRESP round trips), and connections over time (from the document's
``timeline``). Every text of the document goes through ``html.escape``: failure messages
and reason strings come from the network.
"""

from __future__ import annotations

import math
from html import escape

from .bench import PHASE_LABELS, PHASE_ORDER
from .timeline import COLUMNS

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Iterable, Sequence
    from typing import Any

__all__ = ["BINS", "SERIES", "render"]

#: Bars of the latency histogram, log-spaced from the lowest to the highest bucket.
BINS = 40
#: The lines of "connections over time", by their column in the timeline.
SERIES = ("open", "connected", "failed", "in_flight", "lost")

_COLOURS = ("#1f77b4", "#2ca02c", "#d62728", "#ff7f0e", "#9467bd", "#8c564b", "#17becf")
_PERCENTILES = ("min", "p50", "p90", "p99", "p99_9", "max", "mean")

#: The chart area: width, height, and the margins left, right, top, bottom.
_WIDTH, _HEIGHT = 960, 320
_LEFT, _RIGHT, _TOP, _BOTTOM = 70, 20, 16, 46

_STYLE = """
body { font-family: system-ui, sans-serif; margin: 24px auto; max-width: 1000px; color: #222; }
h1 { font-size: 1.4em; } h2 { font-size: 1.2em; margin-top: 1.6em; }
h3 { font-size: 1em; margin: 1em 0 0.4em; }
table { border-collapse: collapse; margin: 0.5em 0; }
th, td { border: 1px solid #ccc; padding: 3px 8px; text-align: left; vertical-align: top; }
td.n { text-align: right; font-variant-numeric: tabular-nums; }
.ok { color: #1a7f37; } .failed { color: #b42318; }
svg { background: #fafafa; border: 1px solid #ddd; display: block; }
svg text { font-size: 11px; fill: #333; }
.axis { stroke: #444; stroke-width: 1; } .grid { stroke: #e3e3e3; stroke-width: 1; }
.bar { fill: #1f77b4; } .empty { font-size: 14px; }
.legend { display: flex; gap: 16px; flex-wrap: wrap; font-size: 0.9em; margin: 4px 0; }
.swatch { display: inline-block; width: 14px; height: 4px; margin-right: 4px;
          vertical-align: middle; }
"""


def render(document: dict[str, Any]) -> str:
    """The page of a bench ``document``. Keys it lacks are shown as absent, so that the
    document of a run that could not start renders too."""
    d = document
    title = f"pco_wire bench {d.get('uri') or ''}"
    ok = bool(d.get("ok"))
    outcome = "OK" if ok else ("STOPPED" if d.get("stopped_by") else "FAILED")
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        # Nothing of anywhere else: the page is read where it was written, or sent on.
        '<meta http-equiv="Content-Security-Policy" content="default-src \'none\'; '
        "style-src 'unsafe-inline'\">",
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{_e(title)}</title>",
        f"<style>{_STYLE}</style>",
        "</head><body>",
        f"<h1>{_e(title)}</h1>",
        f'<p class="{"ok" if ok else "failed"}" id="outcome"><strong>{outcome}</strong> '
        f"(exit {_e(d.get('exit_code'))}"
        + (f", {_e(d['category'])}" if d.get("category") else "")
        + f"): {_e(d.get('message'))}</p>",
        f"<p>event loop {_e(d.get('loop'))}"
        + (f"; stopped by {_e(d['stopped_by'])}" if d.get("stopped_by") else "")
        + "</p>",
        "<h2>Connect latency</h2>",
        "<h3>From the attempt to its CONNACK: how many connections took how long</h3>",
        _latency_histogram(d.get("connect_buckets") or {}),
        "<h3>Each phase, and the PINGRESP round trips: the share done within a time</h3>",
        _latency_cdf(d.get("connect_buckets") or {}, d.get("pingresp_buckets") or []),
        "<h2>Connections over time</h2>",
        _timeline_chart(d.get("timeline") or {}),
        "<h2>Summary</h2>",
        _summary_tables(d),
        "</body></html>",
    ]
    return "\n".join(parts) + "\n"


# ---------------------------------------------------------------------------- text


def _servers(plan: dict[str, Any]) -> list[Any]:
    """The plan's servers, if it has a list of them (a document of any source)."""
    servers = plan.get("servers")
    return servers if isinstance(servers, list) else []


def _e(value: object) -> str:
    """Any value as HTML text (None as a dash)."""
    return "-" if value is None else escape(str(value), quote=True)


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    if seconds < 1e-6:
        return f"{seconds * 1e9:.3g} ns"
    if seconds < 1e-3:
        return f"{seconds * 1e6:.3g} µs"
    if seconds < 1:
        return f"{seconds * 1e3:.3g} ms"
    return f"{seconds:.3g} s"


def _count(value: object) -> str:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return _e(value)
    return f"{value:,}" if isinstance(value, int) else f"{value:,.3g}"


def _seconds(value: object, places: int = 3) -> str:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return _e(value)
    return f"{value:,.{places}f}"


def _phases(buckets: dict[str, Any]) -> list[str]:
    order = [key for key in PHASE_ORDER if key in buckets]
    return order + sorted(key for key in buckets if key not in order)


# ---------------------------------------------------------------------------- charts


def _svg(chart_id: str, label: str, body: Iterable[str]) -> str:
    return (
        f'<svg id="{chart_id}" role="img" aria-label="{_e(label)}" width="{_WIDTH}" '
        f'height="{_HEIGHT}" viewBox="0 0 {_WIDTH} {_HEIGHT}">' + "".join(body) + "</svg>"
    )


def _empty(chart_id: str, label: str, sentence: str) -> str:
    return _svg(
        chart_id,
        label,
        [
            f'<text class="empty" x="{_WIDTH / 2:.0f}" y="{_HEIGHT / 2:.0f}" '
            f'text-anchor="middle">{_e(sentence)}</text>'
        ],
    )


class _Scale:
    """Values onto pixels, linear or log10, from ``low``..``high`` to ``start``..``end``."""

    def __init__(self, low: float, high: float, start: float, end: float, log: bool) -> None:
        self.log = log
        if log:
            low, high = math.log10(low), math.log10(high)
        if high <= low:
            high = low + 1
        self.low, self.high, self.start, self.end = low, high, start, end

    def __call__(self, value: float) -> float:
        if self.log:
            value = math.log10(value)
        return self.start + (value - self.low) / (self.high - self.low) * (self.end - self.start)


def _linear_ticks(high: float) -> list[float]:
    """0 and round steps up to ``high`` (at least one step)."""
    if high <= 0:
        return [0.0, 1.0]
    raw = high / 5
    magnitude = 10 ** math.floor(math.log10(raw))
    step = next(m * magnitude for m in (1, 2, 5, 10) if m * magnitude >= raw)
    count = math.ceil(high / step - 1e-9)
    return [i * step for i in range(count + 1)]


def _log_ticks(low: float, high: float) -> list[float]:
    """1, 2 and 5 of each power of ten from ``low`` to ``high``; the ends when fewer."""
    ticks = [
        m * 10.0**exponent
        for exponent in range(math.floor(math.log10(low)), math.ceil(math.log10(high)) + 1)
        for m in (1, 2, 5)
    ]
    inside = [t for t in ticks if low * (1 - 1e-9) <= t <= high * (1 + 1e-9)]
    return inside if len(inside) >= 2 else [low, high]


def _axes(
    x: _Scale,
    y: _Scale,
    x_ticks: Sequence[float],
    y_ticks: Sequence[float],
    x_text: Any,
    y_text: Any,
) -> list[str]:
    bottom, top = _HEIGHT - _BOTTOM, _TOP
    left, right = _LEFT, _WIDTH - _RIGHT
    parts = []
    for tick in y_ticks:
        at = y(tick)
        parts.append(f'<line class="grid" x1="{left}" x2="{right}" y1="{at:.1f}" y2="{at:.1f}"/>')
        parts.append(
            f'<text x="{left - 6}" y="{at + 4:.1f}" text-anchor="end">{_e(y_text(tick))}</text>'
        )
    for tick in x_ticks:
        at = x(tick)
        parts.append(
            f'<line class="axis" x1="{at:.1f}" x2="{at:.1f}" y1="{bottom}" y2="{bottom + 5}"/>'
        )
        parts.append(
            f'<text x="{at:.1f}" y="{bottom + 18}" text-anchor="middle">{_e(x_text(tick))}</text>'
        )
    parts.append(f'<line class="axis" x1="{left}" x2="{right}" y1="{bottom}" y2="{bottom}"/>')
    parts.append(f'<line class="axis" x1="{left}" x2="{left}" y1="{top}" y2="{bottom}"/>')
    return parts


def _legend(names: Sequence[tuple[str, str]]) -> str:
    return (
        '<div class="legend">'
        + "".join(
            f'<span><span class="swatch" style="background:{colour}"></span>{_e(name)}</span>'
            for name, colour in names
        )
        + "</div>"
    )


def _bins(buckets: Sequence[Sequence[int]]) -> tuple[float, float, list[int]]:
    """The bench histogram's buckets ([lowest, width, count] in nanoseconds) as ``BINS``
    log-spaced bins from the lowest bucket's start to the highest one's end: (low, high,
    counts), in seconds. A bucket is 1/128 of its value wide at most, far narrower than a
    bin: it goes whole into the bin of its midpoint."""
    low = max(min(b[0] for b in buckets), 1) / 1e9
    high = max(b[0] + b[1] for b in buckets) / 1e9
    if high <= low * 1.0001:
        high = low * 1.0001
    span = math.log(high / low)
    counts = [0] * BINS
    for lowest, width, count in buckets:
        middle = max((lowest + width / 2) / 1e9, low)
        index = min(max(int(BINS * math.log(middle / low) / span), 0), BINS - 1)
        counts[index] += count
    return low, high, counts


def _latency_histogram(connect: dict[str, Any]) -> str:
    chart_id, label = "latency-histogram", "connect latency histogram (total)"
    buckets = [b for b in connect.get("total") or [] if b[2] > 0]
    if not buckets:
        return _empty(chart_id, label, "no connection was made: no latency to show")
    low, high, counts = _bins(buckets)
    x = _Scale(low, high, _LEFT, _WIDTH - _RIGHT, log=True)
    top = max(counts)
    y_ticks = _linear_ticks(top)
    y = _Scale(0, y_ticks[-1], _HEIGHT - _BOTTOM, _TOP, log=False)
    parts = _axes(x, y, _log_ticks(low, high), y_ticks, _duration, lambda v: f"{v:,.0f}")
    ratio = (high / low) ** (1 / BINS)
    for index, count in enumerate(counts):
        if not count:
            continue
        start, end = low * ratio**index, low * ratio ** (index + 1)
        x0, x1 = x(start), x(end)
        y0 = y(count)
        parts.append(
            f'<rect class="bar" data-count="{count}" data-low="{start:.9f}" '
            f'data-high="{end:.9f}" x="{x0:.2f}" y="{y0:.2f}" '
            f'width="{max(x1 - x0 - 1, 1):.2f}" height="{_HEIGHT - _BOTTOM - y0:.2f}">'
            f"<title>{_duration(start)} to {_duration(end)}: {count:,}</title></rect>"
        )
    parts.append(
        f'<text x="{_WIDTH / 2:.0f}" y="{_HEIGHT - 8}" text-anchor="middle">'
        "connect latency, attempt to CONNACK (log scale); bars: connections</text>"
    )
    return _svg(chart_id, label, parts)


def _cdf_points(buckets: Sequence[Sequence[int]], x: _Scale, y: _Scale) -> str:
    """(lowest bucket start, 0), then (each bucket's end, fraction at or below it)."""
    total = sum(b[2] for b in buckets)
    seen = 0
    points = [f"{x(max(buckets[0][0], 1) / 1e9):.2f},{y(0):.2f}"]
    for lowest, width, count in buckets:
        seen += count
        points.append(f"{x((lowest + width) / 1e9):.2f},{y(seen / total):.2f}")
    return " ".join(points)


def _latency_cdf(connect: dict[str, Any], pingresp: Sequence[Sequence[int]]) -> str:
    chart_id, label = "latency-cdf", "cumulative distribution of the connect phases"
    series = [(key, [b for b in connect[key] if b[2] > 0]) for key in _phases(connect)]
    series.append(("PINGRESP round trip", [b for b in pingresp if b[2] > 0]))
    series = [(name, buckets) for name, buckets in series if buckets]
    if not series:
        return _empty(chart_id, label, "no connection was made: no latency to show")
    low = max(min(b[0] for _, buckets in series for b in buckets), 1) / 1e9
    high = max(b[0] + b[1] for _, buckets in series for b in buckets) / 1e9
    x = _Scale(low, max(high, low * 1.0001), _LEFT, _WIDTH - _RIGHT, log=True)
    y = _Scale(0, 1, _HEIGHT - _BOTTOM, _TOP, log=False)
    y_ticks = [0, 0.25, 0.5, 0.75, 0.9, 1.0]
    parts = _axes(x, y, _log_ticks(low, high), y_ticks, _duration, lambda v: f"{v:.0%}")
    names = []
    for index, (name, buckets) in enumerate(series):
        colour = _COLOURS[index % len(_COLOURS)]
        dash = ' stroke-dasharray="6 3"' if name == "PINGRESP round trip" else ""
        parts.append(
            f'<polyline class="cdf" data-series="{_e(name)}" fill="none" stroke="{colour}" '
            f'stroke-width="2"{dash} points="{_cdf_points(buckets, x, y)}">'
            f"<title>{_e(PHASE_LABELS.get(name, name))}</title></polyline>"
        )
        names.append((PHASE_LABELS.get(name, name), colour))
    parts.append(
        f'<text x="{_WIDTH / 2:.0f}" y="{_HEIGHT - 8}" text-anchor="middle">'
        "seconds (log scale); share of the connections at or below</text>"
    )
    return _svg(chart_id, label, parts) + _legend(names)


def _timeline_chart(timeline: dict[str, Any]) -> str:
    chart_id, label = "timeline-chart", "connections over time"
    points = timeline.get("points") or []
    if not points:
        return _empty(chart_id, label, "no samples were taken")
    end = max(p[0] for p in points)
    columns = {name: COLUMNS.index(name) for name in SERIES}
    top = max(max(p[columns[name]] for p in points) for name in SERIES)
    x_ticks = _linear_ticks(end)
    y_ticks = _linear_ticks(top)
    x = _Scale(0, x_ticks[-1], _LEFT, _WIDTH - _RIGHT, log=False)
    y = _Scale(0, y_ticks[-1], _HEIGHT - _BOTTOM, _TOP, log=False)
    parts = _axes(x, y, x_ticks, y_ticks, lambda v: f"{v:g} s", lambda v: f"{v:,.0f}")
    names = []
    for index, name in enumerate(SERIES):
        colour = _COLOURS[index % len(_COLOURS)]
        column = columns[name]
        line = " ".join(f"{x(p[0]):.2f},{y(p[column]):.2f}" for p in points)
        parts.append(
            f'<polyline class="series" data-series="{name}" fill="none" stroke="{colour}" '
            f'stroke-width="2" points="{line}"><title>{name.replace("_", " ")}</title></polyline>'
        )
        names.append((name.replace("_", " "), colour))
    parts.append(
        f'<text x="{_WIDTH / 2:.0f}" y="{_HEIGHT - 8}" text-anchor="middle">seconds since the '
        f"start (a sample every {_e(timeline.get('every'))} s or so)</text>"
    )
    return _svg(chart_id, label, parts) + _legend(names)


# ---------------------------------------------------------------------------- tables


def _table(table_id: str, head: Sequence[str], rows: Iterable[Sequence[str]]) -> str:
    """A table; the cells are HTML already (escaped by the caller)."""
    body = "".join(
        "<tr>"
        + "".join(f'<td class="n">{c}</td>' if type(c) is _Number else f"<td>{c}</td>" for c in row)
        + "</tr>"
        for row in rows
    )
    header = "".join(f"<th>{_e(h)}</th>" for h in head)
    return f'<table id="{table_id}"><tr>{header}</tr>{body}</table>'


class _Number(str):
    """A cell shown right-aligned."""


def _n(text: str) -> str:
    return _Number(text)


def _summary_tables(d: dict[str, Any]) -> str:
    plan = d.get("plan") or {}
    seconds = d.get("seconds") or {}
    per_cpu = d.get("cpu_seconds_per_connection")
    rss = d.get("rss_bytes")
    per_rss = d.get("rss_bytes_per_connection")
    packets = d.get("packets") or {}
    facts = [
        ("server", _e(", ".join(map(str, _servers(plan) or [d.get("uri")])))),
        ("event loop", _e(d.get("loop"))),
        ("attempts", _n(_count(d.get("attempts")))),
        ("connected", _n(_count(d.get("connected")))),
        ("failed", _n(_count(d.get("failed")))),
        ("cancelled (cut short by a stop)", _n(_count(d.get("cancelled")))),
        ("not started", _n(_count(d.get("not_started")))),
        ("held to the end", _n(_count(d.get("held")))),
        ("lost while holding", _n(_count(d.get("lost")))),
        ("achieved rate (attempts/s)", _n(_seconds(d.get("rate"), 1))),
        ("seconds connecting", _n(_seconds(seconds.get("connecting")))),
        ("seconds holding", _n(_seconds(seconds.get("holding")))),
        ("seconds in all", _n(_seconds(seconds.get("total")))),
        ("our CPU seconds", _n(_seconds(d.get("cpu_seconds")))),
        ("our CPU a connection", _n(_duration(per_cpu))),
        ("our memory (RSS)", _n("-" if rss is None else f"{rss / 2**20:,.1f} MiB")),
        (
            "memory a held connection",
            _n("-" if per_rss is None else f"{per_rss / 1024:,.1f} KiB"),
        ),
        (
            "packets/s while holding (sent, received)",
            _n(
                f"{_seconds(packets.get('sent_per_second_holding'), 1)}, "
                f"{_seconds(packets.get('received_per_second_holding'), 1)}"
            ),
        ),
    ]
    parts = [_table("figures", ("", "value"), ((_e(k), v) for k, v in facts))]
    for key, what in (("failures", "Failures"), ("losses", "Losses while holding")):
        rows = d.get(key) or []
        parts.append(f"<h3>{what} by category</h3>")
        parts.append(
            _table(
                key,
                ("category", "count", "exit status", "first message"),
                (
                    (
                        _e(r.get("category")),
                        _n(_count(r.get("count"))),
                        _n(_e(r.get("exit_code"))),
                        _e(r.get("example")),
                    )
                    for r in rows
                ),
            )
            if rows
            else "<p>none</p>"
        )
    stats = d.get("connect_seconds") or {}
    tls = d.get("tls_handshake_seconds") or {}
    rows = []
    for key in _phases(stats):
        named = [(key, stats[key])]
        if key == "tls_handshake":
            # The phase split by whether the server resumed a session (--tls-resume).
            named += [(f"tls_handshake {kind}", tls.get(kind)) for kind in ("full", "resumed")]
        rows += [
            [_e(name), _n(_count((each or {}).get("count")))]
            + [_n(_duration((each or {}).get(p))) for p in _PERCENTILES]
            for name, each in named
        ]
    ping = d.get("pingresp_seconds") or {}
    rows.append(
        ["PINGRESP round trip", _n(_count(ping.get("count")))]
        + [_n(_duration(ping.get(p))) for p in _PERCENTILES]
    )
    parts.append("<h3>Latency by phase</h3>")
    parts.append(
        _table(
            "percentiles", ("phase", "count", *(p.replace("_", ".") for p in _PERCENTILES)), rows
        )
    )
    sent, received = packets.get("sent") or {}, packets.get("received") or {}
    kinds = sorted(set(sent) | set(received))
    parts.append("<h3>Packets</h3>")
    parts.append(
        _table(
            "packets",
            ("type", "sent", "received"),
            ((_e(k), _n(_count(sent.get(k, 0))), _n(_count(received.get(k, 0)))) for k in kinds),
        )
    )
    for key, what in (("limits", "System limits met"), ("warnings", "Warnings")):
        items = d.get(key) or []
        if items:
            parts.append(f"<h3>{what}</h3><ul>" + "".join(f"<li>{_e(i)}</li>" for i in items))
            parts[-1] += "</ul>"
    parts.append("<h3>Plan</h3>")
    parts.append(
        _table(
            "plan",
            ("option", "value"),
            (
                (_e(k), _e(v if not isinstance(v, list) else ", ".join(map(str, v))))
                for k, v in plan.items()
            ),
        )
    )
    return "\n".join(parts)
