"""switchboard's simulator against a bare SimPy M/M/c, on the same scenario, in one run.

    python benchmarks/bench_sim.py [--calls 100000] [--agents 50] [--erlangs 45]
                                   [--handle 180] [--seed 1]

Prints calls per wall-clock second for both, their ratio (``ratio: X`` = switchboard /
SimPy) and both mean waits beside the Erlang C value. The switchboard side is the full
routing core (rules, queue, ring strategy, KPIs) driven by the simulator; the scenario is
configured so that it is exactly M/M/c: one number, one rule, one queue, no prompts, no
whisper, agents who answer at once, callers who never hang up.
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.progress import Progress
from rich.table import Table

sys.path.insert(0, str(Path(__file__).resolve().parent))  # run from anywhere

from simpy_mmc import batch_ci95, run_simpy

from switchboard.config.model import Config
from switchboard.sim.erlang import erlang_c_mean_wait


def mmc_config(agents: int, erlangs: float, handle: float, calls: int) -> Config:
    """The M/M/c scenario as a switchboard config (built in code, validated like a file)."""
    calls_per_hour = erlangs / handle * 3600
    # Enough simulated days for ``calls`` arrivals, plus one so max_calls is what stops them.
    days = min(366, math.ceil(calls / (calls_per_hour * 24)) + 1)
    members = [f"{1000 + i}" for i in range(agents)]
    return Config.model_validate(
        {
            "numbers": [{"number": "100", "scheme": "main"}],
            "agents": [{"id": agent} for agent in members],
            "schemes": {"main": {"rules": [{"name": "all", "steps": [{"queue": "q"}]}]}},
            "queues": {
                "q": {
                    "strategy": "longest_idle",
                    "members": members,
                    "whisper": {"wait_time": False, "number_name": False},
                    "announce": None,
                    "adverts": None,
                    "wrapup": 0,
                    "retry": 0,
                    "ring_timeout": 86_400,  # agents answer at once; never time a ring out
                }
            },
            "simulation": {
                "days": days,
                "max_calls": calls,
                "traffic": [
                    {
                        "number": "100",
                        "calls_per_hour": calls_per_hour,
                        "handling": {"kind": "exponential", "mean": handle},
                        "patience": None,  # M/M/c: nobody hangs up while waiting
                        "repeat_callers": 0,
                    }
                ],
                "agents": {"answer_delay": {"kind": "fixed", "mean": 0}, "no_answer": 0},
            },
        }
    )


def run_switchboard(config: Config, seed: int, console: Console) -> dict[str, Any]:
    """Run the simulator once; the same figures as ``run_simpy``."""
    from switchboard.sim.simulator import run_simulation

    with Progress(console=console, transient=True) as bar:
        task = bar.add_task("switchboard", total=1.0)
        started = time.perf_counter()
        result = run_simulation(config, seed, lambda done: bar.update(task, completed=done))
        wall = time.perf_counter() - started
    kpis = result.kpis
    calls = int(kpis.get("calls") or 0)
    waits = [call.wait for call in sorted(result.calls, key=lambda call: call.arrived)]
    return {
        "calls": calls,
        "mean_wait": kpis.get("mean_wait"),
        "wait_ci95": batch_ci95(waits),
        "wall_seconds": wall,
        "calls_per_second": calls / wall if wall > 0 else math.inf,
        "answered": kpis.get("answered"),
        "events_per_second": kpis.get("events_per_second"),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=100_000)
    parser.add_argument("--agents", type=int, default=50)
    parser.add_argument("--erlangs", type=float, default=45.0)
    parser.add_argument("--handle", type=float, default=180.0, help="mean handling time, s")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args(argv)
    if not 0 < args.erlangs < args.agents:
        parser.error("need 0 < erlangs < agents for a stable M/M/c queue")

    console = Console() if sys.stdout.isatty() else Console(width=100)  # no wrapping in logs
    rate = args.erlangs / args.handle
    erlang_c = erlang_c_mean_wait(rate, args.handle, args.agents)
    config = mmc_config(args.agents, args.erlangs, args.handle, args.calls)
    console.print(
        f"M/M/c: {args.agents} agents, {args.erlangs:g} Erlangs ({rate * 3600:.0f} calls/h), "
        f"mean handling {args.handle:g} s, {args.calls:,} calls, seed {args.seed}"
    )
    ours = run_switchboard(config, args.seed, console)
    peer = run_simpy(args.agents, rate, args.handle, args.calls, args.seed)

    table = Table(title="switchboard simulator vs SimPy M/M/c")
    headers = ("model", "calls", "wall s", "calls/s", "mean wait s", "± 95 %", "Erlang C s")
    for column in headers:
        table.add_column(column, justify="left" if column == "model" else "right")
    for name, run in (("switchboard", ours), ("SimPy M/M/c", peer)):
        wait = run["mean_wait"]
        table.add_row(
            name,
            f"{run['calls']:,}",
            f"{run['wall_seconds']:.2f}",
            f"{run['calls_per_second']:,.0f}",
            "-" if wait is None else f"{wait:.2f}",
            f"{run['wait_ci95']:.2f}",
            f"{erlang_c:.2f}",
        )
    console.print(table)
    if ours["calls"] != args.calls or ours["answered"] != args.calls:
        console.print(f"[yellow]switchboard answered {ours['answered']} of {ours['calls']} calls")
    ratio = ours["calls_per_second"] / peer["calls_per_second"]
    print(f"ratio: {ratio:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
