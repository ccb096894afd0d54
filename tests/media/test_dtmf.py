"""RFC 4733 DTMF detection: one report per key press, whatever the network does to packets."""

from __future__ import annotations

import random

import pytest

from switchboard.media.rtp import (
    DtmfDetected,
    DtmfDetector,
    RtpError,
    RtpPacket,
    TelephoneEvent,
    dtmf_packets,
)

PT = 101
SSRC = 0x1234


def key(digit: str, sequence: int, timestamp: int, **options: int) -> list[RtpPacket]:
    return dtmf_packets(
        digit, payload_type=PT, ssrc=SSRC, sequence=sequence, timestamp=timestamp, **options
    )


def audio(sequence: int, timestamp: int) -> RtpPacket:
    return RtpPacket(0, sequence, timestamp, SSRC, b"\xff" * 160)


def feed_all(detector: DtmfDetector, packets: list[RtpPacket]) -> list[DtmfDetected]:
    found: list[DtmfDetected] = []
    for packet in packets:
        found += detector.feed(packet)
    return found


def test_one_press_with_retransmitted_end_packets_is_one_digit() -> None:
    detector = DtmfDetector(PT)
    found = feed_all(detector, key("5", 10, 8000))
    assert found == [
        DtmfDetected(digit="5", duration=800, volume=10, ssrc=SSRC, timestamp=8000, ended=True)
    ]
    assert not detector.pending
    assert detector.flush() == []


def test_the_whole_press_duplicated_still_reports_once() -> None:
    detector = DtmfDetector(PT)
    packets = key("9", 10, 8000)
    doubled = [p for packet in packets for p in (packet, packet)]
    assert [d.digit for d in feed_all(detector, doubled + packets)] == ["9"]


def test_end_packets_arriving_after_the_next_audio_are_ignored() -> None:
    detector = DtmfDetector(PT)
    packets = key("1", 10, 8000)
    found = feed_all(detector, packets[:5])  # first end packet included
    found += detector.feed(audio(17, 8960))
    found += feed_all(detector, packets[5:])  # the two retransmissions, late
    assert [d.digit for d in found] == ["1"]


def test_the_same_key_pressed_twice_is_two_digits() -> None:
    detector = DtmfDetector(PT)
    packets = [*key("3", 1, 1000), audio(8, 1960), audio(9, 2120), *key("3", 10, 2280)]
    assert [d.digit for d in feed_all(detector, packets)] == ["3", "3"]


def test_a_sequence_of_keys_in_order() -> None:
    detector = DtmfDetector(PT)
    packets: list[RtpPacket] = []
    sequence, timestamp = 0, 0
    for digit in "0123456789*#ABCD":
        packets += key(digit, sequence, timestamp)
        sequence += 20
        timestamp += 2400
    assert "".join(d.digit for d in feed_all(detector, packets)) == "0123456789*#ABCD"


def test_lost_end_packets_the_key_is_reported_when_audio_resumes() -> None:
    detector = DtmfDetector(PT)
    packets = key("4", 10, 8000)[:4]  # every end packet lost
    assert feed_all(detector, packets) == []
    assert detector.pending
    assert detector.feed(audio(9, 7840)) == []  # audio from before the key (reordered)
    found = detector.feed(audio(17, 8960))
    assert [(d.digit, d.ended, d.duration) for d in found] == [("4", False, 640)]
    assert detector.feed(audio(18, 9120)) == []


def test_lost_end_packets_the_key_is_reported_when_the_next_key_starts() -> None:
    detector = DtmfDetector(PT)
    found = feed_all(detector, key("4", 10, 8000)[:4] + key("6", 20, 9600))
    assert [(d.digit, d.ended) for d in found] == [("4", False), ("6", True)]


def test_lost_end_packets_the_key_is_reported_at_flush() -> None:
    detector = DtmfDetector(PT)
    assert feed_all(detector, key("#", 10, 8000)[:2]) == []
    assert [(d.digit, d.ended) for d in detector.flush()] == [("#", False)]
    assert detector.flush() == []


def test_reordered_and_lossy_network_still_one_report_per_press() -> None:
    rng = random.Random(4733)
    digits = "1234567890"
    packets: list[RtpPacket] = []
    for index, digit in enumerate(digits):
        packets += key(digit, index * 20, index * 2400)
        packets += [audio(index * 20 + 8 + n, index * 2400 + 960 + 160 * n) for n in range(5)]
    # 10 % loss (the first packet of each key kept, so every key has a start) and local swaps.
    kept = [p for p in packets if p.marker or rng.random() > 0.1]
    for i in range(0, len(kept) - 1, 7):
        kept[i], kept[i + 1] = kept[i + 1], kept[i]
    found = feed_all(DtmfDetector(PT), kept)
    assert "".join(d.digit for d in found) == digits


def test_a_long_event_in_segments_is_one_key() -> None:
    # RFC 4733 2.5.1.3: past 65535 samples the sender starts a new segment, same event.
    detector = DtmfDetector(PT)
    first = [
        RtpPacket(PT, n, 0, SSRC, TelephoneEvent(0, False, 10, d).serialize(), marker=n == 0)
        for n, d in enumerate([160, 32000, 65535])
    ]
    second = [
        RtpPacket(PT, 3 + n, 65535, SSRC, TelephoneEvent(0, n > 0, 10, d).serialize())
        for n, d in enumerate([160, 1000, 1000, 1000])
    ]
    found = feed_all(detector, first + second)
    assert [(d.digit, d.duration, d.timestamp) for d in found] == [("0", 66535, 0)]


