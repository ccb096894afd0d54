"""Typed header values: URIs, name-addr/addr-spec, Via, CSeq, lists (RFC 3261 §19, §20, §25)."""

from __future__ import annotations

import pytest

from switchboard.sip import LocalProtocolError, SipParseError
from switchboard.sip.headers import (
    CSeq,
    Uri,
    Via,
    canonical_name,
    parse_address,
    parse_params,
    parse_uri,
    quote,
    split_list,
    unquote,
)

# --- URIs --------------------------------------------------------------------------------------


def test_full_sip_uri() -> None:
    uri = parse_uri("sips:alice:secret@[2001:db8::1]:5061;transport=tcp;lr?subject=hi&priority=1")
    assert uri == Uri(
        "sips", "alice", "secret", "[2001:db8::1]", 5061,
        (("transport", "tcp"), ("lr", None)), (("subject", "hi"), ("priority", "1")),
    )  # fmt: skip
    assert str(uri) == "sips:alice:secret@[2001:db8::1]:5061;transport=tcp;lr?subject=hi&priority=1"
    assert uri.transport == "TCP" and uri.is_sip and uri.port_or_default == 5061


def test_uri_defaults_and_scheme_case() -> None:
    uri = parse_uri("SIP:example.com")
    assert (uri.scheme, uri.user, uri.host, uri.port) == ("sip", None, "example.com", None)
    assert uri.transport == "UDP" and uri.port_or_default == 5060
    assert parse_uri("sips:example.com").transport == "TLS"


def test_tel_uri() -> None:
    uri = parse_uri("tel:+1-201-555-0123;phone-context=example.com")
    assert (uri.scheme, uri.user, uri.host) == ("tel", "+1-201-555-0123", "")
    assert uri.param("phone-context") == "example.com"
    assert str(uri) == "tel:+1-201-555-0123;phone-context=example.com"
    with pytest.raises(SipParseError):
        parse_uri("tel:call me")


def test_unknown_scheme_is_kept_opaque() -> None:
    uri = parse_uri("nobodyKnowsThisScheme:totallyopaquecontent")
    assert (uri.scheme, uri.opaque, uri.is_sip) == (
        "nobodyknowsthisscheme",
        "totallyopaquecontent",
        False,
    )
    assert str(parse_uri("soap.beep://192.0.2.103:3002")) == "soap.beep://192.0.2.103:3002"


def test_escaped_uris_compare_equal_to_unescaped() -> None:
    escaped = parse_uri("sip:%75se%72@example.com")
    assert escaped.user == "%75se%72"  # kept as received
    assert escaped.equivalent(parse_uri("sip:user@EXAMPLE.com"))
    assert not escaped.equivalent(parse_uri("sip:USER@example.com"))  # user is case-sensitive
    spaces = parse_uri("sip:I%20have%20spaces@example.net")
    assert spaces.equivalent(parse_uri("sip:I%20have%20spaces@example.net;foo=bar"))
    null = parse_uri("sip:null-%00-null@example.com")
    assert null.user == "null-%00-null"
    escaped_param = parse_uri("sip:cal%6Cer@host5.example.net;%6C%72;n%61me=v%61lue%25%34%31")
    assert escaped_param.params == (("%6c%72", None), ("n%61me", "v%61lue%25%34%31"))


def test_uri_equivalence_rules() -> None:
    base = parse_uri("sip:alice@example.com;transport=tcp")
    assert not base.equivalent(parse_uri("sip:alice@example.com"))  # transport must match
    assert base.equivalent(parse_uri("sip:alice@example.com;transport=TCP;other=x"))
    assert not parse_uri("sip:a@example.com:5060").equivalent(parse_uri("sip:a@example.com"))
    assert not parse_uri("sip:a@h").equivalent(parse_uri("sips:a@h"))
    assert not parse_uri("sip:a@h?x=1").equivalent(parse_uri("sip:a@h"))


def test_semicolons_and_unusual_characters_in_user_part() -> None:
    uri = parse_uri("sip:user;par=u%40example.net@example.com")
    assert (uri.user, uri.host, uri.params) == ("user;par=u%40example.net", "example.com", ())
    crazy = parse_uri(
        "sip:1_unusual.URI~(to-be!sure)&isn't+it$/crazy?,/;;*:&it+has=1,weird!*pas$wo~d_too."
        "(doesn't-it)@example.com"
    )
    assert crazy.user == "1_unusual.URI~(to-be!sure)&isn't+it$/crazy?,/;;*"
    assert crazy.password == "&it+has=1,weird!*pas$wo~d_too.(doesn't-it)"
    assert crazy.host == "example.com"


