"""The asyncio driver against the blocking one, from the outside: the same results, the
same events, and no state in which a wait never ends.

Each was a defect found while trying the asyncio API from outside. The asyncio side runs
on both event loops (the ``loop`` fixture): the standard one and uvloop.
"""

from __future__ import annotations

import asyncio
import gc
import threading
import warnings
from collections.abc import Iterator
from typing import Any

import pytest

import pco_wire
import pco_wire.asyncio as pco_asyncio
from pco_wire import Closed, Connected, Event, GivingUp, ServerRefused, Settings
from tests.drivers import run_on
from tests.peers import (
    CONNACK_ACCEPTED,
    PeerConnection,
    Peers,
    by_protocol_level,
    connack,
    for_at_most,
    mqtt_server,
    publish,
    sequence,
)

#: Every await of these tests is bounded by this.
BOUND = 5.0
#: Why some leave uvloop out: the client's events and state, no path of the loop's, and
#: their second is the hold of ``_client_events``.
HELD = "the client's events and state, after a hold of the test's own"
STORED = publish("plant/line1/temp", b"21.5") + publish("plant/line2/state", b"off")


@pytest.fixture
def peers() -> Iterator[Peers]:
    with Peers.running() as running:
        yield running


def _settings(uri: str, **options: Any) -> Settings:
    options.setdefault("response_timeout", 2.0)
    return Settings(uri, **options)


def _run(loop: str, coro: Any) -> Any:
    async def bounded() -> Any:
        return await asyncio.wait_for(coro, BOUND)

    return run_on(loop, bounded())


def _kinds(events: list[Event]) -> list[str]:
    """Event names, with the error's type for those that carry one."""
    kinds = []
    for event in events:
        error = getattr(event, "error", None)
        name = type(event).__name__
        kinds.append(f"{name}({type(error).__name__})" if error is not None else name)
    return kinds


async def _client_events(settings: Settings) -> tuple[list[Event], pco_asyncio.Client]:
    """Connect, wait until the client stops (or disconnect after a short hold), and
    return every event it yielded."""
    client = pco_asyncio.Client(settings)
    events: list[Event] = []
    try:
        await client.connect()
        try:
            await asyncio.wait_for(client.wait_closed(), 1.0)
        except asyncio.TimeoutError:
            pass
    except pco_wire.errors.Error:
        pass
    finally:
        await client.disconnect()
    async for event in client.events():
        events.append(event)
    return events, client


def test_other_packets_after_connack_are_listed_by_both_drivers(peers: Peers, loop: str) -> None:
    settings = _settings(peers.start(mqtt_server(CONNACK_ACCEPTED + STORED), connections=2).uri())
    blocking = pco_wire.test_connection(settings)
    awaited = _run(loop, pco_asyncio.test_connection(settings))
    assert blocking.ok and awaited.ok
    assert blocking.other_packet_count == awaited.other_packet_count == 2
    assert [p["topic"] for p in blocking.other_packets] == ["plant/line1/temp", "plant/line2/state"]
    assert awaited.other_packets == blocking.other_packets


@pytest.mark.standard_loop(HELD)
def test_auto_fallback_through_the_asyncio_client_leaves_no_error(peers: Peers, loop: str) -> None:
    peer = peers.start(by_protocol_level({3: connack(0)}), connections=3)
    events, client = _run(loop, _client_events(_settings(peer.uri(), protocol="auto")))
    assert client.connections == 1
    assert client.error is None
    assert _kinds(events)[:1] == ["Connected"]
    assert isinstance(events[0], Connected)


@pytest.mark.standard_loop(HELD)
def test_refusal_on_reconnection_gives_the_same_events_in_both_drivers(
    peers: Peers, loop: str
) -> None:
    def settings_for(peer_uri: str) -> Settings:
        return _settings(peer_uri, reconnect_min_delay=0.1, reconnect_max_delay=0.2)

    handler = sequence(for_at_most(mqtt_server(), 0.3), mqtt_server(connack(5)))
    awaited_peer = peers.start(handler, connections=2)
    awaited, client = _run(loop, _client_events(settings_for(awaited_peer.uri())))
    assert isinstance(client.error, ServerRefused)

    blocking_peer = peers.start(handler, connections=2)
    blocking: list[Event] = []
    done = threading.Event()

    def on_event(event: Event) -> None:
        blocking.append(event)
        if isinstance(event, GivingUp):
            done.set()

    with pco_wire.Client(settings_for(blocking_peer.uri()), on_event=on_event):
        assert done.wait(BOUND)
    assert _kinds(blocking) == [
        "Connected",
        "Closed(ConnectionClosed)",
        "Reconnecting(ConnectionClosed)",
        "GivingUp(ServerRefused)",
    ]
    assert _kinds(awaited) == _kinds(blocking)


