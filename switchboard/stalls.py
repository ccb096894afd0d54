"""Stalls of the machine, told from the program's own slowness.

When the machine takes the CPU away from a process (other processes, a virtual machine's
stolen time), everything the process paces (RTP every 20 ms) comes late although the code is
right. ``Stalls`` watches from a thread: it sleeps 2 ms at a time and notes each wake-up that
came late *while the process got little CPU*. A loop that is busy in Python or blocked in a
system call is not counted: the thread still runs (the GIL is handed over every 5 ms), and a
busy loop uses the CPU.

The real-time tests (tests/realtime.py) run a test again when it failed during a stall;
benchmarks/bench_media.py reports the stalls of the media engine's process.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field

TICK = 0.002  # seconds the watcher sleeps between looks
STALL = 0.015  # a wake-up this late, with the process mostly off the CPU, is a stall
CPU_SHARE = 0.5  # "mostly off": it got less than this share of the late interval as CPU


@dataclass(frozen=True)
class Stall:
    at: float  # time.monotonic() when the watcher woke up
    seconds: float  # how late it woke up
    cpu: float  # CPU seconds this process got meanwhile (all threads)


@dataclass
class Stalls:
    """Machine stalls seen while it runs (``with Stalls() as stalls: ...``, or start/stop)."""

    seen: list[Stall] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def start(self) -> Stalls:
        self._stop.clear()
        self._thread = threading.Thread(target=self._watch, name="stall-watch", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
            self._thread = None

    def __enter__(self) -> Stalls:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def longest(self) -> float:
        """The longest stall seen, seconds (0 when none)."""
        return max((s.seconds for s in self.seen), default=0.0)

    @property
    def total(self) -> float:
        """Seconds lost to stalls, in all."""
        return sum(s.seconds for s in self.seen)

    def _watch(self) -> None:
        wall, cpu = time.monotonic(), time.process_time()
        while not self._stop.wait(TICK):
            now, used = time.monotonic(), time.process_time()
            late = now - wall - TICK
            if late >= STALL and used - cpu < CPU_SHARE * (now - wall):
                self.seen.append(Stall(now, late, used - cpu))
            wall, cpu = now, used

    def __str__(self) -> str:
        if not self.seen:
            return "no stall"
        return f"{len(self.seen)} stall(s) of the machine, the longest {1000 * self.longest:.0f} ms"
