"""The configuration model: one YAML file, validated by pydantic.

Every section of the file has a class here. Names are the YAML keys. The model is
frozen after loading; the core reads it and never changes it.
"""

from __future__ import annotations

import datetime as dt
import re
from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Discriminator,
    Field,
    Tag,
    ValidationInfo,
    field_validator,
    model_validator,
)

# The prompt languages: the shipped prompts and the grammar of spoken numbers and durations
# (media/prompts.py). Your own files can replace every prompt, not the grammar.
Language = Literal["en", "uk", "ru"]

_HHMM = re.compile(r"^(([01]\d|2[0-3]):[0-5]\d|24:00)$")
_DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


class Model(BaseModel):
    """Base: unknown keys are errors (a typo must not be silently ignored).

    Infinity and NaN are refused everywhere: ``.inf`` seconds would reach the timers.
    """

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


def _int_as_text(value: Any) -> Any:
    """A bare ``201`` is the text ``"201"``; ``true``, ``null``, lists... are left to fail."""
    return str(value) if isinstance(value, int) and not isinstance(value, bool) else value


def _not_a_number(value: Any) -> Any:
    """Dates must be written as dates: pydantic would read ``0`` as 1970-01-01."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        raise ValueError(f"{value!r} is not a date; write it like 2026-12-31")
    return value


# --------------------------------------------------------------------------- schedules


class TimeRange(Model):
    """A daily time range, e.g. ``09:00-18:00``. ``22:00-06:00`` spans midnight."""

    start: str
    end: str

    @classmethod
    def parse(cls, text: str) -> TimeRange:
        parts = text.replace(" ", "").split("-")
        if len(parts) != 2 or not all(re.fullmatch(r"\d\d:\d\d", p) for p in parts):
            raise ValueError(f"time range {text!r} must look like '09:00-18:00'")
        wrong = [p for p in parts if not _HHMM.match(p)]
        if wrong:
            raise ValueError(f"time range {text!r}: {wrong[0]} is not a time of day; hours are "
                             "00-23 (and 24:00 for the end of the day), minutes 00-59")
        if parts[0] == "24:00":
            raise ValueError(f"time range {text!r} starts at 24:00; start it at 00:00 instead")
        return cls(start=parts[0], end=parts[1])

    def minutes(self) -> tuple[int, int]:
        """(start, end) in minutes after midnight; end may be <= start (spans midnight)."""
        sh, sm = self.start.split(":")
        eh, em = self.end.split(":")
        return int(sh) * 60 + int(sm), int(eh) * 60 + int(em)


def _parse_ranges(value: Any) -> Any:
    if isinstance(value, str):
        value = [value]
    if isinstance(value, list):
        return [TimeRange.parse(v) if isinstance(v, str) else v for v in value]
    return value


class Override(Model):
    """A one-off day: other hours, or closed (``hours: []``)."""

    date: dt.date
    hours: list[TimeRange] = Field(default_factory=list)
    note: str = ""

    _norm = field_validator("hours", mode="before")(_parse_ranges)
    _date = field_validator("date", mode="before")(_not_a_number)


class Schedule(Model):
    """Weekly opening hours in a timezone, minus public holidays, plus one-off overrides.

    ``weekly`` keys are days (``mon``..``sun``) or ranges of days (``mon-fri``);
    values are one range or a list of ranges.
    """

    timezone: str | None = None
    weekly: dict[str, list[TimeRange]] = Field(default_factory=dict)
    holidays: str | None = Field(
        default=None, description="Country code (ISO 3166-1, e.g. UA) whose holidays close"
    )
    holiday_subdivision: str | None = None
    overrides: list[Override] = Field(default_factory=list)

    @field_validator("weekly", mode="before")
    @classmethod
    def _weekly(cls, value: Any) -> Any:
        if not isinstance(value, dict):
            return value
        return {str(k): _parse_ranges(v) for k, v in value.items()}

    @field_validator("weekly")
    @classmethod
    def _days(cls, value: dict[str, list[TimeRange]]) -> dict[str, list[TimeRange]]:
        for key in value:
            expand_days(key)
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


# --------------------------------------------------------------------------- agents


class Agent(Model):
    """An operator: a SIP account they register a softphone with, and optionally a mobile."""

    id: str = Field(description="Extension / SIP user name, e.g. '201'")
    name: str = ""
    password: str | None = Field(default=None, description="SIP digest password")
    mobile: str | None = Field(default=None, description="E.164 mobile for forwarding (R5)")
    schedule: str | None = Field(default=None, description="Work schedule name (W5)")
    skills: list[str] = Field(default_factory=list)
    groups: list[str] = Field(default_factory=list)
    weight: float = Field(default=1.0, gt=0, description="For weighted_random")
    ring_timeout: float | None = Field(
        default=None, gt=0, description="Ring this agent this long (overrides the queue's)"
    )
    wrapup: float | None = Field(
        default=None, ge=0,
        description="Seconds of wrap-up after a queue call (overrides the queue's wrapup)",
    )
    retry: float | None = Field(
        default=None, ge=0,
        description="Seconds this agent is not rung after letting a queue ring go unanswered "
        "(no answer, busy, rejected); unset or 0: no pause",
    )
    status: Literal["available", "break", "offline"] = "available"

    _str_id = field_validator("id", mode="before")(_int_as_text)


# --------------------------------------------------------------------------- numbers


class Overflow(Model):
    """What to do with a call beyond a number's channel limit (Q9)."""

    action: Literal["reject", "scheme"] = "reject"
    code: int = Field(default=486, ge=400, le=699)
    scheme: str | None = None

    @model_validator(mode="after")
    def _needs_scheme(self) -> Overflow:
        if self.action == "scheme" and not self.scheme:
            raise ValueError("overflow action 'scheme' needs 'scheme: NAME'")
        return self


