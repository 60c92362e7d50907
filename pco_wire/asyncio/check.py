"""``test_connection``, awaited: the blocking one's result, phases, diagnoses and bytes."""

from __future__ import annotations

import time

from .. import result as _result
from ..supervisor import Supervisor
from .connection import connect, diagnose

TYPE_CHECKING = False
if TYPE_CHECKING:
    from ..phases import Phase
    from ..result import TestResult
    from ..settings import Settings

__all__ = ["test_connection", "test_servers"]


async def test_connection(settings: Settings, *, client_id: str | None = None) -> TestResult:
    """Connect, and if CONNACK accepts, disconnect: exactly CONNECT and DISCONNECT go to
    the server (with protocol "auto", a second CONNECT in MQTT 3.1 after a return code
    1). Never raises for a user's mistake or a server's fault; cancelling it closes the
    connection and raises CancelledError."""
    if len(getattr(settings, "servers", ())) > 1:
        # Several servers: the first that accepts, else the first one's failure.
        results = await test_servers(settings, client_id=client_id, until_accepted=True)
        return next((result for result in results if result.ok), results[0])
    supervisor = Supervisor(settings, client_id, reconnect=False)
    phases: list[Phase] = []
    try:
        conn = await connect(supervisor, phases)
    except Exception as exc:
        diagnosis = await diagnose(supervisor, exc)
        return _result.failed(settings, supervisor.attempt, phases, exc, diagnosis)
    attempt = supervisor.attempt
    assert attempt is not None
    stream = conn.stream
    info = _result.ConnectionInfo.of(attempt, stream.address, stream.tls, stream.warnings)
    try:
        result = _result.accepted(attempt, info)
        if result.error is not None:
            return result
        start = time.monotonic()
        failed, closed = await conn.disconnect(wait=False)
        return _result.disconnected(result, attempt, time.monotonic() - start, failed, closed)
    finally:
        conn.close()


async def test_servers(
    settings: Settings, *, client_id: str | None = None, until_accepted: bool = False
) -> list[TestResult]:
    """``test_connection`` of each server of ``settings.servers``, in order, all with one
    client identity (a generated ID is made at the first and used at the others);
    ``until_accepted``: stop at the first that accepts."""
    results = []
    for uri in settings.servers:
        result = await test_connection(settings.for_server(uri), client_id=client_id)
        results.append(result)
        if not settings.server_assigns_id:  # an assigned ID is that server's own
            client_id = client_id or result.client_id or None
        if until_accepted and result.ok:
            break
    return results


# Not tests, whatever pytest infers from the names, when a test module imports them.
test_connection.__test__ = False  # type: ignore[attr-defined]
test_servers.__test__ = False  # type: ignore[attr-defined]
