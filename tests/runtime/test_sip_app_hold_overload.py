"""The B2BUA without sockets: SIP messages in as bytes, what it sends and asks of the media
engine out. Overload shedding (new INVITEs get 503, calls in progress are served) and hold by
re-INVITE (the answer's direction, unbridge + hold music, then the bridge again)."""

from __future__ import annotations

import asyncio
import os
import random
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import switchboard
from switchboard.runtime.sip_app import SipApp
from switchboard.sip.build import make_response
from switchboard.sip.message import Request, Response, parse
from switchboard.sip.sdp import parse_sdp
from switchboard.sip.transaction import Send
from tests.core.harness import config

ADVERT = Path(switchboard.__file__).parent / "prompts" / "en" / "advert.wav"
CALLER = ("127.0.0.1", 40000)
PHONE = ("127.0.0.1", 5070)
BASE = """
numbers: [{number: "100", scheme: main}]
agents: [{id: "201"}]
schemes: {main: {rules: [{name: all, steps: [{queue: q}]}]}}
trunks: [{name: t, host: 127.0.0.1, port: 5099, inbound_from: [127.0.0.1]}]
queues:
  q: {members: ["201"], wrapup: 0, whisper: {wait_time: false, number_name: false}%s}
"""


class FakeMedia:
    """A ``MediaEngine`` that records what it is asked."""

    def __init__(self) -> None:
        self.log: list[tuple[Any, ...]] = []
        self.port = 30000
        self.heard: dict[str, int] = {}  # packets "received" per leg; others: unknown

    async def received(self, leg_id: str) -> int | None:
        return self.heard.get(leg_id)

    async def allocate(self, leg_id: str, *, call: str | None = None) -> tuple[str, int]:
        self.port += 2
        return "127.0.0.1", self.port

    async def set_remote(self, leg_id: str, ip: str, port: int, payload_type: int, *,
                         telephone_event_pt: int | None = 101) -> None:
        self.log.append(("set_remote", leg_id, ip, port))

    async def bridge(self, a: str, b: str) -> None:
        self.log.append(("bridge", a, b))

    async def unbridge(self, leg_id: str) -> None:
        self.log.append(("unbridge", leg_id))

    async def release(self, leg_id: str) -> None:
        self.log.append(("release", leg_id))

    async def play(self, leg_id: str, files: Sequence[str | os.PathLike[str]], *,
                   loop: bool = False, play_id: int = 0) -> None:
        self.log.append(("play", leg_id, tuple(Path(f).stem for f in files), loop))

    async def stop(self, leg_id: str) -> None:
        self.log.append(("stop", leg_id))

    async def record(self, leg_id: str, path: Path, **kwargs: Any) -> None:
        self.log.append(("record", leg_id))

    async def stop_recording(self, leg_id: str, kind: Any = None) -> None:
        pass

    async def close(self) -> None:
        pass

    def since(self, mark: int) -> list[tuple[Any, ...]]:
        return [x for x in self.log[mark:] if x[0] != "set_remote"]


def sdp(port: int, direction: str = "sendrecv", ip: str = "127.0.0.1", version: int = 1) -> str:
    return (f"v=0\r\no=peer 1 {version} IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 {ip}\r\nt=0 0\r\n"
            f"m=audio {port} RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\na={direction}\r\n")


def invite(call_id: str, cseq: int = 1, body: str = "", to_tag: str = "",
           branch: str = "") -> bytes:
    to = "<sip:100@127.0.0.1>" + (f";tag={to_tag}" if to_tag else "")
    return (f"INVITE sip:100@127.0.0.1 SIP/2.0\r\n"
            f"Via: SIP/2.0/UDP 127.0.0.1:40000;branch=z9hG4bK-{branch or call_id}-{cseq}\r\n"
            f"Max-Forwards: 70\r\nFrom: <sip:+380671112233@127.0.0.1>;tag=c-{call_id}\r\n"
            f"To: {to}\r\nCall-ID: {call_id}\r\nCSeq: {cseq} INVITE\r\n"
            f"Contact: <sip:caller@127.0.0.1:40000>\r\nContent-Type: application/sdp\r\n"
            f"Content-Length: {len(body)}\r\n\r\n{body}").encode()


