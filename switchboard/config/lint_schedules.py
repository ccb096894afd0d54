"""Config lint (MISSION B5), schedules: timezones, holidays, overrides, never open, overlaps.

Also the weekday arithmetic the rule checks use to tell whether a rule's schedule can be
open (or closed) on its days: a weekly range is split at midnight, and a schedule with
holidays or one-off overrides can be closed on any weekday.
"""

from __future__ import annotations

import difflib
import zoneinfo
from collections.abc import Iterator
from functools import cache
from typing import TYPE_CHECKING

import holidays

from switchboard.config.loader import PathKey
from switchboard.config.model import Schedule, expand_days

if TYPE_CHECKING:
    from switchboard.config.lint import Linter

DAY_NAMES = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_DAY = 24 * 60


def check_schedules(lint: Linter) -> None:
    """The config's timezone, and each schedule's timezone, hours, holidays and overrides."""
    config = lint.config
    _timezone(lint, ("timezone",), config.timezone)
    supported = holidays.list_supported_countries()
    for name, schedule in config.schedules.items():
        path = ("schedules", name)
        if schedule.timezone is not None:
            _timezone(lint, (*path, "timezone"), schedule.timezone)
        if not open_days(schedule):
            lint.warn(path, f"schedule '{name}' is never open: add weekly hours such as "
                      "'mon-fri: 09:00-18:00' or an override with hours")
        _overlaps(lint, name, schedule)
        country = schedule.holidays
        if country is not None and country not in supported:
            fix = (f"write it as '{country.upper()}'" if country.upper() in supported
                   else "use an ISO 3166-1 code such as UA, PL, DE, US")
            lint.error((*path, "holidays"), f"schedule '{name}': unknown holiday country "
                       f"'{country}'; {fix}")
        elif country is None and schedule.holiday_subdivision is not None:
            lint.warn((*path, "holiday_subdivision"), f"schedule '{name}': "
                      "holiday_subdivision has no effect without 'holidays:' (the country); "
                      "add it or remove the subdivision")
        elif country is not None and schedule.holiday_subdivision is not None:
            subdivisions = supported[country]
            if schedule.holiday_subdivision not in subdivisions:
                lint.error((*path, "holiday_subdivision"), f"schedule '{name}': {country} has "
                           f"no subdivision '{schedule.holiday_subdivision}'; use one of: "
                           f"{lint.listing(subdivisions) or '(none: remove the key)'}")
        dates: dict[object, int] = {}
        for i, override in enumerate(schedule.overrides):
            where = (*path, "overrides", i)
            if override.date in dates:
                lint.warn(where, f"schedule '{name}': override for {override.date} is given "
                          f"twice (first at line {dates[override.date]}); keep one")
            dates.setdefault(override.date, lint.line(where))


def _timezone(lint: Linter, path: PathKey, name: str) -> None:
    try:
        zoneinfo.ZoneInfo(name)
    except (KeyError, ValueError, OSError):  # ZoneInfoNotFoundError is a KeyError
        guess = difflib.get_close_matches(name, _timezones(), n=1)
        fix = f"did you mean '{guess[0]}'?" if guess else "use an IANA name like Europe/Kyiv"
        lint.error(path, f"unknown timezone '{name}'; {fix}")


def _overlaps(lint: Linter, name: str, schedule: Schedule) -> None:
    """Two ranges open on the same day at the same time: one of them is a mistake."""
    # day, start, end, "key: range", order of the key, which range
    spans: list[tuple[int, int, int, str, int, int]] = []
    for order, (key, ranges) in enumerate(schedule.weekly.items()):
        for r in ranges:
            text = f"{key}: {r.start}-{r.end}"
            for day, start, end in _day_spans(key, *r.minutes()):
                spans.append((day, start, end, text, order, id(r)))
    clashes: dict[tuple[str, str, int], list[str]] = {}
    for i, a in enumerate(spans):
        for b in spans[i + 1 :]:
            if a[0] == b[0] and a[1] < b[2] and b[1] < a[2] and a[5] != b[5]:
                first, second = sorted((a, b), key=lambda s: s[4])
                days = clashes.setdefault((first[3], second[3], second[4]), [])
                if DAY_NAMES[a[0]] not in days:
                    days.append(DAY_NAMES[a[0]])
    keys = list(schedule.weekly)
    for (first_text, second_text, order), days in clashes.items():
        lint.warn(("schedules", name, "weekly", keys[order]),
                  f"schedule '{name}': '{second_text}' overlaps '{first_text}' on "
                  f"{', '.join(days)}; remove one or make the ranges meet without overlap")


def _day_spans(key: str, start: int, end: int) -> Iterator[tuple[int, int, int]]:
    """(day, start, end) minutes for a weekly range; one that passes midnight is split."""
    start, end = min(start, _DAY), min(end, _DAY)
    for day in expand_days(key):
        if start < end:
            yield day, start, end
        else:
            yield day, start, _DAY
            if end > 0:
                yield (day + 1) % 7, 0, end


def open_days(schedule: Schedule) -> set[int]:
    """Weekdays on which the schedule is open at some moment (a range past midnight counts)."""
    days = {day for key, ranges in schedule.weekly.items() for r in ranges
            for day, start, end in _day_spans(key, *r.minutes()) if start < end}
    return days | {o.date.weekday() for o in schedule.overrides if o.hours}


def closed_days(schedule: Schedule) -> set[int]:
    """Weekdays on which the schedule can be closed at some moment."""
    if schedule.holidays or schedule.overrides:
        return set(range(7))  # a holiday or a one-off day can close any weekday
    covered: dict[int, list[tuple[int, int]]] = {d: [] for d in range(7)}
    for key, ranges in schedule.weekly.items():
        for r in ranges:
            for day, start, end in _day_spans(key, *r.minutes()):
                covered[day].append((start, end))
    closed = set()
    for day, spans in covered.items():
        reach = 0
        for start, end in sorted(spans):
            if start > reach:
                break
            reach = max(reach, end)
        if reach < _DAY:
            closed.add(day)
    return closed


@cache
def _timezones() -> list[str]:
    return sorted(zoneinfo.available_timezones())
