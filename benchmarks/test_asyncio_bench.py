"""The asyncio benchmark (benchmarks/scripts/asyncio_bench.py) as a smoke run: 50 held
connections per side, a 1 s idle window, 20 round trips. It shows that the script runs
against a real Mosquitto and prints its table; the figures of so small a run say little
(the full run is ``python benchmarks/scripts/asyncio_bench.py``, see the README). Mosquitto
missing is a failure, not a skip.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

SCRIPT = Path(__file__).resolve().parent / "scripts" / "asyncio_bench.py"
SIDES = ("raw asyncio", "pco_wire.asyncio", "pco_wire blocking", "paho loop_start")


def test_asyncio_bench_quick() -> None:
    done = subprocess.run(
        [sys.executable, str(SCRIPT), "--quick"], capture_output=True, text=True, timeout=240
    )
    print(done.stdout)
    assert done.returncode == 0, done.stdout + done.stderr
    lines = done.stdout.splitlines()
    assert "| measure | " + " | ".join(SIDES) + " |" in lines, done.stdout
    rows = [line for line in lines if line.startswith("| 50 held: ")]
    assert len(rows) == 4, done.stdout
    held = next(line for line in rows if "held after" in line)
    # Every side that ran still held all 50 after the idle window.
    cells = [cell.strip() for cell in held.strip("|").split("|")[1:]]
    assert all(cell in ("50/50", "n/a") for cell in cells), held
    assert cells[0] == "50/50" and cells[2] == "50/50" and cells[3] == "50/50", held
    available = "pco_wire.asyncio not available" not in done.stdout
    assert (cells[1] == "50/50") is available, done.stdout
    if available:
        assert "target at 50: pco_wire.asyncio connect rate" in done.stdout, done.stdout
