"""Soak: one Client, keep-alive 1 s, for ten minutes against a Mosquitto that is restarted
five times along the way. A measurement with thresholds, run by hand (not in CI):

    .venv/bin/python -m pytest benchmarks/test_soak.py -p no:cacheprovider -s

``PCO_WIRE_SOAK_SECONDS`` shortens it, to 80 at the least (the thresholds stay; the
memory one needs more than a minute). Checked and printed:
- every restart reconnected within the backoff minimum plus 2 s of the loss;
- no gap between two PINGREQs of one connection over the keep-alive;
- resident memory growth under 1 MiB after the first minute;
- file descriptors and threads back to their starting counts;
- CPU under 1 % of a core over the whole run (idle but for the pings and restarts).
"""

from __future__ import annotations

import getpass
import os
import resource
import signal
import socket
import subprocess
import threading
import time
from itertools import pairwise
from pathlib import Path
from typing import Any

from pco_wire import Client, Closed, Connected, PingSent, Settings
from pco_wire.reconnect import TAKEOVER_WINDOW
from tests.broker import free_port, require

SOAK_SECONDS = float(os.environ.get("PCO_WIRE_SOAK_SECONDS", "600"))
RESTARTS = 5
MIN_DELAY = 1.0


class _Mosquitto:
    """One TCP listener on a fixed port, so that a restart comes back where it was."""

    def __init__(self, directory: Path) -> None:
        self.port = free_port()
        self.config = directory / "soak.conf"
        self.config.write_text(
            f"user {getpass.getuser()}\npersistence false\nlog_dest none\n"
            f"listener {self.port} 127.0.0.1\nallow_anonymous true\n"
        )
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> float:
        """Start and wait until it accepts; returns when it did (monotonic)."""
        self.process = subprocess.Popen([require("mosquitto"), "-c", str(self.config)])
        deadline = time.monotonic() + 10
        while True:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                return time.monotonic()
            except OSError:
                if time.monotonic() > deadline or self.process.poll() is not None:
                    raise AssertionError("mosquitto did not start") from None
                time.sleep(0.02)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(5)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)


def _rss_kib() -> int:
    with open("/proc/self/statm") as handle:
        return int(handle.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") // 1024


def _fds() -> int:
    return len(os.listdir("/proc/self/fd"))


def test_soak(tmp_path: Path) -> None:
    # Restarts closer together than the takeover window would look like another client
    # taking the ID over (three short-lived connections in a row), and be slowed down.
    spacing = SOAK_SECONDS / (RESTARTS + 1)
    assert spacing > TAKEOVER_WINDOW + 2, f"PCO_WIRE_SOAK_SECONDS must be over {6 * 12}"
    broker = _Mosquitto(tmp_path)
    broker.start()
    events: list[tuple[float, Any]] = []
    fds, threads = _fds(), threading.active_count()
    settings = Settings(
        f"mqtt://127.0.0.1:{broker.port}",
        client_id="pcowiresoak01",
        keep_alive=1,
        response_timeout=2.0,
        reconnect_min_delay=MIN_DELAY,
        reconnect_max_delay=30.0,
    )
    usage = resource.getrusage(resource.RUSAGE_SELF)
    start = time.monotonic()
    rss_at_minute: int | None = None
    restart_times = [start + SOAK_SECONDS * (i + 1) / (RESTARTS + 1) for i in range(RESTARTS)]
    client = Client(settings, on_event=lambda event: events.append((time.monotonic(), event)))
    try:
        client.connect()
        for at in restart_times:
            while time.monotonic() < at:
                time.sleep(min(1.0, at - time.monotonic()))
                if rss_at_minute is None and time.monotonic() - start >= 60:
                    rss_at_minute = _rss_kib()
            broker.stop()
            broker.start()
        end = start + SOAK_SECONDS
        while time.monotonic() < end:
            time.sleep(min(1.0, end - time.monotonic()))
            if rss_at_minute is None and time.monotonic() - start >= 60:
                rss_at_minute = _rss_kib()
        rss_end = _rss_kib()
    finally:
        client.disconnect()
        broker.stop()
    elapsed = time.monotonic() - start
    after = resource.getrusage(resource.RUSAGE_SELF)
    cpu = (after.ru_utime - usage.ru_utime) + (after.ru_stime - usage.ru_stime)

    # Reconnection: from each loss to the next Connected.
    losses = [t for t, e in events if isinstance(e, Closed) and e.error is not None]
    connects = [t for t, e in events if isinstance(e, Connected)]
    reconnect_times = [
        min((c for c in connects if c > lost), default=float("inf")) - lost for lost in losses
    ]
    # PINGREQ gaps within each connection (a reconnect starts a new keep-alive interval;
    # the CONNACK's arrival stands in for the CONNECT, a fraction of a millisecond before).
    connections: list[list[float]] = []
    for t, e in events:
        if isinstance(e, Connected):
            connections.append([t])
        elif isinstance(e, PingSent) and connections:
            connections[-1].append(e.at)
    gaps = [b - a for sent in connections for a, b in pairwise(sent)]
    time.sleep(0.5)  # a name-resolution worker, had there been one, ends by itself
    growth = None if rss_at_minute is None else rss_end - rss_at_minute
    print(
        f"\nsoak: {elapsed:.0f} s, {len(losses)} losses, reconnected in "
        f"{', '.join(f'{r:.2f}' for r in reconnect_times)} s (limit {MIN_DELAY + 2:g}); "
        f"{len(gaps)} PINGREQ, gap max {max(gaps):.3f} s; RSS growth after the first "
        f"minute {growth} KiB; fds {fds}->{_fds()}, threads {threads}->"
        f"{threading.active_count()}; CPU {cpu:.2f} s = {cpu / elapsed * 100:.3f} % of a core"
    )
    assert len(losses) == RESTARTS, events
    assert all(r <= MIN_DELAY + 2 for r in reconnect_times), reconnect_times
    assert max(gaps) <= settings.keep_alive, max(gaps)
    if growth is not None:
        assert growth < 1024, growth
    assert (_fds(), threading.active_count()) == (fds, threads)
    assert cpu / elapsed < 0.01
