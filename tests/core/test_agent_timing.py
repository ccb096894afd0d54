"""Per-agent timing (issue 2): an agent's own wrap-up, and their rest after a ring they let go."""

from __future__ import annotations

import pytest

from switchboard.core import commands as c
from switchboard.core import events as e
from switchboard.core.events import LegFailure

from .harness import MONDAY_10, Driver, config, kinds, of, one

T = MONDAY_10
CALLER = "+380671111111"
OTHER = "+380672222222"

BASE = """
timezone: Europe/Kyiv
country: UA
numbers: [{number: "100", scheme: main}]
agents:
%s
schemes:
  main:
    rules: [{name: all, steps: [{queue: sales}]}]
queues:
  sales:
    members: ["201", "202"]
    strategy: %s
    wrapup: 10
    ring_timeout: 15
    retry: 5
    whisper: {wait_time: false, number_name: false}
"""


def driver(agents: str, strategy: str = "linear") -> Driver:
    return Driver(config(BASE % (agents, strategy)), now=T)


def states(out: list[c.Command]) -> list[tuple[str, str, float]]:
    return [(x.agent_id, x.state, x.at) for x in of(c.AgentStateChanged, out)]


def rung(out: list[c.Command]) -> list[tuple[str | None, str | None]]:
    """(call, agent) for every leg rung in ``out``."""
    return [(r.call_id, t.agent_id) for r in of(c.Ring, out) for t in r.legs]


# --------------------------------------------------------------------------- wrap-up


def test_an_agents_own_wrapup_wins_over_the_queues() -> None:
    d = driver('  - {id: "201", wrapup: 3}\n  - {id: "202", wrapup: 0}')
    d.arrive("c1")
    leg1 = d.ringing()["201"]
    d.answer(leg1)
    d.arrive("c2", caller=OTHER)
    leg2 = d.ringing()["202"]
    d.answer(leg2)
    d.now = T + 60
    out = d.send(e.LegHungUp(leg1))
    assert states(out) == [("201", "wrapup", T + 60)]
    d.now = T + 61
    out = d.arrive("c3", caller="+380673333333")
    assert not of(c.Ring, out), "201 is in wrap-up, 202 talks: c3 waits"
    assert [x.skipped for x in of(c.Decision, out) if x.skipped] == [
        (("201", "wrapup"), ("202", "talking"))]
    assert not of(c.Ring, d.advance(1.5))
    out = d.advance(0.5)  # T + 63: the end of 201's 3 s, not the queue's 10 s
    assert kinds(out) == ["Ring"]
    assert states(out) == [("201", "idle", T + 63), ("201", "ringing", T + 63)]
    ring = one(c.Ring, out)
    assert (ring.call_id, ring.caller_id, ring.timeout) == ("c3", "+380673333333", 15)
    assert [t.agent_id for t in ring.legs] == ["201"]
    # wrapup: 0 beats the queue's 10: idle as soon as the call ends.
    d.now = T + 70
    out = d.send(e.CallerHungUp("c2"))
    assert states(out) == [("202", "idle", T + 70)]


def test_without_an_own_wrapup_the_queues_applies() -> None:
    d = driver('  - {id: "201"}\n  - {id: "202", status: break}')
    d.arrive("c1")
    leg = d.ringing()["201"]
    d.answer(leg)
    d.arrive("c2", caller=OTHER)
    d.now = T + 60
    d.send(e.LegHungUp(leg))
    assert not of(c.Ring, d.advance(9.5))
    assert rung(d.advance(0.5)) == [("c2", "201")]


# --------------------------------------------------------------------------- retry (rest)

RESTING = "resting 30 s after an unanswered ring"


def test_an_agent_who_let_a_ring_go_rests_then_gets_a_waiting_caller_at_once() -> None:
    d = driver('  - {id: "201", retry: 30}\n  - {id: "202"}')
    out = d.arrive("c1")
    assert rung(out) == [("c1", "201")]
    out = d.advance(15)  # T + 15: 201 let it ring out; 202 is rung, 201 rests until T + 45
    assert kinds(out) == ["CancelRing", "Ring"]
    assert rung(out) == [("c1", "202")]
    assert states(out) == [("201", "idle", T + 15), ("202", "ringing", T + 15)]
    ring_decision = [x for x in of(c.Decision, out) if x.tried == ("202",)]
    assert [x.skipped for x in ring_decision] == [(("201", RESTING),)]
    d.now = T + 16
    d.answer(d.ringing(out)["202"])
    d.now = T + 20
    out = d.arrive("c2", caller=OTHER)
    assert not of(c.Ring, out)
    assert [x.skipped for x in of(c.Decision, out) if x.skipped] == [
        (("201", RESTING), ("202", "talking"))]
    assert not of(c.Ring, d.advance(24.5))
    out = d.advance(0.5)  # T + 45: the rest is over, c2 gets 201 there and then
    assert kinds(out) == ["Ring"]
    assert rung(out) == [("c2", "201")]
    assert states(out) == [("201", "ringing", T + 45)], "resting was never a state"


