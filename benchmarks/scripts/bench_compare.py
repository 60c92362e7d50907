"""``python -m pco_wire bench`` against the raw asyncio loop and paho-mqtt, in one run.

    .venv/bin/python benchmarks/scripts/bench_compare.py [--connections 10000] [--quick]

Issue 11, "Benchmarks". Every side runs in a fresh process of its own against a fresh
Mosquitto this script starts on a free loopback port and stops by PID (also on Ctrl-C or
SIGTERM; the helpers are those of asyncio_bench.py): the same binary and configuration for
every side, a broker each so that one side's ports in TIME_WAIT are not the next one's and
the broker's CPU is that side's alone. Nothing leaves 127.0.0.1. The sides:

- **bench**, ``python -m pco_wire bench mqtt://127.0.0.1:PORT --connections N --rate R
  --concurrency C --duration D --json``, on ``--loop uvloop`` and on ``--loop asyncio``;
  its own JSON gives the figures. IDs of 23 characters (``--client-id-prefix bc`` and a
  21-digit ``--start-number``), keep-alive its default.
- **raw loop**, on the same event loop type as each bench side: a raw asyncio Protocol per
  connection (asyncio_bench.RawConnection: the same CONNECT bytes, checked against
  pco_wire's encoding of bench's settings, a PINGREQ timer per keep-alive), started on
  bench's own ``Schedule`` (pco_wire/bench.py) at the same rate with at most the same
  number in flight, a task per attempt as bench has; held D seconds, then DISCONNECT.
- **paho loop_start**, paho-mqtt clients with a thread each (``--paho`` of them, 1,000 by
  default), ``--concurrency`` threads opening them. paho waits with select(), which takes
  no descriptor from 1024 on: it stops after some 340 clients, and the table says so.

The figures, each taken over the same window as bench takes its own (pco_wire/cli/bench.py,
``_Bench.main``): from just before the first attempt is due until every attempt ended.
"conn/s" is the connections made divided by that window; "CPU s / 1,000" the process's user
and system time (getrusage) in it, per 1,000 attempts; "KiB / conn" its VmRSS growth in it,
per connection made (no gc.collect(), as bench). "held" is what the side held at the end of
D seconds (bench's own count; for the others the ESTABLISHED sockets to the broker's port,
/proc/net/tcp). "broker CPU s / 1,000" is the Mosquitto's user and system time
(/proc/PID/stat) from before the side's process started until it ended, per 1,000
connections made. Ratios are against the raw loop on the same event loop.

Targets (issue 11): bench's CPU per connection at most 1.5x the raw loop's (each loop), and
19,000 connections held by one process (``--hold-max``: one bench run on uvloop; only
when the hard descriptor limit allows). Printed as met or MISSED; the exit status is 1 only
when a side of ours (bench or the raw loop) could not be measured. Linux only (/proc).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from asyncio_bench import (
    DISCONNECT,
    KEEP_ALIVE,
    ROOT,
    Mosquitto,
    RawConnection,
    _child_setup,
    _paho_close,
    _paho_open,
    _run_threads,
    _stop_on_sigterm,
    client_id,
    connect_bytes,
    cpu_seconds,
    established_to,
    raise_descriptor_limit,
    raw_open,
    rss_kib,
)

from tests.broker import STOP_TIMEOUT, require

LOOPS = ("uvloop", "asyncio")
BENCH = "bench"
RAW = "raw loop"
PAHO = "paho loop_start"
#: bench's IDs: "bc" and a 21-digit counter, 23 characters as the raw loop's.
ID_PREFIX = "bc"
ID_START = 10**20
CPU_TARGET = 1.5
HOLD_TARGET = 19_000
#: Seconds the raw loop gives its DISCONNECTs to go out and the broker to close (bench's
#: DISCONNECT_WAIT).
CLOSE_WAIT = 3.0
_CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def broker_cpu(pid: int) -> float:
    """User + system seconds of process ``pid`` (/proc/PID/stat, fields 14 and 15)."""
    with open(f"/proc/{pid}/stat", encoding="ascii") as stat:
        # The command may hold spaces: the fields after it start past the last ")".
        fields = stat.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / _CLOCK_TICKS


def new_loop(name: str) -> Callable[[], asyncio.AbstractEventLoop]:
    if name == "uvloop":
        import uvloop

        return uvloop.new_event_loop
    return asyncio.new_event_loop


# ------------------------------------------------------------------------- workers


async def hold_raw(
    port: int, count: int, rate: float | None, concurrency: int, hold: float
) -> dict[str, Any]:
    """The raw loop, launched as bench launches (``_Bench._launch``)."""
    from pco_wire.bench import Schedule

    loop = asyncio.get_running_loop()
    held: list[RawConnection] = []
    failures: list[str] = []
    in_flight = 0
    room: list[asyncio.Future[None]] = []

    async def attempt(index: int) -> None:
        nonlocal in_flight
        in_flight += 1
        try:
            held.append(await raw_open(port, client_id("rawloop", index)))
        except Exception as exc:
            failures.append(f"connection {index}: {type(exc).__name__}: {exc}")
        finally:
            in_flight -= 1
            if room and not room[0].done():
                room.pop().set_result(None)

    attempts: set[asyncio.Task[None]] = set()
    cpu_start, rss_start = cpu_seconds(), rss_kib()
    started = time.monotonic()
    schedule = Schedule(count, rate, loop.time())
    index = 0
    while index < count:
        due = schedule.due_by(loop.time())
        while index < due:
            if in_flight >= concurrency:
                room.append(loop.create_future())
                await room[-1]
                continue
            task = loop.create_task(attempt(index))
            attempts.add(task)
            task.add_done_callback(attempts.discard)
            index += 1
        if index < count:
            await asyncio.sleep(max(schedule.due(index) - loop.time(), 0))
    while attempts:
        await asyncio.wait(set(attempts))
    connect_seconds = time.monotonic() - started
    cpu, rss = cpu_seconds() - cpu_start, rss_kib() - rss_start
    await asyncio.sleep(hold)
    established = established_to(port)
    for connection in held:
        connection.goodbye()
    deadline = loop.time() + CLOSE_WAIT
    while any(not c.closed for c in held) and loop.time() < deadline:
        await asyncio.sleep(0.01)
    return _facts(count, len(held), connect_seconds, cpu, rss, established, failures)


def hold_paho(port: int, count: int, concurrency: int, hold: float) -> dict[str, Any]:
    """paho clients, ``concurrency`` threads opening them in turn."""
    lock = threading.Lock()
    held: list[Any] = []
    failures: list[str] = []
    indexes = iter(range(count))
    deadline = time.monotonic() + 30 + count / 100

    def opener() -> None:
        while not failures:
            with lock:
                index = next(indexes, None)
            if index is None:
                return
            try:
                client = _paho_open(port, index)
            except Exception as exc:
                failures.append(f"connection {index}: {type(exc).__name__}: {exc}")
                return
            with lock:
                held.append(client)

    cpu_start, rss_start = cpu_seconds(), rss_kib()
    started = time.monotonic()
    _run_threads(opener, min(concurrency, count), deadline)
    connect_seconds = time.monotonic() - started
    cpu, rss = cpu_seconds() - cpu_start, rss_kib() - rss_start
    time.sleep(hold)
    established = established_to(port)
    closers = iter(list(held))

    def closer() -> None:
        while True:
            with lock:
                client = next(closers, None)
            if client is None:
                return
            _paho_close(client)

    _run_threads(closer, min(concurrency, count), time.monotonic() + 30 + count / 200)
    return _facts(count, len(held), connect_seconds, cpu, rss, established, failures)


def _facts(
    count: int,
    connected: int,
    connect_seconds: float,
    cpu: float,
    rss_kib_growth: int,
    held: int,
    failures: list[str],
) -> dict[str, Any]:
    return {
        "count": count,
        "connected": connected,
        "held": held,
        "conn_per_second": connected / connect_seconds if connect_seconds > 0 else None,
        "cpu_per_1000": cpu / count * 1000,
        "kib_per_connection": rss_kib_growth / connected if connected else None,
        "error": f"{len(failures)} failed, the first: {failures[0]}" if failures else None,
    }


def worker(args: argparse.Namespace) -> None:
    raise_descriptor_limit()
    rate = args.rate or None
    if args.worker == PAHO:
        facts = hold_paho(args.port, args.count, args.concurrency, args.duration)
    else:
        with asyncio.Runner(loop_factory=new_loop(args.loop)) as runner:
            coroutine = hold_raw(args.port, args.count, rate, args.concurrency, args.duration)
            facts = runner.run(coroutine)
    sys.stdout.write(json.dumps(facts) + "\n")
    sys.stdout.flush()
    os._exit(0)  # paho threads that did not end are not waited on


# ------------------------------------------------------------------------- the run


def side_command(
    side: str, loop: str | None, count: int, port: int, args: argparse.Namespace
) -> list[str]:
    common = ["--concurrency", str(args.concurrency), "--duration", f"{args.duration:g}"]
    if side == BENCH:
        return [
            sys.executable, "-m", "pco_wire", "bench", f"mqtt://127.0.0.1:{port}",
            "--connections", str(count), "--rate", f"{args.rate:g}", *common, "--json",
            "--loop", str(loop), "--client-id-prefix", ID_PREFIX, "--start-number", str(ID_START),
        ]  # fmt: skip
    return [
        sys.executable, __file__, "--worker", side, "--loop", str(loop or "asyncio"),
        "--count", str(count), "--port", str(port), "--rate", f"{args.rate:g}", *common,
    ]  # fmt: skip


def bench_facts(document: dict[str, Any]) -> dict[str, Any]:
    """bench's JSON as the figures of the table (over the same window: see the docstring)."""
    connected, attempts = document["connected"], document["attempts"]
    seconds = document["seconds"]["connecting"]
    per = document["cpu_seconds_per_connection"]
    rss = document["rss_bytes_per_connection"]
    if document["plan"]["keep_alive"] != KEEP_ALIVE:
        raise RuntimeError(f"bench's keep-alive {document['plan']['keep_alive']} != {KEEP_ALIVE}")
    problems = [
        f"{row['count']} {row['category']}: {row['example']}" for row in document["failures"]
    ]
    problems += [f"{row['count']} lost {row['category']}" for row in document["losses"]]
    return {
        "count": document["plan"]["connections"],
        "connected": connected,
        "held": document["held"],
        "conn_per_second": connected / seconds if seconds else None,
        "cpu_per_1000": None if per is None else per * 1000,
        "kib_per_connection": None if rss is None else rss / 1024,
        "attempt_rate": document["rate"],
        "error": "; ".join(problems)
        or (None if attempts == document["plan"]["connections"] else document["message"]),
    }


