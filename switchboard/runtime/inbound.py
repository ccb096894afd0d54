"""Calls in, for ``SipApp``: a caller's INVITE, up to its answer or refusal.

A new INVITE passes the checks in turn (a To tag: 481; draining: 503; not a trunk's
address: digest; overload: 503; a body that is no SDP: 400; no common codec: 488) before
it becomes a dialog and ``CallArrived``, so that the core counts no call it cannot take.
The core's ``Answer`` allocates media and sends the 2xx (503 when the engine has no media
for it, 488 when the offer cannot be met after all), ``Reject`` sends its final answer, a
``Ring`` for the caller sends 180 once, and a CANCEL ends the call with 487.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from switchboard.core import commands as c
from switchboard.core import events as e
from switchboard.runtime.dialog import Dialog
from switchboard.sip.build import make_response
from switchboard.sip.headers import SipError
from switchboard.sip.sdp import SessionDescription, make_offer, negotiate, parse_sdp

if TYPE_CHECKING:
    import asyncio

    from switchboard.media.engine import MediaEngine
    from switchboard.runtime.driver import CoreDriver
    from switchboard.sip.headers import Address
    from switchboard.sip.transaction import RequestReceived, TransactionLayer

__all__ = ["InboundMixin"]


class InboundMixin:
    """The inbound-call part of ``SipApp`` (which provides what is declared below)."""

    if TYPE_CHECKING:
        host: str
        driver: CoreDriver
        media: MediaEngine
        loop: asyncio.AbstractEventLoop
        txl: TransactionLayer
        dialogs: dict[str, Dialog]
        channels: dict[str, Dialog]
        setting_up: set[str]
        trusted: set[str]
        passwords: dict[str, str]
        draining: bool

        def _new_tag(self) -> str: ...

        def _contact(self, user: str = "switchboard") -> Address: ...

        def _answer(self, ev: RequestReceived, status: int, to_tag: str | None = None,
                    headers: list[tuple[str, object]] | None = None) -> None: ...

        def _in_dialog_ok(self, ev: RequestReceived, dialog: Dialog) -> bool: ...

        def _on_reinvite(self, ev: RequestReceived, dialog: Dialog) -> None: ...

        def _authorized(self, ev: RequestReceived, user: str) -> bool: ...

        def _trunk_authorized(self, ev: RequestReceived) -> bool: ...

        def _shed(self, ev: RequestReceived) -> bool: ...

        def _forget(self, dialog: Dialog) -> None: ...

        async def _allocate(self, channel: str, call: str | None) -> tuple[str, int] | None: ...

        async def _set_remote(self, channel: str, local: SessionDescription,
                              remote: SessionDescription) -> None: ...

    def _on_invite(self, ev: RequestReceived) -> None:
        req = ev.request
        existing = self.dialogs.get(req.call_id)
        if existing is not None:  # a re-INVITE (hold / unhold): never shed
            if self._in_dialog_ok(ev, existing):
                self._on_reinvite(ev, existing)
            return
        if req.to.tag is not None:
            # A re-INVITE of a dialog we do not have (it ended, or was never ours) is no new
            # call: 481 (RFC 3261 §12.2.2).
            self._answer(ev, 481)
            return
        if self.draining:
            self._answer(ev, 503, headers=[("Retry-After", 30)])
            return
        if ev.source[0] not in self.trusted:
            # Not a trunk's address: only an agent who proves who they are may call in, or
            # a trunk with inbound_auth that answers the challenge with its credentials.
            caller = req.from_.uri.user or ""
            if caller in self.passwords:
                if not self._authorized(ev, caller):
                    return
            elif not self._trunk_authorized(ev):
                return
        if ev.source[0] not in self.trusted and self._shed(ev):  # (trunks: in _admit)
            return  # overloaded: 503 + Retry-After, after the source check
        try:
            offer = parse_sdp(req.body) if req.body else None
        except SipError:
            self._answer(ev, 400)
            return
        if offer is not None:
            try:  # no common codec: 488 now, before the core counts a call (or rings anyone)
                negotiate(offer, local_ip=self.host, local_port=9)
            except SipError:
                self._answer(ev, 488)
                return
        contact = req.contacts[0].uri if req.contacts else req.from_.uri  # 400 if malformed
        tag = self._new_tag()
        dialog = Dialog(req.call_id, req.call_id, req.to.with_tag(tag), req.from_, contact,
                        ev.source, ev.transport, req, True, server_key=ev.key, offer=offer,
                        remote_cseq=req.cseq.seq,
                        route=tuple(req.headers.get_all("Record-Route")))
        self.dialogs[req.call_id] = dialog
        self.channels[dialog.channel] = dialog
        self.setting_up.add(req.call_id)
        self.driver.feed(e.CallArrived(req.call_id, req.uri.user or "", req.from_.uri.user or ""))

    def _on_cancel(self, ev: RequestReceived) -> None:
        dialog = self.dialogs.get(ev.request.call_id)
        # RFC 3261 §9.2: 481 when no INVITE matches; 200 when one does, even one already
        # answered (the CANCEL then changes nothing: the caller ACKs our 2xx, then sends BYE).
        known = dialog is not None and dialog.inbound
        self._answer(ev, 200 if known or ev.cancels is not None else 481)
        if (dialog is None or not dialog.inbound or dialog.state != "early"
                or ev.cancels is None or ev.cancels != dialog.server_key):
            return
        dialog.state = "ended"
        assert dialog.server_key is not None
        terminated = make_response(dialog.invite, 487, to_tag=dialog.local.tag)
        self.txl.send_response(dialog.server_key, terminated, self.loop.time())
        self._forget(dialog)
        self.driver.feed(e.CallerHungUp(dialog.channel))

    async def _answer_call(self, call_id: str) -> None:
        dialog = self.channels.get(call_id)
        if (dialog is None or dialog.state != "early" or dialog.server_key is None
                or dialog.local_sdp is not None):
            # Gone, or answered already: an Answer of an earlier call on this Call-ID (the
            # caller dialled again with it while that one was answered) must not allocate
            # the media twice nor send a second 2xx on a transaction that has its own.
            return
        media = await self._allocate(call_id, call_id)
        if dialog.state != "early":  # the caller left while the engine answered (rtpengine)
            if media is not None:  # its release ran before there was anything to release
                await self.media.release(call_id)
            return
        if media is None:
            # No media for the caller (RTP ports or file descriptors exhausted, rtpengine not
            # answering): refuse the call as a server that cannot serve it now, and let the
            # core see a caller who left (the missed-call ledger keeps the number).
            self._reject(c.Reject(call_id, 503, "Service Unavailable"))
            self.driver.feed(e.CallerHungUp(call_id))
            return
        ip, port = media
        if dialog.offer is None:
            sdp = make_offer(local_ip=ip, local_port=port)
        else:
            try:
                sdp = negotiate(dialog.offer, local_ip=ip, local_port=port)
            except SipError:
                self._reject(c.Reject(call_id, 488, "Not Acceptable Here"))
                self.driver.feed(e.CallerHungUp(call_id))
                return
            await self._set_remote(call_id, sdp, dialog.offer)
        dialog.local_sdp = sdp
        ok = make_response(dialog.invite, 200, to_tag=dialog.local.tag,
                           headers=[("Contact", self._contact()),
                                    ("Content-Type", "application/sdp")],
                           body=sdp.serialize(), copy_record_route=True)
        self.txl.send_response(dialog.server_key, ok, self.loop.time())

    def _reject(self, cmd: c.Reject) -> None:
        dialog = self.channels.get(cmd.call_id)
        if dialog is None or dialog.server_key is None or dialog.state != "early":
            return
        dialog.state = "ended"
        response = make_response(dialog.invite, cmd.code, cmd.reason, to_tag=dialog.local.tag)
        self.txl.send_response(dialog.server_key, response, self.loop.time())
        self._forget(dialog)

    def _ringback(self, call_id: str | None) -> None:
        """180 Ringing to a caller not answered yet while we ring for them (ring steps)."""
        dialog = self.channels.get(call_id or "")
        if (dialog is None or not dialog.inbound or dialog.state != "early"
                or dialog.local_sdp is not None or dialog.ringing or dialog.server_key is None):
            return
        dialog.ringing = True
        ringing = make_response(dialog.invite, 180, to_tag=dialog.local.tag,
                                headers=[("Contact", self._contact())], copy_record_route=True)
        self.txl.send_response(dialog.server_key, ringing, self.loop.time())
