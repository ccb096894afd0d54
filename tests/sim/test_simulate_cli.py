"""``switchboard simulate``: the demo by default, JSON and HTML out, clear config errors."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from switchboard.cli import app

CONTRACT = {
    "calls", "answered", "abandoned", "missed", "lost", "callbacks", "service_level", "asa",
    "mean_wait", "p90_wait", "per_queue", "events_per_second",
}

SMALL = """\
timezone: Europe/Kyiv
numbers:
  - {number: "100", scheme: s}
agents:
  - {id: "201"}
  - {id: "202"}
schemes:
  s:
    rules:
      - name: all
        steps:
          - queue: q
queues:
  q:
    members: ["201", "202"]
simulation:
  start: 2026-11-23
  traffic:
    - {number: "100", calls_per_hour: {10: 20, 11: 20}, handling: {mean: 120}}
"""


def test_demo_by_default_writes_json_and_report(tmp_path: Path) -> None:
    out, report = tmp_path / "kpis.json", tmp_path / "report.html"
    result = CliRunner().invoke(
        app, ["simulate", "--seed", "3", "--json", str(out), "--report", str(report)]
    )
    assert result.exit_code == 0, result.output
    assert "service level" in result.stdout and "shop" in result.stdout  # the tables
    kpis = json.loads(out.read_text())
    assert set(kpis) >= CONTRACT
    assert kpis["seed"] == 3 and kpis["config"] == "demo" and kpis["calls"] > 100
    assert kpis["per_queue"]["shop"]["calls"] > 0
    page = report.read_text(encoding="utf-8")
    assert page.startswith("<!DOCTYPE html>") and "</html>" in page


def test_config_file_and_days_override(tmp_path: Path) -> None:
    config = tmp_path / "small.yaml"
    config.write_text(SMALL)
    out = tmp_path / "kpis.json"
    args = ["simulate", "--config", str(config), "--days", "3", "--json", str(out)]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    kpis = json.loads(out.read_text())
    assert kpis["days"] == 3 and len(kpis["per_hour"]) == 3 * 24
    assert {h["day"] for h in kpis["per_hour"] if h["calls"]} == {0, 1, 2}
    # Same seed, same figures: the JSON of a second run matches except the timings.
    again = tmp_path / "again.json"
    CliRunner().invoke(app, [*args[:-1], str(again)])
    assert _without_timings(json.loads(again.read_text())) == _without_timings(kpis)


def _without_timings(kpis: dict[str, object]) -> dict[str, object]:
    volatile = {"wall_seconds", "events_per_second", "calls_per_second"}
    return {k: v for k, v in kpis.items() if k not in volatile}


def test_bad_config_prints_file_line_problems_and_fails(tmp_path: Path) -> None:
    config = tmp_path / "bad.yaml"
    config.write_text(SMALL.replace("members: [", "strategy: nope\n    members: ["))
    result = CliRunner().invoke(app, ["simulate", "--config", str(config)])
    assert result.exit_code == 1
    assert f"{config}:15: queues.q.strategy" in result.output


def test_bad_days_fails() -> None:
    result = CliRunner().invoke(app, ["simulate", "--days", "0"])
    assert result.exit_code == 1
    assert "--days" in result.output


def test_a_name_that_does_not_exist_stops_the_simulation_at_load(tmp_path: Path) -> None:
    config = tmp_path / "typo.yaml"
    menu = "- ivr: mian\nivr:\n  main: {prompt: ivr_main, options: {1: [hangup: true]}}"
    config.write_text(SMALL.replace("- queue: q", menu))
    result = CliRunner().invoke(app, ["simulate", "--config", str(config)])
    assert result.exit_code == 1
    assert result.output == (
        f"{config}:12: scheme 's' rule 'all': unknown ivr 'mian'; did you mean 'main'?\n")


def test_a_lint_warning_is_shown_and_the_simulation_runs(tmp_path: Path) -> None:
    config = tmp_path / "dead_step.yaml"
    config.write_text(SMALL.replace("- queue: q", "- queue: q\n          - hangup: true"))
    result = CliRunner().invoke(app, ["simulate", "--config", str(config)])
    assert result.exit_code == 0, result.output
    assert result.stderr.startswith(
        f"warning: {config}:13: scheme 's' rule 'all': unreachable step: queue 'q' (line 12)")


def test_invalid_simulation_values_stop_the_simulation_at_load(tmp_path: Path) -> None:
    config = tmp_path / "hours.yaml"
    config.write_text(SMALL.replace("{10: 20, 11: 20}", "[" + ", ".join(["1"] * 23) + "]"))
    result = CliRunner().invoke(app, ["simulate", "--config", str(config)])
    assert result.exit_code == 1
    assert result.output.startswith(
        f"{config}:19: simulation.traffic[0].calls_per_hour: 23 values; give 24 values")
    assert "Traceback" not in result.output


def test_eta_figures_per_estimator_in_the_json_and_the_table(tmp_path: Path) -> None:
    config = tmp_path / "announce.yaml"
    config.write_text(SMALL.replace(  # one agent for 20 calls of 2 min an hour: callers wait
        '    members: ["201", "202"]\n',
        '    members: ["201"]\n    announce: {first_after: 5, every: 20}\n'))
    out = tmp_path / "kpis.json"
    result = CliRunner().invoke(app, ["simulate", "--config", str(config), "--json", str(out)])
    assert result.exit_code == 0, result.output
    eta = json.loads(out.read_text())["eta_accuracy"]
    for name in ("switchboard", "moving_average"):
        assert set(eta[name]) == {"mae", "bias", "n", "infinite", "callers", "under_announced"}
        assert eta[name]["callers"] > 0 and 0 <= eta[name]["under_announced"] <= 1
    assert "ETA under-announced > 30 s, switchboard" in result.stdout
