"""Measure prompt playback: N callers hearing music on hold (optionally recorded) over 127.0.0.1.

    python -m tests.media.bench_player --players 200 --seconds 10 [--record] [--uvloop]

The engine runs in this process; the phones (one UDP socket, streams told apart by SSRC)
run in a child process, so the engine's CPU time is its own. Prints the engine's CPU per
player, and the share of packets that reached a phone more than 40 ms after the one before
(late), as well as the sender's own view (packets sent more than 20 ms after their slot).
With ``--record`` every caller's leg is also recorded as a call (both directions mixed)
and the phones talk back, so the recorder's cost shows. Not a test (pytest does not
collect it); the figures go into the report.
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import random
import resource
import select
import socket
import struct
import tempfile
import time
from multiprocessing.connection import Connection
from pathlib import Path

import numpy as np

from switchboard.media.engine import InProcessMedia, MediaEvent
from switchboard.media.relay import RelayConfig
from switchboard.media.wav import write_wav

LATE_GAP = 0.040


def phones(conn: Connection, streams: int, talk_back: bool) -> None:
    """Child process: receive every stream, time the gaps per SSRC; talk back if asked."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    for option in (socket.SO_RCVBUF, socket.SO_SNDBUF):
        sock.setsockopt(socket.SOL_SOCKET, option, 4 << 20)
    sock.bind(("127.0.0.1", 0))
    sock.setblocking(False)
    conn.send(sock.getsockname())
    legs: list[tuple[str, int]] = conn.recv()
    last: dict[int, float] = {}
    counts: dict[int, int] = {}
    late = 0
    payload = bytes([0xFF]) * 160
    start = time.monotonic()
    tick = 0
    done_at: float | None = None
    while True:
        now = time.monotonic()
        if talk_back and done_at is None and now >= start + 0.02 * tick:
            header = struct.pack("!BBHII", 0x80, 0, tick & 0xFFFF, 160 * tick, 7)
            for leg in legs:
                sock.sendto(header + payload, leg)
            tick += 1
        if done_at is None and conn.poll():
            conn.recv()
            done_at = now + 0.3
        if done_at is not None and now >= done_at:
            break
        wake = start + 0.02 * tick if talk_back else now + 0.05
        select.select([sock], [], [], max(0.0, min(wake - now, 0.05)))
        while True:
            try:
                data = sock.recv(2048)
            except BlockingIOError:
                break
            arrival = time.monotonic()
            (ssrc,) = struct.unpack_from("!I", data, 8)
            if ssrc in last and arrival - last[ssrc] > LATE_GAP:
                late += 1
            last[ssrc] = arrival
            counts[ssrc] = counts.get(ssrc, 0) + 1
    conn.send({"received": sum(counts.values()), "streams": len(counts), "late": late})


async def play_to_callers(players: int, seconds: float, record: bool) -> None:
    events: list[MediaEvent] = []
    config = RelayConfig(bind_ip="127.0.0.1", port_range=(40000, 49999))
    engine = InProcessMedia(config, random.Random(1), events.append)
    folder = Path(tempfile.mkdtemp(prefix="bench_player_"))
    music = folder / "music.wav"
    t = np.arange(3 * 8000) / 8000
    write_wav(music, np.round(8000 * np.sin(2 * np.pi * 440 * t)).astype(np.int16))
    parent, child = multiprocessing.Pipe()
    process = multiprocessing.get_context("spawn").Process(
        target=phones, args=(child, players, record)
    )
    process.start()
    loop = asyncio.get_running_loop()
    phone = await loop.run_in_executor(None, parent.recv)
    legs = []
    for n in range(players):
        legs.append(await engine.allocate(f"call-{n}"))
        await engine.set_remote(f"call-{n}", phone[0], phone[1], 0)
    parent.send(legs)
    cpu_start = resource.getrusage(resource.RUSAGE_SELF)
    wall_start = time.monotonic()
    for n in range(players):
        if record:
            await engine.record(f"call-{n}", folder / f"call-{n}.wav", kind="call")
        await engine.play(f"call-{n}", [music], loop=True)
    playing = [engine.player(f"call-{n}") for n in range(players)]
    await asyncio.sleep(seconds)
    for n in range(players):
        await engine.stop(f"call-{n}")
    for n in range(players):  # after every player stopped: closing files takes a while
        if record:
            await engine.stop_recording(f"call-{n}")
    wall = time.monotonic() - wall_start
    cpu_end = resource.getrusage(resource.RUSAGE_SELF)
    parent.send("done")
    result = await loop.run_in_executor(None, parent.recv)
    process.join(5)
    sent = sum(p.playout.stats.frames for p in playing if p is not None and p.playout)
    sent_late = sum(p.playout.stats.late for p in playing if p is not None and p.playout)
    skipped = sum(p.playout.stats.skipped for p in playing if p is not None and p.playout)
    max_lag = max(p.playout.stats.max_lag for p in playing if p is not None and p.playout)
    recorded = [e for e in events if type(e).__name__ == "RecordingFinished"]
    await engine.close()
    cpu = (cpu_end.ru_utime - cpu_start.ru_utime) + (cpu_end.ru_stime - cpu_start.ru_stime)
    print(f"loop: {type(loop).__module__}.{type(loop).__name__}")
    what = "music on hold" + (" + call recording, phones talking back" if record else "")
    print(f"players: {players} ({what}), {seconds:.0f} s")
    print(f"packets sent: {sent} ({sent / wall:,.0f}/s)")
    print(f"engine CPU: {cpu:.2f} s = {100 * cpu / wall:.1f} % of one core")
    print(f"CPU per player: {100 * cpu / wall / players:.3f} % of a core")
    print(f"CPU per packet sent: {1e6 * cpu / max(sent, 1):.1f} us")
    print(
        f"sender: {sent_late} sent > 20 ms after their slot "
        f"({100 * sent_late / max(sent, 1):.3f} %), {skipped} slots skipped, "
        f"max lag {1000 * max_lag:.1f} ms"
    )
    share = result["late"] / max(result["received"], 1)
    print(f"phones: received {result['received']} on {result['streams']} streams")
    print(f"late (gap > 40 ms at the phone): {result['late']} = {100 * share:.3f} %")
    if record:
        print(f"recordings written: {len(recorded)}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--players", type=int, default=200)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--record", action="store_true", help="record every call as well")
    parser.add_argument("--uvloop", action="store_true", help="run the engine on uvloop")
    args = parser.parse_args()
    scenario = play_to_callers(args.players, args.seconds, args.record)
    if args.uvloop:
        import uvloop  # type: ignore[import-not-found,unused-ignore]

        uvloop.run(scenario)
    else:
        asyncio.run(scenario)


if __name__ == "__main__":
    main()
