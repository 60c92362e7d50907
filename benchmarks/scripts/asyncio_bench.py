"""The asyncio driver against a raw asyncio loop, the blocking driver and paho-mqtt, in one run.

    .venv/bin/python benchmarks/scripts/asyncio_bench.py [--connections 1000,10000] [--quick]

Everything talks to Mosquittos this script starts on free loopback ports and stops by PID
(also on Ctrl-C or SIGTERM); nothing leaves 127.0.0.1. Measured, side by side:

- **Round trip, in process**: CONNECT → CONNACK → DISCONNECT, the median of ``--rounds``
  rounds, the sides taking turns round by round so that a noisy moment of the machine hits
  them all. ``await pco_wire.asyncio.test_connection``, the blocking
  ``pco_wire.test_connection``, paho-mqtt (connect, loop until CONNACK, disconnect), and the
  baseline, a raw asyncio Protocol writing the same CONNECT bytes, reading the CONNACK,
  writing DISCONNECT and closing.
- **Held idle connections** (keep-alive 60), for each size of ``--connections``, each side
  in a fresh process of its own so that sides do not share an allocator: connect rate
  (connections a second from the first connect until every CONNACK arrived, at most
  ``--concurrency`` in flight for every side, so that Mosquitto's listen backlog of 100 is
  not overrun), resident memory per connection (VmRSS after the idle window minus VmRSS
  before the first of them, after one warm-up connection made and closed, both after a
  ``gc.collect()``, divided by the count), and CPU while idle (user + system time of the
  whole process over ``--idle`` seconds, as a share of one core). The sides: the baseline,
  a raw asyncio Protocol per connection (CONNECT, CONNACK, then idle but for a PINGREQ every
  keep-alive, so that it is held as the others are), ``pco_wire.asyncio.Client``, the
  blocking ``pco_wire.Client`` and paho-mqtt with ``loop_start`` (a thread each; at most
  ``--threaded-max`` connections). "held" counts the process's ESTABLISHED sockets to the
  broker's port after the idle window (/proc/net/tcp), whatever the side believes.
  paho-mqtt waits with select(), which takes descriptors below 1024 only: it fails at about
  340 connections in one process, and the table says after how many (the blocking driver
  waits with poll and has no such limit).

Every pco_wire side shares one Settings with a blank client ID (each connection generates
its 23-character ID, as a gateway would); the raw and paho sides send 23-character IDs too,
and the raw CONNECT is checked against pco_wire's encoding before anything is measured.

Targets (issue 9), as ratios of this one run: pco_wire.asyncio memory per connection at most
2x the raw loop's, connect rate at least 0.7x, idle CPU of 10,000 connections under 2 % of a
core. Printed as met or MISSED; the exit status is 1 only when a side of ours (the raw
baseline or a pco_wire one) could not be measured, not for a missed target nor for paho.
When ``pco_wire.asyncio`` cannot be imported its sides are skipped and a line says so.
Linux only (/proc). The descriptor soft limit is raised to the hard one here, in the worker
processes and for Mosquitto.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import getpass
import importlib
import json
import os
import resource
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, cast

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from tests.broker import STOP_TIMEOUT, free_port, require  # noqa: E402

KEEP_ALIVE = 60
CONNACK_ACCEPTED = b"\x20\x02\x00\x00"
PINGREQ = b"\xc0\x00"
DISCONNECT = b"\xe0\x00"
#: Bounds one connection's CONNECT → CONNACK (and one round trip).
RESPONSE_TIMEOUT = 10.0
#: select() takes descriptors below this only (Linux); paho uses it.
FD_SETSIZE = 1024
ASYNCIO_MODULE = "pco_wire.asyncio"

RAW = "raw asyncio"
AIO = "pco_wire.asyncio"
SYNC = "pco_wire blocking"
PAHO = "paho loop_start"
SIDES = (RAW, AIO, SYNC, PAHO)
THREADED = (SYNC, PAHO)

# Targets of issue 9 (## Benchmarks), each against the raw asyncio loop of the same run.
MEMORY_TARGET = 2.0
RATE_TARGET = 0.7
CPU_TARGET = 2.0  # % of one core, at 10,000 connections
CPU_TARGET_AT = 10_000


def client_id(tag: str, index: int) -> str:
    """A 23-character client ID, the length of pco_wire's generated ones."""
    return f"{tag}{index:0{23 - len(tag)}d}"


