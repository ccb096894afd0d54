"""Tests that listen: what callers and agents of a real ``switchboard run`` actually hear.

Callers and agents are SIPp processes; the RTP sent to each one's media port is captured on
lo (``audio.RtpCapture``), decoded from G.711 and searched for the prompt files by normalised
cross-correlation (``audio.Heard.find``): a prompt played unchanged scores about 1.0, any other
sound well under 0.5, so every "heard X" below is also a check that it was not something else.
Keys come as RFC 4733 events from SIPp's pcaps (``/usr/share/sip-tester/dtmf_2833_*.pcap``) or
as SIP INFO; the voice of a caller is SIPp's ``g711a.pcap``.

Every test takes ``media_yaml`` (conftest.py) and runs once per media driver. Timings come
from the configs (announcements after a few seconds, not minutes) with tolerances of a second
or more: the machine may be busy.
"""

from __future__ import annotations

import re
import subprocess
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import numpy.typing as npt

from switchboard.config.loader import load_config
from switchboard.core.commands import Prompt, SayDuration, SayNumber, Utterance
from switchboard.media.prompts import PromptLibrary
from switchboard.media.wav import load_wav

from .audio import (
    Heard,
    Match,
    RtpCapture,
    WebhookSink,
    best_match,
    last_voice,
    pcap_audio,
    prompt_pcm,
)
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
    start_agent,
    start_caller,
    start_sipp,
    stop,
    switchboard,
    write_config,
)

PCAPS = Path("/usr/share/sip-tester")
VOICE_PCAP = PCAPS / "g711a.pcap"  # 7 s of speech, G.711 A-law, 30 ms packets

HEARD = 0.9  # a prompt played unchanged through G.711 scores ~0.99
NOT_HEARD = 0.5  # another prompt, music or silence in its place scores far below
LIBRARY = PromptLibrary()  # the packaged English prompts, as the configs below use


def say(*items: str | Utterance, library: PromptLibrary = LIBRARY) -> npt.NDArray[np.int16]:
    """The audio of prompts (names) and numbers/durations played back to back."""
    utterances = [Prompt(item) if isinstance(item, str) else item for item in items]
    return prompt_pcm(library.compose(utterances))


def heard(audio: Heard, what: npt.ArrayLike, after: float, before: float, label: str
          ) -> Match:
    """Assert ``what`` starts between the UNIX times ``after`` and ``before``; where it is."""
    found = audio.find(what, after, before)
    print(f"heard? {label}: {found.score:.2f} at {found.start - audio.start:.2f} s")
    assert found.score >= HEARD, (
        f"{label}: not heard between {after - audio.start:.2f} s and "
        f"{before - audio.start:.2f} s of the capture (best {found.score:.2f} at "
        f"{found.start - audio.start:.2f} s)")
    return found


def not_heard(audio: Heard, what: npt.ArrayLike, label: str, after: float | None = None,
              before: float | None = None) -> None:
    found = audio.find(what, after, before)
    print(f"not heard? {label}: {found.score:.2f} at {found.start - audio.start:.2f} s")
    assert found.score < NOT_HEARD, (
        f"{label} was heard at {found.start - audio.start:.2f} s (score {found.score:.2f})")


def classify(audio: Heard, candidates: dict[str, npt.ArrayLike], after: float,
             before: float) -> tuple[str, Match, float]:
    """Which candidate sounds best right there: its name, match and the runner-up's score."""
    scored = sorted(((audio.find(pcm, after, before), name) for name, pcm in
                     candidates.items()), key=lambda item: -item[0].score)
    (best, name), (second, _) = scored[0], scored[1]
    print(f"classified: {name} ({best.score:.2f}), runner-up {scored[1][1]} "
          f"({second.score:.2f})")
    return name, best, second.score


def durations(library: PromptLibrary = LIBRARY) -> dict[str, npt.NDArray[np.int16]]:
    """Every duration an announcement or whisper may say in a short test: 0-59 seconds,
    1-20 minutes."""
    out = {}
    for seconds in [*range(60), *(60 * m for m in range(1, 21))]:
        out[f"{seconds} s"] = say(SayDuration(seconds), library=library)
    return out


def output_lines(output: str, pattern: str) -> list[str]:
    return [line for line in output.splitlines() if re.search(pattern, line)]


# --------------------------------------------------------------------------- prompts


