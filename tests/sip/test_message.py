"""Parsing, serializing and building SIP messages (RFC 3261 §7, §8, §18.3, §20)."""

from __future__ import annotations

import dataclasses

import pytest

from switchboard.sip import KNOWN_METHODS, LocalProtocolError, Method, SipParseError
from switchboard.sip.build import make_request, make_response
from switchboard.sip.framing import KEEPALIVE, StreamFramer
from switchboard.sip.headers import Address, CSeq, Uri, Via
from switchboard.sip.message import Headers, Limits, Request, Response, parse
from tests.sip.samples import INVITE, RESPONSE, SDP_OFFER, replace_line, wire


def parse_request(data: bytes, **kwargs: Limits) -> Request:
    message = parse(data, **kwargs)
    assert isinstance(message, Request)
    return message


def rejected(data: bytes, limits: Limits | None = None) -> SipParseError:
    with pytest.raises(SipParseError) as info:
        parse(data) if limits is None else parse(data, limits)
    return info.value


# --- a plain INVITE --------------------------------------------------------------------------


def test_invite_fields_are_typed() -> None:
    req = parse_request(wire(INVITE, SDP_OFFER))
    assert req.method == "INVITE" and req.is_known_method
    assert req.uri == Uri("sip", "bob", host="biloxi.example.com")
    assert req.version == "SIP/2.0"
    assert req.via == Via(
        "UDP", "pc33.atlanta.example.com", None, (("branch", "z9hG4bK776asdhds"), ("rport", None))
    )
    assert req.via.branch == "z9hG4bK776asdhds" and req.via.wants_rport
    assert req.from_.display_name == "Alice" and req.from_.tag == "1928301774"
    assert req.to.tag is None and req.to.uri.user == "bob"
    assert req.call_id == "a84b4c76e66710@pc33.atlanta.example.com"
    assert req.cseq == CSeq(314159, "INVITE")
    assert req.max_forwards == 70
    assert req.contacts == (Address(Uri("sip", "alice", host="pc33.atlanta.example.com")),)
    assert req.content_type == "application/sdp"
    assert req.body == SDP_OFFER


def test_content_length_is_framing_not_a_header() -> None:
    req = parse_request(wire(INVITE, SDP_OFFER))
    assert "Content-Length" not in req.headers
    assert req.serialize().count(b"Content-Length") == 1
    assert f"Content-Length: {len(SDP_OFFER)}\r\n\r\n".encode() in req.serialize()
    shorter = dataclasses.replace(req, body=b"v=0\r\n")
    assert b"Content-Length: 5\r\n\r\nv=0\r\n" in shorter.serialize()
    with pytest.raises(LocalProtocolError):
        Headers([("Content-Length", "5")])


def test_serialize_round_trips_and_uses_canonical_names() -> None:
    data = wire(INVITE.replace("Call-ID:", "i:").replace("Contact:", "m:"), SDP_OFFER)
    req = parse_request(data)
    out = req.serialize()
    assert b"\r\nCall-ID: a84b" in out and b"\r\nContact: <sip:alice" in out
    assert parse(out) == req


def test_body_beyond_content_length_is_ignored_on_udp() -> None:
    data = wire(INVITE, SDP_OFFER)
    assert parse_request(data + b"trailing junk").body == SDP_OFFER


def test_missing_content_length_on_udp_takes_the_rest() -> None:
    req = parse_request(wire(INVITE, SDP_OFFER, content_length=False))
    assert req.body == SDP_OFFER


def test_leading_crlf_is_ignored_and_bare_lf_is_accepted() -> None:
    assert parse(b"\r\n\r\n" + wire(INVITE)) == parse(wire(INVITE))
    lf_only = wire(INVITE).replace(b"\r\n", b"\n")
    assert parse(lf_only) == parse(wire(INVITE))


def test_response_is_parsed() -> None:
    resp = parse(wire(RESPONSE))
    assert isinstance(resp, Response)
    assert (resp.status, resp.reason, resp.is_provisional) == (180, "Ringing", True)
    assert resp.to.tag == "a6c85cf"
    assert resp.via.received == "192.0.2.1"
    assert resp.max_forwards is None
    assert parse(resp.serialize()) == resp


