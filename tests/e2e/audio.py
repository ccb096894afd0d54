"""Listening helpers for end-to-end tests: capture the RTP a peer receives, decode it, and
find prompts, recordings and pcaps in it.

- ``RtpCapture`` records every UDP datagram sent to one port on the loopback interface with
  an ``AF_PACKET`` socket and a kernel (classic BPF) filter for that port: a capture like
  ``dumpcap -i lo -f "udp dst port N"``, without tshark. The port belongs to a SIPp peer,
  whose SDP names it (``[media_port]``, SIPp's ``-mp``), so the RTP that the peer sends from
  it (pcap play, echo) and the RTP the server latches back onto it are the same stream and
  nothing is lost when the server latches. Packet sockets need root (CAP_NET_RAW), as SIPp's
  own pcap play does; CI runs as root. Without it, the capture fails loudly.
- ``Heard`` is what a capture decodes to: G.711 (PCMU and PCMA, telephone-event skipped)
  laid on one 8 kHz time line by RTP timestamps, re-anchored on the arrival clock when the
  source changes, with the wall-clock time of its first sample.
- ``ncc`` is normalised cross-correlation at every offset: 1.0 where a template appears
  unchanged (G.711 noise aside), near 0 for unrelated sound; ``Heard.find`` and
  ``best_match`` use it to place prompts on the time line.
- ``pcap_audio`` decodes the RTP audio of a pcap (what SIPp's ``play_pcap_audio`` sends),
  the reference for what a recording or the far end must contain.
- ``WebhookSink`` is a tiny HTTP server on 127.0.0.1 collecting notification webhooks.
"""

from __future__ import annotations

import ctypes
import json
import socket
import struct
import threading
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from switchboard.media import g711
from switchboard.media.wav import load_wav

RATE = 8000
FloatArray = npt.NDArray[np.float64]

_ETH_P_IP = 0x0800
_PACKET_OUTGOING = 4  # sll_pkttype: on lo each packet is seen going out and coming in
_SO_ATTACH_FILTER = 26
_LAWS = {0: g711.Law.ULAW, 8: g711.Law.ALAW}


# --------------------------------------------------------------------------- capture


def _udp_dst_port_filter(port: int) -> list[tuple[int, int, int, int]]:
    """Classic BPF for ``udp dst port <port>`` on an IPv4 packet (SOCK_DGRAM: the filter
    sees the IP header first). Unfragmented packets only, which RTP always is."""
    return [
        (0x30, 0, 0, 9),  # ldb [9]: IP protocol
        (0x15, 0, 6, 17),  # jeq UDP, else drop
        (0x28, 0, 0, 6),  # ldh [6]: flags and fragment offset
        (0x45, 4, 0, 0x1FFF),  # jset fragment offset: drop
        (0xB1, 0, 0, 0),  # ldxb 4*([0]&0xf): IP header length
        (0x48, 0, 0, 2),  # ldh [x+2]: UDP destination port
        (0x15, 0, 1, port),  # jeq port
        (0x06, 0, 0, 0x40000),  # ret: the whole packet
        (0x06, 0, 0, 0),  # ret 0: drop
    ]


def _attach_filter(sock: socket.socket, program: list[tuple[int, int, int, int]]) -> None:
    code = b"".join(struct.pack("HBBI", *insn) for insn in program)
    buffer = ctypes.create_string_buffer(code)
    fprog = struct.pack("HL", len(program), ctypes.addressof(buffer))
    sock.setsockopt(socket.SOL_SOCKET, _SO_ATTACH_FILTER, fprog)


@dataclass(frozen=True, slots=True)
class Datagram:
    """One captured UDP datagram: when it arrived (UNIX time), from where, its payload."""

    at: float
    source: tuple[str, int]
    payload: bytes


