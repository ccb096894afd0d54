"""Helpers for end-to-end tests with baresip (Debian ``baresip-core``), a real softphone.

baresip runs headless from a temporary config directory: SIP on 127.0.0.1 only, G.711, and
``aubridge`` for both sound source and player, so no sound card is needed. It writes its log
to a file that tests poll for what the phone saw (registered, call established, closed).
"""

from __future__ import annotations

import contextlib
import re
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

from .sipp import DEMO_PASSWORDS, free_udp_port

MODULES = Path("/usr/lib/baresip/modules")

# Lines of baresip 1.0's log (menu module and libre); the colour codes are stripped first.
CALL_ESTABLISHED = re.compile(r"Call established: (\S+)")
# libre reports a BYE from the other side as ECONNRESET.
CALL_CLOSED = re.compile(r"session closed: (.*)")
CLOSED_BY_PEER = "Connection reset by peer"

_ANSI = re.compile(r"\x1b\[[0-9;]*m")


def baresip_binary() -> str:
    """baresip (Debian ``baresip-core``): .ci/run installs it; a test without it must fail."""
    found = shutil.which("baresip")
    if found is None:
        raise RuntimeError("baresip is not installed: apt-get install baresip-core (.ci/run does)")
    return found


class Baresip:
    """A running baresip process and its log."""

    def __init__(self, proc: subprocess.Popen[bytes], log: Path, aor: str) -> None:
        self.proc = proc
        self.log = log
        self.aor = aor

    def output(self) -> str:
        """Everything baresip has logged so far, without colour codes."""
        return _ANSI.sub("", self.log.read_text(errors="replace"))

    def wait_for(
        self, pattern: re.Pattern[str], timeout: float, fail: re.Pattern[str] | None = None
    ) -> re.Match[str]:
        """Poll the log until ``pattern`` shows; raise with the log on ``fail``, exit or timeout."""
        deadline = time.monotonic() + timeout
        while True:
            out = self.output()
            found = pattern.search(out)
            if found is not None:
                return found
            failed = fail.search(out) if fail is not None else None
            if failed is not None:
                raise AssertionError(f"baresip: {failed.group(0)!r}\n{out[-4000:]}")
            if self.proc.poll() is not None:
                raise AssertionError(
                    f"baresip exited ({self.proc.returncode}) before "
                    f"{pattern.pattern!r}:\n{out[-4000:]}"
                )
            if time.monotonic() > deadline:
                raise AssertionError(
                    f"baresip: no {pattern.pattern!r} within {timeout} s:\n{out[-4000:]}"
                )
            time.sleep(0.05)

    def wait_registered(self, timeout: float = 10) -> None:
        """Until the registrar answered 200; a 3xx-6xx or a client error fails at once.

        "Register: Function not implemented" is libre 1.x (Debian 12) giving up on a 401 in
        which any challenge names an algorithm other than MD5: it answers none of them."""
        user = re.escape(self.aor.split("@")[0])
        self.wait_for(
            re.compile(rf"{user}@\S+: \{{\d+/UDP/v4\}} 200 OK"),
            timeout,
            fail=re.compile(rf"{user}@\S+: \{{\d+/UDP/v4\}} [3-6]\d\d .*|reg: .*Register: .*"),
        )


def write_config(
    directory: Path, agent: str, server_port: int, password: str, sip_port: int
) -> None:
    """baresip's ``config`` and ``accounts`` for ``agent`` registering at 127.0.0.1:server_port."""
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "config").write_text(
        "\n".join(
            [
                "poll_method epoll",
                f"sip_listen 127.0.0.1:{sip_port}",
                # Which address goes in Contact and SDP; baresip skips `lo` by name, so give the IP.
                "net_interface 127.0.0.1",
                "call_max_calls 4",
                # aubridge joins a player and a source of the same name: no sound card needed.
                # (ausine needs 48 kHz and so fails to start with G.711.)
                "audio_player aubridge,switchboard-test",
                "audio_source aubridge,switchboard-test",
                "audio_alert aubridge,switchboard-test",
                f"module_path {MODULES}",
                "module g711.so",
                "module aubridge.so",
                "module_tmp account.so",
                # menu prints the call events ("Call established", "session closed").
                "module_app menu.so",
                "",
            ]
        )
    )
    (directory / "accounts").write_text(
        f"<sip:{agent}@127.0.0.1:{server_port}>;auth_pass={password};answermode=auto;regint=300\n"
    )


@contextlib.contextmanager
def baresip_agent(
    agent: str, server_port: int, workdir: Path, password: str | None = None, lifetime: int = 60
) -> Iterator[Baresip]:
    """baresip registering as ``agent`` (the demo password by default) and answering calls
    at once. It quits by itself after ``lifetime`` s; otherwise it is stopped by its PID."""
    password = password if password is not None else DEMO_PASSWORDS[agent]
    config = workdir / f"baresip-{agent}"
    write_config(config, agent, server_port, password, free_udp_port())
    log = workdir / f"baresip-{agent}.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [baresip_binary(), "-f", str(config), "-v", "-t", str(lifetime)],
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            cwd=config,
        )
    try:
        yield Baresip(proc, log, f"{agent}@127.0.0.1")
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)
