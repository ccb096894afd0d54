"""The SIP side of the runtime: a B2BUA that turns SIP into core events and back.

Inbound INVITEs from trusted trunk addresses become ``CallArrived``; the core's ``Ring``
becomes INVITEs to the agents' registered phones (or to the trunk for numbers); answers,
failures and BYEs come back as events; ``Bridge`` joins the two legs' RTP in the media
engine. Every action the core asks for runs in order on one worker task, because media
calls are asynchronous and the order of commands matters (answer before bridge).

The parts of ``SipApp`` that stand alone are mixins in their own modules: requests
received (``requests``: dispatch by method, BYE, INFO), calls in (``inbound``: the
caller's INVITE up to its answer or refusal), who may in (``admission``: overload, digest,
registrations), outbound legs (``legs``: an agent's phones, the trunks), prompts and
recordings (``playback``), hold (``hold``), trunk registration (``trunks``), the RTP
timeout (``media_watch``) and the phones' qualify (``qualify``). This module keeps the wire,
the responses to our requests, the end of dialogs, and the command worker.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import random
import secrets
from collections.abc import Callable
from pathlib import Path
from typing import TypeAlias

from switchboard.config.model import Config
from switchboard.core import commands as c
from switchboard.core import events as e
from switchboard.core.switchboard import Switchboard
from switchboard.integrations import Integrations
from switchboard.media.engine import (
    MediaEngine,
)
from switchboard.media.prompts import PromptLibrary
from switchboard.runtime.admission import AdmissionMixin
from switchboard.runtime.dialog import Dialog
from switchboard.runtime.driver import CoreDriver
from switchboard.runtime.hold import HoldMixin, Reinvited
from switchboard.runtime.inbound import InboundMixin
from switchboard.runtime.legs import Answered, LegsMixin, Redial
from switchboard.runtime.media_watch import MediaWatchMixin
from switchboard.runtime.playback import PlaybackMixin
from switchboard.runtime.qualify import QualifyMixin
from switchboard.runtime.requests import RequestsMixin
from switchboard.runtime.trunks import TRUNK_RETRY, TrunkMixin, TrunkRegistration
from switchboard.sip.auth import DigestServer
from switchboard.sip.build import make_request, make_response
from switchboard.sip.headers import Address, SipError, Uri, Via, is_address, parse_address
from switchboard.sip.message import Request, Response
from switchboard.sip.overload import LagMeter, OverloadGuard, OverloadLimits
from switchboard.sip.registrar import Registrar
from switchboard.sip.sdp import SessionDescription, audio_plan
from switchboard.sip.transaction import (
    AckTimedOut,
    RequestReceived,
    ResponseReceived,
    Send,
    TransactionLayer,
    TransactionTimedOut,
    Transport,
)

log = logging.getLogger(__name__)

_FAILURES: dict[int, e.LegFailure] = {
    486: "busy", 600: "busy", 408: "no_answer", 480: "unavailable", 404: "unavailable",
    410: "unavailable", 603: "rejected",
}


class SipApp(RequestsMixin, InboundMixin, AdmissionMixin, PlaybackMixin, HoldMixin, TrunkMixin,
             LegsMixin, MediaWatchMixin, QualifyMixin):
    """Switchboard on SIP: the transaction layer, registrar, core driver and media."""

    def __init__(self, config: Config, media: MediaEngine, host: str, port: int,
                 rng: random.Random, loop: asyncio.AbstractEventLoop,
                 send: Callable[[Send], None] | None = None,
                 prompts: PromptLibrary | None = None, data_dir: Path | None = None) -> None:
        self.config = config
        self.media = media
        self.prompts = prompts or PromptLibrary.from_config(config)
        self.data_dir = data_dir or Path("data")
        self.host = host
        self.port = port
        self.loop = loop
        self.rng = rng
        self.send = send
        self.txl = TransactionLayer()
        self.registrar = Registrar({a.id for a in config.agents},
                                   max_contacts=config.sip.max_contacts)
        # Nonces are HMACs keyed by a fresh secret: a restart invalidates old nonces, and
        # phones simply answer the next challenge. The algorithms come from the config:
        # MD5 alone by default, because older SIP libraries abort on a SHA-256 challenge.
        self.auth = DigestServer(host, secrets.token_bytes(32),
                                 algorithms=tuple(config.sip.digest_algorithms))
        self.passwords = {a.id: a.password for a in config.agents if a.password}
        # Trunks that may call in from any address with their credentials (inbound_auth).
        self.trunk_passwords = {t.username: t.password for t in config.trunks
                                if t.inbound_auth and t.username and t.password}
        self.core = Switchboard(config, random.Random(rng.random()))
        self.driver = CoreDriver(self.core, loop)
        self.dialogs: dict[str, Dialog] = {}  # SIP Call-ID -> dialog
        self.channels: dict[str, Dialog] = {}  # core channel -> dialog
        # Media releases under way, by channel: a new call that reuses a Call-ID waits for
        # the old release before it allocates (the engine would refuse, or rtpengine's
        # delete, resent after a lost packet, would arrive after the new offer).
        self.releasing: dict[str, asyncio.Task[None]] = {}
        self.by_client_key: dict[str, Dialog] = {}
        # Sources whose INVITEs are calls from a trunk: each trunk's inbound_from and
        # address; a trunk given by name adds what it resolves to (at start, then each
        # TRUNK_DNS_TTL as it is used).
        self.trusted = {ip for t in config.trunks
                        for ip in (*t.inbound_from, *([t.host] if is_address(t.host) else []))}
        self.trunk_addresses: dict[str, tuple[tuple[str, int], float]] = {}
        self._ids = itertools.count(1)
        self._txn_timer: asyncio.Handle | None = None
        self._txn_at = 0.0  # when _txn_timer fires
        self._reg_timer: asyncio.TimerHandle | None = None
        self.actions: asyncio.Queue[Action] = asyncio.Queue()
        self.draining = False  # shutting down: new calls are refused with 503
        # Overload shedding (docs/sip.md): new calls past the `sip:` limits get 503 too.
        sip = config.sip
        self.overload = OverloadGuard(OverloadLimits(
            max_calls=sip.max_calls, max_calls_per_second=sip.max_calls_per_second,
            max_calls_in_setup=sip.max_calls_in_setup, max_loop_lag=sip.max_loop_lag,
            retry_after=sip.overload_retry_after))
        self.setting_up: set[str] = set()  # inbound calls not answered and ACKed yet
        self._shed_detail = ""  # why the last call was shed, for the log
        self.lag = LagMeter()  # how late the event loop runs, ticked every 50 ms
        self.txl.admit = self._admit  # trunk INVITEs are shed statelessly (no transaction)
        self._lag_timer: asyncio.TimerHandle | None = loop.call_at(
            self.lag.next_tick(loop.time()), self._lag_tick)
        self.trunk_registrations: dict[str, TrunkRegistration] = {}  # Call-ID -> state
        self._resolving = [loop.create_task(self._resolve_trunk(t)) for t in config.trunks
                           if not is_address(t.host)]
        for trunk in config.trunks:
            if trunk.registration:
                loop.call_soon(self._register_trunk, trunk, None)
        self.worker = loop.create_task(self._work())
        self.media_watch = self._start_media_watch()  # the RTP timeout (media_watch.py)
        self.qualify_timer = self._start_qualify()  # OPTIONS to the phones (qualify.py)
        for kind in (c.Answer, c.Reject, c.Ring, c.CancelRing, c.Bridge, c.Hangup, c.Play,
                     c.Whisper, c.StopPlay, c.Record):
            self.driver.on(kind, self.actions.put_nowait)
        self.driver.observers.append(self._log_record)
        # Webhook routing, CRM owner and tasks, notifications: HTTP, answers fed back.
        self.integrations = Integrations(config, self.driver.feed)
        self.integrations.attach(self.driver)

    # ------------------------------------------------------------------ wire in, wire out

    def datagram_received(self, data: bytes, source: tuple[str, int],
                          transport: Transport = "UDP") -> None:
        """One datagram (UDP) or one framed message (TCP) arrived from ``source``."""
        try:
            self.txl.receive_datagram(data, source, transport, self.loop.time())
        except Exception:  # a bug must cost this datagram, not what it queued to send
            log.exception("datagram from %s:%d: failed", *source[:2])
        self._pump()

    def _pump(self) -> None:
        for event in self.txl.events():
            try:
                if isinstance(event, RequestReceived):
                    self._on_request(event)
                elif isinstance(event, ResponseReceived):
                    self._on_response(event)
                elif isinstance(event, TransactionTimedOut):
                    self._on_timeout(event)
                elif isinstance(event, AckTimedOut):
                    self._on_ack_timeout(event)
            except SipError as err:
                # A header parsed only when needed (Contact, Authorization ...) is malformed.
                log.info("%s: %s", _what(event), err)
                self._unanswered(event, 400, str(err))
            except Exception:  # a bug must cost one request, not the server
                log.exception("%s: failed", _what(event))
                self._unanswered(event, 500, "Server Internal Error")
        for send in self.txl.sends():
            if self.send is not None:
                try:
                    self.send(send)
                except (OSError, ValueError, OverflowError) as err:  # a name, a bad port
                    log.warning("cannot send %s to %s: %s", _what(send.message), send.dest, err)
        self._arm_txn_timer()

    def _unanswered(self, event: object, status: int, reason: str) -> None:
        """A request whose handling failed gets a final answer, so that its transaction
        ends instead of waiting for ever (and the sender is not left guessing)."""
        if not isinstance(event, RequestReceived) or event.key is None:
            return
        txn = self.txl.servers.get(event.key)
        if txn is None or txn.state not in ("trying", "proceeding"):
            return  # answered before it failed
        dialog = self.dialogs.get(event.request.call_id)
        if dialog is not None and dialog.server_key == event.key:
            dialog.state = "ended"  # an INVITE that failed after its dialog was made
            self._forget(dialog)
            if dialog.channel in self.core.calls:
                self.driver.feed(e.CallerHungUp(dialog.channel))
        with contextlib.suppress(SipError):
            response = make_response(event.request, status, reason[:100],
                                     to_tag=self._new_tag())
            self.txl.send_response(event.key, response, self.loop.time())

    def _arm_txn_timer(self) -> None:
        # One loop timer for all transactions, at the earliest deadline. Most messages only
        # add later deadlines, so a timer already armed no later than the earliest one stays:
        # if it fires with nothing due, _txn_fire arms it again (cancelling and making a
        # timer for each of the dozen messages of a call took 3.5 % of py-spy's samples at
        # 200 cps). Its time is kept in _txn_at: for a time already past, uvloop's call_at
        # returns a Handle that has no when().
        deadline = self.txl.next_deadline()
        armed = self._txn_timer
        if armed is not None:
            if deadline is None or self._txn_at <= deadline:
                return
            armed.cancel()
            self._txn_timer = None
        if deadline is not None:
            self._txn_at = deadline
            self._txn_timer = self.loop.call_at(deadline, self._txn_fire)

    def _txn_fire(self) -> None:
        self._txn_timer = None
        self.txl.handle_timer(self.loop.time())
        self._pump()

    def _new_branch(self) -> str:
        return f"z9hG4bK-sb{next(self._ids)}-{self.rng.getrandbits(32):08x}"

    def _new_tag(self) -> str:
        return f"{self.rng.getrandbits(48):012x}"

    def _via(self, transport: Transport = "UDP") -> Via:
        params = (("branch", self._new_branch()), ("rport", None))
        return Via(transport, self.host, self.port, params)

    def _contact(self, user: str = "switchboard") -> Address:
        return Address(Uri(user=user, host=self.host, port=self.port))

    # ------------------------------------------------------------------ responses

    def _on_response(self, ev: ResponseReceived) -> None:
        resp = ev.response
        if resp.cseq.method == "REGISTER":
            self._trunk_registered(resp)
            return
        if resp.cseq.method == "OPTIONS" and ev.key is not None and resp.status >= 200:
            self._probe_answered(ev.key)
            return
        if resp.cseq.method != "INVITE":
            return  # answers to our BYE / CANCEL need nothing more
        dialog = self.dialogs.get(resp.call_id)
        if dialog is None or dialog.inbound:
            return
        status = resp.status
        if status < 200:
            return
        if status in (401, 407) and self._authenticate(dialog, resp):
            return
        if (status >= 500 or status in (401, 403, 407)) and self._failover(
                dialog, f"{status} {resp.reason}"):
            return
        if status < 300:
            if dialog.state == "confirmed" and resp.to.tag != dialog.remote.tag:
                self._drop_fork(dialog, resp)  # a second phone behind a forking proxy
                return
            dialog.remote = resp.to
            if resp.contacts:
                dialog.remote_target = resp.contacts[0].uri
            dialog.route = tuple(reversed(resp.headers.get_all("Record-Route")))
            self._send_ack(dialog)
            if dialog.state == "confirmed":
                return  # a retransmitted 2xx: the ACK above was enough
            # Answered after we gave up, or after another phone of the agent answered first.
            if dialog.state in ("cancelled", "ended") or (
                    dialog.forks is not None and self._sibling(dialog, "confirmed") is not None):
                self._hang_up(dialog)
                return
            if dialog.forks is not None:
                self._won(dialog)
            dialog.state = "confirmed"
            self.actions.put_nowait(Answered(dialog, resp))
            return
        self._forget(dialog)
        if dialog.state == "cancelled":
            return  # the 487 to our CANCEL
        dialog.state = "ended"
        self._fork_failed(dialog, _FAILURES.get(status, "error"))

    def _on_timeout(self, ev: TransactionTimedOut) -> None:
        if ev.method == "OPTIONS":
            self._probe_ended(ev.key)
            return
        if ev.method == "REGISTER":
            for state in self.trunk_registrations.values():
                if state.key == ev.key:  # the trunk did not answer: try again later
                    state.registered = False
                    state.timer = self.loop.call_later(TRUNK_RETRY, self._register_trunk,
                                                       state.trunk, state)
            return
        dialog = self.by_client_key.get(ev.key)
        if dialog is not None and dialog.state == "early" and self._failover(dialog, "no answer"):
            return
        if dialog is not None and dialog.state == "early":
            dialog.state = "ended"
            self._forget(dialog)
            self._fork_failed(dialog, "no_answer")
        elif dialog is not None and dialog.state == "cancelled":
            self._forget(dialog)  # the core already let the leg go: nothing to report

    def _on_ack_timeout(self, ev: AckTimedOut) -> None:
        dialog = self.dialogs.get(ev.request.call_id)
        if dialog is not None and dialog.state != "ended":
            # No ACK for our 2xx: the dialog ends with BYE (RFC 3261 §13.3.1.4). It may be an
            # agent's leg whose re-INVITE (hold) we answered: the core hangs up the caller.
            self._hang_up(dialog)
            self.driver.feed(e.CallerHungUp(dialog.channel) if dialog.inbound
                             else e.LegHungUp(dialog.channel))

    def _in_dialog(self, dialog: Dialog, method: str, cseq: int | None = None) -> Request:
        if cseq is None:
            dialog.local_cseq += 1
            cseq = dialog.local_cseq
        return make_request(method, dialog.remote_target, via=self._via(dialog.transport),
                            from_=dialog.local, to=dialog.remote, call_id=dialog.call_id,
                            cseq=cseq, headers=[("Route", r) for r in dialog.route])

    def _hop(self, dialog: Dialog) -> tuple[str, int]:
        """Where the dialog's requests go: the first proxy of its route set (a loose router,
        RFC 3261 §12.2.1.1), else the phone's address."""
        if dialog.route:
            with contextlib.suppress(SipError):
                uri = parse_address(dialog.route[0]).uri
                if is_address(uri.host):
                    return uri.host.strip("[]"), uri.port or 5060
        return dialog.peer

    def _send_ack(self, dialog: Dialog) -> None:
        # A resent 2xx gets the same ACK again, not a new request with a new branch (RFC 3261
        # §13.2.2.4): phones match it as a retransmission. A 2xx of another fork (another
        # To tag) needs its own ACK.
        if dialog.ack is None or dialog.ack.to.tag != dialog.remote.tag:
            dialog.ack = self._in_dialog(dialog, "ACK", cseq=dialog.invite.cseq.seq)
        self.txl.send_stateless(dialog.ack, self._hop(dialog), dialog.transport)

    def _hang_up(self, dialog: Dialog) -> None:
        """BYE, and the dialog is over."""
        self._send_bye(dialog)
        dialog.state = "ended"
        self._forget(dialog)

    def _send_bye(self, dialog: Dialog) -> None:
        self.txl.send_request(self._in_dialog(dialog, "BYE"), self._hop(dialog),
                              dialog.transport, self.loop.time())

    def _forget(self, dialog: Dialog) -> None:
        self.dialogs.pop(dialog.call_id, None)
        self.setting_up.discard(dialog.call_id)
        if dialog.client_key is not None:
            self.by_client_key.pop(dialog.client_key, None)
        for handle in dialog.plays.values():
            handle.cancel()
        dialog.plays.clear()
        if self._sibling(dialog) is not None:
            return  # another phone of the same leg still rings or talks: the media stays
        # Unmapped now, and only if it maps this dialog (or a phone of the same leg): a new
        # INVITE may reuse the Call-ID before the release below runs.
        mapped = self.channels.get(dialog.channel)
        if mapped is dialog or (mapped is not None and dialog.forks is not None
                                and mapped.forks is dialog.forks):
            del self.channels[dialog.channel]
        channel = dialog.channel
        task = self.loop.create_task(self._release(channel, unmap=False))
        self.releasing[channel] = task

        def done(_: asyncio.Task[None]) -> None:
            if self.releasing.get(channel) is task:
                del self.releasing[channel]

        task.add_done_callback(done)

    async def _release(self, channel: str, unmap: bool = True) -> None:
        if unmap:
            self.channels.pop(channel, None)
        stats = getattr(self.media, "stats", None)  # the in-process driver counts packets
        if stats is not None:
            try:
                counted = stats(channel)
                log.info("media %s: %d packets in (%d relayed), %d out (%d relayed), %d late",
                         channel, counted.packets_in, counted.packets_in - counted.unbridged,
                         counted.packets_out, counted.packets_out - counted.played,
                         counted.late)
            except KeyError:
                pass  # no media was allocated for this channel
        await self.media.release(channel)

    # ------------------------------------------------------------------ core commands

    async def _work(self) -> None:
        while True:
            command = await self.actions.get()
            try:
                await self._carry_out(command)
            except Exception:  # the worker must not die: every later call depends on it
                log.exception("could not carry out %r", command)
            try:
                self._pump()  # what the command queued goes out, even if it failed midway
            except Exception:
                log.exception("could not send what %r queued", command)

    async def _carry_out(self, cmd: Action) -> None:
        if isinstance(cmd, c.Answer):
            await self._answer_call(cmd.call_id)
        elif isinstance(cmd, c.Reject):
            self._reject(cmd)
        elif isinstance(cmd, c.Ring):
            self._ringback(cmd.call_id)
            for leg in cmd.legs:
                # Legs bridged together share media (rtpengine: one pass): a call's, a job's.
                await self._ring(leg, cmd.caller_id, cmd.call_id or cmd.job_id)
        elif isinstance(cmd, c.CancelRing):
            for leg_id in cmd.leg_ids:
                self._cancel(leg_id)
        elif isinstance(cmd, c.Bridge):
            try:
                await self.media.bridge(cmd.a, cmd.b)
            except Exception as err:  # connected in SIP, not in audio: a hold and resume
                # (re-INVITEs) bridges the media again once the engine is back
                log.warning("cannot bridge the media of %s and %s: %s", cmd.a, cmd.b, err)
            await self._bridged(cmd.a, cmd.b)
        elif isinstance(cmd, c.Hangup):
            self._hangup(cmd.channel_id)
        elif isinstance(cmd, c.Play | c.Whisper):
            await self._play(cmd)
        elif isinstance(cmd, c.StopPlay):
            dialog = self.channels.get(cmd.channel_id)
            if dialog is not None:
                for handle in dialog.plays.values():
                    handle.cancel()
                dialog.plays.clear()
                await self.media.stop(cmd.channel_id)
        elif isinstance(cmd, c.Record):
            await self._record(cmd)
        elif isinstance(cmd, Answered):
            await self._leg_answered(cmd.dialog, cmd.response)
        elif isinstance(cmd, Reinvited):
            await self._reinvited(cmd)
        elif isinstance(cmd, Redial):
            await self._redial(cmd.dialog)

    async def _allocate(self, channel: str, call: str | None) -> tuple[str, int] | None:
        """Media for a channel, or None (logged) when the engine cannot give any."""
        releasing = self.releasing.get(channel)
        if releasing is not None and not releasing.done():
            # An earlier dialog's media on this channel is being released (a caller who
            # dialled again with the same Call-ID): after it, or the engine would still
            # hold the leg, or free the new one. Shielded: this call may be cancelled, the
            # old release must still finish.
            with contextlib.suppress(Exception):
                await asyncio.shield(releasing)
        try:
            return await self.media.allocate(channel, call=call)
        except Exception as err:  # PortsExhausted, EMFILE, NgError: the engine's own words
            log.warning("no media for %s: %s", channel, err or type(err).__name__)
            return None

    async def _set_remote(self, channel: str, local: SessionDescription,
                          remote: SessionDescription) -> None:
        plan = audio_plan(local, remote)
        if plan.remote_ip is not None:
            te = plan.telephone_event.payload_type if plan.telephone_event else None
            await self.media.set_remote(channel, plan.remote_ip, plan.remote_port,
                                        plan.codec.payload_type, telephone_event_pt=te)

    def _hangup(self, channel: str) -> None:
        dialog = self.channels.get(channel)
        if dialog is None:
            return
        if not dialog.inbound:  # BYE if answered, CANCEL if ringing, on each of its phones
            self._cancel(channel)
            return
        if dialog.inbound and dialog.local_sdp is not None and dialog.state in (
                "early", "bye_after_ack"):
            # Answered but not ACKed yet: no BYE before the ACK of our 2xx (RFC 3261 §15);
            # the ACK, or AckTimedOut, sends it.
            dialog.state = "bye_after_ack"
            return
        if dialog.state == "confirmed" or (dialog.inbound and dialog.local_sdp is not None):
            self._hang_up(dialog)
        elif dialog.state == "early":
            self._reject(c.Reject(channel, 480, "Temporarily Unavailable"))

    def _log_record(self, command: c.Command) -> None:
        """The core's records that an operator wants in the log (the store comes later)."""
        if isinstance(command, c.ChannelsExhausted):
            log.warning("channels exhausted: all %d channels of %s busy, call from %s refused "
                        "or overflowed", command.limit, command.dialed, command.caller)
        elif isinstance(command, c.CallFinished):
            log.info("call %s from %s to %s: %s (%s), agent %s, waited %.1f s, talked %.1f s"
                     " (%.1f s on hold)", command.call_id, command.caller, command.dialed,
                     command.outcome, command.reason, command.agent_id or "-", command.wait,
                     command.talk, command.hold)

    def active_calls(self) -> int:
        """Dialogs in progress (inbound callers and outbound legs)."""
        return len(self.dialogs)

    async def close(self) -> None:
        await self.integrations.aclose()  # answers in flight still reach a live driver
        self.worker.cancel()
        if self.media_watch is not None:
            self.media_watch.cancel()
        for probe in self.probes.values():
            probe.timer.cancel()
        for task in self._resolving:
            task.cancel()
        self.driver.close()
        for state in self.trunk_registrations.values():
            if state.timer is not None:
                state.timer.cancel()
        for handle in (self._txn_timer, self._reg_timer, self._lag_timer, self.qualify_timer):
            if handle is not None:
                handle.cancel()
        self._report_overload(self.loop.time(), final=True)
        if self.overload.total_shed:
            log.warning("overload: %d new calls refused with 503 in all (%s), %d taken",
                        self.overload.total_shed,
                        ", ".join(f"{n} by {r}" for r, n in sorted(self.overload.shed.items())),
                        self.overload.admitted)



def _what(item: object) -> str:
    """A request, response or transaction event, in a few words for the log."""
    message = getattr(item, "request", None) or getattr(item, "response", None) or item
    if isinstance(message, Request):
        return f"{message.method} {message.headers.get('Call-ID')}"
    if isinstance(message, Response):
        return f"{message.status} {message.headers.get('CSeq')} {message.headers.get('Call-ID')}"
    return type(item).__name__


#: What the command worker carries out, in order.
Action: TypeAlias = c.Command | Answered | Reinvited | Redial
