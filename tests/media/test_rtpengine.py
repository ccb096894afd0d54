"""The rtpengine driver against a real rtpengine (Debian rtpengine-daemon, userspace mode),
through the same MediaEngine interface as the in-process driver; phones are UDP sockets."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import struct
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from switchboard.media import g711
from switchboard.media.engine import (
    DtmfReceived,
    MediaEngine,
    MediaEvent,
    PlayFinished,
    RecordingFinished,
)
from switchboard.media.g711 import Law
from switchboard.media.ng import BencodeError, NgClient, NgError, bdecode, bencode
from switchboard.media.pcap import pcap_to_wav
from switchboard.media.rtp import RtpPacket, dtmf_packets
from switchboard.media.rtpengine import RtpEngineMedia
from switchboard.media.rtpengine_daemon import RtpEngineDaemon
from switchboard.media.wav import load_wav

from ..realtime import realtime
from ..rtpengine import LOCALHOST, RunningRtpEngine, free_udp_port, ng
from .udp import Phone, run, talk

pytestmark = pytest.mark.timeout(60)

PROMPTS = Path(__file__).resolve().parents[2] / "switchboard" / "prompts" / "en"


def tone_frames(frequency: float, seconds: float, *, law: Law) -> list[bytes]:
    """A sine tone as 20 ms G.711 frames of ``law``."""
    t = np.arange(int(8000 * seconds)) / 8000
    pcm = np.round(8000 * np.sin(2 * np.pi * frequency * t)).astype(np.int16)
    return g711.pcm_to_frames(pcm, law)


@pytest.fixture(scope="module")
def daemon(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningRtpEngine]:
    """One rtpengine for the module, started and stopped by PID."""
    running = RunningRtpEngine(tmp_path_factory.mktemp("rtpengine"), (32000, 32399))
    try:
        yield running
    finally:
        running.stop()


async def engine(daemon: RunningRtpEngine, events: list[MediaEvent], tmp: Path) -> RtpEngineMedia:
    media = RtpEngineMedia(daemon.ng, events.append, dtmf=daemon.dtmf,
                           recording_dir=daemon.recordings, work_dir=tmp / "work")
    await media.start()
    return media


async def leg_with_phone(media: RtpEngineMedia, leg_id: str, payload_type: int,
                         call: str | None = None) -> tuple[tuple[str, int], Phone]:
    address = await media.allocate(leg_id, call=call)
    phone = await Phone.open()
    await media.set_remote(leg_id, *phone.addr, payload_type)
    return address, phone


def payloads(phone: Phone) -> list[RtpPacket]:
    return [RtpPacket.parse(data) for data in phone.received]


def level(packets: list[RtpPacket], law: Law) -> float:
    """Mean absolute sample of the audio packets."""
    audio = b"".join(p.payload for p in packets if p.payload_type == int(law))
    return float(np.abs(g711.decode(audio, law).astype(np.float64)).mean()) if audio else 0.0


# ---------------------------------------------------------------------- bencode and NG


def test_bencode_round_trips_what_rtpengine_sends() -> None:
    value = {"command": "offer", "flags": ["port latching"], "codec": {"transcode": ["PCMA"]},
             "repeat-times": 3}
    data = bencode(value)
    assert data == (b"d5:codecd9:transcodel4:PCMAee7:command5:offer5:flagsl13:port latchinge"
                    b"12:repeat-timesi3ee")
    assert bdecode(data) == {"codec": {"transcode": [b"PCMA"]}, "command": b"offer",
                             "flags": [b"port latching"], "repeat-times": 3}


@pytest.mark.parametrize("garbage", [b"", b"i12", b"5:abc", b"d3:keye", b"l" * 100 + b"e" * 100,
                                     b"x", b"i1ei2e", b"di1ei2ee"])
def test_malformed_bencode_is_refused(garbage: bytes) -> None:
    with pytest.raises(BencodeError):
        bdecode(garbage)


def test_an_ng_request_nobody_answers_fails_after_its_retries() -> None:
    async def scenario() -> None:
        client = NgClient(LOCALHOST, free_udp_port(), timeout=0.05, retries=2)
        await client.start()
        with pytest.raises(NgError, match="no answer"):
            await client.request({"command": "ping"})
        client.close()

    run(scenario())


def test_an_rtpengine_that_did_not_answer_is_not_asked_again_for_a_while() -> None:
    async def scenario() -> None:
        loop = asyncio.get_running_loop()
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as fake:
            fake.bind((LOCALHOST, 0))
            fake.setblocking(False)

            def requests() -> list[tuple[bytes, tuple[str, int]]]:
                out = []
                with contextlib.suppress(BlockingIOError):
                    while True:
                        out.append(fake.recvfrom(65535))
                return out

            async def pong_next() -> None:
                while not (got := requests()):
                    await asyncio.sleep(0.005)
                data, sender = got[0]
                fake.sendto(data.partition(b" ")[0] + b" d6:result4:ponge", sender)

            client = NgClient(*fake.getsockname(), timeout=0.05, retries=2, disable_for=0.3)
            await client.start()
            with pytest.raises(NgError, match="no answer"):
                await client.request({"command": "ping"})
            assert len(requests()) == 2  # the request and its one retry, unanswered
            with pytest.raises(NgError, match="did not answer; not asked again for"):
                await client.request({"command": "offer"})
            assert requests() == []  # failed at once: nothing was sent

            await asyncio.sleep(client.disabled_until - loop.time() + 0.01)
            # The window is over: the next request is sent (and answered this time).
            answer, _ = await asyncio.gather(client.request({"command": "ping"}), pong_next())
            assert answer["result"] == b"pong"
            answer, _ = await asyncio.gather(client.request({"command": "ping"}), pong_next())
            assert answer["result"] == b"pong"
            client.close()

    run(scenario())


def test_rtpengine_errors_come_back_as_ng_errors(daemon: RunningRtpEngine) -> None:
    async def scenario() -> None:
        client = NgClient(*daemon.ng)
        await client.start()
        assert (await client.request({"command": "ping"}))["result"] == b"pong"
        with pytest.raises(NgError, match="Unrecognized command"):
            await client.request({"command": "no such command"})
        client.close()

    run(scenario())


# ---------------------------------------------------------------------- the driver


def test_the_rtpengine_driver_is_a_media_engine(daemon: RunningRtpEngine, tmp_path: Path) -> None:
    async def scenario() -> None:
        media: MediaEngine = await engine(daemon, [], tmp_path)
        assert isinstance(media, MediaEngine)
        with pytest.raises(KeyError):
            await media.play("nobody", [PROMPTS / "greeting.wav"])
        with pytest.raises(KeyError):
            await media.bridge("nobody", "else")
        await media.release("nobody")  # a no-op
        await media.close()

    run(scenario())


@pytest.mark.parametrize("call", [None, "call-1"], ids=["two calls", "one call"])
@realtime()
def test_a_bridge_carries_audio_both_ways_transcoded_and_keys_are_reported(
    daemon: RunningRtpEngine, tmp_path: Path, call: str | None
) -> None:
    # Legs of no call (callbacks) are rtpengine calls of their own, bridged through
    # switchboard's sides; legs of one call are bridged by pairing their phones.
    async def scenario() -> None:
        events: list[MediaEvent] = []
        media = await engine(daemon, events, tmp_path)
        caller_addr, caller = await leg_with_phone(media, "call-1", 8, call)  # PCMA
        agent_addr, agent = await leg_with_phone(media, "leg-1", 0, call)  # PCMU
        loud = tone_frames(1000, 0.4, law=Law.ALAW)

        # Unbridged, audio goes nowhere; a key is reported once.
        await talk(caller, caller_addr, loud, ssrc=1, timestamp=4000, payload_type=8)
        for packet in dtmf_packets("7", payload_type=101, ssrc=1, sequence=30, timestamp=8000):
            caller.send(packet.serialize(), caller_addr)
            await asyncio.sleep(0.02)
        await asyncio.sleep(0.3)
        assert agent.received == []
        assert events == [DtmfReceived("call-1", "7", pytest.approx(0.1, abs=0.05))]

        await media.bridge("call-1", "leg-1")
        await asyncio.gather(
            talk(caller, caller_addr, loud, ssrc=1, sequence=50, timestamp=16000, payload_type=8),
            talk(agent, agent_addr, tone_frames(500, 0.4, law=Law.ULAW), ssrc=2))
        await asyncio.sleep(0.3)
        heard_by_agent, heard_by_caller = payloads(agent), payloads(caller)
        assert {p.payload_type for p in heard_by_agent} == {0}  # transcoded to PCMU
        assert {p.payload_type for p in heard_by_caller} == {8}  # and back to PCMA
        assert len(heard_by_agent) >= 18 and len(heard_by_caller) >= 18
        assert level(heard_by_agent, Law.ULAW) > 1000 and level(heard_by_caller, Law.ALAW) > 1000

        await media.unbridge("leg-1")
        agent.received.clear()
        await talk(caller, caller_addr, loud, ssrc=1, sequence=80, timestamp=32000,
                   payload_type=8)
        await asyncio.sleep(0.3)
        assert agent.received == []
        await media.release("call-1")
        await media.release("leg-1")
        await media.close()
        caller.close()
        agent.close()

    run(scenario(), timeout=30)


def rtpengine_calls(daemon: RunningRtpEngine) -> list[bytes]:
    calls = ng(daemon.ng, b"d7:command4:liste").get("calls")
    assert isinstance(calls, list)
    return calls


def received_by_rtpengine(daemon: RunningRtpEngine, call_id: str) -> int:
    """RTP packets rtpengine received in one call, over all its ports."""
    answer = ng(daemon.ng, bencode({"command": "query", "call-id": call_id}))
    totals = answer["totals"]
    assert isinstance(totals, dict)
    return int(totals["RTP"]["packets"])


def test_legs_of_one_call_are_bridged_in_one_pass_and_keep_their_ports(
    daemon: RunningRtpEngine, tmp_path: Path
) -> None:
    async def scenario() -> None:
        media = await engine(daemon, [], tmp_path)
        before = set(rtpengine_calls(daemon))
        caller_addr, caller = await leg_with_phone(media, "call-1", 0, "call-1")
        agent_addr, agent = await leg_with_phone(media, "leg-1", 8, "call-1")
        other_addr, other = await leg_with_phone(media, "leg-2", 0, "call-1")  # rung too
        (call_id,) = set(rtpengine_calls(daemon)) - before  # the three legs: one call
        frames = tone_frames(700, 0.4, law=Law.ULAW)

        await media.bridge("call-1", "leg-1")
        start = received_by_rtpengine(daemon, call_id.decode())
        await asyncio.gather(talk(caller, caller_addr, frames, ssrc=1),
                             talk(agent, agent_addr, tone_frames(700, 0.4, law=Law.ALAW),
                                  ssrc=2, payload_type=8))
        await asyncio.sleep(0.3)
        # 40 packets sent, 40 received by rtpengine: each crossed it once (two calls
        # re-pointed at each other would receive each packet twice).
        assert received_by_rtpengine(daemon, call_id.decode()) - start == 40
        assert len(payloads(agent)) >= 18 and len(payloads(caller)) >= 18
        assert other.received == []

        # A re-INVITE of the agent (a new port, and PCMU now) while bridged: still paired.
        agent2 = await Phone.open()
        await media.set_remote("leg-1", *agent2.addr, 0)
        caller.received.clear()
        await asyncio.gather(talk(caller, caller_addr, frames, ssrc=1, sequence=40),
                             talk(agent2, agent_addr, frames, ssrc=3))
        await asyncio.sleep(0.3)
        assert len(payloads(agent2)) >= 18 and len(payloads(caller)) >= 18
        assert {p.payload_type for p in payloads(caller)} == {0}

        # Unbridged: the same ports still reach rtpengine (the phones' SDP is not stale),
        # the phones no longer hear each other, and a prompt plays to the caller.
        await media.unbridge("call-1")
        caller.received.clear()
        agent2.received.clear()
        await media.play("call-1", [PROMPTS / "greeting.wav"])
        await asyncio.gather(talk(caller, caller_addr, frames, ssrc=1, sequence=80),
                             talk(agent2, agent_addr, frames, ssrc=3, sequence=40))
        await asyncio.sleep(0.3)
        assert agent2.received == []
        heard = [RtpPacket.parse(d) for d in caller.received]
        assert len(heard) >= 15 and 3 not in {p.ssrc for p in heard}  # the prompt only
        await media.stop("call-1")

        # Bridged to the other agent instead: heard, and only that one.
        await media.set_remote("leg-1", *agent2.addr, 0)
        await media.bridge("call-1", "leg-2")
        caller.received.clear()
        await asyncio.gather(talk(other, other_addr, frames, ssrc=4),
                             talk(agent2, agent_addr, frames, ssrc=3, sequence=80))
        await asyncio.sleep(0.3)
        assert {RtpPacket.parse(d).ssrc for d in caller.received} == {4}

        # The call goes with its last leg; what played to a leg released before stops.
        await media.release("leg-1")
        await media.unbridge("call-1")
        await media.play("call-1", [PROMPTS / "greeting.wav"], loop=True)
        await asyncio.sleep(0.2)
        await media.release("call-1")
        await asyncio.sleep(0.1)
        caller.received.clear()
        await asyncio.sleep(0.3)
        assert caller.received == []
        assert call_id in rtpengine_calls(daemon)
        await media.release("leg-2")
        assert call_id not in rtpengine_calls(daemon)
        await media.close()
        for phone in (caller, agent, agent2, other):
            phone.close()

    run(scenario(), timeout=30)


@realtime()
def test_a_prompt_is_played_and_its_end_reported_and_a_loop_goes_on_until_stopped(
    daemon: RunningRtpEngine, tmp_path: Path
) -> None:
    async def scenario() -> None:
        events: list[MediaEvent] = []
        media = await engine(daemon, events, tmp_path)
        _, phone = await leg_with_phone(media, "call-1", 0)
        started = time.monotonic()
        # Two files back to back: one playlist (greeting 2.3 s + a digit).
        files = [PROMPTS / "greeting.wav", PROMPTS / "num" / "5.wav"]
        expected = sum(len(load_wav(f)) for f in files) / 8000
        await media.play("call-1", files, play_id=4)
        while not events and time.monotonic() - started < 10:
            await asyncio.sleep(0.02)
        elapsed = time.monotonic() - started
        assert events == [PlayFinished("call-1", 4)]
        assert expected - 0.1 < elapsed < expected + 0.6
        assert len(phone.received) >= expected * 50 * 0.9
        assert level(payloads(phone), Law.ULAW) > 500

        await media.play("call-1", [PROMPTS / "music_on_hold.wav"], loop=True, play_id=5)
        await asyncio.sleep(0.5)
        await media.stop("call-1")
        await asyncio.sleep(0.2)
        count = len(phone.received)
        await asyncio.sleep(0.3)
        assert len(phone.received) == count  # stopped: silence
        assert events == [PlayFinished("call-1", 4)]  # a loop or a stop reports nothing

        with pytest.raises(OSError):
            await media.play("call-1", [tmp_path / "missing.wav"])
        await media.close()
        phone.close()

    run(scenario(), timeout=30)


def test_while_a_bridged_agent_hears_the_whisper_the_caller_is_held_back(
    daemon: RunningRtpEngine, tmp_path: Path
) -> None:
    async def scenario() -> None:
        events: list[MediaEvent] = []
        media = await engine(daemon, events, tmp_path)
        caller_addr, caller = await leg_with_phone(media, "call-1", 0)
        _, agent = await leg_with_phone(media, "leg-1", 0)
        await media.bridge("call-1", "leg-1")
        await media.play("leg-1", [PROMPTS / "num" / "3.wav"], play_id=1)
        marker = bytes([0x55]) * 160  # what the caller says: a byte prompts never are alone
        talking = asyncio.ensure_future(
            talk(caller, caller_addr, [marker] * 100, ssrc=9, timestamp=1000))
        while not events:
            await asyncio.sleep(0.01)
        during = sum(1 for p in payloads(agent) if p.payload == marker)
        agent.received.clear()
        await talking
        await asyncio.sleep(0.2)
        after = sum(1 for p in payloads(agent) if p.payload == marker)
        assert during <= 3  # at most the packets in flight as the whisper began
        assert after >= 20  # then the caller is heard
        await media.close()
        caller.close()
        agent.close()

    run(scenario(), timeout=30)


def test_a_call_recording_mixes_both_parties(daemon: RunningRtpEngine, tmp_path: Path) -> None:
    async def scenario() -> None:
        events: list[MediaEvent] = []
        media = await engine(daemon, events, tmp_path)
        caller_addr, caller = await leg_with_phone(media, "call-1", 8)
        agent_addr, agent = await leg_with_phone(media, "leg-1", 0)
        await media.bridge("call-1", "leg-1")
        path = tmp_path / "rec" / "call.wav"
        await media.record("call-1", path, kind="call")
        with pytest.raises(ValueError):
            await media.record("call-1", tmp_path / "again.wav", kind="call")
        await asyncio.gather(
            talk(caller, caller_addr, tone_frames(600, 1.0, law=Law.ALAW), ssrc=1, payload_type=8),
            talk(agent, agent_addr, tone_frames(1400, 1.0, law=Law.ULAW), ssrc=2))
        await media.stop_recording("call-1")
        [done] = [e for e in events if isinstance(e, RecordingFinished)]
        assert done.path == path and done.kind == "call" and done.reason == "stopped"
        assert 0.8 < done.duration < 1.4
        pcm = load_wav(path).astype(np.float64)
        spectrum = np.abs(np.fft.rfft(pcm))
        freqs = np.fft.rfftfreq(len(pcm), 1 / 8000)

        def band(f: float) -> float:
            return float(spectrum[(freqs > f - 20) & (freqs < f + 20)].max())

        floor = float(np.median(spectrum))
        assert band(600) > 50 * floor and band(1400) > 50 * floor  # both parties are in it
        assert band(1000) < band(600) / 100
        await media.close()
        caller.close()
        agent.close()

    run(scenario(), timeout=30)


@realtime()
def test_a_voicemail_ends_on_silence_or_at_its_maximum_length(
    daemon: RunningRtpEngine, tmp_path: Path
) -> None:
    async def scenario() -> None:
        events: list[MediaEvent] = []
        media = await engine(daemon, events, tmp_path)
        addr, phone = await leg_with_phone(media, "call-1", 8)
        await media.record("call-1", tmp_path / "vm1.wav", kind="voicemail",
                           max_seconds=30, silence_seconds=1.0)
        await talk(phone, addr, tone_frames(800, 1.0, law=Law.ALAW), ssrc=1, payload_type=8)
        silence = [bytes([g711.ALAW_SILENCE]) * 160] * 100
        await talk(phone, addr, silence, ssrc=1, sequence=50, timestamp=8000, payload_type=8)
        [first] = [e for e in events if isinstance(e, RecordingFinished)]
        assert first.reason == "silence"
        assert 0.9 < first.duration < 1.8  # the talk, plus a short tail of the silence

        await media.record("call-1", tmp_path / "vm2.wav", kind="voicemail", max_seconds=1.0)
        await talk(phone, addr, tone_frames(800, 1.6, law=Law.ALAW), ssrc=1, sequence=200,
                   timestamp=80000, payload_type=8)
        second = [e for e in events if isinstance(e, RecordingFinished)][1]
        assert second.reason == "max_length" and second.duration == pytest.approx(1.0)
        assert np.abs(load_wav(tmp_path / "vm2.wav")).mean() > 1000
        await media.close()
        phone.close()

    run(scenario(), timeout=30)


# ---------------------------------------------------------------------- pcap -> WAV


def test_a_pcap_of_two_directions_becomes_one_mixed_wav(tmp_path: Path) -> None:
    """The converter reads what rtpengine writes (raw IPv4 link type) with no daemon."""
    def frame(src: int, dst: int, seq: int, payload: bytes, pt: int) -> bytes:
        rtp = struct.pack("!BBHII", 0x80, pt, seq, seq * 160, 7) + payload
        udp = struct.pack("!HHHH", src, dst, 8 + len(rtp), 0) + rtp
        ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(udp), 0, 0, 64, 17, 0,
                         bytes([127, 0, 0, 1]), bytes([127, 0, 0, 1])) + udp
        return ip

    records = []
    ulaw = tone_frames(500, 0.5, law=Law.ULAW)
    alaw = tone_frames(1500, 0.5, law=Law.ALAW)
    for i in range(25):
        t = 100 + i * 0.02
        for data in (frame(40000, 30000, i, alaw[i], 8), frame(30010, 30002, i, ulaw[i], 0)):
            records.append(struct.pack("<IIII", int(t), round((t % 1) * 1e6), len(data),
                                       len(data)) + data)
    pcap = tmp_path / "x.pcap"
    pcap.write_bytes(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 101)
                     + b"".join(records))
    seconds = pcap_to_wav(pcap, tmp_path / "x.wav", 30000, None)
    assert seconds == pytest.approx(0.5, abs=0.03)
    pcm = load_wav(tmp_path / "x.wav").astype(np.float64)
    spectrum = np.abs(np.fft.rfft(pcm))
    freqs = np.fft.rfftfreq(len(pcm), 1 / 8000)
    assert spectrum[np.abs(freqs - 500) < 20].max() > 20 * np.median(spectrum)
    assert spectrum[np.abs(freqs - 1500) < 20].max() > 20 * np.median(spectrum)
    with pytest.raises(ValueError):
        (tmp_path / "bad.pcap").write_bytes(b"nope")
        pcap_to_wav(tmp_path / "bad.pcap", tmp_path / "bad.wav", 1, None)


def test_the_daemon_switchboard_starts_is_stopped_and_its_death_reported(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    async def scenario() -> None:
        daemon = RtpEngineDaemon(interface=LOCALHOST, port_range=(32400, 32499),
                                 dtmf_dest=(LOCALHOST, free_udp_port()),
                                 recording_dir=tmp_path / "rec", log_path=tmp_path / "log")
        ng = await daemon.start()
        client = NgClient(*ng)
        await client.start()
        assert (await client.request({"command": "ping"}))["result"] == b"pong"
        assert daemon.process is not None
        daemon.process.kill()  # our own child, by its PID: it dies under us
        for _ in range(100):
            if "exited" in caplog.text:
                break
            await asyncio.sleep(0.02)
        assert "calls have no media" in caplog.text
        await daemon.stop()  # after a death: nothing left to do, no error
        client.close()

        again = RtpEngineDaemon(interface=LOCALHOST, port_range=(32400, 32499),
                                dtmf_dest=(LOCALHOST, free_udp_port()),
                                recording_dir=tmp_path / "rec", log_path=tmp_path / "log")
        await again.start()
        process = again.process
        assert process is not None
        await again.stop()
        assert process.returncode is not None
        assert caplog.text.count("calls have no media") == 1, "a stop is not a death"

    run(scenario(), timeout=30)
