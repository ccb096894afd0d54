"""A SIP dialog of the runtime's B2BUA (``SipApp``): an inbound caller or an outbound leg."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

from switchboard.config.model import Trunk
from switchboard.core import events as e
from switchboard.sip.headers import Address, Uri
from switchboard.sip.message import Request
from switchboard.sip.sdp import SessionDescription
from switchboard.sip.transaction import Transport

__all__ = ["Dialog"]


@dataclass(eq=False)
class Dialog:
    """One SIP dialog of the B2BUA: an inbound caller or an outbound leg."""

    channel: str  # core channel id: the call id or the leg id
    call_id: str
    local: Address  # our side (with our tag)
    remote: Address  # their side (tag once known)
    remote_target: Uri
    peer: tuple[str, int]
    transport: Transport
    invite: Request
    inbound: bool
    server_key: str | None = None  # inbound: the INVITE server transaction
    client_key: str | None = None  # outbound: the INVITE client transaction
    local_cseq: int = 1
    offer: SessionDescription | None = None
    local_sdp: SessionDescription | None = None
    state: str = "early"  # early, confirmed, cancelled, bye_after_ack, ended
    agent_id: str | None = None
    plays: dict[int, asyncio.TimerHandle] = field(default_factory=dict)
    trunk: Trunk | None = None  # outbound legs through a trunk: its credentials
    ringing: bool = False  # inbound: 180 sent
    auth_tried: bool = False
    ack: Request | None = None  # outbound: our ACK of the 2xx, sent again for its resends
    bridged_to: str | None = None  # the channel whose media ours is bridged with
    held: bool = False  # this party put the call on hold (re-INVITE sendonly/inactive)
    hold_music: bool = False  # we play hold music to this party (the other one holds)
    hold_played: int = 0  # media packets played to it when the hold music started
    # An agent's leg ringing several phones: the dialogs of all of them (shared list), until
    # one answers; they share the leg's channel and media.
    forks: list[Dialog] | None = None
    fork_failure: e.LegFailure | None = None  # why this phone of the leg did not answer
    remote_cseq: int | None = None  # the last CSeq of their requests (inbound: the INVITE's)
    trunk_index: int = 0  # legs to numbers: which of config.trunks carries it
    caller_number: str = ""  # legs to numbers: the caller's number (before a trunk's caller_id)
    route: tuple[str, ...] = ()  # the route set (RFC 3261 §12.1): proxies that record-routed
