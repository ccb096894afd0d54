"""Real-time tests on a shared machine: tell the code's own lateness from the machine's.

A test of pacing (a prompt's packets every 20 ms, a recording that stops 0.6 s after the
voice) measures the code and the machine together. When the machine takes the CPU away from
this process (another process, a virtual machine's stolen time), packets are late and the
test fails although the code is right.

``switchboard.stalls.Stalls`` tells such a stall of the machine from lateness of the code
(see its docstring).

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
from collections.abc import Callable
from typing import ParamSpec, TypeVar

from switchboard.stalls import Stalls

P = ParamSpec("P")
T = TypeVar("T")


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
