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
recorded with tests/tools/capture_mosquitto.py (MQTT 5.0: capture_mosquitto5.py).

MQTT 5.0 (OASIS Standard, 7 March 2019) rows have protocol level 5. Its CONNECT is the
3.1.1 one with level 5, the Property Length (a Variable Byte Integer, §1.5.5) and the
properties after the keep alive, and the will properties before the will topic (§3.1.3.2).
A property is its identifier (one byte for every identifier here, §2.2.2.2) and its value;
this library writes them in ascending identifier order, user properties (0x26) in their
order (any order is valid; this one is the contract between the two codecs).
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
from pco_wire.packets import (
    Auth,
    AuthProperties,
    ConnAckProperties,
    ConnectProperties,
    DisconnectProperties,
    WillProperties,
)
from pco_wire.reasons import REASONS, ReasonCode
from tests.support import Packet

__all__ = [
    "BY_HAND",
    "DECODED_ONLY5",
    "MOSQUITTO",
    "NON_MINIMAL_LENGTHS",
    "VECTORS",
    "Vector",
    "publish_body",
]

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

# ---------------------------------------------------------------------------- MQTT 5.0

# Hex of property values used below: "SCRAM-SHA-1" (11 bytes), "site", "a", "b".
_SCRAM = "000b 5343 52414d 2d 534841 2d 31"

