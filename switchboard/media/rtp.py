"""RTP (RFC 3550) and telephone-event (RFC 4733) on bytes: no sockets, no clock.

- ``parse_rtp_header`` validates a datagram and locates its payload without copying it (the
  relay's hot path); ``RtpPacket`` is the full, typed packet for everything else.
- ``is_rtcp`` tells RTCP multiplexed on the RTP port (RFC 5761) apart so it can be dropped.
- ``TelephoneEvent`` and ``DtmfDetector`` turn RFC 4733 packets, retransmissions included, into
  digits exactly once; ``dtmf_packets`` builds the packets a sender emits for one digit.
- ``StreamRewriter`` keeps one outgoing stream's SSRC, sequence and timestamp continuous while
  its source changes (bridged audio, then a prompt, then audio again).

Bad input from a peer raises ``RtpError``; misuse of this API raises ``ValueError``.
"""

from __future__ import annotations

import struct
from collections import deque
from dataclasses import dataclass
from typing import NamedTuple

__all__ = [
    "DTMF_EVENTS",
    "RTP_HEADER_SIZE",
    "DtmfDetected",
    "DtmfDetector",
    "RtpError",
    "RtpExtension",
    "RtpHeader",
    "RtpPacket",
    "StreamRewriter",
    "TelephoneEvent",
    "digit_to_event",
    "dtmf_packets",
    "event_to_digit",
    "is_rtcp",
    "parse_rtp_header",
    "rewrite_header",
]

RTP_VERSION = 2
RTP_HEADER_SIZE = 12
_FIXED = struct.Struct("!BBHII")
_EXTENSION = struct.Struct("!HH")
_SEQ_TS_SSRC = struct.Struct("!HII")
_EVENT = struct.Struct("!BBH")

#: RFC 4733 section 3.2: events 0-15 are the DTMF keys.
DTMF_EVENTS = "0123456789*#ABCD"


class RtpError(ValueError):
    """A datagram is not a well-formed RTP packet (the peer sent garbage)."""


# --------------------------------------------------------------------------- RTP packets


class RtpHeader(NamedTuple):
    """The fixed header of a validated RTP packet, and where its payload lies in the datagram.

    ``payload_start:payload_end`` excludes CSRCs, the header extension and padding. A named
    tuple, not a frozen dataclass: it is built for every relayed packet and is 3x cheaper.
    """

    marker: bool
    payload_type: int
    sequence: int
    timestamp: int
    ssrc: int
    payload_start: int
    payload_end: int


def parse_rtp_header(data: bytes) -> RtpHeader:
    """Validate ``data`` as one RTP packet; raise ``RtpError`` saying what is wrong."""
    size = len(data)
    if size < RTP_HEADER_SIZE:
        raise RtpError(f"RTP packet too short: {size} bytes, the fixed header needs 12")
    first, second, sequence, timestamp, ssrc = _FIXED.unpack_from(data)
    if first >> 6 != RTP_VERSION:
        raise RtpError(f"RTP version {first >> 6}, expected 2")
    payload_type = second & 0x7F
    if 72 <= payload_type <= 76:
        # RFC 5761 section 4: these values collide with RTCP packet types 200-204.
        raise RtpError(f"payload type {payload_type} collides with RTCP (an RTCP packet?)")
    start = RTP_HEADER_SIZE + 4 * (first & 0x0F)
    if first & 0x10:
        if size < start + 4:
            raise RtpError("RTP header extension flag set but the extension header is cut off")
        words = _EXTENSION.unpack_from(data, start)[1]
        start += 4 + 4 * words
    if start > size:
        raise RtpError(f"RTP header claims {start} bytes (CSRCs, extension), packet has {size}")
    end = size
    if first & 0x20:
        padding = data[-1]
        if padding == 0 or padding > size - start:
            raise RtpError(f"RTP padding count {padding} invalid for {size - start} bytes")
        end -= padding
    return RtpHeader(bool(second & 0x80), payload_type, sequence, timestamp, ssrc, start, end)


