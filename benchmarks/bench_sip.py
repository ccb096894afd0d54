"""switchboard on SIP against a minimal sippy B2BUA, under SIPp load at rising rates, in one run.

    python benchmarks/bench_sip.py [--rates 20,50,100,150,200,250,300,400,500] [--seconds 6]
                                   [--talk 200] [--agents 200] [--targets switchboard,sippy]
                                   [--uvloop] [--keep]

Both servers are started as processes on 127.0.0.1 and see the same SIPp caller
(``sip_scenarios/caller_uac.xml``: INVITE, ACK, then wait for the far end's BYE) and the same
SIPp far end (``sip_scenarios/agent_uas.xml``: answer at once, talk ``--talk`` ms, hang up).

- switchboard: ``switchboard run`` with a config written to a temporary folder: one number ->
  one queue (longest idle, wrap-up 0, no whisper, announcements or other prompts) whose
  ``--agents`` members all register (digest, ``sip_scenarios/register.xml``) with the one
  agent SIPp as their Contact. The full path: the caller is answered and queued (music on
  hold starts), an agent is rung and answers, the legs are bridged (the in-process RTP relay
  allocates and joins ports for both), the agent's BYE reaches the core, which hangs up the
  caller.
- sippy: ``sippy_b2bua.py``, every INVITE relayed to the agent SIPp; the BYE relayed back.

Each rate runs ``rate x --seconds`` calls. A call is successful when the caller got the BYE
(within 8 s of the answer); a step passes when every call succeeded on both SIPp sides (so
every call reached the far end and was hung up through the server). Rising stops at the
first failing step. Prints a table per step, then ``switchboard: N cps (server CPU ...)``,
``sippy: M cps (...)`` and ``ratio: X``: the highest passing rates and switchboard / sippy.
Then the same for steps that also had no SIP retransmission: the server answered everything
within T1 (500 ms), so it kept pace instead of working off a backlog after the step; that
is the capacity to compare. CPU is the server process's user + system time over the step
(from /proc), as a share of one core and per call. ``switchboard run`` uses uvloop when it
is installed (DESIGN.md); ``--uvloop`` installs it before the CLI starts (the same loop, kept
for older runs' command lines). ``--keep`` keeps the logs.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import re
import resource
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from xml.etree import ElementTree

from rich.console import Console
from rich.table import Table

HERE = Path(__file__).resolve().parent
SCENARIOS = HERE / "sip_scenarios"
HOST = "127.0.0.1"
BUFFER = str(4 * 1024 * 1024)  # SIPp's socket buffers, like the servers' (DESIGN.md)
BYE_TIMEOUT_MS = 8000  # a caller with no BYE this long after its answer has failed
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


# ---------------------------------------------------------------------------- processes


def free_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind((HOST, 0))
        return int(s.getsockname()[1])


def options_ok(port: int, timeout: float = 0.3) -> bool:
    """True when an OPTIONS to HOST:port gets any final answer (the server is up)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind((HOST, 0))
        s.settimeout(timeout)
        me = s.getsockname()[1]
        s.sendto(
            (
                f"OPTIONS sip:{HOST}:{port} SIP/2.0\r\n"
                f"Via: SIP/2.0/UDP {HOST}:{me};branch=z9hG4bK-bench{time.monotonic_ns()}\r\n"
                f"Max-Forwards: 70\r\nFrom: <sip:probe@{HOST}>;tag=p\r\n"
                f"To: <sip:{HOST}:{port}>\r\nCall-ID: bench-{me}-{time.monotonic_ns()}@{HOST}\r\n"
                "CSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n"
            ).encode(),
            (HOST, port),
        )
        try:
            data = s.recv(65535)
        except OSError:
            return False
        return data.startswith(b"SIP/2.0 2")


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a running process, all its threads."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS  # utime, stime


def children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def stop(proc: subprocess.Popen[bytes]) -> None:
    """Stop a process this script started, by its PID: SIGTERM, then SIGKILL."""
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(8)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)


@contextlib.contextmanager
def server(args: list[str], port: int, log: Path) -> Iterator[subprocess.Popen[bytes]]:
    """A server under test, up when it answers OPTIONS; its output goes to ``log``."""
    with log.open("wb") as out:
        proc = subprocess.Popen(
            args, stdout=out, stderr=subprocess.STDOUT, env={**os.environ, "PYTHONUNBUFFERED": "1"}
        )
    try:
        deadline = time.monotonic() + 30
        while not options_ok(port):
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"{args[1]} did not start:\n{log.read_text()[-3000:]}")
            time.sleep(0.1)
        yield proc
    finally:
        stop(proc)