class RtpCapture:
    """Captures the UDP datagrams sent to ``port`` on lo while the context is open.

    A packet socket sees traffic whether or not anybody listens on the port (the SIPp peer's
    own socket takes its copy as usual). Started and stopped by the test; the reading thread
    stops within 0.2 s of ``stop``.
    """

    def __init__(self, port: int) -> None:
        self.port = port
        self.datagrams: list[Datagram] = []
        self._stop = threading.Event()
        try:
            self._sock = socket.socket(socket.AF_PACKET, socket.SOCK_DGRAM,
                                       socket.htons(_ETH_P_IP))
        except PermissionError as err:
            raise RuntimeError("capturing RTP on lo needs root or CAP_NET_RAW (as SIPp's "
                               "pcap play does); CI runs as root") from err
        try:
            _attach_filter(self._sock, _udp_dst_port_filter(port))
            self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 8 * 1024 * 1024)
            self._sock.bind(("lo", _ETH_P_IP))
            self._sock.settimeout(0.2)
        except OSError:
            self._sock.close()
            raise
        self._thread = threading.Thread(target=self._run, name=f"capture-{port}", daemon=True)

    def __enter__(self) -> RtpCapture:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def stop(self) -> None:
        if not self._stop.is_set():
            self._stop.set()
            if self._thread.is_alive():
                self._thread.join(5)
            self._sock.close()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                packet, address = self._sock.recvfrom(65535)
            except TimeoutError:
                continue
            except OSError:
                return
            now = time.time()
            if address[2] == _PACKET_OUTGOING or len(packet) < 28:
                continue
            header = (packet[0] & 0x0F) * 4
            if packet[9] != 17 or len(packet) < header + 8:
                continue
            source_port, dest_port = struct.unpack_from("!HH", packet, header)
            if dest_port != self.port:
                continue  # caught before the filter was attached
            source_ip = socket.inet_ntoa(packet[12:16])
            self.datagrams.append(Datagram(now, (source_ip, source_port), packet[header + 8:]))

    def heard(self) -> Heard:
        """What the captured RTP sounds like (a snapshot; capturing goes on)."""
        return Heard.from_rtp(list(self.datagrams))


# --------------------------------------------------------------------------- decoding


@dataclass(frozen=True, slots=True)
class _Rtp:
    at: float
    payload_type: int
    sequence: int
    timestamp: int
    ssrc: int
    payload: bytes


def _parse_rtp(at: float, data: bytes) -> _Rtp | None:
    if len(data) < 12 or data[0] >> 6 != 2 or 192 <= data[1] <= 223:
        return None  # not RTP, or RTCP
    first, second, sequence, timestamp, ssrc = struct.unpack_from("!BBHII", data)
    start = 12 + 4 * (first & 0x0F)
    if first & 0x10:
        if len(data) < start + 4:
            return None
        start += 4 + 4 * struct.unpack_from("!H", data, start + 2)[0]
    end = len(data) - (data[-1] if first & 0x20 else 0)
    if start > end:
        return None
    return _Rtp(at, second & 0x7F, sequence, timestamp, ssrc, data[start:end])


def _lay_out(packets: Sequence[_Rtp]) -> tuple[float, npt.NDArray[np.int16]]:
    """Decode G.711 packets onto one time line: positions from RTP timestamps within a
    source, re-anchored by arrival time when the source changes or its timestamps jump
    (more than 2 s off the arrival clock). Gaps are silence. (start time, samples)."""
    audio = sorted((p for p in packets if p.payload_type in _LAWS and p.payload),
                   key=lambda p: p.at)
    if not audio:
        return 0.0, np.zeros(0, dtype=np.int16)
    origin = audio[0].at
    placed: list[tuple[int, npt.NDArray[np.int16]]] = []
    ssrc: int | None = None
    base_ts = base_pos = 0
    for packet in audio:
        by_clock = round((packet.at - origin) * RATE)
        if packet.ssrc == ssrc:
            delta = (packet.timestamp - base_ts) & 0xFFFFFFFF
            if delta >= 0x80000000:
                delta -= 1 << 32
            position = base_pos + delta
        if packet.ssrc != ssrc or abs(position - by_clock) > 2 * RATE:
            ssrc, base_ts, base_pos = packet.ssrc, packet.timestamp, by_clock
            position = by_clock
        if position >= 0:
            placed.append((position, g711.decode(packet.payload, _LAWS[packet.payload_type])))
    length = max(position + len(pcm) for position, pcm in placed)
    out = np.zeros(length, dtype=np.int16)
    for position, pcm in placed:
        out[position:position + len(pcm)] = pcm
    return origin, out


