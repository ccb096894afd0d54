"""RTP packets (RFC 3550), RTCP demultiplexing and telephone-event payloads (RFC 4733)."""

from __future__ import annotations

import struct

import pytest
from hypothesis import given
from hypothesis import strategies as st

from switchboard.media.rtp import (
    RtpError,
    RtpExtension,
    RtpPacket,
    TelephoneEvent,
    digit_to_event,
    dtmf_packets,
    event_to_digit,
    is_rtcp,
    parse_rtp_header,
    rewrite_header,
)

# A PCMU packet: V=2, M=1, PT=0, seq 0x1234, ts 0xDEADBEEF, SSRC 0x01020304, 3 payload bytes.
SIMPLE = bytes.fromhex("8080 1234 deadbeef 01020304 ffff7f")


def test_parse_fixed_header_fields() -> None:
    packet = RtpPacket.parse(SIMPLE)
    assert packet == RtpPacket(
        payload_type=0,
        sequence=0x1234,
        timestamp=0xDEADBEEF,
        ssrc=0x01020304,
        payload=b"\xff\xff\x7f",
        marker=True,
    )
    assert packet.serialize() == SIMPLE


def test_csrcs_extension_and_padding_are_parsed_and_rebuilt_byte_for_byte() -> None:
    data = (
        bytes([0xB2, 0x08])  # V=2 P=1 X=1 CC=2, M=0 PT=8
        + struct.pack("!HII", 7, 160, 99)
        + struct.pack("!II", 11, 22)  # CSRCs
        + struct.pack("!HH", 0xBEDE, 1)
        + b"\x10\xaa\x00\x00"  # one-word extension
        + b"\xd5" * 4  # payload
        + b"\x00\x00\x03"  # three octets of padding
    )
    packet = RtpPacket.parse(data)
    assert packet.csrcs == (11, 22)
    assert packet.extension == RtpExtension(0xBEDE, b"\x10\xaa\x00\x00")
    assert packet.payload == b"\xd5" * 4
    assert packet.padding == 3
    assert packet.serialize() == data
    header = parse_rtp_header(data)
    assert data[header.payload_start : header.payload_end] == b"\xd5" * 4


