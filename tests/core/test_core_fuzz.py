"""A stateful fuzz of the routing core, and the sequences it found, as exact tests.

``CoreMachine`` drives one ``Switchboard`` over a rich config (two numbers with channel
limits, three queues sharing agents, an IVR, ring chains with a mobile, a CRM lookup and a
routing webhook, voicemail, auto-callbacks and callback slots, a VIP mask, a black list, an
agent with a shift). Callers come from a small pool (one number in two formats, a withheld
one), so customers call again, also while being called back, and Call-IDs come again.
``World`` plays what the SIP runtime does with the commands: it keeps the channels the core
opened (calls answered or refused, legs rung, cancelled, answered, bridged, hung up), the
prompts playing, the lookups asked, and reports only what could really happen (a leg
answers only if it rings, a prompt ends only if it plays). Hypothesis mixes the world's
moves with time; after every step the core and the world must agree on every channel, no
agent may be in two calls or rung when they cannot take one, no free agent may idle while a
caller of their queue waits, no caller is queued twice or called back while calling us,
every call is finished once and nothing is said about it afterwards, and the lost ledger
follows the calls' outcomes. At the end everyone hangs up, time runs past every timer and
nothing may be left.
"""

from __future__ import annotations

import os
import random
from dataclasses import dataclass

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from switchboard.core import commands as c
from switchboard.core import events as e
from switchboard.core.callerinfo import normalize
from switchboard.core.switchboard import Switchboard

from .harness import MONDAY_10, Driver, config, of, one

CONFIG = config("""
    timezone: Europe/Kyiv
    country: UA
    numbers:
      - {number: "100", name: Shop, scheme: main, channels: 3,
         overflow: {action: scheme, scheme: busy}}
      - {number: "200", scheme: hotline, channels: 2, overflow: {action: reject, code: 486}}
    agents:
      - {id: "201", mobile: "+380501110201"}
      - {id: "202", retry: 4}
      - {id: "203", schedule: shift, wrapup: 2}
      - {id: "204", ring_timeout: 5, retry: 2}
    schedules:
      shift: {weekly: {mon-fri: "10:00-10:04"}}
      slots: {weekly: {mon-fri: ["10:00-10:01", "10:03-18:00"]}}
    lists:
      black: {kind: black, numbers: ["+380679999999"]}
    schemes:
      main:
        rules:
          - {name: blocked, when: {caller_in: [black]}, steps: [{reject: {code: 603}}]}
          - name: vip
            when: {caller_matches: ["+38050*"]}
            steps: [{queue: {name: sales, priority: 5}}, {voicemail: main}]
          - {name: menu, steps: [{play: [greeting]}, {ivr: main}]}
      hotline:
        rules:
          - name: all
            steps:
              - crm_owner: {timeout: 3, ring_timeout: 6}
              - webhook: {endpoint: router, timeout: 2, ring_timeout: 6}
              - ring: {agents: ["202", "201"], mobiles: ["201"], timeout: 5}
              - ring: {agents: ["203", "204"], mobiles: ["201"], timeout: 4, strategy: linear}
              - queue: {name: support}
              - hangup: true
      busy:
        rules: [{name: all, steps: [{play: [all_busy]}, {voicemail: main}]}]
    ivr:
      main:
        prompt: [menu]
        timeout: 4
        retries: 1
        options:
          "1": [{queue: {name: sales}}, {voicemail: main}]
          "2": [{queue: {name: support}}]
          "3": [{play: [hours]}, {hangup: true}]
          "4": [{goto: hotline}]
          "5": [{callback: sales}]
        on_timeout: [{queue: {name: sales}}]
    queues:
      sales:
        members: [{agent: "201"}, {agent: "202"}, {agent: "203"}]
        strategy: ring_all
        ring_timeout: 6
        retry: 2
        wrapup: 3
        max_wait: 40
        fallback: [{voicemail: main}]
        exit_key: {digit: "9", action: callback}
        announce: {first_after: 5, every: 15}
        adverts: {prompts: [promo], every: 20, first_after: 10}
        whisper: {wait_time: true, number_name: true}
        record: true
        join_empty: false
      support:
        members: [{agent: "203"}, {agent: "204"}, {agent: "202", penalty: 1}]
        strategy: round_robin
        max_length: 1
        ring_timeout: 5
        retry: 1
        wrapup: 2
        max_wait: 30
        leave_when_empty: true
        exit_key: {digit: "8", action: voicemail, voicemail: main}
        fallback: [{voicemail: main}]
        music: null
        whisper: {wait_time: false, number_name: false}
      callbacks:
        members: [{agent: "204"}, {agent: "201"}, {agent: "202"}]
        strategy: longest_idle
        ring_timeout: 6
        wrapup: 1
    voicemail:
      main: {max_length: 20, notify: [tg]}
    crm: {url: "http://crm.example"}
    webhooks:
      router: {url: "http://hook.example/route"}
    notify:
      tg: {telegram: {chat_id: "-1"}}
    callback_slots: {schedule: slots, slot_minutes: 5, offer: 2}
    missed:
      notify: [tg]
      auto_callback: true
      callback_queue: callbacks
      give_up_after: 120
      agent_timeout: 6
      customer_timeout: 8
""")
AGENTS = ("201", "202", "203", "204")
#: A small pool, so that customers call again: one number in two formats, a VIP, a black
#: listed one, and one that is no phone number at all.
CALLERS = ("+380671111111", "0671111111", "+380502222222", "+380633333333", "+380679999999",
           "anonymous")
