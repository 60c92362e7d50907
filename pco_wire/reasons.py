"""What the server's codes mean: one table for MQTT 3.1/3.1.1 return codes and MQTT 5.0
reason codes, read by the codec (is this code defined for this packet?), the session
(refused or ended), the retry policy (retry or stop) and the diagnoses (category, exit
status, sentence).

Each row: the code, its name and the specification's text (MQTT 3.1.1 §3.2.2.3; MQTT 5.0
§2.4, §3.2.2.2, §3.14.2.1, §3.15.2.1), the packet types it is defined for, whether a later
attempt may succeed (``retry``), and the diagnosis ``category`` with its exit ``status``.
"""

from __future__ import annotations

from enum import IntEnum

from ._record import Record

__all__ = [
    "CATEGORIES",
    "REASONS",
    "RETURN_CODES",
    "ConnAckCode",
    "Reason",
    "ReasonCode",
    "reason_for",
]

# Packet types as numbers (MQTT 5.0 §2.1.2); packets.PacketType is built on this module.
_CONNACK, _PUBACK, _PUBREC, _PUBREL, _PUBCOMP = 2, 4, 5, 6, 7
_SUBACK, _UNSUBACK, _DISCONNECT, _AUTH = 9, 11, 14, 15


class Reason(Record):
    """One code of the table. ``packets`` holds the packet types (numbers) it is defined
    for; ``text`` is its meaning in a CONNACK (or the first packet it is defined for),
    ``ending`` its meaning in a DISCONNECT, or None where it is not defined there."""

    __slots__ = ("code", "name", "text", "ending", "packets", "retry", "category", "status")
    _fields = __slots__

    def __init__(
        self,
        code: int,
        name: str,
        text: str,
        ending: str | None,
        packets: frozenset[int],
        retry: bool,
        category: str,
        status: int,
    ) -> None:
        self.code = code
        self.name = name
        self.text = text
        self.ending = ending
        self.packets = packets
        self.retry = retry
        self.category = category
        self.status = status

    def defined_for(self, packet_type: int) -> bool:
        return packet_type in self.packets


class ConnAckCode(IntEnum):
    """CONNACK return codes (MQTT 3.1.1 §3.2.2.3; the same six in MQTT 3.1)."""

    ACCEPTED = 0
    UNACCEPTABLE_PROTOCOL_VERSION = 1
    IDENTIFIER_REJECTED = 2
    SERVER_UNAVAILABLE = 3
    BAD_USERNAME_OR_PASSWORD = 4
    NOT_AUTHORIZED = 5

    @property
    def text(self) -> str:
        """The specification's meaning of this return code."""
        return RETURN_CODES[self].text

    @property
    def reason(self) -> Reason:
        return RETURN_CODES[self]


class ReasonCode(IntEnum):
    """MQTT 5.0 reason codes (§2.4). 0x00 is Success, Normal disconnection and Granted
    QoS 0 alike; the table says which meaning a packet gives it."""

    SUCCESS = 0x00
    GRANTED_QOS_1 = 0x01
    GRANTED_QOS_2 = 0x02
    DISCONNECT_WITH_WILL_MESSAGE = 0x04
    NO_MATCHING_SUBSCRIBERS = 0x10
    NO_SUBSCRIPTION_EXISTED = 0x11
    CONTINUE_AUTHENTICATION = 0x18
    RE_AUTHENTICATE = 0x19
    UNSPECIFIED_ERROR = 0x80
    MALFORMED_PACKET = 0x81
    PROTOCOL_ERROR = 0x82
    IMPLEMENTATION_SPECIFIC_ERROR = 0x83
    UNSUPPORTED_PROTOCOL_VERSION = 0x84
    CLIENT_IDENTIFIER_NOT_VALID = 0x85
    BAD_USER_NAME_OR_PASSWORD = 0x86
    NOT_AUTHORIZED = 0x87
    SERVER_UNAVAILABLE = 0x88
    SERVER_BUSY = 0x89
    BANNED = 0x8A
    SERVER_SHUTTING_DOWN = 0x8B
    BAD_AUTHENTICATION_METHOD = 0x8C
    KEEP_ALIVE_TIMEOUT = 0x8D
    SESSION_TAKEN_OVER = 0x8E
    TOPIC_FILTER_INVALID = 0x8F
    TOPIC_NAME_INVALID = 0x90
    PACKET_IDENTIFIER_IN_USE = 0x91
    PACKET_IDENTIFIER_NOT_FOUND = 0x92
    RECEIVE_MAXIMUM_EXCEEDED = 0x93
    TOPIC_ALIAS_INVALID = 0x94
    PACKET_TOO_LARGE = 0x95
    MESSAGE_RATE_TOO_HIGH = 0x96
    QUOTA_EXCEEDED = 0x97
    ADMINISTRATIVE_ACTION = 0x98
    PAYLOAD_FORMAT_INVALID = 0x99
    RETAIN_NOT_SUPPORTED = 0x9A
    QOS_NOT_SUPPORTED = 0x9B
    USE_ANOTHER_SERVER = 0x9C
    SERVER_MOVED = 0x9D
    SHARED_SUBSCRIPTIONS_NOT_SUPPORTED = 0x9E
    CONNECTION_RATE_EXCEEDED = 0x9F
    MAXIMUM_CONNECT_TIME = 0xA0
    SUBSCRIPTION_IDENTIFIERS_NOT_SUPPORTED = 0xA1
    WILDCARD_SUBSCRIPTIONS_NOT_SUPPORTED = 0xA2

    # Aliases: the other names of 0x00.
    NORMAL_DISCONNECTION = 0x00
    GRANTED_QOS_0 = 0x00

    @property
    def text(self) -> str:
        """The specification's meaning of this code (in a CONNACK where it is defined)."""
        return REASONS[self].text

    @property
    def reason(self) -> Reason:
        return REASONS[self]


