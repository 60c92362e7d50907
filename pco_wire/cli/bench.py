"""``python -m pco_wire bench URI``: many connections opened on a schedule, held, and
measured, on the asyncio driver.

The pure parts (schedule, client IDs, histograms, the tally and the summary) are in
pco_wire/bench.py; this module only waits and counts. One task per attempt while it
connects, none per held connection: a held one is its Connection and a small ``_Held``
owner that counts its events, with one timer for ``--ping-interval``.
"""

from __future__ import annotations

import errno
import os
import resource
import signal
import sys
import time

from .. import cli
from ..bench import (
    ClientIds,
    Schedule,
    Summary,
    Tally,
    descriptor_problem,
    parse_sources,
    progress_text,
)
from ..errors import Error, InvalidSettings, LocalProtocolError

TYPE_CHECKING = False
if TYPE_CHECKING:
    import argparse
    import asyncio
    from collections.abc import Callable
    from typing import Any

    from ..asyncio.connection import Connection
    from ..events import SessionEvent
    from ..settings import Settings
    from ..supervisor import Supervisor
    from ..transport.common import TLSSessions

#: The defaults of the bench options (also in --help and the README).
CONNECTIONS = 100
RATE = 500.0
CONCURRENCY = 100
DURATION = 5.0
PREFIX = "bench"
#: Seconds between two progress lines: rewritten in place on a terminal, else printed.
PROGRESS_TTY = 0.5
PROGRESS_LINES = 1.0
#: Seconds the held connections have, all together, to send DISCONNECT and see the
#: server close (each waits at most CLOSE_WAIT of them).
DISCONNECT_WAIT = 3.0

LOOPS = ("asyncio", "uvloop")

_STOP_SIGNALS = {signal.SIGINT: "SIGINT", signal.SIGTERM: "SIGTERM", signal.SIGHUP: "SIGHUP"}


def add_options(parser: argparse.ArgumentParser) -> None:
    """The options of bench, before the connection options of the field table."""
    from . import _argument

    group = parser.add_argument_group("bench")
    group.add_argument(
        "--connections",
        "-n",
        type=_argument(_whole(1)),
        default=CONNECTIONS,
        metavar="N",
        help=f"connections to open in all (default {CONNECTIONS})",
    )
    group.add_argument(
        "--rate",
        "-r",
        type=_argument(_rate),
        default=RATE,
        metavar="R",
        help=f"new connections a second, evenly spaced; 0: as fast as allowed (default {RATE:g})",
    )
    group.add_argument(
        "--concurrency",
        type=_argument(_whole(1)),
        default=CONCURRENCY,
        metavar="C",
        help=f"attempts in flight at most (default {CONCURRENCY})",
    )
    group.add_argument(
        "--duration",
        "-d",
        type=_argument(_seconds),
        default=DURATION,
        metavar="S",
        help="seconds to hold the connections once all are up; 0: connect and disconnect "
        f"(default {DURATION:g})",
    )
    group.add_argument(
        "--ping-interval",
        type=_argument(_positive_seconds),
        default=None,
        metavar="I",
        help="send PINGREQ every I seconds on each connection (below the keep-alive)",
    )
    group.add_argument(
        "--client-id-prefix",
        default=PREFIX,
        metavar="P",
        help=f"client IDs are P followed by a number (default {PREFIX!r})",
    )
    group.add_argument(
        "--start-number",
        type=_argument(_whole(0)),
        default=0,
        metavar="K",
        help="the number of the first client ID (default 0): keeps runs apart",
    )
    group.add_argument(
        "--source",
        type=_argument(parse_sources),
        default=None,
        metavar="ADDRESSES",
        help="local addresses to connect from, taken in turn: a list or ranges, such as "
        "127.0.0.2-127.0.0.40 (one address has some 28,000 ports toward one server port)",
    )
    group.add_argument(
        "--workers",
        "-w",
        type=_argument(_whole(1)),
        default=1,
        metavar="W",
        help="processes on this machine, each with its share of the connections, rate, "
        "concurrency and source addresses; one summary (default 1)",
    )
    group.add_argument(
        "--tls-resume",
        action="store_true",
        help="mqtts:// and wss://: resume TLS sessions after the first handshake (one "
        "session, offered by every later connection), to measure full and resumed "
        "handshakes",
    )
    group.add_argument(
        "--report",
        metavar="FILE",
        default=None,
        help="also write the run as a self-contained HTML page: charts of the connect "
        "latency and of connections over time, and the summary's figures",
    )
    group.add_argument(
        "--loop",
        choices=LOOPS,
        default=None,
        help="the event loop (default: uvloop when installed, else asyncio)",
    )


