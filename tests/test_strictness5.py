"""Every MQTT 5.0 rule the codec enforces, one at a time, on both codecs.

As in test_strictness.py: decoding rows are bytes from a peer that break one rule, with the
error type, the offset of the byte at fault and the exact message; encoding rows are
packets that must never be sent, with the field and the message. A value the
specification calls a Protocol Error (a property out of its range, Authentication Data
without a method) is a ProtocolViolation; a packet that cannot be parsed is a
MalformedPacket.

CONNECT offsets at level 5, for a body under 128 bytes: 0 type, 1 Remaining Length, 2-3
protocol name length, 4-7 "MQTT", 8 level, 9 connect flags, 10-11 keep alive, 12 Property
Length, 13 the first property. CONNACK: 2 flags, 3 reason code, 4 Property Length, 5 the
first property identifier, 6 its value. DISCONNECT and AUTH: 2 reason code, 3 Property
Length, 4 the first property.
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
    PingReq,
    RemoteProtocolError,
    UnsupportedProtocol,
    Will,
)
from pco_wire.errors import ProtocolViolation
from pco_wire.packets import (
    EMPTY_CONNACK_PROPERTIES,
    EMPTY_CONNECT_PROPERTIES,
    EMPTY_DISCONNECT_PROPERTIES,
    Auth,
    AuthProperties,
    ConnAckProperties,
    ConnectProperties,
    Disconnect,
    DisconnectProperties,
    OtherPacket,
    PacketType,
    WillProperties,
)
from pco_wire.reasons import ReasonCode
from tests.support import Codec, Packet, fields
from tests.test_strictness import _rows

M, V = MalformedPacket, ProtocolViolation
# A CONNECT's fixed part up to the keep alive 60, at level 5.
HEAD = "0004 4d515454 05"
FEWEST = "in its fewest bytes"
PAST = "before the end of the properties"

# ------------------------------------------------------------------ decoding refusals

DECODE_ERRORS5: list[tuple[str, str, type[RemoteProtocolError], int, str]] = [
    # (id, hex, error, offset, message); decoded at protocol level 5.
    # §1.5.5: a Variable Byte Integer in the fewest bytes; the last byte is at fault.
    (
        "remaining-length-0-in-2",
        "d0 8000",
        M,
        2,
        f"expected the remaining length {FEWEST}, got 0 in 2 bytes",
    ),
    (
        "remaining-length-0-in-4",
        "e0 80808000",
        M,
        4,
        f"expected the remaining length {FEWEST}, got 0 in 4 bytes",
    ),
    (
        "remaining-length-3-in-2",
        "20 8300 000000",
        M,
        2,
        f"expected the remaining length {FEWEST}, got 3 in 2 bytes",
    ),
    (
        "remaining-length-128-in-3",
        "30 808100" + "00" * 128,
        M,
        3,
        f"expected the remaining length {FEWEST}, got 128 in 3 bytes",
    ),
    # §2.1.2: 15 is AUTH in 5.0; 0 stays reserved.
    ("type-0", "00 00", M, 0, "expected a packet type 1..15, got 0 (reserved)"),
    # §2.1.3: AUTH and DISCONNECT carry flags 0000.
    ("auth-flags", "f1 00", M, 0, "expected fixed-header flags 0000 for AUTH, got 0001"),
    (
        "disconnect-flags",
        "e2 00",
        M,
        0,
        "expected fixed-header flags 0000 for DISCONNECT, got 0010",
    ),
    # §3.2.2: flags, reason code and Property Length, refused from the fixed header.
    *(
        (
            f"connack-length-{length}",
            "20" + f"{length:02x}" + "00" * length,
            M,
            1,
            "expected the property length of an MQTT 5.0 CONNACK (a remaining length of 3 "
            f"or more), got a remaining length of {length}",
        )
        for length in (0, 1, 2)
    ),
    ("pingresp-length-1", "d0 01 00", M, 1, "expected remaining length 0 for PINGRESP, got 1"),
    ("pingreq-length-2", "c0 02 0000", M, 1, "expected remaining length 0 for PINGREQ, got 2"),
    # ---------------------------------------------------------------- CONNACK §3.2.2
    (
        "connack-flags-reserved",
        "20 03 02 00 00",
        M,
        2,
        "expected connect acknowledge flags 0 or 1 (bits 7..1 reserved), got 0x02",
    ),
    (
        "connack-reason-disconnect-only",
        "20 03 00 04 00",
        M,
        3,
        "expected a CONNACK reason code, got 0x04 (Disconnect with Will Message)",
    ),
    (
        "connack-reason-suback-only",
        "20 03 00 01 00",
        M,
        3,
        "expected a CONNACK reason code, got 0x01 (Granted QoS 1)",
    ),
    (
        "connack-reason-311-return-code-5",
        "20 03 00 05 00",
        M,
        3,
        "expected a CONNACK reason code, got 0x05",
    ),
    (
        "connack-reason-session-taken-over",
        "20 03 00 8e 00",
        M,
        3,
        "expected a CONNACK reason code, got 0x8e (Session taken over)",
    ),
    ("connack-reason-ff", "20 03 00 ff 00", M, 3, "expected a CONNACK reason code, got 0xff"),
    # §3.2.2.1.1
    (
        "connack-session-present-refused",
        "20 03 01 87 00",
        M,
        2,
        "expected session present 0 with reason code 0x87 (Not authorized), got 1",
    ),
    # §2.2.2.1: the Property Length, its bytes, and nothing after them.
    (
        "connack-property-length-past-packet",
        "20 04 00 00 05 1f",
        M,
        5,
        "expected 5 bytes of properties, got 1 before the end of the packet",
    ),
    (
        "connack-property-length-cut",
        "20 03 00 00 80",
        M,
        5,
        "expected the property length, got the end of the packet",
    ),
    (
        "connack-property-length-not-minimal",
        "20 04 00 00 80 00",
        M,
        5,
        f"expected the property length {FEWEST}, got 0 in 2 bytes",
    ),
    (
        "connack-property-length-5-bytes",
        "20 07 00 00 ffffffff 7f",
        M,
        7,
        "expected the property length to end within 4 bytes, got a continuation bit in the 4th",
    ),
    (
        "connack-bytes-after-properties",
        "20 04 00 00 00 ff",
        M,
        5,
        "expected the end of CONNACK after its properties, got 1 more bytes",
    ),
    # §2.2.2.2: identifiers allowed in the packet, known, once (but 0x26).
    (
        "connack-topic-alias",
        "20 06 00 00 03 23 0001",
        M,
        5,
        "expected a property allowed in CONNACK, got 0x23 (topic_alias)",
    ),
    (
        "connack-will-property",
        "20 05 00 00 02 01 00",
        M,
        5,
        "expected a property allowed in CONNACK, got 0x01 (payload_format_indicator)",
    ),
    (
        "connack-connect-only-property",
        "20 05 00 00 02 17 00",
        M,
        5,
        "expected a property allowed in CONNACK, got 0x17 (request_problem_information)",
    ),
    (
        "connack-unknown-property",
        "20 05 00 00 02 7f 00",
        M,
        5,
        "expected a property allowed in CONNACK, got 0x7f (unknown)",
    ),
    (
        "connack-property-0",
        "20 05 00 00 02 00 00",
        M,
        5,
        "expected a property allowed in CONNACK, got 0x00 (unknown)",
    ),
    (
        "connack-two-byte-identifier",
        "20 06 00 00 03 8001 00",
        M,
        5,
        "expected a property allowed in CONNACK, got 0x80 (unknown)",
    ),
    (
        "connack-identifier-not-minimal",
        "20 06 00 00 03 a100 00",
        M,
        6,
        f"expected the property identifier {FEWEST}, got 33 in 2 bytes",
    ),
    (
        "connack-identifier-cut",
        "20 04 00 00 01 80",
        M,
        6,
        "expected the property identifier, got the end of the properties",
    ),
    (
        "connack-receive-maximum-twice",
        "20 09 00 00 06 21 0001 21 0002",
        M,
        8,
        "expected receive_maximum at most once, got it again",
    ),
    (
        "connack-reason-string-twice",
        "20 0b 00 00 08 1f 0001 61 1f 0001 62",
        M,
        9,
        "expected reason_string at most once, got it again",
    ),
    # A value runs past the Property Length (not past the packet).
    (
        "connack-u16-past-properties",
        "20 06 00 00 02 21 00 00",
        M,
        6,
        f"expected 2 bytes of receive_maximum, got 1 {PAST}",
    ),
    (
        "connack-u32-past-properties",
        "20 07 00 00 04 11 000000",
        M,
        6,
        f"expected 4 bytes of session_expiry_interval, got 3 {PAST}",
    ),
    (
        "connack-byte-past-properties",
        "20 05 00 00 01 24 00",
        M,
        6,
        f"expected 1 bytes of maximum_qos, got 0 {PAST}",
    ),
    (
        "connack-string-length-past-properties",
        "20 06 00 00 02 1f 00 00",
        M,
        6,
        f"expected the 2-byte length of the reason string, got 1 bytes {PAST}",
    ),
    (
        "connack-string-past-properties",
        "20 07 00 00 04 1f 0005 6f",
        M,
        8,
        f"expected 5 bytes of reason string, got 1 {PAST}",
    ),
    (
        "connack-binary-past-properties",
        "20 0b 00 00 08 15 0001 4d 16 0003 00",
        M,
        12,
        f"expected 3 bytes of authentication data, got 1 {PAST}",
    ),
    # Strings as strictly as 3.1.1's (§1.5.4).
    (
        "connack-string-bad-utf8",
        "20 08 00 00 05 1f 0002 c328",
        M,
        8,
        "expected well-formed UTF-8 in the reason string, got byte 0xc3",
    ),
    (
        "connack-string-surrogate",
        "20 09 00 00 06 12 0003 eda080",
        M,
        8,
        "expected well-formed UTF-8 in the assigned client identifier, got byte 0xed",
    ),
    (
        "connack-string-nul",
        "20 07 00 00 04 1f 0001 00",
        M,
        8,
        "expected no U+0000 in the reason string, got one",
    ),
    (
        "connack-user-property-name",
        "20 0a 00 00 07 26 0001 ff 0001 61",
        M,
        8,
        "expected well-formed UTF-8 in the user property name, got byte 0xff",
    ),
    (
        "connack-user-property-value-nul",
        "20 0a 00 00 07 26 0001 61 0001 00",
        M,
        11,
        "expected no U+0000 in the user property value, got one",
    ),
    (
        "connack-user-property-value-cut",
        "20 08 00 00 05 26 0001 61 00 00",
        M,
        9,
        f"expected the 2-byte length of the user property value, got 1 bytes {PAST}",
    ),
    # §3.2.2.3: values out of range are Protocol Errors, at the value.
    (
        "connack-receive-maximum-0",
        "20 06 00 00 03 21 0000",
        V,
        6,
        "expected receive_maximum 1..65535, got 0",
    ),
    (
        "connack-maximum-packet-size-0",
        "20 08 00 00 05 27 00000000",
        V,
        6,
        "expected maximum_packet_size 1..4294967295, got 0",
    ),
    ("connack-maximum-qos-2", "20 05 00 00 02 24 02", V, 6, "expected maximum_qos 0 or 1, got 2"),
    (
        "connack-retain-available-2",
        "20 05 00 00 02 25 02",
        V,
        6,
        "expected retain_available 0 or 1, got 2",
    ),
    (
        "connack-wildcard-ff",
        "20 05 00 00 02 28 ff",
        V,
        6,
        "expected wildcard_subscription_available 0 or 1, got 255",
    ),
    (
        "connack-subscription-identifiers-2",
        "20 05 00 00 02 29 02",
        V,
        6,
        "expected subscription_identifier_available 0 or 1, got 2",
    ),
    (
        "connack-shared-2",
        "20 05 00 00 02 2a 02",
        V,
        6,
        "expected shared_subscription_available 0 or 1, got 2",
    ),
    # §3.2.2.3.18: Authentication Data only with an Authentication Method; at the data.
    (
        "connack-auth-data-alone",
        "20 07 00 00 04 16 0001 00",
        V,
        5,
        "expected an authentication method with authentication data, got none",
    ),
    (
        "connack-auth-data-before-bad-value",
        "20 0a 00 00 07 16 0001 00 21 0000",
        V,
        10,
        "expected receive_maximum 1..65535, got 0",
    ),
    # ------------------------------------------------------------- DISCONNECT §3.14
    (
        "disconnect-reason-auth-only",
        "e0 01 18",
        M,
        2,
        "expected a DISCONNECT reason code, got 0x18 (Continue authentication)",
    ),
    (
        "disconnect-reason-connack-only",
        "e0 01 86",
        M,
        2,
        "expected a DISCONNECT reason code, got 0x86 (Bad User Name or Password)",
    ),
    (
        "disconnect-reason-unknown",
        "e0 02 03 00",
        M,
        2,
        "expected a DISCONNECT reason code, got 0x03",
    ),
    (
        "disconnect-receive-maximum",
        "e0 05 00 03 21 0001",
        M,
        4,
        "expected a property allowed in DISCONNECT, got 0x21 (receive_maximum)",
    ),
    (
        "disconnect-bytes-after-properties",
        "e0 03 00 00 ff",
        M,
        4,
        "expected the end of DISCONNECT after its properties, got 1 more bytes",
    ),
    (
        "disconnect-property-length-past-packet",
        "e0 02 00 05",
        M,
        4,
        "expected 5 bytes of properties, got 0 before the end of the packet",
    ),
    (
        "disconnect-session-expiry-twice",
        "e0 0c 00 0a 11 00000001 11 00000002",
        M,
        9,
        "expected session_expiry_interval at most once, got it again",
    ),
    # ------------------------------------------------------------------- AUTH §3.15
    # Remaining Length 0 is Success; otherwise a reason code and a Property Length.
    ("auth-length-1", "f0 01 00", M, 3, "expected the property length, got the end of the packet"),
    (
        "auth-reason-not-authorized",
        "f0 02 87 00",
        M,
        2,
        "expected an AUTH reason code, got 0x87 (Not authorized)",
    ),
    (
        "auth-reason-normal-disconnection-alias",
        "f0 02 04 00",
        M,
        2,
        "expected an AUTH reason code, got 0x04 (Disconnect with Will Message)",
    ),
    (
        "auth-receive-maximum",
        "f0 05 18 03 21 0001",
        M,
        4,
        "expected a property allowed in AUTH, got 0x21 (receive_maximum)",
    ),
    (
        "auth-data-alone",
        "f0 06 18 04 16 0001 00",
        V,
        4,
        "expected an authentication method with authentication data, got none",
    ),
    (
        "auth-bytes-after-properties",
        "f0 03 18 00 00",
        M,
        4,
        "expected the end of AUTH after its properties, got 1 more bytes",
    ),
    # ---------------------------------------------------------------- CONNECT §3.1
    (
        "connect-reserved-flag",
        f"10 0d {HEAD} 03 003c 00 0000",
        M,
        9,
        "expected the reserved connect flag 0, got 1",
    ),
    ("connect-will-qos-3", f"10 0d {HEAD} 1e 003c 00 0000", M, 9, "expected will QoS 0..2, got 3"),
    (
        "connect-will-retain-without-will",
        f"10 0d {HEAD} 22 003c 00 0000",
        M,
        9,
        "expected will QoS 0 and will retain 0 without the will flag, got QoS 0 and retain 1",
    ),
    (
        "connect-no-property-length",
        f"10 0a {HEAD} 02 003c",
        M,
        12,
        "expected the property length, got the end of the packet",
    ),
    (
        "connect-property-length-past-packet",
        f"10 0d {HEAD} 02 003c 05 0000",
        M,
        13,
        "expected 5 bytes of properties, got 2 before the end of the packet",
    ),
    (
        "connect-assigned-client-identifier",
        f"10 11 {HEAD} 02 003c 04 12 0001 61 0000",
        M,
        13,
        "expected a property allowed in CONNECT, got 0x12 (assigned_client_identifier)",
    ),
    (
        "connect-will-delay-in-connect",
        f"10 12 {HEAD} 02 003c 05 18 0000000a 0000",
        M,
        13,
        "expected a property allowed in CONNECT, got 0x18 (will_delay_interval)",
    ),
    (
        "connect-request-problem-information-2",
        f"10 0f {HEAD} 02 003c 02 17 02 0000",
        V,
        14,
        "expected request_problem_information 0 or 1, got 2",
    ),
    (
        "connect-request-response-information-2",
        f"10 0f {HEAD} 02 003c 02 19 02 0000",
        V,
        14,
        "expected request_response_information 0 or 1, got 2",
    ),
    (
        "connect-receive-maximum-0",
        f"10 10 {HEAD} 02 003c 03 21 0000 0000",
        V,
        14,
        "expected receive_maximum 1..65535, got 0",
    ),
    (
        "connect-maximum-packet-size-0",
        f"10 12 {HEAD} 02 003c 05 27 00000000 0000",
        V,
        14,
        "expected maximum_packet_size 1..4294967295, got 0",
    ),
    (
        "connect-auth-data-alone",
        f"10 11 {HEAD} 02 003c 04 16 0001 00 0000",
        V,
        13,
        "expected an authentication method with authentication data, got none",
    ),
    (
        "connect-no-client-id",
        f"10 0b {HEAD} 02 003c 00",
        M,
        13,
        "expected the 2-byte length of the client identifier, got 0 bytes before the end of "
        "the packet",
    ),
    (
        "connect-trailing-byte",
        f"10 0e {HEAD} 02 003c 00 0000 ff",
        M,
        15,
        "expected the end of CONNECT after its last field, got 1 more bytes",
    ),
    # Will properties (§3.1.3.2): client id at 13-15, will Property Length at 16.
    (
        "connect-will-session-expiry",
        f"10 19 {HEAD} 06 003c 00 0001 61 05 11 0000000a 0001 74 0000",
        M,
        17,
        "expected a property allowed in the will properties, got 0x11 (session_expiry_interval)",
    ),
    (
        "connect-will-payload-format-2",
        f"10 16 {HEAD} 06 003c 00 0001 61 02 01 02 0001 74 0000",
        V,
        18,
        "expected payload_format_indicator 0 or 1, got 2",
    ),
    (
        "connect-will-properties-cut",
        f"10 0e {HEAD} 06 003c 00 0001 61",
        M,
        16,
        "expected the property length, got the end of the packet",
    ),
    (
        "connect-will-content-type-twice",
        f"10 1b {HEAD} 06 003c 00 0001 61 08 03 0001 61 03 0001 62 0001 74 0000",
        M,
        21,
        "expected content_type at most once, got it again",
    ),
    (
        "connect-will-payload-cut",
        f"10 15 {HEAD} 06 003c 00 0001 61 00 0001 74 0005 61",
        M,
        22,
        "expected 5 bytes of will payload, got 1 before the end of the packet",
    ),
    # §3.1.2.1, §3.1.2.2: the level goes with its name; 6 is no level we speak.
    (
        "connect-mqisdp-level-5",
        "10 0e 0006 4d5149736470 05 02 003c 0000",
        M,
        10,
        "expected protocol level 3 with protocol name 'MQIsdp', got 5",
    ),
    (
        "connect-level-6",
        "10 0d 0004 4d515454 06 02 003c 00 0000",
        UnsupportedProtocol,
        8,
        "expected protocol level 3, 4 or 5, got 6",
    ),
]


@pytest.mark.parametrize(("data", "error", "offset", "reason"), **_rows(DECODE_ERRORS5))
def test_decode5_refuses(
    codec: Codec, data: str, error: type[RemoteProtocolError], offset: int, reason: str
) -> None:
    raw = bytes.fromhex(data)
    with pytest.raises(RemoteProtocolError) as caught:
        codec.decode(raw, 5)
    exc = caught.value
    assert type(exc) is error
    assert (exc.offset, exc.reason) == (offset, reason)
    assert str(exc) == f"{reason} (at byte {offset})"
    assert exc.reason_code == (0x82 if error is ProtocolViolation else 0x81)
    # The same in a stream, after a PINGRESP, fed whole and a byte at a time.
    for chunk in (len(raw) + 2, 1):
        framer = codec.Framer(protocol_level=5)
        stream = b"\xd0\x00" + raw
        got = []
        with pytest.raises(RemoteProtocolError) as again:
            for start in range(0, len(stream), chunk):
                got += framer.feed(stream[start : start + chunk])
            framer.feed(b"")
        assert got == [PingReq()] or fields(got) == fields([_pingresp()])
        assert (type(again.value), again.value.offset, again.value.reason) == (
            error,
            offset + 2,
            reason,
        )


def _pingresp() -> Packet:
    from pco_wire import PingResp

    return PingResp()


@pytest.mark.parametrize(
    "data",
    [
        # Remaining Length, Property Length or identifier written long: fine below 5.0.
        "d0 8000",
        "20 8200 0000",
        "c0 80808000",
    ],
)
def test_non_minimal_lengths_still_accepted_below_5(codec: Codec, data: str) -> None:
    for level in (3, 4):
        codec.decode(bytes.fromhex(data), level)


@pytest.mark.parametrize("data", ["f0 00", "f0 02 18 00", "20 03 00 00 00", "e0 01 8e"])
def test_level5_packets_refused_below_5(codec: Codec, data: str) -> None:
    # AUTH is reserved below 5.0; CONNACK is 2 bytes and DISCONNECT empty there.
    with pytest.raises(MalformedPacket):
        codec.decode(bytes.fromhex(data), 4)


DECODE_ACCEPTED5: list[tuple[str, str, Packet]] = [
    # (id, hex, packet): the edges next to the refusals above, at level 5.
    ("remaining-length-127", "30 7f" + "00" * 127, OtherPacket(PacketType.PUBLISH, 0, bytes(127))),
    (
        "remaining-length-128",
        "30 8001" + "00" * 128,
        OtherPacket(PacketType.PUBLISH, 0, bytes(128)),
    ),
    (
        "connack-receive-maximum-1",
        "20 06 00 00 03 21 0001",
        ConnAck(False, ReasonCode.SUCCESS, ConnAckProperties(receive_maximum=1)),
    ),
    (
        "connack-maximum-packet-size-max",
        "20 08 00 00 05 27 ffffffff",
        ConnAck(False, ReasonCode.SUCCESS, ConnAckProperties(maximum_packet_size=0xFFFFFFFF)),
    ),
    (
        "connack-maximum-qos-0",
        "20 05 00 00 02 24 00",
        ConnAck(False, ReasonCode.SUCCESS, ConnAckProperties(maximum_qos=0)),
    ),
    (
        "connack-empty-strings",
        "20 0b 00 00 08 1f 0000 26 0000 0000",
        ConnAck(
            False,
            ReasonCode.SUCCESS,
            ConnAckProperties(reason_string="", user_properties=(("", ""),)),
        ),
    ),
    (
        "connack-auth-method-alone",
        "20 07 00 00 04 15 0001 4d",
        ConnAck(False, ReasonCode.SUCCESS, ConnAckProperties(authentication_method="M")),
    ),
    (
        "connack-auth-data-after-method",
        "20 0b 00 00 08 16 0001 00 15 0001 4d",
        ConnAck(
            False,
            ReasonCode.SUCCESS,
            ConnAckProperties(authentication_method="M", authentication_data=b"\x00"),
        ),
    ),
    ("connack-session-present-success", "20 03 01 00 00", ConnAck(True, ReasonCode.SUCCESS)),
    ("disconnect-4-with-will", "e0 01 04", Disconnect(ReasonCode.DISCONNECT_WITH_WILL_MESSAGE)),
    ("auth-reauthenticate-no-properties", "f0 02 19 00", Auth(ReasonCode.RE_AUTHENTICATE)),
    (
        "connect-password-alone",
        f"10 12 {HEAD} 42 003c 00 0001 61 0002 7077",
        Connect("a", password=b"pw", protocol_level=5),
    ),
    (
        "connect-empty-client-id-clean-start-off",
        f"10 0d {HEAD} 00 003c 00 0000",
        Connect("", clean_session=False, protocol_level=5),
    ),
    # A CONNECT says its own level: decode(..., 4) reads a 5.0 CONNECT as a server would.
    (
        "connect-will-empty-properties",
        f"10 14 {HEAD} 06 003c 00 0001 61 00 0001 74 0000",
        Connect("a", will=Will("t", b""), protocol_level=5),
    ),
]


@pytest.mark.parametrize(("data", "expected"), **_rows(DECODE_ACCEPTED5))
def test_decode5_accepts(codec: Codec, data: str, expected: Packet) -> None:
    assert fields(codec.decode(bytes.fromhex(data), 5)) == fields(expected)


def test_connect5_decodes_at_any_level(codec: Codec) -> None:
    # The server side reads the level from the CONNECT itself (§3.1.2.2).
    data = bytes.fromhex(f"10 12 {HEAD} 42 003c 00 0001 61 0002 7077")
    for level in (3, 4, 5):
        assert fields(codec.decode(data, level)) == fields(
            Connect("a", password=b"pw", protocol_level=5)
        )


def test_empty_properties_are_shared(codec: Codec) -> None:
    # Property Length 0 allocates nothing: the shared empty objects.
    connack = codec.decode(b"\x20\x03\x00\x00\x00", 5)
    assert connack.properties is EMPTY_CONNACK_PROPERTIES  # type: ignore[union-attr]
    disconnect = codec.decode(b"\xe0\x02\x8e\x00", 5)
    assert disconnect.properties is EMPTY_DISCONNECT_PROPERTIES  # type: ignore[union-attr]
    connect = codec.decode(bytes.fromhex(f"10 0d {HEAD} 02 003c 00 0000"), 5)
    assert connect.properties is EMPTY_CONNECT_PROPERTIES  # type: ignore[union-attr]


def test_decoded_field_types(codec: Codec) -> None:
    # Booleans as bool, numbers as int, pairs as a tuple of tuples, binary as bytes.
    data = "20 14 00 00 11  25 00  24 01  26 0001 61 0001 62  15 0000  16 0000"
    packet = codec.decode(bytes.fromhex(data), 5)
    assert type(packet) is ConnAck
    properties = packet.properties
    assert type(properties.retain_available) is bool
    assert type(properties.maximum_qos) is int
    assert type(properties.user_properties) is tuple
    assert type(properties.user_properties[0]) is tuple
    assert properties.user_properties == (("a", "b"),)
    assert type(properties.authentication_data) is bytes
    assert type(packet.return_code) is ReasonCode


# ------------------------------------------------------------------ encoding refusals

P = "properties"
WP = "will.properties"
C5: dict[str, Any] = {"client_id": "a", "protocol_level": 5}


def _connect5(**properties: Any) -> Connect:
    return Connect("a", protocol_level=5, properties=ConnectProperties(**properties))


def _will5(**properties: Any) -> Connect:
    return Connect(
        "a", protocol_level=5, will=Will("t", b"", properties=WillProperties(**properties))
    )


def _connack5(**properties: Any) -> ConnAck:
    return ConnAck(False, ReasonCode.SUCCESS, ConnAckProperties(**properties))


U32 = "expected an integer 0..4294967295"

ENCODE_ERRORS5: list[tuple[str, object, str, str]] = [
    # (id, packet, field, reason)
    # Properties below 5.0 have nowhere to go.
    (
        "connect-properties-at-4",
        Connect("a", properties=ConnectProperties(receive_maximum=10)),
        P,
        "expected no properties below MQTT 5.0, got receive_maximum",
    ),
    (
        "connect-properties-at-3",
        Connect(
            "a",
            protocol_level=3,
            properties=ConnectProperties(session_expiry_interval=1, topic_alias_maximum=2),
        ),
        P,
        "expected no properties below MQTT 5.0, got session_expiry_interval, topic_alias_maximum",
    ),
    (
        "connect-properties-wrong-class-at-4",
        Connect("a", properties=WillProperties()),  # type: ignore[arg-type]
        P,
        "expected no properties below MQTT 5.0, got WillProperties",
    ),
    (
        "will-properties-at-4",
        Connect("a", will=Will("t", b"", properties=WillProperties(content_type="x"))),
        WP,
        "expected no properties below MQTT 5.0, got content_type",
    ),
    # The properties object itself.
    (
        "connect-properties-none",
        Connect(**C5, properties=None),  # type: ignore[arg-type]
        P,
        "expected ConnectProperties, got NoneType",
    ),
    (
        "connect-properties-wrong-class",
        Connect(**C5, properties=WillProperties()),  # type: ignore[arg-type]
        P,
        "expected ConnectProperties, got WillProperties",
    ),
    (
        "will-properties-none",
        Connect(**C5, will=Will("t", b"", properties=None)),  # type: ignore[arg-type]
        WP,
        "expected WillProperties, got NoneType",
    ),
    # Integers: type and range (§2.2.2.2, §3.1.2.11).
    (
        "receive-maximum-0",
        _connect5(receive_maximum=0),
        f"{P}.receive_maximum",
        "expected an integer 1..65535, got 0",
    ),
    (
        "receive-maximum-65536",
        _connect5(receive_maximum=65536),
        f"{P}.receive_maximum",
        "expected an integer 1..65535, got 65536",
    ),
    (
        "receive-maximum-bool",
        _connect5(receive_maximum=True),
        f"{P}.receive_maximum",
        "expected an integer 1..65535, got bool",
    ),
    (
        "receive-maximum-float",
        _connect5(receive_maximum=10.0),
        f"{P}.receive_maximum",
        "expected an integer 1..65535, got float",
    ),
    (
        "session-expiry-2-32",
        _connect5(session_expiry_interval=1 << 32),
        f"{P}.session_expiry_interval",
        f"{U32}, got 4294967296",
    ),
    (
        "session-expiry-negative",
        _connect5(session_expiry_interval=-1),
        f"{P}.session_expiry_interval",
        f"{U32}, got -1",
    ),
    (
        "maximum-packet-size-0",
        _connect5(maximum_packet_size=0),
        f"{P}.maximum_packet_size",
        "expected an integer 1..4294967295, got 0",
    ),
    (
        "topic-alias-maximum-str",
        _connect5(topic_alias_maximum="1"),
        f"{P}.topic_alias_maximum",
        "expected an integer 0..65535, got str",
    ),
    # Booleans must be bool.
    (
        "request-problem-information-int",
        _connect5(request_problem_information=1),
        f"{P}.request_problem_information",
        "expected a bool, got int",
    ),
    (
        "request-response-information-none",
        _connect5(request_response_information=None),
        f"{P}.request_response_information",
        "expected a bool, got NoneType",
    ),
    # User properties: a tuple (or list) of (str, str) pairs; the index names the pair.
    (
        "user-properties-str",
        _connect5(user_properties="ab"),
        f"{P}.user_properties",
        "expected a tuple of (name, value) pairs, got str",
    ),
    (
        "user-properties-dict",
        _connect5(user_properties={"a": "b"}),
        f"{P}.user_properties",
        "expected a tuple of (name, value) pairs, got dict",
    ),
    (
        "user-properties-1-tuple",
        _connect5(user_properties=(("a", "b"), ("c",))),
        f"{P}.user_properties[1]",
        "expected a (name, value) pair of str, got 1-tuple",
    ),
    (
        "user-properties-3-tuple",
        _connect5(user_properties=(("a", "b", "c"),)),
        f"{P}.user_properties[0]",
        "expected a (name, value) pair of str, got 3-tuple",
    ),
    (
        "user-properties-list-pair",
        _connect5(user_properties=(["a", "b"],)),
        f"{P}.user_properties[0]",
        "expected a (name, value) pair of str, got list",
    ),
    (
        "user-properties-int-value",
        _connect5(user_properties=(("a", "b"), ("c", "d"), ("e", 1))),
        f"{P}.user_properties[2]",
        "expected str, got int",
    ),
    (
        "user-properties-nul-name",
        _connect5(user_properties=(("\x00", "b"),)),
        f"{P}.user_properties[0]",
        "expected no U+0000, got one at character 0",
    ),
    (
        "user-properties-long-value",
        _connect5(user_properties=(("a", "b" * 65536),)),
        f"{P}.user_properties[0]",
        "expected at most 65,535 bytes of UTF-8, got 65,536",
    ),
    # Strings and binary data.
    (
        "authentication-method-int",
        _connect5(authentication_method=5),
        f"{P}.authentication_method",
        "expected str, got int",
    ),
    (
        "authentication-data-str",
        _connect5(authentication_method="M", authentication_data="x"),
        f"{P}.authentication_data",
        "expected bytes, got str",
    ),
    (
        "authentication-data-long",
        _connect5(authentication_method="M", authentication_data=bytes(65536)),
        f"{P}.authentication_data",
        "expected at most 65,535 bytes, got 65,536",
    ),
    # §3.1.2.11.10: no Authentication Data without an Authentication Method.
    (
        "authentication-data-alone",
        _connect5(authentication_data=b"x"),
        f"{P}.authentication_data",
        "expected an authentication method with authentication data, got none",
    ),
    # Will properties (§3.1.3.2).
    (
        "will-content-type-surrogate",
        _will5(content_type="\ud800"),
        f"{WP}.content_type",
        "expected well-formed text, got a lone surrogate at character 0",
    ),
    (
        "will-payload-format-2",
        _will5(payload_format_indicator=2),
        f"{WP}.payload_format_indicator",
        "expected an integer 0..1, got 2",
    ),
    (
        "will-payload-format-bool",
        _will5(payload_format_indicator=True),
        f"{WP}.payload_format_indicator",
        "expected an integer 0..1, got bool",
    ),
    (
        "will-message-expiry-negative",
        _will5(message_expiry_interval=-1),
        f"{WP}.message_expiry_interval",
        f"{U32}, got -1",
    ),
    (
        "will-delay-2-32",
        _will5(will_delay_interval=1 << 32),
        f"{WP}.will_delay_interval",
        f"{U32}, got 4294967296",
    ),
    (
        "will-correlation-data-str",
        _will5(correlation_data="x"),
        f"{WP}.correlation_data",
        "expected bytes, got str",
    ),
    (
        "will-user-properties-pair",
        _will5(user_properties=(("k", None),)),
        f"{WP}.user_properties[0]",
        "expected str, got NoneType",
    ),
    # The 3.1.1 rules that stay (§3.1.2.10, §4.7.1).
    (
        "connect5-keep-alive",
        Connect(**C5, keep_alive=65536),
        "keep_alive",
        "expected an integer 0..65535, got 65536",
    ),
    (
        "connect5-will-wildcard",
        Connect(**C5, will=Will("a/#", b"")),
        "will.topic",
        "expected a topic name without + or #, got 'a/#'",
    ),
    (
        "connect5-will-empty-topic",
        Connect(**C5, will=Will("", b"")),
        "will.topic",
        "expected a topic name, got ''",
    ),
    (
        "connect5-will-qos-3",
        Connect(**C5, will=Will("t", b"", 3)),
        "will.qos",
        "expected an integer 0..2, got 3",
    ),
    ("connect5-will-class", Connect(**C5, will="t"), "will", "expected a Will or None, got str"),  # type: ignore[arg-type]
    (
        "connect5-client-id-bytes",
        Connect(b"a", protocol_level=5),  # type: ignore[arg-type]
        "client_id",
        "expected str, got bytes",
    ),
    ("connect5-password-str", Connect(**C5, password="pw"), "password", "expected bytes, got str"),  # type: ignore[arg-type]
    # CONNACK (§3.2.2).
    (
        "connack-reason-disconnect-only",
        ConnAck(False, ReasonCode.SESSION_TAKEN_OVER),
        "return_code",
        "expected a CONNACK reason code, got 0x8e (Session taken over)",
    ),
    (
        "connack-reason-311-code-with-properties",
        ConnAck(False, ConnAckCode.NOT_AUTHORIZED, ConnAckProperties(reason_string="x")),
        "return_code",
        "expected a CONNACK reason code, got 0x05",
    ),
    (
        "connack-reason-bool-with-properties",
        ConnAck(False, True, ConnAckProperties(reason_string="x")),  # type: ignore[arg-type]
        "return_code",
        "expected a reason code, got bool",
    ),
    (
        "connack-session-present-refused",
        ConnAck(True, ReasonCode.NOT_AUTHORIZED),
        "session_present",
        "expected False with reason code 0x87 (Not authorized), got True",
    ),
    (
        "connack-maximum-qos-3",
        _connack5(maximum_qos=3),
        f"{P}.maximum_qos",
        "expected an integer 0..1, got 3",
    ),
    (
        "connack-maximum-qos-bool",
        _connack5(maximum_qos=False),
        f"{P}.maximum_qos",
        "expected an integer 0..1, got bool",
    ),
    (
        "connack-retain-available-int",
        _connack5(retain_available=0),
        f"{P}.retain_available",
        "expected a bool, got int",
    ),
    (
        "connack-server-keep-alive-65536",
        _connack5(server_keep_alive=65536),
        f"{P}.server_keep_alive",
        "expected an integer 0..65535, got 65536",
    ),
    (
        "connack-authentication-data-alone",
        _connack5(authentication_data=b""),
        f"{P}.authentication_data",
        "expected an authentication method with authentication data, got none",
    ),
    (
        "connack-properties-wrong-class",
        ConnAck(False, ReasonCode.SUCCESS, DisconnectProperties()),  # type: ignore[arg-type]
        P,
        "expected ConnAckProperties, got DisconnectProperties",
    ),
    # DISCONNECT (§3.14.2).
    (
        "disconnect-reason-connack-only",
        Disconnect(ReasonCode.BAD_USER_NAME_OR_PASSWORD),
        "reason_code",
        "expected a DISCONNECT reason code, got 0x86 (Bad User Name or Password)",
    ),
    (
        "disconnect-reason-256",
        Disconnect(256),  # type: ignore[arg-type]
        "reason_code",
        "expected a DISCONNECT reason code, got 256",
    ),
    ("disconnect-reason-bool", Disconnect(True), "reason_code", "expected a reason code, got bool"),  # type: ignore[arg-type]
    ("disconnect-reason-str", Disconnect("0"), "reason_code", "expected a reason code, got str"),  # type: ignore[arg-type]
    (
        "disconnect-reason-string-int",
        Disconnect(ReasonCode.SUCCESS, DisconnectProperties(reason_string=5)),  # type: ignore[arg-type]
        f"{P}.reason_string",
        "expected str, got int",
    ),
    (
        "disconnect-session-expiry-2-32",
        Disconnect(ReasonCode.SUCCESS, DisconnectProperties(session_expiry_interval=1 << 32)),
        f"{P}.session_expiry_interval",
        f"{U32}, got 4294967296",
    ),
    (
        "disconnect-properties-wrong-class",
        Disconnect(ReasonCode.SUCCESS, AuthProperties()),  # type: ignore[arg-type]
        P,
        "expected DisconnectProperties, got AuthProperties",
    ),
    # AUTH (§3.15.2).
    (
        "auth-reason-not-authorized",
        Auth(ReasonCode.NOT_AUTHORIZED),
        "reason_code",
        "expected an AUTH reason code, got 0x87 (Not authorized)",
    ),
    (
        "auth-data-alone",
        Auth(ReasonCode.CONTINUE_AUTHENTICATION, AuthProperties(authentication_data=b"x")),
        f"{P}.authentication_data",
        "expected an authentication method with authentication data, got none",
    ),
    (
        "auth-properties-none",
        Auth(ReasonCode.SUCCESS, None),  # type: ignore[arg-type]
        P,
        "expected AuthProperties, got NoneType",
    ),
]


@pytest.mark.parametrize(("packet", "field", "reason"), **_rows(ENCODE_ERRORS5))
def test_encode5_refuses(codec: Codec, packet: object, field: str, reason: str) -> None:
    with pytest.raises(InvalidPacket) as caught:
        codec.encode(packet)
    exc = caught.value
    assert isinstance(exc, ValueError)
    assert (exc.field, exc.reason) == (field, reason)
    assert str(exc) == f"{field}: {reason}"


ENCODE_ACCEPTED5: list[tuple[str, Packet, str]] = [
    # (id, packet, hex): the edges next to the refusals above.
    ("receive-maximum-1", _connect5(receive_maximum=1), f"10 11 {HEAD} 02 003c 03 21 0001 0001 61"),
    (
        "receive-maximum-65535-is-absent",
        _connect5(receive_maximum=65535),
        f"10 0e {HEAD} 02 003c 00 0001 61",
    ),
    (
        "session-expiry-max",
        _connect5(session_expiry_interval=0xFFFFFFFF),
        f"10 13 {HEAD} 02 003c 05 11 ffffffff 0001 61",
    ),
    (
        "user-properties-list",
        _connect5(user_properties=[("a", "b")]),
        f"10 15 {HEAD} 02 003c 07 26 0001 61 0001 62 0001 61",
    ),
    (
        "user-properties-empty-list",
        _connect5(user_properties=[]),
        f"10 0e {HEAD} 02 003c 00 0001 61",
    ),
    (
        "authentication-method-alone",
        _connect5(authentication_method=""),
        f"10 11 {HEAD} 02 003c 03 15 0000 0001 61",
    ),
    (
        "authentication-data-from-bytearray",
        _connect5(authentication_method="", authentication_data=bytearray(b"d")),
        f"10 15 {HEAD} 02 003c 07 15 0000 16 0001 64 0001 61",
    ),
    # Properties equal to the empty ones are none, below 5.0 too.
    (
        "connect-at-4-equal-empty-properties",
        Connect("a", properties=ConnectProperties()),
        "10 0d 0004 4d515454 04 02 003c 0001 61",
    ),
    (
        "will-at-4-equal-empty-properties",
        Connect("a", will=Will("t", b"", properties=WillProperties())),
        "10 12 0004 4d515454 04 06 003c 0001 61 0001 74 0000",
    ),
    # CONNACK: 3.1.1 bytes unless a ReasonCode or properties say 5.0.
    (
        "connack-311-equal-empty-properties",
        ConnAck(False, ConnAckCode.ACCEPTED, ConnAckProperties()),
        "20 02 00 00",
    ),
    (
        "connack-311-code-with-properties",
        ConnAck(False, ConnAckCode.ACCEPTED, ConnAckProperties(reason_string="x")),
        "20 07 00 00 04 1f 0001 78",
    ),
    ("connack-maximum-qos-2-is-absent", _connack5(maximum_qos=2), "20 03 00 00 00"),
    ("connack-maximum-qos-0", _connack5(maximum_qos=0), "20 05 00 00 02 24 00"),
    (
        "connack-plain-int-with-properties",
        ConnAck(False, 0x87, ConnAckProperties(reason_string="")),  # type: ignore[arg-type]
        "20 06 00 87 03 1f 0000",
    ),
    # DISCONNECT: the shortest form that says it all (§3.14.2.1, §3.14.2.2.1).
    (
        "disconnect-equal-empty-properties",
        Disconnect(ReasonCode.SESSION_TAKEN_OVER, DisconnectProperties()),
        "e0 01 8e",
    ),
    ("disconnect-new-normal", Disconnect(ReasonCode.NORMAL_DISCONNECTION), "e0 00"),
    ("disconnect-plain-int", Disconnect(0x8B), "e0 01 8b"),  # type: ignore[arg-type]
    (
        "disconnect-empty-user-properties-list",
        Disconnect(0, DisconnectProperties(user_properties=[])),  # type: ignore[arg-type]
        "e0 00",
    ),
    ("auth-equal-empty-properties", Auth(ReasonCode.SUCCESS, AuthProperties()), "f0 00"),
    ("auth-continue-no-properties", Auth(ReasonCode.CONTINUE_AUTHENTICATION), "f0 02 18 00"),
]


@pytest.mark.parametrize(("packet", "data"), **_rows(ENCODE_ACCEPTED5))
def test_encode5_accepts(codec: Codec, packet: Packet, data: str) -> None:
    assert codec.encode(packet).hex(" ") == bytes.fromhex(data).hex(" ")


def test_encode5_largest_packet(codec: Codec) -> None:
    # Properties may take a packet past what a Remaining Length can say (§1.5.5).
    pairs = (("k" * 65535, "v" * 65535),) * 2049
    with pytest.raises(InvalidPacket) as caught:
        codec.encode(_connect5(user_properties=pairs))
    assert caught.value.field == "properties"
    assert caught.value.reason.startswith("expected a packet of at most 268,435,455 bytes")


# ---------------------------------------------------------------- secrets

SECRET = b"s3cr3t-auth"
SECRETS = ("s3cr3t", SECRET.hex(), repr(SECRET))

SECRET_ENCODE_ERRORS: list[tuple[str, object]] = [
    ("auth-data-alone", _connect5(authentication_data=SECRET)),
    ("auth-data-bad-method", _connect5(authentication_method=1, authentication_data=SECRET)),
    ("auth-data-long", _connect5(authentication_method="M", authentication_data=SECRET * 6000)),
    ("connack-auth-data-alone", _connack5(authentication_data=SECRET)),
    (
        "auth-auth-data-alone",
        Auth(ReasonCode.CONTINUE_AUTHENTICATION, AuthProperties(authentication_data=SECRET)),
    ),
    ("password-bad-keep-alive", Connect("a", keep_alive=-1, password=SECRET, protocol_level=5)),
    ("password-long", Connect("a", password=SECRET * 6000, protocol_level=5)),
    (
        "password-with-bad-property",
        Connect(
            "a", password=SECRET, protocol_level=5, properties=ConnectProperties(receive_maximum=0)
        ),
    ),
]


def _assert_no_secret(*texts: str) -> None:
    for text in texts:
        for secret in SECRETS:
            assert secret not in text


@pytest.mark.parametrize(
    "packet",
    [row[1] for row in SECRET_ENCODE_ERRORS],
    ids=[row[0] for row in SECRET_ENCODE_ERRORS],
)
def test_secrets_never_in_encode5_errors(codec: Codec, packet: object) -> None:
    with pytest.raises(InvalidPacket) as caught:
        codec.encode(packet)
    exc = caught.value
    assert exc.field != "packet"
    _assert_no_secret(str(exc), repr(exc), repr(exc.args), repr(packet), str(packet))


@pytest.mark.parametrize(
    "data",
    [
        # Authentication Data cut short, alone, and followed by a bad property.
        "20 13 00 00 10 15 0001 4d 16 000b 733363723374 2d6175",
        "20 11 00 00 0e 16 000b 733363723374 2d61757468",
        "20 18 00 00 15 15 0001 4d 16 000b 733363723374 2d61757468 21 0000",
        # In AUTH, and in CONNECT next to a password cut short.
        "f0 11 18 0f 15 0001 4d 16 000b 733363723374 2d61",
        f"10 1a {HEAD} 42 003c 00 0001 61 000b 733363723374 2d617574",
    ],
    ids=["cut", "alone", "then-bad", "auth", "connect-password"],
)
def test_secrets_never_in_decode5_errors(codec: Codec, data: str) -> None:
    raw = bytes.fromhex(data)
    assert SECRET[:6] in raw
    with pytest.raises(RemoteProtocolError) as caught:
        codec.decode(raw, 5)
    exc = caught.value
    _assert_no_secret(str(exc), repr(exc), repr(exc.args))


def test_secrets_never_in_repr5(codec: Codec) -> None:
    packet = Connect(
        "a",
        password=SECRET,
        protocol_level=5,
        properties=ConnectProperties(authentication_method="M", authentication_data=SECRET),
    )
    decoded = codec.decode(codec.encode(packet), 5)
    connack = _connack5(authentication_method="M", authentication_data=SECRET)
    auth = Auth(
        ReasonCode.CONTINUE_AUTHENTICATION,
        AuthProperties(authentication_method="M", authentication_data=SECRET),
    )
    for shown in (packet, decoded, connack, auth, codec.decode(codec.encode(auth), 5)):
        _assert_no_secret(repr(shown), str(shown), f"{[shown]}")
