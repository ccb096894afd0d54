"""Count the work code does instead of timing it: tests of algorithmic blow-ups that the
machine's speed and load cannot flake.

Performance is measured in ``benchmarks/``; a unit test that guards against a blow-up (a
crafted input that costs quadratic time: denial of service) asserts how the *amount of work*
grows with the input, which is the same on every machine and under any load.

``count_work`` runs an action and counts, exactly:

- ``instructions``: Python bytecode instructions executed (``sys.settrace`` with
  ``frame.f_trace_opcodes``): a loop in Python over a growing buffer shows here;
- ``calls``: calls made, to Python functions and to C ones (builtins, methods of ``str``,
  ``bytes``, compiled patterns; ``sys.setprofile``): a C call made once per byte shows here;
- ``allocated`` (with ``allocations=True``): bytes allocated, as the growth of
  ``tracemalloc``'s traced memory over each instruction, summed (a temporary freed within
  the instruction that made it is not seen): copying a growing string or buffer over and
  over (``s = s + piece``) shows here, though each copy is one instruction.

What none of them sees is the work inside one C call: ``bytes.find`` over a long buffer is
one call whatever its length, and so is a regular expression that backtracks. Where that is
the risk, the test counts the bytes those calls are given (``tests/sip/test_fuzz.py``'s
framer test). Counts of code that caches (``functools.lru_cache``) depend on what ran
before: warm the caches first, or bound the counts loosely.
"""

from __future__ import annotations

import sys
import tracemalloc
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from types import FrameType
from typing import Any, TypeVar

T = TypeVar("T")

#: How much more work an input twice (four times) as large may cost: linear growth plus room
#: for the constant part's share changing and for amortised resizing. A quadratic cost
#: grows 4x (16x).
DOUBLE = 2.3
QUADRUPLE = 4.6


@dataclass(frozen=True, slots=True)
class Work:
    """What ``count_work`` counted while an action ran."""

    instructions: int  # Python bytecode instructions executed
    calls: int  # calls of Python functions and of C functions and methods
    allocated: int = 0  # bytes allocated, when counted (``allocations=True``)

    @property
    def steps(self) -> int:
        """Instructions and calls together: the work done in Python and the C calls made."""
        return self.instructions + self.calls


class TooMuchWork(AssertionError):
    """The action went past ``count_work``'s limit: a failed test."""


class _Enough(BaseException):
    """Raised inside the action to stop it at ``count_work``'s limit (not an ``Exception``,
    so that the code under test does not catch it)."""


def count_work(
    action: Callable[[], object], *, allocations: bool = False, limit: int | None = None
) -> Work:
    """Run ``action()`` (its exceptions pass through) and count the work it did.

    Tracing slows Python code down some 10 to 30 times (more with ``allocations``): count
    inputs of thousands of bytes, not megabytes. Past ``limit`` instructions the action is
    stopped and ``TooMuchWork`` raised, so that a blow-up fails its test at once instead of
    running for minutes under the tracer. Any tracer or profiler already installed
    (coverage) is suspended meanwhile.
    """
    instructions = calls = allocated = 0
    stop = limit if limit is not None else -1
    traced = tracemalloc.get_traced_memory
    last = 0

    def local(frame: FrameType, event: str, arg: Any) -> Any:
        nonlocal instructions
        if event == "opcode":
            instructions += 1
            if instructions == stop:
                raise _Enough
        return local

    def local_allocating(frame: FrameType, event: str, arg: Any) -> Any:
        nonlocal instructions, allocated, last
        if event == "opcode":
            instructions += 1
            if instructions == stop:
                raise _Enough
            now = traced()[0]
            if now > last:
                allocated += now - last
            last = now
        return local_allocating

    tracer = local_allocating if allocations else local

    def trace(frame: FrameType, event: str, arg: Any) -> Any:
        frame.f_trace_lines = False
        frame.f_trace_opcodes = True
        return tracer

    def profile(frame: FrameType, event: str, arg: Any) -> None:
        nonlocal calls
        if event == "call" or event == "c_call":
            calls += 1

    started = allocations and not tracemalloc.is_tracing()
    if started:
        tracemalloc.start()
    old_trace, old_profile = sys.gettrace(), sys.getprofile()
    try:
        last = traced()[0]
        sys.setprofile(profile)
        sys.settrace(trace)
        try:
            action()
        except _Enough:
            raise TooMuchWork(f"stopped after {limit:,} instructions ({calls:,} calls)") from None
        finally:
            sys.settrace(old_trace)
            sys.setprofile(old_profile)
    finally:
        if started:
            tracemalloc.stop()
    return Work(instructions, calls, allocated)


def growth(cost: Callable[[int], T], n: int) -> tuple[T, T, T]:
    """``cost`` at sizes ``n``, ``2n`` and ``4n``."""
    return cost(n), cost(2 * n), cost(4 * n)


def is_linear(costs: Sequence[int]) -> bool:
    """Whether costs at sizes n, 2n, 4n (``growth``) grow no faster than linearly."""
    base, double, quadruple = costs
    return base > 0 and double <= DOUBLE * base and quadruple <= QUADRUPLE * base
