"""Real-time tests on a shared machine: tell the code's own lateness from the machine's.

A test of pacing (a prompt's packets every 20 ms, a recording that stops 0.6 s after the
voice) measures the code and the machine together. When the machine takes the CPU away from
this process (another process, a virtual machine's stolen time), packets are late and the
test fails although the code is right.

``Stalls`` watches from a thread: it sleeps 2 ms at a time and notes each wake-up that came
late *while the process got little CPU*. That is a stall of the machine, not of the code: a
loop busy in Python or blocked in a system call leaves the thread running (the GIL is handed
over every 5 ms), and a busy loop uses the CPU, so neither is counted.

``realtime()`` also collects and freezes the heap before the test (``gc.freeze``): a full
collection of what a thousand earlier tests left behind takes tens of milliseconds, a pause
that belongs to the test suite, not to the code under test. The test's own garbage is
collected as usual.

``realtime()`` runs a test again when it failed *and* the machine stalled during it, up to
``attempts`` times; a failure without a stall fails at once. So the test keeps failing on a
code that is late by itself, and a stall has to come back on every attempt to fail it.
"""

from __future__ import annotations

import functools
import gc
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import ParamSpec, TypeVar

P = ParamSpec("P")
T = TypeVar("T")

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
    """Machine stalls seen while it runs: ``with Stalls() as stalls: ...``."""

    seen: list[Stall] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def __enter__(self) -> Stalls:
        self._thread = threading.Thread(target=self._watch, name="stall-watch", daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()

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


def realtime(attempts: int = 3) -> Callable[[Callable[P, T]], Callable[P, T]]:
    """Run the decorated test again (up to ``attempts`` in all) only when it failed while the
    machine stalled; see the module's docstring."""

    def decorate(test: Callable[P, T]) -> Callable[P, T]:
        @functools.wraps(test)
        def run(*args: P.args, **kwargs: P.kwargs) -> T:
            for attempt in range(1, attempts + 1):
                # What earlier tests left on the heap is not this test's: collected and frozen,
                # so that a full collection during the test scans only the test's own objects.
                gc.collect()
                gc.freeze()
                try:
                    with Stalls() as stalls:
                        try:
                            return test(*args, **kwargs)
                        except (AssertionError, TimeoutError) as failure:
                            error = failure
                finally:
                    gc.unfreeze()
                if not stalls.seen or attempt == attempts:
                    error.add_note(f"realtime: attempt {attempt} of {attempts}, {stalls}")
                    raise error
                print(
                    f"realtime: {test.__name__} failed during {stalls}; run again",
                    file=sys.stderr,
                )
            raise AssertionError("unreachable")  # pragma: no cover

        return run

    return decorate
