"""Missed calls: the lost ledger (M2), notifications (M3) and CRM call-back tasks (M5).

Times are Monday 2026-11-23 from 10:00 Europe/Kyiv (``MONDAY_10``); every step is explicit.
"""

from __future__ import annotations

from switchboard.core import commands as c
from switchboard.core import events as e
from tests.core.harness import MONDAY_10, Driver, config, of

T = MONDAY_10
CALLER = "+380671111111"
OTHER = "+380502222222"

CFG = config("""
    timezone: Europe/Kyiv
    country: UA
    numbers:
      - {number: "100", scheme: main}
      - {number: "200", scheme: by_owner}
    agents:
      - {id: "201"}
      - {id: "202"}
      - {id: "210", name: Head of the call centre}
    lists:
      blacklist: {numbers: ["+380509999999"]}
    schemes:
      main:
        rules:
          - name: blocked
            when: {caller_in: [blacklist]}
            steps: [{reject: 603}]
          - name: all
            steps:
              - queue: sales
      by_owner:
        rules:
          - name: all
            steps:
              - crm_owner: {timeout: 3, ring_timeout: 15}
              - queue: sales
    queues:
      sales:
        members: ["201"]
        ring_timeout: 15
        wrapup: 0
        whisper: {wait_time: false, number_name: false}
    voicemail:
      box: {greeting: vm_greeting, max_length: 60, notify: [mail]}
    crm: {url: "https://crm.example.com"}
    notify:
      tg: {telegram: {chat_id: "-1001"}}
      mail: {email: {to: head@example.com}}
      sms: {sms: {to: "+380501234510"}}
    missed: {notify: [tg, mail, sms], head_agent: "210", task_deadline: 1800}
""")

_RECORDS = (c.Decision, c.AgentStateChanged, c.QueueExited)


def follow_up(out: list[c.Command]) -> list[c.Command]:
    """What a step did, without the observer records that are not under test here."""
    return [x for x in out if not isinstance(x, _RECORDS)]


def busy_agent(d: Driver) -> None:
    """Agent 201 takes a call from OTHER, so the next caller waits in the queue."""
    out = d.arrive("busy", caller=OTHER)
    d.answer(d.ringing(out)["201"])


def test_missed_call_is_lost_notified_everywhere_and_tasked_to_the_head() -> None:
    d = Driver(CFG)
    busy_agent(d)
    d.arrive("c1", caller=CALLER)
    out = d.send(e.CallerHungUp("c1"), at=T + 40)
    payload: dict[str, object] = {
        "number": CALLER, "dialed": "100", "at": T + 40, "reason": "abandoned",
        "queue": "sales", "waited": 40.0,
    }
    assert follow_up(out) == [
        c.CallFinished("c1", "100", CALLER, T, T + 40, "missed", "abandoned",
                       queue="sales", wait=40.0, rule="all"),
        c.LostChanged(CALLER, "lost", T + 40, "abandoned"),
        c.Notify("tg", "missed_call", payload),
        c.Notify("mail", "missed_call", payload),
        c.Notify("sms", "missed_call", payload),
        c.CreateCrmTask(CALLER, "210", T + 40 + 1800, f"Call back {CALLER}: missed call to 100"),
    ]


def test_lost_number_is_recovered_when_the_caller_calls_again_and_is_served() -> None:
    d = Driver(CFG)
    out = d.arrive("c1", caller=CALLER)
    d.send(e.CallerHungUp("c1"), at=T + 5)  # hung up while 201 was ringing
    assert of(c.LostChanged, d.log) == [c.LostChanged(CALLER, "lost", T + 5, "abandoned")]

    out = d.send(e.CallArrived("c2", "100", CALLER), at=T + 300)
    assert of(c.LostChanged, out) == []  # waiting again is not being served
    out = d.answer(d.ringing(out)["201"])
    assert of(c.Bridge, out) == [c.Bridge("c2", d.ringing()["201"])]
    assert of(c.LostChanged, out) == [c.LostChanged(CALLER, "recovered", T + 300, "served")]

    # Served and hanging up is not a missed call: the ledger stays recovered.
    out = d.send(e.CallerHungUp("c2"), at=T + 360)
    assert of(c.LostChanged, out) == []
    assert of(c.Notify, out) == []
    assert of(c.CreateCrmTask, out) == []