ANNOUNCING_QUEUE = queue_yaml("""\
    ring_timeout: 120
    wrapup: 0
    announce: {position: true, eta: true, first_after: 2, every: 60}
    adverts: {prompts: [advert], first_after: 9, every: 60}
    whisper: {wait_time: false, number_name: false}
""", number=", name: Demo shop", steps="          - play: greeting\n")


def test_a_queued_caller_hears_greeting_music_position_and_the_advert_in_time(
        tmp_path: Path, media_yaml: str) -> None:
    config = write_config(tmp_path, ANNOUNCING_QUEUE + agents_yaml("201") + media_yaml)
    caller_log, agent_log = tmp_path / "caller.log", tmp_path / "agent.log"
    media_port = free_media_port()
    with switchboard(config, data=tmp_path / "data") as (port, proc), \
            RtpCapture(media_port) as capture:
        # The agent's phone rings and is never answered: the caller waits in the queue
        # with an agent about to answer: an estimated wait under a second, which is not
        # announced (as Asterisk skips a zero hold time).
        agent_port = free_udp_port()
        agent = start_agent("agent_rings.xml", agent_port, agent_log, "-m", "1",
                            "-mp", str(free_media_port()), timeout=60)
        caller = None
        try:
            register_agent("201", port, agent_port)
            caller = start_caller(port, "100", "+380671110041", caller_log, 21000,
                                  "-mp", str(media_port), timeout=60)
            finished(caller, "caller", timeout=60)
            finished(agent, "agent (cancelled when the caller hung up)", timeout=10)
        finally:
            stop(agent, *([caller] if caller else []))
        capture.stop()
        server_log = drains_at_once(proc)

    # Shown with a failure: a server whose loop stalled gives up frames and says so.
    print("\n".join(line for line in server_log.splitlines() if "frames skipped" in line))
    audio = capture.heard()
    answered = float(events(caller_log, "answered")[0]["at"])
    bye = float(events(caller_log, "bye")[0]["at"])
    assert abs(audio.start - answered) < 1.5, "the caller hears the greeting at once"

    greeting = heard(audio, say("greeting"), answered - 0.5, answered + 1.5, "greeting")
    joined = greeting.end  # the queue (and its music) starts when the greeting ends
    music = say("music_on_hold")[:8000]  # the music starts over after each prompt
    heard(audio, music, joined - 0.3, joined + 1.0, "music on hold after the greeting")

    # The position 2 s after joining: "you are number" "one"; no "estimated wait" follows
    # (under a second).
    position = heard(audio, say("queue_position", SayNumber(1)),
                     joined + 2 - 1.0, joined + 2 + 1.5, "position 1")
    number_at = position.start + len(say("queue_position")) / 8000
    assert audio.find(say(SayNumber(1)), number_at - 0.1, number_at + 0.1).score >= HEARD
    not_heard(audio, say(SayNumber(2)), "position 2 instead of 1", number_at - 0.1,
              number_at + 0.1)
    not_heard(audio, say("queue_eta"), "an estimated wait of zero", position.end - 0.2,
              position.end + 1.0)
    heard(audio, music, position.end - 0.1, position.end + 1.0,
          "music again after the announcement")

    # The advert 9 s after joining, then music again.
    advert = heard(audio, say("advert"), joined + 9 - 1.0, joined + 9 + 2.0, "the advert")
    heard(audio, music, advert.end - 0.1, advert.end + 1.0, "music again after the advert")
    assert advert.end < bye, "the advert was heard whole before the caller hung up"

    # The comparison can fail: prompts that were not played are not found anywhere, nor is
    # another prompt of about the advert's length where the advert was.
    for other in ("after_hours", "ivr_main", "thanks_for_waiting"):
        not_heard(audio, say(other), other)
    not_heard(audio, say("all_busy"), "all_busy in the advert's place", advert.start - 0.5,
              advert.start + 0.5)
    # Nothing but these: the announcement is heard once (every: 60), the greeting once.
    not_heard(audio, say("greeting"), "a second greeting", greeting.end, None)
    not_heard(audio, say("queue_position"), "a second announcement", position.end, None)


# --------------------------------------------------------------------------- scripted callers


def pause(ms: int) -> str:
    return f'  <pause milliseconds="{ms}"/>\n'


