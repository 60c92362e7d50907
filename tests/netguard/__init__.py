"""The network guard on the pytest side (the guard itself: tests/netguard/sitecustomize.py).

:func:`activate`, called by tests/conftest.py and benchmarks/conftest.py as they are
imported, installs the guard in the pytest process and puts this directory first on
PYTHONPATH, with a log file, for every process the tests start. :func:`new_violations`
returns what was refused since its last call, in this process or in a child. Both
conftests import the autouse fixture :func:`network_guard`, which fails the test during
which that happened, and call :func:`report_leftovers` when the session ends.
:func:`expected_violations` is for the tests of the guard itself.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from .sitecustomize import (
    HOSTS_VARIABLE,
    LOG_VARIABLE,
    NetworkGuardError,
    install,
)

__all__ = [
    "DIRECTORY",
    "HOSTS_VARIABLE",
    "LOG_VARIABLE",
    "NetworkGuardError",
    "activate",
    "expected_violations",
    "network_guard",
    "new_violations",
    "report_leftovers",
]

DIRECTORY = Path(__file__).resolve().parent

_seen = [0]  # lines of the log already handed out


def activate() -> None:
    """Guard this process and every Python process it starts from now on (idempotent)."""
    install(resolver=True)
    paths = os.environ.get("PYTHONPATH", "").split(os.pathsep)
    if str(DIRECTORY) not in paths:
        os.environ["PYTHONPATH"] = os.pathsep.join([str(DIRECTORY), *filter(None, paths)])
    if not os.environ.get(LOG_VARIABLE):
        handle, name = tempfile.mkstemp(prefix="pco_wire-netguard-", suffix=".log")
        os.close(handle)
        os.environ[LOG_VARIABLE] = name


def _log_lines() -> list[str]:
    try:
        text = Path(os.environ[LOG_VARIABLE]).read_text(encoding="utf-8")
    except (KeyError, OSError):
        return []
    return text.splitlines()


def new_violations() -> list[str]:
    """What the guard refused since the last call, here or in a child process (all of
    them write to the log)."""
    lines = _log_lines()
    found = lines[_seen[0] :]
    _seen[0] = len(lines)
    return found


@contextmanager
def expected_violations() -> Iterator[list[str]]:
    """Within the block, what the guard refuses (here or in children sharing the log) is
    collected into the list yielded, not reported as a failure of the test."""
    new_violations()
    caught: list[str] = []
    try:
        yield caught
    finally:
        caught.extend(new_violations())


@pytest.fixture(autouse=True)
def network_guard() -> Iterator[None]:
    """Fails the test if the guard refused anything during it, here or in a process it
    started, even when the code under test swallowed the guard's error."""
    # Refused since the last test: in a session fixture, or by a process left running.
    refused = new_violations()
    if refused:
        pytest.fail("\n".join(refused), pytrace=False)
    yield
    refused = new_violations()
    if refused:
        pytest.fail("\n".join(refused), pytrace=False)


def report_leftovers(session: pytest.Session) -> None:
    """What was refused after the last test fails the session."""
    refused = new_violations()
    if refused:
        print("\n" + "\n".join(refused))
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
