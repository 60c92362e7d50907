"""Proxies, sans I/O: proxy URLs, the choice of one from the environment, and the
handshakes that open a tunnel through one (HTTP CONNECT, SOCKS5, SOCKS4 and 4a).

Both transports (blocking and asyncio) connect to the proxy, then move bytes between
the socket and a ``Tunnel``: ``data_to_send()`` is what goes to the proxy, ``receive(raw)``
takes its answer (b"": it closed) and returns True once the tunnel is open, or raises
``ProxyError`` saying what the proxy meant (``fault``) and, for bytes that are not what
its protocol allows, the byte at fault (``offset``). TLS and the WebSocket upgrade then
run through the tunnel to the broker, so the certificate, SNI and Host name the broker.

Every buffer here is bounded: an HTTP answer's header by ``MAX_HTTP_HEADER``, a SOCKS
reply by its own format (at most 262 bytes). Nothing here reads a clock, a socket or the
environment: ``from_environment`` is handed the variables.

Proxy URLs: ``http://[user[:password]@]host[:port]`` (port 80 when none, as Python's and
curl's HTTP clients read proxy variables), ``socks5://`` (the broker's name resolved
here, the proxy is given an address), ``socks5h://`` (the name is sent to the proxy,
which resolves it), ``socks4://`` (resolved here, IPv4 only), ``socks4a://`` (name sent);
SOCKS ports default to 1080 (RFC 1928 §3).
"""

from __future__ import annotations

import base64

from ._record import Record
from ._text import printable
from .errors import InvalidSettings, ProxyError
from .phases import PhaseName
from .uri import _shown, _valid_ipv4, _valid_ipv6, host_problem, unquote

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping

__all__ = [
    "DEFAULT_PROXY_PORTS",
    "ENV",
    "MAX_HTTP_HEADER",
    "HttpConnect",
    "ProxyURL",
    "Route",
    "Socks4",
    "Socks5",
    "Tunnel",
    "bypassed",
    "choose",
    "from_environment",
    "parse_proxy",
    "tunnel",
]

DEFAULT_PROXY_PORTS = {"http": 80, "socks5": 1080, "socks5h": 1080, "socks4": 1080, "socks4a": 1080}
#: The value of ``proxy`` that asks for the environment's variables.
ENV = "env"
#: The most bytes of an HTTP proxy's answer header (status line and fields) read before
#: it is refused: a proxy's answer to CONNECT is a few hundred bytes.
MAX_HTTP_HEADER = 16384


class ProxyURL(Record):
    """A parsed proxy URL. The password never appears in ``str()`` or ``repr()``."""

    __slots__ = ("scheme", "host", "port", "username", "password")
    _fields = __slots__
    _hidden = frozenset({"password"})

    def __init__(
        self,
        scheme: str,
        host: str,
        port: int,
        username: str | None = None,
        password: str | None = None,
    ) -> None:
        self.scheme = scheme
        self.host = host
        self.port = port
        self.username = username
        self.password = password

    @property
    def netloc(self) -> str:
        return _netloc(self.host, self.port)

    @property
    def protocol(self) -> str:
        """The handshake's name, for phases and messages."""
        return {"http": "HTTP CONNECT", "socks4": "SOCKS4", "socks4a": "SOCKS4a"}.get(
            self.scheme, "SOCKS5"
        )

    @property
    def remote_dns(self) -> bool:
        """Whether the broker's name goes to the proxy (else it is resolved here)."""
        return self.scheme in ("http", "socks5h", "socks4a")

    def __str__(self) -> str:
        user = f"{self.username}@" if self.username is not None else ""
        return f"{self.scheme}://{user}{self.netloc}"


