"""Overload control for new calls: when to answer an INVITE 503 instead of taking it. Sans-IO.

A server that takes every call it is offered collapses past its capacity: answers come
late, callers retransmit, which adds load, and calls in progress suffer with the new ones
(a congestion collapse). Professional servers shed new calls early instead: Kamailio's
``pike`` and ``ratelimit`` modules, FreeSWITCH's ``max-sessions`` and
``sessions-per-second``, Asterisk's ``maxcalls`` and ``maxload``. ``OverloadGuard`` decides
for each new out-of-dialog INVITE, from four limits (any may be off):

- ``max_calls``: calls in progress (a hard cap, like ``max-sessions``);
- ``max_calls_per_second``: a token bucket refilled at that rate, holding one second's worth
  (at least one call), so a short burst passes and a sustained excess is shed
  (``sessions-per-second``);
- ``max_calls_in_setup``: calls received but not answered and acknowledged yet. When the
  server falls behind, this count grows first (answers and ACKs queue up);
- ``max_loop_lag``: how late the event loop runs timers (``LagMeter``). Past the limit the
  process is saturated; new calls are refused until ``hold`` seconds have passed without a
  late tick, so the server does not flap at the edge.

The refusal is ``503 Service Unavailable`` with ``Retry-After`` (RFC 3261 §21.5.4): a trunk
or proxy in front retries later or elsewhere. In-dialog requests (ACK, BYE, re-INVITE) and
calls already taken are never shed. Nothing here reads a clock: ``now`` is given.
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass
from typing import Final, Literal

ShedReason = Literal["calls", "rate", "setup", "lag"]
REASONS: Final[tuple[ShedReason, ...]] = ("calls", "rate", "setup", "lag")


@dataclass(frozen=True, slots=True)
class OverloadLimits:
    """The limits (``None``: not applied) and the answer given past them."""

    max_calls: int | None = None
    max_calls_per_second: float | None = None
    max_calls_in_setup: int | None = None
    max_loop_lag: float | None = None
    retry_after: int = 5  # seconds, in the 503's Retry-After
    hold: float = 1.0  # seconds new calls stay refused after the last late tick

    def __post_init__(self) -> None:
        for name in ("max_calls", "max_calls_in_setup"):
            value = getattr(self, name)
            if value is not None and value < 1:
                raise ValueError(f"{name} must be at least 1, got {value}")
        for name in ("max_calls_per_second", "max_loop_lag"):
            value = getattr(self, name)
            if value is not None and not (value > 0 and math.isfinite(value)):
                raise ValueError(f"{name} must be a positive number, got {value}")
        if self.retry_after < 0 or self.hold < 0:
            raise ValueError("retry_after and hold must not be negative")


@dataclass(frozen=True, slots=True)
class Shed:
    """Refuse this call: 503 with ``Retry-After: retry_after``; ``detail`` for the log."""

    reason: ShedReason
    retry_after: int
    detail: str


@dataclass(frozen=True, slots=True)
class ShedReport:
    """Calls shed since the last report (``counts`` by reason) and in all (``total``)."""

    counts: dict[ShedReason, int]
    since: float  # time of the first call shed in this report
    total: int

    def __str__(self) -> str:
        parts = ", ".join(f"{n} by {reason}" for reason, n in self.counts.items())
        n = sum(self.counts.values())
        return f"{n} new call{'' if n == 1 else 's'} refused with 503 ({parts})"


class LagMeter:
    """How late the event loop runs: the runtime schedules a tick every ``interval``
    seconds (``next_tick``) and reports when it ran (``tick``). A tick that is overdue also
    counts while it waits, so a saturated loop is noticed before its tick finally runs."""

    __slots__ = ("_due", "interval", "last")

    def __init__(self, interval: float = 0.05) -> None:
        if interval <= 0:
            raise ValueError("interval must be positive")
        self.interval = interval
        self.last = 0.0  # lateness of the last tick that ran, seconds
        self._due: float | None = None

    def next_tick(self, now: float) -> float:
        """Schedule the next tick: when it is due."""
        self._due = now + self.interval
        return self._due

    def tick(self, now: float) -> float:
        """The scheduled tick ran at ``now``; its lateness."""
        due = self._due if self._due is not None else now
        self._due = None
        self.last = max(0.0, now - due)
        return self.last

    def lag(self, now: float) -> float:
        """The loop's lag now: the last tick's lateness, or the pending tick's if more."""
        overdue = 0.0 if self._due is None else now - self._due
        return max(self.last, overdue)


