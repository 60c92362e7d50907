"""The settings wizard, ``python -m pco_wire wizard [-o FILE]``.

Answers come piped in, one per line as a script gives them (in process, or to a real
process), or are typed at a real pseudo-terminal; every connection test runs against the
real Mosquitto of the ``broker`` fixture. What is checked: which questions each scheme
asks and in what order (security only for mqtts/wss, path and headers only for ws/wss),
the defaults in brackets, a bad answer asked again at a terminal and fatal without one
(exit 2, naming the rule), an existing file's values as the defaults, the generated client
ID being the one tested and saved, secrets never echoed nor printed, and the permissions
of the file written.
"""

from __future__ import annotations

import io
import os
import pty
import re
import select
import signal
import stat
import subprocess
import sys
import termios
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import pytest

from pco_wire import Security, Settings, WillSettings, config, wizard
from tests.broker import Broker, free_port

#: A whole wizard run, connection test included.
RUN_TIMEOUT = 30.0
#: One prompt to appear at the terminal.
EXPECT_TIMEOUT = 15.0

MQTT = [
    "scheme",
    "host",
    "port",
    "client ID",
    "user name",
    "password source",
    "response timeout",
    "keep-alive",
    "clean session",
    "protocol",
    "proxy",
    "add a will?",
]
WEBSOCKET = [*MQTT[:3], "path", *MQTT[3:]]
SECURITY = ["CA file", "client certificate", "verify hostname?", "server name"]
SECURITY += ["minimum TLS version"]
HEADERS = ["extra WebSocket header"]
END = ["Test the connection now?", "Save to"]

#: A prompt: the question, its hint in parentheses, its default in brackets.
_PROMPT = re.compile(
    r"(?P<q>[A-Za-z][^:]*?)(?: \((?P<hint>[^)]*)\))?(?: \[(?P<default>[^\]]*)\])?: "
)
_NOT_PROMPTS = {"warning", "error", "OK", "FAILED"}
_TESTED_ID = re.compile(r"^OK: connected to \S+ \(\S+\) as (\w+);", re.MULTILINE)


def _argv(path: Path) -> list[str]:
    return [sys.executable, "-m", "pco_wire", "wizard", "-o", str(path)]


@dataclass(repr=False)
class Run:
    """A finished wizard run: its exit status, everything it wrote, and the prompts it
    answered, in order."""

    code: int
    output: str
    prompts: list[str]

    def asked(self) -> list[str]:
        """The questions, without hints and defaults; "Save to FILE?" as "Save to"."""
        names = [_match(prompt).group("q") for prompt in self.prompts]
        return ["Save to" if name.startswith("Save to ") else name for name in names]

    def default(self, question: str) -> str | None:
        """The default shown in brackets the first time ``question`` was asked."""
        for prompt in self.prompts:
            match = _match(prompt)
            if match.group("q") == question:
                return match.group("default")
        raise AssertionError(f"{question!r} was not asked:\n{self}")

    def tested_id(self) -> str:
        match = _TESTED_ID.search(self.output)
        assert match, f"no successful connection test:\n{self}"
        return match.group(1)

    def __repr__(self) -> str:
        return f"exit {self.code}\n{self.output}"


def _match(prompt: str) -> re.Match[str]:
    match = _PROMPT.fullmatch(prompt)
    assert match, f"not a prompt: {prompt!r}"
    return match


class Script(io.StringIO):
    """Answers, one per line, that note the prompt each one answers: what the wizard
    wrote last before reading."""

    def __init__(self, answers: Sequence[str], stdout: io.StringIO) -> None:
        super().__init__("".join(f"{answer}\n" for answer in answers))
        self.stdout = stdout
        self.prompts: list[str] = []
        self._seen = 0

    # typeshed's StringIO overrides readline() with this very ignore: _IOBase's is bytes.
    def readline(self, size: int = -1, /) -> str:  # type: ignore[override]
        written = self.stdout.getvalue()
        self.prompts.append(written[self._seen :].rpartition("\n")[2])
        self._seen = len(written)
        return super().readline(size)


