"""One leg of the in-process RTP relay, sans-IO: no socket, no clock.

``MediaLeg`` holds one leg's media state and decides, packet by packet: validate, latch onto
the sender (symmetric RTP), count (``LegStats``), detect RFC 4733 DTMF, and prepare what goes
out to the other leg (payload type mapping, PCMU/PCMA transcoding, SSRC/sequence/timestamp
rewriting), or a packet of our own audio (prompts, music). ``relay.RtpRelay`` owns the
sockets and feeds it datagrams with the loop's time.
"""

from __future__ import annotations

import ipaddress
import struct
from collections.abc import Callable
from dataclasses import dataclass, field

from .g711 import ALAW_TO_ULAW, ULAW_TO_ALAW
from .rtp import (
    DtmfDetected,
    DtmfDetector,
    RtpError,
    RtpHeader,
    StreamRewriter,
    is_rtcp,
    parse_rtp_header,
    rewrite_header,
)

__all__ = ["Address", "AudioTap", "LegStats", "MediaLeg"]

Address = tuple[str, int]

_PCMU, _PCMA = 0, 8
_G711 = frozenset({_PCMU, _PCMA})
_DYNAMIC = 96  # payload types from here on are named in SDP, not fixed (RFC 3551)
_CLOCK_RATE = 8000  # G.711 and telephone-event
_RTP_FIXED = struct.Struct("!BBHII")
_PLAIN_FIRST = 0x80  # version 2, no padding, no extension, no CSRC: a 12-byte header
_TRANSCODE: dict[tuple[int, int], bytes] = {  # (from, to) payload type: table
    (_PCMU, _PCMA): ULAW_TO_ALAW,
    (_PCMA, _PCMU): ALAW_TO_ULAW,
}

#: Listens to a leg's audio: ``tap(payload, payload_type, now)`` (recording). Taps see audio
#: only, never telephone-event, and must be quick: they run on the packet path.
AudioTap = Callable[[bytes, int, float], None]


@dataclass(slots=True)
class LegStats:
    """Counters of one leg. ``*_in`` is what its endpoint sent us, ``*_out`` what we sent it."""

    packets_in: int = 0
    bytes_in: int = 0
    packets_out: int = 0
    bytes_out: int = 0
    late: int = 0
    jitter: float = 0.0  # RFC 3550 interarrival jitter estimate, seconds
    dtmf: int = 0
    rtcp: int = 0  # RTCP received (muxed or on port + 1), dropped
    malformed: int = 0
    foreign: int = 0  # packets from another address after latching, dropped
    unbridged: int = 0  # valid packets with no bridge to go to, dropped
    no_remote: int = 0  # packets for this leg before its address was known, dropped
    codec_mismatch: int = 0  # packets for this leg in a codec it did not negotiate, dropped
    send_errors: int = 0  # sends that failed or would have blocked (dropped), ICMP errors
    played: int = 0  # packets of our own audio (prompts, music) sent to it; in packets_out
    masked: int = 0  # bridged packets for it dropped because a prompt was playing to it


