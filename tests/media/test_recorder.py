"""Recording: the time line and silence detection with explicit time, then calls over UDP."""

from __future__ import annotations

import asyncio
import random
from pathlib import Path

import numpy as np
import pytest

from switchboard.media import g711
from switchboard.media.engine import (
    InProcessMedia,
    MediaEvent,
    PlayFinished,
    RecordingFinished,
)
from switchboard.media.recorder import HEARD, SAID, Recording
from switchboard.media.relay import RelayConfig
from switchboard.media.wav import load_wav, write_wav

from ..realtime import realtime
from .udp import LOCALHOST, Phone, run, talk, tone_frames, until

pytestmark = pytest.mark.timeout(60)

PORTS = (31800, 31899)
ULAW = g711.Law.ULAW


def decoded(frames: list[bytes]) -> np.ndarray:
    return g711.frames_to_pcm(frames, ULAW)


def take_all(recording: Recording, times: list[float], end: float, reason: str) -> np.ndarray:
    """Everything a recording hands out when advanced at ``times`` and finished at ``end``."""
    parts = [recording.advance(t) for t in times]
    rest, length = recording.finish(end, reason)  # type: ignore[arg-type]
    whole = np.concatenate([*parts, rest])
    return whole[:length]


def band_level(pcm: np.ndarray, frequency: float, width: float = 20.0) -> float:
    """Share of the signal's energy within ``width`` Hz of ``frequency``."""
    samples = pcm.astype(np.float64)
    power = np.abs(np.fft.rfft(samples * np.hanning(len(samples)))) ** 2
    bins = np.fft.rfftfreq(len(samples), 1 / 8000)
    return float(power[np.abs(bins - frequency) <= width].sum() / power.sum())


# --------------------------------------------------------------------------- the time line


def test_jittery_frames_are_laid_end_to_end() -> None:
    frames = tone_frames(440, 1.0)
    recording = Recording(10.0, tracks=1)
    rng = random.Random(2)
    for k, frame in enumerate(frames):
        recording.add(HEARD, frame, ULAW, 10.0 + 0.02 * (k + 1) + rng.uniform(0, 0.04))
    pcm = take_all(recording, [10.5, 10.8], 11.05, "stopped")
    assert np.array_equal(pcm[:8000], decoded(frames))  # not a sample lost or doubled
    assert len(pcm) == 8400  # the recording lasts until it was stopped


def test_a_stream_that_pauses_leaves_silence_where_it_paused() -> None:
    frames = tone_frames(440, 0.2)  # 10 frames
    recording = Recording(0.0, tracks=1)
    for k in range(5):
        recording.add(HEARD, frames[k], ULAW, 0.02 * (k + 1))
    for k in range(5, 10):  # the same stream, 1 s later (silence suppression)
        recording.add(HEARD, frames[k], ULAW, 1.0 + 0.02 * (k + 1))
    pcm = take_all(recording, [], 1.25, "stopped")
    audio = decoded(frames)
    assert np.array_equal(pcm[:800], audio[:800])
    assert not pcm[800:8800].any()
    assert np.array_equal(pcm[8800:9600], audio[800:])


def test_both_directions_are_mixed_sample_by_sample() -> None:
    heard, said = tone_frames(440, 0.5, amplitude=6000), tone_frames(1000, 0.5, amplitude=3000)
    recording = Recording(0.0, tracks=2)
    for k in range(25):
        recording.add(HEARD, heard[k], ULAW, 0.02 * (k + 1))
        recording.add(SAID, said[k], ULAW, 0.02 * (k + 1) + 0.003)
    pcm = take_all(recording, [0.2, 0.4], 0.5, "stopped")
    expected = decoded(heard).astype(np.int32) + decoded(said)
    assert np.array_equal(pcm, expected)


