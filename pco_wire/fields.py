"""Every settings field, declared once: the table the rest is derived from.

One ``Field`` row says what a setting is (its name, type and default), where it lives in
a settings file (table and key), how the command line gives it (options, metavar, help,
parser), what the wizard asks for it, whether it is a secret, and how the template shows
it. From ``FIELDS`` come the type checks of ``Settings.problems()``, the file reader,
writer and template and ``config show`` (config.py), the connection options of ``test``
and ``monitor`` and their mapping onto the settings (cli/), and the wizard's questions
and summary. Adding a field is adding a row here (and its attribute to the class the row
names: ``Settings``, ``WillSettings`` or ``Security``); tests/test_fields.py holds every
derivation to the table.

Pure and cheap: imported on every start-up, so nothing here reads a file or builds a
parser.
"""

from __future__ import annotations

from ._codec_py import DEFAULT_MAX_PACKET_SIZE
from .reconnect import DEFAULT_MAX_DELAY, DEFAULT_MIN_DELAY
from .session import DEFAULT_RESPONSE_TIMEOUT

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any

__all__ = [
    "FIELDS",
    "TABLES",
    "Field",
    "Option",
    "Table",
    "by_name",
    "file_kind",
    "type_problem",
]

#: The protocols a setting names, in the order the help lists them (the default first).
PROTOCOL_NAMES = ("3.1.1", "3.1", "5", "auto")
#: The protocols whose CONNECT carries the MQTT 5.0 settings ("auto" tries 5 first).
MQTT5_PROTOCOLS = ("5", "auto")
TLS_VERSIONS = ("1.0", "1.1", "1.2", "1.3")


class Option:
    """One command-line option of a field: its flags, the value it stands for when it is
    a switch (``const``; None: it takes a value), and its help."""

    __slots__ = ("flags", "const", "help")

    def __init__(self, *flags: str, const: object = None, help: str | None = None) -> None:
        self.flags = flags
        self.const = const
        self.help = help


def switch(flag: str, on: str | None = None, off: str | None = None) -> tuple[Option, Option]:
    """The two options of a yes/no field: ``--flag`` (True, help ``on``) and ``--no-flag``
    (False, help ``off``)."""
    return Option(f"--{flag}", const=True, help=on), Option(f"--no-{flag}", const=False, help=off)


class Table:
    """A table of the settings file (``""``: the top level): its comment in the template,
    and whether the template shows it commented out (a table that is not there by
    default)."""

    __slots__ = ("name", "note", "commented")

    def __init__(self, name: str, note: str = "", *, commented: bool = False) -> None:
        self.name = name
        self.note = note
        self.commented = commented


