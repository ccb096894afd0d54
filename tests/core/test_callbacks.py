"""Callbacks: auto-callback of missed calls (M1), fair callbacks (B4), the website form (M6).

A callback job waits like a caller; when an agent is free it rings the agent first
(``Ring(call_id=None, ...)``), then, once the agent answers, the customer, and bridges the two.
"""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

from switchboard.core import commands as c
from switchboard.core import events as e
from tests.core.harness import MONDAY_10, Driver, config, of

T = MONDAY_10
KYIV = ZoneInfo("Europe/Kyiv")
CALLER = "+380671111111"
OTHER = "+380502222222"
LATER = "+380633333333"

_RECORDS = (c.Decision, c.AgentStateChanged, c.QueueExited)


def kyiv(year: int, month: int, day: int, hour: int, minute: int = 0, second: int = 0) -> float:
    """UNIX seconds of a wall-clock time in Kyiv."""
    return dt.datetime(year, month, day, hour, minute, second, tzinfo=KYIV).timestamp()


def follow_up(out: list[c.Command]) -> list[c.Command]:
    return [x for x in out if not isinstance(x, _RECORDS)]


def legs(out: list[c.Command]) -> list[c.LegTarget]:
    return [t for r in of(c.Ring, out) for t in r.legs]


def decisions(out: list[c.Command], channel: str) -> list[str]:
    return [x.summary for x in of(c.Decision, out) if x.channel_id == channel]


AUTO = config("""
    timezone: Europe/Kyiv
    country: UA
    numbers:
      - {number: "100", scheme: main}
    agents:
      - {id: "201"}
    schemes:
      main:
        rules:
          - name: all
            steps:
              - queue: sales
    queues:
      sales: {members: ["201"], ring_timeout: 15, wrapup: 0, whisper: {wait_time: false}}
      callbacks: {members: ["201"], ring_timeout: 15, wrapup: 0}
    notify:
      tg: {telegram: {chat_id: "-1001"}}
    missed:
      notify: [tg]
      crm_task: false
      auto_callback: true
      callback_queue: callbacks
      give_up_after: 300
      agent_timeout: 25
      customer_timeout: 30
""")


def busy(d: Driver, call_id: str = "busy") -> None:
    """201 answers a call from OTHER and stays talking until ``call_id`` hangs up."""
    out = d.arrive(call_id, caller=OTHER)
    d.answer(d.ringing(out)["201"])


def miss(d: Driver, call_id: str, at: float, caller: str = CALLER) -> list[c.Command]:
    d.send(e.CallArrived(call_id, "100", caller), at=d.now)
    return d.send(e.CallerHungUp(call_id), at=at)


# ---------------------------------------------------------------- M1


def test_auto_callback_rings_the_agent_first_then_the_customer_and_bridges() -> None:
    d = Driver(AUTO)
    busy(d)
    out = miss(d, "c1", at=T + 20)
    assert decisions(out, f"callback:{CALLER}") == [
        f"callback to {CALLER} via queue callbacks (missed call)"]
    assert of(c.Ring, out) == []  # the only agent is talking: the job waits

    out = d.send(e.CallerHungUp("busy"), at=T + 100)
    agent_leg = legs(out)[0].leg_id
    job = d.sb.callbacks.jobs[CALLER].id  # both legs name it: the media keep them together
    assert follow_up(out)[-1:] == [
        c.Ring(None, (c.LegTarget(agent_leg, "agent", "201", "201"),), CALLER, 25.0, job),
    ]

    out = d.send(e.LegAnswered(agent_leg), at=T + 103)
    customer_leg = legs(out)[0].leg_id
    assert follow_up(out) == [
        c.Ring(None, (c.LegTarget(customer_leg, "number", CALLER),), "100", 30.0, job),
    ]

    out = d.send(e.LegAnswered(customer_leg), at=T + 110)
    assert follow_up(out) == [
        c.Bridge(agent_leg, customer_leg),
        c.CallbackFinished(CALLER, "connected", T + 110, "201", 1),
        c.LostChanged(CALLER, "recovered", T + 110, "called back"),  # M2
    ]

    out = d.send(e.LegHungUp(customer_leg), at=T + 170)
    assert out == [
        c.Hangup(agent_leg, "other side hung up"),
        c.AgentStateChanged("201", "idle", T + 170),
    ]
    assert d.sb.next_deadline() is None  # the give-up timer went with the job


