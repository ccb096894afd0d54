"""Transactions (RFC 3261 §17, RFC 6026): exact timer schedules with explicit ``now``."""

from __future__ import annotations

from switchboard.sip.build import make_response
from switchboard.sip.message import Request, Response, parse
from switchboard.sip.transaction import (
    AckTimedOut,
    RequestReceived,
    ResponseReceived,
    Send,
    TransactionLayer,
    TransactionTimedOut,
    make_cancel,
    stateless_tag,
)

PEER = ("127.0.0.1", 5070)


def request(method: str = "INVITE", branch: str = "z9hG4bK-1", cseq: int = 1,
            via_host: str = "127.0.0.1:5070", to_tag: str = "", rport: bool = False) -> Request:
    to = "<sip:100@127.0.0.1>" + (f";tag={to_tag}" if to_tag else "")
    text = (
        f"{method} sip:100@127.0.0.1 SIP/2.0\r\n"
        f"Via: SIP/2.0/UDP {via_host};branch={branch}{';rport' if rport else ''}\r\n"
        "Max-Forwards: 70\r\n"
        "From: <sip:caller@127.0.0.1>;tag=abc\r\n"
        f"To: {to}\r\n"
        "Call-ID: call-1@127.0.0.1\r\n"
        f"CSeq: {cseq} {method}\r\n"
        "Content-Length: 0\r\n\r\n"
    )
    msg = parse(text.encode())
    assert isinstance(msg, Request)
    return msg


def reply(req: Request, status: int) -> Response:
    return make_response(req, status, to_tag="srv" if status != 100 else None)


def times(layer: TransactionLayer, until: float) -> list[float]:
    """Run the timers until ``until``; the instants at which something was sent."""
    sent: list[float] = []
    while (deadline := layer.next_deadline()) is not None and deadline <= until:
        layer.handle_timer(deadline)
        if layer.sends():
            sent.append(deadline)
    return sent


# ---------------------------------------------------------------------------- client


def test_invite_client_retransmits_on_timer_a_and_times_out_on_timer_b() -> None:
    layer = TransactionLayer()
    key = layer.send_request(request(), PEER, "UDP", 0.0)
    assert [s.dest for s in layer.sends()] == [PEER]
    assert times(layer, 40) == [0.5, 1.5, 3.5, 7.5, 15.5, 31.5]
    assert layer.events() == [TransactionTimedOut(key, "INVITE")]
    assert layer.live() == 0


def test_non_invite_client_caps_timer_e_at_t2() -> None:
    layer = TransactionLayer()
    layer.send_request(request("OPTIONS"), PEER, "UDP", 0.0)
    layer.sends()
    assert times(layer, 32)[:7] == [0.5, 1.5, 3.5, 7.5, 11.5, 15.5, 19.5]
    assert isinstance(layer.events()[0], TransactionTimedOut)


def test_tcp_client_does_not_retransmit() -> None:
    layer = TransactionLayer()
    layer.send_request(request(), PEER, "TCP", 0.0)
    layer.sends()
    assert times(layer, 40) == []
    assert isinstance(layer.events()[0], TransactionTimedOut)


def test_provisional_stops_timer_a_and_error_final_is_acked_and_absorbed() -> None:
    layer = TransactionLayer()
    invite = request()
    key = layer.send_request(invite, PEER, "UDP", 0.0)
    layer.sends()
    layer.receive(reply(invite, 180), PEER, "UDP", 0.2)
    assert times(layer, 10) == []  # no more retransmissions after a 1xx
    busy = reply(invite, 486)
    layer.receive(busy, PEER, "UDP", 10.0)
    (ack,) = layer.sends()
    assert isinstance(ack.message, Request) and ack.message.method == "ACK"
    assert ack.message.via.branch == "z9hG4bK-1" and ack.message.to.tag == "srv"
    assert ack.message.cseq.seq == 1 and ack.message.cseq.method == "ACK"
    events = layer.events()
    assert [type(x) for x in events] == [ResponseReceived, ResponseReceived]
    assert events[1] == ResponseReceived(key, busy)
    layer.receive(busy, PEER, "UDP", 11.0)  # retransmitted 486: ACK again, user not told
    assert [s.message.method for s in layer.sends() if isinstance(s.message, Request)] == ["ACK"]
    assert layer.events() == []
    times(layer, 10 + 32)  # timer D
    assert layer.live() == 0


