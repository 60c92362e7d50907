"""``pco_wire.locust`` run as Locust runs it: a master and two worker processes on
loopback, headless, against the session's Mosquitto, read back from Locust's ``--csv``
statistics and from Mosquitto's log; a refused password, a client ID prefix too long and
a broker stopped while holding, each counted as failures with their diagnosis.

Locust monkey-patches the standard library (gevent) when it is imported, so it is only
ever imported in the processes these tests start, never in the test process itself.
"""

from __future__ import annotations

import csv
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from pco_wire.diagnose import CATEGORIES
from tests.broker import Broker, config_head, free_port, run_mosquitto, stop_process

#: Locust 2.x runs on Python 3.11 and later: the ``test`` extra installs it there.
pytestmark = pytest.mark.skipif(
    sys.version_info < (3, 11), reason="Locust needs Python 3.11 or later"
)

RUN_SECONDS = 10
USERS = 20
#: Start-up of three Python processes (gevent, zmq), the run, the stop and the CSV.
RUN_TIMEOUT = RUN_SECONDS + 60.0

LOCUSTFILE = """\
from pco_wire.locust import MqttUser


class Gateway(MqttUser):
    client_id_prefix = {prefix!r}
    keep_alive = 10
    ping_interval = 1.0
{extra}"""


def _locustfile(tmp_path: Path, prefix: str, extra: str = "") -> Path:
    path = tmp_path / "locustfile.py"
    path.write_text(LOCUSTFILE.format(prefix=prefix, extra=extra))
    return path


def _locust(*args: str) -> list[str]:
    return [sys.executable, "-m", "locust", "--headless", "--loglevel", "WARNING", *args]


def _rows(path: Path) -> list[dict[str, str]]:
    with path.open(newline="") as handle:
        return list(csv.DictReader(handle))


def _stats(prefix: Path) -> dict[tuple[str, str], dict[str, str]]:
    return {(row["Type"], row["Name"]): row for row in _rows(Path(f"{prefix}_stats.csv"))}


@pytest.fixture
def processes() -> Iterator[list[subprocess.Popen[str]]]:
    """The Locust processes a test starts, stopped by their PIDs whatever happens."""
    started: list[subprocess.Popen[str]] = []
    yield started
    for process in started:
        stop_process(process)  # type: ignore[arg-type]


def _start(processes: list[subprocess.Popen[str]], args: list[str]) -> subprocess.Popen[str]:
    process = subprocess.Popen(
        args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=Path(args[-1]).parent
    )
    processes.append(process)
    return process


def _logged(broker: Broker, wanted: set[str], within: float = 5.0) -> set[str]:
    """Those of ``wanted`` that Mosquitto's log does not say within ``within`` seconds."""
    deadline = time.monotonic() + within
    while True:
        text = broker.log.read_text(errors="replace")
        missing = {line for line in wanted if line not in text}
        if not missing or time.monotonic() > deadline:
            return missing
        time.sleep(0.05)