class Number(Model):
    """A dialed number (DID) and how calls to it are handled."""

    number: str
    name: str = Field(default="", description="Spoken to the agent as a voice hint (W1)")
    scheme: str
    channels: int | None = Field(default=None, ge=1, description="Channel limit (Q9)")
    overflow: Overflow = Field(default_factory=Overflow)
    record: bool = False
    language: Language | None = None

    _str_number = field_validator("number", mode="before")(_int_as_text)


# --------------------------------------------------------------------------- conditions & steps


class When(Model):
    """Conditions of a rule. All given conditions must hold; an empty ``when`` always matches."""

    open: str | None = Field(default=None, description="Schedule that must be open")
    closed: str | None = Field(default=None, description="Schedule that must be closed")
    days: list[str] | None = Field(default=None, description="Weekdays, e.g. ['sat', 'sun']")
    caller_in: list[str] | None = Field(default=None, description="Caller is on one of these lists")
    caller_not_in: list[str] | None = None
    caller_matches: list[str] | None = Field(
        default=None, description="Number masks: '+38067*', '0671234XXX' (X = any digit)"
    )
    caller_country: list[str] | None = Field(default=None, description="ISO codes, e.g. ['UA']")
    caller_region: list[str] | None = Field(
        default=None, description="Region names from the number, e.g. ['Kyiv']"
    )
    known_caller: bool | None = Field(
        default=None, description="Caller has called before or is on a white list"
    )
    entity: dict[str, list[str]] | None = Field(
        default=None, description="Website visitor entities, e.g. {category: [phones]}"
    )

    @field_validator("caller_in", "caller_not_in", "caller_matches", "caller_country",
                     "caller_region", "days", mode="before")
    @classmethod
    def _listify(cls, value: Any) -> Any:
        return [value] if isinstance(value, str) else value

    @field_validator("days")
    @classmethod
    def _days_ok(cls, value: list[str] | None) -> list[str] | None:
        for d in value or []:
            expand_days(d)
        return value

    @field_validator("entity", mode="before")
    @classmethod
    def _entity(cls, value: Any) -> Any:
        if isinstance(value, dict):
            return {k: [v] if isinstance(v, str) else v for k, v in value.items()}
        return value