DIALED = ("100", "100", "200", "999")
WEBHOOK_REPLIES: tuple[dict[str, object], ...] = (
    {"agent": "202"}, {"agent": "201"}, {"agent": 204}, {"agent": "nobody"}, {"agent": True},
    {"number": "+380 50 123 4567"}, {"number": "not a number"}, {"scheme": "busy"},
    {"scheme": "hotline"}, {"scheme": "nowhere"}, {}, {"x" * 200: ["y"] * 50},
)
CRM_OWNERS = ("201", "202", "203", "204", None, "ghost")
#: The agent state moves the core may make (AgentStateChanged).
_MOVES = {("idle", "ringing"), ("ringing", "talking"), ("ringing", "idle"),
          ("talking", "wrapup"), ("talking", "idle"), ("wrapup", "idle")}
MAX_SAME_INSTANT = 1000  # on_timer calls without the clock moving: the core is looping
INDEX = st.integers(min_value=0, max_value=1000)


@dataclass
class WCall:
    """An inbound call as the runtime sees it."""

    id: str
    caller: str  # normalised, as the core reports it
    answered: bool = False
    play: int = 0  # a non-looping prompt playing (its PromptFinished is due), 0 = none
    collecting: bool = False
    bridged: str | None = None
    recording_since: float | None = None  # voicemail recording started


@dataclass
class WLeg:
    """An outbound leg the core started and has not ended."""

    id: str
    owner: str  # the inbound call or the callback job the leg is for
    kind: str
    address: str
    agent_id: str | None
    answered: bool = False
    whisper: int = 0
    bridged: str | None = None


