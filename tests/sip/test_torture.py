"""Torture messages in the spirit of RFC 4475, written for this suite, with exact outcomes.

Each case is a datagram and what ``parse`` must do: give these fields, raise
``SipParseError`` with this status (and an answerable partial request for 4xx/5xx), or
ask for a silent drop (status ``None``).
"""

from __future__ import annotations

from collections.abc import Callable

import pytest

from switchboard.sip import SipParseError
from switchboard.sip.build import make_response
from switchboard.sip.headers import Uri
from switchboard.sip.message import Limits, Request, Response, parse
from tests.sip.samples import INVITE, RESPONSE, replace_line, wire

DROP = None


def crlf(text: str) -> bytes:
    return text.replace("\n", "\r\n").encode()


# --- valid but tortuous --------------------------------------------------------------------------

WSINV = crlf(
    "INVITE sip:vivekg@chair-dnrc.example.com;unknownparam SIP/2.0\n"
    "TO :\n"
    " sip:vivekg@chair-dnrc.example.com ;   tag    = 1918181833n\n"
    'from   : "J Rosenberg \\\\\\""       <sip:jdrosen@example.com>\n'
    "  ;\n"
    "  tag = 98asjd8\n"
    "MaX-fOrWaRdS: 0068\n"
    "Call-ID: wsinv.ndaksdj@192.0.2.1\n"
    "Content-Length   : 9\n"
    "cseq: 0009\n"
    "  INVITE\n"
    "Via  : SIP  /   2.0\n"
    " /UDP\n"
    "    192.0.2.2;rport;branch=390skdjuw\n"
    "s :\n"
    "NewFangledHeader:   newfangled value\n"
    " continued newfangled value\n"
    "UnknownHeaderWithUnusualValue: ;;,,;;,;\n"
    "Content-Type: application/sdp\n"
    "Route:\n"
    " <sip:services.example.com;lr;unknownwith=value;unknown-no-value>\n"
    "v:  SIP  / 2.0  / TCP     spindle.example.com   ;\n"
    "  branch  =   z9hG4bK9ikj8  ,\n"
    " SIP  /    2.0   / UDP  192.168.255.111   ; branch=\n"
    " z9hG4bK30239\n"
    'm:"Quoted string \\"\\"" <sip:jdrosen@example.com> ; newparam =\n'
    "      newvalue ;\n"
    "  secondparam ; q = 0.33\n"
    "\n"
    "v=0\n"
    "o=x\n"
)


def check_wsinv(msg: Request | Response) -> None:
    assert isinstance(msg, Request)
    assert msg.uri.params == (("unknownparam", None),)
    assert msg.to.uri.user == "vivekg" and msg.to.tag == "1918181833n"
    assert msg.from_.display_name == 'J Rosenberg \\"' and msg.from_.tag == "98asjd8"
    assert msg.max_forwards == 68
    assert msg.cseq.seq == 9 and msg.cseq.method == "INVITE"
    assert [(v.transport, v.host, v.branch) for v in msg.vias] == [
        ("UDP", "192.0.2.2", "390skdjuw"),
        ("TCP", "spindle.example.com", "z9hG4bK9ikj8"),
        ("UDP", "192.168.255.111", "z9hG4bK30239"),
    ]
    assert msg.headers.get("Subject") == ""
    assert msg.headers.get("NewFangledHeader") == "newfangled value continued newfangled value"
    assert msg.headers.get("UnknownHeaderWithUnusualValue") == ";;,,;;,;"
    assert msg.routes[0].uri.params[-1] == ("unknown-no-value", None)
    contact = msg.contacts[0]
    assert contact.display_name == 'Quoted string ""'
    assert contact.params == (("newparam", "newvalue"), ("secondparam", None), ("q", "0.33"))
    assert msg.body == b"v=0\r\no=x\r"  # Content-Length: 9 cuts the datagram


INTMETH_METHOD = "!interesting-Method0123456789_*+`.%indeed'~"
INTMETH = wire(
    f"{INTMETH_METHOD} sip:1_unusual.URI~(to-be!sure)&isn't+it$/crazy?,/;;*:&it+has=1,weird!*pa"
    "s$wo~d_too.(doesn't-it)@example.com SIP/2.0\n"
    "Via: SIP/2.0/TCP host1.example.com;branch=z9hG4bK-.!%66*_+`'~\n"
    'To: "BEL:\\\x07 NUL:\\\x00 DEL:\\\x7f" <sip:1_unusual.URI~(to-be!sure)&isn\'t+it$/crazy?,/;;*'
    "@example.com>\n"
    "From: token1~` token2'+_ token3*%!.- <sip:mundane@example.com>;fromParam''~+*_!.-%="
    '"\u0440\u0430\u0431\u043e\u0442\u0430\u044e\u0449\u0438\u0439";tag=_token~1\'+`*%!-.\n'
    "Call-ID: intmeth.word%ZK-!.*_+'@word`~)(><:\\/\"][?}{\n"
    f"CSeq: 139122385 {INTMETH_METHOD}\n"
    "Max-Forwards: 255\n"
    "extensionHeader-!.%*+_`'~: \ufeff\u5927\u505c\u96fb"
)


