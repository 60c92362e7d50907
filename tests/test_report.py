"""``bench --report``: the page of a crafted document (pco_wire/report.py, no network),
the timeline it draws (pco_wire/timeline.py), and the file checked and written by the CLI
(pco_wire/cli/_report.py), and the timelines of --workers added up in a real run. The page
in a real browser: tests/test_report_browser.py."""

from __future__ import annotations

import html
import itertools
import os
import re
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

from pco_wire.bench import Histogram, Summary, Tally
from pco_wire.report import BINS, SERIES, render
from pco_wire.timeline import COLUMNS, MAX_POINTS, Timeline
from tests.broker import Broker, free_ports
from tests.peers import run_cli

HOSTILE = "<script>alert('x')</script>\"'&<img src=x onerror=alert(1)>"


class Elements(HTMLParser):
    """Every start tag of a page with its attributes, and its text."""

    def __init__(self, page: str) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.text: list[str] = []
        self.feed(page)
        self.close()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))

    def handle_data(self, data: str) -> None:
        self.text.append(data)

    def find(self, tag: str, **attrs: str) -> list[dict[str, str | None]]:
        return [
            a
            for t, a in self.tags
            if t == tag and all(a.get(k.replace("_", "-")) == v for k, v in attrs.items())
        ]


def _facts(**changes: Any) -> dict[str, Any]:
    facts: dict[str, Any] = {
        "uri": "mqtt://127.0.0.1:1883",
        "loop": "asyncio",
        "plan": {
            "connections": 14,
            "rate": 500.0,
            "concurrency": 10,
            "duration": 1.0,
            "ping_interval": None,
            "keep_alive": 60,
            "clean_session": True,
            "protocol": "3.1.1",
            "response_timeout": 10.0,
            "client_id_prefix": "bench",
            "start_number": 0,
            "source": None,
            "workers": 1,
            "tls_resume": False,
        },
        "warnings": [f"warning {HOSTILE}"],
        "held": 12,
        "connect_seconds": 0.5,
        "hold_seconds": 1.0,
        "hold_packets": (4, 4),
        "total_seconds": 1.6,
        "cpu_seconds": 0.1,
        "cpu_per_connection": 0.0002,
        "rss_bytes": 30 << 20,
        "rss_per_connection": 6000,
    }
    facts.update(changes)
    return facts


#: Connect latencies of the crafted run: three values far apart, so three bars.
LATENCIES = [0.001] * 5 + [0.002] * 7 + [0.010]


def _tally() -> Tally:
    tally = Tally()
    for i, total in enumerate(LATENCIES):
        tally.begin(i / 100)
        tally.succeeded([("TCP connect", total / 2), ("CONNACK", total / 4)], total, i / 100)
    tally.begin(0.5)
    tally.failed_with(1, "not-authorized", f"the server said {HOSTILE}", 0.6)
    tally.lost_with(3, "connection-lost", f"reason string {HOSTILE}")
    tally.limit("ports", f"limit {HOSTILE}")
    for _ in range(4):
        tally.pingresp.add(0.0005)
    for i in range(7):
        tally.sample(100.0 + i / 2, min(i * 3, 12))
    return tally


def _document() -> dict[str, Any]:
    return Summary(_tally(), _facts(uri=f"mqtt://127.0.0.1:1883/{HOSTILE}")).to_json()


def _points(polyline: dict[str, str | None]) -> list[tuple[float, float]]:
    text = polyline["points"] or ""
    return [(float(x), float(y)) for x, y in (p.split(",") for p in text.split())]


