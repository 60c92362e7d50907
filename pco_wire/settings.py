"""Connection settings in the product's vocabulary, and their validation.

One ``Settings`` object holds everything of the Client and Security tabs; it feeds
``test_connection``, the blocking ``Client`` and the CLI. ``validate()`` reports every bad
field at once, before any network traffic. Secrets (password, key password) never appear
in a repr or a message.
"""

from __future__ import annotations

import os

from ._files import PEM_LIMIT, SECRET_LIMIT, file_problem, read_bounded
from ._record import Record
from .auth import Authenticator
from .codec import DEFAULT_MAX_PACKET_SIZE
from .errors import InvalidSettings
from .fields import (
    FIELDS,
    MQTT5_PROTOCOLS,
    PROTOCOL_NAMES,
    TLS_VERSIONS,
    U16_MAX,
    U32_MAX,
    of_record,
    parse_header,
    type_problem,
)
from .packets import EMPTY_CONNECT_PROPERTIES, Connect, ConnectProperties, Will
from .reconnect import DEFAULT_MAX_DELAY, DEFAULT_MIN_DELAY
from .session import DEFAULT_RESPONSE_TIMEOUT
from .uri import ServerURI, _kind, _shown, host_problem, parse_uri, shown_user

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Sequence
    from typing import Any

__all__ = [
    "PROTOCOLS",
    "TLS_VERSIONS",
    "Security",
    "Settings",
    "WillSettings",
    "check_client_id",
    "generate_client_id",
    "parse_header",
]

#: Protocol names and the CONNECT protocol level each starts with. "auto" starts with 5
#: and, each time the server refuses the version (MQTT 5.0 reason 0x84, MQTT 3.1.1 return
#: code 1), tries the next older once: 3.1.1, then 3.1 (the supervisor's fallback).
PROTOCOLS = {"3.1.1": 4, "3.1": 3, "5": 5, "auto": 5}
CLIENT_ID_RULE = "1 to 23 characters, only 0-9, a-z and A-Z"
_ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
_ID_CHARS = frozenset(_ALPHABET)
# Headers the WebSocket handshake sets itself (RFC 6455 §4.1): a second one breaks it.
_HANDSHAKE_HEADERS = frozenset({"host", "upgrade", "connection"})
# RFC 9110 §5.6.2: a header name is a token.
_TOKEN_CHARS = frozenset("!#$%&'*+-.^_`|~" + _ALPHABET)
_GENERATED_PREFIX = "pw"


def check_client_id(client_id: str) -> str | None:
    """The reason ``client_id`` breaks the product's rule, or None when it is valid."""
    # Plain set checks, not a regular expression: ``re`` costs a millisecond at start-up.
    if 1 <= len(client_id) <= 23 and _ID_CHARS.issuperset(client_id):
        return None
    if not client_id:
        return f"expected {CLIENT_ID_RULE}, got an empty ID"
    if len(client_id) > 23:
        return f"expected {CLIENT_ID_RULE}, got {len(client_id)} characters"
    bad = next(c for c in client_id if c not in _ID_CHARS)
    return f"expected {CLIENT_ID_RULE}, got {bad!r} at position {client_id.index(bad) + 1}"


def generate_client_id() -> str:
    """A fresh valid client ID: "pw" and 21 characters from the operating system's random
    source, 125 bits, so two gateways never draw the same one."""
    chars: list[str] = []
    while len(chars) < 21:
        # Bytes of 248 and more are dropped so that each of the 62 characters is equally
        # likely (248 = 4 * 62).
        chars += (_ALPHABET[b % 62] for b in os.urandom(32) if b < 248)
    return _GENERATED_PREFIX + "".join(chars[:21])


class WillSettings(Record):
    """The message the server publishes when the client vanishes (online/offline)."""

    __slots__ = ("topic", "message", "qos", "retain")
    _fields = __slots__

    def __init__(self, topic: str, message: str = "", qos: int = 0, retain: bool = False) -> None:
        self.topic = topic
        self.message = message
        self.qos = qos
        self.retain = retain

    def __repr__(self) -> str:
        shown = (f"{name}={_shown_value(getattr(self, name))}" for name in self._fields)
        return f"WillSettings({', '.join(shown)})"


class Security(Record):
    """TLS settings, for mqtts:// and wss:// only.

    ``cafile`` is a PEM file (a bundle with intermediates works) or a directory of
    hashed certificates; None means the system's trust store. ``keyfile_password`` and
    its ``_env``/``_file`` variants unlock an encrypted key. ``insecure`` verifies no
    certificate at all; ``verify_hostname`` False accepts a trusted one for any name.
    """

    __slots__ = (
        "cafile",
        "certfile",
        "keyfile",
        "keyfile_password",
        "keyfile_password_env",
        "keyfile_password_file",
        "verify_hostname",
        "insecure",
        "server_name",
        "alpn",
        "tls_min_version",
    )
    _fields = __slots__
    _hidden = frozenset({"keyfile_password"})

    def __init__(
        self,
        cafile: str | None = None,
        certfile: str | None = None,
        keyfile: str | None = None,
        keyfile_password: str | None = None,
        keyfile_password_env: str | None = None,
        keyfile_password_file: str | None = None,
        verify_hostname: bool = True,
        insecure: bool = False,
        server_name: str | None = None,
        alpn: tuple[str, ...] = (),
        tls_min_version: str = "1.2",
    ) -> None:
        self.cafile = cafile
        self.certfile = certfile
        self.keyfile = keyfile
        self.keyfile_password = keyfile_password
        self.keyfile_password_env = keyfile_password_env
        self.keyfile_password_file = keyfile_password_file
        self.verify_hostname = verify_hostname
        self.insecure = insecure
        self.server_name = server_name
        self.alpn = alpn
        self.tls_min_version = tls_min_version

    def given(self) -> list[str]:
        """The names of the settings that differ from their defaults."""
        return [
            name
            for name, value in zip(self._fields, self._values(), strict=True)
            if value != _DEFAULT_SECURITY[name]
        ]

    def __repr__(self) -> str:
        shown = (f"{name}={_shown_field(name, getattr(self, name))}" for name in self.given())
        return f"Security({', '.join(shown)})"


