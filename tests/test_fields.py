"""The field table (pco_wire/fields.py) against everything derived from it.

Adding a setting (an MQTT 5.0 ``session_expiry`` with ``--session-expiry``, a file key
and a wizard question) is a row of the table and the attribute of the class the row
names. These tests hold every row to each derivation, by the row alone: its attribute
and default on the class, its option in the parser and onto the settings, its key in the
template and through the writer and the reader, its question in the wizard, and its
secrecy in ``config show``. A row that one of them missed, or an attribute without a row,
fails here.
"""

from __future__ import annotations

import argparse
import inspect
import io
import re
from pathlib import Path
from typing import Any

import pytest

from pco_wire import Security, Settings, WillSettings, config, wizard
from pco_wire.cli import _parser, _settings
from pco_wire.fields import FIELDS, TABLES, Field, of_record
from pco_wire.settings import PROTOCOLS

CLASSES: dict[str, type[Any]] = {"": Settings, "will": WillSettings, "security": Security}
#: Attributes of Settings that hold a record of other fields rather than a value.
RECORDS = {"will", "security"}


def _ids(field: Field) -> str:
    return field.name


def _other(field: Field) -> Any:
    """A value of ``field`` that is not its default."""
    kind = field.kind.rstrip("?")
    if field.choices is not None:
        return next(choice for choice in reversed(field.choices) if choice != field.default)
    if kind == "seconds":
        return float(field.default) + 1.5
    if kind == "whole":
        return 7 if field.default is None else int(field.default) + 1
    if kind == "bool":
        return not field.default
    return {
        "uri": "mqtt://10.0.0.7:1884",
        "text": "value7",
        "variable": "SOME_VARIABLE",
        "path": "/tmp/some/file.pem",
        "texts": ("a", "b"),
        "pairs": (("X-Line", "3"),) if field.separator == ": " else (("line", "3 = x"),),
    }[kind]


def _set(settings: Settings, field: Field, value: Any) -> Settings:
    if not field.record:
        return settings.replace(**{field.attr: value})
    holder = getattr(settings, field.record) or WillSettings("plant/status")
    return settings.replace(**{field.record: holder.replace(**{field.attr: value})})


def _get(settings: Settings, field: Field) -> Any:
    holder = getattr(settings, field.record) if field.record else settings
    return getattr(holder, field.attr)


# ---------------------------------------------------------------------------- the classes


@pytest.mark.parametrize("record", list(CLASSES))
def test_every_attribute_has_a_row_and_every_row_an_attribute(record: str) -> None:
    attributes = set(CLASSES[record]._fields) - (RECORDS if not record else set())
    assert attributes == {field.attr for field in of_record(record)}


@pytest.mark.parametrize("field", FIELDS, ids=_ids)
def test_the_class_default_is_the_rows(field: Field) -> None:
    parameter = inspect.signature(CLASSES[field.record]).parameters[field.attr]
    if parameter.default is inspect.Parameter.empty:
        # Required by the class (server_uri, a will's topic): the row's default is the
        # blank the file reader starts from.
        assert field.default == ""
    else:
        assert parameter.default == field.default


def test_names_are_unique_and_keys_are_in_known_tables() -> None:
    assert len({field.name for field in FIELDS}) == len(FIELDS)
    in_file = [field for field in FIELDS if field.in_file]
    assert len({field.key for field in in_file}) == len(in_file)
    assert {field.table for field in in_file} == {table.name for table in TABLES}
    flags = [flag for field in FIELDS for option in field.options for flag in option.flags]
    assert len(set(flags)) == len(flags)
    assert tuple(PROTOCOLS) == by_choices("protocol")


def by_choices(name: str) -> tuple[Any, ...]:
    choices = next(field for field in FIELDS if field.name == name).choices
    assert choices is not None
    return choices


# ---------------------------------------------------------------------------- the command line


def _args(argv: list[str]) -> argparse.Namespace:
    return _parser("test").parse_args(["test", "mqtt://127.0.0.1:1883", *argv])


