"""IVR voice menus (R7) and voicemail (M4).

The menu plays, then waits ``timeout`` seconds *after the prompt ends* for a digit; a wrong
digit or silence repeats it, ``retries`` times, then ``on_timeout`` runs.
"""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

from switchboard.core import commands as c
from switchboard.core import events as e
from tests.core.harness import MONDAY_10, Driver, config, of

T = MONDAY_10
CALLER = "+380671111111"
KYIV = ZoneInfo("Europe/Kyiv")
MONDAY_20 = dt.datetime(2026, 11, 23, 20, 0, tzinfo=KYIV).timestamp()

CFG = config("""
    timezone: Europe/Kyiv
    country: UA
    numbers:
      - {number: "100", scheme: main}
      - {number: "300", scheme: insurer}
    agents:
      - {id: "201"}
      - {id: "611", mobile: "+380671004611"}
    schedules:
      office: {weekly: {mon-fri: "09:00-18:00"}}
    schemes:
      main:
        rules:
          - name: all
            steps:
              - ivr: menu
      insurer:
        rules:
          - name: office_hours
            when: {open: office}
            steps:
              - queue: sales
          - name: night
            when: {closed: office}
            steps:
              - ivr: night_menu
    queues:
      sales: {members: ["201"], ring_timeout: 15, wrapup: 0}
    ivr:
      menu:
        prompt: [ivr_main]
        timeout: 5
        retries: 2
        options:
          "1": [{queue: sales}]
          "2": [{play: opening_hours}]
          "3": [{voicemail: general}]
        on_timeout: [{voicemail: general}]
      night_menu:
        prompt: [after_hours, ivr_night]
        timeout: 6
        retries: 1
        options:
          "1":
            - ring: {mobiles: ["611"], timeout: 25}
            - voicemail: general
        on_timeout: [{voicemail: general}]
    voicemail:
      general: {greeting: [vm_general], max_length: 60, notify: [mail, tg]}
    notify:
      tg: {telegram: {chat_id: "-1001"}}
      mail: {email: {to: office@example.com}}
    missed: {notify: [tg], head_agent: "201", task_deadline: 1800}
""")

_RECORDS = (c.Decision, c.AgentStateChanged, c.QueueExited)


def follow_up(out: list[c.Command]) -> list[c.Command]:
    return [x for x in out if not isinstance(x, _RECORDS)]


def ivr_decisions(out: list[c.Command]) -> list[str]:
    return [x.summary for x in of(c.Decision, out) if x.step == "ivr"]


def last_play(d: Driver, channel: str) -> c.Play:
    return [p for p in of(c.Play, d.log) if p.channel_id == channel][-1]


def prompt_ends(d: Driver, channel: str, at: float) -> list[c.Command]:
    return d.send(e.PromptFinished(channel, last_play(d, channel).play_id), at=at)


# ---------------------------------------------------------------- R7


def test_menu_answers_collects_digits_and_plays_the_prompt() -> None:
    d = Driver(CFG)
    out = d.arrive("c1")
    assert follow_up(out) == [
        c.Answer("c1"), c.CollectDigits("c1"),
        c.Play("c1", last_play(d, "c1").play_id, (c.Prompt("ivr_main"),)),
    ]
    assert ivr_decisions(out) == ["menu menu"]


def test_digit_after_the_prompt_runs_its_branch() -> None:
    d = Driver(CFG)
    d.arrive("c1")
    prompt_ends(d, "c1", at=T + 4)
    out = d.send(e.DigitsReceived("c1", "1"), at=T + 6)
    leg = d.ringing(out)["201"]
    assert follow_up(out) == [
        c.Play("c1", last_play(d, "c1").play_id, (c.Prompt("music_on_hold"),), loop=True),
        c.Ring("c1", (c.LegTarget(leg, "agent", "201", "201"),), CALLER, 15.0),
    ]
    assert ivr_decisions(out) == ["menu menu: pressed 1"]
    assert ivr_decisions(d.advance(30)) == []  # the menu's digit timeout is gone


def test_digit_while_the_prompt_plays_stops_it_first() -> None:
    d = Driver(CFG)
    d.arrive("c1")
    out = d.send(e.DigitsReceived("c1", "1"), at=T + 2)
    assert follow_up(out)[:2] == [
        c.StopPlay("c1"),
        c.Play("c1", last_play(d, "c1").play_id, (c.Prompt("music_on_hold"),), loop=True),
    ]


