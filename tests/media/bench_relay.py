"""Measure the in-process relay: N bridged calls of 20 ms G.711 both ways over 127.0.0.1.

    python -m tests.media.bench_relay --calls 200 --seconds 10 [--uvloop]

(``--uvloop`` needs the ``uvloop`` package importable.)

The relay runs in this process; the phones (2 x N UDP sockets, one packet per 20 ms each)
run in a child process, so the relay's CPU time is its own. Prints the packets relayed, the
relay's CPU per packet and share of one core, lost packets, and the share of packets that
reached a phone more than 40 ms after the previous one of its stream (late).
Not a test (pytest does not collect it); the figures go into the report.
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
import time
from multiprocessing.connection import Connection

from switchboard.media.relay import RelayConfig, RtpRelay

PACKET_SPACING = 0.020
LATE_GAP = 0.040


def phones(conn: Connection, calls: int, seconds: float) -> None:
    """Child process: 2 x calls RTP streams sending every 20 ms and timing what comes back.

    All streams share one UDP socket (the relay does not care: each leg has its own port and
    latches onto the socket's address), so this process stays cheaper than the relay.
    """
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    for option in (socket.SO_RCVBUF, socket.SO_SNDBUF):
        sock.setsockopt(socket.SOL_SOCKET, option, 4 << 20)
    sock.bind(("127.0.0.1", 0))
    sock.setblocking(False)
    streams = 2 * calls
    conn.send([sock.getsockname()] * streams)
    legs: list[tuple[str, int]] = conn.recv()
    payload = bytes(156)
    received = [0] * streams
    last_arrival = [0.0] * streams
    late = behind = 0
    start = time.monotonic()
    ticks = int(seconds / PACKET_SPACING)
    tick = 0
    quiet_until = None
    while True:
        now = time.monotonic()
        if tick < ticks and now >= start + PACKET_SPACING * tick:
            if now - (start + PACKET_SPACING * tick) > PACKET_SPACING:
                behind += 1
            header = struct.pack("!BBHII", 0x80, 0, tick & 0xFFFF, 160 * tick, 1)
            for index in range(streams):
                sock.sendto(header + struct.pack("!I", index) + payload, legs[index])
            tick += 1
            continue
        if tick >= ticks and quiet_until is None:
            quiet_until = now + 0.5
        if quiet_until is not None and now >= quiet_until:
            break
        wake = start + PACKET_SPACING * tick if quiet_until is None else quiet_until
        wait = wake - now
        select.select([sock], [], [], max(wait, 0.0))
        while True:
            try:
                data = sock.recv(2048)
            except BlockingIOError:
                break
            arrival = time.monotonic()
            (origin,) = struct.unpack_from("!I", data, 12)
            if received[origin] and arrival - last_arrival[origin] > LATE_GAP:
                late += 1
            received[origin] += 1
            last_arrival[origin] = arrival
            if quiet_until is not None:
                quiet_until = arrival + 0.5
    conn.send(
        {
            "sent": ticks * streams,
            "received": sum(received),
            "late": late,
            "ticks": ticks,
            "ticks_behind": behind,
        }
    )


async def relay_calls(calls: int, seconds: float) -> None:
    config = RelayConfig(bind_ip="127.0.0.1", port_range=(36000, 39999))
    relay = RtpRelay(config, random.Random(1), lambda leg, key: None)
    parent, child = multiprocessing.Pipe()
    process = multiprocessing.get_context("spawn").Process(
        target=phones, args=(child, calls, seconds)
    )
    process.start()
    loop = asyncio.get_running_loop()
    addresses = await loop.run_in_executor(None, parent.recv)
    legs = []
    for index, (ip, port) in enumerate(addresses):
        legs.append(await relay.open_leg(str(index)))
        relay.set_remote(str(index), ip, port, 0)
    for index in range(0, len(addresses), 2):
        relay.bridge(str(index), str(index + 1))
    parent.send(legs)
    cpu_start = resource.getrusage(resource.RUSAGE_SELF)
    wall_start = time.monotonic()
    result = await loop.run_in_executor(None, parent.recv)
    wall = time.monotonic() - wall_start
    cpu_end = resource.getrusage(resource.RUSAGE_SELF)
    process.join(5)
    cpu = (cpu_end.ru_utime - cpu_start.ru_utime) + (cpu_end.ru_stime - cpu_start.ru_stime)
    relayed = sum(relay.stats(leg).packets_out for leg in relay.leg_ids)
    arrived = sum(relay.stats(leg).packets_in for leg in relay.leg_ids)
    await relay.close()
    print(f"loop: {type(loop).__module__}.{type(loop).__name__}")
    print(f"calls: {calls} bridged, {2 * calls} legs, {seconds:.0f} s of 20 ms packets both ways")
    print(f"packets relayed: {relayed} ({relayed / wall:,.0f}/s over {wall:.1f} s wall)")
    user = cpu_end.ru_utime - cpu_start.ru_utime
    print(f"relay CPU: {cpu:.2f} s = {100 * cpu / wall:.1f} % of one core ({user:.2f} s user)")
    print(f"packets the relay received: {arrived}")
    print(f"CPU per packet: {1e6 * cpu / max(relayed, 1):.1f} us")
    print(f"  -> about {relayed / max(cpu, 1e-9):,.0f} packets/s per core at 100 %")
    lost = result["sent"] - result["received"]
    print(f"phones: sent {result['sent']}, received {result['received']}, lost {lost}")
    print(f"phone ticks sent over 20 ms late: {result['ticks_behind']} of {result['ticks']}")
    share = result["late"] / max(result["received"], 1)
    print(f"late (gap > 40 ms at the phone): {result['late']} = {100 * share:.3f} %")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--calls", type=int, default=200)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--uvloop", action="store_true", help="run the relay on uvloop")
    args = parser.parse_args()
    if args.uvloop:
        import uvloop  # type: ignore[import-not-found,unused-ignore]

        uvloop.run(relay_calls(args.calls, args.seconds))
    else:
        asyncio.run(relay_calls(args.calls, args.seconds))


if __name__ == "__main__":
    main()
