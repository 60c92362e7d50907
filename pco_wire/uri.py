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

__all__ = [
    "DEFAULT_PORTS",
    "SCHEMES",
    "ServerURI",
    "host_problem",
    "parse_uri",
    "shown_text",
    "shown_user",
]

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
        user = f"{shown_user(self.username)}@" if self.username is not None else ""
        rest = self.shown_resource if self.websocket else ""
        return f"{self.scheme}://{user}{self.netloc}{rest}"

    def __repr__(self) -> str:
        return f"ServerURI({str(self)!r})"


def parse_uri(text: str, field: str = "server_uri") -> ServerURI:
    """Parse a server URI. Raises InvalidSettings naming ``field`` and the URI (its
    password masked), for any value: a URI that is not text is named by its type.

    The result is a value shared between callers (settings are checked, then used, and
    each step asks): never change it.
    """
    if not isinstance(text, str):
        # Before the cache: a list is not hashable, and bytes must not be parsed as text.
        raise InvalidSettings([(field, f"expected a URI as text, got {_kind(text)}")])
    return _parse_uri(text, field)


@lru_cache(maxsize=32)
def _parse_uri(text: str, field: str) -> ServerURI:
    def bad(reason: str, shown: str | None = None) -> InvalidSettings:
        masked = _shown(text if shown is None else shown)
        if len(masked) > 200:
            masked = f"{masked[:100]}...{masked[-20:]}"
        return InvalidSettings([(field, f"{reason} in {masked!r}")])

    if not text.strip():
        raise InvalidSettings([(field, "expected a URI such as mqtt://host:1883, got nothing")])
    text = text.strip()
    try:
        text.encode()
    except UnicodeEncodeError as exc:
        # Bytes that are not UTF-8 (argv, a variable) arrive as lone surrogates.
        raise InvalidSettings(
            [
                (
                    field,
                    "expected UTF-8 text, got a byte that is not UTF-8 at character "
                    f"{exc.start + 1}",
                )
            ]
        ) from None
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
        if zone.startswith("25") and len(zone) > 2:
            zone = zone[2:]
        host = address + percent + zone
        if not _valid_ipv6(address):
            raise bad(f"expected an IPv6 address in brackets, got {host!r}")
        if percent and not (zone and _ZONE_CHARS.issuperset(zone)):
            # An interface name or index; a space or a control character there would
            # only fail later, as a name that does not resolve.
            raise bad(
                f"expected a zone ID of letters, digits, '-', '.', '_' or '~' after '%', "
                f"got {zone!r}"
            )
    else:
        if hostport.count(":") > 1:
            raise bad(_ipv6_hint(scheme, hostport))
        host, colon, port_text_ = hostport.partition(":")
        port_text = port_text_ if colon else None
        host = unquote(host).lower()
        if not host:
            raise bad("expected a host name or address")
        reason = host_problem(host)
        if reason:
            raise bad(f"expected a host name or address, got {host!r}: {reason}")
    if port_text is None:
        port = DEFAULT_PORTS[scheme]
    elif not port_text:
        raise bad("expected a port after ':'")
    elif not (port_text.isascii() and port_text.isdigit()):
        # The text is masked: in "user:secret" without a host it is the password.
        raise bad("expected a port 1..65535 after ':'", _without_port(text, port_text))
    elif len(port_text.lstrip("0")) > 5:
        # int() of more than 4,300 digits raises; no port has more than five.
        raise bad(f"expected a port 1..65535, got a number of {len(port_text):,} digits")
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


# RFC 3986 §2.3 unreserved characters: what RFC 6874 allows in a zone ID unencoded.
_ZONE_CHARS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~")


def _valid_ipv4(text: str) -> bool:
    parts = text.split(".")
    return len(parts) == 4 and all(
        p.isdigit() and p.isascii() and len(p) <= 3 and int(p) <= 255 for p in parts
    )


def _inet_aton(text: str) -> bool:
    """The short forms the C library takes as IPv4 (127.1 is 127.0.0.1)."""
    import socket

    try:
        socket.inet_aton(text)
    except OSError:
        return False
    return text.isascii()


def _valid_ipv6(text: str) -> bool:
    import ipaddress

    try:
        ipaddress.IPv6Address(text)
    except ValueError:
        return False
    return "%" not in text