def test_2xx_retransmissions_reach_the_user_so_the_dialog_re_acks() -> None:
    layer = TransactionLayer()
    invite = request()
    key = layer.send_request(invite, PEER, "UDP", 0.0)
    ok = reply(invite, 200)
    layer.receive(ok, PEER, "UDP", 1.0)
    layer.receive(ok, PEER, "UDP", 1.5)
    assert layer.events() == [ResponseReceived(key, ok), ResponseReceived(key, ok)]
    assert not [s for s in layer.sends() if isinstance(s.message, Request)
                and s.message.method == "ACK"], "the ACK to a 2xx is the dialog's, not ours"
    times(layer, 1.0 + 32)  # timer M
    assert layer.live() == 0
    layer.receive(ok, PEER, "UDP", 40.0)
    assert layer.events() == [ResponseReceived(None, ok)]


def test_stray_responses_are_dropped() -> None:
    layer = TransactionLayer()
    layer.receive(reply(request("OPTIONS"), 200), PEER, "UDP", 0.0)
    assert layer.events() == [] and layer.sends() == []


# ---------------------------------------------------------------------------- server


def test_invite_server_answers_100_absorbs_retransmissions_and_resends_the_last_response() -> None:
    layer = TransactionLayer()
    invite = request()
    layer.receive(invite, PEER, "UDP", 0.0)
    assert layer.sends() == []  # the user may answer within 200 ms (§17.2.1)
    (event,) = layer.events()
    assert isinstance(event, RequestReceived) and event.key is not None
    assert times(layer, 0.19) == [] and times(layer, 0.2) == [0.2]  # not answered: 100 then
    layer.receive(invite, PEER, "UDP", 0.5)  # retransmitted INVITE
    (trying,) = layer.sends()
    assert isinstance(trying.message, Response) and trying.message.status == 100
    assert layer.events() == []
    ringing = reply(event.request, 180)
    layer.send_response(event.key, ringing, 1.0)
    layer.sends()
    layer.receive(invite, PEER, "UDP", 1.2)
    assert [s.message for s in layer.sends()] == [ringing]
    assert times(layer, 10) == []  # a ringing INVITE has no timer of its own


def test_an_invite_answered_within_200_ms_gets_no_100_trying() -> None:
    for status in (200, 180, 486):
        layer = TransactionLayer()
        layer.receive(request(), PEER, "UDP", 0.0)
        (event,) = layer.events()
        assert event.key is not None
        answer = reply(event.request, status)
        layer.send_response(event.key, answer, 0.05)
        assert [s.message for s in layer.sends()] == [answer]
        sent = [s.message for deadline in times_and_sends(layer, 0.3) for s in deadline]
        assert all(m == answer for m in sent), sent  # only ever that answer again (G, L)


def test_an_invite_sent_again_before_any_answer_gets_its_100_at_once_and_only_once() -> None:
    layer = TransactionLayer()
    invite = request()
    layer.receive(invite, PEER, "UDP", 0.0)
    layer.events()
    layer.receive(invite, PEER, "UDP", 0.1)  # a client with a short T1, or a lost 100
    (trying,) = layer.sends()
    assert isinstance(trying.message, Response) and trying.message.status == 100
    assert times(layer, 0.5) == []  # not a second one at 200 ms


def times_and_sends(layer: TransactionLayer, until: float) -> list[list[Send]]:
    """Like ``times``, but what each due timer sent."""
    out: list[list[Send]] = []
    while (deadline := layer.next_deadline()) is not None and deadline <= until:
        layer.handle_timer(deadline)
        out.append(layer.sends())
    return out


