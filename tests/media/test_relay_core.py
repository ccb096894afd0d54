"""The relay's sans-IO parts: MediaLeg decisions and the port allocator, with explicit time."""

from __future__ import annotations

import errno

import pytest

from switchboard.media import g711
from switchboard.media.leg import MediaLeg
from switchboard.media.relay import RelayConfig
from switchboard.media.rtp import RtpPacket, StreamRewriter, dtmf_packets, parse_rtp_header
from switchboard.media.udp import PortAllocator, PortsExhausted

SDP_ADDR = ("192.0.2.10", 4000)
NAT_ADDR = ("198.51.100.7", 61234)
OTHER = ("203.0.113.5", 5555)
TONE = g711.encode_ulaw([0, 5000, 10000, 5000, 0, -5000, -10000, -5000] * 20)


def rtp(
    seq: int, ts: int | None = None, *, pt: int = 0, ssrc: int = 42, marker: bool = False
) -> bytes:
    ts = 160 * seq if ts is None else ts
    return RtpPacket(0, seq & 0xFFFF, ts & 0xFFFFFFFF, ssrc, TONE, marker=marker).serialize()


def leg(leg_id: str = "a", *, rewriter: StreamRewriter | None = None) -> MediaLeg:
    return MediaLeg(leg_id, ("127.0.0.1", 20000), latch_packets=3, rewriter=rewriter)


def test_latches_onto_the_source_after_three_sequential_packets() -> None:
    a = leg()
    a.set_remote(*SDP_ADDR, 0, 101)
    assert a.remote == SDP_ADDR and not a.latched
    for seq in range(2):
        assert a.receive(rtp(seq), NAT_ADDR, now=seq * 0.02) is not None
        assert a.remote == SDP_ADDR
    a.receive(rtp(2), NAT_ADDR, now=0.04)
    assert a.remote == NAT_ADDR and a.latched


def test_while_learning_a_change_of_source_restarts_the_count() -> None:
    a = leg()
    a.set_remote(*SDP_ADDR, 0, 101)
    a.receive(rtp(0), NAT_ADDR, 0.0)
    a.receive(rtp(1), NAT_ADDR, 0.02)
    a.receive(rtp(2), OTHER, 0.04)  # accepted (still learning) but restarts the count
    a.receive(rtp(3), NAT_ADDR, 0.06)
    a.receive(rtp(5), NAT_ADDR, 0.08)  # not sequential
    assert not a.latched
    for seq in (6, 7):
        a.receive(rtp(seq), NAT_ADDR, 0.1)
    assert a.latched and a.remote == NAT_ADDR


def test_once_latched_other_sources_are_dropped_until_a_new_sdp() -> None:
    a = leg()
    a.set_remote(*SDP_ADDR, 0, 101)
    for seq in range(3):
        a.receive(rtp(seq), NAT_ADDR, seq * 0.02)
    assert a.receive(rtp(3), OTHER, 0.06) is None
    assert a.stats.foreign == 1
    assert a.stats.packets_in == 3
    a.set_remote(*OTHER, 0, 101)  # a re-INVITE moves the media
    assert not a.latched and a.remote == OTHER
    assert a.receive(rtp(4), OTHER, 0.08) is not None


def test_rtcp_and_garbage_are_counted_and_dropped() -> None:
    a = leg()
    assert a.receive(bytes.fromhex("80c80006") + bytes(24), SDP_ADDR, 0.0) is None
    assert a.receive(b"\x00garbage", SDP_ADDR, 0.0) is None
    assert a.receive(b"", SDP_ADDR, 0.0) is None
    dtmf_short = RtpPacket(101, 1, 0, 42, b"\x05").serialize()
    a.set_remote(*SDP_ADDR, 0, 101)
    assert a.receive(dtmf_short, SDP_ADDR, 0.0) is None
    assert (a.stats.rtcp, a.stats.malformed, a.stats.packets_in) == (1, 3, 0)
    assert not a.latched


def test_prepare_passes_the_packet_through_when_nothing_needs_changing() -> None:
    a, b = leg("a"), leg("b")
    a.set_remote(*SDP_ADDR, 0, 101)
    b.set_remote(*OTHER, 0, 101)
    data = rtp(7, marker=True)
    header = a.receive(data, SDP_ADDR, 0.0)
    assert header is not None
    assert b.prepare(data, header, a, 0.0) is data
    assert (b.stats.packets_out, b.stats.bytes_out) == (1, len(data))


