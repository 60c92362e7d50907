"""``python -m pco_wire test URI`` as a subprocess, against the real broker.

What a person sees: the exit status, the category and the sentence of each outcome, every
phase in order, the server certificate; and what a script sees: the ``--json`` document
with exactly its documented keys. Passwords go in by variable, file, argument or URI and
never come out, not even with ``--debug``. Settings mistakes end with exit 2 before any
traffic (checked with a listening peer that must see no connection).
"""

from __future__ import annotations

import json
import re
import secrets
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests import netguard
from tests.broker import Broker, free_port
from tests.peers import ROOT, CliRun, Peer, Peers, run_cli, silent
from tests.pki import Pki, require
from tests.support import JSON_KEYS, PHASE_KEYS, PHASES, TLS_KEYS

#: A password no output has a reason to contain, in any form.
SECRET = "Zx9~Kw.Secret-4711"
SECRET_VAR = "PCO_WIRE_TEST_SECRET"
_PHASE_LINE = re.compile(r"^  (\S.*?)\s+(ok|FAILED)\s+\d+\.\d ms", re.MULTILINE)


@pytest.fixture
def peers() -> Iterator[Peers]:
    with Peers.running() as running:
        yield running


def _port(broker: Broker, scheme: str) -> int:
    ports = broker.ports
    return {"mqtt": ports.tcp, "mqtts": ports.tls, "ws": ports.ws, "wss": ports.wss}[scheme]


def _uri(scheme: str, port: int, host: str = "127.0.0.1") -> str:
    return f"{scheme}://{host}:{port}"


def _phases(run: CliRun) -> list[tuple[str, str]]:
    """The phase lines of a text report, as (name, "ok" or "FAILED")."""
    return [(m.group(1), m.group(2)) for m in _PHASE_LINE.finditer(run.stdout)]


def _failed(run: CliRun, code: int, category: str) -> str:
    """The sentence of a failed text run, after checking its exit status and category."""
    assert run.code == code, run
    prefix = f"FAILED ({category}, exit {code}): "
    lines = [line for line in run.stdout.splitlines() if line.startswith("FAILED (")]
    assert len(lines) == 1 and lines[0].startswith(prefix), run
    return lines[0][len(prefix) :]


def _not_after(cert: Path) -> str:
    done = subprocess.run(
        [require("openssl"), "x509", "-noout", "-enddate", "-in", str(cert)],
        capture_output=True,
        text=True,
        timeout=10,
        check=True,
    )
    return done.stdout.strip().removeprefix("notAfter=")


def _no_traffic(peer: Peer) -> None:
    peer.stop()
    assert peer.recordings == [], "a connection was made despite invalid settings"


def _check_document(doc: dict[str, Any]) -> None:
    assert set(doc) == JSON_KEYS, sorted(doc)
    for phase in doc["phases"]:
        assert set(phase) == PHASE_KEYS, phase
    if doc["tls"] is not None:
        assert set(doc["tls"]) == TLS_KEYS, doc["tls"]


# ---------------------------------------------------------------------------- help


@pytest.mark.parametrize("command", ["", "test", "monitor", "bench"])
def test_help_lists_exit_statuses(command: str) -> None:
    run = run_cli("--help", command=command)

    assert run.code == 0, run
    _, marker, epilog = run.stdout.partition("\nexit status:\n")
    assert marker, run
    listed = dict(
        (int(m.group(1)), m.group(2))
        for m in re.finditer(r"^  (\d+)\s+(.+)$", epilog, re.MULTILINE)
    )
    assert list(listed) == [0, 1, 2, 3, 4, 5, 6, 7, 70, 129, 130, 143], listed
    words = {
        0: "connected",
        1: "refused",
        2: "invalid settings",
        3: "network",
        4: "TLS or WebSocket handshake",
        5: "deadline",
        6: "protocol error",
        7: "the proxy refused",
        70: "internal error",
        129: "SIGHUP",
        130: "Ctrl-C",
        143: "SIGTERM",
    }
    for code, word in words.items():
        assert word in listed[code], (code, listed[code])


# ---------------------------------------------------------------------------- schemes


