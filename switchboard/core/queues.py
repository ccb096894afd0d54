"""Queues (MISSION Q1, Q2, Q5-Q8, W4): waiting callers, distribution to agents, exits.

One ordering across all queues: priority first (VIP), then the time the caller joined. When
an agent is free, the best waiting entry among the queues that agent serves gets them, so
two queues sharing agents serve the longest waiter first. What the waiting caller hears
(music, position and ETA announcements, adverts) is ``announcements.py``; the estimated wait
itself is computed here, from the queue's members and estimators (B3).
"""

from __future__ import annotations

import bisect
from typing import TYPE_CHECKING

from switchboard.config.model import Queue, RingStrategy
from switchboard.core import commands as c
from switchboard.core.callbacks import dialable
from switchboard.core.eta import EtaEstimator, queue_estimators
from switchboard.core.state import (
    AgentRuntime,
    Call,
    CallbackJob,
    Frame,
    Leg,
    QueueEntry,
    Timer,
)
from switchboard.core.strategies import QueueCursor, best, rank

if TYPE_CHECKING:
    from switchboard.core.switchboard import Switchboard

# How a queue ring can end that makes the agent rest their own ``retry`` (mod_callcenter's
# no-answer, busy and reject delays as one value). A technical failure (unavailable, error)
# is not the person's doing; a ring cancelled because the caller left or another agent
# answered is not either.
_UNANSWERED = frozenset({"no_answer", "busy", "rejected"})


class QueueRuntime:
    """One queue's live state."""

    __slots__ = (
        "cfg", "cursor", "entries", "estimators", "index", "members", "name", "not_chosen",
        "on_shifts", "one_penalty", "penalty", "ring_all", "strategy", "unavailable",
    )

    def __init__(self, name: str, cfg: Queue, members: list[str], penalty: dict[str, int]) -> None:
        self.name = name
        self.cfg = cfg
        self.members = members
        self.penalty = penalty
        self.one_penalty = len(set(penalty.values())) <= 1  # no tiers: skip the penalty filter
        self.index = {m: i for i, m in enumerate(members)}
        self.strategy = cfg.strategy.value
        self.ring_all = cfg.strategy is RingStrategy.ring_all
        self.not_chosen = "not chosen: " + self.strategy
        self.on_shifts: set[str] = set()  # members with a work schedule (filled by the manager)
        # Members who cannot take a call, and why: kept up to date as agents change, so that
        # explaining a ring (B1) copies it instead of asking every member each time.
        self.unavailable: dict[str, str] = {}
        self.entries: list[QueueEntry] = []
        self.cursor = QueueCursor(members=members)
        self.estimators: list[EtaEstimator] = queue_estimators(cfg.eta)


def _resolve_members(sb: Switchboard, cfg: Queue) -> tuple[list[str], dict[str, int]]:
    penalty: dict[str, int] = {}
    for m in cfg.members:
        if m.agent in sb.agents:
            penalty.setdefault(m.agent, m.penalty)
    for group in cfg.groups:
        for a in sb.config.agents:
            if group in a.groups:
                penalty.setdefault(a.id, 0)
    if cfg.skills:
        if not cfg.members and not cfg.groups:
            penalty = {a.id: 0 for a in sb.config.agents}
        penalty = {
            aid: p for aid, p in penalty.items()
            if set(cfg.skills) <= set(sb.agents[aid].config.skills)
        }
    order = sorted(penalty, key=lambda aid: penalty[aid])  # stable: keeps the listed order
    return order, penalty


