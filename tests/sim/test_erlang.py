"""Erlang B / C / A and staffing advice against independent computations.

The reference values are computed here a different way from the module: closed formulas
with exact fractions and factorials, and the Erlang A chain solved as linear balance
equations plus a matrix exponential for the waiting-time distribution.
"""

from __future__ import annotations

import importlib.util
import math
from fractions import Fraction
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from switchboard.sim.erlang import (
    ChainTooLongError,
    ErlangA,
    StaffingHour,
    agents_needed,
    channels_needed,
    erlang_a,
    erlang_b,
    erlang_c,
    erlang_c_mean_wait,
    erlang_c_service_level,
    staffing_advice,
)

np = pytest.importorskip("numpy")
linalg = pytest.importorskip("scipy.linalg")


# --------------------------------------------------------------------------- references


def exact_b(traffic: Fraction, servers: int) -> Fraction:
    """Erlang B by its definition: (A^N/N!) / sum_k A^k/k!."""
    terms = [traffic**k / math.factorial(k) for k in range(servers + 1)]
    return terms[-1] / sum(terms)


def exact_c(traffic: Fraction, agents: int) -> Fraction:
    """Erlang C closed formula: (A^N/N! * N/(N-A)) / (sum_{k<N} A^k/k! + that)."""
    top = traffic**agents / math.factorial(agents) * agents / (agents - traffic)
    return top / (sum(traffic**k / math.factorial(k) for k in range(agents)) + top)


def chain_reference(
    rate: float, handle: float, patience: float, agents: int, target: float, size: int = 400
) -> dict[str, float]:
    """Erlang A from the generator matrix: solve pi Q = 0, then the wait of an arrival.

    The waiting-time part follows one tagged caller through a small absorbing chain
    (people ahead of them, answered, abandoned) with scipy's matrix exponential.
    """
    mu, theta = 1 / handle, 1 / patience
    gen = np.zeros((size, size))
    for n in range(size):
        if n + 1 < size:
            gen[n, n + 1] = rate
        if n > 0:
            gen[n, n - 1] = min(n, agents) * mu + max(n - agents, 0) * theta
        gen[n, n] = -gen[n].sum()
    # pi Q = 0 with sum(pi) = 1: replace one balance equation by the normalisation.
    system = gen.T.copy()
    system[-1, :] = 1.0
    rhs = np.zeros(size)
    rhs[-1] = 1.0
    pi = np.linalg.solve(system, rhs)
    states = np.arange(size)
    waiting = np.maximum(states - agents, 0)
    queue_mean = float((waiting * pi).sum())

    # Tagged caller: states 0..m-1 = people ahead, m = answered, m+1 = abandoned.
    m = size - agents
    tag = np.zeros((m + 2, m + 2))
    for ahead in range(m):
        down = agents * mu + ahead * theta
        tag[ahead, ahead - 1 if ahead else m] = down
        tag[ahead, m + 1] = theta
        tag[ahead, ahead] = -(down + theta)
    start = np.zeros(m + 2)
    start[:m] = pi[agents:]  # an arrival finding agents+i in the system has i ahead (PASTA)
    later = start @ linalg.expm(tag * target)
    return {
        "p_wait": float(pi[agents:].sum()),
        "p_abandon": theta * queue_mean / rate,
        "mean_wait": queue_mean / rate,
        "service_level": float(pi[:agents].sum() + later[m]),
        "occupancy": float((np.minimum(states, agents) * pi).sum()) / agents,
    }


# --------------------------------------------------------------------------- Erlang B


def test_erlang_b_published_value() -> None:
    # Erlang B tables: 10 Erlangs on 10 trunks blocks 21.46 % of calls.
    assert round(erlang_b(10, 10), 4) == 0.2146


@pytest.mark.parametrize(
    ("traffic", "servers"), [(Fraction(1, 2), 1), (Fraction(5), 3), (Fraction(37, 4), 12)]
)
def test_erlang_b_matches_definition(traffic: Fraction, servers: int) -> None:
    assert erlang_b(float(traffic), servers) == pytest.approx(float(exact_b(traffic, servers)))