class Field:
    """One setting. ``name`` is what a problem names: ``client_id``, ``will.topic``,
    ``security.cafile``; its first part before a dot is the record that holds the
    attribute (``will``, ``security``; none: ``Settings`` itself).

    ``kind`` is the type, one of: ``uri``, ``text``, ``path``, ``variable`` (the name of
    an environment variable), ``bool``, ``seconds`` (a float), ``whole`` (an int),
    ``texts`` (a tuple of text), ``pairs`` (a tuple of (name, value) text pairs), with
    ``?`` when None is allowed. Numbers are checked with their ranges by
    ``Settings.problems()``, the other kinds by ``type_problem``.
    """

    __slots__ = (
        "name",
        "kind",
        "default",
        "key",
        "required",
        "options",
        "metavar",
        "parse",
        "choices",
        "repeat",
        "group",
        "exclusive",
        "source",
        "warning",
        "secret",
        "question",
        "hint",
        "blank",
        "note",
        "sample",
        "remark",
        "paragraph",
        "separator",
        "since",
    )

    def __init__(
        self,
        name: str,
        kind: str,
        default: Any,
        *,
        key: str | None = None,
        required: str | None = None,
        options: tuple[Option, ...] = (),
        metavar: str | None = None,
        parse: Callable[[str], Any] | None = None,
        choices: tuple[Any, ...] | None = None,
        repeat: bool = False,
        group: str = "",
        exclusive: str | None = None,
        source: str | None = None,
        warning: str | None = None,
        secret: str | None = None,
        question: str | None = None,
        hint: str = "",
        blank: str = "",
        note: str = "",
        sample: Any = None,
        remark: str = "",
        paragraph: bool = False,
        separator: str = ": ",
        since: str = "",
    ) -> None:
        #: The field's name in problems and its path from ``Settings``.
        self.name = name
        self.kind = kind
        #: The default of the attribute (a required one's: the value before it is given).
        self.default = default
        #: Where it is in a settings file: "key" at the top, "table.key" in a table; ""
        #: for a setting of the library only (an object no file can hold).
        self.key = name if key is None else key
        #: Set for a key a settings file must give: what is expected there.
        self.required = required
        self.options = options
        self.metavar = metavar
        #: The command line's text to a value; raises ValueError saying what it expected.
        self.parse = parse
        self.choices = choices
        #: The option may be given more than once; the values are collected.
        self.repeat = repeat
        #: The title of its group in ``--help``.
        self.group = group
        #: Options of fields with the same ``exclusive`` exclude each other.
        self.exclusive = exclusive
        #: Fields with the same ``source`` are the ways of giving one secret: when the
        #: command line gives one, the others the file gave are dropped.
        self.source = source
        #: Said when the command line gives it.
        self.warning = warning
        #: "value": never shown anywhere; "values": a list of "name: value" whose values
        #: are not shown; "names": names where a secret is (a variable, a file), whose
        #: value may be a secret pasted in the wrong place.
        self.secret = secret
        #: The wizard's question, or None when it asks none.
        self.question = question
        self.hint = hint
        #: What an optional question's blank answer means ("none", "the host").
        self.blank = blank
        #: The template's comment above the key.
        self.note = note
        #: The template's value, when it is not the default (the key is then commented
        #: out, unless it is required).
        self.sample = sample
        #: The template's comment after the key.
        self.remark = remark
        #: A blank line before it in the template.
        self.paragraph = paragraph
        #: Between the name and the value of a pair in a file and on the command line
        #: ("Name: value", "name=value").
        self.separator = separator
        #: "5": an MQTT 5.0 setting. Another value than the default needs protocol 5 or
        #: auto (``Settings.problems()``); the wizard asks for it only then.
        self.since = since

    @property
    def record(self) -> str:
        """The record of the attribute: "" (``Settings``), "will" or "security"."""
        return self.name.rpartition(".")[0]

    @property
    def attr(self) -> str:
        return self.name.rpartition(".")[2]

    @property
    def table(self) -> str:
        return self.key.rpartition(".")[0]

    @property
    def file_key(self) -> str:
        return self.key.rpartition(".")[2]

    @property
    def in_file(self) -> bool:
        """Whether a settings file holds it (and the template shows it)."""
        return bool(self.key)

    @property
    def optional(self) -> bool:
        return self.kind.endswith("?")

    def __repr__(self) -> str:
        return f"Field({self.name!r}, {self.kind!r})"


# ---------------------------------------------------------------------------- parsers
# Each raises ValueError saying what it expected; the command line shows that message.


def parse_seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise ValueError(f"expected seconds, got {text!r}") from None
    if not 0 < value < 1e6:
        raise ValueError(f"expected a positive number of seconds, got {text}")
    return value


def parse_keep_alive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise ValueError(f"expected whole seconds 0..65535, got {text!r}") from None
    if not 0 <= value <= 65535:
        raise ValueError(f"expected whole seconds 0..65535, got {value}")
    return value


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


def parse_names(text: str) -> tuple[str, ...]:
    """``--alpn a,b``: one option may name several."""
    return tuple(name for name in text.split(",") if name)


def whole_parser(low: int, high: int, what: str) -> Callable[[str], int]:
    """A parser of whole numbers ``low..high`` of ``what`` ("seconds", "bytes")."""
    expected = f"expected whole {what} {low:,}..{high:,}"

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise ValueError(f"{expected}, got {text!r}") from None
        if not low <= value <= high:
            raise ValueError(f"{expected}, got {value:,}")
        return value

    parse.__name__ = f"whole {what}"
    return parse


