"""Ringing agents over real SIP: ring-all and its CANCELs, linear after a ring timeout,
escalation between ring steps, forwarding to a mobile over the trunk.

``switchboard run`` is a real process; agents and the mobile network are SIPp UAS processes
whose scenario logs (times from SIPp's clock) say who was rung, when, and who was cancelled.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from .sipp import (
    agents_yaml,
    drains_at_once,
    events,
    finished,
    free_udp_port,
    register_agent,
    start_agent,
    start_caller,
    stop,
    switchboard,
    write_config,
)

QUEUE_SCHEME = """\
numbers:
  - {number: "100", scheme: support}
schemes:
  support:
    rules:
      - name: everyone
        steps:
          - queue: support
"""


def _at(event: dict[str, str]) -> float:
    return float(event["at"])


def test_ring_all_rings_three_agents_and_cancels_the_two_who_do_not_answer(
        tmp_path: Path) -> None:
    config = write_config(tmp_path, QUEUE_SCHEME + agents_yaml("201", "202", "203") + """\
queues:
  support:
    strategy: ring_all
    members: ["201", "202", "203"]
    ring_timeout: 10
    wrapup: 0
    whisper: {wait_time: false, number_name: false}
""")
    logs = {a: tmp_path / f"agent{a}.log" for a in ("201", "202", "203")}
    ports = {a: free_udp_port() for a in logs}
    with switchboard(config) as (port, proc):
        # 201 answers after 600 ms of ringing: by then 202 and 203 ring too.
        answers = start_agent("agent_answers.xml", ports["201"], logs["201"], "-m", "1",
                              "-d", "600")
        rings = {a: start_agent("agent_rings.xml", ports[a], logs[a], "-m", "1")
                 for a in ("202", "203")}
        caller = None
        try:
            for agent, contact in ports.items():
                register_agent(agent, port, contact)
            caller = start_caller(port, "100", "+380671110001", tmp_path / "caller.log", 1000)
            finished(caller, "caller")
            finished(answers, "agent 201, who answers")
            for agent, ringing in rings.items():
                finished(ringing, f"agent {agent}, who must be cancelled")
        finally:
            stop(answers, *rings.values(), *([caller] if caller else []))
        drains_at_once(proc)

    invites = {a: events(log, "invite") for a, log in logs.items()}
    assert all(len(v) == 1 for v in invites.values()), invites
    assert {v[0]["caller"] for v in invites.values()} == {"+380671110001"}
    times = sorted(_at(v[0]) for v in invites.values())
    assert times[-1] - times[0] < 0.5, f"ring-all rings everyone at once: {invites}"
    answered = _at(events(logs["201"], "ack")[0])
    for agent in ("202", "203"):
        cancel = _at(events(logs[agent], "cancel")[0])
        assert answered - 0.2 < cancel < answered + 1.0, (
            f"{agent} is cancelled when 201 answers ({answered}), not at {cancel}")


LINEAR = {
    "queue": QUEUE_SCHEME + """\
queues:
  support:
    strategy: linear
    members: ["201", "202"]
    ring_timeout: 2
    wrapup: 0
    whisper: {wait_time: false, number_name: false}
""",
    "ring step": """\
numbers:
  - {number: "100", scheme: direct}
schemes:
  direct:
    rules:
      - name: one after the other
        steps:
          - ring: {agents: ["201", "202"], strategy: linear, timeout: 2, whisper: false}
""",
}


@pytest.mark.parametrize("where", list(LINEAR))
def test_linear_ringing_rings_the_next_agent_after_the_ring_timeout(
        tmp_path: Path, where: str) -> None:
    config = write_config(tmp_path, agents_yaml("201", "202") + LINEAR[where])
    first, second = tmp_path / "agent201.log", tmp_path / "agent202.log"
    with switchboard(config) as (port, proc):
        port201, port202 = free_udp_port(), free_udp_port()
        silent = start_agent("agent_rings.xml", port201, first, "-m", "1")
        answers = start_agent("agent_answers.xml", port202, second, "-m", "1")
        caller = None
        try:
            register_agent("201", port, port201)
            register_agent("202", port, port202)
            # Queued, the caller is answered at once (music) and waits: 2 s on 201, then
            # 202; in a ring step the caller is answered when 202 answers.
            caller = start_caller(port, "100", "+380671110002", tmp_path / "caller.log", 3500)
            finished(caller, "caller")
            finished(silent, "agent 201, who does not answer")
            finished(answers, "agent 202, who answers")
        finally:
            stop(silent, answers, *([caller] if caller else []))
        drains_at_once(proc)

    rung_201 = _at(events(first, "invite")[0])
    cancelled_201 = _at(events(first, "cancel")[0])
    rung_202 = _at(events(second, "invite")[0])
    assert 1.7 < cancelled_201 - rung_201 < 3.0, "201 rings for the 2 s ring timeout"
    assert 1.7 < rung_202 - rung_201 < 3.5, "then 202, the next in line, rings"
    assert rung_202 - cancelled_201 < 0.5


def test_escalation_rings_the_head_about_three_seconds_after_the_line_manager(
        tmp_path: Path) -> None:
    config = write_config(tmp_path, agents_yaml("301", "302") + """\
