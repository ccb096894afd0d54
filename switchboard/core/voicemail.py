"""Voicemail (MISSION M4): greeting, beep, recording, notification with the link, CRM task."""

from __future__ import annotations

from typing import TYPE_CHECKING

from switchboard.config.model import Voicemail
from switchboard.core import commands as c
from switchboard.core import events as e
from switchboard.core.state import Call

if TYPE_CHECKING:
    from switchboard.core.switchboard import Switchboard


class VoicemailBoxes:
    """Takes messages for the config's voicemail boxes."""

    def __init__(self, sb: Switchboard) -> None:
        self.sb = sb

    def start(self, call: Call, box_name: str, now: float) -> None:
        box = self.sb.config.voicemail.get(box_name) or Voicemail()
        call.voicemail = box_name
        self.sb.decide(call.id, now, "voicemail", f"voicemail box {box_name}")
        self.sb.play(call, (*(c.Prompt(p) for p in box.greeting), c.Prompt("voicemail_beep")))
        call.phase = "vm_greeting"

    def record(self, call: Call, now: float) -> None:
        box = self.sb.config.voicemail.get(call.voicemail or "") or Voicemail()
        call.phase = "recording"
        self.sb.out.append(c.Record(call.id, "voicemail", box.max_length, call.voicemail))
        call.timers.append(self.sb.later(now + box.max_length + 2, lambda t: self._over(call, t)))

    def _over(self, call: Call, now: float) -> None:
        if not call.ended and call.phase == "recording":
            self.sb.out.append(c.Hangup(call.id, "voicemail full"))
            self.sb.pending_voicemail[call.id] = call
            self.sb.finish(call, "missed", "voicemail", now)

    def on_recording_saved(self, ev: e.RecordingSaved, now: float) -> None:
        if ev.kind != "voicemail":
            return
        call = self.sb.pending_voicemail.pop(ev.channel_id, None)
        if call is None:
            live = self.sb.calls.get(ev.channel_id)
            if live is None or live.phase != "recording":
                return
            self.sb.out.append(c.Hangup(live.id, "voicemail saved"))
            self.sb.finish(live, "missed", "voicemail", now)
            call = live
        box = self.sb.config.voicemail.get(call.voicemail or "") or Voicemail()
        payload: dict[str, object] = {
            "number": call.caller, "dialed": call.dialed, "url": ev.url,
            "duration": round(ev.duration, 1), "at": now, "box": call.voicemail,
        }
        for target in box.notify:
            self.sb.out.append(c.Notify(target, "voicemail", payload))
        if box.crm_task:
            self.sb.out.append(c.CreateCrmTask(
                call.caller, call.crm_owner or self.sb.config.missed.head_agent,
                now + self.sb.config.missed.task_deadline, f"Call back {call.caller}: voicemail",
                ev.url,
            ))