def test_callback_rings_the_agent_for_agent_timeout_then_again_after_the_retry_pause() -> None:
    d = Driver(AUTO)
    out = miss(d, "c1", at=T + 5)  # 201 was ringing for c1: free again at once
    first = legs(out)[0].leg_id
    assert of(c.Ring, out)[0].timeout == 25.0
    out = d.advance(24.9)
    assert of(c.CancelRing, out) == []
    out = d.advance(0.1)
    assert of(c.CancelRing, out) == [c.CancelRing((first,))]
    out = d.advance(2)  # the queue's retry pause (default 2 s) after a round nobody answered
    assert [(t.address, r.call_id) for r in of(c.Ring, out) for t in r.legs] == [("201", None)]


def test_auto_callback_gives_up_when_no_agent_is_free_in_time() -> None:
    d = Driver(AUTO)
    busy(d)
    miss(d, "c1", at=T + 20)
    assert d.advance(299.9) == []
    out = d.advance(0.1)
    assert follow_up(out) == [
        c.CallbackFinished(CALLER, "gave_up", T + 320, None, 0),
        c.Notify("tg", "callback_failed", {"number": CALLER, "at": T + 320,
                                           "reason": "missed call"}),
    ]
    assert of(c.QueueExited, out) == [c.QueueExited(f"callback:{CALLER}", "callbacks",
                                                    "callback", 300.0, T + 320)]
    # The agent frees up later: nothing is rung for the abandoned job.
    out = d.send(e.CallerHungUp("busy"), at=T + 400)
    assert of(c.Ring, out) == []


def test_customer_who_does_not_answer_is_tried_again_then_given_up() -> None:
    cfg = AUTO.model_copy(update={"missed": AUTO.missed.model_copy(
        update={"give_up_after": 150.0})})
    d = Driver(cfg)
    out = miss(d, "c1", at=T + 10)  # job at T+10, gives up at T+160
    agent_leg = legs(out)[0].leg_id
    out = d.send(e.LegAnswered(agent_leg), at=T + 12)
    customer_leg = legs(out)[0].leg_id

    out = d.send(e.LegFailed(customer_leg, "no_answer"), at=T + 40)
    assert follow_up(out) == [c.Hangup(agent_leg, "customer did not answer")]
    assert decisions(out, f"callback:{CALLER}") == ["customer no_answer: retry in 60 s"]
    assert d.advance(59.9) == []
    out = d.advance(0.1)  # T+100: the job waits for an agent again
    agent_leg = legs(out)[0].leg_id
    assert of(c.Ring, out) == [
        c.Ring(None, (c.LegTarget(agent_leg, "agent", "201", "201"),), CALLER, 25.0,
               d.sb.callbacks.jobs[CALLER].id)]

    out = d.send(e.LegAnswered(agent_leg), at=T + 101)
    customer_leg = legs(out)[0].leg_id
    out = d.advance(30)  # T+131: the customer rang out; a retry at T+191 is past give-up
    assert follow_up(out) == [
        c.CancelRing((customer_leg,)),
        c.Hangup(agent_leg, "customer did not answer"),
        c.CallbackFinished(CALLER, "customer_no_answer", T + 131, None, 2),
        c.Notify("tg", "callback_failed", {"number": CALLER, "at": T + 131,
                                           "reason": "missed call"}),
    ]
    assert d.sb.next_deadline() is None


def test_the_give_up_deadline_holds_when_the_agent_hangs_up_while_the_customer_rings() -> None:
    """give_up_after passes while the customer is being dialled (a dial in progress is let
    run); the agent then hangs up: the job gives up instead of waiting again, untimed."""
    d = Driver(AUTO)
    busy(d)
    miss(d, "c1", at=T + 10)  # job at T+10, gives up at T+310
    out = d.send(e.CallerHungUp("busy"), at=T + 280)
    agent_leg = legs(out)[0].leg_id
    out = d.send(e.LegAnswered(agent_leg), at=T + 300)
    customer_leg = legs(out)[0].leg_id
    assert follow_up(d.advance(15)) == [], "T+315: the customer is still ringing"
    out = d.send(e.LegHungUp(agent_leg), at=T + 320)
    assert follow_up(out) == [
        c.CancelRing((customer_leg,)),
        c.CallbackFinished(CALLER, "gave_up", T + 320, None, 0),
        c.Notify("tg", "callback_failed", {"number": CALLER, "at": T + 320,
                                           "reason": "missed call"}),
    ]
    assert CALLER not in d.sb.callbacks.jobs
    assert d.advance(600) == [], "nothing rings for the job any more"
    assert d.sb.next_deadline() is None