_DEFAULT_SECURITY = {field.attr: field.default for field in of_record("security")}


class Settings(Record):
    """Everything needed to connect. Defaults are the product's.

    ``password`` is text sent as UTF-8; instead of it, ``password_env`` names an
    environment variable and ``password_file`` a file (one trailing newline stripped).
    ``response_timeout`` in float seconds bounds every phase and every answer;
    ``keep_alive`` in whole seconds, 0 for no PINGREQ at all. The repr shows what differs
    from the defaults, never a secret.
    """

    __slots__ = (
        "server_uri",
        "servers",
        "client_id",
        "username",
        "password",
        "password_env",
        "password_file",
        "response_timeout",
        "keep_alive",
        "clean_session",
        "protocol",
        "will",
        "security",
        "ws_headers",
        "reconnect",
        "reconnect_min_delay",
        "reconnect_max_delay",
        "max_packet_size",
        "session_expiry",
        "receive_maximum",
        "user_properties",
        "request_problem_information",
        "auth_method",
        "auth_data_file",
        "follow_redirects",
        "authenticator",
        "server_assigns_id",
        "proxy",
        "proxy_username",
        "proxy_password",
        "proxy_password_env",
        "proxy_password_file",
        "no_proxy",
    )
    _fields = tuple(name for name in __slots__ if name != "servers")
    _hidden = frozenset({"password", "proxy_password"})

    def __init__(
        self,
        server_uri: str | Sequence[str],
        client_id: str = "",
        username: str | None = None,
        password: str | None = None,
        password_env: str | None = None,
        password_file: str | None = None,
        response_timeout: float = DEFAULT_RESPONSE_TIMEOUT,
        keep_alive: int = 60,
        clean_session: bool = True,
        protocol: str = "3.1.1",
        will: WillSettings | None = None,
        security: Security | None = None,
        ws_headers: tuple[tuple[str, str], ...] = (),
        reconnect: bool = True,
        reconnect_min_delay: float = DEFAULT_MIN_DELAY,
        reconnect_max_delay: float = DEFAULT_MAX_DELAY,
        max_packet_size: int = DEFAULT_MAX_PACKET_SIZE,
        session_expiry: int = 0,
        receive_maximum: int | None = None,
        user_properties: tuple[tuple[str, str], ...] = (),
        request_problem_information: bool = True,
        auth_method: str | None = None,
        auth_data_file: str | None = None,
        follow_redirects: bool = False,
        authenticator: Authenticator | None = None,
        server_assigns_id: bool = False,
        proxy: str | None = None,
        proxy_username: str | None = None,
        proxy_password: str | None = None,
        proxy_password_env: str | None = None,
        proxy_password_file: str | None = None,
        no_proxy: tuple[str, ...] = (),
    ) -> None:
        # Several servers (failover): a list or tuple of URIs, tried in order by the
        # clients (see supervisor.py). ``server_uri`` is the first, what a single-server
        # reader (a TLS check, the wizard's questions, bench) sees; ``servers`` all of them.
        self.server_uri: str
        self.servers: tuple[str, ...]
        if isinstance(server_uri, (list, tuple)):
            self.servers = tuple(server_uri)
            first = self.servers[0] if self.servers else ""
            self.server_uri = first if isinstance(first, str) else ""
        else:
            # Anything else is kept as it is, for problems() to name.
            self.server_uri = server_uri  # type: ignore[assignment]
            self.servers = (self.server_uri,)
        self.client_id = client_id
        self.username = username
        self.password = password
        self.password_env = password_env
        self.password_file = password_file
        self.response_timeout = response_timeout
        self.keep_alive = keep_alive
        self.clean_session = clean_session
        self.protocol = protocol
        self.will = will
        self.security = Security() if security is None else security
        self.ws_headers = ws_headers
        #: For the long-running client and monitor: connect again after a loss, with
        #: exponential backoff between the two delays (seconds); see reconnect.py.
        self.reconnect = reconnect
        self.reconnect_min_delay = reconnect_min_delay
        self.reconnect_max_delay = reconnect_max_delay
        #: The largest packet accepted from the server, fixed header included; checked
        #: as soon as a header announces a size, before anything is buffered. MQTT 5.0
        #: sends it in CONNECT (Maximum Packet Size, §3.1.2.11.4).
        self.max_packet_size = max_packet_size
        # MQTT 5.0 only (protocol "5", or "auto" while it connects in 5.0); another value
        # than the default with "3.1.1" or "3.1" is a problem. See connect_packet().
        #: Seconds the server keeps the session after the connection ends (§3.1.2.11.2).
        self.session_expiry = session_expiry
        #: QoS 1 and 2 messages the server may have in flight to us; None: not sent.
        self.receive_maximum = receive_maximum
        #: (name, value) pairs sent with CONNECT, in order; a name may repeat.
        self.user_properties = user_properties
        #: False: reason strings and user properties only in CONNACK and DISCONNECT.
        self.request_problem_information = request_problem_information
        #: Enhanced authentication (§4.12): the method, and a file with the data of
        #: CONNECT; together an ``Authenticator(auth_method, data)``.
        self.auth_method = auth_method
        self.auth_data_file = auth_data_file
        #: On a refusal or DISCONNECT 0x9C/0x9D naming a Server Reference, connect there.
        self.follow_redirects = follow_redirects
        #: The library's own: an Authenticator (one with ``step`` for a challenge), in
        #: place of auth_method and auth_data_file.
        self.authenticator = authenticator
        #: Protocol "5" only: send an empty client ID and take the one the server
        #: assigns (Assigned Client Identifier, §3.2.2.3.7).
        self.server_assigns_id = server_assigns_id
        #: A proxy URL, "env" (the environment's variables) or None/"none" (direct);
        #: the user name and password for it (these win over the URL's); the hosts
        #: reached directly (see proxy.bypassed). See proxy.py.
        self.proxy = proxy
        self.proxy_username = proxy_username
        self.proxy_password = proxy_password
        self.proxy_password_env = proxy_password_env
        self.proxy_password_file = proxy_password_file
        self.no_proxy = no_proxy

    def _values(self) -> tuple[Any, ...]:
        # A list of servers is the value of server_uri: kept by replace() (unless it
        # changes server_uri), compared by ==; one server is its URI, as ever.
        values = super()._values()
        if len(self.servers) != 1:
            return (self.servers, *values[1:])
        return values

    def for_server(self, uri: str) -> Settings:
        """These settings for one server of the list (or any other URI)."""
        return self.replace(server_uri=uri)

    def __repr__(self) -> str:
        # Never raises and never shows a secret, whatever the fields hold: a repr is made
        # before the settings are checked (logs, tracebacks, the debugger).
        defaults = Settings("")
        parts = [f"server_uri={_shown_uri(self._values()[0])}"]
        for name, value in zip(self._fields[1:], self._values()[1:], strict=True):
            default = getattr(defaults, name)
            if type(value) is type(default) and value == default:
                continue
            if name == "ws_headers" and _type_problem("pairs", value) is None:
                # Header values may be credentials (Authorization): names only.
                value = tuple(header for header, _ in value)
            parts.append(f"{name}={_shown_field(name, value)}")
        return f"Settings({', '.join(parts)})"

    # --------------------------------------------------------------- validation

    def problems(self, *, identity_kept: bool = False) -> list[tuple[str, str]]:
        """Every (field, reason) this configuration breaks; empty when it is valid.

        Everything the CONNECT encoder or the session would refuse later is found here,
        with the field named, for any value of any field: this never raises for what a
        user can give. ``identity_kept``: a blank client ID will be generated and kept
        (a settings file, ``config.keep_client_id``), so that clean session off does not
        need one given; without it, a generated ID would be new on every run.
        """
        servers = self.servers
        if len(servers) != 1:
            return self._list_problems(identity_kept)
        out: list[tuple[str, str]] = []
        uri: ServerURI | None = None
        try:
            uri = parse_uri(self.server_uri)
        except InvalidSettings as exc:
            out += exc.problems
        bad = _types(self, _SETTINGS_KINDS, "", out)
        will = self.will if "will" not in bad else None
        sec = self.security if "security" not in bad else None
        if will is not None:
            bad |= _types(will, _WILL_KINDS, "will.", out)
        if sec is not None:
            bad |= _types(sec, _SECURITY_KINDS, "security.", out)
        if uri is not None:
            if uri.username is not None:
                out += _text_problems(uri.username, "server_uri", "the user name")
            if uri.password is not None:
                out += _binary_problems(uri.password, "server_uri", "the password")
        if "client_id" in bad:
            pass
        elif self.client_id:
            reason = check_client_id(self.client_id)
            if reason:
                out.append(("client_id", reason))
        elif "clean_session" not in bad and not self.clean_session and not identity_kept:
            # MQTT 3.1.1 §3.1.3.1 allows a blank ID only with clean session; ours would be
            # generated anew on the next run. With a settings file it is kept there.
            out.append(
                (
                    "client_id",
                    "expected a client ID with clean session off: a generated ID would "
                    "leave an orphan session on the server",
                )
            )
        if "protocol" not in bad and self.protocol not in PROTOCOLS:
            out.append(
                (
                    "protocol",
                    f"expected {', '.join(PROTOCOL_NAMES[:-1])} or auto, "
                    f"got {_shown_value(self.protocol)}",
                )
            )
        delays_ok = True
        for name in ("reconnect_min_delay", "reconnect_max_delay"):
            value = getattr(self, name)
            # A floor of 0.1 s: a reconnection loop must never come close to spinning.
            if not _number(value) or not 0.1 <= value < 1e6:
                out.append((name, f"expected seconds 0.1..1e6, got {_shown_value(value)}"))
                delays_ok = False
        if delays_ok and self.reconnect_min_delay > self.reconnect_max_delay:
            out.append(
                (
                    "reconnect_max_delay",
                    f"expected at least reconnect_min_delay ({self.reconnect_min_delay:g}), "
                    f"got {self.reconnect_max_delay:g}",
                )
            )
        size = self.max_packet_size
        # At least a CONNACK (4 bytes; 5 in MQTT 5.0, with its property length): a smaller
        # limit refuses every server's answer.
        least, why = (
            (5, " in MQTT 5.0 (its smallest CONNACK)")
            if self.protocol in ("5", "auto")
            else (4, "")
        )
        if not _number(size, whole=True) or not least <= size <= 268_435_460:
            out.append(
                (
                    "max_packet_size",
                    f"expected bytes {least}..268,435,460{why}, got {_shown_value(size)}",
                )
            )
        timeout = self.response_timeout
        if not _number(timeout) or not 0 < timeout < 1e6:
            out.append(
                (
                    "response_timeout",
                    f"expected a positive number of seconds, got {_shown_value(timeout)}",
                )
            )
        keep_alive = self.keep_alive
        if not _number(keep_alive, whole=True) or not 0 <= keep_alive <= 65535:
            out.append(
                (
                    "keep_alive",
                    "expected whole seconds 0..65535 (0: no PINGREQ), got "
                    f"{_shown_value(keep_alive)}",
                )
            )
        if bad.isdisjoint({"password", "password_env", "password_file"}):
            out += _secret_problems(
                self.password, self.password_env, self.password_file, "password"
            )
        if "password" not in bad and self.password is not None:
            out += _binary_problems(self.password, "password")
        if "username" not in bad and self.username is not None:
            out += _text_problems(self.username, "username")
        has_password = (self.password, self.password_env, self.password_file) != (None,) * 3
        # A URI that does not parse may still carry a user; without an "@" it cannot.
        uri_user = (
            uri.username
            if uri is not None
            else (isinstance(self.server_uri, str) and "@" in self.server_uri) or None
        )
        if has_password and self.username is None and uri_user is None:
            out.append(("username", "expected a user name with a password (MQTT 3.1.1 §3.1.2.9)"))
        if will is not None:
            out += _will_problems(will, bad)
        if sec is not None:
            out += _security_problems(sec, uri, bad)
        if "ws_headers" not in bad:
            out += self._header_problems(uri)
        out += self._mqtt5_problems(bad)
        out += self._proxy_problems(bad, uri)
        return out

    def _proxy_problems(self, bad: set[str], uri: ServerURI | None) -> list[tuple[str, str]]:
        """The proxy URL, its credentials (SOCKS carries at most 255 bytes of each, RFC
        1929; SOCKS4 no password) and the no_proxy patterns."""
        from .proxy import ENV, parse_proxy, pattern_problem

        out: list[tuple[str, str]] = []
        names = ("proxy_password", "proxy_password_env", "proxy_password_file")
        if bad.isdisjoint(names):
            out += _secret_problems(
                self.proxy_password,
                self.proxy_password_env,
                self.proxy_password_file,
                "proxy_password",
            )
        if "proxy_username" not in bad and self.proxy_username is not None:
            out += _text_problems(self.proxy_username, "proxy_username")
        if "no_proxy" not in bad:
            for pattern in self.no_proxy:
                if not pattern.strip() or any(c.isspace() or c == "," for c in pattern.strip()):
                    why: str | None = "expected one host pattern per item"
                else:
                    why = pattern_problem(pattern)
                if why is not None:
                    out.append(("no_proxy", f"{why}, got {_shown_value(pattern)}"))
        if "proxy" in bad:
            return out
        if self.proxy is None:
            given = [
                name
                for name in ("proxy_username", *names)
                if name not in bad and getattr(self, name) is not None
            ] + (["no_proxy"] if self.no_proxy and "no_proxy" not in bad else [])
            if given:
                out.append(
                    (
                        "proxy",
                        f"expected a proxy URL for {', '.join(given)} (without one they "
                        "go nowhere; --proxy none says so on purpose)",
                    )
                )
            return out
        text = self.proxy.strip().lower()
        if text in ("", "none", ENV):
            return out
        try:
            url = parse_proxy(self.proxy)
        except InvalidSettings as exc:
            return out + exc.problems
        if out:
            return out
        user = self.proxy_username if self.proxy_username is not None else url.username
        secret = self._proxy_secret(url.password)
        if url.scheme.startswith("socks4"):
            if secret is not None:
                out.append(
                    ("proxy", f"expected no password with {url.scheme}:// (SOCKS4 has none)")
                )
            return out
        for what, value in (("user name", user), ("password", secret)):
            if url.scheme.startswith("socks5") and value is not None:
                size = len(value.encode("utf-8", "surrogateescape"))
                if not 1 <= size <= 255:
                    out.append(
                        (
                            "proxy_username" if what == "user name" else "proxy_password",
                            f"expected a {what} of 1..255 bytes for SOCKS5 (RFC 1929), "
                            f"got {size:,}",
                        )
                    )
        # HTTP Basic and RFC 1929 both carry a password only with a user name.
        if secret is not None and user is None:
            out.append(("proxy_username", "expected a user name with the proxy's password"))
        return out

    def _proxy_secret(self, from_url: str | None) -> str | None:
        secret = _read_secret(
            self.proxy_password,
            self.proxy_password_env,
            self.proxy_password_file,
            "proxy_password",
        )
        return from_url if secret is None else secret

    def proxy_route(self, uri: ServerURI, environ: dict[str, str] | None = None) -> tuple[Any, str]:
        """The proxy (a ``proxy.Route``) a connection to ``uri`` goes through, or None,
        and a note on the choice for the report ("" when there is none to make). Reads
        the environment (``environ``, default ``os.environ``) only for ``proxy = "env"``.

        Raises InvalidSettings for a proxy URL that does not parse, in a variable too.
        """
        from .proxy import choose

        if self.proxy is None:
            return None, ""
        route, note = choose(
            self.proxy,
            uri.tls,
            uri.host,
            uri.port,
            os.environ if environ is None else environ,
            username=self.proxy_username,
            no_proxy=self.no_proxy,
        )
        if route is not None:
            route.password = self._proxy_secret(route.password)
        return route, note

    def _mqtt5_problems(self, bad: set[str]) -> list[tuple[str, str]]:
        """The MQTT 5.0 settings: ranges, texts, the authentication's parts, and the
        protocol they need."""
        out: list[tuple[str, str]] = []
        expiry = self.session_expiry
        if not _number(expiry, whole=True) or not 0 <= expiry <= U32_MAX:
            out.append(
                (
                    "session_expiry",
                    f"expected whole seconds 0..{U32_MAX:,}, got {_shown_value(expiry)}",
                )
            )
            bad.add("session_expiry")
        receive = self.receive_maximum
        if receive is not None and (
            not _number(receive, whole=True) or not 1 <= receive <= U16_MAX
        ):
            out.append(
                (
                    "receive_maximum",
                    f"expected 1..{U16_MAX:,} or None (not sent), got {_shown_value(receive)}",
                )
            )
            bad.add("receive_maximum")
        if "user_properties" not in bad:
            for index, (name, value) in enumerate(self.user_properties, 1):
                if not name:
                    out.append(
                        ("user_properties", f"expected a name in user property {index}, got ''")
                    )
                out += _text_problems(name, "user_properties", f"the name of user property {index}")
                out += _text_problems(
                    value, "user_properties", f"the value of user property {index}"
                )
        method = self.auth_method
        if "auth_method" not in bad and method is not None:
            if not method:
                out.append(("auth_method", "expected the name of a method, got ''"))
            out += _text_problems(method, "auth_method")
        path = self.auth_data_file
        if "auth_data_file" not in bad and path is not None:
            if method is None and "auth_method" not in bad:
                out.append(
                    ("auth_data_file", "expected auth_method with it: the data is the method's")
                )
            out += _auth_data_problems(path)
        auth = self.authenticator
        if "authenticator" not in bad and auth is not None:
            given = [n for n in ("auth_method", "auth_data_file") if getattr(self, n) is not None]
            if given:
                out.append(
                    (
                        "authenticator",
                        f"expected either authenticator or {' and '.join(given)}, got both",
                    )
                )
            out += _authenticator_problems(auth)
        protocol = self.protocol
        if "server_assigns_id" not in bad and self.server_assigns_id:
            if "protocol" not in bad and protocol != "5":
                # "auto" may fall back to 3.1.1, where an empty ID is the client's own
                # promise of a clean session (MQTT 3.1.1 §3.1.3.1).
                out.append(
                    (
                        "server_assigns_id",
                        f"needs protocol 5 (not auto: 3.1.1 assigns no ID), got "
                        f"{_shown_value(protocol)}",
                    )
                )
            if "client_id" not in bad and self.client_id:
                out.append(
                    (
                        "server_assigns_id",
                        "expected no client_id when the server assigns one, got one",
                    )
                )
        if "protocol" not in bad and protocol in PROTOCOLS and protocol not in MQTT5_PROTOCOLS:
            for field in _MQTT5_FIELDS:
                value = getattr(self, field.attr)
                if field.name in bad or field.name == "server_assigns_id":
                    continue
                if type(value) is not type(field.default) or value != field.default:
                    out.append(
                        (
                            field.name,
                            f"needs protocol 5 or auto (an MQTT 5.0 setting), got {protocol}",
                        )
                    )
        return out

    def _header_problems(self, uri: ServerURI | None) -> list[tuple[str, str]]:
        out = []
        for name, value in self.ws_headers:
            if not name or not _TOKEN_CHARS.issuperset(name):
                out.append(("ws_headers", f"expected 'Name: value', got {_shown_value(name)}"))
            elif any(c in value for c in "\r\n\0") or _utf8_size(value) is None:
                # Never the value: it may be a credential (Authorization).
                out.append(
                    (
                        "ws_headers",
                        f"expected the value of {name!r} without CR, LF, NUL or bytes that "
                        "are not UTF-8",
                    )
                )
            elif value != value.strip():
                out.append(("ws_headers", f"expected no spaces around the value of {name!r}"))
            elif name.lower() in _HANDSHAKE_HEADERS or name.lower().startswith("sec-websocket-"):
                out.append(
                    (
                        "ws_headers",
                        f"expected a header the upgrade does not set itself, got {name!r}",
                    )
                )
        if self.ws_headers and uri is not None and not uri.websocket:
            out.append(("ws_headers", f"expected only with ws:// or wss://, got {uri.scheme}://"))
        return out

    def _list_problems(self, identity_kept: bool) -> list[tuple[str, str]]:
        """The problems of a list of servers: those of the settings with each server,
        once each, a URI's named by its place (``server_uri[1]``, from 0)."""
        if not self.servers:
            return [("server_uri", "expected at least one URI, got an empty list")]
        out: list[tuple[str, str]] = []
        for index, uri in enumerate(self.servers):
            for field, reason in self.for_server(uri).problems(identity_kept=identity_kept):
                if field == "server_uri":
                    field = f"server_uri[{index}]"
                if (field, reason) not in out:
                    out.append((field, reason))
        return out

    def check(self, *, identity_kept: bool = False) -> ServerURI:
        """Raises InvalidSettings listing every problem; returns the parsed URI. After it,
        every field has its documented type."""
        problems = self.problems(identity_kept=identity_kept)
        if problems:
            raise InvalidSettings(problems)
        return parse_uri(self.server_uri)

    # --------------------------------------------------------------- resolved values

    def resolved_password(self) -> bytes | None:
        """The password as bytes, from the setting, its variable, its file or the URI.

        Raises InvalidSettings when the variable or file has gone away.
        """
        text = _read_secret(self.password, self.password_env, self.password_file, "password")
        if text is None:
            text = parse_uri(self.server_uri).password
        # surrogateescape: bytes that are not UTF-8 (from a variable, a file, argv) are
        # sent as they are; an MQTT password is binary data (§3.1.3.5).
        return None if text is None else text.encode("utf-8", "surrogateescape")

    def resolved_username(self) -> str | None:
        return self.username if self.username is not None else parse_uri(self.server_uri).username

    def keyfile_password(self) -> str | None:
        sec = self.security
        return _read_secret(
            sec.keyfile_password,
            sec.keyfile_password_env,
            sec.keyfile_password_file,
            "security.keyfile_password",
        )

    def ws_subprotocol(self, protocol_level: int) -> str:
        """The WebSocket subprotocol of an MQTT version (MQTT 3.1.1 §6)."""
        return "mqttv3.1" if protocol_level == 3 else "mqtt"

    def authenticator_of(self) -> Authenticator | None:
        """The enhanced authentication (MQTT 5.0 §4.12): ``authenticator``, or one of
        ``auth_method`` with the data of ``auth_data_file`` (read now, one trailing
        newline stripped), or None.

        Raises InvalidSettings when the file has gone away or changed into one that
        cannot be read.
        """
        if self.authenticator is not None:
            return self.authenticator
        if self.auth_method is None:
            return None
        path = self.auth_data_file
        return Authenticator(self.auth_method, None if path is None else _read_auth_data(path))

    def connect_packet(self, client_id: str, protocol_level: int | None = None) -> Connect:
        """The CONNECT of these settings; ``protocol_level`` overrides the protocol's (the
        fallback of "auto"). At level 5 it carries the MQTT 5.0 settings as its
        properties; below, they are left out (those of "auto" after a fallback).

        Raises InvalidSettings when a password or authentication data file has gone.
        """
        will = None
        if self.will is not None:
            w = self.will
            will = Will(w.topic, w.message.encode("utf-8", "surrogateescape"), w.qos, w.retain)
        level = protocol_level or PROTOCOLS[self.protocol]
        properties = EMPTY_CONNECT_PROPERTIES if level != 5 else self._properties()
        return Connect(
            client_id,
            clean_session=self.clean_session,
            keep_alive=self.keep_alive,
            username=self.resolved_username(),
            password=self.resolved_password(),
            will=will,
            protocol_level=level,
            properties=properties,
        )

    def _properties(self) -> ConnectProperties:
        """The CONNECT properties (MQTT 5.0 §3.1.2.11) of these settings."""
        auth = self.authenticator_of()
        receive = self.receive_maximum
        return ConnectProperties(
            session_expiry_interval=self.session_expiry,
            # Absent is the specification's 65,535 (§3.1.2.11.3).
            receive_maximum=U16_MAX if receive is None else receive,
            maximum_packet_size=self.max_packet_size,
            request_problem_information=self.request_problem_information,
            user_properties=tuple((name, value) for name, value in self.user_properties),
            authentication_method=None if auth is None else auth.method,
            authentication_data=None if auth is None else auth.data,
        )


