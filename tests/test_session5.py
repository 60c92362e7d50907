"""The sans-IO Session at MQTT 5.0, with scripted bytes and a fake clock.

Server packets are written out as bytes (MQTT 5.0 §3.2, §3.14, §3.15) so that the
session is tested against the wire, not against our own encoder; what the session sends
is compared byte for byte too.
"""

from __future__ import annotations

import pytest

from pco_wire import (
    Authenticator,
    ConnAckCode,
    Connect,
    ConnectProperties,
    ReasonCode,
)
from pco_wire.errors import (
    AuthenticationError,
    LocalProtocolError,
    MalformedPacket,
    PacketTooLarge,
    ProtocolViolation,
    ResponseTimeout,
    ServerDisconnected,
    ServerRefused,
    UnexpectedPacket,
)
from pco_wire.events import Closed, Connected, PingSent, Reauthenticated
from pco_wire.phases import PhaseName
from pco_wire.result import negotiated
from pco_wire.session import Session, State

# CONNACK, no flags, reason 0x00, no properties.
CONNACK_OK = b"\x20\x03\x00\x00\x00"
# PUBLISH QoS 0, topic "t", no properties, payload "a".
PUBLISH = b"\x30\x05\x00\x01t\x00a"


def _string(text: str) -> bytes:
    data = text.encode()
    return len(data).to_bytes(2, "big") + data


def _connack(properties: bytes = b"", *, flags: int = 0, code: int = 0) -> bytes:
    body = bytes((flags, code, len(properties))) + properties
    return bytes((0x20, len(body))) + body


def _auth(code: int, properties: bytes) -> bytes:
    body = bytes((code, len(properties))) + properties
    return bytes((0xF0, len(body))) + body


def _method(name: str = "TOKEN") -> bytes:
    return b"\x15" + _string(name)


def _data(data: bytes) -> bytes:
    return b"\x16" + len(data).to_bytes(2, "big") + data


def _session(
    client_id: str = "gw1",
    *,
    keep_alive: int = 60,
    clean: bool = True,
    properties: ConnectProperties | None = None,
    authenticator: Authenticator | None = None,
    max_packet_size: int = 1 << 20,
) -> Session:
    connect = Connect(
        client_id,
        clean,
        keep_alive,
        protocol_level=5,
        properties=properties or ConnectProperties(),
    )
    session = Session(
        connect,
        response_timeout=10.0,
        max_packet_size=max_packet_size,
        authenticator=authenticator,
    )
    session.connect(now=0.0)
    session.data_to_send()
    return session


def _connected(**options: object) -> Session:
    session = _session(**options)  # type: ignore[arg-type]
    session.receive_data(CONNACK_OK, now=0.1)
    assert session.state is State.CONNECTED
    session.events()
    return session


def _closed_with(session: Session) -> object:
    events = session.events()
    assert session.closed
    assert isinstance(events[-1], Closed)
    return events[-1].error


# ---------------------------------------------------------------------------- CONNACK


def test_the_server_keep_alive_replaces_ours_and_the_pings_follow_it() -> None:
    session = _session(keep_alive=60)
    # Server Keep Alive 0x13 = 5 s (§3.2.2.3.14).
    session.receive_data(_connack(b"\x13\x00\x05"), now=0.0)
    assert session.keep_alive == 5
    assert session.events() == [Connected(False)]
    # The margin of a 5 s interval is 0.5 s: PINGREQ due at 4.5 s, not at 59.
    assert session.next_deadline() == pytest.approx(4.5)
    session.handle_timer(now=4.5)
    assert session.data_to_send() == b"\xc0\x00"
    assert session.events() == [PingSent(4.5)]
    assert negotiated(session.connect_packet, session.connack) is not None
    shown = negotiated(session.connect_packet, session.connack)
    assert shown is not None
    assert (shown["keep_alive"], shown["keep_alive_from"]) == (5, "server")


def test_a_server_keep_alive_of_zero_turns_the_pings_off() -> None:
    session = _session(keep_alive=60)
    session.receive_data(_connack(b"\x13\x00\x00"), now=0.0)
    assert session.keep_alive == 0
    assert session.next_deadline() is None


def test_the_assigned_client_identifier_is_taken() -> None:
    session = _session("")
    assigned = "auto-5A7C0F3E-91B2-4D7A-8E0B-3C2F1A9D6E4B"
    session.receive_data(_connack(b"\x12" + _string(assigned)), now=0.1)
    assert session.state is State.CONNECTED
    assert session.client_id == assigned
    shown = negotiated(session.connect_packet, session.connack)
    assert shown is not None and shown["assigned_client_id"] == assigned


