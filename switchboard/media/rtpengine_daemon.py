"""An ``rtpengine`` process of switchboard's own (Debian ``rtpengine-daemon``, userspace)."""

from __future__ import annotations

import asyncio
import logging
import shutil
import socket
import time
from pathlib import Path

from .ng import NgClient, NgError

__all__ = ["RtpEngineDaemon"]

log = logging.getLogger(__name__)

class RtpEngineDaemon:
    """An ``rtpengine`` process of our own, in userspace mode, for one switchboard.

    ``start`` runs it in the foreground (logging to ``log_path``) with its NG socket on
    127.0.0.1 and waits until it answers a ping; ``stop`` ends it (TERM, then KILL).
    """

    def __init__(
        self,
        *,
        interface: str,
        port_range: tuple[int, int],
        dtmf_dest: tuple[str, int],
        recording_dir: Path,
        log_path: Path,
        binary: str = "rtpengine",
        threads: int | None = None,
    ) -> None:
        self.interface = interface
        self.port_range = port_range
        self.dtmf_dest = dtmf_dest
        self.recording_dir = recording_dir
        self.log_path = log_path
        self.binary = binary
        self.threads = threads
        self.ng: tuple[str, int] = ("127.0.0.1", 0)
        self.process: asyncio.subprocess.Process | None = None
        self._watcher: asyncio.Task[None] | None = None

    def command(self, ng_port: int) -> list[str]:
        lo, hi = self.port_range
        args = [
            self.binary, "--config-file=none", "--foreground", "--log-stderr", "--table=-1",
            f"--interface={self.interface}", f"--listen-ng=127.0.0.1:{ng_port}",
            f"--port-min={lo}", f"--port-max={hi}",
            f"--dtmf-log-dest={self.dtmf_dest[0]}:{self.dtmf_dest[1]}",
            f"--recording-dir={self.recording_dir}", "--recording-method=pcap",
            "--log-level=5", "--delete-delay=0",
        ]
        if self.threads:
            args.append(f"--num-threads={self.threads}")
        return args

    async def start(self, timeout: float = 10.0) -> tuple[str, int]:
        binary = shutil.which(self.binary)
        if binary is None:
            raise FileNotFoundError(
                f"{self.binary} not found: install Debian's rtpengine-daemon, or set "
                "media.rtpengine to the NG address of a running rtpengine")
        self.recording_dir.mkdir(parents=True, exist_ok=True)
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        probe = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        probe.bind(("127.0.0.1", 0))
        ng_port = probe.getsockname()[1]
        probe.close()
        with self.log_path.open("ab") as log_file:
            self.process = await asyncio.create_subprocess_exec(
                *self.command(ng_port), stdin=asyncio.subprocess.DEVNULL,
                stdout=log_file, stderr=log_file, start_new_session=True)
        self.ng = ("127.0.0.1", ng_port)
        client = NgClient(*self.ng, timeout=0.2, retries=1)
        await client.start()
        deadline = time.monotonic() + timeout
        try:
            while True:
                if self.process.returncode is not None:
                    raise RuntimeError(f"rtpengine exited with {self.process.returncode}; "
                                       f"see {self.log_path}")
                try:
                    await client.request({"command": "ping"})
                    break
                except NgError:
                    if time.monotonic() > deadline:
                        await self.stop()
                        raise RuntimeError(f"rtpengine did not answer within {timeout} s; "
                                           f"see {self.log_path}") from None
        finally:
            client.close()
        log.info("rtpengine %d: NG on %s:%d, RTP ports %d-%d", self.process.pid, *self.ng,
                 *self.port_range)
        self._watcher = asyncio.get_running_loop().create_task(self._watch(self.process))
        return self.ng

    async def _watch(self, process: asyncio.subprocess.Process) -> None:
        """Say so at once when the daemon dies under us: calls lose their audio."""
        code = await process.wait()
        if self.process is process:
            log.error("rtpengine %d exited with %d while in use: calls have no media until "
                      "switchboard is restarted; see %s", process.pid, code, self.log_path)

    async def stop(self) -> None:
        process, self.process = self.process, None
        if self._watcher is not None:
            self._watcher.cancel()
            self._watcher = None
        if process is None or process.returncode is not None:
            return
        process.terminate()
        try:
            await asyncio.wait_for(process.wait(), 5)
        except TimeoutError:
            process.kill()
            await process.wait()