def run_wizard(path: Path, answers: Sequence[str], *, interactive: bool = False) -> Run:
    """The wizard in this process, answers from a string."""
    out = io.StringIO()
    script = Script(answers, out)
    code = wizard.run(str(path), stdin=script, stdout=out, interactive=interactive)
    return Run(code, out.getvalue(), script.prompts)


def run_process(path: Path, answers: Sequence[str]) -> Run:
    """The wizard as a process, answers piped to its stdin (no terminal)."""
    done = subprocess.run(
        _argv(path),
        input="".join(f"{answer}\n" for answer in answers),
        capture_output=True,
        text=True,
        cwd=path.parent,
        timeout=RUN_TIMEOUT,
        start_new_session=True,
        check=False,
    )
    assert done.stderr == "", done.stderr
    # Without a terminal every answer is written after its prompt: one prompt a line.
    prompts = [
        match.group(0)
        for line in done.stdout.splitlines()
        if (match := _PROMPT.match(line)) and match.group("q") not in _NOT_PROMPTS
    ]
    return Run(done.returncode, done.stdout, prompts)


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


# ---------------------------------------------------------------------------- questions


def test_piped_mqtt_run_connects_and_saves_the_tested_id(broker: Broker, tmp_path: Path) -> None:
    path = tmp_path / "gateway.toml"
    port = broker.ports.tcp
    answers = ["mqtt", "127.0.0.1", str(port), "", "", "", "5", "30", "", "", "", "", "", ""]
    run = run_process(path, answers)
    assert run.code == 0, run
    assert run.asked() == [*MQTT, *END], run
    assert "CA file" not in run.output and "WebSocket" not in run.output, run
    tested = run.tested_id()
    assert f"client ID {tested} generated" in run.output
    assert config.load(str(path)) == (
        Settings(f"mqtt://127.0.0.1:{port}", client_id=tested, response_timeout=5.0, keep_alive=30),
        [],
    )
    assert f"saved {path}" in run.output


@pytest.mark.parametrize(
    ("scheme", "port", "questions"),
    [
        ("mqtt", "1883", MQTT),
        ("mqtts", "8883", [*MQTT, *SECURITY]),
        ("ws", "80", [*WEBSOCKET, *HEADERS]),
        ("wss", "443", [*WEBSOCKET, *SECURITY, *HEADERS]),
    ],
)
def test_questions_by_scheme(scheme: str, port: str, questions: list[str], tmp_path: Path) -> None:
    path = tmp_path / "gateway.toml"
    # Enter everywhere, no test, no save.
    run = run_wizard(path, [scheme, *[""] * (len(questions) - 1), "n", "n"])
    assert run.code == 1, run
    assert run.asked() == [*questions, *END], run
    assert run.default("port") == port
    assert run.default("host") == "localhost"
    if "path" in questions:
        assert run.default("path") == "/mqtt"
    assert "not saved" in run.output
    assert not path.exists()


def test_wss_run_asks_the_security_questions(broker: Broker, tmp_path: Path) -> None:
    path = tmp_path / "gateway.toml"
    port = broker.ports.wss
    ca = str(broker.pki.ca_cert)
    answers = ["wss", "127.0.0.1", str(port), *[""] * 10, ca]
    answers += ["", "", "", "", "X-Plant: line 3", "", "", ""]
    run = run_wizard(path, answers)
    assert run.code == 0, run
    assert run.asked() == [*WEBSOCKET, *SECURITY, *HEADERS, *HEADERS, *END], run
    assert run.default("CA file") is None
    assert run.default("minimum TLS version") == "1.2"
    assert "X-Plant (values not shown)" in run.output
    assert config.load(str(path))[0] == Settings(
        f"wss://127.0.0.1:{port}/mqtt",
        client_id=run.tested_id(),
        security=Security(cafile=ca),
        ws_headers=(("X-Plant", "line 3"),),
    )