@pytest.mark.parametrize(("reason", "rests"), [
    ("no_answer", True), ("busy", True), ("rejected", True),
    ("unavailable", False), ("error", False),
])
def test_no_answer_busy_and_rejected_make_the_agent_rest_a_technical_failure_does_not(
        reason: LegFailure, rests: bool) -> None:
    d = driver('  - {id: "201", retry: 30}\n  - {id: "202", status: break}')
    d.arrive("c1")
    d.send(e.LegFailed(d.ringing()["201"], reason), at=T + 2)
    agent = d.sb.agents["201"]
    assert d.sb.agent_states.why_unavailable(agent, d.now) == (RESTING if rests else None)
    # The same caller: after the rest (if any) the queue's own 5 s pause before a new round.
    ring_at = T + 37 if rests else T + 7
    assert not of(c.Ring, d.advance(ring_at - 0.5 - d.now))
    assert rung(d.advance(0.5)) == [("c1", "201")]


def test_hanging_up_during_the_whisper_is_a_rejection_and_rests_the_agent() -> None:
    d = Driver(config(BASE.replace("whisper: {wait_time: false, number_name: false}",
                                   "whisper: {wait_time: true}")
                      % ('  - {id: "201", retry: 30}\n  - {id: "202", status: break}',
                         "linear")), now=T)
    d.arrive("c1")
    leg = d.ringing()["201"]
    assert of(c.Whisper, d.send(e.LegAnswered(leg), at=T + 1))
    d.send(e.LegHungUp(leg), at=T + 2)
    assert d.sb.agent_states.why_unavailable(d.sb.agents["201"], d.now) == RESTING


def test_a_ring_won_by_another_agent_or_an_answered_call_starts_no_rest() -> None:
    d = driver('  - {id: "201", retry: 30, wrapup: 0}\n  - {id: "202", retry: 30, wrapup: 0}',
               "ring_all")
    d.arrive("c1")
    legs = d.ringing()
    d.now = T + 2
    d.answer(legs["202"])  # 201's ring is cancelled: 202 won it
    out = d.arrive("c2", caller=OTHER)
    assert rung(out) == [("c2", "201")]
    d.answer(d.ringing(out)["201"])
    d.now = T + 60
    d.send(e.CallerHungUp("c1"))  # 202 answered and talked: free at once (wrap-up 0)
    out = d.arrive("c3", caller="+380673333333")
    assert rung(out) == [("c3", "202")]


def test_a_ring_step_also_skips_a_resting_agent() -> None:
    text = (BASE % ('  - {id: "201", retry: 30}\n  - {id: "202", status: break}', "linear")
            ).replace("numbers: [{number: \"100\", scheme: main}]",
                      "numbers: [{number: \"100\", scheme: main}, {number: \"200\", "
                      "scheme: direct}]")
    text = text.replace("queues:\n", "  direct:\n    rules: [{name: all, steps: "
                        "[{ring: {agents: [\"201\"], timeout: 20}}, {hangup: true}]}]\n"
                        "queues:\n")
    d = Driver(config(text), now=T)
    d.arrive("c1")
    d.advance(15)  # 201 let c1 ring out: resting until T + 45
    out = d.arrive("c2", caller=OTHER, dialed="200")
    assert not of(c.Ring, out)
    assert [x.skipped for x in of(c.Decision, out) if x.step == "ring"] == [(("201", RESTING),)]


def test_an_agent_who_lets_a_callbacks_ring_go_rests_too() -> None:
    d = driver('  - {id: "201", retry: 30}\n  - {id: "202", status: break}')
    out = d.send(e.CallbackRequested(1, OTHER, queue="sales"))
    assert [t.agent_id for r in of(c.Ring, out) for t in r.legs] == ["201"]
    d.send(e.LegFailed(d.ringing(out)["201"], "busy"), at=T + 2)
    assert d.sb.agent_states.why_unavailable(d.sb.agents["201"], d.now) == RESTING
    out = d.arrive("c1", caller=CALLER)
    assert not of(c.Ring, out)
    assert rung(d.advance(30)) == [("c1", "201")], "at T + 32 the caller gets 201"
