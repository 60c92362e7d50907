"""``python -m pco_wire wizard [-o FILE]``: a settings file, one question at a time.

The questions come in the order a person thinks of a connection: where (scheme, host,
port, and the path for ws/wss), who (client ID, user name, password), how (response
timeout, keep-alive, clean session, protocol, will), then the security questions for
mqtts:// and wss:// only and the extra WebSocket headers for ws:// and wss:// only. The
default of each question is shown in brackets and Enter takes it; when the file exists,
its values are the defaults (even when it does not load here: every problem is named
first), and ``-`` empties an optional one.

Every answer is checked at once by the product's own rules (``check_client_id``,
``parse_uri``, ``Settings.problems()`` for the field concerned). At a terminal a refused
answer is asked again with the reason; without one (answers piped in, one per line) it
ends the wizard with exit 2, since a script asked again would loop forever.

At the end: a summary (secrets as ``***``), an optional test connection, and an atomic
save with ``config.save``. Exit statuses: 0 saved, 1 not saved (declined), 2 an invalid
answer without a terminal, the end of the input, or a file that cannot be written, 130
interrupted.
"""

from __future__ import annotations

import os

from .config import load_lenient, save
from .dialogue import CLEAR, Dialogue, Refused, Stop
from .errors import InvalidSettings
from .fields import FIELDS, MQTT5_PROTOCOLS, Field, of_record, parse_user_property
from .settings import (
    Security,
    Settings,
    WillSettings,
    _shown_field,
    generate_client_id,
    parse_header,
    shown_source,
)
from .uri import (
    DEFAULT_PORTS,
    DEFAULT_WS_PATH,
    SCHEMES,
    ServerURI,
    _shown,
    parse_uri,
    shown_user,
    valid_host,
)

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any, TextIO

    from .result import TestResult

    #: A secret's three sources: the value kept in the file, a variable, a file of its own.
    Secret = tuple[str | None, str | None, str | None]

__all__ = ["CLEAR", "DEFAULT_FILE", "run"]

DEFAULT_FILE = "./pco_wire.toml"
_SOURCES = ("none", "keep", "env", "file")
#: The Settings attributes the questions cover (a will's or the security's as a whole):
#: the fields with a question, and the other ways of giving a secret that has one.
_ASKED = frozenset(
    (field.record or field.attr)
    for field in FIELDS
    if field.question or any(f.question for f in FIELDS if f.source and f.source == field.source)
)
#: Fields asked only when another has a value: a key without its certificate is refused.
_ONLY_WITH = {
    "security.keyfile": "security.certfile",
    "security.keyfile_password": "security.certfile",
    "auth_data_file": "auth_method",
    "proxy_username": "proxy",
    "proxy_password": "proxy",
    "no_proxy": "proxy",
}
#: Asked only for protocol 5 or auto: the MQTT 5.0 settings, and the maximum packet size,
#: which only MQTT 5.0 tells the server (below it, a limit of ours the default suits).
_MQTT5_QUESTIONS = frozenset(
    field.name for field in FIELDS if field.since == "5" or field.name == "max_packet_size"
)
#: Asked by questions of their own, not one by one.
_OWN_QUESTIONS = frozenset({"server_uri", "ws_headers", "user_properties"})
_SOURCE_HINT = (
    "none; keep: in the settings file; env: an environment variable; file: a file of its own"
)


def run(output: str | None, *, stdin: TextIO, stdout: TextIO, interactive: bool) -> int:
    """Ask for every setting, show a summary, offer a test connection, and save the
    settings to ``output`` (default ./pco_wire.toml). Questions go to ``stdout``; answers
    come from ``stdin``, one per line. ``interactive`` (a person at a terminal) asks a
    refused question again and reads secrets without echo; otherwise a refused answer
    ends the wizard. Returns the exit status (see the module docstring); raises nothing
    for a user's mistake, a server's fault or a file that cannot be written."""
    dialogue = Dialogue(stdin, stdout, interactive)
    try:
        return _run(dialogue, output or DEFAULT_FILE)
    except Stop as stop:
        dialogue.say(f"error: {stop}")
        return stop.code
    except KeyboardInterrupt as exc:
        from ._console import stop_status

        dialogue.say()
        dialogue.say("interrupted: nothing saved")
        return stop_status(exc)


def _optional(current: object, blank: str) -> str:
    """The hint of an optional question: what blank means, or how to get there."""
    return f"{CLEAR}: {blank}" if current else f"blank: {blank}"