def parse_user_property(text: str) -> tuple[str, str]:
    """``"name=value"`` (the form of --user-property, the file and the wizard) as a pair:
    split at the first "=", nothing stripped (a user property is exact text, MQTT 5.0
    §3.1.2.11.8), so a name cannot hold "=" here."""
    name, equals, value = text.partition("=")
    if not equals:
        raise ValueError(f"expected NAME=VALUE, got {len(text)} characters without '='")
    if not name:
        raise ValueError("expected NAME=VALUE with a name, got an empty name")
    return name, value


#: MQTT 5.0 §1.5.5, §1.5.4: a Four Byte Integer, a Two Byte Integer.
U32_MAX = 4_294_967_295
U16_MAX = 65_535


# ---------------------------------------------------------------------------- the table

_CLIENT = "client"
_AGAIN = "reconnecting (monitor)"
_WILL = "will (published by the server if the gateway vanishes)"
_TLS = "security (mqtts:// and wss:// only)"
_WS = "websocket (ws:// and wss:// only)"
_MQTT5 = "MQTT 5.0 (--protocol 5 or auto)"
_PROXY = "proxy (HTTP CONNECT or SOCKS, for every scheme)"

TABLES = (
    Table(""),
    Table("will", "The message the server publishes if the gateway vanishes.", commented=True),
    Table("security", "For mqtts:// and wss:// only.", commented=True),
    Table("websocket", "For ws:// and wss:// only.", commented=True),
    Table(
        "proxy",
        "A proxy on the way to the server (HTTP CONNECT or SOCKS); none by default.",
        commented=True,
    ),
)

