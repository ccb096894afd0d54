"""The one loop timer behind all SIP transactions (``SipApp._arm_txn_timer``), on asyncio's
loop and on uvloop (which ``switchboard run`` uses when it is installed)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from typing import Any

import pytest
import uvloop

from switchboard.sip.message import Request, parse
from tests.runtime.test_sip_app_hold_overload import PHONE, Harness

LOOPS: dict[str, Callable[[Coroutine[Any, Any, None]], None]] = {
    "asyncio": asyncio.run,
    "uvloop": uvloop.run,
}


def options(branch: str) -> Request:
    message = parse(
        f"OPTIONS sip:201@127.0.0.1:5070 SIP/2.0\r\n"
        f"Via: SIP/2.0/UDP 127.0.0.1:5060;branch=z9hG4bK-{branch}\r\nMax-Forwards: 70\r\n"
        f"From: <sip:switchboard@127.0.0.1>;tag=t-{branch}\r\nTo: <sip:201@127.0.0.1>\r\n"
        f"Call-ID: {branch}@127.0.0.1\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n".encode()
    )
    assert isinstance(message, Request)
    return message


def sent_options(h: Harness, branch: str) -> int:
    return sum(isinstance(s.message, Request) and s.message.via.branch == f"z9hG4bK-{branch}"
               for s in h.sent)


@pytest.mark.parametrize("loop", sorted(LOOPS))
def test_a_deadline_already_past_fires_at_once_and_later_ones_keep_the_timer(loop: str) -> None:
    async def scenario() -> None:
        h = Harness(", music: null")
        app, now = h.app, h.app.loop.time()
        app.txl.send_request(options("late"), PHONE, "UDP", now - 10)  # timer E long past
        app._pump()
        assert sent_options(h, "late") == 1
        armed = app._txn_timer
        assert armed is not None  # uvloop: a plain Handle (call_at in the past)
        app.txl.send_request(options("later"), PHONE, "UDP", now)  # its timer E: now + 0.5
        app._pump()
        assert app._txn_timer is armed, "a later deadline keeps the timer already armed"
        await h.settle()
        assert sent_options(h, "late") == 2, "retransmitted at once"
        assert app._txn_timer is not None and app._txn_timer is not armed
        await asyncio.sleep(0.6)
        assert sent_options(h, "later") == 2, "retransmitted on timer E, T1 later"
        await app.close()

    LOOPS[loop](scenario())
