"""The MQTT 5.0 settings: fields, their rules, the CONNECT they make, files, options,
the wizard's questions for protocol 5 and auto, and what ``test`` and ``monitor`` say
of what the server negotiated or why it ended.

CONNECTs are compared as values (``Connect`` equality), not as bytes: the level-5
encoder is another part's. The command line runs in this process (``cli.main``) against
a closed loopback port; a refused option exits 2 naming it, never with a traceback.
"""

from __future__ import annotations

import io
import os
import re
from pathlib import Path
from typing import Any

import pytest

from pco_wire import cli, config
from pco_wire import settings as settings_module
from pco_wire.auth import Authenticator
from pco_wire.cli.monitor import server_said
from pco_wire.cli.test import negotiated, report
from pco_wire.errors import InvalidSettings, ServerDisconnected, ServerRefused
from pco_wire.fields import FIELDS
from pco_wire.packets import (
    EMPTY_CONNECT_PROPERTIES,
    Connect,
    ConnectProperties,
    DisconnectProperties,
    Will,
)
from pco_wire.reasons import ConnAckCode, ReasonCode
from pco_wire.result import TestResult
from pco_wire.settings import PROTOCOLS, Settings, WillSettings
from pco_wire.supervisor import prepare
from tests.test_wizard import run_wizard

URI = "mqtt://127.0.0.1:1"
MQTT5_FIELDS = [field for field in FIELDS if field.since == "5"]
#: A value other than the default of each MQTT 5.0 setting, valid with protocol 5.
CHANGED: dict[str, Any] = {
    "session_expiry": 3600,
    "receive_maximum": 20,
    "user_properties": (("site", "plant 3"),),
    "request_problem_information": False,
    "auth_method": "SCRAM-SHA-256",
    "auth_data_file": None,  # set per test: a real file
    "follow_redirects": True,
    "authenticator": Authenticator("TOKEN", b"t0k3n"),
    "server_assigns_id": True,
}


@pytest.fixture
def data_file(tmp_path: Path) -> Path:
    path = tmp_path / "auth-data"
    path.write_bytes(b"s3cr3t-auth-data\n")
    return path


def _changed(name: str, data_file: Path) -> Settings:
    value = CHANGED[name] if name != "auth_data_file" else str(data_file)
    extra: dict[str, Any] = {"auth_method": "X"} if name == "auth_data_file" else {}
    extra[name] = value
    return Settings(URI, protocol="5", **extra)


# ---------------------------------------------------------------------------- the table


def test_every_mqtt5_setting_is_in_the_table() -> None:
    assert {f.name for f in MQTT5_FIELDS} == set(CHANGED)
    assert tuple(PROTOCOLS) == ("3.1.1", "3.1", "5", "auto")
    assert PROTOCOLS["5"] == 5
    # The library's own: in no file, given by no option.
    for name in ("authenticator", "server_assigns_id"):
        field = next(f for f in FIELDS if f.name == name)
        assert not field.in_file and not field.options
    assert Settings(URI).protocol == "3.1.1"


# ---------------------------------------------------------------------------- rules


@pytest.mark.parametrize("name", sorted(CHANGED))
@pytest.mark.parametrize("protocol", ["3.1.1", "3.1"])
def test_an_mqtt5_setting_below_5_is_its_problem(name: str, protocol: str, data_file: Path) -> None:
    settings = _changed(name, data_file).replace(protocol=protocol)
    if name == "auth_data_file":
        settings = settings.replace(auth_method=None)
    problems = dict(settings.problems())
    assert name in problems, problems
    expected = "needs protocol 5" if name == "server_assigns_id" else "needs protocol 5 or auto"
    assert problems[name].startswith(expected), problems


@pytest.mark.parametrize("name", sorted(CHANGED))
def test_an_mqtt5_setting_with_5_is_fine(name: str, data_file: Path) -> None:
    assert _changed(name, data_file).problems() == []


@pytest.mark.parametrize("name", sorted(set(CHANGED) - {"server_assigns_id"}))
def test_an_mqtt5_setting_with_auto_is_fine(name: str, data_file: Path) -> None:
    assert _changed(name, data_file).replace(protocol="auto").problems() == []


