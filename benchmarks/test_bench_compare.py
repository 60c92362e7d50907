"""The bench comparison (benchmarks/scripts/bench_compare.py) as a smoke run: 200
connections for bench and the raw loop on each event loop, 50 paho clients, held 1 s. It
shows that the script runs every side against a real Mosquitto and prints its table and
verdicts; the figures of so small a run say little (the full run is in the README, "bench",
"Measured"). Mosquitto missing is a failure, not a skip.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

SCRIPT = Path(__file__).resolve().parent / "scripts" / "bench_compare.py"
ROWS = (
    ("raw loop", "uvloop"),
    ("bench", "uvloop"),
    ("raw loop", "asyncio"),
    ("bench", "asyncio"),
    ("paho loop_start", "threads"),
)


def test_bench_compare_quick() -> None:
    done = subprocess.run(
        [sys.executable, str(SCRIPT), "--quick"], capture_output=True, text=True, timeout=300
    )
    print(done.stdout)
    assert done.returncode == 0, done.stdout + done.stderr
    rows = [line for line in done.stdout.splitlines() if line.startswith("| ")][1:]
    cells = [[cell.strip() for cell in row.strip("|").split("|")] for row in rows]
    assert [tuple(row[:2]) for row in cells] == list(ROWS), done.stdout
    # Every side connected and held all it opened, and measured its CPU and memory.
    expected = ["200/200", "200/200", "200/200", "200/200", "50/50"]
    assert [row[2] for row in cells] == expected, done.stdout
    assert [row[3] for row in cells] == [e.split("/")[0] for e in expected], done.stdout
    for row in cells:
        assert "n/a" not in row[4:], done.stdout
    # bench's cells carry their ratio to the raw loop on the same event loop.
    assert all("x)" in cell for row in (cells[1], cells[3]) for cell in row[4:]), done.stdout
    for loop in ("uvloop", "asyncio"):
        assert f"target on {loop}: bench CPU per connection <= 1.5x" in done.stdout
