"""Server URIs, client IDs and the validation of Settings, secrets kept out of sight.

Files come from ``tmp_path``, environment variables from ``monkeypatch``: nothing outside
the test is read or changed. Every problem is compared as the exact (field, reason) pair.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from pco_wire.errors import Error, InvalidSettings
from pco_wire.settings import (
    CLIENT_ID_RULE,
    Security,
    Settings,
    WillSettings,
    check_client_id,
    generate_client_id,
)
from pco_wire.uri import ServerURI, parse_uri
from tests.broker import Broker

# Distinctive secrets: none of them may ever appear in a repr or a message.
PASSWORD = "Pw-Qx7!zK9v"
KEY_PASSWORD = "Kp-93Wq!aL2m"
URI_PASSWORD = "Ur1-Zr8Tn4"

ENV = "PCO_WIRE_TEST_PASSWORD"
UNUSED = (
    "expected only with mqtts:// or wss://, got {}:// (security settings would be silently unused)"
)


def invalid_uri(text: str) -> InvalidSettings:
    with pytest.raises(InvalidSettings) as info:
        parse_uri(text)
    return info.value


# --------------------------------------------------------------------------- URIs


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("mqtt://broker.local", ServerURI("mqtt", "broker.local", 1883)),
        ("mqtts://broker.local", ServerURI("mqtts", "broker.local", 8883)),
        ("ws://broker.local", ServerURI("ws", "broker.local", 80, "/mqtt")),
        ("wss://broker.local", ServerURI("wss", "broker.local", 443, "/mqtt")),
        ("mqtt://broker.local:1884", ServerURI("mqtt", "broker.local", 1884)),
        ("mqtts://broker.local:18883", ServerURI("mqtts", "broker.local", 18883)),
        ("ws://broker.local:8080", ServerURI("ws", "broker.local", 8080, "/mqtt")),
        ("wss://broker.local:8443", ServerURI("wss", "broker.local", 8443, "/mqtt")),
        ("mqtt://10.0.0.7:1", ServerURI("mqtt", "10.0.0.7", 1)),
        ("mqtt://10.0.0.7:65535", ServerURI("mqtt", "10.0.0.7", 65535)),
        ("mqtt://broker.local/", ServerURI("mqtt", "broker.local", 1883)),
        ("MQTTS://broker.local", ServerURI("mqtts", "broker.local", 8883)),
        ("  mqtt://broker.local  ", ServerURI("mqtt", "broker.local", 1883)),
    ],
)
def test_schemes_and_ports(text: str, expected: ServerURI) -> None:
    assert parse_uri(text) == expected


@pytest.mark.parametrize(
    ("scheme", "tls", "websocket"),
    [("mqtt", False, False), ("mqtts", True, False), ("ws", False, True), ("wss", True, True)],
)
def test_scheme_properties(scheme: str, tls: bool, websocket: bool) -> None:
    uri = parse_uri(f"{scheme}://broker")
    assert (uri.tls, uri.websocket) == (tls, websocket)


@pytest.mark.parametrize(
    ("text", "path", "query", "resource", "shown"),
    [
        ("ws://broker", "/mqtt", "", "/mqtt", "ws://broker:80/mqtt"),
        ("ws://broker/", "/", "", "/", "ws://broker:80/"),
        ("wss://broker:8443/", "/", "", "/", "wss://broker:8443/"),
        ("ws://broker/ws", "/ws", "", "/ws", "ws://broker:80/ws"),
        (
            "wss://broker/plant/mqtt?token=abc&v=2",
            "/plant/mqtt",
            "token=abc&v=2",
            "/plant/mqtt?token=abc&v=2",
            # Query values may be tokens: str() masks them.
            "wss://broker:443/plant/mqtt?token=***&v=***",
        ),
    ],
)
def test_websocket_paths(text: str, path: str, query: str, resource: str, shown: str) -> None:
    uri = parse_uri(text)
    assert (uri.path, uri.query, uri.resource, str(uri)) == (path, query, resource, shown)


@pytest.mark.parametrize(
    ("text", "host", "port", "netloc"),
    [
        ("mqtt://[::1]", "::1", 1883, "[::1]:1883"),
        ("mqtts://[::1]:8884", "::1", 8884, "[::1]:8884"),
        ("mqtt://[fe80::1%eth0]", "fe80::1%eth0", 1883, "[fe80::1%eth0]:1883"),
        ("mqtt://[fe80::1%25eth0]:1884", "fe80::1%eth0", 1884, "[fe80::1%eth0]:1884"),
        ("ws://[2001:db8::7]/mqtt", "2001:db8::7", 80, "[2001:db8::7]:80"),
        ("mqtt://[fe80::1%25Eth0]", "fe80::1%Eth0", 1883, "[fe80::1%Eth0]:1883"),
    ],
)
def test_ipv6_literals(text: str, host: str, port: int, netloc: str) -> None:
    uri = parse_uri(text)
    assert (uri.host, uri.port, uri.netloc) == (host, port, netloc)


@pytest.mark.parametrize(
    ("text", "host"),
    [("mqtt://[fe80::1%12]", "fe80::1%12"), ("mqtt://[fe80::1%2512]", "fe80::1%12")],
    ids=["raw", "rfc6874"],
)
def test_ipv6_numeric_zone(text: str, host: str) -> None:
    """A zone may be an interface index (``ping fe80::1%12``). The module accepts a raw
    "%" before the zone as well as RFC 6874's "%25"; a raw zone made of two hex digits
    must not be percent-decoded into a control character."""
    assert parse_uri(text).host == host


def test_user_in_uri() -> None:
    uri = parse_uri("mqtt://plant@broker")
    assert uri == ServerURI("mqtt", "broker", 1883, username="plant")
    assert str(uri) == "mqtt://plant@broker:1883"


@pytest.mark.parametrize(
    ("text", "password", "shown"),
    [
        (f"mqtt://plant:{URI_PASSWORD}@broker", URI_PASSWORD, "mqtt://plant@broker:1883"),
        (
            f"wss://plant:{URI_PASSWORD}@broker:8443/mqtt",
            URI_PASSWORD,
            "wss://plant@broker:8443/mqtt",
        ),
        (f"mqtt://plant:{URI_PASSWORD}%40x@[::1]", URI_PASSWORD + "@x", "mqtt://plant@[::1]:1883"),
        (f"mqtt://plant:{URI_PASSWORD}@x@broker", URI_PASSWORD + "@x", "mqtt://plant@broker:1883"),
    ],
)
def test_user_and_password_in_uri_never_shown(text: str, password: str, shown: str) -> None:
    uri = parse_uri(text)
    assert (uri.username, uri.password) == ("plant", password)
    assert str(uri) == shown
    assert repr(uri) == f"ServerURI({shown!r})"
    assert URI_PASSWORD not in str(uri)
    assert URI_PASSWORD not in repr(uri)


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("http://broker", "expected scheme mqtt, mqtts, ws or wss, got 'http'"),
        ("tcp://broker:1883", "expected scheme mqtt, mqtts, ws or wss, got 'tcp'"),
        ("broker:1883", "expected scheme://host, e.g. mqtt://broker.local:1883, got no scheme"),
        ("broker", "expected scheme://host, e.g. mqtt://broker.local:1883, got no scheme"),
        ("mqtt://", "expected a host name or address"),
        ("mqtt://:1883", "expected a host name or address"),
        ("mqtt://broker:0", "expected a port 1..65535, got 0"),
        ("mqtt://broker:65536", "expected a port 1..65535, got 65536"),
        ("mqtt://broker:", "expected a port after ':'"),
        ("mqtt://broker/mqtt", "expected no path or query with mqtt://"),
        ("mqtts://broker/x", "expected no path or query with mqtts://"),
        ("mqtt://broker?x", "expected no path or query with mqtt://"),
        ("mqtt://broker#top", "expected no #fragment"),
        ("ws://broker/mqtt#top", "expected no #fragment"),
        ("mqtt://[::g]", "expected an IPv6 address in brackets, got '::g'"),
        ("mqtt://[1.2.3.4]", "expected an IPv6 address in brackets, got '1.2.3.4'"),
        ("mqtt://[fe80::1%eth0", "expected ']' closing the IPv6 address"),
        ("mqtt://[::1]1883", "expected ']' closing the IPv6 address"),
        (
            "mqtt://bro ker",
            "expected a host name or address, got 'bro ker': no spaces, control characters "
            "or / ? # [ ] @ \\ in a name",
        ),
        (
            "mqtt://broker..local",
            "expected a host name or address, got 'broker..local': no empty label",
        ),
    ],
)
def test_refused_uris(text: str, reason: str) -> None:
    error = invalid_uri(text)
    assert error.problems == [("server_uri", f"{reason} in {text!r}")]
    assert error.field == "server_uri"
    assert isinstance(error, ValueError)
    assert str(error) == f"server_uri: {reason} in {text!r}"


@pytest.mark.parametrize(
    ("text", "shown"),
    [
        ("mqtt://broker:18x3", "mqtt://broker:***"),
        ("mqtt://broker:-1", "mqtt://broker:***"),
        ("mqtt://host:port", "mqtt://host:***"),
        ("mqtt://plant:Sup3rSecret", "mqtt://plant:***"),
    ],
)
def test_port_that_is_no_number_is_masked(text: str, shown: str) -> None:
    # Without a host, "user:secret" puts the secret where the port goes.
    assert invalid_uri(text).problems == [
        ("server_uri", f"expected a port 1..65535 after ':' in {shown!r}")
    ]


def test_refused_uri_masks_query_values() -> None:
    # Query values may be tokens: messages show the keys only.
    error = invalid_uri("mqtt://broker?token=s3cr3t")
    assert error.problems == [
        ("server_uri", "expected no path or query with mqtt:// in 'mqtt://broker?token=***'")
    ]


@pytest.mark.parametrize("text", ["", "   "])
def test_empty_uri(text: str) -> None:
    assert invalid_uri(text).problems == [
        ("server_uri", "expected a URI such as mqtt://host:1883, got nothing")
    ]


def test_field_name_is_the_callers() -> None:
    with pytest.raises(InvalidSettings) as info:
        parse_uri("http://broker", field="fallback_uri")
    assert info.value.problems == [
        ("fallback_uri", "expected scheme mqtt, mqtts, ws or wss, got 'http' in 'http://broker'")
    ]


@pytest.mark.parametrize(
    ("text", "reason", "masked"),
    [
        (
            f"mqtt://plant:{URI_PASSWORD}@broker:0",
            "expected a port 1..65535, got 0",
            "mqtt://plant:***@broker:0",
        ),
        (
            f"http://plant:{URI_PASSWORD}@broker",
            "expected scheme mqtt, mqtts, ws or wss, got 'http'",
            "http://plant:***@broker",
        ),
        (
            f"mqtt://plant:{URI_PASSWORD}@broker/x",
            "expected no path or query with mqtt://",
            "mqtt://plant:***@broker/x",
        ),
        (
            f"ws://plant:{URI_PASSWORD}@broker/x#frag",
            "expected no #fragment",
            "ws://plant:***@broker/x#frag",
        ),
    ],
)
def test_refused_uri_masks_the_password(text: str, reason: str, masked: str) -> None:
    error = invalid_uri(text)
    assert error.problems == [("server_uri", f"{reason} in {masked!r}")]
    assert URI_PASSWORD not in str(error)
    assert URI_PASSWORD not in repr(error)


@pytest.mark.parametrize(
    "text",
    [
        "mqtt://plant:Sup3r/Secret@broker",
        "mqtt://plant:Sup3r?Secret@broker",
        "mqtt://plant:Sup3r#Secret@broker",
    ],
    ids=["slash", "question-mark", "hash"],
)
def test_refused_uri_never_shows_a_password_with_a_delimiter(text: str) -> None:
    """Users type such passwords unescaped. The URI is then invalid, and the message
    must still not show any part of the password, nor may the repr of Settings."""
    error = invalid_uri(text)
    assert error.field == "server_uri"
    assert "Sup3r" not in str(error)
    assert "Secret" not in str(error)
    assert "Sup3r" not in repr(Settings(text))


# --------------------------------------------------------------------------- client IDs


@pytest.mark.parametrize("client_id", ["a", "gateway17", "0123456789abcdefghijXYZ", "Z" * 23])
def test_valid_client_ids(client_id: str) -> None:
    assert check_client_id(client_id) is None


@pytest.mark.parametrize(
    ("client_id", "got"),
    [
        ("a" * 24, "24 characters"),
        ("", "an empty ID"),
        ("gw-17", "'-' at position 3"),
        ("gw_17", "'_' at position 3"),
        ("gw 17", "' ' at position 3"),
        ("é", "'é' at position 1"),
        ("gatewayÜ", "'Ü' at position 8"),
        ("gw17\n", "'\\n' at position 5"),
    ],
)
def test_refused_client_ids(client_id: str, got: str) -> None:
    assert CLIENT_ID_RULE == "1 to 23 characters, only 0-9, a-z and A-Z"
    assert check_client_id(client_id) == f"expected {CLIENT_ID_RULE}, got {got}"


@pytest.mark.parametrize(
    "client_id", ["\u212a", "gw\u0130"], ids=["kelvin-sign", "capital-i-with-dot"]
)
def test_refused_client_ids_whose_lowercase_is_ascii(client_id: str) -> None:
    """U+212A KELVIN SIGN lowercases to "k", U+0130 to "i" + U+0307: neither is in
    0-9, a-z or A-Z, and both must be reported like any other character."""
    bad = client_id[-1]
    reason = f"expected {CLIENT_ID_RULE}, got {bad!r} at position {len(client_id)}"
    assert check_client_id(client_id) == reason
    assert Settings("mqtt://broker", client_id=client_id).problems() == [("client_id", reason)]


def test_generated_client_ids() -> None:
    drawn = [generate_client_id() for _ in range(10_000)]
    for client_id in drawn:
        assert check_client_id(client_id) is None
        assert len(client_id) == 23
        assert client_id.startswith("pw")
    assert len(set(drawn)) == 10_000


def test_client_id_problem_in_settings() -> None:
    assert Settings("mqtt://broker", client_id="gw-17").problems() == [
        ("client_id", f"expected {CLIENT_ID_RULE}, got '-' at position 3")
    ]


# --------------------------------------------------------------------------- Settings.problems()


def test_defaults_are_valid() -> None:
    settings = Settings("mqtt://broker")
    assert settings.problems() == []
    assert settings.check() == ServerURI("mqtt", "broker", 1883)


def test_every_problem_reported_together() -> None:
    settings = Settings(
        "tcp://broker",
        client_id="gw-17",
        password=PASSWORD,
        password_env=ENV,
        response_timeout=0,
        keep_alive=65536,
        protocol="5.0",
        will=WillSettings("plant/+/status", qos=3),
        ws_headers=(("Bad Name", "x"),),
    )
    problems = settings.problems()
    names = [name for name, _ in problems]
    assert set(names) == {
        "server_uri",
        "client_id",
        "password",
        "username",
        "response_timeout",
        "keep_alive",
        "protocol",
        "will.topic",
        "will.qos",
        "ws_headers",
    }
    assert len(names) == 10
    with pytest.raises(InvalidSettings) as info:
        settings.check()
    assert info.value.problems == problems
    assert info.value.field == problems[0][0]
    assert str(info.value) == "; ".join(f"{name}: {reason}" for name, reason in problems)
    assert PASSWORD not in str(info.value)
    assert PASSWORD not in repr(info.value)


@pytest.mark.parametrize(
    "value", [0, 0.0, -1, -0.5, True, False, float("nan"), float("inf"), 1e6, "10", None]
)
def test_response_timeout_refused(value: object) -> None:
    settings = Settings("mqtt://broker", response_timeout=value)  # type: ignore[arg-type]
    assert settings.problems() == [
        ("response_timeout", f"expected a positive number of seconds, got {value!r}")
    ]


@pytest.mark.parametrize("value", [0.001, 1, 10.0, 999_999.5])
def test_response_timeout_accepted(value: float) -> None:
    assert Settings("mqtt://broker", response_timeout=value).problems() == []


@pytest.mark.parametrize("value", [0, 1, 60, 65535])
def test_keep_alive_accepted(value: int) -> None:
    assert Settings("mqtt://broker", keep_alive=value).problems() == []


@pytest.mark.parametrize("value", [-1, 65536, True, 1.5, "60", None])
def test_keep_alive_refused(value: object) -> None:
    settings = Settings("mqtt://broker", keep_alive=value)  # type: ignore[arg-type]
    assert settings.problems() == [
        ("keep_alive", f"expected whole seconds 0..65535 (0: no PINGREQ), got {value!r}")
    ]


def test_protocol_names() -> None:
    assert Settings("mqtt://broker", protocol="3.1").problems() == []
    assert Settings("mqtt://broker", protocol="5").problems() == []
    assert Settings("mqtt://broker", protocol="5.0").problems() == [
        ("protocol", "expected 3.1.1, 3.1, 5 or auto, got '5.0'")
    ]


@pytest.fixture
def pem(tmp_path: Path) -> Path:
    path = tmp_path / "ca.pem"
    path.write_text("-----BEGIN CERTIFICATE-----\n")
    return path


def security_setting(name: str, pem: Path) -> dict[str, object]:
    values: dict[str, object] = {
        "cafile": str(pem),
        "certfile": str(pem),
        "keyfile": str(pem),
        "keyfile_password": KEY_PASSWORD,
        "keyfile_password_env": ENV,
        "keyfile_password_file": str(pem),
        "verify_hostname": False,
        "insecure": True,
        "server_name": "broker.plant",
        "alpn": ("mqtt",),
        "tls_min_version": "1.3",
    }
    return {name: values[name]}


SECURITY_NAMES = [
    "cafile",
    "certfile",
    "keyfile",
    "keyfile_password",
    "keyfile_password_env",
    "keyfile_password_file",
    "verify_hostname",
    "insecure",
    "server_name",
    "alpn",
    "tls_min_version",
]


@pytest.mark.parametrize("scheme", ["mqtt", "ws"])
@pytest.mark.parametrize("name", SECURITY_NAMES)
def test_security_setting_without_tls_refused(
    name: str, scheme: str, pem: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(ENV, KEY_PASSWORD)
    security = Security(**security_setting(name, pem))  # type: ignore[arg-type]
    settings = Settings(f"{scheme}://broker", security=security)
    assert settings.problems() == [(f"security.{name}", UNUSED.format(scheme))]
    with pytest.raises(InvalidSettings) as info:
        settings.check()
    assert KEY_PASSWORD not in str(info.value)


def test_every_security_setting_without_tls_refused(pem: Path) -> None:
    security = Security(cafile=str(pem), insecure=True, keyfile_password=KEY_PASSWORD)
    assert Settings("mqtt://broker", security=security).problems() == [
        ("security.cafile", UNUSED.format("mqtt")),
        ("security.keyfile_password", UNUSED.format("mqtt")),
        ("security.insecure", UNUSED.format("mqtt")),
    ]


@pytest.mark.parametrize("scheme", ["mqtts", "wss"])
def test_security_settings_with_tls_accepted(
    scheme: str, pem: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(ENV, KEY_PASSWORD)
    security = Security(
        cafile=str(pem),
        certfile=str(pem),
        keyfile=str(pem),
        keyfile_password_env=ENV,
        verify_hostname=False,
        server_name="broker.plant",
        alpn=("mqtt",),
        tls_min_version="1.3",
    )
    assert Settings(f"{scheme}://broker", security=security).problems() == []
    # A directory of hashed certificates is a valid cafile too.
    directory = Security(cafile=str(pem.parent))
    assert Settings(f"{scheme}://broker", security=directory).problems() == []


def test_missing_files_refused(tmp_path: Path, pem: Path) -> None:
    missing = str(tmp_path / "missing.pem")
    cases: list[tuple[Settings, list[tuple[str, str]]]] = [
        (
            Settings("mqtts://broker", security=Security(cafile=missing)),
            [("security.cafile", f"expected a readable file or directory, got {missing!r}")],
        ),
        (
            Settings("mqtts://broker", security=Security(certfile=missing)),
            [("security.certfile", f"expected a readable file, got {missing!r}")],
        ),
        (
            Settings("mqtts://broker", security=Security(certfile=str(pem), keyfile=missing)),
            [("security.keyfile", f"expected a readable file, got {missing!r}")],
        ),
        (
            Settings(
                "mqtts://broker",
                security=Security(
                    certfile=str(pem), keyfile=str(pem), keyfile_password_file=missing
                ),
            ),
            [("security.keyfile_password_file", f"expected a readable file, got {missing!r}")],
        ),
        (
            Settings("mqtt://broker", username="plant", password_file=missing),
            [("password_file", f"expected a readable file, got {missing!r}")],
        ),
        (
            # A directory is not a readable file.
            Settings("mqtt://broker", username="plant", password_file=str(tmp_path)),
            [("password_file", f"expected a regular file, got a directory ({str(tmp_path)!r})")],
        ),
    ]
    for settings, expected in cases:
        assert settings.problems() == expected


def test_keyfile_without_certfile_refused(pem: Path) -> None:
    settings = Settings("mqtts://broker", security=Security(keyfile=str(pem)))
    assert settings.problems() == [
        ("security.certfile", "expected a client certificate with the key")
    ]


@pytest.mark.parametrize(
    ("given", "listed"),
    [
        (("password", "password_env"), "password, password_env"),
        (("password", "password_file"), "password, password_file"),
        (("password_env", "password_file"), "password_env, password_file"),
        (("password", "password_env", "password_file"), "password, password_env, password_file"),
    ],
)
def test_at_most_one_password_source(
    given: tuple[str, ...], listed: str, pem: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(ENV, PASSWORD)
    values = {"password": PASSWORD, "password_env": ENV, "password_file": str(pem)}
    chosen: dict[str, str] = {name: values[name] for name in given}
    settings = Settings("mqtt://broker", username="plant", **chosen)  # type: ignore[arg-type]
    reason = f"expected at most one of password, password_env and password_file, got {listed}"
    assert settings.problems() == [("password", reason)]
    with pytest.raises(InvalidSettings) as info:
        settings.check()
    assert PASSWORD not in str(info.value)


@pytest.mark.parametrize(
    ("given", "listed"),
    [
        (("keyfile_password", "keyfile_password_env"), "keyfile_password, keyfile_password_env"),
        (
            ("keyfile_password", "keyfile_password_env", "keyfile_password_file"),
            "keyfile_password, keyfile_password_env, keyfile_password_file",
        ),
    ],
)
def test_at_most_one_key_password_source(
    given: tuple[str, ...], listed: str, pem: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(ENV, KEY_PASSWORD)
    values = {
        "keyfile_password": KEY_PASSWORD,
        "keyfile_password_env": ENV,
        "keyfile_password_file": str(pem),
    }
    chosen: dict[str, str] = {name: values[name] for name in given}
    security = Security(certfile=str(pem), keyfile=str(pem), **chosen)  # type: ignore[arg-type]
    name = "security.keyfile_password"
    reason = f"expected at most one of {name}, {name}_env and {name}_file, got " + ", ".join(
        f"security.{n}" for n in given
    )
    assert listed.split(", ") == list(given)
    assert Settings("mqtts://broker", security=security).problems() == [(name, reason)]


@pytest.mark.parametrize("source", ["password", "password_env", "password_file"])
def test_one_password_source_accepted(
    source: str, pem: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(ENV, PASSWORD)
    values = {"password": PASSWORD, "password_env": ENV, "password_file": str(pem)}
    settings = Settings("mqtt://broker", username="plant", **{source: values[source]})  # type: ignore[arg-type]
    assert settings.problems() == []


def test_password_env_unset_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(ENV, raising=False)
    settings = Settings("mqtt://broker", username="plant", password_env=ENV)
    assert settings.problems() == [
        ("password_env", f"expected environment variable {ENV!r} to be set, it is not")
    ]


def test_keyfile_password_env_unset_refused(pem: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(ENV, raising=False)
    security = Security(certfile=str(pem), keyfile=str(pem), keyfile_password_env=ENV)
    assert Settings("mqtts://broker", security=security).problems() == [
        (
            "security.keyfile_password_env",
            f"expected environment variable {ENV!r} to be set, it is not",
        )
    ]


@pytest.mark.parametrize("source", ["password", "password_env", "password_file"])
def test_password_without_user_refused(
    source: str, pem: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(ENV, PASSWORD)
    values = {"password": PASSWORD, "password_env": ENV, "password_file": str(pem)}
    settings = Settings("mqtt://broker", **{source: values[source]})  # type: ignore[arg-type]
    assert settings.problems() == [
        ("username", "expected a user name with a password (MQTT 3.1.1 §3.1.2.9)")
    ]


@pytest.mark.parametrize(
    "uri", ["mqtt://plant@broker", f"mqtt://plant:{URI_PASSWORD}@broker", "mqtt://@broker"]
)
def test_user_in_uri_counts(uri: str) -> None:
    assert Settings(uri, password=PASSWORD).problems() == []


def test_empty_user_name_counts() -> None:
    assert Settings("mqtt://broker", username="", password=PASSWORD).problems() == []


def test_no_clean_session_needs_a_client_id() -> None:
    assert Settings("mqtt://broker", clean_session=False).problems() == [
        (
            "client_id",
            "expected a client ID with clean session off: a generated ID would leave an "
            "orphan session on the server",
        )
    ]
    assert Settings("mqtt://broker", client_id="gw17", clean_session=False).problems() == []


@pytest.mark.parametrize("scheme", ["mqtt", "mqtts"])
def test_ws_headers_only_with_websocket(scheme: str) -> None:
    settings = Settings(f"{scheme}://broker", ws_headers=(("Authorization", "Bearer x"),))
    assert settings.problems() == [
        ("ws_headers", f"expected only with ws:// or wss://, got {scheme}://")
    ]


@pytest.mark.parametrize("scheme", ["ws", "wss"])
def test_ws_headers_with_websocket(scheme: str) -> None:
    headers = (("Authorization", "Bearer x"), ("X-Plant", "7"))
    assert Settings(f"{scheme}://broker", ws_headers=headers).problems() == []


@pytest.mark.parametrize(("name", "value"), [("Bad Name", "x"), ("", "x")])
def test_bad_ws_headers(name: str, value: str) -> None:
    settings = Settings("ws://broker", ws_headers=((name, value),))
    assert settings.problems() == [("ws_headers", f"expected 'Name: value', got {name!r}")]


@pytest.mark.parametrize("value", ["a\r\nInjected: 1", "a\0b", "a\udcffb"])
def test_bad_ws_header_values(value: str) -> None:
    settings = Settings("ws://broker", ws_headers=(("X-Ok", value),))
    assert settings.problems() == [
        (
            "ws_headers",
            "expected the value of 'X-Ok' without CR, LF, NUL or bytes that are not UTF-8",
        )
    ]


# --------------------------------------------------------------------------- resolved_password()


def test_resolved_password_from_the_setting() -> None:
    settings = Settings(f"mqtt://plant:{URI_PASSWORD}@broker", password="pässwörd")
    assert settings.resolved_password() == b"p\xc3\xa4ssw\xc3\xb6rd"


def test_resolved_password_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(ENV, PASSWORD)
    settings = Settings("mqtt://broker", username="plant", password_env=ENV)
    assert settings.resolved_password() == PASSWORD.encode()


def test_resolved_password_env_gone(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(ENV, raising=False)
    settings = Settings("mqtt://broker", username="plant", password_env=ENV)
    with pytest.raises(InvalidSettings) as info:
        settings.resolved_password()
    assert info.value.problems == [("password_env", f"environment variable {ENV!r} is not set")]


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (b"s3cret", b"s3cret"),
        (b"s3cret\n", b"s3cret"),
        (b"s3cret\n\n", b"s3cret\n"),
        (b"s3 cret \n", b"s3 cret "),
        (b"\n", b""),
        (b"", b""),
        (b"line1\nline2\n", b"line1\nline2"),
        ("pässwörd\n".encode(), "pässwörd".encode()),
    ],
)
def test_resolved_password_from_a_file(content: bytes, expected: bytes, tmp_path: Path) -> None:
    path = tmp_path / "password"
    path.write_bytes(content)
    settings = Settings("mqtt://broker", username="plant", password_file=str(path))
    assert settings.problems() == []
    assert settings.resolved_password() == expected


def test_resolved_password_file_gone(tmp_path: Path) -> None:
    path = str(tmp_path / "gone")
    settings = Settings("mqtt://broker", username="plant", password_file=path)
    with pytest.raises(InvalidSettings) as info:
        settings.resolved_password()
    assert info.value.problems == [
        ("password_file", f"cannot read {path!r}: No such file or directory")
    ]


def test_resolved_password_file_not_utf8(tmp_path: Path) -> None:
    # An MQTT password is binary data (§3.1.3.5): bytes that are not UTF-8 go as they are.
    path = tmp_path / "password"
    path.write_bytes(b"\xff\xfe\n")
    settings = Settings("mqtt://broker", username="plant", password_file=str(path))
    assert settings.resolved_password() == b"\xff\xfe"


@pytest.mark.parametrize(
    ("uri", "expected"),
    [
        (f"mqtt://plant:{URI_PASSWORD}@broker", URI_PASSWORD.encode()),
        ("mqtt://plant:p%40ss%3Aw@broker", b"p@ss:w"),
        ("mqtt://plant:@broker", b""),
        ("mqtt://plant@broker", None),
        ("mqtt://broker", None),
    ],
)
def test_resolved_password_from_the_uri(uri: str, expected: bytes | None) -> None:
    settings = Settings(uri)
    assert settings.resolved_password() == expected
    assert settings.resolved_username() == ("plant" if "plant" in uri else None)


def test_resolved_username_prefers_the_setting() -> None:
    settings = Settings("mqtt://plant@broker", username="line7")
    assert settings.resolved_username() == "line7"


def test_keyfile_password_from_a_file(tmp_path: Path) -> None:
    path = tmp_path / "key-password"
    path.write_text(KEY_PASSWORD + "\n")
    settings = Settings("mqtts://broker", security=Security(keyfile_password_file=str(path)))
    assert settings.keyfile_password() == KEY_PASSWORD


# --------------------------------------------------------------------------- secrets


def test_settings_repr_hides_secrets(pem: Path) -> None:
    settings = Settings(
        f"mqtts://plant:{URI_PASSWORD}@broker",
        client_id="gw17",
        username="plant",
        password=PASSWORD,
        security=Security(cafile=str(pem), keyfile_password=KEY_PASSWORD),
    )
    text = repr(settings)
    assert text == (
        "Settings(server_uri='mqtts://plant:***@broker', client_id='gw17', username='plant', "
        f"password=<hidden>, security=Security(cafile={str(pem)!r}, keyfile_password=<hidden>))"
    )
    for secret in (PASSWORD, KEY_PASSWORD, URI_PASSWORD):
        assert secret not in text
        assert secret not in str(settings)


def test_security_repr_hides_the_key_password() -> None:
    security = Security(keyfile_password=KEY_PASSWORD, insecure=True)
    assert repr(security) == "Security(keyfile_password=<hidden>, insecure=True)"
    assert KEY_PASSWORD not in str(security)
    assert repr(Security()) == "Security()"


def test_settings_repr_without_secrets() -> None:
    assert repr(Settings("mqtt://broker")) == "Settings(server_uri='mqtt://broker')"
    assert repr(Settings("ws://broker", keep_alive=30, password_env=ENV)) == (
        f"Settings(server_uri='ws://broker', password_env={ENV!r}, keep_alive=30)"
    )


def test_messages_never_contain_secrets(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(ENV, PASSWORD)
    settings = Settings(
        f"mqtt://plant:{URI_PASSWORD}@broker:0",
        password=PASSWORD,
        password_env=ENV,
        security=Security(keyfile_password=KEY_PASSWORD, keyfile_password_env=ENV),
    )
    with pytest.raises(InvalidSettings) as info:
        settings.check()
    error = info.value
    # The URI carries a user ("plant@"), so no user name is missing.
    assert [name for name, _ in error.problems] == [
        "server_uri",
        "password",
        "security.keyfile_password",
    ]
    for text in (str(error), repr(error), repr(error.args)):
        for secret in (PASSWORD, KEY_PASSWORD, URI_PASSWORD):
            assert secret not in text
    # With a URI that parses, the TLS checks run too.
    settings = settings.replace(server_uri=f"mqtts://plant:{URI_PASSWORD}@broker")
    with pytest.raises(InvalidSettings) as info:
        settings.check()
    assert [name for name, _ in info.value.problems] == [
        "password",
        "security.keyfile_password",
    ]
    for secret in (PASSWORD, KEY_PASSWORD, URI_PASSWORD):
        assert secret not in str(info.value)


def test_invalid_settings_is_ours() -> None:
    assert issubclass(InvalidSettings, Error)
    assert issubclass(InvalidSettings, ValueError)


@pytest.mark.parametrize("name", ["Host", "upgrade", "Connection", "Sec-WebSocket-Protocol"])
def test_ws_headers_the_upgrade_sets_itself_are_refused(name: str) -> None:
    settings = Settings("ws://broker", ws_headers=((name, "x"),))
    assert settings.problems() == [
        ("ws_headers", f"expected a header the upgrade does not set itself, got {name!r}")
    ]


def test_repr_shows_ws_header_names_not_values() -> None:
    settings = Settings("wss://broker", ws_headers=(("Authorization", "Bearer s3cr3t-t0ken"),))
    assert "s3cr3t-t0ken" not in repr(settings)
    assert "ws_headers=('Authorization',)" in repr(settings)


@pytest.mark.parametrize("server_name", [".x", "a..b", "bad name", "xn--\u00e4"])
def test_bad_server_name_refused(server_name: str) -> None:
    settings = Settings("mqtts://broker", security=Security(server_name=server_name))
    assert [field for field, _ in settings.problems()] == ["security.server_name"]


def test_host_that_is_not_idna_refused() -> None:
    with pytest.raises(InvalidSettings) as info:
        parse_uri("mqtt://\u00e4..example")
    assert info.value.field == "server_uri"


def test_password_env_that_is_not_utf8_goes_as_bytes(monkeypatch: pytest.MonkeyPatch) -> None:
    # os.environ keeps undecodable bytes as surrogates (PEP 383): \xff\xfe here.
    monkeypatch.setenv("PCO_WIRE_TEST_PW", "\udcff\udcfe")
    settings = Settings("mqtt://broker", username="plant", password_env="PCO_WIRE_TEST_PW")
    assert settings.resolved_password() == b"\xff\xfe"


# --------------------------------------------------------------------------- types of every field

# A wrong value of each field, as a library user may pass it; each must be reported for
# that field, never raise, and never be taken for a right one ("false" is not False).
WRONG_TYPES: list[tuple[str, object, str]] = [
    ("client_id", b"gw17", "client_id"),
    ("client_id", None, "client_id"),
    ("username", b"plant", "username"),
    ("username", 17, "username"),
    ("password", b"secret", "password"),
    ("password_env", ["VAR"], "password_env"),
    ("password_file", Path("/etc/passwd"), "password_file"),
    ("password_file", "a\0b", "password_file"),
    ("response_timeout", "10", "response_timeout"),
    ("keep_alive", 10**5000, "keep_alive"),
    ("keep_alive", 60.0, "keep_alive"),
    ("clean_session", "false", "clean_session"),
    ("clean_session", 0, "clean_session"),
    ("protocol", ["3.1.1"], "protocol"),
    ("protocol", 4, "protocol"),
    ("will", "offline", "will"),
    ("will", {"topic": "t"}, "will"),
    ("security", {"insecure": True}, "security"),
    ("ws_headers", "Authorization: x", "ws_headers"),
    ("ws_headers", (("X-A", 1),), "ws_headers"),
    ("ws_headers", (("X-A",),), "ws_headers"),
    ("reconnect", "no", "reconnect"),
    ("reconnect_min_delay", "1", "reconnect_min_delay"),
    ("reconnect_max_delay", float("inf"), "reconnect_max_delay"),
    ("max_packet_size", 1.5, "max_packet_size"),
    ("max_packet_size", -(10**5000), "max_packet_size"),
]
WRONG_SECURITY_TYPES: list[tuple[str, object]] = [
    ("cafile", b"/etc/ca.pem"),
    ("cafile", "/etc/ca\0.pem"),
    ("certfile", Path("/etc/client.pem")),
    ("keyfile", 1),
    ("keyfile_password", b"secret"),
    ("keyfile_password_env", "A=B"),
    ("keyfile_password_env", ""),
    ("keyfile_password_file", "a\0b"),
    ("verify_hostname", "false"),
    ("verify_hostname", None),
    ("insecure", "false"),
    ("insecure", 1),
    ("server_name", b"broker"),
    ("alpn", "mqtt"),
    ("alpn", (b"mqtt",)),
    ("tls_min_version", 1.2),
    ("tls_min_version", ["1.2"]),
]


def test_a_key_password_that_is_no_bytes_is_refused() -> None:
    # "\ud800" is no byte that surrogateescape stands for: OpenSSL could not be given it.
    settings = Settings("mqtts://broker", security=Security(keyfile_password="k\ud800"))
    assert settings.problems() == [
        ("security.keyfile_password", "expected text, got a lone surrogate that is no byte")
    ]
    assert (
        Settings("mqtts://broker", security=Security(keyfile_password="k\udcff")).problems() == []
    )


WRONG_WILL_TYPES: list[tuple[str, object]] = [
    ("topic", b"plant/status"),
    ("topic", None),
    ("message", b"offline"),
    ("qos", "1"),
    ("qos", True),
    ("qos", 10**5000),
    ("retain", "false"),
]


def _id(value: object) -> str | None:
    # pytest names a case by str(value): that raises for an int of 5,000 digits.
    if isinstance(value, int) and value.bit_length() > 64:
        return "huge-int"
    return None


@pytest.mark.parametrize(("name", "value", "field"), WRONG_TYPES, ids=_id)
def test_wrong_type_of_a_field_is_its_problem(name: str, value: object, field: str) -> None:
    # The user in the URI: a password source of the wrong type still needs none other.
    settings = Settings("mqtt://plant@broker", **{name: value})  # type: ignore[arg-type]
    problems = settings.problems()
    assert [f for f, _ in problems] == [field], problems
    with pytest.raises(InvalidSettings):
        settings.check()
    repr(settings)


@pytest.mark.parametrize(("name", "value"), WRONG_SECURITY_TYPES, ids=_id)
def test_wrong_type_of_a_security_field_is_its_problem(name: str, value: object) -> None:
    settings = Settings("mqtts://broker", security=Security(**{name: value}))  # type: ignore[arg-type]
    assert [f for f, _ in settings.problems()] == [f"security.{name}"], settings.problems()
    repr(settings)


@pytest.mark.parametrize(("name", "value"), WRONG_WILL_TYPES, ids=_id)
def test_wrong_type_of_a_will_field_is_its_problem(name: str, value: object) -> None:
    will = WillSettings(**{"topic": "plant/status", name: value})  # type: ignore[arg-type]
    settings = Settings("mqtt://broker", will=will)
    assert [f for f, _ in settings.problems()] == [f"will.{name}"], settings.problems()
    repr(settings)


def test_insecure_as_a_string_is_not_on() -> None:
    settings = Settings("mqtts://broker", security=Security(insecure="false"))  # type: ignore[arg-type]
    assert settings.problems() == [("security.insecure", "expected True or False, got a str")]


def test_bytes_are_named_as_such() -> None:
    assert Settings("mqtt://broker", username=b"plant").problems() == [  # type: ignore[arg-type]
        ("username", "expected text or None, got bytes (5 bytes): decode them to text first")
    ]
    assert Settings(b"mqtt://broker").problems() == [  # type: ignore[arg-type]
        (
            "server_uri",
            "expected a URI as text, got bytes (13 bytes): decode them to text first",
        )
    ]


# Any value a caller might pass, including ones whose repr() raises (an int of 5,000
# digits) or whose comparison is unusual (NaN).
any_value = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.just(10**5000),
    st.floats(),
    st.text(),
    st.binary(),
    st.lists(st.one_of(st.text(), st.binary(), st.integers()), max_size=3),
    st.lists(st.tuples(st.text(), st.one_of(st.text(), st.integers())), max_size=3).map(tuple),
    st.dictionaries(st.text(), st.integers(), max_size=2),
    st.sampled_from([Path("ca.pem"), object(), Security(), WillSettings("t"), "mqtt://u:p@h"]),
)


def _fields(draw: st.DrawFn, names: list[str]) -> dict[str, object]:
    chosen = draw(st.lists(st.sampled_from(names), unique=True, max_size=4))
    return {name: draw(any_value) for name in chosen}


@st.composite
def any_settings(draw: st.DrawFn) -> Settings:
    fields = _fields(draw, [n for n in Settings._fields if n not in ("server_uri",)])
    if draw(st.booleans()):
        fields["security"] = Security(**_fields(draw, list(Security._fields)))  # type: ignore[arg-type]
    if draw(st.booleans()):
        will: dict[str, Any] = {"topic": "t", **_fields(draw, list(WillSettings._fields))}
        fields["will"] = WillSettings(**will)
    uri = draw(
        st.one_of(
            any_value, st.sampled_from(["mqtt://127.0.0.1", "mqtts://127.0.0.1", "ws://[::1]"])
        )
    )
    return Settings(uri, **fields)  # type: ignore[arg-type]


@hypothesis_settings(max_examples=400, deadline=None)
@given(settings=any_settings())
def test_problems_never_raise_and_check_means_usable(settings: Settings) -> None:
    """problems() is a list of (field, reason) for any value of any field; the repr never
    raises; and settings without problems make a CONNECT that encodes: everything the
    encoder would refuse is found first."""
    problems = settings.problems()
    assert isinstance(problems, list)
    assert all(isinstance(f, str) and isinstance(r, str) for f, r in problems)
    assert isinstance(repr(settings), str)
    if isinstance(settings.security, Security):
        settings.security.given()
    settings.problems(identity_kept=True)
    if problems:
        with pytest.raises(InvalidSettings):
            settings.check()
        return
    settings.check()
    from pco_wire import encode

    packet = settings.connect_packet(settings.client_id or generate_client_id())
    assert encode(packet)


# --------------------------------------------------------------------------- hostile input: exit 2

# User mistakes that once ended in exit 70 (an exception that is not ours) or in a
# name-resolution failure: each must be an exit-2 sentence naming the field, before any
# traffic. (URI, the start of the reason.)
HOSTILE_URIS: list[tuple[str, str]] = [
    ("mqtt://127.0.0.1:" + "9" * 5000, "expected a port 1..65535, got a number of 5,000 digits"),
    ("mqtt://127.0.0.1:" + "0" * 5000 + "1883x", "expected a port 1..65535 after ':'"),
    ("mqtt://[::1", "expected ']' closing the IPv6 address"),
    ("mqtt://host:port", "expected a port 1..65535 after ':' in 'mqtt://host:***'"),
    ("mqtt://h:-1", "expected a port 1..65535 after ':'"),
    ("mqtt://ho\0st", "expected a host name or address, got 'ho\\x00st'"),
    ("mqtt://ho%00st", "expected a host name or address, got 'ho\\x00st'"),
    ("ws://127.0.0.1/pa\0th", "expected no spaces or control characters in the path"),
    ("ws://127.0.0.1/p?q=\0", "expected no spaces or control characters in the path"),
    ("mqtt://us\0er@127.0.0.1", "the user name: expected no U+0000, got one at character 3"),
    ("mqtt://us%00er@127.0.0.1", "the user name: expected no U+0000, got one at character 3"),
    ("mqtt://[fe80::1%eth\0]", "expected a zone ID of letters, digits"),
    ("mqtt://[fe80::1%eth 0]", "expected a zone ID of letters, digits"),
    ("mqtt://[fe80::1%25eth%200]", "expected a zone ID of letters, digits"),
    ("mqtt://[fe80::1%]", "expected a zone ID of letters, digits"),
    ("mqtt://[fe80::1%25%25]", "expected a zone ID of letters, digits"),
    ("mqtt://::1:1883", "expected an IPv6 address in brackets: mqtt://[::1]:1883"),
    ("mqtts://fe80::1%eth0", "expected an IPv6 address in brackets: mqtts://[fe80::1%eth0]"),
    ("mqtt://1:2:3", "expected an IPv6 address in brackets, e.g. [::1]:1883"),
    ("mqtt://xn--a.example", "expected a host name or address, got 'xn--a.example': 'xn--a'"),
    ("mqtt://" + "a" * 64 + ".example", "expected a host name or address"),
    ("mqtt://" + "abcdefghi." * 26 + "com", "expected a host name or address"),
    ("mqtt://\ufffd.example", "expected a host name or address"),
    ("mqtt://h\udcff", "expected UTF-8 text, got a byte that is not UTF-8 at character 9"),
    ("ws://h/\udcff", "expected UTF-8 text, got a byte that is not UTF-8 at character 8"),
]


@pytest.mark.parametrize(("uri", "reason"), HOSTILE_URIS, ids=range(len(HOSTILE_URIS)))
def test_hostile_uris_are_settings_problems(uri: str, reason: str) -> None:
    from pco_wire.sync import test_connection

    problems = Settings(uri).problems()
    assert [field for field, _ in problems] == ["server_uri"], problems
    assert problems[0][1].startswith(reason), problems
    result = test_connection(Settings(uri))
    assert (result.exit_code, result.category) == (2, "invalid-settings"), result.message


# Command-line options with the same kind of values: (arguments, field).
HOSTILE_OPTIONS: list[tuple[list[str], str]] = [
    (["mqtt://127.0.0.1", "--username", "u\0"], "username"),
    (["mqtt://127.0.0.1", "--username", "u\udcff"], "username"),
    (["mqtt://127.0.0.1", "--username", "a" * 70_000], "username"),
    (["mqtt://127.0.0.1", "-u", "u", "--password", "p" * 70_000], "password"),
    (["mqtt://127.0.0.1", "-u", "u", "--password", "\ud800"], "password"),
    (["mqtt://127.0.0.1", "--client-id", "\udcff"], "client_id"),
    (["mqtt://127.0.0.1", "--no-clean-session"], "client_id"),
    (["mqtt://127.0.0.1", "--will-topic", "t\udcff"], "will.topic"),
    (["mqtt://127.0.0.1", "--will-topic", "t" * 70_000], "will.topic"),
    (["mqtt://127.0.0.1", "--will-topic", "t", "--will-message", "m" * 70_000], "will.message"),
    (["mqtts://127.0.0.1", "--cafile", "/tmp/ca\0.pem"], "security.cafile"),
    (["mqtts://127.0.0.1", "--cafile", "/tmp/ca\ud800.pem"], "security.cafile"),
    (["mqtts://127.0.0.1", "--server-name", "a" * 64], "security.server_name"),
    (["mqtts://127.0.0.1", "--server-name", "xn--a"], "security.server_name"),
    (["mqtts://127.0.0.1", "--alpn", "\udcff"], "security.alpn"),
    (["mqtts://127.0.0.1", "--alpn", "a" * 256], "security.alpn"),
    (["mqtts://127.0.0.1", "--alpn", "mqtté"], "security.alpn"),
    (["ws://127.0.0.1", "--ws-header", "X-A: \udcff"], "ws_headers"),
    (["mqtt://127.0.0.1", "-u", "u", "--password-env", "A=B"], "password_env"),
    (["mqtt://127.0.0.1", "-u", "u", "--password-env", "A\0"], "password_env"),
    (["mqtt://127.0.0.1", "-u", "u", "--password-file", "/tmp/p\0"], "password_file"),
]


def _cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str]:
    from pco_wire.cli import main

    code = main(list(argv))
    out = capsys.readouterr()
    text = out.out + out.err
    assert "Traceback" not in text
    return code, text


@pytest.mark.parametrize(("uri", "reason"), HOSTILE_URIS, ids=range(len(HOSTILE_URIS)))
def test_hostile_uris_exit_2(uri: str, reason: str, capsys: pytest.CaptureFixture[str]) -> None:
    code, text = _cli(capsys, "test", uri, "-t", "1")
    assert code == 2, text
    failed = "FAILED (invalid-settings, exit 2): invalid settings: server_uri: "
    assert text.splitlines()[-1].startswith(failed), text
    # What the user typed is shown escaped: no raw control character reaches a terminal.
    assert all(line.isprintable() for line in text.splitlines()), text
    code, text = _cli(capsys, "test", uri, "--json")
    assert code == 2, text


@pytest.mark.parametrize(("argv", "field"), HOSTILE_OPTIONS, ids=range(len(HOSTILE_OPTIONS)))
def test_hostile_options_exit_2(
    argv: list[str], field: str, capsys: pytest.CaptureFixture[str]
) -> None:
    code, text = _cli(capsys, "test", *argv, "-t", "1")
    assert code == 2, text
    failed = f"FAILED (invalid-settings, exit 2): invalid settings: {field}: "
    failures = [line for line in text.splitlines() if line.startswith("FAILED")]
    assert len(failures) == 1 and failures[0].startswith(failed), text


@pytest.mark.parametrize(
    "argv",
    [
        ["test", "mqtt://h\udcff"],
        ["test", "mqtt://127.0.0.1", "--client-id", "\udcff"],
        ["test", "mqtt://127.0.0.1", "--username", "u\udcff", "--json"],
        ["test", "mqtts://127.0.0.1", "--cafile", "/nonexistent/\udcff"],
    ],
    ids=["uri", "client-id", "username-json", "cafile"],
)
def test_bytes_that_are_not_utf8_from_argv(argv: list[str]) -> None:
    """As a shell passes them ($'\\xff'): the process writes its sentence whatever the
    terminal's encoding, exit 2, no traceback."""
    from tests.peers import run_cli

    run = run_cli(*argv[1:], command=argv[0])
    assert run.code == 2, run
    assert "Traceback" not in run.stderr + run.stdout
    assert "invalid-settings" in run.stderr + run.stdout