def _scheme_args(broker: Broker, pki: Pki, scheme: str) -> list[str]:
    args = [_uri(scheme, _port(broker, scheme))]
    if scheme in ("mqtts", "wss"):
        args += ["--cafile", str(pki.ca_cert)]
    return args


@pytest.mark.parametrize("scheme", list(PHASES))
def test_each_scheme_connects(broker: Broker, pki: Pki, scheme: str) -> None:
    run = run_cli(*_scheme_args(broker, pki, scheme))

    assert run.code == 0, f"{run}\n{broker.log.read_text()}"
    assert _phases(run) == [(name, "ok") for name in PHASES[scheme]], run
    ok = [line for line in run.stdout.splitlines() if line.startswith("OK: ")]
    assert len(ok) == 1, run
    assert ok[0].startswith(f"OK: connected to {scheme}://127.0.0.1:{_port(broker, scheme)}")
    assert ok[0].endswith("return code 0 (connection accepted); session present: no"), ok
    tls = [line for line in run.stdout.splitlines() if line.startswith("  TLS: ")]
    if scheme in ("mqtts", "wss"):
        assert len(tls) == 1, run
        assert re.match(r"  TLS: TLSv1\.[23] \S+; ", tls[0]), tls
        assert tls[0].endswith(
            "server certificate CN=localhost, issued by CN=pco_wire test CA, "
            f"valid until {_not_after(pki.server_cert)}"
        ), tls
    else:
        assert tls == [], run
    assert run.stderr == "", run


@pytest.mark.parametrize("scheme", list(PHASES))
def test_each_scheme_json(broker: Broker, pki: Pki, scheme: str) -> None:
    run = run_cli(*_scheme_args(broker, pki, scheme), "--json")

    assert run.code == 0, run
    doc = run.json()
    _check_document(doc)
    port = _port(broker, scheme)
    assert (doc["ok"], doc["exit_code"], doc["category"]) == (True, 0, "connected")
    assert doc["uri"] == f"{scheme}://127.0.0.1:{port}" + ("/mqtt" if "ws" in scheme else "")
    assert re.fullmatch(r"[0-9A-Za-z]{1,23}", doc["client_id"]), doc["client_id"]
    assert (doc["return_code"], doc["return_code_text"]) == (0, "connection accepted")
    assert doc["session_present"] is False
    assert doc["address"] == f"127.0.0.1:{port}"
    assert [p["name"] for p in doc["phases"]] == PHASES[scheme]
    assert all(p["ok"] is True and p["seconds"] >= 0 for p in doc["phases"]), doc["phases"]
    assert (doc["other_packets"], doc["other_packet_count"], doc["warnings"]) == ([], 0, [])
    if scheme in ("mqtts", "wss"):
        tls = doc["tls"]
        assert tls["version"] in ("TLSv1.2", "TLSv1.3"), tls
        assert isinstance(tls["cipher"], str) and tls["cipher"], tls
        assert tls["alpn"] is None
        assert (tls["subject"], tls["issuer"]) == ("CN=localhost", "CN=pco_wire test CA")
        assert tls["not_after"] == _not_after(pki.server_cert)
    else:
        assert doc["tls"] is None


# ---------------------------------------------------------------------------- passwords


def _password_uri(broker: Broker) -> str:
    return _uri("mqtt", broker.ports.password)


@pytest.mark.parametrize("source", ["env", "file"])
def test_password_from_variable_or_file(broker: Broker, tmp_path: Path, source: str) -> None:
    if source == "env":
        options = ["--password-env", SECRET_VAR]
    else:
        path = tmp_path / "password"
        path.write_text(broker.password + "\n")  # as `echo secret > file` writes it
        options = ["--password-file", str(path)]
    run = run_cli(
        _password_uri(broker),
        "-u",
        broker.username,
        *options,
        env={SECRET_VAR: broker.password},
    )

    assert run.code == 0, f"{run}\n{broker.log.read_text()}"
    assert "OK: connected to" in run.stdout


