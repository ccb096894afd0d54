"""``switchboard run``: SIP on UDP and TCP, the media engine and the core, until stopped."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import random
import signal
import socket
from pathlib import Path
from typing import Any

from switchboard.config.model import Config, Media
from switchboard.media.engine import MediaEvent
from switchboard.media.prompts import PromptLibrary
from switchboard.runtime.media import open_media
from switchboard.runtime.sip_app import SipApp
from switchboard.sip.framing import KEEPALIVE, StreamFramer
from switchboard.sip.headers import SipParseError, is_address
from switchboard.sip.transaction import Send

log = logging.getLogger(__name__)


class StartupError(Exception):
    """The server cannot start: a port taken, an address not of this machine, no media."""

SOCKET_BUFFER = 4 * 1024 * 1024  # DESIGN.md: raise SO_RCVBUF/SO_SNDBUF on every UDP socket
FILES_BESIDES_MEDIA = 1024  # SIP sockets, TCP connections, prompts, logs, the database
DRAIN_SECONDS = 30.0  # on shutdown, calls in progress get this long to end by themselves


def raise_buffers(sock: socket.socket, what: str, size: int = SOCKET_BUFFER) -> bool:
    """Ask for ``size`` bytes of receive and send buffer (DESIGN.md); warn when the kernel
    grants less (it caps the request at net.core.rmem_max / wmem_max, 208 KB on a stock
    Linux, silently). Linux reports twice what it granted (its bookkeeping). True if all
    was granted."""
    short = []
    for option, name, limit in ((socket.SO_RCVBUF, "receive", "net.core.rmem_max"),
                                (socket.SO_SNDBUF, "send", "net.core.wmem_max")):
        sock.setsockopt(socket.SOL_SOCKET, option, size)
        granted = sock.getsockopt(socket.SOL_SOCKET, option) // 2
        if granted < size:
            short.append(f"{name} {granted // 1024} KB (raise {limit})")
    if short:
        log.warning("%s socket buffers: asked %d KB, the kernel gave %s: bursts of packets "
                    "may be dropped", what, size // 1024, ", ".join(short))
    return not short


class _SipUdp(asyncio.DatagramProtocol):
    def __init__(self) -> None:
        self.app: SipApp | None = None
        self.transport: asyncio.DatagramTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]  # a datagram transport here
        sock = transport.get_extra_info("socket")
        if sock is not None:
            raise_buffers(sock, "SIP")

    def datagram_received(self, data: bytes, addr: Any) -> None:
        if self.app is not None:
            self.app.datagram_received(data, (addr[0], addr[1]), "UDP")


class _SipTcp:
    """TCP connections, both accepted and opened by us, keyed by the peer's address.

    Bounded, as Asterisk's tcpauthlimit/tcpauthtimeout and Kamailio's tcp_max_connections
    bound theirs, so that idle or slow connections cannot take the file descriptors the
    calls' media needs: at most ``max_connections`` in all; an accepted connection is
    *silent* until it delivers its first SIP message (keep-alives do not count), at most
    ``max_silent`` are, and each gets ``silent_timeout`` seconds; a peer that does not read
    what we send is dropped once ``max_unsent`` bytes wait for it.
    """

    def __init__(self, max_connections: int = 512, max_silent: int = 100,
                 silent_timeout: float = 30.0, max_unsent: int = 1 << 20) -> None:
        self.app: SipApp | None = None
        self.writers: dict[tuple[str, int], asyncio.StreamWriter] = {}
        self.tasks: set[asyncio.Task[None]] = set()
        # Messages for peers whose connection is being opened, in order: a CANCEL sent while
        # its INVITE's connection is still opening must follow it on that connection.
        self.connecting: dict[tuple[str, int], list[bytes]] = {}
        self.max_connections = max_connections
        self.max_silent = max_silent
        self.silent_timeout = silent_timeout
        self.max_unsent = max_unsent
        self.silent: set[tuple[str, int]] = set()
        self.refused = 0  # connections closed at once: over a limit

    async def accepted(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        peername = writer.get_extra_info("peername")
        peer = (peername[0], peername[1])
        if (len(self.writers) + len(self.connecting) >= self.max_connections
                or len(self.silent) >= self.max_silent):
            self.refused += 1
            if self.refused == 1 or self.refused % 1000 == 0:
                log.warning("SIP/TCP: %d connections refused (limits: %d connections, %d "
                            "without a first message)", self.refused, self.max_connections,
                            self.max_silent)
            writer.close()
            return
        self.silent.add(peer)
        timer = asyncio.get_running_loop().call_later(
            self.silent_timeout, self._silent_too_long, peer, writer)
        try:
            await self._serve(peer, reader, writer)
        finally:
            timer.cancel()
            self.silent.discard(peer)

    def _silent_too_long(self, peer: tuple[str, int], writer: asyncio.StreamWriter) -> None:
        if peer in self.silent:
            log.info("closing SIP/TCP from %s: no SIP message in %g s", peer,
                     self.silent_timeout)
            writer.close()

    async def _serve(self, peer: tuple[str, int], reader: asyncio.StreamReader,
                     writer: asyncio.StreamWriter) -> None:
        self.writers[peer] = writer
        framer = StreamFramer()
        try:
            while data := await reader.read(65536):
                for frame in framer.feed(data):
                    if frame == KEEPALIVE:
                        writer.write(b"\r\n")  # RFC 5626 pong
                        continue
                    self.silent.discard(peer)
                    if self.app is not None:
                        self.app.datagram_received(frame, peer, "TCP")
        except SipParseError as err:
            log.info("closing SIP/TCP from %s: %s", peer, err)  # cannot resynchronise
        except (ConnectionError, OSError):
            pass
        finally:
            if self.writers.get(peer) is writer:
                del self.writers[peer]
            writer.close()

    def send(self, data: bytes, peer: tuple[str, int]) -> None:
        writer = self.writers.get(peer)
        if writer is not None and not writer.is_closing():
            if writer.transport.get_write_buffer_size() + len(data) > self.max_unsent:
                log.info("closing SIP/TCP to %s: it does not read (%d bytes unsent)", peer,
                         writer.transport.get_write_buffer_size())
                writer.close()  # its transactions time out, as on a lost connection
                return
            writer.write(data)
            return
        waiting = self.connecting.get(peer)
        if waiting is not None:
            waiting.append(data)
            return
        self.connecting[peer] = [data]
        task = asyncio.get_running_loop().create_task(self._connect_and_send(peer))
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    async def _connect_and_send(self, peer: tuple[str, int]) -> None:
        try:
            reader, writer = await asyncio.wait_for(asyncio.open_connection(*peer), 5)
        except (OSError, TimeoutError) as err:
            self.connecting.pop(peer, None)
            log.info("SIP/TCP to %s failed: %s", peer, err)  # the transaction times out
            return
        for data in self.connecting.pop(peer, []):
            writer.write(data)
        await self._serve(peer, reader, writer)


def open_files_wanted(media: Media) -> int:
    """File descriptors for every RTP port of the in-process driver (two per leg: RTP and
    RTCP) and the rest of the server; rtpengine holds its ports in its own process."""
    if media.driver != "inprocess":
        return FILES_BESIDES_MEDIA
    lo, hi = media.rtp_ports
    return FILES_BESIDES_MEDIA + 2 * ((hi - lo + 1) // 2)


def raise_open_files_limit(wanted: int) -> None:
    """Raise the soft limit on open files towards ``wanted`` (up to the hard limit), as
    Asterisk's and FreeSWITCH's start-up do: the usual soft limit, 1024, holds the media of
    some 250 calls. Warns when the hard limit keeps it below ``wanted``."""
    try:
        import resource
    except ImportError:  # not a POSIX system
        return
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    infinite = resource.RLIM_INFINITY
    target = wanted if hard == infinite else min(wanted, hard)
    if soft != infinite and soft < target:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
        except (ValueError, OSError) as err:
            log.warning("open files: cannot raise the limit from %d to %d: %s", soft, target, err)
            return
        log.info("open files: limit raised from %d to %d", soft, target)
        soft = target
    if soft != infinite and soft < wanted:
        log.warning("open files: the limit %d is below the %d that media.rtp_ports and the "
                    "server may use; calls beyond it get 503. Raise it (ulimit -n, or "
                    "LimitNOFILE= in a systemd unit)", soft, wanted)


async def serve(config: Config, host: str, sip_port: int, seed: int | None = None,
                ready: asyncio.Event | None = None, config_dir: Path | None = None,
                data_dir: Path | None = None) -> None:
    """Run until SIGINT/SIGTERM (or cancelled): SIP on UDP and TCP ``host:sip_port``."""
    loop = asyncio.get_running_loop()
    rng = random.Random(seed)
    apps: list[SipApp] = []
    raise_open_files_limit(open_files_wanted(config.media))

    def media_event(event: MediaEvent) -> None:  # keys, ends of prompts, recordings
        for app in apps:
            app.media_event(event)

    try:
        udp, udp_protocol = await loop.create_datagram_endpoint(
            _SipUdp, local_addr=(host, sip_port))
    except OSError as err:
        raise StartupError(f"cannot listen for SIP on {host}:{sip_port} (UDP): "
                           f"{err.strerror or err}") from err
    sip = config.sip
    tcp = _SipTcp(sip.tcp_max_connections, sip.tcp_max_silent, sip.tcp_silent_timeout)
    try:
        tcp_server = await asyncio.start_server(tcp.accepted, host, sip_port)
    except OSError as err:
        udp.close()
        raise StartupError(f"cannot listen for SIP on {host}:{sip_port} (TCP): "
                           f"{err.strerror or err}") from err
    try:
        media, close_media = await open_media(config.media, host, rng, media_event, data_dir)
    except BaseException as err:
        tcp_server.close()
        udp.close()
        if isinstance(err, Exception):
            raise StartupError(f"cannot start the media engine ({config.media.driver}): "
                               f"{err or type(err).__name__}") from err
        raise

    def send(out: Send) -> None:
        if not is_address(out.dest[0]):  # never a blocking DNS lookup in the event loop
            raise ValueError(f"{out.dest[0]} is a name, not an address")
        data = out.message.serialize()
        if out.transport == "TCP":
            tcp.send(data, out.dest)
        elif udp_protocol.transport is not None:
            udp_protocol.transport.sendto(data, out.dest)

    prompts = PromptLibrary.from_config(config, config_dir)
    for problem in prompts.problems():
        log.warning("prompt: %s", problem)
    app = SipApp(config, media, host, sip_port, rng, loop, send, prompts, data_dir)
    udp_protocol.app = tcp.app = app
    apps.append(app)
    stop = asyncio.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        # Not the main thread, or a platform without signals: stop by cancelling instead.
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, stop.set)
    # What start-up built (modules, the config, prompts, the app) lives as long as the
    # process: take it out of the full collections that the calls' garbage sets off, so
    # that each is shorter (docs/performance.md, SIP: garbage collection).
    gc.collect()
    gc.freeze()
    if ready is not None:
        ready.set()
    try:
        await stop.wait()
        # Graceful: refuse new calls, let the calls in progress end (bounded), then stop.
        # A second signal stops at once.
        force = asyncio.Event()
        for sig in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(NotImplementedError, RuntimeError):
                loop.add_signal_handler(sig, force.set)
        app.draining = True
        log.info("draining %d calls", app.active_calls())
        deadline = loop.time() + DRAIN_SECONDS
        while app.active_calls() and loop.time() < deadline and not force.is_set():
            await asyncio.sleep(0.2)
    finally:
        # What was left open, for people and for the leak checks of the load tests.
        print(f"switchboard: stopped; open dialogs {app.active_calls()}, "
              f"unfinished transactions {app.txl.unfinished()}, "
              f"calls in the core {len(app.core.calls)}", flush=True)
        await app.close()
        tcp_server.close()
        for writer in list(tcp.writers.values()):
            writer.close()
        udp.close()
        await close_media()