VECTORS += [
    # ------------------------------------------------------------------ CONNECT 5.0
    Vector(
        "connect5-minimal",
        # Protocol level 5, then Property Length 0 (§3.1.2.11.1).
        Connect(protocol_level=5),
        "10 0d  0004 4d515454 05 02 003c 00  0000",
        "MQTT 5.0 §3.1.2",
        5,
    ),
    Vector(
        "connect5-empty-client-id-clean-start-off",
        # §3.1.3.1: a zero-length client identifier no longer needs Clean Start.
        Connect("", clean_session=False, protocol_level=5),
        "10 0d  0004 4d515454 05 00 003c 00  0000",
        "MQTT 5.0 §3.1.3.1",
        5,
    ),
    Vector(
        "connect5-password-without-user-name",
        # §3.1.2.9: flags 0100 0010, the password flag alone.
        Connect("p", keep_alive=10, password=b"pw", protocol_level=5),
        "10 12  0004 4d515454 05 42 000a 00  0001 70  0002 7077",
        "MQTT 5.0 §3.1.2.9, §3.1.3.5",
        5,
    ),
    Vector(
        "connect5-every-property",
        Connect(
            "c5",
            protocol_level=5,
            properties=ConnectProperties(
                session_expiry_interval=3600,
                receive_maximum=100,
                maximum_packet_size=1_048_576,
                topic_alias_maximum=10,
                request_response_information=True,
                request_problem_information=False,
                user_properties=(("site", "a"), ("site", "b")),
                authentication_method="SCRAM-SHA-1",
                authentication_data=b"\x01\x02",
            ),
        ),
        # Property Length 59 (0x3b): 11 session expiry 3600, 15 method, 16 data,
        # 17 request problem information 0, 19 request response information 1,
        # 21 receive maximum 100, 22 topic alias maximum 10, 26 twice, 27 maximum packet
        # size 2^20.
        "10 4a  0004 4d515454 05 02 003c"
        "  3b  11 00000e10  15 " + _SCRAM + "  16 0002 0102  17 00  19 01  21 0064  22 000a"
        "  26 0004 73697465 0001 61  26 0004 73697465 0001 62  27 00100000"
        "  0002 6335",
        "MQTT 5.0 §3.1.2.11.2-§3.1.2.11.10",
        5,
    ),
    Vector(
        "connect5-will-every-will-property",
        Connect(
            "w5",
            keep_alive=30,
            username="u",
            password=b"p",
            will=Will(
                "t/w",
                b"bye",
                qos=1,
                retain=True,
                properties=WillProperties(
                    will_delay_interval=5,
                    payload_format_indicator=1,
                    message_expiry_interval=120,
                    content_type="text/plain",
                    response_topic="r/w",
                    correlation_data=b"\xca\xfe",
                    user_properties=(("k", "v"),),
                ),
            ),
            protocol_level=5,
        ),
        # Flags 1110 1110: user name, password, will retain, will QoS 01, will flag, clean
        # start. Payload: client id, will Property Length 43 (0x2b): 01 payload format 1,
        # 02 message expiry 120, 03 content type, 08 response topic, 09 correlation data,
        # 18 will delay 5, 26; will topic, will payload, user name, password.
        "10 4b  0004 4d515454 05 ee 001e 00"
        "  0002 7735"
        "  2b  01 01  02 00000078  03 000a 746578742f706c61696e  08 0003 722f77"
        "  09 0002 cafe  18 00000005  26 0001 6b 0001 76"
        "  0003 742f77  0003 627965  0001 75  0001 70",
        "MQTT 5.0 §3.1.2.5-§3.1.2.7, §3.1.3.2-§3.1.3.4",
        5,
    ),
    # ------------------------------------------------------------------ CONNACK 5.0
    # Flags (session present in bit 0), the Connect Reason Code, the properties (§3.2.2).
    Vector(
        "connack5-success",
        ConnAck(False, ReasonCode.SUCCESS),
        "20 03 00 00 00",
        "MQTT 5.0 §3.2.2",
        5,
    ),
    Vector(
        "connack5-session-present",
        ConnAck(True, ReasonCode.SUCCESS),
        "20 03 01 00 00",
        "MQTT 5.0 §3.2.2.1.1",
        5,
    ),
    *(
        Vector(
            f"connack5-reason-{code:02x}",
            ConnAck(False, ReasonCode(code)),
            f"20 03 00 {code:02x} 00",
            "MQTT 5.0 §3.2.2.2",
            5,
        )
        for code, reason in REASONS.items()
        if reason.defined_for(2) and code
    ),
    Vector(
        "connack5-every-property",
        ConnAck(
            False,
            ReasonCode.SUCCESS,
            ConnAckProperties(
                session_expiry_interval=86_400,
                receive_maximum=20,
                maximum_qos=1,
                retain_available=False,
                maximum_packet_size=65_536,
                assigned_client_identifier="auto-1",
                topic_alias_maximum=5,
                reason_string="ok",
                user_properties=(("a", "1"),),
                wildcard_subscription_available=False,
                subscription_identifier_available=False,
                shared_subscription_available=False,
                server_keep_alive=45,
                response_information="resp/",
                server_reference="other:1883",
                authentication_method="M",
                authentication_data=b"\x00",
            ),
        ),
        # Property Length 79 (0x4f), every CONNACK property in identifier order.
        "20 52  00 00  4f"
        "  11 00015180  12 0006 6175746f2d31  13 002d  15 0001 4d  16 0001 00"
        "  1a 0005 726573702f  1c 000a 6f746865723a31383833  1f 0002 6f6b  21 0014"
        "  22 0005  24 01  25 00  26 0001 61 0001 31  27 00010000  28 00  29 00  2a 00",
        "MQTT 5.0 §3.2.2.3.2-§3.2.2.3.18",
        5,
    ),
    Vector(
        "connack5-refused-with-reason-string",
        ConnAck(False, ReasonCode.NOT_AUTHORIZED, ConnAckProperties(reason_string="no")),
        "20 08  00 87  05  1f 0002 6e6f",
        "MQTT 5.0 §3.2.2.2, §3.2.2.3.9",
        5,
    ),
    Vector(
        "connack5-user-properties-in-order",
        # Their order is kept, and a name may repeat (§3.2.2.3.10).
        ConnAck(
            False,
            ReasonCode.SUCCESS,
            ConnAckProperties(user_properties=(("b", "1"), ("a", "2"), ("b", "3"))),
        ),
        "20 18 00 00 15  26 0001 62 0001 31  26 0001 61 0001 32  26 0001 62 0001 33",
        "MQTT 5.0 §3.2.2.3.10",
        5,
    ),
    Vector(
        "connack5-two-byte-property-length",
        # 128 bytes of properties: Property Length 80 01, Remaining Length 132 = 84 01.
        ConnAck(False, ReasonCode.SUCCESS, ConnAckProperties(reason_string="r" * 125)),
        "20 8401  00 00  8001  1f 007d" + "72" * 125,
        "MQTT 5.0 §1.5.5, §2.2.2.1",
        5,
    ),
    # --------------------------------------------------------------- DISCONNECT 5.0
    # Remaining Length 0: reason 0x00, no properties (§3.14.2.1); 1: the reason code
    # alone (§3.14.2.2.1); more: reason code, Property Length, properties.
    Vector("disconnect5-normal", Disconnect(), "e0 00", "MQTT 5.0 §3.14.2.1", 5),
    *(
        Vector(
            f"disconnect5-reason-{code:02x}",
            Disconnect(ReasonCode(code)),
            f"e0 01 {code:02x}",
            "MQTT 5.0 §3.14.2.1, §3.14.2.2.1",
            5,
        )
        for code, reason in REASONS.items()
        if reason.defined_for(14) and code
    ),
    Vector(
        "disconnect5-normal-with-reason-string",
        Disconnect(ReasonCode.NORMAL_DISCONNECTION, DisconnectProperties(reason_string="bye")),
        "e0 08  00  06  1f 0003 627965",
        "MQTT 5.0 §3.14.2.2.3",
        5,
    ),
    Vector(
        "disconnect5-every-property",
        Disconnect(
            ReasonCode.SERVER_MOVED,
            DisconnectProperties(
                session_expiry_interval=0,
                reason_string="moved",
                user_properties=(("why", "maint"),),
                server_reference="b:1883",
            ),
        ),
        # Property Length 35 (0x23): 11 session expiry 0, 1c server reference, 1f reason
        # string, 26 user property.
        "e0 25  9d  23  11 00000000  1c 0006 623a31383833  1f 0005 6d6f766564"
        "  26 0003 776879 0005 6d61696e74",
        "MQTT 5.0 §3.14.2.2.2-§3.14.2.2.5",
        5,
    ),
    # --------------------------------------------------------------------- AUTH 5.0
    Vector("auth-success", Auth(), "f0 00", "MQTT 5.0 §3.15.2.1", 5),
    Vector(
        "auth-continue-every-property",
        Auth(
            ReasonCode.CONTINUE_AUTHENTICATION,
            AuthProperties(
                authentication_method="SCRAM-SHA-1",
                authentication_data=b"\x01\x02",
                reason_string="step",
                user_properties=(("n", "1"),),
            ),
        ),
        # Property Length 33 (0x21): 15 method, 16 data, 1f reason string, 26.
        "f0 23  18  21  15 " + _SCRAM + "  16 0002 0102  1f 0004 73746570  26 0001 6e 0001 31",
        "MQTT 5.0 §3.15.2.1-§3.15.2.2.5",
        5,
    ),
    Vector(
        "auth-re-authenticate",
        Auth(ReasonCode.RE_AUTHENTICATE, AuthProperties(authentication_method="M")),
        "f0 06  19  04  15 0001 4d",
        "MQTT 5.0 §3.15.2.1, §4.12.1",
        5,
    ),
    Vector(
        "auth-success-with-empty-data",
        # Reason 0 with properties takes the long form; empty binary data is 00 00.
        Auth(
            ReasonCode.SUCCESS, AuthProperties(authentication_method="M", authentication_data=b"")
        ),
        "f0 09  00  07  15 0001 4d  16 0000",
        "MQTT 5.0 §3.15.2.1, §1.5.6",
        5,
    ),
    # ------------------------------------------------ PINGREQ, PINGRESP, others at 5.0
    Vector("pingreq5", PingReq(), "c0 00", "MQTT 5.0 §3.12", 5),
    Vector("pingresp5", PingResp(), "d0 00", "MQTT 5.0 §3.13", 5),
    Vector(
        "publish5-framed",
        # A PUBLISH at 5.0 has a Property Length after the topic (§3.3.2.3): framed whole.
        OtherPacket(PacketType.PUBLISH, 0, b"\x00\x01t\x00x"),
        "30 05  0001 74 00 78",
        "MQTT 5.0 §3.3",
        5,
    ),
]