# --- header names and values -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("compact", "canonical"),
    [("i", "Call-ID"), ("m", "Contact"), ("f", "From"), ("t", "To"), ("v", "Via"),
     ("c", "Content-Type"), ("k", "Supported"), ("s", "Subject"),
     ("e", "Content-Encoding"), ("o", "Event"), ("u", "Allow-Events"), ("r", "Refer-To"),
     ("b", "Referred-By"), ("x", "Session-Expires")],
)  # fmt: skip
def test_compact_forms_become_canonical(compact: str, canonical: str) -> None:
    assert Headers([(compact, "x")]) == Headers([(canonical, "x")])
    assert Headers([(compact.upper(), "x")]).get(canonical) == "x"


def test_compact_content_length_frames_the_body() -> None:
    data = wire(INVITE, SDP_OFFER).replace(b"Content-Length:", b"l:")
    assert parse_request(data + b"junk").body == SDP_OFFER


def test_names_are_case_insensitive_with_canonical_spelling() -> None:
    text = INVITE.replace("Call-ID:", "cALL-iD:").replace("CSeq:", "CSEQ:")
    req = parse_request(wire(text + "\nX-Custom-Thing: kept"))
    names = [name for name, _ in req.headers]
    assert "Call-ID" in names and "CSeq" in names
    assert "X-Custom-Thing" in names  # unknown names keep their spelling
    assert req.headers.get("x-custom-thing") == "kept"
    assert req.headers.get("call-id") == req.headers.get("i") == req.call_id


def test_multi_value_headers_split_respecting_quotes_and_brackets() -> None:
    text = (
        INVITE.replace(
            "Contact: <sip:alice@pc33.atlanta.example.com>",
            'Contact: "Doe, John" <sip:j,1@a.example.com;x=1>, <sip:k@b.example.com>;q=0.5',
        )
        + "\nRoute: <sip:p1.example.com;lr>, <sip:p2.example.com;lr>"
        + "\nAllow: INVITE, ACK,CANCEL , BYE"
        + "\nSupported: replaces, timer"
        + "\nRecord-Route: <sip:p3.example.com;lr>"
        + "\nSubject: hello, world"
    )
    req = parse_request(wire(text))
    assert [c.display_name for c in req.contacts] == ["Doe, John", None]
    assert req.contacts[0].uri.user == "j,1" and req.contacts[0].uri.params == (("x", "1"),)
    assert req.contacts[1].param("q") == "0.5"
    assert [str(r.uri) for r in req.routes] == ["sip:p1.example.com;lr", "sip:p2.example.com;lr"]
    assert req.tokens("Allow") == ("INVITE", "ACK", "CANCEL", "BYE")
    assert req.tokens("Supported") == ("replaces", "timer")
    assert len(req.record_routes) == 1
    assert req.headers.get("Subject") == "hello, world"  # not a list header
    assert parse(req.serialize()) == req


def test_via_list_in_one_line_and_over_several_lines() -> None:
    one = INVITE.replace(
        "Via: SIP/2.0/UDP pc33.atlanta.example.com;branch=z9hG4bK776asdhds;rport",
        "Via: SIP/2.0/UDP p1.example.com;branch=z9hG4bKa, SIP/2.0/TCP p2.example.com:5070"
        ";branch=z9hG4bKb",
    )
    req = parse_request(wire(one))
    assert [(v.transport, v.host, v.port) for v in req.vias] == [
        ("UDP", "p1.example.com", None),
        ("TCP", "p2.example.com", 5070),
    ]
    two = one.replace(", SIP/2.0/TCP", "\nVia: SIP/2.0/TCP")
    assert parse_request(wire(two)).headers == req.headers


def test_folded_headers_are_unfolded() -> None:
    text = replace_line(INVITE, "Subject", None) if "Subject" in INVITE else INVITE
    text += "\nSubject: I know you're there,\n      pick up the phone\n\tand talk to me!"
    req = parse_request(wire(text))
    assert req.headers.get("Subject") == ("I know you're there, pick up the phone and talk to me!")


