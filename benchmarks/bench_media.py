"""The two media drivers side by side: in-process RTP and rtpengine, through ``MediaEngine``.

    python benchmarks/bench_media.py [--quick] [--seconds 10] [--warmup 2]
                                     [--inprocess 50,100,200,400]
                                     [--rtpengine 50,100,200,400,700,1000]
                                     [--scenarios announcements,bridged]
                                     [--phones auto|c|python] [--rtpengine-threads N]
                                     [--keep]

Two scenarios, each at rising N, with a fresh engine for every step:

- **announcements**: N callers hearing an announcement: N legs, each ``play(music_on_hold.wav,
  loop=True)`` to a phone (half the legs PCMU, half PCMA). The phones only listen.
- **bridged**: N bridged calls: 2N legs bridged in pairs; every phone sends a 20 ms G.711
  packet every 20 ms and receives the other side's. Every other call is PCMU <-> PCMA, so
  half the calls are transcoded; the rest are PCMU <-> PCMU.

The drivers, each driven through the same ``MediaEngine`` calls (allocate, set_remote,
bridge / play, release) from a process of its own, as ``switchboard run`` wires them
(switchboard/runtime/media.py):

- **in-process**: ``InProcessMedia`` in a child Python process (on uvloop when it is
  installed, as ``switchboard run`` does). Its CPU is that process's.
- **rtpengine**: ``RtpEngineMedia`` in a child Python process (the controlling process) with
  a daemon of its own (``RtpEngineDaemon``: Debian's ``rtpengine``, userspace). Its CPU is
  the daemon's (all threads) plus the controlling process's.

The phones (the load generator) are a third process: ``media_phones.c``, compiled with gcc at
run time. In Python (``--phones python``, the same protocol: the fallback when there is no
gcc) they fell behind their 20 ms schedule already at 200 bridged calls (20,000 packets a
second each way) on this 2-core machine. A few sockets carry all streams, told apart by the
engine port a packet comes from. Arrival times are the kernel's receive timestamps, so a busy
generator does not make packets look late (but one that sends late does: it reports that).

Each step: set up, warm up ``--warmup`` s, then measure for ``--seconds`` s:
- CPU: user + system time from /proc/PID/stat over the window, as a share of one core,
  and per call (ms of CPU per second of call). On 127.0.0.1 the kernel's work of delivering
  a packet is charged to the process that sends it.
- late: packets that reached a phone more than 40 ms after the one before on their stream,
  as a share of the packets received in the window.
- loss: announcements: packets missing from the sequence numbers received in the window;
  bridged: packets the phones sent that never reached the other phone (the whole run).
- phones: the generator's CPU and its packets sent more than 20 ms after their slot; machine:
  all cores' busy time. Either near its limit means the figure is bounded by the load
  generator or by the machine, not by the engine; the table says so.
- waited (in-process): how long the engine's event loop was ready to run but had no CPU
  (the kernel's run delay, /proc/PID/schedstat), read before and after the window, so that
  nothing runs inside the engine to measure it. Time the hypervisor stole from the virtual
  CPU is not in it (see "stolen").

A driver's rising stops after a step that lost or delayed more than 20 % of its packets.
Prints a line per step, then a table per scenario with both drivers side by side and the
ratio of their CPU per call, then the issue's targets (issue 4: in-process, 200 bridged calls
within one core and under 0.1 % late; rtpengine, 1,000) and whether each was met.
``--quick``: N = 20, 1 + 2 s per step, well under a minute. ``--keep`` keeps the logs.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import random
import select
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import time
import traceback
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from rich.console import Console
from rich.progress import Progress
from rich.table import Table

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT))  # run from anywhere, as `python benchmarks/bench_media.py`

from switchboard.media import g711  # noqa: E402

PROMPT = ROOT / "switchboard" / "prompts" / "en" / "music_on_hold.wav"
PHONES_C = HERE / "media_phones.c"
HOST = "127.0.0.1"
PHONE_SOCKETS = 16
PORTS = {"inprocess": (8000, 9999), "rtpengine": (10000, 19999)}  # below the ephemeral range,
# above SIPp's default media ports (6000 up), so that e2e tests can run beside a benchmark
DRIVERS = {"inprocess": "in-process", "rtpengine": "rtpengine"}
SCENARIOS = ("announcements", "bridged")
TARGETS = {"inprocess": 200, "rtpengine": 1000}  # bridged calls (issue 4, item 6)
LATE_TARGET = 0.001  # under 0.1 % late
OVERLOAD = 0.20  # a step losing or delaying more than this ends the driver's rising
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
CORES = os.cpu_count() or 1
PERIOD = 0.020
LATE_GAP = 0.040


# ---------------------------------------------------------------------------- /proc


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a running process, all its threads (0 once it is gone)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return 0.0
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS  # utime, stime


def run_delay(pid: int) -> float:
    """Seconds the main thread of a process has waited for a CPU while it could run
    (/proc/PID/schedstat; time stolen by a hypervisor is not in it). 0 once it is gone."""
    try:
        return int(Path(f"/proc/{pid}/schedstat").read_text().split()[1]) / 1e9
    except (OSError, IndexError, ValueError):
        return 0.0


def machine_times() -> tuple[int, int, int]:
    """(busy, stolen, total) jiffies of all cores since boot, from /proc/stat. Busy is user,
    nice, system, irq and softirq; stolen is time the hypervisor gave to other guests."""
    values = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    user, nice, system, _idle, _iowait, irq, softirq, steal = values[:8]
    return user + nice + system + irq + softirq, steal, sum(values[:8])


def alive(pid: int, name: str) -> bool:
    """Whether ``pid`` is a running (not zombie) process whose command is ``name``."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    command = stat[stat.index("(") + 1 : stat.rindex(")")]
    return command == name and stat.rsplit(")", 1)[1].split()[0] != "Z"


