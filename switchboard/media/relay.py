"""RTP relay between bridged legs: a sans-IO leg core and a thin asyncio adapter around it.

``MediaLeg`` holds one leg's media state and decides, packet by packet, without touching a
socket or a clock: validate, latch onto the sender (symmetric RTP), count, detect RFC 4733
DTMF, and prepare what goes out to the other leg (payload type mapping, PCMU/PCMA transcoding,
SSRC/sequence/timestamp rewriting). ``RtpRelay`` binds the sockets, feeds datagrams in with
the loop's time and sends what the core returns. ``PortAllocator`` hands out RTP ports.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import ipaddress
import logging
import random
import socket
import struct
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import TypeVar

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

__all__ = [
    "Address",
    "AudioTap",
    "LegStats",
    "MediaLeg",
    "PortAllocator",
    "PortsExhausted",
    "RelayConfig",
    "RtpRelay",
    "open_udp_socket",
]

log = logging.getLogger(__name__)

Address = tuple[str, int]
T = TypeVar("T")
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


class PortsExhausted(OSError):
    """Every port pair in the configured range is taken (an ``OSError``, like the failed binds
    behind it, so callers that handle socket errors handle this too)."""


@dataclass(frozen=True, slots=True)
class RelayConfig:
    """How the in-process relay binds and behaves.

    ``port_range`` is inclusive; legs get even RTP ports and keep port + 1 for RTCP.
    ``advertise_ip`` is the address to put in SDP when ``bind_ip`` is a wildcard or sits
    behind NAT. ``latch_packets`` sequential packets from one address latch the leg onto it.
    A packet is *late* when it arrives more than ``late_tolerance`` seconds later than its
    timestamp says, relative to the previous one (40 ms gap for 20 ms packets).
    A closed leg's sockets stay bound, *parked*, reading and dropping what still arrives;
    a new leg takes the pair parked longest once it has rested ``reuse_after`` seconds
    (no new sockets, binds or poller changes), and pairs left resting four times that long
    are closed. ``reuse_after=0`` closes a leg's sockets at once.
    """

    bind_ip: str = "127.0.0.1"
    port_range: tuple[int, int] = (20000, 30000)
    advertise_ip: str | None = None
    socket_buffer: int = 4 * 1024 * 1024
    latch_packets: int = 3
    late_tolerance: float = 0.020
    rewrite: bool = True
    rtcp_sink: bool = True
    reuse_after: float = 2.0

    def __post_init__(self) -> None:
        first, last = self.port_range
        if not 1024 <= first < last <= 65535:
            raise ValueError(f"port_range must be within 1024..65535, got {self.port_range}")
        if first + first % 2 + 1 > last:
            raise ValueError(f"port_range {self.port_range} holds no even/odd port pair")
        if ipaddress.ip_address(self.bind_ip).is_unspecified and self.advertise_ip is None:
            raise ValueError(f"binding {self.bind_ip} needs advertise_ip: the address for SDP")
        if self.latch_packets < 1 or self.socket_buffer < 0 or self.late_tolerance < 0:
            raise ValueError("latch_packets must be >= 1, socket_buffer and late_tolerance >= 0")
        if self.reuse_after < 0:
            raise ValueError(f"reuse_after must be >= 0 seconds, got {self.reuse_after}")


_PORT_TAKEN = frozenset({errno.EADDRINUSE, errno.EACCES})  # this port only: try the next


class PortAllocator:
    """Even RTP ports (with port + 1 left for RTCP) from an inclusive range.

    Never hands out a port it has handed out and not got back, nor one the ``bind`` callback
    fails on (taken by another process). It walks the range round-robin so that a port just
    freed is reused last, away from stray packets of the call that had it.
    """

    def __init__(self, first: int, last: int) -> None:
        start = first + (first % 2)
        self._ports = list(range(start, last, 2))  # port + 1 <= last
        if not self._ports:
            raise ValueError(f"no even port with port + 1 in {first}..{last}")
        self._cursor = 0
        self._in_use: set[int] = set()

    @property
    def capacity(self) -> int:
        """How many legs the range can hold."""
        return len(self._ports)

    @property
    def in_use(self) -> frozenset[int]:
        """Ports handed out and not released."""
        return frozenset(self._in_use)

    def allocate(self, bind: Callable[[int], T]) -> tuple[int, T]:
        """Find a free even port that ``bind(port)`` succeeds on; return it and bind's result.

        ``bind`` raises ``OSError`` with ``EADDRINUSE`` (or ``EACCES``) when the port is
        taken; the next one is tried. Any other ``OSError`` (out of file descriptors, no
        buffer space, an address this host does not have) would fail on every port alike, so
        it is raised at once instead of after a turn of the range. Raises ``PortsExhausted``
        after one full turn of the range.
        """
        count = len(self._ports)
        for step in range(count):
            port = self._ports[(self._cursor + step) % count]
            if port in self._in_use:
                continue
            try:
                result = bind(port)
            except OSError as err:
                if err.errno in _PORT_TAKEN:
                    continue
                raise
            self._cursor = (self._cursor + step + 1) % count
            self._in_use.add(port)
            return port, result
        raise PortsExhausted(f"no free RTP port pair in {self._ports[0]}..{self._ports[-1] + 1}")

    def release(self, port: int) -> None:
        """Give a port back (no-op if it is not held)."""
        self._in_use.discard(port)


def open_udp_socket(ip: str, port: int, buffer_bytes: int) -> socket.socket:
    """A non-blocking UDP socket bound to ``ip:port`` with raised send/receive buffers.

    The kernel caps the buffers at net.core.rmem_max / wmem_max; raise those for many calls.
    """
    family = socket.AF_INET6 if ":" in ip else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_DGRAM)
    try:
        if buffer_bytes:
            for option in (socket.SO_RCVBUF, socket.SO_SNDBUF):
                with contextlib.suppress(OSError):
                    sock.setsockopt(socket.SOL_SOCKET, option, buffer_bytes)
        sock.bind((ip, port))
        sock.setblocking(False)
    except BaseException:
        sock.close()
        raise
    return sock


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
        return self._outgoing(data, pt, out_pt, table, header.ssrc, header.sequence,
                              header.timestamp, header.payload_start, header.payload_end, now)

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
        pt = _PCMU if self.audio_pt is None else self.audio_pt
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


# --------------------------------------------------------------------------- asyncio adapter


_MAX_DATAGRAM = 8192  # larger than any RTP packet that fits a path MTU


class _UdpSocket:
    """One bound UDP socket read through ``loop.add_reader``, with no transport in between
    (about 34 µs of CPU per relayed packet against 38-42 through a datagram transport on
    the development VM). Needs a selector-based loop or uvloop: not Windows' proactor.

    A send that would block is dropped and counted: RTP is real time, and a packet held
    back by a full send buffer is worth nothing.
    """

    __slots__ = ("_failed", "_handler", "_ipv6", "_loop", "_stats", "sock")

    def __init__(
        self,
        loop: asyncio.AbstractEventLoop,
        sock: socket.socket,
        handler: Callable[[bytes, Address], None],
        stats: LegStats,
    ) -> None:
        self._loop, self.sock, self._handler, self._stats = loop, sock, handler, stats
        self._ipv6 = sock.family == socket.AF_INET6
        self._failed = False
        loop.add_reader(sock.fileno(), self._readable)

    def _readable(self) -> None:
        # One datagram per wake-up: the poller reports every ready socket at once, and a
        # second recvfrom to find the queue empty would cost a system call and an exception
        # for almost every packet (each leg gets one per 20 ms).
        try:
            data, addr = self.sock.recvfrom(_MAX_DATAGRAM)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            self._stats.send_errors += 1  # an ICMP error reported on the socket
            return
        try:
            self._handler(data, (addr[0], addr[1]) if self._ipv6 else addr)
        except Exception:  # a bug costs the packet, not the call; logged once, not per packet
            self._stats.malformed += 1
            if not self._failed:
                self._failed = True
                log.exception("media: a packet from %s:%d could not be handled", *addr[:2])

    def attach(self, handler: Callable[[bytes, Address], None], stats: LegStats) -> None:
        """Hand the socket to another reader (a new leg, or the parking's drop)."""
        self._handler, self._stats = handler, stats

    def sendto(self, data: bytes | bytearray, addr: Address) -> None:
        try:
            self.sock.sendto(data, addr)
        except OSError:  # would block (buffer full), or an ICMP error from an earlier send
            self._stats.send_errors += 1

    def close(self) -> None:
        self._loop.remove_reader(self.sock.fileno())
        self.sock.close()


@dataclass(slots=True)
class _Endpoint:
    leg: MediaLeg
    rtp: _UdpSocket
    rtcp: _UdpSocket | None


@dataclass(slots=True)
class _Parked:
    since: float  # loop time the leg closed
    port: int
    rtp: _UdpSocket
    rtcp: _UdpSocket | None


def _drop(data: bytes, addr: Address) -> None:
    """A parked socket's reader: late packets of the leg that had it go nowhere."""


class RtpRelay:
    """Legs with their own UDP sockets; bridged legs exchange packets both ways.

    ``on_dtmf(leg_id, key)`` is called for every key detected on a leg's incoming stream,
    bridged or not. Methods raise ``KeyError`` for an unknown leg and ``ValueError`` for
    misuse (allocating an id twice, bridging a leg that is bridged elsewhere).
    """

    def __init__(
        self,
        config: RelayConfig,
        rng: random.Random,
        on_dtmf: Callable[[str, DtmfDetected], None],
    ) -> None:
        self.config = config
        self._rng = rng
        self._on_dtmf = on_dtmf
        self._ports = PortAllocator(*config.port_range)
        self._endpoints: dict[str, _Endpoint] = {}
        self._parked: deque[_Parked] = deque()  # oldest first
        self._parked_stats = LegStats()  # what parked sockets count (errors only)
        self._sweep: asyncio.TimerHandle | None = None

    @property
    def ports(self) -> PortAllocator:
        """The port allocator (read it to see which ports are held)."""
        return self._ports

    @property
    def parked_ports(self) -> frozenset[int]:
        """RTP ports of closed legs whose sockets rest before reuse (see ``RelayConfig``)."""
        return frozenset(p.port for p in self._parked)

    @property
    def leg_ids(self) -> frozenset[str]:
        """The legs open now."""
        return frozenset(self._endpoints)

    def leg(self, leg_id: str) -> MediaLeg:
        """The sans-IO state of a leg (stats, remote, latching)."""
        return self._endpoints[leg_id].leg

    def stats(self, leg_id: str) -> LegStats:
        """A snapshot of a leg's counters."""
        return replace(self._endpoints[leg_id].leg.stats)

    async def open_leg(self, leg_id: str) -> Address:
        """Bind a port pair for a new leg; return the (ip, port) to put in SDP."""
        if leg_id in self._endpoints:
            raise ValueError(f"media leg {leg_id!r} is already open")
        config = self.config
        loop = asyncio.get_running_loop()
        parked = self._parked
        if parked and loop.time() - parked[0].since >= config.reuse_after:
            return self._reopen(leg_id, parked.popleft())
        try:
            port, sockets = self._ports.allocate(self._bind_pair)
        except PortsExhausted:
            if not parked:
                raise
            return self._reopen(leg_id, parked.popleft())  # early, rather than no call
        leg = self._new_leg(leg_id, port)
        rtp_sock, rtcp_sock = sockets
        try:
            rtp = _UdpSocket(loop, rtp_sock, self._receiver(leg), leg.stats)
            rtcp = None
            if rtcp_sock is not None:
                rtcp = _UdpSocket(loop, rtcp_sock, self._rtcp_receiver(leg), leg.stats)
        except BaseException:
            for sock in (rtp_sock, rtcp_sock):
                if sock is not None:
                    with contextlib.suppress(Exception):
                        loop.remove_reader(sock.fileno())
                    sock.close()
            self._ports.release(port)
            raise
        self._endpoints[leg_id] = _Endpoint(leg, rtp, rtcp)
        return (config.advertise_ip or config.bind_ip, port)

    def _new_leg(self, leg_id: str, port: int) -> MediaLeg:
        config = self.config
        rewriter = None
        if config.rewrite:
            rng = self._rng
            rewriter = StreamRewriter(rng.getrandbits(32), rng.getrandbits(16), rng.getrandbits(32))
        return MediaLeg(
            leg_id,
            (config.bind_ip, port),
            latch_packets=config.latch_packets,
            late_tolerance=config.late_tolerance,
            rewriter=rewriter,
        )

    def _reopen(self, leg_id: str, parked: _Parked) -> Address:
        """A new leg on a parked pair: its sockets change readers, nothing else."""
        leg = self._new_leg(leg_id, parked.port)
        parked.rtp.attach(self._receiver(leg), leg.stats)
        if parked.rtcp is not None:
            parked.rtcp.attach(self._rtcp_receiver(leg), leg.stats)
        self._endpoints[leg_id] = _Endpoint(leg, parked.rtp, parked.rtcp)
        config = self.config
        return (config.advertise_ip or config.bind_ip, parked.port)

    def set_remote(
        self,
        leg_id: str,
        ip: str,
        port: int,
        payload_type: int,
        telephone_event_pt: int | None = 101,
    ) -> None:
        """The leg's endpoint address and payload types, from its SDP."""
        self._endpoints[leg_id].leg.set_remote(ip, port, payload_type, telephone_event_pt)

    def bridge(self, a: str, b: str) -> None:
        """Relay packets between two open legs, both ways. Bridging the same pair is a no-op."""
        leg_a, leg_b = self._endpoints[a].leg, self._endpoints[b].leg
        if a == b:
            raise ValueError(f"cannot bridge media leg {a!r} to itself")
        if leg_a.peer is leg_b:
            return
        for leg in (leg_a, leg_b):
            if leg.peer is not None:
                raise ValueError(f"media leg {leg.leg_id!r} is bridged to {leg.peer.leg_id!r}")
        leg_a.peer, leg_b.peer = leg_b, leg_a
        for leg in (leg_a, leg_b):
            if leg.rewriter is not None:
                leg.rewriter.new_source()

    def unbridge(self, leg_id: str) -> None:
        """Stop relaying between a leg and its peer (no-op if it is not bridged)."""
        leg = self._endpoints[leg_id].leg
        peer = leg.peer
        if peer is not None:
            leg.peer = peer.peer = None

    def set_playing(self, leg_id: str, playing: bool) -> None:
        """Our own audio to a leg starts (bridged audio to it is held back) or ends."""
        leg = self._endpoints[leg_id].leg
        if playing:
            leg.start_local()
        else:
            leg.end_local()

    def send_audio(
        self,
        leg_id: str,
        payload: bytes,
        *,
        source: int,
        sequence: int,
        timestamp: int,
        marker: bool,
        now: float,
    ) -> None:
        """Send a frame of our own audio to a leg (see ``MediaLeg.local_packet``)."""
        endpoint = self._endpoints[leg_id]
        leg = endpoint.leg
        packet = leg.local_packet(
            payload, source=source, sequence=sequence, timestamp=timestamp, marker=marker, now=now
        )
        if packet is None:
            return
        assert leg.remote is not None
        endpoint.rtp.sendto(packet, leg.remote)
        if leg.taps_out:
            pt = _PCMU if leg.audio_pt is None else leg.audio_pt
            _feed_taps(leg, leg.taps_out, payload, pt, now)

    async def close_leg(self, leg_id: str) -> None:
        """Unbridge, report a key still open, close the sockets and free the port.

        A no-op for a leg that is not open, so hang-up paths may call it twice.
        """
        endpoint = self._endpoints.pop(leg_id, None)
        if endpoint is None:
            return
        leg = endpoint.leg
        if leg.peer is not None:
            leg.peer.peer = None
            leg.peer = None
        if leg.detector is not None:
            leg.detected.extend(leg.detector.flush())
            self._report(leg)
        port = leg.local[1]
        if self.config.reuse_after <= 0:
            self._close_pair(port, endpoint.rtp, endpoint.rtcp)
            return
        endpoint.rtp.attach(_drop, self._parked_stats)
        if endpoint.rtcp is not None:
            endpoint.rtcp.attach(_drop, self._parked_stats)
        loop = asyncio.get_running_loop()
        self._parked.append(_Parked(loop.time(), port, endpoint.rtp, endpoint.rtcp))
        if self._sweep is None:
            self._sweep = loop.call_at(loop.time() + 4 * self.config.reuse_after, self._unpark)

    def _unpark(self) -> None:
        """Close the pairs that rested too long unused; look again when the next would."""
        self._sweep = None
        parked = self._parked
        loop = asyncio.get_running_loop()
        keep = 4 * self.config.reuse_after
        while parked and loop.time() - parked[0].since >= keep:
            oldest = parked.popleft()
            self._close_pair(oldest.port, oldest.rtp, oldest.rtcp)
        if parked:
            self._sweep = loop.call_at(parked[0].since + keep, self._unpark)

    def _close_pair(self, port: int, rtp: _UdpSocket, rtcp: _UdpSocket | None) -> None:
        rtp.close()
        if rtcp is not None:
            rtcp.close()
        self._ports.release(port)

    async def close(self) -> None:
        """Close every leg, and the parked sockets."""
        for leg_id in list(self._endpoints):
            await self.close_leg(leg_id)
        if self._sweep is not None:
            self._sweep.cancel()
            self._sweep = None
        while self._parked:
            parked = self._parked.popleft()
            self._close_pair(parked.port, parked.rtp, parked.rtcp)

    def _bind_pair(self, port: int) -> tuple[socket.socket, socket.socket | None]:
        config = self.config
        rtp = open_udp_socket(config.bind_ip, port, config.socket_buffer)
        if not config.rtcp_sink:
            return rtp, None
        try:
            rtcp = open_udp_socket(config.bind_ip, port + 1, 0)
        except OSError:
            rtp.close()
            raise
        return rtp, rtcp

    def _receiver(self, leg: MediaLeg) -> Callable[[bytes, Address], None]:
        endpoints, clock = self._endpoints, asyncio.get_running_loop().time

        def received(data: bytes, addr: Address) -> None:
            now = clock()
            out = leg.forward(data, addr, now)
            if out is not None:
                peer = leg.peer
                assert peer is not None and peer.remote is not None
                endpoints[peer.leg_id].rtp.sendto(out, peer.remote)
                return
            header = leg.receive(data, addr, now)
            if header is None:
                return
            if leg.detected:
                self._report(leg)
            if leg.taps_in and header.payload_type == leg.audio_pt:
                payload = data[header.payload_start : header.payload_end]
                _feed_taps(leg, leg.taps_in, payload, header.payload_type, now)
            peer = leg.peer
            if peer is None:
                leg.stats.unbridged += 1
                return
            out = peer.prepare(data, header, leg, now)
            if out is not None:
                assert peer.remote is not None
                endpoints[peer.leg_id].rtp.sendto(out, peer.remote)
                if peer.taps_out and header.payload_type == leg.audio_pt:
                    out_pt = header.payload_type if peer.audio_pt is None else peer.audio_pt
                    payload = bytes(out[header.payload_start : header.payload_end])
                    _feed_taps(peer, peer.taps_out, payload, out_pt, now)

        return received

    @staticmethod
    def _rtcp_receiver(leg: MediaLeg) -> Callable[[bytes, Address], None]:
        def received(data: bytes, addr: Address) -> None:
            leg.stats.rtcp += 1  # RTCP is not used: reports are absorbed, not answered

        return received

    def _report(self, leg: MediaLeg) -> None:
        detected, leg.detected = leg.detected, []
        for key in detected:
            try:
                self._on_dtmf(leg.leg_id, key)
            except Exception:
                log.exception("DTMF callback failed for media leg %s", leg.leg_id)


def _feed_taps(leg: MediaLeg, taps: list[AudioTap], payload: bytes, pt: int, now: float) -> None:
    for tap in tuple(taps):
        try:
            tap(payload, pt, now)
        except Exception:
            log.exception("audio tap failed on media leg %s", leg.leg_id)
