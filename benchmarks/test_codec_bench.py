"""Codec speed: our compiled and pure codecs next to paho-mqtt and mqtt5, in one run.

Every row runs the same work in each implementation that can do it; the table printed
at the end (see conftest.py) gives median ns per packet and the ratios.

How the others are driven:
- mqtt5 (Rust) has a stand-alone codec: ``XPacket(...).write()`` and
  ``mqtt5.read(memoryview)``. Its bytes are MQTT 5 (CONNACK has a property length, for
  example), close enough to compare. Streams are cut with ``read`` in a loop, keeping
  the incomplete tail of each chunk for the next, as a receiver must.
- paho-mqtt has no stand-alone codec. Encoding calls the client's own packet builders
  (``_send_connect``, ``_send_pingreq``, ``_send_disconnect``) with ``_packet_queue``
  replaced on the instance by a function that returns the bytes it is handed, so no
  socket is touched. Decoding calls ``_packet_read`` with the client's socket replaced
  by an object whose ``recv`` is ``io.BytesIO(data).read`` (C, a few dozen ns a call):
  paho reads each packet with recv(1) for the type, recv(1) per length byte and one
  recv for the body, then handles it (state changes, logging checks, callbacks unset).
  paho is a client and has no CONNECT reader: that row has no paho column.
"""

from __future__ import annotations

import io
import random
from collections.abc import Callable, Iterator
from types import ModuleType
from typing import Any

import mqtt5
import paho.mqtt.client as paho
import pytest

from pco_wire import (
    ConnAck,
    ConnAckCode,
    Connect,
    Disconnect,
    OtherPacket,
    PacketType,
    PingReq,
    _codec_py,
)

try:
    from pco_wire import _codec as _codec_c
except ImportError:  # pragma: no cover - the table then lacks the compiled column
    _codec_c = None

OURS = [pytest.param(_codec_c, id="cython"), pytest.param(_codec_py, id="python")]
CHUNK = 4096
STREAM_PACKETS = 100_000
MIXED_PACKETS = 10_000


def _ours(codec: ModuleType | None) -> ModuleType:
    if codec is None:
        pytest.fail("the compiled codec is not built: run `pip install .` first")
    return codec


def _impl(codec: ModuleType) -> str:
    return "cython" if codec is _codec_c else "python"


def _chunks(data: bytes) -> list[bytes]:
    return [data[i : i + CHUNK] for i in range(0, len(data), CHUNK)]


class _Socket:
    """Enough of a socket for paho's reader: ``recv`` reads from a bytes buffer."""

    def __init__(self, data: bytes) -> None:
        self.recv = io.BytesIO(data).read

    def close(self) -> None:
        pass


def _paho_client() -> Any:
    client = paho.Client(
        paho.CallbackAPIVersion.VERSION2,  # type: ignore[attr-defined]
        client_id="abc",
        protocol=paho.MQTTv311,
    )
    client.username_pw_set("u", "p")
    # Hand back the bytes paho built instead of queueing them for a socket.
    client._packet_queue = lambda command, packet, mid, qos, info=None: packet  # type: ignore[method-assign, assignment, return-value]
    return client


def _paho_reader(data: bytes) -> Callable[[], int]:
    """A function that reads every packet of ``data`` with paho; returns the count."""
    client = _paho_client()

    def read_all() -> int:
        client._sock = _Socket(data)
        client._in_packet["command"] = 0
        count = 0
        end = len(data)
        # paho returns 0 for each packet handled; past the end recv gives b"" (lost).
        while client._sock.recv.__self__.tell() < end:
            if client._packet_read() != 0:
                raise AssertionError("paho refused the stream")
            count += 1
        return count

    return read_all


def _mqtt5_stream(chunks: list[bytes]) -> int:
    tail = b""
    count = 0
    for chunk in chunks:
        data = tail + chunk if tail else chunk
        view = memoryview(data)
        used = 0
        while True:
            try:
                _packet, size = mqtt5.read(view[used:])
            except IndexError:  # mqtt5's "not enough bytes": wait for the next chunk
                break
            used += size
            count += 1
        tail = data[used:]
    return count


def _framer_stream(codec: ModuleType, chunks: list[bytes]) -> int:
    framer = codec.Framer()
    count = 0
    for chunk in chunks:
        count += len(framer.feed(chunk))
    return count


# ----------------------------------------------------------------------- encode CONNECT


@pytest.mark.benchmark(group="encode CONNECT (build + encode)")
@pytest.mark.parametrize("codec", OURS)
def test_encode_connect_ours(benchmark: Any, codec: ModuleType | None) -> None:
    encode = _ours(codec).encode
    benchmark.extra_info.update(impl=_impl(_ours(codec)), packets=1)
    data = benchmark(lambda: encode(Connect("abc", keep_alive=60, username="u", password=b"p")))
    assert data == bytes.fromhex("101500044d51545404c2003c0003616263000175000170")


