"""Helpers for end-to-end tests with Linphone's command-line client (Debian ``linphone-cli``,
program ``linphonec``), a second real softphone beside baresip.

linphonec runs headless: a private ``linphonerc`` (SIP on 127.0.0.1 only, no video, its own
SIP and RTP ports) and ``HOME`` in the test's folder (its database, ZRTP cache and history
go there), with no sound card: ``soundcard use files`` makes it send a WAV file (``play``)
instead of a microphone and record to nothing. It is driven by commands on its standard
input (``answer``, ``call``, ``terminate``) and logs everything (SIP messages, registration
and call states, RTP statistics) on its standard output, which goes to a file the tests
poll; linphonec flushes each line.
"""

from __future__ import annotations

import contextlib
import math
import os
import re
import shutil
import struct
import subprocess
import time
import wave
from collections.abc import Iterator
from pathlib import Path

from .sipp import DEMO_PASSWORDS, free_media_port, free_udp_port

# Lines of linphonec 5.1 (Debian 12): liblinphone's log at level 6 and the client's own.
REGISTERED = re.compile(r"moving from state \[\w+\] to \[LinphoneRegistrationOk\]")
REGISTRATION_FAILED = re.compile(r"moving from state \[\w+\] to \[LinphoneRegistrationFailed\]")
INCOMING = re.compile(r"Receiving new incoming call from (\S+), assigned id (\d+)")
CONNECTED = re.compile(r"Call (\d+) with (\S+) connected\.")
ENDED = re.compile(r"Call (\d+) with (\S+) ended \(([^)]*)\)\.")
CALL_FAILED = re.compile(r"Call \d+ with \S+ (?:error\.|ended \((?!No error)[^)]*\)\.)")
# The audio stream's rates, about once a second: d(ownload) and u(pload), in kbit/s.
AUDIO_FLOWING = re.compile(
    r"Stream #0 \(audio\) \| .*RTP : \[d=(?!0\.00)[\d.]+,u=(?!0\.00)[\d.]+\]")


def linphonec_binary() -> str:
    """linphonec (Debian ``linphone-cli``): .ci/run installs it; a test without it must fail."""
    found = shutil.which("linphonec")
    if found is None:
        raise RuntimeError("linphonec is not installed: apt-get install linphone-cli "
                           "(.ci/run does)")
    return found


class Linphone:
    """A running linphonec, its standard input and its log."""

    def __init__(self, proc: subprocess.Popen[bytes], log: Path, sip_port: int) -> None:
        self.proc = proc
        self.log = log
        self.sip_port = sip_port

    def send(self, command: str) -> None:
        """One line on linphonec's prompt (``answer 1``, ``call 100``, ``terminate``)."""
        assert self.proc.stdin is not None
        self.proc.stdin.write(command.encode() + b"\n")
        self.proc.stdin.flush()

    def output(self) -> str:
        """Everything linphonec has logged so far."""
        return self.log.read_text(errors="replace")

    def wait_for(self, pattern: re.Pattern[str], timeout: float,
                 fail: re.Pattern[str] | None = None, after: int = 0) -> re.Match[str]:
        """Poll the log (from offset ``after``) until ``pattern`` shows; raise with the log on
        ``fail``, on exit or on timeout."""
        deadline = time.monotonic() + timeout
        while True:
            out = self.output()
            found = pattern.search(out, after)
            if found is not None:
                return found
            failed = fail.search(out, after) if fail is not None else None
            if failed is not None:
                raise AssertionError(f"linphonec: {failed.group(0)!r}\n{out[-6000:]}")
            if self.proc.poll() is not None:
                raise AssertionError(f"linphonec exited ({self.proc.returncode}) before "
                                     f"{pattern.pattern!r}:\n{out[-6000:]}")
            if time.monotonic() > deadline:
                raise AssertionError(f"linphonec: no {pattern.pattern!r} within {timeout} s:"
                                     f"\n{out[-6000:]}")
            time.sleep(0.05)

    def wait_registered(self, timeout: float = 10) -> None:
        """Until the registrar answered 200 (after the digest challenge); a failure at once."""
        self.wait_for(REGISTERED, timeout, fail=REGISTRATION_FAILED)


def write_config(path: Path, agent: str, server_port: int, password: str, sip_port: int,
                 rtp_port: int) -> None:
    """A ``linphonerc`` for ``agent`` registering at 127.0.0.1:server_port over UDP."""
    path.write_text(f"""\
[sip]
sip_port={sip_port}
sip_tcp_port=-1
sip_tls_port=-1
# Listen on (and put in Contact and SDP) 127.0.0.1 only.
bind_address=127.0.0.1
# Register at once: the default waits for a network it sees as up, and so never registers.
register_only_when_network_is_up=0
default_proxy=0

[rtp]
audio_rtp_port={rtp_port}
video_rtp_port=-1

[video]
enabled=0
capture=0
display=0

[proxy_0]
reg_proxy=<sip:127.0.0.1:{server_port};transport=udp>
reg_identity=sip:{agent}@127.0.0.1
reg_expires=300
reg_sendregister=1
publish=0

[auth_info_0]
username={agent}
passwd={password}
""")


def write_tone(path: Path, seconds: int = 10) -> None:
    """A 440 Hz tone, 8 kHz mono 16-bit: what linphonec sends instead of a microphone."""
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(8000)
        out.writeframes(b"".join(
            struct.pack("<h", int(8000 * math.sin(2 * math.pi * 440 * i / 8000)))
            for i in range(8000 * seconds)))


@contextlib.contextmanager
def linphone_agent(agent: str, server_port: int, workdir: Path, password: str | None = None,
                   auto_answer: bool = True) -> Iterator[Linphone]:
    """linphonec registering as ``agent`` (the demo password by default), answering calls at
    once with ``auto_answer`` (else told to: ``answer N``). It quits (unregistering) when
    the block ends; otherwise it is stopped by its PID."""
    password = password if password is not None else DEMO_PASSWORDS[agent]
    home = workdir / f"linphone-{agent}"
    # Its call history database: without the folder linphonec logs an error at each start.
    (home / ".local" / "share" / "linphone").mkdir(parents=True, exist_ok=True)
    config = home / "linphonerc"
    sip_port = free_udp_port()
    # RTP on this port, RTCP on the next: a block of SIPp's media ports has both free.
    write_config(config, agent, server_port, password, sip_port, free_media_port())
    tone = home / "tone.wav"
    write_tone(tone)
    log = workdir / f"linphone-{agent}.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [linphonec_binary(), "-c", str(config), "-d", "6", *(["-a"] if auto_answer else [])],
            stdin=subprocess.PIPE, stdout=out, stderr=subprocess.STDOUT, cwd=home,
            env={**os.environ, "HOME": str(home)})
    phone = Linphone(proc, log, sip_port)
    try:
        phone.send("soundcard use files")
        phone.send(f"play {tone}")
        yield phone
    finally:
        if proc.poll() is None:
            with contextlib.suppress(OSError):
                phone.send("quit")
        try:
            proc.wait(5)
        except subprocess.TimeoutExpired:
            proc.terminate()
            try:
                proc.wait(5)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(5)
        if proc.stdin is not None:
            proc.stdin.close()
