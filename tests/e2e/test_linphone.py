"""A second real softphone: Linphone's linphonec registers with ``switchboard run`` (digest
over UDP) as an agent and takes a queued caller, answering by itself or when told to, with
audio both ways; either side hangs up; and it calls into a queue that a SIPp agent serves."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

from .linphone import AUDIO_FLOWING, CALL_FAILED, CONNECTED, ENDED, INCOMING, linphone_agent
from .sipp import (
    agents_yaml,
    drains_at_once,
    events,
    finished,
    free_media_port,
    free_udp_port,
    password_of,
    queue_yaml,
    register_agent,
    relayed,
    start_agent,
    start_caller,
    stop,
    switchboard,
    write_config,
)

# Number 100 -> a queue bridged as soon as its agent answers: no music, whisper or wrap-up.
QUEUE = "    wrapup: 0\n    music: null\n    whisper: {wait_time: false, number_name: false}\n"


def config(tmp: Path, *members: str) -> Path:
    return write_config(tmp, agents_yaml("201", "202") + queue_yaml(QUEUE, members=members))


def call_line(output: str) -> str:
    """The server's one line for the finished call."""
    found = re.findall(r"call \S+ from .*", output)
    assert len(found) == 1, output[-3000:]
    return found[0]


def both_ways(output: str) -> None:
    """The relay carried RTP from each side to the other (the server's media lines)."""
    callers, agents = relayed(output)
    assert len(callers) == 1 and len(agents) == 1, output[-3000:]
    assert callers[0][0] > 0 and agents[0][0] > 0, (callers, agents)


def test_linphone_answers_a_queued_caller_by_itself_and_the_caller_hangs_up(
        tmp_path: Path) -> None:
    caller_log = tmp_path / "caller.log"
    with switchboard(config(tmp_path, "201")) as (port, proc):
        caller: subprocess.Popen[str] | None = None
        with linphone_agent("201", port, tmp_path, password=password_of("201")) as phone:
            try:
                phone.wait_registered(timeout=10)
                # The caller echoes what it hears: linphonec's tone comes back to it.
                caller = start_caller(port, "100", "555", caller_log, 3000,
                                      "-mp", str(free_media_port()), "-rtp_echo", timeout=20)
                incoming = phone.wait_for(INCOMING, timeout=10)
                assert incoming.group(1) == "sip:555@127.0.0.1", incoming.group(0)
                phone.wait_for(CONNECTED, timeout=5, fail=CALL_FAILED)
                phone.wait_for(AUDIO_FLOWING, timeout=5, fail=CALL_FAILED)
                ended = phone.wait_for(ENDED, timeout=10)
                finished(caller, "caller", timeout=10)
            finally:
                stop(*([caller] if caller else []))
            log = phone.output()
        output = drains_at_once(proc)
    assert ended.group(3) == "No error", ended.group(0)
    # Ended by the BYE relayed from the caller: received by linphonec, not sent.
    assert re.search(rf"^BYE sip:201@127\.0\.0\.1:{phone.sip_port}\b", log, re.M), log[-4000:]
    assert not re.search(r"^BYE sip:switchboard@", log, re.M), log[-4000:]
    assert [e["caller"] for e in events(caller_log, "answered")] == ["555"]
    assert "from 555 to 100: answered (answered), agent 201" in call_line(output)
    both_ways(output)


def test_linphone_is_told_to_answer_then_hangs_up_itself(tmp_path: Path) -> None:
    caller_log = tmp_path / "caller.log"
    with switchboard(config(tmp_path, "201")) as (port, proc):
        caller: subprocess.Popen[str] | None = None
        with linphone_agent("201", port, tmp_path, password=password_of("201"),
                            auto_answer=False) as phone:
            try:
                phone.wait_registered(timeout=10)
                # This caller stays until the server's BYE (the one relayed from linphonec).
                caller = start_caller(port, "100", "555", caller_log, 0,
                                      "-mp", str(free_media_port()), "-rtp_echo",
                                      timeout=20, scenario="caller_waits.xml")
                incoming = phone.wait_for(INCOMING, timeout=10)
                phone.send(f"answer {incoming.group(2)}")
                phone.wait_for(CONNECTED, timeout=5, fail=CALL_FAILED)
                phone.wait_for(AUDIO_FLOWING, timeout=5, fail=CALL_FAILED)
                mark = len(phone.output())
                phone.send("terminate")
                ended = phone.wait_for(ENDED, timeout=5)
                # linphonec's BYE is answered 200 (from after the command: not an old line).
                phone.wait_for(re.compile(r"^SIP/2\.0 200 .*\n(?:.+\n)*?CSeq: \d+ BYE", re.M),
                               timeout=5, after=mark)
                finished(caller, "caller who waits for the BYE", timeout=10)
            finally:
                stop(*([caller] if caller else []))
            log = phone.output()
        output = drains_at_once(proc)
    assert ended.group(3) == "No error", ended.group(0)
    assert re.search(r"^BYE sip:switchboard@127\.0\.0\.1:\d+ SIP/2\.0", log, re.M), log[-4000:]
    assert len(events(caller_log, "bye")) == 1, "the server's BYE reached the caller"
    assert "from 555 to 100: answered (answered), agent 201" in call_line(output)
    both_ways(output)


def test_linphone_calls_into_a_queue_that_a_sipp_agent_answers(tmp_path: Path) -> None:
    agent_log = tmp_path / "agent.log"
    with switchboard(config(tmp_path, "202")) as (port, proc):
        agent_port = free_udp_port()
        agent = start_agent("agent_answers.xml", agent_port, agent_log, "-m", "1",
                            "-mp", str(free_media_port()), "-rtp_echo", timeout=20)
        try:
            register_agent("202", port, agent_port)
            with linphone_agent("201", port, tmp_path, password=password_of("201")) as phone:
                phone.wait_registered(timeout=10)
                phone.send("call 100")  # completed with the account's domain: sip:100@127.0.0.1
                phone.wait_for(CONNECTED, timeout=10, fail=CALL_FAILED)
                # The SIPp agent echoes linphonec's tone back through the bridge.
                phone.wait_for(AUDIO_FLOWING, timeout=5, fail=CALL_FAILED)
                phone.send("terminate")
                ended = phone.wait_for(ENDED, timeout=5)
                finished(agent, "agent", timeout=10)
        finally:
            stop(agent)
        output = drains_at_once(proc)
    assert ended.group(3) == "No error", ended.group(0)
    # Linphone's offer (opus, speex, G.711, G.729, three telephone-events, rtcp-fb and
    # rtcp-xr attributes) was answered with what the server has.
    assert [e["caller"] for e in events(agent_log, "invite")] == ["201"]
    assert "from 201 to 100: answered (answered), agent 202" in call_line(output)
    both_ways(output)