# ---------------------------------------------------------------------------- types

# The type of every field, from the table (fields.py): what problems() checks first, and
# what code after check() may rely on. server_uri is parse_uri's; numbers are checked with
# their ranges, in problems() itself.
_SETTINGS_KINDS = {
    **{field.attr: field.kind for field in of_record("")},
    "will": "will?",
    "security": "security",
}
_WILL_KINDS = {field.attr: field.kind for field in of_record("will")}
#: The MQTT 5.0 settings of ``Settings`` (see ``Field.since``).
_MQTT5_FIELDS = tuple(field for field in of_record("") if field.since == "5")

_SECURITY_KINDS = {field.attr: field.kind for field in of_record("security")}


def _types(
    record: Record, kinds: dict[str, str], prefix: str, out: list[tuple[str, str]]
) -> set[str]:
    """Appends the type problem of each field of ``record``; returns the fields at fault."""
    bad = set()
    for name, kind in kinds.items():
        reason = _type_problem(kind, getattr(record, name))
        if reason is not None:
            out.append((prefix + name, reason))
            bad.add(prefix + name)
    return bad


def _type_problem(kind: str, value: object) -> str | None:
    """Why ``value`` is not of ``kind`` (see fields.type_problem), or None."""
    return type_problem(kind, value, _kind)