# ---------------------------------------------------------------------------- checks


def _check(settings: Settings, *fields: str) -> None:
    """Raises Refused with the first reason ``settings`` breaks for one of ``fields``. The
    rules of a settings file (`config check`): a blank client ID is generated and kept."""
    for field, reason in settings.problems(identity_kept=True):
        if field in fields:
            raise Refused(reason)


def _uri(text: str) -> str:
    try:
        parse_uri(text)
    except InvalidSettings as exc:
        raise Refused("; ".join(reason for _, reason in exc.problems)) from None
    return text


def _as(text: str, kind: Callable[[str], object]) -> object:
    """``text`` converted, or the text itself: the field's own rule then says what it
    expected, in the same words as everywhere else."""
    try:
        return kind(text)
    except ValueError:
        return text


def _seconds(value: float) -> str:
    return repr(float(value)).removesuffix(".0")


def _path(text: str) -> str | None:
    # No shell expands "~" in an answer; the person surely meant their home.
    return os.path.expanduser(text) if text else None


# ---------------------------------------------------------------------------- questions


def _run(d: Dialogue, path: str) -> int:
    base = _defaults(d, path)
    settings = _ask_all(d, base)
    problems = settings.problems(identity_kept=True)
    if problems:
        # Every answer was checked on its own; this is a rule across them that no
        # single question could catch.
        raise Stop(2, "; ".join(f"{field}: {reason}" for field, reason in problems))
    _summary(d, settings, path)
    tested: bool | None = None
    if d.yes("Test the connection now?", True):
        if not settings.client_id:
            # Generated here rather than by the test, so that the ID tested is the one
            # saved: a configuration is one client identity.
            settings = settings.replace(client_id=generate_client_id())
            d.say(f"client ID {settings.client_id} generated; it is saved with the rest")
        from .sync.check import test_connection

        result = test_connection(settings)
        _report(d, result, settings)
        tested = result.ok
    question = f"Save to {path}?" if tested is not False else f"Save to {path} anyway?"
    if not d.yes(question, True):
        d.say("not saved")
        return 1
    try:
        save(settings, path)
    except InvalidSettings as exc:
        raise Stop(2, "; ".join(reason for _, reason in exc.problems)) from None
    secret = (
        settings.password is not None
        or settings.security.keyfile_password is not None
        or settings.proxy_password is not None
    )
    d.say(f"saved {path}" + (" (readable by you only: it holds a password)" if secret else ""))
    return 0


def _defaults(d: Dialogue, path: str) -> Settings:
    d.say("pco_wire settings wizard. Enter takes the default in brackets; Ctrl-C quits.")
    if not os.path.exists(path):
        d.say(f"New settings for {path}.")
        return Settings("")
    try:
        # Every value the file has, even when it does not load here (a variable not set
        # in this environment, one bad value): saving must not lose its client ID.
        base, problems, warnings = load_lenient(path)
    except InvalidSettings as exc:
        # Not even its values can be read (not TOML, not a regular file): saving the
        # product's defaults over it would lose all of them, the client ID with them.
        for field, reason in exc.problems:
            d.say(f"  {field}: {reason}")
        raise Stop(2, f"{path} cannot be read; mend it, or give another file with -o") from None
    if problems:
        d.say(
            f"Editing {path}; its values are the defaults, but it does not load as it is "
            "(a value of the wrong type is offered as the product's default, an unknown "
            "key is not saved):"
        )
        for field, reason in problems:
            d.say(f"  {field}: {reason}")
    else:
        d.say(f"Editing {path}; its values are the defaults.")
    for warning in warnings:
        d.say(f"warning: {warning}")
    return base


def _ask_all(d: Dialogue, base: Settings) -> Settings:
    # Built on the loaded settings, so that those no question asks for stay as they are.
    try:
        old: ServerURI | None = parse_uri(base.server_uri)
    except InvalidSettings:
        old = None
    asked = _ask_server(d, base, old)
    # Several servers in the file: the questions are the first one's; the others are
    # kept, in their order (edit the file to change them).
    others = base.servers[1:] if len(base.servers) > 1 else ()
    if others:
        from .uri import shown_text

        kept = ", ".join(shown_text(other) for other in others)
        d.say(f"the other servers of the list are kept, in order: {kept}")
    s = base.replace(server_uri=[asked, *others] if others else asked)
    uri = parse_uri(s.server_uri)
    s = _ask_record(d, base, old, s, "")
    if s.protocol not in MQTT5_PROTOCOLS:
        s = _without_mqtt5(d, s)
    s = s.replace(will=_ask_will(d, base, old, s))
    if uri.tls:
        s = _ask_record(d, base, old, s, "security")
    else:
        s = s.replace(security=Security())
    return s.replace(ws_headers=_ask_headers(d, base, s) if uri.websocket else ())