def _ipv6_hint(scheme: str, hostport: str) -> str:
    """The sentence for a host with two or more ":": an IPv6 address without brackets."""
    address, _, port = hostport.rpartition(":")
    if port.isascii() and port.isdigit() and len(port) <= 5 and _valid_ipv6(address):
        example = f"[{address}]:{port}"
    elif _valid_ipv6(hostport.partition("%")[0]):
        example = f"[{hostport}]"
    else:
        return "expected an IPv6 address in brackets, e.g. [::1]:1883"
    return f"expected an IPv6 address in brackets: {scheme}://{example}"


def _without_port(text: str, port_text: str) -> str:
    """``text`` with the text after the host's ":" masked, for the message about it."""
    head, _, tail = text.rpartition(":" + port_text)
    return f"{head}:***{tail}"


def _kind(value: object) -> str:
    if isinstance(value, (bytes, bytearray)):
        size = f"{len(value):,} byte" + ("" if len(value) == 1 else "s")
        return f"bytes ({size}): decode them to text first"
    names = {type(None): "None", bool: "a bool", int: "an integer", float: "a float"}
    return names.get(type(value), f"a {type(value).__name__}")


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
    return host_problem(host) is None


def host_problem(host: str) -> str | None:
    """Why ``host`` cannot be a host name (IDNA for non-ASCII names) or an IPv4 address,
    or None. Names the resolver would refuse later (with an error that is not a user's)
    are refused here: RFC 1035 §2.3.4 and RFC 5890 limits."""
    if not isinstance(host, str) or not host:
        return "expected a name"
    # isprintable() is False for control characters and for every space but " ".
    if not host.isprintable() or not _NOT_IN_HOST.isdisjoint(host):
        return "no spaces, control characters or / ? # [ ] @ \\ in a name"
    if host.startswith(".") or ".." in host:
        return "no empty label"
    name = host.removesuffix(".")
    if name.replace(".", "").isdigit() and not _valid_ipv4(host) and not _inet_aton(host):
        # Only digits and dots: meant as an address, and no name server knows it.
        return "an IPv4 address of four numbers 0..255, such as 192.168.0.10"
    try:
        # What socket.getaddrinfo() does with a name; its UnicodeError is not an OSError.
        encoded = name.encode("idna") if not name.isascii() else name.encode()
    except UnicodeError:
        return "not a valid international (IDNA) name"
    if len(encoded) > 253:
        return f"at most 253 characters, got {len(encoded):,}"
    for label in encoded.split(b"."):
        if len(label) > 63:
            return f"labels of at most 63 characters, got one of {len(label):,}"
        if label[:4].lower() == b"xn--":
            try:
                label.decode("idna")
            except UnicodeError:
                return f"{label.decode()!r} is not valid punycode (IDNA)"
    return None


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
    cut = _password_start(userinfo)
    if at and cut >= 0:
        rest = f"{userinfo[:cut]}:***@{after}"
    elif not at:
        # "user:secret" with the "@host" forgotten puts the secret where a port goes: a
        # "port" that is not a number is masked.
        end = min(rest.find(c) % (len(rest) + 1) for c in "/?#")
        host, _, port = rest[:end].partition(":")
        if port and not host.startswith("[") and ":" not in port and not port.isdigit():
            rest = f"{host}:***{rest[end:]}"
    # Query values may be tokens (presigned URLs): keys only.
    rest, question, query = rest.partition("?")
    if question:
        query, hash_, fragment = query.partition("#")
        rest += "?" + _mask_query(query) + hash_ + fragment
    return f"{scheme}{sep}{rest}"


def shown_text(text: object) -> str:
    """A URI as given, for a report line: masked like ``_shown``, control characters and
    undecodable bytes escaped (it may be anything a user typed), at most 200 characters."""
    if not isinstance(text, str):
        return ""
    from ._text import printable

    return printable(_shown(text), 200)


def _password_start(userinfo: str) -> int:
    """Where the password of raw user info begins (its ":"), or -1. A percent-encoded
    colon counts too: "user%3Apass" decodes to a user name that reads as a credential,
    and is masked like "user:pass"."""
    found = [i for i in (userinfo.find(":"), userinfo.lower().find("%3a")) if i >= 0]
    return min(found) if found else -1


def shown_user(username: str) -> str:
    """A user name for messages: the part after a ":" masked. A decoded name holding a
    ":" ("user%3Apass@") is almost surely a user and a password typed as one."""
    name, colon, _ = username.partition(":")
    return f"{name}:***" if colon else username


def _mask_query(query: str) -> str:
    return "&".join(
        f"{key}=***" if sep else key
        for key, sep, _ in (item.partition("=") for item in query.split("&"))
    )
