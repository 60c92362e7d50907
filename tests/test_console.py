"""_console.Stops: a stop signal noted while the main thread shares locks with a thread
of its own, and raised where the command chooses.

``signal.raise_signal`` runs the handler before it returns, so that each step here is
in order without waiting on anything.
"""

from __future__ import annotations

import signal
import threading

import pytest

from pco_wire._console import Stopped, Stops


class Wakes:
    def __init__(self) -> None:
        self.count = 0

    def __call__(self) -> None:
        self.count += 1


def test_a_signal_is_noted_and_woken_for_not_raised() -> None:
    wakes = Wakes()
    with Stops(wakes) as stops:
        signal.raise_signal(signal.SIGTERM)
        assert (stops.signals, wakes.count) == ([signal.SIGTERM], 1)
        with pytest.raises(Stopped) as raised:
            stops.check()
    assert raised.value.status == 143


def test_check_raises_nothing_before_a_signal() -> None:
    with Stops(Wakes()) as stops:
        stops.check()
        assert stops.signals == []


def test_ctrl_c_is_a_keyboard_interrupt_and_not_a_stopped() -> None:
    with Stops(Wakes()) as stops:
        signal.raise_signal(signal.SIGINT)
        with pytest.raises(KeyboardInterrupt) as raised:
            stops.check()
    assert type(raised.value) is KeyboardInterrupt


def test_within_raising_a_signal_raises_at_once() -> None:
    wakes = Wakes()
    with Stops(wakes) as stops:
        with pytest.raises(Stopped) as raised, stops.raising():
            signal.raise_signal(signal.SIGHUP)
            pytest.fail("went on after the signal")  # pragma: no cover
        assert raised.value.status == 129 and wakes.count == 1
        # And out of it, noted again: a first signal that raised is still the first.
        assert stops.signals == [signal.SIGHUP]


def test_raising_raises_one_noted_before_it() -> None:
    with Stops(Wakes()) as stops:
        signal.raise_signal(signal.SIGTERM)
        with pytest.raises(Stopped), stops.raising():
            pytest.fail("entered with a stop noted")  # pragma: no cover


def test_a_second_signal_raises_wherever_it_lands() -> None:
    with Stops(Wakes()) as stops:
        signal.raise_signal(signal.SIGTERM)
        with pytest.raises(KeyboardInterrupt):
            signal.raise_signal(signal.SIGINT)
        assert stops.signals == [signal.SIGTERM, signal.SIGINT]


def test_the_handlers_before_are_back_after() -> None:
    before = {signum: signal.getsignal(signum) for signum in (signal.SIGINT, signal.SIGTERM)}
    with Stops(Wakes()):
        assert signal.getsignal(signal.SIGTERM) is not before[signal.SIGTERM]
    assert {signum: signal.getsignal(signum) for signum in before} == before


def test_a_signal_ignored_before_stays_ignored() -> None:
    previous = signal.signal(signal.SIGHUP, signal.SIG_IGN)
    try:
        wakes = Wakes()
        with Stops(wakes) as stops:
            assert signal.getsignal(signal.SIGHUP) is signal.SIG_IGN
            signal.raise_signal(signal.SIGHUP)
            assert (stops.signals, wakes.count) == ([], 0)
        assert signal.getsignal(signal.SIGHUP) is signal.SIG_IGN
    finally:
        signal.signal(signal.SIGHUP, previous)


class Taking:
    """A lock whose taking a signal follows at once: where the monitor's hang began, an
    exception raised by a handler inside a Condition's ``__enter__`` after it took the
    lock, before the ``with`` block that releases it."""

    def __init__(self, signum: int) -> None:
        self.lock = threading.Lock()
        self.signum = signum

    def __enter__(self) -> None:
        self.lock.acquire()
        signal.raise_signal(self.signum)

    def __exit__(self, *exc: object) -> None:
        self.lock.release()


def test_raised_there_a_signal_leaves_the_lock_held() -> None:
    # The hazard itself, with Python's own Ctrl-C handler.
    taking = Taking(signal.SIGINT)
    with pytest.raises(KeyboardInterrupt), taking:
        pytest.fail("the block ran")  # pragma: no cover
    assert taking.lock.locked()


def test_noted_there_a_signal_leaves_no_lock_held() -> None:
    taking = Taking(signal.SIGINT)
    with Stops(Wakes()) as stops:
        with taking:
            pass
        assert not taking.lock.locked() and stops.signals == [signal.SIGINT]
        with pytest.raises(KeyboardInterrupt):
            stops.check()
