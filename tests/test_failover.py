"""Several servers (failover), on the fake clock of test_supervisor: the order of the
list, the rounds, the backoff counted by rounds, one client identity, redirects, and the
settings and files that carry a list. The real brokers are in test_failover_integration.
"""

from __future__ import annotations

from typing import Any

import pytest

from pco_wire import InvalidSettings, ServerRefused, Settings
from pco_wire.config import dumps, loads, masked
from pco_wire.errors import ServerDisconnected
from pco_wire.events import Event, Failover, GivingUp, Reconnecting, TakenOver
from pco_wire.packets import ConnAckProperties, DisconnectProperties, ReasonCode
from pco_wire.supervisor import Supervisor
from tests.test_supervisor import (
    LONG,
    MAX_DELAY,
    MIN_DELAY,
    START,
    Accepted,
    Failed,
    Step,
    closed,
    draws,
    jitter,
    play,
    refused,
    unreachable,
)

A, B, C = "mqtt://127.0.0.1:1001", "mqtt://127.0.0.1:1002", "mqtt://127.0.0.1:1003"


def _listed(*servers: str, **options: Any) -> Settings:
    fast = {"reconnect_min_delay": MIN_DELAY, "reconnect_max_delay": MAX_DELAY}
    return Settings(list(servers or (A, B, C)), **{**fast, **options})


def _uris(attempts: list[Any]) -> list[str]:
    return [str(attempt.uri) for attempt in attempts]


def _moves(events: list[Event]) -> list[tuple[str, str, int]]:
    return [(e.left, e.server_uri, e.position) for e in events if isinstance(e, Failover)]


def test_the_first_connection_goes_down_the_list_at_once() -> None:
    dead, bad = unreachable(), refused(5)
    trace = play(Supervisor(_listed()), [Failed(dead), Failed(bad), Accepted(LONG, None)])
    assert _uris(trace.attempts) == [A, B, C]
    assert trace.delays == []  # no backoff within a round
    assert trace.events == [Failover(dead, A, B, 2, 3), Failover(bad, B, C, 3, 3)]


def test_one_client_identity_for_every_server() -> None:
    trace = play(Supervisor(_listed()), [Failed(unreachable()), Failed(refused(3)), Accepted(1)])
    ids = {attempt.client_id for attempt in trace.attempts}
    assert len(ids) == 1 and next(iter(ids)).startswith("pw")
    assert all(attempt.generated_id for attempt in trace.attempts)


def test_a_first_connection_failing_everywhere_raises_the_first_failure() -> None:
    dead, bad, busy = unreachable(), refused(4), refused(3)
    supervisor = Supervisor(_listed())
    trace = play(supervisor, [Failed(dead), Failed(bad), Failed(busy)])
    assert trace.raised is dead  # the exit status of the first server's failure
    assert _uris(trace.attempts) == [A, B, C]
    code, category, sentence = supervisor.diagnose(dead)
    assert (code, category) == supervisor.attempt.diagnose(dead)[:2]  # type: ignore[union-attr]
    assert sentence.startswith("no server of the list accepted the connection: (1) " + A)
    for n, uri in ((2, B), (3, C)):
        assert f"({n}) {uri}: " in sentence
    assert "user name or password" in sentence  # B's own words


def test_a_loss_goes_down_the_list_then_backs_off_by_rounds() -> None:
    # Connected to C (the first two down); C lost: A and B at once, then the backoff, then
    # whole rounds from the top of the list, each round one backoff step.
    lost = closed()
    down = [unreachable() for _ in range(8)]
    script: list[Step] = [
        Failed(down[0]),
        Failed(down[1]),
        Accepted(LONG, lost),
        Failed(down[2]),
        Failed(down[3]),  # round 1 (C lost, A, B): one step
        Failed(down[4]),
        Failed(down[5]),
        Failed(down[6]),  # round 2 (A, B, C): the next step
        Accepted(LONG, None),
    ]
    trace = play(Supervisor(_listed(), random=draws(0.5)), script)
    assert _uris(trace.attempts) == [A, B, C, A, B, A, B, C, A]
    assert trace.delays == [0.0, jitter(1, 0.5), jitter(2, 0.5)]
    reconnecting = [e for e in trace.events if isinstance(e, Reconnecting)]
    assert [e.attempt for e in reconnecting] == [1, 2]
    assert _moves(trace.events) == [
        (A, B, 2),
        (B, C, 3),
        (C, A, 1),  # lost
        (A, B, 2),
        (A, B, 2),  # round 2
        (B, C, 3),
    ]


def test_one_server_is_as_before_a_loss_backs_off_at_once() -> None:
    trace = play(
        Supervisor(_listed(A), random=draws(0.5)),
        [Accepted(LONG), Failed(unreachable()), Accepted(LONG, None)],
    )
    assert trace.delays == [jitter(1, 0.5), jitter(2, 0.5)]
    assert not any(isinstance(e, Failover) for e in trace.events)


def test_the_backoff_grows_by_rounds_not_by_attempts() -> None:
    # Five rounds of three servers: the ceilings 2, 4, 8, 8, 8 (not 15 steps).
    script: list[Step] = [Accepted(LONG)]
    script += [Failed(unreachable()) for _ in range(2 + 3 * 4)]
    trace = play(Supervisor(_listed(), random=draws(0.999)), script)
    assert trace.delays[0] == 0.0
    assert trace.delays[1:] == [jitter(n, 0.999) for n in range(1, 6)]


def test_a_round_is_judged_by_a_failure_that_may_mend() -> None:
    lost, denied = closed(), refused(5)
    trace = play(
        Supervisor(_listed(A, B), random=draws(0.5)), [Accepted(LONG, lost), Failed(denied)]
    )
    # B's refusal is fatal, but the loss of A may mend: one backoff step, not the end.
    assert trace.delays == [0.0, jitter(1, 0.5)]
    assert trace.events[-1] == Reconnecting(lost, jitter(1, 0.5), 1)


