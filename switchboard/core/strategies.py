"""Ring strategies (MISSION Q2, R2): pure rankers registered by name.

A ranker gets the free candidate agents of a queue (already filtered: registered, available,
idle, on shift, lowest penalty) in member order, and returns them best first. Cursors live in
``QueueCursor`` (queue state), not here. ``ring_all`` rings every candidate at once; every
other strategy rings the first one and moves on to the next when it does not answer.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from operator import attrgetter

from switchboard.core.state import AgentRuntime


@dataclass(slots=True)
class QueueCursor:
    """Per-queue memory used by strategies."""

    members: list[str]  # member order (by penalty, then as listed)
    last_rung: int = -1  # index into members, for round robin with memory
    calls_by_agent: dict[str, int] = field(default_factory=dict)
    talk_by_agent: dict[str, float] = field(default_factory=dict)


Ranker = Callable[[list[AgentRuntime], QueueCursor, random.Random], list[AgentRuntime]]
RANKERS: dict[str, Ranker] = {}


def ranker(name: str) -> Callable[[Ranker], Ranker]:
    def register(fn: Ranker) -> Ranker:
        RANKERS[name] = fn
        return fn

    return register


@ranker("ring_all")
@ranker("linear")
def _in_order(
    cands: list[AgentRuntime], cur: QueueCursor, rng: random.Random
) -> list[AgentRuntime]:
    return cands


@ranker("round_robin")
def _round_robin(
    cands: list[AgentRuntime], cur: QueueCursor, rng: random.Random
) -> list[AgentRuntime]:
    # Asterisk's rrmemory: start after the member rung last time, wrapping around.
    n = len(cur.members) or 1
    pos = {a: i for i, a in enumerate(cur.members)}
    start = cur.last_rung + 1
    return sorted(cands, key=lambda a: (pos.get(a.id, 0) - start) % n)


@ranker("random")
def _random(cands: list[AgentRuntime], cur: QueueCursor, rng: random.Random) -> list[AgentRuntime]:
    out = list(cands)
    rng.shuffle(out)
    return out


@ranker("weighted_random")
def _weighted_random(
    cands: list[AgentRuntime], cur: QueueCursor, rng: random.Random
) -> list[AgentRuntime]:
    # Efraimidis-Spirakis: key u^(1/w), highest first; a weighted order without replacement.
    keyed = [(rng.random() ** (1.0 / a.config.weight), i) for i, a in enumerate(cands)]
    keyed.sort(reverse=True)
    return [cands[i] for _, i in keyed]


Key = Callable[[AgentRuntime], float]
KEYS: dict[str, Callable[[QueueCursor], Key]] = {}
"""Strategies that order by a key, lowest first: the best one is ``min``, not a sort."""


def keyed(name: str) -> Callable[[Callable[[QueueCursor], Key]], Callable[[QueueCursor], Key]]:
    def register(make_key: Callable[[QueueCursor], Key]) -> Callable[[QueueCursor], Key]:
        KEYS[name] = make_key
        RANKERS[name] = lambda cands, cur, rng: sorted(cands, key=make_key(cur))
        return make_key

    return register


_idle_since: Key = attrgetter("idle_since")


@keyed("longest_idle")
def _longest_idle(cur: QueueCursor) -> Key:
    return _idle_since


@keyed("fewest_calls")
def _fewest_calls(cur: QueueCursor) -> Key:
    calls = cur.calls_by_agent
    return lambda a: calls.get(a.id, 0)


@keyed("least_talk_time")
def _least_talk(cur: QueueCursor) -> Key:
    talk = cur.talk_by_agent
    return lambda a: talk.get(a.id, 0.0)


def rank(
    strategy: str, cands: Sequence[AgentRuntime], cursor: QueueCursor, rng: random.Random
) -> list[AgentRuntime]:
    """Candidates best first, by the named strategy."""
    return RANKERS[strategy](list(cands), cursor, rng)


def best(
    strategy: str, cands: Sequence[AgentRuntime], cursor: QueueCursor, rng: random.Random
) -> AgentRuntime:
    """The first of ``rank``, found without ordering the rest where the strategy allows.

    ``min`` keeps the first of equal keys, as the stable sort does, so both agree."""
    make_key = KEYS.get(strategy)
    if make_key is None:
        return RANKERS[strategy](list(cands), cursor, rng)[0]
    return min(cands, key=make_key(cursor))
