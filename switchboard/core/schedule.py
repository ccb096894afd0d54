"""Opening hours: weekly ranges in a timezone, minus public holidays, plus one-off overrides.

A schedule's day is turned into absolute UNIX-second intervals once (through zoneinfo, so
DST days are as long as they really are) and cached; ``is_open`` is then one bisect.

Rules, in the schedule's timezone (``schedule.timezone``, else ``config.timezone``):

- ``22:00-06:00`` spans midnight: it is open from 22:00 of its day until 06:00 of the next
  day. ``00:00-24:00`` is the whole day.
- A public holiday (``schedule.holidays``, optional ``holiday_subdivision``) removes the
  day's own ranges; a range that started the evening before still runs into it.
- An override replaces the day's own ranges (``hours: []`` closes it) and wins over holidays.
- Wall-clock times that do not exist (spring forward) or exist twice (fall back) resolve with
  ``fold=0``: a non-existent time lands after the gap, an ambiguous one at its first
  occurrence. A range that comes out empty that way is dropped.
"""

from __future__ import annotations

import datetime as dt
from bisect import bisect_right
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import holidays

from switchboard.config.model import Agent, Config, Schedule, expand_days

MINUTES_PER_DAY = 24 * 60
SEARCH_DAYS = 366
CACHE_DAYS = 4096  # cached (schedule, date) entries; oldest evicted first

_ONE_DAY = dt.timedelta(days=1)
Range = tuple[int, int]  # minutes after local midnight; end <= start spans midnight


@dataclass(frozen=True, slots=True)
class _Compiled:
    """A schedule prepared for lookups."""

    tz: ZoneInfo
    weekly: tuple[tuple[Range, ...], ...]  # index = weekday, Monday = 0
    overrides: dict[dt.date, tuple[Range, ...]]
    country: str | None
    subdivision: str | None


@dataclass(frozen=True, slots=True)
class _Day:
    """Open intervals around one local date, merged and sorted.

    ``lo``/``hi`` bound the local date in UNIX seconds. The intervals come from the ranges
    that start on the previous day, on this day and on the next day, so that any instant of
    the day (and any slot starting on it) can be checked against one list.
    """

    lo: float
    hi: float
    starts: list[float]
    ends: list[float]


