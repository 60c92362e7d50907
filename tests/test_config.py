"""Settings files (pco_wire.config) and the client identity kept in them.

The writer is ours, so it is held to a round-trip property: any valid Settings → dumps →
tomllib → from_dict gives equal settings. Then the reader's promises: documented
defaults, unknown keys named with the nearest known one, every problem reported at once,
TOML and type mistakes on their field. Saving is atomic and keeps permissions, except that
a file holding a password becomes its owner's only. Through ``python -m pco_wire``: a
blank client ID is generated, kept in the file (comments and all) and is exactly the ID
that goes out in the CONNECT, seen through a recording relay in front of Mosquitto;
command-line options override the file; ``config show|check|init``.
"""

from __future__ import annotations

import errno
import json
import os
import stat
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from pco_wire import cli, config
from pco_wire.errors import InvalidSettings
from pco_wire.settings import (
    PROTOCOLS,
    TLS_VERSIONS,
    Security,
    Settings,
    WillSettings,
    check_client_id,
    generate_client_id,
)
from tests.broker import Broker
from tests.peers import (
    ROOT,
    CliRun,
    Peer,
    Peers,
    mqtt_server,
    packet_name,
    relay,
    run_cli,
    silent,
)

if sys.version_info >= (3, 11):
    import tomllib
else:
    import tomli as tomllib

#: Set for the whole module, so that password_env / keyfile_password_env settings are valid.
PASSWORD_VAR = "PCO_WIRE_CONFIG_TEST_PASSWORD"
PASSWORD_VALUE = "from-the-environment"
UNSET_VAR = "PCO_WIRE_CONFIG_TEST_SURELY_UNSET"
SUBPROCESS_TIMEOUT = 20.0
TEMPLATE_URI_LINE = 'server_uri = "mqtt://localhost:1883"'
BLANK_ID_LINE = 'client_id = ""'


@pytest.fixture
def peers() -> Iterator[Peers]:
    with Peers.running() as running:
        yield running


@pytest.fixture(scope="module", autouse=True)
def password_variable() -> Iterator[None]:
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv(PASSWORD_VAR, PASSWORD_VALUE)
        patch.delenv(UNSET_VAR, raising=False)
        yield


@dataclass(frozen=True)
class Files:
    """Real files for the settings that must name existing ones; their names hold a
    quote, a backslash and a non-ASCII letter, for the writer's sake."""

    cafile: str
    cadir: str
    certfile: str
    keyfile: str
    password_file: str
    keyfile_password_file: str
    auth_data_file: str


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> Files:
    directory = tmp_path_factory.mktemp("config-files")
    made: dict[str, str] = {}
    for name, file_name in (
        ("cafile", 'ca "plant" é.pem'),
        ("certfile", "client\\cert.pem"),
        ("keyfile", "client key.pem"),
        ("password_file", "pass'word"),
        ("keyfile_password_file", "key-password.txt"),
        ("auth_data_file", 'auth "data" é.bin'),
    ):
        path = directory / file_name
        path.write_text("contents do not matter here\n")
        made[name] = str(path)
    cadir = directory / "hashed ca dir"
    cadir.mkdir()
    return Files(cadir=str(cadir), **made)


# ---------------------------------------------------------------------------- strategies

#: Text with quotes, backslashes, every control character, non-ASCII (no lone surrogate:
#: those are not text a file can hold).
any_text = st.text(st.characters(codec="utf-8"), max_size=40)
tricky_text = st.one_of(
    any_text,
    st.sampled_from(
        [
            '"',
            "\\",
            '\\"',
            "'''",
            '"""',
            "\x00\x01\x1f\x7f",
            "\b\t\n\f\r",
            "é ü ß 漢字 🚀",
            "\u2028\u2029\ufeff\ufffe",
            "trailing \\",
            " spaced ",
            "# not a comment",
            'key = "value"\n[table]',
        ]
    ),
)
client_ids = st.text(
    "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ", min_size=1, max_size=23
)
TOKEN = "!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
header_names = st.text(TOKEN, min_size=1, max_size=20).filter(
    lambda n: (
        n.lower() not in ("host", "upgrade", "connection")
        and not n.lower().startswith("sec-websocket-")
    )
)
# A header value's surrounding whitespace is not part of it (RFC 9110 §5.5): see
# test_header_value_with_surrounding_spaces_round_trips for what the writer does with it.
header_values = any_text.filter(lambda v: not any(c in v for c in "\r\n\0") and v == v.strip())
#: An MQTT 5.0 string (§1.5.4): no U+0000.
property_text = tricky_text.filter(lambda t: "\0" not in t)
timeouts = st.one_of(
    st.integers(1, 999_999),
    # From 0.1 s: the floor of the reconnection delays, which draw from this too.
    st.floats(min_value=0.1, max_value=1e6, exclude_max=True),
)
hosts = st.sampled_from(["127.0.0.1", "localhost", "broker.plant.local", "[::1]", "10.20.0.5"])


@st.composite
def uris(draw: st.DrawFn, scheme: str) -> tuple[str, str | None]:
    """A server URI of ``scheme`` and its user name, if it has one."""
    user = draw(st.none() | st.text("abcXYZ019-._~", min_size=1, max_size=8))
    userinfo = ""
    if user is not None:
        secret = draw(st.none() | st.text("abcXYZ019-._~!$&'()*+,;=", min_size=1, max_size=8))
        userinfo = user + ("" if secret is None else ":" + secret) + "@"
    port = draw(st.none() | st.integers(1, 65535))
    rest = ""
    if scheme in ("ws", "wss"):
        rest = draw(st.sampled_from(["", "/", "/mqtt", "/a/b", "/mqtt?x=1&token=abc"]))
    netloc = draw(hosts) + ("" if port is None else f":{port}")
    return f"{scheme}://{userinfo}{netloc}{rest}", user


@st.composite
def secret_source(draw: st.DrawFn, file: str) -> dict[str, str]:
    """None, or exactly one of a value, a set variable, an existing file (as keywords
    with the suffixes "", "_env", "_file")."""
    kind = draw(st.sampled_from(["none", "value", "env", "file"]))
    if kind == "value":
        return {"": draw(tricky_text)}
    if kind == "env":
        return {"_env": PASSWORD_VAR}
    if kind == "file":
        return {"_file": file}
    return {}


@st.composite
def securities(draw: st.DrawFn, files: Files) -> Security:
    certfile = draw(st.none() | st.just(files.certfile))
    keyfile = draw(st.none() | st.just(files.keyfile)) if certfile else None
    key_password = draw(secret_source(files.keyfile_password_file))
    return Security(
        cafile=draw(st.sampled_from([None, files.cafile, files.cadir])),
        certfile=certfile,
        keyfile=keyfile,
        verify_hostname=draw(st.booleans()),
        insecure=draw(st.booleans()),
        server_name=draw(st.none() | st.sampled_from(["broker.plant.local", "localhost", "::1"])),
        alpn=tuple(
            draw(
                st.lists(
                    # ALPN names are ASCII: Python's ssl refuses others.
                    st.text(st.characters(codec="ascii"), min_size=1, max_size=20),
                    max_size=3,
                )
            )
        ),
        tls_min_version=draw(st.sampled_from(TLS_VERSIONS)),
        keyfile_password=key_password.get(""),
        keyfile_password_env=key_password.get("_env"),
        keyfile_password_file=key_password.get("_file"),
    )


@st.composite
def valid_settings(draw: st.DrawFn, files: Files) -> Settings:
    scheme = draw(st.sampled_from(["mqtt", "mqtts", "ws", "wss"]))
    uri, uri_user = draw(uris(scheme))
    password = draw(secret_source(files.password_file))
    # A user name is an MQTT string: no U+0000 (MQTT 3.1.1 §1.5.3).
    user_names = tricky_text.filter(lambda t: "\0" not in t)
    username = draw(st.none() | user_names)
    if password and username is None and uri_user is None:
        username = draw(user_names)
    clean_session = draw(st.booleans())
    client_id = draw(client_ids) if not clean_session else draw(st.just("") | client_ids)
    will = None
    if draw(st.booleans()):
        will = WillSettings(
            topic=draw(tricky_text.filter(lambda t: t and not any(c in t for c in "+#\0"))),
            message=draw(tricky_text),
            qos=draw(st.integers(0, 2)),
            retain=draw(st.booleans()),
        )
    security = draw(securities(files)) if scheme in ("mqtts", "wss") else Security()
    delays = sorted([draw(timeouts), draw(timeouts)])
    protocol = draw(st.sampled_from(sorted(PROTOCOLS)))
    mqtt5: dict[str, Any] = {}
    if protocol in ("5", "auto") and draw(st.booleans()):
        method = draw(st.none() | property_text.filter(bool))
        mqtt5 = {
            "session_expiry": draw(st.integers(0, 4_294_967_295)),
            "receive_maximum": draw(st.none() | st.integers(1, 65535)),
            "user_properties": tuple(
                draw(
                    st.lists(
                        # A name with "=" cannot be written (see the test of it).
                        st.tuples(
                            property_text.filter(lambda n: n and "=" not in n), property_text
                        ),
                        max_size=4,
                    )
                )
            ),
            "request_problem_information": draw(st.booleans()),
            "auth_method": method,
            "auth_data_file": draw(st.none() | st.just(files.auth_data_file)) if method else None,
            "follow_redirects": draw(st.booleans()),
        }
    headers: tuple[tuple[str, str], ...] = ()
    if scheme in ("ws", "wss"):
        headers = tuple(draw(st.lists(st.tuples(header_names, header_values), max_size=3)))
    return Settings(
        server_uri=uri,
        client_id=client_id,
        username=username,
        response_timeout=draw(timeouts),
        keep_alive=draw(st.integers(0, 65535)),
        clean_session=clean_session,
        protocol=protocol,
        will=will,
        security=security,
        ws_headers=headers,
        password=password.get(""),
        password_env=password.get("_env"),
        password_file=password.get("_file"),
        reconnect=draw(st.booleans()),
        reconnect_min_delay=delays[0],
        reconnect_max_delay=delays[1],
        # The smallest CONNACK: 4 bytes, 5 in MQTT 5.0.
        max_packet_size=draw(st.integers(5 if protocol in ("5", "auto") else 4, 268_435_460)),
        **mqtt5,
    )


