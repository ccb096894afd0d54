"""SIP transactions (RFC 3261 §17, with the Accepted states of RFC 6026). Sans-IO.

The layer is driven like aioquic's connection: feed it what arrived (``receive_datagram`` or
``receive``) and the time, call ``handle_timer(now)`` when ``next_deadline()`` is due, and
take what it wants sent (``sends()``) and what happened for the transaction user
(``events()``). It never touches a socket or reads a clock.

What it does for the user, beyond RFC 3261's four state machines:

- a server INVITE transaction sends ``100 Trying`` when the transaction user has given no
  response within ``TRYING_AFTER`` (200 ms, as §17.2.1 has it), or at once when the
  INVITE comes again before any response; an INVITE answered sooner (a queue answers at
  once) gets no 100: one message less each way per call;
- after a 2xx to an INVITE it retransmits the 2xx until the ACK arrives (the UAS core's duty,
  §13.3.1.4) and reports ``AckTimedOut`` when none comes within 64*T1;
- a malformed request that can still be answered gets its 4xx/5xx; noise is dropped;
- the Via of every request gets ``received``/``rport`` (§18.2.1, RFC 3581), so responses go
  back where the request really came from (NAT).
"""

from __future__ import annotations

import hashlib
import heapq
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Final, Literal

from switchboard.sip.build import make_request, make_response
from switchboard.sip.headers import BRANCH_MAGIC, LocalProtocolError, SipParseError
from switchboard.sip.message import Request, Response, parse

Address = tuple[str, int]
Transport = Literal["UDP", "TCP"]


@dataclass(frozen=True, slots=True)
class Timers:
    """RFC 3261 timer base values, seconds (Table 4)."""

    t1: float = 0.5
    t2: float = 4.0
    t4: float = 5.0


DEFAULT_TIMERS: Final = Timers()

#: A server INVITE transaction's 100 Trying goes out if nothing else has this long after the
#: INVITE (RFC 3261 §17.2.1: "unless it knows that the TU will generate a provisional or
#: final response within 200 ms"); well before the client's first retransmission (T1).
TRYING_AFTER: Final = 0.2


# --------------------------------------------------------------------------- output


@dataclass(frozen=True, slots=True)
class Send:
    """A message the adapter must put on the wire."""

    message: Request | Response
    dest: Address
    transport: Transport


@dataclass(frozen=True, slots=True)
class RequestReceived:
    """A new request for the transaction user.

    ``key`` names the server transaction to answer with ``send_response``; it is None for an
    ACK to a 2xx (no transaction: RFC 3261 §17.1.1.1). ``cancels`` is the key of the INVITE
    transaction a CANCEL matches (the user answers the CANCEL 200 and the INVITE 487).
    """

    key: str | None
    request: Request
    source: Address
    transport: Transport
    cancels: str | None = None


@dataclass(frozen=True, slots=True)
class ResponseReceived:
    """A response to one of our requests (``key`` from ``send_request``).

    ``key`` is None for a 2xx retransmission that arrived after its transaction ended: the
    dialog must ACK it again.
    """

    key: str | None
    response: Response


@dataclass(frozen=True, slots=True)
class TransactionTimedOut:
    """No final response came in time (client), or no ACK for our final response (server)."""

    key: str
    method: str


@dataclass(frozen=True, slots=True)
class AckTimedOut:
    """We answered an INVITE with a 2xx and no ACK came within 64*T1: end the dialog (BYE)."""

    key: str
    request: Request


TuEvent = RequestReceived | ResponseReceived | TransactionTimedOut | AckTimedOut


# --------------------------------------------------------------------------- state

ClientState = Literal["calling", "trying", "proceeding", "completed", "accepted", "terminated"]
ServerState = Literal["trying", "proceeding", "completed", "confirmed", "accepted", "terminated"]


