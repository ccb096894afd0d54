"""``MediaLeg.forward``, the relay's one-step path for the common packet, against the general
path (``receive`` on the source, then ``prepare`` on the peer).

The same seeded packet stream, with everything a phone or the network may send, goes
through two identical bridged pairs: one only through the general path, one through
``forward`` first and the general path when ``forward`` declines. What goes out and every
piece of state after every packet must be the same.
"""

from __future__ import annotations

import random
from typing import Any

import pytest

from switchboard.media import g711
from switchboard.media.leg import MediaLeg
from switchboard.media.rtp import RtpExtension, RtpPacket, StreamRewriter, dtmf_packets

A_ADDR = ("198.51.100.7", 61234)  # a's phone (behind NAT: latched, not its SDP address)
A_SDP = ("192.0.2.10", 4000)
B_ADDR = ("203.0.113.5", 5555)
FOREIGN = ("203.0.113.99", 7777)
TONE = g711.encode_ulaw([0, 5000, 10000, 5000, 0, -5000, -10000, -5000] * 20)


def bridged(a_pt: int, b_pt: int, *, rewrite: bool, seed: int) -> tuple[MediaLeg, MediaLeg]:
    rng = random.Random(seed)

    def rewriter() -> StreamRewriter | None:
        if not rewrite:
            return None
        return StreamRewriter(rng.getrandbits(32), rng.getrandbits(16), rng.getrandbits(32))

    a = MediaLeg("a", ("127.0.0.1", 20000), rewriter=rewriter())
    b = MediaLeg("b", ("127.0.0.1", 20002), rewriter=rewriter())
    a.set_remote(*A_SDP, a_pt, 101)
    b.set_remote(*B_ADDR, b_pt, 101)
    a.peer, b.peer = b, a
    return a, b


def general(source: MediaLeg, data: bytes, addr: tuple[str, int], now: float) -> bytes | None:
    header = source.receive(data, addr, now)
    if header is None or source.peer is None:
        return None
    out = source.peer.prepare(data, header, source, now)
    return None if out is None else bytes(out)


def state(leg: MediaLeg) -> dict[str, Any]:
    """Everything the two paths may change on a leg (MediaLeg's own == would follow peer)."""
    detector = leg.detector
    rewriter = leg.rewriter
    return {
        "stats": leg.stats,
        "remote": leg.remote,
        "latched": leg.latched,
        "last": leg._last,
        "detected": list(leg.detected),
        "tone": None if detector is None else (detector._tone, dict(detector._finished)),
        "rewriter": None if rewriter is None else dict(vars(rewriter)),
    }


def stream(a_pt: int, rng: random.Random) -> list[tuple[str, bytes, tuple[str, int], float]]:
    """What a's phone and the network send a, with what is done to b between packets."""
    out: list[tuple[str, bytes, tuple[str, int], float]] = []
    seq, ts, ssrc, now = rng.getrandbits(16), rng.getrandbits(32), 0x1234, 0.0

    def audio(**extra: Any) -> bytes:
        return RtpPacket(a_pt, seq & 0xFFFF, ts & 0xFFFFFFFF, ssrc, TONE, **extra).serialize()

    for n in range(600):
        now += 0.02 + rng.choice([0.0, 0.0, 0.0, 0.001, 0.004, 0.03, 0.05])
        seq, ts = seq + 1, ts + 160
        roll = rng.random()
        if n == 200:
            ssrc = 0x5678  # the phone restarts its stream
        if roll < 0.04:
            out.append(("packet", audio(marker=True), A_ADDR, now))
        elif roll < 0.06:
            out.append(("packet", audio(csrcs=(7,)), A_ADDR, now))
        elif roll < 0.07:
            out.append(("packet", audio(padding=4), A_ADDR, now))
        elif roll < 0.08:
            out.append(("packet", audio(extension=RtpExtension(0xBEDE, bytes(4))), A_ADDR, now))
        elif roll < 0.10:
            out.append(("packet", audio(), FOREIGN, now))
        elif roll < 0.12:
            out.append(("packet", bytes.fromhex("80c80006") + bytes(24), A_ADDR, now))  # RTCP
        elif roll < 0.13:
            out.append(("packet", b"\x80\x00garbage", A_ADDR, now))
        elif roll < 0.15:
            keys = dtmf_packets(
                rng.choice("0123456789*#"), payload_type=101, ssrc=ssrc, sequence=seq, timestamp=ts
            )
            if rng.random() < 0.5:
                keys = keys[:-3]  # every end packet lost: audio must finish the key
            for packet in keys:
                out.append(("packet", packet.serialize(), A_ADDR, now))
                seq += 1
            ts += 800
        elif roll < 0.17:
            start, end = ("play", "stop") if roll < 0.16 else ("tap", "untap")
            out.append((start, b"", A_ADDR, now))  # a prompt to b, or b's recording starts
            for _ in range(5):
                out.append(("packet", audio(), A_ADDR, now))
                seq, ts, now = seq + 1, ts + 160, now + 0.02
            out.append((end, b"", A_ADDR, now))
        elif roll < 0.175:
            out.append(("move", b"", A_ADDR, now))  # a re-INVITE: latching starts over
        else:
            out.append(("packet", audio(), A_ADDR, now))
    return out


