"""Music on hold switched off per queue (``music: null`` / ``false``): callers are answered
and hear silence between announcements; nothing plays and nothing needs stopping."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from switchboard.core import commands as c
from switchboard.core import events as e

from .harness import Driver, config, kinds, of, one
from .test_queue import BASE


def silent(extra: str = "", music: str = "null") -> Driver:
    return Driver(config(BASE % ("ring_all", f"    music: {music}\n{extra}")))


def test_music_null_and_false_switch_the_music_off_true_keeps_the_default() -> None:
    for value in ("null", "false", "~"):
        assert silent(music=value).sb.config.queues["sales"].music is None, value
    assert silent(music="true").sb.config.queues["sales"].music == "music_on_hold"
    assert silent(music="jazz").sb.config.queues["sales"].music == "jazz"
    default = Driver(config(BASE % ("ring_all", "")))
    assert default.sb.config.queues["sales"].music == "music_on_hold"
    with pytest.raises(ValidationError):
        silent(music="[a, b]")


def test_a_silent_queue_answers_and_rings_without_music_and_bridges_without_stopping_it(
) -> None:
    d = silent()
    out = d.arrive("c1")
    assert kinds(out) == ["Answer", "Ring"], "answered, but no Play of music"
    ring = one(c.Ring, out)
    d.now += 3
    out = d.send(e.LegAnswered(ring.legs[0].leg_id))
    assert kinds(out) == ["CancelRing", "Bridge"], "nothing playing: no StopPlay"
    assert one(c.Bridge, out) == c.Bridge("c1", ring.legs[0].leg_id)
    assert one(c.QueueExited, out).reason == "answered"


def test_a_silent_queue_still_announces_and_is_silent_again_after_each_announcement() -> None:
    d = silent("    announce: {first_after: 10, every: 30, eta: false}")
    d.send(e.AgentStatusChanged("201", "break"))
    d.send(e.AgentStatusChanged("202", "break"))
    assert kinds(d.arrive("c1")) == ["Answer"]
    out = d.advance(10)
    play = one(c.Play, out)
    assert (play.channel_id, play.prompts, play.loop) == (
        "c1", (c.Prompt("queue_position"), c.SayNumber(1)), False)
    back = d.finish_prompt("c1", out)
    assert kinds(back) == [], "no music resumes: silence until the next announcement"
    out = d.advance(30)
    assert one(c.Play, out).prompts == (c.Prompt("queue_position"), c.SayNumber(1))


def test_leaving_a_silent_queue_by_timeout_stops_nothing_and_runs_the_fallback() -> None:
    d = silent("    max_wait: 60\n    fallback: [{play: all_busy}, {hangup: true}]")
    d.send(e.AgentStatusChanged("201", "break"))
    d.send(e.AgentStatusChanged("202", "break"))
    d.arrive("c1")
    out = d.advance(60)
    assert one(c.QueueExited, out).reason == "timeout"
    assert kinds(out) == ["Play"]
    assert one(c.Play, out).prompts == (c.Prompt("all_busy"),)


def test_a_caller_moving_from_a_queue_with_music_to_a_silent_one_gets_the_music_stopped(
) -> None:
    text = (BASE % ("ring_all", "    max_wait: 30\n    fallback: [{queue: quiet}]")) + """\
  quiet:
    members: ["201", "202"]
    music: false
    whisper: {wait_time: false, number_name: false}
"""
    d = Driver(config(text))
    d.send(e.AgentStatusChanged("201", "break"))
    d.send(e.AgentStatusChanged("202", "break"))
    out = d.arrive("c1")
    assert one(c.Play, out).loop
    out = d.advance(30)
    assert kinds(out) == ["StopPlay"], "out of sales (music), into quiet (silence)"
    assert [x.queue for x in of(c.QueueExited, out)] == ["sales"]
    d.send(e.AgentStatusChanged("202", "available"))
    out = d.advance(1)
    ring = one(c.Ring, d.log)
    assert [t.agent_id for t in ring.legs] == ["202"]
    out = d.send(e.LegAnswered(ring.legs[0].leg_id))
    assert kinds(out) == ["Bridge"]