def _number(value: object, *, whole: bool = False) -> bool:
    if isinstance(value, bool):
        return False
    return isinstance(value, int) if whole else isinstance(value, (int, float))


def _utf8_size(text: str, errors: str = "strict") -> int | None:
    """The size of ``text`` in UTF-8, or None when it holds a lone surrogate."""
    try:
        return len(text.encode("utf-8", errors))
    except UnicodeEncodeError:
        return None


def _text_problems(text: str, field: str, what: str = "") -> list[tuple[str, str]]:
    """A string of the CONNECT (MQTT 3.1.1 §1.5.3): well-formed UTF-8, no U+0000, at most
    65,535 bytes. The text is never shown (a user name may be half a credential)."""
    prefix = f"{what}: " if what else ""
    if "\0" in text:
        return [
            (field, f"{prefix}expected no U+0000, got one at character {text.index(chr(0)) + 1}")
        ]
    try:
        size = len(text.encode())
    except UnicodeEncodeError as exc:
        return [
            (
                field,
                f"{prefix}expected UTF-8 text, got a byte that is not UTF-8 at character "
                f"{exc.start + 1}",
            )
        ]
    if size > 65535:
        return [(field, f"{prefix}expected at most 65,535 bytes of UTF-8, got {size:,}")]
    return []


