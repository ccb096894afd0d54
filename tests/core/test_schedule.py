"""Opening hours: weekly ranges, midnight, holidays, overrides, DST, slots (R3, W5, M6)."""

from __future__ import annotations

import datetime as dt
from typing import Any
from zoneinfo import ZoneInfo

import holidays
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from switchboard.config.model import Agent, Config
from switchboard.core.schedule import Calendar

KYIV = ZoneInfo("Europe/Kyiv")
UTC = dt.UTC


def make_config(schedules: dict[str, Any], timezone: str = "Europe/Kyiv") -> Config:
    return Config.model_validate(
        {
            "timezone": timezone,
            "numbers": [{"number": "100", "scheme": "main"}],
            "schemes": {"main": {"rules": [{"name": "all", "steps": [{"hangup": True}]}]}},
            "schedules": schedules,
        }
    )


def calendar(schedules: dict[str, Any], timezone: str = "Europe/Kyiv") -> Calendar:
    return Calendar(make_config(schedules, timezone))


def at(text: str, tz: dt.tzinfo = KYIV) -> float:
    """UNIX seconds of a local wall-clock time 'YYYY-MM-DD HH:MM[:SS]' (fold=0)."""
    return dt.datetime.fromisoformat(text).replace(tzinfo=tz).timestamp()


def utc(text: str) -> float:
    return at(text, UTC)


OFFICE = {"weekly": {"mon-fri": "09:00-18:00"}}


# 2026-03-04 is a Wednesday, 2026-03-06 a Friday, 2026-03-09 a Monday.


def test_office_hours_boundaries() -> None:
    cal = calendar({"office": OFFICE})
    assert not cal.is_open("office", at("2026-03-04 08:59:59"))
    assert cal.is_open("office", at("2026-03-04 09:00:00"))
    assert cal.is_open("office", at("2026-03-04 17:59:59"))
    assert not cal.is_open("office", at("2026-03-04 18:00:00"))
    assert cal.is_open("office", at("2026-03-04 17:59:59.999"))
    assert not cal.is_open("office", at("2026-03-07 12:00"))  # Saturday
    assert not cal.is_open("office", at("2026-03-08 12:00"))  # Sunday


def test_mon_fri_covers_each_weekday_only() -> None:
    cal = calendar({"office": OFFICE})
    noon_by_day = [cal.is_open("office", at(f"2026-03-{d:02d} 12:00")) for d in range(2, 9)]
    assert noon_by_day == [True, True, True, True, True, False, False]


def test_several_ranges_and_day_lists() -> None:
    cal = calendar(
        {
            "shop": {
                "weekly": {
                    "mon-fri": ["09:00-13:00", "14:00-18:00"],
                    "sat,sun": "10:00-14:00",
                    "wed": "19:00-21:00",  # adds to mon-fri's ranges on Wednesdays
                }
            }
        }
    )
    assert cal.is_open("shop", at("2026-03-05 12:59:59"))
    assert not cal.is_open("shop", at("2026-03-05 13:30"))  # lunch
    assert cal.is_open("shop", at("2026-03-05 14:00"))
    assert cal.is_open("shop", at("2026-03-07 10:00"))  # Saturday
    assert not cal.is_open("shop", at("2026-03-07 14:00"))
    assert cal.is_open("shop", at("2026-03-04 20:00"))  # Wednesday evening
    assert not cal.is_open("shop", at("2026-03-05 20:00"))  # not on Thursday


def test_range_spanning_midnight_runs_into_the_next_day() -> None:
    cal = calendar({"night": {"weekly": {"fri": "22:00-06:00"}}})
    assert not cal.is_open("night", at("2026-03-06 21:59:59"))  # Friday
    assert cal.is_open("night", at("2026-03-06 22:00"))
    assert cal.is_open("night", at("2026-03-07 00:00"))  # Saturday
    assert cal.is_open("night", at("2026-03-07 03:00"))
    assert cal.is_open("night", at("2026-03-07 05:59:59"))
    assert not cal.is_open("night", at("2026-03-07 06:00"))
    assert not cal.is_open("night", at("2026-03-06 03:00"))  # Friday early: Thursday's, none
    assert not cal.is_open("night", at("2026-03-07 23:00"))  # Saturday night: none


def test_whole_day_and_adjacent_ranges() -> None:
    cal = calendar({"weekend": {"weekly": {"sat": "00:00-24:00", "sun": "00:00-12:00"}}})
    assert not cal.is_open("weekend", at("2026-03-06 23:59:59"))
    assert cal.is_open("weekend", at("2026-03-07 00:00"))
    assert cal.is_open("weekend", at("2026-03-07 23:59:59"))
    assert cal.is_open("weekend", at("2026-03-08 00:00"))
    assert cal.is_open("weekend", at("2026-03-08 11:59:59"))
    assert not cal.is_open("weekend", at("2026-03-08 12:00"))


