"""Who may in, for ``SipApp``: overload shedding, digest authentication, registrations.

New calls past the ``sip:`` limits get 503 with Retry-After (docs/sip.md, Overload): a trunk's
INVITE statelessly, before any transaction, and other callers after their source and
authentication checks. Agents and trunks with ``inbound_auth`` prove who they are with
digest (RFC 7616); the registrar's bindings expire on a loop timer.
"""

from __future__ import annotations

import logging
import time
from typing import TYPE_CHECKING

from switchboard.core import events as e
from switchboard.sip.auth import Verdict
from switchboard.sip.build import make_response
from switchboard.sip.message import Request, Response
from switchboard.sip.overload import Shed
from switchboard.sip.transaction import RequestReceived, stateless_tag

if TYPE_CHECKING:
    import asyncio

    from switchboard.core.switchboard import Switchboard
    from switchboard.runtime.dialog import Dialog
    from switchboard.runtime.driver import CoreDriver
    from switchboard.sip.auth import DigestServer
    from switchboard.sip.overload import LagMeter, OverloadGuard
    from switchboard.sip.registrar import Registrar
    from switchboard.sip.transaction import TransactionLayer

__all__ = ["AdmissionMixin"]

log = logging.getLogger(__name__)


class AdmissionMixin:
    """The admission part of ``SipApp`` (which provides what is declared below)."""

    if TYPE_CHECKING:
        core: Switchboard
        driver: CoreDriver
        loop: asyncio.AbstractEventLoop
        txl: TransactionLayer
        registrar: Registrar
        auth: DigestServer
        passwords: dict[str, str]
        trunk_passwords: dict[str, str]
        trusted: set[str]
        dialogs: dict[str, Dialog]
        setting_up: set[str]
        draining: bool
        overload: OverloadGuard
        lag: LagMeter
        _shed_detail: str
        _lag_timer: asyncio.TimerHandle | None
        _reg_timer: asyncio.TimerHandle | None

        def _new_tag(self) -> str: ...

        def _answer(self, ev: RequestReceived, status: int, to_tag: str | None = None,
                    headers: list[tuple[str, object]] | None = None) -> None: ...

    def _lag_tick(self) -> None:
        """Measure the event loop's lag; report the calls shed for overload (rate-limited)."""
        now = self.loop.time()
        self.lag.tick(now)
        self._report_overload(now)
        self._lag_timer = self.loop.call_at(self.lag.next_tick(now), self._lag_tick)

    def _report_overload(self, now: float, final: bool = False) -> None:
        report = self.overload.report(now, final=final)
        if report is not None:
            log.warning("overload: %s in %.1f s, the last for %s; %d refused since start",
                        report, now - report.since, self._shed_detail, report.total)

    def _shed(self, ev: RequestReceived) -> bool:
        """Refuse a new call with 503 + Retry-After when over a limit (overload): calls that
        came in past ``_admit`` (agents calling in, after their authentication)."""
        now = self.loop.time()
        shed = self._overloaded(now)
        if shed is None:
            return False
        self._answer(ev, 503, headers=[("Retry-After", shed.retry_after)])
        return True

    def _admit(self, request: Request, source: tuple[str, int], now: float
               ) -> Response | None:
        """Before any transaction: a new INVITE from a trunk under overload gets its 503
        statelessly (no 100 Trying, no transaction, no retransmission timers: shedding must
        cost less than serving). Others (agents, strangers) are checked after the source
        and authentication checks, in ``_on_invite``, so that they use none of the calls
        per second before that."""
        if (self.draining or source[0] not in self.trusted or request.call_id in self.dialogs):
            return None
        shed = self._overloaded(now)
        if shed is None:
            return None
        return make_response(request, 503, to_tag=stateless_tag(request),
                             headers=[("Retry-After", shed.retry_after)])

    def _overloaded(self, now: float) -> Shed | None:
        shed = self.overload.check(now, calls=len(self.core.calls),
                                   in_setup=len(self.setting_up), lag=self.lag.lag(now))
        if shed is not None:
            self._shed_detail = shed.detail
            self._report_overload(now)
        return shed

    def _authorized(self, ev: RequestReceived, account: str) -> bool:
        """Digest (RFC 7616) for accounts with a password; answers the 401 itself."""
        password = self.passwords.get(account)
        return password is None or self._digest(ev, {account: password})

    def _trunk_authorized(self, ev: RequestReceived) -> bool:
        """An INVITE from an unknown address with the digest credentials of a trunk that
        has ``inbound_auth``; answers the 401 (or 403: no such trunk) itself."""
        if not self.trunk_passwords:
            self._answer(ev, 403)
            return False
        return self._digest(ev, self.trunk_passwords)

    def _digest(self, ev: RequestReceived, accounts: dict[str, str]) -> bool:
        """The request answers our challenge as one of ``accounts`` (username -> password);
        else a 401 with a fresh challenge (stale=true when only the nonce was too old)."""
        now = time.time()  # wall clock: nonces stay valid across event-loop clocks
        req = ev.request
        stale = False
        credentials = self.auth.credentials(req)
        password = accounts.get(credentials.username) if credentials is not None else None
        if credentials is not None and password is not None:
            verdict = self.auth.verify(credentials, method=req.method, now=now,
                                       password=password, uri=req.uri, body=req.body)
            if verdict is Verdict.OK:
                return True
            stale = verdict is Verdict.STALE
        self._answer(ev, 401, headers=list(self.auth.challenge_headers(now, stale=stale)))
        return False

    def _on_register(self, ev: RequestReceived) -> None:
        if not self._authorized(ev, ev.request.to.uri.user or ""):
            return
        response, changes = self.registrar.register(ev.request, ev.source, ev.transport,
                                                    self.loop.time(), self._new_tag())
        assert ev.key is not None
        self.txl.send_response(ev.key, response, self.loop.time())
        for change in changes:
            self.driver.feed(e.AgentRegistered(change.account, change.reachable))
        self._arm_registrations()

    def _arm_registrations(self) -> None:
        if self._reg_timer is not None:
            self._reg_timer.cancel()
            self._reg_timer = None
        expiry = self.registrar.next_expiry()
        if expiry is not None:
            self._reg_timer = self.loop.call_at(expiry, self._expire_registrations)

    def _expire_registrations(self) -> None:
        self._reg_timer = None
        for change in self.registrar.expire(self.loop.time()):
            self.driver.feed(e.AgentRegistered(change.account, change.reachable))
        self._arm_registrations()