def _value(s: Settings, field: Field) -> object:
    holder = getattr(s, field.record) if field.record else s
    if holder is None:  # no will yet
        return field.default
    return getattr(holder, field.attr)


def _with(s: Settings, field: Field, value: object) -> Settings:
    """``s`` with ``field`` set to ``value``."""
    if not field.record:
        return s.replace(**{field.attr: value})
    if field.record == "will":
        return s.replace(will=(s.will or WillSettings("")).replace(**{field.attr: value}))
    return s.replace(security=s.security.replace(**{field.attr: value}))


def _ask_record(
    d: Dialogue, base: Settings, old: ServerURI | None, s: Settings, record: str
) -> Settings:
    """The questions of the fields of ``record`` ("": ``Settings``'s own, "will",
    "security"), in the table's order; each answer is checked with those before it."""
    for field in of_record(record):
        if field.name == "user_properties" and s.protocol in MQTT5_PROTOCOLS:
            s = s.replace(user_properties=_ask_user_properties(d, base))
        if field.question is None or field.name in _OWN_QUESTIONS:
            continue
        if field.name in _MQTT5_QUESTIONS and s.protocol not in MQTT5_PROTOCOLS:
            continue
        needed = _ONLY_WITH.get(field.name)
        if needed is not None and _value(s, _field(needed)) is None:
            for other in _sources(field):
                s = _with(s, other, other.default)
            continue
        current = _value(base, field)
        if field.name == "username" and current is None and old is not None:
            # A user name or password written in the URI becomes a setting of its own.
            current = old.username
        if field.source is not None:
            if field.name == "password" and current is None and old is not None:
                current = old.password
            s = _ask_source(d, base, s, field, _text(current))
        else:
            s = _with(s, field, _ask_field(d, field, current, s))
    return s


def _field(name: str) -> Field:
    return next(field for field in FIELDS if field.name == name)


def _sources(field: Field) -> list[Field]:
    """The ways of giving what ``field`` is: itself, and for a secret its variable and
    its file."""
    if field.source is None:
        return [field]
    return [f for f in FIELDS if f.source == field.source]


def _ask_field(d: Dialogue, field: Field, current: Any, s: Settings) -> object:
    """The answer to ``field``'s question, checked by the rules of ``Settings`` for it
    (with the answers before it in ``s``)."""
    question = field.question
    assert question is not None
    kind = field.kind.rstrip("?")
    if kind == "bool":
        return d.yes(question, bool(current), hint=field.hint)

    def answer(text: str) -> object:
        value: object = text
        if field.optional and not text:
            value = None
        elif field.name == "proxy" and text.strip().lower() == "none":
            value = None  # direct, as blank is
        elif kind == "texts":
            assert field.parse is not None
            value = field.parse(text.replace(" ", ","))
        elif kind == "seconds":
            value = _as(text, float)
        elif kind == "whole":
            value = _as(text, int)
        elif kind == "path":
            value = _path(text)
        if value is not None:
            # None (left out) breaks no rule of its own; those across fields (a password
            # without a user name) are asked where they can be mended, or at the end.
            _check(_with(s, field, value), field.name)
        return value

    if kind == "seconds":
        return d.ask(question, _seconds(current), answer, hint=field.hint)
    if kind == "texts":
        shown = ",".join(current)
        return d.ask(question, shown, answer, hint=_optional(shown, "none"), clear=bool(shown))
    if kind == "whole" and not field.optional:
        return d.ask(question, str(current), answer, hint=field.hint)
    if kind == "whole":
        shown = "" if current is None else str(current)
        return d.ask(question, shown, answer, hint=_optional(shown, field.blank), clear=bool(shown))
    if field.optional or field.blank:
        return d.ask(
            question,
            current or "",
            answer,
            hint=_optional(current, field.blank),
            clear=bool(current),
        )
    return d.ask(question, current, answer, hint=field.hint)


