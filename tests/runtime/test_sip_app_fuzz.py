"""A stateful fuzz of the B2BUA without sockets, and the sequences it found, as exact tests.

``Sim`` runs a ``SipApp`` on an event loop whose clock is virtual: time moves only when a
test says so, timer by timer, so 64*T1 or a wrap-up passes in no real time and a run is the
same every time. A trunk caller and the agents' phones are played by the test from the
messages the app really sent (their branches, tags and CSeqs). ``SipAppMachine`` lets
hypothesis mix their moves (INVITE, retransmissions, CANCEL, ACK, BYE with good and bad
tags and CSeqs, hold, answers, refusals, forks, REGISTER, time) and checks after each one
that nothing failed inside the app and that no request got two different final answers;
at the end every party hangs up as a well-behaved one does, time runs past every timer,
and nothing may be left: no dialog, transaction, call, leg, busy agent or media.
"""

from __future__ import annotations

import asyncio
import dataclasses
import itertools
import logging
import os
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
)

from switchboard.media.engine import MediaEvent, PlayFinished
from switchboard.runtime.sip_app import SipApp
from switchboard.sip.build import make_response
from switchboard.sip.message import Request, Response
from switchboard.sip.transaction import Send, client_key
from tests.core.harness import MONDAY_10, config

from .test_sip_app_hold_overload import FakeMedia, sdp

CALLER = ("127.0.0.1", 40000)
#: The agents' phones (201 has a desk phone and a softphone), and the two trunks' gateways.
PHONES: dict[tuple[str, int], str] = {
    ("127.0.0.1", 5070): "201", ("127.0.0.1", 5072): "201",
    ("127.0.0.1", 5071): "202", ("127.0.0.1", 5073): "203",
}
GATEWAYS: dict[tuple[str, int], str] = {("127.0.0.1", 5098): "gw1", ("127.0.0.1", 5099): "gw2"}
PEERS = {**PHONES, **GATEWAYS}
CONFIG = config("""
numbers:
  - {number: "100", scheme: queue}
  - {number: "101", scheme: ring}
  - {number: "102", scheme: linear}
  - {number: "103", scheme: greeting}
  - {number: "104", scheme: mobile}
agents: [{id: "201"}, {id: "202"}, {id: "203"}]
schemes:
  queue: {rules: [{name: all, steps: [{queue: q}]}]}
  ring: {rules: [{name: all, steps: [{ring: {agents: ["201", "202"], timeout: 6}}]}]}
  linear: {rules: [{name: all, steps: [
    {ring: {agents: ["203", "201"], timeout: 3, strategy: linear}}]}]}
  greeting: {rules: [{name: all, steps: [{play: greeting}, {queue: w}]}]}
  mobile: {rules: [{name: all, steps: [{ring: {numbers: ["+380501112233"], timeout: 8}}]}]}
trunks:
  - {name: first, host: 127.0.0.1, port: 5098, inbound_from: [127.0.0.1]}
  - {name: second, host: 127.0.0.1, port: 5099}
queues:
  q: {members: ["201", "202", "203"], strategy: ring_all, ring_timeout: 4, retry: 1,
      wrapup: 2, max_wait: 20, music: null, whisper: {wait_time: false, number_name: false}}
  w: {members: ["202", "203", "201"], strategy: linear, ring_timeout: 3, retry: 1, wrapup: 1}
sip: {max_loop_lag: null, max_calls: 4}
""")
T1 = 0.5
G729 = sdp(40002).replace("RTP/AVP 0", "RTP/AVP 18").replace("0 PCMU", "18 G729")


class VirtualClockLoop(asyncio.SelectorEventLoop):
    """An event loop whose clock moves only by ``Sim.advance``."""

    def __init__(self) -> None:
        super().__init__()
        self.now = 1000.0

    def time(self) -> float:
        return self.now

    def next_timer(self) -> float | None:
        live = [h.when() for h in self._scheduled if not h.cancelled()]  # type: ignore[attr-defined]
        return min(live) if live else None


class RecordingMedia(FakeMedia):
    """A fake media engine that also records allocations, may take (virtual) time for each
    operation, as rtpengine over the network does, and reports the end of a play."""

    PLAY_SECONDS = 0.4

    def __init__(self, latency: float = 0.0) -> None:
        super().__init__()
        self.latency = latency
        self.report: Callable[[MediaEvent], None] | None = None
        self.playing: dict[str, int] = {}  # leg -> the play that will report its end

    async def wait(self) -> None:
        if self.latency:
            await asyncio.sleep(self.latency)

    async def allocate(self, leg_id: str, *, call: str | None = None) -> tuple[str, int]:
        await self.wait()
        self.log.append(("allocate", leg_id))
        return await super().allocate(leg_id, call=call)

    async def bridge(self, a: str, b: str) -> None:
        await self.wait()
        await super().bridge(a, b)

    async def release(self, leg_id: str) -> None:
        self.playing.pop(leg_id, None)
        await self.wait()
        await super().release(leg_id)

    async def stop(self, leg_id: str) -> None:
        self.playing.pop(leg_id, None)
        await super().stop(leg_id)

    async def play(self, leg_id: str, files: Sequence[str | os.PathLike[str]], *,
                   loop: bool = False, play_id: int = 0) -> None:
        await self.wait()
        await super().play(leg_id, files, loop=loop, play_id=play_id)
        self.playing.pop(leg_id, None)
        if loop or self.report is None:
            return
        self.playing[leg_id] = play_id
        asyncio.get_running_loop().call_later(self.PLAY_SECONDS, self._finished, leg_id,
                                              play_id)

    def _finished(self, leg_id: str, play_id: int) -> None:
        if self.playing.get(leg_id) == play_id and self.report is not None:
            del self.playing[leg_id]
            self.report(PlayFinished(leg_id, play_id))

    def leaked(self) -> list[str]:
        """Channels whose last allocation was not released."""
        last: dict[str, str] = {}
        for entry in self.log:
            if entry[0] in ("allocate", "release"):
                last[entry[1]] = entry[0]
        return sorted(ch for ch, op in last.items() if op == "allocate")