def test_two_missed_calls_from_one_number_make_one_callback_job() -> None:
    d = Driver(AUTO)
    busy(d)
    miss(d, "c1", at=T + 10)
    miss(d, "c2", at=T + 30)  # missed again while the first job still waits
    jobs = [x for x in of(c.Decision, d.log)
            if x.step == "callback" and x.summary.startswith("callback to")]
    assert [x.summary for x in jobs] == [f"callback to {CALLER} via queue callbacks (missed call)"]

    out = d.send(e.CallerHungUp("busy"), at=T + 100)
    assert [(r.call_id, [t.address for t in r.legs]) for r in of(c.Ring, out)] == [
        (None, ["201"])]


def test_caller_served_while_the_auto_callback_waits_cancels_it() -> None:
    d = Driver(AUTO)
    busy(d)
    miss(d, "c1", at=T + 10)
    d.send(e.CallerHungUp("busy"), at=T + 20)  # 201 is rung for the callback job...
    job_leg = legs(d.log)[-1].leg_id
    d.send(e.LegFailed(job_leg, "busy"), at=T + 21)  # ...and rejects it
    out = d.send(e.CallArrived("c2", "100", CALLER), at=T + 22)  # the customer calls in
    out = d.answer(d.ringing(out)["201"])
    assert follow_up(out)[-2:] == [
        c.LostChanged(CALLER, "recovered", T + 22, "served"),
        c.CallbackFinished(CALLER, "cancelled", T + 22, None, 0),
    ]
    assert of(c.QueueExited, out)[-1] == c.QueueExited(f"callback:{CALLER}", "callbacks",
                                                       "callback", 12.0, T + 22)


SPLIT = config("""
    timezone: Europe/Kyiv
    country: UA
    numbers:
      - {number: "100", scheme: main}
    agents:
      - {id: "201"}
      - {id: "202"}
    schemes:
      main:
        rules:
          - name: all
            steps:
              - queue: sales
    queues:
      sales: {members: ["202"], ring_timeout: 15, wrapup: 0, whisper: {wait_time: false}}
      callbacks: {members: ["201"], ring_timeout: 15, wrapup: 0}
    missed: {crm_task: false, auto_callback: true, callback_queue: callbacks, agent_timeout: 25}
""")


def test_the_job_is_ringing_agent_while_its_agent_rings_and_waiting_again_after() -> None:
    d = Driver(SPLIT)
    d.send(e.AgentStatusChanged("202", "break"))
    miss(d, "c1", at=T + 5)  # nobody to ring in sales; the callback rings 201
    job = d.sb.callbacks.jobs[CALLER]
    assert (job.phase, list(d.ringing())) == ("ringing_agent", ["201"])
    d.advance(25)  # 201 does not answer
    assert job.phase == "waiting"
    d.advance(2)  # rung again after the queue's retry pause; this time 201 rejects
    assert job.phase == "ringing_agent"
    d.send(e.LegFailed(legs(d.log)[-1].leg_id, "busy"), at=T + 40)
    assert job.phase == "waiting"


def test_customer_answered_elsewhere_while_the_callback_rings_its_agent_cancels_the_ring() -> None:
    d = Driver(SPLIT)
    d.send(e.AgentStatusChanged("202", "break"))
    miss(d, "c1", at=T + 5)
    job_leg = d.ringing()["201"]
    assert d.sb.callbacks.jobs[CALLER].phase == "ringing_agent"
    d.send(e.AgentStatusChanged("202", "available"), at=T + 10)
    out = d.send(e.CallArrived("c2", "100", CALLER), at=T + 12)  # 202 rings in sales
    # The customer is on the line with us: 201 stops ringing for the callback (held, B4).
    assert of(c.CancelRing, out) == [c.CancelRing((job_leg,))]
    out = d.answer(d.ringing(out)["202"])
    assert follow_up(out)[-2:] == [
        c.LostChanged(CALLER, "recovered", T + 12, "served"),
        c.CallbackFinished(CALLER, "cancelled", T + 12, None, 0),
    ]
    assert d.sb.agents["201"].state == "idle"
    assert CALLER not in d.sb.callbacks.jobs