def _local_ts(tz: ZoneInfo, day: dt.date, minute: int) -> float:
    """UNIX seconds of ``minute`` after local midnight of ``day`` (24:00 is the next day)."""
    if minute >= MINUTES_PER_DAY:
        day += dt.timedelta(days=minute // MINUTES_PER_DAY)
        minute %= MINUTES_PER_DAY
    local = dt.datetime(day.year, day.month, day.day, minute // 60, minute % 60, tzinfo=tz)
    return local.timestamp()


def _zone(name: str, where: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ValueError(
            f"{where}: unknown timezone {name!r} (use an IANA name like 'Europe/Kyiv')"
        ) from exc


def _merge(intervals: Iterable[tuple[float, float]]) -> tuple[list[float], list[float]]:
    starts: list[float] = []
    ends: list[float] = []
    for start, end in sorted(intervals):
        if starts and start <= ends[-1]:
            ends[-1] = max(ends[-1], end)
        else:
            starts.append(start)
            ends.append(end)
    return starts, ends


class Calendar:
    """Opening hours of the config's schedules, in their timezones, with holidays and overrides.

    Build it once per config; it caches computed days and holiday tables on the instance.
    Unknown schedule names raise ``KeyError`` (the config check guarantees references).
    """

    def __init__(self, config: Config) -> None:
        self._tz = _zone(config.timezone, "timezone")
        self._schedules = {
            name: self._compile(name, schedule, self._tz)
            for name, schedule in config.schedules.items()
        }
        self._days: dict[tuple[str, dt.date], _Day] = {}
        self._current: dict[str, _Day] = {}  # last day used per schedule: the fast path
        self._holidays: dict[tuple[str, str | None, int], frozenset[dt.date]] = {}
        self._weekday_sets: dict[tuple[str, ...], frozenset[int]] = {}
        for compiled in self._schedules.values():
            if compiled.country is not None:
                self._check_holidays(compiled.country, compiled.subdivision)

    # ------------------------------------------------------------------ public

    def is_open(self, schedule: str, now: float) -> bool:
        """Whether ``schedule`` is open at the instant ``now``."""
        day = self._current.get(schedule)
        if day is None or not day.lo <= now < day.hi:
            compiled = self._compiled(schedule)
            local_date = dt.datetime.fromtimestamp(now, compiled.tz).date()
            day = self._day(schedule, local_date)
            self._current[schedule] = day
        i = bisect_right(day.starts, now) - 1
        return i >= 0 and now < day.ends[i]

    def agent_on_shift(self, agent: Agent, now: float) -> bool:
        """Whether the agent's work schedule is open (always, when the agent has none)."""
        return agent.schedule is None or self.is_open(agent.schedule, now)

    def next_open(self, schedule: str, now: float) -> float | None:
        """``now`` when open, else the start of the next opening (None within 366 days)."""
        compiled = self._compiled(schedule)
        local_date = dt.datetime.fromtimestamp(now, compiled.tz).date()
        for offset in range(SEARCH_DAYS + 1):
            day = self._day(schedule, local_date + offset * _ONE_DAY)
            i = max(bisect_right(day.starts, now) - 1, 0)
            for start, end in zip(day.starts[i:], day.ends[i:], strict=True):
                if end > now:
                    return max(start, now)
        return None

    def next_open_slots(
        self, schedule: str | None, now: float, slot_minutes: int, count: int
    ) -> list[float]:
        """Start times (UNIX s) of the next ``count`` open slots of ``slot_minutes``.

        Slots are aligned to ``slot_minutes`` from local midnight, start at or after ``now``
        and lie wholly inside open hours. ``schedule=None`` means always open (aligned in
        the config's timezone). Looks at most 366 days ahead, so it may return fewer.
        """
        if slot_minutes <= 0:
            raise ValueError(f"slot_minutes must be positive, not {slot_minutes}")
        if count <= 0:
            return []
        tz = self._tz if schedule is None else self._compiled(schedule).tz
        length = slot_minutes * 60.0
        first_date = dt.datetime.fromtimestamp(now, tz).date()
        slots: list[float] = []
        last = -float("inf")
        for offset in range(SEARCH_DAYS + 1):
            local_date = first_date + offset * _ONE_DAY
            day = None if schedule is None else self._day(schedule, local_date)
            if day is not None and not _overlaps(day, max(now, day.lo), day.hi):
                continue
            for minute in range(0, MINUTES_PER_DAY, slot_minutes):
                start = _local_ts(tz, local_date, minute)
                if start < now or start <= last:  # before now, or a DST duplicate
                    continue
                if day is not None:
                    i = bisect_right(day.starts, start) - 1
                    if i < 0 or start + length > day.ends[i]:
                        continue
                slots.append(start)
                last = start
                if len(slots) == count:
                    return slots
        return slots

    def local_time(self, now: float) -> dt.datetime:
        """``now`` as an aware datetime in the config's timezone."""
        return dt.datetime.fromtimestamp(now, self._tz)

    def weekday_hour(self, now: float) -> tuple[int, int]:
        """(weekday, hour) in the config's timezone; Monday is 0."""
        local = dt.datetime.fromtimestamp(now, self._tz)
        return local.weekday(), local.hour

    def day_matches(self, days: Sequence[str], now: float) -> bool:
        """Whether the local weekday (config timezone) is one of ``days`` (``['mon-fri']``)."""
        key = tuple(days)
        weekdays = self._weekday_sets.get(key)
        if weekdays is None:
            weekdays = frozenset(d for spec in key for d in expand_days(spec))
            self._weekday_sets[key] = weekdays
        return dt.datetime.fromtimestamp(now, self._tz).weekday() in weekdays

    # ------------------------------------------------------------------ internals

    @staticmethod
    def _compile(name: str, schedule: Schedule, default_tz: ZoneInfo) -> _Compiled:
        tz = (
            _zone(schedule.timezone, f"schedules.{name}.timezone")
            if schedule.timezone
            else default_tz
        )
        weekly: list[list[Range]] = [[] for _ in range(7)]
        for spec, ranges in schedule.weekly.items():
            for weekday in expand_days(spec):
                weekly[weekday].extend(r.minutes() for r in ranges)
        overrides = {o.date: tuple(r.minutes() for r in o.hours) for o in schedule.overrides}
        country = schedule.holidays.upper() if schedule.holidays else None
        return _Compiled(
            tz=tz,
            weekly=tuple(tuple(day) for day in weekly),
            overrides=overrides,
            country=country,
            subdivision=schedule.holiday_subdivision if country else None,
        )

    def _compiled(self, schedule: str) -> _Compiled:
        try:
            return self._schedules[schedule]
        except KeyError:
            raise KeyError(f"unknown schedule {schedule!r}") from None

    def _day(self, schedule: str, local_date: dt.date) -> _Day:
        key = (schedule, local_date)
        day = self._days.get(key)
        if day is None:
            compiled = self._compiled(schedule)
            intervals = [
                interval
                for d in (local_date - _ONE_DAY, local_date, local_date + _ONE_DAY)
                for interval in self._own_intervals(compiled, d)
            ]
            starts, ends = _merge(intervals)
            day = _Day(
                lo=_local_ts(compiled.tz, local_date, 0),
                hi=_local_ts(compiled.tz, local_date + _ONE_DAY, 0),
                starts=starts,
                ends=ends,
            )
            if len(self._days) >= CACHE_DAYS:
                del self._days[next(iter(self._days))]
            self._days[key] = day
        return day

    def _own_intervals(self, compiled: _Compiled, local_date: dt.date) -> list[tuple[float, float]]:
        """UNIX intervals of the ranges that start on ``local_date``."""
        ranges = compiled.overrides.get(local_date)
        if ranges is None:
            if self._is_holiday(compiled, local_date):
                return []
            ranges = compiled.weekly[local_date.weekday()]
        intervals = []
        for start_min, end_min in ranges:
            if end_min <= start_min:
                end_min += MINUTES_PER_DAY
            start = _local_ts(compiled.tz, local_date, start_min)
            end = _local_ts(compiled.tz, local_date, end_min)
            if end > start:
                intervals.append((start, end))
        return intervals

    def _is_holiday(self, compiled: _Compiled, local_date: dt.date) -> bool:
        if compiled.country is None:
            return False
        # A neighbour year's table may hold the date (a holiday observed across New Year).
        return any(
            local_date in self._holiday_dates(compiled.country, compiled.subdivision, year)
            for year in (local_date.year, local_date.year - 1, local_date.year + 1)
        )

    def _holiday_dates(
        self, country: str, subdivision: str | None, year: int
    ) -> frozenset[dt.date]:
        key = (country, subdivision, year)
        dates = self._holidays.get(key)
        if dates is None:
            table = holidays.country_holidays(country, subdiv=subdivision, years=year)
            dates = frozenset(table.keys())
            self._holidays[key] = dates
        return dates

    def _check_holidays(self, country: str, subdivision: str | None) -> None:
        try:
            holidays.country_holidays(country, subdiv=subdivision)
        except (NotImplementedError, ValueError) as exc:
            where = f"{country!r}" + (f" subdivision {subdivision!r}" if subdivision else "")
            raise ValueError(
                f"holidays: no public holiday calendar for {where} ({exc}); use an ISO 3166-1 "
                f"country code like 'UA' and, if any, an ISO 3166-2 subdivision code like 'BY'"
            ) from exc


def _overlaps(day: _Day, lo: float, hi: float) -> bool:
    """Whether any open interval of ``day`` intersects [lo, hi)."""
    i = bisect_right(day.starts, lo) - 1
    if i >= 0 and day.ends[i] > lo:
        return True
    return i + 1 < len(day.starts) and day.starts[i + 1] < hi
