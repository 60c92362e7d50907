"""Every rule the codec enforces, one at a time, on both codecs.

Decoding: each row is bytes from a peer that break one rule; the test demands the error
type, the offset of the byte at fault and the exact message. Encoding: each row is a
packet a client must never send; the test demands InvalidPacket, the field and the
message. CONNECT offsets, for a body under 128 bytes: 0 type, 1 Remaining Length, 2-3
protocol name length, 4-7 "MQTT" (4-9 "MQIsdp"), 8 level (10 in 3.1), 9 connect flags,
10-11 keep alive, 12-13 client identifier length, 14 its first byte.
"""

from __future__ import annotations

from typing import Any

import pytest

from pco_wire import (
    ConnAck,
    ConnAckCode,
    Connect,
    InvalidPacket,
    MalformedPacket,
    OtherPacket,
    PacketType,
    PingReq,
    RemoteProtocolError,
    UnsupportedProtocol,
    Will,
)
from tests.support import Codec, Packet, fields


def _rows(table: list[tuple[Any, ...]]) -> dict[str, Any]:
    """parametrize() arguments from rows whose first item is the test id."""
    return {"argvalues": [row[1:] for row in table], "ids": [row[0] for row in table]}


# ------------------------------------------------------------------ decoding refusals

DECODE_ERRORS: list[tuple[str, str, int, type[RemoteProtocolError], int, str]] = [
    # (id, hex, protocol level, error, offset, message)
    # MQTT 3.1.1 §2.2.3: at most four bytes of Remaining Length.
    (
        "remaining-length-5-bytes",
        "30 ffffffff01",
        4,
        MalformedPacket,
        4,
        "expected the remaining length to end within 4 bytes, got a continuation bit in the 4th",
    ),
    (
        "remaining-length-continues-after-4th",
        "d0 80808080",
        4,
        MalformedPacket,
        4,
        "expected the remaining length to end within 4 bytes, got a continuation bit in the 4th",
    ),
    # MQTT 3.1.1 §2.2.1: types 0 and 15 are reserved.
    ("type-0", "00 00", 4, MalformedPacket, 0, "expected a packet type 1..14, got 0 (reserved)"),
    ("type-15", "f0 00", 4, MalformedPacket, 0, "expected a packet type 1..14, got 15 (reserved)"),
    (
        "type-15-mqtt31",
        "f0 00",
        3,
        MalformedPacket,
        0,
        "expected a packet type 1..14, got 15 (reserved)",
    ),
    # Remaining Length fixed by the packet type (§3.2.1, §3.12.1, §3.13.1, §3.14.1); the
    # offset is that of the Remaining Length.
    (
        "connack-length-0",
        "20 00",
        4,
        MalformedPacket,
        1,
        "expected remaining length 2 for CONNACK, got 0",
    ),
    (
        "connack-length-1",
        "20 01 00",
        4,
        MalformedPacket,
        1,
        "expected remaining length 2 for CONNACK, got 1",
    ),
    (
        "connack-length-3",
        "20 03 000000",
        4,
        MalformedPacket,
        1,
        "expected remaining length 2 for CONNACK, got 3",
    ),
    (
        "connack-length-3-mqtt31",
        "20 03 000000",
        3,
        MalformedPacket,
        1,
        "expected remaining length 2 for CONNACK, got 3",
    ),
    (
        "pingreq-length-1",
        "c0 01 00",
        4,
        MalformedPacket,
        1,
        "expected remaining length 0 for PINGREQ, got 1",
    ),
    (
        "pingresp-length-1",
        "d0 01 00",
        4,
        MalformedPacket,
        1,
        "expected remaining length 0 for PINGRESP, got 1",
    ),
    (
        "pingresp-length-130",
        "d0 8201" + "00" * 130,
        4,
        MalformedPacket,
        1,
        "expected remaining length 0 for PINGRESP, got 130",
    ),
    (
        "disconnect-length-2",
        "e0 02 0000",
        4,
        MalformedPacket,
        1,
        "expected remaining length 0 for DISCONNECT, got 2",
    ),
    # Reserved fixed-header flags (§2.2.2): the decoded types at both levels...
    (
        "connect-flags-0001",
        "11 0c 00044d515454 04 02 003c 0000",
        4,
        MalformedPacket,
        0,
        "expected fixed-header flags 0000 for CONNECT, got 0001",
    ),
    (
        "connect-flags-1000-mqtt31",
        "18 0c 00044d515454 04 02 003c 0000",
        3,
        MalformedPacket,
        0,
        "expected fixed-header flags 0000 for CONNECT, got 1000",
    ),
    (
        "connack-flags-0010",
        "22 02 0000",
        4,
        MalformedPacket,
        0,
        "expected fixed-header flags 0000 for CONNACK, got 0010",
    ),
    (
        "connack-flags-0010-mqtt31",
        "22 02 0000",
        3,
        MalformedPacket,
        0,
        "expected fixed-header flags 0000 for CONNACK, got 0010",
    ),
    (
        "pingreq-flags-0001",
        "c1 00",
        4,
        MalformedPacket,
        0,
        "expected fixed-header flags 0000 for PINGREQ, got 0001",
    ),
    (
        "pingresp-flags-1000",
        "d8 00",
        4,
        MalformedPacket,
        0,
        "expected fixed-header flags 0000 for PINGRESP, got 1000",
    ),
    (
        "pingresp-flags-0010-mqtt31",
        "d2 00",
        3,
        MalformedPacket,
        0,
        "expected fixed-header flags 0000 for PINGRESP, got 0010",
    ),
    (
        "disconnect-flags-0100",
        "e4 00",
        4,
        MalformedPacket,
        0,
        "expected fixed-header flags 0000 for DISCONNECT, got 0100",
    ),
    (
        "disconnect-flags-1111-mqtt31",
        "ef 00",
        3,
        MalformedPacket,
        0,
        "expected fixed-header flags 0000 for DISCONNECT, got 1111",
    ),
    # ... and every other type but PUBLISH in MQTT 3.1.1.
    (
        "puback-flags-0010",
        "42 02 0001",
        4,
        MalformedPacket,
        0,
        "expected fixed-header flags 0000 for PUBACK, got 0010",
    ),
    (
        "pubrec-flags-0001",
        "51 02 0001",
        4,
        MalformedPacket,
        0,
        "expected fixed-header flags 0000 for PUBREC, got 0001",
    ),
    (
        "pubrel-flags-0000",
        "60 02 0001",
        4,
        MalformedPacket,
        0,
        "expected fixed-header flags 0010 for PUBREL, got 0000",
    ),
    (
        "pubrel-flags-1010",
        "6a 02 0001",
        4,
        MalformedPacket,
        0,
        "expected fixed-header flags 0010 for PUBREL, got 1010",
    ),
    (
        "pubcomp-flags-1000",
        "78 02 0001",
        4,
        MalformedPacket,
        0,
        "expected fixed-header flags 0000 for PUBCOMP, got 1000",
    ),
    (
        "subscribe-flags-0000",
        "80 06 0001 000174 00",
        4,
        MalformedPacket,
        0,
        "expected fixed-header flags 0010 for SUBSCRIBE, got 0000",
    ),
    (
        "subscribe-flags-0011",
        "83 06 0001 000174 00",
        4,
        MalformedPacket,
        0,
        "expected fixed-header flags 0010 for SUBSCRIBE, got 0011",
    ),
    (
        "suback-flags-0100",
        "94 03 0001 00",
        4,
        MalformedPacket,
        0,
        "expected fixed-header flags 0000 for SUBACK, got 0100",
    ),
    (
        "unsubscribe-flags-0000",
        "a0 05 0001 000174",
        4,
        MalformedPacket,
        0,
        "expected fixed-header flags 0010 for UNSUBSCRIBE, got 0000",
    ),
    (
        "unsuback-flags-0010",
        "b2 02 0001",
        4,
        MalformedPacket,
        0,
        "expected fixed-header flags 0000 for UNSUBACK, got 0010",
    ),
    # MQTT 3.1.1 §3.3.1.2: PUBLISH QoS 3 at either level, with or without DUP/RETAIN.
    ("publish-qos3", "36 03 000174", 4, MalformedPacket, 0, "expected PUBLISH QoS 0..2, got 3"),
    (
        "publish-dup-qos3-retain",
        "3f 05 000174 0001",
        4,
        MalformedPacket,
        0,
        "expected PUBLISH QoS 0..2, got 3",
    ),
    (
        "publish-qos3-mqtt31",
        "36 03 000174",
        3,
        MalformedPacket,
        0,
        "expected PUBLISH QoS 0..2, got 3",
    ),
    # CONNACK (§3.2.2): acknowledge flags bits 7..1 reserved in 3.1.1, offset 2; return
    # codes above 5 reserved at both levels, offset 3, checked first.
    (
        "connack-ack-flags-0x02",
        "20 02 02 00",
        4,
        MalformedPacket,
        2,
        "expected connect acknowledge flags 0 or 1 (bits 7..1 reserved), got 0x02",
    ),
    (
        "connack-ack-flags-0x80",
        "20 02 80 00",
        4,
        MalformedPacket,
        2,
        "expected connect acknowledge flags 0 or 1 (bits 7..1 reserved), got 0x80",
    ),
    (
        "connack-ack-flags-0xff",
        "20 02 ff 00",
        4,
        MalformedPacket,
        2,
        "expected connect acknowledge flags 0 or 1 (bits 7..1 reserved), got 0xff",
    ),
    (
        "connack-session-present-rc-1",
        "20 02 01 01",
        4,
        MalformedPacket,
        2,
        "expected session present 0 with return code 1, got 1",
    ),
    (
        "connack-session-present-rc-5",
        "20 02 01 05",
        4,
        MalformedPacket,
        2,
        "expected session present 0 with return code 5, got 1",
    ),
    ("connack-rc-6", "20 02 00 06", 4, MalformedPacket, 3, "expected return code 0..5, got 6"),
    ("connack-rc-255", "20 02 00 ff", 4, MalformedPacket, 3, "expected return code 0..5, got 255"),
    (
        "connack-rc-6-session-present",
        "20 02 01 06",
        4,
        MalformedPacket,
        3,
        "expected return code 0..5, got 6",
    ),
    (
        "connack-rc-6-mqtt31",
        "20 02 00 06",
        3,
        MalformedPacket,
        3,
        "expected return code 0..5, got 6",
    ),
    (
        "connack-rc-255-mqtt31",
        "20 02 ff ff",
        3,
        MalformedPacket,
        3,
        "expected return code 0..5, got 255",
    ),
    # CONNECT header (§3.1.2).
    (
        "connect-reserved-flag",
        "10 0c 00044d515454 04 03 003c 0000",
        4,
        MalformedPacket,
        9,
        "expected the reserved connect flag 0, got 1",
    ),
    (
        "connect-reserved-flag-mqtt31",
        "10 0e 00064d514973647003 01 003c 0000",
        3,
        MalformedPacket,
        11,
        "expected the reserved connect flag 0, got 1",
    ),
    (
        "connect-name-MQTX",
        "10 0c 00044d515458 04 02 003c 0000",
        4,
        MalformedPacket,
        2,
        "expected protocol name 'MQTT' or 'MQIsdp', got 'MQTX'",
    ),
    (
        "connect-name-lowercase",
        "10 0c 00046d717474 04 02 003c 0000",
        4,
        MalformedPacket,
        2,
        "expected protocol name 'MQTT' or 'MQIsdp', got 'mqtt'",
    ),
    (
        "connect-name-MQIsdx",
        "10 0e 00064d514973647803 02 003c 0000",
        3,
        MalformedPacket,
        2,
        "expected protocol name 'MQTT' or 'MQIsdp', got 'MQIsdx'",
    ),
    (
        "connect-name-empty",
        "10 08 0000 04 02 003c 0000",
        4,
        MalformedPacket,
        2,
        "expected protocol name 'MQTT' or 'MQIsdp', got ''",
    ),
    (
        "connect-MQTT-level-3",
        "10 0c 00044d515454 03 02 003c 0000",
        4,
        MalformedPacket,
        8,
        "expected protocol level 4 or 5 with protocol name 'MQTT', got 3",
    ),
    (
        "connect-MQIsdp-level-4",
        "10 0e 00064d514973647004 02 003c 0000",
        4,
        MalformedPacket,
        10,
        "expected protocol level 3 with protocol name 'MQIsdp', got 4",
    ),
    (
        "connect-will-qos-3",
        "10 11 00044d515454 04 1e 003c 0000 0001 74 0000",
        4,
        MalformedPacket,
        9,
        "expected will QoS 0..2, got 3",
    ),
    (
        "connect-will-qos-3-no-will-flag",
        "10 0c 00044d515454 04 1a 003c 0000",
        4,
        MalformedPacket,
        9,
        "expected will QoS 0..2, got 3",
    ),
    (
        "connect-will-qos-1-no-will-flag",
        "10 0c 00044d515454 04 0a 003c 0000",
        4,
        MalformedPacket,
        9,
        "expected will QoS 0 and will retain 0 without the will flag, got QoS 1 and retain 0",
    ),
    (
        "connect-will-retain-no-will-flag",
        "10 0c 00044d515454 04 22 003c 0000",
        4,
        MalformedPacket,
        9,
        "expected will QoS 0 and will retain 0 without the will flag, got QoS 0 and retain 1",
    ),
    (
        "connect-will-qos-2-retain-no-will-flag-mqtt31",
        "10 0e 00064d514973647003 32 003c 0000",
        3,
        MalformedPacket,
        11,
        "expected will QoS 0 and will retain 0 without the will flag, got QoS 2 and retain 1",
    ),
    (
        "connect-password-no-user-name",
        "10 0f 00044d515454 04 42 003c 0000 0001 70",
        4,
        MalformedPacket,
        9,
        "expected the user name flag with the password flag, got none",
    ),
    # Strings (§1.5.3): well-formed UTF-8, no surrogates, no U+0000; the offset is that
    # of the first bad byte.
    (
        "client-id-0xff",
        "10 0d 00044d515454 04 02 003c 0001 ff",
        4,
        MalformedPacket,
        14,
        "expected well-formed UTF-8 in the client identifier, got byte 0xff",
    ),
    (
        "client-id-0xff-after-ab",
        "10 0f 00044d515454 04 02 003c 0003 6162ff",
        4,
        MalformedPacket,
        16,
        "expected well-formed UTF-8 in the client identifier, got byte 0xff",
    ),
    (
        "client-id-overlong-nul",
        "10 0e 00044d515454 04 02 003c 0002 c080",
        4,
        MalformedPacket,
        14,
        "expected well-formed UTF-8 in the client identifier, got byte 0xc0",
    ),
    (
        "client-id-surrogate-d800",
        "10 10 00044d515454 04 02 003c 0004 61eda080",
        4,
        MalformedPacket,
        15,
        "expected well-formed UTF-8 in the client identifier, got byte 0xed",
    ),
    (
        "client-id-above-10ffff",
        "10 10 00044d515454 04 02 003c 0004 f4908080",
        4,
        MalformedPacket,
        14,
        "expected well-formed UTF-8 in the client identifier, got byte 0xf4",
    ),
    (
        "client-id-truncated-sequence",
        "10 0f 00044d515454 04 02 003c 0003 61e298",
        4,
        MalformedPacket,
        15,
        "expected well-formed UTF-8 in the client identifier, got byte 0xe2",
    ),
    (
        "client-id-0xff-mqtt31",
        "10 0f 00064d514973647003 02 003c 0001 ff",
        3,
        MalformedPacket,
        16,
        "expected well-formed UTF-8 in the client identifier, got byte 0xff",
    ),
    (
        "will-topic-0xff",
        "10 13 00044d515454 04 06 003c 0001 61 0002 61ff 0000",
        4,
        MalformedPacket,
        18,
        "expected well-formed UTF-8 in the will topic, got byte 0xff",
    ),
    (
        "will-topic-surrogate-dfff",
        "10 14 00044d515454 04 06 003c 0001 61 0003 edbfbf 0000",
        4,
        MalformedPacket,
        17,
        "expected well-formed UTF-8 in the will topic, got byte 0xed",
    ),
    (
        "user-name-0xff",
        "10 10 00044d515454 04 82 003c 0001 61 0001 ff",
        4,
        MalformedPacket,
        17,
        "expected well-formed UTF-8 in the user name, got byte 0xff",
    ),
    (
        "user-name-overlong-slash",
        "10 11 00044d515454 04 82 003c 0001 61 0002 c0af",
        4,
        MalformedPacket,
        17,
        "expected well-formed UTF-8 in the user name, got byte 0xc0",
    ),
    (
        "client-id-nul",
        "10 0f 00044d515454 04 02 003c 0003 610062",
        4,
        MalformedPacket,
        15,
        "expected no U+0000 in the client identifier, got one",
    ),
    (
        "will-topic-nul",
        "10 12 00044d515454 04 06 003c 0001 61 0001 00 0000",
        4,
        MalformedPacket,
        17,
        "expected no U+0000 in the will topic, got one",
    ),
    (
        "user-name-nul",
        "10 11 00044d515454 04 82 003c 0001 61 0002 7500",
        4,
        MalformedPacket,
        18,
        "expected no U+0000 in the user name, got one",
    ),
    # Fields that run past the packet: the offset is where the missing bytes should be.
    (
        "connect-empty-body",
        "10 00",
        4,
        MalformedPacket,
        2,
        "expected the 2-byte length of the protocol name, got 0 bytes before the end of the packet",
    ),
    (
        "connect-protocol-name-short",
        "10 03 0004 4d",
        4,
        MalformedPacket,
        4,
        "expected 4 bytes of protocol name, got 1 before the end of the packet",
    ),
    (
        "connect-no-level",
        "10 06 00044d515454",
        4,
        MalformedPacket,
        8,
        "expected 4 bytes of protocol level, connect flags and keep alive, got 0",
    ),
    (
        "connect-no-keep-alive-lsb",
        "10 09 00044d515454 04 02 00",
        4,
        MalformedPacket,
        11,
        "expected 4 bytes of protocol level, connect flags and keep alive, got 3",
    ),
    (
        "connect-no-client-id",
        "10 0a 00044d515454 04 02 003c",
        4,
        MalformedPacket,
        12,
        "expected the 2-byte length of the client identifier, "
        "got 0 bytes before the end of the packet",
    ),
    (
        "connect-half-client-id-length",
        "10 0b 00044d515454 04 02 003c 00",
        4,
        MalformedPacket,
        12,
        "expected the 2-byte length of the client identifier, "
        "got 1 bytes before the end of the packet",
    ),
    (
        "connect-client-id-short",
        "10 0e 00044d515454 04 02 003c 0005 6162",
        4,
        MalformedPacket,
        14,
        "expected 5 bytes of client identifier, got 2 before the end of the packet",
    ),
    (
        "connect-no-will-topic",
        "10 0d 00044d515454 04 06 003c 0001 61",
        4,
        MalformedPacket,
        15,
        "expected the 2-byte length of the will topic, got 0 bytes before the end of the packet",
    ),
    (
        "connect-no-will-message",
        "10 10 00044d515454 04 06 003c 0001 61 0001 74",
        4,
        MalformedPacket,
        18,
        "expected the 2-byte length of the will message, got 0 bytes before the end of the packet",
    ),
    (
        "connect-will-message-short",
        "10 13 00044d515454 04 06 003c 0001 61 0001 74 0003 78",
        4,
        MalformedPacket,
        20,
        "expected 3 bytes of will message, got 1 before the end of the packet",
    ),
    (
        "connect-no-user-name",
        "10 0d 00044d515454 04 82 003c 0001 61",
        4,
        MalformedPacket,
        15,
        "expected the 2-byte length of the user name, got 0 bytes before the end of the packet",
    ),
    (
        "connect-no-password",
        "10 10 00044d515454 04 c2 003c 0001 61 0001 75",
        4,
        MalformedPacket,
        18,
        "expected the 2-byte length of the password, got 0 bytes before the end of the packet",
    ),
    (
        "connect-password-short",
        "10 17 00044d515454 04 c2 003c 0001 61 0001 75 0009 7333637233",
        4,
        MalformedPacket,
        20,
        "expected 9 bytes of password, got 5 before the end of the packet",
    ),
    (
        "connect-mqtt31-name-short",
        "10 08 0006 4d5149736470",
        3,
        MalformedPacket,
        10,
        "expected 4 bytes of protocol level, connect flags and keep alive, got 0",
    ),
    # Bytes after the last field the flags announce (§3.1.3).
    (
        "connect-2-bytes-after-client-id",
        "10 0e 00044d515454 04 02 003c 0000 abcd",
        4,
        MalformedPacket,
        14,
        "expected the end of CONNECT after its last field, got 2 more bytes",
    ),
    (
        "connect-1-byte-after-password",
        "10 14 00044d515454 04 c2 003c 0001 61 0001 75 0001 70 00",
        4,
        MalformedPacket,
        21,
        "expected the end of CONNECT after its last field, got 1 more bytes",
    ),
    (
        "connect-will-without-flag",
        "10 11 00044d515454 04 02 003c 0000 0001 74 0000",
        4,
        MalformedPacket,
        14,
        "expected the end of CONNECT after its last field, got 5 more bytes",
    ),
    # decode() takes exactly one complete packet.
    ("empty", "", 4, MalformedPacket, 0, "expected a packet of at least 2 bytes, got 0"),
    ("one-byte", "c0", 4, MalformedPacket, 1, "expected a packet of at least 2 bytes, got 1"),
    (
        "length-incomplete",
        "30 80",
        4,
        MalformedPacket,
        2,
        "expected a packet of at least 3 bytes, got 2",
    ),
    (
        "length-incomplete-4th",
        "30 808080",
        4,
        MalformedPacket,
        4,
        "expected a packet of at least 5 bytes, got 4",
    ),
    (
        "body-incomplete",
        "30 05 0001",
        4,
        MalformedPacket,
        4,
        "expected a packet of at least 7 bytes, got 4",
    ),
    (
        "connack-incomplete",
        "20 02 00",
        4,
        MalformedPacket,
        3,
        "expected a packet of at least 4 bytes, got 3",
    ),
    (
        "connect-incomplete",
        "10 0c 00044d515454 04 02 003c 00",
        4,
        MalformedPacket,
        13,
        "expected a packet of at least 14 bytes, got 13",
    ),
    (
        "trailing-byte",
        "c0 00 00",
        4,
        MalformedPacket,
        2,
        "expected the data to end with the packet, got 1 more bytes",
    ),
    (
        "trailing-packet",
        "20 02 0000 d000",
        4,
        MalformedPacket,
        4,
        "expected the data to end with the packet, got 2 more bytes",
    ),
    (
        "trailing-garbage",
        "d0 00 ffffffffff",
        4,
        MalformedPacket,
        2,
        "expected the data to end with the packet, got 5 more bytes",
    ),
    # MQTT 3.1.1 §3.1.2.2: a level this codec does not speak.
    (
        "connect-level-6",
        "10 0c 00044d515454 06 02 003c 0000",
        4,
        UnsupportedProtocol,
        8,
        "expected protocol level 3, 4 or 5, got 6",
    ),
]