def stop_pid(pid: int, name: str) -> None:
    """Stop a process this script started (not its child: the rtpengine daemon) by PID."""
    for sig, wait in ((signal.SIGTERM, 5.0), (signal.SIGKILL, 5.0)):
        if not alive(pid, name):
            return
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, sig)
        deadline = time.monotonic() + wait
        while alive(pid, name) and time.monotonic() < deadline:
            time.sleep(0.05)


# ---------------------------------------------------------------------------- children


class Child:
    """A process of this script speaking lines on stdin/stdout; stopped by its PID."""

    def __init__(self, args: list[str], log: Path) -> None:
        self.log = log
        with log.open("ab") as err:
            self.proc = subprocess.Popen(
                args,
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=err,
                start_new_session=True,  # Ctrl-C reaches this script only; it stops them
            )
        self._buffer = b""

    @property
    def pid(self) -> int:
        return self.proc.pid

    def send(self, line: str) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write(line.encode() + b"\n")
        self.proc.stdin.flush()

    def read(self, timeout: float) -> str:
        """The next line it writes; RuntimeError if none within ``timeout`` or it ended."""
        assert self.proc.stdout is not None
        fd = self.proc.stdout.fileno()
        deadline = time.monotonic() + timeout
        while b"\n" not in self._buffer:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([fd], [], [], left)[0]:
                raise RuntimeError(f"no answer within {timeout:g} s; {self.tail()}")
            chunk = os.read(fd, 65536)
            if not chunk:
                raise RuntimeError(f"it exited ({self.proc.wait()}); {self.tail()}")
            self._buffer += chunk
        line, _, self._buffer = self._buffer.partition(b"\n")
        return line.decode()

    def tail(self) -> str:
        text = self.log.read_text(errors="replace") if self.log.exists() else ""
        return f"its log ({self.log}) ends:\n{text[-2500:]}" if text else "its log is empty"

    def stop(self) -> None:
        if self.proc.poll() is None:
            with contextlib.suppress(OSError):
                assert self.proc.stdin is not None
                self.proc.stdin.close()  # end of input: both kinds of child exit
            try:
                self.proc.wait(3)
            except subprocess.TimeoutExpired:  # busy with a request: SIGTERM (the engine
                self.proc.terminate()  # host then stops its daemon)
                try:
                    self.proc.wait(5)
                except subprocess.TimeoutExpired:
                    self.proc.kill()
                    self.proc.wait(5)
        for pipe in (self.proc.stdin, self.proc.stdout):
            with contextlib.suppress(OSError):
                if pipe is not None:
                    pipe.close()


class Engine(Child):
    """The engine host (``--engine``): JSON requests, JSON answers."""

    def __init__(self, log: Path) -> None:
        super().__init__([sys.executable, str(Path(__file__).resolve()), "--engine"], log)
        self.daemon_pid: int | None = None

    def call(self, timeout: float = 120.0, **request: Any) -> dict[str, Any]:
        self.send(json.dumps(request))
        answer: dict[str, Any] = json.loads(self.read(timeout))
        if not answer.get("ok"):
            raise RuntimeError(f"engine {request['cmd']}: {answer.get('error')}")
        return answer

    def stop(self) -> None:
        try:
            super().stop()
        finally:
            if self.daemon_pid is not None:  # if the host could not stop its daemon
                stop_pid(self.daemon_pid, "rtpengine")


class Phones(Child):
    """The load generator (``media_phones.c`` or ``--phones``), see media_phones.c."""

    def open(self, sockets: int) -> list[int]:
        self.send(f"sockets {sockets}")
        words = self.read(10).split()
        if words[:1] != ["ports"]:
            raise RuntimeError(f"phones: {' '.join(words)}")
        return [int(w) for w in words[1:]]

    def setup(self, payloads: dict[int, bytes], streams: list[tuple[int, int, int, int]]) -> None:
        lines = [f"payload {pt} {data.hex()}" for pt, data in payloads.items()]
        lines += [f"stream {s} {dst} {src} {pt}" for s, dst, src, pt in streams]
        assert self.proc.stdin is not None
        self.proc.stdin.write(("\n".join([*lines, "ready"]) + "\n").encode())
        self.proc.stdin.flush()
        if self.read(30) != "ok":
            raise RuntimeError("phones did not take the streams")

    def result(self, quiet: float) -> dict[str, float]:
        self.send(f"stop {quiet:g}")
        words = self.read(quiet + 10).split()
        if words[:1] != ["result"]:
            raise RuntimeError(f"phones: {' '.join(words)}")
        return {k: float(v) for k, v in (w.split("=", 1) for w in words[1:])}


