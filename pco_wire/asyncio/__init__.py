"""The asyncio driver: ``test_connection`` and ``Client``, awaited, over the same core as
the blocking ones (settings, supervisor, session, events, results and diagnoses), so that
both give the same results and put the same bytes on the wire.

    import asyncio, pco_wire, pco_wire.asyncio

    async def main() -> None:
        settings = pco_wire.Settings("mqtt://127.0.0.1:1883", keep_alive=30)
        result = await pco_wire.asyncio.test_connection(settings)
        print(result.message)
        async with pco_wire.asyncio.Client(settings) as client:
            async for event in client.events():
                print(event)

    asyncio.run(main())
"""

from __future__ import annotations

from .check import test_connection, test_servers
from .client import Client

__all__ = ["Client", "test_connection", "test_servers"]