def test_prepare_drops_when_the_leg_has_no_address_yet() -> None:
    a, b = leg("a"), leg("b")
    data = rtp(1)
    header = a.receive(data, SDP_ADDR, 0.0)
    assert header is not None
    assert b.prepare(data, header, a, 0.0) is None
    assert b.stats.no_remote == 1


def test_prepare_transcodes_pcmu_to_pcma_and_maps_event_payload_types() -> None:
    a, b = leg("a"), leg("b")
    a.set_remote(*SDP_ADDR, 0, 101)
    b.set_remote(*OTHER, 8, 96)
    data = rtp(1)
    out = b.prepare(data, parse_rtp_header(data), a, 0.0)
    assert out is not None
    packet = RtpPacket.parse(bytes(out))
    assert packet.payload_type == 8 and packet.sequence == 1 and packet.ssrc == 42
    assert packet.payload == TONE.translate(g711.ULAW_TO_ALAW)
    event = dtmf_packets("1", payload_type=101, ssrc=42, sequence=2, timestamp=320)[0]
    out = b.prepare(event.serialize(), parse_rtp_header(event.serialize()), a, 0.0)
    assert out is not None
    assert RtpPacket.parse(bytes(out)).payload_type == 96
    b.set_remote(*OTHER, 8, None)  # no telephone-event on b: keys are not forwarded
    assert b.prepare(event.serialize(), parse_rtp_header(event.serialize()), a, 0.0) is None


def test_g711_of_the_other_law_is_sent_in_the_codec_the_far_phone_negotiated() -> None:
    """a negotiated PCMA and sends PCMU mid-call; b negotiated PCMA too. b's phone offered
    PCMA only, so PCMU passed on as it came was noise (or nothing) to it."""
    a, b = leg("a"), leg("b")
    a.set_remote(*SDP_ADDR, 8, 101)
    b.set_remote(*OTHER, 8, 101)
    data = rtp(1)  # PCMU
    out = b.prepare(data, parse_rtp_header(data), a, 0.0)
    assert out is not None
    packet = RtpPacket.parse(bytes(out))
    assert packet.payload_type == 8 and packet.payload == TONE.translate(g711.ULAW_TO_ALAW)


def test_prepare_rewrites_into_one_continuous_stream() -> None:
    a = leg("a")
    b = leg("b", rewriter=StreamRewriter(ssrc=999, first_sequence=500, first_timestamp=7000))
    a.set_remote(*SDP_ADDR, 0, 101)
    b.set_remote(*OTHER, 0, 101)
    sent = []
    for n, ssrc in enumerate([42, 42, 43, 43]):  # a's phone changes SSRC mid-call
        data = rtp(100 * ssrc + n, ssrc=ssrc)
        out = b.prepare(data, parse_rtp_header(data), a, now=0.02 * n)
        assert out is not None
        sent.append(RtpPacket.parse(bytes(out)))
    assert [p.ssrc for p in sent] == [999] * 4
    assert [p.sequence for p in sent] == [500, 501, 502, 503]
    assert [p.timestamp for p in sent] == [7000, 7160, 7320, 7480]
    assert [p.marker for p in sent] == [True, False, True, False]
    assert {p.payload for p in sent} == {TONE}


def test_late_packets_and_jitter() -> None:
    a = leg()
    a.set_remote(*SDP_ADDR, 0, 101)
    arrivals = [0.0, 0.02, 0.04, 0.10, 0.12, 0.14]  # packet 3 arrives 40 ms late
    for seq, now in enumerate(arrivals):
        a.receive(rtp(seq), SDP_ADDR, now)
    assert a.stats.late == 1
    assert a.stats.jitter > 0
    # After silence suppression the next talkspurt has the marker bit: no reference, not late.
    a.receive(rtp(6, ts=160 * 6 + 80_000, marker=True), SDP_ADDR, 0.16 + 10.0)
    # A timestamp jump matching the arrival gap is not late either.
    a.receive(rtp(7, ts=160 * 7 + 80_000 + 800), SDP_ADDR, 10.16 + 0.12)
    assert a.stats.late == 1