#: Every field, in the order of the settings file (and of the wizard's questions and of
#: ``--help`` within each group).
FIELDS: tuple[Field, ...] = (
    Field(
        "server_uri",
        "uri",
        "",
        required="a URI such as mqtt://host:1883",
        # The wizard asks for it part by part: scheme, host, port, path.
        question="server URI",
        note="mqtt:// (TCP, 1883), mqtts:// (TLS, 8883), ws:// (WebSocket, 80), wss:// (443).\n"
        'Several servers, tried in order (failover): ["mqtt://a:1883", "mqtt://b:1883"].',
        sample="mqtt://localhost:1883",
        paragraph=True,
    ),
    Field(
        "client_id",
        "text",
        "",
        options=(
            Option("--client-id", "-i", help="1..23 of 0-9 a-z A-Z; generated when left out"),
        ),
        metavar="ID",
        group=_CLIENT,
        question="client ID",
        blank="generated on the first connection, kept in the file",
        note="1 to 23 of 0-9 a-z A-Z. Left blank, one is generated on the first connection and\n"
        "written here: one configuration, one client identity. A copy of this file connects as\n"
        "the same client, and two gateways with one ID throw each other off the broker.",
        paragraph=True,
    ),
    Field(
        "username",
        "text?",
        None,
        options=(Option("--username", "-u"),),
        metavar="NAME",
        group=_CLIENT,
        question="user name",
        blank="none",
        sample="gateway",
        paragraph=True,
    ),
    Field(
        "password",
        "text?",
        None,
        options=(
            Option(
                "--password",
                "-P",
                help="visible to other users of this machine: prefer the options below",
            ),
        ),
        metavar="TEXT",
        group=_CLIENT,
        exclusive="password",
        source="password",
        warning="--password on the command line can be seen by other users of this "
        "machine: prefer --password-env, --password-file or --password-prompt",
        secret="value",
        question="password",
        note="At most one of: password (kept in this file, which is then made readable by you "
        "only),\npassword_env (an environment variable), password_file (one trailing newline "
        "stripped).",
        sample="...",
    ),
    Field(
        "password_env",
        "variable?",
        None,
        options=(Option("--password-env", help="read the password from $VAR"),),
        metavar="VAR",
        group=_CLIENT,
        exclusive="password",
        source="password",
        secret="names",
        sample="MQTT_PASSWORD",
    ),
    Field(
        "password_file",
        "path?",
        None,
        options=(
            Option(
                "--password-file",
                help="read the password from FILE (one trailing newline stripped)",
            ),
        ),
        metavar="FILE",
        group=_CLIENT,
        exclusive="password",
        source="password",
        secret="names",
        sample="/etc/pco_wire/mqtt-password",
    ),
    Field(
        "response_timeout",
        "seconds",
        DEFAULT_RESPONSE_TIMEOUT,
        options=(
            Option(
                "--response-timeout",
                "-t",
                help="seconds the server has for each phase and answer (default 10)",
            ),
        ),
        metavar="S",
        parse=parse_seconds,
        group=_CLIENT,
        question="response timeout",
        hint="seconds for each phase and each answer",
        note="Seconds the server has to answer each step (TCP, TLS, WebSocket, CONNACK, PINGRESP).",
        paragraph=True,
    ),
    Field(
        "keep_alive",
        "whole",
        60,
        options=(
            Option(
                "--keep-alive",
                "-k",
                help="longest gap between two packets we send; 0: no PINGREQ (default 60)",
            ),
        ),
        metavar="S",
        parse=parse_keep_alive,
        group=_CLIENT,
        question="keep-alive",
        hint="whole seconds; 0: no PINGREQ",
        note="Longest gap in seconds between two packets sent; 0: no PINGREQ at all.",
    ),
    Field(
        "clean_session",
        "bool",
        True,
        options=switch(
            "clean-session",
            "no missed messages after an interruption (default)",
            "the server keeps the session (needs a client ID)",
        ),
        group=_CLIENT,
        exclusive="clean_session",
        question="clean session",
        hint="no: the server keeps the session and missed messages",
        note="true: missed messages are not delivered after an interruption.",
    ),
    Field(
        "protocol",
        "text",
        "3.1.1",
        options=(
            Option(
                "--protocol",
                help="default 3.1.1; 5: MQTT 5.0; auto: 5, then 3.1.1, then 3.1, each once "
                "if the server refuses the version",
            ),
        ),
        choices=PROTOCOL_NAMES,
        group=_CLIENT,
        question="protocol",
        hint=", ".join(PROTOCOL_NAMES),
        note='"3.1.1", "3.1", "5" (MQTT 5.0), or "auto" (5, then 3.1.1, then 3.1, each once if\n'
        "the server refuses the version; the MQTT 5.0 settings below are dropped below 5).",
    ),
    Field(
        "reconnect",
        "bool",
        True,
        options=(
            Option(
                "--no-reconnect",
                const=False,
                help="end at the first loss instead of connecting again",
            ),
            Option("--reconnect", const=True),
        ),
        group=_AGAIN,
        note="monitor and the library's Client: connect again after a loss, waiting between the "
        "two\ndelays (seconds; exponential backoff with jitter). Refusals that retrying cannot "
        "fix\n"
        "(identifier rejected, bad user name or password, not authorised) stop it.",
    ),
    Field(
        "reconnect_min_delay",
        "seconds",
        DEFAULT_MIN_DELAY,
        options=(Option("--reconnect-min-delay", help="default 1"),),
        metavar="S",
        parse=parse_seconds,
        group=_AGAIN,
    ),
    Field(
        "reconnect_max_delay",
        "seconds",
        DEFAULT_MAX_DELAY,
        options=(Option("--reconnect-max-delay", help="default 120"),),
        metavar="S",
        parse=parse_seconds,
        group=_AGAIN,
    ),
    Field(
        "max_packet_size",
        "whole",
        DEFAULT_MAX_PACKET_SIZE,
        options=(
            Option(
                "--max-packet-size",
                help="largest packet accepted (1 MiB); MQTT 5.0 tells the server, which then "
                "sends nothing larger",
            ),
        ),
        metavar="BYTES",
        parse=int,
        group=_CLIENT,
        question="maximum packet size",
        hint="bytes; the server sends nothing larger",
        note="The largest packet accepted from the server, in bytes (1 MiB). MQTT 5.0 sends it\n"
        "in CONNECT (Maximum Packet Size): the server then sends nothing larger.",
    ),
    Field(
        "session_expiry",
        "whole",
        0,
        options=(
            Option(
                "--session-expiry",
                help="seconds the server keeps the session after the connection ends "
                f"(0: none, the default; {U32_MAX:,}: never expires)",
            ),
        ),
        metavar="S",
        parse=whole_parser(0, U32_MAX, "seconds"),
        group=_MQTT5,
        since="5",
        question="session expiry",
        hint="whole seconds the server keeps the session after a loss; 0: none",
        note='MQTT 5.0 only, from here to follow_redirects (protocol "5" or "auto"): with\n'
        "3.1.1 or 3.1 each must keep its default.\n"
        "Seconds the server keeps the session after the connection ends; 0: none,\n"
        f"{U32_MAX}: for ever.",
        paragraph=True,
    ),
    Field(
        "receive_maximum",
        "whole?",
        None,
        options=(
            Option(
                "--receive-maximum",
                help="QoS 1 and 2 messages the server may have in flight to us, 1..65535 "
                "(default: not sent, which means 65,535)",
            ),
        ),
        metavar="N",
        parse=whole_parser(1, U16_MAX, "messages"),
        group=_MQTT5,
        since="5",
        question="receive maximum",
        blank="not sent, which means 65,535",
        note="QoS 1 and 2 messages the server may have unacknowledged to us at once, 1..65535.",
        sample=20,
    ),
    Field(
        "user_properties",
        "pairs",
        (),
        options=(
            Option(
                "--user-property",
                help="a user property of CONNECT, NAME=VALUE split at the first '=' "
                "(repeatable; order kept, names may repeat)",
            ),
        ),
        metavar="NAME=VALUE",
        parse=parse_user_property,
        repeat=True,
        group=_MQTT5,
        since="5",
        question="user property",
        note='User properties of CONNECT, each "name=value" (split at the first "=", nothing\n'
        "stripped); in order, and a name may repeat.",
        sample=(("site", "plant 3"),),
        separator="=",
    ),
    Field(
        "request_problem_information",
        "bool",
        True,
        options=switch(
            "request-problem-information",
            "the server may say why, with a reason string, in any packet (default)",
            "reason strings and user properties only in CONNACK and DISCONNECT",
        ),
        group=_MQTT5,
        exclusive="request_problem_information",
        since="5",
        question="request problem information?",
        hint="yes: the server may explain a failure with a reason string",
        note="true: the server may explain a failure (a reason string) in any packet.",
    ),
    Field(
        "auth_method",
        "text?",
        None,
        options=(
            Option(
                "--auth-method",
                help="enhanced authentication method agreed with the server (e.g. SCRAM-SHA-256)",
            ),
        ),
        metavar="NAME",
        group=_MQTT5,
        since="5",
        question="authentication method",
        blank="none",
        note="Enhanced authentication: the method agreed with the server, and a file holding\n"
        "the data sent with CONNECT (at most 65,535 bytes; one trailing newline stripped).",
        sample="SCRAM-SHA-256",
    ),
    Field(
        "auth_data_file",
        "path?",
        None,
        options=(
            Option(
                "--auth-data-file",
                help="the authentication data of CONNECT, read from FILE (one trailing "
                "newline stripped; never shown); needs --auth-method",
            ),
        ),
        metavar="FILE",
        group=_MQTT5,
        since="5",
        secret="names",
        question="authentication data file",
        blank="none",
        sample="/etc/pco_wire/auth-data",
    ),
    Field(
        "follow_redirects",
        "bool",
        False,
        options=switch(
            "follow-redirects",
            "when the server names another server (Server Reference with reason 0x9C or "
            "0x9D), connect there",
            "stay with this server (default)",
        ),
        group=_MQTT5,
        exclusive="follow_redirects",
        since="5",
        note='true: when the server refuses or disconnects with "use another server" (0x9C) or\n'
        '"server moved" (0x9D) and names it, connect there.',
    ),
    # The library's only: objects no file or option can give.
    Field("authenticator", "authenticator?", None, key="", since="5"),
    Field("server_assigns_id", "bool", False, key="", since="5"),
    Field(
        "will.topic",
        "text",
        "",
        options=(Option("--will-topic"),),
        metavar="TOPIC",
        group=_WILL,
        question="will topic",
        sample="plant/gateway/status",
    ),
    Field(
        "will.message",
        "text",
        "",
        options=(Option("--will-message"),),
        metavar="TEXT",
        group=_WILL,
        question="will message",
        blank="empty",
        sample="offline",
    ),
    Field(
        "will.qos",
        "whole",
        0,
        options=(Option("--will-qos"),),
        parse=int,
        choices=(0, 1, 2),
        group=_WILL,
        question="will QoS",
        hint="0, 1 or 2",
    ),
    Field(
        "will.retain",
        "bool",
        False,
        options=(Option("--will-retain", const=True),),
        group=_WILL,
        question="will retain?",
    ),
    Field(
        "security.cafile",
        "path?",
        None,
        options=(
            Option(
                "--cafile",
                help="CA certificates, a PEM file or a directory (default: the system's)",
            ),
        ),
        metavar="PATH",
        group=_TLS,
        question="CA file",
        blank="the system's trust store",
        sample="/path/to/ca.pem",
        remark="default: the system's trust store",
    ),
    Field(
        "security.certfile",
        "path?",
        None,
        options=(Option("--certfile", "--cert", help="client certificate (PEM)"),),
        metavar="FILE",
        group=_TLS,
        question="client certificate",
        blank="none",
        sample="/path/to/client.pem",
    ),
    Field(
        "security.keyfile",
        "path?",
        None,
        options=(Option("--keyfile", "--key", help="client key (PEM)"),),
        metavar="FILE",
        group=_TLS,
        question="client key",
        blank="in the certificate file",
        sample="/path/to/client.key",
    ),
    # No option: a key password on the command line is visible to every user of the
    # machine, and a key is unlocked without a prompt (README).
    Field(
        "security.keyfile_password",
        "text?",
        None,
        source="key password",
        secret="value",
        question="key password",
        sample="...",
    ),
    Field(
        "security.keyfile_password_env",
        "variable?",
        None,
        options=(Option("--key-password-env", "--keyfile-password-env"),),
        metavar="VAR",
        group=_TLS,
        exclusive="key password",
        source="key password",
        secret="names",
        sample="KEY_PASSWORD",
    ),
    Field(
        "security.keyfile_password_file",
        "path?",
        None,
        options=(Option("--key-password-file", "--keyfile-password-file"),),
        metavar="FILE",
        group=_TLS,
        exclusive="key password",
        source="key password",
        secret="names",
        sample="/path/to/key-password",
    ),
    Field(
        "security.verify_hostname",
        "bool",
        True,
        options=switch("verify-hostname", off="accept a trusted certificate for any name (warns)"),
        group=_TLS,
        exclusive="verify_hostname",
        question="verify hostname?",
        hint="no: any certificate from a trusted CA is accepted, whatever its name",
    ),
    Field(
        "security.insecure",
        "bool",
        False,
        options=(Option("--insecure", const=True, help="verify no certificate at all (warns)"),),
        group=_TLS,
        remark="true: no certificate check at all (warns)",
    ),
    Field(
        "security.server_name",
        "text?",
        None,
        options=(
            Option("--server-name", help="name for SNI and the certificate check, if not the host"),
        ),
        metavar="NAME",
        group=_TLS,
        question="server name",
        blank="the host",
        sample="broker.example",
    ),
    Field(
        "security.alpn",
        "texts",
        (),
        options=(Option("--alpn"),),
        metavar="PROTOCOL",
        parse=parse_names,
        repeat=True,
        group=_TLS,
        sample=("mqtt",),
    ),
    Field(
        "security.tls_min_version",
        "text",
        "1.2",
        options=(Option("--tls-min-version", help="default 1.2"),),
        choices=TLS_VERSIONS,
        group=_TLS,
        question="minimum TLS version",
        hint=", ".join(TLS_VERSIONS),
        remark=f"one of {', '.join(TLS_VERSIONS)}",
    ),
    Field(
        "ws_headers",
        "pairs",
        (),
        key="websocket.headers",
        options=(Option("--ws-header", help="extra upgrade request header (repeatable)"),),
        metavar="'NAME: VALUE'",
        parse=parse_header,
        repeat=True,
        group=_WS,
        secret="values",
        question="extra WebSocket header",
        sample=(("X-Plant", "line 3"),),
    ),
    Field(
        "proxy",
        "text?",
        None,
        key="proxy.url",
        options=(
            Option(
                "--proxy",
                help="connect through this proxy: http://host:port (CONNECT), socks5://, "
                "socks5h:// (the proxy resolves the name), socks4://, socks4a://; 'env': "
                "from MQTT_PROXY, HTTPS_PROXY or HTTP_PROXY, ALL_PROXY and NO_PROXY; "
                "'none': direct",
            ),
        ),
        metavar="URL",
        group=_PROXY,
        question="proxy",
        hint="http://host:port, socks5h://host:port, env or none",
        blank="none: connect directly",
        note="http://host:port (HTTP CONNECT; port 80 when left out), socks5://host:port (the\n"
        "server's name resolved here), socks5h:// (resolved by the proxy), socks4://, socks4a://\n"
        '(SOCKS ports: 1080). "env": the environment\'s MQTT_PROXY, then HTTPS_PROXY (mqtts,\n'
        "wss) or HTTP_PROXY (mqtt, ws), then ALL_PROXY, lowercase names first, and NO_PROXY;\n"
        'no variable is read otherwise. "none": connect directly.',
        sample="http://proxy.plant.example:3128",
    ),
    Field(
        "proxy_username",
        "text?",
        None,
        key="proxy.username",
        options=(Option("--proxy-user", help="user name for the proxy (Basic or SOCKS)"),),
        metavar="NAME",
        group=_PROXY,
        question="proxy user name",
        blank="none",
        sample="plant-gateway",
    ),
    Field(
        "proxy_password",
        "text?",
        None,
        key="proxy.password",
        source="proxy password",
        secret="value",
        question="proxy password",
        note="At most one of: password (kept here), password_env, password_file, as for the "
        "MQTT\npassword. A password in the URL counts too; these win over it.",
        sample="...",
    ),
    Field(
        "proxy_password_env",
        "variable?",
        None,
        key="proxy.password_env",
        options=(Option("--proxy-password-env", help="read the proxy's password from $VAR"),),
        metavar="VAR",
        group=_PROXY,
        exclusive="proxy password",
        source="proxy password",
        secret="names",
        sample="PROXY_PASSWORD",
    ),
    Field(
        "proxy_password_file",
        "path?",
        None,
        key="proxy.password_file",
        options=(
            Option(
                "--proxy-password-file",
                help="read the proxy's password from FILE (one trailing newline stripped)",
            ),
        ),
        metavar="FILE",
        group=_PROXY,
        exclusive="proxy password",
        source="proxy password",
        secret="names",
        sample="/etc/pco_wire/proxy-password",
    ),
    Field(
        "no_proxy",
        "texts",
        (),
        key="proxy.no_proxy",
        options=(
            Option(
                "--no-proxy",
                help="hosts reached directly, comma-separated: name (and its subdomains), "
                ".name, name:port, an address or addr/bits, * (repeatable)",
            ),
        ),
        metavar="HOSTS",
        parse=parse_names,
        repeat=True,
        group=_PROXY,
        question="hosts reached without the proxy",
        note="Servers reached directly: a name (and its subdomains), .name, name:port, an\n"
        'address, addr/bits, or "*"; with "env", added to NO_PROXY.',
        sample=("localhost", "10.0.0.0/8"),
    ),
)