def test_erlang_b_hundreds_of_servers_no_overflow() -> None:
    # 200! and 180^200 overflow floats; the exact rational reference does not.
    expected = float(exact_b(Fraction(180), 200))
    assert erlang_b(180, 200) == pytest.approx(expected, rel=1e-9)
    assert 0 < erlang_b(5000, 5000) < 0.02


def test_erlang_b_edges() -> None:
    assert erlang_b(0, 5) == 0.0
    assert erlang_b(3, 0) == 1.0
    with pytest.raises(ValueError):
        erlang_b(-1, 3)
    with pytest.raises(ValueError):
        erlang_b(1, -3)


# --------------------------------------------------------------------------- Erlang C


def test_erlang_c_textbook() -> None:
    # A = 2, N = 3: C = (8/6 * 3) / (1 + 2 + 2 + 4) = 4/9.
    assert erlang_c(2, 3) == pytest.approx(4 / 9, abs=1e-12)


@pytest.mark.parametrize("agents", [11, 12, 13])
def test_erlang_c_ten_erlangs(agents: int) -> None:
    assert erlang_c(10, agents) == pytest.approx(float(exact_c(Fraction(10), agents)), rel=1e-12)


def test_erlang_c_ten_erlangs_table_values() -> None:
    # The usual staffing tables: 68.2 %, 44.9 %, 28.5 % of calls wait.
    assert [round(erlang_c(10, n), 3) for n in (11, 12, 13)] == [0.682, 0.449, 0.285]


def test_erlang_c_unstable_and_empty() -> None:
    assert erlang_c(10, 10) == 1.0
    assert erlang_c(12, 10) == 1.0
    assert erlang_c(0, 4) == 0.0
    assert erlang_c_mean_wait(1 / 18, 180, 10) == math.inf
    assert erlang_c_service_level(1 / 18, 180, 10, 20) == 0.0


def test_erlang_c_mean_wait_and_service_level_closed_form() -> None:
    # 100 calls per half hour, 3 minutes each: 10 Erlangs.
    rate, handle = 100 / 1800, 180.0
    for agents in (11, 13, 14):
        c = float(exact_c(Fraction(10), agents))
        assert erlang_c_mean_wait(rate, handle, agents) == pytest.approx(c * handle / (agents - 10))
        assert erlang_c_service_level(rate, handle, agents, 20) == pytest.approx(
            1 - c * math.exp(-(agents - 10) * 20 / handle)
        )
    # 13 agents answer 79.6 % within 20 s, 14 agents 88.8 %: 14 are needed for 80/20.
    assert erlang_c_service_level(rate, handle, 13, 20) == pytest.approx(0.7956, abs=1e-4)
    assert erlang_c_service_level(rate, handle, 14, 20) == pytest.approx(0.8884, abs=1e-4)
    assert agents_needed(rate, handle, 0.8, 20) == 14
    assert erlang_c_service_level(rate, handle, 13, 0) == pytest.approx(1 - erlang_c(10, 13))


# --------------------------------------------------------------------------- Erlang A


@pytest.mark.parametrize(
    ("rate", "handle", "patience", "agents", "target"),
    [
        (10 / 180, 180, 120, 12, 20),  # ordinary: some wait, few abandon
        (10 / 180, 180, 60, 8, 20),  # understaffed: stable only thanks to abandonment
        (0.5, 30, 45, 20, 10),  # fast calls, impatient callers
        (1 / 60, 300, 600, 3, 30),  # tiny team
    ],
)
def test_erlang_a_matches_linear_solve(
    rate: float, handle: float, patience: float, agents: int, target: float
) -> None:
    got = erlang_a(rate, handle, patience, agents, target)
    want = chain_reference(rate, handle, patience, agents, target)
    for field, expected in want.items():
        assert getattr(got, field) == pytest.approx(expected, rel=1e-6, abs=1e-9), field


