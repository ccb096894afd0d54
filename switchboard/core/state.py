"""The core's mutable state: calls, legs, agents, queue entries, callback jobs, timers.

Only the core mutates these; the world sees them through commands. Plain slotted classes
(not frozen) because they change on every event and the simulator runs millions of events.
"""

from __future__ import annotations

import heapq
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal

from switchboard.config.model import Agent, Number, Step

AgentState = Literal["idle", "ringing", "talking", "wrapup"]


class Timer:
    """A cancellable deadline; ``fire(now)`` runs when it is due."""

    __slots__ = ("cancelled", "fire", "when")

    def __init__(self, when: float, fire: Callable[[float], None]) -> None:
        self.when = when
        self.fire = fire
        self.cancelled = False

    def cancel(self) -> None:
        self.cancelled = True


class Timers:
    """A heap of timers with lazy cancellation."""

    __slots__ = ("_heap", "_seq")

    def __init__(self) -> None:
        self._heap: list[tuple[float, int, Timer]] = []
        self._seq = 0

    def add(self, when: float, fire: Callable[[float], None]) -> Timer:
        timer = Timer(when, fire)
        self._seq += 1
        heapq.heappush(self._heap, (when, self._seq, timer))
        return timer

    def next_deadline(self) -> float | None:
        heap = self._heap
        while heap and heap[0][2].cancelled:
            heapq.heappop(heap)
        return heap[0][0] if heap else None

    def pop_due(self, now: float) -> Timer | None:
        heap = self._heap
        while heap:
            when, _, timer = heap[0]
            if timer.cancelled:
                heapq.heappop(heap)
                continue
            if when > now:
                return None
            heapq.heappop(heap)
            return timer
        return None


@dataclass(slots=True)
class Frame:
    """A list of steps being executed, and where we are in it."""

    steps: list[Step]
    index: int = 0
    label: str = ""


@dataclass(slots=True, eq=False)
class AgentRuntime:
    """An agent: configuration, status (set by the person) and state (set by the system)."""

    config: Agent
    registered: bool = False
    status: str = "available"
    state: AgentState = "idle"
    leg_id: str | None = None
    idle_since: float = 0.0
    talk_started: float = 0.0
    queues: list[str] = field(default_factory=list)
    reason: str | None = "not registered"  # why not free (shifts aside); None when free
    # While the agent rests after a queue ring they let go unanswered (their ``retry``):
    # why they are skipped. Not a state: resting is not work (no occupancy, no wrap-up).
    resting: str | None = None
    rest_timer: Timer | None = None
    id: str = ""

    def __post_init__(self) -> None:
        self.id = self.config.id


@dataclass(slots=True, eq=False)
class Leg:
    """An outbound channel started by the core."""

    id: str
    kind: Literal["agent", "number"]
    address: str
    agent_id: str | None
    owner: Call | CallbackJob
    purpose: Literal["queue", "ring", "callback_agent", "callback_customer"]
    answered: bool = False
    whisper_play: int = 0


@dataclass(slots=True, eq=False)
class QueueEntry:
    """A caller (or a callback job keeping a caller's place) waiting in a queue."""

    queue: str
    priority: int
    joined: float
    seq: int
    call: Call | None = None
    job: CallbackJob | None = None
    legs: list[str] = field(default_factory=list)
    tried: set[str] = field(default_factory=set)  # agents rung this round
    retry_at: float = 0.0
    ring_timer: Timer | None = None
    active: bool = True
    # When this caller's own wait began: max_wait counts from it. ``joined`` may be earlier,
    # the place a callback kept for them (B4), which orders the queue and nothing else.
    entered: float | None = None

    def sort_key(self) -> tuple[int, float, int]:
        return (-self.priority, self.joined, self.seq)


@dataclass(slots=True, eq=False)
class CallbackJob:
    """A callback owed to a number (M1, M6, B4): one at a time per number."""

    id: str
    number: str
    queue: str
    give_up_at: float
    reason: str
    priority: int = 0
    entry: QueueEntry | None = None
    agent_leg: str | None = None
    customer_leg: str | None = None
    agent_id: str | None = None
    # scheduled (before a chosen time), waiting (in the queue, or pausing before the next
    # try), ringing_agent, dialing_customer (the agent answered), connected
    phase: Literal["scheduled", "waiting", "ringing_agent", "dialing_customer", "connected"] = (
        "scheduled"
    )
    attempts: int = 0
    timers: list[Timer] = field(default_factory=list)
    dialed: str = ""
    joined: float = 0.0  # the place kept in the queue (B4): the caller's original join time
    overdue: bool = False  # the give-up time came while the customer was on the line with us


@dataclass(slots=True, eq=False)
class Call:
    """An inbound call in progress."""

    id: str
    dialed: str
    caller: str  # normalised
    raw_caller: str
    number: Number | None
    entities: dict[str, str]
    arrived: float
    known: bool = False
    stack: list[Frame] = field(default_factory=list)
    rule: str | None = None
    rule_closed: bool = False
    answered: bool = False  # SIP-answered by us
    phase: str = "routing"
    entry: QueueEntry | None = None
    # The queue in charge of the call: waiting in it, or answered from it. None before a
    # queue took the call and again once the call left it unanswered (timeout, exit key...).
    queue: str | None = None
    queue_joined: float = 0.0  # when the call joined ``queue``; meaningless without it
    last_queue: str | None = None  # the last queue tried, joined or not: for the record
    last_exit: str | None = None
    legs: list[str] = field(default_factory=list)  # legs ringing for a ring step / webhook
    ring_timer: Timer | None = None
    bridged_leg: str | None = None
    agent_id: str | None = None
    answered_at: float | None = None
    wait: float = 0.0
    hold_started: float | None = None  # on hold since (bridged calls)
    hold: float = 0.0  # seconds on hold before hold_started
    wait_play: int = 0  # play id we wait for, 0 = none
    request_id: int = 0  # webhook / CRM request we wait for
    request_timer: Timer | None = None
    timers: list[Timer] = field(default_factory=list)  # announce / advert / max_wait / misc
    music_on: bool = False
    collecting: bool = False
    held_exit_key: str | None = None  # pressed while an agent heard the whisper
    gotos: int = 0
    informational: bool = False  # chose an IVR branch that only plays recordings
    digit_timer: Timer | None = None
    ivr: str | None = None
    ivr_tries: int = 0
    voicemail: str | None = None
    crm_owner: str | None = None
    counted_channel: bool = False
    ended: bool = False
    linear_targets: list[tuple[str, str, str | None]] = field(default_factory=list)
    ring_timeout: float = 0.0
    ring_whisper: bool = True