# Captured from mosquitto 2.0.11 speaking MQTT 5.0 (tests/tools/capture_mosquitto5.py);
# these encode to the same bytes. Mosquitto's configuration: "listener PORT 127.0.0.1"
# plus what the source says.
VECTORS += [
    Vector(
        "captured-mosquitto-connack5-not-authorized",
        # mosquitto 2.0 refuses a wrong password with 0x87 Not authorized, not 0x86.
        ConnAck(False, ReasonCode.NOT_AUTHORIZED),
        "20 03 00 87 00",
        "MQTT 5.0 §3.2.2.2",
        5,
        f"{MOSQUITTO}: password_file, allow_anonymous false; level-5 CONNECT, wrong password",
    ),
    Vector(
        "captured-mosquitto-connack5-no-credentials",
        ConnAck(False, ReasonCode.NOT_AUTHORIZED),
        "20 03 00 87 00",
        "MQTT 5.0 §3.2.2.2",
        5,
        f"{MOSQUITTO}: password_file, allow_anonymous false; level-5 CONNECT, no user name",
    ),
    Vector(
        "captured-mosquitto-disconnect5-packet-too-large",
        Disconnect(ReasonCode.PACKET_TOO_LARGE),
        "e0 01 95",
        "MQTT 5.0 §3.14.2.1",
        5,
        f"{MOSQUITTO}: max_packet_size 100, allow_anonymous true; a 129-byte PUBLISH after CONNACK",
    ),
    Vector(
        "captured-mosquitto-disconnect5-malformed",
        Disconnect(ReasonCode.MALFORMED_PACKET),
        "e0 01 81",
        "MQTT 5.0 §3.14.2.1",
        5,
        f"{MOSQUITTO}: allow_anonymous true; a PUBLISH with QoS 3 after CONNACK",
    ),
    # Session takeover (a second CONNECT with the same client identifier): MQTT 5.0
    # §3.14.2.1 has the server send DISCONNECT 0x8E first; mosquitto 2.0.11 closes the
    # first connection without a packet, so there is nothing to record (the 0x8E
    # short form is the by-hand row "disconnect5-reason-8e").
]

