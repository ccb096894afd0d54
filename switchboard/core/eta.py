"""Estimated waiting time of a queued caller (MISSION Q3, B3).

Two estimators with one interface, so both can be announced / recorded side by side and
measured against the wait that really happened:

- ``MovingAverageEstimator``: Asterisk app_queue's, the classic PBX baseline.
- ``ProjectionEstimator``: ours; projects the queue forward from the agents' actual state.
"""

from __future__ import annotations

import heapq
import math
from bisect import bisect_right
from collections import deque
from collections.abc import Sequence
from itertools import accumulate
from typing import Protocol


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

        ``free_agents``: agents idle and available for this queue now (not ringing);
        ``busy_elapsed``: per agent of this queue now talking or in wrap-up, seconds since
        that call started; ``waited``: this caller's wait so far.
        """
        ...


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

    Keeps the last ``window`` handling times (talk + wrap-up). ``H`` is their mean (the
    ``default_handle`` until ``MIN_OBSERVATIONS`` are in). A busy agent whose call started
    ``e`` seconds ago is expected to be free after the mean of ``h - e`` over the handling
    times ``h > e`` in the window (the empirical mean residual life: about ``H`` whatever ``e``
    for exponential handling, growing with ``e`` for heavy tails), or ``H`` when no window
    value exceeds ``e``. Then each caller ahead, and finally this one, takes the agent that
    is free first, who is busy again for ``H`` from then on. The time this caller gets an
    agent is the estimate: exactly 0.0 when ``position <= free_agents``, and ``math.inf``
    when the queue has no agent at all (none free, none busy).
    """

    name = "switchboard"
    MIN_OBSERVATIONS = 5

    def __init__(self, default_handle: float = 180.0, window: int = 200) -> None:
        if default_handle <= 0 or window < self.MIN_OBSERVATIONS:
            raise ValueError(
                f"default_handle must be > 0 and window >= {self.MIN_OBSERVATIONS}, "
                f"not {default_handle}, {window}"
            )
        self.default_handle = float(default_handle)
        self._window: deque[float] = deque(maxlen=window)
        self._dirty = False
        self._sorted: list[float] = []
        self._tail_sums: list[float] = []  # _tail_sums[i] = sum(_sorted[i:])
        self._mean = self.default_handle

    # ------------------------------------------------------------------ observations

    def observe_answered(self, wait: float) -> None:
        """Not used by this method: it looks at the agents, not at past waits."""

    def observe_handled(self, handling: float) -> None:
        if handling >= 0 and math.isfinite(handling):
            self._window.append(float(handling))
            self._dirty = True

    # ------------------------------------------------------------------ estimates

    @property
    def mean_handle(self) -> float:
        """``H``: the window's mean handling time, or the default while it is short."""
        self._refresh()
        return self._mean

    def residual(self, elapsed: float) -> float:
        """Expected seconds until an agent busy for ``elapsed`` seconds is free."""
        self._refresh()
        values = self._sorted
        if not values:
            return self._mean
        i = bisect_right(values, elapsed)
        above = len(values) - i
        if above == 0:
            return self._mean
        return self._tail_sums[i] / above - elapsed

    def estimate(
        self, position: int, free_agents: int, busy_elapsed: Sequence[float], waited: float
    ) -> float:
        if position <= free_agents:
            return 0.0
        if free_agents <= 0 and not busy_elapsed:
            return math.inf
        self._refresh()
        handle = self._mean
        residuals = sorted(self.residual(e) for e in busy_elapsed)
        # zeros then ascending residuals: already a valid heap, no heapify needed
        heap = [0.0] * max(free_agents, 0) + residuals
        for _ in range(position - 1):
            heapq.heapreplace(heap, heap[0] + handle)
        return heap[0]

    def _refresh(self) -> None:
        if not self._dirty:
            return
        self._dirty = False
        if len(self._window) < self.MIN_OBSERVATIONS:
            self._sorted = []
            self._tail_sums = []
            self._mean = self.default_handle
            return
        self._sorted = sorted(self._window)
        self._tail_sums = list(accumulate(reversed(self._sorted)))[::-1]
        self._mean = self._tail_sums[0] / len(self._sorted)
