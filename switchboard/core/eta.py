"""Estimated waiting time of a queued caller (MISSION Q3, B3).

Two estimators with one interface, so both can be announced / recorded side by side and
measured against the wait that really happened:

- ``MovingAverageEstimator``: Asterisk app_queue's, the classic PBX baseline.
- ``ProjectionEstimator``: ours; projects the queue forward from the agents' actual state.

``queue_estimators`` builds each queue's list; docs/routing.md says how to add another.
"""

from __future__ import annotations

import heapq
import math
from bisect import bisect_right
from collections import deque
from collections.abc import Callable, Sequence
from functools import partial
from itertools import accumulate
from operator import add
from typing import Protocol

from switchboard.config.model import Eta


class EtaEstimator(Protocol):
    """Estimates one queue's waiting times; fed with that queue's answered and handled calls."""

    name: str

    def observe_answered(self, wait: float) -> None:
        """A caller of this queue was answered after waiting ``wait`` seconds."""

    def observe_handled(self, handling: float) -> None:
        """An agent of this queue finished a call: ``handling`` = talk + wrap-up seconds."""

    def estimate(
        self, position: int, free_agents: int, busy_elapsed: Sequence[float], waited: float
    ) -> float:
        """Seconds from now until the caller at ``position`` (1 = next) is answered.

        ``free_agents``: agents available for this queue now and idle, or being rung (about
        to take this caller or one ahead);
        ``busy_elapsed``: per agent of this queue now talking or in wrap-up, seconds since
        that call started; ``waited``: this caller's wait so far.
        """
        ...


def queue_estimators(settings: Eta) -> list[EtaEstimator]:
    """One queue's estimators, each fed with that queue's calls. The one named
    ``switchboard`` is announced; every one is recorded in ``EtaEstimated``."""
    return [ProjectionEstimator(settings.default_handling), MovingAverageEstimator()]


class MovingAverageEstimator:
    """Asterisk app_queue's estimate: an exponential average of answered callers' waits.

    As ``recalc_holdtime`` does it, on every answered caller, in whole seconds:
    ``holdtime = (3 * holdtime + wait) >> 2``, starting from 0. The estimate is
    ``max(0, holdtime - waited)``, what ``say_position`` announces (Asterisk takes the
    absolute value, which grows again once the caller has waited longer than the average;
    we clamp at 0). Position and agents are ignored, as in Asterisk.
    """

    name = "moving_average"

    def __init__(self) -> None:
        self.holdtime = 0

    def observe_answered(self, wait: float) -> None:
        new = max(int(wait), 0)  # time_t arithmetic: whole seconds, truncated
        self.holdtime = (3 * self.holdtime + new) >> 2

    def observe_handled(self, handling: float) -> None:
        """Not used by this method."""

    def estimate(
        self, position: int, free_agents: int, busy_elapsed: Sequence[float], waited: float
    ) -> float:
        return max(0.0, self.holdtime - waited)


