"""Callbacks (MISSION M1, M6, B4): one job at a time per number, never duplicates.

A job waits in a queue like a caller (keeping the place of a caller who chose a callback).
When an agent is free it is rung first; once the agent answers, the customer is dialed and
the two are bridged. The job gives up at ``give_up_at``. If the customer calls in while an
agent is already waiting on the line for them, the inbound call goes straight to that agent.
A job for a chosen time that comes while the customer is on the line with us waits for
that call: answered, the job is cancelled (``Switchboard.bridge``); unanswered, it goes ahead.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from switchboard.core import commands as c
from switchboard.core import events as e
from switchboard.core.callerinfo import normalize
from switchboard.core.state import Call, CallbackJob, Leg

if TYPE_CHECKING:
    from switchboard.core.switchboard import Switchboard

RETRY_CUSTOMER = 60.0  # seconds before dialing a customer again who did not answer


def dialable(number: str) -> bool:
    """Whether a caller can be called back: a withheld number (``anonymous``) has no digit."""
    return any(ch.isdigit() for ch in number)


class CallbackManager:
    def __init__(self, sb: Switchboard) -> None:
        self.sb = sb
        self.jobs: dict[str, CallbackJob] = {}
        # Numbers with inbound calls in progress, and how many: a callback is not started
        # while its customer is on the line with us (B4).
        self.on_line: dict[str, int] = {}
        self.held: set[str] = set()  # numbers whose waiting job was held for their call

    def request(self, number: str, queue: str, now: float, joined: float, priority: int,
                reason: str, dialed: str, at: float | None = None) -> CallbackJob | None:
        """Create a callback job, unless one is already pending for the number (B4) or
        there is no number to call."""
        if not dialable(number) or number in self.jobs:
            return None
        sb = self.sb
        start = at if at is not None and at > now else now
        job = CallbackJob(f"cb{sb.next_id()}", number, queue,
                          start + sb.config.missed.give_up_after, reason, priority, dialed=dialed,
                          joined=joined if start <= now else start)
        self.jobs[number] = job
        if start > now:
            job.timers.append(sb.later(start, lambda t: self._time_came(job, t)))
        else:
            self._enqueue(job, joined, now)
        job.timers.append(sb.later(job.give_up_at, lambda t: self._give_up(job, t)))
        sb.decide(f"callback:{number}", now, "callback",
                  f"callback to {number} via queue {queue} ({reason})",
                  details={"give_up_at": job.give_up_at, "start": start})
        return job

    def _time_came(self, job: CallbackJob, now: float) -> None:
        """The chosen time of a scheduled job: wait in the queue, unless the customer is on
        the line with us; then their call decides (see ``call_ended``)."""
        if self.jobs.get(job.number) is not job or job.phase != "scheduled":
            return
        if self.on_line.get(job.number):
            self.sb.decide(f"callback:{job.number}", now, "callback",
                           f"the chosen time came while {job.number} is on the line: "
                           "calling back if that call ends unanswered")
            return
        self._enqueue(job, job.joined, now)

    def call_started(self, call: Call, now: float) -> None:
        """An inbound call arrived: its number is on the line until ``call_ended``. A job
        waiting in a queue for that number is not given an agent meanwhile (dispatch); one
        ringing an agent stops ringing and waits too."""
        number = call.caller
        if not number:
            return
        self.on_line[number] = self.on_line.get(number, 0) + 1
        job = self.jobs.get(number)
        if job is not None and job.phase in ("waiting", "ringing_agent") and (
                number not in self.held):
            self.held.add(number)
            entry = job.entry
            if job.phase == "ringing_agent" and entry is not None:
                # Answering, the agent would dial someone who is calling us: stop their ring.
                # Not the agent's doing, so no rest and not a try of this round.
                legs, entry.legs = entry.legs, []
                if entry.ring_timer is not None:
                    entry.ring_timer.cancel()
                    entry.ring_timer = None
                sb_legs = self.sb.legs
                entry.tried.difference_update(
                    sb_legs[lid].agent_id for lid in legs if lid in sb_legs)
                self.sb.cancel_legs(legs, now)
                job.phase = "waiting"
            self.sb.decide(f"callback:{number}", now, "callback",
                           f"held: {number} is on the line with us")

    def call_ended(self, call: Call, now: float) -> None:
        """An inbound call is over. A callback whose chosen time came meanwhile goes ahead
        now (had the call been answered, the job would have been cancelled then)."""
        number = call.caller
        if not number:
            return
        left = self.on_line.get(number, 0) - 1
        if left > 0:
            self.on_line[number] = left
            return
        self.on_line.pop(number, None)
        job = self.jobs.get(number)
        if job is not None and job.overdue:
            # The call that outlived the job's time ended unanswered: a new missed call, which
            # the job (one per number, B4) takes on with a fresh give-up time.
            job.overdue = False
            after = self.sb.config.missed.give_up_after
            job.give_up_at = now + after
            job.timers.append(self.sb.later(job.give_up_at, lambda t: self._give_up(job, t)))
            self.sb.decide(f"callback:{number}", now, "callback",
                           f"{number}'s call ended unanswered after the give-up time: the "
                           f"callback goes on, giving up {after:g} s from now",
                           details={"give_up_at": job.give_up_at})
        elif job is not None and job.phase == "waiting" and number in self.held:
            self.sb.decide(f"callback:{number}", now, "callback",
                           f"{number}'s call ended unanswered: the callback goes on")
        if job is not None and job.phase == "waiting":
            self.sb.queues.dirty = True  # dispatch skipped it while the customer was on
        self.held.discard(number)
        if job is None or job.phase != "scheduled" or now < job.joined:
            return
        self.sb.decide(f"callback:{number}", now, "callback",
                       f"{number}'s call ended unanswered: calling back as chosen")
        self._enqueue(job, job.joined, now)

    def _enqueue(self, job: CallbackJob, joined: float, now: float) -> None:
        if self.jobs.get(job.number) is not job:
            return
        job.phase = "waiting"
        self.sb.queues.add_job(job, joined, now)

    def on_requested(self, ev: e.CallbackRequested, now: float) -> None:
        """Website callback form (M6): at a chosen slot, or offer the next working slots."""
        sb = self.sb
        cfg = sb.config
        number = normalize(ev.number, cfg.country)
        slots = cfg.callback_slots
        queue = ev.queue or slots.queue or cfg.missed.callback_queue or next(iter(cfg.queues), None)
        channel = f"callback:{number}"
        if queue is None or queue not in cfg.queues:
            sb.decide(channel, now, "callback", f"no queue {queue} for callbacks")
            sb.out.append(c.OfferSlots(ev.request_id, ()))
            return
        at = ev.at if ev.at is not None else now
        if slots.schedule is not None and not sb.calendar.is_open(slots.schedule, at):
            offer = sb.calendar.next_open_slots(slots.schedule, max(now, at), slots.slot_minutes,
                                                slots.offer)
            sb.decide(channel, now, "callback", f"{slots.schedule} closed at the asked time: "
                      f"offering {len(offer)} slots")
            sb.out.append(c.OfferSlots(ev.request_id, tuple(offer)))
            return
        if self.request(number, queue, now, at, 0, "requested", "", at) is None:
            why = "a callback is already pending for this number" if dialable(number) else (
                "no number to call back")
            sb.decide(channel, now, "callback", why)

    def cancel_for(self, number: str, now: float, why: str) -> None:
        job = self.jobs.get(number)
        if job is not None and job.phase in ("scheduled", "waiting", "ringing_agent"):
            self.cancel(job, now, why)

    def cancel(self, job: CallbackJob, now: float, why: str) -> None:
        sb = self.sb
        self._close(job, now)
        sb.decide(f"callback:{job.number}", now, "callback", f"cancelled: {why}")
        sb.out.append(c.CallbackFinished(job.number, "cancelled", now, None, job.attempts))

    def _close(self, job: CallbackJob, now: float) -> None:
        sb = self.sb
        if self.jobs.get(job.number) is job:
            del self.jobs[job.number]
        for t in job.timers:
            t.cancel()
        if job.entry is not None and job.entry.active:
            sb.queues.leave(job.entry, "callback", now)
        legs = [lid for lid in (job.agent_leg, job.customer_leg) if lid]
        sb.cancel_legs(legs, now)

    def _give_up(self, job: CallbackJob, now: float) -> None:
        # A customer being dialled is let ring (an agent is on the line for them); if that
        # try fails, the job ends there instead of waiting again (see leg_hung_up and
        # _customer_missed).
        if self.jobs.get(job.number) is not job or job.phase in ("dialing_customer", "connected"):
            return
        if self.on_line.get(job.number):
            # Not "no agent in time": the customer is calling us. Their call decides: answered,
            # the job is cancelled; unanswered, it is a new missed call (see call_ended).
            job.overdue = True
            self.sb.decide(f"callback:{job.number}", now, "callback",
                           f"the give-up time came while {job.number} is on the line: "
                           "waiting for that call")
            return
        self._gave_up(job, now)

    def _gave_up(self, job: CallbackJob, now: float) -> None:
        sb = self.sb
        self._close(job, now)
        sb.decide(f"callback:{job.number}", now, "callback", "gave up: no agent in time")
        sb.out.append(c.CallbackFinished(job.number, "gave_up", now, None, job.attempts))
        self._notify_failed(job, now)

    def _notify_failed(self, job: CallbackJob, now: float) -> None:
        """People must know a callback did not reach the customer: the number stays lost."""
        sb = self.sb
        payload: dict[str, object] = {"number": job.number, "at": now, "reason": job.reason}
        for target in sb.config.missed.notify:
            sb.out.append(c.Notify(target, "callback_failed", payload))

    # ------------------------------------------------------------------ legs

    def leg_answered(self, leg: Leg, now: float) -> None:
        job = leg.owner
        assert isinstance(job, CallbackJob)
        sb = self.sb
        if self.jobs.get(job.number) is not job:
            sb.out.append(c.Hangup(leg.id, "callback cancelled"))
            sb.free_leg(leg.id, now)
            return
        if leg.purpose == "callback_agent":
            entry = job.entry
            if entry is not None:
                others = [lid for lid in entry.legs if lid != leg.id]
                entry.legs = []
                sb.cancel_legs(others, now)
                sb.queues.leave(entry, "answered", now)
                job.entry = None
            agent = sb.agents[leg.agent_id or ""]
            sb.agent_states.set_state(agent, "talking", now)
            agent.leg_id = leg.id
            agent.talk_started = now
            job.agent_leg = leg.id
            job.agent_id = agent.id
            self._dial_customer(job, now)
            return
        job.phase = "connected"
        for t in job.timers:
            t.cancel()
        sb.out.append(c.Bridge(job.agent_leg or "", leg.id))
        sb.decide(f"callback:{job.number}", now, "callback", f"{job.agent_id} connected to "
                  f"{job.number}", tried=(job.agent_id or "",))
        sb.out.append(c.CallbackFinished(job.number, "connected", now, job.agent_id,
                                         job.attempts + 1))
        sb.missed.served(job.number, now, "called back")

    def _dial_customer(self, job: CallbackJob, now: float) -> None:
        sb = self.sb
        job.phase = "dialing_customer"
        leg_id = f"{job.id}-L{sb.next_id()}"
        sb.legs[leg_id] = Leg(leg_id, "number", job.number, None, job, "callback_customer")
        job.customer_leg = leg_id
        timeout = sb.config.missed.customer_timeout
        caller_id = job.dialed or (sb.config.numbers[0].number if sb.config.numbers else "")
        sb.out.append(c.Ring(None, (c.LegTarget(leg_id, "number", job.number),), caller_id,
                             timeout, job.id))
        sb.decide(f"callback:{job.number}", now, "callback",
                  f"{job.agent_id} answered: dialing {job.number}")
        job.timers.append(sb.later(now + timeout, lambda t: self._customer_timeout(job, leg_id, t)))

    def _customer_timeout(self, job: CallbackJob, leg_id: str, now: float) -> None:
        if job.customer_leg != leg_id or job.phase != "dialing_customer":
            return
        self.sb.out.append(c.CancelRing((leg_id,)))
        self._customer_missed(job, "no_answer", now)

    def _customer_missed(self, job: CallbackJob, reason: str, now: float) -> None:
        sb = self.sb
        sb.legs.pop(job.customer_leg or "", None)
        job.customer_leg = None
        if job.agent_leg:
            sb.out.append(c.Hangup(job.agent_leg, "customer did not answer"))
            sb.legs.pop(job.agent_leg, None)
            agent = sb.agents.get(job.agent_id or "")
            if agent is not None:
                sb.agent_states.set_state(agent, "idle", now)
        job.agent_leg = None
        job.agent_id = None
        job.attempts += 1
        channel = f"callback:{job.number}"
        if now + RETRY_CUSTOMER < job.give_up_at:
            sb.decide(channel, now, "callback", f"customer {reason}: retry in {RETRY_CUSTOMER:g} s")
            job.phase = "waiting"
            job.timers.append(sb.later(now + RETRY_CUSTOMER,
                                       lambda t: self._enqueue(job, job.joined, t)))
            return
        self._close(job, now)
        sb.decide(channel, now, "callback", f"customer {reason}: giving up")
        sb.out.append(c.CallbackFinished(job.number, "customer_no_answer", now, None,
                                         job.attempts))
        self._notify_failed(job, now)

    def leg_failed(self, leg: Leg, reason: str, now: float) -> None:
        job = leg.owner
        assert isinstance(job, CallbackJob)
        sb = self.sb
        if leg.purpose == "callback_customer":
            if job.customer_leg == leg.id:
                self._customer_missed(job, reason, now)
            return
        sb.free_leg(leg.id, now)
        entry = job.entry
        if entry is not None and leg.id in entry.legs:
            entry.legs.remove(leg.id)
            sb.queues.unanswered(leg.agent_id, reason, now)
            if not entry.legs:
                if entry.ring_timer is not None:
                    entry.ring_timer.cancel()
                job.phase = "waiting"
                sb.queues.dirty = True

    def leg_hung_up(self, leg: Leg, now: float) -> None:
        job = leg.owner
        assert isinstance(job, CallbackJob)
        sb = self.sb
        if job.phase == "connected":
            other = job.customer_leg if leg.id == job.agent_leg else job.agent_leg
            if other:
                sb.out.append(c.Hangup(other, "other side hung up"))
            sb.legs.pop(job.agent_leg or "", None)
            sb.legs.pop(job.customer_leg or "", None)
            agent = sb.agents.get(job.agent_id or "")
            if agent is not None:
                wrapup = sb.queues.wrapup(job.queue, agent)
                sb.queues.handled(job.queue, agent, now - agent.talk_started, wrapup)
                sb.agent_states.done(agent, now, wrapup)
            if self.jobs.get(job.number) is job:
                del self.jobs[job.number]
            return
        if leg.id == job.agent_leg:  # the agent gave up while we dialed the customer
            if job.customer_leg:
                sb.out.append(c.CancelRing((job.customer_leg,)))
                sb.legs.pop(job.customer_leg, None)
                job.customer_leg = None
            sb.free_leg(leg.id, now)
            job.agent_leg = None
            job.agent_id = None
            job.phase = "waiting"
            if now >= job.give_up_at:  # the give-up timer came during the dial: end now
                self._gave_up(job, now)
                return
            sb.queues.add_job(job, job.joined, now)

    def whisper_done(self, leg: Leg, now: float) -> None:
        """Callbacks do not whisper today; kept so that a whisper end is never lost."""

    def take_over_waiting_agent(self, call: Call, now: float) -> bool:
        """The customer calls in while an agent waits on the line to call them: connect."""
        job = self.jobs.get(call.caller)
        if job is None or job.phase != "dialing_customer" or job.agent_leg is None:
            return False
        sb = self.sb
        leg = sb.legs.get(job.agent_leg)
        number = call.number
        if leg is None or number is None:
            return False
        # Taken even when the number's channels are all busy: the agent is reserved for this
        # customer, and the line our dial to them would take is given back just below.
        active = sb.active_by_number.get(call.dialed, 0)
        full = number.channels is not None and active >= number.channels
        if job.customer_leg:
            sb.out.append(c.CancelRing((job.customer_leg,)))
            sb.legs.pop(job.customer_leg, None)
        for t in job.timers:
            t.cancel()
        del self.jobs[job.number]
        leg.owner = call
        leg.purpose = "queue"
        call.queue = call.last_queue = job.queue
        call.queue_joined = now
        call.counted_channel = True
        sb.active_by_number[call.dialed] = active + 1
        sb.decide(call.id, now, "callback", f"{job.agent_id} was already calling {call.caller} "
                  "back: connected directly" + (
                      f" (all {number.channels} channels of {call.dialed} were busy; the dial "
                      "to the customer is cancelled instead)" if full else ""),
                  tried=(job.agent_id or "",))
        sb.out.append(c.CallbackFinished(job.number, "connected", now, job.agent_id,
                                         job.attempts + 1))
        sb.bridge(call, leg, now)
        return True
