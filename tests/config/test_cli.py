"""`switchboard check` and `switchboard schema`, through Typer and as the real command."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from switchboard.cli import app
from switchboard.config.check import load_checked
from switchboard.config.loader import ConfigError

CLEAN = """\
numbers:
  - {number: "100", scheme: main}
agents:
  - {id: "201", password: secret}
schemes:
  main:
    rules:
      - name: all
        steps:
          - play: greeting
          - queue: sales
queues:
  sales:
    members: ["201"]
"""


def console_script() -> str:
    """The installed `switchboard` command of this interpreter's environment."""
    beside = Path(sys.executable).with_name("switchboard")
    found = str(beside) if beside.is_file() else shutil.which("switchboard")
    assert found, "the switchboard console script is not installed (pip install -e .)"
    return found


def test_check_clean_file_exits_0(tmp_path: Path) -> None:
    path = tmp_path / "clean.yaml"
    path.write_text(CLEAN)
    result = CliRunner().invoke(app, ["check", str(path)])
    assert result.exit_code == 0, result.output
    assert result.output == f"{path}: ok\n"


def test_check_prints_one_line_per_problem_and_exits_1(tmp_path: Path) -> None:
    path = tmp_path / "typos.yaml"
    path.write_text(CLEAN.replace("scheme: main", "scheme: mian").replace("queue: sales",
                                                                          "queue: sale"))
    result = CliRunner().invoke(app, ["check", str(path)])
    assert result.exit_code == 1
    assert result.output.splitlines() == [
        f"{path}:2: number '100': unknown scheme 'mian'; did you mean 'main'?",
        f"{path}:11: scheme 'main' rule 'all': unknown queue 'sale'; did you mean 'sales'?",
    ]


def test_check_validation_error_exits_1(tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(CLEAN + "    strategy: fastest\n")
    result = CliRunner().invoke(app, ["check", str(path)])
    assert result.exit_code == 1
    assert result.output.startswith(f"{path}:15: queues.sales.strategy: 'fastest' is not allowed")
    assert len(result.output.splitlines()) == 1


def test_check_binary_file_is_a_clean_error(tmp_path: Path) -> None:
    path = tmp_path / "photo.yaml"
    path.write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR")
    result = CliRunner().invoke(app, ["check", str(path)])
    assert result.exit_code == 1
    assert result.exception is None or isinstance(result.exception, SystemExit)
    assert result.output == (
        f"{path}:1: the file is not UTF-8 text (byte 0x89); save it as UTF-8\n"
    )


def test_schema_command_prints_json_schema() -> None:
    result = CliRunner().invoke(app, ["schema"])
    assert result.exit_code == 0
    schema = json.loads(result.output)
    assert "numbers" in schema["properties"]
    assert schema["title"] == "switchboard configuration"


def test_real_console_script(tmp_path: Path) -> None:
    good, bad, empty = tmp_path / "good.yaml", tmp_path / "bad.yaml", tmp_path / "empty.yaml"
    good.write_text(CLEAN)
    bad.write_text(CLEAN.replace('id: "201"', 'id: "201", mobile: "12"'))
    empty.write_bytes(b"")
    command = console_script()

    ran = subprocess.run([command, "check", str(good)], capture_output=True, text=True,
                         timeout=60, check=False)
    assert (ran.returncode, ran.stdout, ran.stderr) == (0, f"{good}: ok\n", "")

    ran = subprocess.run([command, "check", str(bad)], capture_output=True, text=True,
                         timeout=60, check=False)
    assert ran.returncode == 1
    assert ran.stdout.startswith(f"{bad}:4: agent '201' mobile '12' is not a phone number")
    assert ran.stderr == ""

    ran = subprocess.run([command, "check", str(empty)], capture_output=True, text=True,
                         timeout=60, check=False)
    assert ran.returncode == 1
    assert ran.stdout.startswith(f"{empty}:1: the file is empty")
    assert "Traceback" not in ran.stderr


def test_run_refuses_to_start_on_a_name_that_does_not_exist(tmp_path: Path) -> None:
    """An unknown ivr, queue, schedule... stops the start with check's line, instead of a
    KeyError when the first call reaches it."""
    path = tmp_path / "typo.yaml"
    menu = "- ivr: mian\nivr:\n  main: {prompt: ivr_main, options: {1: [hangup: true]}}"
    path.write_text(CLEAN.replace("- queue: sales", menu))
    ran = subprocess.run([console_script(), "run", "--config", str(path), "--sip-port", "0"],
                         capture_output=True, text=True, timeout=30, check=False)
    assert (ran.returncode, ran.stdout) == (1, "")
    assert ran.stderr == f"{path}:11: scheme 'main' rule 'all': unknown ivr 'mian'; did you " \
        "mean 'main'?\n"


def test_load_checked_raises_errors_and_returns_warnings(tmp_path: Path) -> None:
    path = tmp_path / "c.yaml"
    # Line 10: an unknown prompt (an error); line 12: unreachable after hangup (a warning).
    path.write_text(CLEAN.replace("- play: greeting", "- play: greting\n          - hangup: true"))
    with pytest.raises(ConfigError) as raised:
        load_checked(path)
    assert [(p.line, p.severity) for p in raised.value.problems] == [(10, "error")]
    path.write_text(CLEAN.replace("- play: greeting", "- hangup: true"))
    config, warnings = load_checked(path)
    assert config.queues["sales"].members[0].agent == "201"
    assert [(p.line, p.severity) for p in warnings] == [(11, "warning")]
    assert str(warnings[0]).startswith(f"{path}:11: scheme 'main' rule 'all': unreachable step")
