"""SDP (RFC 4566) parsing and audio offer/answer (RFC 3264) with telephone-event (RFC 4733)."""

from __future__ import annotations

import dataclasses

import pytest

from switchboard.sip import LocalProtocolError
from switchboard.sip.sdp import (
    PCMA,
    PCMU,
    TELEPHONE_EVENT,
    Codec,
    Direction,
    Media,
    SdpNegotiationError,
    SdpParseError,
    SessionDescription,
    audio_plan,
    make_offer,
    negotiate,
    parse_sdp,
)
from tests.sip.samples import SDP_OFFER


def sdp(*lines: str) -> bytes:
    return ("\r\n".join(lines) + "\r\n").encode()


def offer_with(*media_lines: str, connection: str = "c=IN IP4 192.0.2.10") -> bytes:
    return sdp("v=0", "o=- 1 1 IN IP4 192.0.2.10", "s=-", connection, "t=0 0", *media_lines)


def test_parse_offer_fields() -> None:
    offer = parse_sdp(SDP_OFFER)
    assert offer.origin.username == "alice" and offer.origin.session_id == 2890844526
    assert offer.connection == "192.0.2.10" and offer.timing == "0 0"
    audio = offer.audio
    assert audio is not None
    assert (audio.kind, audio.port, audio.proto, audio.formats) == (
        "audio",
        49170,
        "RTP/AVP",
        ("8", "0", "101"),
    )
    assert [c.name for c in audio.codecs] == ["PCMA", "PCMU", "telephone-event"]
    assert audio.codecs[2] == Codec("telephone-event", 8000, 101, fmtp="0-15")
    assert audio.ptime == 20 and audio.direction is Direction.SENDRECV
    assert offer.address_of(audio) == "192.0.2.10" and not offer.is_hold


def test_serialize_round_trip_keeps_every_line() -> None:
    text = sdp(
        "v=0", "o=- 7 8 IN IP6 2001:db8::1", "s=call", "i=info", "u=http://x.example/",
        "e=a@example.com", "p=+1 555", "c=IN IP6 2001:db8::1", "b=AS:64", "t=0 0", "r=7d 1h 0",
        "z=0 0", "k=prompt", "a=tool:x", "a=recvonly",
        "m=audio 4000 RTP/AVP 0", "i=audio", "c=IN IP4 192.0.2.9", "b=TIAS:64000",
        "a=rtpmap:0 PCMU/8000", "a=rtcp-mux",
        "m=video 0 RTP/AVP 31", "m=image 5000 udptl t38",
    )  # fmt: skip
    parsed = parse_sdp(text)
    assert parsed.serialize() == text
    assert parse_sdp(parsed.serialize()) == parsed
    assert parsed.media[0].connection == "192.0.2.9" and parsed.addrtype == "IP6"
    assert parsed.direction_of(parsed.media[0]) is Direction.RECVONLY  # session level
    assert parsed.media[2].formats == ("t38",)


def test_static_payload_types_without_rtpmap() -> None:
    parsed = parse_sdp(offer_with("m=audio 4000 RTP/AVP 0 8 18 96"))
    assert parsed.audio is not None
    assert [c.name for c in parsed.audio.codecs] == ["PCMU", "PCMA", "G729"]  # 96: unknown
    t38 = parse_sdp(offer_with("m=image 4000 udptl " + "9" * 5000 + " t38"))
    assert t38.media[0].codecs == ()


def test_lf_line_ends_are_accepted() -> None:
    assert parse_sdp(SDP_OFFER.replace(b"\r\n", b"\n")) == parse_sdp(SDP_OFFER)


