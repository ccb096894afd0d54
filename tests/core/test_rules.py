"""Rules and ring steps: schedules (R3), escalation (R4), mobiles (R5), lists (W2), regions
(W3), VIP masks (W4), shifts (W5), channel limits (Q9), and why each rule was skipped (B1).

Wall-clock times are Europe/Kyiv (UTC+2 in November); Monday is 2026-11-23.
"""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import pytest

from switchboard.core import commands as c
from switchboard.core import events as e
from tests.core.harness import MONDAY_10, Driver, config, of

T = MONDAY_10
KYIV = ZoneInfo("Europe/Kyiv")
CALLER = "+380501234567"  # a Vodafone mobile: no region, not VIP
VIP = "+380671234567"
KYIV_LANDLINE = "+380442345678"
LVIV_LANDLINE = "+380322123456"


def kyiv(year: int, month: int, day: int, hour: int, minute: int = 0, second: int = 0) -> float:
    """UNIX seconds of a wall-clock time in Kyiv."""
    return dt.datetime(year, month, day, hour, minute, second, tzinfo=KYIV).timestamp()


_RECORDS = (c.Decision, c.AgentStateChanged, c.QueueExited)


def follow_up(out: list[c.Command]) -> list[c.Command]:
    return [x for x in out if not isinstance(x, _RECORDS)]


def rule_of(out: list[c.Command]) -> c.Decision:
    [decision] = [x for x in of(c.Decision, out) if x.step == "rule"]
    return decision


def rung(out: list[c.Command]) -> list[tuple[str, str]]:
    return [(t.kind, t.address) for r in of(c.Ring, out) for t in r.legs]


MAIN = config("""
    timezone: Europe/Kyiv
    country: UA
    numbers:
      - {number: "100", scheme: main}
    agents:
      - {id: "201"}
      - {id: "202"}
    schedules:
      office: {weekly: {mon-fri: "09:00-18:00"}}
    lists:
      blacklist: {numbers: ["+380509999999", "+38093*"]}
    schemes:
      main:
        rules:
          - name: blocked
            when: {caller_in: [blacklist]}
            steps: [{reject: 603}]
          - name: vip
            when: {caller_matches: ["+38067*"], open: office}
            steps:
              - queue: {name: sales, priority: 10}
          - name: kyiv
            when: {caller_region: [Kyiv], open: office}
            steps:
              - queue: kyiv
          - name: phones
            when: {entity: {category: [phones, tablets]}, open: office}
            steps:
              - ring: {agents: ["202"], timeout: 20}
          - name: office
            when: {open: office}
            steps:
              - queue: sales
          - name: closed
            when: {closed: office}
            steps:
              - play: after_hours
              - hangup: true
    queues:
      sales: {members: ["201"], ring_timeout: 15, wrapup: 0, whisper: {wait_time: false}}
      kyiv: {members: ["202"], ring_timeout: 15, wrapup: 0}
""")


# ---------------------------------------------------------------- R3 schedules


@pytest.mark.parametrize(("wall", "rule"), [
    ((2026, 11, 23, 8, 59, 59), "closed"),
    ((2026, 11, 23, 9, 0, 0), "office"),
    ((2026, 11, 23, 17, 59, 59), "office"),
    ((2026, 11, 23, 18, 0, 0), "closed"),
    ((2026, 11, 28, 12, 0, 0), "closed"),  # Saturday
])
def test_schedule_opens_at_nine_sharp_and_closes_at_six_sharp(
        wall: tuple[int, int, int, int, int, int], rule: str) -> None:
    d = Driver(MAIN, now=kyiv(*wall))
    assert rule_of(d.arrive("c1", caller=CALLER)).rule == rule


def test_after_hours_message_then_hang_up() -> None:
    at = kyiv(2026, 11, 23, 18, 0)
    d = Driver(MAIN, now=at)
    out = d.arrive("c1", caller=CALLER)
    play = of(c.Play, out)[0]
    assert follow_up(out) == [c.Answer("c1"), c.Play("c1", play.play_id,
                                                      (c.Prompt("after_hours"),))]
    out = d.send(e.PromptFinished("c1", play.play_id), at=at + 9)
    assert follow_up(out)[:2] == [
        c.Hangup("c1", "Temporarily Unavailable"),
        c.CallFinished("c1", "100", CALLER, at, at + 9, "missed", "after_hours", wait=9.0,
                       rule="closed"),
    ]