def test_a_burst_far_ahead_of_the_clock_is_cut() -> None:
    frames = tone_frames(440, 1.0)
    recording = Recording(0.0, tracks=1, lead=0.2)
    for frame in frames:
        recording.add(HEARD, frame, ULAW, 0.02)  # 50 frames at once
    assert recording.dropped == 50 - 11  # 0.2 s of lead: ten frames beyond the first
    pcm = take_all(recording, [], 0.5, "stopped")
    assert np.array_equal(pcm[:1760], decoded(frames[:11]))


def test_frames_older_than_what_was_handed_out_are_cut() -> None:
    frames = tone_frames(440, 0.1)
    recording = Recording(0.0, tracks=1, lag=0.3)
    written = recording.advance(1.0)  # 0.7 s handed out: final
    assert len(written) == 5600 and not written.any()
    # It arrived at sample 5750, so it belongs at 5590..5750: its first 10 samples are late.
    recording.add(HEARD, frames[0], ULAW, 0.71875)
    rest, length = recording.finish(0.75, "stopped")
    assert length == 6000
    assert np.array_equal(rest[:150], decoded(frames[:1])[10:])
    assert not rest[150:].any()


def test_max_length_cuts_exactly() -> None:
    frames = tone_frames(440, 2.0)
    recording = Recording(0.0, tracks=1, max_seconds=1.0)
    assert recording.deadline() == 1.0
    times = []
    for k, frame in enumerate(frames[:51]):
        recording.add(HEARD, frame, ULAW, 0.02 * (k + 1))
        times.append(0.02 * (k + 1))
    assert recording.end_reason(0.99) is None
    assert recording.end_reason(1.0) == "max_length"
    pcm = take_all(recording, times[::10], 1.0, "max_length")
    assert np.array_equal(pcm, decoded(frames[:50]))


def test_silence_ends_a_voicemail_and_is_cut_from_its_end() -> None:
    voice, quiet = tone_frames(440, 0.6), tone_frames(440, 2.0, amplitude=50)  # -56 dBFS
    recording = Recording(0.0, tracks=1, silence_seconds=1.0, tail=0.3)
    assert recording.deadline() == 1.0  # nothing said yet
    now = 0.0
    for frame in voice + quiet:
        now += 0.02
        recording.add(HEARD, frame, ULAW, now)
        if recording.end_reason(now) is not None:
            break
    assert now == pytest.approx(1.6)  # the last voiced frame came at 0.6 s
    assert recording.end_reason(now) == "silence"
    assert recording.deadline() == pytest.approx(1.6)
    pcm = take_all(recording, [], now, "silence")
    assert len(pcm) == 4800 + 2400  # the voice and 0.3 s after it
    assert np.array_equal(pcm[:4800], decoded(voice))


def test_a_voicemail_where_nobody_speaks_ends_after_the_silence() -> None:
    recording = Recording(0.0, tracks=1, silence_seconds=2.0)
    assert recording.end_reason(1.99) is None and recording.end_reason(2.0) == "silence"
    rest, length = recording.finish(2.0, "silence")
    assert length == 2400 and not rest.any()


def test_recording_misuse_raises() -> None:
    with pytest.raises(ValueError):
        Recording(0.0, max_seconds=0)
    with pytest.raises(ValueError):
        Recording(0.0, silence_seconds=-1)
    with pytest.raises(ValueError):
        Recording(0.0, tracks=1, voice_track=1)


# --------------------------------------------------------------------------- over UDP


def make_engine(events: list[MediaEvent]) -> InProcessMedia:
    config = RelayConfig(bind_ip=LOCALHOST, port_range=PORTS)
    return InProcessMedia(config, random.Random(3), events.append)


async def leg_with_phone(
    engine: InProcessMedia, leg_id: str, payload_type: int = 0
) -> tuple[tuple[str, int], Phone]:
    address = await engine.allocate(leg_id)
    phone = await Phone.open()
    await engine.set_remote(leg_id, *phone.addr, payload_type)
    return address, phone


def finished(events: list[MediaEvent]) -> list[RecordingFinished]:
    return [e for e in events if isinstance(e, RecordingFinished)]