def test_invite_server_error_is_retransmitted_on_timer_g_until_the_ack() -> None:
    layer = TransactionLayer()
    invite = request()
    layer.receive(invite, PEER, "UDP", 0.0)
    (event,) = layer.events()
    assert event.key is not None
    layer.sends()
    layer.send_response(event.key, reply(event.request, 486), 0.0)
    layer.sends()
    assert times(layer, 8) == [0.5, 1.5, 3.5, 7.5]
    layer.receive(request("ACK"), PEER, "UDP", 8.0)
    assert layer.events() == [], "the ACK of an error answer stays in the transaction"
    assert times(layer, 100) == []
    assert layer.live() == 0


def test_invite_server_error_without_ack_times_out_on_timer_h() -> None:
    layer = TransactionLayer()
    layer.receive(request(), PEER, "UDP", 0.0)
    (event,) = layer.events()
    assert event.key is not None
    layer.send_response(event.key, reply(event.request, 603), 0.0)
    times(layer, 40)
    assert layer.events() == [TransactionTimedOut(event.key, "INVITE")]
    assert layer.live() == 0


def test_2xx_is_resent_until_the_ack_which_goes_to_the_user() -> None:
    layer = TransactionLayer()
    layer.receive(request(), PEER, "UDP", 0.0)
    (event,) = layer.events()
    assert event.key is not None
    layer.sends()
    layer.send_response(event.key, reply(event.request, 200), 0.0)
    layer.sends()
    assert times(layer, 4) == [0.5, 1.5, 3.5]
    ack = request("ACK", branch="z9hG4bK-ack", to_tag="srv")
    layer.receive(ack, PEER, "UDP", 4.0)
    (got,) = layer.events()
    assert isinstance(got, RequestReceived) and got.key is None and got.request.method == "ACK"
    assert times(layer, 40) == [], "no 2xx after the ACK"
    assert layer.events() == [] and layer.live() == 0


def test_2xx_without_ack_reports_ack_timed_out() -> None:
    layer = TransactionLayer()
    layer.receive(request(), PEER, "UDP", 0.0)
    (event,) = layer.events()
    assert event.key is not None
    layer.send_response(event.key, reply(event.request, 200), 0.0)
    sent = times(layer, 40)
    assert sent[:6] == [0.5, 1.5, 3.5, 7.5, 11.5, 15.5]
    (timeout,) = layer.events()
    assert isinstance(timeout, AckTimedOut) and timeout.key == event.key


def test_non_invite_server_resends_its_final_response_until_timer_j() -> None:
    layer = TransactionLayer()
    options = request("OPTIONS")
    layer.receive(options, PEER, "UDP", 0.0)
    (event,) = layer.events()
    assert event.key is not None and layer.sends() == []  # no automatic 100 for non-INVITE
    ok = reply(event.request, 200)
    layer.send_response(event.key, ok, 0.1)
    layer.sends()
    layer.receive(options, PEER, "UDP", 2.0)
    assert [s.message for s in layer.sends()] == [ok]
    times(layer, 0.1 + 32)
    assert layer.live() == 0


def test_cancel_is_its_own_transaction_and_names_the_invite_it_cancels() -> None:
    layer = TransactionLayer()
    layer.receive(request(), PEER, "UDP", 0.0)
    (invite,) = layer.events()
    layer.receive(request("CANCEL"), PEER, "UDP", 1.0)
    (cancel,) = layer.events()
    assert isinstance(cancel, RequestReceived) and cancel.cancels == invite.key
    assert cancel.key != invite.key


def test_responses_follow_rport_and_received_to_the_real_source() -> None:
    layer = TransactionLayer()
    layer.receive(request("OPTIONS", via_host="10.0.0.9:5060", rport=True),
                  ("127.0.0.1", 40000), "UDP", 0.0)
    (event,) = layer.events()
    assert event.key is not None
    assert event.request.via.received == "127.0.0.1" and event.request.via.rport == 40000
    layer.send_response(event.key, reply(event.request, 200), 0.0)
    (sent,) = layer.sends()
    assert sent.dest == ("127.0.0.1", 40000)


