"""The RTP timeout (``media.rtp_timeout``, ``media.rtp_hold_timeout``): an answered leg whose
far end sends nothing is hung up, and the routing hears it hang up.

Most tests count the packets with the fake engine (``FakeMedia.heard``); the last one sends
real RTP over UDP to the in-process engine."""

from __future__ import annotations

import asyncio
import random
import socket
import struct
import time

import pytest

from switchboard.config.loader import ConfigError, load_config_text
from switchboard.core import commands as c
from switchboard.media.engine import InProcessMedia
from switchboard.media.relay import RelayConfig
from switchboard.runtime.media_watch import POLL_BATCH
from switchboard.sip.sdp import parse_sdp

from ..ports import reserved_ports
from .test_sip_app_hold_overload import (
    Harness,
    bridged,
    in_dialog,
    invite,
    sdp,
)

TIMEOUTS = "media: {rtp_timeout: 0.4, rtp_hold_timeout: 1.6}\n"


def finished(h: Harness) -> list[c.CallFinished]:
    """The CallFinished records the core emits from now on."""
    records: list[c.CallFinished] = []
    h.app.driver.observers.append(
        lambda cmd: records.append(cmd) if isinstance(cmd, c.CallFinished) else None)
    return records


async def queued(h: Harness) -> str:
    """A caller answered, ACKed and waiting in queue q (its agent is not registered)."""
    await h.receive(invite("c1", body=sdp(40002)))
    to_tag = h.final("c1").to.tag or ""
    await h.receive(in_dialog("ACK", "c1", 1, to_tag))
    return to_tag


def byes(h: Harness) -> list[str]:
    return [r.call_id for r in h.requests("BYE")]


def test_a_silent_caller_waiting_in_the_queue_is_hung_up_and_counts_as_abandoned() -> None:
    async def scenario() -> None:
        h = Harness(", music: null", TIMEOUTS)
        records = finished(h)
        await queued(h)
        h.media.heard["c1"] = 7  # it sent 7 packets, then nothing
        await asyncio.sleep(0.3)
        assert byes(h) == [] and "c1" in h.app.core.calls, "not before the timeout"
        await asyncio.sleep(0.5)
        assert byes(h) == ["c1"], "a BYE to the vanished caller"
        assert "c1" not in h.app.dialogs and "c1" not in h.app.core.calls
        assert [(r.outcome, r.reason) for r in records] == [("missed", "abandoned")]
        assert h.app.media_timeouts == 1
        await h.app.close()

    asyncio.run(scenario())


def test_a_caller_whose_packets_keep_coming_stays_however_long_it_waits() -> None:
    async def scenario() -> None:
        h = Harness(", music: null", TIMEOUTS)
        await queued(h)
        for sent in range(12):  # 1.2 s, three timeouts, with a packet now and then
            h.media.heard["c1"] = sent
            await asyncio.sleep(0.1)
        assert byes(h) == [] and "c1" in h.app.core.calls and h.app.media_timeouts == 0
        await h.app.close()

    asyncio.run(scenario())


def test_a_silent_agent_ends_the_call_and_the_caller_gets_a_bye_too() -> None:
    async def scenario() -> None:
        h = Harness(", music: null", TIMEOUTS)
        records = finished(h)
        _, leg, leg_call = await bridged(h)
        for sent in range(8):  # the caller talks on; the agent's phone is gone
            h.media.heard["c1"] = sent
            h.media.heard[leg] = 3
            await asyncio.sleep(0.1)
        assert sorted(byes(h)) == sorted([leg_call, "c1"])
        assert not h.app.dialogs and not h.app.core.calls
        assert h.app.core.agents["201"].state != "talking"
        assert [r.outcome for r in records] == ["answered"]
        await h.app.close()

    asyncio.run(scenario())