def connect_bytes(client_id: str) -> bytes:
    """MQTT 3.1.1 CONNECT (§3.1): clean session, keep-alive 60, no will, user name or password."""
    ident = client_id.encode("utf-8")
    variable = b"\x00\x04MQTT\x04\x02" + KEEP_ALIVE.to_bytes(2, "big")
    body = variable + len(ident).to_bytes(2, "big") + ident
    assert len(body) < 128, "one-byte remaining length"
    return bytes([0x10, len(body)]) + body


def raise_descriptor_limit() -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def _load_prctl() -> Callable[..., int] | None:
    # Looked up here, in the parent: a child between fork and exec should import nothing.
    try:
        import ctypes

        prctl: Callable[..., int] = ctypes.CDLL(None, use_errno=True).prctl
        return prctl
    except (OSError, AttributeError):
        return None


_PRCTL = _load_prctl()
_PR_SET_PDEATHSIG = 1


def _child_setup() -> None:
    """In a child before exec: the descriptor limit raised, and SIGTERM when we die, so
    that not even a killed benchmark leaves a broker or a worker behind (Linux)."""
    raise_descriptor_limit()
    if _PRCTL is not None:
        _PRCTL(_PR_SET_PDEATHSIG, signal.SIGTERM)


def rss_kib() -> int:
    with open("/proc/self/status", encoding="ascii") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise RuntimeError("no VmRSS in /proc/self/status")


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def established_to(port: int) -> int:
    """ESTABLISHED IPv4 sockets whose remote port is ``port`` (the clients' ends)."""
    suffix = f":{port:04X}"
    count = 0
    with open("/proc/net/tcp", encoding="ascii") as table:
        next(table)
        for line in table:
            fields = line.split()
            if fields[3] == "01" and fields[2].endswith(suffix):
                count += 1
    return count


def load_asyncio_driver() -> tuple[Any, str]:
    """(the module, "") or (None, why) when it is not there. A module that is there but
    fails to import is a bug to see, so that raises."""
    try:
        return importlib.import_module(ASYNCIO_MODULE), ""
    except ModuleNotFoundError as exc:
        if exc.name not in (ASYNCIO_MODULE, "pco_wire"):
            raise
        return None, f"{type(exc).__name__}: {exc}"


# ------------------------------------------------------------------------- Mosquitto