class Failures(logging.Handler):
    """Everything logged at ERROR (``log.exception`` in ``_pump`` or ``_work``: a bug)."""

    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.records: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(logging.Formatter("%(name)s: %(message)s").format(record))


@dataclass
class Call:
    """A trunk caller's call, as the caller sees it."""

    call_id: str
    number: str
    invite: bytes  # exactly as first sent: a retransmission is the same bytes
    branch: str  # the INVITE's
    cseq: int
    next_cseq: int
    sent_at: float  # when the INVITE was first sent: it is retransmitted until timer B
    cancelled: float | None = None  # when the caller first sent CANCEL
    acked: bool = False  # the caller ACKed the final answer to its INVITE
    bye: bool = False  # the caller sent BYE (or got ours)
    reinvites: list[tuple[str, int]] = field(default_factory=list)  # (branch, CSeq) to ACK


@dataclass
class Ring:
    """An INVITE the app sent to a phone, as the phone sees it."""

    request: Request
    phone: tuple[str, int]
    tag: str
    provisional: bool = False
    finals: list[int] = field(default_factory=list)
    answered_tags: list[str] = field(default_factory=list)  # 2xx sent, one per fork
    cancel: Request | None = None  # the app's CANCEL
    cancel_answered: bool = False
    bye: bool = False  # the phone sent BYE, or got ours
    next_cseq: int = 1


class Sim:
    """A ``SipApp`` on a virtual clock with a fake send and a recording media engine."""

    def __init__(self, latency: float = 0.0) -> None:
        self.loop = VirtualClockLoop()
        self.errors: list[str] = []
        self.loop.set_exception_handler(lambda _, ctx: self.errors.append(str(ctx)))
        self.failures = Failures()
        logging.getLogger().addHandler(self.failures)
        self.media = RecordingMedia(latency)
        self.sent: list[Send] = []
        self._branches = itertools.count(1)

        async def make() -> SipApp:
            return SipApp(CONFIG, self.media, "127.0.0.1", 5060, random.Random(1), self.loop,
                          self.sent.append)

        self.app = self.loop.run_until_complete(make())
        lag = self.app._lag_timer  # the loop's lag is not under test: no 50 ms ticks
        if lag is not None:
            lag.cancel()
            self.app._lag_timer = None
        self.app.driver.clock = lambda: MONDAY_10 - 1000.0 + self.loop.time()
        self.media.report = self.app.media_event  # as server.py wires the engine

    # ------------------------------------------------------------------ the loop

    def settle(self) -> None:
        async def spin() -> None:
            for _ in range(30):
                await asyncio.sleep(0)

        self.loop.run_until_complete(spin())

    def advance(self, seconds: float) -> None:
        """Let ``seconds`` pass, firing every timer due on the way at its own time."""
        target = self.loop.now + seconds
        for _ in range(100_000):
            self.settle()
            due = self.loop.next_timer()
            if due is None or due > target:
                break
            self.loop.now = max(self.loop.now, due)
        else:
            raise AssertionError("timers keep firing without time passing")
        self.loop.now = target
        self.settle()

    def deliver(self, data: bytes, source: tuple[str, int], settle: bool = True) -> None:
        self.app.datagram_received(data, source)
        if settle:
            self.settle()

    def close(self) -> None:
        logging.getLogger().removeHandler(self.failures)
        self.loop.run_until_complete(self.app.close())
        self.settle()
        self.loop.close()

    # ------------------------------------------------------------------ what it sent

    def responses(self, call_id: str, method: str, cseq: int) -> list[Response]:
        return [s.message for s in self.sent if isinstance(s.message, Response)
                and s.message.call_id == call_id and s.message.cseq.method == method
                and s.message.cseq.seq == cseq]

    def final(self, branch: str, method: str = "INVITE") -> Response | None:
        """The app's final answer to the request sent with ``branch``, if any yet."""
        for send in self.sent:
            message = send.message
            if (isinstance(message, Response) and message.status >= 200
                    and message.via.branch == branch and message.cseq.method == method):
                return message
        return None

    def requests(self, method: str, call_id: str | None = None) -> list[Request]:
        return [s.message for s in self.sent if isinstance(s.message, Request)
                and s.message.method == method
                and (call_id is None or s.message.call_id == call_id)]

    def branch(self, who: str) -> str:
        return f"z9hG4bK-{who}-{next(self._branches)}"


# ---------------------------------------------------------------------- the caller's messages