def in_dialog(method: str, call_id: str, cseq: int, to_tag: str) -> bytes:
    return (f"{method} sip:switchboard@127.0.0.1:5060 SIP/2.0\r\n"
            f"Via: SIP/2.0/UDP 127.0.0.1:40000;branch=z9hG4bK-{call_id}-{method}{cseq}\r\n"
            f"Max-Forwards: 70\r\nFrom: <sip:+380671112233@127.0.0.1>;tag=c-{call_id}\r\n"
            f"To: <sip:100@127.0.0.1>;tag={to_tag}\r\nCall-ID: {call_id}\r\n"
            f"CSeq: {cseq} {method}\r\nContent-Length: 0\r\n\r\n").encode()


class Harness:
    """The app on ``BASE`` (``extra``: more options of queue q; ``sip``: more sections;
    ``steps``: the scheme's steps), or on the whole config ``text``, with ``media`` (a
    ``FakeMedia`` by default)."""

    def __init__(self, extra: str = "", sip: str = "", *, steps: str = "{queue: q}",
                 media: FakeMedia | None = None, text: str | None = None) -> None:
        base = BASE.replace("steps: [{queue: q}]", f"steps: [{steps}]")
        self.cfg = config(text if text is not None else base % extra + sip)
        self.media = media if media is not None else FakeMedia()
        self.sent: list[Send] = []
        self.app = SipApp(self.cfg, self.media, "127.0.0.1", 5060, random.Random(1),
                          asyncio.get_running_loop(), self.sent.append)

    async def settle(self) -> None:
        for _ in range(20):
            await asyncio.sleep(0)

    async def receive(self, data: bytes, source: tuple[str, int] = CALLER) -> None:
        self.app.datagram_received(data, source)
        await self.settle()

    def responses(self, call_id: str, method: str = "INVITE") -> list[Response]:
        return [s.message for s in self.sent if isinstance(s.message, Response)
                and s.message.call_id == call_id and s.message.cseq.method == method]

    def final(self, call_id: str, method: str = "INVITE", cseq: int | None = None) -> Response:
        finals = [r for r in self.responses(call_id, method)
                  if r.status >= 200 and (cseq is None or r.cseq.seq == cseq)]
        assert finals, f"no final answer to {method} {call_id}: {self.sent}"
        return finals[-1]

    def requests(self, method: str) -> list[Request]:
        return [s.message for s in self.sent
                if isinstance(s.message, Request) and s.message.method == method]


def direction(response: Response) -> str:
    answer = parse_sdp(response.body)
    assert answer.audio is not None
    return answer.direction_of(answer.audio).value


def test_over_max_calls_new_invites_get_503_while_the_call_in_progress_is_served() -> None:
    async def scenario() -> None:
        h = Harness(", music: null", "sip: {max_calls: 1, overload_retry_after: 9}\n")
        await h.receive(invite("c1", body=sdp(40002)))
        ok = h.final("c1")
        assert ok.status == 200 and h.app.setting_up == {"c1"}
        await h.receive(in_dialog("ACK", "c1", 1, ok.to.tag or ""))
        assert h.app.setting_up == set()
        await h.receive(invite("c2", body=sdp(40004)))
        shed = h.final("c2")
        assert (shed.status, shed.headers.get("Retry-After")) == (503, "9")
        assert "c2" not in h.app.core.calls and "c2" not in h.app.dialogs
        # The call in progress is not shed: its re-INVITE and its BYE are answered.
        await h.receive(invite("c1", 2, sdp(40002, "sendonly", version=2), ok.to.tag or ""))
        assert h.final("c1", cseq=2).status == 200
        await h.receive(in_dialog("BYE", "c1", 3, ok.to.tag or ""))
        assert h.final("c1", "BYE").status == 200
        await h.receive(invite("c3", body=sdp(40006)))
        assert h.final("c3").status == 200, "the call ended: room for a new one"
        assert (h.app.overload.total_shed, h.app.overload.admitted) == (1, 2)
        await h.app.close()

    asyncio.run(scenario())