PROPERTY = hypothesis_settings(max_examples=300, deadline=None)


# ---------------------------------------------------------------------------- round trip


@PROPERTY
@given(data=st.data())
def test_any_valid_settings_round_trip(files: Files, data: st.DataObject) -> None:
    settings = data.draw(valid_settings(files), label="settings")
    assert settings.problems() == [], "the strategy made invalid settings"

    text = config.dumps(settings)
    document = tomllib.loads(text)

    assert document == config.to_dict(settings), text
    assert config.from_dict(document) == settings, text
    assert config.loads(text) == settings, text


@PROPERTY
@given(data=st.data())
def test_a_saved_file_is_exactly_to_dict(
    files: Files, tmp_path_factory: pytest.TempPathFactory, data: st.DataObject
) -> None:
    settings = data.draw(valid_settings(files), label="settings")
    path = tmp_path_factory.mktemp("saved") / "gateway.toml"

    config.save(settings, str(path))

    with path.open("rb") as handle:
        assert tomllib.load(handle) == config.to_dict(settings)
    loaded, _ = config.load(str(path))
    assert loaded == settings


def test_secrets_with_every_awkward_character_round_trip(files: Files) -> None:
    awkward = 'q"uote \\back\\slash \x00\x01\x08\t\n\x0b\x0c\r\x1b\x7f é€𝄞 \\u0041 """'
    settings = Settings(
        "wss://gw@127.0.0.1/mqtt",
        password=awkward,
        will=WillSettings(awkward.replace("\x00", ""), awkward, 2, True),
        security=Security(
            cafile=files.cafile,
            certfile=files.certfile,
            keyfile=files.keyfile,
            keyfile_password=awkward,
            alpn=(awkward.encode("ascii", "ignore").decode(),),  # ALPN names are ASCII
        ),
        ws_headers=(("Authorization", 'Bearer é\\"x\x01y'),),
    )
    assert settings.problems() == []

    assert config.loads(config.dumps(settings)) == settings


def test_header_value_with_surrounding_spaces_is_refused() -> None:
    # The file format ("Name: value", as --ws-header) cannot keep spaces around a value,
    # so Settings refuses them: "any valid settings -> file -> equal settings" holds.
    settings = Settings("ws://127.0.0.1", ws_headers=(("X-Plant", " line 3 "),))
    assert settings.problems() == [
        ("ws_headers", "expected no spaces around the value of 'X-Plant'")
    ]


# ---------------------------------------------------------------------------- reading


def _quoted(text: str) -> str:
    """A TOML basic string for the plain text tests put in files (not the writer's)."""
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _problems(text: str) -> list[tuple[str, str]]:
    with pytest.raises(InvalidSettings) as caught:
        config.loads(text)
    return caught.value.problems


def _fields(text: str) -> list[str]:
    return [field for field, _ in _problems(text)]


def test_missing_keys_take_the_documented_defaults() -> None:
    settings = config.loads('server_uri = "mqtt://broker.plant.local"\n')

    assert settings == Settings("mqtt://broker.plant.local")
    assert settings.client_id == ""
    assert (settings.username, settings.password) == (None, None)
    assert (settings.password_env, settings.password_file) == (None, None)
    assert settings.response_timeout == 10.0
    assert settings.keep_alive == 60
    assert settings.clean_session is True
    assert settings.protocol == "3.1.1"
    assert settings.will is None
    assert settings.security == Security()
    assert settings.security.tls_min_version == "1.2"
    assert settings.security.verify_hostname is True
    assert settings.security.insecure is False
    assert settings.ws_headers == ()
    assert settings.reconnect is True
    assert (settings.reconnect_min_delay, settings.reconnect_max_delay) == (1.0, 120.0)
    assert settings.max_packet_size == 1 << 20


def test_missing_keys_of_tables_take_their_defaults(files: Files) -> None:
    settings = config.loads(
        'server_uri = "mqtts://127.0.0.1"\n'
        '[will]\ntopic = "plant/gw/status"\n'
        f"[security]\ncafile = {_quoted(files.cafile)}\n"
    )

    assert settings.will == WillSettings("plant/gw/status", "", 0, False)
    assert settings.security == Security(cafile=files.cafile)


def test_no_server_uri_is_a_problem() -> None:
    assert _fields('client_id = "gw17"\n') == ["server_uri"]


@pytest.mark.parametrize(
    ("text", "field", "suggestion"),
    [
        ('keep_alve = 5\n', "keep_alve", "keep_alive"),
        ("clean_sesion = true\n", "clean_sesion", "clean_session"),
        ("reconect = false\n", "reconect", "reconnect"),
        ("max_packet = 10\n", "max_packet", "max_packet_size"),
        ('[security]\ncafle = "x"\n', "security.cafle", "security.cafile"),
        ("[security]\nverify_host_name = false\n", "security.verify_host_name",
         "security.verify_hostname"),
        ("[will]\nqso = 1\ntopic = 't'\n", "will.qso", "will.qos"),
        ('[securty]\ncafile = "x"\n', "securty", "security"),
        ('[websockets]\nheaders = ["X: y"]\n', "websockets", "websocket"),
        ('[websocket]\nheader = ["X: y"]\n', "websocket.header", "websocket.headers"),
    ],
)  # fmt: skip
def test_unknown_keys_name_the_nearest_known_one(text: str, field: str, suggestion: str) -> None:
    uri = "wss" if "websocket" in text else "mqtts"
    problems = _problems(f'server_uri = "{uri}://127.0.0.1"\n{text}')

    assert problems == [(field, f"unknown key (did you mean {suggestion!r}?)")]


def test_an_unknown_key_like_nothing_known_is_still_named() -> None:
    assert _problems('server_uri = "mqtt://127.0.0.1"\nzzzzqqqq = 1\n') == [
        ("zzzzqqqq", "unknown key")
    ]


def test_every_mistake_of_a_file_is_reported_at_once(files: Files) -> None:
    text = (
        'server_uri = "mqtt://127.0.0.1"\n'
        'client_id = "gate-way-17"\n'  # a character outside the rule
        "keep_alive = 70000\n"  # out of range
        'protocol = "5.0"\n'  # no such version
        'response_timeout = "10"\n'  # wrong type
        "kepp_alive = 1\n"  # unknown key
        'password = "a"\n'
        'password_env = "b"\n'  # two password sources (and no user name)
        "[will]\n"
        'topic = "plant/+/status"\n'  # wildcard
        "qos = 3\n"
        "[security]\n"
        f"cafile = {_quoted(files.cafile)}\n"  # with mqtt://
        "[websocket]\n"
        'headers = ["no colon here"]\n'
    )
    problems = _problems(text)
    fields = [field for field, _ in problems]

    assert sorted(fields) == sorted(
        [
            "kepp_alive",
            "response_timeout",
            "websocket.headers[0]",
            "client_id",
            "protocol",
            "keep_alive",
            "password",
            "username",
            "will.topic",
            "will.qos",
            "security.cafile",
        ]
    ), problems
    assert all(reason.startswith(("expected", "unknown key")) for _, reason in problems), problems


