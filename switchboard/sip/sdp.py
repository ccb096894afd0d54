"""SDP (RFC 4566) for audio offer/answer (RFC 3264): parse, serialize, negotiate. No IO.

Enough for G.711 calls with RFC 4733 telephone-events and hold. Every line of a description
is kept (unknown ones verbatim), so ``parse(serialize(sdp)) == sdp``. Bad input raises
``SdpParseError`` (answer 400); an offer we cannot accept raises ``SdpNegotiationError``
(answer 488).
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass, replace
from enum import StrEnum
from typing import Final

from switchboard.sip.headers import LocalProtocolError, RemoteProtocolError


class SdpError(RemoteProtocolError):
    """Base of SDP errors; ``status`` is the SIP response to send."""


class SdpParseError(SdpError):
    """The body is not a usable session description (400)."""

    def __init__(self, message: str) -> None:
        super().__init__(message, 400)


class SdpNegotiationError(SdpError):
    """The offer has nothing we can accept (488 Not Acceptable Here)."""

    def __init__(self, message: str) -> None:
        super().__init__(message, 488)


class Direction(StrEnum):
    """Media direction attribute (RFC 3264 §5.1), from the point of view of its writer."""

    SENDRECV = "sendrecv"
    SENDONLY = "sendonly"
    RECVONLY = "recvonly"
    INACTIVE = "inactive"

    @property
    def sends(self) -> bool:
        """The writer sends media."""
        return self in (Direction.SENDRECV, Direction.SENDONLY)

    @property
    def receives(self) -> bool:
        """The writer receives media."""
        return self in (Direction.SENDRECV, Direction.RECVONLY)

    @classmethod
    def of(cls, sends: bool, receives: bool) -> Direction:
        """The direction with these capabilities."""
        if sends:
            return cls.SENDRECV if receives else cls.SENDONLY
        return cls.RECVONLY if receives else cls.INACTIVE


@dataclass(frozen=True, slots=True)
class Codec:
    """An RTP payload format: ``a=rtpmap:<payload_type> <name>/<clock_rate>[/<channels>]``."""

    name: str
    clock_rate: int
    payload_type: int
    channels: int = 1
    fmtp: str | None = None

    def same_format(self, other: Codec) -> bool:
        """Same encoding (name case-insensitive, rate, channels), whatever the number."""
        return (
            self.name.lower() == other.name.lower()
            and self.clock_rate == other.clock_rate
            and self.channels == other.channels
        )

    @property
    def rtpmap(self) -> str:
        """The value of its ``a=rtpmap`` attribute."""
        channels = f"/{self.channels}" if self.channels != 1 else ""
        return f"{self.payload_type} {self.name}/{self.clock_rate}{channels}"


PCMU: Final = Codec("PCMU", 8000, 0)
PCMA: Final = Codec("PCMA", 8000, 8)
TELEPHONE_EVENT: Final = Codec("telephone-event", 8000, 101, fmtp="0-16")
_STATIC: Final = {
    c.payload_type: c
    for c in (PCMU, PCMA, Codec("GSM", 8000, 3), Codec("G723", 8000, 4),
              Codec("G722", 8000, 9), Codec("CN", 8000, 13), Codec("G729", 8000, 18))
}  # fmt: skip

Attributes = tuple[tuple[str, str | None], ...]
"""``a=`` lines in order: ``("rtpmap", "0 PCMU/8000")``, ``("sendrecv", None)``."""


@dataclass(frozen=True, slots=True)
class Origin:
    """``o=<username> <session_id> <session_version> IN IP4 <address>``."""

    username: str
    session_id: int
    session_version: int
    address: str
    addrtype: str = "IP4"

    def __str__(self) -> str:
        return (
            f"{self.username} {self.session_id} {self.session_version} "
            f"IN {self.addrtype} {self.address}"
        )


@dataclass(frozen=True, slots=True)
class Media:
    """One ``m=`` section. ``connection`` is the address of its own ``c=`` line, if any."""

    kind: str
    port: int
    proto: str
    formats: tuple[str, ...]
    connection: str | None = None
    attributes: Attributes = ()
    port_count: int | None = None
    other: tuple[tuple[str, str], ...] = ()  # i=, b=, k= lines, verbatim
    addrtype: str = "IP4"

    def attribute(self, name: str) -> str | None:
        """Value of the first ``a=name:value``."""
        return next((v for n, v in self.attributes if n == name), None)

    @property
    def direction(self) -> Direction | None:
        """The media-level direction attribute, if any."""
        return next((Direction(n) for n, _ in self.attributes if n in _DIRECTIONS), None)

    @property
    def ptime(self) -> int | None:
        """Packetisation time in ms (``a=ptime``)."""
        value = (self.attribute("ptime") or "").strip()
        return int(value) if _is_number(value) else None

    @property
    def codecs(self) -> tuple[Codec, ...]:
        """Payload formats in preference order (rtpmap, else the static table)."""
        return _codecs(self.formats, self.attributes)


@functools.lru_cache(maxsize=512)  # phones of one kind offer the same formats, call after call
def _codecs(formats: tuple[str, ...], attributes: Attributes) -> tuple[Codec, ...]:
    maps: dict[str, Codec] = {}
    fmtps: dict[str, str] = {}
    for name, value in attributes:
        if name == "rtpmap" and value:
            pt, mapped = _rtpmap(value)
            maps.setdefault(pt, mapped)
        elif name == "fmtp" and value:
            pt, _, params = value.partition(" ")
            fmtps.setdefault(pt, params.strip())
    out = []
    for fmt in formats:
        codec = maps.get(fmt)
        if codec is None and _is_number(fmt):
            codec = _STATIC.get(int(fmt))
        if codec is not None:
            out.append(replace(codec, fmtp=fmtps.get(fmt)))
    return tuple(out)


_DIRECTIONS: Final = frozenset(d.value for d in Direction)


def _is_number(text: str) -> bool:
    return text.isascii() and text.isdigit() and len(text) <= 9


_RTPMAP_RE: Final = re.compile(r"([0-9]{1,3}) ([!-~]+?)/([0-9]{1,6})(?:/([0-9]{1,2}))?")


def _rtpmap(value: str) -> tuple[str, Codec]:
    m = _RTPMAP_RE.fullmatch(value.strip())
    if m is None or int(m.group(1)) > 127:
        raise SdpParseError(f"bad rtpmap {value!r}")
    pt, name, rate, channels = m.groups()
    return pt, Codec(name, int(rate), int(pt), int(channels or 1))


@dataclass(frozen=True, slots=True)
class SessionDescription:
    """A whole SDP body."""

    origin: Origin
    media: tuple[Media, ...] = ()
    session_name: str = "-"
    connection: str | None = None
    attributes: Attributes = ()
    timing: str | None = "0 0"
    other: tuple[tuple[str, str], ...] = ()  # i= u= e= p= b= r= z= k=, verbatim
    addrtype: str = "IP4"

    @classmethod
    def parse(cls, data: bytes | str) -> SessionDescription:
        """Parse an SDP body; raises ``SdpParseError``."""
        return parse_sdp(data)

    def serialize(self) -> bytes:
        """Wire form (CRLF line ends)."""
        lines = ["v=0", f"o={self.origin}", f"s={self.session_name}"]
        tail = [(k, v) for k, v in self.other if _RANK[k] > _RANK["c"]]
        lines += [f"{k}={v}" for k, v in self.other if _RANK[k] < _RANK["c"]]
        if self.connection is not None:
            lines.append(f"c=IN {self.addrtype} {self.connection}")
        lines += [f"{k}={v}" for k, v in tail if _RANK[k] < _RANK["t"]]
        if self.timing is not None:
            lines.append(f"t={self.timing}")
        lines += [f"{k}={v}" for k, v in tail if _RANK[k] > _RANK["t"]]
        lines += _attribute_lines(self.attributes)
        for m in self.media:
            count = "" if m.port_count is None else f"/{m.port_count}"
            lines.append(f"m={m.kind} {m.port}{count} {m.proto} {' '.join(m.formats)}")
            lines += [f"{k}={v}" for k, v in m.other if k == "i"]
            if m.connection is not None:
                lines.append(f"c=IN {m.addrtype} {m.connection}")
            lines += [f"{k}={v}" for k, v in m.other if k != "i"]
            lines += _attribute_lines(m.attributes)
        if any("\r" in line or "\n" in line for line in lines):
            raise LocalProtocolError("line break inside an SDP value")
        return ("\r\n".join(lines) + "\r\n").encode()

    def __str__(self) -> str:
        return self.serialize().decode()

    @property
    def audio(self) -> Media | None:
        """The first audio stream that is not disabled (port 0)."""
        return next((m for m in self.media if m.kind == "audio" and m.port != 0), None)

    def direction_of(self, media: Media) -> Direction:
        """Effective direction of ``media`` (media level, else session level, else sendrecv)."""
        if media.direction is not None:
            return media.direction
        session = next((Direction(n) for n, _ in self.attributes if n in _DIRECTIONS), None)
        return session or Direction.SENDRECV

    def address_of(self, media: Media) -> str | None:
        """Connection address of ``media`` (its own c=, else the session's)."""
        address = media.connection if media.connection is not None else self.connection
        return None if address is None else address.partition("/")[0]

    @property
    def is_hold(self) -> bool:
        """The writer puts the call on hold: audio sendonly/inactive, or c=0.0.0.0 (RFC 2543)."""
        audio = self.audio
        if audio is None:
            return False
        if self.address_of(audio) in ("0.0.0.0", "::"):
            return True
        return not self.direction_of(audio).receives


_RANK: Final = {k: i for i, k in enumerate("iuepcbtrzk")}
_LINE_RE: Final = re.compile(r"([a-z])=(.*)", re.S)


def _attribute_lines(attributes: Attributes) -> list[str]:
    return [f"a={n}" if v is None else f"a={n}:{v}" for n, v in attributes]


class _Section:
    """Lines of one section while parsing (session level, or one m= section)."""

    def __init__(self, media_line: str | None = None) -> None:
        self.media_line = media_line
        self.connection: str | None = None
        self.addrtype = "IP4"
        self.attributes: list[tuple[str, str | None]] = []
        self.other: list[tuple[str, str]] = []
        self.fixed: dict[str, str] = {}  # o=, s=, t= (session level)


def parse_sdp(data: bytes | str) -> SessionDescription:
    """Parse an SDP body; raises ``SdpParseError``."""
    try:
        text = data.decode() if isinstance(data, bytes) else data
    except UnicodeDecodeError as exc:
        raise SdpParseError("SDP is not UTF-8") from exc
    lines = [line[:-1] if line.endswith("\r") else line for line in text.split("\n")]
    while lines and not lines[-1]:
        lines.pop()
    if not lines or lines[0] != "v=0":
        raise SdpParseError("SDP must start with v=0")
    session = current = _Section()
    sections: list[_Section] = []
    for line in lines[1:]:
        m = _LINE_RE.fullmatch(line)
        if m is None or _CONTROL_RE.search(line):
            raise SdpParseError(f"bad SDP line {line[:80]!r}")
        kind, value = m.groups()
        if kind == "m":
            current = _Section(value)
            sections.append(current)
        elif kind == "a":
            current.attributes.append(_attribute(value))
        elif kind == "c":
            if current.connection is not None:
                raise SdpParseError("two c= lines in one section")
            current.addrtype, current.connection = _connection(value)
        elif current is not session:
            if kind not in "ibk":
                raise SdpParseError(f"{kind}= line inside a media section")
            current.other.append((kind, value))
        elif kind in "ost":
            if kind in session.fixed:
                raise SdpParseError(f"two {kind}= lines")
            session.fixed[kind] = value
        elif kind in _RANK:
            session.other.append((kind, value))
        else:
            raise SdpParseError(f"unknown SDP line {kind}=")
    if "o" not in session.fixed or "s" not in session.fixed:
        raise SdpParseError("SDP without o= or s=")
    media = tuple(_media(section) for section in sections)
    if session.connection is None and any(m.connection is None for m in media):
        raise SdpParseError("media without a connection address")
    return SessionDescription(
        origin=_origin(session.fixed["o"]),
        media=media,
        session_name=session.fixed["s"],
        connection=session.connection,
        attributes=tuple(session.attributes),
        timing=session.fixed.get("t"),
        other=tuple(session.other),
        addrtype=session.addrtype,
    )


_CONTROL_RE: Final = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]")
_ORIGIN_RE: Final = re.compile(r"(\S+) ([0-9]{1,20}) ([0-9]{1,20}) IN (IP4|IP6) (\S+)")
_CONNECTION_RE: Final = re.compile(r"IN (IP4|IP6) ([0-9A-Za-z.:\-/]+)")
_MEDIA_RE: Final = re.compile(
    r"([a-z]+) ([0-9]{1,5})(?:/([0-9]{1,3}))? ([A-Za-z0-9/.\-]+)((?: [!-~]+)+)"
)


