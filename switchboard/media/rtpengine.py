"""The rtpengine media driver: Sipwise rtpengine (Debian ``rtpengine-daemon``, userspace mode)
carries the RTP, driven over its NG protocol (``ng.py``).

How switchboard's legs map onto rtpengine. rtpengine relays media between the parties of a
call that it learns from SDP offers and answers, each party named by a tag. Switchboard is a
B2BUA whose legs are set up one at a time and bridged later (a caller waits in a queue, then
meets an agent). The legs of one core call (``allocate(leg, call=...)``) share one rtpengine
call, and each leg has two tags there:

- ``peer-N``: the leg's SIP endpoint (the caller's phone, the agent's softphone, the trunk);
- ``pbx-N``: switchboard's side, which rtpengine always speaks PCMU to (it transcodes to the
  peer's codec when that is PCMA).

``allocate`` makes the offer from ``pbx-N`` (its address: a sink socket that drops what it is
sent) and returns the port rtpengine opened for the peer; ``set_remote`` gives the peer's
SDP as the answer. ``bridge(a, b)`` pairs the two peers directly (an offer from ``peer-A`` to
``peer-B`` and the answer, flag ``port latching``: the phones keep their ports), so audio
crosses rtpengine once and never this process; ``unbridge`` pairs both peers with their
``pbx`` tags again. Legs of no call are rtpengine calls of their own, bridged by
re-offering each one's ``pbx`` side with the other's ``pbx``-facing port (two passes; 10.5 has
no ``connect``). Prompts and music are ``play media`` to the ``peer`` tag (one file per play:
a playlist is joined into one cached WAV first; ``duration`` from the answer times
``PlayFinished``; a loop is ``repeat-times``). While a bridged leg is played to (the whisper),
its partner's audio is held back with ``block media``. Keys come from rtpengine's DTMF log
(``--dtmf-log-dest``, JSON over UDP) as ``DtmfReceived``. What a leg's endpoint sent (for
the RTP timeout) is the packet count of its ``peer`` tag's streams in a ``query``.

Recording: ``"call"`` recordings are rtpengine's own (``start recording`` / ``stop
recording``, pcap method): when one ends, the pcap of the packets rtpengine received in
that leg's call (the peer's, and its partner's as heard) is mixed into the WAV file, with
what rtpengine played to the leg meanwhile mixed in from the files. A ``"voicemail"``
re-points the leg's ``pbx`` side at a socket of this process, whose packets feed the same
``Recording`` as the in-process driver (maximum length, end on silence). rtpengine must run
on this host (it reads the prompt files and writes the pcaps here). That part is
``rtpengine_recording.RecordingMixin``.

``rtpengine_daemon.RtpEngineDaemon`` starts and stops a daemon of our own when the config
names none.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import itertools
import json
import logging
import os
import shutil
import socket
import tempfile
import time
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .engine import DtmfReceived, MediaEvent, PlayFinished
from .ng import NgClient, NgError, NgRefused, Value
from .recorder import RecordingKind
from .rtp import event_to_digit
from .rtpengine_recording import CallRecording, Played, RecordingMixin, Voicemail
from .wav import AudioCache, resample, write_wav

__all__ = ["RtpEngineMedia"]

log = logging.getLogger(__name__)

PBX, PEER = "pbx", "peer"
_CODECS = {0: "PCMU/8000", 8: "PCMA/8000"}
_LOOP_TIMES = 1_000_000  # "play it over and over": rtpengine counts repeats
_PLAYLISTS_KEPT = 256  # joined playlists kept on disk (announcements with numbers vary)
_PLAY_RATE = 32000  # the rate the joined playlists are written at (see _playlist)


def sdp(ip: str, port: int, payload_type: int, telephone_event_pt: int | None) -> str:
    """A one-audio-stream SDP body for rtpengine to read (not for phones)."""
    pts = [payload_type] + ([telephone_event_pt] if telephone_event_pt is not None else [])
    lines = [
        "v=0",
        f"o=switchboard 1 1 IN IP4 {ip}",
        "s=switchboard",
        f"c=IN IP4 {ip}",
        "t=0 0",
        f"m=audio {port} RTP/AVP {' '.join(map(str, pts))}",
        f"a=rtpmap:{payload_type} {_CODECS[payload_type]}",
    ]
    if telephone_event_pt is not None:
        lines += [f"a=rtpmap:{telephone_event_pt} telephone-event/8000",
                  f"a=fmtp:{telephone_event_pt} 0-16"]
    return "\r\n".join([*lines, "a=sendrecv", ""])


def media_address(body: object) -> tuple[str, int]:
    """The audio address (c= and m= lines) of an SDP rtpengine returned."""
    if not isinstance(body, bytes):
        raise NgError("offer/answer", "no SDP in the answer")
    ip, port = "", 0
    for line in body.decode("utf-8", "replace").splitlines():
        if line.startswith("c=IN IP4 ") and not ip:
            ip = line.split()[2]
        elif line.startswith("m=audio "):
            port = int(line.split()[1])
    if not ip or not port:
        raise NgError("offer/answer", "the SDP has no audio address")
    return ip, port


def packets_from(query: dict[str, object], tag: str) -> int:
    """The packets rtpengine received from ``tag``'s endpoint, by a ``query`` answer: the
    ``stats`` of its streams (RTP and RTCP), which count what arrived on the ports that tag
    was given, whoever it is paired with. Not ``totals``: those add the partner's packets and,
    for a ``pbx`` tag bridged to another call, what rtpengine relayed to itself. A tag not
    answered yet has none (what came before the answer is counted under it afterwards)."""
    tags = query.get("tags")
    entry = tags.get(tag) if isinstance(tags, dict) else None
    medias = entry.get("medias") if isinstance(entry, dict) else None
    count = 0
    for media in medias if isinstance(medias, list) else []:
        streams = media.get("streams") if isinstance(media, dict) else None
        for stream in streams if isinstance(streams, list) else []:
            stats = stream.get("stats") if isinstance(stream, dict) else None
            packets = stats.get("packets") if isinstance(stats, dict) else None
            count += packets if isinstance(packets, int) else 0
    return count


@dataclass
class _Group:
    """One rtpengine call: the legs of one core call (``key``), each with tags of its own."""

    call_id: str
    key: str | None  # the core call's id (None: a leg of its own)
    tags: int = 0  # legs allocated in it so far: numbers their tags
    legs: int = 0  # legs in it not released yet


@dataclass
class _Leg:
    leg_id: str
    group: _Group
    peer_tag: str  # the leg's endpoint
    pbx_tag: str  # switchboard's side of it
    local: tuple[str, int]  # rtpengine's port for the peer (what the peer's SDP gets)
    target: tuple[str, int]  # where rtpengine sends the pbx side's audio
    peer: tuple[str, int, int, int | None] | None = None  # ip, port, pt, telephone-event pt
    facing: tuple[str, int] | None = None  # rtpengine's port for the pbx side
    partner: str | None = None
    direct: bool = False  # paired with its partner's endpoint in rtpengine (one pass)
    offerer: bool = False  # of a direct pair, the leg whose tag made the offer
    blocking: str | None = None  # the partner whose audio is held back for a whisper
    play_generation: int = 0
    play_timer: asyncio.TimerHandle | None = None
    playing: Played | None = None
    recordings: dict[RecordingKind, CallRecording | Voicemail] = field(default_factory=dict)
    releasing: asyncio.Future[None] | None = None  # release() under way

    @property
    def call_id(self) -> str:
        """The rtpengine call the leg is in."""
        return self.group.call_id


class _DtmfLog(asyncio.DatagramProtocol):
    def __init__(self, media: RtpEngineMedia) -> None:
        self.media = media

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        self.media._dtmf_logged(data)


class RtpEngineMedia(RecordingMixin):
    """``MediaEngine`` on an rtpengine daemon reached at ``ng`` (host, port).

    ``dtmf`` is the (ip, port) this driver listens on for rtpengine's DTMF log (the daemon's
    ``--dtmf-log-dest`` must name it; port 0 picks one, read ``dtmf_address`` after
    ``start``). ``recording_dir`` is the daemon's ``--recording-dir`` (None: no call
    recordings). ``work_dir`` holds the joined playlists.
    """

    def __init__(
        self,
        ng: tuple[str, int],
        on_event: Callable[[MediaEvent], None],
        *,
        bind_ip: str = "127.0.0.1",
        dtmf: tuple[str, int] = ("127.0.0.1", 0),
        recording_dir: Path | None = None,
        work_dir: Path | None = None,
        audio: AudioCache | None = None,
    ) -> None:
        self.client = NgClient(*ng)
        self._on_event = on_event
        self.bind_ip = bind_ip
        self._dtmf_bind = dtmf
        self.dtmf_address: tuple[str, int] = dtmf
        self.recording_dir = recording_dir
        self._own_work_dir = work_dir is None
        if work_dir is None:
            work_dir = Path(tempfile.mkdtemp(prefix="switchboard-rtpengine-"))
        self.work_dir = work_dir
        self.audio = audio if audio is not None else AudioCache()
        self._prefix = f"sb-{os.urandom(4).hex()}"
        self._legs: dict[str, _Leg] = {}
        self._calls = itertools.count(1)
        self._groups: dict[str, _Group] = {}  # by core call id
        self._by_tag: dict[tuple[str, str], str] = {}  # (rtpengine call, peer tag) -> leg
        self._play_requests: dict[str, object] = {}
        self._playlists: OrderedDict[str, Path] = OrderedDict()
        self._sink: socket.socket | None = None
        self._dtmf_transport: asyncio.DatagramTransport | None = None

    async def start(self) -> None:
        """Open the NG socket, the DTMF log socket and the sink; check rtpengine answers."""
        await self.client.start()
        await self.open_dtmf_log()
        # Where an unbridged leg's audio goes: a socket nobody reads, with a small buffer,
        # so the kernel drops the packets (no ICMP errors back to rtpengine).
        sink = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        sink.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        sink.bind((self.bind_ip, 0))
        self._sink = sink
        self.work_dir.mkdir(parents=True, exist_ok=True)
        await self.client.request({"command": "ping"})

    async def open_dtmf_log(self) -> None:
        """Listen for rtpengine's DTMF log (done by ``start``; earlier to learn the port)."""
        if self._dtmf_transport is None:
            transport, _ = await asyncio.get_running_loop().create_datagram_endpoint(
                lambda: _DtmfLog(self), local_addr=self._dtmf_bind
            )
            self._dtmf_transport = transport
            self.dtmf_address = transport.get_extra_info("sockname")[:2]

    @property
    def sink(self) -> tuple[str, int]:
        if self._sink is None:
            raise RuntimeError("RtpEngineMedia.start() was not awaited")
        ip, port = self._sink.getsockname()[:2]
        return ip, port

    # ------------------------------------------------------------------ legs

    def _leg(self, leg_id: str) -> _Leg:
        try:
            return self._legs[leg_id]
        except KeyError:
            raise KeyError(f"no media leg {leg_id!r}") from None

    async def allocate(self, leg_id: str, *, call: str | None = None) -> tuple[str, int]:
        """Reserve media for a leg. Legs of one ``call`` (the core call's id) share an
        rtpengine call, so that bridging them pairs their endpoints directly."""
        if leg_id in self._legs:
            raise ValueError(f"media leg {leg_id!r} exists already")
        group = self._groups.get(call) if call is not None else None
        if group is None:
            # Our own Call-ID (a counter): rtpengine names its files after it, escaping what
            # a SIP Call-ID may hold ("@" becomes "%40"); the leg's id goes in as the label.
            group = _Group(f"{self._prefix}-{next(self._calls)}", call)
            if call is not None:
                self._groups[call] = group
        group.tags += 1
        pbx_tag, peer_tag = f"{PBX}-{group.tags}", f"{PEER}-{group.tags}"
        ip, port = self.sink
        try:
            answer = await self.client.request({
                "command": "offer", "call-id": group.call_id, "from-tag": pbx_tag,
                "sdp": sdp(ip, port, 0, 101), "codec": {"transcode": ["PCMA"]},
                "flags": ["port latching"], "label": leg_id,
            })
            local = media_address(answer.get("sdp"))
        except BaseException:
            if call is not None and group.legs == 0 and self._groups.get(call) is group:
                del self._groups[call]  # a new group that holds no leg after all
            raise
        group.legs += 1
        self._legs[leg_id] = _Leg(leg_id, group, peer_tag, pbx_tag, local, (ip, port))
        self._by_tag[(group.call_id, peer_tag)] = leg_id
        return local

    async def set_remote(
        self,
        leg_id: str,
        ip: str,
        port: int,
        payload_type: int,
        *,
        telephone_event_pt: int | None = 101,
    ) -> None:
        leg = self._leg(leg_id)
        if payload_type not in _CODECS:
            raise ValueError(f"payload type {payload_type} is neither PCMU (0) nor PCMA (8)")
        renegotiating = leg.peer is not None
        leg.peer = (ip, port, payload_type, telephone_event_pt)
        if renegotiating and leg.direct and leg.partner in self._legs:
            partner = self._legs[leg.partner]  # paired directly: pair again, same roles
            await (self._pair(leg, partner) if leg.offerer else self._pair(partner, leg))
            return
        if renegotiating:
            await self._offer(leg)
        await self._answer(leg)

    async def _offer(self, leg: _Leg) -> None:
        ip, port = leg.target
        await self.client.request({
            "command": "offer", "call-id": leg.call_id, "from-tag": leg.pbx_tag,
            "to-tag": leg.peer_tag, "sdp": sdp(ip, port, 0, 101),
            "codec": {"transcode": ["PCMA"]},
            "flags": ["port latching"],
        })

    async def _answer(self, leg: _Leg) -> None:
        if leg.peer is None:
            return
        ip, port, pt, te = leg.peer
        answer = await self.client.request({
            "command": "answer", "call-id": leg.call_id, "from-tag": leg.pbx_tag,
            "to-tag": leg.peer_tag, "sdp": sdp(ip, port, pt, te), "flags": ["port latching"],
        })
        leg.facing = media_address(answer.get("sdp"))

    async def _pair(self, first: _Leg, second: _Leg) -> None:
        """Pair two legs' endpoints in their rtpengine call: each one's audio goes straight
        to the other (one pass through rtpengine), both keeping their ports (checked by
        hand against rtpengine 10.5; see docs/media.md)."""
        assert first.peer is not None and second.peer is not None
        for command, leg in (("offer", first), ("answer", second)):
            peer = leg.peer
            assert peer is not None
            ip, port, pt, te = peer
            request: dict[str, Value] = {
                "command": command, "call-id": first.call_id, "from-tag": first.peer_tag,
                "to-tag": second.peer_tag, "sdp": sdp(ip, port, pt, te),
                "flags": ["port latching"],
            }
            if command == "offer":
                request["codec"] = {"transcode": ["PCMU", "PCMA"]}
            answer = await self.client.request(request)
            other = second if command == "offer" else first
            if media_address(answer.get("sdp")) != other.local:
                log.warning("rtpengine moved media leg %s from port %d to %s: its endpoint "
                            "still sends to the old one", other.leg_id, other.local[1],
                            media_address(answer.get("sdp")))
        first.direct = second.direct = True
        first.offerer, second.offerer = True, False

    async def _unpair(self, leg: _Leg) -> None:
        """Pair a directly paired leg's endpoint with switchboard's side again."""
        leg.direct = leg.offerer = False
        leg.target = self.sink
        if leg.peer is not None:
            await self._offer(leg)
            await self._answer(leg)

    async def _point(self, leg: _Leg, target: tuple[str, int]) -> None:
        """Send the leg's pbx-side audio to ``target`` (and take it from there)."""
        if leg.target == target:
            return
        leg.target = target
        if leg.peer is not None:
            await self._offer(leg)
            await self._answer(leg)

    async def bridge(self, a: str, b: str) -> None:
        leg_a, leg_b = self._leg(a), self._leg(b)
        if a == b:
            raise ValueError("cannot bridge a leg to itself")
        for leg, other in ((leg_a, b), (leg_b, a)):
            if leg.partner not in (None, other):
                raise ValueError(f"media leg {leg.leg_id!r} is bridged to {leg.partner!r}")
            if leg.facing is None:
                raise ValueError(f"media leg {leg.leg_id!r} has no remote end yet")
            if "voicemail" in leg.recordings:
                raise ValueError(f"media leg {leg.leg_id!r} is recording a voicemail")
        assert leg_a.facing is not None and leg_b.facing is not None
        leg_a.partner, leg_b.partner = b, a
        if leg_a.group is leg_b.group:  # one rtpengine call: pair the endpoints directly
            await self._pair(leg_a, leg_b)
        else:  # two: each one's switchboard side sends to the other's (two passes)
            await self._point(leg_a, leg_b.facing)
            await self._point(leg_b, leg_a.facing)
        for leg, other in ((leg_a, b), (leg_b, a)):  # a whisper that started before
            if leg.play_timer is not None and leg.blocking is None:
                await self._block(leg, other)

    async def unbridge(self, leg_id: str) -> None:
        leg = self._legs.get(leg_id)
        if leg is None or leg.partner is None:
            if leg is None:
                self._leg(leg_id)
            return
        partner = self._legs.get(leg.partner)
        leg.partner = None
        for one in (leg, partner):
            if one is None:
                continue
            one.partner = None
            await self._unblock(one)
            if one.direct:  # both ends are paired again (one alone would go on hearing)
                await self._unpair(one)
            elif one.leg_id in self._legs:
                await self._point(one, self.sink)

    async def release(self, leg_id: str) -> None:
        leg = self._legs.get(leg_id)
        if leg is None:
            return
        # Releasing takes a while (a call recording is converted): a second release of the
        # same leg (a hang-up racing the shutdown) waits for the first one.
        if leg.releasing is None:
            leg.releasing = asyncio.ensure_future(self._release(leg))
        await asyncio.shield(leg.releasing)

    async def _release(self, leg: _Leg) -> None:
        self._play_requests.pop(leg.leg_id, None)
        playing = leg.play_timer is not None
        self._cancel_play(leg)
        with contextlib.suppress(NgError):
            await self.unbridge(leg.leg_id)
        for kind in list(leg.recordings):
            await self._end_recording(leg, kind, "released")
        self._legs.pop(leg.leg_id, None)
        self._by_tag.pop((leg.call_id, leg.peer_tag), None)
        group = leg.group
        group.legs -= 1
        if group.legs > 0:  # the call's other legs go on; its ports go with the last one
            if playing:  # but what played to this one stops
                with contextlib.suppress(NgError):
                    await self.client.request({"command": "stop media", "call-id": leg.call_id,
                                               "from-tag": leg.peer_tag})
            return
        if group.key is not None and self._groups.get(group.key) is group:
            del self._groups[group.key]
        with contextlib.suppress(NgError):
            await self.client.request({"command": "delete", "call-id": leg.call_id})

    async def received(self, leg_id: str) -> int | None:
        """Packets (RTP and RTCP) the leg's endpoint sent to rtpengine: one ``query`` of its
        ``peer`` tag. None for a leg unknown here or to rtpengine (the daemon restarted)."""
        leg = self._legs.get(leg_id)
        if leg is None:
            return None
        try:
            answer = await self.client.request(
                {"command": "query", "call-id": leg.call_id, "from-tag": leg.peer_tag})
        except NgRefused:
            return None
        return packets_from(answer, leg.peer_tag)

    # ------------------------------------------------------------------ prompts

    async def play(
        self,
        leg_id: str,
        files: Sequence[str | os.PathLike[str]],
        *,
        loop: bool = False,
        play_id: int = 0,
    ) -> None:
        leg = self._leg(leg_id)
        request = self._play_requests[leg_id] = object()
        try:
            path = await asyncio.get_running_loop().run_in_executor(
                None, self._playlist, [Path(f) for f in files])
        finally:
            current = self._play_requests.get(leg_id) is request
            if current:
                del self._play_requests[leg_id]
        if not current or self._legs.get(leg_id) is not leg:
            return  # stopped, replaced or released meanwhile
        command: dict[str, Value] = {
            "command": "play media", "call-id": leg.call_id, "from-tag": leg.peer_tag,
            "file": str(path),
        }
        if loop:
            command["repeat-times"] = _LOOP_TIMES
        try:
            answer = await self.client.request(command)
        except NgError as error:
            raise OSError(f"rtpengine cannot play {path}: {error.reason}") from None
        self._cancel_play(leg)
        leg.play_generation += 1
        generation = leg.play_generation
        leg.playing = Played(time.time(), tuple(Path(f) for f in files), loop)
        recording = leg.recordings.get("call")
        if isinstance(recording, CallRecording):
            recording.played.append(leg.playing)
        duration = answer.get("duration")
        seconds = duration / 1000 if isinstance(duration, int) and duration > 0 else 0.0
        delay = seconds * _LOOP_TIMES if loop else seconds
        leg.play_timer = asyncio.get_running_loop().call_later(
            min(delay, 86400.0), self._played, leg, generation, play_id, loop)
        if leg.partner is not None and leg.blocking is None:
            await self._block(leg, leg.partner)

    def _played(self, leg: _Leg, generation: int, play_id: int, loop: bool) -> None:
        if leg.play_generation != generation or self._legs.get(leg.leg_id) is not leg:
            return
        leg.play_timer = None
        self._played_until(leg)
        if leg.blocking is not None:
            asyncio.get_running_loop().create_task(self._unblock(leg))
        if not loop:
            self._emit(PlayFinished(leg.leg_id, play_id))

    async def stop(self, leg_id: str) -> None:
        leg = self._leg(leg_id)
        self._play_requests.pop(leg_id, None)
        if leg.play_timer is None:
            return
        self._cancel_play(leg)
        with contextlib.suppress(NgError):  # it may just have ended
            await self.client.request(
                {"command": "stop media", "call-id": leg.call_id, "from-tag": leg.peer_tag})
        await self._unblock(leg)

    def _cancel_play(self, leg: _Leg) -> None:
        self._played_until(leg)
        leg.play_generation += 1
        if leg.play_timer is not None:
            leg.play_timer.cancel()
            leg.play_timer = None

    @staticmethod
    def _played_until(leg: _Leg) -> None:
        """What played to the leg ended (or was stopped) now."""
        if leg.playing is not None:
            if leg.playing.end is None:
                leg.playing.end = time.time()
            leg.playing = None

    async def _block(self, leg: _Leg, partner_id: str) -> None:
        """Hold back the partner's audio towards ``leg`` (a whisper plays to it)."""
        partner = self._legs.get(partner_id)
        if partner is None:
            return
        leg.blocking = partner_id
        with contextlib.suppress(NgError):
            await self.client.request(
                {"command": "block media", "call-id": partner.call_id,
                 "from-tag": partner.peer_tag})

    async def _unblock(self, leg: _Leg) -> None:
        partner = self._legs.get(leg.blocking) if leg.blocking is not None else None
        leg.blocking = None
        if partner is not None:
            with contextlib.suppress(NgError):
                await self.client.request(
                    {"command": "unblock media", "call-id": partner.call_id,
                     "from-tag": partner.peer_tag})

    def _playlist(self, paths: list[Path]) -> Path:
        """One 8 kHz WAV file holding ``paths`` back to back (cached; on a worker thread)."""
        stats = [(str(p.resolve()), (st := p.stat()).st_mtime_ns, st.st_size) for p in paths]
        key = hashlib.sha1(repr((_PLAY_RATE, stats)).encode()).hexdigest()[:20]
        cached = self._playlists.get(key)
        if cached is not None and cached.exists():
            self._playlists.move_to_end(key)
            return cached
        clips = [self.audio.load(p) for p in paths]
        out = self.work_dir / f"play-{key}.wav"
        pcm = np.concatenate([clip.pcm for clip in clips]) if clips else np.zeros(160, np.int16)
        # rtpengine 10.5 reads a WAV in 4 KiB chunks and sends each chunk's frames in a
        # burst: at 8 kHz that is 256 ms of audio, then a pause (8 % of the packets more than
        # 40 ms late, measured with benchmarks/bench_media.py); at 32 kHz a chunk is 64 ms and
        # the frames go out evenly every 20 ms (none late at 50 and 200 callers).
        wide = np.clip(np.round(resample(pcm, 8000, _PLAY_RATE)), -32768, 32767)
        partial = out.with_suffix(".part")
        write_wav(partial, wide.astype(np.int16), rate=_PLAY_RATE)
        partial.replace(out)
        self._playlists[key] = out
        while len(self._playlists) > _PLAYLISTS_KEPT:
            _, old = self._playlists.popitem(last=False)
            old.unlink(missing_ok=True)
        return out

    # ------------------------------------------------------------------ events

    def _dtmf_logged(self, data: bytes) -> None:
        try:
            entry = json.loads(data)
            call_id, tag, event = entry["callid"], entry["source_tag"], int(entry["event"])
            duration = float(entry.get("duration", 0)) / 1000
        except (ValueError, KeyError, TypeError):
            log.info("rtpengine DTMF log: not understood: %r", data[:200])
            return
        leg_id = self._by_tag.get((call_id, tag))
        if leg_id is None or entry.get("type", "DTMF") != "DTMF":
            return  # another instance's call, or a key forwarded by switchboard's side
        digit = event_to_digit(event)
        if digit is not None:
            self._emit(DtmfReceived(leg_id, digit, duration))

    def _emit(self, event: MediaEvent) -> None:
        try:
            self._on_event(event)
        except Exception:
            log.exception("media event callback failed for %s", event)

    async def close(self) -> None:
        for leg_id in list(self._legs):
            await self.release(leg_id)
        self.client.close()
        if self._dtmf_transport is not None:
            self._dtmf_transport.close()
            self._dtmf_transport = None
        if self._sink is not None:
            self._sink.close()
        if self._own_work_dir:
            shutil.rmtree(self.work_dir, ignore_errors=True)