class RingStrategy(StrEnum):
    ring_all = "ring_all"
    round_robin = "round_robin"
    linear = "linear"
    random = "random"
    weighted_random = "weighted_random"
    longest_idle = "longest_idle"
    fewest_calls = "fewest_calls"
    least_talk_time = "least_talk_time"


class PlayStep(Model):
    play: list[str] = Field(description="Prompt names, played in order")

    @field_validator("play", mode="before")
    @classmethod
    def _one(cls, value: Any) -> Any:
        return [value] if isinstance(value, str) else value


class QueueTarget(Model):
    name: str
    priority: int = Field(default=0, description="Higher is served first (VIP)")


class QueueStep(Model):
    queue: QueueTarget

    @field_validator("queue", mode="before")
    @classmethod
    def _short(cls, value: Any) -> Any:
        return {"name": value} if isinstance(value, str) else value


class RingTarget(Model):
    """Who to ring in a ring step: agents, groups, agents' mobiles, or numbers."""

    agents: list[str] = Field(default_factory=list)
    groups: list[str] = Field(default_factory=list)
    mobiles: list[str] = Field(default_factory=list, description="Agent ids whose mobile to ring")
    numbers: list[str] = Field(default_factory=list, description="External numbers (trunk)")
    timeout: float = Field(default=20, gt=0, description="Seconds to ring before the next step")
    strategy: Literal["ring_all", "linear"] = "ring_all"
    whisper: bool = True

    @field_validator("agents", "groups", "mobiles", "numbers", mode="before")
    @classmethod
    def _strs(cls, value: Any) -> Any:
        if isinstance(value, str | int) and not isinstance(value, bool):
            value = [value]
        return [_int_as_text(v) for v in value] if isinstance(value, list) else value


class RingStep(Model):
    ring: RingTarget


class VoicemailStep(Model):
    voicemail: str


class IvrStep(Model):
    ivr: str


class GotoStep(Model):
    goto: str = Field(description="Scheme name")


class RejectTarget(Model):
    code: int = Field(default=603, ge=400, le=699)
    reason: str = "Declined"


class RejectStep(Model):
    reject: RejectTarget = Field(default_factory=RejectTarget)

    @field_validator("reject", mode="before")
    @classmethod
    def _code(cls, value: Any) -> Any:
        if value is None:
            return {}
        return {"code": value} if isinstance(value, int) else value


class HangupStep(Model):
    hangup: Literal[True] | None = True


class CrmOwnerTarget(Model):
    timeout: float = Field(default=3, gt=0, description="Seconds to wait for the CRM")
    ring_timeout: float = Field(default=20, gt=0, description="Seconds to ring the owner")


class CrmOwnerStep(Model):
    crm_owner: CrmOwnerTarget = Field(default_factory=CrmOwnerTarget)

    @field_validator("crm_owner", mode="before")
    @classmethod
    def _none(cls, value: Any) -> Any:
        return {} if value is None or value is True else value


class WebhookTarget(Model):
    endpoint: str
    timeout: float = Field(default=2, gt=0)
    ring_timeout: float = Field(default=20, gt=0)


class WebhookStep(Model):
    webhook: WebhookTarget

    @field_validator("webhook", mode="before")
    @classmethod
    def _short(cls, value: Any) -> Any:
        return {"endpoint": value} if isinstance(value, str) else value


class AddToListStep(Model):
    add_to_list: str


class CallbackStep(Model):
    """Offer / register a callback for this caller into a queue (keeps the place, B4)."""

    callback: str = Field(description="Queue whose agents will call back")


def _step_tag(value: Any) -> str | None:
    if isinstance(value, dict):
        keys = [k for k in value if k in STEP_KINDS]
        return keys[0] if len(keys) == 1 and len(value) == 1 else None
    if isinstance(value, BaseModel):
        return step_kind(value)
    return None  # e.g. a bare "- hangup": pydantic reports a step_kind error