def run_side(
    directory: Path, side: str, loop: str | None, count: int, args: argparse.Namespace
) -> dict[str, Any]:
    broker = Mosquitto(directory)
    timeout = 120 + count / 50 + args.duration
    process: subprocess.Popen[str] | None = None
    try:
        broker.start()
        assert broker.process is not None
        pid = broker.process.pid
        broker_before = broker_cpu(pid)
        process = subprocess.Popen(
            side_command(side, loop, count, broker.port, args),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            cwd=ROOT,
            preexec_fn=_child_setup,
        )
        try:
            out, err = process.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            return {"error": f"did not finish in {timeout:g} s"}
        broker_seconds = broker_cpu(pid) - broker_before
        try:
            document = json.loads(out)
        except ValueError:
            tail = " / ".join(err.strip().splitlines()[-3:])
            return {"error": f"exited {process.returncode} without JSON: {tail}"}
        facts = bench_facts(document) if side == BENCH else document
        if facts.get("connected"):
            facts["broker_cpu_per_1000"] = broker_seconds / facts["connected"] * 1000
        return facts
    finally:
        if process is not None and process.poll() is None:
            process.kill()
            process.wait(STOP_TIMEOUT)
        broker.stop()


def check_connect_bytes() -> None:
    """The raw loop must send what bench sends: its default settings, a 23-character ID."""
    from pco_wire import Settings, encode

    ident = f"{ID_PREFIX}{ID_START}"
    assert len(ident) == len(client_id("rawloop", 1)) == 23
    ours = encode(Settings("mqtt://127.0.0.1:1").connect_packet(ident))
    raw = connect_bytes(client_id("rawloop", 1))
    if ours[:-23] != raw[:-23] or len(ours) != len(raw):
        raise RuntimeError(f"raw CONNECT {raw.hex()} differs from bench's {ours.hex()}")
    assert DISCONNECT == b"\xe0\x00"


