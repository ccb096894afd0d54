"""The discrete-event simulator: a virtual clock driving the real routing core (MISSION B2).

The simulator is "the world" of ``docs/core-protocol.md``: it invents callers (traffic.py),
feeds their events to ``Switchboard.handle`` and carries out the commands the core returns
the way phones, agents, the webhook and the CRM would, each after a sampled delay.

One heap holds the world's pending happenings as ``(time, seq, action, a, b)``; each step
takes the earlier of its head and ``core.next_deadline()``. Nothing is removed from the heap
when a channel ends or a play is replaced: every action checks on delivery that what it
refers to is still current (lazy cancellation keeps the heap a plain list of tuples).

Chance is split in independent streams (arrivals and caller data per traffic stream, agent
behaviour, integrations, the core's own rng), all derived from the seed: the same seed gives
the same run, and two configs run with one seed see the same callers arrive.
"""

from __future__ import annotations

import heapq
import itertools
import random
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from switchboard.config.model import Config
from switchboard.core import commands as c
from switchboard.core import events as e
from switchboard.core.switchboard import Switchboard
from switchboard.sim.kpi import KpiCollector
from switchboard.sim.traffic import (
    CallerNumbers,
    CallerStream,
    Integrations,
    agent_shifts,
    default_traffic,
    hour_grid,
    merge,
    plan_breaks,
    sampler,
    working_day,
)

PROGRESS_STEPS = 200
DRAIN_SECONDS = 86400.0  # after the last day, run at most this long for calls to finish
_STUCK_TIMERS = 10_000  # on_timer calls without the clock moving: the core is looping
_REDIAL_MIN, _REDIAL_MEAN = 60.0, 300.0  # a missed caller redials after 1 min + exp(5 min)
_CUSTOMER_ANSWER = (3.0, 10.0)  # seconds for a phone (mobile, customer) to be picked up
_CUSTOMER_GIVES_UP = (25.0, 35.0)  # seconds of ringing before the network says no answer
_THINK = (1.0, 3.0)  # seconds a caller needs to press a key after the menu
_MESSAGE_MEAN = 30.0  # mean voicemail message length (exponential, below max_length)


class SimulationError(RuntimeError):
    """The core raised or stopped making progress; the message names the event and time."""


@dataclass
class SimResult:
    """A finished run: the KPIs and the records kept for inspection."""

    kpis: dict[str, Any]
    calls: list[c.CallFinished]
    decisions: list[c.Decision] = field(default_factory=list)
    warnings: Counter[str] = field(default_factory=Counter)


class _Chan:
    """A channel as the world sees it: an inbound call or an outbound leg."""

    __slots__ = (
        "agent_id", "alive", "answered", "call", "handling", "id", "in_voicemail", "is_call",
        "kind", "peer", "play", "record_call", "ring", "rung_at", "stream", "want_digit",
    )

    def __init__(self, chan_id: str, is_call: bool) -> None:
        self.id = chan_id
        self.is_call = is_call
        self.alive = True
        self.answered = False
        self.play: c.Play | c.Whisper | None = None  # the current play, None when silent
        self.want_digit = False
        self.peer: _Chan | None = None  # bridged to
        self.in_voicemail = False
        self.record_call = False
        self.handling = 0.0  # calls: talk time drawn at arrival
        self.stream: CallerStream | None = None
        self.call: _Chan | None = None  # legs: the inbound call they were rung for
        self.agent_id: str | None = None
        self.kind = ""
        self.ring: list[bool] | None = None  # legs of one Ring share [someone answered]
        self.rung_at = 0.0


def run_simulation(
    config: Config,
    seed: int,
    progress: Callable[[float], None] | None = None,
    *,
    label: str | None = None,
    keep_decisions: bool = False,
) -> SimResult:
    """Simulate ``config.simulation`` through the routing core; same seed, same result.

    ``progress(fraction)`` is called at most ~200 times. ``label`` names the config in the
    KPIs; ``keep_decisions`` keeps every Decision record (memory grows with the calls).
    """
    return _World(config, seed, progress, label, keep_decisions).run()


