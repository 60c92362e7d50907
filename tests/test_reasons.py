"""The table of the server's codes, and everything that reads it: the diagnoses (category,
exit status, sentence) and the retry policy."""

from __future__ import annotations

import pytest

from pco_wire import ConnAckCode, ReasonCode
from pco_wire.diagnose import CATEGORIES, diagnose
from pco_wire.errors import MalformedPacket, ServerDisconnected, ServerRefused
from pco_wire.packets import ConnAckProperties, DisconnectProperties
from pco_wire.reasons import REASONS, RETURN_CODES, reason_for
from pco_wire.reconnect import FATAL_REASON_CODES, Reconnect, retryable
from pco_wire.uri import parse_uri

URI = parse_uri("mqtt://127.0.0.1:1883")
ERRORS = [code for code in REASONS if code >= 0x80]


def test_every_reason_code_has_a_member_and_the_members_are_the_table() -> None:
    assert {int(member) for member in ReasonCode} == set(REASONS)
    assert {int(member) for member in ConnAckCode} == set(RETURN_CODES)
    for code, reason in REASONS.items():
        assert reason.code == code
        assert reason.text and reason.text == reason.text.strip()
        assert (reason.ending is not None) == reason.defined_for(14)
        assert reason.status == (0 if code < 0x80 else 1)
        assert CATEGORIES[reason.category] == reason.status


def test_reason_for_reads_the_table_of_the_level() -> None:
    assert reason_for(0x86, 5) is REASONS[0x86]
    assert reason_for(4, 4) is RETURN_CODES[4]
    assert reason_for(0x86, 4) is None
    assert reason_for(0x03, 5) is None


@pytest.mark.parametrize("code", [c for c in ERRORS if REASONS[c].defined_for(2)])
def test_every_connack_refusal_is_diagnosed_from_the_table(code: int) -> None:
    error = ServerRefused(ReasonCode(code), ConnAckProperties())
    status, category, sentence = diagnose(error, URI, protocol="5", protocol_level=5)
    assert (status, category) == (1, REASONS[code].category)
    assert sentence.startswith(f"refused with reason code 0x{code:02X} ({REASONS[code].name}): ")


@pytest.mark.parametrize("code", [c for c in ERRORS if REASONS[c].defined_for(14)])
def test_every_server_disconnect_is_diagnosed_from_the_table(code: int) -> None:
    error = ServerDisconnected(ReasonCode(code), DisconnectProperties())
    status, category, sentence = diagnose(error, URI, protocol="5", protocol_level=5)
    assert (status, category) == (1, REASONS[code].category)
    assert f"reason code 0x{code:02X} ({REASONS[code].name})" in sentence


def test_a_normal_disconnect_from_the_server_is_a_loss_not_a_refusal() -> None:
    error = ServerDisconnected(ReasonCode.NORMAL_DISCONNECTION, DisconnectProperties())
    assert diagnose(error, URI, protocol="5", protocol_level=5)[:2] == (3, "server-disconnected")


def test_the_reason_string_is_shown_as_one_printable_line() -> None:
    properties = ConnAckProperties(reason_string="wrong\x1b[2J password\nfor gw1")
    error = ServerRefused(ReasonCode.BAD_USER_NAME_OR_PASSWORD, properties)
    status, category, sentence = diagnose(
        error, URI, protocol="5", protocol_level=5, username="plant"
    )
    assert (status, category) == (1, "bad-username-or-password")
    assert "\x1b" not in sentence and "\n" not in sentence
    assert "the server says: " in sentence and "'plant'" in sentence


def test_a_takeover_said_by_the_server_names_the_client_id() -> None:
    error = ServerDisconnected(ReasonCode.SESSION_TAKEN_OVER, DisconnectProperties())
    _, category, sentence = diagnose(error, URI, protocol="5", protocol_level=5, client_id="gw7")
    assert category == "session-taken-over"
    assert "(taken over)" in sentence and "'gw7'" in sentence


def test_a_redirect_shows_the_server_reference_and_how_to_follow_it() -> None:
    properties = ConnAckProperties(server_reference="broker2.plant.local:8883")
    error = ServerRefused(ReasonCode.SERVER_MOVED, properties)
    _, category, sentence = diagnose(error, URI, protocol="5", protocol_level=5)
    assert category == "server-moved"
    assert "'broker2.plant.local:8883'" in sentence and "--follow-redirects" in sentence


def test_auto_refused_at_every_level_says_so() -> None:
    error = ServerRefused(ConnAckCode.UNACCEPTABLE_PROTOCOL_VERSION)
    _, category, sentence = diagnose(error, URI, protocol="auto", protocol_level=3)
    assert category == "unacceptable-protocol-version"
    assert "none of MQTT 5.0, 3.1.1 and 3.1" in sentence


def test_a_5_0_refusal_of_protocol_5_points_at_3_1_1() -> None:
    error = ServerRefused(ReasonCode.UNSUPPORTED_PROTOCOL_VERSION, ConnAckProperties())
    sentence = diagnose(error, URI, protocol="5", protocol_level=5)[2]
    assert "try --protocol 3.1.1" in sentence


def test_an_undefined_5_0_connack_code_is_named() -> None:
    error = MalformedPacket("expected a CONNACK reason code, got 0x03", 3)
    status, category, sentence = diagnose(
        error, URI, head=b"\x20\x03\x00\x03\x00", protocol="5", protocol_level=5
    )
    assert (status, category) == (6, "unknown-return-code")
    assert "0x03" in sentence and "MQTT 5.0" in sentence


# ---------------------------------------------------------------------------- retrying


@pytest.mark.parametrize("code", [0x84, 0x85, 0x86, 0x87, 0x8A, 0x8C])
def test_refusals_a_retry_cannot_fix_stop(code: int) -> None:
    error = ServerRefused(ReasonCode(code), ConnAckProperties())
    assert not retryable(error)
    assert code in FATAL_REASON_CODES
    policy = Reconnect(1.0, 60.0, random=lambda: 0.5)
    assert policy.ended(error, now=0.0) is None


@pytest.mark.parametrize("code", [0x88, 0x89, 0x97, 0x9F, 0x80])
def test_refusals_that_may_pass_are_retried_with_the_backoff(code: int) -> None:
    error = ServerRefused(ReasonCode(code), ConnAckProperties())
    policy = Reconnect(1.0, 60.0, random=lambda: 0.5)
    assert policy.ended(error, now=0.0) == pytest.approx(1.5)  # [1, 2] drawn at 0.5
    assert policy.ended(error, now=2.0) == pytest.approx(2.5)  # [1, 4]


def test_3_1_1_return_codes_keep_their_rule() -> None:
    assert not retryable(ServerRefused(ConnAckCode.BAD_USERNAME_OR_PASSWORD))
    assert retryable(ServerRefused(ConnAckCode.SERVER_UNAVAILABLE))


def test_a_takeover_said_by_the_server_waits_the_maximum_at_once() -> None:
    policy = Reconnect(1.0, 60.0, random=lambda: 0.5)
    policy.connected(0.0)
    error = ServerDisconnected(ReasonCode.SESSION_TAKEN_OVER, DisconnectProperties())
    assert policy.ended(error, now=1.0) == 60.0
    assert policy.takeover_said
    policy.connected(61.0)
    other = ServerDisconnected(ReasonCode.SERVER_SHUTTING_DOWN, DisconnectProperties())
    assert policy.ended(other, now=70.0) == pytest.approx(1.5)
    assert not policy.takeover_said
