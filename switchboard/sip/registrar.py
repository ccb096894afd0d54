"""The registrar (RFC 3261 §10.3): where each agent's softphones can be reached. Sans-IO.

Authentication happens before a REGISTER gets here (digest, in the user agent layer). The
registrar keeps, per account, several contacts with their own expiry, remembers the address
each REGISTER really came from (so INVITEs reach a phone behind NAT), and reports an account
becoming reachable or unreachable, which the runtime turns into ``AgentRegistered``. A
binding whose phone stopped answering the runtime's OPTIONS (``mark``: qualify, as Asterisk's)
is kept but not rung; an account with no other binding is then unreachable, until a phone
answers again or registers again.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final, Literal

from switchboard.sip.build import make_response
from switchboard.sip.headers import Address, SipParseError
from switchboard.sip.message import Request, Response

MIN_EXPIRES: Final = 60
MAX_EXPIRES: Final = 3600
MAX_CONTACTS: Final = 10  # per account; more phones than a person uses, fewer than a leak


@dataclass(frozen=True, slots=True)
class Binding:
    """One registered contact of an account."""

    account: str
    contact: Address
    expires_at: float
    source: tuple[str, int]  # where the REGISTER came from: where to send requests (NAT)
    transport: Literal["UDP", "TCP"]
    call_id: str
    cseq: int


@dataclass(frozen=True, slots=True)
class Reachability:
    """An account got its first reachable binding (True) or lost its last one (False)."""

    account: str
    reachable: bool


class Registrar:
    """Bindings of the known accounts, with expiry."""

    def __init__(self, accounts: set[str], min_expires: int = MIN_EXPIRES,
                 max_expires: int = MAX_EXPIRES, max_contacts: int = MAX_CONTACTS) -> None:
        if max_contacts < 1:
            raise ValueError(f"max_contacts must be at least 1, got {max_contacts}")
        self.accounts = accounts
        self.min_expires = min_expires
        self.max_expires = max_expires
        self.max_contacts = max_contacts
        self._bindings: dict[str, dict[str, Binding]] = {}  # account -> contact URI -> binding
        self._down: set[tuple[str, str]] = set()  # (account, contact URI) not answering OPTIONS
        self._up: set[str] = set()  # accounts last reported reachable

    def contacts(self, account: str, now: float) -> list[Binding]:
        """Live bindings of an account, most recently registered first."""
        live = [b for b in self._bindings.get(account, {}).values() if b.expires_at > now]
        return sorted(live, key=lambda b: -b.expires_at)

    def reachable_contacts(self, account: str, now: float) -> list[Binding]:
        """Live bindings whose phones answer (``mark``), most recently registered first."""
        return [b for b in self.contacts(account, now)
                if (account, str(b.contact.uri)) not in self._down]

    def all_contacts(self, now: float) -> list[Binding]:
        """Every live binding of every account (the phones to qualify)."""
        return [b for account in self._bindings for b in self.contacts(account, now)]

    def mark(self, account: str, uri: str, answering: bool, now: float) -> list[Reachability]:
        """A phone answered our OPTIONS (True) or left it unanswered (False); any change of
        the account's reachability. A binding no longer held is ignored."""
        if uri not in self._bindings.get(account, {}):
            return []
        if answering:
            self._down.discard((account, uri))
        else:
            self._down.add((account, uri))
        return self._report(account, now)

    def _report(self, account: str, now: float) -> list[Reachability]:
        """The account's reachability if it changed since last reported."""
        up = bool(self.reachable_contacts(account, now))
        if up == (account in self._up):
            return []
        if up:
            self._up.add(account)
        else:
            self._up.discard(account)
        return [Reachability(account, up)]

    def next_expiry(self) -> float | None:
        times = [b.expires_at for bs in self._bindings.values() for b in bs.values()]
        return min(times) if times else None

    def expire(self, now: float) -> list[Reachability]:
        """Drop bindings that ran out; report accounts that became unreachable."""
        changes = []
        for account, bindings in list(self._bindings.items()):
            for uri, binding in list(bindings.items()):
                if binding.expires_at <= now:
                    del bindings[uri]
                    self._down.discard((account, uri))
            if not bindings:
                del self._bindings[account]
            changes += self._report(account, now)
        return changes

    def register(self, request: Request, source: tuple[str, int],
                 transport: Literal["UDP", "TCP"], now: float,
                 to_tag: str) -> tuple[Response, list[Reachability]]:
        """Apply a REGISTER (already authenticated); the response and any reachability change."""
        account = request.to.uri.user or ""
        if account not in self.accounts:
            return make_response(request, 404, to_tag=to_tag), []
        if "*" in request.headers.get_all("Contact") and not request.contact_is_wildcard:
            return make_response(request, 400, "Contact: * must be alone", to_tag=to_tag), []
        header_expires = request.expires
        # stored only once it holds a binding: a refused REGISTER must leave no empty entry,
        # which expire() would report as the account becoming unreachable
        bindings = self._bindings.get(account, {})
        named: set[str] = set()  # the contacts this REGISTER names
        if request.contact_is_wildcard:
            if header_expires != 0:
                return make_response(request, 400, "Contact: * needs Expires: 0",
                                     to_tag=to_tag), []
            for uri, bound in list(bindings.items()):
                if bound.call_id != request.call_id or bound.cseq < request.cseq.seq:
                    del bindings[uri]
        else:
            updates: list[tuple[str, Address, int]] = []
            for contact in request.contacts:
                try:
                    expires = contact.expires
                except SipParseError:
                    expires = None
                if expires is None:
                    expires = header_expires if header_expires is not None else self.max_expires
                if 0 < expires < self.min_expires:
                    response = make_response(request, 423, to_tag=to_tag,
                                             headers=[("Min-Expires", self.min_expires)])
                    return response, []
                updates.append((str(contact.uri), contact, min(expires, self.max_expires)))
            if len([u for u in updates if u[2]]) > self.max_contacts:
                return make_response(request, 403, "Too many contacts", to_tag=to_tag), []
            for uri, contact, expires in updates:
                old = bindings.get(uri)
                if old is not None and old.call_id == request.call_id and (
                        old.cseq >= request.cseq.seq):
                    # An old REGISTER arriving late must not undo a newer one (§10.3 step 7).
                    return make_response(request, 500, "Out of order REGISTER",
                                         to_tag=to_tag), []
                if expires == 0:
                    bindings.pop(uri, None)
                else:
                    bindings[uri] = Binding(account, contact, now + expires, source, transport,
                                            request.call_id, request.cseq.seq)
            named = {uri for uri, _, _ in updates}
            if any(expires for _, _, expires in updates):
                # The same phone (one Call-ID per boot cycle, §10.2.4) now at another
                # contact (a new local port or address): its old contact is stale, not a
                # second phone to ring. Replaced, as FreeSWITCH does.
                for uri, bound in list(bindings.items()):
                    if (uri not in named and bound.call_id == request.call_id
                            and bound.cseq < request.cseq.seq):
                        del bindings[uri]
            if len(bindings) > self.max_contacts:
                # Past the limit the bindings closest to expiring go first (Asterisk's
                # remove_existing), never one this REGISTER just made.
                others = sorted((b.expires_at, uri) for uri, b in bindings.items()
                                if uri not in named)
                for _, uri in others[:len(bindings) - self.max_contacts]:
                    del bindings[uri]
        if bindings:
            self._bindings[account] = bindings
        else:
            self._bindings.pop(account, None)
        # A phone that registers is there again; a binding gone takes its mark with it.
        self._down = {(a, uri) for a, uri in self._down
                      if a != account or (uri in bindings and uri not in named)}
        live = self.contacts(account, now)
        contacts = [
            ("Contact", f"{b.contact.with_param('expires', str(int(b.expires_at - now)))}")
            for b in live
        ]
        response = make_response(request, 200, to_tag=to_tag, headers=contacts)
        return response, self._report(account, now)