@pytest.mark.parametrize(
    "text",
    ["", "sip:", "sip:@example.com", "sip:user@", "sip:user@exa mple.com", "sip:host:99999",
     "sip:host:abc", "<sip:host>", "sip:host;=x", "sip:host;a=", "sip:us\"er@host", "sip:[::1",
     "sip:host?x", "9sip:host", "sip:user@host@other"],
)  # fmt: skip
def test_bad_uris(text: str) -> None:
    with pytest.raises(SipParseError) as info:
        parse_uri(text)
    assert info.value.status == 400


def test_uri_param_helpers() -> None:
    uri = parse_uri("sip:a@h;lr")
    assert uri.has_param("lr") and uri.param("lr") is None
    assert str(uri.with_param("transport", "tcp")) == "sip:a@h;lr;transport=tcp"
    assert str(uri.without_param("lr")) == "sip:a@h"
    with pytest.raises(LocalProtocolError):
        uri.with_param("x", "a b")


# --- addresses -----------------------------------------------------------------------------------


def test_name_addr_with_quoted_display_name() -> None:
    a = parse_address('"J Rosenberg \\\\\\"" <sip:jdrosen@example.com> ; tag = 98asjd8')
    assert a.display_name == 'J Rosenberg \\"'
    assert a.tag == "98asjd8"
    assert str(a) == '"J Rosenberg \\\\\\"" <sip:jdrosen@example.com>;tag=98asjd8'
    assert parse_address(str(a)) == a


def test_addr_spec_params_belong_to_the_header() -> None:
    a = parse_address("sip:alice@atlanta.example.com;tag=88sja8x")
    assert a.uri == Uri("sip", "alice", host="atlanta.example.com")
    assert a.tag == "88sja8x" and a.display_name is None
    inside = parse_address("<sip:alice@atlanta.example.com;transport=tcp>;tag=1")
    assert inside.uri.param("transport") == "tcp" and inside.tag == "1"


def test_unquoted_and_utf8_display_names() -> None:
    assert parse_address("Bob  Smith<sip:b@h>").display_name == "Bob Smith"
    assert parse_address('"Ивано Франко" <sip:if@h>').display_name == "Ивано Франко"
    assert parse_address("<sip:b@h>").display_name is None
    assert parse_address('"" <sip:b@h>').display_name == ""


def test_contact_params_and_expires() -> None:
    a = parse_address('<sip:a@192.0.2.4:5062;ob>;expires=3600;+sip.instance="<urn:uuid:1-2>"')
    assert a.expires == 3600
    assert a.param("+sip.instance") == '"<urn:uuid:1-2>"'
    assert parse_address("<sip:a@h>;expires=99999999999999").expires == 2**32 - 1


@pytest.mark.parametrize(
    "text",
    ['"Mr. J. User <sip:j.user@example.com>', "<sip:a@h", "Bell, Alexander <sip:a@h>",
     "<sip:a@h> junk", "sip:a@h?x=1", "", '"a" sip:a@h', "<sip:a@h>;=1",
     "<sip:a@h>;tag=a b"],
)  # fmt: skip
def test_bad_addresses(text: str) -> None:
    with pytest.raises(SipParseError):
        parse_address(text)


def test_address_params_without_value_are_flags() -> None:
    a = parse_address("<sip:a@h>;tag")
    assert a.params == (("tag", None),) and a.tag is None


# --- Via, CSeq -----------------------------------------------------------------------------------


def test_via_with_whitespace_everywhere() -> None:
    via = Via.parse("SIP  /   2.0 /UDP    192.0.2.2 : 5070   ;rport;branch  =   z9hG4bK9ikj8")
    assert via == Via("UDP", "192.0.2.2", 5070, (("rport", None), ("branch", "z9hG4bK9ikj8")))
    assert str(via) == "SIP/2.0/UDP 192.0.2.2:5070;rport;branch=z9hG4bK9ikj8"
    assert via.is_rfc3261_branch


@pytest.mark.parametrize("transport", ["UDP", "TCP", "TLS", "SCTP", "WS", "WSS", "UNKNOWN"])
def test_via_transports(transport: str) -> None:
    assert Via.parse(f"SIP/2.0/{transport.lower()} h;branch=z9hG4bK1").transport == transport