def key(digit: str) -> str:
    """An RFC 4733 key from SIPp's pcap (its media port is the source: the server latches
    onto it, the same port the capture listens on)."""
    name = {"#": "pound", "*": "star"}.get(digit, digit)
    pcap = PCAPS / f"dtmf_2833_{name}.pcap"
    assert pcap.is_file(), f"{pcap} missing: apt-get install sip-tester (.ci/run does)"
    return (f'  <nop><action>\n'
            f'    <log message="event=key digit={digit} at=[timestamp]"/>\n'
            f'    <exec play_pcap_audio="{pcap}"/>\n'
            f'  </action></nop>\n')


def speak(pcap: Path = VOICE_PCAP) -> str:
    """Speech from a pcap, played into the call (SIPp plays it on a thread: pause after)."""
    assert pcap.is_file(), f"{pcap} missing: apt-get install sip-tester (.ci/run does)"
    return (f'  <nop><action>\n'
            f'    <log message="event=speak at=[timestamp]"/>\n'
            f'    <exec play_pcap_audio="{pcap}"/>\n'
            f'  </action></nop>\n')


def in_dialog(method: str, cseq: int, headers: str = "", body: str = "") -> str:
    """A SIPp ``<send>`` of an in-dialog request from the caller (``headers``: extra header
    lines, each ending in a newline)."""
    return f"""  <send retrans="500">
    <![CDATA[

      {method} [next_url] SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
      From: <sip:[caller]@[local_ip]:[local_port]>;tag=[pid]SIPpTag00[call_number]
      To: <sip:[service]@[remote_ip]:[remote_port]>[peer_tag_param]
      Call-ID: [call_id]
      CSeq: {cseq} {method}
      Max-Forwards: 70
{headers}      Content-Length: [len]

{body}    ]]>
  </send>
"""


def info(digit: str, cseq: int) -> str:
    """A key as SIP INFO (application/dtmf-relay), which must be answered 200."""
    return in_dialog("INFO", cseq, "      Content-Type: application/dtmf-relay\n",
                     f"      Signal={digit}\n      Duration=160\n\n") + f"""\
  <recv response="200">
    <action><log message="event=info digit={digit} at=[timestamp]"/></action>
  </recv>
"""


def hang_up(cseq: int) -> str:
    return ('  <nop><action><log message="event=bye at=[timestamp]"/></action></nop>\n'
            + in_dialog("BYE", cseq) + '  <recv response="200" crlf="true"/>\n')


HUNG_UP_ON = """  <recv request="BYE">
    <action><log message="event=hung_up at=[timestamp]"/></action>
  </recv>
  <send>
    <![CDATA[

      SIP/2.0 200 OK
      [last_Via:]
      [last_From:]
      [last_To:]
      [last_Call-ID:]
      [last_CSeq:]
      Content-Length: 0

    ]]>
  </send>
"""


def caller_scenario(tmp: Path, name: str, script: Sequence[str], end: str,
                    codec: str = "PCMU") -> Path:
    """``scenarios/caller_media.xml`` with a script and an end (``hang_up`` / ``HUNG_UP_ON``)."""
    pt = {"PCMU": "0", "PCMA": "8"}[codec]
    text = (SCENARIOS / "caller_media.xml").read_text()
    text = (text.replace("__PT__", pt).replace("__CODEC__", codec)
            .replace("__SCRIPT__", "".join(script)).replace("__END__", end))
    path = tmp / f"{name}.xml"
    path.write_text(text)
    return path


def start_scripted_caller(server_port: int, scenario: Path, media_port: int, log: Path,
                          caller: str = "+380671110050", timeout: float = 60,
                          number: str = "100") -> subprocess.Popen[str]:
    return start_sipp(f"127.0.0.1:{server_port}", "-sf", str(scenario), "-s", number,
                      "-key", "caller", caller, "-m", "1", "-i", "127.0.0.1",
                      "-p", str(free_udp_port()), "-mp", str(media_port),
                      "-trace_logs", "-log_file", str(log), timeout=timeout)


def scripted_call(config: Path, data: Path, scenario: Path, log: Path, timeout: float,
                  number: str = "100") -> tuple[Heard, str]:
    """Run ``switchboard run`` with ``config`` and one scripted caller of ``number``: what
    the caller heard and the server's output once it stopped."""
    media_port = free_media_port()
    with switchboard(config, data=data) as (port, proc), RtpCapture(media_port) as capture:
        caller = start_scripted_caller(port, scenario, media_port, log, number=number)
        try:
            finished(caller, "caller", timeout=timeout)
        finally:
            stop(caller)
        capture.stop()
        output = drains_at_once(proc)
    return capture.heard(), output


