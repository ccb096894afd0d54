"""Helpers for the media tests that use real UDP sockets on 127.0.0.1."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar, cast

import numpy as np

from switchboard.media import g711
from switchboard.media.rtp import RtpPacket

T = TypeVar("T")
LOCALHOST = "127.0.0.1"
TEST_TIMEOUT = 10.0  # seconds for a whole network scenario


def run(scenario: Coroutine[Any, Any, T], timeout: float = TEST_TIMEOUT) -> T:
    """Run an asyncio scenario with a hard time limit."""
    return asyncio.run(asyncio.wait_for(scenario, timeout))


class Phone(asyncio.DatagramProtocol):
    """A fake RTP endpoint: one UDP socket on 127.0.0.1 recording every datagram it gets."""

    def __init__(self) -> None:
        self.received: list[bytes] = []
        self.transport: asyncio.DatagramTransport | None = None
        self._changed = asyncio.Event()

    @classmethod
    async def open(cls) -> Phone:
        loop = asyncio.get_running_loop()
        _, phone = await loop.create_datagram_endpoint(cls, local_addr=(LOCALHOST, 0))
        return phone

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # CPython's datagram transport does not subclass DatagramTransport: cast, not check.
        self.transport = cast(asyncio.DatagramTransport, transport)

    def datagram_received(self, data: bytes, addr: tuple[str | int, ...]) -> None:
        self.received.append(data)
        self._changed.set()

    @property
    def addr(self) -> tuple[str, int]:
        assert self.transport is not None
        host, port = self.transport.get_extra_info("sockname")[:2]
        return str(host), int(port)

    def send(self, data: bytes, to: tuple[str, int]) -> None:
        assert self.transport is not None
        self.transport.sendto(data, to)

    async def wait_for(self, count: int, timeout: float = 2.0) -> list[RtpPacket]:
        """Wait until ``count`` datagrams arrived (fail after ``timeout``); parse them."""
        async with asyncio.timeout(timeout):
            while len(self.received) < count:
                self._changed.clear()
                await self._changed.wait()
        return [RtpPacket.parse(d) for d in self.received]

    def close(self) -> None:
        if self.transport is not None:
            self.transport.close()


def tone_frames(
    frequency: float, seconds: float, *, amplitude: float = 8000.0, phase: float = 0.0
) -> list[bytes]:
    """A sine tone as 20 ms u-law frames."""
    t = np.arange(int(g711.SAMPLE_RATE * seconds)) / g711.SAMPLE_RATE
    pcm = np.round(amplitude * np.sin(2 * np.pi * frequency * t + phase)).astype(np.int16)
    return g711.pcm_to_frames(pcm, g711.Law.ULAW)


def dominant_frequency(frames: list[bytes]) -> float:
    """The strongest frequency (Hz) in u-law audio, by FFT with a Hann window."""
    pcm = g711.frames_to_pcm(frames, g711.Law.ULAW).astype(np.float64)
    spectrum = np.abs(np.fft.rfft(pcm * np.hanning(len(pcm))))
    return float(np.argmax(spectrum) * g711.SAMPLE_RATE / len(pcm))


async def talk(
    phone: Phone,
    to: tuple[str, int],
    frames: list[bytes],
    *,
    ssrc: int,
    sequence: int = 0,
    timestamp: int = 0,
    payload_type: int = 0,
    pace: float = 0.020,
) -> list[RtpPacket]:
    """Send frames as RTP, one every ``pace`` seconds (on a fixed schedule); return them."""
    loop = asyncio.get_running_loop()
    start = loop.time()
    sent = []
    for n, frame in enumerate(frames):
        packet = RtpPacket(
            payload_type,
            (sequence + n) & 0xFFFF,
            (timestamp + 160 * n) & 0xFFFFFFFF,
            ssrc,
            frame,
            marker=n == 0,
        )
        phone.send(packet.serialize(), to)
        sent.append(packet)
        if pace:
            await asyncio.sleep(max(0.0, start + pace * (n + 1) - loop.time()))
    return sent


async def until(condition: Callable[[], bool], timeout: float = 2.0) -> None:
    """Poll ``condition`` every millisecond until it holds; fail after ``timeout``."""
    async with asyncio.timeout(timeout):
        while not condition():
            await asyncio.sleep(0.001)
