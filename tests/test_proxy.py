"""The proxy protocols, sans I/O (pco_wire/proxy.py): URLs, the environment's variables
and NO_PROXY, the HTTP CONNECT request and the bounded parser of its answer, SOCKS5
(RFC 1928/1929) and SOCKS4/4a messages and replies. Every answer is fed whole and a byte
at a time; anything else either parses or raises ProxyError."""

from __future__ import annotations

import base64
import random
from pathlib import Path

import pytest

from pco_wire import InvalidSettings, ProxyError, Settings
from pco_wire.proxy import (
    MAX_HTTP_HEADER,
    HttpConnect,
    ProxyURL,
    Route,
    Socks4,
    Socks5,
    Tunnel,
    bypassed,
    choose,
    from_environment,
    parse_proxy,
    pattern_problem,
)

# ---------------------------------------------------------------------------- URLs


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("http://proxy:3128", ProxyURL("http", "proxy", 3128)),
        ("HTTP://Proxy.Example", ProxyURL("http", "proxy.example", 80)),
        ("socks5://10.0.0.1", ProxyURL("socks5", "10.0.0.1", 1080)),
        ("socks5h://u:p%40ss@[::1]:1081/", ProxyURL("socks5h", "::1", 1081, "u", "p@ss")),
        ("socks4a://u@h:1", ProxyURL("socks4a", "h", 1, "u", None)),
    ],
)
def test_proxy_urls_parse(text: str, expected: ProxyURL) -> None:
    assert parse_proxy(text) == expected


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("proxy:3128", "expected scheme://host:port"),
        ("https://proxy:443", "(TLS to the proxy itself is not supported)"),
        ("ftp://proxy", "expected scheme http, socks5, socks5h, socks4 or socks4a, got 'ftp'"),
        ("http://proxy:0", "expected a port 1..65535, got 0"),
        ("http://proxy:99999", "expected a port 1..65535, got 99999"),
        ("http://proxy:x", "expected a port 1..65535 after ':'"),
        ("http://", "expected a host name or address"),
        ("http://proxy/path", "expected no path, query or fragment"),
        ("http://[::1", "expected an IPv6 address in brackets"),
    ],
)
def test_bad_proxy_urls_name_the_field(text: str, reason: str) -> None:
    with pytest.raises(InvalidSettings) as caught:
        parse_proxy(text, "proxy")
    [(field, message)] = caught.value.problems
    assert field == "proxy" and reason in message, message


def test_a_proxy_password_is_never_shown() -> None:
    url = parse_proxy("http://gw:s3cret-pw@proxy:3128")
    assert "s3cret-pw" not in repr(url) and "s3cret-pw" not in str(url)
    route = Route(url, "gw", "s3cret-pw", "HTTP_PROXY")
    assert "s3cret-pw" not in repr(route) and "s3cret-pw" not in route.describe()
    with pytest.raises(InvalidSettings) as caught:
        parse_proxy("ftp://gw:s3cret-pw@proxy")
    assert "s3cret-pw" not in str(caught.value)
    settings = Settings("mqtt://b", proxy="http://gw:s3cret-pw@proxy:3128", proxy_password="pw2x")
    assert "s3cret-pw" not in repr(settings) and "pw2x" not in repr(settings)


# ---------------------------------------------------------------------------- NO_PROXY


@pytest.mark.parametrize(
    ("host", "port", "patterns", "match"),
    [
        ("broker.plant.example", 1883, ["*"], "*"),
        ("broker.plant.example", 1883, ["plant.example"], "plant.example"),
        ("broker.plant.example", 1883, [".plant.example"], ".plant.example"),
        ("plant.example", 1883, [".plant.example"], ".plant.example"),
        ("Broker.Plant.Example.", 1883, ["PLANT.example"], "PLANT.example"),
        ("notplant.example", 1883, ["plant.example"], None),
        ("broker.plant.example", 8883, ["broker.plant.example:1883"], None),
        ("broker.plant.example", 1883, ["broker.plant.example:1883"], "broker.plant.example:1883"),
        ("10.1.2.3", 1883, ["10.0.0.0/8"], "10.0.0.0/8"),
        ("11.1.2.3", 1883, ["10.0.0.0/8"], None),
        ("::1", 1883, ["[::1]"], "[::1]"),
        ("::1", 1883, ["[::1]:1883"], "[::1]:1883"),
        ("::1", 8883, ["[::1]:1883"], None),
        ("::1", 1883, ["::1"], "::1"),
        ("127.0.0.1", 1883, ["", " ", "localhost"], None),
    ],
)
def test_no_proxy_matching(host: str, port: int, patterns: list[str], match: str | None) -> None:
    assert bypassed(host, port, patterns) == match


