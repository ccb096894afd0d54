"""The asyncio driver: real loop, real (short) timers, commands routed by type."""

from __future__ import annotations

import asyncio
import random

from switchboard.core import commands as c
from switchboard.core import events as e
from switchboard.core.switchboard import Switchboard
from switchboard.runtime.driver import CoreDriver
from tests.core.harness import config

CFG = config("""
timezone: Europe/Kyiv
numbers: [{number: "100", scheme: main}]
agents: [{id: "201"}, {id: "202"}]
schemes: {main: {rules: [{name: all, steps: [{queue: q}]}]}}
queues:
  q: {members: ["201", "202"], strategy: linear, ring_timeout: 0.2, wrapup: 0,
      whisper: {wait_time: false, number_name: false}}
""")


def test_the_core_timer_fires_on_the_loop_and_handlers_get_their_commands() -> None:
    async def scenario() -> list[c.Command]:
        loop = asyncio.get_running_loop()
        driver = CoreDriver(Switchboard(CFG, random.Random(1)), loop)
        seen: list[c.Command] = []
        rings: list[c.Ring] = []
        driver.observers.append(seen.append)
        driver.on(c.Ring, rings.append)
        # A handler may feed events back while the driver is busy: they are queued.
        driver.on(c.CancelRing, lambda cmd: driver.feed(e.AgentStatusChanged("201", "break")))
        for agent in ("201", "202"):
            driver.feed(e.AgentRegistered(agent, True))
        driver.feed(e.CallArrived("c1", "100", "+380671111111"))
        assert [t.agent_id for t in rings[0].legs] == ["201"]
        await asyncio.sleep(0.35)  # 201 does not answer within 0.2 s: 202 is rung
        assert [t.agent_id for r in rings for t in r.legs] == ["201", "202"]
        driver.feed(e.LegAnswered(rings[1].legs[0].leg_id))
        driver.feed(e.CallerHungUp("c1"))
        driver.close()
        return seen

    seen = asyncio.run(asyncio.wait_for(scenario(), 5))
    finished = [x for x in seen if isinstance(x, c.CallFinished)]
    assert len(finished) == 1 and finished[0].agent_id == "202"
    assert any(isinstance(x, c.AgentStateChanged) and x.agent_id == "201" for x in seen)
