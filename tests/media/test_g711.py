"""G.711 against the ITU-T reference algorithm, value by value, over the full range."""

from __future__ import annotations

import numpy as np
import pytest

from switchboard.media import g711
from switchboard.media.g711 import Law

ALL_CODES = bytes(range(256))
ALL_SAMPLES = np.arange(-32768, 32768, dtype=np.int16)


# The reference algorithm (ITU-T G.711 as in the classic reference C code): segment search
# over the segment end points, 4-bit mantissa, sign and bit inversions. Scalar, independent of
# the vectorized construction of the tables under test.
ULAW_SEGMENT_ENDS = (0x3F, 0x7F, 0xFF, 0x1FF, 0x3FF, 0x7FF, 0xFFF, 0x1FFF)
ALAW_SEGMENT_ENDS = (0x1F, 0x3F, 0x7F, 0xFF, 0x1FF, 0x3FF, 0x7FF, 0xFFF)


def _segment(value: int, ends: tuple[int, ...]) -> int:
    for segment, end in enumerate(ends):
        if value <= end:
            return segment
    return len(ends)


def reference_ulaw_encode(sample: int) -> int:
    value = sample >> 2
    mask = 0xFF
    if value < 0:
        value, mask = -value, 0x7F
    value = min(value, 8159) + (0x84 >> 2)
    segment = _segment(value, ULAW_SEGMENT_ENDS)
    if segment >= 8:
        return 0x7F ^ mask
    return ((segment << 4) | ((value >> (segment + 1)) & 0x0F)) ^ mask


def reference_ulaw_decode(code: int) -> int:
    code = ~code & 0xFF
    magnitude = (((code & 0x0F) << 3) + 0x84) << ((code & 0x70) >> 4)
    return 0x84 - magnitude if code & 0x80 else magnitude - 0x84


def reference_alaw_encode(sample: int) -> int:
    value = sample >> 3
    mask = 0xD5
    if value < 0:
        value, mask = -value - 1, 0x55
    segment = _segment(value, ALAW_SEGMENT_ENDS)
    if segment >= 8:
        return 0x7F ^ mask
    shift = 1 if segment < 2 else segment
    return ((segment << 4) | ((value >> shift) & 0x0F)) ^ mask


def reference_alaw_decode(code: int) -> int:
    code ^= 0x55
    value = (code & 0x0F) << 4
    segment = (code & 0x70) >> 4
    if segment == 0:
        value += 8
    else:
        value = (value + 0x108) << (segment - 1)
    return value if code & 0x80 else -value


def test_ulaw_encoder_matches_the_reference_for_every_16_bit_value() -> None:
    expected = bytes(reference_ulaw_encode(int(s)) for s in ALL_SAMPLES)
    assert g711.encode_ulaw(ALL_SAMPLES) == expected


def test_alaw_encoder_matches_the_reference_for_every_16_bit_value() -> None:
    expected = bytes(reference_alaw_encode(int(s)) for s in ALL_SAMPLES)
    assert g711.encode_alaw(ALL_SAMPLES) == expected


def test_decoders_match_the_reference_for_every_byte() -> None:
    assert g711.decode_ulaw(ALL_CODES).tolist() == [reference_ulaw_decode(c) for c in ALL_CODES]
    assert g711.decode_alaw(ALL_CODES).tolist() == [reference_alaw_decode(c) for c in ALL_CODES]


def test_published_decoder_table_values() -> None:
    ulaw = g711.decode_ulaw(ALL_CODES).tolist()
    assert ulaw[:8] == [-32124, -31100, -30076, -29052, -28028, -27004, -25980, -24956]
    assert ulaw[0x10:0x12] == [-15996, -15484]
    assert ulaw[0x78:0x80] == [-56, -48, -40, -32, -24, -16, -8, 0]
    assert ulaw[0x80] == 32124
    assert ulaw[0xFF] == 0
    alaw = g711.decode_alaw(ALL_CODES).tolist()
    assert alaw[:8] == [-5504, -5248, -6016, -5760, -4480, -4224, -4992, -4736]
    assert alaw[0x10:0x12] == [-2752, -2624]
    assert (alaw[0x55], alaw[0xD5], alaw[0x2A], alaw[0xAA]) == (-8, 8, -32256, 32256)


