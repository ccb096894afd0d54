"""StreamRewriter: one continuous outgoing stream while sources come and go."""

from __future__ import annotations

import itertools

from switchboard.media.rtp import StreamRewriter


def frames(
    rewriter: StreamRewriter, ssrc: int, seq: int, ts: int, count: int, start: float
) -> list[tuple[int, int, bool]]:
    return [
        rewriter.rewrite(ssrc, (seq + n) & 0xFFFF, (ts + 160 * n) & 0xFFFFFFFF, start + 0.02 * n)
        for n in range(count)
    ]


def test_first_source_is_mapped_onto_the_chosen_start() -> None:
    rewriter = StreamRewriter(ssrc=77, first_sequence=1000, first_timestamp=50_000)
    out = frames(rewriter, ssrc=5, seq=40_000, ts=123, count=3, start=0.0)
    assert out == [(1000, 50_000, True), (1001, 50_160, False), (1002, 50_320, False)]
    assert rewriter.ssrc == 77


def test_a_new_source_continues_the_numbering_after_the_elapsed_time() -> None:
    rewriter = StreamRewriter(ssrc=77, first_sequence=65534, first_timestamp=0xFFFFFF00)
    first = frames(rewriter, ssrc=5, seq=9, ts=9, count=3, start=10.0)
    assert [o[0] for o in first] == [65534, 65535, 0]
    # Another source 1 s after the last packet (at 10.04 s): +1 sequence, +8000 samples.
    second = frames(rewriter, ssrc=6, seq=30_000, ts=777, count=2, start=11.04)
    assert second == [
        (1, (0xFFFFFF00 + 320 + 8000) & 0xFFFFFFFF, True),
        (2, (0xFFFFFF00 + 320 + 8160) & 0xFFFFFFFF, False),
    ]


def test_an_immediate_switch_still_advances_by_one_packet() -> None:
    rewriter = StreamRewriter(ssrc=1, first_sequence=0, first_timestamp=0)
    frames(rewriter, ssrc=5, seq=0, ts=0, count=2, start=0.0)  # ts 0, 160 at 0.00, 0.02
    assert rewriter.rewrite(6, 500, 500, now=0.02) == (2, 320, True)


def test_the_step_is_learned_from_the_source() -> None:
    rewriter = StreamRewriter(ssrc=1, first_sequence=0, first_timestamp=0)
    for n in range(3):  # 30 ms packets: 240 samples
        rewriter.rewrite(5, n, 240 * n, now=0.03 * n)
    assert rewriter.rewrite(6, 0, 0, now=0.06) == (3, 720, True)


def test_gaps_and_reordering_of_one_source_pass_through() -> None:
    rewriter = StreamRewriter(ssrc=1, first_sequence=100, first_timestamp=1000)
    assert rewriter.rewrite(5, 10, 0, now=0.0) == (100, 1000, True)
    assert rewriter.rewrite(5, 12, 320, now=0.04) == (102, 1320, False)  # 11 lost or late
    assert rewriter.rewrite(5, 11, 160, now=0.05) == (101, 1160, False)  # late: old numbers
    # A switch anchors after the newest packet sent (102), not after the late one.
    assert rewriter.rewrite(6, 0, 0, now=0.06) == (103, 1480, True)


def test_new_source_forces_a_re_anchor_with_the_same_ssrc() -> None:
    rewriter = StreamRewriter(ssrc=1, first_sequence=0, first_timestamp=0)
    frames(rewriter, ssrc=5, seq=0, ts=0, count=2, start=0.0)
    rewriter.new_source()
    # The same SSRC restarting its numbering (a re-INVITE) stays continuous on the way out.
    assert rewriter.rewrite(5, 0, 0, now=0.04) == (2, 320, True)
    assert rewriter.rewrite(5, 1, 160, now=0.06) == (3, 480, False)


def test_alternating_sources_keep_one_monotonic_stream() -> None:
    rewriter = StreamRewriter(ssrc=9, first_sequence=0, first_timestamp=0)
    out: list[tuple[int, int, bool]] = []
    now = 0.0
    for turn in range(6):  # bridged audio, prompt, audio, prompt...
        source = 100 + turn % 2
        out += frames(rewriter, source, seq=turn * 7000, ts=turn * 90_000, count=10, start=now)
        now += 0.2
    sequences = [o[0] for o in out]
    timestamps = [o[1] for o in out]
    assert sequences == list(range(60))
    assert all(b - a == 160 for a, b in itertools.pairwise(timestamps))
    assert [n for n, o in enumerate(out) if o[2]] == [0, 10, 20, 30, 40, 50]


def test_a_jump_after_silence_does_not_count_as_the_packet_step() -> None:
    rewriter = StreamRewriter(ssrc=1, first_sequence=0, first_timestamp=0)
    rewriter.rewrite(5, 0, 0, now=0.0)
    rewriter.rewrite(5, 1, 160, now=0.02)
    rewriter.rewrite(5, 2, 160 + 4000, now=0.52)  # 0.5 s of silence suppressed
    assert rewriter.rewrite(6, 0, 0, now=0.52) == (3, 4160 + 160, True)
