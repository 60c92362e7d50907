"""What only the asyncio driver has: cancellation in every phase, ``async with``, the
``events()`` iterator, a reader that does not keep up, and many clients on one loop.

The behaviour both drivers share is tested once for both (the ``driver`` fixture); here each
test runs its coroutine on a fresh event loop in debug mode (``tests.drivers.run``), the
standard one and uvloop (the ``loop`` fixture), with the same hygiene: warnings as errors,
loop errors recorded, no task left, and the threads and descriptors of the process back to
what they were.
"""

from __future__ import annotations

import asyncio
import socket
import threading
from collections.abc import Callable, Coroutine, Iterator
from typing import Any

import pytest

import pco_wire.asyncio
from pco_wire import Closed, Connected, PingSent, Security, Settings
from tests.broker import Broker
from tests.drivers import WARNINGS_AS_ERRORS, Hygiene, counts, run, settled
from tests.peers import (
    CONNACK_ACCEPTED,
    PINGRESP,
    PeerConnection,
    Peers,
    answer_then_close,
    packet_name,
    publish,
    relay,
    silent,
)
from tests.pki import Pki

pytestmark = [pytest.mark.filterwarnings(action) for action in WARNINGS_AS_ERRORS]

#: Long: in these tests only a cancellation, never a timeout, may end a phase.
NEVER = 30.0
#: The bound for what must end at once (a cancellation, a phase reached).
PROMPTLY = 5.0


@pytest.fixture
def peers() -> Iterator[Peers]:
    with Peers.running() as running:
        yield running


@pytest.fixture
def loop_run(loop: str) -> Iterator[Callable[[Coroutine[Any, Any, Any]], Any]]:
    """Run a coroutine on a fresh, watched ``loop``; after the test, nothing left over."""
    hygiene = Hygiene(loop)
    before = counts()
    with hygiene.watching():
        yield lambda coro: run(hygiene, coro)
    assert not hygiene.problems, hygiene.problems
    after = settled(before)
    assert after == before, f"(threads, descriptors) {before} before, {after} after"


def _awaiting(task: asyncio.Task[Any]) -> list[str]:
    """The names of the coroutines ``task`` is in, outermost first."""
    names: list[str] = []
    coro: Any = task.get_coro()
    while coro is not None:
        frame = getattr(coro, "cr_frame", None) or getattr(coro, "gi_frame", None)
        if frame is not None:
            names.append(frame.f_code.co_name)
        coro = getattr(coro, "cr_await", None) or getattr(coro, "gi_yieldfrom", None)
    return names


async def _until(check: Callable[[], bool], what: str) -> None:
    deadline = asyncio.get_running_loop().time() + PROMPTLY
    while not check():
        assert asyncio.get_running_loop().time() < deadline, f"never {what}"
        await asyncio.sleep(0.01)


# ---------------------------------------------------------------------------- cancellation


def _in_phase(phase: str) -> Callable[[list[str]], bool]:
    return {
        "name resolution": lambda names: "resolve" in names,
        "TCP connect": lambda names: (
            "open_stream" in names
            and "resolve" not in names
            and names[-1] != "open_stream"
            and not {"_wire", "_tls_handshake", "_ws_upgrade"} & set(names)
        ),
        "TLS handshake": lambda names: "_handshake" in names,
        "WebSocket upgrade": lambda names: "_ws_upgrade" in names,
        "CONNACK": lambda names: names[-1] == "open_attempt",
    }[phase]


@pytest.fixture
def stalled_lookup(monkeypatch: pytest.MonkeyPatch) -> Iterator[threading.Event]:
    """``stall.test`` resolves only once the returned event is set (at the end at the
    latest): a resolver that never answers in time. The netguard resolver answers its
    names at once, so this one stands in front of it."""
    gate = threading.Event()
    real = socket.getaddrinfo

    def getaddrinfo(
        host: Any, port: Any, family: int = 0, type: int = 0, proto: int = 0, flags: int = 0
    ) -> Any:
        if host in ("stall.test", b"stall.test"):
            if flags & socket.AI_NUMERICHOST:
                raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
            gate.wait(NEVER)
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        return real(host, port, family, type, proto, flags)

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    yield gate
    gate.set()


@pytest.fixture
def full_backlog() -> Iterator[int]:
    """A port whose listener's backlog is full: a TCP connect to it never completes."""
    listener = socket.socket()
    fillers: list[socket.socket] = []
    try:
        listener.bind(("127.0.0.1", 0))
        listener.listen(0)
        port = listener.getsockname()[1]
        for _ in range(3):
            filler = socket.socket()
            filler.setblocking(False)
            fillers.append(filler)
            try:
                filler.connect(("127.0.0.1", port))
            except BlockingIOError:
                pass
        yield port
    finally:
        for filler in fillers:
            filler.close()
        listener.close()


PHASES = ["name resolution", "TCP connect", "TLS handshake", "WebSocket upgrade", "CONNACK"]


