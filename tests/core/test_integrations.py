"""CRM deal owner (R1) and webhook routing (R6): ask, wait a bounded time, act or go on.

Every reply that cannot be acted on moves the call to the next step, with a Decision that
says why (B1). Late replies (after the timeout moved the call on) are ignored.
"""

from __future__ import annotations

from typing import Any

import pytest

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
      - {number: "100", name: TechnoDim, scheme: owner_first}
      - {number: "200", name: TechnoDim site, scheme: website}
    agents:
      - {id: "201"}
      - {id: "202"}
      - {id: "304"}
    schemes:
      owner_first:
        rules:
          - name: callers
            steps:
              - crm_owner: {timeout: 3, ring_timeout: 15}
              - queue: sales
      website:
        rules:
          - name: visitors
            steps:
              - webhook: {endpoint: router, timeout: 2, ring_timeout: 20}
              - queue: sales
      english:
        rules:
          - name: english
            steps:
              - ring: {agents: ["304"], timeout: 20}
    queues:
      sales:
        members: ["201"]
        ring_timeout: 15
        wrapup: 0
        whisper: {wait_time: false, number_name: false}
    crm: {url: "https://crm.example.com/api"}
    webhooks:
      router: {url: "https://shop.example.com/route"}
""")


def steps(out: list[c.Command], step: str) -> list[c.Decision]:
    return [x for x in of(c.Decision, out) if x.step == step]


def queued(out: list[c.Command], call_id: str = "c1") -> bool:
    """Whether the call went on to the next step: the sales queue (201 rung)."""
    return [(r.call_id, [t.address for t in r.legs]) for r in of(c.Ring, out)] == [
        (call_id, ["201"])]


def make_busy(d: Driver, agent: str) -> None:
    """``agent`` answers a direct ring from OTHER and stays talking."""
    out = d.send(e.CallArrived("x", "200", OTHER))
    ask = of(c.AskWebhook, out)[0]
    out = d.send(e.WebhookAnswered("x", ask.request_id, {"agent": agent}))
    d.answer(d.ringing(out)[agent])


# ---------------------------------------------------------------- R1 CRM owner


def ask_crm(d: Driver, call_id: str = "c1") -> c.LookupCrmOwner:
    out = d.arrive(call_id, caller=CALLER)
    asks = of(c.LookupCrmOwner, out)
    assert asks == [c.LookupCrmOwner(call_id, asks[0].request_id, CALLER, 3.0)]
    assert of(c.Answer, out) == []  # nobody answers the caller while the CRM thinks
    return asks[0]


def test_crm_owner_found_is_rung_directly() -> None:
    d = Driver(CFG)
    ask = ask_crm(d)
    out = d.send(e.CrmOwnerFound("c1", ask.request_id, "202"), at=T + 1)
    leg = d.ringing(out)["202"]
    assert of(c.Ring, out) == [c.Ring("c1", (c.LegTarget(leg, "agent", "202", "202"),),
                                      CALLER, 15.0)]
    assert [(x.summary, x.tried) for x in steps(out, "crm_owner")] == [("ring 202", ("202",))]
    out = d.answer(leg)
    assert of(c.Bridge, out) == [c.Bridge("c1", leg)]


def test_crm_owner_who_does_not_answer_in_ring_timeout_falls_through() -> None:
    d = Driver(CFG)
    ask = ask_crm(d)
    out = d.send(e.CrmOwnerFound("c1", ask.request_id, "202"), at=T + 1)
    leg = d.ringing(out)["202"]
    assert d.advance(14.9) == []
    out = d.advance(0.1)  # T+16
    assert of(c.CancelRing, out) == [c.CancelRing((leg,))]
    assert queued(out)


@pytest.mark.parametrize(("owner", "why"), [
    (None, "nobody: no owner: next step"),
    ("999", "999: unknown agent: next step"),
])
def test_crm_without_a_usable_owner_goes_to_the_next_step(owner: str | None, why: str) -> None:
    d = Driver(CFG)
    ask = ask_crm(d)
    out = d.send(e.CrmOwnerFound("c1", ask.request_id, owner), at=T + 1)
    assert [x.summary for x in steps(out, "crm_owner")] == [why]
    assert queued(out)


def test_crm_owner_busy_goes_to_the_next_step_and_says_why() -> None:
    d = Driver(CFG)
    make_busy(d, "202")
    ask = ask_crm(d)
    out = d.send(e.CrmOwnerFound("c1", ask.request_id, "202"), at=T + 1)
    assert [(x.summary, x.skipped) for x in steps(out, "crm_owner")] == [
        ("202: talking: next step", (("202", "talking"),))]
    assert queued(out)


def test_crm_owner_on_break_goes_to_the_next_step() -> None:
    d = Driver(CFG)
    d.send(e.AgentStatusChanged("202", "break"))
    ask = ask_crm(d)
    out = d.send(e.CrmOwnerFound("c1", ask.request_id, "202"), at=T + 1)
    assert [x.skipped for x in steps(out, "crm_owner")] == [(("202", "on break"),)]
    assert queued(out)


def test_crm_lookup_failure_goes_to_the_next_step() -> None:
    d = Driver(CFG)
    ask = ask_crm(d)
    out = d.send(e.CrmLookupFailed("c1", ask.request_id, "HTTP 500"), at=T + 1)
    assert [x.summary for x in steps(out, "crm_owner")] == [
        "crm_owner failed (HTTP 500): next step"]
    assert queued(out)


def test_crm_silent_past_its_timeout_goes_on_and_a_late_owner_is_ignored() -> None:
    d = Driver(CFG)
    ask = ask_crm(d)
    assert d.advance(2.9) == []
    out = d.advance(0.1)  # T+3
    assert [x.summary for x in steps(out, "crm_owner")] == ["crm_owner timed out: next step"]
    assert queued(out)
    assert d.send(e.CrmOwnerFound("c1", ask.request_id, "202"), at=T + 4) == []
    assert d.send(e.CrmLookupFailed("c1", ask.request_id, "late"), at=T + 5) == []


def test_crm_reply_with_a_stale_request_id_is_ignored() -> None:
    d = Driver(CFG)
    ask = ask_crm(d)
    assert d.send(e.CrmOwnerFound("c1", ask.request_id + 100, "202"), at=T + 1) == []
    assert d.send(e.CrmOwnerFound("nope", ask.request_id, "202"), at=T + 1) == []
    out = d.send(e.CrmOwnerFound("c1", ask.request_id, "202"), at=T + 2)
    assert list(d.ringing(out)) == ["202"]


def test_crm_reply_after_the_caller_hung_up_is_ignored() -> None:
    d = Driver(CFG)
    ask = ask_crm(d)
    d.send(e.CallerHungUp("c1"), at=T + 1)
    assert d.send(e.CrmOwnerFound("c1", ask.request_id, "202"), at=T + 2) == []
    assert d.sb.next_deadline() is None


# ---------------------------------------------------------------- R6 webhook


def ask_hook(d: Driver, **entities: str) -> c.AskWebhook:
    out = d.arrive("c1", caller=CALLER, dialed="200", **entities)
    return of(c.AskWebhook, out)[0]


def test_webhook_gets_the_call_and_the_visitors_entities() -> None:
    d = Driver(CFG)
    ask = ask_hook(d, category="phones", page_type="catalog", language="uk")
    assert ask == c.AskWebhook("c1", ask.request_id, "https://shop.example.com/route", {
        "call_id": "c1", "caller": CALLER, "dialed": "200", "number_name": "TechnoDim site",
        "entities": {"category": "phones", "page_type": "catalog", "language": "uk"},
        "known_caller": False, "at": T,
    }, 2.0)


def test_webhook_payload_says_when_the_caller_is_known() -> None:
    d = Driver(CFG)
    d.arrive("c0", caller=CALLER)  # first call: now known
    d.send(e.CallerHungUp("c0"), at=T + 1)
    out = d.send(e.CallArrived("c1", "200", CALLER), at=T + 60)
    assert of(c.AskWebhook, out)[0].payload["known_caller"] is True


@pytest.mark.parametrize("agent", ["202", 202])
def test_webhook_naming_an_agent_rings_that_agent(agent: Any) -> None:
    d = Driver(CFG)
    ask = ask_hook(d)
    out = d.send(e.WebhookAnswered("c1", ask.request_id, {"agent": agent}), at=T + 1)
    leg = d.ringing(out)["202"]
    assert of(c.Ring, out) == [c.Ring("c1", (c.LegTarget(leg, "agent", "202", "202"),),
                                      CALLER, 20.0)]
    assert [x.summary for x in steps(out, "webhook")] == ["ring 202"]


def test_webhook_naming_a_number_rings_it_over_the_trunk() -> None:
    d = Driver(CFG)
    ask = ask_hook(d)
    out = d.send(e.WebhookAnswered("c1", ask.request_id, {"number": "+380 67 111 22 33"}),
                 at=T + 1)
    leg = of(c.Ring, out)[0].legs[0].leg_id
    assert of(c.Ring, out) == [c.Ring("c1", (c.LegTarget(leg, "number", "+380671112233"),),
                                      CALLER, 20.0)]
    out = d.advance(20)  # nobody picks up: the next step
    assert of(c.CancelRing, out) == [c.CancelRing((leg,))]
    assert queued(out)


def test_webhook_naming_a_scheme_enters_it() -> None:
    d = Driver(CFG)
    ask = ask_hook(d)
    out = d.send(e.WebhookAnswered("c1", ask.request_id, {"scheme": "english"}), at=T + 1)
    assert [x.summary for x in steps(out, "webhook")] == ["go to scheme english"]
    assert [(x.rule, x.summary) for x in steps(out, "rule")] == [
        ("english", "scheme english: rule english matched")]
    assert [t.address for r in of(c.Ring, out) for t in r.legs] == ["304"]


def test_webhook_naming_a_busy_agent_goes_to_the_next_step() -> None:
    d = Driver(CFG)
    make_busy(d, "202")
    out = d.send(e.CallArrived("c1", "200", CALLER), at=T + 1)
    ask = of(c.AskWebhook, out)[0]
    out = d.send(e.WebhookAnswered("c1", ask.request_id, {"agent": "202"}), at=T + 2)
    assert [x.summary for x in steps(out, "webhook")] == ["202: talking: next step"]
    assert queued(out)


def test_webhook_timeout_goes_to_the_next_step_and_a_late_reply_is_ignored() -> None:
    d = Driver(CFG)
    ask = ask_hook(d)
    assert d.advance(1.9) == []
    out = d.advance(0.1)
    assert [x.summary for x in steps(out, "webhook")] == ["webhook timed out: next step"]
    assert queued(out)
    assert d.send(e.WebhookAnswered("c1", ask.request_id, {"agent": "202"}), at=T + 3) == []


def test_webhook_failure_goes_to_the_next_step() -> None:
    d = Driver(CFG)
    ask = ask_hook(d)
    out = d.send(e.WebhookFailed("c1", ask.request_id, "connection refused"), at=T + 1)
    assert [x.summary for x in steps(out, "webhook")] == [
        "webhook failed (connection refused): next step"]
    assert queued(out)


@pytest.mark.parametrize("reply", [
    {},
    {"agent": None},
    {"agent": True},
    {"number": "abc"},
    {"number": "12"},
    {"scheme": "nope"},
    {"scheme": 5},
    {"unexpected": "x" * 200},
])
def test_webhook_garbage_reply_goes_to_the_next_step_with_the_reason(
        reply: dict[str, object]) -> None:
    d = Driver(CFG)
    ask = ask_hook(d)
    out = d.send(e.WebhookAnswered("c1", ask.request_id, reply), at=T + 1)
    [decision] = steps(out, "webhook")
    assert decision.summary == "reply names no agent, number or known scheme: next step"
    shown = {k: str(v) if len(str(v)) <= 80 else str(v)[:79] + "…" for k, v in reply.items()}
    assert decision.details == {"reply": shown, "keys": len(reply)}
    assert queued(out)


def test_what_a_webhook_reply_puts_in_the_call_history_is_bounded() -> None:
    """A 64 KiB reply must not land whole in the Decisions (the call's history, B1): an
    agent name is cut to 80 characters, an unusable reply shows 10 of its keys."""
    d = Driver(CFG)
    ask = ask_hook(d)
    out = d.send(e.WebhookAnswered("c1", ask.request_id, {"agent": "9" * 60_000}), at=T + 1)
    [decision] = steps(out, "webhook")
    assert decision.summary == "9" * 79 + "…: unknown agent: next step"
    assert decision.skipped == (("9" * 79 + "…", "unknown agent"),)
    d = Driver(CFG)
    ask = ask_hook(d)
    reply = {f"k{n}": "v" for n in range(5_000)}
    out = d.send(e.WebhookAnswered("c1", ask.request_id, reply), at=T + 1)
    [decision] = steps(out, "webhook")
    assert decision.details == {"reply": {f"k{n}": "v" for n in range(10)}, "keys": 5_000}