def test_the_server_assigns_an_id_with_5_only_and_without_one_of_ours() -> None:
    problems = Settings(URI, protocol="auto", server_assigns_id=True).problems()
    assert problems == [
        ("server_assigns_id", "needs protocol 5 (not auto: 3.1.1 assigns no ID), got 'auto'")
    ]
    problems = Settings(URI, protocol="5", server_assigns_id=True, client_id="gw1").problems()
    assert problems == [
        ("server_assigns_id", "expected no client_id when the server assigns one, got one")
    ]


@pytest.mark.parametrize(
    ("changes", "field", "reason"),
    [
        ({"session_expiry": -1}, "session_expiry", "expected whole seconds 0..4,294,967,295"),
        ({"session_expiry": 2**32}, "session_expiry", "expected whole seconds 0..4,294,967,295"),
        ({"session_expiry": True}, "session_expiry", "expected whole seconds"),
        ({"session_expiry": 1.5}, "session_expiry", "expected whole seconds"),
        ({"receive_maximum": 0}, "receive_maximum", "expected 1..65,535 or None"),
        ({"receive_maximum": 65536}, "receive_maximum", "expected 1..65,535 or None"),
        ({"receive_maximum": "20"}, "receive_maximum", "expected 1..65,535 or None"),
        ({"user_properties": (("", "v"),)}, "user_properties", "expected a name in user"),
        ({"user_properties": (("a\0", "v"),)}, "user_properties", "the name of user property"),
        ({"user_properties": (("a", "x" * 65536),)}, "user_properties", "the value of user"),
        ({"user_properties": ("a=b",)}, "user_properties", "expected a tuple of (name, value)"),
        ({"user_properties": "a=b"}, "user_properties", "expected a tuple of (name, value)"),
        ({"request_problem_information": 0}, "request_problem_information", "expected True"),
        ({"follow_redirects": "yes"}, "follow_redirects", "expected True or False"),
        ({"auth_method": ""}, "auth_method", "expected the name of a method"),
        ({"auth_method": b"X"}, "auth_method", "expected text or None"),
        ({"auth_data_file": "/surely/not/here"}, "auth_data_file", "expected auth_method"),
        ({"authenticator": "X"}, "authenticator", "expected an Authenticator or None"),
        (
            {"authenticator": Authenticator("X"), "auth_method": "X"},
            "authenticator",
            "expected either authenticator or auth_method, got both",
        ),
        (
            {"authenticator": Authenticator("X", b"x" * 65536)},
            "authenticator",
            "expected at most 65,535 bytes of authentication data",
        ),
        ({"authenticator": Authenticator("X", "text")}, "authenticator", "expected data of"),  # type: ignore[arg-type]
        ({"authenticator": Authenticator("")}, "authenticator", "expected the name of a method"),
        ({"server_assigns_id": 1}, "server_assigns_id", "expected True or False"),
    ],
)
def test_bad_mqtt5_values_are_their_fields_problems(
    changes: dict[str, Any], field: str, reason: str
) -> None:
    problems = Settings(URI, protocol="5", **changes).problems()
    assert field in dict(problems), problems
    assert any(f == field and r.startswith(reason) for f, r in problems), problems


def test_the_auth_data_file_is_a_bounded_regular_file(tmp_path: Path) -> None:
    def reason(path: Path) -> str:
        settings = Settings(URI, protocol="5", auth_method="X", auth_data_file=str(path))
        problems = settings.problems()
        assert [field for field, _ in problems] == ["auth_data_file"], problems
        return problems[0][1]

    assert reason(tmp_path).startswith("expected a regular file, got a directory")
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    assert reason(fifo).startswith("expected a regular file, got a FIFO")
    large = tmp_path / "large"
    large.write_bytes(b"x" * 65_538)
    assert reason(large).startswith("expected at most 65,537 bytes, got more")
    # Within the file's bound, but more than Binary Data holds once one newline is gone.
    long = tmp_path / "long"
    long.write_bytes(b"x" * 65_536 + b"\n")
    assert reason(long) == "expected at most 65,535 bytes of authentication data, got 65,536"
    fits = tmp_path / "fits"
    fits.write_bytes(b"x" * 65_535 + b"\r\n")
    settings = Settings(URI, protocol="5", auth_method="X", auth_data_file=str(fits))
    assert settings.problems() == []
    assert settings.connect_packet("a").properties.authentication_data == b"x" * 65_535


