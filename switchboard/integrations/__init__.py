"""Integrations: the routing webhook, the CRM and notifications, carried out over httpx.

The runtime hands the core's ``AskWebhook``, ``LookupCrmOwner``, ``Notify`` and
``CreateCrmTask`` commands to :class:`Integrations`; each runs as its own asyncio task and
answers (where the core waits for one) come back through ``feed`` as events. The core keeps
its own timers, so a late or lost answer never stalls a call.

Requests a call is waiting for (webhook, CRM lookup) and one-way sends (notifications, CRM
tasks) have separate request slots: a dead Telegram or CRM, whose sends hold their slots for
their whole timeout and retries, must not make every call's webhook wait its timeout away.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any, Protocol

import httpx

from switchboard.config.model import Config
from switchboard.core.commands import AskWebhook, CreateCrmTask, LookupCrmOwner, Notify
from switchboard.core.events import CrmLookupFailed, Event
from switchboard.integrations.http import CrmClient, WebhookRouter, redact_httpx_log
from switchboard.integrations.notify import TELEGRAM_API, Notifier

__all__ = ["CrmClient", "Integrations", "Notifier", "WebhookRouter"]

log = logging.getLogger(__name__)


class CommandRegistry(Protocol):
    """What ``attach`` needs of the runtime's driver (``CoreDriver.on``)."""

    def on(self, kind: type, handler: Callable[[Any], None]) -> None: ...


class Integrations:
    """Carries out the core's HTTP-facing commands.

    At most ``max_requests`` webhook and CRM lookup requests are in flight at a time, and as
    many notifications and CRM tasks besides; the rest wait their turn within their timeout.
    ``client``: an httpx client to use (and leave open); by default one is made and closed
    by ``aclose``. The keyword arguments tune the senders (see ``Notifier``, ``CrmClient``).
    Also redacts the URLs in httpx's log lines (``redact_httpx_log``): they carry tokens.
    """

    def __init__(self, config: Config, feed: Callable[[Event], None],
                 client: httpx.AsyncClient | None = None, *, max_requests: int = 32,
                 telegram_api: str = TELEGRAM_API, sms_gateway: str | None = None,
                 sms_token: str | None = None, task_attempts: int = 4,
                 notify_attempts: int = 3, backoff: float = 1.0) -> None:
        if max_requests < 1:
            raise ValueError("max_requests must be at least 1")
        self._feed = feed
        self._own_client = client is None
        redact_httpx_log()
        self.client = client if client is not None else httpx.AsyncClient(
            follow_redirects=False,  # a routing answer from wherever a redirect points is not one
            limits=httpx.Limits(max_connections=2 * max_requests),  # both kinds of slots
        )
        for_calls, one_way = asyncio.Semaphore(max_requests), asyncio.Semaphore(max_requests)
        self.webhooks = WebhookRouter(config.webhooks, self.client, for_calls)
        self.crm = None if config.crm is None else CrmClient(
            config.crm, self.client, for_calls, task_attempts=task_attempts, backoff=backoff,
            task_slots=one_way,
        )
        self.notifier = Notifier(
            config, self.client, one_way, telegram_api=telegram_api, sms_gateway=sms_gateway,
            sms_token=sms_token, attempts=notify_attempts, backoff=backoff,
        )
        self._tasks: set[asyncio.Task[None]] = set()
        self._closed = False

    def attach(self, driver: CommandRegistry) -> None:
        """Register the handlers for the four command types with the runtime's driver."""
        driver.on(AskWebhook, self.ask_webhook)
        driver.on(LookupCrmOwner, self.lookup_crm_owner)
        driver.on(Notify, self.notify)
        driver.on(CreateCrmTask, self.create_crm_task)

    # -------------------------------------------------------------- handlers (synchronous)

    def ask_webhook(self, cmd: AskWebhook) -> None:
        self._start(f"webhook for {cmd.call_id}", lambda: self._answer(self.webhooks.ask(cmd)))

    def lookup_crm_owner(self, cmd: LookupCrmOwner) -> None:
        crm = self.crm
        if crm is None:
            # The core skips crm_owner steps without a CRM; answer anyway so nothing waits.
            failed = CrmLookupFailed(cmd.call_id, cmd.request_id, "no CRM configured")
            self._start(f"CRM lookup for {cmd.call_id}", lambda: self._answer(_ready(failed)))
            return
        self._start(f"CRM lookup for {cmd.call_id}",
                    lambda: self._answer(crm.lookup_owner(cmd)))

    def notify(self, cmd: Notify) -> None:
        self._start(f"notify {cmd.target}", lambda: self._ignore(self.notifier.send(cmd)))

    def create_crm_task(self, cmd: CreateCrmTask) -> None:
        crm = self.crm
        if crm is None:
            log.warning("CRM task for %s dropped: no CRM configured", cmd.number)
            return
        self._start(f"CRM task for {cmd.number}", lambda: self._ignore(crm.create_task(cmd)))

    # -------------------------------------------------------------- tasks

    def _start(self, what: str, work: Callable[[], Coroutine[Any, Any, None]]) -> None:
        if self._closed:
            # The core's own timers cover unanswered requests; nothing else to do.
            log.warning("%s dropped: integrations are closed", what)
            return
        task = asyncio.get_running_loop().create_task(_run(work()), name=what)
        self._tasks.add(task)  # the loop keeps only weak references to tasks
        task.add_done_callback(self._tasks.discard)

    async def _answer(self, reply: Awaitable[Event]) -> None:
        event = await reply
        try:
            self._feed(event)
        except Exception:  # the core's fault, not the peer's: log it, keep serving
            log.exception("feeding %r failed", event)

    async def _ignore(self, outcome: Awaitable[bool]) -> None:
        await outcome  # failures are logged where they happen

    async def drain(self) -> None:
        """Wait until every request started so far has finished (tests, shutdown)."""
        while self._tasks:
            await asyncio.wait(set(self._tasks))

    async def aclose(self, grace: float = 5.0) -> None:
        """Refuse new commands, give requests in flight ``grace`` seconds, then cancel them.

        Cancelled itself (a shutdown that stops waiting), it still cancels them and closes
        the client before it ends.
        """
        self._closed = True
        try:
            if self._tasks:
                await asyncio.wait(set(self._tasks), timeout=grace)
        finally:
            pending = [task for task in self._tasks if not task.done()]
            for task in pending:
                task.cancel()
            await asyncio.gather(*pending, return_exceptions=True)
            if pending:
                log.warning("%d integration requests cancelled at shutdown", len(pending))
            if self._own_client:
                await self.client.aclose()


async def _run(work: Awaitable[None]) -> None:
    try:
        await work
    except asyncio.CancelledError:
        raise
    except Exception:  # the senders never raise by design; a bug still must not go unseen
        log.exception("integration task failed")


async def _ready(event: Event) -> Event:
    return event

