"""Settings files: TOML a person can read and edit, read with ``tomllib``, written by us.

::

    server_uri = "mqtts://broker.plant.local"
    client_id = "gateway17"
    username = "plant"
    password_env = "MQTT_PASSWORD"
    response_timeout = 10.0
    keep_alive = 60
    clean_session = true
    protocol = "3.1.1"

    [will]
    topic = "plant/gateway17/status"
    message = "offline"
    qos = 1
    retain = true

    [security]
    cafile = "/etc/pco_wire/plant-ca.pem"

    [websocket]
    headers = ["X-Plant: line 3"]

Missing keys take the defaults; unknown keys are an error that suggests the nearest known
one. The writer is ours, not a library: it writes only the value types above (strings,
booleans, integers, floats, lists of strings, three tables), about forty lines, tested by a
round-trip property; the runtime stays free of dependencies. It does not keep comments,
with one exception: writing back a generated client ID edits that one line.
"""

from __future__ import annotations

import os
import stat
import sys

from ._files import SETTINGS_LIMIT, file_kind, read_with_mode
from .errors import InvalidSettings
from .fields import FIELDS, TABLES, Field, type_problem
from .fields import file_kind as toml_type
from .settings import (
    Security,
    Settings,
    WillSettings,
    _shown_value,
    generate_client_id,
    parse_header,
)

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Iterator
    from typing import Any

__all__ = [
    "TEMPLATE",
    "dumps",
    "keep_client_id",
    "load",
    "load_lenient",
    "loads",
    "save",
    "save_text",
    "to_dict",
]

# The fields of every table of the file, by key; the order is the order written.
_KEYS: dict[str, dict[str, Field]] = {
    table.name: {
        field.file_key: field for field in FIELDS if field.in_file and field.table == table.name
    }
    for table in TABLES
}
#: The fields a file holds (not the library's own: an authenticator is an object).
_FILE_FIELDS = tuple(field for field in FIELDS if field.in_file)
_TABLES = [table.name for table in TABLES if table.name]
_KNOWN = [*_KEYS[""], *_TABLES, *(f"{t}.{k}" for t in _TABLES for k in _KEYS[t])]
#: Keys whose values are never repeated in a message: secrets, and headers that may be.
#: The fields naming a variable or a file are among them: a secret may be pasted there.
_UNSHOWN = frozenset(field.key for field in FIELDS if field.secret is not None)
#: Tables written with every key when they are there (a will reads best in full); the
#: others with what differs from the defaults.
_COMPLETE = frozenset({"", "will"})


# ---------------------------------------------------------------------------- reading


def load(path: str, *, check: bool = True) -> tuple[Settings, list[str]]:
    """The settings in the file at ``path``, and warnings about it (a password others can
    read). Raises InvalidSettings listing every problem: unreadable file (not a regular
    file, over 1 MiB, not UTF-8, a byte-order mark), TOML syntax, unknown keys, wrong
    types, and, with ``check``, every rule of ``Settings.problems()`` (without: for
    settings that command-line options will change before they are checked)."""
    settings, problems, warnings = load_lenient(path, check=check)
    if problems:
        raise InvalidSettings(problems)
    return settings, warnings


def load_lenient(
    path: str, *, check: bool = True
) -> tuple[Settings, list[tuple[str, str]], list[str]]:
    """The settings of the file at ``path`` as far as they are valid (a wrong value or a
    missing ``server_uri`` takes the default, an unknown key is left out), every problem
    of the file, and the warnings of ``load``: for the wizard, which offers what a file
    has even when it does not load. Raises InvalidSettings only when nothing can be taken
    from the file: it cannot be read, or it is not TOML."""
    text, marked, mode = _read_marked(path)
    try:
        document = _document(text, path)
    except InvalidSettings as exc:
        raise InvalidSettings([*marked, *exc.problems]) from None
    settings, problems = _build(document)
    problems[:0] = marked
    if check:
        problems = with_rules(problems, settings)
    warnings = []
    if _holds_secret(settings) and mode & (stat.S_IRGRP | stat.S_IROTH):
        warnings.append(f"{path} holds a password and other users can read it: chmod 600 {path}")
    return settings, problems, warnings


#: A field's name -> its key in a file, where they differ ("proxy_username" ->
#: "proxy.username"): the rules of Settings.problems() name fields, a file has keys.
_KEY_OF = {field.name: field.key for field in FIELDS if field.in_file and field.key != field.name}


