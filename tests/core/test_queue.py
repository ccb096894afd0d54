"""Queues: waiting, distribution, exits, announcements (MISSION Q1-Q8, B3)."""

from __future__ import annotations

from switchboard.core import commands as c
from switchboard.core import events as e

from .harness import Driver, config, kinds, of, one

BASE = """
timezone: Europe/Kyiv
country: UA
numbers: [{number: "100", scheme: main, name: Shop}]
agents: [{id: "201"}, {id: "202"}]
schemes:
  main:
    rules: [{name: all, steps: [{queue: sales}, {voicemail: box}]}]
voicemail: {box: {}}
queues:
  sales:
    members: ["201", "202"]
    strategy: %s
    wrapup: 10
    ring_timeout: 15
    retry: 5
    whisper: {wait_time: false, number_name: false}
%s
"""


def cfg(strategy: str = "ring_all", extra: str = "") -> Driver:
    return Driver(config(BASE % (strategy, extra)))


def talk(d: Driver, call: str, agent: str) -> str:
    """Answer the ringing leg of ``agent`` for ``call``; return the leg id."""
    leg = d.ringing()[agent]
    out = d.answer(leg)
    assert c.Bridge(call, leg) in out, out
    return leg


def test_caller_is_answered_and_bridged_with_exact_commands() -> None:
    d = cfg()
    out = d.arrive("c1")
    assert kinds(out) == ["Answer", "Play", "Ring"]
    play = one(c.Play, out)
    assert play.prompts == (c.Prompt("music_on_hold"),) and play.loop
    ring = one(c.Ring, out)
    assert [t.agent_id for t in ring.legs] == ["201", "202"]
    assert ring.caller_id == "+380671111111" and ring.timeout == 15
    d.now += 4
    out = d.send(e.LegAnswered(ring.legs[1].leg_id))
    assert kinds(out) == ["CancelRing", "StopPlay", "Bridge"]
    assert one(c.CancelRing, out).leg_ids == (ring.legs[0].leg_id,)
    exited = one(c.QueueExited, out)
    assert (exited.reason, exited.wait) == ("answered", 4.0)
    d.now += 60
    out = d.send(e.CallerHungUp("c1"))
    assert kinds(out) == ["Hangup", "CallFinished"]
    fin = one(c.CallFinished, out)
    assert (fin.outcome, fin.agent_id, fin.wait, fin.talk) == ("answered", "202", 4.0, 60.0)
    assert one(c.AgentStateChanged, out).state == "wrapup"


def test_everyone_busy_caller_waits_then_longest_waiter_gets_the_freed_agent() -> None:
    d = cfg()
    d.arrive("c1")
    leg1 = talk(d, "c1", "201")
    d.arrive("c2")
    leg2 = d.ringing()["202"]
    d.answer(leg2)
    d.now += 1
    out3 = d.arrive("c3")
    assert not of(c.Ring, out3), "nobody is free: c3 waits"
    d.now += 1
    out4 = d.arrive("c4")
    assert not of(c.Ring, out4)
    d.now += 30
    d.send(e.LegHungUp(leg1))  # 201 hangs up: wrap-up for 10 s first
    assert not of(c.Ring, d.advance(9.9))
    out = d.advance(0.2)
    ring = one(c.Ring, out)
    assert ring.call_id == "c3" and ring.legs[0].agent_id == "201"
    del leg2


def test_agent_in_wrapup_break_offline_or_unregistered_is_skipped_with_reasons() -> None:
    d = cfg()
    d.send(e.AgentStatusChanged("202", "break"))
    out = d.arrive("c1")
    ring = one(c.Ring, out)
    assert [t.agent_id for t in ring.legs] == ["201"]
    dec = [x for x in of(c.Decision, out) if x.tried]
    assert dec[-1].skipped == (("202", "on break"),)
    d.send(e.AgentStatusChanged("202", "offline"))
    d.send(e.AgentRegistered("201", False))
    d.send(e.LegFailed(ring.legs[0].leg_id, "unavailable"))
    out = d.advance(1)
    assert not of(c.Ring, out)
    decisions = [x for x in d.log if isinstance(x, c.Decision)]
    assert any("201: unavailable" in x.summary for x in decisions)
    assert d.sb.agent_states.why_unavailable(d.sb.agents["202"], d.now) == "logged out"
    assert d.sb.agent_states.why_unavailable(d.sb.agents["201"], d.now) == "not registered"


