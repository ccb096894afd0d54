"""IVR voice menus (MISSION R7): a prompt, digits, branches, retries and a timeout."""

from __future__ import annotations

from typing import TYPE_CHECKING

from switchboard.config.model import HangupStep, PlayStep
from switchboard.core import commands as c
from switchboard.core.state import Call, Frame

if TYPE_CHECKING:
    from switchboard.core.switchboard import Switchboard


class Ivr:
    """Runs the IVR menu a call is in."""

    def __init__(self, sb: Switchboard) -> None:
        self.sb = sb

    def start(self, call: Call, name: str, now: float) -> None:
        call.stack = []
        call.ivr = name
        call.ivr_tries = 0
        self.sb.decide(call.id, now, "ivr", f"menu {name}")
        if not call.collecting:
            self.sb.ensure_answered(call)
            call.collecting = True
            self.sb.out.append(c.CollectDigits(call.id))
        self._prompt(call, False)

    def _prompt(self, call: Call, invalid: bool) -> None:
        menu = self.sb.config.ivr[call.ivr or ""]
        prompts = ([menu.invalid_prompt] if invalid else []) + list(menu.prompt)
        self.sb.play(call, tuple(c.Prompt(p) for p in prompts))
        call.phase = "ivr"

    def wait_digit(self, call: Call, now: float) -> None:
        menu = self.sb.config.ivr[call.ivr or ""]
        call.digit_timer = self.sb.later(now + menu.timeout, lambda t: self._retry(call, t, None))

    def digit(self, call: Call, digit: str, now: float) -> None:
        menu = self.sb.config.ivr[call.ivr or ""]
        if call.digit_timer is not None:
            call.digit_timer.cancel()
        steps = menu.options.get(digit)
        if steps is None:
            self._retry(call, now, digit)
            return
        if call.wait_play:
            self.sb.out.append(c.StopPlay(call.id))
            call.wait_play = 0
        self.sb.decide(call.id, now, "ivr", f"menu {call.ivr}: pressed {digit}")
        call.ivr = None
        call.informational = all(isinstance(s, PlayStep | HangupStep) for s in steps)
        call.stack = [Frame(list(steps), 0, f"ivr/{digit}")]
        self.sb.schemes.advance(call, now)

    def _retry(self, call: Call, now: float, digit: str | None) -> None:
        if call.ended or call.ivr is None:
            return
        menu = self.sb.config.ivr[call.ivr]
        call.ivr_tries += 1
        what = "no digit" if digit is None else f"invalid digit {digit}"
        if call.ivr_tries > menu.retries:
            self.sb.decide(call.id, now, "ivr", f"menu {call.ivr}: {what}, out of retries")
            call.ivr = None
            call.stack = [Frame(list(menu.on_timeout), 0, "ivr/timeout")]
            self.sb.schemes.advance(call, now)
            return
        self.sb.decide(call.id, now, "ivr", f"menu {call.ivr}: {what}, repeat")
        if call.wait_play:
            self.sb.out.append(c.StopPlay(call.id))
        self._prompt(call, invalid=digit is not None)  # silence: just the menu again
