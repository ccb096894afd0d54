"""Ring steps (MISSION R4, R5): escalation chains, agents' mobiles, numbers over the trunk.

A ring step rings its targets at once (ring_all) or one after another (linear), each round
for the step's timeout; when nobody answers the call goes on to its next step.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from switchboard.config.model import RingTarget
from switchboard.core import commands as c
from switchboard.core.state import Call, Leg

if TYPE_CHECKING:
    from switchboard.core.switchboard import Switchboard


class Ringing:
    """Runs ring steps and the single-target rings of the CRM and webhook steps."""

    def __init__(self, sb: Switchboard) -> None:
        self.sb = sb

    def step(self, call: Call, target: RingTarget, now: float) -> bool:
        targets: list[tuple[str, str, str | None]] = []  # (kind, address, agent id)
        skipped: list[tuple[str, str]] = []
        agent_ids = list(target.agents)
        for group in target.groups:
            agent_ids += [a.id for a in self.sb.config.agents if group in a.groups]
        for aid in agent_ids:
            agent = self.sb.agents.get(aid)
            why = ("unknown agent" if agent is None
                   else self.sb.agent_states.why_unavailable(agent, now))
            if why is None:
                targets.append(("agent", aid, aid))
            else:
                skipped.append((aid, why))
        for aid in target.mobiles:
            agent = self.sb.agents.get(aid)
            if agent is None or not agent.config.mobile:
                skipped.append((aid, "no mobile number"))
            elif agent.state != "idle":
                skipped.append((aid, f"busy: {agent.state}"))
            else:
                targets.append(("number", agent.config.mobile, aid))
        targets += [("number", n, None) for n in target.numbers]
        unique: dict[tuple[str, str], tuple[str, str, str | None]] = {}
        for t in targets:
            unique.setdefault((t[0], t[1]), t)
        targets = list(unique.values())
        self.sb.decide(
            call.id, now, "ring",
            f"ring {', '.join(t[1] for t in targets) or 'nobody'} ({target.strategy}, "
            f"{target.timeout:g} s)",
            rule=call.rule, tried=tuple(t[1] for t in targets), skipped=tuple(skipped),
        )
        if not targets:
            return False
        call.ring_timeout = target.timeout
        call.ring_whisper = target.whisper
        if target.strategy == "linear":
            call.linear_targets = targets[1:]
            targets = targets[:1]
        self.ring(call, targets, target.timeout, now)
        return True

    def ring(self, call: Call, targets: list[tuple[str, str, str | None]], timeout: float,
             now: float) -> None:
        legs = []
        for kind, address, agent_id in targets:
            leg_id = f"{call.id}-L{self.sb.next_id()}"
            self.sb.legs[leg_id] = Leg(leg_id, kind, address, agent_id, call, "ring")  # type: ignore[arg-type]
            call.legs.append(leg_id)
            legs.append(c.LegTarget(leg_id, kind, address, agent_id))  # type: ignore[arg-type]
            if agent_id is not None:
                agent = self.sb.agents[agent_id]
                self.sb.agent_states.set_state(agent, "ringing", now)
                agent.leg_id = leg_id
        call.phase = "ringing"
        self.sb.out.append(c.Ring(call.id, tuple(legs), call.raw_caller, timeout))
        call.ring_timer = self.sb.later(now + timeout, lambda t: self._timed_out(call, t))

    def _timed_out(self, call: Call, now: float) -> None:
        if call.ended or not call.legs:
            return
        self.sb.decide(call.id, now, "ring", "no answer in time", tried=tuple(call.legs))
        legs, call.legs = call.legs, []
        self.sb.cancel_legs(legs, now)
        self.round_over(call, now)

    def round_over(self, call: Call, now: float) -> None:
        if call.ring_timer is not None:
            call.ring_timer.cancel()
            call.ring_timer = None
        while call.linear_targets:
            nxt = call.linear_targets.pop(0)
            agent = self.sb.agents.get(nxt[2] or "")
            # The next in line may have taken another call meanwhile: check again.
            why = None if agent is None else (
                self.sb.agent_states.why_unavailable(agent, now) if nxt[0] == "agent"
                else (None if agent.state == "idle" else f"busy: {agent.state}"))
            if why is not None:
                self.sb.decide(call.id, now, "ring", f"skip {nxt[1]}: {why}",
                               skipped=((nxt[1], why),))
                continue
            self.ring(call, [nxt], call.ring_timeout, now)
            return
        call.last_exit = "no_answer"
        self.sb.schemes.advance(call, now)

    def ring_one(self, call: Call, kind: str, address: str, agent_id: str | None,
                 timeout: float, now: float) -> None:
        call.ring_timeout = timeout
        call.ring_whisper = True
        self.ring(call, [(kind, address, agent_id)], timeout, now)