# ---------------------------------------------------------------------------- environment


def test_variables_in_order_ours_then_the_schemes_then_all_lowercase_first() -> None:
    env = {
        "ALL_PROXY": "http://all:1",
        "HTTP_PROXY": "http://plain:1",
        "https_proxy": "http://tls-lower:1",
        "HTTPS_PROXY": "http://tls-upper:1",
    }
    assert from_environment(False, "b", 1883, env)[1] == "HTTP_PROXY"
    assert from_environment(True, "b", 8883, env)[1] == "https_proxy"
    assert from_environment(True, "b", 8883, {**env, "MQTT_PROXY": "socks5h://m:1"}) == (
        ProxyURL("socks5h", "m", 1),
        "MQTT_PROXY",
    )
    assert from_environment(True, "b", 8883, {"ALL_PROXY": "http://all:1"})[1] == "ALL_PROXY"
    # Empty counts as unset.
    assert (
        from_environment(False, "b", 1883, {"http_proxy": "", "ALL_PROXY": "http://a:1"})[1]
        == "ALL_PROXY"
    )
    assert from_environment(False, "b", 1883, {}) == (None, "no proxy variable set")
    # mqtt and ws never take HTTPS_PROXY, mqtts and wss never HTTP_PROXY.
    assert from_environment(False, "b", 1883, {"HTTPS_PROXY": "http://t:1"})[0] is None
    assert from_environment(True, "b", 8883, {"HTTP_PROXY": "http://p:1"})[0] is None


def test_no_proxy_from_the_environment_and_the_settings() -> None:
    env = {"HTTP_PROXY": "http://p:1", "no_proxy": "plant.example, 10.0.0.0/8"}
    url, why = from_environment(False, "b.plant.example", 1883, env)
    assert url is None and why == "NO_PROXY matches b.plant.example ('plant.example')"
    url, why = from_environment(False, "other", 1883, env, ["other"])
    assert url is None and "('other')" in why
    assert from_environment(False, "elsewhere", 1883, env)[1] == "HTTP_PROXY"


def test_a_bad_variable_is_named() -> None:
    with pytest.raises(InvalidSettings) as caught:
        from_environment(False, "b", 1883, {"http_proxy": "ftp://x"})
    assert caught.value.problems[0][0] == "http_proxy"


def test_choose_reads_the_environment_only_when_asked() -> None:
    env = {"HTTP_PROXY": "http://p:3128"}
    assert choose(None, False, "b", 1883, env) == (None, "")
    assert choose("none", False, "b", 1883, env) == (None, "")
    route, note = choose("env", False, "b", 1883, env, username="u", password="x")
    assert route is not None and route.source == "HTTP_PROXY" and route.username == "u"
    assert route.password == "x" and note == ""
    route, note = choose("env", False, "b", 1883, {})
    assert route is None and note == "--proxy env: no proxy variable set: connecting directly"
    route, note = choose("socks5h://s:1", False, "b", 1883, env, no_proxy=["b"])
    assert route is None and "no_proxy matches b" in note
    route, _ = choose("socks5h://a:pw@s:1", False, "b", 1883, env)
    assert route is not None and (route.username, route.password) == ("a", "pw")


def test_settings_check_the_proxy() -> None:
    def problems(**changes: object) -> list[tuple[str, str]]:
        return [p for p in Settings("mqtt://b", **changes).problems() if "proxy" in p[0]]  # type: ignore[arg-type]

    assert problems(proxy="env") == []
    assert problems(proxy="none") == []
    assert problems(proxy="gopher://x")[0][0] == "proxy"
    assert problems(proxy=3128)[0][0] == "proxy"
    assert problems(proxy="socks4a://p:1", proxy_password="x") == [
        ("proxy", "expected no password with socks4a:// (SOCKS4 has none)")
    ]
    assert problems(proxy="socks5://p:1", proxy_username="u" * 256)[0][0] == "proxy_username"
    assert problems(proxy="socks5://p:1", proxy_password="x")[0][0] == "proxy_username"
    assert problems(proxy="http://p:1", proxy_password="x", proxy_password_env="X")[0] == (
        "proxy_password",
        "expected at most one of proxy_password, proxy_password_env and proxy_password_file, "
        "got proxy_password, proxy_password_env",
    )
    assert problems(no_proxy=("a b",))[0][0] == "no_proxy"


