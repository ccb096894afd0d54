"""The relay for real: UDP sockets on 127.0.0.1, fake phones, audio both ways.

Every scenario runs under ``run`` (a hard time limit) and only on the loopback interface.
"""

from __future__ import annotations

import asyncio
import itertools
import random
import socket
from pathlib import Path

import pytest

from switchboard.media.leg import LegStats
from switchboard.media.relay import RelayConfig, RtpRelay
from switchboard.media.rtp import DtmfDetected, RtpPacket, dtmf_packets
from switchboard.media.udp import PortsExhausted

from .udp import LOCALHOST, Phone, dominant_frequency, run, talk, tone_frames

pytestmark = pytest.mark.timeout(30)

PORTS = (31000, 31199)


def make_relay(dtmf: list[tuple[str, DtmfDetected]] | None = None, **options: object) -> RtpRelay:
    config = RelayConfig(bind_ip=LOCALHOST, port_range=PORTS, **options)  # type: ignore[arg-type]
    sink = dtmf if dtmf is not None else []
    return RtpRelay(config, random.Random(7), lambda leg, key: sink.append((leg, key)))


def consecutive(values: list[int], modulo: int, step: int = 1) -> bool:
    return all((b - a) % modulo == step for a, b in itertools.pairwise(values))


@pytest.mark.parametrize("rewrite", [True, False])
def test_a_bridged_call_carries_a_1khz_tone_both_ways_for_a_second(rewrite: bool) -> None:
    async def scenario() -> None:
        relay = make_relay(rewrite=rewrite)
        leg_a, leg_b = await relay.open_leg("a"), await relay.open_leg("b")
        phone_a, phone_b = await Phone.open(), await Phone.open()
        relay.set_remote("a", *phone_a.addr, 0)
        relay.set_remote("b", *phone_b.addr, 0)
        relay.bridge("a", "b")
        frames_a = tone_frames(1000, 1.0)
        frames_b = tone_frames(1000, 1.0, amplitude=5000, phase=1.0)
        assert len(frames_a) == 50 and frames_a != frames_b
        # Both phones talk at once, 20 ms pacing, sequence numbers wrapping on one side.
        async with asyncio.TaskGroup() as group:
            group.create_task(talk(phone_a, leg_a, frames_a, ssrc=0xA, sequence=65530))
            group.create_task(talk(phone_b, leg_b, frames_b, ssrc=0xB, timestamp=2**32 - 800))
        heard_by_b = await phone_b.wait_for(50)
        heard_by_a = await phone_a.wait_for(50)
        for heard, frames, ssrc, first_seq in (
            (heard_by_b, frames_a, 0xA, 65530),
            (heard_by_a, frames_b, 0xB, 0),
        ):
            assert len(heard) == 50
            assert [p.payload for p in heard] == frames  # intact, in order, none lost
            assert consecutive([p.sequence for p in heard], 1 << 16)
            assert consecutive([p.timestamp for p in heard], 1 << 32, 160)
            assert len({p.ssrc for p in heard}) == 1
            assert {p.payload_type for p in heard} == {0}
            if not rewrite:
                assert heard[0].ssrc == ssrc and heard[0].sequence == first_seq
            assert dominant_frequency([p.payload for p in heard]) == pytest.approx(1000, abs=2)
        await asyncio.sleep(0.05)  # nothing more arrives: no duplicates
        assert len(phone_a.received) == len(phone_b.received) == 50
        for leg in ("a", "b"):
            stats = relay.stats(leg)
            assert (stats.packets_in, stats.packets_out) == (50, 50)
            assert stats.bytes_in == stats.bytes_out == 50 * (12 + 160)
            assert stats.malformed == stats.foreign == stats.unbridged == 0
        phone_a.close()
        phone_b.close()
        await relay.close()

    run(scenario())