def test_network_text_is_escaped_everywhere() -> None:
    page = render(_document())
    assert HOSTILE not in page
    assert "<script" not in page and "<img" not in page
    escaped = html.escape(HOSTILE, quote=True)
    # The failure, the loss, the limit, the warning and the URI, each escaped.
    for text in ("the server said ", "reason string ", "limit ", "warning ", "1883/"):
        assert text + escaped in page, text
    elements = Elements(page)
    assert {tag for tag, _ in elements.tags} <= {
        "html", "head", "meta", "title", "style", "body", "h1", "h2", "h3", "p", "strong",
        "svg", "line", "text", "rect", "polyline", "div", "span", "table", "tr",
        "th", "td", "ul", "li",
    }  # fmt: skip
    assert HOSTILE in "".join(elements.text)  # as text, where it was put


def test_the_page_loads_nothing_from_anywhere() -> None:
    page = render(_document())
    for needle in ("http://", "https://", "<script", "<link", "@import", "url("):
        assert needle not in page, needle
    elements = Elements(page)
    for tag, attrs in elements.tags:
        assert not {"src", "href", "xlink:href", "srcset", "action"} & set(attrs), tag
    policy = elements.find("meta", http_equiv="Content-Security-Policy")
    assert policy and policy[0]["content"] == "default-src 'none'; style-src 'unsafe-inline'"


def test_the_latency_histogram_has_a_bar_for_each_value() -> None:
    elements = Elements(render(_document()))
    assert len(elements.find("svg", id="latency-histogram")) == 1
    bars = elements.find("rect", **{"class": "bar"})
    # Far apart on a log scale of BINS bins: each value its bar, in order.
    assert [int(b["data-count"] or 0) for b in bars] == [5, 7, 1]
    for bar, value in zip(bars, (0.001, 0.002, 0.010), strict=True):
        assert float(bar["data-low"] or 0) <= value * 1.01
        assert value <= float(bar["data-high"] or 0) * 1.01
    assert BINS >= 3


def test_many_buckets_are_binned_and_every_connection_counted() -> None:
    tally = Tally()
    latencies = [0.0002 * 1.01**i for i in range(600)]
    for value in latencies:
        tally.begin(0)
        tally.succeeded([], value, 0)
    document = Summary(tally, _facts()).to_json()
    assert len(document["connect_buckets"]["total"]) > BINS
    bars = Elements(render(document)).find("rect", **{"class": "bar"})
    assert 1 < len(bars) <= BINS
    assert sum(int(b["data-count"] or 0) for b in bars) == len(latencies)


def test_the_cdf_has_a_line_for_each_phase_and_the_round_trips() -> None:
    document = _document()
    elements = Elements(render(document))
    assert len(elements.find("svg", id="latency-cdf")) == 1
    lines = {str(p["data-series"]): p for p in elements.find("polyline", **{"class": "cdf"})}
    assert set(lines) == {"tcp_connect", "connack", "total", "PINGRESP round trip"}
    for key in ("tcp_connect", "connack", "total"):
        points = _points(lines[key])
        assert len(points) == len(document["connect_buckets"][key]) + 1
        assert [x for x, _ in points] == sorted(x for x, _ in points)
        ys = [y for _, y in points]
        assert ys == sorted(ys, reverse=True)  # rising, on a screen's y
    assert len(_points(lines["PINGRESP round trip"])) == len(document["pingresp_buckets"]) + 1
    # The legend names the phases as test does.
    legend = render(document).split('class="legend"', 2)[1]
    assert "TCP connect" in legend and "tcp_connect" not in legend, legend


def test_connections_over_time_has_every_sample_in_each_line() -> None:
    document = _document()
    points = document["timeline"]["points"]
    assert len(points) == 7 and points[0][0] == 0.0 and points[-1][0] == 3.0
    elements = Elements(render(document))
    assert len(elements.find("svg", id="timeline-chart")) == 1
    lines = {str(p["data-series"]): p for p in elements.find("polyline", **{"class": "series"})}
    assert set(lines) == set(SERIES)
    for name in SERIES:
        drawn = _points(lines[name])
        assert len(drawn) == len(points), name
        assert [x for x, _ in drawn] == sorted(x for x, _ in drawn)
    # Open rises with the samples (0, 3, ... 12): drawn higher each time until 12.
    open_ys = [y for _, y in _points(lines["open"])]
    assert open_ys[0] > open_ys[1] > open_ys[2] > open_ys[3] > open_ys[4] == open_ys[5]