@pytest.mark.parametrize(("data", "level", "error", "offset", "reason"), **_rows(DECODE_ERRORS))
def test_decode_refuses(
    codec: Codec,
    data: str,
    level: int,
    error: type[RemoteProtocolError],
    offset: int,
    reason: str,
) -> None:
    with pytest.raises(RemoteProtocolError) as caught:
        codec.decode(bytes.fromhex(data), level)
    exc = caught.value
    assert type(exc) is error
    assert (exc.offset, exc.reason) == (offset, reason)
    assert str(exc) == f"{reason} (at byte {offset})"


@pytest.mark.parametrize(
    ("data", "level"),
    [
        ("10 0c 00044d515454 06 02 003c 0000", 6),
        ("10 0c 00044d515454 00 02 003c 0000", 0),
        ("10 0c 00044d515454 63 02 003c 0000", 99),
        ("10 0e 00064d5149736470 ff 02 003c 0000", 255),
    ],
    ids=["level-6", "level-0", "level-99", "mqisdp-level-255"],
)
def test_decode_unsupported_protocol_level(codec: Codec, data: str, level: int) -> None:
    # A broker answers these with CONNACK return code 1 (§3.1.2.2): it needs the level.
    with pytest.raises(UnsupportedProtocol) as caught:
        codec.decode(bytes.fromhex(data))
    assert caught.value.level == level
    assert caught.value.reason == f"expected protocol level 3, 4 or 5, got {level}"
    assert caught.value.offset == len(bytes.fromhex(data)) - 6
    assert isinstance(caught.value, RemoteProtocolError)
    assert not isinstance(caught.value, MalformedPacket)