def sipp_args(*args: str) -> list[str]:
    found = shutil.which("sipp")
    if found is None:
        raise SystemExit("sipp is not installed: apt-get install sip-tester")
    return [found, *args, "-i", HOST, "-nostdin", "-buff_size", BUFFER, "-mp", str(free_udp_port())]


def sipp_version() -> str:
    out = subprocess.run([sipp_args()[0], "-v"], capture_output=True, text=True).stdout
    found = re.search(r"SIPp v[\w.]+", out)
    return found.group(0) if found else "SIPp"


# ---------------------------------------------------------------------------- SIPp stats


@dataclass
class SippStats:
    """The cumulative counters of a SIPp ``-trace_stat`` file (its last complete record)."""

    values: dict[str, str] = field(default_factory=dict)

    def count(self, name: str) -> int:
        return int(self.values.get(f"{name}(C)", "0") or 0)

    def millis(self, name: str) -> float:
        """A cumulative time column (``HH:MM:SS:micros``) in milliseconds."""
        raw = self.values.get(f"{name}(C)", "")
        parts = raw.split(":")
        if len(parts) != 4:
            return float("nan")
        h, m, s, us = (int(p) for p in parts)
        return ((h * 60 + m) * 60 + s) * 1000 + us / 1000

    @property
    def done(self) -> int:
        return self.count("SuccessfulCall") + self.count("FailedCall")

    def failures(self) -> dict[str, int]:
        """Failed calls by SIPp's reason, only the non-zero ones."""
        out = {}
        for key in self.values:
            if key.startswith("Failed") and key.endswith("(C)") and key != "FailedCall(C)":
                n = int(self.values[key] or 0)
                if n:
                    out[key[len("Failed") : -3]] = n
        return out


def read_stats(path: Path) -> SippStats:
    """Parse the last complete record. SIPp appends a record every -fd seconds and one at
    exit, and may cut a record short when it exits: every record starts with the start time,
    so split on that and keep the last one with every column."""
    if not path.exists():
        return SippStats()
    text = path.read_text(errors="replace")
    header, _, body = text.partition("\n")
    columns = [c for c in header.strip().split(";") if c]
    if not body:
        return SippStats()
    start = body.split(";", 1)[0]
    for record in reversed([r for r in body.split(start + ";") if r.strip()]):
        values = [start, *record.replace("\n", "").split(";")]
        if len(values) >= len(columns):
            return SippStats(dict(zip(columns, values, strict=False)))
    return SippStats()


# ---------------------------------------------------------------------------- one target


@dataclass
class Step:
    rate: int
    calls: int
    ok: int
    failed: int
    far_end_ok: int
    far_end_failed: int
    retransmissions: int
    setup_ms: float
    bye_ms: float  # INVITE -> BYE at the caller, less the talk time
    wall_s: float
    server_cpu_s: float
    load_cpu_s: float  # the SIPp caller and far end, for comparison
    reasons: dict[str, int]
    detail: str = ""  # what the SIPp sides logged about failed calls, the commonest

    @property
    def passed(self) -> bool:
        """Zero failed calls: every call reached the far end and was hung up through."""
        return (
            self.failed == 0
            and self.ok == self.calls
            and self.far_end_failed == 0
            and self.far_end_ok == self.calls
        )

    @property
    def kept_pace(self) -> bool:
        """Passed with no retransmission: the server answered every request within
        T1 (500 ms), so it was not falling behind."""
        return self.passed and self.retransmissions == 0


def benchmark_config(agents: list[tuple[str, str]]) -> str:
    """One number -> one queue served by every agent: no greeting, announcements, adverts,
    whisper or wrap-up. Music on hold plays while a caller waits for the agent to answer, as
    by default (``music: null`` would switch it off)."""
    lines = [
        "# Written by benchmarks/bench_sip.py: the full path with nothing slowing it down.",
        "numbers:",
        '  - number: "100"',
        "    scheme: bench",
        "trunks:",
        "  - name: sipp",
        f"    host: {HOST}",
        f"    inbound_from: [{HOST}]",
        "agents:",
    ]
    for agent_id, password in agents:
        lines += [f'  - id: "{agent_id}"', f"    password: {password}"]
    lines += [
        "schemes:",
        "  bench:",
        "    rules:",
        "      - name: everyone",
        "        steps:",
        "          - queue: q",
        "queues:",
        "  q:",
        "    strategy: longest_idle",
        "    members: [" + ", ".join(f'"{a}"' for a, _ in agents) + "]",
        "    ring_timeout: 15",
        "    retry: 0",
        "    wrapup: 0",
        "    whisper: {wait_time: false, number_name: false}",
        "missed:",
        "  crm_task: false",
    ]
    return "\n".join(lines) + "\n"


