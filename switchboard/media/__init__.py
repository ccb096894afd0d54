"""Media: the ``MediaEngine`` interface and the in-process RTP driver.

- ``rtp``: RTP / RFC 4733 on bytes (sans-IO): parse, build, DTMF detection, stream rewriting.
- ``g711``: u-law and A-law with numpy tables; PCM <-> 20 ms frames.
- ``leg``: one relayed leg's media, sans-IO: latching, counters, DTMF, rewriting, transcoding.
- ``udp``: RTP ports and the UDP sockets the relay reads from the event loop.
- ``relay``: the RTP relay between bridged legs (``RtpRelay``, ``RelayConfig``).
- ``engine``: ``MediaEngine`` and ``InProcessMedia``.
"""

from .engine import DtmfReceived, InProcessMedia, MediaEngine, MediaEvent
from .leg import LegStats
from .relay import RelayConfig, RtpRelay
from .udp import PortsExhausted

__all__ = [
    "DtmfReceived",
    "InProcessMedia",
    "LegStats",
    "MediaEngine",
    "MediaEvent",
    "PortsExhausted",
    "RelayConfig",
    "RtpRelay",
]