def _ask_source(
    d: Dialogue, base: Settings, s: Settings, field: Field, current: str | None
) -> Settings:
    """A secret with its sources (the value kept in the file, a variable, a file)."""
    value, env, path = (field, *(f for f in _sources(field) if f is not field))
    on_file = (current, _text(_value(base, env)), _text(_value(base, path)))

    def draft(secret: Secret) -> Settings:
        out = s
        for part, given in zip((value, env, path), secret, strict=True):
            out = _with(out, part, given)
        return out

    assert field.question is not None
    return draft(_ask_secret(d, field.question, field.name, on_file, draft))


def _text(value: object) -> str | None:
    return value if isinstance(value, str) else None


def _ask_server(d: Dialogue, base: Settings, old: ServerURI | None) -> str:
    def scheme_of(text: str) -> str:
        name = text.lower().removesuffix("://")
        if name not in SCHEMES:
            raise Refused(f"expected one of {', '.join(SCHEMES)}, got {text!r}")
        return name

    scheme = d.ask("scheme", old.scheme if old else "mqtt", scheme_of, hint=", ".join(SCHEMES))

    def host_of(text: str) -> str:
        host = text[1:-1] if text.startswith("[") and text.endswith("]") else text
        if host.count(":") == 1:
            raise Refused(f"expected the host alone (the port comes next), got {text!r}")
        if ":" in host:
            host = f"[{host}]"  # an IPv6 address, in brackets in a URI (RFC 3986 §3.2.2)
        elif not valid_host(host):
            raise Refused(f"expected a host name or address, got {text!r}")
        _uri(f"{scheme}://{host}")
        return host

    host = d.ask("host", old.host if old else "localhost", host_of, hint="name or address")
    port = old.port if old is not None and old.scheme == scheme else DEFAULT_PORTS[scheme]
    uri = d.ask("port", str(port), lambda text: _uri(f"{scheme}://{host}:{text}"))
    if scheme in ("ws", "wss"):
        plain = uri

        def path_of(text: str) -> str:
            if not text.startswith("/"):
                raise Refused(f"expected a path that starts with '/', got {text!r}")
            return _uri(plain + text)

        websocket = old is not None and old.websocket
        uri = d.ask(
            "path",
            old.resource if old is not None and websocket else DEFAULT_WS_PATH,
            path_of,
            # Query values may be tokens (presigned URLs): masked, as in every message.
            shown=old.shown_resource if old is not None and websocket else None,
            echo=lambda text: _shown("ws://h" + text).removeprefix("ws://h"),
        )
    # The file's own text when it says the same: "mqtt://host" stays as it was written.
    return base.server_uri if old is not None and parse_uri(uri) == old else uri


def _ask_secret(
    d: Dialogue,
    label: str,
    field: str,
    current: Secret,
    draft: Callable[[Secret], Settings],
) -> Secret:
    """Where a secret comes from, and then the secret, its variable or its file."""
    value, env, path = current
    source = "keep" if value is not None else "env" if env else "file" if path else "none"

    def source_of(text: str) -> str:
        name = text.lower()
        if name not in _SOURCES:
            raise Refused(f"expected one of {', '.join(_SOURCES)}, got {text!r}")
        if name != "none":
            # A password needs a user name (MQTT 3.1.1 §3.1.2.9): refused here, not after
            # the password was typed.
            _check(draft(("", None, None)), "username")
        return name

    chosen = d.ask(f"{label} source", source, source_of, hint=_SOURCE_HINT)
    if chosen == "none":
        return (None, None, None)
    if chosen == "keep":

        def secret_of(text: str) -> str:
            if not text:
                raise Refused(f"expected a {label}, got nothing (source none: no {label})")
            _check(draft((text, None, None)), field)
            return text

        typed = d.ask(
            label,
            value or "",
            secret_of,
            hint="not shown" + ("; Enter keeps the current one" if value else ""),
            secret=True,
        )
        return (typed, None, None)
    if chosen == "env":

        def env_of(text: str) -> str:
            _check(draft((None, text, None)), f"{field}_env")
            return text

        return (None, d.ask(f"{label} variable", env or "", env_of, hint="its name"), None)

    def file_of(text: str) -> str:
        path = os.path.expanduser(text)
        _check(draft((None, None, path)), f"{field}_file")
        return path

    return (None, None, d.ask(f"{label} file", path or "", file_of, hint="one line"))