@pytest.mark.parametrize(
    ("line", "field", "expected"),
    [
        ('keep_alive = "60"', "keep_alive", "expected a whole number, got a string '60'"),
        ("keep_alive = 60.0", "keep_alive", "expected a whole number, got a float 60.0"),
        ("keep_alive = true", "keep_alive", "expected a whole number, got a boolean True"),
        ("clean_session = 1", "clean_session", "expected true or false, got an integer 1"),
        ('clean_session = "yes"', "clean_session", "expected true or false, got a string"),
        ("response_timeout = true", "response_timeout", "expected a number of seconds"),
        ('response_timeout = "10"', "response_timeout", "expected a number of seconds"),
        ("client_id = 17", "client_id", "expected a string in quotes, got an integer 17"),
        ("username = [\"a\"]", "username", "expected a string in quotes, got a list"),
        ("protocol = 3.1", "protocol", "expected a string in quotes, got a float 3.1"),
        ('reconnect = "yes"', "reconnect", "expected true or false, got a string 'yes'"),
        ('reconnect_max_delay = "2m"', "reconnect_max_delay", "expected a number of seconds"),
        ('max_packet_size = "1MiB"', "max_packet_size", "expected a whole number"),
        (
            "server_uri = 1883",
            "server_uri",
            'expected a string in quotes, or a list of them, e.g. ["mqtt://a", "mqtt://b"], got '
            "an integer",
        ),
        ("password_file = 1979-05-27", "password_file", "expected a string in quotes, got a date"),
        ('[will]\ntopic = "t"\nqos = "1"', "will.qos", "expected a whole number"),
        ('[will]\ntopic = "t"\nretain = "no"', "will.retain", "expected true or false"),
        ('[security]\nalpn = "mqtt"', "security.alpn", "expected a list of strings"),
        ("[security]\nalpn = [1]", "security.alpn", "expected a list of strings"),
        ("[security]\ntls_min_version = 1.2", "security.tls_min_version",
         "expected a string in quotes, got a float 1.2"),
        ('[websocket]\nheaders = "X: y"', "websocket.headers", "expected a list of strings"),
        ('security = "none"', "security", "expected a [security] table, got a string"),
    ],
)  # fmt: skip
def test_wrong_types_name_the_field_and_the_kind(line: str, field: str, expected: str) -> None:
    # A URI line after a table would belong to the table: it goes first unless replaced.
    uri = "" if line.startswith("server_uri") else 'server_uri = "mqtts://127.0.0.1"\n'
    problems = _problems(uri + line + "\n")

    assert [f for f, _ in problems] == [field], problems
    assert problems[0][1].startswith(expected), problems


def test_a_will_that_is_not_a_table_is_one_problem() -> None:
    # Only the mistake made: not also "will.topic: expected a topic name, got ''" for a
    # [will] table the file does not have.
    problems = _problems('server_uri = "mqtt://127.0.0.1"\nwill = "offline"\n')

    assert problems == [("will", "expected a [will] table, got a string")]


@pytest.mark.parametrize(
    "text",
    [
        'server_uri = "mqtt://127.0.0.1\n',  # unterminated string
        'server_uri = "mqtt://127.0.0.1"\nserver_uri = "mqtt://h"\n',  # duplicate key
        'server_uri = "mqtt://127.0.0.1"\nkeep_alive =\n',  # no value
        'server_uri "mqtt://127.0.0.1"\n',  # no "="
        'server_uri = "mqtt://127.0.0.1"\n[will\ntopic = "t"\n',  # unclosed table
        'server_uri = "bad \\q escape"\n',  # unknown escape
        "server_uri = 'mqtt://127.0.0.1'\x00\n",  # control character
    ],
)
def test_invalid_toml_is_a_problem_of_the_file(text: str, tmp_path: Path) -> None:
    problems = _problems(text)
    assert [field for field, _ in problems] == ["file"], problems
    assert "is not valid TOML" in problems[0][1], problems

    path = tmp_path / "bad.toml"
    path.write_text(text)
    with pytest.raises(InvalidSettings) as caught:
        config.load(str(path))
    assert caught.value.field == "file"
    assert str(path) in caught.value.problems[0][1]


def test_a_file_that_is_not_utf8_is_a_problem_of_the_file(tmp_path: Path) -> None:
    # TOML 1.0: "A TOML file must be a valid UTF-8 encoded Unicode document." A Latin-1
    # "é" must not quietly become U+FFFD in a password.
    path = tmp_path / "latin1.toml"
    path.write_bytes(b'server_uri = "mqtt://127.0.0.1"\nusername = "u"\npassword = "caf\xe9"\n')
    path.chmod(0o600)

    with pytest.raises(InvalidSettings) as caught:
        config.load(str(path))
    assert caught.value.field == "file"


def test_a_file_that_is_not_utf8_is_exit_2_before_any_traffic(peers: Peers, tmp_path: Path) -> None:
    peer = peers.start(silent())
    path = tmp_path / "latin1.toml"
    path.write_bytes(
        f'server_uri = "{peer.uri()}"\nclient_id = ""\nusername = "u"\n'.encode()
        + b'password = "caf\xe9"\nresponse_timeout = 1.0\n'
    )
    path.chmod(0o600)

    run = run_cli("--config", str(path))

    peer.stop()
    assert peer.recordings == [], "a connection was made"
    assert run.code == 2, run
    assert "FAILED (invalid-settings, exit 2)" in run.stderr, run


def test_a_missing_file_is_a_problem_of_the_file(tmp_path: Path) -> None:
    path = tmp_path / "nowhere.toml"
    with pytest.raises(InvalidSettings) as caught:
        config.load(str(path))
    assert caught.value.problems == [
        ("file", f"cannot read {str(path)!r}: No such file or directory")
    ]


# ---------------------------------------------------------------------------- rules through files


def _load_text(tmp_path: Path, text: str) -> Settings:
    path = tmp_path / "gateway.toml"
    path.write_text(text)
    path.chmod(0o600)
    settings, warnings = config.load(str(path))
    assert warnings == []
    return settings


def _load_problems(tmp_path: Path, text: str) -> list[tuple[str, str]]:
    with pytest.raises(InvalidSettings) as caught:
        _load_text(tmp_path, text)
    return caught.value.problems


def test_client_id_of_23_characters_is_accepted_24_refused(tmp_path: Path) -> None:
    uri = 'server_uri = "mqtt://127.0.0.1"\n'
    assert _load_text(tmp_path, uri + f'client_id = "{"a1" * 11}Z"\n').client_id == "a1" * 11 + "Z"

    problems = _load_problems(tmp_path, uri + f'client_id = "{"a" * 24}"\n')
    assert problems == [("client_id", "expected 1 to 23 characters, only 0-9, a-z and A-Z, "
                                      "got 24 characters")]  # fmt: skip


@pytest.mark.parametrize("bad", ["gate-way", "gate_way", "gate way", "gateé"])
def test_client_id_characters_outside_the_rule_are_refused(tmp_path: Path, bad: str) -> None:
    problems = _load_problems(
        tmp_path, f'server_uri = "mqtt://127.0.0.1"\nclient_id = {_quoted(bad)}\n'
    )

    assert [field for field, _ in problems] == ["client_id"], problems
    assert f"got {bad[4]!r} at position 5" in problems[0][1], problems


@pytest.mark.parametrize("scheme", ["mqtt", "ws"])
@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("cafile", "CAFILE"),
        ("insecure", "true"),
        ("alpn", '["mqtt"]'),
        ("tls_min_version", '"1.3"'),
    ],
)
def test_security_keys_with_a_plain_scheme_are_refused(
    tmp_path: Path, files: Files, scheme: str, key: str, value: str
) -> None:
    value = value.replace("CAFILE", _quoted(files.cafile))
    problems = _load_problems(
        tmp_path, f'server_uri = "{scheme}://127.0.0.1"\n[security]\n{key} = {value}\n'
    )

    assert [field for field, _ in problems] == [f"security.{key}"], problems
    assert f"got {scheme}://" in problems[0][1], problems


@pytest.mark.parametrize(
    "sources",
    [
        ("password", "password_env"),
        ("password", "password_file"),
        ("password_env", "password_file"),
        ("password", "password_env", "password_file"),
    ],
)
def test_at_most_one_password_source(
    tmp_path: Path, files: Files, sources: tuple[str, ...]
) -> None:
    values = {"password": '"x"', "password_env": f'"{PASSWORD_VAR}"',
              "password_file": _quoted(files.password_file)}  # fmt: skip
    lines = "".join(f"{source} = {values[source]}\n" for source in sources)
    problems = _load_problems(tmp_path, f'server_uri = "mqtt://127.0.0.1"\nusername = "u"\n{lines}')

    assert problems == [
        ("password", f"expected at most one of password, password_env and password_file, "
                     f"got {', '.join(sources)}")
    ]  # fmt: skip


@pytest.mark.parametrize("source", ["password", "password_env", "password_file"])
def test_each_password_source_alone_is_accepted(tmp_path: Path, files: Files, source: str) -> None:
    values = {"password": '"x"', "password_env": f'"{PASSWORD_VAR}"',
              "password_file": _quoted(files.password_file)}  # fmt: skip
    settings = _load_text(
        tmp_path, f'server_uri = "mqtt://127.0.0.1"\nusername = "u"\n{source} = {values[source]}\n'
    )

    assert settings.resolved_password() is not None


def test_password_env_naming_an_unset_variable_is_refused(tmp_path: Path) -> None:
    problems = _load_problems(
        tmp_path, f'server_uri = "mqtt://127.0.0.1"\nusername = "u"\npassword_env = "{UNSET_VAR}"\n'
    )

    assert problems == [
        ("password_env", f"expected environment variable {UNSET_VAR!r} to be set, it is not")
    ]


@pytest.mark.parametrize(
    ("lines", "field"),
    [
        ('username = "u"\npassword_file = "MISSING"', "password_file"),
        ('[security]\ncafile = "MISSING"', "security.cafile"),
        ('[security]\ncertfile = "MISSING"', "security.certfile"),
        ('[security]\ncertfile = "CERT"\nkeyfile = "MISSING"', "security.keyfile"),
        ('[security]\nkeyfile_password_file = "MISSING"', "security.keyfile_password_file"),
    ],
)
def test_a_file_that_does_not_exist_is_refused(
    tmp_path: Path, files: Files, lines: str, field: str
) -> None:
    missing = str(tmp_path / "does-not-exist.pem")
    text = lines.replace('"MISSING"', _quoted(missing))
    text = text.replace('"CERT"', _quoted(files.certfile))
    problems = _load_problems(tmp_path, f'server_uri = "mqtts://127.0.0.1"\n{text}\n')

    assert [f for f, _ in problems] == [field], problems
    assert repr(missing) in problems[0][1], problems