def test_password_file_loses_one_newline_only(broker: Broker, tmp_path: Path) -> None:
    path = tmp_path / "password"
    path.write_text(broker.password + "\n\n")
    run = run_cli(_password_uri(broker), "-u", broker.username, "--password-file", str(path))

    _failed(run, 1, "not-authorized")


def test_wrong_password_is_not_authorized(broker: Broker, tmp_path: Path) -> None:
    run = run_cli(
        _password_uri(broker), "-u", broker.username, "--password-env", SECRET_VAR, "--json",
        env={SECRET_VAR: SECRET},
    )  # fmt: skip

    assert run.code == 1, run
    doc = run.json()
    _check_document(doc)
    assert (doc["ok"], doc["category"], doc["return_code"]) == (False, "not-authorized", 5)
    assert doc["return_code_text"].startswith("connection refused, not authorized"), doc
    assert doc["message"].startswith("refused with return code 5: "), doc["message"]
    assert f"(user name {broker.username!r})" in doc["message"], doc["message"]
    assert (doc["phases"][-1]["name"], doc["phases"][-1]["ok"]) == ("CONNACK", False)


def test_no_password_is_refused(broker: Broker) -> None:
    run = run_cli(_password_uri(broker))

    sentence = _failed(run, 1, "not-authorized")
    assert sentence.startswith("refused with return code 5: "), sentence
    assert "no user name given" in sentence, sentence


def _secret_case(
    name: str, broker: Broker, tmp_path: Path
) -> tuple[list[str], dict[str, str], str, int]:
    """(arguments, environment, the secret, the exit status) of one way in."""
    env = {SECRET_VAR: SECRET}
    user = ["-u", broker.username]
    password = broker.ports.password
    if name == "right-password-env-debug":
        args = [_uri("mqtt", password), *user, "--password-env", SECRET_VAR, "--debug"]
        return args, {SECRET_VAR: broker.password}, broker.password, 0
    if name == "wrong-password-file-debug-json":
        path = tmp_path / "password"
        path.write_text(SECRET + "\n")
        args = [_uri("mqtt", password), *user, "--password-file", str(path), "--debug", "--json"]
        return args, env, SECRET, 1
    if name == "argument-debug":
        return [_uri("mqtt", password), *user, "--password", SECRET, "--debug"], env, SECRET, 1
    if name == "uri-debug-json":
        uri = f"mqtt://{broker.username}:{SECRET}@127.0.0.1:{password}"
        return [uri, "--debug", "--json"], env, SECRET, 1
    # The WebSocket listeners are anonymous: any password is accepted, and travels.
    scheme = {"ws-debug": "ws", "wss-debug-json": "wss"}[name]
    args = [_uri(scheme, _port(broker, scheme)), *user, "--password-env", SECRET_VAR, "--debug"]
    if scheme == "wss":
        args += ["--cafile", str(broker.pki.ca_cert), "--json"]
    return args, env, SECRET, 0


@pytest.mark.parametrize(
    "case",
    [
        "right-password-env-debug",
        "wrong-password-file-debug-json",
        "argument-debug",
        "uri-debug-json",
        "ws-debug",
        "wss-debug-json",
    ],
)
def test_password_never_shown(broker: Broker, tmp_path: Path, case: str) -> None:
    args, env, secret, code = _secret_case(case, broker, tmp_path)
    run = run_cli(*args, env=env)

    assert run.code == code, run
    assert "DEBUG" in run.stderr, "--debug logged nothing: the check would prove nothing"
    shown = run.stdout + run.stderr
    assert secret not in shown, run
    # Nor its bytes in a hex dump, whole or in part: every run of 4 bytes, both spellings.
    data = secret.encode()
    lowered = shown.lower()
    for start in range(len(data) - 3):
        window = data[start : start + 4]
        for form in (window.hex(), window.hex(" ")):
            assert form not in lowered, f"bytes {window!r} of the password shown as {form!r}"
    if "--json" in args:
        _check_document(run.json())
    if case == "uri-debug-json":
        doc = run.json()
        assert doc["uri"] == f"mqtt://{broker.username}@127.0.0.1:{broker.ports.password}"
        assert any("password in the URI" in w for w in doc["warnings"]), doc["warnings"]
    if case == "argument-debug":
        assert "warning: --password on the command line can be seen" in run.stderr, run


