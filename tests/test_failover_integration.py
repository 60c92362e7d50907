"""Several servers (failover) against real brokers: a dead port, a server that refuses
(the session Mosquitto's password listener, asked without a password: CONNACK 5) and
good ones that the tests start and kill (Mosquitto on ports of their own). ``test``
reports each; ``monitor`` and both drivers' Client connect to the first that works and,
once it is killed and another broker comes up further down the list, move there.
"""

from __future__ import annotations

import json
import os
import select
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from pco_wire import Settings, config
from pco_wire.cli import main
from pco_wire.errors import TransportError
from pco_wire.events import Closed, Connected, Failover
from tests.broker import Broker, config_head, free_port, run_mosquitto, stop_process
from tests.drivers import Driver
from tests.peers import ROOT
from tests.support import JSON_KEYS, SERVERS_JSON_KEYS
from tests.test_wizard import run_wizard

WAIT = 20.0  # the longest any awaited line or event may take


def _uri(port: int) -> str:
    return f"mqtt://127.0.0.1:{port}"


class Mosquitto:
    """A Mosquitto of the test's own, anonymous, on ``port``: started, and killed."""

    def __init__(self, directory: Path, port: int) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        config = config_head() + f"listener {port} 127.0.0.1\nallow_anonymous true\n"
        self.port = port
        self.process, self.log = run_mosquitto(directory, config, {"good": port})

    def stop(self) -> None:
        stop_process(self.process)


@pytest.fixture
def brokers(tmp_path: Path) -> Iterator[Callable[[int], Mosquitto]]:
    started: list[Mosquitto] = []

    def start(port: int) -> Mosquitto:
        broker = Mosquitto(tmp_path / f"mosquitto-{len(started)}", port)
        started.append(broker)
        return broker

    yield start
    for broker in started:
        broker.stop()


def _three(broker: Broker) -> list[str]:
    """A dead port, a server that refuses (CONNACK 5), a good one, in that order."""
    return [_uri(free_port()), _uri(broker.ports.password), _uri(broker.ports.tcp)]


def _cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out = capsys.readouterr()
    assert "Traceback" not in out.out + out.err
    return code, out.out, out.err


# ---------------------------------------------------------------------------- test


def test_test_reports_each_server_and_exits_with_the_first_failure(
    broker: Broker, capsys: pytest.CaptureFixture[str]
) -> None:
    uris = _three(broker)
    code, out, _ = _cli(capsys, "test", *uris, "-t", "5")
    assert code == 3, out  # the dead port's: connection refused
    blocks = out.split("=== server ")[1:]
    assert [block.split(" ===", 1)[0] for block in blocks] == ["1 of 3", "2 of 3", "3 of 3"]
    for uri, block, verdict in zip(
        uris,
        blocks,
        ["FAILED (connection-refused, exit 3)", "FAILED (not-authorized, exit 1)", "OK: "],
        strict=True,
    ):
        assert f"pco_wire test {uri} as " in block
        assert verdict in block
    summary = out.splitlines()[-1]
    assert summary.startswith("=== summary: FAILED (connection-refused, exit 3): 1 of 3 servers")
    # One client identity for the list.
    ids = {
        line.split(" as ", 1)[1] for line in out.splitlines() if line.startswith("pco_wire test")
    }
    assert len(ids) == 1


def test_test_any_is_success_when_one_works(
    broker: Broker, capsys: pytest.CaptureFixture[str]
) -> None:
    uris = _three(broker)
    code, out, _ = _cli(capsys, "test", *uris, "--any", "-t", "5")
    assert code == 0, out
    assert out.splitlines()[-1].startswith("=== summary: OK: 1 of 3 servers accepted (server 3)")
    # None works: the first failure's status, --any or not.
    code, out, _ = _cli(capsys, "test", uris[1], uris[0], "--any", "-t", "5")
    assert code == 1, out
    code, out, _ = _cli(capsys, "test", uris[2], uris[2], "-t", "5")
    assert code == 0 and "=== summary: OK: 2 of 2 servers accepted" in out, out


def test_test_json_has_an_entry_per_server(
    broker: Broker, capsys: pytest.CaptureFixture[str]
) -> None:
    uris = _three(broker)
    code, out, _ = _cli(capsys, "test", *uris, "--json", "-t", "5")
    assert code == 3
    document = json.loads(out)
    assert set(document) == SERVERS_JSON_KEYS
    assert (document["ok"], document["exit_code"], document["category"]) == (
        False,
        3,
        "connection-refused",
    )
    assert (document["any"], document["accepted"]) == (False, 1)
    servers = document["servers"]
    assert [set(entry) for entry in servers] == [JSON_KEYS] * 3
    assert [entry["uri"] for entry in servers] == uris
    assert [entry["exit_code"] for entry in servers] == [3, 1, 0]
    assert len({entry["client_id"] for entry in servers}) == 1
    code, out, _ = _cli(capsys, "test", *uris, "--json", "--any", "-t", "5")
    assert code == 0 and json.loads(out)["ok"] is True
    # One server: the document of before, not a list.
    code, out, _ = _cli(capsys, "test", uris[2], "--json", "-t", "5")
    assert code == 0 and set(json.loads(out)) == JSON_KEYS