DECODE_ACCEPTED: list[tuple[str, str, int, Packet]] = [
    # MQTT 3.1 let every packet carry DUP, QoS and RETAIN; only the types this codec
    # decodes are held to 0000 there.
    (
        "mqtt31-puback-flags-0010",
        "42 02 0001",
        3,
        OtherPacket(PacketType.PUBACK, 0b0010, b"\x00\x01"),
    ),
    ("mqtt31-pubrel-flags-0000", "60 02 000a", 3, OtherPacket(PacketType.PUBREL, 0, b"\x00\x0a")),
    (
        "mqtt31-subscribe-flags-0000",
        "80 06 0001 000174 00",
        3,
        OtherPacket(PacketType.SUBSCRIBE, 0, b"\x00\x01\x00\x01t\x00"),
    ),
    (
        "mqtt31-unsubscribe-flags-1010",
        "aa 05 0001 000174",
        3,
        OtherPacket(PacketType.UNSUBSCRIBE, 0b1010, b"\x00\x01\x00\x01t"),
    ),
    (
        "mqtt31-suback-flags-1111",
        "9f 03 0001 00",
        3,
        OtherPacket(PacketType.SUBACK, 0b1111, b"\x00\x01\x00"),
    ),
    # In MQTT 3.1 the first CONNACK byte is reserved and unused: any value, no session
    # present.
    ("mqtt31-connack-ack-0x01", "20 02 01 00", 3, ConnAck(False, ConnAckCode.ACCEPTED)),
    ("mqtt31-connack-ack-0xff-rc-5", "20 02 ff 05", 3, ConnAck(False, ConnAckCode.NOT_AUTHORIZED)),
    (
        "mqtt31-connack-ack-0x01-rc-2",
        "20 02 01 02",
        3,
        ConnAck(False, ConnAckCode.IDENTIFIER_REJECTED),
    ),
    # A password is binary data, not a string (§3.1.3.5).
    (
        "password-not-utf8",
        "10 14 00044d515454 04 c2 003c 0001 61 0001 75 0002 ff00",
        4,
        Connect("a", username="u", password=b"\xff\x00"),
    ),
    # Decoding is not refusing: a server answers these with return code 2 (§3.1.3.1,
    # MQTT 3.1 §3.1), so it must be able to read them.
    (
        "empty-client-id-no-clean-session",
        "10 0c 00044d515454 04 00 003c 0000",
        4,
        Connect("", clean_session=False),
    ),
    (
        "mqtt31-client-id-24-characters",
        "10 26 00064d514973647003 02 003c 0018" + "78" * 24,
        3,
        Connect("x" * 24, protocol_level=3),
    ),
    # PUBLISH carries any DUP and RETAIN with QoS 0..2.
    (
        "publish-dup-qos0-retain",
        "39 03 000174",
        4,
        OtherPacket(PacketType.PUBLISH, 0b1001, b"\x00\x01t"),
    ),
    ("publish-empty-body", "30 00", 4, OtherPacket(PacketType.PUBLISH, 0, b"")),
]