@pytest.mark.parametrize(
    "pattern",
    [
        "*",
        "plant.local",
        ".plant.local",
        "localhost:1883",
        "127.0.0.1",
        "10.0.0.0/8",
        "fd00::/8",
        "::1",
        "[::1]",
        "[::1]:1883",
        "gw-1.plant",
    ],
)
def test_no_proxy_patterns_that_match_something(pattern: str) -> None:
    assert pattern_problem(pattern) is None
    assert Settings("mqtt://b", proxy="env", no_proxy=(pattern,)).problems() == []


@pytest.mark.parametrize(
    ("pattern", "words"),
    [
        ("127.0.0.1/40", "expected a network as address/bits"),
        ("bad/99", "expected a network as address/bits"),
        ("127.0.0.1:99999", "expected name:port with a port 1..65535"),
        ("plant:0", "expected name:port with a port 1..65535"),
        ("[::1", "expected an IPv6 address in brackets"),
        ("[::1]:x", "expected [address]:port"),
        ("x..y", "no empty label"),
        ("300.1.1.1", "an IPv4 address of four numbers"),
        ("*.plant", "'.plant' (a leading dot) matches every name under plant"),
        ("1::2::3", "expected an IPv6 address"),
    ],
)
def test_no_proxy_patterns_that_can_never_match_are_problems(pattern: str, words: str) -> None:
    # Each would be taken and never match: the connection goes through the proxy, unsaid.
    assert pattern_problem(pattern) is not None and words in pattern_problem(pattern)  # type: ignore[operator]
    problems = Settings("mqtt://b", proxy="env", no_proxy=("ok.plant", pattern)).problems()
    assert problems == [("no_proxy", f"{pattern_problem(pattern)}, got {pattern!r}")]


def test_proxy_credentials_without_a_proxy_are_problems() -> None:
    # They would go nowhere, unsaid; --proxy none (the string) says so on purpose.
    for changes in ({"proxy_username": "u"}, {"proxy_password": "x"}, {"no_proxy": ("a",)}):
        problems = Settings("mqtt://b", **changes).problems()
        assert [field for field, _ in problems] == ["proxy"], problems
        assert f"expected a proxy URL for {next(iter(changes))}" in problems[0][1]
        assert Settings("mqtt://b", proxy="none", **changes).problems() == []


def test_an_http_proxy_password_needs_a_user_name() -> None:
    settings = Settings("mqtt://b", proxy="http://p:3128", proxy_password="x")
    assert settings.problems() == [
        ("proxy_username", "expected a user name with the proxy's password")
    ]
    assert settings.replace(proxy_username="gw").problems() == []
    assert settings.replace(proxy="http://gw@p:3128").problems() == []


# ---------------------------------------------------------------------------- feeding


def _feed(tunnel: Tunnel, answer: bytes, one_by_one: bool) -> bool:
    if not one_by_one:
        return tunnel.receive(answer)
    done = False
    for index in range(len(answer)):
        done = tunnel.receive(answer[index : index + 1])
        if done:
            assert index == len(answer) - 1
    return done


BYTEWISE = pytest.mark.parametrize("one_by_one", [False, True], ids=["whole", "bytewise"])


# ---------------------------------------------------------------------------- HTTP CONNECT


def test_the_connect_request_names_the_broker() -> None:
    tunnel = HttpConnect("::1", 8883, "proxy:3128", ("gw", "pä:ss"))
    request = tunnel.data_to_send()
    token = base64.b64encode("gw:pä:ss".encode()).decode()
    assert request == (
        b"CONNECT [::1]:8883 HTTP/1.1\r\nHost: [::1]:8883\r\n"
        + f"Proxy-Authorization: Basic {token}\r\n".encode()
        + b"User-Agent: pco_wire\r\n\r\n"
    )
    assert tunnel.data_to_send() == b""
    assert b"Proxy-Authorization" not in HttpConnect("b", 1, "p:1").data_to_send()


@BYTEWISE
@pytest.mark.parametrize(
    "answer",
    [
        b"HTTP/1.1 200 Connection established\r\n\r\n",
        b"HTTP/1.0 200 OK\r\nProxy-Agent: x\r\n\r\n",
        b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n",
        b"HTTP/1.1 200 OK\n\n",
    ],
)
def test_a_tunnel_opens(answer: bytes, one_by_one: bool) -> None:
    tunnel = HttpConnect("127.0.0.1", 1883, "p:1")
    assert _feed(tunnel, answer, one_by_one)
    assert tunnel.status == 200