@pytest.mark.parametrize("call", ["test_connection", "Client.connect"])
@pytest.mark.parametrize("phase", PHASES)
def test_cancelled_in_each_phase(
    loop_run: Callable[[Coroutine[Any, Any, Any]], Any],
    peers: Peers,
    pki: Pki,
    stalled_lookup: threading.Event,
    full_backlog: int,
    phase: str,
    call: str,
) -> None:
    if phase == "name resolution":
        uri = "mqtt://stall.test:1883"
    elif phase == "TCP connect":
        uri = f"mqtt://127.0.0.1:{full_backlog}"
    else:
        scheme = {"TLS handshake": "mqtts", "WebSocket upgrade": "ws", "CONNACK": "mqtt"}[phase]
        uri = peers.start(silent()).uri(scheme)
    security = Security(cafile=str(pki.ca_cert)) if uri.startswith("mqtts:") else None
    settings = Settings(uri, response_timeout=NEVER, security=security)
    in_phase = _in_phase(phase)

    async def main() -> None:
        task: asyncio.Task[Any]
        if call == "test_connection":
            task = asyncio.create_task(pco_wire.asyncio.test_connection(settings))
        else:
            task = asyncio.create_task(pco_wire.asyncio.Client(settings).connect())
        try:
            await _until(lambda: task.done() or in_phase(_awaiting(task)), f"in phase {phase}")
            assert not task.done(), task
            task.cancel()
            done, _ = await asyncio.wait({task}, timeout=PROMPTLY)
            assert task in done, f"still running {PROMPTLY} s after the cancel: {_awaiting(task)}"
            assert task.cancelled(), task
        finally:
            stalled_lookup.set()
            if not task.done():
                task.cancel()
                await asyncio.gather(task, return_exceptions=True)

    loop_run(main())


# ---------------------------------------------------------------------------- async with


@pytest.mark.parametrize("body_raises", [False, True], ids=["body-ends", "body-raises"])
def test_async_with_sends_disconnect(
    loop_run: Callable[[Coroutine[Any, Any, Any]], Any],
    broker: Broker,
    peers: Peers,
    body_raises: bool,
) -> None:
    peer = peers.start(relay(broker.ports.tcp))
    settings = Settings(peer.uri(), response_timeout=5.0)

    class Stop(Exception):
        pass

    async def main() -> None:
        async with pco_wire.asyncio.Client(settings) as client:
            assert client.connected
            if body_raises:
                raise Stop
        assert not client.connected

    if body_raises:
        with pytest.raises(Stop):
            loop_run(main())
    else:
        loop_run(main())
    assert peer.finish(), "the relayed connection did not end"
    assert peer.recording.names() == ["CONNECT", "DISCONNECT"]
    assert peer.recording.closed_first == "client"


@pytest.mark.standard_loop("the order of the events; its second waits for a PINGREQ")
def test_events_start_with_connected_and_end_after_disconnect(
    loop_run: Callable[[Coroutine[Any, Any, Any]], Any], broker: Broker
) -> None:
    settings = Settings(f"mqtt://127.0.0.1:{broker.ports.tcp}", keep_alive=1)

    async def main() -> list[Any]:
        client = pco_wire.asyncio.Client(settings)
        await client.connect()
        seen: list[Any] = []
        async for event in client.events():
            seen.append(event)
            if isinstance(event, Connected):
                assert client.connected
            if isinstance(event, PingSent):
                await client.disconnect()
        await asyncio.wait_for(client.wait_closed(), PROMPTLY)
        return seen

    seen = loop_run(main())
    assert isinstance(seen[0], Connected), seen
    assert isinstance(seen[-1], Closed) and seen[-1].error is None, seen


# ---------------------------------------------------------------------------- flood


def _flooding(conn: PeerConnection) -> None:
    """CONNACK, then PUBLISH packets as fast as the client takes them; PINGREQ answered."""
    first = conn.read_packet(5.0)
    if first is None or packet_name(first) != "CONNECT":
        return
    conn.send(CONNACK_ACCEPTED)
    burst = publish("plant/flood", b"x" * 64) * 100
    while conn.alive():
        if not conn.send(burst):
            return
        packet = conn.read_packet(0.001)
        if packet is None:
            if conn.recording.client_closed:
                return
            continue
        if packet_name(packet) == "PINGREQ":
            conn.send(PINGRESP)
        elif packet_name(packet) == "DISCONNECT":
            conn.wait_closed(2.0)
            return


