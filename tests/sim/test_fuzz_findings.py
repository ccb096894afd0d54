"""What tests/sim/test_sim_fuzz.py found in the simulator, each as an exact test."""

from __future__ import annotations

from collections import Counter
from typing import Any

import pytest

from switchboard.config.model import Config
from switchboard.sim.erlang import agents_needed, erlang_a, erlang_b
from switchboard.sim.simulator import run_simulation
from switchboard.sim.traffic import hour_grid


def one_queue(**traffic: Any) -> Config:
    return Config.model_validate({
        "numbers": [{"number": "100", "scheme": "s"}],
        "agents": [{"id": "201"}, {"id": "202"}],
        "schemes": {"s": {"rules": [{"name": "all", "steps": [{"queue": "q"}]}]}},
        "queues": {"q": {"members": ["201", "202"]}},
        "simulation": {"traffic": [{"number": "100", "calls_per_hour": 20, **traffic}]},
    })


def test_callers_without_patience_get_staffing_advice() -> None:
    """``patience: {kind: fixed, mean: 0}`` is valid (callers hang up at once if nobody
    is free); the staffing advice raised ValueError from Erlang A ("mean_patience must be
    > 0") and the whole run failed."""
    k = run_simulation(one_queue(patience={"kind": "fixed", "mean": 0}), 1).kpis
    assert k["calls"] > 0
    busy = [row for row in k["staffing"] if row["agent_calls_per_hour"] > 0]
    assert busy and all(row["agents_needed"] >= 1 for row in busy)


def test_erlang_a_without_patience_is_erlang_b() -> None:
    """Callers who never wait: those who find every agent busy are lost at once (M/M/c/c)."""
    rate, handle, agents = 10 / 180, 180.0, 12
    got = erlang_a(rate, handle, 0, agents, 20)
    blocked = erlang_b(10, agents)
    assert got.p_wait == pytest.approx(blocked)
    assert got.p_abandon == pytest.approx(blocked)
    assert got.mean_wait == 0.0
    assert got.service_level == pytest.approx(1 - blocked)
    assert got.occupancy == pytest.approx(10 * (1 - blocked) / agents)
    # The limit of ever shorter patience, and fewer agents than callers who would wait.
    near = erlang_a(rate, handle, 0.01, agents, 20)
    assert near.service_level == pytest.approx(got.service_level, abs=1e-3)
    assert agents_needed(rate, handle, 0.8, 20, 0) <= agents_needed(rate, handle, 0.8, 20, 60)


def dst_weekend(start: str) -> Config:
    """Two agents on all the time, a call every 3 minutes at night, Kyiv time."""
    return Config.model_validate({
        "timezone": "Europe/Kyiv",
        "numbers": [{"number": "100", "scheme": "s"}],
        "agents": [{"id": "201"}, {"id": "202"}],
        "schemes": {"s": {"rules": [{"name": "all", "steps": [{"queue": "q"}]}]}},
        "queues": {"q": {"members": ["201", "202"]}},
        "simulation": {"start": start, "days": 2, "traffic": [{
            "number": "100", "calls_per_hour": {2: 20, 3: 20, 4: 20},
            "handling": {"kind": "fixed", "mean": 60}, "repeat_callers": 0}]},
    })


@pytest.mark.parametrize("start", ["2026-10-24", "2026-03-28"])
def test_staffing_over_a_dst_change(start: str) -> None:
    """On Sunday 25 Oct 2026 Kyiv's 03:00-04:00 comes twice, on 29 Mar it never comes.
    Staffing summed both 03:00 slots and divided by the one Sunday: 4 agents on of 2, and
    twice the calls per hour; each (weekday, hour) is now averaged over its real slots."""
    config = dst_weekend(start)
    k = run_simulation(config, 5).kpis
    grid = hour_grid(config, 2)
    slots = Counter((grid.weekday[i], grid.hour[i]) for i in range(grid.hours))
    assert slots[6, 3] == (2 if start == "2026-10-24" else 0)  # the premise
    for row in k["staffing"]:
        assert row["agents_on"] == pytest.approx(2.0 if slots[row["weekday"], row["hour"]]
                                                 else 0.0)
    # calls_per_hour is a rate per real hour: times the slots, it gives back every call.
    assert sum(row["calls_per_hour"] * slots[row["weekday"], row["hour"]]
               for row in k["staffing"]) == pytest.approx(k["calls"])