def test_malformed_answerable_request_gets_its_error_and_noise_is_dropped() -> None:
    layer = TransactionLayer()
    bad = (b"OPTIONS sip:100@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bK-x"
           b"\r\nMax-Forwards: 70\r\nFrom: <sip:a@b>;tag=1\r\nTo: <sip:100@127.0.0.1>\r\n"
           b"Call-ID: x@y\r\nCSeq: 1 OPTIONS\r\nContent-Length: -5\r\n\r\n")
    layer.receive_datagram(bad, PEER, "UDP", 0.0)
    (sent,) = layer.sends()
    assert isinstance(sent.message, Response) and sent.message.status == 400
    assert sent.dest == PEER
    layer.receive_datagram(b"\x00\xff garbage \x17", PEER, "UDP", 0.0)
    layer.receive_datagram(b"SIP/7.0 200 OK\r\n\r\n", PEER, "UDP", 0.0)
    assert layer.sends() == [] and layer.events() == [] and layer.live() == 0
    version = bad.replace(b" SIP/2.0\r\n", b" SIP/7.0\r\n", 1).replace(b"-5", b"0")
    layer.receive_datagram(version, PEER, "UDP", 0.0)
    (sent,) = layer.sends()
    assert isinstance(sent.message, Response) and sent.message.status == 505


def test_make_cancel_copies_what_rfc_3261_9_1_says() -> None:
    invite = request()
    cancel = make_cancel(invite)
    assert cancel.method == "CANCEL" and cancel.uri == invite.uri
    assert cancel.via.branch == invite.via.branch and cancel.call_id == invite.call_id
    assert cancel.cseq.seq == 1 and cancel.cseq.method == "CANCEL"
    assert cancel.from_ == invite.from_ and cancel.to == invite.to


def test_many_transactions_all_end_with_nothing_left_behind() -> None:
    layer = TransactionLayer()
    for i in range(200):
        invite = request(branch=f"z9hG4bK-{i}", cseq=i + 1)
        layer.receive(invite, PEER, "UDP", i * 0.01)
        (event,) = layer.events()
        assert event.key is not None
        layer.send_response(event.key, reply(event.request, 486 if i % 2 else 200), i * 0.01)
        if i % 2:
            layer.receive(request("ACK", branch=f"z9hG4bK-{i}", cseq=i + 1), PEER, "UDP", 1.0)
    times(layer, 100)
    layer.events()
    assert layer.live() == 0 and layer.next_deadline() is None
    assert all(isinstance(s, Send) for s in layer.sends())


def test_timer_b_does_not_end_an_invite_that_is_ringing() -> None:
    layer = TransactionLayer()
    invite = request()
    key = layer.send_request(invite, PEER, "UDP", 0.0)
    layer.receive(reply(invite, 180), PEER, "UDP", 0.1)
    layer.events()
    assert times(layer, 120) == [] and layer.events() == []
    assert layer.live() == 1, "still ringing after 64*T1: only a CANCEL or an answer ends it"
    ok = reply(invite, 200)
    layer.receive(ok, PEER, "UDP", 120.0)
    assert layer.events() == [ResponseReceived(key, ok)]


def test_unfinished_counts_only_transactions_still_waiting_for_the_network() -> None:
    layer = TransactionLayer()
    layer.receive(request(), PEER, "UDP", 0.0)
    (event,) = layer.events()
    assert event.key is not None and layer.unfinished() == 1
    layer.send_response(event.key, reply(event.request, 200), 0.0)
    assert layer.unfinished() == 1, "the 2xx waits for its ACK"
    layer.receive(request("ACK", branch="z9hG4bK-ack", to_tag="srv"), PEER, "UDP", 1.0)
    assert layer.unfinished() == 0 and layer.live() == 1, "absorbing only, until timer L"


# ---------------------------------------------------------------------------- admission