def test_customer_joining_the_queue_while_the_callback_rings_its_agent_takes_its_place() -> None:
    d = Driver(FAIR)
    d.send(e.CallArrived("a", "100", CALLER), at=T + 10)
    out = d.send(e.DigitsReceived("a", "1"), at=T + 12)  # 201 was ringing for a
    d.finish_prompt("a", out)
    job_leg = d.ringing()["201"]
    assert d.sb.callbacks.jobs[CALLER].phase == "ringing_agent"
    out = d.send(e.CallArrived("a2", "100", CALLER), at=T + 20)
    assert of(c.CallbackFinished, out) == [c.CallbackFinished(CALLER, "cancelled", T + 20)]
    assert of(c.CancelRing, out) == [c.CancelRing((job_leg,))]
    assert [r.call_id for r in of(c.Ring, out)] == ["a2"]
    assert of(c.QueueExited, d.answer(d.ringing(out)["201"]))[-1] == c.QueueExited(
        "a2", "sales", "answered", 10.0, T + 20)


# ---------------------------------------------------------------- B4


FAIR_TEXT = """
    timezone: Europe/Kyiv
    country: UA
    numbers:
      - {number: "100", scheme: main}
    agents:
      - {id: "201"}
    schemes:
      main:
        rules:
          - name: all
            steps:
              - queue: sales
    queues:
      sales:
        members: ["201"]
        ring_timeout: 15
        wrapup: 0
        whisper: {wait_time: false}
        exit_key: {digit: "1", action: callback}
    missed: {crm_task: false, customer_timeout: 30}
"""
FAIR = config(FAIR_TEXT)


def press_one_for_callback(d: Driver, call_id: str, at: float) -> None:
    out = d.send(e.DigitsReceived(call_id, "1"), at=at)
    assert of(c.Play, out)[-1].prompts == (c.Prompt("callback_confirmed"),)
    d.finish_prompt(call_id, out)


def dialing_customer(d: Driver, answered_at: float) -> tuple[str, str]:
    """CALLER asks for a callback while 201 is busy; 201 is freed at T+100 and rung for the
    job, answers at ``answered_at``, and CALLER is dialled: (agent leg, customer leg)."""
    busy(d)
    d.send(e.CallArrived("a", "100", CALLER), at=T + 10)
    press_one_for_callback(d, "a", at=T + 30)
    out = d.send(e.CallerHungUp("busy"), at=T + 100)
    agent_leg = legs(out)[0].leg_id
    out = d.send(e.LegAnswered(agent_leg), at=answered_at)
    return agent_leg, legs(out)[0].leg_id


def test_caller_who_chose_a_callback_keeps_their_place() -> None:
    d = Driver(FAIR)
    busy(d)
    d.send(e.CallArrived("a", "100", CALLER), at=T + 10)
    d.send(e.CallArrived("b", "100", OTHER.replace("2", "4")), at=T + 20)
    press_one_for_callback(d, "a", at=T + 30)
    assert of(c.CallFinished, d.log)[-1] == c.CallFinished(
        "a", "100", CALLER, T + 10, T + 30, "missed", "callback", queue="sales", wait=20.0,
        rule="all")
    d.send(e.CallArrived("c", "100", LATER), at=T + 40)

    out = d.send(e.CallerHungUp("busy"), at=T + 100)
    # The job joined at a's original time (T+10): ahead of b (T+20) and c (T+40).
    assert [(r.call_id, r.caller_id) for r in of(c.Ring, out)] == [(None, CALLER)]
    assert of(c.QueueExited, d.log)[-1] == c.QueueExited("a", "sales", "exit_key", 20.0, T + 30)


def test_customer_calling_in_while_the_job_waits_takes_its_place_without_a_duplicate() -> None:
    d = Driver(FAIR)
    busy(d)
    d.send(e.CallArrived("a", "100", CALLER), at=T + 10)
    d.send(e.CallArrived("b", "100", LATER), at=T + 20)
    press_one_for_callback(d, "a", at=T + 30)

    out = d.send(e.CallArrived("a2", "100", CALLER), at=T + 50)
    assert of(c.CallbackFinished, out) == [c.CallbackFinished(CALLER, "cancelled", T + 50)]
    assert [x.summary for x in of(c.Decision, out) if x.step == "queue"] == [
        "joined queue sales at position 1",
        "queue sales: no member free to ring; waiting at position 1"]

    out = d.send(e.CallerHungUp("busy"), at=T + 100)
    assert [r.call_id for r in of(c.Ring, out)] == ["a2"]  # no callback Ring: no duplicate
    out = d.answer(d.ringing(out)["201"])
    assert of(c.Bridge, out) == [c.Bridge("a2", d.ringing()["201"])]
    assert of(c.QueueExited, out) == [c.QueueExited("a2", "sales", "answered", 90.0, T + 100)]
    assert of(c.CallbackFinished, d.log) == [c.CallbackFinished(CALLER, "cancelled", T + 50)]


