"""``bench --report`` for real: a bench run against the session's Mosquitto writes the
page, and headless Chromium (Debian's ``chromium``, installed by setup.sh; missing, the
test fails as for Mosquitto) opens it: the DOM it built has both charts with their data,
and a screenshot is a PNG of the window's size. Chromium runs in a session of its own
with a bounded time (killed by its process group after), a profile in tmp_path, a dead
proxy on loopback and no name resolution: the page itself names no other place."""

from __future__ import annotations

import os
import select
import signal
import struct
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.broker import STOP_TIMEOUT, Broker, require
from tests.peers import ROOT, run_cli
from tests.test_report import Elements

CHROMIUM_TIMEOUT = 60.0
RUN_TIMEOUT = 60.0
WINDOW = (1200, 1600)

_STARTED: list[subprocess.Popen[bytes]] = []


@pytest.fixture(autouse=True)
def _no_leftovers() -> Iterator[None]:
    yield
    while _STARTED:
        proc = _STARTED.pop()
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)  # its own session: it and its children
            proc.wait(STOP_TIMEOUT)


def chromium(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[bytes]:
    """Headless Chromium with ``args``, within CHROMIUM_TIMEOUT seconds."""
    profile = tmp_path / "chromium-profile"
    argv = [
        require("chromium"),
        "--headless",
        "--no-sandbox",  # as root, there is no sandbox to have
        "--disable-gpu",
        f"--user-data-dir={profile}",
        "--no-first-run",
        "--no-default-browser-check",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--disable-extensions",
        "--disable-default-apps",
        "--no-pings",
        # Whatever Chromium itself would fetch goes to a closed port on loopback.
        "--proxy-server=socks5://127.0.0.1:9",
        "--host-resolver-rules=MAP * ~NOTFOUND",
        *args,
    ]
    proc = subprocess.Popen(
        argv,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        start_new_session=True,
        # Debian's launcher is a shell script using grep, tr and uname: CI runs the suite
        # with the venv's directory alone on PATH.
        env={
            **os.environ,
            "HOME": str(tmp_path),
            "PATH": f"{os.environ.get('PATH', '')}:/usr/bin:/bin",
        },
    )
    _STARTED.append(proc)
    try:
        out, err = proc.communicate(timeout=CHROMIUM_TIMEOUT)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(STOP_TIMEOUT)
        raise AssertionError(f"chromium did not end within {CHROMIUM_TIMEOUT} s") from None
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(STOP_TIMEOUT)
    # Its helpers (zygote, GPU, renderers) are in its session: none may outlive it.
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    return subprocess.CompletedProcess(argv, proc.returncode, out, err)


def _png_size(data: bytes) -> tuple[int, int]:
    assert data[:8] == b"\x89PNG\r\n\x1a\n", data[:16]
    assert data[12:16] == b"IHDR"
    width, height = struct.unpack(">II", data[16:24])
    return width, height


def test_the_report_of_a_real_run_opens_in_chromium(broker: Broker, tmp_path: Path) -> None:
    report = tmp_path / "bench report.html"  # a space: the URL is made right
    run = run_cli(
        f"mqtt://127.0.0.1:{broker.ports.tcp}",
        "-n",
        "50",
        "--duration",
        "1",
        "--report",
        str(report),
        "--json",
        command="bench",
        timeout=RUN_TIMEOUT,
    )
    assert run.code == 0, run
    document = run.json()
    assert document["connected"] == 50
    page = report.read_text(encoding="utf-8")
    for needle in ("http://", "https://", "<script"):
        assert needle not in page, needle

    dumped = chromium(tmp_path, "--dump-dom", report.as_uri())
    assert dumped.returncode == 0, dumped.stderr.decode(errors="replace")[-2000:]
    dom = Elements(dumped.stdout.decode())
    for chart in ("latency-histogram", "latency-cdf", "timeline-chart"):
        assert len(dom.find("svg", id=chart)) == 1, chart
    bars = dom.find("rect", **{"class": "bar"})
    assert bars and sum(int(b["data-count"] or 0) for b in bars) == 50
    cdf = {p["data-series"] for p in dom.find("polyline", **{"class": "cdf"})}
    assert {"tcp_connect", "connack", "total"} <= cdf
    samples = len(document["timeline"]["points"])
    assert samples >= 3  # the start, the end of connecting, the end; 0.5 s apart between
    lines = dom.find("polyline", **{"class": "series"})
    assert len(lines) == 5
    for line in lines:
        assert len((line["points"] or "").split()) == samples
    assert "every connection connected" in " ".join(dom.text)

    shot = tmp_path / "report.png"
    taken = chromium(
        tmp_path, f"--screenshot={shot}", f"--window-size={WINDOW[0]},{WINDOW[1]}", report.as_uri()
    )
    assert taken.returncode == 0, taken.stderr.decode(errors="replace")[-2000:]
    data = shot.read_bytes()
    assert _png_size(data) == WINDOW
    assert len(data) > 20_000  # charts and tables, not a blank page (a blank one is ~5 KB)


def test_a_stopped_run_writes_its_report_with_what_was_done(broker: Broker, tmp_path: Path) -> None:
    report = tmp_path / "stopped.html"
    uri = f"mqtt://127.0.0.1:{broker.ports.tcp}"
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "pco_wire",
            "bench",
            uri,
            "-n",
            "20",
            "-d",
            "30",
            "--report",
            str(report),
        ],
        cwd=ROOT,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        start_new_session=True,
    )
    _STARTED.append(proc)
    assert proc.stderr is not None
    seen = b""
    deadline = time.monotonic() + RUN_TIMEOUT
    while b"holding 20" not in seen:
        ready, _, _ = select.select([proc.stderr], [], [], max(deadline - time.monotonic(), 0))
        chunk = os.read(proc.stderr.fileno(), 65536) if ready else b""
        assert chunk, f"not holding within {RUN_TIMEOUT} s: {seen.decode()}"
        seen += chunk
    proc.send_signal(signal.SIGINT)
    out, _ = proc.communicate(timeout=RUN_TIMEOUT)
    assert proc.returncode == 130, out
    elements = Elements(report.read_text(encoding="utf-8"))
    text = " ".join(elements.text)
    assert "STOPPED" in text and "stopped by SIGINT" in text
    lines = elements.find("polyline", **{"class": "series"})
    assert len(lines) == 5 and all(len((p["points"] or "").split()) >= 3 for p in lines)
