"""Connection settings in the product's vocabulary, and their validation.

One ``Settings`` object holds everything of the Client and Security tabs; it feeds
``test_connection``, the blocking ``Client`` and the CLI. ``validate()`` reports every bad
field at once, before any network traffic. Secrets (password, key password) never appear
in a repr or a message.
"""

from __future__ import annotations

import os
import re
import secrets
from dataclasses import dataclass, field, fields, replace
from pathlib import Path

from .errors import InvalidSettings
from .packets import Connect, Will
from .session import DEFAULT_RESPONSE_TIMEOUT
from .uri import ServerURI, parse_uri

__all__ = [
    "PROTOCOLS",
    "TLS_VERSIONS",
    "Security",
    "Settings",
    "WillSettings",
    "check_client_id",
    "generate_client_id",
]

#: Protocol names and the CONNECT protocol level of each.
PROTOCOLS = {"3.1.1": 4, "3.1": 3}
TLS_VERSIONS = ("1.0", "1.1", "1.2", "1.3")
CLIENT_ID_RULE = "1 to 23 characters, only 0-9, a-z and A-Z"
_CLIENT_ID = re.compile(r"[0-9A-Za-z]{1,23}")
_ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
_GENERATED_PREFIX = "pw"


def check_client_id(client_id: str) -> str | None:
    """The reason ``client_id`` breaks the product's rule, or None when it is valid."""
    if _CLIENT_ID.fullmatch(client_id):
        return None
    if not client_id:
        return f"expected {CLIENT_ID_RULE}, got an empty ID"
    if len(client_id) > 23:
        return f"expected {CLIENT_ID_RULE}, got {len(client_id)} characters"
    bad = next(c for c in client_id if not ("0" <= c <= "9" or "a" <= c.lower() <= "z"))
    return f"expected {CLIENT_ID_RULE}, got {bad!r} at position {client_id.index(bad) + 1}"


def generate_client_id() -> str:
    """A fresh valid client ID: "pw" and 21 characters from the operating system's random
    source, 125 bits, so two gateways never draw the same one."""
    return _GENERATED_PREFIX + "".join(secrets.choice(_ALPHABET) for _ in range(21))


@dataclass(slots=True)
class WillSettings:
    """The message the server publishes when the client vanishes (online/offline)."""

    topic: str
    message: str = ""
    qos: int = 0
    retain: bool = False


@dataclass(slots=True)
class Security:
    """TLS settings, for mqtts:// and wss:// only.

    ``cafile`` is a PEM file (a bundle with intermediates works) or a directory of
    hashed certificates; None means the system's trust store. ``keyfile_password`` and
    its ``_env``/``_file`` variants unlock an encrypted key.
    """

    cafile: str | None = None
    certfile: str | None = None
    keyfile: str | None = None
    keyfile_password: str | None = field(default=None, repr=False)
    keyfile_password_env: str | None = None
    keyfile_password_file: str | None = None
    verify_hostname: bool = True
    insecure: bool = False
    server_name: str | None = None
    alpn: tuple[str, ...] = ()
    tls_min_version: str = "1.2"

    def given(self) -> list[str]:
        """The names of the settings that differ from their defaults."""
        default = Security()
        return [f.name for f in fields(self) if getattr(self, f.name) != getattr(default, f.name)]

    def __repr__(self) -> str:
        shown = (
            f"{name}=<hidden>" if name == "keyfile_password" else f"{name}={getattr(self, name)!r}"
            for name in self.given()
        )
        return f"Security({', '.join(shown)})"


@dataclass(slots=True)
class Settings:
    """Everything needed to connect. Defaults are the product's.

    ``password`` is text sent as UTF-8; instead of it, ``password_env`` names an
    environment variable and ``password_file`` a file (one trailing newline stripped).
    ``response_timeout`` in float seconds bounds every phase and every answer;
    ``keep_alive`` in whole seconds, 0 for no PINGREQ at all.
    """

    server_uri: str
    client_id: str = ""
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    password_env: str | None = None
    password_file: str | None = None
    response_timeout: float = DEFAULT_RESPONSE_TIMEOUT
    keep_alive: int = 60
    clean_session: bool = True
    protocol: str = "3.1.1"
    will: WillSettings | None = None
    security: Security = field(default_factory=Security)
    ws_headers: tuple[tuple[str, str], ...] = ()

    def __repr__(self) -> str:
        parts = [f"server_uri={_safe_uri(self.server_uri)!r}"]
        for f in fields(self)[1:]:
            value = getattr(self, f.name)
            if f.name == "password":
                if value is not None:
                    parts.append("password=<hidden>")
            elif f.name == "security":
                if value.given():
                    parts.append(f"security={value!r}")
            elif value != f.default:
                parts.append(f"{f.name}={value!r}")
        return f"Settings({', '.join(parts)})"

    def replace(self, **changes: object) -> Settings:
        return replace(self, **changes)  # type: ignore[arg-type]

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
            out.append(("protocol", f"expected 3.1.1 or 3.1, got {self.protocol!r}"))
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
        if has_password and self.username is None and (uri is None or uri.username is None):
            out.append(("username", "expected a user name with a password (MQTT 3.1.1 §3.1.2.9)"))
        if self.will is not None:
            out += _will_problems(self.will)
        out += self._security_problems(uri)
        for name, value in self.ws_headers:
            if not re.fullmatch(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+", name) or any(
                c in value for c in "\r\n\0"
            ):
                out.append(("ws_headers", f"expected 'Name: value', got {name!r}"))
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
        if sec.cafile is not None and not os.access(sec.cafile, os.R_OK):
            out.append(
                ("security.cafile", f"expected a readable file or directory, got {sec.cafile!r}")
            )
        for name in ("certfile", "keyfile"):
            path = getattr(sec, name)
            if path is not None and not (os.path.isfile(path) and os.access(path, os.R_OK)):
                out.append((f"security.{name}", f"expected a readable file, got {path!r}"))
        if sec.keyfile is not None and sec.certfile is None:
            out.append(("security.certfile", "expected a client certificate with the key"))
        out += _secret_problems(
            sec.keyfile_password,
            sec.keyfile_password_env,
            sec.keyfile_password_file,
            "security.keyfile_password",
        )
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
        return None if text is None else text.encode()

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

    def connect_packet(self, client_id: str) -> Connect:
        will = None
        if self.will is not None:
            w = self.will
            will = Will(w.topic, w.message.encode(), w.qos, w.retain)
        return Connect(
            client_id,
            clean_session=self.clean_session,
            keep_alive=self.keep_alive,
            username=self.resolved_username(),
            password=self.resolved_password(),
            will=will,
            protocol_level=PROTOCOLS[self.protocol],
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
    if path is not None and not (os.path.isfile(path) and os.access(path, os.R_OK)):
        return [(f"{name}_file", f"expected a readable file, got {path!r}")]
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
        try:
            text = Path(path).read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            reason = exc.strerror if isinstance(exc, OSError) else "not UTF-8 text"
            raise InvalidSettings([(f"{name}_file", f"cannot read {path!r}: {reason}")]) from None
        return text[:-1] if text.endswith("\n") else text
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
