"""Property tests: parse(serialize(m)) == m, and no input crashes or hangs the parsers (the
work they do is counted, not timed: ``tests/complexity.py``)."""

from __future__ import annotations

import contextlib

from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from switchboard.sip import RemoteProtocolError, SipParseError
from switchboard.sip.auth import Challenge, Credentials
from switchboard.sip.framing import StreamFramer
from switchboard.sip.headers import Address, CSeq, Params, Uri, Via, parse_address, parse_uri
from switchboard.sip.message import Headers, Request, Response, parse
from switchboard.sip.sdp import parse_sdp
from tests.complexity import Work, count_work, is_linear
from tests.sip.samples import INVITE, RESPONSE, SDP_OFFER, wire

SETTINGS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
# What parsing and reading one message may cost, in steps (Python instructions and calls,
# counted by tests/complexity.py, not timed) per byte, a message counting as 1,000 bytes at
# least: the examples cost 4.7 at most, a blow-up costs millions.
STEPS_PER_BYTE = 30

TOKEN_CHARS = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-.!%*_+`'~"
tokens = st.text(TOKEN_CHARS, min_size=1, max_size=12)
lower_tokens = st.text("abcdefghijklmnopqrstuvwxyz0123456789-._", min_size=1, max_size=10)
labels = st.text("abcdefghijklmnopqrstuvwxyz0123456789", min_size=1, max_size=10)
hostnames = st.lists(labels, min_size=1, max_size=4).map(".".join)
ipv4 = st.tuples(*[st.integers(0, 255)] * 4).map(lambda t: ".".join(map(str, t)))
ipv6 = st.lists(st.text("0123456789abcdef", min_size=1, max_size=4), min_size=8, max_size=8).map(
    lambda parts: "[" + ":".join(parts) + "]"
)
hosts = st.one_of(hostnames, ipv4, ipv6)
ports = st.none() | st.integers(0, 65535)
param_values = st.text("abcdefghijklmnopqrstuvwxyz0123456789-_.!~*'()[]/:&+$", min_size=1,
                       max_size=10)  # fmt: skip
params: st.SearchStrategy[Params] = st.lists(
    st.tuples(lower_tokens, st.none() | param_values), max_size=3
).map(tuple)
users = st.text("abcdefghijklmnopqrstuvwxyzABC0123456789-_.!~*'()&=+$,;?/", min_size=1,
                max_size=12)  # fmt: skip

sip_uris = st.builds(
    Uri,
    scheme=st.sampled_from(["sip", "sips"]),
    user=st.none() | users,
    password=st.none(),
    host=hosts,
    port=ports,
    params=params,
    headers=st.lists(st.tuples(labels, labels), max_size=2).map(tuple),
)
tel_uris = st.builds(
    Uri, scheme=st.just("tel"), user=st.text("0123456789-.", min_size=1).map(lambda s: "+" + s),
    params=params,
)  # fmt: skip
uris = st.one_of(sip_uris, tel_uris)
# display names: any text but CR/LF; quote() escapes the rest
display_names = st.none() | st.text(
    st.characters(blacklist_categories=["Cs"], blacklist_characters="\r\n"), max_size=20
)
addresses = st.builds(Address, uri=uris, display_name=display_names, params=params)
vias = st.builds(
    Via,
    transport=st.sampled_from(["UDP", "TCP", "TLS", "WS"]),
    host=hosts,
    port=ports,
    params=st.tuples(tokens.map(lambda t: "z9hG4bK" + t)).map(lambda b: (("branch", b[0]),)),
)
safe_text = st.text(
    st.characters(blacklist_categories=["Cs", "Cc"], blacklist_characters=","), max_size=30
).map(lambda s: s.strip(" \t"))
extra_headers = st.lists(st.tuples(st.sampled_from(["X-Thing", "Subject", "User-Agent"]),
                                   safe_text), max_size=3)  # fmt: skip


@st.composite
def requests(draw: st.DrawFn) -> Request:
    method = draw(st.sampled_from(["INVITE", "ACK", "BYE", "REGISTER"]) | tokens)
    fields: list[tuple[str, object]] = [
        ("Via", v) for v in draw(st.lists(vias, min_size=1, max_size=3))
    ]
    fields += [
        ("Max-Forwards", draw(st.integers(0, 255))),
        ("From", draw(addresses)),
        ("To", draw(addresses)),
        ("Call-ID", draw(tokens)),
        ("CSeq", CSeq(draw(st.integers(0, 2**32 - 1)), method)),
    ]
    fields += [("Contact", a) for a in draw(st.lists(addresses, max_size=2))]
    fields += draw(extra_headers)
    return Request(method, draw(uris), Headers(fields), draw(st.binary(max_size=40)))


@st.composite
def responses(draw: st.DrawFn) -> Response:
    req = draw(requests())
    headers = Headers([(n, v) for n, v in req.headers if n != "Max-Forwards"])
    reason = draw(safe_text)
    return Response(draw(st.integers(100, 699)), reason, headers, req.body)


@SETTINGS
@given(requests())
def test_request_round_trip(message: Request) -> None:
    assert parse(message.serialize()) == message


@SETTINGS
@given(responses())
def test_response_round_trip(message: Response) -> None:
    assert parse(message.serialize()) == message


@SETTINGS
@given(addresses)
def test_address_round_trip(address: Address) -> None:
    assert parse_address(str(address)) == address


@SETTINGS
@given(uris)
def test_uri_round_trip(uri: Uri) -> None:
    assert parse_uri(str(uri)) == uri


@SETTINGS
@given(
    st.builds(
        Challenge,
        realm=safe_text,
        nonce=tokens,
        algorithm=st.sampled_from(["MD5", "SHA-256"]),
        qop=st.just(("auth",)),
        opaque=st.none() | tokens,
        stale=st.booleans(),
    )
)
def test_challenge_round_trip(challenge: Challenge) -> None:
    assert Challenge.parse(str(challenge)) == challenge


@SETTINGS
@given(
    st.builds(
        Credentials,
        username=safe_text,
        realm=safe_text,
        nonce=tokens,
        uri=tokens,
        response=tokens,
        qop=st.just("auth"),
        cnonce=tokens,
        nc=st.just("00000001"),
    )
)
def test_credentials_round_trip(credentials: Credentials) -> None:
    assert Credentials.parse(str(credentials)) == credentials


# --- robustness ------------------------------------------------------------------------------


def parse_or_refuse(data: bytes) -> None:
    """Parse and touch every lazy accessor; only ``SipParseError`` may come out."""
    try:
        message = parse(data)
    except SipParseError as err:
        assert err.status in (None, 400, 505, 513)
        if err.request is not None:
            assert err.status is not None
        return
    with contextlib.suppress(SipParseError):  # lazily parsed: may refuse, must not crash
        message.contacts, message.routes, message.record_routes  # noqa: B018
    assert parse(message.serialize()) == message


def parse_or_refuse_in_bounded_work(data: bytes) -> None:
    """``parse_or_refuse``, in at most ``STEPS_PER_BYTE`` steps per byte."""
    bound = STEPS_PER_BYTE * max(len(data), 1_000)
    steps = count_work(lambda: parse_or_refuse(data), limit=bound + 1).steps
    assert steps <= bound, (steps, data[:80])


@SETTINGS
@given(st.binary(max_size=2000))
@example(b"\x00" * 100)
@example(b"SIP/2.0 200 OK\r\n\r\n")
@example(b"INVITE sip:a@b SIP/2.0\r\n\r\n")
def test_random_bytes_never_crash(data: bytes) -> None:
    parse_or_refuse_in_bounded_work(data)


SEEDS = [wire(INVITE, SDP_OFFER), wire(RESPONSE)]


@st.composite
def mutated(draw: st.DrawFn) -> bytes:
    data = bytearray(draw(st.sampled_from(SEEDS)))
    for _ in range(draw(st.integers(1, 8))):
        headers_only = draw(st.booleans())  # spare the start line half of the time
        at = draw(st.integers(data.find(b"\n") + 1 if headers_only else 0, len(data)))
        op = draw(st.sampled_from(["flip", "insert", "delete"]))
        chunk = draw(
            st.sampled_from(
                [
                    b",",
                    b";",
                    b"<",
                    b">",
                    b'"',
                    b"\\",
                    b" ",
                    b"\r\n",
                    b":",
                    b"=",
                    b"\x00",
                    b"\xff",
                    b"@",
                    b"%",
                    b"\r\n ",
                    b"SIP/",
                ]
            )
        )
        if op == "insert":
            data[at:at] = chunk
        elif op == "delete":
            del data[at : at + draw(st.integers(1, 5))]
        elif at < len(data):
            data[at] = draw(st.integers(0, 255))
    return bytes(data)


@settings(SETTINGS, max_examples=600)
@given(mutated())
def test_mutated_messages_never_crash(data: bytes) -> None:
    parse_or_refuse_in_bounded_work(data)


@SETTINGS
@given(st.binary(max_size=3000))
def test_stream_framer_never_crashes(data: bytes) -> None:
    framer = StreamFramer()
    try:
        for frame in framer.feed(data):
            if frame != b"\r\n\r\n":
                parse_or_refuse_in_bounded_work(frame)
    except SipParseError:
        pass


@SETTINGS
@given(st.binary(max_size=1500) | st.sampled_from([SDP_OFFER]).map(lambda b: b[: len(b) // 2]))
def test_sdp_garbage_is_a_clear_error(data: bytes) -> None:
    try:
        sdp = parse_sdp(data)
    except RemoteProtocolError as err:
        assert err.status == 400
        return
    assert parse_sdp(sdp.serialize()) == sdp


@SETTINGS
@given(st.text(max_size=300))
def test_auth_headers_never_crash(text: str) -> None:
    for kind in (Challenge, Credentials):
        with contextlib.suppress(SipParseError):
            kind.parse(text)


def _nasty(n: int) -> dict[str, bytes]:
    """Messages built to trip regex backtracking or quadratic parsing, with runs of about
    ``n`` characters. Each crafted value comes alone after a request line, as a peer may send
    it (refused for the missing headers before the value is read), and in place of that
    header in a whole INVITE, where its parser reads it."""
    values = {
        "Contact": ['"' * n, "<" * n],
        "Via": ["SIP/2.0/UDP " + " " * n + "x"],
        "To": ["a;" * (n // 2), "<sip:" + "a:" * (n // 2) + ">"],
        "Route": ["<sip:a>," * (n // 8)],
        "From": ['"\\' * (n // 2)],
        "Subject": ["y" + "\n a" * (n // 2)],  # folded: continuation lines
    }
    head = "INVITE sip:a@b SIP/2.0\n"
    messages = {
        "request URI": wire("INVITE sip:" + "a@" * (n // 2) + "b SIP/2.0", content_length=False),
        "many headers": wire(head + "X: y\n" * (n // 5), content_length=False),
        "many headers in an INVITE": wire(INVITE + "\nX: y" * (n // 5)),
        "continuation lines before any header": wire(head + " \n" * (n // 3), content_length=False),
    }
    invite = INVITE.split("\n")
    for name, crafted in values.items():
        for k, value in enumerate(crafted):
            messages[f"{name} {k}"] = wire(head + f"{name}: {value}", content_length=False)
            kept = [line for line in invite if not line.startswith(name + ":")]
            messages[f"{name} {k} in an INVITE"] = wire("\n".join([*kept, f"{name}: {value}"]))
    return messages


def test_pathological_inputs_stay_linear() -> None:
    """Inputs built to trip regex backtracking or quadratic parsing cost work in proportion
    to their size: counted, not timed (``tests/complexity.py``). Python instructions and
    calls (C ones too) and the bytes allocated (a growing copy is one instruction) for runs
    of 1,200 characters are at most 2.3 times those for 600, for 2,400 4.6 times. Each is
    parsed once before it is counted, so that the parse caches hold the same either way.
    What happens inside one C call is not counted: a regular expression that backtracks
    would not show here."""
    LIMIT = 2_000_000  # instructions: 40 times the most one costs; a blow-up fails at once
    costs: dict[str, list[Work]] = {}
    for n in (600, 1_200, 2_400):  # values over 512 characters, which no cache keeps
        for name, data in _nasty(n).items():
            parse_or_refuse(data)
            work = count_work(lambda: parse_or_refuse(data), allocations=True, limit=LIMIT)  # noqa: B023
            costs.setdefault(name, []).append(work)
    for name, runs in costs.items():
        assert is_linear([work.steps for work in runs]), (name, runs)
        assert is_linear([work.allocated for work in runs]), (name, runs)