def check_intmeth(msg: Request | Response) -> None:
    assert isinstance(msg, Request)
    assert msg.method == INTMETH_METHOD and not msg.is_known_method
    assert msg.uri.password == "&it+has=1,weird!*pas$wo~d_too.(doesn't-it)"
    assert msg.to.display_name == "BEL:\x07 NUL:\x00 DEL:\x7f"
    assert msg.from_.display_name == "token1~` token2'+_ token3*%!.-"
    assert msg.from_.tag == "_token~1'+`*%!-."
    assert msg.call_id == "intmeth.word%ZK-!.*_+'@word`~)(><:\\/\"][?}{"
    assert msg.headers.get("extensionHeader-!.%*+_`'~") == "\ufeff\u5927\u505c\u96fb"


ESC01 = wire(
    "INVITE sip:sips%3Auser%40example.com@example.net SIP/2.0\n"
    "To: sip:%75se%72@example.com\n"
    "From: <sip:I%20have%20spaces@example.net>;tag=938\n"
    "Max-Forwards: 87\n"
    "i: esc01.239409asdfakjkn23onasd0-3234\n"
    "CSeq: 234234 INVITE\n"
    "Via: SIP/2.0/UDP host5.example.net;branch=z9hG4bKkdjuw\n"
    "C: application/sdp\n"
    "Contact:\n"
    "  <sip:cal%6Cer@host5.example.net;%6C%72;n%61me=v%61lue%25%34%31>",
)


def check_esc01(msg: Request | Response) -> None:
    assert isinstance(msg, Request)
    assert msg.uri.user == "sips%3Auser%40example.com" and msg.uri.host == "example.net"
    assert msg.to.uri.equivalent(Uri("sip", "user", host="example.com"))
    assert msg.from_.uri.user == "I%20have%20spaces"
    assert msg.contacts[0].uri.equivalent(
        Uri(
            "sip", "caller", host="host5.example.net", params=(("lr", None), ("name", "value%2541"))
        )
    )
    assert msg.content_type == "application/sdp"


UNREASON = crlf(
    "SIP/2.0 200 = 2**3 * 5**2 \u043d\u043e \u0441\u0442\u043e \u0434\u0435\u0432\u044f\u043d"
    "\u043e\u0441\u0442\u043e \u0434\u0435\u0432\u044f\u0442\u044c - \u043f\u0440\u043e\u0441"
    "\u0442\u043e\u0435\n"
    "Via: SIP/2.0/UDP 192.0.2.198;branch=z9hG4bK1324923\n"
    "Call-ID: unreason.1234ksdfak3j2erwedfsASdf\n"
    "CSeq: 35 INVITE\n"
    "From: sip:user@example.com;tag=11141343\n"
    "To: sip:user@example.edu;tag=2229\n"
    "Content-Length: 0\n\n"
).replace(b"\\u", b"\\u")


def check_unreason(msg: Request | Response) -> None:
    assert isinstance(msg, Response) and msg.status == 200
    assert msg.reason.startswith("= 2**3 * 5**2 но сто")


def check_noreason(msg: Request | Response) -> None:
    assert isinstance(msg, Response) and (msg.status, msg.reason) == (100, "")


LONG_VALUE = "x" * 4000
LONGREQ = wire(
    INVITE.replace("Via:", "\n".join(f"Via: SIP/2.0/TCP h{i}.example.com;branch=z9hG4bK{i}"
                                     for i in range(40)) + "\nVia:")
    + "\nX-Long: " + LONG_VALUE
    + "\nRecord-Route: " + ", ".join(f"<sip:rr{i}.example.com;lr>" for i in range(30))
)  # fmt: skip


def check_longreq(msg: Request | Response) -> None:
    assert len(msg.vias) == 41 and len(msg.record_routes) == 30
    assert msg.headers.get("X-Long") == LONG_VALUE