def test_dtmf_is_detected_once_on_receive() -> None:
    a = leg()
    a.set_remote(*SDP_ADDR, 0, 101)
    for packet in dtmf_packets("8", payload_type=101, ssrc=42, sequence=1, timestamp=160):
        a.receive(packet.serialize(), SDP_ADDR, 0.0)
    assert [d.digit for d in a.detected] == ["8"]
    assert a.stats.dtmf == 1
    assert a.stats.late == 0  # event packets share one timestamp: not timed


def test_port_allocator_hands_out_even_ports_round_robin() -> None:
    ports = PortAllocator(20001, 20008)  # even ports with port + 1 in range: 20002, 20004, 20006
    assert ports.capacity == 3
    got = [ports.allocate(lambda p: p)[0] for _ in range(3)]
    assert got == [20002, 20004, 20006]
    with pytest.raises(PortsExhausted):
        ports.allocate(lambda p: p)
    ports.release(20004)
    assert ports.allocate(lambda p: p)[0] == 20004
    assert ports.in_use == {20002, 20004, 20006}


def test_port_allocator_skips_ports_it_cannot_bind_and_reuses_freed_ports_last() -> None:
    ports = PortAllocator(30000, 30009)
    taken_elsewhere = {30002}

    def bind(port: int) -> str:
        if port in taken_elsewhere:
            raise OSError(98, "Address already in use")
        return f"socket:{port}"

    assert ports.allocate(bind) == (30000, "socket:30000")
    assert ports.allocate(bind) == (30004, "socket:30004")
    ports.release(30000)
    assert [ports.allocate(bind)[0] for _ in range(3)] == [30006, 30008, 30000]
    with pytest.raises(PortsExhausted):
        ports.allocate(bind)


def test_port_allocator_raises_at_once_what_no_other_port_would_fix() -> None:
    ports = PortAllocator(30000, 30009)
    tried: list[int] = []

    def out_of_descriptors(port: int) -> str:
        tried.append(port)
        raise OSError(errno.EMFILE, "Too many open files")

    with pytest.raises(OSError) as raised:
        ports.allocate(out_of_descriptors)
    assert raised.value.errno == errno.EMFILE and not isinstance(raised.value, PortsExhausted)
    assert tried == [30000]  # not a walk of the whole range, one failed socket per port
    assert ports.in_use == frozenset()
    assert ports.allocate(lambda p: p)[0] == 30000  # nothing was held by the failure


@pytest.mark.parametrize(
    "options",
    [
        {"port_range": (20000, 20000)},
        {"port_range": (80, 2000)},
        {"port_range": (20000, 70000)},
        {"port_range": (20001, 20002)},
        {"latch_packets": 0},
        {"bind_ip": "0.0.0.0"},
        {"bind_ip": "not-an-ip"},
    ],
)
def test_relay_config_rejects_nonsense(options: dict[str, object]) -> None:
    with pytest.raises(ValueError):
        RelayConfig(**options)  # type: ignore[arg-type]


def test_set_remote_checks_its_arguments_and_understands_hold() -> None:
    a = leg()
    for bad in (
        ("pbx.example.com", 4000, 0, 101),
        ("192.0.2.1", 0, 0, 101),
        ("192.0.2.1", 4000, 128, 101),
        ("192.0.2.1", 4000, 0, -1),
    ):
        with pytest.raises(ValueError):
            a.set_remote(*bad)
    a.set_remote("0.0.0.0", 4000, 0, 101)  # c=0.0.0.0: on hold, send nothing
    assert a.remote is None
    for seq in range(3):  # ...until the endpoint sends: symmetric RTP latches as usual
        a.receive(rtp(seq), NAT_ADDR, seq * 0.02)
    assert a.remote == NAT_ADDR


def test_prepare_renumbers_dynamic_payload_types_and_drops_impossible_codec_pairs() -> None:
    a, b = leg("a"), leg("b")
    a.set_remote(*SDP_ADDR, 96, 101)  # the same codec, numbered 96 here and 97 there
    b.set_remote(*OTHER, 97, 101)
    data = RtpPacket(96, 1, 160, 42, b"opus?").serialize()
    out = b.prepare(data, parse_rtp_header(data), a, 0.0)
    assert out is not None and RtpPacket.parse(bytes(out)).payload_type == 97
    b.set_remote(*OTHER, 9, 101)  # G.722 there, PCMU here: nothing sensible to send
    a.set_remote(*SDP_ADDR, 0, 101)
    data = rtp(2)
    assert b.prepare(data, parse_rtp_header(data), a, 0.0) is None
    assert b.stats.codec_mismatch == 1