def file_key(name: str) -> str:
    """The file's key for a problem named by the field (``name`` or ``name[i]``)."""
    base, bracket, rest = name.partition("[")
    return _KEY_OF.get(base, base) + bracket + rest


def with_rules(problems: list[tuple[str, str]], settings: Settings) -> list[tuple[str, str]]:
    """The file's ``problems`` and those of every rule of ``Settings.problems()`` on
    ``settings`` (the identity kept), by the file's keys, each field's once: a field
    whose value the file got wrong is not judged again on the default put in its place."""
    known = {name.partition("[")[0] for name, _ in problems}
    rules = [(file_key(f), r) for f, r in settings.problems(identity_kept=True)]
    return problems + [(f, r) for f, r in rules if f.partition("[")[0] not in known]


def loads(text: str, source: str = "the settings", *, check: bool = True) -> Settings:
    """Settings from TOML text. Raises InvalidSettings listing every problem."""
    return from_dict(_document(text, source), check=check)


def _document(text: str, source: str) -> dict[str, Any]:
    # About 13 ms at start-up: only when a file is read. Before 3.11, tomllib is tomli.
    if sys.version_info >= (3, 11):
        import tomllib
    else:
        import tomli as tomllib

    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise InvalidSettings([("file", f"{source} is not valid TOML: {exc}")]) from None
    except RecursionError:  # arrays nested thousands deep
        raise InvalidSettings([("file", f"{source} nests too deep to read")]) from None
    except ValueError:  # int() of more than 4,300 digits (Python 3.11+)
        raise InvalidSettings([("file", f"{source} holds a number too long to read")]) from None


def from_dict(document: dict[str, Any], *, check: bool = True) -> Settings:
    """Settings from a parsed document. Raises InvalidSettings listing every problem
    (the rules of ``Settings.problems()`` only with ``check``)."""
    settings, problems = _build(document)
    if check:
        # A blank client ID is generated and kept in the file (keep_client_id): the rules
        # of `test --config`, so that both agree.
        problems = with_rules(problems, settings)
    if problems:
        raise InvalidSettings(problems)
    return settings


def _build(document: dict[str, Any]) -> tuple[Settings, list[tuple[str, str]]]:
    """The settings of ``document``, defaults in place of what is wrong, and what is."""
    problems: list[tuple[str, str]] = []
    values: dict[str, Any] = {}
    absent: list[Field] = []
    for name in _KEYS:
        table = document.get(name, {}) if name else document
        if not isinstance(table, dict):
            problems.append((name, f"expected a [{name}] table, got {_kind(table)}"))
            table = {}
        _section(table, name, values, absent, problems)
    problems += [(f.name, f"expected {f.required}, got none") for f in absent if f.required]
    records: dict[str, dict[str, Any]] = {"": {}, "will": {}, "security": {}}
    for field in _FILE_FIELDS:
        records[field.record][field.attr] = values[field.name]
    # The will is there when its table is (the others have values without theirs). A
    # [will] table without a topic is checked like one with an empty topic, so that its
    # other mistakes are reported too.
    will = WillSettings(**records["will"]) if isinstance(document.get("will"), dict) else None
    settings = Settings(**records[""], will=will, security=Security(**records["security"]))
    return settings, problems


def _section(
    table: dict[str, Any],
    name: str,
    values: dict[str, Any],
    absent: list[Field],
    problems: list[tuple[str, str]],
) -> None:
    """The values of the keys of one ``table`` (by field name) into ``values``."""
    prefix = f"{name}." if name else ""
    keys = _KEYS[name]
    for key in table:
        if key in keys or (not prefix and key in _TABLES):
            continue
        problems.append((f"{prefix}{key}", f"unknown key{_nearest(prefix + key)}"))
    for key, field in keys.items():
        values[field.name] = field.default
        if key not in table:
            absent.append(field)
            continue
        value = table[key]
        reason = _type_problem(toml_type(field.kind), value, shown=field.secret is None)
        if reason:
            problems.append((field.key, reason))
        else:
            values[field.name] = _from_file(field, value, problems)


def _from_file(field: Field, value: Any, problems: list[tuple[str, str]]) -> Any:
    kind = field.kind.rstrip("?")
    if kind == "seconds":
        return float(value)
    if kind == "texts":
        return tuple(value)
    if kind == "pairs":
        parse = field.parse or parse_header
        pairs = []
        for index, line in enumerate(value):
            try:
                pairs.append(parse(line))
            except ValueError as exc:
                problems.append((f"{field.key}[{index}]", str(exc)))
        return tuple(pairs)
    return value