def test_erlang_a_infinite_patience_is_erlang_c() -> None:
    rate, handle = 10 / 180, 180.0
    for agents in (11, 12, 13):
        got = erlang_a(rate, handle, 1e9, agents, 20)
        assert got.p_wait == pytest.approx(erlang_c(10, agents), rel=1e-5)
        assert got.mean_wait == pytest.approx(erlang_c_mean_wait(rate, handle, agents), rel=1e-5)
        assert got.service_level == pytest.approx(
            erlang_c_service_level(rate, handle, agents, 20), rel=1e-5
        )
        assert got.p_abandon < 1e-6
        exact = erlang_a(rate, handle, math.inf, agents, 20)
        assert exact.p_wait == erlang_c(10, agents)
        assert exact.occupancy == pytest.approx(10 / agents)


def test_erlang_a_unstable_without_patience() -> None:
    got = erlang_a(1 / 10, 180, math.inf, 12, 20)
    assert got == ErlangA(
        p_wait=1.0, p_abandon=0.0, mean_wait=math.inf, service_level=0.0, occupancy=1.0
    )


def test_erlang_a_many_agents_nobody_waits() -> None:
    got = erlang_a(10 / 180, 180, 120, 60, 20)
    assert got.p_wait < 1e-15
    assert got.service_level == pytest.approx(1.0)
    assert got.occupancy == pytest.approx(10 / 60)


def test_erlang_a_overloaded_flow_balance() -> None:
    # 450 Erlangs on 100 agents: agents always busy, so carried calls = 100/180 per second
    # and everyone else abandons. Mean wait = P(abandon) * patience.
    got = erlang_a(2.5, 180, 120, 100, 20)
    assert got.p_abandon == pytest.approx(1 - (100 / 180) / 2.5, rel=1e-9)
    assert got.mean_wait == pytest.approx(got.p_abandon * 120, rel=1e-9)
    assert got.occupancy == pytest.approx(1.0)
    assert got.service_level < 1e-6


def test_erlang_a_refuses_an_endless_queue_and_staffing_copes() -> None:
    # 180 Erlangs on 10 agents, callers who wait 30 years: no chain is short enough.
    with pytest.raises(ChainTooLongError):
        erlang_a(1.0, 180, 1e9, 10)
    # Near-infinite patience staffs like Erlang C, even though bisection may probe overload.
    assert agents_needed(1.0, 180, 0.8, 20, 1e9) == agents_needed(1.0, 180, 0.8, 20)


def test_erlang_a_no_agents_and_no_calls() -> None:
    nobody = erlang_a(0.01, 180, 60, 0)
    assert nobody.p_abandon == pytest.approx(1.0)
    assert nobody.mean_wait == pytest.approx(60)
    assert nobody.service_level == 0.0
    assert erlang_a(0, 180, 60, 3).service_level == 1.0
    with pytest.raises(ValueError):
        erlang_a(0.01, 180, -1, 3)


def test_erlang_a_large_centre_is_fast_and_sane() -> None:
    got = erlang_a(2.5, 180, 120, 460, 20)
    ref = erlang_c_service_level(2.5, 180, 460, 20)
    assert got.service_level > ref  # impatient callers leave; the others get served sooner
    assert 0 < got.p_abandon < 0.05


# --------------------------------------------------------------------------- properties

traffics = st.floats(min_value=0.1, max_value=300, allow_nan=False)


@settings(database=None, max_examples=60, deadline=None)
@given(traffic=traffics, servers=st.integers(min_value=1, max_value=400))
def test_erlang_b_falls_with_servers_and_rises_with_traffic(traffic: float, servers: int) -> None:
    base = erlang_b(traffic, servers)
    if base > 1e-250:  # far tails underflow to 0.0, where strict order cannot show
        assert erlang_b(traffic, servers + 1) < base
        assert erlang_b(traffic * 1.1, servers) > base