def at(log: Path, event: str, index: int = 0) -> float:
    found = events(log, event)
    assert len(found) > index, f"no {event} #{index + 1} in {log.name}: {events(log)}"
    return float(found[index]["at"])


# --------------------------------------------------------------------------- IVR


IVR_MENU = """\
numbers:
  - {number: "100", scheme: menu}
schemes:
  menu:
    rules:
      - name: everyone
        steps:
          - ivr: main
ivr:
  main:
    prompt: [ivr_main]
    timeout: 5
    retries: 1
    options:
      "1": [{play: thanks_for_waiting}, {hangup: true}]
      "2": [{voicemail: messages}]
voicemail:
  messages: {max_length: 30, crm_task: false}
missed: {crm_task: false}
"""


def test_rfc4733_keys_from_sipp_drive_the_ivr_a_wrong_key_repeats_the_menu(
        tmp_path: Path, media_yaml: str) -> None:
    config = write_config(tmp_path, IVR_MENU + media_yaml)
    log = tmp_path / "caller.log"
    # During the menu: 3 (no such option: "invalid", the menu again), then 2 (voicemail).
    scenario = caller_scenario(tmp_path, "caller_keys", [
        pause(1000), key("3"), pause(3000), key("2"), pause(7000)], hang_up(2))
    audio, output = scripted_call(config, tmp_path / "data", scenario, log, timeout=40)
    answered, three, two = at(log, "answered"), at(log, "key"), at(log, "key", 1)
    menu_start = say("ivr_main")[:4000]
    heard(audio, menu_start, answered - 0.5, answered + 1.5, "the menu")
    invalid = heard(audio, say("ivr_invalid"), three, three + 1.0, "'invalid key' after 3")
    heard(audio, menu_start, invalid.end - 0.1, invalid.end + 0.5, "the menu again")
    greeting = heard(audio, say("voicemail_greeting"), two, two + 1.0,
                     "the voicemail greeting after 2")
    heard(audio, say("voicemail_beep"), greeting.end - 0.1, greeting.end + 0.5, "the beep")
    # A key cuts the menu short (barge-in): its middle is never heard, neither the first
    # time (3 after 1 s) nor the second (2 after 0.7 s); option 1 was not taken.
    not_heard(audio, say("ivr_main")[12000:20000], "the menu past 1.5 s")
    not_heard(audio, say("thanks_for_waiting"), "option 1's prompt")
    records = output_lines(output, r"call \S+ from \S+ to 100: ")
    assert len(records) == 1 and "missed (voicemail)" in records[0], output[-3000:]


def test_a_key_sent_as_sip_info_drives_the_ivr_too(tmp_path: Path, media_yaml: str) -> None:
    config = write_config(tmp_path, IVR_MENU + media_yaml)
    log = tmp_path / "caller.log"
    # 1: an informational branch, a prompt and the server hangs up.
    scenario = caller_scenario(tmp_path, "caller_info", [pause(1500), info("1", 2)],
                               HUNG_UP_ON)
    audio, output = scripted_call(config, tmp_path / "data", scenario, log, timeout=30)
    answered, pressed, hung_up = at(log, "answered"), at(log, "info"), at(log, "hung_up")
    heard(audio, say("ivr_main")[:4000], answered - 0.5, answered + 1.5, "the menu")
    thanks = heard(audio, say("thanks_for_waiting"), pressed - 0.2, pressed + 1.0,
                   "option 1's prompt after INFO 1")
    assert thanks.end - 0.1 < hung_up < thanks.end + 2.0, "hung up once the prompt ended"
    not_heard(audio, say("voicemail_greeting"), "option 2's voicemail")
    records = output_lines(output, r"call \S+ from \S+ to 100: ")
    assert len(records) == 1 and "completed (informational)" in records[0], output[-3000:]


# --------------------------------------------------------------------------- voicemail


