"""The simulator: chance, determinism, agreement with queueing theory, a full scenario."""

from __future__ import annotations

import datetime as dt
import json
import math
import random
import statistics
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from switchboard.config.model import Config, Dist, Traffic
from switchboard.sim import erlang
from switchboard.sim.kpi import percentile
from switchboard.sim.simulator import run_simulation
from switchboard.sim.traffic import (
    CallerNumbers,
    Choice,
    agent_shifts,
    arrival_times,
    hour_grid,
    hourly_profile,
    plan_breaks,
    sampler,
    slot_rates,
    working_day,
)

VOLATILE = {"wall_seconds", "events_per_second", "calls_per_second"}
CONTRACT = {
    "calls", "answered", "abandoned", "missed", "lost", "callbacks", "service_level", "asa",
    "mean_wait", "p90_wait", "per_queue", "events_per_second", "seed", "config", "start",
    "days", "rejected", "voicemails", "channel_exhausted", "service_level_target", "occupancy",
    "eta_accuracy", "per_hour", "per_agent", "per_number", "heatmap", "staffing", "wall_seconds",
}


def mmc_config(agents: int, erlangs: float, handle: float, patience: float | None,
               days: int = 1) -> Config:
    """One queue, no prompts, instant answers, no wrap-up: an M/M/c(+M) queue."""
    ids = [str(200 + i) for i in range(agents)]
    return Config.model_validate({
        "numbers": [{"number": "100", "scheme": "s"}],
        "agents": [{"id": i} for i in ids],
        "schemes": {"s": {"rules": [{"name": "all", "steps": [{"queue": "q"}]}]}},
        "queues": {"q": {
            "strategy": "longest_idle", "members": ids, "ring_timeout": 600, "wrapup": 0,
            "whisper": {"wait_time": False, "number_name": False},
        }},
        "simulation": {
            "days": days,
            "traffic": [{
                "number": "100",
                "calls_per_hour": erlangs / handle * 3600,
                "handling": {"kind": "exponential", "mean": handle},
                "patience": None if patience is None else {"kind": "exponential",
                                                           "mean": patience},
                "known_callers": 0,
                "repeat_callers": 0,
            }],
            "agents": {"answer_delay": {"kind": "fixed", "mean": 0}},
        },
    })


SCENARIO: dict[str, Any] = {
    "timezone": "Europe/Kyiv",
    "country": "UA",
    "numbers": [
        {"number": "+380441110000", "name": "Shop", "scheme": "main", "channels": 3},
        {"number": "+380441110001", "name": "Service", "scheme": "service"},
    ],
    "agents": [
        {"id": "201", "groups": ["sales"], "schedule": "day"},
        {"id": "202", "groups": ["sales"]},
        {"id": "203", "groups": ["sales"]},
        {"id": "204", "groups": ["service"], "mobile": "+380671234567"},
    ],
    "schedules": {"day": {"weekly": {"mon-sun": "08:00-20:00"}}},
    "schemes": {
        "main": {"rules": [{"name": "all", "steps": [
            {"crm_owner": {"timeout": 2, "ring_timeout": 10}},
            {"webhook": {"endpoint": "router", "timeout": 1, "ring_timeout": 10}},
            {"ivr": "menu"},
        ]}]},
        "service": {"rules": [{"name": "all", "steps": [
            {"play": "greeting"}, {"queue": "service"},
        ]}]},
    },
    "ivr": {"menu": {
        "prompt": ["ivr_main"],
        "options": {"1": [{"queue": "sales"}], "2": [{"queue": "service"}],
                    "3": [{"voicemail": "box"}]},
        "timeout": 4,
        "on_timeout": [{"queue": "sales"}],
    }},
    "queues": {
        "sales": {"strategy": "round_robin", "groups": ["sales"], "max_wait": 90, "wrapup": 5,
                  "fallback": [{"voicemail": "box"}]},
        "service": {"members": ["204"], "max_wait": 60, "service_level": 30,
                    "fallback": [{"voicemail": "box"}]},
    },
    "voicemail": {"box": {"max_length": 60}},
    "webhooks": {"router": {"url": "http://router.example/route"}},
    "crm": {"url": "http://crm.example/api"},
    "missed": {"auto_callback": True, "callback_queue": "sales"},
    "simulation": {
        "start": "2026-11-23",
        "days": 1,
        "traffic": [
            {"number": "+380441110000",
             "calls_per_hour": {9: 40, 10: 50, 11: 60, 12: 40, 13: 30, 14: 40, 15: 50,
                                16: 40, 17: 20},
             "handling": {"kind": "lognormal", "mean": 150, "sd": 80},
             "patience": {"kind": "exponential", "mean": 90},
             "ivr_digits": {"1": 0.6, "2": 0.2, "3": 0.1},
             "entities": {"category": {"phones": 0.5, "laptops": 0.3}},
             "repeat_callers": 0.3},
            {"number": "+380441110001", "calls_per_hour": 3},
        ],
        "agents": {"no_answer": 0.1, "breaks_per_day": 2, "break_minutes": 15},
        "webhook": {"latency": 0.3, "failure_rate": 0.3},
        "crm": {"latency": 0.5, "failure_rate": 0.3, "owner_known": 0.5},
        "voicemail_share": 0.5,
    },
}