def phones_command(choice: str, work: Path, console: Console) -> tuple[list[str], str]:
    """How to start the phones: the compiled C helper, or this script in Python."""
    python = ([sys.executable, str(Path(__file__).resolve()), "--phones"], "Python (--phones)")
    gcc = shutil.which("gcc")
    if choice == "python" or (choice == "auto" and gcc is None):
        if choice == "auto":
            console.print("[yellow]no gcc: the phones run in Python and may be the bottleneck")
        return python
    if gcc is None:
        raise SystemExit("--phones c needs gcc")
    binary = work / "media_phones"
    built = subprocess.run(
        [gcc, "-O2", "-Wall", "-o", str(binary), str(PHONES_C)], capture_output=True, text=True
    )
    if built.returncode != 0:
        if choice == "c":
            raise SystemExit(f"gcc failed:\n{built.stderr}")
        console.print(f"[yellow]gcc failed, the phones run in Python:\n{built.stderr}")
        return python
    return [str(binary)], "C (media_phones.c, gcc -O2)"


# ---------------------------------------------------------------------------- one step


@dataclass
class Step:
    driver: str
    scenario: str
    calls: int
    legs: int
    wall: float = 0.0
    engine_cpu: float = 0.0  # seconds over the window: the host (+ the daemon)
    daemon_cpu: float = 0.0
    phones_cpu: float = 0.0
    machine: float = 0.0  # share of all cores busy over the window (all processes)
    stolen: float = 0.0  # share of all cores the hypervisor gave to other guests
    setup: float = 0.0  # seconds to allocate, set remote and bridge / play every leg
    waited: float = 0.0  # seconds the engine host's loop waited for a CPU over the window
    loop: str = ""
    phones: dict[str, float] = field(default_factory=dict)
    error: str = ""

    @property
    def core_share(self) -> float:
        return self.engine_cpu / self.wall if self.wall else float("nan")

    @property
    def per_call_ms(self) -> float:
        """Milliseconds of engine CPU per second of one call."""
        return 1000 * self.core_share / self.calls

    @property
    def late(self) -> float:
        received = self.phones.get("window_received", 0)
        return self.phones.get("window_late", 0) / received if received else float("nan")

    @property
    def loss(self) -> float:
        p = self.phones
        if self.scenario == "bridged":
            sent = p.get("sent", 0)
            return max(0.0, sent - p.get("received", 0)) / sent if sent else float("nan")
        expected = p.get("window_expected", 0)
        missing = max(0.0, expected - p.get("window_received", 0))
        return missing / expected if expected else float("nan")

    @property
    def streams_missing(self) -> int:
        return int(self.legs - self.phones.get("window_streams", 0))

    @property
    def phones_share(self) -> float:
        return self.phones_cpu / self.wall if self.wall else float("nan")

    @property
    def others_share(self) -> float:
        """CPU of everything else on the machine (other processes, kernel threads), in cores."""
        return max(0.0, self.machine * CORES - self.core_share - self.phones_share)

    @property
    def phones_behind(self) -> float:
        """Share of the phones' packets sent more than 20 ms after their slot."""
        sent = self.phones.get("sent", 0)
        return self.phones.get("send_late", 0) / sent if sent else 0.0

    @property
    def overloaded(self) -> bool:
        return bool(self.error) or not (self.late <= OVERLOAD and self.loss <= OVERLOAD)

    def limits(self) -> list[str]:
        """What, besides the engine, may have bounded this step's figures."""
        out = []
        if self.phones_share > 0.9:
            out.append("phones saturated")
        elif self.phones_behind > 0.001:
            out.append("phones fell behind")
        if self.machine + self.stolen > 0.9:
            out.append("machine saturated")
        elif self.others_share > 0.25:
            out.append(f"other load {pct(self.others_share)} of a core")
        if self.driver == "inprocess" and self.core_share > 0.9:
            out.append("engine near 1 core")
        if self.streams_missing > 0:
            out.append(f"{self.streams_missing} streams silent")
        return out


def payload_frames() -> dict[int, bytes]:
    """One 20 ms frame of a 400 Hz tone (8 periods: frames join seamlessly) in both laws."""
    t = np.arange(g711.FRAME_SAMPLES) / g711.SAMPLE_RATE
    pcm = np.round(6000 * np.sin(2 * np.pi * 400 * t)).astype(np.int16)
    return {int(law): g711.encode(pcm, law) for law in (g711.Law.ULAW, g711.Law.ALAW)}


