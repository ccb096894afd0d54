"""Per-agent timing (issue 2): an agent's own wrap-up and retry win over the queue's."""

from __future__ import annotations

from switchboard.core import commands as c
from switchboard.core import events as e

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
