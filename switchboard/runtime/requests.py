"""Requests received, for ``SipApp``: dispatch by method, and the requests within a dialog.

``_on_request`` routes each request the transaction layer hands up: the ACK of our 2xx
confirms an inbound call, REGISTER goes to ``admission``, INVITE and CANCEL to ``inbound``
(a re-INVITE to ``hold``), OPTIONS is answered with what we allow, and a request that
requires an extension or has a method we do not serve is refused. BYE and INFO (keys sent
as SIP INFO) are handled here, after the in-dialog checks of RFC 3261 §12.2.2.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from switchboard.core import events as e
from switchboard.sip.build import make_response
from switchboard.sip.transaction import RequestReceived

if TYPE_CHECKING:
    import asyncio

    from switchboard.runtime.dialog import Dialog
    from switchboard.runtime.driver import CoreDriver
    from switchboard.sip.transaction import TransactionLayer

__all__ = ["ALLOW", "RequestsMixin"]

ALLOW = "INVITE, ACK, CANCEL, BYE, OPTIONS, REGISTER, INFO"
_INFO_DTMF = re.compile(r"^\s*signal\s*=\s*([0-9*#a-d])", re.IGNORECASE | re.MULTILINE)


class RequestsMixin:
    """The request part of ``SipApp`` (which provides what is declared below)."""

    if TYPE_CHECKING:
        driver: CoreDriver
        loop: asyncio.AbstractEventLoop
        txl: TransactionLayer
        dialogs: dict[str, Dialog]
        setting_up: set[str]

        def _new_tag(self) -> str: ...

        def _hang_up(self, dialog: Dialog) -> None: ...

        def _forget(self, dialog: Dialog) -> None: ...

        def _on_register(self, ev: RequestReceived) -> None: ...

        def _on_invite(self, ev: RequestReceived) -> None: ...

        def _on_cancel(self, ev: RequestReceived) -> None: ...

    def _on_request(self, ev: RequestReceived) -> None:
        req = ev.request
        method = req.method
        if method == "ACK":
            dialog = self.dialogs.get(req.call_id)
            if (dialog is None or not dialog.inbound or dialog.local_sdp is None
                    or req.cseq.seq != dialog.invite.cseq.seq
                    or req.to.tag != dialog.local.tag):
                # Not the ACK of our 2xx to the call's INVITE (RFC 3261 §13.3.1.4): of a
                # re-INVITE, or a stray one (a late copy of an error's ACK, an ACK before
                # we answered). It confirms nothing: the 2xx still waits for its own.
                return
            if dialog.state == "bye_after_ack":
                self._hang_up(dialog)  # hung up while our 2xx waited for this ACK
            elif dialog.state == "early":
                dialog.state = "confirmed"
                self.setting_up.discard(dialog.call_id)  # answered and acknowledged
            return
        assert ev.key is not None
        required = [tag for value in req.headers.get_all("Require") for tag in value.split(",")
                    if tag.strip()] if method != "CANCEL" else []
        if required:  # we support no SIP extension a request may require (RFC 3261 §8.2.2.3)
            self._answer(ev, 420, headers=[("Unsupported", ", ".join(t.strip() for t in required))])
            return
        if method == "REGISTER":
            self._on_register(ev)
        elif method == "INVITE":
            self._on_invite(ev)
        elif method == "CANCEL":
            self._on_cancel(ev)
        elif method == "BYE":
            self._on_bye(ev)
        elif method == "OPTIONS":
            self._answer(ev, 200, headers=[("Allow", ALLOW)])
        elif method == "INFO":
            self._on_info(ev)
        else:
            self._answer(ev, 405 if req.is_known_method else 501, headers=[("Allow", ALLOW)])

    def _answer(self, ev: RequestReceived, status: int, to_tag: str | None = None,
                headers: list[tuple[str, object]] | None = None) -> None:
        assert ev.key is not None
        response = make_response(ev.request, status, to_tag=to_tag or self._new_tag(),
                                 headers=headers or [])
        self.txl.send_response(ev.key, response, self.loop.time())

    def _in_dialog_ok(self, ev: RequestReceived, dialog: Dialog) -> bool:
        """A request within ``dialog`` (RFC 3261 §12.2.2): its tags name this dialog (else
        481; an INVITE with no To tag reusing the Call-ID is a merged request: 482), and its
        CSeq does not go back (else 500). Answers the refusal itself."""
        req = ev.request
        if req.to.tag != dialog.local.tag or req.from_.tag != dialog.remote.tag:
            self._answer(ev, 482 if req.method == "INVITE" and req.to.tag is None else 481)
            return False
        seq = req.cseq.seq
        if dialog.remote_cseq is not None and seq < dialog.remote_cseq:
            self._answer(ev, 500, to_tag=dialog.local.tag)
            return False
        dialog.remote_cseq = seq
        return True

    def _on_bye(self, ev: RequestReceived) -> None:
        dialog = self.dialogs.get(ev.request.call_id)
        if dialog is None:
            self._answer(ev, 481)
            return
        if not self._in_dialog_ok(ev, dialog):
            return
        self._answer(ev, 200, to_tag=dialog.local.tag)
        if dialog.state == "ended":
            return  # we hung up at the same moment: our BYE ends it
        pending = self.txl.servers.get(dialog.server_key or "")
        if dialog.inbound and pending is not None and pending.state == "proceeding":
            # A BYE on the early dialog (after our 180) ends the INVITE too: 487 (§15.1.2).
            assert dialog.server_key is not None
            self.txl.send_response(dialog.server_key, make_response(
                dialog.invite, 487, to_tag=dialog.local.tag), self.loop.time())
        dialog.state = "ended"
        self._forget(dialog)
        self.driver.feed(e.CallerHungUp(dialog.channel) if dialog.inbound
                         else e.LegHungUp(dialog.channel))

    def _on_info(self, ev: RequestReceived) -> None:
        """In-dialog INFO: a key pressed, sent as SIP INFO instead of RFC 4733 events
        (``application/dtmf-relay``: ``Signal=5``; ``application/dtmf``: ``5``)."""
        req = ev.request
        dialog = self.dialogs.get(req.call_id)
        if dialog is None:
            self._answer(ev, 481)
            return
        if not self._in_dialog_ok(ev, dialog):
            return
        body = req.body.decode("utf-8", "replace")
        kind = req.content_type
        digit: str | None = None
        if kind == "application/dtmf-relay":
            found = _INFO_DTMF.search(body)
            digit = found.group(1).upper() if found else None
        elif kind == "application/dtmf":
            text = body.strip()
            digit = text.upper() if len(text) == 1 and text in "0123456789*#ABCDabcd" else None
        elif not req.body:
            self._answer(ev, 200, to_tag=dialog.local.tag)  # an empty INFO: a keep-alive
            return
        if digit is None:
            self._answer(ev, 415, to_tag=dialog.local.tag,
                         headers=[("Accept", "application/dtmf-relay, application/dtmf")])
            return
        self._answer(ev, 200, to_tag=dialog.local.tag)
        self.driver.feed(e.DigitsReceived(dialog.channel, digit))