def test_a_master_and_two_workers_report_real_connect_phases_and_ping_round_trips(
    broker: Broker, tmp_path: Path, processes: list[subprocess.Popen[str]]
) -> None:
    prefix = "lcA"
    locustfile = _locustfile(tmp_path, prefix)
    port = str(free_port())
    csv_prefix = tmp_path / "run"
    master = _start(
        processes,
        _locust(
            "--master",
            "--master-bind-host",
            "127.0.0.1",
            "--master-bind-port",
            port,
            "--expect-workers",
            "2",
            "--expect-workers-max-wait",
            "30",
            "-u",
            str(USERS),
            "-r",
            str(USERS),
            "-t",
            f"{RUN_SECONDS}s",
            "--csv",
            str(csv_prefix),
            "--host",
            f"mqtt://127.0.0.1:{broker.ports.tcp}",
            "-f",
            str(locustfile),
        ),
    )
    workers = [
        _start(
            processes,
            _locust(
                "--worker",
                "--master-host",
                "127.0.0.1",
                "--master-port",
                port,
                "-f",
                str(locustfile),
            ),
        )
        for _ in range(2)
    ]
    out, err = master.communicate(timeout=RUN_TIMEOUT)
    said = [out + err]
    for worker in workers:
        worker_out, worker_err = worker.communicate(timeout=30)
        said.append(worker_out + worker_err)
        assert worker.returncode == 0, said
    assert master.returncode == 0, said  # Locust exits 1 when a request failed
    assert "Traceback" not in "".join(said), said

    stats = _stats(csv_prefix)
    for name in ("TCP connect", "CONNACK", "total"):
        row = stats["CONNECT", name]
        # Each user connected once, and was never lost (which would connect it again).
        assert int(row["Request Count"]) == USERS, row
        assert int(row["Failure Count"]) == 0, row
        # Measured, not zero: Locust keeps the exact average, minimum and maximum.
        assert 0 < float(row["Min Response Time"]) <= float(row["Average Response Time"]), row
        assert float(row["Average Response Time"]) <= float(row["Max Response Time"]), row
    # The total is the phases and more.
    assert float(stats["CONNECT", "total"]["Average Response Time"]) > float(
        stats["CONNECT", "CONNACK"]["Average Response Time"]
    )
    ping = stats["PINGREQ", "PINGRESP"]
    # A PINGREQ a second for most of ten seconds, from each of the users.
    assert int(ping["Request Count"]) >= USERS * (RUN_SECONDS // 2), ping
    assert int(ping["Failure Count"]) == 0, ping
    assert 0 < float(ping["Min Response Time"]) <= float(ping["Average Response Time"]), ping
    assert ("SESSION", "connection lost") not in stats, stats
    assert int(stats["", "Aggregated"]["Failure Count"]) == 0
    assert _rows(Path(f"{csv_prefix}_failures.csv")) == []

    # On the broker's side: 20 distinct IDs from both workers, and each user sent
    # DISCONNECT when Locust stopped it (Mosquitto's "disconnected"; a close without
    # DISCONNECT is "closed its connection").
    text = broker.log.read_text(errors="replace")
    ids = set(re.findall(rf"as ({prefix}w\d+n\d+) ", text))
    assert len(ids) == USERS, sorted(ids)
    assert {re.sub(r"n\d+$", "", i) for i in ids} == {f"{prefix}w0", f"{prefix}w1"}, ids
    assert _logged(broker, {f"Client {i} disconnected." for i in ids}) == set()
    assert not re.search(rf"Client {prefix}w\d+n\d+ closed its connection", text), text


def test_tls_settings_come_from_a_settings_file_and_the_handshake_is_a_phase(
    broker: Broker, tmp_path: Path, processes: list[subprocess.Popen[str]]
) -> None:
    (tmp_path / "broker.toml").write_text(
        'server_uri = "mqtts://127.0.0.1:1"\n\n'  # replaced by --host
        f"[security]\ncafile = {str(broker.pki.ca_cert)!r}\n"
    )
    locustfile = _locustfile(tmp_path, "lcE", '    settings_file = "broker.toml"\n')
    csv_prefix = tmp_path / "tls"
    run = _start(
        processes,
        _locust(
            *("-u", "3", "-r", "3", "-t", "3s", "--csv", str(csv_prefix)),
            *("--host", f"mqtts://127.0.0.1:{broker.ports.tls}", "-f", str(locustfile)),
        ),
    )
    out, err = run.communicate(timeout=RUN_TIMEOUT)
    assert run.returncode == 0, out + err
    stats = _stats(csv_prefix)
    for name in ("TCP connect", "TLS handshake", "CONNACK", "total"):
        row = stats["CONNECT", name]
        assert (row["Request Count"], row["Failure Count"]) == ("3", "0"), row
        assert float(row["Min Response Time"]) > 0, row
    assert ("CONNECT", "WebSocket upgrade") not in stats


def test_a_refused_password_is_failures_of_its_category_not_a_crash(
    broker: Broker, tmp_path: Path, processes: list[subprocess.Popen[str]]
) -> None:
    wrong = "not-the-password-77"
    locustfile = _locustfile(
        tmp_path, "lcB", f"    username = {broker.username!r}\n    password = {wrong!r}\n"
    )
    csv_prefix = tmp_path / "refused"
    run = _start(
        processes,
        _locust(
            "-u",
            "3",
            "-r",
            "3",
            "-t",
            "3s",
            "--csv",
            str(csv_prefix),
            "--host",
            f"mqtt://127.0.0.1:{broker.ports.password}",
            "-f",
            str(locustfile),
        ),
    )
    out, err = run.communicate(timeout=RUN_TIMEOUT)
    assert run.returncode == 1, out + err  # Locust's status for failed requests
    assert "Traceback" not in out + err, out + err
    total = _stats(csv_prefix)["CONNECT", "total"]
    assert int(total["Failure Count"]) == int(total["Request Count"]) >= 3, total
    failures = _rows(Path(f"{csv_prefix}_failures.csv"))
    assert failures, total
    for row in failures:
        assert (row["Method"], row["Name"]) == ("CONNECT", "total"), row
        assert re.match(r"(not-authorized|bad-username-or-password) \(exit \d+\): ", row["Error"])
    shown = out + err + Path(f"{csv_prefix}_failures.csv").read_text()
    assert wrong not in shown


def test_a_broker_stopped_while_holding_is_losses_with_their_diagnosis(
    tmp_path: Path, processes: list[subprocess.Popen[str]]
) -> None:
    port = free_port()
    config = config_head() + f"listener {port} 127.0.0.1\nallow_anonymous true\n"
    mosquitto, log = run_mosquitto(tmp_path, config, {"tcp": port})
    try:
        locustfile = _locustfile(tmp_path, "lcD", "    retry_delay = 0.5\n")
        csv_prefix = tmp_path / "lost"
        run = _start(
            processes,
            _locust(
                *("-u", "3", "-r", "3", "-t", "8s", "--csv", str(csv_prefix)),
                *("--host", f"mqtt://127.0.0.1:{port}", "-f", str(locustfile)),
            ),
        )
        deadline = time.monotonic() + RUN_TIMEOUT
        while len(re.findall(r"as lcDw0n\d+ ", log.read_text(errors="replace"))) < 3:
            assert run.poll() is None and time.monotonic() < deadline, log.read_text()
            time.sleep(0.05)
    finally:
        stop_process(mosquitto)  # by its PID
    out, err = run.communicate(timeout=RUN_TIMEOUT)
    assert run.returncode == 1, out + err
    assert "Traceback" not in out + err, out + err
    stats = _stats(csv_prefix)
    lost = stats["SESSION", "connection lost"]
    assert int(lost["Failure Count"]) == int(lost["Request Count"]) == 3, lost
    # Each user tried again after its loss, and was refused.
    again = stats["CONNECT", "total"]
    assert int(again["Request Count"]) - int(again["Failure Count"]) == 3, again
    assert int(again["Failure Count"]) >= 3, again
    failures = _rows(Path(f"{csv_prefix}_failures.csv"))
    for row in failures:
        assert row["Error"].partition(" (exit ")[0] in CATEGORIES, row
    said = {(row["Method"], row["Name"], row["Error"].partition(" (exit ")[0]) for row in failures}
    assert ("CONNECT", "total", "connection-refused") in said, failures
    assert {(method, name) for method, name, _ in said} == {
        ("SESSION", "connection lost"),
        ("CONNECT", "total"),
    }, failures


def test_the_test_process_is_not_monkey_patched() -> None:
    # Only the Locust processes run on gevent: the rest of the suite's sockets, threads
    # and select are the standard library's.
    import select
    import socket
    import threading

    assert "locust" not in sys.modules
    assert socket.socket.__module__ == "socket"
    assert threading.Thread.__module__ == "threading"
    assert select.poll.__module__ == "select"


def test_a_client_id_prefix_too_long_is_a_failure_naming_the_field(
    broker: Broker, tmp_path: Path, processes: list[subprocess.Popen[str]]
) -> None:
    locustfile = _locustfile(tmp_path, "p" * 20)
    csv_prefix = tmp_path / "invalid"
    run = _start(
        processes,
        _locust(
            *("-u", "2", "-r", "2", "-t", "2s", "--csv", str(csv_prefix)),
            *("--host", f"mqtt://127.0.0.1:{broker.ports.tcp}", "-f", str(locustfile)),
        ),
    )
    out, err = run.communicate(timeout=RUN_TIMEOUT)
    assert run.returncode == 1, out + err
    assert "Traceback" not in out + err, out + err
    # Both users stopped at their first attempt, with one sentence.
    [row] = _rows(Path(f"{csv_prefix}_failures.csv"))
    assert (row["Method"], row["Name"], row["Occurrences"]) == ("CONNECT", "total", "2"), row
    assert row["Error"].startswith("invalid-settings (exit 2): invalid settings: client_id_prefix:")
    assert "use at most 12 characters" in row["Error"]
