"""The pure parts of ``bench`` (pco_wire/bench.py): the schedule, the client IDs, the
histogram and its percentiles, the descriptor budget, the tally and the summary. A fake
clock (plain numbers), no sockets, no sleeping."""

from __future__ import annotations

import errno
import json
import math
import random
import re

import pytest

from pco_wire.bench import (
    DESCRIPTOR_MARGIN,
    MAX_CLIENT_ID,
    PERCENTILES,
    ClientIds,
    Histogram,
    Schedule,
    Summary,
    Tally,
    descriptor_problem,
    parse_sources,
    progress_text,
)
from pco_wire.cli.bench import limit_sentence
from pco_wire.diagnose import CATEGORIES
from pco_wire.errors import TransportError
from tests.support import BENCH_JSON_KEYS, BENCH_STATS_KEYS

# ---------------------------------------------------------------------------- schedule


def test_schedule_spaces_starts_evenly_from_the_start() -> None:
    schedule = Schedule(5, 500.0, 100.0)
    assert [schedule.due(i) for i in range(5)] == pytest.approx(
        [100.0, 100.002, 100.004, 100.006, 100.008]
    )


def test_schedule_says_how_many_are_due_at_each_moment() -> None:
    schedule = Schedule(2000, 500.0, 10.0)
    assert schedule.due_by(9.999) == 0
    assert schedule.due_by(10.0) == 1  # the first is due at the start itself
    assert schedule.due_by(10.0019) == 1
    assert schedule.due_by(10.002) == 2
    assert schedule.due_by(11.0) == 501  # never a burst: one every 2 ms
    assert schedule.due_by(1000.0) == 2000
    # Exactly on each due time, and just before it, for every index.
    for index in range(2000):
        due = schedule.due(index)
        assert schedule.due_by(due) == index + 1
        assert schedule.due_by(math.nextafter(due, -math.inf)) == index


def test_schedule_without_a_rate_has_everything_due_at_once() -> None:
    schedule = Schedule(3, None, 5.0)
    assert schedule.due_by(4.0) == 0
    assert schedule.due_by(5.0) == 3
    assert schedule.due(2) == 5.0


@pytest.mark.parametrize("rate", [0.0, -1.0, math.inf, math.nan])
def test_schedule_refuses_a_rate_that_is_not_positive(rate: float) -> None:
    with pytest.raises(ValueError, match="positive rate"):
        Schedule(3, rate, 0.0)


def test_schedule_index_out_of_range() -> None:
    with pytest.raises(IndexError):
        Schedule(3, 1.0, 0.0).due(3)


# ---------------------------------------------------------------------------- client IDs


def test_client_ids_are_the_prefix_and_a_counter() -> None:
    ids = ClientIds("bench", 7, 3)
    assert [ids[i] for i in range(len(ids))] == ["bench7", "bench8", "bench9"]
    with pytest.raises(IndexError):
        ids[3]


def test_client_ids_fill_23_characters_exactly() -> None:
    prefix = "p" * (MAX_CLIENT_ID - 4)
    ids = ClientIds(prefix, 0, 10_000)  # bench9999: 19 + 4
    assert len(ids[9999]) == MAX_CLIENT_ID


def test_a_prefix_that_cannot_fit_every_id_is_refused_saying_what_fits() -> None:
    prefix = "p" * (MAX_CLIENT_ID - 4)
    with pytest.raises(ValueError) as caught:
        ClientIds(prefix, 0, 10_001)  # the last is ...10000: 24 characters
    message = str(caught.value)
    assert "24 characters, more than the 23" in message
    assert "at most 18 characters" in message
    with pytest.raises(ValueError, match="lower --start-number"):
        ClientIds("bench", 10**18, 1)


