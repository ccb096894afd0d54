"""Agents' availability (MISSION W5, DESIGN.md): status, registration, state and rests.

An agent's *status* is set by a person (available, break, offline) and comes in as
``AgentStatusChanged``; whether a phone is registered comes as ``AgentRegistered``; the
*state* is set by the core (idle, ringing, talking, wrapup). From these, and from a rest after
an unanswered queue ring, this module keeps each agent's reason for not taking a call (None:
free) and the Switchboard's ``free`` set in step, and tells why an agent cannot be rung.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from switchboard.core import commands as c
from switchboard.core import events as e
from switchboard.core.state import AgentRuntime

if TYPE_CHECKING:
    from switchboard.core.switchboard import Switchboard


class AgentStates:
    """Moves agents between states and keeps who is free up to date."""

    def __init__(self, sb: Switchboard) -> None:
        self.sb = sb

    def set_state(self, agent: AgentRuntime, state: Any, now: float) -> None:
        previous = agent.state
        if previous == state:
            return
        agent.state = state
        if state == "idle":
            if previous != "ringing":
                # Idle since the end of the last call (Asterisk's leastrecent): a ring left
                # unanswered or won by another agent does not restart the count.
                agent.idle_since = now
            agent.leg_id = None
            self.sb.queues.dirty = True
        self._refresh(agent)
        self.sb.out.append(c.AgentStateChanged(agent.id, state, now))

    def _refresh(self, agent: AgentRuntime) -> None:
        """Keep ``free`` and the agent's cached reason in step with its status and state."""
        if not agent.registered:
            agent.reason = "not registered"
        elif agent.status != "available":
            agent.reason = "on break" if agent.status == "break" else "logged out"
        elif agent.state != "idle":
            agent.reason = agent.state
        elif agent.resting is not None:
            agent.reason = agent.resting
        else:
            agent.reason = None
        self.sb.queues.agent_changed(agent)
        if agent.reason is None:
            self.sb.free.add(agent.id)
        else:
            self.sb.free.discard(agent.id)

    def why_unavailable(self, agent: AgentRuntime, now: float) -> str | None:
        """None when the agent can take a call now, else why not (for Decisions)."""
        if agent.reason is not None:
            return agent.reason
        if agent.config.schedule is not None and not self.sb.calendar.agent_on_shift(
            agent.config, now
        ):
            return "outside shift"
        return None

    def done(self, agent: AgentRuntime, now: float, wrapup: float) -> None:
        """An agent's call ended: wrap-up, then idle."""
        if wrapup > 0:
            self.set_state(agent, "wrapup", now)
            agent.leg_id = None
            self.sb.later(now + wrapup, lambda t: self.set_state(agent, "idle", t))
        else:
            self.set_state(agent, "idle", now)

    def rest(self, agent: AgentRuntime, seconds: float, why: str, now: float) -> None:
        """The agent is not rung for ``seconds`` (skipped with ``why``); then dispatch."""
        if agent.rest_timer is not None:
            agent.rest_timer.cancel()
        agent.resting = why
        agent.rest_timer = self.sb.later(now + seconds, lambda t: self._rested(agent))
        self._refresh(agent)

    def _rested(self, agent: AgentRuntime) -> None:
        agent.resting = None
        agent.rest_timer = None
        self._refresh(agent)
        self.sb.queues.dirty = True  # waiting callers may get this agent now

    def on_status_changed(self, ev: e.AgentStatusChanged, now: float) -> None:
        agent = self.sb.agents.get(ev.agent_id)
        if agent is None:
            return
        agent.status = ev.status
        self._refresh(agent)
        self.sb.queues.dirty = True
        if ev.status == "offline":
            self.sb.queues.check_empty(now)

    def on_registered(self, ev: e.AgentRegistered, now: float) -> None:
        agent = self.sb.agents.get(ev.agent_id)
        if agent is None:
            return
        agent.registered = ev.registered
        self._refresh(agent)
        self.sb.queues.dirty = True
        if not ev.registered:
            self.sb.queues.check_empty(now)