def caller_invite(call_id: str, number: str, cseq: int, body: str, branch: str,
                  to_tag: str = "") -> bytes:
    to = f"<sip:{number}@127.0.0.1>" + (f";tag={to_tag}" if to_tag else "")
    content = "Content-Type: application/sdp\r\n" if body else ""
    return (f"INVITE sip:{number}@127.0.0.1 SIP/2.0\r\n"
            f"Via: SIP/2.0/UDP 127.0.0.1:40000;branch={branch}\r\n"
            f"Max-Forwards: 70\r\nFrom: <sip:+380671112233@127.0.0.1>;tag=c-{call_id}\r\n"
            f"To: {to}\r\nCall-ID: {call_id}\r\nCSeq: {cseq} INVITE\r\n"
            f"Contact: <sip:caller@127.0.0.1:40000>\r\n{content}"
            f"Content-Length: {len(body)}\r\n\r\n{body}").encode()


def caller_request(method: str, call: Call, cseq: int, to_tag: str, branch: str) -> bytes:
    """An in-dialog request of the caller (or CANCEL / the ACK of an error: ``branch`` is then
    the INVITE's)."""
    uri = f"sip:{call.number}@127.0.0.1" if method == "CANCEL" or not to_tag else (
        "sip:switchboard@127.0.0.1:5060")
    to = f"<sip:{call.number}@127.0.0.1>" + (f";tag={to_tag}" if to_tag else "")
    return (f"{method} {uri} SIP/2.0\r\n"
            f"Via: SIP/2.0/UDP 127.0.0.1:40000;branch={branch}\r\n"
            f"Max-Forwards: 70\r\nFrom: <sip:+380671112233@127.0.0.1>;tag=c-{call.call_id}\r\n"
            f"To: {to}\r\nCall-ID: {call.call_id}\r\nCSeq: {cseq} {method}\r\n"
            f"Content-Length: 0\r\n\r\n").encode()


def phone_answer(ring: Ring, status: int, tag: str, with_sdp: bool = True) -> bytes:
    agent = PEERS[ring.phone]
    headers: list[tuple[str, object]] = [("Contact", f"<sip:{agent}@127.0.0.1:{ring.phone[1]}>")]
    body = b""
    if 200 <= status < 300 and with_sdp:
        headers.append(("Content-Type", "application/sdp"))
        body = sdp(50000 + ring.phone[1] % 100).encode()
    return make_response(ring.request, status, to_tag=tag, headers=headers,
                         body=body).serialize()


def phone_request(method: str, ring: Ring, tag: str, branch: str, body: str = "",
                  cseq: int | None = None) -> bytes:
    """A request of the phone in the dialog of ``ring`` answered with ``tag`` (with the
    phone's next CSeq unless ``cseq`` is given)."""
    agent, port = PEERS[ring.phone], ring.phone[1]
    if cseq is None:
        cseq = ring.next_cseq
        ring.next_cseq += 1
    content = "Content-Type: application/sdp\r\n" if body else ""
    return (f"{method} sip:switchboard@127.0.0.1:5060 SIP/2.0\r\n"
            f"Via: SIP/2.0/UDP 127.0.0.1:{port};branch={branch}\r\nMax-Forwards: 70\r\n"
            f"From: <sip:{agent}@127.0.0.1:{port}>;tag={tag}\r\n"
            f"To: {ring.request.headers.get('From')}\r\nCall-ID: {ring.request.call_id}\r\n"
            f"CSeq: {cseq} {method}\r\nContact: <sip:{agent}@127.0.0.1:{port}>\r\n{content}"
            f"Content-Length: {len(body)}\r\n\r\n{body}").encode()


def register(sim: Sim, phone: tuple[str, int], cseq: int, expires: int = 600) -> None:
    agent, port = PHONES[phone], phone[1]
    sim.deliver((
        f"REGISTER sip:127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:{port};"
        f"branch={sim.branch('reg')}\r\nMax-Forwards: 70\r\n"
        f"From: <sip:{agent}@127.0.0.1>;tag=r{port}\r\nTo: <sip:{agent}@127.0.0.1>\r\n"
        f"Call-ID: reg-{port}\r\nCSeq: {cseq} REGISTER\r\n"
        f"Contact: <sip:{agent}@127.0.0.1:{port}>\r\nExpires: {expires}\r\n"
        f"Content-Length: 0\r\n\r\n").encode(), phone)


# ---------------------------------------------------------------------- the parties


