"""Notifications (M3 missed calls, M4 voicemail, failed callbacks) to the config's targets.

Each ``notify:`` target has one channel:

- ``telegram: {chat_id, bot_token}``: Bot API ``sendMessage`` at
  ``{telegram_api}/bot{token}/sendMessage`` (``telegram_api`` is a Notifier argument, so
  tests and self-hosted Bot API servers can stand in for api.telegram.org).
- ``webhook: URL``: POST ``{"kind", "target", "text", "payload"}`` as JSON.
- ``sms: {to, url?, token?}``: POST ``{"to", "text"}`` as JSON to the target's ``url`` or else
  the Notifier's ``sms_gateway``, with ``Authorization: Bearer`` when a token is given.
- ``email: {to, from?, smtp? ("host:port", default localhost:25), username?, password?}``:
  SMTP through ``aiosmtplib`` when that package is installed; otherwise each e-mail is logged
  as not configured and dropped.

HTTP sends are retried on timeouts, connection errors, 429 and 5xx; a failure is logged and
never raised: a lost notification must not disturb call handling.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import importlib
import logging
from collections.abc import Awaitable, Mapping
from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo

import httpx

from switchboard.config.model import Config
from switchboard.core.commands import Notify
from switchboard.integrations.http import (
    USER_AGENT,
    Reply,
    ReplyError,
    deliver,
    json_body,
    send,
)

log = logging.getLogger(__name__)

TELEGRAM_API = "https://api.telegram.org"

_MISSED_WHY = {
    "abandoned": "the caller hung up while waiting",
    "timeout": "nobody answered within the maximum wait",
    "full": "the queue was full",
    "empty": "no operator was logged in",
    "after_hours": "the call came after hours",
    "no_answer": "nobody answered",
    "overflow": "all lines were busy",
    "hangup": "the caller hung up",
    "exit_key": "the caller asked for a callback",
    "callback": "the caller asked for a callback",
    "voicemail": "the caller was sent to voicemail",
}


@dataclass(frozen=True, slots=True)
class Message:
    """A notification as people read it: a one-line subject and a few short lines."""

    subject: str
    text: str


def render(kind: str, payload: Mapping[str, object], config: Config) -> Message:
    """The human-readable message for a ``Notify`` of ``kind`` with the core's payload."""
    number = _text(payload.get("number")) or "an unknown number"
    when = _local_time(payload.get("at"), config.timezone)
    if kind == "missed_call":
        subject = f"Missed call from {number}"
        lines = [subject, f"To: {_dialed(payload.get('dialed'), config)}", f"At: {when}"]
        reason = _text(payload.get("reason"))
        why = _MISSED_WHY.get(reason, reason.replace("_", " ")) or "unanswered"
        waited = payload.get("waited")
        queue = _text(payload.get("queue"))
        if isinstance(waited, int | float) and waited > 0:
            where = f" in queue {queue}" if queue else ""
            lines.append(f"Waited {_duration(waited)}{where}: {why}")
        else:
            lines.append(f"Why: {why}")
    elif kind == "voicemail":
        duration = payload.get("duration")
        length = f" ({_duration(duration)})" if isinstance(duration, int | float) else ""
        subject = f"Voicemail from {number}{length}"
        lines = [subject, f"To: {_dialed(payload.get('dialed'), config)}", f"At: {when}",
                 f"Listen: {_text(payload.get('url')) or 'no link'}"]
    elif kind == "callback_failed":
        subject = f"Callback to {number} failed"
        lines = [subject, f"At: {when}"]
        reason = _text(payload.get("reason"))
        if reason:
            lines.append(f"Requested after: {reason}")
        lines.append("Nobody has reached the customer yet: please call back.")
    else:  # a kind added to the core before a text here: still tell people something
        subject = f"{kind.replace('_', ' ').capitalize()}: {number}"
        lines = [subject, f"At: {when}"]
    return Message(subject, "\n".join(lines))


def _text(value: object) -> str:
    return "" if value is None else str(value)


def _dialed(value: object, config: Config) -> str:
    dialed = _text(value)
    for number in config.numbers:
        if number.number == dialed and number.name:
            return f"{number.name} ({dialed})"
    return dialed or "unknown"


def _duration(seconds: float) -> str:
    total = round(seconds)
    if total < 60:
        return f"{total} s"
    minutes, rest = divmod(total, 60)
    return f"{minutes} min {rest} s" if rest else f"{minutes} min"


def _local_time(at: object, timezone: str) -> str:
    if not isinstance(at, int | float):
        return "unknown time"
    try:
        zone: dt.tzinfo = ZoneInfo(timezone)
    except (KeyError, ValueError):  # the config check reports a bad zone; here show UTC
        zone = dt.UTC
    return dt.datetime.fromtimestamp(at, zone).strftime("%Y-%m-%d %H:%M")