_BY_NAME = {field.name: field for field in FIELDS}


def by_name(name: str) -> Field:
    """The field called ``name`` (``keep_alive``, ``security.cafile``)."""
    return _BY_NAME[name]


def of_record(record: str) -> tuple[Field, ...]:
    """The fields whose attributes ``record`` holds: "" (``Settings``), "will", "security"."""
    return tuple(field for field in FIELDS if field.record == record)


# ---------------------------------------------------------------------------- types

#: What a settings file holds for each kind (TOML's types).
_FILE_KINDS = {
    # One server, or a list of them tried in order (failover).
    "uri": "uris",
    "text": "string",
    "path": "string",
    "variable": "string",
    "bool": "boolean",
    "seconds": "number",
    "whole": "integer",
    "texts": "strings",
    "pairs": "strings",
}


def file_kind(kind: str) -> str:
    """The TOML type of a field of ``kind``: string, boolean, number, integer, strings,
    uris (a string or a list of strings)."""
    return _FILE_KINDS[kind.rstrip("?")]


# What is expected, in the words of the library (a Python value) and of a settings file.
_EXPECTED = {
    "text": "text",
    "path": "a path as text",
    "variable": "the name of an environment variable",
    "bool": "True or False",
    "will": "a WillSettings",
    "security": "a Security",
    "authenticator": "an Authenticator",
    "texts": "a tuple of text",
    "pairs": "a tuple of (name, value) pairs of text",
    "string": "a string in quotes",
    "uris": 'a string in quotes, or a list of them, e.g. ["mqtt://a", "mqtt://b"]',
    "integer": "a whole number",
    "number": "a number of seconds",
    "boolean": "true or false",
    "strings": 'a list of strings, e.g. ["a", "b"]',
}


