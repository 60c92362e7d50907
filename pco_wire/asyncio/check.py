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

__all__ = ["test_connection"]


async def test_connection(settings: Settings, *, client_id: str | None = None) -> TestResult:
    """Connect, and if CONNACK accepts, disconnect: exactly CONNECT and DISCONNECT go to
    the server (with protocol "auto", a second CONNECT in MQTT 3.1 after a return code
    1). Never raises for a user's mistake or a server's fault; cancelling it closes the
    connection and raises CancelledError."""
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


# Not a test, whatever pytest infers from the name, when a test module imports it.
test_connection.__test__ = False  # type: ignore[attr-defined]