def _ask_will(
    d: Dialogue, base: Settings, old: ServerURI | None, s: Settings
) -> WillSettings | None:
    hint = "a message the server publishes if the gateway vanishes"
    if not d.yes("add a will?", base.will is not None, hint=hint):
        return None
    return _ask_record(d, base, old, s.replace(will=base.will or WillSettings("")), "will").will


def _without_mqtt5(d: Dialogue, s: Settings) -> Settings:
    """``s`` with the MQTT 5.0 settings at their defaults: a protocol below 5 takes none
    (the file's are said to be left out, not silently lost)."""
    dropped = [f for f in FIELDS if f.since == "5" and f.in_file and _value(s, f) != f.default]
    if dropped:
        names = ", ".join(field.name for field in dropped)
        d.say(f"protocol {s.protocol} takes no MQTT 5.0 settings: {names} left out")
    defaults = {field.attr: field.default for field in FIELDS if field.since == "5"}
    return s.replace(**defaults)


def _ask_user_properties(d: Dialogue, base: Settings) -> tuple[tuple[str, str], ...]:
    pairs = list(base.user_properties)
    if pairs and not d.yes(
        f"keep the user properties ({', '.join(f'{n}={v}' for n, v in pairs)})?", True
    ):
        pairs = []

    def pair_of(text: str) -> tuple[str, str] | None:
        if not text:
            return None
        try:
            pair = parse_user_property(text)
        except ValueError as exc:
            raise Refused(str(exc)) from None
        _check(base.replace(protocol="5", user_properties=(*pairs, pair)), "user_properties")
        return pair

    while True:
        # Spaces at the ends of the line go; those around "=" stay in the name or value.
        pair = d.ask(
            "user property", "", pair_of, hint="name=value, sent with CONNECT; blank: done"
        )
        if pair is None:
            return tuple(pairs)
        pairs.append(pair)


def _ask_headers(d: Dialogue, base: Settings, s: Settings) -> tuple[tuple[str, str], ...]:
    headers = list(base.ws_headers)
    if headers and not d.yes(
        f"keep the extra WebSocket headers ({', '.join(name for name, _ in headers)})?", True
    ):
        headers = []

    def header_of(text: str) -> tuple[str, str] | None:
        if not text:
            return None
        try:
            header = parse_header(text)
        except ValueError as exc:
            raise Refused(str(exc)) from None
        _check(s.replace(ws_headers=(*headers, header)), "ws_headers")
        return header

    while True:
        header = d.ask(
            "extra WebSocket header",
            "",
            header_of,
            hint="Name: value; blank: done",
            # The value may be a credential (Authorization): not in a script's log.
            echo=lambda text: f"{text.partition(':')[0]}: ***",
        )
        if header is None:
            return tuple(headers)
        headers.append(header)


# ---------------------------------------------------------------------------- output


