"""Digest authentication: RFC 7616 §3.9.1 and RFC 2617 §3.5 vectors, then both SIP sides."""

from __future__ import annotations

import dataclasses

import pytest

from switchboard.sip import LocalProtocolError, SipParseError
from switchboard.sip.auth import (
    Challenge,
    Credentials,
    DigestServer,
    Verdict,
    authorize,
    challenges_in,
    compute_ha1,
    compute_response,
    parse_auth_params,
)
from switchboard.sip.build import make_response
from switchboard.sip.message import Request, parse
from tests.sip.samples import INVITE, wire

RFC7616_CHALLENGE = (
    'Digest realm="http-auth@example.org", qop="auth, auth-int", algorithm={alg}, '
    'nonce="7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v", '
    'opaque="FQhe/qaU925kfnzjCev0ciny7QMkPqMAFRtzCUYo5tdS"'
)
RFC7616_CNONCE = "f2/wE4q74E6zIJEtWaHKaf5wv/H5QzzpXusqGemxURZJ"


@pytest.mark.parametrize(
    ("algorithm", "response"),
    [("SHA-256", "753927fa0e85d155564e2e272a28d1802ca10daf4496794697cf8db5856cb6c1"),
     ("MD5", "8ca523f5e9506fed4657c9700eebdbec")],
)  # fmt: skip
def test_rfc7616_example(algorithm: str, response: str) -> None:
    challenge = Challenge.parse(RFC7616_CHALLENGE.format(alg=algorithm))
    assert challenge.qop == ("auth", "auth-int") and challenge.algorithm == algorithm
    credentials = authorize(
        challenge, method="GET", uri="/dir/index.html", username="Mufasa",
        password="Circle of Life", cnonce=RFC7616_CNONCE,
    )  # fmt: skip
    assert credentials.response == response
    assert (credentials.qop, credentials.nc, credentials.opaque) == (
        "auth", "00000001", "FQhe/qaU925kfnzjCev0ciny7QMkPqMAFRtzCUYo5tdS"
    )  # fmt: skip
    assert Credentials.parse(str(credentials)) == credentials


def test_rfc2617_example() -> None:
    challenge = Challenge.parse(
        'Digest realm="testrealm@host.com", qop="auth,auth-int", '
        'nonce="dcd98b7102dd2f0e8b11d0f600bfb0c093", opaque="5ccc069c403ebaf9f0171e9517f40e41"'
    )
    assert challenge.algorithm == "MD5"
    credentials = authorize(
        challenge, method="GET", uri="/dir/index.html", username="Mufasa",
        password="Circle Of Life", cnonce="0a4f113b",
    )  # fmt: skip
    assert credentials.response == "6629fae49393a05397450978507c4ef1"
    ha1 = compute_ha1("MD5", "Mufasa", "testrealm@host.com", "Circle Of Life")
    assert compute_response(
        algorithm="md5", ha1=ha1, nonce="dcd98b7102dd2f0e8b11d0f600bfb0c093", method="GET",
        uri="/dir/index.html", qop="auth", cnonce="0a4f113b", nc="00000001",
    ) == "6629fae49393a05397450978507c4ef1"  # fmt: skip


def test_parse_auth_params() -> None:
    scheme, params = parse_auth_params('Digest a=1,b="x, \\"y\\"" ,  C = tok')
    assert scheme == "Digest" and params == {"a": "1", "b": 'x, "y"', "c": "tok"}
    for bad in ["", "Digest a", 'Digest a="x', "Digest a=1 b=2", "Digest a=1, a=2"]:
        with pytest.raises(SipParseError):
            parse_auth_params(bad)


def test_bad_credentials_are_a_400_and_bad_challenges_a_drop() -> None:
    with pytest.raises(SipParseError) as info:
        Credentials.parse('Digest username="u", realm="r"')
    assert info.value.status == 400
    with pytest.raises(SipParseError) as info:
        Challenge.parse('Basic realm="r"')
    assert info.value.status is None


# --- server side ---------------------------------------------------------------------------------

SECRET = b"0123456789abcdef-test-secret"
URI = "sip:pbx.example.com"


def server(**kwargs: object) -> DigestServer:
    return DigestServer("pbx.example.com", SECRET, **kwargs)  # type: ignore[arg-type]


def answer(challenge: Challenge, password: str = "s3cret", **kwargs: object) -> Credentials:
    return authorize(challenge, method="REGISTER", uri=URI, username="201", password=password,
                     cnonce="c0ffee", **kwargs)  # type: ignore[arg-type]  # fmt: skip


def test_challenges_offer_sha256_then_md5_with_one_nonce() -> None:
    challenges = server().challenges(1000.0)
    assert [c.algorithm for c in challenges] == ["SHA-256", "MD5"]
    assert len({c.nonce for c in challenges}) == 1 and challenges[0].qop == ("auth",)
    assert challenges[0].nonce != server().nonce(1001.0)