_REFUSED = 1  # the exit status of a refusal or an ending the server gave a reason for
_ALL_ACKS = frozenset({_CONNACK, _PUBACK, _PUBREC, _SUBACK, _UNSUBACK, _DISCONNECT})


def _row(
    code: int,
    name: str,
    packets: set[int] | frozenset[int],
    text: str,
    ending: str | None = None,
    *,
    retry: bool,
    category: str,
) -> Reason:
    if ending is None and _DISCONNECT in packets:
        ending = text
    status = 0 if code < 0x80 else _REFUSED
    return Reason(code, name, text, ending, frozenset(packets), retry, category, status)


# MQTT 3.1.1 §3.2.2.3 (MQTT 3.1 has the same six).
RETURN_CODES: dict[int, Reason] = {
    r.code: r
    for r in (
        Reason(
            0,
            "Connection Accepted",
            "connection accepted",
            None,
            frozenset({_CONNACK}),
            True,
            "connected",
            0,
        ),
        Reason(
            1,
            "Connection Refused, unacceptable protocol version",
            "connection refused, unacceptable protocol version: the server does not support "
            "the level of the MQTT protocol requested by the client",
            None,
            frozenset({_CONNACK}),
            False,
            "unacceptable-protocol-version",
            _REFUSED,
        ),
        Reason(
            2,
            "Connection Refused, identifier rejected",
            "connection refused, identifier rejected: the client identifier is correct UTF-8 "
            "but not allowed by the server",
            None,
            frozenset({_CONNACK}),
            False,
            "identifier-rejected",
            _REFUSED,
        ),
        Reason(
            3,
            "Connection Refused, Server unavailable",
            "connection refused, server unavailable: the network connection has been made "
            "but the MQTT service is unavailable",
            None,
            frozenset({_CONNACK}),
            True,
            "server-unavailable",
            _REFUSED,
        ),
        Reason(
            4,
            "Connection Refused, bad user name or password",
            "connection refused, bad user name or password: the data in the user name or "
            "password is malformed",
            None,
            frozenset({_CONNACK}),
            False,
            "bad-username-or-password",
            _REFUSED,
        ),
        Reason(
            5,
            "Connection Refused, not authorized",
            "connection refused, not authorized: the client is not authorized to connect",
            None,
            frozenset({_CONNACK}),
            False,
            "not-authorized",
            _REFUSED,
        ),
    )
}

