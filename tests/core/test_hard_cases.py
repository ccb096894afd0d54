"""Races and edges: the cases a real PBX meets every day."""

from __future__ import annotations

import datetime as dt
import random
import zoneinfo

from switchboard.core import commands as c
from switchboard.core import events as e

from .harness import Driver, config, kinds, of, one

TEXT = """
timezone: Europe/Kyiv
numbers: [{number: "100", scheme: main, name: Shop}]
agents: [{id: "201"}, {id: "202"}]
schemes: {main: {rules: [{name: all, steps: [{queue: q}]}]}}
queues:
  q: {members: ["201", "202"], wrapup: 0, strategy: %s}
"""


def test_agent_answers_just_after_the_caller_hung_up() -> None:
    d = Driver(config(TEXT % "ring_all"))
    d.arrive("c1")
    legs = d.ringing()
    out = d.send(e.CallerHungUp("c1"))
    assert one(c.CancelRing, out).leg_ids == (legs["201"], legs["202"])
    assert one(c.CallFinished, out).reason == "abandoned"
    # The world promised no event after CancelRing; a stray one must not break anything.
    assert d.send(e.LegAnswered(legs["201"])) == []
    assert d.sb.agents["201"].state == "idle" and not d.sb.legs and not d.sb.calls


def test_agent_answers_just_before_the_caller_hangs_up_during_the_whisper() -> None:
    d = Driver(config(TEXT % "ring_all"))
    d.arrive("c1")
    legs = d.ringing()
    out = d.send(e.LegAnswered(legs["201"]))
    whisper = one(c.Whisper, out)
    out = d.send(e.CallerHungUp("c1"))
    assert kinds(out) == ["Hangup", "CallFinished", "LostChanged", "CreateCrmTask"]
    assert one(c.Hangup, out).channel_id == legs["201"]
    fin = one(c.CallFinished, out)
    assert (fin.outcome, fin.reason, fin.agent_id) == ("missed", "abandoned", None)
    # The whisper's end arrives late: ignored, nothing is bridged.
    assert d.send(e.PromptFinished(legs["201"], whisper.play_id)) == []
    assert d.sb.agents["201"].state == "idle"
    assert not d.sb.legs and not d.sb.calls


def test_agent_hangs_up_during_the_whisper_and_the_caller_is_offered_to_the_next() -> None:
    d = Driver(config(TEXT % "linear"))
    d.arrive("c1")
    leg = d.ringing()["201"]
    d.send(e.LegAnswered(leg))
    out = d.send(e.LegHungUp(leg))
    ring = one(c.Ring, out)
    assert [t.agent_id for t in ring.legs] == ["202"]
    assert d.sb.calls["c1"].phase == "queued"


def test_ringing_everybody_then_one_busy_the_rest_keep_ringing() -> None:
    d = Driver(config(TEXT % "ring_all"))
    d.arrive("c1")
    legs = d.ringing()
    out = d.send(e.LegFailed(legs["201"], "busy"))
    assert not of(c.CancelRing, out)
    out = d.answer(legs["202"])
    assert c.Bridge("c1", legs["202"]) in out


def test_duplicate_arrival_and_unknown_channels_are_ignored() -> None:
    d = Driver(config(TEXT % "ring_all"))
    d.arrive("c1")
    assert d.arrive("c1") == []
    assert d.send(e.LegAnswered("nope")) == []
    assert d.send(e.LegHungUp("nope")) == []
    assert d.send(e.CallerHungUp("nope")) == []
    assert d.send(e.DigitsReceived("nope", "1")) == []
    assert d.send(e.PromptFinished("nope", 99)) == []
    assert d.send(e.AgentStatusChanged("999", "break")) == []


def test_unknown_dialed_number_is_rejected_404_and_recorded() -> None:
    d = Driver(config(TEXT % "ring_all"))
    out = d.arrive("c1", dialed="555")
    assert one(c.Reject, out).code == 404
    assert one(c.CallFinished, out).outcome == "rejected"


def test_no_leaked_calls_legs_or_timers_after_a_busy_hour() -> None:
    d = Driver(config(TEXT % "random"), seed=5)
    rng = random.Random(9)
    live: dict[str, str] = {}  # call -> answered leg
    for i in range(300):
        d.now += rng.expovariate(1 / 20)
        call = f"c{i}"
        d.arrive(call, caller=f"+38067{i:07d}")
        d.advance(0)
        for cid, leg in list(live.items()):
            if rng.random() < 0.3:
                d.send(e.LegHungUp(leg) if rng.random() < 0.5 else e.CallerHungUp(cid))
                del live[cid]
        for r in of(c.Ring, d.log[-20:]):
            for t in r.legs:
                if t.leg_id in d.sb.legs and not d.sb.legs[t.leg_id].answered:
                    if rng.random() < 0.2:
                        d.send(e.LegFailed(t.leg_id, "no_answer"))
                    else:
                        d.answer(t.leg_id)
                        if r.call_id in d.sb.calls:
                            live[r.call_id or ""] = t.leg_id
        if rng.random() < 0.1 and call in d.sb.calls and call not in live:
            d.send(e.CallerHungUp(call))
    for cid in live:
        d.send(e.CallerHungUp(cid))
    for cid in list(d.sb.calls):
        d.send(e.CallerHungUp(cid))
    d.advance(3600)
    assert not d.sb.calls and not d.sb.legs
    assert all(a.state == "idle" for a in d.sb.agents.values())
    assert all(not q.entries for q in d.sb.queues.queues.values())
    assert d.sb.next_deadline() is None
    finished = of(c.CallFinished, d.log)
    assert len(finished) == 300 and len({f.call_id for f in finished}) == 300