class Parties:
    """The trunk caller and the phones, playing from what the app sent; and the checks."""

    def __init__(self, sim: Sim) -> None:
        self.sim = sim
        self.calls: list[Call] = []
        self.rings: dict[str, Ring] = {}  # by Call-ID of the app's INVITE
        self.answered: set[int] = set()  # id() of the app's requests we answered
        self.seen = 0  # how much of sim.sent was read
        self.reg_cseq = dict.fromkeys(PHONES, 0)
        self.tags = itertools.count(1)
        self.finals: dict[tuple[str, str], set[tuple[int, str | None]]] = {}
        self.injected: list[tuple[str, str]] = []  # (branch, method) of every request sent
        self.ids = itertools.count(1)

    # -------------------------------------------------------------- reading what was sent

    def read(self) -> None:
        for send in self.sim.sent[self.seen:]:
            message = send.message
            if isinstance(message, Response):
                key = (message.via.branch or "", message.cseq.method)
                seen = self.finals.setdefault(key, set())
                if message.status >= 200:
                    seen.add((message.status, message.to.tag))
                    assert len(seen) == 1, f"two final answers to {key}: {seen}"
                else:
                    assert not seen, f"a provisional answer after the final one to {key}"
                continue
            if send.dest in PEERS:
                if message.method == "INVITE" and message.call_id not in self.rings:
                    self.rings[message.call_id] = Ring(message, send.dest,
                                                       f"p{next(self.tags)}")
                elif message.method == "CANCEL":
                    ring = self.rings[message.call_id]
                    assert ring.provisional, "a CANCEL before any provisional answer (§9.1)"
                    ring.cancel = message
                elif message.method == "BYE":
                    self.rings[message.call_id].bye = True
            elif message.method == "BYE":
                call = next(c for c in self.calls if c.call_id == message.call_id
                            and self.to_tag(c) == message.from_.tag)
                assert self.sim.final(call.branch), "a BYE to a caller not answered yet"
                call.bye = True
        self.seen = len(self.sim.sent)

    def pending_requests(self) -> list[Send]:
        """The app's requests (not ACK) that nobody answered yet."""
        return [s for s in self.sim.sent if isinstance(s.message, Request)
                and s.message.method != "ACK" and id(s.message) not in self.answered]

    def send(self, data: bytes, source: tuple[str, int], method: str, branch: str,
             settle: bool = True) -> bool:
        """Deliver a request; True when it got a 2xx by now."""
        if method != "ACK":
            self.injected.append((branch, method))
        self.sim.deliver(data, source, settle)
        self.read()
        return any(status < 300 for status, _ in self.finals.get((branch, method), ()))

    # -------------------------------------------------------------- the caller

    def call(self, number: str, body: str, cseq: int = 1) -> Call:
        call_id = f"c{next(self.ids)}"
        branch = self.sim.branch(call_id)
        data = caller_invite(call_id, number, cseq, body, branch)
        call = Call(call_id, number, data, branch, cseq, cseq + 1, self.sim.loop.now)
        self.calls.append(call)
        self.send(data, CALLER, "INVITE", branch)
        return call

    def call_again(self, earlier: Call) -> Call:
        cseq = max(c.next_cseq for c in self.calls if c.call_id == earlier.call_id)
        branch = self.sim.branch(earlier.call_id)
        data = caller_invite(earlier.call_id, earlier.number, cseq, sdp(40002), branch)
        call = Call(earlier.call_id, earlier.number, data, branch, cseq, cseq + 1,
                    self.sim.loop.now)
        self.calls.append(call)
        self.send(data, CALLER, "INVITE", branch)
        return call

    def to_tag(self, call: Call) -> str | None:
        """The To tag of the caller's dialog: of our final answer, else of our 180."""
        final = self.sim.final(call.branch)
        if final is not None:
            return final.to.tag
        for send in self.sim.sent:
            message = send.message
            if (isinstance(message, Response) and 100 < message.status < 200
                    and message.via.branch == call.branch):
                return message.to.tag
        return None

    def caller(self, call: Call, method: str, cseq: int | None = None,
               to_tag: str | None = None, body: str = "", settle: bool = True) -> None:
        tag = self.to_tag(call) if to_tag is None else to_tag
        if cseq is None:
            cseq = call.next_cseq
            call.next_cseq += 1
        branch = self.sim.branch(f"{call.call_id}-{method}")
        if method == "INVITE":
            data = caller_invite(call.call_id, call.number, cseq, body, branch, tag or "")
            call.reinvites.append((branch, cseq))
        else:
            data = caller_request(method, call, cseq, tag or "", branch)
        if self.send(data, CALLER, method, branch, settle) and method == "BYE":
            call.bye = True

    def cancel(self, call: Call, settle: bool = True) -> None:
        """CANCEL the INVITE; again (the same CANCEL) until timer F of the first one."""
        if call.cancelled is not None and self.sim.loop.now - call.cancelled >= 64 * T1:
            return
        if call.cancelled is None:
            call.cancelled = self.sim.loop.now
        self.send(caller_request("CANCEL", call, call.cseq, "", call.branch), CALLER, "CANCEL",
                  call.branch, settle)

    def ack_final(self, call: Call) -> None:
        """ACK the final answer to the INVITE: in the transaction for an error (§17.1.1.3),
        as a request of its own for a 2xx (§13.2.2.4)."""
        final = self.sim.final(call.branch)
        assert final is not None
        call.acked = True
        self.ack(call, final, call.branch, call.cseq)

    def ack(self, call: Call, final: Response, branch: str, cseq: int) -> None:
        if final.status < 300:
            self.caller(call, "ACK", cseq=cseq, to_tag=final.to.tag or "")
            return
        self.send(caller_request("ACK", call, cseq, final.to.tag or "", branch)
                  .replace(b"sip:switchboard@127.0.0.1:5060", f"sip:{call.number}@127.0.0.1"
                           .encode()), CALLER, "ACK", branch)

    def ack_reinvites(self, call: Call) -> None:
        for branch, cseq in list(call.reinvites):
            final = self.sim.final(branch)
            if final is not None:
                call.reinvites.remove((branch, cseq))
                self.ack(call, final, branch, cseq)

    # -------------------------------------------------------------- the phones

    def answer(self, ring: Ring, status: int, tag: str | None = None,
               settle: bool = True, with_sdp: bool = True) -> None:
        tag = tag or ring.tag
        if status < 200:
            ring.provisional = True
        else:
            ring.finals.append(status)
            if status < 300 and tag not in ring.answered_tags:
                ring.answered_tags.append(tag)
        self.sim.deliver(phone_answer(ring, status, tag, with_sdp), ring.phone, settle)
        self.read()

    def phone(self, ring: Ring, method: str, tag: str | None = None, body: str = "",
              cseq: int | None = None, settle: bool = True) -> bool:
        """A request of the phone in its dialog; True when it got a 2xx by now."""
        branch = self.sim.branch(f"ph{ring.phone[1]}")
        data = phone_request(method, ring, tag or ring.answered_tags[0], branch, body, cseq)
        ok = self.send(data, ring.phone, method, branch, settle)
        if ok and method == "BYE":
            ring.bye = True
        return ok

    def answer_app_requests(self, end_invites: bool = True) -> None:
        """Every party answers what the app asked of it: 200 to BYE, OPTIONS and CANCEL (a
        phone that had not answered its INVITE then ends it with 487, unless not
        ``end_invites``: it never does)."""
        for send in self.pending_requests():
            request = send.message
            assert isinstance(request, Request)
            self.answered.add(id(request))
            if request.method == "INVITE":
                continue  # the phones' rules answer these
            self.sim.deliver(make_response(request, 200, to_tag=request.to.tag or "x")
                             .serialize(), send.dest)
            ring = self.rings.get(request.call_id)
            if request.method == "CANCEL" and ring is not None:
                ring.cancel_answered = True
                if not ring.finals and end_invites:
                    self.answer(ring, 487)
        self.read()

    # -------------------------------------------------------------- the end

    def hang_up_everything(self) -> None:
        """What well-behaved parties do to end every call, and time to do it in."""
        for _ in range(8):
            self.answer_app_requests()
            for call in self.calls:
                final = self.sim.final(call.branch)
                if final is None and call.cancelled is None:
                    self.cancel(call)
                elif final is not None and not call.acked:
                    self.ack_final(call)
                self.ack_reinvites(call)
                if (final is not None and final.status < 300 and not call.bye):
                    self.caller(call, "BYE")
            for ring in list(self.rings.values()):
                if ring.answered_tags and not ring.bye:
                    self.phone(ring, "BYE")
                elif not ring.finals and ring.cancel is None:
                    self.answer(ring, 486)
            self.sim.advance(1.0)
        self.answer_app_requests()
        for _ in range(4):
            self.sim.advance(40.0)  # past every timer: 64*T1, D, wrap-up, ring timeouts
            self.answer_app_requests()

    def check_the_end(self) -> None:
        app, sim = self.sim.app, self.sim
        assert sim.failures.records == [], sim.failures.records
        assert sim.errors == [], sim.errors
        unanswered = [key for key in self.injected
                      if not self.finals.get(key)]
        assert unanswered == [], f"requests with no final answer: {unanswered}"
        assert app.dialogs == {}, app.dialogs
        assert app.channels == {}, app.channels
        assert app.by_client_key == {}, app.by_client_key
        assert app.setting_up == set()
        assert (app.txl.servers, app.txl.clients) == ({}, {}), (
            [(t.key, t.state) for t in (*app.txl.servers.values(), *app.txl.clients.values())])
        assert app.core.calls == {} and app.core.legs == {}, (app.core.calls, app.core.legs)
        busy = {a: s.state for a, s in app.core.agents.items() if s.state != "idle"}
        assert busy == {}, busy
        assert sim.media.leaked() == [], sim.media.leaked()
        assert app.actions.empty() and not app.worker.done()