def test_caller_hanging_up_during_the_after_hours_message_is_after_hours() -> None:
    at = kyiv(2026, 11, 23, 21, 0)
    d = Driver(MAIN, now=at)
    d.arrive("c1", caller=CALLER)
    out = d.send(e.CallerHungUp("c1"), at=at + 3)
    assert of(c.CallFinished, out)[0].reason == "after_hours"


# ---------------------------------------------------------------- B1


def test_decision_lists_every_earlier_rule_with_why_it_did_not_match() -> None:
    d = Driver(MAIN)
    out = d.send(e.CallArrived("c1", "100", CALLER, {"category": "laptops"}))
    assert rule_of(out) == c.Decision(
        "c1", T, "rule", "scheme main: rule office matched", rule="office",
        skipped=(
            ("blocked", "caller not in blacklist"),
            ("vip", "caller matches no mask"),
            ("kyiv", "caller region unknown not in list"),
            ("phones", "entity category='laptops' not in ['phones', 'tablets']"),
        ),
        details={"scheme": "main"},
    )


def test_decision_names_the_first_condition_that_failed() -> None:
    at = kyiv(2026, 11, 23, 20, 0)
    d = Driver(MAIN, now=at)
    out = d.send(e.CallArrived("c1", "100", VIP, {"category": "phones"}))
    assert rule_of(out).rule == "closed"
    assert rule_of(out).skipped == (
        ("blocked", "caller not in blacklist"),
        ("vip", "schedule office is closed"),
        ("kyiv", "schedule office is closed"),
        ("phones", "schedule office is closed"),
        ("office", "schedule office is closed"),
    )


def test_decision_for_the_first_rule_skips_nothing() -> None:
    d = Driver(MAIN)
    out = d.arrive("c1", caller="+380509999999")
    assert rule_of(out).skipped == ()
    assert rule_of(out).rule == "blocked"


def test_no_rule_matching_is_explained_and_refused() -> None:
    cfg = config("""
        numbers: [{number: "100", scheme: main}]
        schemes:
          main:
            rules:
              - name: weekend
                when: {days: [sat, sun]}
                steps: [{hangup: true}]
    """)
    d = Driver(cfg)
    out = d.arrive("c1", caller=CALLER)
    assert rule_of(out) == c.Decision("c1", T, "rule", "no rule of scheme main matched",
                                      skipped=(("weekend", "not on sat, sun"),),
                                      details={"scheme": "main"})
    assert follow_up(out)[0] == c.Reject("c1", 480, "Temporarily Unavailable")


# ---------------------------------------------------------------- W2 black list


@pytest.mark.parametrize("number", ["+380509999999", "050 999 99 99", "+380931234567"])
def test_black_list_rejects_with_603(number: str) -> None:
    d = Driver(MAIN)
    out = d.arrive("c1", caller=number)
    assert follow_up(out)[0] == c.Reject("c1", 603, "Declined")
    assert of(c.Answer, out) == []
    assert of(c.CallFinished, out)[0].outcome == "rejected"


# ---------------------------------------------------------------- W3 region


def test_kyiv_landline_matches_region_kyiv() -> None:
    d = Driver(MAIN)
    out = d.arrive("c1", caller=KYIV_LANDLINE)
    assert rule_of(out).rule == "kyiv"
    assert [r.legs[0].address for r in of(c.Ring, out)] == ["202"]


def test_national_format_kyiv_landline_matches_too() -> None:
    d = Driver(MAIN)
    assert rule_of(d.arrive("c1", caller="044 234 56 78")).rule == "kyiv"


def test_other_regions_do_not_match_kyiv_and_the_decision_names_them() -> None:
    d = Driver(MAIN)
    out = d.arrive("c1", caller=LVIV_LANDLINE)
    assert rule_of(out).rule == "office"
    assert dict(rule_of(out).skipped)["kyiv"] == (
        "caller region Bryukhovichi/Lviv, Lviv not in list")


def test_region_names_match_whole_words_only() -> None:
    cfg = config("""
        country: UA
        numbers: [{number: "100", scheme: main}]
        schemes:
          main:
            rules:
              - name: lviv
                when: {caller_region: [lviv]}
                steps: [{hangup: true}]
              - name: kyi
                when: {caller_region: [Kyi]}
                steps: [{hangup: true}]
              - name: rest
                steps: [{hangup: true}]
    """)
    d = Driver(cfg)
    assert rule_of(d.arrive("a", caller=LVIV_LANDLINE)).rule == "lviv"  # case-insensitive
    assert rule_of(d.arrive("b", caller=KYIV_LANDLINE)).rule == "rest"  # not a prefix match