def check_unknown_scheme(msg: Request | Response) -> None:
    assert isinstance(msg, Request)
    assert (msg.uri.scheme, msg.uri.is_sip) == ("nobodyknowsthisscheme", False)  # UAS: 416
    assert msg.to.uri.opaque == "totallyopaquecontent"


def check_compact(msg: Request | Response) -> None:
    assert isinstance(msg, Request)
    names = [n for n, _ in msg.headers]
    assert names[:6] == ["Via", "Max-Forwards", "To", "From", "Call-ID", "CSeq"]
    assert msg.tokens("Supported") == ("100rel", "timer") and msg.headers.get("Subject") == "hi"


def check_utf8_display(msg: Request | Response) -> None:
    assert msg.from_.display_name == "Мирослава Ґаврилюк 日本"
    assert msg.to.display_name == "Ørsted"


def check_rfc2543(msg: Request | Response) -> None:
    assert not msg.via.is_rfc3261_branch and msg.via.branch is None


def check_zero_max_forwards(msg: Request | Response) -> None:
    assert msg.max_forwards == 0  # the UAS answers 483, the parser accepts it


def check_huge_expires(msg: Request | Response) -> None:
    assert msg.expires == 2**32 - 1


def check_register_auth(msg: Request | Response) -> None:
    assert isinstance(msg, Request) and msg.method == "REGISTER"
    assert (msg.headers.get("Authorization") or "").startswith("Digest username=")
    assert msg.contact_is_wildcard and msg.contacts == ()


def check_multipart(msg: Request | Response) -> None:
    assert msg.content_type == "multipart/mixed" and msg.body.endswith(b"--boundary42--\r\n")


MULTIPART = (
    b"--boundary42\r\nContent-Type: application/sdp\r\n\r\nv=0\r\n"
    b"--boundary42\r\nContent-Type: text/plain\r\n\r\nhello\r\n--boundary42--\r\n"
)

Check = Callable[[Request | Response], None]
VALID: list[tuple[str, bytes, Check]] = [
    ("wsinv", WSINV, check_wsinv),
    ("intmeth", INTMETH, check_intmeth),
    ("esc01", ESC01, check_esc01),
    ("unreason", UNREASON, check_unreason),
    ("noreason", wire(RESPONSE.replace("180 Ringing", "100 ")), check_noreason),
    ("noreason-nospace", wire(RESPONSE.replace("180 Ringing", "100")), check_noreason),
    ("longreq", LONGREQ, check_longreq),
    ("unksm", wire(
        INVITE.replace("INVITE sip:bob@biloxi.example.com", "OPTIONS nobodyKnowsThisScheme:"
                       "totallyopaquecontent").replace("314159 INVITE", "1 OPTIONS")
        .replace("To: Bob <sip:bob@biloxi.example.com>", "To: nobodyKnowsThisScheme:"
                 "totallyopaquecontent")), check_unknown_scheme),
    ("compact", wire(
        "INVITE sip:bob@example.com SIP/2.0\nv: SIP/2.0/UDP h;branch=z9hG4bK1\nMax-Forwards: 1\n"
        "t: <sip:bob@example.com>\nf: <sip:a@example.com>;tag=1\ni: c1\nCSeq: 1 INVITE\n"
        "k: 100rel, timer\ns: hi"), check_compact),
    ("utf8-display", wire(INVITE.replace("From: Alice", '''From: "Мирослава Ґаврилюк 日本"''')
                          .replace("To: Bob", 'To: "Ørsted"')), check_utf8_display),
    ("rfc2543-via", wire(INVITE.replace(";branch=z9hG4bK776asdhds", "")), check_rfc2543),
    ("zeromf", wire(INVITE.replace("Max-Forwards: 70", "Max-Forwards: 0")),
     check_zero_max_forwards),
    ("huge-expires", wire(INVITE + "\nExpires: 10000000000000000000"), check_huge_expires),
    ("huge-expires-digits", wire(INVITE + "\nExpires: " + "9" * 5000), check_huge_expires),
    ("regaut", wire(
        "REGISTER sip:example.com SIP/2.0\nTo: sip:j.user@example.com\n"
        "From: sip:j.user@example.com;tag=87321hj23128\nMax-Forwards: 8\n"
        "Call-ID: regaut01.0ha0isndaksdj\nCSeq: 9338 REGISTER\n"
        "Via: SIP/2.0/TCP 192.0.2.253;branch=z9hG4bKkdjuw\nContact: *\nExpires: 0\n"
        'Authorization: Digest username="user", realm="example.com", nonce="ea9c8e88df84f1ce'
        'c4341ae6cbe5a359", opaque="", uri="sip:example.com", response="dfe56131d1958046689'
        'd83306477ecc"'), check_register_auth),
    ("multipart", wire(INVITE.replace("application/sdp", "multipart/mixed;boundary=boundary42"),
                       MULTIPART), check_multipart),
]  # fmt: skip