class ProjectionEstimator:
    """Project the queue forward from who is free and how long the busy agents have talked.

    It keeps the last ``window`` handling times (talk + wrap-up); ``H`` is their mean (the
    ``default_handle`` until ``MIN_OBSERVATIONS`` are in). Then:

    - A busy agent whose call started ``e`` seconds ago frees up after a residual drawn from
      the window values ``h > e`` (as ``h - e``): the empirical residual life. Its mean
      (``residual(e)``) is about ``H`` whatever ``e`` for exponential handling and grows
      with ``e`` for heavy tails. With no window value above ``e`` it is ``H`` (memoryless).
    - After that, and from now on for a free agent, each agent finishes further calls
      "every ``H``": on a lattice ``r + H, r + 2H, ...`` (``r`` the mean residual) when
      handling times are steady, at rate ``1/H`` when they vary a lot. The two are weighted
      by the window's coefficient of variation ``w = min(1, sd / mean)``.
    - The estimate for ``position`` is the first time the expected number of agents freed
      reaches ``position``: ``sum_i E[N_i(t)] >= position``.

    With steady handling (``w = 0``) this is exactly the queue projection ``heap_estimate``
    (every caller ahead takes the agent free first, who is busy again for ``H``); for
    memoryless handling it is the exact mean ``(position - free) * H / agents``. Using
    expected *residuals* in the heap instead (the first design) ignores that the first of
    ten busy agents frees up much sooner than an average one, and on M/M/10 it loses to the
    moving average; see the tests. Before ``MIN_OBSERVATIONS`` handling times, handling is
    taken as exponential with mean ``default_handle``.

    Exactly 0.0 when ``position <= free_agents``; ``math.inf`` when no agent serves the
    queue at all (none free, none busy).
    """

    name = "switchboard"
    MIN_OBSERVATIONS = 5
    _ITERATIONS = 100  # root-finding steps at most
    _TOLERANCE = 1e-3  # bracket before the exact finish: 1e-3 * (1 s + estimate)

    def __init__(self, default_handle: float = 180.0, window: int = 200) -> None:
        if not default_handle > 0 or window < self.MIN_OBSERVATIONS:
            raise ValueError(
                f"default_handle must be > 0 and window >= {self.MIN_OBSERVATIONS}, "
                f"not {default_handle}, {window}"
            )
        self.default_handle = float(default_handle)
        self._window: deque[float] = deque(maxlen=window)
        self._dirty = False
        self._sorted: list[float] = []
        self._prefix: list[float] = [0.0]  # _prefix[i] = sum(_sorted[:i])
        self._mean = self.default_handle
        self._variability = 1.0

    # ------------------------------------------------------------------ observations

    def observe_answered(self, wait: float) -> None:
        """Not used by this method: it looks at the agents, not at past waits."""

    def observe_handled(self, handling: float) -> None:
        if handling >= 0 and math.isfinite(handling):
            self._window.append(float(handling))
            self._dirty = True

    # ------------------------------------------------------------------ model parameters

    @property
    def mean_handle(self) -> float:
        """``H``: the window's mean handling time, or the default while it is short."""
        self._refresh()
        return self._mean

    @property
    def variability(self) -> float:
        """``w``: the window's coefficient of variation, capped at 1 (1 while it is short)."""
        self._refresh()
        return self._variability

    def residual(self, elapsed: float) -> float:
        """Expected seconds until an agent busy for ``elapsed`` seconds is free."""
        self._refresh()
        return self._residuals((elapsed,))[0]

    # ------------------------------------------------------------------ estimates

    def estimate(
        self, position: int, free_agents: int, busy_elapsed: Sequence[float], waited: float
    ) -> float:
        free_agents = max(free_agents, 0)
        if position <= free_agents:
            return 0.0
        agents = free_agents + len(busy_elapsed)
        if agents == 0:
            return math.inf
        self._refresh()
        if not self._sorted:  # exponential prior: the departures are a Poisson stream
            return (position - free_agents) * self._mean / agents
        if self._variability == 0.0:
            return self.heap_estimate(position, free_agents, busy_elapsed)
        return self._expected_count_estimate(position, free_agents, busy_elapsed)

    def heap_estimate(
        self, position: int, free_agents: int, busy_elapsed: Sequence[float]
    ) -> float:
        """The plain queue projection: a min-heap of times until each agent is free (0 for
        free agents, ``residual(e)`` for busy ones); each caller ahead takes the first, who
        is then busy for ``H`` more; this caller's pop is the estimate."""
        free_agents = max(free_agents, 0)
        if position <= free_agents:
            return 0.0
        if free_agents == 0 and not busy_elapsed:
            return math.inf
        self._refresh()
        handle = self._mean
        # zeros then ascending residuals: already a valid heap, no heapify needed
        heap = [0.0] * free_agents + sorted(self._residuals(busy_elapsed))
        for _ in range(position - 1):
            heapq.heapreplace(heap, heap[0] + handle)
        return heap[0]

    def _residuals(self, busy_elapsed: Sequence[float]) -> list[float]:
        values, prefix, handle = self._sorted, self._prefix, self._mean
        n, total = len(values), prefix[-1]
        residuals = []
        for e in busy_elapsed:
            i = bisect_right(values, e)
            residuals.append((total - prefix[i]) / (n - i) - e if i < n else handle)
        return residuals

    def _expected_count_estimate(
        self, position: int, free_agents: int, busy_elapsed: Sequence[float]
    ) -> float:
        values, prefix, handle = self._sorted, self._prefix, self._mean
        w = self._variability
        lattice = 1.0 - w
        n = len(values)
        total = prefix[-1]
        floor, exp = math.floor, math.exp
        # per busy agent seen in the window: (elapsed, first index above it, 1/count above
        # it, mean residual r)
        known: list[tuple[float, int, float, float]] = []
        unknown = 0  # agents busy longer than any handling time seen: memoryless, mean H
        for e in busy_elapsed:
            i = bisect_right(values, e)
            if i < n:
                above = n - i
                known.append((e, i, 1.0 / above, (total - prefix[i]) / above - e))
            else:
                unknown += 1

        def shortfall(t: float) -> float:
            """Expected agent releases within ``t`` seconds from now, minus ``position``."""
            count = free_agents * (1.0 + w * t / handle + lattice * floor(t / handle))
            for e, i, inv_above, r in known:
                j = bisect_right(values, e + t, i)
                if j > i:  # window values in (e, e + t]: residual <= t
                    k = j - i
                    count += (
                        k * inv_above * (1.0 + w * (t + e - (prefix[j] - prefix[i]) / k) / handle)
                    )
                if lattice and t >= r:
                    count += lattice * floor((t - r) / handle)
            if unknown:
                decay = exp(-t / handle)
                count += unknown * (1.0 - decay + w * (t / handle - 1.0 + decay))
                if lattice and t >= handle:
                    count += unknown * lattice * floor((t - handle) / handle)
            return count - position

        def jumps(lo: float, hi: float) -> list[float]:
            """Where the expected count steps up within (lo, hi): a window value reached,
            a lattice point passed."""
            points: list[float] = []
            for e, i, _, r in known:
                first = bisect_right(values, e + lo, i)
                for v in values[first : bisect_right(values, e + hi, first)]:
                    points.append(_first_reaching(partial(add, e), v, v - e))
                if lattice:
                    points.extend(_lattice_points(r, handle, lo, hi))
            if lattice and free_agents:
                points.extend(_lattice_points(0.0, handle, lo, hi))
            if lattice and unknown:
                points.extend(_lattice_points(handle, handle, lo, hi))
            return sorted({p for p in points if lo < p < hi})

        # bracket [lo, hi] with shortfall(lo) < 0 <= shortfall(hi); shortfall(0) < 0
        lo, f_lo = 0.0, float(free_agents - position)
        hi = (position - free_agents) * handle / (free_agents + len(busy_elapsed))
        f_hi = shortfall(hi)
        while f_hi < 0:
            lo, f_lo = hi, f_hi
            hi *= 2.0
            f_hi = shortfall(hi)
        # Illinois (regula falsi that halves the stale end): few steps where the count is
        # smooth (many agents), bisection speed at its jumps
        side = 0
        for _ in range(self._ITERATIONS):
            if hi - lo <= self._TOLERANCE * (1.0 + hi):
                break
            t = lo - f_lo * (hi - lo) / (f_hi - f_lo)
            if not lo < t < hi:
                t = 0.5 * (lo + hi)
            f_t = shortfall(t)
            if f_t >= 0:
                hi, f_hi = t, f_t
                if side > 0:
                    f_lo *= 0.5
                side = 1
            else:
                lo, f_lo = t, f_t
                if side < 0:
                    f_hi *= 0.5
                side = -1
        # Finish exactly: between jumps the count is linear (up to the memoryless agents'
        # curvature), so the answer is a jump or a straight-line crossing. This makes callers
        # waiting for the same release get the same estimate, and estimates monotone.
        points = [lo, *jumps(lo, hi), hi]
        first, last = 0, len(points) - 1  # shortfall(points[first]) < 0 <= at points[last]
        while last - first > 1:
            mid = (first + last) // 2
            if shortfall(points[mid]) >= 0:
                last = mid
            else:
                first = mid
        start, end = points[first], points[last]
        just_before = math.nextafter(end, start)
        if just_before <= start:
            return end
        f_before = shortfall(just_before)
        if f_before < 0:  # the count jumps over position at ``end``
            return end
        # the crossing is inside [start, end): a straight line there (slightly curved by
        # memoryless agents), so regula falsi lands on it at once or converges fast; the
        # Illinois halving also copes with a step the jump list missed
        a, f_a, b, f_b = start, shortfall(start), just_before, f_before
        side = 0
        for _ in range(self._ITERATIONS):
            t = min(max(a - f_a * (b - a) / (f_b - f_a), a), b)
            f_t = shortfall(t)
            if abs(f_t) <= 1e-9 * position:
                return t
            if f_t > 0:
                b, f_b = t, f_t
                if side > 0:
                    f_a *= 0.5
                side = 1
            else:
                a, f_a = t, f_t
                if side < 0:
                    f_b *= 0.5
                side = -1
            if b - a <= 1e-12 * (1.0 + b):
                break
        return b

    def _refresh(self) -> None:
        if not self._dirty:
            return
        self._dirty = False
        if len(self._window) < self.MIN_OBSERVATIONS:
            self._sorted, self._prefix = [], [0.0]
            self._mean, self._variability = self.default_handle, 1.0
            return
        self._sorted = sorted(self._window)
        self._prefix = [0.0, *accumulate(self._sorted)]
        n = len(self._sorted)
        mean = self._prefix[-1] / n
        variance = sum((x - mean) ** 2 for x in self._sorted) / n
        self._mean = mean
        steady = self._sorted[0] == self._sorted[-1]  # no rounding noise for a constant window
        self._variability = 0.0 if steady else min(1.0, math.sqrt(variance) / mean)


def _lattice_points(first: float, step: float, lo: float, hi: float) -> list[float]:
    """``first + k * step`` for k >= 1, within (lo, hi)."""
    k = max(math.floor((lo - first) / step), 0) + 1
    points: list[float] = []
    while True:
        point = _first_reaching(lambda t: math.floor((t - first) / step), k, first + k * step)
        if point >= hi:
            return points
        if point > lo:
            points.append(point)
        k += 1


def _first_reaching(f: Callable[[float], float], level: float, guess: float) -> float:
    """The smallest float ``t`` near ``guess`` with ``f(t) >= level`` (``f`` non-decreasing):
    where a step of the expected count really is, in floating point."""
    t = guess
    while f(t) < level:
        t = math.nextafter(t, math.inf)
    while f(below := math.nextafter(t, -math.inf)) >= level:
        t = below
    return t