@pytest.mark.parametrize("field", [f for f in FIELDS if f.options], ids=_ids)
def test_every_option_reaches_its_field(field: Field) -> None:
    uri = "mqtt://127.0.0.1:1883"
    will = [] if field.name == "will.topic" else ["--will-topic", "plant/status"]
    commands = next(a for a in _parser("test")._actions if a.dest == "command")
    assert isinstance(commands.choices, dict)
    shown = commands.choices["test"].format_help()
    for option in field.options:
        if option.const is not None:
            argv, expected = [option.flags[0]], option.const
        else:
            expected = _other(field)
            kind = field.kind.rstrip("?")
            if kind == "texts":
                text = ",".join(expected)
            elif kind == "pairs":
                text = f"{expected[0][0]}{field.separator}{expected[0][1]}"
            else:
                text = str(expected)
            argv = [option.flags[0], text]
        assert all(flag in shown for flag in option.flags)
        if field.record == "will":
            argv += will
        settings, _ = _settings(_args(argv), [])
        # That field, and nothing else, changed.
        assert settings == _set(Settings(uri), field, expected), (option.flags, settings)


def test_every_field_without_an_option_says_why() -> None:
    # Given only another way: the URI is the positional argument, and a key password is
    # never typed on a command line others can read (--key-password-env/-file instead).
    # The library's own settings are objects, or choices a file cannot make for the
    # program reading it (server_assigns_id): neither option nor key.
    assert {f.name for f in FIELDS if not f.options} == {
        "server_uri",
        "security.keyfile_password",
        "proxy_password",  # as the key password: --proxy-password-env/-file instead
        "authenticator",
        "server_assigns_id",
    }
    assert {f.name for f in FIELDS if not f.in_file} == {"authenticator", "server_assigns_id"}


# ---------------------------------------------------------------------------- the file


def _sections(text: str) -> dict[str, str]:
    parts = re.split(r"^# \[(\w+)\]$", text, flags=re.MULTILINE)
    return {"": parts[0], **dict(zip(parts[1::2], parts[2::2], strict=True))}


IN_FILE = [field for field in FIELDS if field.in_file]


@pytest.mark.parametrize("field", IN_FILE, ids=_ids)
def test_every_key_is_in_the_template_in_its_table(field: Field) -> None:
    section = _sections(config.TEMPLATE)[field.table]
    assert re.search(rf"^(# )?{field.file_key} = \S", section, re.MULTILINE), field.key


def test_the_template_uncommented_is_the_defaults_with_the_samples() -> None:
    text = "\n".join(
        line[2:] if re.match(r"# (\[\w+\]|\w+ = )", line) else line
        for line in config.TEMPLATE.splitlines()
    )
    settings = config.loads(text, check=False)
    for field in IN_FILE:
        expected = field.default if field.sample is None else field.sample
        assert _get(settings, field) == expected, field.name


@pytest.mark.parametrize("field", IN_FILE, ids=_ids)
def test_every_field_survives_the_writer_and_the_reader(field: Field) -> None:
    settings = _set(Settings("mqtt://127.0.0.1:1883"), field, _other(field))
    text = config.dumps(settings)

    assert config.loads(text, check=False) == settings
    table = _sections(text.replace("\n[", "\n# [")).get(field.table, "")
    assert re.search(rf"^{field.file_key} = ", table, re.MULTILINE), text


@pytest.mark.parametrize("field", [f for f in FIELDS if f.secret == "value"], ids=_ids)
def test_config_show_never_shows_a_secret(field: Field) -> None:
    settings = _set(Settings("mqtt://127.0.0.1:1883", username="u"), field, "hunter2-secret")
    shown = config.dumps(config.masked(settings))
    assert "hunter2-secret" not in shown and "***" in shown


# ---------------------------------------------------------------------------- the wizard


def test_the_wizard_asks_every_question_of_the_table(tmp_path: Path) -> None:
    # Every branch open: wss (security and headers), a will, a client certificate (its
    # key and key password), MQTT 5.0 (its questions, the authentication data file with
    # a method). Enter everywhere: each default taken, a test against a closed loopback
    # port, saved anyway.
    certificate = tmp_path / "client.pem"
    certificate.write_text("not checked before the test\n")
    path = tmp_path / "wizard.toml"
    config.save(
        Settings(
            "wss://127.0.0.1:1/mqtt",
            client_id="gw17",
            will=WillSettings("plant/status", "offline"),
            security=Security(certfile=str(certificate)),
            protocol="5",
            auth_method="SCRAM-SHA-256",
            proxy="http://127.0.0.1:1",
        ),
        str(path),
    )
    before = config.load(str(path))[0]
    out = io.StringIO()
    code = wizard.run(str(path), stdin=io.StringIO("\n" * 80), stdout=out, interactive=False)

    text = out.getvalue()
    assert code == 0, text
    for field in FIELDS:
        if field.question is not None and field.name != "server_uri":
            question = re.escape(field.question)
            assert re.search(rf"^{question}(?!\w)", text, re.MULTILINE), field.name
    assert config.load(str(path))[0] == before