class World:
    """The runtime: carries out commands, checks each refers to what exists, and reports
    only what could happen."""

    def __init__(self, sb: Switchboard, now: float) -> None:
        self.sb = sb
        self.now = now
        self.calls: dict[str, WCall] = {}  # open inbound calls
        self.legs: dict[str, WLeg] = {}  # open legs
        self.seen_legs: set[str] = set()
        self.callers: dict[str, str] = {}  # every call that arrived -> normalised caller
        self.finished: dict[str, c.CallFinished] = {}
        self.bridged_calls: set[str] = set()  # calls ever bridged to a leg
        self.lookups: list[tuple[str, str, int]] = []  # (kind, call, request) unanswered
        self.recordings: dict[str, WCall] = {}  # voicemail recordings to report as saved
        self.job_numbers: dict[str, str] = {}  # callback job -> the customer's number
        self.lost: set[str] = set()  # the ledger as the calls' outcomes make it
        self.lost_said: set[str] = set()  # the ledger as LostChanged says it
        self.seq = 0
        self.broken = False  # a check failed: the world may be half updated, skip the end
        self.in_queue: dict[str, str] = {}  # calls in a queue -> the queue
        self.log: list[c.Command] = []
        self.agent_state = {aid: "idle" for aid in sb.agents}  # as AgentStateChanged says
        self.registered = {aid: False for aid in sb.agents}
        self.status = {aid: a.status for aid, a in sb.agents.items()}

    # ------------------------------------------------------------ driving the core

    def send(self, event: e.Event) -> list[c.Command]:
        out = self.sb.handle(event, self.now)
        self.carry_out(out, event)
        # No deadline may be due already once an event is handled: a timer set in the past
        # (max_wait counted from a callback's kept join time did that) fires late.
        if (d := self.sb.next_deadline()) is not None and d <= self.now:
            raise AssertionError(f"deadline {d} already due at {self.now} after {event}")
        return out

    def advance(self, seconds: float) -> None:
        """Let time pass, firing due timers in order (as the runtime's timer does)."""
        end = self.now + seconds
        same, last = 0, self.now
        while (d := self.sb.next_deadline()) is not None and d <= end:
            self.now = max(self.now, d)
            same = same + 1 if self.now == last else 0
            last = self.now
            assert same < MAX_SAME_INSTANT, f"deadline {d} stays due at {self.now}: a livelock"
            self.carry_out(self.sb.on_timer(self.now), f"timer at {self.now}")
        self.now = end

    def to_next_deadline(self) -> None:
        d = self.sb.next_deadline()
        if d is not None:
            self.advance(max(0.0, d - self.now))

    # ------------------------------------------------------------ carrying out commands

    def call_ref(self, call_id: str, cmd: c.Command) -> WCall:
        assert call_id not in self.finished, f"{cmd} refers to a call already finished"
        call = self.calls.get(call_id)
        assert call is not None, f"{cmd} refers to a call that is not open"
        return call

    def leg_ref(self, leg_id: str, cmd: c.Command) -> WLeg:
        leg = self.legs.get(leg_id)
        assert leg is not None, f"{cmd} refers to a leg that is not open"
        return leg

    def channel(self, ch: str, cmd: c.Command) -> WCall | WLeg:
        if ch in self.callers:
            return self.call_ref(ch, cmd)
        return self.leg_ref(ch, cmd)

    def carry_out(self, cmds: list[c.Command], why: object) -> None:
        self.log += cmds
        try:
            for cmd in cmds:
                self.one(cmd)
        except AssertionError as exc:
            self.broken = True
            raise AssertionError(f"{exc}\nafter {why} at {self.now}:\n"
                                 + "\n".join(map(repr, cmds))) from None

    def one(self, cmd: c.Command) -> None:
        if isinstance(cmd, c.Answer):
            call = self.call_ref(cmd.call_id, cmd)
            assert not call.answered, f"{cmd}: answered twice"
            call.answered = True
        elif isinstance(cmd, c.Reject):
            call = self.call_ref(cmd.call_id, cmd)
            assert not call.answered, f"{cmd}: a call already answered is rejected"
            self.close_call(call)
        elif isinstance(cmd, c.Play):
            call = self.call_ref(cmd.channel_id, cmd)
            assert call.answered, f"{cmd}: plays to an unanswered call"
            assert call.bridged is None, f"{cmd}: plays over the conversation"
            call.play = 0 if cmd.loop else cmd.play_id
        elif isinstance(cmd, c.StopPlay):
            self.call_ref(cmd.channel_id, cmd).play = 0
        elif isinstance(cmd, c.CollectDigits):
            self.call_ref(cmd.channel_id, cmd).collecting = True
        elif isinstance(cmd, c.Ring):
            self.ring(cmd)
        elif isinstance(cmd, c.CancelRing):
            for lid in cmd.leg_ids:
                leg = self.leg_ref(lid, cmd)
                assert not leg.answered, f"{cmd}: cancels {lid}, which answered (Hangup it)"
                self.drop_leg(lid)
        elif isinstance(cmd, c.Whisper):
            leg = self.leg_ref(cmd.leg_id, cmd)
            assert leg.answered and leg.bridged is None, f"{cmd}: whisper to {leg}"
            leg.whisper = cmd.play_id
        elif isinstance(cmd, c.Bridge):
            self.bridge(cmd)
        elif isinstance(cmd, c.Hangup):
            ch = self.channel(cmd.channel_id, cmd)
            if isinstance(ch, WCall):
                self.close_call(ch)
            else:
                assert ch.answered, f"{cmd}: hangs up a ringing leg (CancelRing it)"
                self.drop_leg(ch.id)
        elif isinstance(cmd, c.Record):
            call = self.call_ref(cmd.channel_id, cmd)
            assert call.answered
            if cmd.kind == "voicemail":
                assert call.bridged is None and call.recording_since is None, cmd
                call.recording_since = self.now
                self.recordings[call.id] = call
            else:
                assert call.bridged is not None, f"{cmd}: records a call not bridged"
        elif isinstance(cmd, c.AskWebhook | c.LookupCrmOwner):
            self.call_ref(cmd.call_id, cmd)
            kind = "webhook" if isinstance(cmd, c.AskWebhook) else "crm"
            self.lookups.append((kind, cmd.call_id, cmd.request_id))
        elif isinstance(cmd, c.CallFinished):
            self.finished_call(cmd)
        elif isinstance(cmd, c.Decision | c.QueueExited | c.EtaEstimated):
            about = cmd.channel_id if isinstance(cmd, c.Decision) else cmd.call_id
            if about in self.callers:
                assert about not in self.finished, f"{cmd} is about a call already finished"
                self.queue_exits(cmd)
        elif isinstance(cmd, c.LostChanged):
            if cmd.status == "lost":
                assert cmd.number not in self.lost_said, f"{cmd}: lost twice"
                self.lost_said.add(cmd.number)
            else:
                assert cmd.number in self.lost_said, f"{cmd}: recovered but never lost"
                self.lost_said.discard(cmd.number)
        elif isinstance(cmd, c.AgentStateChanged):
            before = self.agent_state[cmd.agent_id]
            assert (before, cmd.state) in _MOVES, f"{cmd}: from {before}"
            self.agent_state[cmd.agent_id] = cmd.state
        elif isinstance(cmd, c.CallbackFinished) and cmd.outcome == "connected":
            self.lost.discard(cmd.number)

    def queue_exits(self, cmd: c.Decision | c.QueueExited | c.EtaEstimated) -> None:
        """Every stay in a queue ends with exactly one named exit."""
        if isinstance(cmd, c.Decision) and cmd.step == "queue" and (
                cmd.summary.startswith("joined queue")):
            assert cmd.channel_id not in self.in_queue, f"{cmd}: joins twice"
            self.in_queue[cmd.channel_id] = cmd.details["queue"]  # type: ignore[assignment]
        elif isinstance(cmd, c.QueueExited) and (
                cmd.reason not in ("full", "empty") or cmd.call_id in self.in_queue):
            assert self.in_queue.pop(cmd.call_id, None) == cmd.queue, (
                f"{cmd}: exits a queue it was not in")

    def ring(self, cmd: c.Ring) -> None:
        if cmd.call_id is not None:
            assert self.call_ref(cmd.call_id, cmd).bridged is None, f"{cmd}: call is bridged"
            owner = cmd.call_id
        else:
            assert cmd.job_id is not None, f"{cmd}: a ring for nothing"
            owner = cmd.job_id
            if cmd.legs and cmd.legs[0].kind == "agent":
                number = cmd.caller_id  # an agent rung for a callback sees the customer
            else:
                number = cmd.legs[0].address
            known = self.job_numbers.setdefault(cmd.job_id, number)
            assert known == number, f"{cmd}: job {cmd.job_id} was for {known}"
            assert any(ch.isdigit() for ch in number), f"{cmd}: calls back no number"
            on_line = [call.id for call in self.calls.values() if call.caller == number]
            assert not on_line, f"{cmd}: calls {number} back while they call us ({on_line})"
        assert cmd.legs, f"{cmd}: rings no leg"
        for t in cmd.legs:
            assert t.leg_id not in self.seen_legs, f"{cmd}: leg id {t.leg_id} used again"
            self.seen_legs.add(t.leg_id)
            self.legs[t.leg_id] = WLeg(t.leg_id, owner, t.kind, t.address, t.agent_id)
            if t.kind == "agent":  # a desk phone; a mobile rings whatever the status (R5)
                aid = t.agent_id or t.address
                agent = self.sb.agents[aid]
                assert self.registered[aid] and self.status[aid] == "available", (
                    f"{cmd}: rings {aid}, {self.status[aid]}, registered={self.registered[aid]}")
                assert agent.config.schedule is None or self.sb.calendar.agent_on_shift(
                    agent.config, self.now), f"{cmd}: rings {aid} off shift"

    def bridge(self, cmd: c.Bridge) -> None:
        a = self.channel(cmd.a, cmd)
        b = self.leg_ref(cmd.b, cmd)
        assert a.answered and b.answered, f"{cmd}: bridges an unanswered channel"
        assert a.bridged is None and b.bridged is None, f"{cmd}: bridged already"
        assert b.whisper == 0 or isinstance(a, WLeg), f"{cmd}: during the whisper"
        a.bridged, b.bridged = b.id, a.id
        if isinstance(a, WCall):
            a.play = 0  # the caller hears the agent now
            b.owner = a.id  # an agent calling this customer back takes the call (B4)
            self.bridged_calls.add(a.id)
            self.lost.discard(a.caller)

    def drop_leg(self, leg_id: str) -> WLeg:
        """The leg ended (the world's side or ours); its partner is bridged to nothing."""
        leg = self.legs.pop(leg_id)
        if leg.bridged is not None:
            other = self.legs.get(leg.bridged) or self.calls.get(leg.bridged)
            if other is not None:
                other.bridged = None
        return leg

    def close_call(self, call: WCall) -> None:
        del self.calls[call.id]
        if call.bridged is not None and call.bridged in self.legs:
            self.legs[call.bridged].bridged = None

    def finished_call(self, cmd: c.CallFinished) -> None:
        assert cmd.call_id in self.callers, f"{cmd}: no such call arrived"
        assert cmd.call_id not in self.finished, f"{cmd}: finished twice"
        assert cmd.call_id not in self.calls, f"{cmd}: the call is still open"
        self.finished[cmd.call_id] = cmd
        assert cmd.call_id not in self.in_queue, f"{cmd}: still in {self.in_queue[cmd.call_id]}"
        assert cmd.caller == self.callers[cmd.call_id], cmd
        was_bridged = cmd.call_id in self.bridged_calls
        assert (cmd.outcome == "answered") == was_bridged, f"{cmd}: bridged={was_bridged}"
        assert (cmd.answered_at is not None) == was_bridged, cmd
        assert cmd.arrived <= cmd.ended == self.now and cmd.wait >= 0 and cmd.talk >= 0, cmd
        assert 0 <= cmd.hold <= cmd.talk, f"{cmd}: on hold longer than the talk"
        assert (cmd.agent_id is not None) <= was_bridged, f"{cmd}: an agent but no bridge"
        if (cmd.outcome == "missed" and cmd.reason != "rejected"
                and any(ch.isdigit() for ch in cmd.caller)):  # withheld: nothing to recover
            self.lost.add(cmd.caller)

    # ------------------------------------------------------------ what both sides agree on

    def check(self) -> None:
        sb = self.sb
        live = {cid for cid, call in sb.calls.items() if not call.ended}
        assert live == set(sb.calls), "an ended call is still kept"
        assert set(self.calls) == live, (
            f"open calls: world {sorted(self.calls)}, core {sorted(live)}")
        assert set(self.legs) == set(sb.legs), (
            f"open legs: world {sorted(self.legs)}, core {sorted(sb.legs)}")
        for leg in self.legs.values():
            if leg.owner in self.callers:
                assert leg.owner in self.calls, f"{leg} outlives its call"
            if leg.bridged is not None:
                assert leg.bridged in self.calls or leg.bridged in self.legs, (
                    f"{leg} is bridged to a channel that is gone")
        owners: dict[str, set[str]] = {}
        for leg in self.legs.values():
            if leg.agent_id is not None:
                owners.setdefault(leg.agent_id, set()).add(leg.owner)
        for aid, who in owners.items():
            assert len(who) == 1, f"agent {aid} is in two calls at once: {sorted(who)}"
        for aid, agent in sb.agents.items():
            assert agent.state == self.agent_state[aid], (aid, agent.state)
            busy = agent.state in ("ringing", "talking")
            assert busy == (aid in owners), (
                f"agent {aid} is {agent.state} but has {owners.get(aid)} legs")
            if agent.state == "idle":
                assert agent.leg_id is None
        self.check_queues()
        self.check_callbacks()
        assert self.lost == sb.missed.lost == self.lost_said, (
            f"lost: by the calls {sorted(self.lost)}, core {sorted(sb.missed.lost)}, "
            f"said {sorted(self.lost_said)}")
        for number, count in sb.active_by_number.items():
            assert count == sum(1 for call in sb.calls.values()
                                if call.counted_channel and call.dialed == number), number

    def check_queues(self) -> None:
        seen: set[int] = set()
        for q in self.sb.queues.queues.values():
            for entry in q.entries:
                assert entry.active, f"an inactive entry waits in {q.name}"
                who = entry.call if entry.call is not None else entry.job
                assert who is not None and id(who) not in seen, f"{who} is queued twice"
                seen.add(id(who))
                if entry.call is not None:
                    assert entry.call.id in self.calls and entry.call.entry is entry
                for lid in entry.legs:
                    assert lid in self.legs, f"{q.name} rings {lid}, which is gone"
        for call in self.sb.calls.values():
            if call.entry is not None and call.entry.active:
                assert id(call) in seen, f"{call.id} has an entry that is in no queue"
        self.check_nobody_idles()

    def can_take_a_call(self, aid: str) -> bool:
        """Registered, available, idle, not resting and on shift."""
        agent = self.sb.agents[aid]
        return agent.reason is None and (agent.config.schedule is None or
                                         self.sb.calendar.agent_on_shift(agent.config, self.now))

    def check_nobody_idles(self) -> None:
        """No member who can take a call stays idle while a caller of the queue waits to be
        rung (a lost wake-up would leave both waiting for ever)."""
        sb, now = self.sb, self.now
        on_line = sb.callbacks.on_line
        for q in sb.queues.queues.values():
            able = {m for m in q.members if self.can_take_a_call(m)}
            for entry in q.entries:
                if entry.legs or entry.retry_at > now:
                    continue
                if entry.job is not None and entry.job.number in on_line:
                    continue
                who = entry.call.id if entry.call is not None else entry.job.id  # type: ignore[union-attr]
                assert not able - entry.tried, (
                    f"{who} waits in {q.name} while {sorted(able - entry.tried)} can take it")

    def check_callbacks(self) -> None:
        jobs = self.sb.callbacks.jobs
        for number, job in jobs.items():
            assert job.number == number
        by_number: dict[str, set[str]] = {}
        for leg in self.legs.values():
            customer = self.job_numbers.get(leg.owner)
            if customer is not None:
                by_number.setdefault(customer, set()).add(leg.owner)
                pending = jobs.get(customer)
                assert pending is not None and pending.id == leg.owner, (
                    f"{leg} rings for job {leg.owner}, which is not {customer}'s job")
        for number, who in by_number.items():
            assert len(who) == 1, f"two callbacks to {number} at once: {sorted(who)}"

    # ------------------------------------------------------------ the end

    def wind_down(self) -> None:
        """Everyone hangs up, every timer runs; then nothing may be left."""
        for call in list(self.calls.values()):
            self.close_call(call)
            self.send(e.CallerHungUp(call.id))
            self.check()
        for _ in range(5000):
            for call_id in list(self.recordings):
                if call_id not in self.calls:
                    self.save_recording(call_id)
            for leg in list(self.legs.values()):
                if leg.id not in self.legs:
                    continue
                self.drop_leg(leg.id)
                if leg.answered:
                    self.send(e.LegHungUp(leg.id))
                else:
                    self.send(e.LegFailed(leg.id, "no_answer"))
                self.check()
            if self.sb.next_deadline() is None and not self.legs and not self.calls:
                break
            self.to_next_deadline()
            self.check()
        sb = self.sb
        assert not self.calls and not self.legs and not self.recordings
        assert sb.next_deadline() is None, "timers keep coming"
        assert not sb.calls and not sb.legs and not sb.pending_voicemail
        assert not sb.callbacks.jobs and not sb.callbacks.on_line and not sb.callbacks.held
        assert all(not q.entries for q in sb.queues.queues.values())
        assert all(n == 0 for n in sb.active_by_number.values()), sb.active_by_number
        for aid, agent in sb.agents.items():
            assert agent.state == "idle" and agent.leg_id is None, (aid, agent.state)
        assert set(self.finished) == set(self.callers), (
            f"never finished: {sorted(set(self.callers) - set(self.finished))}")
        assert self.lost == sb.missed.lost == self.lost_said

    def recordings_over(self) -> list[str]:
        """Voicemails whose caller hung up, or that reached the box's max_length (20 s)."""
        return [cid for cid, call in self.recordings.items() if cid not in self.calls
                or self.now - (call.recording_since or self.now) >= 20]

    def save_recording(self, call_id: str) -> None:
        del self.recordings[call_id]
        self.send(e.RecordingSaved(call_id, "voicemail", f"file:///vm/{call_id}.wav", 3.0))


class CoreMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.sb = Switchboard(CONFIG, random.Random(7))
        self.w = World(self.sb, MONDAY_10)
        for aid in AGENTS:
            self.w.registered[aid] = True
            self.w.send(e.AgentRegistered(aid, True))

    # ------------------------------------------------------------ picking

    @staticmethod
    def pick(items: list[str], index: int) -> str:
        return sorted(items)[index % len(items)]

    def ringing_legs(self) -> list[str]:
        return [lid for lid, leg in self.w.legs.items() if not leg.answered]

    def answered_legs(self) -> list[str]:
        return [lid for lid, leg in self.w.legs.items() if leg.answered]

    def playing(self) -> list[str]:
        return ([cid for cid, call in self.w.calls.items() if call.play]
                + [lid for lid, leg in self.w.legs.items() if leg.whisper])

    # ------------------------------------------------------------ callers

    @precondition(lambda self: len(self.w.calls) < 6)
    @rule(caller=st.sampled_from(CALLERS), dialed=st.sampled_from(DIALED))
    def call_arrives(self, caller: str, dialed: str) -> None:
        self.w.seq += 1
        call_id = f"c{self.w.seq}"
        norm = caller if caller.startswith("+") else normalize(caller, CONFIG.country)
        self.w.callers[call_id] = norm
        self.w.calls[call_id] = WCall(call_id, norm)
        self.w.send(e.CallArrived(call_id, dialed, caller))

    @precondition(lambda self: len(self.w.calls) < 6 and bool(self.reusable()))
    @rule(index=INDEX, caller=st.sampled_from(CALLERS), dialed=st.sampled_from(DIALED))
    def call_arrives_with_an_old_call_id(self, index: int, caller: str, dialed: str) -> None:
        """SIP allows a Call-ID again once its call is over (the runtime waits for the old
        call's media release): a new call, however the old one ended."""
        call_id = self.pick(self.reusable(), index)
        w = self.w
        del w.finished[call_id]
        w.bridged_calls.discard(call_id)
        w.in_queue.pop(call_id, None)
        norm = caller if caller.startswith("+") else normalize(caller, CONFIG.country)
        w.callers[call_id] = norm
        w.calls[call_id] = WCall(call_id, norm)
        w.send(e.CallArrived(call_id, dialed, caller))

    def reusable(self) -> list[str]:
        return [cid for cid in self.w.finished if cid not in self.w.recordings]

    @precondition(lambda self: bool(self.w.calls))
    @rule(index=INDEX)
    def caller_hangs_up(self, index: int) -> None:
        call = self.w.calls[self.pick(list(self.w.calls), index)]
        self.w.close_call(call)
        self.w.send(e.CallerHungUp(call.id))

    @precondition(lambda self: any(call.collecting for call in self.w.calls.values()))
    @rule(index=INDEX, digits=st.sampled_from(["1", "2", "3", "4", "5", "8", "9", "7", "12"]))
    def caller_presses(self, index: int, digits: str) -> None:
        call_id = self.pick([cid for cid, call in self.w.calls.items() if call.collecting], index)
        self.w.send(e.DigitsReceived(call_id, digits))

    @precondition(lambda self: any(call.bridged for call in self.w.calls.values()))
    @rule(index=INDEX, held=st.booleans())
    def call_held(self, index: int, held: bool) -> None:
        call_id = self.pick([cid for cid, call in self.w.calls.items() if call.bridged], index)
        self.w.send(e.CallHeld(call_id, held))

    @precondition(lambda self: bool(self.playing()))
    @rule(index=INDEX)
    def prompt_finishes(self, index: int) -> None:
        ch = self.pick(self.playing(), index)
        if ch in self.w.calls:
            call = self.w.calls[ch]
            play, call.play = call.play, 0
        else:
            leg = self.w.legs[ch]
            play, leg.whisper = leg.whisper, 0
        self.w.send(e.PromptFinished(ch, play))

    @precondition(lambda self: bool(self.w.recordings_over()))
    @rule(index=INDEX)
    def recording_saved(self, index: int) -> None:
        self.w.save_recording(self.pick(self.w.recordings_over(), index))

    @rule(number=st.sampled_from(CALLERS[:4]), later=st.sampled_from([None, 0.0, 30.0]))
    def website_asks_for_a_callback(self, number: str, later: float | None) -> None:
        self.w.seq += 1
        at = None if later is None else self.w.now + later
        self.w.send(e.CallbackRequested(self.w.seq, number, at))

    # ------------------------------------------------------------ legs

    @precondition(lambda self: bool(self.ringing_legs()))
    @rule(index=INDEX)
    def leg_answers(self, index: int) -> None:
        leg = self.w.legs[self.pick(self.ringing_legs(), index)]
        leg.answered = True
        self.w.send(e.LegAnswered(leg.id))

    @precondition(lambda self: bool(self.ringing_legs()))
    @rule(index=INDEX,
          reason=st.sampled_from(["no_answer", "busy", "rejected", "unavailable", "error"]))
    def leg_fails(self, index: int, reason: e.LegFailure) -> None:
        lid = self.pick(self.ringing_legs(), index)
        self.w.drop_leg(lid)
        self.w.send(e.LegFailed(lid, reason))

    @precondition(lambda self: bool(self.answered_legs()))
    @rule(index=INDEX)
    def leg_hangs_up(self, index: int) -> None:
        leg = self.w.drop_leg(self.pick(self.answered_legs(), index))
        self.w.send(e.LegHungUp(leg.id))

    # ------------------------------------------------------------ lookups

    @precondition(lambda self: bool(self.w.lookups))
    @rule(index=INDEX, answer=st.sampled_from(["reply", "error", "never"]),
          reply=st.integers(min_value=0, max_value=100))
    def lookup_answers(self, index: int, answer: str, reply: int) -> None:
        kind, call_id, req = self.w.lookups.pop(index % len(self.w.lookups))
        if answer == "never":
            return  # the core's own timeout moves the call on
        if kind == "webhook":
            self.w.send(
                e.WebhookAnswered(call_id, req, WEBHOOK_REPLIES[reply % len(WEBHOOK_REPLIES)])
                if answer == "reply" else e.WebhookFailed(call_id, req, "HTTP 502"))
        else:
            self.w.send(e.CrmOwnerFound(call_id, req, CRM_OWNERS[reply % len(CRM_OWNERS)])
                        if answer == "reply" else e.CrmLookupFailed(call_id, req, "timeout"))

    # ------------------------------------------------------------ agents

    @rule(agent=st.sampled_from(AGENTS),
          status=st.sampled_from(["available", "available", "break", "offline"]))
    def agent_sets_status(self, agent: str, status: e.AgentStatus) -> None:
        self.w.status[agent] = status
        self.w.send(e.AgentStatusChanged(agent, status))

    @rule(agent=st.sampled_from(AGENTS), registered=st.booleans())
    def agent_registers(self, agent: str, registered: bool) -> None:
        self.w.registered[agent] = registered
        self.w.send(e.AgentRegistered(agent, registered))

    # ------------------------------------------------------------ time

    @rule()
    def time_to_next_deadline(self) -> None:
        self.w.to_next_deadline()

    @rule(seconds=st.sampled_from([0.0, 0.5, 2.0, 5.0, 13.0, 45.0]))
    def time_passes(self, seconds: float) -> None:
        self.w.advance(seconds)

    # ------------------------------------------------------------ checks

    @invariant()
    def core_and_world_agree(self) -> None:
        self.w.check()
        d = self.sb.next_deadline()
        assert d is None or d > self.w.now, f"a deadline {d} due at {self.w.now} did not fire"


    def teardown(self) -> None:
        if not self.w.broken:
            self.w.wind_down()