# ---------------------------------------------------------------- entities


def test_entity_condition_routes_by_the_visitors_category() -> None:
    d = Driver(MAIN)
    out = d.send(e.CallArrived("c1", "100", CALLER, {"category": "tablets"}))
    assert rule_of(out).rule == "phones"
    assert rung(out) == [("agent", "202")]


# ---------------------------------------------------------------- W4 VIP


def test_vip_mask_joins_with_priority_and_is_served_before_earlier_callers() -> None:
    d = Driver(MAIN)
    out = d.arrive("busy", caller="+380631111111")
    d.answer(d.ringing(out)["201"])
    d.send(e.CallArrived("early", "100", CALLER), at=T + 10)
    out = d.send(e.CallArrived("vip", "100", VIP), at=T + 30)
    assert rule_of(out).rule == "vip"
    assert [x.summary for x in of(c.Decision, out) if x.step == "queue"] == [
        "joined queue sales at position 1 with priority 10",
        "queue sales: no member free to ring; waiting at position 1"]
    out = d.send(e.CallerHungUp("busy"), at=T + 60)
    assert [(r.call_id, r.caller_id) for r in of(c.Ring, out)] == [("vip", VIP)]


def test_vip_mask_matches_the_national_form_too() -> None:
    d = Driver(MAIN)
    assert rule_of(d.arrive("c1", caller="067 123 45 67")).rule == "vip"


# ---------------------------------------------------------------- R4 escalation, R5 mobiles


CHAIN = config("""
    timezone: Europe/Kyiv
    country: UA
    numbers:
      - {number: "300", scheme: chain}
    agents:
      - {id: "301", name: Line manager}
      - {id: "310", name: Head of sales, mobile: "+380501234501"}
      - {id: "320", name: Director, mobile: "+380672223344"}
    schemes:
      chain:
        rules:
          - name: chain
            steps:
              - ring: {agents: ["301"], timeout: 15}
              - ring: {agents: ["310"], timeout: 15}
              - ring: {agents: ["320"], mobiles: ["320"], timeout: 20}
              - voicemail: sales
      duty:
        rules:
          - name: duty
            steps:
              - ring: {agents: ["301"], timeout: 20}
              - ring: {mobiles: ["310", "320"], timeout: 25}
    voicemail:
      sales: {greeting: vm_sales}
""")


def test_escalation_chain_rings_each_link_for_its_time() -> None:
    d = Driver(CHAIN)
    out = d.arrive("c1", caller=CALLER, dialed="300")
    l301 = d.ringing(out)["301"]
    assert follow_up(out) == [
        c.Ring("c1", (c.LegTarget(l301, "agent", "301", "301"),), CALLER, 15.0)]
    assert d.advance(14.9) == []

    out = d.advance(0.1)  # T+15: the head of sales
    l310 = d.ringing(out)["310"]
    assert follow_up(out) == [
        c.CancelRing((l301,)),
        c.Ring("c1", (c.LegTarget(l310, "agent", "310", "310"),), CALLER, 15.0),
    ]
    assert d.advance(14.9) == []

    out = d.advance(0.1)  # T+30: the director, desk phone and mobile at once
    desk, mobile = [t.leg_id for t in of(c.Ring, out)[0].legs]
    assert follow_up(out) == [
        c.CancelRing((l310,)),
        c.Ring("c1", (c.LegTarget(desk, "agent", "320", "320"),
                      c.LegTarget(mobile, "number", "+380672223344", "320")), CALLER, 20.0),
    ]
    assert d.advance(19.9) == []

    out = d.advance(0.1)  # T+50: voicemail
    assert follow_up(out) == [
        c.CancelRing((desk, mobile)),
        c.Answer("c1"),
        c.Play("c1", of(c.Play, out)[0].play_id, (c.Prompt("vm_sales"),
                                                   c.Prompt("voicemail_beep"))),
    ]


def test_escalation_stops_when_a_link_answers() -> None:
    d = Driver(CHAIN)
    d.arrive("c1", caller=CALLER, dialed="300")
    out = d.advance(15)
    l310 = d.ringing(out)["310"]
    out = d.send(e.LegAnswered(l310), at=T + 20)
    assert of(c.Bridge, out) == [c.Bridge("c1", l310)]
    assert d.advance(100) == []  # no later link is rung