def test_same_events_same_commands() -> None:
    def run(seed: int) -> list[c.Command]:
        d = Driver(config(TEXT % "random"), seed=seed)
        for i in range(20):
            d.now += 7
            d.arrive(f"c{i}", caller=f"+38067{i:07d}")
            for leg in list(d.ringing(d.log[-6:]).values())[:1]:
                if leg in d.sb.legs:
                    d.answer(leg)
        return d.log

    assert run(4) == run(4)


NIGHT = """
timezone: Europe/Kyiv
numbers: [{number: "100", scheme: main}]
schedules:
  night: {weekly: {"sat": "22:00-06:00"}}
schemes:
  main:
    rules:
      - {name: night, when: {open: night}, steps: [{play: after_hours}]}
      - {name: day, steps: [{play: greeting}]}
"""


def _at(y: int, mo: int, d: int, h: int, mi: int, s: int = 0) -> float:
    return dt.datetime(y, mo, d, h, mi, s, tzinfo=zoneinfo.ZoneInfo("Europe/Kyiv")).timestamp()


def rule_at(ts: float) -> str | None:
    d = Driver(config(NIGHT), now=ts)
    out = d.arrive("c1")
    return next(x for x in of(c.Decision, out) if x.step == "rule").rule


def test_a_night_range_runs_past_midnight_across_the_dst_change() -> None:
    # 2026-10-24 is a Saturday; clocks go back at 04:00 local on Sunday 2026-10-25.
    assert rule_at(_at(2026, 10, 24, 21, 59, 59)) == "day"
    assert rule_at(_at(2026, 10, 24, 22, 0)) == "night"
    assert rule_at(_at(2026, 10, 25, 0, 0)) == "night"
    assert rule_at(_at(2026, 10, 25, 5, 59, 59)) == "night"
    assert rule_at(_at(2026, 10, 25, 6, 0)) == "day"
    # The night lasted 9 real hours, not 8: 22:00 EEST -> 06:00 EET.
    assert _at(2026, 10, 25, 6, 0) - _at(2026, 10, 24, 22, 0) == 9 * 3600


def test_an_announcement_ending_during_the_whisper_keeps_the_caller_waiting() -> None:
    d = Driver(config((TEXT % "ring_all").replace(
        "wrapup: 0,", "wrapup: 0, announce: {first_after: 5, every: 60},")))
    d.send(e.AgentStatusChanged("202", "break"))
    d.arrive("c1")
    out = d.advance(5)
    announcement = one(c.Play, out)
    leg = d.ringing()["201"]
    out = d.send(e.LegAnswered(leg))
    whisper = one(c.Whisper, out)
    out = d.send(e.PromptFinished("c1", announcement.play_id))
    assert kinds(out) == ["Play"] and one(c.Play, out).loop, "music again, no next step"
    out = d.send(e.PromptFinished(leg, whisper.play_id))
    assert c.Bridge("c1", leg) in out


def test_a_linear_ring_step_skips_the_next_agent_who_took_another_call_meanwhile() -> None:
    d = Driver(config("""
timezone: Europe/Kyiv
numbers: [{number: "100", scheme: a}, {number: "200", scheme: b}]
agents: [{id: "401"}, {id: "403"}, {id: "404"}]
schemes:
  a: {rules: [{name: a, steps: [{ring: {agents: ["401", "403", "404"], strategy: linear,
                                        timeout: 20}}]}]}
  b: {rules: [{name: b, steps: [{queue: q}]}]}
queues: {q: {members: ["403"], whisper: {wait_time: false, number_name: false}}}
"""))
    out = d.arrive("c1", dialed="100")
    assert [t.agent_id for t in one(c.Ring, out).legs] == ["401"]
    d.now += 1
    d.arrive("c2", dialed="200", caller="+380672222222")
    d.now += 1
    d.answer(d.ringing()["403"])  # 403 now talks on c2
    out = d.advance(18)
    assert [t.agent_id for t in one(c.Ring, out).legs] == ["404"]
    assert d.sb.agents["403"].state == "talking"
    skip = [x for x in of(c.Decision, out) if x.summary.startswith("skip 403")]
    assert skip and skip[0].skipped == (("403", "talking"),)


