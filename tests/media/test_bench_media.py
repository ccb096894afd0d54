"""benchmarks/bench_media.py --quick: both media drivers measured to the end, side by side, and
every process it starts (engine hosts, rtpengine daemons, phones) stopped, also on Ctrl-C.

No figure is asserted (this machine may be shared); the benchmark's own numbers go into
docs/performance.md.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytestmark = pytest.mark.timeout(240)

BENCH = Path(__file__).resolve().parents[2] / "benchmarks" / "bench_media.py"


def started_in(folder: Path) -> list[str]:
    """Processes still running that belong to a benchmark run in ``folder``: their command
    line names it (the rtpengine daemon's recording folder, the compiled phones) or it is
    their working directory (the engine hosts)."""
    found = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            command = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            cwd = os.readlink(proc / "cwd")
            state = (proc / "stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if state != "Z" and (str(folder) in command or cwd == str(folder)):
            found.append(f"{proc.name}: {command}")
    return found


def bench(folder: Path, *args: str) -> subprocess.Popen[str]:
    """The benchmark, run from ``folder`` with its work folder under it (TMPDIR)."""
    env = {**os.environ, "TMPDIR": str(folder), "PYTHONUNBUFFERED": "1"}
    env["PYTHONIOENCODING"] = "utf-8"
    return subprocess.Popen(
        [sys.executable, str(BENCH), *args],
        cwd=folder,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def test_the_quick_run_measures_both_drivers_in_both_scenarios(tmp_path: Path) -> None:
    run = bench(tmp_path, "--quick")
    try:
        out, _ = run.communicate(timeout=180)
    finally:
        if run.poll() is None:
            run.kill()
            run.wait()
    assert run.returncode == 0, out[-4000:]
    for driver in ("in-process", "rtpengine"):
        for scenario, legs in (("announcements", 20), ("bridged", 40)):
            line = re.search(
                rf"^ *{driver} {scenario} +N=20 +\({legs} legs\): (.*)$", out, re.MULTILINE
            )
            assert line, f"no {driver} {scenario} line in:\n{out}"
            for figure in ("% of a core", "ms/s per call", "late", "loss", "phones"):
                assert figure in line[1], line[0]
    # One table per scenario: N = 20 with both drivers' five figures and their ratio.
    rows = re.findall(r"^[│|] +20 [│|](.*)[│|]$", out, re.MULTILINE)
    assert len(rows) == 2, out
    for row in rows:
        cells = [cell.strip() for cell in re.split("[│|]", row)]
        assert len(cells) == 11 and all(cells), row
        assert re.fullmatch(r"\d+\.\d\d", cells[-1]), row  # in-process ÷ rtpengine
    for driver in ("in-process, 200", "rtpengine, 1,000"):
        assert f"target (issue 4): {driver} bridged calls" in out
    assert started_in(tmp_path) == []


def test_ctrl_c_stops_the_engine_the_rtpengine_daemon_and_the_phones(tmp_path: Path) -> None:
    run = bench(tmp_path, "--quick", "--inprocess", "", "--scenarios", "bridged", "--seconds", "30")
    try:
        deadline = time.monotonic() + 60
        while not any(p.split(": ", 1)[1].startswith("rtpengine ") for p in started_in(tmp_path)):
            assert run.poll() is None and time.monotonic() < deadline, run.communicate()[0]
            time.sleep(0.2)
        time.sleep(1.0)  # set up and sending
        run.send_signal(signal.SIGINT)
        out, _ = run.communicate(timeout=60)
    finally:
        if run.poll() is None:
            run.kill()
            run.wait()
    assert run.returncode == 130, out
    assert "interrupted" in out
    assert started_in(tmp_path) == []
