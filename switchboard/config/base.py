"""The base of every config class and the validators several sections share.

Owns ``Model`` (unknown keys, infinity and NaN refused; frozen), the prompt ``Language``s,
and the small coercions used across sections: numbers written as text, dates that must be
dates, and day names (``mon-fri``) as used by schedules and rule conditions.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict

# The prompt languages: the shipped prompts and the grammar of spoken numbers and durations
# (media/prompts.py). Your own files can replace every prompt, not the grammar.
Language = Literal["en", "uk", "ru"]

_DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


class Model(BaseModel):
    """Base: unknown keys are errors (a typo must not be silently ignored).

    Infinity and NaN are refused everywhere: ``.inf`` seconds would reach the timers.
    """

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


def int_as_text(value: Any) -> Any:
    """A bare ``201`` is the text ``"201"``; ``true``, ``null``, lists... are left to fail."""
    return str(value) if isinstance(value, int) and not isinstance(value, bool) else value


def not_a_number(value: Any) -> Any:
    """Dates must be written as dates: pydantic would read ``0`` as 1970-01-01."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        raise ValueError(f"{value!r} is not a date; write it like 2026-12-31")
    return value


def expand_days(key: str) -> list[int]:
    """``mon-fri`` -> [0..4]; ``sat`` -> [5]; ``sat,sun`` -> [5, 6]."""
    days: list[int] = []
    for part in key.lower().replace(" ", "").split(","):
        if "-" in part:
            a, b = part.split("-", 1)
            if a not in _DAYS or b not in _DAYS:
                raise ValueError(f"day range {key!r}: use mon, tue, wed, thu, fri, sat, sun")
            i, j = _DAYS.index(a), _DAYS.index(b)
            days.extend(range(i, j + 1) if i <= j else [*range(i, 7), *range(0, j + 1)])
        else:
            if part not in _DAYS:
                raise ValueError(f"day {part!r}: use mon, tue, wed, thu, fri, sat, sun")
            days.append(_DAYS.index(part))
    return days