def test_calls_in_setup_count_until_the_ack_and_a_slow_loop_sheds_too() -> None:
    async def scenario() -> None:
        h = Harness(sip="sip: {max_calls_in_setup: 1, max_loop_lag: 0.2}\n")
        await h.receive(invite("c1", body=sdp(40002)))
        await h.receive(invite("c2", body=sdp(40004)))
        assert h.final("c2").status == 503, "c1 is not acknowledged yet"
        await h.receive(in_dialog("ACK", "c1", 1, h.final("c1").to.tag or ""))
        time_now = asyncio.get_running_loop().time()
        h.app.lag.next_tick(time_now - 0.5)  # as if the loop had been busy for 0.45 s
        await h.receive(invite("c3", body=sdp(40006)))
        assert h.final("c3").status == 503
        assert dict(h.app.overload.shed) == {"setup": 1, "lag": 1}
        await h.app.close()

    asyncio.run(scenario())


async def register_201(h: Harness) -> None:
    """Agent 201's phone registers from PHONE."""
    register = (b"REGISTER sip:127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:5070;"
                b"branch=z9hG4bK-reg\r\nMax-Forwards: 70\r\nFrom: <sip:201@127.0.0.1>;tag=r\r\n"
                b"To: <sip:201@127.0.0.1>\r\nCall-ID: reg-201\r\nCSeq: 1 REGISTER\r\n"
                b"Contact: <sip:201@127.0.0.1:5070>\r\nExpires: 600\r\n"
                b"Content-Length: 0\r\n\r\n")
    await h.receive(register, PHONE)


async def bridged(h: Harness, bridge: str = "bridge") -> tuple[str, str, str]:
    """Register 201 at PHONE, call in, the phone answers: (caller to-tag, leg, leg Call-ID).
    ``bridge``: what the media engine logged for the bridge that follows."""
    await register_201(h)
    await h.receive(invite("c1", body=sdp(40002)))
    to_tag = h.final("c1").to.tag or ""
    await h.receive(in_dialog("ACK", "c1", 1, to_tag))
    leg_invite = h.requests("INVITE")[-1]
    answer = make_response(leg_invite, 200, to_tag="phone",
                           headers=[("Contact", "<sip:201@127.0.0.1:5070>"),
                                    ("Content-Type", "application/sdp")],
                           body=sdp(50000).encode())
    raw = answer.serialize()
    await h.receive(raw, PHONE)
    bridges = [x for x in h.media.log if x[0] == bridge]
    assert len(bridges) == 1 and bridges[0][1] == "c1", h.media.log
    return to_tag, bridges[0][2], leg_invite.call_id


def test_the_caller_holds_the_agent_hears_the_queue_music_then_the_bridge_is_back() -> None:
    async def scenario() -> None:
        h = Harness(", music: jazz", f"prompts: {{jazz: {ADVERT}}}\n")
        to_tag, leg, _ = await bridged(h)
        mark = len(h.media.log)
        await h.receive(invite("c1", 2, sdp(40002, "sendonly", version=2), to_tag))
        held = h.final("c1", cseq=2)
        assert held.status == 200 and direction(held) == "recvonly"
        assert parse_sdp(held.body).origin.session_version == 1, "0 + 1: the answer changed"
        assert h.media.since(mark) == [("unbridge", "c1"), ("play", leg, ("advert",), True)]
        mark = len(h.media.log)
        await h.receive(invite("c1", 3, sdp(40002, "sendrecv", version=3), to_tag))
        resumed = h.final("c1", cseq=3)
        assert direction(resumed) == "sendrecv"
        assert h.media.since(mark) == [("stop", leg), ("bridge", "c1", leg)]
        # A refresh with the same offer changes nothing: same SDP, same version, no media.
        mark = len(h.media.log)
        await h.receive(invite("c1", 4, sdp(40002, "sendrecv", version=3), to_tag))
        assert h.final("c1", cseq=4).body == resumed.body and h.media.since(mark) == []
        await h.app.close()

    asyncio.run(scenario())