def test_problems_never_show_auth_data(tmp_path: Path) -> None:
    secret = "hunter2-auth"
    settings = Settings(
        URI,
        authenticator=Authenticator(secret, secret.encode() * 30_000),
        auth_method=secret,
        auth_data_file=secret,
    )
    shown = repr(settings) + repr(settings.problems())
    assert secret not in shown.replace(f"method={secret!r}", ""), shown
    assert "data=<hidden>" in repr(settings)
    assert secret not in str(InvalidSettings(settings.problems()).problems[-1])


# ---------------------------------------------------------------------------- the CONNECT


def test_below_5_the_connect_is_as_before(data_file: Path) -> None:
    settings = Settings(
        URI,
        protocol="auto",
        session_expiry=30,
        user_properties=(("a", "b"),),
        auth_method="X",
        auth_data_file=str(data_file),
    )
    for level in (4, 3):
        packet = settings.connect_packet("gw1", level)
        assert packet == Connect("gw1", protocol_level=level)
        assert packet.properties is EMPTY_CONNECT_PROPERTIES


def test_at_5_the_connect_carries_the_settings(data_file: Path) -> None:
    settings = Settings(
        URI,
        protocol="5",
        keep_alive=30,
        username="plant",
        password="pw",
        will=WillSettings("plant/status", "offline", 1, True),
        max_packet_size=65536,
        session_expiry=3600,
        receive_maximum=20,
        user_properties=(("site", "plant 3"), ("site", "line = 4")),
        request_problem_information=False,
        auth_method="SCRAM-SHA-256",
        auth_data_file=str(data_file),
    )
    assert settings.connect_packet("gw1") == Connect(
        "gw1",
        keep_alive=30,
        username="plant",
        password=b"pw",
        will=Will("plant/status", b"offline", 1, True),
        protocol_level=5,
        properties=ConnectProperties(
            session_expiry_interval=3600,
            receive_maximum=20,
            maximum_packet_size=65536,
            request_problem_information=False,
            user_properties=(("site", "plant 3"), ("site", "line = 4")),
            authentication_method="SCRAM-SHA-256",
            authentication_data=b"s3cr3t-auth-data",
        ),
    )


def test_at_5_the_defaults_send_only_our_packet_size() -> None:
    packet = Settings(URI, protocol="5").connect_packet("gw1")
    assert packet.protocol_level == 5
    # Receive maximum not given: the specification's 65,535, so not written.
    assert packet.properties.changed() == {"maximum_packet_size": 1 << 20}
    assert Settings(URI).connect_packet("gw1", 5).properties.receive_maximum == 65535


def test_the_authenticator_is_the_settings_or_made_of_the_method_and_file(
    data_file: Path,
) -> None:
    step = lambda data: data  # noqa: E731
    given = Authenticator("KERBEROS", b"ticket", step)
    assert Settings(URI, protocol="5", authenticator=given).authenticator_of() is given
    made = Settings(
        URI, protocol="5", auth_method="X", auth_data_file=str(data_file)
    ).authenticator_of()
    assert made == Authenticator("X", b"s3cr3t-auth-data")
    assert Settings(URI, protocol="5", auth_method="X").authenticator_of() == Authenticator("X")
    assert Settings(URI).authenticator_of() is None
    packet = Settings(URI, protocol="5", authenticator=given).connect_packet("gw1")
    assert packet.properties.authentication_method == "KERBEROS"
    assert packet.properties.authentication_data == b"ticket"


def test_auth_data_is_read_for_each_connect(data_file: Path) -> None:
    # As a password file: a token renewed in the file is the next CONNECT's.
    settings = Settings(URI, protocol="5", auth_method="X", auth_data_file=str(data_file))
    assert settings.connect_packet("a").properties.authentication_data == b"s3cr3t-auth-data"
    data_file.write_bytes(b"renewed")
    assert settings.connect_packet("a").properties.authentication_data == b"renewed"
    data_file.unlink()
    with pytest.raises(InvalidSettings) as caught:
        settings.connect_packet("a")
    assert caught.value.problems[0][0] == "auth_data_file"