@pytest.mark.parametrize(
    ("loop", "reader"),
    # On uvloop the reader that never reads: the slow one adds 3 s and no path of the loop's.
    [("asyncio", "absent"), ("asyncio", "slow"), ("uvloop", "absent")],
    indirect=["loop"],
)
def test_a_flood_unread_keeps_the_keep_alive_and_a_bounded_queue(
    loop_run: Callable[[Coroutine[Any, Any, Any]], Any], peers: Peers, reader: str
) -> None:
    peer = peers.start(_flooding, lifetime=30.0)
    settings = Settings(peer.uri(), keep_alive=1, response_timeout=2.0, reconnect=False)
    limit = 100

    async def main() -> tuple[int, int]:
        client = pco_wire.asyncio.Client(settings, max_events=limit)
        await client.connect()
        longest = 0
        read = 0

        async def slow() -> None:
            nonlocal read
            async for _ in client.events():
                read += 1
                await asyncio.sleep(0.01)

        slow_task = asyncio.create_task(slow()) if reader == "slow" else None
        # Two keep-alive intervals: PINGREQ must go out, and its PINGRESP come back,
        # through the flood.
        await _until(
            lambda: bool(peer.recordings) and peer.recording.names().count("PINGREQ") >= 2,
            "two PINGREQ",
        )
        longest = max(longest, len(client._events or ()))
        assert client.connected, client.error
        await client.disconnect()
        if slow_task is not None:
            await asyncio.wait_for(slow_task, PROMPTLY)
        return longest, client.events_dropped

    longest, dropped = loop_run(main())
    assert longest <= limit
    assert dropped > 0
    assert peer.finish()
    names = peer.recording.names()
    assert names.count("PINGREQ") >= 2 and names[-1] == "DISCONNECT", names[-5:]


def test_a_flood_read_gives_the_loop_its_turns(
    loop_run: Callable[[Coroutine[Any, Any, Any]], Any],
) -> None:
    # uvloop (libuv) reads a socket again and again while each read fills its buffer,
    # handing every read to the protocol in the same turn of the loop: with a server
    # sending faster than we take its bytes, megabytes in one turn, and the keep-alive
    # timer waited seconds for it (test_flood on WebSocket). The wire lets the loop have
    # a turn after about one read (aio._TURN_LIMIT, 128 KiB, and the read that passed it:
    # up to 256 KiB on either loop).
    from pco_wire.transport import aio

    total = 32 << 20
    bound = 512 << 10

    async def main() -> tuple[int, int, int]:
        loop = asyncio.get_running_loop()
        listener = socket.create_server(("127.0.0.1", 0))
        sender = socket.create_connection(listener.getsockname(), timeout=PROMPTLY)
        accepted, _ = listener.accept()
        listener.close()
        accepted.setblocking(False)
        wire = await aio._wire(accepted)
        turns = {"count": 0}
        given = {"turn": -1, "bytes": 0, "most": 0, "all": 0}
        done: asyncio.Future[None] = loop.create_future()

        def turn() -> None:
            turns["count"] += 1
            if not done.done():
                loop.call_soon(turn)

        class Reader:
            def received(self, raw: bytes) -> None:
                if given["turn"] != turns["count"]:
                    given["turn"], given["bytes"] = turns["count"], 0
                given["bytes"] += len(raw)
                given["all"] += len(raw)
                given["most"] = max(given["most"], given["bytes"])
                if raw == b"" and not done.done():
                    done.set_result(None)

            def lost(self, exc: BaseException | None) -> None:
                if not done.done():
                    done.set_result(None)

        def send() -> None:
            chunk = b"\x00" * (1 << 20)
            try:
                for _ in range(total >> 20):
                    sender.sendall(chunk)
            finally:
                sender.close()

        thread = threading.Thread(target=send, name="flood-sender", daemon=True)
        wire.attach(Reader())
        loop.call_soon(turn)
        thread.start()
        try:
            await asyncio.wait_for(done, NEVER)
        finally:
            wire.abort()
            await asyncio.to_thread(thread.join, PROMPTLY)
        return given["all"], given["most"], turns["count"]

    received, most, turns = loop_run(main())
    assert received == total
    assert most <= bound, f"{most} bytes in one turn of the loop ({turns} turns in all)"


# ---------------------------------------------------------------------------- many


def test_many_clients_on_one_loop_use_no_thread(
    loop_run: Callable[[Coroutine[Any, Any, Any]], Any], broker: Broker
) -> None:
    settings = Settings(f"mqtt://127.0.0.1:{broker.ports.tcp}", keep_alive=60)
    many = 200

    async def main() -> None:
        threads = threading.active_count()
        clients = [pco_wire.asyncio.Client(settings) for _ in range(many)]
        try:
            await asyncio.gather(*(client.connect() for client in clients))
            assert all(client.connected for client in clients)
            assert threading.active_count() == threads
            assert not [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
        finally:
            await asyncio.gather(*(client.disconnect() for client in clients))
        assert not any(client.error for client in clients)

    loop_run(main())


def test_a_cancelled_disconnect_stays_cancelled(
    loop_run: Callable[[Coroutine[Any, Any, Any]], Any], peers: Peers
) -> None:
    # Accepted, then closed: the client waits to connect again when disconnect() comes.
    peer = peers.start(answer_then_close(), connections=1)
    settings = Settings(peer.uri(), response_timeout=2.0, reconnect_min_delay=5.0)

    async def main() -> None:
        client = pco_wire.asyncio.Client(settings, reconnect=True)
        await client.connect()
        await _until(lambda: client._task is not None, "reconnecting")
        stopping = asyncio.create_task(client.disconnect())
        await asyncio.sleep(0)  # disconnect() now waits for the reconnection to end
        stopping.cancel()
        done, _ = await asyncio.wait({stopping}, timeout=PROMPTLY)
        assert stopping in done
        assert stopping.cancelled(), "disconnect() swallowed its own cancellation"
        await client.disconnect()

    loop_run(main())