def test_the_agent_holds_with_c0_the_caller_of_a_silent_queue_hears_the_default_music() -> None:
    async def scenario() -> None:
        h = Harness(", music: null")
        to_tag, leg, leg_call = await bridged(h)
        leg_invite = h.requests("INVITE")[-1]
        ours = leg_invite.headers.get("From")
        mark = len(h.media.log)

        def reinvite(cseq: int, body: str) -> bytes:
            return (f"INVITE sip:switchboard@127.0.0.1:5060 SIP/2.0\r\n"
                    f"Via: SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bK-agent{cseq}\r\n"
                    f"Max-Forwards: 70\r\nFrom: <sip:201@127.0.0.1:5070>;tag=phone\r\n"
                    f"To: {ours}\r\nCall-ID: {leg_call}\r\nCSeq: {cseq} INVITE\r\n"
                    f"Contact: <sip:201@127.0.0.1:5070>\r\nContent-Type: application/sdp\r\n"
                    f"Content-Length: {len(body)}\r\n\r\n{body}").encode()

        await h.receive(reinvite(1, sdp(50000, "sendrecv", ip="0.0.0.0", version=2)), PHONE)
        held = h.final(leg_call, cseq=1)
        assert held.status == 200 and direction(held) == "recvonly"
        assert h.media.since(mark) == [("unbridge", leg),
                                       ("play", "c1", ("music_on_hold",), True)]
        # The caller holds too: nobody hears music; the agent resumes: the agent does.
        mark = len(h.media.log)
        await h.receive(invite("c1", 2, sdp(40002, "inactive", version=2), to_tag))
        assert direction(h.final("c1", cseq=2)) == "inactive"
        assert h.media.since(mark) == [("unbridge", "c1"), ("stop", "c1")]
        mark = len(h.media.log)
        await h.receive(reinvite(2, sdp(50000, "sendrecv", version=3)), PHONE)
        assert h.media.since(mark) == [("unbridge", leg),
                                       ("play", leg, ("music_on_hold",), True)]
        mark = len(h.media.log)
        await h.receive(invite("c1", 3, sdp(40002, "sendrecv", version=3), to_tag))
        assert h.media.since(mark) == [("stop", leg), ("bridge", "c1", leg)]
        await h.app.close()

    asyncio.run(scenario())


def test_a_reinvite_with_an_unacceptable_offer_gets_488_and_changes_nothing() -> None:
    async def scenario() -> None:
        h = Harness(", music: null")
        await h.receive(invite("c1", body=sdp(40002)))
        ok = h.final("c1")
        await h.receive(in_dialog("ACK", "c1", 1, ok.to.tag or ""))
        g729 = sdp(40002).replace("RTP/AVP 0", "RTP/AVP 18").replace("0 PCMU", "18 G729")
        await h.receive(invite("c1", 2, g729, ok.to.tag or ""))
        assert h.final("c1", cseq=2).status == 488
        await h.receive(invite("c1", 3, "", ok.to.tag or ""))
        again = h.final("c1", cseq=3)
        assert again.status == 200 and again.body == ok.body, "no offer: our session again"
        await h.app.close()

    asyncio.run(scenario())


def test_a_missing_music_file_neither_stops_the_worker_nor_the_calls() -> None:
    """A configured prompt file that is gone (``PromptNotFound``, a LookupError) is logged
    and skipped; the worker goes on carrying out commands: the agent is still bridged."""
    async def scenario() -> None:
        h = Harness(", music: jazz", "prompts: {jazz: /nonexistent/jazz.wav}\n")
        assert parse(invite("x", body=sdp(1000))).call_id == "x"  # the helper is valid SIP
        to_tag, leg, _ = await bridged(h)
        assert not h.app.worker.done()
        mark = len(h.media.log)
        await h.receive(invite("c1", 2, sdp(40002, "sendonly", version=2), to_tag))
        assert h.media.since(mark) == [("unbridge", "c1")], "no music to play: silence"
        await h.receive(invite("c1", 3, sdp(40002, "sendrecv", version=3), to_tag))
        assert h.media.since(mark)[-2:] == [("stop", leg), ("bridge", "c1", leg)]
        assert not h.app.worker.done()
        await h.app.close()

    asyncio.run(scenario())
