"""The network guard: nothing a test starts may send beyond loopback or ask a DNS server.

This file is two things. Imported as ``tests.netguard.sitecustomize``, it is the guard of
the pytest process (tests/netguard/__init__.py installs it). Found as ``sitecustomize`` by
the ``site`` module of every Python the tests start (tests/netguard is put first on
PYTHONPATH for them), it installs itself at start-up, before any code of the program runs.

The guard is an audit hook (PEP 578), so it sees every socket of the process, whoever
opened it, and it runs before the system call: a connect or a send to an address that is
not loopback, or a name lookup that is not an IP literal or ``localhost``, raises
:class:`NetworkGuardError` and nothing leaves the machine. The error is a BaseException so
that no ``except OSError`` or ``except Exception`` of the code under test mistakes it for a
network failure and carries on; each violation is also written to stderr and, in a child
process, appended to the file named by ``PCO_WIRE_NETGUARD_LOG``, so that the test that
started it fails even if the error was swallowed. Audit hooks cannot be removed: this one
returns after one dictionary lookup for every event that is not about sockets.

The resolver the tests control: ``PCO_WIRE_TEST_HOSTS`` holds a JSON object mapping names
under ``.test`` (RFC 6761 §6.2) to lists of IP literals, e.g. ``{"broker.test":
["127.0.0.1"], "gone.test": []}``. ``socket.getaddrinfo`` answers those names from it (an
empty list is "does not resolve", EAI_NONAME, as the system resolver says it) and passes
everything else to the real one, which the guard watches.

Not covered: a socket given a host *name* as its address (``sock.connect(("name", 80))``)
is resolved by CPython before the audit event, so that lookup happens before the guard
refuses the connect (loudly, still); ``python -S`` skips sitecustomize (the start-up
benchmarks use it, against 127.0.0.1 only).
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from typing import Any

__all__ = [
    "HOSTS_VARIABLE",
    "LOG_VARIABLE",
    "NetworkGuardError",
    "install",
    "violations",
]

LOG_VARIABLE = "PCO_WIRE_NETGUARD_LOG"
HOSTS_VARIABLE = "PCO_WIRE_TEST_HOSTS"
#: Names that never need a DNS server: the resolver answers them from /etc/hosts.
LOCAL_NAMES = frozenset({"localhost"})


class NetworkGuardError(BaseException):
    """A test tried to reach beyond loopback, or to resolve a name through DNS."""


#: Every violation of this process, in order; the log (when set) has them too, and it is
#: what tests/netguard/__init__.py reads, for this process and its children alike.
violations: list[str] = []
_installed = False


def _text(host: object) -> str | None:
    if isinstance(host, bytes):
        return host.decode("ascii", "replace")
    return host if isinstance(host, str) else None


def _ip(host: str) -> Any:
    """The address ``host`` spells (scope ids allowed), or None when it is a name."""
    import ipaddress  # only once a socket event arrives; ipaddress is cheap and pure

    try:
        return ipaddress.ip_address(host)
    except ValueError:
        return None


def _local_address(host: str) -> bool:
    address = _ip(host.partition("%")[0])
    if address is None:
        return False
    mapped = getattr(address, "ipv4_mapped", None)
    if mapped is not None:
        address = mapped
    # On Linux a connect to 0.0.0.0 or :: reaches this machine.
    return bool(address.is_loopback or address.is_unspecified)


def _lookup_allowed(host: object) -> bool:
    name = _text(host)
    if not name:  # None or "": the wildcard address of bind
        return True
    # "localhost." is not in /etc/hosts: the resolver would ask DNS for it.
    return name.lower() in LOCAL_NAMES or _ip(name.partition("%")[0]) is not None


def _check_address(event: str, address: object) -> None:
    # AF_INET and AF_INET6 addresses are tuples whose first item is the host; AF_UNIX
    # paths (str, bytes) and None (sendmsg on a connected socket) stay on the machine.
    if isinstance(address, tuple) and address:
        host = _text(address[0])
        if host is not None and host.lower() not in LOCAL_NAMES and not _local_address(host):
            _violation(f"{event} {address!r}: not a loopback address")


def _check_lookup(event: str, host: object) -> None:
    if not _lookup_allowed(host):
        _violation(f"{event} of {host!r}: a name lookup would ask a DNS server")


def _violation(what: str) -> None:
    message = (
        f"pco_wire network guard: {what} (pid {os.getpid()}); tests talk to 127.0.0.1, "
        f"::1 or localhost only, and name other hosts through {HOSTS_VARIABLE}"
    )
    violations.append(message)
    try:
        sys.stderr.write(message + "\n")
        sys.stderr.flush()
    except (OSError, ValueError, AttributeError):
        pass
    log = os.environ.get(LOG_VARIABLE)
    if log:
        with open(log, "a", encoding="utf-8") as handle:
            handle.write(message + "\n")
    raise NetworkGuardError(message)


_CHECKS: dict[str, Callable[[tuple[Any, ...]], None]] = {
    "socket.connect": lambda args: _check_address("connect", args[1]),
    "socket.sendto": lambda args: _check_address("sendto", args[1]),
    "socket.sendmsg": lambda args: _check_address("sendmsg", args[1]),
    "socket.getaddrinfo": lambda args: _check_lookup("getaddrinfo", args[0]),
    "socket.gethostbyname": lambda args: _check_lookup("gethostbyname", args[0]),
    # A reverse lookup asks DNS for anything /etc/hosts does not know: loopback only.
    "socket.gethostbyaddr": lambda args: _check_address("gethostbyaddr", (args[0],)),
    # getnameinfo's event carries the address, not the flags: only loopback is safe.
    "socket.getnameinfo": lambda args: _check_address("getnameinfo", args[0]),
}


def _hook(event: str, args: tuple[Any, ...]) -> None:
    check = _CHECKS.get(event)
    if check is not None:
        check(args)


# ---------------------------------------------------------------------------- the resolver


def _hosts() -> dict[str, list[str]]:
    text = os.environ.get(HOSTS_VARIABLE)
    if not text:
        return {}
    import json

    mapping = json.loads(text)
    if not isinstance(mapping, dict) or not all(
        isinstance(name, str) and name.endswith(".test") and isinstance(addresses, list)
        for name, addresses in mapping.items()
    ):
        raise ValueError(f"{HOSTS_VARIABLE} must map names under .test to lists of IPs")
    return {name.lower(): addresses for name, addresses in mapping.items()}


def _controlled_getaddrinfo(real: Callable[..., Any]) -> Callable[..., Any]:
    import socket

    def getaddrinfo(
        host: Any, port: Any, family: int = 0, type: int = 0, proto: int = 0, flags: int = 0
    ) -> Any:
        name = _text(host)
        addresses = _hosts().get(name.rstrip(".").lower()) if name else None
        if addresses is None:
            return real(host, port, family, type, proto, flags)
        if not addresses or flags & socket.AI_NUMERICHOST:
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        found: list[Any] = []
        for address in addresses:
            numeric = flags | socket.AI_NUMERICHOST
            found.extend(real(address, port, family, type, proto, numeric))
        return found

    getaddrinfo.__wrapped__ = real  # type: ignore[attr-defined]
    return getaddrinfo


def install(*, resolver: bool) -> None:
    """Install the guard in this process (once; a second call does nothing). With
    ``resolver``, ``socket.getaddrinfo`` also answers the names of PCO_WIRE_TEST_HOSTS."""
    global _installed
    if _installed:
        return
    _installed = True
    sys.addaudithook(_hook)
    if resolver:
        import socket

        socket.getaddrinfo = _controlled_getaddrinfo(socket.getaddrinfo)


if __name__ == "sitecustomize":
    # A child process: socket is imported only when a test gave it names to answer, so
    # that the start-up of every other child stays what it was.
    install(resolver=bool(os.environ.get(HOSTS_VARIABLE)))