def _attribute(value: str) -> tuple[str, str | None]:
    name, colon, val = value.partition(":")
    if not name or " " in name:
        raise SdpParseError(f"bad attribute {value[:80]!r}")
    if name == "rtpmap":
        _rtpmap(val)
    elif name == "ptime" and not _is_number(val.strip()):
        raise SdpParseError(f"bad ptime {val!r}")
    return name, val if colon else None


def _origin(value: str) -> Origin:
    m = _ORIGIN_RE.fullmatch(value)
    if m is None:
        raise SdpParseError(f"bad o= line {value[:80]!r}")
    user, sid, version, addrtype, address = m.groups()
    return Origin(user, int(sid), int(version), address, addrtype)


def _connection(value: str) -> tuple[str, str]:
    m = _CONNECTION_RE.fullmatch(value)
    if m is None:
        raise SdpParseError(f"bad c= line {value[:80]!r}")
    return m.group(1), m.group(2)


def _media(section: _Section) -> Media:
    m = _MEDIA_RE.fullmatch(section.media_line or "")
    if m is None or int(m.group(2)) > 65535:
        raise SdpParseError(f"bad m= line {(section.media_line or '')[:80]!r}")
    kind, port, count, proto, fmt_text = m.groups()
    formats = tuple(fmt_text.split())
    if proto.upper().startswith("RTP/") and not all(
        _is_number(f) and int(f) <= 127 for f in formats
    ):
        raise SdpParseError(f"bad RTP payload types {fmt_text.strip()!r}")
    return Media(
        kind, int(port), proto, formats, section.connection, tuple(section.attributes),
        None if count is None else int(count), tuple(section.other), section.addrtype,
    )  # fmt: skip


