"""Qualify for ``SipApp``: OPTIONS to every registered phone, and what its silence means.

A softphone that crashed, lost its network or was closed with the laptop lid stays
registered until its registration expires (an hour, for many phones); every call meanwhile
rings it first, and the caller waits out the ring timeout. With ``sip.qualify_frequency``
set, every registered phone gets an OPTIONS that often (Asterisk's qualify, FreeSWITCH's
``all-reg-options-ping``); one that answers nothing (any response counts) within
``sip.qualify_timeout`` is not rung any more, and an agent with no answering phone is offline
to the queues (``AgentRegistered(False)``) until a phone answers a later OPTIONS or
registers again. The requests also keep a NAT's UDP mapping open between registrations.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING

from switchboard.core import events as e
from switchboard.sip.build import make_request

if TYPE_CHECKING:
    import asyncio
    import random

    from switchboard.config.model import Config
    from switchboard.runtime.driver import CoreDriver
    from switchboard.sip.headers import Address, Uri, Via
    from switchboard.sip.registrar import Binding, Reachability, Registrar
    from switchboard.sip.transaction import TransactionLayer, Transport

__all__ = ["QualifyMixin"]

log = logging.getLogger(__name__)


@dataclass(slots=True)
class _Probe:
    """One OPTIONS in flight: whose phone, and the timer that gives up on it."""

    account: str
    uri: str
    timer: asyncio.TimerHandle


class QualifyMixin:
    """The qualify part of ``SipApp`` (which provides what is declared below)."""

    qualify_timer: asyncio.TimerHandle | None  # the next round of OPTIONS
    probes: dict[str, _Probe]  # client transaction key -> OPTIONS in flight

    if TYPE_CHECKING:
        config: Config
        loop: asyncio.AbstractEventLoop
        rng: random.Random
        host: str
        driver: CoreDriver
        txl: TransactionLayer
        registrar: Registrar

        def _via(self, transport: Transport = "UDP") -> Via: ...
        def _contact(self, user: str = "switchboard") -> Address: ...
        def _new_tag(self) -> str: ...
        def _pump(self) -> None: ...
        def _phone_target(self, binding: Binding) -> tuple[Uri, tuple[str, int]]: ...

    def _start_qualify(self) -> asyncio.TimerHandle | None:
        self.probes = {}
        every = self.config.sip.qualify_frequency
        return None if every is None else self.loop.call_later(every, self._qualify)

    def _qualify(self) -> None:
        """OPTIONS to every registered phone without one in flight; then again later."""
        every = self.config.sip.qualify_frequency
        assert every is not None
        self.qualify_timer = self.loop.call_later(every, self._qualify)
        now = self.loop.time()
        pending = {(p.account, p.uri) for p in self.probes.values()}
        for binding in self.registrar.all_contacts(now):
            uri = str(binding.contact.uri)
            if (binding.account, uri) in pending:
                continue  # still waiting on the last one (its transaction retransmits)
            target, dest = self._phone_target(binding)
            request = make_request(
                "OPTIONS", target, via=self._via(binding.transport),
                from_=self._contact().with_tag(self._new_tag()), to=binding.contact,
                call_id=f"qualify-{self.rng.getrandbits(64):016x}@{self.host}", cseq=1)
            key = self.txl.send_request(request, dest, binding.transport, now)
            timer = self.loop.call_later(self.config.sip.qualify_timeout, self._unanswered_probe,
                                         key)
            self.probes[key] = _Probe(binding.account, uri, timer)
        self._pump()

    def _probe_answered(self, key: str) -> bool:
        """A response to one of our OPTIONS (any status: the phone is there); False when
        ``key`` is no probe."""
        probe = self.probes.pop(key, None)
        if probe is None:
            return False
        probe.timer.cancel()
        self._reachability(self.registrar.mark(probe.account, probe.uri, True, self.loop.time()),
                           probe)
        return True

    def _probe_ended(self, key: str) -> None:
        """The OPTIONS transaction timed out (timer F): the phone was marked already."""
        probe = self.probes.pop(key, None)
        if probe is not None:
            probe.timer.cancel()

    def _unanswered_probe(self, key: str) -> None:
        probe = self.probes.get(key)
        if probe is None:
            return
        # The transaction goes on (a late answer still marks the phone answering again);
        # until then the phone is not rung.
        changes = self.registrar.mark(probe.account, probe.uri, False, self.loop.time())
        log.warning("phone %s of %s did not answer OPTIONS within %g s: not rung until it "
                    "answers or registers again", probe.uri, probe.account,
                    self.config.sip.qualify_timeout)
        self._reachability(changes, probe)

    def _reachability(self, changes: list[Reachability], probe: _Probe) -> None:
        for change in changes:
            log.info("agent %s is %s", change.account,
                     "reachable again" if change.reachable else
                     f"unreachable: no phone answers (last: {probe.uri})")
            self.driver.feed(e.AgentRegistered(change.account, change.reachable))
