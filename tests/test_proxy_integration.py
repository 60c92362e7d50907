"""Connections through real proxies (tests/proxies.py: Squid for HTTP CONNECT,
microsocks for SOCKS5) to the real Mosquitto, on every scheme, with both drivers; the
MQTT bytes through a proxy against those of a direct connection; what each refusal of a
real proxy is diagnosed as; byte-level fakes only for what real proxies will not do (a
stall in the middle of the handshake, garbage, a web server's answer); and the
environment's variables, read only with ``--proxy env``."""

from __future__ import annotations

import json
import socket
import time
from collections.abc import Iterator

import pytest

from pco_wire import Security, Settings
from pco_wire.result import TestResult
from tests.broker import Broker, free_port
from tests.drivers import Driver
from tests.peers import Peer, PeerConnection, Peers, relay, run_cli
from tests.proxies import PROXY_PASSWORD, PROXY_USER, Proxies

SCHEMES = ("mqtt", "mqtts", "ws", "wss")


@pytest.fixture
def peers() -> Iterator[Peers]:
    with Peers.running() as running:
        yield running


def _port(broker: Broker, scheme: str) -> int:
    ports = broker.ports
    return {"mqtt": ports.tcp, "mqtts": ports.tls, "ws": ports.ws, "wss": ports.wss}[scheme]


def _settings(
    broker: Broker, scheme: str, proxy: str, host: str = "127.0.0.1", **extra: object
) -> Settings:
    uri = f"{scheme}://{host}:{_port(broker, scheme)}"
    security = Security(cafile=str(broker.pki.ca_cert)) if scheme in ("mqtts", "wss") else None
    return Settings(uri, security=security, proxy=proxy, response_timeout=5.0, **extra)  # type: ignore[arg-type]


def _proxy_url(proxies: Proxies, kind: str) -> str:
    credentials = f"{PROXY_USER}:{PROXY_PASSWORD}@"
    return {
        "squid": f"http://127.0.0.1:{proxies.http}",
        "squid-auth": f"http://{credentials}127.0.0.1:{proxies.http_auth}",
        "socks5": f"socks5://127.0.0.1:{proxies.socks}",
        "socks5h-auth": f"socks5h://{credentials}127.0.0.1:{proxies.socks_auth}",
    }[kind]


def _names(result: TestResult) -> list[str]:
    return [str(phase.name) for phase in result.phases]


# ---------------------------------------------------------------------------- every scheme


@pytest.mark.parametrize("kind", ["squid", "squid-auth", "socks5", "socks5h-auth"])
@pytest.mark.parametrize("scheme", SCHEMES)
def test_every_scheme_through_every_proxy(
    broker: Broker, proxies: Proxies, driver: Driver, scheme: str, kind: str
) -> None:
    result = driver.test_connection(_settings(broker, scheme, _proxy_url(proxies, kind)))
    assert result.ok, (result.message, proxies.log())
    names = _names(result)
    expected = ["name resolution", "proxy connect", "proxy tunnel"]
    expected += ["TLS handshake"] if scheme in ("mqtts", "wss") else []
    expected += ["WebSocket upgrade"] if scheme in ("ws", "wss") else []
    assert names[: len(expected)] == expected, names
    assert names[len(expected)] == "CONNACK", names
    tunnel = result.phases[2]
    protocol = "HTTP CONNECT" if kind.startswith("squid") else "SOCKS5"
    assert tunnel.detail.startswith(f"{protocol} 127.0.0.1:{_port(broker, scheme)} via "), tunnel
    assert PROXY_PASSWORD not in repr(result) and PROXY_PASSWORD not in json.dumps(result.to_json())
    proxy_port = int(_proxy_url(proxies, kind).rpartition(":")[2])
    assert result.address == f"via proxy 127.0.0.1:{proxy_port}"


