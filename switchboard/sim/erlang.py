"""Erlang B, C and A: blocking, waiting and staffing for queues and trunks (MISSION B6).

Pure functions; rates are per second, times in seconds, traffic in Erlangs
(arrival rate x mean handling time). Everything is computed with recursions or in
log space, so hundreds or thousands of agents neither overflow nor lose precision.

- Erlang B (M/M/c/c): the share of calls refused when all ``servers`` channels are busy.
- Erlang C (M/M/c): callers wait forever; P(wait > 0), mean wait, service level.
- Erlang A (M/M/c+M, Palm): callers hang up after an exponential patience.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

__all__ = [
    "ChainTooLongError",
    "ErlangA",
    "StaffingHour",
    "agents_needed",
    "channels_needed",
    "erlang_a",
    "erlang_b",
    "erlang_c",
    "erlang_c_mean_wait",
    "erlang_c_service_level",
    "staffing_advice",
]

# Chain states whose probability is below e**-_NEGLIGIBLE_LOG of the largest are dropped
# (e**-50 ~ 2e-22: far below float precision of the sums they would join).
_NEGLIGIBLE_LOG = 50.0
# An overloaded queue with near-infinite patience has a waiting room of about
# (rate - agents/handle) * patience callers; past this many the chain is refused.
_MAX_WAITING_STATES = 2_000_000


class ChainTooLongError(ValueError):
    """Erlang A was asked about an overloaded queue whose callers (almost) never give up."""


def _check(traffic: float, servers: int) -> None:
    if not traffic >= 0 or math.isinf(traffic):
        raise ValueError(f"traffic must be a finite number >= 0, got {traffic!r}")
    if servers < 0:
        raise ValueError(f"servers/agents must be >= 0, got {servers!r}")


def _check_rates(rate: float, mean_handle: float) -> None:
    if not rate >= 0 or math.isinf(rate):
        raise ValueError(f"rate must be a finite number >= 0, got {rate!r}")
    if not mean_handle > 0 or math.isinf(mean_handle):
        raise ValueError(f"mean_handle must be a finite number > 0, got {mean_handle!r}")


# --------------------------------------------------------------------------- Erlang B / C


def erlang_b(traffic: float, servers: int) -> float:
    """Blocking probability of ``traffic`` Erlangs offered to ``servers`` channels (M/M/c/c)."""
    _check(traffic, servers)
    # B(0) = 1, B(k) = A B(k-1) / (k + A B(k-1)): no factorials, every step in (0, 1].
    blocking = 1.0
    for k in range(1, servers + 1):
        blocking = traffic * blocking / (k + traffic * blocking)
    return blocking


def _c_from_b(traffic: float, agents: int, blocking: float) -> float:
    return agents * blocking / (agents - traffic * (1.0 - blocking))


def erlang_c(traffic: float, agents: int) -> float:
    """P(wait > 0) for ``traffic`` Erlangs and ``agents`` (M/M/c); 1.0 when unstable."""
    _check(traffic, agents)
    if traffic >= agents:
        return 1.0
    return _c_from_b(traffic, agents, erlang_b(traffic, agents))


def erlang_c_mean_wait(rate: float, mean_handle: float, agents: int) -> float:
    """Mean wait in seconds over ALL callers (those answered at once count 0); inf if unstable."""
    _check_rates(rate, mean_handle)
    traffic = rate * mean_handle
    if traffic >= agents:
        return math.inf
    return erlang_c(traffic, agents) * mean_handle / (agents - traffic)


def erlang_c_service_level(rate: float, mean_handle: float, agents: int, target: float) -> float:
    """P(wait <= ``target`` seconds) over all callers (M/M/c); 0.0 if unstable."""
    _check_rates(rate, mean_handle)
    if target < 0:
        raise ValueError(f"target must be >= 0, got {target!r}")
    traffic = rate * mean_handle
    if traffic >= agents:
        return 0.0  # the queue grows without bound: in the long run nobody is in time
    tail = erlang_c(traffic, agents) * math.exp(-(agents - traffic) * target / mean_handle)
    return max(0.0, 1.0 - tail)


# --------------------------------------------------------------------------- Erlang A


@dataclass(frozen=True)
class ErlangA:
    """Steady-state figures of an M/M/c+M queue.

    ``mean_wait`` averages over all callers (answered at once, answered after waiting and
    abandoned); ``service_level`` is the share of ALL callers answered within the target,
    so abandoned callers count against it.
    """

    p_wait: float
    p_abandon: float
    mean_wait: float
    service_level: float
    occupancy: float


def erlang_a(
    rate: float, mean_handle: float, mean_patience: float, agents: int, target: float = 20
) -> ErlangA:
    """M/M/c+M (Palm's Erlang A), exact from the birth-death chain.

    The chain (n callers in the system; births ``rate``; deaths ``min(n, c)/handle +
    max(n - c, 0)/patience``) is summed in log space and truncated where the remaining
    states are negligible. ``mean_patience=math.inf`` is Erlang C; ``0`` (callers who
    hang up at once when nobody is free, as ``patience: {kind: fixed, mean: 0}``) is the
    limit of ever shorter patience: Erlang B's loss system.
    """
    _check_rates(rate, mean_handle)
    if not mean_patience >= 0:
        raise ValueError(f"mean_patience must be >= 0, got {mean_patience!r}")
    if agents < 0:
        raise ValueError(f"agents must be >= 0, got {agents!r}")
    if target < 0:
        raise ValueError(f"target must be >= 0, got {target!r}")
    if rate == 0:
        return ErlangA(p_wait=0.0, p_abandon=0.0, mean_wait=0.0, service_level=1.0, occupancy=0.0)
    if math.isinf(mean_patience):
        return _erlang_a_as_c(rate, mean_handle, agents, target)
    if mean_patience == 0:
        return _erlang_a_as_b(rate, mean_handle, agents)

    mu = 1.0 / mean_handle
    theta = 1.0 / mean_patience
    log_rate = math.log(rate)
    serving = agents * mu  # total service rate while every agent is busy

    # log p_n (unnormalised, log p_0 = 0). Below c the chain is Poisson-shaped; above it
    # each extra waiting caller adds theta to the death rate, so the tail always decays.
    logs = [0.0]
    for n in range(1, agents + 1):
        logs.append(logs[-1] + log_rate - math.log(n * mu))
    peak = max(logs)
    waiting = 0
    while True:
        waiting += 1
        step = log_rate - math.log(serving + waiting * theta)
        value = logs[-1] + step
        logs.append(value)
        peak = max(peak, value)
        # Ratios only shrink from here, so once they are < 1 the tail is bounded by a
        # geometric series starting at a negligible term.
        if step < 0 and value < peak - _NEGLIGIBLE_LOG:
            break
        if waiting > _MAX_WAITING_STATES:
            raise ChainTooLongError(
                f"{rate:g} calls/s on {agents} agents with {mean_patience:g} s patience: "
                "the queue is overloaded and nearly endless; use Erlang C (no patience)"
            )

    weights = [math.exp(v - peak) for v in logs]
    total = math.fsum(weights)
    below = math.fsum(weights[:agents]) / total  # arrival finds a free agent (PASTA)
    p_full = weights[agents] / total  # exactly c in the system: all busy, nobody waiting
    queue_mean = math.fsum(k * w for k, w in enumerate(weights[agents:])) / total
    busy_below = math.fsum(n * w for n, w in enumerate(weights[:agents])) / total
    busy_mean = busy_below + agents * (1 - below)

    in_time = below + _answered_within(rate, serving, theta, p_full, target)
    return ErlangA(
        p_wait=min(1.0, max(0.0, 1.0 - below)),
        p_abandon=min(1.0, theta * queue_mean / rate),  # abandon rate / arrival rate
        mean_wait=queue_mean / rate,  # Little's law on the waiting room
        service_level=min(1.0, max(0.0, in_time)),
        occupancy=busy_mean / agents if agents else 0.0,
    )


def _answered_within(rate: float, serving: float, theta: float, p_full: float, t: float) -> float:
    """P(the caller waits, and is answered within ``t``), for Erlang A.

    A caller who finds i others waiting is answered once those ahead are served or gone:
    the count ahead falls at rate ``serving + i*theta`` while the caller abandons at rate
    ``theta``. Started from the arrival distribution p_{c+i} = p_c prod_k rate/(serving +
    k*theta), the still-waiting mass with i ahead keeps the product form
    ``p_c a(s) (rate e^{-theta s})^i / prod_k (serving + k*theta)`` with
    ``a(s) = exp(-(serving + theta) s + rate/theta (1 - e^{-theta s}))``; callers are
    answered at rate ``serving * p_c * a(s)``. Integrated here with composite Simpson.
    """
    if t <= 0 or serving <= 0 or p_full <= 0:
        return 0.0
    log_head = math.log(serving) + math.log(p_full)
    ratio = rate / theta

    def integrand(s: float) -> float:
        return math.exp(log_head - (serving + theta) * s - ratio * math.expm1(-theta * s))

    # The log-integrand moves at most (serving + theta + rate) per second: 40 panels per
    # unit of that change keeps Simpson's error near 1e-9.
    panels = max(64, math.ceil(40 * (serving + theta + rate) * t))
    panels += panels % 2
    h = t / panels
    odd = math.fsum(integrand((2 * j - 1) * h) for j in range(1, panels // 2 + 1))
    even = math.fsum(integrand(2 * j * h) for j in range(1, panels // 2))
    return h / 3 * (integrand(0.0) + 4 * odd + 2 * even + integrand(t))


def _erlang_a_as_b(rate: float, mean_handle: float, agents: int) -> ErlangA:
    """No patience: a caller is answered at once (in time) or lost at once (M/M/c/c)."""
    traffic = rate * mean_handle
    blocked = erlang_b(traffic, agents)
    return ErlangA(
        p_wait=blocked,
        p_abandon=blocked,
        mean_wait=0.0,
        service_level=1.0 - blocked,
        occupancy=traffic * (1.0 - blocked) / agents if agents else 0.0,
    )


def _erlang_a_as_c(rate: float, mean_handle: float, agents: int, target: float) -> ErlangA:
    traffic = rate * mean_handle
    if traffic >= agents:
        return ErlangA(
            p_wait=1.0,
            p_abandon=0.0,
            mean_wait=math.inf,
            service_level=0.0,
            occupancy=1.0 if agents else 0.0,
        )
    return ErlangA(
        p_wait=erlang_c(traffic, agents),
        p_abandon=0.0,
        mean_wait=erlang_c_mean_wait(rate, mean_handle, agents),
        service_level=erlang_c_service_level(rate, mean_handle, agents, target),
        occupancy=traffic / agents,
    )


# --------------------------------------------------------------------------- staffing


def agents_needed(
    rate: float,
    mean_handle: float,
    target_sl: float = 0.8,
    target_seconds: float = 20,
    mean_patience: float | None = None,
    max_occupancy: float = 0.9,
) -> int:
    """Smallest number of agents answering ``target_sl`` of calls within ``target_seconds``
    with occupancy at most ``max_occupancy``.

    Erlang C when ``mean_patience`` is None, Erlang A otherwise (abandoning callers make
    fewer agents suffice). No traffic needs no agents.
    """
    _check_rates(rate, mean_handle)
    if not 0 <= target_sl < 1:
        raise ValueError(f"target_sl must be in [0, 1) (1 is never reached), got {target_sl!r}")
    if not 0 < max_occupancy <= 1:
        raise ValueError(f"max_occupancy must be in (0, 1], got {max_occupancy!r}")
    if target_seconds < 0:
        raise ValueError(f"target_seconds must be >= 0, got {target_seconds!r}")
    if rate == 0:
        return 0

    def enough(agents: int) -> bool:
        if mean_patience is None:
            traffic = rate * mean_handle
            return (
                traffic < agents
                and traffic / agents <= max_occupancy
                and erlang_c_service_level(rate, mean_handle, agents, target_seconds) >= target_sl
            )
        try:
            figures = erlang_a(rate, mean_handle, mean_patience, agents, target_seconds)
        except ChainTooLongError:
            return False  # hopelessly overloaded: nobody is answered in time
        return figures.occupancy <= max_occupancy and figures.service_level >= target_sl

    # Service level rises and occupancy falls with every added agent, so bisect.
    low = 0  # never enough with traffic > 0
    high = max(1, math.ceil(rate * mean_handle))
    while not enough(high):
        low, high = high, high * 2
    while high - low > 1:
        middle = (low + high) // 2
        if enough(middle):
            high = middle
        else:
            low = middle
    return high


def channels_needed(rate: float, mean_duration: float, blocking: float = 0.01) -> int:
    """Trunk channels for a number so that at most ``blocking`` of calls find all busy."""
    _check_rates(rate, mean_duration)
    if not 0 < blocking <= 1:
        raise ValueError(f"blocking must be in (0, 1], got {blocking!r}")
    traffic = rate * mean_duration
    if traffic == 0:
        return 0
    channels, probability = 0, 1.0
    while probability > blocking:
        channels += 1
        probability = traffic * probability / (channels + traffic * probability)
    return channels


@dataclass(frozen=True)
class StaffingHour:
    """Advice for one weekday (0 = Monday) and hour of the day (0-23)."""

    weekday: int
    hour: int
    calls_per_hour: float  # all calls: each holds a channel
    erlangs: float  # the agents' traffic: of the calls that wanted an agent
    agents_needed: int
    channels_needed: int
    agent_calls_per_hour: float = 0.0  # the calls that wanted an agent


def staffing_advice(
    arrivals: Sequence[Sequence[float]],
    mean_handle: float,
    target_sl: float,
    target_seconds: float,
    mean_patience: float | None,
    days_observed: Sequence[int],
    wanting: Sequence[Sequence[float]] | None = None,
) -> list[StaffingHour]:
    """Agents and channels per weekday and hour from a call heatmap (MISSION B6, P3).

    ``arrivals[weekday][hour]`` is the number of calls summed over the observed days and
    ``days_observed[weekday]`` how many of that weekday were observed; a weekday never
    observed gets zeros. ``wanting``, of the same shape, counts the calls among them that
    wanted an agent (a call that only hears the after-hours menu or leaves a message needs
    a channel, not an agent); without it, every call did. Channels are sized for 1 %
    blocking; a caller holds a channel while waiting too, so the holding time is the talk
    time plus the mean wait with the advised number of agents (for the calls that wait for
    one). Returns 168 entries, Monday 00:00 first.
    """
    for name, grid in (("arrivals", arrivals), ("wanting", wanting)):
        if grid is not None and (len(grid) != 7 or any(len(row) != 24 for row in grid)):
            raise ValueError(f"{name} must be 7 weekdays (Monday first) x 24 hours")
    if len(days_observed) != 7 or any(d < 0 for d in days_observed):
        raise ValueError("days_observed must be 7 counts >= 0, Monday first")
    advice: list[StaffingHour] = []
    for weekday, row in enumerate(arrivals):
        days = days_observed[weekday]
        for hour, count in enumerate(row):
            wanted = count if wanting is None else wanting[weekday][hour]
            if count < 0 or wanted < 0 or wanted > count:
                raise ValueError(f"arrivals[{weekday}][{hour}] must be >= 0 and not below "
                                 f"the calls that wanted an agent: {count!r}, {wanted!r}")
            per_hour = count / days if days else 0.0
            for_agents = wanted / days if days else 0.0
            rate, agent_rate = per_hour / 3600, for_agents / 3600
            agents = agents_needed(agent_rate, mean_handle, target_sl, target_seconds,
                                   mean_patience)
            # A call for an agent holds its channel for its wait and talk; another one
            # (a menu, a message) for about a handling time too.
            hold = _channel_hold(agent_rate, mean_handle, mean_patience, agents)
            advice.append(
                StaffingHour(
                    weekday=weekday,
                    hour=hour,
                    calls_per_hour=per_hour,
                    erlangs=agent_rate * mean_handle,
                    agents_needed=agents,
                    channels_needed=channels_needed(rate, hold),
                    agent_calls_per_hour=for_agents,
                )
            )
    return advice


def _channel_hold(
    rate: float, mean_handle: float, mean_patience: float | None, agents: int
) -> float:
    """Mean seconds a call holds a trunk channel: its wait plus, if answered, its talk."""
    if rate == 0:
        return mean_handle
    if mean_patience is None:
        return mean_handle + erlang_c_mean_wait(rate, mean_handle, agents)
    figures = erlang_a(rate, mean_handle, mean_patience, agents)
    return mean_handle * (1 - figures.p_abandon) + figures.mean_wait