def test_the_summary_figures_are_in_tables() -> None:
    page = render(_document())
    elements = Elements(page)
    for table in ("figures", "failures", "losses", "percentiles", "packets", "plan"):
        assert elements.find("table", id=table), table
    text = " ".join(elements.text)
    for words in ("attempts", "14", "not-authorized", "connection-lost", "PINGRESP round trip"):
        assert words in text, words
    assert "200 µs" in text  # our CPU a connection (0.0002 s)


def test_the_tls_handshakes_are_shown_full_and_resumed() -> None:
    tally = Tally()
    for i in range(4):
        tally.begin(i / 100)
        seconds = 0.004 if i == 0 else 0.001
        tally.succeeded([("TLS handshake", seconds)], seconds * 2, i / 100, i > 0, i > 0)
    plan = {**_facts()["plan"], "tls_resume": True}
    page = render(Summary(tally, _facts(uri="mqtts://127.0.0.1:8883", plan=plan)).to_json())
    table = page[page.index('<table id="percentiles">') :]
    table = table[: table.index("</table>")]
    # Each row: the phase, its count, then its percentiles.
    rows = [re.findall(r"<td[^>]*>(.*?)</td>", row) for row in re.findall(r"<tr>(.*?)</tr>", table)]
    counts = {row[0]: row[1] for row in rows if row}
    assert counts == {
        "tls_handshake": "4",
        "tls_handshake full": "1",
        "tls_handshake resumed": "3",
        "total": "4",
        "PINGRESP round trip": "0",
    }


def test_a_run_that_could_not_start_renders_without_data() -> None:
    document = Summary.failed(2, "invalid-settings", HOSTILE, "mqtt://h", _facts()["plan"])
    page = render(document.to_json())
    assert HOSTILE not in page
    elements = Elements(page)
    for chart in ("latency-histogram", "latency-cdf", "timeline-chart"):
        assert elements.find("svg", id=chart), chart
    assert not elements.find("rect") and not elements.find("polyline")


# ---------------------------------------------------------------------------- timeline


def test_the_timeline_keeps_a_bounded_number_of_samples_evenly_spread() -> None:
    timeline = Timeline(0.5)
    now, samples = 0.0, 0
    while now < 20_000.0:  # as the driver samples: every `every` seconds
        timeline.sample(now, samples, 0, 0, 0, samples)
        samples += 1
        now += timeline.every
    points = timeline.points
    assert MAX_POINTS // 2 <= len(points) <= MAX_POINTS < samples
    assert timeline.every in {0.5 * 2**k for k in range(1, 12)}
    assert points[0][0] == 0.0 and points[-1][1] == samples - 1  # the first, the latest
    gaps = [b[0] - a[0] for a, b in itertools.pairwise(points)]
    assert max(gaps) <= timeline.every and min(gaps) >= 0.5
    timeline.sample(1.0, 0, 0, 0, 0, 0)  # a clock gone back: ignored
    assert timeline.points[-1][1] == samples - 1


def test_timelines_of_workers_merge_as_sums_of_their_steps() -> None:
    first, second = Timeline(), Timeline()
    first.sample(10.0, 0, 0, 0, 1, 0)
    first.sample(10.5, 5, 1, 0, 0, 5)
    first.sample(11.0, 5, 1, 0, 0, 0)
    second.sample(10.25, 2, 0, 0, 0, 2)
    second.sample(10.75, 4, 0, 1, 0, 3)
    first.merge(second)
    assert first.points == [
        (10.0, 0, 0, 0, 1, 0),
        (10.25, 2, 0, 0, 1, 2),
        (10.5, 7, 1, 0, 0, 7),
        (10.75, 9, 1, 1, 0, 8),
        (11.0, 9, 1, 1, 0, 3),
    ]
    assert first.to_json()["points"][1] == [0.25, 2, 0, 0, 1, 2]
    assert len(COLUMNS) == len(first.points[0])