def test_a_start_number_too_long_even_without_a_prefix_names_the_start_number() -> None:
    # No prefix can help: the advice is the highest start number that fits.
    assert ClientIds("", 10**MAX_CLIENT_ID - 50, 50)[49] == "9" * MAX_CLIENT_ID
    with pytest.raises(ValueError) as caught:
        ClientIds("bench", 10**MAX_CLIENT_ID - 49, 50)
    message = str(caught.value)
    assert message.startswith("start number: the last of 50 IDs"), message
    assert message.endswith(f"at most {10**MAX_CLIENT_ID - 50:,}"), message


@pytest.mark.parametrize("prefix", ["bench-", "a b", "é", "x/y"])
def test_a_prefix_with_other_characters_is_refused(prefix: str) -> None:
    with pytest.raises(ValueError, match="only 0-9, a-z and A-Z"):
        ClientIds(prefix, 0, 1)


def test_an_empty_prefix_gives_bare_numbers() -> None:
    assert ClientIds("", 0, 2)[1] == "1"


# ---------------------------------------------------------------------------- sources


def test_sources_are_lists_and_ranges_in_order() -> None:
    assert parse_sources("127.0.0.2-127.0.0.4") == ("127.0.0.2", "127.0.0.3", "127.0.0.4")
    assert parse_sources("127.0.0.9, ::1,127.0.0.2-127.0.0.2") == (
        "127.0.0.9",
        "::1",
        "127.0.0.2",
    )
    assert parse_sources("::1-::2") == ("::1", "::2")  # IPv6 stays IPv6, however small
    assert len(parse_sources("10.0.0.0-10.0.255.255")) == 65536


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("localhost", "expected IP addresses or ranges"),
        ("127.0.0.5-127.0.0.2", "from a lower to a higher"),
        ("127.0.0.1-::1", "from a lower to a higher"),
        ("10.0.0.0-10.1.0.0", "at most 65,536"),
        ("", "expected IP addresses"),
    ],
)
def test_bad_sources_are_refused(text: str, words: str) -> None:
    with pytest.raises(ValueError, match=re.escape(words)):
        parse_sources(text)


# ---------------------------------------------------------------------------- histogram


def test_histogram_is_exact_for_small_values_and_bounded_above() -> None:
    # Below 256 ns every nanosecond is its own bucket.
    assert Histogram.bucket(200e-9) == (200, 1)
    rng = random.Random(11)
    for _ in range(2000):
        seconds = rng.uniform(1e-6, 100.0)
        low, width = Histogram.bucket(seconds)
        nanoseconds = int(seconds * 1e9)
        assert low <= nanoseconds < low + width
        assert width <= low / 2**Histogram.SUB_BITS  # at most 1/128 of its lower bound


def test_percentiles_are_within_the_stated_relative_error() -> None:
    rng = random.Random(3)
    samples = [rng.lognormvariate(-7, 1.5) for _ in range(20_000)]
    histogram = Histogram.of(samples)
    ordered = sorted(samples)
    for key, fraction in PERCENTILES:
        got = histogram.percentile(fraction)
        assert got is not None
        rank = max(1, math.ceil(fraction * len(ordered)))
        true = ordered[rank - 1]
        assert abs(got - true) <= true / 2 ** (Histogram.SUB_BITS + 1) + 1e-9, key
    assert histogram.percentile(0) == min(samples)
    assert histogram.percentile(1) == max(samples)


def test_percentiles_of_a_known_set() -> None:
    # 1 ms .. 1000 ms: p50 is the 500th, p90 the 900th, p99 the 990th, p99.9 the 999th.
    histogram = Histogram.of(i / 1000 for i in range(1, 1001))
    shown = histogram.percentiles()
    for key, true in (("p50", 0.5), ("p90", 0.9), ("p99", 0.99), ("p99_9", 0.999)):
        assert shown[key] == pytest.approx(true, rel=1 / 256), key
    assert shown["min"] == 0.001
    assert shown["max"] == 1.0
    assert list(shown) == ["min", "p50", "p90", "p99", "p99_9", "max"]