# ---------------------------------------------------------------------------------------------
# Offer/answer (RFC 3264)

_RTP_PROFILES: Final = frozenset(("RTP/AVP", "RTP/AVPF"))
_NULL_ADDRESSES: Final = frozenset(("0.0.0.0", "::"))


def _is_dtmf(codec: Codec) -> bool:
    return codec.name.lower() == "telephone-event"


def _codec_attributes(codecs: list[Codec], direction: Direction, ptime: int | None) -> Attributes:
    attrs: list[tuple[str, str | None]] = [("rtpmap", c.rtpmap) for c in codecs]
    attrs += [("fmtp", f"{c.payload_type} {c.fmtp}") for c in codecs if c.fmtp]
    if ptime is not None:
        attrs.append(("ptime", str(ptime)))
    attrs.append((direction.value, None))
    return tuple(attrs)


def _session(
    media: tuple[Media, ...], local_ip: str, username: str, session_id: int, version: int
) -> SessionDescription:
    addrtype = "IP6" if ":" in local_ip else "IP4"
    origin = Origin(username, session_id, version, local_ip, addrtype)
    return SessionDescription(origin, media, connection=local_ip, addrtype=addrtype)


def make_offer(
    *,
    local_ip: str,
    local_port: int,
    codecs: tuple[Codec, ...] = (PCMU, PCMA),
    telephone_event: Codec | None = TELEPHONE_EVENT,
    direction: Direction = Direction.SENDRECV,
    ptime: int | None = 20,
    session_id: int = 0,
    session_version: int = 0,
    username: str = "switchboard",
) -> SessionDescription:
    """An audio offer. Bump ``session_version`` for every new offer in a dialog (re-INVITE)."""
    if not codecs:
        raise LocalProtocolError("an offer needs at least one codec")
    offered = [*codecs, *([telephone_event] if telephone_event else [])]
    formats = tuple(str(c.payload_type) for c in offered)
    media = Media("audio", local_port, "RTP/AVP", formats,
                  attributes=_codec_attributes(offered, direction, ptime))  # fmt: skip
    return _session((media,), local_ip, username, session_id, session_version)