# CI runs 200 examples of up to 50 steps (about 10 s); SB_FUZZ_EXAMPLES=3000 SB_FUZZ_STEPS=100
# SB_FUZZ_RANDOM=1 runs a deeper, new fuzz by hand (minutes; add --timeout=0).
CoreMachine.TestCase.settings = settings(
    max_examples=int(os.environ.get("SB_FUZZ_EXAMPLES", "200")),
    stateful_step_count=int(os.environ.get("SB_FUZZ_STEPS", "50")),
    derandomize=not os.environ.get("SB_FUZZ_RANDOM"), deadline=None,
    suppress_health_check=list(HealthCheck), print_blob=False)
TestCoreFuzz = CoreMachine.TestCase



# ---------------------------------------------------------------------- what the fuzz found

CALLBACK = config("""
    numbers:
      - {number: "100", scheme: main}
    agents: [{id: "201"}, {id: "202"}]
    schemes:
      main: {rules: [{name: all, steps: [{play: [greeting]}, {queue: {name: sales}}]}]}
    queues:
      sales: {members: [{agent: "202"}], wrapup: 0}
      callbacks: {members: [{agent: "201"}], wrapup: 0}
    missed: {callback_queue: callbacks, agent_timeout: 20}
""")
CUSTOMER = "+380671111111"