def test_a_bad_server_of_the_list_is_named_before_any_is_tried(
    capsys: pytest.CaptureFixture[str],
) -> None:
    code, _, err = _cli(capsys, "test", _uri(free_port()), "mqtt://127.0.0.1:99999")
    assert code == 2
    assert err.startswith("FAILED (invalid-settings, exit 2): invalid settings: server_uri[1]: ")


def test_a_list_refused_gives_the_json_of_several(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = _cli(capsys, "test", _uri(free_port()), "mqtt://127.0.0.1:0", "--json")
    assert code == 2
    document = json.loads(out)
    assert set(document) == SERVERS_JSON_KEYS
    assert (document["category"], document["servers"]) == ("invalid-settings", [])
    assert "server_uri[1]: " in document["message"]


# ---------------------------------------------------------------------------- Client


class Recorder:
    """The events of a client, awaited with a deadline."""

    def __init__(self) -> None:
        self.events: list[Any] = []
        self._changed = threading.Condition()

    def __call__(self, event: Any) -> None:
        with self._changed:
            self.events.append(event)
            self._changed.notify_all()

    def wait_for(self, test: Callable[[Any], bool], after: int = 0) -> Any:
        with self._changed:
            found = self._changed.wait_for(
                lambda: next((e for e in self.events[after:] if test(e)), None), WAIT
            )
        assert found is not None, f"not seen within {WAIT} s: {self.events}"
        return next(e for e in self.events[after:] if test(e))


def test_the_client_moves_down_the_list(
    driver: Driver, broker: Broker, brokers: Callable[[int], Mosquitto]
) -> None:
    dead, refusing, _ = _three(broker)
    first, second = free_port(), free_port()
    good = brokers(first)
    settings = Settings(
        [dead, refusing, _uri(first), _uri(second)],
        reconnect_min_delay=0.1,
        reconnect_max_delay=0.2,
        response_timeout=5.0,
    )
    recorder = Recorder()
    client = driver.client(settings, on_event=recorder)
    with client:
        info = client.info
        assert info is not None and info.uri == _uri(first)
        moves = [recorder.wait_for(lambda e: isinstance(e, Failover))]
        moves.append(recorder.wait_for(lambda e: isinstance(e, Failover) and e.position == 3))
        assert [(m.left, m.server_uri, m.position, m.count) for m in moves] == [
            (dead, refusing, 2, 4),
            (refusing, _uri(first), 3, 4),
        ]
        seen = len(recorder.events)
        good.stop()
        recorder.wait_for(lambda e: isinstance(e, Closed) and e.error is not None, seen)
        # The next down the list first, at once (not up yet: it fails), then the others.
        recorder.wait_for(lambda e: isinstance(e, Failover) and e.position == 4, seen)
        brokers(second)
        recorder.wait_for(lambda e: isinstance(e, Connected), seen)
        assert client.info is not None and client.info.uri == _uri(second)
        assert client.connections == 2
        assert client.info.client_id == info.client_id  # one identity for the list


def test_a_first_connection_failing_everywhere_names_each(driver: Driver, broker: Broker) -> None:
    dead, refusing, _ = _three(broker)
    client = driver.client(Settings([dead, refusing], response_timeout=5.0))
    with pytest.raises(TransportError) as caught:  # the first server's failure
        client.connect()
    code, category, sentence = client.diagnose(caught.value)
    assert (code, category) == (3, "connection-refused")
    assert sentence.startswith(f"no server of the list accepted the connection: (1) {dead}: ")
    assert f"; (2) {refusing}: refused with return code 5" in sentence
    assert client.disconnect()


# ---------------------------------------------------------------------------- monitor


class Lines:
    """A monitor's standard output, line by line, each awaited with a deadline (read
    from the descriptor: a buffered reader would hide lines from select)."""

    def __init__(self, proc: subprocess.Popen[bytes]) -> None:
        assert proc.stdout is not None
        self.fd = proc.stdout.fileno()
        self.seen: list[str] = []
        self._pending = b""

    def until(self, needle: str) -> str:
        deadline = time.monotonic() + WAIT
        while True:
            while b"\n" in self._pending:
                raw, self._pending = self._pending.split(b"\n", 1)
                line = raw.decode()
                self.seen.append(line)
                if needle in line:
                    return line
            remaining = deadline - time.monotonic()
            assert remaining > 0, f"no line with {needle!r} within {WAIT} s: {self.seen}"
            ready, _, _ = select.select([self.fd], [], [], remaining)
            if ready:
                data = os.read(self.fd, 65536)
                assert data, f"monitor ended before {needle!r}: {self.seen}"
                self._pending += data


def test_monitor_connects_to_the_good_one_and_moves(
    broker: Broker, brokers: Callable[[int], Mosquitto]
) -> None:
    dead, refusing, _ = _three(broker)
    first, second = free_port(), free_port()
    good = brokers(first)
    servers = [dead, refusing, _uri(first), _uri(second)]
    fast = ["--reconnect-min-delay", "0.1", "--reconnect-max-delay", "0.2", "-t", "5"]
    proc = subprocess.Popen(
        [sys.executable, "-m", "pco_wire", "monitor", *servers, *fast],
        cwd=ROOT,
        env=os.environ.copy(),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        start_new_session=True,
    )
    try:
        lines = Lines(proc)
        lines.until(f"trying server 2 of 4, {refusing} ({dead} failed: ")
        lines.until(f"trying server 3 of 4, {_uri(first)} ({refusing} failed: ")
        lines.until(f"connected to {_uri(first)} (127.0.0.1:{first}) as ")
        good.stop()
        lines.until("connection lost: ")
        lines.until(f"trying server 4 of 4, {_uri(second)} ({_uri(first)} failed: ")
        brokers(second)
        lines.until(f"connected again to {_uri(second)} (127.0.0.1:{second}) as ")
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=WAIT)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 0, (lines.seen, out, err)
    assert b"DISCONNECT sent" in out