# ---------------------------------------------------------------------- the machine

INDEX = st.integers(min_value=0, max_value=7)


class SipAppMachine(RuleBasedStateMachine):
    """Random moves of a trunk caller and three agents' phones against one ``SipApp``."""

    def __init__(self) -> None:
        super().__init__()
        self.sim: Sim | None = None
        self.p: Parties | None = None

    @initialize(latency=st.sampled_from([0.0, 0.05]))
    def start(self, latency: float) -> None:
        self.sim = Sim(latency)
        self.p = Parties(self.sim)
        for phone in PHONES:
            self.p.reg_cseq[phone] += 1
            register(self.sim, phone, self.p.reg_cseq[phone])
        self.p.read()

    @property
    def parties(self) -> Parties:
        assert self.p is not None
        return self.p

    def pick_call(self, index: int) -> Call:
        calls = self.parties.calls
        return calls[index % len(calls)]

    def pick_ring(self, index: int) -> Ring:
        rings = list(self.parties.rings.values())
        return rings[index % len(rings)]

    def has_calls(self) -> bool:
        return self.p is not None and bool(self.p.calls)

    def has_rings(self) -> bool:
        return self.p is not None and bool(self.p.rings)

    # -------------------------------------------------------------- the caller

    @precondition(lambda self: self.p is not None and len(self.p.calls) < 5)
    @rule(number=st.sampled_from(["100", "101", "102"]),
          body=st.sampled_from(["pcmu", "none", "g729"]), cseq=st.sampled_from([1, 5]))
    def caller_invites(self, number: str, body: str, cseq: int) -> None:
        text = {"pcmu": sdp(40002), "none": "", "g729": G729}[body]
        self.parties.call(number, text, cseq)

    @precondition(has_calls)
    @rule(index=INDEX)
    def caller_retransmits_invite(self, index: int) -> None:
        call = self.pick_call(index)
        sim = self.parties.sim
        if (sim.loop.now - call.sent_at >= 64 * T1
                or sim.final(call.branch) is not None):
            return  # it gave up at timer B, or has its answer (RFC 3261 §17.1.1.2)
        self.parties.sim.deliver(call.invite, CALLER)
        self.parties.read()

    @precondition(has_calls)
    @rule(index=INDEX, settle=st.booleans())
    def caller_cancels(self, index: int, settle: bool) -> None:
        self.parties.cancel(self.pick_call(index), settle)

    @precondition(has_calls)
    @rule(index=INDEX)
    def caller_acks(self, index: int) -> None:
        call = self.pick_call(index)
        if self.parties.sim.final(call.branch) is not None:
            self.parties.ack_final(call)
        self.parties.ack_reinvites(call)

    @precondition(has_calls)
    @rule(index=INDEX, tag=st.sampled_from(["ours", "wrong", "none"]),
          cseq=st.sampled_from(["next", "lower", "same"]), settle=st.booleans())
    def caller_byes(self, index: int, tag: str, cseq: str, settle: bool) -> None:
        call = self.pick_call(index)
        to_tag = {"ours": None, "wrong": "not-ours", "none": ""}[tag]
        seq = {"next": None, "lower": call.cseq - 1, "same": call.cseq}[cseq]
        self.parties.caller(call, "BYE", cseq=seq, to_tag=to_tag, settle=settle)

    @precondition(has_calls)
    @rule(index=INDEX, direction=st.sampled_from(["sendonly", "sendrecv", "inactive", "none"]))
    def caller_reinvites(self, index: int, direction: str) -> None:
        call = self.pick_call(index)
        if self.parties.to_tag(call) is None:
            return
        body = "" if direction == "none" else sdp(40002, direction, version=call.next_cseq)
        self.parties.caller(call, "INVITE", body=body)

    @precondition(has_calls)
    @rule(index=INDEX)
    def caller_reuses_the_call_id(self, index: int) -> None:
        """A new INVITE (no To tag, a new branch) with the Call-ID of an earlier call: a
        merged request while that call lasts (482), a new call after."""
        self.parties.call_again(self.pick_call(index))

    @precondition(has_calls)
    @rule(index=INDEX)
    def caller_sends_info(self, index: int) -> None:
        self.parties.caller(self.pick_call(index), "INFO")

    # -------------------------------------------------------------- the phones

    @precondition(has_rings)
    @rule(index=INDEX)
    def phone_rings(self, index: int) -> None:
        ring = self.pick_ring(index)
        if not ring.finals:  # again too: a phone may ring (180, 183) after our CANCEL
            self.parties.answer(ring, 180)

    @precondition(has_rings)
    @rule(index=INDEX, fork=st.booleans(), settle=st.booleans(), sdp=st.booleans())
    def phone_answers(self, index: int, fork: bool, settle: bool, sdp: bool) -> None:
        ring = self.pick_ring(index)
        if any(s >= 300 for s in ring.finals):
            return  # it refused already
        tag = f"{ring.tag}-f{len(ring.answered_tags)}" if fork and ring.answered_tags else None
        self.parties.answer(ring, 200, tag, settle, sdp)

    @precondition(has_rings)
    @rule(index=INDEX, status=st.sampled_from([486, 603, 500, 503, 480, 404, 408, 401]))
    def phone_refuses(self, index: int, status: int) -> None:
        ring = self.pick_ring(index)
        if not ring.finals:
            self.parties.answer(ring, status)

    @precondition(has_rings)
    @rule(index=INDEX, which=st.sampled_from(["first", "last", "wrong"]), settle=st.booleans())
    def phone_hangs_up(self, index: int, which: str, settle: bool) -> None:
        ring = self.pick_ring(index)
        if ring.answered_tags and not ring.bye:
            tag = {"first": ring.answered_tags[0], "last": ring.answered_tags[-1],
                   "wrong": "not-ours"}[which]
            self.parties.phone(ring, "BYE", tag=tag, settle=settle)

    @precondition(has_rings)
    @rule(index=INDEX, direction=st.sampled_from(["sendonly", "sendrecv"]), ack=st.booleans())
    def phone_reinvites(self, index: int, direction: str, ack: bool) -> None:
        ring = self.pick_ring(index)
        if ring.answered_tags and not ring.bye:
            cseq = ring.next_cseq
            ok = self.parties.phone(ring, "INVITE", body=sdp(50000, direction, version=cseq))
            if ok and ack:
                self.parties.phone(ring, "ACK", cseq=cseq)

    @precondition(lambda self: self.p is not None)
    @rule(end_invites=st.booleans())
    def parties_answer_the_apps_requests(self, end_invites: bool) -> None:
        self.parties.answer_app_requests(end_invites)

    @precondition(lambda self: self.p is not None)
    @rule(phone=st.sampled_from(sorted(PHONES)), expires=st.sampled_from([0, 600]))
    def phone_registers(self, phone: tuple[str, int], expires: int) -> None:
        self.parties.reg_cseq[phone] += 1
        register(self.parties.sim, phone, self.parties.reg_cseq[phone], expires)
        self.parties.read()

    # -------------------------------------------------------------- time

    @precondition(lambda self: self.p is not None)
    @rule(seconds=st.sampled_from([0.02, 0.3, 0.6, 2.5, 5.0, 33.0]))
    def time_passes(self, seconds: float) -> None:
        self.parties.sim.advance(seconds)
        self.parties.read()

    # -------------------------------------------------------------- checks

    @invariant()
    def nothing_failed_inside(self) -> None:
        if self.sim is not None:
            assert self.sim.failures.records == [], self.sim.failures.records
            assert self.sim.errors == [], self.sim.errors

    def teardown(self) -> None:
        if self.sim is None or self.p is None:
            return
        try:
            self.p.hang_up_everything()
            self.p.check_the_end()
        finally:
            self.sim.close()


