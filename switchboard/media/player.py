"""Prompt playback: a playlist of audio files sent to a leg as 20 ms RTP packets.

- ``Playout`` (sans-IO) decides which frame goes out in which 20 ms slot: an absolute
  schedule from the start time, so timing never drifts; after a stall it catches up at most
  ``max_burst`` packets at once and skips the slots beyond (the RTP timestamps show the gap,
  no audio is lost).
- ``PlayoutClock`` is one asyncio timer on a 20 ms grid that ticks every player of an engine:
  one wake-up per 20 ms for all calls instead of one per call.
- ``Player`` sends one playlist to one leg through the relay: fragments back to back with no
  gap, encoded in the leg's codec (PCMU or PCMA, looked up every tick so a re-INVITE is
  followed), numbered through the leg's ``StreamRewriter`` so prompts and bridged audio form
  one stream. While it plays, bridged audio to the leg is held back (whisper).
"""

from __future__ import annotations

import asyncio
import logging
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from .g711 import ALAW_SILENCE, FRAME_SAMPLES, ULAW_SILENCE, Law
from .leg import MediaLeg
from .relay import RtpRelay
from .wav import Clip

__all__ = ["FRAME_SECONDS", "Player", "Playout", "PlayoutClock", "PlayoutStats"]

log = logging.getLogger(__name__)

FRAME_SECONDS = 0.020
_EARLY = 0.001  # a slot counts as due this much before its time (timers may wake early)


@dataclass(slots=True)
class PlayoutStats:
    """How a playout kept to its schedule. ``late``: frames sent more than one frame period
    after their slot (the receiver then sees a gap over 40 ms); ``skipped``: slots given up
    after a stall longer than the catch-up burst."""

    frames: int = 0
    late: int = 0
    skipped: int = 0
    max_lag: float = 0.0


class Playout:
    """The schedule of one playout: frame ``n`` in slot ``s`` at ``start + s * period``.

    ``frames`` is the programme's length in frames (one loop when ``loop``). A playout that
    does not loop finishes one period after its last frame, when that frame has been heard.
    """

    def __init__(
        self,
        frames: int,
        start: float,
        *,
        loop: bool = False,
        period: float = FRAME_SECONDS,
        max_burst: int = 3,
    ) -> None:
        if frames < 0 or (loop and frames == 0):
            raise ValueError("a playout needs frames (and something to loop)")
        if period <= 0 or max_burst < 1:
            raise ValueError("period must be positive and max_burst at least 1")
        self.frames = frames
        self.start = start
        self.loop = loop
        self.period = period
        self.max_burst = max_burst
        self.finished = False
        self.stats = PlayoutStats()
        self._sent = 0  # the next frame
        self._slot = 0  # the next slot

    @property
    def next_time(self) -> float:
        """When the next slot is due."""
        return self.start + self._slot * self.period

    def due(self, now: float) -> list[tuple[int, int]]:
        """The (frame, slot) pairs to send at ``now``, in order; sets ``finished`` at the end."""
        if self.finished:
            return []
        last_due = math.floor((now + _EARLY - self.start) / self.period)
        count = last_due - self._slot + 1
        out: list[tuple[int, int]] = []
        if count > 0 and (self.loop or self._sent < self.frames):
            stats = self.stats
            if count > self.max_burst:
                stats.skipped += count - self.max_burst
                self._slot += count - self.max_burst
                count = self.max_burst
            if not self.loop:
                count = min(count, self.frames - self._sent)
            for _ in range(count):
                lag = now - (self.start + self._slot * self.period)
                if lag > self.period:
                    stats.late += 1
                stats.max_lag = max(stats.max_lag, lag)
                out.append((self._sent, self._slot))
                self._sent += 1
                self._slot += 1
            stats.frames += count
        if not self.loop and self._sent >= self.frames and last_due >= self._slot:
            self.finished = True
        return out


class PlayoutClock:
    """Ticks registered players on a fixed grid of ``period`` seconds from the loop's clock.

    The timer runs only while there are players. A player added to a running clock starts at
    the next tick; to an idle one, at once.
    """

    def __init__(self, loop: asyncio.AbstractEventLoop, period: float = FRAME_SECONDS) -> None:
        self._loop = loop
        self.period = period
        self._players: dict[Player, None] = {}
        self._origin = 0.0
        self._next = 0.0
        self._handle: asyncio.TimerHandle | None = None

    def __len__(self) -> int:
        return len(self._players)

    def add(self, player: Player) -> float:
        """Register a player; return the time of its first tick (a grid point, not past)."""
        now = self._loop.time()
        if self._handle is None:
            self._origin = self._next = now
            self._handle = self._loop.call_at(self._next, self._tick)
            start = now
        else:
            # Not ``_next``: if the loop has been busy since the last tick, that is past.
            ticks = max(0, math.ceil((now - self._origin) / self.period - 0.05))
            start = max(self._next, self._origin + ticks * self.period)
        self._players[player] = None
        return start

    def discard(self, player: Player) -> None:
        """Unregister a player (no-op if it is not registered)."""
        self._players.pop(player, None)
        if not self._players and self._handle is not None:
            self._handle.cancel()
            self._handle = None

    def _tick(self) -> None:
        now = self._loop.time()
        # The next grid point after this tick, however late this one is (no drift).
        ticks = math.floor((now - self._origin) / self.period + 0.05) + 1
        self._next = self._origin + ticks * self.period
        self._handle = self._loop.call_at(self._next, self._tick)
        for player in list(self._players):
            try:
                player.tick(now)
            except Exception:
                log.exception("player on media leg %s failed; stopped", player.leg_id)
                player.stop()