def _whole(low: int) -> Callable[[str], int]:
    def whole(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise ValueError(f"expected a whole number, got {text!r}") from None
        if value < low:
            raise ValueError(f"expected a whole number from {low} on, got {value}")
        return value

    return whole


def _rate(text: str) -> float | None:
    try:
        value = float(text)
    except ValueError:
        raise ValueError(f"expected connections a second, got {text!r}") from None
    if not 0 <= value < float("inf"):
        raise ValueError(f"expected a rate from 0 on, got {text!r}")
    return value or None


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise ValueError(f"expected seconds, got {text!r}") from None
    if not 0 <= value < float("inf"):
        raise ValueError(f"expected seconds from 0 on, got {text!r}")
    return value


def _positive_seconds(text: str) -> float:
    from ..fields import parse_seconds

    value = parse_seconds(text)
    if value <= 0:
        raise ValueError(f"expected seconds above 0, got {text!r}")
    return value


def _event_loop(name: str | None) -> tuple[str, Callable[[], asyncio.AbstractEventLoop]]:
    """The loop asked for (or the default) and how to make it; InvalidSettings when
    uvloop was asked for and is not installed."""
    import asyncio

    if name in (None, "uvloop"):
        try:
            import uvloop
        except ImportError:
            if name == "uvloop":
                raise InvalidSettings(
                    [
                        (
                            "loop",
                            "uvloop is not installed: pip install 'pco_wire[bench]' (or "
                            "uvloop), or use --loop asyncio",
                        )
                    ]
                ) from None
        else:
            return "uvloop", uvloop.new_event_loop
    return "asyncio", asyncio.new_event_loop


def run(settings: Settings, args: argparse.Namespace, warnings: list[str]) -> int:
    from ..supervisor import prepare

    if "client_id" in vars(args):
        raise InvalidSettings(
            [
                (
                    "client_id",
                    "bench gives each connection its own ID: use --client-id-prefix and "
                    "--start-number instead of --client-id",
                )
            ]
        )
    count: int = args.connections
    try:
        ids = ClientIds(args.client_id_prefix, args.start_number, count)
    except ValueError as exc:
        text = str(exc)
        if text.startswith("start number: "):
            raise InvalidSettings([("start_number", text.removeprefix("start number: "))]) from None
        raise InvalidSettings([("client_id_prefix", text)]) from None
    loop_name, new_loop = _event_loop(args.loop)
    if args.source is not None:
        from ..uri import parse_uri

        _check_sources(args.source, [parse_uri(uri).host for uri in settings.servers])
    if args.report is not None:
        from ._report import check

        check(args.report)  # before any traffic: a long run is not lost to a typo
    # MQTT 5.0 §3.1.3.1: the server assigns each connection its ID; ours are not sent.
    assigned = settings.server_assigns_id is True
    # Every setting checked once, with the first ID, before any traffic (exit 2), and the
    # modules a connection needs imported before the memory is measured.
    # Several servers: the connections are spread over them in turn (one broker process
    # holds at most its descriptor limit), each server checked alike.
    for server in settings.servers:
        attempt = prepare(settings.for_server(server), None if assigned else ids[0], shared=True)
        warnings += [w for w in attempt.warnings if w not in warnings]
        if args.tls_resume and not attempt.uri.tls:
            raise InvalidSettings(
                [
                    (
                        "tls_resume",
                        f"{attempt.uri.scheme}:// has no TLS session to resume: use mqtts:// "
                        "or wss://, or leave --tls-resume out",
                    )
                ]
            )
    if args.ping_interval is not None and 0 < settings.keep_alive <= args.ping_interval:
        raise InvalidSettings(
            [
                (
                    "ping_interval",
                    f"expected an interval below the keep-alive ({settings.keep_alive} s), "
                    f"got {args.ping_interval:g} s: the keep-alive would send PINGREQ first",
                )
            ]
        )
    # Each worker has a limit of its own: its share is what counts.
    problem = _raise_descriptor_limit(-(-count // args.workers))
    if problem is not None:
        return cli.fail(args, 2, "descriptor-limit", problem, OSError(errno.EMFILE, problem))
    for warning in warnings:
        cli.err.line(f"warning: {warning}")
    plan = _plan(args, settings)
    from ..uri import shown_text

    facts: dict[str, Any] = {
        "uri": shown_text(settings.server_uri),
        "loop": loop_name,
        "plan": plan,
        "warnings": warnings,
    }
    # With an ID of ours in the settings, each connection's own is checked alike, and
    # the settings are checked once (supervisor._check_with_id), not once a connection.
    if not assigned:
        settings = settings.replace(client_id=ids[0])
    if args.workers > 1:
        from ._workers import run_workers

        tally = run_workers(settings, None if assigned else ids, args, facts, new_loop)
    else:
        bench = _Bench(settings, None if assigned else ids, count, args, facts)
        _run_loop(bench, new_loop)
        tally = bench.tally
    summary = Summary(tally, facts)
    if args.json:
        cli.out.line(cli.json_text(summary.to_json(), indent=2))
    else:
        for line in summary.lines():
            if not cli.out.line(line):
                break  # the reader has gone: the run's outcome stands
    status = summary.exit_code()[0]
    if args.report is not None:
        from ._report import write

        problem = write(args.report, summary.to_json())
        if problem is not None:
            # The run's own failure stands; a run that went well fails for its report.
            if status:
                cli.err.line(f"report not written: {problem}")
                return status
            cli.err.line(f"FAILED (invalid-settings, exit 2): report not written: {problem}")
            return 2
    return status


def _check_sources(sources: tuple[str, ...], hosts: list[str]) -> None:
    """Raises InvalidSettings for a source address this machine cannot connect from, or
    that cannot reach a server given by address (an IPv6 source to an IPv4 server)."""
    import socket

    from ..uri import _valid_ipv4, _valid_ipv6

    for address in sources:
        six = ":" in address
        for host in hosts:
            if (_valid_ipv4(host) and six) or (_valid_ipv6(host) and not six):
                raise InvalidSettings(
                    [
                        (
                            "source",
                            f"cannot connect from {address} to {host}: an IPv{6 if six else 4} "
                            f"source address for an IPv{4 if six else 6} server",
                        )
                    ]
                )
        family = socket.AF_INET6 if six else socket.AF_INET
        try:
            with socket.socket(family, socket.SOCK_STREAM) as probe:
                probe.bind((address, 0))
        except OSError as exc:
            raise InvalidSettings(
                [
                    (
                        "source",
                        f"cannot connect from {address}: {exc.strerror or exc} (is it an "
                        "address of this machine?)",
                    )
                ]
            ) from None


def _plan(args: argparse.Namespace, settings: Settings | None) -> dict[str, Any]:
    """What was asked (``plan`` in the JSON); without settings, what the options say."""
    from ..uri import shown_text

    given = vars(args)
    return {
        "connections": args.connections,
        "rate": args.rate,
        "concurrency": args.concurrency,
        "duration": args.duration,
        "ping_interval": args.ping_interval,
        "keep_alive": settings.keep_alive if settings else given.get("keep_alive"),
        "clean_session": settings.clean_session if settings else given.get("clean_session"),
        "protocol": settings.protocol if settings else given.get("protocol"),
        "response_timeout": (
            settings.response_timeout if settings else given.get("response_timeout")
        ),
        "client_id_prefix": args.client_id_prefix,
        "start_number": args.start_number,
        "source": None if args.source is None else list(args.source),
        "workers": args.workers,
        "tls_resume": args.tls_resume,
        # Several: the connections went to each in turn. Shown as URIs are (no password).
        "servers": [shown_text(server) for server in settings.servers] if settings else None,
    }


def failed_document(args: argparse.Namespace, code: int, category: str, message: str) -> Any:
    """The --json document of a bench that could not start."""
    from ..uri import shown_text

    uri = shown_text(getattr(args, "uri", None) or "")
    return Summary.failed(code, category, message, uri, _plan(args, None)).to_json()


def _run_loop(bench: _Bench, new_loop: Callable[[], asyncio.AbstractEventLoop]) -> None:
    import asyncio

    previous = {signum: signal.getsignal(signum) for signum in _STOP_SIGNALS}
    loop = new_loop()
    try:
        asyncio.set_event_loop(loop)
        loop.run_until_complete(bench.main())
    finally:
        try:
            _cancel_all(loop)
        finally:
            asyncio.set_event_loop(None)
            loop.close()
            for signum, handler in previous.items():
                if handler is not None:
                    signal.signal(signum, handler)


def _cancel_all(loop: asyncio.AbstractEventLoop) -> None:
    import asyncio

    tasks = [task for task in asyncio.all_tasks(loop) if not task.done()]
    for task in tasks:
        task.cancel()
    if tasks:
        loop.run_until_complete(asyncio.gather(*tasks, return_exceptions=True))


def _raise_descriptor_limit(count: int) -> str | None:
    """Raise the soft descriptor limit to the hard one; the sentence when even that is
    too low for ``count`` connections."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != hard:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
        except (ValueError, OSError):
            hard = soft
    return descriptor_problem(
        count, _open_descriptors(), -1 if hard == resource.RLIM_INFINITY else hard
    )


def _open_descriptors() -> int:
    try:
        return len(os.listdir("/proc/self/fd"))
    except OSError:
        return 3


def _cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _rss_bytes() -> int | None:
    """VmRSS of this process (Linux), None where there is no /proc (or no descriptor
    left to read it with)."""
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError):
        pass
    return None


def limit_sentence(exc: BaseException, held: int, address: str) -> tuple[str, str] | None:
    """(name, sentence) for an attempt that failed on a system limit (descriptors or
    local ports) rather than on the server; None for any other failure."""
    code = _errno(exc)
    if code == errno.EMFILE:
        soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        return "descriptors", (
            f"this process ran out of file descriptors (EMFILE) with {held:,} connections "
            f"open: its limit (RLIMIT_NOFILE) is {soft:,}, the hard limit {hard:,}; raise "
            "them (ulimit -n) or use fewer --connections"
        )
    if code == errno.ENFILE:
        return "system-descriptors", (
            f"the system ran out of file descriptors (ENFILE) with {held:,} connections "
            "open here: raise fs.file-max (sysctl) or use fewer --connections"
        )
    if code == errno.EADDRNOTAVAIL:
        return "ports", (
            f"no local port was left toward {address} (EADDRNOTAVAIL) with {held:,} "
            "connections open: one source address has about 28,000 ephemeral ports "
            "(net.ipv4.ip_local_port_range) toward one server port; use fewer "
            "--connections, widen that range, or spread them over more source addresses "
            "(--source) or server ports"
        )
    return None


def _errno(exc: BaseException | None) -> int | None:
    seen = 0
    while exc is not None and seen < 8:
        if isinstance(exc, OSError) and isinstance(exc.errno, int):
            return exc.errno
        exc = exc.__cause__ or exc.__context__
        seen += 1
    return None


class _Bench:
    """One run: launch on the schedule, hold, stop, disconnect; counts into ``tally``."""

    def __init__(
        self,
        settings: Settings,
        ids: ClientIds | None,
        count: int,
        args: argparse.Namespace,
        facts: dict[str, Any],
    ) -> None:
        self.settings = settings
        #: The settings of each server: connection ``index`` goes to ``index % len``.
        self.servers = [settings.for_server(server) for server in settings.servers]
        #: None: the server assigns the IDs.
        self.ids = ids
        self.count = count
        self.concurrency: int = args.concurrency
        self.rate: float | None = args.rate
        self.duration: float = args.duration
        self.ping_interval: float | None = args.ping_interval
        self.sources: tuple[str, ...] | None = args.source
        #: --tls-resume: the session every attempt offers (see TLSSessions). Each
        #: process its own: a worker's first handshake is a full one.
        self.tls_sessions: list[TLSSessions] | None = None
        if args.tls_resume:
            from ..transport.common import TLSSessions

            # A session is the server's that gave it: one store a server.
            self.tls_sessions = [TLSSessions() for _ in self.servers]
        self.facts = facts
        self.tally = Tally()
        self.held: set[_Held] = set()
        self.attempts: set[asyncio.Task[None]] = set()
        #: Set when a signal asked us to stop, or when the end is near: a loss from then
        #: on is ours.
        self.stopping = False
        self.holding = False
        #: The first exception of ours an attempt met (re-raised at the end: exit 70).
        self.bug: Exception | None = None
        #: A worker's: what its progress lines and sentences are handed to, instead of
        #: standard error (see _workers.py).
        self.sink: Callable[[dict[str, Any]], None] | None = None
        self.early_stop: int | None = None
        self._room: asyncio.Future[None] | None = None
        self._wake: asyncio.Future[None] | None = None
        self._tty = _isatty(sys.stderr)
        self._progress_shown = False
        self._progress: asyncio.TimerHandle | None = None
        self._sampler: asyncio.TimerHandle | None = None

    async def main(self) -> None:
        import asyncio

        # Imported before the schedule starts: the first attempt must not pay for it.
        from ..asyncio import connection  # noqa: F401
        from ..transport import aio  # noqa: F401

        loop = self.loop = asyncio.get_running_loop()
        self.stop: asyncio.Future[int] = loop.create_future()
        if self.early_stop is not None:
            self.stop.set_result(self.early_stop)  # a worker told to stop before its loop ran
        for signum in _STOP_SIGNALS:
            if signal.getsignal(signum) is not signal.SIG_IGN:
                loop.add_signal_handler(signum, self._signal, signum)
        facts, tally = self.facts, self.tally
        cpu_start, rss_start = _cpu_seconds(), _rss_bytes()
        started = time.monotonic()
        self._progress = loop.call_later(self._progress_every(), self._show_progress)
        self._sample()
        try:
            schedule = Schedule(self.count, self.rate, loop.time())
            launching = loop.create_task(self._launch(schedule))
            stop: asyncio.Future[Any] = self.stop
            await asyncio.wait({launching, stop}, return_when=asyncio.FIRST_COMPLETED)
            if not launching.done():
                launching.cancel()
                await asyncio.wait({launching})
            elif launching.exception() is not None:
                raise launching.exception()  # type: ignore[misc]
            facts["connect_seconds"] = time.monotonic() - started
            tally.sample(time.monotonic(), len(self.held))
            cpu, rss = _cpu_seconds(), _rss_bytes()
            facts["cpu_connecting"] = cpu - cpu_start
            facts["attempts"], facts["connected"] = tally.started, tally.connected
            if tally.started:
                facts["cpu_per_connection"] = (cpu - cpu_start) / tally.started
            if rss is not None and rss_start is not None:
                facts["rss_growth"] = max(rss - rss_start, 0)
                if tally.connected:
                    facts["rss_per_connection"] = facts["rss_growth"] // tally.connected
            hold_start = time.monotonic()
            packets = self._packets()
            if not self.stop.done() and self.held and self.duration > 0:
                self.holding = True
                wake: asyncio.Future[Any] = loop.create_future()
                self._wake = wake
                await asyncio.wait(
                    {stop, wake}, timeout=self.duration, return_when=asyncio.FIRST_COMPLETED
                )
                self.holding = False
            facts["hold_seconds"] = time.monotonic() - hold_start
            after = self._packets()
            facts["hold_packets"] = (after[0] - packets[0], after[1] - packets[1])
            tally.sample(time.monotonic(), len(self.held))
            await self._disconnect_all()
        finally:
            self.stopping = True
            if self._progress is not None:
                self._progress.cancel()
            if self._sampler is not None:
                self._sampler.cancel()
            tally.sample(time.monotonic(), 0)  # every connection closed
            self._end_progress()
            for signum in _STOP_SIGNALS:
                loop.remove_signal_handler(signum)
        facts["held"] = facts.get("held", 0)
        facts["total_seconds"] = time.monotonic() - started
        facts["cpu_seconds"] = _cpu_seconds() - cpu_start
        facts["rss_bytes"] = _rss_bytes()
        if self.bug is not None:
            raise self.bug
        if self.stop.done():
            number = self.stop.result()
            facts["stopped_by"] = _STOP_SIGNALS[signal.Signals(number)]
            facts["stop_status"] = 128 + number

    def _signal(self, signum: int) -> None:
        if not self.stop.done():
            self.stop.set_result(signum)

    def _sample(self) -> None:
        """Connections over time (the report's chart): a sample, and the next one due."""
        self.tally.sample(time.monotonic(), len(self.held))
        self._sampler = self.loop.call_later(self.tally.timeline.every, self._sample)

    def _packets(self) -> tuple[int, int]:
        return sum(self.tally.sent.values()), sum(self.tally.received.values())

    # ------------------------------------------------------------------ connecting

    async def _launch(self, schedule: Schedule) -> None:
        import asyncio

        loop, tally = self.loop, self.tally
        index = 0
        try:
            while index < schedule.count:
                due = schedule.due_by(loop.time())
                while index < due:
                    # Launched, not yet ended: an attempt counts itself as started only
                    # once its task runs, after this loop has launched all that are due.
                    if index - tally.connected - tally.failed - tally.cancelled >= self.concurrency:
                        self._room = loop.create_future()
                        await self._room
                        continue
                    task = loop.create_task(self._attempt(index))
                    self.attempts.add(task)
                    task.add_done_callback(self.attempts.discard)
                    index += 1
                if index < schedule.count:
                    await asyncio.sleep(max(schedule.due(index) - loop.time(), 0))
            while self.attempts:
                await asyncio.wait(set(self.attempts))
        except asyncio.CancelledError:
            for task in self.attempts:
                task.cancel()
            if self.attempts:
                await asyncio.wait(set(self.attempts))
            raise

    async def _attempt(self, index: int) -> None:
        import asyncio

        from ..asyncio.connection import connect, diagnose
        from ..supervisor import Supervisor

        tally = self.tally
        # Measured on time.monotonic(): uvloop's loop.time() counts whole milliseconds.
        start = time.monotonic()
        tally.begin(start)
        client_id = None if self.ids is None else self.ids[index]
        server = index % len(self.servers)
        supervisor = Supervisor(self.servers[server], client_id, reconnect=False)
        held = _Held(self, supervisor)
        phases: list[Any] = []
        failure: Error | OSError
        counted = False
        try:
            try:
                sources = self.sources
                source = None if sources is None else sources[index % len(sources)]
                sessions = None if self.tls_sessions is None else self.tls_sessions[server]
                conn = await connect(
                    supervisor, phases, owner=held, source=source, tls_sessions=sessions
                )
            except Error as exc:
                failure = exc
            except OSError as exc:  # not ours: the loop's own (no descriptor left)
                failure = exc
            else:
                end = time.monotonic()
                counted = True
                stream = conn.stream
                tally.succeeded(
                    ((p.name, p.seconds) for p in phases if p.ok),
                    end - start,
                    end,
                    stream.tls_resumed,
                    stream.tls_offered,
                )
                if sessions is not None:
                    # After CONNACK: TLS 1.3's tickets came before it.
                    stream.keep_tls_session(sessions)
                held.attach(conn)
                return
            limit = limit_sentence(failure, len(self.held), self.facts["uri"])
            if limit is not None and limit[0] not in tally.limits:
                tally.limit(*limit)
                self._say(f"limit: {limit[1]}")
            if isinstance(failure, Error):
                code, category, message = await diagnose(supervisor, failure)
            else:
                code, category, message = 3, "network-error", f"{type(failure).__name__}: {failure}"
            counted = True
            tally.failed_with(code, category, message, time.monotonic())
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            # A bug of ours: the run stops, and the command says so (exit 70).
            if self.bug is None:
                self.bug = exc
            if not self.stop.done():
                self.stop.set_result(0)
        finally:
            if not counted:
                tally.cancelled += 1  # cut short by a stop (or by our bug)
            room = self._room
            if room is not None and not room.done():
                room.set_result(None)

    # ------------------------------------------------------------------ holding

    def lost(self, held: _Held) -> None:
        self.held.discard(held)
        if self.holding and not self.held and self._wake is not None and not self._wake.done():
            self._wake.set_result(None)  # nothing left to hold

    async def _disconnect_all(self) -> None:
        import asyncio

        self.stopping = True
        holders = list(self.held)
        for held in holders:
            held.cancel_timer()
            held.said_goodbye = True
        tasks = [self.loop.create_task(held.disconnect()) for held in holders]
        if not tasks:
            return
        done, pending = await asyncio.wait(tasks, timeout=DISCONNECT_WAIT)
        for task in pending:
            task.cancel()
        if pending:
            await asyncio.wait(pending)
        self.facts["held"] = sum(1 for task in done if not task.cancelled() and task.result())

    # ------------------------------------------------------------------ progress

    def _progress_every(self) -> float:
        return PROGRESS_TTY if self._tty else PROGRESS_LINES

    def _show_progress(self) -> None:
        if self.sink is not None:
            tally = self.tally
            counts = {
                name: getattr(tally, name)
                for name in (
                    "started",
                    "connected",
                    "failed",
                    "lost",
                    "cancelled",
                    "first_start",
                    "last_start",
                )
            }
            total = tally.connect["total"].state()
            self.sink({"progress": {**counts, "total": total, "held": len(self.held)}})
            self._progress = self.loop.call_later(PROGRESS_LINES, self._show_progress)
            return
        text = progress_text(self.tally)
        if self.holding:
            text += f"; holding {len(self.held):,}"
        deadline = time.monotonic() + 0.1
        if self._tty:
            self._progress_shown = cli.err.line(f"\r{text}\x1b[K", deadline, end="")
        else:
            cli.err.line(f"progress: {text}", deadline)
        self._progress = self.loop.call_later(self._progress_every(), self._show_progress)

    def _say(self, text: str) -> None:
        """A line on standard error while running, below the progress line."""
        if self.sink is not None:
            self.sink({"say": text})
            return
        deadline = time.monotonic() + 0.1
        if self._progress_shown:
            cli.err.line("\r\x1b[K", deadline, end="")
        cli.err.line(text, deadline)

    def _end_progress(self) -> None:
        if self._progress_shown:
            cli.err.line("\r\x1b[K", time.monotonic() + 0.1, end="")


def _isatty(stream: Any) -> bool:
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError, OSError):
        return False


class _Held:
    """The owner of one connection (see asyncio.connection.Owner): counts its events,
    sends its ``--ping-interval`` PINGREQs, reports its loss."""

    __slots__ = ("bench", "supervisor", "conn", "timer", "said_goodbye", "ping_at")

    def __init__(self, bench: _Bench, supervisor: Supervisor) -> None:
        self.bench = bench
        self.supervisor = supervisor
        self.conn: Connection | None = None
        self.timer: asyncio.TimerHandle | None = None
        self.said_goodbye = False
        #: When the oldest unanswered PINGREQ went out (time.monotonic(): the session's
        #: own round trip is on loop.time(), whole milliseconds on uvloop).
        self.ping_at: float | None = None

    def attach(self, conn: Connection) -> None:
        bench = self.bench
        self.conn = conn
        conn.owned = True
        bench.held.add(self)
        self.session_events(conn.session.events())
        if conn.ended:
            bench.loop.call_soon(self.connection_ended)
        elif bench.ping_interval is not None:
            self.timer = bench.loop.call_later(bench.ping_interval, self._ping)

    def session_events(self, events: list[SessionEvent]) -> None:
        from ..events import PacketReceived, PingSent, PongReceived

        tally = self.bench.tally
        for event in events:
            kind = type(event)
            if kind is PingSent:
                tally.count(tally.sent, "PINGREQ")
                if self.ping_at is None:
                    self.ping_at = time.monotonic()
            elif isinstance(event, PongReceived):
                tally.count(tally.received, "PINGRESP")
                sent, self.ping_at = self.ping_at, None
                # Two were outstanding (a late answer): the session's clock for the next.
                tally.pingresp.add(event.round_trip if sent is None else time.monotonic() - sent)
            elif kind is PacketReceived:
                tally.count(tally.received, "other")

    def connection_ended(self) -> None:
        bench = self.bench
        self.cancel_timer()
        if self.said_goodbye or self not in bench.held:
            return  # our DISCONNECT ended it, or its end was counted
        conn = self.conn
        assert conn is not None
        error = conn.session.error
        if error is None:
            from ..errors import ConnectionClosed
            from ..phases import PhaseName

            error = ConnectionClosed(PhaseName.SESSION, "the connection ended")
        code, category, message = self.supervisor.diagnose(error)
        bench.tally.lost_with(code, category, message)
        bench.lost(self)

    def _ping(self) -> None:
        self.timer = None
        conn = self.conn
        bench = self.bench
        if conn is None or conn.session.closed or bench.stopping:
            return
        try:
            conn.session.ping(now=bench.loop.time())
        except LocalProtocolError:
            pass  # the last one is still unanswered: the session's deadline judges it
        conn.pump()
        if bench.ping_interval is not None and not conn.session.closed:
            self.timer = bench.loop.call_later(bench.ping_interval, self._ping)

    def cancel_timer(self) -> None:
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None

    async def disconnect(self) -> bool:
        """DISCONNECT; whether it went out."""
        conn = self.conn
        assert conn is not None
        self.said_goodbye = True
        if conn.session.closed:
            conn.close()
            return False
        try:
            failed, _ = await conn.disconnect()
        except BaseException:
            conn.close()
            raise
        if failed is None:
            tally = self.bench.tally
            tally.count(tally.sent, "DISCONNECT")
            return True
        return False
