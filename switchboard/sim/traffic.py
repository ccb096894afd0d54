"""The simulated world's chance: distributions, arrivals, caller numbers, entities.

Everything takes a seeded ``random.Random``; nothing here reads a clock. Arrivals are a
non-homogeneous Poisson process whose rate is constant within each local hour, laid on an
hour grid that starts at local midnight of ``simulation.start`` in the config's timezone.
"""

from __future__ import annotations

import datetime as dt
import math
import random
from collections import Counter
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from zoneinfo import ZoneInfo

import phonenumbers

from switchboard.config.model import (
    Agent,
    AgentBehaviour,
    Config,
    Dist,
    Schedule,
    Simulation,
    Traffic,
    expand_days,
)
from switchboard.core.commands import AskWebhook, LookupCrmOwner
from switchboard.core.events import (
    CrmLookupFailed,
    CrmOwnerFound,
    Event,
    WebhookAnswered,
    WebhookFailed,
)

Sampler = Callable[[], float]
Span = tuple[float, float]  # [start, end) in UNIX seconds

# Typical office day, used when a config has no ``simulation.traffic``: quiet nights, a
# morning peak and a smaller afternoon one (relative rates, scaled to the staff).
_OFFICE_SHAPE = (
    0, 0, 0, 0, 0, 0, 0, 0.1, 0.5, 0.9, 1.0, 0.9, 0.7, 0.8, 0.9, 0.8, 0.6, 0.4, 0.2, 0.1,
    0, 0, 0, 0,
)
_DEFAULT_HANDLE = 180.0
_DEFAULT_LOAD = 0.7  # offered Erlangs per agent at the peak hour


def sampler(dist: Dist, rng: random.Random) -> Sampler:
    """A function drawing from ``dist`` with ``rng`` (parameters checked once, here).

    lognormal takes the mean and sd of the variable itself (not of its log); sd defaults to
    the mean. uniform defaults to [0, 2 x mean].
    """
    mean = dist.mean
    if dist.kind == "fixed" or (mean == 0 and dist.kind != "uniform"):
        return lambda: mean
    if dist.kind == "exponential":
        rate = 1.0 / mean
        expo = rng.expovariate
        return lambda: expo(rate)
    if dist.kind == "lognormal":
        sd = dist.sd if dist.sd is not None else mean
        sigma2 = math.log1p((sd / mean) ** 2)
        mu, sigma = math.log(mean) - sigma2 / 2, math.sqrt(sigma2)
        lognorm = rng.lognormvariate
        return lambda: lognorm(mu, sigma)
    low = dist.low if dist.low is not None else 0.0
    high = dist.high if dist.high is not None else 2 * mean
    if high < low:
        raise ValueError(f"uniform distribution: high {high} < low {low}")
    uniform = rng.uniform
    return lambda: uniform(low, high)


def dist_mean(dist: Dist) -> float:
    """The mean of ``dist`` (for Erlang formulas and staffing advice)."""
    if dist.kind == "uniform":
        low = dist.low if dist.low is not None else 0.0
        high = dist.high if dist.high is not None else 2 * dist.mean
        return (low + high) / 2
    return dist.mean


# --------------------------------------------------------------------------- the hour grid