def _binary_problems(text: str, field: str, what: str = "") -> list[tuple[str, str]]:
    """Binary data of the CONNECT (a password, a will message), sent as UTF-8 with any
    undecodable bytes as they came: at most 65,535 bytes. Never shown."""
    prefix = f"{what}: " if what else ""
    size = _utf8_size(text, "surrogateescape")
    if size is None:
        return [(field, f"{prefix}expected text, got a lone surrogate that is no byte")]
    if size > 65535:
        return [(field, f"{prefix}expected at most 65,535 bytes, got {size:,}")]
    return []


# ---------------------------------------------------------------------------- shown values

#: Fields whose values are secrets, by attribute name (never shown).
_SECRETS = frozenset(field.attr for field in FIELDS if field.secret == "value")
# Fields that name where a secret is: a secret pasted there by mistake must not be shown.
_NAMING_SECRETS = {
    field.attr: "variable" if field.kind.startswith("variable") else "file"
    for field in FIELDS
    if field.secret == "names"
}


def _shown_field(name: str, value: object) -> str:
    """A field's value for a repr: secrets hidden, names of secrets only when they look
    like a name, URIs masked."""
    if name in _SECRETS and value is not None:
        return "<hidden>"
    if name == "server_uri":
        return _shown_uri(value)
    if name == "username" and isinstance(value, str):
        return repr(shown_user(_masked(value)))
    what = _NAMING_SECRETS.get(name)
    if what is not None and isinstance(value, str):
        shown = shown_source(value, what)
        return f"<{shown[1:-1]}>" if shown.startswith("(") else repr(shown)
    return _shown_value(value)