@BYTEWISE
@pytest.mark.parametrize(
    ("credentials", "answer", "fault", "status", "words"),
    [
        (
            None,
            b"HTTP/1.1 407 Proxy Authentication Required\r\nProxy-Authenticate: "
            b"Basic realm=x\r\nContent-Length: 3\r\n\r\nabc",
            "auth-required",
            407,
            "asks for Basic",
        ),
        (
            ("u", "p"),
            b"HTTP/1.1 407 Nope\r\nProxy-Authenticate: NTLM\r\n\r\n",
            "auth-rejected",
            407,
            "asks for NTLM",
        ),
        (None, b"HTTP/1.1 403 Forbidden\r\n\r\n", "forbidden", 403, "rules forbid"),
        (None, b"HTTP/1.1 502 Bad Gateway\r\n\r\n", "unreachable", 502, "could not reach"),
        (None, b"HTTP/1.1 503 Service Unavailable\r\n\r\n", "unreachable", 503, "reach"),
        (None, b"HTTP/1.1 504 Gateway Timeout\r\n\r\n", "unreachable", 504, "reach"),
        (None, b"HTTP/1.1 400 Bad Request\r\n\r\n", "not-a-proxy", 400, "does not take CONNECT"),
        (None, b"HTTP/1.1 405 Method Not Allowed\r\n\r\n", "not-a-proxy", 405, "CONNECT"),
        (None, b"HTTP/1.1 200 OK\r\nContent-Length: 12\r\n\r\n", "not-a-proxy", 200, "a body"),
        (
            None,
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n",
            "not-a-proxy",
            200,
            "RFC 9110",
        ),
        (None, b"HTTP/1.1 418 I'm a teapot\r\n\r\n", "refused", 418, "HTTP 418"),
    ],
)
def test_what_an_http_answer_means(
    credentials: tuple[str, str] | None,
    answer: bytes,
    fault: str,
    status: int,
    words: str,
    one_by_one: bool,
) -> None:
    tunnel = HttpConnect("127.0.0.1", 1883, "p:1", credentials)
    with pytest.raises(ProxyError) as caught:
        _feed(tunnel, answer, one_by_one)
    error = caught.value
    assert (error.fault, error.status, error.phase) == (fault, status, "proxy tunnel")
    assert words in error.reason and error.target == "127.0.0.1:1883"


@BYTEWISE
@pytest.mark.parametrize(
    ("answer", "fault", "offset", "answered"),
    [
        (b"\x05\x00", "not-a-proxy", 0, "socks5"),
        (b"\x16\x03\x01\x00", "not-a-proxy", 0, "tls"),
        (b"SSH-2.0-OpenSSH\r\n", "not-a-proxy", 0, ""),
        (b"HTTP/2 200\r\n\r\n", "malformed", 0, ""),
        (b"HTTP/1.1 2x0 OK\r\n\r\n", "malformed", 0, ""),
        (b"HTTP/1.1 200 OK\r\nno colon\r\n\r\n", "malformed", 0, ""),
    ],
)
def test_bytes_that_are_not_an_answer(
    answer: bytes, fault: str, offset: int, answered: str, one_by_one: bool
) -> None:
    tunnel = HttpConnect("b", 1883, "p:1")
    with pytest.raises(ProxyError) as caught:
        _feed(tunnel, answer, one_by_one)
    assert (caught.value.fault, caught.value.offset, caught.value.answer) == (
        fault,
        offset,
        answered,
    )


def test_bytes_after_the_answer_are_the_proxys() -> None:
    # MQTT, TLS and the upgrade begin with the client: the broker has said nothing yet.
    with pytest.raises(ProxyError) as caught:
        HttpConnect("b", 1883, "p:1").receive(b"HTTP/1.1 200 OK\r\n\r\n\x20\x02")
    assert (caught.value.fault, caught.value.offset) == ("malformed", 19)