@pytest.mark.parametrize("recorded", ["call-1", "leg-1"])
@realtime()
def test_a_bridged_call_is_recorded_with_both_sides_in_one_wav(
    tmp_path: Path, recorded: str
) -> None:
    async def scenario() -> None:
        events: list[MediaEvent] = []
        engine = make_engine(events)
        caller_addr, caller = await leg_with_phone(engine, "call-1")  # PCMU
        agent_addr, agent = await leg_with_phone(engine, "leg-1", payload_type=8)  # PCMA
        await engine.bridge("call-1", "leg-1")
        path = tmp_path / "calls" / f"{recorded}.wav"
        loop = asyncio.get_running_loop()
        started = loop.time()
        await engine.record(recorded, path, kind="call")
        with pytest.raises(ValueError):
            await engine.record(recorded, tmp_path / "again.wav", kind="call")
        agent_frames = [
            g711.transcode(frame, ULAW, g711.Law.ALAW)
            for frame in tone_frames(1000, 1.0, amplitude=6000)
        ]
        async with asyncio.TaskGroup() as group:
            group.create_task(talk(caller, caller_addr, tone_frames(440, 1.0), ssrc=1))
            group.create_task(talk(agent, agent_addr, agent_frames, ssrc=2, payload_type=8))
        await engine.stop_recording(recorded)
        elapsed = loop.time() - started
        [result] = finished(events)
        assert (result.leg_id, result.kind, result.path, result.reason) == (
            recorded, "call", path, "stopped"
        )  # fmt: skip
        assert result.duration == pytest.approx(elapsed, abs=0.03)
        pcm = load_wav(path)
        assert len(pcm) == round(result.duration * 8000)
        caller_share, agent_share = band_level(pcm, 440), band_level(pcm, 1000)
        assert caller_share > 0.4 and agent_share > 0.2  # both voices, at their levels
        assert caller_share + agent_share > 0.95  # and nothing else
        leg = engine.relay.leg(recorded)
        assert leg.taps_in == leg.taps_out == []  # the taps are gone
        for phone in (caller, agent):
            phone.close()
        await engine.close()

    run(scenario())


@realtime()
def test_a_call_recording_holds_the_prompts_the_caller_heard_and_ends_at_hang_up(
    tmp_path: Path,
) -> None:
    async def scenario() -> None:
        events: list[MediaEvent] = []
        engine = make_engine(events)
        caller_addr, caller = await leg_with_phone(engine, "call-1")
        prompt = tmp_path / "prompt.wav"
        t = np.arange(4000) / 8000
        write_wav(prompt, np.round(8000 * np.sin(2 * np.pi * 1500 * t)).astype(np.int16))
        path = tmp_path / "call-1.wav"
        await engine.record("call-1", path, kind="call")
        await engine.play("call-1", [prompt], play_id=1)
        await talk(caller, caller_addr, tone_frames(440, 0.5), ssrc=1)
        await until(lambda: PlayFinished("call-1", 1) in events)
        await engine.release("call-1")
        [result] = finished(events)
        assert result.reason == "released"
        pcm = load_wav(path)
        assert band_level(pcm, 1500) > 0.3 and band_level(pcm, 440) > 0.3
        caller.close()
        await engine.close()

    run(scenario())


@realtime()
def test_a_voicemail_stops_at_its_maximum_length(tmp_path: Path) -> None:
    async def scenario() -> None:
        events: list[MediaEvent] = []
        engine = make_engine(events)
        caller_addr, caller = await leg_with_phone(engine, "call-1")
        path = tmp_path / "vm" / "1.wav"
        loop = asyncio.get_running_loop()
        started = loop.time()
        await engine.record("call-1", path, kind="voicemail", max_seconds=1.0)
        talking = asyncio.create_task(talk(caller, caller_addr, tone_frames(440, 2.0), ssrc=1))
        await until(lambda: bool(finished(events)), timeout=3.0)
        ended = loop.time() - started
        talking.cancel()
        [result] = finished(events)
        assert (result.kind, result.reason, result.duration) == ("voicemail", "max_length", 1.0)
        assert ended == pytest.approx(1.0, abs=0.05)
        pcm = load_wav(path)
        assert len(pcm) == 8000
        assert band_level(pcm[400:], 440) > 0.95
        caller.close()
        await engine.close()

    run(scenario())


