"""Real calls over SIP: ``switchboard run`` with the demo config, SIPp as callers and agents."""

from __future__ import annotations

import signal
import tempfile
import time
from pathlib import Path

from .sipp import (
    SCENARIOS,
    agents_yaml,
    drains_at_once,
    finished,
    free_media_port,
    free_udp_port,
    password_of,
    queue_yaml,
    register,
    register_agent,
    relayed,
    sipp,
    start_agent,
    start_caller,
    start_sipp,
    switchboard,
)

# The demo plays its greeting (2.3 s) and whispers to the agent (3.4 s) before the bridge:
# callers stay this long after their ACK so that the agent is reached before they hang up.
TALK_MS = 9000


def test_a_caller_is_queued_and_bridged_to_the_registered_agent_who_answers() -> None:
    with switchboard() as (port, _proc):
        agent_port = free_udp_port()
        agent = start_sipp("-sn", "uas", "-i", "127.0.0.1", "-p", str(agent_port), "-m", "1",
                           timeout=40)
        register("201", port, agent_port)
        caller = sipp(f"127.0.0.1:{port}", "-sn", "uac", "-s", "100", "-i", "127.0.0.1",
                      "-p", str(free_udp_port()), "-m", "1", "-d", str(TALK_MS), timeout=40)
        assert caller.returncode == 0, f"caller: {caller.stdout[-2000:]}\n{caller.stderr}"
        out, err = agent.communicate(timeout=40)
        assert agent.returncode == 0, f"agent: {out[-2000:]}\n{err}"


def refused(port: int, number: str, code: int, tmp: Path) -> None:
    scenario = tmp / f"uac_refused_{code}.xml"
    template = (SCENARIOS / "uac_refused.xml").read_text()
    scenario.write_text(template.replace("__CODE__", str(code)))
    caller = sipp(f"127.0.0.1:{port}", "-sf", str(scenario), "-s", number,
                  "-i", "127.0.0.1", "-p", str(free_udp_port()), "-m", "1", timeout=20)
    assert caller.returncode == 0, f"expected {code}: {caller.stdout[-2000:]}\n{caller.stderr}"


def test_a_call_to_an_unknown_number_is_refused_404(tmp_path: Path) -> None:
    with switchboard() as (port, _proc):
        refused(port, "999", 404, tmp_path)


def test_register_with_a_wrong_password_is_challenged_again_and_not_bound() -> None:
    with switchboard() as (port, _proc):
        register("201", port, free_udp_port(), password="wrong", expect=401)
        register("201", port, free_udp_port())  # the right password still works after


def test_an_agent_calls_in_with_digest_a_wrong_password_and_a_stranger_are_refused(
        tmp_path: Path) -> None:
    """With no trunk, nobody is trusted by address: an INVITE must come from an agent who
    answers the 401 with its password (RFC 7616); anyone else gets 403."""
    from switchboard.config.loader import load_config

    config = tmp_path / "switchboard.yaml"
    config.write_text("timezone: UTC\ncountry: UA\nlanguage: en\n" + agents_yaml("201", "202")
                      + queue_yaml("    wrapup: 0\n    whisper: {wait_time: false, "
                                   "number_name: false}\n", members=("202",)))
    load_config(config)
    with switchboard(config) as (port, proc):
        agent_port = free_udp_port()
        agent = start_agent("agent_hangs_up.xml", agent_port, tmp_path / "agent.log",
                            "-m", "1", "-d", "500")
        try:
            register_agent("202", port, agent_port)
            refused(port, "100", 403, tmp_path)  # From +380671234567: no agent, no trunk
            wrong = start_caller(port, "100", "201", tmp_path / "wrong.log", 0,
                                 "-au", "201", "-ap", "not-the-password",
                                 "-auth_uri", f"100@127.0.0.1:{port}",
                                 scenario="caller_auth_refused.xml", timeout=20)
            finished(wrong, "agent 201 with a wrong password (401 twice)", timeout=25)
            caller = start_caller(port, "100", "201", tmp_path / "caller.log", 0,
                                  "-au", "201", "-ap", password_of("201"),
                                  "-auth_uri", f"100@127.0.0.1:{port}",
                                  scenario="caller_auth.xml", timeout=20)
            finished(caller, "agent 201 calling in with digest", timeout=25)
            finished(agent, "agent 202 answering and hanging up", timeout=10)
        finally:
            for p in (agent,):
                if p.poll() is None:
                    p.kill()
        output = drains_at_once(proc)
    assert "answered" in output and "agent 202" in output, output[-3000:]


