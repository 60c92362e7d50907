"""Connection speed against a real Mosquitto on loopback, next to baselines, in one run.

Rows (the table at the end gives medians and ratios; see conftest.py):

- "connect round trip, in process": CONNECT → CONNACK → DISCONNECT, once per round.
  ``pco_wire.test_connection`` (every phase, the result built) next to a raw-socket loop
  sending the same bytes and to paho-mqtt's client (connect, loop until CONNACK,
  disconnect). Target: within 1.2x of the raw socket, ahead of paho.
- "test connection, whole process": the command a user runs, from process start to exit:
  ``python -m pco_wire test mqtt://127.0.0.1:PORT`` next to ``python -c pass``, a plain
  script doing the same bytes over a raw socket, paho-mqtt's script, and ``mosquitto_pub
  -n`` (C). Python runs with -S in every row, so that the start-up measured is the
  program's and not that of this development install (an editable install adds a finder
  that imports pathlib); pco_wire and paho are found through PYTHONPATH. Target: within
  1.3x of the raw-socket script.
- "keep-alive, idle minute" (run with ``-m soak`` style selection: ``-k idle``): one
  Client with keep_alive 1 for 60 s through a recording relay: the largest and the
  99th-percentile gap between two packets the client sent, and the CPU time the idle
  process used. Targets: no gap over the keep-alive, under 1 % of a core.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import sysconfig
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import paho.mqtt.client as paho
import pytest

from pco_wire import Settings, test_connection
from tests.broker import Broker, require, start_broker

ROOT = Path(__file__).resolve().parent.parent
SCRIPTS = Path(__file__).resolve().parent / "scripts"
CONNECT = bytes.fromhex("101900044d5154540402003c000d726177626173656c696e653031")


@pytest.fixture(scope="module")
def broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Broker]:
    started = start_broker(tmp_path_factory.mktemp("broker"), "gateway", "bench-pw")
    yield started
    started.stop()


# ------------------------------------------------------------------ in process


def _raw_round_trip(port: int) -> None:
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(CONNECT)
        answer = b""
        while len(answer) < 4:
            data = sock.recv(4 - len(answer))
            if not data:
                raise AssertionError("closed before CONNACK")
            answer += data
        assert answer == b"\x20\x02\x00\x00", answer
        sock.sendall(b"\xe0\x00")


def _paho_round_trip(port: int) -> None:
    connected: list[object] = []
    client = paho.Client(paho.CallbackAPIVersion.VERSION2, client_id="pahobaseline01")  # type: ignore[attr-defined]
    client.on_connect = lambda c, u, f, code, p: connected.append(code)
    client.connect("127.0.0.1", port, keepalive=60)
    deadline = time.monotonic() + 10
    while not connected and time.monotonic() < deadline:
        client.loop(timeout=0.05)
    assert connected and connected[0] == 0, connected
    client.disconnect()


GROUP_IN_PROCESS = "connect round trip, in process"


@pytest.mark.benchmark(group=GROUP_IN_PROCESS)
def test_round_trip_pco_wire(benchmark: Any, broker: Broker) -> None:
    settings = Settings(f"mqtt://127.0.0.1:{broker.ports.tcp}", client_id="pcowirebench01")

    def once() -> None:
        result = test_connection(settings)
        assert result.ok, result.message

    benchmark.pedantic(once, rounds=200, warmup_rounds=5)
    benchmark.extra_info.update(row=GROUP_IN_PROCESS, impl="pco_wire")


@pytest.mark.benchmark(group=GROUP_IN_PROCESS)
def test_round_trip_raw_socket(benchmark: Any, broker: Broker) -> None:
    benchmark.pedantic(_raw_round_trip, args=(broker.ports.tcp,), rounds=200, warmup_rounds=5)
    benchmark.extra_info.update(row=GROUP_IN_PROCESS, impl="raw socket")


@pytest.mark.benchmark(group=GROUP_IN_PROCESS)
def test_round_trip_paho(benchmark: Any, broker: Broker) -> None:
    benchmark.pedantic(_paho_round_trip, args=(broker.ports.tcp,), rounds=200, warmup_rounds=5)
    benchmark.extra_info.update(row=GROUP_IN_PROCESS, impl="paho")


# ------------------------------------------------------------------ whole process

GROUP_PROCESS = "test connection, whole process"
PROCESS_ROWS = [
    "python -c pass",
    "python -m (empty module)",
    "raw socket",
    "pco_wire",
    "pco-wire script",
    "paho",
    "mosquitto_pub",
]


def _commands(port: int) -> dict[str, list[str]]:
    python = [sys.executable, "-S"]
    return {
        "python -c pass": [*python, "-c", "pass"],
        # What -m itself costs (runpy and the import machinery it loads): the raw-socket
        # script does not pay it, `python -m pco_wire` does.
        "python -m (empty module)": [*python, "-m", "empty_module"],
        "raw socket": [*python, str(SCRIPTS / "raw_connect.py"), str(port)],
        "pco_wire": [*python, "-m", "pco_wire", "test", f"mqtt://127.0.0.1:{port}"],
        # The console script pip installs: no runpy.
        "pco-wire script": [*python, _script("pco-wire"), "test", f"mqtt://127.0.0.1:{port}"],
        "paho": [*python, str(SCRIPTS / "paho_connect.py"), str(port)],
        "mosquitto_pub": [
            require("mosquitto_pub"),
            "-h",
            "127.0.0.1",
            "-p",
            str(port),
            "-t",
            "bench",
            "-n",
        ],
    }


def _script(name: str) -> str:
    path = Path(sysconfig.get_paths()["scripts"]) / name
    if not path.exists():
        pytest.fail(f"{path} is missing: run ./setup.sh (pip installs the console script)")
    return str(path)


@pytest.mark.benchmark(group=GROUP_PROCESS)
@pytest.mark.parametrize("name", PROCESS_ROWS)
def test_whole_process(benchmark: Any, broker: Broker, name: str) -> None:
    command = _commands(broker.ports.tcp)[name]
    # -S leaves out site-packages: pco_wire comes from the repository (built in place),
    # paho from the virtual environment's site-packages, named explicitly.
    path = os.pathsep.join([str(ROOT), str(SCRIPTS), sysconfig.get_paths()["purelib"]])
    env = dict(os.environ, PYTHONPATH=path)

    def once() -> None:
        done = subprocess.run(command, env=env, capture_output=True, timeout=30)
        assert done.returncode == 0, (name, done.stdout, done.stderr)

    benchmark.pedantic(once, rounds=40, warmup_rounds=3)
    benchmark.extra_info.update(row=GROUP_PROCESS, impl=name)


# ------------------------------------------------------------------ keep-alive, idle

GROUP_IDLE = "keep-alive 1 s, idle minute"
IDLE_SECONDS = float(os.environ.get("PCO_WIRE_IDLE_SECONDS", "60"))


def test_keep_alive_idle_minute(broker: Broker) -> None:
    """``python -m pco_wire monitor`` with keep-alive 1 s through a recording relay for a
    minute: PINGREQ spacing on the wire, and the CPU time the monitor process used, start-up
    included (the relay runs here, in the benchmark's process, and is not counted). A
    measurement, not a timed test: it fails only on a missed target and prints its figures.
    """
    import resource
    from itertools import pairwise

    from tests.peers import Peers, relay

    with Peers.running() as peers:
        peer = peers.start(relay(broker.ports.tcp), lifetime=IDLE_SECONDS + 30)
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        command = [
            sys.executable,
            "-m",
            "pco_wire",
            "monitor",
            peer.uri(),
            "--keep-alive",
            "1",
            "--duration",
            str(IDLE_SECONDS),
        ]
        done = subprocess.run(
            command, cwd=ROOT, capture_output=True, text=True, timeout=IDLE_SECONDS + 30
        )
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        assert done.returncode == 0, done.stderr
        peer.finish()
        times = [at for at, packet in peer.recording.packets if packet[0] >> 4 != 14]
    gaps = sorted(b - a for a, b in pairwise(times))
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    share = cpu / IDLE_SECONDS
    p99 = gaps[max(0, int(len(gaps) * 0.99) - 1)]
    print(
        f"\n{GROUP_IDLE}: {len(times) - 1} PINGREQ in {IDLE_SECONDS:g} s; gap max "
        f"{max(gaps):.3f} s, p99 {p99:.3f} s, min {min(gaps):.3f} s; CPU {cpu * 1000:.0f} ms "
        f"with start-up = {share * 100:.3f} % of a core (targets: no gap over 1 s, under 1 %)"
    )
    assert max(gaps) <= 1.0, gaps[-5:]
    assert share < 0.01, share