@dataclass(slots=True, eq=False)
class _Txn:
    """One transaction. Once it has its final answer, it only waits out an absorb timer
    (D, I, J, K, L after the ACK, M: up to 32 s over UDP) and lets go of the messages it no
    longer needs (``request``; ``last`` unless it is resent): at a few hundred calls a second
    thousands of such transactions wait, and their parsed messages made every full garbage
    collection of the process hundreds of milliseconds long."""

    key: str
    request: Request | None  # None once nothing needs it (the absorb states)
    peer: Address
    transport: Transport
    invite: bool
    state: str
    method: str = ""
    interval: float = 0.0  # current retransmission interval
    retransmit_at: float | None = None  # server INVITE in proceeding: its 100 Trying is due
    timeout_at: float | None = None  # B/F (client), H/L (server)
    end_at: float | None = None  # D/K (client), I/J (server), M/L absorb end
    last: Request | Response | None = None  # what we resend: the request, a response or ACK
    generation: int = 0
    dialog_key: tuple[str, int] | None = None  # server INVITE in accepted: (Call-ID, CSeq)
    client: bool = True
    cancel_pending: bool = False  # client INVITE: cancelled before any 1xx, CANCEL on the 1xx
    cancel_sent: bool = False  # client INVITE: our CANCEL went out (timer B runs again)


def client_key(branch: str, method: str) -> str:
    """RFC 3261 §17.1.3: branch and CSeq method (ACK never has a client transaction)."""
    return f"c|{branch}|{method}"


def server_key(request: Request) -> str:
    """RFC 3261 §17.2.3: branch, sent-by and method (ACK matches its INVITE).

    Requests without the RFC 3261 magic cookie (RFC 2543 peers) are matched on Call-ID,
    CSeq number, From tag and the top Via instead.
    """
    via = request.via
    method = "INVITE" if request.method == "ACK" else request.method
    branch = via.branch or ""
    if branch.startswith(BRANCH_MAGIC):
        return f"s|{branch}|{via.host}:{via.port or ''}|{method}"
    return f"s2543|{request.call_id}|{request.cseq.seq}|{request.from_.tag}|{via}|{method}"


def stateless_tag(request: Request) -> str:
    """A To tag for answers sent with no transaction (errors, overload): stable, so that a
    retransmitted request gets the same one, and drawn from no random generator."""
    seed = f"{request.headers.get('Call-ID')}|{request.headers.get('Via')}".encode()
    return hashlib.blake2s(seed, digest_size=5).hexdigest()