numbers:
  - {number: "100", scheme: escalate}
schemes:
  escalate:
    rules:
      - name: line manager, then the head
        steps:
          - ring: {agents: ["301"], timeout: 3}
          - ring: {agents: ["302"], timeout: 10}
""")
    manager, head = tmp_path / "manager.log", tmp_path / "head.log"
    caller_log = tmp_path / "caller.log"
    with switchboard(config) as (port, proc):
        manager_port, head_port = free_udp_port(), free_udp_port()
        silent = start_agent("agent_rings.xml", manager_port, manager, "-m", "1")
        answers = start_agent("agent_answers.xml", head_port, head, "-m", "1")
        caller = None
        try:
            register_agent("301", port, manager_port)
            register_agent("302", port, head_port)
            caller = start_caller(port, "100", "+380671110003", caller_log, 800)
            finished(caller, "caller")
            finished(silent, "line manager, who does not answer")
            finished(answers, "head, who answers")
        finally:
            stop(silent, answers, *([caller] if caller else []))
        drains_at_once(proc)

    manager_rung = _at(events(manager, "invite")[0])
    head_rung = _at(events(head, "invite")[0])
    assert 2.5 <= head_rung - manager_rung <= 5.0, head_rung - manager_rung
    assert _at(events(manager, "cancel")[0]) <= head_rung + 0.5
    # A ring step does not answer the caller: the 200 comes when the head answers.
    assert _at(events(caller_log, "answered")[0]) >= head_rung


@pytest.mark.parametrize("target", ["mobiles", "numbers"])
def test_a_ring_step_forwards_over_the_trunk_with_the_number_in_the_request_uri(
        tmp_path: Path, target: str) -> None:
    mobile, external = "+380501234567", "+380442223344"
    ring = '{mobiles: ["201"], timeout: 10}' if target == "mobiles" else (
        f'{{numbers: ["{external}"], timeout: 10}}')
    trunk_port = free_udp_port()
    config = write_config(tmp_path, agents_yaml("201", a201=mobile) + f"""\
numbers:
  - {{number: "100", scheme: forward}}
schemes:
  forward:
    rules:
      - name: to the mobile network
        steps:
          - ring: {ring}
""", trunk_port=trunk_port)
    network = tmp_path / "network.log"
    with switchboard(config) as (port, proc):
        # The mobile network behind the trunk: the agent's phone there answers.
        trunk = start_agent("agent_answers.xml", trunk_port, network, "-m", "1", "-d", "200")
        caller = None
        try:
            caller = start_caller(port, "100", "+380671110004", tmp_path / "caller.log", 800)
            finished(caller, "caller")
            finished(trunk, "the trunk's far end")
        finally:
            stop(trunk, *([caller] if caller else []))
        drains_at_once(proc)

    invite = events(network, "invite")
    assert len(invite) == 1, invite
    assert invite[0]["ruri"] == (mobile if target == "mobiles" else external)
    assert invite[0]["caller"] == "+380671110004", "the caller's number is passed on"


def test_a_caller_who_cancels_while_an_agent_rings_cancels_the_agent(tmp_path: Path) -> None:
    config = write_config(tmp_path, agents_yaml("201") + """\
numbers:
  - {number: "100", scheme: direct}
schemes:
  direct:
    rules:
      - name: ring the agent
        steps:
          - ring: {agents: ["201"], timeout: 20}
""")
    agent_log, caller_log = tmp_path / "agent.log", tmp_path / "caller.log"
    with switchboard(config) as (port, proc):
        agent_port = free_udp_port()
        ringing = start_agent("agent_rings.xml", agent_port, agent_log, "-m", "1")
        caller = None
        try:
            register_agent("201", port, agent_port)
            # A ring step does not answer the caller: giving up is a CANCEL (200, 487, ACK).
            caller = start_caller(port, "100", "+380671110005", caller_log, 1500,
                                  scenario="caller_cancels.xml")
            finished(caller, "caller who cancels")
            finished(ringing, "agent, who must get CANCEL", timeout=5)
        finally:
            stop(ringing, *([caller] if caller else []))
        drains_at_once(proc)

    cancelled = _at(events(caller_log, "cancel")[0])
    assert _at(events(agent_log, "invite")[0]) < cancelled
    assert cancelled <= _at(events(agent_log, "cancel")[0]) < cancelled + 1.0
