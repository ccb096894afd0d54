"""Ports for the tests' peers, from ranges below the kernel's ephemeral ports.

A port from ``free_udp_port()`` (bind to port 0, close) is free at that instant only: until
its user binds it, any socket of the suite bound to port 0 may be handed it, and it says
nothing of the ports next to it. Ports a test must hold across such a gap (a DTMF log port
bound again by every test) or in blocks (SIPp's ``-mp`` binds that port and the next three)
come from here: no socket bound to port 0 lands below the ephemeral range.
"""

from __future__ import annotations

import itertools
import socket
from pathlib import Path

LOCALHOST = "127.0.0.1"
_turns: dict[range, itertools.count[int]] = {}


def free_udp_port() -> int:
    """A UDP port free now (the kernel's choice for port 0): for a peer that binds it at once."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        probe.bind((LOCALHOST, 0))
        return int(probe.getsockname()[1])


def reserved_ports(block: range, width: int = 1) -> int:
    """The first of ``width`` consecutive free UDP ports in ``block``, which must lie below
    the ephemeral range; each call in this process moves on to the next free block."""
    low = int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    assert block.stop + width <= low, f"{block} overlaps the ephemeral ports from {low}"
    turn = _turns.setdefault(block, itertools.count())
    for _ in block:
        first = block[next(turn) % len(block)]
        probes: list[socket.socket] = []
        try:
            for port in range(first, first + width):
                probe = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
                probes.append(probe)
                probe.bind((LOCALHOST, port))
        except OSError:
            continue
        finally:
            for probe in probes:
                probe.close()
        return first
    raise AssertionError(f"no {width} free UDP ports together in {block}")