@pytest.mark.parametrize(("data", "level", "expected"), **_rows(DECODE_ACCEPTED))
def test_decode_accepts(codec: Codec, data: str, level: int, expected: Packet) -> None:
    assert fields(codec.decode(bytes.fromhex(data), level)) == fields(expected)


@pytest.mark.parametrize("level", [6, 2, 0, "4", 4.0, 5.0, True, None], ids=repr)
def test_decode_protocol_level_argument(codec: Codec, level: object) -> None:
    with pytest.raises(InvalidPacket) as caught:
        codec.decode(b"\xc0\x00", level)
    assert caught.value.field == "protocol_level"
    assert caught.value.reason == (
        f"expected 3 (MQTT 3.1), 4 (MQTT 3.1.1) or 5 (MQTT 5.0), got {level!r}"
    )


# ------------------------------------------------------------------ encoding refusals

ENCODE_ERRORS: list[tuple[str, object, str, str]] = [
    # (id, packet, field, message)
    # Keep alive is a 16-bit integer (§3.1.2.10).
    (
        "keep-alive--1",
        Connect("a", keep_alive=-1),
        "keep_alive",
        "expected an integer 0..65535, got -1",
    ),
    (
        "keep-alive-65536",
        Connect("a", keep_alive=65536),
        "keep_alive",
        "expected an integer 0..65535, got 65536",
    ),
    (
        "keep-alive-1.5",
        Connect("a", keep_alive=1.5),  # type: ignore[arg-type]
        "keep_alive",
        "expected an integer 0..65535, got float",
    ),
    (
        "keep-alive-True",
        Connect("a", keep_alive=True),
        "keep_alive",
        "expected an integer 0..65535, got bool",
    ),
    (
        "keep-alive-str",
        Connect("a", keep_alive="60"),  # type: ignore[arg-type]
        "keep_alive",
        "expected an integer 0..65535, got str",
    ),
    # Strings have a two-byte length (§1.5.3): 65,535 bytes of UTF-8 at most.
    (
        "client-id-65536-bytes",
        Connect("a" * 65536),
        "client_id",
        "expected at most 65,535 bytes of UTF-8, got 65,536",
    ),
    (
        "client-id-32768-two-byte-characters",
        Connect("\u00e9" * 32768),
        "client_id",
        "expected at most 65,535 bytes of UTF-8, got 65,536",
    ),
    (
        "username-70000-bytes",
        Connect("a", username="u" * 70000),
        "username",
        "expected at most 65,535 bytes of UTF-8, got 70,000",
    ),
    (
        "will-topic-65536-bytes",
        Connect("a", will=Will("t" * 65536, b"")),
        "will.topic",
        "expected at most 65,535 bytes of UTF-8, got 65,536",
    ),
    (
        "will-message-65536-bytes",
        Connect("a", will=Will("t", bytes(65536))),
        "will.message",
        "expected at most 65,535 bytes, got 65,536",
    ),
    # MQTT 3.1.1 §3.1.3.1: a zero-byte client identifier requires clean session.
    (
        "empty-client-id-no-clean-session",
        Connect("", clean_session=False),
        "client_id",
        "expected a client identifier when clean_session is off, got ''",
    ),
    # MQTT 3.1 §3.1: 1 to 23 characters.
    (
        "mqtt31-client-id-0",
        Connect("", protocol_level=3),
        "client_id",
        "expected 1..23 characters in MQTT 3.1, got 0",
    ),
    (
        "mqtt31-client-id-24",
        Connect("x" * 24, protocol_level=3),
        "client_id",
        "expected 1..23 characters in MQTT 3.1, got 24",
    ),
    # MQTT 3.1.1 §4.7.3: a topic name has at least one character; §4.7.1: no wildcards.
    (
        "will-topic-empty",
        Connect("a", will=Will("", b"m")),
        "will.topic",
        "expected a topic name, got ''",
    ),
    (
        "will-topic-plus",
        Connect("a", will=Will("a/+/b", b"m")),
        "will.topic",
        "expected a topic name without + or #, got 'a/+/b'",
    ),
    (
        "will-topic-hash",
        Connect("a", will=Will("a/#", b"m")),
        "will.topic",
        "expected a topic name without + or #, got 'a/#'",
    ),
    (
        "will-topic-only-hash",
        Connect("a", will=Will("#", b"m")),
        "will.topic",
        "expected a topic name without + or #, got '#'",
    ),
    # MQTT 3.1.1 §3.1.2.6: will QoS 0..2.
    (
        "will-qos-3",
        Connect("a", will=Will("t", b"m", qos=3)),
        "will.qos",
        "expected an integer 0..2, got 3",
    ),
    (
        "will-qos--1",
        Connect("a", will=Will("t", b"m", qos=-1)),
        "will.qos",
        "expected an integer 0..2, got -1",
    ),
    (
        "will-qos-True",
        Connect("a", will=Will("t", b"m", qos=True)),
        "will.qos",
        "expected an integer 0..2, got bool",
    ),
    (
        "will-not-a-will",
        Connect("a", will=("t", b"m")),  # type: ignore[arg-type]
        "will",
        "expected a Will or None, got tuple",
    ),
    (
        "will-message-str",
        Connect("a", will=Will("t", "m")),  # type: ignore[arg-type]
        "will.message",
        "expected bytes, got str",
    ),
    # MQTT 3.1.1 §3.1.2.9: a password only with a user name.
    (
        "password-without-username",
        Connect("a", password=b"s3cr3t-pw"),
        "password",
        "expected a username with a password, got none",
    ),
    (
        "password-str",
        Connect("a", username="u", password="s3cr3t-pw"),  # type: ignore[arg-type]
        "password",
        "expected bytes, got str",
    ),
    (
        "password-65536-bytes",
        Connect("a", username="u", password=b"s3cr3t-pw" * 7282),
        "password",
        "expected at most 65,535 bytes, got 65,538",
    ),
    # MQTT 3.1.1 §1.5.3: no surrogates, no U+0000.
    (
        "client-id-lone-surrogate",
        Connect("ab\ud800"),
        "client_id",
        "expected well-formed text, got a lone surrogate at character 2",
    ),
    (
        "username-lone-surrogate",
        Connect("a", username="\udfff"),
        "username",
        "expected well-formed text, got a lone surrogate at character 0",
    ),
    (
        "will-topic-lone-surrogate",
        Connect("a", will=Will("t\udc80", b"")),
        "will.topic",
        "expected well-formed text, got a lone surrogate at character 1",
    ),
    (
        "username-nul",
        Connect("a", username="u\x00"),
        "username",
        "expected no U+0000, got one at character 1",
    ),
    ("client-id-nul", Connect("\x00"), "client_id", "expected no U+0000, got one at character 0"),
    ("client-id-bytes", Connect(b"a"), "client_id", "expected str, got bytes"),  # type: ignore[arg-type]
    ("username-int", Connect("a", username=7), "username", "expected str, got int"),  # type: ignore[arg-type]
    # Only MQTT 3.1, 3.1.1 and 5.0.
    (
        "protocol-level-6",
        Connect("a", protocol_level=6),
        "protocol_level",
        "expected 3 (MQTT 3.1), 4 (MQTT 3.1.1) or 5 (MQTT 5.0), got 6",
    ),
    (
        "protocol-level-str",
        Connect("a", protocol_level="4"),  # type: ignore[arg-type]
        "protocol_level",
        "expected 3 (MQTT 3.1), 4 (MQTT 3.1.1) or 5 (MQTT 5.0), got '4'",
    ),
    # CONNACK (§3.2.2.2, §3.2.2.3).
    (
        "connack-session-present-rc-1",
        ConnAck(True, ConnAckCode.UNACCEPTABLE_PROTOCOL_VERSION),
        "session_present",
        "expected False with return code 1, got True",
    ),
    ("connack-rc-6", ConnAck(False, 6), "return_code", "expected an integer 0..5, got 6"),  # type: ignore[arg-type]
    ("connack-rc--1", ConnAck(False, -1), "return_code", "expected an integer 0..5, got -1"),  # type: ignore[arg-type]
    # Other packets: a type without a class of its own, flags that type allows (§2.2).
    (
        "other-type-connect",
        OtherPacket(1, 0, b""),
        "packet_type",
        "expected a type without a packet class of its own, got 1 (CONNECT)",
    ),
    (
        "other-type-pingresp",
        OtherPacket(13, 0, b""),
        "packet_type",
        "expected a type without a packet class of its own, got 13 (PINGRESP)",
    ),
    ("other-type-0", OtherPacket(0, 0, b""), "packet_type", "expected an integer 1..14, got 0"),
    ("other-type-15", OtherPacket(15, 0, b""), "packet_type", "expected an integer 1..14, got 15"),
    ("other-flags-16", OtherPacket(3, 16, b""), "flags", "expected an integer 0..15, got 16"),
    (
        "other-publish-qos-3",
        OtherPacket(3, 0b0110, b"\x00\x01t"),
        "flags",
        "expected PUBLISH QoS 0..2, got 3",
    ),
    (
        "other-pubrel-flags-0000",
        OtherPacket(6, 0, b"\x00\x01"),
        "flags",
        "expected 0010 for PUBREL, got 0000",
    ),
    (
        "other-puback-flags-0010",
        OtherPacket(4, 2, b"\x00\x01"),
        "flags",
        "expected 0000 for PUBACK, got 0010",
    ),
    ("other-body-str", OtherPacket(4, 0, "\x00\x01"), "body", "expected bytes, got str"),  # type: ignore[arg-type]
    # Not a packet at all.
    ("object", object(), "packet", "expected a pco_wire packet, got object"),
    ("bytes", b"\xc0\x00", "packet", "expected a pco_wire packet, got bytes"),
    ("none", None, "packet", "expected a pco_wire packet, got NoneType"),
    ("packet-class", PingReq, "packet", "expected a pco_wire packet, got type"),
]


