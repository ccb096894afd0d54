"""``RtpEngineMedia.received`` against a real rtpengine: the packets (RTP and RTCP) a leg's
phone sent, counted by rtpengine's ``query``, whatever the leg is paired with; phones are UDP
sockets on 127.0.0.1. It is what the runtime's RTP timeout watches."""

from __future__ import annotations

import asyncio
import struct
from collections.abc import Iterator
from pathlib import Path

import pytest

from switchboard.media.ng import NgError, NgRefused, bencode
from switchboard.media.rtpengine import RtpEngineMedia

from ..rtpengine import RunningRtpEngine, ng
from .test_rtpengine import PROMPTS, engine, leg_with_phone, rtpengine_calls
from .udp import Phone, run, talk

pytestmark = pytest.mark.timeout(60)

SILENCE = bytes([0xFF]) * 160  # one 20 ms u-law frame


@pytest.fixture(scope="module")
def daemon(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningRtpEngine]:
    """One rtpengine for the module (the ports of tests/media/test_rtpengine.py's), by PID."""
    running = RunningRtpEngine(tmp_path_factory.mktemp("rtpengine"), (32000, 32399))
    try:
        yield running
    finally:
        running.stop()


def receiver_report(ssrc: int) -> bytes:
    """An RTCP receiver report with no report block (V=2, PT=201, length 1 word)."""
    return struct.pack("!BBHI", 0x80, 201, 1, ssrc)


async def send_rtp(phone: Phone, to: tuple[str, int], count: int, *, ssrc: int,
                   sequence: int = 0) -> None:
    await talk(phone, to, [SILENCE] * count, ssrc=ssrc, sequence=sequence,
               timestamp=160 * sequence, pace=0.002)


def send_rtcp(phone: Phone, rtp_port: tuple[str, int], count: int, *, ssrc: int) -> None:
    """RTCP to the port after the RTP one (the SDP rtpengine gave has no rtcp-mux)."""
    ip, port = rtp_port
    for _ in range(count):
        phone.send(receiver_report(ssrc), (ip, port + 1))


