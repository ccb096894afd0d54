"""Prompts and recordings for ``SipApp``: the core's Play, Whisper and Record on a dialog.

Prompts are the prompt library's WAV files (or the user's), played by the media engine;
the end of a play comes back from the engine as ``PlayFinished``. When a prompt cannot be
played (a missing file), the play ends after ``PROMPT_SECONDS`` per item instead, so routing
never stalls.
"""

from __future__ import annotations

import logging
import time
from typing import TYPE_CHECKING

from switchboard.core import commands as c
from switchboard.core import events as e
from switchboard.media.engine import DtmfReceived, MediaEvent, PlayFinished, RecordingFinished

if TYPE_CHECKING:
    import asyncio
    from pathlib import Path

    from switchboard.config.model import Config
    from switchboard.media.engine import MediaEngine
    from switchboard.media.prompts import PromptLibrary
    from switchboard.runtime.dialog import Dialog
    from switchboard.runtime.driver import CoreDriver

__all__ = ["PROMPT_SECONDS", "PlaybackMixin"]

log = logging.getLogger(__name__)

PROMPT_SECONDS = 0.2


class PlaybackMixin:
    """The prompt and recording part of ``SipApp`` (which provides what is declared below)."""

    if TYPE_CHECKING:
        config: Config
        media: MediaEngine
        prompts: PromptLibrary
        data_dir: Path
        driver: CoreDriver
        loop: asyncio.AbstractEventLoop
        channels: dict[str, Dialog]

        def _pump(self) -> None: ...

    async def _play(self, cmd: c.Play | c.Whisper) -> None:
        channel = cmd.channel_id if isinstance(cmd, c.Play) else cmd.leg_id
        dialog = self._up(channel)
        if dialog is None:
            return
        loop_it = isinstance(cmd, c.Play) and cmd.loop
        try:
            files = self.prompts.compose(cmd.prompts, self._language(dialog))
            await self.media.play(channel, files, loop=loop_it, play_id=cmd.play_id)
        except Exception as err:  # a missing prompt, an unreadable file, rtpengine gone
            log.warning("cannot play %s on %s: %s", cmd.prompts, channel, err)
            self._pretend_to_play(cmd)  # the call goes on as if it had been heard

    def _language(self, dialog: Dialog) -> str:
        number = self.config.number(dialog.invite.uri.user or "") if dialog.inbound else None
        return (number.language if number is not None else None) or self.config.language

    def _up(self, channel: str) -> Dialog | None:
        """The channel's dialog unless it is gone or ended (hung up, refused: 488, 503)."""
        dialog = self.channels.get(channel)
        return None if dialog is None or dialog.state == "ended" else dialog

    async def _record(self, cmd: c.Record) -> None:
        if self._up(cmd.channel_id) is None:
            return
        folder = self.data_dir / ("voicemail" if cmd.kind == "voicemail" else "recordings")
        if cmd.box:
            folder = folder / cmd.box
        folder.mkdir(parents=True, exist_ok=True)
        stamp = time.strftime("%Y%m%d-%H%M%S")
        path = folder / f"{stamp}-{cmd.channel_id.replace('/', '_').replace('@', '_')}.wav"
        await self.media.record(cmd.channel_id, path, kind=cmd.kind, max_seconds=cmd.max_length)

    def media_event(self, event: MediaEvent) -> None:
        """What the media engine reports, into the core."""
        if isinstance(event, DtmfReceived):
            self.driver.feed(e.DigitsReceived(event.leg_id, event.digit))
        elif isinstance(event, PlayFinished):
            self.driver.feed(e.PromptFinished(event.leg_id, event.play_id))
        elif isinstance(event, RecordingFinished):
            self.driver.feed(e.RecordingSaved(event.leg_id, event.kind, event.path.as_uri(),
                                              event.duration))

    def _pretend_to_play(self, cmd: c.Play | c.Whisper) -> None:
        channel = cmd.channel_id if isinstance(cmd, c.Play) else cmd.leg_id
        dialog = self.channels.get(channel)
        if dialog is None:
            return
        for handle in dialog.plays.values():
            handle.cancel()  # a new prompt replaces the old one, silently
        dialog.plays.clear()
        if isinstance(cmd, c.Play) and cmd.loop:
            return
        play_id = cmd.play_id
        dialog.plays[play_id] = self.loop.call_later(
            PROMPT_SECONDS * len(cmd.prompts),
            lambda: self._prompt_done(dialog, channel, play_id))

    def _prompt_done(self, dialog: Dialog, channel: str, play_id: int) -> None:
        if dialog.plays.pop(play_id, None) is not None:
            self.driver.feed(e.PromptFinished(channel, play_id))
            self._pump()