def test_every_refusal_of_a_round_fatal_gives_up_with_the_first() -> None:
    first, second = refused(5), refused(4)
    lost = ServerDisconnected(ReasonCode.NOT_AUTHORIZED)
    trace = play(Supervisor(_listed(A, B)), [Accepted(LONG, lost), Failed(first)])
    assert trace.events[-1] == GivingUp(lost)
    trace = play(
        Supervisor(_listed(A, B, C)),
        [Accepted(LONG, lost), Failed(first), Failed(second)],
    )
    assert trace.events[-1] == GivingUp(lost)
    assert _uris(trace.attempts) == [A, B, C]


def test_a_takeover_said_is_not_run_from() -> None:
    taken = ServerDisconnected(ReasonCode.SESSION_TAKEN_OVER)
    supervisor = Supervisor(_listed(protocol="5"), random=draws(0.5))
    trace = play(supervisor, [Accepted(LONG, taken), Accepted(LONG, None)])
    assert trace.delays == [MAX_DELAY]
    assert _uris(trace.attempts) == [A, A]
    assert isinstance(trace.events[0], TakenOver)


def test_a_redirect_goes_to_its_server_and_then_back_to_the_list() -> None:
    moved = ServerRefused(
        ReasonCode.USE_ANOTHER_SERVER, ConnAckProperties(server_reference="127.0.0.9:1999")
    )
    there = unreachable()
    supervisor = Supervisor(_listed(protocol="5", follow_redirects=True))
    trace = play(supervisor, [Failed(moved), Failed(there), Accepted(LONG, None)])
    assert _uris(trace.attempts) == [A, "mqtt://127.0.0.9:1999", B]
    assert _moves(trace.events) == [("mqtt://127.0.0.9:1999", B, 2)]


def test_a_disconnect_that_redirects_and_a_loss_there() -> None:
    moved = ServerDisconnected(
        ReasonCode.USE_ANOTHER_SERVER, DisconnectProperties(server_reference="127.0.0.9:1999")
    )
    supervisor = Supervisor(_listed(protocol="5", follow_redirects=True), random=draws(0.5))
    trace = play(supervisor, [Accepted(LONG, moved), Accepted(LONG, closed()), Accepted(1, None)])
    # The redirect at once; its connection lost: on down the list from A's place.
    assert _uris(trace.attempts) == [A, "mqtt://127.0.0.9:1999", B]
    assert trace.delays == [0.0, 0.0]


def test_stop_during_a_round_ends_it() -> None:
    supervisor = Supervisor(_listed())
    supervisor.next_attempt()
    supervisor.opened(START)
    assert supervisor.ended(closed(), START + 1) == 0.0
    supervisor.next_attempt()
    supervisor.stop()
    assert not supervisor.fallback(unreachable())
    assert supervisor.failed(unreachable(), START + 2) is None


# ---------------------------------------------------------------------------- settings


def test_a_list_in_the_settings() -> None:
    settings = Settings([A, "mqtt://user:secret@127.0.0.1:1002"])
    assert settings.server_uri == A
    assert settings.servers == (A, "mqtt://user:secret@127.0.0.1:1002")
    assert "secret" not in repr(settings)
    assert settings.replace(keep_alive=5).servers == settings.servers
    assert settings.replace(server_uri=C).servers == (C,)
    assert Settings([A]) == Settings(A)
    assert settings.check().port == 1001


@pytest.mark.parametrize(
    ("servers", "problem"),
    [
        ([], ("server_uri", "expected at least one URI, got an empty list")),
        ([A, 5], ("server_uri[1]", "expected a URI as text, got an integer")),
        ([A, B, "http://x"], ("server_uri[2]", "expected scheme mqtt, mqtts, ws or wss")),
    ],
)
def test_a_bad_list_names_the_place(servers: list[Any], problem: tuple[str, str]) -> None:
    with pytest.raises(InvalidSettings) as caught:
        Settings(servers).check()
    assert any(f == problem[0] and r.startswith(problem[1]) for f, r in caught.value.problems)


def test_every_server_is_checked_before_the_first_is_tried() -> None:
    with pytest.raises(InvalidSettings) as caught:
        Supervisor(_listed(A, "mqtt://127.0.0.1:99999")).next_attempt()
    assert caught.value.problems[0][0] == "server_uri[1]"


def test_a_list_in_a_settings_file() -> None:
    text = f'server_uri = ["{A}", "mqtt://u:pw@127.0.0.1:1002"]\nclient_id = "gw1"\n'
    settings = loads(text)
    assert settings.servers == (A, "mqtt://u:pw@127.0.0.1:1002")
    assert loads(dumps(settings)) == settings
    assert f'server_uri = ["{A}", ' in dumps(settings)
    assert masked(settings).servers == (A, "mqtt://u:***@127.0.0.1:1002")
    for bad, reason in (
        ("server_uri = []", "got an empty list"),
        ("server_uri = [1]", "got a list"),
    ):
        with pytest.raises(InvalidSettings) as caught:
            loads(bad)
        assert caught.value.problems[0][0] == "server_uri"
        assert reason in caught.value.problems[0][1]


def test_an_assigned_client_id_is_not_taken_to_another_server() -> None:
    supervisor = Supervisor(_listed(protocol="5", server_assigns_id=True))
    assert supervisor.next_attempt().client_id == ""
    supervisor.opened(START)
    supervisor.client_id = "assigned-by-a"  # what opened() keeps from A's CONNACK
    assert supervisor.ended(closed(), START + LONG) == 0.0
    assert supervisor.next_attempt().client_id == ""