@dataclass(frozen=True, slots=True)
class Match:
    """Where a template was found in a signal: start and end (seconds on the signal's own
    time line, or UNIX time for ``Heard``) and the normalised correlation there."""

    start: float
    end: float
    score: float


class Heard:
    """Decoded audio on an 8 kHz time line whose sample 0 arrived at ``start`` (UNIX time)."""

    def __init__(self, start: float, pcm: npt.NDArray[np.int16],
                 datagrams: Sequence[Datagram] = ()) -> None:
        self.start = start
        self.pcm = pcm
        self.datagrams = list(datagrams)

    @classmethod
    def from_rtp(cls, datagrams: Sequence[Datagram]) -> Heard:
        packets = [p for d in datagrams if (p := _parse_rtp(d.at, d.payload)) is not None]
        start, pcm = _lay_out(packets)
        return cls(start, pcm, datagrams)

    @property
    def seconds(self) -> float:
        return len(self.pcm) / RATE

    @property
    def end(self) -> float:
        return self.start + self.seconds

    def find(self, template: npt.ArrayLike, after: float | None = None,
             before: float | None = None) -> Match:
        """The best place for ``template`` starting between ``after`` and ``before`` (UNIX
        times; None: the whole capture)."""
        lo = 0 if after is None else max(0, round((after - self.start) * RATE))
        hi = len(self.pcm) if before is None else max(0, round((before - self.start) * RATE))
        # A prompt that ends the call may lose its last packet or two to the BYE: let the
        # template run up to 0.25 s past the end of the capture (scored as silence there).
        padded = np.concatenate((self.pcm, np.zeros(RATE // 4, dtype=np.int16)))
        found = best_match(padded, template, lo, hi)
        if found.score < WHOLE:
            # Heard with a hiccup? A sender that stalls skips its late slots (the RTP
            # timestamps jump, the receiver plays silence there), which shifts the rest of
            # the prompt: match it piece by piece across such gaps.
            pieced = match_across_gaps(padded, template, lo, hi)
            if pieced.score > found.score:
                found = pieced
        return Match(self.start + found.start, self.start + found.end, found.score)

    def loudness(self, start: float, end: float) -> float:
        """RMS level in dBFS between two UNIX times (-120 for nothing or digital silence)."""
        lo = max(0, round((start - self.start) * RATE))
        hi = max(lo, round((end - self.start) * RATE))
        return dbfs(self.pcm[lo:hi])


def dbfs(pcm: npt.ArrayLike) -> float:
    samples = np.asarray(pcm, dtype=np.float64)
    if not samples.size:
        return -120.0
    rms = float(np.sqrt(np.mean(samples * samples)))
    return max(-120.0, 20 * np.log10(max(rms, 1e-9) / 32768.0))


def ncc(signal: npt.ArrayLike, template: npt.ArrayLike) -> FloatArray:
    """Normalised cross-correlation of ``template`` at every offset of ``signal`` (offsets
    0 .. len(signal) - len(template)); 0 where the signal's window is silent."""
    x = np.asarray(signal, dtype=np.float64)
    y = np.asarray(template, dtype=np.float64)
    n = len(y)
    if n == 0 or len(x) < n:
        return np.zeros(0)
    y = y - y.mean()
    y_norm = float(np.sqrt(np.dot(y, y)))
    if y_norm == 0:
        return np.zeros(len(x) - n + 1)
    size = 1 << int(np.ceil(np.log2(len(x) + n)))
    corr = np.fft.irfft(np.fft.rfft(x, size) * np.conj(np.fft.rfft(y, size)), size)
    corr = corr[:len(x) - n + 1]
    # Window energy and mean of x (the template is zero-mean, so x's mean drops out of the
    # product but not of the norm).
    sums = np.concatenate(([0.0], np.cumsum(x)))
    squares = np.concatenate(([0.0], np.cumsum(x * x)))
    window_sum = sums[n:] - sums[:-n]
    window_energy = squares[n:] - squares[:-n] - window_sum * window_sum / n
    floor = n * 4.0  # below an RMS of 2 (out of 32768): silence, no correlation
    out = np.zeros(len(corr))
    loud = window_energy > floor
    out[loud] = corr[loud] / (np.sqrt(window_energy[loud]) * y_norm)
    return out


def best_match(signal: npt.ArrayLike, template: npt.ArrayLike, lo: int = 0,
               hi: int | None = None) -> Match:
    """The best offset of ``template`` in ``signal`` with its start in ``lo .. hi``
    (samples), as seconds from the signal's start. Score 0 if it does not fit there."""
    x = np.asarray(signal)
    n = len(np.asarray(template))
    hi = len(x) if hi is None else min(hi, len(x))
    window = x[lo:min(len(x), hi + n)]
    scores = ncc(window, template)
    if not scores.size:
        return Match(lo / RATE, (lo + n) / RATE, 0.0)
    best = int(np.argmax(scores))
    return Match((lo + best) / RATE, (lo + best + n) / RATE, float(scores[best]))


WHOLE = 0.9  # a template played unchanged through G.711 scores ~0.99
PIECE = RATE // 2  # 0.5 s pieces
MIN_PIECE = RATE // 16  # a piece with a gap inside is halved down to this
PARTLY = 0.5  # a piece cut by a gap scores at least about this (its larger part fits)
MAX_GAP = round(0.3 * RATE)  # the longest gap one piece may follow
MAX_GAPS = round(1.0 * RATE)  # all gaps of one template together


def match_across_gaps(signal: npt.ArrayLike, template: npt.ArrayLike, lo: int = 0,
                      hi: int | None = None) -> Match:
    """``template`` matched in 0.5 s pieces, the first starting between ``lo`` and ``hi``
    (samples), each other one where the one before ended or up to 0.3 s later (1 s of gaps
    in all): how a prompt sounds after its sender stalled and skipped slots. A piece that
    partly fits (a gap inside it) is matched in halves, down to 1/16 s. The score is
    the pieces' scores weighted by their energy, so a prompt heard whole with gaps scores as
    high as one heard without; silent pieces only advance. As ``best_match``, in seconds."""
    x = np.asarray(signal)
    y = np.asarray(template, dtype=np.float64)
    hi = len(x) if hi is None else hi
    gaps = [0]  # samples of gap used so far

    def place(piece: FloatArray, search_lo: int, search_hi: int
              ) -> tuple[float, float, int, int]:
        """(score * energy, energy, start, end) of ``piece`` starting in the window."""
        centred = piece - piece.mean()
        energy = float(np.dot(centred, centred))
        if energy <= len(piece) * 4.0:  # silence in the template: nothing to match
            return 0.0, 0.0, search_lo, search_lo + len(piece)
        found = best_match(x, piece, search_lo, search_hi)
        at = round(found.start * RATE)
        whole = (found.score * energy, energy, at, at + len(piece))
        if not PARTLY <= found.score < WHOLE or len(piece) < 2 * MIN_PIECE:
            return whole  # there, or not there at all (not even the larger part of it)
        half = len(piece) // 2
        w1, e1, start, middle = place(piece[:half], search_lo, search_hi)
        slack = min(MAX_GAP, MAX_GAPS - gaps[0])
        w2, e2, second, stop = place(piece[half:], middle, middle + slack)
        if (w1 + w2) / max(e1 + e2, 1e-9) <= found.score:
            return whole
        gaps[0] += second - middle
        return w1 + w2, e1 + e2, start, stop

    position = None
    weighted = weights = 0.0
    first = 0
    for offset in range(0, len(y), PIECE):
        piece = y[offset:offset + PIECE]
        if position is None:
            search_lo, search_hi = lo + offset, hi + offset
        else:
            search_lo = position
            search_hi = position + min(MAX_GAP, MAX_GAPS - gaps[0])
        w, e, at, end = place(piece, search_lo, search_hi)
        if e == 0.0 and position is None:
            continue  # leading silence: the first voiced piece places the template
        if position is None:
            first = at - offset
        else:
            gaps[0] += at - position
        position = end
        weighted += w
        weights += e
    if position is None or weights == 0:
        return Match(lo / RATE, (lo + len(y)) / RATE, 0.0)
    return Match(first / RATE, position / RATE, weighted / weights)


def prompt_pcm(paths: Iterable[Path]) -> npt.NDArray[np.int16]:
    """Prompt files played back to back, as the player sends them (8 kHz, 16-bit)."""
    parts = [load_wav(path) for path in paths]
    return np.concatenate(parts) if parts else np.zeros(0, dtype=np.int16)


# --------------------------------------------------------------------------- pcap files


def pcap_audio(path: Path) -> npt.NDArray[np.int16]:
    """The G.711 audio of the RTP in a pcap (Ethernet, IPv4, UDP), laid out by RTP
    timestamp from the first packet: what SIPp's ``play_pcap_audio`` sends."""
    data = path.read_bytes()
    magic = struct.unpack_from("<I", data)[0]
    endian = "<" if magic in (0xA1B2C3D4, 0xA1B23C4D) else ">"
    link = struct.unpack_from(endian + "I", data, 20)[0]
    if link != 1:
        raise ValueError(f"{path}: link type {link}, expected Ethernet")
    offset = 24
    packets: list[_Rtp] = []
    while offset + 16 <= len(data):
        seconds, fraction, captured, _ = struct.unpack_from(endian + "IIII", data, offset)
        frame = data[offset + 16:offset + 16 + captured]
        offset += 16 + captured
        if len(frame) < 42 or frame[12:14] != b"\x08\x00":
            continue
        ip = frame[14:]
        header = (ip[0] & 0x0F) * 4
        if ip[9] != 17:
            continue
        rtp = _parse_rtp(seconds + fraction / 1e6, ip[header + 8:])
        if rtp is not None:
            packets.append(rtp)
    audio = [p for p in packets if p.payload_type in _LAWS]
    if not audio:
        raise ValueError(f"{path}: no G.711 RTP")
    first = audio[0].timestamp
    end = max(((p.timestamp - first) & 0xFFFFFFFF) + len(p.payload) for p in audio)
    out = np.zeros(end, dtype=np.int16)
    for p in audio:
        at = (p.timestamp - first) & 0xFFFFFFFF
        out[at:at + len(p.payload)] = g711.decode(p.payload, _LAWS[p.payload_type])
    return out


def last_voice(pcm: npt.ArrayLike, level: float = -40.0, frame: int = 160) -> float:
    """Seconds from the start to the end of the last ``frame`` louder than ``level`` dBFS."""
    samples = np.asarray(pcm, dtype=np.float64)
    frames = len(samples) // frame
    if not frames:
        return 0.0
    blocks = samples[:frames * frame].reshape(frames, frame)
    rms = np.sqrt(np.mean(blocks * blocks, axis=1))
    loud = np.nonzero(rms > 32768.0 * 10 ** (level / 20))[0]
    return 0.0 if not loud.size else (int(loud[-1]) + 1) * frame / RATE


# --------------------------------------------------------------------------- webhooks


class WebhookSink:
    """An HTTP server on 127.0.0.1 that answers 200 to every POST and keeps the JSON bodies
    (``received``); for notification targets ``webhook: <url>``."""

    def __init__(self) -> None:
        self.received: list[dict[str, Any]] = []
        sink = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # the http.server API
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length)
                try:
                    sink.received.append(json.loads(body))
                except ValueError:
                    sink.received.append({"raw": body.decode(errors="replace")})
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}/hook"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def __enter__(self) -> WebhookSink:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(5)

    def wait(self, count: int, timeout: float) -> list[dict[str, Any]]:
        deadline = time.monotonic() + timeout
        while len(self.received) < count and time.monotonic() < deadline:
            time.sleep(0.05)
        assert len(self.received) >= count, f"{count} webhook(s) expected: {self.received}"
        return list(self.received)