def test_a_callback_ringing_its_agent_is_held_when_the_customer_calls_in() -> None:
    """Found by the fuzz: a callback whose agent was being rung when the customer called in
    (to another queue, an IVR) went on, once the agent answered, to dial the customer while
    they were on the line with us (B4 held only a job still waiting in its queue)."""
    d = Driver(CALLBACK)
    out = d.send(e.CallbackRequested(1, CUSTOMER))
    agent_leg = d.ringing(out)["201"]
    out = d.arrive("c1", caller=CUSTOMER)
    assert one(c.CancelRing, out).leg_ids == (agent_leg,)
    assert d.sb.agents["201"].state == "idle"
    assert d.send(e.LegAnswered(agent_leg)) == []  # the world's race: ignored
    # The customer's call ends unanswered: the callback goes on, the agent is rung again.
    out = d.send(e.CallerHungUp("c1"))
    again = d.ringing(out)
    assert list(again) == ["201"] and again["201"] != agent_leg
    out = d.answer(again["201"])
    assert [t.address for r in of(c.Ring, out) for t in r.legs] == [CUSTOMER]


def test_a_held_callback_is_cancelled_when_the_customers_call_is_answered() -> None:
    d = Driver(CALLBACK)
    d.send(e.CallbackRequested(1, CUSTOMER))
    out = d.arrive("c1", caller=CUSTOMER)
    out = d.finish_prompt("c1", out)
    out = d.answer(d.ringing(out)["202"])
    assert one(c.Bridge, out).a == "c1"
    assert one(c.CallbackFinished, out).outcome == "cancelled"
    assert not d.sb.callbacks.jobs
    assert d.sb.agents["201"].state == "idle"