# MQTT 5.0 §2.4 (packets), §3.2.2.2 (CONNACK texts), §3.14.2.1 (DISCONNECT texts),
# §3.15.2.1 (AUTH). ``retry``: whether another attempt with the same settings may be
# accepted. Codes that say our CONNECT is wrong, or that we are not welcome, stop.
REASONS: dict[int, Reason] = {
    r.code: r
    for r in (
        _row(
            0x00,
            "Success",
            {_CONNACK, _PUBACK, _PUBREC, _PUBREL, _PUBCOMP, _UNSUBACK, _AUTH, _DISCONNECT},
            "the connection is accepted",
            "normal disconnection: close the connection normally, do not send the will message",
            retry=True,
            category="connected",
        ),
        _row(0x01, "Granted QoS 1", {_SUBACK}, "granted QoS 1", retry=True, category="connected"),
        _row(0x02, "Granted QoS 2", {_SUBACK}, "granted QoS 2", retry=True, category="connected"),
        _row(
            0x04,
            "Disconnect with Will Message",
            {_DISCONNECT},
            "the client wishes to disconnect but requires that the server also publishes "
            "its will message",
            retry=True,
            category="connected",
        ),
        _row(
            0x10,
            "No matching subscribers",
            {_PUBACK, _PUBREC},
            "the message is accepted but there are no subscribers",
            retry=True,
            category="connected",
        ),
        _row(
            0x11,
            "No subscription existed",
            {_UNSUBACK},
            "no matching topic filter is being used by the client",
            retry=True,
            category="connected",
        ),
        _row(
            0x18,
            "Continue authentication",
            {_AUTH},
            "continue the authentication with another step",
            retry=True,
            category="connected",
        ),
        _row(
            0x19,
            "Re-authenticate",
            {_AUTH},
            "initiate a re-authentication",
            retry=True,
            category="connected",
        ),
        _row(
            0x80,
            "Unspecified error",
            _ALL_ACKS,
            "the server does not wish to reveal the reason for the failure, or none of the "
            "other reason codes apply",
            "the connection is closed but the sender either does not wish to reveal the "
            "reason, or none of the other reason codes apply",
            retry=True,
            category="unspecified-error",
        ),
        _row(
            0x81,
            "Malformed Packet",
            {_CONNACK, _DISCONNECT},
            "data within the CONNECT packet could not be correctly parsed",
            "the received packet does not conform to this specification",
            retry=False,
            category="server-says-malformed",
        ),
        _row(
            0x82,
            "Protocol Error",
            {_CONNACK, _DISCONNECT},
            "data in the CONNECT packet does not conform to this specification",
            "an unexpected or out of order packet was received",
            retry=False,
            category="server-says-protocol-error",
        ),
        _row(
            0x83,
            "Implementation specific error",
            _ALL_ACKS,
            "the CONNECT is valid but is not accepted by this server",
            "the packet received is valid but cannot be processed by this implementation",
            retry=True,
            category="implementation-specific-error",
        ),
        _row(
            0x84,
            "Unsupported Protocol Version",
            {_CONNACK},
            "the server does not support the version of the MQTT protocol requested by the client",
            retry=False,
            category="unacceptable-protocol-version",
        ),
        _row(
            0x85,
            "Client Identifier not valid",
            {_CONNACK},
            "the client identifier is a valid string but is not allowed by the server",
            retry=False,
            category="identifier-rejected",
        ),
        _row(
            0x86,
            "Bad User Name or Password",
            {_CONNACK},
            "the server does not accept the user name or password specified by the client",
            retry=False,
            category="bad-username-or-password",
        ),
        _row(
            0x87,
            "Not authorized",
            _ALL_ACKS,
            "the client is not authorized to connect",
            "the request is not authorized",
            retry=False,
            category="not-authorized",
        ),
        _row(
            0x88,
            "Server unavailable",
            {_CONNACK},
            "the MQTT server is not available",
            retry=True,
            category="server-unavailable",
        ),
        _row(
            0x89,
            "Server busy",
            {_CONNACK, _DISCONNECT},
            "the server is busy: try again later",
            "the server is busy and cannot continue processing requests from this client",
            retry=True,
            category="server-busy",
        ),
        _row(
            0x8A,
            "Banned",
            {_CONNACK},
            "this client has been banned by administrative action: contact the server "
            "administrator",
            retry=False,
            category="banned",
        ),
        _row(
            0x8B,
            "Server shutting down",
            {_DISCONNECT},
            "the server is shutting down",
            retry=True,
            category="server-shutting-down",
        ),
        _row(
            0x8C,
            "Bad authentication method",
            {_CONNACK, _DISCONNECT},
            "the authentication method is not supported or does not match the "
            "authentication method currently in use",
            retry=False,
            category="bad-authentication-method",
        ),
        _row(
            0x8D,
            "Keep Alive timeout",
            {_DISCONNECT},
            "the connection is closed because no packet has been received for 1.5 times "
            "the keep-alive time",
            retry=True,
            category="keep-alive-timeout",
        ),
        _row(
            0x8E,
            "Session taken over",
            {_DISCONNECT},
            "another connection using the same client identifier has connected, causing "
            "this connection to be closed",
            retry=True,
            category="session-taken-over",
        ),
        _row(
            0x8F,
            "Topic Filter invalid",
            {_SUBACK, _UNSUBACK, _DISCONNECT},
            "the topic filter is correctly formed, but is not accepted by this server",
            retry=True,
            category="topic-filter-invalid",
        ),
        _row(
            0x90,
            "Topic Name invalid",
            {_CONNACK, _PUBACK, _PUBREC, _DISCONNECT},
            "the will topic name is not malformed, but is not accepted by this server",
            "the topic name is correctly formed, but is not accepted by this client or server",
            retry=False,
            category="topic-name-invalid",
        ),
        _row(
            0x91,
            "Packet Identifier in use",
            {_PUBACK, _PUBREC, _SUBACK, _UNSUBACK},
            "the packet identifier is already in use",
            retry=True,
            category="packet-identifier-in-use",
        ),
        _row(
            0x92,
            "Packet Identifier not found",
            {_PUBREL, _PUBCOMP},
            "the packet identifier is not known",
            retry=True,
            category="packet-identifier-not-found",
        ),
        _row(
            0x93,
            "Receive Maximum exceeded",
            {_DISCONNECT},
            "more publications were received than the receive maximum allows without "
            "PUBACK or PUBCOMP",
            retry=True,
            category="receive-maximum-exceeded",
        ),
        _row(
            0x94,
            "Topic Alias invalid",
            {_DISCONNECT},
            "a PUBLISH packet carried a topic alias greater than the topic alias maximum",
            retry=True,
            category="topic-alias-invalid",
        ),
        _row(
            0x95,
            "Packet too large",
            {_CONNACK, _DISCONNECT},
            "the CONNECT packet exceeded the maximum permissible size",
            "the packet size is greater than the maximum packet size for this client or server",
            retry=False,
            category="packet-too-large",
        ),
        _row(
            0x96,
            "Message rate too high",
            {_DISCONNECT},
            "the received data rate is too high",
            retry=True,
            category="message-rate-too-high",
        ),
        _row(
            0x97,
            "Quota exceeded",
            {_CONNACK, _PUBACK, _PUBREC, _SUBACK, _DISCONNECT},
            "an implementation or administrative imposed limit has been exceeded",
            retry=True,
            category="quota-exceeded",
        ),
        _row(
            0x98,
            "Administrative action",
            {_DISCONNECT},
            "the connection is closed due to an administrative action",
            retry=True,
            category="administrative-action",
        ),
        _row(
            0x99,
            "Payload format invalid",
            {_CONNACK, _PUBACK, _PUBREC, _DISCONNECT},
            "the will payload does not match the specified payload format indicator",
            "the payload format does not match the one specified by the payload format indicator",
            retry=False,
            category="payload-format-invalid",
        ),
        _row(
            0x9A,
            "Retain not supported",
            {_CONNACK, _DISCONNECT},
            "the server does not support retained messages, and will retain was set",
            "the server does not support retained messages",
            retry=False,
            category="retain-not-supported",
        ),
        _row(
            0x9B,
            "QoS not supported",
            {_CONNACK, _DISCONNECT},
            "the server does not support the QoS set in will QoS",
            "the client specified a QoS greater than the maximum QoS in the CONNACK",
            retry=False,
            category="qos-not-supported",
        ),
        _row(
            0x9C,
            "Use another server",
            {_CONNACK, _DISCONNECT},
            "the client should temporarily use another server",
            "the client should temporarily change its server",
            retry=True,
            category="use-another-server",
        ),
        _row(
            0x9D,
            "Server moved",
            {_CONNACK, _DISCONNECT},
            "the client should permanently use another server",
            "the server is moved and the client should permanently change its server location",
            retry=False,
            category="server-moved",
        ),
        _row(
            0x9E,
            "Shared Subscriptions not supported",
            {_SUBACK, _DISCONNECT},
            "the server does not support shared subscriptions",
            retry=True,
            category="shared-subscriptions-not-supported",
        ),
        _row(
            0x9F,
            "Connection rate exceeded",
            {_CONNACK, _DISCONNECT},
            "the connection rate limit has been exceeded",
            "this connection is closed because the connection rate is too high",
            retry=True,
            category="connection-rate-exceeded",
        ),
        _row(
            0xA0,
            "Maximum connect time",
            {_DISCONNECT},
            "the maximum connection time authorized for this connection has been exceeded",
            retry=True,
            category="maximum-connect-time",
        ),
        _row(
            0xA1,
            "Subscription Identifiers not supported",
            {_SUBACK, _DISCONNECT},
            "the server does not support subscription identifiers",
            retry=True,
            category="subscription-identifiers-not-supported",
        ),
        _row(
            0xA2,
            "Wildcard Subscriptions not supported",
            {_SUBACK, _DISCONNECT},
            "the server does not support wildcard subscriptions",
            retry=True,
            category="wildcard-subscriptions-not-supported",
        ),
    )
}


def reason_for(code: int, protocol_level: int) -> Reason | None:
    """The row of ``code`` at ``protocol_level`` (5: a reason code, 3 or 4: a CONNACK
    return code), or None for a code the specification does not define."""
    table = REASONS if protocol_level == 5 else RETURN_CODES
    return table.get(code)


#: Every diagnosis category of the table, with its exit status (diagnose adds its own).
CATEGORIES: dict[str, int] = {
    r.category: r.status for table in (RETURN_CODES, REASONS) for r in table.values()
}
assert all(
    CATEGORIES[r.category] == r.status for t in (RETURN_CODES, REASONS) for r in t.values()
), "one category, one exit status"