def test_symmetric_rtp_latches_onto_the_port_the_phone_really_sends_from() -> None:
    async def scenario() -> None:
        relay = make_relay()
        leg_a, leg_b = await relay.open_leg("a"), await relay.open_leg("b")
        sdp_says = await Phone.open()  # what a's SDP advertised (e.g. before NAT)
        phone_a = await Phone.open()  # where a's packets really come from
        phone_b = await Phone.open()
        relay.set_remote("a", *sdp_says.addr, 0)
        relay.set_remote("b", *phone_b.addr, 0)
        relay.bridge("a", "b")
        frames = tone_frames(1000, 0.2)
        # Before a has sent anything, b's audio goes where the SDP said.
        await talk(phone_b, leg_b, frames[:2], ssrc=0xB, pace=0)
        await sdp_says.wait_for(2)
        # a talks from its real port; three packets in sequence latch the leg onto it.
        await talk(phone_a, leg_a, frames[:3], ssrc=0xA, pace=0)
        await phone_b.wait_for(3)
        assert relay.leg("a").latched and relay.leg("a").remote == phone_a.addr
        await talk(phone_b, leg_b, frames[2:], ssrc=0xB, sequence=2, timestamp=320, pace=0)
        heard = await phone_a.wait_for(8)
        assert [p.payload for p in heard] == frames[2:]
        assert len(sdp_says.received) == 2
        # Someone else sending to a's port now is dropped, not relayed to b.
        stranger = await Phone.open()
        await talk(stranger, leg_a, frames, ssrc=0x5, pace=0)
        await talk(phone_a, leg_a, frames[3:4], ssrc=0xA, sequence=3, timestamp=480, pace=0)
        heard_by_b = await phone_b.wait_for(4)
        assert [p.payload for p in heard_by_b] == frames[:4]
        assert relay.stats("a").foreign == len(frames)
        for phone in (sdp_says, phone_a, phone_b, stranger):
            phone.close()
        await relay.close()

    run(scenario())


def test_dtmf_from_one_side_is_reported_once_and_relayed() -> None:
    async def scenario() -> None:
        dtmf: list[tuple[str, DtmfDetected]] = []
        relay = make_relay(dtmf)
        leg_a, _ = await relay.open_leg("a"), await relay.open_leg("b")
        phone_a, phone_b = await Phone.open(), await Phone.open()
        relay.set_remote("a", *phone_a.addr, 0, 101)
        relay.set_remote("b", *phone_b.addr, 0, 96)  # b negotiated another number
        relay.bridge("a", "b")
        audio = tone_frames(1000, 0.1)
        sent = await talk(phone_a, leg_a, audio, ssrc=0xA, pace=0.005)
        keys = dtmf_packets("5", payload_type=101, ssrc=0xA, sequence=5, timestamp=800)
        keys += keys[-3:]  # the end packet, three more times (a sender that retransmits)
        for packet in keys:
            phone_a.send(packet.serialize(), leg_a)
            await asyncio.sleep(0.005)
        after = await talk(phone_a, leg_a, audio, ssrc=0xA, sequence=12, timestamp=1920)
        total = len(sent) + len(keys) + len(after)
        heard = await phone_b.wait_for(total)
        await asyncio.sleep(0.05)
        assert [(leg, key.digit, key.duration, key.ended) for leg, key in dtmf] == [
            ("a", "5", 800, True)
        ]
        assert relay.stats("a").dtmf == 1
        assert [p.payload_type for p in heard].count(96) == len(keys)
        assert 101 not in {p.payload_type for p in heard}
        await relay.close()  # closing flushes no second report
        assert len(dtmf) == 1
        phone_a.close()
        phone_b.close()

    run(scenario())


def test_garbage_and_rtcp_are_dropped_and_the_call_goes_on() -> None:
    async def scenario() -> None:
        relay = make_relay()
        leg_a, _ = await relay.open_leg("a"), await relay.open_leg("b")
        phone_a, phone_b = await Phone.open(), await Phone.open()
        relay.set_remote("a", *phone_a.addr, 0)
        relay.set_remote("b", *phone_b.addr, 0)
        relay.bridge("a", "b")
        rng = random.Random(3550)
        junk = [b"\x00", b"\x80", b"\xff" * 11, bytes.fromhex("80c80006") + bytes(24)]
        junk += [bytes([0x40]) + rng.randbytes(rng.randrange(1, 200)) for _ in range(50)]
        for data in junk:
            phone_a.send(data, leg_a)
        rtcp_port = (leg_a[0], leg_a[1] + 1)
        phone_a.send(bytes.fromhex("81c90007") + bytes(24), rtcp_port)
        frames = tone_frames(1000, 0.1)
        await talk(phone_a, leg_a, frames, ssrc=0xA, pace=0)
        heard = await phone_b.wait_for(len(frames))
        assert [p.payload for p in heard] == frames
        stats = relay.stats("a")
        assert stats.malformed == len(junk) - 1
        assert stats.rtcp == 2  # one muxed on the RTP port, one on port + 1
        phone_a.close()
        phone_b.close()
        await relay.close()

    run(scenario())