@pytest.mark.parametrize("index", [0, 1])
def test_right_password_is_ok_for_both_algorithms(index: int) -> None:
    srv = server()
    credentials = answer(srv.challenges(1000.0)[index])
    assert srv.verify(credentials, method="REGISTER", now=1010.0, password="s3cret",
                      uri=URI) is Verdict.OK  # fmt: skip


def test_ha1_instead_of_password() -> None:
    srv = server()
    credentials = answer(srv.challenges(1000.0)[0])
    ha1 = compute_ha1("SHA-256", "201", "pbx.example.com", "s3cret")
    assert srv.verify(credentials, method="REGISTER", now=1001, ha1=ha1) is Verdict.OK
    md5 = compute_ha1("MD5", "201", "pbx.example.com", "s3cret")
    assert srv.verify(credentials, method="REGISTER", now=1001, ha1={"MD5": md5}) is Verdict.WRONG
    assert srv.verify(credentials, method="REGISTER", now=1001,
                      ha1={"SHA-256": ha1.upper()}) is Verdict.OK  # fmt: skip
    with pytest.raises(LocalProtocolError):
        srv.verify(credentials, method="REGISTER", now=1001)


def test_wrong_inputs_are_wrong() -> None:
    srv = server()
    challenge = srv.challenges(1000.0)[0]
    good = answer(challenge)

    def verdict(credentials: Credentials, method: str = "REGISTER", **kwargs: object) -> Verdict:
        return srv.verify(credentials, method=method, now=1010.0, password="s3cret", **kwargs)  # type: ignore[arg-type]

    assert verdict(answer(challenge, password="nope")) is Verdict.WRONG
    assert verdict(good, method="INVITE") is Verdict.WRONG
    assert verdict(good, uri="sip:other.example.com") is Verdict.WRONG
    assert verdict(good, uri="sip:PBX.example.com") is Verdict.OK  # equivalent URI
    assert verdict(dataclasses.replace(good, realm="other")) is Verdict.WRONG
    assert verdict(dataclasses.replace(good, nonce=good.nonce[:-2] + "AA")) is Verdict.WRONG
    assert verdict(dataclasses.replace(good, nonce="not-ours")) is Verdict.WRONG
    assert verdict(dataclasses.replace(good, nc="1")) is Verdict.WRONG
    assert verdict(dataclasses.replace(good, qop="auth-conf")) is Verdict.WRONG
    assert verdict(dataclasses.replace(good, algorithm="SHA-512")) is Verdict.WRONG
    assert verdict(dataclasses.replace(good, response="ü" * 64)) is Verdict.WRONG
    other_secret = DigestServer("pbx.example.com", b"another-secret-of-16+")
    assert other_secret.verify(good, method="REGISTER", now=1010, password="s3cret") is (
        Verdict.WRONG
    )


def test_nonce_expiry_gives_stale_only_with_the_right_password() -> None:
    srv = server(nonce_lifetime=60.0)
    credentials = answer(srv.challenges(1000.0)[0])
    assert srv.verify(credentials, method="REGISTER", now=1059.0, password="s3cret") is Verdict.OK
    assert srv.verify(credentials, method="REGISTER", now=1061.0, password="s3cret") is (
        Verdict.STALE
    )
    assert srv.verify(credentials, method="REGISTER", now=1061.0, password="x") is Verdict.WRONG
    assert srv.verify(credentials, method="REGISTER", now=990.0, password="s3cret") is (
        Verdict.STALE  # from the future
    )
    stale = srv.challenges(1061.0, stale=True)[0]
    assert stale.stale and Challenge.parse(str(stale)).stale


def test_nonce_bound_to_the_client_address() -> None:
    srv = server()
    challenge = srv.challenges(1000.0, bind="192.0.2.7")[0]
    credentials = answer(challenge)
    kwargs = {"method": "REGISTER", "now": 1001.0, "password": "s3cret"}
    assert srv.verify(credentials, bind="192.0.2.7", **kwargs) is Verdict.OK  # type: ignore[arg-type]
    assert srv.verify(credentials, bind="192.0.2.8", **kwargs) is Verdict.WRONG  # type: ignore[arg-type]