def test_a_withheld_number_is_not_called_back() -> None:
    """Found by the fuzz: a missed call from ``anonymous`` (a caller who hides the number)
    became an auto-callback; an agent was rung for it, answered and heard the core dial
    'anonymous' over the trunk, again every minute until the job gave up."""
    d = Driver(config("""
        numbers: [{number: "100", scheme: main}]
        agents: [{id: "201"}]
        schemes: {main: {rules: [{name: all, steps: [{queue: {name: sales}}]}]}}
        queues: {sales: {members: [{agent: "201"}], wrapup: 0}}
        missed: {auto_callback: true}
    """))
    d.send(e.AgentStatusChanged("201", "break"))
    d.arrive("c1", caller="anonymous")
    out = d.send(e.CallerHungUp("c1"))
    assert one(c.CallFinished, out).outcome == "missed"
    assert not d.sb.callbacks.jobs
    out = d.send(e.AgentStatusChanged("201", "available"))
    assert of(c.Ring, out) == []
    out = d.send(e.CallbackRequested(1, "anonymous"))
    assert of(c.Ring, out) == [] and not d.sb.callbacks.jobs
    assert "no number to call back" in one(c.Decision, out).summary


WITHHELD = """
    numbers: [{number: "100", scheme: main}, {number: "200", scheme: ask}]
    agents: [{id: "201"}]
    schemes:
      main: {rules: [{name: all, steps: [{queue: {name: sales}}]}]}
      ask: {rules: [{name: all, steps: [{callback: sales}, {voicemail: box}]}]}
    queues:
      sales:
        members: [{agent: "201"}]
        wrapup: 0
        exit_key: {digit: "1", action: callback}
    voicemail: {box: {}}
    notify: {duty: {webhook: "http://127.0.0.1:9/x"}}
    missed: {crm_task: true, head_agent: "201", notify: [duty]}
"""