def type_problem(kind: str, value: object, kind_of: Callable[[object], str]) -> str | None:
    """Why ``value`` is not of ``kind``, or None: one check for the library's kinds (see
    ``Field``, and the records "will" and "security") and a settings file's TOML types
    (see ``file_kind``). ``kind_of`` names a value's type in the reason; the value itself
    is never shown (it may be a secret given in the wrong place). Kinds checked with
    their ranges elsewhere (uri, seconds, whole) pass."""
    optional = kind.endswith("?")
    if optional and value is None:
        return None
    kind = kind.rstrip("?")
    if kind in ("uri", "seconds", "whole"):
        return None
    expected = _EXPECTED[kind] + (" or None" if optional else "")
    got = f"expected {expected}, got {kind_of(value)}"
    if kind in ("string", "text", "path", "variable"):
        if not isinstance(value, str):
            return got
        if kind in ("string", "text"):
            return None
        if "\0" in value:
            return f"expected {expected}, got a NUL character at position {value.index(chr(0)) + 1}"
        try:
            value.encode("utf-8", "surrogateescape")
        except UnicodeEncodeError as exc:
            return f"expected {expected}, got a lone surrogate at position {exc.start + 1}"
        if kind == "variable" and (not value or "=" in value):
            return (
                f"expected {expected}, got {len(value):,} characters, not shown: perhaps a "
                "password given in the wrong place"
            )
        return None
    if kind in ("bool", "boolean"):
        # Strictly: "false" is a non-empty string, and would switch a check off.
        return None if isinstance(value, bool) else got
    if kind in ("integer", "number"):
        number = isinstance(value, int) if kind == "integer" else isinstance(value, (int, float))
        return None if number and not isinstance(value, bool) else got
    if kind in ("will", "security"):
        from .settings import Security, WillSettings

        return None if isinstance(value, (WillSettings if kind == "will" else Security)) else got
    if kind == "authenticator":
        from .auth import Authenticator

        return None if isinstance(value, Authenticator) else got
    if kind == "strings":
        ok = isinstance(value, list) and all(isinstance(item, str) for item in value)
        return None if ok else got
    if kind == "uris":
        if isinstance(value, str):
            return None
        if isinstance(value, list) and not value:
            return f"expected {expected}, got an empty list"
        ok = isinstance(value, list) and all(isinstance(item, str) for item in value)
        return None if ok else got
    if not isinstance(value, (tuple, list)):
        return got
    for index, item in enumerate(value):
        if kind == "texts":
            ok = isinstance(item, str)
        else:
            ok = (
                isinstance(item, (tuple, list))
                and len(item) == 2
                and all(isinstance(part, str) for part in item)
            )
        if not ok:
            return f"expected {expected}, got {kind_of(item)} at index {index}"
    return None