@pytest.mark.parametrize(
    "data",
    [b"", b"garbage", b"\xff\xfe", b"v=1\r\n", sdp("v=0", "s=-"), sdp("v=0", "o=bad", "s=-"),
     offer_with("m=audio 4000 RTP/AVP"), offer_with("m=audio 70000 RTP/AVP 0"),
     offer_with("m=audio x RTP/AVP 0"), offer_with("m=audio 4000 RTP/AVP 0 abc"),
     offer_with("m=audio 4000 RTP/AVP 200"), offer_with("m=audio 4000 RTP/AVP 0", "a=rtpmap:0"),
     offer_with("m=audio 4000 RTP/AVP 0", "a=rtpmap:0 PCMU"),
     offer_with("m=audio 4000 RTP/AVP 0", "a=ptime:abc"),
     offer_with("m=audio 4000 RTP/AVP 0", "a=ptime:\u00b2"),
     offer_with("m=audio 4000 RTP/AVP " + "9" * 5000),
     offer_with("m=audio 4000 RTP/AVP 0", connection="c=IN IP4"),
     offer_with("m=audio 4000 RTP/AVP 0", connection="c=IN IP4 1.2.3.4\r\nc=IN IP4 1.2.3.4"),
     offer_with("m=audio 4000 RTP/AVP 0", connection="x=nonsense"),
     offer_with("m=audio 4000 RTP/AVP 0", "t=0 0"), offer_with("m=audio 4000 RTP/AVP 0", "a="),
     offer_with("m=audio 4000 RTP/AVP 0", "bogus line"), offer_with("m=audio 4000 RTP/AVP 0\x00"),
     sdp("v=0", "o=- 1 1 IN IP4 h", "s=-", "t=0 0", "m=audio 4000 RTP/AVP 0")],
)  # fmt: skip
def test_garbage_sdp_is_a_400(data: bytes) -> None:
    with pytest.raises(SdpParseError) as info:
        parse_sdp(data)
    assert info.value.status == 400


# --- negotiation ---------------------------------------------------------------------------------


def answer_to(offer: bytes, **kwargs: object) -> SessionDescription:
    return negotiate(parse_sdp(offer), local_ip="203.0.113.5", local_port=30000, **kwargs)  # type: ignore[arg-type]


def test_answer_picks_the_first_offered_codec_we_support_and_keeps_dtmf() -> None:
    answer = answer_to(SDP_OFFER, session_id=42, session_version=1)
    assert answer.origin.session_id == 42 and answer.origin.address == "203.0.113.5"
    assert answer.connection == "203.0.113.5"
    audio = answer.audio
    assert audio is not None and audio.port == 30000
    assert audio.formats == ("8", "101")  # PCMA is first in the offer
    assert audio.codecs == (PCMA, Codec("telephone-event", 8000, 101, fmtp="0-15"))
    assert audio.direction is Direction.SENDRECV and audio.ptime == 20
    assert parse_sdp(answer.serialize()) == answer


def test_answer_uses_the_offer_numbers_for_dynamic_payloads() -> None:
    offer = offer_with("m=audio 4000 RTP/AVP 96 0 97", "a=rtpmap:96 opus/48000/2",
                       "a=rtpmap:97 telephone-event/8000", "a=fmtp:97 0-16")  # fmt: skip
    audio = answer_to(offer).audio
    assert audio is not None
    assert audio.codecs == (PCMU, Codec("telephone-event", 8000, 97, fmtp="0-16"))


def test_supported_list_filters_codecs() -> None:
    audio = answer_to(SDP_OFFER, supported=(PCMU,)).audio
    assert audio is not None and audio.formats == ("0", "101")
    assert answer_to(SDP_OFFER, telephone_event=False).audio.formats == ("8",)  # type: ignore[union-attr]


def test_no_common_codec_is_a_488() -> None:
    offer = offer_with("m=audio 4000 RTP/AVP 18 101", "a=rtpmap:101 telephone-event/8000")
    with pytest.raises(SdpNegotiationError) as info:
        answer_to(offer)
    assert info.value.status == 488


@pytest.mark.parametrize(
    "media",
    ["m=video 4000 RTP/AVP 31", "m=audio 0 RTP/AVP 0", "m=audio 4000 RTP/SAVP 0",
     "m=image 4000 udptl t38"],
)  # fmt: skip
def test_no_usable_audio_stream_is_a_488(media: str) -> None:
    with pytest.raises(SdpNegotiationError):
        answer_to(offer_with(media))


def test_other_streams_are_refused_with_port_zero() -> None:
    offer = offer_with("m=video 5000 RTP/AVP 31", "m=audio 4000 RTP/AVP 0",
                       "m=audio 4002 RTP/AVP 8")  # fmt: skip
    answer = answer_to(offer)
    assert [(m.kind, m.port, m.formats) for m in answer.media] == [
        ("video", 0, ("31",)), ("audio", 30000, ("0",)), ("audio", 0, ("8",)),
    ]  # fmt: skip