def test_the_timeline_travels_and_merges_with_the_tally() -> None:
    one, two = Tally(), Tally()
    one.begin(1.0)
    one.sample(1.0, 0)
    two.begin(1.2)
    two.sample(1.2, 0)
    one.merge(Tally.from_state(two.state()))
    assert [p[0] for p in one.timeline.points] == [1.0, 1.2]
    assert one.timeline.points[-1][4] == 2  # in flight: one of each


def test_bucket_lists_hold_every_sample() -> None:
    histogram = Histogram.of([1e-7, 0.001, 0.001, 0.5])
    buckets = histogram.bucket_list()
    assert sum(count for _, _, count in buckets) == 4
    for low, width, _ in buckets:
        assert Histogram.bucket((low + width / 2) / 1e9) == (low, width)


# ---------------------------------------------------------------------------- the CLI


def test_a_report_that_cannot_be_written_is_refused_before_any_traffic(tmp_path: Path) -> None:
    (port,) = free_ports(1)  # nothing listens: an attempt would fail otherwise (exit 3)
    for target, reason in (
        (tmp_path / "missing" / "run.html", "no such directory"),
        (tmp_path, "it is a directory"),
    ):
        run = run_cli(f"mqtt://127.0.0.1:{port}", "--report", str(target), command="bench")
        assert run.code == 2, run
        assert f"cannot write {str(target)!r}: {reason}" in run.stderr, run
        assert "FAILED (invalid-settings, exit 2)" in run.stderr
    run = run_cli(
        f"mqtt://127.0.0.1:{port}",
        "--report",
        str(tmp_path / "missing" / "run.html"),
        "--json",
        command="bench",
    )
    assert run.code == 2 and run.json()["exit_code"] == 2
    assert "cannot write" in run.json()["message"]
    assert os.listdir(tmp_path) == []  # no probe left behind


def test_a_report_written_late_says_why_it_could_not_be(tmp_path: Path) -> None:
    from pco_wire.cli._report import check, write

    target = tmp_path / "gone" / "run.html"
    target.parent.mkdir()
    check(str(target))
    target.parent.rmdir()  # between the check and the end of the run
    problem = write(str(target), _document())
    assert problem is not None and problem.startswith(f"cannot write {str(target)!r}")
    target.parent.mkdir()
    assert write(str(target), _document()) is None
    assert target.read_text(encoding="utf-8").startswith("<!DOCTYPE html>")


def test_check_leaves_an_existing_report_as_it_was(tmp_path: Path) -> None:
    from pco_wire.cli._report import check

    name = "run.html"
    target = tmp_path / name
    target.write_text("before")
    check(str(target))
    assert target.read_text() == "before"
    assert sorted(os.listdir(tmp_path)) == [name]


def test_the_timelines_of_workers_add_up(broker: Broker) -> None:
    run = run_cli(
        f"mqtt://127.0.0.1:{broker.ports.tcp}",
        *("-n", "30", "-w", "2", "-d", "2", "--json"),
        command="bench",
        timeout=60,
    )
    assert run.code == 0, run
    timeline = run.json()["timeline"]
    points = timeline["points"]
    assert points[0][0] == 0.0 and timeline["every"] == 0.5
    times = [p[0] for p in points]
    assert times == sorted(times)
    # A sample every 0.5 s while holding (loaded machines run late), not only at the ends.
    assert max(b - a for a, b in itertools.pairwise(times)) <= 1.0, times
    column = {name: COLUMNS.index(name) for name in COLUMNS}
    assert max(p[column["open"]] for p in points) == 30  # both workers' 15 at once
    last = points[-1]
    assert (last[column["connected"]], last[column["open"]], last[column["in_flight"]]) == (
        30,
        0,
        0,
    )
