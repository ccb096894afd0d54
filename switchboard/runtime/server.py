"""``switchboard run``: the SIP endpoint on UDP, the media engine, the core, until stopped."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import signal
import socket
from typing import Any

from switchboard.config.model import Config
from switchboard.core.events import DigitsReceived
from switchboard.media.engine import DtmfReceived, InProcessMedia
from switchboard.media.relay import RelayConfig
from switchboard.runtime.sip_app import SipApp

log = logging.getLogger(__name__)

SOCKET_BUFFER = 4 * 1024 * 1024  # DESIGN.md: raise SO_RCVBUF/SO_SNDBUF on every UDP socket


class _SipUdp(asyncio.DatagramProtocol):
    def __init__(self) -> None:
        self.app: SipApp | None = None
        self.transport: asyncio.DatagramTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]  # a datagram transport here
        sock = transport.get_extra_info("socket")
        if sock is not None:
            for option in (socket.SO_RCVBUF, socket.SO_SNDBUF):
                sock.setsockopt(socket.SOL_SOCKET, option, SOCKET_BUFFER)

    def datagram_received(self, data: bytes, addr: Any) -> None:
        if self.app is not None:
            self.app.datagram_received(data, (addr[0], addr[1]))

    def send(self, data: bytes, addr: tuple[str, int]) -> None:
        if self.transport is not None:
            self.transport.sendto(data, addr)


async def serve(config: Config, host: str, sip_port: int, seed: int | None = None,
                ready: asyncio.Event | None = None) -> None:
    """Run until cancelled (or SIGINT/SIGTERM): SIP on UDP ``host:sip_port``."""
    loop = asyncio.get_running_loop()
    rng = random.Random(seed)
    lo, hi = config.media.rtp_ports
    apps: list[SipApp] = []

    def dtmf(event: DtmfReceived) -> None:  # keys pressed, into the core (IVR, exit key)
        for app in apps:
            app.driver.feed(DigitsReceived(event.leg_id, event.digit))

    media = InProcessMedia(RelayConfig(bind_ip=host, port_range=(lo, hi)), rng, dtmf)
    transport, protocol = await loop.create_datagram_endpoint(
        _SipUdp, local_addr=(host, sip_port))
    app = SipApp(config, media, host, sip_port, rng, loop, protocol.send)
    protocol.app = app
    apps.append(app)
    stop = asyncio.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        # Not the main thread, or a platform without signals: stop by cancelling instead.
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, stop.set)
    if ready is not None:
        ready.set()
    try:
        await stop.wait()
    finally:
        await app.close()
        transport.close()
        await media.close()