# CI runs 100 examples; SB_FUZZ_EXAMPLES=2000 runs a deeper fuzz by hand (minutes).
SipAppMachine.TestCase.settings = settings(
    max_examples=int(os.environ.get("SB_FUZZ_EXAMPLES", "100")), stateful_step_count=30,
    derandomize=True, deadline=None,
    suppress_health_check=list(HealthCheck), print_blob=False)
TestSipAppFuzz = SipAppMachine.TestCase



# ---------------------------------------------------------------------- what the fuzz found


def started(latency: float = 0.0) -> Parties:
    """A fresh app with every phone registered."""
    parties = Parties(Sim(latency))
    for phone in PHONES:
        parties.reg_cseq[phone] += 1
        register(parties.sim, phone, parties.reg_cseq[phone])
    parties.read()
    return parties


def ring_to(parties: Parties, port: int) -> Ring:
    return next(r for r in parties.rings.values() if r.phone == ("127.0.0.1", port))


def test_a_reinvite_of_a_dialog_that_never_was_gets_481_and_is_no_new_call() -> None:
    """Found by the fuzz: a caller refused with 488 sent a re-INVITE with the 488's To tag.
    It was taken for a new call: 180, both agents rung, then 480 at the ring's end."""
    p = started()
    try:
        call = p.call("101", G729)
        refused = p.sim.final(call.branch)
        assert refused is not None and refused.status == 488
        p.ack_final(call)
        p.caller(call, "INVITE", body=sdp(40002, "sendonly", version=2))
        reinvite = p.sim.final(call.reinvites[0][0])
        assert reinvite is not None and reinvite.status == 481  # RFC 3261 §12.2.2
        assert p.sim.app.dialogs == {} and p.sim.app.core.calls == {}
        assert p.rings == {}, "no phone rung"
        p.hang_up_everything()
        p.check_the_end()
    finally:
        p.sim.close()


