"""``bench`` run as a person runs it: ``python -m pco_wire bench URI ...`` in a process
of its own, against a real Mosquitto (one this module starts, with its soft descriptor
limit raised and its log read to see who sent DISCONNECT), a silent fake server, a broker
killed while held, a low descriptor limit, and Ctrl-C or SIGTERM while holding."""

from __future__ import annotations

import json
import os
import re
import resource
import select
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from pco_wire.diagnose import CATEGORIES
from tests.broker import (
    STOP_TIMEOUT,
    Broker,
    config_head,
    free_ports,
    require,
    run_mosquitto,
    stop_process,
)
from tests.peers import ROOT, CliRun, Peers, run_cli, silent
from tests.support import (
    BENCH_CATEGORY_KEYS,
    BENCH_JSON_KEYS,
    BENCH_PLAN_KEYS,
    BENCH_STATS_KEYS,
    PHASES,
)

USERNAME = "benchuser"
PASSWORD = "bench-pw-0451"
RUN_TIMEOUT = 40.0


@dataclass
class Mosquitto:
    """A Mosquitto of this module: ``port`` anonymous, ``password_port`` with USERNAME
    and PASSWORD; its log in ``log``."""

    process: subprocess.Popen[bytes]
    port: int
    password_port: int
    log: Path

    def uri(self, port: int | None = None) -> str:
        return f"mqtt://127.0.0.1:{port or self.port}"

    def stop(self) -> None:
        stop_process(self.process)

    def logged(self) -> str:
        return self.log.read_text(errors="replace")


def _raise_soft_limit() -> None:
    # Mosquitto does not raise its own: 2,000 clients need more than a soft 1,024.
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def start_mosquitto(directory: Path) -> Mosquitto:
    directory.mkdir(parents=True, exist_ok=True)
    passwords = directory / "passwords"
    subprocess.run(
        [require("mosquitto_passwd"), "-b", "-c", str(passwords), USERNAME, PASSWORD],
        check=True,
        capture_output=True,
        timeout=STOP_TIMEOUT,
    )
    port, password_port = free_ports(2)
    config = (
        config_head() + f"listener {port} 127.0.0.1\nallow_anonymous true\n"
        f"listener {password_port} 127.0.0.1\nallow_anonymous false\n"
        f"password_file {passwords}\n"
    )
    ports = {"anonymous": port, "password": password_port}
    process, log = run_mosquitto(directory, config, ports, preexec_fn=_raise_soft_limit)
    return Mosquitto(process, port, password_port, log)


@pytest.fixture(scope="module")
def mosquitto(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Mosquitto]:
    broker = start_mosquitto(tmp_path_factory.mktemp("bench-mosquitto"))
    yield broker
    broker.stop()


@pytest.fixture
def peers() -> Iterator[Peers]:
    with Peers.running() as running:
        yield running


def bench(*args: str, timeout: float = RUN_TIMEOUT) -> CliRun:
    return run_cli(*args, command="bench", timeout=timeout)


#: The runs a test started, stopped after it if still running (a failed test).
_STARTED: list[subprocess.Popen[str]] = []


@pytest.fixture(autouse=True)
def _no_leftovers() -> Iterator[None]:
    yield
    while _STARTED:
        proc = _STARTED.pop()
        if proc.poll() is None:
            # Its own session: the group is it and its workers, nothing else.
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(STOP_TIMEOUT)


def _start(*args: str, preexec_fn: Callable[[], None] | None = None) -> subprocess.Popen[str]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "pco_wire", "bench", *args],
        cwd=ROOT,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
        preexec_fn=preexec_fn,
    )
    _STARTED.append(proc)
    return proc


def _wait_for_line(proc: subprocess.Popen[str], pattern: str, timeout: float) -> str:
    """Read ``proc``'s standard error until a line matches ``pattern``; what was read."""
    assert proc.stderr is not None
    fd = proc.stderr.fileno()
    seen = b""
    deadline = time.monotonic() + timeout
    while not re.search(pattern.encode(), seen):
        remaining = deadline - time.monotonic()
        ready, _, _ = select.select([fd], [], [], max(remaining, 0))
        chunk = os.read(fd, 65536) if ready else b""
        if not chunk:
            proc.kill()
            raise AssertionError(f"no {pattern!r} within {timeout} s:\n{seen.decode()}")
        seen += chunk
    return seen.decode()