def test_invalid_digit_plays_the_invalid_prompt_and_the_menu_again() -> None:
    d = Driver(CFG)
    d.arrive("c1")
    out = d.send(e.DigitsReceived("c1", "7"), at=T + 2)
    assert follow_up(out) == [
        c.StopPlay("c1"),
        c.Play("c1", last_play(d, "c1").play_id, (c.Prompt("ivr_invalid"), c.Prompt("ivr_main"))),
    ]
    assert ivr_decisions(out) == ["menu menu: invalid digit 7, repeat"]


def test_silence_repeats_the_menu_then_runs_on_timeout() -> None:
    d = Driver(CFG)
    d.arrive("c1")
    assert d.advance(60) == []  # the wait starts when the prompt ends, not before
    prompt_ends(d, "c1", at=T + 64)
    assert d.advance(4.9) == []
    out = d.advance(0.1)  # T+69: 5 s of silence
    assert follow_up(out) == [c.Play("c1", last_play(d, "c1").play_id, (c.Prompt("ivr_main"),))]
    assert ivr_decisions(out) == ["menu menu: no digit, repeat"]

    prompt_ends(d, "c1", at=T + 73)
    out = d.advance(5)  # T+78: second repeat (retries: 2)
    assert ivr_decisions(out) == ["menu menu: no digit, repeat"]
    prompt_ends(d, "c1", at=T + 82)
    out = d.advance(5)  # T+87: out of retries, on_timeout: voicemail
    assert ivr_decisions(out) == ["menu menu: no digit, out of retries"]
    assert follow_up(out) == [
        c.Play("c1", last_play(d, "c1").play_id,
               (c.Prompt("vm_general"), c.Prompt("voicemail_beep"))),
    ]


def test_wrong_digits_and_silence_share_the_retries() -> None:
    d = Driver(CFG)
    d.arrive("c1")
    d.send(e.DigitsReceived("c1", "9"), at=T + 1)
    prompt_ends(d, "c1", at=T + 5)
    d.advance(5)  # silence: second try
    out = d.send(e.DigitsReceived("c1", "#"), at=T + 12)
    assert ivr_decisions(out) == ["menu menu: invalid digit #, out of retries"]
    assert of(c.Play, out)[-1].prompts == (c.Prompt("vm_general"), c.Prompt("voicemail_beep"))


def test_informational_branch_plays_its_recording_then_hangs_up() -> None:
    d = Driver(CFG)
    d.arrive("c1")
    out = d.send(e.DigitsReceived("c1", "2"), at=T + 3)
    assert follow_up(out) == [
        c.StopPlay("c1"),
        c.Play("c1", last_play(d, "c1").play_id, (c.Prompt("opening_hours"),)),
    ]
    out = prompt_ends(d, "c1", at=T + 20)
    assert follow_up(out)[:2] == [
        c.Hangup("c1", "Temporarily Unavailable"),
        c.CallFinished("c1", "100", CALLER, T, T + 20, "completed", "informational", wait=20.0,
                       rule="all"),
    ]


def test_informational_branch_is_not_a_missed_call() -> None:
    d = Driver(CFG)
    d.arrive("c1")
    d.send(e.DigitsReceived("c1", "2"), at=T + 3)
    out = prompt_ends(d, "c1", at=T + 20)
    assert of(c.LostChanged, out) == []
    assert of(c.Notify, out) == []
    assert of(c.CreateCrmTask, out) == []


def test_critical_only_menu_after_hours_offers_one_option() -> None:
    d = Driver(CFG, now=MONDAY_20)
    out = d.arrive("n1", dialed="300")
    rule = [x for x in of(c.Decision, out) if x.step == "rule"]
    assert [(x.rule, x.skipped) for x in rule] == [
        ("night", (("office_hours", "schedule office is closed"),))]
    assert of(c.Play, out)[0].prompts == (c.Prompt("after_hours"), c.Prompt("ivr_night"))

    out = d.send(e.DigitsReceived("n1", "2"), at=MONDAY_20 + 3)  # sales: closed at night
    assert ivr_decisions(out) == ["menu night_menu: invalid digit 2, repeat"]
    out = d.send(e.DigitsReceived("n1", "1"), at=MONDAY_20 + 5)  # an insured event
    leg = d.ringing(out)["611"]
    assert of(c.Ring, out) == [
        c.Ring("n1", (c.LegTarget(leg, "number", "+380671004611", "611"),), CALLER, 25.0)]