def test_headers_are_immutable_and_editable_by_copy() -> None:
    h = Headers([("Via", "SIP/2.0/UDP a;branch=z9hG4bK1"), ("To", "<sip:b@c>")])
    h2 = h.prepend("Via", "SIP/2.0/UDP b;branch=z9hG4bK2")
    assert h.get_all("Via") == ("SIP/2.0/UDP a;branch=z9hG4bK1",)
    assert h2.get_all("v") == ("SIP/2.0/UDP b;branch=z9hG4bK2", "SIP/2.0/UDP a;branch=z9hG4bK1")
    assert list(h2.set("Via", "SIP/2.0/TCP z")) == [("Via", "SIP/2.0/TCP z"), ("To", "<sip:b@c>")]
    assert "Via" not in h.remove("via") and len(h.remove("via")) == 1
    assert h.add("Supported", "timer, 100rel").get_all("Supported") == ("timer", "100rel")
    with pytest.raises(LocalProtocolError):
        h.add("Subject", "bad\r\nInjected: yes")
    with pytest.raises(LocalProtocolError):
        h.add("Bad Name", "x")


# --- methods -----------------------------------------------------------------------------------


def test_known_methods() -> None:
    assert {m.value for m in Method} == {
        "INVITE", "ACK", "BYE", "CANCEL", "OPTIONS", "REGISTER", "INFO", "UPDATE", "PRACK",
        "SUBSCRIBE", "NOTIFY", "REFER", "MESSAGE",
    }  # fmt: skip
    assert {m.value for m in Method} == KNOWN_METHODS


def test_unknown_method_is_parsed_not_rejected() -> None:
    text = INVITE.replace("INVITE sip:", "PUBLISHX sip:").replace("314159 INVITE", "1 PUBLISHX")
    req = parse_request(wire(text))
    assert req.method == "PUBLISHX" and not req.is_known_method


def test_methods_are_case_sensitive() -> None:
    text = INVITE.replace("INVITE sip:", "invite sip:")
    err = rejected(wire(text))  # CSeq says INVITE: mismatch
    assert err.status == 400


# --- building responses and requests ---------------------------------------------------------


def test_make_response_copies_the_rfc_3261_headers() -> None:
    req = parse_request(
        wire(
            INVITE.replace("Max-Forwards", "Timestamp: 54\nRecord-Route: <sip:p;lr>\nMax-Forwards")
        )
    )
    resp = make_response(req, 180, to_tag="xyz")
    assert isinstance(resp, Response) and resp.reason == "Ringing"
    assert resp.headers.get_all("Via") == req.headers.get_all("Via")
    assert resp.from_ == req.from_ and resp.call_id == req.call_id and resp.cseq == req.cseq
    assert resp.to == req.to.with_tag("xyz")
    assert "Timestamp" not in resp.headers and "Record-Route" not in resp.headers
    assert "Contact" not in resp.headers and resp.body == b""
    trying = make_response(req, 100)
    assert trying.to.tag is None and trying.headers.get("Timestamp") == "54"
    ok = make_response(
        req,
        200,
        to_tag="xyz",
        copy_record_route=True,
        body=b"v=0\r\n",
        headers=[("Contact", "<sip:bob@192.0.2.4>"), ("Content-Type", "x/y")],
    )
    assert ok.headers.get("Record-Route") == "<sip:p;lr>"
    assert ok.contacts[0].uri.host == "192.0.2.4" and ok.body == b"v=0\r\n"
    assert parse(ok.serialize()) == ok


def test_make_response_keeps_an_existing_to_tag_and_demands_one_otherwise() -> None:
    req = parse_request(
        wire(
            INVITE.replace(
                "To: Bob <sip:bob@biloxi.example.com>", "To: <sip:bob@biloxi.example.com>;tag=old"
            )
        )
    )
    assert make_response(req, 486).to.tag == "old"
    fresh = parse_request(wire(INVITE))
    with pytest.raises(LocalProtocolError):
        make_response(fresh, 486)
    with pytest.raises(LocalProtocolError):
        make_response(fresh, 486, to_tag="bad tag")
    with pytest.raises(LocalProtocolError):
        make_response(fresh, 99, to_tag="t")
    assert make_response(fresh, 699, "Custom", to_tag="t").reason == "Custom"


