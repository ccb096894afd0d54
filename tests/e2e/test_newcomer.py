"""Issue 3's "done when", as a newcomer meets it: `switchboard run` with its embedded demo,
two softphones registered with the accounts it prints (201, 202), a third phone calls the
demo number while both agents are busy, waits in the queue, and is bridged to the first
agent who hangs up (after the demo's 10 s wrap-up)."""

from __future__ import annotations

from pathlib import Path

from .sipp import (
    drains_at_once,
    events,
    finished,
    free_udp_port,
    register,
    start_agent,
    start_caller,
    stop,
    switchboard,
    wait_for,
)

WRAPUP = 10.0  # the demo queue's wrap-up (switchboard/examples/demo.yaml)


def test_the_third_caller_waits_and_gets_the_first_agent_who_hangs_up(tmp_path: Path) -> None:
    logs = {name: tmp_path / f"{name}.log" for name in ("201", "202", "a", "b", "c")}
    callers = {"a": "+380671110101", "b": "+380671110102", "c": "+380671110103"}
    with switchboard() as (port, proc):  # no --config: the demo
        ports = {agent: free_udp_port() for agent in ("201", "202")}
        phones = {agent: start_agent("agent_answers.xml", ports[agent], logs[agent], "-m",
                                     "2" if agent == "201" else "1", "-d", "200", timeout=90)
                  for agent in ports}
        calls = []
        try:
            for agent, contact in ports.items():
                register(agent, port, contact)  # the demo's password
            # A (greeting, queue, whisper) talks with the longest idle agent, 201, till 14 s
            # after its answer; B gets 202 and talks till 30 s; C then finds both busy.
            calls.append(start_caller(port, "100", callers["a"], logs["a"], 14000, timeout=90))
            wait_for(logs["201"], "ack", 1, timeout=15)
            calls.append(start_caller(port, "100", callers["b"], logs["b"], 30000, timeout=90))
            wait_for(logs["202"], "ack", 1, timeout=15)
            calls.append(start_caller(port, "100", callers["c"], logs["c"], 40000, timeout=90))
            for name, call in zip("abc", calls, strict=True):
                finished(call, f"caller {name}", timeout=90)
            for agent, phone in phones.items():
                finished(phone, f"agent {agent}", timeout=15)
        finally:
            stop(*phones.values(), *calls)
        drains_at_once(proc)

    rung_201 = events(logs["201"], "invite")
    rung_202 = events(logs["202"], "invite")
    assert [e["caller"] for e in rung_201] == [callers["a"], callers["c"]], rung_201
    assert [e["caller"] for e in rung_202] == [callers["b"]], rung_202
    c_answered = float(events(logs["c"], "answered")[0]["at"])
    a_bye = float(events(logs["a"], "bye")[0]["at"])
    b_bye = float(events(logs["b"], "bye")[0]["at"])
    c_rung = float(rung_201[1]["at"])
    assert c_answered < a_bye, "C was answered (music) and waited while both agents talked"
    assert a_bye + WRAPUP - 0.5 <= c_rung < a_bye + WRAPUP + 2.0, (
        "201, the first to hang up, gets C once its wrap-up is over")
    assert c_rung < b_bye, "202 was still busy with B: C went to the first agent free"