class Mosquitto:
    """One plain TCP listener on 127.0.0.1, any number of connections."""

    def __init__(self, directory: Path) -> None:
        self.port = free_port()
        self.log = directory / f"mosquitto-{self.port}.log"
        self.config = directory / f"mosquitto-{self.port}.conf"
        self.config.write_text(
            f"user {getpass.getuser()}\n"
            "persistence false\n"
            # Errors and warnings only: a line per connection would slow the broker.
            f"log_dest file {self.log}\nlog_type error\nlog_type warning\n"
            f"listener {self.port} 127.0.0.1\n"
            "allow_anonymous true\n"
            "max_connections -1\n"
        )
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self.process = subprocess.Popen(
            [require("mosquitto"), "-c", str(self.config)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            preexec_fn=_child_setup,
        )
        deadline = time.monotonic() + 10
        while True:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                return
            except OSError:
                if self.process.poll() is not None or time.monotonic() > deadline:
                    self.stop()
                    raise RuntimeError(
                        f"mosquitto did not start on {self.port}: {self.logged() or 'no log'}"
                    ) from None
                time.sleep(0.02)

    def logged(self) -> str:
        try:
            return self.log.read_text(errors="replace").strip()
        except OSError:
            return ""

    def stop(self) -> None:
        process, self.process = self.process, None
        if process is None or process.poll() is not None:
            return
        process.terminate()
        try:
            process.wait(STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(STOP_TIMEOUT)


# ------------------------------------------------------------------------- raw asyncio


class RawConnection(asyncio.Protocol):
    """The baseline: CONNECT on connection, the CONNACK awaited, a PINGREQ every keep-alive
    (the PINGRESP and anything else read and dropped)."""

    __slots__ = ("_answer", "_connect", "_ready", "_timer", "closed", "transport")

    def __init__(self, connect: bytes, ready: asyncio.Future[None]) -> None:
        self._connect = connect
        self._ready: asyncio.Future[None] | None = ready
        self._answer = b""
        self.transport: asyncio.Transport | None = None
        self._timer: asyncio.TimerHandle | None = None
        self.closed = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # Not an isinstance() check: uvloop's transports do not derive from asyncio's.
        self.transport = cast(asyncio.Transport, transport)
        self.transport.write(self._connect)

    def data_received(self, data: bytes) -> None:
        ready = self._ready
        if ready is None:
            return
        self._answer += data
        if len(self._answer) < len(CONNACK_ACCEPTED):
            return
        self._ready = None
        if self._answer[:4] != CONNACK_ACCEPTED:
            ready.set_exception(ConnectionError(f"no CONNACK 0: {self._answer[:4].hex()}"))
            return
        self._answer = b""
        self._connect = b""
        self._timer = asyncio.get_running_loop().call_later(KEEP_ALIVE, self._ping)
        ready.set_result(None)

    def _ping(self) -> None:
        if self.transport is not None and not self.closed:
            self.transport.write(PINGREQ)
            self._timer = asyncio.get_running_loop().call_later(KEEP_ALIVE, self._ping)

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        if self._timer is not None:
            self._timer.cancel()
        if self._ready is not None and not self._ready.done():
            self._ready.set_exception(ConnectionError(f"closed before CONNACK: {exc}"))

    def goodbye(self) -> None:
        if self.transport is not None:
            if not self.closed:
                self.transport.write(DISCONNECT)
            self.transport.close()


async def raw_open(port: int, ident: str) -> RawConnection:
    loop = asyncio.get_running_loop()
    ready: asyncio.Future[None] = loop.create_future()
    connect = connect_bytes(ident)
    transport, protocol = await asyncio.wait_for(
        loop.create_connection(lambda: RawConnection(connect, ready), "127.0.0.1", port),
        RESPONSE_TIMEOUT,
    )
    try:
        await asyncio.wait_for(ready, RESPONSE_TIMEOUT)
    except BaseException:
        transport.close()
        raise
    return protocol


async def raw_round_trip(port: int, ident: str) -> None:
    connection = await raw_open(port, ident)
    connection.goodbye()


# ------------------------------------------------------------------------- round trips


def _paho_round_trip(port: int, ident: str) -> None:
    import paho.mqtt.client as paho

    codes: list[object] = []
    client = paho.Client(paho.CallbackAPIVersion.VERSION2, client_id=ident)  # type: ignore[attr-defined]
    client.on_connect = lambda c, u, f, code, p: codes.append(code)
    client.connect("127.0.0.1", port, keepalive=KEEP_ALIVE)
    deadline = time.monotonic() + RESPONSE_TIMEOUT
    while not codes and time.monotonic() < deadline:
        client.loop(timeout=0.05)
    if not codes or codes[0] != 0:
        raise ConnectionError(f"paho: no CONNACK 0: {codes}")
    client.disconnect()


def round_trip_sides(port: int, aio: Any) -> dict[str, Callable[[], Awaitable[None] | None]]:
    """Each side's one round, a coroutine function or a plain one."""
    from pco_wire import Settings, test_connection

    settings = Settings(f"mqtt://127.0.0.1:{port}", keep_alive=KEEP_ALIVE)

    def blocking() -> None:
        result = test_connection(settings)
        if not result.ok:
            raise ConnectionError(result.message)

    async def asyncio_driver() -> None:
        result = await aio.test_connection(settings)
        if not result.ok:
            raise ConnectionError(result.message)

    sides: dict[str, Callable[[], Awaitable[None] | None]] = {
        RAW: lambda: raw_round_trip(port, client_id("rawroundtrip", 1)),
    }
    if aio is not None:
        sides[AIO] = asyncio_driver
    sides[SYNC] = blocking
    sides[PAHO] = lambda: _paho_round_trip(port, client_id("pahoroundtrip", 1))
    return sides


async def measure_round_trips(port: int, aio: Any, rounds: int) -> dict[str, float]:
    """Median seconds per round of each side; the sides take turns, round by round."""
    sides = round_trip_sides(port, aio)
    times: dict[str, list[float]] = {name: [] for name in sides}
    for number in range(rounds + max(2, rounds // 20)):
        for name, once in sides.items():
            started = time.perf_counter()
            pending = once()
            if pending is not None:
                await pending
            if number >= max(2, rounds // 20):  # the first few are warm-up
                times[name].append(time.perf_counter() - started)
    return {name: statistics.median(values) for name, values in times.items()}


# ------------------------------------------------------------------------- held (worker)


class Plan:
    """What one worker process holds, and its deadlines."""

    def __init__(self, side: str, count: int, port: int, concurrency: int, idle: float) -> None:
        self.side = side
        self.count = count
        self.port = port
        self.concurrency = min(concurrency, count)
        self.idle = idle
        self.settle = min(1.0, idle / 5)
        self.connect_deadline = 30.0 + count / 100
        self.teardown_deadline = 30.0 + count / 200


def _result(
    plan: Plan, held: list[Any], failure: list[str], facts: dict[str, Any]
) -> dict[str, Any]:
    error = failure[0] if failure else None
    return {"side": plan.side, "count": plan.count, "connected": len(held), "error": error, **facts}


async def hold_async(plan: Plan) -> dict[str, Any]:
    """The asyncio sides: ``concurrency`` tasks each opening connections in turn."""
    loop = asyncio.get_running_loop()
    open_one: Callable[[int], Awaitable[Any]]
    close_one: Callable[[Any], Awaitable[None]]
    if plan.side == RAW:

        async def open_raw(index: int) -> Any:
            return await raw_open(plan.port, client_id("rawasyncio", index))

        async def close_raw(connection: Any) -> None:
            connection.goodbye()

        open_one, close_one = open_raw, close_raw
    else:
        aio, _ = load_asyncio_driver()
        from pco_wire import Settings

        settings = Settings(f"mqtt://127.0.0.1:{plan.port}", keep_alive=KEEP_ALIVE)

        async def open_client(index: int) -> Any:
            client = aio.Client(settings)
            await asyncio.wait_for(client.connect(), RESPONSE_TIMEOUT)
            return client

        async def close_client(client: Any) -> None:
            await client.disconnect()

        open_one, close_one = open_client, close_client

    await close_one(await open_one(0))  # the warm-up: imports, lazy tables, the loop's own
    await asyncio.sleep(0.1)
    gc.collect()
    rss_before = rss_kib()

    held: list[Any] = []
    failure: list[str] = []
    indexes = iter(range(1, plan.count + 1))

    async def opener() -> None:
        for index in indexes:
            if failure:
                return
            try:
                held.append(await open_one(index))
            except Exception as exc:
                failure.append(f"connection {index}: {type(exc).__name__}: {exc}")

    started = loop.time()
    try:
        await asyncio.wait_for(
            asyncio.gather(*(opener() for _ in range(plan.concurrency))), plan.connect_deadline
        )
    except asyncio.TimeoutError:
        failure.append(f"{len(held)} of {plan.count} connected in {plan.connect_deadline:g} s")
    connect_seconds = loop.time() - started

    facts: dict[str, Any] = {}
    if not failure:
        await asyncio.sleep(plan.settle)
        cpu_before = cpu_seconds()
        await asyncio.sleep(plan.idle)
        cpu = cpu_seconds() - cpu_before
        gc.collect()
        facts = _held_facts(plan, connect_seconds, rss_before, cpu)

    closers = iter(held)

    async def closer() -> None:
        for connection in closers:
            await close_one(connection)

    try:
        await asyncio.wait_for(
            asyncio.gather(*(closer() for _ in range(plan.concurrency))), plan.teardown_deadline
        )
    except asyncio.TimeoutError:
        facts["teardown"] = f"not done in {plan.teardown_deadline:g} s"
    return _result(plan, held, failure, facts)


def _held_facts(plan: Plan, connect_seconds: float, rss_before: int, cpu: float) -> dict[str, Any]:
    return {
        "rate": plan.count / connect_seconds,
        "kib_per_connection": (rss_kib() - rss_before) / plan.count,
        "idle_cpu_percent": cpu / plan.idle * 100,
        "held": established_to(plan.port),
    }


def _paho_open(port: int, index: int) -> Any:
    import paho.mqtt.client as paho

    connected = threading.Event()
    codes: list[object] = []

    def on_connect(client: Any, userdata: Any, flags: Any, code: Any, properties: Any) -> None:
        codes.append(code)
        connected.set()

    client = paho.Client(paho.CallbackAPIVersion.VERSION2, client_id=client_id("paho", index))  # type: ignore[attr-defined]
    client.on_connect = on_connect
    client.connect("127.0.0.1", port, keepalive=KEEP_ALIVE)
    client.loop_start()
    if not connected.wait(RESPONSE_TIMEOUT) or codes[0] != 0:
        client.loop_stop()
        # paho's loop waits with select(), which takes no descriptor from FD_SETSIZE on.
        highest = max(int(name) for name in os.listdir("/proc/self/fd"))
        hint = f" (descriptors up to {highest}: select() takes < {FD_SETSIZE})" * (
            highest >= FD_SETSIZE
        )
        raise ConnectionError(f"paho: no CONNACK 0 in {RESPONSE_TIMEOUT:g} s: {codes}{hint}")
    client.on_connect = None  # what this function needed, not what holding needs
    return client


def _paho_close(client: Any) -> None:
    client.disconnect()
    client.loop_stop()


def hold_threaded(plan: Plan) -> dict[str, Any]:
    """The blocking sides: ``concurrency`` threads each opening connections in turn (and
    ending when all are open, before anything is measured after the connects)."""
    open_one: Callable[[int], Any]
    close_one: Callable[[Any], None]
    if plan.side == SYNC:
        from pco_wire import Client, Settings

        settings = Settings(f"mqtt://127.0.0.1:{plan.port}", keep_alive=KEEP_ALIVE)

        def open_client(index: int) -> Any:
            client = Client(settings)
            client.connect()
            return client

        def close_client(client: Any) -> None:
            client.disconnect()

        open_one, close_one = open_client, close_client
    else:

        def open_paho(index: int) -> Any:
            return _paho_open(plan.port, index)

        open_one, close_one = open_paho, _paho_close

    close_one(open_one(0))
    time.sleep(0.1)
    gc.collect()
    rss_before = rss_kib()

    lock = threading.Lock()
    held: list[Any] = []
    failure: list[str] = []
    indexes = iter(range(1, plan.count + 1))
    deadline = time.monotonic() + plan.connect_deadline

    def opener() -> None:
        while not failure:
            with lock:
                index = next(indexes, None)
            if index is None:
                return
            if time.monotonic() > deadline:
                failure.append(f"not all connected in {plan.connect_deadline:g} s")
                return
            try:
                connection = open_one(index)
            except Exception as exc:
                failure.append(f"connection {index}: {type(exc).__name__}: {exc}")
                return
            with lock:
                held.append(connection)

    started = time.perf_counter()
    _run_threads(opener, plan.concurrency, deadline)
    connect_seconds = time.perf_counter() - started

    facts: dict[str, Any] = {}
    if not failure and len(held) == plan.count:
        time.sleep(plan.settle)
        cpu_before = cpu_seconds()
        time.sleep(plan.idle)
        cpu = cpu_seconds() - cpu_before
        gc.collect()
        facts = _held_facts(plan, connect_seconds, rss_before, cpu)
    elif not failure:
        failure.append(f"{len(held)} of {plan.count} connected in {plan.connect_deadline:g} s")

    closers = iter(list(held))

    def closer() -> None:
        while True:
            with lock:
                connection = next(closers, None)
            if connection is None:
                return
            close_one(connection)

    if not _run_threads(closer, plan.concurrency, time.monotonic() + plan.teardown_deadline):
        facts["teardown"] = f"not done in {plan.teardown_deadline:g} s"
    return _result(plan, held, failure, facts)


def _run_threads(target: Callable[[], None], count: int, deadline: float) -> bool:
    """``count`` daemon threads running ``target``; whether all ended by ``deadline``."""
    threads = [threading.Thread(target=target, daemon=True) for _ in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(max(0.0, deadline - time.monotonic()))
    return not any(thread.is_alive() for thread in threads)


def worker(plan: Plan) -> None:
    """One side, one size, in this (fresh) process: prints its facts as one JSON line."""
    raise_descriptor_limit()
    if plan.side in THREADED:
        facts = hold_threaded(plan)
    else:
        facts = asyncio.run(hold_async(plan))
    sys.stdout.write(json.dumps(facts) + "\n")
    sys.stdout.flush()
    # A teardown that ran out of time leaves threads or sockets behind: do not wait on them.
    os._exit(0)


# ------------------------------------------------------------------------- the run


def run_worker(directory: Path, side: str, count: int, args: argparse.Namespace) -> dict[str, Any]:
    """One side and size in a fresh process against a fresh broker (so that ports in
    TIME_WAIT from the previous side are another destination's)."""
    broker = Mosquitto(directory)
    plan = Plan(side, count, broker.port, args.concurrency, args.idle)
    timeout = plan.connect_deadline + plan.teardown_deadline + plan.idle + 60
    command = [
        sys.executable,
        __file__,
        "--worker",
        side,
        "--count",
        str(count),
        "--port",
        str(broker.port),
        "--concurrency",
        str(args.concurrency),
        "--idle",
        str(args.idle),
    ]
    process: subprocess.Popen[str] | None = None
    try:
        broker.start()
        process = subprocess.Popen(
            command,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            preexec_fn=_child_setup,
        )
        try:
            out, err = process.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            return {"error": f"the worker did not finish in {timeout:g} s"}
        lines = out.strip().splitlines()
        if process.returncode != 0 or not lines:
            tail = err.strip().splitlines()[-3:]
            return {"error": f"the worker exited {process.returncode}: {' / '.join(tail)}"}
        facts: dict[str, Any] = json.loads(lines[-1])
        logged = broker.logged()
        if facts.get("error") and logged:
            facts["error"] += f" (mosquitto: {logged[-300:]})"
        return facts
    finally:
        if process is not None and process.poll() is None:
            process.kill()
            process.wait(STOP_TIMEOUT)
        broker.stop()


def _ratio(value: float | None, base: float | None) -> str:
    return f" ({value / base:.2f}x)" if value is not None and base else ""


def _cell(facts: dict[str, Any] | None, key: str, base: dict[str, Any] | None, digits: int) -> str:
    if facts is None:
        return "n/a"
    if facts.get("error"):
        connected = facts.get("connected")
        return "failed" if connected is None else f"failed after {connected:,}"
    value = facts.get(key)
    if value is None:
        return "n/a"
    text = f"{value:,.{digits}f}"
    if key == "held":
        return f"{value:,}/{facts['count']:,}"
    base_value = base.get(key) if base and not base.get("error") else None
    return text + (_ratio(value, base_value) if key != "idle_cpu_percent" else "")


def render(
    round_trips: dict[str, float],
    held: dict[tuple[int, str], dict[str, Any]],
    sizes: list[int],
    args: argparse.Namespace,
) -> list[str]:
    lines = [
        "| measure | " + " | ".join(SIDES) + " |",
        "|---|" + "---:|" * len(SIDES),
    ]
    base = round_trips.get(RAW)
    cells = []
    for side in SIDES:
        seconds = round_trips.get(side)
        cells.append("n/a" if seconds is None else f"{seconds * 1e6:,.0f}{_ratio(seconds, base)}")
    title = f"round trip in process, µs (median of {args.rounds})"
    lines.append(f"| {title} | " + " | ".join(cells) + " |")
    rows = (
        ("connect rate, connections/s", "rate", 0),
        ("memory per connection, KiB", "kib_per_connection", 2),
        ("CPU while idle, % of a core", "idle_cpu_percent", 3),
        (f"held after {args.idle:g} s idle", "held", 0),
    )
    for count in sizes:
        raw = held.get((count, RAW))
        for title, key, digits in rows:
            cells = [_cell(held.get((count, side)), key, raw, digits) for side in SIDES]
            lines.append(f"| {count:,} held: {title} | " + " | ".join(cells) + " |")
    return lines


def verdicts(
    held: dict[tuple[int, str], dict[str, Any]], sizes: list[int], aio_missing: str
) -> list[str]:
    if aio_missing:
        return ["targets: not checked, pco_wire.asyncio not available"]

    def usable(facts: dict[str, Any] | None) -> dict[str, Any] | None:
        return facts if facts is not None and not facts.get("error") else None

    lines = []
    for count in sizes:
        raw, ours = usable(held.get((count, RAW))), usable(held.get((count, AIO)))
        if raw is None or ours is None:
            lines.append(f"targets at {count:,}: not checked, a side failed")
            continue
        memory = ours["kib_per_connection"] / raw["kib_per_connection"]
        rate = ours["rate"] / raw["rate"]
        lines.append(
            f"target at {count:,}: pco_wire.asyncio memory per connection"
            f" <= {MEMORY_TARGET:g}x raw: "
            f"{'met' if memory <= MEMORY_TARGET else 'MISSED'} ({memory:.2f}x)"
        )
        lines.append(
            f"target at {count:,}: pco_wire.asyncio connect rate >= {RATE_TARGET:g}x raw: "
            f"{'met' if rate >= RATE_TARGET else 'MISSED'} ({rate:.2f}x)"
        )
    cpu_at = CPU_TARGET_AT if CPU_TARGET_AT in sizes else max(sizes)
    ours = usable(held.get((cpu_at, AIO)))
    if ours is not None:
        cpu = ours["idle_cpu_percent"]
        note = "" if cpu_at == CPU_TARGET_AT else f" (at {cpu_at:,}: the target is for 10,000)"
        lines.append(
            f"target: idle CPU of 10,000 pco_wire.asyncio connections < {CPU_TARGET:g} % of a "
            f"core: {'met' if cpu < CPU_TARGET else 'MISSED'} ({cpu:.3f} %){note}"
        )
    return lines


def check_raw_bytes() -> None:
    """The raw sides must send what pco_wire sends for the same client ID."""
    from pco_wire import Settings, encode

    ident = client_id("rawasyncio", 1)
    ours = encode(Settings("mqtt://127.0.0.1:1", keep_alive=KEEP_ALIVE).connect_packet(ident))
    if ours != connect_bytes(ident):
        raise RuntimeError(f"raw CONNECT {connect_bytes(ident).hex()} != pco_wire's {ours.hex()}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--connections",
        help="sizes of the held-connection runs, comma-separated (default 1000,10000; --quick: 50)",
    )
    parser.add_argument("--quick", action="store_true", help="a smoke run: small and short")
    parser.add_argument("--concurrency", type=int, default=100, help="connects in flight")
    parser.add_argument("--idle", type=float, help="idle window, seconds (default 10; --quick: 1)")
    parser.add_argument(
        "--rounds", type=int, help="round trips per side (default 200; --quick: 20)"
    )
    parser.add_argument(
        "--threaded-max",
        type=int,
        default=1000,
        help="largest size run for the thread-per-connection sides",
    )
    parser.add_argument("--worker", choices=SIDES, help=argparse.SUPPRESS)
    parser.add_argument("--count", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.idle is None:
        args.idle = 1.0 if args.quick else 10.0
    if args.rounds is None:
        args.rounds = 20 if args.quick else 200
    if args.worker:
        worker(Plan(args.worker, args.count, args.port, args.concurrency, args.idle))
    try:
        default = "50" if args.quick else "1000,10000"
        sizes = [int(size) for size in (args.connections or default).split(",")]
    except ValueError:
        parser.error("--connections: sizes as whole numbers separated by commas, e.g. 1000,10000")
    if any(size < 1 for size in sizes) or args.concurrency < 1 or args.idle <= 0 or args.rounds < 1:
        parser.error("sizes, --concurrency and --rounds at least 1, --idle above 0")

    try:
        require("mosquitto")
    except AssertionError as exc:
        print(f"asyncio_bench: {exc}", file=sys.stderr)
        return 1
    raise_descriptor_limit()
    check_raw_bytes()
    aio, aio_missing = load_asyncio_driver()
    if aio_missing:
        print(f"pco_wire.asyncio not available ({aio_missing}): its sides are skipped", flush=True)
    codec = importlib.import_module("pco_wire").IMPLEMENTATION
    print(
        f"python {sys.version.split()[0]}, codec {codec}, "
        f"{os.cpu_count()} cores, load {os.getloadavg()[0]:.2f}, descriptors "
        f"{resource.getrlimit(resource.RLIMIT_NOFILE)[0]}, concurrency {args.concurrency}",
        flush=True,
    )
    held: dict[tuple[int, str], dict[str, Any]] = {}
    failed = False
    with tempfile.TemporaryDirectory(prefix="pco_wire-asyncio-bench-") as name:
        directory = Path(name)
        broker = Mosquitto(directory)
        try:
            broker.start()
            round_trips = asyncio.run(measure_round_trips(broker.port, aio, args.rounds))
        finally:
            broker.stop()
        for count in sizes:
            for side in SIDES:
                if (side == AIO and aio_missing) or (
                    side in THREADED and count > args.threaded_max
                ):
                    continue
                started = time.monotonic()
                facts = held[count, side] = run_worker(directory, side, count, args)
                status = facts.get("error") or facts.get("teardown") or "done"
                took = time.monotonic() - started
                print(f"  {count:,} {side}: {status} ({took:.1f} s)", flush=True)
                # paho is a peer to compare with: its own limits are reported, not ours.
                failed = failed or (bool(facts.get("error")) and side != PAHO)
    print()
    if args.quick:
        print(f"a smoke run ({', '.join(map(str, sizes))} connections, {args.idle:g} s idle):")
    for line in [*render(round_trips, held, sizes, args), "", *verdicts(held, sizes, aio_missing)]:
        print(line)
    for (count, side), facts in held.items():
        if facts.get("error"):
            print(f"{count:,} {side} failed: {facts['error']}")
    return 1 if failed else 0


def _stop_on_sigterm(signum: int, frame: Any) -> None:
    # As for Ctrl-C: unwind, so that every `finally` stops what it started.
    raise SystemExit(128 + signum)


if __name__ == "__main__":
    signal.signal(signal.SIGTERM, _stop_on_sigterm)
    try:
        sys.exit(main())
    except KeyboardInterrupt:
        print("interrupted: the brokers and workers started are stopped", file=sys.stderr)
        sys.exit(130)