def test_a_late_copy_of_an_errors_ack_does_not_confirm_the_next_call_on_its_call_id() -> None:
    """Found by the fuzz: the ACK of a 488, seen again after its transaction was confirmed,
    reached the next call that reused the Call-ID while it rang: the call counted as
    answered and acknowledged, so when the agent answered no 200 went to the caller (its
    INVITE never got a final answer) and the agent talked to nobody."""
    p = started()
    try:
        first = p.call("101", G729)
        p.ack_final(first)
        second = p.call_again(first)  # the same Call-ID, a new CSeq and branch: a new call
        assert [r.status for r in p.sim.responses("c1", "INVITE", second.cseq)] == [180]
        p.ack_final(first)  # the 488's ACK again: it matches no transaction any more
        assert p.sim.app.setting_up == {"c1"}, "still not answered nor acknowledged"
        p.answer(ring_to(p, 5070), 200)
        ok = p.sim.final(second.branch)
        assert ok is not None and ok.status == 200, "the caller gets the agent's answer"
        p.ack_final(second)
        assert p.sim.app.setting_up == set()
        p.hang_up_everything()
        p.check_the_end()
    finally:
        p.sim.close()


def test_an_ack_before_our_answer_confirms_nothing() -> None:
    """A stray ACK with the 180's tag while a ring step rings: the 200 still goes out."""
    p = started()
    try:
        call = p.call("101", sdp(40002))
        p.caller(call, "ACK", cseq=call.cseq)  # To tag: our 180's
        p.answer(ring_to(p, 5071), 200)
        ok = p.sim.final(call.branch)
        assert ok is not None and ok.status == 200
        p.hang_up_everything()
        p.check_the_end()
    finally:
        p.sim.close()


def test_a_second_180_after_our_cancel_does_not_keep_a_vanished_phone_for_ever() -> None:
    """Found by the fuzz: a 1xx that came after our CANCEL went out cleared the INVITE's
    timeout (64*T1 after the CANCEL) and tried to send the CANCEL again, which raised
    LocalProtocolError inside receive() (the 1xx was dropped): a phone that then never
    answered kept its transaction and dialog for ever."""
    p = started()
    try:
        p.call("100", sdp(40002))
        desk = ring_to(p, 5070)
        p.answer(desk, 180)
        p.answer(ring_to(p, 5072), 200)  # the softphone takes the call: the desk is cancelled
        assert desk.cancel is not None
        p.answer_app_requests(end_invites=False)  # 200 to the CANCEL, never a 487
        desk.provisional = False
        p.answer(desk, 180)  # ringing still (a 183 would do the same)
        p.sim.advance(64 * T1 + 1)
        assert desk.request.call_id not in p.sim.app.dialogs
        assert client_key(desk.request.via.branch or "", "INVITE") not in p.sim.app.txl.clients
        assert p.sim.failures.records == []
    finally:
        p.sim.close()