def test_the_queue_exit_key_leads_to_voicemail_whose_file_holds_what_the_caller_said(
        tmp_path: Path, media_yaml: str) -> None:
    data = tmp_path / "data"
    log = tmp_path / "caller.log"
    media_port = free_media_port()
    with WebhookSink() as hook:
        config = write_config(tmp_path, queue_yaml("""\
    exit_key: {digit: "1", action: voicemail, voicemail: messages}
""") + f"""\
voicemail:
  messages: {{greeting: [], max_length: 30, crm_task: false, notify: [office]}}
notify:
  office: {{webhook: "{hook.url}"}}
missed: {{crm_task: false}}
""" + agents_yaml("201") + media_yaml)
        # Nobody is logged in: the caller waits with music, presses 1, hears the beep,
        # speaks 7 s (SIPp's g711a.pcap) and stays silent until the server hangs up (after
        # 5 s of silence).
        scenario = caller_scenario(tmp_path, "caller_voicemail", [
            pause(1500), key("1"), pause(2000), speak(), pause(7500)], HUNG_UP_ON,
            codec="PCMA")
        with switchboard(config, data=data) as (port, proc), RtpCapture(media_port) as capture:
            caller = start_scripted_caller(port, scenario, media_port, log)
            try:
                finished(caller, "caller", timeout=45)
            finally:
                stop(caller)
            capture.stop()
            notes = hook.wait(1, timeout=10)
            output = drains_at_once(proc)

    audio = capture.heard()
    answered, pressed, spoke = at(log, "answered"), at(log, "key"), at(log, "speak")
    hung_up = at(log, "hung_up")
    music = say("music_on_hold")[:8000]
    heard(audio, music, answered - 0.5, answered + 1.5, "music while waiting")
    beep = heard(audio, say("voicemail_beep"), pressed, pressed + 1.0, "the beep after 1")

    files = sorted((data / "voicemail" / "messages").glob("*.wav"))
    assert len(files) == 1, f"one message in the box: {list(data.rglob('*'))}"
    message = load_wav(files[0])
    length = len(message) / 8000
    voice = pcap_audio(VOICE_PCAP)
    spoken = last_voice(voice)
    # Laid out by arrival time: across a gap or two where the server stalled.
    found = Heard(0.0, message).find(voice)
    # The message holds what was said, unchanged (A-law in, 16-bit WAV out), starting where
    # it was said after the beep.
    assert found.score >= HEARD, f"the caller's speech in the message: {found}"
    assert abs(found.start - (spoke - beep.end)) < 1.0, (found, spoke - beep.end)
    # It ends 5 s of silence after the speech, the silence cut (0.3 s kept).
    assert abs(length - (found.end - len(voice) / 8000 + spoken + 0.3)) < 0.6, (
        length, found, spoken)
    assert abs(hung_up - (spoke + spoken + 5.0)) < 2.0, "the server hung up after 5 s of silence"
    # The comparison can fail: what the caller heard is not in it, nor the speech backwards.
    assert best_match(message, say("voicemail_beep")).score < NOT_HEARD
    assert best_match(message, voice[::-1].copy()).score < NOT_HEARD

    # The notification carries the file's link and length.
    (note,) = notes
    assert note["kind"] == "voicemail", note
    payload = note["payload"]
    assert payload["url"] == files[0].resolve().as_uri(), (payload, files)
    assert abs(payload["duration"] - length) < 0.2, (payload, length)
    records = output_lines(output, r"call \S+ from \S+ to 100: ")
    assert len(records) == 1 and "missed (voicemail)" in records[0], output[-3000:]


# --------------------------------------------------------------------------- agents