def test_client_certificate_with_a_key_password_kept_in_the_file(
    broker: Broker, tmp_path: Path
) -> None:
    path = tmp_path / "gateway.toml"
    pki = broker.pki
    port = broker.ports.tls_client_cert
    files = [str(pki.ca_cert), str(pki.client_cert), str(pki.client_key_encrypted)]
    answers = ["mqtts", "127.0.0.1", str(port), "gatewayCert7", "", "", "", "", "", "", "", ""]
    answers += [*files, "keep", pki.client_key_password, "", "", "1.2", "", ""]
    run = run_wizard(path, answers)
    assert run.code == 0, run
    certificate = ["client key", "key password source", "key password"]
    assert run.asked() == [*MQTT, *SECURITY[:2], *certificate, *SECURITY[2:], *END], run
    assert pki.client_key_password not in run.output
    assert re.search(r"^  key password +\*\*\*", run.output, re.MULTILINE), run
    assert "OK: connected" in run.output
    assert _mode(path) == 0o600
    assert config.load(str(path))[0] == Settings(
        f"mqtts://127.0.0.1:{port}",
        client_id="gatewayCert7",
        security=Security(
            cafile=files[0],
            certfile=files[1],
            keyfile=files[2],
            keyfile_password=pki.client_key_password,
        ),
    )


def test_will_questions_only_after_yes(tmp_path: Path) -> None:
    path = tmp_path / "gateway.toml"
    answers = ["mqtt", "", "1884", "", "", "", "", "", "", "", "", "yes"]
    answers += ["plant/gw/status", "offline", "1", "y", "n", ""]
    run = run_wizard(path, answers)
    assert run.code == 0, run
    will = ["will topic", "will message", "will QoS", "will retain?"]
    assert run.asked() == [*MQTT, *will, *END], run
    assert config.load(str(path))[0] == Settings(
        "mqtt://localhost:1884", will=WillSettings("plant/gw/status", "offline", 1, True)
    )


def test_header_values_stay_out_of_the_output(tmp_path: Path) -> None:
    path = tmp_path / "gateway.toml"
    header = "Authorization: Bearer tok-4711"
    run = run_wizard(path, ["ws", *[""] * 12, header, "", "n", ""])
    assert run.code == 0, run
    assert "tok-4711" not in run.output
    assert "Authorization (values not shown)" in run.output
    assert config.load(str(path))[0].ws_headers == (("Authorization", "Bearer tok-4711"),)


def test_ipv6_host_goes_in_brackets(tmp_path: Path) -> None:
    path = tmp_path / "gateway.toml"
    run = run_wizard(path, ["mqtt", "::1", "", *[""] * 9, "n", ""])
    assert run.code == 0, run
    assert config.load(str(path))[0].server_uri == "mqtt://[::1]:1883"


# ---------------------------------------------------------------------------- bad answers


def test_bad_answers_are_asked_again_at_a_terminal(tmp_path: Path) -> None:
    path = tmp_path / "gateway.toml"
    answers_and_reasons = [
        ("mqtt", None),
        ("bad host", "expected a host name or address, got 'bad host'"),
        ("127.0.0.1", None),
        ("70000", "expected a port 1..65535, got 70000 in 'mqtt://127.0.0.1:70000'"),
        ("1884", None),
        ("bad-id", "expected 1 to 23 characters, only 0-9, a-z and A-Z, got '-' at position 4"),
        ("", None),
        ("", None),
        ("keep", "expected a user name with a password (MQTT 3.1.1 §3.1.2.9)"),
        ("none", None),
        ("abc", "expected a positive number of seconds, got 'abc'"),
        ("", None),
        ("65536", "expected whole seconds 0..65535 (0: no PINGREQ), got 65536"),
        ("", None),
        ("maybe", "expected yes or no, got 'maybe'"),
        ("", None),
        ("3.0", "expected 3.1.1"),
        ("", None),
        ("ftp://proxy", "expected scheme http, socks5, socks5h, socks4 or socks4a, got 'ftp'"),
        ("", None),
        ("yes", None),
        ("a/+/b", "expected a topic name without +, # or U+0000, got 'a/+/b'"),
        ("a/b", None),
        ("", None),
        ("3", "expected 0, 1 or 2, got 3"),
        ("2", None),
        ("", None),
        ("n", None),
        ("n", None),
    ]
    run = run_wizard(path, [answer for answer, _ in answers_and_reasons], interactive=True)
    assert run.code == 1, run
    # No terminal echoes the answers here: a refusal follows its prompt on one line.
    refusals = re.findall(r"  refused: (.*)$", run.output, re.MULTILINE)
    reasons = [reason for _, reason in answers_and_reasons if reason is not None]
    assert len(refusals) == len(reasons), run
    for refusal, reason in zip(refusals, reasons, strict=True):
        assert refusal.startswith(reason), (refusal, reason)
    # Each refused question is asked again, right after its refusal.
    asked = run.asked()
    for question in ("host", "port", "client ID", "password source", "proxy", "will QoS"):
        assert asked.count(question) == 2, asked
        assert asked[asked.index(question) + 1] == question, asked
    assert asked.count("clean session") == 2, asked