# ---------------------------------------------------------------------------- client certificates


def _client_cert_uri(broker: Broker) -> list[str]:
    return [_uri("mqtts", broker.ports.tls_client_cert), "--cafile", str(broker.pki.ca_cert)]


@pytest.mark.parametrize("key", ["pkcs8", "pkcs1", "encrypted-env", "encrypted-file"])
def test_client_certificate_accepted(broker: Broker, pki: Pki, tmp_path: Path, key: str) -> None:
    options: list[str] = ["--cert", str(pki.client_cert)]
    if key == "pkcs8":
        options += ["--key", str(pki.client_key)]
    elif key == "pkcs1":
        assert "BEGIN RSA PRIVATE KEY" in pki.client_key_traditional.read_text()
        options += ["--key", str(pki.client_key_traditional)]
    elif key == "encrypted-env":
        options += ["--key", str(pki.client_key_encrypted), "--key-password-env", SECRET_VAR]
    else:
        path = tmp_path / "key-password"
        path.write_text(pki.client_key_password + "\n")
        options += ["--key", str(pki.client_key_encrypted), "--key-password-file", str(path)]
    run = run_cli(*_client_cert_uri(broker), *options, env={SECRET_VAR: pki.client_key_password})

    assert run.code == 0, f"{run}\n{broker.log.read_text()}"
    assert _phases(run) == [(name, "ok") for name in PHASES["mqtts"]], run
    assert pki.client_key_password not in run.stdout + run.stderr


def test_client_certificate_missing(broker: Broker) -> None:
    run = run_cli(*_client_cert_uri(broker))

    sentence = _failed(run, 4, "client-certificate-required")
    assert sentence == "the server requires a client certificate: give --certfile and --keyfile"


def test_client_certificate_from_another_ca(broker: Broker, pki: Pki) -> None:
    run = run_cli(
        *_client_cert_uri(broker), "--cert", str(pki.other_client_cert),
        "--key", str(pki.other_client_key),
    )  # fmt: skip

    sentence = _failed(run, 4, "client-certificate-rejected")
    assert "the server rejected our client certificate" in sentence, sentence
    assert "unknown ca" in sentence, sentence


@pytest.mark.parametrize("password", [None, "wrong"], ids=["no-password", "wrong-password"])
def test_encrypted_key_needs_its_password_before_any_traffic(
    peers: Peers, pki: Pki, tmp_path: Path, password: str | None
) -> None:
    peer = peers.start(silent())
    options: list[str] = []
    if password is not None:
        path = tmp_path / "key-password"
        path.write_text(password + "\n")
        options = ["--key-password-file", str(path)]
    # stdin closed and no terminal: OpenSSL must not ask for the pass phrase.
    run = run_cli(
        peer.uri("mqtts"), "--cafile", str(pki.ca_cert), "--cert", str(pki.client_cert),
        "--key", str(pki.client_key_encrypted), *options, "--json", timeout=10,
    )  # fmt: skip

    assert run.code == 2, run
    doc = run.json()
    _check_document(doc)
    assert (doc["category"], doc["phases"]) == ("invalid-settings", []), doc
    assert doc["message"].startswith("invalid settings: security.keyfile: "), doc["message"]
    assert "key password" in doc["message"], doc["message"]
    assert "pass phrase" not in run.stdout + run.stderr, run
    _no_traffic(peer)


# ---------------------------------------------------------------------------- server certificates


def _tls_run(port: int, cafile: Path | None, *options: str) -> CliRun:
    args = [_uri("mqtts", port)]
    if cafile is not None:
        args += ["--cafile", str(cafile)]
    return run_cli(*args, *options)


def test_unknown_ca(broker: Broker, pki: Pki) -> None:
    run = _tls_run(broker.ports.tls, pki.other_ca_cert)

    sentence = _failed(run, 4, "unknown-ca")
    assert "issued by 'CN=pco_wire test CA'" in sentence, sentence
    assert "not among the trusted CAs" in sentence and "--cafile" in sentence, sentence
    # The certificate is read on a second handshake, a phase of its own after the failed one.
    assert _phases(run)[-2:] == [("TLS handshake", "FAILED"), ("certificate fetch", "ok")], run


