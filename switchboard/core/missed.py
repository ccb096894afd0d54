"""After a call (MISSION M1-M3, M5, B4): the missed/lost ledger and missed-call follow-ups.

A number is *lost* from its first missed call until it is served: answered when it calls
again, or connected by a callback. A missed call notifies, creates a CRM task and, when
configured, queues one auto-callback for the number.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from switchboard.core import commands as c
from switchboard.core.callbacks import dialable
from switchboard.core.state import Call

if TYPE_CHECKING:
    from switchboard.core.switchboard import Switchboard


class MissedCalls:
    """The lost-numbers ledger and what a missed call sets in motion."""

    def __init__(self, sb: Switchboard) -> None:
        self.sb = sb
        self.lost: set[str] = set()

    def served(self, number: str, now: float, why: str) -> None:
        """A number was served (answered, or called back): close its lost entry (M2)."""
        if number in self.lost:
            self.lost.discard(number)
            self.sb.out.append(c.LostChanged(number, "recovered", now, why))

    def follow_up(self, call: Call, reason: str, now: float) -> None:
        """M1-M3, M5: lost list, notifications, CRM task, auto-callback."""
        number = call.caller
        if not number:
            return
        missed = self.sb.config.missed
        # A withheld number (``anonymous``) cannot be called back: the missed call counts and
        # is notified, but it is no lost number to recover, no CRM task, no callback.
        reachable = dialable(number)
        if reachable and number not in self.lost:
            self.lost.add(number)
            self.sb.out.append(c.LostChanged(number, "lost", now, reason))
        payload: dict[str, object] = {
            "number": number, "dialed": call.dialed, "at": now, "reason": reason,
            "queue": call.last_queue, "waited": round(now - call.arrived, 1),
        }
        for target in missed.notify:
            self.sb.out.append(c.Notify(target, "missed_call", payload))
        # A message left (reason voicemail) gets its own task with the recording when it is
        # saved (VoicemailBoxes); a caller gone before the beep left none: task them here.
        if reachable and missed.crm_task and reason != "voicemail":
            self.sb.out.append(c.CreateCrmTask(
                number, call.crm_owner or missed.head_agent, now + missed.task_deadline,
                f"Call back {number}: missed call to {call.dialed}",
            ))
        if reachable and missed.auto_callback and reason != "callback":
            queue = missed.callback_queue or call.last_queue
            if queue is not None and queue in self.sb.config.queues:
                # After hours, call back when the callback slots open, not into the night.
                slots = self.sb.config.callback_slots
                at = None
                if slots.schedule is not None and not self.sb.calendar.is_open(slots.schedule, now):
                    opening = self.sb.calendar.next_open_slots(slots.schedule, now,
                                                            slots.slot_minutes, 1)
                    at = opening[0] if opening else None
                self.sb.callbacks.request(number, queue, now, now, missed.priority, "missed call",
                                       call.dialed, at)
