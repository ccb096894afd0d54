"""Quality gates that run with the tests: ruff on the code, ``mypy --strict`` on the core.

Both tools run as subprocesses of this interpreter (``python -m ruff``, ``python -m mypy``)
from the repository root, so they read the settings in ``pyproject.toml``. On failure the
tool's own output is the assertion message.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TOOL_TIMEOUT = 280  # seconds; below pytest-timeout's 300 so the tool's output is kept


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=TOOL_TIMEOUT,
        check=False,
    )


def _report(result: subprocess.CompletedProcess[str]) -> str:
    command = " ".join(str(a) for a in result.args[1:])
    return f"`{command}` exited {result.returncode}:\n{result.stdout}{result.stderr}"


def test_ruff_is_clean() -> None:
    # benchmarks/ may not exist yet in a fresh clone (git keeps no empty folders).
    paths = [p for p in ("switchboard", "tests", "benchmarks") if (ROOT / p).is_dir()]
    result = _run("ruff", "check", "--no-cache", *paths)
    assert result.returncode == 0, _report(result)


def test_core_passes_mypy_strict() -> None:
    result = _run("mypy", "--strict", "switchboard/core")
    assert result.returncode == 0, _report(result)
    assert "Success" in result.stdout, _report(result)