def test_no_answer_moves_to_next_agent_then_pauses_retry_seconds() -> None:
    d = cfg("linear")
    out = d.arrive("c1")
    assert [t.agent_id for t in one(c.Ring, out).legs] == ["201"]
    out = d.advance(15)
    assert kinds(out) == ["CancelRing", "Ring"]
    assert [t.agent_id for t in one(c.Ring, out).legs] == ["202"]
    out = d.advance(15)
    assert kinds(out) == ["CancelRing"], "round over: wait `retry` seconds"
    out = d.advance(4.9)
    assert not of(c.Ring, out)
    out = d.advance(0.2)
    assert [t.agent_id for t in one(c.Ring, out).legs] == ["201"]


def test_max_wait_exits_with_timeout_and_runs_the_next_step() -> None:
    d = cfg(extra="    max_wait: 60")
    d.send(e.AgentStatusChanged("201", "break"))
    d.send(e.AgentStatusChanged("202", "break"))
    d.arrive("c1")
    out = d.advance(60)
    exited = one(c.QueueExited, out)
    assert (exited.reason, exited.wait) == ("timeout", 60.0)
    assert kinds(out) == ["StopPlay", "Play"]
    assert one(c.Play, out).prompts == (c.Prompt("voicemail_greeting"), c.Prompt("voicemail_beep"))


def test_fallback_steps_run_on_queue_exit() -> None:
    d = cfg(extra="    max_wait: 30\n    fallback: [{play: all_busy}, {hangup: true}]")
    d.send(e.AgentStatusChanged("201", "break"))
    d.send(e.AgentStatusChanged("202", "break"))
    d.arrive("c1")
    out = d.advance(30)
    assert one(c.Play, out).prompts == (c.Prompt("all_busy"),)
    out = d.finish_prompt("c1", out)
    assert kinds(out) == ["Hangup", "CallFinished", "LostChanged", "CreateCrmTask"]
    assert one(c.CallFinished, out).reason == "timeout"


def test_full_queue_and_empty_queue_are_named_exits() -> None:
    d = cfg(extra="    max_length: 1\n    join_empty: false")
    d.send(e.AgentStatusChanged("201", "break"))
    d.send(e.AgentStatusChanged("202", "break"))
    d.arrive("c1")
    out = d.arrive("c2")
    assert one(c.QueueExited, out).reason == "full"
    d.send(e.CallerHungUp("c1"))
    d.send(e.AgentStatusChanged("201", "offline"))
    d.send(e.AgentStatusChanged("202", "offline"))
    out = d.arrive("c3", caller="+380672222222")
    assert one(c.QueueExited, out).reason == "empty"


def test_leave_when_empty_takes_waiting_callers_out_when_the_last_agent_logs_out() -> None:
    d = cfg(extra="    leave_when_empty: true")
    d.send(e.AgentStatusChanged("202", "offline"))
    d.send(e.AgentStatusChanged("201", "break"))
    d.arrive("c1")
    out = d.send(e.AgentStatusChanged("201", "offline"))
    assert one(c.QueueExited, out).reason == "empty"