Step = Annotated[
    Annotated[PlayStep, Tag("play")] | Annotated[QueueStep, Tag("queue")]
    | Annotated[RingStep, Tag("ring")] | Annotated[VoicemailStep, Tag("voicemail")]
    | Annotated[IvrStep, Tag("ivr")] | Annotated[GotoStep, Tag("goto")]
    | Annotated[RejectStep, Tag("reject")] | Annotated[HangupStep, Tag("hangup")]
    | Annotated[CrmOwnerStep, Tag("crm_owner")] | Annotated[WebhookStep, Tag("webhook")]
    | Annotated[AddToListStep, Tag("add_to_list")] | Annotated[CallbackStep, Tag("callback")],
    Discriminator(
        _step_tag,
        custom_error_type="step_kind",
        custom_error_message="a step is a mapping with exactly one key: play, queue, ring, "
        "voicemail, ivr, goto, reject, hangup, crm_owner, webhook, add_to_list or callback",
    ),
]

STEP_KINDS = (
    "play", "queue", "ring", "voicemail", "ivr", "goto", "reject", "hangup", "crm_owner",
    "webhook", "add_to_list", "callback",
)


def step_kind(step: Any) -> str:
    """The YAML key of a step (``queue``, ``ring``, ...)."""
    for name in type(step).model_fields:
        return str(name)
    raise TypeError(step)


class Rule(Model):
    name: str
    when: When = Field(default_factory=When)
    steps: list[Step]


class Scheme(Model):
    """Ordered rules; the first whose ``when`` holds runs its steps."""

    rules: list[Rule]
    description: str = ""


# --------------------------------------------------------------------------- queues


class Announce(Model):
    """Position / estimated wait announcements (Q3)."""

    position: bool = True
    eta: bool = True
    first_after: float = Field(default=0, ge=0, description="Seconds after joining")
    every: float = Field(default=60, gt=0, description="Seconds between announcements")


class Adverts(Model):
    """Informational recordings played at an interval (Q4)."""

    prompts: list[str]
    every: float = Field(default=45, gt=0)
    first_after: float = Field(default=20, ge=0)


class Whisper(Model):
    """What the agent hears before the bridge (Q5, W1)."""

    wait_time: bool = True
    number_name: bool = True


class Eta(Model):
    """How a queue's estimated wait is worked out (Q3, B3)."""

    default_handling: float = Field(
        default=180,
        gt=0,
        le=86400,
        description="Seconds per call (talk + wrap-up) assumed until the queue has handled "
        "5 calls of its own",
    )


class ExitKey(Model):
    digit: str = Field(pattern=r"^[0-9*#]$")
    action: Literal["voicemail", "callback"] = "callback"
    voicemail: str | None = None

    _digit = field_validator("digit", mode="before")(_int_as_text)  # `digit: 1` as for IVR keys


class Member(Model):
    agent: str
    penalty: int = Field(default=0, ge=0, description="Lower penalties are tried first")

    _s = field_validator("agent", mode="before")(_int_as_text)


class Queue(Model):
    strategy: RingStrategy = RingStrategy.ring_all
    members: list[Member] = Field(default_factory=list)
    groups: list[str] = Field(default_factory=list, description="All agents of these groups")
    skills: list[str] = Field(default_factory=list, description="Agents must have all of them")
    ring_timeout: float = Field(default=15, gt=0)
    retry: float = Field(default=2, ge=0, description="Pause after an unanswered ring round")
    wrapup: float = Field(default=5, ge=0, description="Seconds an agent rests after a call")
    max_wait: float | None = Field(default=None, gt=0, description="Then the fallback (Q6)")
    max_length: int | None = Field(default=None, ge=1, description="Callers beyond -> full")
    join_empty: bool = Field(default=True, description="Join when no agent is logged in")
    leave_when_empty: bool = Field(default=False, description="Leave when all agents log out")
    announce: Announce | None = None
    eta: Eta = Field(default_factory=Eta)
    adverts: Adverts | None = None
    music: str | None = Field(
        default="music_on_hold",
        description="Prompt looped while waiting; null or false: silence between "
        "announcements (no music playout)",
    )
    whisper: Whisper = Field(default_factory=Whisper)
    exit_key: ExitKey | None = None
    fallback: list[Step] = Field(default_factory=list, description="Steps after a queue exit")
    record: bool = False
    service_level: float = Field(default=20, gt=0, description="Answered within N s counts")

    @field_validator("members", mode="before")
    @classmethod
    def _members(cls, value: Any) -> Any:
        if isinstance(value, list):
            return [{"agent": v} if isinstance(v, str | int) and not isinstance(v, bool) else v
                    for v in value]
        return value

    @field_validator("music", mode="before")
    @classmethod
    def _music(cls, value: Any) -> Any:
        # `music: false` switches the music off like `music: null`; `true` is the default.
        if value is False:
            return None
        if value is True:
            return "music_on_hold"
        return value