def test_an_answer_header_is_bounded() -> None:
    tunnel = HttpConnect("b", 1883, "p:1")
    assert not tunnel.receive(b"HTTP/1.1 200 OK\r\n")
    with pytest.raises(ProxyError) as caught:
        for _ in range(MAX_HTTP_HEADER // 1000 + 2):
            tunnel.receive(b"X-Filler: " + b"x" * 988 + b"\r\n")
    assert caught.value.fault == "malformed"
    assert f"within {MAX_HTTP_HEADER:,} bytes" in caught.value.reason


@pytest.mark.parametrize(
    ("answer", "words"),
    [(b"", "without an answer"), (b"HTTP/1.1 200", "after 12 bytes of its answer")],
)
def test_a_close_during_the_answer(answer: bytes, words: str) -> None:
    tunnel = HttpConnect("b", 1883, "p:1")
    if answer:
        assert not tunnel.receive(answer)
    with pytest.raises(ProxyError) as caught:
        tunnel.receive(b"")
    assert caught.value.fault == "closed" and words in caught.value.reason


# ---------------------------------------------------------------------------- SOCKS5


def test_socks5_with_a_name_and_credentials() -> None:
    tunnel = Socks5("broker.plant", 8883, "p:1", ("gw", "pw"))
    assert tunnel.data_to_send() == b"\x05\x02\x00\x02"
    assert not tunnel.receive(b"\x05\x02")
    assert tunnel.data_to_send() == b"\x01\x02gw\x02pw"  # RFC 1929 §2
    assert not tunnel.receive(b"\x01\x00")
    assert tunnel.data_to_send() == b"\x05\x01\x00\x03\x0cbroker.plant\x22\xb3"
    assert tunnel.receive(b"\x05\x00\x00\x01\x7f\x00\x00\x01\x04\x00")


@BYTEWISE
@pytest.mark.parametrize(
    ("host", "address", "reply"),
    [
        ("127.0.0.1", b"\x01\x7f\x00\x00\x01", b"\x05\x00\x00\x01\x00\x00\x00\x00\x00\x00"),
        ("::1", b"\x04" + b"\x00" * 15 + b"\x01", b"\x05\x00\x00\x04" + b"\x00" * 18),
        ("127.0.0.1", b"\x01\x7f\x00\x00\x01", b"\x05\x00\x00\x03\x04host\x00\x01"),
    ],
)
def test_socks5_without_credentials(
    host: str, address: bytes, reply: bytes, one_by_one: bool
) -> None:
    tunnel = Socks5(host, 1883, "p:1")
    assert tunnel.data_to_send() == b"\x05\x01\x00"
    assert not _feed(tunnel, b"\x05\x00", one_by_one)
    assert tunnel.data_to_send() == b"\x05\x01\x00" + address + b"\x07\x5b"
    assert _feed(tunnel, reply, one_by_one)


@pytest.mark.parametrize(
    ("code", "fault"),
    [
        (1, "refused"),
        (2, "forbidden"),
        (3, "unreachable"),
        (4, "unreachable"),
        (5, "unreachable"),
        (6, "unreachable"),
        (7, "refused"),
        (8, "refused"),
        (9, "refused"),
    ],
)
def test_socks5_replies_say_what_they_mean(code: int, fault: str) -> None:
    tunnel = Socks5("127.0.0.1", 1883, "p:1")
    tunnel.receive(b"\x05\x00")
    with pytest.raises(ProxyError) as caught:
        tunnel.receive(bytes([5, code, 0, 1, 0, 0, 0, 0, 0, 0]))
    assert (caught.value.fault, caught.value.status) == (fault, code)
    assert f"0x{code:02x}" in caught.value.reason


@pytest.mark.parametrize(
    ("credentials", "steps", "fault", "offset"),
    [
        (None, [b"\x05\xff"], "auth-required", None),
        (("u", "p"), [b"\x05\xff"], "auth-rejected", None),
        (("u", "p"), [b"\x05\x02", b"\x01\x01"], "auth-rejected", None),
        (("u", "p"), [b"\x05\x02", b"\x07\x00"], "malformed", 2),
        (None, [b"\x05\x02"], "malformed", 1),
        (None, [b"HTTP/1.1 400 Bad Request\r\n"], "not-a-proxy", 0),
        (None, [b"\x04\x00"], "not-a-proxy", 0),
        (None, [b"\x05\x00", b"\x04\x00\x00\x01"], "malformed", 2),
        (None, [b"\x05\x00", b"\x05\x00\x01\x01"], "malformed", 4),
        (None, [b"\x05\x00", b"\x05\x00\x00\x09\x00"], "malformed", 5),
    ],
)
def test_socks5_faults(
    credentials: tuple[str, str] | None, steps: list[bytes], fault: str, offset: int | None
) -> None:
    tunnel = Socks5("127.0.0.1", 1883, "p:1", credentials)
    with pytest.raises(ProxyError) as caught:
        for step in steps:
            tunnel.receive(step)
    assert (caught.value.fault, caught.value.offset) == (fault, offset)


# ---------------------------------------------------------------------------- SOCKS4


def test_socks4_and_4a_requests() -> None:
    assert Socks4("127.0.0.1", 1883, "p:1", "gw").data_to_send() == (
        b"\x04\x01\x07\x5b\x7f\x00\x00\x01gw\x00"
    )
    assert Socks4("broker", 1883, "p:1", "", socks4a=True).data_to_send() == (
        b"\x04\x01\x07\x5b\x00\x00\x00\x01\x00broker\x00"
    )
    with pytest.raises(InvalidSettings):
        Socks4("broker", 1883, "p:1")


@pytest.mark.parametrize(
    ("reply", "fault"),
    [
        (b"\x00\x5b", "refused"),
        (b"\x00\x5c", "auth-required"),
        (b"\x00\x5d", "auth-rejected"),
        (b"\x00\x11", "malformed"),
        (b"\x05\x00", "not-a-proxy"),
    ],
)
def test_socks4_replies(reply: bytes, fault: str) -> None:
    tunnel = Socks4("127.0.0.1", 1883, "p:1")
    with pytest.raises(ProxyError) as caught:
        tunnel.receive(reply + b"\x00" * 6)
    assert caught.value.fault == fault
    assert Socks4("127.0.0.1", 1883, "p:1").receive(b"\x00\x5a" + b"\x00" * 6)


# ---------------------------------------------------------------------------- fuzz


@pytest.mark.parametrize("seed", range(200))
def test_any_answer_parses_or_raises_our_error(seed: int) -> None:
    rng = random.Random(seed)
    prefixes = [
        b"",
        b"HTTP/1.1 ",
        b"\x05\x00",
        b"\x05\x02\x01\x00",
        b"\x00\x5a",
        b"\x05\x00\x05\x00\x00",
    ]
    data = rng.choice(prefixes) + rng.randbytes(rng.randrange(0, 40))
    for make in (
        lambda: HttpConnect("b", 1, "p:1"),
        lambda: Socks5("127.0.0.1", 1, "p:1", ("u", "p")),
        lambda: Socks4("127.0.0.1", 1, "p:1"),
    ):
        tunnel = make()
        try:
            for index in range(len(data)):
                if tunnel.receive(data[index : index + 1]):
                    break
            else:
                tunnel.receive(b"")
        except ProxyError:
            pass


# ---------------------------------------------------------------------------- files


def test_a_proxy_table_round_trips_and_its_secrets_are_kept_close(tmp_path: Path) -> None:
    from pco_wire import config

    settings = Settings(
        "mqtt://127.0.0.1:1883",
        client_id="gw1",
        proxy="socks5h://127.0.0.1:1080",
        proxy_username="plant-gw",
        proxy_password="px-secret-1",
        no_proxy=("localhost", "10.0.0.0/8"),
    )
    path = tmp_path / "gateway.toml"
    config.save(settings, str(path))
    text = path.read_text()
    assert '[proxy]\nurl = "socks5h://127.0.0.1:1080"\nusername = "plant-gw"' in text
    assert path.stat().st_mode & 0o077 == 0  # it holds a password
    assert config.load(str(path)) == (settings, [])
    shown = config.dumps(config.masked(settings))
    assert "px-secret-1" not in shown and 'password = "***"' in shown
    with_url = settings.replace(proxy="http://gw:px-secret-2@127.0.0.1:3128", proxy_password=None)
    assert "px-secret-2" not in config.dumps(config.masked(with_url))
    config.save(with_url, str(path))
    assert path.stat().st_mode & 0o077 == 0


def test_a_bad_proxy_key_is_named(tmp_path: Path) -> None:
    from pco_wire import config

    path = tmp_path / "gateway.toml"
    path.write_text('server_uri = "mqtt://h"\n[proxy]\nurl = 3128\nno_proxy = "x"\nusrname = "a"\n')
    with pytest.raises(InvalidSettings) as caught:
        config.load(str(path))
    fields = [field for field, _ in caught.value.problems]
    assert fields == ["proxy.usrname", "proxy.url", "proxy.no_proxy"], caught.value.problems
    assert "did you mean 'proxy.username'" in caught.value.problems[0][1]