def _check_document(document: dict[str, Any]) -> None:
    """What every ``--json`` document must hold, whatever the run."""
    assert set(document) == BENCH_JSON_KEYS
    assert set(document["plan"]) == BENCH_PLAN_KEYS
    plan = document["plan"]
    assert document["attempts"] + document["not_started"] == plan["connections"]
    assert document["attempts"] == (
        document["connected"] + document["failed"] + document["cancelled"]
    )
    assert sum(row["count"] for row in document["failures"]) == document["failed"]
    assert sum(row["count"] for row in document["losses"]) == document["lost"]
    assert document["held"] + document["lost"] <= document["connected"]
    for row in document["failures"] + document["losses"]:
        assert set(row) == BENCH_CATEGORY_KEYS
        assert CATEGORIES[row["category"]] == row["exit_code"]
    tls = document["tls_handshake_seconds"]
    stats = [*document["connect_seconds"].values(), document["pingresp_seconds"], *tls.values()]
    assert document["connect_seconds"]["total"]["count"] == document["connected"]
    # The TLS handshakes split in two, and the sessions offered only with --tls-resume.
    handshakes = document["connect_seconds"].get("tls_handshake", {"count": 0})["count"]
    assert tls["full"]["count"] + tls["resumed"]["count"] == handshakes
    offered = document["tls_sessions_offered"]
    assert tls["resumed"]["count"] <= offered <= handshakes
    if not plan["tls_resume"]:
        assert offered == tls["resumed"]["count"] == 0
    for each in stats:
        assert set(each) == BENCH_STATS_KEYS
        if each["count"]:
            values = [each[key] for key in ("min", "p50", "p90", "p99", "p99_9", "max")]
            assert values == sorted(values), each
            assert values[0] > 0
    received = document["packets"]["received"]
    assert document["pingresp_seconds"]["count"] == received.get("PINGRESP", 0)
    assert document["ok"] is (document["exit_code"] == 0)


# ---------------------------------------------------------------------------- held load


def test_2000_connections_held_with_keep_alive_pings(mosquitto: Mosquitto) -> None:
    run = bench(
        mosquitto.uri(),
        *("--connections", "2000", "--rate", "500", "--duration", "5", "--keep-alive", "2"),
        "--json",
    )
    assert run.code == 0, run
    document = run.json()
    _check_document(document)
    assert document["connected"] == 2000
    assert (document["failed"], document["lost"], document["held"]) == (0, 0, 2000)
    assert document["loop"] == "uvloop"  # installed with the test and bench extras: the default
    # Paced, not a burst: 2,000 at 500/s take four seconds to start.
    assert document["rate"] == pytest.approx(500, rel=0.2)
    assert document["seconds"]["connecting"] >= 3.9
    for phase in ("tcp_connect", "connack", "total"):
        assert document["connect_seconds"][phase]["count"] == 2000
    sent, received = document["packets"]["sent"], document["packets"]["received"]
    assert sent["CONNECT"] == received["CONNACK"] == 2000
    assert sent["DISCONNECT"] == 2000
    # Keep-alive 2: a PINGREQ every 1.8 s of quiet, at least twice in five seconds held.
    assert sent["PINGREQ"] >= 2 * 2000
    # At most one a connection still unanswered when DISCONNECT went out.
    assert sent["PINGREQ"] - 2000 <= received["PINGRESP"] <= sent["PINGREQ"]
    assert document["packets"]["sent_per_second_holding"] > 2000 / 2
    assert document["cpu_seconds_per_connection"] > 0
    assert document["rss_bytes_per_connection"] > 0


def test_bench_with_only_the_uri_text_and_json(mosquitto: Mosquitto) -> None:
    # Both at once: the defaults (100 connections, 500/s, held 5 s) take about 5 s.
    text = _start(mosquitto.uri(), "--client-id-prefix", "text")
    as_json = _start(mosquitto.uri(), "--json")
    out, err = text.communicate(timeout=RUN_TIMEOUT)
    document_text, json_err = as_json.communicate(timeout=RUN_TIMEOUT)
    assert text.returncode == 0, out + err
    assert as_json.returncode == 0, document_text + json_err
    document = json.loads(document_text)
    _check_document(document)
    assert document["plan"]["connections"] == document["connected"] == 100
    assert document["plan"]["duration"] == 5.0
    assert "progress: " in err and "Traceback" not in err + json_err
    lines = out.splitlines()
    assert lines[0].startswith(f"pco_wire bench {mosquitto.uri()}: 100 connections, 500/s")
    assert "  attempts 100: connected 100, failed 0" in lines
    assert "  held to the end 100, lost while holding 0" in lines
    assert lines[-1] == "OK: every connection connected and was held to the end"
    total = next(line for line in lines if line.startswith("    total "))
    assert len(total.split()) == 1 + 2 * 6  # six percentiles, each a number and a unit