def test_an_invite_the_admission_hook_refuses_is_answered_statelessly() -> None:
    layer = TransactionLayer()
    asked: list[tuple[str, float]] = []

    def admit(req: Request, source: tuple[str, int], now: float) -> Response | None:
        asked.append((req.call_id, now))
        return make_response(req, 503, to_tag=stateless_tag(req),
                             headers=[("Retry-After", 5)])

    layer.admit = admit
    layer.receive(request(rport=True), ("127.0.0.1", 5999), "UDP", 1.0)
    (sent,) = layer.sends()
    assert isinstance(sent.message, Response) and sent.message.status == 503
    assert sent.dest == ("127.0.0.1", 5999)  # rport: where it came from
    assert layer.events() == [] and layer.live() == 0 and layer.next_deadline() is None
    # A retransmission gets the same answer without asking (or counting) again.
    layer.receive(request(rport=True), ("127.0.0.1", 5999), "UDP", 1.5)
    assert layer.sends() == [sent]
    assert asked == [("call-1@127.0.0.1", 1.0)]
    assert layer.live() == 0 and layer.next_deadline() is None
    # Its ACK matches no transaction: handed on as a stray ACK, nothing sent.
    layer.receive(request("ACK", to_tag=sent.message.to.tag or ""), PEER, "UDP", 1.6)
    assert layer.sends() == [] and layer.live() == 0
    assert [type(e) for e in layer.events()] == [RequestReceived]
    # Past timer B (64 T1) the client has given up: the same branch again is a new request.
    layer.receive(request(rport=True), ("127.0.0.1", 5999), "UDP", 33.1)
    assert len(layer.sends()) == 1 and asked[-1] == ("call-1@127.0.0.1", 33.1)


def test_the_admission_hook_is_asked_only_about_new_out_of_dialog_invites() -> None:
    layer = TransactionLayer()
    asked: list[str] = []

    def admit(req: Request, source: tuple[str, int], now: float) -> Response | None:
        asked.append(req.method)
        return None  # let it in

    layer.admit = admit
    layer.receive(request(), PEER, "UDP", 0.0)
    assert layer.sends() == []  # let in: a transaction (its 100 Trying waits 200 ms)
    assert layer.live() == 1 and len(layer.events()) == 1
    layer.receive(request(), PEER, "UDP", 0.1)  # its retransmission: not asked
    layer.receive(request(branch="z9hG4bK-2", cseq=2, to_tag="t1"), PEER, "UDP", 0.2)  # re-INVITE
    layer.receive(request("OPTIONS", branch="z9hG4bK-3"), PEER, "UDP", 0.3)
    assert asked == ["INVITE"]


def test_transactions_waiting_out_absorb_timers_keep_only_what_they_resend() -> None:
    """D, I, J, K, L after the ACK and M last up to 32 s: thousands wait at a few hundred
    calls a second, so each keeps at most the one message it may still have to resend."""
    layer = TransactionLayer()
    # client INVITE answered 2xx (timer M): nothing to resend, the dialog ACKs
    invite = request(branch="z9hG4bK-c1")
    layer.send_request(invite, PEER, "UDP", 0.0)
    assert layer.held() == 1  # the INVITE, which is also what timer A resends
    layer.receive(reply(invite, 200), PEER, "UDP", 0.1)
    assert layer.held() == 0
    # client INVITE refused (timer D): keeps the ACK for retransmitted errors
    refused = request(branch="z9hG4bK-c2", cseq=2)
    layer.send_request(refused, PEER, "UDP", 0.0)
    layer.receive(reply(refused, 486), PEER, "UDP", 0.1)
    assert layer.held() == 1
    # client BYE answered (timer K): nothing
    bye = request("BYE", branch="z9hG4bK-c3", cseq=3)
    layer.send_request(bye, PEER, "UDP", 0.0)
    layer.receive(reply(bye, 200), PEER, "UDP", 0.1)
    assert layer.held() == 1
    # server INVITE answered 2xx (timer L): the request (for AckTimedOut) and the 2xx until
    # the ACK, then nothing
    layer.receive(request(branch="z9hG4bK-s1", cseq=4), PEER, "UDP", 0.0)
    (event,) = layer.events()[-1:]
    assert isinstance(event, RequestReceived) and event.key is not None
    layer.send_response(event.key, reply(event.request, 200), 0.1)
    assert layer.held() == 3
    layer.receive(request("ACK", branch="z9hG4bK-a1", cseq=4, to_tag="srv"), PEER, "UDP", 0.2)
    assert layer.held() == 1
    # server BYE answered (timer J): its 200 for retransmitted BYEs
    layer.receive(request("BYE", branch="z9hG4bK-s2", cseq=5), PEER, "UDP", 0.0)
    (event,) = layer.events()[-1:]
    assert isinstance(event, RequestReceived) and event.key is not None
    layer.send_response(event.key, reply(event.request, 200), 0.1)
    assert layer.held() == 2
    # server INVITE refused, then ACKed (timer I): nothing
    layer.receive(request(branch="z9hG4bK-s3", cseq=6), PEER, "UDP", 0.0)
    (event,) = layer.events()[-1:]
    assert isinstance(event, RequestReceived) and event.key is not None
    layer.send_response(event.key, reply(event.request, 486), 0.1)
    assert layer.held() == 3  # the 486, resent on timer G until the ACK
    layer.receive(request("ACK", branch="z9hG4bK-s3", cseq=6, to_tag="srv"), PEER, "UDP", 0.2)
    assert layer.held() == 2
    assert layer.live() == 6
    times(layer, 40)
    assert layer.live() == 0 and layer.held() == 0