COLUMNS = (
    ("conn/s", "conn_per_second", 0),
    ("CPU s / 1,000", "cpu_per_1000", 3),
    ("KiB / conn", "kib_per_connection", 2),
    ("broker CPU s / 1,000", "broker_cpu_per_1000", 3),
)


def _cell(facts: dict[str, Any], key: str, digits: int, base: dict[str, Any] | None) -> str:
    value = facts.get(key)
    if value is None:
        return "n/a"
    text = f"{value:,.{digits}f}"
    base_value = None if base is None else base.get(key)
    return text + (f" ({value / base_value:.2f}x)" if base_value and base is not facts else "")


def render(results: list[tuple[str, str | None, dict[str, Any]]]) -> list[str]:
    lines = [
        "| side | loop | connected | held | " + " | ".join(c[0] for c in COLUMNS) + " |",
        "|---|---|---:|---:|" + "---:|" * len(COLUMNS),
    ]
    raws = {loop: facts for side, loop, facts in results if side == RAW}
    for side, loop, facts in results:
        base = raws.get(loop) if side != PAHO else None
        if "count" not in facts:
            lines.append(
                f"| {side} | {loop or '-'} | failed | | " + " | " * (len(COLUMNS) - 1) + " |"
            )
            continue
        cells = [_cell(facts, key, digits, base) for _, key, digits in COLUMNS]
        lines.append(
            f"| {side} | {loop or 'threads'} | {facts['connected']:,}/{facts['count']:,} "
            f"| {facts['held']:,} | " + " | ".join(cells) + " |"
        )
    return lines


