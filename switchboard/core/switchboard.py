"""The routing core: ``Switchboard.handle(event, now) -> commands``. Sans-IO.

This module owns the lifecycle of an inbound call: arrival (channel limits, overflow),
connecting it to an agent (whisper, bridge), the leg and caller events, and its end (the
``CallFinished`` record and what follows a missed call). It holds the state the feature
modules beside it share (calls, legs, agents, timers) and hands each event to its owner: the
scheme interpreter (``schemes.py``), agents' availability (``agents.py``), queues and what
their callers hear (``announcements.py``), ringing, IVR, voicemail, lookups and callbacks.
See docs/core-protocol.md for the contract with the world.
"""

from __future__ import annotations

import random
import re
from collections.abc import Callable
from typing import Any

from switchboard.config.model import Config
from switchboard.config.model import Whisper as WhisperConfig
from switchboard.core import commands as c
from switchboard.core import events as e
from switchboard.core.agents import AgentStates
from switchboard.core.announcements import Announcements
from switchboard.core.callbacks import CallbackManager
from switchboard.core.callerinfo import CallerLists, normalize
from switchboard.core.ivr import Ivr
from switchboard.core.lookups import Lookups
from switchboard.core.missed import MissedCalls
from switchboard.core.queues import QueueManager
from switchboard.core.ringing import Ringing
from switchboard.core.rules import RuleMatcher
from switchboard.core.schedule import Calendar
from switchboard.core.schemes import Schemes
from switchboard.core.state import AgentRuntime, Call, Leg, Timer, Timers
from switchboard.core.voicemail import VoicemailBoxes

_E164 = re.compile(r"^\+[1-9][0-9]{6,14}$")  # already normalised: skip phonenumbers
# Reasons for which a call that ended unanswered is not a "missed" call.
_NOT_MISSED = frozenset({"rejected"})