def test_cancel_waits_for_a_provisional_and_ends_the_invite_64_t1_after_it() -> None:
    layer = TransactionLayer()
    invite = request()
    key = layer.send_request(invite, PEER, "UDP", 0.0)
    layer.sends()
    assert layer.cancel(key, 0.1)
    assert layer.sends() == [], "no CANCEL before a provisional answer (§9.1)"
    layer.receive(reply(invite, 180), PEER, "UDP", 0.2)
    sent = layer.sends()
    assert [s.message.method for s in sent if isinstance(s.message, Request)] == ["CANCEL"]
    assert not layer.cancel(key, 0.3), "one CANCEL"
    layer.events()
    # The phone answers neither the CANCEL nor the INVITE: the INVITE ends at 0.2 + 64*T1.
    times(layer, 32.1)
    assert [e for e in layer.events() if isinstance(e, TransactionTimedOut)
            and e.method == "INVITE"] == []
    times(layer, 32.3)
    assert TransactionTimedOut(key, "INVITE") in layer.events()
    assert key not in layer.clients


def test_nothing_is_left_to_cancel_once_the_final_answer_came() -> None:
    layer = TransactionLayer()
    invite = request()
    key = layer.send_request(invite, PEER, "UDP", 0.0)
    layer.receive(reply(invite, 486), PEER, "UDP", 0.1)
    layer.sends()
    assert not layer.cancel(key, 0.2) and layer.sends() == []


def test_a_1xx_after_our_cancel_neither_sends_it_again_nor_stops_the_clock() -> None:
    """A phone that rings again (180, 183) after our CANCEL and then vanishes: the 1xx once
    cleared the 64*T1 timer the CANCEL had armed and sent the CANCEL again, which raised
    inside receive() (the 1xx was lost), and the INVITE then waited for ever."""
    layer = TransactionLayer()
    invite = request()
    key = layer.send_request(invite, PEER, "UDP", 0.0)
    layer.receive(reply(invite, 180), PEER, "UDP", 0.1)
    layer.sends()
    layer.events()
    assert layer.cancel(key, 0.2)
    assert [s.message.method for s in layer.sends() if isinstance(s.message, Request)] == [
        "CANCEL"]
    layer.receive(reply(invite, 183), PEER, "UDP", 0.3)
    assert [s for s in layer.sends() if isinstance(s.message, Request)] == [], "one CANCEL"
    assert [type(e) for e in layer.events()] == [ResponseReceived]
    times(layer, 32.3)
    assert TransactionTimedOut(key, "INVITE") in layer.events()
    assert key not in layer.clients


def test_acks_resent_to_our_error_answer_are_absorbed_once_confirmed() -> None:
    layer = TransactionLayer()
    layer.receive(request(), PEER, "UDP", 0.0)
    (event,) = layer.events()
    assert event.key is not None
    layer.send_response(event.key, reply(event.request, 486), 0.0)
    layer.sends()
    for at in (0.6, 0.7, 1.5):  # the ACK, then copies of it (§17.2.1: absorbed)
        layer.receive(request("ACK"), PEER, "UDP", at)
    assert layer.events() == [] and layer.sends() == []