def _netloc(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def parse_proxy(text: str, field: str = "proxy") -> ProxyURL:
    """Parse a proxy URL. Raises InvalidSettings naming ``field``, the URL shown with its
    password masked."""
    if not isinstance(text, str):
        raise InvalidSettings([(field, f"expected a proxy URL as text, got {type(text).__name__}")])
    shown = printable(_shown(text.strip()), 200)

    def bad(reason: str) -> InvalidSettings:
        return InvalidSettings([(field, f"{reason} in {shown!r}")])

    text = text.strip()
    scheme, sep, rest = text.partition("://")
    if not sep:
        raise bad("expected scheme://host:port, e.g. http://proxy:3128 or socks5h://proxy:1080")
    scheme = scheme.lower()
    if scheme not in DEFAULT_PROXY_PORTS:
        also = " (TLS to the proxy itself is not supported)" if scheme == "https" else ""
        raise bad(f"expected scheme http, socks5, socks5h, socks4 or socks4a, got {scheme!r}{also}")
    rest = rest.rstrip("/")
    if any(c in rest for c in "/?#"):
        raise bad(
            "expected no path, query or fragment (a '/', '?' or '#' in a password is %2F, %3F, %23)"
        )
    userinfo, at, hostport = rest.rpartition("@")
    if hostport.startswith("["):
        host, bracket, after = hostport[1:].partition("]")
        if not bracket or (after and not after.startswith(":")) or not _valid_ipv6(host):
            raise bad("expected an IPv6 address in brackets, e.g. [::1]:3128")
        port_text: str | None = after[1:] if after else None
    else:
        host, colon, port_text_ = hostport.partition(":")
        port_text = port_text_ if colon else None
        host = unquote(host).lower()
        if not host:
            raise bad("expected a host name or address")
        problem = host_problem(host)
        if problem:
            raise bad(f"expected a host name or address: {problem}")
    if port_text is None:
        port = DEFAULT_PROXY_PORTS[scheme]
    elif not (port_text.isascii() and port_text.isdigit()) or len(port_text) > 5:
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
    return ProxyURL(scheme, host, port, username, password)


# ---------------------------------------------------------------------------- choosing


class Route(Record):
    """The proxy a connection goes through, with the credentials to give it, and where
    the choice came from ("--proxy" or a file's "proxy.url", or the variable's name)."""

    __slots__ = ("url", "username", "password", "source")
    _fields = __slots__
    _hidden = frozenset({"password"})

    def __init__(
        self, url: ProxyURL, username: str | None, password: str | None, source: str
    ) -> None:
        self.url = url
        self.username = username
        self.password = password
        self.source = source

    def describe(self) -> str:
        """The proxy for a phase's detail: its URL without a password, and its source."""
        return f"{self.url} ({self.source})" if self.source else str(self.url)


#: The variables read for each scheme, in order: ours first, then the scheme's, then
#: ALL_PROXY; for each, the lowercase name before the uppercase one (as curl and
#: Python's urllib read them).
_VARIABLES = {
    False: ("mqtt_proxy", "MQTT_PROXY", "http_proxy", "HTTP_PROXY", "all_proxy", "ALL_PROXY"),
    True: ("mqtt_proxy", "MQTT_PROXY", "https_proxy", "HTTPS_PROXY", "all_proxy", "ALL_PROXY"),
}


def from_environment(
    tls: bool, host: str, port: int, environ: Mapping[str, str], no_proxy: Iterable[str] = ()
) -> tuple[ProxyURL | None, str]:
    """The proxy the variables in ``environ`` name for a connection to ``host:port``
    (``tls``: mqtts or wss), and what decided it: the variable's name, or why none is
    used ("NO_PROXY matches ...", "no proxy variable set"). ``no_proxy``: patterns added
    to NO_PROXY's (the settings' own). An empty variable counts as unset.

    Raises InvalidSettings naming the variable when its URL does not parse.
    """
    patterns = list(no_proxy)
    for name in ("no_proxy", "NO_PROXY"):
        value = environ.get(name)
        if value:
            patterns += _split(value)
            break
    chosen = None
    for name in _VARIABLES[tls]:
        value = environ.get(name)
        if value and value.strip():
            chosen = name
            break
    if chosen is None:
        return None, "no proxy variable set"
    match = bypassed(host, port, patterns)
    if match is not None:
        return None, f"NO_PROXY matches {host} ({match!r})"
    return parse_proxy(environ[chosen], chosen), chosen


def _split(text: str) -> list[str]:
    return [part for part in text.replace(",", " ").split() if part]


def bypassed(host: str, port: int, patterns: Iterable[str]) -> str | None:
    """The first NO_PROXY pattern that matches ``host:port``, or None.

    ``*`` matches every host; ``name`` and ``.name`` match the name and every name that
    ends with ``.name`` (as curl does); ``name:port`` only that port; an address matches
    itself, an IPv6 one in brackets or not; ``addr/bits`` matches a network (CIDR).
    Case and a trailing dot do not count.
    """
    host = host.lower().rstrip(".").partition("%")[0]
    for raw in patterns:
        pattern = raw.strip().lower()
        if not pattern:
            continue
        if pattern == "*":
            return raw
        want_port = None
        if pattern.startswith("["):
            inside, _, after = pattern[1:].partition("]")
            if after.startswith(":") and after[1:].isdigit():
                want_port = int(after[1:])
            pattern = inside
        elif pattern.count(":") == 1:
            name, _, port_text = pattern.partition(":")
            if port_text.isdigit():
                pattern, want_port = name, int(port_text)
        if want_port is not None and want_port != port:
            continue
        pattern = pattern.rstrip(".")
        if "/" in pattern:
            if _in_network(host, pattern):
                return raw
            continue
        name = pattern.lstrip(".")
        if not name:
            continue
        if host == name or host.endswith("." + name):
            return raw
    return None


def pattern_problem(pattern: str) -> str | None:
    """Why ``pattern`` is not a no_proxy pattern that ``bypassed`` can match, or None:
    ``*``, a name or ``.name``, an address (IPv6 in brackets when a port follows), any
    of those but ``*`` with ``:port``, or ``addr/bits``."""
    import ipaddress

    text = pattern.strip()
    if text == "*":
        return None
    if text.startswith("*."):
        return f"'*' stands alone; '{text[1:]}' (a leading dot) matches every name under {text[2:]}"
    if text.startswith("["):
        inside, closed, after = text[1:].partition("]")
        if not closed or not _valid_ipv6(inside):
            return "expected an IPv6 address in brackets, e.g. [::1] or [::1]:1883"
        if after and not (after.startswith(":") and _port_ok(after[1:])):
            return f"expected [address]:port with a port 1..65535 after {text[: len(inside) + 2]}"
        return None
    if text.count(":") == 1:
        text, _, port_text = text.partition(":")
        if not _port_ok(port_text):
            return "expected name:port with a port 1..65535"
    if "/" in text:
        try:
            ipaddress.ip_network(text, strict=False)
        except ValueError:
            return "expected a network as address/bits, e.g. 10.0.0.0/8 or fd00::/8"
        return None
    if ":" in text:
        return None if _valid_ipv6(text) else "expected an IPv6 address, e.g. ::1"
    problem = host_problem(text.removeprefix("."))
    return None if problem is None else f"expected a host name or address: {problem}"


def _port_ok(text: str) -> bool:
    return text.isascii() and text.isdigit() and len(text) <= 5 and 1 <= int(text) <= 65535


def _in_network(host: str, network: str) -> bool:
    import ipaddress

    try:
        return ipaddress.ip_address(host) in ipaddress.ip_network(network, strict=False)
    except ValueError:
        return False


def choose(
    proxy: str | None,
    tls: bool,
    host: str,
    port: int,
    environ: Mapping[str, str],
    *,
    username: str | None = None,
    password: str | None = None,
    no_proxy: Iterable[str] = (),
    source: str = "",
) -> tuple[Route | None, str]:
    """The route to ``host:port`` for the setting ``proxy`` (None, "" or "none": direct;
    "env": the environment's; else a URL), and what decided it (for the report).
    ``username`` and ``password`` (the settings' own) win over those in the URL.

    Raises InvalidSettings for a URL that does not parse.
    """
    if proxy is None or proxy.strip().lower() in ("", "none"):
        return None, ""
    if proxy.strip().lower() == ENV:
        url, why = from_environment(tls, host, port, environ, no_proxy)
        if url is None:
            return None, f"--proxy env: {why}: connecting directly"
        source = why
    else:
        url = parse_proxy(proxy)
        match = bypassed(host, port, no_proxy)
        if match is not None:
            return None, f"no_proxy matches {host} ({match!r}): connecting directly"
    user = username if username is not None else url.username
    secret = password if password is not None else url.password
    return Route(url, user, secret, source), ""


# ---------------------------------------------------------------------------- handshakes


class Tunnel:
    """A proxy handshake, sans I/O: ``data_to_send()`` is what goes to the proxy now,
    ``receive(raw)`` takes what it sent (b"": it closed) and returns True once the tunnel
    is open; it raises ProxyError. ``protocol`` names the handshake, ``target`` the
    broker asked for."""

    protocol = ""

    def __init__(self, host: str, port: int, proxy: str) -> None:
        self.host = host
        self.port = port
        self.target = _netloc(host, port)
        #: The proxy as shown in messages (no password).
        self.proxy = proxy
        self._out = bytearray()
        self._in = bytearray()
        self._offset = 0  # bytes of the proxy's consumed before _in
        self.done = False

    def data_to_send(self) -> bytes:
        out = bytes(self._out)
        self._out.clear()
        return out

    def receive(self, raw: bytes) -> bool:
        if self.done:
            raise RuntimeError("receive() after the tunnel opened")
        if not raw:
            self._closed()
        self._in += raw
        self.done = self._step()
        if self.done and self._in:
            # MQTT, TLS and the WebSocket upgrade all begin with the client: a broker
            # says nothing before we do, so these bytes are the proxy's.
            raise self._error(
                "malformed",
                f"expected nothing after the proxy's answer until we send, got "
                f"{len(self._in):,} more bytes",
                offset=self._offset,
            )
        return self.done

    def broken(self, exc: OSError) -> ProxyError:
        """Our error for the connection to the proxy failing during the handshake."""
        got = self._offset + len(self._in)
        when = "before its answer" if not got else f"after {got:,} bytes of its answer"
        if isinstance(exc, (ConnectionResetError, BrokenPipeError)):
            return self._error("closed", f"the proxy reset the connection {when}")
        return self._error(
            "closed", f"the connection to the proxy failed {when}: {exc.strerror or exc}"
        )

    def _step(self) -> bool:
        raise NotImplementedError

    def _closed(self) -> None:
        got = self._offset + len(self._in)
        what = "without an answer" if not got else f"after {got:,} bytes of its answer"
        raise self._error("closed", f"the proxy closed the connection {what}")

    def _take(self, size: int) -> bytes | None:
        """The next ``size`` bytes of the answer, or None until they are all there."""
        if len(self._in) < size:
            return None
        data = bytes(self._in[:size])
        del self._in[:size]
        self._offset += size
        return data

    def _error(
        self, fault: str, reason: str, status: int = 0, offset: int | None = None
    ) -> ProxyError:
        return ProxyError(
            PhaseName.PROXY_TUNNEL,
            f"{self.protocol} to {self.target} through {self.proxy}: {reason}",
            fault,
            protocol=self.protocol,
            status=status,
            offset=offset,
            proxy=self.proxy,
            target=self.target,
        )

    def _other(self, first: bytes, expected: str) -> ProxyError:
        """The error for a first byte that is not the protocol's: what it looks like."""
        if first[:1] == b"H":
            kind, said = "http", "an HTTP answer: this is an HTTP proxy or server (try http://)"
        elif first[:1] in (b"\x15", b"\x16"):
            kind, said = "tls", "a TLS record: this port speaks TLS, not a proxy protocol"
        elif first[:1] == b"\x05":
            kind, said = "socks5", "a SOCKS5 answer: this is a SOCKS5 proxy (try socks5h://)"
        elif first[:1] == b"\x00":
            kind, said = "socks4", "a SOCKS4 answer: this is a SOCKS4 proxy (try socks4a://)"
        else:
            kind, said = "", "bytes of no proxy protocol"
        error = self._error(
            "not-a-proxy", f"expected {expected}, got 0x{first[0]:02x}: {said}", offset=0
        )
        error.answer = kind
        return error


class HttpConnect(Tunnel):
    """HTTP CONNECT (RFC 9110 §9.3.6), with Basic proxy authentication (RFC 7617) sent
    at once when credentials are given, as clients do for Basic."""

    protocol = "HTTP CONNECT"

    def __init__(
        self, host: str, port: int, proxy: str, credentials: tuple[str, str] | None = None
    ) -> None:
        super().__init__(host, port, proxy)
        self.credentials = credentials is not None
        lines = [f"CONNECT {self.target} HTTP/1.1", f"Host: {self.target}"]
        if credentials is not None:
            token = f"{credentials[0]}:{credentials[1]}".encode("utf-8", "surrogateescape")
            lines.append(f"Proxy-Authorization: Basic {base64.b64encode(token).decode()}")
        lines.append("User-Agent: pco_wire")
        self._out += ("\r\n".join(lines) + "\r\n\r\n").encode("ascii")
        self._scanned = 0  # bytes of _in already looked through for the header's end
        #: The answer's status code, reason phrase and fields (names lowercase).
        self.status = 0
        self.reason = ""
        self.fields: dict[str, str] = {}

    def _step(self) -> bool:
        while True:
            data = bytes(self._in)
            if data[:5] != b"HTTP/"[: len(data[:5])]:
                raise self._other(data, "an HTTP answer ('HTTP/1.1 200')")
            # From where the last look stopped (less the 3 bytes a split end may have
            # left), so that an answer trickled a byte at a time is not scanned anew.
            start_at = max(0, self._scanned - 3)
            self._scanned = len(data)
            ends = [
                (found, found + len(mark))
                # Bare LF line ends too, as lenient servers send them.
                for mark in (b"\r\n\r\n", b"\n\n")
                if (found := data.find(mark, start_at)) >= 0
            ]
            end, size = min(ends) if ends else (-1, 0)
            if end < 0:
                if len(data) > MAX_HTTP_HEADER:
                    raise self._error(
                        "malformed",
                        f"expected the end of the answer's header within "
                        f"{MAX_HTTP_HEADER:,} bytes, got none",
                        offset=self._offset + MAX_HTTP_HEADER,
                    )
                return False
            if end > MAX_HTTP_HEADER:
                raise self._error(
                    "malformed",
                    f"expected an answer header of at most {MAX_HTTP_HEADER:,} bytes, got {end:,}",
                    offset=self._offset + MAX_HTTP_HEADER,
                )
            start = self._offset
            self._scanned = 0
            head = self._take(size)
            assert head is not None
            self._parse(head[:end], start)
            if 100 <= self.status < 200:
                continue  # an interim answer (RFC 9110 §15.2); the final one follows
            return self._verdict()

    def _parse(self, head: bytes, start: int) -> None:
        lines = head.replace(b"\r\n", b"\n").split(b"\n")
        status_line = lines[0]
        parts = status_line.split(b" ", 2)
        version = parts[0]
        if (
            len(parts) < 2
            or version not in (b"HTTP/1.0", b"HTTP/1.1")
            or not (len(parts[1]) == 3 and parts[1].isdigit())
        ):
            raise self._error(
                "malformed",
                f"expected a status line such as 'HTTP/1.1 200 OK', got "
                f"{printable(status_line, 80)!r}",
                offset=start,
            )
        self.status = int(parts[1])
        self.reason = printable(parts[2], 80) if len(parts) > 2 else ""
        self.fields = {}
        for line in lines[1:]:
            name, colon, value = line.partition(b":")
            if not colon or not name.strip():
                raise self._error(
                    "malformed",
                    f"expected header fields 'Name: value', got {printable(line, 80)!r}",
                    offset=start,
                )
            key = name.strip().decode("latin-1").lower()
            self.fields[key] = value.strip().decode("latin-1")

    def _verdict(self) -> bool:
        status = self.status
        said = f"HTTP {status} {self.reason}".rstrip()
        if 200 <= status < 300:
            length = self.fields.get("content-length", "0").strip()
            if "transfer-encoding" in self.fields or length not in ("", "0"):
                # RFC 9110 §9.3.6: a proxy's 2xx to CONNECT has no content. A web
                # server that ignores the method answers as to a GET, with a body.
                raise self._error(
                    "not-a-proxy",
                    f"the answer {said} carries a body, as a web server's does, not a "
                    "proxy's (RFC 9110 §9.3.6): is this port an HTTP proxy?",
                    status,
                )
            return True
        if status == 407:
            scheme = self.fields.get("proxy-authenticate", "").split(" ", 1)[0]
            asked = f" (it asks for {printable(scheme, 40)})" if scheme else ""
            if self.credentials:
                raise self._error(
                    "auth-rejected",
                    f"{said}: the proxy refused the user name or password{asked}",
                    status,
                )
            raise self._error(
                "auth-required", f"{said}: the proxy wants a user name and password{asked}", status
            )
        if status in (502, 503, 504):
            raise self._error(
                "unreachable", f"{said}: the proxy could not reach {self.target}", status
            )
        if status == 403:
            raise self._error(
                "forbidden", f"{said}: the proxy's rules forbid a tunnel to {self.target}", status
            )
        if status in (400, 404, 405, 501):
            raise self._error(
                "not-a-proxy",
                f"{said}: the server does not take CONNECT (a web server, not a proxy, or a "
                "proxy that allows no tunnels)",
                status,
            )
        raise self._error("refused", f"{said}", status)


# RFC 1928 §6 replies.
SOCKS5_REPLIES = {
    0x01: "general SOCKS server failure",
    0x02: "connection not allowed by ruleset",
    0x03: "network unreachable",
    0x04: "host unreachable",
    0x05: "connection refused",
    0x06: "TTL expired",
    0x07: "command not supported",
    0x08: "address type not supported",
}
_SOCKS5_FAULTS = {0x02: "forbidden", 0x03: "unreachable", 0x04: "unreachable", 0x05: "unreachable"}
_SOCKS5_FAULTS[0x06] = "unreachable"


def _address(host: str) -> tuple[int, bytes] | None:
    """The SOCKS5 address type and bytes of an IP literal, None for a name."""
    import socket

    if _valid_ipv4(host):
        return 0x01, socket.inet_aton(host)
    bare = host.partition("%")[0]
    if _valid_ipv6(bare):
        return 0x04, socket.inet_pton(socket.AF_INET6, bare)
    return None


class Socks5(Tunnel):
    """SOCKS5 (RFC 1928) CONNECT, with user name and password (RFC 1929) when given.
    ``host`` is sent as a name unless it is an address (a caller that resolves locally
    passes the address)."""

    protocol = "SOCKS5"

    def __init__(
        self, host: str, port: int, proxy: str, credentials: tuple[str, str] | None = None
    ) -> None:
        super().__init__(host, port, proxy)
        self.credentials = credentials
        address = _address(host)
        if address is None:
            name = host.rstrip(".").encode("idna") if not host.isascii() else host.encode()
            if not 1 <= len(name) <= 255:
                raise InvalidSettings(
                    [
                        (
                            "server_uri",
                            f"expected a name of at most 255 bytes for SOCKS5, got {len(name):,}",
                        )
                    ]
                )
            address = (0x03, bytes([len(name)]) + name)
        self._request = bytes([5, 1, 0, address[0]]) + address[1] + port.to_bytes(2, "big")
        methods = b"\x00\x02" if credentials is not None else b"\x00"
        self._out += bytes([5, len(methods)]) + methods
        self._state = "method"

    def _step(self) -> bool:
        while True:
            if self._state == "method":
                reply = self._take(2)
                if reply is None:
                    return False
                if reply[0] != 5:
                    raise self._other(reply, "SOCKS version 5 (0x05) in its method choice")
                if reply[1] == 0x02 and self.credentials is not None:
                    user, password = (
                        part.encode("utf-8", "surrogateescape") for part in self.credentials
                    )
                    self._out += bytes([1, len(user)]) + user + bytes([len(password)]) + password
                    self._state = "auth"
                    continue
                if reply[1] == 0x00:
                    self._out += self._request
                    self._state = "reply"
                    continue
                if reply[1] == 0xFF:
                    if self.credentials is None:
                        raise self._error(
                            "auth-required",
                            "the proxy accepts none of the methods offered (no "
                            "authentication): it wants a user name and password",
                            0xFF,
                        )
                    raise self._error(
                        "auth-rejected",
                        "the proxy accepts none of the methods offered (none, user name "
                        "and password)",
                        0xFF,
                    )
                raise self._error(
                    "malformed",
                    f"expected method 0x00 or 0x02 as offered, got 0x{reply[1]:02x}",
                    offset=1,
                )
            if self._state == "auth":
                reply = self._take(2)
                if reply is None:
                    return False
                # RFC 1929 §2: version 0x01; some servers answer 0x05, as in the rest.
                if reply[0] not in (1, 5):
                    raise self._error(
                        "malformed",
                        f"expected version 0x01 of the user name and password answer "
                        f"(RFC 1929), got 0x{reply[0]:02x}",
                        offset=self._offset - 2,
                    )
                if reply[1] != 0:
                    raise self._error(
                        "auth-rejected",
                        f"the proxy refused the user name or password (status 0x{reply[1]:02x})",
                        reply[1],
                    )
                self._out += self._request
                self._state = "reply"
                continue
            return self._reply()

    def _reply(self) -> bool:
        # Each byte is judged as soon as it is there: a refusal needs no address after it.
        head = bytes(self._in[:5])
        base = self._offset
        if len(head) >= 1 and head[0] != 5:
            raise self._error(
                "malformed",
                f"expected SOCKS version 5 (0x05) in the reply, got 0x{head[0]:02x}",
                offset=base,
            )
        if len(head) >= 2 and head[1] != 0:
            code = head[1]
            meaning = SOCKS5_REPLIES.get(code, "a code RFC 1928 does not define")
            fault = _SOCKS5_FAULTS.get(code, "refused")
            where = f" to {self.target}" if fault == "unreachable" else ""
            raise self._error(fault, f"the proxy answered 0x{code:02x}: {meaning}{where}", code)
        if len(head) >= 3 and head[2] != 0:
            raise self._error(
                "malformed",
                f"expected the reserved byte 0x00, got 0x{head[2]:02x}",
                offset=base + 2,
            )
        sizes = {0x01: 4, 0x04: 16}
        if len(head) >= 4 and head[3] not in (0x01, 0x03, 0x04):
            raise self._error(
                "malformed",
                f"expected address type 0x01, 0x03 or 0x04, got 0x{head[3]:02x}",
                offset=base + 3,
            )
        if len(head) < 5:
            return False
        size = 1 + head[4] if head[3] == 0x03 else sizes[head[3]]
        return self._take(4 + size + 2) is not None


class Socks4(Tunnel):
    """SOCKS4 CONNECT to an IPv4 address, or SOCKS4a (a name for the proxy to resolve):
    ``host`` is an IPv4 address or, with ``socks4a``, a name. ``user`` is the USERID
    field (SOCKS4 has no password)."""

    protocol = "SOCKS4"

    def __init__(
        self, host: str, port: int, proxy: str, user: str = "", socks4a: bool = False
    ) -> None:
        super().__init__(host, port, proxy)
        self.protocol = "SOCKS4a" if socks4a else "SOCKS4"
        user_bytes = user.encode("utf-8", "surrogateescape") + b"\x00"
        import socket

        if _valid_ipv4(host):
            request = socket.inet_aton(host) + user_bytes
        elif socks4a and _address(host) is None:
            # SOCKS4a: address 0.0.0.x (x not 0), then the name after the user ID.
            request = b"\x00\x00\x00\x01" + user_bytes + host.encode("idna") + b"\x00"
        else:
            raise InvalidSettings(
                [("proxy", f"expected an IPv4 broker address for {self.protocol}, got {host!r}")]
            )
        self._out += b"\x04\x01" + port.to_bytes(2, "big") + request

    def _step(self) -> bool:
        reply = self._take(8)
        if reply is None:
            if self._in and self._in[0] != 0:
                raise self._other(bytes(self._in), "a SOCKS4 reply (0x00)")
            return False
        if reply[0] != 0:
            raise self._other(reply, "a SOCKS4 reply (0x00)")
        code = reply[1]
        if code == 0x5A:
            return True
        meanings = {
            0x5B: (
                "refused",
                "request rejected or failed (the proxy's rules, or it could not reach the server)",
            ),
            0x5C: ("auth-required", "rejected: the proxy cannot reach our identd"),
            0x5D: ("auth-rejected", "rejected: identd's user ID differs from ours"),
        }
        fault, meaning = meanings.get(code, ("malformed", "a code SOCKS4 does not define"))
        raise self._error(
            fault,
            f"the proxy answered 0x{code:02x}: {meaning}",
            code,
            offset=1 if fault == "malformed" else None,
        )


def tunnel(route: Route, host: str, port: int) -> Tunnel:
    """The handshake ``route`` needs to reach ``host:port`` (an address when the route
    resolves here)."""
    url = route.url
    shown = str(url.netloc)
    credentials = (route.username, route.password or "") if route.username is not None else None
    if url.scheme == "http":
        return HttpConnect(host, port, shown, credentials)
    if url.scheme in ("socks5", "socks5h"):
        return Socks5(host, port, shown, credentials)
    return Socks4(host, port, shown, route.username or "", socks4a=url.scheme == "socks4a")
