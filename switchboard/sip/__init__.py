"""switchboard's own SIP stack (RFC 3261), sans-IO: bytes and ``now`` in, bytes and events out.

Modules: ``headers`` (names, lists, URIs, addresses, Via, CSeq), ``message`` (the header
list, parse, serialize), ``build`` (new requests and responses), ``framing`` (TCP/TLS
streams), ``sdp`` (offer/answer), ``auth`` (digest, both sides), then the transaction,
dialog and registrar layers.

The protocol vocabulary (``Method``, reason phrases) and the errors live here, shared by
every layer. Errors follow h11: ``LocalProtocolError`` means our own code misused the API;
``RemoteProtocolError`` means the peer sent something we refuse, and its ``status`` is the
response to send (``None``: drop silently).
"""

from __future__ import annotations

from enum import StrEnum
from typing import TYPE_CHECKING, Final

if TYPE_CHECKING:
    from switchboard.sip.message import Request


class SipError(Exception):
    """Base of every error raised by ``switchboard.sip``."""


class LocalProtocolError(SipError):
    """Our own code misused the API (a bug here, not the peer's fault)."""


class RemoteProtocolError(SipError):
    """The peer sent something we refuse.

    ``status`` is the response a server should send (400, 488, 505 ...), or ``None`` when
    the input must be dropped silently (noise, or a malformed response).
    """

    def __init__(self, message: str, status: int | None = 400) -> None:
        super().__init__(message)
        self.status = status


class SipParseError(RemoteProtocolError):
    """A message or header value is malformed.

    ``request`` is what could be read of a bad *request* (at least Via, From, To, Call-ID
    and CSeq, copied raw) so that ``make_response(err.request, err.status, ...)`` can answer
    it; ``None`` when no response can be built.
    """

    def __init__(
        self, message: str, status: int | None = 400, request: Request | None = None
    ) -> None:
        super().__init__(message, status)
        self.request = request


class Method(StrEnum):
    """Methods this stack knows; other tokens still parse (answer 405/501)."""

    INVITE = "INVITE"
    ACK = "ACK"
    BYE = "BYE"
    CANCEL = "CANCEL"
    OPTIONS = "OPTIONS"
    REGISTER = "REGISTER"
    INFO = "INFO"
    UPDATE = "UPDATE"
    PRACK = "PRACK"
    SUBSCRIBE = "SUBSCRIBE"
    NOTIFY = "NOTIFY"
    REFER = "REFER"
    MESSAGE = "MESSAGE"


KNOWN_METHODS: Final = frozenset(m.value for m in Method)

REASON_PHRASES: Final[dict[int, str]] = {
    100: "Trying", 180: "Ringing", 181: "Call Is Being Forwarded", 182: "Queued",
    183: "Session Progress", 200: "OK", 202: "Accepted", 301: "Moved Permanently",
    302: "Moved Temporarily", 400: "Bad Request", 401: "Unauthorized", 403: "Forbidden",
    404: "Not Found", 405: "Method Not Allowed", 407: "Proxy Authentication Required",
    408: "Request Timeout", 413: "Request Entity Too Large", 415: "Unsupported Media Type",
    416: "Unsupported URI Scheme", 420: "Bad Extension", 423: "Interval Too Brief",
    480: "Temporarily Unavailable", 481: "Call/Transaction Does Not Exist",
    482: "Loop Detected", 483: "Too Many Hops", 484: "Address Incomplete", 486: "Busy Here",
    487: "Request Terminated", 488: "Not Acceptable Here", 491: "Request Pending",
    500: "Server Internal Error", 501: "Not Implemented", 502: "Bad Gateway",
    503: "Service Unavailable", 504: "Server Time-out", 505: "Version Not Supported",
    513: "Message Too Large", 600: "Busy Everywhere", 603: "Decline",
    604: "Does Not Exist Anywhere", 606: "Not Acceptable",
}  # fmt: skip
