"""The network guard (tests/netguard) refuses before the system call, here and in every
Python process the tests start, and the resolver the tests control answers ``.test``.

192.0.2.1 is TEST-NET-1 (RFC 5737): nothing answers there, and if a connect to it reached
the kernel a non-blocking socket would be left "in progress", which each test checks it
is not.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from tests import netguard
from tests.peers import run_cli

OUTSIDE = ("192.0.2.1", 1883)
TIMEOUT = 30.0

# In a child: a non-blocking connect to OUTSIDE; then whether the kernel ever saw it.
_CHILD = """\
import errno, socket, sys
sock = socket.socket()
sock.setblocking(False)
try:
    sock.connect(("192.0.2.1", 1883))
except BaseException as exc:
    kind = type(exc).__name__
else:
    kind = "nothing"
try:
    sock.getpeername()
except OSError as exc:
    state = "unconnected" if exc.errno == errno.ENOTCONN else f"errno {exc.errno}"
else:
    state = "connected"
sock.setblocking(True)
print(kind, state, file=sys.stdout)
"""


def _never_reached_the_kernel(sock: socket.socket) -> None:
    # A connect that ran would leave the socket connecting (EALREADY on a second try)
    # or connected; a refused one is untouched, so it can still connect to loopback.
    with pytest.raises(OSError) as info:
        sock.getpeername()
    assert info.value.errno == 107  # ENOTCONN
    with socket.create_server(("127.0.0.1", 0)) as server:
        sock.setblocking(True)
        sock.settimeout(5)
        sock.connect(server.getsockname())


def test_a_connect_beyond_loopback_is_refused_in_process() -> None:
    with netguard.expected_violations() as refused, socket.socket() as sock:
        sock.setblocking(False)
        with pytest.raises(netguard.NetworkGuardError, match=r"connect \('192\.0\.2\.1'"):
            sock.connect(OUTSIDE)
        _never_reached_the_kernel(sock)
    assert len(refused) == 1 and "192.0.2.1" in refused[0], refused


def test_a_datagram_beyond_loopback_is_refused_in_process() -> None:
    with netguard.expected_violations() as refused:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
            with pytest.raises(netguard.NetworkGuardError, match="sendto"):
                sock.sendto(b"x", OUTSIDE)
            with pytest.raises(netguard.NetworkGuardError, match="sendmsg"):
                sock.sendmsg([b"x"], [], 0, OUTSIDE)
    assert len(refused) == 2, refused


@pytest.mark.parametrize(
    ("call", "event"),
    [
        (lambda: socket.getaddrinfo("pco-wire.example", 1883), "getaddrinfo"),
        (lambda: socket.getaddrinfo(b"pco-wire.example", 1883), "getaddrinfo"),
        (lambda: socket.getaddrinfo("localhost.", 1883), "getaddrinfo"),
        (lambda: socket.gethostbyname("pco-wire.example"), "gethostbyname"),
        (lambda: socket.gethostbyname_ex("pco-wire.example"), "gethostbyname"),
        (lambda: socket.gethostbyaddr("192.0.2.1"), "gethostbyaddr"),
        (lambda: socket.getnameinfo(("192.0.2.1", 1883), 0), "getnameinfo"),
        # A name under .test that the test did not map would go to DNS as well.
        (lambda: socket.getaddrinfo("unmapped.pco-wire.test", 1883), "getaddrinfo"),
    ],
)
def test_a_name_lookup_is_refused_in_process(call: object, event: str) -> None:
    assert callable(call)
    with netguard.expected_violations() as refused:
        with pytest.raises(netguard.NetworkGuardError, match=event):
            call()
    assert len(refused) == 1, refused


def test_loopback_and_literals_pass() -> None:
    with netguard.expected_violations() as refused:
        for host in ("127.0.0.1", "::1", "localhost", "LOCALHOST", "192.0.2.1", "fe80::1%1"):
            socket.getaddrinfo(host, 1883, type=socket.SOCK_STREAM)
        with socket.create_server(("127.0.0.1", 0)) as server:
            socket.create_connection(server.getsockname(), timeout=5).close()
    assert refused == []


def test_the_controlled_resolver(monkeypatch: pytest.MonkeyPatch) -> None:
    hosts = {"broker.pco-wire.test": ["127.0.0.1", "::1"], "gone.pco-wire.test": []}
    monkeypatch.setenv(netguard.HOSTS_VARIABLE, json.dumps(hosts))
    found = socket.getaddrinfo("Broker.pco-wire.test.", 1883, type=socket.SOCK_STREAM)
    assert [info[4][:2] for info in found] == [("127.0.0.1", 1883), ("::1", 1883)]
    with pytest.raises(socket.gaierror) as info:
        socket.getaddrinfo("gone.pco-wire.test", 1883)
    assert info.value.errno == socket.EAI_NONAME
    # A numeric-only lookup of a name fails, as the real one does, without a lookup.
    with pytest.raises(socket.gaierror):
        socket.getaddrinfo("broker.pco-wire.test", 1883, flags=socket.AI_NUMERICHOST)


def _child_env(tmp_path: Path) -> dict[str, str]:
    # The child's violations go to a log of this test's own, not to the session's.
    return {**os.environ, netguard.LOG_VARIABLE: str(tmp_path / "guard.log")}


def test_a_connect_beyond_loopback_is_refused_in_a_child(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-c", _CHILD],
        env=_child_env(tmp_path),
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
        check=False,
    )

    assert done.stdout.split() == ["NetworkGuardError", "unconnected"], done
    assert "pco_wire network guard: connect ('192.0.2.1', 1883)" in done.stderr, done
    assert "192.0.2.1" in (tmp_path / "guard.log").read_text(), done


def test_the_cli_beyond_loopback_fails_loudly(tmp_path: Path) -> None:
    # Whatever the program does with the error, the refusal is in the log the conftest
    # reads, so the test that caused it fails.
    run = run_cli("mqtt://192.0.2.1:1883", "-t", "2", env=_child_env(tmp_path))

    assert run.code != 0, run
    assert "pco_wire network guard: connect ('192.0.2.1', 1883)" in run.stderr, run
    assert "192.0.2.1" in (tmp_path / "guard.log").read_text(), run


def test_children_get_the_guard() -> None:
    # Every Python the tests start finds tests/netguard first on its path.
    assert os.environ["PYTHONPATH"].split(os.pathsep)[0] == str(netguard.DIRECTORY)
    done = subprocess.run(
        [sys.executable, "-c", "import sitecustomize; print(sitecustomize.__file__)"],
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
        check=True,
    )
    assert Path(done.stdout.strip()) == netguard.DIRECTORY / "sitecustomize.py"
