"""Hold time in the call record: the runtime reports a bridged call going on and off hold
(``CallHeld``, from either party's re-INVITE); the core adds up the time for CallFinished.
The talk time still runs from the answer to the end, hold included (a CDR's billsec)."""

from __future__ import annotations

from switchboard.core import commands as c
from switchboard.core import events as e

from .harness import Driver, config, kinds, one
from .test_queue import BASE


def bridged() -> tuple[Driver, str]:
    d = Driver(config(BASE % ("ring_all", "    music: null\n")))
    ring = one(c.Ring, d.arrive("c1"))
    d.now += 5
    leg = ring.legs[0].leg_id
    d.send(e.LegAnswered(leg))
    return d, leg


def test_hold_time_is_added_up_over_holds_and_reported_with_the_call() -> None:
    d, leg = bridged()
    answered = d.now
    assert kinds(d.send(e.CallHeld("c1", True), at=answered + 10)) == []  # nothing to do
    d.send(e.CallHeld("c1", True), at=answered + 12)  # the other party holds too: once
    d.send(e.CallHeld("c1", False), at=answered + 40)
    d.send(e.CallHeld("c1", False), at=answered + 41)  # a second unhold changes nothing
    d.send(e.CallHeld("c1", True), at=answered + 60)
    d.send(e.CallHeld("c1", False), at=answered + 65)
    out = d.send(e.LegHungUp(leg), at=answered + 90)
    record = one(c.CallFinished, out)
    assert record.hold == 35.0
    assert record.talk == 90.0
    assert record.wait == 5.0


def test_a_call_that_ends_on_hold_counts_the_hold_until_the_end() -> None:
    d, _ = bridged()
    d.send(e.CallHeld("c1", True), at=d.now + 20)
    out = d.send(e.CallerHungUp("c1"), at=d.now + 7)
    assert one(c.CallFinished, out).hold == 7.0


def test_hold_reports_for_calls_not_bridged_or_unknown_are_ignored() -> None:
    d = Driver(config(BASE % ("ring_all", "    music: null\n")))
    d.arrive("c1")  # ringing an agent, not bridged
    assert d.send(e.CallHeld("c1", True)) == []
    assert d.send(e.CallHeld("nobody", True)) == []
    d.send(e.CallHeld("c1", False), at=d.now + 30)
    out = d.send(e.CallerHungUp("c1"), at=d.now + 10)
    assert one(c.CallFinished, out).hold == 0.0
