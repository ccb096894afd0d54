"""UDP for the in-process RTP relay: RTP port numbers and the sockets bound to them.

``PortAllocator`` hands out even RTP ports (port + 1 kept for RTCP), ``open_udp_socket``
binds one, and ``UdpSocket`` reads it from the event loop's poller and sends on it, counting
what fails into the owning leg's ``LegStats``.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import logging
import socket
from collections.abc import Callable
from typing import TypeVar

from .leg import Address, LegStats

__all__ = ["PortAllocator", "PortsExhausted", "UdpSocket", "open_udp_socket"]

log = logging.getLogger(__name__)

T = TypeVar("T")


class PortsExhausted(OSError):
    """Every port pair in the configured range is taken (an ``OSError``, like the failed binds
    behind it, so callers that handle socket errors handle this too)."""


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


_MAX_DATAGRAM = 8192  # larger than any RTP packet that fits a path MTU


class UdpSocket:
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
        """Send one datagram now, or drop and count it."""
        try:
            self.sock.sendto(data, addr)
        except OSError:  # would block (buffer full), or an ICMP error from an earlier send
            self._stats.send_errors += 1

    def close(self) -> None:
        """Stop reading and close the socket."""
        self._loop.remove_reader(self.sock.fileno())
        self.sock.close()