# ---------------------------------------------------------------------------- saving


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_save_replaces_atomically_and_keeps_the_mode(tmp_path: Path) -> None:
    path = tmp_path / "gateway.toml"
    path.write_text("# the old file\n")
    path.chmod(0o640)
    inode = path.stat().st_ino
    settings = Settings("mqtt://127.0.0.1", client_id="gw17", keep_alive=30)

    config.save(settings, str(path))

    assert path.read_text() == config.dumps(settings)
    assert _mode(path) == 0o640
    assert os.listdir(tmp_path) == ["gateway.toml"], "a temporary file was left"
    # Renamed over the original, not written into it: a reader sees old or new, whole.
    assert path.stat().st_ino != inode


def test_a_new_file_follows_the_umask(tmp_path: Path) -> None:
    path = tmp_path / "gateway.toml"
    previous = os.umask(0o027)
    try:
        config.save(Settings("mqtt://127.0.0.1"), str(path))
    finally:
        os.umask(previous)

    assert _mode(path) == 0o640
    assert os.listdir(tmp_path) == ["gateway.toml"]


@pytest.mark.parametrize("failing", ["replace", "fsync", "write"])
def test_a_failed_save_leaves_the_original_and_no_temporary_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, failing: str
) -> None:
    path = tmp_path / "gateway.toml"
    path.write_text("# the old file\n")

    def fail(*args: Any) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, failing, fail)
    with pytest.raises(InvalidSettings) as caught:
        config.save(Settings("mqtt://127.0.0.1"), str(path))
    monkeypatch.undo()

    assert caught.value.problems == [
        ("file", f"cannot write {str(path)!r}: No space left on device")
    ]
    assert path.read_text() == "# the old file\n"
    assert os.listdir(tmp_path) == ["gateway.toml"]


def _with_password(files: Files, kind: str) -> Settings:
    if kind == "password":
        return Settings("mqtt://127.0.0.1", username="gw", password="s3cret")
    return Settings(
        "mqtts://127.0.0.1",
        security=Security(certfile=files.certfile, keyfile=files.keyfile, keyfile_password="k3y"),
    )


@pytest.mark.parametrize("existing", [0o644, 0o664, 0o640, None])
@pytest.mark.parametrize("kind", ["password", "keyfile_password"])
def test_a_file_holding_a_password_is_its_owners_only(
    tmp_path: Path, files: Files, existing: int | None, kind: str
) -> None:
    path = tmp_path / "gateway.toml"
    if existing is not None:
        path.write_text("# the old file\n")
        path.chmod(existing)

    config.save(_with_password(files, kind), str(path))

    assert _mode(path) == 0o600
    assert os.listdir(tmp_path) == ["gateway.toml"]


def test_a_password_in_the_uri_is_kept_owners_only_too(tmp_path: Path) -> None:
    # A password in server_uri is a password the file holds: config show masks it, so
    # saving must not leave it readable by everyone.
    path = tmp_path / "gateway.toml"
    path.write_text("# the old file\n")
    path.chmod(0o644)

    config.save(Settings("mqtt://gw:s3cret@127.0.0.1"), str(path))

    assert _mode(path) == 0o600


@pytest.mark.parametrize("mode", [0o644, 0o640, 0o604])
@pytest.mark.parametrize("kind", ["password", "keyfile_password"])
def test_loading_a_readable_password_file_warns(
    tmp_path: Path, files: Files, mode: int, kind: str
) -> None:
    path = tmp_path / "gateway.toml"
    path.write_text(config.dumps(_with_password(files, kind)))
    path.chmod(mode)

    _, warnings = config.load(str(path))

    assert len(warnings) == 1, warnings
    assert f"chmod 600 {path}" in warnings[0], warnings


def test_loading_a_password_file_others_cannot_read_is_quiet(tmp_path: Path, files: Files) -> None:
    path = tmp_path / "gateway.toml"
    config.save(_with_password(files, "password"), str(path))
    assert config.load(str(path))[1] == []
    # A file naming a variable holds no secret: readable by all, no warning.
    config.save(Settings("mqtt://127.0.0.1", username="gw", password_env=PASSWORD_VAR), str(path))
    path.chmod(0o644)
    assert config.load(str(path))[1] == []


def test_loading_a_readable_file_with_a_password_in_the_uri_warns(tmp_path: Path) -> None:
    path = tmp_path / "gateway.toml"
    path.write_text('server_uri = "mqtt://gw:s3cret@127.0.0.1"\n')
    path.chmod(0o644)

    _, warnings = config.load(str(path))

    assert any("chmod 600" in warning for warning in warnings), warnings


# ---------------------------------------------------------------------------- generated IDs


def test_generated_ids_are_valid_and_distinct() -> None:
    drawn = [generate_client_id() for _ in range(10_000)]

    assert [i for i in drawn if check_client_id(i) is not None] == []
    assert all(len(i) == 23 and i.startswith("pw") for i in drawn)
    assert len(set(drawn)) == len(drawn)


# ---------------------------------------------------------------------------- on the wire


@dataclass(frozen=True)
class SentConnect:
    """The fields of a CONNECT as the client put it on the wire."""

    protocol_level: int
    flags: int
    keep_alive: int
    client_id: str
    username: str | None
    password: bytes | None


def parse_connect(packet: bytes) -> SentConnect:
    """Decode a CONNECT by hand (MQTT 3.1.1 §3.1), independently of pco_wire's codec."""
    assert packet_name(packet) == "CONNECT", packet.hex(" ")
    remaining, shift, index = 0, 0, 1
    while True:  # §2.2.3 Remaining Length
        byte = packet[index]
        index += 1
        remaining |= (byte & 0x7F) << shift
        shift += 7
        if not byte & 0x80:
            break
    body = packet[index:]
    assert len(body) == remaining, packet.hex(" ")
    # §3.1.2: protocol name "MQTT", level 4, flags, keep-alive: 10 bytes.
    assert body[:6] == b"\x00\x04MQTT", packet.hex(" ")
    level, flags = body[6], body[7]
    keep_alive = int.from_bytes(body[8:10], "big")
    offset = 10

    def field() -> bytes:
        nonlocal offset
        size = int.from_bytes(body[offset : offset + 2], "big")
        value = body[offset + 2 : offset + 2 + size]
        assert len(value) == size, packet.hex(" ")
        offset += 2 + size
        return value

    client_id = field().decode()
    if flags & 0x04:  # §3.1.2.5 will flag: topic and message follow
        field()
        field()
    username = field().decode() if flags & 0x80 else None
    password = field() if flags & 0x40 else None
    assert offset == len(body), packet.hex(" ")
    return SentConnect(level, flags, keep_alive, client_id, username, password)


def _connect_seen(peer: Peer, index: int = 0) -> SentConnect:
    assert len(peer.recordings) > index, (
        f"only {len(peer.recordings)} connections reached the relay"
    )
    packets = peer.recordings[index].packets
    assert packets, "the relay saw no packet"
    return parse_connect(packets[0][1])


def _template_for(uri: str, **replace: str) -> str:
    assert config.TEMPLATE.count(TEMPLATE_URI_LINE) == 1
    assert config.TEMPLATE.count(BLANK_ID_LINE) == 1
    text = config.TEMPLATE.replace(TEMPLATE_URI_LINE, f'server_uri = "{uri}"')
    for old, new in replace.items():
        assert text.count(old) == 1, old
        text = text.replace(old, new)
    return text


def _ok(run: CliRun, broker: Broker) -> None:
    assert run.code == 0, f"{run}\n{broker.log.read_text(errors='replace')}"


def test_a_blank_client_id_is_generated_kept_and_sent(
    broker: Broker, peers: Peers, tmp_path: Path
) -> None:
    peer = peers.start(relay(broker.ports.tcp), connections=2)
    path = tmp_path / "gateway.toml"
    start = _template_for(peer.uri())
    path.write_text(start)

    first = run_cli("--config", str(path))
    _ok(first, broker)

    kept, _ = config.load(str(path))
    sent = _connect_seen(peer, 0)
    assert check_client_id(kept.client_id) is None, kept.client_id
    assert sent.client_id == kept.client_id
    assert f"as {kept.client_id}" in first.stdout, first
    # One line edited: every comment and every other line as it was.
    after = path.read_text()
    assert after == start.replace(BLANK_ID_LINE, f'client_id = "{kept.client_id}"'), after
    comments = [line for line in config.TEMPLATE.splitlines() if line.startswith("#")]
    assert len(comments) > 20 and all(line in after.splitlines() for line in comments)

    before = path.stat()
    second = run_cli("--config", str(path))
    _ok(second, broker)

    assert _connect_seen(peer, 1).client_id == kept.client_id
    assert path.read_text() == after
    now = path.stat()
    assert (now.st_ino, now.st_mtime_ns) == (before.st_ino, before.st_mtime_ns)
    assert os.listdir(tmp_path) == ["gateway.toml"]