class TransactionLayer:
    """All client and server transactions of one SIP endpoint."""

    def __init__(self, timers: Timers = DEFAULT_TIMERS) -> None:
        self.timers = timers
        # Asked about each new out-of-dialog INVITE before a transaction is made for it: a
        # response (a 503 under overload) is sent statelessly, with no transaction, timers
        # or event (as Kamailio's sl_send_reply); None lets the INVITE in.
        self.admit: Callable[[Request, Address, float], Response | None] | None = None
        # What admit refused lately, by server key: a retransmitted INVITE gets the same
        # answer without being asked (or counted) again. No timers: pruned as it goes.
        self._refused: OrderedDict[str, tuple[float, Send]] = OrderedDict()
        self.clients: dict[str, _Txn] = {}
        self.servers: dict[str, _Txn] = {}
        self._accepted: dict[tuple[str, int], str] = {}  # (Call-ID, CSeq) -> server INVITE key
        self._heap: list[tuple[float, int, int, _Txn]] = []
        self._seq = 0
        self._sends: list[Send] = []
        self._events: list[TuEvent] = []

    # ------------------------------------------------------------------ output queues

    def sends(self) -> list[Send]:
        """Take the messages to put on the wire, in order."""
        out, self._sends = self._sends, []
        return out

    def events(self) -> list[TuEvent]:
        """Take what happened for the transaction user, in order."""
        out, self._events = self._events, []
        return out

    def live(self) -> int:
        """Transactions not yet terminated, including those only absorbing retransmissions."""
        return len(self.clients) + len(self.servers)

    def held(self) -> int:
        """Messages the live transactions keep in memory (requests, and what they may resend)."""
        return sum(
            (t.request is not None) + (t.last is not None and t.last is not t.request)
            for table in (self.clients, self.servers)
            for t in table.values()
        )

    def unfinished(self) -> int:
        """Transactions still waiting for the network (an answer, an ACK): a hung call's
        sign. Completed ones that only wait out their absorb timers (D, I, J, K, M) are not
        counted."""
        waiting = sum(t.state in ("calling", "trying", "proceeding")
                      for t in self.clients.values())
        waiting += sum(
            t.state in ("trying", "proceeding")
            or (t.state == "completed" and t.invite)  # our error answer awaits its ACK
            or (t.state == "accepted" and self._accepted.get(t.dialog_key or ("", 0)) == t.key)
            for t in self.servers.values())
        return waiting

    # ------------------------------------------------------------------ timers

    def next_deadline(self) -> float | None:
        heap = self._heap
        while heap and (heap[0][3].generation != heap[0][2] or heap[0][3].state == "terminated"):
            heapq.heappop(heap)
        return heap[0][0] if heap else None

    def _schedule(self, txn: _Txn) -> None:
        txn.generation += 1
        due = [t for t in (txn.retransmit_at, txn.timeout_at, txn.end_at) if t is not None]
        if due:
            self._seq += 1
            heapq.heappush(self._heap, (min(due), self._seq, txn.generation, txn))

    def handle_timer(self, now: float) -> None:
        """Fire every transaction timer due at ``now``."""
        heap = self._heap
        while heap and heap[0][0] <= now:
            _, _, generation, txn = heapq.heappop(heap)
            if generation != txn.generation or txn.state == "terminated":
                continue
            if txn.client:
                self._client_timer(txn, now)
            else:
                self._server_timer(txn, now)
            if txn.state != "terminated":
                self._schedule(txn)

    # ------------------------------------------------------------------ receiving

    def receive_datagram(self, data: bytes, source: Address, transport: Transport,
                         now: float) -> None:
        """Parse and handle one message; answer or drop what cannot be parsed."""
        try:
            message = parse(data)
        except SipParseError as err:
            bad = err.request
            if err.status is not None and bad is not None and bad.method != "ACK":
                try:
                    answer = make_response(bad, err.status, to_tag=stateless_tag(bad))
                    self._sends.append(Send(answer, self._reply_target(bad, source, transport),
                                            transport))
                except (SipParseError, LocalProtocolError):
                    pass  # too broken to answer: drop
            return
        self.receive(message, source, transport, now)

    def receive(self, message: Request | Response, source: Address, transport: Transport,
                now: float) -> None:
        """Handle one parsed message."""
        try:
            if isinstance(message, Request):
                self._on_request(message, source, transport, now)
            else:
                self._on_response(message, now)
        except (SipParseError, LocalProtocolError):
            return  # a header we needed is malformed (parsed lazily): drop the message

    def _reply_target(self, request: Request, source: Address, transport: Transport) -> Address:
        if transport != "UDP":
            return source  # the same connection (RFC 3261 §18.2.2)
        return request.via.with_received(*source).response_target()

    def _stamp(self, request: Request, source: Address) -> Request:
        via = request.via
        stamped = via.with_received(*source)
        if stamped == via:
            return request
        return request.with_top_via(stamped)

    def _on_request(self, request: Request, source: Address, transport: Transport,
                    now: float) -> None:
        request = self._stamp(request, source)
        key = server_key(request)
        txn = self.servers.get(key)
        if request.method == "ACK":
            if txn is not None and txn.invite and txn.state in ("completed", "confirmed"):
                if txn.state == "completed":
                    self._enter(txn, "confirmed", now)  # the ACK of our error answer
                return  # in Confirmed, its retransmissions are absorbed (§17.2.1)
            dialog_key = (request.call_id, request.cseq.seq)
            accepted = self._accepted.pop(dialog_key, None)
            if accepted is not None and accepted in self.servers:
                done = self.servers[accepted]
                done.retransmit_at = None  # the 2xx arrived: stop resending
                done.request = done.last = None  # only absorbs INVITE retransmissions now
                self._schedule(done)
            self._events.append(RequestReceived(None, request, source, transport))
            return
        if txn is not None:
            # A retransmission: answer again with the last response, if any (§17.2.1, §17.2.2);
            # an INVITE not answered yet gets its 100 Trying now.
            if txn.last is not None and txn.state in ("proceeding", "completed"):
                self._sends.append(Send(txn.last, txn.peer, txn.transport))
            elif txn.invite and txn.state == "proceeding":
                self._send_trying(txn)
            return
        peer = self._reply_target(request, source, transport)
        invite = request.method == "INVITE"
        if invite and self.admit is not None and request.to.tag is None:
            refused = self._refused
            while refused and next(iter(refused.values()))[0] <= now:
                refused.popitem(last=False)  # older than timer B: the client gave up
            if key in refused:
                self._sends.append(refused[key][1])
                return
            refusal = self.admit(request, source, now)
            if refusal is not None:
                send = Send(refusal, peer, transport)
                refused[key] = (now + 64 * self.timers.t1, send)
                self._sends.append(send)
                return
        txn = _Txn(key, request, peer, transport, invite, "proceeding" if invite else "trying",
                   request.method, client=False)
        self.servers[key] = txn
        cancels = None
        if request.method == "CANCEL":
            target = self.servers.get(key.rsplit("|", 1)[0] + "|INVITE")
            if target is not None and target.state == "proceeding":
                cancels = target.key
        if invite:  # 100 Trying unless the user answers first
            txn.retransmit_at = now + TRYING_AFTER
            self._schedule(txn)
        self._events.append(RequestReceived(key, request, source, transport, cancels))

    def _send_trying(self, txn: _Txn) -> None:
        assert txn.request is not None  # kept until the final response
        trying = make_response(txn.request, 100)
        txn.last = trying
        txn.retransmit_at = None
        self._sends.append(Send(trying, txn.peer, txn.transport))

    def _on_response(self, response: Response, now: float) -> None:
        branch = response.via.branch or ""
        key = client_key(branch, response.cseq.method)
        txn = self.clients.get(key)
        if txn is None:
            if response.cseq.method == "INVITE" and 200 <= response.status < 300:
                self._events.append(ResponseReceived(None, response))  # re-ACK it
            return
        status = response.status
        state = txn.state
        if txn.invite:
            if state in ("calling", "proceeding"):
                if status < 200:
                    # Timer A stops, and so does timer B: it only guards Calling (§17.1.1.2);
                    # a ringing phone is ended by the user's CANCEL, not by the transaction.
                    txn.retransmit_at = None
                    if not txn.cancel_sent:  # after our CANCEL, 64*T1 bounds the wait
                        txn.timeout_at = None
                    txn.state = "proceeding"
                    if txn.cancel_pending:  # cancelled while Calling: the CANCEL goes now
                        self._send_cancel(txn, now)
                    self._schedule(txn)
                elif status < 300:
                    self._enter(txn, "accepted", now)
                else:
                    assert txn.request is not None  # kept until the final response
                    txn.last = self._ack_for(txn.request, response)
                    self._sends.append(Send(txn.last, txn.peer, txn.transport))
                    self._enter(txn, "completed", now)
                self._events.append(ResponseReceived(key, response))
            elif state == "completed" and status >= 300 and txn.last is not None:
                self._sends.append(Send(txn.last, txn.peer, txn.transport))  # resend the ACK
            elif state == "accepted" and 200 <= status < 300:
                self._events.append(ResponseReceived(key, response))  # the dialog re-ACKs
            return
        if state in ("trying", "proceeding"):
            if status < 200:
                txn.state = "proceeding"
            else:
                self._enter(txn, "completed", now)
            self._events.append(ResponseReceived(key, response))

    # ------------------------------------------------------------------ sending

    def send_request(self, request: Request, dest: Address, transport: Transport,
                     now: float) -> str:
        """Start a client transaction; returns its key (responses come as ResponseReceived)."""
        if request.method == "ACK":
            raise LocalProtocolError("ACK has no transaction: use send_stateless")
        branch = request.via.branch or ""
        if not branch.startswith(BRANCH_MAGIC):
            raise LocalProtocolError("our requests need an RFC 3261 branch (z9hG4bK...)")
        key = client_key(branch, request.method)
        if key in self.clients:
            raise LocalProtocolError(f"transaction {key} exists: use a new branch")
        invite = request.method == "INVITE"
        txn = _Txn(key, request, dest, transport, invite, "calling" if invite else "trying",
                   request.method)
        txn.last = request
        t = self.timers
        if transport == "UDP":
            txn.interval = t.t1
            txn.retransmit_at = now + t.t1  # timer A / E
        txn.timeout_at = now + 64 * t.t1  # timer B / F
        self.clients[key] = txn
        self._sends.append(Send(request, dest, transport))
        self._schedule(txn)
        return key

    def cancel(self, key: str, now: float) -> bool:
        """Cancel our INVITE ``key`` (RFC 3261 §9.1). The CANCEL goes out at once when a
        provisional answer came, else at the first one: a CANCEL must not overtake its
        INVITE. If no final answer comes within 64*T1 of the CANCEL (or of the INVITE, while
        no 1xx came: timer B), the transaction ends with ``TransactionTimedOut``: a phone
        that rang and vanished does not keep it forever. False when there is nothing left to
        cancel (the INVITE has its final answer, or is unknown)."""
        txn = self.clients.get(key)
        if txn is None or not txn.invite or txn.cancel_pending or txn.cancel_sent:
            return False
        if txn.state == "calling":
            txn.cancel_pending = True
            return True
        if txn.state != "proceeding":
            return False
        txn.cancel_pending = True
        self._send_cancel(txn, now)
        self._schedule(txn)
        return True

    def _send_cancel(self, txn: _Txn, now: float) -> None:
        assert txn.request is not None  # kept until the final response
        self.send_request(make_cancel(txn.request), txn.peer, txn.transport, now)
        txn.cancel_pending, txn.cancel_sent = False, True
        txn.timeout_at = now + 64 * self.timers.t1

    def send_stateless(self, message: Request | Response, dest: Address,
                       transport: Transport) -> None:
        """Send outside any transaction (the ACK to a 2xx)."""
        self._sends.append(Send(message, dest, transport))

    def send_response(self, key: str, response: Response, now: float) -> None:
        """Answer the request of server transaction ``key``."""
        txn = self.servers.get(key)
        if txn is None or txn.state in ("completed", "confirmed", "accepted", "terminated"):
            raise LocalProtocolError(f"transaction {key} cannot send a response now")
        status = response.status
        self._sends.append(Send(response, txn.peer, txn.transport))
        txn.last = response
        if status < 200:
            txn.state = "proceeding"
            txn.retransmit_at = None  # a provisional answer: no 100 Trying after it
            return
        if txn.invite and status < 300:
            assert txn.request is not None  # kept until the final response
            txn.dialog_key = (txn.request.call_id, txn.request.cseq.seq)
            self._accepted[txn.dialog_key] = key
        self._enter(txn, "accepted" if txn.invite and status < 300 else "completed", now)

    # ------------------------------------------------------------------ state machines

    def _enter(self, txn: _Txn, state: str, now: float) -> None:
        t = self.timers
        udp = txn.transport == "UDP"
        txn.state = state
        txn.retransmit_at = txn.timeout_at = txn.end_at = None
        # What each final state still resends: the ACK of an error (client INVITE, D), the
        # final answer (server: G, J, and the 2xx until its ACK, L). The request itself is
        # needed only by a server INVITE until its ACK (AckTimedOut carries it).
        if not (state == "accepted" and not txn.client):
            txn.request = None
        if state == "confirmed" or (txn.client and not (state == "completed" and txn.invite)):
            txn.last = None
        if txn.client:
            if state == "completed":  # timer D (INVITE) or K
                wait = (32.0 if txn.invite else t.t4) if udp else 0.0
                txn.end_at = now + wait
            elif state == "accepted":  # timer M (RFC 6026): absorb 2xx retransmissions
                txn.end_at = now + 64 * t.t1
        elif state == "completed":
            if txn.invite:  # timers G and H
                if udp:
                    txn.interval = t.t1
                    txn.retransmit_at = now + t.t1
                txn.timeout_at = now + 64 * t.t1
            else:  # timer J
                txn.end_at = now + (64 * t.t1 if udp else 0.0)
        elif state == "confirmed":  # timer I
            txn.end_at = now + (t.t4 if udp else 0.0)
        elif state == "accepted":  # timer L (RFC 6026), 2xx resent until the ACK (§13.3.1.4)
            txn.interval = t.t1
            txn.retransmit_at = now + t.t1 if udp else None
            txn.timeout_at = now + 64 * t.t1
        if txn.end_at is not None and txn.end_at <= now:
            self._terminate(txn)
            return
        self._schedule(txn)

    def _terminate(self, txn: _Txn) -> None:
        txn.state = "terminated"
        (self.clients if txn.client else self.servers).pop(txn.key, None)
        if txn.dialog_key is not None and self._accepted.get(txn.dialog_key) == txn.key:
            del self._accepted[txn.dialog_key]

    def _due(self, when: float | None, now: float) -> bool:
        return when is not None and when <= now

    def _client_timer(self, txn: _Txn, now: float) -> None:
        t = self.timers
        if self._due(txn.end_at, now):
            self._terminate(txn)
            return
        if self._due(txn.timeout_at, now) and txn.state in ("calling", "trying", "proceeding"):
            self._events.append(TransactionTimedOut(txn.key, txn.method))
            self._terminate(txn)
            return
        if self._due(txn.retransmit_at, now) and txn.last is not None:
            self._sends.append(Send(txn.last, txn.peer, txn.transport))
            if txn.invite:  # timer A doubles
                txn.interval *= 2
            else:  # timer E doubles up to T2, and stays at T2 once a 1xx came
                txn.interval = t.t2 if txn.state == "proceeding" else min(2 * txn.interval, t.t2)
            txn.retransmit_at = now + txn.interval

    def _server_timer(self, txn: _Txn, now: float) -> None:
        t = self.timers
        if self._due(txn.end_at, now):
            self._terminate(txn)
            return
        if txn.state == "proceeding":  # a server INVITE the user has not answered yet
            if self._due(txn.retransmit_at, now) and txn.last is None:
                self._send_trying(txn)
            return
        if self._due(txn.timeout_at, now):
            if txn.state == "accepted":
                if txn.dialog_key in self._accepted and txn.request is not None:  # no ACK
                    self._events.append(AckTimedOut(txn.key, txn.request))
            else:
                self._events.append(TransactionTimedOut(txn.key, txn.method))
            self._terminate(txn)
            return
        if self._due(txn.retransmit_at, now) and txn.last is not None:
            self._sends.append(Send(txn.last, txn.peer, txn.transport))
            txn.interval = min(2 * txn.interval, t.t2)  # timer G, and the 2xx resend schedule
            txn.retransmit_at = now + txn.interval

    # ------------------------------------------------------------------ helpers

    @staticmethod
    def _ack_for(invite: Request, response: Response) -> Request:
        """The ACK a client transaction sends for a 3xx-6xx (RFC 3261 §17.1.1.3)."""
        return make_request(
            "ACK", invite.uri, via=invite.via, from_=invite.from_, to=response.to,
            call_id=invite.call_id, cseq=invite.cseq.seq,
            headers=[("Route", r) for r in invite.headers.get_all("Route")],
        )


def make_cancel(invite: Request) -> Request:
    """The CANCEL for one of our INVITEs (RFC 3261 §9.1): same branch, URI, Call-ID, tags."""
    return make_request(
        "CANCEL", invite.uri, via=invite.via, from_=invite.from_, to=invite.to,
        call_id=invite.call_id, cseq=invite.cseq.seq,
        headers=[("Route", r) for r in invite.headers.get_all("Route")],
    )