def register_agents(
    agents: list[tuple[str, str]], server_port: int, contact_port: int, work: Path
) -> None:
    table = work / "agents.csv"
    table.write_text(
        "SEQUENTIAL\n"
        + "".join(f"{a};[authentication username={a} password={p}]\n" for a, p in agents)
    )
    result = subprocess.run(
        sipp_args(
            f"{HOST}:{server_port}", "-sf", str(SCENARIOS / "register.xml"), "-inf", str(table),
            "-key", "contact_port", str(contact_port), "-m", str(len(agents)), "-r", "100",
            "-p", str(free_udp_port()), "-timeout", "60s", "-timeout_error",
        ),
        capture_output=True,
        text=True,
        timeout=90,
    )  # fmt: skip
    if result.returncode != 0:
        raise RuntimeError(f"agents did not register:\n{result.stdout[-3000:]}{result.stderr}")


def wait_for_far_end(stats_file: Path, expected: int, limit: float) -> SippStats:
    """The far end's counters once it has finished ``expected`` calls (or ``limit`` s)."""
    deadline = time.monotonic() + limit
    while True:
        stats = read_stats(stats_file)
        if stats.done >= expected or time.monotonic() > deadline:
            return stats
        time.sleep(0.25)


def run_target(
    name: str,
    rates: list[int],
    seconds: float,
    talk_ms: int,
    agents: int,
    work: Path,
    console: Console,
    uvloop: bool = False,
) -> list[Step]:
    """Start the far end and the server, then run the caller at each rate until one fails."""
    work.mkdir(parents=True, exist_ok=True)
    port, far_port = free_udp_port(), free_udp_port()
    far_stats = work / "far_end.csv"
    budget = int(len(rates) * (seconds + 40) + 120)  # the far end stops by itself after this
    far_xml = work / "agent_uas.xml"
    far_xml.write_text((SCENARIOS / "agent_uas.xml").read_text().replace("__TALK__", str(talk_ms)))
    far = subprocess.Popen(
        sipp_args(
            "-sf", str(far_xml), "-p", str(far_port), "-trace_stat", "-stf", str(far_stats),
            "-fd", "1", "-timeout", f"{budget}s",
            "-trace_err", "-error_file", str(work / "far_end_errors.log"),
        ),
        stdout=subprocess.DEVNULL,
        stderr=(work / "far_end.err").open("wb"),
    )  # fmt: skip
    time.sleep(0.5)
    if far.poll() is not None:  # a scenario SIPp refuses, a port taken: say so, do not time out
        raise RuntimeError(f"the far-end SIPp stopped: {(work / 'far_end.err').read_text()}")
    accounts = [(f"{7000 + i}", f"bench-{7000 + i}-secret") for i in range(agents)]
    if name == "switchboard":
        config = work / "bench.yaml"
        config.write_text(benchmark_config(accounts))
        start = (
            ["-c", "import uvloop; uvloop.install(); from switchboard.cli import app; app()"]
            if uvloop
            else ["-m", "switchboard.cli"]
        )
        args = [
            sys.executable, *start, "run", "--config", str(config), "--sip-port", str(port),
            "--host", HOST, "--data", str(work / "data"),
        ]  # fmt: skip
    else:
        args = [
            sys.executable, str(HERE / "sippy_b2bua.py"), "--host", HOST, "--port", str(port),
            "--uas", f"{HOST}:{far_port}",
        ]  # fmt: skip
    steps: list[Step] = []
    try:
        with server(args, port, work / "server.log") as proc:
            if name == "switchboard":
                register_agents(accounts, port, far_port, work)
            caller_xml = work / "caller_uac.xml"
            caller_xml.write_text(
                (SCENARIOS / "caller_uac.xml")
                .read_text()
                .replace("__BYE_TIMEOUT__", str(BYE_TIMEOUT_MS))
            )
            for rate in rates:
                calls = max(1, round(rate * seconds))
                step = run_step(
                    rate, calls, talk_ms, port, proc.pid, far.pid, far_stats, caller_xml, work
                )
                steps.append(step)
                verdict = "[green]ok[/]" if step.passed else "[red]failed[/]"
                console.print(
                    f"  {name} {rate:>4} cps x {calls}: {step.ok}/{calls} {verdict}"
                    f", server CPU {step.server_cpu_s / step.wall_s:.0%}"
                )
                if not step.passed:
                    break
                time.sleep(1)  # a breather: the last step's stragglers settle
    finally:
        stop(far)
    return steps