@pytest.mark.parametrize(("packet", "field", "reason"), **_rows(ENCODE_ERRORS))
def test_encode_refuses(codec: Codec, packet: object, field: str, reason: str) -> None:
    with pytest.raises(InvalidPacket) as caught:
        codec.encode(packet)
    exc = caught.value
    assert isinstance(exc, ValueError)
    assert (exc.field, exc.reason) == (field, reason)
    assert str(exc) == f"{field}: {reason}"


ENCODE_ACCEPTED: list[tuple[str, Packet, str]] = [
    # (id, packet, hex): the edges next to the refusals above.
    ("keep-alive-0", Connect("a", keep_alive=0), "10 0d 00044d515454 04 02 0000 0001 61"),
    ("keep-alive-65535", Connect("a", keep_alive=65535), "10 0d 00044d515454 04 02 ffff 0001 61"),
    (
        "empty-client-id-clean-session",
        Connect("", clean_session=True),
        "10 0c 00044d515454 04 02 003c 0000",
    ),
    (
        "mqtt31-client-id-1",
        Connect("a", protocol_level=3),
        "10 0f 00064d514973647003 02 003c 0001 61",
    ),
    # 23 characters, 46 bytes: MQTT 3.1 counts characters.
    (
        "mqtt31-client-id-23-two-byte-characters",
        Connect("\u00e9" * 23, protocol_level=3),
        "10 3c 00064d514973647003 02 003c 002e" + "c3a9" * 23,
    ),
    (
        "will-qos-2-retain",
        Connect("a", will=Will("t", b"m", 2, True)),
        "10 13 00044d515454 04 36 003c 0001 61 0001 74 0001 6d",
    ),
    (
        "empty-password",
        Connect("a", username="u", password=b""),
        "10 12 00044d515454 04 c2 003c 0001 61 0001 75 0000",
    ),
    ("empty-username", Connect("a", username=""), "10 0f 00044d515454 04 82 003c 0001 61 0000"),
    ("connack-rc-5", ConnAck(False, ConnAckCode.NOT_AUTHORIZED), "20 02 00 05"),
    ("connack-plain-int-rc", ConnAck(False, 3), "20 02 00 03"),  # type: ignore[arg-type]
    ("publish-empty-body", OtherPacket(3, 0, b""), "30 00"),
    ("publish-plain-int-type", OtherPacket(3, 0b1011, b"\x00\x01t\x00\x07"), "3b 05 000174 0007"),
]