@pytest.mark.parametrize(
    "override",
    ["--keep-alive", "uri", "--password-env", "--password"],
)
def test_keeping_a_generated_id_writes_only_the_id(
    broker: Broker, peers: Peers, tmp_path: Path, override: str
) -> None:
    # Command-line options override the file for this run only: writing the generated
    # ID back must not write them (nor a --password) into the file, nor lose its comments.
    peer = peers.start(relay(broker.ports.tcp))
    path = tmp_path / "gateway.toml"
    in_file = "mqtt://127.0.0.1:1" if override == "uri" else peer.uri()
    start = _template_for(
        in_file,
        **{
            "keep_alive = 60": "keep_alive = 30",
            '# username = "gateway"': 'username = "a"',
            '# password_env = "MQTT_PASSWORD"': f'password_env = "{PASSWORD_VAR}"',
        },
    )
    path.write_text(start)
    options = {
        "--keep-alive": ["--keep-alive", "5"],
        "uri": [peer.uri()],
        "--password-env": ["--password-env", "PCO_WIRE_OTHER_VAR"],
        "--password": ["--password", "Command-Line-Secret-1"],
    }[override]

    run = run_cli("--config", str(path), *options, env={"PCO_WIRE_OTHER_VAR": "other"})
    _ok(run, broker)

    kept = _connect_seen(peer).client_id
    after = path.read_text()
    assert "Command-Line-Secret-1" not in after, "a --password was written into the file"
    assert after == start.replace(BLANK_ID_LINE, f'client_id = "{kept}"'), after


@pytest.mark.parametrize("failing", ["replace", "fsync"], ids=["rename-refused", "disk-full"])
def test_an_id_that_cannot_be_kept_sends_nothing(
    peers: Peers,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    failing: str,
) -> None:
    # Root writes into a read-only directory (a read-only file is refused, tested below),
    # so the failure is made
    # in-process instead: the rename (or the flush) of the temporary file fails.
    peer = peers.start(silent())
    path = tmp_path / "gateway.toml"
    start = _template_for(peer.uri(), **{"response_timeout = 10.0": "response_timeout = 1.0"})
    path.write_text(start)
    error = {"replace": (errno.EACCES, "Permission denied"),
             "fsync": (errno.ENOSPC, "No space left on device")}[failing]  # fmt: skip

    def fail(*args: Any) -> None:
        raise OSError(*error)

    with monkeypatch.context() as patch:
        patch.setattr(os, failing, fail)
        code = cli.main(["test", "--config", str(path)])
    out, err = capsys.readouterr()

    peer.stop()
    assert peer.recordings == [], "a connection was made though the ID could not be kept"
    assert code == 2, out + err
    assert path.read_text() == start
    assert os.listdir(tmp_path) == ["gateway.toml"]
    lines = [line for line in (out + err).splitlines() if line.startswith("FAILED")]
    assert len(lines) == 1, out + err
    assert lines[0].startswith("FAILED (invalid-settings, exit 2): "), lines
    assert str(path) in lines[0] and error[1] in lines[0], lines
    # The person must learn why a test wanted to write a file at all.
    assert "client id" in lines[0].lower(), lines


# ---------------------------------------------------------------------------- overrides


def _override_file(tmp_path: Path, uri: str, extra: str = "") -> Path:
    path = tmp_path / "gateway.toml"
    path.write_text(
        f'server_uri = "{uri}"\nclient_id = "cfgOverride17"\nusername = "a"\n'
        f"keep_alive = 30\nresponse_timeout = 5.0\n{extra}"
    )
    path.chmod(0o600)
    return path


@pytest.mark.parametrize(
    ("options", "keep_alive", "username"),
    [
        ([], 30, "a"),
        (["--keep-alive", "5", "--username", "b"], 5, "b"),
        (["--keep-alive", "5"], 5, "a"),
        (["-u", "b"], 30, "b"),
    ],
)
def test_the_command_line_overrides_the_file(
    broker: Broker,
    peers: Peers,
    tmp_path: Path,
    options: list[str],
    keep_alive: int,
    username: str,
) -> None:
    peer = peers.start(relay(broker.ports.tcp))
    path = _override_file(tmp_path, peer.uri())
    start = path.read_text()

    run = run_cli("--config", str(path), *options)
    _ok(run, broker)

    sent = _connect_seen(peer)
    assert (sent.keep_alive, sent.username, sent.client_id) == (
        keep_alive,
        username,
        "cfgOverride17",
    )
    assert path.read_text() == start


def test_the_uri_argument_overrides_server_uri(
    broker: Broker, peers: Peers, tmp_path: Path
) -> None:
    unused = peers.start(silent())
    peer = peers.start(relay(broker.ports.tcp))
    path = _override_file(tmp_path, unused.uri())

    run = run_cli("--config", str(path), peer.uri())
    _ok(run, broker)

    assert _connect_seen(peer).client_id == "cfgOverride17"
    unused.stop()
    assert unused.recordings == [], "the file's server_uri was used"
    assert f"pco_wire test {peer.uri()}" in run.stdout, run


def test_password_env_replaces_the_password_in_the_file(
    broker: Broker, peers: Peers, tmp_path: Path
) -> None:
    peer = peers.start(relay(broker.ports.tcp), connections=2)
    path = _override_file(tmp_path, peer.uri(), 'password = "from-the-file"\n')

    plain = run_cli("--config", str(path))
    _ok(plain, broker)
    replaced = run_cli(
        "--config", str(path), "--password-env", "PCO_WIRE_OTHER_VAR",
        env={"PCO_WIRE_OTHER_VAR": "from-the-variable"},
    )  # fmt: skip
    _ok(replaced, broker)

    assert _connect_seen(peer, 0).password == b"from-the-file"
    assert _connect_seen(peer, 1).password == b"from-the-variable"
    assert _connect_seen(peer, 1).username == "a"


# ---------------------------------------------------------------------------- config commands


def test_config_show_masks_every_secret(tmp_path: Path, files: Files) -> None:
    secrets = {
        "password": "Pw-Secret-0451",
        "keyfile_password": "Key-Secret-0452",
        "header": "Header-Secret-0453",
        "uri": "Uri-Secret-0454",
    }
    settings = Settings(
        f"wss://gw:{secrets['uri']}@127.0.0.1/mqtt",
        username="gw",
        password=secrets["password"],
        security=Security(
            certfile=files.certfile,
            keyfile=files.keyfile,
            keyfile_password=secrets["keyfile_password"],
        ),
        ws_headers=(
            ("Authorization", f"Bearer {secrets['header']}"),
            ("X-Plant", secrets["header"]),
        ),
    )
    assert settings.problems() == []
    path = tmp_path / "gateway.toml"
    config.save(settings, str(path))
    path.chmod(0o644)  # with the warning on stderr as well

    run = run_cli("show", str(path), command="config")

    assert run.code == 0, run
    for name, secret in secrets.items():
        assert secret not in run.stdout + run.stderr, (name, run)
    shown = tomllib.loads(run.stdout)
    # Masked secrets are commented out: the output saved as a file holds no "***" password.
    assert "password" not in shown and "keyfile_password" not in shown["security"]
    assert '# password = "***"  (masked)' in run.stdout.splitlines()
    assert '# keyfile_password = "***"  (masked)' in run.stdout.splitlines()
    assert shown["websocket"]["headers"] == ["Authorization: ***", "X-Plant: ***"]
    assert shown["server_uri"] == "wss://gw:***@127.0.0.1/mqtt"
    assert shown["username"] == "gw"
    assert "chmod 600" in run.stderr, run


def test_config_show_masks_query_values_like_every_other_message(tmp_path: Path) -> None:
    # `test` shows "wss://host/mqtt?token=***" (presigned URLs carry tokens there);
    # `config show` must not print the token either.
    path = tmp_path / "gateway.toml"
    path.write_text('server_uri = "wss://127.0.0.1/mqtt?token=Query-Secret-0455"\n')

    run = run_cli("show", str(path), command="config")

    assert run.code == 0, run
    assert "Query-Secret-0455" not in run.stdout + run.stderr, run


def test_config_check_a_good_file(tmp_path: Path) -> None:
    path = tmp_path / "gateway.toml"
    config.save(Settings("mqtt://127.0.0.1", client_id="gw17"), str(path))

    run = run_cli("check", str(path), command="config")

    assert (run.code, run.stdout, run.stderr) == (0, f"{path}: ok\n", ""), run


def test_config_check_a_bad_file(tmp_path: Path) -> None:
    path = tmp_path / "gateway.toml"
    path.write_text(
        'server_uri = "mqtt://127.0.0.1"\nclient_id = "gate-way"\nkeep_alve = 5\n'
        'protocol = "5.0"\n[will]\ntopic = "a/#"\n'
    )
    with pytest.raises(InvalidSettings) as caught:
        config.load(str(path))
    problems = caught.value.problems

    run = run_cli("check", str(path), command="config")

    assert run.code == 2, run
    lines = run.stdout.splitlines()
    assert lines[0] == f"{path}: 4 problems", run
    assert lines[1:] == [f"  {field}: {reason}" for field, reason in problems], run
    assert sorted(field for field, _ in problems) == sorted(
        ["client_id", "keep_alve", "protocol", "will.topic"]
    )