def test_the_director_answering_on_the_mobile_cancels_the_desk_phone() -> None:
    d = Driver(CHAIN)
    d.arrive("c1", caller=CALLER, dialed="300")
    d.advance(30)
    desk, mobile = [t.leg_id for t in of(c.Ring, d.log)[-1].legs]
    out = d.send(e.LegAnswered(mobile), at=T + 35)
    assert follow_up(out)[:3] == [c.CancelRing((desk,)), c.Answer("c1"), c.Bridge("c1", mobile)]
    assert [(x.agent_id, x.state) for x in of(c.AgentStateChanged, out)] == [("320", "talking")]


def test_the_director_answering_on_the_desk_phone_cancels_the_mobile() -> None:
    d = Driver(CHAIN)
    d.arrive("c1", caller=CALLER, dialed="300")
    d.advance(30)
    desk, mobile = [t.leg_id for t in of(c.Ring, d.log)[-1].legs]
    out = d.send(e.LegAnswered(desk), at=T + 35)
    assert follow_up(out)[:3] == [c.CancelRing((mobile,)), c.Answer("c1"), c.Bridge("c1", desk)]
    assert [(x.agent_id, x.state) for x in of(c.AgentStateChanged, out)] == [("320", "talking")]


def test_the_directors_mobile_failing_leaves_the_desk_phone_ringing() -> None:
    d = Driver(CHAIN)
    d.arrive("c1", caller=CALLER, dialed="300")
    d.advance(30)
    desk, mobile = [t.leg_id for t in of(c.Ring, d.log)[-1].legs]
    out = d.send(e.LegFailed(mobile, "unavailable"), at=T + 31)
    assert follow_up(out) == []  # still ringing on the desk; the agent stays 'ringing'
    assert d.sb.agents["320"].state == "ringing"
    out = d.send(e.LegAnswered(desk), at=T + 35)
    assert of(c.Bridge, out) == [c.Bridge("c1", desk)]
    out = d.send(e.LegHungUp(desk), at=T + 95)
    assert [(x.agent_id, x.state) for x in of(c.AgentStateChanged, out)] == [("320", "idle")]


def test_duty_person_then_the_colleagues_mobiles_after_20_seconds() -> None:
    cfg = CHAIN.model_copy(update={"numbers": [
        CHAIN.numbers[0].model_copy(update={"number": "301", "scheme": "duty"})]})
    d = Driver(cfg)
    d.arrive("c1", caller=CALLER, dialed="301")
    out = d.advance(20)
    mobiles = of(c.Ring, out)[0].legs
    assert [(t.kind, t.address, t.agent_id) for t in mobiles] == [
        ("number", "+380501234501", "310"), ("number", "+380672223344", "320")]
    assert of(c.Ring, out)[0].timeout == 25.0


def test_a_link_nobody_can_take_is_skipped_at_once_with_the_reason() -> None:
    d = Driver(CHAIN)
    d.send(e.AgentStatusChanged("301", "break"))
    out = d.arrive("c1", caller=CALLER, dialed="300")
    ring_decisions = [x for x in of(c.Decision, out) if x.step == "ring"]
    assert [(x.tried, x.skipped) for x in ring_decisions] == [
        ((), (("301", "on break"),)),
        (("310",), ()),
    ]
    assert rung(out) == [("agent", "310")]


# ---------------------------------------------------------------- W5 shifts


SHIFTS = config("""
    timezone: Europe/Kyiv
    country: UA
    numbers:
      - {number: "100", scheme: main}
      - {number: "200", scheme: direct}
    agents:
      - {id: "201", schedule: morning}
      - {id: "202"}
    schedules:
      morning: {weekly: {mon-fri: "07:00-15:00"}}
    schemes:
      main:
        rules:
          - name: all
            steps: [{queue: sales}]
      direct:
        rules:
          - name: all
            steps:
              - ring: {agents: ["201", "202"], timeout: 20}
    queues:
      sales: {members: ["201", "202"], strategy: ring_all, ring_timeout: 15, wrapup: 0}
""")


def test_queue_rings_the_morning_shift_in_the_morning() -> None:
    d = Driver(SHIFTS, now=kyiv(2026, 11, 23, 14, 59, 59))
    assert sorted(d.ringing(d.arrive("c1", caller=CALLER))) == ["201", "202"]