def test_position_and_eta_announcements_at_the_set_frequency() -> None:
    d = cfg(extra="    announce: {first_after: 10, every: 30}")
    d.send(e.AgentStatusChanged("202", "break"))
    d.arrive("c0", caller="+380670000000")
    talk(d, "c0", "201")
    d.arrive("c1")
    d.arrive("c2", caller="+380672222222")
    out = d.advance(10)
    plays = of(c.Play, out)
    assert [p.channel_id for p in plays] == ["c1", "c2"]
    assert plays[0].prompts == (c.Prompt("queue_position"), c.SayNumber(1), c.Prompt("queue_eta"),
                                c.SayDuration(180)), "no history yet: the default handling time"
    assert plays[1].prompts[:2] == (c.Prompt("queue_position"), c.SayNumber(2))
    assert plays[1].prompts[2] == c.Prompt("queue_eta")
    etas = of(c.EtaEstimated, out)
    assert [x.position for x in etas] == [1, 2]
    assert set(etas[0].estimates) == {"switchboard", "moving_average"}
    back = d.finish_prompt("c1", out)
    assert one(c.Play, back).loop, "music resumes after the announcement"
    d.finish_prompt("c2", out)
    out = d.advance(29.9)
    assert not of(c.Play, out)
    out = d.advance(0.1)
    assert len(of(c.Play, out)) == 2


def test_announcement_without_any_serving_agent_gives_position_only() -> None:
    d = cfg(extra="    announce: {first_after: 10, every: 30}")
    d.send(e.AgentStatusChanged("201", "break"))
    d.send(e.AgentStatusChanged("202", "break"))
    d.arrive("c1")
    out = d.advance(10)
    assert one(c.Play, out).prompts == (c.Prompt("queue_position"), c.SayNumber(1))
    assert "switchboard" not in one(c.EtaEstimated, out).estimates


def test_an_estimated_wait_under_a_second_is_not_announced() -> None:
    """The only agent is ringing for the caller: the ETA is under a second, and "estimated
    wait: zero seconds" is left out, as Asterisk leaves out a zero hold time."""
    d = cfg(extra="    announce: {first_after: 5, every: 30}")
    d.send(e.AgentStatusChanged("202", "break"))
    out = d.arrive("c1")
    assert [leg.agent_id for leg in one(c.Ring, out).legs] == ["201"]
    out = d.advance(5)
    assert one(c.EtaEstimated, out).estimates["switchboard"] < 1
    assert one(c.Play, out).prompts == (c.Prompt("queue_position"), c.SayNumber(1))


def test_adverts_play_between_music_and_wait_for_a_running_announcement() -> None:
    d = cfg(extra="    adverts: {prompts: [advert], first_after: 20, every: 40}")
    d.send(e.AgentStatusChanged("201", "break"))
    d.send(e.AgentStatusChanged("202", "break"))
    d.arrive("c1")
    out = d.advance(20)
    assert one(c.Play, out).prompts == (c.Prompt("advert"),)
    out = d.advance(39)
    assert not of(c.Play, out), "still playing the first advert: postponed in 5 s steps"
    d.finish_prompt("c1", d.log)
    out = d.advance(5)
    assert one(c.Play, out).prompts == (c.Prompt("advert"),)


def test_whisper_tells_the_agent_the_number_name_and_the_wait() -> None:
    d = Driver(config((BASE % ("ring_all", "")).replace(
        "whisper: {wait_time: false, number_name: false}", "whisper: {}")))
    d.arrive("c1")
    d.now += 95
    leg = d.ringing()["201"]
    out = d.send(e.LegAnswered(leg))
    w = one(c.Whisper, out)
    assert w.prompts == (c.Prompt("number_name/100"), c.Prompt("whisper_waited"),
                         c.SayDuration(95))
    assert not of(c.Bridge, out)
    out = d.send(e.PromptFinished(leg, w.play_id))
    assert c.Bridge("c1", leg) in out