def test_rfc2069_style_and_auth_int_and_sess() -> None:
    srv = server(algorithms=("MD5",))
    base = srv.challenges(1000.0)[0]
    no_qop = answer(dataclasses.replace(base, qop=()))
    assert no_qop.qop is None and no_qop.cnonce is None and "qop" not in str(no_qop)
    assert srv.verify(no_qop, method="REGISTER", now=1001, password="s3cret") is Verdict.OK
    body = b"v=0\r\n"
    auth_int = answer(dataclasses.replace(base, qop=("auth-int",)), body=body)
    assert auth_int.qop == "auth-int"
    assert srv.verify(auth_int, method="REGISTER", now=1001, password="s3cret", body=body) is (
        Verdict.OK
    )
    assert srv.verify(auth_int, method="REGISTER", now=1001, password="s3cret") is Verdict.WRONG
    sess = answer(dataclasses.replace(base, algorithm="MD5-sess"))
    assert srv.verify(sess, method="REGISTER", now=1001, password="s3cret") is Verdict.WRONG
    with pytest.raises(LocalProtocolError):
        answer(dataclasses.replace(base, qop=("auth-conf",)))
    with pytest.raises(LocalProtocolError):
        answer(dataclasses.replace(base, algorithm="SHA-512"))


def test_server_configuration_is_checked() -> None:
    with pytest.raises(LocalProtocolError):
        DigestServer("r", b"short")
    with pytest.raises(LocalProtocolError):
        DigestServer("r", SECRET, algorithms=("SHA-512",))
    with pytest.raises(LocalProtocolError):
        server().nonce(-1.0)


# --- with SIP messages ---------------------------------------------------------------------------


def test_register_challenge_and_answer_round_trip() -> None:
    srv = server(opaque="op1")
    request = parse(wire(INVITE.replace("INVITE sip:bob@biloxi.example.com", f"REGISTER {URI}")
                         .replace("314159 INVITE", "1 REGISTER")))  # fmt: skip
    assert isinstance(request, Request) and srv.credentials(request) is None
    challenge = make_response(request, 401, to_tag="t", headers=srv.challenge_headers(500.0))
    received = parse(challenge.serialize())
    assert received.headers.get_all("WWW-Authenticate")[0].startswith("Digest realm=")
    offered = challenges_in(received)  # type: ignore[arg-type]
    assert [c.algorithm for c in offered] == ["SHA-256", "MD5"] and offered[0].opaque == "op1"
    credentials = authorize(offered[0], method="REGISTER", uri=str(request.uri), username="201",
                            password="s3cret", cnonce="abc123", nc=2)  # fmt: skip
    assert credentials.nc == "00000002"
    retry = parse(
        request.serialize().replace(b"CSeq: 1", b"Authorization: Basic xyz\r\n"
                                    + f"Authorization: {credentials}\r\nCSeq: 2".encode())
    )  # fmt: skip
    assert isinstance(retry, Request)
    found = srv.credentials(retry)
    assert found == credentials
    assert srv.verify(found, method=retry.method, uri=retry.uri, now=510.0,
                      password="s3cret") is Verdict.OK  # fmt: skip
    assert srv.verify(dataclasses.replace(found, opaque=None), method="REGISTER", now=510.0,
                      password="s3cret") is Verdict.WRONG  # fmt: skip


def test_proxy_authentication_headers() -> None:
    srv = server()
    request = parse(wire(INVITE))
    assert isinstance(request, Request)
    headers = srv.challenge_headers(1.0, proxy=True)
    resp = parse(make_response(request, 407, to_tag="t", headers=headers).serialize())
    challenges = challenges_in(resp)  # type: ignore[arg-type]
    assert len(challenges) == 2
    credentials = authorize(challenges[1], method="INVITE", uri=str(request.uri), username="201",
                            password="s3cret", cnonce="x")  # fmt: skip
    with_auth = parse(request.serialize().replace(
        b"CSeq:", f"Proxy-Authorization: {credentials}\r\nCSeq:".encode()))  # fmt: skip
    assert isinstance(with_auth, Request)
    assert srv.credentials(with_auth) is None
    found = srv.credentials(with_auth, proxy=True)
    assert found is not None
    assert srv.verify(found, method="INVITE", now=2.0, password="s3cret") is Verdict.OK


def test_malformed_authorization_in_a_request_is_a_400() -> None:
    request = parse(wire(INVITE + '\nAuthorization: Digest username="201"'))
    assert isinstance(request, Request)
    with pytest.raises(SipParseError) as info:
        server().credentials(request)
    assert info.value.status == 400


def test_other_schemes_and_empty_authorization_are_ignored() -> None:
    request = parse(wire(INVITE + "\nAuthorization:\nAuthorization: Basic eHl6"))
    assert isinstance(request, Request)
    assert server().credentials(request) is None


def test_junk_challenges_are_skipped() -> None:
    request = parse(wire(INVITE))
    assert isinstance(request, Request)
    resp = make_response(request, 401, to_tag="t", headers=[
        ("WWW-Authenticate", 'Basic realm="x"'),
        ("WWW-Authenticate", 'Digest realm="x", nonce="n", algorithm=SHA-512'),
        ("WWW-Authenticate", 'Digest realm="x", nonce="n"'),
    ])  # fmt: skip
    assert [c.algorithm for c in challenges_in(resp)] == ["MD5"]
