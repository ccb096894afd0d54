"""A minimal, idiomatic SimPy M/M/c queue: the peer that ``bench_sim.py`` measures against.

One process per caller, one ``simpy.Resource`` with ``capacity=agents``, exponential
interarrival and handling times. It models nothing but the queue, so it is the floor a
full routing core has to match.
"""

from __future__ import annotations

import math
import random
import statistics
import time
from collections.abc import Generator, Sequence
from typing import Any

import simpy


def run_simpy(
    agents: int, rate: float, mean_handle: float, calls: int, seed: int
) -> dict[str, Any]:
    """Run ``calls`` callers (``rate`` per second) through ``agents`` servers.

    Returns ``calls``, ``mean_wait`` (seconds, over all callers, like the switchboard KPI),
    ``wait_ci95`` (its half-width, see ``batch_ci95``), ``wall_seconds`` and
    ``calls_per_second`` (simulated calls per wall-clock second).
    """
    rng = random.Random(seed)
    env = simpy.Environment()
    desk = simpy.Resource(env, capacity=agents)
    waits: list[float] = []

    def caller() -> Generator[simpy.Event, Any, None]:
        arrived = env.now
        with desk.request() as turn:
            yield turn
            waits.append(env.now - arrived)
            yield env.timeout(rng.expovariate(1 / mean_handle))

    def arrivals() -> Generator[simpy.Event, Any, None]:
        for _ in range(calls):
            yield env.timeout(rng.expovariate(rate))
            env.process(caller())

    env.process(arrivals())
    started = time.perf_counter()
    env.run()  # until the last caller has been served
    wall = time.perf_counter() - started
    return {
        "calls": len(waits),
        "mean_wait": sum(waits) / len(waits) if waits else 0.0,
        "wait_ci95": batch_ci95(waits),
        "wall_seconds": wall,
        "calls_per_second": len(waits) / wall if wall > 0 else float("inf"),
    }


def batch_ci95(waits: Sequence[float], batches: int = 20) -> float:
    """Half-width of a 95 % confidence interval of the mean wait, by batch means.

    Successive waits in a queue are strongly correlated (near 90 % load a busy spell lasts
    thousands of calls), so the naive standard error is far too small; the means of 20
    consecutive batches are nearly independent.
    """
    size = len(waits) // batches
    if size < 2:
        return math.inf
    means = [statistics.fmean(waits[i * size : (i + 1) * size]) for i in range(batches)]
    return 2.093 * statistics.stdev(means) / math.sqrt(batches)  # Student t, 19 d.f.


if __name__ == "__main__":  # quick look: python benchmarks/simpy_mmc.py
    print(run_simpy(agents=50, rate=45 / 180, mean_handle=180, calls=20_000, seed=1))