def test_a_party_holding_the_call_has_the_longer_hold_timeout() -> None:
    async def scenario() -> None:
        h = Harness(", music: null", TIMEOUTS)
        to_tag, leg, _ = await bridged(h)
        await h.receive(invite("c1", 2, sdp(40002, "inactive", version=2), to_tag))
        assert h.final("c1", cseq=2).status == 200 and h.app.dialogs["c1"].held
        h.media.heard["c1"] = 50  # the caller holds and sends nothing
        for sent in range(10):  # 1 s: past rtp_timeout, short of rtp_hold_timeout
            h.media.heard[leg] = sent
            await asyncio.sleep(0.1)
        assert byes(h) == [], "a holding phone may be silent"
        for sent in range(10, 20):  # 1 s more: past rtp_hold_timeout
            h.media.heard[leg] = sent
            await asyncio.sleep(0.1)
        assert "c1" in byes(h) and not h.app.core.calls
        await h.app.close()

    asyncio.run(scenario())


def test_a_leg_the_engine_does_not_know_is_left_alone_and_none_turns_the_watch_off() -> None:
    async def scenario() -> None:
        h = Harness(", music: null", TIMEOUTS)
        await queued(h)  # FakeMedia.heard has no "c1": the engine cannot count it
        await asyncio.sleep(0.8)
        assert byes(h) == [] and "c1" in h.app.core.calls
        await h.app.close()
        off = Harness(", music: null", "media: {rtp_timeout: null, rtp_hold_timeout: null}\n")
        assert off.app.media_watch is None
        await off.app.close()

    asyncio.run(scenario())


def rtp(sequence: int) -> bytes:
    return struct.pack("!BBHII", 0x80, 0, sequence, sequence * 160, 0x1234) + b"\xff" * 160


def test_real_rtp_to_the_in_process_engine_keeps_the_caller_and_silence_hangs_it_up() -> None:
    async def scenario() -> None:
        lo = reserved_ports(range(31200, 31300, 2), 2)
        engine = InProcessMedia(RelayConfig(bind_ip="127.0.0.1", port_range=(lo, lo + 1)),
                                random.Random(1), lambda event: None)
        h = Harness(", music: null", TIMEOUTS, media=engine)  # type: ignore[arg-type]
        records = finished(h)
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as phone:
            phone.bind(("127.0.0.1", 0))
            await h.receive(invite("c1", body=sdp(phone.getsockname()[1])))
            answer = parse_sdp(h.final("c1").body)
            assert answer.audio is not None
            ours = ("127.0.0.1", answer.audio.port)
            await h.receive(in_dialog("ACK", "c1", 1, h.final("c1").to.tag or ""))
            started = time.monotonic()
            for sequence in range(50):  # 1 s of audio at 20 ms: two and a half timeouts
                phone.sendto(rtp(sequence), ours)
                await asyncio.sleep(0.02)
            assert await engine.received("c1") == 50
            assert byes(h) == [], f"hung up while it talked ({time.monotonic() - started:.2f} s)"
            await asyncio.sleep(0.8)  # silence: 0.4 s and up to one 0.1 s poll
            assert byes(h) == ["c1"]
            assert [(r.outcome, r.reason) for r in records] == [("missed", "abandoned")]
        await asyncio.sleep(0.05)  # the release of c1's media
        assert await engine.received("c1") is None
        await h.app.close()
        await engine.close()

    asyncio.run(scenario())


@pytest.mark.parametrize("value", ["0", "-5"])
def test_a_timeout_that_is_not_positive_is_refused(value: str) -> None:
    with pytest.raises(ConfigError, match="rtp_timeout"):
        load_config_text(f"media: {{rtp_timeout: {value}}}\n", "x.yaml")


def test_more_legs_than_one_batch_are_all_watched_each_with_its_own_count() -> None:
    async def scenario() -> None:
        h = Harness(", music: null", TIMEOUTS)
        calls = [f"c{n}" for n in range(POLL_BATCH + 6)]
        for call in calls:
            await h.receive(invite(call, body=sdp(40002)))
            await h.receive(in_dialog("ACK", call, 1, h.final(call).to.tag or ""))
        talking = {calls[3], calls[-2]}  # one in the first batch, one in the second
        for sent in range(8):
            for call in calls:
                h.media.heard[call] = sent if call in talking else 0
            await asyncio.sleep(0.1)
        assert sorted(byes(h)) == sorted(set(calls) - talking)
        assert set(h.app.core.calls) == talking
        await h.app.close()

    asyncio.run(scenario())