@pytest.mark.parametrize("scheme", ["mqtts", "wss"])
def test_tls_through_the_tunnel_names_the_broker(
    broker: Broker, proxies: Proxies, driver: Driver, scheme: str
) -> None:
    # The broker's name goes to the proxy (socks5h), which resolves it; the certificate is
    # checked against it and SNI carries it: localhost is in the broker's certificate,
    # the proxy's address is not what is checked.
    settings = _settings(broker, scheme, _proxy_url(proxies, "socks5h-auth"), host="localhost")
    result = driver.test_connection(settings)
    assert result.ok, result.message
    phases = {str(p.name): p.detail for p in result.phases}
    assert phases["TLS handshake"] == "localhost"
    assert phases["proxy tunnel"].startswith(f"SOCKS5 localhost:{_port(broker, scheme)} via ")
    # Only the proxy's own name was resolved here.
    assert _names(result).count("name resolution") == 1


def test_socks5_resolves_the_broker_here(broker: Broker, proxies: Proxies, driver: Driver) -> None:
    settings = _settings(broker, "mqtt", _proxy_url(proxies, "socks5"), host="localhost")
    result = driver.test_connection(settings)
    assert result.ok, result.message
    resolutions = [p.detail for p in result.phases if p.name == "name resolution"]
    assert resolutions == ["127.0.0.1", "localhost"]
    tunnel = next(p for p in result.phases if p.name == "proxy tunnel")
    # An address went to the proxy, not the name.
    assert "localhost" not in tunnel.detail.partition(" via ")[0], tunnel


@pytest.mark.parametrize("kind", ["squid-auth", "socks5h-auth"])
def test_the_mqtt_bytes_are_those_of_a_direct_connection(
    broker: Broker, proxies: Proxies, peers: Peers, driver: Driver, kind: str
) -> None:
    recorded = []
    for proxy in (None, _proxy_url(proxies, kind)):
        peer = peers.start(relay(broker.ports.tcp))
        settings = Settings(peer.uri(), client_id="gwBytes1", proxy=proxy, response_timeout=5.0)
        result = driver.test_connection(settings)
        assert result.ok, result.message
        assert peer.finish(), "the relay did not end"
        recorded.append(
            (
                [packet for _, packet in peer.recording.packets],
                [packet for _, packet in peer.recording.answers],
            )
        )
    direct, proxied = recorded
    assert direct == proxied
    assert [packet[0] >> 4 for packet in direct[0]] == [1, 14]  # CONNECT, DISCONNECT


# ---------------------------------------------------------------------------- refusals


@pytest.mark.parametrize(
    ("kind", "target", "category", "status", "words"),
    [
        ("squid-no-auth", "tcp", "proxy-authentication-required", 7, "HTTP 407"),
        ("squid-bad-auth", "tcp", "proxy-authentication-rejected", 7, "HTTP 407"),
        ("squid", "blocked", "proxy-forbidden", 7, "HTTP 403 Forbidden"),
        ("squid", "dead", "proxy-cannot-reach-server", 3, "HTTP 503"),
        ("socks5", "dead", "proxy-cannot-reach-server", 3, "0x05: connection refused"),
        ("socks5h-no-auth", "tcp", "proxy-authentication-required", 7, "none of the methods"),
        ("socks5h-bad-auth", "tcp", "proxy-authentication-rejected", 7, "refused the user name"),
        ("http-to-socks", "tcp", "not-a-proxy", 3, "a SOCKS5 answer"),
        ("nothing", "tcp", "proxy-connection-refused", 3, "connection refused by 127.0.0.1:"),
    ],
)
def test_what_real_proxies_refuse(
    broker: Broker,
    proxies: Proxies,
    driver: Driver,
    kind: str,
    target: str,
    category: str,
    status: int,
    words: str,
) -> None:
    port = {"tcp": broker.ports.tcp, "blocked": proxies.blocked_port, "dead": free_port()}[target]
    proxy = {
        "squid-no-auth": f"http://127.0.0.1:{proxies.http_auth}",
        "squid-bad-auth": f"http://{PROXY_USER}:wrong-one@127.0.0.1:{proxies.http_auth}",
        "squid": f"http://127.0.0.1:{proxies.http}",
        "socks5": f"socks5://127.0.0.1:{proxies.socks}",
        "socks5h-no-auth": f"socks5h://127.0.0.1:{proxies.socks_auth}",
        "socks5h-bad-auth": f"socks5h://{PROXY_USER}:wrong-one@127.0.0.1:{proxies.socks_auth}",
        "http-to-socks": f"http://127.0.0.1:{proxies.socks}",
        "nothing": f"http://127.0.0.1:{free_port()}",
    }[kind]
    result = driver.test_connection(
        Settings(f"mqtt://127.0.0.1:{port}", proxy=proxy, response_timeout=5.0)
    )
    assert (result.category, result.exit_code) == (category, status), result.message
    assert words in result.message, result.message
    assert "wrong-one" not in result.message and "wrong-one" not in repr(result)
    failed = result.phases[-1]
    assert not failed.ok
    assert failed.name == ("proxy connect" if kind == "nothing" else "proxy tunnel")