def run_step(
    driver: str,
    scenario: str,
    calls: int,
    args: argparse.Namespace,
    phones_args: list[str],
    work: Path,
    phase: Callable[[str, float], None],
) -> Step:
    """One driver, one scenario, N calls: a fresh engine and phones, stopped at the end.
    ``phase(what, seconds)`` shows what the step does (and waits ``seconds``, with a bar)."""
    legs = calls if scenario == "announcements" else 2 * calls
    step = Step(driver, scenario, calls, legs)
    folder = work / f"{driver}-{scenario}-{calls}"
    folder.mkdir(parents=True)
    phones = Phones(phones_args, folder / "phones.log")
    engine: Engine | None = None
    try:
        phone_ports = phones.open(PHONE_SOCKETS)
        phase("starting the engine", 0)
        engine = Engine(folder / "engine.log")
        opened = engine.call(
            cmd="open",
            driver=driver,
            ports=PORTS[driver],
            dir=str(folder),
            threads=args.rtpengine_threads,
        )
        engine.daemon_pid = opened.get("daemon_pid")
        step.loop = opened["loop"]
        # Leg i: phone socket i % K. Announcements: every other leg is PCMA. Bridged: call k
        # is legs 2k and 2k + 1, and every other call's second leg is PCMA (transcoded).
        if scenario == "announcements":
            pts = [8 if i % 2 else 0 for i in range(legs)]
        else:
            pts = [8 if i % 4 == 3 else 0 for i in range(legs)]
        phase("setting up the legs", 0)
        started = time.monotonic()
        ports = engine.call(
            cmd="legs",
            # As `switchboard run` allocates them: the two legs of a call name that call.
            legs=[[f"leg{i}", phone_ports[i % PHONE_SOCKETS], pts[i],
                   f"call{i // 2 if scenario == 'bridged' else i}"] for i in range(legs)],
        )["ports"]
        if scenario == "bridged":
            engine.call(cmd="bridge", pairs=[[f"leg{i}", f"leg{i + 1}"] for i in range(0, legs, 2)])
        streams = [
            (i % PHONE_SOCKETS, ports[i] if scenario == "bridged" else 0, ports[i], pts[i])
            for i in range(legs)
        ]
        phones.setup(payload_frames(), streams)
        if scenario == "announcements":
            engine.call(cmd="play", legs=[f"leg{i}" for i in range(legs)], file=str(PROMPT))
        else:
            phones.send("send")
        step.setup = time.monotonic() - started
        phase("warming up", args.warmup)
        pids = [engine.pid, *([engine.daemon_pid] if engine.daemon_pid else [])]
        cpu0 = [cpu_seconds(pid) for pid in pids]
        waited0 = run_delay(engine.pid)
        phones0, (busy0, steal0, total0) = cpu_seconds(phones.pid), machine_times()
        wall0 = time.monotonic()
        phones.send("mark")
        phase("measuring", args.seconds)
        cpu1 = [cpu_seconds(pid) for pid in pids]
        step.waited = run_delay(engine.pid) - waited0
        phones1, (busy1, steal1, total1) = cpu_seconds(phones.pid), machine_times()
        wall1 = time.monotonic()
        step.phones = phones.result(0.5 if scenario == "bridged" else 0)
        step.wall = wall1 - wall0
        step.engine_cpu = sum(cpu1) - sum(cpu0)
        step.daemon_cpu = cpu1[1] - cpu0[1] if len(pids) > 1 else 0.0
        step.phones_cpu = phones1 - phones0
        step.machine = (busy1 - busy0) / max(total1 - total0, 1)
        step.stolen = (steal1 - steal0) / max(total1 - total0, 1)
        phase("closing", 0)
        engine.call(cmd="close")
    except RuntimeError as error:
        step.error = str(error)
    finally:
        phones.stop()
        if engine is not None:
            engine.stop()
    return step


# ---------------------------------------------------------------------------- engine host


