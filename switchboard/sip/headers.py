"""SIP header values (RFC 3261 §7.3, §19, §20, §25): names, list splitting, typed values.

Pure functions and frozen dataclasses; no IO. Every parser here raises ``SipParseError``
(status 400) on bad input from a peer, and ``LocalProtocolError`` when our own code builds a
value that cannot be put on the wire. Typed values keep their text as received (escapes,
case) so that ``parse(str(v)) == v``; parameter names are lower-cased.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass, replace
from functools import lru_cache
from typing import Final
from urllib.parse import unquote as percent_decode

from switchboard.sip import LocalProtocolError as LocalProtocolError
from switchboard.sip import RemoteProtocolError as RemoteProtocolError
from switchboard.sip import SipError as SipError
from switchboard.sip import SipParseError as SipParseError

# ---------------------------------------------------------------------------------------------
# Header names

_NAMES: Final = (
    "Accept", "Accept-Contact", "Accept-Encoding", "Accept-Language", "Alert-Info", "Allow",
    "Allow-Events", "Authentication-Info", "Authorization", "Call-ID", "Call-Info", "Contact",
    "Content-Disposition", "Content-Encoding", "Content-Language", "Content-Length",
    "Content-Type", "CSeq", "Date", "Diversion", "Error-Info", "Event", "Expires", "From",
    "Identity", "Identity-Info", "In-Reply-To", "Max-Forwards", "MIME-Version", "Min-Expires",
    "Min-SE", "Organization", "P-Asserted-Identity", "P-Preferred-Identity", "Path",
    "Priority", "Privacy", "Proxy-Authenticate", "Proxy-Authorization", "Proxy-Require",
    "RAck", "Reason", "Record-Route", "Refer-To", "Referred-By", "Reject-Contact",
    "Remote-Party-ID", "Replaces", "Reply-To", "Request-Disposition", "Require",
    "Retry-After", "Route", "RSeq", "Server", "Service-Route", "Session-Expires", "Subject",
    "Subscription-State", "Supported", "Timestamp", "To", "Unsupported", "User-Agent", "Via",
    "Warning", "WWW-Authenticate",
)  # fmt: skip

COMPACT_FORMS: Final[dict[str, str]] = {
    "a": "Accept-Contact", "b": "Referred-By", "c": "Content-Type",
    "d": "Request-Disposition", "e": "Content-Encoding", "f": "From", "i": "Call-ID",
    "j": "Reject-Contact", "k": "Supported", "l": "Content-Length", "m": "Contact",
    "n": "Identity-Info", "o": "Event", "r": "Refer-To", "s": "Subject", "t": "To",
    "u": "Allow-Events", "v": "Via", "x": "Session-Expires", "y": "Identity",
}  # fmt: skip

CANONICAL_NAMES: Final[dict[str, str]] = {n.lower(): n for n in _NAMES} | COMPACT_FORMS

#: Headers whose values are comma-separated lists (RFC 3261 §7.3.1); split on parse.
LIST_HEADERS: Final = frozenset(
    n.lower()
    for n in (
        "Accept", "Accept-Encoding", "Accept-Language", "Alert-Info", "Allow", "Allow-Events",
        "Call-Info", "Contact", "Content-Encoding", "Content-Language", "Error-Info",
        "In-Reply-To", "P-Asserted-Identity", "P-Preferred-Identity", "Path",
        "Proxy-Require", "Reason", "Record-Route", "Require", "Route", "Service-Route",
        "Supported", "Unsupported", "Via", "Warning",
    )
)  # fmt: skip

_TOKEN_RE: Final = re.compile(r"[A-Za-z0-9\-.!%*_+`'~]+")


def canonical_name(name: str) -> str:
    """Canonical spelling of a header name (compact forms expanded); unknown names kept."""
    known = CANONICAL_NAMES.get(name.lower())
    if known is not None:
        return known
    if not _TOKEN_RE.fullmatch(name):
        raise SipParseError(f"bad header name {name!r}")
    return name


def is_token(text: str) -> bool:
    """True when ``text`` is an RFC 3261 token (method names, parameter names ...)."""
    return _TOKEN_RE.fullmatch(text) is not None


# ---------------------------------------------------------------------------------------------
# Lists, quoted strings and parameters

_QUOTED_RE: Final = re.compile(r'"((?:[^"\\]|\\.)*)"', re.S)
_UNESCAPE_RE: Final = re.compile(r"\\(.)", re.S)
_PARAM_VALUE_RE: Final = re.compile(r"[A-Za-z0-9\-.!%*_+`'~\[\]:/@&=$?()]+")

_LIST_SPLIT_RE: Final = re.compile(r'"(?:[^"\\]|\\.)*"|<[^<>"]*>|(,)|(")', re.S)

Params = tuple[tuple[str, str | None], ...]
"""Ordered ``(name, value)`` pairs; ``value`` is ``None`` for a flag such as ``;lr``."""


def split_list(value: str) -> list[str]:
    """Split a comma-separated header value, respecting quotes and angle brackets."""
    if "," not in value:
        return [value]
    if '"' not in value and "<" not in value:
        parts = value.split(",")
    else:
        parts = []
        start = 0
        for m in _LIST_SPLIT_RE.finditer(value):  # skips quoted strings and <uri> sections
            if m.group(1):
                parts.append(value[start : m.start()])
                start = m.end()
            elif m.group(2):
                raise SipParseError("unterminated quoted string")
        parts.append(value[start:])
    items = [p.strip(" \t") for p in parts]
    return [p for p in items if p] or [""]


_NEEDS_ESCAPE_RE: Final = re.compile(r'["\\\x00-\x08\x0b\x0c\x0e-\x1f\x7f]')


def quote(text: str) -> str:
    """``text`` as an RFC 3261 quoted-string (quoted-pairs for ``"``, ``\\`` and controls)."""
    if "\r" in text or "\n" in text:
        raise LocalProtocolError("CR/LF cannot be quoted")
    return '"' + _NEEDS_ESCAPE_RE.sub(lambda m: "\\" + m.group(0), text) + '"'


def unquote(text: str) -> str:
    """Strip the quotes of a quoted-string (undoing escapes); other text is returned as is."""
    if len(text) >= 2 and text[0] == '"' and text[-1] == '"':
        inner = text[1:-1]
        return _UNESCAPE_RE.sub(r"\1", inner) if "\\" in inner else inner
    return text


_TOKEN = r"[A-Za-z0-9\-.!%*_+`'~]+"
_PVALUE = r"[A-Za-z0-9\-.!%*_+`'~\[\]:/@&=$?()]+"
_QSTRING = r'"(?:[^"\\]|\\.)*"'
_QPARAM = rf";[ \t]*({_TOKEN})[ \t]*(?:=[ \t]*({_PVALUE}|{_QSTRING})[ \t]*)?"
_UPARAM = rf";({_TOKEN})(?:=({_PVALUE}))?"
# fullmatch validates, findall extracts; every repetition starts at a ';' that no inner
# class can take, so matching stays linear.
_QPARAMS_RE: Final = re.compile(rf"(?:{_QPARAM})*", re.S)
_QPARAM_RE: Final = re.compile(_QPARAM, re.S)
_UPARAMS_RE: Final = re.compile(rf"(?:{_UPARAM})*")
_UPARAM_RE: Final = re.compile(_UPARAM)


# The parsers of header values are memoised: the values they return are immutable, and the
# same text comes back many times within a call (From, To, Contact, Route and their
# parameters are repeated in every request and response of a dialog). A bounded LRU: text
# that never repeats (a flood of new values) only churns it. Only short text is kept: a
# dialog's values are a few dozen characters, and 4,096 entries of crafted 8 KB values
# each (the header limit) would hold hundreds of MB.
_CACHE: Final = 4096
_CACHED_TEXT: Final = 512


def _params(text: str, quoted: bool) -> Params:
    if len(text) > _CACHED_TEXT:
        return _params_cached.__wrapped__(text, quoted)
    return _params_cached(text, quoted)


@lru_cache(maxsize=_CACHE)
def _params_cached(text: str, quoted: bool) -> Params:
    """Parse ``;a=1;lr`` (leading ``;`` included); empty text gives ``()``."""
    if not text:
        return ()
    if quoted:
        if _QPARAMS_RE.fullmatch(text) is None:
            raise SipParseError(f"bad parameters {text[:80]!r}")
        found = _QPARAM_RE.findall(text)
    else:
        if _UPARAMS_RE.fullmatch(text) is None:
            raise SipParseError(f"bad parameters {text[:80]!r}")
        found = _UPARAM_RE.findall(text)
    return tuple([(n.lower(), v or None) for n, v in found])


def parse_params(text: str, *, quoted: bool = True) -> Params:
    """Parse ``a=1;lr;b="x y"`` (the text after the first ``;``)."""
    return _params(";" + text, quoted)


def format_params(params: Params) -> str:
    """``;name=value`` text for ``params``."""
    return "".join(f";{n}" if v is None else f";{n}={v}" for n, v in params)


def get_param(params: Params, name: str) -> str | None:
    """Value of parameter ``name`` (``None`` when absent or a flag)."""
    for n, v in params:
        if n == name:
            return v
    return None


def has_param(params: Params, name: str) -> bool:
    """True when parameter ``name`` is present, with or without a value."""
    return any(n == name for n, _ in params)


def set_param(params: Params, name: str, value: str | None) -> Params:
    """``params`` with ``name`` set (replaced in place, or appended)."""
    if value is not None and not (_PARAM_VALUE_RE.fullmatch(value) or _QUOTED_RE.fullmatch(value)):
        raise LocalProtocolError(f"bad parameter value {value!r}")
    return _put(params, name, value)


def _put(params: Params, name: str, value: str | None) -> Params:
    """``set_param`` for a value known to be valid."""
    if has_param(params, name):
        return tuple((n, value) if n == name else (n, v) for n, v in params)
    return (*params, (name, value))


def _remove_param(params: Params, name: str) -> Params:
    return tuple(p for p in params if p[0] != name)


# ---------------------------------------------------------------------------------------------
# URIs (RFC 3261 §19.1, RFC 3966 for tel:)

_SCHEME_RE: Final = re.compile(r"[A-Za-z][A-Za-z0-9+\-.]*")
_ESC = r"%[0-9A-Fa-f]{2}"
_USER_RE: Final = re.compile(rf"(?:[A-Za-z0-9\-_.!~*'()&=+$,;?/]|{_ESC})+")
_PASSWORD_RE: Final = re.compile(rf"(?:[A-Za-z0-9\-_.!~*'()&=+$,]|{_ESC})*")
_HOST_RE: Final = re.compile(r"[A-Za-z0-9\-_.]+|\[[0-9A-Fa-f:.]+\]")
_HEADER_ITEM_RE: Final = re.compile(rf"(?:[A-Za-z0-9\-_.!~*'()\[\]/?:+$]|{_ESC})+")
_HEADER_VALUE_RE: Final = re.compile(rf"(?:[A-Za-z0-9\-_.!~*'()\[\]/?:+$@]|{_ESC})*")
_TEL_RE: Final = re.compile(r"[0-9A-Fa-f*#+\-.()pw]+")
_OPAQUE_RE: Final = re.compile(r"[!#-;=?-~]+")  # visible ASCII minus " < >
_DEFAULT_PORTS: Final = {"sip": 5060, "sips": 5061}


@dataclass(frozen=True, slots=True)
class Uri:
    """A sip:, sips: or tel: URI; other schemes keep their text in ``opaque``.

    ``user`` and ``password`` keep their %-escapes (compare with ``equivalent``).
    For tel: URIs the number is in ``user`` and ``host`` is empty.
    """

    scheme: str = "sip"
    user: str | None = None
    password: str | None = None
    host: str = ""
    port: int | None = None
    params: Params = ()
    headers: tuple[tuple[str, str], ...] = ()
    opaque: str | None = None

    @classmethod
    def parse(cls, text: str) -> Uri:
        """Parse a URI; raises ``SipParseError`` (400)."""
        return parse_uri(text)

    def __str__(self) -> str:
        if self.opaque is not None:
            return f"{self.scheme}:{self.opaque}" if self.scheme else self.opaque
        out = [self.scheme, ":"]
        if self.user is not None:
            out.append(self.user)
            if self.host:
                if self.password is not None:
                    out += (":", self.password)
                out.append("@")
        out.append(self.host)
        if self.port is not None:
            out += (":", str(self.port))
        out.append(format_params(self.params))
        if self.headers:
            out += ("?", "&".join(f"{k}={v}" for k, v in self.headers))
        return "".join(out)

    def param(self, name: str) -> str | None:
        """Value of URI parameter ``name``."""
        return get_param(self.params, name)

    def has_param(self, name: str) -> bool:
        """True when URI parameter ``name`` is present."""
        return has_param(self.params, name)

    def with_param(self, name: str, value: str | None = None) -> Uri:
        """A copy with parameter ``name`` set."""
        return replace(self, params=set_param(self.params, name, value))

    def without_param(self, name: str) -> Uri:
        """A copy without parameter ``name``."""
        return replace(self, params=_remove_param(self.params, name))

    @property
    def is_sip(self) -> bool:
        """True for sip: and sips: URIs."""
        return self.scheme in _DEFAULT_PORTS

    @property
    def transport(self) -> str:
        """The transport parameter upper-cased, or the scheme's default."""
        t = self.param("transport")
        if t:
            return t.upper()
        return "TLS" if self.scheme == "sips" else "UDP"

    @property
    def port_or_default(self) -> int:
        """``port``, or 5060 (5061 for sips)."""
        return self.port if self.port is not None else _DEFAULT_PORTS.get(self.scheme, 5060)

    def equivalent(self, other: Uri) -> bool:
        """URI comparison of RFC 3261 §19.1.4 (escapes undone, host case ignored ...)."""
        if self.scheme != other.scheme or (self.opaque is None) != (other.opaque is None):
            return False
        if self.opaque is not None:
            return _unescape(self.opaque) == _unescape(other.opaque or "")
        if (
            _unescape_opt(self.user) != _unescape_opt(other.user)
            or _unescape_opt(self.password) != _unescape_opt(other.password)
            or self.host.lower() != other.host.lower()
            or self.port != other.port
        ):
            return False
        mine = {_unescape(n).lower(): _unescape(v or "").lower() for n, v in self.params}
        theirs = {_unescape(n).lower(): _unescape(v or "").lower() for n, v in other.params}
        for name in mine.keys() | theirs.keys():
            both = name in mine and name in theirs
            if both and mine[name] != theirs[name]:
                return False
            if not both and name in ("user", "ttl", "method", "maddr", "transport"):
                return False
        return {k.lower(): _unescape(v) for k, v in self.headers} == {
            k.lower(): _unescape(v) for k, v in other.headers
        }


def _unescape(text: str) -> str:
    return percent_decode(text, errors="replace") if "%" in text else text


def _unescape_opt(text: str | None) -> str | None:
    return None if text is None else _unescape(text)


_SIP_URI_RE: Final = re.compile(
    r"(sips?):(?:([^:@]+)(?::([^@]*))?@)?(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9\-_.]+)"
    r"(?::([0-9]{1,5}))?((?:;[^?]*)?)(?:\?(.*))?",
    re.I | re.S,
)


def parse_uri(text: str) -> Uri:
    """Parse a URI; raises ``SipParseError`` (400)."""
    return _uri(text) if len(text) <= _CACHED_TEXT else _uri.__wrapped__(text)


@lru_cache(maxsize=_CACHE)
def _uri(text: str) -> Uri:
    m = _SIP_URI_RE.fullmatch(text)
    if m is not None:
        scheme, user, password, host, port, ptext, htext = m.groups()
        if user is not None and (
            not _USER_RE.fullmatch(user)
            or (password is not None and not _PASSWORD_RE.fullmatch(password))
        ):
            raise SipParseError(f"bad user part in {text!r}")
        return Uri(
            scheme.lower(),
            user,
            password,
            host,
            None if port is None else _port(port, text),
            _params(ptext, False),
            () if htext is None else _uri_headers(htext, text),
        )
    scheme, colon, rest = text.partition(":")
    if not colon or not _SCHEME_RE.fullmatch(scheme) or scheme.lower() in _DEFAULT_PORTS:
        raise SipParseError(f"bad URI {text!r}")
    scheme = scheme.lower()
    if scheme == "tel":
        number, semi, ptext = rest.partition(";")
        if not _TEL_RE.fullmatch(number):
            raise SipParseError(f"bad tel URI {text!r}")
        return Uri("tel", user=number, params=_params(semi + ptext, False))
    if not _OPAQUE_RE.fullmatch(rest):
        raise SipParseError(f"bad URI {text!r}")
    return Uri(scheme, opaque=rest)


def _uri_headers(htext: str, text: str) -> tuple[tuple[str, str], ...]:
    headers = []
    for item in htext.split("&"):
        k, eq, v = item.partition("=")
        if not eq or not _HEADER_ITEM_RE.fullmatch(k) or not _HEADER_VALUE_RE.fullmatch(v):
            raise SipParseError(f"bad URI header in {text!r}")
        headers.append((k, v))
    return tuple(headers)


def _port(digits: str, text: str) -> int:
    if not digits.isascii() or not digits.isdigit() or len(digits) > 5 or int(digits) > 65535:
        raise SipParseError(f"bad port in {text!r}")
    return int(digits)


# ---------------------------------------------------------------------------------------------
# name-addr / addr-spec (From, To, Contact, Route, Record-Route, Refer-To ...)


@dataclass(frozen=True, slots=True)
class Address:
    """``"Display" <uri>;params``. ``display_name`` is unquoted; params are header params."""

    uri: Uri
    display_name: str | None = None
    params: Params = ()

    @classmethod
    def parse(cls, text: str) -> Address:
        """Parse name-addr or addr-spec with header parameters; raises ``SipParseError``."""
        return parse_address(text)

    def __str__(self) -> str:
        name = "" if self.display_name is None else quote(self.display_name) + " "
        return f"{name}<{self.uri}>{format_params(self.params)}"

    @property
    def tag(self) -> str | None:
        """The ``tag`` parameter (From/To)."""
        return get_param(self.params, "tag")

    @property
    def expires(self) -> int | None:
        """The ``expires`` parameter of a Contact, when a valid number."""
        return delta_seconds(get_param(self.params, "expires"))

    def param(self, name: str) -> str | None:
        """Value of header parameter ``name``."""
        return get_param(self.params, name)

    def with_param(self, name: str, value: str | None = None) -> Address:
        """A copy with header parameter ``name`` set."""
        return Address(self.uri, self.display_name, set_param(self.params, name, value))

    def with_tag(self, tag: str) -> Address:
        """A copy with ``;tag=`` set."""
        return self.with_param("tag", tag)


def delta_seconds(text: str | None) -> int | None:
    """ASCII digits as an int capped at 2**32-1 (RFC 3261 §20.19); ``None`` if not digits."""
    if text is None or not text.isascii() or not text.isdigit():
        return None
    return 2**32 - 1 if len(text) > 10 else min(int(text), 2**32 - 1)


_NAME_ADDR_RE: Final = re.compile(
    r'(?:"((?:[^"\\]|\\.)*)"[ \t]*|([^"<>]*))<([^<>]*)>[ \t]*(.*)', re.S
)


def parse_address(text: str) -> Address:
    """Parse name-addr or addr-spec with header parameters; raises ``SipParseError``."""
    return _address(text) if len(text) <= _CACHED_TEXT else _address.__wrapped__(text)


@lru_cache(maxsize=_CACHE)
def _address(text: str) -> Address:
    m = _NAME_ADDR_RE.fullmatch(text.strip(" \t"))
    if m is None:
        if "<" in text or '"' in text:
            raise SipParseError(f"bad address {text!r}")
        # addr-spec: any ;params belong to the header, not to the URI (RFC 3261 §20.10)
        uri_text, semi, ptext = text.strip(" \t").partition(";")
        if not uri_text or "," in uri_text or "?" in uri_text:
            raise SipParseError(f"bad address {text!r}")
        return Address(parse_uri(uri_text.rstrip(" \t")), None, _params(semi + ptext, True))
    quoted, raw, uri, rest = m.groups()
    if quoted is not None:
        display: str | None = _UNESCAPE_RE.sub(r"\1", quoted) if "\\" in quoted else quoted
    elif raw and raw.strip(" \t"):
        if any(c in raw for c in ',;"'):  # unquoted display names are tokens (RFC 3261 §25)
            raise SipParseError(f"bad display name in {text!r}")
        display = " ".join(raw.split())
    else:
        display = None
    if rest and rest[0] != ";":
        raise SipParseError(f"junk after '>' in {text!r}")
    return Address(parse_uri(uri), display, _params(rest, True))


# ---------------------------------------------------------------------------------------------
# Via, CSeq

_VIA_RE: Final = re.compile(
    r"SIP[ \t]*/[ \t]*2\.0[ \t]*/[ \t]*([A-Za-z0-9\-.!%*_+`'~]+)[ \t]+"
    r"(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9\-_.]+)(?:[ \t]*:[ \t]*([0-9]+))?[ \t]*",
    re.I,
)
BRANCH_MAGIC: Final = "z9hG4bK"


@dataclass(frozen=True, slots=True)
class Via:
    """One Via value: ``SIP/2.0/UDP host:port;branch=z9hG4bK...;rport;received=...``."""

    transport: str
    host: str
    port: int | None = None
    params: Params = ()

    @classmethod
    def parse(cls, text: str) -> Via:
        """Parse one Via value; raises ``SipParseError`` (400)."""
        return _parse_via(text) if len(text) <= _CACHED_TEXT else cls._parse(text)

    @classmethod
    def _parse(cls, text: str) -> Via:
        m = _VIA_RE.match(text)
        if m is None:
            raise SipParseError(f"bad Via {text!r}")
        port = _port(m.group(3), text) if m.group(3) is not None else None
        rest = text[m.end() :]
        if rest and rest[0] != ";":
            raise SipParseError(f"bad Via {text!r}")
        return cls(m.group(1).upper(), m.group(2), port, _params(rest, True))

    def __str__(self) -> str:
        port = "" if self.port is None else f":{self.port}"
        return f"SIP/2.0/{self.transport} {self.host}{port}{format_params(self.params)}"

    def param(self, name: str) -> str | None:
        """Value of Via parameter ``name``."""
        return get_param(self.params, name)

    @property
    def branch(self) -> str | None:
        """The branch parameter (transaction id, RFC 3261 §17.2.3)."""
        return get_param(self.params, "branch")

    @property
    def is_rfc3261_branch(self) -> bool:
        """True when the branch starts with the magic cookie ``z9hG4bK``."""
        return (self.branch or "").startswith(BRANCH_MAGIC)

    @property
    def received(self) -> str | None:
        """The ``received`` parameter."""
        return get_param(self.params, "received")

    @property
    def rport(self) -> int | None:
        """The ``rport`` value (filled in by a server), or ``None``."""
        return delta_seconds(get_param(self.params, "rport"))

    @property
    def wants_rport(self) -> bool:
        """True when the client asked for symmetric response routing (RFC 3581)."""
        return has_param(self.params, "rport")

    def with_param(self, name: str, value: str | None = None) -> Via:
        """A copy with parameter ``name`` set."""
        return Via(self.transport, self.host, self.port, set_param(self.params, name, value))

    def with_received(self, host: str, port: int) -> Via:
        """What a server stores on receipt from ``host:port`` (RFC 3261 §18.2.1, RFC 3581)."""
        # host and port come from the socket: set without the checks of with_param
        if self.wants_rport:
            params = _put(_put(self.params, "rport", str(port)), "received", host)
        elif host != self.host or self.received not in (None, host):
            # a received the peer wrote itself must not choose where our responses go
            params = _put(self.params, "received", host)
        else:
            return self
        return Via(self.transport, self.host, self.port, params)

    def response_target(self) -> tuple[str, int]:
        """Where to send responses (RFC 3261 §18.2.2 with RFC 3581): ``(host, port)``.

        A ``maddr`` is honoured only when it is an address: a name would have to be resolved
        while sending, and an unauthenticated request could name any host."""
        maddr = self.param("maddr")
        if maddr is not None and not is_address(maddr):
            maddr = None
        host = maddr or self.received or self.host
        if host.startswith("["):
            host = host[1:-1]
        port = self.rport or self.port
        if port is None:
            port = 5061 if self.transport in ("TLS", "WSS") else 5060
        return host, port


@lru_cache(maxsize=4096)  # asked for each message sent: the same few peers
def is_address(host: str) -> bool:
    """An IPv4 or IPv6 address (IPv6 in brackets or not), not a name to resolve."""
    try:
        ipaddress.ip_address(host[1:-1] if host.startswith("[") else host)
    except ValueError:
        return False
    return True


_CSEQ_RE: Final = re.compile(r"([0-9]{1,10})[ \t]+([A-Za-z0-9\-.!%*_+`'~]+)")


@dataclass(frozen=True, slots=True)
class CSeq:
    """``CSeq: 4711 INVITE``."""

    seq: int
    method: str

    @classmethod
    def parse(cls, text: str) -> CSeq:
        """Parse a CSeq value; raises ``SipParseError`` (400)."""
        return _parse_cseq(text) if len(text) <= _CACHED_TEXT else cls._parse(text)

    @classmethod
    def _parse(cls, text: str) -> CSeq:
        m = _CSEQ_RE.fullmatch(text)
        if m is None or int(m.group(1)) > 2**32 - 1:
            raise SipParseError(f"bad CSeq {text!r}")
        return cls(int(m.group(1)), m.group(2))

    def __str__(self) -> str:
        return f"{self.seq} {self.method}"


_parse_via: Final = lru_cache(maxsize=_CACHE)(Via._parse)
_parse_cseq: Final = lru_cache(maxsize=_CACHE)(CSeq._parse)