def shown_source(value: str, what: str) -> str:
    """The name of a variable (``what`` "variable") or a file ("file") that holds a
    secret, for a person to read: as it is when it looks like one, else only its length
    (a password pasted there by mistake)."""
    looks = _looks_like_variable(value) if what == "variable" else _looks_like_path(value)
    return _masked(value) if looks else f"({_unshown(value)})"


def _shown_uri(value: object) -> str:
    if isinstance(value, tuple):  # several servers
        return "(" + ", ".join(_shown_uri(item) for item in value) + ")"
    if isinstance(value, str):
        return repr(_shown(value))
    if isinstance(value, (bytes, bytearray)):
        # Bytes named as such, and masked as a URI like text is.
        return "b" + repr(_shown(bytes(value).decode("utf-8", "backslashreplace")))
    return _shown_value(value)


def _shown_value(value: object, depth: int = 0) -> str:
    """A value for a message or a repr that never raises, never runs a foreign repr, and
    never shows what has the shape of a credential (user:password@, query values)."""
    if value is None or isinstance(value, (bool, float)):
        return float.__repr__(value) if type(value) is float else repr(value)
    if isinstance(value, int):
        if -(10**24) < value < 10**24:
            return int.__repr__(value)
        try:
            return f"an integer of {len(str(abs(int(value)))):,} digits"
        except ValueError:  # str() of more than 4,300 digits raises (Python 3.11+)
            return "an integer of more than 4,300 digits"
    if isinstance(value, str):
        text = _masked(str.__str__(value))
        # Long enough for any real path; a value of thousands of characters is cut.
        if len(text) > 512:
            return f"{text[:200]!r}... ({len(text):,} characters)"
        return repr(text)
    if isinstance(value, (tuple, list)) and depth < 2:
        items = [_shown_value(item, depth + 1) for item in value[:8]]
        if len(value) > 8:
            items.append(f"... ({len(value):,} items)")
        inside = ", ".join(items) + ("," if isinstance(value, tuple) and len(value) == 1 else "")
        return f"({inside})" if isinstance(value, tuple) else f"[{inside}]"
    if isinstance(value, (WillSettings, Security)):
        return repr(value)
    if type(value) is Authenticator:
        # Never the data: a credential.
        data = "" if value.data is None else ", data=<hidden>"
        step = "" if value.step is None else ", step=..."
        return f"Authenticator(method={_shown_value(value.method, depth + 1)}{data}{step})"
    return _kind(value)


