"""WAV files in and out: any common WAV converted once to 8 kHz mono 16-bit, and written back.

- ``read_wav`` reads PCM of 8/16/24/32 bits with the standard ``wave`` module; what ``wave``
  does not read in Python 3.11 (IEEE float, G.711 A-law/u-law, WAVE_FORMAT_EXTENSIBLE) goes
  through a small RIFF chunk reader. Channels are averaged into mono.
- ``resample`` band-limits and converts the rate with FFTs on overlapping blocks (a brick wall
  with a raised-cosine edge from 90 % of the lower Nyquist frequency): no aliasing, flat
  passband, any ratio, memory bounded by the block size. numpy only (scipy is not a runtime
  dependency).
- ``AudioCache`` keeps converted audio per (path, mtime, size) so a prompt is converted once,
  and its G.711 encodings once per law.
- ``WavWriter`` streams 8 kHz mono 16-bit PCM to a file whose header is valid after every
  write (a crash loses nothing written), and can cut the file shorter (trailing silence).
"""

from __future__ import annotations

import math
import os
import struct
import threading
import wave
from collections import OrderedDict
from pathlib import Path
from typing import BinaryIO

import numpy as np
import numpy.typing as npt

from . import g711
from .g711 import Law, PcmArray

__all__ = [
    "SAMPLE_RATE",
    "AudioCache",
    "Clip",
    "WavError",
    "WavWriter",
    "load_wav",
    "read_wav",
    "resample",
    "write_wav",
]

SAMPLE_RATE = g711.SAMPLE_RATE
FloatArray = npt.NDArray[np.float64]

_PCM, _FLOAT, _ALAW, _ULAW, _EXTENSIBLE = 0x0001, 0x0003, 0x0006, 0x0007, 0xFFFE
_HEADER = struct.Struct("<4sI4s4sIHHIIHH4sI")  # RIFF header, fmt chunk (16 bytes), data header
_HEADER_SIZE = _HEADER.size  # 44
_PASSBAND = 0.9  # share of the lower Nyquist frequency passed untouched
_BLOCK_SECONDS = 2.0  # input per FFT block
_OVERLAP_SECONDS = 0.05  # context either side of a block (the filter's tails fit in it)


class WavError(ValueError):
    """A file is not a WAV file this module can read (bad input from a user)."""


# --------------------------------------------------------------------------- reading


def read_wav(path: str | os.PathLike[str]) -> tuple[FloatArray, int]:
    """Samples of a WAV file as floats in [-1, 1), one column per channel, and its rate.

    Raises ``WavError`` for what is not a readable WAV file, ``OSError`` if it cannot be read.
    """
    try:
        with wave.open(os.fspath(path), "rb") as wav:
            channels, width, rate = wav.getnchannels(), wav.getsampwidth(), wav.getframerate()
            data = wav.readframes(wav.getnframes())
        return _pcm_to_float(data, width, channels, path), rate
    except wave.Error as error:
        if "unknown format" not in str(error):
            raise WavError(f"{path}: {error}") from None
    except EOFError:
        raise WavError(f"{path}: truncated WAV file") from None
    return _read_other_formats(Path(path))


def _pcm_to_float(data: bytes, width: int, channels: int, path: object) -> FloatArray:
    if channels < 1:
        raise WavError(f"{path}: {channels} channels")
    usable = len(data) - len(data) % (width * channels)
    data = data[:usable]
    if width == 1:
        samples = (np.frombuffer(data, np.uint8).astype(np.float64) - 128.0) / 128.0
    elif width == 2:
        samples = np.frombuffer(data, "<i2").astype(np.float64) / 32768.0
    elif width == 3:
        raw = np.frombuffer(data, np.uint8).reshape(-1, 3).astype(np.int32)
        value = raw[:, 0] | (raw[:, 1] << 8) | (raw[:, 2] << 16)
        value = np.where(value >= 1 << 23, value - (1 << 24), value)
        samples = value.astype(np.float64) / float(1 << 23)
    elif width == 4:
        samples = np.frombuffer(data, "<i4").astype(np.float64) / float(1 << 31)
    else:
        raise WavError(f"{path}: {8 * width}-bit PCM is not supported")
    return samples.reshape(-1, channels)


