"""The stall watcher of the real-time tests: a stopped process stalls, a busy one does not."""

from __future__ import annotations

import gc
import os
import re
import subprocess
import sys
import time

import pytest

from .realtime import Stalls, realtime

# A separate process stops this one (SIGSTOP, as a hypervisor or a busy machine would take the
# CPU away) and lets it go on 100 ms later; it always sends SIGCONT, even when interrupted.
FREEZER = """
import os, signal, sys, time
pid = int(sys.argv[1])
os.kill(pid, signal.SIGSTOP)
try:
    time.sleep(0.1)
finally:
    os.kill(pid, signal.SIGCONT)
"""


def freeze_me() -> None:
    subprocess.run([sys.executable, "-c", FREEZER, str(os.getpid())], check=True, timeout=10)
    time.sleep(0.01)  # the watcher notes its late wake-up


def test_a_stopped_process_is_a_stall() -> None:
    with Stalls() as stalls:
        time.sleep(0.02)
        freeze_me()
    assert len(stalls.seen) >= 1
    assert stalls.longest >= 0.08 and stalls.total >= stalls.longest
    assert "stall(s) of the machine" in str(stalls)


def test_a_busy_or_blocked_loop_is_not_a_stall() -> None:
    # The machine may really stall during one look; it does not do so three times running,
    # while a watcher that took the GIL's hand-overs for stalls would see them every time.
    looks = []
    for _ in range(3):
        with Stalls() as stalls:
            end = time.monotonic() + 0.2
            while time.monotonic() < end:  # busy in Python: the GIL is handed over every 5 ms
                pass
            time.sleep(0.1)  # blocked, as the player tests block their event loop
        looks.append(stalls.seen)
        if not stalls.seen:
            break
    assert [] in looks, looks
    assert str(Stalls()) == "no stall"


def test_a_failure_without_a_stall_fails_at_once() -> None:
    calls = []

    @realtime(attempts=3)
    def late_by_itself() -> None:
        calls.append(1)
        raise AssertionError("late")

    with pytest.raises(AssertionError, match="late") as failure:
        late_by_itself()
    assert len(calls) == 1
    assert "attempt 1 of 3, no stall" in "".join(failure.value.__notes__)


def test_a_failure_during_a_stall_is_run_again() -> None:
    calls = []

    @realtime(attempts=3)
    def late_when_frozen(value: int) -> int:
        calls.append(value)
        if len(calls) == 1:
            freeze_me()
            raise AssertionError("late")
        return value

    assert late_when_frozen(7) == 7
    assert calls == [7, 7]


def test_stalls_on_every_attempt_fail_the_test() -> None:
    calls = []

    @realtime(attempts=2)
    def always_frozen() -> None:
        calls.append(1)
        freeze_me()
        raise AssertionError("late")

    with pytest.raises(AssertionError, match="late") as failure:
        always_frozen()
    assert len(calls) == 2
    assert re.search(r"attempt 2 of 2, \d+ stall", "".join(failure.value.__notes__))


def test_the_heap_left_by_earlier_tests_is_frozen_during_the_test() -> None:
    leftovers = [[n] for n in range(10_000)]  # what earlier tests left behind
    frozen_before = gc.get_freeze_count()

    @realtime()
    def look() -> int:
        return gc.get_freeze_count()

    assert look() >= frozen_before + len(leftovers)  # not scanned by the test's collections
    assert gc.get_freeze_count() == frozen_before  # and given back afterwards