def test_max_wait_passing_during_a_whisper_that_fails_ends_the_wait() -> None:
    """201 answers at 29 s of a 30 s max_wait and hangs up during the whisper at 31 s: the
    caller's time is up, so they leave with timeout instead of waiting forever."""
    d = Driver(config((TEXT % "linear").replace(
        "wrapup: 0,", "wrapup: 0, max_wait: 30, fallback: [{play: all_busy}, {hangup: true}],")))
    d.send(e.AgentStatusChanged("202", "break"))
    d.arrive("c1")
    leg = d.ringing()["201"]
    d.now += 29
    assert one(c.Whisper, d.send(e.LegAnswered(leg)))
    assert not of(c.QueueExited, d.advance(1.5)), "the whisper goes on: an agent is there"
    d.now += 0.5
    out = d.send(e.LegHungUp(leg))
    exited = one(c.QueueExited, out)
    assert (exited.reason, exited.wait) == ("timeout", 31.0)
    assert kinds(out) == ["StopPlay", "Play"]
    assert one(c.Play, out).prompts == (c.Prompt("all_busy"),)


def test_the_last_agent_logging_out_during_a_whisper_that_fails_empties_the_queue() -> None:
    text = (TEXT % "linear").replace("wrapup: 0,", "wrapup: 0, leave_when_empty: true,")
    d = Driver(config(text))
    d.send(e.AgentStatusChanged("202", "offline"))
    d.arrive("c1")
    leg = d.ringing()["201"]
    assert one(c.Whisper, d.send(e.LegAnswered(leg)))
    assert not of(c.QueueExited, d.send(e.AgentStatusChanged("201", "offline")))
    out = d.send(e.LegHungUp(leg))
    assert one(c.QueueExited, out).reason == "empty"
    assert one(c.CallFinished, out).reason == "empty"


EXIT_KEY = (TEXT % "linear").replace(
    "wrapup: 0,", "wrapup: 0, exit_key: {digit: '1', action: voicemail, voicemail: box},"
) + "voicemail: {box: {}}\n"


def test_the_exit_key_pressed_during_a_whisper_that_fails_is_taken_then() -> None:
    """The caller presses 1 (voicemail) while 201 hears the whisper: an agent is about to
    take the call, so the key waits; 201 hangs up before the bridge: the caller leaves by
    the key they pressed, instead of waiting on as if they had not."""
    d = Driver(config(EXIT_KEY))
    d.send(e.AgentStatusChanged("202", "break"))
    d.arrive("c1")
    leg = d.ringing()["201"]
    d.now += 10
    assert one(c.Whisper, d.send(e.LegAnswered(leg)))
    assert d.send(e.DigitsReceived("c1", "1")) == []
    d.now += 2
    out = d.send(e.LegHungUp(leg))
    assert one(c.QueueExited, out) == c.QueueExited("c1", "q", "exit_key", 12.0, d.now)
    assert kinds(out) == ["StopPlay", "Play"]
    assert one(c.Play, out).prompts == (c.Prompt("voicemail_greeting"), c.Prompt("voicemail_beep"))
    assert of(c.Ring, out) == []


def test_the_exit_key_pressed_during_a_whisper_that_succeeds_is_forgotten() -> None:
    d = Driver(config(EXIT_KEY))
    d.send(e.AgentStatusChanged("202", "break"))
    d.arrive("c1")
    leg = d.ringing()["201"]
    whisper = one(c.Whisper, d.send(e.LegAnswered(leg)))
    d.send(e.DigitsReceived("c1", "2"))  # not the exit key: nothing to remember
    d.send(e.DigitsReceived("c1", "1"))
    out = d.send(e.PromptFinished(leg, whisper.play_id))
    assert one(c.Bridge, out) == c.Bridge("c1", leg)
    assert one(c.QueueExited, out).reason == "answered"
    assert d.send(e.DigitsReceived("c1", "1")) == [], "bridged: keys are the agent's business"
    out = d.send(e.CallerHungUp("c1"))
    assert one(c.CallFinished, out).reason == "answered"


def test_a_key_pressed_during_the_whisper_wins_over_a_max_wait_that_passed_meanwhile() -> None:
    """Both ways out came while 201 heard the whisper; the caller's own choice is taken."""
    d = Driver(config(EXIT_KEY.replace("wrapup: 0,", "wrapup: 0, max_wait: 30,")))
    d.send(e.AgentStatusChanged("202", "break"))
    d.arrive("c1")
    leg = d.ringing()["201"]
    d.now += 29
    assert one(c.Whisper, d.send(e.LegAnswered(leg)))
    assert not of(c.QueueExited, d.advance(2)), "the whisper goes on past max_wait"
    d.send(e.DigitsReceived("c1", "1"))
    out = d.send(e.LegHungUp(leg))
    assert one(c.QueueExited, out) == c.QueueExited("c1", "q", "exit_key", 31.0, d.now)
    assert one(c.Play, out).prompts[0] == c.Prompt("voicemail_greeting")