def test_schedule_without_ranges_is_never_open() -> None:
    cal = calendar({"never": {}})
    assert not cal.is_open("never", at("2026-03-04 12:00"))
    assert cal.next_open("never", at("2026-03-04 12:00")) is None
    assert cal.next_open_slots("never", at("2026-03-04 12:00"), 30, 3) == []


# --------------------------------------------------------------------------- holidays


def test_ukrainian_public_holiday_closes_the_day() -> None:
    # 2021-08-24 (Tuesday): Independence Day, a day off in the `holidays` package.
    assert (
        "Independence Day"
        in holidays.country_holidays("UA", years=2021, language="en_US")[dt.date(2021, 8, 24)]
    )
    cal = calendar({"office": {**OFFICE, "holidays": "UA"}})
    plain = calendar({"office": OFFICE})
    assert plain.is_open("office", at("2021-08-24 12:00"))
    assert not cal.is_open("office", at("2021-08-24 09:00"))
    assert not cal.is_open("office", at("2021-08-24 12:00"))
    assert cal.is_open("office", at("2021-08-25 12:00"))
    # Monday 2021-08-23 was a day off too (moved from Saturday 08-28, which was worked)
    assert not cal.is_open("office", at("2021-08-23 12:00"))
    assert cal.is_open("office", at("2021-08-20 12:00"))


def test_no_ukrainian_holidays_under_martial_law() -> None:
    # The `holidays` package follows the law: no public days off in Ukraine from 2023 on
    # while martial law lasts, so 2026-01-01 and Independence Day 2026 are working days.
    assert len(holidays.country_holidays("UA", years=2026)) == 0
    cal = calendar({"office": {**OFFICE, "holidays": "UA"}})
    assert cal.is_open("office", at("2026-01-01 12:00"))  # Thursday
    assert cal.is_open("office", at("2026-08-24 12:00"))  # Monday


def test_holidays_of_a_subdivision() -> None:
    # 2026-01-06 (Tuesday): Epiphany is a holiday in Bavaria, not in Berlin.
    cal = calendar(
        {
            "munich": {**OFFICE, "holidays": "DE", "holiday_subdivision": "BY"},
            "berlin": {**OFFICE, "holidays": "DE", "holiday_subdivision": "BE"},
            "warsaw": {**OFFICE, "holidays": "PL"},
        },
        timezone="Europe/Berlin",
    )
    noon = at("2026-01-06 12:00", ZoneInfo("Europe/Berlin"))
    assert not cal.is_open("munich", noon)
    assert cal.is_open("berlin", noon)
    assert not cal.is_open("warsaw", noon)
    assert not cal.is_open("berlin", at("2026-01-01 12:00", ZoneInfo("Europe/Berlin")))


def test_range_from_the_evening_before_runs_into_a_holiday() -> None:
    # Monday 2021-06-28: Constitution Day
    cal = calendar({"night": {"weekly": {"mon-sun": "22:00-02:00"}, "holidays": "UA"}})
    assert cal.is_open("night", at("2021-06-28 01:00"))  # Sunday's range, into the holiday
    assert not cal.is_open("night", at("2021-06-28 02:00"))
    assert not cal.is_open("night", at("2021-06-28 23:00"))  # the holiday's own range: gone
    assert not cal.is_open("night", at("2021-06-29 01:00"))
    assert cal.is_open("night", at("2021-06-29 23:00"))


def test_overrides_win_over_holidays_and_close_normal_days() -> None:
    cal = calendar(
        {
            "office": {
                **OFFICE,
                "holidays": "UA",
                "overrides": [
                    {"date": "2021-08-24", "hours": ["10:00-14:00"], "note": "holiday duty"},
                    {"date": "2021-08-25", "hours": [], "note": "closed for inventory"},
                    {"date": "2021-08-28", "hours": "22:00-01:00"},  # a Saturday night
                ],
            }
        }
    )
    assert not cal.is_open("office", at("2021-08-24 09:30"))
    assert cal.is_open("office", at("2021-08-24 10:00"))
    assert cal.is_open("office", at("2021-08-24 13:59:59"))
    assert not cal.is_open("office", at("2021-08-24 14:00"))
    assert not cal.is_open("office", at("2021-08-25 12:00"))
    assert cal.is_open("office", at("2021-08-26 12:00"))
    assert cal.is_open("office", at("2021-08-29 00:30"))
    assert not cal.is_open("office", at("2021-08-29 01:00"))


