"""Helpers for end-to-end tests: run ``switchboard run`` and SIPp processes on 127.0.0.1."""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

SCENARIOS = Path(__file__).parent / "scenarios"


def sipp_binary() -> str:
    """SIPp (Debian ``sip-tester``): .ci/run installs it; a test without it must fail loudly."""
    found = shutil.which("sipp")
    if found is None:
        raise RuntimeError("sipp is not installed: apt-get install sip-tester (.ci/run does)")
    return found


def free_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


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
                ) -> Iterator[tuple[int, subprocess.Popen[str]]]:
    """``switchboard run`` as a real process; yields its SIP port. Stopped by its PID."""
    port = free_udp_port()
    args = [sys.executable, "-m", "switchboard.cli", "run", "--sip-port", str(port)]
    if config is not None:
        args += ["--config", str(config)]
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
                      "-m", "1", "-i", "127.0.0.1", "-p", str(free_udp_port()), timeout=15)
    finally:
        os.unlink(scenario.name)
    assert result.returncode == 0, f"REGISTER: {result.stdout[-2000:]}\n{result.stderr}"
