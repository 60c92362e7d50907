"""Standard streams for the commands: whole lines, never an encoding error, never a
traceback for a closed or broken output, and stop signals as exceptions.

A command writes every line through an ``Output``. When the reader goes away (``monitor |
head -1``) or the descriptor was closed before we started (``test URI >&-``), writing
stops quietly and the command ends the way it would have: a closed output is not a
failure of the connection being tested.
"""

from __future__ import annotations

import os
import select
import signal
import sys
from contextlib import contextmanager

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable, Iterator
    from types import FrameType
    from typing import Any, TextIO

__all__ = ["Output", "Stopped", "Stops", "prepare", "stop_status"]

#: What a pipe takes in one write without blocking once select() says it is writable.
_PIPE_BUF = select.PIPE_BUF


class Stopped(KeyboardInterrupt):
    """A stop signal other than Ctrl-C; ``status`` is 128 + its number."""

    def __init__(self, signum: int) -> None:
        super().__init__(signum)
        self.status = 128 + signum


def stop_status(exc: KeyboardInterrupt) -> int:
    """The exit status of a command stopped before it finished: 130 after Ctrl-C
    (SIGINT), 143 after SIGTERM, 129 after SIGHUP (the terminal went away)."""
    return exc.status if isinstance(exc, Stopped) else 130


def _raise_stopped(signum: int, frame: FrameType | None) -> None:
    raise Stopped(signum)


def prepare() -> None:
    """Before anything else: descriptors 0, 1 and 2 open (a closed one is given
    /dev/null, so that no socket takes its number and no write fails), text the
    terminal's encoding cannot show written as escapes rather than failing, and SIGTERM
    and SIGHUP raising ``Stopped`` in the main thread, as Ctrl-C raises
    KeyboardInterrupt."""
    for fd in (0, 1, 2):
        try:
            os.fstat(fd)
        except OSError:
            null = os.open(os.devnull, os.O_RDWR)
            if null != fd:
                os.dup2(null, fd)
                os.close(null)
    if sys.stdin is None:
        sys.stdin = open(os.devnull, encoding="utf-8")
    for name in ("stdout", "stderr"):
        stream = getattr(sys, name)
        if stream is None:
            # Python found the descriptor closed at start-up; it is /dev/null now.
            setattr(sys, name, open(os.devnull, "w", encoding="utf-8"))
            continue
        try:
            stream.reconfigure(errors="backslashreplace")
        except (AttributeError, ValueError, OSError):
            pass
    for signum in (signal.SIGTERM, signal.SIGHUP):
        # A signal ignored by whoever started us stays ignored (nohup).
        if signal.getsignal(signum) is not signal.SIG_IGN:
            signal.signal(signum, _raise_stopped)


#: The signals that stop a command, and what each raises.
_STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


def _stop_exception(signum: int) -> KeyboardInterrupt:
    return KeyboardInterrupt() if signum == signal.SIGINT else Stopped(signum)


class Stops:
    """While entered: a stop signal noted, and ``wake`` called, instead of an exception
    raised wherever the main thread happens to be; for a main thread that shares locks
    with a thread of its own.

    An exception raised by a signal handler can land inside a ``Condition``'s
    ``__enter__`` (a ``queue.Queue``'s, a ``threading.Event``'s), after the lock was
    taken and before the ``with`` block that releases it began: the lock stays held, and
    the other thread and the main thread's next look wait on it forever. ``check()``
    raises a noted stop (KeyboardInterrupt, or ``Stopped``) where the caller chooses;
    ``raising()`` lets one raise at once around a wait that holds no such lock (a
    blocking write). A second signal raises wherever it lands: whoever sends it does not
    want to wait for the goodbye. A signal ignored by whoever started us stays ignored.
    ``wake`` runs in the signal handler: it must not block or take a lock.
    """

    def __init__(self, wake: Callable[[], object]) -> None:
        self.signals: list[int] = []
        self._wake = wake
        self._raising = False
        self._previous: dict[int, Any] = {}

    def __enter__(self) -> Stops:
        for signum in _STOP_SIGNALS:
            if signal.getsignal(signum) is not signal.SIG_IGN:
                self._previous[signum] = signal.signal(signum, self._noted)
        return self

    def __exit__(self, *exc: object) -> None:
        for signum, handler in self._previous.items():
            signal.signal(signum, handler)

    def _noted(self, signum: int, frame: FrameType | None) -> None:
        self.signals.append(signum)
        self._wake()
        if self._raising or len(self.signals) > 1:
            raise _stop_exception(signum)

    def check(self) -> None:
        """Raise the first stop noted, if any."""
        if self.signals:
            raise _stop_exception(self.signals[0])

    @contextmanager
    def raising(self) -> Iterator[None]:
        """A stop raises at once within (a noted one on entry)."""
        self.check()
        self._raising = True
        try:
            yield
        finally:
            self._raising = False


class Output:
    """Whole lines to a text stream's descriptor, each in one write.

    ``line()`` returns False once the reader has gone (a broken pipe), and from then on
    writes nothing; the descriptor is pointed at /dev/null, so that Python's own flush at
    exit finds nothing to complain about. With a ``deadline`` (a ``time.monotonic()``
    value), a line that cannot be written by then is dropped (False), so that a reader
    that stopped reading cannot hold a stopping command forever.
    """

    def __init__(self, stream: TextIO) -> None:
        self.stream = stream
        self.encoding = getattr(stream, "encoding", None) or "utf-8"
        try:
            self.fd: int | None = stream.fileno()
        except (AttributeError, OSError, ValueError):
            self.fd = None  # not a real file (a test's StringIO): write through it
        self.closed = False

    def line(self, text: str, deadline: float | None = None, end: str = "\n") -> bool:
        """``end``: a progress line rewritten in place ends with no newline."""
        if self.closed:
            return False
        if self.fd is None:
            self.stream.write(text + end)
            return True
        data = memoryview((text + end).encode(self.encoding, "backslashreplace"))
        total = len(data)
        try:
            self.stream.flush()  # anything print() left in the buffer goes first
            while data:
                try:
                    if deadline is None:
                        written = os.write(self.fd, data)
                    elif self._writable(deadline):
                        # No more than a pipe takes at once without blocking, so that
                        # the deadline holds for a long line too.
                        written = os.write(self.fd, data[:_PIPE_BUF])
                    else:
                        if len(data) < total:
                            self._gone()  # the rest of a line begun would glue on the next
                        return False
                except (BlockingIOError, InterruptedError):
                    # A descriptor someone made non-blocking: wait for it as for any other.
                    if deadline is None:
                        select.select([], [self.fd], [])
                    continue
                data = data[written:]
        except OSError:
            # The reader has gone (EPIPE), the disk is full (ENOSPC), the terminal hung
            # up (EIO): nothing more can be shown, and that is not the connection's fault.
            self._gone()
            return False
        return True

    def _writable(self, deadline: float) -> bool:
        import time

        assert self.fd is not None
        timeout = deadline - time.monotonic()
        if timeout <= 0:
            return False
        _, ready, _ = select.select([], [self.fd], [], timeout)
        return bool(ready)

    def closed_by_reader(self) -> None:
        """What ``line()`` does when it meets a broken pipe, for a writer of its own
        that met one (the wizard's dialogue)."""
        if self.fd is not None and not self.closed:
            self._gone()

    def _gone(self) -> None:
        self.closed = True
        assert self.fd is not None
        null = os.open(os.devnull, os.O_WRONLY)
        try:
            os.dup2(null, self.fd)
        finally:
            os.close(null)