@pytest.mark.parametrize(
    ("answers", "question", "rule"),
    [
        (
            ["mqtt", "127.0.0.1", "1883", "bad-id"],
            "client ID",
            "expected 1 to 23 characters, only 0-9, a-z and A-Z, got '-' at position 4",
        ),
        (["mqtt", "127.0.0.1", "70000"], "port", "expected a port 1..65535, got 70000"),
        (["gopher"], "scheme", "expected one of mqtt, mqtts, ws, wss, got 'gopher'"),
    ],
    ids=["client-id", "port", "scheme"],
)
def test_bad_answer_without_a_terminal_exits_2(
    answers: list[str], question: str, rule: str, tmp_path: Path
) -> None:
    path = tmp_path / "gateway.toml"
    # More answers follow: the wizard must stop at the bad one, not ask again.
    run = run_process(path, [*answers, "", "", "", ""])
    assert run.code == 2, run
    assert f"error: invalid answer to {question!r}: {rule}" in run.output, run
    assert run.asked()[-1] == question, run
    assert "refused" not in run.output
    assert not path.exists()


def test_end_of_input_exits_2(tmp_path: Path) -> None:
    path = tmp_path / "gateway.toml"
    run = run_process(path, ["mqtt", "127.0.0.1"])
    assert run.code == 2, run
    assert "error: end of input at 'port'" in run.output, run
    assert not path.exists()


# ---------------------------------------------------------------------------- files


def _existing(tmp_path: Path, broker: Broker, case: str) -> Settings:
    """Settings worth keeping, one case for each kind of question."""
    pki = broker.pki
    if case == "mqtt":
        return Settings(
            f"mqtt://127.0.0.1:{broker.ports.password}",
            client_id="gateway17",
            username=broker.username,
            password=broker.password,
            response_timeout=2.5,
            keep_alive=30,
            clean_session=False,
            protocol="3.1",
            will=WillSettings("plant/gateway17/status", "offline", 1, True),
        )
    if case == "mqtts":
        return Settings(
            f"mqtts://127.0.0.1:{broker.ports.tls_client_cert}",
            client_id="gateway18",
            security=Security(
                cafile=str(pki.ca_cert),
                certfile=str(pki.client_cert),
                keyfile=str(pki.client_key_encrypted),
                keyfile_password_env="PCO_WIRE_TEST_KEY_PASSWORD",
                server_name="localhost",
                tls_min_version="1.2",
            ),
        )
    secret = tmp_path / "password"
    secret.write_text(broker.password + "\n")
    return Settings(
        f"ws://127.0.0.1:{broker.ports.ws}/mqtt",
        client_id="gateway19",
        username=broker.username,
        password_file=str(secret),
        keep_alive=0,
        ws_headers=(("X-Plant", "line 3"), ("X-Line", "7")),
    )


