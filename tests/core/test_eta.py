"""Estimated waiting time (Q3, B3): Asterisk's moving average and our projection."""

from __future__ import annotations

import heapq
import itertools
import math
import random
from collections import deque
from collections.abc import Callable, Sequence

import pytest

from switchboard.core.eta import EtaEstimator, MovingAverageEstimator, ProjectionEstimator


def fed(
    values: Sequence[float], default_handle: float = 180.0, window: int = 200
) -> ProjectionEstimator:
    est = ProjectionEstimator(default_handle, window)
    for value in values:
        est.observe_handled(value)
    return est


def test_both_estimators_share_the_interface() -> None:
    estimators: list[EtaEstimator] = [MovingAverageEstimator(), ProjectionEstimator()]
    assert [e.name for e in estimators] == ["moving_average", "switchboard"]


# --------------------------------------------------------------------------- moving average


def test_moving_average_follows_asterisk_recalc_holdtime() -> None:
    est = MovingAverageEstimator()
    assert est.estimate(3, 0, [10.0], 0.0) == 0.0  # nothing observed yet
    # holdtime = (3 * holdtime + wait) >> 2 on whole seconds, from 0
    expected = []
    for wait in (100, 40, 7.9, 300):
        est.observe_answered(wait)
        expected.append(est.holdtime)
    assert expected == [25, 28, 22, 91]  # 100/4; (75+40)/4; (84+7)/4; (66+300)/4, truncated
    est.observe_handled(999.0)  # not used
    assert est.holdtime == 91
    assert est.estimate(1, 0, [], 0.0) == 91.0
    assert est.estimate(9, 5, [1.0, 2.0], 30.0) == 61.0  # position and agents ignored
    assert est.estimate(1, 0, [], 100.0) == 0.0  # waited longer than the average: 0


# --------------------------------------------------------------------------- projection


def test_projection_is_zero_when_an_agent_is_free_for_this_caller() -> None:
    est = fed([60, 120, 180, 240, 300])
    assert est.estimate(1, 1, [], 0.0) == 0.0
    assert est.estimate(2, 2, [500.0], 40.0) == 0.0
    assert est.estimate(3, 5, [10.0, 20.0], 0.0) == 0.0
    assert est.estimate(4, 3, [10.0], 0.0) > 0.0


def test_projection_without_agents_is_unknown() -> None:
    assert fed([60] * 10).estimate(1, 0, [], 0.0) == math.inf
    assert ProjectionEstimator().estimate(2, 0, [], 0.0) == math.inf


def test_projection_before_enough_observations_assumes_exponential_handling() -> None:
    est = fed([10, 10, 10, 10], default_handle=180)  # 4 < MIN_OBSERVATIONS
    assert est.mean_handle == 180.0
    assert est.residual(1000.0) == 180.0
    # departures as a Poisson stream of rate agents / H: (position - free) * H / agents
    assert est.estimate(4, 1, [10.0, 20.0], 0.0) == 180.0
    assert est.estimate(2, 0, [10.0, 20.0, 30.0, 40.0], 0.0) == 90.0


# window of handling times that looks roughly exponential: mean 219 s
EXPONENTIAL_LIKE = [30, 60, 90, 120, 150, 180, 240, 300, 420, 600]


def test_residual_is_the_mean_remaining_handling_time() -> None:
    est = fed(EXPONENTIAL_LIKE)
    assert est.mean_handle == 219.0
    assert est.residual(0.0) == 219.0
    assert est.residual(10.0) == 209.0  # all 10 values exceed 10: 219 - 10
    assert est.residual(250.0) == 190.0  # (300 + 420 + 600) / 3 - 250
    assert est.residual(600.0) == 219.0  # longer than anything seen: H


def test_residual_grows_with_elapsed_for_heavy_tails() -> None:
    heavy = fed([10, 20, 30, 60, 120, 240, 480, 960, 1920])
    assert heavy.residual(0.0) == pytest.approx(3840 / 9)
    assert heavy.residual(100.0) == 644.0  # (120 + 240 + 480 + 960 + 1920) / 5 - 100
    assert heavy.residual(1000.0) == 920.0
    assert heavy.residual(0.0) < heavy.residual(100.0) < heavy.residual(1000.0)


