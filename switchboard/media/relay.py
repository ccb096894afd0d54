"""The in-process RTP relay: legs with their own UDP sockets, bridged two by two.

``RtpRelay`` opens a leg (a port pair from ``udp.PortAllocator``, or a closed leg's pair
parked long enough), feeds each datagram with the loop's time to the leg's sans-IO core
(``leg.MediaLeg``), sends what the core returns to the bridged peer, and reports DTMF and
audio to its listeners. ``RelayConfig`` says how it binds and behaves.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import logging
import random
import socket
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, replace

from .leg import Address, AudioTap, LegStats, MediaLeg
from .rtp import DtmfDetected, StreamRewriter
from .udp import PortAllocator, PortsExhausted, UdpSocket, open_udp_socket

# LegStats is re-exported: RtpRelay.stats returns it and engine.py imports it from here.
__all__ = ["LegStats", "RelayConfig", "RtpRelay"]

log = logging.getLogger(__name__)


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


@dataclass(slots=True)
class _Endpoint:
    leg: MediaLeg
    rtp: UdpSocket
    rtcp: UdpSocket | None


@dataclass(slots=True)
class _Parked:
    since: float  # loop time the leg closed
    port: int
    rtp: UdpSocket
    rtcp: UdpSocket | None


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
            rtp = UdpSocket(loop, rtp_sock, self._receiver(leg), leg.stats)
            rtcp = None
            if rtcp_sock is not None:
                rtcp = UdpSocket(loop, rtcp_sock, self._rtcp_receiver(leg), leg.stats)
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
            _feed_taps(leg, leg.taps_out, payload, leg.local_audio_pt, now)

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

    def _close_pair(self, port: int, rtp: UdpSocket, rtcp: UdpSocket | None) -> None:
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