def _masked(text: str) -> str:
    """``text`` with anything shaped like a URI's password or query values masked."""
    return _shown(text) if ("@" in text or "?" in text) else text


def _unshown(text: str) -> str:
    return f"{len(text):,} characters, not shown: perhaps a password given in the wrong place"


def _looks_like_variable(text: str) -> bool:
    return (
        0 < len(text) <= 64
        and text.isascii()
        and (text[0].isalpha() or text[0] == "_")
        and all(c.isalnum() or c == "_" for c in text)
    )


_PATH_CHARS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._-+~")


def _looks_like_path(text: str) -> bool:
    # A "/" or a name with an extension; a pasted password rarely has either, and a
    # password with "!" or spaces but no "/" is not shown.
    return "/" in text or ("." in text and _PATH_CHARS.issuperset(text))


def _security_problems(
    sec: Security, uri: ServerURI | None, bad: set[str]
) -> list[tuple[str, str]]:
    out: list[tuple[str, str]] = []
    if uri is not None and not uri.tls and sec.given():
        for name in sec.given():
            out.append(
                (
                    f"security.{name}",
                    f"expected only with mqtts:// or wss://, got {uri.scheme}:// "
                    "(security settings would be silently unused)",
                )
            )
        return out

    def good(name: str) -> bool:
        return f"security.{name}" not in bad

    for name in ("cafile", "certfile", "keyfile"):
        path = getattr(sec, name)
        if not good(name) or path is None:
            continue
        # A CA directory of hashed certificates is read by OpenSSL itself.
        reason = file_problem(
            path, PEM_LIMIT, directory_ok=name == "cafile", shown=_shown_value(path)
        )
        if reason:
            out.append((f"security.{name}", reason))
    if sec.keyfile is not None and sec.certfile is None and good("keyfile") and good("certfile"):
        out.append(("security.certfile", "expected a client certificate with the key"))
    key_password = sec.keyfile_password
    if good("keyfile_password") and key_password is not None:
        if _utf8_size(key_password, "surrogateescape") is None:
            out.append(
                ("security.keyfile_password", "expected text, got a lone surrogate that is no byte")
            )
    if all(good(n) for n in ("keyfile_password", "keyfile_password_env", "keyfile_password_file")):
        out += _secret_problems(
            sec.keyfile_password,
            sec.keyfile_password_env,
            sec.keyfile_password_file,
            "security.keyfile_password",
        )
    if good("server_name") and sec.server_name is not None:
        reason = host_problem(sec.server_name)
        if reason:
            out.append(
                (
                    "security.server_name",
                    f"expected a host name, got {_shown_value(sec.server_name)}: {reason}",
                )
            )
    if good("tls_min_version") and sec.tls_min_version not in TLS_VERSIONS:
        out.append(
            (
                "security.tls_min_version",
                f"expected one of {', '.join(TLS_VERSIONS)}, "
                f"got {_shown_value(sec.tls_min_version)}",
            )
        )
    if good("alpn"):
        for proto in sec.alpn:
            # RFC 7301 §3.1: 1..255 bytes; Python's ssl takes ASCII names only.
            if not (proto.isascii() and 1 <= len(proto) <= 255):
                out.append(
                    (
                        "security.alpn",
                        f"expected protocol names of 1..255 ASCII characters, "
                        f"got {_shown_value(proto)}",
                    )
                )
    return out