@pytest.mark.parametrize("scheme", list(PHASES))
def test_each_scheme_reports_its_phases(broker: Broker, scheme: str) -> None:
    ports = broker.ports
    port = {"mqtt": ports.tcp, "mqtts": ports.tls, "ws": ports.ws, "wss": ports.wss}[scheme]
    tls = ("--cafile", str(broker.pki.ca_cert)) if scheme in ("mqtts", "wss") else ()
    run = bench(f"{scheme}://127.0.0.1:{port}", *tls, "-n", "5", "-d", "0", "--json")
    assert run.code == 0, run
    document = run.json()
    _check_document(document)
    assert document["held"] == 5
    # The phases of `test` up to CONNACK, by their keys, and the total.
    expected = {name.lower().replace(" ", "_") for name in PHASES[scheme][:-1]}
    assert set(document["connect_seconds"]) == expected | {"total"}
    for stats in document["connect_seconds"].values():
        assert stats["count"] == 5


def test_a_settings_file_is_read_and_left_as_it_was(mosquitto: Mosquitto, tmp_path: Path) -> None:
    path = tmp_path / "bench.toml"
    # No client ID: test and monitor would generate one and keep it in the file.
    path.write_text(f'server_uri = "{mosquitto.uri()}"\nkeep_alive = 7\n')
    before = path.read_text()
    run = bench("--config", str(path), "-n", "3", "-d", "0", "--json")
    assert run.code == 0, run
    document = run.json()
    assert (document["uri"], document["plan"]["keep_alive"]) == (mosquitto.uri(), 7)
    assert path.read_text() == before


def test_source_addresses_are_taken_in_turn(mosquitto: Mosquitto) -> None:
    prefix = "src"
    run = bench(
        mosquitto.uri(),
        "-n",
        "6",
        "-d",
        "0",
        "--source",
        "127.0.0.2-127.0.0.3",
        "--client-id-prefix",
        prefix,
        "--json",
    )
    assert run.code == 0, run
    assert run.json()["plan"]["source"] == ["127.0.0.2", "127.0.0.3"]
    # On the broker's side: each client from the address of its turn.
    found: dict[str, str] = {}
    deadline = time.monotonic() + 5
    while len(found) < 6 and time.monotonic() < deadline:
        pattern = rf"New client connected from ([0-9.]+):\d+ as ({prefix}\d+) "
        found = {m.group(2): m.group(1) for m in re.finditer(pattern, mosquitto.logged())}
        time.sleep(0.05)
    assert found == {f"{prefix}{i}": f"127.0.0.{2 + i % 2}" for i in range(6)}


def test_several_servers_are_taken_in_turn(mosquitto: Mosquitto) -> None:
    # Two listeners of one broker stand for two brokers (one broker process holds at most
    # its descriptor limit: 50,000 connections need several).
    prefix = "two"
    servers = [mosquitto.uri(), mosquitto.uri(mosquitto.password_port)]
    run = bench(
        *servers, "-u", USERNAME, "-P", PASSWORD, "-n", "6", "-d", "0",
        "--client-id-prefix", prefix, "--json",
    )  # fmt: skip
    assert run.code == 0, run
    document = run.json()
    assert (document["connected"], document["plan"]["servers"]) == (6, servers), document
    assert document["uri"] == servers[0]
    text = bench(*servers, "-u", USERNAME, "-P", PASSWORD, "-n", "2", "-d", "0")
    assert text.stdout.startswith(f"pco_wire bench {servers[0]}, {servers[1]}: 2 connections")
    # On the broker's side: each client on the listener of its turn.
    ports: dict[str, str] = {}
    found: dict[str, str] = {}
    deadline = time.monotonic() + 5
    while len(found) < 6 and time.monotonic() < deadline:
        log = mosquitto.logged()
        ports = dict(re.findall(r"New connection from ([0-9.]+:\d+) on port (\d+)\.", log))
        pattern = rf"New client connected from ([0-9.]+:\d+) as ({prefix}\d+) "
        found = {m.group(2): ports.get(m.group(1), "?") for m in re.finditer(pattern, log)}
        time.sleep(0.05)
    by_turn = [str(mosquitto.port), str(mosquitto.password_port)]
    assert found == {f"{prefix}{i}": by_turn[i % 2] for i in range(6)}, found


