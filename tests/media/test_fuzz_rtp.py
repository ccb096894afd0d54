"""Whatever arrives on an RTP port, the in-process media engine goes on, and what it sends
stays valid. No sockets: datagrams go into the relay's own reader callback (the one its UDP
socket calls) under a clock set by hand, through ``InProcessMedia`` so that keys, prompts,
recordings and releases take their real paths.

First the regression tests, one per bug the fuzzers found, with the minimal packets; then the
fuzzers (hypothesis, derandomized, bounded) and the bound on the work per packet, counted
(``tests/complexity.py``), not timed.
"""

from __future__ import annotations

import asyncio
import itertools
import random
import struct
import wave
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from switchboard.media import g711
from switchboard.media.engine import DtmfReceived, InProcessMedia, MediaEvent
from switchboard.media.leg import Address, LegStats
from switchboard.media.relay import RelayConfig, _Endpoint
from switchboard.media.rtp import (
    DTMF_EVENTS,
    RtpExtension,
    RtpPacket,
    TelephoneEvent,
    is_rtcp,
    parse_rtp_header,
)
from switchboard.media.wav import write_wav
from tests.complexity import Work, count_work

T = TypeVar("T")

A_PHONE = ("198.51.100.7", 61234)  # a's phone, behind NAT: latched, not its SDP address
A_SDP = ("192.0.2.10", 4000)
B_PHONE = ("203.0.113.5", 5555)
FOREIGN = ("203.0.113.99", 7777)
TONE = g711.encode_ulaw([0, 5000, 10000, 5000, 0, -5000, -10000, -5000] * 20)
FUZZ = settings(
    max_examples=200,
    derandomize=True,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


class FakeSocket:
    """Stands in for ``UdpSocket``: records what is sent, holds the reader it was given."""

    def __init__(self, leg_id: str, sent: list[tuple[str, bytes, Address]]) -> None:
        self.leg_id, self.sent = leg_id, sent
        self.handler: Callable[[bytes, Address], None] | None = None

    def attach(self, handler: Callable[[bytes, Address], None], stats: LegStats) -> None:
        self.handler = handler

    def sendto(self, data: bytes | bytearray, addr: Address) -> None:
        self.sent.append((self.leg_id, bytes(data), addr))


class Rig:
    """Legs ``a`` and ``b`` of an ``InProcessMedia`` on fake sockets, a's phone behind NAT.

    Must be built inside a running loop, whose clock becomes ``self.now``.
    """

    def __init__(
        self,
        a_pt: int,
        b_pt: int,
        a_event: int | None = 101,
        b_event: int | None = 101,
        *,
        bridged: bool = True,
    ) -> None:
        loop = asyncio.get_running_loop()
        self.now = 0.0
        loop.time = lambda: self.now  # type: ignore[method-assign]
        self.events: list[MediaEvent] = []
        self.sent: list[tuple[str, bytes, Address]] = []
        self.media = InProcessMedia(RelayConfig(), random.Random(7), self.events.append)
        relay = self.media.relay
        self.sockets: dict[str, FakeSocket] = {}
        for port, leg_id in ((20000, "a"), (20002, "b")):
            leg = relay._new_leg(leg_id, port)
            sock = self.sockets[leg_id] = FakeSocket(leg_id, self.sent)
            sock.attach(relay._receiver(leg), leg.stats)
            relay._endpoints[leg_id] = _Endpoint(leg, sock, None)  # type: ignore[arg-type]
        relay.set_remote("a", *A_SDP, a_pt, a_event)
        relay.set_remote("b", *B_PHONE, b_pt, b_event)
        if bridged:
            relay.bridge("a", "b")

    def deliver(self, leg_id: str, data: bytes, addr: Address, now: float) -> list[bytes]:
        """A datagram arrives on a leg's port at ``now``: what the relay sent because of it."""
        self.now = now
        before = len(self.sent)
        handler = self.sockets[leg_id].handler
        assert handler is not None
        handler(data, addr)
        return [data for _, data, _ in self.sent[before:]]

    def latch_a(self, ssrc: int = 42) -> None:
        for seq in range(3):
            self.deliver("a", RtpPacket(0, seq, 160 * seq, ssrc, TONE).serialize(), A_PHONE, 0)
        assert self.media.relay.leg("a").latched


def run(scenario: Callable[[], Coroutine[Any, Any, T]]) -> T:
    return asyncio.run(scenario())


def keys(events: list[MediaEvent]) -> list[str]:
    return [e.digit for e in events if isinstance(e, DtmfReceived)]


# --------------------------------------------------------------------------- regressions


def test_a_payload_type_rtcp_can_look_like_is_not_relayed_as_rtcp() -> None:
    # Payload type 64, no marker: RTP to us. Relayed as the first packet of a new source, the
    # rewriter set the marker: b got 80 c0, an RTCP sender report (RFC 5761 section 4).
    packet = bytes.fromhex("8040 0000 00000000 00000001")

    async def scenario() -> None:
        rig = Rig(0, 0)
        assert rig.deliver("a", packet, A_PHONE, 0.0) == []
        assert rig.media.relay.leg("a").stats.malformed == 1
        assert rig.media.relay.leg("b").stats.packets_out == 0

    run(scenario)


def test_a_negotiated_payload_type_in_the_rtcp_range_still_carries_keys() -> None:
    async def scenario() -> None:
        rig = Rig(0, 0, a_event=80)  # the phone's SDP said telephone-event/8000 on 80
        rig.latch_a()
        start = RtpPacket(80, 3, 480, 42, TelephoneEvent(5, False, 10, 160).serialize())
        end = RtpPacket(80, 4, 480, 42, TelephoneEvent(5, True, 10, 320).serialize())
        out = rig.deliver("a", start.serialize(), A_PHONE, 0.06)
        out += rig.deliver("a", end.serialize(), A_PHONE, 0.08)
        assert keys(rig.events) == ["5"]
        assert [RtpPacket.parse(data).payload_type for data in out] == [101, 101]
        assert not any(is_rtcp(data) for data in out)

    run(scenario)


def test_a_payload_type_the_source_did_not_negotiate_is_not_passed_on() -> None:
    # Payload type 96, not a's: a's bytes went to b as they were, and 96 is b's
    # telephone-event: b's phone heard a key the core never saw.
    key = RtpPacket(96, 3, 480, 42, TelephoneEvent(1, True, 10, 800).serialize()).serialize()
    comfort_noise = bytes.fromhex("800d 0003 000001e0 0000002a 40")  # CN (13), never offered
    empty_type_1 = bytes.fromhex("8001 0000 00000000 00000000")  # the fuzzer's first find

    async def scenario() -> None:
        rig = Rig(0, 0, a_event=101, b_event=96)
        rig.latch_a()
        sent = len(rig.sent)
        for data in (key, comfort_noise, empty_type_1):
            assert rig.deliver("a", data, A_PHONE, 0.06) == []
        assert rig.media.relay.leg("b").stats.codec_mismatch == 3
        assert len(rig.sent) == sent and keys(rig.events) == []

    run(scenario)


# --------------------------------------------------------------------------- strategies


@st.composite
def datagrams(draw: st.DrawFn) -> bytes:
    """Anything: random bytes, RTP with lying lengths, telephone-event of any shape, RTCP."""
    kind = draw(st.sampled_from(["rtp", "rtp", "event", "raw", "rtcp", "mutated"]))
    if kind == "raw":
        return draw(st.binary(max_size=48))
    if kind == "rtcp":
        return bytes([0x80, draw(st.integers(192, 223))]) + draw(st.binary(max_size=40))
    version = draw(st.sampled_from([2, 2, 2, 2, 0, 1, 3]))
    csrcs = draw(st.sampled_from([0, 0, 0, 1, 15]))
    extension = draw(st.integers(0, 3)) == 0
    padding = draw(st.integers(0, 3)) == 0
    marker = draw(st.booleans())
    pt = draw(st.sampled_from([0, 8, 101, 96, 13, 64, 80, 95]) | st.integers(0, 127))
    if kind == "event":
        pt = draw(st.sampled_from([101, 96]))
        code, flags = draw(st.integers(0, 255)), draw(st.integers(0, 255))  # any event, end bit
        event = struct.pack("!BBH", code, flags, draw(st.integers(0, 65535)))
        cut = draw(st.sampled_from([4, 4, 4, 0, 3]))
        payload = event[:cut] + bytes(draw(st.sampled_from([0, 0, 4, 65000])))
    else:
        payload = bytes([draw(st.integers(0, 255))]) * draw(st.sampled_from([0, 1, 160, 65000]))
    first = version << 6 | padding << 5 | extension << 4 | csrcs
    data = bytearray(struct.pack(
        "!BBHII", first, marker << 7 | pt, draw(st.integers(0, 0xFFFF)),
        draw(st.integers(0, 0xFFFFFFFF)), draw(st.sampled_from([1, 2, 0xFFFFFFFF])),
    ))  # fmt: skip
    data += bytes(4 * draw(st.integers(0, csrcs)))  # the CSRC count may point past the end
    if extension:
        words = draw(st.sampled_from([0, 1, 0xFFFF]))
        data += struct.pack("!HH", 0xBEDE, words) + bytes(4 * min(words, draw(st.integers(0, 2))))
    data += payload
    if padding:
        data.append(draw(st.integers(0, 255)))  # the padding count may exceed the packet
    if kind == "mutated":
        at = draw(st.integers(0, len(data) - 1))
        data[at] ^= draw(st.integers(1, 255))
        del data[draw(st.integers(0, len(data))) :]
    return bytes(data)


@st.composite
def phone_streams(draw: st.DrawFn, audio_pt: int) -> list[tuple[bytes, tuple[int, int] | None]]:
    """What an honest phone sends: audio, keys (end packet repeated 0-4 times, any event
    code), SSRC restarts; each packet with the (ssrc, timestamp) of the key it belongs to."""
    out: list[tuple[bytes, tuple[int, int] | None]] = []
    seq, ts, ssrc = (draw(st.integers(0, 0xFFFF)), draw(st.integers(0, 0xFFFFFFFF)),
                     draw(st.integers(0, 0xFFFFFFFF)))  # fmt: skip
    for _ in range(draw(st.integers(1, 20))):
        what = draw(st.sampled_from(["audio", "audio", "key", "restart"]))
        if what == "restart":  # a new SSRC (so no key of the old one can recur)
            seq, ts = draw(st.integers(0, 0xFFFF)), draw(st.integers(0, 0xFFFFFFFF))
            ssrc = (ssrc + 1) & 0xFFFFFFFF
        elif what == "audio":
            for _ in range(draw(st.integers(1, 4))):
                out.append((RtpPacket(audio_pt, seq, ts, ssrc, TONE).serialize(), None))
                seq, ts = (seq + 1) & 0xFFFF, (ts + 160) & 0xFFFFFFFF
        else:
            event = draw(st.sampled_from([1, 11, 15, 16, 255]))  # 16 and up: not keys
            length, ends = draw(st.integers(1, 4)), draw(st.integers(0, 4))
            key = (ssrc, ts) if event < 16 else None
            for n in range(length + ends):
                end = n >= length
                duration = 160 * (min(n, length - 1) + 1)
                payload = TelephoneEvent(event, end, 10, duration).serialize()
                packet = RtpPacket(101, seq, ts, ssrc, payload, marker=n == 0).serialize()
                out.append((packet, key))
                seq = (seq + 1) & 0xFFFF
            ts = (ts + 160 * (length + 1)) & 0xFFFFFFFF
    return out


def check_sent(rig: Rig, sent: int) -> None:
    """Everything sent since ``sent``: valid RTP in a type the leg negotiated, to its remote."""
    relay = rig.media.relay
    for leg_id, data, addr in rig.sent[sent:]:
        leg = relay.leg(leg_id)
        assert addr == leg.remote
        header = parse_rtp_header(data)  # version 2, CSRCs, extension and padding consistent
        assert not is_rtcp(data)
        assert header.payload_type in (leg.audio_pt, leg.event_pt, 0, 8)  # G.711: static


# --------------------------------------------------------------------------- fuzzers


@FUZZ
@given(
    codecs=st.sampled_from([(0, 0), (0, 8), (8, 0)]),
    events=st.sampled_from([(101, 101), (None, 101), (101, None), (101, 96)]),
    steps=st.lists(
        st.tuples(
            st.sampled_from(["a", "a", "b", "a-foreign", "b-foreign", "release"]),
            datagrams(),
            st.floats(0, 0.05),
        ),
        max_size=50,
    ),
)
def test_anything_into_a_bridged_pair(
    codecs: tuple[int, int],
    events: tuple[int | None, int | None],
    steps: list[tuple[str, bytes, float]],
) -> None:
    async def scenario() -> None:
        rig = Rig(*codecs, *events)
        relay = rig.media.relay
        latched: dict[str, Address] = {}
        now = 0.0
        for what, data, dt in steps:
            now += dt
            if what == "release":
                await rig.media.release("b")
                continue
            leg_id = what[0]
            phone = A_PHONE if leg_id == "a" else B_PHONE
            addr = FOREIGN if what.endswith("foreign") else phone
            sent, seen = len(rig.sent), len(rig.events)
            out = rig.deliver(leg_id, data, addr, now)  # must not raise
            check_sent(rig, sent)
            if leg_id not in relay.leg_ids:  # released: its parked socket drops everything
                assert out == [] and len(rig.events) == seen
                continue
            leg = relay.leg(leg_id)
            if leg_id in latched:  # latched stays latched, and only that address is heard
                assert leg.latched and leg.remote == latched[leg_id]
                if addr != latched[leg_id]:
                    assert out == [] and len(rig.events) == seen
            elif leg.latched:
                latched[leg_id] = addr
                assert leg.remote == addr
        assert all(e.digit in DTMF_EVENTS for e in rig.events if isinstance(e, DtmfReceived))

    run(scenario)


@FUZZ
@given(st.data())
def test_an_honest_stream_among_garbage_gives_each_key_once_and_a_monotonic_stream(
    data: st.DataObject,
) -> None:
    a_pt, b_pt = data.draw(st.sampled_from([(0, 0), (0, 8), (8, 0)]))
    b_event = data.draw(st.sampled_from([101, None]))
    stream = data.draw(phone_streams(a_pt))
    script: list[tuple[str, bytes, tuple[int, int] | None]] = []
    for packet, key in stream:
        action = data.draw(st.sampled_from(["send"] * 6 + ["drop", "dup", "junk", "foreign",
                                            "play", "stop"]))  # fmt: skip
        if action == "drop":
            continue
        if action == "junk":  # what no parser takes for RTP: dropped without a trace
            script.append(("a", bytes([data.draw(st.integers(0, 0x7F))]) + bytes(20), None))
        elif action == "foreign":  # valid RTP, from elsewhere once a is latched
            script.append(("foreign", packet, None))
        elif action in ("play", "stop"):
            script.append((action, b"", None))
        script.append(("a", packet, key))
        if action == "dup":
            script.append(("a", packet, key))

    async def scenario() -> None:
        rig = Rig(a_pt, b_pt, b_event=b_event)
        rig.latch_a(ssrc=0x5EED)
        relay = rig.media.relay
        pressed: set[tuple[int, int]] = set()
        local_seq, local_ts, playing = 9, 7000, False
        for step, (what, packet, key) in enumerate(script):
            now = 0.06 + 0.02 * step
            if what == "play":
                if not playing:
                    relay.set_playing("b", True)
                    playing = True
                relay.send_audio("b", TONE, source=0xBEEF, sequence=local_seq,
                                 timestamp=local_ts, marker=False, now=now)  # fmt: skip
                local_seq, local_ts = local_seq + 1, local_ts + 160
            elif what == "stop":
                if playing:
                    relay.set_playing("b", False)
                    playing = False
            else:
                rig.deliver("a", packet, FOREIGN if what == "foreign" else A_PHONE, now)
                if key is not None and what == "a":
                    pressed.add(key)
        await rig.media.release("a")  # reports a key whose end packets were all lost
        assert len(keys(rig.events)) == len(pressed)  # once per key press, none lost
        to_b = [RtpPacket.parse(data) for leg_id, data, _ in rig.sent if leg_id == "b"]
        assert len({p.ssrc for p in to_b}) == 1
        for before, after in itertools.pairwise(to_b):
            assert (after.sequence - before.sequence) & 0xFFFF < 0x8000  # a duplicate: equal
            assert (after.timestamp - before.timestamp) & 0xFFFFFFFF < 0x80000000

    run(scenario)


@FUZZ
@given(
    codecs=st.sampled_from([(0, 0), (0, 8), (8, 0)]),
    loop=st.booleans(),
    bridged=st.booleans(),
    steps=st.lists(
        st.tuples(
            st.sampled_from(["a", "b", "tick", "tick", "stop"]), datagrams(), st.floats(0, 0.05)
        ),
        max_size=50,
    ),
)
def test_anything_into_a_leg_hearing_a_prompt_or_music(
    tmp_path_factory: Any,
    codecs: tuple[int, int],
    loop: bool,
    bridged: bool,
    steps: list[tuple[str, bytes, float]],
) -> None:
    prompt = tmp_path_factory.getbasetemp() / "prompt.wav"
    if not prompt.exists():
        write_wav(prompt, (np.sin(np.arange(1234) / 5) * 8000).astype(np.int16))

    async def scenario() -> None:
        rig = Rig(*codecs, bridged=bridged)
        rig.media.audio.load(str(prompt))
        await rig.media.play("a", [prompt], loop=loop, play_id=3)
        now = 0.0
        for what, data, dt in steps:
            now += dt
            rig.now = now
            sent = len(rig.sent)
            player = rig.media.player("a")
            if what == "tick" and player is not None:
                player.tick(now)
            elif what == "stop":
                await rig.media.stop("a")
            elif what in ("a", "b"):
                rig.deliver(what, data, A_PHONE if what == "a" else B_PHONE, now)
            check_sent(rig, sent)
        await rig.media.release("a")

    run(scenario)


@FUZZ
@given(
    codecs=st.sampled_from([(0, 0), (0, 8), (8, 0)]),
    kind=st.sampled_from(["call", "voicemail"]),
    steps=st.lists(
        st.tuples(st.sampled_from(["a", "a", "b", "tick"]), datagrams(), st.floats(0, 0.5)),
        max_size=40,
    ),
    end=st.sampled_from(["stop", "release"]),
)
def test_a_recording_is_a_valid_wav_whatever_arrives(
    tmp_path_factory: Any,
    codecs: tuple[int, int],
    kind: str,
    steps: list[tuple[str, bytes, float]],
    end: str,
) -> None:
    path = tmp_path_factory.getbasetemp() / f"{kind}.wav"

    async def scenario() -> float:
        rig = Rig(*codecs)
        await rig.media.record("a", path, kind=kind, max_seconds=4.0,  # type: ignore[arg-type]
                               silence_seconds=1.0)  # fmt: skip
        recorder = rig.media._recorders["a"][kind]  # type: ignore[index]
        now = 0.0
        for what, data, dt in steps:
            now += dt
            rig.now = now
            if what == "tick":
                if recorder.active:
                    recorder._handle.cancel()
                    recorder._tick()
            else:
                rig.deliver(what, data, A_PHONE if what == "a" else B_PHONE, now)
        rig.now = now + 0.01
        if end == "stop":
            await rig.media.stop_recording("a")
        else:
            await rig.media.release("a")
        assert len([e for e in rig.events if not isinstance(e, DtmfReceived)]) == 1
        return rig.now

    ended = run(scenario)
    with wave.open(str(path), "rb") as wav:
        assert (wav.getnchannels(), wav.getsampwidth(), wav.getframerate()) == (1, 2, 8000)
        frames = wav.getnframes()
    assert path.stat().st_size == 44 + 2 * frames
    assert frames <= min(4.0, ended + 0.2) * 8000  # no longer than the call, or the cap


# --------------------------------------------------------------------------- work per packet

# What one datagram may cost, counted (tests/complexity.py): Python instructions and calls, C
# ones too, at most twice the most an ordinary 160-byte audio packet costs on the same legs.
# A 64 KB payload costs no more steps than 160 bytes: its bytes go through a fixed number of C
# calls (slices, bytes.translate, numpy), whose work in C is linear in the payload, bounded
# by the datagram's size and not counted. A key, an extension or padding take a few more
# branches: the worst below cost 0.85 times an ordinary packet's most. A loop in Python over a
# 64 KB payload costs a step per byte at least, 65,000 (50 times an ordinary packet), and a C
# call per extension word as many calls. Bytes allocated are not bounded here: the recording's
# buffer grows with the call, so one packet in many reallocates all of it.
STEPS_PER_PACKET = 2.0  # times the most an ordinary packet costs


def test_no_datagram_costs_much_more_work_than_an_ordinary_packet(tmp_path: Path) -> None:
    """The worst a datagram can be, through a transcoding pair with both recordings tapping,
    costs no more than twice the steps of an ordinary audio packet (see above): counted,
    not timed. Each kind comes 30 times, as one stream after the other in time."""
    huge = bytes(range(256)) * 254  # 65,024 bytes
    event = TelephoneEvent(1, False, 10, 160).serialize()
    worst = {
        "64 KB audio": RtpPacket(0, 9, 0, 42, huge).serialize(),
        "64 KB other law": RtpPacket(8, 9, 0, 42, huge).serialize(),
        "64 KB padded": RtpPacket(0, 9, 0, 42, huge[:65000], padding=255).serialize(),
        "15 CSRCs": RtpPacket(0, 9, 0, 42, TONE, csrcs=tuple(range(15))).serialize(),
        "256 KB extension": RtpPacket(
            0, 9, 0, 42, TONE, extension=RtpExtension(1, bytes(4 * 0xFFFF))
        ).serialize(),
        "extension past the end": bytes.fromhex("9000 0009 00000000 0000002a bede ffff"),
        "64 KB key": RtpPacket(101, 9, 0, 42, event + huge).serialize(),
        "64 KB garbage": bytes(65000),
        "64 KB RTCP": bytes([0x80, 200]) + huge,
    }
    # each leg's own audio: a sends PCMU, b PCMA (transcoded both ways)
    ordinary = (RtpPacket(0, 9, 0, 42, TONE).serialize(), RtpPacket(8, 9, 0, 7, TONE).serialize())
    sent = {"ordinary": ordinary, **{name: (data, data) for name, data in worst.items()}}

    async def scenario() -> dict[str, list[Work]]:
        rig = Rig(0, 8)
        rig.latch_a()
        for seq in range(3):
            rig.deliver("b", RtpPacket(8, seq, 160 * seq, 7, TONE).serialize(), B_PHONE, 0)
        await rig.media.record("a", tmp_path / "call.wav", kind="call")
        await rig.media.record("b", tmp_path / "voicemail.wav", kind="voicemail")
        counted: dict[str, list[Work]] = {}
        for k, (name, pair) in enumerate(sent.items()):
            for n in range(30):  # each one a new packet of the stream (sequence, timestamp)
                now = 1.0 + 0.6 * k + 0.02 * n
                for leg_id, addr, datagram in (("a", A_PHONE, pair[0]), ("b", B_PHONE, pair[1])):
                    packet = bytearray(datagram)
                    if len(packet) >= 12 and name != "extension past the end":
                        struct.pack_into("!HI", packet, 2, 10 + n, 1600 + 160 * n)
                    data = bytes(packet)
                    work = count_work(
                        lambda: rig.deliver(leg_id, data, addr, now),  # noqa: B023
                        limit=100_000,  # 80 times an ordinary packet: a blow-up fails here
                    )
                    counted.setdefault(name, []).append(work)
        return counted

    counted = run(scenario)
    ordinary_steps = max(work.steps for work in counted.pop("ordinary"))
    costly = {
        name: max(work.steps for work in works)
        for name, works in counted.items()
        if max(work.steps for work in works) > STEPS_PER_PACKET * ordinary_steps
    }
    assert not costly, (ordinary_steps, costly)
    assert counted.keys() == worst.keys()
