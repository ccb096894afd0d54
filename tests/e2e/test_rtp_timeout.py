"""The RTP timeout through ``switchboard run`` (docs/media.md): a SIPp caller waiting in a
queue speaks (SIPp's 7 s pcap) and then goes silent without a BYE, as a phone whose network
is gone; the server hangs it up ``media.rtp_timeout`` later, not while it spoke, and the call
counts as abandoned. Once per media driver (the rtpengine driver counts with NG ``query``)."""

from __future__ import annotations

from pathlib import Path

import pytest

from .conftest import MEDIA_DRIVERS
from .sipp import queue_yaml, write_config
from .test_listening import HUNG_UP_ON, at, caller_scenario, pause, scripted_call, speak

TIMEOUT = 2.0  # media.rtp_timeout of the test; polled every TIMEOUT / 4 s


@pytest.mark.parametrize("driver", sorted(MEDIA_DRIVERS))
def test_a_caller_gone_silent_in_the_queue_is_hung_up_after_the_rtp_timeout(
        tmp_path: Path, driver: str) -> None:
    # Nobody is logged in: the caller waits with music the whole time.
    config = write_config(tmp_path, queue_yaml() + 'agents: [{id: "201"}]\n'
                          f"media: {{driver: {driver}, rtp_timeout: {TIMEOUT}}}\n")
    log = tmp_path / "caller.log"
    scenario = caller_scenario(tmp_path, "caller_goes_silent", [
        pause(500), speak(), pause(7200), '  <nop><action><log message="event=silent '
        'at=[timestamp]"/></action></nop>\n'], HUNG_UP_ON, codec="PCMA")
    _, output = scripted_call(config, tmp_path / "data", scenario, log, timeout=30)

    spoke, silent, hung_up = at(log, "speak"), at(log, "silent"), at(log, "hung_up")
    assert silent - spoke > 7, "the scenario spoke its 7 s"
    # SIPp's pcap ends 7 s after it starts: silence from then. The BYE comes TIMEOUT later,
    # plus up to one poll (TIMEOUT / 4) and scheduling slack; never while the caller spoke.
    quiet_from = spoke + 7.0
    assert TIMEOUT - 0.3 <= hung_up - quiet_from <= TIMEOUT + TIMEOUT / 4 + 1.0, (
        hung_up - quiet_from, output[-3000:])
    assert "no RTP or RTCP from 127.0.0.1:" in output and "(media.rtp_timeout)" in output
    assert "missed (abandoned)" in output, output[-3000:]