def test_an_empty_client_id_without_an_assigned_one_is_a_protocol_error() -> None:
    session = _session("")
    session.receive_data(CONNACK_OK, now=0.1)
    error = _closed_with(session)
    assert isinstance(error, ProtocolViolation)
    assert "Assigned Client Identifier" in str(error)
    assert error.offset == 0


def test_session_present_with_clean_start_is_a_protocol_error() -> None:
    session = _session(clean=True)
    session.receive_data(_connack(flags=1), now=0.1)
    error = _closed_with(session)
    assert isinstance(error, ProtocolViolation)
    assert session.data_to_send() == b""  # not connected: no DISCONNECT


def test_a_refusal_carries_its_reason_code_and_reason_string() -> None:
    session = _session()
    session.receive_data(_connack(b"\x1f" + _string("bad password"), code=0x86), now=0.1)
    error = _closed_with(session)
    assert isinstance(error, ServerRefused)
    assert error.return_code is ReasonCode.BAD_USER_NAME_OR_PASSWORD
    assert error.reason_string == "bad password"
    assert "0x86 Bad User Name or Password" in str(error)


def test_a_3_1_1_refusal_of_level_5_is_an_unsupported_version() -> None:
    # A 3.1.1 server answers level 5 in its own format, return code 1 (§3.1.2.2).
    session = _session()
    session.receive_data(b"\x20\x02\x00\x01", now=0.1)
    error = _closed_with(session)
    assert isinstance(error, ServerRefused)
    assert error.return_code is ConnAckCode.UNACCEPTABLE_PROTOCOL_VERSION


def test_the_session_expiry_we_sent_and_the_servers_answer_are_kept() -> None:
    session = _session(properties=ConnectProperties(session_expiry_interval=3600), clean=False)
    session.receive_data(_connack(b"\x11\x00\x00\x00\x3c"), now=0.1)
    shown = negotiated(session.connect_packet, session.connack)
    assert shown is not None and shown["session_expiry_interval"] == 60
    other = _session(properties=ConnectProperties(session_expiry_interval=3600), clean=False)
    other.receive_data(CONNACK_OK, now=0.1)
    shown = negotiated(other.connect_packet, other.connack)
    assert shown is not None and shown["session_expiry_interval"] == 3600


# ---------------------------------------------------------------------------- after CONNACK


def test_a_packet_above_our_maximum_gets_disconnect_0x95() -> None:
    session = _connected(max_packet_size=64)
    big = b"\x30\x7f" + bytes(127)  # 129 bytes announced by the header
    session.receive_data(big[:2], now=1.0)
    error = _closed_with(session)
    assert isinstance(error, PacketTooLarge)
    assert session.data_to_send() == b"\xe0\x01\x95"


def test_a_malformed_packet_after_connack_gets_disconnect_0x81() -> None:
    session = _connected()
    session.receive_data(b"\x00\x00", now=1.0)  # packet type 0 is reserved
    error = _closed_with(session)
    assert isinstance(error, MalformedPacket)
    assert session.data_to_send() == b"\xe0\x01\x81"


def test_an_unexpected_packet_after_connack_gets_disconnect_0x82() -> None:
    session = _connected()
    session.receive_data(CONNACK_OK, now=1.0)
    error = _closed_with(session)
    assert isinstance(error, UnexpectedPacket)
    assert session.data_to_send() == b"\xe0\x01\x82"


def test_a_disconnect_from_the_server_ends_the_session_with_its_reason() -> None:
    session = _connected()
    reason = b"\x1f" + _string("another client took over")
    session.receive_data(b"\xe0" + bytes((2 + len(reason), 0x8E, len(reason))) + reason, now=3.0)
    error = _closed_with(session)
    assert isinstance(error, ServerDisconnected)
    assert error.reason_code is ReasonCode.SESSION_TAKEN_OVER
    assert error.reason_string == "another client took over"
    assert session.data_to_send() == b""  # the server closes; we send nothing


def test_the_short_disconnect_mosquitto_sends_is_read() -> None:
    session = _connected()
    session.receive_data(b"\xe0\x01\x8e", now=3.0)
    error = _closed_with(session)
    assert isinstance(error, ServerDisconnected) and error.reason_code == 0x8E


def test_a_server_reference_comes_with_the_disconnect() -> None:
    session = _connected()
    props = b"\x1c" + _string("broker2.plant.local:1883")
    session.receive_data(b"\xe0" + bytes((2 + len(props), 0x9D, len(props))) + props, now=3.0)
    error = _closed_with(session)
    assert isinstance(error, ServerDisconnected)
    assert error.server_reference == "broker2.plant.local:1883"


def test_disconnect_from_a_3_1_1_server_is_still_unexpected() -> None:
    connect = Connect("gw1", True, 60)
    session = Session(connect)
    session.connect(now=0.0)
    session.receive_data(b"\x20\x02\x00\x00", now=0.1)
    session.events()
    session.receive_data(b"\xe0\x00", now=1.0)
    assert isinstance(_closed_with(session), UnexpectedPacket)