def stable(kpis: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in kpis.items() if k not in VOLATILE}


def mean_ci(values: list[float]) -> tuple[float, float]:
    """Mean and the half-width of its 99 % confidence interval (Student t)."""
    t99 = {3: 5.841, 5: 4.032, 7: 3.499}[len(values) - 1]
    return statistics.mean(values), t99 * statistics.stdev(values) / math.sqrt(len(values))


# --------------------------------------------------------------------------- traffic


def test_samplers_have_the_configured_means() -> None:
    rng = random.Random(7)
    for dist, sd in [
        (Dist(kind="exponential", mean=60), 60),
        (Dist(kind="lognormal", mean=120, sd=40), 40),
        (Dist(kind="uniform", low=10, high=30), 20 / math.sqrt(12)),
    ]:
        draw = sampler(dist, rng)
        values = [draw() for _ in range(40_000)]
        assert statistics.mean(values) == pytest.approx(dist.mean if dist.kind != "uniform"
                                                        else 20, rel=0.02)
        assert statistics.stdev(values) == pytest.approx(sd, rel=0.05)
    assert sampler(Dist(kind="fixed", mean=3), rng)() == 3


def test_hourly_profiles_in_every_form() -> None:
    assert hourly_profile(Traffic(number="1", calls_per_hour=6)) == [6.0] * 24
    sparse = hourly_profile(Traffic(number="1", calls_per_hour={9: 10, 17: 5}))
    assert sparse[9] == 10 and sparse[17] == 5 and sum(sparse) == 15
    with pytest.raises(ValueError, match="24 values"):
        hourly_profile(Traffic(number="1", calls_per_hour=[1.0, 2.0]))


def test_arrivals_follow_the_local_hourly_profile_and_weekday_factor() -> None:
    config = Config.model_validate({
        "timezone": "Europe/Kyiv", "numbers": [{"number": "1", "scheme": "s"}],
        "schemes": {"s": {"rules": [{"name": "r", "steps": [{"hangup": True}]}]}},
        "simulation": {"start": "2026-11-23", "days": 7},  # Monday
    })
    traffic = Traffic(number="1", calls_per_hour={10: 100}, weekday_factor=[1, 1, 1, 1, 1, 2, 0])
    grid = hour_grid(config, 7)
    times = list(arrival_times(slot_rates(traffic, grid), grid.t0, random.Random(3)))
    tz = ZoneInfo("Europe/Kyiv")
    per_day = [0] * 7
    for t in times:
        local = dt.datetime.fromtimestamp(t, tz)
        assert local.hour == 10  # only the 10:00 local hour has traffic
        per_day[local.weekday()] += 1
    assert per_day[6] == 0
    assert sum(per_day[:5]) == pytest.approx(500, abs=4 * math.sqrt(500))
    assert per_day[5] == pytest.approx(200, abs=4 * math.sqrt(200))


def test_a_dst_day_has_23_hours_and_keeps_local_labels() -> None:
    config = Config.model_validate({
        "timezone": "Europe/Kyiv", "numbers": [{"number": "1", "scheme": "s"}],
        "schemes": {"s": {"rules": [{"name": "r", "steps": [{"hangup": True}]}]}},
        "simulation": {"start": "2027-03-28"},  # clocks go forward at 03:00
    })
    grid = hour_grid(config, 1)
    assert grid.hours == 23
    assert 3 not in grid.hour[: grid.hours]
    assert grid.hour[: grid.hours].count(2) == 1