@pytest.mark.parametrize(("data", "check"), [(d, c) for _, d, c in VALID],
                         ids=[n for n, _, _ in VALID])  # fmt: skip
def test_valid_torture_message(data: bytes, check: Check) -> None:
    message = parse(data)
    check(message)
    assert parse(message.serialize()) == message


# --- invalid: answer or drop ---------------------------------------------------------------------

HUGE = "Subject: " + "a" * 9000


def without(prefix: str) -> bytes:
    return wire(replace_line(INVITE, prefix, None))


INVALID: list[tuple[str, bytes, int | None]] = [
    ("cl-negative", wire(INVITE).replace(b"Content-Length: 0", b"Content-Length: -999"), 400),
    ("cl-alpha", wire(INVITE).replace(b"Content-Length: 0", b"Content-Length: abc"), 400),
    ("cl-too-big", wire(INVITE, b"v=0\r\n").replace(b"Content-Length: 5", b"Content-Length: 50"),
     400),
    ("cl-plus", wire(INVITE).replace(b"Content-Length: 0", b"Content-Length: +0"), 400),
    ("cl-twice", wire(INVITE + "\nContent-Length: 0"), 400),
    ("cl-overflow", wire(INVITE).replace(b"Content-Length: 0", b"Content-Length: " + b"9" * 40),
     400),
    ("cl-huge-digits", wire(INVITE).replace(b"Content-Length: 0", b"l: " + b"9" * 5000), 400),
    ("cl-unicode-digit", wire(INVITE).replace(b"Length: 0", "Length: \u00b2".encode()), 400),
    ("mf-huge-digits", wire(INVITE.replace("Max-Forwards: 70", "Max-Forwards: " + "7" * 5000)),
     400),
    ("no-call-id", without("Call-ID"), 400),
    ("no-cseq", without("CSeq"), 400),
    ("no-via", without("Via"), 400),
    ("no-from", without("From"), 400),
    ("no-to", without("To"), 400),
    ("no-max-forwards", without("Max-Forwards"), 400),
    ("two-call-ids", wire(INVITE + "\nCall-ID: other@h"), 400),
    ("two-tos", wire(INVITE + "\nt: <sip:x@h>"), 400),
    ("cseq-mismatch", wire(INVITE.replace("314159 INVITE", "314159 ACK")), 400),
    ("cseq-unknown-mismatch", wire(INVITE.replace("INVITE sip:", "NEWMETHOD sip:")), 400),
    ("cseq-overflow", wire(INVITE.replace("314159", "36893291588")), 400),
    ("cseq-negative", wire(INVITE.replace("314159", "-1")), 400),
    ("max-forwards-300", wire(INVITE.replace("Max-Forwards: 70", "Max-Forwards: 300")), 400),
    ("max-forwards-negative", wire(INVITE.replace("Max-Forwards: 70", "Max-Forwards: -1")), 400),
    ("bad-via", wire(INVITE.replace("SIP/2.0/UDP pc33", "SIP/2.0/UDP")), 400),
    ("bad-via-version", wire(INVITE.replace("SIP/2.0/UDP", "SIP/3.0/UDP")), 400),
    ("unterminated-quote", wire(INVITE.replace("To: Bob <", 'To: "Bob <')), 400),
    ("unquoted-comma-display", wire(INVITE.replace("From: Alice", "From: Bell, Alexander")), 400),
    ("missing-gt", wire(INVITE.replace("biloxi.example.com>", "biloxi.example.com")), 400),
    ("bad-call-id", wire(INVITE.replace("Call-ID: a84b", "Call-ID: a b")), 400),
    ("ltgt-ruri", wire(INVITE.replace("INVITE sip:bob@biloxi.example.com",
                                      "INVITE <sip:bob@biloxi.example.com>")), 400),
    ("lws-ruri", wire(INVITE.replace("sip:bob@biloxi.example.com SIP",
                                     "sip:bob@biloxi.example.com; lr SIP")), 400),
    ("lws-start", wire(INVITE.replace("INVITE sip:", "INVITE  sip:")), 400),
    ("trailing-ws", wire(INVITE.replace("SIP/2.0\n", "SIP/2.0 \n", 1)), 400),
    ("bad-ruri", wire(INVITE.replace("sip:bob@biloxi", "sip:bob@bil oxi")), 400),
    ("bad-version-syntax", wire(INVITE.replace("SIP/2.0\n", "SIP/two\n", 1)), 400),
    ("wrong-version", wire(INVITE.replace("SIP/2.0\n", "SIP/7.0\n", 1)), 505),
    ("wrong-version-lower", wire(INVITE.replace("SIP/2.0\n", "sip/1.0\n", 1)), 505),
    ("huge-header", wire(INVITE + "\n" + HUGE), 400),
    ("too-many-headers", wire(INVITE + "".join(f"\nX-H{i}: v" for i in range(120))), 400),
    ("folded-before-any", crlf("INVITE sip:b@h SIP/2.0\n continued\n") + wire(INVITE)[27:], 400),
    ("no-colon", wire(INVITE + "\nThis is not a header"), 400),
    ("bad-header-name", wire(INVITE + "\nBad Name: x"), 400),
    ("nul-in-header", wire(INVITE + "\nSubject: a\x00b"), 400),
    ("bare-cr", wire(INVITE + "\nSubject: a\rb"), 400),
    ("bare-cr-lf-mode", wire(INVITE + "\nSubject: a\rb").replace(b"\r\n", b"\n"), 400),
    ("not-utf8", wire(INVITE).replace(b"Alice", b"Al\xffce"), 400),
    ("no-blank-line", wire(INVITE)[:-4], 400),
    ("too-large", wire(INVITE, b"x" * 70000), 513),
    # dropped: noise, keep-alives, other protocols, malformed responses
    ("empty", b"", DROP),
    ("crlf-keepalive", b"\r\n\r\n", DROP),
    ("binary", bytes(range(256)), DROP),
    ("http", b"GET / HTTP/1.1\r\nHost: example.com\r\n\r\n", DROP),
    ("stun-like", b"\x00\x01\x00\x00\x21\x12\xa4\x42" + b"\x00" * 12, DROP),
    ("two-words", b"INVITE sip:bob@example.com\r\n\r\n", DROP),
    ("bad-method-token", b"INV(ITE sip:bob@example.com SIP/2.0\r\n\r\n", DROP),
    ("response-no-via", wire(replace_line(RESPONSE, "Via", None)), DROP),
    ("response-bad-version", wire(RESPONSE.replace("SIP/2.0 180", "SIP/3.0 180")), DROP),
    ("response-bad-status", wire(RESPONSE.replace("SIP/2.0 180", "SIP/2.0 18")), DROP),
    ("response-status-099", wire(RESPONSE.replace("SIP/2.0 180", "SIP/2.0 099")), DROP),
    ("response-cl-negative", wire(RESPONSE).replace(b"Length: 0", b"Length: -1"), DROP),
    ("response-bad-to", wire(RESPONSE.replace("To: Bob <", "To: Bob ")), DROP),
]  # fmt: skip