def test_heap_projection_by_hand() -> None:
    est = fed(EXPONENTIAL_LIKE)
    # two busy agents, free after 209 s and 190 s; H = 219
    # caller 1 takes the agent free at 190 (busy again until 409),
    # caller 2 the one free at 209 (until 428), caller 3 the one free at 409
    assert est.heap_estimate(1, 0, [10.0, 250.0]) == 190.0
    assert est.heap_estimate(2, 0, [10.0, 250.0]) == 209.0
    assert est.heap_estimate(3, 0, [10.0, 250.0]) == 409.0
    assert est.heap_estimate(4, 0, [10.0, 250.0]) == 428.0
    # with a free agent: it takes caller 1 at once and is free again at 219
    assert est.heap_estimate(2, 1, [10.0, 250.0]) == 190.0
    assert est.heap_estimate(4, 1, [10.0, 250.0]) == 219.0


def test_steady_handling_gives_exactly_the_heap_projection() -> None:
    est = fed([120.0] * 20)
    assert est.variability == 0.0
    got = [est.estimate(p, 0, [30.0, 100.0], 0.0) for p in range(1, 6)]
    assert got == [20.0, 90.0, 140.0, 210.0, 260.0]
    assert got == [est.heap_estimate(p, 0, [30.0, 100.0]) for p in range(1, 6)]
    assert [est.estimate(p, 1, [30.0, 100.0], 0.0) for p in range(1, 6)] == [
        0.0,
        20.0,
        90.0,
        120.0,
        140.0,
    ]


def test_very_variable_handling_counts_expected_releases() -> None:
    # mean 100, sd 180: variability capped at 1, releases after the first are a Poisson
    # stream. Two agents just started: each is free within t (10 <= t < 460) with
    # probability 4/5, and then has freed 0.8 * (t - 10) / 100 more callers on average:
    # 1.6 * (1 + (t - 10) / 100) releases are expected by t.
    est = fed([10, 10, 10, 10, 460])
    assert est.mean_handle == 100.0
    assert est.variability == 1.0
    assert est.estimate(1, 0, [0.0, 0.0], 0.0) == 10.0  # jumps from 0 to 1.6 at 10 s
    assert est.estimate(2, 0, [0.0, 0.0], 0.0) == pytest.approx(35.0, rel=1e-12)
    assert est.estimate(3, 0, [0.0, 0.0], 0.0) == pytest.approx(97.5, rel=1e-12)
    # the plain heap would say 90 (both residuals), then 190
    assert est.heap_estimate(1, 0, [0.0, 0.0]) == 100.0
    assert est.heap_estimate(3, 0, [0.0, 0.0]) == 200.0


def test_moderately_variable_handling_mixes_both_views() -> None:
    # 60 s or 140 s, equally often: mean 100, sd 40, variability 0.4.
    # Per agent just started: 0.5 released by 60 s; 1 + 0.4 (t - 100) / 100 from 140 s;
    # plus 0.6 once t >= r + H = 200 s (the steady part of later calls).
    est = fed([60, 60, 60, 140, 140, 140])
    assert est.variability == pytest.approx(0.4)
    busy = [0.0, 0.0]
    assert [est.estimate(p, 0, busy, 0.0) for p in (1, 2, 3)] == [60.0, 140.0, 200.0]
    # the plain heap sees two agents free after 100 s each
    assert [est.heap_estimate(p, 0, busy) for p in (1, 2, 3)] == [100.0, 100.0, 200.0]


def test_agents_busy_longer_than_any_call_seen_are_memoryless() -> None:
    est = fed([10, 10, 10, 10, 460])
    # both agents beyond 460 s: each frees 1 - exp(-t/H) + (t/H - 1 + exp(-t/H)) = t/H
    assert est.estimate(2, 0, [500.0, 600.0], 0.0) == pytest.approx(100.0, rel=1e-12)


def test_window_is_bounded_and_ignores_nonsense() -> None:
    est = fed([100.0] * 5 + [300.0] * 5, window=5)
    assert est.mean_handle == 300.0
    est.observe_handled(float("nan"))
    est.observe_handled(-5.0)
    est.observe_handled(float("inf"))
    assert est.mean_handle == 300.0
    assert est.variability == 0.0


def test_bad_parameters_are_refused() -> None:
    with pytest.raises(ValueError):
        ProjectionEstimator(default_handle=0)
    with pytest.raises(ValueError):
        ProjectionEstimator(window=3)


