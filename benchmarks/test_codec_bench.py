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

The MQTT 5.0 rows (group names starting "5.0") run every implementation on the same
protocol and, for decoding, on the same bytes (written by mqtt5, checked here byte for
byte). paho runs as a client created with ``protocol=MQTTv5``, its CONNECT properties a
``paho.mqtt.properties.Properties``; a DISCONNECT from the server closes paho's socket, so
its reader puts the fake one back before the next packet. Encoding CONNECT has two rows:
with the properties value built once (the encoder alone) and with it built every round
(what a client pays per attempt: ``Settings.connect_packet`` builds the properties and
the packet each time, the auth data file read anew; mqtt5 has no other way either, its
properties are keyword arguments of the packet).
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
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

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
from pco_wire.packets import (
    PINGRESP as PINGRESP_PACKET,
)
from pco_wire.packets import (
    ConnAckProperties,
    ConnectProperties,
    ReasonCode,
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
        self.buffer = io.BytesIO(data)
        self.recv = self.buffer.read

    def close(self) -> None:
        pass


def _paho_client(protocol: Any = paho.MQTTv311) -> Any:
    client = paho.Client(
        paho.CallbackAPIVersion.VERSION2,  # type: ignore[attr-defined]
        client_id="abc",
        protocol=protocol,
    )
    client.username_pw_set("u", "p")
    # Hand back the bytes paho built instead of queueing them for a socket.
    client._packet_queue = lambda command, packet, mid, qos, info=None: packet  # type: ignore[method-assign, assignment, return-value]
    return client


def _paho_reader(data: bytes, protocol: Any = paho.MQTTv311) -> Callable[[], int]:
    """A function that reads every packet of ``data`` with paho; returns the count."""
    client = _paho_client(protocol)

    def read_all() -> int:
        sock = client._sock = _Socket(data)
        client._in_packet["command"] = 0
        count = 0
        end = len(data)
        # paho returns 0 for each packet handled; past the end recv gives b"" (lost).
        while sock.buffer.tell() < end:
            if client._packet_read() != 0:
                raise AssertionError("paho refused the stream")
            count += 1
            if client._sock is None:  # a DISCONNECT (MQTT 5.0) closed it
                client._sock = sock
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


def _framer_stream(codec: ModuleType, chunks: list[bytes], protocol_level: int = 4) -> int:
    framer = codec.Framer(protocol_level=protocol_level)
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


# ------------------------------------------------------------- MQTT 5.0: encode CONNECT

CONNECT5_BYTES = bytes.fromhex(
    "103000044d51545405c2003c1a1100000e10210014260003617070000562656e6368270010000000"
    "03616263000175000170"
)


def _connect_properties() -> ConnectProperties:
    return ConnectProperties(
        session_expiry_interval=3600,
        receive_maximum=20,
        maximum_packet_size=1 << 20,
        user_properties=(("app", "bench"),),
    )


def _connect5(properties: ConnectProperties) -> Connect:
    return Connect(
        "abc", keep_alive=60, username="u", password=b"p", protocol_level=5, properties=properties
    )


def _mqtt5_connect() -> bytes:
    packet = mqtt5.ConnectPacket(
        "abc",
        username="u",
        password=b"p",
        keep_alive=60,
        clean_start=True,
        session_expiry_interval=3600,
        receive_max=20,
        max_packet_size=1 << 20,
        user_properties=[("app", "bench")],
    )
    return packet.write()


def _paho_connect_properties() -> Any:
    properties = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]
    properties.SessionExpiryInterval = 3600
    properties.ReceiveMaximum = 20
    properties.MaximumPacketSize = 1 << 20
    properties.UserProperty = ("app", "bench")
    return properties


def _check_mqtt5_connect(data: bytes) -> None:
    # The same fields, the same length; mqtt5 writes Maximum Packet Size before the user
    # property, we (and paho) in ascending identifier order.
    assert len(data) == len(CONNECT5_BYTES) and data[:7] == CONNECT5_BYTES[:7]
    assert sorted(data) == sorted(CONNECT5_BYTES)


@pytest.mark.benchmark(group="5.0 encode CONNECT, properties prebuilt")
@pytest.mark.parametrize("codec", OURS)
def test_encode_connect5_ours(benchmark: Any, codec: ModuleType | None) -> None:
    encode = _ours(codec).encode
    benchmark.extra_info.update(impl=_impl(_ours(codec)), packets=1)
    properties = _connect_properties()
    assert benchmark(lambda: encode(_connect5(properties))) == CONNECT5_BYTES


@pytest.mark.benchmark(group="5.0 encode CONNECT, properties prebuilt")
def test_encode_connect5_mqtt5(benchmark: Any) -> None:
    benchmark.extra_info.update(impl="mqtt5", packets=1)
    _check_mqtt5_connect(benchmark(_mqtt5_connect))


@pytest.mark.benchmark(group="5.0 encode CONNECT, properties prebuilt")
def test_encode_connect5_paho(benchmark: Any) -> None:
    benchmark.extra_info.update(impl="paho", packets=1)
    client = _paho_client(paho.MQTTv5)
    client._connect_properties = _paho_connect_properties()
    assert bytes(benchmark(lambda: client._send_connect(60))) == CONNECT5_BYTES


@pytest.mark.benchmark(group="5.0 encode CONNECT, properties built too")
@pytest.mark.parametrize("codec", OURS)
def test_encode_connect5_built_ours(benchmark: Any, codec: ModuleType | None) -> None:
    encode = _ours(codec).encode
    benchmark.extra_info.update(impl=_impl(_ours(codec)), packets=1)
    assert benchmark(lambda: encode(_connect5(_connect_properties()))) == CONNECT5_BYTES


