"""Rule conditions and scheme steps: what a call meets when it reaches a number.

Owns ``When`` (the conditions of a rule), every step kind (``play``, ``queue``, ``ring``,
...) and ``Step``, their union discriminated by the step's one YAML key, and ``Rule`` and
``Scheme``. Queues, IVR menus and fallbacks reuse ``Step``.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import BaseModel, Discriminator, Field, Tag, field_validator

from switchboard.config.base import Model, expand_days, int_as_text


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
        return [int_as_text(v) for v in value] if isinstance(value, list) else value


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
