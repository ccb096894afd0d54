"""Overload shedding policy (sans-IO, explicit ``now``): which new calls get 503."""

from __future__ import annotations

import pytest

from switchboard.sip.overload import LagMeter, OverloadGuard, OverloadLimits, Shed


def guard(**limits: object) -> OverloadGuard:
    return OverloadGuard(OverloadLimits(**limits))  # type: ignore[arg-type]


def test_no_limits_admit_everything() -> None:
    g = guard()
    assert all(g.check(0.0, calls=10_000, in_setup=10_000, lag=60.0) is None
               for _ in range(1000))
    assert (g.admitted, g.total_shed) == (1000, 0)


def test_max_calls_is_a_hard_cap_on_calls_in_progress() -> None:
    g = guard(max_calls=3, retry_after=7)
    assert g.check(0.0, calls=2, in_setup=0) is None
    shed = g.check(0.0, calls=3, in_setup=0)
    assert shed == Shed("calls", 7, "3 calls in progress, max_calls 3")
    assert g.check(0.0, calls=2, in_setup=0) is None, "a call ended: room again"


def test_calls_in_setup_past_the_limit_are_shed() -> None:
    g = guard(max_calls_in_setup=50)
    assert g.check(0.0, calls=0, in_setup=49) is None
    shed = g.check(0.0, calls=0, in_setup=50)
    assert shed is not None and shed.reason == "setup"


def test_rate_limit_is_a_token_bucket_of_one_seconds_worth() -> None:
    g = guard(max_calls_per_second=5)
    # A burst of 12 at once: the bucket holds 5.
    verdicts = [g.check(100.0, calls=0, in_setup=0) for _ in range(12)]
    assert [v is None for v in verdicts] == [True] * 5 + [False] * 7
    assert {v.reason for v in verdicts if v is not None} == {"rate"}
    # 0.2 s later one token is back, and only one.
    assert g.check(100.2, calls=0, in_setup=0) is None
    assert g.check(100.2, calls=0, in_setup=0) is not None
    # A steady 5 calls/s passes entirely; 10 calls/s passes half.
    g = guard(max_calls_per_second=5)
    now, taken = 0.0, 0
    for _ in range(50):  # 10 s at 5/s after the initial burst is spent
        now += 0.2
        taken += g.check(now, calls=0, in_setup=0) is None
    assert taken == 50
    g = guard(max_calls_per_second=5)
    for _ in range(5):
        g.check(0.0, calls=0, in_setup=0)  # spend the burst
    now, taken = 0.0, 0
    for _ in range(100):  # 10 s at 10/s
        now += 0.1
        taken += g.check(now, calls=0, in_setup=0) is None
    assert 49 <= taken <= 51
    assert g.shed["rate"] == 100 - taken


def test_a_slow_rate_still_lets_one_call_through() -> None:
    g = guard(max_calls_per_second=0.5)
    assert g.check(0.0, calls=0, in_setup=0) is None
    assert g.check(1.0, calls=0, in_setup=0) is not None
    assert g.check(2.0, calls=0, in_setup=0) is None, "one token every 2 s"


def test_refused_calls_use_no_token_and_the_clock_going_back_refills_nothing() -> None:
    g = guard(max_calls_per_second=2, max_calls=1)
    assert g.check(0.0, calls=1, in_setup=0) is not None  # shed for max_calls
    assert g.check(0.0, calls=0, in_setup=0) is None
    assert g.check(0.0, calls=0, in_setup=0) is None, "the bucket was still full"
    assert g.check(-5.0, calls=0, in_setup=0) is not None


def test_loop_lag_over_the_limit_sheds_until_hold_seconds_after_it_eased() -> None:
    g = guard(max_loop_lag=0.2, hold=1.0)
    assert g.check(0.0, calls=0, in_setup=0, lag=0.19) is None
    shed = g.check(0.5, calls=0, in_setup=0, lag=0.3)
    assert shed is not None and shed.reason == "lag" and "300 ms late" in shed.detail
    assert g.check(1.0, calls=0, in_setup=0, lag=0.01) is not None, "still within hold"
    assert g.check(1.49, calls=0, in_setup=0, lag=0.01) is not None
    assert g.check(1.51, calls=0, in_setup=0, lag=0.01) is None, "eased for a whole second"


