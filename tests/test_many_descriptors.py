"""A gateway program may hold more than 1,024 descriptors: the blocking driver must wait
on descriptors above that (``select`` cannot) and the asyncio one too, on either event loop."""

from __future__ import annotations

import os
import resource
from collections.abc import Iterator

import pytest

import pco_wire
import pco_wire.asyncio
from pco_wire import Security, Settings
from tests.broker import Broker
from tests.drivers import run_on
from tests.pki import Pki

#: Descriptors held open so that the connection's come above 1,024.
HELD = 1100


@pytest.fixture
def many_descriptors() -> Iterator[None]:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = HELD + 200
    if hard != resource.RLIM_INFINITY and hard < wanted:
        pytest.fail(f"the hard limit of descriptors ({hard}) is below {wanted}")
    if soft != resource.RLIM_INFINITY and soft < wanted:
        resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, hard))
    held = [os.open(os.devnull, os.O_RDONLY) for _ in range(HELD)]
    try:
        yield
    finally:
        for fd in held:
            os.close(fd)
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))


def _schemes(broker: Broker, pki: Pki) -> list[Settings]:
    security = Security(cafile=str(pki.ca_cert))
    ports = broker.ports
    return [
        Settings(f"mqtt://127.0.0.1:{ports.tcp}", response_timeout=5.0),
        Settings(f"mqtts://localhost:{ports.tls}", security=security, response_timeout=5.0),
        Settings(f"ws://127.0.0.1:{ports.ws}", response_timeout=5.0),
        Settings(f"wss://localhost:{ports.wss}", security=security, response_timeout=5.0),
    ]


def test_blocking_driver_above_1024_descriptors(
    broker: Broker, pki: Pki, many_descriptors: None
) -> None:
    for settings in _schemes(broker, pki):
        result = pco_wire.test_connection(settings)
        assert result.ok, result.message
        with pco_wire.Client(settings.replace(keep_alive=1)) as client:
            assert client.connected
        assert client.server_closed is True


def test_asyncio_driver_above_1024_descriptors(
    broker: Broker, pki: Pki, loop: str, many_descriptors: None
) -> None:
    async def run() -> None:
        for settings in _schemes(broker, pki):
            result = await pco_wire.asyncio.test_connection(settings)
            assert result.ok, result.message
            async with pco_wire.asyncio.Client(settings) as client:
                assert client.connected
            assert client.server_closed is True

    run_on(loop, run())