#: What the existing file of each case shows in brackets.
_DEFAULTS: dict[str, dict[str, str | None]] = {
    "mqtt": {
        "client ID": "gateway17",
        "user name": "gateway",
        "password source": "keep",
        "response timeout": "2.5",
        "keep-alive": "30",
        "clean session": "y/N",
        "protocol": "3.1",
        "add a will?": "Y/n",
        "will topic": "plant/gateway17/status",
        "will QoS": "1",
        "will retain?": "Y/n",
    },
    "mqtts": {
        "scheme": "mqtts",
        "client key": None,  # a path, checked below
        "key password source": "env",
        "key password variable": "PCO_WIRE_TEST_KEY_PASSWORD",
        "server name": "localhost",
    },
    "ws": {"scheme": "ws", "path": "/mqtt", "password source": "file", "keep-alive": "0"},
}


@pytest.mark.parametrize("case", list(_DEFAULTS))
def test_editing_offers_the_file_s_values(
    case: str, broker: Broker, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PCO_WIRE_TEST_KEY_PASSWORD", broker.pki.client_key_password)
    path = tmp_path / "gateway.toml"
    original = _existing(tmp_path, broker, case)
    config.save(original, str(path))
    text = path.read_text()
    # Enter everywhere: every default taken, the connection tested and the file saved.
    run = run_wizard(path, [""] * 40)
    assert run.code == 0, run
    assert f"Editing {path}; its values are the defaults." in run.output
    for question, default in _DEFAULTS[case].items():
        if default is not None:
            assert run.default(question) == default, (question, run)
    assert "OK: connected" in run.output, run
    assert config.load(str(path)) == (original, [])
    assert path.read_text() == text
    assert broker.password not in run.output and broker.pki.client_key_password not in run.output
    if case == "ws":
        assert run.asked().count("keep the extra WebSocket headers (X-Plant, X-Line)?") == 1


def test_dash_empties_an_optional_value(tmp_path: Path) -> None:
    path = tmp_path / "gateway.toml"
    config.save(Settings("mqtt://127.0.0.1", client_id="gateway17", username="plant"), str(path))
    run = run_wizard(path, ["", "", "", "-", "-", *[""] * 7, "n", ""])
    assert run.code == 0, run
    assert run.default("client ID") == "gateway17"
    assert config.load(str(path))[0] == Settings("mqtt://127.0.0.1")


def test_settings_no_question_asks_for_are_kept_and_shown(tmp_path: Path) -> None:
    path = tmp_path / "gateway.toml"
    original = Settings(
        "mqtts://127.0.0.1",
        client_id="gateway17",
        security=Security(insecure=True, alpn=("mqtt",)),
        reconnect=False,
        max_packet_size=4096,
    )
    config.save(original, str(path))
    run = run_wizard(path, [*[""] * 17, "n", ""])
    assert run.code == 0, run
    for row in ("insecure", "ALPN", "reconnect", "max_packet_size"):
        assert re.search(rf"^  {row} ", run.output, re.MULTILINE), (row, run)
    assert config.load(str(path))[0] == original


def test_a_file_that_does_not_load_offers_every_value_it_has(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Its password variable is not set here, one value has the wrong type, one key is
    # misspelt: every problem is named, every value it has is a default, and saving keeps
    # its client ID.
    monkeypatch.delenv("PCO_WIRE_TEST_UNSET", raising=False)
    monkeypatch.setenv("PCO_WIRE_TEST_SET", "secret")
    path = tmp_path / "gateway.toml"
    path.write_text(
        'server_uri = "mqtt://plant:1884"\nclient_id = "gateway17"\nusername = "plant"\n'
        'password_env = "PCO_WIRE_TEST_UNSET"\nresponse_timeout = "ten"\nkeep_alive = 30\n'
        "kepp_alive = 1\n"
    )
    answers = ["", "", "", "", "", "", "PCO_WIRE_TEST_SET", *[""] * 6, "n", ""]
    run = run_wizard(path, answers)
    assert run.code == 0, run
    assert f"Editing {path}; its values are the defaults, but it does not load as it is" in (
        run.output
    )
    for problem in (
        "  password_env: expected environment variable 'PCO_WIRE_TEST_UNSET' to be set, it is not",
        "  response_timeout: expected a number of seconds, got a string 'ten'",
        "  kepp_alive: unknown key (did you mean 'keep_alive'?)",
    ):
        assert problem in run.output.splitlines(), (problem, run)
    shown = {q: run.default(q) for q in ("host", "port", "client ID", "user name")}
    assert shown == {
        "host": "plant",
        "port": "1884",
        "client ID": "gateway17",
        "user name": "plant",
    }
    assert run.default("password source") == "env"
    assert run.default("password variable") == "PCO_WIRE_TEST_UNSET"
    assert run.default("keep-alive") == "30" and run.default("response timeout") == "10"
    assert config.load(str(path))[0] == Settings(
        "mqtt://plant:1884",
        client_id="gateway17",
        username="plant",
        password_env="PCO_WIRE_TEST_SET",
        keep_alive=30,
    )


def test_a_file_that_is_not_toml_is_not_replaced(tmp_path: Path) -> None:
    # Not one value of it can be read: the product's defaults saved over it would lose
    # them all, its client ID with them. The wizard stops before the first question.
    path = tmp_path / "gateway.toml"
    text = 'server_uri = "mqtt://plant\nclient_id = "gateway17"\n'
    path.write_text(text)
    run = run_wizard(path, [*[""] * 14])
    assert run.code == 2, run
    assert f"  file: {path} is not valid TOML: " in run.output
    assert f"error: {path} cannot be read; mend it, or give another file with -o" in run.output
    assert "host" not in run.output
    assert path.read_text() == text


def test_a_file_with_a_byte_order_mark_is_offered_and_saved_without_it(tmp_path: Path) -> None:
    path = tmp_path / "gateway.toml"
    path.write_bytes(b'\xef\xbb\xbfserver_uri = "mqtt://127.0.0.1"\nclient_id = "gateway17"\n')
    run = run_wizard(path, [*[""] * 12, "n", ""])
    assert run.code == 0, run
    assert f"  file: {path} starts with a byte-order mark (BOM): save it as UTF-8 without BOM" in (
        run.output.splitlines()
    ), run
    assert run.default("client ID") == "gateway17"
    assert not path.read_bytes().startswith(b"\xef\xbb\xbf")
    assert config.load(str(path))[0] == Settings("mqtt://127.0.0.1", client_id="gateway17")


def test_a_read_only_file_is_not_saved(tmp_path: Path) -> None:
    path = tmp_path / "gateway.toml"
    config.save(Settings("mqtt://127.0.0.1", client_id="gateway17"), str(path))
    path.chmod(0o444)
    before = path.read_text()
    run = run_process(path, [*[""] * 12, "n", ""])
    assert run.code == 2, run
    assert f"error: cannot write {str(path)!r}: read-only" in run.output, run
    assert path.read_text() == before and os.listdir(tmp_path) == ["gateway.toml"]


def test_saving_through_a_link_keeps_the_link(tmp_path: Path) -> None:
    target = tmp_path / "target.toml"
    config.save(Settings("mqtt://127.0.0.1", client_id="gateway17"), str(target))
    link = tmp_path / "gateway.toml"
    link.symlink_to(target)
    run = run_wizard(link, ["", "", "", "", "", "", "", "45", *[""] * 4, "n", ""])
    assert run.code == 0, run
    assert link.is_symlink()
    assert config.load(str(target))[0] == Settings(
        "mqtt://127.0.0.1", client_id="gateway17", keep_alive=45
    )


def test_password_kept_in_the_file_is_owner_only(broker: Broker, tmp_path: Path) -> None:
    path = tmp_path / "gateway.toml"
    port = broker.ports.password
    answers = ["mqtt", "127.0.0.1", str(port), "", broker.username, "keep", broker.password]
    run = run_wizard(path, [*answers, *[""] * 9])
    assert run.code == 0, run
    assert "OK: connected" in run.output, run
    assert broker.password not in run.output
    assert re.search(r"^  password +\*\*\* \(kept in the file", run.output, re.MULTILINE), run
    assert _mode(path) == 0o600
    assert config.load(str(path))[0].password == broker.password


def test_password_from_a_variable_stays_out_of_the_file(
    broker: Broker, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PCO_WIRE_TEST_PASSWORD", broker.password)
    monkeypatch.delenv("PCO_WIRE_TEST_UNSET", raising=False)
    path = tmp_path / "gateway.toml"
    port = broker.ports.password
    answers = ["mqtt", "127.0.0.1", str(port), "", broker.username, "env"]
    # A variable that is not set is refused, at a terminal asked again.
    answers += ["PCO_WIRE_TEST_UNSET", "PCO_WIRE_TEST_PASSWORD", *[""] * 8]
    run = run_wizard(path, answers, interactive=True)
    assert run.code == 0, run
    assert "refused: expected environment variable 'PCO_WIRE_TEST_UNSET' to be set" in run.output
    assert "OK: connected" in run.output, run
    assert broker.password not in path.read_text()
    assert config.load(str(path))[0].password_env == "PCO_WIRE_TEST_PASSWORD"


def test_a_failed_test_can_still_be_saved(tmp_path: Path) -> None:
    path = tmp_path / "gateway.toml"
    port = free_port()  # nothing listens there
    run = run_wizard(path, ["mqtt", "127.0.0.1", str(port), *[""] * 11])
    assert run.code == 0, run
    assert "FAILED (connection-refused, exit 3)" in run.output, run
    assert run.prompts[-1] == f"Save to {path} anyway? [Y/n]: "
    # The generated ID that was tried is the one kept.
    assert config.load(str(path))[0].client_id in run.output


def test_a_file_that_cannot_be_written_exits_2(tmp_path: Path) -> None:
    path = tmp_path / "missing" / "gateway.toml"
    run = run_wizard(path, [*[""] * 12, "n", ""])
    assert run.code == 2, run
    assert f"error: cannot write {str(path)!r}: No such file or directory" in run.output, run


# ---------------------------------------------------------------------------- terminal


class Terminal:
    """A process started by ``pty.fork()``: the slave side of a new pseudo-terminal is its
    stdin, stdout, stderr and controlling terminal (so Ctrl-C is a SIGINT, as at a real
    one); the test reads the screen and types on the master side. Every read has a
    deadline; at the end the process is killed, by its PID, if it is still running."""

    def __init__(self, argv: list[str], cwd: Path) -> None:
        pid, self.master = pty.fork()
        if pid == 0:  # the child: nothing but exec, and never back into pytest
            try:
                os.chdir(cwd)
                os.execv(argv[0], argv)
            finally:
                os._exit(127)
        self.pid = pid
        self.status: int | None = None
        self.screen = bytearray()
        self._seen = 0

    def __enter__(self) -> Terminal:
        return self

    def __exit__(self, *exc: object) -> None:
        if self.status is None:
            os.kill(self.pid, signal.SIGKILL)
            os.waitpid(self.pid, 0)  # SIGKILL cannot be caught: this returns
        os.close(self.master)

    def echo(self) -> bool:
        """Whether the terminal echoes what is typed (the master shares its termios)."""
        return bool(termios.tcgetattr(self.master)[3] & termios.ECHO)

    @property
    def text(self) -> str:
        return self.screen.decode(errors="replace").replace("\r\n", "\n")

    def expect(self, text: str, timeout: float = EXPECT_TIMEOUT) -> None:
        """Read until ``text`` appears after what the last expect() found."""
        wanted = text.encode()
        deadline = time.monotonic() + timeout
        while (found := self.screen.find(wanted, self._seen)) < 0:
            if not self._read(deadline):
                raise AssertionError(f"no {text!r} within {timeout} s; the screen:\n{self.text}")
        self._seen = found + len(wanted)

    def type(self, line: str) -> None:
        # Enter sends a carriage return; the terminal (ICRNL) makes it a newline.
        os.write(self.master, line.encode() + b"\r")

    def finish(self, timeout: float = RUN_TIMEOUT) -> int:
        """Read to the end of the output; the exit status."""
        deadline = time.monotonic() + timeout
        while self._read(deadline):
            pass
        # The terminal closed, so the process is ending: poll briefly, never past the deadline.
        while self.status is None:
            pid, status = os.waitpid(self.pid, os.WNOHANG)
            if pid:
                self.status = os.waitstatus_to_exitcode(status)
            elif time.monotonic() > deadline:
                raise AssertionError(f"the wizard did not end in {timeout} s:\n{self.text}")
            else:
                time.sleep(0.01)
        return self.status

    def _read(self, deadline: float) -> bool:
        """Whatever arrives before ``deadline``; False at the deadline or the end."""
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            return False
        ready, _, _ = select.select([self.master], [], [], remaining)
        if not ready:
            return False
        try:
            data = os.read(self.master, 4096)
        except OSError:  # EIO: the last slave descriptor closed, the process ended
            data = b""
        self.screen += data
        return bool(data)


def test_at_a_real_terminal(broker: Broker, tmp_path: Path) -> None:
    path = tmp_path / "gateway.toml"
    with Terminal(_argv(path), tmp_path) as term:
        for prompt, answer in [
            ("scheme (mqtt, mqtts, ws, wss) [mqtt]: ", ""),
            ("host (name or address) [localhost]: ", "127.0.0.1"),
            ("port [1883]: ", str(broker.ports.password)),
            ("client ID (blank: generated on the first connection, kept in the file): ", "bad-id"),
            ("  refused: expected 1 to 23 characters, only 0-9, a-z and A-Z, got '-'", None),
            ("client ID (blank: generated on the first connection, kept in the file): ", ""),
            ("user name (blank: none): ", broker.username),
            ("password source (", "keep"),
            ("password (not shown): ", broker.password),
            ("response timeout (", ""),
            ("keep-alive (", ""),
            ("clean session (", ""),
            ("protocol (", ""),
            ("proxy (", ""),
            ("add a will? (", ""),
            ("Test the connection now? [Y/n]: ", ""),
            ("OK: connected", None),
            (f"Save to {path}? [Y/n]: ", ""),
            (f"saved {path} (readable by you only: it holds a password)", None),
        ]:
            term.expect(prompt)
            if answer is not None:
                # Echo goes off before the password prompt is written, on again after.
                assert term.echo() == (answer != broker.password), (prompt, term.text)
                term.type(answer)
        code = term.finish()
    print(term.text)  # the transcript, for pytest -s
    assert code == 0, term.text
    # Echo is on for every other answer, so its absence for the password means something.
    assert f"[1883]: {broker.ports.password}\n" in term.text
    assert f"(blank: none): {broker.username}\n" in term.text
    assert broker.password.encode() not in term.screen
    assert "password (not shown): \n" in term.text
    assert _mode(path) == 0o600
    settings = config.load(str(path))[0]
    assert settings.password == broker.password and settings.username == broker.username
    tested = _TESTED_ID.search(term.text)
    assert tested is not None and settings.client_id == tested.group(1)


def test_ctrl_c_at_the_password_prompt_restores_echo(tmp_path: Path) -> None:
    path = tmp_path / "gateway.toml"
    with Terminal(_argv(path), tmp_path) as term:
        for prompt, answer in [
            ("scheme (", ""),
            ("host (", ""),
            ("port [1883]: ", ""),
            ("client ID (", ""),
            ("user name (", "plant"),
            ("password source (", "keep"),
        ]:
            term.expect(prompt)
            term.type(answer)
        term.expect("password (not shown): ")
        assert not term.echo()
        os.write(term.master, b"half a secr\x03")
        term.expect("interrupted: nothing saved")
        assert term.echo(), "the terminal was left without echo"
        code = term.finish()
    assert code == 130, term.text
    assert b"half a secr" not in term.screen
    assert not path.exists()