def _summary(d: Dialogue, s: Settings, path: str) -> None:
    from .uri import shown_text

    uri = parse_uri(s.server_uri)
    no = "(none)"
    rows = [
        ("server URI", str(uri)),
        *(
            [("other servers", ", ".join(shown_text(other) for other in s.servers[1:]))]
            if len(s.servers) > 1
            else []
        ),
        ("client ID", s.client_id or "(generated on the first connection, kept in the file)"),
        ("user name", shown_user(s.username) if s.username is not None else no),
        ("password", _secret_shown(s.password, s.password_env, s.password_file)),
        ("response timeout", f"{_seconds(s.response_timeout)} s"),
        ("keep-alive", f"{s.keep_alive} s" if s.keep_alive else "0 (no PINGREQ)"),
        ("clean session", "yes" if s.clean_session else "no"),
        ("protocol", s.protocol),
    ]
    if s.protocol in MQTT5_PROTOCOLS:
        rows += _mqtt5_rows(s)
    w = s.will
    rows.append(
        (
            "will",
            no
            if w is None
            else f"topic {w.topic!r}, message {w.message!r}, QoS {w.qos}, "
            f"retain {'yes' if w.retain else 'no'}",
        )
    )
    if uri.tls:
        sec = s.security
        rows += [
            ("CA file", sec.cafile or "(the system's trust store)"),
            ("client certificate", sec.certfile or no),
        ]
        if sec.certfile is not None:
            rows += [
                ("client key", sec.keyfile or "(in the certificate file)"),
                (
                    "key password",
                    _secret_shown(
                        sec.keyfile_password, sec.keyfile_password_env, sec.keyfile_password_file
                    ),
                ),
            ]
        rows += [
            ("verify hostname", "yes" if sec.verify_hostname else "no"),
            ("server name", sec.server_name or "(the host)"),
            ("minimum TLS version", sec.tls_min_version),
        ]
        if sec.insecure:
            rows.append(("insecure", "yes: no certificate is verified"))
        if sec.alpn:
            rows.append(("ALPN", ", ".join(sec.alpn)))
    if uri.websocket:
        # Header values may be credentials (Authorization): names only, as in the repr.
        names = ", ".join(name for name, _ in s.ws_headers)
        rows.append(("WebSocket headers", f"{names} (values not shown)" if names else no))
    rows.append(
        ("proxy", _shown_field("proxy", s.proxy) if s.proxy is not None else "(none: direct)")
    )
    if s.proxy is not None:
        rows += [
            ("proxy user name", s.proxy_username or no),
            (
                "proxy password",
                _secret_shown(s.proxy_password, s.proxy_password_env, s.proxy_password_file),
            ),
            ("reached directly", ", ".join(s.no_proxy) or no),
        ]
    # The answers to questions the rows above do not phrase in words of their own (a
    # field added to the table), as their values.
    shown_record = {"": True, "will": w is not None, "security": uri.tls}
    rows += [
        (field.question.rstrip("?"), _shown_field(field.attr, _value(s, field)))
        for field in FIELDS
        if field.question is not None and field.name not in _PHRASED and shown_record[field.record]
    ]
    # Settings no question asks for, kept from the file: shown when they are not the
    # defaults, so that the summary is all the file will say.
    defaults = Settings("")
    asked = _ASKED if s.protocol in MQTT5_PROTOCOLS else _ASKED - _MQTT5_QUESTIONS
    rows += [
        (name, _shown_field(name, getattr(s, name)))
        for name in s._fields
        if name not in asked and getattr(s, name) != getattr(defaults, name)
    ]
    d.say()
    d.say(f"Settings for {path}:")
    for name, value in rows:
        d.say(f"  {name:<20} {value}")
    d.say()


#: The fields the summary phrases in rows of its own: a will as one row, a file's blank as
#: what it means ("the system's trust store"), a secret by its source.
_PHRASED = frozenset(
    {
        "server_uri",
        "client_id",
        "username",
        "password",
        "proxy",
        "proxy_username",
        "proxy_password",
        "no_proxy",
        "response_timeout",
        "keep_alive",
        "clean_session",
        "protocol",
        *_MQTT5_QUESTIONS,
        "will.topic",
        "will.message",
        "will.qos",
        "will.retain",
        "security.cafile",
        "security.certfile",
        "security.keyfile",
        "security.keyfile_password",
        "security.verify_hostname",
        "security.server_name",
        "security.tls_min_version",
        "ws_headers",
    }
)


def _mqtt5_rows(s: Settings) -> list[tuple[str, str]]:
    expiry = s.session_expiry
    pairs = ", ".join(f"{name}={value}" for name, value in s.user_properties)
    if s.auth_method is None:
        auth = "(none)"
    else:
        data = s.auth_data_file
        where = "no data" if data is None else f"data from file {shown_source(data, 'file')}"
        auth = f"method {s.auth_method!r}, {where}"
    return [
        ("maximum packet size", f"{s.max_packet_size:,} bytes"),
        ("session expiry", f"{expiry:,} s" if expiry else "0 (ends with the connection)"),
        (
            "receive maximum",
            "(not sent: 65,535)" if s.receive_maximum is None else f"{s.receive_maximum:,}",
        ),
        ("user properties", pairs or "(none)"),
        ("problem information", "requested" if s.request_problem_information else "not requested"),
        ("authentication", auth),
    ]


def _secret_shown(value: str | None, env: str | None, path: str | None) -> str:
    if value is not None:
        return "*** (kept in the file, readable by you only)"
    # A secret pasted where its variable or file is named is not shown (see settings).
    if env is not None:
        return f"from environment variable {shown_source(env, 'variable')}"
    if path is not None:
        return f"from file {shown_source(path, 'file')}"
    return "(none)"


def _report(d: Dialogue, result: TestResult, settings: Settings) -> None:
    """The lines of ``python -m pco_wire test``, so that both read the same."""
    from .cli.test import report, tested

    for warning in result.warnings:
        d.say(f"warning: {warning}")
    for line in report(result, settings.protocol, tested(settings)):
        d.say(line)
