"""An rtpengine recording (a pcap of the RTP it received for one leg) mixed into a WAV file."""

from __future__ import annotations

import struct
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import numpy.typing as npt

from .g711 import FRAME_SAMPLES, Law, encode
from .recorder import Recording
from .rtp import RtpError, parse_rtp_header
from .wav import WavWriter, write_wav

__all__ = ["pcap_to_wav"]

_LAWS = {0: Law.ULAW, 8: Law.ALAW}


def pcap_to_wav(pcap: Path, wav: Path, peer_port: int, max_seconds: float | None,
                played: Sequence[tuple[float, npt.NDArray[np.int16]]] = (),
                started: float | None = None) -> float:
    """Mix a leg's rtpengine recording into an 8 kHz WAV; its length in seconds.

    The pcap (raw IPv4 or Ethernet frames) holds the RTP that rtpengine received for one
    leg: what reached ``peer_port`` came from the leg's endpoint, the rest from its
    partner. Both are laid on the recording's time line by arrival time, as the in-process
    recorder does. ``played``: (UNIX time, 8 kHz audio) that rtpengine played to the leg,
    which it did not receive, so the pcap lacks it; it is mixed in as the leg heard it.
    ``started``: when the recording began (UNIX time), where the WAV starts, as the
    in-process recorder's (else just before the first packet).
    """
    data = pcap.read_bytes()
    if len(data) < 24:
        raise ValueError(f"{pcap}: not a pcap file")
    magic = struct.unpack_from("<I", data)[0]
    endian = "<" if magic in (0xA1B2C3D4, 0xA1B23C4D) else ">"
    nano = magic in (0xA1B23C4D, 0x4D3CB2A1)
    link = struct.unpack_from(endian + "I", data, 20)[0]
    offset_ip = {1: 14, 101: 0, 228: 0, 113: 16}.get(link)
    if offset_ip is None:
        raise ValueError(f"{pcap}: link type {link} is not supported")
    packets: list[tuple[float, int, bytes, Law]] = []
    at = 24
    while at + 16 <= len(data):
        seconds, fraction, included, _ = struct.unpack_from(endian + "IIII", data, at)
        frame = data[at + 16 : at + 16 + included]
        at += 16 + included
        ip = frame[offset_ip:]
        if len(ip) < 20 or ip[0] >> 4 != 4 or ip[9] != 17:
            continue
        udp = ip[(ip[0] & 0x0F) * 4 :]
        if len(udp) < 8:
            continue
        dest = struct.unpack_from("!H", udp, 2)[0]
        rtp = udp[8:]
        try:
            header = parse_rtp_header(rtp)
        except RtpError:
            continue  # RTCP, or not RTP
        law = _LAWS.get(header.payload_type)
        if law is None:
            continue  # telephone-event
        when = seconds + fraction / (1e9 if nano else 1e6)
        payload = rtp[header.payload_start : header.payload_end]
        packets.append((when, 0 if dest == peer_port else 1, payload, law))
    for start, pcm in played:
        codes = encode(pcm, Law.ULAW)  # one byte a sample: cut into 20 ms frames below
        for index in range(0, len(codes) - FRAME_SAMPLES + 1, FRAME_SAMPLES):
            packets.append((start + index / 8000, 1, codes[index:index + FRAME_SAMPLES],
                            Law.ULAW))
    packets.sort(key=lambda packet: packet[0])
    if not packets:
        write_wav(wav, np.zeros(0, np.int16))
        return 0.0
    start = packets[0][0] - 0.020
    if started is not None:
        start = min(start, started)
    recording = Recording(start, tracks=2, max_seconds=max_seconds)
    writer = WavWriter(wav)
    try:
        for when, track, payload, law in packets:
            recording.add(track, payload, law, when)
            writer.write(recording.advance(when))
        end = packets[-1][0] + 0.001
        rest, length = recording.finish(end, "stopped")
        writer.write(rest)
        writer.truncate(length)
    finally:
        writer.close()
    return writer.seconds


