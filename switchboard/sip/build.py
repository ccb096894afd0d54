"""Building SIP messages (RFC 3261 §8.1.1, §8.2.6): a new request, a response to a request.

The parser, the message types and the serializer live in ``switchboard.sip.message``; this
module only assembles ``Request`` and ``Response`` values from their parts. No IO.
"""

from __future__ import annotations

from collections.abc import Iterable

from switchboard.sip import REASON_PHRASES
from switchboard.sip.headers import (
    Address,
    CSeq,
    LocalProtocolError,
    SipParseError,
    Uri,
    Via,
    is_token,
    parse_address,
)
from switchboard.sip.message import Headers, Request, Response


def make_response(
    request: Request,
    status: int,
    reason: str | None = None,
    *,
    to_tag: str | None = None,
    headers: Iterable[tuple[str, object]] = (),
    body: bytes = b"",
    copy_record_route: bool = False,
) -> Response:
    """A response to ``request`` (RFC 3261 §8.2.6).

    Copies every Via, From, To, Call-ID and CSeq verbatim (and Timestamp on 100), adding
    ``to_tag`` to To unless it has one; ``to_tag`` is required then, except for 100.
    ``copy_record_route`` is for dialog-creating responses (RFC 3261 §12.1.1).
    """
    if not 100 <= status <= 699:
        raise LocalProtocolError(f"bad status {status}")
    fields: list[tuple[str, str]] = [("Via", v) for v in request.headers.get_all("Via")]
    for name in ("From", "To", "Call-ID", "CSeq"):
        value = request.headers.get(name)
        if value is None:
            raise LocalProtocolError(f"request has no {name} header")
        if name == "To" and status != 100:
            value = _tagged(value, to_tag)
        fields.append((name, value))
    if status == 100:
        fields.extend(("Timestamp", v) for v in request.headers.get_all("Timestamp"))
    if copy_record_route:
        fields.extend(("Record-Route", v) for v in request.headers.get_all("Record-Route"))
    extra = Headers(headers)._fields
    reason = REASON_PHRASES.get(status, "Unknown") if reason is None else reason
    if "\r" in reason or "\n" in reason:
        raise LocalProtocolError("CR/LF in reason phrase")
    return Response(status, reason, Headers._trusted((*fields, *extra)), body)


def _tagged(to: str, to_tag: str | None) -> str:
    try:
        address = parse_address(to)
    except SipParseError:  # answering a malformed request: tag the raw text
        address = None
    if address is not None and address.tag is not None:
        return to
    if to_tag is None:
        raise LocalProtocolError("to_tag is required: the request's To has no tag")
    if not is_token(to_tag):
        raise LocalProtocolError(f"bad tag {to_tag!r}")
    return to + ";tag=" + to_tag if address is None else str(address.with_tag(to_tag))


def make_request(
    method: str,
    uri: Uri,
    *,
    via: Via,
    from_: Address,
    to: Address,
    call_id: str,
    cseq: int,
    max_forwards: int = 70,
    headers: Iterable[tuple[str, object]] = (),
    body: bytes = b"",
) -> Request:
    """A request with the mandatory headers of RFC 3261 §8.1.1 first, then ``headers``."""
    if not is_token(method):
        raise LocalProtocolError(f"bad method {method!r}")
    fixed: list[tuple[str, object]] = [
        ("Via", via), ("Max-Forwards", max_forwards), ("From", from_), ("To", to),
        ("Call-ID", call_id), ("CSeq", CSeq(cseq, method)),
    ]  # fmt: skip
    return Request(method, uri, Headers([*fixed, *headers]), body)