def run_step(
    rate: int,
    calls: int,
    talk_ms: int,
    port: int,
    server_pid: int,
    far_pid: int,
    far_stats: Path,
    caller_xml: Path,
    work: Path,
) -> Step:
    before = wait_for_far_end(far_stats, 0, 0)
    far_errors = far_stats.with_name("far_end_errors.log")
    far_offset = far_errors.stat().st_size if far_errors.exists() else 0
    stats_file = work / f"caller_{rate}.csv"
    limit = int(calls / rate + talk_ms / 1000 + BYE_TIMEOUT_MS / 1000 + 20)
    cpu0, far0, load0, t0 = (
        cpu_seconds(server_pid),
        cpu_seconds(far_pid),
        children_cpu(),
        time.monotonic(),
    )
    errors = work / f"caller_{rate}.err"
    subprocess.run(
        sipp_args(
            f"{HOST}:{port}", "-sf", str(caller_xml), "-s", "100", "-p", str(free_udp_port()),
            *f"-r {rate} -rp 1000 -m {calls} -l {max(100, rate * 30)} -fd 1".split(),
            "-trace_stat", "-stf", str(stats_file), "-trace_err", "-error_file", str(errors),
            "-timeout", f"{limit}s", "-timeout_error",
        ),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        timeout=limit + 15,
    )  # fmt: skip
    wall = time.monotonic() - t0
    cpu = cpu_seconds(server_pid) - cpu0
    load = children_cpu() - load0 + cpu_seconds(far_pid) - far0
    caller = read_stats(stats_file)
    after = wait_for_far_end(far_stats, before.done + calls, 3)
    ok = caller.count("SuccessfulCall")
    reasons = caller.failures()
    for reason, n in after.failures().items():
        n -= before.failures().get(reason, 0)
        if n:
            reasons[f"far end {reason}"] = n
    return Step(
        rate=rate,
        calls=calls,
        ok=ok,
        failed=caller.count("FailedCall"),
        far_end_ok=after.count("SuccessfulCall") - before.count("SuccessfulCall"),
        far_end_failed=after.count("FailedCall") - before.count("FailedCall"),
        retransmissions=caller.count("Retransmissions")
        + after.count("Retransmissions")
        - before.count("Retransmissions"),
        setup_ms=caller.millis("ResponseTimesetup"),
        bye_ms=caller.millis("ResponseTimetotal") - talk_ms,
        wall_s=wall,
        server_cpu_s=cpu,
        load_cpu_s=load,
        reasons=reasons,
        detail="; ".join(
            part
            for part in (
                error_summary(errors, scenario_steps(caller_xml)),
                error_summary(
                    far_errors, scenario_steps(far_stats.with_name("agent_uas.xml")), far_offset
                ).replace("at ", "far end at "),
            )
            if part
        ),
    )


def scenario_steps(xml: Path) -> list[str]:
    """What each step of a SIPp scenario does ("recv BYE", "send ACK"), by SIPp's index."""
    steps = []
    for element in ElementTree.parse(xml).getroot():
        if element.tag == "recv":
            what = f"recv {element.get('request') or element.get('response')}"
            steps.append("talk" if element.get("ontimeout") else what)
        elif element.tag == "send":
            words = (element.text or "").split()
            steps.append(f"send {words[1] if words[:1] == ['SIP/2.0'] else words[0]}")
        elif element.tag in ("pause", "nop", "sendCmd", "recvCmd"):
            steps.append(element.tag)
    return steps


def error_summary(path: Path, steps: list[str], offset: int = 0, top: int = 1) -> str:
    """The commonest failures in a SIPp -trace_err file (from ``offset`` on): at which
    step of the scenario, and what arrived instead of what was expected."""
    if not path.exists():
        return ""
    with path.open("rb") as log:
        log.seek(offset)
        text = log.read().decode(errors="replace")

    def step(index: str) -> str:
        return steps[int(index)] if int(index) < len(steps) else f"step {index}"

    found = Counter(
        f"at {step(m[0])} got {m[1].strip()[:28]!r}"
        for m in re.findall(r"\(index (\d+)\), received '([^\n]*)", text)
    )
    found.update(
        f"timeout at {step(m)}"
        for m in re.findall(r"timeout on message [^\n]*?:(\d+) without label", text)
    )
    return "; ".join(f"{what} ({n})" for what, n in found.most_common(top))


# ---------------------------------------------------------------------------- report


def best_rate(steps: list[Step], strict: bool = False) -> int:
    return max((s.rate for s in steps if (s.kept_pace if strict else s.passed)), default=0)


