"""Recording a leg to an 8 kHz WAV file: a whole call (both directions mixed) or a voicemail
(the caller only, with a maximum length and an end after some seconds of silence).

- ``Recording`` (sans-IO) places each arriving 20 ms frame on the recording's time line,
  mixes the directions, detects the caller's voice and says when the recording ends. Frames
  are laid end to end as long as they keep up with the clock (network jitter does not chop
  the audio); a stream that falls behind by more than ``slack`` (lost packets, silence
  suppression, a stream that stopped) jumps forward, leaving silence; one that runs ahead by
  more than ``lead`` (a burst, a fast clock) loses the frames beyond. Audio older than
  ``lag`` is final and handed out to be written.
- ``Recorder`` taps a leg of the relay, writes what ``Recording`` finalises to a
  ``WavWriter`` every ``tick`` seconds, and reports a ``RecordingResult`` once at the end.
"""

from __future__ import annotations

import asyncio
import logging
import math
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, Protocol

import numpy as np

from . import g711
from .g711 import Law, PcmArray
from .leg import AudioTap
from .wav import WavWriter

__all__ = [
    "DEFAULT_SILENCE_LEVEL",
    "DEFAULT_SILENCE_SECONDS",
    "EndReason",
    "Recorder",
    "Recording",
    "RecordingKind",
    "RecordingResult",
]

log = logging.getLogger(__name__)

RecordingKind = Literal["call", "voicemail"]
#: Why a recording ended: its maximum length, the caller's silence (voicemail), ``stop``,
#: the leg's release (hang-up), or a write error (what was written is kept).
EndReason = Literal["max_length", "silence", "stopped", "released", "error"]

DEFAULT_SILENCE_SECONDS = 5.0
DEFAULT_SILENCE_LEVEL = -40.0  # dBFS: a frame quieter than this (RMS) is silence
HEARD, SAID = 0, 1  # tracks: what the leg's endpoint sent us, what we sent it
_RATE = g711.SAMPLE_RATE
_LAWS = {int(Law.ULAW): Law.ULAW, int(Law.ALAW): Law.ALAW}
_DECODE = {law: g711.decode(bytes(range(256)), law).astype(np.int32) for law in Law}
_ENERGY = {law: table.astype(np.float64) ** 2 for law, table in _DECODE.items()}
_SILENCE = {Law.ULAW: bytes([g711.ULAW_SILENCE]), Law.ALAW: bytes([g711.ALAW_SILENCE])}
_TRANSCODE = {Law.ULAW: g711.ALAW_TO_ULAW, Law.ALAW: g711.ULAW_TO_ALAW}  # into the key's law
for _law in Law:
    _DECODE[_law].flags.writeable = _ENERGY[_law].flags.writeable = False


class Tapped(Protocol):
    """What a ``Recorder`` listens to: a relay leg (``MediaLeg``), or any source of packets
    with the same two lists of taps (the rtpengine driver's voicemail socket)."""

    taps_in: list[AudioTap]
    taps_out: list[AudioTap]


@dataclass(frozen=True, slots=True)
class RecordingResult:
    """A finished recording: the file, its length in seconds and why it ended."""

    path: Path
    kind: RecordingKind
    duration: float
    reason: EndReason