class OverloadGuard:
    """Admission of new calls under the limits; counts what it sheds."""

    def __init__(self, limits: OverloadLimits, report_every: float = 5.0) -> None:
        self.limits = limits
        self.report_every = report_every
        rate = limits.max_calls_per_second
        self.burst = max(1.0, rate) if rate is not None else 0.0
        self._tokens = self.burst
        self._filled_at: float | None = None
        self._lag_until = -math.inf  # refusing on lag until then
        self.admitted = 0
        self.shed: Counter[ShedReason] = Counter()  # every call shed, by reason
        self._pending: Counter[ShedReason] = Counter()  # shed and not reported yet
        self._pending_since: float | None = None
        self._reported_at = -math.inf

    @property
    def total_shed(self) -> int:
        return sum(self.shed.values())

    def check(self, now: float, *, calls: int, in_setup: int, lag: float = 0.0) -> Shed | None:
        """A new call arrives: ``None`` to take it, or why to refuse it.

        ``calls``: calls in progress (not counting this one); ``in_setup``: calls received
        and not answered and acknowledged yet; ``lag``: the event loop's lag in seconds.
        A call taken uses a token of the rate limit; a call refused uses none.
        """
        limits = self.limits
        verdict: Shed | None = None
        if limits.max_calls is not None and calls >= limits.max_calls:
            verdict = self._shed("calls", f"{calls} calls in progress, max_calls "
                                 f"{limits.max_calls}")
        elif limits.max_calls_in_setup is not None and in_setup >= limits.max_calls_in_setup:
            verdict = self._shed("setup", f"{in_setup} calls in setup, max_calls_in_setup "
                                 f"{limits.max_calls_in_setup}")
        elif limits.max_loop_lag is not None and self.lagging(now, lag):
            verdict = self._shed("lag", f"event loop {lag * 1000:.0f} ms late (max_loop_lag "
                                 f"{limits.max_loop_lag * 1000:.0f} ms, then "
                                 f"{limits.hold:g} s more)")
        elif limits.max_calls_per_second is not None and not self._take_token(now):
            verdict = self._shed("rate", f"over max_calls_per_second "
                                 f"{limits.max_calls_per_second:g}")
        if verdict is None:
            self.admitted += 1
            return None
        if self._pending_since is None:
            self._pending_since = now
        return verdict

    def lagging(self, now: float, lag: float) -> bool:
        """True while new calls are refused for the loop's lag (``hold`` after it eased)."""
        limit = self.limits.max_loop_lag
        if limit is None:
            return False
        if lag > limit:
            self._lag_until = now + self.limits.hold
            return True
        return now < self._lag_until

    def _take_token(self, now: float) -> bool:
        rate = self.limits.max_calls_per_second
        assert rate is not None
        if self._filled_at is not None and now > self._filled_at:
            self._tokens = min(self.burst, self._tokens + (now - self._filled_at) * rate)
        if self._filled_at is None or now > self._filled_at:
            self._filled_at = now
        if self._tokens >= 1.0:
            self._tokens -= 1.0
            return True
        return False

    def _shed(self, reason: ShedReason, detail: str) -> Shed:
        self.shed[reason] += 1
        self._pending[reason] += 1
        return Shed(reason, self.limits.retry_after, detail)

    def report(self, now: float, *, final: bool = False) -> ShedReport | None:
        """What was shed and not reported yet, at most once per ``report_every`` seconds
        (the first call shed after a quiet spell is reported at once); ``final``: now,
        whatever the time (at shutdown). ``None`` when there is nothing (yet) to say."""
        if not self._pending or self._pending_since is None:
            return None
        if not final and now - self._reported_at < self.report_every:
            return None
        counts = {reason: self._pending[reason] for reason in REASONS if self._pending[reason]}
        report = ShedReport(counts, self._pending_since, self.total_shed)
        self._pending.clear()
        self._pending_since = None
        self._reported_at = now
        return report