@pytest.mark.parametrize(
    ("a_pt", "b_pt", "rewrite"),
    [
        (0, 0, True),
        (0, 0, False),
        (0, 8, True),
        (8, 0, False),
        (8, 8, True),
        (0, 18, True),  # no PCMU/PCMA pair: the general path drops
        (96, 96, False),
        (96, 97, True),  # dynamic types renumbered: the general path
        (72, 72, True),  # collides with RTCP: the general path refuses it
        (80, 80, False),  # what RTCP can look like: the general path
    ],
)
@pytest.mark.parametrize("seed", [1, 2])
def test_forward_gives_what_the_general_path_gives(
    a_pt: int, b_pt: int, rewrite: bool, seed: int
) -> None:
    plain_a, plain_b = bridged(a_pt, b_pt, rewrite=rewrite, seed=seed)
    fast_a, fast_b = bridged(a_pt, b_pt, rewrite=rewrite, seed=seed)
    forwarded = 0
    for what, data, addr, now in stream(a_pt, random.Random(seed)):
        if what == "packet":
            expected = general(plain_a, data, addr, now)
            out = fast_a.forward(data, addr, now)
            if out is None:
                got = general(fast_a, data, addr, now)
            else:
                forwarded += 1
                got = bytes(out)
            assert got == expected
        else:
            for b in (plain_b, fast_b):
                if what == "play":
                    b.start_local()
                elif what == "stop":
                    b.end_local()
                elif what == "tap":
                    b.taps_out.append(lambda payload, pt, now: None)
                elif what == "untap":
                    b.taps_out.clear()
            if what == "move":
                for a in (plain_a, fast_a):
                    a.set_remote(*A_SDP, a_pt, 101)
        assert state(fast_a) == state(plain_a)
        assert state(fast_b) == state(plain_b)
    if not 64 <= a_pt < 96 and (b_pt == a_pt or {a_pt, b_pt} == {0, 8}):
        assert forwarded > 200  # most of the stream took the one-step path
    else:
        assert forwarded == 0  # another codec, or a type RTCP can look like: the general path


def latched_pair() -> tuple[MediaLeg, MediaLeg]:
    a, b = bridged(0, 0, rewrite=True, seed=3)
    for seq in range(3):
        a.receive(RtpPacket(0, seq, 160 * seq, 42, TONE).serialize(), A_ADDR, 0.02 * seq)
    assert a.latched
    return a, b


@pytest.mark.parametrize(
    "case",
    [
        "unbridged",
        "unlatched",
        "foreign",
        "event",
        "rtcp",
        "short",
        "csrc",
        "tap_in",
        "tap_out",
        "playing",
        "no_remote",
        "pending_key",
    ],
)
def test_forward_declines_without_changing_anything(case: str) -> None:
    a, b = latched_pair()
    data, addr = RtpPacket(0, 3, 480, 42, TONE).serialize(), A_ADDR
    key = dtmf_packets("5", payload_type=101, ssrc=42, sequence=3, timestamp=480)[0].serialize()
    if case == "unbridged":
        a.peer = b.peer = None
    elif case == "unlatched":
        a.set_remote(*A_SDP, 0, 101)
    elif case == "foreign":
        addr = FOREIGN
    elif case == "event":
        data = key
    elif case == "rtcp":
        data = bytes.fromhex("80c80006") + bytes(24)
    elif case == "short":
        data = data[:11]
    elif case == "csrc":
        data = RtpPacket(0, 3, 480, 42, TONE, csrcs=(9,)).serialize()
    elif case == "tap_in":
        a.taps_in.append(lambda payload, pt, now: None)
    elif case == "tap_out":
        b.taps_out.append(lambda payload, pt, now: None)
    elif case == "playing":
        b.start_local()
    elif case == "no_remote":
        b.remote = None
    elif case == "pending_key":
        a.receive(key, A_ADDR, 0.06)
        assert a.detector is not None and a.detector.pending
        data = RtpPacket(0, 4, 1280, 42, TONE).serialize()
    before = (state(a), state(b))
    assert a.forward(data, addr, 0.1) is None
    assert (state(a), state(b)) == before


def test_forward_passes_the_datagram_itself_when_nothing_changes_it() -> None:
    a, _ = bridged(0, 0, rewrite=False, seed=4)
    for seq in range(3):
        a.receive(RtpPacket(0, seq, 160 * seq, 42, TONE).serialize(), A_ADDR, 0.02 * seq)
    data = RtpPacket(0, 3, 480, 42, TONE).serialize()
    assert a.forward(data, A_ADDR, 0.06) is data  # no copy