@pytest.mark.parametrize(("packet", "data"), **_rows(ENCODE_ACCEPTED))
def test_encode_accepts(codec: Codec, packet: Packet, data: str) -> None:
    assert codec.encode(packet).hex(" ") == bytes.fromhex(data).hex(" ")


def test_encode_65535_byte_fields(codec: Codec) -> None:
    # The largest strings and binary fields a two-byte length can hold (§1.5.3).
    packet = Connect(
        "c" * 65535,
        username="u" * 65535,
        password=b"p" * 65535,
        will=Will("t" * 65535, b"m" * 65535),
    )
    data = codec.encode(packet)
    # 10 + 5 fields of 2 + 65535 bytes = 327,695 = 15 + 0 * 128 + 20 * 16384: 8f 80 14.
    assert data[:4].hex() == "108f8014"
    assert len(data) == 4 + 327_695
    assert fields(codec.decode(data)) == fields(packet)


@pytest.mark.parametrize("kind", [bytearray, memoryview])
def test_encode_binary_fields_from_buffers(
    codec: Codec, kind: type[bytearray | memoryview]
) -> None:
    plain = Connect("a", username="u", password=b"pw", will=Will("t", b"msg"))
    buffers = Connect("a", username="u", password=kind(b"pw"), will=Will("t", kind(b"msg")))  # type: ignore[arg-type]
    assert codec.encode(buffers) == codec.encode(plain)
    assert codec.encode(OtherPacket(3, 0, kind(b"\x00\x01t"))) == b"\x30\x03\x00\x01t"  # type: ignore[arg-type]