# --------------------------------------------------------------------------- DST


def test_spring_forward_in_kyiv() -> None:
    # 2026-03-29 (Sunday) 03:00 EET -> 04:00 EEST, at 01:00 UTC.
    cal = calendar(
        {
            "day": {"weekly": {"sun": "09:00-18:00"}},
            "all": {"weekly": {"sun": "00:00-24:00"}},
            "gap": {"weekly": {"sun": "03:30-08:00"}},
            "into": {"weekly": {"sun": "02:00-03:30"}},
        }
    )
    # a week earlier the day opens at 07:00 UTC (UTC+2); on the day at 06:00 UTC (UTC+3)
    assert cal.is_open("day", utc("2026-03-22 07:00")) and not cal.is_open(
        "day", utc("2026-03-22 06:59:59")
    )
    assert not cal.is_open("day", utc("2026-03-29 05:59:59"))
    assert cal.is_open("day", utc("2026-03-29 06:00"))
    assert cal.is_open("day", utc("2026-03-29 14:59:59"))
    assert not cal.is_open("day", utc("2026-03-29 15:00"))
    # the whole day is 23 hours long
    assert not cal.is_open("all", utc("2026-03-28 21:59:59"))
    assert cal.is_open("all", utc("2026-03-28 22:00"))
    assert cal.is_open("all", utc("2026-03-29 20:59:59"))
    assert not cal.is_open("all", utc("2026-03-29 21:00"))
    # 03:30 does not exist that day: fold=0 reads it with the old offset, 01:30 UTC
    assert not cal.is_open("gap", utc("2026-03-29 01:29:59"))
    assert cal.is_open("gap", utc("2026-03-29 01:30"))
    assert cal.is_open("gap", utc("2026-03-29 04:59:59"))
    assert not cal.is_open("gap", utc("2026-03-29 05:00"))
    assert cal.is_open("into", utc("2026-03-29 00:00"))  # 02:00 EET
    assert cal.is_open("into", utc("2026-03-29 01:29:59"))
    assert not cal.is_open("into", utc("2026-03-29 01:30"))


def test_fall_back_in_kyiv() -> None:
    # 2026-10-25 (Sunday) 04:00 EEST -> 03:00 EET, at 01:00 UTC; 03:00-04:00 happens twice.
    cal = calendar(
        {
            "day": {"weekly": {"sun": "09:00-18:00"}},
            "all": {"weekly": {"sun": "00:00-24:00"}},
            "twice": {"weekly": {"sun": "03:30-05:00"}},
        }
    )
    assert not cal.is_open("day", utc("2026-10-25 06:59:59"))
    assert cal.is_open("day", utc("2026-10-25 07:00"))  # 09:00 EET (UTC+2)
    assert cal.is_open("day", utc("2026-10-25 15:59:59"))
    assert not cal.is_open("day", utc("2026-10-25 16:00"))
    # the whole day is 25 hours long
    assert not cal.is_open("all", utc("2026-10-24 20:59:59"))
    assert cal.is_open("all", utc("2026-10-24 21:00"))
    assert cal.is_open("all", utc("2026-10-25 21:59:59"))
    assert not cal.is_open("all", utc("2026-10-25 22:00"))
    # an ambiguous start takes its first occurrence (fold=0): 03:30 EEST = 00:30 UTC
    assert not cal.is_open("twice", utc("2026-10-25 00:29:59"))
    assert cal.is_open("twice", utc("2026-10-25 00:30"))
    assert cal.is_open("twice", utc("2026-10-25 02:59:59"))  # 04:59:59 EET
    assert not cal.is_open("twice", utc("2026-10-25 03:00"))


def test_dst_edge_ranges_never_crash() -> None:
    ranges = ["03:00-04:00", "03:30-03:45", "04:00-03:00", "03:59-04:01", "00:00-00:00"]
    cal = calendar({"odd": {"weekly": {"sun": ranges}}})
    for day in ("2026-03-29", "2026-10-25"):
        start = at(f"{day} 00:00")
        for minute in range(0, 48 * 60, 7):
            cal.is_open("odd", start + minute * 60.0)
        assert cal.next_open_slots("odd", start, 15, 10)


