"""A real softphone as an agent: baresip registers with ``switchboard run`` and answers."""

from __future__ import annotations

from pathlib import Path

from .baresip import CALL_CLOSED, CALL_ESTABLISHED, CLOSED_BY_PEER, baresip_agent
from .sipp import free_udp_port, sipp, switchboard


def test_baresip_registers_as_agent_201_and_answers_a_queued_caller(tmp_path: Path) -> None:
    with switchboard() as (port, _proc), baresip_agent("201", port, tmp_path) as phone:
        phone.wait_registered(timeout=10)

        # The demo answers the caller itself (greeting, queue), then rings 201; the caller
        # hangs up one second after its ACK, by which time baresip has answered.
        caller = sipp(
            f"127.0.0.1:{port}",
            "-sn",
            "uac",
            "-s",
            "100",
            "-i",
            "127.0.0.1",
            "-p",
            str(free_udp_port()),
            "-m",
            "1",
            "-d",
            "9000",  # the demo's greeting and whisper come first (about 6 s)
            timeout=30,
        )
        assert caller.returncode == 0, f"caller: {caller.stdout[-2000:]}\n{caller.stderr}"

        established = phone.wait_for(CALL_ESTABLISHED, timeout=10)
        closed = phone.wait_for(CALL_CLOSED, timeout=10)
        # The From of the bridged leg is the caller's own user part (SIPp's is "sipp").
        assert established.group(1).startswith("sip:sipp@"), phone.output()[-4000:]
        assert established.start() < closed.start(), phone.output()[-4000:]
        # Closed by the BYE relayed from the caller, not by a failure on baresip's side.
        assert CLOSED_BY_PEER in closed.group(1), phone.output()[-4000:]