@pytest.mark.standard_loop("the proxy phase's timeout, waited out")
def test_a_socks_greeting_to_squid_gets_no_answer_in_time(
    proxies: Proxies, broker: Broker, driver: Driver
) -> None:
    # An HTTP proxy waits for the end of a request line that a SOCKS greeting never has:
    # the handshake is bounded by the response timeout.
    settings = Settings(
        f"mqtt://127.0.0.1:{broker.ports.tcp}",
        proxy=f"socks5h://127.0.0.1:{proxies.http}",
        response_timeout=0.5,
    )
    start = time.monotonic()
    result = driver.test_connection(settings)
    assert result.category == "timeout" and "proxy tunnel" in result.message, result.message
    assert time.monotonic() - start < 3.0


# ---------------------------------------------------------------------------- fakes


def _answering(*chunks: bytes, stall: bool = False) -> object:
    """A fake proxy: reads the client's first bytes, sends ``chunks``, then either holds
    the connection (``stall``) or closes it."""

    def handle(conn: PeerConnection) -> None:
        if not conn.receive(time.monotonic() + 5.0):
            return
        for chunk in chunks:
            conn.send(chunk)
        if stall:
            conn.wait_closed(5.0)

    return handle


@pytest.mark.standard_loop(
    "their seconds go to the proxy phase's timeout; the peers' answers on uvloop: "
    "test_what_real_proxies_refuse"
)
@pytest.mark.parametrize(
    ("scheme", "chunks", "stall", "category", "words"),
    [
        ("http", [b"HTTP/1.1 200 Connection"], True, "timeout", "proxy tunnel"),
        ("socks5h", [b"\x05"], True, "timeout", "proxy tunnel"),
        ("socks5h", [b"\x05\x00"], True, "timeout", "proxy tunnel"),
        ("http", [b"HTTP/1.1 502 Bad Gateway\r\n\r\n"], False, "proxy-cannot-reach-server", "502"),
        (
            "http",
            [
                b"HTTP/1.1 407 Proxy Authentication Required\r\nProxy-Authenticate: Negotiate"
                b"\r\n\r\n"
            ],
            False,
            "proxy-authentication-required",
            "Negotiate",
        ),
        (
            "http",
            [b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello"],
            False,
            "not-a-proxy",
            "web server",
        ),
        ("http", [b"HTTP/1.1 405 Method Not Allowed\r\n\r\n"], False, "not-a-proxy", "405"),
        ("http", [b"\x1b[2J\x00garbage\r\n\r\n"], False, "not-a-proxy", "0x1b"),
        (
            "http",
            [b"HTTP/1.1 200 OK\r\n" + b"X: y\r\n" * 4000],
            True,
            "proxy-protocol-error",
            "16,384 bytes",
        ),
        ("socks5h", [b"\x05\x00\x05\x00\x07"], False, "proxy-protocol-error", "reserved byte"),
        ("socks5h", [b""], False, "proxy-closed", "without an answer"),
        ("socks4a", [b"\x00\x5b" + b"\x00" * 6], False, "proxy-refused", "0x5b"),
    ],
)
def test_what_real_proxies_will_not_do(
    peers: Peers,
    driver: Driver,
    scheme: str,
    chunks: list[bytes],
    stall: bool,
    category: str,
    words: str,
) -> None:
    peer: Peer = peers.start(_answering(*chunks, stall=stall))  # type: ignore[arg-type]
    settings = Settings(
        "mqtt://127.0.0.1:1883", proxy=f"{scheme}://127.0.0.1:{peer.port}", response_timeout=0.5
    )
    start = time.monotonic()
    result = driver.test_connection(settings)
    assert result.category == category, result.message
    assert words in result.message, result.message
    assert result.message.isprintable()
    assert time.monotonic() - start < 3.0


# ---------------------------------------------------------------------------- the CLI, env


#: Every variable ``--proxy env`` reads, empty (which counts as unset): a test sets what
#: it means on top, whatever this machine's environment holds.
_NO_VARIABLES = {
    name: ""
    for upper in ("MQTT_PROXY", "HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "NO_PROXY")
    for name in (upper, upper.lower())
}


def test_the_environment_is_read_only_when_asked(broker: Broker, proxies: Proxies) -> None:
    uri = f"mqtt://127.0.0.1:{broker.ports.tcp}"
    dead = f"http://127.0.0.1:{free_port()}"
    env = {"HTTP_PROXY": dead, "http_proxy": dead, "ALL_PROXY": dead, "MQTT_PROXY": dead}
    # Without --proxy env, a variable pointing nowhere changes nothing.
    run = run_cli(uri, env=env)
    assert run.code == 0, run
    assert "proxy" not in run.stdout
    # With it, the variable is used, and the output says which.
    squid = f"http://127.0.0.1:{proxies.http}"
    env = {**_NO_VARIABLES, "http_proxy": squid, "HTTP_PROXY": dead, "ALL_PROXY": dead}
    run = run_cli(uri, "--proxy", "env", env=env)
    assert run.code == 0, run
    assert f"via http://127.0.0.1:{proxies.http} (http_proxy)" in run.stdout, run.stdout


def test_mqtts_takes_https_proxy_and_no_proxy_goes_direct(broker: Broker, proxies: Proxies) -> None:
    uri = f"mqtts://127.0.0.1:{broker.ports.tls}"
    cafile = str(broker.pki.ca_cert)
    squid = f"http://127.0.0.1:{proxies.http}"
    dead = f"http://127.0.0.1:{free_port()}"
    env = {**_NO_VARIABLES, "HTTPS_PROXY": squid, "HTTP_PROXY": dead}
    run = run_cli(uri, "--cafile", cafile, "--proxy", "env", "--json", env=env)
    document = run.json()
    assert run.code == 0, run
    tunnel = next(p for p in document["phases"] if p["name"] == "proxy tunnel")
    assert tunnel["detail"].endswith("(HTTPS_PROXY)")
    env["NO_PROXY"] = "example.invalid, 127.0.0.0/8"
    run = run_cli(uri, "--cafile", cafile, "--proxy", "env", "--json", env=env)
    document = run.json()
    assert run.code == 0, run
    assert "proxy connect" not in [p["name"] for p in document["phases"]]
    assert any("NO_PROXY matches 127.0.0.1 ('127.0.0.0/8')" in w for w in document["warnings"])


def test_a_proxy_password_never_reaches_the_output(broker: Broker, proxies: Proxies) -> None:
    uri = f"mqtt://127.0.0.1:{broker.ports.tcp}"
    proxy = f"http://{PROXY_USER}@127.0.0.1:{proxies.http_auth}"
    env = {"PCO_WIRE_PROXY_PW": PROXY_PASSWORD}
    for extra in ([], ["--json"], ["--debug"]):
        run = run_cli(
            uri, "--proxy", proxy, "--proxy-password-env", "PCO_WIRE_PROXY_PW", *extra, env=env
        )
        assert run.code == 0, run
        assert PROXY_PASSWORD not in run.stdout + run.stderr
    run = run_cli(uri, "--proxy", proxy.replace("@", ":wrong-pw-9@"), "--debug")
    assert run.code == 7, run
    assert "wrong-pw-9" not in run.stdout + run.stderr
    assert "proxy-authentication-rejected" in run.stdout


def test_a_settings_file_with_a_proxy_table(
    broker: Broker, proxies: Proxies, tmp_path: object
) -> None:
    from pathlib import Path

    assert isinstance(tmp_path, Path)
    secret = tmp_path / "proxy-password"
    secret.write_text(PROXY_PASSWORD + "\n")
    path = tmp_path / "gateway.toml"
    path.write_text(
        f'server_uri = "mqtt://127.0.0.1:{broker.ports.tcp}"\n\n[proxy]\n'
        f'url = "http://127.0.0.1:{proxies.http_auth}"\nusername = "{PROXY_USER}"\n'
        f'password_file = "{secret}"\nno_proxy = ["example.invalid"]\n'
    )
    run = run_cli("--config", str(path))
    assert run.code == 0, run
    assert "proxy tunnel" in run.stdout
    run = run_cli("--config", str(path), "--proxy", "none")
    assert run.code == 0 and "proxy" not in run.stdout, run
    shown = run_cli("show", str(path), command="config")
    assert shown.code == 0, shown
    assert "[proxy]" in shown.stdout and PROXY_PASSWORD not in shown.stdout


# ---------------------------------------------------------------------------- diagnoses


def test_a_certificate_fetch_goes_through_the_proxy(
    broker: Broker, proxies: Proxies, driver: Driver
) -> None:
    # The failed check's second handshake reads the certificate through the tunnel too:
    # the broker may be unreachable but through the proxy.
    settings = Settings(
        f"mqtts://127.0.0.1:{broker.ports.tls_wrong_name}",
        security=Security(cafile=str(broker.pki.ca_cert)),
        proxy=_proxy_url(proxies, "squid"),
        response_timeout=5.0,
    )
    result = driver.test_connection(settings)
    assert result.category == "hostname-mismatch", result.message
    assert "wrong.example" in result.message
    fetch = next(p for p in result.phases if p.name == "certificate fetch")
    assert fetch.ok, fetch


def test_plain_mqtt_to_a_tls_port_through_the_proxy(
    broker: Broker, proxies: Proxies, driver: Driver
) -> None:
    settings = Settings(
        f"mqtt://127.0.0.1:{broker.ports.tls}",
        proxy=_proxy_url(proxies, "socks5"),
        response_timeout=5.0,
    )
    result = driver.test_connection(settings)
    assert result.category == "plain-to-tls-port", result.message
    probe = next(p for p in result.phases if p.name == "TLS probe")
    assert probe.detail.endswith("TLS answered"), probe


def test_monitor_through_a_proxy(broker: Broker, proxies: Proxies) -> None:
    uri = f"mqtt://127.0.0.1:{broker.ports.tcp}"
    proxy = f"http://{PROXY_USER}@127.0.0.1:{proxies.http_auth}"
    run = run_cli(
        uri,
        "--proxy",
        proxy,
        "--proxy-password-env",
        "PCO_WIRE_PROXY_PW",
        "--duration",
        "1",
        "--keep-alive",
        "1",
        command="monitor",
        env={"PCO_WIRE_PROXY_PW": PROXY_PASSWORD},
    )
    assert run.code == 0, run
    assert "PINGRESP" in run.stdout, run.stdout
    assert PROXY_PASSWORD not in run.stdout + run.stderr


def test_the_wizard_asks_for_a_proxy_and_tests_through_it(
    broker: Broker, proxies: Proxies, tmp_path: object, monkeypatch: pytest.MonkeyPatch
) -> None:
    from pathlib import Path

    from pco_wire import config
    from tests.test_wizard import MQTT, run_wizard

    assert isinstance(tmp_path, Path)
    monkeypatch.setenv("PCO_WIRE_TEST_PROXY_PW", PROXY_PASSWORD)
    path = tmp_path / "gateway.toml"
    answers = ["mqtt", "127.0.0.1", str(broker.ports.tcp), *[""] * 7]
    answers += [f"http://127.0.0.1:{proxies.http_auth}", PROXY_USER, "env"]
    answers += ["PCO_WIRE_TEST_PROXY_PW", "localhost, 10.0.0.0/8", "", "", ""]
    run = run_wizard(path, answers)
    assert run.code == 0, run
    asked = run.asked()
    at = asked.index("proxy")
    assert asked[: at + 1] == MQTT[: MQTT.index("proxy") + 1], asked
    assert asked[at + 1 : at + 5] == [
        "proxy user name",
        "proxy password source",
        "proxy password variable",
        "hosts reached without the proxy",
    ], asked
    assert "proxy tunnel       ok" in run.output, run
    assert PROXY_PASSWORD not in run.output and PROXY_PASSWORD not in path.read_text()
    saved = config.load(str(path))[0]
    assert (saved.proxy, saved.proxy_username, saved.proxy_password_env, saved.no_proxy) == (
        f"http://127.0.0.1:{proxies.http_auth}",
        PROXY_USER,
        "PCO_WIRE_TEST_PROXY_PW",
        ("localhost", "10.0.0.0/8"),
    )


@pytest.mark.parametrize("scheme", ["http", "socks5h"])
def test_a_proxy_that_resets_during_its_handshake(
    peers: Peers, driver: Driver, scheme: str
) -> None:
    import struct

    def handle(conn: PeerConnection) -> None:
        if conn.receive(time.monotonic() + 5.0):
            # SO_LINGER 0: the close is a reset.
            conn.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))

    peer = peers.start(handle)
    settings = Settings(
        "mqtt://127.0.0.1:1883", proxy=f"{scheme}://127.0.0.1:{peer.port}", response_timeout=2.0
    )
    result = driver.test_connection(settings)
    assert result.category == "proxy-closed", result.message
    assert "the proxy reset the connection before its answer" in result.message


