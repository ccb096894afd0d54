"""Ring strategies (MISSION Q2, R2): who gets rung first, with seeds and counters explicit."""

from __future__ import annotations

from collections import Counter

from switchboard.core import commands as c
from switchboard.core import events as e

from .harness import Driver, config, of, one

TEXT = """
timezone: Europe/Kyiv
numbers: [{number: "100", scheme: main}]
agents:
  - {id: "201", weight: 1}
  - {id: "202", weight: 1}
  - {id: "203", weight: 8}
schemes: {main: {rules: [{name: all, steps: [{queue: q}]}]}}
queues:
  q:
    members: ["201", "202", "203"]
    strategy: %s
    wrapup: 0
    whisper: {wait_time: false, number_name: false}
"""


def rung(out: list[c.Command]) -> list[str]:
    return [t.agent_id or "" for r in of(c.Ring, out) for t in r.legs]


def serve(d: Driver, call: str, talk: float = 60.0) -> str:
    """A call arrives, the rung agent answers, talks ``talk`` s and hangs up; who took it."""
    out = d.arrive(call, caller=f"+38067{sum(map(ord, call)) * 7919 % 10**7:07d}")
    ring = one(c.Ring, out)
    leg = ring.legs[0]
    d.answer(leg.leg_id)
    d.now += talk
    d.send(e.LegHungUp(leg.leg_id))
    d.now += 1
    return leg.agent_id or ""


def test_ring_all_rings_every_free_agent_at_once() -> None:
    d = Driver(config(TEXT % "ring_all"))
    assert rung(d.arrive("c1")) == ["201", "202", "203"]


def test_linear_always_starts_from_the_first_member() -> None:
    d = Driver(config(TEXT % "linear"))
    assert [serve(d, f"c{i}") for i in range(3)] == ["201", "201", "201"]


def test_round_robin_remembers_where_it_stopped() -> None:
    d = Driver(config(TEXT % "round_robin"))
    assert [serve(d, f"c{i}") for i in range(5)] == ["201", "202", "203", "201", "202"]


def test_round_robin_skips_a_busy_member_and_continues_after_it() -> None:
    d = Driver(config(TEXT % "round_robin"))
    d.arrive("long")
    d.answer(d.ringing()["201"])  # 201 is now talking for a while
    assert [serve(d, f"c{i}") for i in range(3)] == ["202", "203", "202"]


def test_longest_idle_picks_who_has_waited_longest_since_their_last_call() -> None:
    d = Driver(config(TEXT % "longest_idle"))
    # Everyone idle since registration (same instant): member order breaks the tie.
    assert serve(d, "c1") == "201"
    assert serve(d, "c2") == "202"
    assert serve(d, "c3") == "203"
    assert serve(d, "c4") == "201"


def test_longest_idle_counts_from_the_last_call_not_from_a_ring_left_unanswered() -> None:
    """As Asterisk's leastrecent: 201 let c1's ring go unanswered, so 201 still has had no
    call at all and is first for c2, before 203 (also no call; member order)."""
    d = Driver(config(TEXT % "longest_idle"))
    out = d.arrive("c1")
    assert rung(out) == ["201"]
    out = d.advance(20)  # the queue's ring timeout: 202 is next
    assert rung(out) == ["202"]
    leg = one(c.Ring, out).legs[0].leg_id
    d.answer(leg)
    d.now += 60
    d.send(e.LegHungUp(leg))
    d.now += 1
    assert serve(d, "c2") == "201"


def test_fewest_calls_prefers_the_agent_who_took_the_fewest() -> None:
    d = Driver(config(TEXT % "fewest_calls"))
    d.send(e.AgentStatusChanged("203", "break"))
    serve(d, "c1")  # 201
    serve(d, "c2")  # 202
    d.send(e.AgentStatusChanged("203", "available"))
    assert serve(d, "c3") == "203"


def test_least_talk_time_balances_load_not_count() -> None:
    d = Driver(config(TEXT % "least_talk_time"))
    d.send(e.AgentStatusChanged("203", "break"))
    assert serve(d, "c1", talk=600) == "201"
    assert serve(d, "c2", talk=30) == "202"
    assert serve(d, "c3", talk=30) == "202"  # 60 s total, still less than 201's 600 s
    assert serve(d, "c4", talk=30) == "202"


def test_random_is_deterministic_per_seed_and_uses_everyone() -> None:
    def picks(seed: int) -> list[str]:
        d = Driver(config(TEXT % "random"), seed=seed)
        return [serve(d, f"c{i}") for i in range(30)]

    assert picks(7) == picks(7)
    assert picks(7) != picks(8)
    assert set(picks(7)) == {"201", "202", "203"}


def test_weighted_random_follows_the_weights() -> None:
    d = Driver(config(TEXT % "weighted_random"), seed=3)
    counts = Counter(serve(d, f"c{i}") for i in range(400))
    # weights 1:1:8 -> 203 takes about 80 % of first picks.
    assert 0.7 < counts["203"] / 400 < 0.9, counts


def test_penalty_keeps_higher_penalty_members_back_until_lower_ones_are_busy() -> None:
    text = (TEXT % "ring_all").replace(
        'members: ["201", "202", "203"]',
        'members: [{agent: "201", penalty: 1}, {agent: "202", penalty: 0}, "203"]')
    d = Driver(config(text))
    assert rung(d.arrive("c1")) == ["202", "203"]
    d.answer(d.ringing()["202"])
    assert rung(d.arrive("c2", caller="+380672222222")) == ["203"]
    d.answer(d.ringing()["203"])
    assert rung(d.arrive("c3", caller="+380673333333")) == ["201"]
