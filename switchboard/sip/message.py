"""SIP messages (RFC 3261 §7, §18.3): the header list, ``Request`` and ``Response``, parse
and serialize. No IO.

``parse(datagram)`` returns a ``Request`` or ``Response``, or raises ``SipParseError`` whose
``status`` says what a server should answer (400, 505, 513) or ``None`` for a silent drop.
Messages are immutable; change them with ``dataclasses.replace`` and the ``Headers`` methods.
``Content-Length`` is framing, not data: it is checked and removed on parse and always
recomputed by ``serialize``. Building new requests and responses is ``sip.build``; cutting a
TCP/TLS stream into messages is ``sip.framing``.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from functools import cached_property
from typing import Final

from switchboard.sip import KNOWN_METHODS as KNOWN_METHODS
from switchboard.sip import Method as Method
from switchboard.sip.headers import (
    CANONICAL_NAMES,
    LIST_HEADERS,
    Address,
    CSeq,
    LocalProtocolError,
    SipParseError,
    Uri,
    Via,
    canonical_name,
    delta_seconds,
    is_token,
    parse_address,
    parse_uri,
    split_list,
)


@dataclass(frozen=True, slots=True)
class Limits:
    """Parser limits; a message over them is refused before it costs much."""

    max_message_size: int = 65536
    max_header_line: int = 8192  # one header after unfolding, name included
    max_headers: int = 100  # header values after splitting comma lists
    require_max_forwards: bool = True  # RFC 3261 §8.1.1: a request MUST carry it


DEFAULT_LIMITS: Final = Limits()


_SINGLE: Final = ("call-id", "cseq", "from", "to", "max-forwards", "content-type")
_REQUIRED: Final = ("Via", "From", "To", "Call-ID", "CSeq")
_REQUIRED_KEYS: Final = ("via", "from", "to", "call-id", "cseq", "max-forwards")
_LIST, _LENGTH = 1, 2  # kinds of header (0: plain)
_FIELD_INFO: Final[dict[str, tuple[str, str, int]]] = {
    spelling: (
        canonical,
        canonical.lower(),
        _LENGTH if canonical == "Content-Length" else _LIST * (canonical.lower() in LIST_HEADERS),
    )
    for key, canonical in CANONICAL_NAMES.items()
    for spelling in (key, canonical)
}


def _key(name: str) -> str:
    """Lookup key of a header name: its canonical spelling, lower-cased."""
    info = _FIELD_INFO.get(name) or _FIELD_INFO.get(name.lower())
    return name.lower() if info is None else info[1]


class Headers:
    """Ordered, immutable header list; names canonical, lookups case-insensitive.

    A comma list (``Via: a, b``) is stored as one entry per value. Mutators return a copy.
    """

    __slots__ = ("_fields", "_index")

    def __init__(self, fields: Iterable[tuple[str, object]] = ()) -> None:
        checked: list[tuple[str, str]] = []
        for name, value in fields:
            text = str(value).strip(" \t")
            if "\r" in text or "\n" in text or _has_control(text):
                raise LocalProtocolError(f"control character in {name} header")
            try:
                name = canonical_name(name)
                if name.lower() in LIST_HEADERS and "," in text:
                    checked.extend((name, v) for v in split_list(text))
                    continue
            except SipParseError as exc:
                raise LocalProtocolError(f"{name}: {exc}") from None
            if name == "Content-Length":
                raise LocalProtocolError("Content-Length is computed by serialize()")
            checked.append((name, text))
        self._fields: tuple[tuple[str, str], ...] = tuple(checked)
        self._index: dict[str, list[str]] | None = None

    @classmethod
    def _trusted(
        cls, fields: tuple[tuple[str, str], ...], index: dict[str, list[str]] | None = None
    ) -> Headers:
        h = cls.__new__(cls)
        h._fields = fields
        h._index = index
        return h

    def _lookup(self) -> dict[str, list[str]]:
        if self._index is None:
            index: dict[str, list[str]] = {}
            for name, value in self._fields:
                index.setdefault(name.lower(), []).append(value)
            self._index = index
        return self._index

    def get(self, name: str) -> str | None:
        """The first value of ``name``, or ``None``."""
        values = self._lookup().get(_key(name))
        return values[0] if values else None

    def get_all(self, name: str) -> tuple[str, ...]:
        """Every value of ``name`` in order (comma lists already split)."""
        return tuple(self._lookup().get(_key(name), ()))

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and _key(name) in self._lookup()

    def __iter__(self) -> Iterator[tuple[str, str]]:
        return iter(self._fields)

    def __len__(self) -> int:
        return len(self._fields)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Headers) and self._fields == other._fields

    def __hash__(self) -> int:
        return hash(self._fields)

    def __repr__(self) -> str:
        return f"Headers({list(self._fields)!r})"

    def add(self, name: str, value: object) -> Headers:
        """A copy with ``name: value`` appended."""
        return Headers._trusted(self._fields + Headers([(name, value)])._fields)

    def prepend(self, name: str, value: object) -> Headers:
        """A copy with ``name: value`` before the first ``name`` (or first of all)."""
        new = Headers([(name, value)])._fields
        key = new[0][0].lower()
        at = next((i for i, (n, _) in enumerate(self._fields) if n.lower() == key), 0)
        return Headers._trusted(self._fields[:at] + new + self._fields[at:])

    def set(self, name: str, *values: object) -> Headers:
        """A copy where ``name`` has exactly ``values``, placed where ``name`` first was."""
        new = Headers([(name, v) for v in values])._fields
        key = _key(name)
        at = next((i for i, (n, _) in enumerate(self._fields) if n.lower() == key), None)
        rest = tuple(f for f in self._fields if f[0].lower() != key)
        if at is None:
            return Headers._trusted(rest + new)
        return Headers._trusted(rest[:at] + new + rest[at:])

    def remove(self, name: str) -> Headers:
        """A copy without any ``name`` header."""
        return self.set(name)


class _Message:
    """Typed header accessors shared by requests and responses (parsed once, cached)."""

    headers: Headers
    body: bytes

    def _required(self, name: str) -> str:
        value = self.headers.get(name)
        if value is None:
            raise LocalProtocolError(f"message has no {name} header")
        return value

    @cached_property
    def vias(self) -> tuple[Via, ...]:
        """Every Via, top first."""
        return tuple(Via.parse(v) for v in self.headers.get_all("Via"))

    @property
    def via(self) -> Via:
        """The top Via."""
        if not self.vias:
            raise LocalProtocolError("message has no Via header")
        return self.vias[0]

    @cached_property
    def from_(self) -> Address:
        """The From address."""
        return parse_address(self._required("From"))

    @cached_property
    def to(self) -> Address:
        """The To address."""
        return parse_address(self._required("To"))

    @cached_property
    def cseq(self) -> CSeq:
        """The CSeq."""
        return CSeq.parse(self._required("CSeq"))

    @cached_property
    def call_id(self) -> str:
        """The Call-ID (validated as ``word[@word]``)."""
        return _call_id(self._required("Call-ID"))

    @cached_property
    def max_forwards(self) -> int | None:
        """Max-Forwards (0-255), ``None`` when absent."""
        value = self.headers.get("Max-Forwards")
        return None if value is None else _max_forwards(value)

    @cached_property
    def contacts(self) -> tuple[Address, ...]:
        """Contact addresses; empty for ``Contact: *`` (see ``contact_is_wildcard``)."""
        return tuple(parse_address(v) for v in self.headers.get_all("Contact") if v != "*")

    @property
    def contact_is_wildcard(self) -> bool:
        """True for ``Contact: *`` (REGISTER: remove all bindings)."""
        return self.headers.get_all("Contact") == ("*",)

    @cached_property
    def routes(self) -> tuple[Address, ...]:
        """Route set, in order."""
        return tuple(parse_address(v) for v in self.headers.get_all("Route"))

    @cached_property
    def record_routes(self) -> tuple[Address, ...]:
        """Record-Route set, in order."""
        return tuple(parse_address(v) for v in self.headers.get_all("Record-Route"))

    @property
    def expires(self) -> int | None:
        """The Expires header in seconds (capped at 2**32-1), ``None`` when absent or bad."""
        return delta_seconds(self.headers.get("Expires"))

    @property
    def content_type(self) -> str | None:
        """Media type of the body, lower-cased, without parameters (``application/sdp``)."""
        value = self.headers.get("Content-Type")
        return None if value is None else value.partition(";")[0].strip(" \t").lower()

    def tokens(self, name: str) -> tuple[str, ...]:
        """Values of a token-list header (Allow, Supported, Require ...)."""
        return tuple(v for v in self.headers.get_all(name) if v)


# The parsed headers _Message caches (cached_property), by attribute name.
_CACHED: Final = frozenset(
    name for name, value in vars(_Message).items() if isinstance(value, cached_property))

_CALL_ID_RE: Final = re.compile(r"[!-~]+")


def _call_id(value: str) -> str:
    if not _CALL_ID_RE.fullmatch(value):
        raise SipParseError(f"bad Call-ID {value!r}")
    return value


def _max_forwards(value: str) -> int:
    if not value.isascii() or not value.isdigit() or len(value) > 10 or int(value) > 255:
        raise SipParseError(f"bad Max-Forwards {value!r}")
    return int(value)


@dataclass(frozen=True, eq=True)
class Request(_Message):
    """A SIP request."""

    method: str
    uri: Uri
    headers: Headers
    body: bytes = b""
    version: str = "SIP/2.0"

    @property
    def is_known_method(self) -> bool:
        """True for the methods in ``Method``; a UAS answers others with 405 or 501."""
        return self.method in KNOWN_METHODS

    def serialize(self) -> bytes:
        """Wire form; Content-Length is recomputed."""
        return _serialize(f"{self.method} {self.uri} {self.version}", self.headers, self.body)

    def with_top_via(self, via: Via) -> Request:
        """A copy whose top Via is ``via`` (a server stamps received/rport on it, RFC 3261
        §18.2.1, RFC 3581). What was parsed of the other headers carries over, parsed once."""
        vias = self.vias
        if not vias:
            raise LocalProtocolError("message has no Via header")
        values = list(self.headers.get_all("Via"))
        values[0] = str(via)
        old = self.headers
        headers = old.set("Via", *values)
        if old._index is not None:  # the other headers are the same: so is their index
            headers._index = {**old._index, "via": values}
        copy = Request(self.method, self.uri, headers, self.body, self.version)
        cache = copy.__dict__
        for name, value in self.__dict__.items():
            if name in _CACHED:
                cache[name] = value
        cache["vias"] = (via, *vias[1:])
        return copy


@dataclass(frozen=True, eq=True)
class Response(_Message):
    """A SIP response."""

    status: int
    reason: str
    headers: Headers
    body: bytes = b""
    version: str = "SIP/2.0"

    @property
    def is_provisional(self) -> bool:
        """1xx."""
        return self.status < 200

    def serialize(self) -> bytes:
        """Wire form; Content-Length is recomputed."""
        return _serialize(f"{self.version} {self.status} {self.reason}", self.headers, self.body)


def _serialize(start: str, headers: Headers, body: bytes) -> bytes:
    lines = [start]
    lines.extend(f"{n}: {v}" for n, v in headers)
    lines.append(f"Content-Length: {len(body)}\r\n\r\n")
    return "\r\n".join(lines).encode() + body


# ---------------------------------------------------------------------------------------------
# Parsing

_REQUEST_LINE_RE: Final = re.compile(r"([!-~]+) ([!-~]+) ([!-~]+)")
_VERSION_RE: Final = re.compile(r"SIP/[0-9]{1,3}\.[0-9]{1,3}", re.I)
_STATUS_LINE_RE: Final = re.compile(r"(SIP/2\.0) ([1-6][0-9][0-9])(?: (.*))?", re.I | re.S)
# a control character is allowed only escaped, as a quoted-pair (RFC 3261 §25.1); the plain
# class is searched first because the look-behind form is ten times slower
_ANY_CONTROL_RE: Final = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
_CONTROL_RE: Final = re.compile(r"(?<!\\)[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


def _has_control(text: str) -> bool:
    return _ANY_CONTROL_RE.search(text) is not None and _CONTROL_RE.search(text) is not None


_TOKEN_BYTES_RE: Final = re.compile(rb"[A-Za-z0-9\-.!%*_+`'~]+")


def parse(data: bytes, limits: Limits = DEFAULT_LIMITS) -> Request | Response:
    """Parse one message from a datagram (or a frame cut by ``StreamFramer``).

    Raises ``SipParseError``: ``status`` 400 (malformed request), 505 (SIP version), 513
    (too large) with ``request`` set when an answer can be built, or ``None`` (drop: noise,
    keep-alive, malformed response). Bytes after Content-Length are ignored (§18.3).
    """
    data = data.lstrip(b"\r\n")
    nl = data.find(b"\n")
    first = (data if nl < 0 else data[:nl]).rstrip(b"\r")
    is_request = first[:4].upper() != b"SIP/"
    if is_request:
        words = first.split()
        if len(words) < 3 or words[-1][:4].upper() != b"SIP/":
            raise SipParseError("not a SIP message", None)
        if not _TOKEN_BYTES_RE.fullmatch(words[0]):
            raise SipParseError("not a SIP message", None)
    errors: list[tuple[str, int | None]] = []
    if len(data) > limits.max_message_size:
        errors.append((f"message over {limits.max_message_size} bytes", 513))
        data = data[: limits.max_message_size]

    crlf, lf = data.find(b"\r\n\r\n"), data.find(b"\n\n")
    if crlf >= 0 and (lf < 0 or crlf < lf):
        head, body = data[:crlf], data[crlf + 4 :]
    elif lf >= 0:
        head, body = data[:lf], data[lf + 2 :]
    else:
        errors.append(("no empty line after the headers", 400))
        head, body = data, b""
    try:
        text = head.decode()
    except UnicodeDecodeError:
        errors.append(("headers are not UTF-8", 400))
        text = head.decode(errors="replace")
    if _has_control(text):
        errors.append(("control character in the headers", 400))
    if "\r\n" in text:
        lines = text.split("\r\n")
        bare = text.count("\r") != len(lines) - 1 or text.count("\n") != len(lines) - 1
    else:  # bare LF line ends: tolerated
        lines = text.split("\n")
        bare = "\r" in text
    if bare:
        errors.append(("bare CR or LF in the headers", 400))

    if is_request:
        method, uri, version = _request_line(lines[0], errors)
    else:
        m = _STATUS_LINE_RE.fullmatch(lines[0])
        if m is None:
            raise SipParseError(f"bad status line {lines[0][:80]!r}", None)
        status, reason = int(m.group(2)), m.group(3) or ""

    folded = "\n " in text or "\n\t" in text
    fields, index, content_length = _header_fields(lines, folded, errors, limits)
    headers = Headers._trusted(fields, index)
    if content_length is not None:
        if not (content_length.isascii() and content_length.isdigit()) or len(content_length) > 9:
            errors.append((f"bad Content-Length {content_length!r}", 400))
        elif int(content_length) > len(body):
            errors.append(("Content-Length larger than the body", 400))
        else:
            body = body[: int(content_length)]

    msg: Request | Response
    if is_request:
        msg = Request(method, uri, headers, body, version)
    else:
        msg = Response(status, reason, headers, body)
    if not errors:
        _check(msg, index, errors, limits)
    if not errors:
        return msg
    text_, status_ = errors[0]
    if not isinstance(msg, Request):
        raise SipParseError(text_, None)
    # an answer copies these headers: one with CR, LF or a control would be echoed raw
    answerable = all(name in headers for name in _REQUIRED) and not any(
        name in _REQUIRED and ("\r" in value or "\n" in value or _has_control(value))
        for name, value in fields
    )
    raise SipParseError(text_, status_, msg if answerable else None)


def _request_line(line: str, errors: list[tuple[str, int | None]]) -> tuple[str, Uri, str]:
    m = _REQUEST_LINE_RE.fullmatch(line)
    if m is None:
        words = line.split()
        errors.append((f"bad request line {line[:80]!r}", 400))
        return words[0], Uri("", opaque=" ".join(words[1:-1])), words[-1]
    method, uri_text, version = m.groups()
    if not is_token(method):
        errors.append((f"bad method {method!r}", 400))
    if version == "SIP/2.0":
        pass
    elif not _VERSION_RE.fullmatch(version):
        errors.append((f"bad SIP version {version!r}", 400))
    elif version.upper() != "SIP/2.0":
        errors.append((f"SIP version {version!r} not supported", 505))
    else:
        version = "SIP/2.0"
    try:
        uri = parse_uri(uri_text)
    except SipParseError as exc:
        errors.append((str(exc), 400))
        uri = Uri("", opaque=uri_text)
    return method, uri, version


def _header_fields(
    lines: list[str], folded: bool, errors: list[tuple[str, int | None]], limits: Limits
) -> tuple[tuple[tuple[str, str], ...], dict[str, list[str]], str | None]:
    """Header fields (lists split), their index by key, the raw Content-Length."""
    logical = lines[1:]
    if folded:  # LWS: a line starting with SP/HT continues the previous one, after one SP
        pieces: list[list[str]] = []  # joined once at the end: growing a str is quadratic
        for line in lines[1:]:
            if line[:1] not in (" ", "\t"):
                pieces.append([line])
            elif pieces:
                last = pieces[-1]
                while len(last) > 1 and not last[-1]:
                    last.pop()  # an empty continuation leaves one SP, which the next replaces
                last[-1] = last[-1].rstrip(" \t")
                last.append(line.strip(" \t"))
            else:
                errors.append(("continuation line before any header", 400))
        logical = [" ".join(parts) for parts in pieces]
    if logical and max(map(len, logical)) > limits.max_header_line:
        errors.append((f"header line over {limits.max_header_line} bytes", 400))
        logical = [line for line in logical if len(line) <= limits.max_header_line]
    fields: list[tuple[str, str]] = []
    index: dict[str, list[str]] = {}
    content_lengths: list[str] = []
    for line in logical:
        raw, colon, value = line.partition(":")
        info = _FIELD_INFO.get(raw)
        if info is None:
            raw = raw.rstrip(" \t")
            info = _FIELD_INFO.get(raw.lower())
            if info is None:
                info = (raw, raw.lower(), 0) if is_token(raw) else None
        if info is None or not colon:
            errors.append((f"bad header line {line[:80]!r}", 400))
            continue
        name, key, kind = info
        value = value.strip(" \t")
        if kind == _LIST and "," in value:
            try:
                values = split_list(value)
            except SipParseError as exc:
                errors.append((f"{name}: {exc}", 400))
                continue
            fields.extend((name, v) for v in values)
            index.setdefault(key, []).extend(values)
        elif kind == _LENGTH:
            content_lengths.append(value)
        else:
            fields.append((name, value))
            index.setdefault(key, []).append(value)
    if len(fields) > limits.max_headers:
        errors.append((f"more than {limits.max_headers} headers", 400))
    if len(content_lengths) > 1:
        errors.append(("Content-Length appears more than once", 400))
    for key in _SINGLE:
        if len(index.get(key, ())) > 1:
            errors.append((f"{canonical_name(key)} appears more than once", 400))
    return tuple(fields), index, content_lengths[0] if content_lengths else None


def _check(
    msg: Request | Response,
    index: dict[str, list[str]],
    errors: list[tuple[str, int | None]],
    limits: Limits,
) -> None:
    """Required headers present and well formed (RFC 3261 §8.1.1, §20); fills the caches."""
    optional = isinstance(msg, Response) or not limits.require_max_forwards
    for key in _REQUIRED_KEYS:
        if key not in index and not (optional and key == "max-forwards"):
            errors.append((f"missing {canonical_name(key)} header", 400))
            return
    cache = msg.__dict__  # what the _cached accessors would compute, computed once here
    try:
        cache["vias"] = tuple(map(Via.parse, index["via"]))
        cache["from_"] = parse_address(index["from"][0])
        cache["to"] = parse_address(index["to"][0])
        cache["call_id"] = _call_id(index["call-id"][0])
        cache["cseq"] = cseq = CSeq.parse(index["cseq"][0])
        max_forwards = index.get("max-forwards")
        cache["max_forwards"] = _max_forwards(max_forwards[0]) if max_forwards else None
    except SipParseError as exc:
        for name in ("vias", "from_", "to", "call_id", "cseq", "max_forwards"):
            cache.pop(name, None)
        errors.append((str(exc), 400))
        return
    if isinstance(msg, Request) and cseq.method != msg.method:
        errors.append((f"CSeq method {cseq.method} does not match {msg.method}", 400))
