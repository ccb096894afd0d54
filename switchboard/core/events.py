"""Events: what happened in the world, fed into ``Switchboard.handle(event, now)``.

Vocabulary: a *call* is an inbound caller's channel, named by ``call_id`` (chosen by the
runtime, e.g. the SIP Call-ID). A *leg* is an outbound channel the core asked for (an agent's
softphone, a mobile, a customer being called back), named by ``leg_id`` (chosen by the core).
Both are *channels*; prompts and hangups address a channel id.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

AgentStatus = Literal["available", "break", "offline"]
LegFailure = Literal["no_answer", "busy", "rejected", "unavailable", "error"]


@dataclass(frozen=True, slots=True)
class CallArrived:
    """A caller dialed one of our numbers."""

    call_id: str
    dialed: str
    caller: str
    entities: dict[str, str] = field(default_factory=dict)  # website visitor data (R6)


@dataclass(frozen=True, slots=True)
class CallerHungUp:
    """The inbound caller hung up (or the trunk dropped the call)."""

    call_id: str


@dataclass(frozen=True, slots=True)
class DigitsReceived:
    """DTMF from a channel (RFC 4733 or SIP INFO)."""

    channel_id: str
    digits: str


@dataclass(frozen=True, slots=True)
class PromptFinished:
    """A Play or Whisper ended on its own (not by StopPlay)."""

    channel_id: str
    play_id: int


@dataclass(frozen=True, slots=True)
class LegAnswered:
    """An outbound leg (agent, mobile, customer) answered."""

    leg_id: str


@dataclass(frozen=True, slots=True)
class LegFailed:
    """An outbound leg ended before being answered."""

    leg_id: str
    reason: LegFailure


@dataclass(frozen=True, slots=True)
class LegHungUp:
    """An answered outbound leg hung up."""

    leg_id: str


@dataclass(frozen=True, slots=True)
class AgentStatusChanged:
    """A person changed their own status (available, break, offline)."""

    agent_id: str
    status: AgentStatus


@dataclass(frozen=True, slots=True)
class AgentRegistered:
    """An agent's softphone registered (True) or its registration ended (False)."""

    agent_id: str
    registered: bool


@dataclass(frozen=True, slots=True)
class WebhookAnswered:
    """The routing webhook replied. ``target`` is its parsed JSON reply body."""

    call_id: str
    request_id: int
    target: dict[str, object]


@dataclass(frozen=True, slots=True)
class WebhookFailed:
    call_id: str
    request_id: int
    reason: str


@dataclass(frozen=True, slots=True)
class CrmOwnerFound:
    """The CRM answered; ``agent_id`` is None when the caller has no deal owner."""

    call_id: str
    request_id: int
    agent_id: str | None


@dataclass(frozen=True, slots=True)
class CrmLookupFailed:
    call_id: str
    request_id: int
    reason: str


@dataclass(frozen=True, slots=True)
class RecordingSaved:
    """A recording (voicemail or call) was written; ``url`` is how people reach it."""

    channel_id: str
    kind: Literal["voicemail", "call"]
    url: str
    duration: float


@dataclass(frozen=True, slots=True)
class CallHeld:
    """A bridged call went on hold (either party's re-INVITE; ``held``) or came off it. The
    runtime carries hold out itself (music to the other party); the core keeps the time for
    the call record."""

    call_id: str
    held: bool


@dataclass(frozen=True, slots=True)
class CallbackRequested:
    """A website visitor asked to be called back (M6); ``at`` None means as soon as possible."""

    request_id: int
    number: str
    at: float | None = None
    queue: str | None = None


Event = (
    CallArrived | CallerHungUp | DigitsReceived | PromptFinished | LegAnswered | LegFailed
    | LegHungUp | AgentStatusChanged | AgentRegistered | WebhookAnswered | WebhookFailed
    | CrmOwnerFound | CrmLookupFailed | RecordingSaved | CallbackRequested | CallHeld
)