# --------------------------------------------------------------------------- IVR, voicemail


class Ivr(Model):
    prompt: list[str]
    options: dict[str, list[Step]]
    timeout: float = Field(default=5, gt=0, description="Seconds to wait for a digit")
    retries: int = Field(default=2, ge=0)
    invalid_prompt: str = "ivr_invalid"
    on_timeout: list[Step] = Field(default_factory=list)

    @field_validator("prompt", mode="before")
    @classmethod
    def _one(cls, value: Any) -> Any:
        return [value] if isinstance(value, str) else value

    @field_validator("options", mode="before")
    @classmethod
    def _keys(cls, value: Any) -> Any:
        return {str(k): v for k, v in value.items()} if isinstance(value, dict) else value

    @field_validator("options")
    @classmethod
    def _digits(cls, value: dict[str, list[Step]]) -> dict[str, list[Step]]:
        for key in value:
            if not re.fullmatch(r"[0-9*#]", key):
                raise ValueError(f"IVR option {key!r} must be one key: 0-9, * or #")
        return value


class Voicemail(Model):
    greeting: list[str] = Field(default_factory=lambda: ["voicemail_greeting"])
    max_length: float = Field(default=120, gt=0)
    notify: list[str] = Field(default_factory=list, description="Notification target names")
    crm_task: bool = True

    @field_validator("greeting", mode="before")
    @classmethod
    def _one(cls, value: Any) -> Any:
        return [value] if isinstance(value, str) else value


# --------------------------------------------------------------------------- lists


class CallerList(Model):
    kind: Literal["white", "black", "other"] = Field(
        default="other", description="Numbers on a white list count as known callers"
    )
    numbers: list[str] = Field(default_factory=list, description="Numbers or masks")
    auto_add_new: bool = Field(default=False, description="Add first-time callers (W2)")

    @field_validator("numbers", mode="before")
    @classmethod
    def _s(cls, value: Any) -> Any:
        return [_int_as_text(v) for v in value] if isinstance(value, list) else value


# --------------------------------------------------------------------------- integrations


class Endpoint(Model):
    url: str
    timeout: float = Field(default=2, gt=0)
    secret: str | None = None


class Crm(Model):
    kind: Literal["generic"] = "generic"
    url: str
    token: str | None = None
    timeout: float = Field(default=3, gt=0)


#: The keys of each notification channel, and those it cannot send without (lint warns).
NOTIFY_KEYS: dict[str, tuple[str, ...]] = {
    "telegram": ("chat_id", "bot_token"),
    "email": ("to", "from", "smtp", "username", "password"),
    "sms": ("to", "url", "token"),
}
NOTIFY_NEEDS: dict[str, tuple[str, ...]] = {
    "telegram": ("chat_id", "bot_token"), "email": ("to",), "sms": ("to",),
}