def _to_file(field: Field, value: Any) -> Any:
    kind = field.kind.rstrip("?")
    if kind == "seconds":
        return float(value)
    if kind == "texts":
        return list(value)
    if kind == "pairs":
        separator = field.separator
        if separator.strip() and any(separator.strip() in name for name, _ in value):
            # "a=b=c" reads back as ("a", "b=c"): refused rather than changed.
            raise InvalidSettings(
                [
                    (
                        field.name,
                        f"expected names without {separator.strip()!r} to write to a "
                        "settings file, got one",
                    )
                ]
            )
        return [f"{name}{separator}{text}" for name, text in value]
    return value


def _type_problem(kind: str, value: Any, shown: bool = True) -> str | None:
    """Why ``value`` of a file is not of the TOML type ``kind``, with the value unless it
    may be a secret."""
    reason = type_problem(kind, value, _kind)
    if reason is None or not shown:
        return reason
    return f"{reason} {_shown_value(value)}"


def _kind(value: Any) -> str:
    """What TOML calls the value's type (TOML 1.0: dates and times are values too)."""
    import datetime

    kinds: dict[type, str] = {
        bool: "a boolean",
        int: "an integer",
        float: "a float",
        str: "a string",
        list: "a list",
        dict: "a table",
        datetime.datetime: "a date-time",
        datetime.date: "a date",
        datetime.time: "a time",
    }
    return kinds.get(type(value), f"a {type(value).__name__}")


def _nearest(key: str) -> str:
    import difflib

    close = difflib.get_close_matches(key, _KNOWN, n=1, cutoff=0.6)
    if not close and "." in key:
        close = difflib.get_close_matches(key.rpartition(".")[2], _KNOWN, n=1, cutoff=0.6)
    return f" (did you mean {close[0]!r}?)" if close else ""


# ---------------------------------------------------------------------------- writing


def to_dict(settings: Settings) -> dict[str, Any]:
    """The document ``dumps`` writes: values that are not None, tables when they hold any
    (the security settings and the headers only where they differ from the defaults)."""
    document: dict[str, Any] = {}
    given = settings.security.given()
    for field in _FILE_FIELDS:
        holder = getattr(settings, field.record) if field.record else settings
        if holder is None:  # no will
            continue
        value = getattr(holder, field.attr)
        if field.name == "server_uri" and len(settings.servers) > 1:
            value = list(settings.servers)  # several servers: a list, in their order
        if value is None or (field.since and value == field.default):
            # The MQTT 5.0 settings only when they are used: a file for 3.1.1 reads as
            # it did before they were there.
            continue
        if field.table not in _COMPLETE and (
            field.attr not in given if field.record == "security" else value == field.default
        ):
            continue
        table = document.setdefault(field.table, {}) if field.table else document
        table[field.file_key] = _to_file(field, value)
    return document


def dumps(settings: Settings) -> str:
    """TOML text that ``loads`` reads back as equal settings."""
    document = to_dict(settings)
    lines = ["# pco_wire settings: python -m pco_wire config check FILE", ""]
    lines += [f"{key} = {_value(value)}" for key, value in document.items() if key not in _TABLES]
    for table in _TABLES:
        if table in document:
            lines += ["", f"[{table}]"]
            lines += [f"{key} = {_value(value)}" for key, value in document[table].items()]
    return "\n".join(lines) + "\n"


def _value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return repr(value)  # repr() of a finite float is valid TOML and reads back exactly
    if isinstance(value, str):
        return _string(value)
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_value(item) for item in value) + "]"
    raise RuntimeError(f"no TOML form for {type(value).__name__}")


def _string(text: str) -> str:
    """A TOML basic string (TOML 1.0 §String): escapes for quote, backslash and controls."""
    out = []
    for char in text:
        code = ord(char)
        if char in '"\\':
            out.append("\\" + char)
        elif char in "\b\t\n\f\r":
            out.append({"\b": "\\b", "\t": "\\t", "\n": "\\n", "\f": "\\f", "\r": "\\r"}[char])
        elif code < 0x20 or code == 0x7F:
            out.append(f"\\u{code:04X}")
        elif 0xD800 <= code <= 0xDFFF:
            # A lone surrogate (undecodable bytes from the environment) cannot be written.
            raise InvalidSettings([("file", "expected text that is UTF-8, got undecodable bytes")])
        else:
            out.append(char)
    return '"' + "".join(out) + '"'