def test_merged_histograms_equal_the_histogram_of_all_samples() -> None:
    rng = random.Random(5)
    a = [rng.expovariate(1000) for _ in range(3000)]
    b = [rng.expovariate(100) for _ in range(1000)]
    merged = Histogram.of(a)
    merged.merge(Histogram.of(b))
    whole = Histogram.of(a + b)
    assert merged == whole
    assert merged.percentiles() == whole.percentiles()
    assert merged.count == 4000
    empty = Histogram()
    empty.merge(Histogram())
    assert empty == Histogram()
    assert empty.percentiles() == dict.fromkeys(empty.percentiles())
    assert empty.to_json()["count"] == 0


def test_a_histogram_travels_as_json_and_comes_back_the_same() -> None:
    rng = random.Random(7)
    histogram = Histogram.of(rng.expovariate(500) for _ in range(1000))
    again = Histogram.from_state(json.loads(json.dumps(histogram.state())))
    assert again == histogram
    assert again.percentiles() == histogram.percentiles()
    assert Histogram.from_state(Histogram().state()) == Histogram()


def test_tallies_merge_into_the_tally_of_both() -> None:
    a, b = _tally(), _tally()
    b.begin(1.0)  # b started one more, later
    b.failed_with(3, "connection-refused", "refused", 1.1)
    a.merge(b)
    assert (a.started, a.connected, a.failed, a.lost, a.in_flight) == (9, 6, 3, 2, 0)
    assert a.connect["total"] == Histogram.of([0.003, 0.004, 0.005] * 2)
    assert a.failures == {"timeout": 2, "connection-refused": 1}
    assert a.sent == {"CONNECT": 6, "PINGREQ": 8}
    assert a.received == {"CONNACK": 6, "PINGRESP": 8}
    assert a.pingresp.count == 8
    assert (a.first_start, a.last_start, a.last_end) == (0.0, 1.0, 1.1)
    assert a.exit_code() == (5, "timeout")


def test_histogram_refuses_what_is_not_a_duration() -> None:
    for bad in (-1e-9, math.inf, math.nan):
        with pytest.raises(ValueError):
            Histogram().add(bad)
    with pytest.raises(ValueError):
        Histogram.of([1.0]).percentile(1.5)


def test_percentiles_are_ordered() -> None:
    rng = random.Random(9)
    histogram = Histogram.of(rng.paretovariate(1.2) / 1000 for _ in range(5000))
    values = [value for value in histogram.percentiles().values() if value is not None]
    assert len(values) == len(PERCENTILES)
    assert values == sorted(values)


# ---------------------------------------------------------------------------- descriptors


def test_descriptor_budget() -> None:
    assert descriptor_problem(100, 10, 1000) is None
    assert descriptor_problem(10**6, 10, -1) is None  # unlimited
    sentence = descriptor_problem(200, 8, 64)
    assert sentence is not None
    assert f"about {200 + 8 + DESCRIPTOR_MARGIN}" in sentence
    assert "at most 64 (the hard limit, RLIMIT_NOFILE" in sentence
    assert "--connections 24 or fewer" in sentence


@pytest.mark.parametrize(
    ("code", "name", "words"),
    [
        (errno.EMFILE, "descriptors", "ran out of file descriptors (EMFILE)"),
        (errno.ENFILE, "system-descriptors", "fs.file-max"),
        (errno.EADDRNOTAVAIL, "ports", "ephemeral ports"),
    ],
)
def test_system_limits_met_while_running_get_their_sentence(
    code: int, name: str, words: str
) -> None:
    # As the transport raises them: our error, with the system's chained.
    try:
        try:
            raise OSError(code, "system says no")
        except OSError as exc:
            raise TransportError("TCP connect", "cannot connect") from exc
    except TransportError as error:
        found = limit_sentence(error, 1234, "mqtt://127.0.0.1:1883")
    assert found is not None
    assert found[0] == name
    assert words in found[1]
    assert "1,234 connections" in found[1]
    assert limit_sentence(TransportError("TCP connect", "refused"), 1, "x") is None


# ---------------------------------------------------------------------------- tally, summary