def test_a_source_address_not_of_this_machine_is_refused_before_any_traffic() -> None:
    # 192.0.2.0/24 is TEST-NET-1 (RFC 5737): never an address of this machine.
    run = bench("mqtt://127.0.0.1:1", "--source", "192.0.2.7")
    assert run.code == 2, run
    assert "cannot connect from 192.0.2.7" in run.stderr


@pytest.mark.parametrize(
    ("uri", "source", "words"),
    [
        ("mqtt://127.0.0.1:1", "::1", "an IPv6 source address for an IPv4 server"),
        ("mqtt://[::1]:1", "127.0.0.1", "an IPv4 source address for an IPv6 server"),
    ],
)
def test_a_source_address_of_the_other_family_is_refused_before_any_traffic(
    uri: str, source: str, words: str
) -> None:
    run = bench(uri, "--source", source)
    assert run.code == 2, run
    assert f"source: cannot connect from {source} to " in run.stderr and words in run.stderr, run


def test_a_start_number_that_cannot_fit_is_named() -> None:
    run = bench("mqtt://127.0.0.1:1", "-n", "50", "--start-number", "9" * 23)
    assert run.code == 2, run
    assert "start_number: the last of 50 IDs" in run.stderr, run


def test_workers_share_the_connections_and_one_summary_counts_them(
    mosquitto: Mosquitto,
) -> None:
    prefix = "wk"
    run = bench(
        mosquitto.uri(),
        *("-n", "401", "-d", "1", "-k", "1", "--workers", "2", "--client-id-prefix", prefix),
        "--json",
    )
    assert run.code == 0, run
    document = run.json()
    _check_document(document)
    assert document["plan"]["workers"] == 2
    assert (document["connected"], document["held"], document["lost"]) == (401, 401, 0)
    assert document["packets"]["sent"]["CONNECT"] == 401
    assert document["pingresp_seconds"]["count"] > 0  # merged from both
    assert document["rate"] == pytest.approx(500, rel=0.2)  # the two shares make the rate
    # Every ID once, from one worker or the other: the shares do not overlap.
    pattern = rf"New client connected from [0-9.]+:\d+ as ({prefix}\d+) "
    deadline = time.monotonic() + 5
    while True:
        seen = re.findall(pattern, mosquitto.logged())
        if len(seen) >= 401 or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    assert sorted(seen) == sorted(f"{prefix}{i}" for i in range(401))


def test_ping_interval_loads_the_broker_with_pings(mosquitto: Mosquitto) -> None:
    run = bench(
        mosquitto.uri(),
        *("-n", "20", "-d", "2", "--keep-alive", "30", "--ping-interval", "0.25"),
        *("--loop", "asyncio", "--json"),
    )
    assert run.code == 0, run
    document = run.json()
    _check_document(document)
    assert document["loop"] == "asyncio"
    # Every 0.25 s for about two seconds on each of 20: some 160, never the keep-alive's.
    assert document["packets"]["sent"]["PINGREQ"] >= 20 * 6
    assert document["pingresp_seconds"]["count"] >= 20 * 6


def test_without_uvloop_the_standard_loop_runs(mosquitto: Mosquitto, tmp_path: Path) -> None:
    # A uvloop that cannot be imported, ahead of the installed one on the path.
    (tmp_path / "uvloop").mkdir()
    (tmp_path / "uvloop" / "__init__.py").write_text("raise ImportError('not here')\n")
    # Ahead of the network guard's sitecustomize, which stays on the path.
    env = {"PYTHONPATH": os.pathsep.join([str(tmp_path), os.environ.get("PYTHONPATH", "")])}
    run = run_cli(mosquitto.uri(), "-n", "3", "-d", "0", "--json", command="bench", env=env)
    assert run.code == 0, run
    assert run.json()["loop"] == "asyncio"
    run = run_cli(mosquitto.uri(), "--loop", "uvloop", command="bench", env=env)
    assert run.code == 2, run
    assert "uvloop is not installed: pip install 'pco_wire[bench]'" in run.stderr
    assert "Traceback" not in run.stderr