def test_a_second_missed_call_does_not_list_the_number_twice() -> None:
    d = Driver(CFG)
    busy_agent(d)
    d.arrive("c1", caller=CALLER)
    d.send(e.CallerHungUp("c1"), at=T + 10)
    d.send(e.CallArrived("c2", "100", CALLER), at=T + 60)
    out = d.send(e.CallerHungUp("c2"), at=T + 70)
    assert of(c.LostChanged, d.log) == [c.LostChanged(CALLER, "lost", T + 10, "abandoned")]
    assert [n.target for n in of(c.Notify, out)] == ["tg", "mail", "sms"]  # M3: every miss


def test_recovering_one_number_leaves_other_lost_numbers_lost() -> None:
    d = Driver(CFG)
    busy_agent(d)
    d.arrive("a", caller=CALLER)
    d.send(e.CallerHungUp("a"), at=T + 10)
    d.send(e.CallArrived("b", "100", "+380633333333"), at=T + 20)
    d.send(e.CallerHungUp("b"), at=T + 30)
    d.send(e.CallerHungUp("busy"), at=T + 40)  # 201 is free again
    out = d.send(e.CallArrived("a2", "100", CALLER), at=T + 50)
    out = d.answer(d.ringing(out)["201"])
    assert of(c.LostChanged, d.log) == [
        c.LostChanged(CALLER, "lost", T + 10, "abandoned"),
        c.LostChanged("+380633333333", "lost", T + 30, "abandoned"),
        c.LostChanged(CALLER, "recovered", T + 50, "served"),
    ]


def test_a_rejected_blacklisted_call_is_not_a_missed_call() -> None:
    d = Driver(CFG)
    out = d.arrive("c1", caller="+380509999999")
    assert follow_up(out) == [
        c.Reject("c1", 603, "Declined"),
        c.CallFinished("c1", "100", "+380509999999", T, T, "rejected", "rejected",
                       rule="blocked"),
    ]
    assert d.sb.next_deadline() is None  # no callback job, nothing pending


def test_numbers_are_normalised_in_the_ledger() -> None:
    d = Driver(CFG)
    busy_agent(d)
    d.arrive("c1", caller="067 111 11 11")  # national format, read with country UA
    d.send(e.CallerHungUp("c1"), at=T + 10)
    d.send(e.CallerHungUp("busy"), at=T + 20)
    out = d.send(e.CallArrived("c2", "100", "+38 (067) 111-11-11"), at=T + 30)
    d.answer(d.ringing(out)["201"])
    assert of(c.LostChanged, d.log) == [
        c.LostChanged(CALLER, "lost", T + 10, "abandoned"),
        c.LostChanged(CALLER, "recovered", T + 30, "served"),
    ]


# ---------------------------------------------------------------- M5: who gets the task


def test_task_goes_to_the_crm_deal_owner_when_the_call_had_one() -> None:
    d = Driver(CFG)
    busy_agent(d)
    out = d.arrive("c1", caller=CALLER, dialed="200")
    ask = of(c.LookupCrmOwner, out)[0]
    assert ask == c.LookupCrmOwner("c1", ask.request_id, CALLER, 3.0)
    out = d.send(e.CrmOwnerFound("c1", ask.request_id, "202"), at=T + 1)
    owner_leg = d.ringing(out)["202"]
    out = d.advance(15)  # 202 does not answer: the next step queues the caller
    assert of(c.CancelRing, out) == [c.CancelRing((owner_leg,))]
    out = d.send(e.CallerHungUp("c1"), at=T + 60)
    assert of(c.CreateCrmTask, out) == [
        c.CreateCrmTask(CALLER, "202", T + 60 + 1800, f"Call back {CALLER}: missed call to 200"),
    ]


def test_task_goes_to_the_head_when_the_crm_knows_no_owner() -> None:
    d = Driver(CFG)
    busy_agent(d)
    out = d.arrive("c1", caller=CALLER, dialed="200")
    ask = of(c.LookupCrmOwner, out)[0]
    d.send(e.CrmOwnerFound("c1", ask.request_id, None), at=T + 1)
    out = d.send(e.CallerHungUp("c1"), at=T + 60)
    assert [(t.assignee, t.due) for t in of(c.CreateCrmTask, out)] == [("210", T + 60 + 1800)]


