"""Slow questions to the outside (MISSION R1, R6): the CRM's deal owner, the routing webhook.

Each is a command whose answer comes back as an event; a timer moves the call on when the
answer is late, and a late answer is ignored (matched by request id).
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from switchboard.config.model import CrmOwnerStep, WebhookStep
from switchboard.core import commands as c
from switchboard.core import events as e
from switchboard.core.state import Call

if TYPE_CHECKING:
    from switchboard.core.switchboard import Switchboard

_PHONE = re.compile(r"^\+?[0-9]{3,20}$")
# What a peer's reply may put in a Decision (the call's history): a name cut to this
# length, this many keys of an unusable reply. The reply itself may be 64 KiB.
_SHOWN_CHARS = 80
_SHOWN_KEYS = 10


def _shown(value: object) -> str:
    text = str(value)
    return text if len(text) <= _SHOWN_CHARS else text[: _SHOWN_CHARS - 1] + "…"


class Lookups:
    """CRM owner lookups and routing webhooks for calls in those steps."""

    def __init__(self, sb: Switchboard) -> None:
        self.sb = sb

    def ask_crm(self, call: Call, step: CrmOwnerStep, now: float) -> bool:
        crm = self.sb.config.crm
        if crm is None:
            self.sb.decide(call.id, now, "crm_owner", "no crm configured: skipped")
            return False
        req = self.sb.next_id()
        call.request_id = req
        call.ring_timeout = step.crm_owner.ring_timeout
        call.phase = "crm_owner"  # also the Decision step of its timeout / failure
        self.sb.out.append(c.LookupCrmOwner(call.id, req, call.caller, step.crm_owner.timeout))
        call.request_timer = self.sb.later(
            now + step.crm_owner.timeout, lambda t: self._request_timed_out(call, req, t)
        )
        return True

    def ask_webhook(self, call: Call, step: WebhookStep, now: float) -> bool:
        endpoint = self.sb.config.webhooks.get(step.webhook.endpoint)
        url = endpoint.url if endpoint is not None else step.webhook.endpoint
        req = self.sb.next_id()
        call.request_id = req
        call.ring_timeout = step.webhook.ring_timeout
        call.phase = "webhook"
        number = call.number
        payload: dict[str, object] = {
            "call_id": call.id, "caller": call.caller, "dialed": call.dialed,
            "number_name": number.name if number else "", "entities": dict(call.entities),
            "known_caller": call.known, "at": now,
        }
        self.sb.out.append(c.AskWebhook(call.id, req, url, payload, step.webhook.timeout))
        call.request_timer = self.sb.later(
            now + step.webhook.timeout, lambda t: self._request_timed_out(call, req, t)
        )
        return True

    def _take_reply(self, call_id: str, request_id: int) -> Call | None:
        call = self.sb.calls.get(call_id)
        if call is None or call.ended or call.request_id != request_id or request_id == 0:
            return None  # late or unknown answer: the timeout already moved the call on
        call.request_id = 0
        if call.request_timer is not None:
            call.request_timer.cancel()
            call.request_timer = None
        return call

    def _request_timed_out(self, call: Call, req: int, now: float) -> None:
        if call.ended or call.request_id != req:
            return
        call.request_id = 0
        self.sb.decide(call.id, now, call.phase, f"{call.phase} timed out: next step")
        self.sb.schemes.advance(call, now)

    def on_request_failed(self, ev: e.WebhookFailed | e.CrmLookupFailed, now: float) -> None:
        call = self._take_reply(ev.call_id, ev.request_id)
        if call is None:
            return
        self.sb.decide(call.id, now, call.phase, f"{call.phase} failed ({ev.reason}): next step")
        self.sb.schemes.advance(call, now)

    def on_crm_owner(self, ev: e.CrmOwnerFound, now: float) -> None:
        call = self._take_reply(ev.call_id, ev.request_id)
        if call is None:
            return
        call.crm_owner = ev.agent_id
        self._ring_named_agent(call, ev.agent_id, "crm_owner", now)

    def _ring_named_agent(self, call: Call, agent_id: str | None, step: str, now: float) -> None:
        agent = self.sb.agents.get(agent_id or "")
        why = "no owner" if agent_id is None else (
            "unknown agent" if agent is None else self.sb.agent_states.why_unavailable(agent, now))
        if why is not None or agent is None:
            named = _shown(agent_id) if agent_id else "nobody"
            self.sb.decide(call.id, now, step, f"{named}: {why}: next step",
                           skipped=((named if agent_id else "-", why or ""),))
            self.sb.schemes.advance(call, now)
            return
        self.sb.decide(call.id, now, step, f"ring {agent.id}", tried=(agent.id,))
        self.sb.ringing.ring_one(call, "agent", agent.id, agent.id, call.ring_timeout, now)

    def on_webhook_answered(self, ev: e.WebhookAnswered, now: float) -> None:
        call = self._take_reply(ev.call_id, ev.request_id)
        if call is None:
            return
        target = ev.target if isinstance(ev.target, dict) else {}
        agent, number, scheme = target.get("agent"), target.get("number"), target.get("scheme")
        if isinstance(agent, str | int) and not isinstance(agent, bool):
            self._ring_named_agent(call, str(agent), "webhook", now)
        elif isinstance(number, str) and _PHONE.match(number.replace(" ", "")):
            self.sb.decide(call.id, now, "webhook", f"ring number {number}", tried=(number,))
            self.sb.ringing.ring_one(call, "number", number.replace(" ", ""), None,
                                     call.ring_timeout, now)
        elif isinstance(scheme, str) and scheme in self.sb.config.schemes:
            self.sb.decide(call.id, now, "webhook", f"go to scheme {scheme}")
            call.stack = []
            self.sb.schemes.enter(call, scheme, now)
        else:
            shown = {_shown(k): _shown(v) for k, v in list(target.items())[:_SHOWN_KEYS]}
            self.sb.decide(call.id, now, "webhook", "reply names no agent, number or known "
                           "scheme: next step", details={"reply": shown, "keys": len(target)})
            self.sb.schemes.advance(call, now)