BAD_FILE = """\
server_uri = "mqtt://127.0.0.1:1"
client_id = "gw17"
keep_alive = "x"
protocol = "5"
session_expiry = -5
receive_maximum = 0
bogus = 1
[proxy]
url = "htp://127.0.0.1:3128"
password = "a"
password_env = "B"
"""


def test_config_check_names_the_files_keys(tmp_path: Path) -> None:
    # The rules of Settings.problems() name fields ("proxy_password"); a file has keys.
    path = tmp_path / "gateway.toml"
    path.write_text(BAD_FILE)
    with pytest.raises(InvalidSettings) as caught:
        config.load(str(path))
    assert [field for field, _ in caught.value.problems] == [
        "bogus",
        "keep_alive",
        "session_expiry",
        "receive_maximum",
        "proxy.password",
        "proxy.url",
    ], caught.value.problems


def test_test_config_says_every_problem_config_check_says(tmp_path: Path) -> None:
    # A file with wrong types and broken rules: every problem at once, both ways alike.
    path = tmp_path / "gateway.toml"
    path.write_text(BAD_FILE)
    check = run_cli("check", str(path), command="config")
    test = run_cli("--config", str(path), "--json")
    problems = [line.strip() for line in check.stdout.splitlines()[1:]]
    assert (check.code, test.code, len(problems)) == (2, 2, 6), (check, test)
    message = json.loads(test.stdout)["message"]
    assert message == "invalid settings: " + "; ".join(problems), (message, problems)
    # An option mends its key: that problem goes, the others stay.
    mended = run_cli("--config", str(path), "--keep-alive", "30", "--proxy", "none")
    said = mended.stdout + mended.stderr
    assert mended.code == 2 and "keep_alive" not in said, mended
    assert "proxy.url" not in said and "session_expiry: " in said, mended


def test_config_check_a_file_that_is_not_toml(tmp_path: Path) -> None:
    path = tmp_path / "gateway.toml"
    path.write_text("server_uri = \n")

    run = run_cli("check", str(path), command="config")

    assert run.code == 2, run
    assert run.stdout.splitlines()[0] == f"{path}: 1 problem", run
    assert run.stdout.splitlines()[1].startswith("  file: "), run


def test_config_init_writes_the_template_and_keeps_an_existing_file(tmp_path: Path) -> None:
    path = tmp_path / "gateway.toml"

    made = run_cli("init", str(path), command="config")
    assert made.code == 0, made
    assert path.read_text() == config.TEMPLATE

    path.write_text("# mine\n")
    refused = run_cli("init", str(path), command="config")
    assert refused.code == 2, refused
    assert "--force" in refused.stderr, refused
    assert path.read_text() == "# mine\n"

    forced = run_cli("init", str(path), "--force", command="config")
    assert forced.code == 0, forced
    assert path.read_text() == config.TEMPLATE


def test_config_init_of_a_directory_says_so_without_offering_force(tmp_path: Path) -> None:
    for extra in ([], ["--force"]):
        run = run_cli("init", str(tmp_path), *extra, command="config")
        assert run.code == 2, run
        assert run.stderr == (
            f"FAILED (invalid-settings, exit 2): {tmp_path} is a directory; name a file\n"
        ), run
    assert list(tmp_path.iterdir()) == []


def test_the_template_loads_and_checks_ok(tmp_path: Path) -> None:
    assert config.loads(config.TEMPLATE) == Settings("mqtt://localhost:1883")

    path = tmp_path / "gateway.toml"
    assert run_cli("init", str(path), command="config").code == 0
    run = run_cli("check", str(path), command="config")

    assert (run.code, run.stdout) == (0, f"{path}: ok\n"), run


# ---------------------------------------------------------------------------- start-up cost

_IMPORTS_PROBE = """\
import sys
from pco_wire.cli import main
code = main(sys.argv[1:])
print("tomllib imported:", "tomllib" in sys.modules or "tomli" in sys.modules, "exit:", code)
"""


def _probe(*args: str) -> str:
    done = subprocess.run(
        [sys.executable, "-c", _IMPORTS_PROBE, "test", *args],
        cwd=ROOT,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=SUBPROCESS_TIMEOUT,
        check=False,
    )
    lines = done.stdout.splitlines()
    assert lines, f"{done.stdout}\n{done.stderr}"
    return lines[-1]


def test_tomllib_is_imported_only_with_a_settings_file(peers: Peers, tmp_path: Path) -> None:
    peer = peers.start(mqtt_server(), connections=2)

    assert _probe(peer.uri()) == "tomllib imported: False exit: 0"

    path = tmp_path / "gateway.toml"
    path.write_text(f'server_uri = "{peer.uri()}"\nclient_id = "gw17"\n')
    assert _probe("--config", str(path)) == "tomllib imported: True exit: 0"