def test_a_customer_who_takes_the_callbacks_place_gets_the_whole_max_wait() -> None:
    """Found by the core fuzz: the call took the job's place with the job's join time, and
    max_wait counted from that time, long past: the customer who called again went to the
    queue's timeout exit at once (and its timer was set in the past). The kept time orders
    the queue (B4); the wait allowed counts from the call's own arrival."""
    text = FAIR_TEXT.replace("ring_timeout: 15", "ring_timeout: 15\n        max_wait: 40")
    d = Driver(config(text))
    busy(d)
    d.send(e.CallArrived("a", "100", CALLER), at=T + 10)
    press_one_for_callback(d, "a", at=T + 30)
    out = d.send(e.CallArrived("a2", "100", CALLER), at=T + 110)
    assert [x.reason for x in of(c.QueueExited, out)] == ["callback"], "only the job left"
    assert d.sb.next_deadline() == T + 150
    assert of(c.QueueExited, d.advance(39.9)) == []
    out = d.advance(0.1)
    assert [(x.call_id, x.reason) for x in of(c.QueueExited, out)] == [("a2", "timeout")]


def test_customer_calling_in_during_the_retry_pause_takes_the_jobs_place() -> None:
    """The customer did not answer the callback; during the pause before the next try they
    call in: their call takes the job's place (B4), and the job does not come back."""
    d = Driver(FAIR)
    _, customer_leg = dialing_customer(d, T + 101)
    d.send(e.LegFailed(customer_leg, "busy"), at=T + 105)  # retry at T+165
    out = d.send(e.CallArrived("a2", "100", CALLER), at=T + 120)
    assert of(c.CallbackFinished, out) == [
        c.CallbackFinished(CALLER, "cancelled", T + 120, None, 1)]
    assert CALLER not in d.sb.callbacks.jobs
    out = d.answer(d.ringing(out)["201"])
    assert of(c.QueueExited, out) == [c.QueueExited("a2", "sales", "answered", 110.0, T + 120)]
    assert of(c.Ring, d.advance(60)) == [], "no callback Ring at T+165"


def test_customer_calling_in_while_the_agent_waits_for_them_is_connected_to_that_agent() -> None:
    d = Driver(FAIR)
    agent_leg, customer_leg = dialing_customer(d, T + 102)

    out = d.send(e.CallArrived("a2", "100", CALLER), at=T + 105)
    assert follow_up(out) == [
        c.CancelRing((customer_leg,)),
        c.CallbackFinished(CALLER, "connected", T + 105, "201", 1),
        c.Answer("a2"),
        c.Bridge("a2", agent_leg),
        c.LostChanged(CALLER, "recovered", T + 105, "served"),
    ]
    assert d.sb.next_deadline() is None  # the customer-leg timeout went with the job
    out = d.send(e.CallerHungUp("a2"), at=T + 165)
    assert follow_up(out) == [
        c.Hangup(agent_leg, "caller hung up"),
        c.CallFinished("a2", "100", CALLER, T + 105, T + 165, "answered", "answered",
                       agent_id="201", queue="sales", answered_at=T + 105, talk=60.0),
    ]


def test_customer_calling_in_while_the_agent_waits_for_them_is_connected_even_when_full() -> None:
    # The number's two channels are taken by other callers: the customer is still connected
    # to the agent waiting for them (their dial is cancelled), not sent to the overflow.
    d = Driver(config(FAIR_TEXT.replace('scheme: main}', 'scheme: main, channels: 2}')))
    agent_leg, customer_leg = dialing_customer(d, T + 102)
    d.send(e.CallArrived("x", "100", LATER), at=T + 103)  # x and y wait: 100 is full
    d.send(e.CallArrived("y", "100", OTHER), at=T + 104)
    assert d.sb.active_by_number == {"100": 2}

    out = d.send(e.CallArrived("a2", "100", CALLER), at=T + 105)
    assert not of(c.ChannelsExhausted, out) and not of(c.Reject, out)
    assert follow_up(out) == [
        c.CancelRing((customer_leg,)),
        c.CallbackFinished(CALLER, "connected", T + 105, "201", 1),
        c.Answer("a2"),
        c.Bridge("a2", agent_leg),
        c.LostChanged(CALLER, "recovered", T + 105, "served"),
    ]
    assert "were busy" in decisions(out, "a2")[-1]
    out = d.send(e.CallerHungUp("a2"), at=T + 165)
    assert of(c.CallFinished, out)[-1].outcome == "answered"
    assert d.sb.active_by_number == {"100": 2}, "x and y hold the channels again"


# ---------------------------------------------------------------- M6


