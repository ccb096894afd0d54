"""Opening the media driver the config selects, and closing it (and a daemon we started)."""

from __future__ import annotations

import logging
import random
import shutil
import tempfile
from collections.abc import Awaitable, Callable
from pathlib import Path

from switchboard.config.model import Media
from switchboard.media.engine import InProcessMedia, MediaEngine, MediaEvent
from switchboard.media.relay import RelayConfig
from switchboard.media.rtpengine import RtpEngineMedia
from switchboard.media.rtpengine_daemon import RtpEngineDaemon

__all__ = ["open_media"]

log = logging.getLogger(__name__)

Closer = Callable[[], Awaitable[None]]


def _address(value: str) -> tuple[str, int]:
    host, _, port = value.rpartition(":")
    return host, int(port)


async def open_media(
    config: Media,
    host: str,
    rng: random.Random,
    on_event: Callable[[MediaEvent], None],
    data_dir: Path | None,
) -> tuple[MediaEngine, Closer]:
    """The media engine for ``config`` and how to close it (the engine, then a daemon of ours).

    ``rtpengine`` with no address starts ``rtpengine`` in userspace mode on ``host`` with
    the RTP ports of ``rtp_ports``, its recordings and log under ``data_dir/rtpengine``.
    """
    if config.driver == "inprocess":
        lo, hi = config.rtp_ports
        engine = InProcessMedia(RelayConfig(bind_ip=host, port_range=(lo, hi)), rng, on_event)
        return engine, engine.close
    daemon: RtpEngineDaemon | None = None
    scratch: Path | None = None
    dtmf = _address(config.rtpengine_dtmf)
    if config.rtpengine is not None:
        recording_dir = Path(config.rtpengine_recording_dir) \
            if config.rtpengine_recording_dir else None
        media = RtpEngineMedia(_address(config.rtpengine), on_event, bind_ip=host, dtmf=dtmf,
                               recording_dir=recording_dir)
        await media.start()
    else:
        if data_dir is None:
            scratch = Path(tempfile.mkdtemp(prefix="switchboard-"))
        base = (data_dir or scratch or Path(".")) / "rtpengine"
        # Our socket for the DTMF log first: the daemon is told where it is.
        media = RtpEngineMedia(("127.0.0.1", 0), on_event, bind_ip=host, dtmf=dtmf,
                               recording_dir=base / "recordings", work_dir=base / "prompts")
        daemon = RtpEngineDaemon(interface=host, port_range=config.rtp_ports, dtmf_dest=dtmf,
                                 recording_dir=base / "recordings", log_path=base / "rtpengine.log",
                                 threads=config.rtpengine_threads)
        try:
            await media.open_dtmf_log()
            daemon.dtmf_dest = media.dtmf_address
            media.client.address = await daemon.start()
            await media.start()
        except BaseException:
            await media.close()
            await daemon.stop()
            raise
    log.info("media: rtpengine at %s:%d", *media.client.address)

    async def close() -> None:
        try:
            await media.close()
        finally:
            if daemon is not None:
                await daemon.stop()
            if scratch is not None:
                shutil.rmtree(scratch, ignore_errors=True)

    return media, close