def test_wait_closed_ends_after_a_cancelled_disconnect(peers: Peers, loop: str) -> None:
    def holding(conn: PeerConnection) -> None:
        # CONNACK, then never read nor close: our close after DISCONNECT is not answered.
        conn.read_packet(5.0)
        conn.send(CONNACK_ACCEPTED)
        while conn.alive():
            if conn.receive(conn._deadline(0.05)) == b"":
                break
        while conn.alive():
            conn.receive(conn._deadline(0.05))

    peer = peers.start(holding)

    async def scenario() -> None:
        client = pco_asyncio.Client(_settings(peer.uri(), reconnect=False))
        await client.connect()
        leaving = asyncio.ensure_future(client.disconnect())
        await asyncio.sleep(0.05)
        leaving.cancel()
        await asyncio.gather(leaving, return_exceptions=True)
        assert not client.connected
        await asyncio.wait_for(client.wait_closed(), 2.0)
        kinds = [type(event).__name__ async for event in client.events()]
        assert kinds[:1] == ["Connected"]

    _run(loop, scenario())


def test_disconnect_before_connect_does_not_leave_a_connected_stopped_client(
    peers: Peers, loop: str
) -> None:
    peer = peers.start(mqtt_server())

    async def scenario() -> None:
        client = pco_asyncio.Client(_settings(peer.uri()))
        await client.disconnect()
        try:
            await client.connect()
        except RuntimeError:
            return  # refusing to connect a disconnected client is a fine answer too
        try:
            assert client.connected
            with pytest.raises(asyncio.TimeoutError):
                await asyncio.wait_for(client.wait_closed(), 0.3)
        finally:
            await client.disconnect()

    _run(loop, scenario())


@pytest.mark.standard_loop(HELD)
def test_closed_event_of_the_asyncio_client_is_a_closed(peers: Peers, loop: str) -> None:
    """Sound: a held asyncio Client ends its events with Closed(None) after disconnect."""
    events, client = _run(loop, _client_events(_settings(peers.start(mqtt_server()).uri())))
    assert client.error is None and client.server_closed is True
    assert isinstance(events[0], Connected)
    assert isinstance(events[-1], Closed) and events[-1].error is None


def test_a_refused_connect_leaves_the_same_state_in_both_drivers(peers: Peers, loop: str) -> None:
    blocking_events: list[Event] = []
    blocking = pco_wire.Client(
        _settings(peers.start(mqtt_server(connack(5))).uri()), on_event=blocking_events.append
    )
    with pytest.raises(ServerRefused):
        blocking.connect()
    blocking.disconnect()
    assert blocking.error is None and blocking_events == []

    async def scenario() -> tuple[pco_asyncio.Client, list[Event]]:
        client = pco_asyncio.Client(_settings(peers.start(mqtt_server(connack(5))).uri()))
        with pytest.raises(ServerRefused):
            await client.connect()
        await client.disconnect()
        return client, [event async for event in client.events()]

    client, events = _run(loop, scenario())
    assert (client.error, events) == (blocking.error, blocking_events)


def test_a_client_used_from_another_loop_says_so_at_once(peers: Peers, loop: str) -> None:
    client = pco_asyncio.Client(_settings(peers.start(mqtt_server()).uri()))
    run_on(loop, client.connect())
    try:

        async def wait(client: pco_asyncio.Client) -> None:
            await asyncio.wait_for(client.wait_closed(), 2.0)

        with pytest.raises(RuntimeError, match="loop"):
            run_on(loop, wait(client))
    finally:
        with pytest.raises(RuntimeError, match="loop"):
            run_on(loop, client.disconnect())  # drops the socket: its loop is gone
        # The transport of the loop that was closed under it says so when collected (the
        # program's mistake, worth a ResourceWarning): collected here, not in a later test.
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ResourceWarning)
            del client
            gc.collect()