FORM = config("""
    timezone: Europe/Kyiv
    country: UA
    numbers:
      - {number: "+380443904000", scheme: main}
    agents:
      - {id: "201"}
    schedules:
      office: {weekly: {mon-fri: "09:00-18:00"}}
    schemes:
      main:
        rules:
          - name: all
            steps:
              - queue: sales
    queues:
      sales: {members: ["201"], ring_timeout: 15, wrapup: 0, whisper: {wait_time: false}}
    callback_slots: {schedule: office, slot_minutes: 30, offer: 3, queue: sales}
    missed: {agent_timeout: 20, customer_timeout: 30}
""")


def test_callback_form_inside_hours_calls_the_manager_then_the_client_at_that_time() -> None:
    d = Driver(FORM)  # Monday 10:00
    at = kyiv(2026, 11, 23, 15, 0)
    out = d.send(e.CallbackRequested(7, "067 111 11 11", at))
    assert of(c.OfferSlots, out) == []
    assert d.sb.next_deadline() == at
    assert d.advance(at - T - 0.1) == []
    out = d.advance(0.1)
    agent_leg = legs(out)[0].leg_id
    job = d.sb.callbacks.jobs[CALLER].id
    assert of(c.Ring, out) == [
        c.Ring(None, (c.LegTarget(agent_leg, "agent", "201", "201"),), CALLER, 20.0, job)]
    out = d.send(e.LegAnswered(agent_leg), at=at + 4)
    customer_leg = legs(out)[0].leg_id
    assert of(c.Ring, out) == [
        c.Ring(None, (c.LegTarget(customer_leg, "number", CALLER),), "+380443904000", 30.0,
               job)]
    out = d.send(e.LegAnswered(customer_leg), at=at + 10)
    assert of(c.Bridge, out) == [c.Bridge(agent_leg, customer_leg)]
    assert of(c.CallbackFinished, out) == [
        c.CallbackFinished(CALLER, "connected", at + 10, "201", 1)]


def test_callback_form_after_hours_offers_the_next_working_slots() -> None:
    d = Driver(FORM)
    out = d.send(e.CallbackRequested(8, CALLER, kyiv(2026, 11, 23, 19, 0)))
    assert out[-1:] == [c.OfferSlots(8, (
        kyiv(2026, 11, 24, 9, 0), kyiv(2026, 11, 24, 9, 30), kyiv(2026, 11, 24, 10, 0)))]
    # Tue 09:00 Kyiv (UTC+2) is Mon 10:00 + 23 h.
    assert of(c.OfferSlots, out)[-1].slots[0] - T == 23 * 3600
    assert d.sb.next_deadline() is None  # no job until the visitor picks a slot


def test_callback_form_on_friday_evening_offers_monday_morning() -> None:
    d = Driver(FORM)
    out = d.send(e.CallbackRequested(9, CALLER, kyiv(2026, 11, 27, 18, 0)))  # closes at 18:00
    assert of(c.OfferSlots, out) == [c.OfferSlots(9, (
        kyiv(2026, 11, 30, 9, 0), kyiv(2026, 11, 30, 9, 30), kyiv(2026, 11, 30, 10, 0)))]


def test_callback_form_asap_outside_hours_offers_slots_from_now() -> None:
    d = Driver(FORM, now=kyiv(2026, 11, 23, 17, 59, 59))
    out = d.send(e.CallbackRequested(10, CALLER, None))  # "as soon as possible": open now
    assert of(c.OfferSlots, out) == []
    d2 = Driver(FORM, now=kyiv(2026, 11, 23, 18, 0))
    out = d2.send(e.CallbackRequested(10, CALLER, None))
    assert of(c.OfferSlots, out) == [c.OfferSlots(10, (
        kyiv(2026, 11, 24, 9, 0), kyiv(2026, 11, 24, 9, 30), kyiv(2026, 11, 24, 10, 0)))]


def test_a_duplicate_callback_request_makes_no_second_job() -> None:
    d = Driver(FORM)
    d.send(e.CallbackRequested(1, CALLER, kyiv(2026, 11, 23, 15, 0)))
    out = d.send(e.CallbackRequested(2, "0671111111", kyiv(2026, 11, 23, 16, 0)))
    assert out == [c.Decision(f"callback:{CALLER}", T, "callback",
                              "a callback is already pending for this number")]
    at = kyiv(2026, 11, 23, 15, 0)
    out = d.advance(at - T)
    d.send(e.LegAnswered(legs(out)[0].leg_id), at=at + 3)
    d.send(e.LegAnswered(legs(d.log)[-1].leg_id), at=at + 8)
    d.advance(kyiv(2026, 11, 23, 16, 30) - d.now)  # nothing happens at 16:00
    assert [(r.call_id, t.kind, t.address) for r in of(c.Ring, d.log) for t in r.legs] == [
        (None, "agent", "201"), (None, "number", CALLER)]
    assert of(c.CallbackFinished, d.log) == [
        c.CallbackFinished(CALLER, "connected", at + 8, "201", 1)]