def is_rtcp(data: bytes) -> bool:
    """True if ``data`` looks like RTCP (RFC 5761 demultiplexing: packet type 192-223)."""
    return len(data) >= 8 and data[0] >> 6 == RTP_VERSION and 192 <= data[1] <= 223


def rewrite_header(
    data: bytes,
    *,
    sequence: int,
    timestamp: int,
    ssrc: int,
    payload_type: int | None = None,
    marker: bool | None = None,
) -> bytearray:
    """Return a copy of a *validated* packet with new sequence, timestamp and SSRC.

    ``payload_type`` and ``marker``, when given, replace the original ones; CSRCs, extension,
    payload and padding are kept byte for byte.
    """
    out = bytearray(data)
    _SEQ_TS_SSRC.pack_into(out, 2, sequence, timestamp, ssrc)
    if payload_type is not None or marker is not None:
        second = out[1]
        pt = second & 0x7F if payload_type is None else payload_type
        mark = bool(second & 0x80) if marker is None else marker
        out[1] = (0x80 if mark else 0) | pt
    return out


@dataclass(frozen=True, slots=True)
class RtpExtension:
    """An RFC 3550 header extension: a 16-bit profile value and data in 32-bit words."""

    profile: int
    data: bytes = b""

    def __post_init__(self) -> None:
        _check_range("extension profile", self.profile, 0xFFFF)
        if len(self.data) % 4 or len(self.data) > 4 * 0xFFFF:
            raise ValueError("extension data must be whole 32-bit words, at most 65535")