async def settled(media: RtpEngineMedia, leg_id: str, expected: int) -> int | None:
    """``received`` once it reaches ``expected`` (rtpengine counts on its own thread), or
    after a second; then a little later, to see that it stops there."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 1.0
    while await media.received(leg_id) != expected and loop.time() < deadline:
        await asyncio.sleep(0.01)
    await asyncio.sleep(0.1)
    return await media.received(leg_id)


def test_received_counts_the_rtp_and_rtcp_its_phone_sent_and_stays_put_in_silence(
    daemon: RunningRtpEngine, tmp_path: Path
) -> None:
    async def scenario() -> None:
        media = await engine(daemon, [], tmp_path)
        address, phone = await leg_with_phone(media, "call-1", 0)
        other_address, other = await leg_with_phone(media, "call-2", 0)
        assert await media.received("call-1") == 0

        await send_rtp(phone, address, 12, ssrc=1)
        assert await settled(media, "call-1", 12) == 12
        await asyncio.sleep(0.3)  # nothing sent: nothing counted (the sink's side is not)
        assert await media.received("call-1") == 12

        # RTCP alone keeps a silent (VAD) phone alive: counted as much as RTP.
        send_rtcp(phone, address, 3, ssrc=1)
        assert await settled(media, "call-1", 15) == 15
        phone.send(receiver_report(1), address)  # RTCP on the RTP port (rtcp-mux)
        assert await settled(media, "call-1", 16) == 16

        # Another leg's phone is that leg's count, not this one's.
        await send_rtp(other, other_address, 5, ssrc=2)
        assert await settled(media, "call-2", 5) == 5
        assert await media.received("call-1") == 16
        await media.close()
        phone.close()
        other.close()

    run(scenario(), timeout=30)


@pytest.mark.parametrize("call", [None, "call-1"], ids=["two calls", "one call"])
def test_received_goes_on_counting_each_phone_through_bridge_playback_and_unbridge(
    daemon: RunningRtpEngine, tmp_path: Path, call: str | None
) -> None:
    # One call: the phones are paired with each other in rtpengine (direct). Two calls: each
    # phone stays with its pbx side, re-pointed at the other call's (which relays to itself).
    async def scenario() -> None:
        media = await engine(daemon, [], tmp_path)
        caller_addr, caller = await leg_with_phone(media, "call-1", 8, call)
        agent_addr, agent = await leg_with_phone(media, "leg-1", 0, call)
        sent = {"call-1": 0, "leg-1": 0}
        ssrcs = {"call-1": 1, "leg-1": 2}

        async def send(leg_id: str, rtp: int, rtcp: int = 0) -> None:
            phone, address = (caller, caller_addr) if leg_id == "call-1" else (agent, agent_addr)
            await send_rtp(phone, address, rtp, ssrc=ssrcs[leg_id], sequence=sent[leg_id])
            send_rtcp(phone, address, rtcp, ssrc=ssrcs[leg_id])
            sent[leg_id] += rtp + rtcp

        async def check() -> None:
            for leg_id, count in sent.items():
                assert await settled(media, leg_id, count) == count, leg_id

        await send("call-1", 7, 1)
        await send("leg-1", 4)
        await check()

        await media.bridge("call-1", "leg-1")
        await send("call-1", 10, 2)
        await send("leg-1", 6, 1)
        await check()
        assert len(agent.received) >= 5 and len(caller.received) >= 3  # they hear each other

        # The whisper: rtpengine plays to the agent and holds the caller back. What is played
        # to a phone is not what it sent, and the held-back caller is still counted.
        await media.play("leg-1", [PROMPTS / "greeting.wav"])
        await asyncio.sleep(0.2)
        await check()
        await send("call-1", 5)
        await send("leg-1", 3, 1)
        await check()
        await media.stop("leg-1")

        # A re-INVITE of the agent (a new port of its phone) while bridged.
        agent.close()
        agent = await Phone.open()
        await media.set_remote("leg-1", *agent.addr, 0)
        await send("leg-1", 8)
        await send("call-1", 2, 1)
        await check()

        await media.unbridge("call-1")
        await send("call-1", 9, 1)
        await send("leg-1", 2)
        await check()
        await media.play("call-1", [PROMPTS / "music_on_hold.wav"], loop=True)  # on hold
        await asyncio.sleep(0.2)
        await check()
        await send("call-1", 3, 2)
        await check()
        await media.close()
        caller.close()
        agent.close()

    run(scenario(), timeout=30)


def test_received_is_none_for_a_leg_the_engine_does_not_know(
    daemon: RunningRtpEngine, tmp_path: Path
) -> None:
    async def scenario() -> None:
        media = await engine(daemon, [], tmp_path)
        assert await media.received("nobody") is None
        before = set(rtpengine_calls(daemon))
        caller_addr, caller = await leg_with_phone(media, "call-1", 0, "call-1")
        agent_addr, agent = await leg_with_phone(media, "leg-1", 0, "call-1")
        (call_id,) = set(rtpengine_calls(daemon)) - before
        await send_rtp(caller, caller_addr, 4, ssrc=1)
        await send_rtp(agent, agent_addr, 6, ssrc=2)
        assert await settled(media, "call-1", 4) == 4
        assert await settled(media, "leg-1", 6) == 6

        # Released: None, though rtpengine keeps the call (and the tag) for the other leg.
        await media.release("leg-1")
        assert await media.received("leg-1") is None
        await send_rtp(caller, caller_addr, 2, ssrc=1, sequence=4)
        assert await settled(media, "call-1", 6) == 6

        # rtpengine lost the call (restarted, or deleted it): "Unknown call-id" is None too.
        assert ng(daemon.ng, bencode({"command": "delete", "call-id": call_id}))["result"] == b"ok"
        assert await media.received("call-1") is None
        await media.release("call-1")
        assert await media.received("call-1") is None
        await media.close()
        caller.close()
        agent.close()

    run(scenario(), timeout=30)


def test_received_raises_when_rtpengine_does_not_answer(
    daemon: RunningRtpEngine, tmp_path: Path
) -> None:
    # The runtime logs that and skips the poll: it must not read as "the leg is gone".
    async def scenario() -> None:
        media = await engine(daemon, [], tmp_path)
        address, phone = await leg_with_phone(media, "call-1", 0)
        await send_rtp(phone, address, 3, ssrc=1)
        assert await settled(media, "call-1", 3) == 3
        loop = asyncio.get_running_loop()
        media.client.disabled_until = loop.time() + 60  # as after a request timed out
        with pytest.raises(NgError) as raised:
            await media.received("call-1")
        assert not isinstance(raised.value, NgRefused)
        media.client.disabled_until = 0.0
        assert await media.received("call-1") == 3
        await media.close()
        phone.close()

    run(scenario(), timeout=30)