def test_caller_numbers_are_local_mobiles_and_fresh_ones_never_repeat() -> None:
    config = Config.model_validate({
        "country": "UA", "numbers": [{"number": "1", "scheme": "s"}],
        "lists": {"vip": {"numbers": ["+380501112233", "+38067XXXXXXX"]}},
        "schemes": {"s": {"rules": [{"name": "r", "steps": [{"hangup": True}]}]}},
    })
    numbers = CallerNumbers(config, random.Random(1), pool=50)
    assert numbers.pool[0] == "+380501112233"  # literal list numbers call too; masks don't
    assert len(numbers.pool) == 51
    fresh = [numbers.fresh() for _ in range(20_000)]
    assert len(set(fresh)) == len(fresh)
    assert all(n.startswith("+380") and len(n) == 13 for n in fresh)


def test_breaks_fall_inside_the_shift_and_never_overlap() -> None:
    config = Config.model_validate({**SCENARIO, "simulation": {
        **SCENARIO["simulation"], "days": 2,
        "agents": {"breaks_per_day": 3, "break_minutes": 20},
    }})
    grid = hour_grid(config, 2)
    shifts = agent_shifts(config, grid)
    day = working_day(config.simulation.traffic, grid)
    changes = plan_breaks(config.agents, config.simulation.agents, shifts, day,
                          random.Random(2))
    assert len(changes) == 4 * 2 * 3 * 2  # agents x days x breaks x (start, end)
    tz = ZoneInfo("Europe/Kyiv")
    for agent in ("201", "202"):
        times = sorted((t, status) for t, a, status in changes if a == agent)
        assert [s for _, s in times] == ["break", "available"] * 6  # never two at once
        hours = {dt.datetime.fromtimestamp(t, tz).hour for t, _ in times}
        if agent == "201":  # works 08:00-20:00 by schedule; 202 the traffic's day (24 h)
            assert hours <= set(range(8, 20))


def test_choice_draws_by_share_and_leaves_the_rest_to_none() -> None:
    choice = Choice({"1": 0.5, "2": 0.25})
    assert [choice.draw(u) for u in (0.1, 0.6, 0.9)] == ["1", "2", None]


def test_percentile_interpolates() -> None:
    assert percentile([1, 2, 3, 4, 5, 6, 7, 8, 9, 10], 0.9) == pytest.approx(9.1)
    assert percentile([], 0.9) is None


# --------------------------------------------------------------------------- whole runs


def test_same_seed_same_result_other_seed_other_result() -> None:
    config = Config.model_validate(SCENARIO)
    first = run_simulation(config, 11)
    again = run_simulation(config, 11)
    other = run_simulation(config, 12)
    assert stable(first.kpis) == stable(again.kpis)
    assert first.calls == again.calls
    assert stable(first.kpis) != stable(other.kpis)


def test_mmc_mean_wait_agrees_with_erlang_c() -> None:
    """10 agents, 8 Erlangs, exponential handling (~30,000 calls over 8 seeds)."""
    agents, erlangs, handle = 10, 8.0, 180.0
    config = mmc_config(agents, erlangs, handle, patience=None)
    results = [run_simulation(config, seed) for seed in range(1, 9)]
    runs = [r.kpis for r in results]
    waits = [k["mean_wait"] for k in runs]
    mean, half = mean_ci(waits)
    expected = erlang.erlang_c_mean_wait(erlangs / handle, handle, agents)
    assert mean - half <= expected <= mean + half
    assert mean == pytest.approx(expected, rel=0.2)
    # Less noisy figures pin it down further: P(wait > 0) and the agents' occupancy.
    waited = statistics.mean(
        sum(1 for call in r.calls if call.wait > 0) / len(r.calls) for r in results
    )
    assert waited == pytest.approx(erlang.erlang_c(erlangs, agents), abs=0.04)
    assert statistics.mean(k["occupancy"] for k in runs) == pytest.approx(0.8, abs=0.02)
    assert all(k["abandoned"] == 0 and k["answered"] == k["calls"] for k in runs)


def test_mmc_with_exponential_patience_agrees_with_erlang_a() -> None:
    """10 agents, 10 Erlangs offered, patience 120 s: stable only thanks to abandonment."""
    agents, erlangs, handle, patience = 10, 10.0, 180.0, 120.0
    config = mmc_config(agents, erlangs, handle, patience)
    runs = [run_simulation(config, seed).kpis for seed in range(1, 5)]
    theory = erlang.erlang_a(erlangs / handle, handle, patience, agents)
    abandon = [k["abandoned"] / k["calls"] for k in runs]
    mean, half = mean_ci(abandon)
    assert mean - half <= theory.p_abandon <= mean + half
    assert mean == pytest.approx(theory.p_abandon, rel=0.15)
    waits = [k["mean_wait"] for k in runs]
    mean, half = mean_ci(waits)
    assert mean - half <= theory.mean_wait <= mean + half
    assert mean == pytest.approx(theory.mean_wait, rel=0.15)