class _World:
    """Everything outside the core: callers, phones, agents, webhook, CRM, the clock."""

    def __init__(
        self,
        config: Config,
        seed: int,
        progress: Callable[[float], None] | None,
        label: str | None,
        keep_decisions: bool,
    ) -> None:
        sim = config.simulation
        self.config = config
        self.seed = seed
        self.label = label
        self.progress = progress
        self.grid = grid = hour_grid(config, sim.days)
        self.t0, self.end = grid.t0, grid.end
        self.now = grid.t0
        self.core = Switchboard(config, random.Random(f"core/{seed}"))
        self._handle = self.core.handle
        self.traffic = list(sim.traffic) or default_traffic(config)
        numbers = CallerNumbers(config, random.Random(f"numbers/{seed}"))
        self.streams = [
            CallerStream(t, i, seed, grid, numbers) for i, t in enumerate(self.traffic)
        ]
        self.behaviour = random.Random(f"behaviour/{seed}")
        self.services = Integrations(
            sim, [a.id for a in config.agents], random.Random(f"integrations/{seed}")
        )
        self.answer_delay = sampler(sim.agents.answer_delay, self.behaviour)
        self.prompt_seconds = sim.prompt_seconds
        self.shifts = agent_shifts(config, grid)
        self.kpi = KpiCollector(config, grid, self.traffic, {
            agent: None if days is None else merge([span for day in days for span in day])
            for agent, days in self.shifts.items()
        })

        self.heap: list[tuple[float, int, Callable[[Any, Any], None], Any, Any]] = []
        self.seq = itertools.count()
        self.chans: dict[str, _Chan] = {}
        self.busy_agents: Counter[str] = Counter()  # answered live legs per agent
        self.callers: dict[str, tuple[CallerStream, dict[str, str]]] = {}  # for redials, callbacks
        self.calls_started = 0
        self.arrivals_open = True
        self.core_events = 0
        self.world_events = 0
        self.last_call_end = self.t0
        self.records: list[c.CallFinished] = []
        self.decisions: list[c.Decision] = []
        self.keep_decisions = keep_decisions
        self.warnings: Counter[str] = Counter()
        self.happened: Counter[str] = Counter()  # world facts: digits, breaks, redials
        self.max_calls = sim.max_calls
        self._progress_next = 0.0
        self._dispatch = self._dispatch_table()

    # ------------------------------------------------------------------ the loop

    def run(self) -> SimResult:
        started = time.perf_counter()
        self._setup()
        heap = self.heap
        pop = heapq.heappop
        next_deadline = self.core.next_deadline
        cap = self.end + DRAIN_SECONDS
        stuck = 0
        while True:
            deadline = next_deadline()
            if heap and (deadline is None or heap[0][0] < deadline):
                at, _, action, a, b = pop(heap)
                if at > cap:
                    break
                self.now = at
                self.world_events += 1
                stuck = 0
                action(a, b)
            elif deadline is not None:
                now = deadline if deadline > self.now else self.now
                if now > cap:
                    break
                stuck = stuck + 1 if now == self.now else 0
                if stuck > _STUCK_TIMERS:
                    raise SimulationError(
                        f"core deadline {deadline} stays due after {stuck} on_timer({now}) calls"
                    )
                self.now = now
                self._timer(now)
            else:
                break
        wall = time.perf_counter() - started
        if self.progress is not None:
            self.progress(1.0)
        return SimResult(self._kpis(wall), self.records, self.decisions, self.warnings)

    def _timer(self, now: float) -> None:
        try:
            commands = self.core.on_timer(now)
        except Exception as exc:
            raise SimulationError(f"core.on_timer({now!r}) raised {exc!r}") from exc
        self.core_events += 1
        self._carry_out(commands)

    def _feed(self, event: e.Event) -> None:
        try:
            commands = self._handle(event, self.now)
        except Exception as exc:
            raise SimulationError(
                f"core.handle({event!r}, now={self.now!r}) raised {exc!r}"
            ) from exc
        self.core_events += 1
        self._carry_out(commands)

    def _carry_out(self, commands: list[c.Command]) -> None:
        dispatch, unknown = self._dispatch, self._unknown
        for command in commands:
            handler = dispatch.get(type(command), unknown)
            if handler is not None:  # None: a record nobody keeps (Decision by default)
                handler(command)

    def _push(self, at: float, action: Callable[[Any, Any], None], a: Any, b: Any = None) -> None:
        heapq.heappush(self.heap, (at, next(self.seq), action, a, b))

    def _setup(self) -> None:
        """Agents register at t0; breaks are planned; every stream's first arrival is queued."""
        for agent in self.config.agents:
            self._feed(e.AgentRegistered(agent.id, True))
            self.kpi.agent_available(agent.id, agent.status == "available", self.t0)
        self._plan_breaks()
        for stream in self.streams:
            first = next(stream.arrivals, None)
            if first is not None:
                self._push(first, self._arrive, stream)

    # ------------------------------------------------------------------ callers

    def _arrive(self, stream: CallerStream, _: Any) -> None:
        if not self.arrivals_open:
            return
        following = next(stream.arrivals, None)
        if following is not None:
            heapq.heappush(self.heap, (following, next(self.seq), self._arrive, stream, None))
        caller, entities = stream.next_caller()
        self._start_call(stream, caller, entities)

    def _redial(self, caller: str, _: Any) -> None:
        if self.arrivals_open and caller in self.callers:
            self.happened["redials"] += 1
            stream, entities = self.callers[caller]
            self._start_call(stream, caller, entities)

    def _start_call(self, stream: CallerStream, caller: str, entities: dict[str, str]) -> None:
        now = self.now
        self.calls_started += 1
        chan = _Chan(f"c{self.calls_started}", True)
        chan.stream = stream
        chan.handling = stream.handling()
        self.chans[chan.id] = chan
        self.callers[caller] = (stream, entities)
        self.kpi.call_arrived(chan.id, now, stream.number)
        if stream.patience is not None:
            self._push(now + stream.patience(), self._patience_over, chan)
        if self.max_calls is not None and self.calls_started >= self.max_calls:
            self.arrivals_open = False
        if self.progress is not None:
            self._report_progress()
        self._feed(e.CallArrived(chan.id, stream.number, caller, entities))

    def _patience_over(self, chan: _Chan, _: Any) -> None:
        if chan.alive and chan.peer is None and not chan.in_voicemail:
            self._caller_leaves(chan)

    def _caller_leaves(self, chan: _Chan, _: Any = None) -> None:
        if chan.alive:
            self._kill(chan)
            self._feed(e.CallerHungUp(chan.id))

    def _report_progress(self) -> None:
        fraction = (self.now - self.t0) / (self.end - self.t0)
        if self.max_calls:
            fraction = max(fraction, self.calls_started / self.max_calls)
        if fraction >= self._progress_next:
            self._progress_next = fraction + 1.0 / PROGRESS_STEPS
            assert self.progress is not None
            self.progress(min(fraction, 1.0))

    # ------------------------------------------------------------------ agents

    def _plan_breaks(self) -> None:
        sim = self.config.simulation
        day = working_day(self.traffic, self.grid)
        for at, agent_id, status in plan_breaks(
            self.config.agents, sim.agents, self.shifts, day, self.behaviour
        ):
            self._push(at, self._agent_status, agent_id, status)

    def _agent_status(self, agent_id: str, status: str) -> None:
        if status == "break":
            self.happened["breaks"] += 1
        self.kpi.agent_available(agent_id, status == "available", self.now)
        self._feed(e.AgentStatusChanged(agent_id, status))  # type: ignore[arg-type]

    # ------------------------------------------------------------------ commands

    def _dispatch_table(self) -> dict[type, Callable[[Any], None] | None]:
        kpi = self.kpi
        return {
            c.Answer: self._answer,
            c.Reject: self._reject,
            c.Play: self._play,
            c.StopPlay: self._stop_play,
            c.CollectDigits: self._collect_digits,
            c.Ring: self._ring,
            c.CancelRing: self._cancel_ring,
            c.Whisper: self._play,
            c.Bridge: self._bridge,
            c.Hangup: self._hangup,
            c.Record: self._record,
            c.AskWebhook: self._ask_webhook,
            c.LookupCrmOwner: self._lookup_crm,
            c.Notify: lambda _: self._count("notifications"),
            c.CreateCrmTask: lambda _: self._count("crm_tasks"),
            c.AddToList: lambda _: self._count("list_additions"),
            c.OfferSlots: lambda _: self._count("slot_offers"),
            c.Decision: self._decision if self.keep_decisions else None,
            c.CallFinished: self._call_finished,
            c.QueueExited: kpi.on_queue_exited,
            c.EtaEstimated: kpi.on_eta,
            c.ChannelsExhausted: kpi.on_exhausted,
            c.LostChanged: kpi.on_lost,
            c.CallbackFinished: kpi.on_callback,
            c.AgentStateChanged: kpi.on_agent_state,
        }

    def _unknown(self, command: Any) -> None:
        self.warnings[f"unknown command {type(command).__name__}"] += 1

    def _count(self, what: str) -> None:
        self.services.counts[what] += 1

    def _decision(self, record: c.Decision) -> None:
        self.decisions.append(record)

    def _channel(self, chan_id: str, command: str) -> _Chan | None:
        chan = self.chans.get(chan_id)
        if chan is None:
            self.warnings[f"{command} for an unknown or ended channel"] += 1
        return chan

    def _answer(self, cmd: c.Answer) -> None:
        chan = self._channel(cmd.call_id, "Answer")
        if chan is not None:
            chan.answered = True

    def _reject(self, cmd: c.Reject) -> None:
        chan = self._channel(cmd.call_id, "Reject")
        if chan is not None:
            self._kill(chan)

    def _play(self, cmd: c.Play | c.Whisper) -> None:
        chan_id = cmd.leg_id if type(cmd) is c.Whisper else cmd.channel_id  # type: ignore[union-attr]
        chan = self._channel(chan_id, type(cmd).__name__)
        if chan is None:
            return
        chan.play = cmd  # replaces the previous play: its PromptFinished is now stale
        if type(cmd) is c.Play and cmd.loop:
            return
        at = self.now + len(cmd.prompts) * self.prompt_seconds
        heapq.heappush(self.heap, (at, next(self.seq), self._played, chan, cmd))

    def _played(self, chan: _Chan, cmd: c.Play | c.Whisper) -> None:
        if not chan.alive or chan.play is not cmd:
            return
        chan.play = None
        if chan.want_digit:
            self._press_later(chan)
        self._feed(e.PromptFinished(chan.id, cmd.play_id))

    def _stop_play(self, cmd: c.StopPlay) -> None:
        chan = self._channel(cmd.channel_id, "StopPlay")
        if chan is not None:
            chan.play = None
            if chan.want_digit:
                self._press_later(chan)

    def _collect_digits(self, cmd: c.CollectDigits) -> None:
        chan = self._channel(cmd.channel_id, "CollectDigits")
        if chan is not None:
            chan.want_digit = True
            # Decide once the whole command batch is carried out: the menu's Play may come
            # after CollectDigits in it.
            self._push(self.now, self._digit_check, chan)

    def _digit_check(self, chan: _Chan, _: Any) -> None:
        play = chan.play
        if chan.alive and chan.want_digit and (
            play is None or (type(play) is c.Play and play.loop)
        ):
            self._press_later(chan)

    def _press_later(self, chan: _Chan) -> None:
        """The caller presses one key a moment after the menu (or at once if looping)."""
        chan.want_digit = False
        stream = chan.stream
        if stream is None or stream.digits is None:
            return  # no digits in this traffic: the menu times out
        digit = stream.digits.draw(self.behaviour.random())
        if digit is not None:
            self._push(self.now + self.behaviour.uniform(*_THINK), self._press, chan, digit)

    def _press(self, chan: _Chan, digit: str) -> None:
        if chan.alive:
            self.happened["digits"] += 1
            self._feed(e.DigitsReceived(chan.id, digit))

    # ------------------------------------------------------------------ legs

    def _ring(self, cmd: c.Ring) -> None:
        now = self.now
        rng = self.behaviour
        sim = self.config.simulation
        call = self.chans.get(cmd.call_id) if cmd.call_id is not None else None
        if call is not None:
            agents = [t.agent_id for t in cmd.legs if t.agent_id is not None]
            self.kpi.call_rang(call.id, now, agents)
        group = [False]
        no_answer = sim.agents.no_answer
        for target in cmd.legs:
            leg = _Chan(target.leg_id, False)
            leg.call = call
            if call is not None:
                leg.stream = call.stream
            elif target.address in self.callers:  # calling a customer back
                leg.stream = self.callers[target.address][0]
            leg.kind = target.kind
            leg.agent_id = target.agent_id if target.kind == "number" else (
                target.agent_id or target.address
            )
            leg.ring = group
            leg.rung_at = now
            if target.leg_id in self.chans:
                self.warnings["Ring reuses a live channel id"] += 1
            self.chans[target.leg_id] = leg
            if target.kind == "agent":
                if rng.random() >= no_answer:
                    heapq.heappush(self.heap, (now + self.answer_delay(), next(self.seq),
                                               self._leg_answers, leg, None))
                # else: never answers; the core cancels the ring
            elif rng.random() < sim.customer_answers:
                self._push(now + rng.uniform(*_CUSTOMER_ANSWER), self._leg_answers, leg)
            else:
                self._push(now + rng.uniform(*_CUSTOMER_GIVES_UP), self._leg_fails, leg,
                           "no_answer")

    def _leg_answers(self, leg: _Chan, _: Any) -> None:
        if not leg.alive or leg.answered:
            return
        agent = leg.agent_id
        if leg.kind == "agent" and agent is not None and self.busy_agents[agent]:
            # A softphone already in a call gives busy; ringing a busy agent is a core slip.
            self.warnings["Ring of an agent already in a call"] += 1
            self._leg_fails(leg, "busy")
            return
        leg.answered = True
        if leg.ring is not None:
            leg.ring[0] = True
        if agent is not None:
            self.busy_agents[agent] += 1
            self.kpi.agent_rang(agent, True, self.now - leg.rung_at)
        self._feed(e.LegAnswered(leg.id))

    def _leg_fails(self, leg: _Chan, reason: str) -> None:
        if not leg.alive or leg.answered:
            return
        self._kill(leg)
        if leg.agent_id is not None and reason == "no_answer":
            self.kpi.agent_rang(leg.agent_id, False, 0.0)
        self._feed(e.LegFailed(leg.id, reason))  # type: ignore[arg-type]

    def _cancel_ring(self, cmd: c.CancelRing) -> None:
        for leg_id in cmd.leg_ids:
            leg = self.chans.get(leg_id)
            if leg is None:
                continue
            if leg.answered:
                # The protocol: a leg that answers anyway is hung up by the world itself.
                self.warnings["CancelRing of an answered leg"] += 1
            elif leg.agent_id is not None and not (leg.ring and leg.ring[0]) and (
                leg.call is None or leg.call.alive
            ):
                self.kpi.agent_rang(leg.agent_id, False, 0.0)  # rang out, nobody took it
            self._kill(leg)

    def _bridge(self, cmd: c.Bridge) -> None:
        a, b = self._channel(cmd.a, "Bridge"), self._channel(cmd.b, "Bridge")
        if a is None or b is None:
            return
        a.peer, b.peer = b, a
        rng = self.behaviour
        if a.is_call or b.is_call:
            call, leg = (a, b) if a.is_call else (b, a)
            talk = call.handling
            ender, other = (call, leg) if rng.random() < 0.5 else (leg, call)
        else:  # a callback: agent leg and customer leg
            stream = a.stream or b.stream
            talk = stream.handling() if stream is not None else rng.expovariate(1 / 180)
            ender, other = (a, b) if rng.random() < 0.5 else (b, a)
        heapq.heappush(self.heap, (self.now + talk, next(self.seq), self._bridged_hangup, ender,
                                   other))

    def _bridged_hangup(self, chan: _Chan, other: _Chan) -> None:
        if chan.alive and chan.peer is other:
            self._kill(chan)
            self._feed(e.CallerHungUp(chan.id) if chan.is_call else e.LegHungUp(chan.id))

    def _hangup(self, cmd: c.Hangup) -> None:
        chan = self.chans.get(cmd.channel_id)
        if chan is not None:
            self._kill(chan)

    def _kill(self, chan: _Chan) -> None:
        """The channel is over: pending happenings for it become stale."""
        if not chan.alive:
            return
        chan.alive = False
        if self.chans.get(chan.id) is chan:
            del self.chans[chan.id]
        if chan.answered and not chan.is_call and chan.agent_id is not None:
            self.busy_agents[chan.agent_id] -= 1
        if chan.record_call:
            self._push(self.now + 0.5, self._saved, chan, ("call", 0.0))

    # ------------------------------------------------------------------ recordings

    def _record(self, cmd: c.Record) -> None:
        chan = self._channel(cmd.channel_id, "Record")
        if chan is None:
            return
        if cmd.kind == "call":
            chan.record_call = True
            return
        chan.in_voicemail = True  # talking to the machine now, no longer waiting
        rng = self.behaviour
        if rng.random() < self.config.simulation.voicemail_share:
            limit = 0.95 * (cmd.max_length or 120.0)
            speak = min(rng.expovariate(1 / _MESSAGE_MEAN) + 1.0, limit)
            self._push(self.now + speak, self._message_left, chan, speak)
        else:
            self._push(self.now, self._caller_leaves, chan)

    def _message_left(self, chan: _Chan, length: float) -> None:
        if chan.alive:
            self._caller_leaves(chan)
            self._push(self.now + 0.5, self._saved, chan, ("voicemail", length))

    def _saved(self, chan: _Chan, what: tuple[str, float]) -> None:
        kind, length = what
        if kind == "voicemail":
            self.kpi.voicemail_saved()
        url = f"sim://{kind}/{chan.id}.wav"
        self._feed(e.RecordingSaved(chan.id, kind, url, length))  # type: ignore[arg-type]

    # ------------------------------------------------------------------ integrations

    def _ask_webhook(self, cmd: c.AskWebhook) -> None:
        latency, reply = self.services.webhook(cmd)
        self._push(self.now + latency, self._reply, cmd.call_id, reply)

    def _lookup_crm(self, cmd: c.LookupCrmOwner) -> None:
        latency, reply = self.services.crm(cmd)
        self._push(self.now + latency, self._reply, cmd.call_id, reply)

    def _reply(self, call_id: str, reply: e.Event) -> None:
        if call_id in self.chans:  # the caller is still there
            self._feed(reply)

    # ------------------------------------------------------------------ records

    def _call_finished(self, rec: c.CallFinished) -> None:
        self.records.append(rec)
        self.kpi.on_call_finished(rec)
        self.last_call_end = max(self.last_call_end, rec.ended)
        if rec.outcome != "answered" and self.arrivals_open:
            known = self.callers.get(rec.caller)
            if known is not None and self.behaviour.random() < known[0].traffic.repeat_callers:
                delay = _REDIAL_MIN + self.behaviour.expovariate(1 / _REDIAL_MEAN)
                if self.now + delay < self.end:
                    self._push(self.now + delay, self._redial, rec.caller)

    # ------------------------------------------------------------------ result

    def _kpis(self, wall: float) -> dict[str, Any]:
        sim = self.config.simulation
        kpis: dict[str, Any] = {
            "seed": self.seed,
            "config": self.label,
            "start": sim.start.isoformat(),
            "days": sim.days,
            "timezone": self.config.timezone,
        }
        # Occupancy is measured until the last call ended, or the last day if that is later;
        # a run cut short by max_calls ends with its last call (no idle tail of days).
        stopped_early = self.max_calls is not None and self.calls_started >= self.max_calls
        kpis.update(self.kpi.finish(
            self.last_call_end if stopped_early else max(self.end, self.last_call_end)
        ))
        calls = kpis["calls"]
        kpis.update({
            "integrations": dict(sorted(self.services.counts.items())),
            "world": dict(sorted(self.happened.items())),
            "warnings": dict(sorted(self.warnings.items())),
            "core_events": self.core_events,
            "world_events": self.world_events,
            "sim_seconds": self.now - self.t0,
            "wall_seconds": wall,
            "events_per_second": self.core_events / wall if wall > 0 else None,
            "calls_per_second": calls / wall if wall > 0 else None,
        })
        return kpis