def test_sockets_have_raised_buffers() -> None:
    async def scenario() -> tuple[int, int]:
        relay = make_relay()
        await relay.open_leg("a")
        sock = relay._endpoints["a"].rtp.sock
        sizes = (
            sock.getsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF),
            sock.getsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF),
        )
        await relay.close()
        return sizes

    received, sent = run(scenario())
    limits = [Path(f"/proc/sys/net/core/{n}_max") for n in ("rmem", "wmem")]
    assert all(p.exists() for p in limits), "switchboard runs on Linux: /proc/sys/net/core"
    rmem, wmem = (int(p.read_text()) for p in limits)
    # Linux reports twice the size it grants; it grants min(asked, *mem_max).
    assert received >= 2 * min(4 * 1024 * 1024, rmem)
    assert sent >= 2 * min(4 * 1024 * 1024, wmem)


def test_releasing_legs_frees_their_ports() -> None:
    async def scenario() -> None:
        relay = make_relay(reuse_after=0)  # no parking: closed at once
        ports = [(await relay.open_leg(leg))[1] for leg in ("a", "b", "c")]
        assert all(p % 2 == 0 for p in ports) and len(set(ports)) == 3
        assert relay.ports.in_use == set(ports)
        relay.bridge("a", "b")
        await relay.close_leg("a")
        await relay.close_leg("a")  # twice: a no-op
        assert relay.leg("b").peer is None
        await relay.close_leg("b")
        await relay.close_leg("c")
        assert relay.ports.in_use == frozenset()
        assert relay.leg_ids == frozenset()
        for port in ports:  # the sockets are really closed: the ports bind again
            for p in (port, port + 1):
                with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
                    probe.bind((LOCALHOST, p))
        with pytest.raises(KeyError):
            relay.set_remote("a", LOCALHOST, 4000, 0)

    run(scenario())


def test_a_closed_legs_sockets_rest_parked_then_serve_a_new_leg_and_close_when_unused(
) -> None:
    async def scenario() -> None:
        relay = make_relay(reuse_after=0.1)
        phone = await Phone.open()
        stray = RtpPacket(0, 1, 160, 0xDEAD, bytes(160)).serialize()
        (_, a_port), (_, b_port) = await relay.open_leg("a"), await relay.open_leg("b")
        await relay.close_leg("a")
        assert relay.parked_ports == {a_port} and a_port in relay.ports.in_use
        _, c_port = await relay.open_leg("c")
        assert c_port not in (a_port, b_port)  # a's pair rests: c gets one of its own
        for _ in range(3):  # late packets of a's call reach the parked socket
            phone.send(stray, (LOCALHOST, a_port))
        await asyncio.sleep(0.15)
        _, d_port = await relay.open_leg("d")
        assert d_port == a_port and relay.parked_ports == frozenset()  # rested: reused
        assert relay.stats("d").packets_in == 0  # the strays were dropped while it rested
        relay.set_remote("d", *phone.addr, 0)
        relay.set_remote("b", *phone.addr, 0)
        relay.bridge("d", "b")
        frame = RtpPacket(0, 7, 1120, 0xD, bytes(160)).serialize()
        phone.send(frame, (LOCALHOST, d_port))
        assert len(await phone.wait_for(1)) == 1  # d's own packet, relayed to b's phone
        assert relay.stats("d").packets_in == 1
        # Unused for four times reuse_after, a parked pair is closed and its ports freed.
        await relay.close_leg("c")
        assert relay.parked_ports == {c_port}
        await asyncio.sleep(0.45)
        assert relay.parked_ports == frozenset() and c_port not in relay.ports.in_use
        for port in (c_port, c_port + 1):
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
                probe.bind((LOCALHOST, port))
        # Closing the relay closes what rests too.
        await relay.close_leg("b")
        await relay.close()
        assert relay.parked_ports == frozenset() and relay.ports.in_use == frozenset()
        for port in (b_port, b_port + 1, d_port, d_port + 1):
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
                probe.bind((LOCALHOST, port))
        phone.close()

    run(scenario())