@pytest.mark.benchmark(group="encode CONNECT (build + encode)")
def test_encode_connect_mqtt5(benchmark: Any) -> None:
    benchmark.extra_info.update(impl="mqtt5", packets=1)
    packet = mqtt5.ConnectPacket
    data = benchmark(lambda: packet("abc", username="u", password=b"p", keep_alive=60).write())
    assert data[0] == 0x10


@pytest.mark.benchmark(group="encode CONNECT (build + encode)")
def test_encode_connect_paho(benchmark: Any) -> None:
    benchmark.extra_info.update(impl="paho", packets=1)
    client = _paho_client()
    data = benchmark(lambda: client._send_connect(60))
    assert bytes(data) == bytes.fromhex("101500044d51545404c2003c0003616263000175000170")


# ------------------------------------------------------------ encode PINGREQ, DISCONNECT


@pytest.mark.benchmark(group="encode PINGREQ + DISCONNECT")
@pytest.mark.parametrize("codec", OURS)
def test_encode_simple_ours(benchmark: Any, codec: ModuleType | None) -> None:
    encode = _ours(codec).encode
    benchmark.extra_info.update(impl=_impl(_ours(codec)), packets=2)
    ping, bye = PingReq(), Disconnect()
    assert benchmark(lambda: (encode(ping), encode(bye))) == (b"\xc0\x00", b"\xe0\x00")


@pytest.mark.benchmark(group="encode PINGREQ + DISCONNECT")
def test_encode_simple_mqtt5(benchmark: Any) -> None:
    benchmark.extra_info.update(impl="mqtt5", packets=2)
    ping, bye = mqtt5.PingReqPacket, mqtt5.DisconnectPacket
    result = benchmark(lambda: (ping().write(), bye().write()))
    assert result[0] == b"\xc0\x00"


@pytest.mark.benchmark(group="encode PINGREQ + DISCONNECT")
def test_encode_simple_paho(benchmark: Any) -> None:
    benchmark.extra_info.update(impl="paho", packets=2)
    client = _paho_client()
    result = benchmark(lambda: (client._send_pingreq(), client._send_disconnect()))
    assert [bytes(p) for p in result] == [b"\xc0\x00", b"\xe0\x00"]


# ---------------------------------------------------------- decode CONNACK and PINGRESP

CONNACK = b"\x20\x02\x00\x00"
PINGRESP = b"\xd0\x00"


@pytest.mark.benchmark(group="decode CONNACK")
@pytest.mark.parametrize("codec", OURS)
def test_decode_connack_ours(benchmark: Any, codec: ModuleType | None) -> None:
    decode = _ours(codec).decode
    benchmark.extra_info.update(impl=_impl(_ours(codec)), packets=1)
    assert benchmark(decode, CONNACK) == ConnAck(False, ConnAckCode.ACCEPTED)


@pytest.mark.benchmark(group="decode CONNACK")
def test_decode_connack_mqtt5(benchmark: Any) -> None:
    benchmark.extra_info.update(impl="mqtt5", packets=1)
    view = memoryview(mqtt5.ConnAckPacket().write())
    packet, _size = benchmark(mqtt5.read, view)
    assert isinstance(packet, mqtt5.ConnAckPacket)


@pytest.mark.benchmark(group="decode CONNACK")
def test_decode_connack_paho(benchmark: Any) -> None:
    benchmark.extra_info.update(impl="paho", packets=1)
    assert benchmark(_paho_reader(CONNACK)) == 1


@pytest.mark.benchmark(group="decode PINGRESP")
@pytest.mark.parametrize("codec", OURS)
def test_decode_pingresp_ours(benchmark: Any, codec: ModuleType | None) -> None:
    decode = _ours(codec).decode
    benchmark.extra_info.update(impl=_impl(_ours(codec)), packets=1)
    assert benchmark(decode, PINGRESP) == codec.decode(PINGRESP)  # type: ignore[union-attr]


@pytest.mark.benchmark(group="decode PINGRESP")
def test_decode_pingresp_mqtt5(benchmark: Any) -> None:
    benchmark.extra_info.update(impl="mqtt5", packets=1)
    view = memoryview(mqtt5.PingRespPacket().write())
    packet, _size = benchmark(mqtt5.read, view)
    assert isinstance(packet, mqtt5.PingRespPacket)


@pytest.mark.benchmark(group="decode PINGRESP")
def test_decode_pingresp_paho(benchmark: Any) -> None:
    benchmark.extra_info.update(impl="paho", packets=1)
    assert benchmark(_paho_reader(PINGRESP)) == 1


# ------------------------------------------------------------------------ decode CONNECT

CONNECT = Connect("gateway17", keep_alive=60, username="plant", password=b"s3cret")


