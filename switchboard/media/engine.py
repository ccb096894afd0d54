"""The ``MediaEngine`` interface the runtime drives, and the in-process driver.

The runtime calls the engine when SIP says so: ``allocate`` before writing an SDP offer or
answer, ``set_remote`` once the peer's SDP is known (again on a re-INVITE), ``bridge`` on the
core's ``Bridge`` command, ``release`` when the leg ends; ``play`` / ``stop`` on ``Play``,
``Whisper`` and ``StopPlay``; ``record`` on ``Record``. What media notices comes back as a
``MediaEvent`` through the ``on_event`` callback given to the driver: ``DtmfReceived``,
``PlayFinished`` (a playlist ended by itself) and ``RecordingFinished`` (a file was written).

Ids are the runtime's channel ids (the core's ``call_id`` / ``leg_id``): one media leg per SIP
dialog.
"""

from __future__ import annotations

import asyncio
import logging
import os
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol, runtime_checkable

from .player import Player, PlayoutClock
from .recorder import (
    DEFAULT_SILENCE_SECONDS,
    EndReason,
    Recorder,
    Recording,
    RecordingKind,
    RecordingResult,
)
from .relay import LegStats, RelayConfig, RtpRelay
from .rtp import DtmfDetected
from .wav import AudioCache, Clip

__all__ = [
    "DtmfReceived",
    "InProcessMedia",
    "MediaEngine",
    "MediaEvent",
    "PlayFinished",
    "RecordingFinished",
]

log = logging.getLogger(__name__)


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


@dataclass(frozen=True, slots=True)
class PlayFinished:
    """What ``play(leg_id, ..., play_id=play_id)`` started ended by itself (the last frame
    has been sent and its 20 ms have passed). Not reported for a play that was stopped,
    replaced by another play, or whose leg was released; never for a loop."""

    leg_id: str
    play_id: int


@dataclass(frozen=True, slots=True)
class RecordingFinished:
    """A recording was written and closed: ``duration`` seconds of 8 kHz mono WAV at
    ``path``. ``reason``: ``max_length``, ``silence`` (voicemail; the silence is cut),
    ``stopped``, ``released`` (the leg hung up) or ``error`` (what was written is kept)."""

    leg_id: str
    kind: RecordingKind
    path: Path
    duration: float
    reason: EndReason


#: What media reports to the runtime.
MediaEvent = DtmfReceived | PlayFinished | RecordingFinished


@runtime_checkable
class MediaEngine(Protocol):
    """What the runtime asks of a media driver (in-process RTP or rtpengine).

    Misuse (an unknown id, allocating an id twice, bridging a leg bridged elsewhere) raises
    ``KeyError`` / ``ValueError``; ``release`` of an unknown id is a no-op.
    """

    async def allocate(self, leg_id: str, *, call: str | None = None) -> tuple[str, int]:
        """Reserve media for a leg; return the (ip, port) to advertise in its SDP. ``call``
        names the core call the leg belongs to (legs of one call may be kept together: the
        rtpengine driver bridges them in one pass); None for a leg of no inbound call."""
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

    async def received(self, leg_id: str) -> int | None:
        """How many packets (RTP and RTCP) the leg's endpoint (the phone, not switchboard)
        has sent to the engine so far; None when the engine does not know the leg (never
        allocated, or released). The number never goes down while the leg lives; the
        runtime's RTP timeout watches it (``media.rtp_timeout``)."""
        ...

    async def play(
        self,
        leg_id: str,
        files: Sequence[str | os.PathLike[str]],
        *,
        loop: bool = False,
        play_id: int = 0,
    ) -> None:
        """Play WAV files to a leg back to back (``loop``: over and over, music on hold).

        Returns once the audio is on its way (files not converted yet are loaded first); the
        end is reported as ``PlayFinished(leg_id, play_id)`` through ``on_event``, only when
        the playlist ends by itself. A new play replaces the running one (which reports
        nothing). While a bridged leg is played to, its bridged audio is held back (whisper).
        Raises ``KeyError`` for an unknown leg and ``OSError`` / ``WavError`` for a file that
        cannot be played; then what was playing goes on unchanged.
        """
        ...

    async def stop(self, leg_id: str) -> None:
        """Stop what ``play`` started on a leg, at once and silently (no-op if nothing plays);
        bridged audio flows again."""
        ...

    async def record(
        self,
        leg_id: str,
        path: Path,
        *,
        kind: RecordingKind = "call",
        max_seconds: float | None = None,
        silence_seconds: float | None = DEFAULT_SILENCE_SECONDS,
    ) -> None:
        """Record a leg to an 8 kHz mono WAV file at ``path`` (folders are created).

        ``"call"``: both directions mixed; ``"voicemail"``: the leg's endpoint only, ended
        after ``silence_seconds`` without voice (None: never). ``max_seconds`` caps either.
        The end is reported as ``RecordingFinished`` through ``on_event``: by itself, on
        ``stop_recording`` or on ``release``. One recording of each kind per leg at a time
        (``ValueError`` otherwise); ``OSError`` if the file cannot be created.
        """
        ...

    async def stop_recording(self, leg_id: str, kind: RecordingKind | None = None) -> None:
        """End a leg's recordings (of ``kind``, or all) now; each reports
        ``RecordingFinished`` with reason ``stopped``. No-op if none runs."""
        ...

    async def close(self) -> None:
        """Release every leg (shutdown)."""
        ...


