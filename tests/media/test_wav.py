"""WAV in and out: every common format read, resampled to 8 kHz mono, cached, written."""

from __future__ import annotations

import os
import struct
import wave
from pathlib import Path

import numpy as np
import pytest

from switchboard.media import g711
from switchboard.media.wav import (
    AudioCache,
    WavError,
    WavWriter,
    load_wav,
    read_wav,
    resample,
    write_wav,
)


def sine(frequency: float, rate: int, seconds: float, amplitude: float = 0.5) -> np.ndarray:
    t = np.arange(round(rate * seconds)) / rate
    return amplitude * np.sin(2 * np.pi * frequency * t)


def write_pcm(path: Path, channels_data: np.ndarray, rate: int, width: int) -> None:
    """A WAV written by the standard library (not by the code under test)."""
    frames = channels_data if channels_data.ndim == 2 else channels_data[:, None]
    scale = float(1 << (8 * width - 1))
    ints = np.clip(np.round(frames * scale), -scale, scale - 1).astype(np.int64)
    if width == 1:
        raw = (ints + 128).astype(np.uint8).tobytes()
    elif width == 3:
        little = ints.astype("<i4").view(np.uint8).reshape(-1, 4)[:, :3]
        raw = little.tobytes()
    else:
        raw = ints.astype(f"<i{width}").tobytes()
    with wave.open(str(path), "wb") as wav:
        wav.setnchannels(frames.shape[1])
        wav.setsampwidth(width)
        wav.setframerate(rate)
        wav.writeframes(raw)


def write_riff(path: Path, tag: int, channels: int, rate: int, bits: int, data: bytes) -> None:
    """A WAV with a format tag that ``wave`` rejects (float, G.711, extensible)."""
    block = channels * bits // 8
    fmt = struct.pack("<HHIIHH", tag, channels, rate, rate * block, block, bits)
    if tag == 0xFFFE:
        guid_tail = bytes.fromhex("000000001000800000aa00389b71")
        fmt += struct.pack("<HHI", 22, bits, 0) + struct.pack("<H", 3) + guid_tail
    chunks = b"fmt " + struct.pack("<I", len(fmt)) + fmt
    chunks += b"LIST" + struct.pack("<I", 3) + b"abc\x00"  # an odd-sized chunk to skip
    chunks += b"data" + struct.pack("<I", len(data)) + data
    path.write_bytes(b"RIFF" + struct.pack("<I", 4 + len(chunks)) + b"WAVE" + chunks)


def peak_frequency(pcm: np.ndarray, rate: int = 8000) -> float:
    samples = pcm.astype(np.float64)
    spectrum = np.abs(np.fft.rfft(samples * np.hanning(len(samples))))
    return float(np.argmax(spectrum) * rate / len(samples))


def level_db(signal: np.ndarray, amplitude: float) -> float:
    """RMS of a signal relative to a full sine of ``amplitude``, in dB."""
    return float(20 * np.log10(np.sqrt(np.mean(signal**2)) / (amplitude / np.sqrt(2))))


# --------------------------------------------------------------------------- resampling


@pytest.mark.parametrize("rate", [6000, 11025, 16000, 22050, 32000, 44100, 48000, 96000])
def test_resampling_keeps_a_440_hz_tone_exactly(rate: int) -> None:
    out = resample(sine(440, rate, 1.3), rate, 8000)
    assert len(out) == round(1.3 * 8000)
    ideal = sine(440, 8000, 1.3)
    # Away from the edges (the tone starts and stops abruptly there) it is the same sine.
    assert np.max(np.abs(out - ideal)[400:-400]) < 1e-4


@pytest.mark.parametrize("rate", [16000, 44100, 48000])
def test_what_is_above_4_khz_does_not_fold_back_into_the_band(rate: int) -> None:
    for frequency in (4400.0, 6000.0, 7900.0):
        out = resample(sine(frequency, rate, 1.0), rate, 8000)
        # A plain decimation would put these tones at 3.6, 2 and 0.1 kHz at full level.
        assert level_db(out[400:-400], 0.5) < -60


