"""Qualify in the B2BUA (``sip.qualify_frequency``): OPTIONS to the registered phones; one
that does not answer is not rung, and an agent with no answering phone is offline. Rounds
are started by hand here (``_qualify``); the end-to-end test waits for the real ones."""

from __future__ import annotations

import asyncio

import pytest

from switchboard.sip.build import make_response
from switchboard.sip.message import Request

from .test_sip_app_hold_overload import (
    BASE,
    PHONE,
    Harness,
    in_dialog,
    invite,
    register_201,
    sdp,
)
from .test_sip_app_races import PHONE_2

BASE_TEXT = BASE % ""
QUALIFY = "sip: {qualify_frequency: 30, qualify_timeout: 0.2}\n"


def options(h: Harness, since: int = 0) -> list[tuple[Request, tuple[str, int]]]:
    return [(s.message, s.dest) for s in h.sent[since:]
            if isinstance(s.message, Request) and s.message.method == "OPTIONS"]


def invites_to(h: Harness, agent: str, since: int = 0) -> list[Request]:
    return [s.message for s in h.sent[since:] if isinstance(s.message, Request)
            and s.message.method == "INVITE" and s.message.uri.user == agent]


def test_no_rounds_unless_configured() -> None:
    async def scenario() -> None:
        h = Harness(", music: null")
        assert h.app.qualify_timer is None
        await h.app.close()

    asyncio.run(scenario())


def test_a_phone_that_does_not_answer_is_not_rung_until_it_answers_again() -> None:
    async def scenario() -> None:
        h = Harness(", music: null", QUALIFY)
        assert h.app.qualify_timer is not None
        await register_201(h)
        h.app._qualify()
        ((probe, dest),) = options(h)
        assert dest == PHONE and str(probe.uri) == "sip:201@127.0.0.1:5070"
        assert probe.to.uri == probe.uri and probe.from_.tag
        await asyncio.sleep(0.3)  # past qualify_timeout, no answer
        assert h.app.core.agents["201"].registered is False
        mark = len(h.sent)
        await h.receive(invite("c1", body=sdp(40002)))
        await h.receive(in_dialog("ACK", "c1", 1, h.final("c1").to.tag or ""))
        assert invites_to(h, "201", mark) == [], "the silent phone is not rung"
        # A late answer to the same OPTIONS (its transaction still runs): 201 is back, and
        # the waiting caller rings it.
        h.app.datagram_received(make_response(probe, 200, to_tag="p").serialize(), PHONE)
        await h.settle()
        assert h.app.core.agents["201"].registered is True
        assert len(invites_to(h, "201", mark)) == 1
        assert not h.app.probes
        await h.app.close()

    asyncio.run(scenario())


def test_any_answer_counts_and_a_pending_probe_is_not_sent_twice() -> None:
    async def scenario() -> None:
        h = Harness(", music: null", QUALIFY)
        await register_201(h)
        h.app._qualify()
        h.app._qualify()  # the first is still in flight: no second OPTIONS
        ((probe, _),) = options(h)
        # 405 from a phone that does not do OPTIONS: it is there all the same.
        h.app.datagram_received(make_response(probe, 405, to_tag="p").serialize(), PHONE)
        await asyncio.sleep(0.3)
        assert h.app.core.agents["201"].registered is True and not h.app.probes
        mark = len(h.sent)
        h.app._qualify()
        assert len(options(h, mark)) == 1, "answered: the next round asks again"
        await h.app.close()

    asyncio.run(scenario())


async def register_phone(h: Harness, phone: tuple[str, int], call_id: str) -> None:
    """Agent 201 registers one more phone (its own Call-ID: a second device)."""
    await h.receive((
        f"REGISTER sip:127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:{phone[1]};"
        f"branch=z9hG4bK-{call_id}\r\nMax-Forwards: 70\r\nFrom: <sip:201@127.0.0.1>;tag=r\r\n"
        f"To: <sip:201@127.0.0.1>\r\nCall-ID: {call_id}\r\nCSeq: 1 REGISTER\r\n"
        f"Contact: <sip:201@127.0.0.1:{phone[1]}>\r\nExpires: 600\r\n"
        f"Content-Length: 0\r\n\r\n").encode(), phone)


def test_an_agent_with_one_silent_phone_of_two_is_rung_on_the_other_only() -> None:
    async def scenario() -> None:
        h = Harness(", music: null", QUALIFY)
        await register_phone(h, PHONE, "desk")
        await register_phone(h, PHONE_2, "laptop")
        h.app._qualify()
        probes = options(h)
        assert sorted(dest for _, dest in probes) == sorted([PHONE, PHONE_2])
        desk = next(probe for probe, dest in probes if dest == PHONE)
        h.app.datagram_received(make_response(desk, 200, to_tag="d").serialize(), PHONE)
        await asyncio.sleep(0.3)  # the laptop said nothing
        assert h.app.core.agents["201"].registered is True, "the desk phone answers"
        mark = len(h.sent)
        await h.receive(invite("c1", body=sdp(40002)))
        rung = [s.dest for s in h.sent[mark:]
                if isinstance(s.message, Request) and s.message.method == "INVITE"]
        assert rung == [PHONE], "only the phone that answers rings"
        await h.app.close()

    asyncio.run(scenario())


def test_a_timeout_not_shorter_than_the_frequency_is_refused_with_the_line() -> None:
    from switchboard.config.loader import ConfigError, load_config_text

    text = BASE_TEXT + "sip: {qualify_frequency: 10, qualify_timeout: 12}\n"
    with pytest.raises(ConfigError, match=r"x\.yaml:\d+: sip: qualify_timeout 12 must be "
                                          r"shorter than qualify_frequency 10"):
        load_config_text(text, "x.yaml")
