"""The asyncio Client where the loop's callbacks order things their own way: a connection
that ends in the same read as its CONNACK, a disconnect() that is cancelled, the events
of an attempt that failed. Byte-level peers (tests/peers.py) give the exact timing. Each runs on
both event loops (the ``loop`` fixture): the standard one and uvloop."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest

import pco_wire
import pco_wire.asyncio
from pco_wire import Closed, Connected, Settings
from tests.drivers import run_on
from tests.peers import CONNACK_ACCEPTED, Peers, answer_then_close, connack, mqtt_server

#: Every await of these tests is bounded by it.
LIMIT = 10.0


@pytest.fixture
def peers() -> Iterator[Peers]:
    with Peers.running() as running:
        yield running


def _settings(uri: str, **changes: object) -> Settings:
    return Settings(uri, response_timeout=2.0, **changes)  # type: ignore[arg-type]


def test_a_connection_that_ends_with_its_connack_is_seen_to_end(peers: Peers, loop: str) -> None:
    # CONNACK and the server's close in one segment: the end comes before connect()
    # returns; the client must still stop (no reconnection asked), not hang.
    peer = peers.start(answer_then_close(CONNACK_ACCEPTED))

    async def run() -> list[pco_wire.Event]:
        client = pco_wire.asyncio.Client(_settings(peer.uri(), reconnect=False))
        await asyncio.wait_for(client.connect(), LIMIT)
        await asyncio.wait_for(client.wait_closed(), LIMIT)
        events = [event async for event in client.events()]
        assert isinstance(client.error, pco_wire.ConnectionClosed), client.error
        return events

    events = run_on(loop, run())
    assert [type(e) for e in events] == [Connected, Closed], events


def test_a_cancelled_disconnect_still_stops_the_client(peers: Peers, loop: str) -> None:
    peer = peers.start(mqtt_server())

    async def run() -> None:
        client = pco_wire.asyncio.Client(_settings(peer.uri()))
        await asyncio.wait_for(client.connect(), LIMIT)
        task = asyncio.ensure_future(client.disconnect())
        await asyncio.sleep(0)
        task.cancel()
        try:
            await task
        except asyncio.CancelledError:
            pass
        await asyncio.wait_for(client.wait_closed(), LIMIT)

    run_on(loop, run())


def test_the_events_of_a_fallback_are_not_shown(peers: Peers, loop: str) -> None:
    # Protocol auto: MQTT 5.0 and 3.1.1 refused with 1, then MQTT 3.1 accepted. The refusal is
    # the fallback's, not a lost connection: as in the blocking driver, no Closed, and
    # no error left behind.
    from tests.peers import by_protocol_level

    peer = peers.start(by_protocol_level({4: connack(1), 3: CONNACK_ACCEPTED}), connections=3)

    async def run() -> tuple[list[pco_wire.Event], object]:
        client = pco_wire.asyncio.Client(_settings(peer.uri(), protocol="auto"))
        await asyncio.wait_for(client.connect(), LIMIT)
        error = client.error
        await asyncio.wait_for(client.disconnect(), LIMIT)
        return [event async for event in client.events()], error

    events, error = run_on(loop, run())
    assert error is None
    assert [type(e) for e in events] == [Connected, Closed], events