def test_a_connection_of_checked_settings_reads_the_auth_data_file_once(
    data_file: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    reads: list[str] = []

    def counted(path: str) -> bytes:
        reads.append(path)
        return read(path)

    read = settings_module._read_auth_data
    monkeypatch.setattr(settings_module, "_read_auth_data", counted)
    settings = Settings(URI, protocol="5", auth_method="X", auth_data_file=str(data_file))
    prepare(settings)  # the check reads it too (data a CONNECT cannot carry is its problem)
    reads.clear()
    attempt = prepare(settings)  # checked already: the CONNECT's read is the only one
    assert reads == [str(data_file)]
    assert attempt.session.authenticator == Authenticator("X", b"s3cr3t-auth-data")
    assert attempt.session.connect_packet.properties.authentication_data == b"s3cr3t-auth-data"


# ---------------------------------------------------------------------------- files


def test_the_file_keys_round_trip(data_file: Path) -> None:
    settings = Settings(
        URI,
        protocol="5",
        session_expiry=4_294_967_295,
        receive_maximum=1,
        user_properties=(("a", "b=c"), ("a", " spaced "), ("é", "")),
        request_problem_information=False,
        auth_method="X",
        auth_data_file=str(data_file),
        follow_redirects=True,
    )
    text = config.dumps(settings)
    assert 'user_properties = ["a=b=c", "a= spaced ", "é="]' in text
    assert "s3cr3t" not in text
    assert config.loads(text) == settings


def test_a_file_for_3_1_1_says_nothing_of_mqtt5() -> None:
    text = config.dumps(Settings(URI, client_id="gw1"))
    for field in MQTT5_FIELDS:
        assert field.name not in text


def test_a_user_property_name_with_an_equals_sign_is_not_written() -> None:
    settings = Settings(URI, protocol="5", user_properties=(("a=b", "c"),))
    assert settings.problems() == []  # the library sends it
    with pytest.raises(InvalidSettings) as caught:
        config.dumps(settings)
    assert caught.value.problems[0][0] == "user_properties"


@pytest.mark.parametrize(
    ("lines", "field", "reason"),
    [
        ('session_expiry = "30"', "session_expiry", "expected a whole number, got a string"),
        ("session_expiry = -1", "session_expiry", "expected whole seconds 0..4,294,967,295"),
        ("session_expiry = 4294967296", "session_expiry", "expected whole seconds"),
        ("receive_maximum = 0", "receive_maximum", "expected 1..65,535"),
        ('user_properties = "a=b"', "user_properties", "expected a list of strings"),
        ('user_properties = ["ab"]', "user_properties[0]", "expected NAME=VALUE, got 2 char"),
        ('user_properties = ["=b"]', "user_properties[0]", "expected NAME=VALUE with a name"),
        ("request_problem_information = 1", "request_problem_information", "expected true"),
        ('auth_data_file = "/etc/hostname"', "auth_data_file", "expected auth_method with it"),
        ('follow_redirects = "true"', "follow_redirects", "expected true or false"),
        ("authenticator = 1", "authenticator", "unknown key"),
        ("server_assigns_id = true", "server_assigns_id", "unknown key"),
    ],
)
def test_file_mistakes_name_their_key(lines: str, field: str, reason: str) -> None:
    text = f'server_uri = "{URI}"\nprotocol = "5"\n{lines}\n'
    with pytest.raises(InvalidSettings) as caught:
        config.loads(text)
    problems = caught.value.problems
    assert any(f == field and r.startswith(reason) for f, r in problems), problems


def test_a_file_with_mqtt5_keys_and_protocol_3_1_1_names_each(tmp_path: Path) -> None:
    path = tmp_path / "gateway.toml"
    path.write_text(f'server_uri = "{URI}"\nsession_expiry = 60\nfollow_redirects = true\n')
    with pytest.raises(InvalidSettings) as caught:
        config.load(str(path))
    assert [f for f, _ in caught.value.problems] == ["session_expiry", "follow_redirects"]


def test_config_show_and_check(
    tmp_path: Path, data_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "gateway.toml"
    path.write_text(
        f'server_uri = "{URI}"\nclient_id = "gw1"\nprotocol = "5"\n'
        f'auth_method = "X"\nauth_data_file = "{data_file}"\n'
        'user_properties = ["site=plant 3"]\n'
    )
    assert cli.main(["config", "check", str(path)]) == 0
    assert cli.main(["config", "show", str(path)]) == 0
    shown = capsys.readouterr().out
    assert f'auth_data_file = "{data_file}"' in shown
    assert 'user_properties = ["site=plant 3"]' in shown
    assert "s3cr3t" not in shown


def test_the_template_checks_clean(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "gateway.toml"
    assert cli.main(["config", "init", str(path)]) == 0
    assert cli.main(["config", "check", str(path)]) == 0
    text = path.read_text()
    for key in ("session_expiry = 0", "# receive_maximum = 20", "# auth_data_file = "):
        assert key in text, text


# ---------------------------------------------------------------------------- options


def _cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str]:
    try:
        code = cli.main(list(argv))
    except SystemExit as exc:  # argparse's refusal of an option
        code = int(exc.code or 0)
    out = capsys.readouterr()
    text = out.out + out.err
    assert "Traceback" not in text, text
    return code, text


#: Each MQTT 5.0 option with only what it needs, and the field it sets.
OPTIONS = [
    (["--session-expiry", "60"], "session_expiry", 60),
    (["--receive-maximum", "20"], "receive_maximum", 20),
    (["--max-packet-size", "4096"], "max_packet_size", 4096),
    (["--user-property", "site=plant 3"], "user_properties", (("site", "plant 3"),)),
    (["--no-request-problem-information"], "request_problem_information", False),
    (["--request-problem-information"], "request_problem_information", True),
    (["--auth-method", "SCRAM-SHA-256"], "auth_method", "SCRAM-SHA-256"),
    (["--follow-redirects"], "follow_redirects", True),
    (["--no-follow-redirects"], "follow_redirects", False),
]


@pytest.mark.parametrize(("argv", "name", "value"), OPTIONS, ids=[o[0][0] for o in OPTIONS])
def test_each_option_reaches_its_field_and_runs(
    argv: list[str], name: str, value: object, capsys: pytest.CaptureFixture[str]
) -> None:
    args = cli._parser("test").parse_args(["test", URI, "--protocol", "5", *argv])
    settings, _ = cli._settings(args, [])
    assert getattr(settings, name) == value
    # Against a closed port: refused there, not before (the settings are fine).
    code, text = _cli(capsys, "test", URI, "--protocol", "auto", "-t", "2", *argv)
    assert "invalid-settings" not in text, text
    assert code not in (0, 2, 70), text


def test_the_auth_data_file_option(data_file: Path, capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["--auth-method", "X", "--auth-data-file", str(data_file)]
    args = cli._parser("test").parse_args(["test", URI, "--protocol", "5", *argv])
    settings, _ = cli._settings(args, [])
    assert settings.auth_data_file == str(data_file)
    code, text = _cli(capsys, "test", URI, "--protocol", "auto", "-t", "2", *argv)
    assert code not in (0, 2, 70), text
    assert "s3cr3t" not in text


def test_user_properties_repeat_in_order(capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["--user-property", "a=1", "--user-property", "b==2", "--user-property", "a="]
    args = cli._parser("test").parse_args(["test", URI, *argv])
    settings, _ = cli._settings(args, [])
    assert settings.user_properties == (("a", "1"), ("b", "=2"), ("a", ""))


@pytest.mark.parametrize(
    ("argv", "named"),
    [
        (["--session-expiry", "-1"], "--session-expiry"),
        (["--session-expiry", "4294967296"], "--session-expiry"),
        (["--session-expiry", "soon"], "--session-expiry"),
        (["--receive-maximum", "0"], "--receive-maximum"),
        (["--receive-maximum", "65536"], "--receive-maximum"),
        (["--user-property", "novalue"], "--user-property"),
        (["--user-property", "=v"], "--user-property"),
        (["--max-packet-size", "big"], "--max-packet-size"),
        (["--protocol", "5.0"], "--protocol"),
    ],
)
def test_bad_option_values_exit_2_naming_the_option(
    argv: list[str], named: str, capsys: pytest.CaptureFixture[str]
) -> None:
    code, text = _cli(capsys, "test", URI, "--protocol", "5", *argv)
    assert code == 2, text
    assert named in text, text


@pytest.mark.parametrize(
    ("argv", "field"),
    [
        (["--session-expiry", "60"], "session_expiry"),
        (["--receive-maximum", "5"], "receive_maximum"),
        (["--user-property", "a=b"], "user_properties"),
        (["--no-request-problem-information"], "request_problem_information"),
        (["--auth-method", "X"], "auth_method"),
        (["--follow-redirects"], "follow_redirects"),
    ],
)
def test_an_mqtt5_option_with_protocol_3_1_1_exits_2_naming_the_field(
    argv: list[str], field: str, capsys: pytest.CaptureFixture[str]
) -> None:
    code, text = _cli(capsys, "test", URI, *argv)
    assert code == 2, text
    assert f"{field}: needs protocol 5 or auto" in text, text


def test_an_auth_data_file_without_a_method_exits_2(
    data_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, text = _cli(capsys, "test", URI, "--protocol", "5", "--auth-data-file", str(data_file))
    assert code == 2, text
    assert "auth_data_file: expected auth_method with it" in text, text


def test_the_help_lists_every_mqtt5_option(capsys: pytest.CaptureFixture[str]) -> None:
    for command in ("test", "monitor"):
        code, text = _cli(capsys, command, "--help")
        assert code == 0
        assert "MQTT 5.0 (--protocol 5 or auto)" in text
        for field in MQTT5_FIELDS:
            for option in field.options:
                assert option.flags[0] in text, (command, option.flags)
        assert "auto: 5, then 3.1.1, then 3.1" in " ".join(text.split())


# ---------------------------------------------------------------------------- test's output


NEGOTIATED: dict[str, Any] = {
    "keep_alive": 30,
    "keep_alive_from": "server",
    "assigned_client_id": "auto-\x1b[31mID",
    "session_expiry_interval": 0,
    "receive_maximum": 20,
    "maximum_packet_size": 1_048_576,
    "maximum_qos": 1,
    "retain_available": True,
    "wildcard_subscription_available": True,
    "subscription_identifier_available": False,
    "shared_subscription_available": True,
    "topic_alias_maximum": 10,
    "server_reference": None,
    "response_information": "resp\r\nOK: fake",
    "reason_string": None,
    "user_properties": [["region", "eu\x07"]],
    "authentication_method": None,
}


def _result(ok: bool, properties: dict[str, Any] | None, protocol: str = "5") -> TestResult:
    if ok:
        return TestResult(
            True,
            0,
            "connected",
            "connected to mqtt://h:1883 (127.0.0.1:1883) as gw1",
            "mqtt://h:1883",
            "gw1",
            return_code=0,
            return_code_text="connection accepted",
            session_present=False,
            protocol=protocol,
            properties=properties,
        )
    return TestResult(
        False,
        6,
        "refused",
        "the server refused",
        "mqtt://h:1883",
        "gw1",
        protocol=protocol,
        properties=properties,
    )


def test_the_negotiated_properties_follow_the_ok_line() -> None:
    lines = report(_result(True, NEGOTIATED), "5")
    at = next(i for i, line in enumerate(lines) if line.startswith("OK: "))
    assert lines[at + 1] == "negotiated (MQTT 5.0):"
    rows = dict(re.split(r"\s{2,}", line.strip(), maxsplit=1) for line in lines[at + 2 :])
    assert rows == {
        "keep-alive": "30 s (the server's)",
        "assigned client ID": "auto-\\x1b[31mID",
        "session expiry": "0 s",
        "receive maximum": "20",
        "maximum packet size": "1,048,576 bytes",
        "maximum QoS": "1",
        "available": "retain yes, wildcard subscriptions yes, subscription identifiers no, "
        "shared subscriptions yes",
        "topic alias maximum": "10",
        "response information": "resp OK: fake",
        "user properties": "region=eu\\x07",
    }
    for line in lines:
        assert line.isprintable(), line


def test_no_limit_and_our_keep_alive() -> None:
    properties = {**NEGOTIATED, "maximum_packet_size": None, "keep_alive_from": "client"}
    text = "\n".join(negotiated(properties))
    assert "no limit" in text and "30 s (ours)" in text


def test_below_5_nothing_more_is_said() -> None:
    lines = report(_result(True, None, "3.1.1"), "3.1.1")
    assert lines[-1].startswith("OK: ")
    assert not any("protocol" in line for line in lines)


def test_auto_says_the_version_it_ended_with() -> None:
    lines = report(_result(True, None, "3.1.1"), "auto")
    assert "  protocol: MQTT 3.1.1 (auto)" in lines


def test_a_refusal_says_the_reason_string_and_server_reference() -> None:
    properties = {**NEGOTIATED, "reason_string": "go\x1b]0;away", "server_reference": "b2:1883"}
    properties["user_properties"] = []
    lines = report(_result(False, properties), "5")
    assert lines[-3].startswith("FAILED (refused, exit 6)")
    assert lines[-2:] == ["  reason string: go\\x1b]0;away", "  server reference: b2:1883"]


def test_the_wizard_reports_as_test_does(tmp_path: Path) -> None:
    from pco_wire.dialogue import Dialogue
    from pco_wire.wizard import _report

    out = io.StringIO()
    settings = Settings("mqtt://h", protocol="5")  # the port is the default: 1883
    _report(Dialogue(io.StringIO(), out, False), _result(True, NEGOTIATED), settings)
    assert out.getvalue().splitlines() == report(_result(True, NEGOTIATED), "5")


# ---------------------------------------------------------------------------- monitor


def test_monitor_json_carries_what_the_server_said() -> None:
    error = ServerDisconnected(
        ReasonCode(0x9C),
        DisconnectProperties(reason_string="maintenance", server_reference="b2.plant:1883"),
    )
    assert server_said(error) == {
        "reason_code": 0x9C,
        "reason_string": "maintenance",
        "server_reference": "b2.plant:1883",
    }
    refused = ServerRefused(ReasonCode(0x87))
    assert server_said(refused) == {
        "reason_code": 0x87,
        "reason_string": None,
        "server_reference": None,
    }
    assert server_said(ServerRefused(ConnAckCode(5))) == {}
    assert server_said(OSError("reset")) == {}


# ---------------------------------------------------------------------------- the wizard

MQTT5_QUESTIONS = [
    "maximum packet size",
    "session expiry",
    "receive maximum",
    "user property",
    "request problem information?",
    "authentication method",
]
BEFORE = ["scheme", "host", "port", "client ID", "user name", "password source"]
BEFORE += ["response timeout", "keep-alive", "clean session", "protocol"]


def test_the_wizard_asks_the_mqtt5_questions_for_5(tmp_path: Path, data_file: Path) -> None:
    path = tmp_path / "gateway.toml"
    answers = ["mqtt", "127.0.0.1", "1", "gw1", "", "", "", "", "", "5"]
    answers += ["65536", "3600", "20", "site=plant 3", "site=line 4", "", "n"]
    answers += ["SCRAM-SHA-256", str(data_file), "", "", "n", ""]
    run = run_wizard(path, answers)
    assert run.code == 0, run
    questions = [*MQTT5_QUESTIONS[:4], "user property", "user property", *MQTT5_QUESTIONS[4:]]
    asked = run.asked()
    assert asked == [
        *BEFORE,
        *questions,
        "authentication data file",
        "proxy",
        "add a will?",
        "Test the connection now?",
        "Save to",
    ], run
    assert re.search(r"^  session expiry +3,600 s$", run.output, re.MULTILINE), run
    assert re.search(r"^  user properties +site=plant 3, site=line 4$", run.output, re.M), run
    assert "s3cr3t" not in run.output
    assert config.load(str(path))[0] == Settings(
        "mqtt://127.0.0.1:1",
        client_id="gw1",
        protocol="5",
        max_packet_size=65536,
        session_expiry=3600,
        receive_maximum=20,
        user_properties=(("site", "plant 3"), ("site", "line 4")),
        request_problem_information=False,
        auth_method="SCRAM-SHA-256",
        auth_data_file=str(data_file),
    )


def test_the_wizard_asks_no_data_file_without_a_method(tmp_path: Path) -> None:
    path = tmp_path / "gateway.toml"
    answers = ["mqtt", "", "", "gw1", "", "", "", "", "", "auto", *[""] * 7, "", "n", ""]
    run = run_wizard(path, answers)
    assert run.code == 0, run
    assert run.asked() == [
        *BEFORE,
        *MQTT5_QUESTIONS,
        "proxy",
        "add a will?",
        *["Test the connection now?", "Save to"],
    ], run
    assert config.load(str(path))[0] == Settings(
        "mqtt://localhost:1883", client_id="gw1", protocol="auto"
    )


def test_the_wizard_offers_the_files_mqtt5_values_and_clears_them(tmp_path: Path) -> None:
    path = tmp_path / "gateway.toml"
    config.save(
        Settings(
            URI,
            client_id="gw1",
            protocol="5",
            receive_maximum=20,
            user_properties=(("a", "b"),),
            auth_method="X",
        ),
        str(path),
    )
    # Enter keeps; "-" clears the receive maximum; "n" drops the user properties;
    # "-" clears the method.
    answers = [
        "",
        "",
        "",
        "",
        "",
        "",
        "",
        "",
        "",
        "",
        "",
        "",
        "-",
        "n",
        "",
        "",
        "-",
        "",
        "",
        "n",
        "",
    ]
    run = run_wizard(path, answers)
    assert run.code == 0, run
    assert run.default("receive maximum") == "20"
    assert "keep the user properties (a=b)?" in run.prompts[13]
    assert config.load(str(path))[0] == Settings(URI, client_id="gw1", protocol="5")


def test_the_wizard_leaves_mqtt5_settings_out_below_5(tmp_path: Path) -> None:
    path = tmp_path / "gateway.toml"
    config.save(
        Settings(URI, client_id="gw1", protocol="5", session_expiry=60, follow_redirects=True),
        str(path),
    )
    answers = ["", "", "", "", "", "", "", "", "", "3.1.1", "", "", "n", ""]
    run = run_wizard(path, answers)
    assert run.code == 0, run
    assert not set(MQTT5_QUESTIONS) & set(run.asked()), run
    assert (
        "protocol 3.1.1 takes no MQTT 5.0 settings: session_expiry, follow_redirects left out"
        in run.output
    )
    assert config.load(str(path))[0] == Settings(URI, client_id="gw1")


def test_a_bad_mqtt5_answer_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "gateway.toml"
    answers = ["mqtt", "", "", "gw1", "", "", "", "", "", "5", "", "-5"]
    run = run_wizard(path, answers)
    assert run.code == 2, run
    assert (
        "invalid answer to 'session expiry': expected whole seconds 0..4,294,967,295" in run.output
    )
    answers = ["mqtt", "", "", "gw1", "", "", "", "", "", "5", "", "", "", "novalue"]
    run = run_wizard(path, answers)
    assert run.code == 2, run
    assert "invalid answer to 'user property': expected NAME=VALUE" in run.output
    assert not path.exists()


@pytest.mark.parametrize(("protocol", "least"), [("3.1.1", 4), ("3.1", 4), ("5", 5), ("auto", 5)])
def test_the_maximum_packet_size_holds_at_least_a_connack(protocol: str, least: int) -> None:
    # MQTT 5.0 §3.2: a CONNACK is 5 bytes at least there (its property length); a smaller
    # limit would refuse every server's answer, and the server closes, said as a close.
    settings = Settings("mqtt://b", protocol=protocol, max_packet_size=least)
    assert settings.problems() == []
    assert settings.replace(max_packet_size=least - 1).problems() == [
        (
            "max_packet_size",
            f"expected bytes {least}..268,435,460"
            + (" in MQTT 5.0 (its smallest CONNACK)" if least == 5 else "")
            + f", got {least - 1}",
        )
    ]
