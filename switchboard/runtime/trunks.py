"""Trunks for ``SipApp``: registering to a provider and answering its digest challenges.

A trunk with ``registration: true`` is sent REGISTER (RFC 3261 section 10.2), refreshed at
80 % of the granted expiry, retried after ``TRUNK_RETRY`` seconds when refused or unanswered.
A 401/407 to an outbound INVITE or a REGISTER is answered once with the trunk's credentials.
"""

from __future__ import annotations

import asyncio
import logging
import random
import secrets
import socket
from dataclasses import dataclass
from typing import TYPE_CHECKING

from switchboard.config.model import Trunk
from switchboard.sip.auth import authorize, challenges_in
from switchboard.sip.build import make_request
from switchboard.sip.headers import Address, Uri, is_address
from switchboard.sip.message import Request, Response
from switchboard.sip.transaction import Transport

if TYPE_CHECKING:
    from switchboard.runtime.dialog import Dialog
    from switchboard.sip.headers import Via
    from switchboard.sip.transaction import TransactionLayer

__all__ = ["TRUNK_EXPIRES", "TRUNK_RETRY", "TrunkMixin", "TrunkRegistration"]

log = logging.getLogger(__name__)

TRUNK_EXPIRES = 3600  # seconds asked for when registering to a trunk
TRUNK_RETRY = 60.0  # seconds before trying a refused or unanswered trunk REGISTER again
TRUNK_DNS_TTL = 300.0  # seconds a trunk's resolved address is used before asking DNS again


@dataclass(eq=False)
class TrunkRegistration:
    """Our registration at one trunk."""

    trunk: Trunk
    call_id: str
    tag: str
    cseq: int = 0
    request: Request | None = None
    authorized: bool = False
    registered: bool = False
    timer: asyncio.TimerHandle | None = None
    key: str | None = None  # the REGISTER's client transaction


