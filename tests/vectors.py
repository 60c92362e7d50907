"""Test vectors: packets and their bytes, worked out by hand from the specifications.

One row per packet: the packet, its bytes in hex, the section that lays them out, the
protocol level to decode them with, and where the bytes come from. Hex is grouped by
field: fixed header (type and flags, Remaining Length), variable header, payload.

Specifications: MQTT 3.1.1 (OASIS Standard, 29 October 2014) and MQTT V3.1 (IBM/Eurotech,
2010). A CONNECT lays out (MQTT 3.1.1 §3.1): 0x10, Remaining Length, protocol name
(00 04 "MQTT", or 00 06 "MQIsdp" in 3.1), protocol level (4, or 3), connect flags (bit 7
user name, 6 password, 5 will retain, 4-3 will QoS, 2 will flag, 1 clean session, 0
reserved), keep alive MSB LSB, then the payload: client identifier, will topic, will
message, user name, password, each with a two-byte length (§1.5.3).

Rows whose source says "captured" hold bytes that a real peer sent on loopback,
recorded with tests/tools/capture_mosquitto.py.
"""

from __future__ import annotations

from functools import cache
from typing import NamedTuple

from pco_wire import (
    ConnAck,
    ConnAckCode,
    Connect,
    Disconnect,
    OtherPacket,
    PacketType,
    PingReq,
    PingResp,
    Will,
)
from tests.support import Packet

__all__ = ["BY_HAND", "MOSQUITTO", "NON_MINIMAL_LENGTHS", "VECTORS", "Vector", "publish_body"]

BY_HAND = "by hand from the specification"
MOSQUITTO = "captured: mosquitto 2.0.11"


class Vector(NamedTuple):
    id: str
    packet: Packet
    hex: str
    section: str
    protocol_level: int = 4
    source: str = BY_HAND

    @property
    def data(self) -> bytes:
        return bytes.fromhex(self.hex)