def test_schedules_in_different_timezones() -> None:
    cal = calendar(
        {
            "kyiv": OFFICE,  # the config's timezone
            "new_york": {"timezone": "America/New_York", "weekly": {"mon-fri": "09:00-17:00"}},
        }
    )
    # Wednesday 2026-03-04: Kyiv is UTC+2, New York UTC-5
    assert cal.is_open("kyiv", utc("2026-03-04 13:30"))  # 15:30 Kyiv
    assert not cal.is_open("new_york", utc("2026-03-04 13:30"))  # 08:30 New York
    assert cal.is_open("kyiv", utc("2026-03-04 15:30"))  # 17:30 Kyiv
    assert cal.is_open("new_york", utc("2026-03-04 15:30"))  # 10:30 New York
    assert not cal.is_open("kyiv", utc("2026-03-04 16:30"))  # 18:30 Kyiv
    assert cal.is_open("new_york", utc("2026-03-04 16:30"))  # 11:30 New York
    # New York moves its clocks on 2026-03-08, Kyiv three weeks later
    assert cal.is_open("new_york", utc("2026-03-09 13:00"))  # 09:00 EDT
    assert not cal.is_open("new_york", utc("2026-03-02 13:00"))  # 08:00 EST


# --------------------------------------------------------------------------- agents, slots


def test_agent_on_shift() -> None:
    cal = calendar({"morning": {"weekly": {"mon-fri": "07:00-15:00"}}})
    early = Agent(id="201", schedule="morning")
    anytime = Agent(id="202")
    assert not cal.agent_on_shift(early, at("2026-03-04 06:59:59"))
    assert cal.agent_on_shift(early, at("2026-03-04 07:00"))
    assert cal.agent_on_shift(early, at("2026-03-04 14:59:59"))
    assert not cal.agent_on_shift(early, at("2026-03-04 15:00"))
    assert not cal.agent_on_shift(early, at("2026-03-07 10:00"))
    assert cal.agent_on_shift(anytime, at("2026-03-07 03:00"))


def test_slots_from_friday_evening_are_on_monday_morning() -> None:
    cal = calendar({"office": OFFICE})
    slots = cal.next_open_slots("office", at("2026-03-06 19:00"), 30, 3)
    assert slots == [at("2026-03-09 09:00"), at("2026-03-09 09:30"), at("2026-03-09 10:00")]


def test_slots_from_inside_hours_start_at_the_next_boundary() -> None:
    cal = calendar({"office": OFFICE})
    assert cal.next_open_slots("office", at("2026-03-04 10:07"), 30, 2) == [
        at("2026-03-04 10:30"),
        at("2026-03-04 11:00"),
    ]
    # a slot starting exactly now is offered
    assert cal.next_open_slots("office", at("2026-03-04 10:30"), 30, 1) == [at("2026-03-04 10:30")]
    # the last slot of the day must end by closing time
    assert cal.next_open_slots("office", at("2026-03-04 17:20"), 30, 3) == [
        at("2026-03-04 17:30"),
        at("2026-03-05 09:00"),
        at("2026-03-05 09:30"),
    ]
    assert cal.next_open_slots("office", at("2026-03-04 16:10"), 60, 2) == [
        at("2026-03-04 17:00"),
        at("2026-03-05 09:00"),
    ]


def test_slots_skip_closed_days_and_span_midnight() -> None:
    cal = calendar(
        {
            "office": {**OFFICE, "overrides": [{"date": "2026-03-09", "hours": []}]},
            "night": {"weekly": {"fri": "22:00-02:00"}},
        }
    )
    assert cal.next_open_slots("office", at("2026-03-06 19:00"), 60, 1) == [at("2026-03-10 09:00")]
    night = cal.next_open_slots("night", at("2026-03-06 12:00"), 60, 5)
    assert night == [
        at("2026-03-06 22:00"),
        at("2026-03-06 23:00"),
        at("2026-03-07 00:00"),
        at("2026-03-07 01:00"),
        at("2026-03-13 22:00"),
    ]


def test_slots_without_schedule_are_always_open_in_the_config_timezone() -> None:
    cal = calendar({})
    assert cal.next_open_slots(None, at("2026-03-07 23:50"), 15, 3) == [
        at("2026-03-08 00:00"),
        at("2026-03-08 00:15"),
        at("2026-03-08 00:30"),
    ]
    assert cal.next_open_slots(None, at("2026-03-07 23:50"), 15, 0) == []
    with pytest.raises(ValueError):
        cal.next_open_slots(None, at("2026-03-07 23:50"), 0, 3)