def test_hostname_mismatch(broker: Broker, pki: Pki) -> None:
    run = _tls_run(broker.ports.tls_wrong_name, pki.ca_cert)

    sentence = _failed(run, 4, "hostname-mismatch")
    assert sentence.startswith("the server certificate is for wrong.example, not for '127.0.0.1'")
    assert "--server-name" in sentence, sentence


def test_certificate_expired(broker: Broker, pki: Pki) -> None:
    run = _tls_run(broker.ports.tls_expired, pki.ca_cert)

    sentence = _failed(run, 4, "certificate-expired")
    assert "expired on Jan  1 00:00:00 2021 GMT" in sentence, sentence
    assert "valid from Jan  1 00:00:00 2020 GMT" in sentence, sentence


def test_self_signed(broker: Broker, pki: Pki) -> None:
    run = _tls_run(broker.ports.tls_self_signed, pki.ca_cert)

    sentence = _failed(run, 4, "self-signed")
    assert "self-signed (CN=localhost)" in sentence and "--cafile" in sentence, sentence


def test_self_signed_pinned(broker: Broker, pki: Pki) -> None:
    run = _tls_run(broker.ports.tls_self_signed, pki.self_signed_cert)

    assert run.code == 0, run


def test_intermediate_chain_with_the_root_only(broker: Broker, pki: Pki) -> None:
    run = _tls_run(broker.ports.tls_intermediate, pki.ca_cert, "--json")

    assert run.code == 0, f"{run}\n{broker.log.read_text()}"
    tls = run.json()["tls"]
    assert (tls["subject"], tls["issuer"]) == ("CN=localhost", "CN=pco_wire intermediate CA")


def test_server_name_passes_the_hostname_check(broker: Broker, pki: Pki) -> None:
    # The good certificate names 127.0.0.1 too; the wrong-name one only wrong.example,
    # so asking for that name over 127.0.0.1 shows --server-name at work.
    run = _tls_run(broker.ports.tls_wrong_name, pki.ca_cert, "--server-name", "wrong.example")

    assert run.code == 0, run
    assert run.stderr == "", run  # the name is checked: nothing to warn about
    handshake = [line for line in run.stdout.splitlines() if line.startswith("  TLS handshake")]
    assert handshake and handshake[0].rstrip().endswith("wrong.example"), run
    assert "server certificate CN=wrong.example, issued by CN=pco_wire test CA" in run.stdout


@pytest.mark.parametrize(
    ("option", "port_name", "warning"),
    [
        ("--no-verify-hostname", "tls_wrong_name", "warning: --no-verify-hostname: "),
        ("--insecure", "tls_self_signed", "warning: --insecure: "),
    ],
)
def test_verification_relaxed_with_a_warning(
    broker: Broker, pki: Pki, option: str, port_name: str, warning: str
) -> None:
    port: int = getattr(broker.ports, port_name)
    cafile = pki.ca_cert if option == "--no-verify-hostname" else None
    run = _tls_run(port, cafile, option)

    assert run.code == 0, run
    assert warning in run.stderr, run
    doc = _tls_run(port, cafile, option, "--json").json()
    assert doc["ok"] is True
    assert [w for w in doc["warnings"] if w.startswith(option + ":")], doc["warnings"]


# ---------------------------------------------------------------------------- wrong ports


def test_tls_to_the_plain_port(broker: Broker, pki: Pki) -> None:
    run = _tls_run(broker.ports.tcp, pki.ca_cert, "-t", "2")

    sentence = _failed(run, 4, "tls-to-plain-port")
    assert sentence.endswith(f"try mqtt://127.0.0.1:{broker.ports.tcp}"), sentence


def test_plain_to_the_tls_port(broker: Broker) -> None:
    run = run_cli(_uri("mqtt", broker.ports.tls), "-t", "2")

    sentence = _failed(run, 3, "plain-to-tls-port")
    assert sentence.endswith(f"use mqtts://127.0.0.1:{broker.ports.tls}"), sentence