def test_queue_skips_an_agent_outside_their_shift_and_says_so() -> None:
    at = kyiv(2026, 11, 23, 15, 0)
    d = Driver(SHIFTS, now=at)
    out = d.arrive("c1", caller=CALLER)
    assert rung(out) == [("agent", "202")]
    [ring] = [x for x in of(c.Decision, out) if x.step == "queue" and x.tried]
    assert (ring.tried, ring.skipped) == (("202",), (("201", "outside shift"),))


def test_ring_step_skips_an_agent_outside_their_shift_and_says_so() -> None:
    d = Driver(SHIFTS, now=kyiv(2026, 11, 23, 16, 0))
    out = d.arrive("c1", caller=CALLER, dialed="200")
    assert rung(out) == [("agent", "202")]
    [ring] = [x for x in of(c.Decision, out) if x.step == "ring"]
    assert ring.skipped == (("201", "outside shift"),)


def test_agent_whose_shift_starts_gets_waiting_callers() -> None:
    d = Driver(SHIFTS, now=kyiv(2026, 11, 24, 6, 59))
    d.send(e.AgentRegistered("202", False))
    out = d.arrive("c1", caller=CALLER)
    assert rung(out) == []
    out = d.advance(60)  # 07:00: 201's shift starts; the queue's retry wakes dispatch
    assert rung(d.log) == [("agent", "201")]


# ---------------------------------------------------------------- W2 known callers, auto-add


LISTS = config("""
    timezone: Europe/Kyiv
    country: UA
    numbers:
      - {number: "100", scheme: newcomers}
      - {number: "200", scheme: known_only}
    agents:
      - {id: "201"}
      - {id: "210", mobile: "+380501234501"}
    lists:
      whitelist: {kind: white, numbers: ["+380631112233"]}
    schemes:
      newcomers:
        rules:
          - name: new
            when: {known_caller: false}
            steps:
              - add_to_list: whitelist
              - ring: {mobiles: ["210"], timeout: 20}
          - name: returning
            steps: [{queue: sales}]
      known_only:
        rules:
          - name: friends
            when: {caller_in: [whitelist]}
            steps: [{queue: sales}]
          - name: strangers
            steps: [{reject: 403}]
    queues:
      sales: {members: ["201"], ring_timeout: 15, wrapup: 0}
""")


def test_new_caller_is_added_to_the_white_list_once_and_known_next_time() -> None:
    d = Driver(LISTS)
    out = d.arrive("c1", caller=CALLER)
    assert rule_of(out).rule == "new"
    assert of(c.AddToList, out) == [c.AddToList("whitelist", CALLER)]
    assert rung(out) == [("number", "+380501234501")]
    d.send(e.CallerHungUp("c1"), at=T + 5)

    out = d.send(e.CallArrived("c2", "100", "050 123 45 67"), at=T + 60)
    assert rule_of(out).rule == "returning"
    assert rule_of(out).skipped == (("new", "caller is known"),)
    assert of(c.AddToList, out) == []


def test_known_callers_only_mode_rejects_strangers_and_admits_the_white_list() -> None:
    d = Driver(LISTS)
    out = d.arrive("s1", caller=CALLER, dialed="200")
    assert follow_up(out)[0] == c.Reject("s1", 403, "Declined")
    out = d.arrive("f1", caller="+380631112233", dialed="200")
    assert rule_of(out).rule == "friends"


def test_caller_added_by_the_newcomers_line_passes_the_known_only_line() -> None:
    d = Driver(LISTS)
    d.arrive("c1", caller=CALLER)  # the add_to_list step
    d.send(e.CallerHungUp("c1"), at=T + 5)
    out = d.send(e.CallArrived("c2", "200", CALLER), at=T + 60)
    assert rule_of(out).rule == "friends"


AUTO_ADD = config("""
    country: UA
    numbers: [{number: "100", scheme: main}]
    agents: [{id: "201"}]
    lists:
      regulars: {auto_add_new: true}
      blacklist: {numbers: ["+380509999999"]}
    schemes:
      main:
        rules:
          - name: blocked
            when: {caller_in: [blacklist]}
            steps: [{reject: 603}]
          - name: regular
            when: {caller_in: [regulars]}
            steps: [{queue: sales}]
          - name: first_time
            steps: [{queue: sales}]
    queues:
      sales: {members: ["201"]}
""")