def test_slots_across_spring_forward_have_no_duplicates() -> None:
    cal = calendar({})
    slots = cal.next_open_slots(None, at("2026-03-29 02:00"), 30, 4)
    # 03:00 and 03:30 do not exist; with fold=0 they land on 04:00 and 04:30
    assert slots == [
        utc("2026-03-29 00:00"),  # 02:00 EET
        utc("2026-03-29 00:30"),  # 02:30 EET
        utc("2026-03-29 01:00"),  # 04:00 EEST
        utc("2026-03-29 01:30"),  # 04:30 EEST
    ]


def test_next_open() -> None:
    cal = calendar({"office": OFFICE})
    assert cal.next_open("office", at("2026-03-06 19:00")) == at("2026-03-09 09:00")
    assert cal.next_open("office", at("2026-03-06 11:00")) == at("2026-03-06 11:00")
    assert cal.next_open("office", at("2026-03-06 08:00")) == at("2026-03-06 09:00")


# --------------------------------------------------------------------------- config timezone


def test_local_time_weekday_hour_and_days() -> None:
    cal = calendar({})
    saturday_night = utc("2026-03-06 23:30")  # Saturday 01:30 in Kyiv
    local = cal.local_time(saturday_night)
    assert (local.year, local.month, local.day, local.hour, local.minute) == (2026, 3, 7, 1, 30)
    assert local.utcoffset() == dt.timedelta(hours=2)
    assert cal.weekday_hour(saturday_night) == (5, 1)
    assert cal.day_matches(["sat", "sun"], saturday_night)
    assert not cal.day_matches(["mon-fri"], saturday_night)
    assert cal.day_matches(["fri-mon"], saturday_night)
    assert not cal.day_matches([], saturday_night)
    assert cal.weekday_hour(utc("2026-03-06 21:59")) == (4, 23)


# --------------------------------------------------------------------------- misuse


def test_bad_names_are_reported() -> None:
    with pytest.raises(ValueError, match="Mars/Olympus"):
        calendar({"x": {"timezone": "Mars/Olympus", "weekly": {"mon": "09:00-10:00"}}})
    with pytest.raises(ValueError, match="timezone"):
        calendar({}, timezone="Nowhere/City")
    with pytest.raises(ValueError, match="'XX'"):
        calendar({"x": {"holidays": "XX"}})
    with pytest.raises(ValueError, match="'ZZ'"):
        calendar({"x": {"holidays": "UA", "holiday_subdivision": "ZZ"}})
    cal = calendar({"office": OFFICE})
    with pytest.raises(KeyError, match="nope"):
        cal.is_open("nope", 0.0)


# --------------------------------------------------------------------------- against a reference


def reference_is_open(ranges: dict[int, list[tuple[int, int]]], local: dt.datetime) -> bool:
    """Direct reading of the rules on the local wall clock (valid away from DST changes)."""
    minute = local.hour * 60 + local.minute + local.second / 60
    for start, end in ranges.get(local.weekday(), []):
        if start < end and start <= minute < end:
            return True
        if end <= start and minute >= start:
            return True
    yesterday = (local.weekday() - 1) % 7
    return any(end <= start and minute < end for start, end in ranges.get(yesterday, []))


WEEKLY = {"mon-fri": ["08:30-12:00", "13:00-19:15"], "sat": "22:00-03:00", "sun": "10:00-10:30"}
WEEKLY_MINUTES = {
    0: [(510, 720), (780, 1155)],
    1: [(510, 720), (780, 1155)],
    2: [(510, 720), (780, 1155)],
    3: [(510, 720), (780, 1155)],
    4: [(510, 720), (780, 1155)],
    5: [(1320, 180)],
    6: [(600, 630)],
}
SWEEP = Calendar(make_config({"mix": {"weekly": WEEKLY}}))


@settings(max_examples=400, derandomize=True, deadline=None)
@given(st.floats(min_value=utc("2026-04-01 00:00"), max_value=utc("2026-10-20 00:00")))
def test_is_open_agrees_with_the_wall_clock_reading(now: float) -> None:
    local = dt.datetime.fromtimestamp(now, KYIV)
    assert SWEEP.is_open("mix", now) == reference_is_open(WEEKLY_MINUTES, local)


def test_is_open_sweep_back_and_forth_uses_the_cache_correctly() -> None:
    cal = Calendar(make_config({"mix": {"weekly": WEEKLY}}))
    start = utc("2026-05-04 00:00")
    instants = [start + k * 97.0 for k in range(0, 30000)]
    forward = [cal.is_open("mix", t) for t in instants]
    backward = [cal.is_open("mix", t) for t in reversed(instants)]
    assert forward == backward[::-1]
    expected = [
        reference_is_open(WEEKLY_MINUTES, dt.datetime.fromtimestamp(t, KYIV)) for t in instants
    ]
    assert forward == expected