def test_a_withheld_caller_who_presses_the_callback_key_stays_in_the_queue() -> None:
    """Found by the fuzz: the caller heard "we will call you back" and was hung up on,
    though there is no number to call back."""
    d = Driver(config(WITHHELD))
    d.send(e.AgentStatusChanged("201", "break"))
    d.arrive("c1", caller="anonymous")
    out = d.send(e.DigitsReceived("c1", "1"))
    assert of(c.Play, out) == [] and of(c.QueueExited, out) == []
    assert "withheld" in one(c.Decision, out).summary
    assert d.sb.calls["c1"].phase == "queued"


def test_a_callback_step_for_a_withheld_caller_goes_on_to_the_next_step() -> None:
    d = Driver(config(WITHHELD))
    out = d.arrive("c1", caller="anonymous", dialed="200")
    assert not d.sb.callbacks.jobs
    assert any("withheld" in x.summary for x in of(c.Decision, out))
    assert [p.name for x in of(c.Play, out) for p in x.prompts
            if isinstance(p, c.Prompt)][:1] != ["callback_confirmed"]
    assert d.sb.calls["c1"].phase != "closing"


def test_a_missed_withheld_call_is_notified_but_is_no_lost_number_and_no_crm_task() -> None:
    d = Driver(config(WITHHELD))
    d.send(e.AgentStatusChanged("201", "break"))
    d.arrive("c1", caller="anonymous")
    out = d.send(e.CallerHungUp("c1"))
    assert one(c.CallFinished, out).outcome == "missed"
    assert of(c.LostChanged, out) == [] and of(c.CreateCrmTask, out) == []
    assert one(c.Notify, out).payload["number"] == "anonymous"
    assert d.sb.missed.lost == set()


def test_a_queue_whose_fallback_joins_it_again_while_full_ends_the_call_not_the_server() -> None:
    """Found by the simulator fuzz: a full queue (max_length) whose fallback joins the same
    queue refused the caller, joined again, was refused again... without the clock moving,
    until the process ran out of memory (24 GB). Now the call ends after 200 steps that
    waited for nothing, with a Decision naming the loop."""
    d = Driver(config("""
        numbers: [{number: "100", scheme: main}]
        agents: [{id: "201"}]
        schemes: {main: {rules: [{name: all, steps: [{queue: q}]}]}}
        queues: {q: {members: ["201"], max_length: 1, fallback: [{queue: q}]}}
    """))
    d.send(e.AgentStatusChanged("201", "break"))
    d.arrive("c1")
    out = d.arrive("c2")
    finished = one(c.CallFinished, out)
    assert (finished.call_id, finished.outcome) == ("c2", "missed")
    assert one(c.Reject, out).call_id == "c2"
    assert "without waiting for anything (a loop, last in q/fallback)" in of(
        c.Decision, out)[-1].summary
    assert len(of(c.QueueExited, out)) == 200  # refused each time, until the loop was cut
    assert "c2" not in d.sb.calls and d.sb.calls["c1"].phase == "queued"