def test_an_answer_left_from_a_cancelled_call_answers_its_call_id_again_once() -> None:
    """Found by the fuzz: while the media engine was slow to answer (rtpengine), a caller
    cancelled call c2 and dialled again with the same Call-ID. The first call's Answer, still
    queued, answered the new call; then the new call's own Answer allocated its media a
    second time and sent a second 200 on a transaction that had its 2xx: the worker logged
    ``could not carry out Answer`` (LocalProtocolError)."""
    p = started(latency=0.05)
    try:
        p.call("100", sdp(40002))  # c1: the worker waits for its media first
        second = p.call("100", sdp(40004))
        p.cancel(second)
        assert p.sim.final(second.branch) is not None  # 487
        again = p.call_again(second)
        p.sim.advance(0.3)
        ok = p.sim.final(again.branch)
        assert ok is not None and ok.status == 200
        assert p.sim.media.log.count(("allocate", "c2")) == 1, "one allocation for the call"
        assert p.sim.failures.records == []
        p.hang_up_everything()
        p.check_the_end()
    finally:
        p.sim.close()


def test_an_agent_who_never_acks_our_answer_to_its_hold_is_hung_up_and_so_is_the_caller() -> None:
    """Found by the fuzz: an agent's phone put the call on hold (re-INVITE) and never ACKed
    our 200. After 64*T1 its leg got a BYE, but the core was told that a *caller* hung up
    (on the leg's channel, which it ignored): the caller stayed connected to nobody, and the
    call and the leg stayed in the core until the caller hung up."""
    p = started()
    try:
        call = p.call("100", sdp(40002))
        p.ack_final(call)
        ring = ring_to(p, 5071)
        p.answer(ring, 200)
        assert p.sim.app.core.calls["c1"].phase == "bridged"
        assert p.phone(ring, "INVITE", body=sdp(50000, "sendonly", version=2))  # no ACK
        p.sim.advance(64 * T1 + 1)
        p.read()
        assert call.bye, "the caller gets a BYE"
        assert ring.bye, "and so does the phone"
        assert p.sim.app.core.calls == {} and p.sim.app.core.legs == {}
        p.hang_up_everything()
        p.check_the_end()
    finally:
        p.sim.close()


def test_a_dialog_forgotten_unmaps_only_itself_from_its_channel() -> None:
    """Read in the code by the fuzz audit: the media release, a task that runs later, popped
    the channel whatever it mapped by then. A caller who cancels and sends a new INVITE with
    the same Call-ID before that task ran lost the new call's mapping: never answered."""
    p = started()
    try:
        call = p.call("100", sdp(40002))
        app = p.sim.app
        old = app.channels[call.call_id]
        app._forget(old)
        new = dataclasses.replace(old, plays={})  # the new INVITE's dialog, mapped at once
        app.channels[call.call_id] = new
        p.sim.settle()  # the release of the old dialog's media runs
        assert app.channels.get(call.call_id) is new
    finally:
        p.sim.close()


class SlowReleaseMedia(RecordingMedia):
    """Releases take longer than allocations (rtpengine resending a lost ``delete``), and a
    leg that is still open cannot be allocated again, as the in-process relay refuses."""

    def __init__(self) -> None:
        super().__init__()
        self.open: set[str] = set()

    async def allocate(self, leg_id: str, *, call: str | None = None) -> tuple[str, int]:
        if leg_id in self.open:
            raise ValueError(f"media leg {leg_id!r} is already open")
        self.open.add(leg_id)
        return await super().allocate(leg_id, call=call)

    async def release(self, leg_id: str) -> None:
        await asyncio.sleep(0.2)
        self.open.discard(leg_id)
        await super().release(leg_id)


def test_a_call_that_reuses_a_call_id_waits_for_the_old_media_to_be_released() -> None:
    """Known since session 8: a caller who hung up and dialled again with the same Call-ID
    before the old call's media was released got 503 (the engine still held the leg), or,
    had the engine taken it, the late release would have freed the new call's media."""
    p = started()
    p.sim.media = media = SlowReleaseMedia()
    p.sim.app.media = media
    try:
        call = p.call("100", sdp(40002))
        p.ack_final(call)
        assert ("allocate", call.call_id) in media.log
        p.caller(call, "BYE")  # the release starts, and takes 0.2 s
        again = p.call_again(call)
        p.sim.advance(0.5)
        ok = p.sim.final(again.branch)
        assert ok is not None and ok.status == 200, ok
        ops = [op for op in media.log if op[0] in ("allocate", "release") and op[1] == call.call_id]
        assert ops == [("allocate", call.call_id), ("release", call.call_id),
                       ("allocate", call.call_id)]
        assert call.call_id in media.open, "the new call keeps its media"
        p.ack_final(again)
        p.hang_up_everything()
        p.check_the_end()
    finally:
        p.sim.close()
