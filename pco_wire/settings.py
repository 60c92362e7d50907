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
from .codec import DEFAULT_MAX_PACKET_SIZE
from .errors import InvalidSettings
from .packets import Connect, Will
from .reconnect import DEFAULT_MAX_DELAY, DEFAULT_MIN_DELAY
from .session import DEFAULT_RESPONSE_TIMEOUT
from .uri import ServerURI, parse_uri, valid_host

__all__ = [
    "PROTOCOLS",
    "TLS_VERSIONS",
    "Security",
    "Settings",
    "WillSettings",
    "check_client_id",
    "generate_client_id",
]

#: Protocol names and the CONNECT protocol level of each. "auto" starts with 3.1.1 and, if
#: the server answers return code 1 (unacceptable protocol version), tries 3.1 once.
PROTOCOLS = {"3.1.1": 4, "3.1": 3, "auto": 4}
TLS_VERSIONS = ("1.0", "1.1", "1.2", "1.3")
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


def parse_header(text: str) -> tuple[str, str]:
    """``"Name: value"`` (the form of --ws-header, the file and the wizard) as a pair.

    Raises ValueError saying what is wrong without repeating the text: a header value may
    be a credential.
    """
    name, colon, value = text.partition(":")
    if not colon or not name.strip():
        raise ValueError(
            f"expected 'Name: value', got {len(text)} characters without a name and a colon"
        )
    return name.strip(), value.strip()


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
        shown = (
            f"{name}=<hidden>" if name in self._hidden else f"{name}={getattr(self, name)!r}"
            for name in self.given()
        )
        return f"Security({', '.join(shown)})"