@pytest.mark.parametrize("rate", [16000, 44100])
def test_the_telephone_band_passes_flat(rate: int) -> None:
    for frequency in (300.0, 1000.0, 3400.0):
        out = resample(sine(frequency, rate, 1.0), rate, 8000)
        assert abs(level_db(out[400:-400], 0.5)) < 0.1


def test_long_input_is_converted_in_blocks_without_seams() -> None:
    rate = 44100
    rng = np.random.default_rng(4)
    tone = sine(1000, rate, 7.0) + 0.01 * rng.standard_normal(7 * rate)
    out = resample(tone, rate, 8000)
    ideal = sine(1000, 8000, 7.0)
    residual = (out - ideal)[400:-400]
    # Only the (band-limited) noise remains, evenly: no block boundary stands out.
    per_block = [np.max(np.abs(chunk)) for chunk in np.array_split(residual, 70)]
    assert max(per_block) < 0.05
    assert len(out) == 7 * 8000


def test_resample_misuse_raises() -> None:
    with pytest.raises(ValueError):
        resample(np.zeros((2, 2)), 16000, 8000)
    with pytest.raises(ValueError):
        resample(np.zeros(4), 0, 8000)
    assert len(resample(np.zeros(0), 16000, 8000)) == 0


# --------------------------------------------------------------------------- reading


@pytest.mark.parametrize("width", [1, 2, 3, 4])
@pytest.mark.parametrize("channels", [1, 2])
def test_pcm_of_every_width_and_channel_count(tmp_path: Path, width: int, channels: int) -> None:
    tone = sine(440, 16000, 0.5)
    data = np.stack([tone] * channels, axis=1)
    path = tmp_path / "tone.wav"
    write_pcm(path, data, 16000, width)
    samples, rate = read_wav(path)
    assert rate == 16000 and samples.shape == (8000, channels)
    assert np.max(np.abs(samples[:, 0] - tone)) < 2.0 / (1 << (8 * width - 1)) + 1e-9
    pcm = load_wav(path)
    assert pcm.dtype == np.int16 and len(pcm) == 4000
    assert peak_frequency(pcm) == pytest.approx(440, abs=2)


def test_channels_are_averaged_into_mono(tmp_path: Path) -> None:
    left, right = sine(440, 8000, 0.5, 0.4), sine(1000, 8000, 0.5, 0.2)
    path = tmp_path / "stereo.wav"
    write_pcm(path, np.stack([left, right], axis=1), 8000, 2)
    pcm = load_wav(path).astype(np.float64) / 32768
    assert np.max(np.abs(pcm - (left + right) / 2)) < 1e-4


def test_8_khz_16_bit_mono_comes_back_sample_for_sample(tmp_path: Path) -> None:
    pcm = np.random.default_rng(1).integers(-32768, 32767, 4321).astype(np.int16)
    path = tmp_path / "noise.wav"
    write_wav(path, pcm)
    assert np.array_equal(load_wav(path), pcm)
    with wave.open(str(path), "rb") as wav:  # what the standard library makes of our file
        assert (wav.getnchannels(), wav.getsampwidth(), wav.getframerate()) == (1, 2, 8000)
        assert wav.getnframes() == 4321


@pytest.mark.parametrize("bits", [32, 64])
def test_ieee_float(tmp_path: Path, bits: int) -> None:
    tone = sine(440, 16000, 0.5)
    path = tmp_path / "float.wav"
    write_riff(path, 3, 1, 16000, bits, tone.astype(f"<f{bits // 8}").tobytes())
    samples, rate = read_wav(path)
    assert rate == 16000 and np.max(np.abs(samples[:, 0] - tone)) < 1e-6