def _read_other_formats(path: Path) -> tuple[FloatArray, int]:
    """The RIFF chunks of the formats ``wave`` rejects: float, G.711, extensible."""
    blob = path.read_bytes()
    if len(blob) < 12 or blob[:4] != b"RIFF" or blob[8:12] != b"WAVE":
        raise WavError(f"{path}: not a RIFF/WAVE file")
    fmt: bytes | None = None
    data: bytes | None = None
    at = 12
    while at + 8 <= len(blob) and (fmt is None or data is None):
        name, size = struct.unpack_from("<4sI", blob, at)
        body = blob[at + 8 : at + 8 + size]
        if name == b"fmt ":
            fmt = body
        elif name == b"data":
            data = body
        at += 8 + size + (size & 1)
    if fmt is None or len(fmt) < 16 or data is None:
        raise WavError(f"{path}: no fmt or data chunk")
    tag, channels, rate, _, block_align, bits = struct.unpack_from("<HHIIHH", fmt)
    if tag == _EXTENSIBLE:
        if len(fmt) < 26:
            raise WavError(f"{path}: WAVE_FORMAT_EXTENSIBLE without its sub-format")
        tag = struct.unpack_from("<H", fmt, 24)[0]  # the first 2 bytes of the sub-format GUID
    if channels < 1 or rate < 1:
        raise WavError(f"{path}: {channels} channels at {rate} Hz")
    if tag == _PCM:
        width = bits // 8 or block_align // channels
        return _pcm_to_float(data, width, channels, path), rate
    if tag == _FLOAT and bits in (32, 64):
        dtype = "<f4" if bits == 32 else "<f8"
        width = bits // 8
        usable = len(data) - len(data) % (width * channels)
        samples = np.frombuffer(data[:usable], dtype).astype(np.float64)
        return np.clip(samples, -1.0, 1.0).reshape(-1, channels), rate
    if tag in (_ALAW, _ULAW) and bits == 8:
        usable = len(data) - len(data) % channels
        law = Law.ALAW if tag == _ALAW else Law.ULAW
        samples = g711.decode(data[:usable], law).astype(np.float64) / 32768.0
        return samples.reshape(-1, channels), rate
    raise WavError(f"{path}: WAV format 0x{tag:04x} with {bits} bits is not supported")


def load_wav(path: str | os.PathLike[str], rate: int = SAMPLE_RATE) -> PcmArray:
    """A WAV file as 16-bit mono PCM at ``rate`` (channels averaged, resampled if needed)."""
    samples, source_rate = read_wav(path)
    mono = samples.mean(axis=1) if samples.shape[1] > 1 else samples[:, 0]
    if source_rate != rate:
        mono = resample(mono, source_rate, rate)
    pcm: PcmArray = np.clip(np.round(mono * 32768.0), -32768, 32767).astype(np.int16)
    return pcm


# --------------------------------------------------------------------------- resampling