def save(settings: Settings, path: str) -> None:
    """Write ``settings`` to ``path`` atomically: a temporary file in the same directory,
    flushed to disk, renamed over the original. A symbolic link is written through: its
    target is replaced and the link kept. The original's permissions, owner and group are
    kept; a file holding a password is made readable by its owner only. Raises
    InvalidSettings (field "file") when the file cannot be written, which includes a
    read-only file (no write permission for anyone: root could rename over it, but the
    person who made it read-only meant otherwise), a file with other hard links (the
    rename would part them) and one that is not a regular file."""
    _replace(path, dumps(settings), _holds_secret(settings))


def save_text(text: str, path: str) -> None:
    """Write ``text`` (the template) to ``path`` the way ``save`` writes settings."""
    _replace(path, text, False)


def _holds_secret(settings: Settings) -> bool:
    from .uri import _shown

    proxy = settings.proxy
    return (
        settings.password is not None
        or settings.security.keyfile_password is not None
        # user:password@ in a URI
        or any(_shown(uri) != uri for uri in settings.servers)
        or settings.proxy_password is not None
        or (isinstance(proxy, str) and _shown(proxy) != proxy)  # and in the proxy's URL
    )


def _replace(path: str, text: str, secret: bool) -> None:
    target = os.path.realpath(path)
    shown = repr(path) if target == os.path.abspath(path) else f"{path!r} (a link to {target!r})"

    def refuse(reason: str) -> InvalidSettings:
        return InvalidSettings([("file", f"cannot write {shown}: {reason}")])

    try:
        info: os.stat_result | None = os.stat(target)
    except FileNotFoundError:
        info = None
    except OSError as exc:
        raise refuse(exc.strerror or str(exc)) from None
    if info is None:
        mode = 0o666 & ~_umask()
    else:
        mode = stat.S_IMODE(info.st_mode)
        if not stat.S_ISREG(info.st_mode):
            raise refuse(f"expected a regular file, got {file_kind(info.st_mode)}")
        if not mode & 0o222 or not os.access(target, os.W_OK):
            raise refuse("read-only")
        if info.st_nlink > 1:
            raise refuse(
                f"it has {info.st_nlink} hard links, which replacing it would part "
                "(a symbolic link is written through)"
            )
    if secret:
        mode &= 0o700  # the owner only (§ "Secrets" of the README)
    temporary = ""
    try:
        import tempfile

        descriptor, temporary = tempfile.mkstemp(
            prefix=f".{os.path.basename(target)}.", suffix=".tmp", dir=os.path.dirname(target)
        )
        try:
            data = text.encode()
            while data:
                data = data[os.write(descriptor, data) :]
            if info is not None:
                made = os.fstat(descriptor)
                if (made.st_uid, made.st_gid) != (info.st_uid, info.st_gid):
                    # Before fchmod: a change of owner clears the set-ID bits.
                    try:
                        os.fchown(descriptor, info.st_uid, info.st_gid)
                    except OSError as exc:
                        raise refuse(
                            f"cannot keep its owner and group ({info.st_uid}:{info.st_gid}): "
                            f"{exc.strerror}"
                        ) from None
            os.fchmod(descriptor, mode)
            os.fsync(descriptor)
        finally:
            os.close(descriptor)
        os.replace(temporary, target)
        temporary = ""
    except OSError as exc:
        raise refuse(exc.strerror or str(exc)) from None
    finally:
        if temporary:
            try:
                os.unlink(temporary)
            except OSError:
                pass


def _umask() -> int:
    current = os.umask(0o022)
    os.umask(current)
    return current


# ---------------------------------------------------------------------------- identity


def keep_client_id(settings: Settings, path: str) -> Settings:
    """A blank client ID generated and written to ``path`` before anything is sent, so
    that one configuration is one client identity; returns ``settings`` with it. Settings
    with an ID come back as they are. Only the ID is written: ``settings`` may hold
    command-line overrides, which stay out of the file. Raises InvalidSettings (field
    "file") when the file cannot be read or written: an ID that is not kept would make the
    next run another client. Settings whose server assigns the ID (MQTT 5.0
    ``server_assigns_id``) come back as they are too: their ID is the server's, per
    connection, and an ID of ours would contradict them."""
    if settings.client_id or settings.server_assigns_id:
        return settings
    with _exclusive(path):
        return _keep_client_id(settings, path)