def engine_host() -> None:
    """``--engine``: host one media driver; requests on stdin, answers on stdout."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the script stops us
    try:  # as `switchboard run` does (DESIGN.md: uvloop when installed)
        import uvloop

        asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())
    except ImportError:
        pass
    asyncio.run(_engine_host())


async def _gather(items: list[Any], work: Callable[[Any], Awaitable[Any]], width: int) -> list[Any]:
    """``work(item)`` for every item, at most ``width`` at a time, results in order."""
    limit = asyncio.Semaphore(width)

    async def one(item: Any) -> Any:
        async with limit:
            return await work(item)

    return list(await asyncio.gather(*(one(item) for item in items)))


async def _engine_host() -> None:
    import logging

    from switchboard.media.engine import InProcessMedia, MediaEngine, MediaEvent
    from switchboard.media.relay import RelayConfig
    from switchboard.media.rtpengine import RtpEngineMedia
    from switchboard.media.rtpengine_daemon import RtpEngineDaemon

    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    loop = asyncio.get_running_loop()
    engine: MediaEngine | None = None
    daemon: RtpEngineDaemon | None = None
    events = 0
    leg_ids: list[str] = []
    width = 1  # requests in flight during setup: rtpengine answers over UDP, so overlap them

    def on_event(event: MediaEvent) -> None:
        nonlocal events
        events += 1

    async def handle(request: dict[str, Any]) -> dict[str, Any]:
        nonlocal engine, daemon, width
        command = request["cmd"]
        if command == "open":
            lo, hi = request["ports"]
            folder = Path(request["dir"])
            if request["driver"] == "inprocess":
                engine = InProcessMedia(
                    RelayConfig(bind_ip=HOST, port_range=(lo, hi)), random.Random(1), on_event
                )
                return {"loop": f"{type(loop).__module__}.{type(loop).__name__}"}
            # As open_media (switchboard/runtime/media.py) does: our DTMF socket first, then
            # the daemon, told where it is.
            media = RtpEngineMedia(
                (HOST, 0),
                on_event,
                dtmf=(HOST, 0),
                recording_dir=folder / "recordings",
                work_dir=folder / "prompts",
            )
            engine = media
            await media.open_dtmf_log()
            daemon = RtpEngineDaemon(
                interface=HOST,
                port_range=(lo, hi),
                dtmf_dest=media.dtmf_address,
                recording_dir=folder / "recordings",
                log_path=folder / "rtpengine.log",
                threads=request.get("threads"),
            )
            media.client.address = await daemon.start()
            await media.start()
            width = 32
            assert daemon.process is not None
            return {
                "loop": f"{type(loop).__module__}.{type(loop).__name__}",
                "daemon_pid": daemon.process.pid,
            }
        assert engine is not None
        if command == "legs":

            async def leg(item: list[Any]) -> int:
                leg_id, phone_port, pt, call = item
                assert engine is not None
                _, port = await engine.allocate(leg_id, call=call)
                leg_ids.append(leg_id)
                await engine.set_remote(leg_id, HOST, phone_port, pt)
                return port

            return {"ports": await _gather(request["legs"], leg, width)}
        if command == "bridge":
            await _gather(request["pairs"], lambda pair: engine.bridge(*pair), width)
            return {}
        if command == "play":
            legs, files = request["legs"], [request["file"]]
            await engine.play(legs[0], files, loop=True)  # converts the file once
            await _gather(legs[1:], lambda leg: engine.play(leg, files, loop=True), width)
            return {}
        if command == "close":
            # Every leg released through the interface (in parallel), then the rest.
            await _gather(leg_ids, engine.release, width)
            await engine.close()
            if daemon is not None:
                await daemon.stop()
                daemon = None
            return {"events": events}
        raise ValueError(f"unknown command {command!r}")

    reader = sys.stdin.buffer
    main = asyncio.current_task()
    assert main is not None
    loop.add_signal_handler(signal.SIGTERM, main.cancel)  # then the daemon is stopped below
    try:
        while True:
            line = await loop.run_in_executor(None, reader.readline)
            if not line:
                break  # the script is gone: clean up
            request = json.loads(line)
            try:
                answer = {"ok": True, **await handle(request)}
            except Exception:
                answer = {"ok": False, "error": traceback.format_exc()}
            sys.stdout.write(json.dumps(answer) + "\n")
            sys.stdout.flush()
            if request["cmd"] == "close":
                break
    finally:
        if daemon is not None:
            await daemon.stop()


# ---------------------------------------------------------------------------- Python phones


def python_phones() -> None:
    """``--phones``: media_phones.c's protocol in Python (slower; for a machine without gcc)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    timestamping = getattr(socket, "SO_TIMESTAMPNS", 35)
    socks: list[socket.socket] = []
    payloads: dict[int, bytes] = {}
    # per stream: socket, destination, payload type, seq, timestamp, ssrc, first
    senders: list[list[Any]] = []
    by_port: dict[int, int] = {}
    last: dict[int, int] = {}  # stream -> last arrival (ns)
    top: dict[int, int] = {}  # stream -> highest extended sequence number
    first_in: dict[int, int] = {}  # stream -> first extended sequence number in the window
    last_in: dict[int, int] = {}
    counts = dict.fromkeys(
        ("sent", "received", "unknown", "send_errors", "send_late", "window_received",
         "window_late"), 0
    )  # fmt: skip
    max_gap = max_lag = 0
    mark = stop = 0
    sending = stopping = False
    start = 0.0
    packet = 0
    quiet = drain_until = drain_limit = 0.0
    pending = b""
    header = bytearray(12)

    def arrived(port: int, data: bytes, at: int) -> None:
        nonlocal max_gap
        index = by_port.get(port)
        if index is None or len(data) < 12:
            counts["unknown"] += 1
            return
        counts["received"] += 1
        seq = data[2] << 8 | data[3]
        previous = top.get(index)
        if previous is None:
            ext = seq
        else:
            ext = previous + ((seq - previous) & 0xFFFF)
            if (seq - previous) & 0xFFFF >= 0x8000:
                ext -= 0x10000
        if previous is None or ext > previous:
            top[index] = ext
        if mark and at >= mark and (not stop or at < stop):
            counts["window_received"] += 1
            before = last.get(index)
            if before is not None:
                gap = at - before
                if gap > LATE_GAP * 1e9:
                    counts["window_late"] += 1
                max_gap = max(max_gap, gap)
            if index not in first_in:
                first_in[index] = last_in[index] = ext
            elif ext > last_in[index]:
                last_in[index] = ext
        last[index] = at

    while True:
        while b"\n" in pending:
            raw, _, pending = pending.partition(b"\n")
            words = raw.decode().split()
            if not words:
                continue
            if words[0] == "sockets":
                for _ in range(int(words[1])):
                    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
                    for option in (socket.SO_RCVBUF, socket.SO_SNDBUF):
                        s.setsockopt(socket.SOL_SOCKET, option, 4 << 20)
                    s.setsockopt(socket.SOL_SOCKET, timestamping, 1)
                    s.bind((HOST, 0))
                    s.setblocking(False)
                    socks.append(s)
                ports = " ".join(str(s.getsockname()[1]) for s in socks)
                sys.stdout.write(f"ports {ports}\n")
            elif words[0] == "payload":
                payloads[int(words[1])] = bytes.fromhex(words[2])
            elif words[0] == "stream":
                s, dst, src, pt = (int(w) for w in words[1:5])
                index = len(by_port) if src else -1
                if src:
                    by_port[src] = index
                if dst:
                    ssrc = 0x5B000000 + len(senders)
                    senders.append([socks[s], (HOST, dst), pt, ssrc * 7 & 0xFFFF, ssrc, ssrc, 1])
            elif words[0] == "ready":
                sys.stdout.write("ok\n")
            elif words[0] == "send":
                sending, start, packet = bool(senders), time.monotonic(), 0
            elif words[0] == "mark":
                mark = time.time_ns()
            elif words[0] == "stop":
                stop, sending, stopping = time.time_ns(), False, True
                quiet = float(words[1])
                drain_until = time.monotonic() + quiet
                drain_limit = drain_until + (2.5 if quiet else 0.0)
            sys.stdout.flush()
        now = time.monotonic()
        next_due = now + 0.05
        while sending:
            due = start + packet * PERIOD / len(senders)
            if due > now:
                next_due = due
                break
            lag = now - due
            counts["send_late"] += lag > PERIOD
            max_lag = max(max_lag, lag)
            stream = senders[packet % len(senders)]
            sock, to, pt, seq, ts, ssrc, first = stream
            header[0], header[1] = 0x80, pt | (0x80 if first else 0)
            header[2:12] = (seq.to_bytes(2, "big") + ts.to_bytes(4, "big")
                            + ssrc.to_bytes(4, "big"))  # fmt: skip
            try:
                sock.sendto(bytes(header) + payloads[pt], to)
            except OSError:
                counts["send_errors"] += 1
            counts["sent"] += 1
            stream[3], stream[4], stream[6] = (seq + 1) & 0xFFFF, (ts + 160) & 0xFFFFFFFF, 0
            packet += 1
        if stopping and (now >= drain_until or now >= drain_limit):
            break
        wait = max(next_due - now, 0.001)
        if stopping:
            wait = min(wait, max(drain_until - now, 0.001))
        ready, _, _ = select.select([*socks, sys.stdin], [], [], wait)
        for s in ready:
            if s is sys.stdin:
                chunk = os.read(0, 65536)
                if not chunk:
                    return
                pending += chunk
                continue
            got = 0
            while True:
                try:
                    data, ancillary, _, addr = s.recvmsg(2048, 64)
                except BlockingIOError:
                    break
                at = time.time_ns()
                for level, kind, value in ancillary:
                    if level == socket.SOL_SOCKET and kind == timestamping and len(value) >= 16:
                        seconds, nanos = struct.unpack_from("qq", value)
                        at = seconds * 1_000_000_000 + nanos
                arrived(addr[1], data, at)
                got += 1
            if stopping and got:
                drain_until = max(drain_until, time.monotonic() + quiet)
    expected = sum(last_in[i] - first_in[i] + 1 for i in first_in)
    usage = os.times()
    fields = {
        **counts,
        "max_send_lag_us": int(max_lag * 1e6),
        "window_expected": expected,
        "window_streams": len(first_in),
        "max_gap_us": max_gap // 1000,
        "cpu": round(usage.user + usage.system, 3),
    }
    sys.stdout.write("result " + " ".join(f"{k}={v}" for k, v in fields.items()) + "\n")
    sys.stdout.flush()