def resample(signal: npt.ArrayLike, source_rate: int, target_rate: int) -> FloatArray:
    """Convert a 1-D signal between sample rates, band-limited to the lower Nyquist frequency.

    The output has ``round(len * target / source)`` samples; sample ``j`` is the signal at
    time ``j / target_rate``. Blocks of about two seconds are converted by FFT with 50 ms of
    context either side, so long files need little memory and no block seams show.
    """
    x = np.asarray(signal, dtype=np.float64)
    if x.ndim != 1:
        raise ValueError("resample takes a 1-D signal")
    if source_rate < 1 or target_rate < 1:
        raise ValueError("sample rates must be positive")
    if source_rate == target_rate:
        return x.copy()
    common = math.gcd(source_rate, target_rate)
    up, down = target_rate // common, source_rate // common
    length = len(x)
    out_length = (length * up + down // 2) // down
    # Blocks and overlaps are whole multiples of ``down`` input samples: each maps onto a
    # whole number of output samples, so blocks join exactly.
    overlap = down * math.ceil(_OVERLAP_SECONDS * source_rate / down)
    block = down * max(1, math.ceil(_BLOCK_SECONDS * source_rate / down))
    taper = _band_taper(block + 2 * overlap, source_rate, target_rate)
    padded = np.concatenate([np.zeros(overlap), x, np.zeros(overlap + block)])
    pieces = []
    keep_from = overlap * up // down
    keep = block * up // down
    for start in range(0, max(length, 1), block):
        segment = padded[start : start + block + 2 * overlap]
        pieces.append(_fft_resample(segment, up, down, taper)[keep_from : keep_from + keep])
    return np.concatenate(pieces)[:out_length]


def _band_taper(size: int, source_rate: int, target_rate: int) -> FloatArray:
    """Gains for the output spectrum bins of a block of ``size`` input samples."""
    out_size = size * target_rate // source_rate
    frequencies = np.fft.rfftfreq(out_size, 1.0 / target_rate)
    stop = min(source_rate, target_rate) / 2.0
    passband = _PASSBAND * stop
    edge = np.clip((frequencies - passband) / (stop - passband), 0.0, 1.0)
    gains: FloatArray = 0.5 * (1.0 + np.cos(np.pi * edge))
    return gains


def _fft_resample(segment: FloatArray, up: int, down: int, taper: FloatArray) -> FloatArray:
    size = len(segment)
    out_size = size * up // down
    spectrum = np.fft.rfft(segment)
    bins = min(len(spectrum), len(taper))
    out_spectrum = np.zeros(len(taper), dtype=np.complex128)
    out_spectrum[:bins] = spectrum[:bins] * taper[:bins]
    result: FloatArray = np.fft.irfft(out_spectrum, out_size) * (out_size / size)
    return result


# --------------------------------------------------------------------------- cache


class Clip:
    """One converted audio file: 8 kHz mono PCM, and its G.711 encodings made on demand."""

    __slots__ = ("_encoded", "path", "pcm")

    def __init__(self, path: Path, pcm: PcmArray) -> None:
        pcm.flags.writeable = False
        self.path = path
        self.pcm = pcm
        self._encoded: dict[Law, bytes] = {}

    @property
    def seconds(self) -> float:
        """The length in seconds."""
        return len(self.pcm) / SAMPLE_RATE

    def encoded(self, law: Law) -> bytes:
        """The audio in G.711 ``law``, one byte per sample (encoded once)."""
        data = self._encoded.get(law)
        if data is None:
            data = self._encoded[law] = g711.encode(self.pcm, law)
        return data

    @property
    def nbytes(self) -> int:
        return int(self.pcm.nbytes) + sum(len(d) for d in self._encoded.values())


class AudioCache:
    """Converted audio files, kept while their (path, mtime, size) stays the same.

    ``load`` converts on a miss (it may take a while for a long music file: call it from a
    worker thread); ``cached`` only answers from the cache (cheap: one ``stat``). Least
    recently used files are dropped above ``max_bytes``. Safe to call from several threads.
    """

    def __init__(self, max_bytes: int = 64 * 1024 * 1024) -> None:
        self.max_bytes = max_bytes
        self._clips: OrderedDict[str, tuple[tuple[int, int], Clip]] = OrderedDict()
        self._lock = threading.Lock()

    def cached(self, path: str | os.PathLike[str]) -> Clip | None:
        """The converted file if it is cached and unchanged on disk, else None.

        Raises ``OSError`` (``FileNotFoundError``) if the file is not there.
        """
        key, stamp = self._key(path)
        with self._lock:
            entry = self._clips.get(key)
            if entry is None or entry[0] != stamp:
                return None
            self._clips.move_to_end(key)
            return entry[1]

    def load(self, path: str | os.PathLike[str]) -> Clip:
        """The converted file, converting it now if it is not cached or changed on disk.

        Raises ``WavError`` or ``OSError`` for files that cannot be read.
        """
        clip = self.cached(path)
        if clip is not None:
            return clip
        key, stamp = self._key(path)
        clip = Clip(Path(path), load_wav(path))
        with self._lock:
            self._clips[key] = (stamp, clip)
            self._clips.move_to_end(key)
            total = sum(entry[1].nbytes for entry in self._clips.values())
            while total > self.max_bytes and len(self._clips) > 1:
                _, (_, dropped) = self._clips.popitem(last=False)
                total -= dropped.nbytes
        return clip

    @staticmethod
    def _key(path: str | os.PathLike[str]) -> tuple[str, tuple[int, int]]:
        stat = os.stat(path)
        return os.path.abspath(path), (stat.st_mtime_ns, stat.st_size)


# --------------------------------------------------------------------------- writing


class WavWriter:
    """Streams 16-bit mono PCM into a WAV file; the header is patched after every write.

    Opening creates the parent folders and truncates an existing file.
    """

    def __init__(self, path: str | os.PathLike[str], rate: int = SAMPLE_RATE) -> None:
        self.path = Path(path)
        self.rate = rate
        self.frames = 0
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._file: BinaryIO | None = open(self.path, "wb")  # noqa: SIM115 - closed in close()
        self._patch()

    @property
    def seconds(self) -> float:
        return self.frames / self.rate

    def write(self, pcm: npt.ArrayLike) -> None:
        """Append samples (anything that converts to int16)."""
        samples = np.asarray(pcm, dtype="<i2")
        if not samples.size:
            return
        file = self._open()
        file.seek(_HEADER_SIZE + 2 * self.frames)
        file.write(samples.tobytes())
        self.frames += int(samples.size)
        self._patch()

    def truncate(self, frames: int) -> None:
        """Cut the file to its first ``frames`` samples (no-op if it is not longer)."""
        if 0 <= frames < self.frames:
            file = self._open()
            file.truncate(_HEADER_SIZE + 2 * frames)
            self.frames = frames
            self._patch()

    def close(self) -> None:
        """Flush and close (idempotent)."""
        if self._file is not None:
            self._file.close()
            self._file = None

    def _open(self) -> BinaryIO:
        if self._file is None:
            raise ValueError(f"WAV writer for {self.path} is closed")
        return self._file

    def _patch(self) -> None:
        file = self._open()
        data_bytes = 2 * self.frames
        file.seek(0)
        file.write(
            _HEADER.pack(
                b"RIFF", 36 + data_bytes, b"WAVE", b"fmt ", 16, _PCM, 1,
                self.rate, 2 * self.rate, 2, 16, b"data", data_bytes,
            )
        )  # fmt: skip
        file.flush()

    def __enter__(self) -> WavWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def write_wav(path: str | os.PathLike[str], pcm: npt.ArrayLike, rate: int = SAMPLE_RATE) -> None:
    """Write 16-bit mono PCM as a WAV file."""
    with WavWriter(path, rate) as writer:
        writer.write(pcm)
