"""The ``simulation:`` section: the traffic, people and integrations ``simulate`` draws from.

Owns ``Dist`` (a distribution of durations), ``Traffic`` (arrivals at one number),
``AgentBehaviour``, ``Integration`` (latency and failures of the CRM and webhooks) and
``Simulation``, the section itself.
"""

from __future__ import annotations

import datetime as dt
from typing import Any, Literal

from pydantic import Field, field_validator, model_validator

from switchboard.config.base import Model, int_as_text, not_a_number


class Dist(Model):
    """A distribution: exponential (mean), lognormal (mean, sd), fixed, uniform (low..high)."""

    kind: Literal["exponential", "lognormal", "fixed", "uniform"] = "exponential"
    mean: float = Field(default=180, ge=0)
    sd: float | None = Field(default=None, gt=0)
    low: float | None = Field(default=None, ge=0, description="uniform: default 0")
    high: float | None = Field(default=None, ge=0, description="uniform: default 2 x mean")

    @model_validator(mode="after")
    def _ordered(self) -> Dist:
        if self.kind == "uniform":
            low = self.low if self.low is not None else 0.0
            high = self.high if self.high is not None else 2 * self.mean
            if high < low:
                shown = f"'high' {high:g}" if self.high is not None else \
                    f"'high' (by default 2 x mean) {high:g}"
                raise ValueError(f"a uniform distribution draws from low to high, but {shown} "
                                 f"is below 'low' {low:g}; make high at least low")
        return self


MAX_CALLS_PER_HOUR = 100_000
"""Simulated arrivals per hour of one number at most (about 28 a second)."""


class Traffic(Model):
    number: str
    calls_per_hour: list[float] | dict[int, float] | float = Field(
        description="24 values, {hour: rate}, or one rate for every hour"
    )
    weekday_factor: list[float] | None = Field(
        default=None, description="7 multipliers, Monday first"
    )
    handling: Dist = Field(default_factory=Dist)
    patience: Dist | None = Field(default_factory=lambda: Dist(mean=120))
    known_callers: float = Field(default=0.3, ge=0, le=1)
    repeat_callers: float = Field(default=0.1, ge=0, le=1, description="Share calling again")
    ivr_digits: dict[str, float] = Field(default_factory=dict, description="Digit -> share")
    entities: dict[str, dict[str, float]] = Field(default_factory=dict)

    _s = field_validator("number", mode="before")(int_as_text)

    @field_validator("calls_per_hour")
    @classmethod
    def _one_day(cls, value: list[float] | dict[int, float] | float) -> Any:
        rates = value if isinstance(value, list) else \
            list(value.values()) if isinstance(value, dict) else [value]
        if any(rate < 0 for rate in rates):
            raise ValueError(f"rate {min(rates):g} is below 0; give calls per hour, 0 or more")
        if isinstance(value, list) and len(value) != 24:
            raise ValueError(f"{len(value)} values; give 24 values, one per hour "
                             "from 00 to 23 (or a mapping {hour: rate}, or one rate for all)")
        if isinstance(value, dict):
            wrong = sorted(h for h in value if not 0 <= h <= 23)
            if wrong:
                raise ValueError(f"hour {wrong[0]} is not 0-23; hours are "
                                 "local, 0 (midnight) to 23")
        return value

    @field_validator("weekday_factor")
    @classmethod
    def _one_week(cls, value: list[float] | None) -> list[float] | None:
        if value is not None and len(value) != 7:
            raise ValueError(f"{len(value)} values; give 7 values, Monday first")
        if value is not None and any(factor < 0 for factor in value):
            raise ValueError(f"factor {min(value):g} is below 0; give multipliers of 0 or more")
        return value

    @model_validator(mode="after")
    def _bounded(self) -> Traffic:
        # A runaway rate would make `simulate` run for hours instead of refusing at load.
        rate = self.calls_per_hour
        rates = rate if isinstance(rate, list) else \
            list(rate.values()) if isinstance(rate, dict) else [rate]
        peak = max(rates, default=0.0) * max(self.weekday_factor or [1.0])
        if peak > MAX_CALLS_PER_HOUR:
            raise ValueError(f"'calls_per_hour' {peak:g} at the peak (times weekday_factor) is "
                             f"more than {MAX_CALLS_PER_HOUR} calls per hour; give a real rate")
        return self


class AgentBehaviour(Model):
    answer_delay: Dist = Field(default_factory=lambda: Dist(kind="fixed", mean=3))
    no_answer: float = Field(default=0.0, ge=0, le=1, description="Share of rings not answered")
    breaks_per_day: int = Field(default=0, ge=0)
    break_minutes: float = Field(default=10, gt=0)


class Integration(Model):
    latency: float = Field(default=0.2, ge=0)
    failure_rate: float = Field(default=0.0, ge=0, le=1)
    owner_known: float = Field(default=0.3, ge=0, le=1, description="CRM: share with an owner")


class Simulation(Model):
    start: dt.date = Field(default=dt.date(2026, 11, 23), ge=dt.date(1970, 1, 1),
                           le=dt.date(9000, 12, 31), description="First simulated day")
    days: int = Field(default=1, ge=1, le=366)
    max_calls: int | None = Field(default=None, ge=1, description="Stop arrivals after N calls")
    traffic: list[Traffic] = Field(default_factory=list)
    agents: AgentBehaviour = Field(default_factory=AgentBehaviour)
    webhook: Integration = Field(default_factory=Integration)
    crm: Integration = Field(default_factory=Integration)
    customer_answers: float = Field(default=0.8, ge=0, le=1, description="Callbacks answered")
    voicemail_share: float = Field(default=0.3, ge=0, le=1, description="Leave a message")
    prompt_seconds: float = Field(default=4, gt=0, description="Length of one prompt")

    _start = field_validator("start", mode="before")(not_a_number)