def test_vip_priority_is_served_before_earlier_callers() -> None:
    text = (BASE % ("ring_all", "")).replace(
        "rules: [{name: all,",
        "rules: [{name: vip, when: {caller_matches: ['+38050*']}, "
        "steps: [{queue: {name: sales, priority: 10}}]}, {name: all,")
    d = Driver(config(text))
    d.send(e.AgentStatusChanged("202", "break"))
    d.arrive("c1")
    leg = talk(d, "c1", "201")
    d.arrive("c2", caller="+380671111112")
    d.now += 1
    out = d.arrive("c3", caller="+380501234567")
    assert "with priority 10" in next(x for x in of(c.Decision, out) if x.step == "queue").summary
    d.send(e.LegHungUp(leg))
    out = d.advance(10)
    assert one(c.Ring, out).call_id == "c3"


def test_two_queues_sharing_agents_serve_the_longest_waiter_across_both() -> None:
    text = """
timezone: Europe/Kyiv
numbers: [{number: "100", scheme: a}, {number: "200", scheme: b}]
agents: [{id: "201"}]
schemes:
  a: {rules: [{name: a, steps: [{queue: qa}]}]}
  b: {rules: [{name: b, steps: [{queue: qb}]}]}
queues:
  qa: {members: ["201"], wrapup: 0, whisper: {wait_time: false, number_name: false}}
  qb: {members: ["201"], wrapup: 0, whisper: {wait_time: false, number_name: false}}
"""
    d = Driver(config(text))
    d.arrive("c1", dialed="100")
    leg = d.ringing()["201"]
    d.answer(leg)
    d.now += 5
    d.arrive("b1", caller="+380670000001", dialed="200")  # longest waiter, queue b
    d.now += 5
    d.arrive("a2", caller="+380670000002", dialed="100")
    d.now += 5
    out = d.send(e.LegHungUp(leg))
    assert one(c.Ring, out).call_id == "b1"


def test_exit_key_callback_keeps_the_place() -> None:
    d = cfg(extra="    exit_key: {digit: '1', action: callback}")
    d.send(e.AgentStatusChanged("202", "break"))
    d.arrive("c1")
    leg = talk(d, "c1", "201")
    out = d.arrive("c2", caller="+380672222222")
    assert c.CollectDigits("c2") in out
    d.now += 10
    d.arrive("c3", caller="+380673333333")
    d.now += 10
    out = d.send(e.DigitsReceived("c2", "1"))
    assert one(c.QueueExited, out).reason == "exit_key"
    assert one(c.Play, out).prompts == (c.Prompt("callback_confirmed"),)
    out = d.finish_prompt("c2", out)
    assert kinds(out)[:2] == ["Hangup", "CallFinished"]
    assert one(c.CallFinished, out).reason == "callback"
    d.send(e.LegHungUp(leg))
    out = d.advance(10)
    ring = one(c.Ring, out)
    assert ring.call_id is None and ring.caller_id == "+380672222222", (
        "the callback job kept c2's place ahead of c3")


def test_join_empty_false_with_agents_logged_in_but_busy_still_joins() -> None:
    d = cfg(extra="    join_empty: false")
    d.arrive("c1")
    talk(d, "c1", "201")
    d.arrive("c2", caller="+380672222222")
    talk(d, "c2", "202")
    out = d.arrive("c3", caller="+380673333333")
    assert not of(c.QueueExited, out)
    assert one(c.Play, out).loop


def test_eta_uses_handling_times_observed_in_the_queue() -> None:
    d = cfg(extra="    announce: {first_after: 0, every: 600}")
    d.send(e.AgentStatusChanged("202", "break"))
    # Five calls handled by 201, each 100 s talk + 10 s wrap-up.
    for i in range(5):
        d.arrive(f"h{i}", caller=f"+38067000000{i}")
        leg = talk(d, f"h{i}", "201")
        d.now += 100
        d.send(e.LegHungUp(leg))
        d.advance(10)
    d.arrive("x1", caller="+380679999991")
    talk(d, "x1", "201")
    d.now += 30
    out = d.arrive("x2", caller="+380679999992")
    out += d.advance(0)
    eta = one(c.EtaEstimated, out)
    assert eta.position == 1
    # 201 has talked 30 s of a 110 s handling time: about 80 s left.
    assert 60 <= eta.estimates["switchboard"] <= 100, eta