packets = st.builds(
    RtpPacket,
    payload_type=st.integers(0, 127).filter(lambda pt: not 72 <= pt <= 76),
    sequence=st.integers(0, 0xFFFF),
    timestamp=st.integers(0, 0xFFFFFFFF),
    ssrc=st.integers(0, 0xFFFFFFFF),
    payload=st.binary(max_size=200),
    marker=st.booleans(),
    csrcs=st.lists(st.integers(0, 0xFFFFFFFF), max_size=15).map(tuple),
    extension=st.none()
    | st.builds(
        RtpExtension,
        st.integers(0, 0xFFFF),
        st.binary(max_size=40).map(lambda b: b[: len(b) // 4 * 4]),
    ),
    padding=st.integers(0, 255),
)


@given(packets)
def test_any_packet_round_trips(packet: RtpPacket) -> None:
    data = packet.serialize()
    assert RtpPacket.parse(data) == packet
    assert RtpPacket.parse(data).serialize() == data


@pytest.mark.parametrize(
    ("data", "complaint"),
    [
        (b"", "too short"),
        (SIMPLE[:11], "too short"),
        (bytes([0x40]) + SIMPLE[1:], "version 1"),
        (bytes([0x00]) + SIMPLE[1:], "version 0"),
        (bytes([0xC0]) + SIMPLE[1:], "version 3"),
        (bytes([0x8F]) + SIMPLE[1:], "CSRCs"),  # 15 CSRCs claimed, none present
        (bytes([0x90]) + SIMPLE[1:], "extension"),  # X set, 3 bytes left
        (bytes([0x90]) + SIMPLE[1:12] + struct.pack("!HH", 1, 9), "extension"),  # 9 words
        (bytes([0xA0]) + SIMPLE[1:-1] + b"\x00", "padding count 0"),
        (bytes([0xA0]) + SIMPLE[1:-1] + b"\x04", "padding count 4"),  # only 3 payload bytes
        (bytes([0x80, 0xC8]) + SIMPLE[2:], "collides with RTCP"),  # PT 72 (200)
        (bytes([0x80, 0x4C]) + SIMPLE[2:], "collides with RTCP"),  # PT 76
    ],
)
def test_malformed_packets_are_rejected_with_a_reason(data: bytes, complaint: str) -> None:
    with pytest.raises(RtpError, match=complaint):
        parse_rtp_header(data)
    with pytest.raises(RtpError):
        RtpPacket.parse(data)


@given(st.binary(max_size=300))
def test_garbage_never_crashes_the_parser(data: bytes) -> None:
    try:
        header = parse_rtp_header(data)
    except RtpError:
        return
    assert 12 <= header.payload_start <= header.payload_end <= len(data)
    rebuilt = RtpPacket.parse(data).serialize()  # padding octets come back as zeros
    assert len(rebuilt) == len(data)
    assert rebuilt[: header.payload_end] == data[: header.payload_end]


def test_rtcp_is_told_apart_from_rtp() -> None:
    sender_report = bytes.fromhex("80c8 0006 01020304") + bytes(20)
    receiver_report = bytes.fromhex("81c9 0007 01020304") + bytes(24)
    bye = bytes.fromhex("81cb 0001 01020304")
    for rtcp in (sender_report, receiver_report, bye):
        assert is_rtcp(rtcp)
        with pytest.raises(RtpError):
            parse_rtp_header(rtcp)
    assert not is_rtcp(SIMPLE)
    assert not is_rtcp(bytes([0x80, 0xE0]) + SIMPLE[2:])  # PT 96 with marker: RTP
    assert not is_rtcp(b"\x80\xc8")  # too short for RTCP
    assert not is_rtcp(b"")


def test_rewrite_header_changes_only_what_it_is_asked_to() -> None:
    out = rewrite_header(SIMPLE, sequence=1, timestamp=2, ssrc=3)
    assert RtpPacket.parse(bytes(out)) == RtpPacket(0, 1, 2, 3, b"\xff\xff\x7f", marker=True)
    out = rewrite_header(SIMPLE, sequence=1, timestamp=2, ssrc=3, payload_type=8, marker=False)
    assert RtpPacket.parse(bytes(out)) == RtpPacket(8, 1, 2, 3, b"\xff\xff\x7f", marker=False)
    assert (
        bytes(rewrite_header(SIMPLE, sequence=0x1234, timestamp=0xDEADBEEF, ssrc=0x01020304))
        == SIMPLE
    )


@pytest.mark.parametrize(
    "fields",
    [
        {"payload_type": 128},
        {"payload_type": -1},
        {"sequence": 0x10000},
        {"timestamp": 1 << 32},
        {"ssrc": -1},
        {"csrcs": tuple(range(16))},
        {"padding": 256},
    ],
)
def test_building_an_impossible_packet_is_a_programming_error(fields: dict[str, int]) -> None:
    base: dict[str, object] = {"payload_type": 0, "sequence": 0, "timestamp": 0, "ssrc": 0}
    with pytest.raises(ValueError):
        RtpPacket(**(base | fields))  # type: ignore[arg-type]


def test_telephone_event_payload_round_trip() -> None:
    # RFC 4733 figure 1 layout: event 5, E=1, R=0, volume 10, duration 800.
    payload = bytes.fromhex("05 8a 0320")
    event = TelephoneEvent.parse(payload)
    assert event == TelephoneEvent(event=5, end=True, volume=10, duration=800)
    assert event.serialize() == payload
    assert TelephoneEvent.parse(bytes.fromhex("0b 4a 00a0")) == TelephoneEvent(11, False, 10, 160)
    with pytest.raises(RtpError, match="needs 4"):
        TelephoneEvent.parse(b"\x05\x8a\x03")
    with pytest.raises(ValueError):
        TelephoneEvent(event=5, volume=64)


def test_digit_codes() -> None:
    assert [event_to_digit(e) for e in range(17)] == [*"0123456789*#ABCD", None]
    assert digit_to_event("#") == 11
    assert digit_to_event("d") == 15
    for bad in ("", "12", "E", "!"):
        with pytest.raises(ValueError):
            digit_to_event(bad)


def test_dtmf_packets_follow_rfc_4733() -> None:
    sent = dtmf_packets("7", payload_type=101, ssrc=5, sequence=65534, timestamp=1000)
    events = [TelephoneEvent.parse(p.payload) for p in sent]
    assert [p.marker for p in sent] == [True] + [False] * 6
    assert [p.sequence for p in sent] == [65534, 65535, 0, 1, 2, 3, 4]
    assert {p.timestamp for p in sent} == {1000}
    assert [e.duration for e in events] == [160, 320, 480, 640, 800, 800, 800]
    assert [e.end for e in events] == [False] * 4 + [True] * 3
    assert {e.event for e in events} == {7}