def _facts(**changes: object) -> dict[str, object]:
    facts: dict[str, object] = {
        "uri": "mqtt://127.0.0.1:1883",
        "loop": "asyncio",
        "plan": {
            "connections": 4,
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
        "warnings": [],
        "held": 2,
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


def _tally() -> Tally:
    tally = Tally()
    for i, now in enumerate((0.0, 0.002, 0.004, 0.006)):
        tally.begin(now)
        if i < 3:
            tally.succeeded([("TCP connect", 0.001), ("CONNACK", 0.002)], 0.003 + i / 1000, now)
    tally.failed_with(5, "timeout", "no CONNACK within 1 s", 0.01)
    tally.lost_with(3, "connection-lost", "the server closed the connection")
    tally.count(tally.sent, "PINGREQ", 4)
    tally.count(tally.received, "PINGRESP", 4)
    for _ in range(4):
        tally.pingresp.add(0.0005)
    return tally


def test_tally_counts_add_up_and_say_the_rate() -> None:
    tally = _tally()
    assert (tally.started, tally.connected, tally.failed, tally.in_flight) == (4, 3, 1, 0)
    assert tally.rate() == pytest.approx(500.0)
    assert tally.connect["tcp_connect"].count == 3
    assert tally.connect["total"].count == 3
    assert "3 connected, 1 failed, 0 in flight, 1 lost; 500/s; p50" in progress_text(tally)


def test_the_exit_status_is_the_most_common_category() -> None:
    tally = Tally()
    assert tally.exit_code() == (0, None)
    tally.failed_with(5, "timeout", "late", 0.0)
    tally.lost_with(3, "connection-lost", "gone")
    tally.lost_with(3, "connection-lost", "gone")
    assert tally.exit_code() == (3, "connection-lost")
    tally.failed_with(5, "timeout", "late", 0.0)
    assert tally.exit_code() == (5, "timeout")  # a tie: the one met first


def test_summary_json_has_the_documented_keys_and_consistent_numbers() -> None:
    document = Summary(_tally(), _facts()).to_json()
    assert set(document) == BENCH_JSON_KEYS
    json.dumps(document)  # every value is JSON
    assert (
        document["attempts"] == document["connected"] + document["failed"] + document["cancelled"]
    )
    # A tie, one each: the failure was met first.
    assert document["exit_code"] == 5 and document["category"] == "timeout"
    assert document["message"] == "1 failed, 1 lost; timeout was the most common"
    for key, stats in document["connect_seconds"].items():
        assert set(stats) == BENCH_STATS_KEYS, key
    assert document["failures"] == [
        {"category": "timeout", "count": 1, "exit_code": 5, "example": "no CONNACK within 1 s"}
    ]
    assert document["packets"]["sent_per_second_holding"] == 4.0
    for row in document["failures"] + document["losses"]:
        assert CATEGORIES[row["category"]] == row["exit_code"]


def test_summary_lines_say_the_same() -> None:
    lines = Summary(_tally(), _facts()).lines()
    text = "\n".join(lines)
    assert "attempts 4: connected 3, failed 1" in text
    assert "failed 1 timeout (exit 5): no CONNACK within 1 s" in text
    assert "lost 1 connection-lost (exit 3)" in text
    assert "PINGREQ sent 4, PINGRESP received 4" in text
    # Phases by the names test shows them by; the JSON keys stay keys.
    assert "\n    TCP connect         1.0 ms" in text, text
    assert "\n    CONNACK             2.0 ms" in text, text
    assert "tcp_connect" not in text and "connack " not in text, text
    assert lines[-1].startswith("FAILED (")


def test_phases_through_a_proxy_come_in_the_order_of_a_connection() -> None:
    tally = Tally()
    tally.begin(0.0)
    phases = [
        ("name resolution", 0.0001),
        ("proxy connect", 0.0002),
        ("proxy tunnel", 0.0003),
        ("CONNACK", 0.0004),
    ]
    tally.succeeded(phases, 0.001, 0.001)
    lines = Summary(tally, _facts()).lines()
    start = next(i for i, line in enumerate(lines) if "connect latency" in line) + 2
    rows = []
    for line in lines[start:]:
        if not line.startswith("    ") or line[4] == " ":
            break
        rows.append(line[4:22].strip())
    assert rows == ["name resolution", "proxy connect", "proxy tunnel", "CONNACK", "total"], rows


def test_a_stopped_run_exits_with_the_signal_status() -> None:
    tally = Tally()
    summary = Summary(tally, _facts(stopped_by="SIGTERM", stop_status=143))
    assert summary.exit_code() == (143, None)
    assert summary.to_json()["stopped_by"] == "SIGTERM"
    assert summary.lines()[-1] == (
        "STOPPED (exit 143): stopped by SIGTERM after 0 attempts: 0 connected, 0 failed, 0 lost"
    )


def test_one_attempt_and_one_source_address_are_said_in_the_singular() -> None:
    tally = Tally()
    tally.begin(0.0)
    plan = {**_facts()["plan"], "source": ["127.0.0.2"]}  # type: ignore[dict-item]
    lines = Summary(tally, _facts(stopped_by="SIGINT", stop_status=130, plan=plan)).lines()
    assert " 4 connections from 1 source address, 500/s," in lines[0], lines[0]
    assert "stopped by SIGINT after 1 attempt: " in lines[-1], lines[-1]


# ---------------------------------------------------------------------------- TLS resumption

#: (TLS handshake seconds, resumed, offered) of five connections: the first had no
#: session to offer, the server declined the one offered to the second.
_HANDSHAKES = [(0.004, False, False), (0.0042, False, True)] + [(0.001, True, True)] * 3


def _tls_tally() -> Tally:
    tally = Tally()
    for i, (seconds, resumed, offered) in enumerate(_HANDSHAKES):
        tally.begin(i / 100)
        phases = [("TCP connect", 0.0005), ("TLS handshake", seconds), ("CONNACK", 0.001)]
        tally.succeeded(phases, seconds + 0.002, i / 100 + 0.01, resumed, offered)
    return tally


def _tls_facts(resume: bool = True) -> dict[str, object]:
    facts = _facts(uri="mqtts://127.0.0.1:8883", held=5, hold_packets=(0, 0))
    facts["plan"] = {**facts["plan"], "connections": 5, "tls_resume": resume}  # type: ignore[dict-item]
    return facts


def test_the_tls_handshake_phase_splits_into_full_and_resumed() -> None:
    document = Summary(_tls_tally(), _tls_facts()).to_json()
    assert set(document) == BENCH_JSON_KEYS
    json.dumps(document)
    tls = document["tls_handshake_seconds"]
    assert set(tls) == {"full", "resumed"}
    for stats in tls.values():
        assert set(stats) == BENCH_STATS_KEYS
    full, resumed = tls["full"], tls["resumed"]
    assert (full["count"], resumed["count"], document["tls_sessions_offered"]) == (2, 3, 4)
    assert full["count"] + resumed["count"] == document["connect_seconds"]["tls_handshake"]["count"]
    assert (full["min"], full["max"]) == (0.004, 0.0042)
    assert resumed["p50"] == pytest.approx(0.001, rel=0.004)
    # The buckets behind them, as those of every other histogram.
    buckets = document["tls_handshake_buckets"]
    assert buckets["full"] == Histogram.of([0.004, 0.0042]).bucket_list()
    assert buckets["resumed"] == Histogram.of([0.001] * 3).bucket_list()


def test_the_summary_shows_full_and_resumed_under_the_tls_handshake() -> None:
    lines = Summary(_tls_tally(), _tls_facts()).lines()
    row = next(i for i, line in enumerate(lines) if line.startswith("    TLS handshake "))
    assert lines[row + 1].startswith("      full              4.0 ms ")
    assert lines[row + 2].startswith("      resumed           1.0 ms ")
    assert len(lines[row + 1].split()) == 1 + 2 * 6  # every percentile of its own
    assert (
        "  TLS handshakes 5: full 2, resumed 3 (1 before a session was at hand, 1 offered a "
        "session the server declined)"
    ) in lines


def test_without_tls_resume_every_handshake_is_full_and_said_so() -> None:
    tally = Tally()
    for _ in range(3):
        tally.begin(0.0)
        tally.succeeded([("TLS handshake", 0.004)], 0.006, 0.01, False, False)
    summary = Summary(tally, _tls_facts(resume=False))
    document = summary.to_json()
    assert document["tls_handshake_seconds"]["full"]["count"] == 3
    assert document["tls_handshake_seconds"]["resumed"]["count"] == 0
    assert document["tls_sessions_offered"] == 0
    assert document["plan"]["tls_resume"] is False
    assert (
        "  TLS handshakes 3: full 3, resumed 0 (no session offered: --tls-resume not given)"
        in summary.lines()
    )


def test_a_run_without_tls_counts_no_handshake_and_shows_none() -> None:
    summary = Summary(_tally(), _facts())
    document = summary.to_json()
    assert [stats["count"] for stats in document["tls_handshake_seconds"].values()] == [0, 0]
    assert document["tls_handshake_buckets"] == {"full": [], "resumed": []}
    text = "\n".join(summary.lines())
    assert "TLS" not in text and "resumed" not in text


def test_tls_handshakes_merge_and_travel_as_the_other_counts() -> None:
    # --workers: each worker's tally travels as JSON and merges into one.
    merged = Tally.from_state(json.loads(json.dumps(_tls_tally().state())))
    merged.merge(_tls_tally())
    assert merged.tls_full == Histogram.of([0.004, 0.0042] * 2)
    assert merged.tls_resumed == Histogram.of([0.001] * 6)
    assert merged.tls_offered == 8
    assert merged.connect["tls_handshake"].count == 10


def test_the_readme_documents_every_key_of_the_json_document() -> None:
    from tests.support import README

    lines = README.read_text(encoding="utf-8").splitlines()
    start = lines.index("### bench JSON")
    documented: set[str] = set()
    for line in lines[start + 1 :]:
        if line.startswith("#"):
            break
        if line.startswith("| `"):
            documented.update(re.findall(r"`(\w+)`", line.split("|")[1]))
    assert documented == BENCH_JSON_KEYS


def test_workers_get_shares_that_differ_by_one_at_most() -> None:
    from pco_wire.cli._workers import shares

    assert shares(10, 3) == [4, 3, 3]
    assert shares(1, 3) == [1, 0, 0]
    for total, workers in ((2000, 7), (19_999, 4), (5, 5)):
        got = shares(total, workers)
        assert sum(got) == total and max(got) - min(got) <= 1


def test_the_facts_of_workers_merge_into_one_run() -> None:
    from pco_wire.bench import merge_facts

    parts = [
        {
            "connect_seconds": 2.0,
            "hold_seconds": 5.0,
            "held": 10,
            "cpu_seconds": 1.0,
            "rss_bytes": 100,
            "cpu_connecting": 0.5,
            "rss_growth": 40,
            "hold_packets": (3, 2),
            "attempts": 10,
            "connected": 10,
        },
        {
            "connect_seconds": 2.5,
            "hold_seconds": 4.9,
            "held": 9,
            "cpu_seconds": 2.0,
            "rss_bytes": 200,
            "cpu_connecting": 1.5,
            "rss_growth": 40,
            "hold_packets": (1, 1),
            "attempts": 10,
            "connected": 10,
        },
    ]
    merged = merge_facts(parts)
    assert (merged["connect_seconds"], merged["hold_seconds"]) == (2.5, 5.0)
    assert (merged["held"], merged["cpu_seconds"], merged["rss_bytes"]) == (19, 3.0, 300)
    assert merged["hold_packets"] == (4, 3)
    assert merged["cpu_per_connection"] == pytest.approx(0.1)
    assert merged["rss_per_connection"] == 4
