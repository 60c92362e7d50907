"""Real proxies that a test starts on free loopback ports and stops by their PIDs: Squid
(HTTP CONNECT) and microsocks (SOCKS5), both from Debian, installed by setup.sh.
Missing, they are a failure, not a skip (``require``).

One Squid serves two ports: ``open`` (CONNECT for anyone) and ``auth`` (CONNECT only with
Basic authentication, checked by Squid's own basic_ncsa_auth against an htpasswd file
made here with ``openssl passwd -apr1``). Both refuse CONNECT to ``blocked_port`` (403,
an ACL on the port). Two microsocks: ``socks`` without authentication, ``socks_auth``
with user name and password (RFC 1929). Squid runs with its own pid file, logs and
service name (its shared memory segments are named after it), resolves no names (the
tests give addresses), and never uses port 3128.
"""

from __future__ import annotations

import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from tests.broker import START_TIMEOUT, free_ports, stop_process
from tests.pki import require

__all__ = ["PROXY_PASSWORD", "PROXY_USER", "Proxies", "start_proxies"]

PROXY_USER = "plant-gw"
PROXY_PASSWORD = "px-secret-7781"
_SQUID_HELPER = "/usr/lib/squid/basic_ncsa_auth"


@dataclass
class Proxies:
    """The running proxies and their ports on 127.0.0.1."""

    http: int
    """Squid, CONNECT for anyone."""
    http_auth: int
    """Squid, CONNECT with Basic authentication (PROXY_USER, PROXY_PASSWORD)."""
    socks: int
    """microsocks, no authentication."""
    socks_auth: int
    """microsocks, user name and password (PROXY_USER, PROXY_PASSWORD)."""
    blocked_port: int
    """A port Squid's ACL refuses to CONNECT to (403)."""
    directory: Path
    processes: list[subprocess.Popen[bytes]]
    service: str

    def log(self) -> str:
        """Squid's cache.log, for an assertion message."""
        path = self.directory / "cache.log"
        return path.read_text(errors="replace") if path.exists() else "(no cache.log)"

    def stop(self) -> None:
        for process in self.processes:
            stop_process(process)
        # Squid names its shared memory after the service; a killed Squid leaves them.
        for leftover in Path("/dev/shm").glob(f"{self.service}-*.shm"):
            leftover.unlink(missing_ok=True)
        shutil.rmtree(self.directory, ignore_errors=True)


def _squid_config(d: Path, open_port: int, auth_port: int, blocked: int, user: str) -> str:
    return f"""\
http_port 127.0.0.1:{open_port} name=open
http_port 127.0.0.1:{auth_port} name=auth
pid_filename {d}/squid.pid
cache_log {d}/cache.log
access_log none
cache_effective_user {user}
cache deny all
cache_mem 8 MB
memory_cache_shared off
coredump_dir {d}
visible_hostname pco-wire-test
dns_nameservers 127.0.0.1
pinger_enable off
shutdown_lifetime 0 seconds
auth_param basic program {_SQUID_HELPER} {d}/htpasswd
auth_param basic children 1 startup=1 idle=1
acl open_port myportname open
acl auth_port myportname auth
acl authed proxy_auth REQUIRED
acl blocked port {blocked}
http_access deny blocked
http_access allow CONNECT open_port
http_access allow CONNECT auth_port authed
http_access deny all
"""


def _wait_listening(ports: list[int], processes: list[subprocess.Popen[bytes]], log: Path) -> None:
    deadline = time.monotonic() + START_TIMEOUT
    for port in ports:
        while True:
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                    break
            except OSError:
                pass
            dead = [p.args for p in processes if p.poll() is not None]
            if dead or time.monotonic() > deadline:
                text = log.read_text(errors="replace") if log.exists() else ""
                raise AssertionError(
                    f"proxy port {port} not listening (ended: {dead}); cache.log:\n{text}"
                )
            time.sleep(0.05)


def start_proxies() -> Proxies:
    """Start Squid and two microsocks and wait until every port accepts. Raises
    AssertionError when squid, microsocks or openssl is missing (run ./setup.sh)."""
    squid = require("squid")
    microsocks = require("microsocks")
    openssl = require("openssl")
    if not os.path.exists(_SQUID_HELPER):
        raise AssertionError(f"{_SQUID_HELPER} is not installed: run ./setup.sh")
    # Squid started as root runs as cache_effective_user, who must read and write here.
    directory = Path(tempfile.mkdtemp(prefix="pco_wire-squid-"))
    user = pwd.getpwuid(os.getuid()).pw_name
    if os.getuid() == 0:
        user = "proxy" if _has_user("proxy") else "nobody"
    hashed = subprocess.run(
        [openssl, "passwd", "-apr1", PROXY_PASSWORD],
        check=True,
        capture_output=True,
        text=True,
        timeout=10,
    ).stdout.strip()
    (directory / "htpasswd").write_text(f"{PROXY_USER}:{hashed}\n")
    open_port, auth_port, blocked, socks, socks_auth = free_ports(5)
    (directory / "squid.conf").write_text(
        _squid_config(directory, open_port, auth_port, blocked, user)
    )
    if os.getuid() == 0:
        entry = pwd.getpwnam(user)
        for path in (directory, *directory.iterdir()):
            os.chown(path, entry.pw_uid, entry.pw_gid)
    service = f"pcowire{os.getpid()}x{open_port}"
    processes: list[subprocess.Popen[bytes]] = []
    proxies = Proxies(
        open_port, auth_port, socks, socks_auth, blocked, directory, processes, service
    )
    try:
        with open(directory / "squid.out", "wb") as sink:
            processes.append(
                subprocess.Popen(
                    [squid, "-N", "-n", service, "-f", str(directory / "squid.conf")],
                    stdout=sink,
                    stderr=subprocess.STDOUT,
                )
            )
            processes.append(
                subprocess.Popen(
                    [microsocks, "-i", "127.0.0.1", "-p", str(socks)],
                    stdout=sink,
                    stderr=subprocess.STDOUT,
                )
            )
            processes.append(
                subprocess.Popen(
                    [
                        *(microsocks, "-i", "127.0.0.1", "-p", str(socks_auth)),
                        *("-u", PROXY_USER, "-P", PROXY_PASSWORD),
                    ],
                    stdout=sink,
                    stderr=subprocess.STDOUT,
                )
            )
        _wait_listening(
            [open_port, auth_port, socks, socks_auth], processes, directory / "cache.log"
        )
    except BaseException:
        proxies.stop()
        raise
    return proxies


def _has_user(name: str) -> bool:
    try:
        pwd.getpwnam(name)
    except KeyError:
        return False
    return True