@cache
def publish_body(size: int) -> bytes:
    """A QoS 0 PUBLISH body of ``size`` bytes: topic "t" (00 01 74), then payload."""
    return b"\x00\x01t" + (bytes(range(251)) * (size // 251 + 1))[: size - 3]


def _connack(code: ConnAckCode, session_present: bool = False) -> ConnAck:
    return ConnAck(session_present, code)


VECTORS: list[Vector] = [
    # ------------------------------------------------------------------ CONNECT 3.1.1
    Vector(
        "connect-minimal",
        # Zero-byte client identifier, allowed with clean session (§3.1.3.1).
        Connect(),
        "10 0c  0004 4d515454 04 02 003c  0000",
        "MQTT 3.1.1 §3.1",
    ),
    Vector(
        "connect-everything",
        Connect(
            client_id="pco-1",
            clean_session=False,
            keep_alive=300,
            username="alice",
            password=b"s3cr3t",
            will=Will("status/pco-1", b"gone", qos=1, retain=True),
        ),
        # Flags 1110 1100: user name, password, will retain, will QoS 01, will flag.
        "10 34  0004 4d515454 04 ec 012c"
        "  0005 70636f2d31  000c 7374617475732f70636f2d31  0004 676f6e65"
        "  0005 616c696365  0006 733363723374",
        "MQTT 3.1.1 §3.1.2.3-§3.1.3",
    ),
    Vector(
        "connect-will-qos2-username-only",
        Connect("x", keep_alive=0, username="u", will=Will("a/b", b"", qos=2)),
        # Flags 1001 0110: user name, will QoS 10, will flag, clean session; an empty
        # will message is two zero bytes of length (§3.1.3.3).
        "10 17  0004 4d515454 04 96 0000  0001 78  0003 612f62  0000  0001 75",
        "MQTT 3.1.1 §3.1.2.6, §3.1.3.3",
    ),
    Vector(
        "connect-utf8-client-id",
        # U+00FC, U+2603 and U+1D11E: two, three and four bytes of UTF-8 (§1.5.3).
        Connect("\u00fc\u2603\U0001d11e"),
        "10 15  0004 4d515454 04 02 003c  0009 c3bc e29883 f09d849e",
        "MQTT 3.1.1 §1.5.3, §3.1.3.1",
    ),
    Vector(
        "connect-will-topic-35-bytes",
        # A length prefix of 00 23: 0x23 is "#", but in the length, not in the topic.
        Connect("w", will=Will("plant/line-7/cell-03/status/offline", b"offline")),
        "10 3b  0004 4d515454 04 06 003c  0001 77"
        "  0023 706c616e742f6c696e652d372f63656c6c2d30332f7374617475732f6f66666c696e65"
        "  0007 6f66666c696e65",
        "MQTT 3.1.1 §3.1.3.2, §4.7.1",
    ),
    # -------------------------------------------------------------------- CONNECT 3.1
    Vector(
        "connect-mqtt31",
        Connect("pco-31", keep_alive=65535, protocol_level=3),
        "10 14  0006 4d514973647003 02 ffff  0006 70636f2d3331",
        "MQTT 3.1 §3.1",
        3,
    ),
    Vector(
        "connect-mqtt31-23-characters-will-empty-password",
        Connect(
            "abcdefghijklmnopqrstuvw",
            clean_session=False,
            keep_alive=10,
            username="u",
            password=b"",
            will=Will("w", b"\x00\xff"),
            protocol_level=3,
        ),
        # Flags 1100 0100: user name, password, will flag, will QoS 0, no clean session.
        "10 31  0006 4d514973647003 c4 000a"
        "  0017 6162636465666768696a6b6c6d6e6f7071727374757677"
        "  0001 77  0002 00ff  0001 75  0000",
        "MQTT 3.1 §3.1",
        3,
    ),
    # ---------------------------------------------------------------- CONNACK 3.1.1
    # Byte 1 is the connect acknowledge flags (session present in bit 0), byte 2 the
    # return code; session present only with return code 0 (§3.2.2.2).
    Vector("connack-0", _connack(ConnAckCode.ACCEPTED), "20 02 00 00", "MQTT 3.1.1 §3.2"),
    Vector(
        "connack-0-session-present",
        _connack(ConnAckCode.ACCEPTED, True),
        "20 02 01 00",
        "MQTT 3.1.1 §3.2.2.2",
    ),
    Vector(
        "connack-1",
        _connack(ConnAckCode.UNACCEPTABLE_PROTOCOL_VERSION),
        "20 02 00 01",
        "MQTT 3.1.1 §3.2.2.3",
    ),
    Vector(
        "connack-2", _connack(ConnAckCode.IDENTIFIER_REJECTED), "20 02 00 02", "MQTT 3.1.1 §3.2.2.3"
    ),
    Vector(
        "connack-3", _connack(ConnAckCode.SERVER_UNAVAILABLE), "20 02 00 03", "MQTT 3.1.1 §3.2.2.3"
    ),
    Vector(
        "connack-4",
        _connack(ConnAckCode.BAD_USERNAME_OR_PASSWORD),
        "20 02 00 04",
        "MQTT 3.1.1 §3.2.2.3",
    ),
    Vector("connack-5", _connack(ConnAckCode.NOT_AUTHORIZED), "20 02 00 05", "MQTT 3.1.1 §3.2.2.3"),
    # MQTT 3.1 has the same six codes; its first variable-header byte is unused.
    Vector(
        "connack-mqtt31-3",
        _connack(ConnAckCode.SERVER_UNAVAILABLE),
        "20 02 00 03",
        "MQTT 3.1 §3.2",
        3,
    ),
    # ------------------------------------------------------ PINGREQ, PINGRESP, DISCONNECT
    Vector("pingreq", PingReq(), "c0 00", "MQTT 3.1.1 §3.12"),
    Vector("pingresp", PingResp(), "d0 00", "MQTT 3.1.1 §3.13"),
    Vector("disconnect", Disconnect(), "e0 00", "MQTT 3.1.1 §3.14"),
    # ------------------------------------------ other packets, framed with their body
    # Remaining Length: 7 bits a byte, least significant group first, bit 7 set on every
    # byte but the last (§2.2.3). 200 = 0x48 + 1 * 128: c8 01.
    Vector(
        "publish-200-bytes",
        OtherPacket(PacketType.PUBLISH, 0, publish_body(200)),
        "30 c801" + publish_body(200).hex(),
        "MQTT 3.1.1 §2.2.3, §3.3",
    ),
    # 20000 = 0x20 + 28 * 128 + 1 * 16384: a0 9c 01. QoS 1 (flags 0010) adds a packet
    # identifier (00 0a) after the topic.
    Vector(
        "publish-qos1-20000-bytes",
        OtherPacket(PacketType.PUBLISH, 0b0010, b"\x00\x01t\x00\x0a" + bytes(19995)),
        "32 a09c01  0001 74 000a" + bytes(19995).hex(),
        "MQTT 3.1.1 §2.2.3, §3.3.2.2",
    ),
    # The edges of each Remaining Length size, from the table in §2.2.3.
    Vector(
        "publish-127-bytes",
        OtherPacket(PacketType.PUBLISH, 0, publish_body(127)),
        "30 7f" + publish_body(127).hex(),
        "MQTT 3.1.1 §2.2.3",
    ),
    Vector(
        "publish-128-bytes",
        OtherPacket(PacketType.PUBLISH, 0, publish_body(128)),
        "30 8001" + publish_body(128).hex(),
        "MQTT 3.1.1 §2.2.3",
    ),
    Vector(
        "publish-16383-bytes",
        OtherPacket(PacketType.PUBLISH, 0, publish_body(16383)),
        "30 ff7f" + publish_body(16383).hex(),
        "MQTT 3.1.1 §2.2.3",
    ),
    Vector(
        "publish-16384-bytes",
        OtherPacket(PacketType.PUBLISH, 0, publish_body(16384)),
        "30 808001" + publish_body(16384).hex(),
        "MQTT 3.1.1 §2.2.3",
    ),
    Vector(
        "publish-2097151-bytes",
        OtherPacket(PacketType.PUBLISH, 0, publish_body(2_097_151)),
        "30 ffff7f" + publish_body(2_097_151).hex(),
        "MQTT 3.1.1 §2.2.3",
    ),
    Vector(
        "publish-2097152-bytes",
        OtherPacket(PacketType.PUBLISH, 0, publish_body(2_097_152)),
        "30 80808001" + publish_body(2_097_152).hex(),
        "MQTT 3.1.1 §2.2.3",
    ),
    Vector(
        "publish-dup-qos2-retain",
        # Flags 1101: DUP, QoS 10, RETAIN (§3.3.1); packet identifier 1, payload "x".
        OtherPacket(PacketType.PUBLISH, 0b1101, b"\x00\x01t\x00\x01x"),
        "3d 06  0001 74 0001  78",
        "MQTT 3.1.1 §3.3.1",
    ),
    Vector(
        "puback",
        OtherPacket(PacketType.PUBACK, 0, b"\x00\x01"),
        "40 02 0001",
        "MQTT 3.1.1 §3.4",
    ),
    Vector(
        "pubrec",
        OtherPacket(PacketType.PUBREC, 0, b"\x00\x01"),
        "50 02 0001",
        "MQTT 3.1.1 §3.5",
    ),
    # PUBREL, SUBSCRIBE and UNSUBSCRIBE carry flags 0010 (§2.2.2).
    Vector(
        "pubrel",
        OtherPacket(PacketType.PUBREL, 0b0010, b"\x00\x0a"),
        "62 02 000a",
        "MQTT 3.1.1 §3.6.1",
    ),
    Vector(
        "pubcomp",
        OtherPacket(PacketType.PUBCOMP, 0, b"\x00\x01"),
        "70 02 0001",
        "MQTT 3.1.1 §3.7",
    ),
    Vector(
        "subscribe",
        # Packet identifier 1, topic filter "t" at QoS 0.
        OtherPacket(PacketType.SUBSCRIBE, 0b0010, b"\x00\x01\x00\x01t\x00"),
        "82 06  0001  0001 74 00",
        "MQTT 3.1.1 §3.8",
    ),
    Vector(
        "suback",
        OtherPacket(PacketType.SUBACK, 0, b"\x00\x01\x00"),
        "90 03  0001 00",
        "MQTT 3.1.1 §3.9",
    ),
    Vector(
        "unsubscribe",
        OtherPacket(PacketType.UNSUBSCRIBE, 0b0010, b"\x00\x01\x00\x01t"),
        "a2 05  0001  0001 74",
        "MQTT 3.1.1 §3.10",
    ),
    Vector(
        "unsuback",
        OtherPacket(PacketType.UNSUBACK, 0, b"\x00\x01"),
        "b0 02 0001",
        "MQTT 3.1.1 §3.11",
    ),
    # ----------------------------------------------------------- captured from peers
    # mosquitto_pub -h 127.0.0.1 -p PORT -i capture1 -t t -m x -V mqttv311 -k 30
    #     -u user -P pass
    Vector(
        "captured-mosquitto-pub-mqttv311",
        Connect("capture1", True, 30, "user", b"pass", None, 4),
        "102000044d51545404c2001e00086361707475726531000475736572000470617373",
        "MQTT 3.1.1 §3.1",
        4,
        f"{MOSQUITTO}: mosquitto_pub -V mqttv311 -i capture1 -k 30 -u user -P pass",
    ),
    Vector(
        "captured-mosquitto-pub-mqttv31",
        Connect("capture1", True, 30, "user", b"pass", None, 3),
        "102200064d514973647003c2001e00086361707475726531000475736572000470617373",
        "MQTT 3.1 §3.1",
        3,
        f"{MOSQUITTO}: mosquitto_pub -V mqttv31 -i capture1 -k 30 -u user -P pass",
    ),
    # CONNACKs from the broker (mosquitto -c FILE) to CONNECTs sent over a raw socket.
    Vector(
        "captured-mosquitto-connack-0",
        _connack(ConnAckCode.ACCEPTED),
        "20020000",
        "MQTT 3.1.1 §3.2",
        4,
        f"{MOSQUITTO}: broker, anonymous CONNECT accepted",
    ),
    Vector(
        "captured-mosquitto-connack-0-session-present",
        _connack(ConnAckCode.ACCEPTED, True),
        "20020100",
        "MQTT 3.1.1 §3.2.2.2",
        4,
        f"{MOSQUITTO}: broker, second CONNECT of a client id with clean session off",
    ),
    Vector(
        "captured-mosquitto-connack-0-mqtt31",
        _connack(ConnAckCode.ACCEPTED),
        "20020000",
        "MQTT 3.1 §3.2",
        3,
        f"{MOSQUITTO}: broker, MQIsdp level 3 CONNECT accepted",
    ),
    Vector(
        "captured-mosquitto-connack-1",
        _connack(ConnAckCode.UNACCEPTABLE_PROTOCOL_VERSION),
        "20020001",
        "MQTT 3.1.1 §3.1.2.2",
        4,
        f"{MOSQUITTO}: broker, CONNECT with protocol level 99",
    ),
    Vector(
        "captured-mosquitto-connack-2",
        _connack(ConnAckCode.IDENTIFIER_REJECTED),
        "20020002",
        "MQTT 3.1.1 §3.1.3.1",
        4,
        f"{MOSQUITTO}: broker, 3.1.1 CONNECT with an empty client id and clean session off",
    ),
    Vector(
        "captured-mosquitto-connack-4",
        _connack(ConnAckCode.BAD_USERNAME_OR_PASSWORD),
        "20020004",
        "MQTT 3.1.1 §3.2.2.3",
        4,
        f"{MOSQUITTO}: broker, TLS listener with use_identity_as_username, no client cert",
    ),
    Vector(
        "captured-mosquitto-connack-5",
        _connack(ConnAckCode.NOT_AUTHORIZED),
        "20020005",
        "MQTT 3.1.1 §3.2.2.3",
        4,
        f"{MOSQUITTO}: broker with password_file, allow_anonymous false, wrong password",
    ),
]

#: Remaining Lengths written with more bytes than needed. MQTT 3.1.1 §2.2.3 describes the
#: encoding but does not require the shortest form, so a receiver accepts these.
NON_MINIMAL_LENGTHS: list[tuple[str, str, Packet]] = [
    ("pingresp-2-byte-zero", "d0 8000", PingResp()),
    ("pingreq-3-byte-zero", "c0 808000", PingReq()),
    ("disconnect-4-byte-zero", "e0 80808000", Disconnect()),
    ("connack-2-byte-two", "20 8200 0100", ConnAck(True, ConnAckCode.ACCEPTED)),
    ("puback-3-byte-two", "40 828000 0001", OtherPacket(PacketType.PUBACK, 0, b"\x00\x01")),
    (
        "connect-2-byte-twelve",
        "10 8c00  0004 4d515454 04 02 003c  0000",
        Connect(),
    ),
]
