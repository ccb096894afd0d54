"""Hold and unhold (re-INVITE with sendonly / inactive / c=0.0.0.0) for ``SipApp``.

The re-INVITE is answered at once (``sdp.renegotiate``: recvonly / inactive / sendrecv from
the same address); the media follow on the command worker, in order with the core's
commands: while either party of a bridged pair holds, the bridge is undone and the party
not holding hears the queue's music (or ``music_on_hold``); once neither holds, the music
stops and the bridge is made again. The core hears ``CallHeld`` when a hold begins and
ends, and adds the time to ``CallFinished.hold`` (talk still includes it, as billsec).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING

from switchboard.core import commands as c
from switchboard.core import events as e
from switchboard.sip.build import make_response
from switchboard.sip.headers import SipError
from switchboard.sip.sdp import SessionDescription, parse_sdp, renegotiate
from switchboard.sip.transaction import RequestReceived

if TYPE_CHECKING:
    import asyncio

    from switchboard.config.model import Config
    from switchboard.core.switchboard import Switchboard
    from switchboard.media.engine import MediaEngine
    from switchboard.media.prompts import PromptLibrary
    from switchboard.runtime.dialog import Dialog
    from switchboard.runtime.driver import CoreDriver
    from switchboard.runtime.sip_app import Action
    from switchboard.sip.headers import Address
    from switchboard.sip.transaction import TransactionLayer

__all__ = ["HOLD_PROMPT", "HoldMixin", "Reinvited"]

log = logging.getLogger(__name__)

HOLD_PROMPT = "music_on_hold"  # what a party put on hold hears outside a queue with music


@dataclass(frozen=True, slots=True)
class Reinvited:
    """Internal action: a re-INVITE's offer was answered; the media follow it in order."""

    dialog: Dialog
    offer: SessionDescription
    held: bool  # the offer puts the call on hold (sendonly, inactive, c=0.0.0.0)


class HoldMixin:
    """The hold part of ``SipApp`` (which provides what is declared below)."""

    if TYPE_CHECKING:
        config: Config
        core: Switchboard
        driver: CoreDriver
        media: MediaEngine
        prompts: PromptLibrary
        channels: dict[str, Dialog]
        txl: TransactionLayer
        loop: asyncio.AbstractEventLoop
        actions: asyncio.Queue[Action]

        def _answer(self, ev: RequestReceived, status: int, to_tag: str | None = None,
                    headers: list[tuple[str, object]] | None = None) -> None: ...

        def _contact(self, user: str = "switchboard") -> Address: ...

        def _language(self, dialog: Dialog) -> str: ...

        async def _set_remote(self, channel: str, local: SessionDescription,
                              remote: SessionDescription) -> None: ...

    def _on_reinvite(self, ev: RequestReceived, dialog: Dialog) -> None:
        """A re-INVITE in a dialog: answer its offer (hold: recvonly / inactive, unhold:
        sendrecv) from the same media address; the media follow on the worker."""
        req = ev.request
        if dialog.local_sdp is None or dialog.state in ("cancelled", "ended"):
            self._answer(ev, 491 if dialog.local_sdp is None else 481)
            return
        offer: SessionDescription | None = None
        answer = dialog.local_sdp
        if req.body:  # no body: we offer our session again, the answer comes in the ACK
            try:
                offer = parse_sdp(req.body)
                answer = renegotiate(offer, dialog.local_sdp)
            except SipError as err:
                self._answer(ev, getattr(err, "status", None) or 488, to_tag=dialog.local.tag)
                return
        dialog.local_sdp = answer
        ok = make_response(req, 200, to_tag=dialog.local.tag,
                           headers=[("Contact", self._contact()),
                                    ("Content-Type", "application/sdp")],
                           body=answer.serialize())
        assert ev.key is not None
        self.txl.send_response(ev.key, ok, self.loop.time())
        if offer is not None:
            self.actions.put_nowait(Reinvited(dialog, offer, offer.is_hold))

    async def _reinvited(self, cmd: Reinvited) -> None:
        """A re-INVITE's offer was answered: the media follow (address, codec, hold)."""
        dialog = cmd.dialog
        if self.channels.get(dialog.channel) is not dialog or dialog.local_sdp is None:
            return  # ended meanwhile
        try:
            await self._set_remote(dialog.channel, dialog.local_sdp, cmd.offer)
        except SipError:
            log.info("re-INVITE on %s: no usable audio in the offer", dialog.channel)
        if cmd.held != dialog.held:
            dialog.held = cmd.held
            log.info("hold: %s %s", dialog.channel, "holds the call" if cmd.held else "resumes")
            await self._hold_changed(dialog)

    async def _bridged(self, a: str, b: str) -> None:
        first, second = self.channels.get(a), self.channels.get(b)
        if first is None or second is None:
            return
        first.bridged_to, second.bridged_to = b, a
        if first.held or second.held:  # put on hold before the bridge: hold it now
            await self._hold_changed(first)

    async def _hold_changed(self, dialog: Dialog) -> None:
        """Media for the hold state of a bridged pair: while either party holds, the bridge
        is undone and the party not holding hears hold music; once neither holds, the music
        stops and the bridge is made again."""
        other = self.channels.get(dialog.bridged_to or "")
        if other is None or other.bridged_to != dialog.channel:
            return  # not bridged (yet): _bridged applies the hold
        held = dialog.held or other.held
        inbound = dialog if dialog.inbound else other if other.inbound else None
        if inbound is not None:  # the core times the hold for the call record
            self.driver.feed(e.CallHeld(inbound.channel, held))
        if held:
            await self.media.unbridge(dialog.channel)
        for party, holder in ((dialog, other), (other, dialog)):
            if holder.held and not party.held:
                if not party.hold_music:
                    await self._start_hold_music(party, holder)
            elif party.hold_music:
                await self._stop_hold_music(party)
        if not held:
            await self.media.bridge(dialog.channel, other.channel)
            log.info("hold: %s and %s bridged again", dialog.channel, other.channel)

    def _hold_prompt(self, call_id: str) -> str:
        """The queue's music for a call that came through a queue with music, else the
        default hold music (also for a queue with ``music: null``: silence on hold would
        sound like a dropped call)."""
        call = self.core.calls.get(call_id)
        queue = self.config.queues.get(call.queue) if call is not None and call.queue else None
        return (queue.music if queue is not None else None) or HOLD_PROMPT

    def _played(self, channel: str) -> int:
        stats = getattr(self.media, "stats", None)  # the in-process driver counts packets
        try:
            return int(stats(channel).played) if stats is not None else 0
        except KeyError:
            return 0

    async def _start_hold_music(self, party: Dialog, holder: Dialog) -> None:
        caller = party if party.inbound else holder
        prompt = self._hold_prompt(caller.channel)
        party.hold_music = True
        party.hold_played = self._played(party.channel)
        try:
            files = self.prompts.compose((c.Prompt(prompt),), self._language(caller))
            await self.media.play(party.channel, files, loop=True)
        except (OSError, LookupError, ValueError) as err:  # PromptNotFound is a LookupError
            log.warning("cannot play hold music %s to %s: %s", prompt, party.channel, err)
            return
        log.info("hold: %s on hold by %s hears %s", party.channel, holder.channel, prompt)

    async def _stop_hold_music(self, party: Dialog) -> None:
        party.hold_music = False
        await self.media.stop(party.channel)
        log.info("hold: %s off hold; %d packets of hold music played to it", party.channel,
                 self._played(party.channel) - party.hold_played)
