"""Outbound legs for ``SipApp``: ringing an agent's phones, dialling out through the trunks.

An agent's leg rings every phone the agent registered at once (up to ``MAX_FORKS``); the
first to answer takes the call and the others are cancelled, and the leg fails only when the
last phone refuses. A leg to a number goes through the first trunk whose name resolves and
moves to the next when one fails as a trunk (no answer, 5xx, 403, a challenge we cannot
answer). Answers come back to the command worker as ``Answered``, failovers as ``Redial``,
so that they are handled in order with the core's commands.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING

from switchboard.core import commands as c
from switchboard.core import events as e
from switchboard.runtime.dialog import Dialog
from switchboard.sip.build import make_request
from switchboard.sip.headers import Address, SipError, Uri
from switchboard.sip.message import Response
from switchboard.sip.sdp import SessionDescription, make_offer, parse_sdp
from switchboard.sip.transaction import Transport

if TYPE_CHECKING:
    import asyncio
    import random

    from switchboard.config.model import Config, Trunk
    from switchboard.core.switchboard import Switchboard
    from switchboard.runtime.driver import CoreDriver
    from switchboard.runtime.sip_app import Action
    from switchboard.sip.headers import Via
    from switchboard.sip.registrar import Binding, Registrar
    from switchboard.sip.transaction import TransactionLayer

__all__ = ["MAX_FORKS", "Answered", "LegsMixin", "Redial"]

log = logging.getLogger(__name__)

MAX_FORKS = 8  # phones of one agent rung at once, at most


@dataclass(frozen=True, slots=True)
class Answered:
    """Internal action: an outbound leg's 2xx, handled in order with the core's commands."""

    dialog: Dialog
    response: Response


@dataclass(frozen=True, slots=True)
class Redial:
    """Internal action: a leg to a number goes out again through the next trunk."""

    dialog: Dialog


class LegsMixin:
    """The outbound-leg part of ``SipApp`` (which provides what is declared below)."""

    if TYPE_CHECKING:
        config: Config
        core: Switchboard
        driver: CoreDriver
        host: str
        rng: random.Random
        loop: asyncio.AbstractEventLoop
        txl: TransactionLayer
        registrar: Registrar
        dialogs: dict[str, Dialog]
        channels: dict[str, Dialog]
        by_client_key: dict[str, Dialog]
        actions: asyncio.Queue[Action]

        def _new_tag(self) -> str: ...

        def _via(self, transport: Transport = "UDP") -> Via: ...

        def _contact(self, user: str = "switchboard") -> Address: ...

        def _forget(self, dialog: Dialog) -> None: ...

        def _hang_up(self, dialog: Dialog) -> None: ...

        def _send_ack(self, dialog: Dialog) -> None: ...

        def _send_bye(self, dialog: Dialog) -> None: ...

        async def _release(self, channel: str, unmap: bool = True) -> None: ...

        async def _allocate(self, channel: str, call: str | None) -> tuple[str, int] | None: ...

        async def _set_remote(self, channel: str, local: SessionDescription,
                              remote: SessionDescription) -> None: ...

        async def _resolve_trunk(self, trunk: Trunk) -> tuple[str, int] | None: ...

    def _won(self, dialog: Dialog) -> None:
        """One phone of an agent answered: the leg is its dialog; the others are cancelled."""
        self.channels[dialog.channel] = dialog
        for other in dialog.forks or ():
            if other is not dialog and other.state == "early" and other.client_key:
                other.state = "cancelled"
                if not self.txl.cancel(other.client_key, self.loop.time()):
                    self._forget(other)

    def _fork_failed(self, dialog: Dialog, reason: e.LegFailure) -> None:
        """A phone refused or did not answer: the leg fails when the last of its phones has
        (busy wins over the other reasons, as the agent is on the phone somewhere)."""
        if dialog.forks is not None:
            dialog.fork_failure = reason
            if self._sibling(dialog, "early") is not None:
                return
            reasons = {d.fork_failure for d in dialog.forks}
            reason = "busy" if "busy" in reasons else reason
        self.driver.feed(e.LegFailed(dialog.channel, reason))

    def _drop_fork(self, dialog: Dialog, resp: Response) -> None:
        """A 2xx from another fork of an INVITE already answered (a proxy rang two phones
        and both answered): ACK it and hang it up at once, as RFC 3261 §13.2.2.4 has a UAC
        do with the dialogs it does not want; the call goes on with the first."""
        target = resp.contacts[0].uri if resp.contacts else dialog.remote_target
        fork = Dialog(dialog.channel, dialog.call_id, dialog.local, resp.to, target,
                      dialog.peer, dialog.transport, dialog.invite, False,
                      route=tuple(reversed(resp.headers.get_all("Record-Route"))))
        log.info("leg %s: a second answer (fork %s) hung up", dialog.channel, resp.to.tag)
        self._send_ack(fork)
        self._send_bye(fork)

    def _sibling(self, dialog: Dialog, state: str | None = None) -> Dialog | None:
        """Another live dialog of the same leg (another phone of the agent), if any; with
        ``state``, one in that state."""
        for other in dialog.forks or ():
            if (other is not dialog and self.dialogs.get(other.call_id) is other
                    and (state is None or other.state == state)):
                return other
        return None

    @staticmethod
    def _phone_target(binding: Binding) -> tuple[Uri, tuple[str, int]]:
        """Where a request to a registered phone goes: its Request-URI and address."""
        uri = binding.contact.uri
        # Behind NAT the Contact names a private address: send where the REGISTER came from
        # instead. On the same host the phone's own Contact port is right. Over TCP, reuse
        # the phone's own connection (RFC 5626 spirit).
        if uri.host == binding.source[0] and binding.transport == "UDP":
            return uri, (uri.host, uri.port or 5060)
        return uri, binding.source

    async def _ring(self, leg: c.LegTarget, caller_id: str, call: str | None) -> None:
        if leg.kind != "agent":
            await self._dial_out(leg.leg_id, leg.address, caller_id, call, 0, None)
            return
        # Every phone the agent registered rings at once (a desk phone and a softphone); the
        # first to answer takes the call and the others are cancelled, as FreePBX does with
        # PJSIP_DIAL_CONTACTS. Where each INVITE goes: (Request-URI, address, transport).
        # Phones not answering the qualify OPTIONS (qualify.py) are left out.
        targets: list[tuple[Uri, tuple[str, int], Transport]] = [
            (*self._phone_target(binding), binding.transport) for binding in
            self.registrar.reachable_contacts(leg.address, self.loop.time())[:MAX_FORKS]]
        if not targets:
            self.driver.feed(e.LegFailed(leg.leg_id, "unavailable"))
            return
        offer = await self._offer(leg.leg_id, call)
        if offer is None:
            return
        forks: list[Dialog] = []
        for target, peer, transport in targets:
            dialog = self._invite(leg.leg_id, target, peer, transport, caller_id, offer)
            dialog.agent_id = leg.agent_id
            dialog.forks = forks if len(targets) > 1 else None
            forks.append(dialog)
        self.channels[leg.leg_id] = forks[0]

    async def _offer(self, leg_id: str, call: str | None) -> SessionDescription | None:
        """Media for an outbound leg and our SDP offer; None (the leg failed) without."""
        media = await self._allocate(leg_id, call)
        if media is None:  # the leg cannot carry audio: the core tries another agent or step
            self.driver.feed(e.LegFailed(leg_id, "error"))
            return None
        return make_offer(local_ip=media[0], local_port=media[1])

    def _invite(self, leg_id: str, target: Uri, peer: tuple[str, int], transport: Transport,
                caller_id: str, offer: SessionDescription) -> Dialog:
        """Send an INVITE for an outbound leg; its dialog."""
        # A Call-ID is word["@"word] (RFC 3261 §25.1); the leg id holds the caller's Call-ID
        # and so its "@": a second one made belle-sip (Linphone) answer with the Call-ID cut
        # at it, a 200 that matched no dialog of ours.
        call_id = f"{leg_id.replace('@', '.')}-{self.rng.getrandbits(32):08x}@{self.host}"
        local = Address(Uri(user=caller_id or "switchboard", host=self.host)).with_tag(
            self._new_tag())
        remote = Address(target)
        invite = make_request(
            "INVITE", target, via=self._via(transport), from_=local, to=remote,
            call_id=call_id, cseq=1, body=offer.serialize(),
            headers=[("Contact", self._contact()), ("Content-Type", "application/sdp")])
        dialog = Dialog(leg_id, call_id, local, remote, target, peer, transport, invite,
                        False, local_sdp=offer)
        self.dialogs[call_id] = dialog
        dialog.client_key = self.txl.send_request(invite, peer, transport, self.loop.time())
        self.by_client_key[dialog.client_key] = dialog
        return dialog

    async def _dial_out(self, leg_id: str, number: str, caller_id: str, call: str | None,
                        first: int, offer: SessionDescription | None) -> None:
        """A leg to a number through the trunks in their order from ``first``: the first
        whose name resolves. ``offer``: the leg's media, when a trunk before failed."""
        trunks = self.config.trunks
        for index in range(first, len(trunks)):
            peer = await self._resolve_trunk(trunks[index])
            if peer is not None:
                break
        else:  # no trunk (left): like a number that cannot be reached
            if offer is not None:
                await self._release(leg_id)
            self.driver.feed(e.LegFailed(leg_id, "unavailable"))
            return
        if offer is None:
            offer = await self._offer(leg_id, call)
            if offer is None:
                return
        trunk = trunks[index]
        target = Uri(user=number, host=trunk.host, port=trunk.port)
        transport: Transport = "TCP" if trunk.transport == "tcp" else "UDP"
        # The trunk's caller_id: the number the provider lets us show.
        dialog = self._invite(leg_id, target, peer, transport, trunk.caller_id or caller_id,
                              offer)
        dialog.trunk, dialog.trunk_index, dialog.caller_number = trunk, index, caller_id
        self.channels[leg_id] = dialog

    def _failover(self, dialog: Dialog, why: str) -> bool:
        """A leg through a trunk that failed as a trunk fails (no answer at all, a 5xx, 403,
        a challenge we could not answer), not as the callee does (busy, no answer): the next
        trunk is tried, as FreePBX's outbound routes do. True when it is."""
        if (dialog.trunk is None or dialog.state != "early"
                or dialog.trunk_index + 1 >= len(self.config.trunks)):
            return False
        self.dialogs.pop(dialog.call_id, None)  # not _forget: the leg keeps its media
        if dialog.client_key is not None:
            self.by_client_key.pop(dialog.client_key, None)
        dialog.state = "ended"
        log.warning("leg %s: trunk %s failed (%s); trying trunk %s", dialog.channel,
                    dialog.trunk.name, why, self.config.trunks[dialog.trunk_index + 1].name)
        self.actions.put_nowait(Redial(dialog))
        return True

    async def _redial(self, dialog: Dialog) -> None:
        if dialog.channel not in self.core.legs or self.channels.get(dialog.channel) is not dialog:
            await self._release(dialog.channel)  # the core let the leg go meanwhile
            return
        assert dialog.local_sdp is not None
        await self._dial_out(dialog.channel, dialog.invite.uri.user or "", dialog.caller_number,
                             None, dialog.trunk_index + 1, dialog.local_sdp)

    async def _leg_answered(self, dialog: Dialog, response: Response) -> None:
        if dialog.state != "confirmed":
            return  # hung up meanwhile (it lost a ring-all race, or the caller left)
        try:
            remote = parse_sdp(response.body)
            if dialog.local_sdp is not None:
                await self._set_remote(dialog.channel, dialog.local_sdp, remote)
        except SipError:
            log.info("leg %s answered without usable SDP", dialog.channel)
        self.driver.feed(e.LegAnswered(dialog.channel))

    def _cancel(self, leg_id: str) -> None:
        dialog = self.channels.get(leg_id)
        if dialog is None or dialog.inbound:
            return
        for fork in dialog.forks or (dialog,):
            if self.dialogs.get(fork.call_id) is fork:
                self._cancel_one(fork)

    def _cancel_one(self, dialog: Dialog) -> None:
        if dialog.state == "confirmed":
            # It answered, but the core gave the call to another leg first (two phones of a
            # ring-all answered together; its 200 waited behind the winner's): hang it up.
            self._hang_up(dialog)
            return
        if dialog.state != "early" or dialog.client_key is None:
            return
        dialog.state = "cancelled"
        # The CANCEL goes once the phone sent a 1xx; without a final answer 64*T1 later the
        # transaction times out (§9.1) and _on_timeout lets the dialog go.
        if not self.txl.cancel(dialog.client_key, self.loop.time()):
            self._forget(dialog)
