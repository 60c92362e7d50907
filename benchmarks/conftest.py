"""Prints the codec benchmarks as one table of ns per packet with ratios and targets.

Each benchmark records ``impl`` (which implementation ran) and ``packets`` (how many
packets one round handles) in ``extra_info``; the table divides the median by it.
"""

from __future__ import annotations

from typing import Any

import pytest

from tests import netguard
from tests.netguard import network_guard  # noqa: F401 - fails a benchmark that left loopback

# Nothing a benchmark or a process it starts does may leave loopback (tests/netguard).
netguard.activate()

IMPLS = ("cython", "python", "mqtt5", "paho")


#: Connection rows: the baseline each is divided by, and the target for pco_wire.
CONNECTION_TARGETS = {
    "connect round trip, in process": ("raw socket", 1.2),
    "test connection, whole process": ("raw socket", 1.3),
}


def _connection_rows(config: pytest.Config) -> dict[str, dict[str, float]]:
    session = getattr(config, "_benchmarksession", None)
    rows: dict[str, dict[str, float]] = {}
    for bench in getattr(session, "benchmarks", None) or ():
        info: dict[str, Any] = bench.extra_info
        if "row" in info and bench.stats is not None:
            rows.setdefault(info["row"], {})[info["impl"]] = bench.stats.median
    return rows


def _write_connection_table(write: Any, config: pytest.Config) -> None:
    rows = _connection_rows(config)
    if not rows:
        return
    write("")
    write("connection benchmarks: median per round, ratios from this one run")
    for row, by_impl in rows.items():
        baseline, target = CONNECTION_TARGETS.get(row, ("raw socket", 1.0))
        write(f"{row}:")
        base = by_impl.get(baseline)
        for impl, seconds in by_impl.items():
            ratio = f"{seconds / base:6.2f}x {baseline}" if base else ""
            write(f"  {impl:26s}{seconds * 1e6:10.0f} us  {ratio}")
        if base and "pco_wire" in by_impl:
            ours = by_impl["pco_wire"] / base
            verdict = "met" if ours <= target else "MISSED"
            line = f"  target pco_wire <= {target:g}x {baseline}: {verdict} ({ours:.2f}x)"
            if "paho" in by_impl:
                ahead = by_impl["paho"] / by_impl["pco_wire"]
                line += f"; ahead of paho: {'met' if ahead > 1 else 'MISSED'} ({ahead:.2f}x)"
            write(line)


def _rows(config: pytest.Config) -> dict[str, dict[str, float]]:
    session = getattr(config, "_benchmarksession", None)
    rows: dict[str, dict[str, float]] = {}
    for bench in getattr(session, "benchmarks", None) or ():
        info: dict[str, Any] = bench.extra_info
        if "packets" not in info or bench.stats is None:
            continue
        ns = bench.stats.median / info["packets"] * 1e9
        rows.setdefault(str(bench.group), {})[info["impl"]] = ns
    return rows


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    netguard.report_leftovers(session)


def pytest_terminal_summary(terminalreporter: Any, config: pytest.Config) -> None:
    write = terminalreporter.write_line
    _write_connection_table(write, config)
    rows = _rows(config)
    if not rows:
        return
    write("")
    write("codec benchmarks: median ns per packet, ratios from this one run")
    header = f"{'row':44s}" + "".join(f"{name:>10s}" for name in IMPLS)
    write(header + f"{'mqtt5/cy':>10s}{'paho/py':>9s}  targets")
    for group, by_impl in rows.items():
        cells = "".join(
            f"{by_impl[name]:10.1f}" if name in by_impl else f"{'n/a':>10s}" for name in IMPLS
        )
        verdicts = []
        fast = slow = "n/a"
        if "cython" in by_impl and "mqtt5" in by_impl:
            ratio = by_impl["mqtt5"] / by_impl["cython"]
            fast = f"{ratio:.2f}x"
            need = 5.0 if group.startswith("stream connack") else 1.0
            verdicts.append(f"cy>={need:g}x mqtt5 {'met' if ratio >= need else 'MISSED'}")
        if "python" in by_impl and "paho" in by_impl:
            ratio = by_impl["paho"] / by_impl["python"]
            slow = f"{ratio:.2f}x"
            verdicts.append(f"py faster than paho {'met' if ratio > 1 else 'MISSED'}")
        write(f"{group:44s}{cells}{fast:>10s}{slow:>9s}  {'; '.join(verdicts)}")
