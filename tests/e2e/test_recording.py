"""Call recording over real SIP (``record: true`` on a number), through each media driver:
in-process, an rtpengine that ``switchboard run`` starts, and an rtpengine already running
that it only connects to (``media.rtpengine: host:port``), which must outlive it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from switchboard.media.wav import load_wav

from ..rtpengine import RunningRtpEngine, ng
from .audio import Heard, pcap_audio
from .sipp import (
    agents_yaml,
    drains_at_once,
    finished,
    free_media_port,
    free_udp_port,
    queue_yaml,
    register_agent,
    start_agent,
    stop,
    switchboard,
    write_config,
)
from .test_hold import agent_holds
from .test_listening import (
    HEARD,
    NOT_HEARD,
    VOICE_PCAP,
    caller_scenario,
    hang_up,
    pause,
    say,
    speak,
    start_scripted_caller,
)

RECORDED_QUEUE = queue_yaml("""\
    wrapup: 0
    music: null
    whisper: {wait_time: false, number_name: false}
""", number=", record: true")


def running_yaml(daemon: RunningRtpEngine) -> str:
    """The ``media:`` section that makes switchboard use ``daemon`` (not start its own)."""
    return (f"\nmedia:\n  driver: rtpengine\n  rtpengine: {daemon.ng[0]}:{daemon.ng[1]}\n"
            f"  rtpengine_dtmf: {daemon.dtmf[0]}:{daemon.dtmf[1]}\n"
            f"  rtpengine_recording_dir: {daemon.recordings}\n")


@pytest.fixture(params=["inprocess", "rtpengine", "running rtpengine"])
def media(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[RunningRtpEngine | str]:
    if request.param == "inprocess":
        yield ""
    elif request.param == "rtpengine":
        yield "\nmedia:\n  driver: rtpengine\n"
    else:
        external = RunningRtpEngine(tmp_path / "external", (33000, 33199))
        try:
            yield external
        finally:
            external.stop()


def test_a_recorded_number_leaves_a_wav_of_the_call_that_holds_what_was_said(
        tmp_path: Path, media: RunningRtpEngine | str) -> None:
    media_yaml = running_yaml(media) if isinstance(media, RunningRtpEngine) else media
    config = write_config(tmp_path, RECORDED_QUEUE + agents_yaml("201") + media_yaml)
    data, caller_log, agent_log = tmp_path / "data", tmp_path / "caller.log", tmp_path / "a.log"
    # The agent answers and stays silent; the caller speaks 7 s (SIPp's g711a.pcap), hangs up.
    scenario = caller_scenario(tmp_path, "caller_speaks", [pause(2000), speak(), pause(8000)],
                               hang_up(2), codec="PCMA")
    with switchboard(config, data=data) as (port, proc):
        agent_port = free_udp_port()
        agent = start_agent("agent_answers.xml", agent_port, agent_log, "-m", "1",
                            "-mp", str(free_media_port()), timeout=60)
        caller = None
        try:
            register_agent("201", port, agent_port)
            caller = start_scripted_caller(port, scenario, free_udp_port(), caller_log)
            finished(caller, "caller", timeout=45)
            finished(agent, "agent", timeout=10)
        finally:
            stop(agent, *([caller] if caller else []))
        output = drains_at_once(proc)

    files = sorted((data / "recordings").rglob("*.wav"))
    assert len(files) == 1, f"one recording: {list(data.rglob('*'))}\n{output[-3000:]}"
    # Laid out by arrival time: across a gap or two where the server stalled.
    recording = Heard(0.0, load_wav(files[0]))
    voice = pcap_audio(VOICE_PCAP)
    found = recording.find(voice)
    assert found.score >= HEARD, f"the caller's speech in the recording: {found}"
    assert recording.seconds >= len(voice) / 8000 - 0.5
    reversed_voice = recording.find(voice[::-1].copy())
    assert reversed_voice.score < 0.5, "the comparison can fail"
    if isinstance(media, RunningRtpEngine):
        # Switchboard only connected to it: the daemon outlives it, with none of its calls.
        assert media.proc.poll() is None, "switchboard stopped an rtpengine it did not start"
        calls = ng(media.ng, b"d7:command4:liste").get("calls")
        assert calls == [], f"calls left in rtpengine: {calls}"
        # Its spool keeps nothing of ours once the WAV is written.
        left = [p for p in media.recordings.rglob("*") if p.is_file()]
        assert left == [], f"left in rtpengine's spool: {left}"


def test_the_hold_music_a_recorded_caller_hears_is_in_the_recording(
        tmp_path: Path, media: RunningRtpEngine | str) -> None:
    # rtpengine's own recording holds only the packets it received: what it played to the
    # caller (here the hold music) is mixed in by the driver, as the in-process recorder
    # hears it.
    media_yaml = running_yaml(media) if isinstance(media, RunningRtpEngine) else media
    config = write_config(tmp_path, RECORDED_QUEUE + agents_yaml("201") + media_yaml)
    data = tmp_path / "data"
    output = agent_holds(config, tmp_path, "+380671110082", data)

    files = sorted((data / "recordings").rglob("*.wav"))
    assert len(files) == 1, f"one recording: {list(data.rglob('*'))}\n{output[-3000:]}"
    # Laid out by arrival time, as heard: across a gap or two if the player stalled.
    recording = Heard(0.0, load_wav(files[0]))
    music = say("music_on_hold")
    held = recording.find(music[:12000])  # the hold's first 1.5 s, from the start
    assert held.score >= HEARD, f"the hold music in the recording: {held}"
    assert 0.5 <= held.start <= 2.5, f"the hold began about 1 s into the recording: {held}"
    # The music stopped with the hold (about 2 s), and nothing else was played.
    after = recording.find(music[:8000], held.start + 3.0)
    assert after.score < NOT_HEARD, f"music after the hold ended: {after}"
    assert recording.find(say("greeting")).score < NOT_HEARD, "the comparison can fail"