class NotifyTarget(Model):
    telegram: dict[str, str] | None = None
    email: dict[str, str] | None = None
    sms: dict[str, str] | None = None
    webhook: str | None = None

    @field_validator("telegram", "email", "sms")
    @classmethod
    def _known_keys(cls, value: dict[str, str] | None, info: ValidationInfo
                    ) -> dict[str, str] | None:
        known = NOTIFY_KEYS[info.field_name or ""]
        for key in value or {}:
            if key not in known:
                raise ValueError(f"unknown key '{key}' in {info.field_name}: the keys are "
                                 f"{', '.join(known)}")
        smtp = (value or {}).get("smtp") if info.field_name == "email" else None
        if smtp is not None:
            host, colon, port = smtp.rpartition(":")
            bad_port = not port.isdigit() or not 0 < int(port) < 65536
            if not smtp or (colon and (not host or bad_port)):
                raise ValueError(f"smtp '{smtp}' must be host:port, like smtp.example.com:587")
        return value

    @model_validator(mode="after")
    def _one(self) -> NotifyTarget:
        given = [k for k in ("telegram", "email", "sms", "webhook") if getattr(self, k)]
        if len(given) != 1:
            raise ValueError(
                "a notification target has exactly one of telegram, email, sms, webhook"
            )
        return self


class MissedCalls(Model):
    """What happens after a missed call (M1-M5)."""

    notify: list[str] = Field(default_factory=list)
    crm_task: bool = True
    task_deadline: float = Field(default=1800, gt=0, description="Seconds until the task is due")
    head_agent: str | None = Field(default=None, description="Assignee for new callers (M5)")
    auto_callback: bool = False
    callback_queue: str | None = None
    give_up_after: float = Field(default=300, gt=0, description="Seconds (M1)")
    agent_timeout: float = Field(default=20, gt=0)
    customer_timeout: float = Field(default=30, gt=0)
    priority: int = Field(default=-1, description="Queue priority of auto-callbacks")


class CallbackSlots(Model):
    """Website callback form (M6)."""

    schedule: str | None = None
    slot_minutes: int = Field(default=30, ge=5, le=240)
    offer: int = Field(default=3, ge=1, le=20)
    queue: str | None = None


# --------------------------------------------------------------------------- trunks


class Trunk(Model):
    name: str
    host: str = Field(min_length=1)
    port: int = Field(default=5060, ge=1, le=65535)
    transport: Literal["udp", "tcp"] = "udp"
    username: str | None = None
    password: str | None = None
    registration: bool = Field(default=False, description="REGISTER to the trunk")
    inbound_from: list[str] = Field(default_factory=list, description="Trusted source IPs")
    inbound_auth: bool = Field(
        default=False,
        description="Also accept calls from other addresses that answer a digest challenge "
        "with this trunk's username and password (a provider with changing addresses, a "
        "branch office's PBX)")
    caller_id: str | None = Field(default=None,
                                  description="From number of calls out through this trunk")


# --------------------------------------------------------------------------- simulation


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

    _s = field_validator("number", mode="before")(_int_as_text)

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

    _start = field_validator("start", mode="before")(_not_a_number)


# --------------------------------------------------------------------------- media / service


class Media(Model):
    """Which media driver carries the RTP (docs/media.md)."""

    driver: Literal["inprocess", "rtpengine"] = Field(
        default="inprocess",
        description="inprocess: RTP in switchboard itself; rtpengine: Sipwise rtpengine "
        "(Debian rtpengine-daemon) carries it, driven over its NG protocol",
    )
    rtp_ports: tuple[int, int] = Field(
        default=(20000, 30000), description="RTP port range (also rtpengine's when started)"
    )
    rtpengine: str | None = Field(
        default=None,
        description="host:port of a running rtpengine's NG socket (--listen-ng); none: "
        "switchboard starts its own rtpengine and stops it on exit",
    )
    rtpengine_dtmf: str = Field(
        default="127.0.0.1:0",
        description="host:port where switchboard listens for rtpengine's DTMF log; a running "
        "rtpengine's --dtmf-log-dest must name it (port 0: any, for an rtpengine started by "
        "switchboard)",
    )
    rtpengine_threads: int | None = Field(
        default=None,
        ge=1,
        le=64,
        description="Worker threads of an rtpengine started by switchboard (--num-threads); "
        "none: rtpengine's default (one per core)",
    )
    rtpengine_recording_dir: str | None = Field(
        default=None,
        description="A running rtpengine's --recording-dir (pcap method), needed for call "
        "recordings; an rtpengine started by switchboard records under --data",
    )

    @field_validator("rtpengine", "rtpengine_dtmf")
    @classmethod
    def _host_port(cls, value: str | None) -> str | None:
        if value is not None:
            host, sep, port = value.rpartition(":")
            if not sep or not host or not port.isdigit() or int(port) > 65535:
                raise ValueError(f"{value!r} is not host:port (for example 127.0.0.1:2223)")
        return value

    @field_validator("rtp_ports")
    @classmethod
    def _port_range(cls, value: tuple[int, int]) -> tuple[int, int]:
        lo, hi = value
        if not 1024 <= lo < hi <= 65535:
            raise ValueError(f"rtp_ports {lo}-{hi}: give two ports, 1024 <= first < last <= 65535")
        return value


