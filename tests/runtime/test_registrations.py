"""Registrations as the B2BUA uses them: the phones it rings follow ``sip.max_contacts`` and
a phone's move to a new contact."""

from __future__ import annotations

import asyncio

from .test_sip_app_hold_overload import CALLER, Harness, invite, sdp


def register(call_id: str, port: int, cseq: int = 1) -> bytes:
    return (f"REGISTER sip:127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:{port};"
            f"branch=z9hG4bK-{call_id}-{cseq}\r\nMax-Forwards: 70\r\n"
            f"From: <sip:201@127.0.0.1>;tag=r\r\nTo: <sip:201@127.0.0.1>\r\n"
            f"Call-ID: {call_id}\r\nCSeq: {cseq} REGISTER\r\n"
            f"Contact: <sip:201@127.0.0.1:{port}>\r\nExpires: 600\r\n"
            f"Content-Length: 0\r\n\r\n").encode()


def rung_ports(h: Harness) -> list[int]:
    return sorted(s.dest[1] for s in h.sent
                  if getattr(s.message, "method", None) == "INVITE" and s.dest != CALLER)


def test_past_max_contacts_the_oldest_phone_is_no_longer_rung() -> None:
    async def scenario() -> None:
        h = Harness(sip="sip: {max_contacts: 2}\n", extra=", music: null")
        for n, port in enumerate((5070, 5072, 5074)):
            await h.receive(register(f"phone-{n}", port), ("127.0.0.1", port))
            await asyncio.sleep(0.01)  # each later one expires later
        await h.receive(invite("c1", body=sdp(40002)))
        assert rung_ports(h) == [5072, 5074]

    asyncio.run(scenario())


def test_a_phone_that_moved_is_rung_only_where_it_is_now() -> None:
    async def scenario() -> None:
        h = Harness(extra=", music: null")
        await h.receive(register("phone", 5070), ("127.0.0.1", 5070))
        await h.receive(register("phone", 5080, cseq=2), ("127.0.0.1", 5080))
        await h.receive(invite("c1", body=sdp(40002)))
        assert rung_ports(h) == [5080]

    asyncio.run(scenario())