def test_make_request_builds_a_parseable_request() -> None:
    req = make_request(
        "OPTIONS",
        Uri("sip", "bob", host="example.com"),
        via=Via("UDP", "192.0.2.1", 5060, (("branch", "z9hG4bKabc"),)),
        from_=Address(Uri("sip", "alice", host="example.com"), "Alice", (("tag", "t1"),)),
        to=Address(Uri("sip", "bob", host="example.com")),
        call_id="c1@192.0.2.1",
        cseq=7,
        headers=[("Accept", "application/sdp")],
    )
    assert parse(req.serialize()) == req
    assert req.cseq == CSeq(7, "OPTIONS") and req.max_forwards == 70
    with pytest.raises(LocalProtocolError):
        make_request(
            "BAD METHOD", req.uri, via=req.via, from_=req.from_, to=req.to, call_id="x", cseq=1
        )


def test_answering_a_malformed_request_uses_the_partial_request() -> None:
    err = rejected(wire(INVITE.replace("Max-Forwards: 70", "Max-Forwards: many")))
    assert err.status == 400 and err.request is not None
    resp = make_response(err.request, err.status, to_tag="t")
    assert resp.status == 400 and resp.call_id == "a84b4c76e66710@pc33.atlanta.example.com"
    assert resp.to.tag == "t"
    assert parse(resp.serialize()) == resp


def test_partial_request_with_a_broken_to_gets_a_raw_tag() -> None:
    err = rejected(wire(INVITE.replace("To: Bob <sip:bob@biloxi.example.com>", "To: Bob <sip:")))
    assert err.status == 400 and err.request is not None
    resp = make_response(err.request, 400, to_tag="t9")
    assert resp.headers.get("To") == "Bob <sip:;tag=t9"


# --- stream framing --------------------------------------------------------------------------


def test_stream_framer_cuts_messages_byte_by_byte() -> None:
    one = wire(INVITE, SDP_OFFER)
    two = wire(RESPONSE)
    stream = KEEPALIVE + one + two + b"\r\n" + one
    framer = StreamFramer()
    frames: list[bytes] = []
    for i in range(len(stream)):
        frames += framer.feed(stream[i : i + 1])
    assert frames == [KEEPALIVE, one, two, one]
    assert framer.buffered == 0
    assert [type(parse(f)) for f in frames[1:]] == [Request, Response, Request]


def test_stream_framer_needs_content_length_and_limits_size() -> None:
    with pytest.raises(SipParseError) as info:
        StreamFramer().feed(wire(INVITE, content_length=False))
    assert info.value.status == 400
    with pytest.raises(SipParseError) as info:
        StreamFramer().feed(wire(INVITE).replace(b"Content-Length: 0", b"Content-Length: 99999"))
    assert info.value.status == 513
    framer = StreamFramer(Limits(max_message_size=1000))
    with pytest.raises(SipParseError):
        framer.feed(b"INVITE sip:x SIP/2.0\r\n" + b"X: y\r\n" * 200)


def test_stream_framer_rejects_conflicting_content_lengths() -> None:
    data = wire(INVITE + "\nl: 2", b"abc")
    with pytest.raises(SipParseError):
        StreamFramer().feed(data)


def test_a_stamped_top_via_keeps_the_rest_and_what_was_parsed() -> None:
    second = "SIP/2.0/UDP proxy.example.com;branch=z9hG4bKp1"
    text = INVITE.replace("Max-Forwards: 70", f"Via: {second}\nMax-Forwards: 70")
    request = parse(wire(text, SDP_OFFER))
    assert isinstance(request, Request)
    top = request.via.with_received("192.0.2.7", 5070)
    stamped = request.with_top_via(top)
    assert stamped.vias == (top, request.vias[1])
    assert stamped.from_ is request.from_ and stamped.cseq is request.cseq  # not re-parsed
    assert stamped.headers.get_all("Via") == (str(top), second)
    # What it says on the wire is what it holds.
    again = parse(stamped.serialize())
    assert isinstance(again, Request)
    assert (again.vias, again.from_, again.to, again.call_id, again.cseq, again.body) == (
        stamped.vias, stamped.from_, stamped.to, stamped.call_id, stamped.cseq, stamped.body)
    assert "received=192.0.2.7" in str(again.via) and "rport=5070" in str(again.via)
    assert request.via.param("received") is None  # the original is unchanged
