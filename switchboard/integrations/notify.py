"""Notifications (M3 missed calls, M4 voicemail, failed callbacks) to the config's targets.

Each ``notify:`` target has one channel:

- ``telegram: {chat_id, bot_token}``: Bot API ``sendMessage`` at
  ``{telegram_api}/bot{token}/sendMessage`` (``telegram_api`` is a Notifier argument, so
  tests and self-hosted Bot API servers can stand in for api.telegram.org).
- ``webhook: URL``: POST ``{"kind", "target", "text", "payload"}`` as JSON.
- ``sms: {to, url?, token?}``: POST ``{"to", "text"}`` as JSON to the target's ``url`` or else
  the Notifier's ``sms_gateway``, with ``Authorization: Bearer`` when a token is given.
- ``email: {to, from?, smtp? ("host:port", default localhost:25), username?, password?}``:
  SMTP through ``aiosmtplib``, To/From/Subject/Date/Message-ID and the text as a UTF-8 body
  (``from`` defaults to ``switchboard@localhost``, which many servers refuse: set it). TLS:
  port 465 is implicit TLS, the certificate verified. On any other port, with a
  ``username`` to a host that is not loopback, STARTTLS is required and the certificate
  verified, so the password never crosses the network in the clear, nor goes to an
  impostor; otherwise STARTTLS is opportunistic (used whenever the server offers it, the
  certificate not checked, as Postfix's ``may`` level: a relay with a self-signed
  certificate still works, and a passive listener learns nothing). A private CA is trusted
  through ``SSL_CERT_FILE``.

HTTP sends are retried on timeouts, connection errors, 429 and 5xx. E-mail is retried as an
MTA's client does (RFC 5321): on timeouts, connection errors and 4xx replies (421, 450, 451,
452); a 5xx reply (550 no such mailbox, 553, 554, 535 bad credentials), an untrusted
certificate or a server without what is needed (STARTTLS, AUTH) is permanent: logged once
with its code, never retried. Either way a failure is logged and never raised: a lost
notification must not disturb call handling.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import email.errors
import email.utils
import ipaddress
import logging
import ssl
from collections.abc import Awaitable, Mapping
from dataclasses import dataclass
from email.message import EmailMessage
from typing import Any
from zoneinfo import ZoneInfo

import aiosmtplib
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
        if not spec.get("to"):
            log.warning("%s: e-mail needs 'to'", what)
            return False
        host, port = _smtp_address(spec.get("smtp") or "localhost:25")
        if port is None:
            log.warning("%s: e-mail 'smtp' must be host:port, not %r", what, spec["smtp"])
            return False
        try:
            mail = _mail(spec["to"], spec.get("from") or "switchboard@localhost", message)
        except (ValueError, email.errors.MessageError) as err:  # a line break in 'to', say
            log.warning("%s: e-mail 'to' or 'from' is not usable (%s)", what, err)
            return False
        username = spec.get("username") or None
        password = spec.get("password", "") if username else None
        tls = tls_options(host, port, login=bool(username))

        async def attempt() -> Reply:
            try:
                async with asyncio.timeout(self._timeout), self._slots:
                    refused, _ = await aiosmtplib.send(
                        mail, hostname=host, port=port, username=username, password=password,
                        timeout=self._timeout, **tls)
            except (aiosmtplib.SMTPException, OSError) as err:  # TimeoutError is an OSError
                raise smtp_failure(err) from None
            if refused:  # some of several recipients: the others have it, so no new try
                log.warning("%s: e-mail refused for %s", what, ", ".join(
                    f"{rcpt} (SMTP {reply.code})" for rcpt, reply in refused.items()))
            return Reply(250)

        return await deliver(attempt, what, self._attempts, self._backoff)


def _smtp_address(smtp: str) -> tuple[str, int | None]:
    """``host:port`` (``[v6]:port``; a bare host is port 25); port None when not a number."""
    if smtp.startswith("["):
        host, _, rest = smtp[1:].partition("]")
        port = rest.removeprefix(":") if rest else "25"
    elif smtp.count(":") == 1:
        host, _, port = smtp.partition(":")
    else:  # "mail.example.com", or a bare IPv6 address
        host, port = smtp, "25"
    return host, int(port) if port.isdigit() and 0 < int(port) < 65536 else None


def _mail(to: str, sender: str, message: Message) -> EmailMessage:
    mail = EmailMessage()
    mail["To"] = to
    mail["From"] = sender
    # The subject holds the caller's number, which comes from the network: one line only.
    mail["Subject"] = " ".join(message.subject.split())
    mail["Date"] = email.utils.formatdate(localtime=False, usegmt=True)
    # The same id on every try, so a server that got the message twice can tell.
    domain = email.utils.parseaddr(sender)[1].rpartition("@")[2] or "localhost"
    mail["Message-ID"] = email.utils.make_msgid("switchboard", domain=domain)
    mail.set_content(message.text)
    return mail


#: Implicit TLS ("submissions", RFC 8314); every other port speaks plain SMTP first.
SMTPS_PORT = 465


def tls_options(host: str, port: int, *, login: bool) -> dict[str, Any]:
    """How ``aiosmtplib.send`` secures the connection: see the module doc."""
    if port == SMTPS_PORT:
        return {"use_tls": True, "validate_certs": True}
    if login and not is_loopback(host):
        return {"start_tls": True, "validate_certs": True}
    return {"start_tls": None, "validate_certs": False}  # STARTTLS when offered


def is_loopback(host: str) -> bool:
    """True for a name or address of this machine's loopback: nothing leaves the host."""
    name = host.lower().rstrip(".")
    if name == "localhost" or name.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