def test_a_ping_interval_not_below_the_keep_alive_is_refused() -> None:
    run = bench("mqtt://127.0.0.1:1", "-k", "5", "--ping-interval", "5")
    assert run.code == 2, run
    assert "below the keep-alive (5 s)" in run.stderr
    # With --json, the same document as a run's, every key there.
    run = bench("mqtt://127.0.0.1:1", "-k", "5", "--ping-interval", "5", "--json")
    assert run.code == 2, run
    document = run.json()
    _check_document(document)
    assert (document["category"], document["attempts"]) == ("invalid-settings", 0)
    assert "below the keep-alive (5 s)" in document["message"]


def test_a_prefix_that_cannot_fit_every_id_is_a_usage_error() -> None:
    run = bench("mqtt://127.0.0.1:1", "-n", "1000", "--client-id-prefix", "x" * 21)
    assert run.code == 2, run
    assert "more than the 23 every server accepts" in run.stderr
    assert "Traceback" not in run.stderr


def test_tcp_connect_looks_no_address_up_again_on_uvloop() -> None:
    # uvloop's sock_connect calls getaddrinfo for every connection, in a pool of four
    # threads: the "TCP connect" phase of a thousand would measure that queue.
    import asyncio

    import uvloop

    from pco_wire.transport.aio import _tcp_connect

    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]

    async def connect() -> None:
        loop = asyncio.get_running_loop()

        async def no_lookup(*args: Any, **kwargs: Any) -> Any:
            raise AssertionError(f"getaddrinfo{args} for an address that is numeric")

        loop.getaddrinfo = no_lookup  # type: ignore[method-assign]
        info = socket.getaddrinfo("127.0.0.1", port, type=socket.SOCK_STREAM)[0]
        sock = await _tcp_connect(info)
        assert sock.getpeername() == ("127.0.0.1", port)
        sock.close()

    loop = uvloop.new_event_loop()
    try:
        loop.run_until_complete(connect())
    finally:
        loop.close()
        listener.close()


# ---------------------------------------------------------------------------- failures


def test_a_refused_password_is_n_failures_of_the_category_test_gives(
    mosquitto: Mosquitto,
) -> None:
    uri = mosquitto.uri(mosquitto.password_port)
    wrong = ("--username", USERNAME, "--password", "not-it")
    said = run_cli(uri, *wrong, "--json")
    category = said.json()["category"]
    assert category in ("not-authorized", "bad-username-or-password"), said
    run = bench(uri, *wrong, "-n", "30", "--json")
    document = run.json()
    _check_document(document)
    assert document["failed"] == 30 and document["connected"] == 0
    assert [(row["category"], row["count"]) for row in document["failures"]] == [(category, 30)]
    assert run.code == CATEGORIES[category] == 1, run
    assert document["category"] == category
    assert "not-it" not in run.stdout + run.stderr  # the secret stays hidden


def test_a_silent_server_gives_timeouts_in_bounded_time(peers: Peers) -> None:
    peer = peers.start(silent(), connections=10)
    run = bench(peer.uri(), "-n", "10", "-t", "1", "-d", "0", "--json")
    assert run.code == 5, run
    document = run.json()
    _check_document(document)
    assert document["failures"][0]["category"] == "timeout"
    assert document["failed"] == 10
    assert "CONNACK" in document["failures"][0]["example"]
    assert run.seconds < 8


def test_a_broker_killed_while_holding_gives_the_losses(tmp_path: Path) -> None:
    broker = start_mosquitto(tmp_path / "doomed")
    try:
        proc = _start(broker.uri(), "-n", "50", "-d", "30", "--json")
        _wait_for_line(proc, r"holding 50", 15)
        broker.process.kill()
        broker.process.wait(STOP_TIMEOUT)
        out, _ = proc.communicate(timeout=15)  # nothing left to hold: it ends at once
    finally:
        broker.stop()
    document = json.loads(out)
    _check_document(document)
    assert document["connected"] == 50 and document["lost"] == 50
    assert document["held"] == 0
    (loss,) = document["losses"]
    assert loss["count"] == 50
    assert proc.returncode == loss["exit_code"] == CATEGORIES[loss["category"]] == 3
    assert document["seconds"]["holding"] < 15


def test_a_descriptor_limit_too_low_is_one_sentence() -> None:
    def low_limit() -> None:
        resource.setrlimit(resource.RLIMIT_NOFILE, (64, 64))

    proc = _start("mqtt://127.0.0.1:1", "--connections", "200", preexec_fn=low_limit)
    out, err = proc.communicate(timeout=RUN_TIMEOUT)
    assert proc.returncode == 2, out + err
    assert "200 connections need about" in err
    assert "may open at most 64 (the hard limit, RLIMIT_NOFILE" in err
    assert "Traceback" not in out + err