# ---------------------------------------------------------------------------- enhanced auth


class _Steps:
    def __init__(self, *answers: bytes) -> None:
        self.seen: list[bytes | None] = []
        self.answers = list(answers)

    def __call__(self, data: bytes | None) -> bytes | None:
        self.seen.append(data)
        return self.answers.pop(0)


def _auth_session(step: object = None, data: bytes | None = b"first") -> Session:
    authenticator = Authenticator("TOKEN", data, step)  # type: ignore[arg-type]
    properties = ConnectProperties(authentication_method="TOKEN", authentication_data=data)
    return _session(properties=properties, authenticator=authenticator)


def test_an_auth_challenge_in_two_rounds_before_connack() -> None:
    steps = _Steps(b"answer-1", b"answer-2")
    session = _auth_session(steps)
    session.receive_data(_auth(0x18, _method() + _data(b"challenge-1")), now=9.0)
    assert session.data_to_send() == _auth(0x18, _method() + _data(b"answer-1"))
    # Each step is bounded by the response timeout, counted from our answer.
    assert session.next_deadline() == 19.0
    session.receive_data(_auth(0x18, _method() + _data(b"challenge-2")), now=18.0)
    assert session.data_to_send() == _auth(0x18, _method() + _data(b"answer-2"))
    assert session.next_deadline() == 28.0
    session.receive_data(_connack(_method()), now=20.0)
    assert session.state is State.CONNECTED
    assert steps.seen == [b"challenge-1", b"challenge-2"]


def test_a_silent_auth_step_times_out() -> None:
    session = _auth_session(_Steps(b"answer-1"))
    session.receive_data(_auth(0x18, _method() + _data(b"c")), now=5.0)
    session.handle_timer(now=14.9)
    assert not session.closed
    session.handle_timer(now=15.0)
    error = _closed_with(session)
    assert isinstance(error, ResponseTimeout) and error.phase == PhaseName.CONNACK


def test_an_authenticator_that_cannot_answer_ends_with_disconnect_0x8c() -> None:
    def fails(data: bytes | None) -> bytes:
        raise ValueError("secret-token-value")

    session = _auth_session(fails)
    session.receive_data(_auth(0x18, _method() + _data(b"c")), now=1.0)
    error = _closed_with(session)
    assert isinstance(error, AuthenticationError)
    assert "secret-token-value" not in str(error)
    assert session.data_to_send() == b"\xe0\x01\x8c"


def test_a_single_step_method_refuses_a_challenge() -> None:
    session = _auth_session(None)
    session.receive_data(_auth(0x18, _method() + _data(b"c")), now=1.0)
    assert isinstance(_closed_with(session), AuthenticationError)


def test_auth_for_a_client_without_a_method_is_a_protocol_error() -> None:
    session = _session()
    session.receive_data(_auth(0x18, _method()), now=1.0)
    assert isinstance(_closed_with(session), ProtocolViolation)


def test_auth_of_another_method_is_a_protocol_error() -> None:
    session = _auth_session(_Steps(b"x"))
    session.receive_data(_auth(0x18, _method("OTHER")), now=1.0)
    assert isinstance(_closed_with(session), ProtocolViolation)


def test_re_authentication_in_one_challenge() -> None:
    steps = _Steps(b"again-1")
    session = _auth_session(steps)
    session.receive_data(_connack(_method()), now=0.5)
    session.events()
    session.reauthenticate(now=100.0)
    assert session.data_to_send() == _auth(0x19, _method() + _data(b"first"))
    assert session.next_deadline() == 110.0
    session.receive_data(_auth(0x18, _method() + _data(b"c")), now=101.0)
    assert session.data_to_send() == _auth(0x18, _method() + _data(b"again-1"))
    session.receive_data(_auth(0x00, _method()), now=102.0)
    assert session.events() == [Reauthenticated(2.0, 1)]
    assert session.state is State.CONNECTED
    with pytest.raises(LocalProtocolError):
        _connected().reauthenticate(now=1.0)  # no authenticator


def test_an_unanswered_re_authentication_times_out() -> None:
    session = _auth_session(_Steps())
    session.receive_data(_connack(_method()), now=0.5)
    session.reauthenticate(now=100.0)
    session.data_to_send()
    session.handle_timer(now=110.0)
    error = _closed_with(session)
    assert isinstance(error, ResponseTimeout) and error.phase == PhaseName.AUTH


def test_a_connack_without_our_method_after_auth_is_a_protocol_error() -> None:
    session = _auth_session(_Steps())
    session.receive_data(CONNACK_OK, now=0.5)
    assert isinstance(_closed_with(session), ProtocolViolation)