def test_websocket_to_the_plain_port(broker: Broker) -> None:
    run = run_cli(_uri("ws", broker.ports.tcp), "-t", "2")

    sentence = _failed(run, 3, "closed-during-upgrade")
    assert "during the WebSocket upgrade" in sentence, sentence
    assert sentence.endswith(f"try mqtt://127.0.0.1:{broker.ports.tcp}"), sentence


def test_plain_to_the_websocket_port(broker: Broker) -> None:
    run = run_cli(_uri("mqtt", broker.ports.ws), "-t", "2")

    # An HTTP answer where CONNACK belonged: the wrong port for the scheme, as with TLS.
    sentence = _failed(run, 3, "plain-to-websocket-port")
    assert sentence.startswith("the server answered in HTTP"), sentence
    assert sentence.endswith(f"try ws://127.0.0.1:{broker.ports.ws}/mqtt"), sentence


# ---------------------------------------------------------------------------- network


def test_nothing_listening() -> None:
    port = free_port()
    run = run_cli(_uri("mqtt", port), "-t", "2")

    sentence = _failed(run, 3, "connection-refused")
    assert sentence.startswith(f"connection refused by 127.0.0.1:{port}: nothing listens"), run
    assert _phases(run) == [("name resolution", "ok"), ("TCP connect", "FAILED")], run


def test_name_not_resolved() -> None:
    # The resolver the test controls (tests/netguard) says EAI_NONAME for this name, as
    # the system's would for a name that does not exist, without asking a DNS server.
    hosts = {netguard.HOSTS_VARIABLE: json.dumps({"gone.pco-wire.test": []})}
    run = run_cli("mqtt://gone.pco-wire.test:1883", "-t", "2", "--json", env=hosts)

    assert run.code == 3, run
    doc = run.json()
    assert doc["category"] == "name-not-resolved", doc
    assert doc["message"].startswith("cannot resolve 'gone.pco-wire.test'"), doc["message"]
    assert "check the host name" in doc["message"], doc["message"]
    assert [(p["name"], p["ok"]) for p in doc["phases"]] == [("name resolution", False)]
    assert doc["address"] is None


def test_every_address_of_a_name_is_tried(broker: Broker) -> None:
    # Nothing listens on 127.0.0.2 (the broker has 127.0.0.1 only): the second address
    # the name resolves to is the one that answers.
    name = "broker.pco-wire.test"
    hosts = {netguard.HOSTS_VARIABLE: json.dumps({name: ["127.0.0.2", "127.0.0.1"]})}
    run = run_cli(_uri("mqtt", broker.ports.tcp, name), "-t", "5", "--json", env=hosts)

    assert run.code == 0, run
    doc = run.json()
    assert doc["address"] == f"127.0.0.1:{broker.ports.tcp}", doc
    assert [(p["name"], p["ok"]) for p in doc["phases"]] == [
        ("name resolution", True),
        ("TCP connect", False),
        ("TCP connect", True),
        ("CONNACK", True),
        ("DISCONNECT", True),
    ], doc["phases"]


# ---------------------------------------------------------------------------- sessions and IDs


def test_clean_session_off_keeps_the_session(broker: Broker) -> None:
    client_id = "cli" + secrets.token_hex(6)
    uri = _uri("mqtt", broker.ports.tcp)
    runs = [
        run_cli(uri, "--client-id", client_id, "--no-clean-session", "--json") for _ in range(2)
    ]

    for run in runs:
        assert run.code == 0, run
    first, second = (run.json() for run in runs)
    assert (first["client_id"], first["session_present"]) == (client_id, False), first
    assert (second["client_id"], second["session_present"]) == (client_id, True), second
    assert "the server kept a session" in second["message"]


def test_no_clean_session_needs_a_client_id(peers: Peers) -> None:
    peer = peers.start(silent())
    run = run_cli(peer.uri(), "--no-clean-session", "--json")

    assert run.code == 2, run
    doc = run.json()
    _check_document(doc)
    assert (doc["category"], doc["phases"]) == ("invalid-settings", [])
    assert doc["message"].startswith("invalid settings: client_id: expected a client ID with"), doc[
        "message"
    ]
    assert "clean session off" in doc["message"]
    _no_traffic(peer)