# ---------------------------------------------------------------- a chosen time, B4


SLOTS = config("""
    timezone: Europe/Kyiv
    country: UA
    numbers:
      - {number: "+380443904000", scheme: main}
    agents:
      - {id: "201"}
      - {id: "202"}
    schemes:
      main:
        rules:
          - name: all
            steps:
              - queue: sales
    queues:
      sales:
        strategy: linear
        members: ["201", "202"]
        ring_timeout: 15
        wrapup: 0
        whisper: {wait_time: false}
    callback_slots: {queue: sales}
    missed: {crm_task: false, agent_timeout: 20, customer_timeout: 30}
""")
SHOP = "+380443904000"
SLOT = kyiv(2026, 11, 23, 15, 0)


def both_busy(d: Driver, at: float) -> None:
    """201 and 202 (linear: 201 first) answer other customers' calls b1 and b2."""
    for call_id, caller in (("b1", OTHER), ("b2", LATER)):
        out = d.send(e.CallArrived(call_id, SHOP, caller), at=at)
        d.answer(legs(out)[0].leg_id)


def test_customer_answered_before_the_chosen_time_cancels_the_callback() -> None:
    d = Driver(SLOTS)
    d.send(e.CallbackRequested(7, CALLER, SLOT))
    out = d.send(e.CallArrived("a", SHOP, CALLER), at=T + 60)
    out = d.answer(d.ringing(out)["201"])
    assert decisions(out, f"callback:{CALLER}") == [
        "cancelled: the customer called in and was answered"]
    assert of(c.CallbackFinished, out) == [c.CallbackFinished(CALLER, "cancelled", T + 60)]
    d.send(e.CallerHungUp("a"), at=T + 200)
    assert d.advance(SLOT - d.now + 600) == [], "nothing rings at the chosen time"
    assert d.sb.next_deadline() is None


def test_customer_on_the_line_when_the_chosen_time_comes_gets_no_second_ring() -> None:
    """The customer waits in the queue when their chosen time comes: the callback does not
    join beside them (a free agent would ring for it and dial a number that is busy talking
    to us); it waits for their call, and goes ahead when that call ends unanswered."""
    d = Driver(SLOTS)
    d.send(e.CallbackRequested(7, CALLER, SLOT))
    both_busy(d, at=SLOT - 100)
    d.send(e.CallArrived("a", SHOP, CALLER), at=SLOT - 60)
    out = d.advance(60)
    assert out == [c.Decision(f"callback:{CALLER}", SLOT, "callback",
                              f"the chosen time came while {CALLER} is on the line: "
                              "calling back if that call ends unanswered")]
    out = d.send(e.CallerHungUp("b2"), at=SLOT + 20)
    assert [(r.call_id, t.agent_id) for r in of(c.Ring, out) for t in r.legs] == [("a", "202")]
    a_leg = d.ringing(out)["202"]
    out = d.send(e.CallerHungUp("b1"), at=SLOT + 25)
    assert of(c.Ring, out) == [], "201 is free, and no callback rings it beside the call"

    out = d.send(e.CallerHungUp("a"), at=SLOT + 30)  # gave up waiting: the callback holds
    job = d.sb.callbacks.jobs[CALLER].id
    rung = legs(out)
    assert follow_up(out) == [
        c.CancelRing((a_leg,)),
        c.CallFinished("a", SHOP, CALLER, SLOT - 60, SLOT + 30, "missed", "abandoned",
                       queue="sales", wait=90.0, rule="all"),
        c.LostChanged(CALLER, "lost", SLOT + 30, "abandoned"),
        c.Ring(None, (c.LegTarget(rung[0].leg_id, "agent", "201", "201"),), CALLER, 20.0, job),
    ]
    assert decisions(out, f"callback:{CALLER}") == [
        f"{CALLER}'s call ended unanswered: calling back as chosen",
        "queue sales (linear): ring 201"]