# ---------------------------------------------------------------------------- report


def pct(value: float, digits: int = 0) -> str:
    return "-" if value != value else f"{100 * value:.{digits}f} %"


def describe(step: Step) -> str:
    if step.error:
        return f"failed: {step.error.splitlines()[0][:300]}"
    p = step.phones
    parts = [
        f"engine {pct(step.core_share)} of a core"
        + (
            f" (daemon {pct(step.daemon_cpu / step.wall)}, controlling process "
            f"{pct(max(0.0, step.engine_cpu - step.daemon_cpu) / step.wall)})"
            if step.driver == "rtpengine"
            else ""
        ),
        f"{step.per_call_ms:.2f} ms/s per call",
        f"late {pct(step.late, 3)} (max gap {p.get('max_gap_us', 0) / 1000:.0f} ms)",
        f"loss {pct(step.loss, 3)}",
        f"phones {pct(step.phones_share)}, {int(p.get('send_late', 0))} sent late",
        f"machine {pct(step.machine)} of {CORES} cores busy (others {pct(step.others_share)}"
        f" of a core), {pct(step.stolen)} stolen",
        f"setup {step.setup:.1f} s",
    ]
    if step.driver == "inprocess":
        parts.insert(-1, f"engine waited {1000 * step.waited:.0f} ms for a CPU")
    limits = step.limits()
    return "; ".join(parts) + (f"  [{', '.join(limits)}]" if limits else "")