@pytest.mark.parametrize("law", [g711.Law.ULAW, g711.Law.ALAW])
def test_g711_wav_files(tmp_path: Path, law: g711.Law) -> None:
    pcm = np.round(sine(440, 8000, 0.5) * 20000).astype(np.int16)
    path = tmp_path / "g711.wav"
    write_riff(path, 7 if law is g711.Law.ULAW else 6, 1, 8000, 8, g711.encode(pcm, law))
    assert np.array_equal(load_wav(path), g711.decode(g711.encode(pcm, law), law))


def test_wave_format_extensible(tmp_path: Path) -> None:
    tone = sine(440, 48000, 0.5)
    stereo = np.stack([tone, tone], axis=1).astype("<f4")
    path = tmp_path / "ext.wav"
    write_riff(path, 0xFFFE, 2, 48000, 32, stereo.tobytes())
    pcm = load_wav(path)
    assert len(pcm) == 4000 and peak_frequency(pcm) == pytest.approx(440, abs=2)


def test_what_is_not_a_wav_file_is_rejected_clearly(tmp_path: Path) -> None:
    text = tmp_path / "notes.wav"
    text.write_text("hello")
    with pytest.raises(WavError, match=r"notes\.wav"):
        load_wav(text)
    odd = tmp_path / "adpcm.wav"
    write_riff(odd, 0x0011, 1, 8000, 4, bytes(100))
    with pytest.raises(WavError, match="0x0011"):
        load_wav(odd)
    with pytest.raises(FileNotFoundError):
        load_wav(tmp_path / "missing.wav")


# --------------------------------------------------------------------------- cache and writer


def test_the_cache_converts_once_and_again_when_the_file_changes(tmp_path: Path) -> None:
    path = tmp_path / "prompt.wav"
    write_pcm(path, sine(440, 16000, 0.5), 16000, 2)
    cache = AudioCache()
    assert cache.cached(path) is None
    clip = cache.load(path)
    assert cache.load(path) is clip and cache.cached(path) is clip
    assert clip.seconds == pytest.approx(0.5)
    assert clip.encoded(g711.Law.ULAW) is clip.encoded(g711.Law.ULAW)
    assert len(clip.encoded(g711.Law.ALAW)) == 4000
    with pytest.raises(ValueError):
        clip.pcm[0] = 1  # shared between calls: read-only
    write_pcm(path, sine(1000, 16000, 0.25), 16000, 2)
    stat = path.stat()
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000))
    assert cache.cached(path) is None
    changed = cache.load(path)
    assert changed is not clip and changed.seconds == pytest.approx(0.25)


def test_the_cache_drops_the_least_recently_used_files(tmp_path: Path) -> None:
    paths = []
    for n in range(3):
        paths.append(tmp_path / f"{n}.wav")
        write_wav(paths[-1], np.zeros(8000, dtype=np.int16))  # 16 kB of PCM each
    cache = AudioCache(max_bytes=40_000)
    for path in paths:
        cache.load(path)
    assert cache.cached(paths[0]) is None
    assert cache.cached(paths[1]) is not None and cache.cached(paths[2]) is not None


def test_the_writer_keeps_a_valid_file_at_every_step_and_cuts_it_shorter(tmp_path: Path) -> None:
    path = tmp_path / "sub" / "rec.wav"  # folders are created
    writer = WavWriter(path)
    for n in range(3):
        writer.write(np.full(800, n, dtype=np.int16))
        with wave.open(str(path), "rb") as wav:  # readable while still being written
            assert wav.getnframes() == 800 * (n + 1)
    writer.truncate(1000)
    writer.truncate(5000)  # not longer: no-op
    writer.close()
    writer.close()
    pcm = load_wav(path)
    assert len(pcm) == 1000 and pcm[799] == 0 and pcm[800] == 1
    assert path.stat().st_size == 44 + 2000
    with pytest.raises(ValueError):
        writer.write(np.zeros(1, dtype=np.int16))