@pytest.mark.benchmark(group="decode CONNECT")
@pytest.mark.parametrize("codec", OURS)
def test_decode_connect_ours(benchmark: Any, codec: ModuleType | None) -> None:
    decode = _ours(codec).decode
    benchmark.extra_info.update(impl=_impl(_ours(codec)), packets=1)
    assert benchmark(decode, _codec_py.encode(CONNECT)) == CONNECT


@pytest.mark.benchmark(group="decode CONNECT")
def test_decode_connect_mqtt5(benchmark: Any) -> None:
    benchmark.extra_info.update(impl="mqtt5", packets=1)
    data = mqtt5.ConnectPacket("gateway17", username="plant", password=b"s3cret", keep_alive=60)
    packet, _size = benchmark(mqtt5.read, memoryview(data.write()))
    assert packet.client_id == "gateway17"


# ------------------------------------------- frame + decode a CONNACK/PINGRESP stream


def _acks_and_pings(connack: bytes, pingresp: bytes) -> bytes:
    # One CONNACK per connection would be realistic; many keep the packet mix simple.
    return (connack + pingresp) * (STREAM_PACKETS // 2)


@pytest.mark.benchmark(group="stream connack/pingresp 100k, 4 KiB chunks")
@pytest.mark.parametrize("codec", OURS)
def test_stream_ours(benchmark: Any, codec: ModuleType | None) -> None:
    chunks = _chunks(_acks_and_pings(CONNACK, PINGRESP))
    benchmark.extra_info.update(impl=_impl(_ours(codec)), packets=STREAM_PACKETS)
    assert benchmark(_framer_stream, _ours(codec), chunks) == STREAM_PACKETS


@pytest.mark.benchmark(group="stream connack/pingresp 100k, 4 KiB chunks")
def test_stream_mqtt5(benchmark: Any) -> None:
    stream = _acks_and_pings(mqtt5.ConnAckPacket().write(), mqtt5.PingRespPacket().write())
    benchmark.extra_info.update(impl="mqtt5", packets=STREAM_PACKETS)
    assert benchmark(_mqtt5_stream, _chunks(stream)) == STREAM_PACKETS


@pytest.mark.benchmark(group="stream connack/pingresp 100k, 4 KiB chunks")
def test_stream_paho(benchmark: Any) -> None:
    benchmark.extra_info.update(impl="paho", packets=STREAM_PACKETS)
    read_all = _paho_reader(_acks_and_pings(CONNACK, PINGRESP))
    assert benchmark.pedantic(read_all, rounds=3) == STREAM_PACKETS


# ------------------------------------------------- frame a realistic mixed stream


def _publish_sizes() -> Iterator[int]:
    """Payload sizes of the PUBLISH packets: 20 to 2,000 bytes, the same in every row."""
    rng = random.Random(2026)
    for _ in range(MIXED_PACKETS // 2):
        yield rng.randint(20, 2000)


def _mixed_ours() -> bytes:
    parts = []
    for size in _publish_sizes():
        topic = b"\x00\x0cplant/line/7"
        parts.append(_codec_py.encode(OtherPacket(PacketType.PUBLISH, 0, topic + bytes(size - 14))))
        parts.append(PINGRESP)
    return b"".join(parts)


def _mixed_mqtt5() -> bytes:
    parts = []
    for size in _publish_sizes():
        # Topic and payload sized so that the packet is as long as ours, give or take
        # MQTT 5's property length byte.
        parts.append(mqtt5.PublishPacket("plant/line/7", bytes(size - 15)).write())
        parts.append(mqtt5.PingRespPacket().write())
    return b"".join(parts)


@pytest.mark.benchmark(group="stream mixed PUBLISH 20..2000 B, 4 KiB")
@pytest.mark.parametrize("codec", OURS)
def test_mixed_ours(benchmark: Any, codec: ModuleType | None) -> None:
    chunks = _chunks(_mixed_ours())
    benchmark.extra_info.update(impl=_impl(_ours(codec)), packets=MIXED_PACKETS)
    assert benchmark(_framer_stream, _ours(codec), chunks) == MIXED_PACKETS


@pytest.mark.benchmark(group="stream mixed PUBLISH 20..2000 B, 4 KiB")
def test_mixed_mqtt5(benchmark: Any) -> None:
    chunks = _chunks(_mixed_mqtt5())
    benchmark.extra_info.update(impl="mqtt5", packets=MIXED_PACKETS)
    assert benchmark(_mqtt5_stream, chunks) == MIXED_PACKETS


@pytest.mark.benchmark(group="stream mixed PUBLISH 20..2000 B, 4 KiB")
def test_mixed_paho(benchmark: Any) -> None:
    benchmark.extra_info.update(impl="paho", packets=MIXED_PACKETS)
    read_all = _paho_reader(_mixed_ours())
    assert benchmark.pedantic(read_all, rounds=3) == MIXED_PACKETS