class Recording:
    """The sans-IO core of one recording that started at ``start`` (seconds, any clock).

    ``silence_seconds`` (None: off) ends it that long after the last frame of ``voice_track``
    louder than ``silence_level`` dBFS (or after the start if none was); the silence is then
    cut from the end, keeping ``tail`` seconds. ``max_seconds`` (None: no limit) caps it.
    """

    def __init__(
        self,
        start: float,
        *,
        tracks: int = 2,
        max_seconds: float | None = None,
        silence_seconds: float | None = None,
        silence_level: float = DEFAULT_SILENCE_LEVEL,
        voice_track: int = HEARD,
        slack: float = 0.060,
        lead: float = 0.200,
        lag: float = 0.300,
        tail: float = 0.300,
    ) -> None:
        if max_seconds is not None and max_seconds <= 0:
            raise ValueError(f"max_seconds must be positive, got {max_seconds}")
        if silence_seconds is not None and silence_seconds <= 0:
            raise ValueError(f"silence_seconds must be positive, got {silence_seconds}")
        if not 0 <= voice_track < tracks:
            raise ValueError(f"voice_track {voice_track} is not one of {tracks} tracks")
        self.start = start
        self.max_seconds = max_seconds
        self.silence_seconds = silence_seconds
        self.max_samples = None if max_seconds is None else round(max_seconds * _RATE)
        rms = 32768.0 * 10 ** (silence_level / 20)
        self._voice_energy = rms * rms  # mean square of a frame at the threshold
        self._voice_track = voice_track
        self._slack = round(slack * _RATE)
        self._lead = round(lead * _RATE)
        self._lag = round(lag * _RATE)
        self._tail = round(tail * _RATE)
        self._cursors = [0] * tracks
        # Each track keeps its G.711 codes from _base on (placing a frame is a slice copy);
        # they are decoded and mixed a block at a time when they become final.
        self._codes = [bytearray() for _ in range(tracks)]
        self._laws: list[Law | None] = [None] * tracks  # a track's law: its first frame's
        self._base = 0  # samples before this one are final (handed out)
        self.last_voice = start  # when the last voiced frame arrived
        self.voice_end = 0  # sample just after the last voiced frame
        self.dropped = 0  # frames that ran too far ahead

    def position(self, now: float) -> int:
        """The sample that ``now`` falls on."""
        return math.floor((now - self.start) * _RATE)

    def add(self, track: int, payload: bytes, law: Law, now: float) -> None:
        """A frame of ``track`` (G.711 ``law``) that arrived or went out at ``now``."""
        size = len(payload)
        if not size:
            return
        expected = self.position(now) - size  # where it starts if it is on time
        cursor = self._cursors[track]
        if expected - cursor > self._slack:
            cursor = expected  # the stream fell behind (or paused): leave a gap
        elif cursor - expected > self._lead:
            self.dropped += 1  # the stream runs ahead of the clock
            return
        if cursor < self._base:  # partly or wholly older than what is final
            cut = self._base - cursor
            if cut >= size:
                return
            payload, cursor, size = payload[cut:], self._base, size - cut
        if self.max_samples is not None and cursor + size > self.max_samples:
            if cursor >= self.max_samples:
                return
            size = self.max_samples - cursor
            payload = payload[:size]
        self._cursors[track] = cursor + size
        track_law = self._laws[track]
        if track_law is None:
            track_law = self._laws[track] = law
        elif law is not track_law:  # the codec changed mid-call (re-INVITE)
            payload = payload.translate(_TRANSCODE[track_law])
        codes = self._codes[track]
        offset = cursor - self._base
        if offset + size > len(codes):
            codes.extend(_SILENCE[track_law] * (offset + size - len(codes)))
        codes[offset : offset + size] = payload
        if self.silence_seconds is not None and track == self._voice_track:
            energy = float(_ENERGY[track_law].take(np.frombuffer(payload, np.uint8)).sum())
            if energy > self._voice_energy * size:
                self.last_voice = max(self.last_voice, now)
                self.voice_end = max(self.voice_end, cursor + size)

    def advance(self, now: float, *, min_block: float = 0.1) -> PcmArray:
        """The mixed samples that became final by ``now`` (at least ``min_block`` seconds of
        them, or none), to append to the file."""
        target = self.position(now) - self._lag
        if self.max_samples is not None:
            target = min(target, self.max_samples)
        if target - self._base < min_block * _RATE:
            return np.zeros(0, dtype=np.int16)
        return self._take(target)

    def end_reason(self, now: float) -> EndReason | None:
        """Why the recording ends at ``now``, or None while it goes on."""
        if self.max_seconds is not None and now >= self.start + self.max_seconds - 0.001:
            return "max_length"
        if self.silence_seconds is not None and now >= self.last_voice + self.silence_seconds:
            return "silence"
        return None

    def deadline(self) -> float:
        """When the recording ends by itself if nothing changes (``inf`` if never)."""
        deadline = math.inf
        if self.max_seconds is not None:
            deadline = self.start + self.max_seconds
        if self.silence_seconds is not None:
            deadline = min(deadline, self.last_voice + self.silence_seconds)
        return deadline

    def finish(self, now: float, reason: EndReason) -> tuple[PcmArray, int]:
        """End: the samples not handed out yet, and the recording's final length in samples
        (shorter than what was handed out when trailing silence is cut)."""
        length = max(self.position(now), *self._cursors)
        if reason == "max_length" and self.max_samples is not None:
            length = self.max_samples
        elif self.max_samples is not None:
            length = min(length, self.max_samples)
        if reason == "silence":
            length = min(length, self.voice_end + self._tail)
        rest = self._take(length) if length > self._base else np.zeros(0, dtype=np.int16)
        return rest, max(length, 0)

    def _take(self, until: int) -> PcmArray:
        """Decode, mix and hand out the samples before ``until``; they become final."""
        count = until - self._base
        mixed = np.zeros(count, dtype=np.int32)
        for codes, law in zip(self._codes, self._laws, strict=True):
            have = min(count, len(codes))
            if have and law is not None:
                block = np.frombuffer(bytes(codes[:have]), dtype=np.uint8)
                mixed[:have] += _DECODE[law].take(block)
            del codes[:have]
        self._base = until
        return np.clip(mixed, -32768, 32767).astype(np.int16)