def test_the_agent_hears_the_whisper_then_both_parties_hear_each_other(
        tmp_path: Path, media_yaml: str) -> None:
    config = write_config(tmp_path, queue_yaml("""\
    wrapup: 0
    whisper: {wait_time: true, number_name: true}
""", number=", name: Demo shop") + agents_yaml("201") + media_yaml)
    library = PromptLibrary.from_config(load_config(config))
    caller_log, agent_log = tmp_path / "caller.log", tmp_path / "agent.log"
    # The caller speaks 7 s after the answer (by then the agent has answered after 1 s and
    # heard the ~3 s whisper) and hangs up 8 s later. The agent's phone echoes what it hears.
    scenario = caller_scenario(tmp_path, "caller_talks", [pause(7000), speak(), pause(8000)],
                               hang_up(2), codec="PCMA")
    caller_media, agent_media = free_media_port(), free_media_port()
    with switchboard(config, data=tmp_path / "data") as (port, proc), \
            RtpCapture(caller_media) as caller_capture, \
            RtpCapture(agent_media) as agent_capture:
        agent_port = free_udp_port()
        agent = start_agent("agent_answers.xml", agent_port, agent_log, "-m", "1",
                            "-d", "1000", "-mp", str(agent_media), "-rtp_echo", timeout=60)
        caller = None
        try:
            register_agent("201", port, agent_port)
            caller = start_scripted_caller(port, scenario, caller_media, caller_log)
            finished(caller, "caller", timeout=45)
            finished(agent, "agent", timeout=10)
        finally:
            stop(agent, *([caller] if caller else []))
        caller_capture.stop()
        agent_capture.stop()
        drains_at_once(proc)

    answered, spoke = at(caller_log, "answered"), at(caller_log, "speak")
    agent_answered = at(agent_log, "ack")
    to_agent, to_caller = agent_capture.heard(), caller_capture.heard()

    # The whisper: the number's name, "the caller waited", how long; only the agent hears it.
    named = heard(to_agent, say("number_name/100", "whisper_waited", library=library),
                  agent_answered - 0.5, agent_answered + 1.5, "the whisper")
    said, duration, runner_up = classify(to_agent, durations(library), named.end - 0.1,
                                         named.end + 0.3)
    assert duration.score >= HEARD and runner_up < duration.score - 0.2, (said, runner_up)
    waited = agent_answered - answered
    assert abs(int(said.split()[0]) - waited) <= 1.5, f"said {said}, waited {waited:.1f} s"
    assert duration.end < spoke, "bridged before the caller spoke"
    not_heard(to_caller, say("whisper_waited"), "the whisper, by the caller")
    not_heard(to_agent, say("music_on_hold")[:8000], "music, by the agent")

    # Bridged: the agent hears the caller's speech (A-law to u-law), and the caller hears it
    # come back from the agent's echo.
    voice = pcap_audio(VOICE_PCAP)
    at_agent = heard(to_agent, voice, spoke - 0.5, spoke + 1.5, "the caller's voice, by the agent")
    echoed = heard(to_caller, voice, spoke - 0.5, spoke + 2.0, "the agent's echo, by the caller")
    assert at_agent.start <= echoed.start + 0.05
    # Before the bridge the caller heard music, not the agent.
    heard(to_caller, say("music_on_hold")[:8000], answered - 0.5, answered + 1.5, "music")


# --------------------------------------------------------------------------- the demo


DEMO = Path(__file__).resolve().parents[2] / "switchboard" / "examples" / "demo.yaml"


def test_the_demo_menu_takes_a_key_and_a_message_that_can_be_played_back(
        tmp_path: Path, media_yaml: str) -> None:
    """The README demo as a newcomer meets it: number 101 greets, reads the menu, takes key
    2 and records a message into a WAV file in the voicemail box."""
    config = tmp_path / "demo.yaml"
    config.write_text(DEMO.read_text() + media_yaml)
    data, log = tmp_path / "data", tmp_path / "caller.log"
    scenario = caller_scenario(tmp_path, "demo_menu", [
        pause(3500), key("2"), pause(6000), speak(), pause(8000)], hang_up(2), codec="PCMA")
    audio, output = scripted_call(config, data, scenario, log, timeout=45, number="101")
    answered, pressed = at(log, "answered"), at(log, "key")
    greeting = heard(audio, say("greeting"), answered - 0.5, answered + 1.5, "the greeting")
    heard(audio, say("ivr_main")[:4000], greeting.end - 0.1, greeting.end + 0.6, "the menu")
    heard(audio, say("voicemail_greeting")[:8000], pressed, pressed + 1.5,
          "the voicemail greeting after 2")
    not_heard(audio, say("music_on_hold")[:8000], "queue music (key 1's branch)")
    files = sorted((data / "voicemail" / "shop").glob("*.wav"))
    assert len(files) == 1, f"one message in the box: {list(data.rglob('*'))}"
    found = Heard(0.0, load_wav(files[0])).find(pcap_audio(VOICE_PCAP))
    assert found.score >= HEARD, f"the caller's speech in the message: {found}"
    records = output_lines(output, r"call \S+ from \S+ to 101: ")
    assert len(records) == 1 and "missed (voicemail)" in records[0], output[-3000:]