@dataclass(frozen=True, slots=True)
class HourGrid:
    """Consecutive 3600 s slots from local midnight of the first day, labelled in local time.

    Stepping real hours (not local ones) keeps every slot exactly an hour long: a day with a
    DST change has 23 or 25 slots, and the slot index of a time is ``(t - t0) // 3600``.
    Slots past ``end`` (the drain after the last day) are labelled too.
    """

    t0: float
    end: float
    days: int
    day: tuple[int, ...]
    weekday: tuple[int, ...]
    hour: tuple[int, ...]
    dates: tuple[dt.date, ...]  # local date of each simulated day

    @property
    def hours(self) -> int:
        """Slots inside the simulated days (arrivals happen only there)."""
        return round((self.end - self.t0) / 3600)

    def index(self, t: float) -> int:
        i = int((t - self.t0) // 3600)
        return min(max(i, 0), len(self.day) - 1)


def hour_grid(config: Config, days: int, tail_days: int = 1) -> HourGrid:
    """The grid for ``days`` days from ``simulation.start`` plus ``tail_days`` of drain."""
    tz = ZoneInfo(config.timezone)
    start = config.simulation.start
    t0 = dt.datetime.combine(start, dt.time(0), tzinfo=tz).timestamp()
    end = dt.datetime.combine(start + dt.timedelta(days=days), dt.time(0), tzinfo=tz).timestamp()
    slots = round((end - t0) / 3600) + 24 * tail_days
    day, weekday, hour = [], [], []
    for i in range(slots):
        local = dt.datetime.fromtimestamp(t0 + i * 3600 + 1, tz)
        day.append((local.date() - start).days)
        weekday.append(local.weekday())
        hour.append(local.hour)
    dates = tuple(start + dt.timedelta(days=d) for d in range(days))
    return HourGrid(t0, end, days, tuple(day), tuple(weekday), tuple(hour), dates)


def hourly_profile(traffic: Traffic) -> list[float]:
    """Calls per hour for local hours 0-23 (a dict leaves unnamed hours at zero)."""
    rates = traffic.calls_per_hour
    if isinstance(rates, int | float):
        return [float(rates)] * 24
    if isinstance(rates, dict):
        profile = [0.0] * 24
        for h, rate in rates.items():
            if not 0 <= h <= 23:
                raise ValueError(f"traffic {traffic.number}: hour {h} is not 0-23")
            profile[h] = float(rate)
        return profile
    if len(rates) != 24:
        raise ValueError(f"traffic {traffic.number}: calls_per_hour needs 24 values")
    return [float(r) for r in rates]


def slot_rates(traffic: Traffic, grid: HourGrid) -> list[float]:
    """Arrival rate per second in each slot of the simulated days."""
    profile = hourly_profile(traffic)
    factors = traffic.weekday_factor or [1.0] * 7
    if len(factors) != 7:
        raise ValueError(f"traffic {traffic.number}: weekday_factor needs 7 values")
    return [
        profile[grid.hour[i]] * factors[grid.weekday[i]] / 3600 for i in range(grid.hours)
    ]


def arrival_times(rates: Sequence[float], t0: float, rng: random.Random) -> Iterator[float]:
    """Poisson arrivals with a rate constant per 3600 s slot (slot i starts at t0 + 3600 i).

    Exponential gaps are memoryless, so restarting the draw at each slot boundary is exact.
    """
    expo = rng.expovariate
    for i, rate in enumerate(rates):
        if rate <= 0:
            continue
        start = t0 + i * 3600.0
        stop = start + 3600.0
        t = start + expo(rate)
        while t < stop:
            yield t
            t += expo(rate)


def default_traffic(config: Config) -> list[Traffic]:
    """Traffic for a config without ``simulation.traffic``: an office day on every number,
    sized so the agents are about 70 % busy at the peak."""
    if not config.numbers:
        return []
    agents = max(1, sum(1 for a in config.agents if a.status != "offline"))
    peak = _DEFAULT_LOAD * agents * 3600 / _DEFAULT_HANDLE / len(config.numbers)
    profile = [round(peak * s, 2) for s in _OFFICE_SHAPE]
    return [Traffic(number=n.number, calls_per_hour=profile) for n in config.numbers]


# --------------------------------------------------------------------------- callers


class CallerNumbers:
    """Synthetic mobile numbers in the config's country (UA: ``+380 50 xxxxxxx``).

    ``known(i)`` is a fixed pool shared by every traffic stream (the config's literal list
    numbers first, so white lists and VIP numbers call too); ``fresh()`` never repeats a
    number: an affine permutation of a counter gives distinct, random-looking suffixes.
    """

    _SPAN = 10_000_000  # seven random digits
    _STEP = 7_368_787  # coprime with _SPAN, so i -> i * _STEP + offset is a permutation

    def __init__(self, config: Config, rng: random.Random, pool: int = 200) -> None:
        region = (config.country or "US").upper()
        example = phonenumbers.example_number_for_type(
            region, phonenumbers.PhoneNumberType.MOBILE
        ) or phonenumbers.example_number_for_type("US", phonenumbers.PhoneNumberType.MOBILE)
        assert example is not None
        national = str(example.national_number)
        keep = max(1, len(national) - 7)
        self._format = f"+{example.country_code}{national[:keep]}{{:0{len(national) - keep}d}}"
        self._modulo = 10 ** (len(national) - keep)
        self._offset = rng.randrange(self._SPAN)
        self._next = 0
        listed = [
            n for lst in config.lists.values() for n in lst.numbers
            if n.startswith("+") and n[1:].isdigit()
        ]
        self.pool = listed + [self.fresh() for _ in range(pool)]

    def fresh(self) -> str:
        n = (self._next * self._STEP + self._offset) % self._SPAN
        self._next += 1
        return self._format.format(n % self._modulo)


class Choice:
    """Draws one key by share; shares summing below 1 leave a chance of ``None``."""

    __slots__ = ("_bounds", "_keys")

    def __init__(self, shares: Mapping[str, float]) -> None:
        total = 0.0
        self._keys: list[str] = []
        self._bounds: list[float] = []
        scale = max(1.0, sum(shares.values()))  # shares over 1 are normalised
        for key, share in shares.items():
            total += share / scale
            self._keys.append(key)
            self._bounds.append(total)

    def draw(self, u: float) -> str | None:
        """The key for a uniform ``u`` in [0, 1)."""
        for key, bound in zip(self._keys, self._bounds, strict=True):
            if u < bound:
                return key
        return None


class CallerStream:
    """One ``simulation.traffic`` entry: when its callers arrive and who they are.

    Arrival times, caller data and durations come from separate seeded generators, so
    changing one aspect of a config (say the handling time) keeps the same arrivals.
    """

    def __init__(
        self, traffic: Traffic, index: int, seed: int, grid: HourGrid, numbers: CallerNumbers
    ) -> None:
        self.traffic = traffic
        self.number = traffic.number
        self._numbers = numbers
        self._rng = random.Random(f"callers/{seed}/{index}")
        durations = random.Random(f"durations/{seed}/{index}")
        self.arrivals: Iterator[float] = arrival_times(
            slot_rates(traffic, grid), grid.t0, random.Random(f"arrivals/{seed}/{index}")
        )
        self.handling: Sampler = sampler(traffic.handling, durations)
        self.patience: Sampler | None = (
            sampler(traffic.patience, durations) if traffic.patience is not None else None
        )
        self.digits = Choice(traffic.ivr_digits) if traffic.ivr_digits else None
        self._entities = [(name, Choice(shares)) for name, shares in traffic.entities.items()]

    def next_caller(self) -> tuple[str, dict[str, str]]:
        """A caller number (from the known pool for ``known_callers``) and website entities."""
        rng = self._rng
        if rng.random() < self.traffic.known_callers:
            pool = self._numbers.pool
            caller = pool[int(rng.random() * len(pool))]
        else:
            caller = self._numbers.fresh()
        entities: dict[str, str] = {}
        for name, choice in self._entities:
            value = choice.draw(rng.random())
            if value is not None:
                entities[name] = value
        return caller, entities


class Integrations:
    """The routing webhook and the CRM as the simulation sees them: a latency (the setting
    x U(0.5, 1.5)), failures at ``failure_rate``, answers naming a random agent. A caller's
    CRM deal owner (``owner_known`` of callers have one) stays the same all run long."""

    def __init__(self, sim: Simulation, agent_ids: list[str], rng: random.Random) -> None:
        self._sim = sim
        self._agents = agent_ids
        self._rng = rng
        self._owners: dict[str, str | None] = {}
        self.counts: Counter[str] = Counter()  # requests, failures, and what was sent

    def webhook(self, cmd: AskWebhook) -> tuple[float, Event]:
        setting, rng = self._sim.webhook, self._rng
        latency = setting.latency * rng.uniform(0.5, 1.5)
        self.counts["webhook_requests"] += 1
        if rng.random() < setting.failure_rate:
            self.counts["webhook_failures"] += 1
            return latency, WebhookFailed(cmd.call_id, cmd.request_id, "error")
        target: dict[str, object] = {"agent": self._any_agent()} if self._agents else {}
        return latency, WebhookAnswered(cmd.call_id, cmd.request_id, target)

    def crm(self, cmd: LookupCrmOwner) -> tuple[float, Event]:
        setting, rng = self._sim.crm, self._rng
        latency = setting.latency * rng.uniform(0.5, 1.5)
        self.counts["crm_lookups"] += 1
        if rng.random() < setting.failure_rate:
            self.counts["crm_failures"] += 1
            return latency, CrmLookupFailed(cmd.call_id, cmd.request_id, "error")
        if cmd.caller not in self._owners:
            known = self._agents and rng.random() < setting.owner_known
            self._owners[cmd.caller] = self._any_agent() if known else None
        return latency, CrmOwnerFound(cmd.call_id, cmd.request_id, self._owners[cmd.caller])

    def _any_agent(self) -> str:
        return self._agents[int(self._rng.random() * len(self._agents))]


# --------------------------------------------------------------------------- schedules


class Calendar:
    """Open hours of schedules as UNIX-time intervals (agent shifts, for breaks and occupancy).

    Overrides win, then public holidays close, then the weekly hours. A range that spans
    midnight belongs to the day it starts. Holiday calendars are built once per country/year.
    """

    def __init__(self, default_timezone: str) -> None:
        self._tz = default_timezone
        self._holidays: dict[tuple[str, str | None, int], object] = {}

    def daily(
        self, schedule: Schedule, dates: Sequence[dt.date]
    ) -> list[list[tuple[float, float]]]:
        """Open intervals of each of the given local dates, in time order."""
        tz = ZoneInfo(schedule.timezone or self._tz)
        out: list[list[tuple[float, float]]] = []
        for date in dates:
            midnight = dt.datetime.combine(date, dt.time(0), tzinfo=tz)
            out.append([
                (
                    (midnight + dt.timedelta(minutes=start)).timestamp(),
                    (midnight + dt.timedelta(minutes=end)).timestamp(),
                )
                for start, end in self.day_ranges(schedule, date)
            ])
        return out

    def day_ranges(self, schedule: Schedule, date: dt.date) -> list[tuple[int, int]]:
        """Open minutes of a local date as (start, end), end possibly past 1440."""
        for override in schedule.overrides:
            if override.date == date:
                return sorted(_range(r.minutes()) for r in override.hours)
        if schedule.holidays and self._is_holiday(schedule, date):
            return []
        ranges: list[tuple[int, int]] = []
        for key, hours in schedule.weekly.items():
            if date.weekday() in expand_days(key):
                ranges.extend(_range(r.minutes()) for r in hours)
        return sorted(ranges)

    def _is_holiday(self, schedule: Schedule, date: dt.date) -> bool:
        import holidays

        assert schedule.holidays is not None
        key = (schedule.holidays, schedule.holiday_subdivision, date.year)
        if key not in self._holidays:
            try:
                self._holidays[key] = holidays.country_holidays(
                    key[0], subdiv=key[1], years=key[2]
                )
            except NotImplementedError:  # unknown country: no holidays rather than a crash
                self._holidays[key] = {}
        return date in self._holidays[key]  # type: ignore[operator]


def _range(minutes: tuple[int, int]) -> tuple[int, int]:
    start, end = minutes
    return (start, end if end > start else end + 1440)


# --------------------------------------------------------------------------- agents' time


def agent_shifts(config: Config, grid: HourGrid) -> dict[str, list[list[Span]] | None]:
    """Each agent's open intervals per simulated day; None for agents without a schedule."""
    calendar = Calendar(config.timezone)
    out: dict[str, list[list[Span]] | None] = {}
    for agent in config.agents:
        schedule = config.schedules.get(agent.schedule or "")
        out[agent.id] = calendar.daily(schedule, grid.dates) if schedule is not None else None
    return out


def working_day(traffic: Sequence[Traffic], grid: HourGrid) -> list[Span]:
    """Per simulated day, from the first to the end of the last hour with any traffic."""
    busy = [False] * grid.hours
    for stream in traffic:
        for i, rate in enumerate(slot_rates(stream, grid)):
            busy[i] = busy[i] or rate > 0
    spans: list[Span] = []
    for day in range(grid.days):
        slots = [i for i in range(grid.hours) if grid.day[i] == day and busy[i]]
        if slots:
            spans.append((grid.t0 + slots[0] * 3600.0, grid.t0 + (slots[-1] + 1) * 3600.0))
    return spans


def plan_breaks(
    agents: Sequence[Agent],
    behaviour: AgentBehaviour,
    shifts: Mapping[str, list[list[Span]] | None],
    day: list[Span],
    rng: random.Random,
) -> list[tuple[float, str, str]]:
    """(time, agent, 'break' | 'available') changes: ``breaks_per_day`` breaks per agent and
    day, one in each equal part of the shift (its longest range) or of the working ``day``,
    so breaks spread out and never overlap. Agents not available by default take none."""
    count = behaviour.breaks_per_day
    length = behaviour.break_minutes * 60
    changes: list[tuple[float, str, str]] = []
    if count == 0:
        return changes
    for agent in agents:
        if agent.status != "available":
            continue
        shift = shifts.get(agent.id)
        spans = day if shift is None else [
            max(ranges, key=lambda span: span[1] - span[0]) for ranges in shift if ranges
        ]
        for lo, hi in spans:
            part = (hi - lo) / count
            if part < length:
                continue  # too short a shift for its breaks
            for k in range(count):
                start = rng.uniform(lo + k * part, lo + (k + 1) * part - length)
                changes.append((start, agent.id, "break"))
                changes.append((start + length, agent.id, "available"))
    return changes


def merge(intervals: Sequence[Span]) -> list[Span]:
    """Sorted, disjoint union of intervals (a night shift may overlap the next day's)."""
    out: list[Span] = []
    for lo, hi in sorted(intervals):
        if out and lo <= out[-1][1]:
            out[-1] = (out[-1][0], max(out[-1][1], hi))
        else:
            out.append((lo, hi))
    return out