class Notifier:
    """Carries out ``Notify`` to the targets of the config's ``notify:`` section."""

    def __init__(self, config: Config, client: httpx.AsyncClient,
                 slots: asyncio.Semaphore | None = None, *, telegram_api: str = TELEGRAM_API,
                 sms_gateway: str | None = None, sms_token: str | None = None,
                 timeout: float = 10.0, attempts: int = 3, backoff: float = 1.0) -> None:
        self._config = config
        self._client = client
        self._slots = slots or asyncio.Semaphore(8)
        self._telegram_api = telegram_api.rstrip("/")
        self._sms_gateway = sms_gateway
        self._sms_token = sms_token
        self._timeout = timeout
        self._attempts = attempts
        self._backoff = backoff

    async def send(self, cmd: Notify) -> bool:
        """Send one notification; True when its channel accepted it. Never raises."""
        target = self._config.notify.get(cmd.target)
        if target is None:
            log.warning("notify: no target named %r in the config", cmd.target)
            return False
        message = render(cmd.kind, cmd.payload, self._config)
        what = f"notify {cmd.target} ({cmd.kind})"
        if target.telegram is not None:
            return await self._telegram(what, target.telegram, message)
        if target.webhook is not None:
            body = {"kind": cmd.kind, "target": cmd.target, "text": message.text,
                    "payload": cmd.payload}
            return await self._post(what, target.webhook, body, {})
        if target.sms is not None:
            return await self._sms(what, target.sms, message)
        if target.email is not None:
            return await self._email(what, target.email, message)
        return False  # unreachable: the config model demands exactly one channel

    async def _telegram(self, what: str, spec: Mapping[str, str], message: Message) -> bool:
        token, chat = spec.get("bot_token"), spec.get("chat_id")
        if not token or not chat:
            log.warning("%s: telegram needs bot_token and chat_id", what)
            return False
        # Plain text (no parse_mode): numbers and URLs need no escaping then.
        body = {"chat_id": chat, "text": message.text, "disable_web_page_preview": True}
        return await self._post(what, f"{self._telegram_api}/bot{token}/sendMessage", body, {})

    async def _sms(self, what: str, spec: Mapping[str, str], message: Message) -> bool:
        to = spec.get("to")
        url = spec.get("url") or self._sms_gateway
        if not to or not url:
            log.warning("%s: SMS is not configured (needs 'to' and a gateway URL)", what)
            return False
        token = spec.get("token") or self._sms_token
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        return await self._post(what, url, {"to": to, "text": message.text}, headers)

    async def _post(self, what: str, url: str, body: object,
                    headers: Mapping[str, str]) -> bool:
        content = json_body(body)
        all_headers = {"Content-Type": "application/json", "User-Agent": USER_AGENT, **headers}

        def attempt() -> Awaitable[Reply]:
            return send(self._client, self._slots, "POST", url, self._timeout,
                        content=content, headers=all_headers, read_body=False)

        return await deliver(attempt, what, self._attempts, self._backoff)

    async def _email(self, what: str, spec: Mapping[str, str], message: Message) -> bool:
        try:
            # Optional: switchboard does not depend on aiosmtplib; installed, it is used.
            smtp: Any = importlib.import_module("aiosmtplib")
        except ImportError:
            log.warning("%s: e-mail is not configured (aiosmtplib is not installed); "
                        "dropped: %s", what, message.subject)
            return False
        from email.message import EmailMessage

        if not spec.get("to"):
            log.warning("%s: e-mail needs 'to'", what)
            return False
        mail = EmailMessage()
        mail["To"] = spec["to"]
        mail["From"] = spec.get("from", "switchboard@localhost")
        mail["Subject"] = message.subject
        mail.set_content(message.text)
        host, _, port_text = spec.get("smtp", "localhost:25").partition(":")
        if port_text and not port_text.isdigit():
            log.warning("%s: e-mail 'smtp' must be host:port, not %r", what, spec["smtp"])
            return False
        port = int(port_text or 25)

        async def attempt() -> Reply:
            try:
                async with asyncio.timeout(self._timeout), self._slots:
                    await smtp.send(mail, hostname=host, port=port,
                                    username=spec.get("username"),
                                    password=spec.get("password"), timeout=self._timeout)
            except TimeoutError:
                raise ReplyError("timeout") from None
            except (OSError, smtp.SMTPException) as err:
                # SMTP errors are treated as transient: they are retried like a 5xx.
                raise ReplyError(f"SMTP: {type(err).__name__}") from None
            return Reply(250)

        return await deliver(attempt, what, self._attempts, self._backoff)