def test_a_caller_over_tcp_reaches_an_agent_over_udp() -> None:
    with switchboard() as (port, _proc):
        agent_port = free_udp_port()
        agent = start_sipp("-sn", "uas", "-i", "127.0.0.1", "-p", str(agent_port), "-m", "1",
                           timeout=40)
        register("202", port, agent_port)
        caller = sipp(f"127.0.0.1:{port}", "-sn", "uac", "-s", "100", "-t", "t1",
                      "-i", "127.0.0.1", "-p", str(free_udp_port()), "-m", "1", "-d", str(TALK_MS),
                      timeout=40)
        assert caller.returncode == 0, f"caller: {caller.stdout[-2000:]}\n{caller.stderr}"
        out, err = agent.communicate(timeout=40)
        assert agent.returncode == 0, f"agent: {out[-2000:]}\n{err}"


def test_shutdown_refuses_new_calls_and_lets_the_call_in_progress_finish() -> None:
    with switchboard() as (port, proc):
        agent_port = free_udp_port()
        agent = start_sipp("-sn", "uas", "-i", "127.0.0.1", "-p", str(agent_port), "-m", "1",
                           timeout=40)
        register("201", port, agent_port)
        caller = start_sipp(f"127.0.0.1:{port}", "-sn", "uac", "-s", "100", "-i", "127.0.0.1",
                            "-p", str(free_udp_port()), "-m", "1", "-d", str(TALK_MS + 4000),
                            timeout=40)
        time.sleep(TALK_MS / 1000)  # the call is bridged and talking
        proc.send_signal(signal.SIGTERM)
        time.sleep(0.5)
        refused(port, "100", 503, Path(tempfile.mkdtemp()))
        out, err = caller.communicate(timeout=40)
        assert caller.returncode == 0, f"the call in progress ended well: {out[-1500:]}\n{err}"
        assert agent.wait(40) == 0
        assert proc.wait(15) == 0, "the server stopped by itself once the call ended"


def test_a_bridged_call_carries_audio_both_ways_through_the_relay() -> None:
    with switchboard() as (port, proc):
        agent_port = free_udp_port()
        agent = start_sipp("-sn", "uas", "-i", "127.0.0.1", "-p", str(agent_port), "-m", "1",
                           "-mp", str(free_media_port()), "-rtp_echo", timeout=40)
        register("201", port, agent_port)
        caller = sipp(f"127.0.0.1:{port}", "-sf", str(SCENARIOS / "caller_talks.xml"),
                      "-s", "100", "-i", "127.0.0.1", "-p", str(free_udp_port()),
                      "-mp", str(free_media_port()), "-m", "1", timeout=40)
        assert caller.returncode == 0, f"caller: {caller.stdout[-2000:]}\n{caller.stderr}"
        assert agent.wait(40) == 0
        proc.terminate()
        output = proc.communicate(timeout=20)[0]
    # Only relayed packets count: not the prompts we play, not what arrives unbridged.
    caller_leg, agent_leg = relayed(output)
    assert caller_leg and agent_leg, output[-3000:]
    # The caller's recording reached the agent, and the agent's echo came back: each
    # direction carried at least a second of 20 ms packets (50), transcoded PCMA <-> PCMU.
    (c_in, c_out), (a_in, a_out) = caller_leg[0], max(agent_leg)
    assert c_in >= 50 and a_out >= 50, (caller_leg, agent_leg)
    assert a_in >= 50 and c_out >= 50, (caller_leg, agent_leg)
