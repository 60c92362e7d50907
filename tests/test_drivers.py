"""Both drivers end the same way: the fault matrix run once with each, side by side.

For every fault a byte-level peer plays (tests/peers.py), the blocking and the asyncio
``test_connection`` (on each event loop) must give the same exit status, category, phases
(names and outcome) and sentence, and put the same bytes on the wire (the client's MQTT
packets, byte for byte, and whether it closed). The client ID is fixed so that the CONNECT
bytes compare.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from pco_wire import Security, Settings
from pco_wire.result import TestResult
from tests.drivers import DRIVERS, Driver
from tests.peers import (
    STOP_TIMEOUT,
    Handler,
    Peer,
    Peers,
    aborting,
    answer_then_close,
    closing,
    connack,
    mqtt_server,
    silent,
    trickle,
    websocket_server,
)
from tests.pki import Pki

RESPONSE_TIMEOUT = 1.0
#: A PUBLISH fixed header announcing 200,000,000 bytes, and no body.
HUGE_HEADER = b"\x30\x80\x84\xaf\x5f"
TLS_TRICKLE = b"\x16\x03\x03\x40\x00" + b"\x02" * 64

#: fault id -> (scheme, the peer's handler). Not here: a peer that closes at once, whose
#: close the kernel turns into a reset or not depending on whether our CONNECT arrived
#: first (test_faults takes either, for each driver).
FAULTS: dict[str, tuple[str, Callable[[], Handler]]] = {
    "silent-server": ("mqtt", silent),
    "reset-after-connect": ("mqtt", lambda: aborting(closing())),
    "half-connack": ("mqtt", lambda: mqtt_server(bytes.fromhex("2002 00"))),
    "garbage-reserved-type": ("mqtt", lambda: mqtt_server(b"\xf0\x00 reserved packet type 15")),
    "garbage-ssh-banner": ("mqtt", lambda: mqtt_server(b"SSH-2.0-OpenSSH_9.6\r\n")),
    "huge-length": ("mqtt", lambda: mqtt_server(connack(0) + HUGE_HEADER)),
    "refusal-5": ("mqtt", lambda: mqtt_server(connack(5))),
    "takeover": ("mqtt", answer_then_close),
    "tls-stall-silent": ("mqtts", silent),
    "tls-stall-trickling": ("mqtts", lambda: trickle(TLS_TRICKLE, 0.2)),
    "upgrade-401": ("ws", lambda: websocket_server(status=401, body=b"go away")),
    "upgrade-404": ("ws", lambda: websocket_server(status=404, body=b"go away")),
    "accepted": ("mqtt", mqtt_server),
    "accepted-ws": ("ws", websocket_server),
}


#: Compared on the standard loop only: their second goes to waiting out the response
#: timeout, which test_faults waits out on uvloop (a silent server, a PINGRESP that never
#: comes); the trickling TLS stall stays, a timer while bytes arrive.
WAITED_OUT = {"silent-server", "half-connack", "tls-stall-silent"}


@pytest.fixture
def peers() -> Iterator[Peers]:
    with Peers.running() as running:
        yield running


def _ending(result: TestResult, peer: Peer) -> dict[str, Any]:
    # The result comes as soon as our side closed; the peer's thread reads what we sent
    # last (a DISCONNECT, the close) when it gets to it. Each handler returns once it
    # has seen our close, so waiting for that before stopping the peer makes the bytes
    # compared all of them, not as many as the peer happened to have read.
    for rec in peer.recordings:
        assert rec.ended.wait(STOP_TIMEOUT), "the peer never saw the client close"
    peer.stop()
    return {
        "exit_code": result.exit_code,
        "category": result.category,
        "phases": [(str(p.name), p.ok) for p in result.phases],
        "message": result.message.replace(str(peer.port), "PORT"),
        "wire": [[packet for _, packet in rec.packets] for rec in peer.recordings],
    }


@pytest.mark.parametrize("fault", list(FAULTS))
def test_both_drivers_end_the_same_way(peers: Peers, pki: Pki, fault: str) -> None:
    scheme, handler = FAULTS[fault]
    endings: dict[str, dict[str, Any]] = {}
    names = [name for name in DRIVERS if name != "uvloop" or fault not in WAITED_OUT]
    for name in names:
        driver = Driver(name)
        peer = peers.start(handler(), connections=2)
        security = Security(cafile=str(pki.ca_cert)) if scheme == "mqtts" else None
        settings = Settings(
            peer.uri(scheme),
            response_timeout=RESPONSE_TIMEOUT,
            client_id="samegw1",
            security=security,
        )
        result = driver.test_connection(settings)
        assert result.phases, result  # the settings are good: the fault is the peer's
        endings[name] = _ending(result, peer)
        assert not driver.finish(), driver.hygiene.problems
    assert endings["asyncio"] == endings["sync"]
    if "uvloop" in names:
        assert endings["uvloop"] == endings["sync"]