# ---------------------------------------------------------------------------- config, wizard


def test_config_show_and_check_carry_the_list(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "gateway.toml"
    servers = [_uri(free_port()), "mqtt://plant:s3cret@127.0.0.1:1884"]
    config.save(Settings(servers, client_id="gw1"), str(path))
    code, out, _ = _cli(capsys, "config", "check", str(path))
    assert (code, out) == (0, f"{path}: ok\n")
    code, out, _ = _cli(capsys, "config", "show", str(path))
    assert code == 0
    assert f'server_uri = ["{servers[0]}", "mqtt://plant:***@127.0.0.1:1884"]' in out
    assert "s3cret" not in out
    path.write_text(f'server_uri = ["{servers[0]}", "mqtt://127.0.0.1:0"]\n')
    code, out, _ = _cli(capsys, "config", "check", str(path))
    assert code == 2 and "  server_uri[1]: " in out


def test_the_wizard_keeps_the_other_servers_of_a_file(broker: Broker, tmp_path: Path) -> None:
    path = tmp_path / "gateway.toml"
    servers = [_uri(broker.ports.tcp), _uri(free_port())]
    original = Settings(servers, client_id="gw1")
    config.save(original, str(path))
    # Enter everywhere: every default taken, the connection tested and the file saved.
    run = run_wizard(path, [""] * 40)
    assert run.code == 0, run
    assert f"the other servers of the list are kept, in order: {servers[1]}" in run.output
    assert "OK: connected" in run.output, run
    assert config.load(str(path)) == (original, [])


def test_the_library_tests_a_list(driver: Driver, broker: Broker) -> None:
    dead, refusing, good = _three(broker)
    # test_connection: the first that accepts; else the first server's failure.
    result = driver.test_connection(Settings([dead, refusing, good], response_timeout=5.0))
    assert (result.ok, result.uri) == (True, good)
    result = driver.test_connection(Settings([dead, refusing], response_timeout=5.0))
    assert (result.ok, result.exit_code, result.uri) == (False, 3, dead)


def test_monitor_json_says_each_move(broker: Broker) -> None:
    dead, _, good = _three(broker)
    done = subprocess.run(
        [sys.executable, "-m", "pco_wire", "monitor", dead, good, "--json", "--duration", "0.3"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=WAIT,
        check=False,
    )
    assert done.returncode == 0, done
    lines = [json.loads(line) for line in done.stdout.splitlines()]
    assert [line["event"] for line in lines] == ["failover", "connected", "disconnected"]
    move = lines[0]
    assert (move["server_uri"], move["left"], move["position"]) == (good, dead, 2)
    assert move["message"].startswith(f"trying server 2 of 2, {good} ({dead} failed: ")
    assert lines[1]["message"].startswith(f"connected to {good} (")
