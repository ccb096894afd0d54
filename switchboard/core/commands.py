"""Commands: what the core asks the world to do, returned by ``Switchboard.handle``.

Commands that the world must carry out (SIP, media, HTTP) come first; then records that
observers (store, API, simulator) keep: ``Decision``, ``CallFinished``, ``EtaEstimated`` ...
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal


@dataclass(frozen=True, slots=True)
class Prompt:
    """A recorded prompt by name (``greeting``, ``queue_position`` ...)."""

    name: str


@dataclass(frozen=True, slots=True)
class SayNumber:
    """A number, composed by the media layer from number fragments."""

    value: int


@dataclass(frozen=True, slots=True)
class SayDuration:
    """A duration, spoken in minutes (or seconds under a minute), with plural forms."""

    seconds: int


Utterance = Prompt | SayNumber | SayDuration


@dataclass(frozen=True, slots=True)
class LegTarget:
    """Who an outbound leg calls: a registered agent's softphone or an external number."""

    leg_id: str
    kind: Literal["agent", "number"]
    address: str  # agent id or E.164 number
    agent_id: str | None = None  # set for agent softphones and agents' mobiles


# ---------------------------------------------------------------- carried out by the runtime


@dataclass(frozen=True, slots=True)
class Answer:
    call_id: str


@dataclass(frozen=True, slots=True)
class Reject:
    """Refuse an unanswered inbound call with a SIP final response."""

    call_id: str
    code: int
    reason: str


@dataclass(frozen=True, slots=True)
class Play:
    """Play prompts to a channel; ``loop`` repeats until StopPlay. Ends with PromptFinished."""

    channel_id: str
    play_id: int
    prompts: tuple[Utterance, ...]
    loop: bool = False


@dataclass(frozen=True, slots=True)
class StopPlay:
    channel_id: str


@dataclass(frozen=True, slots=True)
class CollectDigits:
    """Start passing DTMF from the channel as DigitsReceived (until StopCollect or hangup)."""

    channel_id: str


@dataclass(frozen=True, slots=True)
class Ring:
    """Start outbound legs, all at once. Each ends as LegAnswered or LegFailed."""

    call_id: str | None  # None for callbacks (no inbound call)
    legs: tuple[LegTarget, ...]
    caller_id: str
    timeout: float
    job_id: str | None = None  # a callback's job, whose agent and customer legs are bridged


@dataclass(frozen=True, slots=True)
class CancelRing:
    """Stop ringing these legs (CANCEL); no LegFailed follows for them."""

    leg_ids: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Whisper:
    """Play prompts to an answered agent leg only. Ends with PromptFinished(leg_id)."""

    leg_id: str
    play_id: int
    prompts: tuple[Utterance, ...]


@dataclass(frozen=True, slots=True)
class Bridge:
    """Connect two answered channels' media."""

    a: str
    b: str


@dataclass(frozen=True, slots=True)
class Hangup:
    """End a channel (inbound call or answered leg); no hang-up event follows for it."""

    channel_id: str
    reason: str


@dataclass(frozen=True, slots=True)
class Record:
    """Record a channel. Voicemail: the caller's audio up to ``max_length``; call: both sides."""

    channel_id: str
    kind: Literal["voicemail", "call"]
    max_length: float | None = None
    box: str | None = None


@dataclass(frozen=True, slots=True)
class AskWebhook:
    """POST the call's data to a routing endpoint; answer comes as WebhookAnswered/Failed."""

    call_id: str
    request_id: int
    endpoint: str
    payload: dict[str, object]
    timeout: float


@dataclass(frozen=True, slots=True)
class LookupCrmOwner:
    """Ask the CRM who owns the caller's deal; answer comes as CrmOwnerFound/LookupFailed."""

    call_id: str
    request_id: int
    caller: str
    timeout: float


@dataclass(frozen=True, slots=True)
class Notify:
    """Send a notification (Telegram, e-mail, SMS, webhook) to a named target."""

    target: str
    kind: Literal["missed_call", "voicemail", "callback_failed"]
    payload: dict[str, object]


