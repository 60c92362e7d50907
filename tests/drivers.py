"""The two drivers behind one face, for the behaviour suite that runs on both, the asyncio
one on both event loops: the standard one and uvloop (``bench``'s, installed by the test
extra).

``driver.test_connection(settings)`` is the blocking ``pco_wire.test_connection`` or the
asyncio one awaited on a fresh event loop; ``driver.client(settings, ...)`` is the blocking
``pco_wire.Client`` or ``AsyncClient``, the blocking surface the tests use (connect,
disconnect, reauthenticate, wait, connected, error, server_closed, connections, info,
diagnose, on_event called in order with every event, ``with``) over
``pco_wire.asyncio.Client`` on one event loop in a thread of its own.

Every asyncio run is watched (``Hygiene``): an exception in a loop callback, a task
destroyed while pending (both reach the loop's exception handler, in debug mode), a task
of ours left on the loop when the client is done, a loop that does not close, and a
ResourceWarning or RuntimeWarning (unclosed transport or socket, coroutine never awaited,
which arrive through ``sys.unraisablehook`` when turned into errors) are recorded, and the
``driver`` fixture fails the test with them.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import functools
import gc
import os
import sys
import threading
import time
from collections.abc import Callable, Coroutine, Iterator
from typing import Any, Protocol, TypeVar

import pco_wire
import pco_wire.asyncio
from pco_wire.errors import Error
from pco_wire.result import ConnectionInfo, TestResult
from pco_wire.settings import Settings

T = TypeVar("T")

#: The longest a facade call waits for the loop beyond what the call itself may take.
SPARE = 10.0

__all__ = [
    "DRIVERS",
    "LOOPS",
    "WARNINGS_AS_ERRORS",
    "AsyncClient",
    "ClientLike",
    "Driver",
    "Hygiene",
    "counts",
    "new_loop",
    "run_on",
    "settled",
]


def open_fds() -> int:
    return len(os.listdir("/proc/self/fd"))


def counts() -> tuple[int, int]:
    """(threads, open descriptors) of this process."""
    return threading.active_count(), open_fds()


def settled(before: tuple[int, int], within: float = 3.0) -> tuple[int, int]:
    """The counts once they are back to ``before``, or after ``within`` seconds: a thread
    that was joined may take a moment to leave ``threading.enumerate``."""
    deadline = time.monotonic() + within
    now = counts()
    while now != before and time.monotonic() < deadline:
        time.sleep(0.02)
        now = counts()
    return now


class Hygiene:
    """What went wrong on the event loops of one test (see the module's docstring)."""

    def __init__(self, loop: str = "asyncio") -> None:
        self.problems: list[str] = []
        #: The event loop the runs are on: "asyncio" (the standard one) or "uvloop".
        self.loop = loop
        self._lock = threading.Lock()

    def add(self, problem: str) -> None:
        with self._lock:
            self.problems.append(problem)

    def handler(self, loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
        exception = context.get("exception")
        message = context.get("message", "")
        self.add(f"loop: {message} {exception!r} {context.get('task') or ''}".strip())

    @contextlib.contextmanager
    def watching(self) -> Iterator[None]:
        """What the finalizers raise (in ``__del__``: ResourceWarning and RuntimeWarning
        once ``WARNINGS_AS_ERRORS`` apply) recorded, for the block; garbage collected at
        its end, so that the finalizers of the block's objects run inside it."""
        previous = sys.unraisablehook

        def hook(unraisable: Any) -> None:
            self.add(f"unraisable: {unraisable.exc_value!r} in {unraisable.object!r}")

        sys.unraisablehook = hook
        try:
            yield
            gc.collect()
        finally:
            sys.unraisablehook = previous


def _uvloop() -> Any:
    """The uvloop module. Missing, it fails the test that asked for it (the test extra
    installs it wherever uvloop runs): a suite that skipped it would pass untested."""
    try:
        import uvloop
    except ImportError as exc:
        raise AssertionError(
            f"uvloop does not import ({exc}): the asyncio driver's tests run on it too; "
            "install the test extra: pip install -e '.[ws,test]'"
        ) from exc
    return uvloop


@functools.cache
def warm_uvloop() -> None:
    """Open what uvloop (libuv) keeps for the life of the process once, before a test
    counts descriptors: the first loop's and the first name lookup's (libuv's thread
    pool wakes the loop through a descriptor of its own, made at its first use)."""
    loop = _uvloop().new_event_loop()
    try:
        loop.run_until_complete(loop.getaddrinfo("127.0.0.1", 1))
    finally:
        loop.close()


def make_loop(name: str) -> asyncio.AbstractEventLoop:
    """A new event loop: ``name`` "asyncio" (the standard one) or "uvloop"."""
    if name == "uvloop":
        loop: asyncio.AbstractEventLoop = _uvloop().new_event_loop()
        return loop
    assert name == "asyncio", name
    return asyncio.new_event_loop()


def new_loop(hygiene: Hygiene) -> asyncio.AbstractEventLoop:
    loop = make_loop(hygiene.loop)
    loop.set_debug(True)
    loop.set_exception_handler(hygiene.handler)
    return loop


def run_on(name: str, coro: Coroutine[Any, Any, T]) -> T:
    """``asyncio.run(coro)`` on a new loop of ``name`` (``asyncio.run`` takes a loop
    factory only from Python 3.12 on): the tasks left cancelled, then the loop closed."""
    loop = make_loop(name)
    try:
        asyncio.set_event_loop(loop)
        return loop.run_until_complete(coro)
    finally:
        try:
            left = [task for task in asyncio.all_tasks(loop) if not task.done()]
            for task in left:
                task.cancel()
            loop.run_until_complete(asyncio.gather(*left, return_exceptions=True))
            loop.run_until_complete(loop.shutdown_asyncgens())
            loop.run_until_complete(loop.shutdown_default_executor())
        finally:
            asyncio.set_event_loop(None)
            loop.close()


def close_loop(loop: asyncio.AbstractEventLoop, hygiene: Hygiene, own: set[Any]) -> None:
    """Check that no task but ``own`` is left, then close ``loop`` (not running)."""
    left = [task for task in asyncio.all_tasks(loop) if task not in own and not task.done()]
    if left:
        hygiene.add(f"tasks left on the loop: {left!r}")
        for task in left:
            task.cancel()
        loop.run_until_complete(asyncio.gather(*left, return_exceptions=True))
    loop.run_until_complete(loop.shutdown_asyncgens())
    loop.run_until_complete(loop.shutdown_default_executor())
    loop.close()


def run(hygiene: Hygiene, coro: Coroutine[Any, Any, T]) -> T:
    """``coro`` to its end on a fresh event loop in debug mode, then closed."""
    loop = new_loop(hygiene)
    try:
        return loop.run_until_complete(coro)
    finally:
        close_loop(loop, hygiene, set())


class ClientLike(Protocol):
    """What the tests use of ``pco_wire.Client``."""

    @property
    def info(self) -> ConnectionInfo | None: ...
    @property
    def error(self) -> Error | None: ...
    @property
    def server_closed(self) -> bool | None: ...
    @property
    def connected(self) -> bool: ...
    @property
    def connections(self) -> int: ...
    def connect(self) -> ConnectionInfo: ...
    def disconnect(self, timeout: float | None = None) -> bool: ...
    def reauthenticate(self) -> None: ...
    def wait(self, timeout: float | None = None) -> bool: ...
    def diagnose(self, error: BaseException) -> tuple[int, str, str]: ...
    def __enter__(self) -> Any: ...
    def __exit__(self, *exc: object) -> None: ...


class AsyncClient:
    """``pco_wire.asyncio.Client`` driven from blocking code: its own event loop runs in
    a thread, each call is a coroutine submitted to it (with a deadline), and a task
    iterating ``events()`` calls ``on_event``."""

    def __init__(
        self,
        hygiene: Hygiene,
        settings: Settings,
        *,
        on_event: Callable[[Any], None] | None = None,
        reconnect: bool | None = None,
        client_id: str | None = None,
    ) -> None:
        self._hygiene = hygiene
        self._on_event = on_event
        self._limit = 2 * settings.response_timeout + SPARE
        self.client = pco_wire.asyncio.Client(settings, client_id=client_id, reconnect=reconnect)
        self._pump: asyncio.Task[None] | None = None
        self._loop = new_loop(hygiene)
        self._thread = threading.Thread(
            target=self._loop.run_forever, name="asyncio facade", daemon=True
        )
        self._thread.start()
        self._closed = False

    # the blocking surface

    @property
    def info(self) -> ConnectionInfo | None:
        return self.client.info

    @property
    def error(self) -> Error | None:
        return self.client.error

    @property
    def server_closed(self) -> bool | None:
        return self.client.server_closed

    @property
    def connected(self) -> bool:
        return self.client.connected

    @property
    def connections(self) -> int:
        return self.client.connections

    @property
    def events_dropped(self) -> int:
        return self.client.events_dropped

    def connect(self) -> ConnectionInfo:
        return self._call(self._connect(), self._limit)

    def disconnect(self, timeout: float | None = None) -> bool:
        if self._closed:
            return True
        limit = self._limit if timeout is None else timeout
        try:
            self._call(self._disconnect(), limit)
        except TimeoutError:
            return False
        self._close()
        return True

    def reauthenticate(self) -> None:
        self._call(self._reauthenticate(), self._limit)

    def wait(self, timeout: float | None = None) -> bool:
        if self._closed:
            return True
        try:
            self._call(self._wait(), timeout)
        except TimeoutError:
            return False
        return True

    def diagnose(self, error: BaseException) -> tuple[int, str, str]:
        if self._closed:
            return run(self._hygiene, self.client.diagnose(error))
        return self._call(self.client.diagnose(error), self._limit)

    def __enter__(self) -> AsyncClient:
        self.connect()
        return self

    def __exit__(self, *exc: object) -> None:
        self.disconnect()

    # inside

    def _call(self, coro: Coroutine[Any, Any, T], timeout: float | None) -> T:
        future = asyncio.run_coroutine_threadsafe(coro, self._loop)
        try:
            return future.result(timeout)
        except concurrent.futures.TimeoutError:
            future.cancel()
            raise TimeoutError from None

    async def _connect(self) -> ConnectionInfo:
        try:
            return await self.client.connect()
        finally:
            self._pump = asyncio.get_running_loop().create_task(self._events())

    async def _events(self) -> None:
        async for event in self.client.events():
            if self._on_event is not None:
                try:
                    self._on_event(event)
                except Exception as exc:
                    self._hygiene.add(f"on_event raised {exc!r} for {event!r}")

    async def _reauthenticate(self) -> None:
        self.client.reauthenticate()  # not a coroutine, but only on its own loop

    async def _wait(self) -> None:
        await self.client.wait_closed()
        if self._pump is not None:
            await self._pump

    async def _disconnect(self) -> None:
        await self.client.disconnect()
        if self._pump is not None:
            await self._pump

    def _close(self) -> None:
        self._closed = True
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(SPARE)
        if self._thread.is_alive():
            self._hygiene.add("the facade's loop did not stop")
            return
        own = {self._pump} if self._pump is not None else set()
        close_loop(self._loop, self._hygiene, own)

    def leftover(self) -> None:
        """At the end of a test: a client never disconnected is closed (and said)."""
        if not self._closed:
            self._hygiene.add("an asyncio client was not disconnected")
            self.disconnect()


class Driver:
    """One driver's ``test_connection`` and ``client``, blocking either way."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.hygiene = Hygiene("uvloop" if name == "uvloop" else "asyncio")
        self._clients: list[AsyncClient] = []

    @property
    def is_asyncio(self) -> bool:
        return self.name in ("asyncio", "uvloop")

    def __repr__(self) -> str:
        return f"Driver({self.name!r})"

    def test_connection(self, settings: Settings, **options: Any) -> TestResult:
        if not self.is_asyncio:
            return pco_wire.test_connection(settings, **options)
        return run(self.hygiene, pco_wire.asyncio.test_connection(settings, **options))

    def client(
        self,
        settings: Settings,
        *,
        on_event: Callable[[Any], None] | None = None,
        reconnect: bool | None = None,
        client_id: str | None = None,
    ) -> ClientLike:
        if not self.is_asyncio:
            return pco_wire.Client(
                settings, on_event=on_event, reconnect=reconnect, client_id=client_id
            )
        client = AsyncClient(
            self.hygiene, settings, on_event=on_event, reconnect=reconnect, client_id=client_id
        )
        self._clients.append(client)
        return client

    def finish(self) -> list[str]:
        """The problems of this test's asyncio runs (none for the blocking driver)."""
        for client in self._clients:
            client.leftover()
        self._clients.clear()
        return self.hygiene.problems


#: The event loops the asyncio driver's tests run on.
LOOPS = ("asyncio", "uvloop")
#: The blocking driver, and the asyncio one on each loop (``Driver("uvloop")``: on uvloop,
#: what ``bench`` runs on).
DRIVERS = ("sync", *LOOPS)
#: The warning filters of every asyncio test (pytest's own filter syntax): an unclosed
#: transport or socket, a coroutine never awaited.
WARNINGS_AS_ERRORS = ("error::ResourceWarning", "error::RuntimeWarning")

# Not a test, whatever pytest infers from the name.
Driver.test_connection.__test__ = False  # type: ignore[attr-defined]