_DEFAULT_SECURITY = dict(zip(Security._fields, Security()._values(), strict=True))


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
    )
    _fields = __slots__
    _hidden = frozenset({"password"})

    def __init__(
        self,
        server_uri: str,
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
    ) -> None:
        self.server_uri = server_uri
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
        #: as soon as a header announces a size, before anything is buffered.
        self.max_packet_size = max_packet_size

    def __repr__(self) -> str:
        defaults = Settings("")
        parts = [f"server_uri={_safe_uri(self.server_uri)!r}"]
        for name, value in zip(self._fields[1:], self._values()[1:], strict=True):
            if value == getattr(defaults, name):
                continue
            if name == "ws_headers":
                # Header values may be credentials (Authorization): names only.
                value = tuple(header for header, _ in value)
            parts.append(f"{name}=<hidden>" if name in self._hidden else f"{name}={value!r}")
        return f"Settings({', '.join(parts)})"

    # --------------------------------------------------------------- validation

    def problems(self) -> list[tuple[str, str]]:
        """Every (field, reason) this configuration breaks; empty when it is valid."""
        out: list[tuple[str, str]] = []
        uri: ServerURI | None = None
        try:
            uri = parse_uri(self.server_uri)
        except InvalidSettings as exc:
            out += exc.problems
        if self.client_id:
            reason = check_client_id(self.client_id)
            if reason:
                out.append(("client_id", reason))
        elif not self.clean_session:
            out.append(
                (
                    "client_id",
                    "expected a client ID with clean session off: a generated ID would "
                    "leave an orphan session on the server",
                )
            )
        if self.protocol not in PROTOCOLS:
            out.append(("protocol", f"expected 3.1.1, 3.1 or auto, got {self.protocol!r}"))
        delays_ok = True
        for name in ("reconnect_min_delay", "reconnect_max_delay"):
            value = getattr(self, name)
            # A floor of 0.1 s: a reconnection loop must never come close to spinning.
            if (
                isinstance(value, bool)
                or not isinstance(value, (int, float))
                or not 0.1 <= value < 1e6
            ):
                out.append((name, f"expected seconds 0.1..1e6, got {value!r}"))
                delays_ok = False
        if delays_ok and self.reconnect_min_delay > self.reconnect_max_delay:
            out.append(
                (
                    "reconnect_max_delay",
                    f"expected at least reconnect_min_delay ({self.reconnect_min_delay:g}), "
                    f"got {self.reconnect_max_delay:g}",
                )
            )
        if (
            isinstance(self.max_packet_size, bool)
            or not isinstance(self.max_packet_size, int)
            or not 2 <= self.max_packet_size <= 268_435_460
        ):
            out.append(
                (
                    "max_packet_size",
                    f"expected bytes 2..268,435,460, got {self.max_packet_size!r}",
                )
            )
        if (
            isinstance(self.response_timeout, bool)
            or not isinstance(self.response_timeout, (int, float))
            or not 0 < self.response_timeout < 1e6
        ):
            out.append(
                (
                    "response_timeout",
                    f"expected a positive number of seconds, got {self.response_timeout!r}",
                )
            )
        if (
            isinstance(self.keep_alive, bool)
            or not isinstance(self.keep_alive, int)
            or not 0 <= self.keep_alive <= 65535
        ):
            out.append(
                (
                    "keep_alive",
                    f"expected whole seconds 0..65535 (0: no PINGREQ), got {self.keep_alive!r}",
                )
            )
        out += _secret_problems(self.password, self.password_env, self.password_file, "password")
        has_password = (self.password, self.password_env, self.password_file) != (None,) * 3
        # A URI that does not parse may still carry a user; without an "@" it cannot.
        uri_user = uri.username if uri is not None else ("@" in str(self.server_uri)) or None
        if has_password and self.username is None and uri_user is None:
            out.append(("username", "expected a user name with a password (MQTT 3.1.1 §3.1.2.9)"))
        if self.will is not None:
            out += _will_problems(self.will)
        out += self._security_problems(uri)
        for name, value in self.ws_headers:
            if not name or not _TOKEN_CHARS.issuperset(name) or any(c in value for c in "\r\n\0"):
                out.append(("ws_headers", f"expected 'Name: value', got {name!r}"))
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

    def _security_problems(self, uri: ServerURI | None) -> list[tuple[str, str]]:
        sec = self.security
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
        for name in ("cafile", "certfile", "keyfile"):
            path = getattr(sec, name)
            # A CA directory of hashed certificates is read by OpenSSL itself.
            reason = path and file_problem(path, PEM_LIMIT, directory_ok=name == "cafile")
            if reason:
                out.append((f"security.{name}", reason))
        if sec.keyfile is not None and sec.certfile is None:
            out.append(("security.certfile", "expected a client certificate with the key"))
        out += _secret_problems(
            sec.keyfile_password,
            sec.keyfile_password_env,
            sec.keyfile_password_file,
            "security.keyfile_password",
        )
        if sec.server_name is not None and not valid_host(sec.server_name):
            out.append(("security.server_name", f"expected a host name, got {sec.server_name!r}"))
        if sec.tls_min_version not in TLS_VERSIONS:
            out.append(
                (
                    "security.tls_min_version",
                    f"expected one of {', '.join(TLS_VERSIONS)}, got {sec.tls_min_version!r}",
                )
            )
        for proto in sec.alpn:
            if not proto or len(proto.encode()) > 255:
                out.append(
                    ("security.alpn", f"expected protocol names of 1..255 bytes, got {proto!r}")
                )
        return out

    def check(self) -> ServerURI:
        """Raises InvalidSettings listing every problem; returns the parsed URI."""
        problems = self.problems()
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

    def connect_packet(self, client_id: str, protocol_level: int | None = None) -> Connect:
        """The CONNECT of these settings; ``protocol_level`` overrides the protocol's (the
        fallback of "auto")."""
        will = None
        if self.will is not None:
            w = self.will
            will = Will(w.topic, w.message.encode("utf-8", "surrogateescape"), w.qos, w.retain)
        return Connect(
            client_id,
            clean_session=self.clean_session,
            keep_alive=self.keep_alive,
            username=self.resolved_username(),
            password=self.resolved_password(),
            will=will,
            protocol_level=protocol_level or PROTOCOLS[self.protocol],
        )


def _safe_uri(text: str) -> str:
    from .uri import _shown

    return _shown(text) if isinstance(text, str) else repr(text)


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
        return [(f"{name}_env", f"expected environment variable {env!r} to be set, it is not")]
    reason = path and file_problem(path, SECRET_LIMIT)
    if reason:
        return [(f"{name}_file", reason)]
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


def _will_problems(will: WillSettings) -> list[tuple[str, str]]:
    out = []
    if not will.topic:
        out.append(("will.topic", "expected a topic name, got ''"))
    elif "+" in will.topic or "#" in will.topic or "\0" in will.topic:
        out.append(
            ("will.topic", f"expected a topic name without +, # or U+0000, got {will.topic!r}")
        )
    if isinstance(will.qos, bool) or will.qos not in (0, 1, 2):
        out.append(("will.qos", f"expected 0, 1 or 2, got {will.qos!r}"))
    if len(will.message.encode("utf-8", "replace")) > 65535:
        out.append(("will.message", "expected at most 65,535 bytes"))
    return out
