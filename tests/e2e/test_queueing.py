"""Waiting in a queue over real SIP: callers answered with music while every agent is busy,
served longest waiter first; a caller who hangs up while an agent rings; a number's channel
limit.

``switchboard run`` is a real process; callers and agents are SIPp processes whose scenario
logs (times from SIPp's clock) say who was answered, rung, cancelled and when.
"""

from __future__ import annotations

from pathlib import Path

from .sipp import (
    agents_yaml,
    drains_at_once,
    events,
    expect_refusal,
    finished,
    free_udp_port,
    register_agent,
    start_agent,
    start_caller,
    stop,
    switchboard,
    wait_for,
    write_config,
)

ONE_AGENT_QUEUE = """\
numbers:
  - {number: "100", scheme: support}
schemes:
  support:
    rules:
      - name: everyone
        steps:
          - queue: support
queues:
  support:
    strategy: longest_idle
    members: ["201"]
    ring_timeout: 20
    wrapup: 0
    whisper: {wait_time: false, number_name: false}
"""


def _at(event: dict[str, str]) -> float:
    return float(event["at"])


def test_callers_wait_answered_while_the_agent_is_busy_and_the_longest_waiter_goes_first(
        tmp_path: Path) -> None:
    config = write_config(tmp_path, ONE_AGENT_QUEUE + agents_yaml("201"))
    agent_log = tmp_path / "agent.log"
    logs = {name: tmp_path / f"caller_{name}.log" for name in ("a", "b", "c")}
    numbers = {"a": "+380671110011", "b": "+380671110012", "c": "+380671110013"}
    with switchboard(config) as (port, proc):
        agent_port = free_udp_port()
        agent = start_agent("agent_answers.xml", agent_port, agent_log, "-m", "3")
        callers = []
        try:
            register_agent("201", port, agent_port)
            # A talks to the agent for about 3 s. B, then C call while the agent is busy:
            # both must be answered (music), not refused busy, and wait.
            callers.append(start_caller(port, "100", numbers["a"], logs["a"], 3000))
            wait_for(agent_log, "ack", 1, timeout=5)
            callers.append(start_caller(port, "100", numbers["b"], logs["b"], 4000))
            wait_for(logs["b"], "answered", 1, timeout=3)
            callers.append(start_caller(port, "100", numbers["c"], logs["c"], 6500))
            for name, caller in zip("abc", callers, strict=True):
                finished(caller, f"caller {name}")
            finished(agent, "agent", timeout=10)
        finally:
            stop(agent, *callers)
        drains_at_once(proc)

    rung = events(agent_log, "invite")
    assert [e["caller"] for e in rung] == [numbers["a"], numbers["b"], numbers["c"]], (
        f"the agent gets A, then B (who waited longest), then C: {rung}")
    a_bye = _at(events(logs["a"], "bye")[0])
    b_answered = _at(events(logs["b"], "answered")[0])
    c_answered = _at(events(logs["c"], "answered")[0])
    assert b_answered < c_answered < a_bye, "B and C were answered while A still talked"
    b_rung, c_rung = _at(rung[1]), _at(rung[2])
    assert a_bye <= b_rung < a_bye + 1.0, "the agent freed by A's hang-up gets B at once"
    assert _at(events(logs["b"], "bye")[0]) <= c_rung, "C waits until B is done"


