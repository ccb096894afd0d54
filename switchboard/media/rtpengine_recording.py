"""Recording for ``RtpEngineMedia``: call recordings from rtpengine's pcaps, and voicemails.

A ``"call"`` recording is rtpengine's own (``start recording`` / ``stop recording``, pcap
method): when it ends, the pcap of the packets rtpengine received in the leg's call is mixed
into the WAV file, with what rtpengine played to the leg meanwhile (``Played``) mixed in from
the files, and rtpengine's spool is cleared. A ``"voicemail"`` re-points the leg's ``pbx``
side at a socket of this process (``VoicemailSocket``), whose packets feed the same
``Recording`` as the in-process driver (maximum length, end on silence).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt

from .engine import RecordingFinished
from .leg import AudioTap
from .ng import NgError
from .pcap import pcap_to_wav
from .recorder import (
    DEFAULT_SILENCE_SECONDS,
    EndReason,
    Recorder,
    Recording,
    RecordingKind,
    RecordingResult,
)
from .rtp import RtpError, parse_rtp_header
from .wav import AudioCache, WavWriter

if TYPE_CHECKING:
    from .engine import MediaEvent
    from .ng import NgClient
    from .rtpengine import _Leg

__all__ = ["CallRecording", "Played", "RecordingMixin", "Voicemail"]

log = logging.getLogger("switchboard.media.rtpengine")  # the driver's log, as before the split


@dataclass
class Played:
    """What rtpengine played to a leg (files back to back, over and over if ``loop``) and
    when (UNIX time; ``end`` None while it plays): a call recording mixes it in, since
    rtpengine's pcap holds only the packets it received."""

    start: float
    files: tuple[Path, ...]
    loop: bool
    end: float | None = None

    def heard(self, since: float, until: float, audio: AudioCache
              ) -> tuple[float, npt.NDArray[np.int16]] | None:
        """(start, 8 kHz audio) of what was heard of it between ``since`` and ``until``."""
        pcm = np.concatenate([audio.load(f).pcm for f in self.files] or [np.zeros(0, np.int16)])
        start = max(self.start, since)
        end = min(until, self.end if self.end is not None else until)
        if not self.loop:
            end = min(end, self.start + len(pcm) / 8000)
        first, last = round((start - self.start) * 8000), round((end - self.start) * 8000)
        if last <= first or not len(pcm):
            return None
        if self.loop:
            pcm = np.tile(pcm, last // len(pcm) + 1)
        return start, pcm[first:last]


class Taps:
    """Stands in for a relay leg to ``Recorder``: what arrives is fed to ``taps_in``."""

    def __init__(self) -> None:
        self.taps_in: list[AudioTap] = []
        self.taps_out: list[AudioTap] = []


class VoicemailSocket(asyncio.DatagramProtocol):
    def __init__(self, taps: Taps, loop: asyncio.AbstractEventLoop) -> None:
        self.taps = taps
        self.loop = loop

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        try:
            header = parse_rtp_header(data)
        except RtpError:
            return
        payload = data[header.payload_start : header.payload_end]
        now = self.loop.time()
        for tap in list(self.taps.taps_in):
            tap(payload, header.payload_type, now)


@dataclass
class Voicemail:
    recorder: Recorder
    transport: asyncio.DatagramTransport


@dataclass
class CallRecording:
    path: Path
    started: float
    max_seconds: float | None
    timer: asyncio.TimerHandle | None = None
    played: list[Played] = field(default_factory=list)


class RecordingMixin:
    """The recording part of ``RtpEngineMedia`` (which provides what is declared below)."""

    if TYPE_CHECKING:
        client: NgClient
        bind_ip: str
        recording_dir: Path | None
        audio: AudioCache
        _legs: dict[str, _Leg]

        @property
        def sink(self) -> tuple[str, int]: ...

        def _leg(self, leg_id: str) -> _Leg: ...

        async def _point(self, leg: _Leg, target: tuple[str, int]) -> None: ...

        def _emit(self, event: MediaEvent) -> None: ...

    async def record(
        self,
        leg_id: str,
        path: Path,
        *,
        kind: RecordingKind = "call",
        max_seconds: float | None = None,
        silence_seconds: float | None = DEFAULT_SILENCE_SECONDS,
    ) -> None:
        leg = self._leg(leg_id)
        if kind not in ("call", "voicemail"):
            raise ValueError(f"recording kind must be 'call' or 'voicemail', got {kind!r}")
        if kind in leg.recordings:
            raise ValueError(f"media leg {leg_id!r} is already recording a {kind}")
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        running = asyncio.get_running_loop()
        if kind == "call":
            if self.recording_dir is None:
                raise OSError("call recording with rtpengine needs its recording folder "
                              "(media.rtpengine_recording_dir)")
            WavWriter(path).close()  # fail now (OSError) if the file cannot be created
            try:
                await self.client.request({"command": "start recording", "call-id": leg.call_id})
            except NgError as error:
                raise OSError(str(error)) from None
            rec = CallRecording(path, time.time(), max_seconds)
            if leg.playing is not None:  # playing already: what is left of it is recorded
                rec.played.append(leg.playing)
            if max_seconds is not None:
                rec.timer = running.call_later(
                    max_seconds, lambda: running.create_task(
                        self._end_recording(leg, "call", "max_length")))
            leg.recordings["call"] = rec
            return
        if leg.partner is not None:
            raise ValueError(f"media leg {leg_id!r} is bridged; a voicemail needs it alone")
        taps = Taps()
        recording = Recording(running.time(), tracks=1, max_seconds=max_seconds,
                              silence_seconds=silence_seconds)
        transport, _ = await running.create_datagram_endpoint(
            lambda: VoicemailSocket(taps, running), local_addr=(self.bind_ip, 0))
        recorder = Recorder(taps, path, "voicemail", recording,
                            lambda result: self._voicemail_done(leg, result), loop=running)
        leg.recordings["voicemail"] = Voicemail(recorder, transport)
        await self._point(leg, transport.get_extra_info("sockname")[:2])

    def _voicemail_done(self, leg: _Leg, result: RecordingResult) -> None:
        voicemail = leg.recordings.pop("voicemail", None)
        if isinstance(voicemail, Voicemail):
            voicemail.transport.close()
            if self._legs.get(leg.leg_id) is leg and leg.partner is None:
                asyncio.get_running_loop().create_task(self._repoint_sink(leg))
        self._emit(RecordingFinished(leg.leg_id, result.kind, result.path, result.duration,
                                     result.reason))

    async def _repoint_sink(self, leg: _Leg) -> None:
        with contextlib.suppress(NgError):
            if self._legs.get(leg.leg_id) is leg and leg.partner is None:
                await self._point(leg, self.sink)

    async def stop_recording(self, leg_id: str, kind: RecordingKind | None = None) -> None:
        leg = self._leg(leg_id)
        for one in list(leg.recordings):
            if kind is None or one == kind:
                await self._end_recording(leg, one, "stopped")

    async def _end_recording(self, leg: _Leg, kind: RecordingKind, reason: EndReason) -> None:
        rec = leg.recordings.get(kind)
        if isinstance(rec, Voicemail):
            rec.recorder.stop(reason)
            return
        if not isinstance(rec, CallRecording):
            return
        del leg.recordings[kind]
        if rec.timer is not None:
            rec.timer.cancel()
        try:
            await self.client.request({"command": "stop recording", "call-id": leg.call_id})
        except NgError:
            log.exception("rtpengine did not stop recording %s", leg.call_id)
            reason = "error"
        assert self.recording_dir is not None
        pcaps = sorted((self.recording_dir / "pcaps").glob(f"{leg.call_id}-*.pcap"),
                       key=lambda p: p.stat().st_mtime)
        duration = 0.0
        if pcaps:
            running = asyncio.get_running_loop()
            ended = time.time()

            def convert(pcap: Path) -> float:
                heard = [part for played in rec.played
                         if (part := played.heard(rec.started, ended, self.audio)) is not None]
                return pcap_to_wav(pcap, rec.path, leg.local[1], rec.max_seconds, heard,
                                   rec.started)

            try:
                duration = await running.run_in_executor(None, convert, pcaps[-1])
            except (OSError, ValueError):
                log.exception("converting the recording %s failed", pcaps[-1])
                reason = "error"
            else:  # the WAV is the recording; rtpengine's spool must not grow for ever
                metadata = self.recording_dir / "metadata"
                for spooled in [*pcaps, *metadata.glob(f"rtpengine-meta-{leg.call_id}-*")]:
                    spooled.unlink(missing_ok=True)
        else:
            log.warning("rtpengine wrote no pcap for %s in %s", leg.call_id, self.recording_dir)
        self._emit(RecordingFinished(leg.leg_id, "call", rec.path, duration, reason))
