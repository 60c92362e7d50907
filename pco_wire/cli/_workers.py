"""``bench --workers W``: W processes on this machine, each with its share of the
connections, of the rate and concurrency, and of the source addresses, and one summary.

The workers are forked once the settings are checked (no event loop runs yet, no thread
either); each runs the one-process bench (``_Bench``) and sends what it did to us as JSON
lines on a pipe: its progress every second, its sentences, and at the end its tally
(histograms included, as their buckets: they merge exactly) and its facts. This process
only waits on the pipes, prints the progress of all, and passes a stop signal on.
"""

from __future__ import annotations

import json
import os
import select
import signal
import sys
import time

from .. import cli
from ..bench import ClientIds, Histogram, Tally, merge_facts, progress_text
from .bench import PROGRESS_LINES, _isatty

TYPE_CHECKING = False
if TYPE_CHECKING:
    import argparse
    import asyncio
    from collections.abc import Callable
    from typing import Any

    from ..settings import Settings

#: Seconds the workers have to end once told to stop (their DISCONNECTs included).
STOP_WAIT = 10.0


def shares(total: int, workers: int) -> list[int]:
    """``total`` split into ``workers`` shares that differ by one at most, larger first."""
    return [total // workers + (1 if i < total % workers else 0) for i in range(workers)]


def run_workers(
    settings: Settings,
    ids: ClientIds | None,
    args: argparse.Namespace,
    facts: dict[str, Any],
    new_loop: Callable[[], asyncio.AbstractEventLoop],
) -> Tally:
    """Run the bench in ``args.workers`` processes; their tallies merged (and their
    facts into ``facts``)."""
    import copy

    from .bench import _STOP_SIGNALS

    workers: int = args.workers
    counts = shares(args.connections, workers)
    sources: tuple[str, ...] | None = args.source
    children: dict[int, tuple[int, int]] = {}  # read descriptor -> (pid, index)
    started = time.monotonic()
    first = 0
    for index, count in enumerate(counts):
        if count == 0:
            continue
        share = copy.copy(args)
        share.connections = count
        share.rate = None if args.rate is None else args.rate * count / args.connections
        share.concurrency = max(1, -(-args.concurrency * count // args.connections))
        if sources is not None:
            share.source = sources[index::workers] or (sources[index % len(sources)],)
        share_ids = None if ids is None else ClientIds(ids.prefix, ids.start + first, count)
        first += count
        read, write = os.pipe()
        pid = os.fork()
        if pid == 0:  # the worker
            os.close(read)
            for other in children:
                os.close(other)
            _worker(write, settings, share_ids, count, share, dict(facts), new_loop)
        os.close(write)
        children[read] = (pid, index)
    stopped: list[int] = []

    def stop(signum: int, frame: object) -> None:
        if not stopped:
            stopped.append(signum)
        for pid, _ in children.values():
            try:
                os.kill(pid, signum)
            except ProcessLookupError:
                pass

    previous = {signum: signal.signal(signum, stop) for signum in _STOP_SIGNALS}
    try:
        results = _gather(children, stopped)
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
    tally = Tally()
    parts = []
    bugs = []
    for result in results:
        if "bug" in result:
            bugs.append(result["bug"])
            continue
        tally.merge(Tally.from_state(result["tally"]))
        parts.append(result["facts"])
    if bugs:
        raise RuntimeError(f"a worker failed: {bugs[0]}")
    if len(results) < len(children):
        missing = len(children) - len(results)
        raise RuntimeError(
            f"{missing} of {len(children)} workers ended without saying what they did "
            "(killed, or out of memory?)"
        )
    facts.update(merge_facts(parts))
    facts["held"] = facts.get("held") or 0
    facts["total_seconds"] = time.monotonic() - started
    stops = [p["stopped_by"] for p in parts if p.get("stopped_by")]
    if stopped or stops:
        number = stopped[0] if stopped else int(signal.Signals[stops[0]])
        facts["stopped_by"] = _STOP_SIGNALS[signal.Signals(number)]
        facts["stop_status"] = 128 + number
    return tally


def _worker(
    write: int,
    settings: Settings,
    ids: ClientIds | None,
    count: int,
    args: argparse.Namespace,
    facts: dict[str, Any],
    new_loop: Callable[[], asyncio.AbstractEventLoop],
) -> None:
    """A forked worker: runs its share, sends its tally, and exits (never returns)."""
    from .bench import _STOP_SIGNALS, _Bench, _run_loop

    status = 0
    early: list[int] = []
    try:
        for signum in _STOP_SIGNALS:
            signal.signal(signum, lambda number, frame: early.append(number))
        pipe = os.fdopen(write, "w", encoding="utf-8")

        def send(message: dict[str, Any]) -> None:
            pipe.write(json.dumps(message) + "\n")
            pipe.flush()

        bench = _Bench(settings, ids, count, args, facts)
        bench.sink = send
        bench.early_stop = early[0] if early else None
        try:
            _run_loop(bench, new_loop)
            send({"tally": bench.tally.state(), "facts": facts})
        except Exception as exc:  # a bug of ours: the parent says so (exit 70)
            send({"bug": f"{type(exc).__name__}: {exc}"})
        pipe.close()
    except BaseException:
        status = 70
    finally:
        os._exit(status)


def _gather(children: dict[int, tuple[int, int]], stopped: list[int]) -> list[dict[str, Any]]:
    """Read the workers' lines until each has ended; print the progress of all."""
    buffers = dict.fromkeys(children, b"")
    results: list[dict[str, Any]] = []
    progress: dict[int, dict[str, Any]] = {}
    said: set[str] = set()
    open_fds = set(children)
    # On a terminal one line rewritten in place, as a single process shows it.
    tty = _isatty(sys.stderr)
    shown = False  # a progress line is on the terminal, to be cleared before a sentence
    next_progress = time.monotonic() + PROGRESS_LINES
    deadline: float | None = None
    while open_fds:
        now = time.monotonic()
        if stopped and deadline is None:
            deadline = now + STOP_WAIT
        if deadline is not None and now > deadline:
            for fd in open_fds:
                os.kill(children[fd][0], signal.SIGKILL)
            break
        timeout = max(0.0, min(next_progress, deadline or next_progress) - now)
        ready, _, _ = select.select(list(open_fds), [], [], timeout)
        for fd in ready:
            chunk = os.read(fd, 65536)
            if not chunk:
                open_fds.discard(fd)
                continue
            buffers[fd] += chunk
            *lines, buffers[fd] = buffers[fd].split(b"\n")
            for line in lines:
                message = json.loads(line)
                if "progress" in message:
                    progress[fd] = message["progress"]
                elif "say" in message:
                    if message["say"] not in said:
                        said.add(message["say"])
                        if shown:
                            shown = not cli.err.line("\r\x1b[K", time.monotonic() + 0.1, end="")
                        cli.err.line(message["say"], time.monotonic() + 0.1)
                else:
                    results.append(message)
        if time.monotonic() >= next_progress:
            next_progress = time.monotonic() + PROGRESS_LINES
            if progress:
                text, soon = _progress_line(progress), time.monotonic() + 0.1
                if tty:
                    shown = cli.err.line(f"\r{text}\x1b[K", soon, end="") or shown
                else:
                    cli.err.line(f"progress: {text}", soon)
    if shown:
        cli.err.line("\r\x1b[K", time.monotonic() + 0.1, end="")
    for fd, (pid, _) in children.items():
        os.close(fd)
        os.waitpid(pid, 0)
    return results


def _progress_line(progress: dict[int, dict[str, Any]]) -> str:
    tally = Tally()
    held = 0
    for snapshot in progress.values():
        for name in ("started", "connected", "failed", "lost", "cancelled"):
            setattr(tally, name, getattr(tally, name) + snapshot[name])
        tally.connect["total"].merge(Histogram.from_state(snapshot["total"]))
        held += snapshot["held"]
        for name, pick in (("first_start", min), ("last_start", max)):
            times = [t for t in (getattr(tally, name), snapshot[name]) if t is not None]
            setattr(tally, name, pick(times) if times else None)
    return f"{progress_text(tally)}; {len(progress)} workers, {held:,} held"