class TrunkMixin:
    """The trunk part of ``SipApp`` (which provides what is declared below)."""

    if TYPE_CHECKING:
        host: str
        rng: random.Random
        loop: asyncio.AbstractEventLoop
        txl: TransactionLayer
        by_client_key: dict[str, Dialog]
        trunk_registrations: dict[str, TrunkRegistration]
        trunk_addresses: dict[str, tuple[tuple[str, int], float]]
        trusted: set[str]

        def _new_tag(self) -> str: ...

        def _via(self, transport: Transport = "UDP") -> Via: ...

        def _contact(self, user: str = "switchboard") -> Address: ...

        def _pump(self) -> None: ...

    def _trunk_peer(self, trunk: Trunk) -> tuple[str, int] | None:
        """Where the trunk's requests go, if known now: its address, or the address its name
        resolved to lately (``_resolve_trunk``)."""
        if is_address(trunk.host):
            return trunk.host.strip("[]"), trunk.port
        known = self.trunk_addresses.get(trunk.name)
        if known is None or self.loop.time() - known[1] > TRUNK_DNS_TTL:
            return None
        return known[0]

    async def _resolve_trunk(self, trunk: Trunk) -> tuple[str, int] | None:
        """The trunk's address, asking DNS (off the event loop) when its name was not
        resolved in the last ``TRUNK_DNS_TTL`` seconds. Its addresses become trusted sources
        of inbound calls. When DNS fails, the last address is used, as Asterisk does."""
        peer = self._trunk_peer(trunk)
        if peer is not None:
            return peer
        family = socket.AF_INET6 if ":" in self.host else socket.AF_INET
        try:
            infos = await self.loop.getaddrinfo(trunk.host, trunk.port, family=family,
                                                type=socket.SOCK_DGRAM)
        except OSError as err:
            infos = []
            log.warning("trunk %s: cannot resolve %s: %s", trunk.name, trunk.host, err)
        if not infos:
            known = self.trunk_addresses.get(trunk.name)
            return None if known is None else known[0]
        addresses = [str(info[4][0]) for info in infos]
        self.trusted.update(addresses)
        peer = (addresses[0], trunk.port)
        if self.trunk_addresses.get(trunk.name, (None,))[0] != peer:
            log.info("trunk %s: %s is %s", trunk.name, trunk.host, ", ".join(addresses))
        self.trunk_addresses[trunk.name] = (peer, self.loop.time())
        return peer

    async def _register_when_resolved(self, trunk: Trunk,
                                      previous: TrunkRegistration | None) -> None:
        if await self._resolve_trunk(trunk) is None:
            self.loop.call_later(TRUNK_RETRY, self._register_trunk, trunk, previous)
            return
        self._register_trunk(trunk, previous)

    def _credentials(self, request: Request, response: Response, trunk: Trunk) -> str | None:
        """The Authorization value answering a trunk's 401/407, or None when we cannot."""
        challenges = challenges_in(response)
        if not challenges or not trunk.username or not trunk.password:
            return None
        creds = authorize(challenges[0], method=request.method, uri=str(request.uri),
                          username=trunk.username, password=trunk.password,
                          cnonce=secrets.token_hex(8), body=request.body)
        return str(creds)

    def _authenticate(self, dialog: Dialog, resp: Response) -> bool:
        """Answer a trunk's digest challenge once with a new INVITE (same Call-ID, CSeq+1)."""
        if dialog.auth_tried or dialog.trunk is None or dialog.state != "early":
            return False
        value = self._credentials(dialog.invite, resp, dialog.trunk)
        if value is None:
            return False
        header = "Proxy-Authorization" if resp.status == 407 else "Authorization"
        old = dialog.invite
        invite = make_request(
            "INVITE", old.uri, via=self._via(dialog.transport), from_=old.from_, to=old.to,
            call_id=old.call_id, cseq=old.cseq.seq + 1,
            headers=[("Contact", self._contact()), ("Content-Type", "application/sdp"),
                     (header, value)],
            body=old.body)
        dialog.invite = invite
        dialog.local_cseq = invite.cseq.seq  # our next request in the dialog (BYE) follows it
        dialog.auth_tried = True
        if dialog.client_key is not None:
            self.by_client_key.pop(dialog.client_key, None)
        dialog.client_key = self.txl.send_request(invite, dialog.peer, dialog.transport,
                                                  self.loop.time())
        self.by_client_key[dialog.client_key] = dialog
        return True

    def _register_trunk(self, trunk: Trunk, previous: TrunkRegistration | None,
                        authorization: tuple[str, str] | None = None) -> None:
        """REGISTER to a trunk (RFC 3261 §10.2), refreshed before it expires."""
        peer = self._trunk_peer(trunk)
        if peer is None:  # a name not resolved lately: resolve it first, then come back
            self.loop.create_task(self._register_when_resolved(trunk, previous))
            return
        state = previous or TrunkRegistration(
            trunk, f"trunk-{trunk.name}-{self.rng.getrandbits(32):08x}@{self.host}",
            self._new_tag())
        state.cseq += 1
        user = trunk.username or "switchboard"
        aor = Address(Uri(user=user, host=trunk.host))
        transport: Transport = "TCP" if trunk.transport == "tcp" else "UDP"
        headers: list[tuple[str, object]] = [("Contact", self._contact(user)),
                                             ("Expires", TRUNK_EXPIRES)]
        if authorization is not None:
            headers.append(authorization)
        request = make_request(
            "REGISTER", Uri(host=trunk.host, port=trunk.port), via=self._via(transport),
            from_=aor.with_tag(state.tag), to=aor, call_id=state.call_id, cseq=state.cseq,
            headers=headers)
        state.request = request
        state.authorized = authorization is not None
        self.trunk_registrations[state.call_id] = state
        state.key = self.txl.send_request(request, peer, transport, self.loop.time())
        self._pump()

    def _trunk_registered(self, resp: Response) -> None:
        state = self.trunk_registrations.get(resp.call_id)
        if state is None or state.request is None or resp.cseq.seq != state.cseq:
            return
        trunk = state.trunk
        if resp.status in (401, 407) and not state.authorized:
            value = self._credentials(state.request, resp, trunk)
            if value is not None:
                header = "Proxy-Authorization" if resp.status == 407 else "Authorization"
                self._register_trunk(trunk, state, (header, value))
                return
        if 200 <= resp.status < 300:
            expires = resp.expires or TRUNK_EXPIRES
            state.registered = True
            delay = max(10.0, expires * 0.8)
        else:
            log.warning("trunk %s refused REGISTER: %s %s", trunk.name, resp.status,
                        resp.reason)
            state.registered = False
            delay = TRUNK_RETRY
        state.timer = self.loop.call_later(delay, self._register_trunk, trunk, state)