@pytest.mark.parametrize(
    ("sample", "ulaw", "alaw"),
    [(0, 0xFF, 0xD5), (-1, 0x7E, 0x55), (32767, 0x80, 0xAA), (-32768, 0x00, 0x2A)],
)
def test_known_encodings(sample: int, ulaw: int, alaw: int) -> None:
    assert g711.encode_ulaw([sample]) == bytes([ulaw])
    assert g711.encode_alaw([sample]) == bytes([alaw])


def test_round_trip_tables() -> None:
    # A-law: every code comes back. u-law: both zero codes (0x7F "-0" and 0xFF "+0") decode to
    # 0, which encodes as 0xFF; every other code comes back.
    assert g711.encode_alaw(g711.decode_alaw(ALL_CODES)) == ALL_CODES
    back = g711.encode_ulaw(g711.decode_ulaw(ALL_CODES))
    assert [c for c in ALL_CODES if back[c] != c] == [0x7F]
    assert back[0x7F] == 0xFF


@pytest.mark.parametrize("law", list(Law))
def test_full_range_round_trip_is_monotonic_and_within_one_step(law: Law) -> None:
    decoded = g711.decode(g711.encode(ALL_SAMPLES, law), law).astype(np.int64)
    samples = ALL_SAMPLES.astype(np.int64)
    assert np.all(np.diff(decoded) >= 0)
    inside = np.abs(samples) <= 32000  # beyond the top decision level everything clips
    error = np.abs(decoded - samples)[inside]
    assert np.all(error <= np.abs(samples[inside]) / 16 + 16)
    assert np.all(np.sign(decoded[samples > 8]) == 1) and np.all(
        np.sign(decoded[samples < -8]) == -1
    )


def test_transcoding_lands_within_one_step_of_the_source() -> None:
    as_alaw = g711.transcode(ALL_CODES, Law.ULAW, Law.ALAW)
    ulaw_values = g711.decode_ulaw(ALL_CODES).astype(np.int64)
    error = np.abs(g711.decode_alaw(as_alaw).astype(np.int64) - ulaw_values)
    assert np.all(error <= np.abs(ulaw_values) / 16 + 16)
    assert as_alaw == g711.ULAW_TO_ALAW
    assert g711.transcode(ALL_CODES, Law.ALAW, Law.ALAW) == ALL_CODES
    as_ulaw = g711.transcode(ALL_CODES, Law.ALAW, Law.ULAW)
    assert g711.decode_ulaw(as_ulaw).tolist() == g711.decode_ulaw(g711.ALAW_TO_ULAW).tolist()


def test_pcm_to_frames_splits_into_20_ms_and_pads_the_last_frame_with_silence() -> None:
    pcm = (np.sin(np.arange(400) / 5) * 8000).astype(np.int16)
    frames = g711.pcm_to_frames(pcm, Law.ULAW)
    assert [len(f) for f in frames] == [160, 160, 160]
    assert frames[2][80:] == bytes([g711.ULAW_SILENCE]) * 80
    assert g711.pcm_to_frames(np.zeros(160, np.int16), Law.ALAW) == [
        bytes([g711.ALAW_SILENCE]) * 160
    ]
    back = g711.frames_to_pcm(frames, Law.ULAW)
    assert back.dtype == np.int16 and len(back) == 480
    assert np.all(np.abs(back[:400].astype(int) - pcm) <= np.abs(pcm) / 16 + 16)
    assert np.all(back[400:] == 0)


def test_pcm_input_checks() -> None:
    assert g711.encode_ulaw([1000, -1000]) == g711.encode_ulaw(np.array([1000, -1000], np.int16))
    with pytest.raises(ValueError):
        g711.encode_ulaw([40000])
    with pytest.raises(TypeError):
        g711.encode_alaw(np.array([0.5]))
    with pytest.raises(ValueError):
        g711.pcm_to_frames([0], Law.ULAW, frame_samples=0)