class QueueManager:
    """All queues, and the dispatch of free agents to waiting entries."""

    def __init__(self, sb: Switchboard) -> None:
        self.sb = sb
        self.queues: dict[str, QueueRuntime] = {}
        self._on_shifts: set[str] = set()  # members of any queue with a work schedule
        for name, cfg in sb.config.queues.items():
            members, penalty = _resolve_members(sb, cfg)
            self.queues[name] = q = QueueRuntime(name, cfg, members, penalty)
            for aid in members:
                sb.agents[aid].queues.append(name)
                if sb.agents[aid].config.schedule is not None:
                    q.on_shifts.add(aid)
                    self._on_shifts.add(aid)
                reason = sb.agents[aid].reason
                if reason is not None:
                    q.unavailable[aid] = reason
        self.dirty = False
        self._seq = 0
        self._shift_wake: Timer | None = None
        self._joined: list[QueueEntry] = []  # callers who joined since the last dispatch

    def agent_changed(self, agent: AgentRuntime) -> None:
        """An agent's reason for not taking calls changed (None: free)."""
        for name in agent.queues:
            unavailable = self.queues[name].unavailable
            if agent.reason is None:
                unavailable.pop(agent.id, None)
            else:
                unavailable[agent.id] = agent.reason

    def unanswered(self, agent_id: str | None, reason: str, now: float) -> None:
        """A queue rang this agent, who let it go (``reason``): their own ``retry`` rest."""
        agent = self.sb.agents.get(agent_id or "")
        if agent is None or reason not in _UNANSWERED:
            return
        seconds = agent.config.retry
        if seconds:
            why = f"resting {seconds:g} s after an unanswered ring"
            self.sb.agent_states.rest(agent, seconds, why, now)

    def config(self, name: str) -> Queue:
        return self.queues[name].cfg

    def wrapup(self, name: str, agent: AgentRuntime) -> float:
        """Seconds of wrap-up after a call of this queue: the agent's own, else the queue's."""
        own = agent.config.wrapup
        return own if own is not None else self.queues[name].cfg.wrapup

    # ------------------------------------------------------------------ joining, leaving

    def join(self, call: Call, name: str, priority: int, now: float) -> bool:
        """Put a call in a queue. False when it could not join (full, empty): go on."""
        sb = self.sb
        q = self.queues.get(name)
        if q is None:
            sb.decide(call.id, now, "queue", f"unknown queue {name}: next step")
            return False
        cfg = q.cfg
        call.last_queue = name
        if cfg.max_length is not None and len(q.entries) >= cfg.max_length:
            return self._refused(call, q, "full", now)
        if not cfg.join_empty and not self._anyone_logged_in(q):
            return self._refused(call, q, "empty", now)
        joined = now
        job = sb.callbacks.jobs.get(call.caller)
        if job is not None and job.queue == name and job.phase in ("waiting", "ringing_agent"):
            # B4: the customer called in while a callback kept their place (in the queue, an
            # agent being rung for it, or in the pause before dialling them again): take that
            # place, once; an agent rung for the job is rung again for the call.
            joined = min(joined, job.joined)
            priority = max(priority, job.priority)
            sb.callbacks.cancel(job, now, "customer called in and took the callback's place")
        entry = self._add(name, priority, joined, call=call)
        entry.entered = now
        self._joined.append(entry)  # if dispatch rings nobody for it, say why (B1)
        call.entry = entry
        call.queue = name
        call.queue_joined = joined
        call.phase = "queued"
        sb.announcements.resume_music(call)
        if cfg.exit_key is not None and not call.collecting:
            call.collecting = True
            sb.out.append(c.CollectDigits(call.id))
        if cfg.max_wait is not None:
            # From the caller's own arrival: a place kept by a callback orders the queue,
            # it does not use up the wait this call is allowed.
            call.timers.append(sb.later(now + cfg.max_wait,
                                        lambda t: self._exit(call, "timeout", t)))
        sb.announcements.start(call, cfg, now)
        sb.decide(call.id, now, "queue",
                  f"joined queue {name} at position {self.position(entry)}"
                  + (f" with priority {priority}" if priority else ""),
                  rule=call.rule, details={"queue": name, "priority": priority})
        return True

    def _refused(self, call: Call, q: QueueRuntime, reason: str, now: float) -> bool:
        sb = self.sb
        sb.decide(call.id, now, "queue", f"queue {q.name} is {reason}: fallback")
        sb.out.append(c.QueueExited(call.id, q.name, reason, 0.0, now))  # type: ignore[arg-type]
        call.last_exit = reason
        if q.cfg.fallback:
            call.stack.append(Frame(list(q.cfg.fallback), 0, f"{q.name}/fallback"))
        return False

    def _add(self, name: str, priority: int, joined: float, call: Call | None = None,
             job: CallbackJob | None = None) -> QueueEntry:
        self._seq += 1
        entry = QueueEntry(name, priority, joined, self._seq, call=call, job=job)
        bisect.insort(self.queues[name].entries, entry, key=QueueEntry.sort_key)
        self.dirty = True
        return entry

    def add_job(self, job: CallbackJob, joined: float, now: float) -> QueueEntry:
        entry = self._add(job.queue, job.priority, joined, job=job)
        job.entry = entry
        return entry

    def position(self, entry: QueueEntry) -> int:
        return self.queues[entry.queue].entries.index(entry) + 1

    def leave(self, entry: QueueEntry, reason: str, now: float) -> None:
        """Take an entry out of its queue with a named exit reason."""
        if not entry.active:
            return
        entry.active = False
        q = self.queues[entry.queue]
        i = bisect.bisect_left(q.entries, entry.sort_key(), key=QueueEntry.sort_key)
        if i < len(q.entries) and q.entries[i] is entry:
            del q.entries[i]
        else:
            q.entries.remove(entry)
        if entry.ring_timer is not None:
            entry.ring_timer.cancel()
        legs, entry.legs = entry.legs, []
        self.sb.cancel_legs(legs, now)
        who = entry.call.id if entry.call is not None else f"callback:{entry.job.number}"  # type: ignore[union-attr]
        self.sb.out.append(c.QueueExited(who, entry.queue, reason, now - entry.joined, now))  # type: ignore[arg-type]

    def _exit(self, call: Call, reason: str, now: float) -> None:
        """A caller leaves the queue without an agent (timeout, empty): run the fallback."""
        entry = call.entry
        if call.ended or entry is None or not entry.active or call.phase == "whisper":
            return
        sb = self.sb
        q = self.queues[entry.queue]
        self.leave(entry, reason, now)
        call.entry = None
        call.queue = None  # later steps are no longer this queue's (wait, wrap-up, history)
        for t in call.timers:
            t.cancel()
        call.timers.clear()
        if call.music_on or call.wait_play:
            sb.out.append(c.StopPlay(call.id))
            call.music_on = False
            call.wait_play = 0
        call.last_exit = reason
        sb.decide(call.id, now, "queue", f"left queue {q.name}: {reason}",
                  details={"waited": round(now - entry.joined, 3)})
        if q.cfg.fallback:
            call.stack.append(Frame(list(q.cfg.fallback), 0, f"{q.name}/fallback"))
        sb.schemes.advance(call, now)

    def exit_key(self, call: Call, digit: str, now: float) -> None:
        """The caller pressed a key while waiting (exit to callback or voicemail)."""
        entry = call.entry
        assert entry is not None
        key = self.queues[entry.queue].cfg.exit_key
        if key is None or key.digit != digit:
            return
        sb = self.sb
        if key.action == "callback" and not dialable(call.caller):
            sb.decide(call.id, now, "queue", f"pressed {digit} for a callback, but the number "
                      "is withheld: nothing to call back, stays in the queue")
            return
        self.leave(entry, "exit_key", now)
        call.entry = None
        call.queue = None
        for t in call.timers:
            t.cancel()
        call.timers.clear()
        sb.out.append(c.StopPlay(call.id))
        call.music_on = False
        call.wait_play = 0
        if key.action == "callback":
            sb.offer_callback(call, entry.queue, now, entry.joined, entry.priority,
                              f"pressed {digit} in queue {entry.queue}")
        else:
            box = key.voicemail or next(iter(sb.config.voicemail), "default")
            call.last_exit = "exit_key"
            sb.voicemail.start(call, box, now)

    def check_empty(self, now: float) -> None:
        """Callers leave queues marked leave_when_empty once no agent is logged in."""
        for q in self.queues.values():
            if q.cfg.leave_when_empty and q.entries and not self._anyone_logged_in(q):
                for entry in list(q.entries):
                    if entry.call is not None:
                        self._exit(entry.call, "empty", now)

    def _anyone_logged_in(self, q: QueueRuntime) -> bool:
        agents = self.sb.agents
        return any(agents[m].registered and agents[m].status != "offline" for m in q.members)

    # ------------------------------------------------------------------ distribution

    def dispatch(self, now: float) -> None:
        """Give free agents to waiting entries, best entry first (Q1); then explain, once,
        why a caller who just joined was not rung (B1)."""
        self._dispatch(now)
        if self._joined:
            self._explain_not_rung(now)

    def _explain_not_rung(self, now: float) -> None:
        joined, self._joined = self._joined, []
        for entry in joined:
            call = entry.call
            if call is None or entry.legs or not entry.active:
                continue
            q = self.queues[entry.queue]
            self.sb.out.append(c.Decision(
                call.id, now, "queue",
                f"queue {q.name}: no member free to ring; waiting at position "
                f"{self.position(entry)}", call.rule, (), self._skipped(q, entry, (), now)))

    def _dispatch(self, now: float) -> None:
        self.dirty = False
        sb = self.sb
        if not sb.free:
            return
        queues = [q for q in self.queues.values() if q.entries]
        if not queues:
            return  # nobody waits
        free = set(sb.free)
        off_shift = [aid for aid in self._on_shifts.intersection(free)
                     if sb.agent_states.why_unavailable(sb.agents[aid], now) is not None]
        if off_shift:
            free.difference_update(off_shift)
            self._wake_at_next_minute(now)  # someone's shift may start: look again then
        if not free:
            return
        if len(queues) == 1:
            order: list[QueueEntry] = queues[0].entries
        else:
            order = sorted((e for q in queues for e in q.entries), key=QueueEntry.sort_key)
        on_line = sb.callbacks.on_line
        for entry in order:  # _ring never adds or removes entries
            if not free:
                return
            if entry.legs or entry.retry_at > now or not entry.active:
                continue
            if entry.job is not None and entry.job.number in on_line:
                continue  # B4: not while the customer is on the line with us (call_ended)
            q = self.queues[entry.queue]
            index = q.index
            if len(free) * 4 < len(index):  # a few free agents: sort them
                cands = sorted([m for m in free if m in index], key=index.__getitem__)
            else:  # many: walk the members, already in order
                cands = [m for m in q.members if m in free]
            if not cands:
                continue
            tried = entry.tried
            fresh = [m for m in cands if m not in tried] if tried else cands
            if not fresh:
                # Every free agent was rung for this caller this round: pause, then go again.
                tried.clear()
                entry.retry_at = now + q.cfg.retry
                sb.later(entry.retry_at, self._wake)
                continue
            agents_by_id = sb.agents
            if q.one_penalty:
                agents = [agents_by_id[m] for m in fresh]
            else:
                penalty = q.penalty
                low = min(penalty[m] for m in fresh)
                agents = [agents_by_id[m] for m in fresh if penalty[m] == low]
            if q.ring_all:
                chosen = rank(q.strategy, agents, q.cursor, sb.rng)
            else:
                chosen = [best(q.strategy, agents, q.cursor, sb.rng)]
            self._ring(entry, q, chosen, now)
            free.difference_update(a.id for a in chosen)

    def _wake(self, now: float) -> None:
        self.dirty = True

    def _wake_at_next_minute(self, now: float) -> None:
        # Shifts start on whole minutes; while callers wait, check again at the next one.
        if self._shift_wake is not None and not self._shift_wake.cancelled:
            return
        if not any(q.entries for q in self.queues.values()):
            return
        self._shift_wake = self.sb.later((now // 60 + 1) * 60, self._shift_woke)

    def _shift_woke(self, now: float) -> None:
        self._shift_wake = None
        self.dirty = True

    def _ring(self, entry: QueueEntry, q: QueueRuntime, agents: list[AgentRuntime],
              now: float) -> None:
        sb = self.sb
        call, job = entry.call, entry.job
        owner: Call | CallbackJob = call if call is not None else job  # type: ignore[assignment]
        prefix = call.id if call is not None else (job.id if job is not None else "q")
        purpose = "queue" if call is not None else "callback_agent"
        tried = tuple([a.id for a in agents])
        skipped = self._skipped(q, entry, tried, now)  # before the rung agents change state
        targets = []
        for agent in agents:
            leg_id = f"{prefix}-L{sb.next_id()}"
            sb.legs[leg_id] = Leg(leg_id, "agent", agent.id, agent.id, owner, purpose)  # type: ignore[arg-type]
            entry.legs.append(leg_id)
            entry.tried.add(agent.id)
            sb.agent_states.set_state(agent, "ringing", now)
            agent.leg_id = leg_id
            targets.append(c.LegTarget(leg_id, "agent", agent.id, agent.id))
        q.cursor.last_rung = q.index[agents[-1].id]
        if job is not None:
            job.phase = "ringing_agent"
        caller_id = call.raw_caller if call is not None else (job.number if job else "")
        # One agent rung: their own ring timeout wins; ring-all uses the queue's (a callback
        # job's agents ring for missed.agent_timeout, M1).
        timeout = q.cfg.ring_timeout if call is not None else sb.config.missed.agent_timeout
        if len(agents) == 1 and agents[0].config.ring_timeout is not None:
            timeout = agents[0].config.ring_timeout
        sb.out.append(c.Ring(call.id if call else None, tuple(targets), caller_id, timeout,
                             None if call is not None or job is None else job.id))
        entry.ring_timer = sb.later(now + timeout, lambda t: self._ring_timed_out(entry, t))
        channel = call.id if call is not None else f"callback:{job.number}"  # type: ignore[union-attr]
        sb.out.append(c.Decision(channel, now, "queue",
                                 f"queue {q.name} ({q.strategy}): ring {', '.join(tried)}",
                                 None, tried, skipped))

    def _skipped(self, q: QueueRuntime, entry: QueueEntry, tried: tuple[str, ...],
                 now: float) -> tuple[tuple[str, str], ...]:
        """(member, why not rung) for every member of the queue not rung now (B1)."""
        sb = self.sb
        out = list(q.unavailable.items())
        index = q.index
        if not q.on_shifts and not entry.tried:  # the usual case, in one pass
            not_chosen = q.not_chosen
            out += [(m, not_chosen) for m in sb.free if m in index and m not in tried]
            return tuple(out)
        for m in sb.free:  # free members not rung now
            if m in index and m not in tried:
                why = (sb.agent_states.why_unavailable(sb.agents[m], now) if m in q.on_shifts
                       else None)
                if why is None:
                    why = "rung already this round" if m in entry.tried else q.not_chosen
                out.append((m, why))
        return tuple(out)

    def _ring_timed_out(self, entry: QueueEntry, now: float) -> None:
        if not entry.active or not entry.legs:
            return
        sb = self.sb
        legs, entry.legs = entry.legs, []
        rung = [(lid, sb.legs[lid].agent_id) for lid in legs if lid in sb.legs]
        names = [aid or lid for lid, aid in rung]
        channel = entry.call.id if entry.call is not None else f"callback:{entry.job.number}"  # type: ignore[union-attr]
        sb.decide(channel, now, "queue", f"no answer from {', '.join(names)}", tried=tuple(names))
        sb.cancel_legs(legs, now)
        for _, aid in rung:
            self.unanswered(aid, "no_answer", now)
        if entry.job is not None:
            entry.job.phase = "waiting"
        self.dirty = True

    def leg_answered(self, call: Call, leg: Leg, now: float) -> None:
        """An agent answered for a queued caller: cancel the others, whisper, bridge."""
        sb = self.sb
        entry = call.entry
        if entry is None or not entry.active:
            sb.out.append(c.Hangup(leg.id, "caller left the queue"))
            sb.free_leg(leg.id, now)
            return
        others = [lid for lid in entry.legs if lid != leg.id]
        entry.legs = [leg.id]
        sb.cancel_legs(others, now)
        if entry.ring_timer is not None:
            entry.ring_timer.cancel()
            entry.ring_timer = None
        agent = sb.agents[leg.agent_id or ""]
        sb.agent_states.set_state(agent, "talking", now)
        agent.leg_id = leg.id
        agent.talk_started = now
        sb.connect(call, leg, now, self.queues[entry.queue].cfg.whisper)

    def leg_failed(self, call: Call, leg: Leg, reason: str, now: float) -> None:
        entry = call.entry
        if entry is None:
            return
        if leg.id in entry.legs:
            entry.legs.remove(leg.id)
            self.sb.decide(call.id, now, "queue", f"{leg.agent_id}: {reason}")
            self.unanswered(leg.agent_id, reason, now)
        if not entry.legs:
            if entry.ring_timer is not None:
                entry.ring_timer.cancel()
                entry.ring_timer = None
            self.dirty = True
            if call.phase == "whisper":
                call.phase = "queued"
                self._exits_held_back(call, entry, now)

    def hold_exit_key(self, call: Call, digit: str) -> None:
        """The caller pressed a key while an agent hears the whisper: an agent is about to
        take the call, so the exit key waits for the whisper's end (see _exits_held_back)."""
        assert call.entry is not None
        key = self.queues[call.entry.queue].cfg.exit_key
        if key is not None and key.digit == digit:
            call.held_exit_key = digit

    def _exits_held_back(self, call: Call, entry: QueueEntry, now: float) -> None:
        """The whisper failed and the caller waits again: every way out of the queue that
        came while the agent heard it, and was held back then, is taken now. In order: the
        caller's own exit key, the max_wait deadline (its one-shot timer fired and is
        gone), the last member logging out with leave_when_empty. max_length and join_empty
        only apply when joining: the caller never left the queue."""
        q = self.queues[entry.queue]
        cfg = q.cfg
        digit, call.held_exit_key = call.held_exit_key, None
        if digit is not None:
            self.exit_key(call, digit, now)
        elif cfg.max_wait is not None and now >= (
                entry.joined if entry.entered is None else entry.entered) + cfg.max_wait:
            self._exit(call, "timeout", now)
        elif cfg.leave_when_empty and not self._anyone_logged_in(q):
            self._exit(call, "empty", now)

    def answered(self, call: Call, leg: Leg, now: float) -> None:
        """The bridge happened: the caller leaves the queue as answered."""
        entry = call.entry
        assert entry is not None
        q = self.queues[entry.queue]
        entry.legs = []
        self.leave(entry, "answered", now)
        call.entry = None
        call.held_exit_key = None  # pressed during the whisper: connected instead
        wait = now - entry.joined
        for est in q.estimators:
            est.observe_answered(wait)
        if leg.agent_id is not None:
            calls = q.cursor.calls_by_agent
            calls[leg.agent_id] = calls.get(leg.agent_id, 0) + 1

    def handled(self, name: str, agent: AgentRuntime, talk: float, wrapup: float) -> None:
        q = self.queues[name]
        talks = q.cursor.talk_by_agent
        talks[agent.id] = talks.get(agent.id, 0.0) + talk
        for est in q.estimators:
            est.observe_handled(talk + wrapup)

    # ------------------------------------------------------------------ estimated wait (B3)

    def estimate(self, entry: QueueEntry, now: float) -> dict[str, float]:
        """Each estimator's expected remaining wait for this entry (B3)."""
        sb = self.sb
        q = self.queues[entry.queue]
        free = 0
        busy: list[float] = []
        on_shift = sb.calendar.agent_on_shift
        for m in q.members:
            a = sb.agents[m]
            # As dispatch: only members who will take a call count (not on break, logged
            # out, unregistered or off shift); the others free up for nobody.
            if not a.registered or a.status != "available" or (
                    m in q.on_shifts and not on_shift(a.config, now)):
                continue
            if a.state in ("idle", "ringing"):
                # Ringing: about to take a caller ahead (or this one): free for that caller.
                # Resting (agents[].retry) too: back in seconds, where busy would add a
                # whole handling time (docs/routing.md).
                free += 1
            else:
                busy.append(now - a.talk_started)
        pos = self.position(entry)
        waited = now - entry.joined
        estimates = {est.name: est.estimate(pos, free, busy, waited) for est in q.estimators}
        # No agent serving at all: no honest estimate exists, so none is given.
        return {k: v for k, v in estimates.items() if v != float("inf")}