@settings(database=None, max_examples=60, deadline=None)
@given(traffic=traffics, extra=st.integers(min_value=1, max_value=40))
def test_erlang_c_falls_with_agents(traffic: float, extra: int) -> None:
    agents = math.floor(traffic) + extra
    assert erlang_c(traffic, agents + 1) < erlang_c(traffic, agents)
    assert erlang_c(traffic, agents) >= erlang_b(traffic, agents)  # waiting beats blocking
    sl = [erlang_c_service_level(traffic / 180, 180, agents + k, 20) for k in range(3)]
    assert sl[0] < sl[1] < sl[2] or sl[2] == 1.0


@settings(database=None, max_examples=25, deadline=None)
@given(
    calls_per_hour=st.floats(min_value=5, max_value=1500),
    patience=st.floats(min_value=10, max_value=900),
    agents=st.integers(min_value=1, max_value=80),
)
def test_erlang_a_monotone_in_agents(calls_per_hour: float, patience: float, agents: int) -> None:
    fewer = erlang_a(calls_per_hour / 3600, 180, patience, agents)
    more = erlang_a(calls_per_hour / 3600, 180, patience, agents + 1)
    assert more.p_wait <= fewer.p_wait
    assert more.p_abandon <= fewer.p_abandon
    assert more.mean_wait <= fewer.mean_wait
    assert more.service_level >= fewer.service_level - 1e-12
    assert 0 <= more.occupancy <= 1


@settings(database=None, max_examples=25, deadline=None)
@given(
    calls_per_hour=st.floats(min_value=1, max_value=3000),
    handle=st.floats(min_value=30, max_value=600),
    target_sl=st.floats(min_value=0.5, max_value=0.95),
    patience=st.one_of(st.none(), st.floats(min_value=20, max_value=600)),
)
def test_agents_needed_is_the_smallest_that_meets(
    calls_per_hour: float, handle: float, target_sl: float, patience: float | None
) -> None:
    rate = calls_per_hour / 3600
    n = agents_needed(rate, handle, target_sl, 20, patience, max_occupancy=0.9)

    def meets(agents: int) -> bool:
        if agents == 0:
            return False
        if patience is None:
            return (
                rate * handle / agents <= 0.9
                and erlang_c_service_level(rate, handle, agents, 20) >= target_sl
            )
        got = erlang_a(rate, handle, patience, agents, 20)
        return got.occupancy <= 0.9 and got.service_level >= target_sl

    assert meets(n)
    assert not meets(n - 1)
    if patience is not None:  # abandoning callers never need more agents than Erlang C
        assert n <= agents_needed(rate, handle, target_sl, 20, None, max_occupancy=0.9)


def test_agents_needed_occupancy_cap_and_misuse() -> None:
    # 450 Erlangs: the SL alone is met by ~460 agents; a 90 % cap needs 500.
    assert agents_needed(2.5, 180, 0.8, 20, max_occupancy=1.0) < 500
    assert agents_needed(2.5, 180, 0.8, 20, max_occupancy=0.9) == 500
    assert agents_needed(0, 180) == 0
    with pytest.raises(ValueError):
        agents_needed(0.1, 180, target_sl=1.0)
    with pytest.raises(ValueError):
        agents_needed(0.1, 0)


@settings(database=None, max_examples=40, deadline=None)
@given(
    calls_per_hour=st.floats(min_value=1, max_value=5000),
    blocking=st.sampled_from([0.001, 0.01, 0.05]),
)
def test_channels_needed_is_the_smallest(calls_per_hour: float, blocking: float) -> None:
    traffic = calls_per_hour / 3600 * 120
    n = channels_needed(calls_per_hour / 3600, 120, blocking)
    assert erlang_b(traffic, n) <= blocking < erlang_b(traffic, n - 1)


def test_channels_needed_published() -> None:
    # Erlang B tables: 10 Erlangs at 1 % blocking need 18 lines, at 5 % 15.
    assert channels_needed(10 / 180, 180, 0.01) == 18
    assert channels_needed(10 / 180, 180, 0.05) == 15
    assert channels_needed(0, 180) == 0


# --------------------------------------------------------------------------- staffing advice