def cells(step: Step | None, note: str) -> list[str]:
    if step is None:
        return [note or "", "", "", "", ""]
    if step.error:
        return ["[red]failed[/]", "", "", "", ""]
    limits = step.limits()
    late = pct(step.late, 3)
    return [
        pct(step.core_share) + (" *" if limits else ""),
        f"{step.per_call_ms:.2f}",
        f"[red]{late}[/]" if step.late >= LATE_TARGET else late,
        pct(step.loss, 3),
        pct(step.phones_share),
    ]


def report(
    results: dict[tuple[str, str], list[Step]],
    skipped: dict[tuple[str, str], str],
    plan: dict[str, list[int]],
    scenarios: list[str],
    console: Console,
) -> None:
    titles = {
        "announcements": "N callers hearing music on hold (play loop), half PCMU, half PCMA",
        "bridged": "N bridged calls, 20 ms G.711 both ways, half of them PCMU <-> PCMA",
    }
    for scenario in scenarios:
        ours = {s.calls: s for s in results.get(("inprocess", scenario), [])}
        peer = {s.calls: s for s in results.get(("rtpengine", scenario), [])}
        if not ours and not peer:
            continue
        table = Table(title=f"{scenario}: {titles[scenario]}")
        table.add_column("N", justify="right")
        for name in ("in-process", "rtpengine"):
            for column in ("CPU", "ms/s/call", "late", "loss", "phones"):
                header = f"{name}\n{column}" if column == "CPU" else column
                table.add_column(header, justify="right")
        table.add_column("CPU/call\nin-proc ÷\nrtpengine", justify="right")
        for n in sorted(set(ours) | set(peer)):
            a, b = ours.get(n), peer.get(n)
            ratio = (
                f"{a.per_call_ms / b.per_call_ms:.2f}"
                if a and b and not a.error and not b.error and b.per_call_ms > 0
                else ""
            )
            notes = [
                skipped.get((driver, scenario), "") if n in plan[driver] else ""
                for driver in ("inprocess", "rtpengine")
            ]
            table.add_row(str(n), *cells(a, notes[0]), *cells(b, notes[1]), ratio)
        console.print(table)
    console.print(
        "CPU: the engine's user + system time over the window as a share of one core "
        "(rtpengine: daemon + controlling process); ms/s/call: ms of CPU per second of one "
        "call; late: gap > 40 ms at the phone; * see the step's line for what else was "
        "at its limit."
    )


def targets(results: dict[tuple[str, str], list[Step]], console: Console) -> None:
    """Issue 4's targets: N bridged calls in at most one core, under 0.1 % of the packets
    late (and, since a lost packet is a gap too, under 0.1 % lost)."""
    for driver, goal in TARGETS.items():
        steps = [s for s in results.get((driver, "bridged"), []) if not s.error]
        if (driver, "bridged") not in results:
            continue
        label = (
            f"target (issue 4): {DRIVERS[driver]}, {goal:,} bridged calls within one core "
            "and < 0.1 % late (and lost):"
        )
        at = next((s for s in steps if s.calls == goal), None)
        last = max(steps, key=lambda s: s.calls) if steps else None
        over = next((s for s in steps if s.calls < goal and s.core_share > 1.0), None)
        if at is not None:
            met = at.core_share <= 1.0 and at.late < LATE_TARGET and at.loss < LATE_TARGET
            verdict = "met" if met else "NOT met"
            shown = at
        elif over is not None:
            verdict, shown = f"NOT met: over one core already at N = {over.calls}", over
        elif last is not None and last.calls < goal and last.overloaded:
            verdict, shown = f"not reached: rising stopped at N = {last.calls}", last
        else:
            tried = last.calls if last else 0
            console.print(f"{label} not measured (largest N run: {tried})", soft_wrap=True)
            continue
        limits = shown.limits()
        console.print(
            f"{label} {verdict} ({pct(shown.core_share)} of a core, {pct(shown.late, 3)} late, "
            f"{pct(shown.loss, 3)} lost" + (f"; {', '.join(limits)}" if limits else "") + ")",
            soft_wrap=True,
        )


