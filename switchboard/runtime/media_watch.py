"""The RTP timeout of ``SipApp``: answered legs whose far end went silent are hung up.

A phone or trunk whose network, power or process is gone sends no BYE; without this, its
call would hold an agent, a channel of the number and the media ports for ever (a caller
vanished from the queue would even be put through to an agent). Every few seconds the
media engine is asked how many packets (RTP and RTCP) each answered leg's endpoint has sent
so far (``MediaEngine.received``); a leg whose count has not moved for ``media.rtp_timeout``
seconds (``media.rtp_hold_timeout`` while that party holds the call, as a holding phone may
rightly send nothing) gets a BYE, and the core hears that it hung up, as Asterisk's
rtptimeout and rtpholdtimeout do. The silence is counted from when the watch first saw the
leg answered, so a leg is hung up between the timeout and the timeout plus one poll.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING

from switchboard.core import events as e

if TYPE_CHECKING:
    from switchboard.config.model import Config
    from switchboard.media.engine import MediaEngine
    from switchboard.runtime.dialog import Dialog
    from switchboard.runtime.driver import CoreDriver

__all__ = ["MAX_POLL", "MediaWatchMixin"]

log = logging.getLogger(__name__)

MAX_POLL = 5.0  # seconds between polls at most; a quarter of the shorter timeout if less
POLL_BATCH = 64  # legs asked at once (with rtpengine, NG queries in flight)


@dataclass(slots=True)
class _Heard:
    """What the last poll saw of a leg: its dialog, its count, whether it held, and since
    when the count has not moved (loop time)."""

    dialog: Dialog
    count: int
    held: bool
    since: float


class MediaWatchMixin:
    """The RTP timeout part of ``SipApp`` (which provides what is declared below)."""

    if TYPE_CHECKING:
        config: Config
        media: MediaEngine
        loop: asyncio.AbstractEventLoop
        driver: CoreDriver
        channels: dict[str, Dialog]

        def _hang_up(self, dialog: Dialog) -> None: ...
        def _pump(self) -> None: ...

    media_timeouts: int = 0  # legs hung up for silence since start

    def _start_media_watch(self) -> asyncio.Task[None] | None:
        """The polling task, or None when both timeouts are off."""
        limits = [t for t in (self.config.media.rtp_timeout, self.config.media.rtp_hold_timeout)
                  if t is not None]
        if not limits:
            return None
        return self.loop.create_task(self._watch_media(min(MAX_POLL, min(limits) / 4)))

    async def _watch_media(self, every: float) -> None:
        heard: dict[str, _Heard] = {}
        while True:
            await asyncio.sleep(every)
            try:
                await self._poll_media(heard)
            except Exception:  # the watch must outlive a bad poll; the next one tries again
                log.exception("RTP timeout: the poll of the media engine failed")

    async def _poll_media(self, heard: dict[str, _Heard]) -> None:
        watched = [(channel, dialog) for channel, dialog in self.channels.items()
                   if dialog.state == "confirmed"]
        live = {channel for channel, _ in watched}
        for channel in [c for c in heard if c not in live]:
            del heard[channel]
        counts: list[int | BaseException | None] = []
        for first in range(0, len(watched), POLL_BATCH):  # rtpengine: NG requests in flight
            counts += await asyncio.gather(
                *(self.media.received(channel) for channel, _ in watched[first:first + POLL_BATCH]),
                return_exceptions=True)
        now = self.loop.time()
        media = self.config.media
        for (channel, dialog), count in zip(watched, counts, strict=True):
            if isinstance(count, BaseException):
                log.debug("RTP timeout: no packet count for %s: %s", channel, count)
                continue
            if count is None or self.channels.get(channel) is not dialog \
                    or dialog.state != "confirmed":
                heard.pop(channel, None)  # no media, or the dialog ended during the poll
                continue
            last = heard.get(channel)
            if last is None or last.dialog is not dialog or last.count != count \
                    or last.held != dialog.held:
                heard[channel] = _Heard(dialog, count, dialog.held, now)
                continue
            limit = media.rtp_hold_timeout if dialog.held else media.rtp_timeout
            if limit is not None and now - last.since >= limit:
                del heard[channel]
                self._silent(dialog, now - last.since)

    def _silent(self, dialog: Dialog, silent: float) -> None:
        """BYE to a silent party; the core hears it hang up (and ends the call, or counts a
        waiting caller as abandoned)."""
        self.media_timeouts += 1
        log.warning("no RTP or RTCP from %s:%d (%s %s) for %.1f s%s: hung up (media.%s)",
                    *dialog.peer[:2], "caller" if dialog.inbound else "leg",
                    dialog.channel, silent, " on hold" if dialog.held else "",
                    "rtp_hold_timeout" if dialog.held else "rtp_timeout")
        self._hang_up(dialog)
        self.driver.feed(e.CallerHungUp(dialog.channel) if dialog.inbound
                         else e.LegHungUp(dialog.channel))
        self._pump()