class Player:
    """One playlist to one leg. ``start`` it; it ends by itself (``on_done`` is called once)
    or by ``stop`` (``on_done`` is not called).

    ``source``, ``sequence`` and ``timestamp`` number the packets (the leg's rewriter maps
    them onto its outgoing stream; without one they go out as they are).
    """

    def __init__(
        self,
        relay: RtpRelay,
        leg_id: str,
        clips: Sequence[Clip],
        clock: PlayoutClock,
        *,
        loop: bool = False,
        source: int = 0,
        sequence: int = 0,
        timestamp: int = 0,
        on_done: Callable[[], None] | None = None,
        max_burst: int = 3,
    ) -> None:
        self.leg_id = leg_id
        self.loop = loop
        self._relay = relay
        self._leg: MediaLeg = relay.leg(leg_id)
        self._clips = tuple(clips)
        self._clock = clock
        self._source = source
        self._sequence = sequence
        self._timestamp = timestamp
        self._on_done = on_done
        self._max_burst = max_burst
        self._samples = sum(len(clip.pcm) for clip in self._clips)
        if loop and not self._samples:
            raise ValueError("nothing to loop: the files hold no audio")
        self._buffers: dict[Law, tuple[bytes, int, bytes]] = {}
        self.playout: Playout | None = None
        self.running = False

    @property
    def seconds(self) -> float:
        """The length of one pass through the playlist."""
        return self._samples / 8000

    def start(self) -> None:
        """Start sending (bridged audio to the leg is held back from now on)."""
        if self.playout is not None:
            raise ValueError("a player starts once")
        frames = -(-self._samples // FRAME_SAMPLES)
        self._relay.set_playing(self.leg_id, True)
        self.running = True
        start = self._clock.add(self)
        self.playout = Playout(frames, start, loop=self.loop, max_burst=self._max_burst)

    def stop(self) -> None:
        """Stop at once, without ``on_done``; bridged audio flows again. Idempotent."""
        if self.running:
            self.running = False
            self._clock.discard(self)
            if self.leg_id in self._relay.leg_ids:
                self._relay.set_playing(self.leg_id, False)

    def tick(self, now: float) -> None:
        """Send what is due at ``now`` (called by the clock)."""
        playout = self.playout
        if playout is None or not self.running:
            return  # stopped by another player's callback during this tick
        frames = playout.due(now)
        if frames:
            law = _law(self._leg.audio_pt)
            if law is None:
                self._leg.stats.codec_mismatch += len(frames)  # not G.711: nothing to send
            else:
                self._send(frames, self._buffer(law), now)
        if playout.finished:
            self.stop()
            if self._on_done is not None:
                self._on_done()

    def _send(
        self, frames: list[tuple[int, int]], buffer: tuple[bytes, int, bytes], now: float
    ) -> None:
        send, leg_id = self._relay.send_audio, self.leg_id
        source, sequence, timestamp = self._source, self._sequence, self._timestamp
        size = self._samples
        audio, end_start, end = buffer
        for index, slot in frames:
            offset = index * FRAME_SAMPLES
            if self.loop:
                offset %= size
            if offset + FRAME_SAMPLES <= size:
                frame = audio[offset : offset + FRAME_SAMPLES]
            else:  # the last frame: it wraps to the beginning (loop) or is padded
                frame = end[offset - end_start : offset - end_start + FRAME_SAMPLES]
            send(
                leg_id,
                frame,
                source=source,
                sequence=(sequence + index) & 0xFFFF,
                timestamp=(timestamp + slot * FRAME_SAMPLES) & 0xFFFFFFFF,
                marker=index == 0,
                now=now,
            )

    def _buffer(self, law: Law) -> tuple[bytes, int, bytes]:
        """The playlist in ``law``, and its end: (audio, where the end starts, end).

        A frame that fits in the audio is a slice of it; the end holds the audio's last
        frame or less followed by the beginning again (loop) or by silence, so that the frame
        across the end is a slice of it too. The audio itself is not copied (a one-file
        playlist is the clip's own encoding): hold music of 20 s was copied twice over, 300 KB,
        for every caller put on hold.
        """
        buffer = self._buffers.get(law)
        if buffer is None:
            audio = b"".join([clip.encoded(law) for clip in self._clips])
            size = len(audio)
            end_start = max(0, size - FRAME_SAMPLES)
            if self.loop:
                after = (audio * -(-FRAME_SAMPLES // size))[:FRAME_SAMPLES]
            else:
                silence = ULAW_SILENCE if law is Law.ULAW else ALAW_SILENCE
                after = bytes([silence]) * FRAME_SAMPLES
            buffer = self._buffers[law] = (audio, end_start, audio[end_start:] + after)
        return buffer


def _law(payload_type: int | None) -> Law | None:
    if payload_type is None or payload_type == Law.ULAW:
        return Law.ULAW
    if payload_type == Law.ALAW:
        return Law.ALAW
    return None