#: MQTT 5.0 bytes that decode to a packet which encodes otherwise: a longer form than the
#: one this library writes, properties in another order, or a property given at its
#: default value. Checked one way: decode (and a Framer) gives the packet.
DECODED_ONLY5: list[Vector] = [
    Vector("disconnect5-reason-0-alone", Disconnect(), "e0 01 00", "MQTT 5.0 §3.14.2.2.1", 5),
    Vector(
        "disconnect5-reason-0-no-properties",
        Disconnect(),
        "e0 02 00 00",
        "MQTT 5.0 §3.14.2.2.1",
        5,
    ),
    Vector(
        "disconnect5-reason-8e-no-properties",
        Disconnect(ReasonCode.SESSION_TAKEN_OVER),
        "e0 02 8e 00",
        "MQTT 5.0 §3.14.2.2.1",
        5,
    ),
    Vector("auth-reason-0-no-properties", Auth(), "f0 02 00 00", "MQTT 5.0 §3.15.2.1", 5),
    Vector(
        "connack5-receive-maximum-65535",
        # The default, given: the same packet as none (§3.2.2.3.3).
        ConnAck(False, ReasonCode.SUCCESS),
        "20 06 00 00 03 21 ffff",
        "MQTT 5.0 §3.2.2.3.3",
        5,
    ),
    Vector(
        "connack5-retain-available-1",
        ConnAck(False, ReasonCode.SUCCESS),
        "20 05 00 00 02 25 01",
        "MQTT 5.0 §3.2.2.3.5",
        5,
    ),
    Vector(
        "connack5-properties-descending",
        # Any order is valid (§2.2.2.2).
        ConnAck(
            False,
            ReasonCode.SUCCESS,
            ConnAckProperties(receive_maximum=1, maximum_qos=0, retain_available=False),
        ),
        "20 0a 00 00 07  25 00  24 00  21 0001",
        "MQTT 5.0 §2.2.2.2",
        5,
    ),
    # Captured (tests/tools/capture_mosquitto5.py); mosquitto does not write properties in
    # identifier order, so these decode but encode in another order.
    Vector(
        "captured-mosquitto-pub-mqttv5",
        Connect(
            "capture51",
            keep_alive=30,
            protocol_level=5,
            properties=ConnectProperties(
                session_expiry_interval=60, receive_maximum=20, user_properties=(("site", "a"),)
            ),
        ),
        # Properties 11 session expiry 60, 26 site=a, 21 receive maximum 20 (its default).
        "10 28  0004 4d515454 05 02 001e"
        "  12  11 0000003c  26 0004 73697465 0001 61  21 0014"
        "  0009 636170747572653531",
        "MQTT 5.0 §3.1",
        5,
        f"{MOSQUITTO}: mosquitto_pub -V mqttv5 -i capture51 -k 30 -D connect "
        "session-expiry-interval 60 -D connect user-property site a",
    ),
    Vector(
        "captured-mosquitto-connack5-0",
        # 22 topic alias maximum 10, 21 receive maximum 20.
        ConnAck(
            False,
            ReasonCode.SUCCESS,
            ConnAckProperties(topic_alias_maximum=10, receive_maximum=20),
        ),
        "20 09  00 00  06  22 000a  21 0014",
        "MQTT 5.0 §3.2.2.3",
        5,
        f"{MOSQUITTO}: allow_anonymous true; level-5 CONNECT, client id capture52",
    ),
    Vector(
        "captured-mosquitto-connack5-assigned-client-identifier",
        ConnAck(
            False,
            ReasonCode.SUCCESS,
            ConnAckProperties(
                topic_alias_maximum=10,
                assigned_client_identifier="auto-DE5BB351-B2DD-16E0-29AA-8518C42BE979",
                receive_maximum=20,
            ),
        ),
        "20 35  00 00  32  22 000a"
        "  12 0029 6175746f2d44453542423335312d423244442d313645302d323941412d38353138433432"
        "4245393739"
        "  21 0014",
        "MQTT 5.0 §3.1.3.1, §3.2.2.3.7",
        5,
        f"{MOSQUITTO}: allow_anonymous true; level-5 CONNECT with an empty client id",
    ),
    Vector(
        "captured-mosquitto-connack5-limits",
        # 22 topic alias maximum 10, 13 server keep alive 30, 25 retain available 0,
        # 27 maximum packet size 2000, 21 receive maximum 20, 24 maximum QoS 1.
        ConnAck(
            False,
            ReasonCode.SUCCESS,
            ConnAckProperties(
                topic_alias_maximum=10,
                server_keep_alive=30,
                retain_available=False,
                maximum_packet_size=2000,
                receive_maximum=20,
                maximum_qos=1,
            ),
        ),
        "20 15  00 00  12  22 000a  13 001e  25 00  27 000007d0  21 0014  24 01",
        "MQTT 5.0 §3.2.2.3",
        5,
        f"{MOSQUITTO}: allow_anonymous true, max_keepalive 30, max_packet_size 2000, "
        "max_qos 1, retain_available false; level-5 CONNECT with keep alive 60, session "
        "expiry 3600, receive maximum 20",
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