DigestAlgorithm = Literal["MD5", "SHA-256"]


class Sip(Model):
    """SIP settings of ``switchboard run``."""

    digest_algorithms: list[DigestAlgorithm] = Field(
        default_factory=lambda: list[DigestAlgorithm](["MD5"]),
        description="Challenges sent to phones, in order. MD5 alone by default: phones on "
        "older SIP libraries (libre 1.1, many desk phones) give up when a 401 also names "
        "SHA-256",
        min_length=1,
    )
    # Overload shedding (docs/sip.md): new out-of-dialog INVITEs beyond these limits get
    # 503 Service Unavailable with Retry-After; calls in progress are always served.
    max_calls: int | None = Field(
        default=None, ge=1,
        description="Concurrent calls (inbound callers) at most; null: no limit "
        "(FreeSWITCH max-sessions, Asterisk maxcalls)",
    )
    max_calls_per_second: float | None = Field(
        default=None, gt=0, allow_inf_nan=False,
        description="New calls accepted per second on average, bursts up to one second's "
        "worth; null: no limit (FreeSWITCH sessions-per-second)",
    )
    max_calls_in_setup: int | None = Field(
        default=100, ge=1,
        description="Calls received but not answered and acknowledged yet; more means the "
        "server is behind; null: no limit",
    )
    max_loop_lag: float | None = Field(
        default=0.25, gt=0, allow_inf_nan=False,
        description="Seconds the event loop may run late (it is saturated) before new calls "
        "are refused, for at least a second; null: not watched",
    )
    overload_retry_after: int = Field(
        default=5, ge=1, le=3600,
        description="Retry-After seconds in the 503 that refuses a call under overload",
    )


class Config(Model):
    """The whole configuration file."""

    timezone: str = "UTC"
    country: str | None = Field(default=None, description="Default country for numbers/holidays")
    language: Language = Field(default="en", description="Prompt language: en, uk, ru")
    numbers: list[Number]
    agents: list[Agent] = Field(default_factory=list)
    schedules: dict[str, Schedule] = Field(default_factory=dict)
    lists: dict[str, CallerList] = Field(default_factory=dict)
    schemes: dict[str, Scheme]
    queues: dict[str, Queue] = Field(default_factory=dict)
    ivr: dict[str, Ivr] = Field(default_factory=dict)
    voicemail: dict[str, Voicemail] = Field(default_factory=dict)
    prompts: dict[str, str] = Field(default_factory=dict, description="Prompt name -> WAV file")
    crm: Crm | None = None
    webhooks: dict[str, Endpoint] = Field(default_factory=dict)
    notify: dict[str, NotifyTarget] = Field(default_factory=dict)
    missed: MissedCalls = Field(default_factory=MissedCalls)
    callback_slots: CallbackSlots = Field(default_factory=CallbackSlots)
    trunks: list[Trunk] = Field(default_factory=list)
    media: Media = Field(default_factory=Media)
    sip: Sip = Field(default_factory=Sip)
    simulation: Simulation = Field(default_factory=Simulation)

    def agent(self, agent_id: str) -> Agent | None:
        for a in self.agents:
            if a.id == agent_id:
                return a
        return None

    def number(self, number: str) -> Number | None:
        for n in self.numbers:
            if n.number == number:
                return n
        return None
