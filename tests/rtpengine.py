"""An rtpengine daemon started by a test (not by switchboard), stopped by its PID."""

from __future__ import annotations

import os
import socket
import subprocess
import time
from pathlib import Path

from switchboard.media.ng import bdecode
from switchboard.media.rtpengine_daemon import RtpEngineDaemon

from .ports import free_udp_port, reserved_ports

__all__ = ["LOCALHOST", "RunningRtpEngine", "control_udp_port", "free_udp_port", "ng"]

LOCALHOST = "127.0.0.1"


# The control ports of the test daemons (NG and DTMF log): the DTMF log port is bound again
# by every test's engine and free in between (from the ephemeral range, a socket of the suite
# bound to port 0 once took it: EADDRINUSE in CI).
CONTROL_PORTS = range(31900, 32000)


def control_udp_port() -> int:
    """A free port of CONTROL_PORTS, a different one at each call in this process."""
    return reserved_ports(CONTROL_PORTS)


def ng(address: tuple[str, int], command: bytes) -> dict[str, object]:
    """One NG request (a fresh cookie each time: rtpengine answers a known one from cache)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.settimeout(1.0)
        sock.sendto(os.urandom(6).hex().encode() + b" " + command, address)
        answer = bdecode(sock.recv(65535).partition(b" ")[2])
    assert isinstance(answer, dict)
    return answer


class RunningRtpEngine:
    """rtpengine in userspace mode with switchboard's command line (``RtpEngineDaemon``), its
    NG socket, DTMF log destination and recording folder of the test's choosing."""

    def __init__(self, base: Path, port_range: tuple[int, int],
                 ng_at: tuple[str, int] | None = None,
                 dtmf_at: tuple[str, int] | None = None) -> None:
        self.ng = ng_at or (LOCALHOST, control_udp_port())
        self.dtmf = dtmf_at or (LOCALHOST, control_udp_port())
        self.recordings = base / "spool"
        self.recordings.mkdir(parents=True)
        log_path = base / "rtpengine.log"
        daemon = RtpEngineDaemon(interface=LOCALHOST, port_range=port_range,
                                 dtmf_dest=self.dtmf, recording_dir=self.recordings,
                                 log_path=log_path)
        with log_path.open("wb") as log:
            self.proc = subprocess.Popen(daemon.command(self.ng[1]), stdout=log, stderr=log)
        deadline = time.monotonic() + 10
        while True:
            try:
                if ng(self.ng, b"d7:command4:pinge").get("result") == b"pong":
                    break
            except TimeoutError:
                assert self.proc.poll() is None, log_path.read_text()
                if time.monotonic() > deadline:
                    self.stop()
                    raise AssertionError("rtpengine did not answer") from None

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(5)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(5)
