"""Server URIs: ``mqtt://``, ``mqtts://``, ``ws://`` and ``wss://``.

``mqtt://host[:port]`` (1883), ``mqtts://`` (8883), ``ws://host[:port][/path][?query]`` (80),
``wss://`` (443). For ws and wss, no path means ``/mqtt``; a path given, even ``/``, is used
as it is. IPv6 literals go in brackets, with an optional zone: ``[fe80::1%eth0]`` (or
``%25eth0``, as RFC 6874 writes it). ``user[:password]@`` is accepted; the caller decides
what to say about a password found there.
"""

from __future__ import annotations

from functools import lru_cache

from ._record import Record
from .errors import InvalidSettings

__all__ = ["DEFAULT_PORTS", "SCHEMES", "ServerURI", "parse_uri"]

DEFAULT_PORTS = {"mqtt": 1883, "mqtts": 8883, "ws": 80, "wss": 443}
SCHEMES = tuple(DEFAULT_PORTS)
DEFAULT_WS_PATH = "/mqtt"


class ServerURI(Record):
    """A parsed server URI; a value, not to be changed. ``host`` has no brackets (an IPv6
    zone is kept after "%"); ``path`` is for ws and wss only, "/mqtt" when none was given.
    The password never appears in ``str()`` or ``repr()``."""

    __slots__ = ("scheme", "host", "port", "path", "query", "username", "password")
    _fields = __slots__

    def __init__(
        self,
        scheme: str,
        host: str,
        port: int,
        path: str = "",
        query: str = "",
        username: str | None = None,
        password: str | None = None,
    ) -> None:
        self.scheme = scheme
        self.host = host
        self.port = port
        self.path = path
        self.query = query
        self.username = username
        self.password = password

    def __hash__(self) -> int:
        return hash(self._values())

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

    @property
    def shown_resource(self) -> str:
        """The resource with query values masked: presigned URLs carry tokens there."""
        if not self.query:
            return self.path
        return f"{self.path}?{_mask_query(self.query)}"

    def __str__(self) -> str:
        # Never a secret: this string goes into logs and reports.
        user = f"{self.username}@" if self.username is not None else ""
        rest = self.shown_resource if self.websocket else ""
        return f"{self.scheme}://{user}{self.netloc}{rest}"

    def __repr__(self) -> str:
        return f"ServerURI({str(self)!r})"


@lru_cache(maxsize=32)
def parse_uri(text: str, field: str = "server_uri") -> ServerURI:
    """Parse a server URI. Raises InvalidSettings naming ``field`` and the URI.

    The result is a value shared between callers (settings are checked, then used, and
    each step asks): never change it.
    """

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
    # RFC 3986 §3: authority, path, query, fragment. Split by hand: urllib.parse and the
    # ipaddress module it pulls in cost milliseconds at start-up.
    after_scheme = text[len(scheme) + 3 :]
    authority_end = min(after_scheme.find(c) % (len(after_scheme) + 1) for c in "/?#")
    if "@" in after_scheme[authority_end:]:
        # "user:pa/ss@host" splits before the "@": say how to write it, quote nothing.
        raise bad(
            "expected '/', '?', '#' and '@' in a user name or password to be "
            "percent-encoded (%2F, %3F, %23, %40)"
        )
    rest, _, fragment = after_scheme.partition("#")
    if fragment:
        raise bad("expected no #fragment")
    rest, _, query = rest.partition("?")
    authority, slash, path = rest.partition("/")
    path = slash + path
    userinfo, at, hostport = authority.rpartition("@")
    if hostport.startswith("["):
        literal, bracket, after = hostport[1:].partition("]")
        if not bracket or (after and not after.startswith(":")):
            raise bad("expected ']' closing the IPv6 address")
        port_text = after[1:] if after else None
        # RFC 6874: the zone's "%" is written "%25"; a bare "%" followed by the zone
        # (fe80::1%eth0, fe80::1%12) is what people type, and is kept as it is.
        address, percent, zone = literal.partition("%")
        host = (
            address + percent + zone.removeprefix("25")
            if zone.startswith("25") and len(zone) > 2
            else literal
        )
        import ipaddress

        try:
            ipaddress.IPv6Address(host.partition("%")[0])
        except ValueError:
            raise bad(f"expected an IPv6 address in brackets, got {host!r}") from None
    else:
        host, colon, port_text_ = hostport.partition(":")
        port_text = port_text_ if colon else None
        host = unquote(host).lower()
        if not host:
            raise bad("expected a host name or address")
        if not valid_host(host):
            raise bad(f"expected a host name or address, got {host!r}")
    if port_text is None:
        port = DEFAULT_PORTS[scheme]
    elif not port_text:
        raise bad("expected a port after ':'")
    elif not (port_text.isascii() and port_text.isdigit()):
        # The text is not quoted: in "user:secret" without a host it is the password.
        raise bad("expected a port 1..65535 after ':'")
    else:
        port = int(port_text)
        if not 1 <= port <= 65535:
            raise bad(f"expected a port 1..65535, got {port}")
    username = password = None
    if at:
        user, colon, secret = userinfo.partition(":")
        username = unquote(user)
        password = unquote(secret) if colon else None
    if scheme in ("mqtt", "mqtts"):
        if path not in ("", "/") or query:
            raise bad(f"expected no path or query with {scheme}://")
        path = query = ""
    else:
        if any(c <= " " or c == "\x7f" for c in path + query):
            raise bad("expected no spaces or control characters in the path or query")
        # The request line is ASCII (RFC 3986 §2.1): other characters go percent-encoded.
        path, query = _encode(path or DEFAULT_WS_PATH), _encode(query)
    return ServerURI(scheme, host, port, path, query, username, password)