def _keep_client_id(settings: Settings, path: str) -> Settings:
    text = _read_text(path)
    document = _document(text, path)
    on_file = from_dict(document, check=False)
    if on_file.client_id:  # written meanwhile, by another run of the same configuration
        return settings.replace(client_id=on_file.client_id)
    client_id = generate_client_id()
    # One line edited or added, and nothing else: the edited file must say exactly what
    # it said, with the ID (the document compared, not the rules, which options may have
    # mended for this run).
    wanted = {**document, "client_id": client_id}
    edited = next((e for e in _edits(text, client_id) if _says(e, wanted)), None)
    try:
        if edited is None:
            # Never the whole file written anew: that would lose the person's comments.
            raise InvalidSettings(
                [
                    (
                        "file",
                        f"cannot set client_id in {path!r} by editing one line (expected "
                        'a line client_id = "" among the top-level keys)',
                    )
                ]
            )
        _replace(path, edited, _holds_secret(on_file))
    except InvalidSettings as exc:
        reason = exc.problems[0][1]
        raise InvalidSettings(
            [
                (
                    "file",
                    f"{reason}, to keep the generated client ID: nothing was sent; give "
                    "client_id in the file or --client-id",
                )
            ]
        ) from None
    return settings.replace(client_id=client_id)


def _says(text: str, document: dict[str, Any]) -> bool:
    try:
        return _document(text, "") == document
    except InvalidSettings:
        return False