@pytest.mark.parametrize(
    ("offered", "wanted", "answered"),
    [("sendrecv", Direction.SENDRECV, Direction.SENDRECV),
     ("sendonly", Direction.SENDRECV, Direction.RECVONLY),
     ("recvonly", Direction.SENDRECV, Direction.SENDONLY),
     ("inactive", Direction.SENDRECV, Direction.INACTIVE),
     ("sendrecv", Direction.SENDONLY, Direction.SENDONLY),
     ("sendonly", Direction.SENDONLY, Direction.INACTIVE)],
)  # fmt: skip
def test_answer_direction(offered: str, wanted: Direction, answered: Direction) -> None:
    audio = answer_to(offer_with("m=audio 4000 RTP/AVP 0", f"a={offered}"), direction=wanted).audio
    assert audio is not None and audio.direction is answered


@pytest.mark.parametrize(
    ("lines", "connection", "hold"),
    [(("a=sendonly",), "c=IN IP4 192.0.2.10", True), (("a=inactive",), "c=IN IP4 192.0.2.10", True),
     (("a=recvonly",), "c=IN IP4 192.0.2.10", False), ((), "c=IN IP4 0.0.0.0", True),
     ((), "c=IN IP4 192.0.2.10", False)],
)  # fmt: skip
def test_hold_detection(lines: tuple[str, ...], connection: str, hold: bool) -> None:
    offer = parse_sdp(offer_with("m=audio 4000 RTP/AVP 0", *lines, connection=connection))
    assert offer.is_hold is hold


def test_old_style_hold_is_answered_without_sending() -> None:
    audio = answer_to(offer_with("m=audio 4000 RTP/AVP 0", connection="c=IN IP4 0.0.0.0")).audio
    assert audio is not None and audio.direction is Direction.RECVONLY


def test_make_offer_and_plan_both_sides() -> None:
    offer = make_offer(local_ip="198.51.100.1", local_port=20000, session_id=5, session_version=6)
    assert offer.audio is not None
    assert offer.audio.codecs == (PCMU, PCMA, TELEPHONE_EVENT)
    assert parse_sdp(offer.serialize()) == offer
    answer = negotiate(offer, local_ip="203.0.113.5", local_port=30000, supported=(PCMA,))
    ours = audio_plan(offer, answer)  # we offered
    theirs = audio_plan(answer, offer)  # the answerer's view
    assert (ours.remote_ip, ours.remote_port, ours.codec, ours.send, ours.receive) == (
        "203.0.113.5", 30000, PCMA, True, True
    )  # fmt: skip
    assert ours.telephone_event == TELEPHONE_EVENT and ours.ptime == 20
    assert (theirs.remote_ip, theirs.remote_port, theirs.codec) == ("198.51.100.1", 20000, PCMA)


def test_plan_when_the_remote_holds() -> None:
    local = make_offer(local_ip="198.51.100.1", local_port=20000)
    remote = parse_sdp(offer_with("m=audio 4000 RTP/AVP 0", "a=sendonly"))
    plan = audio_plan(local, remote)
    assert (plan.send, plan.receive) == (False, True)
    old_hold = parse_sdp(offer_with("m=audio 4000 RTP/AVP 0", connection="c=IN IP4 0.0.0.0"))
    assert audio_plan(local, old_hold).remote_ip is None and not audio_plan(local, old_hold).send


def test_plan_rejects_an_answer_with_a_codec_we_did_not_offer() -> None:
    local = make_offer(local_ip="198.51.100.1", local_port=20000, codecs=(PCMU,))
    with pytest.raises(SdpNegotiationError):
        audio_plan(local, parse_sdp(offer_with("m=audio 4000 RTP/AVP 8")))


def test_serialize_refuses_line_breaks_in_values() -> None:
    offer = make_offer(local_ip="198.51.100.1", local_port=20000)
    with pytest.raises(LocalProtocolError):
        dataclasses.replace(offer, session_name="a\r\nm=video 1 RTP/AVP 0").serialize()


def test_media_helpers() -> None:
    media = Media("audio", 1, "RTP/AVP", ("0",), attributes=(("rtpmap", "0 PCMU/8000"),))
    assert media.direction is None and media.ptime is None and media.attribute("x") is None
    assert Direction.of(True, False) is Direction.SENDONLY
    assert PCMU.same_format(Codec("pcmu", 8000, 99)) and not PCMU.same_format(PCMA)
