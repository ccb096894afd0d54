"""The configuration model: one YAML file, validated by pydantic.

Every section of the file has a class, named here (this is the schema's home; importers
take names from this module). Names are the YAML keys. The model is frozen after loading;
the core reads it and never changes it. Sections that stand alone live beside it: the
base and shared validators (config/base.py), rule conditions and steps (config/steps.py),
the simulation (config/simulation.py), media and SIP (config/service.py).
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Any, Literal

from pydantic import Field, ValidationInfo, field_validator, model_validator

from switchboard.config.base import Language, Model, expand_days, int_as_text, not_a_number
from switchboard.config.service import DigestAlgorithm, Media, Sip
from switchboard.config.simulation import (
    MAX_CALLS_PER_HOUR,
    AgentBehaviour,
    Dist,
    Integration,
    Simulation,
    Traffic,
)
from switchboard.config.steps import (
    STEP_KINDS,
    AddToListStep,
    CallbackStep,
    CrmOwnerStep,
    CrmOwnerTarget,
    GotoStep,
    HangupStep,
    IvrStep,
    PlayStep,
    QueueStep,
    QueueTarget,
    RejectStep,
    RejectTarget,
    RingStep,
    RingStrategy,
    RingTarget,
    Rule,
    Scheme,
    Step,
    VoicemailStep,
    WebhookStep,
    WebhookTarget,
    When,
    step_kind,
)

__all__ = [
    "MAX_CALLS_PER_HOUR",
    "NOTIFY_KEYS",
    "NOTIFY_NEEDS",
    "STEP_KINDS",
    "AddToListStep",
    "Adverts",
    "Agent",
    "AgentBehaviour",
    "Announce",
    "CallbackSlots",
    "CallbackStep",
    "CallerList",
    "Config",
    "Crm",
    "CrmOwnerStep",
    "CrmOwnerTarget",
    "DigestAlgorithm",
    "Dist",
    "Endpoint",
    "Eta",
    "ExitKey",
    "GotoStep",
    "HangupStep",
    "Integration",
    "Ivr",
    "IvrStep",
    "Language",
    "Media",
    "Member",
    "MissedCalls",
    "Model",
    "NotifyTarget",
    "Number",
    "Overflow",
    "Override",
    "PlayStep",
    "Queue",
    "QueueStep",
    "QueueTarget",
    "RejectStep",
    "RejectTarget",
    "RingStep",
    "RingStrategy",
    "RingTarget",
    "Rule",
    "Schedule",
    "Scheme",
    "Simulation",
    "Sip",
    "Step",
    "TimeRange",
    "Traffic",
    "Trunk",
    "Voicemail",
    "VoicemailStep",
    "WebhookStep",
    "WebhookTarget",
    "When",
    "Whisper",
    "expand_days",
    "step_kind",
]

_HHMM = re.compile(r"^(([01]\d|2[0-3]):[0-5]\d|24:00)$")


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
    _date = field_validator("date", mode="before")(not_a_number)


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

    _str_id = field_validator("id", mode="before")(int_as_text)


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

    _str_number = field_validator("number", mode="before")(int_as_text)

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

    _digit = field_validator("digit", mode="before")(int_as_text)  # `digit: 1` as for IVR keys


class Member(Model):
    agent: str
    penalty: int = Field(default=0, ge=0, description="Lower penalties are tried first")

    _s = field_validator("agent", mode="before")(int_as_text)


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
        return [int_as_text(v) for v in value] if isinstance(value, list) else value


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