def _secret_problems(
    value: str | None, env: str | None, path: str | None, name: str
) -> list[tuple[str, str]]:
    given = [
        n for n, v in ((name, value), (f"{name}_env", env), (f"{name}_file", path)) if v is not None
    ]
    if len(given) > 1:
        return [
            (
                name,
                f"expected at most one of {name}, {name}_env and {name}_file, "
                f"got {', '.join(given)}",
            )
        ]
    if env is not None and env not in os.environ:
        if _looks_like_variable(env):
            reason = f"expected environment variable {env!r} to be set, it is not"
        else:
            reason = f"expected the name of a set environment variable, got {_unshown(env)}"
        return [(f"{name}_env", reason)]
    if path is not None:
        shown = repr(_masked(path)) if _looks_like_path(path) else _unshown(path)
        problem = file_problem(path, SECRET_LIMIT, shown=shown)
        if problem:
            return [(f"{name}_file", problem)]
    if env is not None:
        # Read here too, so that a value the CONNECT cannot carry is this field's problem.
        size = len(os.environ[env].encode("utf-8", "surrogateescape"))
        if size > 65535:
            return [
                (
                    f"{name}_env",
                    f"expected at most 65,535 bytes in the variable it names, got {size:,}",
                )
            ]
    return []


def _read_secret(value: str | None, env: str | None, path: str | None, name: str) -> str | None:
    if value is not None:
        return value
    if env is not None:
        try:
            return os.environ[env]
        except KeyError:
            raise InvalidSettings(
                [(f"{name}_env", f"environment variable {env!r} is not set")]
            ) from None
    if path is not None:
        text = read_bounded(path, f"{name}_file", SECRET_LIMIT).decode("utf-8", "surrogateescape")
        # One line ending (\n or \r\n) is what an editor leaves; the rest is the secret.
        return text.removesuffix("\n").removesuffix("\r") if text.endswith("\n") else text
    return None


def _read_auth_data(path: str) -> bytes:
    """The authentication data in the file at ``path``: binary data (MQTT 5.0 §1.5.6),
    with one line ending stripped as for a password file, since an editor leaves one."""
    data = read_bounded(path, "auth_data_file", SECRET_LIMIT)
    if data.endswith(b"\n"):
        data = data.removesuffix(b"\n").removesuffix(b"\r")
    if len(data) > U16_MAX:
        raise InvalidSettings([("auth_data_file", _AUTH_DATA_TOO_LONG.format(len(data)))])
    return data


_AUTH_DATA_TOO_LONG = "expected at most 65,535 bytes of authentication data, got {:,}"


def _auth_data_problems(path: str) -> list[tuple[str, str]]:
    shown = repr(_masked(path)) if _looks_like_path(path) else _unshown(path)
    problem = file_problem(path, SECRET_LIMIT, shown=shown)
    if problem:
        return [("auth_data_file", problem)]
    try:
        # Read here too (64 KiB at most), so that data a CONNECT cannot carry is this
        # field's problem, not the encoder's.
        _read_auth_data(path)
    except InvalidSettings as exc:
        return exc.problems
    return []


def _authenticator_problems(auth: Authenticator) -> list[tuple[str, str]]:
    # A subclass may do anything in its attributes; only the fields are read.
    method, data = auth.method, auth.data
    if not isinstance(method, str):
        return [("authenticator", f"expected a method of text, got {_kind(method)}")]
    out = _text_problems(method, "authenticator", "the method") if method else []
    if not method:
        out.append(("authenticator", "expected the name of a method, got ''"))
    if data is not None:
        if not isinstance(data, bytes):
            out.append(("authenticator", f"expected data of bytes or None, got {_kind(data)}"))
        elif len(data) > U16_MAX:
            out.append(("authenticator", _AUTH_DATA_TOO_LONG.format(len(data))))
    if auth.step is not None and not callable(auth.step):
        out.append(("authenticator", f"expected a callable step or None, got {_kind(auth.step)}"))
    return out


def _will_problems(will: WillSettings, bad: set[str]) -> list[tuple[str, str]]:
    out = []
    topic = will.topic
    if "will.topic" in bad:
        pass
    elif not topic:
        out.append(("will.topic", "expected a topic name, got ''"))
    elif "+" in topic or "#" in topic or "\0" in topic:
        # MQTT 3.1.1 §4.7.1: wildcards belong in filters, never in a topic name.
        out.append(
            (
                "will.topic",
                f"expected a topic name without +, # or U+0000, got {_shown_value(topic)}",
            )
        )
    else:
        out += _text_problems(topic, "will.topic")
    if isinstance(will.qos, bool) or not isinstance(will.qos, int) or will.qos not in (0, 1, 2):
        out.append(("will.qos", f"expected 0, 1 or 2, got {_shown_value(will.qos)}"))
    if "will.message" not in bad:
        out += _binary_problems(will.message, "will.message")
    return out
