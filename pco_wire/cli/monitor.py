"""``python -m pco_wire monitor URI``: hold the connection, one line per event."""

from __future__ import annotations

import time

from .. import cli
from ..errors import Error

TYPE_CHECKING = False
if TYPE_CHECKING:
    import argparse
    from typing import Any

    from ..settings import Settings


#: Lines the client thread may queue for the printer before it drops them.
_QUEUED_LINES = 1000


def server_said(error: BaseException) -> dict[str, Any]:
    """For a JSON line: what an MQTT 5.0 server said when it ended the session (its
    DISCONNECT) or refused it (its CONNACK): the reason code, reason string and server
    reference, as the server sent them (JSON escapes them). Empty for other ends."""
    from ..errors import ServerDisconnected, ServerRefused

    if isinstance(error, ServerDisconnected):
        code = error.reason_code
    elif isinstance(error, ServerRefused) and type(error.return_code).__name__ == "ReasonCode":
        code = error.return_code
    else:
        return {}
    return {
        "reason_code": int(code),
        "reason_string": error.reason_string,
        "server_reference": error.server_reference,
    }


def run(settings: Settings, args: argparse.Namespace, warnings: list[str]) -> int:
    """Hold the connection and print a line per event, in order, from this thread
    only: the client thread formats each line and queues it (dropping, and counting,
    what does not fit when the output is slower than the events), so that neither a
    flood of packets nor a slow reader of our output keeps it from its keep-alive.

    A stop signal is noted, not raised, while this thread waits for lines (see
    ``_console.Stops``): raised there, it could leave a lock the client thread needs
    held, and both would wait forever."""
    import collections
    import select
    import socket
    import threading

    from .. import _console
    from .._text import printable
    from ..events import (
        Closed,
        Connected,
        Failover,
        GivingUp,
        PacketReceived,
        PingSent,
        PongReceived,
        Reconnecting,
        TakenOver,
        TakeoverSuspected,
    )
    from ..result import CLOSE_WAIT
    from ..sync.client import Client

    lines: collections.deque[str] = collections.deque()
    queuing = threading.Lock()  # the client thread adds lines, this one takes them
    dropped = 0
    # Readable when there are lines to print or a stop signal came.
    awake, wakeup = socket.socketpair()
    awake.setblocking(False)
    wakeup.setblocking(False)

    def wake() -> None:
        try:
            wakeup.send(b"\0")
        except OSError:
            pass  # full: awake already

    def sleep(timeout: float) -> None:
        select.select([awake], [], [], timeout)
        try:
            awake.recv(4096)
        except OSError:
            pass

    def take() -> str | None:
        with queuing:
            return lines.popleft() if lines else None

    def line(kind: str, text: str, **extra: Any) -> str:
        if args.json:
            return cli.json_text({"time": cli.stamp(), "event": kind, "message": text, **extra})
        return f"{cli.stamp()} {text}"

    def notice(count: int) -> str:
        text = f"{count} events not shown: the output is slower than the events"
        return line("dropped", text, count=count)

    def skip() -> None:
        nonlocal dropped
        with queuing:
            dropped += 1

    def emit(kind: str, text: str, **extra: Any) -> None:
        # Only this function adds to the queue, under the lock: a line it sees room for
        # goes in. What finds the queue full is counted, and said in its place, in order,
        # as soon as there is room again.
        nonlocal dropped
        with queuing:
            idle = not lines  # the printer may be asleep: wake it
            if dropped and len(lines) < _QUEUED_LINES:
                lines.append(notice(dropped))
                dropped = 0
            # Packet lines go first when the output falls behind: the last tenth of the
            # queue is kept for the lines that say what the connection does.
            room = _QUEUED_LINES - (_QUEUED_LINES // 10 if kind == "packet" else 0)
            if len(lines) >= room:
                dropped += 1
            else:
                lines.append(line(kind, text, **extra))
        if idle:
            wake()

    def on_event(event: Any) -> None:
        if isinstance(event, Connected):
            info = client.info
            assert info is not None
            present = "yes" if event.session_present else "no"
            again = "again " if client.connections > 1 else ""
            # Several servers: each line says which one took us.
            listed = len(settings.servers) > 1
            where = f"{info.address}" if again and not listed else f"{info.uri} ({info.address})"
            # The client ID may be one the server assigned (MQTT 5.0): its text.
            shown = printable(info.client_id)
            emit(
                "connected",
                f"connected {again}to {where} as {shown}; session present: {present}",
                session_present=event.session_present,
            )
        elif isinstance(event, PingSent):
            emit("pingreq", "PINGREQ sent")
        elif isinstance(event, PongReceived):
            ms = event.round_trip * 1000
            emit("pingresp", f"PINGRESP received, round trip {ms:.1f} ms", round_trip=ms)
        elif isinstance(event, PacketReceived):
            if len(lines) >= _QUEUED_LINES * 9 // 10:  # a flood: not worth describing
                skip()
                return
            from ..result import packet_summary

            summary = packet_summary(event.packet)
            topic = f" on '{printable(summary['topic'])}'" if "topic" in summary else ""
            emit(
                "packet",
                f"{summary['type']} received ({summary['size']} bytes){topic}",
                **summary,
            )
        elif isinstance(event, Closed) and event.error is not None:
            emit(
                "lost",
                f"connection lost: {client.diagnose(event.error)[2]}",
                **server_said(event.error),
            )
        elif isinstance(event, Reconnecting):
            emit(
                "reconnecting",
                f"connecting again in {event.delay:.1f} s (attempt "
                f"{event.attempt}, after: {printable(str(event.error))})",
                delay=event.delay,
            )
        elif isinstance(event, Failover):
            emit(
                "failover",
                f"trying server {event.position} of {event.count}, {event.server_uri} "
                f"({event.left} failed: {printable(str(event.error))})",
                server_uri=event.server_uri,
                left=event.left,
                position=event.position,
            )
        elif isinstance(event, TakeoverSuspected):
            emit(
                "takeover",
                f"the server keeps closing the connection soon after accepting "
                f"it: another client probably uses client ID {event.client_id!r}; slowing "
                "down (two gateways with one ID throw each other off)",
            )
        elif isinstance(event, TakenOver):
            # MQTT 5.0 §3.14.2.1: said by the server (DISCONNECT 0x8E), not guessed. The
            # client ID may be the server's own (assigned), and the reason string is.
            said = event.reason_string
            emit(
                "taken-over",
                f"session taken over: another client connected with client ID "
                f"{printable(repr(event.client_id))}, and the server dropped this connection "
                "for it (two clients with one ID throw each other off)"
                + (f"; the server says: {printable(repr(said))}" if said else ""),
                client_id=event.client_id,
                reason_string=said,
            )
        elif isinstance(event, GivingUp):
            emit(
                "giving-up",
                f"not connecting again: {client.diagnose(event.error)[2]}",
                **server_said(event.error),
            )

    def show(deadline: float) -> None:
        """Print what is queued, by ``deadline``."""
        while (text := take()) is not None:
            if not cli.out.line(text, deadline):
                return
        nonlocal dropped
        with queuing:
            count, dropped = dropped, 0
        if count:
            cli.out.line(notice(count), deadline)

    for warning in warnings:
        cli.err.line(f"warning: {warning}")
    client = Client(settings, on_event=on_event)
    try:
        info = client.connect()
    except Error as exc:
        code, category, message = client.diagnose(exc)
        return cli.fail(args, code, category, message, exc)
    for warning in info.warnings:
        cli.err.line(f"warning: {warning}")
    end = None if args.duration is None else time.monotonic() + args.duration
    stop: KeyboardInterrupt | None = None
    with _console.Stops(wake) as stops:
        try:
            try:
                # One line a turn, so that the end is seen however fast lines come; with
                # --duration, a reader that holds a line past the end stops us too.
                while not client.wait(0):
                    stops.check()
                    remaining = 0.5 if end is None else min(0.5, end - time.monotonic())
                    if remaining <= 0:
                        break
                    text = take()
                    if text is None:
                        sleep(remaining)
                        continue
                    with stops.raising():  # a write blocked on a slow reader holds no lock
                        shown = cli.out.line(text, end)
                    if not shown:
                        break  # the reader has gone (or held us to the end): a stop
            except KeyboardInterrupt as exc:
                stop = exc
            # From here on every line has a deadline: a reader that stopped reading must not
            # keep us from saying goodbye to the server.
            soon = time.monotonic() + 1.0
            if stop is not None:
                show(soon)
                emit(
                    "interrupted",
                    "interrupted" if type(stop) is KeyboardInterrupt else "terminated",
                )
            if client.wait(0):  # it ended by itself: a refusal, a loss without reconnecting
                show(soon)
                error = client.error
                if error is None:
                    return 0
                code, category, message = client.diagnose(error)
                if args.debug:
                    cli.traceback(error)
                cli.err.line(f"FAILED ({category}, exit {code}): {message}", soon)
                return code
            connected = client.connected
            client.disconnect()
            soon = time.monotonic() + 1.0
            show(soon)
            closed = client.server_closed
            if closed is not None:
                farewell = (
                    "DISCONNECT sent; the server closed the connection"
                    if closed
                    else f"DISCONNECT sent; the server had not closed the connection "
                    f"{CLOSE_WAIT:g} s later, so we did"
                )
                cli.out.line(line("disconnected", farewell), soon)
                return 0
            error = client.error
            if error is None:
                cli.out.line(line("disconnected", "done; not connected"), soon)
                return 0
            code, category, message = client.diagnose(error)
            if connected:
                cli.out.line(line("disconnected", f"DISCONNECT could not be sent: {message}"), soon)
                cli.err.line(
                    f"FAILED ({category}, exit {code}): DISCONNECT not sent: {message}", soon
                )
            else:
                # Stopped while connecting again: the loss not recovered from is the outcome.
                cli.out.line(line("disconnected", f"done; not connected since: {message}"), soon)
                cli.err.line(
                    f"FAILED ({category}, exit {code}): not connected when stopped: {message}", soon
                )
            return code
        finally:
            # Whatever happened here, the server hears a DISCONNECT (and does not publish
            # the will) unless the connection is gone already.
            if not client.wait(0):
                client.disconnect()
            awake.close()
            wakeup.close()