def test_an_agents_own_ring_timeout_overrides_the_queues() -> None:
    d = Driver(config((BASE % ("linear", "")).replace(
        'agents: [{id: "201"}, {id: "202"}]',
        'agents: [{id: "201", ring_timeout: 8}, {id: "202"}]')))
    out = d.arrive("c1")
    assert one(c.Ring, out).timeout == 8
    out = d.advance(8)
    assert kinds(out) == ["CancelRing", "Ring"]
    assert one(c.Ring, out).timeout == 15


def test_a_caller_refused_by_a_full_queue_counts_no_queue_wait() -> None:
    """Refused (full) callers never joined: their wait runs from arrival, not from 1970."""
    d = cfg(extra="    max_length: 1\n"
                  "    fallback: [{ring: {numbers: ['+380441234567'], whisper: false}}]")
    d.send(e.AgentStatusChanged("201", "break"))
    d.send(e.AgentStatusChanged("202", "break"))
    d.arrive("c1")
    d.now += 3
    out = d.arrive("c2", caller="+380672222222")
    assert one(c.QueueExited, out).reason == "full"
    leg = d.ringing(out)["+380441234567"]
    d.now += 4
    out = d.send(e.LegAnswered(leg))
    assert c.Bridge("c2", leg) in out
    d.now += 60
    out = d.send(e.CallerHungUp("c2"))
    fin = one(c.CallFinished, out)
    assert (fin.outcome, fin.wait, fin.talk) == ("answered", 4.0, 60.0)
    out = d.arrive("c3", caller="+380673333333")
    assert one(c.QueueExited, out).reason == "full"
    d.now += 2
    out = d.send(e.CallerHungUp("c3"))  # while its fallback rings
    fin = one(c.CallFinished, out)
    assert (fin.outcome, fin.reason, fin.wait) == ("missed", "hangup", 2.0), (
        "never in the queue: not an abandoned queue call")


def test_a_caller_refused_by_an_empty_queue_counts_no_queue_wait() -> None:
    d = cfg(extra="    join_empty: false")
    d.send(e.AgentStatusChanged("201", "offline"))
    d.send(e.AgentStatusChanged("202", "offline"))
    out = d.arrive("c1")
    assert one(c.QueueExited, out).reason == "empty"
    out = d.finish_prompt("c1", out)  # the voicemail greeting: the next step
    assert one(c.Record, out).kind == "voicemail"
    d.now += 30
    out = d.send(e.CallerHungUp("c1"))
    fin = one(c.CallFinished, out)
    assert (fin.reason, fin.wait) == ("voicemail", 30.0)


def test_a_call_that_left_a_queue_is_no_longer_that_queues_call() -> None:
    """After a timeout a ring step answers: no queue wrap-up, no queue handling history,
    and the wait runs from arrival like any ring-step call."""
    d = Driver(config("""
timezone: Europe/Kyiv
numbers: [{number: "100", scheme: main}]
agents: [{id: "201", status: break}, {id: "202"}]
schemes:
  main: {rules: [{name: all, steps: [{play: greeting}, {queue: sales}]}]}
queues:
  sales:
    members: ["201"]
    wrapup: 10
    max_wait: 30
    whisper: {wait_time: false, number_name: false}
    fallback: [{ring: {agents: ["202"], whisper: false}}]
"""))
    out = d.arrive("c1")
    d.now += 4
    d.finish_prompt("c1", out)
    out = d.advance(30)
    assert one(c.QueueExited, out).reason == "timeout"
    leg = d.ringing(out)["202"]
    d.now += 5
    out = d.send(e.LegAnswered(leg))
    assert c.Bridge("c1", leg) in out
    d.now += 60
    out = d.send(e.LegHungUp(leg))
    assert one(c.AgentStateChanged, out).state == "idle", "no wrap-up of the queue left"
    fin = one(c.CallFinished, out)
    assert (fin.outcome, fin.queue, fin.wait, fin.talk) == ("answered", "sales", 39.0, 60.0)
    assert d.sb.queues.queues["sales"].cursor.talk_by_agent == {}