# ---------------------------------------------------------------- password secrecy

PASSWORD = b"s3cr3t-pw"
SECRETS = ("s3cr3t-pw", PASSWORD.hex(), repr(PASSWORD))

PASSWORD_ENCODE_ERRORS: list[tuple[str, object]] = [
    ("bad-keep-alive", Connect("a", keep_alive=-1, username="u", password=PASSWORD)),
    ("no-username", Connect("a", password=PASSWORD)),
    ("str-password", Connect("a", username="u", password=PASSWORD.decode())),  # type: ignore[arg-type]
    ("long-password", Connect("a", username="u", password=PASSWORD * 8000)),
    ("bad-username", Connect("a", username="u\x00", password=PASSWORD)),
    ("bad-will", Connect("a", username="u", password=PASSWORD, will=Will("#", b""))),
    ("bad-level", Connect("a", username="u", password=PASSWORD, protocol_level=5)),
]


def _assert_no_secret(*texts: str) -> None:
    for text in texts:
        for secret in SECRETS:
            assert secret not in text


@pytest.mark.parametrize("packet", **_rows(PASSWORD_ENCODE_ERRORS))
def test_password_never_in_encode_errors(codec: Codec, packet: Connect) -> None:
    with pytest.raises(InvalidPacket) as caught:
        codec.encode(packet)
    exc = caught.value
    _assert_no_secret(str(exc), repr(exc), repr(exc.args), repr(packet), str(packet))