@pytest.mark.parametrize("kind", ["squid", "socks5h-auth"])
def test_the_upgrade_through_the_tunnel_names_the_broker(
    proxies: Proxies, peers: Peers, driver: Driver, kind: str
) -> None:
    from tests.peers import websocket_server

    peer = peers.start(websocket_server())
    settings = Settings(peer.uri("ws", "/mqtt"), proxy=_proxy_url(proxies, kind))
    result = driver.test_connection(settings)
    assert result.ok, result.message
    recording = peer.recording
    assert recording.request_line == "GET /mqtt HTTP/1.1"
    assert recording.headers["host"] == f"127.0.0.1:{peer.port}"
    assert "proxy-authorization" not in recording.headers  # the proxy's, not the broker's


def test_several_servers_through_one_proxy(broker: Broker, proxies: Proxies) -> None:
    # Each server of a failover list goes through the proxy: a dead port is the proxy's
    # 503 (it cannot reach that one), the good one connects through the tunnel.
    dead = f"mqtt://127.0.0.1:{free_port()}"
    good = f"mqtt://127.0.0.1:{broker.ports.tcp}"
    run = run_cli(dead, good, "--any", "--proxy", _proxy_url(proxies, "squid"), "-t", "5")
    assert run.code == 0, run
    first, second = run.stdout.split("=== server ")[1:3]
    assert "FAILED (proxy-cannot-reach-server, exit 3)" in first, first
    assert "proxy tunnel       ok" in second and "OK: connected" in second, second