def test_a_caller_who_hangs_up_while_queued_cancels_the_ringing_agent(tmp_path: Path) -> None:
    config = write_config(tmp_path, ONE_AGENT_QUEUE + agents_yaml("201"))
    rings_log, answers_log = tmp_path / "agent_rings.log", tmp_path / "agent_answers.log"
    gone_log = tmp_path / "caller_gone.log"
    with switchboard(config) as (port, proc):
        agent_port = free_udp_port()
        ringing = start_agent("agent_rings.xml", agent_port, rings_log, "-m", "1")
        procs = [ringing]
        try:
            register_agent("201", port, agent_port)
            # Answered with music, the agent rings (20 s ring timeout), the caller gives up.
            gone = start_caller(port, "100", "+380671110021", gone_log, 1500)
            procs.append(gone)
            finished(gone, "caller who gives up")
            finished(ringing, "agent, who must get CANCEL", timeout=5)
            # No hung dialog: the same agent is idle again and takes the next call.
            answers = start_agent("agent_answers.xml", agent_port, answers_log, "-m", "1")
            procs.append(answers)
            served = start_caller(port, "100", "+380671110022", tmp_path / "served.log", 500)
            procs.append(served)
            finished(served, "next caller")
            finished(answers, "agent on the next call", timeout=5)
        finally:
            stop(*procs)
        drains_at_once(proc)

    bye = _at(events(gone_log, "bye")[0])
    cancel = _at(events(rings_log, "cancel")[0])
    assert _at(events(rings_log, "invite")[0]) < bye, "the agent rang while the caller waited"
    assert bye <= cancel < bye + 1.0, "the caller's BYE cancels the agent's ringing at once"
    assert [e["caller"] for e in events(answers_log, "invite")] == ["+380671110022"]


def test_a_caller_who_hangs_up_while_waiting_with_every_agent_busy_is_never_rung(
        tmp_path: Path) -> None:
    config = write_config(tmp_path, ONE_AGENT_QUEUE + agents_yaml("201"))
    agent_log = tmp_path / "agent.log"
    logs = {name: tmp_path / f"caller_{name}.log" for name in ("a", "b", "c")}
    numbers = {"a": "+380671110031", "b": "+380671110032", "c": "+380671110033"}
    with switchboard(config) as (port, proc):
        agent_port = free_udp_port()
        agent = start_agent("agent_answers.xml", agent_port, agent_log, "-m", "2")
        callers = []
        try:
            register_agent("201", port, agent_port)
            # A talks for about 3 s; B waits 1 s (music) and hangs up; C waits for the agent
            # (C hangs up 6 s after its answer, so about 3 s after it reached the agent).
            callers.append(start_caller(port, "100", numbers["a"], logs["a"], 3000))
            wait_for(agent_log, "ack", 1, timeout=5)
            callers.append(start_caller(port, "100", numbers["b"], logs["b"], 1000))
            finished(callers[-1], "caller b, who gives up while waiting")
            callers.append(start_caller(port, "100", numbers["c"], logs["c"], 6000))
            for name, caller in zip("ac", (callers[0], callers[2]), strict=True):
                finished(caller, f"caller {name}")
            finished(agent, "agent", timeout=10)
        finally:
            stop(agent, *callers)
        drains_at_once(proc)

    rung = [e["caller"] for e in events(agent_log, "invite")]
    assert rung == [numbers["a"], numbers["c"]], f"B left the queue: never rung ({rung})"


def test_the_fourth_call_on_a_three_channel_number_is_refused_486(tmp_path: Path) -> None:
    # No agent registers: accepted calls wait in the queue with music, holding a channel.
    config = write_config(tmp_path, agents_yaml("201") + """\
numbers:
  - {number: "100", scheme: support, channels: 3}
schemes:
  support:
    rules:
      - name: everyone
        steps:
          - queue: support
queues:
  support:
    members: ["201"]
    wrapup: 0
""")
    waiting_log = tmp_path / "waiting.log"
    with switchboard(config) as (port, proc):
        waiting = start_caller(port, "100", "+380671110031", waiting_log, 3000,
                               "-m", "3", "-l", "3", "-r", "20")
        later = None
        try:
            wait_for(waiting_log, "answered", 3, timeout=5)
            expect_refusal(port, "100", 486, tmp_path)
            finished(waiting, "three callers within the limit")
            # Their channels are free again: a new call is answered.
            later = start_caller(port, "100", "+380671110032", tmp_path / "later.log", 200)
            finished(later, "a caller after the others hung up")
        finally:
            stop(waiting, *([later] if later else []))
        output = drains_at_once(proc)
    # Counted (Q9, P4): the exhaustion is recorded, here in the server's log.
    assert output.count("channels exhausted: all 3 channels of 100 busy") == 1, output[-3000:]
