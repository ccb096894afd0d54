"""KPI bookkeeping from the core's records: exact figures for a handful of records."""

from __future__ import annotations

from switchboard.config.model import Config
from switchboard.core.commands import CallFinished, EtaEstimated
from switchboard.sim.kpi import KpiCollector
from switchboard.sim.traffic import hour_grid

CONFIG = Config.model_validate({
    "numbers": [{"number": "100", "scheme": "s"}],
    "agents": [{"id": "201"}],
    "schemes": {"s": {"rules": [{"name": "all", "steps": [{"queue": "q"}]}]}},
    "queues": {"q": {"members": ["201"]}},
})


def collector() -> tuple[KpiCollector, float]:
    grid = hour_grid(CONFIG, 1)
    return KpiCollector(CONFIG, grid, [], {"201": None}), grid.t0 + 10 * 3600


def announced(kpi: KpiCollector, call_id: str, at: float, estimates: dict[str, float]) -> None:
    kpi.on_eta(EtaEstimated(call_id, "q", at, 1, estimates))


def finished(kpi: KpiCollector, call_id: str, arrived: float, answered_at: float | None) -> None:
    outcome, reason = ("answered", "answered") if answered_at else ("missed", "abandoned")
    kpi.on_call_finished(CallFinished(
        call_id, "100", "+380671111111", arrived, (answered_at or arrived + 300) + 60, outcome,
        reason, "201" if answered_at else None, "q", (answered_at or arrived + 300) - arrived,
        answered_at))


def test_eta_under_announced_shows_an_estimate_that_is_too_low() -> None:
    """'low' always announces 10 s; 'fair' is close (10 s over, or exact). a is answered
    115 s after their first announcement, b 20 s after theirs; c, told 10 s by 'low',
    hangs up after 290 s and counts in no figure (censored). One caller in two waited more
    than 30 s beyond what 'low' told them (a, at their first announcement); nobody beyond
    what 'fair' said."""
    kpi, t = collector()
    announced(kpi, "a", t + 5, {"low": 10.0, "fair": 125.0})
    announced(kpi, "a", t + 100, {"low": 10.0, "fair": 20.0})
    finished(kpi, "a", t, t + 120)
    announced(kpi, "b", t + 10, {"low": 10.0, "fair": 30.0})
    finished(kpi, "b", t, t + 30)
    announced(kpi, "c", t + 10, {"low": 10.0, "fair": 300.0})
    finished(kpi, "c", t, None)
    eta = kpi.finish(t + 3600)["eta_accuracy"]
    assert eta["low"] == {  # type: ignore[index]
        "mae": (105 + 10 + 10) / 3, "bias": -(105 + 10 + 10) / 3, "n": 3, "infinite": 0,
        "callers": 2, "under_announced": 0.5,
    }
    assert eta["fair"] == {  # type: ignore[index]
        "mae": 20 / 3, "bias": 20 / 3, "n": 3, "infinite": 0,
        "callers": 2, "under_announced": 0.0,
    }
    assert eta["switchboard"] == {  # type: ignore[index]
        "mae": None, "bias": None, "n": 0, "infinite": 0, "callers": 0,
        "under_announced": None,
    }
