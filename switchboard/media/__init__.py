"""Media: the ``MediaEngine`` interface and the in-process RTP driver.

- ``rtp``: RTP / RFC 4733 on bytes (sans-IO): parse, build, DTMF detection, stream rewriting.
- ``g711``: u-law and A-law with numpy tables; PCM <-> 20 ms frames.
- ``relay``: the RTP relay between bridged legs (sans-IO leg core + asyncio sockets).
- ``engine``: ``MediaEngine`` and ``InProcessMedia``.
"""

from .engine import DtmfReceived, InProcessMedia, MediaEngine, MediaEvent
from .relay import LegStats, PortsExhausted, RelayConfig, RtpRelay

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
