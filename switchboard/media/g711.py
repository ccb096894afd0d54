"""G.711 u-law (PCMU) and A-law (PCMA) with numpy lookup tables (ITU-T G.711).

Linear samples are 16-bit signed PCM; u-law uses the top 14 bits and A-law the top 13, as in
the ITU-T reference code. The tables are built once at import (65,536 entries to encode, 256 to
decode), then every conversion is one fancy-indexing step. ``ULAW_TO_ALAW`` and
``ALAW_TO_ULAW`` are 256-byte ``bytes.translate`` tables for transcoding a payload without numpy
on the hot path.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from enum import IntEnum
from typing import Final

import numpy as np
import numpy.typing as npt

__all__ = [
    "ALAW_SILENCE",
    "ALAW_TO_ULAW",
    "FRAME_BYTES",
    "FRAME_SAMPLES",
    "SAMPLE_RATE",
    "ULAW_SILENCE",
    "ULAW_TO_ALAW",
    "Law",
    "PcmArray",
    "decode",
    "decode_alaw",
    "decode_ulaw",
    "encode",
    "encode_alaw",
    "encode_ulaw",
    "frames_to_pcm",
    "pcm_to_frames",
    "transcode",
]

PcmArray = npt.NDArray[np.int16]

SAMPLE_RATE: Final = 8000
FRAME_SAMPLES: Final = 160  # 20 ms at 8 kHz
FRAME_BYTES: Final = FRAME_SAMPLES  # one byte per sample
ULAW_SILENCE: Final = 0xFF  # the code of linear 0
ALAW_SILENCE: Final = 0xD5


class Law(IntEnum):
    """A G.711 companding law, valued by its static RTP payload type (RFC 3551)."""

    ULAW = 0  # PCMU
    ALAW = 8  # PCMA


def _segment(magnitude: npt.NDArray[np.int32], first_bits: int) -> npt.NDArray[np.int32]:
    """Segment number 0..8 of each magnitude: how many bits it has beyond ``first_bits``."""
    _, exponent = np.frexp(magnitude.astype(np.float64))  # exponent == bit length for ints > 0
    return np.clip(exponent.astype(np.int32) - first_bits, 0, 8)


def _build_ulaw_encoder() -> npt.NDArray[np.uint8]:
    linear = np.arange(-32768, 32768, dtype=np.int32) >> 2  # 14-bit
    negative = linear < 0
    magnitude = np.minimum(np.where(negative, -linear, linear), 8159) + 33  # bias 0x84 >> 2
    segment = _segment(magnitude, 6)
    mantissa = (magnitude >> (segment + 1)) & 0x0F
    code = np.where(segment >= 8, 0x7F, (segment << 4) | mantissa)
    code ^= np.where(negative, 0x7F, 0xFF)
    return _by_unsigned_index(code)


def _build_alaw_encoder() -> npt.NDArray[np.uint8]:
    linear = np.arange(-32768, 32768, dtype=np.int32) >> 3  # 13-bit
    negative = linear < 0
    magnitude = np.where(negative, -linear - 1, linear)
    segment = _segment(magnitude, 5)
    mantissa = (magnitude >> np.maximum(segment, 1)) & 0x0F
    code = np.where(segment >= 8, 0x7F, (segment << 4) | mantissa)
    code ^= np.where(negative, 0x55, 0xD5)
    return _by_unsigned_index(code)


def _by_unsigned_index(code_by_value: npt.NDArray[np.int32]) -> npt.NDArray[np.uint8]:
    """Reorder a table built for -32768..32767 so that ``int16.view(uint16)`` indexes it."""
    return np.roll(code_by_value.astype(np.uint8), -32768)


def _build_ulaw_decoder() -> PcmArray:
    code = ~np.arange(256, dtype=np.int32) & 0xFF
    segment = (code >> 4) & 0x07
    magnitude = ((((code & 0x0F) << 3) + 0x84) << segment) - 0x84
    return np.where(code & 0x80, -magnitude, magnitude).astype(np.int16)


def _build_alaw_decoder() -> PcmArray:
    code = np.arange(256, dtype=np.int32) ^ 0x55
    segment = (code >> 4) & 0x07
    step = (code & 0x0F) << 4
    magnitude = np.where(segment == 0, step + 8, (step + 0x108) << np.maximum(segment - 1, 0))
    return np.where(code & 0x80, magnitude, -magnitude).astype(np.int16)


_ULAW_ENCODE: Final = _build_ulaw_encoder()
_ALAW_ENCODE: Final = _build_alaw_encoder()
_ULAW_DECODE: Final = _build_ulaw_decoder()
_ALAW_DECODE: Final = _build_alaw_decoder()
for _table in (_ULAW_ENCODE, _ALAW_ENCODE, _ULAW_DECODE, _ALAW_DECODE):
    _table.flags.writeable = False

#: ``payload.translate(ULAW_TO_ALAW)`` turns a PCMU payload into PCMA (decode, re-encode).
ULAW_TO_ALAW: Final = _ALAW_ENCODE[_ULAW_DECODE.view(np.uint16)].tobytes()
ALAW_TO_ULAW: Final = _ULAW_ENCODE[_ALAW_DECODE.view(np.uint16)].tobytes()


def _as_pcm(pcm: npt.ArrayLike) -> PcmArray:
    array = np.asarray(pcm)
    if array.dtype != np.int16:
        if not np.issubdtype(array.dtype, np.integer):
            raise TypeError(f"PCM must be 16-bit integers, got {array.dtype}")
        if array.size and (array.min() < -32768 or array.max() > 32767):
            raise ValueError("PCM sample outside the 16-bit range")
        array = array.astype(np.int16)
    return array


def encode_ulaw(pcm: npt.ArrayLike) -> bytes:
    """16-bit PCM samples to u-law bytes."""
    return _ULAW_ENCODE[_as_pcm(pcm).view(np.uint16)].tobytes()


def encode_alaw(pcm: npt.ArrayLike) -> bytes:
    """16-bit PCM samples to A-law bytes."""
    return _ALAW_ENCODE[_as_pcm(pcm).view(np.uint16)].tobytes()


def decode_ulaw(data: bytes) -> PcmArray:
    """u-law bytes to 16-bit PCM samples."""
    return _ULAW_DECODE[np.frombuffer(data, dtype=np.uint8)]


def decode_alaw(data: bytes) -> PcmArray:
    """A-law bytes to 16-bit PCM samples."""
    return _ALAW_DECODE[np.frombuffer(data, dtype=np.uint8)]


def encode(pcm: npt.ArrayLike, law: Law) -> bytes:
    """16-bit PCM samples to G.711 bytes of ``law``."""
    return encode_ulaw(pcm) if law is Law.ULAW else encode_alaw(pcm)


def decode(data: bytes, law: Law) -> PcmArray:
    """G.711 bytes of ``law`` to 16-bit PCM samples."""
    return decode_ulaw(data) if law is Law.ULAW else decode_alaw(data)


def transcode(data: bytes, source: Law, target: Law) -> bytes:
    """Convert a G.711 payload between laws (a copy even when the laws agree)."""
    if source is target:
        return bytes(data)
    return data.translate(ULAW_TO_ALAW if source is Law.ULAW else ALAW_TO_ULAW)


def pcm_to_frames(
    pcm: npt.ArrayLike, law: Law, *, frame_samples: int = FRAME_SAMPLES
) -> list[bytes]:
    """Split PCM into encoded frames (160 bytes = 20 ms by default).

    A short last frame is padded with silence, so every frame has the same length.
    """
    if frame_samples < 1:
        raise ValueError("frame_samples must be positive")
    samples = _as_pcm(pcm).ravel()
    short = -len(samples) % frame_samples
    if short:
        samples = np.concatenate([samples, np.zeros(short, dtype=np.int16)])
    encoded = encode(samples, law)
    return [encoded[i : i + frame_samples] for i in range(0, len(encoded), frame_samples)]


def frames_to_pcm(frames: Iterable[bytes] | Sequence[bytes], law: Law) -> PcmArray:
    """Decode and join G.711 frames into one PCM array."""
    return decode(b"".join(frames), law)