def test_runs_started_together_keep_one_identity(tmp_path: Path) -> None:
    # Two gateways started at once from one file with a blank client ID must end with
    # one identity: the first generates and writes it, the second reads it.
    import threading

    path = tmp_path / "shared.toml"
    path.write_text('server_uri = "mqtt://127.0.0.1:1883"\nclient_id = ""\n')
    settings, _ = config.load(str(path))
    kept: list[str] = []
    start = threading.Barrier(8)

    def run() -> None:
        start.wait(5)
        kept.append(config.keep_client_id(settings, str(path)).client_id)

    threads = [threading.Thread(target=run) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    on_file = config.load(str(path))[0].client_id
    assert len(kept) == 8 and set(kept) == {on_file}, (kept, on_file)


def test_keeping_an_id_keeps_the_comment_on_its_line(tmp_path: Path) -> None:
    path = tmp_path / "commented.toml"
    path.write_text('server_uri = "mqtt://127.0.0.1"\nclient_id = ""  # blank: generated\n')
    settings, _ = config.load(str(path))
    kept = config.keep_client_id(settings, str(path))
    assert path.read_text() == (
        f'server_uri = "mqtt://127.0.0.1"\nclient_id = "{kept.client_id}"  # blank: generated\n'
    )


# ---------------------------------------------------------------------------- what is read
# Files named by a person may be FIFOs (open waits for a writer), devices (/dev/zero never
# ends), directories, or huge: each is a quick exit 2 naming the field and why, never a
# hang and never more than the bound (and one byte) read.

QUICK = 10.0  # a refusal is immediate; the timeout only stops a hang from stalling the run
INVALID = "FAILED (invalid-settings, exit 2): invalid settings: "


def _fifo(tmp_path: Path, name: str = "fifo") -> Path:
    path = tmp_path / name
    os.mkfifo(path)
    return path


def _failed(run: CliRun) -> str:
    lines = [line for line in (run.stdout + run.stderr).splitlines() if line.startswith("FAILED")]
    assert len(lines) == 1, run
    return lines[0]


def test_config_check_of_a_device_is_refused_at_once() -> None:
    run = run_cli("check", "/dev/zero", command="config", timeout=QUICK)
    assert run.code == 2, run
    assert run.stdout.splitlines() == [
        "/dev/zero: 1 problem",
        "  file: cannot read '/dev/zero': expected a regular file, got a character device",
    ], run


def test_config_check_of_a_directory_is_refused(tmp_path: Path) -> None:
    run = run_cli("check", str(tmp_path), command="config", timeout=QUICK)
    assert run.code == 2, run
    assert "expected a regular file, got a directory" in run.stdout, run


@pytest.mark.parametrize("command", ["test", "monitor"])
def test_a_fifo_as_config_is_refused_without_waiting(tmp_path: Path, command: str) -> None:
    fifo = _fifo(tmp_path)
    run = run_cli("--config", str(fifo), command=command, timeout=QUICK)
    assert run.code == 2, run
    assert _failed(run) == (
        f"{INVALID}file: cannot read {str(fifo)!r}: expected a regular file, got a FIFO"
    ), run


def test_a_settings_file_over_1_mib_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "big.toml"
    path.write_text('server_uri = "mqtt://127.0.0.1"\n' + "#" * (1 << 20) + "\n")
    run = run_cli("check", str(path), command="config", timeout=QUICK)
    assert run.code == 2, run
    assert f"file: cannot read {str(path)!r}: expected at most 1 MiB, got more" in run.stdout


def test_a_fifo_as_password_file_is_refused_without_waiting(peers: Peers, tmp_path: Path) -> None:
    peer = peers.start(silent())
    fifo = _fifo(tmp_path)
    run = run_cli(peer.uri(), "-u", "plant", "--password-file", str(fifo), timeout=QUICK)
    peer.stop()
    assert peer.recordings == []
    assert run.code == 2, run
    assert _failed(run) == (
        f"{INVALID}password_file: expected a regular file, got a FIFO ({str(fifo)!r})"
    ), run


def test_a_100_mb_password_file_is_refused_unread(peers: Peers, tmp_path: Path) -> None:
    peer = peers.start(silent())
    path = tmp_path / "password"
    with open(path, "wb") as handle:
        handle.truncate(100_000_000)  # sparse: 100 MB that take no disk
    run = run_cli(peer.uri(), "-u", "plant", "--password-file", str(path), timeout=QUICK)
    peer.stop()
    assert peer.recordings == []
    assert run.code == 2, run
    assert _failed(run) == (
        f"{INVALID}password_file: expected at most 65,537 bytes, got more ({str(path)!r})"
    ), run


def test_a_password_file_of_the_largest_mqtt_password_is_read(tmp_path: Path) -> None:
    path = tmp_path / "password"
    path.write_bytes(b"p" * 65_535 + b"\r\n")
    settings = Settings("mqtt://127.0.0.1", username="u", password_file=str(path))
    assert settings.problems() == []
    assert settings.resolved_password() == b"p" * 65_535


def test_a_secret_file_that_grew_past_its_bound_is_refused_when_read(tmp_path: Path) -> None:
    path = tmp_path / "password"
    path.write_bytes(b"p" * 65_538)
    settings = Settings("mqtt://127.0.0.1", username="u", password_file=str(path))
    with pytest.raises(InvalidSettings) as caught:
        settings.resolved_password()
    assert caught.value.problems == [
        ("password_file", f"cannot read {str(path)!r}: expected at most 65,537 bytes, got more")
    ]


def test_a_file_larger_than_it_says_is_read_no_further_than_the_bound() -> None:
    # Files of /proc say they are empty and are not: the bound holds on what is read.
    from pco_wire._files import read_bounded

    assert os.stat("/proc/self/status").st_size == 0
    with pytest.raises(InvalidSettings) as caught:
        read_bounded("/proc/self/status", "file", 16)
    assert caught.value.problems == [
        ("file", "cannot read '/proc/self/status': expected at most 16 bytes, got more")
    ]
    assert read_bounded("/proc/self/status", "file", 1 << 20).startswith(b"Name:")


@pytest.mark.parametrize(
    ("field", "line"),
    [
        ("security.cafile", 'cafile = "/etc/ssl/a\\u0000b.pem"'),
        ("security.certfile", 'certfile = "a\\u0000b.pem"'),
        ("security.keyfile_password_file", 'keyfile_password_file = "a\\u0000b"'),
    ],
)
def test_a_path_with_a_nul_character_is_a_named_problem(
    tmp_path: Path, field: str, line: str
) -> None:
    path = tmp_path / "nul.toml"
    extra = ""
    if "keyfile_password" in line:
        pem = tmp_path / "client.pem"
        pem.write_text("x")
        extra = f'certfile = "{pem}"\n'
    path.write_text(f'server_uri = "mqtts://127.0.0.1"\n\n[security]\n{extra}{line}\n')
    run = run_cli("check", str(path), command="config", timeout=QUICK)
    assert run.code == 2, run
    # The field's type check finds it first: a path is text without NUL.
    position = line.index("\\u0000") - line.index('"')
    expected = f"  {field}: expected a path as text or None, got a NUL character at position "
    assert expected + str(position) in run.stdout.splitlines(), run


def test_a_password_file_path_with_a_nul_character_is_a_named_problem(tmp_path: Path) -> None:
    path = tmp_path / "nul.toml"
    path.write_text(
        'server_uri = "mqtt://127.0.0.1"\nusername = "u"\npassword_file = "pass\\u0000word"\n'
    )
    run = run_cli("--config", str(path), timeout=QUICK)
    assert run.code == 2, run
    assert _failed(run) == (
        f"{INVALID}password_file: expected a path as text or None, got a NUL character at "
        "position 5"
    ), run


@pytest.mark.parametrize(
    ("start", "problem"),
    [
        (b"\xef\xbb\xbf", "starts with a byte-order mark (BOM): save it as UTF-8 without BOM"),
        (b"\xff\xfe", "is UTF-16 (it starts with a UTF-16 byte-order mark): save it as UTF-8"),
        (b"\xfe\xff", "is UTF-16 (it starts with a UTF-16 byte-order mark): save it as UTF-8"),
    ],
    ids=["utf-8-bom", "utf-16-le", "utf-16-be"],
)
def test_a_byte_order_mark_is_named(tmp_path: Path, start: bytes, problem: str) -> None:
    path = tmp_path / "marked.toml"
    text = 'server_uri = "mqtt://127.0.0.1"\nclient_id = "gw17"\n'
    encoded = text.encode("utf-16-le" if start == b"\xff\xfe" else "utf-16-be")
    path.write_bytes(start + (text.encode() if start == b"\xef\xbb\xbf" else encoded))
    run = run_cli("check", str(path), command="config", timeout=QUICK)
    assert run.code == 2, run
    assert run.stdout.splitlines() == [f"{path}: 1 problem", f"  file: {path} {problem}"], run


def test_a_byte_order_mark_is_named_with_the_other_problems(tmp_path: Path) -> None:
    path = tmp_path / "marked.toml"
    path.write_bytes(b'\xef\xbb\xbfserver_uri = "mqtt://127.0.0.1"\nkeep_alive = -1\n')
    with pytest.raises(InvalidSettings) as caught:
        config.load(str(path))
    assert [field for field, _ in caught.value.problems] == ["file", "keep_alive"]
    path.write_bytes(b"\xef\xbb\xbfserver_uri = \n")
    with pytest.raises(InvalidSettings) as caught:
        config.load(str(path))
    assert [reason.split(": ")[0] for _, reason in caught.value.problems] == [
        f"{path} starts with a byte-order mark (BOM)",
        f"{path} is not valid TOML",
    ]


def test_utf16_without_a_mark_is_named_by_its_nul_bytes(tmp_path: Path) -> None:
    path = tmp_path / "utf16.toml"
    path.write_bytes('server_uri = "mqtt://127.0.0.1"\n'.encode("utf-16-le"))
    with pytest.raises(InvalidSettings) as caught:
        config.load(str(path))
    assert caught.value.problems == [
        ("file", f"{path} has a NUL byte at offset 1 (UTF-16, or not text?): save it as UTF-8 text")
    ]


@pytest.mark.parametrize("kind", ["cafile", "certfile"])
def test_a_fifo_as_a_tls_file_is_refused_without_waiting(
    peers: Peers, tmp_path: Path, kind: str
) -> None:
    peer = peers.start(silent())
    fifo = _fifo(tmp_path)
    run = run_cli(f"mqtts://127.0.0.1:{peer.port}", f"--{kind}", str(fifo), timeout=QUICK)
    peer.stop()
    assert peer.recordings == []
    assert run.code == 2, run
    expected = "a regular file or a directory" if kind == "cafile" else "a regular file"
    assert _failed(run) == (
        f"{INVALID}security.{kind}: expected {expected}, got a FIFO ({str(fifo)!r})"
    ), run


@pytest.mark.parametrize("field", ["cafile", "certfile", "keyfile"])
def test_a_tls_file_that_became_a_fifo_is_refused_when_the_context_is_built(
    tmp_path: Path, field: str
) -> None:
    # Checked by Settings.problems() first, and again where OpenSSL opens the file.
    from pco_wire.transport import tls

    fifo = str(_fifo(tmp_path))
    pem = tmp_path / "client.pem"
    pem.write_text("not read")
    security = {
        "cafile": Security(cafile=fifo),
        "certfile": Security(certfile=fifo),
        "keyfile": Security(certfile=str(pem), keyfile=fifo),
    }[field]
    with pytest.raises(InvalidSettings) as caught:
        tls.build_context(security, None)
    expected = "a regular file or a directory" if field == "cafile" else "a regular file"
    assert caught.value.problems == [
        (f"security.{field}", f"expected {expected}, got a FIFO ({fifo!r})")
    ]


# ---------------------------------------------------------------------------- write-back
# The generated client ID goes into the file a person keeps: through a symbolic link to
# its target, with its owner, group and mode, by editing that one line and nothing else.
# What cannot be written that way is refused before anything is sent.

OTHER_USER = 1234


def _blank(tmp_path: Path, name: str = "gateway.toml", uri: str = "mqtt://127.0.0.1:1") -> Path:
    path = tmp_path / name
    path.write_text(f'# the plant gateway\nserver_uri = "{uri}"\nclient_id = ""  # kept here\n')
    return path


def _kept(path: Path) -> str:
    return config.load(str(path))[0].client_id


def test_two_links_to_one_file_are_one_identity(tmp_path: Path) -> None:
    real = tmp_path / "real"
    real.mkdir()
    target = _blank(real)
    links = tmp_path / "links"
    links.mkdir()
    (links / "a.toml").symlink_to(target)
    (tmp_path / "b.toml").symlink_to(os.path.relpath(target, tmp_path))

    ids = []
    for link in (links / "a.toml", tmp_path / "b.toml"):
        settings, _ = config.load(str(link))
        ids.append(config.keep_client_id(settings, str(link)).client_id)

    assert ids[0] == ids[1] == _kept(target), ids
    assert (links / "a.toml").is_symlink() and (tmp_path / "b.toml").is_symlink()
    assert sorted(os.listdir(real)) == ["gateway.toml"]
    assert target.read_text().endswith(f'client_id = "{ids[0]}"  # kept here\n')


def test_links_started_together_keep_one_identity(tmp_path: Path) -> None:
    # The lock is on the target's directory: runs through links in two directories
    # still take turns.
    import threading

    (tmp_path / "real").mkdir()
    target = _blank(tmp_path / "real")
    links = []
    for index in range(6):
        directory = tmp_path / f"d{index}"
        directory.mkdir()
        (directory / "gw.toml").symlink_to(target)
        links.append(str(directory / "gw.toml"))
    settings, _ = config.load(str(target))
    kept: list[str] = []
    start = threading.Barrier(len(links))

    def run(link: str) -> None:
        start.wait(5)
        kept.append(config.keep_client_id(settings, link).client_id)

    threads = [threading.Thread(target=run, args=(link,)) for link in links]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(15)
    assert len(kept) == len(links) and set(kept) == {_kept(target)}, kept


@pytest.mark.parametrize("mode", [0o640, 0o604, 0o660])
def test_write_back_keeps_owner_group_and_mode(tmp_path: Path, mode: int) -> None:
    path = _blank(tmp_path)
    os.chown(path, OTHER_USER, OTHER_USER + 1)
    path.chmod(mode)
    settings, _ = config.load(str(path))
    config.keep_client_id(settings, str(path))
    after = path.stat()
    assert (after.st_uid, after.st_gid, stat.S_IMODE(after.st_mode)) == (
        OTHER_USER,
        OTHER_USER + 1,
        mode,
    )
    assert check_client_id(_kept(path)) is None


def test_save_keeps_owner_and_group_through_a_link(tmp_path: Path) -> None:
    target = tmp_path / "target.toml"
    config.save(Settings("mqtt://127.0.0.1"), str(target))
    os.chown(target, OTHER_USER, OTHER_USER)
    target.chmod(0o644)
    link = tmp_path / "link.toml"
    link.symlink_to(target)
    config.save(Settings("mqtt://127.0.0.1", client_id="gw17"), str(link))
    assert link.is_symlink()
    info = target.stat()
    assert (info.st_uid, info.st_gid, stat.S_IMODE(info.st_mode)) == (OTHER_USER, OTHER_USER, 0o644)
    assert _kept(link) == "gw17"


def _refused_sentence(path: Path, reason: str) -> str:
    return (
        f"FAILED (invalid-settings, exit 2): invalid settings: file: cannot write {str(path)!r}: "
        f"{reason}, to keep the generated client ID: nothing was sent; give client_id in the "
        "file or --client-id"
    )


@pytest.mark.parametrize("command", ["test", "monitor"])
def test_a_read_only_file_is_not_rewritten_and_nothing_is_sent(
    broker: Broker, peers: Peers, tmp_path: Path, command: str
) -> None:
    peer = peers.start(relay(broker.ports.tcp))
    path = _blank(tmp_path, uri=peer.uri())
    path.chmod(0o444)  # root could rename over it: the person who made it so meant no
    before = path.stat()
    extra = ["--duration", "1"] if command == "monitor" else []
    run = run_cli("--config", str(path), *extra, command=command, timeout=QUICK)
    peer.stop()
    assert peer.recordings == [], "a connection was made though the ID could not be kept"
    assert run.code == 2, run
    assert _failed(run) == _refused_sentence(path, "read-only"), run
    after = path.stat()
    assert (after.st_ino, after.st_mtime_ns, stat.S_IMODE(after.st_mode)) == (
        before.st_ino,
        before.st_mtime_ns,
        0o444,
    )
    assert os.listdir(tmp_path) == ["gateway.toml"]


def test_a_read_only_target_of_a_link_is_named(tmp_path: Path) -> None:
    target = _blank(tmp_path, "target.toml")
    target.chmod(0o440)
    link = tmp_path / "link.toml"
    link.symlink_to(target)
    settings, _ = config.load(str(link))
    with pytest.raises(InvalidSettings) as caught:
        config.keep_client_id(settings, str(link))
    assert caught.value.problems[0][1].startswith(
        f"cannot write {str(link)!r} (a link to {str(target)!r}): read-only, to keep"
    ), caught.value


def test_a_file_with_hard_links_is_not_parted(tmp_path: Path) -> None:
    path = _blank(tmp_path)
    os.link(path, tmp_path / "copy.toml")
    settings, _ = config.load(str(path))
    with pytest.raises(InvalidSettings) as caught:
        config.keep_client_id(settings, str(path))
    assert "it has 2 hard links, which replacing it would part" in caught.value.problems[0][1]
    assert _kept(path) == "" and os.path.samefile(path, tmp_path / "copy.toml")


def test_an_option_that_mends_the_file_still_edits_one_line(
    broker: Broker, peers: Peers, tmp_path: Path
) -> None:
    # The file's password variable is not set here; --password-env mends it for this
    # run. The ID is written back by editing its line, comments kept.
    peer = peers.start(relay(broker.ports.tcp))
    path = tmp_path / "gateway.toml"
    start = _template_for(
        peer.uri(),
        **{
            '# username = "gateway"': 'username = "a"',
            '# password_env = "MQTT_PASSWORD"': f'password_env = "{UNSET_VAR}"',
        },
    )
    path.write_text(start)
    run = run_cli("--config", str(path), "--password-env", PASSWORD_VAR)
    _ok(run, broker)
    kept = _connect_seen(peer).client_id
    assert path.read_text() == start.replace(BLANK_ID_LINE, f'client_id = "{kept}"')


@pytest.mark.parametrize(
    ("start", "edited"),
    [
        # No client_id line: one added after server_uri.
        ("{uri}\n# end\n", "{uri}\n{id}\n# end\n"),
        # A multi-line server URI: not inside it, at the top.
        ('# gw\nserver_uri = """\nmqtt://127.0.0.1"""\n', '{id}\n# gw\nserver_uri = """\nmqtt://127.0.0.1"""\n'),
        # What looks like a client_id line is inside a string: added after server_uri.
        ('{uri}\nusername = """\nclient_id = ""\n"""\n',
         '{uri}\n{id}\nusername = """\nclient_id = ""\n"""\n'),
        # CRLF line endings stay CRLF.
        ('{uri}\r\nclient_id = ""\r\n', "{uri}\r\n{id}\r\n"),
        # A literal string and a quoted key.
        ("{uri}\n\"client_id\" = ''\n", '{uri}\n"client_id" = "{bare}"\n'),
        # The last line without a line ending.
        ("{uri}", "{uri}\n{id}\n"),
    ],
    ids=["added", "at-the-top", "in-a-string", "crlf", "quoted-key", "no-final-newline"],
)  # fmt: skip
def test_write_back_edits_one_line_in_every_layout(tmp_path: Path, start: str, edited: str) -> None:
    path = tmp_path / "gateway.toml"
    uri = 'server_uri = "mqtt://127.0.0.1"'
    path.write_bytes(start.replace("{uri}", uri).encode())
    settings, _ = config.load(str(path))
    client_id = config.keep_client_id(settings, str(path)).client_id
    expected = edited.replace("{uri}", uri).replace("{id}", f'client_id = "{client_id}"')
    expected = expected.replace("{bare}", client_id)
    assert path.read_bytes() == expected.encode()


def test_a_file_that_cannot_be_edited_by_one_line_is_refused(peers: Peers, tmp_path: Path) -> None:
    # A blank ID as a multi-line string: no one line can say it. Nothing is rewritten,
    # nothing sent.
    peer = peers.start(silent())
    path = tmp_path / "gateway.toml"
    start = f'server_uri = "{peer.uri()}"\nclient_id = """\n"""\n'
    path.write_text(start)
    run = run_cli("--config", str(path), timeout=QUICK)
    peer.stop()
    assert peer.recordings == []
    assert run.code == 2, run
    assert _failed(run) == (
        f"{INVALID}file: cannot set client_id in {str(path)!r} by editing one line (expected "
        'a line client_id = "" among the top-level keys), to keep the generated client ID: '
        "nothing was sent; give client_id in the file or --client-id"
    ), run
    assert path.read_text() == start


def test_save_over_something_that_is_not_a_regular_file_is_refused(tmp_path: Path) -> None:
    fifo = _fifo(tmp_path)
    with pytest.raises(InvalidSettings) as caught:
        config.save(Settings("mqtt://127.0.0.1"), str(fifo))
    assert caught.value.problems == [
        ("file", f"cannot write {str(fifo)!r}: expected a regular file, got a FIFO")
    ]
    assert stat.S_ISFIFO(os.stat(fifo).st_mode)


@pytest.mark.parametrize("kind", ["fifo", "read-only"])
def test_config_init_force_never_writes_into_a_fifo_or_a_read_only_file(
    tmp_path: Path, kind: str
) -> None:
    if kind == "fifo":
        path = _fifo(tmp_path, "gateway.toml")
        reason = "expected a regular file, got a FIFO"
    else:
        path = tmp_path / "gateway.toml"
        path.write_text("# mine\n")
        path.chmod(0o444)
        reason = "read-only"
    run = run_cli("init", str(path), "--force", command="config", timeout=QUICK)
    assert run.code == 2, run
    assert (
        run.stderr == f"FAILED (invalid-settings, exit 2): cannot write {str(path)!r}: {reason}\n"
    )
    assert kind == "fifo" or path.read_text() == "# mine\n"


@pytest.mark.parametrize("key", ["password_env", "password_file"])
def test_a_wrong_type_in_a_field_that_names_a_secret_is_not_shown(key: str) -> None:
    # A number pasted where a variable or file name belongs may be the password itself.
    with pytest.raises(InvalidSettings) as info:
        config.loads(f'server_uri = "mqtt://h"\nusername = "u"\n{key} = 98765432\n')
    assert info.value.problems == [(key, "expected a string in quotes, got an integer")]