def test_events_that_are_not_keys_are_not_reported() -> None:
    detector = DtmfDetector(PT)
    flash = [RtpPacket(PT, 1, 0, SSRC, TelephoneEvent(16, True, 10, 800).serialize())]
    fax = [RtpPacket(PT, 2, 800, SSRC, TelephoneEvent(32, True, 10, 800).serialize())]
    assert feed_all(detector, flash + fax) == []


def test_audio_alone_reports_nothing() -> None:
    detector = DtmfDetector(PT)
    assert feed_all(detector, [audio(n, 160 * n) for n in range(100)]) == []


def test_a_malformed_event_payload_is_an_rtp_error() -> None:
    with pytest.raises(RtpError):
        DtmfDetector(PT).feed(RtpPacket(PT, 1, 0, SSRC, b"\x05"))


def test_a_late_end_packet_is_ignored_while_its_key_is_among_the_last_32() -> None:
    detector = DtmfDetector(PT)
    first = key("7", 0, 0)
    found = feed_all(detector, first[:-1])
    for index in range(1, 32):
        found += feed_all(detector, key("1", index * 20, index * 2400))
    found += detector.feed(first[-1])  # the first key's last end packet, 31 keys late
    assert [d.digit for d in found] == ["7"] + ["1"] * 31
    assert detector.flush() == []


def test_keys_across_the_timestamp_wrap() -> None:
    detector = DtmfDetector(PT)
    start = 2**32 - 2 * 2400
    presses = [key(digit, n * 20, start + n * 2400) for n, digit in enumerate("123456")]
    found = feed_all(detector, [p for press in presses for p in press[:-1]])
    late = [presses[0][-1], presses[1][-1], presses[2][-1]]  # before, before and at the wrap
    found += feed_all(detector, late)
    assert [d.digit for d in found] == list("123456")
    assert [d.timestamp for d in found] == [2**32 - 4800, 2**32 - 2400, 0, 2400, 4800, 7200]


def test_lost_end_packets_before_the_wrap_audio_after_it_reports_the_key() -> None:
    detector = DtmfDetector(PT)
    assert feed_all(detector, key("9", 10, 2**32 - 960)[:4]) == []
    assert detector.feed(audio(15, 2**32 - 1120)) == []  # audio from before the key
    found = detector.feed(audio(17, 160))
    assert [(d.digit, d.ended, d.timestamp) for d in found] == [("9", False, 2**32 - 960)]


def test_a_new_ssrc_starts_fresh() -> None:
    # The phone restarted its stream: a new SSRC whose timestamps start anywhere, here at
    # the very timestamp of the old stream's last key.
    detector = DtmfDetector(PT)
    old = key("5", 100, 50_000)
    restarted = dtmf_packets("5", payload_type=PT, ssrc=0x9999, sequence=7, timestamp=50_000)
    earlier = dtmf_packets("6", payload_type=PT, ssrc=0x9999, sequence=20, timestamp=52_400)
    found = feed_all(detector, old + restarted + earlier + old[-1:])  # old: its end, late
    assert [(d.digit, d.ssrc) for d in found] == [("5", SSRC), ("5", 0x9999), ("6", 0x9999)]


def test_timestamps_jumping_back_on_the_same_ssrc_do_not_silence_keys() -> None:
    # A source that restarts its timestamps and keeps its SSRC (against RFC 3550 8.2): its
    # keys are heard at once, not hours later when its timestamps pass the old ones.
    detector = DtmfDetector(PT)
    found = feed_all(detector, key("1", 0, 200_000_000) + key("2", 20, 1_000))
    assert [d.digit for d in found] == ["1", "2"]


def test_sources_must_be_positive() -> None:
    with pytest.raises(ValueError):
        DtmfDetector(PT, sources=0)


def test_a_key_whose_timestamps_and_numbers_start_below_the_previous_keys_is_heard() -> None:
    """SIPp's play_dtmf starts each key anew on the same SSRC: here the 2 at timestamp 23200,
    sequence 8042, after the 3 at 31040, 8087-8094 (captured from tests/e2e/test_listening.py,
    whose IVR never heard the 2 when an earlier timestamp counted as a late packet)."""
    detector = DtmfDetector(PT)
    first = key("3", 8087, 31_040)
    second = key("2", 8042, 23_200)
    found = feed_all(detector, first + second)
    assert [d.digit for d in found] == ["3", "2"]
    assert feed_all(detector, [first[-1], second[0], second[-1]]) == [], "late copies"


def test_feed_fields_without_a_packet_object_does_the_same() -> None:
    detector = DtmfDetector(PT)
    first = key("4", 0, 10_000)
    found: list[DtmfDetected] = []
    for packet in first:
        found += detector.feed_fields(PT, SSRC, packet.timestamp, packet.payload)
    later = key("5", 20, 12_400)
    for packet in later + first[-1:]:
        found += detector.feed_fields(PT, SSRC, packet.timestamp, packet.payload)
    assert [d.digit for d in found] == ["4", "5"]