@dataclass(slots=True)
class MediaLeg:
    """Sans-IO media state of one leg: what it accepts, where it sends, how it rewrites."""

    leg_id: str
    local: Address
    latch_packets: int = 3
    late_tolerance: float = 0.020
    rewriter: StreamRewriter | None = None
    remote: Address | None = None  # where packets for this leg go
    latched: bool = False
    audio_pt: int | None = None
    event_pt: int | None = None
    peer: MediaLeg | None = None
    stats: LegStats = field(default_factory=LegStats)
    detected: list[DtmfDetected] = field(default_factory=list)
    detector: DtmfDetector | None = None
    playing: bool = False  # our own audio goes to it: bridged packets for it are dropped
    taps_in: list[AudioTap] = field(default_factory=list)  # audio its endpoint sent us
    taps_out: list[AudioTap] = field(default_factory=list)  # audio we sent its endpoint
    _candidate: Address | None = None
    _candidate_seq: int = 0
    _candidate_count: int = 0
    _last: tuple[float, int, int] | None = None  # arrival, ssrc, timestamp of the last audio

    def set_remote(
        self, ip: str, port: int, payload_type: int, telephone_event_pt: int | None
    ) -> None:
        """Address and payload types from SDP; latching starts over (a re-INVITE moves media).

        ``ip`` must be an IP literal (resolve names before: sending would block on DNS). The
        unspecified address (``0.0.0.0``, old-style hold) means: send nothing until the
        endpoint itself sends (then it is latched as usual).
        """
        try:
            address = ipaddress.ip_address(ip)
        except ValueError:
            raise ValueError(f"media address must be an IP literal, got {ip!r}") from None
        if not 0 < port < 65536:
            raise ValueError(f"media port must be in 1..65535, got {port}")
        for pt in (payload_type, telephone_event_pt):
            if pt is not None and not 0 <= pt <= 127:
                raise ValueError(f"payload type must be in 0..127, got {pt}")
        self.remote = None if address.is_unspecified else (str(address), port)
        self.latched = False
        self._candidate = None
        self.audio_pt = payload_type
        if telephone_event_pt != self.event_pt or self.detector is None:
            self.event_pt = telephone_event_pt
            self.detector = None if telephone_event_pt is None else DtmfDetector(telephone_event_pt)

    def receive(self, data: bytes, addr: Address, now: float) -> RtpHeader | None:
        """Take a datagram from the network; the header if it should be relayed, else None.

        Detected keys are appended to ``detected`` for the caller to drain.
        """
        stats = self.stats
        if is_rtcp(data):
            stats.rtcp += 1
            return None
        try:
            header = parse_rtp_header(data)
        except RtpError:
            stats.malformed += 1
            return None
        pt = header.payload_type
        if 64 <= pt < 96 and pt != self.audio_pt and pt != self.event_pt:
            # RFC 5761 section 4: types RTCP can look like. Relayed with the marker that a
            # rewrite sets on a new source, it would reach the peer as RTCP (types 192-223).
            stats.malformed += 1
            return None
        if self.latched and addr != self.remote:
            stats.foreign += 1
            return None
        detector = self.detector
        if detector is not None and (pt == detector.payload_type or detector.pending):
            payload = data[header.payload_start : header.payload_end]
            try:
                found = detector.feed_fields(pt, header.ssrc, header.timestamp, payload)
            except RtpError:
                stats.malformed += 1
                return None
            if found:
                stats.dtmf += len(found)
                self.detected.extend(found)
        if not self.latched:
            self._learn(addr, header.sequence)
        stats.packets_in += 1
        stats.bytes_in += len(data)
        if pt != self.event_pt:
            self._time(header.marker, header.ssrc, header.timestamp, now)
        return header

    def forward(self, data: bytes, addr: Address, now: float) -> bytes | bytearray | None:
        """The common packet in one step: ``receive`` here, then ``prepare`` on the peer.

        Handles a bridged audio packet with a plain 12-byte header from the latched address,
        when neither leg has a tap, the peer plays nothing, no key is being detected and the
        two legs' codecs are the same or PCMU/PCMA. Returns what to send the peer, with the
        same counters, timing and rewriting as the two steps would give; None, having changed
        nothing, for every other packet, which then takes the general path (``receive`` and
        ``prepare``). About half the Python work of the general path per relayed packet.
        """
        peer = self.peer
        if (
            peer is None
            or len(data) < 12
            or data[0] != _PLAIN_FIRST
            or not self.latched
            or addr != self.remote
            or peer.playing
            or peer.remote is None
            or self.taps_in
            or peer.taps_out
        ):
            return None
        _, second, sequence, timestamp, ssrc = _RTP_FIXED.unpack_from(data)
        pt = second & 0x7F
        if pt != self.audio_pt or pt == self.event_pt or 64 <= pt < 96:
            return None  # events, what is not our audio, and types that RTCP can look like
        detector = self.detector
        if detector is not None and detector.pending:
            return None  # audio may end a key whose end packets were lost
        out_pt = pt if peer.audio_pt is None else peer.audio_pt
        table = None
        if out_pt != pt:
            table = _TRANSCODE.get((pt, out_pt))
            if table is None:
                return None
        size = len(data)
        stats = self.stats
        stats.packets_in += 1
        stats.bytes_in += size
        self._time(second & 0x80, ssrc, timestamp, now)
        return peer._outgoing(data, pt, out_pt, table, ssrc, sequence, timestamp, 12, size, now)

    def prepare(
        self, data: bytes, header: RtpHeader, source: MediaLeg, now: float
    ) -> bytes | bytearray | None:
        """What to send this leg for a packet relayed from ``source``; None to drop it."""
        if self.playing:
            self.stats.masked += 1  # a prompt replaces the bridged audio (whisper)
            return None
        if self.remote is None:
            self.stats.no_remote += 1
            return None
        pt = header.payload_type
        out_pt = pt
        table = None
        source_pt = source.audio_pt
        # The source's audio, or G.711 of the other law (a phone that switched mid-call):
        # sent in this leg's own codec, so its phone hears what it negotiated.
        if (pt == source_pt or (pt in _G711 and source_pt in _G711)) and self.audio_pt is not None:
            out_pt = self.audio_pt
            if out_pt != pt:
                table = _TRANSCODE.get((pt, out_pt))
                if table is None and pt < _DYNAMIC and out_pt < _DYNAMIC:
                    self.stats.codec_mismatch += 1  # two different static codecs
                    return None
        elif pt == source.event_pt and source.event_pt is not None:
            if self.event_pt is None:
                return None  # this side negotiated no telephone-event; keys were reported
            out_pt = self.event_pt
        elif source_pt is not None and pt != source_pt and pt not in _G711:
            # A type the source did not negotiate means nothing known here, and passed on
            # as it is it may mean another thing to this leg (its telephone-event type).
            # PCMU and PCMA are static (RFC 3551 section 6): they mean the same everywhere.
            self.stats.codec_mismatch += 1
            return None
        return self._outgoing(
            data,
            pt,
            out_pt,
            table,
            header.ssrc,
            header.sequence,
            header.timestamp,
            header.payload_start,
            header.payload_end,
            now,
        )

    def _outgoing(
        self,
        data: bytes,
        pt: int,
        out_pt: int,
        table: bytes | None,
        ssrc: int,
        sequence: int,
        timestamp: int,
        payload_start: int,
        payload_end: int,
        now: float,
    ) -> bytes | bytearray:
        """``data`` as it goes to this leg: payload type ``out_pt``, the payload through
        ``table`` (transcoding), renumbered by the rewriter; counted. The tail of both
        ``prepare`` and ``forward``."""
        rewriter = self.rewriter
        if rewriter is None and out_pt == pt and table is None:
            out: bytes | bytearray = data
        elif rewriter is None:
            out = rewrite_header(
                data, sequence=sequence, timestamp=timestamp, ssrc=ssrc, payload_type=out_pt
            )
        else:
            seq, ts, changed = rewriter.rewrite(ssrc, sequence, timestamp, now)
            out = rewrite_header(
                data,
                sequence=seq,
                timestamp=ts,
                ssrc=rewriter.ssrc,
                payload_type=out_pt if out_pt != pt else None,
                marker=True if changed else None,
            )
        if table is not None:
            assert isinstance(out, bytearray)
            out[payload_start:payload_end] = data[payload_start:payload_end].translate(table)
        stats = self.stats
        stats.packets_out += 1
        stats.bytes_out += len(out)
        return out

    @property
    def local_audio_pt(self) -> int:
        """The payload type of our own audio to this leg: its codec, PCMU until SDP says."""
        return _PCMU if self.audio_pt is None else self.audio_pt

    def start_local(self) -> None:
        """Our own audio starts: bridged audio to this leg stops until ``end_local``."""
        self.playing = True
        if self.rewriter is not None:
            self.rewriter.new_source()

    def end_local(self) -> None:
        """Our own audio ended: bridged audio flows again, continuing the outgoing stream."""
        self.playing = False
        if self.rewriter is not None:
            self.rewriter.new_source()

    def local_packet(
        self,
        payload: bytes,
        *,
        source: int,
        sequence: int,
        timestamp: int,
        marker: bool,
        now: float,
    ) -> bytes | None:
        """An RTP packet of our own audio (already in this leg's codec) for this leg.

        ``source``, ``sequence`` and ``timestamp`` number the local stream; through the
        rewriter they continue the leg's one outgoing stream, without it they go out as they
        are (``source`` as the SSRC). None when the leg has no address yet.
        """
        if self.remote is None:
            self.stats.no_remote += 1
            return None
        rewriter = self.rewriter
        if rewriter is not None:
            sequence, timestamp, changed = rewriter.rewrite(source, sequence, timestamp, now)
            marker = marker or changed
            source = rewriter.ssrc
        pt = self.local_audio_pt
        packet = _RTP_FIXED.pack(0x80, (0x80 if marker else 0) | pt, sequence, timestamp, source)
        packet += payload
        stats = self.stats
        stats.packets_out += 1
        stats.bytes_out += len(packet)
        stats.played += 1
        return packet

    def _learn(self, addr: Address, sequence: int) -> None:
        if addr == self._candidate and (sequence - self._candidate_seq) & 0xFFFF == 1:
            self._candidate_count += 1
        else:
            self._candidate, self._candidate_count = addr, 1
        self._candidate_seq = sequence
        if self._candidate_count >= self.latch_packets:
            self.remote, self.latched = addr, True

    def _time(self, marker: int, ssrc: int, timestamp: int, now: float) -> None:
        last = self._last
        self._last = (now, ssrc, timestamp)
        if last is None or last[1] != ssrc or marker:
            return  # first packet, new source or a new talkspurt: no reference
        media_gap = ((timestamp - last[2]) & 0xFFFFFFFF) / _CLOCK_RATE
        if media_gap > 60.0:
            return  # timestamp went backwards (reordered): not late
        transit = now - last[0] - media_gap
        if transit > self.late_tolerance:
            self.stats.late += 1
        self.stats.jitter += (abs(transit) - self.stats.jitter) / 16
