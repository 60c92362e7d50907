"""Prints the codec benchmarks as one table of ns per packet with ratios and targets.

Each benchmark records ``impl`` (which implementation ran) and ``packets`` (how many
packets one round handles) in ``extra_info``; the table divides the median by it.
"""

from __future__ import annotations

from typing import Any

import pytest

IMPLS = ("cython", "python", "mqtt5", "paho")


def _rows(config: pytest.Config) -> dict[str, dict[str, float]]:
    session = getattr(config, "_benchmarksession", None)
    rows: dict[str, dict[str, float]] = {}
    for bench in getattr(session, "benchmarks", None) or ():
        info: dict[str, Any] = bench.extra_info
        if "impl" not in info or bench.stats is None:
            continue
        ns = bench.stats.median / info["packets"] * 1e9
        rows.setdefault(str(bench.group), {})[info["impl"]] = ns
    return rows


def pytest_terminal_summary(terminalreporter: Any, config: pytest.Config) -> None:
    rows = _rows(config)
    if not rows:
        return
    write = terminalreporter.write_line
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