def test_with_every_pair_in_use_or_resting_a_new_leg_takes_the_oldest_resting_pair() -> None:
    async def scenario() -> None:
        config = RelayConfig(bind_ip=LOCALHOST, port_range=(31300, 31303), reuse_after=60)
        relay = RtpRelay(config, random.Random(1), lambda leg, key: None)
        (_, x_port), (_, y_port) = await relay.open_leg("x"), await relay.open_leg("y")
        await relay.close_leg("y")
        await relay.close_leg("x")
        assert (await relay.open_leg("z"))[1] == y_port  # early, rather than refuse a call
        assert (await relay.open_leg("w"))[1] == x_port
        with pytest.raises(PortsExhausted):
            await relay.open_leg("v")
        await relay.close()

    run(scenario())


def test_ports_in_use_by_others_are_skipped_and_exhaustion_is_reported() -> None:
    async def scenario() -> None:
        first = 31300
        config = RelayConfig(bind_ip=LOCALHOST, port_range=(first, first + 7))
        relay = RtpRelay(config, random.Random(1), lambda leg, key: None)
        with (
            socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as rtp_taken,
            socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as rtcp_taken,
        ):
            rtp_taken.bind((LOCALHOST, first))  # pair 1: RTP port taken
            rtcp_taken.bind((LOCALHOST, first + 3))  # pair 2: its RTCP port taken
            assert (await relay.open_leg("x"))[1] == first + 4
            assert (await relay.open_leg("y"))[1] == first + 6
            with pytest.raises(PortsExhausted):
                await relay.open_leg("z")
            with pytest.raises(ValueError):
                await relay.open_leg("x")
        await relay.close()

    run(scenario())


def test_bridge_misuse_raises() -> None:
    async def scenario() -> None:
        relay = make_relay()
        for leg in "abc":
            await relay.open_leg(leg)
        relay.bridge("a", "b")
        relay.bridge("b", "a")  # the same pair again: fine
        with pytest.raises(ValueError):
            relay.bridge("a", "c")
        with pytest.raises(ValueError):
            relay.bridge("c", "c")
        with pytest.raises(KeyError):
            relay.bridge("c", "nope")
        relay.unbridge("b")
        relay.unbridge("b")
        relay.bridge("a", "c")
        assert relay.leg("c").peer is relay.leg("a")
        await relay.close()

    run(scenario())


def test_a_packet_the_relay_fails_on_costs_that_packet_and_one_log_line(
        caplog: pytest.LogCaptureFixture) -> None:
    """Whatever arrives, the reader must not raise into the event loop: asyncio would log a
    traceback for every packet of the call (50 a second) and keep going."""
    async def scenario() -> None:
        relay = make_relay()
        leg = await relay.open_leg("a")
        phone = await Phone.open()
        relay.set_remote("a", *phone.addr, 0)
        reader = relay._endpoints["a"].rtp

        def broken(data: bytes, addr: tuple[str, int]) -> None:
            raise RuntimeError("a bug in the relay")

        counted = LegStats()
        reader.attach(broken, counted)
        for _ in range(5):
            phone.send(b"\x80\x00" + bytes(170), leg)
        for _ in range(50):
            await asyncio.sleep(0.01)
            if counted.malformed == 5:
                break
        assert counted.malformed == 5
        phone.close()
        await relay.close()

    run(scenario())
    failures = [r for r in caplog.records if "could not be handled" in r.getMessage()]
    assert len(failures) == 1 and failures[0].exc_info is not None
