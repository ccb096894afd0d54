"""Test helpers: build a config from YAML text, drive a Switchboard, pick commands by type."""

from __future__ import annotations

import random
import textwrap
from typing import Any, TypeVar

from ruamel.yaml import YAML

from switchboard.config.model import Config
from switchboard.core import commands as c
from switchboard.core import events as e
from switchboard.core.switchboard import Switchboard

T = TypeVar("T")

# Monday 2026-11-23 10:00 Europe/Kyiv (UTC+2) = 08:00 UTC.
MONDAY_10 = 1795420800.0


def config(text: str) -> Config:
    data = YAML(typ="safe").load(textwrap.dedent(text))
    return Config.model_validate(data)


def of(kind: type[T], cmds: list[c.Command]) -> list[T]:
    return [x for x in cmds if isinstance(x, kind)]


def one(kind: type[T], cmds: list[c.Command]) -> T:
    found = of(kind, cmds)
    assert len(found) == 1, f"expected one {kind.__name__}, got {found}\nall: {cmds}"
    return found[0]


def kinds(cmds: list[c.Command], skip_records: bool = True) -> list[str]:
    """Command type names, without the observer records (Decision, AgentStateChanged)."""
    records = (c.Decision, c.AgentStateChanged, c.EtaEstimated, c.QueueExited)
    return [type(x).__name__ for x in cmds if not (skip_records and isinstance(x, records))]


class Driver:
    """A Switchboard plus the time; every call returns the commands of that step."""

    def __init__(self, cfg: Config, now: float = MONDAY_10, seed: int = 1,
                 register: bool = True) -> None:
        self.sb = Switchboard(cfg, random.Random(seed))
        self.now = now
        self.log: list[c.Command] = []
        if register:
            for a in cfg.agents:
                self.send(e.AgentRegistered(a.id, True))

    def send(self, event: Any, at: float | None = None) -> list[c.Command]:
        if at is not None:
            self.now = at
        out = self.sb.handle(event, self.now)
        self.log += out
        return out

    def advance(self, seconds: float) -> list[c.Command]:
        """Let time pass, firing due timers in order."""
        end = self.now + seconds
        out: list[c.Command] = []
        while (d := self.sb.next_deadline()) is not None and d <= end:
            self.now = max(self.now, d)
            out += self.sb.on_timer(self.now)
        self.now = end
        self.log += out
        return out

    def arrive(self, call_id: str, caller: str = "+380671111111", dialed: str = "100",
               **entities: str) -> list[c.Command]:
        return self.send(e.CallArrived(call_id, dialed, caller, dict(entities)))

    def ringing(self, out: list[c.Command] | None = None) -> dict[str, str]:
        """agent id -> leg id for legs rung in ``out`` (default: the whole log)."""
        return {t.agent_id or t.address: t.leg_id
                for r in of(c.Ring, self.log if out is None else out) for t in r.legs}

    def finish_prompt(self, channel: str, out: list[c.Command]) -> list[c.Command]:
        plays = [p for p in of(c.Play, out) if p.channel_id == channel and not p.loop]
        assert plays, f"no prompt playing on {channel}: {out}"
        return self.send(e.PromptFinished(channel, plays[-1].play_id))

    def answer(self, leg_id: str) -> list[c.Command]:
        """The leg answers; the whisper (if any) finishes: returns both steps' commands."""
        out = self.send(e.LegAnswered(leg_id))
        whispers = [w for w in of(c.Whisper, out) if w.leg_id == leg_id]
        if whispers:
            out += self.send(e.PromptFinished(leg_id, whispers[0].play_id))
        return out