def unquote(text: str) -> str:
    """Percent-decoding (RFC 3986 §2.1), as UTF-8; a malformed escape stays as it is."""
    if "%" not in text:
        return text
    out = bytearray()
    i = 0
    while i < len(text):
        if text[i] == "%" and i + 2 < len(text) and _is_hex(text[i + 1 : i + 3]):
            out.append(int(text[i + 1 : i + 3], 16))
            i += 3
        else:
            out += text[i].encode()
            i += 1
    return out.decode("utf-8", "replace")


def _encode(text: str) -> str:
    if text.isascii():
        return text
    return "".join(c if c.isascii() else "".join(f"%{b:02X}" for b in c.encode()) for c in text)


def _is_hex(pair: str) -> bool:
    return len(pair) == 2 and all(c in "0123456789abcdefABCDEF" for c in pair)


_NOT_IN_HOST = frozenset(" /?#[]@\\")


def valid_host(host: str) -> bool:
    """Whether ``host`` can be a host name (IDNA for non-ASCII names) or an address."""
    # isprintable() is False for control characters and for every space but " ".
    if not host or not host.isprintable() or not _NOT_IN_HOST.isdisjoint(host):
        return False
    if host.startswith(".") or ".." in host:
        return False
    if not host.isascii():
        try:
            host.encode("idna")
        except UnicodeError:
            return False
    return True


def _shown(text: str) -> str:
    """The URI with any password replaced, for messages.

    Masks from the first ":" after the user name up to the last "@" of the whole text, so
    a password with an unescaped "/", "?" or "#" is hidden too: masking too much is
    harmless, too little is not.
    """
    scheme, sep, rest = text.partition("://")
    if not sep:
        # No scheme (a mistake being reported): "user:secret@host" still hides its secret.
        scheme, rest = "", text
    userinfo, at, after = rest.rpartition("@")
    if at and ":" in userinfo:
        rest = f"{userinfo.partition(':')[0]}:***@{after}"
    # Query values may be tokens (presigned URLs): keys only.
    rest, question, query = rest.partition("?")
    if question:
        query, hash_, fragment = query.partition("#")
        rest += "?" + _mask_query(query) + hash_ + fragment
    return f"{scheme}{sep}{rest}"


def _mask_query(query: str) -> str:
    return "&".join(
        f"{key}=***" if sep else key
        for key, sep, _ in (item.partition("=") for item in query.split("&"))
    )