def test_same_number_in_office_hours_skips_the_menu() -> None:
    d = Driver(CFG)
    out = d.arrive("n1", dialed="300")
    assert of(c.CollectDigits, out) == []
    assert [r.legs[0].address for r in of(c.Ring, out)] == ["201"]


# ---------------------------------------------------------------- M4


def start_recording(d: Driver) -> c.Record:
    d.arrive("c1")
    d.send(e.DigitsReceived("c1", "3"), at=T + 2)
    assert last_play(d, "c1").prompts == (c.Prompt("vm_general"), c.Prompt("voicemail_beep"))
    out = prompt_ends(d, "c1", at=T + 10)
    assert follow_up(out) == [c.Record("c1", "voicemail", 60.0, "general")]
    return of(c.Record, out)[0]


def test_voicemail_greeting_beep_then_record_then_notify_with_the_link() -> None:
    d = Driver(CFG)
    start_recording(d)
    out = d.send(e.CallerHungUp("c1"), at=T + 40)
    assert follow_up(out)[:2] == [
        c.CallFinished("c1", "100", CALLER, T, T + 40, "missed", "voicemail", wait=40.0,
                       rule="all"),
        c.LostChanged(CALLER, "lost", T + 40, "voicemail"),
    ]
    assert of(c.CreateCrmTask, out) == []

    url = "https://vm.example.com/c1.wav"
    out = d.send(e.RecordingSaved("c1", "voicemail", url, 29.96), at=T + 41)
    payload: dict[str, object] = {
        "number": CALLER, "dialed": "100", "url": url, "duration": 30.0, "at": T + 41,
        "box": "general",
    }
    assert out == [
        c.Notify("mail", "voicemail", payload),
        c.Notify("tg", "voicemail", payload),
        c.CreateCrmTask(CALLER, "201", T + 41 + 1800, f"Call back {CALLER}: voicemail", url),
    ]
    # A repeated RecordingSaved is ignored.
    assert d.send(e.RecordingSaved("c1", "voicemail", url, 29.96), at=T + 42) == []


def test_voicemail_full_the_recorder_stops_and_the_core_hangs_up() -> None:
    d = Driver(CFG)
    start_recording(d)
    url = "https://vm.example.com/c1.wav"
    out = d.send(e.RecordingSaved("c1", "voicemail", url, 60.0), at=T + 70)
    assert follow_up(out)[:2] == [
        c.Hangup("c1", "voicemail saved"),
        c.CallFinished("c1", "100", CALLER, T, T + 70, "missed", "voicemail", wait=70.0,
                       rule="all"),
    ]
    assert [(n.target, n.kind) for n in of(c.Notify, out)] == [
        ("tg", "missed_call"), ("mail", "voicemail"), ("tg", "voicemail")]
    assert [t.attachment for t in of(c.CreateCrmTask, out)] == [url]


def test_voicemail_full_without_a_recording_event_hangs_up_after_a_grace() -> None:
    d = Driver(CFG)
    start_recording(d)  # recording from T+10, max 60 s
    assert d.advance(61.9) == []
    out = d.advance(0.1)  # T+72: max_length + 2 s grace
    assert follow_up(out)[:2] == [
        c.Hangup("c1", "voicemail full"),
        c.CallFinished("c1", "100", CALLER, T, T + 72, "missed", "voicemail", wait=72.0,
                       rule="all"),
    ]
    out = d.send(e.RecordingSaved("c1", "voicemail", "https://vm/1.wav", 60.0), at=T + 73)
    assert [(n.target, n.kind) for n in of(c.Notify, out)] == [
        ("mail", "voicemail"), ("tg", "voicemail")]


def test_caller_hanging_up_during_the_greeting_leaves_no_voicemail() -> None:
    d = Driver(CFG)
    d.arrive("c1")
    d.send(e.DigitsReceived("c1", "3"), at=T + 2)
    out = d.send(e.CallerHungUp("c1"), at=T + 5)
    assert of(c.Record, out) == []
    assert of(c.CallFinished, out)[0].reason == "hangup"
    assert d.send(e.RecordingSaved("c1", "voicemail", "https://vm/1.wav", 0.0), at=T + 6) == []
