"""``switchboard simulate``: load a config, run the simulator, show and write the KPIs."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

from rich import box
from rich.console import Console
from rich.progress import BarColumn, Progress, TaskProgressColumn, TextColumn, TimeElapsedColumn
from rich.table import Table

from switchboard.config.check import load_checked
from switchboard.config.loader import ConfigError, demo_config_path
from switchboard.sim.kpi import UNDER_ANNOUNCED_BY
from switchboard.sim.simulator import SimulationError, run_simulation


def simulate_command(
    config_path: Path | None,
    seed: int,
    json_out: Path | None,
    report_out: Path | None,
    days: int | None,
) -> int:
    """Run one simulation; returns the exit code (0 ok, 1 bad config or a failed run)."""
    err = Console(stderr=True)
    out = Console()
    path = config_path or demo_config_path()
    try:
        config, warnings = load_checked(path)
    except ConfigError as exc:
        for problem in exc.problems:
            err.print(str(problem), markup=False, highlight=False, soft_wrap=True)
        return 1
    for warning in warnings:
        err.print(f"warning: {warning}", markup=False, highlight=False, soft_wrap=True)
    if days is not None:
        if not 1 <= days <= 366:
            err.print(f"--days {days}: give 1 to 366 days", markup=False, soft_wrap=True)
            return 1
        simulation = config.simulation.model_copy(update={"days": days})
        config = config.model_copy(update={"simulation": simulation})

    label = str(config_path) if config_path is not None else "demo"
    with Progress(
        TextColumn("simulating"),
        BarColumn(),
        TaskProgressColumn(),
        TimeElapsedColumn(),
        console=err,
        transient=True,
    ) as bar:
        task = bar.add_task("simulate", total=1.0)
        try:
            result = run_simulation(
                config, seed, lambda done: bar.update(task, completed=done), label=label
            )
        except SimulationError as exc:
            err.print(f"simulation failed: {exc}", markup=False, soft_wrap=True)
            return 1
    kpis = result.kpis

    out.print(_summary(kpis, label, seed))
    if kpis["per_queue"]:
        out.print(_queue_table(kpis["per_queue"]))
    if kpis.get("warnings"):
        for what, count in kpis["warnings"].items():
            err.print(f"warning: {what} (x{count})", markup=False, soft_wrap=True)
    written = True
    if json_out is not None:
        text = json.dumps(_finite(kpis), indent=2, ensure_ascii=False) + "\n"
        written &= _write(json_out, text, "KPIs", out, err)
    if report_out is not None:
        from switchboard.sim.report import render_report

        title = f"Simulation of {config_path.name if config_path else 'the demo'}"
        written &= _write(report_out, render_report(kpis, title), "report", out, err)
    return 0 if written else 1


def _write(path: Path, text: str, what: str, out: Console, err: Console) -> bool:
    try:
        path.write_text(text, encoding="utf-8")
    except OSError as exc:
        err.print(f"cannot write the {what} to {path}: {exc.strerror or exc}", markup=False,
                  soft_wrap=True)
        return False
    out.print(f"{what} written to {path}", markup=False)
    return True


def _summary(k: dict[str, Any], label: str, seed: int) -> Table:
    calls = k["calls"] or 0

    def share(key: str) -> str:
        return f"{k[key]}  ({k[key] / calls:.1%})" if calls else str(k[key])

    table = Table(title=f"{label}, seed {seed}, {k['days']} day(s) from {k['start']}")
    table.add_column("KPI")
    table.add_column("value", justify="right")
    rows = [
        ("calls", str(calls)),
        ("answered", share("answered")),
        ("abandoned", share("abandoned")),
        ("missed", share("missed")),
        ("rejected", share("rejected")),
        ("completed by the IVR", share("completed")),
        ("lost (not called back)", str(k["lost"])),
        ("callbacks connected", str(k["callbacks"])),
        ("voicemails", str(k["voicemails"])),
        ("channel exhausted", str(k["channel_exhausted"])),
        (f"service level ({k['service_level_target']:g} s)", _pct(k["service_level"])),
        ("ASA", _secs(k["asa"])),
        ("mean wait", _secs(k["mean_wait"])),
        ("p90 wait", _secs(k["p90_wait"])),
        ("occupancy", _pct(k["occupancy"])),
    ]
    for name, acc in k["eta_accuracy"].items():
        if acc["n"]:
            rows.append((f"ETA error, {name}", f"{_secs(acc['mae'])}  (n={acc['n']})"))
            rows.append((f"ETA under-announced > {UNDER_ANNOUNCED_BY:g} s, {name}",
                         f"{_pct(acc['under_announced'])}  (of {acc['callers']} callers)"))
    rows.append(("speed", f"{k['events_per_second']:,.0f} events/s, "
                          f"{k['calls_per_second']:,.0f} calls/s" if k["events_per_second"]
                 else "-"))
    for name, value in rows:
        table.add_row(name, value)
    return table


def _queue_table(per_queue: dict[str, dict[str, Any]]) -> Table:
    table = Table(title="per queue", box=box.SIMPLE_HEAD, pad_edge=False, collapse_padding=True)
    for column in ("queue", "calls", "answered", "abandoned", "timeout", "SL", "ASA", "wait",
                   "p90"):
        table.add_column(column, justify="left" if column == "queue" else "right",
                         min_width=len(column))
    for name, q in per_queue.items():
        table.add_row(
            name, str(q["calls"]), str(q["answered"]), str(q["abandoned"]), str(q["timeout"]),
            _pct(q["service_level"]), _secs(q["asa"]), _secs(q["mean_wait"]),
            _secs(q["p90_wait"]),
        )
    return table


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{value:.1%}"


def _secs(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f} s"


def _finite(value: Any) -> Any:
    """JSON has no inf/nan: write them as null."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_finite(v) for v in value]
    return value