def test_eta_leaves_out_members_off_shift() -> None:
    """One agent on shift is talking, three are off shift: they will not free up for the
    queue, so the wait is one agent's: 180, 360, 540 s (the default handling time)."""
    d = Driver(config("""
timezone: Europe/Kyiv
numbers: [{number: "100", scheme: main}]
agents: [{id: "201"}, {id: "202", schedule: night}, {id: "203", schedule: night},
         {id: "204", schedule: night}]
schedules: {night: {weekly: {mon-sun: "22:00-23:00"}}}
schemes:
  main: {rules: [{name: all, steps: [{queue: sales}]}]}
queues:
  sales:
    members: ["201", "202", "203", "204"]
    whisper: {wait_time: false, number_name: false}
    announce: {first_after: 10, every: 600}
"""))
    d.arrive("c0", caller="+380670000000")
    talk(d, "c0", "201")
    for i in (1, 2, 3):
        d.arrive(f"c{i}", caller=f"+38067111111{i}")
    out = d.advance(10)
    assert [x.estimates["switchboard"] for x in of(c.EtaEstimated, out)] == [180.0, 360.0, 540.0]


def test_the_handling_time_assumed_before_any_history_is_the_queues_eta_default() -> None:
    """queues.X.eta.default_handling: 201 is talking and nothing has been handled yet, so
    each caller waits one assumed handling time more than the one ahead: 45, 90, 135 s."""
    d = Driver(config("""
timezone: Europe/Kyiv
numbers: [{number: "100", scheme: main}]
agents: [{id: "201"}]
schemes:
  main: {rules: [{name: all, steps: [{queue: sales}]}]}
queues:
  sales:
    members: ["201"]
    whisper: {wait_time: false, number_name: false}
    announce: {first_after: 10, every: 600}
    eta: {default_handling: 45}
"""))
    d.arrive("c0", caller="+380670000000")
    talk(d, "c0", "201")
    for i in (1, 2, 3):
        d.arrive(f"c{i}", caller=f"+38067111111{i}")
    out = d.advance(10)
    assert [x.estimates for x in of(c.EtaEstimated, out)] == [
        {"switchboard": 45.0, "moving_average": 0.0},
        {"switchboard": 90.0, "moving_average": 0.0},
        {"switchboard": 135.0, "moving_average": 0.0},
    ]


def test_a_caller_nobody_can_take_is_told_why_each_member_was_not_rung_once() -> None:
    """B1: joining with no member free gives one Decision naming every member and why."""
    d = Driver(config((BASE % ("ring_all", "")).replace(
        'agents: [{id: "201"}, {id: "202"}]',
        'agents: [{id: "201"}, {id: "202"}, {id: "203"}, {id: "204", schedule: night}]'
    ).replace('members: ["201", "202"]', 'members: ["201", "202", "203", "204"]')
        + 'schedules: {night: {weekly: {mon-sun: "22:00-23:00"}}}\n'))
    d.send(e.AgentStatusChanged("202", "break"))
    d.send(e.AgentRegistered("203", False))
    d.arrive("c0", caller="+380670000000")
    talk(d, "c0", "201")
    d.now += 1
    out = d.arrive("c1")
    [why] = [x for x in of(c.Decision, out) if x.step == "queue" and x.skipped]
    assert (why.channel_id, why.at, why.summary, why.rule, why.tried) == (
        "c1", d.now, "queue sales: no member free to ring; waiting at position 1", "all", ())
    assert dict(why.skipped) == {"201": "talking", "202": "on break", "203": "not registered",
                                 "204": "outside shift"}
    d.send(e.AgentStatusChanged("202", "offline"))
    d.advance(120)
    assert [x for x in of(c.Decision, d.log) if x.skipped and x.channel_id == "c1"] == [why]