def report(results: dict[str, list[Step]], talk_ms: int, console: Console) -> None:
    table = Table(
        title=f"SIPp callers -> server -> SIPp far end (talk {talk_ms} ms; SIPp sends no RTP)"
    )
    for column in (
        "server",
        "cps",
        "calls",
        "ok",
        "failed",
        "far end ok",
        "retrans",
        "setup ms",
        "BYE ms",
        "server CPU",
        "CPU ms/call",
        "SIPp CPU",
        "why",
    ):
        table.add_column(column, justify="left" if column in ("server", "why") else "right")
    for name, steps in results.items():
        for s in steps:
            why = ", ".join(
                [*(f"{k} {v}" for k, v in s.reasons.items()), *([s.detail] if s.detail else [])]
            )
            if s.ok + s.failed < s.calls:
                why = (why + ", " if why else "") + f"{s.calls - s.ok - s.failed} unfinished"
            table.add_row(
                name,
                str(s.rate),
                f"{s.calls:,}",
                f"{s.ok:,}",
                f"[red]{s.failed}[/]" if s.failed else "0",
                f"{s.far_end_ok:,}",
                f"{s.retransmissions:,}",
                f"{s.setup_ms:.1f}",
                f"{s.bye_ms:.1f}",
                f"{s.server_cpu_s / s.wall_s:.0%}",
                f"{1000 * s.server_cpu_s / s.calls:.2f}",
                f"{s.load_cpu_s / s.wall_s:.0%}",
                why,
            )
    console.print(table)
    rates = {name: best_rate(steps) for name, steps in results.items()}
    strict = {name: best_rate(steps, strict=True) for name, steps in results.items()}
    for name, rate in rates.items():
        top = max(results[name], key=lambda s: s.rate)
        note = ", the highest rate tried" if top.passed and top.rate == rate else ""
        at = next((s for s in results[name] if s.rate == rate), None)
        cpu = (
            f" (server CPU {at.server_cpu_s / at.wall_s:.0%} of a core,"
            f" {1000 * at.server_cpu_s / at.calls:.2f} ms per call{note})"
            if at is not None
            else ""
        )
        print(f"{name}: {rate} cps{cpu}")
    if "switchboard" in rates and "sippy" in rates:
        print(f"ratio: {ratio(rates)}")
        print(
            "with no retransmission either: "
            + ", ".join(f"{name} {rate} cps" for name, rate in strict.items())
            + f", ratio {ratio(strict)}"
        )


def ratio(rates: dict[str, int]) -> str:
    return f"{rates['switchboard'] / rates['sippy']:.2f}" if rates["sippy"] else "n/a"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--rates",
        default="20,50,100,150,200,250,300,400,500",
        help="calls per second to try, rising",
    )
    parser.add_argument("--seconds", type=float, default=6, help="each rate lasts this long")
    parser.add_argument("--talk", type=int, default=200, help="ms the far end talks")
    parser.add_argument("--agents", type=int, default=200, help="registered agents")
    parser.add_argument("--uvloop", action="store_true", help="switchboard on uvloop")
    parser.add_argument("--targets", default="switchboard,sippy")
    parser.add_argument("--keep", action="store_true", help="keep the work folder (logs)")
    args = parser.parse_args()
    rates = sorted(int(r) for r in args.rates.split(","))
    if "sippy" in args.targets.split(","):
        try:
            metadata.version("sippy")
        except metadata.PackageNotFoundError:
            raise SystemExit("the peer needs sippy: pip install sippy") from None
    console = Console()
    if not console.is_terminal:
        console.width = 150  # a pipe or a file: keep the table readable
    work = Path(tempfile.mkdtemp(prefix="bench_sip_"))
    console.print(
        f"sippy {metadata.version('sippy')}, {sipp_version()}, python {sys.version.split()[0]}, "
        f"{os.cpu_count()} cores, load average {os.getloadavg()[0]:.2f} at the start"
    )
    results: dict[str, list[Step]] = {}
    try:
        for name in args.targets.split(","):
            console.print(f"[bold]{name}[/]")
            results[name] = run_target(
                name, rates, args.seconds, args.talk, args.agents, work / name, console, args.uvloop
            )
            log = (work / name / "server.log").read_text(errors="replace")
            problems = len(re.findall(r"Traceback|ERROR|exception", log))
            if problems:
                console.print(
                    f"  {name}'s log has {problems} error lines"
                    f" (--keep keeps {work / name / 'server.log'})"
                )
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
        else:
            console.print(f"work folder: {work}")
    report(results, args.talk, console)
    console.print(f"load average {os.getloadavg()[0]:.2f} at the end")


if __name__ == "__main__":
    main()