class _exclusive:
    """One run at a time between reading a blank client ID and writing the one generated:
    two gateways started together from one file must not end with two identities. The
    lock is on the directory of the file a symbolic link leads to (the file itself is
    replaced, so its lock would not hold; two links to one file take one lock), and
    waiting for it has a deadline."""

    TIMEOUT = 10.0

    def __init__(self, path: str) -> None:
        self.directory = os.path.dirname(os.path.realpath(path))
        self.fd = -1

    def __enter__(self) -> None:
        import fcntl
        import time

        try:
            self.fd = os.open(self.directory, os.O_RDONLY)
        except OSError as exc:
            raise InvalidSettings(
                [("file", f"cannot open {self.directory!r}: {exc.strerror}")]
            ) from None
        deadline = time.monotonic() + self.TIMEOUT
        while True:
            try:
                fcntl.flock(self.fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                return
            except BlockingIOError:
                if time.monotonic() > deadline:
                    os.close(self.fd)
                    raise InvalidSettings(
                        [("file", f"another run keeps {self.directory!r} locked")]
                    ) from None
                time.sleep(0.01)

    def __exit__(self, *exc: object) -> None:
        os.close(self.fd)  # closing releases the lock


def _read_text(path: str) -> str:
    text, problems, _ = _read_marked(path)
    if problems:
        raise InvalidSettings(problems)
    return text


def _read_marked(path: str) -> tuple[str, list[tuple[str, str]], int]:
    """The text of the settings file at ``path``, the problem of a UTF-8 byte-order mark,
    which is read past (so that the wizard can offer what such a file says, and its save
    writes it without the mark), and the file's ``st_mode``. Raises InvalidSettings for
    the rest."""
    data, mode = read_with_mode(path, "file", SETTINGS_LIMIT)
    problems = []
    if data.startswith(_BOM):
        problems.append(
            ("file", f"{path} starts with a byte-order mark (BOM): save it as UTF-8 without BOM")
        )
        data = data[len(_BOM) :]
    problem = _text_problem(data)
    if problem is not None:
        raise InvalidSettings([*problems, ("file", f"{path} {problem}")])
    return data.decode("utf-8"), problems, mode


_BOM = b"\xef\xbb\xbf"


def _text_problem(data: bytes) -> str | None:
    """What keeps ``data`` from being the text of a TOML file, or None (TOML 1.0:
    UTF-8, and no byte-order mark: tomllib would call one an invalid statement)."""
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        return "is UTF-16 (it starts with a UTF-16 byte-order mark): save it as UTF-8"
    nul = data.find(b"\0")
    if nul >= 0:
        # UTF-16 without a mark is half NUL bytes; a text file has none at all.
        return f"has a NUL byte at offset {nul} (UTF-16, or not text?): save it as UTF-8 text"
    try:
        data.decode("utf-8")
    except UnicodeDecodeError as exc:
        return f"is not UTF-8 (TOML files are): byte 0x{data[exc.start]:02x} at offset {exc.start}"
    return None


def _edits(text: str, client_id: str) -> Iterator[str]:
    """``text`` with ``client_id = "..."`` among its top-level keys, the ways one line
    can do it, best first: the line that gives it edited (its comment and line ending
    kept), a line added after ``server_uri``, a line added at the very top (the start of
    a document is always among its top-level keys). Only line by line: the caller keeps
    the first that says what ``text`` said, with the ID."""
    lines = text.splitlines(keepends=True)
    first_table = next((i for i, ln in enumerate(lines) if ln.lstrip().startswith("[")), len(lines))

    def key_of(line: str) -> str:
        key, equals, _ = line.partition("=")
        return key.strip().strip("\"'") if equals else ""

    def ending_of(line: str) -> str:
        return line[len(line.rstrip("\r\n")) :]

    for index in range(first_table):
        if key_of(lines[index]) == "client_id":
            key, _, rest = lines[index].partition("=")
            # Keep a comment after the value ('client_id = ""  # blank: generated').
            value = rest.strip()
            quote = value[:1]
            closing = value.find(quote, 1) if quote in ("'", '"') else -1
            comment = value[closing + 1 :].strip() if closing > 0 else ""
            kept = f"  {comment}" if comment.startswith("#") else ""
            edited = f'{key.rstrip()} = "{client_id}"{kept}{ending_of(rest)}'
            yield "".join([*lines[:index], edited, *lines[index + 1 :]])
    ending = "\r\n" if "\r\n" in text else "\n"
    line = f'client_id = "{client_id}"{ending}'
    for index in range(first_table):
        if key_of(lines[index]) == "server_uri":
            # The last line may have no line ending of its own.
            after = lines[index] if ending_of(lines[index]) else lines[index] + ending
            yield "".join([*lines[:index], after, line, *lines[index + 1 :]])
    yield line + text


# ---------------------------------------------------------------------------- template


def _template() -> str:
    """Every key with its default (or, commented out, an example of it), each with its
    note from the table."""
    lines = [
        "# pco_wire settings. Every key is shown with its default; delete what you do not need.",
        "# Check this file with: python -m pco_wire config check FILE",
    ]
    for table in TABLES:
        if table.name:
            lines += ["", f"# {table.note}", f"# [{table.name}]"]
        for field in _KEYS[table.name].values():
            if field.paragraph:
                lines.append("")
            lines += [f"# {note}" for note in field.note.splitlines()]
            example = field.sample is not None
            value = _to_file(field, field.sample if example else field.default)
            line = f"{field.file_key} = {_value(value)}"
            if table.commented or (example and field.required is None):
                line = f"# {line}"
            lines.append(f"{line:<36}# {field.remark}" if field.remark else line)
    return "\n".join(lines) + "\n"


TEMPLATE = _template()


def masked(settings: Settings) -> Settings:
    """``settings`` with every secret replaced by ``***`` (for ``config show``), and
    anything shaped like a URI's password masked in every other text (by shape: a URI
    with its password pasted into any field)."""
    from .settings import _masked
    from .uri import _shown, shown_user

    changes: dict[str, dict[str, Any]] = {"": {}, "will": {}, "security": {}}
    for field in _FILE_FIELDS:
        holder = getattr(settings, field.record) if field.record else settings
        value = None if holder is None else getattr(holder, field.attr)
        kind = field.kind.rstrip("?")
        if value is None:
            continue
        if field.secret == "value":
            value = "***"
        elif field.secret == "values":
            value = tuple((name, "***") for name, _ in value)
        elif kind == "uri":
            servers = settings.servers
            value = tuple(_shown(uri) for uri in servers) if len(servers) > 1 else _shown(value)
        elif field.name == "username":
            # A ":" in a user name reads as "user:password" typed as one: masked too.
            value = shown_user(_masked(value))
        elif kind == "texts":
            value = tuple(_masked(item) for item in value)
        elif isinstance(value, str):
            value = _masked(value)
        changes[field.record][field.attr] = value
    will = settings.will
    return settings.replace(
        **changes[""],
        will=None if will is None else will.replace(**changes["will"]),
        security=settings.security.replace(**changes["security"]),
    )