def rtpengine_version() -> str:
    if shutil.which("rtpengine") is None:
        return "(not installed)"
    out = subprocess.run(["rtpengine", "--version"], capture_output=True, text=True)
    words = (out.stdout + out.stderr).split()
    return words[1] if words[:1] == ["Version:"] and len(words) > 1 else "?"


def numbers(text: str) -> list[int]:
    return sorted({int(n) for n in text.split(",") if n.strip()}) if text else []


def main() -> int:
    if sys.argv[1:] == ["--engine"]:
        engine_host()
        return 0
    if sys.argv[1:] == ["--phones"]:
        python_phones()
        return 0
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="N = 20, 1 + 2 s per step")
    parser.add_argument("--seconds", type=float, help="measured per step (10; quick: 2)")
    parser.add_argument("--warmup", type=float, help="before measuring (2; quick: 1)")
    parser.add_argument("--inprocess", help="N to try, rising (50,100,200,400; quick: 20)")
    parser.add_argument("--rtpengine", help="N to try, rising (50,...,1000; quick: 20)")
    parser.add_argument("--scenarios", default=",".join(SCENARIOS))
    parser.add_argument(
        "--rtpengine-threads",
        type=int,
        default=None,
        help="rtpengine's --num-threads (default: rtpengine's own, as switchboard run)",
    )
    parser.add_argument("--phones", choices=("auto", "c", "python"), default="auto")
    parser.add_argument("--keep", action="store_true", help="keep the work folder (logs)")
    args = parser.parse_args()
    for name, full, quick in (
        ("inprocess", "50,100,200,400", "20"),
        ("rtpengine", "50,100,200,400,700,1000", "20"),
        ("seconds", 10.0, 2.0),
        ("warmup", 2.0, 1.0),
    ):
        if getattr(args, name) is None:
            setattr(args, name, quick if args.quick else full)
    scenarios = [s for s in args.scenarios.split(",") if s]
    if unknown := set(scenarios) - set(SCENARIOS):
        parser.error(f"unknown scenarios: {', '.join(sorted(unknown))}")
    plan = {"inprocess": numbers(args.inprocess), "rtpengine": numbers(args.rtpengine)}
    if plan["rtpengine"] and shutil.which("rtpengine") is None:
        raise SystemExit("rtpengine is not installed: apt-get install rtpengine-daemon")

    console = Console()
    if not console.is_terminal:
        console.width = 150  # a pipe or a file: keep the tables readable
    work = Path(tempfile.mkdtemp(prefix="bench_media_"))
    phones_args, phones_name = phones_command(args.phones, work, console)
    console.print(
        f"python {sys.version.split()[0]}, rtpengine {rtpengine_version()}, "
        f"phones: {phones_name}, {CORES} cores, load average {os.getloadavg()[0]:.2f} at the "
        f"start; {args.warmup:g} s warm-up + {args.seconds:g} s measured per step"
    )
    results: dict[tuple[str, str], list[Step]] = {}
    skipped: dict[tuple[str, str], str] = {}
    total = sum(len(plan[d]) for d in plan) * len(scenarios)
    try:
        with Progress(console=console, transient=True) as bar:
            overall = bar.add_task("steps", total=total)
            for scenario in scenarios:
                for driver, ns in plan.items():
                    for n in ns:
                        key = (driver, scenario)
                        if key in skipped:
                            bar.advance(overall)
                            continue
                        label = f"{DRIVERS[driver]} {scenario} N={n}"
                        task = bar.add_task(label, total=None)

                        def phase(what: str, seconds: float, task: Any = task,
                                  label: str = label) -> None:  # fmt: skip
                            bar.update(task, description=f"{label}: {what}", total=seconds or None,
                                       completed=0)  # fmt: skip
                            end = time.monotonic() + seconds
                            while (left := end - time.monotonic()) > 0:
                                time.sleep(min(left, 0.25))
                                bar.update(task, completed=seconds - max(left - 0.25, 0))

                        step = run_step(driver, scenario, n, args, phones_args, work, phase)
                        bar.remove_task(task)
                        bar.advance(overall)
                        results.setdefault(key, []).append(step)
                        console.print(
                            f"{DRIVERS[driver]:>10} {scenario:<13} N={n:<5} ({step.legs} legs): "
                            f"{describe(step)}",
                            markup=False, highlight=False, soft_wrap=True,
                        )  # fmt: skip
                        if step.overloaded:
                            skipped[key] = "(stopped)"
    except KeyboardInterrupt:
        console.print("[yellow]interrupted: the processes this run started are stopped")
        return 130
    finally:
        if args.keep:
            console.print(f"work folder: {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)
    loops = sorted({s.loop for steps in results.values() for s in steps if s.loop})
    console.print(f"engine hosts' event loop: {', '.join(loops) or '?'}")
    report(results, skipped, plan, scenarios, console)
    targets(results, console)
    console.print(f"load average {os.getloadavg()[0]:.2f} at the end")
    return 0 if all(not s.error for steps in results.values() for s in steps) else 1


if __name__ == "__main__":
    sys.exit(main())