def negotiate(
    offer: SessionDescription,
    *,
    local_ip: str,
    local_port: int,
    supported: tuple[Codec, ...] = (PCMU, PCMA),
    direction: Direction = Direction.SENDRECV,
    telephone_event: bool = True,
    session_id: int = 0,
    session_version: int = 0,
    username: str = "switchboard",
) -> SessionDescription:
    """Answer ``offer`` (RFC 3264 §6), or raise ``SdpNegotiationError`` (488).

    The first usable audio stream gets the first offered codec that is in ``supported`` (with
    the offer's payload type number) and the offer's telephone-event at the same rate; every
    other m= line is refused with port 0. ``direction`` is what we want (``SENDONLY`` puts
    the caller on hold); the answer also honours the offer's direction and c=0.0.0.0 hold.
    """
    answered: list[Media] = []
    accepted = False
    for media in offer.media:
        if (
            not accepted
            and media.kind == "audio"
            and media.port != 0
            and (media.proto.upper() in _RTP_PROFILES)
        ):
            answer = _answer_audio(offer, media, local_port, supported, direction,
                                   telephone_event)  # fmt: skip
            if answer is not None:
                answered.append(answer)
                accepted = True
                continue
        answered.append(Media(media.kind, 0, media.proto, media.formats))
    if not accepted:
        raise SdpNegotiationError("no audio stream with a codec we support")
    return _session(tuple(answered), local_ip, username, session_id, session_version)


