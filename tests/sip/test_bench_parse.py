"""benchmarks/bench_sip_parse.py runs to the end: both parsers read the same values from every
message of a call (the benchmark refuses to time them otherwise) and a ratio is printed.

No figure is asserted (this machine may be shared); the numbers go into docs/performance.md.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[2] / "benchmarks" / "bench_sip_parse.py"


@pytest.mark.timeout(120)
def test_the_parse_benchmark_compares_like_with_like() -> None:
    ran = subprocess.run([sys.executable, str(BENCH), "--calls", "60", "--rounds", "1"],
                         capture_output=True, text=True, timeout=100, check=False)
    assert ran.returncode == 0, ran.stdout + ran.stderr
    assert "420 messages (60 calls)" in ran.stdout
    assert re.search(r"^ratio: \d+\.\d\d$", ran.stdout, re.M), ran.stdout


def test_the_benchmark_would_notice_a_disagreement() -> None:
    sys.path.insert(0, str(BENCH.parent))
    try:
        import bench_sip_parse as bench
    finally:
        sys.path.remove(str(BENCH.parent))
    messages = bench.one_call(7)
    assert len(messages) == 7
    for data in messages:
        assert bench.switchboard_reads(data) == bench.sippy_reads(data)
    invite = messages[0].replace(b";tag=7SIPpTag007", b";tag=other", 1)
    assert bench.switchboard_reads(invite)[1] == "other" != bench.sippy_reads(messages[0])[1]