def smtp_failure(err: BaseException) -> ReplyError:
    """Why an SMTP send failed, ``permanent`` when trying again cannot help (RFC 5321).

    The reason names the reply code and the server's own words; it never holds the
    credentials (no SMTP server echoes them, and nothing here adds them).
    """
    if isinstance(err, aiosmtplib.SMTPRecipientsRefused) and err.recipients:
        # A recipient refused only for now (4xx) may be reached by the next try.
        refusal = next((r for r in err.recipients if not _permanent(r.code)),
                       err.recipients[0])
        return _coded(refusal.code, refusal.message, f" for {refusal.recipient}")
    if isinstance(err, aiosmtplib.SMTPResponseException):  # AUTH, MAIL, DATA, greeting...
        return _coded(err.code, err.message)
    if isinstance(err, TimeoutError):  # aiosmtplib's own timeouts are TimeoutErrors too
        return ReplyError("timeout")
    cert = _cause(err, ssl.SSLCertVerificationError)
    if cert is not None:  # a wrong or self-signed certificate stays wrong on the next try
        detail = getattr(cert, "verify_message", "") or "verification failed"
        return ReplyError(f"TLS certificate not trusted ({detail})", permanent=True)
    if isinstance(err, aiosmtplib.SMTPConnectError):
        return ReplyError("cannot connect")
    if isinstance(err, ssl.SSLError):
        return ReplyError(f"TLS failed ({err.reason or type(err).__name__})")
    if isinstance(err, ConnectionError | OSError):  # SMTPServerDisconnected is one
        return ReplyError("connection lost")
    # The server lacks what is needed (STARTTLS, AUTH, SMTPUTF8): it will lack it again.
    return ReplyError(f"SMTP: {_short(str(err))}", permanent=True)


def _permanent(code: int) -> bool:
    return 500 <= code < 600


def _coded(code: int, text: str, where: str = "") -> ReplyError:
    # 4xx (and an odd code) is transient: 421 closing, 450/451/452 try again later.
    return ReplyError(f"SMTP {code}{where}: {_short(text)}", permanent=_permanent(code))


def _short(text: str, limit: int = 160) -> str:
    one_line = " ".join(text.split())
    return one_line if len(one_line) <= limit else one_line[: limit - 3] + "..."


def _cause(err: BaseException, kind: type[BaseException]) -> BaseException | None:
    seen: BaseException | None = err
    for _ in range(8):  # the chain is short; a loop in it must not hang
        if seen is None or isinstance(seen, kind):
            return seen
        seen = seen.__cause__ or seen.__context__
    return None