def renegotiate(
    offer: SessionDescription,
    previous: SessionDescription,
    *,
    supported: tuple[Codec, ...] = (PCMU, PCMA),
    direction: Direction = Direction.SENDRECV,
    telephone_event: bool = True,
) -> SessionDescription:
    """Answer a new offer in an established session (a re-INVITE: hold, unhold, a move).

    ``previous`` is our last SDP in the dialog (answer or offer): the new answer keeps its
    address, audio port, username and o= session id, and bumps the o= version only when
    something else changed (RFC 3264 §8). The direction follows the offer: ``sendonly`` is
    answered ``recvonly``, ``inactive`` (or c=0.0.0.0 with nothing sent) ``inactive``,
    ``sendrecv`` (unhold) ``sendrecv``. Raises ``SdpNegotiationError`` (488) like
    ``negotiate``; then the session stays as it was.
    """
    audio = previous.audio
    if audio is None:
        raise SdpNegotiationError("our session has no active audio stream")
    local_ip = previous.address_of(audio) or previous.origin.address
    origin = previous.origin
    answer = negotiate(offer, local_ip=local_ip, local_port=audio.port, supported=supported,
                       direction=direction, telephone_event=telephone_event,
                       session_id=origin.session_id, session_version=origin.session_version,
                       username=origin.username)  # fmt: skip
    if replace(answer, origin=origin) == previous:
        return previous  # the same session: the same version (a refresh)
    return replace(answer, origin=replace(origin, session_version=origin.session_version + 1))


def _answer_audio(
    offer: SessionDescription,
    media: Media,
    local_port: int,
    supported: tuple[Codec, ...],
    direction: Direction,
    telephone_event: bool,
) -> Media | None:
    offered = media.codecs
    codec = next(
        (o for o in offered if not _is_dtmf(o) and any(o.same_format(s) for s in supported)),
        None,
    )
    if codec is None:
        return None
    chosen = [codec]
    if telephone_event:
        dtmf = next((o for o in offered if _is_dtmf(o) and o.clock_rate == codec.clock_rate), None)
        if dtmf is not None:
            chosen.append(dtmf)
    theirs = offer.direction_of(media)
    if offer.address_of(media) in _NULL_ADDRESSES:  # RFC 2543 hold: do not send to them
        theirs = Direction.of(theirs.sends, False)
    ours = Direction.of(direction.sends and theirs.receives, direction.receives and theirs.sends)
    formats = tuple(str(c.payload_type) for c in chosen)
    attrs = _codec_attributes(chosen, ours, media.ptime)
    return Media("audio", local_port, media.proto, formats, attributes=attrs)


@dataclass(frozen=True, slots=True)
class AudioPlan:
    """What the media engine needs for a leg once both SDPs are known.

    ``codec`` and ``telephone_event`` carry the payload numbers the remote side expects.
    ``remote_ip`` is ``None`` when the remote side gave no usable address (hold, port 0).
    """

    remote_ip: str | None
    remote_port: int
    codec: Codec
    telephone_event: Codec | None
    send: bool
    receive: bool
    ptime: int | None


def audio_plan(local: SessionDescription, remote: SessionDescription) -> AudioPlan:
    """Combine our SDP (offer or answer) with theirs; raises ``SdpNegotiationError``."""
    mine, theirs = local.audio, remote.audio
    if mine is None or theirs is None:
        raise SdpNegotiationError("no active audio stream on both sides")
    my_codecs = mine.codecs
    codec = next(
        (c for c in theirs.codecs if not _is_dtmf(c) and any(c.same_format(m) for m in my_codecs)),
        None,
    )
    if codec is None:
        raise SdpNegotiationError("no common codec in offer and answer")
    dtmf = next(
        (c for c in theirs.codecs if _is_dtmf(c) and any(_is_dtmf(m) for m in my_codecs)), None
    )
    address = remote.address_of(theirs)
    if address in _NULL_ADDRESSES:
        address = None
    my_dir, their_dir = local.direction_of(mine), remote.direction_of(theirs)
    return AudioPlan(
        remote_ip=address,
        remote_port=theirs.port,
        codec=codec,
        telephone_event=dtmf,
        send=my_dir.sends and their_dir.receives and address is not None,
        receive=my_dir.receives and their_dir.sends,
        ptime=theirs.ptime or mine.ptime,
    )