def test_reasons_are_checked_in_order_calls_setup_lag_rate() -> None:
    g = guard(max_calls=1, max_calls_in_setup=1, max_loop_lag=0.1, max_calls_per_second=1)
    assert g.check(0.0, calls=1, in_setup=1, lag=1.0).reason == "calls"  # type: ignore[union-attr]
    assert g.check(0.0, calls=0, in_setup=1, lag=1.0).reason == "setup"  # type: ignore[union-attr]
    assert g.check(0.0, calls=0, in_setup=0, lag=1.0).reason == "lag"  # type: ignore[union-attr]
    g = guard(max_calls_per_second=1)
    g.check(0.0, calls=0, in_setup=0)
    assert g.check(0.0, calls=0, in_setup=0).reason == "rate"  # type: ignore[union-attr]


def test_reports_come_at_once_then_at_most_every_few_seconds_and_finally_at_stop() -> None:
    g = OverloadGuard(OverloadLimits(max_calls=1), report_every=5.0)
    assert g.report(0.0) is None, "nothing shed"
    g.check(10.0, calls=1, in_setup=0)
    first = g.report(10.0)
    assert first is not None and first.counts == {"calls": 1} and first.total == 1
    assert str(first) == "1 new call refused with 503 (1 by calls)"
    for t in (11.0, 12.0, 13.0):
        g.check(t, calls=1, in_setup=0)
    assert g.report(13.0) is None, "reported 3 s ago: wait"
    second = g.report(15.0)
    assert second is not None and second.counts == {"calls": 3} and second.since == 11.0
    assert second.total == 4 and str(second) == "3 new calls refused with 503 (3 by calls)"
    g.check(16.0, calls=1, in_setup=0)
    assert g.report(16.0) is None
    last = g.report(16.0, final=True)
    assert last is not None and last.counts == {"calls": 1}
    assert g.report(30.0, final=True) is None


def test_lag_meter_counts_an_overdue_tick_before_it_runs() -> None:
    m = LagMeter(interval=0.05)
    due = m.next_tick(10.0)
    assert due == pytest.approx(10.05)
    assert m.lag(10.04) == 0.0
    assert m.lag(10.35) == pytest.approx(0.3), "the tick is 300 ms overdue"
    assert m.tick(10.40) == pytest.approx(0.35)
    assert m.lag(10.40) == pytest.approx(0.35), "the last tick's lateness stands"
    m.next_tick(10.40)
    assert m.tick(10.451) == pytest.approx(0.001)
    assert m.lag(10.46) == pytest.approx(0.001)


@pytest.mark.parametrize("limits", [
    {"max_calls": 0}, {"max_calls_in_setup": 0}, {"max_calls_per_second": 0},
    {"max_loop_lag": -1}, {"max_calls_per_second": float("inf")}, {"retry_after": -1},
])
def test_nonsense_limits_are_refused(limits: dict[str, float]) -> None:
    with pytest.raises(ValueError):
        OverloadLimits(**limits)  # type: ignore[arg-type]


def test_the_config_defaults_guard_setup_and_lag_only() -> None:
    from switchboard.config.model import Sip

    sip = Sip()
    assert (sip.max_calls, sip.max_calls_per_second) == (None, None)
    assert sip.max_calls_in_setup == 100 and sip.max_loop_lag == 0.25
    assert sip.overload_retry_after == 5
    custom = Sip.model_validate({"max_calls": 30, "max_calls_per_second": 2.5,
                                 "max_calls_in_setup": None, "max_loop_lag": None})
    assert (custom.max_calls, custom.max_calls_per_second) == (30, 2.5)
    for bad in ({"max_calls": 0}, {"max_calls_per_second": 0}, {"overload_retry_after": 0},
                {"max_calls_per_second": "inf"}, {"max_loop_lag": "nan"}, {"bogus": 1}):
        with pytest.raises(ValueError):
            Sip.model_validate(bad)