@dataclass(frozen=True, slots=True)
class RtpPacket:
    """One RTP packet with every RFC 3550 field (version is always 2).

    ``padding`` is the number of padding octets (0: the P bit is clear).
    """

    payload_type: int
    sequence: int
    timestamp: int
    ssrc: int
    payload: bytes = b""
    marker: bool = False
    csrcs: tuple[int, ...] = ()
    extension: RtpExtension | None = None
    padding: int = 0

    def __post_init__(self) -> None:
        _check_range("payload type", self.payload_type, 0x7F)
        _check_range("sequence", self.sequence, 0xFFFF)
        _check_range("timestamp", self.timestamp, 0xFFFFFFFF)
        _check_range("ssrc", self.ssrc, 0xFFFFFFFF)
        if len(self.csrcs) > 15:
            raise ValueError(f"at most 15 CSRCs, got {len(self.csrcs)}")
        for csrc in self.csrcs:
            _check_range("csrc", csrc, 0xFFFFFFFF)
        _check_range("padding", self.padding, 0xFF)

    @classmethod
    def parse(cls, data: bytes) -> RtpPacket:
        """Parse one datagram; raise ``RtpError`` if it is not a well-formed RTP packet."""
        header = parse_rtp_header(data)
        count = data[0] & 0x0F
        csrcs = struct.unpack_from(f"!{count}I", data, RTP_HEADER_SIZE) if count else ()
        extension = None
        if data[0] & 0x10:
            at = RTP_HEADER_SIZE + 4 * count
            profile, words = _EXTENSION.unpack_from(data, at)
            extension = RtpExtension(profile, bytes(data[at + 4 : at + 4 + 4 * words]))
        return cls(
            payload_type=header.payload_type,
            sequence=header.sequence,
            timestamp=header.timestamp,
            ssrc=header.ssrc,
            payload=bytes(data[header.payload_start : header.payload_end]),
            marker=header.marker,
            csrcs=tuple(csrcs),
            extension=extension,
            padding=len(data) - header.payload_end,
        )

    def serialize(self) -> bytes:
        """The packet as it goes on the wire."""
        first = (RTP_VERSION << 6) | len(self.csrcs)
        if self.padding:
            first |= 0x20
        if self.extension is not None:
            first |= 0x10
        second = (0x80 if self.marker else 0) | self.payload_type
        parts = [_FIXED.pack(first, second, self.sequence, self.timestamp, self.ssrc)]
        if self.csrcs:
            parts.append(struct.pack(f"!{len(self.csrcs)}I", *self.csrcs))
        if self.extension is not None:
            ext = self.extension
            parts.append(_EXTENSION.pack(ext.profile, len(ext.data) // 4) + ext.data)
        parts.append(self.payload)
        if self.padding:
            parts.append(bytes(self.padding - 1) + bytes([self.padding]))
        return b"".join(parts)


def _check_range(name: str, value: int, maximum: int) -> None:
    if not 0 <= value <= maximum:
        raise ValueError(f"{name} must be in 0..{maximum}, got {value}")


# --------------------------------------------------------------------------- RFC 4733


def event_to_digit(event: int) -> str | None:
    """The DTMF key for an RFC 4733 event code, or None for other events (flash, tones)."""
    return DTMF_EVENTS[event] if 0 <= event < len(DTMF_EVENTS) else None


def digit_to_event(digit: str) -> int:
    """The RFC 4733 event code of a DTMF key (``0-9 * # A-D``); raise ``ValueError`` if none."""
    index = DTMF_EVENTS.find(digit.upper()) if len(digit) == 1 else -1
    if index < 0:
        raise ValueError(f"not a DTMF key: {digit!r}")
    return index


@dataclass(frozen=True, slots=True)
class TelephoneEvent:
    """The 4-octet RFC 4733 payload: event code, end bit, volume (-dBm0), duration (samples)."""

    event: int
    end: bool = False
    volume: int = 10
    duration: int = 0

    def __post_init__(self) -> None:
        _check_range("event", self.event, 0xFF)
        _check_range("volume", self.volume, 0x3F)
        _check_range("duration", self.duration, 0xFFFF)

    @classmethod
    def parse(cls, payload: bytes) -> TelephoneEvent:
        """Parse the first event of a payload; raise ``RtpError`` if it is too short."""
        if len(payload) < 4:
            raise RtpError(f"telephone-event payload is {len(payload)} bytes, needs 4")
        event, flags, duration = _EVENT.unpack_from(payload)
        return cls(event, bool(flags & 0x80), flags & 0x3F, duration)

    def serialize(self) -> bytes:
        """The 4-octet payload (the reserved bit is sent as zero)."""
        return _EVENT.pack(self.event, (0x80 if self.end else 0) | self.volume, self.duration)


@dataclass(frozen=True, slots=True)
class DtmfDetected:
    """A DTMF key finished on one stream.

    ``duration`` is in timestamp units (samples at 8 kHz); ``timestamp`` identifies the event
    (RFC 4733: every packet of one event carries the timestamp of its start). ``ended`` is
    False when no end packet arrived and the key was inferred from what followed.
    """

    digit: str
    duration: int
    volume: int
    ssrc: int
    timestamp: int
    ended: bool = True


@dataclass(slots=True)
class _Tone:
    ssrc: int
    first_timestamp: int  # the event's start, reported
    timestamp: int  # the current segment's start
    event: int
    earlier: int  # duration of the segments before the current one
    duration: int  # the current segment's duration so far
    volume: int


class DtmfDetector:
    """Turns a stream's packets into ``DtmfDetected`` exactly once per key press.

    Only events 0-15 (the keys) are reported. Feed it every packet of the stream, audio too:
    audio after an event whose end packets were all lost finishes that event. A key is
    reported at its first end packet. If the end packets are lost, the key is reported when
    the next event or later audio arrives, or at ``flush()``. A long event sent in segments
    (RFC 4733 section 2.5.1.3) counts once.

    For each of its last ``sources`` SSRCs the detector remembers the timestamps of the last
    ``memory`` events (and segments) it finished: a telephone-event packet with one of them
    is a retransmission or a late packet of an event already reported, and is ignored. Only
    the very timestamp counts, not an order: some sources start a key's timestamps, and
    sequence numbers, below the previous key's (SIPp's ``play_dtmf`` does, on one SSRC), so
    "earlier" cannot tell a late packet from a new key. A packet late by more than
    ``memory`` key presses would count again; RTP is not delivered that late. An SSRC not
    remembered (a restarted stream) starts fresh.
    """

    def __init__(self, payload_type: int, *, sources: int = 4, memory: int = 32) -> None:
        _check_range("telephone-event payload type", payload_type, 0x7F)
        if sources < 1 or memory < 1:
            raise ValueError(f"sources and memory must be positive, got {sources}, {memory}")
        self.payload_type = payload_type
        self._tone: _Tone | None = None
        # SSRC -> starts of its latest finished events (and segments); oldest SSRC first.
        self._finished: dict[int, deque[int]] = {}
        self._sources = sources
        self._memory = memory

    @property
    def pending(self) -> bool:
        """True while an event has begun and not been reported."""
        return self._tone is not None

    def feed(self, packet: RtpPacket) -> list[DtmfDetected]:
        """Process one packet of the stream; return the keys it completes (usually none)."""
        return self.feed_fields(packet.payload_type, packet.ssrc, packet.timestamp, packet.payload)

    def feed_fields(
        self, payload_type: int, ssrc: int, timestamp: int, payload: bytes
    ) -> list[DtmfDetected]:
        """``feed`` for callers that hold the fields rather than an ``RtpPacket``.

        Raises ``RtpError`` for a telephone-event packet with a malformed payload.
        """
        tone = self._tone
        if payload_type != self.payload_type:
            if tone is not None and tone.ssrc == ssrc and not _is_late(timestamp, tone.timestamp):
                return self._finish(ended=False)
            return []  # no event open, another source, or audio from before the event
        event = TelephoneEvent.parse(payload)
        finished = self._finished.get(ssrc)
        if finished is not None and timestamp in finished:
            return []  # a retransmission or a late packet of an event already reported
        found: list[DtmfDetected] = []
        if tone is not None and (tone.ssrc, tone.timestamp) != (ssrc, timestamp):
            if tone.ssrc == ssrc and _is_late(timestamp, tone.timestamp):
                return []  # a late packet of an event already superseded
            if (
                tone.ssrc == ssrc
                and tone.event == event.event
                and timestamp == (tone.timestamp + tone.duration) & 0xFFFFFFFF
            ):
                # The next segment of a long event: the same key press.
                self._remember(tone.ssrc, tone.timestamp)
                tone.earlier += tone.duration
                tone.timestamp, tone.duration = timestamp, 0
            else:
                found = self._finish(ended=False)
                tone = None
        if tone is None:
            tone = _Tone(ssrc, timestamp, timestamp, event.event, 0, 0, event.volume)
            self._tone = tone
        tone.duration = max(tone.duration, event.duration)
        if event.end:
            found += self._finish(ended=True)
        return found

    def flush(self) -> list[DtmfDetected]:
        """Report an event still open (its end packets lost); call when the stream stops."""
        return [] if self._tone is None else self._finish(ended=False)

    def _finish(self, *, ended: bool) -> list[DtmfDetected]:
        tone = self._tone
        assert tone is not None
        self._tone = None
        self._remember(tone.ssrc, tone.timestamp)
        digit = event_to_digit(tone.event)
        if digit is None:
            return []  # flash, fax and modem tones: not keys
        detected = DtmfDetected(
            digit=digit,
            duration=tone.earlier + tone.duration,
            volume=tone.volume,
            ssrc=tone.ssrc,
            timestamp=tone.first_timestamp,
            ended=ended,
        )
        return [detected]

    def _remember(self, ssrc: int, timestamp: int) -> None:
        finished = self._finished
        done = finished.pop(ssrc, None)  # re-inserted last: the most recent SSRC
        if done is None:
            done = deque(maxlen=self._memory)
        done.append(timestamp)
        finished[ssrc] = done
        if len(finished) > self._sources:
            del finished[next(iter(finished))]


def dtmf_packets(
    digit: str,
    *,
    payload_type: int,
    ssrc: int,
    sequence: int,
    timestamp: int,
    duration: int = 800,
    step: int = 160,
    end_repeats: int = 3,
    volume: int = 10,
) -> list[RtpPacket]:
    """The packets a sender emits for one key: marker on the first, the end packet 3 times.

    ``duration`` and ``step`` are in samples (800 = 100 ms at 8 kHz, one packet per 20 ms).
    """
    if duration < 1 or step < 1 or end_repeats < 1:
        raise ValueError("duration, step and end_repeats must be positive")
    event = digit_to_event(digit)
    lengths = list(range(step, duration, step)) + [duration] * end_repeats
    packets = []
    for index, length in enumerate(lengths):
        end = index >= len(lengths) - end_repeats
        packets.append(
            RtpPacket(
                payload_type=payload_type,
                sequence=(sequence + index) & 0xFFFF,
                timestamp=timestamp & 0xFFFFFFFF,
                ssrc=ssrc,
                payload=TelephoneEvent(event, end, volume, length).serialize(),
                marker=index == 0,
            )
        )
    return packets


# How far behind an event's timestamp a packet still counts as late, not new: 131 s at
# 8 kHz, far more than any network delays a packet. Not half the 32-bit space (RFC 1982):
# a source whose timestamps jump back, keeping its SSRC, would lose its keys for hours.
_LATE_HORIZON = 1 << 20


def _is_late(timestamp: int, reference: int) -> bool:
    """``timestamp`` is ``reference`` or at most ``_LATE_HORIZON`` before it, modulo 2^32."""
    return (reference - timestamp) & 0xFFFFFFFF < _LATE_HORIZON


# --------------------------------------------------------------------------- rewriting


class StreamRewriter:
    """Gives one outgoing stream a fixed SSRC and continuous sequence numbers and timestamps.

    Packets of the current source keep their spacing (gaps and reordering pass through, so
    the receiver's jitter buffer still sees them). When the source changes (another SSRC, or
    ``new_source()``), the new source is anchored one sequence number after the last packet
    sent, and later in time by the wall-clock time elapsed (at least one packet's worth), with
    the marker bit set on its first packet.
    """

    def __init__(
        self,
        ssrc: int,
        first_sequence: int,
        first_timestamp: int,
        *,
        clock_rate: int = 8000,
        default_step: int = 160,
    ) -> None:
        _check_range("ssrc", ssrc, 0xFFFFFFFF)
        _check_range("sequence", first_sequence, 0xFFFF)
        _check_range("timestamp", first_timestamp, 0xFFFFFFFF)
        if clock_rate < 1 or default_step < 1:
            raise ValueError("clock_rate and default_step must be positive")
        self.ssrc = ssrc
        self.clock_rate = clock_rate
        self._source: int | None = None
        self._seq_offset = 0
        self._ts_offset = 0
        # The newest packet sent: its sequence, timestamp and when.
        self._last_seq = (first_sequence - 1) & 0xFFFF
        self._last_ts = (first_timestamp - default_step) & 0xFFFFFFFF
        self._last_time: float | None = None
        self._step = default_step
        self._step_learned = False
        self._last_in: tuple[int, int] | None = None

    def new_source(self) -> None:
        """Re-anchor at the next packet even if its SSRC is the one seen last."""
        self._source = None

    def rewrite(
        self, ssrc: int, sequence: int, timestamp: int, now: float
    ) -> tuple[int, int, bool]:
        """Map one packet of source ``ssrc``; return (sequence, timestamp, source_changed)."""
        changed = ssrc != self._source
        if changed:
            gap = self._step
            if self._last_time is not None:
                gap = max(gap, round((now - self._last_time) * self.clock_rate))
            self._seq_offset = (self._last_seq + 1 - sequence) & 0xFFFF
            self._ts_offset = (self._last_ts + gap - timestamp) & 0xFFFFFFFF
            self._source = ssrc
            self._last_in = None
            self._step_learned = False
        out_seq = (sequence + self._seq_offset) & 0xFFFF
        out_ts = (timestamp + self._ts_offset) & 0xFFFFFFFF
        if changed or 0 < (out_seq - self._last_seq) & 0xFFFF < 0x8000:
            last_in = self._last_in
            if last_in is not None and (sequence - last_in[0]) & 0xFFFF == 1:
                step = (timestamp - last_in[1]) & 0xFFFFFFFF
                if 0 < step <= self.clock_rate:
                    # The smallest step of this source: after silence or a key the
                    # timestamp jumps further than one packet's worth.
                    self._step = min(self._step, step) if self._step_learned else step
                    self._step_learned = True
            self._last_in = (sequence, timestamp)
            self._last_seq, self._last_ts, self._last_time = out_seq, out_ts, now
        return out_seq, out_ts, changed