@dataclass(frozen=True, slots=True)
class CreateCrmTask:
    """A 'call back' task in the CRM (M5)."""

    number: str
    assignee: str | None
    due: float
    title: str
    attachment: str | None = None


@dataclass(frozen=True, slots=True)
class AddToList:
    """Persist a number added to a caller list (W2 auto-add)."""

    list_name: str
    number: str


@dataclass(frozen=True, slots=True)
class OfferSlots:
    """Answer to a CallbackRequested outside hours: the next working slots (M6)."""

    request_id: int
    slots: tuple[float, ...]


# ---------------------------------------------------------------- records for observers


@dataclass(frozen=True, slots=True)
class Decision:
    """Why the core did what it did (MISSION B1). One per routing step."""

    channel_id: str
    at: float
    step: str  # 'rule', 'queue', 'ring', 'webhook', 'crm_owner', 'ivr', 'overflow', ...
    summary: str
    rule: str | None = None
    tried: tuple[str, ...] = ()
    skipped: tuple[tuple[str, str], ...] = ()  # (agent id, why)
    details: dict[str, object] = field(default_factory=dict)


ExitReason = Literal[
    "answered", "abandoned", "timeout", "full", "empty", "exit_key", "rejected",
    "overflow", "voicemail", "after_hours", "hangup", "no_answer", "callback", "informational",
]


@dataclass(frozen=True, slots=True)
class CallFinished:
    """One inbound call is over: the call-history record (P1, P2)."""

    call_id: str
    dialed: str
    caller: str
    arrived: float
    ended: float
    # completed: the caller got what they chose without an agent (an informational IVR branch)
    outcome: Literal["answered", "missed", "rejected", "completed"]
    reason: ExitReason
    agent_id: str | None = None
    queue: str | None = None
    wait: float = 0.0  # seconds in queue (or ringing) before an agent answered / exit
    answered_at: float | None = None
    talk: float = 0.0  # from the answer to the end, hold included (as a CDR's billsec)
    rule: str | None = None
    hold: float = 0.0  # seconds of the talk on hold (either party)


@dataclass(frozen=True, slots=True)
class QueueExited:
    """A caller left a queue, with the named reason (answered, timeout, abandon, full...)."""

    call_id: str
    queue: str
    reason: ExitReason
    wait: float
    at: float


@dataclass(frozen=True, slots=True)
class EtaEstimated:
    """An estimated wait, from each estimator, at the moment it was announced (B3)."""

    call_id: str
    queue: str
    at: float
    position: int
    estimates: dict[str, float]


@dataclass(frozen=True, slots=True)
class ChannelsExhausted:
    """A call arrived while a number used all its channels (Q9, P4)."""

    dialed: str
    caller: str
    at: float
    limit: int


@dataclass(frozen=True, slots=True)
class LostChanged:
    """The missed/lost ledger changed for a number (M2)."""

    number: str
    status: Literal["lost", "recovered"]
    at: float
    reason: str


@dataclass(frozen=True, slots=True)
class CallbackFinished:
    """An auto-callback or requested callback ended (M1, M6, B4)."""

    number: str
    outcome: Literal["connected", "gave_up", "cancelled", "customer_no_answer"]
    at: float
    agent_id: str | None = None
    attempts: int = 0


@dataclass(frozen=True, slots=True)
class AgentStateChanged:
    """System-set agent state (idle, ringing, talking, wrapup); for occupancy and the UI."""

    agent_id: str
    state: Literal["idle", "ringing", "talking", "wrapup"]
    at: float


Command = (
    Answer | Reject | Play | StopPlay | CollectDigits | Ring | CancelRing | Whisper | Bridge
    | Hangup | Record | AskWebhook | LookupCrmOwner | Notify | CreateCrmTask | AddToList
    | OfferSlots | Decision | CallFinished | QueueExited | EtaEstimated | ChannelsExhausted
    | LostChanged | CallbackFinished | AgentStateChanged
)
