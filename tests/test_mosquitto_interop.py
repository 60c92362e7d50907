"""Our bytes against a real peer: Mosquitto reads our CONNECT, we read its CONNACKs, and
we read the CONNECT that Mosquitto's own client sends.

Both codecs encode and decode here; the broker is started by the tests on loopback.
"""

from __future__ import annotations

import socket
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import pytest

from pco_wire import ConnAck, ConnAckCode, Connect, Disconnect, Will
from tests.broker import Broker, require, start_broker

TIMEOUT = 5.0
USER, PASSWORD = "plant", "line7-pw"


@pytest.fixture(scope="module")
def broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Broker]:
    running = start_broker(tmp_path_factory.mktemp("mosquitto"), USER, PASSWORD)
    yield running
    running.stop()


def _exchange(port: int, data: bytes, codec: ModuleType, level: int = 4) -> object:
    """Send ``data``, frame what comes back until one packet is complete, return it."""
    with socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT) as sock:
        sock.sendall(data)
        framer = codec.Framer(protocol_level=level)
        while True:
            chunk = sock.recv(4096)
            assert chunk, "mosquitto closed the connection without a CONNACK"
            packets = framer.feed(chunk)
            if packets:
                assert len(packets) == 1
                sock.sendall(codec.encode(Disconnect()))
                return packets[0]


def test_accepted(broker: Broker, codec: ModuleType) -> None:
    connect = Connect("interopA", keep_alive=30)
    reply = _exchange(broker.ports.tcp, codec.encode(connect), codec)
    assert reply == ConnAck(False, ConnAckCode.ACCEPTED)


def test_mqtt31_accepted(broker: Broker, codec: ModuleType) -> None:
    connect = Connect("interop31", protocol_level=3)
    reply = _exchange(broker.ports.tcp, codec.encode(connect), codec, level=3)
    assert reply == ConnAck(False, ConnAckCode.ACCEPTED)


def test_session_present_on_second_connect(broker: Broker, codec: ModuleType) -> None:
    name = f"keep{codec.__name__.rsplit('.', 1)[-1].strip('_')}"
    connect = codec.encode(Connect(name, clean_session=False))
    first = _exchange(broker.ports.tcp, connect, codec)
    second = _exchange(broker.ports.tcp, connect, codec)
    assert first == ConnAck(False, ConnAckCode.ACCEPTED)
    assert second == ConnAck(True, ConnAckCode.ACCEPTED)


def test_password_accepted_and_refused(broker: Broker, codec: ModuleType) -> None:
    good = Connect("interopP", username=USER, password=PASSWORD.encode())
    bad = good.replace(password=b"wrong")
    assert _exchange(broker.ports.password, codec.encode(good), codec) == ConnAck(
        False, ConnAckCode.ACCEPTED
    )
    # Mosquitto 2.0 answers a wrong password in MQTT 3.1.1 with "not authorized".
    assert _exchange(broker.ports.password, codec.encode(bad), codec) == ConnAck(
        False, ConnAckCode.NOT_AUTHORIZED
    )


def test_identifier_rejected(broker: Broker, codec: ModuleType) -> None:
    # Empty client identifier with clean session off: our encoder refuses to send it
    # (MQTT 3.1.1 §3.1.3.1), so the bytes are written out by hand.
    connect = bytes.fromhex("100c00044d5154540400003c0000")
    assert _exchange(broker.ports.tcp, connect, codec) == ConnAck(
        False, ConnAckCode.IDENTIFIER_REJECTED
    )


def test_unacceptable_protocol_version(broker: Broker, codec: ModuleType) -> None:
    # Protocol level 99 (MQTT 3.1.1 §3.1.2.2): the server answers with return code 1.
    connect = bytes.fromhex("101000044d5154546302003c000461626364")
    assert _exchange(broker.ports.tcp, connect, codec) == ConnAck(
        False, ConnAckCode.UNACCEPTABLE_PROTOCOL_VERSION
    )


def _capture_client_connect(arguments: list[str]) -> bytes:
    """Run mosquitto_pub against a listener of ours and return the packet it sends first."""
    with socket.create_server(("127.0.0.1", 0)) as server:
        server.settimeout(TIMEOUT)
        port = server.getsockname()[1]
        received = bytearray()

        def serve() -> None:
            conn, _ = server.accept()
            with conn:
                conn.settimeout(TIMEOUT)
                # The CONNECT is small: everything up to its Remaining Length.
                while len(received) < 2 or len(received) < 2 + received[1]:
                    chunk = conn.recv(4096)
                    if not chunk:
                        return
                    received.extend(chunk)

        thread = threading.Thread(target=serve)
        thread.start()
        subprocess.run(
            [require("mosquitto_pub"), "-h", "127.0.0.1", "-p", str(port), *arguments],
            capture_output=True,
            timeout=TIMEOUT,
            check=False,  # it fails once we close without a CONNACK
        )
        thread.join(TIMEOUT)
        assert not thread.is_alive()
    return bytes(received)


@pytest.mark.parametrize(
    ("arguments", "expected"),
    [
        (
            ["-V", "mqttv311", "-i", "pubA", "-k", "30", "-u", USER, "-P", PASSWORD],
            Connect("pubA", True, 30, USER, PASSWORD.encode(), None, 4),
        ),
        (
            [
                "-V",
                "mqttv31",
                "-i",
                "pubB",
                "-c",
                "--will-topic",
                "plant/gw",
                "--will-payload",
                "offline",
                "--will-qos",
                "1",
                "--will-retain",
            ],
            Connect("pubB", False, 60, None, None, Will("plant/gw", b"offline", 1, True), 3),
        ),
    ],
    ids=["mqtt311-password", "mqtt31-will"],
)
def test_decode_mosquitto_pub_connect(
    codec: ModuleType, arguments: list[str], expected: Connect
) -> None:
    data = _capture_client_connect([*arguments, "-t", "t", "-m", "x"])
    assert codec.decode(data) == expected
    # And our encoder writes the very same bytes for the same packet.
    assert codec.encode(expected) == data


def test_mosquitto_is_installed() -> None:
    # A missing broker must fail the suite, never skip it.
    require("mosquitto")
    require("mosquitto_pub")
    require("mosquitto_passwd")
    assert Path(require("mosquitto")).exists()
