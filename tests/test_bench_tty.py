"""``bench`` on a terminal: its standard error a pseudo-terminal, as when a person runs it.
The progress is one line rewritten in place (carriage return, erase to the end of the
line), with one process and with workers alike, cleared before the summary; standard output
(a pipe here) gets the summary only."""

from __future__ import annotations

import os
import pty
import select
import subprocess
import sys
import time

import pytest

from tests.broker import Broker
from tests.peers import ROOT

RUN_TIMEOUT = 40.0
ERASE = "\x1b[K"


def _on_a_terminal(*args: str) -> tuple[int, str, str]:
    """Run ``bench ARGS`` with standard error on a new pseudo-terminal: (exit status,
    standard output, what the terminal received)."""
    master, slave = pty.openpty()
    proc = subprocess.Popen(
        [sys.executable, "-m", "pco_wire", "bench", *args],
        cwd=ROOT,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=slave,
        text=True,
        start_new_session=True,
    )
    os.close(slave)
    received = b""
    deadline = time.monotonic() + RUN_TIMEOUT
    try:
        while True:
            remaining = deadline - time.monotonic()
            assert remaining > 0, f"still running after {RUN_TIMEOUT} s: {received!r}"
            ready, _, _ = select.select([master], [], [], remaining)
            if not ready:
                continue
            try:
                chunk = os.read(master, 65536)
            except OSError:  # EIO: every writer of the terminal has closed it
                break
            if not chunk:
                break
            received += chunk
        assert proc.stdout is not None
        out = proc.stdout.read()
        return proc.wait(RUN_TIMEOUT), out, received.decode(errors="replace")
    finally:
        os.close(master)
        if proc.poll() is None:
            proc.kill()
            proc.wait()


@pytest.mark.parametrize("workers", ["1", "2"])
def test_progress_is_one_line_rewritten_in_place(broker: Broker, workers: str) -> None:
    uri = f"mqtt://127.0.0.1:{broker.ports.tcp}"
    # 3 s held: several progress turns, with one process (every 0.5 s) or workers (1 s).
    args = (uri, "-n", "20", "--rate", "100", "--duration", "3", "--workers", workers)
    code, out, terminal = _on_a_terminal(*args)

    assert code == 0, (out, terminal)
    assert "progress: " not in terminal, terminal  # the plain lines are for pipes and files
    rewrites = [part for part in terminal.split("\r") if ERASE in part and "connected" in part]
    assert len(rewrites) >= 2, terminal
    assert all("\n" not in part.split(ERASE)[0] for part in rewrites), terminal
    # Cleared at the end: the terminal's last bytes erase the line, nothing after.
    assert terminal.endswith("\r" + ERASE), repr(terminal[-200:])
    assert "Traceback" not in terminal
    assert out.startswith("pco_wire bench "), out
    assert "  attempts 20: connected 20, failed 0\n" in out, out
    assert ERASE not in out and "\r" not in out, out