@pytest.mark.parametrize(
    ("data", "malformed_in_a_stream"),
    [
        # Truncated inside the password, one byte too many after it, a bad user name
        # before it; then the whole packet incomplete, and followed by a byte.
        ("10 17 00044d515454 04 c2 003c 0001 61 0001 75 0009 7333637233", True),
        ("10 1c 00044d515454 04 c2 003c 0001 61 0001 75 0009 733363723374 2d7077 00", True),
        ("10 1b 00044d515454 04 c2 003c 0001 61 0001 ff 0009 733363723374 2d7077", True),
        ("10 1b 00044d515454 04 c2 003c 0001 61 0001 75 0009 733363723374 2d70", False),
        ("10 1b 00044d515454 04 c2 003c 0001 61 0001 75 0009 733363723374 2d7077 c0", False),
    ],
    ids=["password-short", "byte-after-password", "bad-user-name", "incomplete", "trailing"],
)
def test_password_never_in_decode_errors(
    codec: Codec, data: str, malformed_in_a_stream: bool
) -> None:
    raw = bytes.fromhex(data)
    assert PASSWORD[:5] in raw
    with pytest.raises(MalformedPacket) as caught:
        codec.decode(raw)
    exc = caught.value
    _assert_no_secret(str(exc), repr(exc), repr(exc.args))
    if malformed_in_a_stream:
        with pytest.raises(MalformedPacket) as again:
            codec.Framer().feed(raw)
        _assert_no_secret(str(again.value), repr(again.value), repr(again.value.args))


def test_password_never_in_repr(codec: Codec) -> None:
    packet = Connect("a", username="u", password=PASSWORD, will=Will("t", b"m"))
    data = codec.encode(packet)
    assert PASSWORD in data
    decoded = codec.decode(data)
    for shown in (packet, decoded, [decoded], {"connect": decoded}):
        _assert_no_secret(repr(shown), str(shown), f"{shown}")
    assert "password=<hidden>" in repr(decoded)
    assert "password=None" in repr(Connect("a"))