def test_via_received_and_rport() -> None:
    via = Via.parse("SIP/2.0/UDP 10.0.0.5:5060;branch=z9hG4bKx;rport")
    stamped = via.with_received("203.0.113.7", 40123)
    assert str(stamped) == (
        "SIP/2.0/UDP 10.0.0.5:5060;branch=z9hG4bKx;rport=40123;received=203.0.113.7"
    )
    assert stamped.rport == 40123 and stamped.received == "203.0.113.7"
    assert stamped.response_target() == ("203.0.113.7", 40123)
    plain = Via.parse("SIP/2.0/UDP 10.0.0.5;branch=z9hG4bKx")
    assert plain.with_received("10.0.0.5", 5060) == plain
    assert plain.with_received("203.0.113.7", 9).response_target() == ("203.0.113.7", 5060)
    assert Via.parse("SIP/2.0/TLS [2001:db8::2]").response_target() == ("2001:db8::2", 5061)
    assert Via.parse("SIP/2.0/UDP h;maddr=224.0.1.75;ttl=1").response_target()[0] == ("224.0.1.75")
    # A maddr that is a name is not followed: it would need DNS while sending.
    named = Via.parse("SIP/2.0/UDP 10.0.0.5;maddr=evil.example;branch=z9hG4bKx")
    assert named.with_received("203.0.113.7", 9).response_target() == ("203.0.113.7", 5060)


def test_a_second_stamp_replaces_received_and_rport_in_place() -> None:
    via = Via.parse("SIP/2.0/UDP h;received=192.0.2.1;rport=1;branch=z9hG4bKx")
    assert str(via.with_received("192.0.2.9", 7)) == (
        "SIP/2.0/UDP h;received=192.0.2.9;rport=7;branch=z9hG4bKx"
    )


def test_parsed_values_are_memoised_and_bad_text_fails_every_time() -> None:
    text = '"Bob" <sip:bob@example.com;transport=tcp>;tag=a1'
    first, second = parse_address(text), parse_address(text)
    assert first is second  # one parse for the many times a dialog repeats its From and To
    assert Via.parse("SIP/2.0/UDP h;branch=z9hG4bK1") is Via.parse("SIP/2.0/UDP h;branch=z9hG4bK1")
    assert CSeq.parse("1 INVITE") is CSeq.parse("1 INVITE")
    for _ in range(2):
        with pytest.raises(SipParseError):
            parse_address("<sip:bob@example.com")
        with pytest.raises(SipParseError):
            Via.parse("SIP/2.0/UDP h;branch=x;;")


def test_rfc2543_via_without_cookie() -> None:
    via = Via.parse("SIP/2.0/UDP 192.0.2.15;branch=kdjuw")
    assert via.branch == "kdjuw" and not via.is_rfc3261_branch
    assert Via.parse("SIP/2.0/UDP h").branch is None


@pytest.mark.parametrize(
    "text",
    ["", "SIP/2.0/UDP", "SIP/3.0/UDP host", "SIP/2.0 host", "SIP/2.0/UDP host:99999",
     "SIP/2.0/UDP host junk", "SIP/2.0/UDP host;branch=", "HTTP/1.1/TCP host"],
)  # fmt: skip
def test_bad_vias(text: str) -> None:
    with pytest.raises(SipParseError):
        Via.parse(text)


def test_cseq() -> None:
    assert CSeq.parse("0009 INVITE") == CSeq(9, "INVITE")
    assert CSeq.parse(f"{2**32 - 1} ACK").seq == 2**32 - 1
    for bad in ["INVITE", "1", "-1 INVITE", "1 INV ITE", f"{2**32} INVITE", "36893291588 BYE"]:
        with pytest.raises(SipParseError):
            CSeq.parse(bad)


# --- lists, quoting, names -----------------------------------------------------------------------


def test_split_list() -> None:
    assert split_list("a, b,c") == ["a", "b", "c"]
    assert split_list('"x, y" <sip:a@h>, <sip:b,c@h>;p="1,2"') == [
        '"x, y" <sip:a@h>',
        '<sip:b,c@h>;p="1,2"',
    ]
    assert split_list('"a \\" , b", c') == ['"a \\" , b"', "c"]
    assert split_list("a,,b") == ["a", "b"]
    with pytest.raises(SipParseError):
        split_list('"unterminated, x')


def test_quote_unquote() -> None:
    assert quote('a"b\\c') == '"a\\"b\\\\c"'
    assert unquote(quote('a"b\\c')) == 'a"b\\c'
    assert unquote("token") == "token"
    with pytest.raises(LocalProtocolError):
        quote("a\r\nb")


def test_params_and_names() -> None:
    assert parse_params('A=1;lr; q = "x;y"') == (("a", "1"), ("lr", None), ("q", '"x;y"'))
    assert canonical_name("WWW-AUTHENTICATE") == "WWW-Authenticate"
    assert canonical_name("cseq") == "CSeq"
    assert canonical_name("X-Foo") == "X-Foo"
    with pytest.raises(SipParseError):
        canonical_name("Bad:Name")
