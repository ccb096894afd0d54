"""The ``MediaEngine`` interface the runtime drives, and the in-process driver.

The runtime calls the engine when SIP says so: ``allocate`` before writing an SDP offer or
answer, ``set_remote`` once the peer's SDP is known (again on a re-INVITE), ``bridge`` on the
core's ``Bridge`` command, ``release`` when the leg ends. What media notices (DTMF today;
prompts finished and recordings saved later) comes back as ``MediaEvent`` through the
``on_event`` callback given to the driver.

Ids are the runtime's channel ids (the core's ``call_id`` / ``leg_id``): one media leg per SIP
dialog.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol, runtime_checkable

from .relay import LegStats, RelayConfig, RtpRelay
from .rtp import DtmfDetected

__all__ = ["DtmfReceived", "InProcessMedia", "MediaEngine", "MediaEvent"]


@dataclass(frozen=True, slots=True)
class DtmfReceived:
    """A key pressed on a leg (RFC 4733), reported once, when the key is released.

    ``duration`` is in seconds. ``ended`` is False when the end packets were lost and the
    key was inferred from the packets that followed.
    """

    leg_id: str
    digit: str
    duration: float
    ended: bool = True


#: What media reports to the runtime; issue 4 widens it into a union (prompt finished,
#: recording saved, ...).
MediaEvent = DtmfReceived


@runtime_checkable
class MediaEngine(Protocol):
    """What the runtime asks of a media driver (in-process RTP or rtpengine).

    Misuse (an unknown id, allocating an id twice, bridging a leg bridged elsewhere) raises
    ``KeyError`` / ``ValueError``; ``release`` of an unknown id is a no-op.
    """

    async def allocate(self, leg_id: str) -> tuple[str, int]:
        """Reserve media for a leg; return the (ip, port) to advertise in its SDP."""
        ...

    async def set_remote(
        self,
        leg_id: str,
        ip: str,
        port: int,
        payload_type: int,
        *,
        telephone_event_pt: int | None = 101,
    ) -> None:
        """The leg's endpoint from its SDP: address, audio payload type (0 PCMU, 8 PCMA) and
        the telephone-event payload type (None if not negotiated)."""
        ...

    async def bridge(self, a: str, b: str) -> None:
        """Carry audio and DTMF between two legs, both ways."""
        ...

    async def unbridge(self, leg_id: str) -> None:
        """Undo the bridge a leg is in (no-op if none); both legs stay allocated."""
        ...

    async def release(self, leg_id: str) -> None:
        """Free a leg's media (unbridging it first); a no-op for an unknown id."""
        ...

    async def play(self, leg_id: str, files: Sequence[Path], *, loop: bool = False) -> None:
        """Play audio files to a leg. Issue 4; raises ``NotImplementedError`` today."""
        ...

    async def stop(self, leg_id: str) -> None:
        """Stop what ``play`` started. Issue 4; raises ``NotImplementedError`` today."""
        ...

    async def record(self, leg_id: str, path: Path, *, max_seconds: float | None = None) -> None:
        """Record a leg to a WAV file. Issue 4; raises ``NotImplementedError`` today."""
        ...

    async def close(self) -> None:
        """Release every leg (shutdown)."""
        ...


class InProcessMedia:
    """``MediaEngine`` on asyncio UDP sockets in this process (``RtpRelay``).

    ``rng`` seeds the SSRCs and initial sequence numbers/timestamps of rewritten streams.
    ``on_event`` is called on the event loop; keep it quick (queue the event).
    """

    def __init__(
        self,
        config: RelayConfig,
        rng: random.Random,
        on_event: Callable[[MediaEvent], None],
    ) -> None:
        self._on_event = on_event
        self.relay = RtpRelay(config, rng, self._dtmf)

    async def allocate(self, leg_id: str) -> tuple[str, int]:
        return await self.relay.open_leg(leg_id)

    async def set_remote(
        self,
        leg_id: str,
        ip: str,
        port: int,
        payload_type: int,
        *,
        telephone_event_pt: int | None = 101,
    ) -> None:
        self.relay.set_remote(leg_id, ip, port, payload_type, telephone_event_pt)

    async def bridge(self, a: str, b: str) -> None:
        self.relay.bridge(a, b)

    async def unbridge(self, leg_id: str) -> None:
        self.relay.unbridge(leg_id)

    async def release(self, leg_id: str) -> None:
        await self.relay.close_leg(leg_id)

    async def play(self, leg_id: str, files: Sequence[Path], *, loop: bool = False) -> None:
        raise NotImplementedError("prompt playback arrives with the media issue (issue 4)")

    async def stop(self, leg_id: str) -> None:
        raise NotImplementedError("prompt playback arrives with the media issue (issue 4)")

    async def record(self, leg_id: str, path: Path, *, max_seconds: float | None = None) -> None:
        raise NotImplementedError("recording arrives with the media issue (issue 4)")

    async def close(self) -> None:
        await self.relay.close()

    def stats(self, leg_id: str) -> LegStats:
        """A snapshot of a leg's packet counters."""
        return self.relay.stats(leg_id)

    def _dtmf(self, leg_id: str, key: DtmfDetected) -> None:
        self._on_event(DtmfReceived(leg_id, key.digit, key.duration / 8000, key.ended))