def test_customer_on_the_line_at_the_chosen_time_and_then_answered_is_not_called_back() -> None:
    d = Driver(SLOTS)
    d.send(e.CallbackRequested(7, CALLER, SLOT))
    both_busy(d, at=SLOT - 100)
    d.send(e.CallArrived("a", SHOP, CALLER), at=SLOT - 60)
    d.advance(60)
    a_leg = d.ringing(d.send(e.CallerHungUp("b1"), at=SLOT + 20))["201"]
    assert of(c.Ring, d.send(e.CallerHungUp("b2"), at=SLOT + 22)) == [], "202 rings for nobody"
    d.now = SLOT + 25
    out = d.answer(a_leg)
    assert of(c.CallbackFinished, out) == [c.CallbackFinished(CALLER, "cancelled", SLOT + 25)]
    d.send(e.CallerHungUp("a"), at=SLOT + 80)
    assert of(c.Ring, d.advance(600)) == []
    assert [r for r in of(c.Ring, d.log) if r.call_id is None] == [], "never dialled"
    assert CALLER not in d.sb.callbacks.jobs


def test_a_waiting_callback_is_held_while_the_customer_is_on_the_line_in_another_queue() -> None:
    d = Driver(SPLIT)
    d.send(e.AgentStatusChanged("201", "break"))
    d.send(e.AgentStatusChanged("202", "break"))
    miss(d, "c1", at=T + 5)  # the job waits in callbacks: 201 is on break
    assert d.sb.callbacks.jobs[CALLER].phase == "waiting"
    out = d.send(e.CallArrived("c2", "100", CALLER), at=T + 10)  # waits in sales (202 away)
    assert decisions(out, f"callback:{CALLER}") == [f"held: {CALLER} is on the line with us"]
    out = d.send(e.AgentStatusChanged("201", "available"), at=T + 20)
    assert of(c.Ring, out) == [], "201 is not rung to call back a customer who is calling us"
    out = d.send(e.CallerHungUp("c2"), at=T + 30)  # gives up, unanswered
    job = d.sb.callbacks.jobs[CALLER]
    assert decisions(out, f"callback:{CALLER}")[0] == (
        f"{CALLER}'s call ended unanswered: the callback goes on")
    assert [(r.job_id, [t.address for t in r.legs]) for r in of(c.Ring, out)] == [
        (job.id, ["201"])]


def test_a_held_callback_does_not_give_up_while_the_customer_is_on_the_line() -> None:
    """The give-up time passes while the customer waits in another queue: that is not "no
    agent in time", and nobody is told the callback failed. Their call ending unanswered is a
    new missed call: the job goes on, with a fresh give-up time, and rings the agent."""
    d = Driver(SPLIT)
    d.send(e.AgentStatusChanged("201", "break"))
    d.send(e.AgentStatusChanged("202", "break"))
    miss(d, "c1", at=T + 5)  # the job gives up at T + 305
    d.send(e.CallArrived("c2", "100", CALLER), at=T + 10)  # waits in sales (202 away)
    out = d.advance(T + 305 - d.now)
    assert of(c.CallbackFinished, out) == []
    assert decisions(out, f"callback:{CALLER}") == [
        f"the give-up time came while {CALLER} is on the line: waiting for that call"]
    out = d.send(e.CallerHungUp("c2"), at=T + 400)
    assert decisions(out, f"callback:{CALLER}") == [
        f"{CALLER}'s call ended unanswered after the give-up time: the callback goes on, "
        "giving up 300 s from now"]
    job = d.sb.callbacks.jobs[CALLER]
    assert job.give_up_at == T + 700
    out = d.send(e.AgentStatusChanged("201", "available"), at=T + 500)
    assert [(r.job_id, [t.address for t in r.legs]) for r in of(c.Ring, out)] == [
        (job.id, ["201"])]


def test_a_held_callback_past_its_time_is_cancelled_when_the_customer_is_answered() -> None:
    d = Driver(SPLIT)
    d.send(e.AgentStatusChanged("201", "break"))
    d.send(e.AgentStatusChanged("202", "break"))
    miss(d, "c1", at=T + 5)
    d.send(e.CallArrived("c2", "100", CALLER), at=T + 10)
    d.advance(T + 310 - d.now)
    out = d.send(e.AgentStatusChanged("202", "available"), at=T + 320)
    out = d.answer(d.ringing(out)["202"])
    assert of(c.CallbackFinished, out) == [c.CallbackFinished(CALLER, "cancelled", T + 320)]
    d.send(e.CallerHungUp("c2"), at=T + 400)
    assert CALLER not in d.sb.callbacks.jobs
    assert [x for x in of(c.CallbackFinished, d.log) if x.outcome == "gave_up"] == []
    assert of(c.Notify, d.log) == []