ANSWERABLE_ERRORS = {"no-call-id", "no-cseq", "no-via", "no-from", "no-to"}


@pytest.mark.parametrize(("data", "status"), [(d, s) for _, d, s in INVALID],
                         ids=[n for n, _, _ in INVALID])  # fmt: skip
def test_invalid_torture_message(
    data: bytes, status: int | None, request: pytest.FixtureRequest
) -> None:
    with pytest.raises(SipParseError) as info:
        parse(data)
    err = info.value
    assert err.status == status
    name = request.node.callspec.id
    if status is None:
        assert err.request is None
    elif name not in ANSWERABLE_ERRORS:
        assert err.request is not None, "a 4xx/5xx must be answerable"
        answer = make_response(err.request, status, to_tag="t1")
        assert answer.serialize().startswith(f"SIP/2.0 {status} ".encode())
    else:
        assert err.request is None  # no Call-ID/CSeq/Via/From/To: nothing to answer with


def test_max_forwards_can_be_optional() -> None:
    data = wire(replace_line(INVITE, "Max-Forwards", None))
    req = parse(data, Limits(require_max_forwards=False))
    assert req.max_forwards is None


def test_limits_are_configurable() -> None:
    data = wire(INVITE + "\nX-A: 1\nX-B: 2")
    with pytest.raises(SipParseError):
        parse(data, Limits(max_headers=9))
    assert parse(data, Limits(max_headers=10))
    with pytest.raises(SipParseError):
        parse(data, Limits(max_header_line=60))
    with pytest.raises(SipParseError) as info:
        parse(data, Limits(max_message_size=200))
    assert info.value.status == 513