@pytest.mark.parametrize("sd", [0.0, 30.0, 100.0, 180.0, 400.0])
def test_projection_never_decreases_with_position(sd: float) -> None:
    rng = random.Random(5)
    est = fed([max(1.0, rng.gauss(180, sd)) for _ in range(200)])
    busy = [5.0, 60.0, 200.0, 400.0, 30.0, 180.0, 1000.0]  # the last beyond the window
    for free in (0, 2):
        estimates = [est.estimate(p, free, busy, 0.0) for p in range(1, 301)]
        assert all(a <= b for a, b in itertools.pairwise(estimates)), sd
        # far back in the queue, agents free up at the average rate agents / H
        per_caller = (estimates[-1] - estimates[149]) / 150
        assert per_caller == pytest.approx(est.mean_handle / (len(busy) + free), rel=0.05)


# --------------------------------------------------------------------------- measured


MEAN_HANDLE = 180.0


def exponential(rng: random.Random) -> float:
    return rng.expovariate(1 / MEAN_HANDLE)


def lognormal(rng: random.Random) -> float:
    cv = 0.7  # sd / mean
    sigma2 = math.log(1 + cv * cv)
    return rng.lognormvariate(math.log(MEAN_HANDLE) - sigma2 / 2, math.sqrt(sigma2))


def queue_errors(
    agents: int, load: float, handling: Callable[[random.Random], float], calls: int, seed: int
) -> dict[str, float]:
    """Run a FIFO queue (Poisson arrivals, no abandonment) and return each estimator's mean
    absolute error over the callers who had to wait, estimated the moment they joined."""
    rng = random.Random(seed)
    classic, ours = MovingAverageEstimator(), ProjectionEstimator(default_handle=MEAN_HANDLE)
    events: list[tuple[float, int, int]] = []  # (time, agent or -1 for an arrival, caller)
    t = 0.0
    for caller in range(calls):
        t += rng.expovariate(load * agents / MEAN_HANDLE)
        events.append((t, -1, caller))
    heapq.heapify(events)
    started: dict[int, float] = {}  # busy agent -> when its call started
    idle = list(range(agents))
    waiting: deque[tuple[int, float]] = deque()  # (caller, joined)
    guesses: dict[int, tuple[float, float, float]] = {}
    errors: dict[str, list[float]] = {"moving_average": [], "switchboard": [], "heap": []}

    def answer(caller: int, joined: float, agent: int, now: float) -> None:
        wait = now - joined
        classic.observe_answered(wait)
        ours.observe_answered(wait)
        for name, guess in zip(errors, guesses.pop(caller, ()), strict=False):
            errors[name].append(abs(guess - wait))
        started[agent] = now
        heapq.heappush(events, (now + handling(rng), agent, caller))

    while events:
        now, agent, caller = heapq.heappop(events)
        if agent < 0:
            if idle and not waiting:
                answer(caller, now, idle.pop(), now)
                continue
            waiting.append((caller, now))
            position, busy = len(waiting), [now - s for s in started.values()]
            guesses[caller] = (
                classic.estimate(position, len(idle), busy, 0.0),
                ours.estimate(position, len(idle), busy, 0.0),
                ours.heap_estimate(position, len(idle), busy),
            )
        else:
            handled = now - started.pop(agent)
            classic.observe_handled(handled)
            ours.observe_handled(handled)
            if waiting:
                answer(*waiting.popleft(), agent, now)
            else:
                idle.append(agent)
    assert len(errors["switchboard"]) > calls // 3  # enough callers waited to judge
    return {name: sum(values) / len(values) for name, values in errors.items()}


@pytest.mark.parametrize(
    ("agents", "load", "handling"),
    [
        (1, 0.8, exponential),  # M/M/1
        (3, 0.9, exponential),  # M/M/3
        (10, 0.9, exponential),  # M/M/10
        (10, 0.9, lognormal),  # M/G/10, lognormal handling
    ],
)
def test_projection_beats_the_moving_average(
    agents: int, load: float, handling: Callable[[random.Random], float]
) -> None:
    mae = queue_errors(agents, load, handling, calls=3000, seed=11)
    assert mae["switchboard"] < 0.85 * mae["moving_average"], mae


def test_plain_heap_projection_loses_to_the_moving_average_with_many_agents() -> None:
    # Why the projection counts expected releases instead of heaping expected residuals:
    # with ten busy agents the first is free long before the average residual says.
    mae = queue_errors(10, 0.9, exponential, calls=3000, seed=11)
    assert mae["heap"] > mae["moving_average"] > mae["switchboard"], mae