class InProcessMedia:
    """``MediaEngine`` on asyncio UDP sockets in this process (``RtpRelay``).

    ``rng`` seeds the SSRCs and initial sequence numbers/timestamps of rewritten streams.
    ``on_event`` is called on the event loop; keep it quick (queue the event). Converted
    audio files are kept in ``audio`` (an ``AudioCache``; pass one to share it).
    """

    def __init__(
        self,
        config: RelayConfig,
        rng: random.Random,
        on_event: Callable[[MediaEvent], None],
        *,
        audio: AudioCache | None = None,
    ) -> None:
        self._on_event = on_event
        self._rng = rng
        self.relay = RtpRelay(config, rng, self._dtmf)
        self.audio = audio if audio is not None else AudioCache()
        self._clock: PlayoutClock | None = None
        self._players: dict[str, Player] = {}
        self._play_requests: dict[str, object] = {}  # the newest play or stop per leg
        self._recorders: dict[str, dict[RecordingKind, Recorder]] = {}
        self._recordings_started = 0

    async def allocate(self, leg_id: str, *, call: str | None = None) -> tuple[str, int]:
        return await self.relay.open_leg(leg_id)  # one relay: any two legs bridge alike

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
        self._stop_player(leg_id)
        for recorder in list(self._recorders.get(leg_id, {}).values()):
            recorder.stop("released")
        await self.relay.close_leg(leg_id)

    async def play(
        self,
        leg_id: str,
        files: Sequence[str | os.PathLike[str]],
        *,
        loop: bool = False,
        play_id: int = 0,
    ) -> None:
        self.relay.leg(leg_id)  # KeyError for an unknown leg
        request = self._play_requests[leg_id] = object()
        try:
            player = await self._prepare(leg_id, request, files, loop, play_id)
        finally:
            if self._play_requests.get(leg_id) is request:
                del self._play_requests[leg_id]
        if player is not None:
            self._stop_player(leg_id)
            self._players[leg_id] = player
            player.start()

    async def _prepare(
        self,
        leg_id: str,
        request: object,
        files: Sequence[str | os.PathLike[str]],
        loop: bool,
        play_id: int,
    ) -> Player | None:
        """The player for a play request, or None if it was overtaken while loading."""
        paths = [os.fspath(f) for f in files]
        cached = [self.audio.cached(path) for path in paths]
        clips = [clip for clip in cached if clip is not None]
        if len(clips) < len(paths):
            # Converting (a long music file at 44.1 kHz: about a second) must not stall
            # every call's packets: do it on a worker thread.
            running = asyncio.get_running_loop()
            clips = await running.run_in_executor(None, self._load, paths)
            if self._play_requests.get(leg_id) is not request or leg_id not in self.relay.leg_ids:
                return None  # stopped, replaced or released meanwhile
        rng = self._rng
        player = Player(
            self.relay,
            leg_id,
            clips,
            self._playout_clock(),
            loop=loop,
            source=rng.getrandbits(32),
            sequence=rng.getrandbits(16),
            timestamp=rng.getrandbits(32),
            on_done=lambda: self._played(leg_id, player, play_id),
        )
        return player

    async def stop(self, leg_id: str) -> None:
        self.relay.leg(leg_id)  # KeyError for an unknown leg
        self._stop_player(leg_id)

    async def record(
        self,
        leg_id: str,
        path: Path,
        *,
        kind: RecordingKind = "call",
        max_seconds: float | None = None,
        silence_seconds: float | None = DEFAULT_SILENCE_SECONDS,
    ) -> None:
        leg = self.relay.leg(leg_id)
        recorders = self._recorders.get(leg_id, {})
        if kind in recorders:
            raise ValueError(f"media leg {leg_id!r} is already recording a {kind}")
        if kind not in ("call", "voicemail"):
            raise ValueError(f"recording kind must be 'call' or 'voicemail', got {kind!r}")
        running = asyncio.get_running_loop()
        recording = Recording(
            running.time(),
            tracks=2 if kind == "call" else 1,
            max_seconds=max_seconds,
            silence_seconds=silence_seconds if kind == "voicemail" else None,
        )
        recorder = Recorder(
            leg,
            Path(path),
            kind,
            recording,
            lambda result: self._recorded(leg_id, recorder, result),
            loop=running,
            phase=self._recordings_started * 0.618034,  # spreads the ticks evenly
        )
        self._recordings_started += 1
        self._recorders.setdefault(leg_id, {})[kind] = recorder

    async def stop_recording(self, leg_id: str, kind: RecordingKind | None = None) -> None:
        self.relay.leg(leg_id)  # KeyError for an unknown leg
        for recorder in list(self._recorders.get(leg_id, {}).values()):
            if kind is None or recorder.kind == kind:
                recorder.stop("stopped")

    async def close(self) -> None:
        for leg_id in list(self.relay.leg_ids):
            await self.release(leg_id)
        await self.relay.close()

    def player(self, leg_id: str) -> Player | None:
        """What plays to a leg now (its ``playout.stats`` tell how it kept time), or None."""
        return self._players.get(leg_id)

    def _playout_clock(self) -> PlayoutClock:
        if self._clock is None:
            self._clock = PlayoutClock(asyncio.get_running_loop())
        return self._clock

    def _load(self, paths: list[str]) -> list[Clip]:
        return [self.audio.load(path) for path in paths]

    def _stop_player(self, leg_id: str) -> None:
        self._play_requests.pop(leg_id, None)
        player = self._players.pop(leg_id, None)
        if player is not None:
            player.stop()
            _report_playout(leg_id, player)

    def _played(self, leg_id: str, player: Player, play_id: int) -> None:
        if self._players.get(leg_id) is player:
            del self._players[leg_id]
            _report_playout(leg_id, player)
            self._emit(PlayFinished(leg_id, play_id))

    def _recorded(self, leg_id: str, recorder: Recorder, result: RecordingResult) -> None:
        recorders = self._recorders.get(leg_id, {})
        if recorders.get(recorder.kind) is recorder:
            del recorders[recorder.kind]
            if not recorders:
                del self._recorders[leg_id]
        self._emit(
            RecordingFinished(leg_id, result.kind, result.path, result.duration, result.reason)
        )

    def _emit(self, event: MediaEvent) -> None:
        try:
            self._on_event(event)
        except Exception:
            log.exception("media event callback failed for %s", event)

    def stats(self, leg_id: str) -> LegStats:
        """A snapshot of a leg's packet counters."""
        return self.relay.stats(leg_id)

    async def received(self, leg_id: str) -> int | None:
        try:
            stats = self.relay.leg(leg_id).stats
        except KeyError:
            return None
        return stats.packets_in + stats.rtcp

    def _dtmf(self, leg_id: str, key: DtmfDetected) -> None:
        self._on_event(DtmfReceived(leg_id, key.digit, key.duration / 8000, key.ended))


def _report_playout(leg_id: str, player: Player) -> None:
    """A warning for a playout that gave up frames: the event loop stalled longer than the
    catch-up burst, and the listener heard a gap (the operator's sign of an overloaded or
    starved server; nothing is logged for a playout that kept time)."""
    playout = player.playout
    if playout is not None and playout.stats.skipped:
        stats = playout.stats
        log.warning("play on %s: %d frames skipped, %d late: the event loop stalled up to "
                    "%.0f ms", leg_id, stats.skipped, stats.late, stats.max_lag * 1000)