def _toml(value: str) -> str:
    import json

    return json.dumps(value)  # a TOML basic string for the characters used here


@pytest.mark.parametrize(
    ("lines", "field"),
    [
        (f"server_uri = {_toml(HOSTILE_URIS[0][0])}", "server_uri"),
        ('server_uri = "mqtt://::1:1883"', "server_uri"),
        ('server_uri = "mqtt://[fe80::1%eth 0]"', "server_uri"),
        ('server_uri = "mqtt://xn--a.example"', "server_uri"),
        ('server_uri = "mqtt://h"\nusername = "u\\u0000"', "username"),
        ('server_uri = "mqtts://h"\n[security]\ncafile = "a\\u0000b"', "security.cafile"),
        ('server_uri = "mqtt://h"\nusername = "u"\npassword_file = "a\\u0000"', "password_file"),
        ('server_uri = "mqtt://h"\nclient_id = ' + "9" * 5000, "file"),
    ],
    ids=["port", "ipv6", "zone", "idna", "user-nul", "cafile-nul", "password-file-nul", "int"],
)
def test_hostile_values_in_a_file_exit_2(
    lines: str, field: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "gateway.toml"
    path.write_text(lines + "\n")
    code, text = _cli(capsys, "config", "check", str(path))
    assert code == 2, text
    assert f"  {field}: " in text, text
    code, text = _cli(capsys, "test", "--config", str(path))
    assert code == 2, text
    assert f"invalid settings: {field}: " in text, text


# --------------------------------------------------------------------------- one validation

# One file per rule, with the field it breaks: `config check`, `test --config`,
# `monitor --config` and Settings.problems(identity_kept=True) must say the same.
RULES: list[tuple[str, str]] = [
    ('username = "u\\u0000"', "username"),
    (f'username = "{"u" * 65_536}"', "username"),
    (f'username = "u"\npassword = "{"p" * 65_536}"', "password"),
    ('password = "p"', "username"),
    ('client_id = "gw-17"', "client_id"),
    ("keep_alive = 65536", "keep_alive"),
    ('protocol = "5.0"', "protocol"),
    ('username = "u"\npassword_env = "PCO_WIRE_TEST_UNSET_VARIABLE"', "password_env"),
    ('[will]\ntopic = "plant/+/status"', "will.topic"),
    ('[will]\ntopic = "plant/\\u0000"', "will.topic"),
    (f'[will]\ntopic = "{"t" * 65_536}"', "will.topic"),
    (f'[will]\ntopic = "t"\nmessage = "{"m" * 65_536}"', "will.message"),
    ('[will]\ntopic = "t"\nqos = 3', "will.qos"),
]


@pytest.mark.parametrize(("lines", "field"), RULES, ids=[f for _, f in RULES])
def test_check_test_monitor_and_problems_agree(
    lines: str, field: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from pco_wire import config

    path = tmp_path / "gateway.toml"
    top, _, table = lines.partition("[")
    path.write_text(
        f'server_uri = "mqtt://127.0.0.1:1"\n{top}\n' + (f"[{table}\n" if table else "")
    )
    settings = config.load(str(path), check=False)[0]
    problems = settings.problems(identity_kept=True)
    assert [f for f, _ in problems] == [field], problems
    reason = problems[0][1]
    code, text = _cli(capsys, "config", "check", str(path))
    assert (code, text) == (2, f"{path}: 1 problem\n  {field}: {reason}\n")
    for command in ("test", "monitor"):
        code, text = _cli(capsys, command, "--config", str(path))
        assert code == 2, text
        assert f"FAILED (invalid-settings, exit 2): invalid settings: {field}: {reason}" in text
    # Without a file, the same rule, the same words.
    assert settings.problems() == problems


def test_blank_client_id_with_clean_session_off_one_rule(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """With a settings file the ID generated is kept there, so clean session off needs
    none given: `config check` and `test --config` both accept it. Without a file both
    the library and `test` refuse it."""
    from pco_wire import config
    from tests.broker import free_port

    path = tmp_path / "gateway.toml"
    uri = f"mqtt://127.0.0.1:{free_port()}"
    path.write_text(f'server_uri = "{uri}"\nclean_session = false\n')
    settings = config.load(str(path))[0]
    assert settings.problems(identity_kept=True) == []
    assert _cli(capsys, "config", "check", str(path)) == (0, f"{path}: ok\n")
    code, text = _cli(capsys, "test", "--config", str(path), "-t", "1")
    assert code == 3, text  # nothing listens: past every check, to the network
    assert config.load(str(path))[0].client_id  # generated and kept
    refusal = (
        "client_id",
        "expected a client ID with clean session off: a generated ID would leave an "
        "orphan session on the server",
    )
    assert Settings(uri, clean_session=False).problems() == [refusal]
    code, text = _cli(capsys, "test", uri, "--no-clean-session")
    assert code == 2, text
    assert f"invalid settings: {refusal[0]}: {refusal[1]}" in text


def test_wizard_keeps_the_file_rule_for_clean_session(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The wizard writes a settings file: a blank ID with clean session off is accepted,
    as `config check` accepts the file it writes."""
    from pco_wire import config
    from tests.test_wizard import run_wizard

    path = tmp_path / "gateway.toml"
    answers = ["mqtt", "127.0.0.1", "", "", "", "", "", "", "no", "", "", "", "n", ""]
    run = run_wizard(path, answers)
    assert run.code == 0, run.output
    settings = config.load(str(path))[0]
    assert (settings.client_id, settings.clean_session) == ("", False)
    assert _cli(capsys, "config", "check", str(path)) == (0, f"{path}: ok\n")


# --------------------------------------------------------------------------- misplaced secrets

# A password pasted where a variable or a file is named, or a URI with its password
# where none is expected: it must never come out, in any output.
PLANTED = "Zq8-Planted!41x"


def _planted_files(tmp_path: Path, port: int) -> dict[str, str]:
    uri = f"mqtt://127.0.0.1:{port}"
    tls = f"mqtts://127.0.0.1:{port}"
    return {
        "password_env": f'server_uri = "{uri}"\nusername = "u"\npassword_env = "{PLANTED}"\n',
        "password_file": f'server_uri = "{uri}"\nusername = "u"\npassword_file = "{PLANTED}"\n',
        "keyfile_password_env": f'server_uri = "{tls}"\n[security]\n'
        f'keyfile_password_env = "{PLANTED}"\n',
        "keyfile_password_file": f'server_uri = "{tls}"\n[security]\n'
        f'keyfile_password_file = "{PLANTED}"\n',
        "uri-list": f'server_uri = ["mqtt://u:{PLANTED}@127.0.0.1:{port}"]\n',
        "uri-in-username": f'server_uri = "{uri}"\nusername = "mqtt://u:{PLANTED}@h"\n',
        "percent-colon": f'server_uri = "mqtt://user%3A{PLANTED}@127.0.0.1:{port}"\n',
        "alpn-uri": f'server_uri = "{tls}"\n[security]\nalpn = ["https://u:{PLANTED}@h"]\n',
    }


def test_a_planted_secret_never_comes_out(tmp_path: Path, broker: Broker) -> None:
    from tests.peers import run_cli

    outputs: list[str] = []
    port = broker.ports.tcp
    runs = [
        ["test", f"mqtt://127.0.0.1:{port}", "-u", "u", "--password-env", PLANTED],
        ["test", f"mqtt://127.0.0.1:{port}", "-u", "u", "--password-file", PLANTED],
        ["test", f"mqtts://127.0.0.1:{port}", "--key-password-env", PLANTED],
        ["test", f"mqtts://127.0.0.1:{port}", "--key-password-file", PLANTED],
        ["test", f"mqtt://user%3A{PLANTED}@127.0.0.1:{port}"],
        ["test", f"mqtt://user%3a{PLANTED}@127.0.0.1:{port}"],
        ["test", f"mqtt://user:{PLANTED}"],
        ["monitor", f"mqtt://user%3A{PLANTED}@127.0.0.1:{port}", "--duration", "0.1"],
    ]
    for name, text in _planted_files(tmp_path, port).items():
        path = tmp_path / f"{name}.toml"
        path.write_text(text)
        path.chmod(0o600)
        runs += [["config", "check", str(path)], ["config", "show", str(path)]]
        runs += [["test", "--config", str(path)]]
    for argv in runs:
        extra = [["--json"], ["--debug"]] if argv[0] in ("test", "monitor") else [[]]
        for more in extra:
            run = run_cli(*argv[1:], *more, command=argv[0])
            # Refused before any traffic (2), refused by the broker's rules, or a network
            # status from loopback: never a bug, never a name sent to a resolver.
            assert run.code in (0, 1, 2, 3, 4), run
            if argv[1:2] == [f"mqtt://user:{PLANTED}"]:
                assert run.code == 2, run
            outputs += [run.stdout, run.stderr]
    # The library: reprs and messages.
    values = [
        Settings(f"mqtt://u:{PLANTED}@h".encode()),  # type: ignore[arg-type]
        Settings(bytearray(f"mqtt://u:{PLANTED}@h".encode())),  # type: ignore[arg-type]
        Settings("mqtt://h", username="u", password_env=PLANTED),
        Settings("mqtt://h", username="u", password_file=PLANTED),
        Settings("mqtt://h", username=f"u:{PLANTED}"),
        Settings("mqtt://h", username=f"mqtt://u:{PLANTED}@h"),
        Settings(f"mqtt://user%3A{PLANTED}@h"),
        Settings(f"mqtt://user:{PLANTED}"),
        Settings([f"mqtt://u:{PLANTED}@h"]),
        Settings("mqtts://h", security=Security(keyfile_password_env=PLANTED)),
        Settings("mqtts://h", security=Security(keyfile_password_file=PLANTED)),
        Settings("mqtts://h", security=Security(keyfile_password=PLANTED.encode())),  # type: ignore[arg-type]
        Settings("mqtt://h", password=PLANTED.encode()),  # type: ignore[arg-type]
        Settings("mqtt://h", protocol=f"mqtt://u:{PLANTED}@h"),
        Settings("ws://h", ws_headers=(("Authorization", PLANTED),)),
        Settings("ws://h", ws_headers=(("Authorization", f"{PLANTED}\n"),)),
    ]
    for settings in values:
        outputs.append(repr(settings))
        outputs.append(repr(settings.security))
        outputs += [f"{field}: {reason}" for field, reason in settings.problems()]
        try:
            settings.check()
        except InvalidSettings as exc:
            outputs += [str(exc), repr(exc)]
    outputs.append(str(parse_uri(f"mqtt://user%3A{PLANTED}@h")))
    outputs.append(repr(parse_uri(f"mqtt://user%3A{PLANTED}@h")))
    leaks = [text for text in outputs if PLANTED in text or PLANTED.replace("!", "%21") in text]
    assert leaks == []


def test_wizard_never_shows_a_planted_secret(tmp_path: Path) -> None:
    from pco_wire.settings import shown_source
    from tests.test_wizard import run_wizard

    path = tmp_path / "gateway.toml"
    text = f'server_uri = "mqtt://127.0.0.1"\nusername = "u"\npassword_env = "{PLANTED}"\n'
    path.write_text(text)
    run = run_wizard(path, [])  # the file's problems, then the first question: no answer
    assert "password_env: expected the name of a set environment variable" in run.output
    assert PLANTED not in run.output
    assert path.read_text() == text
    # What the summary says of a variable or file named so oddly: its length only.
    assert shown_source(PLANTED, "variable") == (
        "(15 characters, not shown: perhaps a password given in the wrong place)"
    )
    assert shown_source("MQTT_PASSWORD", "variable") == "MQTT_PASSWORD"
    assert shown_source("/etc/pco_wire/password", "file") == "/etc/pco_wire/password"


@pytest.mark.parametrize(
    "client_id", ["bad id!", "x" * 24, b"gw17"], ids=["space", "long", "bytes"]
)
def test_a_client_id_given_to_test_connection_obeys_the_rule(client_id: object) -> None:
    from pco_wire.sync import test_connection

    result = test_connection(Settings("mqtt://127.0.0.1:1"), client_id=client_id)  # type: ignore[arg-type]
    assert (result.exit_code, result.category) == (2, "invalid-settings"), result.message
    assert result.message.startswith("invalid settings: client_id: ")


@pytest.mark.parametrize("settings", ["mqtt://127.0.0.1:1", None, {"server_uri": "mqtt://h"}])
def test_test_connection_of_something_else_than_settings(settings: object) -> None:
    from pco_wire.sync import test_connection

    result = test_connection(settings)  # type: ignore[arg-type]
    assert (result.exit_code, result.category) == (2, "invalid-settings"), result.message
    assert result.message.startswith("invalid settings: settings: expected a Settings, got ")


@pytest.mark.parametrize("settings", [None, 3, "mqtt://broker", Settings])
def test_client_of_something_else_than_settings(settings: object) -> None:
    from pco_wire import Client

    client = Client(settings)  # type: ignore[arg-type]
    with pytest.raises(InvalidSettings) as info:
        client.connect()
    assert str(info.value).startswith("settings: expected a Settings, got "), info.value
    assert client.wait(0)


def test_a_long_path_is_shown_whole_and_a_huge_value_cut(tmp_path: Path) -> None:
    path = str(tmp_path / ("d" * 200) / ("f" * 200))
    settings = Settings("mqtts://broker", security=Security(cafile=path))
    assert settings.problems() == [
        ("security.cafile", f"expected a readable file or directory, got {path!r}")
    ]
    (reason,) = [r for _, r in Settings("mqtt://broker", protocol="p" * 5000).problems()]
    assert reason == f"expected 3.1.1, 3.1, 5 or auto, got {'p' * 200!r}... (5,000 characters)"


@pytest.mark.parametrize("host", ["127.0.0.1.", "1.2.3.4.5", "999.1.1.1", "10.0.0.256"])
def test_digits_and_dots_are_an_address_or_nothing(host: str) -> None:
    # No name server knows such a name: asking one would only say "not resolved".
    [(field, reason)] = Settings(f"mqtt://{host}:1883").problems()
    assert field == "server_uri" and "an IPv4 address of four numbers 0..255" in reason


def test_short_ipv4_forms_stay_addresses() -> None:
    assert Settings("mqtt://127.1:1883").problems() == []


def test_an_ipv6_zone_this_machine_has_not_is_a_settings_problem() -> None:
    # The literal does not parse here; the system resolver is not asked instead (the
    # network guard of the tests would fail this test if it were).
    from pco_wire.sync import test_connection

    result = test_connection(Settings("mqtt://[fe80::1%nosuchif0]:1883", response_timeout=2))
    assert (result.exit_code, result.category) == (2, "invalid-settings"), result.message
    assert "an IPv6 address this machine can use" in result.message