# The system running out while connecting: descriptors (EMFILE at socket()) or local ports
# (EADDRNOTAVAIL at connect()), from the 11th TCP socket on; the program runs as
# ``python -m pco_wire`` would, with socket.socket replaced first.
_RUN_OUT = """
import errno, runpy, socket, sys

_real = socket.socket
MODE = sys.argv[1]


class _RunningOut(_real):
    made = 0

    def __init__(self, family=-1, type=-1, proto=-1, fileno=None):
        counted = fileno is None and family == socket.AF_INET and type == socket.SOCK_STREAM
        if counted:
            _RunningOut.made += 1
            if MODE == "EMFILE" and _RunningOut.made > 10:
                raise OSError(errno.EMFILE, "Too many open files")
        super().__init__(family, type, proto, fileno)
        self._late = counted and _RunningOut.made > 10

    def connect_ex(self, address):
        if MODE == "EADDRNOTAVAIL" and self._late:
            return errno.EADDRNOTAVAIL
        return super().connect_ex(address)


socket.socket = _RunningOut
sys.argv = ["pco_wire", *sys.argv[2:]]
runpy.run_module("pco_wire", run_name="__main__")
"""


@pytest.mark.parametrize(
    ("code", "words"),
    [
        ("EMFILE", "ran out of file descriptors (EMFILE)"),
        ("EADDRNOTAVAIL", "no local port was left toward"),
    ],
)
def test_a_system_limit_met_while_connecting_is_one_sentence(
    mosquitto: Mosquitto, tmp_path: Path, code: str, words: str
) -> None:
    script = tmp_path / "running_out.py"
    script.write_text(_RUN_OUT)
    argv = [sys.executable, str(script), code, "bench", mosquitto.uri(), "-n", "30"]
    done = subprocess.run(
        [*argv, "--rate", "0", "-d", "0"],
        cwd=ROOT,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=RUN_TIMEOUT,
        check=False,
    )
    everything = done.stdout + done.stderr
    assert "Traceback" not in everything, everything
    # Said once while running (standard error) and once in the summary.
    assert done.stderr.count(words) == 1, everything
    said = next(line for line in done.stdout.splitlines() if words in line)
    assert said.startswith("  limit: ")
    assert "  attempts 30: connected 10, failed 20" in done.stdout.splitlines()
    assert done.returncode == 3, everything


# ---------------------------------------------------------------------------- stopping


@pytest.mark.parametrize(
    ("signum", "status", "workers"),
    [(signal.SIGINT, 130, 1), (signal.SIGTERM, 143, 1), (signal.SIGTERM, 143, 2)],
)
def test_a_stop_signal_disconnects_and_summarises(
    mosquitto: Mosquitto, signum: int, status: int, workers: int
) -> None:
    prefix = f"stop{signum}w{workers}x"
    proc = _start(
        mosquitto.uri(),
        *("-n", "20", "-d", "30", "--client-id-prefix", prefix, "--workers", str(workers)),
    )
    _wait_for_line(proc, r"holding 20|20 held", 15)
    stopped = time.monotonic()
    proc.send_signal(signum)
    out, err = proc.communicate(timeout=10)
    assert time.monotonic() - stopped < 5
    assert proc.returncode == status, out + err
    name = signal.Signals(signum).name
    assert "  held to the end 20, lost while holding 0" in out.splitlines()
    assert out.splitlines()[-1].startswith(f"STOPPED (exit {status}): stopped by {name}")
    assert "Traceback" not in err
    # Mosquitto's word for a client that sent DISCONNECT (a close without one is "closed
    # its connection").
    deadline = time.monotonic() + 5
    wanted = {f"Client {prefix}{i} disconnected." for i in range(20)}
    while True:
        missing = {line for line in wanted if line not in mosquitto.logged()}
        if not missing or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    assert not missing, sorted(missing)


def test_a_closed_pipe_on_standard_output_is_no_failure(mosquitto: Mosquitto) -> None:
    proc = _start(mosquitto.uri(), "-n", "5", "-d", "0")
    assert proc.stdout is not None
    proc.stdout.close()  # the reader went away before the summary
    _, err = proc.communicate(timeout=RUN_TIMEOUT)
    assert proc.returncode == 0, err
    assert "Traceback" not in err and "BrokenPipe" not in err
