"""When media cannot be had, calls end well over real SIP: a caller for whom no RTP port is
free gets 503, an agent's leg with no port fails at once (the core tries again), a dead
rtpengine refuses calls with 503 instead of stopping the server; after each, calls go on.

``switchboard run`` is a real process with a tiny ``media.rtp_ports`` range; callers and
agents are SIPp processes (see test_queueing.py).
"""

from __future__ import annotations

import re
import subprocess
import sys
import time
from pathlib import Path

from ..rtpengine import RunningRtpEngine
from .sipp import (
    agents_yaml,
    drains_at_once,
    events,
    expect_refusal,
    finished,
    free_media_port,
    free_udp_port,
    options_ok,
    register_agent,
    start_agent,
    start_caller,
    stop,
    switchboard,
    wait_for,
    write_config,
)
from .test_queueing import ONE_AGENT_QUEUE


def queue_config(rtp_ports: tuple[int, int] | None, media: str = "") -> str:
    """test_queueing's one-agent queue, ringing again 1 s after every free agent was tried,
    with the given RTP range or ``media:`` section."""
    if rtp_ports is not None:
        media = f"\nmedia:\n  rtp_ports: [{rtp_ports[0]}, {rtp_ports[1]}]\n"
    queue = ONE_AGENT_QUEUE.replace("    wrapup: 0\n", "    retry: 1\n    wrapup: 0\n")
    assert queue != ONE_AGENT_QUEUE
    return agents_yaml("201") + queue + media


def _at(event: dict[str, str]) -> float:
    return float(event["at"])


def test_a_caller_with_no_free_rtp_port_gets_503_and_the_next_caller_is_answered(
        tmp_path: Path) -> None:
    first = free_media_port()  # four free ports from here: one RTP/RTCP pair is the range
    config = write_config(tmp_path, queue_config((first, first + 1)))
    waiting_log = tmp_path / "waiting.log"
    with switchboard(config) as (port, proc):
        waiting = start_caller(port, "100", "+380671110051", waiting_log, 3000)
        later = None
        try:
            wait_for(waiting_log, "answered", 1, timeout=5)  # queued: it holds the one pair
            expect_refusal(port, "100", 503, tmp_path)
            finished(waiting, "the caller who holds the pair")
            later = start_caller(port, "100", "+380671110052", tmp_path / "later.log", 200)
            finished(later, "a caller after the pair was freed")
        finally:
            stop(waiting, *([later] if later else []))
        output = drains_at_once(proc)
    assert re.search(r"WARNING no media for \S+: no free RTP port pair", output), output[-3000:]


def test_an_agent_leg_with_no_free_rtp_port_fails_at_once_and_the_agent_gets_the_call_later(
        tmp_path: Path) -> None:
    first = free_media_port()  # two pairs: both callers hold one while they wait
    config = write_config(tmp_path, queue_config((first, first + 3)))
    agent_log = tmp_path / "agent.log"
    logs = {name: tmp_path / f"caller_{name}.log" for name in "ab"}
    with switchboard(config) as (port, proc):
        agent_port = free_udp_port()
        agent = start_agent("agent_answers.xml", agent_port, agent_log, "-m", "1")
        callers = []
        try:
            callers.append(start_caller(port, "100", "+380671110061", logs["a"], 2500))
            wait_for(logs["a"], "answered", 1, timeout=5)
            callers.append(start_caller(port, "100", "+380671110062", logs["b"], 7000))
            wait_for(logs["b"], "answered", 1, timeout=5)
            # Now the agent registers; ringing it finds no RTP port for its leg. The leg
            # fails at once, not after the 20 s ring timeout with the agent held "ringing".
            register_agent("201", port, agent_port)
            for name, caller in zip("ab", callers, strict=True):
                finished(caller, f"caller {name}")
            finished(agent, "agent", timeout=10)
        finally:
            stop(agent, *callers)
        output = drains_at_once(proc)

    rung = events(agent_log, "invite")
    assert [e["caller"] for e in rung] == ["+380671110062"], (
        f"only B is put through, once A's hang-up freed a pair: {rung}")
    a_bye = _at(events(logs["a"], "bye")[0])
    assert a_bye < _at(rung[0]) < a_bye + 2.5, "B's agent rang at the next retry (1 s)"
    assert _at(events(logs["b"], "bye")[0]) > _at(rung[0]), "B talked to the agent"
    assert re.search(r"WARNING no media for \S+-L\d+: no free RTP port pair", output), (
        output[-3000:])


def test_a_dead_rtpengine_gets_callers_503_at_once_and_calls_resume_when_it_is_back(
        tmp_path: Path) -> None:
    daemon = RunningRtpEngine(tmp_path / "rtpengine", (32400, 32499))
    again = None
    try:
        media = (f"\nmedia:\n  driver: rtpengine\n  rtpengine: {daemon.ng[0]}:{daemon.ng[1]}\n"
                 f"  rtpengine_dtmf: {daemon.dtmf[0]}:{daemon.dtmf[1]}\n")
        config = write_config(tmp_path, queue_config(None, media))
        with switchboard(config) as (port, proc):
            served = start_caller(port, "100", "+380671110071", tmp_path / "served.log", 200)
            finished(served, "a caller while rtpengine runs")
            daemon.stop()  # the test started it: stopped by its PID
            # The first caller waits out rtpengine's silence (1 s x 3 tries), then gets 503;
            # rtpengine is not asked again for 5 s, so the next caller gets 503 at once.
            expect_refusal(port, "100", 503, tmp_path)
            expect_refusal(port, "100", 503, tmp_path)
            refused_at = time.monotonic()
            again = RunningRtpEngine(tmp_path / "rtpengine-again", (32400, 32499),
                                     ng_at=daemon.ng, dtmf_at=daemon.dtmf)
            time.sleep(max(0.0, refused_at + 5.5 - time.monotonic()))
            back = start_caller(port, "100", "+380671110072", tmp_path / "back.log", 200)
            finished(back, "a caller once rtpengine is back")
            output = drains_at_once(proc)
    finally:
        daemon.stop()
        if again is not None:
            again.stop()
    dead = re.findall(r"WARNING no media for \S+: rtpengine offer: (.*)", output)
    assert len(dead) == 2, output[-3000:]
    assert dead[0].startswith("no answer from") and "not asked again" in dead[1], dead


def test_switchboard_run_raises_its_open_files_limit_for_its_rtp_ports(tmp_path: Path) -> None:
    # A soft limit of 256 (hard 4096), as a service manager may hand over; the default RTP
    # range wants 1024 + 2 x 5,000 descriptors: raised to the hard limit, with a warning.
    def low_limit() -> None:
        import resource

        resource.setrlimit(resource.RLIMIT_NOFILE, (256, 4096))

    config = write_config(tmp_path, queue_config(None))
    port = free_udp_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "switchboard.cli", "run", "--config", str(config),
         "--sip-port", str(port)],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, preexec_fn=low_limit)
    try:
        deadline = time.monotonic() + 20
        while not options_ok(port):  # up: start-up (and the limit's change) is over
            assert proc.poll() is None and time.monotonic() < deadline, "did not start"
        limits = Path(f"/proc/{proc.pid}/limits").read_text().splitlines()
        line = next(row for row in limits if row.startswith("Max open files"))
        assert line.split()[3:5] == ["4096", "4096"], line  # soft, hard
    finally:
        proc.terminate()
        output = proc.communicate(timeout=30)[0]
    assert "open files: limit raised from 256 to 4096" in output, output[-3000:]
    assert re.search(r"WARNING open files: the limit 4096 is below the 11024", output), (
        output[-3000:])