def test_staffing_advice_from_heatmap() -> None:
    arrivals = [[0.0] * 24 for _ in range(7)]
    arrivals[0][9] = 200  # two Mondays, 100 calls/h each at 09:00
    arrivals[5][12] = 30  # Saturday noon, but no Saturday was observed
    days = [2, 2, 2, 2, 2, 0, 1]
    advice = staffing_advice(arrivals, 180, 0.8, 20, None, days)
    assert len(advice) == 168
    assert advice[0] == StaffingHour(0, 0, 0.0, 0.0, 0, 0)
    monday_nine = advice[9]
    assert (monday_nine.weekday, monday_nine.hour) == (0, 9)
    assert monday_nine.calls_per_hour == monday_nine.agent_calls_per_hour == 100
    assert monday_nine.erlangs == pytest.approx(5.0)
    assert monday_nine.agents_needed == agents_needed(100 / 3600, 180, 0.8, 20)
    # Waiting callers hold channels too: at least as many as talk time alone needs.
    assert monday_nine.channels_needed >= channels_needed(100 / 3600, 180)
    assert monday_nine.channels_needed > monday_nine.agents_needed
    assert advice[5 * 24 + 12].calls_per_hour == 0

    impatient = staffing_advice(arrivals, 180, 0.8, 20, 60, days)
    assert impatient[9].agents_needed <= monday_nine.agents_needed


def test_staffing_advice_sizes_agents_for_the_calls_that_wanted_one() -> None:
    """At night every call hears the after-hours menu: channels for them, no agents."""
    arrivals = [[0.0] * 24 for _ in range(7)]
    wanting = [[0.0] * 24 for _ in range(7)]
    arrivals[0][2], arrivals[0][9], wanting[0][9] = 20, 100, 60
    advice = staffing_advice(arrivals, 180, 0.8, 20, None, [1] * 7, wanting=wanting)
    night, nine = advice[2], advice[9]
    assert (night.calls_per_hour, night.agent_calls_per_hour, night.agents_needed) == (20, 0, 0)
    assert night.erlangs == 0 and night.channels_needed == channels_needed(20 / 3600, 180)
    assert (nine.calls_per_hour, nine.agent_calls_per_hour) == (100, 60)
    assert nine.erlangs == pytest.approx(3.0)
    assert nine.agents_needed == agents_needed(60 / 3600, 180, 0.8, 20)
    with pytest.raises(ValueError):  # more calls wanting an agent than calls
        staffing_advice(wanting, 180, 0.8, 20, None, [1] * 7, wanting=arrivals)


def test_staffing_advice_rejects_bad_shapes() -> None:
    with pytest.raises(ValueError):
        staffing_advice([[0.0] * 24] * 6, 180, 0.8, 20, None, [1] * 7)
    with pytest.raises(ValueError):
        staffing_advice([[0.0] * 23] * 7, 180, 0.8, 20, None, [1] * 7)
    with pytest.raises(ValueError):
        staffing_advice([[0.0] * 24] * 7, 180, 0.8, 20, None, [1] * 6)


# --------------------------------------------------------------------------- against a simulation


def test_erlang_c_mean_wait_matches_the_simpy_peer_model() -> None:
    # The SimPy M/M/c that benchmarks/bench_sim.py measures against must agree with Erlang C,
    # or the benchmark's "mean wait beside Erlang C" column would compare nonsense.
    pytest.importorskip("simpy")
    path = Path(__file__).resolve().parents[2] / "benchmarks" / "simpy_mmc.py"
    spec = importlib.util.spec_from_file_location("simpy_mmc", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    rate, handle, agents = 2.0, 1.0, 3  # A = 2 on 3 agents: C = 4/9, mean wait 4/9 s
    got = module.run_simpy(agents, rate, handle, 60_000, seed=5)
    assert got["calls"] == 60_000
    assert got["calls_per_second"] > 0
    assert got["mean_wait"] == pytest.approx(erlang_c_mean_wait(rate, handle, agents), rel=0.08)
    assert erlang_c_mean_wait(rate, handle, agents) == pytest.approx(4 / 9)
