"""Hold and unhold by re-INVITE over real SIP: the answer's SDP direction follows the offer
(sendonly -> recvonly, inactive -> inactive, sendrecv -> sendrecv), the other party hears
hold music while held (packets counted by the relay, in the server's log), and the bridge
carries audio again after the unhold."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

from .sipp import (
    SCENARIOS,
    agents_yaml,
    drains_at_once,
    events,
    finished,
    free_media_port,
    free_udp_port,
    queue_yaml,
    register_agent,
    relayed,
    start_agent,
    start_caller,
    start_sipp,
    stop,
    switchboard,
    write_config,
)


def queue(music: str = "") -> str:
    """Number 100 -> a queue served by agent 201, bridged at once (no whisper)."""
    return agents_yaml("201") + queue_yaml(
        "    wrapup: 0\n    whisper: {wait_time: false, number_name: false}\n" + music)


def stopped_clean(output: str) -> None:
    stopped = re.search(r"open dialogs (\d+), unfinished transactions (\d+), "
                        r"calls in the core (\d+)", output)
    assert stopped is not None, output[-2000:]
    assert stopped.groups() == ("0", "0", "0"), stopped.group(0)


def hold_music_played(output: str, channel_is_agent: bool) -> list[int]:
    """Packets of hold music played to the agent's legs (or the callers') per hold."""
    found = re.findall(r"hold: (\S+) off hold; (\d+) packets of hold music played", output)
    return [int(n) for leg, n in found if ("-L" in leg) == channel_is_agent]


def test_the_caller_holds_and_resumes_the_agent_hears_music_meanwhile(tmp_path: Path) -> None:
    config = write_config(tmp_path, queue())
    caller_log = tmp_path / "caller.log"
    with switchboard(config) as (port, proc):
        agent_port = free_udp_port()
        agent = start_sipp("-sn", "uas", "-i", "127.0.0.1", "-p", str(agent_port), "-m", "1",
                           "-mp", str(free_media_port()), "-rtp_echo", timeout=40)
        caller: subprocess.Popen[str] | None = None
        try:
            register_agent("201", port, agent_port)
            caller = start_sipp(f"127.0.0.1:{port}", "-sf", str(SCENARIOS / "caller_holds.xml"),
                                "-s", "100", "-i", "127.0.0.1", "-p", str(free_udp_port()),
                                "-mp", str(free_media_port()), "-m", "1", "-trace_logs",
                                "-log_file", str(caller_log), timeout=40)
            finished(caller, "caller who holds and resumes", timeout=45)
            finished(agent, "agent", timeout=15)
        finally:
            stop(agent, *([caller] if caller else []))
        output = drains_at_once(proc)
    # The answers' SDP: on hold we only receive (sendonly offered), after it both ways.
    assert [x["answered"] for x in events(caller_log, "hold")] == ["recvonly"]
    assert [x["answered"] for x in events(caller_log, "unhold")] == ["sendrecv"]
    # The agent heard the queue's music while held: 2 s are 100 packets of 20 ms; a
    # loaded machine may send fewer, but far more than none.
    assert re.search(r"hold: \S+-L\d+ on hold by \S+ hears music_on_hold", output), output[-3000:]
    played = hold_music_played(output, channel_is_agent=True)
    assert len(played) == 1 and played[0] >= 25, (played, output[-3000:])
    assert "bridged again" in output
    # After the unhold the bridge carried the caller's recording to the agent and the
    # agent's echo back: relayed packets both ways on both legs.
    caller_leg, agent_leg = relayed(output)
    assert caller_leg and agent_leg, output[-3000:]
    (c_in, c_out), (a_in, a_out) = caller_leg[0], max(agent_leg)
    assert min(c_in, c_out, a_in, a_out) >= 50, (caller_leg, agent_leg)
    stopped_clean(output)


def agent_holds(config: Path, logs: Path, caller: str, data: Path | None = None) -> str:
    """A call to number 100 whose agent (SIPp, ``agent_holds.xml``) holds it 1 s after
    answering, for 2 s, then resumes; the caller hangs up after 5 s. The server's output;
    the SIPp logs are ``agent.log`` and ``caller.log`` in ``logs``."""
    agent_log, caller_log = logs / "agent.log", logs / "caller.log"
    with switchboard(config, data=data) as (port, proc):
        agent_port = free_udp_port()
        agent = start_agent("agent_holds.xml", agent_port, agent_log, "-m", "1", "-d", "2000",
                            "-mp", str(free_media_port()), timeout=40)
        calling: subprocess.Popen[str] | None = None
        try:
            register_agent("201", port, agent_port)
            calling = start_caller(port, "100", caller, caller_log, 5000,
                                   "-mp", str(free_media_port()), timeout=40)
            finished(calling, "caller put on hold", timeout=45)
            finished(agent, "agent who holds and resumes", timeout=15)
        finally:
            stop(agent, *([calling] if calling else []))
        output = drains_at_once(proc)
    assert [x["answered"] for x in events(agent_log, "hold")] == ["inactive"]
    return output


def test_the_agent_holds_and_resumes_the_caller_hears_music_even_from_a_silent_queue(
        tmp_path: Path) -> None:
    # The queue is silent while waiting (music: null); on hold the caller still hears the
    # default hold music: silence there would sound like a dropped call.
    config = write_config(tmp_path, queue("    music: null\n"))
    output = agent_holds(config, tmp_path, "+380671110081")
    agent_log = tmp_path / "agent.log"
    assert [x["answered"] for x in events(agent_log, "unhold")] == ["sendrecv"]
    assert re.search(r"hold: [^\s-]+\S* on hold by \S+-L\d+ hears music_on_hold", output), (
        output[-3000:])
    played = hold_music_played(output, channel_is_agent=False)
    assert len(played) == 1 and played[0] >= 25, (played, output[-3000:])
    # The call record has the hold's 2 s (the agent's pause between hold and unhold).
    record = re.search(r"call \S+ from \S+ to 100: answered .* talked ([\d.]+) s "
                       r"\(([\d.]+) s on hold\)", output)
    assert record is not None, output[-3000:]
    talked, held = float(record.group(1)), float(record.group(2))
    assert 1.5 <= held <= 3.5 and held < talked, record.group(0)
    stopped_clean(output)
