"""The Call-ID of an agent's leg is ``word ["@" word]`` (RFC 3261 §25.1) whatever the
caller's was: a phone that parses it by the grammar (belle-sip, so every Linphone) answers
with the Call-ID it read, and that answer must still find the leg."""

from __future__ import annotations

import asyncio
import re

from switchboard.sip.build import make_response

from .test_sip_app_hold_overload import PHONE, Harness, in_dialog, invite, register_201, sdp
from .test_sip_app_races import leg_to

# RFC 3261 §25.1: word = 1*(alphanum / "-" / "." / "!" / "%" / "*" / "_" / "+" / "`" / "'" /
# "~" / "(" / ")" / "<" / ">" / ":" / "\" / DQUOTE / "/" / "[" / "]" / "?" / "{" / "}")
_WORD = r"""[A-Za-z0-9\-.!%*_+`'~()<>:\\"/\[\]?{}]+"""
CALL_ID = re.compile(rf"{_WORD}(?:@{_WORD})?")

CALLER_CALL_ID = "1-4242@192.0.2.7"  # as SIPp, baresip and most phones make them


def test_an_agent_leg_of_a_caller_whose_call_id_has_an_at_sign_has_a_valid_call_id() -> None:
    async def scenario() -> None:
        h = Harness(", music: null")
        await register_201(h)
        call = invite("c1", body=sdp(40002)).replace(
            b"Call-ID: c1\r\n", f"Call-ID: {CALLER_CALL_ID}\r\n".encode())
        await h.receive(call)
        tag = h.final(CALLER_CALL_ID).to.tag or ""
        await h.receive(in_dialog("ACK", "c1", 1, tag).replace(
            b"Call-ID: c1\r\n", f"Call-ID: {CALLER_CALL_ID}\r\n".encode()))
        leg = leg_to(h, "201")
        assert CALL_ID.fullmatch(leg.call_id), leg.call_id

        # The phone answers with the Call-ID as the grammar reads it: up to a second "@".
        as_read = "@".join(leg.call_id.split("@")[:2])
        answer = make_response(leg, 200, to_tag="p1", headers=[
            ("Contact", "<sip:201@127.0.0.1:5070>"), ("Content-Type", "application/sdp")],
            body=sdp(50070).encode()).serialize().replace(
            f"Call-ID: {leg.call_id}\r\n".encode(), f"Call-ID: {as_read}\r\n".encode())
        h.app.datagram_received(answer, PHONE)
        await h.settle()
        assert [a.call_id for a in h.requests("ACK")] == [leg.call_id], "the 200 is acknowledged"
        assert [x[1] for x in h.media.log if x[0] == "bridge"] == [CALLER_CALL_ID]
        assert h.app.core.agents["201"].state == "talking"
        await h.app.close()

    asyncio.run(scenario())