@pytest.mark.parametrize(
    ("client_id", "got"),
    [("has-dash", "got '-' at position 4"), ("a" * 24, "got 24 characters")],
    ids=["dash", "24-characters"],
)
def test_bad_client_id(peers: Peers, client_id: str, got: str) -> None:
    peer = peers.start(silent())
    run = run_cli(peer.uri(), "--client-id", client_id)

    sentence = _failed(run, 2, "invalid-settings")
    assert sentence == (
        f"invalid settings: client_id: expected 1 to 23 characters, only 0-9, a-z and A-Z, {got}"
    )
    assert _phases(run) == []
    _no_traffic(peer)


# ---------------------------------------------------------------------------- JSON everywhere

_EARLY = {
    "password-prompt-without-terminal": ("--password-prompt",),
    "will-message-without-topic": ("--will-message", "offline"),
}


@pytest.mark.parametrize("case", list(_EARLY))
def test_json_document_is_complete_for_early_failures(peers: Peers, case: str) -> None:
    # Settings refused while the command line is read: still the documented document,
    # so that a script reading doc["phases"] does not crash on exactly these failures.
    peer = peers.start(silent())
    run = run_cli(peer.uri(), *_EARLY[case], "--json")

    assert run.code == 2, run
    doc = run.json()
    assert (doc["ok"], doc["exit_code"], doc["category"]) == (False, 2, "invalid-settings")
    _check_document(doc)
    _no_traffic(peer)


def test_hostname_mismatch_names_the_server_name_given(broker: Broker, pki: Pki) -> None:
    # The good certificate names localhost and 127.0.0.1; the name asked for is another.
    run = _tls_run(broker.ports.tls, pki.ca_cert, "--server-name", "other.example")

    sentence = _failed(run, 4, "hostname-mismatch")
    assert "not for 'other.example': set --server-name to one of those names" in sentence


def test_config_check_finds_what_openssl_refuses(tmp_path: Path, pki: Pki) -> None:
    # A certificate with a key of another: test --config refuses it before any traffic,
    # so config check must too.
    path = tmp_path / "tls.toml"
    path.write_text(
        'server_uri = "mqtts://127.0.0.1:1"\n[security]\n'
        f'certfile = "{pki.client_cert}"\nkeyfile = "{pki.other_client_key}"\n'
    )
    check = run_cli("check", str(path), command="config")
    test = run_cli("--config", str(path))

    assert (check.code, test.code) == (2, 2), (check, test)
    assert check.stdout.splitlines()[1].startswith("  security."), check


def test_a_max_packet_size_below_a_connack_is_refused() -> None:
    run = run_cli("mqtt://127.0.0.1:1", "--max-packet-size", "3")

    assert _failed(run, 2, "invalid-settings") == (
        "invalid settings: max_packet_size: expected bytes 4..268,435,460, got 3"
    ), run


def test_closed_standard_input(tmp_path: Path) -> None:
    for argv in (
        ["wizard", "-o", str(tmp_path / "w.toml")],
        ["test", "mqtt://127.0.0.1:1", "-u", "u", "--password-prompt"],
    ):
        done = subprocess.run(
            ["/bin/sh", "-c", 'exec "$@" <&-', "sh", sys.executable, "-m", "pco_wire", *argv],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )
        assert done.returncode == 2, done
        assert "internal-error" not in done.stdout + done.stderr, done


@pytest.mark.parametrize("listener", ["tls", "wss"])
def test_websocket_to_a_tls_port(broker: Broker, listener: str) -> None:
    # ws:// where mqtts:// or wss:// listens: the server ends the upgrade without a word;
    # the TLS probe tells why.
    run = run_cli(_uri("ws", getattr(broker.ports, listener)), "-t", "3")

    sentence = _failed(run, 3, "plain-to-tls-port")
    assert "and the port answers TLS: use wss://127.0.0.1:" in sentence, sentence
    probes = [line for line in run.stdout.splitlines() if line.startswith("  TLS probe")]
    assert len(probes) == 1 and probes[0].rstrip().endswith("TLS answered"), run
