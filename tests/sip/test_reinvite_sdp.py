"""Answering a re-INVITE's offer in an established session (hold, unhold): ``renegotiate``."""

from __future__ import annotations

import pytest

from switchboard.sip.sdp import (
    PCMU,
    Direction,
    SdpNegotiationError,
    SessionDescription,
    make_offer,
    negotiate,
    parse_sdp,
    renegotiate,
)


def offer(*lines: str, connection: str = "192.0.2.10", version: int = 1) -> SessionDescription:
    text = ["v=0", f"o=phone 7 {version} IN IP4 192.0.2.10", "s=-", f"c=IN IP4 {connection}",
            "t=0 0", "m=audio 4000 RTP/AVP 0 101", "a=rtpmap:0 PCMU/8000",
            "a=rtpmap:101 telephone-event/8000", *lines]
    return parse_sdp(("\r\n".join(text) + "\r\n").encode())


def first_answer() -> SessionDescription:
    return negotiate(offer("a=sendrecv"), local_ip="203.0.113.5", local_port=30000,
                     session_id=11, session_version=3)


def direction(sdp: SessionDescription) -> Direction:
    assert sdp.audio is not None
    return sdp.direction_of(sdp.audio)


@pytest.mark.parametrize(("lines", "connection", "answered"), [
    (("a=sendonly",), "192.0.2.10", Direction.RECVONLY),
    (("a=inactive",), "192.0.2.10", Direction.INACTIVE),
    (("a=sendrecv",), "0.0.0.0", Direction.RECVONLY),  # RFC 2543 hold: we must not send
    (("a=inactive",), "0.0.0.0", Direction.INACTIVE),
    (("a=recvonly",), "192.0.2.10", Direction.SENDONLY),
])
def test_hold_offers_are_answered_with_the_matching_direction(
        lines: tuple[str, ...], connection: str, answered: Direction) -> None:
    before = first_answer()
    held = offer(*lines, connection=connection, version=2)
    after = renegotiate(held, before)
    assert direction(after) is answered
    assert after.audio is not None and before.audio is not None
    assert (after.connection, after.audio.port) == ("203.0.113.5", 30000), "same media address"
    assert (after.origin.session_id, after.origin.session_version) == (11, 4), "version + 1"
    assert parse_sdp(after.serialize()) == after


def test_unhold_goes_back_to_sendrecv_with_a_new_version() -> None:
    held = renegotiate(offer("a=sendonly", version=2), first_answer())
    resumed = renegotiate(offer("a=sendrecv", version=3), held)
    assert direction(resumed) is Direction.SENDRECV
    assert resumed.origin.session_version == held.origin.session_version + 1 == 5


def test_an_unchanged_offer_keeps_our_session_and_its_version() -> None:
    before = first_answer()
    again = renegotiate(offer("a=sendrecv", version=1), before)
    assert again == before  # a session refresh: nothing changed, no new version


def test_our_offer_as_previous_session_an_outbound_leg() -> None:
    ours = make_offer(local_ip="198.51.100.1", local_port=20002, session_id=9)
    answer = renegotiate(offer("a=inactive"), ours)
    assert answer.audio is not None and answer.audio.codecs[0] == PCMU
    assert direction(answer) is Direction.INACTIVE
    assert (answer.connection, answer.audio.port, answer.origin.session_version) == (
        "198.51.100.1", 20002, 1)


def test_an_offer_we_cannot_take_raises_488() -> None:
    g729 = parse_sdp(b"v=0\r\no=p 1 2 IN IP4 192.0.2.10\r\ns=-\r\nc=IN IP4 192.0.2.10\r\n"
                     b"t=0 0\r\nm=audio 4000 RTP/AVP 18\r\na=rtpmap:18 G729/8000\r\n")
    with pytest.raises(SdpNegotiationError) as err:
        renegotiate(g729, first_answer())
    assert err.value.status == 488