def test_auto_add_new_adds_a_first_time_caller_once_after_the_rules_saw_them() -> None:
    d = Driver(AUTO_ADD)
    out = d.arrive("c1", caller=CALLER)
    assert rule_of(out).rule == "first_time"  # the list did not hold them yet
    assert of(c.AddToList, out) == []  # added when the call ends without being rejected
    out = d.send(e.CallerHungUp("c1"), at=T + 5)
    assert of(c.AddToList, out) == [c.AddToList("regulars", CALLER)]
    out = d.send(e.CallArrived("c2", "100", CALLER), at=T + 60)
    assert rule_of(out).rule == "regular"
    assert of(c.AddToList, out) == []


def test_a_rejected_caller_is_not_auto_added_to_a_white_list() -> None:
    d = Driver(AUTO_ADD)
    out = d.arrive("c1", caller="+380509999999")
    assert of(c.Reject, out) != []
    assert of(c.AddToList, out) == []


def test_a_number_configured_on_a_white_list_is_a_known_caller_on_its_first_call() -> None:
    d = Driver(LISTS)
    out = d.arrive("c1", caller="+380631112233")
    assert rule_of(out).rule == "returning"


# ---------------------------------------------------------------- Q9 channels


CHANNELS = config("""
    timezone: Europe/Kyiv
    country: UA
    numbers:
      - {number: "100", scheme: main, channels: 3}
      - {number: "200", scheme: main, channels: 3,
         overflow: {action: scheme, scheme: busy_line}}
    agents: [{id: "201"}]
    schemes:
      main:
        rules:
          - name: all
            steps: [{queue: sales}]
      busy_line:
        rules:
          - name: busy
            steps:
              - play: all_busy
              - voicemail: general
    queues:
      sales: {members: ["201"], ring_timeout: 15, wrapup: 0}
    voicemail:
      general: {greeting: vm_general}
""")


def fill(d: Driver, dialed: str) -> None:
    for i in range(3):
        out = d.arrive(f"{dialed}-{i}", caller=f"+38050000000{i}", dialed=dialed)
        assert of(c.Reject, out) == []


def test_fourth_call_on_a_three_channel_number_is_refused_busy_and_counted() -> None:
    d = Driver(CHANNELS)
    fill(d, "100")
    out = d.arrive("c4", caller=CALLER, dialed="100")
    assert follow_up(out) == [
        c.ChannelsExhausted("100", CALLER, T, 3),
        c.Reject("c4", 486, "Busy Here"),
        c.CallFinished("c4", "100", CALLER, T, T, "missed", "overflow"),
        c.LostChanged(CALLER, "lost", T, "overflow"),
        c.CreateCrmTask(CALLER, None, T + 1800, f"Call back {CALLER}: missed call to 100"),
    ]
    [overflow] = [x for x in of(c.Decision, out) if x.step == "overflow"]
    assert overflow.summary == "all 3 channels of 100 busy: reject"
    assert overflow.details == {"active": 3, "limit": 3}


def test_a_channel_freed_admits_the_next_caller() -> None:
    d = Driver(CHANNELS)
    fill(d, "100")
    d.send(e.CallerHungUp("100-1"), at=T + 5)
    out = d.send(e.CallArrived("c4", "100", CALLER), at=T + 6)
    assert of(c.ChannelsExhausted, out) == []
    assert of(c.Reject, out) == []
    out = d.send(e.CallArrived("c5", "100", VIP), at=T + 7)
    assert of(c.ChannelsExhausted, out) == [c.ChannelsExhausted("100", VIP, T + 7, 3)]


def test_channel_limits_are_per_number() -> None:
    d = Driver(CHANNELS)
    fill(d, "100")
    out = d.arrive("other", caller=CALLER, dialed="200")
    assert of(c.ChannelsExhausted, out) == []


def test_overflow_scheme_runs_instead_of_refusing() -> None:
    d = Driver(CHANNELS)
    fill(d, "200")
    out = d.arrive("c4", caller=CALLER, dialed="200")
    play = of(c.Play, out)[0]
    assert follow_up(out) == [
        c.ChannelsExhausted("200", CALLER, T, 3),
        c.Answer("c4"),
        c.Play("c4", play.play_id, (c.Prompt("all_busy"),)),
    ]
    assert [(x.rule, x.summary) for x in of(c.Decision, out) if x.step == "rule"] == [
        ("busy", "scheme busy_line: rule busy matched")]