class Recorder:
    """Records one leg of the relay into a WAV file until it ends by itself or is stopped.

    ``kind="call"`` mixes what the leg's endpoint sends with what it is sent (the other
    party, prompts, music); ``"voicemail"`` keeps what the endpoint sends only. The file is
    created at once (``OSError`` if it cannot be); ``on_finished`` is called exactly once.
    ``phase`` (0..1) offsets its ticks so that recordings started together write apart.
    """

    def __init__(
        self,
        leg: Tapped,
        path: Path,
        kind: RecordingKind,
        recording: Recording,
        on_finished: Callable[[RecordingResult], None],
        *,
        loop: asyncio.AbstractEventLoop,
        tick: float = 0.25,
        phase: float = 0.0,
    ) -> None:
        if kind not in ("call", "voicemail"):
            raise ValueError(f"recording kind must be 'call' or 'voicemail', got {kind!r}")
        self.leg = leg
        self.path = path
        self.kind: RecordingKind = kind
        self.recording = recording
        self._on_finished = on_finished
        self._loop = loop
        self._tick_seconds = tick
        self.writer = WavWriter(path)
        self.active = True
        leg.taps_in.append(self.heard)
        if kind == "call":
            leg.taps_out.append(self.said)
        first = loop.time() + tick * (1.0 + phase % 1.0)
        self._handle = loop.call_at(min(first, recording.deadline()), self._tick)

    def heard(self, payload: bytes, payload_type: int, now: float) -> None:
        """Audio the leg's endpoint sent (a tap)."""
        law = _LAWS.get(payload_type)
        if law is not None:
            self.recording.add(HEARD, payload, law, now)

    def said(self, payload: bytes, payload_type: int, now: float) -> None:
        """Audio sent to the leg's endpoint (a tap)."""
        law = _LAWS.get(payload_type)
        if law is not None:
            self.recording.add(SAID, payload, law, now)

    def stop(self, reason: EndReason = "stopped") -> None:
        """End now (no-op once ended)."""
        if self.active:
            self._end(self._loop.time(), reason)

    def _tick(self) -> None:
        now = self._loop.time()
        try:
            self.writer.write(self.recording.advance(now))
        except OSError:
            log.exception("writing the recording %s failed", self.path)
            self._end(now, "error")
            return
        reason = self.recording.end_reason(now)
        if reason is not None:
            self._end(now, reason)
            return
        when = min(now + self._tick_seconds, self.recording.deadline())
        self._handle = self._loop.call_at(when, self._tick)

    def _end(self, now: float, reason: EndReason) -> None:
        self.active = False
        self._handle.cancel()
        for taps, tap in ((self.leg.taps_in, self.heard), (self.leg.taps_out, self.said)):
            if tap in taps:
                taps.remove(tap)
        rest, length = self.recording.finish(now, reason)
        try:
            if reason != "error":
                self.writer.write(rest)
                self.writer.truncate(length)
        except OSError:
            log.exception("writing the recording %s failed", self.path)
            reason = "error"
        finally:
            try:
                self.writer.close()
            except OSError:
                log.exception("closing the recording %s failed", self.path)
                reason = "error"
        self._on_finished(RecordingResult(self.path, self.kind, self.writer.seconds, reason))