def test_scenario_with_every_feature_is_consistent() -> None:
    config = Config.model_validate(SCENARIO)
    result = run_simulation(config, 5, label="scenario")
    k = result.kpis
    json.dumps(k, allow_nan=False)  # plain JSON, no inf/nan
    assert set(k) >= CONTRACT
    assert k["warnings"] == {}  # the core kept the protocol
    assert k["unfinished"] == 0
    assert (k["answered"] + k["missed"] + k["rejected"] + k["completed"]
            == k["calls"] == len(result.calls))
    assert sum(k["reasons"].values()) == k["calls"]
    assert k["abandoned"] <= k["missed"]
    # Q9: three channels on the shop number are too few at the peaks; counted per number.
    assert k["channel_exhausted"] > 0
    assert k["per_number"]["+380441110000"]["exhausted"] == k["channel_exhausted"]
    assert sum(n["calls"] for n in k["per_number"].values()) == k["calls"]
    # The world did its part: failures, digits, breaks, messages, redials, callbacks.
    integrations, world = k["integrations"], k["world"]
    assert 0 < integrations["webhook_failures"] < integrations["webhook_requests"]
    assert 0 < integrations["crm_failures"] < integrations["crm_lookups"]
    assert world["digits"] > 0 and world["breaks"] == 2 * 4 and world["redials"] > 0
    assert k["voicemails"] > 0
    assert k["per_queue"]["sales"]["calls"] > 0 and k["per_queue"]["service"]["calls"] > 0
    # Per-hour and heatmap views add up to the totals.
    assert sum(h["calls"] for h in k["per_hour"]) == k["calls"]
    assert sum(map(sum, k["heatmap"]["calls"])) == k["calls"]
    assert sum(map(sum, k["heatmap"]["missed"])) == k["missed"]
    assert sum(a["answered"] for a in k["per_agent"].values()) <= k["answered"]
    # Breaks show: during the day fewer than four agents are on.
    assert min(h["agents_on"] for h in k["per_hour"] if 9 <= h["hour"] < 17) < 4
    for value in (k["service_level"], k["occupancy"]):
        assert 0 <= value <= 1
    assert len(k["staffing"]) == 7 * 24


def test_max_calls_and_progress() -> None:
    config = Config.model_validate(SCENARIO)
    config = config.model_copy(update={
        "simulation": config.simulation.model_copy(update={"max_calls": 50}),
    })
    seen: list[float] = []
    k = run_simulation(config, 1, seen.append).kpis
    assert k["calls"] == 50
    assert seen == sorted(seen) and seen[-1] == 1.0 and len(seen) <= 202


def test_an_agents_retry_spaces_the_rings_they_let_go_and_is_not_occupancy() -> None:
    """One caller waits 590 s for one agent who never answers. With a 15 s ring, a 45 s
    rest and then the queue's 2 s pause (the same caller) the agent is rung every 62 s,
    10 times; without a rest every 17 s. Resting is not work: no occupancy."""

    def run(retry: float | None) -> dict[str, Any]:
        config = Config.model_validate({
            "numbers": [{"number": "100", "scheme": "s"}],
            "agents": [{"id": "200", "retry": retry}],
            "schemes": {"s": {"rules": [{"name": "all", "steps": [{"queue": "q"}]}]}},
            "queues": {"q": {
                "members": ["200"], "ring_timeout": 15, "retry": 2, "wrapup": 0,
                "whisper": {"wait_time": False, "number_name": False},
            }},
            "simulation": {
                "max_calls": 1,
                "traffic": [{"number": "100", "calls_per_hour": 10,
                             "patience": {"kind": "fixed", "mean": 590},
                             "known_callers": 0, "repeat_callers": 0}],
                "agents": {"no_answer": 1.0},
            },
        })
        k = run_simulation(config, 3).kpis
        assert k["warnings"] == {}
        assert (k["calls"], k["answered"], k["abandoned"]) == (1, 0, 1)
        agent: dict[str, Any] = k["per_agent"]["200"]
        return agent

    rested = run(45)
    assert (rested["not_answered"], rested["occupancy"]) == (10, 0.0)
    assert run(None)["not_answered"] == 34
