"""Server URIs: ``mqtt://``, ``mqtts://``, ``ws://`` and ``wss://``.

``mqtt://host[:port]`` (1883), ``mqtts://`` (8883), ``ws://host[:port][/path][?query]`` (80),
``wss://`` (443). For ws and wss, no path means ``/mqtt``; a path given, even ``/``, is used
as it is. IPv6 literals go in brackets, with an optional zone: ``[fe80::1%eth0]`` (or
``%25eth0``, as RFC 6874 writes it). ``user[:password]@`` is accepted; the caller decides
what to say about a password found there.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from urllib.parse import unquote, urlsplit

from .errors import InvalidSettings

__all__ = ["DEFAULT_PORTS", "SCHEMES", "ServerURI", "parse_uri"]

DEFAULT_PORTS = {"mqtt": 1883, "mqtts": 8883, "ws": 80, "wss": 443}
SCHEMES = tuple(DEFAULT_PORTS)
DEFAULT_WS_PATH = "/mqtt"


@dataclass(frozen=True, slots=True)
class ServerURI:
    scheme: str
    host: str  # without brackets; an IPv6 zone kept after "%"
    port: int
    path: str = ""  # ws and wss only: the resource, "/mqtt" when the URI had none
    query: str = ""
    username: str | None = None
    password: str | None = None

    @property
    def tls(self) -> bool:
        return self.scheme in ("mqtts", "wss")

    @property
    def websocket(self) -> bool:
        return self.scheme in ("ws", "wss")

    @property
    def resource(self) -> str:
        """The WebSocket request target: path and query."""
        return f"{self.path}?{self.query}" if self.query else self.path

    @property
    def netloc(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{host}:{self.port}"

    def __str__(self) -> str:
        # Never the password: this string goes into logs and reports.
        user = f"{self.username}@" if self.username is not None else ""
        rest = self.resource if self.websocket else ""
        return f"{self.scheme}://{user}{self.netloc}{rest}"

    def __repr__(self) -> str:
        return f"ServerURI({str(self)!r})"


def parse_uri(text: str, field: str = "server_uri") -> ServerURI:
    """Parse a server URI. Raises InvalidSettings naming ``field`` and the URI."""

    def bad(reason: str) -> InvalidSettings:
        return InvalidSettings([(field, f"{reason} in {_shown(text)!r}")])

    if not isinstance(text, str) or not text.strip():
        raise InvalidSettings([(field, "expected a URI such as mqtt://host:1883, got nothing")])
    text = text.strip()
    scheme, sep, _ = text.partition("://")
    if not sep:
        raise bad("expected scheme://host, e.g. mqtt://broker.local:1883, got no scheme")
    if scheme.lower() not in DEFAULT_PORTS:
        raise bad(f"expected scheme mqtt, mqtts, ws or wss, got {scheme!r}")
    scheme = scheme.lower()
    try:
        parts = urlsplit(text)
        port = parts.port
    except ValueError as exc:
        raise bad(f"expected a valid host and port ({exc})") from None
    host = parts.hostname
    if not host:
        raise bad("expected a host name or address")
    host = unquote(host)
    if parts.netloc.rpartition("@")[2].startswith("["):
        literal = host.partition("%")[0]
        try:
            ipaddress.IPv6Address(literal)
        except ValueError:
            raise bad(f"expected an IPv6 address in brackets, got {literal!r}") from None
    elif not _valid_host(host):
        raise bad(f"expected a host name or address, got {host!r}")
    if port is None:
        if parts.netloc.endswith(":"):
            raise bad("expected a port after ':'")
        port = DEFAULT_PORTS[scheme]
    elif not 1 <= port <= 65535:
        raise bad(f"expected a port 1..65535, got {port}")
    if parts.fragment:
        raise bad("expected no #fragment")
    path, query = parts.path, parts.query
    if scheme in ("mqtt", "mqtts"):
        if path not in ("", "/") or query:
            raise bad(f"expected no path or query with {scheme}://")
        path = query = ""
    elif not path:
        path = DEFAULT_WS_PATH
    username = unquote(parts.username) if parts.username is not None else None
    password = unquote(parts.password) if parts.password is not None else None
    return ServerURI(scheme, host, port, path, query, username, password)


def _valid_host(host: str) -> bool:
    if any(c.isspace() or c in "/?#[]@\\" for c in host):
        return False
    return all(label for label in host.rstrip(".").split("."))


def _shown(text: str) -> str:
    """The URI with any password replaced, for messages."""
    scheme, sep, rest = text.partition("://")
    if not sep:
        return text
    authority, slash, tail = rest.partition("/")
    userinfo, at, hostport = authority.rpartition("@")
    if at and ":" in userinfo:
        userinfo = userinfo.partition(":")[0] + ":***"
    return f"{scheme}{sep}{userinfo}{at}{hostport}{slash}{tail}"
