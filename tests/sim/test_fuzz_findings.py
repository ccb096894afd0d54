"""What tests/sim/test_sim_fuzz.py found in the simulator, each as an exact test."""

from __future__ import annotations

from typing import Any

import pytest

from switchboard.config.model import Config
from switchboard.sim.erlang import agents_needed, erlang_a, erlang_b
from switchboard.sim.simulator import run_simulation


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