@realtime()
def test_a_voicemail_ends_after_the_silence_and_holds_only_the_caller(tmp_path: Path) -> None:
    async def scenario() -> None:
        events: list[MediaEvent] = []
        engine = make_engine(events)
        caller_addr, caller = await leg_with_phone(engine, "call-1")
        prompt = tmp_path / "music.wav"
        t = np.arange(8000) / 8000
        write_wav(prompt, np.round(8000 * np.sin(2 * np.pi * 1000 * t)).astype(np.int16))
        path = tmp_path / "vm.wav"
        loop = asyncio.get_running_loop()
        started = loop.time()
        await engine.record("call-1", path, kind="voicemail", max_seconds=10, silence_seconds=0.6)
        await engine.play("call-1", [prompt], loop=True)  # not in a voicemail
        voice = tone_frames(440, 0.8)
        quiet = tone_frames(440, 2.0, amplitude=40)  # line noise, about -58 dBFS
        talking = asyncio.create_task(talk(caller, caller_addr, voice + quiet, ssrc=1))
        await until(lambda: bool(finished(events)), timeout=4.0)
        ended = loop.time() - started
        talking.cancel()
        [result] = finished(events)
        assert result.reason == "silence"
        assert ended == pytest.approx(0.8 + 0.6, abs=0.15)  # 0.6 s after the voice stopped
        assert result.duration == pytest.approx(0.8 + 0.3, abs=0.06)  # silence cut: 0.3 s kept
        pcm = load_wav(path)
        assert len(pcm) == round(result.duration * 8000)
        assert band_level(pcm, 440) > 0.95 and band_level(pcm, 1000) < 0.001
        caller.close()
        await engine.close()

    run(scenario())


@realtime()
def test_a_caller_hanging_up_ends_the_voicemail_with_what_was_said(tmp_path: Path) -> None:
    async def scenario() -> None:
        events: list[MediaEvent] = []
        engine = make_engine(events)
        caller_addr, caller = await leg_with_phone(engine, "call-1")
        path = tmp_path / "vm.wav"
        await engine.record("call-1", path, kind="voicemail", max_seconds=60)
        await talk(caller, caller_addr, tone_frames(440, 0.7), ssrc=1)
        await engine.release("call-1")
        [result] = finished(events)
        assert result.reason == "released"
        assert result.duration == pytest.approx(0.7, abs=0.05)
        assert band_level(load_wav(path), 440) > 0.95
        caller.close()
        await engine.close()

    run(scenario())


@realtime()
def test_record_misuse_and_unwritable_paths_raise(tmp_path: Path) -> None:
    async def scenario() -> None:
        events: list[MediaEvent] = []
        engine = make_engine(events)
        await engine.allocate("call-1")
        with pytest.raises(ValueError):
            await engine.record("call-1", tmp_path / "x.wav", kind="podcast")  # type: ignore[arg-type]
        blocker = tmp_path / "file"
        blocker.write_text("")
        with pytest.raises(OSError):
            await engine.record("call-1", blocker / "x.wav", kind="voicemail")
        await engine.record("call-1", tmp_path / "a.wav", kind="call")
        await engine.record("call-1", tmp_path / "b.wav", kind="voicemail")  # both at once
        await engine.stop_recording("call-1", "voicemail")
        assert [(r.path.name, r.reason) for r in finished(events)] == [("b.wav", "stopped")]
        await engine.close()  # ends the call recording too
        assert [(r.path.name, r.reason) for r in finished(events)][1] == ("a.wav", "released")

    run(scenario())
