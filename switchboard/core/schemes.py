"""The scheme interpreter (MISSION R3, W2-W4): a scheme's first matching rule, then its steps.

A call enters a scheme (the number's, an overflow's or a goto's); the first rule whose
conditions hold gives the steps, which run in order until one waits for the world (a ring,
a queue, a prompt). The step that waits calls ``advance`` again when its part is over; when
the steps run out the call is refused with the last exit reason.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from switchboard.config.model import (
    AddToListStep,
    CallbackStep,
    CrmOwnerStep,
    GotoStep,
    HangupStep,
    IvrStep,
    PlayStep,
    QueueStep,
    RejectStep,
    RingStep,
    VoicemailStep,
    WebhookStep,
)
from switchboard.core import commands as c
from switchboard.core.callbacks import dialable
from switchboard.core.rules import CallFacts
from switchboard.core.state import Call, Frame

if TYPE_CHECKING:
    from switchboard.core.switchboard import Switchboard

MAX_GOTOS = 20
# Steps one call may run without waiting for anything (time or the world): past it, the
# steps go round in a loop (a queue whose fallback joins it again while it is full).
MAX_STEPS_AT_ONCE = 200


class Schemes:
    """Matches a call's rule in a scheme and runs the rule's steps."""

    def __init__(self, sb: Switchboard) -> None:
        self.sb = sb

    def enter(self, call: Call, name: str, now: float) -> None:
        """Match the call against scheme ``name`` and start the matching rule's steps."""
        sb = self.sb
        call.gotos += 1
        scheme = sb.config.schemes.get(name)
        if scheme is None or call.gotos > MAX_GOTOS:
            why = f"scheme {name} unknown" if scheme is None else "too many gotos (a loop)"
            sb.decide(call.id, now, "rule", why)
            self._refuse(call, 480, "Temporarily Unavailable", "hangup", now)
            return
        facts = CallFacts(call.caller, call.raw_caller, call.dialed, call.known, call.entities)
        rule, passed = sb.matcher.first_match(scheme, facts, now)
        first_visit = call.gotos == 1
        if first_visit:
            sb.known.add(call.caller)
        if rule is None:
            sb.decide(
                call.id, now, "rule", f"no rule of scheme {name} matched",
                skipped=tuple(passed), details={"scheme": name},
            )
            self._refuse(call, 480, "Temporarily Unavailable", "hangup", now)
            return
        call.rule = rule.name
        call.rule_closed = rule.when.closed is not None
        sb.decide(
            call.id, now, "rule", f"scheme {name}: rule {rule.name} matched",
            rule=rule.name, skipped=tuple(passed), details={"scheme": name},
        )
        call.stack = [Frame(list(rule.steps), 0, f"{name}/{rule.name}")]
        self.advance(call, now)

    def _refuse(self, call: Call, code: int, reason: str, exit_reason: Any, now: float) -> None:
        sb = self.sb
        if call.answered:
            sb.out.append(c.Hangup(call.id, reason))
        else:
            sb.out.append(c.Reject(call.id, code, reason))
        if exit_reason == "rejected":
            sb.finish(call, "rejected", "rejected", now)
        elif call.informational:
            sb.finish(call, "completed", "informational", now)
        else:
            sb.finish(call, "missed", exit_reason, now)

    def advance(self, call: Call, now: float) -> None:
        """Run steps until one has to wait for the world, or the steps run out."""
        steps = 0
        while not call.ended:
            if not call.stack:
                self._end_of_steps(call, now)
                return
            frame = call.stack[-1]
            if frame.index >= len(frame.steps):
                call.stack.pop()
                continue
            steps += 1
            if steps > MAX_STEPS_AT_ONCE:
                sb = self.sb
                sb.decide(call.id, now, "end", f"{MAX_STEPS_AT_ONCE} steps without waiting "
                          f"for anything (a loop, last in {frame.label})")
                call.stack.clear()
                self._refuse(call, 480, "Temporarily Unavailable", call.last_exit or "hangup",
                             now)
                return
            step = frame.steps[frame.index]
            frame.index += 1
            call.phase = "routing"
            if self._run_step(call, step, now):
                return

    def _end_of_steps(self, call: Call, now: float) -> None:
        reason = call.last_exit or ("after_hours" if call.rule_closed else "hangup")
        self.sb.decide(call.id, now, "end", f"steps ran out: {reason}")
        self._refuse(call, 480, "Temporarily Unavailable", reason, now)

    def _run_step(self, call: Call, step: Any, now: float) -> bool:
        """Start one step. True when the call now waits for an event."""
        sb = self.sb
        if isinstance(step, QueueStep):
            return sb.queues.join(call, step.queue.name, step.queue.priority, now)
        if isinstance(step, PlayStep):
            call.phase = "playing"
            sb.play(call, tuple(c.Prompt(p) for p in step.play))
            return True
        if isinstance(step, RingStep):
            return sb.ringing.step(call, step.ring, now)
        if isinstance(step, VoicemailStep):
            sb.voicemail.start(call, step.voicemail, now)
            return True
        if isinstance(step, IvrStep):
            sb.ivr.start(call, step.ivr, now)
            return True
        if isinstance(step, GotoStep):
            call.stack = []
            sb.decide(call.id, now, "goto", f"go to scheme {step.goto}")
            self.enter(call, step.goto, now)
            return True
        if isinstance(step, RejectStep):
            sb.decide(call.id, now, "reject", f"reject {step.reject.code}", rule=call.rule)
            self._refuse(call, step.reject.code, step.reject.reason, "rejected", now)
            return True
        if isinstance(step, HangupStep):
            reason = call.last_exit or ("after_hours" if call.rule_closed else "hangup")
            sb.decide(call.id, now, "hangup", "scheme hangs up")
            self._refuse(call, 480, "Temporarily Unavailable", reason, now)
            return True
        if isinstance(step, CrmOwnerStep):
            return sb.lookups.ask_crm(call, step, now)
        if isinstance(step, WebhookStep):
            return sb.lookups.ask_webhook(call, step, now)
        if isinstance(step, AddToListStep):
            if sb.lists.add(step.add_to_list, call.caller):
                sb.out.append(c.AddToList(step.add_to_list, call.caller))
            sb.decide(call.id, now, "add_to_list", f"{call.caller} on list {step.add_to_list}")
            return False
        if isinstance(step, CallbackStep):
            if not dialable(call.caller):
                sb.decide(call.id, now, "callback",
                          "the number is withheld: nothing to call back, next step")
                return False
            sb.offer_callback(call, step.callback, now, call.arrived, 0, "callback step")
            return True
        raise TypeError(f"unknown step {step!r}")  # pragma: no cover - the model forbids it