class Switchboard:
    """The routing brain. Feed it events with the current time; carry out what it returns."""

    def __init__(self, config: Config, rng: random.Random) -> None:
        self.config = config
        self.rng = rng
        self.calendar = Calendar(config)
        self.lists = CallerLists(config)
        self.matcher = RuleMatcher(config, self.calendar, self.lists)
        self.numbers = {n.number: n for n in config.numbers}
        self.agents = {a.id: AgentRuntime(config=a, status=a.status) for a in config.agents}
        # Agents registered, available and idle (shifts are checked where they are used).
        self.free: set[str] = set()
        self.calls: dict[str, Call] = {}
        self.legs: dict[str, Leg] = {}
        self.timers = Timers()
        self.active_by_number: dict[str, int] = {}
        self.known: set[str] = set()
        self.pending_voicemail: dict[str, Call] = {}
        self._white_lists = [n for n, lst in config.lists.items() if lst.kind == "white"]
        self.out: list[c.Command] = []
        self._seq = 0
        self.agent_states = AgentStates(self)
        self.schemes = Schemes(self)
        self.queues = QueueManager(self)
        self.announcements = Announcements(self)
        self.callbacks = CallbackManager(self)
        self.ivr = Ivr(self)
        self.voicemail = VoicemailBoxes(self)
        self.lookups = Lookups(self)
        self.ringing = Ringing(self)
        self.missed = MissedCalls(self)
        self._handlers: dict[type, Callable[[Any, float], None]] = {
            e.CallArrived: self._on_call_arrived,
            e.CallerHungUp: self._on_caller_hung_up,
            e.DigitsReceived: self._on_digits,
            e.PromptFinished: self._on_prompt_finished,
            e.LegAnswered: self._on_leg_answered,
            e.LegFailed: self._on_leg_failed,
            e.LegHungUp: self._on_leg_hung_up,
            e.AgentStatusChanged: self.agent_states.on_status_changed,
            e.AgentRegistered: self.agent_states.on_registered,
            e.WebhookAnswered: self.lookups.on_webhook_answered,
            e.WebhookFailed: self.lookups.on_request_failed,
            e.CrmOwnerFound: self.lookups.on_crm_owner,
            e.CrmLookupFailed: self.lookups.on_request_failed,
            e.RecordingSaved: self.voicemail.on_recording_saved,
            e.CallbackRequested: self.callbacks.on_requested,
            e.CallHeld: self._on_call_held,
        }

    # ------------------------------------------------------------------ public API

    def handle(self, event: e.Event, now: float) -> list[c.Command]:
        """Apply one event; return the commands to carry out, in order."""
        out: list[c.Command] = []
        self.out = out
        self._handlers[type(event)](event, now)
        if self.queues.dirty:
            self.queues.dispatch(now)
        return out

    def next_deadline(self) -> float | None:
        """When ``on_timer`` wants to be called next (None: no timer pending)."""
        return self.timers.next_deadline()

    def on_timer(self, now: float) -> list[c.Command]:
        """Fire every timer due at ``now``."""
        out: list[c.Command] = []
        self.out = out
        timers = self.timers
        while (timer := timers.pop_due(now)) is not None:
            timer.fire(now)
        if self.queues.dirty:
            self.queues.dispatch(now)
        return out

    # ------------------------------------------------------------------ helpers

    def next_id(self) -> int:
        self._seq += 1
        return self._seq

    def later(self, when: float, fire: Callable[[float], None]) -> Timer:
        return self.timers.add(when, fire)

    def decide(self, channel: str, now: float, step: str, summary: str, **kw: Any) -> None:
        self.out.append(c.Decision(channel, now, step, summary, **kw))

    def free_leg(self, leg_id: str, now: float) -> None:
        """Forget a leg that ended without a conversation; its agent goes back to idle."""
        leg = self.legs.pop(leg_id, None)
        if leg is None or leg.agent_id is None:
            return
        agent = self.agents.get(leg.agent_id)
        if agent is not None and agent.leg_id == leg_id and agent.state in ("ringing", "talking"):
            # Rung on the desk phone and the mobile at once (R5): still busy on the other leg.
            owner, legs = leg.owner, self.legs
            if isinstance(owner, Call):
                for lid in owner.legs:
                    if lid in legs and legs[lid].agent_id == agent.id:
                        agent.leg_id = lid
                        return
            self.agent_states.set_state(agent, "idle", now)

    def cancel_legs(self, leg_ids: list[str], now: float) -> None:
        if not leg_ids:
            return
        ringing = [lid for lid in leg_ids if lid in self.legs and not self.legs[lid].answered]
        answered = [lid for lid in leg_ids if lid in self.legs and self.legs[lid].answered]
        if ringing:
            self.out.append(c.CancelRing(tuple(ringing)))
        for lid in answered:
            self.out.append(c.Hangup(lid, "caller gone"))
        for lid in leg_ids:
            self.free_leg(lid, now)

    def ensure_answered(self, call: Call) -> None:
        if not call.answered:
            call.answered = True
            self.out.append(c.Answer(call.id))

    def play(self, call: Call, prompts: tuple[c.Utterance, ...], loop: bool = False) -> int:
        self.ensure_answered(call)
        pid = self.next_id()
        self.out.append(c.Play(call.id, pid, prompts, loop))
        call.music_on = loop
        call.wait_play = 0 if loop else pid
        return pid

    # ------------------------------------------------------------------ arrival

    def _on_call_arrived(self, ev: e.CallArrived, now: float) -> None:
        if ev.call_id in self.calls:
            return  # a retransmitted arrival; the world should not, but we stay idempotent
        caller = ev.caller if _E164.match(ev.caller) else normalize(ev.caller, self.config.country)
        number = self.numbers.get(ev.dialed)
        call = Call(ev.call_id, ev.dialed, caller, ev.caller, number, dict(ev.entities), now)
        call.known = caller in self.known or any(
            self.lists.contains(name, caller) for name in self._white_lists)
        self.calls[call.id] = call
        self.callbacks.call_started(call, now)
        if number is None:
            self.decide(call.id, now, "number", f"no number {ev.dialed} configured")
            self.out.append(c.Reject(call.id, 404, "Not Found"))
            self.finish(call, "rejected", "rejected", now)
            return
        if self.callbacks.take_over_waiting_agent(call, now):
            return
        scheme = number.scheme
        active = self.active_by_number.get(ev.dialed, 0)
        if number.channels is not None and active >= number.channels:
            self.out.append(c.ChannelsExhausted(ev.dialed, caller, now, number.channels))
            ov = number.overflow
            self.decide(
                call.id, now, "overflow",
                f"all {number.channels} channels of {ev.dialed} busy: {ov.action}",
                details={"active": active, "limit": number.channels},
            )
            if ov.action == "reject" or ov.scheme is None:
                self.out.append(c.Reject(call.id, ov.code, "Busy Here"))
                self.finish(call, "missed", "overflow", now)
                return
            scheme = ov.scheme
        else:
            self.active_by_number[ev.dialed] = active + 1
            call.counted_channel = True
        self.schemes.enter(call, scheme, now)

    def _auto_add(self, call: Call) -> None:
        # W2: a first-time caller who was not rejected goes onto lists marked auto_add_new.
        for name, lst in self.config.lists.items():
            if lst.auto_add_new and self.lists.add(name, call.caller):
                self.out.append(c.AddToList(name, call.caller))

    # ------------------------------------------------------------------ connect (whisper, bridge)

    def connect(self, call: Call, leg: Leg, now: float, whisper: WhisperConfig | None) -> None:
        """An agent (or mobile) answered for this call: whisper to them, then bridge."""
        prompts: list[c.Utterance] = []
        if whisper is not None:
            number = call.number
            if whisper.number_name and number is not None and number.name:
                prompts.append(c.Prompt(f"number_name/{number.number}"))  # W1
            if whisper.wait_time:
                waited = now - (call.queue_joined if call.queue else call.arrived)
                prompts += [c.Prompt("whisper_waited"), c.SayDuration(int(waited))]  # Q5
        if prompts:
            leg.whisper_play = self.next_id()
            call.phase = "whisper"
            self.out.append(c.Whisper(leg.id, leg.whisper_play, tuple(prompts)))
            return
        self.bridge(call, leg, now)

    def bridge(self, call: Call, leg: Leg, now: float) -> None:
        out = self.out
        self.ensure_answered(call)
        if call.music_on or call.wait_play:
            out.append(c.StopPlay(call.id))
            call.music_on = False
            call.wait_play = 0
        for t in call.timers:
            t.cancel()
        call.timers.clear()
        if call.ring_timer is not None:
            call.ring_timer.cancel()
            call.ring_timer = None
        call.linear_targets = []
        call.legs = []
        out.append(c.Bridge(call.id, leg.id))
        call.phase = "bridged"
        call.bridged_leg = leg.id
        call.agent_id = leg.agent_id
        call.answered_at = now
        call.wait = now - (call.queue_joined if call.queue else call.arrived)
        if call.entry is not None:
            self.queues.answered(call, leg, now)
        record = call.number is not None and call.number.record
        if call.queue is not None:
            record = record or self.queues.config(call.queue).record
        if record:
            out.append(c.Record(call.id, "call"))
        if leg.agent_id is not None:
            agent = self.agents[leg.agent_id]
            self.agent_states.set_state(agent, "talking", now)
            agent.leg_id = leg.id
            agent.talk_started = now
        if call.queue is None:  # a queue call's answer is already recorded by QueueExited
            self.decide(call.id, now, "bridge", f"connected to {leg.agent_id or leg.address}",
                        details={"wait": round(call.wait, 3)})
        self.missed.served(call.caller, now, "served")
        # A callback still owed to this customer (waiting, or for a time they chose) has no
        # purpose any more (B4).
        self.callbacks.cancel_for(call.caller, now, "the customer called in and was answered")

    # ------------------------------------------------------------------ leg events

    def _on_leg_answered(self, ev: e.LegAnswered, now: float) -> None:
        leg = self.legs.get(ev.leg_id)
        if leg is None or leg.answered:
            return
        leg.answered = True
        if leg.purpose in ("callback_agent", "callback_customer"):
            self.callbacks.leg_answered(leg, now)
            return
        call = leg.owner
        assert isinstance(call, Call)
        if call.ended:
            self.out.append(c.Hangup(leg.id, "caller gone"))
            self.free_leg(leg.id, now)
            return
        if leg.purpose == "queue":
            self.queues.leg_answered(call, leg, now)
            return
        others = [lid for lid in call.legs if lid != leg.id]
        call.legs = [leg.id]
        self.cancel_legs(others, now)
        if call.ring_timer is not None:
            call.ring_timer.cancel()
            call.ring_timer = None
        if leg.agent_id is not None:
            self.agent_states.set_state(self.agents[leg.agent_id], "talking", now)
            self.agents[leg.agent_id].leg_id = leg.id
            self.agents[leg.agent_id].talk_started = now
        self.connect(call, leg, now, WhisperConfig(wait_time=False) if call.ring_whisper else None)

    def _on_leg_failed(self, ev: e.LegFailed, now: float) -> None:
        leg = self.legs.get(ev.leg_id)
        if leg is None:
            return
        if leg.purpose in ("callback_agent", "callback_customer"):
            self.callbacks.leg_failed(leg, ev.reason, now)
            return
        call = leg.owner
        assert isinstance(call, Call)
        self.free_leg(leg.id, now)
        if leg.purpose == "queue":
            self.queues.leg_failed(call, leg, ev.reason, now)
            return
        if leg.id in call.legs:
            call.legs.remove(leg.id)
            self.decide(call.id, now, "ring", f"{leg.agent_id or leg.address}: {ev.reason}")
            if not call.legs and not call.ended:
                self.ringing.round_over(call, now)

    def _on_leg_hung_up(self, ev: e.LegHungUp, now: float) -> None:
        leg = self.legs.get(ev.leg_id)
        if leg is None:
            return
        if leg.purpose in ("callback_agent", "callback_customer"):
            self.callbacks.leg_hung_up(leg, now)
            return
        call = leg.owner
        assert isinstance(call, Call)
        if call.bridged_leg == leg.id:
            self.out.append(c.Hangup(call.id, "agent hung up"))
            self.end_conversation(call, now)
            return
        # Hung up before the bridge (during the whisper): try again as if not answered.
        self.free_leg(leg.id, now)
        if leg.id in call.legs:
            call.legs.remove(leg.id)
        if call.ended:
            return
        if leg.purpose == "queue":
            self.queues.leg_failed(call, leg, "rejected", now)
        elif not call.legs:
            self.ringing.round_over(call, now)

    def end_conversation(self, call: Call, now: float) -> None:
        """A bridged call is over (either side hung up; the other side was hung up)."""
        leg = self.legs.pop(call.bridged_leg or "", None)
        if leg is not None and leg.agent_id is not None:
            agent = self.agents[leg.agent_id]
            talk = now - agent.talk_started
            wrapup = 0.0  # a ring step's conversation has no wrap-up
            if call.queue is not None:
                wrapup = self.queues.wrapup(call.queue, agent)
                self.queues.handled(call.queue, agent, talk, wrapup)
            self.agent_states.done(agent, now, wrapup)
        self.finish(call, "answered", "answered", now)

    # ------------------------------------------------------------------ caller events

    def _on_caller_hung_up(self, ev: e.CallerHungUp, now: float) -> None:
        call = self.calls.get(ev.call_id)
        if call is None or call.ended:
            return
        if call.phase == "bridged" and call.bridged_leg is not None:
            self.out.append(c.Hangup(call.bridged_leg, "caller hung up"))
            self.end_conversation(call, now)
            return
        if call.phase == "recording":
            self.pending_voicemail[call.id] = call
            self.finish(call, "missed", "voicemail", now)
            return
        if call.phase == "closing":  # hung up while hearing a confirmation
            self.finish(call, "missed", call.last_exit or "callback", now)
            return
        if call.informational:
            self.finish(call, "completed", "informational", now)
            return
        reason = "abandoned" if call.entry is not None or call.queue else "hangup"
        if call.rule_closed and reason == "hangup":
            reason = "after_hours"
        self.decide(call.id, now, "hangup", f"caller hung up while {call.phase}")
        self.finish(call, "missed", reason, now)

    def _on_prompt_finished(self, ev: e.PromptFinished, now: float) -> None:
        call = self.calls.get(ev.channel_id)
        if call is None:
            leg = self.legs.get(ev.channel_id)
            if leg is not None and leg.whisper_play == ev.play_id:
                owner = leg.owner
                if isinstance(owner, Call) and owner.phase == "whisper" and not owner.ended:
                    self.bridge(owner, leg, now)
                elif not isinstance(owner, Call):
                    self.callbacks.whisper_done(leg, now)
            return
        if call.wait_play != ev.play_id or call.ended:
            return
        call.wait_play = 0
        phase = call.phase
        if phase == "queued" or (phase == "whisper" and call.entry is not None):
            # An announcement ended while waiting, or while an agent hears the whisper.
            self.announcements.resume_music(call)
        elif phase == "vm_greeting":
            self.voicemail.record(call, now)
        elif phase == "ivr":
            self.ivr.wait_digit(call, now)
        elif phase == "closing":
            self.out.append(c.Hangup(call.id, "done"))
            self.finish(call, "missed", call.last_exit or "callback", now)
        else:
            self.schemes.advance(call, now)

    def _on_digits(self, ev: e.DigitsReceived, now: float) -> None:
        call = self.calls.get(ev.channel_id)
        if call is None or call.ended or not ev.digits:
            return
        if call.phase == "ivr":
            self.ivr.digit(call, ev.digits[0], now)
        elif call.phase == "queued" and call.entry is not None:
            self.queues.exit_key(call, ev.digits[0], now)
        elif call.phase == "whisper" and call.entry is not None:
            self.queues.hold_exit_key(call, ev.digits[0])

    def _on_call_held(self, ev: e.CallHeld, now: float) -> None:
        call = self.calls.get(ev.call_id)
        if call is None or call.answered_at is None:
            return  # not (or no longer) a bridged call: nothing to time
        if ev.held and call.hold_started is None:
            call.hold_started = now
        elif not ev.held and call.hold_started is not None:
            call.hold += now - call.hold_started
            call.hold_started = None

    # ------------------------------------------------------------------ callbacks, ledger

    def offer_callback(self, call: Call, queue: str, now: float, joined: float, priority: int,
                       why: str) -> None:
        """Register a callback for this caller (keeping ``joined``), confirm, hang up."""
        job = self.callbacks.request(call.caller, queue, now, joined, priority, why, call.dialed)
        # A withheld number never gets here (the exit key and the callback step keep it).
        summary = (f"callback to {call.caller} via {queue}" if job is not None
                   else "callback already pending")
        self.decide(call.id, now, "callback", summary)
        call.last_exit = "callback"
        self.play(call, (c.Prompt("callback_confirmed"),))
        call.phase = "closing"

    def finish(self, call: Call, outcome: Any, reason: Any, now: float) -> None:
        """The inbound call is over: clean up, record it, and follow up a missed call."""
        if call.ended:
            return
        call.ended = True
        call.phase = "ended"
        for t in call.timers:
            t.cancel()
        for maybe in (call.ring_timer, call.request_timer, call.digit_timer):
            if maybe is not None:
                maybe.cancel()
        if call.entry is not None and call.entry.active:
            exit_reason = reason if reason in ("timeout", "full", "empty", "exit_key") else (
                "abandoned")
            self.queues.leave(call.entry, exit_reason, now)
        if call.legs:
            legs, call.legs = call.legs, []
            self.cancel_legs(legs, now)
        if call.counted_channel:
            self.active_by_number[call.dialed] -= 1
        if not call.known and call.number is not None and outcome != "rejected":
            self._auto_add(call)
        self.calls.pop(call.id, None)
        talk = now - call.answered_at if call.answered_at is not None else 0.0
        if call.hold_started is not None:  # hung up on hold
            call.hold += now - call.hold_started
            call.hold_started = None
        wait = call.wait if call.answered_at is not None else (
            now - call.queue_joined if call.queue else now - call.arrived)
        self.out.append(c.CallFinished(
            call.id, call.dialed, call.caller, call.arrived, now, outcome, reason,
            call.agent_id, call.last_queue, wait, call.answered_at, talk, call.rule, call.hold,
        ))
        if outcome == "missed" and reason not in _NOT_MISSED:
            self.missed.follow_up(call, reason, now)
        self.callbacks.call_ended(call, now)