def verdicts(
    results: list[tuple[str, str | None, dict[str, Any]]], hold: dict[str, Any] | None, hard: int
) -> list[str]:
    lines = []
    for loop in LOOPS:
        found = {side: f for side, lp, f in results if lp == loop and side in (BENCH, RAW)}
        ours, raw = found.get(BENCH, {}), found.get(RAW, {})
        if not ours.get("cpu_per_1000") or not raw.get("cpu_per_1000"):
            lines.append(f"target on {loop}: bench CPU per connection: not checked, a side failed")
            continue
        ratio = ours["cpu_per_1000"] / raw["cpu_per_1000"]
        verdict = "met" if ratio <= CPU_TARGET else "MISSED"
        lines.append(
            f"target on {loop}: bench CPU per connection <= {CPU_TARGET:g}x the raw loop's: "
            f"{verdict} ({ratio:.2f}x)"
        )
    if hold is None:
        lines.append(
            f"target: {HOLD_TARGET:,} held by one process: not run (--hold-max; hard "
            f"descriptor limit {hard:,})"
        )
    else:
        verdict = (
            "met" if hold.get("held", 0) >= HOLD_TARGET and not hold.get("error") else "MISSED"
        )
        lines.append(
            f"target: {HOLD_TARGET:,} held by one bench process: {verdict} "
            f"({hold.get('held', 0):,} of "
            f"{hold.get('count', 0):,} held; {hold.get('error') or 'no failure, no loss'})"
        )
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--connections", type=int, help="N (default 10000; --quick: 200)")
    parser.add_argument(
        "--rate", type=float, default=2000.0, help="R, 0: as fast as allowed (default 2000)"
    )
    parser.add_argument("--concurrency", type=int, default=100, help="C (default 100)")
    parser.add_argument("--duration", type=float, help="D, seconds held (default 10; --quick: 1)")
    parser.add_argument("--paho", type=int, help="paho clients (default 1000; --quick: 50)")
    parser.add_argument(
        "--hold-max", action="store_true", help=f"also {HOLD_TARGET:,} in one bench process"
    )
    parser.add_argument("--quick", action="store_true", help="a smoke run: small and short")
    parser.add_argument("--worker", choices=(RAW, PAHO), help=argparse.SUPPRESS)
    parser.add_argument("--loop", choices=LOOPS, help=argparse.SUPPRESS)
    parser.add_argument("--count", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.duration is None:
        args.duration = 1.0 if args.quick else 10.0
    if args.worker:
        worker(args)
    count = args.connections or (200 if args.quick else 10_000)
    paho = args.paho if args.paho is not None else (50 if args.quick else 1000)
    if count < 1 or args.concurrency < 1 or args.rate < 0 or args.duration < 0:
        parser.error("--connections and --concurrency at least 1, --rate and --duration from 0")
    try:
        require("mosquitto")
    except AssertionError as exc:
        print(f"bench_compare: {exc}", file=sys.stderr)
        return 1
    raise_descriptor_limit()
    check_connect_bytes()
    hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    codec = __import__("pco_wire").IMPLEMENTATION
    rate = "as fast as allowed" if not args.rate else f"{args.rate:g}/s"
    print(
        f"python {sys.version.split()[0]}, codec {codec}, {os.cpu_count()} cores, load "
        f"{' '.join(f'{x:.2f}' for x in os.getloadavg())}, descriptors {hard:,}; "
        f"{count:,} connections, {rate}, at most {args.concurrency} in flight, held "
        f"{args.duration:g} s",
        flush=True,
    )
    plan: list[tuple[str, str | None, int]] = []
    for loop in LOOPS:
        plan += [(RAW, loop, count), (BENCH, loop, count)]
    if paho:
        plan.append((PAHO, None, paho))
    results: list[tuple[str, str | None, dict[str, Any]]] = []
    hold: dict[str, Any] | None = None
    failed = False
    with tempfile.TemporaryDirectory(prefix="pco_wire-bench-compare-") as name:
        directory = Path(name)
        for side, event_loop, size in plan:
            started = time.monotonic()
            facts = run_side(directory, side, event_loop, size, args)
            results.append((side, event_loop, facts))
            took = time.monotonic() - started
            status = facts.get("error") or "done"
            print(f"  {size:,} {side} {event_loop or ''}: {status} ({took:.1f} s)", flush=True)
            failed = failed or (side != PAHO and ("count" not in facts or bool(facts.get("error"))))
        if args.hold_max and hard >= HOLD_TARGET + 100:
            hold = run_side(directory, BENCH, "uvloop", HOLD_TARGET, args)
            print(f"  {HOLD_TARGET:,} bench uvloop: {hold.get('error') or 'done'}", flush=True)
    print(f"\nload average after: {' '.join(f'{x:.2f}' for x in os.getloadavg())}\n")
    lines = render(results)
    if hold is not None:
        lines += render([(f"bench, {HOLD_TARGET:,}", "uvloop", hold)])[2:]
    for line in [*lines, "", *verdicts(results, hold, hard)]:
        print(line)
    for side, event_loop, facts in results:
        if facts.get("error"):
            print(f"{side} {event_loop or ''}: {facts['error'][:300]}")
    return 1 if failed else 0


if __name__ == "__main__":
    signal.signal(signal.SIGTERM, _stop_on_sigterm)
    try:
        sys.exit(main())
    except KeyboardInterrupt:
        print("interrupted: the brokers and workers started are stopped", file=sys.stderr)
        sys.exit(130)
