"""Helpers for end-to-end tests: run ``switchboard run`` and SIPp processes on 127.0.0.1."""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from pathlib import Path

from ..ports import free_udp_port, reserved_ports

SCENARIOS = Path(__file__).parent / "scenarios"


def sipp_binary() -> str:
    """SIPp (Debian ``sip-tester``): .ci/run installs it; a test without it must fail loudly."""
    found = shutil.which("sipp")
    if found is None:
        raise RuntimeError("sipp is not installed: apt-get install sip-tester (.ci/run does)")
    return found


# SIPp's -mp: it binds that port and the next three (audio and video RTP and RTCP). A port
# from free_udp_port() said nothing of its neighbours: once the third was switchboard's own
# SIP port (SIPp exit 254, EADDRINUSE). Above SIPp's default media search (from 6000), below
# the benchmarks' media ports (8000 up).
MEDIA_PORTS = range(7000, 8000, 4)


def free_media_port() -> int:
    """A base port for SIPp's ``-mp`` with it and the next three free."""
    return reserved_ports(MEDIA_PORTS, 4)


def options_ok(port: int, timeout: float = 0.3) -> bool:
    """True when a SIP OPTIONS to 127.0.0.1:port is answered 200."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        s.settimeout(timeout)
        me = s.getsockname()[1]
        s.sendto((
            f"OPTIONS sip:127.0.0.1:{port} SIP/2.0\r\n"
            f"Via: SIP/2.0/UDP 127.0.0.1:{me};branch=z9hG4bK-probe{time.monotonic_ns()}\r\n"
            "Max-Forwards: 70\r\nFrom: <sip:probe@127.0.0.1>;tag=p\r\n"
            f"To: <sip:127.0.0.1:{port}>\r\nCall-ID: probe-{me}@127.0.0.1\r\n"
            "CSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n").encode(), ("127.0.0.1", port))
        try:
            data = s.recv(65535)
        except OSError:
            return False
        return data.startswith(b"SIP/2.0 200")


@contextlib.contextmanager
def switchboard(config: Path | None = None, rtp: tuple[int, int] | None = None,
                data: Path | None = None) -> Iterator[tuple[int, subprocess.Popen[str]]]:
    """``switchboard run`` as a real process; yields its SIP port. Stopped by its PID.
    ``data``: its ``--data`` folder (recordings, voicemail)."""
    port = free_udp_port()
    args = [sys.executable, "-m", "switchboard.cli", "run", "--sip-port", str(port)]
    if config is not None:
        args += ["--config", str(config)]
    if data is not None:
        args += ["--data", str(data)]
    proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            env={**os.environ, "PYTHONUNBUFFERED": "1"})
    try:
        deadline = time.monotonic() + 20
        while not options_ok(port):
            if proc.poll() is not None or time.monotonic() > deadline:
                proc.kill()
                out = proc.communicate(timeout=10)[0]
                raise RuntimeError(f"switchboard did not start: {out}")
        yield port, proc
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)


def sipp(*args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    """Run SIPp in the background mode-less way (-bg is not used: we wait for it)."""
    cmd = [sipp_binary(), *args, "-nostdin", "-timeout", f"{int(timeout)}s", "-timeout_error"]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout + 10)


def start_sipp(*args: str, timeout: float = 60) -> subprocess.Popen[str]:
    cmd = [sipp_binary(), *args, "-nostdin", "-timeout", f"{int(timeout)}s", "-timeout_error"]
    return subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


DEMO_PASSWORDS = {"201": "demo-201-secret", "202": "demo-202-secret", "203": "demo-203-secret"}


def register(agent: str, server_port: int, contact_port: int, password: str | None = None,
             expect: int = 200) -> None:
    """REGISTER ``agent`` (digest with ``password``, the demo's by default) from a SIPp
    process, contact at ``contact_port``; the final answer must be ``expect``."""
    password = password if password is not None else DEMO_PASSWORDS[agent]
    template = (SCENARIOS / "register.xml").read_text()
    with tempfile.NamedTemporaryFile("w", suffix=".xml", delete=False) as scenario:
        scenario.write(template.replace("__FINAL__", str(expect)))
    try:
        result = sipp(f"127.0.0.1:{server_port}", "-sf", scenario.name, "-s", agent,
                      "-au", agent, "-ap", password, "-key", "contact_port", str(contact_port),
                      "-m", "1", "-i", "127.0.0.1", "-p", str(free_udp_port()),
                      # A free media port of its own: SIPp's default search from 6000 fails
                      # when other work on the machine holds those ports.
                      "-mp", str(free_media_port()), timeout=15)
    finally:
        os.unlink(scenario.name)
    assert result.returncode == 0, f"REGISTER: {result.stdout[-2000:]}\n{result.stderr}"


# --------------------------------------------------------------------------- added for issue 3
# Agents, callers and the trunk's far end as SIPp processes whose <log> actions (scenarios
# agent_*.xml, caller*.xml) record what happened and when (``events``); configs written for
# one test; the server's own shutdown as a check that no dialog was left open.

# A config with no agents, numbers or queues of its own: tests fill in the rest. Calls from
# 127.0.0.1 come "from the trunk"; outbound legs to numbers go to ``trunk_port``.
BASE_CONFIG = """\
timezone: UTC
country: UA
language: en
trunks:
  - name: network
    host: 127.0.0.1
    port: {trunk_port}
    inbound_from: [127.0.0.1]
"""


def write_config(tmp: Path, body: str, trunk_port: int = 5060) -> Path:
    """``BASE_CONFIG`` plus ``body`` (YAML) as ``tmp/switchboard.yaml``; checked by pydantic."""
    from switchboard.config.loader import load_config

    path = tmp / "switchboard.yaml"
    path.write_text(BASE_CONFIG.format(trunk_port=trunk_port) + body)
    load_config(path)  # a broken test config fails here, not as a server that did not start
    return path


def start_agent(scenario: str, port: int, log: Path, *args: str,
                timeout: float = 30) -> subprocess.Popen[str]:
    """A SIPp UAS on 127.0.0.1:``port`` playing ``scenarios/<scenario>``; events in ``log``."""
    return start_sipp("-sf", str(SCENARIOS / scenario), "-i", "127.0.0.1", "-p", str(port),
                      "-trace_logs", "-log_file", str(log), *args, timeout=timeout)


def start_caller(server_port: int, number: str, caller: str, log: Path, hold_ms: int,
                 *args: str, timeout: float = 30, scenario: str = "caller.xml",
                 ) -> subprocess.Popen[str]:
    """A SIPp caller (``caller.xml``): From ``caller``, to ``number``, BYE ``hold_ms`` after
    the 200 (``caller_waits.xml``: until the server's BYE). One call unless ``args`` say
    otherwise (``-m``, ``-r``, ``-l``, ``-lost``)."""
    if "-m" not in args:
        args = ("-m", "1", *args)
    return start_sipp(f"127.0.0.1:{server_port}", "-sf", str(SCENARIOS / scenario),
                      "-s", number, "-key", "caller", caller, "-d", str(hold_ms),
                      "-i", "127.0.0.1", "-p", str(free_udp_port()),
                      "-trace_logs", "-log_file", str(log), *args, timeout=timeout)


def finished(proc: subprocess.Popen[str], name: str, timeout: float = 30) -> None:
    """Wait for a SIPp process (killed by its PID after ``timeout``); assert it succeeded."""
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        out, err = proc.communicate(timeout=10)
        raise AssertionError(f"{name}: SIPp still running after {timeout} s\n{out[-3000:]}"
                             ) from None
    assert proc.returncode == 0, f"{name}: SIPp exit {proc.returncode}\n{out[-3000:]}\n{err}"


def stop(*procs: subprocess.Popen[str]) -> None:
    """Kill SIPp processes this test started that are still running (by PID)."""
    for proc in procs:
        if proc.poll() is None:
            proc.kill()
            proc.communicate(timeout=10)


_STAMP = re.compile(r"at=\S+\t\S+\t(\d+\.\d+)")  # SIPp's [timestamp]: date, time, UNIX time


def events(log: Path, event: str | None = None) -> list[dict[str, str]]:
    """The ``key=value`` lines a scenario's <log> actions wrote; ``at`` is UNIX time."""
    if not log.exists():
        return []
    out = []
    for line in log.read_text(errors="replace").splitlines():
        fields = dict(f.split("=", 1) for f in _STAMP.sub(r"at=\1", line).split() if "=" in f)
        if "event" in fields and (event is None or fields["event"] == event):
            out.append(fields)
    return out


def wait_for(log: Path, event: str, count: int, timeout: float) -> list[dict[str, str]]:
    """Poll ``log`` until it holds ``count`` lines of ``event``; those lines."""
    deadline = time.monotonic() + timeout
    while True:
        found = events(log, event)
        if len(found) >= count or time.monotonic() > deadline:
            assert len(found) >= count, f"{count} x {event} expected in {timeout} s: {found}"
            return found
        time.sleep(0.05)


def agents_yaml(*ids: str, **mobiles: str) -> str:
    """An ``agents:`` section: each agent's password is ``password_of(id)``; ``mobiles``
    maps ``a<id>`` to the agent's mobile number."""
    lines = ["agents:"]
    for agent in ids:
        mobile = mobiles.get(f"a{agent}")
        extra = f', mobile: "{mobile}"' if mobile else ""
        lines.append(f'  - {{id: "{agent}", password: {password_of(agent)}{extra}}}')
    return "\n".join(lines) + "\n"


def queue_yaml(queue: str = "", *, number: str = "", steps: str = "",
               members: Sequence[str] = ("201",)) -> str:
    """Number 100 -> scheme ``support`` (one rule: ``steps``, then the queue) -> queue
    ``support`` of ``members``: the config most calls in these tests go through. ``number``:
    more keys of the number (``", record: true"``); ``steps``: steps before the queue (YAML
    list lines); ``queue``: more lines of the queue (indented four spaces)."""
    listed = ", ".join(f'"{m}"' for m in members)
    return f"""\
numbers:
  - {{number: "100", scheme: support{number}}}
schemes:
  support:
    rules:
      - name: everyone
        steps:
{steps}          - queue: support
queues:
  support:
    members: [{listed}]
{queue}"""


def relayed(output: str) -> tuple[list[tuple[int, int]], list[tuple[int, int]]]:
    """Packets relayed in and out per media leg, from the server's log (``media X: N packets
    in (R relayed), ...``): the callers' legs, then the agents' (leg ids with ``-L``)."""
    legs = re.findall(r"media (\S+): \d+ packets in \((\d+) relayed\), \d+ out "
                      r"\((\d+) relayed\)", output)
    callers = [(int(i), int(o)) for name, i, o in legs if "-L" not in name]
    agents = [(int(i), int(o)) for name, i, o in legs if "-L" in name]
    return callers, agents


def password_of(agent: str) -> str:
    """The digest password of an agent in configs from ``agents_yaml``."""
    return f"e2e-{agent}-secret"


def register_agent(agent: str, server_port: int, contact_port: int) -> None:
    """REGISTER (with digest) an agent of a config from ``agents_yaml``."""
    register(agent, server_port, contact_port, password=password_of(agent))


def expect_refusal(server_port: int, number: str, code: int, tmp: Path) -> None:
    """One INVITE to ``number`` that must get the final answer ``code`` (uac_refused.xml)."""
    scenario = tmp / f"uac_refused_{code}.xml"
    scenario.write_text((SCENARIOS / "uac_refused.xml").read_text().replace("__CODE__",
                                                                            str(code)))
    result = sipp(f"127.0.0.1:{server_port}", "-sf", str(scenario), "-s", number,
                  "-i", "127.0.0.1", "-p", str(free_udp_port()), "-m", "1", timeout=15)
    assert result.returncode == 0, f"expected {code}: {result.stdout[-2000:]}\n{result.stderr}"


def drains_at_once(proc: subprocess.Popen[str], within: float = 3.0) -> str:
    """SIGTERM the server: with no call left open it stops within ``within`` seconds (a
    dialog still open keeps a draining server up for DRAIN_SECONDS). Its output."""
    proc.terminate()
    try:
        proc.wait(within)
    except subprocess.TimeoutExpired:
        proc.kill()
        out = proc.communicate(timeout=10)[0] or ""
        raise AssertionError(f"switchboard still draining open dialogs after {within} s "
                             f"(a hung call?)\n{out[-3000:]}") from None
    out = proc.communicate(timeout=10)[0] or ""
    assert proc.returncode == 0, f"switchboard exit {proc.returncode}\n{out[-3000:]}"
    assert "Traceback" not in out, out[-5000:]
    return out
