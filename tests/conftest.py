"""The ``codec`` fixture: every codec test runs on both implementations.

"python" is the reference (pco_wire._codec_py), "cython" the compiled twin
(pco_wire._codec). A test takes ``codec`` and calls ``codec.encode``, ``codec.decode``
and ``codec.Framer``. If the compiled module does not import, its case fails under
PCO_WIRE_EXPECT_COMPILED=1 (as CI runs) and is skipped otherwise, saying why.
"""

from __future__ import annotations

import pytest

from tests import netguard

# First of all: nothing this process or any Python it starts does may leave loopback.
netguard.activate()

from tests.support import IMPLEMENTATIONS, Codec, load_codec  # noqa: E402


@pytest.fixture(params=list(IMPLEMENTATIONS), ids=list(IMPLEMENTATIONS))
def codec(request: pytest.FixtureRequest) -> Codec:
    name: str = request.param
    return load_codec(name)


# The broker of the integration tests: one Mosquitto per session with every listener
# (tests/broker.py) and the throwaway PKI its TLS listeners and their clients use
# (tests/pki.py). Imported here, below the codec fixture, so that block stays untouched.
from collections.abc import Iterator  # noqa: E402

from tests.broker import Broker, start_broker  # noqa: E402
from tests.pki import Pki, make_pki  # noqa: E402

BROKER_USERNAME = "gateway"
BROKER_PASSWORD = "pw-test-0451"


@pytest.fixture(scope="session")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    """Every certificate and key of tests/pki.py, made once per session."""
    return make_pki(tmp_path_factory.mktemp("pki"))


@pytest.fixture(scope="session")
def broker(tmp_path_factory: pytest.TempPathFactory, pki: Pki) -> Iterator[Broker]:
    """Mosquitto with every listener of tests.broker.Ports, for the whole session.

    ``broker.ports.<name>`` are the ports, ``broker.username``/``broker.password`` what
    the ``password`` listener accepts, ``broker.pki`` the certificates, ``broker.log``
    Mosquitto's log.
    """
    running = start_broker(
        tmp_path_factory.mktemp("mosquitto"), BROKER_USERNAME, BROKER_PASSWORD, pki
    )
    yield running
    running.stop()


# The network guard's verdict (tests/netguard), for every test.
from tests.netguard import network_guard  # noqa: E402, F401


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    netguard.report_leftovers(session)


# Tests send Ctrl-C, SIGTERM and SIGHUP to the programs they start. A shell that started
# this run in the background (or nohup) made them ignored, and an ignored signal stays
# ignored in every program started from here: give them their defaults back.
import signal  # noqa: E402

for _signum, _default in (
    (signal.SIGINT, signal.default_int_handler),
    (signal.SIGTERM, signal.SIG_DFL),
    (signal.SIGHUP, signal.SIG_DFL),
):
    if signal.getsignal(_signum) is signal.SIG_IGN:
        signal.signal(_signum, _default)


# The drivers (tests/drivers.py): a test that takes ``driver`` runs with the blocking one
# and with the asyncio one on each event loop (the standard one and uvloop), and must end
# the same way; its threads and descriptors must be back to what they were, and the asyncio
# runs clean (see drivers.Hygiene). A test that takes ``loop`` (the asyncio driver's own
# tests) runs on each loop. One marked ``standard_loop("why")`` leaves uvloop out: a test
# whose seconds go to waiting out the session's or the supervisor's own delays, which the
# tests left on uvloop wait out already, or to a hold of the test's own. A test that
# parametrizes ``driver`` or ``loop`` itself chooses.
from tests.drivers import (  # noqa: E402
    DRIVERS,
    LOOPS,
    WARNINGS_AS_ERRORS,
    Driver,
    counts,
    settled,
    warm_uvloop,
)


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "standard_loop(reason): the asyncio driver runs this test on the standard event "
        "loop only, not on uvloop too (the reason says why)",
    )


def _parametrizes(definition: pytest.Function, name: str) -> bool:
    for marker in definition.iter_markers("parametrize"):
        names = marker.args[0]
        if isinstance(names, str):
            names = [part.strip() for part in names.split(",")]
        if name in names:
            return True
    return False


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    choices: tuple[tuple[str, tuple[str, ...]], ...] = (("driver", DRIVERS), ("loop", LOOPS))
    for name, values in choices:
        if name not in metafunc.fixturenames or _parametrizes(metafunc.definition, name):
            continue
        marker = metafunc.definition.get_closest_marker("standard_loop")
        if marker is not None:
            if not (marker.args and isinstance(marker.args[0], str) and marker.args[0]):
                raise pytest.UsageError(f"{metafunc.definition.nodeid}: standard_loop(reason)")
            values = tuple(value for value in values if value != "uvloop")
        metafunc.parametrize(name, values, ids=values, indirect=True)


@pytest.fixture
def driver(request: pytest.FixtureRequest) -> Iterator[Driver]:
    chosen = Driver(request.param)
    if chosen.hygiene.loop == "uvloop":
        warm_uvloop()
    # Both drivers: an unclosed socket or a coroutine never awaited is an error.
    for action in WARNINGS_AS_ERRORS:
        request.applymarker(pytest.mark.filterwarnings(action))
    before = counts()
    with chosen.hygiene.watching():
        yield chosen
        problems = chosen.finish()
    assert not problems, f"{chosen.name}: {problems}"
    after = settled(before)
    assert after == before, f"{chosen.name}: (threads, descriptors) {before} before, {after} after"


@pytest.fixture
def loop(request: pytest.FixtureRequest) -> str:
    """The event loop a test of the asyncio driver runs on (``drivers.run_on``, or
    ``Hygiene(loop)``): "asyncio" (the standard one) or "uvloop"."""
    name: str = request.param
    if name == "uvloop":
        warm_uvloop()
    return name


# Real proxies (tests/proxies.py): Squid for HTTP CONNECT, microsocks for SOCKS5.
from tests.proxies import Proxies, start_proxies  # noqa: E402


@pytest.fixture(scope="session")
def proxies() -> Iterator[Proxies]:
    """Squid (open and authenticated ports) and microsocks (without and with a user name
    and password), on free loopback ports, for the whole session."""
    running = start_proxies()
    yield running
    running.stop()