@pytest.mark.benchmark(group="5.0 encode CONNECT, properties built too")
def test_encode_connect5_built_mqtt5(benchmark: Any) -> None:
    benchmark.extra_info.update(impl="mqtt5", packets=1)
    _check_mqtt5_connect(benchmark(_mqtt5_connect))


@pytest.mark.benchmark(group="5.0 encode CONNECT, properties built too")
def test_encode_connect5_built_paho(benchmark: Any) -> None:
    benchmark.extra_info.update(impl="paho", packets=1)
    client = _paho_client(paho.MQTTv5)

    def build_and_encode() -> Any:
        client._connect_properties = _paho_connect_properties()
        return client._send_connect(60)

    assert bytes(benchmark(build_and_encode)) == CONNECT5_BYTES


# ------------------------------------------------- MQTT 5.0: decode CONNACK, the stream

#: A CONNACK as a broker answers an MQTT 5.0 client (written by mqtt5): Receive Maximum
#: 20, Maximum QoS 1, Retain Available 0, Topic Alias Maximum 10, an Assigned Client
#: Identifier and a Server Keep Alive of 60 s.
CONNACK5 = bytes.fromhex("201c0000191200096175746f2d3132333413003c21001422000a24012500")
CONNACK5_PACKET = ConnAck(
    False,
    ReasonCode.SUCCESS,
    ConnAckProperties(
        receive_maximum=20,
        maximum_qos=1,
        retain_available=False,
        topic_alias_maximum=10,
        assigned_client_identifier="auto-1234",
        server_keep_alive=60,
    ),
)
DISCONNECT5 = bytes.fromhex("e0018b")  # Server shutting down, no properties
DISCONNECT5_PACKET = Disconnect(ReasonCode.SERVER_SHUTTING_DOWN)


def _mqtt5_connack() -> Any:
    return mqtt5.ConnAckPacket(
        receive_max=20,
        max_qos=mqtt5.QoS.AT_LEAST_ONCE,
        retain_available=False,
        topic_alias_max=10,
        assigned_client_id="auto-1234",
        server_keep_alive=60,
    )


def test_mqtt5_writes_the_5_0_bytes() -> None:
    """The bytes of the 5.0 rows are mqtt5's own."""
    assert _mqtt5_connack().write() == CONNACK5
    bye = mqtt5.DisconnectPacket(reason_code=mqtt5.DisconnectReasonCode.SERVER_SHUTTING_DOWN)
    assert bye.write() == DISCONNECT5
    assert mqtt5.PingRespPacket().write() == PINGRESP


@pytest.mark.benchmark(group="5.0 decode CONNACK with properties")
@pytest.mark.parametrize("codec", OURS)
def test_decode_connack5_ours(benchmark: Any, codec: ModuleType | None) -> None:
    decode = _ours(codec).decode
    benchmark.extra_info.update(impl=_impl(_ours(codec)), packets=1)
    assert benchmark(decode, CONNACK5, 5) == CONNACK5_PACKET


@pytest.mark.benchmark(group="5.0 decode CONNACK with properties")
def test_decode_connack5_mqtt5(benchmark: Any) -> None:
    benchmark.extra_info.update(impl="mqtt5", packets=1)
    packet, size = benchmark(mqtt5.read, memoryview(CONNACK5))
    assert packet == _mqtt5_connack() and size == len(CONNACK5)


@pytest.mark.benchmark(group="5.0 decode CONNACK with properties")
def test_decode_connack5_paho(benchmark: Any) -> None:
    benchmark.extra_info.update(impl="paho", packets=1)
    assert benchmark(_paho_reader(CONNACK5, paho.MQTTv5)) == 1


def _stream5() -> bytes:
    # A CONNACK, keep-alive answers and the server's DISCONNECT, over and over.
    return (CONNACK5 + PINGRESP + DISCONNECT5 + PINGRESP) * (STREAM_PACKETS // 4)


STREAM5_GROUP = "5.0 stream connack/ping/disconnect 100k, 4K"


@pytest.mark.benchmark(group=STREAM5_GROUP)
@pytest.mark.parametrize("codec", OURS)
def test_stream5_ours(benchmark: Any, codec: ModuleType | None) -> None:
    chunks = _chunks(_stream5())
    cycle = _ours(codec).Framer(protocol_level=5).feed(CONNACK5 + PINGRESP + DISCONNECT5 + PINGRESP)
    assert cycle == [CONNACK5_PACKET, PINGRESP_PACKET, DISCONNECT5_PACKET, PINGRESP_PACKET]
    benchmark.extra_info.update(impl=_impl(_ours(codec)), packets=STREAM_PACKETS)
    assert benchmark(_framer_stream, _ours(codec), chunks, 5) == STREAM_PACKETS


@pytest.mark.benchmark(group=STREAM5_GROUP)
def test_stream5_mqtt5(benchmark: Any) -> None:
    benchmark.extra_info.update(impl="mqtt5", packets=STREAM_PACKETS)
    assert benchmark(_mqtt5_stream, _chunks(_stream5())) == STREAM_PACKETS


@pytest.mark.benchmark(group=STREAM5_GROUP)
def test_stream5_paho(benchmark: Any) -> None:
    benchmark.extra_info.update(impl="paho", packets=STREAM_PACKETS)
    read_all = _paho_reader(_stream5(), paho.MQTTv5)
    assert benchmark.pedantic(read_all, rounds=3) == STREAM_PACKETS