def test_task_goes_to_the_head_when_the_crm_lookup_failed() -> None:
    d = Driver(CFG)
    busy_agent(d)
    out = d.arrive("c1", caller=CALLER, dialed="200")
    ask = of(c.LookupCrmOwner, out)[0]
    d.send(e.CrmLookupFailed("c1", ask.request_id, "HTTP 502"), at=T + 1)
    out = d.send(e.CallerHungUp("c1"), at=T + 60)
    assert [t.assignee for t in of(c.CreateCrmTask, out)] == ["210"]


# ---------------------------------------------------------------- M4 + M5: voicemail


VM_CFG = config("""
    timezone: Europe/Kyiv
    country: UA
    numbers:
      - {number: "100", scheme: main}
    agents:
      - {id: "202"}
      - {id: "210"}
    schemes:
      main:
        rules:
          - name: all
            steps:
              - crm_owner: {timeout: 3}
              - voicemail: box
    voicemail:
      box: {greeting: vm_greeting, max_length: 60, notify: [mail]}
    crm: {url: "https://crm.example.com"}
    notify:
      tg: {telegram: {chat_id: "-1001"}}
      mail: {email: {to: head@example.com}}
    missed: {notify: [tg], head_agent: "210", task_deadline: 3600}
""")


def test_voicemail_task_carries_the_recording_and_is_the_only_task() -> None:
    d = Driver(VM_CFG)
    out = d.arrive("c1", caller=CALLER)
    ask = of(c.LookupCrmOwner, out)[0]
    out = d.send(e.CrmOwnerFound("c1", ask.request_id, "202"), at=T + 1)
    d.send(e.LegFailed(d.ringing(out)["202"], "busy"), at=T + 2)
    greeting = [p for p in of(c.Play, d.log) if p.channel_id == "c1"][-1]
    d.send(e.PromptFinished("c1", greeting.play_id), at=T + 8)
    out = d.send(e.CallerHungUp("c1"), at=T + 30)
    assert of(c.CreateCrmTask, out) == []  # not yet: the task waits for the audio
    assert [n.kind for n in of(c.Notify, out)] == ["missed_call"]

    out = d.send(e.RecordingSaved("c1", "voicemail", "https://vm.example.com/c1.wav", 22.0),
                 at=T + 31)
    assert out == [
        c.Notify("mail", "voicemail", {
            "number": CALLER, "dialed": "100", "url": "https://vm.example.com/c1.wav",
            "duration": 22.0, "at": T + 31, "box": "box",
        }),
        c.CreateCrmTask(CALLER, "202", T + 31 + 3600, f"Call back {CALLER}: voicemail",
                        "https://vm.example.com/c1.wav"),
    ]
    assert len(of(c.CreateCrmTask, d.log)) == 1


def test_hanging_up_during_the_voicemail_greeting_gets_the_missed_call_task() -> None:
    """No message was left, so no voicemail task will come: the missed-call one is made."""
    d = Driver(VM_CFG)
    out = d.arrive("c1", caller=CALLER)
    ask = of(c.LookupCrmOwner, out)[0]
    out = d.send(e.CrmOwnerFound("c1", ask.request_id, "202"), at=T + 1)
    d.send(e.LegFailed(d.ringing(out)["202"], "busy"), at=T + 2)
    assert [p.prompts for p in of(c.Play, d.log)][-1][0] == c.Prompt("vm_greeting")
    out = d.send(e.CallerHungUp("c1"), at=T + 5)
    assert follow_up(out) == [
        c.CallFinished("c1", "100", CALLER, T, T + 5, "missed", "hangup", None, None, 5.0,
                       None, 0.0, "all", 0.0),
        c.LostChanged(CALLER, "lost", T + 5, "hangup"),
        c.Notify("tg", "missed_call", {"number": CALLER, "dialed": "100", "at": T + 5,
                                       "reason": "hangup", "queue": None, "waited": 5.0}),
        c.CreateCrmTask(CALLER, "202", T + 5 + 3600, f"Call back {CALLER}: missed call to 100"),
    ]
